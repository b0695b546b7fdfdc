//! The ops console, a concern of its own inside the customer-facing storefront. Here its
//! model: every service's health, process, traffic and latency, each producer's outbox and
//! the events flowing out of it, each consumer's dead letters; its page and endpoints are
//! in [`console`]. It uses the rest of the storefront only through the visitor
//! ([`crate::session`]) and the page frame ([`crate::frame`]), and the pages do not use it.
//!
//! A background worker watches the shop only while someone looks at the console (and for
//! a minute after): every `ops_poll_ms` it checks each service's `/health/ready` directly,
//! reads the producers' outboxes and the newest events of their logs, and asks the
//! supervisor for its processes; every `ops_scrape_ms` it scrapes each `/metrics` and
//! computes rates against the previous scrape, keeping the last ten minutes of them for
//! the charts ([`charts`]). After a kill or restart from the console it looks four times
//! a second until the service is back. The trace view ([`traces`]) asks the supervisor's
//! collector when a page asks.

pub mod charts;
mod console;
pub mod prometheus;
pub mod supervisor;
pub mod traces;

pub use console::{Console, routes};

use crate::{error::StorefrontError, ops::prometheus::HttpTotals};
use platform::{
    auth::ServiceCredentials, config::Directory, registry::Registry, shutdown::Shutdown,
};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};
use supervisor::{Action, ProcessInfo, Supervisor};
use tokio::sync::Notify;
use utoipa::ToSchema;

/// How long the console keeps watching after it was last looked at.
const WATCH_AFTER_VIEW: Duration = Duration::from_secs(60);
/// How often a killed or restarted service is checked until it is back.
const FAST_POLL: Duration = Duration::from_millis(250);
/// How long a killed or restarted service is watched closely at most.
const WATCH_FOR: Duration = Duration::from_secs(60);
/// Events kept in the live feed.
const FEED_LEN: usize = 40;
/// The newest events asked of each producer at each look.
const FEED_PER_PRODUCER: usize = 20;
/// Health changes kept.
const INCIDENTS_LEN: usize = 30;
/// How long dead letters are reused before they are asked for again.
const DEAD_LETTERS_FOR: Duration = Duration::from_secs(5);
/// Timeout of each probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Traffic samples kept per service at most (ten minutes of them at one a second).
const HISTORY_LEN: usize = 600;

/// A service's health as its `/health/ready` tells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Answers ready.
    Up,
    /// Answers, but not wholly ready: a dependency is down, or some of its replicas are
    /// (the others serving).
    Degraded,
    /// Does not answer.
    Down,
    /// Not checked yet.
    #[default]
    Unknown,
}

/// The whole console, as `/ops/api/state` answers it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OpsState {
    /// When this state was put together (RFC 3339).
    pub generated_at: String,
    pub services: Vec<ServiceView>,
    pub outboxes: Vec<OutboxView>,
    /// What waits in each consuming service's RabbitMQ queue, in words (`cart 0,
    /// notifications 239`); `None` without RabbitMQ. The outboxes' consumer positions
    /// are the embedded transport's backlog; these are RabbitMQ's.
    #[serde(default)]
    pub queues: Option<String>,
    pub dead_letters: Vec<DeadLetterGroup>,
    /// The newest events of every producer, newest first.
    pub feed: Vec<FeedEvent>,
    /// Health changes the console saw, newest first.
    pub incidents: Vec<Incident>,
    pub process_control: ProcessControl,
}

/// One service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub name: String,
    /// Its own address (not the gateway's).
    pub url: String,
    pub health: Health,
    /// What failed, when not up.
    pub health_detail: Option<String>,
    pub checked_at: Option<String>,
    /// Since when it has not been up.
    pub down_since: Option<String>,
    /// Its first replica's process.
    pub pid: Option<u32>,
    /// The CPUs that process may run on (`0`, `0-3`).
    #[serde(default)]
    pub cpus: Option<String>,
    /// `starting`, `ready`, `unready`, `draining`, `restarting` or `stopped`, as the supervisor says.
    pub process_state: Option<String>,
    /// How often its replicas were started again after dying.
    pub restarts: Option<u32>,
    /// Its replicas, as the supervisor runs them.
    pub replicas: Vec<ReplicaView>,
    /// Messages waiting in its RabbitMQ queue, as it last said; `None` without one.
    #[serde(default)]
    pub queued: Option<i64>,
    /// The replicas' processes in words, each replica's pid, CPUs and state (the
    /// console's Process column): `pid 41 on CPU 0`, `#1 pid 41 on CPU 0; #2 pid 57 on
    /// CPU 1 (unready)`, `—` without a supervisor.
    #[serde(default)]
    pub process: String,
    pub uptime_secs: Option<i64>,
    pub last_exit: Option<String>,
    /// Requests per second between the last two scrapes (health and metrics probes and
    /// event feed reads left out).
    pub requests_per_sec: Option<f64>,
    /// The share of those answered 5xx.
    pub error_rate: Option<f64>,
    /// Their 99th percentile latency, in milliseconds.
    pub p99_ms: Option<f64>,
    /// The slowest of those that were traced, to open in the trace view (from the
    /// latency histogram's exemplars).
    pub slowest_trace: Option<SlowTrace>,
    /// The last ten minutes of requests per second, 5xx share and p99, drawn.
    pub charts: Vec<charts::Chart>,
}

/// A traced request, named by a latency histogram's exemplar.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlowTrace {
    /// Its trace, as `/ops/traces/{id}` shows it.
    pub trace_id: String,
    /// How long the service took to answer it, in milliseconds.
    pub ms: f64,
}

/// One replica's process.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReplicaView {
    pub replica: u32,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub state: String,
    /// The CPUs its process may run on (`0`, `0-3`).
    #[serde(default)]
    pub cpus: Option<String>,
    /// How often this replica was started again after dying.
    #[serde(default)]
    pub restarts: u32,
}

/// A service's replicas in words: each one's pid, CPUs, state when not ready and how
/// often it was started again, numbered when there are several.
fn process_in_words(replicas: &[ReplicaView]) -> String {
    if replicas.is_empty() {
        return "—".to_owned();
    }
    let numbered = replicas.len() > 1;
    let words: Vec<String> = replicas
        .iter()
        .map(|r| {
            let mut w = if numbered {
                format!("#{} ", r.replica)
            } else {
                String::new()
            };
            match r.pid {
                Some(pid) => w.push_str(&format!("pid {pid}")),
                None => w.push_str("no process"),
            }
            if let Some(cpus) = &r.cpus {
                let cpu = if cpus.contains([',', '-']) {
                    "CPUs"
                } else {
                    "CPU"
                };
                w.push_str(&format!(" on {cpu} {cpus}"));
            }
            if r.state != "ready" {
                w.push_str(&format!(" ({})", r.state));
            }
            if r.restarts > 0 {
                w.push_str(&format!(", restarted {}×", r.restarts));
            }
            w
        })
        .collect();
    words.join("; ")
}

/// A producer's outbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OutboxView {
    pub service: String,
    /// The newest sequence number.
    pub head: i64,
    /// Not yet confirmed by the broker (RabbitMQ).
    pub undelivered: i64,
    /// What keeps them waiting, when the relay has tried them: how many of the oldest
    /// were retried, and the oldest's last error (`2 retried; the oldest, #41
    /// order.confirmed, 6 tries: …`).
    #[serde(default)]
    pub stuck: Option<String>,
    pub consumers: Vec<ConsumerBacklog>,
    /// Why the outbox could not be read.
    pub error: Option<String>,
}

/// How far a consumer is behind a producer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConsumerBacklog {
    pub consumer: String,
    pub position: i64,
    pub backlog: i64,
}

/// A consumer's open dead letters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterGroup {
    pub service: String,
    pub count: Option<usize>,
    /// More are open than counted (a service lists 500 at most).
    #[serde(default)]
    pub more: bool,
    /// The oldest few.
    pub items: Vec<DeadLetterView>,
    /// Why they could not be read.
    pub error: Option<String>,
}

/// One dead letter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub error: String,
    pub attempts: i64,
    pub dead_at: String,
}

/// An event seen in a producer's log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct FeedEvent {
    pub producer: String,
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
    pub time: String,
}

/// The failing checks of a `/health/ready` answer (`catalog: down, search: timed out`).
///
/// The checks are at the top (`{status, checks}`), or inside the `detail` of a problem
/// document when the platform's middleware has wrapped the 503 answer in one.
pub fn failing_checks(body: &serde_json::Value) -> Option<String> {
    let wrapped;
    let checks = match body["checks"].as_object() {
        Some(c) => c,
        None => {
            wrapped = serde_json::from_str::<serde_json::Value>(body["detail"].as_str()?).ok()?;
            wrapped["checks"].as_object()?
        }
    };
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v.as_str() != Some("ok"))
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("failing")))
        .collect();
    (!failing.is_empty()).then(|| failing.join(", "))
}

/// A change of a service's health.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    pub service: String,
    pub health: Health,
    pub at: String,
    pub detail: Option<String>,
}

/// Whether the console can kill and restart processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ProcessControl {
    pub available: bool,
    /// Why not, when it cannot.
    pub message: Option<String>,
}

/// What the worker learnt of one service.
#[derive(Default)]
struct Observed {
    health: Health,
    detail: Option<String>,
    checked_at: Option<String>,
    down_since: Option<String>,
    /// The last scrape of each replica that answered it, by its address.
    /// Each replica's last scrape, and when, by its address and the process that
    /// answered there (`url pid`: replicas sharing one port have one address).
    last_scrape: BTreeMap<String, (Instant, HttpTotals)>,
    rates: Option<prometheus::Rates>,
    /// The rates of recent scrapes, oldest first; `None` for a scrape that failed.
    history: VecDeque<(Instant, Option<prometheus::Rates>)>,
}

impl Observed {
    /// Keeps one scrape's rates (or that it failed), forgetting what is too old.
    fn remember(&mut self, at: Instant, rates: Option<prometheus::Rates>) {
        self.history.push_back((at, rates));
        while self.history.len() > HISTORY_LEN
            || self
                .history
                .front()
                .is_some_and(|(t, _)| at.duration_since(*t) > charts::WINDOW)
        {
            self.history.pop_front();
        }
    }

    /// The charts of the traffic remembered; scrapes further apart than `gap` are not
    /// joined.
    fn charts(&self, name: &str, gap: Duration) -> Vec<charts::Chart> {
        let now = Instant::now();
        charts::Metric::ALL
            .into_iter()
            .map(|metric| {
                let points: Vec<charts::Point> = self
                    .history
                    .iter()
                    .map(|(at, rates)| {
                        let value = match (metric, rates) {
                            (_, None) => None,
                            (charts::Metric::Rate, Some(r)) => Some(r.requests_per_sec),
                            // No requests, no errors.
                            (charts::Metric::Errors, Some(r)) => Some(r.error_rate.unwrap_or(0.0)),
                            // No requests, no latency.
                            (charts::Metric::P99, Some(r)) => r.p99_seconds.map(|s| s * 1000.0),
                        };
                        charts::Point {
                            age: now.saturating_duration_since(*at),
                            value,
                        }
                    })
                    .collect();
                charts::chart(name, metric, &points, gap)
            })
            .collect()
    }
}

#[derive(Default)]
struct World {
    services: HashMap<String, Observed>,
    outboxes: BTreeMap<String, OutboxView>,
    feed: VecDeque<FeedEvent>,
    feed_seen: HashMap<String, i64>,
    incidents: VecDeque<Incident>,
    processes: Option<Result<Vec<ProcessInfo>, String>>,
    polled_at: Option<Instant>,
    scraped_at: Option<Instant>,
}

/// Watches the shop for the console. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The same, with no connection kept: scrapes of replicas sharing one port.
    unpooled: reqwest::Client,
    registry: Registry,
    directory: Directory,
    own_url: std::sync::OnceLock<String>,
    supervisor: Supervisor,
    credentials: ServiceCredentials,
    poll: Duration,
    scrape: Duration,
    world: RwLock<World>,
    viewed_at: Mutex<Option<Instant>>,
    watching: Mutex<HashMap<String, Instant>>,
    wake: Notify,
    round: tokio::sync::Mutex<()>,
    dead_letters: Mutex<Option<(Instant, Vec<DeadLetterGroup>)>>,
}

/// How the monitor is set up.
pub struct MonitorSettings {
    /// Where the services of its registry are.
    pub directory: Directory,
    pub poll: Duration,
    pub scrape: Duration,
    /// The storefront's service token, which producers' outbox figures ask for.
    pub credentials: ServiceCredentials,
}

impl Monitor {
    pub fn new(settings: MonitorSettings, supervisor: Supervisor) -> anyhow::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                http: platform::client::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(PROBE_TIMEOUT)
                    .build()?,
                unpooled: platform::client::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(PROBE_TIMEOUT)
                    .pool_max_idle_per_host(0)
                    .build()?,
                registry: settings.directory.registry(),
                directory: settings.directory,
                own_url: std::sync::OnceLock::new(),
                supervisor,
                credentials: settings.credentials,
                poll: settings.poll,
                scrape: settings.scrape,
                world: RwLock::new(World::default()),
                viewed_at: Mutex::new(None),
                watching: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                round: tokio::sync::Mutex::new(()),
                dead_letters: Mutex::new(None),
            }),
        })
    }

    /// Every service and the address the console checks it at. The storefront is checked
    /// at its own bound address once it is known (the directory may not name it).
    fn urls(&self) -> Vec<(String, String)> {
        let own = self.inner.own_url.get();
        self.inner
            .registry
            .names()
            .map(|name| match own {
                Some(own) if name == "storefront" => (name.to_owned(), own.clone()),
                // A replica as the directory has them now (they move in a rolling restart).
                _ => (name.to_owned(), self.inner.directory.url(name)),
            })
            .collect()
    }

    /// Every replica of `service` as the directory has them now; `url` (the one
    /// [`Self::urls`] gives) when it knows of none, and for the storefront, which the
    /// console is part of.
    fn replica_urls(&self, service: &str, url: &str) -> Vec<String> {
        let replicas: Vec<String> = if service == "storefront" {
            Vec::new()
        } else {
            let endpoints = self.inner.directory.endpoints(service).current();
            endpoints.iter().map(|e| e.to_string()).collect()
        };
        if replicas.is_empty() {
            vec![url.to_owned()]
        } else {
            replicas
        }
    }

    /// `service`'s health from every replica's (`url` when the directory knows of none).
    /// An address several processes share (a Service in front of the gateway's pods) is
    /// asked as often as its metrics are scraped, each time on a connection of its own:
    /// one ask lands on one of them, and a frozen one beside a serving one is then seen as
    /// such.
    async fn health_of(&self, service: &str, url: &str) -> (Health, Option<String>) {
        let replicas = self.replica_urls(service, url);
        let probes = futures_util::future::join_all(replicas.iter().map(|u| async move {
            let asks = scrapes_of(std::slice::from_ref(u), |u| self.processes_at(service, u));
            let answers = futures_util::future::join_all(asks.iter().map(|a| self.probe(a))).await;
            of_shared_address(answers)
        }))
        .await;
        of_replicas(probes)
    }

    /// How many processes of `service` have answered at `url` (their scrapes are keyed
    /// `url pid`): more than one where replicas share a port.
    fn processes_at(&self, service: &str, url: &str) -> usize {
        self.inner.world.read().map_or(1, |w| {
            w.services.get(service).map_or(1, |o| {
                o.last_scrape
                    .keys()
                    .filter(|k| k.split_once(' ').is_some_and(|(u, _)| u == url))
                    .count()
            })
        })
    }

    fn url(&self, service: &str) -> Option<String> {
        self.urls()
            .into_iter()
            .find(|(n, _)| n == service)
            .map(|(_, u)| u)
    }

    /// The storefront's own address, once bound.
    pub fn set_own_url(&self, url: String) {
        let _ = self.inner.own_url.set(url);
    }

    /// Someone looks at the console: keep watching, and start now if idle.
    pub fn touch(&self) {
        if let Ok(mut v) = self.inner.viewed_at.lock() {
            *v = Some(Instant::now());
        }
        self.inner.wake.notify_one();
    }

    fn is_watched(&self) -> bool {
        let viewed = self
            .inner
            .viewed_at
            .lock()
            .ok()
            .and_then(|v| *v)
            .is_some_and(|t| t.elapsed() < WATCH_AFTER_VIEW);
        viewed || self.watching_closely()
    }

    fn watching_closely(&self) -> bool {
        let Ok(mut w) = self.inner.watching.lock() else {
            return false;
        };
        w.retain(|_, since| since.elapsed() < WATCH_FOR);
        !w.is_empty()
    }

    /// Looks at the shop now unless it was looked at within `max_age`.
    pub async fn ensure_fresh(&self, max_age: Duration) {
        let fresh = self
            .inner
            .world
            .read()
            .ok()
            .and_then(|w| w.polled_at)
            .is_some_and(|t| t.elapsed() < max_age);
        if !fresh {
            self.round().await;
        }
    }

    /// The background worker: looks while watched, sleeps otherwise, until shutdown.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        loop {
            if shutdown.is_triggered() {
                return Ok(());
            }
            if !self.is_watched() {
                tokio::select! {
                    _ = self.inner.wake.notified() => {}
                    _ = shutdown.wait() => return Ok(()),
                }
                continue;
            }
            self.round().await;
            let pause = if self.watching_closely() {
                FAST_POLL
            } else {
                self.inner.poll
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }

    /// One look: health, outboxes and the feed, processes; metrics when due.
    async fn round(&self) {
        let _one_at_a_time = self.inner.round.lock().await;
        let scrape_due = self
            .inner
            .world
            .read()
            .ok()
            .and_then(|w| w.scraped_at)
            .is_none_or(|t| t.elapsed() >= self.inner.scrape);
        let urls = self.urls();
        // Every replica: one down while its siblings serve is not the service down.
        let health = futures_util::future::join_all(
            urls.iter()
                .map(|(name, url)| async move { (name.clone(), self.health_of(name, url).await) }),
        );
        let outboxes = futures_util::future::join_all(
            self.producers()
                .map(|p| async move { (p.to_owned(), self.read_outbox(p).await) }),
        );
        let processes = async {
            if self.inner.supervisor.is_configured() {
                Some(
                    self.inner
                        .supervisor
                        .processes()
                        .await
                        .map_err(|e| e.to_string()),
                )
            } else {
                None
            }
        };
        let metrics = async {
            if !scrape_due {
                return Vec::new();
            }
            // Every replica: a service's traffic is theirs together.
            futures_util::future::join_all(urls.iter().map(|(name, url)| async move {
                let replicas = self.replica_urls(name, url);
                let scrapes = scrapes_of(&replicas, |u| self.processes_at(name, u));
                let scraped = futures_util::future::join_all(
                    scrapes.iter().map(|u| async move { self.scrape(u).await }),
                )
                .await;
                // When they answered, not when the rest of the poll ended: a slow health
                // or outbox read beside them would otherwise stretch or shrink the time
                // between two scrapes, and every rate with it (a busy CI machine measured
                // 324 requests a second where 400 were made).
                let read_at = Instant::now();
                (
                    name.clone(),
                    scraped.into_iter().flatten().collect::<BTreeMap<_, _>>(),
                    read_at,
                )
            }))
            .await
        };
        let (health, outboxes, processes, metrics) =
            tokio::join!(health, outboxes, processes, metrics);
        let now = crate::now();
        let Ok(mut world) = self.inner.world.write() else {
            return;
        };
        for (name, (h, detail)) in health {
            // The directory lists ready replicas only: one the supervisor took out
            // (unready, restarting) is not probed, and is said here.
            let (h, detail) = match &processes {
                Some(Ok(list)) => with_unready(h, detail, &name, list),
                _ => (h, detail),
            };
            self.record_health(&mut world, &name, h, detail, &now);
        }
        for (producer, result) in outboxes {
            match result {
                Ok((view, events)) => {
                    let seen = world.feed_seen.get(&producer).copied().unwrap_or(0);
                    let newest = events.iter().map(|e| e.seq).max().unwrap_or(seen);
                    for e in events.into_iter().filter(|e| e.seq > seen) {
                        world.feed.push_back(e);
                    }
                    world.feed_seen.insert(producer.clone(), newest.max(seen));
                    world.outboxes.insert(producer, view);
                }
                Err(error) => {
                    world.outboxes.insert(
                        producer.clone(),
                        OutboxView {
                            service: producer,
                            error: Some(error),
                            ..OutboxView::default()
                        },
                    );
                }
            }
        }
        let mut feed: Vec<FeedEvent> = world.feed.drain(..).collect();
        feed.sort_by(|a, b| b.time.cmp(&a.time).then(b.seq.cmp(&a.seq)));
        feed.truncate(FEED_LEN);
        world.feed = feed.into();
        world.processes = processes;
        let scraped = Instant::now();
        for (name, replicas, read_at) in metrics {
            let observed = world.services.entry(name).or_default();
            if replicas.is_empty() {
                // The line breaks where the service did not answer.
                if !observed.history.is_empty() {
                    observed.remember(read_at, None);
                }
                continue;
            }
            // Each replica's growth since its own last scrape, as a rate over the time
            // since then; a replica new since then (or silent then) counts from the next.
            let mut heard_before = false;
            let mut counted = HttpTotals::default();
            let mut per_sec = 0.0;
            for (key, now) in &replicas {
                if let Some((at, before)) = observed.last_scrape.get(key) {
                    let elapsed = read_at.duration_since(*at).as_secs_f64();
                    let grew = prometheus::increase(before, now);
                    per_sec += prometheus::rates_of(&grew, elapsed).requests_per_sec;
                    counted.add(&grew);
                    heard_before = true;
                }
            }
            if heard_before {
                let mut together = prometheus::rates_of(&counted, 1.0);
                together.requests_per_sec = per_sec;
                observed.rates = Some(together);
                observed.remember(read_at, Some(together));
            }
            for (key, now) in replicas {
                observed.last_scrape.insert(key, (read_at, now));
            }
            // A replica not heard from in a while is gone (restarted: a new pid).
            observed
                .last_scrape
                .retain(|_, (at, _)| read_at.duration_since(*at) < FORGET_REPLICA_AFTER);
        }
        if scrape_due {
            world.scraped_at = Some(scraped);
        }
        world.polled_at = Some(Instant::now());
    }

    fn record_health(
        &self,
        world: &mut World,
        name: &str,
        health: Health,
        detail: Option<String>,
        now: &str,
    ) {
        let observed = world.services.entry(name.to_owned()).or_default();
        let before = observed.health;
        observed.health = health;
        observed.detail = detail.clone();
        observed.checked_at = Some(now.to_owned());
        match health {
            Health::Up => observed.down_since = None,
            _ if observed.down_since.is_none() => observed.down_since = Some(now.to_owned()),
            _ => {}
        }
        if health == Health::Up
            && let Ok(mut w) = self.inner.watching.lock()
        {
            // Back: no need to look closely any more.
            if before != Health::Up && before != Health::Unknown {
                w.remove(name);
            }
        }
        let changed = before != health && !(before == Health::Unknown && health == Health::Up);
        if changed {
            world.incidents.push_front(Incident {
                service: name.to_owned(),
                health,
                at: now.to_owned(),
                detail,
            });
            world.incidents.truncate(INCIDENTS_LEN);
        }
    }

    /// `GET /health/ready`, on a connection of its own (to land on any of the processes
    /// sharing an address).
    async fn probe(&self, url: &str) -> (Health, Option<String>) {
        match self
            .inner
            .unpooled
            .get(format!("{url}/health/ready"))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => (Health::Up, None),
            Ok(r) => {
                let status = r.status();
                let detail = r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|body| failing_checks(&body))
                    .unwrap_or_else(|| format!("answered {status}"));
                (Health::Degraded, Some(detail))
            }
            Err(e) if e.is_timeout() => (Health::Down, Some("timed out".into())),
            Err(e) if e.is_connect() => (Health::Down, Some("not reachable".into())),
            Err(e) => (Health::Down, Some(e.to_string())),
        }
    }

    /// `GET /metrics`, summed.
    /// Scrapes `url`, on a connection of its own (to land on any of the replicas sharing
    /// the address: a kept connection keeps reaching the same one): the figures, keyed by
    /// the address and the process that answered.
    async fn scrape(&self, url: &str) -> Option<(String, HttpTotals)> {
        let res = self
            .inner
            .unpooled
            .get(format!("{url}/metrics"))
            .header(reqwest::header::ACCEPT, prometheus::ACCEPT)
            .send()
            .await
            .ok()?;
        if !res.status().is_success() {
            return None;
        }
        let pid = res
            .headers()
            .get(&platform::metrics::PROCESS_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = res.text().await.ok()?;
        Some((
            format!("{url} {pid}"),
            HttpTotals::from_samples(&prometheus::parse(&text)),
        ))
    }

    /// A producer's `/events/outbox`: its figures and its newest events (types and
    /// subjects only: the console never reads customers' data), with the storefront's
    /// service token.
    async fn read_outbox(&self, producer: &str) -> Result<(OutboxView, Vec<FeedEvent>), String> {
        let url = self.url(producer).ok_or("unknown service")?;
        /// What `/events/outbox?recent=` answers.
        #[derive(Deserialize)]
        struct Stats {
            head: i64,
            #[serde(default)]
            undelivered: i64,
            #[serde(default)]
            consumers: Vec<ConsumerBacklog>,
            #[serde(default)]
            recent: Vec<Recent>,
            #[serde(default)]
            stuck: Vec<Stuck>,
            #[serde(default)]
            broker_error: Option<String>,
        }
        #[derive(Deserialize)]
        struct Stuck {
            seq: i64,
            #[serde(rename = "type")]
            kind: String,
            attempts: i64,
            last_error: Option<String>,
        }
        #[derive(Deserialize)]
        struct Recent {
            seq: i64,
            id: String,
            #[serde(rename = "type")]
            kind: String,
            subject: String,
            time: String,
        }
        let outbox = format!("{url}/events/outbox?recent={FEED_PER_PRODUCER}");
        let r = self
            .inner
            .credentials
            .send_as(
                |token| {
                    let sent = self.inner.http.get(&outbox).bearer_auth(token).send();
                    async move {
                        sent.await.map_err(|e| {
                            if e.is_connect() {
                                "not reachable".to_owned()
                            } else {
                                e.to_string()
                            }
                        })
                    }
                },
                |e| format!("no service token: {e}"),
            )
            .await?;
        if !r.status().is_success() {
            return Err(format!("answered {}", r.status()));
        }
        let stats: Stats = r.json().await.map_err(|e| e.to_string())?;
        let seen = self
            .inner
            .world
            .read()
            .ok()
            .and_then(|w| w.feed_seen.get(producer).copied())
            .unwrap_or(0);
        let mut events: Vec<FeedEvent> = stats
            .recent
            .into_iter()
            .filter(|e| e.seq > seen)
            .map(|e| FeedEvent {
                producer: producer.to_owned(),
                seq: e.seq,
                id: e.id,
                kind: e.kind,
                subject: e.subject,
                time: e.time,
            })
            .collect();
        events.reverse();
        Ok((
            OutboxView {
                service: producer.to_owned(),
                head: stats.head,
                undelivered: stats.undelivered,
                stuck: match (&stats.broker_error, stats.stuck.first()) {
                    (Some(why), _) => Some(format!("the relay cannot reach the broker: {why}")),
                    (None, Some(oldest)) => Some(format!(
                        "{} retried; the oldest, #{} {}, {} tries: {}",
                        stats.stuck.len(),
                        oldest.seq,
                        oldest.kind,
                        oldest.attempts,
                        oldest.last_error.as_deref().unwrap_or("no error recorded")
                    )),
                    (None, None) => None,
                },
                consumers: stats.consumers,
                error: None,
            },
            events,
        ))
    }

    /// Whether `name` is a service of the shop.
    pub fn is_service(&self, name: &str) -> bool {
        self.inner.registry.get(name).is_some()
    }

    /// The shop's services, in the registry's order.
    pub fn service_names(&self) -> Vec<String> {
        self.inner.registry.names().map(str::to_owned).collect()
    }

    /// The shop's services and their start levels, in the registry's order.
    pub fn service_levels(&self) -> Vec<(String, u8)> {
        self.inner
            .registry
            .entries()
            .iter()
            .map(|e| (e.name().to_owned(), e.level))
            .collect()
    }

    /// The supervisor's control API.
    pub fn supervisor(&self) -> &Supervisor {
        &self.inner.supervisor
    }

    /// The services whose outboxes the console shows.
    fn producers(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.inner.registry.producers().map(|e| e.name())
    }

    /// The consumers whose dead letters to show, in the registry's order.
    pub fn consumers(&self) -> Vec<String> {
        self.inner
            .registry
            .consumers()
            .map(|e| e.name().to_owned())
            .collect()
    }

    /// Cached dead letters, if fresh.
    pub fn cached_dead_letters(&self) -> Option<Vec<DeadLetterGroup>> {
        let cache = self.inner.dead_letters.lock().ok()?;
        cache
            .as_ref()
            .filter(|(at, _)| at.elapsed() < DEAD_LETTERS_FOR)
            .map(|(_, groups)| groups.clone())
    }

    /// Keeps dead letters for a few seconds.
    pub fn cache_dead_letters(&self, groups: &[DeadLetterGroup]) {
        if let Ok(mut cache) = self.inner.dead_letters.lock() {
            *cache = Some((Instant::now(), groups.to_vec()));
        }
    }

    /// Forgets the cached dead letters (after a replay).
    pub fn forget_dead_letters(&self) {
        if let Ok(mut cache) = self.inner.dead_letters.lock() {
            *cache = None;
        }
    }

    /// Kills or restarts a service's process, then watches it closely: the state answered
    /// already shows it down (when it went down within two seconds).
    /// Whether the supervisor answers (the console's process control works), or why not.
    pub async fn process_control_answers(&self) -> Result<(), StorefrontError> {
        self.inner.supervisor.processes().await.map(drop)
    }

    pub async fn control(
        &self,
        service: &str,
        action: Action,
        admin_token: &str,
    ) -> Result<(), StorefrontError> {
        self.inner
            .supervisor
            .signal(service, action, admin_token)
            .await?;
        tracing::info!(
            service,
            action = action.as_str(),
            "process signalled from the console"
        );
        if let Ok(mut w) = self.inner.watching.lock() {
            w.insert(service.to_owned(), Instant::now());
        }
        self.touch();
        let Some(url) = self.url(service) else {
            return Ok(());
        };
        // The signal is sent; the process takes a moment to go. Catch it gone, as its
        // replicas together show it (one killed beside another is the service degraded,
        // not down: the console review saw "down" for a second).
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (health, detail) = self.health_of(service, &url).await;
            if health != Health::Up || Instant::now() >= deadline {
                let now = crate::now();
                if let Ok(mut world) = self.inner.world.write() {
                    self.record_health(&mut world, service, health, detail, &now);
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The console's state, but for dead letters (they need an administrator's token).
    pub fn snapshot(&self) -> OpsState {
        let Ok(world) = self.inner.world.read() else {
            return OpsState::default();
        };
        let mut processes: HashMap<&str, Vec<&ProcessInfo>> = HashMap::new();
        if let Some(Ok(list)) = &world.processes {
            for p in list {
                processes.entry(p.service.as_str()).or_default().push(p);
            }
        }
        let now = chrono::Utc::now();
        // Scrapes further apart than this were not watched in between.
        let gap = self.inner.scrape * 3 + Duration::from_secs(2);
        let services: Vec<ServiceView> = self
            .urls()
            .into_iter()
            .map(|(name, url)| {
                let observed = world.services.get(&name);
                let running = processes.get(name.as_str()).cloned().unwrap_or_default();
                let process = running.iter().min_by_key(|p| p.replica).copied();
                let rates = observed.and_then(|o| o.rates);
                let restarts: u32 = running.iter().map(|p| p.restarts).sum();
                let replicas: Vec<ReplicaView> = running
                    .iter()
                    .map(|p| ReplicaView {
                        replica: p.replica,
                        pid: p.pid,
                        port: p.port,
                        state: p.state.clone(),
                        cpus: p.cpus.clone(),
                        restarts: p.restarts,
                    })
                    .collect();
                ServiceView {
                    name: name.clone(),
                    url: url.clone(),
                    process: process_in_words(&replicas),
                    queued: observed
                        // The replicas share one queue: the deepest any of them saw.
                        .and_then(|o| {
                            o.last_scrape
                                .values()
                                .filter_map(|(_, t)| t.queued)
                                .reduce(f64::max)
                        })
                        .map(|q| q as i64),
                    health: observed.map(|o| o.health).unwrap_or_default(),
                    health_detail: observed.and_then(|o| o.detail.clone()),
                    checked_at: observed.and_then(|o| o.checked_at.clone()),
                    down_since: observed.and_then(|o| o.down_since.clone()),
                    pid: process.and_then(|p| p.pid),
                    cpus: process.and_then(|p| p.cpus.clone()),
                    process_state: process.map(|p| p.state.clone()),
                    restarts: (!running.is_empty()).then_some(restarts),
                    replicas,
                    uptime_secs: process
                        .filter(|p| p.state == "ready")
                        .and_then(|p| p.started_at.as_deref())
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0)),
                    last_exit: process.and_then(|p| p.last_exit.clone()),
                    requests_per_sec: rates.map(|r| r.requests_per_sec),
                    error_rate: rates.and_then(|r| r.error_rate),
                    p99_ms: rates.and_then(|r| r.p99_seconds).map(|s| s * 1000.0),
                    slowest_trace: rates.and_then(|r| r.slowest_traced).map(|e| SlowTrace {
                        trace_id: e.trace_hex(),
                        ms: e.seconds * 1000.0,
                    }),
                    charts: observed
                        .map(|o| o.charts(&name, gap))
                        .unwrap_or_else(|| Observed::default().charts(&name, gap)),
                }
            })
            .collect();
        let process_control = match (&world.processes, self.inner.supervisor.is_configured()) {
            (_, false) => ProcessControl {
                available: false,
                message: Some(
                    "Process control is unavailable: the shop is not running under `bazaar up`."
                        .into(),
                ),
            },
            (Some(Err(e)), true) => ProcessControl {
                available: false,
                message: Some(format!("The supervisor cannot be reached: {e}")),
            },
            _ => ProcessControl {
                available: true,
                message: None,
            },
        };
        let queued: Vec<String> = services
            .iter()
            .filter_map(|s| s.queued.map(|q| format!("{} {q}", s.name)))
            .collect();
        OpsState {
            generated_at: crate::now(),
            queues: (!queued.is_empty()).then(|| queued.join(", ")),
            services,
            outboxes: world.outboxes.values().cloned().collect(),
            dead_letters: Vec::new(),
            feed: world.feed.iter().cloned().collect(),
            incidents: world.incidents.iter().cloned().collect(),
            process_control,
        }
    }
}

/// How long a replica's last scrape is kept without a new one: past it, the replica is
/// taken for gone (a replica restarted is a new process, a new key).
const FORGET_REPLICA_AFTER: Duration = Duration::from_secs(120);

/// The scrapes of a service's replicas at `urls`, each on a connection of its own (which
/// the kernel gives to any of the processes sharing its port): one an address, and at an
/// address where `seen` processes have answered (more than one: replicas sharing a port,
/// the gateway's), four times as many as answered, so that each is heard from in a round
/// but for a chance of 1/16 (of two) or less; a round it misses is counted in its next.
fn scrapes_of(urls: &[String], seen: impl Fn(&str) -> usize) -> Vec<String> {
    let mut scrapes = Vec::new();
    for url in urls {
        let sharing = seen(url);
        let times = if sharing > 1 { 4 * sharing } else { 1 };
        scrapes.extend(std::iter::repeat_n(url.clone(), times));
    }
    scrapes
}

/// A service whose replicas answered `health` (those the directory lists: the ready ones),
/// degraded when the supervisor has others of it that are not ready (`list`): frozen and
/// taken out, restarting, starting.
fn with_unready(
    health: Health,
    detail: Option<String>,
    service: &str,
    list: &[ProcessInfo],
) -> (Health, Option<String>) {
    let replicas: Vec<&ProcessInfo> = list.iter().filter(|p| p.service == service).collect();
    let unready: Vec<&str> = replicas
        .iter()
        .filter(|p| p.state != "ready")
        .map(|p| p.state.as_str())
        .collect();
    match unready.first() {
        Some(state) if health == Health::Up => (
            Health::Degraded,
            Some(format!(
                "{} of {} replicas: {state}",
                unready.len(),
                replicas.len()
            )),
        ),
        _ => (health, detail),
    }
}

/// An address's health from the answers to one or more asks of it (several where
/// processes share it, each ask landing on any of them): its one answer's; up when all
/// were up; degraded when some were, a replica sharing the address failing.
fn of_shared_address(answers: Vec<(Health, Option<String>)>) -> (Health, Option<String>) {
    let up = answers.iter().filter(|(h, _)| *h == Health::Up).count();
    match answers.iter().find(|(h, _)| *h != Health::Up) {
        Some(failing) if up > 0 => (
            Health::Degraded,
            Some(format!(
                "a replica sharing its address: {}",
                failing.1.as_deref().unwrap_or("not ready")
            )),
        ),
        Some(failing) => failing.clone(),
        None => (Health::Up, None),
    }
}

/// A service's health from its replicas' (at least one): up when all are, down when
/// none answers, degraded otherwise; the detail says how many replicas fail, and how.
fn of_replicas(probes: Vec<(Health, Option<String>)>) -> (Health, Option<String>) {
    let replicas = probes.len();
    let failing: Vec<(Health, Option<String>)> = probes
        .into_iter()
        .filter(|(h, _)| *h != Health::Up)
        .collect();
    let Some((first, detail)) = failing.first().cloned() else {
        return (Health::Up, None);
    };
    if replicas == 1 {
        return (first, detail);
    }
    let health = if failing.len() == replicas && failing.iter().all(|(h, _)| *h == Health::Down) {
        Health::Down
    } else {
        Health::Degraded
    };
    let detail = format!(
        "{} of {replicas} replicas: {}",
        failing.len(),
        detail.as_deref().unwrap_or("not ready")
    );
    (health, Some(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_checks_are_found_plain_or_wrapped() {
        let plain = serde_json::json!({"status": "not ready", "checks": {"a": "ok", "b": "down"}});
        assert_eq!(failing_checks(&plain).as_deref(), Some("b: down"));
        let wrapped = serde_json::json!({
            "type": "urn:bazaar:problem:service-unavailable", "status": 503,
            "detail": "{\"checks\":{\"cart\":\"down\",\"catalog\":\"ok\"},\"status\":\"not ready\"}"
        });
        assert_eq!(failing_checks(&wrapped).as_deref(), Some("cart: down"));
        assert_eq!(failing_checks(&serde_json::json!({"detail": "nope"})), None);
    }

    #[test]
    fn a_frozen_replica_beside_a_serving_one_on_one_address_degrades_it() {
        let up = || (Health::Up, None);
        let down = || (Health::Down, Some("timed out".to_owned()));
        assert_eq!(
            of_shared_address(vec![up(), up(), up()]),
            (Health::Up, None)
        );
        assert_eq!(
            of_shared_address(vec![up(), down(), up()]),
            (
                Health::Degraded,
                Some("a replica sharing its address: timed out".into())
            )
        );
        assert_eq!(of_shared_address(vec![down(), down()]), down());
    }

    #[test]
    fn a_replica_the_supervisor_took_out_degrades_its_service() {
        let process = |service: &str, state: &str| ProcessInfo {
            service: service.into(),
            state: state.into(),
            ..serde_json::from_value(serde_json::json!({"service": "x", "state": "ready"})).unwrap()
        };
        let list = [
            process("cart", "ready"),
            process("cart", "unready"),
            process("catalog", "ready"),
        ];
        assert_eq!(
            with_unready(Health::Up, None, "cart", &list),
            (Health::Degraded, Some("1 of 2 replicas: unready".into()))
        );
        assert_eq!(
            with_unready(Health::Up, None, "catalog", &list),
            (Health::Up, None)
        );
        let down = (Health::Down, Some("2 of 2 replicas: timed out".to_owned()));
        assert_eq!(with_unready(down.0, down.1.clone(), "cart", &list), down);
    }

    #[test]
    fn a_service_is_down_only_when_none_of_its_replicas_answers() {
        let up = || (Health::Up, None);
        let down = || (Health::Down, Some("timed out".to_owned()));
        let unready = || (Health::Degraded, Some("catalog: down".to_owned()));
        assert_eq!(of_replicas(vec![up(), up()]), (Health::Up, None));
        assert_eq!(
            of_replicas(vec![down()]),
            down(),
            "one replica: its own word"
        );
        assert_eq!(
            of_replicas(vec![up(), down()]),
            (Health::Degraded, Some("1 of 2 replicas: timed out".into()))
        );
        assert_eq!(
            of_replicas(vec![down(), down(), down()]),
            (Health::Down, Some("3 of 3 replicas: timed out".into()))
        );
        assert_eq!(
            of_replicas(vec![unready(), down()]).0,
            Health::Degraded,
            "one answers"
        );
    }
}
