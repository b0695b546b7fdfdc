//! Start-up: the orders service's parts, wired together.

use crate::{
    clients, config, routes,
    saga::{Saga, SagaSettings},
    store::{self, Store},
};
use ::events::EventsKit;
use platform::{Kit, service::Service};
use std::time::Duration;

/// The longest a request waits for a checkout another request with the same key is
/// driving.
const MAX_WAIT: Duration = Duration::from_secs(15);

/// What a checkout's answer needs after its last call: its writes, and the way back
/// through the gateway.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// How long a checkout request may call on before it must answer: the gateway waits
/// `/checkout`'s own timeout for it (the storefront a little longer), less
/// [`ANSWER_MARGIN`]. Past it a checkout still failing transiently answers 503 with
/// `resumable_until` (or 202 after the payment), not the gateway's bare 504.
pub fn answer_within() -> Duration {
    let gateway_waits = crate::SERVICE
        .route("/checkout")
        .and_then(|r| r.timeout_ms)
        .map_or(MAX_WAIT, Duration::from_millis);
    gateway_waits.saturating_sub(ANSWER_MARGIN)
}

/// Opens the database, wires the saga and its recovery worker, binds the listener.
pub(crate) async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    if kit.common().service_secret.is_empty() {
        tracing::warn!(
            "BAZAAR_SERVICE_SECRET is empty: orders cannot get a service token, so every \
             checkout will fail to reserve stock"
        );
    }
    let db = kit.database(&store::migrations()).await?;
    let producer = kit.producer(&db);
    let store = Store::new(db, producer);
    let timeout = kit.own().call_timeout();
    let services = clients::Services::new(
        kit.credentials(),
        kit.client("cart", timeout)?,
        kit.client("inventory", timeout)?,
        kit.client("payments", timeout)?,
    );
    // A waiting request must answer before the platform's request timeout cuts it off.
    let wait_bound = Duration::from_millis(kit.common().request_timeout_ms)
        .saturating_sub(Duration::from_secs(1))
        .clamp(Duration::from_millis(500), MAX_WAIT);
    let saga = Saga::new(
        store.clone(),
        services.clone(),
        SagaSettings {
            payment_retries: kit.own().payment_retries,
            recovery_after: kit.own().recovery_after(),
            recovery_interval: kit.own().recovery_interval(),
            wait_bound,
            resumable_for: kit.own().checkout_resumable(),
            answer_within: answer_within(),
            call_timeout: timeout,
        },
    );
    kit.api(routes::router(routes::AppState {
        store,
        saga: saga.clone(),
        services,
        verifier: kit.verifier(),
    }))
    .worker("saga-recovery", |stop| saga.recover(stop));
    kit.bind().await
}
