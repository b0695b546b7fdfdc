//! The cart's own settings, next to the common ones every service has.
//!
//! Where the catalog and orders are (`BAZAAR_CATALOG_URL`, `BAZAAR_ORDERS_URL`, read by the
//! embedded event transport), where identity publishes its keys (`BAZAAR_IDENTITY_URL`)
//! and the database (`BAZAAR_DATABASE_URL`) are common settings.

use crate::{cookie::CookiePolicy, domain::Currency};
use platform::config::{ServiceSettings, out_of_bounds};
use serde::{Deserialize, Serialize};

/// Settings of the cart service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The shop's currency (`BAZAAR_CURRENCY`, default `USD`): every cart is priced in
    /// it, and products priced in another cannot be added.
    pub currency: String,
    /// Days an anonymous cart lives after its last change (`BAZAAR_ANONYMOUS_CART_DAYS`,
    /// default 30, 1 to 365): the `Max-Age` of its cookie, after which the cart is purged.
    pub anonymous_cart_days: u32,
    /// Marks the cart cookie `Secure` (`BAZAAR_CART_COOKIE_SECURE`, default `false`): set
    /// it when the shop is served over HTTPS only.
    pub cart_cookie_secure: bool,
}

impl Config {
    /// The longest an anonymous cart may be kept.
    pub const MAX_ANONYMOUS_CART_DAYS: u32 = 365;

    /// The shop's currency, parsed (validated at start-up).
    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).unwrap_or(Currency::USD)
    }

    /// How the anonymous cart's cookie is written.
    pub fn cookie_policy(&self) -> CookiePolicy {
        CookiePolicy {
            max_age_secs: u64::from(self.anonymous_cart_days) * 24 * 3600,
            secure: self.cart_cookie_secure,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            anonymous_cart_days: 30,
            cart_cookie_secure: false,
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = Currency::parse(&self.currency) {
            errors.push(format!("BAZAAR_CURRENCY {e}, got `{}`", self.currency));
        }
        errors.extend(out_of_bounds(
            "BAZAAR_ANONYMOUS_CART_DAYS",
            self.anonymous_cart_days,
            1..=Self::MAX_ANONYMOUS_CART_DAYS,
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
            default_settings::<Config>("cart").own.currency().as_str(),
            "USD"
        );
    }

    #[test]
    fn values_parse_like_environment_variables() {
        let s = settings::<Config>(
            "cart",
            &[
                ("currency", "EUR"),
                ("anonymous_cart_days", "7"),
                ("cart_cookie_secure", "true"),
                ("orders_url", "http://10.0.0.3:9000/"),
            ],
        );
        assert_eq!(
            s.own,
            Config {
                currency: "EUR".into(),
                anonymous_cart_days: 7,
                cart_cookie_secure: true,
            }
        );
        assert_eq!(s.directory.url("orders"), "http://10.0.0.3:9000");
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        assert_settings_refused::<Config>(
            "cart",
            &[("currency", "dollars"), ("anonymous_cart_days", "0")],
            &["BAZAAR_CURRENCY", "BAZAAR_ANONYMOUS_CART_DAYS"],
        );
        let too_long = Config {
            anonymous_cart_days: 366,
            ..Config::default()
        };
        assert_eq!(too_long.validate().len(), 1);
    }
}
