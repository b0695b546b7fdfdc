//! The Ed25519 signing key (generated once, kept in the database), the JWKS that publishes
//! it, and the minting of access and refresh tokens.

use crate::{
    error::Error,
    store::{SigningKeyRecord, Store, UserRecord},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use platform::auth::{Claims, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// One public key as a JSON Web Key (RFC 8037's `OKP` form).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PublicJwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key id that tokens name in their header.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// The key set served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// The signing key, every key still trusted, and what goes into each token.
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    jwks: Jwks,
    verifier: Verifier,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
}

impl Keys {
    /// Loads the stored keys, generating and storing the first one on a fresh database. The
    /// oldest key signs; every stored key verifies, so tokens survive restarts.
    pub async fn load_or_generate(
        store: &Store,
        verifier: Verifier,
        issuer: &str,
        audience: &str,
        access_ttl_secs: u64,
    ) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        let candidate = SigningKey::from_bytes(&seed);
        let der = candidate
            .to_pkcs8_der()
            .map_err(|e| Error::Corrupt(format!("could not encode a new key: {e}")))?;
        let candidate = SigningKeyRecord {
            kid: kid_of(&candidate),
            private_key: STANDARD.encode(der.as_bytes()),
            created_at: events::envelope::now_rfc3339(),
        };
        if store.insert_first_signing_key(&candidate).await? {
            tracing::info!(kid = %candidate.kid, "generated the token signing key");
        }
        let records = store.signing_keys().await?;
        let mut jwks = Jwks { keys: Vec::new() };
        let mut signer = None;
        for record in &records {
            let der = STANDARD
                .decode(&record.private_key)
                .map_err(|e| Error::Corrupt(format!("signing key {}: {e}", record.kid)))?;
            let key = SigningKey::from_pkcs8_der(&der)
                .map_err(|e| Error::Corrupt(format!("signing key {}: {e}", record.kid)))?;
            if kid_of(&key) != record.kid {
                return Err(Error::Corrupt(format!(
                    "signing key {} does not match its id",
                    record.kid
                )));
            }
            let x = b64url(key.verifying_key().as_bytes());
            verifier.insert_key(&record.kid, DecodingKey::from_ed_components(&x)?);
            jwks.keys.push(PublicJwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x,
                kid: record.kid.clone(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            });
            if signer.is_none() {
                signer = Some((record.kid.clone(), EncodingKey::from_ed_der(&der)));
            }
        }
        let (kid, encoding) =
            signer.ok_or_else(|| Error::Corrupt("no signing key is stored".into()))?;
        Ok(Self {
            kid,
            encoding,
            jwks,
            verifier,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX),
        })
    }

    /// The verifier that trusts exactly these keys.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// Seconds an access token lives.
    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// A signed access token for `user`.
    pub fn mint_access_token(&self, user: &UserRecord) -> Result<String, Error> {
        self.mint(
            user.id.clone(),
            user.email.clone(),
            user.name.clone(),
            user.roles.clone(),
        )
    }

    fn mint(
        &self,
        sub: String,
        email: String,
        name: String,
        roles: Vec<String>,
    ) -> Result<String, Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub,
            email,
            name,
            roles,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now.saturating_add(self.access_ttl_secs),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

impl Keys {
    /// A token for another Bazaar service: role `service`, subject `service:<name>`.
    pub fn mint_service_token(&self, service: &str) -> Result<String, Error> {
        self.mint(
            format!("service:{service}"),
            format!("{service}@services.bazaar.internal"),
            service.to_owned(),
            vec![platform::auth::ROLE_SERVICE.to_owned()],
        )
    }
}

/// A fresh refresh token and the SHA-256 hash under which it is stored; the token itself
/// is never stored.
pub fn new_refresh_token() -> Result<(String, String), Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = b64url(&bytes);
    let hash = refresh_token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a refresh token.
pub fn refresh_token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The key id: the first 16 hex digits of the SHA-256 of the public key.
fn kid_of(key: &SigningKey) -> String {
    let mut h = hex(&Sha256::digest(key.verifying_key().as_bytes()));
    h.truncate(16);
    h
}

/// Base64url without padding, as JOSE uses.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in base64url without padding");
        assert_eq!(ha, refresh_token_hash(&a));
        assert_eq!(ha.len(), 64);
        assert_ne!(ha, a);
    }

    #[test]
    fn kid_is_16_hex_digits_of_the_public_key_hash() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let kid = kid_of(&key);
        assert_eq!(kid.len(), 16);
        assert!(kid.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(kid, kid_of(&SigningKey::from_bytes(&[7u8; 32])));
        assert_ne!(kid, kid_of(&SigningKey::from_bytes(&[8u8; 32])));
    }

    #[test]
    fn published_keys_parse_as_a_jwk_set() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let jwks = Jwks {
            keys: vec![PublicJwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: b64url(key.verifying_key().as_bytes()),
                kid: kid_of(&key),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            }],
        };
        let json = serde_json::to_value(&jwks).unwrap();
        assert_eq!(json["keys"][0]["use"], "sig");
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(json).unwrap();
        let jwk = set.find(&kid_of(&key)).unwrap();
        assert!(DecodingKey::from_jwk(jwk).is_ok());
    }
}
