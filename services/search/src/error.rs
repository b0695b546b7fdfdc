//! Search's errors: the problem document each becomes on the API, and what each means to
//! the event consumer (retry or dead-letter).

use crate::index::IndexError;
use axum::response::{IntoResponse, Response};
use events::HandlerError;
use platform::{FieldError, Problem};

/// Everything a search request, an event or the indexer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Well-formed input with values out of bounds: 422, each field named.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 503: a part of the service needed for the request is stopping or stopped.
    #[error("{0}")]
    Unavailable(String),
    #[error("index failure")]
    Index(#[from] IndexError),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("a background task failed")]
    Task(#[from] tokio::task::JoinError),
}

impl SearchError {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<SearchError> for Problem {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Invalid(errors) => Problem::validation(errors),
            SearchError::Unavailable(detail) => Problem::unavailable(detail, 1),
            SearchError::Index(_) | SearchError::Database(_) | SearchError::Task(_) => {
                Problem::internal(&err)
            }
        }
    }
}

impl IntoResponse for SearchError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// To the consumer: failures of the database are worth retrying; an event that does not
/// make sense will not make sense next time either.
impl From<SearchError> for HandlerError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Invalid(errors) => HandlerError::Permanent(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            SearchError::Database(e) => HandlerError::from(e),
            other => HandlerError::Transient(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        let cases: Vec<(SearchError, u16, Option<&str>)> = vec![
            (SearchError::invalid("q", "too long"), 422, Some("q")),
            (SearchError::Unavailable("stopping".into()), 503, None),
            (SearchError::Database(sqlx::Error::RowNotFound), 500, None),
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
        let p = Problem::from(SearchError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn database_failures_are_retried_and_bad_data_is_not() {
        let transient = HandlerError::from(SearchError::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(transient, HandlerError::Transient(_)),
            "{transient}"
        );
        match HandlerError::from(SearchError::invalid("price_cents", "negative")) {
            HandlerError::Permanent(m) => assert!(m.contains("price_cents"), "{m}"),
            other => panic!("{other}"),
        }
    }
}
