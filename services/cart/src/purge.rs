//! The worker that deletes anonymous carts whose cookies have expired, and the holds of
//! orders settled long ago.

use crate::store::Store;
use platform::shutdown::Shutdown;
use std::time::Duration;

/// How often anonymous carts past their lifetime are looked for.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes the anonymous carts unchanged for `days` (their cookies have expired), and the
/// holds settled longer than `holds_kept` ago, at start and every hour, until shutdown. A
/// failed round is logged and tried next time.
pub async fn run(
    store: Store,
    days: u32,
    holds_kept: Duration,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    loop {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        match store
            .purge_anonymous(&::events::envelope::to_rfc3339(cutoff))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(carts = n, "expired anonymous carts purged"),
            Err(e) => tracing::warn!(error = ?e, "could not purge expired anonymous carts"),
        }
        if let Some(settled) = ::events::retention::older_than(holds_kept) {
            match store
                .purge_settled_holds(&::events::envelope::to_rfc3339(settled))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(holds = n, "holds of orders settled long ago purged"),
                Err(e) => tracing::warn!(error = ?e, "could not purge settled holds"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
}
