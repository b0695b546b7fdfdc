//! The ops console's face (administrators only): the page, and the JSON endpoints its
//! script polls and calls — the whole state, kill / restart a process, replay a dead
//! letter. What it shares with the shop's pages is the visitor and the page frame.

use super::{DeadLetterGroup, DeadLetterView, Monitor, OpsState, supervisor::Action};
use crate::{
    domain::PathId,
    error::StorefrontError,
    frame::{self, here, render, to_signin},
    session::{Auth, Visitor},
    views::Views,
};
use axum::{
    extract::{OriginalUri, Path, State},
    response::{IntoResponse, Response},
    routing::get,
};
use platform::{FieldError, Problem, auth::Claims, extract::Json};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The console's state: the monitor, and the templates for its page. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    monitor: Monitor,
    views: Views,
}

impl Console {
    pub fn new(monitor: Monitor, views: Views) -> Self {
        Self { monitor, views }
    }
}

/// The console's routes: its page, and its documented JSON endpoints.
pub fn routes(console: Console) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api_state))
        .routes(routes!(api_control))
        .routes(routes!(api_replay))
        .route("/ops", get(page))
        .with_state(console)
}

/// Dead letters shown per consumer.
const DEAD_LETTERS_SHOWN: usize = 10;

/// The visitor, if an administrator.
async fn admin(v: &Visitor) -> Result<Claims, StorefrontError> {
    match v.auth().await {
        Auth::SignedIn(claims) if claims.is_admin() => Ok(*claims),
        Auth::SignedIn(_) => Err(StorefrontError::Forbidden),
        Auth::Anonymous => Err(StorefrontError::SignInRequired),
        Auth::Unverifiable => Err(StorefrontError::Unavailable {
            service: "identity",
            detail: "the session cannot be verified right now".into(),
        }),
    }
}

/// The whole state: what the monitor saw, and the dead letters (asked for with the
/// administrator's own token, reused for a few seconds).
async fn state(console: &Console, v: &Visitor) -> OpsState {
    let monitor = &console.monitor;
    monitor.touch();
    // The first look of a while happens now, so the page is never empty.
    monitor.ensure_fresh(Duration::from_secs(5)).await;
    let mut state = monitor.snapshot();
    state.dead_letters = match monitor.cached_dead_letters() {
        Some(groups) => groups,
        None => {
            let groups = dead_letters(monitor, v).await;
            monitor.cache_dead_letters(&groups);
            groups
        }
    };
    state
}

async fn dead_letters(monitor: &Monitor, v: &Visitor) -> Vec<DeadLetterGroup> {
    let consumers = monitor.consumers();
    let found = futures_util::future::join_all(
        consumers
            .iter()
            .map(|service| async move { (service.clone(), v.shop().dead_letters(service).await) }),
    )
    .await;
    found
        .into_iter()
        .filter_map(|(service, result)| match result {
            Ok(items) => Some(DeadLetterGroup {
                service,
                count: Some(items.len()),
                items: items
                    .iter()
                    .take(DEAD_LETTERS_SHOWN)
                    .map(|d| DeadLetterView {
                        id: d["id"].as_str().unwrap_or_default().to_owned(),
                        kind: d["type"].as_str().map(str::to_owned),
                        error: d["error"].as_str().unwrap_or_default().to_owned(),
                        attempts: d["attempts"].as_i64().unwrap_or_default(),
                        dead_at: d["dead_at"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                error: None,
            }),
            // Not a consumer (or not deployed): nothing to show.
            Err(e) if e.status() == Some(404) => None,
            Err(e) => Some(DeadLetterGroup {
                service,
                count: None,
                items: Vec::new(),
                error: Some(match e {
                    StorefrontError::Refused { problem, .. } => problem.title.clone(),
                    _ => "unavailable".to_owned(),
                }),
            }),
        })
        .collect()
}

/// `GET /ops`: the console.
#[tracing::instrument(skip_all)]
pub async fn page(
    State(console): State<Console>,
    v: Visitor,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let path = here(&uri);
    let chrome = frame::chrome(&v, &path, "", None).await;
    let page = match admin(&v).await {
        Ok(_) => Ok(state(&console, &v).await),
        Err(StorefrontError::SignInRequired) => return to_signin(&path),
        Err(e) => Err(e),
    };
    let title = "Ops console · Bazaar";
    render(&console.views, &v, &chrome, "ops.html", title, page)
}

/// `GET /ops/api/state`.
#[utoipa::path(
    get,
    path = "/ops/api/state",
    tag = "ops",
    responses(
        (status = 200, description = "Every service's health, process and traffic; outboxes; dead letters; the newest events; health changes", body = OpsState),
        (status = 401, description = "Not signed in (the storefront's session cookie)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The session cannot be verified now", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
pub async fn api_state(
    State(console): State<Console>,
    v: Visitor,
) -> Result<Json<OpsState>, StorefrontError> {
    admin(&v).await?;
    Ok(Json(state(&console, &v).await))
}

/// What is wrong with a service named in a path: nothing, or that it is none of the shop's.
fn service_errors(monitor: &Monitor, service: &str) -> Vec<FieldError> {
    if monitor.is_service(service) {
        return Vec::new();
    }
    vec![FieldError::new(
        "service",
        format!("`{service}` is not a Bazaar service"),
    )]
}

/// Which process and what to do to it.
#[derive(Debug, Deserialize)]
pub struct ControlPath {
    service: String,
    action: String,
}

/// `POST /ops/api/services/{service}/{action}`: kills or restarts a service's process
/// through the supervisor, and answers the state right after.
#[utoipa::path(
    post,
    path = "/ops/api/services/{service}/{action}",
    tag = "ops",
    params(
        ("service" = String, Path, description = "One of the shop's services (`catalog`)"),
        ("action" = Action, Path, description = "`kill` (SIGKILL to its first replica; the supervisor starts it again) or `restart` (a rolling restart of every replica)")
    ),
    responses(
        (status = 200, description = "Signalled; the state right after (the service shows down once it has gone)", body = OpsState),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown service or action (named in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Process control is unavailable (not run by `bazaar up`, or the supervisor cannot be reached)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(service = %p.service, action = %p.action))]
pub async fn api_control(
    State(console): State<Console>,
    v: Visitor,
    Path(p): Path<ControlPath>,
) -> Result<Json<OpsState>, StorefrontError> {
    let claims = admin(&v).await?;
    let mut errors = service_errors(&console.monitor, &p.service);
    let action = Action::parse(&p.action);
    if action.is_none() {
        errors.push(FieldError::new("action", "must be `kill` or `restart`"));
    }
    let Some(action) = action.filter(|_| errors.is_empty()) else {
        return Err(StorefrontError::Invalid(errors));
    };
    tracing::info!(admin = %claims.sub, "process control from the console");
    // The admin's own token: the storefront's service token may only watch processes.
    let token = v.token().await.ok_or(StorefrontError::SignInRequired)?;
    console.monitor.control(&p.service, action, &token).await?;
    Ok(Json(state(&console, &v).await))
}

/// Which dead letter.
#[derive(Debug, Deserialize)]
pub struct ReplayPath {
    service: String,
    id: String,
}

/// What a replay did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Replayed {
    pub id: String,
    /// `handled`, `already_handled` or `failed`.
    pub result: String,
}

/// `POST /ops/api/dead-letters/{service}/{id}/replay`: runs a dead letter through its
/// consumer again (through the gateway, with the administrator's token).
#[utoipa::path(
    post,
    path = "/ops/api/dead-letters/{service}/{id}/replay",
    tag = "ops",
    params(
        ("service" = String, Path, description = "The consuming service"),
        ("id" = String, Path, description = "The dead letter's id")
    ),
    responses(
        (status = 200, description = "What the replay did", body = Replayed),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No open dead letter has this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown service or a malformed id (named in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The consumer cannot be reached", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(service = %p.service, id = %p.id))]
pub async fn api_replay(
    State(console): State<Console>,
    v: Visitor,
    Path(p): Path<ReplayPath>,
) -> Response {
    let result = async {
        let claims = admin(&v).await?;
        let mut errors = service_errors(&console.monitor, &p.service);
        let id = PathId::parse(&p.id)
            .map_err(|e| errors.push(FieldError::new("id", e.to_string())))
            .ok();
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Err(StorefrontError::Invalid(errors));
        };
        let answer = v.shop().replay(&p.service, &id).await?;
        console.monitor.forget_dead_letters();
        let result = answer["result"].as_str().unwrap_or("failed").to_owned();
        tracing::info!(admin = %claims.sub, result, "dead letter replayed from the console");
        Ok(Replayed {
            id: id.as_str().to_owned(),
            result,
        })
    };
    match result.await {
        Ok(replayed) => Json(replayed).into_response(),
        Err(e) => e.into_response(),
    }
}
