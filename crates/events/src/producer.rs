//! The producing side: the outbox served as a log (what embedded consumers read), the
//! relay that pushes it to a broker (RabbitMQ mode), and the backlog figures for ops.

use crate::retention::{self, Pruned, Retention};
use crate::tail::{self, Tail};
use crate::{amqp, now_rfc3339};
use axum::{
    Extension, Json, Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use platform::{
    Problem,
    auth::{Claims, ServiceCaller, Verifier},
    config::CommonSettings,
    db::{Backend, Db},
    extract::Query,
    shutdown::Shutdown,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::Notify;

/// Where a service's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broker {
    /// Consumers read the producer's outbox over HTTP.
    Embedded,
    /// A RabbitMQ broker; exchange and queue names start with `namespace`.
    Amqp { url: String, namespace: String },
}

impl Broker {
    pub fn from_settings(settings: &CommonSettings) -> Self {
        if settings.broker == "embedded" {
            Broker::Embedded
        } else {
            Broker::Amqp {
                url: settings.broker.clone(),
                namespace: settings.events_namespace.clone(),
            }
        }
    }
}

/// A producing service's outbox. Cheap to clone.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    db: Db,
    wake: Notify,
    broker: Broker,
    /// Where each embedded consumer last read, as this replica saw it: written to the
    /// database by the relay's task once a second, not by every read ([`Producer::relay`]).
    positions: Mutex<BTreeMap<String, Seen>>,
    /// The newest events, read once for all the log's readers.
    tail: Tail,
    /// What the outbox keeps; unset, everything ([`Producer::retain`]).
    retention: std::sync::OnceLock<Retention>,
    /// The event types a service takes from its queue on the broker: one returned as
    /// unroutable means a queue is missing ([`Producer::expect_queues`]).
    queued: std::sync::OnceLock<BTreeMap<String, Vec<String>>>,
    /// Why this replica's relay last failed to reach the broker, until it reaches it.
    relay_error: Mutex<Option<String>>,
    /// When a missing queue was last warned of (once a minute at most).
    missing_said: Mutex<Option<Instant>>,
}

/// A consumer's position as a read reported it.
#[derive(Debug, Clone)]
struct Seen {
    position: i64,
    seen_at: String,
    /// Not yet in the database.
    unsaved: bool,
    /// When this replica last saved the consumer's position.
    saved: Option<Instant>,
}

/// How long a consumer that reads without moving on (an idle shop's long polls, every
/// 4 s) goes without its `seen_at` being saved again: its position is unchanged, and a
/// synced write of the same row every few seconds, in every producer, never stopped.
const SEEN_SAVED_EVERY: Duration = Duration::from_secs(60);

/// How often waiting readers and the relay look at the outbox when nobody woke them:
/// the bound on latency for events committed by another replica of the service.
const POLL: Duration = Duration::from_millis(250);

/// How often the outbox gauges are looked up ([`Producer::gauges`]).
pub const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// How often the consumers' positions reported by reads are saved: the most that another
/// replica's backlog figures lag behind.
const SAVE_POSITIONS: Duration = Duration::from_secs(1);

impl Producer {
    pub fn new(service: &str, db: Db, broker: Broker) -> Self {
        Self {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                db,
                wake: Notify::new(),
                broker,
                positions: Mutex::default(),
                tail: Tail::default(),
                retention: std::sync::OnceLock::new(),
                queued: std::sync::OnceLock::new(),
                relay_error: Mutex::default(),
                missing_said: Mutex::default(),
            }),
        }
    }

    /// The event types that services take from their queues on the broker, each with
    /// those services (the kit sets it from the registry: every subscriber but the read
    /// models, which read the log). Such an event the broker returns as unroutable is not
    /// done: its subscriber's queue is missing (deleted, or lost with a broker node), so
    /// it stays in the outbox, is published again with the usual backoff, and gets there
    /// once the consumer declares its queue again. Set once.
    pub fn expect_queues(&self, queued: BTreeMap<String, Vec<String>>) {
        let _ = self.inner.queued.set(queued);
    }

    /// Notes why this replica's relay cannot reach the broker (`None`: it can), for
    /// `GET /events/outbox`: while it cannot, no event is tried, so none says why it waits.
    fn note_relay_error(&self, error: Option<String>) {
        *self
            .inner
            .relay_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = error;
    }

    /// Prunes the outbox by `retention` from now on, every [`retention::PRUNE_EVERY`]
    /// while the relay runs (the kit sets it from the registry and the settings). Set once:
    /// a second call changes nothing.
    pub fn retain(&self, retention: Retention) {
        let _ = self.inner.retention.set(retention);
    }

    /// One pass of pruning by the retention set, if any ([`Retention::prune`]): how many
    /// events went.
    pub async fn prune(&self, pruned: &mut Pruned) -> Result<u64, sqlx::Error> {
        match self.inner.retention.get() {
            Some(r) => {
                let deleted = r.prune(&self.inner.db, &self.inner.broker, pruned).await?;
                if deleted > 0 {
                    self.inner.tail.forget_through(pruned.through());
                }
                Ok(deleted)
            }
            None => Ok(0),
        }
    }

    /// Call after committing a transaction that enqueued events: wakes waiting readers
    /// and the relay at once instead of at their next poll.
    pub fn notify(&self) {
        self.inner.wake.notify_waiters();
    }

    /// `GET /events/log` (the embedded transport), `GET /events/head` (catching up) and
    /// `GET /events/outbox` (backlog), open to anyone who reaches the port: for tests of
    /// the transport alone. Services serve [`Producer::guarded_routes`].
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/events/log", get(log))
            .route("/events/outbox", get(stats))
            .route("/events/head", get(head))
            .with_state(self.clone())
    }

    /// [`Producer::routes`] for callers with a token `verifier` accepts: another service
    /// only (401 without a token, 403 for a user's, an administrator's included). The payloads hold
    /// customers' names, emails and order lines, and these paths answer on every address
    /// the service binds, not only through the gateway (which never forwards them).
    /// `readers` are the services allowed the log itself (its subscribers; empty: any
    /// service), and a reader moves only its own cursor.
    pub fn guarded_routes(&self, verifier: Verifier, readers: Vec<String>) -> Router {
        let readers = Arc::new(Readers(readers));
        self.routes()
            .route_layer(middleware::from_fn_with_state(verifier, services_only))
            .layer(Extension(readers))
    }

    /// The relay: in RabbitMQ mode it publishes outbox rows in order and marks each
    /// delivered once the broker confirms it; in embedded mode there is nothing to push.
    /// Either way it saves the positions embedded consumers report as they read, and
    /// prunes the outbox by its retention.
    pub async fn relay(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let relayed = async {
            match self.inner.broker.clone() {
                Broker::Embedded => {
                    shutdown.wait().await;
                    Ok(())
                }
                Broker::Amqp { url, namespace } => {
                    self.relay_amqp(&url, &namespace, shutdown.clone()).await
                }
            }
        };
        let saving = async {
            loop {
                tokio::time::sleep(SAVE_POSITIONS).await;
                self.save_positions().await;
            }
        };
        let pruning = async {
            let mut pruned = Pruned::default();
            loop {
                tokio::time::sleep(retention::PRUNE_EVERY).await;
                match self.prune(&mut pruned).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "pruned the outbox"),
                    Err(e) => tracing::warn!(error = %e, "could not prune the outbox"),
                }
            }
        };
        // The relay ends at shutdown, or at once with its error; what was noted since the
        // last save is saved either way.
        let relayed = tokio::select! {
            relayed = relayed => relayed,
            never = saving => never,
            never = pruning => never,
        };
        self.save_positions().await;
        relayed
    }

    /// The highest sequence number this outbox has given an event (kept by the database
    /// when the events themselves have been pruned).
    async fn last_number(&self) -> Result<i64, sqlx::Error> {
        let db = &self.inner.db;
        let query = match db.backend() {
            Backend::Sqlite => sqlx::query(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
            ),
            Backend::Postgres => sqlx::query(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq",
            ),
        };
        query.fetch_one(db.pool()).await?.try_get(0)
    }

    /// A reader stands at `position`, past the last number this log ever gave: the database
    /// was restored from a backup taken before the events it read last (or replaced). The
    /// next events would have taken the numbers it has read past, and it would never have
    /// read them (the backup review: a product created after a restore of the catalog never
    /// reached inventory, cart or search). So the log's numbers go on after `position`:
    /// every reader gets what comes next. (What was committed between the restored
    /// producer's start and this reader's first read after it took numbers below; a
    /// restore is done with the producer stopped, and readers ask again at once when it is
    /// back.)
    async fn go_on_after(&self, position: i64, reader: Option<&str>) -> Result<(), sqlx::Error> {
        let last = self.last_number().await?;
        if position <= last {
            return Ok(());
        }
        let db = &self.inner.db;
        let mut tx = db.begin_write().await?;
        match db.backend() {
            Backend::Sqlite => {
                sqlx::query(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox', 0 \
                     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')",
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE sqlite_sequence SET seq = $1 WHERE name = 'outbox' AND seq < $1",
                )
                .bind(position)
                .execute(&mut *tx)
                .await?;
            }
            Backend::Postgres => {
                sqlx::query(
                    "SELECT setval('outbox_seq_seq', GREATEST($1, \
                     (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq)))",
                )
                .bind(position)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        tracing::warn!(
            reader = reader.unwrap_or("a reader"),
            position,
            last,
            "a reader of this log is past its last event (its database restored from a \
             backup?): the log's numbers go on after that position, so every reader gets \
             what comes next"
        );
        Ok(())
    }

    /// Records that `consumer` read from `position` on: in memory now, in the database at
    /// the next save. A read is a consumer's every wake-up; a write per read was a write
    /// transaction per event per consumer in the producer's database, beside its own.
    fn report_position(&self, consumer: &str, position: i64) {
        let mut positions = self.positions();
        let (unsaved, saved) = match positions.get(consumer) {
            Some(was) => (
                was.unsaved
                    || was.position != position
                    || was.saved.is_none_or(|at| at.elapsed() >= SEEN_SAVED_EVERY),
                was.saved,
            ),
            None => (true, None),
        };
        let seen = Seen {
            position,
            seen_at: now_rfc3339(),
            unsaved,
            saved,
        };
        positions.insert(consumer.to_owned(), seen);
    }

    fn positions(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Seen>> {
        self.inner
            .positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the positions reported since the last save, in one transaction (one sync
    /// of the database, not one per consumer). What fails to save is left for the
    /// consumers' next reads to report again.
    async fn save_positions(&self) {
        let unsaved: Vec<(String, Seen)> = self
            .positions()
            .iter_mut()
            .filter(|(_, seen)| seen.unsaved)
            .map(|(consumer, seen)| {
                seen.unsaved = false;
                (consumer.clone(), seen.clone())
            })
            .collect();
        if unsaved.is_empty() {
            return;
        }
        let saved = async {
            let mut tx = self.inner.db.begin_write().await?;
            for (consumer, seen) in &unsaved {
                sqlx::query(
                    "INSERT INTO consumer_positions (consumer, position, seen_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, seen_at = excluded.seen_at",
                )
                .bind(consumer)
                .bind(seen.position)
                .bind(&seen.seen_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        .await;
        match saved {
            Ok(()) => {
                let now = Instant::now();
                let mut positions = self.positions();
                for (consumer, _) in &unsaved {
                    if let Some(seen) = positions.get_mut(consumer) {
                        seen.saved = Some(now);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, consumers = unsaved.len(), "could not save the consumers' positions");
                let mut positions = self.positions();
                for (consumer, _) in &unsaved {
                    if let Some(seen) = positions.get_mut(consumer) {
                        seen.unsaved = true;
                    }
                }
            }
        }
    }

    async fn relay_amqp(
        &self,
        url: &str,
        namespace: &str,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let mut lease = RelayLease::new(self.inner.db.clone());
        let relayed = self
            .relay_leased(url, namespace, &mut lease, &shutdown)
            .await;
        lease.release().await;
        relayed
    }

    /// Relays while this replica holds the service's relay lease; stands by otherwise.
    async fn relay_leased(
        &self,
        url: &str,
        namespace: &str,
        lease: &mut RelayLease,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        let mut link: Option<amqp::Publisher> = None;
        let mut reconnect = 0u32;
        loop {
            if shutdown.is_triggered() {
                return Ok(());
            }
            // One replica relays at a time: the others would publish the same rows
            // again (harmless to consumers, but twice the broker's work).
            match lease.hold().await {
                Ok(true) => {}
                Ok(false) => {
                    link = None;
                    // Another replica relays: what this one last met is no longer news.
                    self.note_relay_error(None);
                    tokio::select! {
                        _ = tokio::time::sleep(STANDBY_POLL) => {}
                        _ = shutdown.wait() => return Ok(()),
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay cannot read its lease");
                    tokio::select! {
                        _ = tokio::time::sleep(STANDBY_POLL) => {}
                        _ = shutdown.wait() => return Ok(()),
                    }
                    continue;
                }
            }
            let publisher = match &link {
                Some(p) if p.is_connected() => p,
                _ => match amqp::Publisher::connect(
                    url,
                    namespace,
                    &self.inner.service,
                    self.inner.queued.get().unwrap_or(&BTreeMap::new()),
                )
                .await
                {
                    Ok(p) => {
                        reconnect = 0;
                        self.note_relay_error(None);
                        link.insert(p)
                    }
                    Err(e) => {
                        reconnect += 1;
                        self.note_relay_error(Some(format!("{e:#}")));
                        let wait = crate::consumer::backoff(reconnect + 3);
                        tracing::warn!(error = %format!("{e:#}"), retry_in_ms = wait.as_millis() as u64, "relay cannot reach the broker");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.wait() => return Ok(()),
                        }
                        continue;
                    }
                },
            };
            let woken = self.inner.wake.notified();
            match self.relay_batch(publisher).await {
                Ok(0) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep(POLL) => {}
                        _ = shutdown.wait() => return Ok(()),
                    }
                }
                Ok(_) => {}
                Err(RelayError::Broker(e)) => {
                    tracing::warn!(error = %e, "relay lost the broker; reconnecting");
                    link = None;
                }
                Err(RelayError::Db(e)) => {
                    tracing::warn!(error = %e, "relay cannot read the outbox");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.wait() => return Ok(()),
                    }
                }
            }
        }
    }

    /// Publishes what is due, oldest first, keeping each subject's order: a subject whose
    /// oldest undelivered event is waiting for a retry holds back its later ones.
    async fn relay_batch(&self, publisher: &amqp::Publisher) -> Result<usize, RelayError> {
        let rows = sqlx::query(
            "SELECT seq, id, type, subject, payload, attempts, next_attempt_at FROM outbox \
             WHERE delivered_at IS NULL ORDER BY seq LIMIT 500",
        )
        .fetch_all(self.inner.db.pool())
        .await?;
        let now = now_rfc3339();
        let mut held: HashSet<String> = HashSet::new();
        let mut in_flight = Vec::new();
        for row in rows {
            let seq: i64 = row.try_get("seq")?;
            let subject: String = row.try_get("subject")?;
            let next: Option<String> = row.try_get("next_attempt_at")?;
            if held.contains(&subject) {
                continue;
            }
            if next.as_deref().is_some_and(|n| n > now.as_str()) {
                held.insert(subject);
                continue;
            }
            let id: String = row.try_get("id")?;
            let kind: String = row.try_get("type")?;
            let payload: String = row.try_get("payload")?;
            let attempts: i64 = row.try_get("attempts")?;
            crate::faults::point(&format!("{}.relay.before_publish", self.inner.service));
            match publisher.publish(&id, &kind, payload.as_bytes()).await {
                Ok(confirm) => in_flight.push((seq, id, kind, subject, attempts, confirm)),
                Err(e) => {
                    self.record_failure(seq, attempts, &e.to_string()).await?;
                    return Err(RelayError::Broker(e));
                }
            }
        }
        // Every confirm first, then the marks: a message the broker returned is known by
        // its id, whichever confirm carried the return (see `amqp::await_confirm`).
        let mut confirmed = Vec::with_capacity(in_flight.len());
        let mut returned: HashSet<String> = HashSet::new();
        for (seq, id, kind, subject, attempts, confirm) in in_flight {
            let outcome = amqp::await_confirm(confirm).await;
            if let Ok(Some(back)) = &outcome {
                returned.insert(back.clone());
            }
            confirmed.push((seq, id, kind, subject, attempts, outcome.map(|_| ())));
        }
        let mut delivered = 0;
        let mut broken: Option<anyhow::Error> = None;
        for (seq, id, kind, subject, attempts, outcome) in confirmed {
            match outcome {
                Ok(()) => {
                    // The broker has it; a crash before the mark publishes it again.
                    crate::faults::point(&format!("{}.relay.after_confirm", self.inner.service));
                    let unrouted = returned.contains(&id);
                    // A type a service takes from its queue, returned: that queue is
                    // missing, and the event waits for it (see `expect_queues`).
                    if unrouted
                        && let Some(takers) = self.inner.queued.get().and_then(|q| q.get(&kind))
                    {
                        held.insert(subject);
                        let why = format!(
                            "unrouted: no queue is bound for {kind}, which {} take: their queue is missing; publishing it again",
                            takers.join(", ")
                        );
                        self.warn_of_missing_queue(&why);
                        self.record_failure(seq, attempts, &why).await?;
                        continue;
                    }
                    // An event no queue is bound for has no subscriber to wait for: it is
                    // done, noted as unrouted, and stays in the outbox log for any
                    // consumer added later to read.
                    let note = unrouted.then_some("unrouted: no queue is bound for this type");
                    sqlx::query(
                        "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = $2 WHERE seq = $3",
                    )
                    .bind(now_rfc3339())
                    .bind(note)
                    .bind(seq)
                    .execute(self.inner.db.pool())
                    .await?;
                    delivered += 1;
                }
                Err(e) => {
                    held.insert(subject);
                    self.record_failure(seq, attempts, &e.to_string()).await?;
                    if !publisher.is_connected() {
                        broken.get_or_insert(e);
                    }
                }
            }
        }
        match broken {
            Some(e) => Err(RelayError::Broker(e)),
            None => Ok(delivered),
        }
    }

    /// Says that a queue is missing, once a minute at most: an event waiting for it is
    /// published again every few seconds.
    fn warn_of_missing_queue(&self, why: &str) {
        let mut said = self
            .inner
            .missing_said
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *said = Some(Instant::now());
            tracing::warn!(producer = %self.inner.service, "{why}");
        }
    }

    async fn record_failure(
        &self,
        seq: i64,
        attempts: i64,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        // A failed publish (a nack, a confirm that timed out on a busy broker, a lost
        // channel) is worth trying again soon: at most 5 s later, however often it
        // failed, so a broker that was slow for a while delays an event by seconds, not
        // half a minute. (An event no queue is bound for is not a failure unless a
        // service takes its type from a queue: see `expect_queues`.)
        let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
        let wait = crate::consumer::backoff(attempt.saturating_add(1));
        let next = crate::envelope::to_rfc3339(
            chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
        );
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE seq = $3",
        )
        .bind(next)
        .bind(error)
        .bind(seq)
        .execute(self.inner.db.pool())
        .await
        .map(|_| ())
    }
}

/// How long a replica holds the relay lease without renewing it: a standby takes over
/// this long after the relaying replica died (at once when it stopped cleanly).
const RELAY_LEASE: Duration = Duration::from_secs(15);
/// Renewed when less than this is left (so a write every 5 s, not one per batch).
const RELAY_RENEW_BELOW: Duration = Duration::from_secs(10);
/// How often a standby replica asks for the lease.
const STANDBY_POLL: Duration = Duration::from_secs(1);

/// This replica's hold on the service's relay lease (the `relay_lease` row).
struct RelayLease {
    db: Db,
    owner: String,
    held_until: Option<std::time::Instant>,
}

impl RelayLease {
    fn new(db: Db) -> Self {
        Self {
            db,
            owner: uuid::Uuid::new_v4().to_string(),
            held_until: None,
        }
    }

    /// Whether this replica relays now: takes the lease when free or expired, renews it
    /// when it runs low.
    async fn hold(&mut self) -> Result<bool, sqlx::Error> {
        let now = std::time::Instant::now();
        if self
            .held_until
            .is_some_and(|until| until.saturating_duration_since(now) > RELAY_RENEW_BELOW)
        {
            return Ok(true);
        }
        let wall = chrono::Utc::now();
        let until = wall + chrono::Duration::from_std(RELAY_LEASE).unwrap_or_default();
        let taken = sqlx::query(
            "UPDATE relay_lease SET owner = $1, lease_until = $2 \
             WHERE id = 1 AND (owner IS NULL OR owner = $1 OR lease_until < $3)",
        )
        .bind(&self.owner)
        .bind(crate::envelope::to_rfc3339(until))
        .bind(crate::envelope::to_rfc3339(wall))
        .execute(self.db.pool())
        .await?
        .rows_affected();
        let held = taken == 1;
        if held && self.held_until.is_none() {
            tracing::info!("this replica relays the outbox");
        }
        self.held_until = held.then(|| now + RELAY_LEASE);
        Ok(held)
    }

    /// Gives the lease up, so a standby replica takes over at once.
    async fn release(&mut self) {
        if self.held_until.take().is_none() {
            return;
        }
        let released = sqlx::query(
            "UPDATE relay_lease SET owner = NULL, lease_until = NULL WHERE id = 1 AND owner = $1",
        )
        .bind(&self.owner)
        .execute(self.db.pool())
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release the relay lease");
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Broker(anyhow::Error),
}

/// Query of `GET /events/log`.
#[derive(Debug, Deserialize)]
struct LogQuery {
    /// Return events after this sequence number.
    #[serde(default)]
    after: i64,
    /// At most this many events (1–1000, default 100).
    limit: Option<i64>,
    /// Wait up to this long (ms, at most 30 000) for an event when there is none yet.
    #[serde(default)]
    wait_ms: u64,
    /// Only these types (comma-separated); others are skipped but counted in `next`.
    types: Option<String>,
    /// The reading service, recorded with `after` as its position.
    consumer: Option<String>,
}

/// One page of the log.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogPage {
    pub events: Vec<LogEntry>,
    /// The sequence number read up to: the `after` of the next request.
    pub next: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: i64,
    pub event: serde_json::Value,
}

/// The caller of a guarded feed, as its token says.
#[derive(Clone)]
struct Caller(Arc<Claims>);

/// The services that may read a producer's log.
#[derive(Debug)]
struct Readers(Vec<String>);

impl Readers {
    /// Whether `caller` (a service: see [`services_only`]) may read the log, and (with
    /// `consumer`) move that cursor: a subscriber, moving its own.
    fn allow(&self, caller: &Claims, consumer: Option<&str>) -> Result<(), Problem> {
        match (caller.service_name(), consumer) {
            (None, _) => Err(Problem::forbidden("only Bazaar's services read the log")),
            (Some(me), _) if !self.0.is_empty() && !self.0.iter().any(|r| r == me) => Err(
                Problem::forbidden(format!("{me} does not subscribe to these events")),
            ),
            (Some(me), Some(cursor)) if me != cursor => Err(Problem::forbidden(format!(
                "{me} may move only its own cursor, not {cursor}'s"
            ))),
            _ => Ok(()),
        }
    }
}

/// Admits another service only, and hands the handlers which.
async fn services_only(
    State(verifier): State<Verifier>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    let ServiceCaller(claims) = ServiceCaller::from_request_parts(&mut parts, &verifier).await?;
    parts.extensions.insert(Caller(Arc::new(claims)));
    Ok(next.run(Request::from_parts(parts, body)).await)
}

async fn log(
    State(p): State<Producer>,
    caller: Option<Extension<Caller>>,
    readers: Option<Extension<Arc<Readers>>>,
    Query(q): Query<LogQuery>,
) -> Result<Json<tail::Page>, Problem> {
    if let (Some(Extension(Caller(claims))), Some(Extension(readers))) = (&caller, &readers) {
        readers.allow(claims, q.consumer.as_deref().filter(|c| !c.is_empty()))?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::invalid_field(
            "limit",
            "must be between 1 and 1000",
        ));
    }
    if q.after < 0 {
        return Err(Problem::invalid_field("after", "must not be negative"));
    }
    let wait = Duration::from_millis(q.wait_ms.min(30_000));
    let types: Option<HashSet<&str>> = q.types.as_deref().map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    });
    if let Some(consumer) = q.consumer.as_deref().filter(|c| !c.is_empty()) {
        p.report_position(consumer, q.after);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut after = q.after;
    // Whether the reader's position is to be checked against the log's last number (see
    // `Producer::go_on_after`): once a request, when it has caught up, and only when it
    // stands past what memory holds (a producer just started, or another replica read
    // further). Taken before the first read, which may start memory where the reader is;
    // a reader within memory costs no query (one for every caught-up reader's poll would
    // be one per event in the producer's database under load).
    let mut unchecked = p.inner.tail.newest().is_none_or(|to| q.after > to);
    // Reads of the log that start after this see every commit made before it.
    let mut looked = p.inner.tail.stamp();
    loop {
        let woken = p.inner.wake.notified();
        let rows = p
            .inner
            .tail
            .after(&p.inner.db, after, limit, looked)
            .await
            .map_err(|e| Problem::database(&e))?;
        let mut next = after;
        let mut events = Vec::new();
        for row in &rows {
            next = row.seq;
            if types.as_ref().is_none_or(|t| t.contains(row.kind.as_str())) {
                events.push(row.clone());
            }
        }
        if rows.is_empty() && unchecked {
            unchecked = false;
            p.go_on_after(q.after, q.consumer.as_deref())
                .await
                .map_err(|e| Problem::database(&e))?;
        }
        let now = tokio::time::Instant::now();
        if !events.is_empty() || now >= deadline {
            if !events.is_empty() {
                crate::faults::point(&format!("{}.log.before_serve", p.inner.service));
            }
            return Ok(Json(tail::Page { events, next }));
        }
        after = next;
        if !rows.is_empty() {
            // Only events of other types: look past them at once. A reader waiting for
            // its types is not woken by every other event (it learns how far the log was
            // skipped when its own come, or when its wait ends).
            continue;
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(POLL.min(deadline - now)) => {}
        }
        looked = p.inner.tail.stamp();
    }
}

/// Query of `GET /events/head`.
#[derive(Debug, Deserialize)]
struct HeadQuery {
    /// Only these types (comma-separated).
    #[serde(default)]
    types: String,
}

/// The newest event of the given types, or `null` when there is none: what a consumer
/// must have applied before it is ready ([`crate::catchup`]).
async fn head(
    State(p): State<Producer>,
    Query(q): Query<HeadQuery>,
) -> Result<Json<Option<crate::catchup::Head>>, Problem> {
    let mut newest: Option<crate::catchup::Head> = None;
    for kind in q.types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let row =
            sqlx::query("SELECT seq, id FROM outbox WHERE type = $1 ORDER BY seq DESC LIMIT 1")
                .bind(kind)
                .fetch_optional(p.inner.db.pool())
                .await
                .map_err(|e| Problem::database(&e))?;
        if let Some(row) = row {
            let seq: i64 = row.try_get("seq").map_err(|e| Problem::internal(&e))?;
            if newest.as_ref().is_none_or(|n| n.seq < seq) {
                let id = row.try_get("id").map_err(|e| Problem::internal(&e))?;
                newest = Some(crate::catchup::Head { seq, id });
            }
        }
    }
    Ok(Json(newest))
}

/// Backlog figures of one outbox.
#[derive(Debug, Serialize, Deserialize)]
pub struct OutboxStats {
    pub service: String,
    /// The newest sequence number.
    pub head: i64,
    /// Events not yet confirmed by the broker (RabbitMQ mode).
    pub undelivered: i64,
    /// Each embedded consumer's position and how far behind it is.
    pub consumers: Vec<ConsumerPosition>,
    /// The newest events, newest first, without their payloads (as many as `?recent=`
    /// asked for): what an operator's console shows without reading customers' data.
    #[serde(default)]
    pub recent: Vec<EventSummary>,
    /// The oldest undelivered events the relay has tried and failed to publish (at most
    /// [`STUCK_LISTED`], RabbitMQ mode), each with why: the `undelivered` count says how
    /// many wait, these say what keeps them waiting (a missing queue, a refused publish).
    #[serde(default)]
    pub stuck: Vec<StuckEvent>,
    /// Why the relay cannot reach the broker, while it cannot (RabbitMQ mode; as the
    /// replica that answers knows it: the relaying one): then nothing is tried, and
    /// `stuck` cannot say what keeps the events waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_error: Option<String>,
}

/// How many of the oldest retried events `GET /events/outbox` lists.
pub const STUCK_LISTED: i64 = 10;

/// An event the relay tried to publish and has not had confirmed: its last failure.
#[derive(Debug, Serialize, Deserialize)]
pub struct StuckEvent {
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Publishes tried so far.
    pub attempts: i64,
    /// When the relay tries it again (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

platform::from_row! { StuckEvent { seq, id, kind = "type", attempts, next_attempt_at, last_error } }

/// An event in the outbox, as an operator sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventSummary {
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
    pub time: String,
}

platform::from_row! { EventSummary { seq, id, kind = "type", subject, time } }

/// Query of `GET /events/outbox`.
#[derive(Debug, Deserialize)]
struct StatsQuery {
    /// How many of the newest events to list (at most 100).
    #[serde(default)]
    recent: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConsumerPosition {
    pub consumer: String,
    pub position: i64,
    pub backlog: i64,
    pub seen_at: String,
}

async fn stats(
    State(p): State<Producer>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<OutboxStats>, Problem> {
    if !(0..=100).contains(&q.recent) {
        return Err(Problem::invalid_field(
            "recent",
            "must be between 0 and 100",
        ));
    }
    let db = p.inner.db.pool();
    let internal = |e: sqlx::Error| Problem::database(&e);
    let recent = if q.recent == 0 {
        Vec::new()
    } else {
        sqlx::query_as("SELECT seq, id, type, subject, time FROM outbox ORDER BY seq DESC LIMIT $1")
            .bind(q.recent)
            .fetch_all(db)
            .await
            .map_err(internal)?
    };
    let Backlog {
        head,
        undelivered,
        consumers,
    } = p.backlog().await.map_err(internal)?;
    let stuck = match p.inner.broker {
        // Embedded readers read the log; nothing is published, so nothing is retried.
        Broker::Embedded => Vec::new(),
        Broker::Amqp { .. } if undelivered == 0 => Vec::new(),
        Broker::Amqp { .. } => sqlx::query_as(
            "SELECT seq, id, type, attempts, next_attempt_at, last_error FROM outbox \
             WHERE delivered_at IS NULL AND attempts > 0 ORDER BY seq LIMIT $1",
        )
        .bind(STUCK_LISTED)
        .fetch_all(db)
        .await
        .map_err(internal)?,
    };
    Ok(Json(OutboxStats {
        service: p.inner.service.clone(),
        head,
        undelivered,
        consumers,
        recent,
        stuck,
        broker_error: p
            .inner
            .relay_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }))
}

/// How far behind an outbox's readers are (see [`Producer::backlog`]).
#[derive(Debug)]
pub struct Backlog {
    /// The newest sequence number.
    pub head: i64,
    /// Events not yet confirmed by the broker (RabbitMQ mode; 0 embedded).
    pub undelivered: i64,
    /// Each embedded consumer's position and how far behind it is.
    pub consumers: Vec<ConsumerPosition>,
}

impl Producer {
    /// The outbox's head, what the relay has not delivered, and each embedded
    /// consumer's position: the saved ones, and newer ones reads reported to this replica.
    pub async fn backlog(&self) -> Result<Backlog, sqlx::Error> {
        let db = self.inner.db.pool();
        let head: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM outbox")
            .fetch_one(db)
            .await
            .and_then(|r| r.try_get(0))?;
        let undelivered: i64 = match self.inner.broker {
            Broker::Embedded => 0,
            Broker::Amqp { .. } => {
                sqlx::query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
                    .fetch_one(db)
                    .await
                    .and_then(|r| r.try_get(0))?
            }
        };
        let consumers = sqlx::query(
            "SELECT consumer, position, seen_at FROM consumer_positions ORDER BY consumer",
        )
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| {
            let position: i64 = r.try_get("position")?;
            Ok(ConsumerPosition {
                consumer: r.try_get("consumer")?,
                position,
                backlog: (head - position).max(0),
                seen_at: r.try_get("seen_at")?,
            })
        })
        .collect::<Result<Vec<ConsumerPosition>, sqlx::Error>>()?;
        // What reads reported to this replica since the last save may be newer than the
        // table (which another replica's reports may also have moved on).
        let mut consumers: BTreeMap<String, ConsumerPosition> = consumers
            .into_iter()
            .map(|c| (c.consumer.clone(), c))
            .collect();
        for (consumer, seen) in self.positions().iter() {
            if consumers
                .get(consumer)
                .is_some_and(|saved| saved.seen_at > seen.seen_at)
            {
                continue;
            }
            consumers.insert(
                consumer.clone(),
                ConsumerPosition {
                    consumer: consumer.clone(),
                    position: seen.position,
                    backlog: (head - seen.position).max(0),
                    seen_at: seen.seen_at.clone(),
                },
            );
        }
        Ok(Backlog {
            head,
            undelivered,
            consumers: consumers.into_values().collect(),
        })
    }

    /// Keeps `metrics`' outbox gauges up to date until `shutdown`: the outbox's head
    /// (`bazaar_outbox_head`), what the relay has not delivered
    /// (`bazaar_outbox_undelivered`, RabbitMQ mode), and how many events each embedded
    /// consumer has still to read (`bazaar_events_consumer_backlog{consumer}`), looked up
    /// every [`GAUGES_EVERY`].
    pub async fn gauges(
        self,
        metrics: platform::metrics::Metrics,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        use prometheus_client::metrics::{family::Family, gauge::Gauge};
        let (head, undelivered) = (Gauge::<i64>::default(), Gauge::<i64>::default());
        let backlog = Family::<Vec<(&'static str, String)>, Gauge>::default();
        metrics.register(
            "outbox_head",
            "The newest sequence number in this service's outbox",
            head.clone(),
        );
        metrics.register(
            "outbox_undelivered",
            "Events in this service's outbox the broker has not confirmed (RabbitMQ mode)",
            undelivered.clone(),
        );
        metrics.register(
            "events_consumer_backlog",
            "Events of this service's outbox each embedded consumer has still to read",
            backlog.clone(),
        );
        loop {
            match self.backlog().await {
                Ok(now) => {
                    head.set(now.head);
                    undelivered.set(now.undelivered);
                    for c in now.consumers {
                        backlog
                            .get_or_create(&vec![("consumer", c.consumer)])
                            .set(c.backlog);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "the outbox gauges were not updated"),
            }
            tokio::select! {
                () = tokio::time::sleep(GAUGES_EVERY) => {}
                () = shutdown.wait() => return Ok(()),
            }
        }
    }

    /// Commits a transaction that recorded events, then wakes their readers and the relay
    /// ([`Producer::notify`]).
    pub async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.notify();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(sub: &str, roles: &[&str]) -> Claims {
        Claims {
            sub: sub.into(),
            email: String::new(),
            name: String::new(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            iss: String::new(),
            aud: String::new(),
            iat: 0,
            exp: 0,
            jti: String::new(),
        }
    }

    #[test]
    fn a_subscriber_reads_the_log_and_moves_only_its_own_cursor() {
        let readers = Readers(vec!["cart".into(), "search".into()]);
        let cart = token("service:cart", &["service"]);
        assert!(readers.allow(&cart, Some("cart")).is_ok());
        assert!(readers.allow(&cart, None).is_ok());
        let moved = readers.allow(&cart, Some("search")).unwrap_err();
        assert_eq!(moved.status, 403);

        let payments = token("service:payments", &["service"]);
        let other = readers.allow(&payments, None).unwrap_err();
        assert_eq!(other.status, 403, "not a subscriber");
        assert!(
            other
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("does not subscribe"),
            "{other:?}"
        );

        let admin = token("u-1", &["admin"]);
        assert_eq!(readers.allow(&admin, None).unwrap_err().status, 403);

        let anyone = Readers(Vec::new());
        assert!(anyone.allow(&payments, Some("payments")).is_ok());
        assert_eq!(
            anyone.allow(&payments, Some("cart")).unwrap_err().status,
            403
        );
    }
}
