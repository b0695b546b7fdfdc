//! Search's errors: the problem document each becomes on the API, and what each means to
//! the event consumer (retry or dead-letter).

use crate::index::IndexError;
use events::HandlerError;
use platform::{Failure, Problem};

/// Everything a search request, an event or the indexer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Invalid input, a part of the service stopping, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    #[error("index failure")]
    Index(#[from] IndexError),
    #[error("a background task failed")]
    Task(#[from] tokio::task::JoinError),
}

platform::failures!(SearchError);

impl From<SearchError> for Problem {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Failure(failure) => failure.into(),
            SearchError::Index(_) | SearchError::Task(_) => Problem::internal(&err),
        }
    }
}

/// To the consumer: what the platform's failures mean; the index and its tasks may
/// recover, so their failures are retried.
impl From<SearchError> for HandlerError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Failure(failure) => failure.into(),
            other => HandlerError::Transient(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_names_its_field() {
        platform::testing::assert_problems(vec![
            (SearchError::invalid("q", "too long"), 422, Some("q")),
            (
                SearchError::Failure(Failure::Unavailable("stopping".into())),
                503,
                None,
            ),
            (SearchError::Index(IndexError::Closed), 500, None),
        ]);
    }

    #[test]
    fn index_failures_are_retried() {
        let err = HandlerError::from(SearchError::Index(IndexError::Closed));
        assert!(matches!(err, HandlerError::Transient(_)), "{err}");
    }
}
