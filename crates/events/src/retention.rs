//! How long a producer keeps its outbox: events leave it once nobody can need them.
//!
//! The outbox is each producer's largest table (about 1 KB an event; a checkout records about
//! ten), and without this it grew for as long as the shop ran. An event is deleted when
//! all of these hold:
//!
//! * it is older than the retention (`BAZAAR_OUTBOX_RETENTION_HOURS`, 7 days by default):
//!   a consumer added later, or someone reading the log by hand, still finds that much;
//! * no read model takes its type: a new replica of a read model builds its copy by
//!   replaying the log from the start, so those types are kept for good (the catalog's
//!   products, `order.confirmed`);
//! * it is not the newest event, which stays so that the log's head says how far it has
//!   come;
//! * every service that reads it has it: embedded, each subscribing service's saved
//!   position is past it (a subscriber that has never read holds everything back); on
//!   RabbitMQ, the broker has confirmed it, so it waits in every bound queue.
//!
//! Events are looked at in log order, a window at a time, each window's deletes in a
//! short transaction of their own, so the service's own writes go on in between. The
//! first event that must stay ends the pass: what follows it is newer, or not yet read.

use crate::producer::Broker;
use chrono::{DateTime, Utc};
use platform::{db::Db, registry::Registry};
use sqlx::Row;
use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

/// What a producer's outbox keeps.
#[derive(Debug, Clone)]
pub struct Retention {
    /// How long an event is kept at least.
    pub keep: Duration,
    /// The types a read model takes: kept for good.
    pub replayed: BTreeSet<String>,
    /// The services other than read models that read this producer's events.
    pub readers: Vec<String>,
}

/// How often a producer prunes its outbox.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Events looked at per window (and deleted per transaction at most).
pub(crate) const WINDOW: i64 = 500;

/// How long a consumer remembers an event it handled at least, whatever the outbox's
/// retention (even 0): a delivery again comes within minutes (the broker's after an ack
/// lost with its connection, a frozen replica's batch once it wakes), never a day later.
pub const INBOX_AT_LEAST: Duration = Duration::from_secs(24 * 3600);

/// How long a consumer's inbox remembers a handled event under the outbox retention
/// `retention`: as long, and never less than [`INBOX_AT_LEAST`]. What is kept for as
/// long as the inbox remembers (a cart's settled holds) is kept by this too.
pub fn inbox_keeps(retention: Duration) -> Duration {
    retention.max(INBOX_AT_LEAST)
}

/// The moment before which something is older than `keep`; `None` when nothing can be
/// (a retention longer than the calendar goes back).
pub fn older_than(keep: Duration) -> Option<DateTime<Utc>> {
    Utc::now().checked_sub_signed(chrono::Duration::from_std(keep).ok()?)
}

/// Where a producer's pruning has got to: every event up to `seq` is deleted or kept for
/// good, so a pass starts after it.
#[derive(Debug, Default)]
pub struct Pruned {
    seq: i64,
}

impl Pruned {
    /// Every event up to this `seq` is deleted or kept for good.
    pub fn through(&self) -> i64 {
        self.seq
    }
}

impl Retention {
    /// What the outbox of `service`, a producer in `registry`, keeps: events for `keep`
    /// at least, every type a read model takes from it for good, and until every other
    /// subscriber has read them.
    pub fn of(registry: &Registry, service: &str, keep: Duration) -> Self {
        let subscribers = registry
            .entries()
            .iter()
            .filter(|e| e.def.producers().contains(&service));
        let (read_models, readers): (Vec<_>, Vec<_>) = subscribers.partition(|e| e.def.read_model);
        let replayed = read_models
            .iter()
            .flat_map(|e| e.def.subscriptions.iter())
            .filter(|s| s.producer == service)
            .flat_map(|s| s.types.iter().map(|t| (*t).to_owned()))
            .collect();
        Self {
            keep,
            replayed,
            readers: readers.iter().map(|e| e.name().to_owned()).collect(),
        }
    }

    /// Deletes what may go from the outbox in `db`, on `broker`, and returns how many
    /// events went.
    pub async fn prune(
        &self,
        db: &Db,
        broker: &Broker,
        pruned: &mut Pruned,
    ) -> Result<u64, sqlx::Error> {
        let Some(read_up_to) = self.read_up_to(db, broker).await? else {
            return Ok(0);
        };
        // The newest event stays whatever its age, so that the log's head (and every
        // reader's backlog, counted from it) still says how far the log has come.
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM outbox")
            .fetch_one(db.pool())
            .await?;
        let Some(newest) = newest else {
            return Ok(0);
        };
        let Some(older_than) = older_than(self.keep) else {
            return Ok(0);
        };
        let mut deleted = 0;
        loop {
            let rows = sqlx::query(
                "SELECT seq, type, time, delivered_at FROM outbox WHERE seq > $1 \
                 ORDER BY seq LIMIT $2",
            )
            .bind(pruned.seq)
            .bind(WINDOW)
            .fetch_all(db.pool())
            .await?;
            let full = rows.len() as i64 == WINDOW;
            let mut upto = None;
            let mut types = BTreeSet::new();
            let mut stopped = false;
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                if seq >= newest {
                    stopped = true;
                    break;
                }
                let kind: String = row.try_get("type")?;
                let time: String = row.try_get("time")?;
                let delivered: Option<String> = row.try_get("delivered_at")?;
                if !self.replayed.contains(&kind) {
                    let old = DateTime::parse_from_rfc3339(&time).is_ok_and(|t| t < older_than);
                    let read = match broker {
                        Broker::Embedded => seq <= read_up_to,
                        Broker::Amqp { .. } => delivered.is_some(),
                    };
                    if !(old && read) {
                        stopped = true;
                        break;
                    }
                    types.insert(kind);
                }
                upto = Some(seq);
            }
            if let Some(upto) = upto {
                if !types.is_empty() {
                    let mut tx = db.begin_write().await?;
                    for kind in &types {
                        deleted += sqlx::query(
                            "DELETE FROM outbox WHERE seq > $1 AND seq <= $2 AND type = $3",
                        )
                        .bind(pruned.seq)
                        .bind(upto)
                        .bind(kind)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    tx.commit().await?;
                }
                pruned.seq = upto;
            }
            if stopped || !full {
                return Ok(deleted);
            }
            // The service's own transactions go between this pass's.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How far every reader has read, embedded: the least of their saved positions, or
    /// `None` when one has none yet (nothing may go). On RabbitMQ, the broker is the
    /// readers' store, and the bound is its confirm instead.
    async fn read_up_to(&self, db: &Db, broker: &Broker) -> Result<Option<i64>, sqlx::Error> {
        if matches!(broker, Broker::Amqp { .. }) {
            return Ok(Some(i64::MAX));
        }
        let saved: HashMap<String, i64> =
            sqlx::query_as("SELECT consumer, position FROM consumer_positions")
                .fetch_all(db.pool())
                .await?
                .into_iter()
                .collect();
        Ok(self
            .readers
            .iter()
            .map(|reader| saved.get(reader).copied())
            .try_fold(i64::MAX, |least, position| Some(least.min(position?))))
    }
}
