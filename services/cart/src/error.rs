//! The cart's errors: the problem document each becomes on the API, and what each means
//! to the event consumer (retry or dead-letter).

use axum::http::StatusCode;
use events::HandlerError;
use platform::{Failure, Problem};

/// Everything a cart request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// Invalid input, a dependency away, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// 404: the cart has no line for this product.
    #[error("the cart holds no product `{0}`")]
    LineNotFound(String),
    /// 409 `cart-changed`: a checkout's lines are no longer in the cart as it read them.
    #[error("{0}")]
    CartChanged(String),
}

platform::failures!(CartError);

impl From<CartError> for Problem {
    fn from(err: CartError) -> Self {
        match err {
            CartError::Failure(failure) => failure.into(),
            CartError::LineNotFound(_) => Problem::not_found(err.to_string()),
            CartError::CartChanged(detail) => Problem::new(
                StatusCode::CONFLICT,
                "cart-changed",
                "The cart has changed",
                detail,
            ),
        }
    }
}

/// To the consumer: what the platform's failures mean; a line the cart does not hold
/// will not be there next time either.
impl From<CartError> for HandlerError {
    fn from(err: CartError) -> Self {
        match err {
            CartError::Failure(failure) => failure.into(),
            CartError::LineNotFound(_) | CartError::CartChanged(_) => {
                HandlerError::Permanent(err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        platform::testing::assert_problems(vec![
            (CartError::invalid("quantity", "bad"), 422, Some("quantity")),
            (CartError::LineNotFound("p".into()), 404, None),
            (CartError::CartChanged("taken".into()), 409, None),
        ]);
    }

    #[test]
    fn a_missing_line_is_not_retried() {
        let gone = HandlerError::from(CartError::LineNotFound("p".into()));
        assert!(matches!(gone, HandlerError::Permanent(_)), "{gone}");
    }
}
