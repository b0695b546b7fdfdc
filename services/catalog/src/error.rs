//! The catalog API's errors and the problem document each becomes.

use platform::{Failure, FieldError, Problem};

/// Everything a catalog request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Invalid input, a dependency away, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// 404.
    #[error("there is no product with id `{0}`")]
    ProductNotFound(String),
    /// 409: skus are unique.
    #[error("a product with sku `{0}` already exists")]
    DuplicateSku(String),
    /// 422 naming `category`.
    #[error("there is no category `{0}`; see GET /api/catalog/categories")]
    UnknownCategory(String),
    #[error("could not record an event in the outbox")]
    Outbox(#[from] events::outbox::OutboxError),
    #[error("could not build an event")]
    Event(#[from] serde_json::Error),
}

platform::failures!(CatalogError);

impl From<CatalogError> for Problem {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Failure(failure) => failure.into(),
            CatalogError::ProductNotFound(_) => Problem::not_found(err.to_string()),
            CatalogError::DuplicateSku(_) => Problem {
                errors: vec![FieldError::new(
                    "sku",
                    "is already taken by another product",
                )],
                ..Problem::conflict(err.to_string())
            },
            CatalogError::UnknownCategory(_) => Problem::invalid_field("category", err.to_string()),
            CatalogError::Outbox(ref e) => e.problem(),
            CatalogError::Event(_) => Problem::internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        platform::testing::assert_problems(vec![
            (CatalogError::invalid("sku", "bad"), 422, Some("sku")),
            (CatalogError::ProductNotFound("x".into()), 404, None),
            (CatalogError::DuplicateSku("KIT-1".into()), 409, Some("sku")),
            (
                CatalogError::UnknownCategory("nope".into()),
                422,
                Some("category"),
            ),
        ]);
    }
}
