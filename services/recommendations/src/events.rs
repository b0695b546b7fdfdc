//! The events the recommendation service learns from, decoded into its own structs with
//! only the fields it needs, so their producers may add fields freely. It publishes none.

use serde::{Deserialize, Serialize};

/// The name this service's consumer goes by (`consumer=recommendations` at the producers).
pub const SOURCE: &str = "recommendations";

pub use ::events::types::catalog::{
    PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED, PriceChanged,
    ProductDeleted,
};
pub use ::events::types::orders::{ORDER_CONFIRMED, OrderedItem};

/// What is read of [`PRODUCT_CREATED`] and [`PRODUCT_UPDATED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductData {
    pub id: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub currency: String,
    pub created_at: String,
}

/// What is read of [`ORDER_CONFIRMED`]. The shopper's email and name are left out on
/// purpose: the model needs who bought what, not how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: String,
    pub user_id: String,
    pub items: Vec<OrderedItem>,
    pub confirmed_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_it_needs_of_the_catalogs_product() {
        let product: ProductData = ::events::contract::read_example(PRODUCT_CREATED);
        assert_eq!(
            product,
            ProductData {
                id: "p-1".into(),
                name: "Mug".into(),
                category: "kitchen".into(),
                price_cents: 1299,
                currency: "USD".into(),
                created_at: "2025-01-01T00:00:00.000Z".into(),
            }
        );
    }

    #[test]
    fn reads_who_bought_what_of_a_confirmed_order_and_nothing_personal() {
        let order: OrderConfirmed = ::events::contract::read_example(ORDER_CONFIRMED);
        assert_eq!(
            order.items,
            [OrderedItem {
                product_id: "p-1".into(),
                quantity: 2
            }]
        );
        let kept = serde_json::to_value(&order).unwrap();
        assert!(kept.get("user_email").is_none() && kept.get("user_name").is_none());
    }
}
