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
    trace::{SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample},
};
use serde::{Deserialize, Serialize};
use std::{io::IsTerminal, sync::OnceLock, time::Duration};
use tracing::{Instrument, Level, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, Targets},
    fmt::{
        self,
        format::{DefaultFields, JsonFields},
    },
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

mod edge;
mod export;
mod fields;
mod request;
use fields::SpanFields;
pub use request::Request;

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
    let logs = match format {
        LogFormat::Json => json_logs(filter, std::io::stderr).boxed(),
        LogFormat::Text => {
            text_logs(filter, std::io::stderr().is_terminal(), std::io::stderr).boxed()
        }
    };
    let provider = exporting().then(|| provider(service)).flatten();
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("bazaar"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(span_filter().and(recorded_only()))
    });
    // What the OTEL_* variables ask that this build does not do, said once logs are on.
    let mut problems = Vec::new();
    if provider.is_some() {
        let (roots, problem) = Roots::from_env();
        let _ = ROOTS.set(roots);
        problems.extend(problem);
        problems.extend(otel_problems(|name| std::env::var(name).ok()));
    }
    // Without traces, no empty layer on top: an absent layer would make every call site
    // the log filter turns off "sometimes" wanted, asked again at each use.
    let logged = tracing_subscriber::registry().with(logs);
    // A request's span made only when it logs a line, unless the filter shows other spans.
    let lazy = !filter_is_detailed(&env_filter(filter));
    let installed = match traces {
        Some(traces) => install(logged.with(traces), lazy),
        None => install(logged, lazy),
    };
    if !installed {
        return Telemetry { provider: None };
    }
    let _ = TRACING.set(provider.is_some());
    let _ = LAZY.set(lazy);
    for problem in problems {
        tracing::warn!("{problem}");
    }
    Telemetry { provider }
}

/// The `OTEL_*` settings of the exporter and resource this build does not follow as set,
/// each a sentence saying what it does instead: silently, a collector listening for gRPC
/// would get nothing and nobody would know why. (The sampler's are [`Roots::read`]'s.)
fn otel_problems(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let mut problems = Vec::new();
    if let (_, Some(problem)) = protocol(var) {
        problems.push(problem);
    }
    problems.extend(batching(var).1);
    if let Some(name) = var("OTEL_SERVICE_NAME") {
        problems.push(format!(
            "OTEL_SERVICE_NAME={name} is ignored: each service's traces name the service itself"
        ));
    }
    if let Some(attributes) = var("OTEL_RESOURCE_ATTRIBUTES") {
        for key in ["service.name", "service.instance.id"] {
            if attributes
                .split(',')
                .any(|kv| kv.split('=').next().map(str::trim) == Some(key))
            {
                problems.push(format!(
                    "{key} in OTEL_RESOURCE_ATTRIBUTES is ignored: the service (and its replica) sets it"
                ));
            }
        }
    }
    problems
}

/// The batching of exported spans the `OTEL_BSP_*` variables ask for, each within what
/// makes sense, and a sentence for each one set outside it (its default is used instead).
/// The SDK reads them unchecked: a queue of 0 spans, or of 2^61, panicked every service at
/// start, and a delay of 0 kept an idle process exporting in a loop.
fn batching(
    var: impl Fn(&str) -> Option<String>,
) -> (opentelemetry_sdk::trace::BatchConfig, Vec<String>) {
    use opentelemetry_sdk::trace::BatchConfigBuilder;
    let mut problems = Vec::new();
    let mut read = |name: &str, range: std::ops::RangeInclusive<u64>, unit: &str| {
        let raw = var(name).filter(|v| !v.trim().is_empty())?;
        match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                problems.push(format!(
                    "{name}={raw} is not {} to {}{unit}; the default is used",
                    range.start(),
                    range.end()
                ));
                None
            }
        }
    };
    const HOUR_MS: u64 = 3_600_000;
    let queue = read("OTEL_BSP_MAX_QUEUE_SIZE", 1..=1 << 20, " spans");
    let delay = read("OTEL_BSP_SCHEDULE_DELAY", 10..=HOUR_MS, " ms");
    let batch = read("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1..=1 << 20, " spans");
    let timeout = read("OTEL_BSP_EXPORT_TIMEOUT", 1..=HOUR_MS, " ms");
    let exports = read("OTEL_BSP_MAX_CONCURRENT_EXPORTS", 1..=64, "");
    // The builder's defaults, and what it read of the variables, each replaced by the
    // checked value or the specification's default.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(queue.map_or(2_048, |n| n as usize))
        .with_scheduled_delay(Duration::from_millis(delay.unwrap_or(5_000)))
        .with_max_export_batch_size(batch.map_or(512, |n| n as usize))
        .with_max_export_timeout(Duration::from_millis(timeout.unwrap_or(30_000)))
        .with_max_concurrent_exports(exports.map_or(1, |n| n as usize))
        .build();
    (config, problems)
}

/// The OTLP encoding `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` (or `OTEL_EXPORTER_OTLP_PROTOCOL`)
/// asks for: protobuf by default, as the specification says, and for anything this build
/// cannot speak (gRPC), with a sentence saying so.
fn protocol(
    var: impl Fn(&str) -> Option<String>,
) -> (opentelemetry_otlp::Protocol, Option<String>) {
    use opentelemetry_otlp::Protocol;
    let asked = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .into_iter()
    .find_map(|name| {
        var(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    });
    match asked {
        None => (Protocol::HttpBinary, None),
        Some((_, v)) if v.trim() == "http/protobuf" => (Protocol::HttpBinary, None),
        Some((_, v)) if v.trim() == "http/json" => (Protocol::HttpJson, None),
        Some((name, v)) => (
            Protocol::HttpBinary,
            Some(format!(
                "{name}={v} is not supported (this build speaks http/protobuf and http/json); \
                 traces go as http/protobuf to the endpoint as set: point it at the \
                 collector's OTLP/HTTP port (4318 by default), not its gRPC port (4317)"
            )),
        ),
    }
}

/// Installs `subscriber` as the process's, wrapped in [`request::Lazy`] when `lazy`:
/// whether it was installed (not when one was already).
fn install<S>(subscriber: S, lazy: bool) -> bool
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    if lazy {
        request::Lazy::new(subscriber).try_init().is_ok()
    } else {
        subscriber.try_init().is_ok()
    }
}

/// Whether an untraced request's span is made only when it logs a line
/// ([`request::Lazy`] is installed): set once, by [`init`].
static LAZY: OnceLock<bool> = OnceLock::new();

/// Log lines as text, painted when `ansi`, through `writer`, under the log filter
/// `filter`; each span's fields are written by [`SpanFields`], which the log layer finds
/// done.
pub(crate) fn text_logs<S, W>(filter: &str, ansi: bool, writer: W) -> impl Layer<S> + use<S, W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    SpanFields::<DefaultFields>::new(!ansi)
        .and_then(fmt::layer().compact().with_ansi(ansi).with_writer(writer))
        .with_filter(log_filter(filter))
}

/// Log lines as JSON objects, one a line, through `writer`, under the log filter
/// `filter`; each span's fields are written by [`SpanFields`].
fn json_logs<S, W>(filter: &str, writer: W) -> impl Layer<S> + use<S, W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    SpanFields::<JsonFields>::new(true)
        .and_then(fmt::layer().json().flatten_event(true).with_writer(writer))
        .with_filter(log_filter(filter))
}

/// What the log lines show: what `filter` (`RUST_LOG` syntax) lets through, with the
/// spans of [`spans_in_logs`].
fn log_filter<S>(filter: &str) -> impl tracing_subscriber::layer::Filter<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let filter = env_filter(filter);
    let detailed = filter_is_detailed(&filter);
    filter.and(spans_in_logs(detailed))
}

/// The log filter `filter` (`RUST_LOG` syntax) sets, INFO if it is not one. lapin logs
/// every message the broker returns, body and all, at WARN; the relay handles returns
/// itself, so they are kept quiet unless the filter names lapin.
fn env_filter(filter: &str) -> EnvFilter {
    let filter = if filter.contains("lapin") {
        filter.to_owned()
    } else {
        format!("{filter},lapin::returned_messages=error")
    };
    EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Why `filter` (`BAZAAR_LOG`) is no filter to log with, or `None`. One that does not parse
/// would fall back to INFO, and a bare word that is no level (`warnn`) is, in `RUST_LOG`
/// syntax, a target logged at every level with nothing else logged at all: either mistake
/// went unsaid, the second with a silent log (the operator review).
pub fn log_filter_problem(filter: &str) -> Option<String> {
    if let Err(e) = EnvFilter::try_new(filter) {
        return Some(format!("BAZAAR_LOG `{filter}` is not a log filter: {e}"));
    }
    const LEVELS: &[&str] = &[
        "off", "error", "warn", "info", "debug", "trace", "0", "1", "2", "3", "4", "5",
    ];
    let word = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains(['=', '[', ':']))
        .find(|d| !LEVELS.contains(&d.to_ascii_lowercase().as_str()))?;
    Some(format!(
        "BAZAAR_LOG names `{word}`, which is no level (off, error, warn, info, debug, trace); \
         a target is written with its level, as in `info,{word}=debug`"
    ))
}

/// Whether a log filter asks for more than INFO anywhere (`debug`, `info,orders=debug`).
fn filter_is_detailed(filter: &EnvFilter) -> bool {
    filter
        .max_level_hint()
        .is_none_or(|most| most >= tracing::level_filters::LevelFilter::DEBUG)
}

/// The spans whose fields log lines show: a request's and an event handling's
/// (`request_id`, `method`, `path`; the event's type and id), and every other span
/// (`#[instrument]`ed functions, with their fields) only when the filter asks for detail
/// (`detailed`). The log layer formats a span's fields when the span is made, whether or
/// not a line is ever logged inside it: at INFO, the spans of every instrumented function
/// a request passed through cost the shop about a tenth of its CPU per checkout, for
/// lines that mostly never came (docs/benchmarks.md). Events are not filtered here.
fn spans_in_logs<S>(detailed: bool) -> impl tracing_subscriber::layer::Filter<S> {
    tracing_subscriber::filter::filter_fn(move |meta| {
        detailed || !meta.is_span() || matches!(meta.target(), RECORDED | UNRECORDED)
    })
    // Levels are the other filter's business: without a hint of its own this one would
    // take the pair's away, and with it the cheap global check of each line's level.
    .with_max_level_hint(tracing::level_filters::LevelFilter::TRACE)
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

/// Where spans are exported, for the log: the traces endpoint as set, else the base
/// endpoint with the standard `/v1/traces`.
fn traces_endpoint() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })
        .unwrap_or_default()
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
    // Chosen here, always: the specification's default is protobuf, the crate's (with its
    // JSON feature on, as our receiver decodes both) JSON, and a protocol this build does
    // not speak (gRPC) would otherwise become JSON without a word.
    let (protocol, _) = protocol(|name| std::env::var(name).ok());
    exporter = exporter.with_protocol(protocol);
    let exporter = match exporter.build() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("traces are not exported: {e}");
            return None;
        }
    };
    let exporter = export::Reported::new(exporter, traces_endpoint());
    let batches =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(batching(|name| std::env::var(name).ok()).0)
        .build();
    // A shell exports HOSTNAME, a container runtime sets it; the kernel knows it anyway.
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok());
    let instance = instance_id(
        std::env::var("BAZAAR_INSTANCE").ok(),
        host,
        std::process::id(),
    );
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("service.instance.id", instance))
        .build();
    Some(
        SdkTracerProvider::builder()
            .with_span_processor(batches)
            .with_sampler(RequestRoots)
            .with_resource(resource)
            .build(),
    )
}

/// The process's `service.instance.id`, which tells its spans from those of the service's
/// other replicas: the replica's name `bazaar up` gives it (`BAZAAR_INSTANCE`), else the
/// host's name (a Kubernetes pod's name) and the process id, else a random UUID.
fn instance_id(named: Option<String>, host: Option<String>, pid: u32) -> String {
    let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match (given(named), given(host)) {
        (Some(name), _) => name,
        (None, Some(host)) => format!("{host}:{pid}"),
        (None, None) => uuid::Uuid::new_v4().to_string(),
    }
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

/// Whether a span or event is one the OpenTelemetry layer should see: a span of
/// [`RECORDED`] (a request or an event handling that starts or continues a recorded
/// trace), or anything made inside such a span. Everything else (the spans and log lines
/// of requests whose trace is not recorded, background work) never reaches the layer, so
/// a request left out of the sample costs what it costs untraced.
fn recorded_only<S>() -> impl tracing_subscriber::layer::Filter<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing::subscriber::Interest;
    tracing_subscriber::filter::dynamic_filter_fn(|meta, cx| {
        meta.target() == RECORDED || cx.lookup_current().is_some()
    })
    // Decided once per call site where it can be: a span of a request left out of the
    // sample is never wanted here. Asked per span ("sometimes"), the registry would make
    // it even when no layer wants it (it is `enabled` while any filter's bit is clear),
    // and every poll of the request would enter and leave it.
    .with_callsite_filter(|meta| match meta.target() {
        UNRECORDED => Interest::never(),
        RECORDED => Interest::always(),
        _ => Interest::sometimes(),
    })
}

/// The target of the spans that start or continue a recorded trace: a request's (see
/// [`server_span`]) or an event handling's ([`consumer_span`]), made with this target only
/// once the trace is known to be recorded.
const RECORDED: &str = "bazaar::traced";

/// The target of the lean spans, for the logs only, of the requests and event handlings
/// whose trace is not recorded (or when nothing is traced).
const UNRECORDED: &str = "bazaar::untraced";

/// The traces this process starts, as the standard variables ask, set once by [`init`].
static ROOTS: OnceLock<Roots> = OnceLock::new();

/// Which requests start a recorded trace, when they come without a caller's decision:
/// `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio`, `ratelimited`, or
/// their `parentbased_` forms, which are the same here: a caller's decision is always
/// followed) with `OTEL_TRACES_SAMPLER_ARG` (the share for `traceidratio`, the traces a
/// second for `ratelimited`).
///
/// The default is `parentbased_ratelimited` at [`Roots::DEFAULT_PER_SECOND`]: every
/// request a person makes is traced, and a shop under load records a steady sample
/// instead of paying for a trace of every request (tracing one costs the gateway twice
/// what forwarding it does; see `docs/benchmarks.md`). This is not the specification's
/// default (`parentbased_always_on`), which `OTEL_TRACES_SAMPLER=always_on` restores.
#[derive(Debug)]
pub enum Roots {
    /// Every request.
    Every,
    /// None: only a caller's sampled `traceparent` makes a trace here.
    Never,
    /// This share of requests, at random.
    Share(f64),
    /// Every request, up to this many new traces a second (the rest unrecorded).
    PerSecond(governor::DefaultDirectRateLimiter, u32),
}

impl Roots {
    /// The default rate of new traces a second, per process.
    pub const DEFAULT_PER_SECOND: u32 = 20;

    /// The roots `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` ask for, and what in
    /// them was not followed ([`Roots::read`]).
    pub fn from_env() -> (Self, Option<String>) {
        let sampler = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
        let arg = std::env::var("OTEL_TRACES_SAMPLER_ARG").ok();
        Self::read(&sampler, arg.as_deref())
    }

    /// The roots `sampler` with `arg` asks for; anything not understood is the default.
    pub fn new(sampler: &str, arg: Option<&str>) -> Self {
        Self::read(sampler, arg).0
    }

    /// [`Roots::new`], and a sentence saying what of `sampler` and `arg` was not taken as
    /// given and what is done instead.
    pub fn read(sampler: &str, arg: Option<&str>) -> (Self, Option<String>) {
        let arg = arg.map(str::trim).filter(|a| !a.is_empty());
        let shown = arg.unwrap_or("");
        let sampler = sampler.trim();
        match sampler.trim_start_matches("parentbased_") {
            "always_on" => (Roots::Every, None),
            "always_off" => (Roots::Never, None),
            "traceidratio" => match arg.and_then(|a| a.parse::<f64>().ok()) {
                Some(1.0) => (Roots::Every, None),
                Some(0.0) => (Roots::Never, None),
                Some(r) if (0.0..1.0).contains(&r) => (Roots::Share(r), None),
                Some(r) if r > 1.0 && r.is_finite() => (
                    Roots::Every,
                    Some(format!(
                        "OTEL_TRACES_SAMPLER_ARG={shown} is not a share between 0 and 1; every request is traced"
                    )),
                ),
                Some(r) if r < 0.0 => (
                    Roots::Never,
                    Some(format!(
                        "OTEL_TRACES_SAMPLER_ARG={shown} is not a share between 0 and 1; no request starts a trace"
                    )),
                ),
                // Nonsense is every trace, as the specification asks.
                _ => (
                    Roots::Every,
                    Some(format!(
                        "OTEL_TRACES_SAMPLER_ARG={shown} is not a share between 0 and 1; every request is traced"
                    )),
                ),
            },
            "ratelimited" => match arg.map(str::parse::<u32>) {
                None => (Self::per_second(Self::DEFAULT_PER_SECOND), None),
                Some(Ok(n)) => (Self::per_second(n), None),
                Some(Err(_)) => (
                    Self::per_second(Self::DEFAULT_PER_SECOND),
                    Some(format!(
                        "OTEL_TRACES_SAMPLER_ARG={shown} is not a whole number of traces a second; {} a second",
                        Self::DEFAULT_PER_SECOND
                    )),
                ),
            },
            "" => (Self::per_second(Self::DEFAULT_PER_SECOND), None),
            _ => (
                Self::per_second(Self::DEFAULT_PER_SECOND),
                Some(format!(
                    "OTEL_TRACES_SAMPLER={sampler} is not one this build knows (always_on, always_off, \
                     traceidratio, ratelimited, or their parentbased_ forms); \
                     parentbased_ratelimited at {} traces a second",
                    Self::DEFAULT_PER_SECOND
                )),
            ),
        }
    }

    fn per_second(n: u32) -> Self {
        match std::num::NonZeroU32::new(n) {
            Some(n) => Roots::PerSecond(
                governor::RateLimiter::direct(governor::Quota::per_second(n)),
                n.get(),
            ),
            None => Roots::Never,
        }
    }

    /// Whether requests at `path` (probes, scrapes, documents, feeds) start no trace.
    fn never_traced(path: &str) -> bool {
        UNTRACED.iter().any(|p| path.starts_with(p))
    }

    /// Whether the request at `path`, which came without a caller's decision, starts a
    /// recorded trace. Probes, scrapes, documents and event feeds never do.
    pub fn admit(&self, path: &str) -> bool {
        if Self::never_traced(path) {
            return false;
        }
        match self {
            Roots::Every => true,
            Roots::Never => false,
            Roots::Share(r) => rand::random::<f64>() < *r,
            Roots::PerSecond(limiter, _) => limiter.check().is_ok(),
        }
    }
}

/// The edge's judgement of its callers' sampled flags, once [`at_the_edge`] is called.
static EDGE: OnceLock<edge::Edge> = OnceLock::new();

/// Makes this process the shop's edge (the gateway): a caller's sampled `traceparent` is
/// followed only within the sampler's budget, not always (see `telemetry/edge.rs`).
pub fn at_the_edge() {
    let _ = EDGE.get_or_init(edge::Edge::new);
}

/// The SDK's sampler, which sees only the spans [`recorded_only`] lets through: a span
/// with a parent follows its parent's decision; a root is one whose trace [`Roots`] has
/// already chosen to record, when it is a request served (not a probe, scrape or feed
/// poll: those are never made as roots). Nothing is decided twice.
#[derive(Debug, Clone)]
pub struct RequestRoots;

impl RequestRoots {
    /// Whether a span of `kind` named `name` may start a trace.
    pub fn may_start_a_trace(kind: &SpanKind, name: &str) -> bool {
        let path = name.split_once(' ').map_or(name, |(_, path)| path);
        *kind == SpanKind::Server && !UNTRACED.iter().any(|p| path.starts_with(p))
    }
}

/// Paths whose requests start no trace: probes, scrapes, documents, event feeds, the
/// storefront's files, and identity's public keys (fetched by every verifier, the
/// supervisor's among them, which traces nothing and so says nothing of it: each shop's
/// start had a one-span trace of it).
const UNTRACED: [&str; 7] = [
    "/health/",
    "/api/identity/.well-known/",
    "/metrics",
    "/openapi.json",
    "/events/",
    "/static/",
    "/favicon.ico",
];

impl ShouldSample for RequestRoots {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let keep = |yes: bool, trace_state: TraceState| SamplingResult {
            decision: if yes {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            },
            attributes: Vec::new(),
            trace_state,
        };
        if let Some(parent) = parent_context.filter(|cx| cx.has_active_span()) {
            let parent = parent.span().span_context().clone();
            if parent.is_valid() {
                return keep(parent.is_sampled(), parent.trace_state().clone());
            }
        }
        keep(
            Self::may_start_a_trace(span_kind, name),
            TraceState::default(),
        )
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
/// A call outside any recorded trace says so (a `traceparent` with the sampled flag off),
/// so the service called records nothing of it either.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if !tracing_enabled() {
        return;
    }
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeadersMut(headers));
    } else {
        headers.insert(TRACEPARENT, unrecorded_traceparent());
    }
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A `traceparent` for a trace nobody records: fresh ids, the sampled flag off. Written
/// in place, not formatted: the gateway makes one for nearly every request it forwards.
fn unrecorded_traceparent() -> HeaderValue {
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let trace = rand::random::<u128>().max(1).to_be_bytes();
    let span = rand::random::<u64>().max(1).to_be_bytes();
    let written = hex::encode_to_slice(trace, &mut text[3..35])
        .and_then(|()| hex::encode_to_slice(span, &mut text[36..52]));
    written
        .ok()
        .and_then(|()| HeaderValue::from_bytes(&text).ok())
        .unwrap_or(HeaderValue::from_static(
            "00-00000000000000000000000000000001-0000000000000001-00",
        ))
}

/// What the caller decided of the trace a request is part of, from its W3C `traceparent`:
/// `Some(true)` recorded, `Some(false)` not, `None` when it sent none (or one that is not
/// a `traceparent`) and the trace starts here.
fn callers_decision(headers: &HeaderMap) -> Option<bool> {
    decision_in(headers.get(TRACEPARENT)?.to_str().ok()?)
}

/// The sampled flag of the W3C `traceparent` `tp`, if it is one.
fn decision_in(tp: &str) -> Option<bool> {
    let b = tp.as_bytes();
    let shaped = b.len() >= 55
        && (b.len() == 55 || b[55] == b'-')
        && b[2] == b'-'
        && b[35] == b'-'
        && b[52] == b'-'
        && !tp.starts_with("ff");
    if !shaped {
        return None;
    }
    let flags = u8::from_str_radix(&tp[53..55], 16).ok()?;
    Some(flags & 1 == 1)
}

/// Whether the request with `headers` at `path` is recorded: as its caller decided, else
/// as this process's [`Roots`] decide. At the edge a caller's wish to be recorded is
/// granted within the sampler's budget ([`at_the_edge`]).
fn recorded(headers: &HeaderMap, path: &str) -> bool {
    match (callers_decision(headers), EDGE.get()) {
        (Some(true), Some(edge)) => {
            let trace = headers
                .get(TRACEPARENT)
                .and_then(|tp| tp.to_str().ok())
                .and_then(|tp| TraceId::from_hex(tp.get(3..35)?).ok());
            trace.is_some_and(|trace| edge.follows(trace, ROOTS.get(), path))
        }
        (Some(decided), _) => decided,
        (None, _) => ROOTS.get().is_some_and(|r| r.admit(path)),
    }
}

/// Whether the work in progress here belongs to a recorded trace: what a call or an
/// event made here joins, or leaves unrecorded (no span at all: calls are hot paths).
fn in_recorded_trace() -> bool {
    tracing_enabled() && Span::current().context().span().span_context().is_sampled()
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

/// Where a request a service serves is handled: inside its span, or for an untraced
/// request (at a log filter that shows no other span) inside a [`Request`] that makes
/// its span only if a line is logged.
pub enum RequestScope {
    Span(Span),
    Lazy(std::sync::Arc<Request>),
}

impl RequestScope {
    /// The request's span, for its status and its trace: none for a [`Request`] (untraced,
    /// nothing is recorded on it).
    pub fn span(&self) -> Span {
        match self {
            Self::Span(span) => span.clone(),
            Self::Lazy(_) => Span::none(),
        }
    }

    /// `work`, in this scope. Not an `async fn`: each layer of one would move `work` (a
    /// request's whole handling, large) once more before it first runs.
    pub fn run<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        use futures_util::future::Either;
        match self {
            // A span the log filter turned off is not entered and left around every poll.
            Self::Span(span) if span.is_disabled() => Either::Left(work),
            Self::Span(span) => Either::Right(Either::Left(work.instrument(span))),
            Self::Lazy(request) => Either::Right(Either::Right(request.scope(work))),
        }
    }
}

/// `work`, to run in another task, in the scope of the request the running task
/// serves (and its current span), so that the lines it logs carry the request.
pub fn in_this_request<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let request = Request::current();
    let work = work.instrument(Span::current());
    async move {
        match request {
            Some(request) => request.scope(work).await,
            None => work.await,
        }
    }
}

/// Where the request `method uri` with id `request_id` is handled (see [`RequestScope`]).
/// Traced, its span is named `METHOD route` (the route template, or the path where the
/// route is a wildcard), a child of the caller's trace if it sent one. Untraced, a lean
/// span for the logs (method, path and request id, under the names the traced span gives
/// them, so that one query finds both), made lazily where it can be.
pub fn request_scope(
    method: &http::Method,
    route: Option<&str>,
    uri: &http::Uri,
    headers: &HeaderMap,
    request_id: &HeaderValue,
) -> RequestScope {
    let path = uri.path();
    if !tracing_enabled() || !recorded(headers, path) {
        // Below INFO the span is never made, and neither is what it would be made from.
        if LAZY.get() == Some(&true) && tracing::level_enabled!(tracing::Level::INFO) {
            return RequestScope::Lazy(Request::new(
                method.clone(),
                uri.clone(),
                request_id.clone(),
            ));
        }
        // For the logs only: the OpenTelemetry fields would be formatted on every request
        // (whenever the log filter lets INFO through) for no reader.
        let request_id = request_id.to_str().unwrap_or("-");
        return RequestScope::Span(tracing::info_span!(
            target: UNRECORDED,
            "request",
            http.request.method = %method,
            url.path = &*at_most(path, MAX_PATH_SHOWN),
            request_id
        ));
    }
    let request_id = request_id.to_str().unwrap_or("-");
    let span = server_span(method, route, path, headers, request_id);
    // The edge follows the later requests of a trace it started (the storefront's calls
    // back through it), not of a client's: a client could reuse the id it was granted.
    if let Some(edge) = EDGE.get()
        && callers_decision(headers).is_none()
        && let Some(trace) = sampled_trace_id(&span)
    {
        edge.remember(trace);
    }
    RequestScope::Span(span)
}

/// The most of a request's path a span (and so a log line) keeps as `url.path`: a path
/// may be 64 KB long, and a log line or a trace is no place for all of it.
const MAX_PATH_SHOWN: usize = 2048;
/// The most of a client's path an edge span's name shows.
const MAX_PATH_NAMED: usize = 160;

/// `text` cut to at most `max` bytes at a character's boundary, with `…` where cut.
fn at_most(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..end]))
}

/// A client's path as a span's name shows it: printable ASCII as it is, anything else
/// (a control character, a direction override, any byte past ASCII the parser let
/// through) escaped as Rust writes it (`\u{9b}`), at most [`MAX_PATH_NAMED`] bytes.
fn shown_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= MAX_PATH_NAMED && path.bytes().all(|b| b.is_ascii_graphic()) {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut shown = String::with_capacity(MAX_PATH_NAMED + 4);
    for c in path.chars() {
        if shown.len() >= MAX_PATH_NAMED {
            shown.push('…');
            break;
        }
        if c.is_ascii_graphic() {
            shown.push(c);
        } else {
            shown.extend(c.escape_default());
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// The span of a request whose trace is recorded (see [`request_scope`]).
fn server_span(
    method: &http::Method,
    route: Option<&str>,
    path: &str,
    headers: &HeaderMap,
    request_id: &str,
) -> Span {
    // `http.route` is a template or nothing (OpenTelemetry's conventions: a back end
    // groups by it, so a raw path would make a group per id). The name is the method and
    // the template, or the method alone for a path no route matched; at the gateway,
    // whose routes are wildcards, the path itself (what a trace list must show, `POST
    // /checkout`; the gateway's only routes are its upstreams').
    let edge = EDGE.get().is_some();
    // A route that takes every path (`/{*path}`, the storefront's page for paths it does
    // not have) matched nothing in particular.
    let route = route.filter(|template| !template.starts_with("/{*"));
    let method_name = crate::metrics::method_label(method.as_str());
    let name = match route {
        Some(template) if !(edge && template.contains("{*")) => {
            format!("{method_name} {template}")
        }
        // A client's path, shown short and printable: it is the name the text log writes
        // bare, and what the trace list shows (a 64 KB path in every span of a trace
        // grew the supervisor's store by hundreds of megabytes: the observability review).
        _ if edge => format!("{method_name} {}", shown_path(path)),
        _ => method_name.to_owned(),
    };
    let span = tracing::info_span!(
        target: RECORDED,
        "request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = %method,
        http.route = Empty,
        url.path = &*at_most(path, MAX_PATH_SHOWN),
        request_id,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    if let Some(template) = route {
        span.record("http.route", template);
    }
    continue_from(&span, headers);
    record_trace_id(&span);
    span
}

/// Records the response's status on a server or client span; a 5xx marks it failed.
pub fn record_status(span: &Span, status: http::StatusCode) {
    // As an i64: tracing-opentelemetry turns any other integer into its text, and the
    // conventions (and every back end's queries) want a number.
    span.record("http.response.status_code", i64::from(status.as_u16()));
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
    if !in_recorded_trace() {
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
    if !in_recorded_trace() {
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
/// `traceparent`) when that trace is recorded. An event recorded outside any recorded
/// trace starts none.
pub fn consumer_span(
    consumer: &str,
    kind: &str,
    event_id: &str,
    traceparent: Option<&str>,
) -> Span {
    macro_rules! handle {
        ($($target:tt)*) => {
            tracing::info_span!(
                $($target)*
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
            )
        };
    }
    if !tracing_enabled() || traceparent.and_then(decision_in) != Some(true) {
        return handle!(target: UNRECORDED,);
    }
    let span = handle!(target: RECORDED,);
    join(&span, traceparent);
    record_trace_id(&span);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exporter that keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Kept(std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

    impl opentelemetry_sdk::trace::SpanExporter for Kept {
        fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send
        {
            self.0.lock().unwrap().extend(batch);
            std::future::ready(Ok(()))
        }
    }

    /// The spans `work` makes, as OpenTelemetry exports them.
    fn exported(work: impl FnOnce()) -> Vec<opentelemetry_sdk::trace::SpanData> {
        let kept = Kept::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(kept.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, work);
        std::mem::take(&mut *kept.0.lock().unwrap())
    }

    #[test]
    fn a_status_is_exported_as_a_number() {
        let spans = exported(|| {
            let span = tracing::info_span!("request", http.response.status_code = Empty);
            record_status(&span, http::StatusCode::CREATED);
        });
        let status = spans[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "http.response.status_code")
            .expect("the status");
        assert_eq!(status.value, opentelemetry::Value::I64(201));
    }

    /// A client's path names an edge span short and printable, and `url.path` keeps a
    /// bounded part of it (the observability review's 64 KB paths).
    #[test]
    fn a_clients_path_is_named_short_and_printable_and_kept_bounded() {
        assert_eq!(shown_path("/api/orders/checkout"), "/api/orders/checkout");
        assert_eq!(
            shown_path("/a\u{9b}31m\u{202e}b c"),
            "/a\\u{9b}31m\\u{202e}b c"
        );
        let long = format!("/{}", "x".repeat(70_000));
        let named = shown_path(&long);
        assert!(named.len() <= MAX_PATH_NAMED + '…'.len_utf8() && named.ends_with('…'));
        let kept = at_most(&long, MAX_PATH_SHOWN);
        assert_eq!(kept.len(), MAX_PATH_SHOWN + '…'.len_utf8());
        // Cut at a character's boundary.
        assert_eq!(at_most("aé", 2), "a…");
        assert_eq!(at_most("short", 2048), "short");
    }

    /// A server span is named by its route's template, which is its `http.route`; a path
    /// no route matched by its method alone, with no `http.route` (a raw path would make
    /// a group per id in any back end).
    #[test]
    fn a_server_span_names_its_template_never_a_raw_path() {
        let headers = HeaderMap::new();
        let spans = exported(|| {
            let get = http::Method::GET;
            let id = "/api/catalog/products/01a2";
            drop(server_span(
                &get,
                Some("/api/catalog/products/{id}"),
                id,
                &headers,
                "r1",
            ));
            drop(server_span(
                &get,
                None,
                "/api/catalog/nowhere/xyz",
                &headers,
                "r2",
            ));
            drop(server_span(
                &get,
                Some("/{*path}"),
                "/zzz/yy",
                &headers,
                "r3",
            ));
        });
        let route = |i: usize| {
            let kv = spans[i]
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "http.route");
            kv.map(|kv| kv.value.as_str().into_owned())
        };
        assert_eq!(spans[0].name, "GET /api/catalog/products/{id}");
        assert_eq!(route(0).as_deref(), Some("/api/catalog/products/{id}"));
        assert_eq!(spans[1].name, "GET");
        assert_eq!(route(1), None);
        assert_eq!(spans[2].name, "GET", "a catch-all is no match");
        assert_eq!(route(2), None);
    }

    /// An environment of `pairs` only, as the readers of `OTEL_*` variables take one.
    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// The SDK takes `OTEL_BSP_*` as they come: a queue of 0 spans panicked every service
    /// at start, one of 2^61 too, and a delay of 0 exported in a loop.
    #[test]
    fn span_batching_outside_its_bounds_is_named_and_the_default_used() {
        let (config, problems) = batching(env(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "18446744073709551615"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "10s"),
            ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "0"),
        ]));
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(
            problems[0].starts_with("OTEL_BSP_MAX_QUEUE_SIZE=0 is not 1 to 1048576 spans"),
            "{problems:#?}"
        );
        let shown = format!("{config:?}");
        for default in [
            "max_queue_size: 2048",
            "scheduled_delay: 5s",
            "max_export_batch_size: 512",
            "max_export_timeout: 30s",
            "max_concurrent_exports: 1",
        ] {
            assert!(shown.contains(default), "{default}: {shown}");
        }
        let (config, problems) = batching(env(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
            ("OTEL_BSP_SCHEDULE_DELAY", " 200 "),
        ]));
        assert!(problems.is_empty(), "{problems:#?}");
        let shown = format!("{config:?}");
        assert!(shown.contains("max_queue_size: 4096"), "{shown}");
        assert!(shown.contains("scheduled_delay: 200ms"), "{shown}");
        // A processor made with what was refused does not panic (the SDK's own reading of
        // a queue of 0 did).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (config, _) = batching(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]));
            let processor =
                opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                    Kept::default(),
                    opentelemetry_sdk::runtime::Tokio,
                )
                .with_batch_config(config)
                .build();
            drop(processor);
        });
    }

    #[test]
    fn otel_settings_this_build_does_not_follow_are_named() {
        assert!(otel_problems(env(&[])).is_empty());
        assert!(
            otel_problems(env(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment.name=prod"
                ),
            ]))
            .is_empty()
        );
        let problems = otel_problems(env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "my-catalog"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=x, service.instance.id=y",
            ),
        ]));
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(
            problems[0].contains("grpc is not supported"),
            "{problems:#?}"
        );
        // The sampler's, from the same reading that chooses the roots.
        let said = |sampler, arg| Roots::read(sampler, arg).1;
        assert!(said("bogus", None).is_some_and(|p| p.contains("bogus")));
        assert!(said("traceidratio", Some("abc")).is_some_and(|p| p.contains("every request")));
        assert!(said("traceidratio", Some("-0.5")).is_some_and(|p| p.contains("no request")));
        assert!(said("ratelimited", Some("x")).is_some());
        for fine in [
            ("", None),
            ("parentbased_traceidratio", Some("0.1")),
            ("traceidratio", Some("1")),
            ("ratelimited", None),
            ("always_off", None),
        ] {
            assert_eq!(said(fine.0, fine.1), None, "{fine:?}");
        }
        // The traces' own protocol variable comes first; gRPC is sent as protobuf.
        let (p, _) = protocol(env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]));
        assert_eq!(p, opentelemetry_otlp::Protocol::HttpJson);
        let (p, problem) = protocol(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
        assert_eq!(p, opentelemetry_otlp::Protocol::HttpBinary);
        assert!(problem.is_some());
    }

    #[test]
    fn every_process_has_an_instance_id_of_its_own() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(instance_id(some("catalog-2"), some("host"), 7), "catalog-2");
        assert_eq!(
            instance_id(some(" "), some("catalog-7f9c"), 7),
            "catalog-7f9c:7"
        );
        assert_eq!(instance_id(None, some("host"), 42), "host:42");
        let (a, b) = (instance_id(None, None, 1), instance_id(None, some(""), 1));
        assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
        assert_ne!(a, b, "two processes without a name get two ids");
    }

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
    fn the_roots_come_from_the_standard_variables() {
        let per_second = |r: Roots| match r {
            Roots::PerSecond(_, n) => Some(n),
            _ => None,
        };
        // Unset or not understood: every request, up to the default rate.
        assert_eq!(
            per_second(Roots::new("", None)),
            Some(Roots::DEFAULT_PER_SECOND)
        );
        assert_eq!(per_second(Roots::new("jaeger_remote", None)), Some(20));
        assert_eq!(
            per_second(Roots::new("parentbased_ratelimited", Some("5"))),
            Some(5)
        );
        assert_eq!(per_second(Roots::new("ratelimited", Some("x"))), Some(20));
        assert!(matches!(Roots::new("ratelimited", Some("0")), Roots::Never));
        assert!(matches!(Roots::new("always_on", None), Roots::Every));
        assert!(matches!(
            Roots::new("parentbased_always_on", None),
            Roots::Every
        ));
        assert!(matches!(Roots::new("always_off", None), Roots::Never));
        assert!(matches!(
            Roots::new("parentbased_always_off", None),
            Roots::Never
        ));
        assert!(matches!(Roots::new("traceidratio", Some("0.25")), Roots::Share(r) if r == 0.25));
        assert!(
            matches!(Roots::new("parentbased_traceidratio", Some(" 0.1 ")), Roots::Share(r) if r == 0.1)
        );
        assert!(matches!(
            Roots::new("traceidratio", Some("0")),
            Roots::Never
        ));
        // Nonsense falls back to every trace, as the specification asks.
        assert!(matches!(
            Roots::new("traceidratio", Some("2")),
            Roots::Every
        ));
        assert!(matches!(
            Roots::new("traceidratio", Some("x")),
            Roots::Every
        ));
        assert!(matches!(
            Roots::new("traceidratio", Some("NaN")),
            Roots::Every
        ));
    }

    #[test]
    fn a_rate_admits_a_seconds_worth_at_once_and_no_probe_ever() {
        // Two a second: a burst of two, the next one 500 ms later (far longer than the
        // loop takes).
        let roots = Roots::new("parentbased_ratelimited", Some("2"));
        let admitted = (0..100)
            .filter(|_| roots.admit("/api/catalog/products"))
            .count();
        assert_eq!(admitted, 2);
        let every = Roots::new("always_on", None);
        for path in [
            "/health/ready",
            "/metrics",
            "/events/log",
            "/openapi.json",
            "/static/app.css",
            "/api/identity/.well-known/jwks.json",
        ] {
            assert!(!every.admit(path), "{path}");
        }
        assert!(every.admit("/api/orders/checkout"));
        assert!(!Roots::new("always_off", None).admit("/api/orders/checkout"));
        let share = Roots::new("traceidratio", Some("0.25"));
        let admitted = (0..20_000).filter(|_| share.admit("/")).count();
        // 5,000 expected; the bounds are more than 7 standard deviations away.
        assert!((4_550..=5_450).contains(&admitted), "{admitted}");
    }

    #[test]
    fn a_callers_decision_is_its_traceparents_sampled_flag() {
        let decision = |tp: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_str(tp).unwrap());
            callers_decision(&headers)
        };
        let id = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
        assert_eq!(decision(&format!("{id}-01")), Some(true));
        assert_eq!(decision(&format!("{id}-00")), Some(false));
        assert_eq!(decision(&format!("{id}-03")), Some(true));
        // A later version may add fields after a dash; version ff is invalid.
        assert_eq!(decision(&format!("{id}-01-extra")), Some(true));
        assert_eq!(decision(&format!("{id}-01extra")), None);
        assert_eq!(decision(&format!("ff{}-01", &id[2..])), None);
        assert_eq!(decision(&format!("{id}-zz")), None);
        assert_eq!(decision("garbage"), None);
        assert_eq!(callers_decision(&HeaderMap::new()), None);
        let fresh = unrecorded_traceparent();
        assert_eq!(decision_in(fresh.to_str().unwrap()), Some(false));
        assert_ne!(fresh, unrecorded_traceparent());
        // What the standard propagator reads: valid ids, not sampled.
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, fresh);
        let cx = TraceContextPropagator::new().extract(&Headers(&headers));
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && !sc.is_sampled(), "{sc:?}");
    }

    /// The OpenTelemetry layer sees a recorded trace's root and all made inside it, and
    /// nothing of a request left out of the sample: not its span, not its children, not
    /// its log lines.
    #[test]
    fn only_recorded_work_reaches_the_opentelemetry_layer() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::Context as LayerContext;
        #[derive(Clone, Default)]
        struct Seen(Arc<Mutex<Vec<String>>>);
        impl<S> Layer<S> for Seen
        where
            S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
        {
            fn on_new_span(
                &self,
                attrs: &tracing::span::Attributes<'_>,
                _: &tracing::span::Id,
                _: LayerContext<'_, S>,
            ) {
                self.0
                    .lock()
                    .unwrap()
                    .push(attrs.metadata().name().to_owned());
            }
            fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("event {}", event.metadata().level()));
            }
        }
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(seen.clone().with_filter(span_filter().and(recorded_only())));
        tracing::subscriber::with_default(subscriber, || {
            let left_out = tracing::info_span!(target: UNRECORDED, "request");
            // Nothing else wants it here: not made at all, not entered on every poll.
            assert!(left_out.is_disabled());
            left_out.in_scope(|| {
                let _call = tracing::info_span!("call").entered();
                tracing::warn!("inside a request left out");
            });
            tracing::info_span!("background").in_scope(|| tracing::error!("outside any request"));
            let recorded = tracing::info_span!(target: RECORDED, "recorded");
            recorded.in_scope(|| {
                let _call = tracing::info_span!("recorded call").entered();
                tracing::warn!("inside a recorded request");
                // A library's own spans stay out even here.
                let _frame = tracing::info_span!(target: "hyper", "frame").entered();
            });
        });
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["recorded", "recorded call", "event WARN"]
        );
    }

    use crate::testing::logged;

    /// A request inside which a function instrumented at INFO logs a line.
    fn a_request() {
        let request = tracing::info_span!(target: UNRECORDED, "request", request_id = "r-1");
        request.in_scope(|| {
            let inner = tracing::info_span!("reserve", reservation_id = "o-7");
            inner.in_scope(|| tracing::info!(units = 2, "reservation held"));
            tracing::debug!("a detail");
        });
    }

    /// At INFO the log lines keep their request's fields and leave out the spans of the
    /// functions on the way (which are then not made at all); asked for detail, they show
    /// those too, and the DEBUG lines.
    #[test]
    fn log_lines_carry_the_request_and_the_functions_spans_only_in_detail() {
        let info = logged("info", a_request);
        assert!(info.contains("reservation held"), "{info}");
        assert!(info.contains("request_id=\"r-1\""), "{info}");
        assert!(info.contains("units=2"), "{info}");
        assert!(!info.contains("reservation_id"), "{info}");
        assert!(!info.contains("a detail"), "{info}");
        let detailed = logged("info,platform=debug", a_request);
        assert!(detailed.contains("reservation_id=\"o-7\""), "{detailed}");
        assert!(detailed.contains("request_id=\"r-1\""), "{detailed}");
        assert!(detailed.contains("a detail"), "{detailed}");
        // Nothing at all below WARN.
        assert_eq!(logged("warn", a_request), "");
        // The function's span is not made when no layer wants it, and the filter keeps
        // its level: lines below it are cut by the global check, before any filter.
        let subscriber =
            tracing_subscriber::registry().with(fmt::layer().with_filter(log_filter("info")));
        assert_eq!(
            tracing::Subscriber::max_level_hint(&subscriber),
            Some(tracing::level_filters::LevelFilter::INFO)
        );
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::info_span!("reserve").is_disabled())
        });
    }

    #[test]
    fn a_child_follows_its_parents_decision_and_a_probe_starts_nothing() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags};
        let sampler = RequestRoots;
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
    }
}
