//! Bazaar's events: the CloudEvents envelope, the transactional outbox and its relay, the
//! inbox that makes handling exactly-once in effect, dead letters, and two transports —
//! embedded (consumers read producers' outboxes over HTTP) and RabbitMQ.
//!
//! A producer calls [`outbox::enqueue`] inside the same database transaction as the state
//! change the event describes, so the event exists if and only if the change committed.
//! A consumer implements [`Handler`]; [`Consumer::process`] applies each event at most
//! once, whatever the transport redelivers. See `docs/events.md`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod amqp;
pub mod consumer;
pub mod embedded;
pub mod envelope;
pub mod faults;
pub mod outbox;
pub mod producer;
#[cfg(feature = "test-util")]
pub mod testing;

pub use consumer::{Consumer, Handler, HandlerError, Outcome, Subscription};
pub use envelope::{Event, now_rfc3339, to_rfc3339};
pub use producer::{Broker, Producer};

use platform::{config::Directory, shutdown::Shutdown};

/// Runs a consumer on the configured transport until shutdown: a poller per producer
/// (embedded) or the service's queue (RabbitMQ).
pub async fn run_consumer(
    consumer: Consumer,
    broker: Broker,
    directory: Directory,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    match broker {
        Broker::Embedded => {
            let mut producers: Vec<&str> = consumer
                .subscriptions()
                .iter()
                .map(|s| s.producer)
                .collect();
            producers.sort_unstable();
            producers.dedup();
            let pollers = producers.into_iter().map(|p| {
                embedded::poll(
                    consumer.clone(),
                    p.to_owned(),
                    directory.url(p),
                    shutdown.clone(),
                )
            });
            futures_util::future::try_join_all(pollers).await?;
            Ok(())
        }
        Broker::Amqp { url, namespace } => amqp::consume(consumer, url, namespace, shutdown).await,
    }
}
