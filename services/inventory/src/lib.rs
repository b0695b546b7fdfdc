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

use anyhow::Context;
use domain::Ttl;
use handler::StockHandler;
use platform::{auth::Verifier, db::Db, service::Service};
use store::Store;

/// The inventory's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// What inventory takes from other services (declared here, in the consumer's own code).
pub const SUBSCRIPTIONS: &[::events::Subscription] = &[::events::Subscription {
    producer: "catalog",
    types: &[events::PRODUCT_CREATED, events::PRODUCT_DELETED],
}];

/// Opens the database, wires the API, the outbox relay, the catalog consumer and the
/// reservation expiry worker, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let reservation_ttl = i64::try_from(settings.own.reservation_ttl_secs)
        .ok()
        .and_then(|secs| Ttl::from_secs(secs).ok())
        .context("BAZAAR_RESERVATION_TTL_SECS is out of bounds")?;
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the inventory database")?;
    let producer = ::events::Producer::new(
        events::SOURCE,
        db.clone(),
        ::events::Broker::from_settings(&settings.common),
    );
    let consumer = ::events::Consumer::new(
        events::SOURCE,
        db.clone(),
        StockHandler::new(),
        SUBSCRIPTIONS,
        settings.common.event_max_attempts,
    )
    .with_producer(producer.clone());
    let verifier = Verifier::remote(
        format!(
            "{}/api/identity/.well-known/jwks.json",
            settings.directory.url("identity")
        ),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    let store = Store::new(db.clone(), producer.clone());
    let (api, openapi) = routes::router(routes::AppState {
        store: store.clone(),
        verifier: verifier.clone(),
        reservation_ttl,
    })
    .merge(::events::admin::routes(consumer.clone(), verifier))
    .split_for_parts();

    let builder = Service::builder("inventory", &settings.common);
    let shutdown = builder.shutdown();
    builder
        .routes(api)
        .routes(producer.routes())
        .openapi(openapi)
        .database(&db)
        .worker("outbox-relay", producer.clone().relay(shutdown.clone()))
        .worker("reservation-expiry", expiry::run(store, shutdown.clone()))
        .worker(
            "events",
            ::events::run_consumer(
                consumer,
                ::events::Broker::from_settings(&settings.common),
                settings.directory.clone(),
                shutdown,
            ),
        )
        .bind()
        .await
}
