//! The RabbitMQ transport (AMQP 0-9-1 through `lapin`).
//!
//! Topology, all durable, names prefixed with the namespace (`bazaar`):
//! a topic exchange `bazaar.events` (routing key = event type); per consuming service a
//! quorum queue `bazaar.<service>` bound to each type it subscribes to, dead-lettering
//! into the fanout exchange `bazaar.dead`, which passes each dead letter to the headers
//! exchange `bazaar.dead.by-queue`, whence it reaches the queue `bazaar.<service>.dead` of
//! the service whose queue it died in (by its `x-first-death-queue`).
//! Producers publish persistent, mandatory messages with publisher confirms. Queues are
//! declared before anything is published (`bazaar up` declares every consumer's; each
//! consumer declares its own at start; each producer's relay declares its subscribers' as
//! it connects), so an unroutable message means no service
//! subscribes to its type: it is marked done and stays readable in the producer's outbox
//! log. Consumers ack only after the inbox transaction commits.

use crate::consumer::Consumer;
use crate::envelope::Event;
use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    PublisherConfirm,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        BasicRejectOptions, ConfirmSelectOptions, ExchangeBindOptions, ExchangeDeclareOptions,
        QueueBindOptions, QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable},
};
use platform::shutdown::Shutdown;
use std::{collections::BTreeMap, time::Duration};

/// How long a publish may wait for the broker's confirm before it counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting (TCP + AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a consumer's connection must have served for its loss to count as a first
/// failure again.
const HEALTHY_FOR: Duration = Duration::from_secs(30);
/// Unacknowledged deliveries a consumer holds at once.
const PREFETCH: u16 = 64;

fn events_exchange(ns: &str) -> String {
    format!("{ns}.events")
}

fn dead_exchange(ns: &str) -> String {
    format!("{ns}.dead")
}

/// Where the dead exchange passes every dead letter on, to reach only the dead-letter
/// queue of the service whose queue it died in (matched on the `x-first-death-queue`
/// header RabbitMQ sets). `<ns>.dead` itself is a fanout exchange, and an exchange's type
/// cannot change where one is already declared: bound to it directly, every service's
/// dead-letter queue got every service's dead letters.
fn dead_by_queue_exchange(ns: &str) -> String {
    format!("{ns}.dead.by-queue")
}

/// The queue of a consuming service.
pub fn queue_name(ns: &str, service: &str) -> String {
    format!("{ns}.{service}")
}

/// How many messages wait in a consuming service's queue (ready, not yet delivered).
pub async fn queue_depth(url: &str, ns: &str, service: &str) -> anyhow::Result<u32> {
    let conn = connect(url, "bazaar-queue-depth").await?;
    let ch = conn.create_channel().await?;
    let depth = depth_on(&ch, ns, service).await;
    let _ = conn.close(200, "done".into()).await;
    depth
}

/// [`queue_depth`] asked on `ch`: a passive declare, which answers with the count.
async fn depth_on(ch: &Channel, ns: &str, service: &str) -> anyhow::Result<u32> {
    let queue = ch
        .queue_declare(
            queue_name(ns, service).as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(queue.message_count())
}

/// How often a consumer asks how many messages wait in its queue (its
/// `events_queue_messages` gauge).
const QUEUE_GAUGE_EVERY: Duration = Duration::from_secs(5);

/// Sets `consumer`'s queue gauge every [`QUEUE_GAUGE_EVERY`] from what `ch` is told.
async fn follow_depth(ch: Channel, consumer: Consumer, ns: String, service: String) {
    loop {
        match tokio::time::timeout(CONFIRM_TIMEOUT, depth_on(&ch, &ns, &service)).await {
            Ok(Ok(depth)) => consumer.set_queued(&queue_name(&ns, &service), depth),
            // The channel is gone with its connection: the consumer reconnects, and
            // starts another.
            Ok(Err(_)) if !ch.status().connected() => return,
            _ => {}
        }
        tokio::time::sleep(QUEUE_GAUGE_EVERY).await;
    }
}

/// A task aborted when this is dropped.
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, props))
        .await
        .map_err(|_| anyhow!("connecting to the broker timed out"))?
        .context("could not connect to the broker")
}

async fn declare_exchanges(ch: &Channel, ns: &str) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        events_exchange(ns).as_str().into(),
        ExchangeKind::Topic,
        durable,
        FieldTable::default(),
    )
    .await?;
    ch.exchange_declare(
        dead_exchange(ns).as_str().into(),
        ExchangeKind::Fanout,
        durable,
        FieldTable::default(),
    )
    .await?;
    ch.exchange_declare(
        dead_by_queue_exchange(ns).as_str().into(),
        ExchangeKind::Headers,
        durable,
        FieldTable::default(),
    )
    .await?;
    ch.exchange_bind(
        dead_by_queue_exchange(ns).as_str().into(),
        dead_exchange(ns).as_str().into(),
        "".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

/// Declares a consuming service's queue, its bindings and its dead-letter queue.
/// Idempotent; run by the consumer at start and by `bazaar up` before anything starts, so
/// that events published before the consumer's first start wait in its queue.
pub async fn declare_consumer(
    ch: &Channel,
    ns: &str,
    service: &str,
    types: &[&str],
) -> anyhow::Result<()> {
    declare_exchanges(ch, ns).await?;
    let queue = queue_name(ns, service);
    let dead = format!("{queue}.dead");
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(dead.as_str().into(), durable, args.clone())
        .await?;
    let mut died_here = FieldTable::default();
    // `all-with-x` (RabbitMQ 3.10 and later): plain `all` leaves out every header named
    // `x-…`, and would match any dead letter at all.
    died_here.insert("x-match".into(), AMQPValue::LongString("all-with-x".into()));
    died_here.insert(
        "x-first-death-queue".into(),
        AMQPValue::LongString(queue.as_str().into()),
    );
    ch.queue_bind(
        dead.as_str().into(),
        dead_by_queue_exchange(ns).as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        died_here,
    )
    .await?;
    // Where an earlier version bound it to the fanout exchange itself (a no-op elsewhere),
    // with no routing key, or by hand with the queue's name as its key (what most clients
    // bind with by default).
    for key in ["", dead.as_str()] {
        ch.queue_unbind(
            dead.as_str().into(),
            dead_exchange(ns).as_str().into(),
            key.into(),
            FieldTable::default(),
        )
        .await?;
    }
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(dead_exchange(ns).as_str().into()),
    );
    ch.queue_declare(queue.as_str().into(), durable, args)
        .await?;
    for kind in types {
        ch.queue_bind(
            queue.as_str().into(),
            events_exchange(ns).as_str().into(),
            (*kind).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

/// Declares the whole topology for the given consumers: `(service, event types)`.
pub async fn declare_topology(
    url: &str,
    ns: &str,
    consumers: &[(&str, Vec<&str>)],
) -> anyhow::Result<()> {
    let conn = connect(url, "bazaar-topology").await?;
    let ch = conn.create_channel().await?;
    for (service, types) in consumers {
        declare_consumer(&ch, ns, service, types).await?;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// Deletes the topology of a namespace: the given consumers' queues and the exchanges.
/// For tests and benchmarks that make a namespace of their own.
pub async fn delete_topology(url: &str, ns: &str, consumers: &[&str]) -> anyhow::Result<()> {
    let conn = connect(url, "bazaar-cleanup").await?;
    let ch = conn.create_channel().await?;
    for service in consumers {
        let queue = queue_name(ns, service);
        for q in [format!("{queue}.dead"), queue] {
            ch.queue_delete(
                q.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await?;
        }
    }
    for x in [
        events_exchange(ns),
        dead_exchange(ns),
        dead_by_queue_exchange(ns),
    ] {
        ch.exchange_delete(
            x.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await?;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// Event type → the services that take it, turned into service → the types it takes.
fn by_taker(queued: &BTreeMap<String, Vec<String>>) -> BTreeMap<&str, Vec<&str>> {
    let mut takers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (kind, services) in queued {
        for service in services {
            takers.entry(service).or_default().push(kind);
        }
    }
    takers
}

/// A confirmed-publish channel to the events exchange.
pub struct Publisher {
    conn: Connection,
    channel: Channel,
    exchange: String,
}

impl Publisher {
    /// Connects, and declares the queue of every service that takes `queued` types from
    /// the broker (event type → services), bound to those types, before anything is
    /// published: an event published while one subscriber's queue exists and another's
    /// does not yet (every pod of a cluster starting at once, the broker's definitions not
    /// imported) would reach the first only, and be lost to the second.
    pub async fn connect(
        url: &str,
        ns: &str,
        service: &str,
        queued: &BTreeMap<String, Vec<String>>,
    ) -> anyhow::Result<Self> {
        let conn = connect(url, &format!("{service}-relay")).await?;
        let channel = conn.create_channel().await?;
        declare_exchanges(&channel, ns).await?;
        for (taker, types) in by_taker(queued) {
            declare_consumer(&channel, ns, taker, &types).await?;
        }
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            conn,
            channel,
            exchange: events_exchange(ns),
        })
    }

    pub fn is_connected(&self) -> bool {
        self.conn.status().connected() && self.channel.status().connected()
    }

    /// Sends one event; await its confirm with [`await_confirm`].
    pub async fn publish(
        &self,
        id: &str,
        kind: &str,
        payload: &[u8],
    ) -> anyhow::Result<PublisherConfirm> {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(id.into())
            .with_content_type("application/cloudevents+json".into())
            .with_type(kind.into());
        let confirm = self
            .channel
            .basic_publish(
                self.exchange.as_str().into(),
                kind.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                payload,
                props,
            )
            .await?;
        Ok(confirm)
    }
}

/// Waits for the broker's confirm of one publish: `Ok` for an ack, an error for a nack, a
/// timeout or a lost channel. The ack may come with a message the broker returned as
/// unroutable, whose `message_id` is given: **not necessarily this publish's**. A return
/// carries no delivery tag, and lapin hands the oldest return waiting to whichever ack it
/// handles next (an ack may cover several publishes); the broker only promises that a
/// message's return comes before its own ack. So a batch's returns are told apart by
/// their ids, once every confirm of the batch is in (the relay's `relay_batch`).
pub async fn await_confirm(confirm: PublisherConfirm) -> anyhow::Result<Option<String>> {
    let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
        .await
        .map_err(|_| anyhow!("the broker did not confirm within {CONFIRM_TIMEOUT:?}"))??;
    match confirmation {
        Confirmation::Ack(None) => Ok(None),
        Confirmation::Ack(Some(returned)) => Ok(Some(
            returned
                .delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.to_string())
                .unwrap_or_default(),
        )),
        Confirmation::Nack(_) => Err(anyhow!("the broker refused the message (nack)")),
        Confirmation::NotRequested => Err(anyhow!("publisher confirms are not enabled")),
    }
}

/// Consumes the service's queue until shutdown, reconnecting after any broker failure.
pub async fn consume(
    consumer: Consumer,
    url: String,
    ns: String,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut failures = 0u32;
    loop {
        let began = std::time::Instant::now();
        match consume_once(&consumer, &url, &ns, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                // A connection that served for a while is a fresh start: only failures
                // in a row lengthen the wait.
                if began.elapsed() > HEALTHY_FOR {
                    failures = 0;
                }
                failures += 1;
                consumer.not_attached(&format!("{e:#}"));
                let wait = crate::consumer::backoff(failures.min(6) + 3);
                tracing::warn!(error = %format!("{e:#}"), retry_in_ms = wait.as_millis() as u64, "event consumer lost the broker");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait() => return Ok(()),
                }
            }
        }
    }
}

async fn consume_once(
    consumer: &Consumer,
    url: &str,
    ns: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let service = consumer.service().to_owned();
    let conn = connect(url, &format!("{service}-consumer")).await?;
    let ch = conn.create_channel().await?;
    let types: Vec<&str> = consumer
        .subscriptions()
        .iter()
        .flat_map(|s| s.types.iter().copied())
        .collect();
    declare_consumer(&ch, ns, &service, &types).await?;
    ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let mut deliveries = ch
        .basic_consume(
            queue_name(ns, &service).as_str().into(),
            format!("{service}-{}", std::process::id()).as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %queue_name(ns, &service), "consuming events");
    consumer.attached();
    // The queue's depth for the gauge, asked by a task of its own on a channel of its
    // own, so that a slow answer never holds up a delivery; it ends with this connection.
    let _gauge = Aborted(tokio::spawn(follow_depth(
        conn.create_channel().await?,
        consumer.clone(),
        ns.to_owned(),
        service.clone(),
    )));
    loop {
        let next = tokio::select! {
            d = deliveries.next() => d,
            _ = shutdown.wait() => {
                let _ = conn.close(200, "shutting down".into()).await;
                return Ok(());
            }
        };
        let delivery = match next {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(anyhow!("the broker cancelled the consumer")),
        };
        let event: Event = match serde_json::from_slice(&delivery.data) {
            Ok(e) => e,
            Err(e) => {
                let raw = String::from_utf8_lossy(&delivery.data).into_owned();
                consumer
                    .dead_letter_undecodable(&raw, &format!("not a CloudEvent: {e}"), None)
                    .await?;
                delivery
                    .reject(BasicRejectOptions { requeue: false })
                    .await?;
                continue;
            }
        };
        // Retries happen here, holding the delivery, so the event keeps its place; a
        // failing event is bounded by the attempt limit, then dead-lettered.
        if !consumer.process_until_done(&event, None, shutdown).await {
            return Ok(());
        }
        delivery.ack(BasicAckOptions::default()).await?;
    }
}
