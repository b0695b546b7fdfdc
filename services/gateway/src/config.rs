//! The gateway's own settings (each also settable as `BAZAAR_<FIELD>`).

use platform::{config::ServiceSettings, ratelimit::Quota};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Longest wait for an upstream's response head, in ms, unless the service's route
    /// says otherwise (orders' checkout does).
    pub upstream_timeout_ms: u64,
    /// Longest wait to open a TCP connection to an upstream, in ms.
    pub connect_timeout_ms: u64,
    /// Timeout of each upstream readiness probe behind `/health/ready`, in ms.
    pub health_timeout_ms: u64,
    /// Requests per client address (`BAZAAR_ADDRESS_RATE_LIMIT`): `50/s burst 200` lets a
    /// browser load pages and their API calls freely while stopping a scraper or a flood.
    /// The address is the peer's, or the one a trusted proxy forwards.
    pub address_rate_limit: Quota,
    /// Requests per signed-in user, by the verified token's subject
    /// (`BAZAAR_USER_RATE_LIMIT`), wherever they come from.
    pub user_rate_limit: Quota,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            upstream_timeout_ms: 5_000,
            connect_timeout_ms: 1_000,
            health_timeout_ms: 1_000,
            address_rate_limit: "50/s burst 200".parse().expect("a valid quota"),
            user_rate_limit: "20/s burst 100".parse().expect("a valid quota"),
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, v) in [
            ("BAZAAR_UPSTREAM_TIMEOUT_MS", self.upstream_timeout_ms),
            ("BAZAAR_CONNECT_TIMEOUT_MS", self.connect_timeout_ms),
            ("BAZAAR_HEALTH_TIMEOUT_MS", self.health_timeout_ms),
        ] {
            if v == 0 {
                errors.push(format!("{name} must be greater than 0"));
            }
        }
        errors
    }
}
