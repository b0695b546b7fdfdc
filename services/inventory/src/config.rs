//! The inventory's own settings, next to the common ones every service has.
//!
//! Inventory needs nothing beyond them today: its database (`BAZAAR_DATABASE_URL`), where
//! the catalog is (`BAZAAR_CATALOG_URL`, read by the embedded transport), where identity
//! publishes its keys (`BAZAAR_IDENTITY_URL`) and how often an event is tried before it is
//! dead-lettered (`BAZAAR_EVENT_MAX_ATTEMPTS`) are all common settings.

use platform::config::ServiceSettings;
use serde::{Deserialize, Serialize};

/// Settings of the inventory service (environment variables `BAZAAR_<FIELD>`); none yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {}

impl ServiceSettings for Config {}

#[cfg(test)]
mod tests {
    use crate::Settings;

    #[test]
    fn defaults_run_on_the_inventory_port() {
        let s = Settings::for_tests("inventory", &[]).unwrap();
        assert_eq!(s.common.listen.port(), 8086);
        assert_eq!(s.common.database_url, "sqlite://data/inventory.db");
        assert_eq!(s.directory.url("catalog"), "http://127.0.0.1:8082");
    }

    #[test]
    fn common_settings_and_service_urls_are_overridden() {
        let s = Settings::for_tests(
            "inventory",
            &[
                ("event_max_attempts", "3"),
                ("catalog_url", "http://10.0.0.2:9000/"),
            ],
        )
        .unwrap();
        assert_eq!(s.common.event_max_attempts, 3);
        assert_eq!(s.directory.url("catalog"), "http://10.0.0.2:9000");
        let err = Settings::for_tests("inventory", &[("event_max_attempts", "0")]).unwrap_err();
        assert!(
            format!("{err}").contains("BAZAAR_EVENT_MAX_ATTEMPTS"),
            "{err}"
        );
    }
}
