//! Rotating the token signing key, for administrators (`bazaar keys`).

use super::AppState;
use crate::{
    error::{Error, invalid},
    keys::KeyInfo,
};
use axum::{extract::State, http::StatusCode};
use platform::{Problem, auth::Admin, extract::Json, openapi::AdminOnly};
use serde::Deserialize;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The longest a new key may wait before it signs: a day.
const MAX_ACTIVATE_IN_SECS: u64 = 24 * 60 * 60;

/// How long a new key waits by default: every replica reloads its keys within
/// `KEY_RELOAD` (10 s), so by then each publishes it, and a verifier meeting its `kid`
/// for the first time finds it whichever replica it asks.
const DEFAULT_ACTIVATE_IN_SECS: u64 = 60;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys, rotate_key))
}

/// When the new key starts signing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Seconds from now (0 to 86 400; default 60, long enough for every replica of
    /// identity to publish it first).
    #[schema(minimum = 0, maximum = 86400)]
    pub activate_in_secs: Option<u64>,
}

/// Every stored key and its state: `next` (published, not signing yet), `signing`,
/// `verifying` (superseded, its tokens still valid) or `retired` (no longer published).
#[utoipa::path(
    get,
    path = "/api/identity/keys",
    tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, in the order they sign", body = Vec<KeyInfo>),
        AdminOnly,
    )
)]
#[tracing::instrument(skip_all)]
async fn list_keys(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> Result<Json<Vec<KeyInfo>>, Error> {
    Ok(Json(state.keys.list(&state.store).await?))
}

/// Rotates the signing key: a new key is published at once and signs from
/// `activate_in_secs` on; the key it replaces goes on verifying until the tokens it
/// signed have expired. No restart, and no signed-in user notices.
#[utoipa::path(
    post,
    path = "/api/identity/keys",
    tag = "keys",
    security(("bearer" = [])),
    request_body(content = Rotation, description = "Optional; `{}` for the default"),
    responses(
        (status = 201, description = "The new key", body = KeyInfo),
        AdminOnly,
        (status = 422, description = "`activate_in_secs` out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(admin = %admin.sub))]
async fn rotate_key(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Json(rotation): Json<Rotation>,
) -> Result<(StatusCode, Json<KeyInfo>), Error> {
    let secs = rotation
        .activate_in_secs
        .unwrap_or(DEFAULT_ACTIVATE_IN_SECS);
    if secs > MAX_ACTIVATE_IN_SECS {
        return Err(invalid(
            "activate_in_secs",
            format!("must be between 0 and {MAX_ACTIVATE_IN_SECS}"),
        ));
    }
    let key = state
        .keys
        .rotate(&state.store, Duration::from_secs(secs))
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}
