//! A request's place in the log lines, for a request whose trace is not recorded: its
//! span is made only when a line is logged inside it.
//!
//! At the default log filter every request a service serves had a span of its own
//! (method, path, request id) so that the lines logged while serving it carry them. Made
//! for every request, entered and left on every poll and closed at the end, that span cost
//! the gateway about an eighth of its instructions per forwarded request at INFO
//! (docs/benchmarks.md), though most requests log nothing at all. Here a request carries
//! its method, path and id in a task-local [`Request`] instead, which costs a pointer swap
//! per poll, and [`Lazy`], wrapped around the process's subscriber, makes the span from
//! them just before the request's first line and enters it around each line. The span is
//! the one the request had before (same name, target and fields), so its lines read as
//! they did, in text and in JSON.
//!
//! Only at a filter that shows no other span (INFO, WARN, ...): under a detailed one
//! (`debug`), spans made inside a request must have the request's as their parent, so
//! the request gets its span when it starts, as before.

use std::{
    any::TypeId,
    future::Future,
    sync::{Arc, OnceLock},
};
use tokio::task::futures::TaskLocalFuture;
use tracing::{
    Event, Level, Metadata, Subscriber,
    field::{FieldSet, Value, display},
    level_filters::LevelFilter,
    span::{Attributes, Id, Record},
    subscriber::Interest,
};
use tracing_core::{
    Kind,
    callsite::{self, Callsite},
    dispatcher::{Dispatch, WeakDispatch},
};

tokio::task_local! {
    /// The request the running task serves, when its span is made lazily.
    static REQUEST: Arc<Request>;
}

/// A request a process serves, as its log lines show it: what its span holds.
pub struct Request {
    method: http::Method,
    uri: http::Uri,
    request_id: http::HeaderValue,
    /// The span, once a line has been logged inside the request (`None` inside: the log
    /// filter did not want it), and the subscriber that made it, which closes it.
    span: OnceLock<Option<(Id, WeakDispatch)>>,
}

impl Request {
    /// The request `method uri` with id `request_id`, no span made yet.
    pub fn new(method: http::Method, uri: http::Uri, request_id: http::HeaderValue) -> Arc<Self> {
        Arc::new(Self {
            method,
            uri,
            request_id,
            span: OnceLock::new(),
        })
    }

    /// `work`, inside this request: lines logged while it runs carry the request.
    pub fn scope<F: Future>(self: Arc<Self>, work: F) -> TaskLocalFuture<Arc<Self>, F> {
        REQUEST.scope(self, work)
    }

    /// The request the running task serves, if any (to carry it into another task).
    pub fn current() -> Option<Arc<Self>> {
        REQUEST.try_with(Arc::clone).ok()
    }

    /// The request's span, made by `subscriber` (through `dispatch`, which closes it when
    /// the request ends) the first time it is asked for.
    fn span<S: Subscriber>(&self, subscriber: &S, dispatch: &WeakDispatch) -> Option<Id> {
        let made = self.span.get_or_init(|| {
            let meta = CALLSITE.metadata();
            // The span is made as the `tracing` macros make one: asked for, then made.
            if !subscriber.enabled(meta) {
                return None;
            }
            let fields = meta.fields();
            let (method, path, request_id) = (
                fields.field("http.request.method")?,
                fields.field("url.path")?,
                fields.field("request_id")?,
            );
            let id = self.request_id.to_str().unwrap_or("-");
            let values: [(&_, Option<&dyn Value>); 3] = [
                (&method, Some(&display(&self.method))),
                (&path, Some(&self.uri.path())),
                (&request_id, Some(&id)),
            ];
            let values = fields.value_set(&values);
            let span = subscriber.new_span(&Attributes::new_root(meta, &values));
            Some((span, dispatch.clone()))
        });
        made.as_ref().map(|(id, _)| id.clone())
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(Some((id, dispatch))) = self.span.take()
            && let Some(dispatch) = dispatch.upgrade()
        {
            dispatch.try_close(id);
        }
    }
}

/// The call site of a request's span: the lean span [`super::request_scope`] makes at
/// once for an untraced request under a detailed filter, with the same name, target and
/// fields (the tests compare the lines of both).
struct RequestCallsite;

static CALLSITE: RequestCallsite = RequestCallsite;

static FIELDS: [&str; 3] = ["http.request.method", "url.path", "request_id"];

static METADATA: Metadata<'static> = Metadata::new(
    "request",
    super::UNRECORDED,
    Level::INFO,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(&FIELDS, tracing_core::identify_callsite!(&CALLSITE)),
    Kind::SPAN,
);

impl Callsite for RequestCallsite {
    // Asked each time (see `Request::span`), never skipped on a cached interest.
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &METADATA
    }
}

/// The process's subscriber, making the span of a request that logs a line just before
/// its first one (see the module's documentation). Everything else passes through.
pub(super) struct Lazy<S> {
    inner: S,
    /// The dispatch this subscriber is installed as: what closes a request's span.
    dispatch: OnceLock<WeakDispatch>,
}

impl<S: Subscriber> Lazy<S> {
    pub(super) fn new(inner: S) -> Self {
        // Known to every subscriber installed from now on, as the macros' call sites are.
        callsite::register(&CALLSITE);
        Self {
            inner,
            dispatch: OnceLock::new(),
        }
    }

    /// The span of the request the running task serves, when a line logged now belongs
    /// to it, made if it is the request's first. A line inside a span the logs show (a
    /// request's or an event handling's lean span, or this request's own once made)
    /// belongs to that span. A function's span does not count: at the filters this runs
    /// under the logs do not show one, yet one may be current (where traces are exported,
    /// the registry makes the spans of `#[instrument]` functions for the traces' filter
    /// even in a request left out of the sample), and the line would lose its request.
    fn request_span(&self) -> Option<Id> {
        if let Some(meta) = self.inner.current_span().metadata()
            && matches!(meta.target(), super::UNRECORDED | super::RECORDED)
        {
            return None;
        }
        let dispatch = self.dispatch.get()?;
        REQUEST
            .try_with(|request| request.span(&self.inner, dispatch))
            .ok()
            .flatten()
    }
}

impl<S: Subscriber> Subscriber for Lazy<S> {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
        self.inner.on_register_dispatch(dispatch);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.inner.register_callsite(meta);
        // A line the filters always want would be logged without `enabled` being asked,
        // and `enabled` is where a request's span is made before its first line.
        if meta.is_event() && interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        // Made before the line's own filtering: making a span is a filtering of its own.
        if meta.is_event() {
            self.request_span();
        }
        self.inner.enabled(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        match self.request_span() {
            Some(span) => {
                self.inner.enter(&span);
                self.inner.event(event);
                self.inner.exit(&span);
            }
            None => self.inner.event(event),
        }
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> tracing_core::span::Current {
        self.inner.current_span()
    }

    // The trait's method is `unsafe`; nothing here dereferences anything.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(std::ptr::from_ref(self).cast())
        } else {
            // SAFETY: passed on as asked; the inner subscriber answers for its own types.
            unsafe { self.inner.downcast_raw(id) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{
        RECORDED, RequestScope, UNRECORDED, in_this_request, json_logs, text_logs,
    };
    use crate::testing::Lines;
    use std::sync::Mutex;
    use tracing_subscriber::{Layer, layer::SubscriberExt, registry::LookupSpan};

    /// What a layer saw of spans: the names of those made, and how many were closed.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<(Vec<String>, usize)>>);

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
        fn on_new_span(
            &self,
            attrs: &Attributes<'_>,
            _: &Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0
                .lock()
                .unwrap()
                .0
                .push(attrs.metadata().name().to_owned());
        }
        fn on_close(&self, _: Id, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.lock().unwrap().1 += 1;
        }
    }

    impl Spans {
        fn made(&self) -> Vec<String> {
            self.0.lock().unwrap().0.clone()
        }
        fn closed(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    /// A request's handling as a service's would log it: a line, a wait, a line of
    /// another level, and a task it spawns (as the checkout saga is) logging one more.
    async fn handling() {
        tracing::info!(items = 2, "added to the cart");
        tokio::task::yield_now().await;
        tracing::warn!(reason = "say \"no\"", "declined");
        let saga = in_this_request(async { tracing::error!("checkout stopped") });
        tokio::spawn(saga).await.unwrap();
    }

    fn request() -> (http::Method, http::Uri, http::HeaderValue) {
        (
            http::Method::POST,
            "/api/orders/checkout?x=1".parse().unwrap(),
            http::HeaderValue::from_static("r-42"),
        )
    }

    /// The scope a service gave a request before: its lean span, made at once.
    fn eager() -> RequestScope {
        let (method, uri, id) = request();
        let (path, request_id) = (uri.path(), id.to_str().unwrap());
        RequestScope::Span(
            tracing::info_span!(target: UNRECORDED, "request", http.request.method = %method, url.path = path, request_id),
        )
    }

    fn lazy() -> RequestScope {
        let (method, uri, id) = request();
        RequestScope::Lazy(Request::new(method, uri, id))
    }

    /// The lines `work` logs in `scope` through the log layer of `json` or text under
    /// `filter`, with the subscriber wrapped in [`Lazy`] or not, timestamps left out; and
    /// what a layer beside it, under the same filter, saw of spans.
    fn logged(
        json: bool,
        filter: &str,
        wrapped: bool,
        scope: fn() -> RequestScope,
        work: impl Future<Output = ()>,
    ) -> (Vec<String>, Spans) {
        let lines = Lines::default();
        let writer = lines.clone();
        let writer = move || writer.clone();
        let spans = Spans::default();
        let logs = if json {
            json_logs(filter, writer).boxed()
        } else {
            text_logs(filter, false, writer).boxed()
        };
        // Filtered as every layer of a service's is: lines below the filter never come.
        let counted = spans
            .clone()
            .with_filter(tracing_subscriber::EnvFilter::new(filter));
        let subscriber = tracing_subscriber::registry().with(logs).with(counted);
        let dispatch = if wrapped {
            tracing::Dispatch::new(Lazy::new(subscriber))
        } else {
            tracing::Dispatch::new(subscriber)
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::dispatcher::with_default(&dispatch, || runtime.block_on(scope().run(work)));
        let lines = lines
            .text()
            .lines()
            .map(|line| {
                if json {
                    let mut line: serde_json::Value = serde_json::from_str(line).unwrap();
                    line.as_object_mut().unwrap().remove("timestamp");
                    line.to_string()
                } else {
                    line.split_once(' ').unwrap().1.to_owned()
                }
            })
            .collect();
        (lines, spans)
    }

    #[test]
    fn a_requests_lines_read_as_they_did_with_its_span_made_at_once() {
        for json in [false, true] {
            for filter in ["info,sqlx=warn", "warn", "error"] {
                let (before, _) = logged(json, filter, false, eager, handling());
                let (lines, spans) = logged(json, filter, true, lazy, handling());
                assert_eq!(lines, before, "json: {json}, filter: {filter}");
                let expected = match filter {
                    "error" => 1,
                    "warn" => 2,
                    _ => 3,
                };
                assert_eq!(lines.len(), expected, "{lines:?}");
                if filter.starts_with("info") {
                    // Every line carries the request: the saga's too.
                    assert!(lines.iter().all(|l| l.contains("r-42")), "{lines:?}");
                    // Under the names a traced request's span gives them (one log query
                    // finds the lines of both).
                    let (method, path) = if json {
                        (
                            r#""http.request.method":"POST""#,
                            r#""url.path":"/api/orders/checkout""#,
                        )
                    } else {
                        (
                            "http.request.method=POST",
                            r#"url.path="/api/orders/checkout""#,
                        )
                    };
                    assert!(
                        lines.iter().all(|l| l.contains(method) && l.contains(path)),
                        "{lines:?}"
                    );
                    assert_eq!(spans.made(), ["request"]);
                } else {
                    // The span is INFO: below the filter, no line carries it, as before.
                    assert!(!lines.iter().any(|l| l.contains("r-42")), "{lines:?}");
                    assert!(spans.made().is_empty(), "{:?}", spans.made());
                }
                assert_eq!(
                    spans.closed(),
                    spans.made().len(),
                    "every span made is closed"
                );
            }
        }
    }

    #[test]
    fn a_request_that_logs_nothing_makes_no_span() {
        let quiet = async {
            tracing::debug!("below the filter");
            tokio::task::yield_now().await;
        };
        let (lines, spans) = logged(false, "info", true, lazy, quiet);
        assert!(lines.is_empty(), "{lines:?}");
        assert!(spans.made().is_empty(), "{:?}", spans.made());
        // Outside any request, lines carry none, and no span is made for them.
        let (lines, spans) = logged(false, "info", true, lazy, async {});
        assert!(lines.is_empty());
        let outside = tracing::Dispatch::new(Lazy::new(
            tracing_subscriber::registry().with(spans.clone()),
        ));
        tracing::dispatcher::with_default(&outside, || tracing::info!("no request here"));
        assert!(spans.made().is_empty(), "{:?}", spans.made());
    }

    #[test]
    fn a_line_inside_another_span_is_that_spans_and_a_span_made_inside_keeps_its_own() {
        let inside = async {
            let _job =
                tracing::info_span!(target: UNRECORDED, "request", request_id = "inner").entered();
            tracing::info!("in the inner span");
        };
        let (lines, spans) = logged(false, "info", true, lazy, inside);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("inner") && !lines[0].contains("r-42"),
            "{lines:?}"
        );
        assert_eq!(spans.made(), ["request"]);
    }

    /// A function's span current inside the request (made for the traces' filter, shown
    /// by no log line at this filter) does not take the request out of the line.
    #[test]
    fn a_line_inside_a_functions_span_still_carries_the_request() {
        let inside = || async {
            let _step = tracing::info_span!("authorize", attempt = 5).entered();
            tracing::warn!("call failed");
        };
        for json in [false, true] {
            let (lines, _) = logged(json, "info", true, lazy, inside());
            assert_eq!(lines.len(), 1);
            assert!(lines[0].contains("r-42"), "json: {json}: {lines:?}");
        }
    }

    /// Wrapped, the subscriber still hands out its layers: a recorded request's trace
    /// context is found through the wrapper (what `traceparent` and the exemplars use).
    #[test]
    fn a_traced_requests_context_is_found_through_the_wrapper() {
        use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(traces);
        let dispatch = tracing::Dispatch::new(Lazy::new(subscriber));
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!(target: RECORDED, "request");
            let context = span.context();
            assert!(context.span().span_context().is_valid());
        });
    }
}
