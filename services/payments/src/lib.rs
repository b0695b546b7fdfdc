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

use anyhow::Context;
use platform::{auth::Verifier, db::Db, service::Service};
use processor::Processor;
use std::time::Duration;
use store::Store;

/// The payments service's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// How much longer than the request timeout an idempotency key stays with the request
/// that claimed it, before another request with the key may take it over.
const KEY_LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Opens the database, wires the API and the outbox, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the payments database")?;
    let producer = ::events::Producer::new(
        events::SOURCE,
        db.clone(),
        ::events::Broker::from_settings(&settings.common),
    );
    let verifier = Verifier::remote(
        format!(
            "{}/api/identity/.well-known/jwks.json",
            settings.directory.url("identity")
        ),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    // A request cannot outlive the request timeout, so a key still `in_progress` after it
    // (and a margin) belongs to a request that is gone.
    let lease = Duration::from_millis(settings.common.request_timeout_ms) + KEY_LEASE_MARGIN;
    let (api, openapi) = routes::router(routes::AppState {
        store: Store::new(db.clone(), producer.clone(), lease),
        verifier,
        processor: Processor::new(Duration::from_millis(settings.own.processing_delay_ms)),
        in_progress_wait: Duration::from_millis(settings.own.in_progress_wait_ms),
    })
    .split_for_parts();

    let builder = Service::builder("payments", &settings.common);
    let shutdown = builder.shutdown();
    builder
        .routes(api)
        .routes(producer.routes())
        .openapi(openapi)
        .database(&db)
        .worker("outbox-relay", producer.relay(shutdown))
        .bind()
        .await
}
