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

use ::events::EventsKit;
use handler::NotificationHandler;
use platform::{Access, Kit, Route, ServiceDef, Subscription, service::Service};
use store::Store;

/// Notifications, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "notifications",
    about: "every shopper's mailbox and live stream, from identity, order and payment events",
    database: true,
    publishes: &[],
    subscriptions: &[
        Subscription {
            producer: "identity",
            types: &[events::USER_REGISTERED, events::USER_SIGNED_OUT],
        },
        Subscription {
            producer: "orders",
            types: &[events::ORDER_CONFIRMED, events::ORDER_CANCELLED],
        },
        Subscription {
            producer: "payments",
            types: &[events::PAYMENT_FAILED],
        },
    ],
    read_model: false,
    calls: &[],
    routes: &[Route::new("", Access::SignedIn)],
    build: |launch| Box::pin(launch.start(build)),
    settings: platform::config::variables::<config::Config>,
};

async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    let store = Store { db: db.clone() };
    let email = mail::start(&mut kit, &store)?;
    kit.consumer(&db, NotificationHandler::new(email));
    let head = feed::start(&mut kit, &store).await?;
    kit.api(routes::router(routes::AppState {
        store,
        verifier: kit.verifier(),
        head,
        shutdown: kit.shutdown(),
        streams: feed::Streams::new(kit.own().streams_per_user),
    }));
    kit.bind().await
}
