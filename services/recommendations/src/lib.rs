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

use ::events::EventsKit;
use domain::Limit;
use platform::{Access, Kit, Route, ServiceDef, Subscription, service::Service};
use store::Store;

/// Recommendations, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "recommendations",
    about: "bought-together, popular and for-you, from its own event-fed model",
    database: true,
    publishes: &[],
    subscriptions: &[
        ::events::types::catalog::PRODUCTS,
        Subscription {
            producer: "orders",
            types: &[events::ORDER_CONFIRMED],
        },
    ],
    read_model: true,
    calls: &[],
    routes: &[Route::new("/me", Access::SignedIn)],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let default_limit = Limit::new(i64::from(kit.own().default_limit))
        .map_err(|e| anyhow::anyhow!("BAZAAR_DEFAULT_LIMIT {e}"))?;
    let db = kit.database(&store::migrations()).await?;
    kit.consumer(&db, handler::ModelHandler);
    kit.api(routes::router(routes::AppState {
        store: Store::new(db),
        verifier: kit.verifier(),
        default_limit,
        history_depth: kit.own().history_depth,
    }));
    kit.bind().await
}
