//! Operators' endpoints of a consuming service: list dead letters, replay or discard one.
//! Admin only; mounted under the service's public prefix so the gateway exposes them.

use crate::consumer::{Consumer, DeadLetter, ReplayResult};
use axum::{
    Json,
    extract::{FromRef, Path, State},
};
use platform::{
    Problem,
    auth::{Admin, Verifier},
    openapi::AdminOnly,
};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Clone, FromRef)]
struct AdminState {
    consumer: Consumer,
    verifier: Verifier,
}

/// The dead letters of a consuming service.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetters {
    pub items: Vec<DeadLetter>,
}

/// What a replay did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub id: String,
    pub result: ReplayResult,
}

/// `GET /api/<service>/events/dead-letters`,
/// `POST /api/<service>/events/dead-letters/{id}/replay` and
/// `DELETE /api/<service>/events/dead-letters/{id}`, documented, ready to merge into the
/// service's own OpenAPI router.
pub fn routes(consumer: Consumer, verifier: Verifier) -> OpenApiRouter {
    let prefix = format!("/api/{}", consumer.service());
    let admin = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(replay))
        .routes(routes!(discard))
        .with_state(AdminState { consumer, verifier });
    OpenApiRouter::new().nest(&prefix, admin)
}

/// Lists the events this service could not apply and set aside, oldest first
/// (administrators only).
#[utoipa::path(
    get,
    path = "/events/dead-letters",
    tag = "events",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open dead letters, oldest first (at most 500)", body = DeadLetters),
        AdminOnly
    )
)]
async fn list(_admin: Admin, State(s): State<AdminState>) -> Result<Json<DeadLetters>, Problem> {
    let items = s
        .consumer
        .dead_letters(500)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(DeadLetters { items }))
}

/// Runs a dead letter through the handler again (administrators only): `handled` closes
/// it, `already_handled` closes it without a second effect, `failed` leaves it open with
/// the new error.
#[utoipa::path(
    post,
    path = "/events/dead-letters/{id}/replay",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 200, description = "What the replay did", body = Replayed),
        AdminOnly,
        (status = 404, description = "No open dead letter has this id", body = Problem, content_type = "application/problem+json")
    )
)]
async fn replay(
    _admin: Admin,
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Replayed>, Problem> {
    match s.consumer.replay(&id).await {
        Ok(Some(result)) => Ok(Json(Replayed { id, result })),
        Ok(None) => Err(Problem::not_found(format!(
            "there is no open dead letter `{id}`"
        ))),
        Err(e) => Err(Problem::internal(&e)),
    }
}

/// Closes a dead letter without replaying it (administrators only): for a payload that is
/// not an event, which no replay can apply, or an effect no longer wanted. The letter is
/// kept, closed, with the administrator who closed it.
#[utoipa::path(
    delete,
    path = "/events/dead-letters/{id}",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Closed without a replay"),
        AdminOnly,
        (status = 404, description = "No open dead letter has this id", body = Problem, content_type = "application/problem+json")
    )
)]
async fn discard(
    Admin(claims): Admin,
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, Problem> {
    match s.consumer.discard(&id, &claims.sub).await {
        Ok(true) => Ok(axum::http::StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found(format!(
            "there is no open dead letter `{id}`"
        ))),
        Err(e) => Err(Problem::internal(&e)),
    }
}
