//! The notifications service: every shopper's mailbox, written from identity's, orders'
//! and payments' events (a welcome, order confirmed or cancelled, card declined), listed
//! and streamed live to the signed-in user, and mailed over SMTP when configured.
#![forbid(unsafe_code)]

pub mod compose;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod feed;
pub mod handler;
pub mod mail;
pub mod routes;
pub mod store;

use anyhow::Context;
use handler::{EmailMode, NotificationHandler};
use platform::{auth::Verifier, db::Db, service::Service};
use std::time::Duration;
use store::Store;

/// Notifications' whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// What notifications takes from other services (declared here, in the consumer's own
/// code).
pub const SUBSCRIPTIONS: &[::events::Subscription] = &[
    ::events::Subscription {
        producer: "identity",
        types: &[events::USER_REGISTERED],
    },
    ::events::Subscription {
        producer: "orders",
        types: &[events::ORDER_CONFIRMED, events::ORDER_CANCELLED],
    },
    ::events::Subscription {
        producer: "payments",
        types: &[events::PAYMENT_FAILED],
    },
];

/// Opens the database, wires the API, the live feed's watcher, the event consumer and
/// (when SMTP is configured) the mail worker, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let smtp = settings.own.smtp().map_err(anyhow::Error::msg)?;
    let db = Db::connect(&settings.common.database_url, &store::migrations())
        .await
        .context("could not open the notifications database")?;
    let store = Store::new(db.clone());
    let email = if smtp.is_some() {
        EmailMode::Send
    } else {
        EmailMode::Skip
    };
    let consumer = ::events::Consumer::new(
        events::SOURCE,
        db.clone(),
        NotificationHandler::new(email),
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
    let head = store
        .head()
        .await
        .context("could not read the notifications mailbox")?;
    let (head_tx, head_rx) = tokio::sync::watch::channel(head);

    let builder = Service::builder("notifications", &settings.common);
    let shutdown = builder.shutdown();
    let (api, openapi) = routes::router(routes::AppState {
        store: store.clone(),
        verifier: verifier.clone(),
        head: head_rx,
        shutdown: shutdown.clone(),
    })
    .merge(::events::admin::routes(consumer.clone(), verifier))
    .split_for_parts();

    let mut builder = builder
        .routes(api)
        .openapi(openapi)
        .database(&db)
        .worker(
            "feed",
            feed::watch_head(store.clone(), head_tx, shutdown.clone()),
        )
        .worker(
            "events",
            ::events::run_consumer(
                consumer,
                ::events::Broker::from_settings(&settings.common),
                settings.directory.clone(),
                shutdown.clone(),
            ),
        );
    if let Some(server) = smtp {
        let from = settings.own.from_mailbox().map_err(anyhow::Error::msg)?;
        tracing::info!(%server, "emailing messages");
        builder = builder.worker(
            "mail",
            mail::run(
                store,
                mail::Mailer::new(&server, from),
                Duration::from_millis(settings.own.email_retry_base_ms),
                shutdown,
            ),
        );
    } else {
        tracing::info!("no SMTP server configured (BAZAAR_SMTP_URL): mailbox only");
    }
    builder.bind().await
}
