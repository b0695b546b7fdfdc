//! The session cookie's encryption: its value is sealed with XChaCha20-Poly1305, so whoever
//! holds the cookie (a shared computer, a log, a stolen backup) reads no tokens in it and
//! cannot change a byte of it.
//!
//! A value is base64url of `version (1) || nonce (24 random bytes) || ciphertext and tag`,
//! with the cookie's name as associated data: a value sealed for the plain `bazaar_session`
//! does not open as `__Host-bazaar_session`. The key is derived from the storefront's
//! service credential (so every replica of one shop derives the same one), or given as
//! `BAZAAR_SESSION_KEY`, or failing both made at random for this process.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    Key, KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::Mac;
use platform::config::Secret;
use std::fmt;

/// The format of a sealed value: its first byte.
const VERSION: u8 = 1;
/// XChaCha20's nonce: long enough to be drawn at random for every cookie.
const NONCE_LEN: usize = 24;
/// What the key is derived for, so that the same secret never keys anything else.
const LABEL: &[u8] = b"bazaar storefront session cookie key v1";

/// The key session cookies are sealed with. Cheap to clone; never printed.
#[derive(Clone)]
pub struct SessionKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

impl SessionKey {
    /// The key of this storefront: from `explicit` (`BAZAAR_SESSION_KEY`) if given, else
    /// from the service credential (`BAZAAR_SERVICE_SECRET`) of `service`, else a random
    /// one, with a warning that sessions will not outlive the process.
    pub fn configured(
        explicit: Option<&Secret>,
        service_secret: &Secret,
        service: &str,
    ) -> Result<Self, getrandom::Error> {
        if let Some(key) = explicit.filter(|k| !k.is_empty()) {
            return Ok(Self::from_secret(key.expose()));
        }
        if !service_secret.is_empty() {
            return Ok(Self::from_service_secret(service_secret.expose(), service));
        }
        tracing::warn!(
            "neither BAZAAR_SESSION_KEY nor BAZAAR_SERVICE_SECRET is set: session cookies are \
             sealed with a random key, so sessions end when this process restarts and do not \
             carry over to other replicas"
        );
        Self::random()
    }

    /// The key derived from an explicit secret.
    pub fn from_secret(secret: &str) -> Self {
        Self::derived(secret.as_bytes())
    }

    /// The key derived from `service`'s credential, whether it was given the shop's
    /// master secret or its own key (`bzsk1.<service>.…`): both give the same key, so
    /// replicas configured either way share sessions.
    pub fn from_service_secret(configured: &str, service: &str) -> Self {
        Self::derived(platform::auth::presented_key(configured, service).as_bytes())
    }

    /// A key of this process alone.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self::with_key(key))
    }

    /// HMAC-SHA256 of the label under `secret`: a 32-byte key that says nothing of the
    /// secret.
    fn derived(secret: &[u8]) -> Self {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(secret)
            .expect("HMAC takes a key of any length");
        mac.update(LABEL);
        Self::with_key(mac.finalize().into_bytes().into())
    }

    fn with_key(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// `plaintext` sealed as the value of the cookie `name`; `None` only when the system
    /// has no random numbers.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        if let Err(e) = getrandom::fill(&mut nonce) {
            tracing::error!(error = %e, "no random nonce for the session cookie");
            return None;
        }
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// What the value of the cookie `name` holds, if it was sealed with this key for that
    /// name and not changed since.
    pub fn open(&self, name: &str, value: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD
            .decode(value.trim().trim_matches('"'))
            .ok()?;
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "a-master-service-secret-of-32-characters";

    #[test]
    fn a_sealed_value_opens_only_under_its_name_and_key() {
        let key = SessionKey::from_secret("k".repeat(32).as_str());
        let sealed = key.seal("bazaar_session", b"hello").unwrap();
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "a cookie-safe value: {sealed}"
        );
        assert_eq!(
            key.open("bazaar_session", &sealed).as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(key.open("__Host-bazaar_session", &sealed), None);
        let other = SessionKey::from_secret("j".repeat(32).as_str());
        assert_eq!(other.open("bazaar_session", &sealed), None);
        assert_ne!(
            key.seal("bazaar_session", b"hello").unwrap(),
            sealed,
            "a fresh nonce every time"
        );
    }

    #[test]
    fn a_changed_value_does_not_open() {
        let key = SessionKey::random().unwrap();
        let sealed = URL_SAFE_NO_PAD
            .decode(key.seal("bazaar_session", b"hello").unwrap())
            .unwrap();
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            let value = URL_SAFE_NO_PAD.encode(&tampered);
            assert_eq!(key.open("bazaar_session", &value), None, "byte {i}");
        }
        for bad in [
            "",
            "not base64!",
            &URL_SAFE_NO_PAD.encode([VERSION]),
            &URL_SAFE_NO_PAD.encode(&sealed[..sealed.len() - 1]),
        ] {
            assert_eq!(key.open("bazaar_session", bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replicas_given_one_secret_share_a_key_and_other_shops_do_not() {
        let sealed = SessionKey::from_service_secret(MASTER, "storefront")
            .seal("bazaar_session", b"s")
            .unwrap();
        let opens = |key: SessionKey| key.open("bazaar_session", &sealed).is_some();
        assert!(opens(SessionKey::from_service_secret(MASTER, "storefront")));
        assert!(
            opens(SessionKey::from_service_secret(
                &platform::auth::service_key(MASTER, "storefront"),
                "storefront"
            )),
            "given the storefront's own key instead of the master"
        );
        assert!(!opens(SessionKey::from_service_secret(
            "another-shops-master-secret-of-32-chars",
            "storefront"
        )));
        assert!(!opens(SessionKey::from_service_secret(MASTER, "orders")));
        assert!(
            !opens(SessionKey::from_secret(MASTER)),
            "the master itself is not the key"
        );
        assert!(!opens(SessionKey::random().unwrap()));
    }

    #[test]
    fn an_explicit_key_comes_first_and_none_at_all_is_random() {
        let explicit = Secret::new("e".repeat(32));
        let service = Secret::new(MASTER);
        let sealed = SessionKey::configured(Some(&explicit), &service, "storefront")
            .unwrap()
            .seal("n", b"x")
            .unwrap();
        assert!(
            SessionKey::from_secret(explicit.expose())
                .open("n", &sealed)
                .is_some()
        );
        let from_service = SessionKey::configured(Some(&Secret::default()), &service, "storefront")
            .unwrap()
            .seal("n", b"x")
            .unwrap();
        assert!(
            SessionKey::from_service_secret(MASTER, "storefront")
                .open("n", &from_service)
                .is_some(),
            "an empty BAZAAR_SESSION_KEY is no key"
        );
        let a = SessionKey::configured(None, &Secret::default(), "storefront").unwrap();
        let b = SessionKey::configured(None, &Secret::default(), "storefront").unwrap();
        assert!(b.open("n", &a.seal("n", b"x").unwrap()).is_none());
    }

    #[test]
    fn keys_do_not_print() {
        assert_eq!(
            format!("{:?}", SessionKey::from_secret("s")),
            "SessionKey([redacted])"
        );
    }
}
