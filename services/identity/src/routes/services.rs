//! Service tokens: how Bazaar's services authenticate to each other.

use super::AppState;
use crate::error::Error;
use axum::extract::State;
use platform::{Problem, extract::Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(service_token))
}

/// A service asking for its token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceTokenRequest {
    /// The calling service's name (`orders`).
    pub service: String,
    /// The service's own key, `bzsk1.<service>.<mac>` (see `docs/security.md`).
    pub secret: String,
}

/// A service token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceToken {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// Issues a short-lived token with the role `service` to a Bazaar service that presents
/// its own key (derived from the master service secret, which only identity holds).
/// Internal endpoints accept only such tokens, each from the services it names.
#[utoipa::path(
    post,
    path = "/api/identity/service-tokens",
    tag = "services",
    request_body = ServiceTokenRequest,
    responses(
        (status = 200, description = "A service token", body = ServiceToken),
        (status = 401, description = "Not this service's key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid service name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Service tokens are not configured here", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(service = %req.service))]
async fn service_token(
    State(state): State<AppState>,
    Json(req): Json<ServiceTokenRequest>,
) -> Result<Json<ServiceToken>, Problem> {
    if state.service_secret.is_empty() {
        return Err(Problem::unavailable(
            "service tokens are not configured (BAZAAR_SERVICE_SECRET is empty)",
            60,
        ));
    }
    let name_ok = !req.service.is_empty()
        && req.service.len() <= 40
        && req
            .service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(Problem::invalid_field(
            "service",
            "must be 1 to 40 lower-case letters, digits or dashes",
        ));
    }
    // Compare digests, not the secrets, so the comparison takes the same time whatever
    // the guess.
    // Each service has a key of its own, derived from the master secret only identity
    // holds; a key mints tokens in its own service's name only.
    let given = Sha256::digest(req.secret.as_bytes());
    let expected = Sha256::digest(
        platform::auth::service_key(state.service_secret.expose(), &req.service).as_bytes(),
    );
    if given != expected {
        tracing::warn!(
            service = req.service.as_str(),
            "a service token was refused: wrong key for the service"
        );
        return Err(Problem::unauthorized("the service key is wrong"));
    }
    state.keys.freshen(&state.store).await;
    let token = state
        .keys
        .mint_service_token(&req.service)
        .map_err(|e: Error| Problem::from(e))?;
    Ok(Json(ServiceToken {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl_secs(),
    }))
}
