//! The supervisor's control API: every replica's process with its state, killing one,
//! and rolling restarts. Listens on 127.0.0.1 only. Every call needs the supervisor's
//! own token (in `<data>/supervisor.json`, for `bazaar status` and `bazaar restart`) or
//! a token from identity: listing takes a service's (the ops console watching), killing
//! and restarting only an administrator's (the ops console passes on the signed-in
//! admin's), so no service token can take the shop down.

use crate::{
    processes::{Operator, ProcessView, Refusal, Signalled},
    traces::{self, ServiceMap, TraceFilter, TraceList, TraceStore, TraceView},
};
use axum::{
    Json, Router,
    extract::{FromRef, FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::{
    Problem,
    auth::{ServiceOrAdmin, Verifier},
    extract::Query,
    shutdown::Shutdown,
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, sync::Arc};

#[derive(Clone)]
struct ControlState {
    operator: Arc<dyn Operator>,
    verifier: Verifier,
    token: Arc<str>,
    traces: TraceStore,
}

impl FromRef<ControlState> for Verifier {
    fn from_ref(s: &ControlState) -> Verifier {
        s.verifier.clone()
    }
}

/// Who is calling: the supervisor's own token's holder, or a service or administrator.
/// Any of them may list the processes; only the first and the last may act on them.
struct Caller {
    who: String,
    may_act: bool,
}

impl Caller {
    /// The caller's name, if they may kill and restart.
    fn acting(self) -> Result<String, Problem> {
        if self.may_act {
            Ok(self.who)
        } else {
            Err(Problem::forbidden(
                "killing and restarting take an administrator's token",
            ))
        }
    }
}

impl FromRequestParts<ControlState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ControlState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = platform::auth::bearer(parts)?
            && constant_time_eq(token.as_bytes(), state.token.as_bytes())
        {
            return Ok(Caller {
                who: "the supervisor's token".into(),
                may_act: true,
            });
        }
        let ServiceOrAdmin(claims) = ServiceOrAdmin::from_request_parts(parts, state).await?;
        Ok(Caller {
            may_act: claims.is_admin(),
            who: claims.sub,
        })
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Serialize, Deserialize)]
pub struct Processes {
    pub processes: Vec<ProcessView>,
}

/// Where the services' traces go: the store, and the token their exports carry.
pub struct Collector {
    pub store: TraceStore,
    pub ingest_token: String,
}

/// Starts the control API on a free port of 127.0.0.1; returns its address. With a
/// `collector`, it also receives the services' traces (`POST /v1/traces`) and serves
/// them to the ops console (`/traces`, `/traces/map`, `/traces/{id}`).
pub async fn serve(
    operator: Arc<dyn Operator>,
    verifier: Verifier,
    token: &str,
    collector: Option<Collector>,
    shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    let (store, receiver) = match collector {
        Some(c) => (
            c.store.clone(),
            traces::receiver(c.store, Some(&c.ingest_token)),
        ),
        None => (TraceStore::new(1), Router::new()),
    };
    let app = Router::new()
        .route("/processes", get(list))
        .route("/processes/{service}/kill", post(kill))
        .route("/processes/{service}/restart", post(restart))
        .route("/services/{service}/restart", post(restart))
        .route("/traces", get(recent_traces))
        .route("/traces/map", get(service_map))
        .route("/traces/{id}", get(one_trace))
        .with_state(ControlState {
            operator,
            verifier,
            token: token.into(),
            traces: store,
        })
        .merge(receiver)
        // Every refusal a problem document, as on the services: a query that does not
        // parse, a method or path it does not have (the ops-console review).
        .fallback(platform::service::not_found)
        .layer(axum::middleware::map_response(
            platform::service::problem_for_bare_errors,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
    });
    Ok(addr)
}

/// [`TraceList`], by the name the system tests use.
pub use crate::traces::TraceList as Traces;

/// The recent traces, slowest first: `?route=`, `?service=`, `?errors=true`, `?limit=`.
async fn recent_traces(
    _caller: Caller,
    State(s): State<ControlState>,
    Query(filter): Query<TraceFilter>,
) -> Json<TraceList> {
    Json(TraceList {
        traces: s.traces.list(&filter),
    })
}

async fn one_trace(
    _caller: Caller,
    State(s): State<ControlState>,
    Path(id): Path<String>,
) -> Result<Json<TraceView>, Problem> {
    s.traces.get(&id).map(Json).ok_or_else(|| {
        Problem::not_found(format!("no trace {id} is kept (only the most recent are)"))
    })
}

async fn service_map(_caller: Caller, State(s): State<ControlState>) -> Json<ServiceMap> {
    Json(s.traces.map())
}

async fn list(_caller: Caller, State(s): State<ControlState>) -> Json<Processes> {
    Json(Processes {
        processes: s.operator.processes(),
    })
}

#[derive(Deserialize)]
struct Which {
    /// Which replica to kill (1, 2, …); none: the first one running. A restart takes
    /// none: it replaces every replica in turn.
    replica: Option<u32>,
    /// Whether to answer only once done (a rolling restart takes a few seconds a replica).
    #[serde(default = "yes")]
    wait: bool,
}

fn yes() -> bool {
    true
}

async fn kill(
    caller: Caller,
    State(s): State<ControlState>,
    Path(service): Path<String>,
    Query(which): Query<Which>,
) -> Result<(StatusCode, Json<Signalled>), Problem> {
    let who = caller.acting()?;
    if which.replica == Some(0) {
        return Err(Problem::invalid_field(
            "replica",
            "replicas are numbered from 1; name none for the first one running",
        ));
    }
    let signalled = s
        .operator
        .kill(&service, which.replica.unwrap_or(0))
        .map_err(problem)?;
    tracing::warn!(service, pid = signalled.pid, by = %who, "killed a replica");
    errln!(
        "bazaar: SIGKILL to {service} #{} (pid {}) requested by {who}",
        signalled.replica,
        signalled.pid
    );
    Ok((StatusCode::ACCEPTED, Json(signalled)))
}

/// A rolling restart of the service: with `wait`, answered once every replica has a
/// ready successor; otherwise at once, while it goes on.
async fn restart(
    caller: Caller,
    State(s): State<ControlState>,
    Path(service): Path<String>,
    Query(which): Query<Which>,
) -> Response {
    let who = match caller.acting() {
        Ok(who) => who,
        Err(refused) => return refused.into_response(),
    };
    if which.replica.is_some() {
        return Problem::invalid_field(
            "replica",
            "a restart replaces every replica of the service in turn; name none",
        )
        .into_response();
    }
    // Refused before anything is said of it: the name is the caller's, and the log's
    // lines are read by people (a name with a line break in it wrote a line of its own).
    if !s.operator.processes().iter().any(|p| p.service == service) {
        return problem(Refusal::UnknownService(service)).into_response();
    }
    errln!("bazaar: rolling restart of {service} requested by {who}");
    let mut restart = s.operator.restart(&service);
    if !which.wait {
        // Polled once here, where a refusal is found (a restart of it under way, a shop
        // still starting): it is the caller's answer, not 202 and a line in the log (the
        // ops console said a refused restart had begun). The rest goes on in its own task.
        let first =
            std::future::poll_fn(|cx| std::task::Poll::Ready(restart.as_mut().poll(cx))).await;
        match first {
            std::task::Poll::Ready(Err(refused)) => return problem(refused).into_response(),
            std::task::Poll::Ready(Ok(processes)) => {
                return Json(Processes { processes }).into_response();
            }
            std::task::Poll::Pending => {}
        }
        tokio::spawn(async move {
            if let Err(e) = restart.await {
                errln!("bazaar: the rolling restart of {service} failed: {e}");
            }
        });
        return StatusCode::ACCEPTED.into_response();
    }
    // Its own task: a caller that hangs up (Ctrl-C on `bazaar restart`) must not stop a
    // rolling restart halfway, with one replica's successor started and the rest not. Its
    // failure is logged by the task as well as answered: the caller may be gone (and this
    // handler with it).
    let logged = async move {
        let outcome = restart.await;
        if let Err(e) = &outcome {
            errln!("bazaar: the rolling restart of {service} failed: {e}");
        }
        outcome
    };
    match tokio::spawn(logged).await {
        Ok(Ok(processes)) => Json(Processes { processes }).into_response(),
        Ok(Err(e)) => problem(e).into_response(),
        Err(e) => problem(Refusal::Failed(format!("the restart stopped: {e}"))).into_response(),
    }
}

fn problem(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::UnknownService(_) | Refusal::UnknownReplica(..) => {
            Problem::not_found(refusal.to_string())
        }
        Refusal::Conflict(_) => Problem::conflict(refusal.to_string()),
        // Not the supervisor's own fault (a successor that could not start: its database
        // full, say), and the old replicas still serve: try again later.
        Refusal::Failed(why) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "restart-failed",
            "Restart failed",
            why,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status() {
        let cases = [
            (Refusal::UnknownService("nope".into()), 404),
            (Refusal::UnknownReplica("cart".into(), 9), 404),
            (
                Refusal::Conflict("cart is being restarted already".into()),
                409,
            ),
            // A successor that could not start: the old replicas serve on; try later.
            (
                Refusal::Failed("the new cart#1 did not become ready".into()),
                503,
            ),
        ];
        for (refusal, status) in cases {
            assert_eq!(problem(refusal).status, status);
        }
    }
}
