//! What a load reports: a summary on stdout, a JSON document (`--json`) and a
//! self-contained HTML report with SVG charts (`--report`).

use super::engine::{Model, Outcome};
use super::scenario::STEPS;
use super::stats::{ErrorKind, Percentiles, Stats, Window, round3};
use anyhow::{Context, anyhow};
use plotters::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// How the load was set up.
pub struct Setup<'a> {
    pub scenario: &'static str,
    pub url: &'a str,
    pub model: Model,
    pub duration: Duration,
    pub seed: u64,
    /// Shopper accounts signed in before the load.
    pub accounts: usize,
}

/// The JSON document: `scenario`, `duration_s`, `runs`, `errors`, `runs_per_s`,
/// `latency_ms` and `steps` as the contract says, and more.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub url: String,
    /// `open` (`rate` runs a second) or `closed` (`users` back to back).
    pub model: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
    pub seed: u64,
    /// The duration asked for.
    pub planned_s: f64,
    /// From the first run's start to the last one's end.
    pub duration_s: f64,
    /// Runs that ended, failed ones included (and open-loop runs refused as overload).
    pub runs: u64,
    /// Runs that failed.
    pub errors: u64,
    pub runs_per_s: f64,
    /// Runs that did not fail, per second.
    pub ok_runs_per_s: f64,
    /// Of whole runs: from the scheduled start in the open-loop model.
    pub latency_ms: Percentiles,
    /// Failed runs by the kind of their first error: `status 502`, `timeout`,
    /// `connection`, `overload`, `invalid_response`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// For each kind of `errors_by_kind`, the first request that failed so and what the
    /// shop answered it (a problem's title and detail, a page's title, the transport
    /// error), with the request id its logs know it by; for a kind no request can show
    /// (`overload`, a run cut off at the end), what it means.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_examples: BTreeMap<String, String>,
    pub steps: BTreeMap<&'static str, StepSummary>,
    /// Runs by what they did (`browse`, `cart`, `checkout`).
    pub flows: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkouts: Option<Checkouts>,
    pub accounts: Accounts,
    /// Stopped before its duration (Ctrl-C).
    pub interrupted: bool,
    /// One entry a second.
    pub timeline: Vec<Window>,
}

#[derive(Debug, Serialize)]
pub struct StepSummary {
    pub count: u64,
    pub errors: u64,
    pub per_s: f64,
    pub latency_ms: Percentiles,
}

/// How the checkouts ended; `confirmed_cents` is what the payments ledger must show as
/// captured for them.
#[derive(Debug, Serialize)]
pub struct Checkouts {
    pub confirmed: u64,
    pub confirmed_per_s: f64,
    pub confirmed_cents: u64,
    /// 202: authorised, confirmed later by the shop.
    pub accepted: u64,
    pub accepted_cents: u64,
    /// Paid with the card meant to be declined, and declined.
    pub declined: u64,
    pub out_of_stock: u64,
    /// Attempts repeated with the same key after a 5xx answer or a timeout.
    pub retries: u64,
}

#[derive(Debug, Serialize)]
pub struct Accounts {
    /// Signed in before the load started.
    pub prepared: usize,
    /// Registered during the load, because none of the pool was ready.
    pub registered: u64,
}

impl Summary {
    pub fn new(setup: &Setup<'_>, outcome: &Outcome) -> Self {
        let t = &outcome.totals;
        let secs = outcome.elapsed.as_secs_f64().max(1e-3);
        let per_s = |n: u64| round3(n as f64 / secs);
        let (model, rate, users) = match setup.model {
            Model::Open { rate, .. } => ("open", Some(rate), None),
            Model::Closed { users } => ("closed", None, Some(users)),
        };
        let steps = t
            .steps
            .iter()
            .map(|(name, s)| {
                let step = StepSummary {
                    count: s.count,
                    errors: s.errors,
                    per_s: per_s(s.count),
                    latency_ms: Percentiles::of(&s.latency),
                };
                (*name, step)
            })
            .collect();
        let flows = t
            .counters
            .iter()
            .filter_map(|(name, n)| Some((name.strip_prefix("flow.")?.to_owned(), *n)))
            .collect();
        let checkouts = (t.counter("flow.checkout") > 0).then(|| Checkouts {
            confirmed: t.counter("checkout.confirmed"),
            confirmed_per_s: per_s(t.counter("checkout.confirmed")),
            confirmed_cents: t.counter("checkout.confirmed_cents"),
            accepted: t.counter("checkout.accepted"),
            accepted_cents: t.counter("checkout.accepted_cents"),
            declined: t.counter("checkout.declined"),
            out_of_stock: t.counter("checkout.out_of_stock"),
            retries: t.counter("checkout.retries"),
        });
        Self {
            scenario: setup.scenario,
            url: setup.url.to_owned(),
            model,
            rate,
            users,
            seed: setup.seed,
            planned_s: round3(setup.duration.as_secs_f64()),
            duration_s: round3(secs),
            runs: t.runs,
            errors: t.failed,
            runs_per_s: per_s(t.runs),
            ok_runs_per_s: per_s(t.runs - t.failed),
            latency_ms: Percentiles::of(&t.latency),
            errors_by_kind: errors_by_kind(t),
            error_examples: BTreeMap::new(),
            steps,
            flows,
            checkouts,
            accounts: Accounts {
                prepared: setup.accounts,
                registered: t.counter("accounts.registered"),
            },
            interrupted: outcome.interrupted,
            timeline: outcome.windows.clone(),
        }
    }

    /// Adds the examples of the errors it counts, from those the load kept; a kind
    /// counted with no request to show (a run never started, one cut off at the end, an
    /// answer a scenario judged) is said in general words.
    pub fn with_examples(mut self, examples: &BTreeMap<ErrorKind, String>) -> Self {
        let mut said: BTreeMap<String, String> = examples
            .iter()
            .map(|(kind, said)| (kind.to_string(), said.clone()))
            .filter(|(kind, _)| self.errors_by_kind.contains_key(kind))
            .collect();
        for kind in self.errors_by_kind.keys() {
            said.entry(kind.clone())
                .or_insert_with(|| in_general(kind).to_owned());
        }
        self.error_examples = said;
        self
    }

    /// The steps in the order a shopper meets them; others after, by name.
    fn ordered_steps(&self) -> Vec<(&'static str, &StepSummary)> {
        let rank = |name: &str| STEPS.iter().position(|s| *s == name).unwrap_or(STEPS.len());
        let mut steps: Vec<_> = self.steps.iter().map(|(n, s)| (*n, s)).collect();
        steps.sort_by_key(|(name, _)| (rank(name), *name));
        steps
    }

    fn load_line(&self) -> String {
        let model = match (self.rate, self.users) {
            (Some(rate), _) => format!("open loop at {rate} runs/s"),
            (None, Some(users)) => format!("closed loop, {users} users"),
            (None, None) => self.model.to_owned(),
        };
        let stopped = if self.interrupted {
            " (stopped early)"
        } else {
            ""
        };
        format!(
            "{} scenario, {model}, {:.1} s{stopped} against {} (seed {})",
            self.scenario, self.duration_s, self.url, self.seed
        )
    }
}

fn errors_by_kind(t: &Stats) -> BTreeMap<String, u64> {
    t.errors.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// The summary printed when the load ends.
pub fn text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "bazaar load: {}", s.load_line());
    let _ = writeln!(
        out,
        "runs {} ({:.1}/s), errors {}{}",
        s.runs,
        s.runs_per_s,
        s.errors,
        if s.errors_by_kind.is_empty() {
            String::new()
        } else {
            let kinds: Vec<String> = s
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            format!(" ({})", kinds.join(", "))
        }
    );
    for (kind, said) in &s.error_examples {
        let _ = writeln!(out, "  {kind}, first: {said}");
    }
    let l = &s.latency_ms;
    let _ = writeln!(
        out,
        "run latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        l.p50, l.p90, l.p99, l.p999, l.max
    );
    let _ = writeln!(
        out,
        "{:<18} {:>8} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "step", "count", "per s", "errors", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for (name, step) in s.ordered_steps() {
        let l = &step.latency_ms;
        let _ = writeln!(
            out,
            "{name:<18} {:>8} {:>9.1} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            step.count, step.per_s, step.errors, l.p50, l.p90, l.p99, l.p999, l.max
        );
    }
    if let Some(c) = &s.checkouts {
        let _ = writeln!(
            out,
            "checkouts: {} confirmed ({:.1}/s, {} cents), {} declined, {} out of stock, {} accepted for later, {} retries",
            c.confirmed,
            c.confirmed_per_s,
            c.confirmed_cents,
            c.declined,
            c.out_of_stock,
            c.accepted,
            c.retries
        );
        if let Some(reads) = s
            .steps
            .get("product")
            .filter(|p| p.count > 0 && c.confirmed > 0)
        {
            let _ = writeln!(
                out,
                "checkouts per product read: 1/{:.0}",
                reads.count as f64 / c.confirmed as f64
            );
        }
    }
    if s.flows.len() > 1 {
        let flows: Vec<String> = s.flows.iter().map(|(f, n)| format!("{f} {n}")).collect();
        let _ = writeln!(out, "runs by flow: {}", flows.join(", "));
    }
    if s.accounts.registered > 0 {
        let _ = writeln!(
            out,
            "shoppers: {} prepared, {} registered during the load",
            s.accounts.prepared, s.accounts.registered
        );
    }
    out
}

/// Checks before the load that what it will write can be written: `json` a file whose
/// directory exists, `report` a directory (made now if need be). A mistake found only
/// after minutes of load would cost the figures.
pub fn check_outputs(json: Option<&Path>, report: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = json {
        writable(path).with_context(|| format!("--json {}: cannot write there", path.display()))?;
    }
    if let Some(dir) = report {
        let made = !dir.exists();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--report {}: cannot make the directory", dir.display()))?;
        let probed = writable(&dir.join("index.html"))
            .with_context(|| format!("--report {}: cannot write there", dir.display()));
        // Nothing is left of the check: a load that fails leaves no empty report behind.
        if made {
            let _ = std::fs::remove_dir(dir);
        }
        probed?;
    }
    Ok(())
}

/// Whether `path` can be written, leaving it as it was (a file made to find out is gone
/// again; one that was there is untouched).
fn writable(path: &Path) -> std::io::Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    if !existed {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// Writes the JSON document.
pub fn write_json(path: &Path, s: &Summary) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(s).context("serialising the summary")?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// Writes `index.html` (and `summary.json`) into `dir`, creating it if need be.
pub fn write_html(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let html = html(s)?;
    let index = dir.join("index.html");
    std::fs::write(&index, html).with_context(|| format!("writing {}", index.display()))?;
    write_json(&dir.join("summary.json"), s)
}

const TEMPLATE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bazaar load: {{ s.scenario }} against {{ s.url }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #222; max-width: 960px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e3e3e3; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f6f6; }
.bad { color: #b00020; font-weight: 600; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
p.note { color: #555; }
</style>
</head>
<body>
<h1>bazaar load: {{ s.scenario }}</h1>
<p>{{ load_line }}</p>
<table>
<tr><th>runs</th><th>runs/s</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>
<tr><td>{{ s.runs }}</td><td>{{ s.runs_per_s|round(1) }}</td><td{% if s.errors %} class="bad"{% endif %}>{{ s.errors }}</td>
<td>{{ s.latency_ms.p50|round(1) }}</td><td>{{ s.latency_ms.p90|round(1) }}</td><td>{{ s.latency_ms.p99|round(1) }}</td>
<td>{{ s.latency_ms.p999|round(1) }}</td><td>{{ s.latency_ms.max|round(1) }}</td></tr>
</table>
<p class="note">Run latency is a whole scenario run{% if s.model == "open" %}, counted from the moment the run was due on the open-loop schedule, so a stall of the shop shows in full rather than delaying later runs{% endif %}.</p>

<h2>Latency over time</h2>
<figure>{{ latency_svg|safe }}</figure>
<h2>Throughput over time</h2>
<figure>{{ throughput_svg|safe }}</figure>
<h2>Errors over time</h2>
<figure>{{ errors_svg|safe }}</figure>
{% if s.errors_by_kind %}
<table>
<tr><th>error</th><th>runs</th><th>the first, as the shop answered it</th></tr>
{% for kind, n in s.errors_by_kind|items %}<tr><td>{{ kind }}</td><td class="bad">{{ n }}</td><td>{{ (s.error_examples or {})[kind] }}</td></tr>
{% endfor %}</table>
{% endif %}

<h2>Steps</h2>
<table>
<tr><th>step</th><th>count</th><th>per s</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>
{% for name, step in steps %}<tr><td>{{ name }}</td><td>{{ step.count }}</td><td>{{ step.per_s|round(1) }}</td>
<td{% if step.errors %} class="bad"{% endif %}>{{ step.errors }}</td><td>{{ step.latency_ms.p50|round(1) }}</td>
<td>{{ step.latency_ms.p90|round(1) }}</td><td>{{ step.latency_ms.p99|round(1) }}</td><td>{{ step.latency_ms.p999|round(1) }}</td>
<td>{{ step.latency_ms.max|round(1) }}</td></tr>
{% endfor %}</table>
{% if s.checkouts %}
<h2>Checkouts</h2>
<table>
<tr><th>confirmed</th><th>per s</th><th>cents confirmed</th><th>declined</th><th>out of stock</th><th>accepted for later</th><th>retries</th></tr>
<tr><td>{{ s.checkouts.confirmed }}</td><td>{{ s.checkouts.confirmed_per_s|round(1) }}</td><td>{{ s.checkouts.confirmed_cents }}</td>
<td>{{ s.checkouts.declined }}</td><td>{{ s.checkouts.out_of_stock }}</td><td>{{ s.checkouts.accepted }}</td><td>{{ s.checkouts.retries }}</td></tr>
</table>
{% endif %}
{% if s.flows|length > 1 %}
<h2>Runs by flow</h2>
<table>
<tr><th>flow</th><th>runs</th></tr>
{% for flow, n in s.flows|items %}<tr><td>{{ flow }}</td><td>{{ n }}</td></tr>
{% endfor %}</table>
{% endif %}
</body>
</html>
"##;

fn html(s: &Summary) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE)
        .context("the report's template")?;
    let template = env
        .get_template("report.html")
        .context("the report's template")?;
    template
        .render(minijinja::context! {
            s => minijinja::Value::from_serialize(s),
            load_line => s.load_line(),
            steps => minijinja::Value::from_serialize(s.ordered_steps()),
            latency_svg => latency_chart(&s.timeline)?,
            throughput_svg => throughput_chart(&s.timeline)?,
            errors_svg => errors_chart(&s.timeline)?,
        })
        .context("rendering the report")
}

/// What an error of `kind` (as the summary names it) means, for a kind of which no
/// request was kept as an example.
fn in_general(kind: &str) -> &'static str {
    match kind {
        "overload" => {
            "a run fell due while --max-in-flight runs were still going: counted, not started \
             late (the shop, or this machine, did not keep up with the rate)"
        }
        "timeout" => {
            "a run still waiting for an answer when the load ended and its drain ran out: \
             cut off"
        }
        "invalid_response" => "a successful answer whose body the scenario could not use",
        "connection" => "the connection could not be made, or broke before the answer ended",
        _ => "an answer the scenario did not expect",
    }
}

/// A line: its name, its colour and its points, in segments drawn apart.
type Series = (String, RGBColor, Vec<Vec<(f64, f64)>>);

fn latency_chart(timeline: &[Window]) -> anyhow::Result<String> {
    // A second in which no run ended has no latency: the line breaks there rather than
    // drawing a slope across a stall.
    let line = |name: &str, color, pick: fn(&Percentiles) -> f64| -> Series {
        let segments = timeline
            .split(|w| w.latency_ms.is_none())
            .filter(|run| !run.is_empty())
            .map(|run| {
                run.iter()
                    .filter_map(|w| Some((w.t_s, pick(w.latency_ms.as_ref()?))))
                    .collect()
            })
            .collect();
        (name.to_owned(), color, segments)
    };
    chart(
        "Run latency per second",
        "ms",
        timeline,
        &[
            line("p50", RGBColor(31, 119, 180), |p| p.p50),
            line("p90", RGBColor(44, 160, 44), |p| p.p90),
            line("p99", RGBColor(255, 127, 14), |p| p.p99),
            line("max", RGBColor(214, 39, 40), |p| p.max),
        ],
    )
}

fn throughput_chart(timeline: &[Window]) -> anyhow::Result<String> {
    let rate = |w: &Window, n: u64| {
        if w.len_s > 0.0 {
            n as f64 / w.len_s
        } else {
            0.0
        }
    };
    let all = timeline.iter().map(|w| (w.t_s, rate(w, w.runs))).collect();
    let ok = timeline
        .iter()
        .map(|w| (w.t_s, rate(w, w.runs - w.errors)))
        .collect();
    chart(
        "Runs ended per second",
        "runs/s",
        timeline,
        &[
            ("all runs".to_owned(), RGBColor(31, 119, 180), vec![all]),
            ("without error".to_owned(), RGBColor(44, 160, 44), vec![ok]),
        ],
    )
}

fn errors_chart(timeline: &[Window]) -> anyhow::Result<String> {
    const COLORS: [RGBColor; 5] = [
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(127, 127, 127),
    ];
    let kinds: std::collections::BTreeSet<&String> = timeline
        .iter()
        .flat_map(|w| w.errors_by_kind.keys())
        .collect();
    let mut series: Vec<Series> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let points = timeline
                .iter()
                .map(|w| {
                    let n = w.errors_by_kind.get(kind).copied().unwrap_or_default();
                    (
                        w.t_s,
                        if w.len_s > 0.0 {
                            n as f64 / w.len_s
                        } else {
                            0.0
                        },
                    )
                })
                .collect();
            (kind.clone(), COLORS[i % COLORS.len()], vec![points])
        })
        .collect();
    if series.is_empty() {
        let zero = timeline.iter().map(|w| (w.t_s, 0.0)).collect();
        series.push(("no errors".to_owned(), RGBColor(44, 160, 44), vec![zero]));
    }
    chart(
        "Failed runs per second, by kind",
        "errors/s",
        timeline,
        &series,
    )
}

fn chart(
    title: &str,
    unit: &str,
    timeline: &[Window],
    series: &[Series],
) -> anyhow::Result<String> {
    let x_max = timeline.iter().map(|w| w.t_s).fold(1.0, f64::max);
    // Headroom above the highest point for the legend, which sits there.
    let y_max = series
        .iter()
        .flat_map(|(_, _, segments)| segments.iter().flatten().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.4;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(plot)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(plot)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(unit)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot)?;
        for (name, color, segments) in series {
            let color = *color;
            for (i, points) in segments.iter().enumerate() {
                let drawn = if let [only] = points.as_slice() {
                    // One second between gaps: a dot, since a line needs two.
                    chart.draw_series(std::iter::once(Circle::new(*only, 3, color.filled())))
                } else {
                    chart.draw_series(LineSeries::new(
                        points.iter().copied(),
                        color.stroke_width(2),
                    ))
                }
                .map_err(plot)?;
                if i == 0 {
                    drawn.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(plot)?;
        root.present().map_err(plot)?;
    }
    Ok(svg)
}

fn plot(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::{ErrorKind, RunRecord, StepSample};

    /// Three seconds of a mixed load, one of them with errors.
    fn outcome() -> Outcome {
        let mut totals = Stats::default();
        let mut windows = Vec::new();
        for second in 1..=3u64 {
            let mut window = Stats::default();
            for i in 0..50u64 {
                let failure = (second == 2 && i < 3).then_some(if i == 0 {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Status(503)
                });
                let run = RunRecord {
                    latency: Some(Duration::from_micros(8_000 + 300 * i + 5_000 * second)),
                    steps: vec![
                        StepSample {
                            step: "home",
                            elapsed: Duration::from_millis(3),
                            error: None,
                        },
                        StepSample {
                            step: "product",
                            elapsed: Duration::from_millis(2 + i % 5),
                            error: failure,
                        },
                    ],
                    failure,
                    counters: vec![
                        (
                            if i % 10 == 0 {
                                "flow.checkout"
                            } else {
                                "flow.browse"
                            },
                            1,
                        ),
                        ("checkout.confirmed", u64::from(i % 10 == 0)),
                        (
                            "checkout.confirmed_cents",
                            if i % 10 == 0 { 2_599 } else { 0 },
                        ),
                    ],
                };
                window.record(&run);
            }
            windows.push(Window::of(
                &window,
                Duration::from_secs(second),
                Duration::from_secs(1),
            ));
            totals.merge(&window);
        }
        Outcome {
            totals,
            windows,
            elapsed: Duration::from_secs(3),
            interrupted: false,
        }
    }

    fn setup() -> Setup<'static> {
        Setup {
            scenario: "mixed",
            url: "http://127.0.0.1:8080/<shop>",
            model: Model::Open {
                rate: 50.0,
                max_in_flight: 100,
            },
            duration: Duration::from_secs(3),
            seed: 42,
            accounts: 2,
        }
    }

    fn summary() -> Summary {
        // An example of a kind the load did not count (a decline it expected) is left out.
        let examples = BTreeMap::from([
            (
                ErrorKind::Status(503),
                "GET /api/catalog/products/p-1: 503 Service unavailable <now> (request id r-7)"
                    .to_owned(),
            ),
            (
                ErrorKind::Status(402),
                "POST /api/orders/checkout: 402".to_owned(),
            ),
        ]);
        Summary::new(&setup(), &outcome()).with_examples(&examples)
    }

    #[test]
    fn the_json_has_the_contracts_fields() {
        let dir = std::env::temp_dir().join(format!("bazaar-load-json-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("load.json");
        write_json(&path, &summary()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(v["scenario"], "mixed");
        assert_eq!(v["duration_s"], 3.0);
        assert_eq!(v["runs"], 150);
        assert_eq!(v["errors"], 3);
        assert_eq!(v["runs_per_s"], 50.0);
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(
                v["latency_ms"][p].as_f64().unwrap() > 8.0,
                "latency_ms.{p}: {v}"
            );
        }
        let product = &v["steps"]["product"];
        assert_eq!(product["count"], 150);
        assert_eq!(product["errors"], 3);
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(
                product["latency_ms"][p].as_f64().unwrap() >= 2.0,
                "{product}"
            );
        }
        assert_eq!(v["steps"]["home"]["errors"], 0);
        assert_eq!(v["errors_by_kind"]["status 503"], 2);
        assert_eq!(v["errors_by_kind"]["timeout"], 1);
        assert_eq!(
            v["error_examples"]["status 503"],
            "GET /api/catalog/products/p-1: 503 Service unavailable <now> (request id r-7)",
        );
        assert!(
            v["error_examples"]["timeout"]
                .as_str()
                .unwrap()
                .contains("cut off"),
            "a kind counted with no request kept is said in general words: {v}"
        );
        assert_eq!(
            v["error_examples"].as_object().unwrap().len(),
            2,
            "only the kinds counted (not the decline the load expected)"
        );
        assert_eq!(v["checkouts"]["confirmed"], 15);
        assert_eq!(v["checkouts"]["confirmed_cents"], 15 * 2_599);
        assert_eq!(v["flows"]["browse"], 135);
        assert_eq!(v["timeline"].as_array().unwrap().len(), 3);
        assert_eq!(v["timeline"][1]["errors"], 3);
        // A second in which no run ended has no latency, not 0 ms.
        let mut quiet = summary();
        quiet.timeline[2] = Window::of(
            &Stats::default(),
            Duration::from_secs(3),
            Duration::from_secs(1),
        );
        let v = serde_json::to_value(&quiet).unwrap();
        assert!(v["timeline"][2]["latency_ms"].is_null(), "{v}");
        assert!(v["timeline"][1]["latency_ms"]["p99"].as_f64().unwrap() > 8.0);
    }

    #[test]
    fn the_html_report_is_one_self_contained_page_with_three_charts_and_the_steps() {
        let dir = std::env::temp_dir().join(format!("bazaar-load-report-{}", uuid::Uuid::new_v4()));
        write_html(&dir.join("nested"), &summary()).unwrap();
        let html = std::fs::read_to_string(dir.join("nested/index.html")).unwrap();
        let json = std::fs::read(dir.join("nested/summary.json")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 3, "three charts");
        assert_eq!(html.matches("</svg>").count(), 3);
        for text in [
            "Run latency per second",
            "Runs ended per second",
            "Failed runs per second",
            "p99",
            "status 503",
        ] {
            assert!(html.contains(text), "{text} missing");
        }
        // One row per step, and the checkouts.
        assert!(html.contains("<tr><td>home</td><td>150</td>"), "{html}");
        assert!(html.contains("<tr><td>product</td><td>150</td>"));
        assert!(html.contains("<h2>Checkouts</h2>"));
        // Self-contained: nothing loaded from elsewhere.
        for outside in ["<script", "<link", "src=", "@import"] {
            assert!(!html.contains(outside), "{outside} in the report");
        }
        assert!(
            html.contains("<td>GET &#x2f;api&#x2f;catalog&#x2f;products&#x2f;p-1: 503 Service unavailable &lt;now&gt; (request id r-7)</td>"),
            "{html}"
        );
        // What came from outside is escaped.
        assert!(html.contains("&lt;shop&gt;"));
        assert!(!html.contains("<shop>") && !html.contains("<now>"));
    }

    /// Errors of kinds no request shows (runs never started, or cut off at the end), and
    /// none of any other kind: the report was not written at all ("undefined value"),
    /// and the command failed (the load-tool review).
    #[test]
    fn a_load_whose_errors_have_no_example_still_gets_its_report() {
        let mut outcome = outcome();
        let mut stalled = Stats::default();
        stalled.record(&RunRecord::overload());
        stalled.record(&RunRecord {
            latency: Some(Duration::from_secs(3)),
            steps: Vec::new(),
            failure: Some(ErrorKind::Timeout),
            counters: Vec::new(),
        });
        outcome.totals = stalled;
        let mut s = Summary::new(&setup(), &outcome);
        assert!(s.error_examples.is_empty());
        let dir = std::env::temp_dir().join(format!("bazaar-load-stall-{}", uuid::Uuid::new_v4()));
        write_html(&dir, &s).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        s = s.with_examples(&BTreeMap::new());
        assert!(s.error_examples["overload"].contains("--max-in-flight"));
        assert!(s.error_examples["timeout"].contains("cut off"));
        let dir = std::env::temp_dir().join(format!("bazaar-load-stall-{}", uuid::Uuid::new_v4()));
        write_html(&dir, &s).unwrap();
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(html.contains("did not keep up with the rate"), "{html}");
        assert!(text(&s).contains("  overload, first: a run fell due"));
    }

    #[test]
    fn where_the_outputs_cannot_be_written_is_known_before_the_load() {
        let dir =
            std::env::temp_dir().join(format!("bazaar-load-outputs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("summary.json");
        let report = dir.join("report");
        check_outputs(Some(&json), Some(&report)).unwrap();
        // Checked, and nothing left behind for a load that then fails.
        assert!(!json.exists() && !report.exists());
        std::fs::create_dir_all(&report).unwrap();
        std::fs::write(&json, "{}").unwrap();
        check_outputs(Some(&json), Some(&report)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&json).unwrap(),
            "{}",
            "left as it was"
        );

        let missing = dir.join("no/such/dir/x.json");
        let err = check_outputs(Some(&missing), None).unwrap_err();
        assert!(format!("{err:#}").contains("--json"), "{err:#}");
        // A directory given as --json, a file given as --report.
        let as_json = check_outputs(Some(&report), None);
        let as_report = check_outputs(None, Some(&json));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(as_json.is_err());
        assert!(as_report.is_err());
    }

    #[test]
    fn a_second_without_runs_breaks_the_latency_line() {
        // Three seconds: drawn as four lines (p50, p90, p99, max); with nothing ended in
        // the second, each is two lone seconds, drawn as dots.
        let whole = latency_chart(&summary().timeline).unwrap();
        let mut s = summary();
        s.timeline[1].runs = 0;
        s.timeline[1].latency_ms = None;
        let gapped = latency_chart(&s.timeline).unwrap();
        assert_eq!(whole.matches("<circle").count(), 0);
        assert_eq!(gapped.matches("<circle").count(), 8, "{gapped}");
        assert!(
            gapped.matches("<polyline").count() < whole.matches("<polyline").count(),
            "no line drawn across the gap"
        );
    }

    #[test]
    fn the_text_summary_names_steps_errors_and_the_checkout_ratio() {
        let text = text(&summary());
        assert!(text.contains("open loop at 50 runs/s"), "{text}");
        assert!(
            text.contains("errors 3 (status 503: 2, timeout: 1)"),
            "{text}"
        );
        assert!(
            text.contains("\n  status 503, first: GET /api/catalog/products/p-1: 503 Service unavailable <now> (request id r-7)\n"),
            "{text}"
        );
        assert!(!text.contains("status 402"), "{text}");
        assert!(text.contains("checkouts: 15 confirmed"), "{text}");
        assert!(text.contains("checkouts per product read: 1/10"), "{text}");
        let home = text.find("\nhome ").expect("a home row");
        let product = text.find("\nproduct ").expect("a product row");
        assert!(home < product, "steps in a shopper's order: {text}");
    }
}
