//! The inventory's errors: the problem document each becomes on the API, and what each
//! means to the event consumer (retry or dead-letter).

use axum::response::{IntoResponse, Response};
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

impl From<InventoryError> for Problem {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid(errors) => Problem::validation(errors),
            InventoryError::ProductNotFound(_) => Problem::not_found(err.to_string()),
            InventoryError::Contended(_) => Problem::conflict(err.to_string()),
            InventoryError::Database(_) | InventoryError::Outbox(_) | InventoryError::Event(_) => {
                Problem::internal(&err)
            }
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
            InventoryError::ProductNotFound(_) => HandlerError::Permanent(err.to_string()),
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
        let cases: Vec<(InventoryError, u16, Option<&str>)> = vec![
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
