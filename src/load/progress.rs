//! Live progress in the terminal: how far the load is, runs per second, errors and the
//! p99 so far; nothing at all when stdout is not a terminal.

use super::engine::OnTick;
use super::stats::Percentiles;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(duration: Duration) -> Self {
        if !std::io::stdout().is_terminal() {
            return Self {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(
            Some(duration.as_secs().max(1)),
            ProgressDrawTarget::stdout(),
        );
        let style = ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:24}] {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(250));
        Self { bar }
    }

    /// Updates the bar once a second from the load's figures.
    pub fn on_tick(&self) -> OnTick {
        let bar = self.bar.clone();
        Box::new(move |totals, window, elapsed| {
            bar.set_position(elapsed.as_secs());
            bar.set_message(format!(
                "{} runs · {:.1} runs/s · {} errors · p99 {:.1} ms",
                totals.runs,
                window.runs_per_s(),
                totals.failed,
                Percentiles::of(&totals.latency).p99,
            ));
        })
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
