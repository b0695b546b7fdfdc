//! The events the cart consumes, decoded into its own structs with only the fields it
//! needs (so producers may add fields freely). The cart publishes none.

use serde::{Deserialize, Serialize};

/// The service name the cart consumes as (`consumer` in the producers' logs).
pub const SERVICE: &str = "cart";

// From the catalog; the subject is the product id.

/// The catalog created a product; its data is the product, flat.
pub const PRODUCT_CREATED: &str = "bazaar.catalog.product.created.v1";
/// A product's name, description, category or price changed; its data is the product.
pub const PRODUCT_UPDATED: &str = "bazaar.catalog.product.updated.v1";
/// A product's price changed.
pub const PRODUCT_PRICE_CHANGED: &str = "bazaar.catalog.product.price_changed.v1";
/// The catalog deleted a product.
pub const PRODUCT_DELETED: &str = "bazaar.catalog.product.deleted.v1";

// From orders; the subject is the order id.

/// An order was paid for and its stock committed: its products leave the buyer's cart.
pub const ORDER_CONFIRMED: &str = "bazaar.orders.order.confirmed.v1";

/// What the cart reads of [`PRODUCT_CREATED`] and [`PRODUCT_UPDATED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductData {
    /// The product's id.
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
}

/// What the cart reads of [`PRODUCT_PRICE_CHANGED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChanged {
    pub product_id: String,
    pub new_price_cents: i64,
    pub currency: String,
}

/// What the cart reads of [`PRODUCT_DELETED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub product_id: String,
}

/// What the cart reads of [`ORDER_CONFIRMED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: String,
    /// The buyer, whose cart the ordered products leave.
    pub user_id: String,
    pub items: Vec<OrderedItem>,
}

/// One line of a confirmed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedItem {
    pub product_id: String,
    pub quantity: i64,
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
        let product: ProductData = serde_json::from_value(data).unwrap();
        assert_eq!(
            product,
            ProductData {
                id: "p-1".into(),
                name: "Mug".into(),
                price_cents: 1299,
                currency: "USD".into()
            }
        );
        let changed: PriceChanged = serde_json::from_value(serde_json::json!({
            "product_id": "p-1", "old_price_cents": 1299, "new_price_cents": 999, "currency": "USD"
        }))
        .unwrap();
        assert_eq!(changed.new_price_cents, 999);
    }

    #[test]
    fn reads_the_buyer_and_quantities_of_a_confirmed_order() {
        let data = serde_json::json!({
            "order_id": "o-1", "user_id": "u-1", "user_email": "a@b.c", "user_name": "A",
            "items": [{"product_id": "p-1", "name": "Mug", "unit_price_cents": 1299, "quantity": 2}],
            "total_cents": 2598, "currency": "USD", "confirmed_at": "2025-01-01T00:00:00.000Z"
        });
        let order: OrderConfirmed = serde_json::from_value(data).unwrap();
        assert_eq!(order.user_id, "u-1");
        assert_eq!(
            order.items,
            [OrderedItem {
                product_id: "p-1".into(),
                quantity: 2
            }]
        );
    }

    #[test]
    fn types_are_versioned_and_owned_by_their_producer() {
        for t in [
            PRODUCT_CREATED,
            PRODUCT_UPDATED,
            PRODUCT_PRICE_CHANGED,
            PRODUCT_DELETED,
        ] {
            assert!(t.starts_with("bazaar.catalog.product."), "{t}");
        }
        assert!(ORDER_CONFIRMED.starts_with("bazaar.orders."));
        for t in [
            PRODUCT_CREATED,
            PRODUCT_UPDATED,
            PRODUCT_PRICE_CHANGED,
            PRODUCT_DELETED,
            ORDER_CONFIRMED,
        ] {
            assert!(t.ends_with(".v1"), "{t}");
        }
    }
}
