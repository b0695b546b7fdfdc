//! The recommendation service's errors: the problem document each becomes on the API, and
//! what each means to the event consumer (retry or dead-letter).

use axum::response::{IntoResponse, Response};
use events::HandlerError;
use platform::{FieldError, Problem};

/// Everything a recommendations request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RecommendationsError {
    /// Well-formed input with values out of bounds: 422 on the API, each field named; a
    /// permanent failure for an event.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 404: the catalog never announced the product, or deleted it.
    #[error("there is no product with id `{0}`")]
    ProductNotFound(String),
    /// 401: a valid token that names no shopper.
    #[error("{0}")]
    NotAShopper(&'static str),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
}

impl RecommendationsError {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<RecommendationsError> for Problem {
    fn from(err: RecommendationsError) -> Self {
        match err {
            RecommendationsError::Invalid(errors) => Problem::validation(errors),
            RecommendationsError::ProductNotFound(_) => Problem::not_found(err.to_string()),
            RecommendationsError::NotAShopper(_) => Problem::unauthorized(err.to_string()),
            RecommendationsError::Database(_) => Problem::internal(&err),
        }
    }
}

impl IntoResponse for RecommendationsError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// To the consumer: data that makes no sense will make no sense next time either; the
/// database decides for its own failures (a broken constraint is permanent, a lock is not).
impl From<RecommendationsError> for HandlerError {
    fn from(err: RecommendationsError) -> Self {
        match err {
            RecommendationsError::Invalid(errors) => HandlerError::Permanent(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            RecommendationsError::ProductNotFound(_) | RecommendationsError::NotAShopper(_) => {
                HandlerError::Permanent(err.to_string())
            }
            RecommendationsError::Database(e) => HandlerError::from(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        let cases: Vec<(RecommendationsError, u16, Option<&str>)> = vec![
            (
                RecommendationsError::invalid("limit", "bad"),
                422,
                Some("limit"),
            ),
            (RecommendationsError::ProductNotFound("x".into()), 404, None),
            (RecommendationsError::NotAShopper("no"), 401, None),
            (
                RecommendationsError::Database(sqlx::Error::RowNotFound),
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
        let p = Problem::from(RecommendationsError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn database_failures_are_retried_and_bad_data_is_not() {
        let transient =
            HandlerError::from(RecommendationsError::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(transient, HandlerError::Transient(_)),
            "{transient}"
        );
        match HandlerError::from(RecommendationsError::invalid("items[0].quantity", "zero")) {
            HandlerError::Permanent(m) => assert!(m.contains("items[0].quantity"), "{m}"),
            other => panic!("{other}"),
        }
    }
}
