//! The signed-in user's own account.

use super::AppState;
use crate::error::Error;
use axum::extract::State;
use platform::{Problem, auth::User, extract::Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub name: String,
    /// `customer`, and `admin` for administrators.
    pub roles: Vec<String>,
}

/// The account the bearer token belongs to, as stored now.
#[utoipa::path(
    get,
    path = "/api/identity/me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = Me),
        (status = 401, description = "No valid bearer token, or its account is gone", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %claims.sub))]
async fn me(State(state): State<AppState>, User(claims): User) -> Result<Json<Me>, Error> {
    let user = state
        .store
        .user_by_id(&claims.sub)
        .await?
        .ok_or(Error::UnknownAccount)?;
    Ok(Json(Me {
        id: user.id,
        email: user.email,
        name: user.name,
        roles: user.roles,
    }))
}
