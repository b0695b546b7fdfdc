//! The orders service: a user's orders, and the checkout saga that turns a cart into a
//! paid order across cart, inventory and payments without a distributed transaction —
//! never overselling, never charging twice, never losing a confirmed order, always ending
//! in a clear state. Its events go out through the transactional outbox.
#![forbid(unsafe_code)]

pub mod clients;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod routes;
pub mod saga;
mod startup;
pub mod store;
pub mod view;

use platform::{Access, Route, ServiceDef};

/// Orders, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "orders",
    about: "orders and the checkout saga across cart, inventory and payments",
    database: true,
    publishes: &[
        events::ORDER_PLACED,
        events::ORDER_CONFIRMED,
        events::ORDER_CANCELLED,
    ],
    subscriptions: &[],
    read_model: false,
    calls: &["cart", "inventory", "payments"],
    routes: &[
        // The saga calls several services in turn.
        Route::new("/checkout", Access::SignedIn)
            .timeout_ms(12_000)
            .honours_idempotency_key(),
        Route::new("", Access::SignedIn),
    ],
    build: |launch| Box::pin(launch.start(startup::build)),
    settings: platform::config::variables::<config::Config>,
};
