//! `bazaar up`: every service as its own OS process, started in dependency order, health
//! gated, restarted with backoff when it dies, and stopped in reverse order on Ctrl-C or
//! SIGTERM.

use crate::{UpArgs, control, serve::SERVICES};
use anyhow::{Context, bail};
use command_fds::{CommandFdExt, FdMapping};
use nix::{sys::signal, unistd::Pid};
use platform::{config::default_port, shutdown::Shutdown};
use socket2::{Domain, Protocol, Socket, Type};
use std::{
    collections::HashMap,
    io::IsTerminal,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    task::JoinHandle,
};

/// Services started together, level after level; each level waits for the previous one
/// to be ready. Everything verifies tokens with identity, and the gateway fronts the rest.
fn levels() -> Vec<Vec<&'static str>> {
    let middle: Vec<&str> = SERVICES
        .iter()
        .copied()
        .filter(|s| *s != "identity" && *s != "gateway")
        .collect();
    vec![vec!["identity"], middle, vec!["gateway"]]
}

/// How long a service may take to become ready at start-up.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a stopping service gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// A service that crashes this often before it was ever ready fails the start-up.
const CRASHES_BEFORE_READY: u32 = 5;
/// A process that ran this long before dying restarts without delay.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// One service to run: where it listens and where its data lives.
#[derive(Debug, Clone)]
struct Plan {
    name: &'static str,
    port: u16,
    database_url: String,
}

/// What the supervisor knows of one service's process.
#[derive(Debug, Default)]
pub(crate) struct Status {
    pub(crate) pid: Option<u32>,
    pub(crate) starts: u32,
    pub(crate) last_exit: Option<String>,
    /// When the current process started (RFC 3339).
    pub(crate) started_at: Option<String>,
    /// The supervisor has stopped this service for good.
    pub(crate) stopped: bool,
    /// The process ended on its own with a failure code (a configuration error, a
    /// database it cannot open): restarting it will not help. Crashes and kills by
    /// signal are restarted instead.
    gave_up: bool,
}

struct Keeper {
    plan: Plan,
    status: Arc<Mutex<Status>>,
    stop: Shutdown,
    task: JoinHandle<()>,
}

/// Runs the shop until Ctrl-C or SIGTERM.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "could not create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    // Every service's listening socket is bound here, before anything starts, and handed
    // to its process: no port is ever free between being chosen and being served, so two
    // services (or two shops) can never end up on one port.
    let (plans, mut sockets) = plan(&args, &data_dir)?;
    let exe = std::env::current_exe().context("could not find the bazaar executable")?;
    let mut env: Vec<(String, String)> = plans
        .iter()
        .map(|p| {
            (
                format!("BAZAAR_{}_URL", p.name.to_ascii_uppercase()),
                format!("http://127.0.0.1:{}", p.port),
            )
        })
        .collect();
    env.push((
        "BAZAAR_SUPERVISOR_PID".into(),
        std::process::id().to_string(),
    ));
    env.push(("BAZAAR_BROKER".into(), args.broker.clone()));
    // State that is not in a database lives in the data directory too, whatever the
    // database: two shops on one machine must never share a search index.
    env.push(("BAZAAR_DATA_DIR".into(), data_dir.display().to_string()));
    events::faults::new_run(&data_dir)
        .with_context(|| format!("could not reset {}/failpoints", data_dir.display()))?;
    env.push((
        "BAZAAR_INDEX_DIR".into(),
        data_dir.join("search-index").display().to_string(),
    ));
    // The services' shared secret for service tokens: random per run unless given.
    if std::env::var("BAZAAR_SERVICE_SECRET").map_or(true, |s| s.is_empty()) {
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        env.push(("BAZAAR_SERVICE_SECRET".into(), secret));
    }
    if args.broker != "embedded" {
        declare_broker_topology(&args.broker).await?;
    }
    // Every process's status, shared with the control API.
    let processes: Arc<Vec<control::Process>> = Arc::new(
        plans
            .iter()
            .map(|p| control::Process {
                service: p.name,
                port: p.port,
                status: Arc::new(Mutex::new(Status::default())),
            })
            .collect(),
    );
    let control_stop = Shutdown::new();
    let identity_port = plans.iter().find(|p| p.name == "identity").map(|p| p.port);
    let verifier = platform::auth::Verifier::remote(
        format!(
            "http://127.0.0.1:{}/api/identity/.well-known/jwks.json",
            identity_port.unwrap_or_default()
        ),
        "bazaar-identity",
        "bazaar",
    );
    let control_addr = control::serve(processes.clone(), verifier, control_stop.clone()).await?;
    env.push((
        "BAZAAR_SUPERVISOR_URL".into(),
        format!("http://{control_addr}"),
    ));
    let env = Arc::new(env);
    let colour = std::io::stdout().is_terminal();

    let signalled = Shutdown::new();
    {
        let signalled = signalled.clone();
        tokio::spawn(async move {
            platform::shutdown::signal().await;
            signalled.trigger();
        });
    }

    let http = platform::client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut keepers: Vec<Keeper> = Vec::new();
    let mut startup: anyhow::Result<()> = Ok(());
    'levels: for level in levels() {
        let mut waiting = Vec::new();
        for name in level {
            let plan = plans
                .iter()
                .find(|p| p.name == name)
                .cloned()
                .context("every service has a plan")?;
            let status = processes
                .iter()
                .find(|p| p.service == name)
                .map(|p| p.status.clone())
                .context("every service has a status")?;
            let socket = sockets.remove(name);
            let keeper = spawn_keeper(exe.clone(), plan, socket, env.clone(), colour, status);
            waiting.push((keeper.plan.clone(), keeper.status.clone()));
            keepers.push(keeper);
        }
        for (plan, status) in waiting {
            tokio::select! {
                r = wait_ready(&http, &plan, &status) => {
                    if let Err(e) = r {
                        startup = Err(e);
                        break 'levels;
                    }
                }
                _ = signalled.wait() => break 'levels,
            }
        }
    }

    if startup.is_ok() && !signalled.is_triggered() {
        let gateway = plans.iter().find(|p| p.name == "gateway").map(|p| p.port);
        println!(
            "bazaar ready: http://127.0.0.1:{} ({} services, {} processes, in {} ms; control API http://{control_addr})",
            gateway.unwrap_or_default(),
            plans.len(),
            keepers.len(),
            started.elapsed().as_millis()
        );
        signalled.wait().await;
    }

    eprintln!("bazaar: stopping");
    // The reverse of start-up order: the gateway stops taking requests first.
    for level in levels().into_iter().rev() {
        let mut stopping = Vec::new();
        for k in keepers.iter_mut().filter(|k| level.contains(&k.plan.name)) {
            k.stop.trigger();
            stopping.push(&mut k.task);
        }
        for task in stopping {
            let _ = task.await;
        }
    }
    control_stop.trigger();
    eprintln!("bazaar: stopped");
    startup
}

/// Declares every consuming service's queue and bindings before anything starts, so
/// events published before a consumer's first start wait in its queue.
async fn declare_broker_topology(broker: &str) -> anyhow::Result<()> {
    if !(broker.starts_with("amqp://") || broker.starts_with("amqps://")) {
        bail!("--broker must be `embedded` or an amqp:// URL, got `{broker}`");
    }
    let namespace = std::env::var("BAZAAR_EVENTS_NAMESPACE").unwrap_or_else(|_| "bazaar".into());
    let consumers: Vec<(&str, Vec<&str>)> = crate::serve::subscriptions()
        .into_iter()
        .map(|(service, subs)| {
            (
                service,
                subs.iter().flat_map(|s| s.types.iter().copied()).collect(),
            )
        })
        .collect();
    events::amqp::declare_topology(broker, &namespace, &consumers)
        .await
        .with_context(|| {
            format!(
                "could not set up the broker at {}",
                platform::db::redact(broker)
            )
        })
}

/// Decides each service's port and database, and binds each service's listening socket.
fn plan(
    args: &UpArgs,
    data_dir: &Path,
) -> anyhow::Result<(Vec<Plan>, HashMap<&'static str, Socket>)> {
    let mut plans = Vec::new();
    let mut sockets = HashMap::new();
    for name in SERVICES.iter().copied() {
        let socket = if name == "gateway" {
            reserve(args.port).with_context(|| {
                format!(
                    "port {} is in use: stop what uses it or pass --port",
                    args.port
                )
            })?
        } else if args.port == 0 {
            reserve(0)?
        } else {
            let offset = default_port(name).unwrap_or(8080).saturating_sub(8080);
            args.port
                .checked_add(offset)
                .and_then(|p| reserve(p).ok())
                .map_or_else(|| reserve(0), Ok)?
        };
        let database_url = match &args.database {
            Some(server) => postgres_database(server, name)?,
            None => format!("sqlite://{}", data_dir.join(format!("{name}.db")).display()),
        };
        plans.push(Plan {
            name,
            port: port_of(&socket)?,
            database_url,
        });
        sockets.insert(name, socket);
    }
    Ok((plans, sockets))
}

/// A socket bound to 127.0.0.1:`port` (0: a free port) but not yet listening: it holds
/// the port for its service, which starts listening on it. Until then a connection to the
/// port is refused at once, as if nothing were there, so nobody waits on a service that
/// has not started.
fn reserve(port: u16) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    // Always, as std and tokio do: the connections a dead process leaves closing on its
    // port inherit the flag from its listener, and the restart's bind must get past them.
    // (Port 0 still gets a port nothing else holds: the kernel picks a free one first.)
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(socket)
}

/// The port a reserved socket holds.
fn port_of(socket: &Socket) -> std::io::Result<u16> {
    socket
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("not an IP socket"))
}

/// The URL of service `name`'s own database on a PostgreSQL server: the server URL's
/// database name (default `bazaar`) suffixed with the service name.
fn postgres_database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut url =
        url::Url::parse(server).with_context(|| format!("--database `{server}` is not a URL"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!(
            "--database must be a postgres:// URL, got `{}`",
            url.scheme()
        );
    }
    let base = url.path().trim_start_matches('/');
    let base = if base.is_empty() { "bazaar" } else { base };
    let db = format!("{base}_{name}");
    url.set_path(&db);
    Ok(url.to_string())
}

fn spawn_keeper(
    exe: PathBuf,
    plan: Plan,
    socket: Option<Socket>,
    env: Arc<Vec<(String, String)>>,
    colour: bool,
    status: Arc<Mutex<Status>>,
) -> Keeper {
    let stop = Shutdown::new();
    let task = tokio::spawn(keep(
        exe,
        plan.clone(),
        socket,
        env,
        colour,
        status.clone(),
        stop.clone(),
    ));
    Keeper {
        plan,
        status,
        stop,
        task,
    }
}

/// Keeps one service running until `stop`: starts it, waits for it to exit, and starts it
/// again after a backoff that grows while it keeps crashing.
///
/// The first process gets the socket bound at planning; a restarted one gets the same
/// port bound anew. The process holds the only copy, so while it is down its port refuses
/// connections and callers fail fast instead of waiting on a backlog nobody accepts.
async fn keep(
    exe: PathBuf,
    plan: Plan,
    mut socket: Option<Socket>,
    env: Arc<Vec<(String, String)>>,
    colour: bool,
    status: Arc<Mutex<Status>>,
    stop: Shutdown,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let spawned_at = Instant::now();
        let started = match socket.take() {
            Some(s) => Ok(s),
            None => reserve(plan.port)
                .with_context(|| format!("could not bind 127.0.0.1:{}", plan.port)),
        }
        .and_then(|s| start(&exe, &plan, s, &env, colour));
        let mut child = match started {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bazaar: could not start {}: {e:#}", plan.name);
                if let Ok(mut s) = status.lock() {
                    s.last_exit = Some(format!("could not start: {e}"));
                    s.starts += 1;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Ok(mut s) = status.lock() {
            s.pid = child.id();
            s.starts += 1;
            s.started_at = Some(events::now_rfc3339());
        }
        let exited = tokio::select! {
            r = child.wait() => Some(r),
            _ = stop.wait() => None,
        };
        let Some(exit) = exited else {
            terminate(&mut child, plan.name).await;
            if let Ok(mut s) = status.lock() {
                s.pid = None;
                s.stopped = true;
            }
            return;
        };
        let how = match &exit {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown ({e})"),
        };
        let gave_up = matches!(&exit, Ok(s) if s.code().is_some_and(|c| c != 0));
        if let Ok(mut s) = status.lock() {
            s.pid = None;
            s.last_exit = Some(how.clone());
            s.gave_up = gave_up;
        }
        if stop.is_triggered() {
            return;
        }
        if spawned_at.elapsed() > HEALTHY_RUN {
            backoff = Duration::from_millis(200);
        }
        eprintln!(
            "bazaar: {} exited ({how}); restarting in {} ms",
            plan.name,
            backoff.as_millis()
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// The file descriptor a service finds its listening socket on, as in systemd's socket
/// activation protocol (`LISTEN_FDS`), which `bazaar serve` understands.
const LISTEN_FD: i32 = 3;

fn start(
    exe: &Path,
    plan: &Plan,
    socket: Socket,
    env: &[(String, String)],
    colour: bool,
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.arg("serve")
        .arg(plan.name)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("BAZAAR_LISTEN", format!("127.0.0.1:{}", plan.port))
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env("BAZAAR_DATABASE_URL", &plan.database_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C reaches only the supervisor, which
        // then stops the services in order.
        .process_group(0)
        .kill_on_drop(true);
    // The command owns the socket from here and closes our copy when it is dropped,
    // right after the spawn: the service's process holds the only one.
    cmd.fd_mappings(vec![FdMapping {
        parent_fd: socket.into(),
        child_fd: LISTEN_FD,
    }])
    .context("could not hand the listening socket over")?;
    let mut child = cmd.spawn()?;
    let prefix = if colour {
        format!("\x1b[{}m{:>9} |\x1b[0m ", colour_of(plan.name), plan.name)
    } else {
        format!("{:>9} | ", plan.name)
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
        println!("{prefix}{line}");
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within the grace period.
async fn terminate(child: &mut Child, name: &str) {
    if let Some(pid) = child.id() {
        let _ = signal::kill(Pid::from_raw(pid as i32), signal::Signal::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
        eprintln!("bazaar: {name} did not stop in time; killing it");
    }
    let _ = child.kill().await;
}

/// Waits until the service answers its readiness probe. A service that gives up (exits
/// with a failure code) or keeps crashing before it was ever ready fails the start-up: a
/// configuration error would otherwise be retried forever behind a wall of logs.
async fn wait_ready(
    http: &reqwest::Client,
    plan: &Plan,
    status: &Mutex<Status>,
) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/health/ready", plan.port);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            // Ready, and the service meant: anything else on its port is a bug.
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            if body["service"] == plan.name {
                return Ok(());
            }
            bail!(
                "127.0.0.1:{} answers as {} instead of {}",
                plan.port,
                body["service"],
                plan.name
            );
        }
        {
            let s = status
                .lock()
                .map_err(|_| anyhow::anyhow!("status lock poisoned"))?;
            if s.gave_up || s.starts > CRASHES_BEFORE_READY {
                bail!(
                    "{} stopped before it was ready ({}); see its log above",
                    plan.name,
                    s.last_exit.as_deref().unwrap_or("unknown exit")
                );
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} was not ready within {} s",
                plan.name,
                READY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_get_one_database_per_service() {
        assert_eq!(
            postgres_database("postgres://root@127.0.0.1:5432", "catalog").unwrap(),
            "postgres://root@127.0.0.1:5432/bazaar_catalog"
        );
        assert_eq!(
            postgres_database("postgres://u:p@db/shop?sslmode=disable", "identity").unwrap(),
            "postgres://u:p@db/shop_identity?sslmode=disable"
        );
        assert!(postgres_database("mysql://x", "catalog").is_err());
    }

    #[test]
    fn levels_cover_every_service_once() {
        let mut all: Vec<&str> = levels().into_iter().flatten().collect();
        all.sort_unstable();
        let mut expected = SERVICES.to_vec();
        expected.sort_unstable();
        assert_eq!(all, expected);
    }

    #[tokio::test]
    async fn every_service_gets_a_port_of_its_own_held_from_planning_and_a_busy_port_is_refused() {
        let dir = std::env::temp_dir();
        let args = UpArgs {
            port: 0,
            data_dir: dir.clone(),
            database: None,
            broker: "embedded".into(),
        };
        let (plans, sockets) = plan(&args, &dir).unwrap();
        assert_eq!(plans.len(), SERVICES.len());
        let mut ports: Vec<u16> = plans.iter().map(|p| p.port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), SERVICES.len(), "no two services share a port");
        for p in &plans {
            assert_eq!(port_of(&sockets[p.name]).unwrap(), p.port, "{}", p.name);
            // Until its service listens, a caller is refused at once, not left waiting.
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", p.port)).is_err(),
                "{}'s port refuses connections before its service listens",
                p.name
            );
        }
        // Held from planning on: whatever else asks the kernel for a free port is never
        // given one of these.
        let others: Vec<std::net::TcpListener> = (0..200)
            .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap())
            .collect();
        for other in &others {
            let port = other.local_addr().unwrap().port();
            assert!(!ports.contains(&port), "port {port} given out twice");
        }
        // A port some server listens on is refused, with the reason.
        let server = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = UpArgs {
            port: server.local_addr().unwrap().port(),
            ..args
        };
        let err = plan(&taken, &dir).unwrap_err();
        assert!(format!("{err:#}").contains("in use"), "{err:#}");
    }

    #[test]
    fn a_restart_gets_its_port_back_past_the_connections_the_last_process_left() {
        let socket = reserve(0).unwrap();
        let port = port_of(&socket).unwrap();
        // What the service does with it: listen and serve a connection.
        socket.listen(16).unwrap();
        let listener: std::net::TcpListener = socket.into();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (served, _) = listener.accept().unwrap();
        // The process dies: its listener is gone, the connection it served lingers.
        drop(listener);
        let again = reserve(port).expect("the port again for the restarted process");
        assert_eq!(port_of(&again).unwrap(), port);
        drop((served, client));
    }
}
