//! Bazaar's identity service: accounts, sign-in, and the EdDSA access tokens every other
//! service verifies against its JWKS.
#![forbid(unsafe_code)]

pub mod config;
mod domain;
mod error;
mod keys;
mod password;
mod published;
mod routes;
mod store;
#[cfg(feature = "test-util")]
pub mod testing;

use anyhow::Context;
use domain::{Email, Password};
use error::Error;
use platform::{
    auth::{ROLE_ADMIN, ROLE_CUSTOMER},
    db::{Db, MigrationSource},
    service::Service,
};
use std::sync::Arc;
use store::{Store, UserRecord};

/// Identity's whole configuration.
pub type Settings = platform::config::Settings<config::Config>;

/// The admin account created when none is configured.
const DEFAULT_ADMIN_EMAIL: &str = "admin@bazaar.local";
const DEFAULT_ADMIN_NAME: &str = "Administrator";
const GENERATED_PASSWORD_LEN: usize = 20;

/// Opens the database, ensures the signing key and the admin account, binds the listener.
pub async fn build(settings: Settings) -> anyhow::Result<Service> {
    let migrations: Vec<MigrationSource> = store::MIGRATIONS
        .iter()
        .chain(events::outbox::MIGRATIONS)
        .copied()
        .collect();
    let db = Db::connect(&settings.common.database_url, &migrations)
        .await
        .context("could not open the identity database")?;
    let producer = events::Producer::new(
        "identity",
        db.clone(),
        events::Broker::from_settings(&settings.common),
    );
    let store = Store::new(db.clone(), producer.clone());
    let keys = keys::Keys::load_or_generate(
        &store,
        &settings.common.token_issuer,
        &settings.common.token_audience,
        settings.own.access_token_ttl_secs,
    )
    .await
    .context("could not load the token signing key")?;
    let hasher = password::Hasher::new()
        .await
        .context("could not set up password hashing")?;
    ensure_admin(&store, &hasher, &settings.own)
        .await
        .context("could not ensure the admin account")?;
    let state = routes::AppState {
        store,
        keys: Arc::new(keys),
        hasher,
        refresh_ttl_secs: i64::try_from(settings.own.refresh_token_ttl_secs).unwrap_or(i64::MAX),
        service_secret: settings.common.service_secret.clone(),
    };
    let (router, doc) = routes::router(state);
    let builder = Service::builder("identity", &settings.common);
    let relay = producer.clone().relay(builder.shutdown());
    builder
        .routes(router)
        .routes(producer.routes())
        .openapi(doc)
        .database(&db)
        .worker("outbox-relay", relay)
        .bind()
        .await
}

/// Makes sure an administrator exists: the configured one, with the configured password,
/// or else (once, on a database without any) `admin@bazaar.local` with a random password
/// that is printed.
async fn ensure_admin(
    store: &Store,
    hasher: &password::Hasher,
    config: &config::Config,
) -> Result<(), anyhow::Error> {
    let admin_roles = vec![ROLE_CUSTOMER.to_owned(), ROLE_ADMIN.to_owned()];
    match config.admin() {
        Some(Err(e)) => anyhow::bail!(e),
        Some(Ok((email, password))) => {
            if let Some(existing) = store.user_by_email(email.as_str()).await? {
                let has_roles = admin_roles.iter().all(|r| existing.roles.contains(r));
                let same_password = hasher
                    .verify(password.expose().to_owned(), Some(existing.password_hash))
                    .await?;
                if has_roles && same_password {
                    return Ok(());
                }
            }
            let user = admin_record(hasher, email, &password, admin_roles).await?;
            let event = published::user_registered(&user, None)?;
            store.put_admin(&user, &event, false).await?;
            tracing::info!(email = %user.email, "ensured the configured admin account");
        }
        None => {
            let email = Email::parse(DEFAULT_ADMIN_EMAIL)
                .map_err(|e| anyhow::anyhow!("the default admin email {e}"))?;
            let password = generate_password(&email)?;
            let user = admin_record(hasher, email, &password, admin_roles).await?;
            let event = published::user_registered(&user, None)?;
            if store.put_admin(&user, &event, true).await? {
                println!(
                    "identity: created admin account {} with password {} (set BAZAAR_ADMIN_EMAIL/BAZAAR_ADMIN_PASSWORD to choose your own)",
                    user.email,
                    password.expose()
                );
            }
        }
    }
    Ok(())
}

async fn admin_record(
    hasher: &password::Hasher,
    email: Email,
    password: &Password,
    roles: Vec<String>,
) -> Result<UserRecord, Error> {
    Ok(UserRecord {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.into_string(),
        name: DEFAULT_ADMIN_NAME.to_owned(),
        password_hash: hasher.hash(password.expose().to_owned()).await?,
        roles,
        created_at: events::envelope::now_rfc3339(),
    })
}

/// A random password of letters and digits that meets the policy.
fn generate_password(email: &Email) -> Result<Password, Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    // Bytes at or above this would make some characters likelier than others.
    let limit = 256 - 256 % ALPHABET.len();
    loop {
        let mut out = String::with_capacity(GENERATED_PASSWORD_LEN);
        while out.len() < GENERATED_PASSWORD_LEN {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)?;
            out.extend(
                bytes
                    .iter()
                    .filter(|&&b| usize::from(b) < limit)
                    .map(|&b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
                    .take(GENERATED_PASSWORD_LEN - out.len()),
            );
        }
        if let Ok(password) = Password::parse(&out, Some(email)) {
            return Ok(password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_the_policy_and_differ() {
        let email = Email::parse(DEFAULT_ADMIN_EMAIL).unwrap();
        let a = generate_password(&email).unwrap();
        let b = generate_password(&email).unwrap();
        assert_eq!(a.expose().len(), GENERATED_PASSWORD_LEN);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
