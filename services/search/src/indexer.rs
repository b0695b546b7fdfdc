//! The background indexer: brings the index up to date with the products table by taking
//! in every row whose version is above the index's high-water mark, committing with the
//! new mark. It runs when the event handler wakes it and every 100 ms besides; the mark
//! makes a pass that finds nothing new free, and a pass repeated after a crash harmless.
//! An index whose directory was deleted under it is rebuilt from the table, without a
//! restart; search reports itself not ready while its index cannot follow the catalog,
//! and while it is being rebuilt (at start from an empty or damaged index, after its
//! directory went, or on an administrator's request): until then it holds only part of
//! the catalog, and the gateway sends searches to the replicas that hold all of it.

use crate::{
    error::SearchError,
    index::{SearchIndex, error_chain},
    store::Store,
};
use anyhow::Context;
use events::catchup::CatchUp;
use platform::{db::Db, shutdown::Shutdown};
use std::{
    path::PathBuf,
    sync::{Arc, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, Notify};

/// How often the indexer looks for changes when nobody woke it.
pub const POLL: Duration = Duration::from_millis(100);
/// How long a wake-up waits before looking, so that the consumer's commit lands first
/// and a burst of events is indexed in one commit.
const SETTLE: Duration = Duration::from_millis(15);
/// How often an idle indexer shows searches what background merges produced.
const REFRESH: Duration = Duration::from_secs(1);
/// Rows taken in per index commit.
pub const BATCH: i64 = 10_000;
/// Failed passes in a row after which search is reported not ready until a pass
/// succeeds.
pub const UNREADY_AFTER: u32 = 3;

/// What one catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows taken in (upserts and removals).
    pub changes: u64,
    /// The index's mark afterwards.
    pub mark: i64,
}

/// Keeps the index up to date with the products table. Cheap to clone.
#[derive(Clone)]
pub struct Indexer {
    store: Store,
    index: SearchIndex,
    wake: Arc<Notify>,
    /// One pass (or wipe) at a time.
    pass: Arc<Mutex<()>>,
    /// Passes failed in a row, and the last one's error.
    failing: Arc<std::sync::Mutex<(u32, String)>>,
    /// A rebuild under way, if any: the index holds part of the catalog.
    rebuilding: Arc<std::sync::Mutex<Option<Rebuild>>>,
    /// Not ready ahead of a rebuild, so that callers move away before the index empties.
    stepping_aside: Arc<std::sync::atomic::AtomicBool>,
}

/// A rebuild of the index: from the products table, which a replay first refills from the
/// catalog's log.
struct Rebuild {
    /// The replay's catching up with the catalog's log (`None`: the table is whole).
    replay: Option<CatchUp>,
}

impl Indexer {
    /// Opens the index in `dir` (a writer of `memory` bytes) over the products in `db`,
    /// and compares the two, so that an index ahead of its database is rebuilt.
    pub async fn open(db: Db, dir: PathBuf, memory: usize) -> anyhow::Result<Self> {
        let open_dir = dir.clone();
        let index = tokio::task::spawn_blocking(move || SearchIndex::open(&open_dir, memory))
            .await?
            .with_context(|| format!("could not open the search index in {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), mark = index.mark(), documents = index.num_docs(), "search index opened");
        let indexer = Indexer::new(Store::new(db), index);
        indexer
            .check_against_database()
            .await
            .context("could not compare the search index with its database")?;
        Ok(indexer)
    }

    pub fn new(store: Store, index: SearchIndex) -> Self {
        Self {
            store,
            index,
            wake: Arc::new(Notify::new()),
            pass: Arc::new(Mutex::new(())),
            failing: Arc::default(),
            rebuilding: Arc::default(),
            stepping_aside: Arc::default(),
        }
    }

    /// The readiness check: failing once [`UNREADY_AFTER`] passes in a row have failed,
    /// with the last one's error, until one succeeds. Searches then answer from what
    /// the index held before.
    /// Not ready either while the index is rebuilt ([`Indexer::start_rebuild`]).
    pub fn health(&self) -> Result<(), String> {
        let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        if let (n, error) = &*failing
            && *n >= UNREADY_AFTER
        {
            return Err(format!(
                "the index has failed to take the catalog's changes {n} times in a row: {error}"
            ));
        }
        drop(failing);
        if self
            .stepping_aside
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err("about to rebuild the index: out of rotation first".to_owned());
        }
        let rebuilding = self
            .rebuilding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match rebuilding
            .as_ref()
            .map(|r| r.replay.as_ref().map(CatchUp::check))
        {
            None => Ok(()),
            Some(Some(Err(behind))) => Err(format!(
                "rebuilding: replaying the catalog's events ({behind})"
            )),
            Some(_) => Err(format!(
                "rebuilding the index from the products table ({} products in so far)",
                self.index.num_docs()
            )),
        }
    }

    /// Marks the index as being rebuilt: from now until a pass has taken in the whole
    /// products table (after `replay`, if one refills it, has caught up).
    fn start_rebuild(&self, replay: Option<CatchUp>) {
        *self
            .rebuilding
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Rebuild { replay });
    }

    /// Whether a pass starting now ends a rebuild under way: its replay (if any) has caught
    /// up, so the table is whole. `false` when none is under way.
    fn table_is_whole(&self) -> bool {
        self.rebuilding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| r.replay.as_ref().is_none_or(|c| c.check().is_ok()))
    }

    /// Ends the rebuild once a pass that started with the table whole has taken it in.
    fn end_rebuild(&self) {
        let mut rebuilding = self
            .rebuilding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if rebuilding.take().is_some() {
            tracing::info!(
                documents = self.index.num_docs(),
                mark = self.index.mark(),
                "search index rebuilt; ready"
            );
        }
    }

    /// Records a pass's outcome; returns how many have failed in a row.
    fn record(&self, outcome: Result<(), &SearchError>) -> u32 {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => *failing = (0, String::new()),
            Err(e) => {
                failing.0 += 1;
                failing.1 = error_chain(e);
            }
        }
        failing.0
    }

    /// What the event handler calls to say that rows changed.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes in every row changed since the index's mark, in commits of [`BATCH`] rows.
    #[tracing::instrument(skip_all)]
    pub async fn catch_up(&self) -> Result<Progress, SearchError> {
        let _pass = self.pass.lock().await;
        let mut progress = Progress {
            changes: 0,
            mark: self.index.mark(),
        };
        loop {
            let changes = self.store.changes_since(progress.mark, BATCH).await?;
            if changes.is_empty() {
                return Ok(progress);
            }
            let taken = changes.len();
            let index = self.index.clone();
            progress.mark = tokio::task::spawn_blocking(move || index.apply(&changes)).await??;
            progress.changes += taken as u64;
            if (taken as i64) < BATCH {
                return Ok(progress);
            }
        }
    }

    /// Empties the index and rebuilds it from the products table; with `replay_from`
    /// (a producer and the catching up of a consumer about to read its log from the
    /// start), first forgets that producer's events and every product
    /// ([`Store::reset_for_replay`]), so that the consumer replays them. No pass runs in
    /// between. The consumer must be stopped for a replay. Search is not ready until the
    /// rebuild is done.
    pub async fn wipe(&self, replay_from: Option<(&str, CatchUp)>) -> Result<(), SearchError> {
        let _pass = self.pass.lock().await;
        let replay = match replay_from {
            Some((producer, caught_up)) => {
                self.store.reset_for_replay(producer).await?;
                Some(caught_up)
            }
            None => None,
        };
        self.start_rebuild(replay);
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.wipe()).await??;
        self.wake.notify_one();
        Ok(())
    }

    /// [`Indexer::wipe`], after `drain` answering not ready: callers' probes take the
    /// replica out of rotation before its index empties, and searches go to its peers
    /// rather than to an index holding part of the catalog (an administrator's rebuild;
    /// without the wait they met it for a probe round, the verification review).
    pub async fn wipe_drained(
        &self,
        drain: Duration,
        replay_from: Option<(&str, CatchUp)>,
    ) -> Result<(), SearchError> {
        use std::sync::atomic::Ordering;
        self.stepping_aside.store(true, Ordering::Release);
        tokio::time::sleep(drain).await;
        let wiped = self.wipe(replay_from).await;
        self.stepping_aside.store(false, Ordering::Release);
        wiped
    }

    /// Starts the index afresh, to be rebuilt from the table by the next passes, if its
    /// directory was deleted under it (every commit would fail for good, and searches
    /// would answer from what it held until a restart), or a search found its files
    /// damaged (every search meeting the damage would fail). `true` when it did. An index
    /// whose commits fail while its files are there (a full disk) is kept: searches
    /// answer from it until it takes changes again. Under the pass lock, so a wipe in
    /// progress (a replay's) is never taken for a deletion.
    async fn renew_if_gone(&self) -> Result<bool, SearchError> {
        let _pass = self.pass.lock().await;
        if !self.index.is_gone() && !self.index.is_damaged() {
            return Ok(false);
        }
        self.start_rebuild(None);
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.wipe()).await??;
        Ok(true)
    }

    /// A newly opened index whose mark is above every row's version was built from
    /// another database, or from rows a replay has since deleted; one at the table's
    /// latest version holding another number of products than the table lost some (its
    /// metadata edited or restored apart from its files): either is wiped. One behind its
    /// table (new, started afresh after damage, or left behind by a stop) is not ready
    /// until a pass has taken the rest in.
    pub async fn check_against_database(&self) -> Result<(), SearchError> {
        let latest = self.store.latest_version().await?;
        let mark = self.index.mark();
        if mark > latest {
            tracing::warn!(
                mark,
                latest,
                "the search index is ahead of its database; rebuilding it"
            );
            self.wipe(None).await?;
        } else if mark < latest {
            self.start_rebuild(None);
        } else {
            let (documents, live) = (self.index.num_docs(), self.store.live_products().await?);
            if i64::try_from(documents).ok() != Some(live) {
                tracing::warn!(
                    mark,
                    documents,
                    products = live,
                    "the search index does not hold the products its database has; rebuilding it"
                );
                self.wipe(None).await?;
            }
        }
        Ok(())
    }

    /// Catches up whenever woken, and every [`POLL`], until shutdown; then closes the
    /// index writer.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut refreshed = Instant::now();
        loop {
            let started = Instant::now();
            match self.renew_if_gone().await {
                Ok(false) => {}
                Ok(true) => tracing::warn!(
                    "the search index's directory was deleted, or its files damaged; rebuilding the index from the database"
                ),
                Err(e) => {
                    tracing::warn!(error = ?anyhow::Error::new(e), "could not start the search index afresh")
                }
            }
            let whole = self.table_is_whole();
            let pass = self.catch_up().await;
            let failures = self.record(pass.as_ref().map(|_| ()));
            if whole && pass.is_ok() {
                self.end_rebuild();
            }
            match pass {
                Ok(p) if p.changes > 0 => {
                    refreshed = Instant::now();
                    tracing::debug!(
                        changes = p.changes,
                        mark = p.mark,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "index caught up"
                    );
                }
                Ok(_) => {
                    if refreshed.elapsed() >= REFRESH {
                        refreshed = Instant::now();
                        let index = self.index.clone();
                        match tokio::task::spawn_blocking(move || index.refresh()).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "could not show merged segments")
                            }
                            Err(e) => tracing::warn!(error = %e, "could not show merged segments"),
                        }
                    }
                }
                Err(e) => {
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(error = ?anyhow::Error::new(e), failures, "indexing failed; retrying");
                    }
                }
            }
            let wait = if failures == 0 {
                POLL
            } else {
                POLL * failures.min(50)
            };
            tokio::select! {
                _ = self.wake.notified() => {
                    tokio::select! {
                        _ = tokio::time::sleep(SETTLE) => {}
                        _ = shutdown.wait() => break,
                    }
                }
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait() => break,
            }
        }
        let _pass = self.pass.lock().await;
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.close()).await?;
        Ok(())
    }
}

/// Rebuilds the index from the products table: empties it, then takes in every product.
/// What start-up does with an empty or missing index directory, callable on its own.
pub async fn rebuild_index(indexer: &Indexer) -> Result<Progress, SearchError> {
    indexer.wipe(None).await?;
    let progress = indexer.catch_up().await?;
    indexer.end_rebuild();
    Ok(progress)
}
