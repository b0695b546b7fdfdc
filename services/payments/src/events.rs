//! What payments publishes. It consumes nothing. The subject of an authorisation's
//! events is the authorisation id; a decline, which makes no authorisation, has the
//! order id as its subject.

use crate::domain::{Action, Authorization};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service name payments' events are stamped with (`source` = `/bazaar/payments`).
pub const SOURCE: &str = "payments";

pub use ::events::types::payments::{
    PAYMENT_AUTHORIZED, PAYMENT_CAPTURED, PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_VOIDED,
};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    fn publishes_the_contract_of_each_event_it_records() {
        use ::events::contract::assert_published;
        let changed = PaymentChanged {
            authorization_id: "a-1".into(),
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            amount_cents: 2598,
            currency: "USD".into(),
        };
        for kind in [
            PAYMENT_AUTHORIZED,
            PAYMENT_CAPTURED,
            PAYMENT_VOIDED,
            PAYMENT_REFUNDED,
        ] {
            assert_published(kind, &changed);
        }
        assert_published(
            PAYMENT_FAILED,
            &PaymentFailed {
                order_id: "o-1".into(),
                user_id: "u-1".into(),
                amount_cents: 2598,
                currency: "USD".into(),
                decline_code: "card_declined".into(),
                message: "The card was declined.".into(),
            },
        );
    }

    #[test]
    fn a_void_is_recorded_as_voided() {
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
