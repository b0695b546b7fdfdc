//! The API gateway: one public address in front of every service.
//!
//! `/api/<service>/...` is forwarded unchanged to that service. On the way it gets a
//! request id, its bearer token (if any) is verified before anything is forwarded, routes
//! that need a signed-in user refuse anonymous requests, and each upstream call has a
//! timeout and a circuit breaker so a dead or hung service costs a client milliseconds,
//! not a hang.
#![forbid(unsafe_code)]

pub mod breaker;
pub mod config;
pub mod policy;
pub mod proxy;

use platform::{auth::Verifier, service::Service};
use std::time::Duration;

/// The gateway's configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// Builds the gateway: the proxy routes, a readiness check per upstream, and its metrics.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let verifier = Verifier::remote(
        format!(
            "{}/api/identity/.well-known/jwks.json",
            settings.directory.url("identity")
        ),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    let upstreams: Vec<(String, String)> = settings
        .directory
        .all()
        .into_iter()
        .filter(|(name, _)| name != "gateway")
        .collect();
    let mut builder = Service::builder("gateway", &settings.common);
    let proxy = proxy::Proxy::new(
        &settings.own,
        upstreams.clone(),
        verifier,
        builder.metrics(),
    );
    builder = builder
        .routes(proxy::router(proxy.clone()))
        .fallback(proxy::pages(proxy.clone()));
    let health = platform::client::builder()
        .timeout(Duration::from_millis(settings.own.health_timeout_ms))
        .build()?;
    for (name, url) in upstreams {
        let http = health.clone();
        let url = format!("{url}/health/ready");
        let expected = name.clone();
        let check = move || {
            let http = http.clone();
            let url = url.clone();
            let expected = expected.clone();
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        // Whatever answers must be the service this route leads to.
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        if body["service"] == expected.as_str() {
                            Ok(())
                        } else {
                            Err(format!("answered by {} instead", body["service"]))
                        }
                    }
                    Ok(r) => Err(format!("not ready ({})", r.status())),
                    Err(e) if e.is_timeout() => Err("timed out".to_owned()),
                    Err(e) if e.is_connect() => Err("down".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        builder = if settings.own.optional_services.contains(&name) {
            builder.optional_check(&name, check)
        } else {
            builder.check(&name, check)
        };
    }
    builder.bind().await
}
