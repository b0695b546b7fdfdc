//! The public keys that verify access tokens.

use super::AppState;
use crate::keys::Jwks;
use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::IntoResponse,
};
use platform::extract::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// The JSON Web Key Set of every key whose tokens are still accepted; a token's header
/// `kid` names its key.
#[utoipa::path(
    get,
    path = "/api/identity/.well-known/jwks.json",
    tag = "keys",
    responses((status = 200, description = "The key set", body = Jwks)),
)]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(state.keys.fresh_jwks(&state.store).await),
    )
}
