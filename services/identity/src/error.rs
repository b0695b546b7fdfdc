//! The service's one error type and how each case looks to a client.

use axum::response::{IntoResponse, Response};
use platform::{FieldError, Problem};

/// Everything a request to identity can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that parsed as JSON but breaks a rule, field by field.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("an account with this email address already exists")]
    EmailTaken,
    /// Unknown email or wrong password: deliberately one message for both.
    #[error("the email address or password is wrong")]
    BadCredentials,
    /// Unknown, expired, spent or revoked.
    #[error("the refresh token is not valid: sign in again")]
    BadRefreshToken,
    /// A valid token for an account that no longer exists.
    #[error("the account of this token no longer exists")]
    UnknownAccount,
    #[error("no user has this id")]
    UserNotFound,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("could not record the event")]
    Outbox(#[from] events::outbox::OutboxError),
    #[error("password hashing failed")]
    PasswordHash(#[from] argon2::password_hash::Error),
    #[error("could not sign the token")]
    Token(#[from] jsonwebtoken::errors::Error),
    #[error("the operating system's random source failed")]
    Random(#[from] getrandom::Error),
    #[error("a blocking task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// `BAZAAR_SIGNING_KEY_FILE` cannot be used: missing, unreadable, open to others, or
    /// not PKCS#8 Ed25519 keys; the message says which, and the fix.
    #[error("{0}")]
    KeyFile(String),
    /// The signing keys come from a file: rotating means editing it.
    #[error("the signing keys come from BAZAAR_SIGNING_KEY_FILE: rotate them by editing that file")]
    KeysFromFile,
    /// Every password-hashing slot stayed taken for the whole queue timeout.
    #[error("too many sign-ins are being checked at the moment; try again shortly")]
    Busy,
    #[error("the password-hashing threads stopped")]
    PoolStopped,
    /// Over a rate limit.
    #[error("too many attempts")]
    Limited(platform::ratelimit::Limited),
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        match err {
            Error::Validation(errors) => Problem::validation(errors),
            Error::EmailTaken | Error::KeysFromFile => Problem::conflict(err.to_string()),
            Error::BadCredentials | Error::BadRefreshToken | Error::UnknownAccount => {
                Problem::unauthorized(err.to_string())
            }
            Error::UserNotFound => Problem::not_found(err.to_string()),
            Error::Limited(limited) => Problem::from(&limited),
            Error::Busy => Problem::unavailable(err.to_string(), 1),
            Error::Database(ref e) => Problem::database(e),
            Error::Outbox(ref e) => e.problem(),
            Error::PasswordHash(_)
            | Error::Token(_)
            | Error::Random(_)
            | Error::Task(_)
            | Error::Corrupt(_)
            | Error::KeyFile(_)
            | Error::PoolStopped => Problem::internal(&err),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            // With its `RateLimit` headers.
            Error::Limited(limited) => limited.into_response(),
            err => Problem::from(err).into_response(),
        }
    }
}

/// A 422 for one field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new(field, message)])
}
