//! Just enough of the Prometheus and OpenMetrics text formats to read the platform's HTTP
//! metrics: sample lines and their exemplars, request and 5xx counts, the latency
//! histogram summed over routes, and rates, the 99th percentile and the slowest traced
//! request between two scrapes.

/// What the console asks a service's `/metrics` for: OpenMetrics, whose latency buckets
/// carry exemplars (the trace of a request in each), else the classic text format.
pub const ACCEPT: &str =
    "application/openmetrics-text; version=1.0.0, text/plain; version=0.0.4; q=0.5";

/// One sample line: `name{label="value",…} value`, and the exemplar after it, if any
/// (`… # {trace_id="…"} 0.012 1700000000.5`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub exemplar: Option<(Vec<(String, String)>, f64)>,
}

/// A traced request a latency bucket names: its trace and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    pub trace_id: u128,
    pub seconds: f64,
}

impl Exemplar {
    /// The trace id as the trace view spells it: 32 lowercase hex digits.
    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

impl Sample {
    /// The value of a label.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every sample of an exposition; comments, blank and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

/// One line, or `None` for a comment or anything that is not a sample.
pub fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid_name {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after_brace)?;
        labels = parsed;
        rest = remaining;
    }
    let (rest, exemplar) = match rest.split_once(" # ") {
        Some((sample, exemplar)) => (sample, parse_exemplar(exemplar)),
        None => (rest, None),
    };
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    })
}

fn parse_value(value: &str) -> Option<f64> {
    match value {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        v => v.parse().ok(),
    }
}

/// `{labels} value [timestamp]`; `None` if malformed (the sample still counts).
fn parse_exemplar(text: &str) -> Option<(Vec<(String, String)>, f64)> {
    let (labels, rest) = parse_labels(text.trim_start().strip_prefix('{')?)?;
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some((labels, value))
}

/// Labels up to the closing brace, and what follows it.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        s = s[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        }
    }
}

/// Requests to these routes are not traffic: the console's own probes, and consumers'
/// reads of event feeds (long polls, which would make every producer's p99 seconds).
fn is_probe(route: Option<&str>) -> bool {
    matches!(route, Some(r) if r.starts_with("/health") || r == "/metrics" || r.starts_with("/events/"))
}

/// The HTTP figures of one scrape, summed over routes (probes left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpTotals {
    /// Requests answered.
    pub requests: f64,
    /// Of which answered 5xx.
    pub server_errors: f64,
    /// The latency histogram: (upper bound in seconds, cumulative count), ascending,
    /// ending with `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// The traced requests the latency buckets name, one per bucket and route at most.
    pub exemplars: Vec<Exemplar>,
    /// Messages waiting in the service's RabbitMQ queue (`bazaar_events_queue_messages`);
    /// `None` without one (embedded, or a service that consumes nothing).
    pub queued: Option<f64>,
}

impl HttpTotals {
    /// The figures of the platform's metrics (`bazaar_http_requests_total`,
    /// `bazaar_http_request_duration_seconds_bucket`).
    pub fn from_samples(samples: &[Sample]) -> Self {
        let mut totals = HttpTotals::default();
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in samples {
            if is_probe(s.label("route")) || !s.value.is_finite() {
                continue;
            }
            match s.name.as_str() {
                "bazaar_http_requests_total" | "bazaar_http_requests" => {
                    totals.requests += s.value;
                    if s.label("status")
                        .and_then(|v| v.parse::<u16>().ok())
                        .is_some_and(|code| code >= 500)
                    {
                        totals.server_errors += s.value;
                    }
                }
                "bazaar_events_queue_messages" => {
                    *totals.queued.get_or_insert(0.0) += s.value;
                }
                "bazaar_http_request_duration_seconds_bucket" => {
                    let Some(le) = s.label("le").and_then(parse_bound) else {
                        continue;
                    };
                    if let Some(exemplar) = s.exemplar.as_ref().and_then(trace_exemplar) {
                        totals.exemplars.push(exemplar);
                    }
                    match buckets.iter_mut().find(|(b, _)| *b == le) {
                        Some((_, count)) => *count += s.value,
                        None => buckets.push((le, s.value)),
                    }
                }
                _ => {}
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        totals.buckets = buckets;
        totals
    }

    /// Requests in the histogram (its `+Inf` bucket).
    pub fn observed(&self) -> f64 {
        self.buckets.last().map(|(_, c)| *c).unwrap_or(0.0)
    }
}

/// An exemplar that names a trace (`trace_id`, 32 hex digits, not all zero).
fn trace_exemplar((labels, seconds): &(Vec<(String, String)>, f64)) -> Option<Exemplar> {
    let (_, id) = labels.iter().find(|(k, _)| k == "trace_id")?;
    let trace_id = (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
        .filter(|&id| id != 0)?;
    seconds.is_finite().then_some(Exemplar {
        trace_id,
        seconds: *seconds,
    })
}

fn parse_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        v => v.parse().ok(),
    }
}

/// Traffic between two scrapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub requests_per_sec: f64,
    /// The share of requests answered 5xx, `None` without requests.
    pub error_rate: Option<f64>,
    /// The 99th percentile latency, `None` without requests.
    pub p99_seconds: Option<f64>,
    /// The slowest traced request among those answered since the previous scrape, as far
    /// as the exemplars tell: each bucket keeps its latest, so a new one is a new request.
    pub slowest_traced: Option<Exemplar>,
}

/// Rates from `previous` to `current`, `elapsed_secs` apart. A counter that went down
/// means the service restarted: its new values count from zero.
pub fn rates(previous: &HttpTotals, current: &HttpTotals, elapsed_secs: f64) -> Rates {
    rates_of(&increase(previous, current), elapsed_secs)
}

/// What one process counted from `previous` to `current`: the counters' and buckets'
/// growth (from zero when the process was started again in between, its counters
/// smaller), the exemplars new since, and the queue as it is now.
pub fn increase(previous: &HttpTotals, current: &HttpTotals) -> HttpTotals {
    let restarted =
        current.requests < previous.requests || current.observed() < previous.observed();
    let base = if restarted {
        HttpTotals::default()
    } else {
        previous.clone()
    };
    // A bucket's exemplar changes only when a new traced request lands in it.
    let seen: std::collections::HashSet<u128> = base.exemplars.iter().map(|e| e.trace_id).collect();
    HttpTotals {
        requests: (current.requests - base.requests).max(0.0),
        server_errors: (current.server_errors - base.server_errors).max(0.0),
        buckets: current
            .buckets
            .iter()
            .map(|(le, count)| {
                let before = base
                    .buckets
                    .iter()
                    .find(|(b, _)| b == le)
                    .map(|(_, c)| *c)
                    .unwrap_or(0.0);
                (*le, (count - before).max(0.0))
            })
            .collect(),
        exemplars: current
            .exemplars
            .iter()
            .filter(|e| !seen.contains(&e.trace_id))
            .copied()
            .collect(),
        queued: current.queued,
    }
}

impl HttpTotals {
    /// Adds another replica's figures to these: counts and buckets summed, exemplars
    /// pooled. The replicas of a consumer share one queue, so its depth is the deepest
    /// any of them saw, not their sum.
    pub fn add(&mut self, other: &HttpTotals) {
        self.requests += other.requests;
        self.server_errors += other.server_errors;
        for (le, count) in &other.buckets {
            match self.buckets.iter_mut().find(|(b, _)| b == le) {
                Some((_, c)) => *c += count,
                None => self.buckets.push((*le, *count)),
            }
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.exemplars.extend(other.exemplars.iter().copied());
        self.queued = match (self.queued, other.queued) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The rates of the traffic `counted` (an [`increase`], or several replicas' summed) over
/// `elapsed_secs`.
pub fn rates_of(counted: &HttpTotals, elapsed_secs: f64) -> Rates {
    let requests = counted.requests;
    Rates {
        requests_per_sec: if elapsed_secs > 0.0 {
            requests / elapsed_secs
        } else {
            0.0
        },
        error_rate: (requests > 0.0).then(|| counted.server_errors / requests),
        p99_seconds: quantile(0.99, &counted.buckets),
        slowest_traced: counted
            .exemplars
            .iter()
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .copied(),
    }
}

/// The `q`-quantile of a cumulative histogram, interpolated within its bucket as
/// Prometheus' `histogram_quantile` does; `None` when it is empty.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for (le, count) in buckets {
        if *count >= rank {
            if le.is_infinite() {
                // Beyond the last finite bound: that bound is all that is known.
                return Some(lower_bound);
            }
            let in_bucket = count - lower_count;
            let fraction = if in_bucket > 0.0 {
                (rank - lower_count) / in_bucket
            } else {
                1.0
            };
            return Some(lower_bound + (le - lower_bound) * fraction);
        }
        lower_bound = *le;
        lower_count = *count;
    }
    Some(lower_bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_and_values() {
        let s = parse_line(r#"bazaar_http_requests_total{service="catalog",method="GET",route="/api/x",status="200"} 17"#)
            .unwrap();
        assert_eq!(s.name, "bazaar_http_requests_total");
        assert_eq!(s.label("route"), Some("/api/x"));
        assert_eq!(s.label("status"), Some("200"));
        assert_eq!(s.value, 17.0);
        let bare = parse_line("process_open_fds 12 1700000000000").unwrap();
        assert!(bare.labels.is_empty());
        assert_eq!(bare.value, 12.0);
    }

    #[test]
    fn label_values_may_hold_escapes_and_braces() {
        let s = parse_line(r#"m{a="x\"y",b="c\\d",c="e\nf",d="{}",} +Inf"#).unwrap();
        assert_eq!(s.label("a"), Some("x\"y"));
        assert_eq!(s.label("b"), Some("c\\d"));
        assert_eq!(s.label("c"), Some("e\nf"));
        assert_eq!(s.label("d"), Some("{}"));
        assert!(s.value.is_infinite());
    }

    #[test]
    fn comments_and_garbage_are_skipped() {
        for line in [
            "# HELP x y",
            "# EOF",
            "",
            "   ",
            "9bad 1",
            "m{a=\"unterminated} 1",
            "m{=\"x\"} 1",
            "m not-a-number",
            "m",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_quantile_interpolates_within_its_bucket() {
        let buckets = [(0.1, 50.0), (0.2, 100.0), (f64::INFINITY, 100.0)];
        let p50 = quantile(0.5, &buckets).unwrap();
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        let p99 = quantile(0.99, &buckets).unwrap();
        assert!((p99 - 0.198).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(0.99, &[(0.1, 0.0), (f64::INFINITY, 0.0)]), None);
        assert_eq!(
            quantile(0.99, &[(0.1, 1.0), (f64::INFINITY, 100.0)]),
            Some(0.1),
            "beyond the last bound: that bound"
        );
    }

    #[test]
    fn a_rabbitmq_queue_is_read_when_there_is_one() {
        let with = "bazaar_events_queue_messages{service=\"cart\",queue=\"bazaar.cart\"} 239\n\
                    bazaar_http_requests_total{service=\"cart\",route=\"/api/cart\",status=\"200\"} 5\n";
        assert_eq!(HttpTotals::from_samples(&parse(with)).queued, Some(239.0));
        let without =
            "bazaar_http_requests_total{service=\"cart\",route=\"/api/cart\",status=\"200\"} 5\n";
        assert_eq!(HttpTotals::from_samples(&parse(without)).queued, None);
    }

    #[test]
    fn a_restart_counts_from_zero() {
        let before = HttpTotals {
            requests: 100.0,
            server_errors: 10.0,
            buckets: vec![(0.1, 100.0), (f64::INFINITY, 100.0)],
            exemplars: vec![],
            queued: None,
        };
        let after = HttpTotals {
            requests: 4.0,
            server_errors: 0.0,
            buckets: vec![(0.1, 4.0), (f64::INFINITY, 4.0)],
            exemplars: vec![],
            queued: None,
        };
        let r = rates(&before, &after, 2.0);
        assert_eq!(r.requests_per_sec, 2.0);
        assert_eq!(r.error_rate, Some(0.0));
    }

    #[test]
    fn replicas_add_up_and_share_one_queue() {
        let replica = |requests: f64, errors: f64, fast: f64, queued| HttpTotals {
            requests,
            server_errors: errors,
            buckets: vec![(0.01, fast), (0.1, requests), (f64::INFINITY, requests)],
            exemplars: vec![],
            queued,
        };
        // Two replicas, scraped twice 2 s apart; the second was started again between.
        let one = increase(
            &replica(100.0, 0.0, 100.0, Some(7.0)),
            &replica(150.0, 5.0, 150.0, Some(3.0)),
        );
        let two = increase(
            &replica(500.0, 0.0, 500.0, Some(7.0)),
            &replica(50.0, 0.0, 0.0, Some(4.0)),
        );
        let mut counted = HttpTotals::default();
        counted.add(&one);
        counted.add(&two);
        assert_eq!(counted.requests, 100.0);
        assert_eq!(counted.queued, Some(4.0));
        let r = rates_of(&counted, 2.0);
        assert_eq!(r.requests_per_sec, 50.0);
        assert_eq!(r.error_rate, Some(0.05));
        // Half the requests took up to 10 ms, half up to 100 ms: p99 in the slower bucket.
        let p99 = r.p99_seconds.unwrap();
        assert!(p99 > 0.01 && p99 <= 0.1, "{p99}");
    }

    #[test]
    fn an_exemplar_is_read_after_its_sample() {
        let line = r#"bazaar_http_request_duration_seconds_bucket{service="orders",le="0.016",method="POST",route="/api/orders/checkout"} 3 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.012 1796391018.0775"#;
        let s = parse_line(line).unwrap();
        assert_eq!(s.value, 3.0);
        assert_eq!(s.label("le"), Some("0.016"));
        let (labels, value) = s.exemplar.clone().unwrap();
        assert_eq!(
            labels,
            [(
                "trace_id".to_owned(),
                "4bf92f3577b34da6a3ce929d0e0e4736".to_owned()
            )]
        );
        assert_eq!(value, 0.012);
        let totals = HttpTotals::from_samples(&[s]);
        assert_eq!(
            totals.exemplars[0].trace_hex(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Without an exemplar, or with one that names no trace, the sample stands alone.
        for line in [
            r#"m_bucket{le="0.1"} 3"#,
            r#"m_bucket{le="0.1"} 3 # garbage"#,
            r#"m_bucket{le="0.1"} 3 # {trace_id="xyz"} 0.05"#,
            r#"m_bucket{le="0.1"} 3 # {trace_id="+bf92f3577b34da6a3ce929d0e0e4736"} 0.05"#,
        ] {
            let s = parse_line(line).unwrap();
            assert_eq!(s.value, 3.0, "{line}");
            assert_eq!(
                HttpTotals::from_samples(&[Sample {
                    name: "bazaar_http_request_duration_seconds_bucket".into(),
                    ..s
                }])
                .exemplars,
                [],
                "{line}"
            );
        }
    }

    #[test]
    fn the_slowest_traced_request_is_the_slowest_new_exemplar() {
        let id = |n: u128| Exemplar {
            trace_id: n,
            seconds: n as f64 / 1000.0,
        };
        let totals = |exemplars: Vec<Exemplar>| HttpTotals {
            requests: 10.0,
            server_errors: 0.0,
            buckets: vec![(0.1, 10.0), (f64::INFINITY, 10.0)],
            exemplars,
            queued: None,
        };
        let before = totals(vec![id(90), id(5)]);
        // The 90 ms request was answered before the previous scrape: not new.
        let after = totals(vec![id(90), id(7), id(30)]);
        assert_eq!(rates(&before, &after, 1.0).slowest_traced, Some(id(30)));
        assert_eq!(rates(&after, &after, 1.0).slowest_traced, None);
    }
}
