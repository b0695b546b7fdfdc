//! What orders publishes (it consumes nothing): the life of an order, recorded in the
//! outbox in the transaction that changes the order. Every event's subject is the order id.

use crate::domain::{CancelReason, Line, Order};
use events::Event;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service name orders' events are stamped with (`source` = `/bazaar/orders`).
pub const SOURCE: &str = "orders";

pub use ::events::types::orders::{ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_PLACED};

/// Data of [`ORDER_PLACED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderPlaced {
    pub order_id: String,
    pub user_id: String,
    pub user_email: String,
    pub items: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
}

/// Data of [`ORDER_CONFIRMED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderConfirmed {
    pub order_id: String,
    pub user_id: String,
    pub user_email: String,
    pub user_name: String,
    pub items: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
    pub confirmed_at: String,
}

/// Data of [`ORDER_CANCELLED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderCancelled {
    pub order_id: String,
    pub user_id: String,
    pub user_email: String,
    pub user_name: String,
    pub reason: CancelReason,
    pub items: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
}

/// Which event a change of an order announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// [`ORDER_PLACED`].
    Placed,
    /// [`ORDER_CONFIRMED`].
    Confirmed,
    /// [`ORDER_CANCELLED`].
    Cancelled,
}

impl Announce {
    /// The event announcing `order` as it is now.
    pub fn event(self, order: &Order) -> Result<Event, serde_json::Error> {
        let subject = order.id.as_str();
        match self {
            Announce::Placed => Event::new(
                SOURCE,
                ORDER_PLACED,
                subject,
                OrderPlaced {
                    order_id: subject.to_owned(),
                    user_id: order.customer.id.clone(),
                    user_email: order.customer.email.clone(),
                    items: order.lines.clone(),
                    total_cents: order.total_cents,
                    currency: order.currency.clone(),
                },
            ),
            Announce::Confirmed => Event::new(
                SOURCE,
                ORDER_CONFIRMED,
                subject,
                OrderConfirmed {
                    order_id: subject.to_owned(),
                    user_id: order.customer.id.clone(),
                    user_email: order.customer.email.clone(),
                    user_name: order.customer.name.clone(),
                    items: order.lines.clone(),
                    total_cents: order.total_cents,
                    currency: order.currency.clone(),
                    confirmed_at: order
                        .confirmed_at
                        .clone()
                        .unwrap_or_else(|| order.updated_at.clone()),
                },
            ),
            Announce::Cancelled => Event::new(
                SOURCE,
                ORDER_CANCELLED,
                subject,
                OrderCancelled {
                    order_id: subject.to_owned(),
                    user_id: order.customer.id.clone(),
                    user_email: order.customer.email.clone(),
                    user_name: order.customer.name.clone(),
                    reason: order.cancel_reason.unwrap_or(CancelReason::Interrupted),
                    items: order.lines.clone(),
                    total_cents: order.total_cents,
                    currency: order.currency.clone(),
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn order() -> Order {
        fixtures::order(vec![fixtures::cart_line("p-1", 1299, 2)])
    }

    #[test]
    fn publishes_the_contract_of_each_event_it_records() {
        use ::events::contract::assert_published;
        fn data<T: serde::de::DeserializeOwned>(announce: Announce, o: &Order) -> T {
            serde_json::from_value(announce.event(o).unwrap().data).unwrap()
        }
        let mut o = order();
        o.id = crate::domain::OrderId::parse("0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d12").unwrap();
        o.confirmed_at = Some("2030-01-01T00:00:00.000Z".into());
        assert_published::<OrderPlaced>(ORDER_PLACED, &data(Announce::Placed, &o));
        assert_published::<OrderConfirmed>(ORDER_CONFIRMED, &data(Announce::Confirmed, &o));
        o.cancel_reason = Some(CancelReason::PaymentDeclined);
        assert_published::<OrderCancelled>(ORDER_CANCELLED, &data(Announce::Cancelled, &o));
    }

    #[test]
    fn payloads_keep_to_the_contract() {
        let mut o = order();
        let placed = Announce::Placed.event(&o).unwrap();
        assert_eq!(placed.kind, ORDER_PLACED);
        assert_eq!(placed.subject, o.id.as_str());
        assert_eq!(
            placed.data,
            serde_json::json!({
                "order_id": o.id.as_str(), "user_id": "u-1", "user_email": "sam@example.com",
                "items": [{"product_id": "p-1", "name": "Mug", "unit_price_cents": 1299, "quantity": 2}],
                "total_cents": 2598, "currency": "USD"
            })
        );
        o.confirmed_at = Some("2030-01-01T00:00:00.000Z".into());
        let confirmed = Announce::Confirmed.event(&o).unwrap().data;
        assert_eq!(confirmed["user_name"], "Sam");
        assert_eq!(confirmed["confirmed_at"], "2030-01-01T00:00:00.000Z");
        assert_eq!(confirmed["items"][0]["quantity"], 2);
        o.cancel_reason = Some(CancelReason::PaymentDeclined);
        let cancelled = Announce::Cancelled.event(&o).unwrap().data;
        assert_eq!(cancelled["reason"], "payment_declined");
        assert_eq!(cancelled["total_cents"], 2598);
        let text = serde_json::to_string(&cancelled).unwrap();
        assert!(!text.contains("4242"), "no card in events: {text}");
    }
}
