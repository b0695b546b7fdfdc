//! What payments publishes. It consumes nothing. The subject of an authorisation's
//! events is the authorisation id; a decline, which makes no authorisation, has the
//! order id as its subject.

use crate::domain::{Action, Authorization};
use serde::{Deserialize, Serialize};

/// The service name payments' events are stamped with (`source` = `/bazaar/payments`).
pub const SOURCE: &str = "payments";

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

/// The event type of the change an action makes.
pub fn type_of(action: Action) -> &'static str {
    match action {
        Action::Capture => PAYMENT_CAPTURED,
        Action::Void => PAYMENT_VOIDED,
        Action::Refund => PAYMENT_REFUNDED,
    }
}

/// Data of [`PAYMENT_AUTHORIZED`], [`PAYMENT_CAPTURED`], [`PAYMENT_VOIDED`] and
/// [`PAYMENT_REFUNDED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChanged {
    pub authorization_id: String,
    pub order_id: String,
    pub user_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

impl From<&Authorization> for PaymentChanged {
    fn from(a: &Authorization) -> Self {
        Self {
            authorization_id: a.id.clone(),
            order_id: a.order_id.clone(),
            user_id: a.user_id.clone(),
            amount_cents: a.amount_cents,
            currency: a.currency.clone(),
        }
    }
}

/// Data of [`PAYMENT_FAILED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub order_id: String,
    pub user_id: String,
    pub amount_cents: i64,
    pub currency: String,
    /// Machine-readable (`card_declined`, `insufficient_funds`).
    pub decline_code: String,
    /// A sentence a shopper may be shown.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_versioned_and_owned_by_payments() {
        for t in [
            PAYMENT_AUTHORIZED,
            PAYMENT_CAPTURED,
            PAYMENT_VOIDED,
            PAYMENT_REFUNDED,
            PAYMENT_FAILED,
        ] {
            assert!(t.starts_with("bazaar.payments.payment."), "{t}");
            assert!(t.ends_with(".v1"), "{t}");
        }
        assert_eq!(type_of(Action::Void), PAYMENT_VOIDED);
    }

    #[test]
    fn payloads_have_the_contract_fields() {
        let v = serde_json::to_value(PaymentFailed {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            amount_cents: 500,
            currency: "USD".into(),
            decline_code: "card_declined".into(),
            message: "The card was declined.".into(),
        })
        .unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "amount_cents",
                "currency",
                "decline_code",
                "message",
                "order_id",
                "user_id"
            ]
        );
    }
}
