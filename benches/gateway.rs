//! The gateway against the reference proxies: `cargo bench --bench gateway`.
//!
//! One upstream, nginx answering 1 KiB of JSON on every path (one worker; a port per
//! service, each answering its own readiness as that service). In front of it, one worker
//! each: nothing (`direct`), the Bazaar gateway (`bazaar serve gateway`,
//! `BAZAAR_WORKERS=1`), HAProxy (`nbthread 1`) and nginx (`worker_processes 1`), both
//! proxies with kept-alive upstream connections. `wrk -t1 -c32` drives each way for a few
//! seconds, the ways alternating round by round so a noisy machine's drift falls on all
//! alike. Two cases: an anonymous product read (routing and proxying) and a signed-in cart
//! read, whose bearer token the gateway verifies on every request (identity runs beside
//! it to issue the token and publish its keys) while HAProxy and nginx only pass it on.
//!
//! The gateway runs four ways: untraced (`bazaar`), exporting traces with the default
//! sampler (`sampled`: every request, up to a rate of new traces a second), with every
//! request traced (`traced`, `OTEL_TRACES_SAMPLER=always_on`), all three logging at WARN;
//! and in its default configuration whole (`default`: sampled, and the default log filter,
//! INFO, under which each request makes a span for its log lines).
//!
//! Prints requests/s, p50 and p99 per way and every way's ratio to HAProxy: one run, one
//! machine, so the ratios are what to quote. wrk, HAProxy and nginx come from Debian's
//! `wrk`, `haproxy` and `nginx-light`; missing ones are installed when run as root.
//! Asserts nothing.

use bazaar::testing::{
    bazaar_bin, send_json, unique,
    wrk::{self, Wrk},
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONNECTIONS: u32 = 32;
const ROUND: &str = "4s";
const ROUNDS: usize = 3;
/// The upstream's answer: 1 KiB of JSON.
fn body() -> String {
    let filler = "x".repeat(1024 - 40);
    format!("{{\"id\":\"p-1\",\"name\":\"bench\",\"pad\":\"{filler}\"}}")
}

fn main() {
    wrk::ensure_tools(&[
        ("wrk", "wrk"),
        ("haproxy", "haproxy"),
        ("nginx", "nginx-light"),
    ]);
    let dir = std::env::temp_dir().join(format!("bazaar-bench-gateway-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();

    // The upstream: a port per service the gateway routes to (identity is real).
    let services: Vec<&str> = bazaar::REGISTRY
        .names()
        .filter(|s| !matches!(*s, "gateway" | "identity"))
        .collect();
    let ports: Vec<(&str, u16)> = services.iter().map(|s| (*s, free_port())).collect();
    let upstream = Proc::nginx(&dir.join("upstream"), &upstream_conf(&ports));
    let port_of = |s: &str| ports.iter().find(|(n, _)| *n == s).unwrap().1;

    let identity_port = free_port();
    // Identity refuses a service secret shorter than 32 characters.
    let secret = format!("bench-secret-{:0>32}", unique());
    let _identity = Proc::spawn(
        "identity",
        Command::new(bazaar_bin())
            .args(["serve", "identity"])
            .env("BAZAAR_LISTEN", format!("127.0.0.1:{identity_port}"))
            .env(
                "BAZAAR_DATABASE_URL",
                format!("sqlite://{}/identity.db", dir.display()),
            )
            .env("BAZAAR_SERVICE_SECRET", &secret)
            .env("BAZAAR_LOG", "warn"),
        identity_port,
    );
    // Traces of the second gateway go to a collector in this process, as `bazaar up`'s.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let collector = bazaar::traces::TraceStore::new(bazaar::traces::KEPT);
    let collector_url = {
        let _in = rt.enter();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = bazaar::traces::receiver(collector.clone(), None);
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        url
    };
    let gateway_port = free_port();
    let mut gateway = gateway_command(gateway_port, identity_port, &secret, &ports);
    gateway
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let _gateway = Proc::spawn("gateway", &mut gateway, gateway_port);
    // Exporting with the default sampler (a rate of new traces a second), and with every
    // request traced.
    let exporting = |port: u16| {
        let mut command = gateway_command(port, identity_port, &secret, &ports);
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url)
            .env("OTEL_BSP_SCHEDULE_DELAY", "1000")
            .env_remove("OTEL_TRACES_SAMPLER")
            .env_remove("OTEL_TRACES_SAMPLER_ARG");
        command
    };
    let sampled_port = free_port();
    let _sampled = Proc::spawn(
        "sampling gateway",
        &mut exporting(sampled_port),
        sampled_port,
    );
    let traced_port = free_port();
    let mut traced = exporting(traced_port);
    traced.env("OTEL_TRACES_SAMPLER", "always_on");
    let _traced = Proc::spawn("traced gateway", &mut traced, traced_port);
    // The default configuration whole: sampled traces and the default log filter (INFO),
    // whose lines (start-up only: none per request) are not shown.
    let default_port = free_port();
    let mut default = exporting(default_port);
    default.env_remove("BAZAAR_LOG").stderr(Stdio::null());
    let _default = Proc::spawn("default gateway", &mut default, default_port);
    let haproxy_port = free_port();

    let _haproxy = Proc::haproxy(
        &dir.join("haproxy"),
        haproxy_port,
        port_of("catalog"),
        port_of("cart"),
    );
    let nginx_port = free_port();
    let _nginx = Proc::nginx(
        &dir.join("proxy"),
        &proxy_conf(nginx_port, port_of("catalog"), port_of("cart")),
    );
    let token = rt.block_on(token(identity_port));
    rt.block_on(wait_ready(gateway_port));
    rt.block_on(wait_ready(sampled_port));
    rt.block_on(wait_ready(traced_port));
    rt.block_on(wait_ready(default_port));

    println!(
        "gateway   wrk -t1 -c{CONNECTIONS}, {ROUNDS} alternating rounds of {ROUND} per way; \
         upstream nginx, 1 KiB JSON; one worker each"
    );
    let cases = [
        ("product read", "/api/catalog/products/p-1", None, "catalog"),
        ("cart read+token", "/api/cart", Some(token.as_str()), "cart"),
    ];
    for (case, path, token, service) in cases {
        let ways = [
            ("direct", port_of(service)),
            ("haproxy", haproxy_port),
            ("nginx", nginx_port),
            ("bazaar", gateway_port),
            ("sampled", sampled_port),
            ("traced", traced_port),
            ("default", default_port),
        ];
        for (_, port) in ways {
            wrk(port, path, token, "1s"); // warm up: connections, the token's key
        }
        let mut rounds: Vec<Vec<Wrk>> = ways.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for ((_, port), measured) in ways.iter().zip(rounds.iter_mut()) {
                measured.push(wrk(*port, path, token, ROUND));
            }
        }
        let summaries: Vec<Wrk> = rounds.iter().map(|r| Wrk::median(r)).collect();
        let haproxy = &summaries[1];
        for ((way, _), s) in ways.iter().zip(&summaries) {
            println!(
                "  {case:<16} {way:<8} {s}   vs haproxy: throughput × {:.2}, p99 × {:.2}",
                s.per_second / haproxy.per_second,
                s.p99_ms / haproxy.p99_ms,
            );
        }
    }
    println!(
        "  (sampled: every request up to {} new traces a second, the default sampler; traced: \
         every request; both exported over OTLP/HTTP, logs at WARN; default: sampled, logs at \
         the default INFO; {} traces kept)",
        platform::telemetry::Roots::DEFAULT_PER_SECOND,
        collector
            .list(&bazaar::traces::Filter {
                limit: Some(500),
                ..Default::default()
            })
            .len()
    );
    drop(upstream);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bazaar serve gateway` on `port`, in front of identity and the upstream's ports: one
/// worker, no rate limits (a bench measures forwarding; the reference proxies run none).
fn gateway_command(port: u16, identity_port: u16, secret: &str, ports: &[(&str, u16)]) -> Command {
    let mut gateway = Command::new(bazaar_bin());
    gateway
        .args(["serve", "gateway"])
        .env("BAZAAR_LISTEN", format!("127.0.0.1:{port}"))
        .env("BAZAAR_WORKERS", "1")
        .env("BAZAAR_RATE_LIMITS", "off")
        .env("BAZAAR_SERVICE_SECRET", secret)
        .env("BAZAAR_LOG", "warn")
        .env(
            "BAZAAR_IDENTITY_URL",
            format!("http://127.0.0.1:{identity_port}"),
        );
    for (service, port) in ports {
        gateway.env(
            format!("BAZAAR_{}_URL", service.to_ascii_uppercase()),
            format!("http://127.0.0.1:{port}"),
        );
    }
    gateway
}

fn wrk(port: u16, path: &str, token: Option<&str>, duration: &str) -> Wrk {
    Wrk::run(
        &format!("http://127.0.0.1:{port}{path}"),
        CONNECTIONS,
        duration,
        token,
    )
}

/// A customer's token from identity (registered there directly).
async fn token(identity_port: u16) -> String {
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{identity_port}");
    let email = format!("bench-{}@example.com", unique());
    let password = "correct horse battery staple";
    let r = http
        .post(format!("{base}/api/identity/register"))
        .json(&json!({"email": email, "password": password, "name": "Bench"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "register: {}", r.status());
    let login = http
        .post(format!("{base}/api/identity/login"))
        .json(&json!({"email": email, "password": password}));
    let r = send_json(login).await;
    r["access_token"].as_str().expect("a token").to_owned()
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("http://127.0.0.1:{port}/health/ready");
    while reqwest::get(&url)
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the gateway never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx as the upstream: every path of a service's port answers the 1 KiB body, and
/// `/health/ready` answers as that service.
fn upstream_conf(ports: &[(&str, u16)]) -> String {
    let body = body();
    ports
        .iter()
        .map(|(service, port)| {
            format!(
                "server {{ listen 127.0.0.1:{port}; default_type application/json;\n\
                 location = /health/ready {{ return 200 '{{\"service\":\"{service}\",\"status\":\"ready\"}}'; }}\n\
                 location / {{ return 200 '{body}'; }} }}\n"
            )
        })
        .collect()
}

/// nginx as a reverse proxy with kept-alive upstream connections: what the gateway does.
fn proxy_conf(port: u16, catalog: u16, cart: u16) -> String {
    format!(
        "upstream catalog {{ server 127.0.0.1:{catalog}; keepalive 64; }}\n\
         upstream cart {{ server 127.0.0.1:{cart}; keepalive 64; }}\n\
         server {{ listen 127.0.0.1:{port};\n\
         location /api/cart {{ proxy_pass http://cart; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n\
         location / {{ proxy_pass http://catalog; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n"
    )
}

/// A process of the bench, stopped (SIGTERM, then waited for) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, port: u16) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let proc = Proc { name, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{name} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        proc
    }

    /// nginx with one worker, no logs and no disk buffering, serving `servers`.
    fn nginx(dir: &Path, servers: &str) -> Proc {
        std::fs::create_dir_all(dir).unwrap();
        let conf = format!(
            "daemon off; master_process on; worker_processes 1; pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log error;\n\
             events {{ worker_connections 4096; }}\n\
             http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};\n\
             fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
             {servers} }}\n",
            dir = dir.display()
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let port: u16 = servers
            .split("listen 127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        let mut cmd = Command::new("nginx");
        cmd.arg("-p").arg(dir).arg("-c").arg(&file);
        Proc::spawn("nginx", &mut cmd, port)
    }

    fn haproxy(dir: &Path, port: u16, catalog: u16, cart: u16) -> Proc {
        std::fs::create_dir_all(dir).unwrap();
        let conf = format!(
            "global\n  nbthread 1\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  http-reuse always\n\
             frontend bench\n  bind 127.0.0.1:{port}\n  use_backend cart if {{ path_beg /api/cart }}\n  default_backend catalog\n\
             backend catalog\n  server s1 127.0.0.1:{catalog}\n\
             backend cart\n  server s1 127.0.0.1:{cart}\n"
        );
        let file: PathBuf = dir.join("haproxy.cfg");
        std::fs::write(&file, conf).unwrap();
        let mut cmd = Command::new("haproxy");
        cmd.arg("-db").arg("-f").arg(&file);
        Proc::spawn("haproxy", &mut cmd, port)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if self.child.wait().is_err() {
            eprintln!("{} did not stop", self.name);
        }
    }
}
