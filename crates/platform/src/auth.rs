//! Bearer-token verification: identity signs EdDSA JWTs; every service checks them against
//! identity's JWKS, caching the keys and fetching again when a token names an unknown `kid`.
//!
//! Verification pins the algorithm (EdDSA only: no `none`, no HMAC confusion) and checks
//! `iss`, `aud` and `exp` on every token.

use crate::problem::Problem;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};
use tokio::sync::Mutex;

/// The role that may change the catalog, stock and other shop-wide data.
pub const ROLE_ADMIN: &str = "admin";
/// The role of every registered shopper.
pub const ROLE_CUSTOMER: &str = "customer";
/// The role of a service calling another service (a token from identity's
/// `/api/identity/service-tokens`).
pub const ROLE_SERVICE: &str = "service";

/// The claims of a Bazaar access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// A unique id per token.
    pub jti: String,
}

impl Claims {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ROLE_ADMIN)
    }

    pub fn is_service(&self) -> bool {
        self.roles.iter().any(|r| r == ROLE_SERVICE)
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted (only EdDSA is)")]
    Algorithm,
    #[error("the token names no key id")]
    MissingKid,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token was issued for another audience")]
    Audience,
    #[error("the token was issued by an unknown issuer")]
    Issuer,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

impl From<TokenError> for Problem {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::KeysUnavailable(_) => Problem::unavailable(
                "token verification is unavailable: the identity service cannot be reached",
                2,
            ),
            other => Problem::unauthorized(other.to_string()),
        }
    }
}

/// How long fetched keys are trusted before a routine refresh.
const KEY_TTL: Duration = Duration::from_secs(300);
/// The least time between two fetches triggered by unknown key ids, so a flood of forged
/// tokens cannot turn into a flood of JWKS requests.
const REFETCH_INTERVAL: Duration = Duration::from_secs(5);

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies access tokens. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    jwks_url: Option<String>,
    http: reqwest::Client,
    validation: Validation,
    cache: RwLock<KeyCache>,
    fetch_lock: Mutex<()>,
}

impl Verifier {
    /// A verifier that fetches keys from `jwks_url` (identity's
    /// `/api/identity/.well-known/jwks.json`).
    pub fn remote(jwks_url: impl Into<String>, issuer: &str, audience: &str) -> Self {
        Self::build(Some(jwks_url.into()), issuer, audience)
    }

    /// A verifier with only the keys given to [`Verifier::insert_key`] (identity itself).
    pub fn local(issuer: &str, audience: &str) -> Self {
        Self::build(None, issuer, audience)
    }

    fn build(jwks_url: Option<String>, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            inner: Arc::new(VerifierInner {
                jwks_url,
                http: crate::client::builder()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .unwrap_or_default(),
                validation,
                cache: RwLock::new(KeyCache {
                    keys: HashMap::new(),
                    fetched_at: None,
                }),
                fetch_lock: Mutex::new(()),
            }),
        }
    }

    /// Adds or replaces a trusted key.
    pub fn insert_key(&self, kid: &str, key: DecodingKey) {
        if let Ok(mut c) = self.inner.cache.write() {
            c.keys.insert(kid.to_owned(), key);
        }
    }

    /// Checks a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = match self.cached_key(&kid, false) {
            Some(k) => k,
            None => {
                // A key fetched a while ago still verifies while identity is unreachable:
                // keys are rotated by adding, never by taking back a kid.
                let refreshed = self.refresh(true).await;
                match (self.cached_key(&kid, true), refreshed) {
                    (Some(k), _) => k,
                    (None, Err(e)) => return Err(e),
                    (None, Ok(())) => return Err(TokenError::UnknownKey),
                }
            }
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &self.inner.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => TokenError::Expired,
                    K::InvalidSignature => TokenError::Signature,
                    K::InvalidAudience => TokenError::Audience,
                    K::InvalidIssuer => TokenError::Issuer,
                    K::InvalidAlgorithm => TokenError::Algorithm,
                    K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                        TokenError::Malformed
                    }
                    other => TokenError::Invalid(format!("{other:?}")),
                }
            })?;
        Ok(data.claims)
    }

    fn cached_key(&self, kid: &str, allow_stale: bool) -> Option<DecodingKey> {
        let c = self.inner.cache.read().ok()?;
        let fresh =
            self.inner.jwks_url.is_none() || c.fetched_at.is_some_and(|t| t.elapsed() < KEY_TTL);
        if fresh || allow_stale {
            c.keys.get(kid).cloned()
        } else {
            None
        }
    }

    /// Fetches the key set; `unknown_kid` fetches are rate-limited.
    async fn refresh(&self, unknown_kid: bool) -> Result<(), TokenError> {
        let Some(url) = &self.inner.jwks_url else {
            return Ok(());
        };
        let _guard = self.inner.fetch_lock.lock().await;
        let recently = self
            .inner
            .cache
            .read()
            .ok()
            .and_then(|c| c.fetched_at)
            .is_some_and(|t| t.elapsed() < REFETCH_INTERVAL);
        if unknown_kid && recently {
            return Ok(());
        }
        let set: JwkSet = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                keys.insert(kid.clone(), key);
            }
        }
        if let Ok(mut c) = self.inner.cache.write() {
            c.keys = keys;
            c.fetched_at = Some(Instant::now());
        }
        Ok(())
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, Problem> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not valid text"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Problem::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// A signed-in user: extracting it answers 401 without a valid bearer token.
#[derive(Debug, Clone)]
pub struct User(pub Claims);

impl<S> FromRequestParts<S> for User
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or_else(|| {
            Problem::unauthorized("this endpoint needs a bearer token: sign in first")
        })?;
        let verifier = Verifier::from_ref(state);
        Ok(User(verifier.verify(token).await?))
    }
}

/// A signed-in user if the request carries a token; a present but invalid token is still
/// refused with 401.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<Claims>);

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            None => Ok(MaybeUser(None)),
            Some(token) => {
                let verifier = Verifier::from_ref(state);
                Ok(MaybeUser(Some(verifier.verify(token).await?)))
            }
        }
    }
}

/// An administrator: 401 without a valid token, 403 for a user without the admin role.
#[derive(Debug, Clone)]
pub struct Admin(pub Claims);

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let User(claims) = User::from_request_parts(parts, state).await?;
        if claims.is_admin() {
            Ok(Admin(claims))
        } else {
            Err(Problem::forbidden("this action is for administrators only"))
        }
    }
}

/// Another Bazaar service (or an administrator): 401 without a valid token, 403 for a
/// user token. Guards the internal endpoints the checkout saga calls.
#[derive(Debug, Clone)]
pub struct ServiceCaller(pub Claims);

impl<S> FromRequestParts<S> for ServiceCaller
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let User(claims) = User::from_request_parts(parts, state).await?;
        if claims.is_service() || claims.is_admin() {
            Ok(ServiceCaller(claims))
        } else {
            Err(Problem::forbidden(
                "this endpoint is for Bazaar's own services",
            ))
        }
    }
}

/// A service's own credential for calling other services: a service token from
/// identity, fetched with the shared service secret, cached, and renewed a minute
/// before it expires.
#[derive(Clone)]
pub struct ServiceCredentials {
    inner: Arc<CredentialsInner>,
}

struct CredentialsInner {
    service: String,
    url: String,
    secret: crate::config::Secret,
    http: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct ServiceToken {
    access_token: String,
    expires_in: u64,
}

impl ServiceCredentials {
    /// Credentials of `service`, from identity at `identity_url`.
    pub fn new(service: &str, identity_url: &str, secret: crate::config::Secret) -> Self {
        Self {
            inner: Arc::new(CredentialsInner {
                service: service.to_owned(),
                url: format!(
                    "{}/api/identity/service-tokens",
                    identity_url.trim_end_matches('/')
                ),
                secret,
                http: crate::client::builder()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .unwrap_or_default(),
                cached: Mutex::new(None),
            }),
        }
    }

    /// A valid service token (`Authorization: Bearer …`).
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.inner.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let res = self
            .inner
            .http
            .post(&self.inner.url)
            .json(&serde_json::json!({
                "service": self.inner.service,
                "secret": self.inner.secret.expose(),
            }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| TokenError::KeysUnavailable(format!("no service token: {e}")))?;
        let t: ServiceToken = res
            .json()
            .await
            .map_err(|e| TokenError::KeysUnavailable(format!("no service token: {e}")))?;
        let renew_at = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(60).max(1));
        *cached = Some((t.access_token.clone(), renew_at));
        Ok(t.access_token)
    }

    /// Forgets the cached token (after a 401, say).
    pub async fn invalidate(&self) {
        *self.inner.cached.lock().await = None;
    }
}
