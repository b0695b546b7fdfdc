//! What a load run measures: HDR latency histograms per step and per scenario run,
//! failures by kind, named counters, and how they add up across tasks and over time.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Latencies in microseconds. Auto-resizing, so a histogram costs little until it has
/// seen a long latency, and histograms of different ranges still merge.
pub type Latency = Histogram<u64>;

/// An empty latency histogram with three significant figures (0.1% resolution).
pub fn latency() -> Latency {
    Histogram::new(3).expect("three significant figures are within hdrhistogram's 0..=5")
}

fn record(h: &mut Latency, elapsed: Duration) {
    // Clamped to 1 µs: hdrhistogram's lowest discernible value.
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    // `record` grows the histogram to fit; only a value beyond any range can fail.
    if h.record(micros).is_err() {
        h.saturating_record(micros);
    }
}

/// Why a step, and so its run, failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The shop answered with a status the scenario did not expect.
    Status(u16),
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection could not be made, or broke before the answer was complete.
    Connection,
    /// An open-loop run was due while the maximum number of runs was already in flight:
    /// counted here rather than started late, which would hide the overload.
    Overload,
    /// A successful status with a body the scenario could not use.
    InvalidResponse,
}

impl ErrorKind {
    /// The kind without its detail: `status`, `timeout`, ...
    pub fn kind(self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Overload => "overload",
            Self::InvalidResponse => "invalid_response",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(code) => write!(f, "status {code}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl std::error::Error for ErrorKind {}

/// One step of a run as it happened.
#[derive(Clone, Debug)]
pub struct StepSample {
    pub step: &'static str,
    pub elapsed: Duration,
    pub error: Option<ErrorKind>,
}

/// Everything one scenario run reports when it ends.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    /// From the run's start (its scheduled start in the open-loop model) to its end;
    /// `None` for a run that never started (overload).
    pub latency: Option<Duration>,
    pub steps: Vec<StepSample>,
    /// The error that ended the run early.
    pub failure: Option<ErrorKind>,
    /// Named tallies the scenario kept (`checkout.confirmed`, `flow.browse`, ...).
    pub counters: Vec<(&'static str, u64)>,
}

impl RunRecord {
    /// A run that was due but not started because too many were in flight.
    pub fn overload() -> Self {
        Self {
            failure: Some(ErrorKind::Overload),
            ..Self::default()
        }
    }
}

/// One step's figures.
#[derive(Clone, Debug)]
pub struct StepStats {
    /// Times the step ran, failed or not.
    pub count: u64,
    pub errors: u64,
    /// Every execution's latency, failed ones included (a timeout counts as the time it
    /// took to give up), so errors do not flatter the percentiles.
    pub latency: Latency,
}

impl Default for StepStats {
    fn default() -> Self {
        Self {
            count: 0,
            errors: 0,
            latency: latency(),
        }
    }
}

/// The figures of any number of runs: a task's, a second's, or a whole load's.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Runs that ended (failed ones and overload included).
    pub runs: u64,
    /// Runs that failed, whatever the kind.
    pub failed: u64,
    /// Latency of every run that started.
    pub latency: Latency,
    /// Failed runs by the kind of their first error.
    pub errors: BTreeMap<ErrorKind, u64>,
    pub steps: BTreeMap<&'static str, StepStats>,
    pub counters: BTreeMap<&'static str, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            runs: 0,
            failed: 0,
            latency: latency(),
            errors: BTreeMap::new(),
            steps: BTreeMap::new(),
            counters: BTreeMap::new(),
        }
    }
}

impl Stats {
    pub fn record(&mut self, run: &RunRecord) {
        self.runs += 1;
        if let Some(elapsed) = run.latency {
            record(&mut self.latency, elapsed);
        }
        if let Some(kind) = run.failure {
            self.failed += 1;
            *self.errors.entry(kind).or_default() += 1;
        }
        for sample in &run.steps {
            let step = self.steps.entry(sample.step).or_default();
            step.count += 1;
            step.errors += u64::from(sample.error.is_some());
            record(&mut step.latency, sample.elapsed);
        }
        for (name, n) in &run.counters {
            *self.counters.entry(name).or_default() += n;
        }
    }

    /// Adds `other`'s runs to these, as if they had been recorded here.
    pub fn merge(&mut self, other: &Stats) {
        self.runs += other.runs;
        self.failed += other.failed;
        add(&mut self.latency, &other.latency);
        for (kind, n) in &other.errors {
            *self.errors.entry(*kind).or_default() += n;
        }
        for (name, theirs) in &other.steps {
            let ours = self.steps.entry(name).or_default();
            ours.count += theirs.count;
            ours.errors += theirs.errors;
            add(&mut ours.latency, &theirs.latency);
        }
        for (name, n) in &other.counters {
            *self.counters.entry(name).or_default() += n;
        }
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or_default()
    }
}

fn add(into: &mut Latency, from: &Latency) {
    // Auto-resizing histograms take any value; were that ever to fail, the counts would
    // be wrong, so saturate rather than drop.
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            let (value, n) = (v.value_iterated_to(), v.count_at_value());
            if into.record_n(value, n).is_err() {
                into.saturating_record_n(value, n);
            }
        }
    }
}

/// A latency distribution in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Latency) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1e3;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// One interval of the load (about a second): what ended in it.
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    /// Seconds from the start of the load to the end of the interval.
    pub t_s: f64,
    /// The interval's length in seconds.
    pub len_s: f64,
    pub runs: u64,
    pub errors: u64,
    /// Failed runs by kind (`status 502`, `timeout`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// `null` in a second in which no run ended: a stall has no latency yet, not 0 ms.
    pub latency_ms: Option<Percentiles>,
}

impl Window {
    pub fn of(stats: &Stats, t: Duration, len: Duration) -> Self {
        Self {
            t_s: round3(t.as_secs_f64()),
            len_s: round3(len.as_secs_f64()),
            runs: stats.runs,
            errors: stats.failed,
            errors_by_kind: stats
                .errors
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
            latency_ms: (!stats.latency.is_empty()).then(|| Percentiles::of(&stats.latency)),
        }
    }

    pub fn runs_per_s(&self) -> f64 {
        if self.len_s > 0.0 {
            self.runs as f64 / self.len_s
        } else {
            0.0
        }
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn run(latency: u64, steps: &[(&'static str, u64, Option<ErrorKind>)]) -> RunRecord {
        RunRecord {
            latency: Some(ms(latency)),
            steps: steps
                .iter()
                .map(|&(step, elapsed, error)| StepSample {
                    step,
                    elapsed: ms(elapsed),
                    error,
                })
                .collect(),
            failure: steps.iter().find_map(|s| s.2),
            counters: vec![("flow.browse", 1)],
        }
    }

    fn runs() -> Vec<RunRecord> {
        let mut all = Vec::new();
        for i in 0..1_000u64 {
            all.push(run(
                5 + i % 97,
                &[("home", 1 + i % 13, None), ("product", 2 + i % 31, None)],
            ));
        }
        // A long tail: one run near a minute, which makes its histogram resize.
        all.push(run(59_000, &[("home", 58_000, None)]));
        all.push(run(
            40,
            &[
                ("home", 3, None),
                ("product", 30, Some(ErrorKind::Status(502))),
            ],
        ));
        all.push(RunRecord::overload());
        all.push(run(10_000, &[("home", 10_000, Some(ErrorKind::Timeout))]));
        all
    }

    #[test]
    fn stats_merged_from_tasks_equal_stats_recorded_in_one_place() {
        let all = runs();
        let mut whole = Stats::default();
        all.iter().for_each(|r| whole.record(r));

        // Four "tasks", unevenly split, the long tail in only one of them.
        let mut merged = Stats::default();
        for chunk in all.chunks(337) {
            let mut task = Stats::default();
            chunk.iter().for_each(|r| task.record(r));
            merged.merge(&task);
        }

        assert_eq!(merged.runs, 1_004);
        assert_eq!(merged.runs, whole.runs);
        assert_eq!(merged.failed, 3);
        assert_eq!(merged.errors, whole.errors);
        assert_eq!(merged.errors[&ErrorKind::Overload], 1);
        assert_eq!(merged.errors[&ErrorKind::Status(502)], 1);
        assert_eq!(merged.counter("flow.browse"), 1_003);
        // The overloaded run has no latency.
        assert_eq!(merged.latency.len(), 1_003);
        assert_eq!(merged.latency, whole.latency);
        assert_eq!(
            Percentiles::of(&merged.latency),
            Percentiles::of(&whole.latency)
        );
        assert_eq!(merged.steps.len(), 2);
        for (name, step) in &whole.steps {
            let m = &merged.steps[name];
            assert_eq!((m.count, m.errors), (step.count, step.errors), "{name}");
            assert_eq!(m.latency, step.latency, "{name}");
        }
        assert_eq!(merged.steps["home"].count, 1_003);
        assert_eq!(merged.steps["home"].errors, 1);
        assert_eq!(merged.steps["product"].errors, 1);
    }

    #[test]
    fn percentiles_are_in_milliseconds_within_the_histograms_precision() {
        let mut stats = Stats::default();
        for i in 1..=1_000u64 {
            stats.record(&run(i, &[]));
        }
        let p = Percentiles::of(&stats.latency);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-3;
        assert!(close(p.p50, 500.0), "{p:?}");
        assert!(close(p.p90, 900.0), "{p:?}");
        assert!(close(p.p99, 990.0), "{p:?}");
        assert!(close(p.p999, 999.0), "{p:?}");
        assert!(close(p.max, 1_000.0), "{p:?}");
        assert_eq!(Percentiles::of(&latency()), Percentiles::default());
    }

    #[test]
    fn a_window_counts_runs_per_second_and_names_error_kinds() {
        let mut stats = Stats::default();
        for r in runs() {
            stats.record(&r);
        }
        let w = Window::of(&stats, ms(3_000), ms(500));
        assert_eq!(w.runs, 1_004);
        assert_eq!(w.runs_per_s(), 2_008.0);
        assert_eq!(w.errors, 3);
        assert_eq!(w.errors_by_kind["status 502"], 1);
        assert_eq!(w.errors_by_kind["overload"], 1);
        assert_eq!(w.errors_by_kind["timeout"], 1);
        assert_eq!(w.t_s, 3.0);
    }
}
