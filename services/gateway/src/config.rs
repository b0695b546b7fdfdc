//! The gateway's own settings (each also settable as `BAZAAR_<FIELD>`).

use platform::config::ServiceSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Longest wait for an upstream's response head, in ms, unless a route says otherwise.
    pub upstream_timeout_ms: u64,
    /// Longest wait for the checkout saga, which calls several services in turn.
    pub checkout_timeout_ms: u64,
    /// Longest wait to open a TCP connection to an upstream, in ms.
    pub connect_timeout_ms: u64,
    /// Consecutive failures that open an upstream's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before letting one through, in ms.
    pub breaker_open_ms: u64,
    /// Timeout of each upstream readiness probe behind `/health/ready`, in ms.
    pub health_timeout_ms: u64,
    /// Services whose absence degrades the shop without making the gateway unready.
    pub optional_services: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            upstream_timeout_ms: 5_000,
            checkout_timeout_ms: 12_000,
            connect_timeout_ms: 1_000,
            breaker_failures: 5,
            breaker_open_ms: 2_000,
            health_timeout_ms: 1_000,
            optional_services: vec!["search".into(), "recommendations".into()],
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, v) in [
            ("BAZAAR_UPSTREAM_TIMEOUT_MS", self.upstream_timeout_ms),
            ("BAZAAR_CHECKOUT_TIMEOUT_MS", self.checkout_timeout_ms),
            ("BAZAAR_CONNECT_TIMEOUT_MS", self.connect_timeout_ms),
            ("BAZAAR_BREAKER_OPEN_MS", self.breaker_open_ms),
            ("BAZAAR_HEALTH_TIMEOUT_MS", self.health_timeout_ms),
        ] {
            if v == 0 {
                errors.push(format!("{name} must be greater than 0"));
            }
        }
        if self.breaker_failures == 0 {
            errors.push("BAZAAR_BREAKER_FAILURES must be greater than 0".into());
        }
        errors
    }
}
