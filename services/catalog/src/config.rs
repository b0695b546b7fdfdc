//! The catalog's own settings, next to the common ones every service has.

use platform::{
    config::{ServiceSettings, above},
    domain::Currency,
};
use serde::{Deserialize, Serialize};

/// Settings of the catalog service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Fill a fresh, empty database with the generated demo catalog at start
    /// (`BAZAAR_SEED`, default `true`). A database that holds products, or was seeded
    /// before, is never seeded again.
    pub seed: bool,
    /// How many products the seed generates (`BAZAAR_SEED_PRODUCTS`, default 600,
    /// at most 100 000).
    pub seed_products: u32,
    /// The shop's currency (`BAZAAR_CURRENCY`, default `USD`, as the cart's): every
    /// product is priced in it, the seed's too; one in another could never be bought.
    pub currency: String,
}

impl Config {
    /// The most products the seed may be asked for.
    pub const MAX_SEED_PRODUCTS: u32 = 100_000;

    /// The shop's currency, parsed (validated at start-up).
    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).unwrap_or(Currency::USD)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: true,
            seed_products: 600,
            currency: "USD".into(),
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        errors.extend(above(
            "BAZAAR_SEED_PRODUCTS",
            self.seed_products,
            Self::MAX_SEED_PRODUCTS,
        ));
        if let Err(e) = Currency::parse(&self.currency) {
            errors.push(format!("BAZAAR_CURRENCY {e}, got `{}`", self.currency));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::{assert_settings_refused, default_settings, settings};

    #[test]
    fn defaults_seed_six_hundred_products() {
        let s = default_settings::<Config>("catalog");
        assert!(s.own.seed);
        assert_eq!(s.own.seed_products, 600);
    }

    #[test]
    fn values_parse_like_environment_variables() {
        let s = settings::<Config>(
            "catalog",
            &[
                ("seed", "false"),
                ("seed_products", "60"),
                ("currency", "EUR"),
            ],
        );
        assert_eq!(
            s.own,
            Config {
                seed: false,
                seed_products: 60,
                currency: "EUR".into(),
            }
        );
        assert_settings_refused::<Config>(
            "catalog",
            &[("seed_products", "200000"), ("currency", "euro")],
            &["BAZAAR_SEED_PRODUCTS", "BAZAAR_CURRENCY"],
        );
    }

    #[test]
    fn too_many_seed_products_is_reported() {
        let c = Config {
            seed_products: 100_001,
            ..Config::default()
        };
        let errors = c.validate();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("BAZAAR_SEED_PRODUCTS"), "{errors:?}");
        assert!(
            Config {
                seed_products: 100_000,
                ..c
            }
            .validate()
            .is_empty()
        );
    }
}
