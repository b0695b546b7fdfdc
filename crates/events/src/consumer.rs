//! The consuming side: subscriptions declared in the consuming service's code, a handler
//! that applies an event inside a transaction, the inbox that makes a redelivered event
//! have no second effect, and the dead-letter store for events that keep failing.

use crate::{envelope::Event, faults, now_rfc3339, retention};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use platform::db::{Db, MigrationSource};
pub use platform::registry::Subscription;
use platform::shutdown::Shutdown;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
};
use rand::RngExt;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sqlx::{Any, Row, Transaction};
use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};
use tracing::Instrument;

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying: a lock, a timeout, a dependency down.
    #[error("transient: {0}")]
    Transient(String),
    /// Never going to work: the event makes no sense to this consumer. Dead-lettered at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<sqlx::Error> for HandlerError {
    /// A constraint the event's data breaks will break again on every retry: permanent.
    /// Anything else (a lock, a lost connection) is worth retrying.
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Database(db)
                if matches!(
                    db.kind(),
                    ErrorKind::CheckViolation
                        | ErrorKind::ForeignKeyViolation
                        | ErrorKind::NotNullViolation
                ) =>
            {
                HandlerError::Permanent(e.to_string())
            }
            _ => HandlerError::Transient(e.to_string()),
        }
    }
}

impl HandlerError {
    /// An event of a type `consumer` does not handle: it will not be handled next time
    /// either.
    pub fn unhandled(consumer: &str, kind: &str) -> Self {
        HandlerError::Permanent(format!(
            "{consumer} does not handle events of type `{kind}`"
        ))
    }
}

/// Invalid data will be invalid next time too; a dependency away or a database that
/// failed may be back.
impl From<platform::Failure> for HandlerError {
    fn from(failure: platform::Failure) -> Self {
        match failure {
            platform::Failure::Invalid(errors) => {
                HandlerError::Permanent(platform::failure::describe(&errors))
            }
            platform::Failure::Unavailable(why) => HandlerError::Transient(why),
            platform::Failure::Database(e) => HandlerError::from(e),
        }
    }
}

impl From<serde_json::Error> for HandlerError {
    fn from(e: serde_json::Error) -> Self {
        HandlerError::Permanent(format!("the event's data does not fit: {e}"))
    }
}

/// Applies events to the consuming service's own state.
///
/// Everything the handler writes goes through `tx`, which also records the event in the
/// inbox: the effects and the "handled" mark commit together or not at all. Implement it
/// with an `async fn handle`; each call runs in a span naming the event's subject and
/// the trace it belongs to.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// [`Handler`] behind a pointer: what a [`Consumer`] keeps.
trait DynHandler: Send + Sync + 'static {
    fn handle_boxed<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Any>,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
}

impl<H: Handler> DynHandler for H {
    fn handle_boxed<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Any>,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        // The consumer's span names the event already.
        let span = tracing::info_span!(
            "apply_event",
            subject = %event.subject,
            traceparent = event.traceparent.as_deref().unwrap_or("-"),
        );
        Box::pin(self.handle(tx, event).instrument(span))
    }
}

/// An event's data as `T`, the consumer's own view of it (only the fields it needs, so
/// producers may add fields freely). Data that does not fit is a permanent failure.
pub fn decode<T: DeserializeOwned>(event: &Event) -> Result<T, HandlerError> {
    Ok(serde_json::from_value(event.data.clone())?)
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's effects committed.
    Handled,
    /// Already handled before (a redelivery); nothing was done.
    Duplicate,
    /// The handler failed; try again after this long.
    Retry(Duration),
    /// Failed too often (or permanently): moved to the dead-letter store.
    DeadLettered,
}

impl Outcome {
    /// Its name in the `bazaar_events_consumed_total` metric.
    fn label(&self) -> &'static str {
        match self {
            Outcome::Handled => "handled",
            Outcome::Duplicate => "duplicate",
            Outcome::Retry(_) => "retry",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

/// The labels of `bazaar_events_consumed_total`: the event's type and what came of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Consumed {
    event: String,
    outcome: &'static str,
}

/// A read position in a producer's log, advanced in the same transaction as the effects
/// (the embedded transport's cursor).
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    pub producer: &'a str,
    pub seq: i64,
}

/// A dead letter, as listed to operators.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub error: String,
    pub attempts: i64,
    pub dead_at: String,
    pub replayed_at: Option<String>,
    /// The event as it arrived.
    pub payload: serde_json::Value,
}

platform::from_row! {
    DeadLetter {
        id, event_id, kind = "type", source, error, attempts, dead_at, replayed_at,
        payload => json_or_text,
    }
}

/// A stored payload as JSON, or as the text it is when it is not JSON.
fn json_or_text(payload: String) -> serde_json::Value {
    serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload))
}

/// The result of replaying a dead letter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayResult {
    /// The handler succeeded this time.
    Handled,
    /// The event had been handled meanwhile; nothing to do.
    AlreadyHandled,
    /// The handler failed again; the dead letter stays, with the new error.
    Failed,
}

/// A consuming service's event machinery. Cheap to clone.
#[derive(Clone)]
pub struct Consumer {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    service: String,
    db: Db,
    handler: Arc<dyn DynHandler>,
    subscriptions: Vec<Subscription>,
    max_attempts: u32,
    /// The service's own producer, woken after each commit: a handler that records
    /// events of its own gets them read at once.
    producer: Option<crate::Producer>,
    /// Deliveries by type and outcome. `handled` counts applications, one per event
    /// however often it is delivered: what proves an event was not applied twice.
    consumed: Family<Consumed, Counter>,
    /// Messages waiting in the service's RabbitMQ queue, as last asked, by queue: no
    /// sample at all until a RabbitMQ consumer asks (embedded, there is no queue).
    queued: Family<Vec<(&'static str, String)>, Gauge>,
    /// Whether it has attached to its queue on the broker since it started, and if not,
    /// why the last try failed (see [`Consumer::broker_check`]).
    attached: Arc<Mutex<Attachment>>,
}

/// A broker consumer's link to its queue, as readiness sees it.
#[derive(Debug, Clone, Default)]
enum Attachment {
    /// Not tried yet, or not over a broker at all.
    #[default]
    NotYet,
    /// Every try so far failed; the last said this.
    Failing(String),
    /// Consuming, or has been: a broker lost later does not make the service unready
    /// (its HTTP side serves on, and the consumer reconnects), it is logged instead.
    Attached,
}

/// The consumer tables, in the version range reserved for the events crate.
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(
        9_000_101,
        "events inbox, cursors, attempts, dead letters",
        CONSUMER_TABLES,
    ),
    MigrationSource::portable(
        9_000_102,
        "events inbox by age, for its retention",
        "CREATE INDEX inbox_handled_at ON inbox (handled_at);",
    ),
    MigrationSource::portable(
        9_000_103,
        "dead letters closed by an admin without a replay",
        "ALTER TABLE dead_letters ADD COLUMN discarded_by TEXT;",
    ),
    MigrationSource::portable(
        9_000_104,
        "events an admin discarded, set aside at once if they fail again",
        "CREATE TABLE discarded_events (
            event_id TEXT PRIMARY KEY,
            discarded_by TEXT NOT NULL,
            discarded_at TEXT NOT NULL
        );",
    ),
];

const CONSUMER_TABLES: &str = "
CREATE TABLE inbox (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    handled_at TEXT NOT NULL
);
CREATE TABLE event_cursors (
    producer TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT
);
CREATE TABLE event_attempts (
    event_id TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    event_id TEXT,
    type TEXT,
    source TEXT,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    dead_at TEXT NOT NULL,
    replayed_at TEXT
);
CREATE INDEX dead_letters_open ON dead_letters (replayed_at, dead_at);
";

impl Consumer {
    pub fn new(
        service: &str,
        db: Db,
        handler: impl Handler,
        subscriptions: &[Subscription],
        max_attempts: u32,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                db,
                handler: Arc::new(handler),
                subscriptions: subscriptions.to_vec(),
                max_attempts: max_attempts.max(1),
                producer: None,
                consumed: Family::default(),
                queued: Family::default(),
                attached: Arc::default(),
            }),
        }
    }

    /// Notes that the consumer is attached to its queue on the broker.
    pub(crate) fn attached(&self) {
        *self
            .inner
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Attachment::Attached;
    }

    /// Notes why attaching to the broker failed, unless it has been attached before.
    pub(crate) fn not_attached(&self, why: &str) {
        let mut attached = self
            .inner
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !matches!(*attached, Attachment::Attached) {
            *attached = Attachment::Failing(why.to_owned());
        }
    }

    /// The readiness check of a consumer that takes its events from a broker: failing
    /// until it has attached to its queue once. A replica started with a wrong broker URL
    /// or password (a mistyped Secret, a rotated password) would otherwise turn ready and
    /// consume nothing, and a rollout would replace every working replica with it.
    pub fn broker_check(&self) -> Result<(), String> {
        match &*self
            .inner
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            Attachment::Attached => Ok(()),
            Attachment::NotYet => Err("not attached to its queue on the broker yet".into()),
            Attachment::Failing(why) => {
                Err(format!("cannot attach to its queue on the broker: {why}"))
            }
        }
    }

    /// Counts deliveries in `metrics` as `bazaar_events_consumed_total{event, outcome}`.
    pub fn with_metrics(self, metrics: &platform::metrics::Metrics) -> Self {
        metrics.register(
            "events_consumed",
            "Event deliveries this service's consumer took, by event type and outcome: \
             handled (applied once), duplicate (already applied: nothing done), retry, \
             dead_lettered",
            self.inner.consumed.clone(),
        );
        metrics.register(
            "events_queue_messages",
            "Messages waiting in this service's RabbitMQ queue, ready and not yet delivered \
             (RabbitMQ mode; asked every few seconds)",
            self.inner.queued.clone(),
        );
        self
    }

    /// Records how many messages wait in the service's queue, `queue`.
    pub(crate) fn set_queued(&self, queue: &str, messages: u32) {
        self.inner
            .queued
            .get_or_create(&vec![("queue", queue.to_owned())])
            .set(i64::from(messages));
    }

    /// Wakes `producer` after every commit, for handlers that record events themselves.
    pub fn with_producer(mut self, producer: crate::Producer) -> Self {
        Arc::make_mut(&mut self.inner).producer = Some(producer);
        self
    }

    fn committed(&self) {
        if let Some(p) = &self.inner.producer {
            p.notify();
        }
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.inner.subscriptions
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The producers this consumer reads, each once, in name order.
    pub fn producers(&self) -> std::collections::BTreeSet<&'static str> {
        self.inner
            .subscriptions
            .iter()
            .map(|s| s.producer)
            .collect()
    }

    /// The types this consumer takes from `producer`, comma-separated: the `types` of a
    /// request for that producer's log.
    pub fn types_from(&self, producer: &str) -> String {
        let types: Vec<&str> = self
            .inner
            .subscriptions
            .iter()
            .filter(|s| s.producer == producer)
            .flat_map(|s| s.types.iter().copied())
            .collect();
        types.join(",")
    }

    /// Whether this consumer takes events of `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.inner
            .subscriptions
            .iter()
            .any(|s| s.types.contains(&kind))
    }

    /// Handles one delivery: at most one effect per event id, however often it arrives.
    /// Traced, the handling is a consumer span in the trace that recorded the event.
    pub async fn process(
        &self,
        event: &Event,
        position: Option<Position<'_>>,
    ) -> Result<Outcome, sqlx::Error> {
        let span = platform::telemetry::consumer_span(
            &self.inner.service,
            &event.kind,
            &event.id,
            event.traceparent.as_deref(),
        );
        let outcome = self
            .process_in(event, position)
            .instrument(span.clone())
            .await;
        if !matches!(outcome, Ok(Outcome::Handled | Outcome::Duplicate)) {
            platform::telemetry::record_failure(&span);
        }
        if let Ok(done) = &outcome {
            self.inner
                .consumed
                .get_or_create(&Consumed {
                    event: event.kind.clone(),
                    outcome: done.label(),
                })
                .inc();
        }
        outcome
    }

    /// [`Consumer::process`], retried here until the event is handled or dead-lettered:
    /// after the wait a failed attempt asks for, or half a second while the database is
    /// away. `false` when `shutdown` came first.
    pub async fn process_until_done(
        &self,
        event: &Event,
        position: Option<Position<'_>>,
        shutdown: &Shutdown,
    ) -> bool {
        loop {
            let wait = match self.process(event, position).await {
                Ok(Outcome::Retry(wait)) => wait,
                Ok(_) => return true,
                Err(e) => {
                    tracing::warn!(error = %e, "consumer database unavailable; retrying");
                    Duration::from_millis(500)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait() => return false,
            }
        }
    }

    async fn process_in(
        &self,
        event: &Event,
        position: Option<Position<'_>>,
    ) -> Result<Outcome, sqlx::Error> {
        let db = &self.inner.db;
        let mut tx = db.begin_write().await?;
        if !claim_in_inbox(&mut tx, event).await? {
            // Applied before (a redelivery, or another replica got there first).
            advance(&mut tx, position).await?;
            tx.commit().await?;
            return Ok(Outcome::Duplicate);
        }
        let result = self.inner.handler.handle_boxed(&mut tx, event).await;
        match result {
            Ok(()) => {
                advance(&mut tx, position).await?;
                sqlx::query("DELETE FROM event_attempts WHERE event_id = $1")
                    .bind(&event.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.committed();
                faults::point(&format!("{}.consumer.after_commit", self.inner.service));
                Ok(Outcome::Handled)
            }
            Err(err) => {
                tx.rollback().await?;
                self.failed(event, &err, position).await
            }
        }
    }

    async fn failed(
        &self,
        event: &Event,
        err: &HandlerError,
        position: Option<Position<'_>>,
    ) -> Result<Outcome, sqlx::Error> {
        let db = &self.inner.db;
        let mut tx = db.begin_write().await?;
        let now = now_rfc3339();
        let discarded =
            sqlx::query("SELECT discarded_by FROM discarded_events WHERE event_id = $1")
                .bind(&event.id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = discarded {
            // An admin decided about this event before: it is not applied, and no letter
            // is opened again for it (a read model's new copy meets every event again).
            let by: String = row.try_get(0)?;
            tracing::info!(event_id = %event.id, error = %err, discarded_by = %by, "event an admin discarded failed again; set aside, closed");
            let payload = serde_json::to_string(event).unwrap_or_default();
            insert_dead_letter(&mut tx, Some(event), &payload, &err.to_string(), 1).await?;
            sqlx::query(
                "UPDATE dead_letters SET replayed_at = $1, discarded_by = $2 \
                 WHERE event_id = $3 AND replayed_at IS NULL",
            )
            .bind(&now)
            .bind(&by)
            .bind(&event.id)
            .execute(&mut *tx)
            .await?;
            set_aside(tx, &event.id, position).await?;
            return Ok(Outcome::DeadLettered);
        }
        sqlx::query(
            "INSERT INTO event_attempts (event_id, attempts, last_error, updated_at) \
             VALUES ($1, 1, $2, $3) \
             ON CONFLICT (event_id) DO UPDATE SET attempts = event_attempts.attempts + 1, \
             last_error = excluded.last_error, updated_at = excluded.updated_at",
        )
        .bind(&event.id)
        .bind(err.to_string())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let attempts: i64 = sqlx::query("SELECT attempts FROM event_attempts WHERE event_id = $1")
            .bind(&event.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let permanent = matches!(err, HandlerError::Permanent(_));
        if permanent || attempts >= i64::from(self.inner.max_attempts) {
            tracing::warn!(event_id = %event.id, attempts, error = %err, "event dead-lettered");
            let payload = serde_json::to_string(event).unwrap_or_default();
            insert_dead_letter(&mut tx, Some(event), &payload, &err.to_string(), attempts).await?;
            set_aside(tx, &event.id, position).await?;
            return Ok(Outcome::DeadLettered);
        }
        tx.commit().await?;
        tracing::info!(event_id = %event.id, attempts, error = %err, "event handler failed; will retry");
        Ok(Outcome::Retry(backoff(attempts as u32)))
    }

    /// Stores a delivery that could not even be read as an event.
    pub async fn dead_letter_undecodable(
        &self,
        payload: &str,
        error: &str,
        position: Option<Position<'_>>,
    ) -> Result<(), sqlx::Error> {
        tracing::warn!(error, "undecodable event dead-lettered");
        let mut tx = self.inner.db.begin_write().await?;
        insert_dead_letter(&mut tx, None, payload, error, 1).await?;
        advance(&mut tx, position).await?;
        tx.commit().await
    }

    /// Dead letters not yet replayed successfully, oldest first.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, event_id, type, source, error, attempts, dead_at, replayed_at, payload \
             FROM dead_letters WHERE replayed_at IS NULL ORDER BY dead_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.inner.db.pool())
        .await
    }

    /// Runs a dead letter through the handler again. `None` when there is no open dead
    /// letter with that id.
    pub async fn replay(&self, id: &str) -> Result<Option<ReplayResult>, sqlx::Error> {
        let row =
            sqlx::query("SELECT payload FROM dead_letters WHERE id = $1 AND replayed_at IS NULL")
                .bind(id)
                .fetch_optional(self.inner.db.pool())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let payload: String = row.try_get(0)?;
        let event: Event = match serde_json::from_str(&payload) {
            Ok(e) => e,
            Err(e) => {
                self.note_replay_failure(id, &format!("still undecodable: {e}"))
                    .await?;
                return Ok(Some(ReplayResult::Failed));
            }
        };
        let mut tx = self.inner.db.begin_write().await?;
        let seen = !claim_in_inbox(&mut tx, &event).await?;
        if !seen && let Err(e) = self.inner.handler.handle_boxed(&mut tx, &event).await {
            tx.rollback().await?;
            self.note_replay_failure(id, &e.to_string()).await?;
            return Ok(Some(ReplayResult::Failed));
        }
        sqlx::query("UPDATE dead_letters SET replayed_at = $1 WHERE id = $2")
            .bind(now_rfc3339())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(Some(if seen {
            ReplayResult::AlreadyHandled
        } else {
            ReplayResult::Handled
        }))
    }

    /// Closes the open dead letter `id` without a replay, as the admin `by` decided (a
    /// payload that is no event, or one whose effect is no longer wanted): `false` when no
    /// open letter has that id. The letter stays in the table, closed, naming who closed it.
    ///
    /// The decision is kept by the event's id too: should the event fail here again (a
    /// redelivery) it is set aside at once, closed, and a read model's next copy of its
    /// data takes the decision over ([`Consumer::inherit_discards`]).
    pub async fn discard(&self, id: &str, by: &str) -> Result<bool, sqlx::Error> {
        let now = now_rfc3339();
        let mut tx = self.inner.db.begin_write().await?;
        let closed = sqlx::query(
            "UPDATE dead_letters SET replayed_at = $1, discarded_by = $2 \
             WHERE id = $3 AND replayed_at IS NULL",
        )
        .bind(&now)
        .bind(by)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let event_id: Option<String> =
            sqlx::query_scalar("SELECT event_id FROM dead_letters WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
        if closed == 1
            && let Some(event_id) = event_id
        {
            keep_discard(&mut tx, &event_id, by, &now).await?;
        }
        tx.commit().await?;
        Ok(closed == 1)
    }

    /// [`Consumer::inherit_discards`] from the database at `url`, said in the log. One that
    /// cannot be read is said and passed over: its discarded events then reopen here as
    /// letters, for an admin to decide again (nothing is applied that was not before).
    pub async fn inherit_discards_from(&self, url: &str) {
        let taken = match Db::connect_pooled(url, &[], 1).await {
            Ok(predecessor) => {
                let taken = self.inherit_discards(&predecessor).await;
                predecessor.close().await;
                taken.map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        };
        match taken {
            Ok(0) => {}
            Ok(events) => tracing::info!(
                events,
                "took over the events an admin discarded in the copy this one replaces"
            ),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "could not read the events an admin discarded in the copy this one replaces; \
                 they reopen as dead letters here"
            ),
        }
    }

    /// Takes over the events an admin discarded in `predecessor`: the copy of this read
    /// model's data that this process, a rolling restart's successor in the other data
    /// slot, replaces. The new copy reads every event again; without this, each event
    /// discarded in the old copy failed again in the new one and reopened as a dead letter
    /// for an admin to discard a second time, after every restart. Its own letters of those
    /// events still open (this slot's copy met them before the decision) are closed as
    /// decided. Answers how many decisions were new here.
    pub async fn inherit_discards(&self, predecessor: &Db) -> Result<u64, sqlx::Error> {
        let decided: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT event_id, MIN(discarded_by), MIN(replayed_at) FROM dead_letters \
             WHERE discarded_by IS NOT NULL AND event_id IS NOT NULL GROUP BY event_id",
        )
        .fetch_all(predecessor.pool())
        .await?;
        let mut taken = 0;
        let mut tx = self.inner.db.begin_write().await?;
        for (event_id, by, at) in &decided {
            taken += keep_discard(&mut tx, event_id, by, at).await?;
            sqlx::query(
                "UPDATE dead_letters SET replayed_at = $1, discarded_by = $2 \
                 WHERE event_id = $3 AND replayed_at IS NULL",
            )
            .bind(at)
            .bind(by)
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(taken)
    }

    async fn note_replay_failure(&self, id: &str, error: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE dead_letters SET error = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(self.inner.db.pool())
            .await
            .map(|_| ())
    }

    /// How many events this consumer has handled (its inbox size).
    pub async fn handled_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM inbox")
            .fetch_one(self.inner.db.pool())
            .await?
            .try_get(0)
    }

    /// Forgets, once every [`retention::PRUNE_EVERY`] until `shutdown`, the events handled
    /// longer than `keep` ago (never less than [`retention::INBOX_AT_LEAST`]): what a
    /// transport could still deliver again is far younger, and the inbox would otherwise
    /// grow for as long as the shop runs.
    pub async fn retain(self, keep: Duration, shutdown: Shutdown) -> anyhow::Result<()> {
        let keep = retention::inbox_keeps(keep);
        loop {
            tokio::select! {
                () = shutdown.wait() => return Ok(()),
                () = tokio::time::sleep(retention::PRUNE_EVERY) => {}
            }
            let Some(before) = retention::older_than(keep) else {
                continue;
            };
            match self.forget_handled_before(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned the inbox"),
                Err(e) => tracing::warn!(error = %e, "could not prune the inbox"),
            }
        }
    }

    /// Deletes from the inbox the events handled before `before`, a window at a time,
    /// each in a short write transaction of its own between the consumer's; returns how
    /// many went. A delivery of one of them after this would be applied again.
    pub async fn forget_handled_before(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let before = crate::envelope::to_rfc3339(before);
        let mut forgotten = 0;
        loop {
            let mut tx = self.inner.db.begin_write().await?;
            let went = sqlx::query(
                "DELETE FROM inbox WHERE event_id IN \
                 (SELECT event_id FROM inbox WHERE handled_at < $1 ORDER BY handled_at LIMIT $2)",
            )
            .bind(&before)
            .bind(retention::WINDOW)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            forgotten += went;
            if went < retention::WINDOW as u64 {
                return Ok(forgotten);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether this consumer's saved position in `producer`'s log (embedded: saved with
    /// each event handled) is at `seq` or past it: every event up to there dealt with,
    /// whether or not the inbox still remembers it.
    pub async fn has_read_through(&self, producer: &str, seq: i64) -> Result<bool, sqlx::Error> {
        let found =
            sqlx::query("SELECT 1 FROM event_cursors WHERE producer = $1 AND position >= $2")
                .bind(producer)
                .bind(seq)
                .fetch_optional(self.inner.db.pool())
                .await?;
        Ok(found.is_some())
    }

    /// Whether the event `id` has been dealt with: applied, or set aside as a dead letter.
    pub async fn has_applied(&self, id: &str) -> Result<bool, sqlx::Error> {
        let found = sqlx::query(
            "SELECT 1 FROM inbox WHERE event_id = $1 UNION ALL SELECT 1 FROM dead_letters WHERE event_id = $1",
        )
        .bind(id)
        .fetch_optional(self.inner.db.pool())
        .await?;
        Ok(found.is_some())
    }
}

/// Commits `tx`, which has set the event `event_id` aside as a letter: its count of attempts
/// gone, the position moved past it.
async fn set_aside(
    mut tx: Transaction<'static, Any>,
    event_id: &str,
    position: Option<Position<'_>>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM event_attempts WHERE event_id = $1")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    advance(&mut tx, position).await?;
    tx.commit().await
}

/// Records that the admin `by` discarded the event `event_id` at `at`; 1 when that is new.
async fn keep_discard(
    tx: &mut Transaction<'static, Any>,
    event_id: &str,
    by: &str,
    at: &str,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO discarded_events (event_id, discarded_by, discarded_at) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map(|done| done.rows_affected())
}

async fn insert_dead_letter(
    tx: &mut Transaction<'static, Any>,
    event: Option<&Event>,
    payload: &str,
    error: &str,
    attempts: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dead_letters (id, event_id, type, source, payload, error, attempts, dead_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(event.map(|e| e.id.clone()))
    .bind(event.map(|e| e.kind.clone()))
    .bind(event.map(|e| e.source.clone()))
    .bind(payload)
    .bind(error)
    .bind(attempts)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records `event` in the inbox as handled now, in the transaction that handles it:
/// `false` when it was there already (handled before, or by another replica just now,
/// whose commit this waits for on PostgreSQL).
async fn claim_in_inbox(
    tx: &mut Transaction<'static, Any>,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO inbox (event_id, type, source, handled_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(&event.source)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the embedded cursor forward (never back) inside the caller's transaction.
async fn advance(
    tx: &mut Transaction<'static, Any>,
    position: Option<Position<'_>>,
) -> Result<(), sqlx::Error> {
    if let Some(p) = position {
        sqlx::query(
            "INSERT INTO event_cursors (producer, position) VALUES ($1, $2) \
             ON CONFLICT (producer) DO UPDATE SET position = excluded.position \
             WHERE event_cursors.position < excluded.position",
        )
        .bind(p.producer)
        .bind(p.seq)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Exponential backoff with full jitter: up to 100 ms × 2^(attempt-1), at most 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let cap = 100u64
        .saturating_mul(1 << attempt.saturating_sub(1).min(6))
        .min(5_000);
    Duration::from_millis(rand::rng().random_range(cap / 2..=cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::Failure;

    #[test]
    fn bad_data_is_dead_lettered_and_a_failing_database_retried() {
        match HandlerError::from(Failure::invalid("user_id", "must not be empty")) {
            HandlerError::Permanent(m) => assert_eq!(m, "user_id: must not be empty"),
            other => panic!("{other}"),
        }
        let transient = HandlerError::from(Failure::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(transient, HandlerError::Transient(_)),
            "{transient}"
        );
        let away = HandlerError::from(Failure::Unavailable("index stopping".into()));
        assert!(matches!(away, HandlerError::Transient(_)), "{away}");
    }

    #[test]
    fn data_that_does_not_fit_is_permanent() {
        let event = Event::new("orders", "t.v1", "o-1", serde_json::json!({"n": "x"})).unwrap();
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Wants {
            n: u32,
        }
        let err = decode::<Wants>(&event).unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)), "{err}");
    }
}
