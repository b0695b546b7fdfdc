//! Bazaar's events: the CloudEvents 1.0 envelope and the transactional outbox.
//!
//! A producer calls [`outbox::enqueue`] inside the same database transaction as the state
//! change the event describes, so the event exists if and only if the change committed.
//! Delivery from the outbox to consumers is the relay's job.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod outbox;

pub use envelope::Event;
