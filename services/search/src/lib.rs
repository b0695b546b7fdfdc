//! The search service: a full-text index (tantivy) over the catalog, built only from the
//! catalog's product events. The products are kept in search's own database (the
//! authoritative copy, written exactly once per event through the inbox) and the index is
//! derived from them by a background indexer, so either can be rebuilt: the index from the
//! table, the table by replaying the catalog's events.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod events;
pub mod handler;
pub mod index;
pub mod indexer;
pub mod replay;
pub mod routes;
pub mod store;

use anyhow::Context;
use handler::SearchHandler;
use index::SearchIndex;
use indexer::Indexer;
use platform::{auth::Verifier, db::Db, service::Service};
use replay::Rebuilds;
use store::Store;

pub use indexer::rebuild_index;

/// Search's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// What search takes from other services (declared here, in the consumer's own code).
pub const SUBSCRIPTIONS: &[::events::Subscription] = &[::events::Subscription {
    producer: events::CATALOG,
    types: &[
        events::PRODUCT_CREATED,
        events::PRODUCT_UPDATED,
        events::PRODUCT_PRICE_CHANGED,
        events::PRODUCT_DELETED,
    ],
}];

/// Opens the database and the index, wires the API, the indexer and the catalog consumer,
/// binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the search database")?;
    let store = Store::new(db.clone());
    let dir = settings.own.index_dir(&settings.common.database_url);
    let memory = settings.own.writer_memory_bytes();
    let open_dir = dir.clone();
    let index = tokio::task::spawn_blocking(move || SearchIndex::open(&open_dir, memory))
        .await?
        .with_context(|| format!("could not open the search index in {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), mark = index.mark(), documents = index.num_docs(), "search index opened");
    let indexer = Indexer::new(store, index.clone());
    indexer
        .check_against_database()
        .await
        .context("could not compare the search index with its database")?;

    let consumer = ::events::Consumer::new(
        events::SERVICE,
        db.clone(),
        SearchHandler::new(indexer.waker()),
        SUBSCRIPTIONS,
        settings.common.event_max_attempts,
    );
    let verifier = Verifier::remote(
        format!(
            "{}/api/identity/.well-known/jwks.json",
            settings.directory.url("identity")
        ),
        &settings.common.token_issuer,
        &settings.common.token_audience,
    );
    let (rebuilds, requests) = Rebuilds::channel();
    let (api, openapi) = routes::router(routes::AppState {
        index,
        indexer: indexer.clone(),
        rebuilds,
        verifier: verifier.clone(),
    })
    .merge(::events::admin::routes(consumer.clone(), verifier))
    .split_for_parts();

    let builder = Service::builder(events::SERVICE, &settings.common);
    let shutdown = builder.shutdown();
    builder
        .routes(api)
        .openapi(openapi)
        .database(&db)
        .worker("indexer", indexer.clone().run(shutdown.clone()))
        .worker(
            "events",
            replay::run(
                consumer,
                settings.common.clone(),
                settings.directory.clone(),
                indexer,
                requests,
                shutdown,
            ),
        )
        .bind()
        .await
}
