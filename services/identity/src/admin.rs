//! The administrator account ensured at start: the configured one (`BAZAAR_ADMIN_EMAIL`
//! / `BAZAAR_ADMIN_PASSWORD`), or else, once, a generated one whose password is printed.

use crate::{
    config,
    domain::{Email, Password},
    error::Error,
    password, published,
    store::{Store, UserRecord},
};
use platform::auth::{ROLE_ADMIN, ROLE_CUSTOMER};

/// The admin account created when none is configured.
const DEFAULT_ADMIN_EMAIL: &str = "admin@bazaar.local";
const DEFAULT_ADMIN_NAME: &str = "Administrator";
const GENERATED_PASSWORD_LEN: usize = 20;

/// Makes sure an administrator exists: the configured one, with the configured password,
/// or else (once, on a database without any) `admin@bazaar.local` with a random password
/// that is printed.
pub(crate) async fn ensure_admin(
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
