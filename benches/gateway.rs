//! What the gateway costs: `cargo bench --bench gateway`. The whole shop runs as real
//! processes; concurrent clients send the same requests straight to a service, through
//! the gateway and — when `nginx` is installed (Debian's `nginx` package) — through nginx
//! as a plain reverse proxy with keep-alive upstreams, the yardstick. Rounds alternate
//! between the ways; the bench prints throughput, p50/p99 latency and the ratios — one
//! run, one machine, so the ratios are what to quote. Two requests: an anonymous product
//! read (routing and proxying only) and an authenticated cart read (the gateway also
//! verifies the token; nginx only proxies it). Asserts nothing.

#[path = "../tests/system/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::Shop;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const REQUESTS_PER_ROUND: usize = 3_000;
/// Rounds per path, alternating direct and through the gateway, so drift on a noisy
/// machine falls on both alike.
const ROUNDS: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// What one round measured.
struct Round {
    latencies: Vec<Duration>,
    elapsed: Duration,
    failed: usize,
}

async fn run() {
    let shop = Shop::start_with(helpers::Options {
        env: vec![("BAZAAR_LOG", "warn".into())],
        ..helpers::Options::default()
    });
    let page: Value = shop.json("/api/catalog/products?per_page=1", None).await;
    let product = page["items"][0]["id"].as_str().unwrap().to_owned();
    let token = shop.customer_token().await;
    let cases = [
        (
            "product read",
            "catalog",
            format!("/api/catalog/products/{product}"),
            None,
        ),
        ("cart read", "cart", "/api/cart".to_owned(), Some(token)),
    ];
    let services = shop.service_urls().await;
    let nginx = Nginx::start(&[
        ("/api/catalog/", services["catalog"].clone()),
        ("/api/cart", services["cart"].clone()),
    ]);
    println!(
        "gateway   {CLIENTS} concurrent clients, {ROUNDS} × {REQUESTS_PER_ROUND} requests per way{}",
        if nginx.is_some() {
            ""
        } else {
            " (nginx not installed: no yardstick)"
        }
    );
    for (name, service, path, token) in cases {
        let mut ways: Vec<(&str, String)> = vec![
            ("direct", services[service].clone()),
            ("gateway", shop.url.clone()),
        ];
        if let Some(n) = &nginx {
            ways.push(("nginx", n.url.clone()));
        }
        // Warm up every way: connections, caches, the token's key.
        for (_, base) in &ways {
            load(&shop.http, base, &path, token.as_deref(), 200).await;
        }
        let mut rounds: Vec<Vec<Round>> = ways.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for ((_, base), measured) in ways.iter().zip(rounds.iter_mut()) {
                measured.push(
                    load(
                        &shop.http,
                        base,
                        &path,
                        token.as_deref(),
                        REQUESTS_PER_ROUND,
                    )
                    .await,
                );
            }
        }
        let summaries: Vec<Summary> = rounds.iter().map(|r| Summary::of(r)).collect();
        for ((way, _), summary) in ways.iter().zip(&summaries) {
            println!("  {name:<12} {way:<8} {summary}");
        }
        let gateway = &summaries[1];
        for ((way, _), other) in ways
            .iter()
            .zip(&summaries)
            .filter(|(w, _)| w.0 != "gateway")
        {
            println!(
                "  {name:<12} gateway/{way}: throughput × {:.2}, p50 × {:.2} ({:+.2} ms), p99 × {:.2}",
                gateway.per_second / other.per_second,
                gateway.p50 / other.p50,
                gateway.p50 - other.p50,
                gateway.p99 / other.p99
            );
        }
    }
}

/// nginx as a plain reverse proxy in front of the services, in a directory of its own;
/// stopped when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Nginx {
    /// Starts nginx proxying each path prefix to its upstream, or `None` if there is no
    /// nginx (or it would not start).
    fn start(routes: &[(&str, String)]) -> Option<Nginx> {
        let binary = ["nginx", "/usr/sbin/nginx"].into_iter().find(|b| {
            Command::new(b)
                .arg("-v")
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })?;
        let dir = std::env::temp_dir().join(format!("bazaar-bench-nginx-{}", helpers::unique()));
        std::fs::create_dir_all(&dir).ok()?;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut upstreams = String::new();
        let mut locations = String::new();
        for (i, (prefix, url)) in routes.iter().enumerate() {
            let server = url.trim_start_matches("http://");
            upstreams += &format!("upstream u{i} {{ server {server}; keepalive 64; }}\n");
            locations += &format!(
                "location {prefix} {{ proxy_pass http://u{i}; proxy_http_version 1.1; \
                 proxy_set_header Connection \"\"; }}\n"
            );
        }
        // As many workers as the gateway has threads (one per core); no logs, no buffering
        // to disk: a proxy doing what the gateway does, no more.
        let conf = format!(
            "daemon off; master_process on; worker_processes auto; pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log error;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};\n\
             fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
             {upstreams} server {{ listen 127.0.0.1:{port}; {locations} }} }}\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).ok()?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let nginx = Nginx {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                eprintln!(
                    "nginx did not start; see {}",
                    nginx.dir.join("error.log").display()
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: a fast shutdown, the master takes its workers with it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` GETs of `base` + `path` by `CLIENTS` concurrent clients.
async fn load(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
    n: usize,
) -> Round {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let share = n / CLIENTS + usize::from(c < n % CLIENTS);
        let (http, url, token) = (
            http.clone(),
            format!("{base}{path}"),
            token.map(str::to_owned),
        );
        tasks.spawn(async move {
            let mut seen = Vec::with_capacity(share);
            let mut failed = 0;
            for _ in 0..share {
                let mut req = http.get(&url);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let t = Instant::now();
                let ok = match req.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                seen.push(t.elapsed());
                failed += usize::from(!ok);
            }
            (seen, failed)
        });
    }
    let mut round = Round {
        latencies: Vec::with_capacity(n),
        elapsed: Duration::ZERO,
        failed: 0,
    };
    while let Some(r) = tasks.join_next().await {
        let (seen, failed) = r.unwrap();
        round.latencies.extend(seen);
        round.failed += failed;
    }
    round.elapsed = started.elapsed();
    round
}

/// Rounds taken together: requests per second over their total time, latency
/// percentiles over all their requests (ms).
struct Summary {
    per_second: f64,
    p50: f64,
    p99: f64,
    failed: usize,
}

impl Summary {
    fn of(rounds: &[Round]) -> Summary {
        let mut all: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
        all.sort_unstable();
        let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
        let time: f64 = rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        Summary {
            per_second: all.len() as f64 / time,
            p50: pct(0.50),
            p99: pct(0.99),
            failed: rounds.iter().map(|r| r.failed).sum(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.0} req/s  p50 {:>5.2} ms  p99 {:>6.2} ms  failed {}",
            self.per_second, self.p50, self.p99, self.failed
        )
    }
}
