//! The catalog service: the shop's categories and products, readable by everyone and
//! changed by administrators, every change announced through the transactional outbox.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod routes;
pub mod seed;
pub mod store;

use ::events::EventsKit;
use platform::{Access, Kit, Route, ServiceDef, service::Service};
use std::time::Instant;
use store::{SeedOutcome, Store};

/// The catalog, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "catalog",
    about: "categories and products, changed by administrators, every change an event",
    database: true,
    publishes: &[
        events::PRODUCT_CREATED,
        events::PRODUCT_UPDATED,
        events::PRODUCT_PRICE_CHANGED,
        events::PRODUCT_DELETED,
    ],
    subscriptions: &[],
    read_model: false,
    calls: &[],
    routes: &[Route::new("", Access::SignedInToWrite)],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

/// Opens the database, seeds a fresh one, binds the listener.
async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    let producer = kit.producer(&db);
    let store = Store::new(db, producer);
    let started = Instant::now();
    let currency = kit.own().currency();
    match seed::run(&store, kit.own().seed, kit.own().seed_products, currency).await? {
        SeedOutcome::Seeded(n) => tracing::info!(
            products = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "seeded a fresh catalog"
        ),
        SeedOutcome::NotFresh => {}
    }
    kit.api(routes::router(routes::AppState {
        store,
        verifier: kit.verifier(),
        currency,
    }));
    kit.bind().await
}
