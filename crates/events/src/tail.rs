//! The newest stretch of a producer's outbox, kept in memory and shared by the readers of
//! its log ([`crate::producer`]).
//!
//! Every consuming service long-polls every producer it subscribes to, so one commit
//! wakes all of them at once. Without this, each woken reader queried the outbox by
//! itself: under checkout load the orders service read its outbox about twelve times
//! per checkout for two new events. Now one woken reader reads the database for all of
//! them, and the rest are answered from what it brought.
//!
//! It is sound because the log is append-only in commit order: `seq` order is commit
//! order (SQLite writers are serialised; PostgreSQL producers take an advisory lock
//! at enqueue, see [`crate::outbox`]), and rows are deleted only by the retention
//! ([`crate::retention`]), when old and read by every subscriber of their type. So once a
//! read of `seq > a` has returned rows up to `b`, no row committed later can fall among
//! them; and memory forgets what the retention deletes. Readers that are further behind
//! than the memory reaches read the database themselves, as before.

use platform::db::Db;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use sqlx::Row;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Events kept in memory: enough for every reader that keeps up, small beside a
/// service's footprint (an event's payload is well under a kilobyte).
const KEEP: usize = 1024;
/// Rows one shared read fetches at most.
const FETCH: i64 = 500;

/// One outbox row as the log serves it.
#[derive(Debug)]
pub struct Logged {
    pub seq: i64,
    pub kind: String,
    /// The CloudEvent, parsed once for every reader (a payload that is not JSON is
    /// served as a string, for the consumer to dead-letter).
    pub event: serde_json::Value,
}

impl Logged {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        let payload: String = row.try_get("payload")?;
        Ok(Self {
            seq: row.try_get("seq")?,
            kind: row.try_get("type")?,
            event: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        })
    }
}

/// A page of the log as the producer writes it: the wire form of
/// [`crate::producer::LogPage`], built from shared rows without copying them.
pub struct Page {
    pub events: Vec<Arc<Logged>>,
    pub next: i64,
}

impl Serialize for Page {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Entry<'a>(&'a Logged);
        impl Serialize for Entry<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut entry = s.serialize_struct("LogEntry", 2)?;
                entry.serialize_field("seq", &self.0.seq)?;
                entry.serialize_field("event", &self.0.event)?;
                entry.end()
            }
        }
        let events: Vec<Entry<'_>> = self.events.iter().map(|e| Entry(e)).collect();
        let mut page = s.serialize_struct("LogPage", 2)?;
        page.serialize_field("events", &events)?;
        page.serialize_field("next", &self.next)?;
        page.end()
    }
}

/// The shared stretch of the log and the one read that extends it.
#[derive(Default)]
pub struct Tail {
    known: Mutex<Known>,
    /// Held while the database is read on behalf of all readers.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Known {
    /// Every committed row with `from < seq <= to` is in `rows`, in order; `None` before
    /// the first shared read.
    span: Option<(i64, i64)>,
    rows: VecDeque<Arc<Logged>>,
    /// Shared reads started so far: a reader that was woken when this stood at `n` has
    /// been served by any read numbered above `n`, since that read began after the commit
    /// that woke it.
    reads: u64,
}

/// Where a reader stands: whether memory can answer it.
enum Reach {
    /// Rows after its position are in memory.
    Known(Vec<Arc<Logged>>),
    /// It has everything memory holds: the next rows need a shared read.
    CaughtUp,
    /// Its position is before what memory holds: it reads the database itself.
    Behind,
}

impl Tail {
    /// The count to pass to [`Tail::after`] by a reader about to look: reads started later
    /// see every commit made before now.
    pub fn stamp(&self) -> u64 {
        self.known().reads
    }

    /// Up to `limit` rows with `seq > after`, in order; empty when nothing was committed
    /// after `after` before the caller's `stamp` was taken.
    pub async fn after(
        &self,
        db: &Db,
        after: i64,
        limit: i64,
        stamp: u64,
    ) -> Result<Vec<Arc<Logged>>, sqlx::Error> {
        // Bound first, so that the lock is not held through the match.
        let reach = self.known().reach(after, limit);
        match reach {
            Reach::Known(rows) => return Ok(rows),
            Reach::Behind => return read(db, after, limit).await,
            Reach::CaughtUp => {}
        }
        let _reading = self.reading.lock().await;
        // Another reader may have read for us while we waited for the lock.
        let from = {
            let mut known = self.known();
            match known.reach(after, limit) {
                Reach::Known(rows) => return Ok(rows),
                Reach::CaughtUp if known.reads > stamp => return Ok(Vec::new()),
                Reach::CaughtUp => {
                    known.reads += 1;
                    match known.span {
                        // A reader ahead of memory (another replica served it further)
                        // starts the stretch again where it stands.
                        Some((_, to)) if after <= to => Some(to),
                        _ => Some(after),
                    }
                }
                Reach::Behind => None,
            }
        };
        let Some(from) = from else {
            return read(db, after, limit).await;
        };
        let fetched = read(db, from, FETCH).await?;
        let mut known = self.known();
        match known.span {
            Some((start, to)) if to == from => {
                let end = fetched.last().map_or(to, |r| r.seq);
                known.span = Some((start, end));
            }
            _ => {
                known.rows.clear();
                let end = fetched.last().map_or(from, |r| r.seq);
                known.span = Some((from, end));
            }
        }
        known.rows.extend(fetched);
        while known.rows.len() > KEEP {
            if let (Some(dropped), Some((_, to))) = (known.rows.pop_front(), known.span) {
                known.span = Some((dropped.seq, to));
            }
        }
        Ok(match known.reach(after, limit) {
            Reach::Known(rows) => rows,
            _ => Vec::new(),
        })
    }

    /// Forgets the rows up to `seq`, which the retention has deleted from the outbox
    /// ([`crate::retention`]): a reader from before them reads the database, which has
    /// only what was kept.
    pub fn forget_through(&self, seq: i64) {
        let mut known = self.known();
        if let Some((from, to)) = known.span
            && from < seq
        {
            while known.rows.front().is_some_and(|r| r.seq <= seq) {
                known.rows.pop_front();
            }
            known.span = Some((seq.min(to), to));
        }
    }

    /// The newest number read into memory, if any: a reader at or before it stands within
    /// the log.
    pub fn newest(&self) -> Option<i64> {
        self.known().span.map(|(_, to)| to)
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Known {
    /// What memory holds for a reader at `after` wanting up to `limit` rows.
    fn reach(&self, after: i64, limit: i64) -> Reach {
        match self.span {
            Some((from, _)) if after < from => Reach::Behind,
            Some((_, to)) if after < to => {
                // Rows are in seq order: skip to the first one after `after`.
                let start = self.rows.partition_point(|r| r.seq <= after);
                Reach::Known(
                    self.rows
                        .iter()
                        .skip(start)
                        .take(usize::try_from(limit).unwrap_or(usize::MAX))
                        .cloned()
                        .collect(),
                )
            }
            _ => Reach::CaughtUp,
        }
    }
}

/// Rows after `after`, from the database.
async fn read(db: &Db, after: i64, limit: i64) -> Result<Vec<Arc<Logged>>, sqlx::Error> {
    sqlx::query("SELECT seq, type, payload FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|row| Logged::from_row(row).map(Arc::new))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outbox table in a database of its own, and the directory that holds it (kept
    /// while the database is used, removed when dropped).
    async fn outbox() -> (platform::testing::Scratch, Db) {
        let dir = platform::testing::Scratch::new("tail");
        let db = Db::connect(&dir.sqlite_url("outbox"), &[]).await.unwrap();
        sqlx::query(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, \
             payload TEXT NOT NULL)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        (dir, db)
    }

    async fn append(db: &Db, n: usize) {
        for _ in 0..n {
            sqlx::query("INSERT INTO outbox (type, payload) VALUES ('t', '{\"a\":1}')")
                .execute(db.pool())
                .await
                .unwrap();
        }
    }

    fn seqs(rows: &[Arc<Logged>]) -> Vec<i64> {
        rows.iter().map(|r| r.seq).collect()
    }

    #[tokio::test]
    async fn readers_woken_by_one_commit_share_one_read() {
        let (_dir, db) = outbox().await;
        let tail = Tail::default();
        append(&db, 3).await;
        let stamp = tail.stamp();
        assert_eq!(
            seqs(&tail.after(&db, 0, 100, stamp).await.unwrap()),
            [1, 2, 3]
        );
        // Five more readers at 0 and at 2: answered from memory, no further read.
        for _ in 0..5 {
            assert_eq!(
                seqs(&tail.after(&db, 0, 100, stamp).await.unwrap()),
                [1, 2, 3]
            );
            assert_eq!(seqs(&tail.after(&db, 2, 100, stamp).await.unwrap()), [3]);
        }
        assert_eq!(tail.stamp(), 1, "one shared read");
        // A caught-up reader woken before that read started reads nothing new: the read
        // that began after its wake saw every commit before it.
        assert!(tail.after(&db, 3, 100, 0).await.unwrap().is_empty());
        assert_eq!(tail.stamp(), 1);
        // A commit, then a reader that looks after it: one more read brings it.
        append(&db, 2).await;
        let stamp = tail.stamp();
        assert_eq!(seqs(&tail.after(&db, 3, 100, stamp).await.unwrap()), [4, 5]);
        assert_eq!(
            seqs(&tail.after(&db, 3, 1, stamp).await.unwrap()),
            [4],
            "limit"
        );
        assert_eq!(tail.stamp(), 2);
    }

    #[tokio::test]
    async fn readers_behind_memory_or_ahead_of_it_still_get_every_row() {
        let (_dir, db) = outbox().await;
        let tail = Tail::default();
        append(&db, 10).await;
        // The stretch starts where the first reader stands: 6.
        assert_eq!(
            seqs(&tail.after(&db, 6, 100, 0).await.unwrap()),
            [7, 8, 9, 10]
        );
        // Behind it: read from the database, in full.
        assert_eq!(seqs(&tail.after(&db, 2, 3, 1).await.unwrap()), [3, 4, 5]);
        // Ahead of it (a replica served it further): the stretch starts again there.
        append(&db, 3).await;
        assert_eq!(seqs(&tail.after(&db, 11, 100, 1).await.unwrap()), [12, 13]);
        assert_eq!(seqs(&tail.after(&db, 11, 100, 2).await.unwrap()), [12, 13]);
        assert_eq!(
            seqs(&tail.after(&db, 9, 100, 2).await.unwrap()),
            [10, 11, 12, 13]
        );
    }

    #[tokio::test]
    async fn memory_keeps_the_newest_rows_and_readers_behind_them_read_the_database() {
        let (_dir, db) = outbox().await;
        let tail = Tail::default();
        append(&db, KEEP + 200).await;
        let mut at = 0;
        // One reader walks the whole log through the shared reads.
        loop {
            let stamp = tail.stamp();
            let rows = tail.after(&db, at, 1000, stamp).await.unwrap();
            let Some(last) = rows.last() else { break };
            assert_eq!(rows[0].seq, at + 1, "no gap");
            at = last.seq;
        }
        assert_eq!(at, i64::try_from(KEEP + 200).unwrap());
        assert_eq!(tail.known().rows.len(), KEEP);
        // The oldest rows are out of memory, still served in full.
        let rows = tail.after(&db, 0, 1000, tail.stamp()).await.unwrap();
        assert_eq!(rows.len(), 1000);
        assert_eq!(rows[999].seq, 1000);
        // And the wire form is the page consumers read.
        let page = Page {
            events: rows[..1].to_vec(),
            next: 1,
        };
        let parsed: crate::producer::LogPage =
            serde_json::from_str(&serde_json::to_string(&page).unwrap()).unwrap();
        assert_eq!(parsed.next, 1);
        assert_eq!(parsed.events[0].event, serde_json::json!({"a": 1}));
    }
}
