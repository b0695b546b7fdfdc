//! Notifications' errors: the problem document each becomes on the API, and what each
//! means to the event consumer (retry or dead-letter). Besides the platform's failures,
//! it refuses one thing of its own: a stream for a token older than its user's sign-out.

use events::HandlerError;
use platform::{Failure, Problem};

/// Everything a notifications request or event can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// Invalid input or event data, the database.
    #[error(transparent)]
    Failure(#[from] Failure),
    /// The token predates its user's last sign-out: it opens no stream.
    #[error("the user signed out after this token was issued")]
    SignedOut,
}

platform::failures!(NotificationsError);

impl From<NotificationsError> for Problem {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::Failure(failure) => failure.into(),
            NotificationsError::SignedOut => Problem::unauthorized(
                "you signed out after this token was issued (or in the second it was issued: times \
                 are whole seconds): refresh it, or sign in again, to follow your notifications",
            ),
        }
    }
}

impl From<NotificationsError> for HandlerError {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::Failure(failure) => failure.into(),
            NotificationsError::SignedOut => HandlerError::Permanent(err.to_string()),
        }
    }
}
