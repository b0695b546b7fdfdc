//! Notifications' errors: the problem document each becomes on the API, and what each
//! means to the event consumer (retry or dead-letter). Notifications refuses nothing of its
//! own: its failures are the platform's.

use events::HandlerError;
use platform::{Failure, Problem};

/// Everything a notifications request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// Invalid input or event data, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
}

platform::failures!(NotificationsError);

impl From<NotificationsError> for Problem {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::Failure(failure) => failure.into(),
        }
    }
}

impl From<NotificationsError> for HandlerError {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::Failure(failure) => failure.into(),
        }
    }
}
