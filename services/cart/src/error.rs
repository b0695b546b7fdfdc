//! The cart's errors: the problem document each becomes on the API, and what each means
//! to the event consumer (retry or dead-letter).

use axum::response::{IntoResponse, Response};
use events::HandlerError;
use platform::{FieldError, Problem};

/// Everything a cart request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// Well-formed input with values out of bounds: 422, each field named.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 404: the cart has no line for this product.
    #[error("the cart holds no product `{0}`")]
    LineNotFound(String),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
}

impl CartError {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<CartError> for Problem {
    fn from(err: CartError) -> Self {
        match err {
            CartError::Invalid(errors) => Problem::validation(errors),
            CartError::LineNotFound(_) => Problem::not_found(err.to_string()),
            CartError::Database(_) => Problem::internal(&err),
        }
    }
}

impl IntoResponse for CartError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// To the consumer: failures of the database are worth retrying (those of its
/// constraints excepted); an event that does not make sense will not next time either.
impl From<CartError> for HandlerError {
    fn from(err: CartError) -> Self {
        match err {
            CartError::Invalid(errors) => HandlerError::Permanent(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            CartError::LineNotFound(_) => HandlerError::Permanent(err.to_string()),
            CartError::Database(e) => HandlerError::from(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        let cases: Vec<(CartError, u16, Option<&str>)> = vec![
            (CartError::invalid("quantity", "bad"), 422, Some("quantity")),
            (CartError::LineNotFound("p".into()), 404, None),
            (CartError::Database(sqlx::Error::RowNotFound), 500, None),
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
        let p = Problem::from(CartError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn database_failures_are_retried_and_bad_data_is_not() {
        let transient = HandlerError::from(CartError::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(transient, HandlerError::Transient(_)),
            "{transient}"
        );
        match HandlerError::from(CartError::invalid("price_cents", "negative")) {
            HandlerError::Permanent(m) => assert!(m.contains("price_cents"), "{m}"),
            other => panic!("{other}"),
        }
    }
}
