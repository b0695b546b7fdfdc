//! Inventory's events: what it consumes from the catalog (decoded into its own structs,
//! with only the fields it needs, so the catalog may add fields freely) and what it
//! publishes. A stock event's subject is the product id; a reservation event's is the
//! reservation id.

use crate::domain::{Reason, ReleaseReason, ReservedItem};
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

/// A reservation now holds its units (moved from available to reserved).
pub const RESERVATION_HELD: &str = "bazaar.inventory.reservation.held.v1";
/// A reservation was committed: its units left the stock for good.
pub const RESERVATION_COMMITTED: &str = "bazaar.inventory.reservation.committed.v1";
/// A reservation was released (by its caller or on expiry): its units are available again.
pub const RESERVATION_RELEASED: &str = "bazaar.inventory.reservation.released.v1";

/// Data of the reservation events: which reservation, what it holds, and (on release)
/// why it was released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationChanged {
    pub reservation_id: String,
    pub items: Vec<ReservedItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReleaseReason>,
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
    fn reservation_events_name_the_reason_only_on_release() {
        let items = vec![ReservedItem {
            product_id: "p-1".into(),
            quantity: 2,
        }];
        let held = serde_json::to_value(ReservationChanged {
            reservation_id: "r-1".into(),
            items: items.clone(),
            reason: None,
        })
        .unwrap();
        assert_eq!(
            held,
            serde_json::json!({"reservation_id": "r-1", "items": [{"product_id": "p-1", "quantity": 2}]})
        );
        let released = serde_json::to_value(ReservationChanged {
            reservation_id: "r-1".into(),
            items,
            reason: Some(ReleaseReason::Expired),
        })
        .unwrap();
        assert_eq!(released["reason"], "expired");
    }

    #[test]
    fn types_are_versioned_and_owned_by_their_producer() {
        assert!(PRODUCT_CREATED.starts_with("bazaar.catalog."));
        assert!(PRODUCT_DELETED.starts_with("bazaar.catalog."));
        let published = [
            STOCK_CHANGED,
            RESERVATION_HELD,
            RESERVATION_COMMITTED,
            RESERVATION_RELEASED,
        ];
        for t in published {
            assert!(t.starts_with("bazaar.inventory."), "{t}");
        }
        for t in [PRODUCT_CREATED, PRODUCT_DELETED].iter().chain(&published) {
            assert!(t.ends_with(".v1"), "{t}");
        }
    }
}
