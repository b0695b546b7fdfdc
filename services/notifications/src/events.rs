//! The events notifications consumes (decoded into its own structs, with only the fields
//! it needs, so their producers may add fields freely). It publishes none.

use serde::{Deserialize, Serialize};

/// The service name notifications consumes as (its inbox, cursors and dead letters).
pub const SOURCE: &str = "notifications";

pub use ::events::types::identity::{USER_REGISTERED, USER_SIGNED_OUT};
pub use ::events::types::orders::{ORDER_CANCELLED, ORDER_CONFIRMED};
pub use ::events::types::payments::PAYMENT_FAILED;

/// What notifications reads of [`USER_REGISTERED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
}

/// What notifications reads of [`USER_SIGNED_OUT`]: whose tokens, issued before when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSignedOut {
    pub user_id: String,
    pub signed_out_at: i64,
}

/// One line of an order, as orders' events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_id: String,
    #[serde(default)]
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
}

/// What both [`ORDER_CONFIRMED`] and [`ORDER_CANCELLED`] say of their order: whose it is,
/// how to reach them, and what it came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOf {
    pub order_id: String,
    pub user_id: String,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    pub total_cents: i64,
    pub currency: String,
}

/// What notifications reads of [`ORDER_CONFIRMED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    #[serde(flatten)]
    pub order: OrderOf,
    pub items: Vec<OrderItem>,
}

/// What notifications reads of [`ORDER_CANCELLED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    #[serde(flatten)]
    pub order: OrderOf,
    pub reason: String,
    #[serde(default)]
    pub items: Vec<OrderItem>,
}

/// What notifications reads of [`PAYMENT_FAILED`] (it carries no email address: the one
/// identity announced is used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub order_id: String,
    pub user_id: String,
    pub amount_cents: i64,
    pub currency: String,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_it_needs_of_each_event() {
        use ::events::contract::read_example as example;
        let registered: UserRegistered = example(USER_REGISTERED);
        assert_eq!(registered.name, "Sam");
        let confirmed: OrderConfirmed = example(ORDER_CONFIRMED);
        assert_eq!(confirmed.items[0].quantity, 2);
        assert_eq!(
            confirmed.order.user_email.as_deref(),
            Some("sam@example.com")
        );
        let cancelled: OrderCancelled = example(ORDER_CANCELLED);
        assert_eq!(cancelled.reason, "payment_declined");
        let failed: PaymentFailed = example(PAYMENT_FAILED);
        assert_eq!(failed.decline_code.as_deref(), Some("card_declined"));
    }
}
