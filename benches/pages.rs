//! Storefront pages under load: `cargo bench --bench pages`. The whole shop runs as real
//! processes; concurrent clients fetch the main pages through the gateway. Prints, per
//! page, the latency clients saw (an upper bound of the server-side render time, which
//! includes the storefront's own calls to the APIs) and the storefront's own p99 from
//! its `/metrics` histogram. Asserts nothing.

use bazaar::testing::{Shop, send_text};
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const ROUNDS: usize = 60;

fn main() {
    bazaar::testing::block_on(run());
}

async fn run() {
    let shop = Shop::start();
    let page = shop.json("/api/catalog/products?per_page=1", None).await;
    let product = page["items"][0]["id"].as_str().unwrap().to_owned();
    let category = page["items"][0]["category"].as_str().unwrap().to_owned();
    let pages: Vec<(&str, String)> = vec![
        ("home", "/".to_owned()),
        ("category", format!("/c/{category}")),
        ("product", format!("/p/{product}")),
        ("search", "/search?q=lamp".to_owned()),
        ("cart", "/cart".to_owned()),
    ];
    // Warm up: caches, connections, search's index.
    for (_, path) in &pages {
        for _ in 0..5 {
            let _ = shop.get(path).send().await;
        }
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (http, url, pages) = (shop.http.clone(), shop.url.clone(), pages.clone());
        tasks.spawn(async move {
            let mut seen: Vec<(&'static str, Duration, bool)> = Vec::new();
            for round in 0..ROUNDS {
                let (name, path) = &pages[(c + round) % pages.len()];
                let t = Instant::now();
                let ok = http
                    .get(format!("{url}{path}"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                seen.push((name, t.elapsed(), ok));
            }
            seen
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let elapsed = started.elapsed();
    println!(
        "pages     {} page views by {CLIENTS} concurrent clients in {:.1} s: {:.0} pages/s; failed {}",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        all.iter().filter(|(_, _, ok)| !ok).count()
    );
    for (name, _) in &pages {
        let mut lat: Vec<Duration> = all
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, d, _)| *d)
            .collect();
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
        println!(
            "  {name:<9} client-side p50 {:>6.1} ms  p99 {:>6.1} ms",
            pct(0.5),
            pct(0.99)
        );
    }
    // The storefront's own view: its request-duration histogram, all page routes together.
    let storefront = &shop.service_urls().await["storefront"];
    let metrics = send_text(shop.http.get(format!("{storefront}/metrics"))).await;
    if let Some(p99) = histogram_p99(&metrics) {
        println!(
            "  storefront server-side p99 (all pages, from its /metrics): <= {:.1} ms",
            p99 * 1e3
        );
    }
}

/// The upper bucket bound under which 99% of the storefront's page requests fell.
fn histogram_p99(metrics: &str) -> Option<f64> {
    let mut buckets: std::collections::BTreeMap<u64, f64> = std::collections::BTreeMap::new();
    for line in metrics.lines() {
        if !line.starts_with("bazaar_http_request_duration_seconds_bucket")
            || line.contains("route=\"/metrics\"")
            || line.contains("/health")
        {
            continue;
        }
        let le = line.split("le=\"").nth(1)?.split('"').next()?;
        let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        *buckets.entry(bound.to_bits()).or_default() += count;
    }
    let mut sorted: Vec<(f64, f64)> = buckets
        .into_iter()
        .map(|(b, c)| (f64::from_bits(b), c))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = sorted.last()?.1;
    sorted
        .into_iter()
        .find(|(_, c)| *c >= total * 0.99)
        .map(|(b, _)| b)
}
