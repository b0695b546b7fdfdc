//! Operators' endpoints of a consuming service: list dead letters, replay or discard one.
//! Admin only; mounted under the service's public prefix so the gateway exposes them.
//!
//! A read model's replicas each keep their own copy, dead letters included, and the
//! gateway sends an administrator's request to any one of them: so a read model's replica
//! lists its peers' letters beside its own, and passes a replay or a discard of a letter it
//! does not hold on to the peer that does ([`Peers`]).

use crate::consumer::{Consumer, DeadLetter, ReplayResult};
use axum::{
    Json,
    extract::{FromRef, Path, Query, State},
    http::{HeaderMap, StatusCode, header},
};
use platform::{
    Problem,
    auth::{Admin, Verifier},
    discovery::Endpoints,
    openapi::AdminOnly,
};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Clone, FromRef)]
struct AdminState {
    consumer: Consumer,
    verifier: Verifier,
    peers: Peers,
}

/// The replicas of a read model, each holding dead letters of its own; empty for a
/// service whose replicas share one database (any of them holds every letter).
#[derive(Clone, Default)]
pub struct Peers(Option<Arc<PeersInner>>);

struct PeersInner {
    /// Every replica of the service, this one among them.
    endpoints: Endpoints,
    http: reqwest::Client,
}

/// How long a replica waits for a peer's answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);

impl Peers {
    /// The replicas at `endpoints` (the service's own, from the directory).
    pub fn at(endpoints: Endpoints) -> Self {
        let http = platform::client::builder()
            .timeout(PEER_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self(Some(Arc::new(PeersInner { endpoints, http })))
    }

    /// `method path?replica=this` sent to every replica with the administrator's
    /// `Authorization`, each answer that came as `(status, body)`: a replica that does not
    /// answer is left out (said in the log), as its letters are until it answers.
    async fn ask(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Vec<(StatusCode, serde_json::Value)> {
        let Some(peers) = &self.0 else {
            return Vec::new();
        };
        let mut answers = Vec::new();
        for endpoint in peers.endpoints.current().iter() {
            let mut req = peers
                .http
                .request(method.clone(), format!("{endpoint}{path}?replica=this"));
            if let Some(auth) = headers.get(header::AUTHORIZATION) {
                req = req.header(header::AUTHORIZATION, auth);
            }
            // The same request, as the logs and traces tell it: its id, and the trace
            // the asking replica's span is in (each ask was a trace of its own, the
            // console's every look at dead letters leaving orphans in the trace view).
            if let Some(id) = headers.get(&platform::service::REQUEST_ID) {
                req = req.header(platform::service::REQUEST_ID.clone(), id);
            }
            let mut traced = HeaderMap::new();
            platform::telemetry::inject(&tracing::Span::current(), &mut traced);
            req = req.headers(traced);
            match req.send().await {
                Ok(res) => {
                    let status = res.status();
                    let body = res.json().await.unwrap_or(serde_json::Value::Null);
                    answers.push((status, body));
                }
                Err(e) => {
                    tracing::warn!(replica = %endpoint, error = %e, "a replica's dead letters could not be asked for");
                }
            }
        }
        answers
    }
}

/// Whose dead letters a request is about.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Scope {
    /// `this`: this replica's only, not its peers' (what the replicas of a read model ask
    /// each other). Unset: every replica's.
    replica: Option<String>,
}

impl Scope {
    /// Whether the request is about this replica alone; an unknown value is refused.
    fn here_only(&self) -> Result<bool, Problem> {
        match self.replica.as_deref() {
            None => Ok(false),
            Some("this") => Ok(true),
            Some(_) => Err(Problem::invalid_field(
                "replica",
                "must be `this` (this replica's dead letters only) or left out",
            )),
        }
    }
}

/// The dead letters of a consuming service: the oldest open ones, at most 500.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetters {
    pub items: Vec<DeadLetter>,
    /// More letters are open than listed: close (replay or discard) the oldest to see
    /// the next.
    #[serde(default)]
    pub more: bool,
}

/// What a replay did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replayed {
    pub id: String,
    pub result: ReplayResult,
}

/// `GET /api/<service>/events/dead-letters`,
/// `POST /api/<service>/events/dead-letters/{id}/replay` and
/// `DELETE /api/<service>/events/dead-letters/{id}`, documented, ready to merge into the
/// service's own OpenAPI router. `peers`: a read model's replicas (see [`Peers`]).
pub fn routes(consumer: Consumer, verifier: Verifier, peers: Peers) -> OpenApiRouter {
    let prefix = format!("/api/{}", consumer.service());
    let admin = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(replay))
        .routes(routes!(discard))
        .with_state(AdminState {
            consumer,
            verifier,
            peers,
        });
    OpenApiRouter::new().nest(&prefix, admin)
}

/// Whether `id` can be a dead letter's id: only such an id is put in a path sent to a
/// peer.
fn could_be_an_id(id: &str) -> bool {
    platform::domain::ChosenId::<64>::parse(id).is_ok()
}

/// The public path of `rest` under the consumer's prefix.
fn public_path(consumer: &Consumer, rest: &str) -> String {
    format!("/api/{}/events/dead-letters{rest}", consumer.service())
}

/// Lists the events this service could not apply and set aside, oldest first
/// (administrators only).
#[utoipa::path(
    get,
    path = "/events/dead-letters",
    tag = "events",
    security(("bearer" = [])),
    params(Scope),
    responses(
        (status = 200, description = "Open dead letters, oldest first (at most 500, `more` saying whether others are open): every replica's, for a read model whose replicas each keep their own", body = DeadLetters),
        AdminOnly,
        (status = 422, description = "`replica` is neither `this` nor left out", body = Problem, content_type = "application/problem+json")
    )
)]
async fn list(
    _admin: Admin,
    State(s): State<AdminState>,
    Query(scope): Query<Scope>,
    headers: HeaderMap,
) -> Result<Json<DeadLetters>, Problem> {
    const MOST: usize = 500;
    let here_only = scope.here_only()?;
    let mut items = s
        .consumer
        .dead_letters(MOST as i64 + 1)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let mut more = items.len() > MOST;
    items.truncate(MOST);
    if !here_only {
        let path = public_path(&s.consumer, "");
        for (status, body) in s.peers.ask(reqwest::Method::GET, &path, &headers).await {
            if let (true, Ok(theirs)) = (
                status.is_success(),
                serde_json::from_value::<DeadLetters>(body),
            ) {
                more |= theirs.more;
                // This replica is among its peers: its own letters come back once more.
                let fresh: Vec<DeadLetter> = theirs
                    .items
                    .into_iter()
                    .filter(|l| !items.iter().any(|mine| mine.id == l.id))
                    .collect();
                items.extend(fresh);
            }
        }
        items.sort_by(|a, b| a.dead_at.cmp(&b.dead_at));
        more |= items.len() > MOST;
        items.truncate(MOST);
    }
    Ok(Json(DeadLetters { items, more }))
}

/// Runs a dead letter through the handler again (administrators only): `handled` closes
/// it, `already_handled` closes it without a second effect, `failed` leaves it open with
/// the new error.
#[utoipa::path(
    post,
    path = "/events/dead-letters/{id}/replay",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The dead letter's id"), Scope),
    responses(
        (status = 200, description = "What the replay did (by the replica that holds the letter)", body = Replayed),
        AdminOnly,
        (status = 404, description = "No open dead letter has this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`replica` is neither `this` nor left out", body = Problem, content_type = "application/problem+json")
    )
)]
async fn replay(
    _admin: Admin,
    State(s): State<AdminState>,
    Path(id): Path<String>,
    Query(scope): Query<Scope>,
    headers: HeaderMap,
) -> Result<Json<Replayed>, Problem> {
    let here_only = scope.here_only()?;
    match s.consumer.replay(&id).await {
        Ok(Some(result)) => return Ok(Json(Replayed { id, result })),
        Ok(None) => {}
        Err(e) => return Err(Problem::internal(&e)),
    }
    if !here_only && could_be_an_id(&id) {
        let path = public_path(&s.consumer, &format!("/{id}/replay"));
        for (status, body) in s.peers.ask(reqwest::Method::POST, &path, &headers).await {
            if let (true, Ok(replayed)) = (
                status.is_success(),
                serde_json::from_value::<Replayed>(body),
            ) {
                return Ok(Json(replayed));
            }
        }
    }
    Err(no_open_letter(&id))
}

fn no_open_letter(id: &str) -> Problem {
    Problem::not_found(format!("there is no open dead letter `{id}`"))
}

/// Closes a dead letter without replaying it (administrators only): for a payload that is
/// not an event, which no replay can apply, or an effect no longer wanted. The letter is
/// kept, closed, with the administrator who closed it.
#[utoipa::path(
    delete,
    path = "/events/dead-letters/{id}",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The dead letter's id"), Scope),
    responses(
        (status = 204, description = "Closed without a replay (by the replica that holds the letter)"),
        AdminOnly,
        (status = 404, description = "No open dead letter has this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`replica` is neither `this` nor left out", body = Problem, content_type = "application/problem+json")
    )
)]
async fn discard(
    Admin(claims): Admin,
    State(s): State<AdminState>,
    Path(id): Path<String>,
    Query(scope): Query<Scope>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let here_only = scope.here_only()?;
    match s.consumer.discard(&id, &claims.sub).await {
        Ok(true) => return Ok(StatusCode::NO_CONTENT),
        Ok(false) => {}
        Err(e) => return Err(Problem::internal(&e)),
    }
    if !here_only && could_be_an_id(&id) {
        let path = public_path(&s.consumer, &format!("/{id}"));
        let answers = s.peers.ask(reqwest::Method::DELETE, &path, &headers).await;
        if answers.iter().any(|(status, _)| status.is_success()) {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(no_open_letter(&id))
}
