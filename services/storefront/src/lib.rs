//! The storefront: the shop's server-rendered web pages and the ops console. It owns no
//! data: pages call the public APIs through the gateway like any client, with the
//! visitor's tokens (sealed in an HttpOnly cookie) and anonymous cart cookie; the console
//! also watches every service directly (health, metrics, outboxes) and drives the
//! supervisor's control API.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod assets;
pub mod config;
pub mod domain;
pub mod error;
pub mod form;
pub mod frame;
pub mod images;
pub mod ops;
pub mod pages;
pub mod routes;
pub mod session;
mod startup;
pub mod views;

use platform::{
    ServiceDef,
    registry::{Access, GATEWAY, Route},
};

/// How long the gateway waits for one of the storefront's pages, in ms: past every wait
/// of the storefront's own (see [`SERVICE`]'s routes).
pub const PAGE_TIMEOUT_MS: u64 = 16_000;

/// The storefront, as the registry knows it. Every path the gateway does not route to a
/// service is the storefront's (pages, assets, the console).
pub const SERVICE: ServiceDef = ServiceDef {
    name: "storefront",
    about: "server-rendered shop pages and the ops console, over the public API",
    database: false,
    publishes: &[],
    subscriptions: &[],
    read_model: false,
    calls: &[GATEWAY],
    // The gateway waits for a page longer than the page may wait for the API (a checkout:
    // 13 s, `BAZAAR_CHECKOUT_TIMEOUT_MS`) and than the storefront's own request timeout
    // (15 s): the shopper then always gets the storefront's page, never the gateway's
    // bare 504 while the order goes through behind it.
    //
    // One browser's requests go to one replica: a session's refresh token may be spent
    // once, and only within one process are the requests that find its access token
    // expired made to share one refresh (two replicas spending it would each be taken
    // for the other's theft, and identity would end the sign-in).
    routes: &[Route::new("", Access::Public)
        .timeout_ms(PAGE_TIMEOUT_MS)
        .affinity_by_cookies(&[session::SESSION_COOKIE, session::SECURE_SESSION_COOKIE])],
    build: |launch| Box::pin(launch.start(startup::build)),
    settings: platform::config::variables::<config::Config>,
};

/// Now, as RFC 3339 with milliseconds in UTC (how every service writes times).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_outwaits_every_wait_of_a_page() {
        let own = config::Config::default();
        let page = SERVICE.route("").and_then(|r| r.timeout_ms);
        assert_eq!(page, Some(PAGE_TIMEOUT_MS));
        for (what, waits) in [
            ("a checkout", own.checkout_timeout_ms),
            ("an API call", own.upstream_timeout_ms),
            (
                "the storefront's own request",
                platform::config::DEFAULT_REQUEST_TIMEOUT_MS,
            ),
        ] {
            assert!(PAGE_TIMEOUT_MS > waits, "{what}: {waits} ms");
        }
    }
}
