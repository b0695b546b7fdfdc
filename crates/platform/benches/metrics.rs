//! What recording a request in the latency histogram costs, with and without an exemplar:
//! `cargo bench -p bazaar-platform --bench metrics`. Prints nanoseconds per observation,
//! the median of alternating rounds, and their ratio (one run, one machine: quote the
//! ratio). Asserts nothing.

use platform::{metrics::Metrics, telemetry::TraceId};
use std::time::Instant;

const OBSERVATIONS: u32 = 2_000_000;
const ROUNDS: usize = 5;

/// Nanoseconds per observation of `OBSERVATIONS` requests, each `trace`d or not, their
/// latencies spread over the histogram's first buckets.
fn round(metrics: &Metrics, trace: Option<TraceId>) -> f64 {
    let start = Instant::now();
    for i in 0..OBSERVATIONS {
        let seconds = 0.0001 * f64::from(i % 50);
        metrics.observe("GET", "/api/catalog/products/{id}", 200, seconds, trace);
    }
    start.elapsed().as_nanos() as f64 / f64::from(OBSERVATIONS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let metrics = Metrics::new("catalog");
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").ok();
    round(&metrics, None); // warm up: the series made once
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        plain.push(round(&metrics, None));
        traced.push(round(&metrics, trace));
    }
    let (plain, traced) = (median(plain), median(traced));
    println!(
        "metrics   {OBSERVATIONS} observations per round, median of {ROUNDS} alternating rounds"
    );
    println!("  untraced       {plain:6.1} ns per request");
    println!(
        "  with exemplar  {traced:6.1} ns per request   × {:.2} of untraced",
        traced / plain
    );
}
