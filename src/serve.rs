//! `bazaar serve <service>`: one service in this process.

use platform::config::{ServiceSettings, Settings};
use platform::service::Service;
use std::future::Future;

/// The services this binary can run, in start-up order.
pub const SERVICES: &[&str] = &[
    "identity",
    "catalog",
    "search",
    "recommendations",
    "cart",
    "inventory",
    "payments",
    "orders",
    "notifications",
    "storefront",
    "gateway",
];

/// What each consuming service subscribes to, as declared in its own crate.
pub fn subscriptions() -> Vec<(&'static str, &'static [events::Subscription])> {
    vec![
        ("inventory", inventory::SUBSCRIPTIONS),
        ("cart", cart::SUBSCRIPTIONS),
        ("notifications", notifications::SUBSCRIPTIONS),
        ("recommendations", recommendations::SUBSCRIPTIONS),
        ("search", search::SUBSCRIPTIONS),
    ]
}

/// Loads the service's settings from the environment, then runs it until SIGINT/SIGTERM.
pub async fn serve(service: &str) -> anyhow::Result<()> {
    guard_against_orphaning();
    match service {
        "identity" => run("identity", identity::build).await,
        "catalog" => run("catalog", catalog::build).await,
        "inventory" => run("inventory", inventory::build).await,
        "cart" => run("cart", cart::build).await,
        "payments" => run("payments", payments::build).await,
        "orders" => run("orders", orders::build).await,
        "notifications" => run("notifications", notifications::build).await,
        "recommendations" => run("recommendations", recommendations::build).await,
        "search" => run("search", search::build).await,
        "storefront" => run("storefront", storefront::build).await,
        "gateway" => run("gateway", gateway::build).await,
        other => anyhow::bail!("unknown service `{other}`"),
    }
}

async fn run<S, F, Fut>(name: &str, build: F) -> anyhow::Result<()>
where
    S: ServiceSettings,
    F: FnOnce(Settings<S>) -> Fut,
    Fut: Future<Output = anyhow::Result<Service>>,
{
    let settings = Settings::<S>::load(name)?;
    platform::telemetry::init(&settings.common.log, settings.common.log_format);
    let service = build(settings)
        .await
        .map_err(|e| e.context(format!("{name} failed to start")))?;
    service.run_until_stopped().await
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
            eprintln!("could not ask to be stopped with the supervisor: {e}");
        }
    }
    // The supervisor may have died before the line above took effect.
    if nix::unistd::getppid().as_raw() != expected {
        eprintln!("the supervisor (pid {expected}) is gone; not starting");
        std::process::exit(1);
    }
}
