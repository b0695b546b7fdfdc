//! The console's trace view, as pages draw it: the recent traces as rows, one trace as a
//! waterfall (a bar per span, placed in the trace's time), and the map of the services
//! (nodes round a circle, an arrow per call or event flow, labelled with its rate and
//! error share). The traces come from the supervisor's embedded collector
//! ([`super::supervisor`]); where the environment sends them elsewhere the page says so.

use super::supervisor::TraceId;
use platform::traces::{ServiceMap, TraceFilter, TraceSummary, TraceView};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// What the trace pages say when the storefront runs without `bazaar up`.
pub const NOT_UNDER_UP: &str = "Traces are collected by `bazaar up`, and this storefront \
    is not running under it (no BAZAAR_SUPERVISOR_URL), so none are kept here.";

/// The OTLP endpoint the environment sends traces to, if it names one
/// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`), without a
/// password it may carry.
pub fn exporter_endpoint() -> Option<String> {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .into_iter()
    .filter_map(|name| std::env::var(name).ok())
    .map(|v| v.trim().to_owned())
    .find(|v| !v.is_empty())
    .map(|v| platform::db::redact(&v))
}

/// Where the traces go instead of the supervisor: the exporter's endpoint, unless that is
/// the supervisor's own collector (as `bazaar up` sets it by default).
pub fn elsewhere(exported_to: Option<&str>, supervisor: Option<&str>) -> Option<String> {
    let endpoint = exported_to?;
    let own = supervisor.is_some_and(|s| {
        let s = s.trim_end_matches('/');
        endpoint == s || endpoint.starts_with(&format!("{s}/"))
    });
    (!own).then(|| endpoint.to_owned())
}

/// `0.42 ms`, `12.3 ms`, `250 ms`, `1.25 s`.
pub fn format_ms(ms: f64) -> String {
    let ms = ms.max(0.0);
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `12/s`, `1.5/s`, `0.05/s`.
pub fn format_rate(per_second: f64) -> String {
    if per_second >= 10.0 {
        format!("{per_second:.0}/s")
    } else if per_second >= 1.0 {
        format!("{per_second:.1}/s")
    } else {
        format!("{per_second:.2}/s")
    }
}

/// `42 s`, `3 min`, `2 h`.
fn format_window(secs: f64) -> String {
    if secs >= 7200.0 {
        format!("{:.0} h", secs / 3600.0)
    } else if secs >= 120.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The list page: the filter form as filled in, the traces, the map.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TracesPage {
    pub route: String,
    pub service: String,
    pub errors: bool,
    /// The services the form offers, with the chosen one marked.
    pub services: Vec<Choice>,
    /// Whether any filter is set.
    pub filtered: bool,
    pub traces: Vec<TraceRow>,
    pub map: Option<MapView>,
    /// Why there are no traces to show, when they cannot be asked for.
    pub unavailable: Option<String>,
    /// The OTLP endpoint the services send their traces to instead of the supervisor.
    pub exported_to: Option<String>,
}

/// A service in the filter's list.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub name: String,
    pub selected: bool,
}

impl TracesPage {
    /// The page for `filter`, the form offering `services`; no traces yet.
    pub fn new(filter: &TraceFilter, services: &[String]) -> Self {
        let route = filter.route.clone().unwrap_or_default();
        let service = filter.service.clone().unwrap_or_default();
        Self {
            filtered: !route.is_empty() || !service.is_empty() || filter.errors,
            services: services
                .iter()
                .map(|name| Choice {
                    name: name.clone(),
                    selected: *name == service,
                })
                .collect(),
            route,
            service,
            errors: filter.errors,
            ..Self::default()
        }
    }
}

/// A trace in the list.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRow {
    pub trace_id: String,
    /// Its waterfall.
    pub url: String,
    pub service: String,
    pub name: String,
    pub started_at: String,
    pub duration: String,
    pub spans: usize,
    pub services: Vec<String>,
    pub error: bool,
    /// Its duration as a share of the slowest listed, in percent (at least 1).
    pub bar: f64,
}

/// The traces as the list shows them, slowest first as the supervisor sorted them.
pub fn rows(traces: &[TraceSummary]) -> Vec<TraceRow> {
    let slowest = traces.iter().map(|t| t.duration_ms).fold(0.0_f64, f64::max);
    traces
        .iter()
        .map(|t| TraceRow {
            url: format!("/ops/traces/{}", t.trace_id),
            trace_id: t.trace_id.clone(),
            service: t.service.clone(),
            name: t.name.clone(),
            started_at: t.started_at.clone(),
            duration: format_ms(t.duration_ms),
            spans: t.spans,
            services: t.services.clone(),
            error: t.error,
            bar: if slowest > 0.0 {
                round1((t.duration_ms / slowest * 100.0).max(1.0))
            } else {
                1.0
            },
        })
        .collect()
}

/// The width of the waterfall's bars' box, in SVG units.
const BAR_BOX: f64 = 1000.0;
/// The narrowest bar drawn, so that an instant span still shows.
const BAR_MIN: f64 = 3.0;
/// How deep the waterfall indents at most.
const INDENT_MAX: usize = 24;

/// One trace's page: the waterfall, or why there is none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TracePage {
    pub trace_id: String,
    pub trace: Option<Waterfall>,
    pub unavailable: Option<String>,
    pub exported_to: Option<String>,
}

/// One trace as a waterfall.
#[derive(Debug, Clone, Serialize)]
pub struct Waterfall {
    pub trace_id: String,
    pub started_at: String,
    pub duration: String,
    pub span_count: usize,
    pub services: Vec<String>,
    pub errors: usize,
    pub orphans: usize,
    /// The time axis's labels, from the start to the end.
    pub ticks: Vec<String>,
    pub rows: Vec<SpanRow>,
}

/// One span of the waterfall.
#[derive(Debug, Clone, Serialize)]
pub struct SpanRow {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub service: String,
    pub instance: Option<String>,
    pub name: String,
    pub kind: String,
    pub depth: usize,
    /// How many steps it is indented (its depth, up to a limit).
    pub indent: usize,
    pub offset: String,
    pub duration: String,
    /// Its bar, in a box [`BAR_BOX`] wide that stands for the whole trace.
    pub bar_x: f64,
    pub bar_width: f64,
    pub error: bool,
    pub orphan: bool,
    pub attributes: Vec<Attribute>,
    pub links: Vec<LinkView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// A span of another trace a span is linked to.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub trace_id: String,
    pub span_id: String,
    /// Its trace's waterfall, if the id is one.
    pub url: Option<String>,
}

/// Where a span's bar goes: `(x, width)` in a box [`BAR_BOX`] wide standing for `total_ms`.
pub fn bar(offset_ms: f64, duration_ms: f64, total_ms: f64) -> (f64, f64) {
    if total_ms <= 0.0 {
        return (0.0, BAR_BOX);
    }
    let width = (duration_ms.max(0.0) / total_ms * BAR_BOX).clamp(BAR_MIN, BAR_BOX);
    let x = (offset_ms.max(0.0) / total_ms * BAR_BOX).min(BAR_BOX - width);
    (round1(x), round1(width))
}

/// A trace as its waterfall draws it: the spans in the supervisor's order (each after its
/// parent), indented by depth, each bar placed in the trace's time.
pub fn waterfall(trace: &TraceView) -> Waterfall {
    let total = trace.duration_ms;
    let rows: Vec<SpanRow> = trace
        .spans
        .iter()
        .map(|placed| {
            let (bar_x, bar_width) = bar(placed.offset_ms, placed.duration_ms, total);
            let s = &placed.span;
            SpanRow {
                span_id: s.span_id.clone(),
                parent_span_id: s.parent_span_id.clone(),
                service: s.service.clone(),
                instance: s.instance.clone(),
                name: s.name.clone(),
                kind: s.kind.clone(),
                depth: placed.depth,
                indent: placed.depth.min(INDENT_MAX),
                offset: format_ms(placed.offset_ms),
                duration: format_ms(placed.duration_ms),
                bar_x,
                bar_width,
                error: s.error,
                orphan: placed.orphan,
                attributes: s
                    .attributes
                    .iter()
                    .map(|(key, value)| Attribute {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                links: s
                    .links
                    .iter()
                    .map(|l| LinkView {
                        url: TraceId::parse(&l.trace_id)
                            .map(|id| format!("/ops/traces/{}", id.as_str())),
                        trace_id: l.trace_id.clone(),
                        span_id: l.span_id.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let services: BTreeSet<String> = trace.spans.iter().map(|s| s.span.service.clone()).collect();
    Waterfall {
        trace_id: trace.trace_id.clone(),
        started_at: trace.started_at.clone(),
        duration: format_ms(total),
        span_count: rows.len(),
        services: services.into_iter().collect(),
        errors: rows.iter().filter(|r| r.error).count(),
        orphans: rows.iter().filter(|r| r.orphan).count(),
        ticks: (0..=4)
            .map(|i| format_ms(total * f64::from(i) / 4.0))
            .collect(),
        rows,
    }
}

/// The map's box, in SVG units.
const MAP_WIDTH: f64 = 680.0;
const MAP_HEIGHT: f64 = 480.0;
/// The circle the services stand on.
const MAP_RADIUS: f64 = 190.0;
/// A service's dot.
const NODE_RADIUS: f64 = 9.0;

/// The services and what flows between them, drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapView {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
    /// The time the rates are over (`42 s`, `3 min`).
    pub window: String,
}

/// A service on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapNode {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub r: f64,
    /// Where its name goes, and which way it runs from there (`start`, `middle`, `end`).
    pub label_x: f64,
    pub label_y: f64,
    pub anchor: &'static str,
    /// Whether anything flows to or from it.
    pub active: bool,
}

/// Calls or events from one service to another, drawn as a curved arrow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapEdge {
    pub from: String,
    pub to: String,
    /// `call` or `event`.
    pub kind: String,
    pub count: u64,
    pub errors: u64,
    /// `1.5/s`.
    pub rate: String,
    /// The share that failed (`2.0%`), if any did.
    pub error_share: Option<String>,
    pub error: bool,
    /// The arrow: an SVG path (a quadratic curve), and where its label goes.
    pub path: String,
    pub label_x: f64,
    pub label_y: f64,
    /// Its label (`1.5/s · 2.0% failed`).
    pub label: String,
}

/// The order the map goes round in, from the top clockwise: the last-started services
/// (the gateway) at the top, the first-started (identity) at the bottom, the ones between
/// down both sides, each level in the registry's order. Callers point down the circle and
/// the busiest edges cross it rather than crowd one side.
pub fn map_order(levels: &[(String, u8)]) -> Vec<String> {
    let (Some(top), Some(bottom)) = (
        levels.iter().map(|(_, l)| *l).max(),
        levels.iter().map(|(_, l)| *l).min(),
    ) else {
        return Vec::new();
    };
    let at = |level: u8| {
        levels
            .iter()
            .filter(move |(_, l)| *l == level)
            .map(|(n, _)| n.clone())
    };
    let mut middle: Vec<(u8, String)> = levels
        .iter()
        .filter(|(_, l)| *l != top && *l != bottom)
        .map(|(n, l)| (*l, n.clone()))
        .collect();
    // Stable: the registry's order within a level.
    middle.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
    let half = middle.len().div_ceil(2);
    let mut order: Vec<String> = at(top).collect();
    order.extend(middle[..half].iter().map(|(_, n)| n.clone()));
    if bottom != top {
        order.extend(at(bottom));
    }
    order.extend(middle[half..].iter().map(|(_, n)| n.clone()));
    order
}

type Vec2 = (f64, f64);

fn unit(from: Vec2, to: Vec2) -> Vec2 {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let length = (dx * dx + dy * dy).sqrt().max(f64::EPSILON);
    (dx / length, dy / length)
}

/// The map of `map`, its services round a circle in `order` (the gateway at the top),
/// any others it names after them; rates over the time its traces cover.
pub fn map_view(map: &ServiceMap, order: &[String]) -> MapView {
    let mut names: Vec<String> = order.to_vec();
    let extra: BTreeSet<&String> = map
        .services
        .iter()
        .chain(map.edges.iter().flat_map(|e| [&e.from, &e.to]))
        .filter(|s| !order.contains(s))
        .collect();
    names.extend(extra.into_iter().cloned());
    let centre = (MAP_WIDTH / 2.0, MAP_HEIGHT / 2.0);
    let count = names.len().max(1) as f64;
    let active: BTreeSet<&str> = map
        .edges
        .iter()
        .flat_map(|e| [e.from.as_str(), e.to.as_str()])
        .collect();
    let mut at: HashMap<&str, Vec2> = HashMap::new();
    let nodes: Vec<MapNode> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let angle = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / count;
            let (cos, sin) = (angle.cos(), angle.sin());
            let (x, y) = (centre.0 + MAP_RADIUS * cos, centre.1 + MAP_RADIUS * sin);
            at.insert(name.as_str(), (x, y));
            let out = MAP_RADIUS + NODE_RADIUS + 6.0;
            let anchor = if cos > 0.3 {
                "start"
            } else if cos < -0.3 {
                "end"
            } else {
                "middle"
            };
            // Text hangs from its baseline: lift labels above the top, drop them below.
            let nudge = match anchor {
                "middle" if sin < 0.0 => -2.0,
                "middle" => 10.0,
                _ => 4.0,
            };
            MapNode {
                name: name.clone(),
                x: round1(x),
                y: round1(y),
                r: NODE_RADIUS,
                label_x: round1(centre.0 + out * cos),
                label_y: round1(centre.1 + out * sin + nudge),
                anchor,
                active: active.contains(name.as_str()),
            }
        })
        .collect();
    let edges = map
        .edges
        .iter()
        .filter(|e| e.from != e.to)
        .filter_map(|e| {
            let (from, to) = (*at.get(e.from.as_str())?, *at.get(e.to.as_str())?);
            let d = unit(from, to);
            // Bent to the arrow's right: A→B and B→A part ways, and events more than calls.
            let bend = if e.kind == "event" { 36.0 } else { 18.0 };
            let control = (
                (from.0 + to.0) / 2.0 - d.1 * bend,
                (from.1 + to.1) / 2.0 + d.0 * bend,
            );
            let leave = unit(from, control);
            let arrive = unit(to, control);
            let start = (
                from.0 + leave.0 * (NODE_RADIUS + 2.0),
                from.1 + leave.1 * (NODE_RADIUS + 2.0),
            );
            let end = (
                to.0 + arrive.0 * (NODE_RADIUS + 3.0),
                to.1 + arrive.1 * (NODE_RADIUS + 3.0),
            );
            let middle = (
                0.25 * start.0 + 0.5 * control.0 + 0.25 * end.0,
                0.25 * start.1 + 0.5 * control.1 + 0.25 * end.1,
            );
            let rate = format_rate(e.per_second);
            let error_share = (e.errors > 0 && e.count > 0)
                .then(|| format!("{:.1}%", e.errors as f64 / e.count as f64 * 100.0));
            let label = match &error_share {
                Some(share) => format!("{rate} · {share} failed"),
                None => rate.clone(),
            };
            Some(MapEdge {
                from: e.from.clone(),
                to: e.to.clone(),
                kind: if e.kind == "event" { "event" } else { "call" }.to_owned(),
                count: e.count,
                errors: e.errors,
                rate,
                error_share,
                error: e.errors > 0,
                path: format!(
                    "M{:.1} {:.1} Q{:.1} {:.1} {:.1} {:.1}",
                    start.0, start.1, control.0, control.1, end.0, end.1
                ),
                label_x: round1(middle.0),
                label_y: round1(middle.1),
                label,
            })
        })
        .collect();
    MapView {
        width: MAP_WIDTH,
        height: MAP_HEIGHT,
        nodes,
        edges,
        window: format_window(map.window_seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::traces::ServiceMapEdge;

    #[test]
    fn durations_and_rates_read_shortly() {
        assert_eq!(format_ms(0.4213), "0.42 ms");
        assert_eq!(format_ms(12.34), "12.3 ms");
        assert_eq!(format_ms(250.4), "250 ms");
        assert_eq!(format_ms(1250.0), "1.25 s");
        assert_eq!(format_rate(0.049), "0.05/s");
        assert_eq!(format_rate(1.46), "1.5/s");
        assert_eq!(format_rate(12.4), "12/s");
        assert_eq!(format_window(42.0), "42 s");
        assert_eq!(format_window(600.0), "10 min");
    }

    #[test]
    fn bars_stay_in_the_box_and_never_vanish() {
        assert_eq!(bar(0.0, 30.0, 30.0), (0.0, 1000.0));
        assert_eq!(bar(15.0, 7.5, 30.0), (500.0, 250.0));
        assert_eq!(bar(30.0, 0.0, 30.0), (997.0, 3.0), "an instant at the end");
        assert_eq!(bar(0.0, 0.0, 0.0), (0.0, 1000.0), "a trace of no time");
    }

    #[test]
    fn traces_go_elsewhere_unless_to_the_supervisor() {
        let sup = Some("http://127.0.0.1:4000");
        assert_eq!(elsewhere(Some("http://127.0.0.1:4000"), sup), None);
        assert_eq!(
            elsewhere(Some("http://127.0.0.1:4000/v1/traces"), sup),
            None
        );
        assert_eq!(
            elsewhere(Some("http://jaeger:4318"), sup).as_deref(),
            Some("http://jaeger:4318")
        );
        assert_eq!(
            elsewhere(Some("http://jaeger:4318"), None).as_deref(),
            Some("http://jaeger:4318")
        );
        assert_eq!(elsewhere(None, sup), None);
    }

    #[test]
    fn the_gateway_is_at_the_top_of_the_map_and_identity_at_the_bottom() {
        let levels: Vec<(String, u8)> = [
            ("identity", 0),
            ("catalog", 1),
            ("cart", 1),
            ("orders", 1),
            ("storefront", 1),
            ("gateway", 2),
        ]
        .map(|(n, l)| (n.to_owned(), l))
        .to_vec();
        assert_eq!(
            map_order(&levels),
            [
                "gateway",
                "catalog",
                "cart",
                "identity",
                "orders",
                "storefront"
            ]
        );
        assert!(map_order(&[]).is_empty());
        let flat = [("a".to_owned(), 1), ("b".to_owned(), 1)];
        assert_eq!(map_order(&flat), ["a", "b"]);
    }

    #[test]
    fn the_map_goes_round_in_order_and_parts_opposite_arrows() {
        let order: Vec<String> = ["gateway", "orders", "payments", "identity"]
            .map(String::from)
            .to_vec();
        let edge = |from: &str, to: &str, kind: &str| ServiceMapEdge {
            from: from.into(),
            to: to.into(),
            kind: kind.into(),
            count: 10,
            errors: 0,
            per_second: 1.0,
        };
        let map = ServiceMap {
            services: vec!["gateway".into(), "orders".into(), "ghost".into()],
            edges: vec![
                edge("gateway", "orders", "call"),
                edge("orders", "gateway", "call"),
            ],
            window_seconds: 10.0,
        };
        let view = map_view(&map, &order);
        let names: Vec<&str> = view.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["gateway", "orders", "payments", "identity", "ghost"]
        );
        assert_eq!(
            (view.nodes[0].x, view.nodes[0].y),
            (340.0, 50.0),
            "the gateway on top"
        );
        assert_eq!(view.nodes[0].anchor, "middle");
        assert!(view.nodes[0].active && !view.nodes[2].active);
        let (there, back) = (&view.edges[0], &view.edges[1]);
        assert_ne!(
            (there.label_x, there.label_y),
            (back.label_x, back.label_y),
            "the two arrows between a pair do not overlap"
        );
        assert_eq!(view, map_view(&map, &order), "deterministic");
    }
}
