//! The catalog events search is built from, decoded into search's own structs with only
//! the fields it needs (so the catalog may add fields freely). Search publishes nothing.

use serde::{Deserialize, Serialize};

/// The name search's consumer is known by (its inbox and cursors are its own).
pub const SERVICE: &str = "search";
/// The producer search follows.
pub const CATALOG: &str = ::events::types::catalog::PRODUCTS.producer;

pub use ::events::types::catalog::{
    PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED, PriceChanged,
    ProductDeleted,
};

/// What search reads of [`PRODUCT_CREATED`] and [`PRODUCT_UPDATED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductData {
    pub id: String,
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub currency: String,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_it_needs_of_the_catalogs_product() {
        let p: ProductData = ::events::contract::read_example(PRODUCT_CREATED);
        assert_eq!(p.id, "p-1");
        assert_eq!(p.price_cents, 1299);
    }
}
