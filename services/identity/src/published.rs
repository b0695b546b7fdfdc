//! The events identity publishes, through its outbox.

use crate::{error::Error, store::UserRecord};
use events::{Event, outbox::OutboxError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service name events are stamped with.
const SOURCE: &str = "identity";

pub use ::events::types::identity::{USER_REGISTERED, USER_SIGNED_OUT};

/// The data of [`USER_REGISTERED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRegistered {
    pub user_id: String,
    pub email: String,
    pub name: String,
}

/// The `user.registered` event of `user`, continuing the trace `traceparent`.
pub fn user_registered(user: &UserRecord, traceparent: Option<String>) -> Result<Event, Error> {
    let data = UserRegistered {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
    };
    Ok(Event::new(SOURCE, USER_REGISTERED, user.id.clone(), data)
        .map_err(OutboxError::from)?
        .with_traceparent(traceparent))
}

/// The data of [`USER_SIGNED_OUT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserSignedOut {
    pub user_id: String,
    /// When, in seconds since the epoch: tokens issued before it (`iat`) open no streams.
    pub signed_out_at: i64,
    /// Whether every session ended, or the one the client named.
    pub everywhere: bool,
}

/// The `user.signed_out` event of `user_id`, at `at` (seconds since the epoch).
pub fn user_signed_out(user_id: &str, at: i64, everywhere: bool) -> Result<Event, Error> {
    let data = UserSignedOut {
        user_id: user_id.to_owned(),
        signed_out_at: at,
        everywhere,
    };
    Ok(Event::new(SOURCE, USER_SIGNED_OUT, user_id.to_owned(), data).map_err(OutboxError::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_the_contract_of_each_event_it_records() {
        ::events::contract::assert_published(
            USER_REGISTERED,
            &UserRegistered {
                user_id: "u-1".into(),
                email: "sam@example.com".into(),
                name: "Sam".into(),
            },
        );
        ::events::contract::assert_published(
            USER_SIGNED_OUT,
            &UserSignedOut {
                user_id: "u-1".into(),
                signed_out_at: 1_796_083_200,
                everywhere: true,
            },
        );
    }
}
