//! What the supervisor knows of the processes it runs, and what can be asked of it: the
//! seam between the supervisor, which keeps the processes, and its control API, which
//! shows them and passes on requests to kill or restart them.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// Where a replica's process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Started, not yet ready.
    #[default]
    Starting,
    /// Ready, taking traffic.
    Ready,
    /// Was ready, and has failed its readiness checks since (frozen, overloaded, or a
    /// dependency down): callers send it nothing until it is ready again.
    Unready,
    /// Asked to stop: not ready, finishing what it has, about to exit.
    Draining,
    /// Between a death and the next start.
    Restarting,
    /// Stopped for good.
    Stopped,
}

/// What the supervisor knows of one replica's process.
#[derive(Debug, Default)]
pub struct Status {
    pub pid: Option<u32>,
    pub starts: u32,
    pub state: State,
    pub last_exit: Option<String>,
    /// When the current process started (RFC 3339).
    pub started_at: Option<String>,
    /// The process ended on its own with a failure code (a configuration error, a
    /// database it cannot open): restarting it will not help. Crashes and kills by
    /// signal are restarted instead.
    pub gave_up: bool,
    /// Whether a process of this replica was ever ready: one that gives up before that is
    /// not started again (start-up, or a rolling restart's successor, fails with its error).
    pub ever_ready: bool,
    /// While it answers its readiness probe "not yet": why (its failing checks).
    pub waiting: Option<String>,
    /// The restarts of the replicas this one took over from in rolling restarts: the
    /// replica's history, which a rolling restart does not wipe.
    pub inherited_restarts: u32,
}

impl Status {
    /// How often this replica (its slot, across rolling restarts) was restarted after it
    /// died.
    pub fn restarts(&self) -> u32 {
        self.inherited_restarts + self.starts.saturating_sub(1)
    }
}

/// One replica, as the control API and `bazaar status` show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessView {
    pub service: String,
    /// 1, 2, …: which of the service's replicas.
    pub replica: u32,
    pub pid: Option<u32>,
    /// The port only this replica answers on (a gateway replica's own, beside the shop's
    /// port that it shares with its siblings).
    pub port: u16,
    pub state: State,
    /// How often it was restarted after it died (its first start not counted), counting
    /// the processes it replaced in rolling restarts: a rolling restart itself is not a
    /// restart here, and does not wipe the count or the last exit.
    pub restarts: u32,
    pub started_at: Option<String>,
    pub last_exit: Option<String>,
    /// The CPUs its process may run on, as `taskset -c` writes them (`0`, `0-3`): its
    /// share under `bazaar up`'s placement, or whatever `BAZAAR_CPUS` or the system
    /// allows ([`crate::cpus`]). `None` while it has no process.
    #[serde(default)]
    pub cpus: Option<String>,
}

/// A signal sent to a replica on request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signalled {
    pub service: String,
    pub replica: u32,
    pub pid: u32,
    pub signal: String,
}

/// Why a request to the supervisor could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("there is no service called `{0}`")]
    UnknownService(String),
    /// The service has no replica of that number.
    #[error("{0} has no replica {1}")]
    UnknownReplica(String, u32),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Failed(String),
}

/// What the control API can ask of the supervisor.
pub trait Operator: Send + Sync + 'static {
    /// Every replica of every service, in start-up order.
    fn processes(&self) -> Vec<ProcessView>;
    /// Kills a replica (`replica` 0: the first running) with SIGKILL; the supervisor
    /// starts it again.
    fn kill(&self, service: &str, replica: u32) -> Result<Signalled, Refusal>;
    /// Restarts every replica of a service in turn, each successor ready before its
    /// predecessor drains; resolves once done.
    fn restart(&self, service: &str) -> BoxFuture<'static, Result<Vec<ProcessView>, Refusal>>;
}
