//! The storefront's own settings, next to the common ones every service has.
//!
//! Beyond its own (below), the storefront reads the directory: the gateway it calls the
//! public APIs through (`BAZAAR_GATEWAY_URL`), identity for its signing keys and service
//! tokens (`BAZAAR_IDENTITY_URL`), and every service's own address for the ops console's
//! health checks and metrics scrapes (`BAZAAR_<NAME>_URL`). It owns no database.

use platform::config::{Secret, ServiceSettings};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The shortest `BAZAAR_SESSION_KEY` accepted.
pub const MIN_SESSION_KEY_LEN: usize = 32;

/// Settings of the storefront (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Longest wait for an API call a page cannot do without, in ms
    /// (`BAZAAR_UPSTREAM_TIMEOUT_MS`, default 5 000).
    pub upstream_timeout_ms: u64,
    /// Longest wait for what a page can do without — recommendations, type-ahead, the
    /// header's cart and notification counts — in ms (`BAZAAR_OPTIONAL_TIMEOUT_MS`,
    /// default 300). The page renders without them rather than wait longer.
    pub optional_timeout_ms: u64,
    /// Longest wait for the search service on the search page before falling back to the
    /// catalog's name filter, in ms (`BAZAAR_SEARCH_TIMEOUT_MS`, default 1 500).
    pub search_timeout_ms: u64,
    /// Longest wait for a checkout, in ms (`BAZAAR_CHECKOUT_TIMEOUT_MS`, default 13 000):
    /// longer than the gateway's checkout timeout, shorter than this service's own request
    /// timeout, so the shopper always gets a page.
    pub checkout_timeout_ms: u64,
    /// The supervisor's control API (`BAZAAR_SUPERVISOR_URL`, set by `bazaar up`). Without
    /// it the ops console says that process control is unavailable.
    pub supervisor_url: Option<String>,
    /// When the session cookie is `Secure` and `__Host-` named (`BAZAAR_SECURE_COOKIES`):
    /// `auto` (the default: always, except over plain HTTP on this machine, as `bazaar up`
    /// serves it), `always` (or true), or `never` (or false: the explicit opt-out for
    /// plain-HTTP development on another host).
    pub secure_cookies: crate::session::SecureCookies,
    /// How long the browser keeps the session cookie, in seconds
    /// (`BAZAAR_SESSION_MAX_AGE_SECS`, default 30 days, like identity's refresh tokens).
    pub session_max_age_secs: u64,
    /// The secret session cookies are sealed with (`BAZAAR_SESSION_KEY`, at least 32
    /// characters; the same for every replica). Unset: derived from the service secret,
    /// else random per process (sessions then end at a restart).
    pub session_key: Option<Secret>,
    /// Stock at or below which a product page says "only N left"
    /// (`BAZAAR_LOW_STOCK_THRESHOLD`, default 5).
    pub low_stock_threshold: i64,
    /// Categories shown with featured products on the home page
    /// (`BAZAAR_FEATURED_CATEGORIES`, default 4, at most 12).
    pub featured_categories: usize,
    /// Products shown per featured category on the home page
    /// (`BAZAAR_FEATURED_PER_CATEGORY`, default 4, at most 12).
    pub featured_per_category: usize,
    /// How often the ops console checks health, backlogs, the event feed and the
    /// processes while someone watches it, in ms (`BAZAAR_OPS_POLL_MS`, default 1 000).
    pub ops_poll_ms: u64,
    /// How often the ops console scrapes every service's `/metrics` while someone watches
    /// it, in ms (`BAZAAR_OPS_SCRAPE_MS`, default 3 000); rates are computed between two
    /// scrapes.
    pub ops_scrape_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            upstream_timeout_ms: 5_000,
            optional_timeout_ms: 300,
            search_timeout_ms: 1_500,
            checkout_timeout_ms: 13_000,
            supervisor_url: None,
            secure_cookies: crate::session::SecureCookies::Auto,
            session_max_age_secs: 30 * 24 * 60 * 60,
            session_key: None,
            low_stock_threshold: 5,
            featured_categories: 4,
            featured_per_category: 4,
            ops_poll_ms: 1_000,
            ops_scrape_ms: 3_000,
        }
    }
}

impl Config {
    /// The timeout of each kind of call the pages make.
    pub fn timeouts(&self) -> crate::api::Timeouts {
        crate::api::Timeouts {
            standard: Duration::from_millis(self.upstream_timeout_ms),
            optional: Duration::from_millis(self.optional_timeout_ms),
            search: Duration::from_millis(self.search_timeout_ms),
            checkout: Duration::from_millis(self.checkout_timeout_ms),
        }
    }

    /// How the session cookie is written.
    pub fn session_cookies(&self) -> crate::session::CookiePolicy {
        crate::session::CookiePolicy {
            max_age_secs: self.session_max_age_secs,
            secure: self.secure_cookies,
        }
    }

    /// `BAZAAR_SESSION_KEY`, if set (and not empty).
    pub fn session_key(&self) -> Option<&Secret> {
        self.session_key.as_ref().filter(|k| !k.is_empty())
    }

    /// The supervisor's URL without a trailing slash, if one is configured.
    pub fn supervisor(&self) -> Option<String> {
        self.supervisor_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/'))
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, value, max) in [
            (
                "BAZAAR_UPSTREAM_TIMEOUT_MS",
                self.upstream_timeout_ms,
                60_000,
            ),
            (
                "BAZAAR_OPTIONAL_TIMEOUT_MS",
                self.optional_timeout_ms,
                10_000,
            ),
            ("BAZAAR_SEARCH_TIMEOUT_MS", self.search_timeout_ms, 60_000),
            (
                "BAZAAR_CHECKOUT_TIMEOUT_MS",
                self.checkout_timeout_ms,
                120_000,
            ),
            ("BAZAAR_OPS_POLL_MS", self.ops_poll_ms, 60_000),
            ("BAZAAR_OPS_SCRAPE_MS", self.ops_scrape_ms, 300_000),
        ] {
            if value == 0 || value > max {
                errors.push(format!("{name} must be between 1 and {max}, got {value}"));
            }
        }
        if self.session_max_age_secs == 0 {
            errors.push("BAZAAR_SESSION_MAX_AGE_SECS must be greater than 0".into());
        }
        if let Some(key) = self.session_key()
            && key.expose().chars().count() < MIN_SESSION_KEY_LEN
        {
            errors.push(format!(
                "BAZAAR_SESSION_KEY must be at least {MIN_SESSION_KEY_LEN} characters long"
            ));
        }
        if self.low_stock_threshold < 0 {
            errors.push(format!(
                "BAZAAR_LOW_STOCK_THRESHOLD must not be negative, got {}",
                self.low_stock_threshold
            ));
        }
        for (name, value) in [
            ("BAZAAR_FEATURED_CATEGORIES", self.featured_categories),
            ("BAZAAR_FEATURED_PER_CATEGORY", self.featured_per_category),
        ] {
            if !(1..=12).contains(&value) {
                errors.push(format!("{name} must be between 1 and 12, got {value}"));
            }
        }
        if let Some(url) = self.supervisor()
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(format!(
                "BAZAAR_SUPERVISOR_URL must be an http:// or https:// URL, got `{url}`"
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::Config;
    use platform::testing::{assert_settings_refused, default_settings, settings};

    #[test]
    fn defaults_run() {
        let own = default_settings::<Config>("storefront").own;
        assert_eq!(own.optional_timeout_ms, 300);
        assert_eq!(own.supervisor(), None);
    }

    #[test]
    fn the_supervisor_url_is_read_and_checked() {
        let own = settings::<Config>(
            "storefront",
            &[("supervisor_url", "http://127.0.0.1:4000/")],
        )
        .own;
        assert_eq!(own.supervisor().as_deref(), Some("http://127.0.0.1:4000"));
        assert_settings_refused::<Config>(
            "storefront",
            &[("supervisor_url", "ftp://x")],
            &["BAZAAR_SUPERVISOR_URL"],
        );
    }

    #[test]
    fn a_session_key_is_long_or_absent() {
        let key = "k".repeat(32);
        let own = settings::<Config>("storefront", &[("session_key", &key)]).own;
        assert_eq!(own.session_key().map(|k| k.expose()), Some(key.as_str()));
        assert!(
            !format!("{own:?}").contains(&key),
            "the key is never printed"
        );
        let unset = settings::<Config>("storefront", &[("session_key", "")]).own;
        assert!(unset.session_key().is_none(), "empty is unset");
        assert_settings_refused::<Config>(
            "storefront",
            &[("session_key", "too-short")],
            &["BAZAAR_SESSION_KEY"],
        );
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        assert_settings_refused::<Config>(
            "storefront",
            &[
                ("optional_timeout_ms", "0"),
                ("featured_categories", "40"),
                ("low_stock_threshold", "-1"),
            ],
            &[
                "BAZAAR_OPTIONAL_TIMEOUT_MS",
                "BAZAAR_FEATURED_CATEGORIES",
                "BAZAAR_LOW_STOCK_THRESHOLD",
            ],
        );
    }
}
