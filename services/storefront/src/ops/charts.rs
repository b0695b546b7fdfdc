//! The console's pictures of traffic: each service's recent rate, 5xx share and p99 as a
//! small line chart, drawn as an SVG path in a fixed box that the page stretches.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// How far back the charts look.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// The chart's box: the path's coordinates run over `0..WIDTH` and `0..HEIGHT`.
pub const WIDTH: f64 = 120.0;
pub const HEIGHT: f64 = 32.0;

/// What a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Requests per second.
    Rate,
    /// The share of requests answered 5xx.
    Errors,
    /// The 99th percentile latency, in ms.
    P99,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Rate, Metric::Errors, Metric::P99];

    fn key(self) -> &'static str {
        match self {
            Metric::Rate => "rate",
            Metric::Errors => "errors",
            Metric::P99 => "p99",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Metric::Rate => "Requests per second",
            Metric::Errors => "5xx share",
            Metric::P99 => "p99 latency",
        }
    }

    /// The least top of the scale, so that a quiet service draws a low line rather than
    /// its noise blown up to full height.
    fn floor(self) -> f64 {
        match self {
            Metric::Rate => 1.0,
            Metric::Errors => 0.05,
            Metric::P99 => 10.0,
        }
    }

    /// A value as the chart labels it: `3.2 req/s`, `1.5%`, `120 ms`.
    pub fn label(self, value: f64) -> String {
        match self {
            Metric::Rate if value >= 10.0 => format!("{value:.0} req/s"),
            Metric::Rate => format!("{value:.1} req/s"),
            Metric::Errors if value >= 0.1 => format!("{:.0}%", value * 100.0),
            Metric::Errors => format!("{:.1}%", value * 100.0),
            Metric::P99 if value >= 1000.0 => format!("{:.1} s", value / 1000.0),
            Metric::P99 => format!("{value:.0} ms"),
        }
    }
}

/// One value of a service's traffic, `age` before now; `None` where nothing was measured
/// (the service did not answer its scrape, or had no requests to time): the line breaks
/// there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub age: Duration,
    pub value: Option<f64>,
}

/// One small chart of a service's recent traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chart {
    /// `rate`, `errors` or `p99`.
    pub metric: String,
    /// What it shows (`Requests per second`).
    pub title: String,
    /// The line, as an SVG path over a 120 × 32 box, oldest on the left (`now` at 120):
    /// `M x y L x y …`, a new `M` after a gap, a short `h` for a value standing alone;
    /// empty without values.
    pub path: String,
    /// The top of the scale, as labelled (`12 req/s`, `5.0%`, `250 ms`).
    pub max_label: String,
    /// The newest value, as labelled, or `—`.
    pub latest_label: String,
    /// The chart in a sentence, for those who do not see it.
    pub description: String,
}

/// Draws `points` (oldest first) over the last [`WINDOW`]; two values further apart than
/// `gap` are not joined.
pub fn chart(service: &str, metric: Metric, points: &[Point], gap: Duration) -> Chart {
    let window = WINDOW.as_secs_f64();
    let shown: Vec<&Point> = points.iter().filter(|p| p.age <= WINDOW).collect();
    let peak = shown
        .iter()
        .filter_map(|p| p.value)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = peak.max(metric.floor());
    // The line's corners: whether each is joined to the one before, its x and value.
    // Values less than a unit apart share one corner, at the highest of them, so that a
    // line has at most one a unit whatever the scrape interval, and no peak is lost.
    let mut corners: Vec<(bool, f64, f64)> = Vec::new();
    let mut previous: Option<Duration> = None;
    for p in &shown {
        let Some(value) = p.value.filter(|v| v.is_finite()) else {
            previous = None;
            continue;
        };
        let x = WIDTH * (1.0 - p.age.as_secs_f64() / window);
        let joined = previous.is_some_and(|age| age.saturating_sub(p.age) <= gap);
        previous = Some(p.age);
        match corners.last_mut() {
            Some(last) if joined && last.1.floor() == x.floor() => {
                last.1 = x;
                last.2 = last.2.max(value);
            }
            _ => corners.push((joined, x, value)),
        }
    }
    let path = corners
        .iter()
        .enumerate()
        .map(|(i, (joined, x, value))| {
            // A pixel of room at the top and bottom, so that the line is never clipped.
            let y = (HEIGHT - 1.0) - (value.clamp(0.0, top) / top) * (HEIGHT - 2.0);
            let alone = !joined && corners.get(i + 1).is_none_or(|next| !next.0);
            // A value with no neighbour draws as a dot (a short line with round caps).
            let dot = if alone { " h0.6" } else { "" };
            format!("{}{x:.1} {y:.1}{dot}", if *joined { 'L' } else { 'M' })
        })
        .collect::<Vec<_>>()
        .join(" ");
    let latest = shown
        .last()
        .and_then(|p| p.value)
        .filter(|v| v.is_finite())
        .map(|v| metric.label(v));
    let latest_label = latest.clone().unwrap_or_else(|| "—".to_owned());
    let description = match &latest {
        Some(now) => format!(
            "{}: {} over the last {} minutes, {now} now, at most {}",
            service,
            metric.title().to_lowercase(),
            WINDOW.as_secs() / 60,
            metric.label(peak),
        ),
        None => format!(
            "{}: {}, nothing measured lately",
            service,
            metric.title().to_lowercase()
        ),
    };
    Chart {
        metric: metric.key().to_owned(),
        title: metric.title().to_owned(),
        path,
        max_label: metric.label(top),
        latest_label,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, value: Option<f64>) -> Point {
        Point {
            age: Duration::from_secs(secs),
            value,
        }
    }

    #[test]
    fn the_newest_value_is_on_the_right_and_the_peak_at_the_top() {
        let points = [at(600, Some(0.0)), at(300, Some(20.0)), at(0, Some(10.0))];
        let c = chart("catalog", Metric::Rate, &points, Duration::from_secs(400));
        assert_eq!(c.path, "M0.0 31.0 L60.0 1.0 L120.0 16.0");
        assert_eq!(c.max_label, "20 req/s");
        assert_eq!(c.latest_label, "10 req/s");
        assert!(c.description.contains("catalog") && c.description.contains("10 req/s now"));
    }

    #[test]
    fn gaps_and_missing_values_break_the_line() {
        let points = [
            at(700, Some(5.0)),
            at(590, Some(1.0)),
            at(580, Some(1.0)),
            at(300, Some(1.0)),
            at(290, None),
            at(280, Some(1.0)),
        ];
        let c = chart("cart", Metric::Rate, &points, Duration::from_secs(15));
        let moves = c.path.matches('M').count();
        assert_eq!(moves, 3, "{}", c.path);
        assert_eq!(c.path.matches('L').count(), 1, "{}", c.path);
        assert_eq!(
            c.path.matches(" h0").count(),
            2,
            "lone values are dots: {}",
            c.path
        );
        assert_eq!(
            c.max_label, "1.0 req/s",
            "older than the window is left out"
        );
    }

    #[test]
    fn a_corner_a_unit_at_most_keeping_the_peaks() {
        let points: Vec<Point> = (0..=600)
            .rev()
            .map(|age| at(age, Some(if age == 301 { 50.0 } else { 1.0 })))
            .collect();
        let c = chart("search", Metric::Rate, &points, Duration::from_secs(15));
        let corners = c
            .path
            .split(' ')
            .filter(|p| p.starts_with(['M', 'L']))
            .count();
        assert!(corners <= 121, "{corners} corners: {}", c.path);
        assert!(
            c.path.starts_with('M') && c.path.ends_with(" L120.0 30.4"),
            "{}",
            c.path
        );
        assert!(c.path.contains(" 1.0 L"), "the peak is kept: {}", c.path);
    }

    #[test]
    fn a_quiet_service_draws_a_low_line() {
        let points = [at(10, Some(0.001)), at(0, Some(0.002))];
        let c = chart("orders", Metric::Errors, &points, Duration::from_secs(15));
        assert_eq!(c.max_label, "5.0%");
        assert!(c.path.ends_with("29.8"), "{}", c.path);
        let none = chart("orders", Metric::P99, &[], Duration::from_secs(15));
        assert_eq!(none.path, "");
        assert_eq!(none.latest_label, "—");
        assert!(none.description.contains("nothing measured"));
    }
}
