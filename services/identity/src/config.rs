//! Identity's own settings: the admin account ensured at start and the token lifetimes.

use crate::domain::{Email, Password};
use platform::{
    config::{Secret, ServiceSettings},
    ratelimit::Quota,
};
use serde::{Deserialize, Serialize};

/// The longest lifetime either token may be given.
const MAX_TTL_SECS: u64 = 365 * 24 * 60 * 60;

/// Identity's settings; each field is also the variable `BAZAAR_<FIELD>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The admin account ensured at start (`BAZAAR_ADMIN_EMAIL`). Without it (and the
    /// password) an admin `admin@bazaar.local` is created once with a random password that
    /// is printed once.
    pub admin_email: Option<String>,
    /// That account's password (`BAZAAR_ADMIN_PASSWORD`); it must meet the password policy.
    pub admin_password: Option<Secret>,
    /// Lifetime of an access token, in seconds (`BAZAAR_ACCESS_TOKEN_TTL_SECS`, default 900).
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token, in seconds (`BAZAAR_REFRESH_TOKEN_TTL_SECS`, default 30
    /// days). Each refresh issues a new one with a full lifetime.
    pub refresh_token_ttl_secs: u64,
    /// Sign-in attempts per account, right or wrong (`BAZAAR_SIGN_IN_RATE_LIMIT_PER_ACCOUNT`):
    /// ten guesses, then one every 12 s, whoever guesses.
    pub sign_in_rate_limit_per_account: Quota,
    /// Sign-in attempts per client address (`BAZAAR_SIGN_IN_RATE_LIMIT_PER_ADDRESS`): room
    /// for an office behind one address, not for guessing across accounts.
    pub sign_in_rate_limit_per_address: Quota,
    /// Registrations per email address (`BAZAAR_REGISTRATION_RATE_LIMIT_PER_ACCOUNT`).
    pub registration_rate_limit_per_account: Quota,
    /// Registrations per client address (`BAZAAR_REGISTRATION_RATE_LIMIT_PER_ADDRESS`).
    pub registration_rate_limit_per_address: Quota,
    /// Token refreshes per client address (`BAZAAR_REFRESH_RATE_LIMIT_PER_ADDRESS`);
    /// refresh tokens are single-use, so each is limited by the sign-ins that made it.
    pub refresh_rate_limit_per_address: Quota,
    /// Token refreshes per account (`BAZAAR_REFRESH_RATE_LIMIT_PER_ACCOUNT`): room for
    /// every device and tab of one shopper, not for a script spending a stolen token's
    /// descendants as fast as it can.
    pub refresh_rate_limit_per_account: Quota,
    /// How long a sign-in or registration waits for one of the password-hashing slots
    /// (one per core) before it is answered 503, in ms (`BAZAAR_PASSWORD_QUEUE_TIMEOUT_MS`).
    pub password_queue_timeout_ms: u64,
    /// A PEM file of Ed25519 private keys (PKCS#8, `openssl genpkey -algorithm ed25519`)
    /// to sign with instead of the keys in the database (`BAZAAR_SIGNING_KEY_FILE`): a
    /// mounted secret, readable by its owner only. The first key signs; any after it
    /// verify (the keys being rotated out). Re-read every 10 s.
    pub signing_key_file: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            admin_email: None,
            admin_password: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            sign_in_rate_limit_per_account: quota("5/min burst 10"),
            sign_in_rate_limit_per_address: quota("1/s burst 30"),
            registration_rate_limit_per_account: quota("3/h"),
            registration_rate_limit_per_address: quota("20/h burst 10"),
            refresh_rate_limit_per_address: quota("2/s burst 60"),
            refresh_rate_limit_per_account: quota("10/min burst 30"),
            password_queue_timeout_ms: 3_000,
            signing_key_file: None,
        }
    }
}

fn quota(s: &str) -> Quota {
    s.parse().expect("a valid default quota")
}

impl Config {
    /// The configured admin credentials, parsed; `None` when neither is set.
    pub(crate) fn admin(&self) -> Option<Result<(Email, Password), String>> {
        match (&self.admin_email, &self.admin_password) {
            (None, None) => None,
            (Some(email), Some(password)) => Some(parse_admin(email, password)),
            (Some(_), None) => Some(Err(
                "BAZAAR_ADMIN_EMAIL is set but BAZAAR_ADMIN_PASSWORD is not: set both or neither"
                    .into(),
            )),
            (None, Some(_)) => Some(Err(
                "BAZAAR_ADMIN_PASSWORD is set but BAZAAR_ADMIN_EMAIL is not: set both or neither"
                    .into(),
            )),
        }
    }
}

fn parse_admin(email: &str, password: &Secret) -> Result<(Email, Password), String> {
    let email = Email::parse(email).map_err(|e| format!("BAZAAR_ADMIN_EMAIL {e}"))?;
    let password = Password::parse(password.expose(), Some(&email))
        .map_err(|e| format!("BAZAAR_ADMIN_PASSWORD {e}"))?;
    Ok((email, password))
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(Err(e)) = self.admin() {
            errors.push(e);
        }
        for (name, value) in [
            ("BAZAAR_ACCESS_TOKEN_TTL_SECS", self.access_token_ttl_secs),
            ("BAZAAR_REFRESH_TOKEN_TTL_SECS", self.refresh_token_ttl_secs),
        ] {
            if value == 0 || value > MAX_TTL_SECS {
                errors.push(format!(
                    "{name} must be between 1 and {MAX_TTL_SECS} seconds, got {value}"
                ));
            }
        }
        errors.extend(platform::config::out_of_bounds(
            "BAZAAR_PASSWORD_QUEUE_TIMEOUT_MS",
            self.password_queue_timeout_ms,
            1..=platform::config::MAX_DURATION_MS,
        ));
        errors
    }
}

#[cfg(test)]
mod tests {
    use platform::testing::{assert_settings_refused, default_settings, settings};
    type Settings = platform::config::Settings<super::Config>;

    #[test]
    fn defaults_run() {
        let own = default_settings::<super::Config>("identity").own;
        assert_eq!(own.access_token_ttl_secs, 900);
        assert_eq!(own.refresh_token_ttl_secs, 2_592_000);
        assert!(own.admin().is_none());
    }

    #[test]
    fn admin_needs_both_fields() {
        assert_settings_refused::<super::Config>(
            "identity",
            &[("admin_email", "root@example.com")],
            &["BAZAAR_ADMIN_PASSWORD"],
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let err = Settings::for_tests(
            "identity",
            &[
                ("admin_email", "not an email"),
                ("admin_password", "x"),
                ("access_token_ttl_secs", "0"),
                ("refresh_token_ttl_secs", "0"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
    }

    #[test]
    fn numbers_may_come_as_text_and_text_as_numbers() {
        let s = settings::<super::Config>(
            "identity",
            &[
                ("access_token_ttl_secs", "60"),
                ("refresh_token_ttl_secs", " 120 "),
            ],
        );
        assert_eq!(s.own.access_token_ttl_secs, 60);
        assert_eq!(s.own.refresh_token_ttl_secs, 120);
        let own: super::Config = serde_json::from_value(serde_json::json!({
            "admin_email": "root@example.com",
            "admin_password": 98765432101_u64,
            "access_token_ttl_secs": 30,
        }))
        .unwrap();
        assert_eq!(own.admin_password.unwrap().expose(), "98765432101");
        assert_eq!(own.access_token_ttl_secs, 30);
        assert!(Settings::for_tests("identity", &[("access_token_ttl_secs", "soon")]).is_err());
    }

    #[test]
    fn a_weak_admin_password_is_refused() {
        let err = Settings::for_tests(
            "identity",
            &[
                ("admin_email", "root@example.com"),
                ("admin_password", "short"),
            ],
        )
        .unwrap_err();
        assert!(
            err.0[0].contains("BAZAAR_ADMIN_PASSWORD is too short"),
            "{err}"
        );
    }

    #[test]
    fn good_admin_credentials_parse() {
        let s = settings::<super::Config>(
            "identity",
            &[
                ("admin_email", " Root@Example.com"),
                ("admin_password", "a long admin passphrase"),
            ],
        );
        let (email, _) = s.own.admin().unwrap().unwrap();
        assert_eq!(email.as_str(), "root@example.com");
    }
}
