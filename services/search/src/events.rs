//! The catalog events search is built from, decoded into search's own structs with only
//! the fields it needs (so the catalog may add fields freely). Search publishes nothing.

use serde::{Deserialize, Serialize};

/// The name search's consumer is known by (its inbox and cursors are its own).
pub const SERVICE: &str = "search";
/// The producer search follows.
pub const CATALOG: &str = "catalog";

/// A product was created; its data is the product, flat.
pub const PRODUCT_CREATED: &str = "bazaar.catalog.product.created.v1";
/// A product changed; its data is the whole product after the change.
pub const PRODUCT_UPDATED: &str = "bazaar.catalog.product.updated.v1";
/// A product's price changed.
pub const PRODUCT_PRICE_CHANGED: &str = "bazaar.catalog.product.price_changed.v1";
/// A product was deleted.
pub const PRODUCT_DELETED: &str = "bazaar.catalog.product.deleted.v1";

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

/// What search reads of [`PRODUCT_PRICE_CHANGED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChanged {
    pub product_id: String,
    pub new_price_cents: i64,
    pub currency: String,
}

/// What search reads of [`PRODUCT_DELETED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub product_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_it_needs_of_the_catalogs_product() {
        let data = serde_json::json!({
            "id": "p-1", "sku": "KIT-00001", "name": "Mug", "description": "A mug.",
            "category": "kitchen", "price_cents": 1299, "currency": "USD",
            "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-02T00:00:00.000Z",
            "initial_stock": 7, "some_future_field": true
        });
        let p: ProductData = serde_json::from_value(data).unwrap();
        assert_eq!(p.id, "p-1");
        assert_eq!(p.price_cents, 1299);
        let changed: PriceChanged = serde_json::from_value(serde_json::json!({
            "product_id": "p-1", "old_price_cents": 1299, "new_price_cents": 999, "currency": "USD"
        }))
        .unwrap();
        assert_eq!(changed.new_price_cents, 999);
        let deleted: ProductDeleted =
            serde_json::from_value(serde_json::json!({"product_id": "p-1", "sku": "KIT-00001"}))
                .unwrap();
        assert_eq!(deleted.product_id, "p-1");
    }

    #[test]
    fn types_are_the_catalogs_and_versioned() {
        for t in [
            PRODUCT_CREATED,
            PRODUCT_UPDATED,
            PRODUCT_PRICE_CHANGED,
            PRODUCT_DELETED,
        ] {
            assert!(t.starts_with("bazaar.catalog.product."), "{t}");
            assert!(t.ends_with(".v1"), "{t}");
        }
    }
}
