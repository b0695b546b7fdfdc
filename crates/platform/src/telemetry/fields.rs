//! A span's fields written for the log lines without `fmt`'s machinery.
//!
//! The log layer formats a span's fields when the span is made, whether or not a line is
//! ever logged inside it, and it does so through `core::fmt` with a visitor that pads,
//! paints and `Debug`-escapes each value: for the one span every request makes (method,
//! path, request id), that was a tenth of the gateway's instructions per forwarded request
//! at INFO (docs/benchmarks.md). [`SpanFields`] runs just before the log layer and writes
//! the same text (or, for JSON logs, the same object) with plain string pushes, leaving
//! the log layer nothing to do: it formats a span's fields only when none are there yet.
//! A span with a field it does not write exactly as the log layer would (an error, bytes,
//! a name the log layer treats specially) is left to the log layer.

use std::{fmt::Write as _, marker::PhantomData};
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id},
};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{
        FormattedFields,
        format::{DefaultFields, JsonFields},
    },
    layer::{Context, Layer},
    registry::LookupSpan,
};

/// Writes each new span's fields as the log layer whose fields formatter is `N` would,
/// so that layer finds them written. Stacked under that layer, behind the same filter.
pub(super) struct SpanFields<N> {
    /// Off when the log layer paints its lines (a terminal): its text then holds colour
    /// codes this does not write.
    on: bool,
    _formatter: PhantomData<fn(N)>,
}

/// How one formatter writes fields: [`DefaultFields`] as `name=value` pairs, [`JsonFields`]
/// as a JSON object.
pub(super) trait Written: Send + Sync + 'static {
    fn write(fields: &impl RecordFields) -> Option<String>;
}

impl Written for DefaultFields {
    fn write(fields: &impl RecordFields) -> Option<String> {
        text(fields)
    }
}

impl Written for JsonFields {
    fn write(fields: &impl RecordFields) -> Option<String> {
        json(fields)
    }
}

impl<N> SpanFields<N> {
    /// Writing fields when `on`: not for a log layer that paints its lines.
    pub(super) fn new(on: bool) -> Self {
        Self {
            on,
            _formatter: PhantomData,
        }
    }
}

impl<S, N> Layer<S> for SpanFields<N>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: Written,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.on {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if let Some(written) = N::write(attrs) {
            span.extensions_mut()
                .insert(FormattedFields::<N>::new(written));
        }
    }
}

/// A name the log layers write differently from the rest (`message`; `r#type`, written
/// `type`; `log.*`, left out), or not at all.
fn special(field: &Field) -> bool {
    let name = field.name();
    name == "message" || name.starts_with("r#") || name.starts_with("log.")
}

/// The bytes a string's `Debug` text shows as they are: printable ASCII but `"` and `\`.
/// (A table: a string's bytes are looked up once each, the request's path among them.)
static DEBUG_AS_IS: [bool; 256] = as_is(0x7e);

/// The bytes a JSON string holds as they are: all but control characters, `"` and `\`.
static JSON_AS_IS: [bool; 256] = as_is(0xff);

const fn as_is(last: u8) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = b' ';
    loop {
        table[b as usize] = b != b'"' && b != b'\\';
        if b == last {
            return table;
        }
        b += 1;
    }
}

/// `fields` as [`DefaultFields`] writes them without colours: `name=value` separated by
/// spaces, each value as `Debug` shows it (a string quoted and escaped). `None` for a
/// field it writes another way.
pub(super) fn text(fields: &impl RecordFields) -> Option<String> {
    struct Text {
        out: String,
        unsure: bool,
    }
    impl Text {
        fn name(&mut self, field: &Field) -> bool {
            if special(field) {
                self.unsure = true;
            }
            if self.unsure {
                return false;
            }
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            self.out.push_str(field.name());
            self.out.push('=');
            true
        }
    }
    impl Visit for Text {
        fn record_str(&mut self, field: &Field, value: &str) {
            if !self.name(field) {
                return;
            }
            // `Debug` of a string: quoted, with only `"` and `\` escaped among printable
            // ASCII; anything else goes the long way.
            if value.bytes().all(|b| DEBUG_AS_IS[usize::from(b)]) {
                self.out.push('"');
                self.out.push_str(value);
                self.out.push('"');
            } else {
                let _ = write!(self.out, "{value:?}");
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if self.name(field) {
                let _ = write!(self.out, "{value:?}");
            }
        }
        fn record_error(&mut self, _: &Field, _: &(dyn std::error::Error + 'static)) {
            // Written with its sources and escaped: the log layer's business.
            self.unsure = true;
        }
    }
    let mut visitor = Text {
        out: String::with_capacity(96),
        unsure: false,
    };
    fields.record(&mut visitor);
    (!visitor.unsure).then_some(visitor.out)
}

/// `fields` as [`JsonFields`] writes them: one object, its keys in order, numbers and
/// booleans as such, strings escaped, anything else as its `Debug` text. `None` for a
/// field it writes another way.
pub(super) fn json(fields: &impl RecordFields) -> Option<String> {
    /// A value already written as JSON.
    struct Json {
        values: Vec<(&'static str, String)>,
        unsure: bool,
    }
    impl Json {
        fn put(&mut self, field: &Field, value: String) {
            if special(field) {
                self.unsure = true;
            }
            // A name given twice keeps its last value, as in the log layer's map.
            self.values.retain(|(name, _)| *name != field.name());
            self.values.push((field.name(), value));
        }
    }
    fn string(value: &str) -> String {
        if value.bytes().all(|b| JSON_AS_IS[usize::from(b)]) {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('"');
            out.push_str(value);
            out.push('"');
            out
        } else {
            serde_json::Value::from(value).to_string()
        }
    }
    impl Visit for Json {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.put(field, string(value));
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.put(field, string(&format!("{value:?}")));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.put(field, value.to_string());
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.put(field, value.to_string());
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.put(field, value.to_string());
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.put(field, serde_json::Value::from(value).to_string());
        }
        fn record_bytes(&mut self, _: &Field, _: &[u8]) {
            self.unsure = true;
        }
    }
    let mut visitor = Json {
        values: Vec::with_capacity(4),
        unsure: false,
    };
    fields.record(&mut visitor);
    if visitor.unsure {
        return None;
    }
    visitor.values.sort_unstable_by_key(|(name, _)| *name);
    let mut out = String::with_capacity(128);
    out.push('{');
    for (i, (name, value)) in visitor.values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&string(name));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Lines;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::{fmt, layer::SubscriberExt};

    #[derive(Debug)]
    struct Failure;
    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("it \"broke\"")
        }
    }
    impl std::error::Error for Failure {}

    /// Spans of every kind of field, each with a line logged inside it: what the log
    /// lines show of their fields is the test.
    fn spans() {
        let method = http::Method::POST;
        let lines = [
            tracing::info_span!("request", %method, path = "/api/cart/items", request_id = "r-1"),
            tracing::info_span!(
                "odd",
                quoted = "say \"hi\" \\ there",
                line = "two\nlines\tand\u{7f}",
                unicode = "naïve ☃",
                empty = "",
                n = 7u64,
                neg = -3i64,
                yes = true,
                ratio = 0.25f64,
                whole = 2.0f64,
                big = 1e300f64,
                debugged = ?Some("x"),
                later = tracing::field::Empty,
            ),
            tracing::info_span!("typed", r#type = "cart"),
            tracing::info_span!("said", message = "hello \"you\""),
            tracing::info_span!("failed", error = &Failure as &dyn std::error::Error),
            tracing::info_span!("twice", a = 1u64, a = 2u64),
            tracing::info_span!("none"),
        ];
        for (i, span) in lines.iter().enumerate() {
            span.in_scope(|| tracing::info!(i, "inside"));
            span.record("later", "recorded afterwards");
            span.in_scope(|| tracing::info!(i, "inside again"));
        }
    }

    /// The lines `spans` logs through a text or JSON log layer, with or without
    /// [`SpanFields`] under it.
    fn logged(json: bool, lean: bool) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let dispatch = if json {
            let log = fmt::layer()
                .json()
                .flatten_event(true)
                .without_time()
                .with_writer(move || writer.clone());
            let lean = SpanFields::<JsonFields>::new(lean);
            tracing::Dispatch::new(tracing_subscriber::registry().with(lean.and_then(log)))
        } else {
            let log = fmt::layer()
                .compact()
                .with_ansi(false)
                .without_time()
                .with_writer(move || writer.clone());
            let lean = SpanFields::<DefaultFields>::new(lean);
            tracing::Dispatch::new(tracing_subscriber::registry().with(lean.and_then(log)))
        };
        tracing::dispatcher::with_default(&dispatch, spans);
        lines.text()
    }

    #[test]
    fn log_lines_are_the_same_with_the_fields_written_here() {
        for json in [false, true] {
            let theirs = logged(json, false);
            let ours = logged(json, true);
            assert_eq!(ours, theirs, "json: {json}");
            // Every span's line is there, fields and all.
            assert_eq!(ours.lines().count(), 14, "{ours}");
            assert!(ours.contains("/api/cart/items"), "{ours}");
            assert!(ours.contains("recorded afterwards"), "{ours}");
        }
    }

    /// What is written here, and what is left to the log layer.
    #[test]
    fn the_usual_fields_are_written_here_and_the_rest_left() {
        // What the log layer, stacked next, finds written when a span is made.
        fn written<N: Written>(make: impl Fn() -> tracing::Span) -> Option<String> {
            struct Found<N>(Arc<Mutex<Option<String>>>, PhantomData<fn(N)>);
            impl<S, N> Layer<S> for Found<N>
            where
                S: Subscriber + for<'a> LookupSpan<'a>,
                N: Written,
            {
                fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
                    let span = ctx.span(id).unwrap();
                    let found = span
                        .extensions()
                        .get::<FormattedFields<N>>()
                        .map(|f| f.fields.clone());
                    *self.0.lock().unwrap() = found;
                }
            }
            let found = Arc::new(Mutex::new(None));
            let layers =
                SpanFields::<N>::new(true).and_then(Found::<N>(found.clone(), PhantomData));
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layers), || {
                drop(make())
            });
            found.lock().unwrap().take()
        }
        let request = || tracing::info_span!("request", method = %http::Method::GET, path = "/a", request_id = "r-1");
        assert_eq!(
            written::<DefaultFields>(request).as_deref(),
            Some(r#"method=GET path="/a" request_id="r-1""#)
        );
        assert_eq!(
            written::<JsonFields>(request).as_deref(),
            Some(r#"{"method":"GET","path":"/a","request_id":"r-1"}"#)
        );
        let error = || tracing::info_span!("failed", error = &Failure as &dyn std::error::Error);
        assert_eq!(written::<DefaultFields>(error), None);
        // A raw identifier is named without its `r#` by the macros already.
        let typed = || tracing::info_span!("typed", r#type = "cart");
        assert_eq!(
            written::<DefaultFields>(typed).as_deref(),
            Some(r#"type="cart""#)
        );
        let message = || tracing::info_span!("said", message = "hello");
        assert_eq!(written::<DefaultFields>(message), None);
        assert_eq!(written::<JsonFields>(message), None);
        let bytes = || tracing::info_span!("bytes", raw = &b"ab"[..]);
        assert_eq!(written::<JsonFields>(bytes), None);
    }
}
