//! Client-side load balancing over a service's replicas, for the gateway and every
//! service-to-service client.
//!
//! * **Picking**: the power of two choices — two replicas drawn at random, the less
//!   loaded one taken — by outstanding requests ([`Policy::LeastOutstanding`]) or by
//!   peak-EWMA latency times outstanding requests ([`Policy::PeakEwma`], Linkerd's).
//! * **Ejection**: each replica has its own circuit breaker, opened by consecutive
//!   failures (transport errors, timeouts, and 5xx the replica produces itself — not a
//!   healthy replica's deliberate answer about another service, marked
//!   `bazaar-fault: dependency`), and is probed for readiness in the background, so a
//!   frozen or draining replica stops getting traffic within about two probe rounds.
//! * **Retries**: at most once, on another replica, within a budget of 20% of requests
//!   (`tower`'s `TpsBudget`); which failures may be retried is [`retryable`]'s call.

use crate::discovery::{Endpoint, Endpoints};
use http::{
    HeaderMap, Method, StatusCode, Uri,
    uri::{Authority, Scheme},
};
use rand::RngExt;
use std::{
    sync::{
        Arc, Mutex, RwLock, Weak,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};
use tower::retry::budget::{Budget, TpsBudget};

/// The header with which a service marks a 5xx that reports another service's failure
/// (or replays an earlier answer), so that callers do not hold it against the replica.
pub const FAULT_HEADER: &str = "bazaar-fault";
/// Its value for a failure of a dependency.
pub const FAULT_DEPENDENCY: &str = "dependency";

/// How a replica is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Of two random replicas, the one with fewer requests in flight.
    #[default]
    LeastOutstanding,
    /// Of two random replicas, the one with the lower peak-EWMA latency × (requests in
    /// flight + 1).
    PeakEwma,
}

/// How a balancer treats its replicas.
#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: Policy,
    /// Consecutive failures that open a replica's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit keeps a replica out before one trial call.
    pub breaker_open: Duration,
    /// How often each replica's readiness is probed; zero: never.
    pub probe_interval: Duration,
    /// How long a probe may take.
    pub probe_timeout: Duration,
    /// Consecutive failed probes that take a replica out until a probe succeeds.
    pub probe_failures: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            breaker_failures: 5,
            breaker_open: Duration::from_secs(2),
            probe_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(400),
            probe_failures: 2,
        }
    }
}

/// What became of a call, as far as the replica's health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It answered (any status but a 5xx of its own).
    Success,
    /// A transport error, a timeout, or a 5xx of its own.
    Failure,
}

impl Outcome {
    /// The outcome of an answer: a 5xx counts against the replica unless it says it
    /// reports another service's failure.
    pub fn of(status: StatusCode, headers: &HeaderMap) -> Self {
        // The header is looked for only on a 5xx: every other answer is a success.
        if !status.is_server_error() {
            return Outcome::Success;
        }
        let dependency = headers.get(FAULT_HEADER).is_some_and(|v| {
            v.as_bytes()
                .eq_ignore_ascii_case(FAULT_DEPENDENCY.as_bytes())
        });
        if !dependency {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

/// How a call failed before an answer came, for [`retryable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// No connection: the request never reached the replica.
    Connect,
    /// The connection broke before any response: the request may have been handled.
    Reset,
    /// No answer in time: the request may still be being handled.
    Timeout,
}

/// Whether a call that failed `how` may be sent again to another replica (or, after a
/// reset, on a new connection to the only one: a pooled connection may have died with
/// the process that served it): one that never reached the replica may always be; one
/// that may have been handled only when repeating it is harmless (a safe method, or a
/// POST with an `Idempotency-Key` the service honours: `keyed`). A timeout is never
/// retried: the replica may still be working on it.
pub fn retryable(how: Failed, method: &Method, keyed: bool) -> bool {
    match how {
        Failed::Connect => true,
        Failed::Reset => {
            keyed
                || matches!(
                    *method,
                    Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
                )
        }
        Failed::Timeout => false,
    }
}

/// Whether a request carries an `Idempotency-Key`. Only a service that honours the key
/// makes it safe to repeat: a client's header proves nothing by itself (the gateway asks
/// the route, see `Route::idempotency_key`; a service's own calls send it only where the
/// callee honours it).
pub fn has_idempotency_key(headers: &HeaderMap) -> bool {
    headers.contains_key("idempotency-key")
}

/// Why no replica was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoReplica {
    #[error("no replica is known")]
    Unknown,
    #[error("every replica's circuit is open")]
    AllOpen,
}

/// The balancer of one service's replicas. Cheap to clone.
#[derive(Clone)]
pub struct Balancer {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    settings: Settings,
    replicas: RwLock<Arc<[Arc<Replica>]>>,
    budget: TpsBudget,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("service", &self.inner.service)
            .field("replicas", &self.replicas().len())
            .finish()
    }
}

impl Balancer {
    /// A balancer over `endpoints` of `service`, following them as they change and
    /// probing their readiness with `http` (when the settings say to) until dropped.
    pub fn new(
        service: &str,
        endpoints: Endpoints,
        settings: Settings,
        http: reqwest::Client,
    ) -> Self {
        let balancer = Self {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                settings,
                replicas: RwLock::new(Arc::from([])),
                budget: TpsBudget::new(Duration::from_secs(10), 5, 0.2),
            }),
        };
        balancer.apply(&endpoints.current());
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(follow(Arc::downgrade(&balancer.inner), endpoints));
            if !balancer.inner.settings.probe_interval.is_zero() {
                tokio::spawn(probe(Arc::downgrade(&balancer.inner), http));
            }
        }
        balancer
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The replicas as they are now.
    pub fn replicas(&self) -> Arc<[Arc<Replica>]> {
        self.inner
            .replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes a new endpoint set, keeping what is known of the replicas still in it.
    fn apply(&self, set: &[Endpoint]) {
        self.inner.apply(set);
    }

    /// Picks a replica for a call, not `avoid` (the one a retry moves away from) when
    /// there is another. Replicas out for failed probes are taken only when no other
    /// can be (they may be the only ones, restarting).
    pub fn pick(&self, avoid: Option<&Replica>) -> Result<Pick, NoReplica> {
        let replicas = self.replicas();
        if replicas.is_empty() {
            return Err(NoReplica::Unknown);
        }
        // The common case, as cheap as it can be: no retry to steer, and the two replicas
        // drawn (or the only one) ready and admitting.
        if avoid.is_none()
            && let Some(chosen) = self.draw(&replicas)
            && let Some(trial) = chosen.breaker.enter()
        {
            return Ok(Pick::new(chosen.clone(), trial));
        }
        let not_avoided = |r: &&Arc<Replica>| avoid.is_none_or(|a| !std::ptr::eq(&***r, a));
        // Ready and admitted first; then admitted, probes notwithstanding (they may all be
        // restarting, and a call finds out sooner than a probe).
        for probed in [true, false] {
            let usable = |r: &Arc<Replica>| (!probed || r.ready()) && r.breaker.admits();
            let mut candidates: Vec<&Arc<Replica>> = replicas
                .iter()
                .filter(|r| usable(r))
                .filter(not_avoided)
                .collect();
            if candidates.is_empty() && avoid.is_some() {
                // The one to avoid is all there is.
                candidates = replicas.iter().filter(|r| usable(r)).collect();
            }
            while !candidates.is_empty() {
                let chosen = self.choose(&candidates);
                match chosen.breaker.enter() {
                    Some(trial) => return Ok(Pick::new(chosen.clone(), trial)),
                    // Another call took the trial: try the others.
                    None => candidates.retain(|c| !Arc::ptr_eq(c, chosen)),
                }
            }
        }
        // Every circuit is open: callers fail fast rather than pile onto them.
        Err(NoReplica::AllOpen)
    }

    /// Picks the replica `key` belongs to, not `avoid` when there is another: every
    /// caller presenting one key reaches one replica for as long as it is ready and
    /// admits calls (a browser's session on the storefront, whose refresh token only
    /// one process may spend). Rendezvous hashing: replicas are ranked by a hash of the
    /// key and their URL, so that any gateway ranks them alike, and a replica leaving
    /// moves only its own keys (to each key's next in rank) and one coming back takes
    /// them again.
    pub fn pick_affine(&self, key: u64, avoid: Option<&Replica>) -> Result<Pick, NoReplica> {
        let replicas = self.replicas();
        if replicas.is_empty() {
            return Err(NoReplica::Unknown);
        }
        let mut ranked: Vec<&Arc<Replica>> = replicas.iter().collect();
        // Highest rank first; the replica to avoid last, still there if it is all.
        ranked.sort_by_cached_key(|r| {
            let avoided = avoid.is_some_and(|a| std::ptr::eq(&***r, a));
            (avoided, std::cmp::Reverse(rank(key, r.affinity)))
        });
        for probed in [true, false] {
            for r in &ranked {
                if (!probed || r.ready())
                    && r.breaker.admits()
                    && let Some(trial) = r.breaker.enter()
                {
                    return Ok(Pick::new((*r).clone(), trial));
                }
            }
        }
        Err(NoReplica::AllOpen)
    }

    /// The less loaded of two distinct random candidates.
    fn choose<'a>(&self, candidates: &[&'a Arc<Replica>]) -> &'a Arc<Replica> {
        match two_of(candidates.len()) {
            None => candidates[0],
            Some((a, b)) => self.less_loaded(candidates[a], candidates[b]),
        }
    }

    /// [`Balancer::choose`] without gathering the candidates first: the less loaded of
    /// two distinct random replicas, or the only one, when those drawn are ready and
    /// admit calls (`None` otherwise, for the full search).
    fn draw<'a>(&self, replicas: &'a [Arc<Replica>]) -> Option<&'a Arc<Replica>> {
        let usable = |r: &Arc<Replica>| r.ready() && r.breaker.admits();
        match two_of(replicas.len()) {
            None => replicas.first().filter(|r| usable(r)),
            Some((a, b)) => {
                let (x, y) = (&replicas[a], &replicas[b]);
                (usable(x) && usable(y)).then(|| self.less_loaded(x, y))
            }
        }
    }

    fn less_loaded<'a>(&self, x: &'a Arc<Replica>, y: &'a Arc<Replica>) -> &'a Arc<Replica> {
        let policy = self.inner.settings.policy;
        if x.load(policy) <= y.load(policy) {
            x
        } else {
            y
        }
    }

    /// Notes a first attempt: each adds to the retry budget.
    pub fn attempted(&self) {
        self.inner.budget.deposit();
    }

    /// Whether the budget allows one more retry (and spends it if so).
    pub fn may_retry(&self) -> bool {
        self.inner.budget.withdraw()
    }
}

impl Inner {
    fn apply(&self, set: &[Endpoint]) {
        let mut replicas = self.replicas.write().unwrap_or_else(|e| e.into_inner());
        let next: Vec<Arc<Replica>> = set
            .iter()
            .map(|url| {
                replicas
                    .iter()
                    .find(|r| r.url == *url)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Replica::new(url.clone(), &self.settings)))
            })
            .collect();
        *replicas = next.into();
    }
}

/// Two distinct random indices below `n`, or `None` when there are fewer than two.
fn two_of(n: usize) -> Option<(usize, usize)> {
    if n < 2 {
        return None;
    }
    let mut rng = rand::rng();
    let a = rng.random_range(0..n);
    let mut b = rng.random_range(0..n - 1);
    if b >= a {
        b += 1;
    }
    Some((a, b))
}

/// A key's hash for [`Balancer::pick_affine`]: FNV-1a, fixed so that every process
/// (every gateway replica, every build) hashes alike.
pub fn affinity_key(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The rank of a replica (its [`affinity_key`] of its URL) for a key: the two mixed by
/// SplitMix64's finaliser, so that ranks of one key over different replicas are
/// independent.
fn rank(key: u64, replica: u64) -> u64 {
    let mut z = key ^ replica.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Applies endpoint changes for as long as the balancer lives.
async fn follow(inner: Weak<Inner>, mut endpoints: Endpoints) {
    while endpoints.changed().await {
        let Some(inner) = inner.upgrade() else { return };
        inner.apply(&endpoints.current());
    }
}

/// Probes every replica's readiness each interval, for as long as the balancer lives.
async fn probe(inner: Weak<Inner>, http: reqwest::Client) {
    loop {
        let (replicas, interval, timeout, service) = {
            let Some(inner) = inner.upgrade() else { return };
            let replicas = inner
                .replicas
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let s = &inner.settings;
            (
                replicas,
                s.probe_interval,
                s.probe_timeout,
                inner.service.clone(),
            )
        };
        let round = replicas.iter().map(|r| {
            let (http, service) = (&http, service.as_str());
            async move {
                let url = format!("{}/health/ready", r.url);
                let answer = tokio::time::timeout(
                    timeout,
                    crate::client::probe(http, &url, Some(service)),
                )
                .await;
                match answer {
                    Ok(Ok(())) => {
                        if r.probed(true) && r.breaker.close_if_open() {
                            tracing::info!(service, replica = %r.url, "replica back: its readiness probe passes again");
                        }
                    }
                    Ok(Err(why)) => {
                        if r.probed(false) {
                            tracing::info!(service, replica = %r.url, why, "replica taken out: not ready");
                        }
                    }
                    Err(_) => {
                        if r.probed(false) {
                            tracing::info!(service, replica = %r.url, "replica taken out: its probe timed out");
                        }
                    }
                }
            }
        });
        futures_util::future::join_all(round).await;
        tokio::time::sleep(interval).await;
    }
}

/// One replica and what is known of it.
#[derive(Debug)]
pub struct Replica {
    pub url: Endpoint,
    /// The URL's scheme and authority, parsed once, when it is nothing more (no path).
    origin: Option<(Scheme, Authority)>,
    /// The URL's [`affinity_key`], for ranking it under [`Balancer::pick_affine`].
    affinity: u64,
    outstanding: AtomicU32,
    /// Kept only under [`Policy::PeakEwma`], the one policy that reads it.
    ewma: Option<Mutex<Ewma>>,
    breaker: Breaker,
    /// Consecutive failed readiness probes.
    probe_failures: AtomicU32,
    probe_threshold: u32,
}

impl Replica {
    fn new(url: Endpoint, settings: &Settings) -> Self {
        let bare = url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.contains(['/', '?', '#']));
        let origin = bare
            .then(|| url.parse::<Uri>().ok())
            .flatten()
            .and_then(|u| {
                let parts = u.into_parts();
                Some((parts.scheme?, parts.authority?))
            });
        Self {
            affinity: affinity_key(url.as_bytes()),
            url,
            origin,
            outstanding: AtomicU32::new(0),
            ewma: (settings.policy == Policy::PeakEwma).then(|| Mutex::new(Ewma::new())),
            breaker: Breaker::new(settings.breaker_failures, settings.breaker_open),
            probe_failures: AtomicU32::new(0),
            probe_threshold: settings.probe_failures.max(1),
        }
    }

    /// Whether its last probes found it ready (or it has not failed enough of them).
    pub fn ready(&self) -> bool {
        self.probe_failures.load(Ordering::Relaxed) < self.probe_threshold
    }

    /// Notes a probe; `true` when this one took the replica out, or, for a passing one,
    /// when the probe before it had failed (the replica is back).
    fn probed(&self, ready: bool) -> bool {
        if ready {
            self.probe_failures.swap(0, Ordering::Relaxed) > 0
        } else {
            self.probe_failures.fetch_add(1, Ordering::Relaxed) + 1 == self.probe_threshold
        }
    }

    /// Requests in flight to it.
    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Whether its circuit is open (it is out after failures).
    pub fn is_open(&self) -> bool {
        self.breaker.is_open()
    }

    fn load(&self, policy: Policy) -> f64 {
        let outstanding = f64::from(self.outstanding());
        match (policy, &self.ewma) {
            (Policy::PeakEwma, Some(ewma)) => {
                let cost = ewma
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .cost(Instant::now());
                cost * (outstanding + 1.0)
            }
            _ => outstanding,
        }
    }
}

/// A replica chosen for one call. Record its outcome; dropped unrecorded (the call was
/// cancelled), it frees its place and, if it was the circuit's trial, lets another call
/// try instead of leaving the circuit waiting for an answer that will never come.
#[derive(Debug)]
pub struct Pick {
    replica: Arc<Replica>,
    /// When the call started, for a replica whose latency is kept.
    started: Option<Instant>,
    trial: bool,
    recorded: bool,
}

impl Pick {
    fn new(replica: Arc<Replica>, trial: bool) -> Self {
        replica.outstanding.fetch_add(1, Ordering::Relaxed);
        Self {
            started: replica.ewma.is_some().then(Instant::now),
            replica,
            trial,
            recorded: false,
        }
    }

    /// The replica's base URL.
    pub fn url(&self) -> &str {
        &self.replica.url
    }

    /// The replica's scheme and authority, when its base URL has no path: what a caller
    /// puts in front of a path without parsing the URL again.
    pub fn origin(&self) -> Option<(&Scheme, &Authority)> {
        self.replica.origin.as_ref().map(|(s, a)| (s, a))
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Records a failure, keeping the pick as the marker of the replica a retry should
    /// avoid (its place is freed when it is dropped).
    pub fn fail(mut self) -> Pick {
        self.note(Outcome::Failure);
        self
    }

    /// Records how the call went.
    pub fn record(mut self, outcome: Outcome) {
        self.note(outcome);
    }

    fn note(&mut self, outcome: Outcome) {
        self.recorded = true;
        let cost = match outcome {
            Outcome::Success => {
                self.replica.breaker.succeeded();
                Duration::ZERO
            }
            Outcome::Failure => {
                self.replica.breaker.failed();
                // A failure costs like a slow answer, so peak-EWMA shies away too.
                FAILURE_PENALTY
            }
        };
        if let (Some(ewma), Some(started)) = (&self.replica.ewma, self.started) {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(started);
            ewma.lock()
                .unwrap_or_else(|e| e.into_inner())
                .observe(elapsed.max(cost), now);
        }
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.replica.outstanding.fetch_sub(1, Ordering::Relaxed);
        if !self.recorded && self.trial {
            self.replica.breaker.trial_abandoned();
        }
    }
}

/// What a failed call counts as in peak-EWMA, at least.
const FAILURE_PENALTY: Duration = Duration::from_millis(250);
/// What a replica nothing is known of is assumed to answer in.
const DEFAULT_RTT: Duration = Duration::from_millis(5);
/// How fast an old latency peak is forgotten.
const DECAY: Duration = Duration::from_secs(10);

/// Peak-sensitive moving average of latency: a slower answer replaces it at once, faster
/// ones pull it down with a half-life of about [`DECAY`].
#[derive(Debug)]
struct Ewma {
    cost_ns: f64,
    stamp: Instant,
}

impl Ewma {
    fn new() -> Self {
        Self {
            cost_ns: DEFAULT_RTT.as_nanos() as f64,
            stamp: Instant::now(),
        }
    }

    fn decayed(&self, now: Instant, toward: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.stamp).as_secs_f64();
        let w = (-elapsed / DECAY.as_secs_f64()).exp();
        self.cost_ns * w + toward * (1.0 - w)
    }

    fn observe(&mut self, rtt: Duration, now: Instant) {
        let rtt = rtt.as_nanos() as f64;
        self.cost_ns = if rtt > self.cost_ns {
            rtt
        } else {
            self.decayed(now, rtt)
        };
        self.stamp = now;
    }

    fn cost(&self, now: Instant) -> f64 {
        self.decayed(now, DEFAULT_RTT.as_nanos() as f64)
    }
}

/// A replica's circuit breaker: after `threshold` consecutive failures it opens and
/// admits no call for `open_for`; then exactly one call (the trial) is let through, whose
/// outcome closes or re-opens it. A trial abandoned unanswered lets the next call try.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call could go ahead now (without taking the trial).
    pub fn admits(&self) -> bool {
        match *self.lock() {
            State::Closed { .. } => true,
            State::Open { until } => Instant::now() >= until,
            State::HalfOpen => false,
        }
    }

    /// Lets a call through: `Some(false)` normally, `Some(true)` for the trial of an open
    /// circuit whose time is up, `None` when the circuit admits nothing now.
    pub fn enter(&self) -> Option<bool> {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Some(false),
            State::Open { until } if Instant::now() >= until => {
                *s = State::HalfOpen;
                Some(true)
            }
            State::Open { .. } | State::HalfOpen => None,
        }
    }

    pub fn succeeded(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub fn failed(&self) {
        let mut s = self.lock();
        *s = match *s {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.open_for,
            },
        };
    }

    /// Closes the circuit if it is open: its replica was away (its readiness probes
    /// failed, as calls did) and a probe has just found it ready again. Calls need not
    /// wait out the rest of the open time, nor queue behind one trial: a replica coming
    /// up after callers found its port closed (a start, a restart) takes them at once.
    /// A replica whose probes kept passing while its calls failed (answers of 5xx,
    /// slowness its probe does not meet) is not closed this way: its circuit waits for
    /// its trial. Returns whether it was open.
    pub fn close_if_open(&self) -> bool {
        let mut s = self.lock();
        let open = matches!(*s, State::Open { .. } | State::HalfOpen);
        if open {
            *s = State::Closed { failures: 0 };
        }
        open
    }

    /// The trial ended without an outcome: the next call may try.
    pub fn trial_abandoned(&self) {
        let mut s = self.lock();
        if matches!(*s, State::HalfOpen) {
            *s = State::Open {
                until: Instant::now(),
            };
        }
    }

    /// Whether the circuit is refusing calls.
    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open { .. } | State::HalfOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            probe_interval: Duration::ZERO,
            breaker_failures: 2,
            breaker_open: Duration::from_millis(30),
            ..Settings::default()
        }
    }

    fn balancer(urls: &[&str], settings: Settings) -> Balancer {
        Balancer::new(
            "catalog",
            Endpoints::fixed(urls.iter().map(|u| (*u).to_owned())),
            settings,
            reqwest::Client::new(),
        )
    }

    /// The replica of `bal` at `url`.
    fn replica(bal: &Balancer, url: &str) -> Arc<Replica> {
        bal.replicas()
            .iter()
            .find(|r| &*r.url == url)
            .expect("a replica at that url")
            .clone()
    }

    /// A readiness server for `catalog` on `listener`.
    fn ready_catalog(listener: tokio::net::TcpListener) {
        let app = axum::Router::new().route(
            "/health/ready",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"service": "catalog", "status": "ready"}))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    /// A balancer over the one replica at `url`, probing it every 50 ms, whose circuit
    /// once open stays so far longer than any test waits.
    fn probing(url: &str) -> Balancer {
        balancer(
            &[url],
            Settings {
                probe_interval: Duration::from_millis(50),
                breaker_open: Duration::from_secs(60),
                ..settings()
            },
        )
    }

    /// A replica whose port refused its callers (not yet started, restarting) opened its
    /// circuit; when it comes up, its next readiness probe closes the circuit, long
    /// before the open time is over, and every call goes to it at once, not only one
    /// trial (the storefront's first home page after a start: four shelves asked at once,
    /// three refused behind the trial).
    #[tokio::test]
    async fn a_replica_back_after_its_port_refused_takes_calls_at_its_next_probe() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let bal = probing(&url);
        let r = replica(&bal, &url);
        let http = reqwest::Client::new();
        for _ in 0..2 {
            let pick = bal.pick(None).unwrap();
            assert!(http.get(&url).send().await.unwrap_err().is_connect());
            drop(pick.fail());
        }
        assert_eq!(bal.pick(None).unwrap_err(), NoReplica::AllOpen);
        // Probes fail too while nothing listens.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(r.is_open());

        ready_catalog(tokio::net::TcpListener::bind(&url[7..]).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.is_open() {
            assert!(Instant::now() < deadline, "the circuit stayed open");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let picks: Vec<Pick> = (0..4).map(|_| bal.pick(None).unwrap()).collect();
        assert!(picks.iter().all(|p| !p.trial), "calls, not a trial");
    }

    /// A replica that kept passing its probes while its calls failed is not let back by
    /// a probe: its circuit waits out its open time for a trial, as before.
    #[tokio::test]
    async fn a_replica_failing_calls_while_ready_is_not_let_back_by_its_probes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        ready_catalog(listener);
        let bal = probing(&url);
        let r = replica(&bal, &url);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let headers = HeaderMap::new();
        for _ in 0..2 {
            bal.pick(None)
                .unwrap()
                .record(Outcome::of(StatusCode::INTERNAL_SERVER_ERROR, &headers));
        }
        assert!(r.is_open());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            r.is_open(),
            "probes that never failed prove nothing of its calls"
        );
        assert!(r.ready());
    }

    #[test]
    fn a_breaker_opens_after_its_threshold_and_half_opens_after_the_wait() {
        let b = Breaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert_eq!(b.enter(), Some(false));
            b.failed();
        }
        assert!(!b.is_open(), "two failures of three keep it closed");
        b.failed();
        assert!(b.is_open());
        assert_eq!(b.enter(), None, "an open circuit refuses");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.enter(), Some(true), "one trial after the wait");
        assert_eq!(b.enter(), None, "only one while half-open");
        b.succeeded();
        assert!(!b.is_open());
        assert_eq!(b.enter(), Some(false));
    }

    #[test]
    fn a_failed_trial_reopens() {
        let b = Breaker::new(1, Duration::from_millis(10));
        b.failed();
        std::thread::sleep(Duration::from_millis(15));
        assert_eq!(b.enter(), Some(true));
        b.failed();
        assert_eq!(b.enter(), None);
    }

    #[test]
    fn a_cancelled_trial_does_not_jam_the_circuit() {
        let bal = balancer(&["http://a"], settings());
        for _ in 0..2 {
            bal.pick(None).unwrap().record(Outcome::Failure);
        }
        assert!(bal.replicas()[0].is_open());
        assert_eq!(bal.pick(None).unwrap_err(), NoReplica::AllOpen);
        std::thread::sleep(Duration::from_millis(40));
        let trial = bal.pick(None).expect("the trial");
        assert_eq!(
            bal.pick(None).unwrap_err(),
            NoReplica::AllOpen,
            "one trial at a time"
        );
        // The client hangs up: the trial is dropped without an outcome.
        drop(trial);
        let next = bal.pick(None).expect("another call may try");
        next.record(Outcome::Success);
        assert!(!bal.replicas()[0].is_open());
    }

    #[test]
    fn outstanding_requests_are_counted_until_the_pick_is_done() {
        let bal = balancer(&["http://a"], settings());
        let p = bal.pick(None).unwrap();
        let q = bal.pick(None).unwrap();
        assert_eq!(bal.replicas()[0].outstanding(), 2);
        p.record(Outcome::Success);
        drop(q);
        assert_eq!(bal.replicas()[0].outstanding(), 0);
    }

    #[test]
    fn load_spreads_and_avoids_the_busy_replica() {
        let bal = balancer(&["http://a", "http://b", "http://c"], settings());
        // Each pick kept open: least-outstanding spreads them evenly over time.
        let held: Vec<Pick> = (0..30).map(|_| bal.pick(None).unwrap()).collect();
        for r in bal.replicas().iter() {
            let n = r.outstanding();
            assert!((5..=15).contains(&n), "{} has {n} of 30", r.url);
        }
        drop(held);
        // A replica stuck with requests (frozen, say) is not chosen while others are free.
        let a = replica(&bal, "http://a");
        let _stuck: Vec<Pick> = (0..3).map(|_| Pick::new(a.clone(), false)).collect();
        for _ in 0..100 {
            let p = bal.pick(None).unwrap();
            assert_ne!(p.url(), "http://a");
            p.record(Outcome::Success);
        }
    }

    #[test]
    fn a_failing_replica_is_taken_out_and_a_retry_goes_elsewhere() {
        let bal = balancer(&["http://a", "http://b"], settings());
        let a = replica(&bal, "http://a");
        // A retry avoids the replica that failed.
        for _ in 0..20 {
            assert_eq!(bal.pick(Some(&a)).unwrap().url(), "http://b");
        }
        for _ in 0..2 {
            a.breaker.failed();
        }
        for _ in 0..20 {
            assert_eq!(bal.pick(None).unwrap().url(), "http://b", "a is out");
        }
    }

    #[test]
    fn replicas_failing_their_probes_are_used_only_when_nothing_else_is() {
        let bal = balancer(&["http://a", "http://b"], settings());
        let a = replica(&bal, "http://a");
        a.probed(false);
        assert!(a.ready(), "one failed probe is not enough");
        assert!(a.probed(false), "the second takes it out");
        for _ in 0..20 {
            assert_eq!(bal.pick(None).unwrap().url(), "http://b");
        }
        let b = replica(&bal, "http://b");
        b.probed(false);
        b.probed(false);
        assert!(bal.pick(None).is_ok(), "all unready: one is tried anyway");
        a.probed(true);
        for _ in 0..20 {
            assert_eq!(bal.pick(None).unwrap().url(), "http://a");
        }
    }

    /// Where each of `keys` goes with `bal`'s affinity.
    fn homes(bal: &Balancer, keys: &[u64]) -> Vec<String> {
        keys.iter()
            .map(|k| bal.pick_affine(*k, None).unwrap().url().to_owned())
            .collect()
    }

    fn session_keys() -> Vec<u64> {
        (0..300)
            .map(|i| affinity_key(format!("session-{i}").as_bytes()))
            .collect()
    }

    #[test]
    fn one_key_keeps_to_one_replica_and_keys_spread_over_all() {
        let bal = balancer(&["http://a", "http://b", "http://c"], settings());
        let keys = session_keys();
        let first = homes(&bal, &keys);
        for _ in 0..5 {
            assert_eq!(homes(&bal, &keys), first, "a key's calls go to one replica");
        }
        for url in ["http://a", "http://b", "http://c"] {
            let n = first.iter().filter(|h| *h == url).count();
            assert!((60..=140).contains(&n), "{url} has {n} of 300 keys");
        }
        // Load does not move a key: affinity is the point.
        let _busy: Vec<Pick> = (0..10)
            .map(|_| Pick::new(replica(&bal, &first[0]), false))
            .collect();
        assert_eq!(homes(&bal, &keys), first);
    }

    #[test]
    fn a_replica_out_moves_only_its_keys_and_gets_them_back() {
        let bal = balancer(&["http://a", "http://b", "http://c"], settings());
        let keys = session_keys();
        let before = homes(&bal, &keys);
        let a = replica(&bal, "http://a");
        a.probed(false);
        a.probed(false);
        let without_a = homes(&bal, &keys);
        for (was, now) in before.iter().zip(&without_a) {
            assert_ne!(now, "http://a", "an unready replica gets no key");
            if was != "http://a" {
                assert_eq!(now, was, "keys of the other replicas stay");
            }
        }
        // Another balancer (another gateway) knowing only b and c places keys alike.
        let other = balancer(&["http://c", "http://b"], settings());
        assert_eq!(homes(&other, &keys), without_a);
        a.probed(true);
        assert_eq!(homes(&bal, &keys), before, "back, it has its keys again");
        // An open circuit moves its keys as well, and all of them unready: still served.
        a.breaker.failed();
        a.breaker.failed();
        assert_eq!(homes(&bal, &keys), without_a);
        for r in bal.replicas().iter() {
            r.probed(false);
            r.probed(false);
        }
        assert_eq!(homes(&bal, &keys), without_a, "probes notwithstanding");
    }

    #[test]
    fn a_retry_of_an_affine_call_goes_to_the_keys_next_replica() {
        let bal = balancer(&["http://a", "http://b", "http://c"], settings());
        for key in session_keys().into_iter().take(30) {
            let home = bal.pick_affine(key, None).unwrap();
            let retry = bal.pick_affine(key, Some(home.replica())).unwrap();
            assert_ne!(retry.url(), home.url());
            // The next in rank is where the key goes while its replica is out.
            let failed = replica(&bal, home.url());
            failed.breaker.failed();
            failed.breaker.failed();
            assert_eq!(bal.pick_affine(key, None).unwrap().url(), retry.url());
            failed.breaker.succeeded();
        }
        let single = balancer(&["http://a"], settings());
        let only = single.pick_affine(7, None).unwrap();
        let again = single.pick_affine(7, Some(only.replica())).unwrap();
        assert_eq!(again.url(), "http://a", "the one to avoid is all there is");
    }

    #[test]
    fn peak_ewma_prefers_the_faster_replica() {
        let bal = balancer(
            &["http://fast", "http://slow"],
            Settings {
                policy: Policy::PeakEwma,
                ..settings()
            },
        );
        let now = Instant::now();
        for r in bal.replicas().iter() {
            let rtt = if r.url.contains("slow") { 200 } else { 2 };
            r.ewma
                .as_ref()
                .expect("kept under peak-EWMA")
                .lock()
                .unwrap()
                .observe(Duration::from_millis(rtt), now);
        }
        let fast = (0..100)
            .filter(|_| bal.pick(None).unwrap().url() == "http://fast")
            .count();
        assert_eq!(fast, 100);
    }

    #[test]
    fn only_safe_or_keyed_calls_are_retried_after_they_may_have_arrived() {
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", "k".parse().unwrap());
        assert!(has_idempotency_key(&keyed) && !has_idempotency_key(&HeaderMap::new()));
        assert!(retryable(Failed::Connect, &Method::POST, false));
        assert!(retryable(Failed::Reset, &Method::GET, false));
        assert!(!retryable(Failed::Reset, &Method::POST, false));
        assert!(retryable(Failed::Reset, &Method::POST, true));
        assert!(!retryable(Failed::Timeout, &Method::GET, false));
        assert!(!retryable(Failed::Timeout, &Method::POST, true));
    }

    #[test]
    fn the_retry_budget_allows_about_a_fifth_more() {
        let bal = balancer(&["http://a"], settings());
        for _ in 0..1000 {
            bal.attempted();
        }
        let retries = (0..1000).filter(|_| bal.may_retry()).count();
        // 20% of 1,000, plus the reserve of 5 a second over the 10 s window.
        assert!((200..=260).contains(&retries), "{retries}");
    }

    #[test]
    fn a_dependency_failure_does_not_count_against_the_replica() {
        let mut h = HeaderMap::new();
        assert_eq!(Outcome::of(StatusCode::BAD_GATEWAY, &h), Outcome::Failure);
        assert_eq!(Outcome::of(StatusCode::NOT_FOUND, &h), Outcome::Success);
        h.insert(FAULT_HEADER, FAULT_DEPENDENCY.parse().unwrap());
        assert_eq!(
            Outcome::of(StatusCode::SERVICE_UNAVAILABLE, &h),
            Outcome::Success
        );
    }

    #[tokio::test]
    async fn endpoints_that_come_and_go_are_followed() {
        let dir = std::env::temp_dir().join(format!("bazaar-bal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("directory.json");
        let mut file = crate::discovery::DirectoryFile::default();
        file.services
            .insert("catalog".into(), vec!["http://a".into()]);
        file.write(&path).unwrap();
        let discovery = crate::discovery::Discovery::default();
        let endpoints = discovery.endpoints(
            "catalog",
            &crate::discovery::Source::File {
                path: path.clone(),
                fallback: vec![],
            },
        );
        let bal = Balancer::new("catalog", endpoints, settings(), reqwest::Client::new());
        assert_eq!(bal.replicas().len(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        file.services
            .insert("catalog".into(), vec!["http://a".into(), "http://b".into()]);
        file.write(&path).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while bal.replicas().len() != 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the new replica is picked up");
        let _ = std::fs::remove_dir_all(dir);
    }
}
