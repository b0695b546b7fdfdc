//! The payments service: a simulated card processor that authorises, captures, voids and
//! refunds, keeps every movement of money in an append-only ledger, makes authorising
//! safe to repeat with idempotency keys, and announces each change through the
//! transactional outbox.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod processor;
pub mod routes;
pub mod store;

use ::events::EventsKit;
use platform::{Access, Kit, Route, ServiceDef, service::Service};
use processor::Processor;
use std::time::Duration;
use store::Store;

/// Payments, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "payments",
    about: "a simulated card processor with a ledger and idempotency keys",
    database: true,
    publishes: &[
        events::PAYMENT_AUTHORIZED,
        events::PAYMENT_CAPTURED,
        events::PAYMENT_VOIDED,
        events::PAYMENT_REFUNDED,
        events::PAYMENT_FAILED,
    ],
    subscriptions: &[],
    read_model: false,
    calls: &[],
    routes: &[
        Route::new("/authorizations", Access::Internal),
        Route::new("", Access::SignedIn),
    ],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    let producer = kit.producer(&db);
    kit.api(routes::router(routes::AppState {
        store: Store::new(db, producer),
        verifier: kit.verifier(),
        processor: Processor::new(Duration::from_millis(kit.own().processing_delay_ms)),
        in_progress_wait: Duration::from_millis(kit.own().in_progress_wait_ms),
    }));
    kit.bind().await
}
