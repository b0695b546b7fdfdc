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

use anyhow::Context;
use platform::{auth::Verifier, db::Db, service::Service};
use std::time::Instant;
use store::{SeedOutcome, Store};

/// The catalog's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// Opens the database, seeds a fresh one, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the catalog database")?;
    let producer = ::events::Producer::new(
        "catalog",
        db.clone(),
        ::events::Broker::from_settings(&settings.common),
    );
    let store = Store::new(db.clone(), producer.clone());

    let started = Instant::now();
    match seed::run(&store, settings.own.seed, settings.own.seed_products).await? {
        SeedOutcome::Seeded(n) => tracing::info!(
            products = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "seeded a fresh catalog"
        ),
        SeedOutcome::NotFresh => {}
    }

    let verifier = Verifier::remote(
        format!(
            "{}/api/identity/.well-known/jwks.json",
            settings.directory.url("identity")
        ),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    let (router, openapi) = routes::router(routes::AppState { store, verifier }).split_for_parts();
    let builder = Service::builder("catalog", &settings.common);
    let relay = producer.clone().relay(builder.shutdown());
    builder
        .routes(router)
        .routes(producer.routes())
        .openapi(openapi)
        .database(&db)
        .worker("outbox-relay", relay)
        .bind()
        .await
}
