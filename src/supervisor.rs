//! `bazaar up`: every service as its own OS processes — one per replica — started in the
//! registry's levels, health gated, restarted with backoff when they die, restarted
//! replica by replica on request, and stopped in reverse order on Ctrl-C or SIGTERM.
//!
//! Every process follows the directory file the supervisor keeps in the data directory
//! (which replicas of each service are ready), and `supervisor.json` there tells `bazaar
//! status` and `bazaar restart` where the control API is and its token.

mod keeper;
mod plan;
mod shop;

use crate::{REGISTRY, control, processes::Operator, traces::TraceStore};
use anyhow::{Context as _, bail};
use clap::Args;
use keeper::{Context, KillAfter};
use nix::fcntl::{Flock, FlockArg};
pub use plan::Replicas;
use platform::{
    discovery::{Discovery, Source},
    registry::IDENTITY,
    shutdown::{Shutdown, Stop},
};
use serde::{Deserialize, Serialize};
use shop::Shop;
use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

/// Options of `bazaar up`.
#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    /// Port of the gateway (the shop's address); each service's first replica starts on
    /// the port its offset gives (the ports after it); further replicas, and every
    /// successor a rolling restart starts, take free ports (`bazaar status` lists them).
    /// 0 picks free ports for all of them.
    #[arg(long, env = "BAZAAR_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Directory for the services' SQLite databases and other state.
    #[arg(long, env = "BAZAAR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL server URL (`postgres://user@host:5432`): each service then gets its
    /// own database `bazaar_<service>` there (`<name>_<service>` for a URL ending in
    /// `/<name>`), created if missing, instead of SQLite.
    #[arg(long, env = "BAZAAR_DATABASE")]
    pub database: Option<String>,
    /// Where events travel: `embedded` (the default: services read each other's outboxes,
    /// nothing to install) or a RabbitMQ URL (`amqp://guest:guest@127.0.0.1:5672/%2f`).
    #[arg(long, env = "BAZAAR_BROKER", default_value = "embedded")]
    pub broker: String,
    /// Prefix of the broker's exchange and queue names, so several shops can share one
    /// broker.
    #[arg(long, env = "BAZAAR_EVENTS_NAMESPACE", default_value = "bazaar")]
    pub events_namespace: String,
    /// How many processes each service runs: `catalog=3,cart=2` (the others run one).
    #[arg(long, env = "BAZAAR_REPLICAS", default_value = "")]
    pub replicas: Replicas,
}

impl Default for UpArgs {
    fn default() -> Self {
        Self {
            port: 8080,
            data_dir: PathBuf::from("data"),
            database: None,
            broker: "embedded".into(),
            events_namespace: "bazaar".into(),
            replicas: Replicas::default(),
        }
    }
}

/// What `bazaar up` writes to `<data>/supervisor.json` while it runs, for `bazaar status`
/// and `bazaar restart` (readable by its user only: the token is the control API's key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub url: String,
    pub control_url: String,
    pub token: String,
    /// The data directory the shop runs on (canonical): a copy of the directory taken
    /// while it ran carries this file, and is not that shop's. Absent from the files of
    /// earlier builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

impl Running {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("supervisor.json")
    }

    /// What `data_dir`'s `supervisor.json` says, if it is there, reads, and is about this
    /// directory: the file in a copy of a running shop's directory names the original
    /// (taken at its word, `bazaar restart` on the copy restarted the original's service).
    fn read(data_dir: &Path) -> Option<Self> {
        let text = std::fs::read(Self::path(data_dir)).ok()?;
        let running: Self = serde_json::from_slice(&text).ok()?;
        match &running.data_dir {
            Some(its) if Some(its) != std::fs::canonicalize(data_dir).ok().as_ref() => None,
            _ => Some(running),
        }
    }

    /// Whether its supervisor's process still lives (a pid alone may be anyone's by now:
    /// a live one proves little, a dead one that the shop is gone).
    pub fn supervisor_lives(&self) -> bool {
        // A killed process is a zombie until its parent reaps it: dead, though signals
        // still reach its pid.
        let zombie = process_state(self.pid) == Some('Z');
        !zombie && nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), None).is_ok()
    }

    /// Whether its supervisor's process is stopped (`SIGSTOP`, a debugger): it lives, but
    /// answers nothing until it is continued.
    pub fn supervisor_stopped(&self) -> bool {
        matches!(process_state(self.pid), Some('T' | 't'))
    }

    /// The refusal of a second shop on `data_dir`, where this one runs.
    fn runs_already(&self, data_dir: &Path) -> anyhow::Error {
        anyhow::anyhow!(
            "a shop (pid {}) runs on {} already, at {}",
            self.pid,
            data_dir.display(),
            self.url
        )
    }
}

/// The state letter of process `pid` (`R`, `S`, `T` stopped, `Z` zombie, ...), as
/// `/proc/<pid>/stat` gives it; `None` where there is no such process (or no `/proc`).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name in parentheses may hold anything, spaces and parentheses included.
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().next()?.chars().next()
}

/// What runs on a data directory, as its lock says.
pub enum OnDataDir {
    /// No shop: nobody holds the lock (a `supervisor.json` left there is stale).
    Nothing,
    /// A shop holds it and has written how to reach it.
    Running(Running),
    /// A shop holds it and is starting (or its `supervisor.json` cannot be read).
    Starting,
    /// The services of a shop whose supervisor is gone (killed) hold it while they stop.
    Stopping,
}

fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("supervisor.lock")
}

/// Takes the data directory's lock, or says no: `Err(())` when another process holds it.
fn try_lock(data_dir: &Path) -> anyhow::Result<Result<Flock<std::fs::File>, ()>> {
    let path = lock_path(data_dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("could not open {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Ok(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(Err(())),
        Err((_, e)) => Err(e).with_context(|| format!("could not lock {}", path.display())),
    }
}

/// What runs on `data_dir`. A shop holds its lock (`supervisor.lock`) from its first step
/// to its last: the supervisor, and every service process it starts (each inherits the
/// lock's file), and the kernel lets it go when the last of them dies, however — unlike
/// the pid in `supervisor.json`, which outlives a killed shop and may by then be anyone's.
pub fn on_data_dir(data_dir: &Path) -> anyhow::Result<OnDataDir> {
    if try_lock(data_dir)?.is_ok() {
        // No lock held, but a shop of an earlier build takes none: its supervisor.json,
        // when its pid lives (its control API then says whether it is that shop).
        let earlier = Running::read(data_dir).filter(Running::supervisor_lives);
        return Ok(earlier.map_or(OnDataDir::Nothing, OnDataDir::Running));
    }
    Ok(match Running::read(data_dir) {
        Some(other) if !other.supervisor_lives() => OnDataDir::Stopping,
        Some(other) => OnDataDir::Running(other),
        None => OnDataDir::Starting,
    })
}

/// How long a new shop waits for the services of a killed one to stop (they get SIGTERM
/// when their supervisor dies, and drain): their drain delay and grace, and a margin.
const LEFTOVERS_WAIT: Duration = Duration::from_secs(40);

/// How long start-up waits, once every service is ready, for each to reach the others it
/// calls (their optional checks too) before it says the shop is ready anyway, naming what
/// is still out of reach ([`shop::Shop::settle`]).
const SETTLE_WITHIN: Duration = Duration::from_secs(3);

/// The data directory's lock, for the shop about to run on it; refused while another shop
/// runs (or starts) there. Asked a few times over a moment: `bazaar status` takes it for an
/// instant to look. The services of a shop whose supervisor was killed still hold it while
/// they drain: waited for (a new shop beside them would find their ports, databases and
/// search index in use, and stop).
async fn lock_data_dir(data_dir: &Path) -> anyhow::Result<Flock<std::fs::File>> {
    let mut tries = 0;
    let mut leftovers: Option<Instant> = None;
    loop {
        if let Ok(lock) = try_lock(data_dir)? {
            // A shop of an earlier build holds no lock: its supervisor.json, if its
            // control API answers to it (a pid alone may be anyone's by now).
            if let Some(other) = Running::read(data_dir)
                && answers(&other).await
            {
                return Err(other.runs_already(data_dir));
            }
            if let Some(since) = leftovers {
                errln!(
                    "bazaar: they stopped after {} ms",
                    since.elapsed().as_millis()
                );
            }
            return Ok(lock);
        }
        match Running::read(data_dir) {
            Some(other) if !other.supervisor_lives() => {
                let since = *leftovers.get_or_insert_with(|| {
                    errln!(
                        "bazaar: the shop that ran on {} (supervisor pid {}) was stopped abruptly; \
                         waiting for its services to stop",
                        data_dir.display(),
                        other.pid
                    );
                    Instant::now()
                });
                if since.elapsed() > LEFTOVERS_WAIT {
                    bail!(
                        "processes of the shop that ran on {} before still hold {} after {} s \
                         (`fuser -v {}` names them; a stopped process needs SIGCONT or SIGKILL)",
                        data_dir.display(),
                        lock_path(data_dir).display(),
                        LEFTOVERS_WAIT.as_secs(),
                        lock_path(data_dir).display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(other) if tries >= 10 => return Err(other.runs_already(data_dir)),
            None if tries >= 10 => bail!("a shop is starting on {} already", data_dir.display()),
            _ => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    }
}

/// Whether the supervisor `running` describes answers its control API, with its token.
async fn answers(running: &Running) -> bool {
    let asked = platform::client::client()
        .get(format!("{}/processes", running.control_url))
        .bearer_auth(&running.token)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    asked.is_ok_and(|r| r.status().is_success())
}

/// A random secret of 256 bits, hex-encoded.
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The data directory's service secret, made on its first run and readable by its owner
/// only: it signs service tokens and seals the storefront's session cookies, so keeping it
/// keeps everyone signed in across restarts.
fn kept_secret(data_dir: &Path) -> anyhow::Result<String> {
    use std::{
        io::Write,
        os::unix::fs::{MetadataExt, OpenOptionsExt},
    };
    let path = data_dir.join("service-secret");
    // Taken only as this user left it: one another user could have written, or anyone
    // read, would sign service tokens and seal sessions for someone else (the disk review
    // planted one).
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
            bail!(
                "{} is not a file of this user's: remove it (a new secret signs everyone out)",
                path.display()
            );
        }
        if meta.mode() & 0o077 != 0 {
            bail!(
                "{} may be read or written by others (mode {:o}): `chmod 600` it",
                path.display(),
                meta.mode() & 0o777
            );
        }
    }
    match std::fs::read_to_string(&path) {
        Ok(kept) if !kept.trim().is_empty() => return Ok(kept.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let made = secret();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(made.as_bytes())?;
    file.sync_all()?;
    Ok(made)
}

/// Makes the data directory its owner's alone (mode 0700), whatever it was: it holds
/// every service's database, identity's signing keys among them, which anyone on the host
/// could otherwise read and sign tokens with. (Files made in it are 0600 besides: every
/// process of the shop runs with the umask 077, see `main`.)
fn keep_private(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // Another user's directory stays theirs to change, whatever its mode: refused.
    let owner = std::fs::metadata(data_dir)
        .with_context(|| format!("cannot read {}", data_dir.display()))?
        .uid();
    if owner != nix::unistd::geteuid().as_raw() {
        bail!(
            "the data directory {} belongs to another user (uid {owner}), who could change \
             what the shop keeps there: use a directory of your own, or `chown` it",
            data_dir.display()
        );
    }
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).with_context(|| {
        format!(
            "could not make the data directory {} private",
            data_dir.display()
        )
    })
}

/// Runs the shop until Ctrl-C or SIGTERM.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    for line in crate::settings::ignored_lines() {
        errln!("bazaar: {line}");
    }
    if args.data_dir.exists() && !args.data_dir.is_dir() {
        bail!(
            "--data-dir {} is a file, not a directory",
            args.data_dir.display()
        );
    }
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "could not create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    keep_private(&data_dir)?;
    // Held until this function returns: the data directory is this shop's alone.
    let only_shop_here = lock_data_dir(&data_dir).await?;
    events::faults::new_run(&data_dir)
        .with_context(|| format!("could not reset {}/failpoints", data_dir.display()))?;
    let directory = data_dir.join("directory.json");
    let _ = std::fs::remove_file(&directory);
    let planner = plan::Planner::new(REGISTRY, &data_dir, args.database.clone(), args.port)?;
    // Every replica's socket is bound now, before anything starts, and handed to its
    // process: no port is ever free between being chosen and being served, so two
    // services (or two shops) never end up on one port — and every process is told where
    // the others will be, until the directory says where they are.
    let mut planned = Vec::new();
    for entry in REGISTRY.entries() {
        for replica in 1..=args.replicas.of(entry.name()) {
            planned.push(planner.first(entry, replica)?);
        }
    }
    if args.broker != "embedded" {
        declare_broker_topology(&args.broker, &args.events_namespace).await?;
    }

    let mut env: Vec<(String, String)> = REGISTRY
        .names()
        .map(|name| {
            let urls: Vec<String> = planned
                .iter()
                .filter(|(spec, _)| spec.name() == name)
                .map(|(spec, _)| spec.url())
                .collect();
            (
                format!("BAZAAR_{}_URL", name.to_ascii_uppercase()),
                urls.join(","),
            )
        })
        .collect();
    env.extend([
        (
            "BAZAAR_SUPERVISOR_PID".into(),
            std::process::id().to_string(),
        ),
        ("BAZAAR_BROKER".into(), args.broker.clone()),
        (
            "BAZAAR_EVENTS_NAMESPACE".into(),
            args.events_namespace.clone(),
        ),
        ("BAZAAR_DATA_DIR".into(), data_dir.display().to_string()),
        (
            "BAZAAR_DIRECTORY_FILE".into(),
            directory.display().to_string(),
        ),
    ]);
    // The services' shared secret for service tokens (and the storefront's session key):
    // the data directory's own unless given, so sessions outlive a restart of the shop.
    if std::env::var("BAZAAR_SERVICE_SECRET").map_or(true, |s| s.is_empty()) {
        env.push(("BAZAAR_SERVICE_SECRET".into(), kept_secret(&data_dir)?));
    }
    let token = secret();
    let control_stop = Shutdown::new();

    // The supervisor verifies tokens as its services do, with their settings, from
    // identity's replicas as the directory lists them.
    let common =
        platform::config::Settings::<platform::config::NoSettings>::load(IDENTITY, REGISTRY)?
            .common;
    let identity = Discovery::default().endpoints(
        IDENTITY,
        &Source::File {
            path: directory.clone(),
            fallback: planned
                .iter()
                .filter(|(spec, _)| spec.name() == IDENTITY)
                .map(|(spec, _)| spec.url())
                .collect(),
        },
    );
    let identity = platform::client::ServiceClient::new(
        platform::balance::Balancer::new(
            IDENTITY,
            identity,
            platform::balance::Settings::default(),
            platform::client::client(),
        ),
        platform::client::builder()
            .timeout(Duration::from_secs(3))
            .build()?,
    );
    let verifier =
        platform::auth::Verifier::new(identity, &common.token_issuer, &common.token_audience);

    // The control API's address goes into every process's environment, so it exists
    // before the first process does; what it serves is the shop, made next.
    let shop_slot: Arc<std::sync::OnceLock<Shop>> = Arc::default();
    let operator: Arc<dyn Operator> = Arc::new(Deferred(shop_slot.clone()));
    // Traces: to the collector the environment names, else to the supervisor's own.
    let collector = embedded_collector().then(|| control::Collector {
        store: TraceStore::new(crate::traces::KEPT),
        ingest_token: secret(),
    });
    let ingest_token = collector.as_ref().map(|c| c.ingest_token.clone());
    let control_addr =
        control::serve(operator, verifier, &token, collector, control_stop.clone()).await?;
    env.push((
        "BAZAAR_SUPERVISOR_URL".into(),
        format!("http://{control_addr}"),
    ));
    if let Some(ingest) = ingest_token {
        env.extend(collector_env(&format!("http://{control_addr}"), &ingest));
    }
    let ctx = Arc::new(Context {
        exe: std::env::current_exe().context("could not find the bazaar executable")?,
        data_dir_lock: only_shop_here
            .try_clone()
            .context("could not share the data directory's lock")?,
        env,
        colour: std::io::stdout().is_terminal(),
        changed: Arc::new(tokio::sync::Notify::new()),
        http: platform::client::builder()
            .timeout(Duration::from_secs(2))
            .build()?,
        kill_after: KillAfter::of(&common),
    });
    let shop = Shop::new(REGISTRY, ctx, planner, directory);
    let _ = shop_slot.set(shop.clone());

    let signalled = Shutdown::new();
    {
        let signalled = signalled.clone();
        tokio::spawn(async move {
            platform::shutdown::signal().await;
            signalled.trigger();
        });
    }

    let mut startup: anyhow::Result<()> = Ok(());
    let processes = planned.len();
    'levels: for level in REGISTRY.levels() {
        let names: Vec<&str> = level.iter().map(|e| e.name()).collect();
        let (now, later): (Vec<_>, Vec<_>) = planned
            .into_iter()
            .partition(|(spec, _)| names.contains(&spec.name()));
        planned = later;
        for (spec, socket) in now {
            shop.start(spec, socket);
        }
        // Every service of the level at once: one that stops before it is ready stops the
        // start with its own error, even while another of the level still waits (one at
        // a time, a crashing orders was retried for minutes behind recommendations'
        // wait, which blamed orders' events).
        let level_ready =
            futures_util::future::try_join_all(level.iter().map(|e| shop.ready(e.name())));
        tokio::select! {
            r = level_ready => {
                if let Err(e) = r {
                    startup = Err(e);
                    break 'levels;
                }
            }
            _ = signalled.wait() => break 'levels,
        }
        shop.publish();
    }

    // Asked again below: a signal may come while it settles.
    if startup.is_ok() && !signalled.is_triggered() {
        for unsettled in shop.settle(SETTLE_WITHIN).await {
            errln!("bazaar: ready without all it calls: {unsettled}");
        }
    }
    let running = Running::path(&data_dir);
    if startup.is_ok() && !signalled.is_triggered() {
        let url = format!("http://127.0.0.1:{}", shop.port());
        write_private(
            &running,
            &serde_json::to_vec_pretty(&Running {
                pid: std::process::id(),
                url: url.clone(),
                control_url: format!("http://{control_addr}"),
                token,
                data_dir: std::fs::canonicalize(&data_dir).ok(),
            })?,
        )?;
        outln!(
            "bazaar ready: {url} ({} services, {processes} processes, in {} ms; control API http://{control_addr})",
            REGISTRY.entries().len(),
            started.elapsed().as_millis()
        );
        signalled.wait().await;
    }

    errln!("bazaar: stopping");
    let _ = std::fs::remove_file(&running);
    // The reverse of start-up order: the gateway stops taking requests first.
    shop.stop_all(Stop::Now).await;
    control_stop.trigger();
    errln!("bazaar: stopped");
    startup
}

/// Writes `bytes` to `path`, readable and writable by this user only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// The shop, once it exists, for the control API that is started before it.
struct Deferred(Arc<std::sync::OnceLock<Shop>>);

impl Operator for Deferred {
    fn processes(&self) -> Vec<crate::processes::ProcessView> {
        self.0.get().map(Shop::processes).unwrap_or_default()
    }

    fn kill(
        &self,
        service: &str,
        replica: u32,
    ) -> Result<crate::processes::Signalled, crate::processes::Refusal> {
        match self.0.get() {
            Some(shop) => shop.kill(service, replica),
            None => Err(crate::processes::Refusal::Conflict(
                "the shop is starting".into(),
            )),
        }
    }

    fn restart(
        &self,
        service: &str,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<Vec<crate::processes::ProcessView>, crate::processes::Refusal>,
    > {
        match self.0.get() {
            Some(shop) => shop.restart(service),
            None => Box::pin(async {
                Err(crate::processes::Refusal::Conflict(
                    "the shop is starting".into(),
                ))
            }),
        }
    }
}

/// Declares every consuming service's queue and bindings before anything starts, so
/// events published before a consumer's first start wait in its queue. Read models read
/// the producers' logs instead (only a log can be replayed), so they have no queue.
async fn declare_broker_topology(broker: &str, namespace: &str) -> anyhow::Result<()> {
    if !(broker.starts_with("amqp://") || broker.starts_with("amqps://")) {
        bail!("--broker must be `embedded` or an amqp:// URL, got `{broker}`");
    }
    let consumers: Vec<(&str, Vec<&str>)> = REGISTRY
        .consumers()
        .filter(|e| !e.def.read_model)
        .map(|e| (e.name(), e.def.consumed_types()))
        .collect();
    events::amqp::declare_topology(broker, namespace, &consumers)
        .await
        .with_context(|| {
            format!(
                "could not set up the broker at {}",
                platform::db::redact(broker)
            )
        })
}

/// Whether the services send their traces to the supervisor: unless the environment
/// names a collector, or turns the SDK or trace export off.
fn embedded_collector() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    !(set("OTEL_EXPORTER_OTLP_ENDPOINT")
        || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        || is("OTEL_SDK_DISABLED", "true")
        || is("OTEL_TRACES_EXPORTER", "none"))
}

/// The standard variables that point a service's exporter at the embedded collector:
/// its address, its token, and a batch every second (the SDK's 5 s default would keep
/// someone watching the console waiting).
fn collector_env(url: &str, ingest_token: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), url.to_owned()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
            format!("authorization=Bearer%20{ingest_token}"),
        ),
    ];
    if std::env::var_os("OTEL_BSP_SCHEDULE_DELAY").is_none() {
        env.push(("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "1000".to_owned()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::{OnDataDir, Running, keep_private, kept_secret, lock_data_dir, on_data_dir};
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    #[tokio::test]
    async fn a_data_directory_is_one_shops_from_its_start_to_its_end_however_it_ends() {
        let dir = std::env::temp_dir().join(format!("bazaar-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // Nothing listens at its control address.
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let control_url = format!("http://{}", unused.local_addr().unwrap());
        drop(unused);
        let other = Running {
            // A live process: a killed shop's pid may be anyone's by now, even ours.
            pid: std::process::id(),
            url: "http://127.0.0.1:8080".into(),
            control_url,
            token: "t".into(),
            data_dir: None,
        };
        std::fs::write(Running::path(&dir), serde_json::to_vec(&other).unwrap()).unwrap();
        // The file a killed shop left, with a live pid but no supervisor answering at its
        // address, does not stop a new shop.
        let shop = lock_data_dir(&dir).await.expect("the directory is free");
        // Held: a second shop is refused, before the first has said how to reach it...
        let again = lock_data_dir(&dir).await.unwrap_err().to_string();
        assert!(
            again.contains("runs on") && again.contains("already"),
            "{again}"
        );
        std::fs::remove_file(Running::path(&dir)).unwrap();
        let starting = lock_data_dir(&dir).await.unwrap_err().to_string();
        assert!(starting.contains("is starting"), "{starting}");
        assert!(matches!(on_data_dir(&dir).unwrap(), OnDataDir::Starting));
        // ...and the lock goes with its holder.
        drop(shop);
        assert!(matches!(on_data_dir(&dir).unwrap(), OnDataDir::Nothing));
        assert!(lock_data_dir(&dir).await.is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_new_shop_waits_for_the_services_of_a_killed_one_to_stop() {
        let dir = std::env::temp_dir().join(format!("bazaar-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // A supervisor and one service holding the lock's file, as `bazaar up` leaves them;
        // then the supervisor is killed (no unlock: its file just closes).
        let supervisor = std::fs::File::create(super::lock_path(&dir)).unwrap();
        supervisor.try_lock().unwrap();
        let service = supervisor.try_clone().unwrap();
        drop(supervisor);
        let gone = Running {
            pid: 0x3fff_fff0, // above any pid_max: nobody's
            url: "http://127.0.0.1:8080".into(),
            control_url: "http://127.0.0.1:9".into(),
            token: "t".into(),
            data_dir: None,
        };
        std::fs::write(Running::path(&dir), serde_json::to_vec(&gone).unwrap()).unwrap();
        assert!(matches!(on_data_dir(&dir).unwrap(), OnDataDir::Stopping));

        let waiting = tokio::spawn({
            let dir = dir.clone();
            async move { lock_data_dir(&dir).await }
        });
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            !waiting.is_finished(),
            "a new shop waits while the old one's services hold the lock"
        );
        drop(service);
        let lock = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("the new shop starts once they are gone")
            .unwrap();
        assert!(lock.is_ok(), "{:?}", lock.err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_copy_of_a_running_shops_directory_is_not_taken_for_that_shop() {
        let original = std::env::temp_dir().join(format!("bazaar-lock-{}", uuid::Uuid::new_v4()));
        let copy = std::env::temp_dir().join(format!("bazaar-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&original).unwrap();
        std::fs::create_dir_all(&copy).unwrap();
        let shop = lock_data_dir(&original)
            .await
            .expect("the directory is free");
        let running = Running {
            pid: std::process::id(),
            url: "http://127.0.0.1:8080".into(),
            control_url: "http://127.0.0.1:9".into(),
            token: "t".into(),
            data_dir: std::fs::canonicalize(&original).ok(),
        };
        let file = serde_json::to_vec(&running).unwrap();
        std::fs::write(Running::path(&original), &file).unwrap();
        // `cp -a` while it runs: the copy has the file, and no lock held.
        std::fs::write(Running::path(&copy), &file).unwrap();
        assert!(matches!(
            on_data_dir(&original).unwrap(),
            OnDataDir::Running(_)
        ));
        assert!(matches!(on_data_dir(&copy).unwrap(), OnDataDir::Nothing));
        let on_copy = lock_data_dir(&copy).await;
        assert!(
            on_copy.is_ok(),
            "a shop starts on the copy: {:?}",
            on_copy.err()
        );
        drop((shop, on_copy));
        std::fs::remove_dir_all(&original).unwrap();
        std::fs::remove_dir_all(&copy).unwrap();
    }

    #[tokio::test]
    async fn a_shop_of_an_earlier_build_which_takes_no_lock_is_seen_by_its_control_api() {
        let dir = std::env::temp_dir().join(format!("bazaar-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let control_url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/processes",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"processes": []})) }),
        );
        let served = tokio::spawn(async move { axum::serve(listener, app).await });
        let earlier = Running {
            pid: std::process::id(),
            url: "http://127.0.0.1:8080".into(),
            control_url,
            token: "t".into(),
            data_dir: None,
        };
        std::fs::write(Running::path(&dir), serde_json::to_vec(&earlier).unwrap()).unwrap();
        let refused = lock_data_dir(&dir).await.unwrap_err().to_string();
        assert!(
            refused.contains("runs on") && refused.contains("already"),
            "{refused}"
        );
        assert!(matches!(on_data_dir(&dir).unwrap(), OnDataDir::Running(_)));
        served.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_data_directory_keeps_its_service_secret_private_and_across_runs() {
        let dir = std::env::temp_dir().join(format!("bazaar-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = kept_secret(&dir).unwrap();
        assert_eq!(first.len(), 64, "256 random bits, hex");
        assert_eq!(kept_secret(&dir).unwrap(), first, "a second run reuses it");
        let mode = std::fs::metadata(dir.join("service-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");

        let other = std::env::temp_dir().join(format!("bazaar-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&other).unwrap();
        assert_ne!(
            kept_secret(&other).unwrap(),
            first,
            "each data directory has its own"
        );
        for d in [dir, other] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    /// A secret others could read or have written, or a data directory another user owns,
    /// is refused, not used (the disk review planted a secret in a directory owned by
    /// `nobody`, and root's next `bazaar up` took it).
    #[test]
    fn a_secret_or_a_data_directory_others_could_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("bazaar-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        keep_private(&dir).expect("a directory of this user's");
        kept_secret(&dir).unwrap();
        let secret = dir.join("service-secret");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = kept_secret(&dir).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        // Another user's directory: only root can make one here.
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let refused = keep_private(&dir).unwrap_err().to_string();
            assert!(refused.contains("belongs to another user"), "{refused}");
            std::fs::remove_file(&secret).unwrap();
            std::fs::write(&secret, "planted").unwrap();
            std::os::unix::fs::chown(&secret, Some(65534), None).unwrap();
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
            let refused = kept_secret(&dir).unwrap_err().to_string();
            assert!(refused.contains("not a file of this user's"), "{refused}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
