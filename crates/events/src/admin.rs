//! Operators' endpoints of a consuming service: list dead letters, replay one.
//! Admin only; mounted under the service's public prefix so the gateway exposes them.

use crate::consumer::{Consumer, DeadLetter, ReplayResult};
use axum::{
    Json, Router,
    extract::{FromRef, Path, State},
    routing::{get, post},
};
use platform::{
    Problem,
    auth::{Admin, Verifier},
};
use serde::Serialize;

#[derive(Clone)]
struct AdminState {
    consumer: Consumer,
    verifier: Verifier,
}

impl FromRef<AdminState> for Verifier {
    fn from_ref(s: &AdminState) -> Verifier {
        s.verifier.clone()
    }
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

/// `GET /api/<service>/events/dead-letters` and
/// `POST /api/<service>/events/dead-letters/{id}/replay`.
pub fn routes(consumer: Consumer, verifier: Verifier) -> Router {
    let prefix = format!("/api/{}/events/dead-letters", consumer.service());
    Router::new()
        .route(&prefix, get(list))
        .route(&format!("{prefix}/{{id}}/replay"), post(replay))
        .with_state(AdminState { consumer, verifier })
}

async fn list(_admin: Admin, State(s): State<AdminState>) -> Result<Json<DeadLetters>, Problem> {
    let items = s
        .consumer
        .dead_letters(500)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(DeadLetters { items }))
}

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
