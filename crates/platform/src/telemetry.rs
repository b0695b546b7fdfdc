//! Logs and traces.
//!
//! Logs go to standard error through `tracing`. Traces are `tracing` spans too, turned
//! into OpenTelemetry spans and exported over OTLP/HTTP when an endpoint is configured
//! with the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_BSP_*`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_SDK_DISABLED`). Without one nothing is exported, no
//! OpenTelemetry layer is installed, and tracing costs nothing beyond the logs.
//!
//! What becomes a trace: a trace starts only at a request a service serves (the
//! gateway's, for a shopper) — never at a health check, a metrics scrape, an event feed's
//! poll or a background job, which would bury the requests under thousands of
//! one-span traces. Everything a traced request causes joins its trace: the calls it
//! makes (`traceparent` injected), the events it records (their `traceparent` is the
//! producer span's) and the handling of those events (a consumer span, child of it).

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context, KeyValue,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{Link, SpanContext, SpanKind, TraceContextExt, TraceState, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample},
};
use serde::{Deserialize, Serialize};
use std::{io::IsTerminal, sync::OnceLock, time::Duration};
use tracing::{Level, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, fmt, layer::SubscriberExt, util::SubscriberInitExt,
};

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable single lines (the default; what `bazaar up` shows).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Whether this process exports traces: set once, by [`init`].
static TRACING: OnceLock<bool> = OnceLock::new();

/// Whether spans of this process become OpenTelemetry spans (an exporter is configured).
pub fn tracing_enabled() -> bool {
    TRACING.get().copied().unwrap_or(false)
}

/// The process's tracer provider, kept to flush its last spans on the way out.
#[must_use = "dropping it loses the spans not yet exported; call `shutdown`"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered, waiting at most `within`.
    pub async fn shutdown(self, within: Duration) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK's shutdown blocks its thread until the export task answers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown());
        if tokio::time::timeout(within, flushed).await.is_err() {
            tracing::debug!("the last spans were not exported in time");
        }
    }
}

/// Installs the global subscriber for the process that runs `service`: logs filtered by
/// `filter` (`RUST_LOG` syntax, such as `info,sqlx=warn`), and traces when an OTLP
/// endpoint is configured. Safe to call more than once: later calls change nothing.
pub fn init(filter: &str, format: LogFormat, service: &str) -> Telemetry {
    // lapin logs every message the broker returns, body and all, at WARN; the relay
    // handles returns itself. Kept quiet unless the filter names lapin.
    let filter = if filter.contains("lapin") {
        filter.to_owned()
    } else {
        format!("{filter},lapin::returned_messages=error")
    };
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt::layer()
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let provider = exporting().then(|| provider(service)).flatten();
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("bazaar"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(span_filter())
    });
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if !installed {
        return Telemetry { provider: None };
    }
    let _ = TRACING.set(provider.is_some());
    Telemetry { provider }
}

/// Logging for tests: silent unless `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = init("info,sqlx=warn", LogFormat::Text, "test");
    }
}

/// Whether the environment asks for traces to be exported.
fn exporting() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The OTLP/HTTP exporter and its batching, configured by the `OTEL_*` variables; `None`
/// (and a warning) when they are not usable.
fn provider(service: &str) -> Option<SdkTracerProvider> {
    let http = match crate::client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("traces are not exported: no HTTP client: {e}");
            return None;
        }
    };
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(http);
    // The specification's default is protobuf; the crate's, with its JSON feature on (our
    // receiver decodes both), is JSON, which costs more to encode and to decode.
    let chosen = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    if !chosen {
        exporter = exporter.with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
    }
    let exporter = match exporter.build() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("traces are not exported: {e}");
            return None;
        }
    };
    let batches =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let mut resource = Resource::builder().with_service_name(service.to_owned());
    if let Ok(instance) = std::env::var("BAZAAR_INSTANCE") {
        resource = resource.with_attribute(KeyValue::new("service.instance.id", instance));
    }
    Some(
        SdkTracerProvider::builder()
            .with_span_processor(batches)
            .with_sampler(RequestRoots::from_env())
            .with_resource(resource.build())
            .build(),
    )
}

/// Which spans become OpenTelemetry spans: the services' own at INFO and above, none of
/// the libraries' (each SQL statement or HTTP/1 frame would be a span).
fn span_filter() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target("sqlx", tracing::level_filters::LevelFilter::OFF)
        .with_target("hyper", tracing::level_filters::LevelFilter::OFF)
        .with_target("hyper_util", tracing::level_filters::LevelFilter::OFF)
        .with_target("reqwest", tracing::level_filters::LevelFilter::OFF)
        .with_target("lapin", tracing::level_filters::LevelFilter::OFF)
        .with_target("tantivy", tracing::level_filters::LevelFilter::OFF)
        .with_target("tower_http", tracing::level_filters::LevelFilter::OFF)
}

/// The sampler: a span with a parent follows its parent's decision; a root is sampled
/// only when it is a request served (not a probe, scrape or feed poll), then by the ratio
/// that `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio`, or their
/// `parentbased_` forms) and `OTEL_TRACES_SAMPLER_ARG` ask for (every trace by default).
#[derive(Debug, Clone)]
pub struct RequestRoots {
    ratio: f64,
}

impl RequestRoots {
    pub fn from_env() -> Self {
        let sampler = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
        let arg = std::env::var("OTEL_TRACES_SAMPLER_ARG").ok();
        Self::new(&sampler, arg.as_deref())
    }

    pub fn new(sampler: &str, arg: Option<&str>) -> Self {
        let ratio = match sampler.trim().trim_start_matches("parentbased_") {
            "always_off" => 0.0,
            "traceidratio" => arg
                .and_then(|a| a.trim().parse::<f64>().ok())
                .filter(|r| (0.0..=1.0).contains(r))
                .unwrap_or(1.0),
            _ => 1.0,
        };
        Self { ratio }
    }

    /// Whether a span of `kind` named `name` may start a trace.
    pub fn may_start_a_trace(kind: &SpanKind, name: &str) -> bool {
        let path = name.split_once(' ').map_or(name, |(_, path)| path);
        *kind == SpanKind::Server && !UNTRACED.iter().any(|p| path.starts_with(p))
    }
}

/// Paths whose requests start no trace: probes, scrapes, documents and event feeds.
const UNTRACED: [&str; 5] = [
    "/health/",
    "/metrics",
    "/openapi.json",
    "/events/",
    "/static/",
];

impl ShouldSample for RequestRoots {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if let Some(parent) = parent_context.filter(|cx| cx.has_active_span()) {
            let parent = parent.span().span_context().clone();
            if parent.is_valid() {
                return SamplingResult {
                    decision: if parent.is_sampled() {
                        SamplingDecision::RecordAndSample
                    } else {
                        SamplingDecision::Drop
                    },
                    attributes: Vec::new(),
                    trace_state: parent.trace_state().clone(),
                };
            }
        }
        if !Self::may_start_a_trace(span_kind, name) {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        Sampler::TraceIdRatioBased(self.ratio)
            .should_sample(None, trace_id, name, span_kind, attributes, links)
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// One value carried as `traceparent`, read by [`join`].
struct Carried<'a>(&'a str);

impl Extractor for Carried<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Makes `span` a child of the trace context `headers` carry (W3C `traceparent`), if any.
pub fn continue_from(span: &Span, headers: &HeaderMap) {
    if tracing_enabled() && headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        let _ = span.set_parent(parent);
    }
}

/// Makes `span` a child of the span whose W3C `traceparent` this is (as an event carries).
pub fn join(span: &Span, traceparent: Option<&str>) {
    if let Some(tp) = traceparent.filter(|_| tracing_enabled()) {
        let parent = TraceContextPropagator::new().extract(&Carried(tp));
        let _ = span.set_parent(parent);
    }
}

/// Puts `span`'s trace context into `headers` as `traceparent`, for the service called.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if tracing_enabled() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut HeadersMut(headers));
    }
}

/// `span`'s W3C `traceparent`, when it is part of a sampled trace: what an event records
/// so its handling joins the trace.
pub fn traceparent(span: &Span) -> Option<String> {
    let sc = sampled_context(span)?;
    Some(format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    ))
}

/// `span`'s OpenTelemetry context, when tracing is on and its trace is valid and sampled
/// (exported): what a `traceparent`, a log line's ids and an exemplar are made of.
fn sampled_context(span: &Span) -> Option<SpanContext> {
    if !tracing_enabled() {
        return None;
    }
    let sc = span.context().span().span_context().clone();
    (sc.is_valid() && sc.is_sampled()).then_some(sc)
}

/// Records `span`'s trace and span ids in its `trace_id` and `span_id` fields, so the
/// logs inside it name their trace.
fn record_trace_id(span: &Span) {
    if let Some(sc) = sampled_context(span) {
        span.record("trace_id", sc.trace_id().to_string());
        span.record("span_id", sc.span_id().to_string());
    }
}

/// A trace's id, as [`sampled_trace_id`] gives it and [`crate::metrics::Metrics::observe`]
/// takes it.
pub use opentelemetry::trace::TraceId;

/// The trace `span` belongs to, when tracing is on and the trace is sampled (exported):
/// what a latency histogram keeps as its bucket's exemplar, so a slow bucket links to a
/// trace that can be opened. `None` costs nothing when tracing is off.
pub fn sampled_trace_id(span: &Span) -> Option<TraceId> {
    sampled_context(span).map(|sc| sc.trace_id())
}

/// The span of a request a service serves, named `METHOD route` (the route template, or
/// the path where the route is a wildcard), a child of the caller's trace if it sent one.
/// Untraced, a lean span for the logs: method, path and request id.
pub fn server_span(
    method: &http::Method,
    route: Option<&str>,
    path: &str,
    headers: &HeaderMap,
    request_id: &str,
) -> Span {
    if !tracing_enabled() {
        // For the logs only: the OpenTelemetry fields would be formatted on every request
        // (whenever the log filter lets INFO through) for no reader.
        return tracing::info_span!("request", %method, path, request_id);
    }
    let route = route.filter(|r| !r.contains("{*")).unwrap_or(path);
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        url.path = path,
        request_id,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    continue_from(&span, headers);
    record_trace_id(&span);
    span
}

/// Records the response's status on a server or client span; a 5xx marks it failed.
pub fn record_status(span: &Span, status: http::StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Marks a span failed: a call that got no answer, or handling that failed.
pub fn record_failure(span: &Span) {
    span.record("otel.status_code", "ERROR");
}

/// The span of a call to another service, `METHOD service`; the call carries its
/// `traceparent` (see [`inject`]). Untraced, no span at all: calls are hot paths.
pub fn client_span(service: &str, method: &http::Method, path: &str) -> Span {
    if !tracing_enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "call",
        otel.name = %format_args!("{method} {service}"),
        otel.kind = "client",
        peer.service = service,
        http.request.method = %method,
        url.path = path,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    )
}

/// The span of recording an event in the outbox: its `traceparent` goes with the event.
pub fn producer_span(kind: &str) -> Span {
    if !tracing_enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "publish",
        otel.name = %format_args!("publish {kind}"),
        otel.kind = "producer",
        messaging.operation.type = "send",
        messaging.message.type = kind,
    )
}

/// The span of handling an event, a child of its producer's span (through the event's
/// `traceparent`). An event recorded outside any trace starts none.
pub fn consumer_span(
    consumer: &str,
    kind: &str,
    event_id: &str,
    traceparent: Option<&str>,
) -> Span {
    let span = tracing::info_span!(
        "handle",
        otel.name = %format_args!("handle {kind}"),
        otel.kind = "consumer",
        messaging.operation.type = "process",
        messaging.consumer.group.name = consumer,
        messaging.message.type = kind,
        messaging.message.id = event_id,
        otel.status_code = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    if tracing_enabled() {
        join(&span, traceparent);
        record_trace_id(&span);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_served_start_a_trace() {
        let may = RequestRoots::may_start_a_trace;
        assert!(may(&SpanKind::Server, "POST /api/orders/checkout"));
        assert!(may(&SpanKind::Server, "GET /api/catalog/products/{id}"));
        assert!(!may(&SpanKind::Server, "GET /health/ready"));
        assert!(!may(&SpanKind::Server, "GET /metrics"));
        assert!(!may(&SpanKind::Server, "GET /events/log"));
        assert!(!may(&SpanKind::Client, "GET identity"));
        assert!(!may(&SpanKind::Consumer, "handle order.confirmed"));
        assert!(!may(&SpanKind::Internal, "relay"));
    }

    #[test]
    fn the_ratio_comes_from_the_standard_variables() {
        assert_eq!(RequestRoots::new("", None).ratio, 1.0);
        assert_eq!(RequestRoots::new("always_off", None).ratio, 0.0);
        assert_eq!(RequestRoots::new("parentbased_always_off", None).ratio, 0.0);
        assert_eq!(RequestRoots::new("traceidratio", Some("0.25")).ratio, 0.25);
        assert_eq!(
            RequestRoots::new("parentbased_traceidratio", Some("0.1")).ratio,
            0.1
        );
        // Nonsense falls back to every trace, as the specification asks.
        assert_eq!(RequestRoots::new("traceidratio", Some("2")).ratio, 1.0);
        assert_eq!(RequestRoots::new("traceidratio", Some("x")).ratio, 1.0);
    }

    #[test]
    fn a_child_follows_its_parents_decision_and_a_probe_starts_nothing() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags};
        let sampler = RequestRoots::new("always_on", None);
        let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let decide = |parent: Option<&Context>, kind: SpanKind, name: &str| {
            sampler
                .should_sample(parent, id, name, &kind, &[], &[])
                .decision
        };
        for flags in [TraceFlags::SAMPLED, TraceFlags::default()] {
            let parent = Context::new().with_remote_span_context(SpanContext::new(
                id,
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                flags,
                true,
                TraceState::default(),
            ));
            let expected = if flags.is_sampled() {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            };
            // A probe inside a sampled trace is part of it: the parent decides.
            assert_eq!(
                decide(Some(&parent), SpanKind::Server, "GET /health/ready"),
                expected
            );
            assert_eq!(decide(Some(&parent), SpanKind::Internal, "saga"), expected);
        }
        assert_eq!(
            decide(None, SpanKind::Server, "POST /api/cart/items"),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(None, SpanKind::Server, "GET /health/live"),
            SamplingDecision::Drop
        );
        assert_eq!(
            decide(None, SpanKind::Internal, "purge"),
            SamplingDecision::Drop
        );
        let never = RequestRoots::new("always_off", None);
        assert_eq!(
            never
                .should_sample(
                    None,
                    id,
                    "POST /api/cart/items",
                    &SpanKind::Server,
                    &[],
                    &[]
                )
                .decision,
            SamplingDecision::Drop
        );
    }
}
