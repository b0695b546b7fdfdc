//! "Ready" means caught up: a consumer is not ready until it has applied every event its
//! producers had committed when it started (the seed, on a fresh shop). A script that
//! adds a seeded product to a cart the moment the shop says ready must find it there.
//!
//! At start, the consumer asks each producer for the newest event of the types it takes
//! (`GET /events/head`), then watches its own inbox (and dead letters) for that event's
//! id, or, reading the producer's log, for its saved position to reach that event (the
//! inbox forgets what it handled longer ago than its retention). Whatever the transport
//! delivers, in order, having applied the newest means having applied the rest. Once
//! caught up, a consumer stays ready: later lag is lag, not unreadiness, or one slow
//! producer would take every consumer out of rotation.

use crate::{Consumer, Feed, Transport};
use platform::shutdown::Shutdown;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// How long a consumer on a broker waits for the producer's newest event before it takes
/// it as published before its queue existed.
const QUEUE_PATIENCE: Duration = Duration::from_secs(30);

/// How long asking a producer for its newest event may take.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The newest event of some types in a producer's outbox: what `/events/head` answers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Head {
    /// Its sequence number in the producer's log.
    pub seq: i64,
    /// Its CloudEvents id.
    pub id: String,
}

/// The producers a consumer has not caught up with yet. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CatchUp {
    behind: Arc<Mutex<BTreeSet<String>>>,
}

impl CatchUp {
    /// Behind every producer `consumer` subscribes to.
    pub fn of(consumer: &Consumer) -> Self {
        let behind = consumer
            .producers()
            .into_iter()
            .map(str::to_owned)
            .collect();
        Self {
            behind: Arc::new(Mutex::new(behind)),
        }
    }

    /// The readiness check: fails, naming them, while any producer is still behind.
    pub fn check(&self) -> Result<(), String> {
        let behind = self.behind.lock().unwrap_or_else(|e| e.into_inner());
        if behind.is_empty() {
            Ok(())
        } else {
            let names: Vec<&str> = behind.iter().map(String::as_str).collect();
            Err(format!("catching up with {}'s events", names.join(", ")))
        }
    }

    fn caught_up(&self, producer: &str) {
        let mut behind = self.behind.lock().unwrap_or_else(|e| e.into_inner());
        if behind.remove(producer) {
            tracing::info!(producer, "caught up with the producer's events");
        }
    }

    /// Marks each producer caught up once `consumer` has applied the newest event that
    /// producer had when this started; returns when all are, or at shutdown.
    pub async fn watch(
        self,
        consumer: Consumer,
        transport: Transport,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let replayable = transport.is_replayable();
        let watchers = consumer.producers().into_iter().map(|producer| {
            let client = transport.feed(producer, HEAD_TIMEOUT);
            let (consumer, shutdown, this) = (consumer.clone(), shutdown.clone(), self.clone());
            async move {
                let feed = match client {
                    Ok(feed) => feed,
                    Err(e) => {
                        tracing::error!(producer, error = %e, "cannot read the producer's feed");
                        return;
                    }
                };
                tokio::select! {
                    _ = this.watch_one(&consumer, producer, &feed, replayable) => {}
                    _ = shutdown.wait() => {}
                }
            }
        });
        futures_util::future::join_all(watchers).await;
        Ok(())
    }

    async fn watch_one(
        &self,
        consumer: &Consumer,
        producer: &str,
        client: &Feed,
        replayable: bool,
    ) {
        let types = consumer.types_from(producer);
        let mut failures = 0u32;
        let head = loop {
            match head(client, &types).await {
                Ok(head) => break head,
                Err(e) => {
                    failures += 1;
                    // A producer starting beside this service is routine; one that has
                    // not answered for some 25 s (a NetworkPolicy that leaves this
                    // service out, a wrong URL) keeps it unready, and says so.
                    if failures == 1 {
                        tracing::info!(producer, error = %e, "cannot ask the producer for its newest event yet; not ready until it answers");
                    } else if failures >= 16 && failures.is_power_of_two() {
                        tracing::warn!(producer, error = %e, failures, "the producer still does not say what its newest event is: this service stays unready until it does");
                    }
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(failures.min(8))))
                        .await;
                }
            }
        };
        if let Some(head) = head {
            let since = tokio::time::Instant::now();
            let mut unreadable = 0u32;
            loop {
                // A log's reader also has its saved position: the inbox forgets what it
                // handled long ago (its retention), and a shop quiet since then still has
                // that event as its producer's newest.
                let applied = match consumer.has_applied(&head.id).await {
                    Ok(false) if replayable => consumer.has_read_through(producer, head.seq).await,
                    other => other,
                };
                match applied {
                    Ok(true) => break,
                    Ok(false) => unreadable = 0,
                    Err(e) => {
                        // Asked every 50 ms: said at the first failure in a row, then at
                        // every power of two.
                        unreadable += 1;
                        if unreadable.is_power_of_two() {
                            tracing::warn!(error = %e, failures = unreadable, "cannot read the inbox");
                        }
                    }
                }
                // A broker's queue holds only what was published after it was bound: an
                // event from before never comes (nor one handled longer ago than the inbox
                // remembers), and waiting for it would keep the service unready for good.
                if !replayable && since.elapsed() > QUEUE_PATIENCE {
                    tracing::warn!(
                        producer,
                        event = %head.id,
                        "the producer's newest event has not arrived through the broker; it was probably published before this service's queue existed, or handled longer ago than the inbox remembers: ready without it"
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.caught_up(producer);
    }
}

async fn head(feed: &Feed, types: &str) -> Result<Option<Head>, String> {
    let res = feed.get("/events/head", &[("types", types)]).await?;
    res.json::<Option<Head>>().await.map_err(|e| e.to_string())
}
