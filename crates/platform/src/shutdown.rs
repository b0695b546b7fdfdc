//! Shutdown signalling: one process-wide signal future and a cloneable trigger for tasks.

use tokio::sync::watch;

/// How a process was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: drain first — go not-ready, keep serving while callers move away, then
    /// stop (a rolling restart, Kubernetes).
    Drain,
    /// SIGINT (Ctrl-C): stop now, finishing only what is in flight (the whole shop stops).
    Now,
}

/// Resolves on SIGTERM (drain) or SIGINT (stop now), whichever comes first.
pub async fn stop_signal() -> Stop {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => Stop::Now,
        _ = term => Stop::Drain,
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, whichever comes first: [`stop_signal`] for a
/// caller that stops the same way on either.
pub async fn signal() {
    stop_signal().await;
}

/// A shutdown trigger shared by the server and its background workers.
///
/// Cloning is cheap; [`Shutdown::trigger`] wakes every clone waiting in [`Shutdown::wait`].
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Self { tx, rx }
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything watching this trigger to stop.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// Whether shutdown has been asked for.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has been asked for (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}
