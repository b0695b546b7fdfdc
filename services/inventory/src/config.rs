//! The inventory's own settings, next to the common ones every service has.
//!
//! Beyond its own (below), inventory uses common settings only: its database
//! (`BAZAAR_DATABASE_URL`), where the catalog is (`BAZAAR_CATALOG_URL`, read by the
//! embedded transport), where identity publishes its keys (`BAZAAR_IDENTITY_URL`) and how
//! often an event is tried before it is dead-lettered (`BAZAAR_EVENT_MAX_ATTEMPTS`).

use crate::domain::Ttl;
use platform::config::ServiceSettings;
use serde::{Deserialize, Serialize};

/// Settings of the inventory service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// How long a reservation holds its units when the caller does not say
    /// (`BAZAAR_RESERVATION_TTL_SECS`, default 900, 1 to 86 400). A reservation neither
    /// committed nor released by then is released by the expiry worker.
    pub reservation_ttl_secs: Ttl,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            reservation_ttl_secs: Ttl::of::<900>(),
        }
    }
}

impl ServiceSettings for Config {}

#[cfg(test)]
mod tests {
    use super::Config;
    use platform::testing::{assert_settings_refused, default_settings, settings};
    type Settings = platform::config::Settings<super::Config>;

    #[test]
    fn defaults_run() {
        let s = default_settings::<Config>("inventory");
        assert_eq!(s.own.reservation_ttl_secs.get(), 900);
    }

    #[test]
    fn common_settings_and_service_urls_are_overridden() {
        let s = settings::<Config>(
            "inventory",
            &[
                ("event_max_attempts", "3"),
                ("catalog_url", "http://10.0.0.2:9000/"),
            ],
        );
        assert_eq!(s.common.event_max_attempts, 3);
        assert_eq!(s.directory.url("catalog"), "http://10.0.0.2:9000");
        assert_settings_refused::<Config>(
            "inventory",
            &[("event_max_attempts", "0")],
            &["BAZAAR_EVENT_MAX_ATTEMPTS"],
        );
    }

    #[test]
    fn the_reservation_ttl_is_bounded() {
        for ok in ["1", "60", "86400"] {
            let s = settings::<Config>("inventory", &[("reservation_ttl_secs", ok)]);
            assert_eq!(s.own.reservation_ttl_secs.get().to_string(), ok);
        }
        for bad in ["0", "86401", "-5"] {
            let err =
                Settings::for_tests("inventory", &[("reservation_ttl_secs", bad)]).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("reservation_ttl_secs") && text.contains("between 1 and 86400"),
                "{bad}: {text}"
            );
        }
    }
}
