//! The recommendation service's errors: the problem document each becomes on the API, and
//! what each means to the event consumer (retry or dead-letter).

use events::HandlerError;
use platform::{Failure, Problem};

/// Everything a recommendations request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RecommendationsError {
    /// Invalid input (a permanent failure for an event), the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// 404: the catalog never announced the product, or deleted it.
    #[error("there is no product with id `{0}`")]
    ProductNotFound(String),
    /// 401: a valid token that names no shopper.
    #[error("{0}")]
    NotAShopper(&'static str),
}

platform::failures!(RecommendationsError);

impl From<RecommendationsError> for Problem {
    fn from(err: RecommendationsError) -> Self {
        match err {
            RecommendationsError::Failure(failure) => failure.into(),
            RecommendationsError::ProductNotFound(_) => Problem::not_found(err.to_string()),
            RecommendationsError::NotAShopper(_) => Problem::unauthorized(err.to_string()),
        }
    }
}

/// To the consumer: what the platform's failures mean; a refusal of the model's own will
/// be refused next time too.
impl From<RecommendationsError> for HandlerError {
    fn from(err: RecommendationsError) -> Self {
        match err {
            RecommendationsError::Failure(failure) => failure.into(),
            RecommendationsError::ProductNotFound(_) | RecommendationsError::NotAShopper(_) => {
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
            (
                RecommendationsError::invalid("limit", "bad"),
                422,
                Some("limit"),
            ),
            (RecommendationsError::ProductNotFound("x".into()), 404, None),
            (RecommendationsError::NotAShopper("no"), 401, None),
        ]);
    }

    #[test]
    fn refusals_of_the_model_are_not_retried() {
        let gone = HandlerError::from(RecommendationsError::ProductNotFound("x".into()));
        assert!(matches!(gone, HandlerError::Permanent(_)), "{gone}");
    }
}
