//! The embedded trace collector: an OTLP/HTTP receiver (`POST /v1/traces`, protobuf or
//! JSON) that keeps the most recent traces in memory, and the views the ops console
//! draws: recent traces slowest first, one trace's waterfall, and the map of the
//! services drawn from the calls and events the traces hold.
//!
//! `bazaar up` points its services at it unless the environment names a collector of its
//! own (`OTEL_EXPORTER_OTLP_ENDPOINT`); the system tests use it as their receiver.

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
    routing::post,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value::Value as AnyValueKind},
    trace::v1::{Span as OtlpSpan, status::StatusCode as OtlpStatus},
};
use platform::Problem;
use prost::Message;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

// What the store answers with, declared once for the ops console too; the filter also by
// the name the system tests and benches use.
pub use platform::traces::TraceFilter as Filter;
pub use platform::traces::{
    ServiceMap, ServiceMapEdge, SpanLink, SpanRecord, TraceFilter, TraceList, TraceSpan,
    TraceSummary, TraceView,
};

/// How many traces the store keeps by default (the oldest go first).
pub const KEPT: usize = 1_000;
/// How many spans one trace keeps at most.
const SPANS_PER_TRACE: usize = 2_000;
/// How much the kept spans may hold in all, roughly (names, attributes, ids): the oldest
/// traces go first past it. Counting traces alone let one client's long paths, or spans
/// added under one trace id, grow the supervisor by hundreds of megabytes (the
/// observability review).
pub const BYTES_KEPT: usize = 64 * 1024 * 1024;
/// The most of a span's name, and of each attribute's value, kept.
const MAX_TEXT: usize = 1024;
/// The most attributes of a span kept.
const MAX_ATTRIBUTES: usize = 64;
/// The largest export accepted.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The recent traces, by id, the oldest evicted first.
#[derive(Clone, Default)]
pub struct TraceStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    capacity: usize,
    /// [`BYTES_KEPT`], or a test's.
    budget: usize,
    traces: HashMap<String, Vec<SpanRecord>>,
    /// What each trace's spans hold ([`size_of`]), and all of them.
    sizes: HashMap<String, usize>,
    bytes: usize,
    order: VecDeque<String>,
}

impl TraceStore {
    /// A store keeping the `capacity` most recent traces, within [`BYTES_KEPT`].
    pub fn new(capacity: usize) -> Self {
        Self::within(capacity, BYTES_KEPT)
    }

    /// A store keeping the `capacity` most recent traces, within `budget` bytes.
    pub fn within(capacity: usize, budget: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                capacity: capacity.max(1),
                budget,
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps the spans of one export.
    pub fn ingest(&self, export: ExportTraceServiceRequest) -> usize {
        let mut received = 0;
        let mut inner = self.lock();
        for resource in export.resource_spans {
            let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
            let service =
                attribute(&attributes, "service.name").unwrap_or_else(|| "unknown".into());
            let instance = attribute(&attributes, "service.instance.id");
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let Some((trace_id, record)) = record(span, &service, &instance) else {
                        continue;
                    };
                    inner.keep(trace_id, record);
                    received += 1;
                }
            }
        }
        received
    }

    /// The traces that pass `filter`, slowest first.
    pub fn list(&self, filter: &TraceFilter) -> Vec<TraceSummary> {
        let inner = self.lock();
        let mut found: Vec<TraceSummary> = inner
            .traces
            .iter()
            .filter_map(|(id, spans)| summary(id, spans))
            .filter(|s| {
                filter.route.as_deref().is_none_or(|r| s.name.contains(r))
                    && filter
                        .service
                        .as_deref()
                        .is_none_or(|svc| s.services.iter().any(|x| x == svc))
                    && (!filter.errors || s.error)
            })
            .collect();
        found.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
        found.truncate(filter.capped_limit());
        found
    }

    /// One trace, as a waterfall.
    pub fn get(&self, trace_id: &str) -> Option<TraceView> {
        let inner = self.lock();
        let spans = inner.traces.get(&trace_id.to_ascii_lowercase())?;
        Some(waterfall(trace_id, spans))
    }

    /// The calls and event flows between services, over every trace kept. A call is
    /// counted from its caller's client span (`peer.service` names the callee), whose
    /// error is the caller's view: a call that timed out, or never reached a callee that
    /// was down or behind an open breaker, is a failed call even when the callee has no
    /// span of it or answered later. An event flow is a consumer's span under the
    /// producer's.
    pub fn map(&self) -> ServiceMap {
        let inner = self.lock();
        let mut services = BTreeSet::new();
        let mut edges: BTreeMap<(String, String, &'static str), (u64, u64)> = BTreeMap::new();
        let (mut first, mut last) = (u64::MAX, 0u64);
        for spans in inner.traces.values() {
            let by_id: HashMap<&str, &SpanRecord> =
                spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
            for span in spans {
                services.insert(span.service.clone());
                first = first.min(span.start_unix_nano);
                last = last.max(span.end_unix_nano);
                let (from, to, kind) = match span.kind.as_str() {
                    "client" => match span.attributes.get("peer.service") {
                        Some(callee) => (&span.service, callee, "call"),
                        None => continue,
                    },
                    "consumer" => {
                        let parent = span.parent_span_id.as_deref().and_then(|p| by_id.get(p));
                        match parent {
                            Some(producer) => (&producer.service, &span.service, "event"),
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                if from == to {
                    continue;
                }
                // A callee that never answered has no span of its own, but is on the map.
                services.insert(to.clone());
                let entry = edges.entry((from.clone(), to.clone(), kind)).or_default();
                entry.0 += 1;
                entry.1 += u64::from(span.error);
            }
        }
        let window_seconds = if last > first {
            (last - first) as f64 / 1e9
        } else {
            0.0
        };
        ServiceMap {
            services: services.into_iter().collect(),
            edges: edges
                .into_iter()
                .map(|((from, to, kind), (count, errors))| ServiceMapEdge {
                    from,
                    to,
                    kind: kind.to_owned(),
                    count,
                    errors,
                    per_second: if window_seconds > 0.0 {
                        count as f64 / window_seconds
                    } else {
                        0.0
                    },
                })
                .collect(),
            window_seconds,
        }
    }
}

impl Inner {
    fn keep(&mut self, trace_id: String, span: SpanRecord) {
        let size = size_of(&span);
        if let Some(spans) = self.traces.get(&trace_id) {
            if spans.len() >= SPANS_PER_TRACE || spans.iter().any(|s| s.span_id == span.span_id) {
                return;
            }
        } else {
            while self.order.len() >= self.capacity && self.evict_oldest(None) {}
            self.order.push_back(trace_id.clone());
            self.traces.insert(trace_id.clone(), Vec::new());
        }
        // Older traces make room; a span that would not fit beside its own trace alone
        // is left out.
        while self.bytes + size > self.budget && self.evict_oldest(Some(&trace_id)) {}
        if self.bytes + size > self.budget {
            return;
        }
        self.bytes += size;
        *self.sizes.entry(trace_id.clone()).or_default() += size;
        if let Some(spans) = self.traces.get_mut(&trace_id) {
            spans.push(span);
        }
    }

    /// Evicts the oldest trace but `spare`; `false` when there is none.
    fn evict_oldest(&mut self, spare: Option<&str>) -> bool {
        let Some(at) = self.order.iter().position(|id| Some(id.as_str()) != spare) else {
            return false;
        };
        if let Some(oldest) = self.order.remove(at) {
            self.traces.remove(&oldest);
            self.bytes -= self.sizes.remove(&oldest).unwrap_or(0);
        }
        true
    }
}

/// Roughly what a kept span holds: its texts, and its fixed fields.
fn size_of(span: &SpanRecord) -> usize {
    const FIXED: usize = 160;
    FIXED
        + span.name.len()
        + span.service.len()
        + span.instance.as_ref().map_or(0, String::len)
        + span
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum::<usize>()
        + span.links.len() * 80
}

/// `text` cut to at most [`MAX_TEXT`] bytes at a character's boundary, `…` where cut.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(value_text)
}

fn value_text(value: &AnyValue) -> String {
    match &value.value {
        Some(AnyValueKind::StringValue(s)) => s.clone(),
        Some(AnyValueKind::BoolValue(b)) => b.to_string(),
        Some(AnyValueKind::IntValue(i)) => i.to_string(),
        Some(AnyValueKind::DoubleValue(d)) => d.to_string(),
        Some(AnyValueKind::BytesValue(b)) => hex(b),
        Some(AnyValueKind::ArrayValue(a)) => a
            .values
            .iter()
            .map(value_text)
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn kind_name(kind: i32) -> &'static str {
    match kind {
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "internal",
    }
}

/// A received span as kept; `None` for one without valid ids.
fn record(
    span: OtlpSpan,
    service: &str,
    instance: &Option<String>,
) -> Option<(String, SpanRecord)> {
    if span.trace_id.len() != 16 || span.span_id.len() != 8 {
        return None;
    }
    let error = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == OtlpStatus::Error as i32);
    let attributes = span
        .attributes
        .iter()
        .filter_map(|kv| {
            kv.value
                .as_ref()
                .map(|v| (bounded(kv.key.clone()), bounded(value_text(v))))
        })
        .take(MAX_ATTRIBUTES)
        .collect();
    let links = span
        .links
        .iter()
        .map(|l| SpanLink {
            trace_id: hex(&l.trace_id),
            span_id: hex(&l.span_id),
        })
        .collect();
    Some((
        hex(&span.trace_id),
        SpanRecord {
            span_id: hex(&span.span_id),
            parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex(&span.parent_span_id)),
            service: service.to_owned(),
            instance: instance.clone(),
            kind: kind_name(span.kind).to_owned(),
            name: bounded(span.name),
            start_unix_nano: span.start_time_unix_nano,
            end_unix_nano: span.end_time_unix_nano.max(span.start_time_unix_nano),
            error,
            attributes,
            links,
        },
    ))
}

fn rfc3339(unix_nano: u64) -> String {
    let secs = (unix_nano / 1_000_000_000) as i64;
    let nanos = (unix_nano % 1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn millis(nanos: u64) -> f64 {
    (nanos as f64 / 1e4).round() / 100.0
}

/// The root: the span without a parent, else the earliest one whose parent is missing.
fn root(spans: &[SpanRecord]) -> Option<&SpanRecord> {
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    spans
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .min_by_key(|s| s.start_unix_nano)
        .or_else(|| {
            spans
                .iter()
                .filter(|s| {
                    s.parent_span_id
                        .as_deref()
                        .is_some_and(|p| !ids.contains(p))
                })
                .min_by_key(|s| s.start_unix_nano)
        })
}

fn bounds(spans: &[SpanRecord]) -> (u64, u64) {
    let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_unix_nano).max().unwrap_or(start);
    (start, end)
}

fn summary(trace_id: &str, spans: &[SpanRecord]) -> Option<TraceSummary> {
    let root = root(spans)?;
    let (start, end) = bounds(spans);
    Some(TraceSummary {
        trace_id: trace_id.to_owned(),
        service: root.service.clone(),
        name: root.name.clone(),
        started_at: rfc3339(start),
        duration_ms: millis(end - start),
        spans: spans.len(),
        services: spans
            .iter()
            .map(|s| s.service.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        error: spans.iter().any(|s| s.error),
    })
}

fn waterfall(trace_id: &str, spans: &[SpanRecord]) -> TraceView {
    let (start, end) = bounds(spans);
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<Option<&str>, Vec<&SpanRecord>> = HashMap::new();
    for span in spans {
        // A span whose parent never arrived is shown as a root, marked.
        let parent = span.parent_span_id.as_deref().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_unix_nano);
    }
    let mut ordered = Vec::with_capacity(spans.len());
    let mut stack: Vec<(&SpanRecord, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|s| (*s, 0)).collect())
        .unwrap_or_default();
    while let Some((span, depth)) = stack.pop() {
        ordered.push(TraceSpan {
            span: span.clone(),
            offset_ms: millis(span.start_unix_nano - start),
            duration_ms: millis(span.end_unix_nano - span.start_unix_nano),
            depth,
            orphan: span.parent_span_id.is_some() && depth == 0,
        });
        if let Some(kids) = children.get(&Some(span.span_id.as_str())) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    TraceView {
        trace_id: trace_id.to_owned(),
        started_at: rfc3339(start),
        duration_ms: millis(end - start),
        spans: ordered,
    }
}

#[derive(Clone)]
struct Receiver {
    store: TraceStore,
    /// The bearer token exports must carry, if any.
    token: Option<Arc<str>>,
}

/// The OTLP/HTTP receiver: `POST /v1/traces` into `store`, requiring `token` as a bearer
/// token when given.
pub fn receiver(store: TraceStore, token: Option<&str>) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Receiver {
            store,
            token: token.map(Into::into),
        })
}

async fn export(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = &r.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_none_or(|g| !crate::control::constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return Problem::unauthorized("exports take the collector's token").into_response();
        }
    }
    let json = match platform::extract::media_type(&headers).as_str() {
        "application/x-protobuf" | "application/protobuf" => false,
        "application/json" => true,
        other => {
            return Problem::unsupported_media_type(format!(
                "OTLP/HTTP exports are application/x-protobuf or application/json, not `{other}`"
            ))
            .into_response();
        }
    };
    let decoded = if json {
        serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
    };
    let request = match decoded {
        Ok(r) => r,
        Err(e) => {
            return Problem::bad_request(format!("the export could not be decoded: {e}"))
                .into_response();
        }
    };
    r.store.ingest(request);
    let answer = ExportTraceServiceResponse::default();
    if json {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            answer.encode_to_vec(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use opentelemetry_proto::tonic::{
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Status},
    };

    fn span(
        trace: u8,
        id: u8,
        parent: Option<u8>,
        name: &str,
        kind: i32,
        start: u64,
        end: u64,
    ) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..OtlpSpan::default()
        }
    }

    /// `span`, a client span, naming the service it calls (as `platform::telemetry`'s do).
    fn calling(service: &str, mut span: OtlpSpan) -> OtlpSpan {
        span.attributes.push(KeyValue {
            key: "peer.service".into(),
            value: Some(AnyValue {
                value: Some(AnyValueKind::StringValue(service.into())),
            }),
            ..KeyValue::default()
        });
        span
    }

    fn export_of(service: &str, spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(AnyValueKind::StringValue(service.into())),
                        }),
                        ..KeyValue::default()
                    }],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    /// A checkout: the gateway calls orders, which calls payments; notifications handles
    /// the event orders recorded.
    fn checkout(store: &TraceStore, trace: u8, slow: u64) {
        let ms = 1_000_000;
        store.ingest(export_of(
            "gateway",
            vec![
                span(
                    trace,
                    1,
                    None,
                    "POST /api/orders/checkout",
                    2,
                    0,
                    (30 + slow) * ms,
                ),
                calling(
                    "orders",
                    span(trace, 2, Some(1), "POST orders", 3, ms, (29 + slow) * ms),
                ),
            ],
        ));
        // Payments never answered: it has no span of this call.
        let mut failed = calling(
            "payments",
            span(trace, 4, Some(3), "POST payments", 3, 5 * ms, 9 * ms),
        );
        failed.status = Some(Status {
            code: OtlpStatus::Error as i32,
            ..Status::default()
        });
        store.ingest(export_of(
            "orders",
            vec![
                span(
                    trace,
                    3,
                    Some(2),
                    "POST /api/orders/checkout",
                    2,
                    2 * ms,
                    (28 + slow) * ms,
                ),
                failed,
                span(
                    trace,
                    6,
                    Some(3),
                    "publish order.confirmed",
                    4,
                    10 * ms,
                    11 * ms,
                ),
            ],
        ));
        store.ingest(export_of(
            "notifications",
            vec![span(
                trace,
                7,
                Some(6),
                "handle order.confirmed",
                5,
                40 * ms,
                42 * ms,
            )],
        ));
    }

    #[test]
    fn a_trace_is_listed_with_its_root_and_shown_as_a_waterfall() {
        let store = TraceStore::new(10);
        checkout(&store, 0xa1, 0);
        let listed = store.list(&TraceFilter::default());
        assert_eq!(listed.len(), 1);
        let t = &listed[0];
        assert_eq!(
            (t.service.as_str(), t.name.as_str()),
            ("gateway", "POST /api/orders/checkout")
        );
        assert_eq!(t.spans, 6);
        assert_eq!(t.services, ["gateway", "notifications", "orders"]);
        assert!(t.error);
        assert_eq!(t.duration_ms, 42.0);

        let view = store.get(&t.trace_id).unwrap();
        let order: Vec<(&str, usize)> = view
            .spans
            .iter()
            .map(|s| (s.span.name.as_str(), s.depth))
            .collect();
        assert_eq!(
            order,
            [
                ("POST /api/orders/checkout", 0),
                ("POST orders", 1),
                ("POST /api/orders/checkout", 2),
                ("POST payments", 3),
                ("publish order.confirmed", 3),
                ("handle order.confirmed", 4),
            ]
        );
        assert!(view.spans.iter().all(|s| !s.orphan));
        assert_eq!(view.spans[3].offset_ms, 5.0);
        assert_eq!(view.spans[3].duration_ms, 4.0);
    }

    #[test]
    fn traces_are_listed_slowest_first_and_filtered() {
        let store = TraceStore::new(10);
        checkout(&store, 1, 0);
        checkout(&store, 2, 100);
        store.ingest(export_of(
            "gateway",
            vec![span(
                3,
                1,
                None,
                "GET /api/catalog/products",
                2,
                0,
                1_000_000,
            )],
        ));
        let all = store.list(&TraceFilter::default());
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].trace_id, hex(&[2; 16]));
        let by_route = store.list(&TraceFilter {
            route: Some("catalog".into()),
            ..TraceFilter::default()
        });
        assert_eq!(by_route.len(), 1);
        let by_service = store.list(&TraceFilter {
            service: Some("notifications".into()),
            ..TraceFilter::default()
        });
        assert_eq!(by_service.len(), 2);
        let failed = store.list(&TraceFilter {
            errors: true,
            limit: Some(1),
            ..TraceFilter::default()
        });
        assert_eq!(failed.len(), 1);
        assert!(failed[0].error);
    }

    #[test]
    fn the_oldest_traces_make_room_and_repeated_spans_are_kept_once() {
        let store = TraceStore::new(2);
        for t in 1..=3 {
            checkout(&store, t, 0);
        }
        checkout(&store, 3, 0);
        let ids: BTreeSet<String> = store
            .list(&TraceFilter::default())
            .into_iter()
            .map(|s| s.trace_id)
            .collect();
        assert_eq!(ids, [hex(&[2; 16]), hex(&[3; 16])].into_iter().collect());
        assert_eq!(store.get(&hex(&[3; 16])).unwrap().spans.len(), 6);
    }

    #[test]
    fn long_texts_are_cut_and_the_spans_kept_stay_within_the_budget() {
        // Room for a few dozen long spans, in as many traces as one likes.
        let store = TraceStore::within(1_000, 200 * 1024);
        let long = format!("GET /{}", "x".repeat(64_000));
        let mut with_long_attribute = span(1, 1, None, &long, 2, 0, 10);
        with_long_attribute.attributes.push(KeyValue {
            key: "url.path".into(),
            value: Some(AnyValue {
                value: Some(AnyValueKind::StringValue(long.clone())),
            }),
            ..KeyValue::default()
        });
        store.ingest(export_of("gateway", vec![with_long_attribute]));
        let kept = store.get(&hex(&[1; 16])).unwrap();
        let first = &kept.spans[0].span;
        assert!(first.name.len() <= MAX_TEXT + 3 && first.name.ends_with('…'));
        assert!(first.attributes["url.path"].len() <= MAX_TEXT + 3);

        // Spans of one trace id, and of many, long names each: the oldest traces go, and
        // a trace alone never grows past the budget.
        for id in 0..=255u8 {
            let spans = (0..4).map(|s| span(2, s, None, &long, 2, 0, 10)).collect();
            store.ingest(export_of("gateway", spans));
            store.ingest(export_of(
                "gateway",
                vec![span(id, 9, None, &long, 2, 0, 10)],
            ));
            let inner = store.lock();
            assert!(
                inner.bytes <= inner.budget,
                "{} > {}",
                inner.bytes,
                inner.budget
            );
            assert_eq!(inner.bytes, inner.sizes.values().sum::<usize>());
        }
        assert!(store.get(&hex(&[255; 16])).is_some(), "the newest is kept");
        assert!(store.get(&hex(&[3; 16])).is_none(), "the oldest went");
    }

    #[test]
    fn a_span_whose_parent_never_came_is_an_orphan() {
        let store = TraceStore::new(2);
        store.ingest(export_of(
            "cart",
            vec![span(9, 5, Some(4), "handle order.confirmed", 5, 0, 10)],
        ));
        let view = store.get(&hex(&[9; 16])).unwrap();
        assert!(view.spans[0].orphan);
    }

    #[test]
    fn the_map_shows_calls_and_events_between_services() {
        let store = TraceStore::new(10);
        checkout(&store, 1, 0);
        checkout(&store, 2, 0);
        let map = store.map();
        assert_eq!(
            map.services,
            ["gateway", "notifications", "orders", "payments"]
        );
        let edges: Vec<(&str, &str, &str, u64, u64)> = map
            .edges
            .iter()
            .map(|e| {
                let (from, to, kind) = (e.from.as_str(), e.to.as_str(), e.kind.as_str());
                (from, to, kind, e.count, e.errors)
            })
            .collect();
        // The calls to payments failed and payments has no span of them: they are still
        // calls, failed ones, as their caller saw them.
        assert_eq!(
            edges,
            [
                ("gateway", "orders", "call", 2, 0),
                ("orders", "notifications", "event", 2, 0),
                ("orders", "payments", "call", 2, 2),
            ]
        );
    }

    #[tokio::test]
    async fn the_receiver_takes_protobuf_and_json_and_refuses_the_rest() {
        use tower::ServiceExt;
        let store = TraceStore::new(10);
        let app = receiver(store.clone(), Some("secret"));
        let proto =
            export_of("cart", vec![span(1, 1, None, "GET /api/cart", 2, 0, 5)]).encode_to_vec();
        let json = serde_json::to_vec(&export_of(
            "cart",
            vec![span(2, 1, None, "GET /api/cart", 2, 0, 5)],
        ))
        .unwrap();
        let cases = [
            (
                proto.clone(),
                "application/x-protobuf",
                None,
                StatusCode::UNAUTHORIZED,
            ),
            (
                proto,
                "application/x-protobuf",
                Some("secret"),
                StatusCode::OK,
            ),
            (
                json,
                "application/json; charset=utf-8",
                Some("secret"),
                StatusCode::OK,
            ),
            (
                b"{".to_vec(),
                "application/json",
                Some("secret"),
                StatusCode::BAD_REQUEST,
            ),
            (
                vec![],
                "text/plain",
                Some("secret"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
        ];
        for (body, content_type, token, expected) in cases {
            let mut req =
                axum::http::Request::post("/v1/traces").header(header::CONTENT_TYPE, content_type);
            if let Some(t) = token {
                req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let req = req.body(axum::body::Body::from(body)).unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), expected, "{content_type}, token {token:?}");
        }
        assert_eq!(store.list(&TraceFilter::default()).len(), 2);
    }
}
