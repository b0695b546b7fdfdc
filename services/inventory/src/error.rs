//! The inventory's errors: the problem document each becomes on the API, and what each
//! means to the event consumer (retry or dead-letter).

use crate::domain::ReservationStatus;
use axum::http::StatusCode;
use events::{HandlerError, outbox::OutboxError};
use platform::{Failure, FieldError, Problem, failure::describe};

/// Everything an inventory request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Invalid input, a dependency away, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// 404.
    #[error("inventory keeps no stock for product `{0}`")]
    ProductNotFound(String),
    /// 409: other writers kept changing the level while this one tried to set it.
    #[error("the stock of product `{0}` kept changing while it was being set; try again")]
    Contended(String),
    /// 409 `insufficient-stock`: a line of a reservation cannot be held (too few units,
    /// an unknown or a discontinued product); each such line is named. Nothing was held.
    #[error("the reservation cannot be held: {}", describe(.0))]
    InsufficientStock(Vec<FieldError>),
    /// 404.
    #[error("there is no reservation `{0}`")]
    ReservationNotFound(String),
    /// 409 `reservation-state`: the reservation is past the state the action needs.
    #[error("reservation `{id}` is {status}; it cannot be {action}")]
    ReservationState {
        id: String,
        status: ReservationStatus,
        action: &'static str,
    },
    /// 409 `reservation-expired`: the reservation ran out of time before it was committed;
    /// its units were released.
    #[error("reservation `{0}` expired before it was committed; its units were released")]
    ReservationExpired(String),
    /// 500: the stored data contradicts itself (reserved units missing for a reservation).
    #[error("inconsistent stock: {0}")]
    Inconsistent(String),
    #[error("could not record an event in the outbox")]
    Outbox(#[from] OutboxError),
    #[error("could not encode a query's values")]
    Encode(#[from] serde_json::Error),
}

platform::failures!(InventoryError);

impl From<InventoryError> for Problem {
    fn from(err: InventoryError) -> Self {
        let conflict = |slug, title, err: &InventoryError| {
            Problem::new(StatusCode::CONFLICT, slug, title, err.to_string())
        };
        match err {
            InventoryError::Failure(failure) => failure.into(),
            InventoryError::ProductNotFound(_) | InventoryError::ReservationNotFound(_) => {
                Problem::not_found(err.to_string())
            }
            InventoryError::Contended(_) => Problem::conflict(err.to_string()),
            InventoryError::InsufficientStock(ref errors) => Problem {
                errors: errors.clone(),
                ..conflict("insufficient-stock", "Insufficient stock", &err)
            },
            InventoryError::ReservationState { .. } => {
                conflict("reservation-state", "Reservation in another state", &err)
            }
            InventoryError::ReservationExpired(_) => {
                conflict("reservation-expired", "Reservation expired", &err)
            }
            InventoryError::Outbox(ref e) => e.problem(),
            InventoryError::Encode(_) | InventoryError::Inconsistent(_) => Problem::internal(&err),
        }
    }
}

/// To the consumer: what the platform's failures and the outbox's mean, and contention
/// is worth retrying; any other refusal will be refused next time too.
impl From<InventoryError> for HandlerError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Failure(failure) => failure.into(),
            InventoryError::Outbox(e) => e.into(),
            InventoryError::Encode(e) => e.into(),
            InventoryError::Contended(_) => HandlerError::Transient(err.to_string()),
            InventoryError::ProductNotFound(_)
            | InventoryError::InsufficientStock(_)
            | InventoryError::ReservationNotFound(_)
            | InventoryError::ReservationState { .. }
            | InventoryError::ReservationExpired(_)
            | InventoryError::Inconsistent(_) => HandlerError::Permanent(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        let short = vec![FieldError::new("items[1].quantity", "only 2 left")];
        let cases: Vec<(InventoryError, u16, Option<&str>)> = vec![
            (
                InventoryError::InsufficientStock(short),
                409,
                Some("items[1].quantity"),
            ),
            (InventoryError::ReservationNotFound("r".into()), 404, None),
            (
                InventoryError::ReservationState {
                    id: "r".into(),
                    status: ReservationStatus::Released,
                    action: "committed",
                },
                409,
                None,
            ),
            (InventoryError::ReservationExpired("r".into()), 409, None),
            (InventoryError::Inconsistent("x".into()), 500, None),
            (InventoryError::ProductNotFound("x".into()), 404, None),
            (InventoryError::Contended("x".into()), 409, None),
        ];
        platform::testing::assert_problems(cases);
    }

    #[test]
    fn reservation_conflicts_have_their_own_types() {
        let short = Problem::from(InventoryError::InsufficientStock(vec![FieldError::new(
            "items[0].quantity",
            "only 1 left",
        )]));
        assert_eq!(short.kind, "urn:bazaar:problem:insufficient-stock");
        assert!(
            short.detail.unwrap_or_default().contains("only 1 left"),
            "the detail repeats the lines"
        );
        let state = Problem::from(InventoryError::ReservationState {
            id: "r-1".into(),
            status: ReservationStatus::Committed,
            action: "released",
        });
        assert_eq!(state.kind, "urn:bazaar:problem:reservation-state");
        assert_eq!(
            state.detail.as_deref(),
            Some("reservation `r-1` is committed; it cannot be released")
        );
        let expired = Problem::from(InventoryError::ReservationExpired("r-1".into()));
        assert_eq!(expired.kind, "urn:bazaar:problem:reservation-expired");
    }

    #[test]
    fn contention_is_retried_and_refusals_are_not() {
        let contended = HandlerError::from(InventoryError::Contended("p".into()));
        assert!(
            matches!(contended, HandlerError::Transient(_)),
            "{contended}"
        );
        let gone = HandlerError::from(InventoryError::ReservationNotFound("r".into()));
        assert!(matches!(gone, HandlerError::Permanent(_)), "{gone}");
    }
}
