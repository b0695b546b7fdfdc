//! Every event type Bazaar's services publish, named once, so that a producer and its
//! consumers cannot spell one differently. Grouped by producer; each producer's events
//! are stamped with its own `source`.

/// The catalog's events; the subject is the product id.
pub mod catalog {
    use platform::{
        Failure, Subscription,
        domain::{Currency, Invalid, ProductId},
    };
    use serde::{Deserialize, Serialize};

    /// A product was created (by an administrator or by the seed); its data is the
    /// product, flat, plus the stock it starts with.
    pub const PRODUCT_CREATED: &str = "bazaar.catalog.product.created.v1";
    /// A product's name, description, category or price changed; its data is the whole
    /// product after the change.
    pub const PRODUCT_UPDATED: &str = "bazaar.catalog.product.updated.v1";
    /// A product's price changed; recorded next to [`PRODUCT_UPDATED`].
    pub const PRODUCT_PRICE_CHANGED: &str = "bazaar.catalog.product.price_changed.v1";
    /// A product was deleted.
    pub const PRODUCT_DELETED: &str = "bazaar.catalog.product.deleted.v1";

    /// Every product event: what a consumer that keeps its own copy of the catalog's
    /// products (cart, search, recommendations) subscribes to.
    pub const PRODUCTS: Subscription = Subscription {
        producer: "catalog",
        types: &[
            PRODUCT_CREATED,
            PRODUCT_UPDATED,
            PRODUCT_PRICE_CHANGED,
            PRODUCT_DELETED,
        ],
    };

    /// What a consumer reads of [`PRODUCT_PRICE_CHANGED`]: the new price (the catalog
    /// also sends the old one).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PriceChanged {
        pub product_id: String,
        pub new_price_cents: i64,
        pub currency: String,
    }

    /// What a consumer reads of [`PRODUCT_DELETED`]: which product (the catalog also
    /// sends its sku).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ProductDeleted {
        pub product_id: String,
    }

    impl PriceChanged {
        /// The product, its new price in the consumer's own bounds (`price`, given the
        /// minor units) and its currency; a value out of bounds is named.
        pub fn parse<P>(
            &self,
            price: impl FnOnce(i64) -> Result<P, Invalid>,
        ) -> Result<(ProductId, P, Currency), Failure> {
            Ok((
                Failure::field("product_id", ProductId::parse(&self.product_id))?,
                Failure::field("new_price_cents", price(self.new_price_cents))?,
                Failure::field("currency", Currency::parse(&self.currency))?,
            ))
        }
    }

    impl ProductDeleted {
        /// The deleted product, or why its id is refused.
        pub fn parse(&self) -> Result<ProductId, Failure> {
            Failure::field("product_id", ProductId::parse(&self.product_id))
        }
    }
}

/// Inventory's events; a stock event's subject is the product id, a reservation event's
/// the reservation id.
pub mod inventory {
    /// A product's stock changed; recorded with every change of `available`.
    pub const STOCK_CHANGED: &str = "bazaar.inventory.stock.changed.v1";
    /// A reservation now holds its units (moved from available to reserved).
    pub const RESERVATION_HELD: &str = "bazaar.inventory.reservation.held.v1";
    /// A reservation was committed: its units left the stock for good.
    pub const RESERVATION_COMMITTED: &str = "bazaar.inventory.reservation.committed.v1";
    /// A reservation was released (by its caller or on expiry): its units are available
    /// again.
    pub const RESERVATION_RELEASED: &str = "bazaar.inventory.reservation.released.v1";
}

/// Orders' events; the subject is the order id.
pub mod orders {
    use serde::{Deserialize, Serialize};

    /// An order was placed: recorded, not yet paid for or confirmed.
    pub const ORDER_PLACED: &str = "bazaar.orders.order.placed.v1";
    /// An order was confirmed: its stock is taken and its payment captured. The cart
    /// settles the lines the checkout took (or, for an order that took none, removes the
    /// ordered quantities); notifications tells the customer; recommendations counts the
    /// purchase.
    pub const ORDER_CONFIRMED: &str = "bazaar.orders.order.confirmed.v1";
    /// An order was cancelled; `reason` says why. Nothing was charged. The cart gives back
    /// the lines the checkout took.
    pub const ORDER_CANCELLED: &str = "bazaar.orders.order.cancelled.v1";

    /// What a consumer that needs only who bought what reads of one line of an order
    /// (orders also sends the product's name and prices).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OrderedItem {
        pub product_id: String,
        pub quantity: i64,
    }
}

/// Payments' events; an authorisation's events have the authorisation id as subject, a
/// decline (which makes no authorisation) the order id.
pub mod payments {
    /// Money is held on the card.
    pub const PAYMENT_AUTHORIZED: &str = "bazaar.payments.payment.authorized.v1";
    /// The held money was taken.
    pub const PAYMENT_CAPTURED: &str = "bazaar.payments.payment.captured.v1";
    /// The hold was released.
    pub const PAYMENT_VOIDED: &str = "bazaar.payments.payment.voided.v1";
    /// The captured money was given back.
    pub const PAYMENT_REFUNDED: &str = "bazaar.payments.payment.refunded.v1";
    /// The card was declined (not sent for a transient processing error).
    pub const PAYMENT_FAILED: &str = "bazaar.payments.payment.failed.v1";
}

/// Identity's events; the subject is the user id.
pub mod identity {
    /// An account was created (by registration, or the admin account at start).
    pub const USER_REGISTERED: &str = "bazaar.identity.user.registered.v1";
    /// A user signed out (of one session or of all): the access tokens issued before
    /// it may still be valid, but no longer hold streams open.
    pub const USER_SIGNED_OUT: &str = "bazaar.identity.user.signed_out.v1";
}

/// Every event type, grouped by producer as above.
pub const ALL: &[&str] = &[
    catalog::PRODUCT_CREATED,
    catalog::PRODUCT_UPDATED,
    catalog::PRODUCT_PRICE_CHANGED,
    catalog::PRODUCT_DELETED,
    inventory::STOCK_CHANGED,
    inventory::RESERVATION_HELD,
    inventory::RESERVATION_COMMITTED,
    inventory::RESERVATION_RELEASED,
    orders::ORDER_PLACED,
    orders::ORDER_CONFIRMED,
    orders::ORDER_CANCELLED,
    payments::PAYMENT_AUTHORIZED,
    payments::PAYMENT_CAPTURED,
    payments::PAYMENT_VOIDED,
    payments::PAYMENT_REFUNDED,
    payments::PAYMENT_FAILED,
    identity::USER_REGISTERED,
    identity::USER_SIGNED_OUT,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_read_only_what_they_need_of_the_catalogs_changes() {
        let example = |kind| crate::contract::example(kind).unwrap().clone();
        let changed: catalog::PriceChanged =
            serde_json::from_value(example(catalog::PRODUCT_PRICE_CHANGED)).unwrap();
        assert_eq!(
            changed,
            catalog::PriceChanged {
                product_id: "p-1".into(),
                new_price_cents: 999,
                currency: "USD".into()
            }
        );
        let deleted: catalog::ProductDeleted =
            serde_json::from_value(example(catalog::PRODUCT_DELETED)).unwrap();
        assert_eq!(deleted.product_id, "p-1");
    }

    #[test]
    fn every_type_is_versioned_and_named_after_its_producer() {
        let producers = ["catalog", "inventory", "orders", "payments", "identity"];
        let mut seen = std::collections::HashSet::new();
        for t in ALL {
            let producer = t.split('.').nth(1).unwrap_or_default();
            assert!(t.starts_with("bazaar."), "{t}");
            assert!(producers.contains(&producer), "{t} names no producer");
            assert!(t.ends_with(".v1"), "{t}");
            assert!(seen.insert(*t), "{t} is named twice");
        }
        for producer in producers {
            assert!(
                ALL.iter()
                    .any(|t| t.starts_with(&format!("bazaar.{producer}."))),
                "{producer} publishes nothing"
            );
        }
    }
}
