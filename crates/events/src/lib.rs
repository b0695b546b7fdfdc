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
pub mod catchup;
pub mod consumer;
pub mod contract;
pub mod embedded;
pub mod envelope;
pub mod faults;
pub mod kit;
pub mod outbox;
pub mod producer;
pub mod projection;
pub mod retention;
pub mod tail;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod types;

pub use consumer::{Consumer, Handler, HandlerError, Outcome, Subscription, decode};
pub use envelope::{Event, now_rfc3339, to_rfc3339};
pub use kit::EventsKit;
pub use producer::{Broker, Producer};

use platform::{
    auth::ServiceCredentials, client::ServiceClient, config::Directory, shutdown::Shutdown,
};
use reqwest::Method;

/// How a consumer receives its events: the broker, and where the producers are (the
/// embedded transport reads their logs over HTTP).
#[derive(Debug, Clone)]
pub struct Transport {
    pub broker: Broker,
    pub directory: Directory,
    /// How the embedded transport balances over a producer's replicas.
    pub balance: platform::balance::Settings,
    /// What the embedded transport shows producers, whose feeds admit only services.
    pub credentials: Option<ServiceCredentials>,
}

impl Transport {
    /// The transport of `broker`, reading producers where `directory` says they are,
    /// without credentials (producers serving [`Producer::routes`]).
    pub fn new(broker: Broker, directory: Directory) -> Self {
        Self {
            broker,
            directory,
            balance: platform::balance::Settings::default(),
            credentials: None,
        }
    }

    /// A reader of `producer`'s feed (`/events/...`), each request bounded by `timeout`.
    pub fn feed(&self, producer: &str, timeout: std::time::Duration) -> anyhow::Result<Feed> {
        let http = platform::client::builder().timeout(timeout).build()?;
        Ok(Feed {
            client: ServiceClient::new(self.balancer(producer), http),
            credentials: self.credentials.clone(),
        })
    }
}

/// Reads one producer's feed as this service: its service token on every request, and
/// one retry with a fresh token when the producer refuses the cached one.
pub struct Feed {
    client: ServiceClient,
    credentials: Option<ServiceCredentials>,
}

impl Feed {
    /// `GET path?query`, answered 2xx, or why not.
    pub async fn get<Q: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<reqwest::Response, String> {
        let send = |token: Option<String>| async move {
            self.client
                .send(Method::GET, path, |r| {
                    let r = r.query(query);
                    match &token {
                        Some(t) => r.bearer_auth(t),
                        None => r,
                    }
                })
                .await
                .map_err(|e| e.to_string())
        };
        let res = match &self.credentials {
            Some(c) => c.send_as(|t| send(Some(t)), |e| e.to_string()).await?,
            None => send(None).await?,
        };
        res.error_for_status().map_err(|e| e.to_string())
    }
}

impl Transport {
    /// Whether the producers' logs can be read again from the start (embedded), rather
    /// than delivered once from a queue (RabbitMQ).
    pub fn is_replayable(&self) -> bool {
        self.broker == Broker::Embedded
    }

    /// A balancer over `producer`'s replicas, where the directory says they are.
    pub fn balancer(&self, producer: &str) -> platform::balance::Balancer {
        platform::balance::Balancer::new(
            producer,
            self.directory.endpoints(producer),
            self.balance.clone(),
            platform::client::client(),
        )
    }

    /// Runs `consumer` until `shutdown`: a poller per producer (embedded) or the
    /// service's queue (RabbitMQ).
    pub async fn run(&self, consumer: Consumer, shutdown: Shutdown) -> anyhow::Result<()> {
        match &self.broker {
            Broker::Embedded => {
                let pollers = consumer.producers().into_iter().map(|p| {
                    embedded::poll(consumer.clone(), p.to_owned(), self, shutdown.clone())
                });
                futures_util::future::try_join_all(pollers).await?;
                Ok(())
            }
            Broker::Amqp { url, namespace } => {
                amqp::consume(consumer, url.clone(), namespace.clone(), shutdown).await
            }
        }
    }
}
