//! What clients see: an order's representation, and the answers a checkout can end with.
//! A checkout's answer is kept with its order, so the same request again gets the same
//! status and body.

use crate::{
    domain::{Answer, CancelReason, Order, Status},
    error::OrdersError,
};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use platform::{FieldError, Problem, service::location};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineView {
    /// The catalog's id of the product.
    pub product_id: String,
    /// The product's name when the order was placed.
    pub name: String,
    /// The price of one unit when the order was placed, in minor units.
    #[schema(example = 1299)]
    pub unit_price_cents: i64,
    /// Units bought.
    #[schema(example = 2, minimum = 1)]
    pub quantity: i64,
    /// `unit_price_cents × quantity`.
    #[schema(example = 2598)]
    pub line_total_cents: i64,
}

/// Where an order goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddressView {
    /// Who receives the parcel.
    pub name: String,
    /// Street and number.
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    #[schema(example = "DE")]
    pub country: String,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    /// The order's id (a UUIDv7); also the id of its stock reservation.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    /// `confirmed` and `cancelled` are final; the others are steps of a checkout in
    /// progress.
    pub status: Status,
    /// What was bought, at the prices of the moment it was ordered.
    pub items: Vec<LineView>,
    /// The sum of the lines, in minor units.
    #[schema(example = 2598)]
    pub total_cents: i64,
    /// ISO 4217 code of every amount of the order.
    #[schema(example = "USD")]
    pub currency: String,
    /// Where the order goes.
    pub shipping_address: AddressView,
    /// Why the order was cancelled (only when it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
    /// When the checkout placed it (RFC 3339, UTC).
    pub created_at: String,
    /// When its saga last moved (RFC 3339, UTC).
    pub updated_at: String,
    /// When it was confirmed (only once it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    /// When it was cancelled (only once it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.to_string(),
            status: o.status,
            items: o
                .lines
                .iter()
                .map(|l| LineView {
                    product_id: l.product_id.clone(),
                    name: l.name.clone(),
                    unit_price_cents: l.unit_price_cents,
                    quantity: l.quantity,
                    line_total_cents: l.total_cents(),
                })
                .collect(),
            total_cents: o.total_cents,
            currency: o.currency.clone(),
            shipping_address: AddressView {
                name: o.address.name.as_str().to_owned(),
                line1: o.address.line1.as_str().to_owned(),
                city: o.address.city.as_str().to_owned(),
                postal_code: o.address.postal_code.as_str().to_owned(),
                country: o.address.country.as_str().to_owned(),
            },
            cancel_reason: o.cancel_reason,
            created_at: o.created_at.clone(),
            updated_at: o.updated_at.clone(),
            confirmed_at: o.confirmed_at.clone(),
            cancelled_at: o.cancelled_at.clone(),
        }
    }
}

/// One page of a user's orders, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    /// This page's orders, newest first.
    pub items: Vec<OrderView>,
    /// How many orders the user has, over all pages.
    pub total: i64,
    /// The page shown, from 1.
    pub page: u32,
    /// Orders per page.
    pub per_page: u32,
}

/// A problem document a checkout can end with: the standard members, plus the order it
/// cancelled and, for a declined card, the processor's reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckoutProblem {
    #[serde(rename = "type")]
    #[schema(example = "urn:bazaar:problem:card-declined")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: Option<String>,
    /// The fields at fault (`payment.card_number`, `cart.items[0].quantity`).
    #[serde(default)]
    pub errors: Vec<FieldError>,
    /// The order the checkout placed and cancelled.
    pub order_id: Option<String>,
    /// Why the card was declined (`card_declined`, `insufficient_funds`, …); 402 only.
    #[schema(example = "insufficient_funds")]
    pub decline_code: Option<String>,
    /// 503 only: the checkout was not cancelled but waits until this time (RFC 3339) for
    /// the same request with the same `Idempotency-Key`, which carries it on.
    #[schema(example = "2026-12-03T18:30:00.000Z")]
    pub resumable_until: Option<String>,
    /// 422 `idempotency-key-reused` only: the status of the order the key placed (with
    /// its `order_id`): `confirmed` and `cancelled` are final, any other is still under way.
    #[schema(example = "confirmed")]
    pub order_status: Option<String>,
}

/// 201: the order is confirmed.
pub fn confirmed(order: &Order) -> Answer {
    order_answer(StatusCode::CREATED, order)
}

/// 202: the payment is authorised and the order will be confirmed, but a service the
/// last step needs is not answering yet; the recovery worker finishes it.
pub fn in_progress(order: &Order) -> Answer {
    order_answer(StatusCode::ACCEPTED, order)
}

fn order_answer(status: StatusCode, order: &Order) -> Answer {
    Answer {
        status: status.as_u16(),
        body: serde_json::to_value(OrderView::from(order)).unwrap_or(Value::Null),
    }
}

/// Why a checkout stopped (another service's words, which may end a sentence), and what
/// that meant for the order.
fn cancelled_because(why: &str) -> String {
    format!(
        "{}; the order was cancelled and nothing was charged",
        why.trim_end_matches('.')
    )
}

/// 409: inventory could not reserve every line. Inventory's `items[i]` fields become
/// the cart's (`cart.items[i].quantity`).
pub fn insufficient_stock(order: &Order, from_inventory: &Value) -> Answer {
    let mut p = Problem::new(
        StatusCode::CONFLICT,
        "insufficient-stock",
        "Insufficient stock",
        "some items are not in stock in the quantity ordered; the order was cancelled and \
         nothing was charged",
    );
    p.errors = field_errors(from_inventory, |f| {
        f.strip_prefix("items[")
            .map(|rest| format!("cart.items[{rest}"))
            .unwrap_or_else(|| "cart".to_owned())
    });
    problem_answer(p, order, None)
}

/// Whether a 409 came from the cart: the lines the order read are no longer there.
pub fn is_cart_changed(problem: &Value) -> bool {
    problem["type"].as_str() == Some("urn:bazaar:problem:cart-changed")
}

/// 409: the cart changed between the checkout's read and its take (another checkout took
/// those lines, or the shopper changed them); the order was cancelled.
pub fn cart_changed(order: &Order, from_cart: &Value) -> Answer {
    let why = from_cart["detail"]
        .as_str()
        .unwrap_or("the cart has changed");
    let p = Problem::new(
        StatusCode::CONFLICT,
        "cart-changed",
        "The cart has changed",
        format!(
            "{}. Another checkout of the same cart may have gone through first: look at \
             the orders, then at the cart, before checking out again with a new \
             Idempotency-Key",
            cancelled_because(why)
        ),
    );
    problem_answer(p, order, None)
}

/// 402: the card was declined, with payments' `decline_code`.
pub fn declined(order: &Order, from_payments: &Value) -> Answer {
    let code = from_payments["decline_code"]
        .as_str()
        .unwrap_or("card_declined")
        .to_owned();
    let reason = from_payments["detail"]
        .as_str()
        .or_else(|| from_payments["message"].as_str())
        .unwrap_or("the card was declined");
    let p = Problem::new(
        StatusCode::PAYMENT_REQUIRED,
        "card-declined",
        "Card declined",
        cancelled_because(reason),
    );
    problem_answer(p, order, Some(code))
}

/// 422: payments found the card invalid. Its `card.*` fields become the request's
/// (`payment.card_number`, `payment.exp_month`, …).
pub fn invalid_card(order: &Order, from_payments: &Value) -> Answer {
    let mut errors = field_errors(from_payments, |f| {
        match f {
            "card.number" => "payment.card_number",
            "card.exp_month" => "payment.exp_month",
            "card.exp_year" => "payment.exp_year",
            "card.cvc" => "payment.cvc",
            _ => "payment",
        }
        .to_owned()
    });
    if errors.is_empty() {
        errors.push(FieldError::new(
            "payment",
            "the card was refused as invalid",
        ));
    }
    let mut p = Problem::validation(errors);
    p.detail = Some(cancelled_because(&p.detail.unwrap_or_default()));
    problem_answer(p, order, None)
}

/// A service a checkout stopped for before its payment, as its 503 names it.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// The problem type's last segment (`cart-unavailable`, ...).
    pub slug: &'static str,
    pub title: &'static str,
    /// What could not be done, and why (`stock could not be reserved because inventory is
    /// not answering`).
    pub what: &'static str,
}

/// 503: `outage` kept the checkout from going on and the order was cancelled.
pub fn unavailable(order: &Order, outage: Outage) -> Answer {
    outage.answer(
        order,
        "the order was cancelled and nothing was charged. Try again with a new Idempotency-Key",
    )
}

/// 503, not the key's answer: `outage` stopped the checkout, which waits, nothing
/// charged, for the same request again until `until`.
pub fn unavailable_for_now(order: &Order, outage: Outage, until: &str) -> Answer {
    let next = format!(
        "nothing was charged. The checkout is kept until {until}: send the same request with \
         the same Idempotency-Key to carry it on"
    );
    resumable(outage.answer(order, &next), until)
}

impl Outage {
    /// Its 503 for `order`: what could not be done, then what became of the checkout.
    fn answer(self, order: &Order, next: &str) -> Answer {
        let detail = format!("{}; {next}", self.what);
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            self.slug,
            self.title,
            detail,
        );
        problem_answer(p, order, None)
    }
}

/// An answer naming until when its checkout may be resumed (`resumable_until`).
fn resumable(mut answer: Answer, until: &str) -> Answer {
    if let Some(members) = answer.body.as_object_mut() {
        members.insert("resumable_until".into(), Value::String(until.to_owned()));
    }
    answer
}

/// 422: the key placed `order` with another request; which order, and where it stands
/// (`order_status`), so that a client knows whether to wait for it, look at it, or start
/// anew (a storefront's form sent again with other details: the storefront review).
pub fn key_reused(order: &Order) -> Answer {
    let mut answer = problem_answer(OrdersError::KeyReused.into(), order, None);
    if let Some(members) = answer.body.as_object_mut() {
        members.insert(
            "order_status".into(),
            Value::String(order.status.as_str().to_owned()),
        );
    }
    answer
}

/// 409: the checkout stopped (a crash) and was cancelled by recovery, before anything
/// was captured.
pub fn interrupted(order: &Order) -> Answer {
    // Whether the card was authorised before the crash is not always on record (a crash
    // between payments' answer and its record): recovery voids whatever was, so the
    // answer says that, never "before its payment" (the inventory and orders review, and
    // its verification, which crashed orders right after the call).
    let detail = if order.authorization_id.is_some() {
        "the checkout was interrupted after the card was authorised and has been cancelled; \
         the authorisation was voided and nothing was charged. Check out again with a new \
         Idempotency-Key"
    } else {
        "the checkout was interrupted and has been cancelled; nothing was charged (an \
         authorisation of the card, if one was made, was voided). Check out again with a \
         new Idempotency-Key"
    };
    let p = Problem::new(
        StatusCode::CONFLICT,
        "checkout-interrupted",
        "Checkout interrupted",
        detail,
    );
    problem_answer(p, order, None)
}

/// 409: the stock reservation expired before the order could be confirmed; the payment
/// was voided.
pub fn expired(order: &Order) -> Answer {
    let p = Problem::new(
        StatusCode::CONFLICT,
        "reservation-expired",
        "Reservation expired",
        "the stock held for this order was released before it could be confirmed; the \
         payment was voided and the order cancelled. Check out again with a new \
         Idempotency-Key",
    );
    problem_answer(p, order, None)
}

fn problem_answer(p: Problem, order: &Order, decline_code: Option<String>) -> Answer {
    let mut body = serde_json::to_value(&p).unwrap_or(Value::Null);
    if let Some(members) = body.as_object_mut() {
        members.insert("order_id".into(), Value::String(order.id.to_string()));
        if let Some(code) = decline_code {
            members.insert("decline_code".into(), Value::String(code));
        }
    }
    Answer {
        status: p.status,
        body,
    }
}

/// Another service's `errors: [{field, message}]`, with each field renamed.
fn field_errors(problem: &Value, rename: impl Fn(&str) -> String) -> Vec<FieldError> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| {
                    let field = e["field"].as_str()?;
                    let message = e["message"].as_str().unwrap_or("is not acceptable");
                    Some(FieldError::new(rename(field), message))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The answer as an HTTP response: a problem document for 4xx and 5xx, the order with
/// its `Location` otherwise.
impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let is_problem = status.is_client_error() || status.is_server_error();
        let url = (!is_problem)
            .then(|| {
                self.body["id"]
                    .as_str()
                    .map(|id| format!("/api/orders/{id}"))
            })
            .flatten();
        let mut res = (status, axum::Json(self.body)).into_response();
        let headers = res.headers_mut();
        if is_problem {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(platform::problem::CONTENT_TYPE),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if status.is_server_error() {
            // A checkout's 5xx reports cart, inventory or payments failing (or replays such
            // an answer): orders itself answered.
            platform::problem::mark_dependency(headers);
        }
        if let Some(url) = url {
            headers.insert(header::LOCATION, location(&url));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;
    use serde_json::json;

    fn order() -> Order {
        let lines = vec![
            fixtures::cart_line("a", 1000, 2),
            fixtures::cart_line("b", 1000, 1),
        ];
        fixtures::order(lines)
    }

    #[test]
    fn an_order_shows_its_lines_totals_and_address() {
        let v = serde_json::to_value(OrderView::from(&order())).unwrap();
        assert_eq!(v["status"], "pending");
        assert_eq!(v["items"][0]["line_total_cents"], 2000);
        assert_eq!(v["total_cents"], 3000);
        assert_eq!(v["shipping_address"]["country"], "US");
        assert!(v.get("cancel_reason").is_none(), "{v}");
    }

    #[test]
    fn stock_problems_name_the_cart_line() {
        let from_inventory = json!({
            "type": "urn:bazaar:problem:insufficient-stock", "status": 409,
            "errors": [{"field": "items[1].quantity", "message": "only 0 left"}]
        });
        let a = insufficient_stock(&order(), &from_inventory);
        assert_eq!(a.status, 409);
        assert_eq!(a.body["type"], "urn:bazaar:problem:insufficient-stock");
        assert_eq!(a.body["errors"][0]["field"], "cart.items[1].quantity");
        assert_eq!(a.body["errors"][0]["message"], "only 0 left");
        assert!(a.body["order_id"].is_string());
    }

    #[test]
    fn declines_carry_their_code_and_card_errors_name_the_request_field() {
        let a = declined(
            &order(),
            &json!({"status": 402, "decline_code": "insufficient_funds", "detail": "no funds"}),
        );
        assert_eq!(a.status, 402);
        assert_eq!(a.body["type"], "urn:bazaar:problem:card-declined");
        assert_eq!(a.body["decline_code"], "insufficient_funds");
        let a = declined(&order(), &json!({}));
        assert_eq!(a.body["decline_code"], "card_declined");
        // Payments' message is a sentence; the detail goes on after it.
        let a = declined(
            &order(),
            &json!({"status": 402, "detail": "The card was declined."}),
        );
        assert_eq!(
            a.body["detail"],
            "The card was declined; the order was cancelled and nothing was charged"
        );
        for (theirs, ours) in [
            ("card.number", "payment.card_number"),
            ("card.exp_month", "payment.exp_month"),
            ("card.exp_year", "payment.exp_year"),
            ("card.cvc", "payment.cvc"),
            ("amount_cents", "payment"),
        ] {
            let a = invalid_card(
                &order(),
                &json!({"errors": [{"field": theirs, "message": "bad"}]}),
            );
            assert_eq!(a.status, 422);
            assert_eq!(a.body["errors"][0]["field"], ours, "{theirs}");
        }
    }

    #[test]
    fn answers_become_responses_with_the_right_headers() {
        let o = order();
        let res = confirmed(&o).into_response();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(
            res.headers()[header::LOCATION],
            format!("/api/orders/{}", o.id).as_str()
        );
        let outage = Outage {
            slug: "cart-unavailable",
            title: "Cart unavailable",
            what: "the cart is not answering",
        };
        let res = unavailable(&o, outage).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            platform::problem::CONTENT_TYPE
        );
        assert!(res.headers().contains_key(header::RETRY_AFTER));
        assert!(!res.headers().contains_key(header::LOCATION));
        let waiting = unavailable_for_now(&o, outage, "2030-01-01T00:00:00Z");
        assert_eq!(waiting.body["type"], "urn:bazaar:problem:cart-unavailable");
        assert_eq!(waiting.body["resumable_until"], "2030-01-01T00:00:00Z");
        for a in [interrupted(&o), expired(&o), unavailable(&o, outage)] {
            assert!(a.status >= 400, "{a:?}");
            assert_eq!(a.body["order_id"], o.id.as_str());
        }
        // Interrupted after the card was authorised: said so, not "before its payment".
        let said = |o: &Order| interrupted(o).body["detail"].as_str().unwrap().to_owned();
        assert!(!said(&o).contains("before its payment"), "{}", said(&o));
        assert!(
            said(&o).contains("if one was made, was voided"),
            "{}",
            said(&o)
        );
        let mut authorised = o.clone();
        authorised.authorization_id = Some("auth-1".into());
        assert!(
            said(&authorised).contains("authorisation was voided"),
            "{}",
            said(&authorised)
        );
    }
}
