//! The embedded transport: each consuming service reads each producer's outbox as a log
//! over HTTP (long polling), keeping its read position in its own database and advancing
//! it in the same transaction as each event's effects.
//!
//! Durable at the producer (the outbox is the log), fan-out by construction (every
//! consuming service has its own position), ordered (events come in commit order), and
//! one replica of a consuming service reads a producer at a time (a lease on the
//! position row), so each event is handled by one replica.

use crate::consumer::{Consumer, Position};
use crate::envelope::Event;
use crate::producer::LogPage;
use crate::{Feed, Transport};
use platform::shutdown::Shutdown;
use sqlx::Row;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Level;

/// How long one log request waits for new events.
const LONG_POLL: Duration = Duration::from_secs(4);
/// How long a replica holds a producer's position before another may take over; renewed
/// before a read it might not last through, and between the events of a page that takes
/// long. Short, so a replica killed outright is replaced within seconds; a live reader
/// that loses it mid-poll leaves the rest of its page to the one that took it.
const LEASE: Duration = Duration::from_secs(6);
/// A lease with less than this left is renewed before the next read: a long poll and a
/// second to handle what it brings. Under load a reader renews about once a second
/// instead of at each of its reads.
const RENEW_WITHIN: Duration = LONG_POLL.saturating_add(Duration::from_secs(1));

/// Reads `producer` (from whichever of its replicas `transport` picks for each request)
/// until shutdown, then gives up its lease so a successor starts at once.
pub async fn poll(
    consumer: Consumer,
    producer: String,
    transport: &Transport,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let owner = uuid::Uuid::new_v4().to_string();
    let db = consumer.db().clone();
    let feed = transport.feed(&producer, LONG_POLL + Duration::from_secs(5))?;
    let result = read(consumer, &producer, &feed, &owner, shutdown).await;
    let released = sqlx::query(
        "UPDATE event_cursors SET lease_owner = NULL, lease_until = NULL \
         WHERE producer = $1 AND lease_owner = $2",
    )
    .bind(&producer)
    .bind(&owner)
    .execute(db.pool())
    .await;
    if let Err(e) = released {
        tracing::warn!(error = %e, producer, "could not release the event cursor lease");
    }
    result
}

async fn read(
    consumer: Consumer,
    producer: &str,
    feed: &Feed,
    owner: &str,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let producer = producer.to_owned();
    let types = consumer.types_from(&producer);
    let db = consumer.db().clone();
    // Every write below may fail for a moment (a pool short of connections, a database
    // restarting): the reader waits and carries on from the position it last recorded,
    // and never ends its process over it.
    let mut registered = false;
    let mut failures = 0u32;
    // The lease while it is fresh, and the position it guards: a lease is renewed when
    // what is left of it might not last through the next read ([`RENEW_WITHIN`]), not at
    // every read (a write in this service's database per event otherwise). Nobody else
    // moves the position while it is held.
    let mut held: Option<(Instant, i64)> = None;
    loop {
        if shutdown.is_triggered() {
            return Ok(());
        }
        if !registered {
            let inserted = sqlx::query(
                "INSERT INTO event_cursors (producer, position) VALUES ($1, 0) \
                 ON CONFLICT (producer) DO NOTHING",
            )
            .bind(&producer)
            .execute(db.pool())
            .await;
            match inserted {
                Ok(_) => registered = true,
                Err(e) => {
                    if !after_database_error(&e, &shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        let position = match held {
            Some((until, position))
                if until.saturating_duration_since(Instant::now()) > RENEW_WITHIN =>
            {
                position
            }
            _ => {
                let asked = Instant::now();
                match lease(&db, &producer, owner).await {
                    Ok(Some(p)) => {
                        held = Some((asked + LEASE, p));
                        p
                    }
                    Ok(None) => {
                        held = None;
                        // Another replica reads this producer; check back later.
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.wait() => return Ok(()),
                        }
                    }
                    Err(e) => {
                        held = None;
                        if !after_database_error(&e, &shutdown).await {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
        };
        let query = [
            ("after", position.to_string()),
            ("limit", "200".to_owned()),
            ("wait_ms", LONG_POLL.as_millis().to_string()),
            ("types", types.clone()),
            ("consumer", consumer.service().to_owned()),
        ];
        let request = async {
            let res = feed.get("/events/log", &query).await?;
            res.json::<LogPage>().await.map_err(|e| e.to_string())
        };
        let page: LogPage = tokio::select! {
            r = request => match r {
                Ok(p) => { failures = 0; p }
                Err(e) => { failures += 1; wait_after_failure(&producer, &e, failures, &shutdown).await; continue; }
            },
            _ = shutdown.wait() => return Ok(()),
        };
        // Each event applied moves the position with its effects.
        let mut applied = position;
        let mut interrupted = false;
        for entry in page.events {
            // A page can outlast the lease (events that fail retry for a second or more
            // each): renewed before each event once half of it is gone, or the page left
            // when another replica has taken it, so that no two replicas handle the same
            // events at once (the verification review: one event dead-lettered by both
            // cart replicas, another applied out of order).
            if let Some((until, _)) = held
                && until.saturating_duration_since(Instant::now()) < LEASE / 2
            {
                let asked = Instant::now();
                match lease(&db, &producer, owner).await {
                    Ok(Some(_)) => held = held.map(|(_, at)| (asked + LEASE, at)),
                    Ok(None) | Err(_) => {
                        interrupted = true;
                        break;
                    }
                }
            }
            let at = Position {
                producer: &producer,
                seq: entry.seq,
            };
            applied = entry.seq;
            let event: Event = match serde_json::from_value(entry.event.clone()) {
                Ok(e) => e,
                Err(e) => {
                    let parked = consumer
                        .dead_letter_undecodable(
                            &entry.event.to_string(),
                            &format!("not a CloudEvent: {e}"),
                            Some(at),
                        )
                        .await;
                    if let Err(e) = parked {
                        // Read again from the position the database holds.
                        interrupted = true;
                        if !after_database_error(&e, &shutdown).await {
                            return Ok(());
                        }
                        break;
                    }
                    continue;
                }
            };
            if !consumer
                .process_until_done(&event, Some(at), &shutdown)
                .await
            {
                return Ok(());
            }
        }
        if interrupted {
            held = None;
            continue;
        }
        // Events of types this service does not take were skipped: move past them.
        if page.next > applied {
            let moved = sqlx::query(
                "UPDATE event_cursors SET position = $1 WHERE producer = $2 AND position < $1",
            )
            .bind(page.next)
            .bind(&producer)
            .execute(db.pool())
            .await;
            if let Err(e) = moved {
                held = None;
                if !after_database_error(&e, &shutdown).await {
                    return Ok(());
                }
                continue;
            }
        }
        if let Some((_, at)) = &mut held {
            *at = page.next;
        }
    }
}

/// Waits a moment after this reader's database failed it; false when the service is
/// shutting down instead.
async fn after_database_error(e: &(dyn std::fmt::Display + Sync), shutdown: &Shutdown) -> bool {
    tracing::warn!(error = %e, "cannot record the event cursor; retrying");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(500)) => true,
        _ = shutdown.wait() => false,
    }
}

async fn wait_after_failure(producer: &str, error: &str, failures: u32, shutdown: &Shutdown) {
    let wait = crate::consumer::backoff(failures.min(5) + 2);
    match said_after(failures) {
        Some(Level::INFO) => tracing::info!(
            producer,
            error,
            "the producer does not answer (starting or restarting?); retrying"
        ),
        Some(_) => tracing::warn!(
            producer,
            error,
            failures,
            "cannot read the producer's events; retrying"
        ),
        None => {}
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.wait() => {}
    }
}

/// What a consumer says after its `failures`-th failure in a row to read a producer. A
/// producer that does not answer for a moment is routine: every consumer of the catalog
/// asks before the catalog listens when `bazaar up` starts them side by side, and a
/// restarted producer is away for a moment. So the first failure is told at INFO, and a
/// warning comes only from the fourth (after 1.4–2.8 s of retries), then at every power
/// of two: never on every retry.
fn said_after(failures: u32) -> Option<Level> {
    match failures {
        1 => Some(Level::INFO),
        n if n >= 4 && n.is_power_of_two() => Some(Level::WARN),
        _ => None,
    }
}

/// Takes or renews this replica's lease on the producer's position; returns the position
/// when held.
async fn lease(
    db: &platform::db::Db,
    producer: &str,
    owner: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let now = chrono::Utc::now();
    let until =
        crate::envelope::to_rfc3339(now + chrono::Duration::from_std(LEASE).unwrap_or_default());
    let now = crate::envelope::to_rfc3339(now);
    let taken = sqlx::query(
        "UPDATE event_cursors SET lease_owner = $1, lease_until = $2 WHERE producer = $3 \
         AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)",
    )
    .bind(owner)
    .bind(until)
    .bind(producer)
    .bind(now)
    .execute(db.pool())
    .await?
    .rows_affected();
    if taken == 0 {
        return Ok(None);
    }
    let position: i64 = sqlx::query("SELECT position FROM event_cursors WHERE producer = $1")
        .bind(producer)
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok(Some(position))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_producer_away_for_a_moment_is_told_once_and_warned_of_only_when_it_lasts() {
        let said: Vec<(u32, Option<Level>)> = (1..=17).map(|n| (n, said_after(n))).collect();
        let expected: Vec<(u32, Option<Level>)> = (1..=17)
            .map(|n| {
                let level = match n {
                    1 => Some(Level::INFO),
                    4 | 8 | 16 => Some(Level::WARN),
                    _ => None,
                };
                (n, level)
            })
            .collect();
        assert_eq!(said, expected);
    }
}
