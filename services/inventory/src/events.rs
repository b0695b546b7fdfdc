//! Inventory's events: what it consumes from the catalog (decoded into its own structs,
//! with only the fields it needs, so the catalog may add fields freely) and what it
//! publishes. A stock event's subject is the product id; a reservation event's is the
//! reservation id.

use crate::domain::{Reason, ReleaseReason, ReservedItem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service name inventory's events are stamped with (`source` = `/bazaar/inventory`).
pub const SOURCE: &str = "inventory";

pub use ::events::types::catalog::{PRODUCT_CREATED, PRODUCT_DELETED, ProductDeleted};
pub use ::events::types::inventory::{
    RESERVATION_COMMITTED, RESERVATION_HELD, RESERVATION_RELEASED, STOCK_CHANGED,
};

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

// Published.

/// Data of [`STOCK_CHANGED`]: the levels after the change, and why it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockChanged {
    pub product_id: String,
    /// Units that can still be sold.
    pub available: i64,
    /// Units held for checkouts in progress.
    pub reserved: i64,
    pub reason: Reason,
}

/// Data of the reservation events: which reservation, what it holds, and (on release)
/// why it was released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
        let created: ProductCreated = ::events::contract::read_example(PRODUCT_CREATED);
        assert_eq!(
            created,
            ProductCreated {
                id: "p-1".into(),
                sku: "KIT-00001".into(),
                initial_stock: 7
            }
        );
    }

    #[test]
    fn publishes_the_contract_of_each_event_it_records() {
        use ::events::contract::assert_published;
        assert_published(
            STOCK_CHANGED,
            &StockChanged {
                product_id: "p-1".into(),
                available: 5,
                reserved: 2,
                reason: Reason::Reserved,
            },
        );
        let items = vec![ReservedItem {
            product_id: "p-1".into(),
            quantity: 2,
        }];
        let reservation = |reason| ReservationChanged {
            reservation_id: "r-1".into(),
            items: items.clone(),
            reason,
        };
        assert_published(RESERVATION_HELD, &reservation(None));
        assert_published(RESERVATION_COMMITTED, &reservation(None));
        assert_published(
            RESERVATION_RELEASED,
            &reservation(Some(ReleaseReason::Expired)),
        );
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
}
