//! Start-up: the identity service's parts, wired together.

use crate::{
    admin, config, keys, limits, password, routes,
    store::{self, Store},
};
use ::events::EventsKit;
use anyhow::Context;
use platform::{Kit, auth::Verifier, service::Service};
use std::sync::Arc;

/// Opens the database, ensures the signing key and the admin account, binds the listener.
pub(crate) async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    let db = kit.database(&store::migrations()).await?;
    // Identity checks tokens with its own keys (filled in as they load), its event
    // feeds included.
    let common = kit.common();
    let verifier = Verifier::local(&common.token_issuer, &common.token_audience);
    kit.use_verifier(verifier.clone());
    let producer = kit.producer(&db);
    let store = Store::new(db, producer);
    let (common, own) = (kit.common(), kit.own());
    let keys = keys::Keys::load_or_generate(
        &store,
        verifier,
        &common.token_issuer,
        &common.token_audience,
        own.access_token_ttl_secs,
    )
    .await
    .context("could not load the token signing key")?;
    let hasher = password::Hasher::new(
        password::Hasher::cores(),
        std::time::Duration::from_millis(own.password_queue_timeout_ms),
    )
    .await
    .context("could not set up password hashing")?;
    admin::ensure_admin(&store, &hasher, own)
        .await
        .context("could not ensure the admin account")?;
    let state = routes::AppState {
        store,
        keys: Arc::new(keys),
        hasher,
        refresh_ttl_secs: i64::try_from(own.refresh_token_ttl_secs).unwrap_or(i64::MAX),
        service_secret: common.service_secret.clone(),
        limits: Arc::new(limits::Limits::new(
            own,
            common.rate_limits,
            common.trusted_proxies(),
        )),
    };
    kit.api(routes::router(state));
    kit.bind().await
}
