//! The catalog's own settings, next to the common ones every service has.

use platform::config::{ServiceSettings, above};
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
}

impl Config {
    /// The most products the seed may be asked for.
    pub const MAX_SEED_PRODUCTS: u32 = 100_000;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: true,
            seed_products: 600,
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
        let s = settings::<Config>("catalog", &[("seed", "false"), ("seed_products", "60")]);
        assert_eq!(
            s.own,
            Config {
                seed: false,
                seed_products: 60
            }
        );
        assert_settings_refused::<Config>(
            "catalog",
            &[("seed_products", "200000")],
            &["BAZAAR_SEED_PRODUCTS"],
        );
    }

    #[test]
    fn too_many_seed_products_is_reported() {
        let c = Config {
            seed: true,
            seed_products: 100_001,
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
