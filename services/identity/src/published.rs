//! The events identity publishes, through its outbox.

use crate::{error::Error, store::UserRecord};
use events::{Event, outbox::OutboxError};
use serde::Serialize;

/// The service name events are stamped with.
const SOURCE: &str = "identity";

pub use ::events::types::identity::USER_REGISTERED;

/// The data of [`USER_REGISTERED`].
#[derive(Debug, Serialize)]
pub struct UserRegistered<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
}

/// The `user.registered` event of `user`, continuing the trace `traceparent`.
pub fn user_registered(user: &UserRecord, traceparent: Option<String>) -> Result<Event, Error> {
    let data = UserRegistered {
        user_id: &user.id,
        email: &user.email,
        name: &user.name,
    };
    Ok(Event::new(SOURCE, USER_REGISTERED, user.id.clone(), data)
        .map_err(OutboxError::from)?
        .with_traceparent(traceparent))
}
