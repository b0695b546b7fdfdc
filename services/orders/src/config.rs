//! The orders service's own settings, next to the common ones every service has.
//!
//! Where the services the saga calls live is not configured here: cart, inventory,
//! payments and identity come from the directory (`BAZAAR_CART_URL`,
//! `BAZAAR_INVENTORY_URL`, `BAZAAR_PAYMENTS_URL`, `BAZAAR_IDENTITY_URL`), and the secret
//! orders presents to identity for its service token is `BAZAAR_SERVICE_SECRET`.

use platform::config::{ServiceSettings, above, out_of_bounds};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Settings of the orders service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Longest one call to cart, inventory or payments may take, in milliseconds
    /// (`BAZAAR_CALL_TIMEOUT_MS`, default 3000, 100 to 60 000). A call that times out is
    /// a transient failure: retried, never taken as a refusal.
    pub call_timeout_ms: u64,
    /// How often an authorisation that failed transiently (payments answered 5xx or did
    /// not answer) is tried again before the checkout gives up, releases the stock and
    /// answers 503 (`BAZAAR_PAYMENT_RETRIES`, default 4, at most 10).
    pub payment_retries: u32,
    /// How often the recovery worker looks for stuck checkouts, in milliseconds
    /// (`BAZAAR_RECOVERY_INTERVAL_MS`, default 500, 50 to 60 000).
    pub recovery_interval_ms: u64,
    /// How long a checkout may go without progress before the recovery worker takes it
    /// over, in milliseconds (`BAZAAR_RECOVERY_AFTER_MS`, default 5000, 500 to 3 600 000).
    /// Checkouts driven by a request in this process are never taken over.
    pub recovery_after_ms: u64,
    /// How long after it was placed a checkout that stopped before its payment (inventory
    /// or payments unavailable, or its process gone) stays open for the client to carry
    /// on, in milliseconds
    /// (`BAZAAR_CHECKOUT_RESUMABLE_MS`, default 30 000, at most 600 000). Within it the
    /// same request with the same `Idempotency-Key` resumes the checkout where it
    /// stopped; after it, recovery cancels the order and 503 becomes the key's answer.
    /// 0 cancels at once.
    pub checkout_resumable_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            call_timeout_ms: 3_000,
            payment_retries: 4,
            recovery_interval_ms: 500,
            recovery_after_ms: 5_000,
            checkout_resumable_ms: 30_000,
        }
    }
}

impl Config {
    /// The most retries of an authorisation that may be configured.
    pub const MAX_PAYMENT_RETRIES: u32 = 10;

    /// [`Config::call_timeout_ms`] as a duration.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// [`Config::recovery_interval_ms`] as a duration.
    pub fn recovery_interval(&self) -> Duration {
        Duration::from_millis(self.recovery_interval_ms)
    }

    /// [`Config::recovery_after_ms`] as a duration.
    pub fn recovery_after(&self) -> Duration {
        Duration::from_millis(self.recovery_after_ms)
    }

    /// [`Config::checkout_resumable_ms`] as a duration.
    pub fn checkout_resumable(&self) -> Duration {
        Duration::from_millis(self.checkout_resumable_ms)
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let ranges: [(&str, u64, u64, u64); 4] = [
            ("BAZAAR_CALL_TIMEOUT_MS", self.call_timeout_ms, 100, 60_000),
            (
                "BAZAAR_RECOVERY_INTERVAL_MS",
                self.recovery_interval_ms,
                50,
                60_000,
            ),
            (
                "BAZAAR_RECOVERY_AFTER_MS",
                self.recovery_after_ms,
                500,
                3_600_000,
            ),
            (
                "BAZAAR_CHECKOUT_RESUMABLE_MS",
                self.checkout_resumable_ms,
                0,
                600_000,
            ),
        ];
        for (name, value, min, max) in ranges {
            errors.extend(out_of_bounds(name, value, min..=max));
        }
        errors.extend(above(
            "BAZAAR_PAYMENT_RETRIES",
            self.payment_retries,
            Self::MAX_PAYMENT_RETRIES,
        ));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::{assert_settings_refused, default_settings, settings};

    #[test]
    fn defaults_run() {
        let own = default_settings::<Config>("orders").own;
        assert_eq!(own.call_timeout(), Duration::from_secs(3));
        assert_eq!(own.payment_retries, 4);
        assert_eq!(own.checkout_resumable(), Duration::from_secs(30));
    }

    #[test]
    fn values_and_service_urls_parse_like_environment_variables() {
        let s = settings::<Config>(
            "orders",
            &[
                ("call_timeout_ms", "750"),
                ("payment_retries", "2"),
                ("payments_url", "http://10.0.0.5:9000/"),
            ],
        );
        assert_eq!(s.own.call_timeout_ms, 750);
        assert_eq!(s.own.payment_retries, 2);
        assert_eq!(s.directory.url("payments"), "http://10.0.0.5:9000");
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        assert_settings_refused::<Config>(
            "orders",
            &[
                ("call_timeout_ms", "5"),
                ("payment_retries", "11"),
                ("recovery_interval_ms", "0"),
                ("recovery_after_ms", "10"),
                ("checkout_resumable_ms", "600001"),
            ],
            &[
                "BAZAAR_CALL_TIMEOUT_MS",
                "BAZAAR_PAYMENT_RETRIES",
                "BAZAAR_RECOVERY_INTERVAL_MS",
                "BAZAAR_RECOVERY_AFTER_MS",
                "BAZAAR_CHECKOUT_RESUMABLE_MS",
            ],
        );
    }
}
