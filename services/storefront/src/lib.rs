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

use platform::{ServiceDef, registry::GATEWAY};

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
    routes: &[],
    build: |launch| Box::pin(launch.start(startup::build)),
    settings: platform::config::variables::<config::Config>,
};

/// Now, as RFC 3339 with milliseconds in UTC (how every service writes times).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
