//! Start-up: the storefront's parts, wired together.

use crate::{api, app, config, ops, routes, session, views};
use anyhow::Context;
use platform::{Kit, registry::GATEWAY, service::Service};
use std::time::Duration;

/// Loads the templates, wires the pages, the console's monitor and its worker, binds the
/// listener. Readiness reports the gateway (without failing on it: pages degrade).
pub(crate) async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let own = kit.own().clone();
    let views = views::Views::new().context("the page templates do not load")?;
    let client = api::Client::new(kit.balancer(GATEWAY), own.timeouts())?;
    let supervisor = ops::supervisor::Supervisor::new(own.supervisor(), kit.credentials())?;
    let monitor = ops::Monitor::new(
        ops::MonitorSettings {
            directory: kit.directory().clone(),
            poll: Duration::from_millis(own.ops_poll_ms),
            scrape: Duration::from_millis(own.ops_scrape_ms),
            credentials: kit.credentials(),
        },
        supervisor,
    )?;
    // Any replica of the gateway that lives, wherever the directory says they are now.
    let gateway = kit.client(GATEWAY, Duration::from_secs(1))?;
    kit.optional_check(GATEWAY, move || {
        let gateway = gateway.clone();
        async move { gateway.live().await }
    });
    let key = session::SessionKey::configured(
        own.session_key(),
        &kit.common().service_secret,
        kit.name(),
    )
    .context("no key for the session cookies")?;
    let sessions = session::Sessions::new(client, kit.verifier(), own.session_cookies(), key);
    let console = ops::Console::new(monitor.clone(), views.clone());
    let app = app::App::new(own, views, kit.shutdown());
    kit.api(routes::router(app, sessions, console))
        .worker("ops-monitor", {
            let monitor = monitor.clone();
            |stop| monitor.run(stop)
        });
    let service = kit.bind().await?;
    monitor.set_own_url(format!("http://127.0.0.1:{}", service.local_addr().port()));
    Ok(service)
}
