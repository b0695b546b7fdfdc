//! The payments service's errors and the problem document each becomes on the API.

use crate::{
    domain::{Action, Status},
    processor::Decline,
};
use axum::http::StatusCode;
use events::outbox::OutboxError;
use platform::{Failure, FieldError, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Everything a payments request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// Invalid input, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// Refused by one of the platform's checks of the request (a body that is not JSON,
    /// say): answered as the platform put it.
    #[error("{0}")]
    Rejected(Problem),
    /// A required header is absent: 400, the header named.
    #[error("the `{0}` header is required")]
    MissingHeader(&'static str),
    /// 404.
    #[error("no authorization `{0}`")]
    NotFound(String),
    /// 409: the action does not apply to the authorisation in its current state.
    #[error("authorization `{id}` is {}; it cannot be {}", status.as_str(), past_tense(*action))]
    InvalidState {
        id: String,
        status: Status,
        action: Action,
    },
    /// 503: the card network failed to answer; the same request may succeed later.
    #[error("the card processor failed to handle the request; try again")]
    ProcessingError,
    /// 422: the idempotency key was used before for a different request.
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    /// 409: another request with this idempotency key is still being handled.
    #[error("a request with this Idempotency-Key is still being handled; try again shortly")]
    InProgress,
    #[error("could not record an event in the outbox")]
    Outbox(#[from] OutboxError),
    #[error("could not serialise a document")]
    Serialise(#[from] serde_json::Error),
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Capture => "captured",
        Action::Void => "voided",
        Action::Refund => "refunded",
    }
}

/// The name of the idempotency header, as errors name it.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Seconds a client is told to wait before retrying a 503 or an in-progress 409.
const RETRY_AFTER_SECS: u64 = 1;

platform::failures!(PaymentsError);

/// A 402 problem document: a problem plus the network's decline code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeclineProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// Why the card was declined: `card_declined` or `insufficient_funds`.
    #[schema(example = "card_declined")]
    pub decline_code: String,
}

impl DeclineProblem {
    pub fn new(decline: &Decline) -> Self {
        Self {
            problem: Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "card-declined",
                "Card declined",
                decline.message,
            ),
            decline_code: decline.code.to_owned(),
        }
    }
}

impl From<Problem> for PaymentsError {
    fn from(problem: Problem) -> Self {
        Self::Rejected(problem)
    }
}

impl From<PaymentsError> for Problem {
    fn from(err: PaymentsError) -> Self {
        match err {
            PaymentsError::Failure(failure) => failure.into(),
            PaymentsError::Rejected(problem) => problem,
            PaymentsError::MissingHeader(name) => {
                let mut p = Problem::bad_request(err.to_string());
                p.errors = vec![FieldError::new(name, "is required")];
                p
            }
            PaymentsError::NotFound(_) => Problem::not_found(err.to_string()),
            PaymentsError::InvalidState { .. } => Problem::new(
                StatusCode::CONFLICT,
                "invalid-state",
                "Not allowed in this state",
                err.to_string(),
            ),
            PaymentsError::ProcessingError => {
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "processing-error",
                    "Processing error",
                    err.to_string(),
                );
                p.retry_after = Some(RETRY_AFTER_SECS);
                // The card processor failed, not payments.
                p.of_dependency()
            }
            PaymentsError::KeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                err.to_string(),
            ),
            PaymentsError::InProgress => {
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    "request-in-progress",
                    "Request in progress",
                    err.to_string(),
                );
                p.retry_after = Some(RETRY_AFTER_SECS);
                // The card processor failed, not payments.
                p.of_dependency()
            }
            PaymentsError::Outbox(ref e) => e.problem(),
            PaymentsError::Serialise(_) => Problem::internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{http::header, response::IntoResponse};

    #[test]
    fn each_error_has_its_status_and_type() {
        let cases: Vec<(PaymentsError, u16, &str)> = vec![
            (
                PaymentsError::MissingHeader(IDEMPOTENCY_KEY),
                400,
                "bad-request",
            ),
            (PaymentsError::NotFound("x".into()), 404, "not-found"),
            (
                PaymentsError::InvalidState {
                    id: "x".into(),
                    status: Status::Captured,
                    action: Action::Void,
                },
                409,
                "invalid-state",
            ),
            (PaymentsError::ProcessingError, 503, "processing-error"),
            (PaymentsError::KeyReused, 422, "idempotency-key-reused"),
            (PaymentsError::InProgress, 409, "request-in-progress"),
        ];
        for (err, status, slug) in cases {
            let label = format!("{err:?}");
            let p = Problem::from(err);
            assert_eq!(p.status, status, "{label}");
            assert_eq!(p.kind, format!("urn:bazaar:problem:{slug}"), "{label}");
        }
    }

    #[test]
    fn retryable_errors_say_when_to_retry() {
        for err in [PaymentsError::ProcessingError, PaymentsError::InProgress] {
            let res = err.into_response();
            assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        }
    }

    #[test]
    fn a_missing_header_is_named() {
        let p = Problem::from(PaymentsError::MissingHeader(IDEMPOTENCY_KEY));
        assert_eq!(p.errors[0].field, "Idempotency-Key");
    }

    #[test]
    fn a_decline_carries_its_code() {
        let body = DeclineProblem::new(&Decline {
            code: "insufficient_funds",
            message: "The card has insufficient funds.",
        });
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["type"], "urn:bazaar:problem:card-declined");
        assert_eq!(v["status"], 402);
        assert_eq!(v["decline_code"], "insufficient_funds");
    }
}
