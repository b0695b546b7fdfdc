//! The events the cart consumes, decoded into its own structs with only the fields it
//! needs (so producers may add fields freely). The cart publishes none.

use serde::{Deserialize, Serialize};

/// The service name the cart consumes as (`consumer` in the producers' logs).
pub const SERVICE: &str = "cart";

pub use ::events::types::catalog::{
    PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED, PriceChanged,
    ProductDeleted,
};
pub use ::events::types::orders::{ORDER_CANCELLED, ORDER_CONFIRMED, OrderedItem};

/// What the cart reads of [`PRODUCT_CREATED`] and [`PRODUCT_UPDATED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductData {
    /// The product's id.
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
}

/// What the cart reads of [`ORDER_CONFIRMED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: String,
    /// The buyer, whose cart the ordered products leave.
    pub user_id: String,
    pub items: Vec<OrderedItem>,
}

/// What the cart reads of [`ORDER_CANCELLED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: String,
    /// The buyer, whose cart gets back what the checkout took.
    pub user_id: String,
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
                price_cents: 1299,
                currency: "USD".into()
            }
        );
    }

    #[test]
    fn reads_the_buyer_and_quantities_of_a_confirmed_order() {
        let order: OrderConfirmed = ::events::contract::read_example(ORDER_CONFIRMED);
        assert_eq!(order.user_id, "u-1");
        assert_eq!(
            order.items,
            [OrderedItem {
                product_id: "p-1".into(),
                quantity: 2
            }]
        );
    }
}
