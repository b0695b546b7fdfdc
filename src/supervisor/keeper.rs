//! Keeping one replica's process: starting it on its sockets, following it until it is
//! ready, starting it again (after a backoff that grows while it keeps crashing) when it
//! dies, and stopping it — draining first, or at once — when asked.

use super::plan::{Sockets, Spec};
use crate::processes::{State, Status};
use anyhow::{Context as _, bail};
use command_fds::{CommandFdExt, FdMapping};
use nix::{sys::signal, unistd::Pid};
use platform::registry::GATEWAY;
use platform::shutdown::Stop;
use socket2::Socket;
use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::{Notify, watch},
    task::JoinHandle,
};

/// How long a service may take to answer its readiness probe at all.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a service that answers, and says why it is not ready yet (catching up with a
/// large seed, say), may take to become ready.
const ANSWERING_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the wait for a service that answers "not yet" is reported.
const WAITING_REPORT: Duration = Duration::from_secs(15);
/// What a process is given beyond its own shutdown's bound before it is killed: closing
/// its database, flushing its telemetry, exiting.
const STOP_MARGIN: Duration = Duration::from_secs(2);
/// A service that crashes this often before it was ever ready fails the start-up.
const CRASHES_BEFORE_READY: u32 = 5;
/// A process that ran this long before dying restarts without delay.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// The file descriptor a service finds its listening socket on, as in systemd's socket
/// activation protocol (`LISTEN_FDS`), which `bazaar serve` understands; a gateway
/// replica finds its own port's on the next one ([`Spec::own_port`]).
const LISTEN_FD: i32 = 3;
/// Where a process holds the data directory's lock ([`Context::data_dir_lock`]), past
/// the listening sockets; it never reads it, and the lock goes with it when it exits.
const LOCK_FD: i32 = 5;

/// How long a process gets between the signal that stops it and SIGKILL, from the shop's
/// settings: a service bounds its requests by `BAZAAR_SHUTDOWN_GRACE_MS` and its workers
/// by what is left of it, 1 s at least, after `BAZAAR_DRAIN_DELAY_MS` when it drains; an
/// operator who raises either is not cut off at the defaults' sizes (20 s and 22 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillAfter {
    /// After SIGINT (stop now): the grace, the workers' least second and the margin.
    pub stop: Duration,
    /// After SIGTERM (drain): the drain delay, then the same.
    pub drain: Duration,
}

impl KillAfter {
    pub fn of(common: &platform::config::CommonSettings) -> Self {
        let stop = Duration::from_millis(common.shutdown_grace_ms)
            + platform::service::WORKERS_AT_LEAST
            + STOP_MARGIN;
        Self {
            stop,
            drain: Duration::from_millis(common.drain_delay_ms) + stop,
        }
    }
}

/// What every replica's keeper shares.
pub struct Context {
    pub exe: PathBuf,
    /// The data directory's lock (`supervisor.lock`), which every process inherits as
    /// file descriptor [`LOCK_FD`]: the directory stays locked until the shop's last
    /// process is gone, the supervisor killed before its services included.
    pub data_dir_lock: std::fs::File,
    /// The shop's environment, the same for every process.
    pub env: Vec<(String, String)>,
    pub colour: bool,
    /// Woken whenever a replica becomes ready or stops being so.
    pub changed: Arc<Notify>,
    /// For readiness probes.
    pub http: reqwest::Client,
    pub kill_after: KillAfter,
}

/// A replica kept running by its keeper task.
pub struct Replica {
    pub spec: Spec,
    pub status: Arc<Mutex<Status>>,
    stop: watch::Sender<Option<Stop>>,
    task: JoinHandle<()>,
    /// The gateway's listening socket, kept by its keeper while the replica lives (see
    /// [`keep`]); `None` for every other service.
    listener: Arc<Mutex<Option<Socket>>>,
}

impl Replica {
    /// Starts `spec`'s process on `sockets` and keeps it running.
    pub fn spawn(ctx: Arc<Context>, spec: Spec, sockets: Sockets) -> Self {
        let status = Arc::new(Mutex::new(Status::default()));
        let (stop, stop_rx) = watch::channel(None);
        let listener = Arc::new(Mutex::new(
            Some(&sockets.service)
                .filter(|_| spec.name() == GATEWAY)
                .and_then(|s| s.try_clone().ok()),
        ));
        let task = tokio::spawn(keep(
            ctx,
            spec.clone(),
            Some(sockets),
            status.clone(),
            stop_rx,
            listener.clone(),
        ));
        Self {
            spec,
            status,
            stop,
            task,
            listener,
        }
    }

    /// A copy of the gateway's listening socket, for a rolling restart's successor: the
    /// two then take connections from one queue, and what waits in it when this replica
    /// stops is the successor's to accept (on a socket of its own beside this one, it was
    /// reset: a review saw 4 failed new connections in 7 rolling restarts).
    pub fn listener_copy(&self) -> Option<Socket> {
        copy_of(&self.listener)
    }

    pub fn state(&self) -> State {
        lock(&self.status).state
    }

    pub fn pid(&self) -> Option<u32> {
        lock(&self.status).pid
    }

    /// Asks the keeper to stop the process (and not start it again).
    pub fn stop(&self, how: Stop) {
        let _ = self.stop.send(Some(how));
    }

    /// Stops it and waits until it has.
    pub async fn stop_and_wait(self, how: Stop) {
        self.stop(how);
        let _ = self.task.await;
    }

    /// Resolves once it is ready; fails when it gives up (exits with a failure code),
    /// keeps crashing before it was ever ready, is stopped, or takes longer than
    /// [`READY_TIMEOUT`]. Owns what it watches, so the replica need not stay borrowed.
    pub fn readiness(&self) -> impl std::future::Future<Output = anyhow::Result<()>> + use<> {
        let (status, label) = (self.status.clone(), self.spec.label());
        async move {
            let started = Instant::now();
            let mut reported = started;
            loop {
                let waiting = {
                    let s = lock(&status);
                    if s.state == State::Ready {
                        return Ok(());
                    }
                    if s.gave_up || s.starts > CRASHES_BEFORE_READY || s.state == State::Stopped {
                        bail!(
                            "{label} stopped before it was ready ({}); its lines in the shop's log say why",
                            s.last_exit.as_deref().unwrap_or("unknown exit")
                        );
                    }
                    s.waiting.clone()
                };
                let limit = if waiting.is_some() {
                    ANSWERING_TIMEOUT
                } else {
                    READY_TIMEOUT
                };
                if started.elapsed() > limit {
                    bail!(
                        "{label} was not ready within {} s ({})",
                        limit.as_secs(),
                        waiting.as_deref().unwrap_or("it never answered")
                    );
                }
                // Said of one that answers nothing too: a frozen or overloaded process
                // left start-up silent for its whole 90 s (the start-up review).
                if reported.elapsed() > WAITING_REPORT {
                    errln!(
                        "bazaar: waiting for {label} ({} s): {}",
                        started.elapsed().as_secs(),
                        waiting
                            .as_deref()
                            .unwrap_or("no answer to its readiness check yet")
                    );
                    reported = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    /// Resolves once its keeper has stopped it for good.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + use<> {
        let status = self.status.clone();
        async move {
            while lock(&status).state != State::Stopped {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
}

pub fn lock(status: &Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|e| e.into_inner())
}

fn set(ctx: &Context, status: &Mutex<Status>, state: State) {
    {
        let mut s = lock(status);
        s.state = state;
        s.ever_ready |= state == State::Ready;
    }
    ctx.changed.notify_one();
}

/// Keeps one replica running until asked to stop.
///
/// The first process gets the sockets bound at planning; a restarted one gets the same
/// ports bound anew. The process holds the only copy, so while it is down its port refuses
/// connections and callers fail fast (to another replica, or to their retry) instead of
/// waiting on a backlog nobody accepts. The gateway's port is the exception: it is the
/// shop's address, whose clients have nowhere else to go, so its keeper holds a copy of the
/// socket while the replica lives, and a crashed gateway's successor accepts what queued
/// on it meanwhile (a review counted 0.85 s of refused connections after a SIGKILL). A
/// rolling restart's successor listens on a copy of the same socket
/// ([`Replica::listener_copy`]); the keeper lets its own go before its replica is stopped.
async fn keep(
    ctx: Arc<Context>,
    spec: Spec,
    mut sockets: Option<Sockets>,
    status: Arc<Mutex<Status>>,
    mut stop: watch::Receiver<Option<Stop>>,
    held: Arc<Mutex<Option<Socket>>>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let spawned_at = Instant::now();
        let started = match sockets.take() {
            Some(s) => Ok(s),
            None => Sockets::again(&spec, copy_of(&held))
                .with_context(|| format!("could not bind the ports of {}", spec.url())),
        }
        .and_then(|s| start(&ctx, &spec, s));
        let mut child = match started {
            Ok(c) => c,
            Err(e) => {
                errln!("bazaar: could not start {}: {e:#}", spec.label());
                {
                    let mut s = lock(&status);
                    s.last_exit = Some(format!("could not start: {e}"));
                    s.starts += 1;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return stopped(&ctx, &status),
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        {
            let mut s = lock(&status);
            s.pid = child.id();
            s.starts += 1;
            s.started_at = Some(events::now_rfc3339());
            s.state = State::Starting;
        }
        ctx.changed.notify_one();
        let readiness = follow_readiness(&ctx, &spec, &status);
        tokio::pin!(readiness);
        let exit = loop {
            tokio::select! {
                r = child.wait() => break Some(r),
                changed = stop.changed() => {
                    // Let go first: the port is its successor's now (which has a copy of
                    // its own) or nobody's, and a copy kept here through the drain would
                    // hold connections that no process is left to accept.
                    drop(held.lock().unwrap_or_else(|e| e.into_inner()).take());
                    let how = changed.ok().and_then(|()| *stop.borrow()).unwrap_or(Stop::Now);
                    if how == Stop::Drain {
                        set(&ctx, &status, State::Draining);
                    }
                    terminate(&mut child, &spec, how, ctx.kill_after).await;
                    lock(&status).pid = None;
                    return stopped(&ctx, &status);
                }
                () = &mut readiness => {}
            }
        };
        let how = match &exit {
            Some(Ok(s)) => s.to_string(),
            Some(Err(e)) => format!("unknown ({e})"),
            None => "unknown".to_owned(),
        };
        let gave_up = matches!(&exit, Some(Ok(s)) if s.code().is_some_and(|c| c != 0));
        {
            let mut s = lock(&status);
            s.pid = None;
            s.last_exit = Some(how.clone());
            s.gave_up = gave_up;
            s.state = State::Restarting;
        }
        ctx.changed.notify_one();
        if stop.borrow().is_some() {
            return stopped(&ctx, &status);
        }
        // A process that exits with a failure code before any of this replica's was ever
        // ready (a bad setting, a database it cannot open) fails the start-up or the
        // rolling restart waiting for it; started again, it only said "restarting" before
        // the shop stopped (the docs review). Once the replica has been ready, such an
        // exit is restarted like a crash: its database may be back by then.
        if gave_up && !lock(&status).ever_ready {
            errln!(
                "bazaar: {} exited ({how}) before it was ever ready; not restarting it",
                spec.label()
            );
            return stopped(&ctx, &status);
        }
        if spawned_at.elapsed() > HEALTHY_RUN {
            backoff = Duration::from_millis(200);
        }
        errln!(
            "bazaar: {} exited ({how}); restarting in {} ms",
            spec.label(),
            backoff.as_millis()
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return stopped(&ctx, &status),
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// A copy of the socket `slot` keeps, if it keeps one (and the kernel can copy it).
fn copy_of(slot: &Mutex<Option<Socket>>) -> Option<Socket> {
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|s| s.try_clone().ok())
}

fn stopped(ctx: &Context, status: &Mutex<Status>) {
    set(ctx, status, State::Stopped);
}

/// How often a ready replica's readiness is checked again, and how long an answer may take.
const RECHECK: Duration = Duration::from_secs(1);
/// Failed checks in a row that make a ready replica unready (one passing makes it ready).
const FAILS_TO_UNREADY: u32 = 2;

/// Readiness checks in a row that get no answer, and no answer from `/health/live`
/// either, after which a replica is taken for hung (stopped, deadlocked) and killed, so
/// that the keeper starts it again: a hung process keeps what it holds, such as the write
/// lock of the SQLite file its service's replicas share, which stalls them all. Such a
/// check takes about 3 s (the pause, and a second each for the two questions), so this is
/// about 15 s; Kubernetes' liveness probe in deploy/ allows 30 s.
const SILENT_TO_KILL: u32 = 5;

/// [`SILENT_TO_KILL`] for a gateway replica, about 6 s: the shop's port, which the
/// gateway's replicas share, goes on handing a hung one its share of the new connections
/// (the kernel picks a socket by the connection's addresses, not by who accepts), and
/// each waits until the replica is killed and its next process accepts it from the same
/// socket, which the keeper holds. Its callers' balancers left it long before (its own
/// port, [`Spec::own_port`]); the shop's clients have nowhere else to go.
const GATEWAY_SILENT_TO_KILL: u32 = 2;

/// Follows the process's readiness for as long as it runs: until it is first ready (see
/// [`become_ready`]), then every [`RECHECK`], so that what `bazaar status` and the
/// directory say follows a replica that freezes, drains on a signal it got from someone
/// else, or loses a dependency, and comes back; one that answers nothing at all for
/// [`SILENT_TO_KILL`] checks ([`GATEWAY_SILENT_TO_KILL`] for a gateway) is killed, to be
/// started again. Each replica is asked where it alone answers ([`Spec::url`]).
async fn follow_readiness(ctx: &Context, spec: &Spec, status: &Mutex<Status>) {
    let url = format!("{}/health/ready", spec.url());
    let live = format!("{}/health/live", spec.url());
    become_ready(ctx, spec, status, &url).await;
    let silent_to_kill = if spec.name() == GATEWAY {
        GATEWAY_SILENT_TO_KILL
    } else {
        SILENT_TO_KILL
    };
    let mut failed = 0;
    let mut silent = 0;
    loop {
        tokio::time::sleep(RECHECK).await;
        let heard = hear_from(ctx, (&url, &live)).await;
        silent = match heard {
            Heard::Ready(_) | Heard::Alive => 0,
            Heard::Silent => silent + 1,
        };
        if silent >= silent_to_kill {
            kill_hung(spec, status, silent);
            // The keeper sees it exit and starts it again.
            return std::future::pending().await;
        }
        let (ok, body) = match heard {
            Heard::Ready(answer) => answer,
            Heard::Alive | Heard::Silent => (false, serde_json::Value::Null),
        };
        let now = lock(status).state;
        if ok && body["service"] == spec.name() {
            failed = 0;
            if now != State::Ready {
                lock(status).waiting = None;
                set(ctx, status, State::Ready);
            }
            continue;
        }
        failed += 1;
        let next = if body["status"] == "draining" {
            State::Draining
        } else if failed >= FAILS_TO_UNREADY {
            State::Unready
        } else {
            continue;
        };
        lock(status).waiting = Some(if body.is_null() {
            format!(
                "no answer to its readiness check within {} s",
                RECHECK.as_secs()
            )
        } else {
            not_ready_because(&body)
        });
        if now != next {
            set(ctx, status, next);
        }
    }
}

/// What one check heard from a replica.
enum Heard {
    /// Its answer to the readiness question: whether it passed, and the body.
    Ready((bool, serde_json::Value)),
    /// No answer to readiness, but it says it lives: busy, not hung (a process whose
    /// readiness waits on its database).
    Alive,
    /// Nothing from it: as if hung.
    Silent,
}

/// Asks the replica's readiness at `ready` and, when that gets no answer, its liveness
/// at `live`.
async fn hear_from(ctx: &Context, (ready, live): (&str, &str)) -> Heard {
    if let Some(answer) = probe(ctx, ready, Some(RECHECK)).await {
        return Heard::Ready(answer);
    }
    match probe(ctx, live, Some(RECHECK)).await {
        Some(_) => Heard::Alive,
        None => Heard::Silent,
    }
}

/// Kills a replica that has answered nothing for `checks` checks.
fn kill_hung(spec: &Spec, status: &Mutex<Status>, checks: u32) {
    let Some(pid) = lock(status).pid else {
        return;
    };
    errln!(
        "bazaar: {} (pid {pid}) has answered nothing for {checks} checks in a row; \
         killing it to start it again",
        spec.label()
    );
    let _ = signal::kill(Pid::from_raw(pid as i32), signal::Signal::SIGKILL);
}

/// Polls the process's readiness at `url` until it is ready (and is the service meant:
/// anything else on its port would be a bug), then marks it so.
async fn become_ready(ctx: &Context, spec: &Spec, status: &Mutex<Status>, url: &str) {
    loop {
        match probe(ctx, url, None).await {
            Some((_, body)) if body["service"] != spec.name() => {
                errln!(
                    "bazaar: {} answered by {}, not {}",
                    spec.url(),
                    body["service"],
                    spec.name()
                );
            }
            Some((true, _)) => {
                lock(status).waiting = None;
                set(ctx, status, State::Ready);
                return;
            }
            Some((false, body)) => lock(status).waiting = Some(not_ready_because(&body)),
            None => lock(status).waiting = None,
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asks `url` for the process's readiness, on a connection of its own (`Connection:
/// close`: the supervisor keeps none open to its processes): whether it passed, and its body (`Null` when it is not JSON);
/// `None` when it did not answer (within `within`, if given).
pub(super) async fn probe(
    ctx: &Context,
    url: &str,
    within: Option<Duration>,
) -> Option<(bool, serde_json::Value)> {
    let mut check = ctx
        .http
        .get(url)
        .header(reqwest::header::CONNECTION, "close");
    if let Some(within) = within {
        check = check.timeout(within);
    }
    let answer = check.send().await.ok()?;
    let ok = answer.status().is_success();
    Some((ok, answer.json().await.unwrap_or_default()))
}

/// The failing checks of a `/health/ready` answer, as `name: why; …`.
pub(super) fn not_ready_because(body: &serde_json::Value) -> String {
    let failing: Vec<String> = body["checks"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| *v != "ok")
        .map(|(name, why)| format!("{name}: {}", why.as_str().unwrap_or("failing")))
        .collect();
    if failing.is_empty() {
        body["status"].as_str().unwrap_or("not ready").to_owned()
    } else {
        failing.join("; ")
    }
}

/// What a service is given for its service tokens: identity the master secret, every other
/// service only its own key derived from it (see `platform::auth::service_key`).
fn service_key(ctx: &Context, service: &str) -> Option<(&'static str, String)> {
    const VAR: &str = "BAZAAR_SERVICE_SECRET";
    let master = ctx
        .env
        .iter()
        .find(|(k, _)| k == VAR)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(VAR).ok())
        .filter(|m| !m.is_empty())?;
    (service != platform::registry::IDENTITY)
        .then(|| (VAR, platform::auth::service_key(&master, service)))
}

/// Variables only identity is given: the admin account's credentials. Any other service
/// holding them could sign in as the administrator, where a compromised service should
/// hold its own powers and no more (docs/security.md; the ops-console review).
const IDENTITYS_OWN: &[&str] = &["BAZAAR_ADMIN_EMAIL", "BAZAAR_ADMIN_PASSWORD"];

fn start(ctx: &Context, spec: &Spec, sockets: Sockets) -> anyhow::Result<Child> {
    let mut cmd = Command::new(&ctx.exe);
    cmd.arg("serve")
        .arg(spec.name())
        .envs(ctx.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(service_key(ctx, spec.name()));
    if spec.name() != platform::registry::IDENTITY {
        for var in IDENTITYS_OWN {
            cmd.env_remove(var);
        }
    }
    let mut fds = vec![FdMapping {
        parent_fd: sockets.service.into(),
        child_fd: LISTEN_FD,
    }];
    fds.extend(sockets.own.map(|own| FdMapping {
        parent_fd: own.into(),
        child_fd: LISTEN_FD + 1,
    }));
    cmd.env("LISTEN_FDS", fds.len().to_string())
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C reaches only the supervisor, which
        // then stops the services in order.
        .process_group(0)
        .kill_on_drop(true);
    // The command owns the sockets from here and closes our copies when it is dropped,
    // right after the spawn: the service's process holds the only ones.
    let lock = ctx
        .data_dir_lock
        .try_clone()
        .context("could not share the data directory's lock")?;
    fds.push(FdMapping {
        parent_fd: lock.into(),
        child_fd: LOCK_FD,
    });
    cmd.fd_mappings(fds)
        .context("could not hand the listening socket over")?;
    let mut child = cmd.spawn()?;
    let label = spec.label();
    let prefix = if ctx.colour {
        format!("\x1b[{}m{:>9} |\x1b[0m ", colour_of(spec.name()), label)
    } else {
        format!("{label:>9} | ")
    };
    if let Some(out) = child.stdout.take() {
        tokio::spawn(relay(out, prefix.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(relay(err, prefix));
    }
    Ok(child)
}

fn colour_of(name: &str) -> u8 {
    let h = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    31 + (h % 6) as u8
}

/// Copies a child's output to ours, a line at a time, behind its prefix.
async fn relay(stream: impl AsyncRead + Unpin, prefix: String) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        outln!("{prefix}{line}");
    }
}

/// Stops the process: SIGTERM to drain or SIGINT to stop now, then SIGKILL if it has not
/// exited in time.
async fn terminate(child: &mut Child, spec: &Spec, how: Stop, after: KillAfter) {
    if let Some(pid) = child.id() {
        let (sig, grace) = match how {
            Stop::Drain => (signal::Signal::SIGTERM, after.drain),
            Stop::Now => (signal::Signal::SIGINT, after.stop),
        };
        let _ = signal::kill(Pid::from_raw(pid as i32), sig);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
        errln!("bazaar: {} did not stop in time; killing it", spec.label());
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(overrides: &[(&str, &str)]) -> platform::config::CommonSettings {
        platform::config::Settings::<platform::config::NoSettings>::for_tests("orders", overrides)
            .unwrap()
            .common
    }

    #[test]
    fn a_process_is_killed_only_after_the_shutdown_its_settings_allow() {
        // The defaults: a 17 s grace and a 2 s drain delay.
        assert_eq!(
            KillAfter::of(&common(&[])),
            KillAfter {
                stop: Duration::from_secs(20),
                drain: Duration::from_secs(22),
            }
        );
        // An operator who gives requests a minute, and callers 10 s to move away, has
        // them all: the supervisor waits past both before it kills.
        let raised = KillAfter::of(&common(&[
            ("shutdown_grace_ms", "60000"),
            ("drain_delay_ms", "10000"),
        ]));
        assert_eq!(raised.stop, Duration::from_secs(63));
        assert_eq!(raised.drain, Duration::from_secs(73));
        // No grace at all still leaves the workers their second.
        let none = KillAfter::of(&common(&[
            ("shutdown_grace_ms", "0"),
            ("drain_delay_ms", "0"),
        ]));
        assert_eq!(none.stop, Duration::from_secs(3));
        assert_eq!(none.drain, none.stop);
    }
}
