//! The HTTP API: one module per resource, collected into one router and one OpenAPI
//! document.

mod jwks;
mod keys;
mod me;
mod services;
mod sessions;
mod users;

use crate::{keys::Keys, limits::Limits, password::Hasher, store::Store};
use axum::extract::FromRef;
use platform::auth::Verifier;
use platform::openapi::BearerAuth;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub hasher: Hasher,
    /// Seconds a refresh token lives.
    pub refresh_ttl_secs: i64,
    /// The secret other services present for a service token.
    pub service_secret: platform::config::Secret,
    /// Sign-in, registration and refresh limits.
    pub limits: Arc<Limits>,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.keys.verifier().clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar identity",
        description = "Accounts, sign-in, and the tokens every other service trusts. \
            Access tokens are EdDSA JWTs, verifiable with the keys at \
            `/api/identity/.well-known/jwks.json`; refresh tokens are opaque, single-use and \
            rotate on every refresh. Every error is an RFC 9457 problem document."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Registration, sign-in, token refresh, sign-out"),
        (name = "account", description = "The signed-in user"),
        (name = "keys", description = "Public keys for verifying access tokens, and their rotation (admin only)"),
        (name = "users", description = "Account administration (admin only)"),
        (name = "services", description = "Tokens for Bazaar's own services"),
    )
)]
struct ApiDoc;

/// The service's routes with their state, and the OpenAPI document describing them.
pub(crate) fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(sessions::router())
        .merge(me::router())
        .merge(jwks::router())
        .merge(keys::router())
        .merge(users::router())
        .merge(services::router())
        .with_state(state)
}
