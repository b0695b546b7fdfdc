//! The cart service: anonymous carts by cookie and users' carts by token, merged at
//! sign-in, priced from the cart's own copy of the catalog (kept from its events) and
//! emptied of what an order bought once it is confirmed.
#![forbid(unsafe_code)]

pub mod config;
pub mod cookie;
pub mod domain;
pub mod error;
pub mod events;
pub mod handler;
pub mod routes;
pub mod store;

use anyhow::Context;
use cookie::CookiePolicy;
use handler::CartHandler;
use platform::{auth::Verifier, db::Db, service::Service, shutdown::Shutdown};
use std::time::Duration;
use store::Store;

/// The cart's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// What the cart takes from other services (declared here, in the consumer's own code).
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

/// How often anonymous carts past their lifetime are looked for.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Opens the database, wires the API, the event consumer and the purge of old anonymous
/// carts, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the cart database")?;
    let consumer = ::events::Consumer::new(
        events::SERVICE,
        db.clone(),
        CartHandler::new(),
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
    let days = settings.own.anonymous_cart_days;
    let store = Store::new(db.clone(), settings.own.currency());
    let (api, openapi) = routes::router(routes::AppState {
        store: store.clone(),
        verifier: verifier.clone(),
        cookies: CookiePolicy {
            max_age_secs: u64::from(days) * 24 * 3600,
            secure: settings.own.cart_cookie_secure,
        },
    })
    .merge(::events::admin::routes(consumer.clone(), verifier))
    .split_for_parts();

    let builder = Service::builder("cart", &settings.common);
    let shutdown = builder.shutdown();
    builder
        .routes(api)
        .openapi(openapi)
        .database(&db)
        .worker("anonymous-cart-purge", purge(store, days, shutdown.clone()))
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

/// Deletes the anonymous carts unchanged for `days` (their cookies have expired), at
/// start and every hour, until shutdown. A failed round is logged and tried next time.
async fn purge(store: Store, days: u32, shutdown: Shutdown) -> anyhow::Result<()> {
    loop {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        match store
            .purge_anonymous(&::events::envelope::to_rfc3339(cutoff))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(carts = n, "expired anonymous carts purged"),
            Err(e) => tracing::warn!(error = ?e, "could not purge expired anonymous carts"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
}
