//! Inventory's events: what it consumes from the catalog (decoded into its own structs,
//! with only the fields it needs, so the catalog may add fields freely) and what it
//! publishes. Every event's subject is the product id.

use crate::domain::Reason;
use serde::{Deserialize, Serialize};

/// The service name inventory's events are stamped with (`source` = `/bazaar/inventory`).
pub const SOURCE: &str = "inventory";

// Consumed, from the catalog.

/// The catalog created a product; its data carries the stock the product starts with.
pub const PRODUCT_CREATED: &str = "bazaar.catalog.product.created.v1";
/// The catalog deleted a product.
pub const PRODUCT_DELETED: &str = "bazaar.catalog.product.deleted.v1";

/// What inventory reads of [`PRODUCT_CREATED`] (the whole product, flattened, plus
/// `initial_stock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreated {
    /// The product's id.
    pub id: String,
    pub sku: String,
    /// Units in stock to start with.
    pub initial_stock: i64,
}

/// What inventory reads of [`PRODUCT_DELETED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub product_id: String,
}

// Published.

/// A product's stock changed; recorded with every change of `available`.
pub const STOCK_CHANGED: &str = "bazaar.inventory.stock.changed.v1";

/// Data of [`STOCK_CHANGED`]: the levels after the change, and why it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChanged {
    pub product_id: String,
    /// Units that can still be sold.
    pub available: i64,
    /// Units held for checkouts in progress.
    pub reserved: i64,
    pub reason: Reason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_it_needs_of_the_catalogs_product() {
        let data = serde_json::json!({
            "id": "p-1", "sku": "KIT-00001", "name": "Mug", "description": "A mug.",
            "category": "kitchen", "price_cents": 1299, "currency": "USD",
            "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-01T00:00:00.000Z",
            "initial_stock": 7
        });
        let created: ProductCreated = serde_json::from_value(data).unwrap();
        assert_eq!(
            created,
            ProductCreated {
                id: "p-1".into(),
                sku: "KIT-00001".into(),
                initial_stock: 7
            }
        );
        let deleted: ProductDeleted =
            serde_json::from_value(serde_json::json!({"product_id": "p-1", "sku": "KIT-00001"}))
                .unwrap();
        assert_eq!(deleted.product_id, "p-1");
    }

    #[test]
    fn stock_changed_names_its_reason() {
        let v = serde_json::to_value(StockChanged {
            product_id: "p-1".into(),
            available: 5,
            reserved: 0,
            reason: Reason::Adjustment,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"product_id": "p-1", "available": 5, "reserved": 0, "reason": "adjustment"})
        );
    }

    #[test]
    fn types_are_versioned_and_owned_by_their_producer() {
        assert!(PRODUCT_CREATED.starts_with("bazaar.catalog."));
        assert!(PRODUCT_DELETED.starts_with("bazaar.catalog."));
        assert!(STOCK_CHANGED.starts_with("bazaar.inventory."));
        for t in [PRODUCT_CREATED, PRODUCT_DELETED, STOCK_CHANGED] {
            assert!(t.ends_with(".v1"), "{t}");
        }
    }
}
