//! The events identity publishes, through its outbox.

use crate::{error::Error, store::UserRecord};
use events::{Event, outbox::OutboxError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service name events are stamped with.
const SOURCE: &str = "identity";

pub use ::events::types::identity::USER_REGISTERED;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_the_contract_of_the_event_it_records() {
        ::events::contract::assert_published(
            USER_REGISTERED,
            &UserRegistered {
                user_id: "u-1".into(),
                email: "sam@example.com".into(),
                name: "Sam".into(),
            },
        );
    }
}
