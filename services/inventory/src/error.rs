//! The inventory's errors: the problem document each becomes on the API, and what each
//! means to the event consumer (retry or dead-letter).

use crate::domain::ReservationStatus;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use events::{HandlerError, outbox::OutboxError};
use platform::{FieldError, Problem};

/// Everything an inventory request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Well-formed input with values out of bounds: 422, each field named.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
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
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("could not record an event in the outbox")]
    Outbox(#[from] OutboxError),
    #[error("could not build an event")]
    Event(#[from] serde_json::Error),
}

impl InventoryError {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<InventoryError> for Problem {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid(errors) => Problem::validation(errors),
            InventoryError::ProductNotFound(_) | InventoryError::ReservationNotFound(_) => {
                Problem::not_found(err.to_string())
            }
            InventoryError::Contended(_) => Problem::conflict(err.to_string()),
            InventoryError::InsufficientStock(ref errors) => {
                let errors = errors.clone();
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    "insufficient-stock",
                    "Insufficient stock",
                    err.to_string(),
                );
                p.errors = errors;
                p
            }
            InventoryError::ReservationState { .. } => Problem::new(
                StatusCode::CONFLICT,
                "reservation-state",
                "Reservation in another state",
                err.to_string(),
            ),
            InventoryError::ReservationExpired(_) => Problem::new(
                StatusCode::CONFLICT,
                "reservation-expired",
                "Reservation expired",
                err.to_string(),
            ),
            InventoryError::Database(_)
            | InventoryError::Outbox(_)
            | InventoryError::Event(_)
            | InventoryError::Inconsistent(_) => Problem::internal(&err),
        }
    }
}

impl IntoResponse for InventoryError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// To the consumer: failures of the database are worth retrying; an event that does not
/// make sense will not make sense next time either.
impl From<InventoryError> for HandlerError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid(errors) => HandlerError::Permanent(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            InventoryError::ProductNotFound(_)
            | InventoryError::InsufficientStock(_)
            | InventoryError::ReservationNotFound(_)
            | InventoryError::ReservationState { .. }
            | InventoryError::ReservationExpired(_)
            | InventoryError::Inconsistent(_) => HandlerError::Permanent(err.to_string()),
            InventoryError::Outbox(OutboxError::Serialise(e)) | InventoryError::Event(e) => {
                HandlerError::Permanent(format!("could not build an event: {e}"))
            }
            InventoryError::Contended(_) => HandlerError::Transient(err.to_string()),
            InventoryError::Database(e) | InventoryError::Outbox(OutboxError::Store(e)) => {
                HandlerError::Transient(e.to_string())
            }
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
            (
                InventoryError::invalid("available", "bad"),
                422,
                Some("available"),
            ),
            (InventoryError::ProductNotFound("x".into()), 404, None),
            (InventoryError::Contended("x".into()), 409, None),
            (
                InventoryError::Database(sqlx::Error::RowNotFound),
                500,
                None,
            ),
        ];
        for (err, status, field) in cases {
            let label = format!("{err:?}");
            let p = Problem::from(err);
            assert_eq!(p.status, status, "{label}");
            assert_eq!(p.errors.first().map(|e| e.field.as_str()), field, "{label}");
        }
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
    fn internal_errors_do_not_leak_their_cause() {
        let p = Problem::from(InventoryError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn database_failures_are_retried_and_bad_data_is_not() {
        let transient = HandlerError::from(InventoryError::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(transient, HandlerError::Transient(_)),
            "{transient}"
        );
        let permanent = HandlerError::from(InventoryError::invalid("initial_stock", "too big"));
        match permanent {
            HandlerError::Permanent(m) => assert!(m.contains("initial_stock"), "{m}"),
            other => panic!("{other}"),
        }
    }
}
