//! Notifications' errors: the problem document each becomes on the API, and what each
//! means to the event consumer (retry or dead-letter).

use axum::response::{IntoResponse, Response};
use events::HandlerError;
use platform::{FieldError, Problem};

/// Everything a notifications request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// Well-formed input (or event data) with values out of bounds: 422, each field named.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("could not encode a message")]
    Encode(#[from] serde_json::Error),
}

impl NotificationsError {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<NotificationsError> for Problem {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::Invalid(errors) => Problem::validation(errors),
            NotificationsError::Database(_) | NotificationsError::Encode(_) => {
                Problem::internal(&err)
            }
        }
    }
}

impl IntoResponse for NotificationsError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// To the consumer: failures of the database are worth retrying; an event whose data
/// does not make sense will not make sense next time either.
impl From<NotificationsError> for HandlerError {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::Invalid(errors) => HandlerError::Permanent(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            NotificationsError::Database(e) => HandlerError::from(e),
            NotificationsError::Encode(e) => HandlerError::from(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        let cases: Vec<(NotificationsError, u16, Option<&str>)> = vec![
            (
                NotificationsError::invalid("limit", "bad"),
                422,
                Some("limit"),
            ),
            (
                NotificationsError::Database(sqlx::Error::RowNotFound),
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
        let p = Problem::from(NotificationsError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn database_failures_are_retried_and_bad_data_is_not() {
        let transient = HandlerError::from(NotificationsError::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(transient, HandlerError::Transient(_)),
            "{transient}"
        );
        match HandlerError::from(NotificationsError::invalid("user_id", "must not be empty")) {
            HandlerError::Permanent(m) => assert!(m.contains("user_id"), "{m}"),
            other => panic!("{other}"),
        }
    }
}
