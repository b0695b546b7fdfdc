//! The inventory's domain: inputs parsed into types at the boundary (from a request or
//! from another service's event), and the stock of a product as inventory shows it.

use serde::{Deserialize, Serialize};
use std::{collections::HashSet, fmt};
use utoipa::ToSchema;

/// Why a value was refused; the message is shown next to the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// A product's id, as the catalog issued it: 1 to 64 characters of ASCII letters, digits,
/// `-` and `_` (the catalog's are UUIDs). Inventory does not insist on the UUID form, so
/// that it is not coupled to how the catalog makes ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductId(String);

impl ProductId {
    pub const MAX_LEN: usize = 64;

    /// Parses an id, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return invalid("must not be empty");
        }
        if raw.len() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return invalid("may contain only letters, digits, `-` and `_`");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Several product ids looked up at once (a listing page): 1 to 100 of them, each asked
/// once, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductIds(Vec<ProductId>);

impl ProductIds {
    /// The most ids one request may name.
    pub const MAX: usize = 100;

    /// Parses a comma-separated list (`a,b,c`); repeated ids count once.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return invalid(format!(
                "give 1 to {} comma-separated product ids",
                Self::MAX
            ));
        }
        let entries: Vec<&str> = raw.split(',').map(str::trim).collect();
        if entries.len() > Self::MAX {
            return invalid(format!(
                "names {} product ids; at most {} may be asked for at once",
                entries.len(),
                Self::MAX
            ));
        }
        let mut seen = HashSet::new();
        let mut ids = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            if entry.is_empty() {
                return invalid(format!("entry {} of the list is empty", i + 1));
            }
            let id = ProductId::parse(entry)
                .map_err(|e| Invalid(format!("`{entry}` is not a product id: it {e}")))?;
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        Ok(Self(ids))
    }

    pub fn as_slice(&self) -> &[ProductId] {
        &self.0
    }
}

/// A product's stock-keeping unit, as the catalog announced it: 1 to 64 characters
/// without control characters. Kept for operators; inventory does not interpret it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if len == 0 || len > Self::MAX_LEN {
            return invalid(format!("must be 1 to {} characters long", Self::MAX_LEN));
        }
        if raw.chars().any(char::is_control) {
            return invalid("must not contain control characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number of units in stock: 0 to 1 000 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StockLevel(i64);

impl StockLevel {
    pub const MAX: i64 = 1_000_000;

    /// A level of `units`, if within bounds.
    pub fn new(units: i64) -> Result<Self, Invalid> {
        if !(0..=Self::MAX).contains(&units) {
            return invalid(format!("must be between 0 and {}", Self::MAX));
        }
        Ok(Self(units))
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

/// Why a stock level changed: the `reason` of a ledger movement and of `stock.changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The stock a product started with, from the catalog's `product.created`.
    Initial,
    /// An administrator set the level.
    Adjustment,
}

impl Reason {
    /// The name stored in the ledger and sent in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Initial => "initial",
            Reason::Adjustment => "adjustment",
        }
    }
}

/// A product inventory starts to keep, from the catalog's `product.created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStock {
    pub product_id: ProductId,
    pub sku: Sku,
    pub initial: StockLevel,
}

/// A product's stock as inventory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stock {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub product_id: String,
    /// Units that can still be sold: in stock and not reserved by a checkout.
    #[schema(example = 42, minimum = 0)]
    pub available: i64,
    /// Units held for checkouts in progress.
    #[schema(example = 0, minimum = 0)]
    pub reserved: i64,
    /// The catalog deleted the product; its stock is kept for the record.
    pub discontinued: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_short_slugs() {
        for ok in [
            "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11",
            "p_1",
            "A",
            &"x".repeat(64),
        ] {
            assert_eq!(ProductId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", " ", "a b", "a,b", "a/b", "é", &"x".repeat(65)] {
            assert!(ProductId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn id_lists_keep_order_and_drop_repeats() {
        let ids = ProductIds::parse("b, a,b,c").unwrap();
        let names: Vec<&str> = ids.as_slice().iter().map(ProductId::as_str).collect();
        assert_eq!(names, ["b", "a", "c"]);
        let hundred = vec!["p"; 100].join(",");
        assert_eq!(ProductIds::parse(&hundred).unwrap().as_slice().len(), 1);
    }

    #[test]
    fn id_lists_refuse_empty_long_and_malformed_lists() {
        let many = (0..101)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",");
        for (bad, why) in [
            ("", "empty"),
            ("  ", "blank"),
            ("a,,b", "empty entry"),
            ("a,", "trailing comma"),
            ("a,b c", "malformed entry"),
            (many.as_str(), "101 ids"),
        ] {
            assert!(
                ProductIds::parse(bad).is_err(),
                "{why}: {bad:?} was accepted"
            );
        }
    }

    #[test]
    fn stock_levels_are_bounded() {
        assert_eq!(StockLevel::new(0).unwrap().units(), 0);
        assert_eq!(StockLevel::new(1_000_000).unwrap().units(), 1_000_000);
        for bad in [-1, 1_000_001, i64::MIN, i64::MAX] {
            assert!(StockLevel::new(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn skus_are_non_empty_text() {
        assert_eq!(Sku::parse("KIT-00001").unwrap().as_str(), "KIT-00001");
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("A\nB").is_err());
        assert!(Sku::parse(&"S".repeat(65)).is_err());
    }

    #[test]
    fn reasons_are_snake_case_everywhere() {
        for r in [Reason::Initial, Reason::Adjustment] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
