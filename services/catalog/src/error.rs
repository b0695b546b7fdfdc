//! The catalog API's errors and the problem document each becomes.

use axum::response::{IntoResponse, Response};
use platform::{FieldError, Problem};

/// Everything a catalog request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Well-formed input with values out of bounds: 422, each field named.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 404.
    #[error("there is no product with id `{0}`")]
    ProductNotFound(String),
    /// 409: skus are unique.
    #[error("a product with sku `{0}` already exists")]
    DuplicateSku(String),
    /// 422 naming `category`.
    #[error("there is no category `{0}`; see GET /api/catalog/categories")]
    UnknownCategory(String),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("could not record an event in the outbox")]
    Outbox(#[from] events::outbox::OutboxError),
    #[error("could not build an event")]
    Event(#[from] serde_json::Error),
}

impl CatalogError {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<CatalogError> for Problem {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Invalid(errors) => Problem::validation(errors),
            CatalogError::ProductNotFound(_) => Problem::not_found(err.to_string()),
            CatalogError::DuplicateSku(_) => {
                let mut p = Problem::conflict(err.to_string());
                p.errors = vec![FieldError::new(
                    "sku",
                    "is already taken by another product",
                )];
                p
            }
            CatalogError::UnknownCategory(_) => Problem::invalid_field("category", err.to_string()),
            CatalogError::Database(_) | CatalogError::Outbox(_) | CatalogError::Event(_) => {
                Problem::internal(&err)
            }
        }
    }
}

impl IntoResponse for CatalogError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        let cases: Vec<(CatalogError, u16, Option<&str>)> = vec![
            (CatalogError::invalid("sku", "bad"), 422, Some("sku")),
            (CatalogError::ProductNotFound("x".into()), 404, None),
            (CatalogError::DuplicateSku("KIT-1".into()), 409, Some("sku")),
            (
                CatalogError::UnknownCategory("nope".into()),
                422,
                Some("category"),
            ),
            (CatalogError::Database(sqlx::Error::RowNotFound), 500, None),
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
        let p = Problem::from(CatalogError::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }
}
