//! wrk (Debian's `wrk`) as the benches drive it: one thread, a fixed number of
//! connections, latency percentiles parsed from its report.

use std::process::{Command, Stdio};

/// What one wrk run measured.
#[derive(Clone, Debug, Default)]
pub struct Wrk {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx answers and socket errors.
    pub errors: u64,
}

impl std::fmt::Display for Wrk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  errors {:>3}",
            self.per_second, self.p50_ms, self.p99_ms, self.errors
        )
    }
}

impl Wrk {
    /// `wrk -t1 -c<connections> -d<duration> --latency url`, with a bearer token when given.
    pub fn run(url: &str, connections: u32, duration: &str, token: Option<&str>) -> Wrk {
        let mut cmd = Command::new("wrk");
        cmd.args([
            "-t1",
            "-c",
            &connections.to_string(),
            "-d",
            duration,
            "--latency",
        ]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.arg(url).output().expect("wrk runs (Debian's `wrk`)");
        Wrk::parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// The round with the median throughput (its own latencies with it).
    pub fn median(rounds: &[Wrk]) -> Wrk {
        let mut sorted = rounds.to_vec();
        sorted.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
        sorted.get(sorted.len() / 2).cloned().unwrap_or_default()
    }

    /// Reads wrk's report.
    pub fn parse(report: &str) -> Wrk {
        let mut w = Wrk::default();
        for line in report.lines().map(str::trim) {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("Requests/sec:"), Some(v)) => w.per_second = v.parse().unwrap_or(0.0),
                (Some("50%"), Some(v)) => w.p50_ms = millis(v),
                (Some("99%"), Some(v)) => w.p99_ms = millis(v),
                (Some("Non-2xx"), _) => {
                    w.errors += line
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0);
                }
                (Some("Socket"), _) => {
                    w.errors += line
                        .split(|c: char| !c.is_ascii_digit())
                        .filter_map(|n| n.parse::<u64>().ok())
                        .sum::<u64>();
                }
                _ => {}
            }
        }
        w
    }
}

/// wrk's `1.23ms`, `456.00us`, `1.01s` in milliseconds.
fn millis(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// The programs a bench runs, `(program, Debian package)`: those missing are installed
/// from Debian's packages (when run as root); a bench without them stops here, saying
/// what to install.
pub fn ensure_tools(tools: &[(&str, &str)]) {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(bin, _)| {
            Command::new("sh")
                .args(["-c", &format!("command -v {bin}")])
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return;
    }
    eprintln!("installing {} from Debian", missing.join(", "));
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this bench needs {}: apt-get install {}",
        missing.join(", "),
        missing.join(" ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_read() {
        let report = "Running 4s test @ http://127.0.0.1:1/x
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    1.50ms
     99%    3.10ms
  81234 requests in 4.00s, 90.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  20308.50
Transfer/sec:     22.50MB
";
        let w = Wrk::parse(report);
        assert_eq!(w.per_second, 20308.5);
        assert!((w.p50_ms - 0.812).abs() < 1e-9);
        assert!((w.p99_ms - 3.1).abs() < 1e-9);
        assert_eq!(w.errors, 10, "7 non-2xx answers and 3 socket errors");
    }
}
