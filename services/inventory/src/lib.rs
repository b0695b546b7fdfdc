//! The inventory service: how many units of each product can still be sold, fed by the
//! catalog's product events, set by administrators, held for checkouts by reservations
//! (committed, released, or expired), every change kept in a ledger and announced through
//! the transactional outbox.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod expiry;
pub mod handler;
pub mod routes;
pub mod store;

use ::events::EventsKit;
use platform::{Access, Kit, Route, ServiceDef, Subscription, service::Service};
use store::Store;

/// Inventory, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "inventory",
    about: "stock levels, reservations with expiry, and a ledger of every movement",
    database: true,
    publishes: &[
        events::STOCK_CHANGED,
        events::RESERVATION_HELD,
        events::RESERVATION_COMMITTED,
        events::RESERVATION_RELEASED,
    ],
    subscriptions: &[Subscription {
        producer: "catalog",
        types: &[events::PRODUCT_CREATED, events::PRODUCT_DELETED],
    }],
    read_model: false,
    calls: &[],
    routes: &[
        Route::new("/reservations", Access::Internal),
        Route::new("", Access::SignedInToWrite),
    ],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    let producer = kit.producer(&db);
    kit.consumer(&db, handler::StockHandler);
    let store = Store::new(db, producer);
    kit.api(routes::router(routes::AppState {
        store: store.clone(),
        verifier: kit.verifier(),
        reservation_ttl: kit.own().reservation_ttl_secs,
    }))
    .worker("reservation-expiry", |stop| expiry::run(store, stop));
    kit.bind().await
}
