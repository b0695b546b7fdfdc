//! `bazaar serve <service>`: one service of the registry in this process, configured by
//! the environment.

use crate::REGISTRY;
use anyhow::Context;
use platform::{
    Launch,
    config::{NoSettings, Settings},
};

/// Loads the service's settings from the environment, then runs it until SIGINT/SIGTERM.
/// `workers_refused`: why `BAZAAR_WORKERS` was refused, read before the runtime started;
/// said with the other settings' mistakes.
pub async fn serve(service: &str, workers_refused: Option<String>) -> anyhow::Result<()> {
    guard_against_orphaning();
    let entry = REGISTRY
        .get(service)
        .with_context(|| format!("unknown service `{service}`"))?;
    // The log settings first, so that everything the build does is logged.
    let settings = Settings::<NoSettings>::load(service, REGISTRY);
    if let Some(workers) = workers_refused {
        let mut all = vec![workers];
        if let Err(others) = settings {
            all.extend(others.0);
        }
        return Err(platform::config::ConfigError(all).into());
    }
    let common = settings?.common;
    let telemetry = platform::telemetry::init(&common.log, common.log_format, entry.name());
    // Under `bazaar up` the shop has said so once already.
    if std::env::var_os("BAZAAR_SUPERVISOR_PID").is_none() {
        for line in crate::settings::ignored_lines() {
            tracing::warn!("{line}");
        }
    }
    let service = Launch::new(entry.def, REGISTRY).build().await?;
    let stopped = service.run_until_stopped().await;
    telemetry.shutdown(std::time::Duration::from_secs(2)).await;
    stopped
}

/// When started by `bazaar up`, die with the supervisor: the kernel sends SIGTERM to this
/// process if its parent exits, even by `kill -9`, so no service outlives the shop.
fn guard_against_orphaning() {
    let Some(expected) = std::env::var("BAZAAR_SUPERVISOR_PID")
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        use nix::sys::signal::Signal;
        if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
            errln!("could not ask to be stopped with the supervisor: {e}");
        }
    }
    // The supervisor may have died before the line above took effect.
    if nix::unistd::getppid().as_raw() != expected {
        errln!("the supervisor (pid {expected}) is gone; not starting");
        std::process::exit(1);
    }
}
