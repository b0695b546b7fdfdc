//! What replicas buy: `cargo bench --bench replicas`. The whole shop runs (`bazaar up`,
//! embedded shape) with one catalog process and again with three; `wrk -t1 -c32` reads a
//! product through the gateway in alternating rounds. Then, with three replicas, one is
//! frozen (SIGSTOP) for a round: throughput, p99 and errors while the balancer takes it
//! out. One run, one machine: quote the ratios. On a machine with fewer cores than
//! processes, replicas add resilience, not throughput. Asserts nothing.

use bazaar::testing::{Options, Shop, wrk::Wrk};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

const ROUND: &str = "5s";
const ROUNDS: usize = 3;

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let one = rt.block_on(start("catalog=1"));
    let three = rt.block_on(start("catalog=3"));
    println!(
        "replicas  catalog product reads through the gateway, wrk -t1 -c32, {ROUNDS} alternating rounds of {ROUND}"
    );
    let mut rounds: [Vec<Wrk>; 2] = [Vec::new(), Vec::new()];
    for (shop, _) in [&one, &three] {
        wrk(&shop.0, "1s");
    }
    for _ in 0..ROUNDS {
        for (i, (shop, _)) in [&one, &three].into_iter().enumerate() {
            rounds[i].push(wrk(&shop.0, ROUND));
        }
    }
    let [a, b] = rounds.map(|r| Wrk::median(&r));
    println!("  1 replica   {a}");
    println!(
        "  3 replicas  {b}   vs 1: throughput × {:.2}, p99 × {:.2}",
        b.per_second / a.per_second,
        b.p99_ms / a.p99_ms
    );
    let (shop, pids) = &three;
    let frozen = pids[1];
    let _ = kill(Pid::from_raw(frozen as i32), Signal::SIGSTOP);
    let during = wrk(&shop.0, ROUND);
    let _ = kill(Pid::from_raw(frozen as i32), Signal::SIGCONT);
    println!(
        "  3, 1 frozen {during}   vs 3: throughput × {:.2}, p99 × {:.2}",
        during.per_second / b.per_second,
        during.p99_ms / b.p99_ms
    );
}

/// A shop with `replicas`, the product URL to read, and the catalog replicas' pids.
async fn start(replicas: &str) -> ((String, Shop), Vec<u32>) {
    let shop = Shop::start_with(Options {
        env: vec![
            ("BAZAAR_REPLICAS", replicas.to_owned()),
            ("BAZAAR_LOG", "warn".to_owned()),
        ],
        ..Options::default()
    });
    let page = shop.json("/api/catalog/products?per_page=1", None).await;
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let pids = shop
        .processes()
        .await
        .iter()
        .filter(|p| p["service"] == "catalog")
        .filter_map(|p| p["pid"].as_u64().map(|p| p as u32))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (
        (format!("{}/api/catalog/products/{id}", shop.url), shop),
        pids,
    )
}

fn wrk(url: &str, duration: &str) -> Wrk {
    Wrk::run(url, 32, duration, None)
}
