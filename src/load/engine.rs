//! The two load models and the collection of what their runs measure: open loop (runs
//! start on a fixed schedule that never waits on responses, latency counted from each
//! run's scheduled start, as wrk2 does) and closed loop (virtual users running scenario
//! after scenario).

use super::stats::{ErrorKind, RunRecord, Stats, StepSample, Window};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::future::Future;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, sleep, sleep_until};

/// A scenario: what one run does.
pub trait Workload: Send + Sync + 'static {
    /// Performs one run, recording each step through [`Run::step`].
    fn run(&self, run: &mut Run) -> impl Future<Output = Result<(), Failed>> + Send;
}

/// The run has failed; its error is recorded in the [`Run`].
#[derive(Debug)]
pub struct Failed;

/// One scenario run in progress: its random numbers and what it has measured so far.
pub struct Run {
    /// Seeded from the load's seed and the run's index: the same seed makes the same
    /// choices in the same runs, however the runs interleave.
    pub rng: SmallRng,
    record: RunRecord,
    /// The step under way and when it began: what a run cut off was waiting for.
    current: Option<(&'static str, Instant)>,
    /// Counters the work of a step adds to as it goes (see [`Run::tally`]).
    tallies: Vec<(&'static str, Arc<AtomicU32>)>,
}

impl Run {
    /// The `index`th run (its place in the open-loop schedule, or a user's count of runs
    /// interleaved with the other users') of a load seeded with `seed`.
    pub fn new(index: u64, seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            record: RunRecord::default(),
            current: None,
            tallies: Vec::new(),
        }
    }

    /// Times `work` as the step `step`; an error fails the run.
    pub async fn step<T>(
        &mut self,
        step: &'static str,
        work: impl Future<Output = Result<T, ErrorKind>>,
    ) -> Result<T, Failed> {
        let started = Instant::now();
        self.current = Some((step, started));
        let result = work.await;
        self.current = None;
        let elapsed = started.elapsed();
        self.record.steps.push(StepSample {
            step,
            elapsed,
            error: result.as_ref().err().copied(),
        });
        match result {
            Ok(value) => Ok(value),
            Err(kind) => self.fail(kind),
        }
    }

    /// Fails the run for a reason outside any step.
    pub fn fail<T>(&mut self, kind: ErrorKind) -> Result<T, Failed> {
        self.record.failure.get_or_insert(kind);
        Err(Failed)
    }

    /// Fails the run because of what its last step answered, counting that step as
    /// failed too.
    pub fn reject_last<T>(&mut self, kind: ErrorKind) -> Result<T, Failed> {
        if let Some(last) = self.record.steps.last_mut() {
            last.error.get_or_insert(kind);
        }
        self.fail(kind)
    }

    /// Adds `n` to the counter `name` (summed over every run of the load).
    pub fn count(&mut self, name: &'static str, n: u64) {
        self.record.counters.push((name, n));
    }

    /// A counter `name` that a step's work adds to as it goes, summed over every run as
    /// [`Run::count`]'s are: read when the run ends, or is cut off at the load's end (a
    /// checkout's retries until then were lost with it).
    pub fn tally(&mut self, name: &'static str) -> Arc<AtomicU32> {
        let counter = Arc::new(AtomicU32::new(0));
        self.tallies.push((name, counter.clone()));
        counter
    }

    /// What the run measured, `latency` after its start.
    fn finish(&mut self, latency: Duration) -> RunRecord {
        for (name, counter) in self.tallies.drain(..) {
            let n = counter.load(std::sync::atomic::Ordering::Relaxed);
            self.record.counters.push((name, u64::from(n)));
        }
        self.record.latency = Some(latency);
        std::mem::take(&mut self.record)
    }

    /// What the run measured when it was cut off `latency` after its start: the steps it
    /// finished, the one under way as timed out, and the run as timed out at `latency`,
    /// so a stall at the end of a load shows in its percentiles like any other.
    fn cut_off(&mut self, latency: Duration) -> RunRecord {
        if let Some((step, started)) = self.current.take() {
            self.record.steps.push(StepSample {
                step,
                elapsed: started.elapsed(),
                error: Some(ErrorKind::Timeout),
            });
        }
        self.record.failure = Some(ErrorKind::Timeout);
        self.finish(latency)
    }
}

/// How runs are started.
#[derive(Clone, Copy, Debug)]
pub enum Model {
    /// `rate` runs per second on a fixed schedule; a run due while `max_in_flight` are
    /// running fails as [`ErrorKind::Overload`] instead of starting late.
    Open { rate: f64, max_in_flight: usize },
    /// `users` virtual users, each starting its next run when its last one ends.
    Closed { users: usize },
}

/// A load to generate.
#[derive(Clone, Debug)]
pub struct Plan {
    pub model: Model,
    /// How long runs are started for.
    pub duration: Duration,
    /// How long runs still going at the end may take to finish before they are cut off
    /// (and counted as timeouts).
    pub drain: Duration,
    pub seed: u64,
}

/// What a load measured.
pub struct Outcome {
    pub totals: Stats,
    /// About one per second, in order.
    pub windows: Vec<Window>,
    /// From the first run's start to the last run's end.
    pub elapsed: Duration,
    /// The load was stopped before its duration (Ctrl-C).
    pub interrupted: bool,
}

/// Called about once a second with the totals so far, the last second's window and the
/// time since the start.
pub type OnTick = Box<dyn FnMut(&Stats, &Window, Duration) + Send>;

/// Runs `workload` as `plan` says until its duration has passed (or `stop` turns true),
/// then lets the runs in flight finish within the plan's drain time.
pub async fn execute<W: Workload>(
    workload: Arc<W>,
    plan: &Plan,
    stop: watch::Receiver<bool>,
    on_tick: OnTick,
) -> Outcome {
    let collector = Arc::new(Collector::new());
    let start = Instant::now();
    let (done_tx, done_rx) = oneshot::channel();
    let ticker = tokio::spawn(tick(collector.clone(), start, done_rx, on_tick));
    let interrupted = match plan.model {
        Model::Open {
            rate,
            max_in_flight,
        } => open_loop(workload, plan, rate, max_in_flight, &collector, start, stop).await,
        Model::Closed { users } => {
            closed_loop(workload, plan, users, &collector, start, stop).await
        }
    };
    let elapsed = start.elapsed();
    let _ = done_tx.send(());
    let (totals, windows) = match ticker.await {
        Ok(collected) => collected,
        // The ticker only panics if a progress callback does; keep what the shards hold.
        Err(_) => {
            let totals = collector.drain();
            let window = Window::of(&totals, elapsed, elapsed);
            (totals, vec![window])
        }
    };
    Outcome {
        totals,
        windows,
        elapsed,
        interrupted,
    }
}

async fn open_loop<W: Workload>(
    workload: Arc<W>,
    plan: &Plan,
    rate: f64,
    max_in_flight: usize,
    collector: &Arc<Collector>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> bool {
    // Run i is due at i / rate; those due before the end are owed, even if the generator
    // itself fell behind and starts them late (their latency then shows it).
    let due = (rate * plan.duration.as_secs_f64() - 1e-9).ceil().max(0.0) as u64;
    let mut runs = JoinSet::new();
    let mut interrupted = false;
    for i in 0..due {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {
                interrupted = true;
                break;
            }
            () = sleep_until(at) => {}
        }
        while runs.try_join_next().is_some() {}
        if runs.len() >= max_in_flight {
            collector.record(i, &RunRecord::overload());
            continue;
        }
        let (workload, collector) = (workload.clone(), collector.clone());
        let seed = plan.seed;
        runs.spawn(async move {
            let mut in_flight = InFlight::new(&collector, i, at, Run::new(i, seed));
            let _ = workload.run(&mut in_flight.run).await;
            in_flight.done();
        });
    }
    // The load lasts its duration, even when its last run was due (and done) early.
    if !interrupted {
        tokio::select! {
            () = stopped(&mut stop) => interrupted = true,
            () = sleep_until(start + plan.duration) => {}
        }
    }
    if tokio::time::timeout(plan.drain, async {
        while runs.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        abandon(&mut runs).await;
    }
    interrupted
}

async fn closed_loop<W: Workload>(
    workload: Arc<W>,
    plan: &Plan,
    users: usize,
    collector: &Arc<Collector>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> bool {
    let end = start + plan.duration;
    let mut tasks = JoinSet::new();
    for user in 0..users as u64 {
        let (workload, collector) = (workload.clone(), collector.clone());
        let (stop, seed) = (stop.clone(), plan.seed);
        tasks.spawn(async move {
            let mut k = 0u64;
            let mut pause = Duration::ZERO;
            while Instant::now() < end && !*stop.borrow() {
                let index = k * users as u64 + user;
                let run = Run::new(index, seed);
                let mut in_flight = InFlight::new(&collector, user, Instant::now(), run);
                let failed = workload.run(&mut in_flight.run).await.is_err();
                in_flight.done();
                k += 1;
                // A user who met an error waits before trying again, longer each time
                // in a row, as a person would: a shop that is down is not hammered with
                // thousands of instant failures a second that drown every figure.
                pause = if failed {
                    (pause * 2).clamp(FIRST_PAUSE, LONGEST_PAUSE)
                } else {
                    Duration::ZERO
                };
                if !pause.is_zero() {
                    sleep_until((Instant::now() + pause).min(end)).await;
                }
            }
        });
    }
    let mut interrupted = false;
    let drained = tokio::select! {
        () = async { while tasks.join_next().await.is_some() {} } => true,
        () = async {
            tokio::select! {
                () = sleep_until(end) => {}
                () = stopped(&mut stop) => interrupted = true,
            }
            sleep(plan.drain).await;
        } => false,
    };
    if !drained {
        abandon(&mut tasks).await;
    }
    interrupted
}

/// Cuts off what is still running; each run cut off counts itself as timed out.
async fn abandon(tasks: &mut JoinSet<()>) {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// The pause of a closed-loop user after a failed run, doubled for each failure in a row
/// up to the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// A run in flight since `began` (its scheduled start in the open loop): recorded as
/// cut off if it is dropped before it ends.
struct InFlight<'a> {
    collector: &'a Collector,
    hint: u64,
    began: Instant,
    run: Run,
    ended: bool,
}

impl<'a> InFlight<'a> {
    fn new(collector: &'a Collector, hint: u64, began: Instant, run: Run) -> Self {
        Self {
            collector,
            hint,
            began,
            run,
            ended: false,
        }
    }

    fn done(mut self) {
        self.ended = true;
        let record = self.run.finish(self.began.elapsed());
        self.collector.record(self.hint, &record);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let record = self.run.cut_off(self.began.elapsed());
            self.collector.record(self.hint, &record);
        }
    }
}

/// Resolves once `stop` is true; never if its sender is gone without saying so.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Each second: takes what the runs recorded since the last second, adds it to the
/// totals and keeps it as that second's window.
async fn tick(
    collector: Arc<Collector>,
    start: Instant,
    mut done: oneshot::Receiver<()>,
    mut on_tick: OnTick,
) -> (Stats, Vec<Window>) {
    let mut totals = Stats::default();
    let mut windows: Vec<Window> = Vec::new();
    // What ended in the last window, kept to fold a short final interval into it.
    let mut previous: Option<(Stats, Instant)> = None;
    let mut last = start;
    let mut every_second =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    every_second.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let finished = tokio::select! {
            _ = every_second.tick() => false,
            _ = &mut done => true,
        };
        let now = Instant::now();
        let interval = collector.drain();
        totals.merge(&interval);
        if finished {
            // A final interval of a few milliseconds would draw a misleading rate: it
            // joins the window before it.
            match (previous.take(), windows.last_mut()) {
                (Some((mut stats, began)), Some(window)) if now - last < FOLD_BELOW => {
                    stats.merge(&interval);
                    *window = Window::of(&stats, now - start, now - began);
                }
                _ => windows.push(Window::of(&interval, now - start, now - last)),
            }
            return (totals, windows);
        }
        let window = Window::of(&interval, now - start, now - last);
        on_tick(&totals, &window, now - start);
        windows.push(window);
        previous = Some((interval, last));
        last = now;
    }
}

/// A final interval shorter than this is folded into the window before it.
const FOLD_BELOW: Duration = Duration::from_millis(500);

/// Where runs record their figures: a few locked shards, so that many tasks record
/// without contending, drained and merged once a second.
struct Collector {
    shards: Vec<Mutex<Stats>>,
}

impl Collector {
    fn new() -> Self {
        let n = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
        Self {
            shards: (0..n).map(|_| Mutex::new(Stats::default())).collect(),
        }
    }

    fn record(&self, hint: u64, run: &RunRecord) {
        let shard = &self.shards[(hint % self.shards.len() as u64) as usize];
        shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(run);
    }

    fn drain(&self) -> Stats {
        let mut out = Stats::default();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            out.merge(&taken);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::shop::transport_error;
    use axum::{Router, extract::State, routing::get};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A server that answers every request after `delay`, and remembers how many
    /// requests it held at once.
    #[derive(Clone, Default)]
    struct Slow {
        delay: Duration,
        now: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }

    async fn slow(State(s): State<Slow>) -> &'static str {
        let n = s.now.fetch_add(1, Ordering::SeqCst) + 1;
        s.peak.fetch_max(n, Ordering::SeqCst);
        sleep(s.delay).await;
        s.now.fetch_sub(1, Ordering::SeqCst);
        "slow but sure"
    }

    async fn serve(delay: Duration) -> (String, Slow) {
        let state = Slow {
            delay,
            ..Slow::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/slow", get(slow))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, state)
    }

    /// One step: GET the slow server.
    struct Get {
        http: reqwest::Client,
        url: String,
    }

    impl Workload for Get {
        async fn run(&self, run: &mut Run) -> Result<(), Failed> {
            let tries = run.tally("tries");
            run.step("slow", async {
                tries.fetch_add(1, Ordering::Relaxed);
                let r = self
                    .http
                    .get(&self.url)
                    .send()
                    .await
                    .map_err(transport_error)?;
                if !r.status().is_success() {
                    return Err(ErrorKind::Status(r.status().as_u16()));
                }
                r.bytes().await.map_err(transport_error)
            })
            .await?;
            run.count("gets", 1);
            Ok(())
        }
    }

    fn getter(url: String) -> Arc<Get> {
        Arc::new(Get {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url,
        })
    }

    fn plan(model: Model, duration: Duration) -> Plan {
        Plan {
            model,
            duration,
            drain: Duration::from_secs(60),
            seed: 7,
        }
    }

    fn quiet() -> OnTick {
        Box::new(|_, _, _| {})
    }

    fn never() -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_starts_rate_times_duration_runs_however_slow_the_answers() {
        let delay = Duration::from_millis(250);
        let (url, server) = serve(delay).await;
        let (rate, secs) = (100.0, 2.0);
        let model = Model::Open {
            rate,
            max_in_flight: 1_000,
        };
        let outcome = execute(
            getter(url),
            &plan(model, Duration::from_secs_f64(secs)),
            never(),
            quiet(),
        )
        .await;

        let expected = rate * secs;
        let t = &outcome.totals;
        assert!(
            (t.runs as f64 - expected).abs() <= expected * 0.02,
            "{} runs, expected {expected} ± 2%",
            t.runs
        );
        assert_eq!(t.failed, 0, "{:?}", t.errors);
        assert_eq!(t.steps["slow"].count, t.runs);
        assert_eq!(t.counter("gets"), t.runs);
        // Every run waited for its slow answer, and the schedule did not wait for them:
        // about rate × delay were in flight at once.
        assert!(
            t.latency.min() >= delay.as_micros() as u64,
            "{}",
            t.latency.min()
        );
        let peak = server.peak.load(Ordering::SeqCst);
        assert!(peak >= 10, "at most {peak} requests in flight at once");
        assert!(!outcome.interrupted);
        assert!(outcome.elapsed >= Duration::from_secs_f64(secs) - Duration::from_millis(20));
        let windowed: u64 = outcome.windows.iter().map(|w| w.runs).sum();
        assert_eq!(windowed, t.runs);
        // The drain's short tail joined the last second rather than drawing a spike.
        assert!(
            outcome.windows.iter().all(|w| w.len_s >= 0.5),
            "{:?}",
            outcome.windows
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_over_its_in_flight_limit_counts_overload_instead_of_waiting() {
        let (url, server) = serve(Duration::from_secs(1)).await;
        let model = Model::Open {
            rate: 40.0,
            max_in_flight: 5,
        };
        let outcome = execute(
            getter(url),
            &plan(model, Duration::from_secs(1)),
            never(),
            quiet(),
        )
        .await;

        let t = &outcome.totals;
        assert_eq!(t.runs, 40);
        let overload = t
            .errors
            .get(&ErrorKind::Overload)
            .copied()
            .unwrap_or_default();
        assert_eq!(t.failed, overload, "{:?}", t.errors);
        assert!(overload >= 30, "{overload} overloaded");
        assert_eq!(t.steps["slow"].count, 40 - overload);
        assert!(server.peak.load(Ordering::SeqCst) <= 5);
        // A run that never started has no latency to report.
        assert_eq!(t.latency.len(), 40 - overload);
    }

    /// Runs that do nothing, except the first, which stalls the generator's only thread
    /// (as a long pause of the generator would).
    #[derive(Default)]
    struct Stall {
        stalled: AtomicBool,
    }

    impl Workload for Stall {
        async fn run(&self, _: &mut Run) -> Result<(), Failed> {
            if !self.stalled.swap(true, Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn open_loop_latency_counts_from_the_scheduled_start() {
        let model = Model::Open {
            rate: 100.0,
            max_in_flight: 1_000,
        };
        let outcome = execute(
            Arc::new(Stall::default()),
            &plan(model, Duration::from_secs(1)),
            never(),
            quiet(),
        )
        .await;

        let t = &outcome.totals;
        assert_eq!(t.runs, 100);
        // Runs due during the stall started late; measured from when they were started
        // they took nothing, measured from when they were due they waited for the stall.
        let waited = t.latency.count_between(100_000, u64::MAX);
        assert!(waited >= 15, "only {waited} runs show the stall");
        assert!(t.latency.max() >= 250_000, "max {} µs", t.latency.max());
    }

    /// A server that answers at once until `hang_after` requests, then never.
    async fn hanging(hang_after: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let app = Router::new().route(
            "/slow",
            get(move || {
                let seen = seen.clone();
                async move {
                    if seen.fetch_add(1, Ordering::SeqCst) >= hang_after {
                        std::future::pending::<()>().await;
                    }
                    "quick"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stall_at_the_end_of_an_open_loop_shows_in_its_percentiles() {
        // 40 runs over 2 s; the last 10 hang until the drain (300 ms) cuts them off.
        let url = hanging(30).await;
        let plan = Plan {
            model: Model::Open {
                rate: 20.0,
                max_in_flight: 1_000,
            },
            duration: Duration::from_secs(2),
            drain: Duration::from_millis(300),
            seed: 3,
        };
        let outcome = execute(getter(url), &plan, never(), quiet()).await;

        let t = &outcome.totals;
        assert_eq!(t.runs, 40);
        assert_eq!(t.errors.get(&ErrorKind::Timeout).copied(), Some(10));
        assert_eq!(t.latency.len(), 40, "every run is in the percentiles");
        assert_eq!(t.steps["slow"].count, 40);
        // A quarter of the runs hung for 300 ms or more: p90 says so.
        assert!(
            t.latency.value_at_quantile(0.9) >= 300_000,
            "p90 {} µs",
            t.latency.value_at_quantile(0.9)
        );
    }

    /// Runs that do nothing.
    struct Nothing;

    impl Workload for Nothing {
        async fn run(&self, _: &mut Run) -> Result<(), Failed> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_lasts_its_duration_even_when_its_only_run_is_done_at_once() {
        let model = Model::Open {
            rate: 0.5,
            max_in_flight: 10,
        };
        let outcome = execute(
            Arc::new(Nothing),
            &plan(model, Duration::from_secs(2)),
            never(),
            quiet(),
        )
        .await;
        assert_eq!(outcome.totals.runs, 1);
        assert!(
            outcome.elapsed >= Duration::from_secs(2),
            "{:?}",
            outcome.elapsed
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_users_pause_after_failures_instead_of_spinning() {
        // A port nobody listens on: every run fails at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        drop(listener);
        let outcome = execute(
            getter(url),
            &plan(Model::Closed { users: 2 }, Duration::from_secs(2)),
            never(),
            quiet(),
        )
        .await;

        let t = &outcome.totals;
        assert_eq!(t.failed, t.runs, "{:?}", t.errors);
        assert_eq!(t.errors.get(&ErrorKind::Connection).copied(), Some(t.runs));
        // Pauses of 50, 100, 200, 400, 800 ms, then 1 s: at most 7 runs a user in 2 s
        // (without them, thousands).
        assert!((2..=14).contains(&t.runs), "{} runs", t.runs);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_users_run_one_at_a_time_back_to_back() {
        let delay = Duration::from_millis(100);
        let (url, server) = serve(delay).await;
        let outcome = execute(
            getter(url),
            &plan(Model::Closed { users: 4 }, Duration::from_secs(1)),
            never(),
            quiet(),
        )
        .await;

        let t = &outcome.totals;
        assert_eq!(t.failed, 0, "{:?}", t.errors);
        assert!((4..=44).contains(&t.runs), "{} runs", t.runs);
        assert_eq!(server.peak.load(Ordering::SeqCst), 4);
        assert!(t.latency.min() >= delay.as_micros() as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_ends_the_schedule_and_runs_past_the_drain_count_as_timeouts() {
        let (url, _server) = serve(Duration::from_secs(30)).await;
        let (tx, rx) = watch::channel(false);
        let plan = Plan {
            model: Model::Open {
                rate: 20.0,
                max_in_flight: 1_000,
            },
            duration: Duration::from_secs(60),
            drain: Duration::from_millis(200),
            seed: 1,
        };
        let stopper = tokio::spawn(async move {
            sleep(Duration::from_millis(1_200)).await;
            tx.send(true).unwrap();
        });
        let ticked = Arc::new(AtomicBool::new(false));
        let seen = ticked.clone();
        let outcome = execute(
            getter(url),
            &plan,
            rx,
            Box::new(move |_, _, _| seen.store(true, Ordering::SeqCst)),
        )
        .await;
        stopper.await.unwrap();

        assert!(outcome.interrupted);
        assert!(ticked.load(Ordering::SeqCst));
        let t = &outcome.totals;
        assert!((5..=60).contains(&t.runs), "{} runs", t.runs);
        assert_eq!(t.errors.get(&ErrorKind::Timeout).copied(), Some(t.runs));
        // Each run cut off counts with the time it had waited, and so does its step.
        assert_eq!(t.latency.len(), t.runs);
        assert!(t.latency.min() >= 200_000, "min {} µs", t.latency.min());
        assert_eq!(t.steps["slow"].count, t.runs);
        assert_eq!(t.steps["slow"].errors, t.runs);
        assert_eq!(
            t.counter("tries"),
            t.runs,
            "what a run cut off tallied still counts (a checkout's retries were lost)"
        );
        assert!(
            outcome.elapsed < Duration::from_secs(10),
            "{:?}",
            outcome.elapsed
        );
    }
}
