//! The events the recommendation service learns from, decoded into its own structs with
//! only the fields it needs, so their producers may add fields freely. It publishes none.

use serde::{Deserialize, Serialize};

/// The name this service's consumer goes by (`consumer=recommendations` at the producers).
pub const SOURCE: &str = "recommendations";

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

/// An order was paid for and its stock committed: the purchase that feeds the model.
pub const ORDER_CONFIRMED: &str = "bazaar.orders.order.confirmed.v1";

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

/// What is read of [`PRODUCT_PRICE_CHANGED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChanged {
    pub product_id: String,
    pub new_price_cents: i64,
    pub currency: String,
}

/// What is read of [`PRODUCT_DELETED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub product_id: String,
}

/// What is read of [`ORDER_CONFIRMED`]. The shopper's email and name are left out on
/// purpose: the model needs who bought what, not how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: String,
    pub user_id: String,
    pub items: Vec<OrderItem>,
    pub confirmed_at: String,
}

/// One line of [`OrderConfirmed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_id: String,
    pub quantity: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_only_what_it_needs_of_the_catalogs_product() {
        let data = json!({
            "id": "p-1", "sku": "KIT-00001", "name": "Mug", "description": "A mug.",
            "category": "kitchen", "price_cents": 1299, "currency": "USD",
            "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-02T00:00:00.000Z",
            "initial_stock": 7
        });
        let product: ProductData = serde_json::from_value(data).unwrap();
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
        let price: PriceChanged = serde_json::from_value(json!({
            "product_id": "p-1", "old_price_cents": 1299, "new_price_cents": 999, "currency": "USD"
        }))
        .unwrap();
        assert_eq!(price.new_price_cents, 999);
        let deleted: ProductDeleted =
            serde_json::from_value(json!({"product_id": "p-1", "sku": "KIT-00001"})).unwrap();
        assert_eq!(deleted.product_id, "p-1");
    }

    #[test]
    fn reads_who_bought_what_of_a_confirmed_order_and_nothing_personal() {
        let data = json!({
            "order_id": "o-1", "user_id": "u-1", "user_email": "sam@example.com",
            "user_name": "Sam", "total_cents": 2598, "currency": "USD",
            "items": [{"product_id": "p-1", "name": "Mug", "unit_price_cents": 1299, "quantity": 2}],
            "confirmed_at": "2025-01-01T00:00:00.000Z"
        });
        let order: OrderConfirmed = serde_json::from_value(data).unwrap();
        assert_eq!(
            order.items,
            [OrderItem {
                product_id: "p-1".into(),
                quantity: 2
            }]
        );
        let kept = serde_json::to_value(&order).unwrap();
        assert!(kept.get("user_email").is_none() && kept.get("user_name").is_none());
    }

    #[test]
    fn types_are_versioned_and_owned_by_their_producer() {
        for t in [
            PRODUCT_CREATED,
            PRODUCT_UPDATED,
            PRODUCT_PRICE_CHANGED,
            PRODUCT_DELETED,
        ] {
            assert!(t.starts_with("bazaar.catalog."), "{t}");
            assert!(t.ends_with(".v1"), "{t}");
        }
        assert!(ORDER_CONFIRMED.starts_with("bazaar.orders.") && ORDER_CONFIRMED.ends_with(".v1"));
    }
}
