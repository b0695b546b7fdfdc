//! The storefront: the shop's server-rendered web pages and the ops console. It owns no
//! data: pages call the public APIs through the gateway like any client, with the
//! visitor's tokens (kept in an HttpOnly cookie) and anonymous cart cookie; the console
//! also watches every service directly (health, metrics, outboxes) and drives the
//! supervisor's control API.
#![forbid(unsafe_code)]

pub mod app;
pub mod assets;
pub mod config;
pub mod domain;
pub mod error;
pub mod form;
pub mod images;
pub mod ops;
pub mod pages;
pub mod routes;
pub mod session;
pub mod shop;
pub mod views;

use anyhow::Context;
use platform::{
    auth::{ServiceCredentials, Verifier},
    service::Service,
};
use std::time::Duration;

/// The storefront's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// Loads the templates, wires the pages, the console's monitor and its worker, binds the
/// listener. Readiness reports the gateway (without failing on it: pages degrade).
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let own = &settings.own;
    let views = views::Views::new().context("the page templates do not load")?;
    let shop = shop::Shop::new(
        &settings.directory.url("gateway"),
        shop::Timeouts {
            standard: Duration::from_millis(own.upstream_timeout_ms),
            optional: Duration::from_millis(own.optional_timeout_ms),
            search: Duration::from_millis(own.search_timeout_ms),
            checkout: Duration::from_millis(own.checkout_timeout_ms),
        },
    )?;
    let identity = settings.directory.url("identity");
    let verifier = Verifier::remote(
        format!("{identity}/api/identity/.well-known/jwks.json"),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    let supervisor = ops::supervisor::Supervisor::new(
        own.supervisor(),
        ServiceCredentials::new(
            "storefront",
            &identity,
            settings.common.service_secret.clone(),
        ),
    )?;
    let monitor = ops::Monitor::new(
        ops::MonitorSettings {
            directory: settings.directory.clone(),
            producers: own.ops_producers.clone(),
            consumers: own.ops_consumers.clone(),
            poll: Duration::from_millis(own.ops_poll_ms),
            scrape: Duration::from_millis(own.ops_scrape_ms),
        },
        supervisor,
    )?;
    let gateway_live = format!("{}/health/live", settings.directory.url("gateway"));
    let probe = platform::client::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    let builder =
        Service::builder("storefront", &settings.common).optional_check("gateway", move || {
            let (probe, url) = (probe.clone(), gateway_live.clone());
            async move {
                match probe.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status())),
                    Err(e) if e.is_connect() => Err("down".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
        });
    let shutdown = builder.shutdown();
    let app = app::App::new(app::Parts {
        config: own.clone(),
        shop,
        verifier,
        views,
        monitor: monitor.clone(),
        shutdown: shutdown.clone(),
    })?;
    let (router, openapi) = routes::router(app);
    let service = builder
        .routes(router)
        .openapi(openapi)
        .worker("ops-monitor", monitor.clone().run(shutdown))
        .bind()
        .await?;
    let port = service.local_addr().port();
    monitor.set_own_url(format!("http://127.0.0.1:{port}"));
    Ok(service)
}

/// Now, as RFC 3339 with milliseconds in UTC (how every service writes times).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
