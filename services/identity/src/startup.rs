//! Start-up: the identity service's parts, wired together.

use crate::{
    admin, config, keys, limits, password, routes,
    store::{self, Store},
};
use ::events::EventsKit;
use anyhow::Context;
use platform::{Kit, auth::Verifier, service::Service};
use std::{sync::Arc, time::Duration};

/// How often every replica reads the signing keys again (a rotation through another
/// replica is published here within this).
const KEY_RELOAD: Duration = Duration::from_secs(10);
/// How long the refresh tokens of a sign-in are kept once it has ended (every token of it
/// expired or revoked), and how often they are looked for.
const SIGN_INS_KEPT: Duration = Duration::from_secs(24 * 3600);
const SIGN_INS_PRUNED_EVERY: Duration = Duration::from_secs(3600);

/// Opens the database, ensures the signing key and the admin account, binds the listener.
pub(crate) async fn build(mut kit: Kit<config::Config>) -> anyhow::Result<Service> {
    // Settings first: a start that fails on one must not have made the admin account
    // (its random password is printed once, and would be lost with the failed run).
    let service_secret = strong_enough(&kit.common().service_secret)?;
    if service_secret.is_empty() {
        tracing::warn!(
            "BAZAAR_SERVICE_SECRET is empty: identity issues no service tokens, so the other \
             services cannot call each other's internal endpoints (event feeds, reservations, \
             payments) and report themselves not ready"
        );
    }
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
        own.signing_key_file.as_deref(),
        verifier,
        &common.token_issuer,
        &common.token_audience,
        own.access_token_ttl_secs,
    )
    .await
    .context("could not load the token signing key")?;
    let hasher = password::Hasher::new(
        password::Hasher::slots_here(),
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
        service_secret,
        limits: Arc::new(limits::Limits::new(
            own,
            common.rate_limits,
            common.trusted_proxies(),
        )),
    };
    // Keys rotated through another replica are published here within KEY_RELOAD, and read
    // at once when a token of one of them comes here first (or the JWKS is asked for).
    keys::Keys::reload_on_unknown_key(&state.keys, state.store.clone());
    let (keys, store) = (state.keys.clone(), state.store.clone());
    kit.worker("key-reload", move |stop| async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(KEY_RELOAD) => {}
                _ = stop.wait() => return Ok(()),
            }
            if let Err(e) = keys.reload(&store).await {
                tracing::warn!(error = %e, "could not reload the signing keys");
            }
        }
    });
    let store = state.store.clone();
    kit.worker("sign-in-retention", move |stop| async move {
        loop {
            let before = chrono::Utc::now()
                - chrono::Duration::from_std(SIGN_INS_KEPT).unwrap_or_default();
            match store
                .forget_sign_ins_ended_before(&::events::envelope::to_rfc3339(before))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(tokens = n, "forgot the refresh tokens of sign-ins ended over a day ago"),
                Err(e) => tracing::warn!(error = %e, "could not forget the refresh tokens of ended sign-ins"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SIGN_INS_PRUNED_EVERY) => {}
                _ = stop.wait() => return Ok(()),
            }
        }
    });
    kit.api(routes::router(state));
    kit.bind().await
}

/// The master service secret, if it is long enough to derive every service's key from
/// (empty: service tokens are off, and asking for one answers 503).
fn strong_enough(secret: &platform::config::Secret) -> anyhow::Result<platform::config::Secret> {
    let min = platform::auth::MIN_SERVICE_SECRET_LEN;
    let length = secret.expose().chars().count();
    if !secret.is_empty() && length < min {
        anyhow::bail!(
            "BAZAAR_SERVICE_SECRET is {length} characters long; it must have at least {min} \
             (e.g. `openssl rand -hex 32`)"
        );
    }
    Ok(secret.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::config::Secret;

    #[test]
    fn a_master_secret_too_short_to_derive_keys_from_stops_identity_from_starting() {
        let short = strong_enough(&Secret::new("hunter2"))
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("7 characters long") && short.contains("at least 32"),
            "{short}"
        );
        assert!(strong_enough(&Secret::new("x".repeat(32))).is_ok());
        // None at all: service tokens are off, which is not an error.
        assert!(strong_enough(&Secret::new("")).is_ok());
    }
}
