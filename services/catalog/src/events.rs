//! What the catalog publishes: its event types and their payloads. Every event's subject
//! is the product id; events are recorded through the transactional outbox.

use crate::domain::Product;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service name events are stamped with (`source` = `/bazaar/catalog`).
pub const SOURCE: &str = "catalog";

pub use ::events::types::catalog::{
    PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED,
};

/// Data of [`PRODUCT_CREATED`]: the product and the stock it starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductCreated {
    #[serde(flatten)]
    pub product: Product,
    pub initial_stock: u32,
}

/// Data of [`PRODUCT_UPDATED`]: the product after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductUpdated {
    #[serde(flatten)]
    pub product: Product,
}

/// Data of [`PRODUCT_PRICE_CHANGED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductPriceChanged {
    pub product_id: String,
    pub old_price_cents: i64,
    pub new_price_cents: i64,
    pub currency: String,
}

/// Data of [`PRODUCT_DELETED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductDeleted {
    pub product_id: String,
    pub sku: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        Product {
            id: "p-1".into(),
            sku: "KIT-00001".into(),
            name: "Mug".into(),
            description: "A mug.".into(),
            category: "kitchen".into(),
            price_cents: 1299,
            currency: "USD".into(),
            created_at: "2025-01-01T00:00:00.000Z".into(),
            updated_at: "2025-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn publishes_the_contract_of_each_event_it_records() {
        use ::events::contract::assert_published;
        assert_published(
            PRODUCT_CREATED,
            &ProductCreated {
                product: product(),
                initial_stock: 7,
            },
        );
        assert_published(PRODUCT_UPDATED, &ProductUpdated { product: product() });
        assert_published(
            PRODUCT_PRICE_CHANGED,
            &ProductPriceChanged {
                product_id: "p-1".into(),
                old_price_cents: 1299,
                new_price_cents: 999,
                currency: "USD".into(),
            },
        );
        assert_published(
            PRODUCT_DELETED,
            &ProductDeleted {
                product_id: "p-1".into(),
                sku: "KIT-00001".into(),
            },
        );
    }

    #[test]
    fn created_carries_the_whole_product_flat_and_its_stock() {
        let v = serde_json::to_value(ProductCreated {
            product: product(),
            initial_stock: 7,
        })
        .unwrap();
        assert_eq!(v["id"], "p-1");
        assert_eq!(v["price_cents"], 1299);
        assert_eq!(v["initial_stock"], 7);
        let back: ProductCreated = serde_json::from_value(v).unwrap();
        assert_eq!(back.product, product());
    }
}
