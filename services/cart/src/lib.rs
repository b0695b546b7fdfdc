//! The cart service: anonymous carts by cookie and users' carts by token, merged at
//! sign-in, priced from the cart's own copy of the catalog (kept from its events) and
//! a checkout takes its lines out (held until the order is confirmed, given back if it is
//! cancelled).
#![forbid(unsafe_code)]

pub mod config;
pub mod cookie;
pub mod domain;
pub mod error;
pub mod events;
pub mod handler;
pub mod purge;
pub mod routes;
pub mod store;

use ::events::EventsKit;
use platform::{Access, Kit, Route, ServiceDef, Subscription, service::Service};
use store::Store;

/// The cart, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "cart",
    about: "carts, anonymous and per user, priced from its own copy of the catalog",
    database: true,
    publishes: &[],
    subscriptions: &[
        ::events::types::catalog::PRODUCTS,
        Subscription {
            producer: "orders",
            types: &[events::ORDER_CONFIRMED, events::ORDER_CANCELLED],
        },
    ],
    read_model: false,
    calls: &[],
    routes: &[Route::new("/holds", Access::Internal)],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    kit.consumer(&db, handler::CartHandler);
    let store = Store::new(db, kit.own().currency());
    let days = kit.own().anonymous_cart_days;
    // As long as the inbox remembers the events that settle a hold.
    let holds_kept = ::events::retention::inbox_keeps(kit.common().outbox_retention());
    kit.api(routes::router(routes::AppState {
        store: store.clone(),
        verifier: kit.verifier(),
        cookies: kit.own().cookie_policy(),
    }))
    .worker("anonymous-cart-purge", move |stop| {
        purge::run(store, days, holds_kept, stop)
    });
    kit.bind().await
}
