//! The ops console's face (administrators only): the page, and the JSON endpoints its
//! script polls and calls — the whole state, kill / restart a process, replay a dead
//! letter; the trace view's pages (recent traces and the service map, one trace's
//! waterfall) and the JSON they are drawn from. What it shares with the shop's pages is
//! the visitor and the page frame.

use super::{
    DeadLetterGroup, DeadLetterView, Monitor, OpsState,
    supervisor::{Action, TraceId},
    traces::{self, TracePage, TracesPage},
};
use crate::{
    domain::PathId,
    error::StorefrontError,
    frame::{self, here, render},
    session::{Auth, Visitor},
    views::Views,
};
use axum::{
    extract::{OriginalUri, Path, RawQuery, State},
    http::Uri,
    response::Response,
    routing::get,
};
use platform::{
    FieldError, Problem,
    auth::Claims,
    extract::{Json, Query},
    traces::{ServiceMap, TraceFilter, TraceList, TraceView},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The console's state: the monitor, the templates for its pages, and where the
/// environment sends traces. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    monitor: Monitor,
    views: Views,
    /// The OTLP endpoint the environment names, if any.
    exported_to: Option<String>,
}

impl Console {
    pub fn new(monitor: Monitor, views: Views) -> Self {
        Self {
            monitor,
            views,
            exported_to: traces::exporter_endpoint(),
        }
    }

    /// Where the traces go instead of the supervisor's collector, if they do.
    fn elsewhere(&self) -> Option<String> {
        traces::elsewhere(self.exported_to.as_deref(), self.monitor.supervisor().url())
    }
}

/// The console's routes: its pages, and its documented JSON endpoints.
pub fn routes(console: Console) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api_state))
        .routes(routes!(api_control))
        .routes(routes!(api_replay))
        .routes(routes!(api_discard))
        .routes(routes!(api_traces))
        .routes(routes!(api_service_map))
        .routes(routes!(api_trace))
        .route("/ops", get(page))
        .route("/ops/traces", get(traces_page))
        .route("/ops/traces/{id}", get(trace_page))
        .with_state(console)
}

/// Dead letters shown per consumer.
const DEAD_LETTERS_SHOWN: usize = 10;

platform::problem_responses! {
    /// `401` and `403`, which every console endpoint answers: they are for administrators
    /// signed in to the storefront (its session cookie, not a bearer token).
    AdminSession {
        "401" => "Not signed in (the storefront's session cookie)",
        "403" => "Not an administrator",
    }
}

platform::problem_responses! {
    /// What a replay or a discard of a dead letter may answer besides.
    LetterProblems {
        "404" => "No open dead letter has this id",
        "422" => "An unknown service, one that consumes no events, or an id that is not a UUID (named in `errors`)",
        "503" => "The consumer cannot be reached",
    }
}

platform::problem_responses! {
    /// `503`, which the endpoints that ask the supervisor's trace collector answer.
    NoTraceCollector {
        "503" => "No traces are kept (not run by `bazaar up`), or the supervisor cannot be reached",
    }
}

/// The visitor, if an administrator.
async fn admin(v: &Visitor) -> Result<Claims, StorefrontError> {
    match v.auth().await {
        Auth::SignedIn(claims) if claims.is_admin() => Ok(*claims),
        Auth::SignedIn(_) => Err(StorefrontError::Forbidden),
        Auth::Anonymous => Err(StorefrontError::SignInRequired),
        Auth::Unverifiable(why) => Err(why),
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
            Ok((items, more)) => Some(DeadLetterGroup {
                service,
                count: Some(items.len()),
                more,
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
                more: false,
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
    let page = async { Ok(state(&console, &v).await) };
    let title = "Ops console · Bazaar";
    admin_page(&console, &v, &uri, "ops.html", title, page).await
}

/// Renders a console page under the header for `uri`: `page` for an administrator (it
/// is not run for anyone else), the sign-in form for a visitor not signed in, the error
/// page otherwise.
async fn admin_page<P: Serialize>(
    console: &Console,
    v: &Visitor,
    uri: &Uri,
    template: &str,
    title: &str,
    page: impl Future<Output = Result<P, StorefrontError>>,
) -> Response {
    let chrome = frame::chrome(v, &here(uri), "", None).await;
    let page = match admin(v).await {
        Ok(_) => page.await,
        Err(e) => Err(e),
    };
    render(&console.views, v, &chrome, template, title, page)
}

/// `GET /ops/api/state`.
#[utoipa::path(
    get,
    path = "/ops/api/state",
    tag = "ops",
    responses(
        (status = 200, description = "Every service's health, process and traffic; outboxes; dead letters; the newest events; health changes", body = OpsState),
        AdminSession,
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

/// A path's `service` and its other parameter, `field`, as `parsed`: that parameter if
/// the service is one of the shop's and it parsed, else what is wrong with either.
fn service_and<T>(
    monitor: &Monitor,
    service: &str,
    field: &str,
    parsed: Result<T, String>,
) -> Result<T, StorefrontError> {
    let mut errors = Vec::new();
    if !monitor.is_service(service) {
        errors.push(FieldError::new(
            "service",
            format!("`{service}` is not a Bazaar service"),
        ));
    }
    match parsed {
        Ok(value) if errors.is_empty() => Ok(value),
        Ok(_) => Err(StorefrontError::Invalid(errors)),
        Err(message) => {
            errors.push(FieldError::new(field, message));
            Err(StorefrontError::Invalid(errors))
        }
    }
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
        AdminSession,
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
    let action = Action::parse(&p.action).ok_or_else(|| "must be `kill` or `restart`".to_owned());
    let action = service_and(&console.monitor, &p.service, "action", action)?;
    tracing::info!(admin = %claims.sub, "process control from the console");
    // The admin's own token: the storefront's service token may only watch processes.
    let token = v.token().await.ok_or(StorefrontError::SignInRequired)?;
    if action == Action::Kill && on_the_answers_way(&p.service) {
        // Killed now, this process (or the gateway carrying its answer) would be gone
        // before the answer: the console said the kill failed, though it worked (a
        // review). Answered first, killed a moment later.
        console.monitor.process_control_answers().await?;
        let answer = state(&console, &v).await;
        let (monitor, service) = (console.monitor.clone(), p.service.clone());
        tokio::spawn(async move {
            tokio::time::sleep(ANSWER_BEFORE_KILL).await;
            if let Err(e) = monitor.control(&service, action, &token).await {
                tracing::warn!(service, error = %e, "the kill asked from the console failed");
            }
        });
        return Ok(Json(answer));
    }
    console.monitor.control(&p.service, action, &token).await?;
    Ok(Json(state(&console, &v).await))
}

/// How long a kill of a process on the answer's way waits for the answer to get out.
const ANSWER_BEFORE_KILL: std::time::Duration = std::time::Duration::from_millis(300);

/// Whether `service`'s processes carry the console's answers: the storefront that makes
/// them and the gateway in front of it.
fn on_the_answers_way(service: &str) -> bool {
    service == crate::SERVICE.name || service == platform::registry::GATEWAY
}

/// Which dead letter.
#[derive(Debug, Deserialize)]
pub struct ReplayPath {
    service: String,
    id: String,
}

/// What a replay or a discard did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Replayed {
    pub id: String,
    /// `handled`, `already_handled` or `failed` (a replay), `discarded` (a discard).
    pub result: String,
}

impl ReplayPath {
    /// The consumer and the letter's id, or a 422 naming what is wrong: a service that
    /// consumes no events has no dead letters (asked for them anyway, the gateway's 404
    /// named an internal route), and a letter's id is a UUID.
    fn parse(&self, monitor: &crate::ops::Monitor) -> Result<PathId, StorefrontError> {
        let id = match uuid::Uuid::parse_str(&self.id) {
            Ok(_) => PathId::parse(&self.id).map_err(|e| e.to_string()),
            Err(_) => Err("is not a dead letter's id (a UUID)".to_owned()),
        };
        let id = service_and(monitor, &self.service, "id", id)?;
        if !monitor.consumers().contains(&self.service) {
            return Err(StorefrontError::Invalid(vec![FieldError::new(
                "service",
                format!(
                    "`{}` consumes no events, so it has no dead letters",
                    self.service
                ),
            )]));
        }
        Ok(id)
    }
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
        AdminSession,
        LetterProblems
    )
)]
#[tracing::instrument(skip_all, fields(service = %p.service, id = %p.id))]
pub async fn api_replay(
    State(console): State<Console>,
    v: Visitor,
    Path(p): Path<ReplayPath>,
) -> Result<Json<Replayed>, StorefrontError> {
    on_letter(&console, &v, &p, Letter::Replay).await
}

/// `POST /ops/api/dead-letters/{service}/{id}/discard`: closes a dead letter without
/// replaying it (through the gateway, with the administrator's token), as `bazaar events
/// discard` does: for a payload no replay can apply, or an effect no longer wanted.
#[utoipa::path(
    post,
    path = "/ops/api/dead-letters/{service}/{id}/discard",
    tag = "ops",
    params(
        ("service" = String, Path, description = "The consuming service"),
        ("id" = String, Path, description = "The dead letter's id")
    ),
    responses(
        (status = 200, description = "Closed without a replay (`result` is `discarded`)", body = Replayed),
        AdminSession,
        LetterProblems
    )
)]
#[tracing::instrument(skip_all, fields(service = %p.service, id = %p.id))]
pub async fn api_discard(
    State(console): State<Console>,
    v: Visitor,
    Path(p): Path<ReplayPath>,
) -> Result<Json<Replayed>, StorefrontError> {
    on_letter(&console, &v, &p, Letter::Discard).await
}

/// What an administrator does to a dead letter from the console.
#[derive(Debug, Clone, Copy)]
enum Letter {
    Replay,
    Discard,
}

/// Does `what` to the dead letter `p` names, as the signed-in administrator.
async fn on_letter(
    console: &Console,
    v: &Visitor,
    p: &ReplayPath,
    what: Letter,
) -> Result<Json<Replayed>, StorefrontError> {
    let claims = admin(v).await?;
    let id = p.parse(&console.monitor)?;
    let result = match what {
        Letter::Replay => {
            let answer = v.shop().replay(&p.service, &id).await?;
            answer["result"].as_str().unwrap_or("failed").to_owned()
        }
        Letter::Discard => {
            v.shop().discard(&p.service, &id).await?;
            "discarded".to_owned()
        }
    };
    console.monitor.forget_dead_letters();
    tracing::info!(admin = %claims.sub, result, "dead letter handled from the console");
    Ok(Json(Replayed {
        id: id.as_str().to_owned(),
        result,
    }))
}

/// What the traces page's form sends: any field may be empty or missing.
#[derive(Debug, Default, Deserialize)]
struct TracesForm {
    #[serde(default)]
    route: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    errors: String,
}

impl TracesForm {
    /// The form's filter (a query that does not parse is no filter).
    fn parse(query: Option<&str>) -> TraceFilter {
        let form: TracesForm = query
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default();
        let text = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        TraceFilter {
            route: text(form.route),
            service: text(form.service),
            errors: matches!(form.errors.as_str(), "true" | "on" | "1"),
            limit: None,
        }
    }
}

/// `GET /ops/traces`: the recent traces, slowest first, filtered by route, service or
/// errors; the map of the services.
#[tracing::instrument(skip_all)]
pub async fn traces_page(
    State(console): State<Console>,
    v: Visitor,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let filter = TracesForm::parse(query.as_deref());
    let page = async { Ok(traces_view(&console, &filter).await) };
    let title = "Traces · Ops console · Bazaar";
    admin_page(&console, &v, &uri, "ops_traces.html", title, page).await
}

/// The trace `raw` names; not found when it names none.
fn trace_id(raw: &str) -> Result<TraceId, StorefrontError> {
    TraceId::parse(raw).ok_or_else(|| StorefrontError::NotFound(format!("trace {raw}")))
}

/// Why a trace page shows no traces: the collector did not answer.
fn cannot_ask(e: &StorefrontError) -> String {
    format!("The supervisor's trace collector cannot be asked: {e}")
}

async fn traces_view(console: &Console, filter: &TraceFilter) -> TracesPage {
    let monitor = &console.monitor;
    let mut page = TracesPage::new(filter, &monitor.service_names());
    page.exported_to = console.elsewhere();
    let supervisor = monitor.supervisor();
    if !supervisor.is_configured() {
        page.unavailable = Some(traces::NOT_UNDER_UP.to_owned());
        return page;
    }
    let (found, map) = tokio::join!(supervisor.traces(filter), supervisor.service_map());
    match found {
        Ok(found) => page.traces = traces::rows(&found),
        Err(e) => page.unavailable = Some(cannot_ask(&e)),
    }
    page.map = map
        .ok()
        .map(|m| traces::map_view(&m, &traces::map_order(&monitor.service_levels())));
    page
}

/// `GET /ops/traces/{id}`: one trace's waterfall; the not-found page for a trace that is
/// not kept (or an id that is none).
#[tracing::instrument(skip_all)]
pub async fn trace_page(
    State(console): State<Console>,
    v: Visitor,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let page = trace_view(&console, &id);
    let title = "Trace · Ops console · Bazaar";
    admin_page(&console, &v, &uri, "ops_trace.html", title, page).await
}

async fn trace_view(console: &Console, raw: &str) -> Result<TracePage, StorefrontError> {
    let id = trace_id(raw)?;
    let mut page = TracePage {
        trace_id: id.as_str().to_owned(),
        exported_to: console.elsewhere(),
        ..TracePage::default()
    };
    let supervisor = console.monitor.supervisor();
    if !supervisor.is_configured() {
        page.unavailable = Some(traces::NOT_UNDER_UP.to_owned());
        return Ok(page);
    }
    match supervisor.trace(&id).await {
        Ok(trace) => page.trace = Some(traces::waterfall(&trace)),
        Err(e @ StorefrontError::NotFound(_)) => return Err(e),
        Err(e) => page.unavailable = Some(cannot_ask(&e)),
    }
    Ok(page)
}

/// `GET /ops/api/traces`.
#[utoipa::path(
    get,
    path = "/ops/api/traces",
    tag = "ops",
    params(TraceFilter),
    responses(
        (status = 200, description = "The traces `bazaar up` keeps that pass the filter, slowest first", body = TraceList),
        AdminSession,
        (status = 422, description = "A malformed parameter (named in `errors`)", body = Problem, content_type = "application/problem+json"),
        NoTraceCollector
    )
)]
#[tracing::instrument(skip_all)]
pub async fn api_traces(
    State(console): State<Console>,
    v: Visitor,
    Query(filter): Query<TraceFilter>,
) -> Result<Json<TraceList>, StorefrontError> {
    admin(&v).await?;
    // As documented (1 to 500), refused outside it rather than quietly clamped.
    if filter.limit.is_some_and(|n| !(1..=500).contains(&n)) {
        let bad = FieldError::new("limit", "must be between 1 and 500");
        return Err(StorefrontError::Invalid(vec![bad]));
    }
    let traces = console.monitor.supervisor().traces(&filter).await?;
    Ok(Json(TraceList { traces }))
}

/// `GET /ops/api/traces/map`.
#[utoipa::path(
    get,
    path = "/ops/api/traces/map",
    tag = "ops",
    responses(
        (status = 200, description = "The services, and the calls and event flows between them over the traces kept, with their rates and failures", body = ServiceMap),
        AdminSession,
        NoTraceCollector
    )
)]
#[tracing::instrument(skip_all)]
pub async fn api_service_map(
    State(console): State<Console>,
    v: Visitor,
) -> Result<Json<ServiceMap>, StorefrontError> {
    admin(&v).await?;
    Ok(Json(console.monitor.supervisor().service_map().await?))
}

/// `GET /ops/api/traces/{id}`.
#[utoipa::path(
    get,
    path = "/ops/api/traces/{id}",
    tag = "ops",
    params(("id" = String, Path, description = "The trace's id: 32 hex digits")),
    responses(
        (status = 200, description = "The trace, its spans in waterfall order (each after its parent)", body = TraceView),
        AdminSession,
        (status = 404, description = "No such trace is kept (only the most recent are), or the id is none", body = Problem, content_type = "application/problem+json"),
        NoTraceCollector
    )
)]
#[tracing::instrument(skip_all, fields(trace = %id))]
pub async fn api_trace(
    State(console): State<Console>,
    v: Visitor,
    Path(id): Path<String>,
) -> Result<Json<TraceView>, StorefrontError> {
    admin(&v).await?;
    let id = trace_id(&id)?;
    Ok(Json(console.monitor.supervisor().trace(&id).await?))
}
