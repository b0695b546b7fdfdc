//! The orders API's errors and the problem document each becomes. The outcomes of a
//! checkout's saga (declined, short of stock, …) are not errors but answers, kept with
//! the order: see `view`.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use events::outbox::OutboxError;
use platform::{FieldError, Problem};

/// Everything an orders request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// Well-formed input with values out of bounds: 422, each field named.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// A required header is missing or malformed: 400 naming it.
    #[error("{header}: {message}")]
    BadHeader {
        header: &'static str,
        message: String,
    },
    /// 422 naming `cart`.
    #[error("the cart is empty: add products before checking out")]
    EmptyCart,
    /// 422: the key was used before with another request.
    #[error(
        "this Idempotency-Key was used before with a different request; use a new key for a new checkout"
    )]
    KeyReused,
    /// 409: the cart is empty because its lines are held for a checkout that waits for a
    /// retry with its own key.
    #[error(
        "your checkout {order} waits until {until} for you to send its request again with the same \
         Idempotency-Key, after a service it needed failed; the cart's lines are held for it \
         until then. Retry that request to carry it on, or check out anew after that time"
    )]
    AwaitingRetry { order: String, until: String },
    /// 409: the cart's total is not the one the checkout says the shopper was shown.
    #[error(transparent)]
    TotalChanged(#[from] crate::domain::TotalChanged),
    /// 409: the first request with this key is still being handled.
    #[error(
        "a checkout with this Idempotency-Key is still in progress; retry in a moment for its result"
    )]
    InProgress,
    /// 404; another user's order is not found either.
    #[error("there is no order `{0}`")]
    NotFound(String),
    /// 403: a service token cannot check out.
    #[error("only a signed-in customer can check out")]
    NotACustomer,
    /// 503: a service the checkout needs before anything is recorded could not be used.
    #[error("the {service} service cannot be reached; try again shortly")]
    Unavailable {
        service: &'static str,
        cause: String,
    },
    /// 500: the checkout's task ended without an answer.
    #[error("the checkout task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("could not record an event in the outbox")]
    Outbox(#[from] OutboxError),
    #[error("could not build an event")]
    Event(#[from] serde_json::Error),
}

impl OrdersError {
    /// 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

/// The header a checkout is identified by.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

impl From<OrdersError> for Problem {
    fn from(err: OrdersError) -> Self {
        match err {
            OrdersError::Invalid(errors) => Problem::validation(errors),
            OrdersError::BadHeader {
                header,
                ref message,
            } => {
                let mut p = Problem::bad_request(err.to_string());
                p.errors = vec![FieldError::new(header, message.clone())];
                p
            }
            OrdersError::EmptyCart => Problem::invalid_field("cart", err.to_string()),
            OrdersError::KeyReused => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "Idempotency key reused",
                    err.to_string(),
                );
                p.errors = vec![FieldError::new(
                    IDEMPOTENCY_KEY,
                    "was used before with a different request",
                )];
                p
            }
            OrdersError::AwaitingRetry { .. } => Problem::new(
                StatusCode::CONFLICT,
                "checkout-waiting-for-retry",
                "Checkout waiting for a retry",
                err.to_string(),
            ),
            OrdersError::TotalChanged(ref changed) => {
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    "price-changed",
                    "Price changed",
                    err.to_string(),
                );
                p.errors = vec![FieldError::new(
                    "expected_total_cents",
                    format!(
                        "the cart's total is now {} in minor units of {}",
                        changed.now_cents, changed.currency
                    ),
                )];
                p
            }
            OrdersError::InProgress => {
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    "request-in-progress",
                    "Request in progress",
                    err.to_string(),
                );
                p.retry_after = Some(1);
                p
            }
            OrdersError::NotFound(_) => Problem::not_found(err.to_string()),
            OrdersError::NotACustomer => Problem::forbidden(err.to_string()),
            OrdersError::Unavailable { service, ref cause } => {
                tracing::warn!(service, cause = %cause, "a service the checkout needs failed");
                Problem::dependency_unavailable(err.to_string(), 2)
            }
            // The database away for a moment: worth a retry (a checkout with the same
            // key carries on, or answers what it came to), not a fault of ours to log as one.
            OrdersError::Database(ref e) | OrdersError::Outbox(OutboxError::Store(ref e))
                if platform::db::is_transient(e) =>
            {
                Problem::database(e)
            }
            OrdersError::Task(_)
            | OrdersError::Database(_)
            | OrdersError::Outbox(_)
            | OrdersError::Event(_) => Problem::internal(&err),
        }
    }
}

impl IntoResponse for OrdersError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_type_and_field() {
        let cases: Vec<(OrdersError, u16, &str, Option<&str>)> = vec![
            (
                OrdersError::invalid("shipping_address.city", "bad"),
                422,
                "validation",
                Some("shipping_address.city"),
            ),
            (
                OrdersError::BadHeader {
                    header: IDEMPOTENCY_KEY,
                    message: "is required".into(),
                },
                400,
                "bad-request",
                Some(IDEMPOTENCY_KEY),
            ),
            (OrdersError::EmptyCart, 422, "validation", Some("cart")),
            (
                OrdersError::KeyReused,
                422,
                "idempotency-key-reused",
                Some(IDEMPOTENCY_KEY),
            ),
            (OrdersError::InProgress, 409, "request-in-progress", None),
            (
                OrdersError::TotalChanged(crate::domain::TotalChanged {
                    shown_cents: 1,
                    now_cents: 2,
                    currency: "USD".into(),
                }),
                409,
                "price-changed",
                Some("expected_total_cents"),
            ),
            (
                OrdersError::AwaitingRetry {
                    order: "o-1".into(),
                    until: "2026-12-06T08:00:30.000Z".into(),
                },
                409,
                "checkout-waiting-for-retry",
                None,
            ),
            (OrdersError::NotFound("x".into()), 404, "not-found", None),
            (OrdersError::NotACustomer, 403, "forbidden", None),
            (
                OrdersError::Unavailable {
                    service: "cart",
                    cause: "down".into(),
                },
                503,
                "unavailable",
                None,
            ),
            (
                OrdersError::Database(sqlx::Error::RowNotFound),
                500,
                "internal",
                None,
            ),
        ];
        for (err, status, kind, field) in cases {
            let label = format!("{err:?}");
            let p = Problem::from(err);
            assert_eq!(p.status, status, "{label}");
            assert_eq!(p.kind, format!("urn:bazaar:problem:{kind}"), "{label}");
            assert_eq!(p.errors.first().map(|e| e.field.as_str()), field, "{label}");
        }
    }

    #[test]
    fn internal_and_upstream_errors_do_not_leak_their_cause() {
        let p = Problem::from(OrdersError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
        let p = Problem::from(OrdersError::Unavailable {
            service: "cart",
            cause: "10.1.2.3 refused".into(),
        });
        assert!(!p.detail.unwrap_or_default().contains("10.1.2.3"));
    }
}
