//! Structured logging through `tracing`.

use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use tracing_subscriber::{EnvFilter, fmt};

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

/// Installs the global subscriber. `filter` uses `RUST_LOG` syntax (`info,sqlx=warn`).
///
/// Safe to call more than once: later calls are ignored, which is what tests need.
pub fn init(filter: &str, format: LogFormat) {
    // lapin logs every message the broker returns, body and all, at WARN; the relay
    // handles returns itself. Kept quiet unless the filter names lapin.
    let filter = if filter.contains("lapin") {
        filter.to_owned()
    } else {
        format!("{filter},lapin::returned_messages=error")
    };
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// Logging for tests: silent unless `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init("info,sqlx=warn", LogFormat::Text);
    }
}
