//! The expiry worker: once a second, releases the held reservations whose time is up.

use crate::store::Store;
use platform::shutdown::Shutdown;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

/// How often the worker looks for reservations past their time.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The most reservations released in one transaction-per-reservation round; a full round
/// is followed by another at once.
const BATCH: i64 = 100;

/// Runs until `shutdown` fires. A failing database is logged and tried again at the
/// next tick: it must not stop the service, whose commits refuse expired reservations
/// on their own anyway.
pub async fn run(store: Store, shutdown: Shutdown) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.wait() => return Ok(()),
            _ = tick.tick() => {}
        }
        loop {
            match store.expire_due(BATCH).await {
                Ok(n) if i64::try_from(n).is_ok_and(|n| n >= BATCH) && !shutdown.is_triggered() => {
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not release expired reservations; trying again shortly");
                    break;
                }
            }
        }
    }
}
