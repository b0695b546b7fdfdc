//! The transactional outbox: events written in the producer's own transaction.
//!
//! Each producing service has an `outbox` table, created by [`MIGRATIONS`] next to its own:
//! `seq` orders the events as recorded, `payload` holds the whole envelope as JSON, and
//! the delivery columns are the relay's.

use crate::envelope::Event;
use platform::db::MigrationSource;
use sqlx::{Any, Transaction};
use tracing::Instrument;

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the event could not be serialised")]
    Serialise(#[from] serde_json::Error),
    #[error("the event could not be stored")]
    Store(#[from] sqlx::Error),
    /// Only in test builds (feature `test-util`), which check every event recorded.
    #[cfg(feature = "test-util")]
    #[error(transparent)]
    Contract(#[from] crate::contract::Violation),
}

impl OutboxError {
    /// What a request whose event could not be recorded gets: a 503 to retry when the
    /// database failed for a moment ([`platform::Problem::database`]), else a 500.
    pub fn problem(&self) -> platform::Problem {
        match self {
            OutboxError::Store(e) => platform::Problem::database(e),
            other => platform::Problem::internal(other),
        }
    }
}

/// Records `event` in the outbox, inside the caller's transaction.
///
/// On PostgreSQL the producing transactions of one service are serialised from this
/// point to their commit (a transaction-scoped advisory lock), so `seq` order is commit
/// order: a consumer reading the outbox as a log can never see seq 11 before seq 10
/// has committed, and so never skips an event. SQLite writers are serialised already.
pub async fn enqueue(tx: &mut Transaction<'_, Any>, event: &Event) -> Result<(), OutboxError> {
    #[cfg(feature = "test-util")]
    crate::contract::check(&event.kind, &event.data)?;
    // Traced, the event carries its producer span's context, so its handling is a child
    // of the recording; else whatever `traceparent` the caller gave it.
    let span = platform::telemetry::producer_span(&event.kind);
    let payload = match platform::telemetry::traceparent(&span) {
        Some(tp) => serde_json::to_string(&event.clone().with_traceparent(Some(tp)))?,
        None => serde_json::to_string(event)?,
    };
    insert(tx, event, payload).instrument(span).await
}

async fn insert(
    tx: &mut Transaction<'_, Any>,
    event: &Event,
    payload: String,
) -> Result<(), OutboxError> {
    platform::db::serialize_writers(tx, 7_368_001).await?;
    sqlx::query(
        "INSERT INTO outbox (id, type, subject, time, payload, attempts) \
         VALUES ($1, $2, $3, $4, $5, 0)",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(&event.subject)
    .bind(&event.time)
    .bind(payload)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The outbox table and its index; `$seq` is the column that numbers the events in commit
/// order, as each backend declares an auto-incrementing key.
macro_rules! outbox_table {
    ($seq:literal) => {
        concat!(
            "CREATE TABLE outbox (
        ",
            $seq,
            ",
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        subject TEXT NOT NULL,
        time TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        delivered_at TEXT,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (delivered_at, seq);"
        )
    };
}

/// The outbox's own migrations, in the version range reserved for the events crate
/// (9_000_000 and up) so they never collide with a service's.
pub const MIGRATIONS: &[MigrationSource] = &[
    platform::migration_with_seq!(9_000_001, "events outbox", outbox_table),
    MigrationSource::portable(9_000_002, "events consumer positions", CONSUMER_POSITIONS),
    MigrationSource::portable(
        9_000_003,
        "one relay at a time per service (a lease)",
        RELAY_LEASE,
    ),
];

/// Which replica of the service relays the outbox to the broker, until when.
const RELAY_LEASE: &str = "CREATE TABLE relay_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT,
    lease_until TEXT
);
INSERT INTO relay_lease (id) VALUES (1);";

/// Where each embedded consumer last read this outbox: the producer's view of backlog.
const CONSUMER_POSITIONS: &str = "CREATE TABLE consumer_positions (
    consumer TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    seen_at TEXT NOT NULL
);";

/// Records a new event of `kind` about `subject`, produced by `service` and continuing the
/// trace of `traceparent`, in the outbox inside the caller's transaction: [`Event::new`]
/// and [`enqueue`] in one.
pub async fn record(
    tx: &mut Transaction<'_, Any>,
    service: &str,
    kind: &str,
    subject: &str,
    data: impl serde::Serialize,
    traceparent: Option<&str>,
) -> Result<(), OutboxError> {
    let event =
        Event::new(service, kind, subject, data)?.with_traceparent(traceparent.map(str::to_owned));
    enqueue(tx, &event).await
}

/// To a consumer whose handler records events: an event that cannot be serialised will not
/// be next time either; a failing store may be back.
impl From<OutboxError> for crate::HandlerError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Serialise(e) => {
                crate::HandlerError::Permanent(format!("could not build an event: {e}"))
            }
            OutboxError::Store(e) => crate::HandlerError::from(e),
            #[cfg(feature = "test-util")]
            e @ OutboxError::Contract(_) => crate::HandlerError::Permanent(e.to_string()),
        }
    }
}
