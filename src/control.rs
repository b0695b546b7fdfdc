//! The supervisor's control API, for the ops console: every service process with its
//! state, and kill / restart. Listens on 127.0.0.1 only; every call needs a service (or
//! admin) token, verified against identity's keys like any service does.

use crate::supervisor::Status;
use axum::{
    Json, Router,
    extract::{FromRef, Path, State},
    http::StatusCode,
    routing::{get, post},
};
use nix::{sys::signal, unistd::Pid};
use platform::{
    Problem,
    auth::{ServiceCaller, Verifier},
    shutdown::Shutdown,
};
use serde::Serialize;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

/// One supervised service, as the control API sees it.
pub struct Process {
    pub service: &'static str,
    pub port: u16,
    pub status: Arc<Mutex<Status>>,
}

#[derive(Clone)]
struct ControlState {
    processes: Arc<Vec<Process>>,
    verifier: Verifier,
}

impl FromRef<ControlState> for Verifier {
    fn from_ref(s: &ControlState) -> Verifier {
        s.verifier.clone()
    }
}

#[derive(Serialize)]
struct ProcessView {
    service: &'static str,
    pid: Option<u32>,
    port: u16,
    /// `running`, `restarting` (between a death and the next start) or `stopped`.
    state: &'static str,
    starts: u32,
    started_at: Option<String>,
    last_exit: Option<String>,
}

#[derive(Serialize)]
struct Processes {
    processes: Vec<ProcessView>,
}

#[derive(Serialize)]
struct Signalled {
    service: &'static str,
    pid: u32,
    signal: &'static str,
}

/// Starts the control API on a free port of 127.0.0.1; returns its address.
pub async fn serve(
    processes: Arc<Vec<Process>>,
    verifier: Verifier,
    shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/processes", get(list))
        .route("/processes/{service}/kill", post(kill))
        .route("/processes/{service}/restart", post(restart))
        .with_state(ControlState {
            processes,
            verifier,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
    });
    Ok(addr)
}

async fn list(_caller: ServiceCaller, State(s): State<ControlState>) -> Json<Processes> {
    let processes = s
        .processes
        .iter()
        .map(|p| {
            let st = p.status.lock().unwrap_or_else(|e| e.into_inner());
            ProcessView {
                service: p.service,
                pid: st.pid,
                port: p.port,
                state: match (st.stopped, st.pid) {
                    (true, _) => "stopped",
                    (false, Some(_)) => "running",
                    (false, None) => "restarting",
                },
                starts: st.starts,
                started_at: st.started_at.clone(),
                last_exit: st.last_exit.clone(),
            }
        })
        .collect();
    Json(Processes { processes })
}

async fn kill(
    caller: ServiceCaller,
    State(s): State<ControlState>,
    Path(service): Path<String>,
) -> Result<(StatusCode, Json<Signalled>), Problem> {
    send(caller, &s, &service, signal::Signal::SIGKILL, "SIGKILL")
}

async fn restart(
    caller: ServiceCaller,
    State(s): State<ControlState>,
    Path(service): Path<String>,
) -> Result<(StatusCode, Json<Signalled>), Problem> {
    send(caller, &s, &service, signal::Signal::SIGTERM, "SIGTERM")
}

/// Signals a service's process; the supervisor then starts it again.
fn send(
    ServiceCaller(claims): ServiceCaller,
    s: &ControlState,
    service: &str,
    sig: signal::Signal,
    name: &'static str,
) -> Result<(StatusCode, Json<Signalled>), Problem> {
    let process = s
        .processes
        .iter()
        .find(|p| p.service == service)
        .ok_or_else(|| Problem::not_found(format!("there is no service called `{service}`")))?;
    let pid = process
        .status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pid
        .ok_or_else(|| Problem::conflict(format!("{service} has no running process right now")))?;
    tracing::warn!(service, pid, signal = name, by = %claims.sub, "signalling a service process");
    eprintln!(
        "bazaar: {name} to {service} (pid {pid}) requested by {}",
        claims.sub
    );
    signal::kill(Pid::from_raw(pid as i32), sig)
        .map_err(|e| Problem::conflict(format!("could not signal {service}: {e}")))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Signalled {
            service: process.service,
            pid,
            signal: name,
        }),
    ))
}
