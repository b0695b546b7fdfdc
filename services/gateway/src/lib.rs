//! The API gateway: one public address in front of every service.
//!
//! `/api/<service>/...` is forwarded unchanged to that service; every other path goes to
//! the storefront. On the way a request gets a request id, its bearer token (if any) is
//! verified before anything is forwarded (a request without one is the service's to
//! refuse), internal routes are not routed at all (each service declares its routes in
//! the registry), and each upstream call has a timeout and a circuit breaker
//! so a dead or hung service costs a client milliseconds, not a hang.
#![forbid(unsafe_code)]

pub mod config;
pub mod h1;
pub mod openapi;
pub mod page;
pub mod policy;
pub mod pool;
pub mod proxy;

use platform::{
    Kit, ServiceDef,
    registry::{GATEWAY, Readiness},
    service::Service,
};
use std::time::Duration;

/// The gateway, as the registry knows it. It calls every other service of the registry.
pub const SERVICE: ServiceDef = ServiceDef {
    name: GATEWAY,
    about: "the one public address: routing, token checks, timeouts, breakers",
    database: false,
    publishes: &[],
    subscriptions: &[],
    read_model: false,
    calls: &[],
    routes: &[],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

/// Builds the gateway: the proxy routes, a readiness check per upstream, and its metrics.
async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    // Its callers are outside the shop: their sampled flags are followed within a budget.
    platform::telemetry::at_the_edge();
    let registry = kit.registry();
    let upstreams: Vec<_> = registry
        .upstreams()
        .map(|e| (e.def, kit.balancer(e.name())))
        .collect();
    let common = kit.common();
    // Each client's connection may hold one to a service beside it.
    let connections = platform::service::max_connections_holding(2);
    let limits = proxy::Limits::new(kit.own(), common.rate_limits, common.trusted_proxies())
        .with_streams(kit.own().max_streams(connections));
    let proxy = proxy::Proxy::new(
        kit.own(),
        upstreams,
        kit.verifier(),
        kit.metrics(),
        common,
        limits,
        kit.shutdown(),
    );
    // Forwarded from the connection; the router's fallback forwards the same way for a
    // gateway called in process.
    kit.front(proxy.clone()).fallback(proxy::router(proxy));
    kit.max_connections(connections);
    // A document with no routes of its own: the front and the fallback serve the paths.
    kit.api(utoipa_axum::router::OpenApiRouter::with_openapi(
        <openapi::Doc as utoipa::OpenApi>::openapi(),
    ));
    let timeout = Duration::from_millis(kit.own().health_timeout_ms);
    for entry in registry.upstreams() {
        let upstream = kit.client(entry.name(), timeout)?;
        let check = move || {
            let upstream = upstream.clone();
            async move { upstream.ready().await }
        };
        match entry.readiness {
            Readiness::Optional => kit.optional_check(entry.name(), check),
            Readiness::Required => kit.check(entry.name(), check),
        };
    }
    kit.bind().await
}
