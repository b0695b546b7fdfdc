//! The running shop: every replica's keeper, the directory file every process follows,
//! and what the control API asks for — a replica killed, a service restarted replica by
//! replica.

use super::{
    keeper::{self, Context, Replica, lock},
    plan::Planner,
};
use crate::processes::{Operator, ProcessView, Refusal, Signalled, State};
use futures_util::future::BoxFuture;
use nix::{sys::signal, unistd::Pid};
use platform::{discovery::DirectoryFile, registry::Registry, shutdown::Stop};
use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// How long a rolling restart waits, after taking a replica out of the directory, before
/// it asks the replica to drain: every process re-reads the file every 100 ms.
const DIRECTORY_PROPAGATION: Duration = Duration::from_millis(300);

/// The shop's replicas. Cheap to clone.
#[derive(Clone)]
pub struct Shop {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    ctx: Arc<Context>,
    planner: Planner,
    directory: PathBuf,
    replicas: Mutex<Vec<Replica>>,
    version: Mutex<u64>,
    /// Services in the middle of a rolling restart.
    restarting: Mutex<HashSet<String>>,
    /// Set once the shop is being stopped: a rolling restart under way starts no more
    /// successors (the operator review saw them started after "stopping", then killed).
    stopping: AtomicBool,
}

impl Shop {
    pub fn new(
        registry: Registry,
        ctx: Arc<Context>,
        planner: Planner,
        directory: PathBuf,
    ) -> Self {
        let shop = Self {
            inner: Arc::new(Inner {
                registry,
                ctx: ctx.clone(),
                planner,
                directory,
                replicas: Mutex::new(Vec::new()),
                version: Mutex::new(0),
                restarting: Mutex::new(HashSet::new()),
                stopping: AtomicBool::new(false),
            }),
        };
        // Rewrites the directory whenever a replica's readiness changes.
        let weak = Arc::downgrade(&shop.inner);
        tokio::spawn(async move {
            loop {
                ctx.changed.notified().await;
                let Some(inner) = weak.upgrade() else { return };
                Shop { inner }.publish();
            }
        });
        shop
    }

    /// Starts a replica as planned at start-up; returns once it has been started (not
    /// once it is ready).
    pub fn start(&self, spec: super::plan::Spec, sockets: super::plan::Sockets) {
        let started = Replica::spawn(self.inner.ctx.clone(), spec, sockets);
        self.replicas().push(started);
    }

    /// Waits until every replica of `service` is ready.
    pub async fn ready(&self, service: &str) -> anyhow::Result<()> {
        let waits: Vec<_> = self
            .replicas()
            .iter()
            .filter(|r| r.spec.name() == service)
            .map(Replica::readiness)
            .collect();
        for wait in waits {
            wait.await?;
        }
        Ok(())
    }

    /// Waits, at most `within`, until every replica's readiness checks all pass, optional
    /// ones included: a replica is ready without its optional upstreams, but the shop is
    /// not usable yet while one cannot reach another (a storefront whose calls met the
    /// gateway before it listened keeps its circuit to it open until its next probe of
    /// it, up to 500 ms: its pages were 503 for that long after "ready", the start-up
    /// review). What still fails then, one line per replica.
    pub async fn settle(&self, within: Duration) -> Vec<String> {
        let targets: Vec<(String, String)> = self
            .replicas()
            .iter()
            .map(|r| (r.spec.label(), format!("{}/health/ready", r.spec.url())))
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        let ctx = &self.inner.ctx;
        let settled = targets.iter().map(|(label, url)| async move {
            loop {
                let why = match keeper::probe(ctx, url, Some(Duration::from_secs(1))).await {
                    Some((true, body)) if every_check_passes(&body) => return None,
                    Some((_, body)) => keeper::not_ready_because(&body),
                    None => "no answer to its readiness check".to_owned(),
                };
                if tokio::time::Instant::now() >= deadline {
                    return Some(format!("{label}: {why}"));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        });
        futures_util::future::join_all(settled)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The shop's port: the one the gateway's replicas share (0 before the gateway's
    /// first is started).
    pub fn port(&self) -> u16 {
        self.replicas()
            .iter()
            .find(|r| r.spec.name() == platform::registry::GATEWAY)
            .map_or(0, |r| r.spec.port)
    }

    fn replicas(&self) -> std::sync::MutexGuard<'_, Vec<Replica>> {
        self.inner
            .replicas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every replica that takes traffic, per service — or, for a service none of whose
    /// replicas is ready, every one not stopped, so that callers are refused at once and
    /// find them back as soon as they are.
    fn directory(&self) -> DirectoryFile {
        let replicas = self.replicas();
        let mut file = DirectoryFile::default();
        for name in self.inner.registry.names() {
            let of: Vec<&Replica> = replicas.iter().filter(|r| r.spec.name() == name).collect();
            if of.is_empty() {
                continue;
            }
            let ready: Vec<String> = of
                .iter()
                .filter(|r| r.state() == State::Ready)
                .map(|r| r.spec.url())
                .collect();
            let urls = if ready.is_empty() {
                of.iter()
                    .filter(|r| !matches!(r.state(), State::Stopped | State::Draining))
                    .map(|r| r.spec.url())
                    .collect()
            } else {
                ready
            };
            file.services.insert(name.to_owned(), urls);
        }
        file
    }

    /// Writes the directory file if what it says has changed.
    pub fn publish(&self) {
        let mut next = self.directory();
        let mut version = self.inner.version.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(current) = DirectoryFile::read(&self.inner.directory)
            && current.services == next.services
        {
            return;
        }
        *version += 1;
        next.version = *version;
        if let Err(e) = next.write(&self.inner.directory) {
            errln!(
                "bazaar: could not write the directory {}: {e}",
                self.inner.directory.display()
            );
        }
    }

    /// Stops every replica, in reverse start-up order, each level at once; a rolling
    /// restart under way ends without starting another successor.
    pub async fn stop_all(&self, how: Stop) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        for level in self.inner.registry.levels().into_iter().rev() {
            let names: Vec<&str> = level.iter().map(|e| e.name()).collect();
            let stopping: Vec<Replica> = {
                let mut replicas = self.replicas();
                let (these, rest): (Vec<Replica>, Vec<Replica>) = replicas
                    .drain(..)
                    .partition(|r| names.contains(&r.spec.name()));
                *replicas = rest;
                these
            };
            futures_util::future::join_all(stopping.into_iter().map(|r| r.stop_and_wait(how)))
                .await;
        }
    }

    /// The rolling restart of `service`: for each replica in turn, a successor started and
    /// ready, the replica taken out of the directory, and then drained and stopped.
    async fn rolling_restart(self, service: String) -> Result<Vec<ProcessView>, Refusal> {
        if self.inner.registry.get(&service).is_none() {
            return Err(Refusal::UnknownService(service));
        }
        if !self
            .inner
            .restarting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(service.clone())
        {
            return Err(Refusal::Conflict(format!(
                "{service} is being restarted already"
            )));
        }
        // Whatever ends the restart (done, failed, or its task cut short), the service may
        // be restarted again.
        let _done = Restarting {
            shop: &self,
            service: &service,
        };
        self.restart_each(&service).await?;
        Ok(self
            .processes()
            .into_iter()
            .filter(|p| p.service == service)
            .collect())
    }

    async fn restart_each(&self, service: &str) -> Result<(), Refusal> {
        let olds: Vec<super::plan::Spec> = self
            .replicas()
            .iter()
            .filter(|r| r.spec.name() == service)
            .map(|r| r.spec.clone())
            .collect();
        for old in olds {
            let (spec, mut sockets) = self
                .inner
                .planner
                .successor(&old)
                .map_err(|e| Refusal::Failed(format!("{e:#}")))?;
            // The gateway's successor listens on its predecessor's very socket: one queue,
            // nothing in it lost when the old one stops.
            if let Some(shared) = self
                .replicas()
                .iter()
                .find(|r| r.spec.id == old.id)
                .and_then(Replica::listener_copy)
            {
                sockets.service = shared;
            }
            if self.inner.stopping.load(Ordering::SeqCst) {
                return Err(Refusal::Conflict("the shop is stopping".into()));
            }
            errln!(
                "bazaar: restarting {} ({}) as {}",
                old.label(),
                old.url(),
                spec.url()
            );
            let new = spec.id;
            let successor = Replica::spawn(self.inner.ctx.clone(), spec, sockets);
            let ready = successor.readiness();
            // Looked at again under the lock `stop_all` takes the replicas with: a stop
            // that began since would not see this one.
            let unwanted = {
                let mut replicas = self.replicas();
                if self.inner.stopping.load(Ordering::SeqCst) {
                    Some(successor)
                } else {
                    // The replica's history goes on in its successor.
                    if let Some(r) = replicas.iter().find(|r| r.spec.id == old.id) {
                        let (before, mut now) = (lock(&r.status), lock(&successor.status));
                        now.inherited_restarts = before.restarts();
                        if now.last_exit.is_none() {
                            now.last_exit.clone_from(&before.last_exit);
                        }
                    }
                    replicas.push(successor);
                    None
                }
            };
            if let Some(successor) = unwanted {
                successor.stop_and_wait(Stop::Now).await;
                return Err(Refusal::Conflict("the shop is stopping".into()));
            }
            if let Err(e) = ready.await {
                // The successor never came up: it goes, the old replica stays.
                for r in self.take(|r| r.spec.id == new) {
                    r.stop_and_wait(Stop::Now).await;
                }
                self.publish();
                return Err(Refusal::Failed(format!(
                    "the new {} did not become ready: {e:#}",
                    old.label()
                )));
            }
            // Out of the directory first, so that callers stop sending it requests; then
            // drained (it finishes what it has) and stopped.
            let stopped = {
                let replicas = self.replicas();
                let Some(r) = replicas.iter().find(|r| r.spec.id == old.id) else {
                    continue;
                };
                lock(&r.status).state = State::Draining;
                r.stopped()
            };
            self.publish();
            tokio::time::sleep(DIRECTORY_PROPAGATION).await;
            if let Some(r) = self.replicas().iter().find(|r| r.spec.id == old.id) {
                r.stop(Stop::Drain);
            }
            stopped.await;
            drop(self.take(|r| r.spec.id == old.id));
        }
        Ok(())
    }

    /// Takes the replicas `which` picks out of the table.
    fn take(&self, which: impl Fn(&Replica) -> bool) -> Vec<Replica> {
        let mut replicas = self.replicas();
        let (taken, kept): (Vec<Replica>, Vec<Replica>) = replicas.drain(..).partition(which);
        *replicas = kept;
        taken
    }
}

impl Operator for Shop {
    fn processes(&self) -> Vec<ProcessView> {
        let replicas = self.replicas();
        let mut out: Vec<ProcessView> = replicas
            .iter()
            .map(|r| {
                let s = lock(&r.status);
                ProcessView {
                    service: r.spec.name().to_owned(),
                    replica: r.spec.replica,
                    pid: s.pid,
                    // Where only it answers: a gateway replica's own port, not the shop's
                    // that all of them share.
                    port: r.spec.own_port.unwrap_or(r.spec.port),
                    state: s.state,
                    restarts: s.restarts(),
                    started_at: s.started_at.clone(),
                    last_exit: s.last_exit.clone(),
                    cpus: s
                        .pid
                        .and_then(crate::cpus::of_process)
                        .map(|c| c.to_string()),
                }
            })
            .collect();
        let order: Vec<&str> = self.inner.registry.names().collect();
        out.sort_by_key(|p| (order.iter().position(|n| *n == p.service), p.replica));
        out
    }

    fn kill(&self, service: &str, replica: u32) -> Result<Signalled, Refusal> {
        if self.inner.registry.get(service).is_none() {
            return Err(Refusal::UnknownService(service.to_owned()));
        }
        let replicas = self.replicas();
        if replica != 0
            && !replicas
                .iter()
                .any(|r| r.spec.name() == service && r.spec.replica == replica)
        {
            return Err(Refusal::UnknownReplica(service.to_owned(), replica));
        }
        let target = replicas
            .iter()
            .filter(|r| r.spec.name() == service)
            .filter(|r| replica == 0 || r.spec.replica == replica)
            .find_map(|r| r.pid().map(|pid| (r.spec.replica, pid)));
        let (replica, pid) = target.ok_or_else(|| {
            Refusal::Conflict(format!("{service} has no running process right now"))
        })?;
        signal::kill(Pid::from_raw(pid as i32), signal::Signal::SIGKILL)
            .map_err(|e| Refusal::Conflict(format!("could not signal {service}: {e}")))?;
        Ok(Signalled {
            service: service.to_owned(),
            replica,
            pid,
            signal: "SIGKILL".to_owned(),
        })
    }

    fn restart(&self, service: &str) -> BoxFuture<'static, Result<Vec<ProcessView>, Refusal>> {
        Box::pin(self.clone().rolling_restart(service.to_owned()))
    }
}

/// A rolling restart of a service under way: the service's mark in the shop, taken off
/// when this is dropped.
struct Restarting<'a> {
    shop: &'a Shop,
    service: &'a str,
}

impl Drop for Restarting<'_> {
    fn drop(&mut self) {
        self.shop
            .inner
            .restarting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(self.service);
    }
}

/// Whether a `/health/ready` answer's checks, optional ones included, all pass.
fn every_check_passes(body: &serde_json::Value) -> bool {
    body["checks"]
        .as_object()
        .is_none_or(|checks| checks.values().all(|v| v == "ok"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ready_replica_has_settled_only_when_its_optional_checks_pass_too() {
        let ready = |checks| json!({"status": "ready", "service": "storefront", "checks": checks});
        assert!(every_check_passes(&ready(
            json!({"gateway": "ok", "database": "ok"})
        )));
        assert!(every_check_passes(
            &json!({"status": "ready", "service": "x"})
        ));
        // Ready (the gateway is optional to the storefront), and not usable yet.
        let circuit_open = ready(json!({"gateway": "down: every replica's circuit is open"}));
        assert!(!every_check_passes(&circuit_open));
        assert_eq!(
            keeper::not_ready_because(&circuit_open),
            "gateway: down: every replica's circuit is open"
        );
    }
}
