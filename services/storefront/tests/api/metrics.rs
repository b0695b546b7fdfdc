//! The console's reading of Prometheus text: the platform's own exposition parsed, rates
//! and the 99th percentile computed between two scrapes.

use crate::helpers::shop;
use platform::{metrics::Metrics, telemetry::TraceId};
use storefront::ops::prometheus::{HttpTotals, parse, rates};

#[test]
fn the_platform_metrics_are_read_and_probes_left_out() {
    let m = Metrics::new("catalog");
    for _ in 0..90 {
        m.observe("GET", "/api/catalog/products", 200, 0.003, None);
    }
    for _ in 0..10 {
        m.observe("GET", "/api/catalog/products/{id}", 503, 0.3, None);
    }
    for _ in 0..50 {
        m.observe("GET", "/health/ready", 200, 0.0001, None);
        m.observe("GET", "/metrics", 200, 0.0001, None);
        // Consumers' long polls of the event feed.
        m.observe("GET", "/events/log", 200, 4.0, None);
    }
    let samples = parse(&m.render());
    assert!(
        samples
            .iter()
            .any(|s| s.name == "bazaar_http_requests_total")
    );
    let totals = HttpTotals::from_samples(&samples);
    assert_eq!(
        totals.requests, 100.0,
        "probes and event feed reads are not traffic"
    );
    assert_eq!(totals.server_errors, 10.0);
    assert_eq!(totals.observed(), 100.0);
    assert!(
        totals.buckets.windows(2).all(|w| w[0].0 < w[1].0),
        "ascending bounds"
    );
}

#[test]
fn rates_and_p99_come_from_the_difference_of_two_scrapes() {
    let m = Metrics::new("orders");
    for _ in 0..100 {
        m.observe("POST", "/api/orders/checkout", 201, 0.002, None);
    }
    let before = HttpTotals::from_samples(&parse(&m.render()));
    for _ in 0..98 {
        m.observe("POST", "/api/orders/checkout", 201, 0.002, None);
    }
    for _ in 0..2 {
        m.observe("POST", "/api/orders/checkout", 500, 1.5, None);
    }
    let after = HttpTotals::from_samples(&parse(&m.render()));
    let r = rates(&before, &after, 2.0);
    assert_eq!(r.requests_per_sec, 50.0);
    assert_eq!(r.error_rate, Some(0.02));
    let p99 = r.p99_seconds.expect("a p99");
    // Two slow requests of a hundred: the 99th is in the bucket holding 1.5 s.
    assert!((1.024..=2.048).contains(&p99), "p99 {p99}");
    let quiet = rates(&after, &after, 2.0);
    assert_eq!(
        (quiet.requests_per_sec, quiet.error_rate, quiet.p99_seconds),
        (0.0, None, None)
    );
}

#[test]
fn the_slowest_traced_request_comes_from_the_openmetrics_exemplars() {
    let m = Metrics::new("orders");
    let trace = |n: u128| Some(TraceId::from_bytes(n.to_be_bytes()));
    m.observe("POST", "/api/orders/checkout", 201, 0.020, trace(1));
    let before = HttpTotals::from_samples(&parse(&m.render_openmetrics()));
    m.observe("POST", "/api/orders/checkout", 201, 0.003, trace(2));
    m.observe("POST", "/api/orders/checkout", 201, 0.090, trace(3));
    m.observe("POST", "/api/orders/checkout", 201, 0.500, None);
    m.observe("GET", "/events/log", 200, 4.0, trace(4));
    let after = HttpTotals::from_samples(&parse(&m.render_openmetrics()));
    let slowest = rates(&before, &after, 1.0)
        .slowest_traced
        .expect("a traced request since the first scrape");
    // The untraced 500 ms request names no trace, the feed's long poll is no traffic,
    // and the 20 ms one was there before.
    assert_eq!(slowest.trace_hex(), format!("{:032x}", 3));
    assert_eq!(slowest.seconds, 0.090);
    // The classic format has no exemplars to read.
    let classic = HttpTotals::from_samples(&parse(&m.render()));
    assert_eq!(classic.exemplars, []);
    assert_eq!(classic.buckets, after.buckets);
}

#[tokio::test]
async fn a_real_service_exposition_parses() {
    let text = reqwest::get(format!("{}/metrics", shop().catalog))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse(&text);
    assert!(!samples.is_empty(), "{text}");
    assert!(
        samples
            .iter()
            .all(|s| s.label("service").is_none_or(|v| v == "catalog"))
    );
}
