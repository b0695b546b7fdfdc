//! Checkouts against product reads, in the same shop: `cargo bench --bench checkout`.
//!
//! Issue 11's measure. A fresh shop (`bazaar up`, rate limits off, the default sampled
//! traces) serves product reads (`wrk -t1 -c16`, one product through the gateway), then
//! 16 closed-loop shoppers check out (`bazaar load --scenario checkout --users 16`, a fixed
//! seed), then reads again. Prints the confirmed checkouts a second against the product
//! reads a second (the mean of the two read rounds), and where the shop's CPU went per
//! checkout run: each process's CPU time (from `/proc`) and the HTTP requests each service
//! answered (from its `/metrics`), divided by the runs. Run in the embedded shape, and
//! again on PostgreSQL + RabbitMQ when `BAZAAR_TEST_POSTGRES_URL` and
//! `BAZAAR_TEST_AMQP_URL` are set (their servers' CPU shown too). The shop logs at WARN
//! (`bazaar::testing`'s default), and the CPU counted includes the load's own set-up: the
//! accounts it registers and signs in (identity's argon2id hashes) in its first second.
//! The load's own CPU, on the same cores, is shown apart.
//!
//! One run, one machine: quote the ratios, not the rates. `wrk` comes from Debian's `wrk`,
//! installed when missing (as root). Asserts nothing.

use bazaar::testing::{Options, Shape, Shop, bazaar_bin, proc_stat, production, wrk};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const USERS: &str = "16";
const LOAD: &str = "20s";
const READS: &str = "8s";
const SEED: &str = "7";
/// Clock ticks a second of `/proc/<pid>/stat`'s CPU times (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

fn main() {
    wrk::ensure_tools(&[("wrk", "wrk")]);
    bazaar::testing::block_on(measure("embedded", Shape::Embedded));
    if let Some(shape) = production() {
        bazaar::testing::block_on(measure("PostgreSQL + RabbitMQ", shape));
    }
}

/// One shop in `shape`, measured (in the production shape, with the CPU of PostgreSQL
/// and RabbitMQ).
async fn measure(name: &str, shape: Shape) {
    let servers = matches!(shape, Shape::Production { .. });
    let shop = Shop::start_with(Options::default().in_shape(shape));
    let listed = shop.json("/api/catalog/products?per_page=1", None).await;
    let product = listed["items"][0]["id"].as_str().expect("a product");
    let read_url = format!("{}/api/catalog/products/{product}", shop.url);

    let before = wrk::Wrk::run(&read_url, 16, READS, None);
    let mut processes: Vec<(u32, String)> = shop.service_processes();
    processes.push((shop.supervisor_pid(), "supervisor".to_owned()));
    let urls = shop.service_urls().await;
    let (cpu0, servers0, calls0) = (cpu(&processes), server_cpu(), calls(&urls).await);
    let shoppers0 = reaped();
    let summary = load(&shop.url);
    let shoppers = reaped() - shoppers0;
    let (cpu1, servers1, calls1) = (cpu(&processes), server_cpu(), calls(&urls).await);
    let after = wrk::Wrk::run(&read_url, 16, READS, None);

    let runs = summary["runs"].as_f64().unwrap_or(0.0).max(1.0);
    let confirmed = summary["checkouts"]["confirmed_per_s"]
        .as_f64()
        .unwrap_or(0.0);
    let reads = (before.per_second + after.per_second) / 2.0;
    let step = &summary["steps"]["checkout"]["latency_ms"];
    println!("checkout ({name}): {USERS} shoppers for {LOAD}, product reads before and after");
    println!("  product reads   {before}");
    println!("                  {after}");
    println!(
        "  checkout runs   {:.1}/s ({} runs, errors {}), confirmed {confirmed:.1}/s; \
         run p50 {} ms p99 {} ms; the checkout step p50 {} ms p99 {} ms",
        summary["runs_per_s"].as_f64().unwrap_or(0.0),
        summary["runs"],
        summary["errors"],
        summary["latency_ms"]["p50"],
        summary["latency_ms"]["p99"],
        step["p50"],
        step["p99"],
    );
    println!(
        "  ratio           1/{:.0} (confirmed checkouts a second to product reads a second)",
        reads / confirmed.max(f64::MIN_POSITIVE)
    );
    println!("  per checkout run: CPU ms, and HTTP requests answered (the busiest routes)");
    let mut rows: Vec<(f64, &str)> = processes
        .iter()
        .filter_map(|(pid, service)| match (cpu0.get(pid), cpu1.get(pid)) {
            (Some(before), Some(after)) => Some((after - before, service.as_str())),
            _ => {
                println!("    ({service}, pid {pid}, did not run throughout: left out)");
                None
            }
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total: f64 = rows.iter().map(|r| r.0).sum();
    for (spent, service) in &rows {
        let answered = per_run(&calls0, &calls1, service, runs);
        let busiest: Vec<String> = answered
            .iter()
            .take(4)
            .map(|(route, n)| format!("{route} {n:.2}"))
            .collect();
        // From zero: an empty sum of floats is -0.
        let all = answered.iter().fold(0.0, |sum, r| sum + r.1);
        println!(
            "    {service:<16} {:>6.2} ms  {all:>5.2} requests  {}",
            spent * 1e3 / runs,
            busiest.join(", ")
        );
    }
    println!("    {:<16} {:>6.2} ms", "the shop", total * 1e3 / runs);
    println!(
        "    {:<16} {:>6.2} ms  (the load itself, on the same cores)",
        "bazaar load",
        shoppers * 1e3 / runs
    );
    for (server, spent) in servers1.iter().filter(|_| servers) {
        let spent = spent - servers0.get(server).unwrap_or(&0.0);
        if spent > 0.0 {
            println!("    {server:<16} {:>6.2} ms", spent * 1e3 / runs);
        }
    }
}

/// `bazaar load` at the shop: its JSON summary.
fn load(url: &str) -> Value {
    let file = std::env::temp_dir().join(format!("bazaar-bench-{}.json", std::process::id()));
    let run = Command::new(bazaar_bin())
        .args([
            "load",
            "--url",
            url,
            "--scenario",
            "checkout",
            "--users",
            USERS,
        ])
        .args(["--duration", LOAD, "--seed", SEED, "--json"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("bazaar load runs");
    assert!(
        run.status.success(),
        "bazaar load failed ({}): {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("the load's summary");
    let _ = std::fs::remove_file(&file);
    serde_json::from_str(&text).expect("a JSON summary")
}

/// The CPU seconds (user and system) each process has used.
fn cpu(processes: &[(u32, String)]) -> BTreeMap<u32, f64> {
    processes
        .iter()
        .filter_map(|(pid, _)| Some((*pid, cpu_of(*pid)?.0)))
        .collect()
}

/// The CPU seconds `pid` has used itself, and those of its children it has reaped
/// (PostgreSQL's short-lived workers, counted by the postmaster once they end).
fn cpu_of(pid: u32) -> Option<(f64, f64)> {
    // From field 3 on: utime and stime are fields 14 and 15, cutime and cstime 16 and 17.
    let fields = proc_stat(pid)?;
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    Some((
        (ticks(11)? + ticks(12)?) / TICKS,
        (ticks(13)? + ticks(14)?) / TICKS,
    ))
}

/// The CPU seconds of this bench's children that ended and were waited for: `bazaar load`,
/// read before and after its run.
fn reaped() -> f64 {
    cpu_of(std::process::id()).map_or(0.0, |(_, reaped)| reaped)
}

/// The CPU seconds PostgreSQL's and RabbitMQ's processes on this machine have used (none
/// in the embedded shape).
fn server_cpu() -> BTreeMap<&'static str, f64> {
    let mut spent = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return spent;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let server = match comm.trim() {
            "postgres" => "PostgreSQL",
            "beam.smp" | "erl_child_setup" | "epmd" => "RabbitMQ",
            _ => continue,
        };
        *spent.entry(server).or_insert(0.0) +=
            cpu_of(pid).map_or(0.0, |(own, reaped)| own + reaped);
    }
    spent
}

/// HTTP requests each service has answered, by `(service, "METHOD route")`, from each
/// service's `/metrics` (its scrapes left out).
async fn calls(
    urls: &std::collections::HashMap<String, String>,
) -> BTreeMap<(String, String), f64> {
    let http = reqwest::Client::new();
    let mut counted = BTreeMap::new();
    for (service, url) in urls {
        let Ok(r) = http.get(format!("{url}/metrics")).send().await else {
            continue;
        };
        let text = r.text().await.unwrap_or_default();
        for line in text.lines() {
            let Some(labels) = line.strip_prefix("bazaar_http_requests_total{") else {
                continue;
            };
            let Some((labels, value)) = labels.rsplit_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let route = label("route");
            if route == "/metrics" {
                continue;
            }
            let key = (service.clone(), format!("{} {route}", label("method")));
            *counted.entry(key).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    counted
}

/// The requests `service` answered per run between two scrapes, busiest route first.
fn per_run(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
    service: &str,
    runs: f64,
) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = after
        .iter()
        .filter(|((s, _), _)| s == service)
        .map(|(key, n)| (key.1.clone(), (n - before.get(key).unwrap_or(&0.0)) / runs))
        .filter(|(_, n)| *n >= 0.005)
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
}
