//! Prometheus metrics: per-route request count, error count and latency histogram, plus
//! whatever a service registers of its own. Served as text at `/metrics`.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Metric, Registry},
};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
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
    series: RwLock<HashMap<String, Vec<Series>>>,
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
                series: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Registers a service-specific metric.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        if let Ok(mut r) = self.inner.registry.write() {
            r.register(name, help, metric);
        }
    }

    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let known = |s: &Series| s.status == status && s.method == method;
        {
            let series = self.inner.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = series.get(route).and_then(|v| v.iter().find(|s| known(s))) {
                s.record(seconds);
                return;
            }
        }
        let mut series = self.inner.series.write().unwrap_or_else(|e| e.into_inner());
        let of_route = series.entry(route.to_owned()).or_default();
        if let Some(s) = of_route.iter().find(|s| known(s)) {
            s.record(seconds);
            return;
        }
        let s = self.inner.series(method, route, status);
        s.record(seconds);
        of_route.push(s);
    }

    /// The registry in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.inner.registry.read() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
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
    fn record(&self, seconds: f64) {
        self.requests.inc();
        if let Some(errors) = &self.errors {
            errors.inc();
        }
        self.duration.observe(seconds);
    }
}

/// `GET /metrics`.
pub async fn handler(State(metrics): State<Metrics>) -> Response {
    let mut res = metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_errors_and_latency() {
        let m = Metrics::new("catalog");
        m.observe("GET", "/products", 200, 0.002);
        m.observe("GET", "/products", 404, 0.001);
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
}
