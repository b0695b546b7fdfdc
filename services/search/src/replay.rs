//! The catalog consumer, run so that an administrator can rebuild search from scratch:
//! the consumer is stopped, every product and handled event is forgotten, the position
//! in the catalog's log goes back to 0 and the index is wiped, all before the consumer
//! starts again and replays the catalog's whole history.
//!
//! `POST /api/search/admin/rebuild` does this on a running service. By hand, with search
//! stopped, it is:
//!
//! 1. delete the index directory (`BAZAAR_INDEX_DIR`, by default `search-index` beside
//!    the SQLite file);
//! 2. in search's database, in one transaction:
//!    `UPDATE event_cursors SET position = 0 WHERE producer = 'catalog';`
//!    `DELETE FROM inbox; DELETE FROM products;`
//! 3. start search: it reads the catalog's log from the start, refills `products`, and
//!    the indexer rebuilds the index from it as it fills.
//!
//! Deleting only the index directory (step 1) rebuilds the index from `products` without
//! reading any event again. Search, a read model, reads the catalog's log whatever the
//! shop's broker (`events::EventsKit::transport`), so it can always replay; on a transport
//! that could not (a queue is not a log), the rebuild would keep `products` and rebuild
//! only the index.

use crate::{error::SearchError, events::CATALOG, indexer::Indexer};
use events::{Consumer, Transport, catchup::CatchUp};
use platform::{Failure, shutdown::Shutdown};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

/// How a rebuild is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RebuildMode {
    /// The embedded transport: the catalog's log is replayed from the start into an
    /// empty products table, and the index is rebuilt from it as it fills.
    Replay,
    /// A transport that cannot be read again (a queue): the products table is kept and
    /// the index is rebuilt from it. (Search reads the catalog's log whatever the broker,
    /// so it replays.)
    Reindex,
}

type Reply = oneshot::Sender<Result<RebuildMode, SearchError>>;

/// Asks the running consumer for rebuilds. Cheap to clone.
#[derive(Clone)]
pub struct Rebuilds {
    tx: mpsc::Sender<Reply>,
}

/// Where [`run`] takes rebuild requests from.
pub struct RebuildRequests {
    rx: mpsc::Receiver<Reply>,
}

impl Rebuilds {
    /// A handle and the requests it sends, for [`run`].
    pub fn channel() -> (Self, RebuildRequests) {
        let (tx, rx) = mpsc::channel(4);
        (Self { tx }, RebuildRequests { rx })
    }

    /// Resets search and returns once the replay (or reindex) has started.
    pub async fn request(&self) -> Result<RebuildMode, SearchError> {
        let gone =
            || SearchError::from(Failure::Unavailable("search is stopping; try again".into()));
        let (reply, answer) = oneshot::channel();
        self.tx.send(reply).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Runs the catalog consumer on the configured transport until shutdown, stopping and
/// restarting it around each rebuild asked for through [`Rebuilds`]. Each rebuild starts
/// after `drain` out of rotation ([`Indexer::wipe_drained`]).
pub async fn run(
    consumer: Consumer,
    transport: Transport,
    indexer: Indexer,
    mut requests: RebuildRequests,
    drain: Duration,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let replayable = transport.is_replayable();
    let mut open = true;
    loop {
        let stop = Shutdown::new();
        let running = transport.run(consumer.clone(), stop.clone());
        tokio::pin!(running);
        let reply = loop {
            tokio::select! {
                result = &mut running => {
                    if shutdown.is_triggered() {
                        return result;
                    }
                    result?;
                    anyhow::bail!("the catalog consumer stopped by itself");
                }
                _ = shutdown.wait() => {
                    stop.trigger();
                    return running.await;
                }
                request = requests.rx.recv(), if open => match request {
                    Some(reply) if !replayable => {
                        // In a task of its own: the consumer, which may be in the middle
                        // of a transaction on the service's one SQLite connection, goes
                        // on being polled while the wipe waits for the indexer, which may
                        // be waiting for that connection.
                        let indexer = indexer.clone();
                        tokio::spawn(async move {
                            let outcome = indexer
                                .wipe_drained(drain, None)
                                .await
                                .map(|()| RebuildMode::Reindex);
                            tracing::info!(ok = outcome.is_ok(), "search index rebuild from the products table started");
                            let _ = reply.send(outcome);
                        });
                    }
                    Some(reply) => break reply,
                    None => open = false,
                },
            }
        };
        stop.trigger();
        (&mut running).await?;
        // Search is not ready until the replay has caught up with what the catalog's log
        // holds now, and the index with the refilled table.
        let caught_up = CatchUp::of(&consumer);
        let outcome = indexer
            .wipe_drained(drain, Some((CATALOG, caught_up.clone())))
            .await
            .map(|()| RebuildMode::Replay);
        if outcome.is_ok() {
            let (watched, watching, stop) = (consumer.clone(), transport.clone(), shutdown.clone());
            tokio::spawn(caught_up.watch(watched, watching, stop));
        }
        match &outcome {
            Ok(_) => tracing::info!("search reset; replaying the catalog's events from the start"),
            Err(e) => tracing::error!(error = ?e, "search could not be reset for a replay"),
        }
        let _ = reply.send(outcome);
    }
}
