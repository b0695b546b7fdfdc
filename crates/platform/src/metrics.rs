//! Prometheus metrics: per-route request count, error count and latency histogram, plus
//! whatever a service registers of its own. Served as text at `/metrics`: OpenMetrics to a
//! scraper that asks for it (`Accept: application/openmetrics-text`), where each latency
//! bucket carries an exemplar, the trace of the last traced request that fell in it; the
//! classic Prometheus text format, without exemplars, to anyone else.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use opentelemetry::trace::TraceId;
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder},
    metrics::{
        counter::Counter, exemplar::HistogramWithExemplars, family::Family,
        histogram::exponential_buckets,
    },
    registry::{Metric, Registry},
};
use std::{
    fmt::Write as _,
    sync::{Arc, RwLock},
    time::SystemTime,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// A latency bucket's exemplar: the trace of a request that fell in it, kept as the id
/// itself and written out as hex only when scraped, so observing allocates nothing.
#[derive(Clone, Debug)]
struct TraceExemplar(TraceId);

/// The id's 32 lowercase hex digits.
#[derive(Clone, Debug)]
struct TraceIdHex(TraceId);

impl EncodeLabelValue for TraceIdHex {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

impl EncodeLabelSet for TraceExemplar {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("trace_id", TraceIdHex(self.0))].encode(encoder)
    }
}

type Histogram = HistogramWithExemplars<TraceExemplar>;
type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// A service's metrics registry and the HTTP metrics every service has. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: RwLock<Registry>,
    requests: Family<RequestLabels, Counter>,
    errors: Family<RequestLabels, Counter>,
    duration: DurationFamily,
    /// The series of every (method, route, status) answered so far, by route: found per
    /// request without building labels (two `String`s) or hashing them thrice.
    series: RwLock<rustc_hash::FxHashMap<String, Vec<Series>>>,
}

/// The handles of one method, route and status's series.
struct Series {
    method: String,
    status: u16,
    requests: Counter,
    errors: Option<Counter>,
    duration: Histogram,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// A registry whose metrics carry the label `service`.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "bazaar",
            [(
                std::borrow::Cow::Borrowed("service"),
                std::borrow::Cow::Owned(service.to_owned()),
            )]
            .into_iter(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        let errors = Family::<RequestLabels, Counter>::default();
        let duration = DurationFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_requests",
            "HTTP requests handled, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_errors",
            "HTTP requests answered with a 4xx or 5xx status, by route and status",
            errors.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            duration.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                requests,
                errors,
                duration,
                series: RwLock::new(rustc_hash::FxHashMap::default()),
            }),
        }
    }

    /// Registers a service-specific metric.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        if let Ok(mut r) = self.inner.registry.write() {
            r.register(name, help, metric);
        }
    }

    /// Records one answered request, and the trace it belongs to when it was traced.
    pub fn observe(
        &self,
        method: &str,
        route: &str,
        status: u16,
        seconds: f64,
        trace: Option<TraceId>,
    ) {
        let method = method_label(method);
        let known = |s: &Series| s.status == status && s.method == method;
        {
            let series = self.inner.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = series.get(route).and_then(|v| v.iter().find(|s| known(s))) {
                s.record(seconds, trace);
                return;
            }
        }
        let mut series = self.inner.series.write().unwrap_or_else(|e| e.into_inner());
        let of_route = series.entry(route.to_owned()).or_default();
        if let Some(s) = of_route.iter().find(|s| known(s)) {
            s.record(seconds, trace);
            return;
        }
        let s = self.inner.series(method, route, status);
        s.record(seconds, trace);
        of_route.push(s);
    }

    /// The registry in the OpenMetrics text format, exemplars included.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.inner.registry.read() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }

    /// The registry in the classic Prometheus text format (0.0.4), made from the
    /// OpenMetrics text: each bucket's exemplar (` # {…} value timestamp`) cut, a counter's
    /// `# HELP` and `# TYPE` named as its samples are (`…_total`, where OpenMetrics names
    /// the family without the suffix), and the OpenMetrics-only `# UNIT` and `# EOF` left out.
    pub fn render(&self) -> String {
        classic(&self.render_openmetrics())
    }
}

/// OpenMetrics text as the classic Prometheus text format (see [`Metrics::render`]).
fn classic(open: &str) -> String {
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 16 * counters.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|tag| Some((tag, line.strip_prefix(tag)?)));
        if let Some((tag, rest)) = described {
            let name = rest.split(' ').next().unwrap_or_default();
            if counters.contains(name) {
                out.push_str(tag);
                out.push_str(name);
                out.push_str("_total");
                out.push_str(&rest[name.len()..]);
                out.push('\n');
                continue;
            }
        }
        out.push_str(without_exemplar(line));
        out.push('\n');
    }
    out
}

/// A sample line without its exemplar: what follows ` # ` after the label set (whose
/// quoted values may hold anything) and the value. Only histogram buckets carry one.
fn without_exemplar(line: &str) -> &str {
    let Some((name, _)) = line.split_once('{') else {
        return line;
    };
    if !name.ends_with("_bucket") {
        return line;
    }
    let Some(labels_end) = end_of_labels(line, name.len()) else {
        return line;
    };
    match line[labels_end..].find(" # ") {
        Some(at) => &line[..labels_end + at],
        None => line,
    }
}

/// Just past the `}` that closes the label set opening at `open`, honouring quoted
/// values and their escapes.
fn end_of_labels(line: &str, open: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(open + i + 1),
            _ => {}
        }
    }
    None
}

impl Inner {
    /// The handles of a series not seen before, made in the families (once per series).
    fn series(&self, method: &str, route: &str, status: u16) -> Series {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        Series {
            method: labels.method.clone(),
            status,
            requests: self.requests.get_or_create(&labels).clone(),
            errors: (status >= 400).then(|| self.errors.get_or_create(&labels).clone()),
            duration: self
                .duration
                .get_or_create(&RouteLabels {
                    method: labels.method.clone(),
                    route: labels.route.clone(),
                })
                .clone(),
        }
    }
}

impl Series {
    fn record(&self, seconds: f64, trace: Option<TraceId>) {
        self.requests.inc();
        if let Some(errors) = &self.errors {
            errors.inc();
        }
        let exemplar = trace.map(TraceExemplar);
        let at = exemplar.is_some().then(SystemTime::now);
        self.duration.observe(seconds, exemplar, at);
    }
}

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether `Accept` prefers OpenMetrics to the classic text format: OpenMetrics named with
/// a quality above 0 and no lower than the best of `text/plain`, `text/*` or `*/*`.
fn prefers_openmetrics(headers: &HeaderMap) -> bool {
    let mut openmetrics: f32 = 0.0;
    let mut text: f32 = 0.0;
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for range in ranges {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or_default().to_ascii_lowercase();
        let quality = params
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(quality),
            "text/plain" | "text/*" | "*/*" => text = text.max(quality),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

/// `GET /metrics`: OpenMetrics, with exemplars, when the scraper prefers it (Prometheus
/// does, and the ops console asks for it); the classic text format otherwise.
pub async fn handler(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    let (body, content_type) = if prefers_openmetrics(&headers) {
        (metrics.render_openmetrics(), OPENMETRICS)
    } else {
        (metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
    };
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    // Which process answered: replicas sharing one port (the gateway's) are told apart
    // by it, each scrape landing on whichever the kernel picks.
    res.headers_mut()
        .insert(&PROCESS_ID, HeaderValue::from(std::process::id()));
    res
}

/// The header naming the process that answered `/metrics` (its pid).
pub static PROCESS_ID: header::HeaderName = header::HeaderName::from_static("bazaar-pid");

/// The `method` label of a request's series: one of HTTP's own methods, or `_OTHER` (as
/// OpenTelemetry names it) for any other, since a client may send any token as a method
/// and each would otherwise be a series of its own, for as long as the process runs.
pub fn method_label(method: &str) -> &str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("_OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sample of the classic text belongs to a family its `# TYPE` line names:
    /// itself, or (for a histogram) itself without `_bucket`, `_sum` or `_count`; and
    /// nothing of OpenMetrics' own is left.
    #[test]
    fn the_classic_text_names_each_family_as_its_samples() {
        let m = Metrics::new("catalog");
        m.observe("GET", "/products", 200, 0.002, None);
        m.observe("GET", "/products", 500, 0.002, None);
        let text = m.render();
        let typed: std::collections::HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
            .collect();
        assert_eq!(
            typed.get("bazaar_http_requests_total"),
            Some(&"counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP bazaar_http_requests_total "),
            "{text}"
        );
        let mut samples = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            samples += 1;
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = name.strip_suffix(suffix)?;
                    (typed.get(base) == Some(&"histogram")).then_some(base)
                })
                .unwrap_or(name);
            assert!(typed.contains_key(family), "no # TYPE for {name}: {text}");
        }
        assert!(samples > 3, "{text}");
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        assert!(m.render_openmetrics().ends_with("# EOF\n"));
    }

    #[test]
    fn methods_a_client_makes_up_share_one_series() {
        let m = Metrics::new("gateway");
        for i in 0..200 {
            m.observe(&format!("M{i}X"), "/products", 404, 0.001, None);
        }
        m.observe("BREW", "/products", 404, 0.001, None);
        m.observe("PATCH", "/products", 404, 0.001, None);
        let text = m.render();
        let counted: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("bazaar_http_requests_total{"))
            .collect();
        assert_eq!(counted.len(), 2, "{text}");
        assert!(
            text.contains(
                r#"bazaar_http_requests_total{service="gateway",method="_OTHER",route="/products",status="404"} 201"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"method="PATCH""#));
    }

    #[test]
    fn renders_counts_errors_and_latency() {
        let m = Metrics::new("catalog");
        m.observe("GET", "/products", 200, 0.002, None);
        m.observe("GET", "/products", 404, 0.001, None);
        let text = m.render();
        assert!(text.contains(
            r#"bazaar_http_requests_total{service="catalog",method="GET",route="/products",status="200"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"bazaar_http_request_errors_total{service="catalog",method="GET",route="/products",status="404"} 1"#
        ), "{text}");
        assert!(
            text.contains("bazaar_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }

    #[test]
    fn a_traced_request_is_its_buckets_exemplar_in_openmetrics_only() {
        let m = Metrics::new("catalog");
        let slow = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let quick = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        m.observe("GET", "/products/{id}", 200, 0.0003, Some(quick));
        m.observe("GET", "/products/{id}", 200, 0.003, None);
        m.observe("GET", "/products/{id}", 200, 0.012, Some(slow));

        let open = m.render_openmetrics();
        let bucket = |le: &str| {
            open.lines()
                .find(|l| {
                    l.starts_with("bazaar_http_request_duration_seconds_bucket{")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .unwrap_or_else(|| panic!("no bucket {le} in {open}"))
                .to_owned()
        };
        // 0.0003 s falls in the first bucket (≤ 0.5 ms), 0.012 s in ≤ 16 ms.
        assert!(
            bucket("0.0005").contains(r#"# {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.0003"#),
            "{open}"
        );
        assert!(
            bucket("0.016").contains(r#"# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.012"#),
            "{open}"
        );
        // The untraced request in ≤ 4 ms leaves its bucket without an exemplar.
        assert!(!bucket("0.004").contains(" # "), "{open}");
        assert!(open.ends_with("# EOF\n"), "{open}");

        let classic = m.render();
        assert!(!classic.contains("trace_id"), "{classic}");
        // A label value may hold anything, ` # {` included: only what follows the value
        // is an exemplar.
        let odd = r#"x_bucket{route="/a # {b}",le="0.1"} 3"#;
        assert_eq!(without_exemplar(odd), odd);
        assert_eq!(
            without_exemplar(&format!("{odd} # {{trace_id=\"ab\"}} 0.05")),
            odd
        );
        assert_eq!(
            classic.lines().count(),
            open.lines().count() - 1,
            "only the exemplars and `# EOF` are cut"
        );
        assert!(classic.contains(
            r#"bazaar_http_request_duration_seconds_bucket{service="catalog",le="0.016",method="GET",route="/products/{id}"} 3"#
        ), "{classic}");
    }

    #[tokio::test]
    async fn the_scraper_that_asks_for_openmetrics_gets_it() {
        let m = Metrics::new("catalog");
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        m.observe("GET", "/products", 200, 0.002, Some(trace));
        let scrape = |accept: &'static str| {
            let mut headers = HeaderMap::new();
            if !accept.is_empty() {
                headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
            }
            handler(State(m.clone()), headers)
        };
        let body = |res: Response| async {
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };

        // What Prometheus sends.
        let res = scrape(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
        )
        .await;
        assert_eq!(res.headers()[header::CONTENT_TYPE], OPENMETRICS);
        assert!(
            body(res)
                .await
                .contains("trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"")
        );

        for accept in [
            "",
            "text/plain",
            "*/*",
            "application/openmetrics-text;q=0",
            "text/plain, application/openmetrics-text;q=0.1",
        ] {
            let res = scrape(accept).await;
            assert_eq!(
                res.headers()[header::CONTENT_TYPE],
                "text/plain; version=0.0.4; charset=utf-8",
                "{accept:?}"
            );
            assert!(!body(res).await.contains("trace_id"), "{accept:?}");
        }
    }
}
