//! The payments service's own settings, next to the common ones every service has.
//!
//! Payments calls no other service: its database (`BAZAAR_DATABASE_URL`) and where
//! identity publishes its keys (`BAZAAR_IDENTITY_URL`) are common settings.

use platform::config::{ServiceSettings, above, out_of_bounds};
use serde::{Deserialize, Serialize};

/// Settings of the payments service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Simulated latency of the card processor, in milliseconds, added to every
    /// authorisation, capture, void and refund (`BAZAAR_PROCESSING_DELAY_MS`, default 0,
    /// at most 10 000). For benchmarks of the checkout under a realistic processor.
    pub processing_delay_ms: u64,
    /// How long a request waits for another request with the same `Idempotency-Key`
    /// that is still being processed, before it is answered 409 `request-in-progress`
    /// (`BAZAAR_IN_PROGRESS_WAIT_MS`, default 10 000, 1 to 60 000).
    pub in_progress_wait_ms: u64,
}

impl Config {
    /// The most [`Config::processing_delay_ms`] may be.
    pub const MAX_PROCESSING_DELAY_MS: u64 = 10_000;
    /// The most [`Config::in_progress_wait_ms`] may be.
    pub const MAX_IN_PROGRESS_WAIT_MS: u64 = 60_000;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            processing_delay_ms: 0,
            in_progress_wait_ms: 10_000,
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        errors.extend(above(
            "BAZAAR_PROCESSING_DELAY_MS",
            self.processing_delay_ms,
            Self::MAX_PROCESSING_DELAY_MS,
        ));
        errors.extend(out_of_bounds(
            "BAZAAR_IN_PROGRESS_WAIT_MS",
            self.in_progress_wait_ms,
            1..=Self::MAX_IN_PROGRESS_WAIT_MS,
        ));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::Config;
    use platform::testing::{assert_settings_refused, default_settings, settings};

    #[test]
    fn defaults_run() {
        let own = default_settings::<Config>("payments").own;
        assert_eq!(own.processing_delay_ms, 0);
        assert_eq!(own.in_progress_wait_ms, 10_000);
    }

    #[test]
    fn own_settings_are_overridden_and_checked_together() {
        let own = settings::<Config>(
            "payments",
            &[
                ("processing_delay_ms", "250"),
                ("in_progress_wait_ms", "500"),
            ],
        )
        .own;
        assert_eq!(own.processing_delay_ms, 250);
        assert_eq!(own.in_progress_wait_ms, 500);
        assert_settings_refused::<Config>(
            "payments",
            &[
                ("processing_delay_ms", "10001"),
                ("in_progress_wait_ms", "0"),
            ],
            &["BAZAAR_PROCESSING_DELAY_MS", "BAZAAR_IN_PROGRESS_WAIT_MS"],
        );
    }
}
