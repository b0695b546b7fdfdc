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

use ::events::EventsKit;
use indexer::Indexer;
use platform::{Kit, ServiceDef, service::Service};
use replay::Rebuilds;
use std::time::Duration;

pub use indexer::rebuild_index;

/// Search, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "search",
    about: "full-text search (tantivy) over its own event-fed copy of the catalog",
    database: true,
    publishes: &[],
    subscriptions: &[::events::types::catalog::PRODUCTS],
    read_model: true,
    calls: &[],
    routes: &[],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

/// Opens the database and the index; wires the indexer, the catalog consumer (stopped and
/// replayed on demand) and the API.
async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    let dir = kit.own().index_dir(&kit.common().database_url);
    let indexer = Indexer::open(db.clone(), dir, kit.own().writer_memory_bytes()).await?;
    let (rebuilds, requests) = Rebuilds::channel();
    let for_replay = indexer.clone();
    let drain = Duration::from_millis(kit.common().drain_delay_ms);
    kit.consumer_with(
        &db,
        handler::SearchHandler::new(indexer.waker()),
        move |consumer, transport, stop| {
            replay::run(consumer, transport, for_replay, requests, drain, stop)
        },
    );
    kit.api(routes::router(routes::AppState {
        index: indexer.index().clone(),
        indexer: indexer.clone(),
        rebuilds,
        verifier: kit.verifier(),
    }))
    .check("index", {
        let indexer = indexer.clone();
        move || std::future::ready(indexer.health())
    })
    .worker("indexer", |stop| indexer.run(stop));
    kit.bind().await
}
