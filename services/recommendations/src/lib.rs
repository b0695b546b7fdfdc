//! The recommendation service: "bought together" and "popular" products, and "for you"
//! for a signed-in shopper, answered from its own model built only from the catalog's
//! product events and the orders' `order.confirmed` (it never calls another service
//! while answering, so it never slows one down).
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod handler;
pub mod routes;
pub mod store;

use anyhow::Context;
use domain::Limit;
use handler::ModelHandler;
use platform::{auth::Verifier, db::Db, service::Service};
use store::Store;

/// The recommendation service's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// What the recommendation service takes from other services (declared here, in the
/// consumer's own code).
pub const SUBSCRIPTIONS: &[::events::Subscription] = &[
    ::events::Subscription {
        producer: "catalog",
        types: &[
            events::PRODUCT_CREATED,
            events::PRODUCT_UPDATED,
            events::PRODUCT_PRICE_CHANGED,
            events::PRODUCT_DELETED,
        ],
    },
    ::events::Subscription {
        producer: "orders",
        types: &[events::ORDER_CONFIRMED],
    },
];

/// Opens the database, wires the API and the event consumer, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let default_limit = Limit::new(i64::from(settings.own.default_limit))
        .map_err(|e| anyhow::anyhow!("BAZAAR_DEFAULT_LIMIT {e}"))?;
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the recommendations database")?;
    let consumer = ::events::Consumer::new(
        events::SOURCE,
        db.clone(),
        ModelHandler::new(),
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
    let (api, openapi) = routes::router(routes::AppState {
        store: Store::new(db.clone()),
        verifier: verifier.clone(),
        default_limit,
        history_depth: settings.own.history_depth,
    })
    .merge(::events::admin::routes(consumer.clone(), verifier))
    .split_for_parts();

    let builder = Service::builder("recommendations", &settings.common);
    let shutdown = builder.shutdown();
    builder
        .routes(api)
        .openapi(openapi)
        .database(&db)
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
