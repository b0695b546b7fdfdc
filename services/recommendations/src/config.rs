//! The recommendation service's own settings, next to the common ones every service has.
//!
//! Its database (`BAZAAR_DATABASE_URL`), where the catalog and orders are
//! (`BAZAAR_CATALOG_URL`, `BAZAAR_ORDERS_URL`, read by the embedded event transport), where
//! identity publishes its keys (`BAZAAR_IDENTITY_URL`) and how often an event is tried
//! before it is dead-lettered (`BAZAAR_EVENT_MAX_ATTEMPTS`) are common settings.

use crate::domain::Limit;
use platform::config::{ServiceSettings, out_of_bounds};
use serde::{Deserialize, Serialize};

/// Settings of the recommendation service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// How many products a request gets when it names no `limit` (`BAZAAR_DEFAULT_LIMIT`,
    /// default 6, 1 to 20).
    pub default_limit: u32,
    /// How many of a user's most recently bought products "for you" starts from
    /// (`BAZAAR_HISTORY_DEPTH`, default 50, 1 to 1000): it bounds the work of one request
    /// however long a shopper's history grows. Everything they ever bought is still left
    /// out of their recommendations.
    pub history_depth: u32,
}

impl Config {
    /// The most products "for you" starts from.
    pub const MAX_HISTORY_DEPTH: u32 = 1000;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_limit: Limit::DEFAULT,
            history_depth: 50,
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        errors.extend(out_of_bounds(
            "BAZAAR_DEFAULT_LIMIT",
            self.default_limit,
            1..=Limit::MAX,
        ));
        errors.extend(out_of_bounds(
            "BAZAAR_HISTORY_DEPTH",
            self.history_depth,
            1..=Self::MAX_HISTORY_DEPTH,
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
        assert_eq!(
            default_settings::<Config>("recommendations")
                .own
                .default_limit,
            6
        );
    }

    #[test]
    fn values_parse_like_environment_variables() {
        let s = settings::<Config>(
            "recommendations",
            &[
                ("default_limit", "10"),
                ("history_depth", "5"),
                ("orders_url", "http://10.0.0.3:9000/"),
            ],
        );
        assert_eq!(
            s.own,
            Config {
                default_limit: 10,
                history_depth: 5
            }
        );
        assert_eq!(s.directory.url("orders"), "http://10.0.0.3:9000");
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        assert_settings_refused::<Config>(
            "recommendations",
            &[("default_limit", "21"), ("history_depth", "0")],
            &["BAZAAR_DEFAULT_LIMIT", "BAZAAR_HISTORY_DEPTH"],
        );
        assert_settings_refused::<Config>(
            "recommendations",
            &[("default_limit", "0")],
            &["BAZAAR_DEFAULT_LIMIT"],
        );
    }
}
