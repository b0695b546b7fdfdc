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
pub mod store;
pub mod view;

use anyhow::Context;
use platform::{auth::Verifier, db::Db, service::Service};
use saga::{Saga, SagaSettings};
use std::time::Duration;
use store::Store;

/// The orders service's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// The longest a request waits for a checkout another request with the same key is
/// driving.
const MAX_WAIT: Duration = Duration::from_secs(15);

/// Opens the database, wires the API, the outbox relay and the saga's recovery worker,
/// binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    if settings.common.service_secret.is_empty() {
        tracing::warn!(
            "BAZAAR_SERVICE_SECRET is empty: orders cannot get a service token, so every \
             checkout will fail to reserve stock"
        );
    }
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the orders database")?;
    let producer = ::events::Producer::new(
        events::SOURCE,
        db.clone(),
        ::events::Broker::from_settings(&settings.common),
    );
    let store = Store::new(db.clone(), producer.clone());
    let services = clients::Services::new(&settings).context("could not build the HTTP client")?;
    // A waiting request must answer before the platform's request timeout cuts it off.
    let request_timeout = Duration::from_millis(settings.common.request_timeout_ms);
    let wait_bound = request_timeout
        .saturating_sub(Duration::from_secs(1))
        .clamp(Duration::from_millis(500), MAX_WAIT);
    let saga = Saga::new(
        store.clone(),
        services.clone(),
        SagaSettings {
            payment_retries: settings.own.payment_retries,
            recovery_after: settings.own.recovery_after(),
            recovery_interval: settings.own.recovery_interval(),
            wait_bound,
        },
    );
    let verifier = Verifier::remote(
        format!(
            "{}/api/identity/.well-known/jwks.json",
            settings.directory.url("identity")
        ),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    let (api, openapi) = routes::router(routes::AppState {
        store,
        saga: saga.clone(),
        services,
        verifier,
    })
    .split_for_parts();

    let builder = Service::builder("orders", &settings.common);
    let shutdown = builder.shutdown();
    builder
        .routes(api)
        .routes(producer.routes())
        .openapi(openapi)
        .database(&db)
        .worker("outbox-relay", producer.clone().relay(shutdown.clone()))
        .worker("saga-recovery", saga.recover(shutdown))
        .bind()
        .await
}
