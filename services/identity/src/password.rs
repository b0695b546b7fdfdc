//! Password hashing with argon2id at OWASP's parameters, off the async runtime.

use crate::error::Error;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::sync::Arc;

/// OWASP's first recommended argon2id configuration: 19 MiB, two passes, one lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Hashes and checks passwords. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    /// A hash of nothing anyone knows, checked against when the account does not exist so
    /// that an unknown email takes as long to refuse as a wrong password.
    dummy: Arc<str>,
}

impl Hasher {
    /// A hasher with the standard parameters (computes one hash, for the dummy).
    pub async fn new() -> Result<Self, Error> {
        let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
            .map_err(argon2::password_hash::Error::from)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self {
            argon2,
            dummy: Arc::from(""),
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let unguessable = crate::keys::b64url(&secret);
        hasher.dummy = Arc::from(hasher.hash(unguessable).await?);
        Ok(hasher)
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || {
            let hash: PasswordHash = argon2.hash_password(password.as_bytes())?;
            Ok(hash.to_string())
        })
        .await?
    }

    /// Whether `password` matches `phc`; with no `phc` (no such account) it does the same
    /// work against the dummy and answers `false`.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Error> {
        let argon2 = self.argon2.clone();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        tokio::task::spawn_blocking(move || {
            match argon2.verify_password(password.as_bytes(), phc.as_str()) {
                Ok(()) => Ok(known),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(e) => Err(Error::PasswordHash(e)),
            }
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_owasp_parameters_and_verifies() {
        let h = Hasher::new().await.unwrap();
        let phc = h.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            h.verify("correct horse battery".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("wrong horse battery".into(), Some(phc))
                .await
                .unwrap()
        );
        assert!(!h.verify("anything".into(), None).await.unwrap());
    }
}
