//! What the trace collector `bazaar up` embeds answers, and the ops console reads and
//! documents: the filter for its list of recent traces, the traces in that list, one
//! trace's waterfall, and the map of the services drawn from them. The collector writes
//! these, the storefront reads them back and serves them again; one declaration keeps
//! both sides of the wire, and the console's OpenAPI schemas, the same.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{RefOr, Schema},
};

/// Which traces to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TraceFilter {
    /// Only traces whose root span's name contains this (`checkout`, `/api/cart`).
    #[serde(default)]
    pub route: Option<String>,
    /// Only traces with a span of this service.
    #[serde(default)]
    pub service: Option<String>,
    /// Only traces with a failed span.
    #[serde(default)]
    pub errors: bool,
    /// At most this many (50 by default, 500 at most).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

impl TraceFilter {
    /// How many traces to list: `limit`, 50 if unset, within 1 to 500.
    pub fn capped_limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500)
    }

    /// The query string's pairs that ask for this filter: only what is set.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(route) = self.route.as_deref().filter(|r| !r.is_empty()) {
            query.push(("route", route.to_owned()));
        }
        if let Some(service) = self.service.as_deref().filter(|s| !s.is_empty()) {
            query.push(("service", service.to_owned()));
        }
        if self.errors {
            query.push(("errors", "true".to_owned()));
        }
        if self.limit.is_some() {
            query.push(("limit", self.capped_limit().to_string()));
        }
        query
    }
}

/// A trace in the list: where it started, how long it took, what it touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's service.
    pub service: String,
    /// The root span's name (`POST /checkout`).
    pub name: String,
    /// When its first span started (RFC 3339).
    pub started_at: String,
    /// From its first span's start to its last span's end.
    pub duration_ms: f64,
    /// How many spans it has.
    pub spans: usize,
    /// Every service with a span in it.
    #[serde(default)]
    pub services: Vec<String>,
    /// Whether a span of it failed.
    #[serde(default)]
    pub error: bool,
}

/// Recent traces, slowest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceList {
    pub traces: Vec<TraceSummary>,
}

/// One trace, its spans in waterfall order: each after its parent, siblings by start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceView {
    pub trace_id: String,
    /// When its first span started (RFC 3339).
    pub started_at: String,
    pub duration_ms: f64,
    pub spans: Vec<TraceSpan>,
}

/// One span as the collector keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpanRecord {
    pub span_id: String,
    #[serde(default)]
    pub parent_span_id: Option<String>,
    pub service: String,
    /// The replica (`service.instance.id`).
    #[serde(default)]
    pub instance: Option<String>,
    pub name: String,
    /// `server`, `client`, `producer`, `consumer` or `internal`.
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    #[serde(default)]
    pub error: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Spans of other traces this one is linked to.
    #[serde(default)]
    pub links: Vec<SpanLink>,
}

/// A span of another trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
}

/// One span of a trace, placed in its waterfall: the span's own fields, and where it
/// stands in the trace (one flat JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSpan {
    #[serde(flatten)]
    pub span: SpanRecord,
    /// Where it starts, in ms from the trace's start.
    pub offset_ms: f64,
    pub duration_ms: f64,
    /// How deep in the tree (a root is 0).
    #[serde(default)]
    pub depth: usize,
    /// Its parent is named but was never received.
    #[serde(default)]
    pub orphan: bool,
}

// Written out rather than derived: utoipa draws a flattened field as an `allOf` naming
// `SpanRecord`, where the wire, and the schema, is one object with every field.
impl PartialSchema for TraceSpan {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = SpanRecord::schema() else {
            unreachable!("a struct's schema is an object")
        };
        let described = |schema: RefOr<Schema>, text: &str| match schema {
            RefOr::T(Schema::Object(mut property)) => {
                property.description = Some(text.to_owned());
                RefOr::T(Schema::Object(property))
            }
            other => other,
        };
        let offset = described(
            f64::schema(),
            "Where it starts, in ms from the trace's start.",
        );
        let depth = described(usize::schema(), "How deep in the tree (a root is 0).");
        let orphan = described(
            bool::schema(),
            "Its parent is named but was never received.",
        );
        object.description = Some("One span of a trace, placed in its waterfall.".into());
        object.properties.extend([
            ("offset_ms".to_owned(), offset),
            ("duration_ms".to_owned(), f64::schema()),
            ("depth".to_owned(), depth),
            ("orphan".to_owned(), orphan),
        ]);
        object
            .required
            .extend(["offset_ms".to_owned(), "duration_ms".to_owned()]);
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for TraceSpan {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        SpanRecord::schemas(schemas);
    }
}

/// The services and what flows between them, over the traces kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceMap {
    pub services: Vec<String>,
    pub edges: Vec<ServiceMapEdge>,
    /// The time the traces cover, in seconds (the rates' denominator).
    #[serde(default)]
    pub window_seconds: f64,
}

/// Calls or events from one service to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceMapEdge {
    pub from: String,
    pub to: String,
    /// `call` (HTTP) or `event` (an event handled).
    pub kind: String,
    pub count: u64,
    /// How many of them failed.
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub per_second: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_sends_only_what_is_set() {
        assert!(TraceFilter::default().query().is_empty());
        let filter = TraceFilter {
            route: Some("checkout".into()),
            service: Some(String::new()),
            errors: true,
            limit: Some(10_000),
        };
        assert_eq!(
            filter.query(),
            [
                ("route", "checkout".to_owned()),
                ("errors", "true".to_owned()),
                ("limit", "500".to_owned())
            ]
        );
        assert_eq!(TraceFilter::default().capped_limit(), 50);
    }

    #[test]
    fn a_waterfall_reads_as_the_collector_writes_it_each_span_one_flat_object() {
        let json = serde_json::json!({
            "trace_id": "ab", "started_at": "2025-01-01T00:00:00.000Z", "duration_ms": 30.0,
            "spans": [{
                "span_id": "01", "parent_span_id": null, "service": "gateway", "instance": null,
                "name": "POST /checkout", "kind": "server", "start_unix_nano": 1, "end_unix_nano": 2,
                "error": false, "attributes": {"http.route": "/checkout"}, "links": [],
                "offset_ms": 0.0, "duration_ms": 30.0, "depth": 0, "orphan": false
            }]
        });
        let view: TraceView = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(view.spans[0].span.attributes["http.route"], "/checkout");
        assert_eq!(serde_json::to_value(&view).unwrap(), json);
    }

    #[test]
    fn a_waterfall_span_is_documented_as_one_object() {
        let RefOr::T(Schema::Object(object)) = TraceSpan::schema() else {
            panic!("not an object")
        };
        let properties: Vec<&str> = object.properties.keys().map(String::as_str).collect();
        for name in ["span_id", "links", "offset_ms", "depth", "orphan"] {
            assert!(properties.contains(&name), "{name} in {properties:?}");
        }
        assert_eq!(
            object.required,
            [
                "span_id",
                "service",
                "name",
                "kind",
                "start_unix_nano",
                "end_unix_nano",
                "offset_ms",
                "duration_ms"
            ]
        );
        let mut referenced = Vec::new();
        TraceSpan::schemas(&mut referenced);
        assert!(referenced.iter().any(|(name, _)| name == "SpanLink"));
    }
}
