//! Bearer-token verification: identity signs EdDSA JWTs; every service checks them against
//! identity's JWKS, caching the keys and fetching again when a token names an unknown `kid`.
//!
//! Verification pins the algorithm (EdDSA only: no `none`, no HMAC confusion) and checks
//! `iss`, `aud` and `exp` on every token. A token verified once is remembered, keyed by the
//! whole token, until it expires or for [`VERIFIED_TTL`], whichever comes first: a
//! signature check costs more than the gateway's whole forwarding of a request, and keys
//! are rotated by adding, never by taking one back, so a token valid a minute ago still is.

use crate::{client::ServiceClient, problem::Problem};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use http::Method;
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

    /// The calling service's name (`catalog`) when this is a service token, whose subject
    /// is `service:<name>`.
    pub fn service_name(&self) -> Option<&str> {
        self.is_service()
            .then(|| self.sub.strip_prefix("service:"))
            .flatten()
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
            TokenError::KeysUnavailable(_) => Problem::dependency_unavailable(
                "token verification is unavailable: the identity service cannot be reached",
                2,
            ),
            other => Problem::invalid_token(other.to_string()),
        }
    }
}

/// How long fetched keys are trusted before a routine refresh: also how long a key
/// withdrawn at identity (taken out of its key file after a leak) goes on verifying here.
/// Five minutes let a token signed with a leaked key through the gateway and four services
/// for that long after its removal (the keys review); a fetch every 30 s per process costs
/// nothing that shows.
const KEY_TTL: Duration = Duration::from_secs(30);
/// The least time between two fetches triggered by unknown key ids, so a flood of forged
/// tokens cannot turn into a flood of JWKS requests (one a second per process at most).
/// It is also how long a key signing at once (an emergency rotation) may be refused by a
/// verifier that fetched the keys just before: 5 s refused every new sign-in's token
/// that long (the storefront-replicas review).
const REFETCH_INTERVAL: Duration = Duration::from_secs(1);

/// How a verifier of given keys reads them again ([`Verifier::reload_with`]).
type Reload = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// The longest a verified token is taken on trust without checking it again.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How many verified tokens are remembered at most (least recently used go first).
const VERIFIED_CAPACITY: u64 = 20_000;

/// A token's claims, and until when they may be used without verifying it again.
#[derive(Clone)]
struct Verified {
    claims: Arc<Claims>,
    until: Instant,
}

/// Each verified token is forgotten at its own `until`.
struct UntilExpiry;

impl moka::Expiry<Arc<str>, Verified> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &Arc<str>,
        verified: &Verified,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(verified.until.saturating_duration_since(created_at))
    }
}

/// Until when a token expiring at `exp` (Unix seconds), verified at `now`, is trusted:
/// its expiry or [`VERIFIED_TTL`] from `at`, whichever comes first.
fn trusted_until(exp: i64, now: i64, at: Instant) -> Instant {
    let left = Duration::from_secs(u64::try_from(exp - now).unwrap_or(0));
    at + VERIFIED_TTL.min(left)
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    /// The last fetches' failure, while identity keeps failing.
    failing: Option<Failing>,
}

/// Fetches of the key set that failed in a row: until `at` + [`backoff`] of `count`,
/// requests are answered with `error` (or a stale key) without asking identity again.
#[derive(Clone)]
struct Failing {
    at: Instant,
    count: u32,
    error: String,
}

/// How long after the `count`th failed fetch in a row the next one waits: 0.5 s, doubling,
/// at most [`MAX_BACKOFF`].
fn backoff(count: u32) -> Duration {
    let doubled = 2u32.saturating_pow(count.saturating_sub(1).min(16));
    (Duration::from_millis(500) * doubled).min(MAX_BACKOFF)
}

/// The longest a verifier waits before asking a failing identity for keys again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Verifies access tokens. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    /// Identity, whose keys are fetched; `None` for a verifier of given keys only.
    identity: Option<ServiceClient>,
    /// For a verifier of given keys, how it reads them again on meeting a key id it does
    /// not know (identity's, whose keys another replica may have rotated a moment ago).
    reload: std::sync::OnceLock<Reload>,
    validation: Validation,
    cache: RwLock<KeyCache>,
    fetch_lock: Mutex<()>,
    /// Keyed by the whole token, hashed with foldhash: only tokens verified are put in, so
    /// nobody can fill it with keys chosen to collide, which is what SipHash (std's
    /// default, ~1,400 instructions a look-up of a 470-byte token) guards against.
    verified: moka::sync::Cache<Arc<str>, Verified, foldhash::fast::RandomState>,
}

/// Where identity publishes its public keys.
const JWKS_PATH: &str = "/api/identity/.well-known/jwks.json";
/// How long a key fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

impl Verifier {
    /// A verifier that fetches keys from identity's replicas through `identity`.
    pub fn new(identity: ServiceClient, issuer: &str, audience: &str) -> Self {
        Self::build(Some(identity), issuer, audience)
    }

    /// A verifier that fetches keys from the one identity at `identity_url`.
    pub fn remote(identity_url: &str, issuer: &str, audience: &str) -> Self {
        let identity = ServiceClient::fixed("identity", identity_url, FETCH_TIMEOUT);
        Self::build(Some(identity), issuer, audience)
    }

    /// A verifier with only the keys given to [`Verifier::insert_key`] and
    /// [`Verifier::set_keys`] (identity itself).
    pub fn local(issuer: &str, audience: &str) -> Self {
        Self::build(None, issuer, audience)
    }

    fn build(identity: Option<ServiceClient>, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        // Identity issues no `nbf`, but a token that carries one is not good before it.
        validation.validate_nbf = true;
        Self {
            inner: Arc::new(VerifierInner {
                identity,
                reload: std::sync::OnceLock::new(),
                validation,
                cache: RwLock::new(KeyCache {
                    keys: HashMap::new(),
                    fetched_at: None,
                    failing: None,
                }),
                fetch_lock: Mutex::new(()),
                verified: moka::sync::Cache::builder()
                    .max_capacity(VERIFIED_CAPACITY)
                    .expire_after(UntilExpiry)
                    .build_with_hasher(foldhash::fast::RandomState::default()),
            }),
        }
    }

    /// For a verifier of given keys ([`Verifier::local`]): `reload` reads them again (and
    /// gives them to [`Verifier::set_keys`]) when a token names a key id it does not know,
    /// at most once every [`REFETCH_INTERVAL`]. Set once; later calls change nothing.
    pub fn reload_with<F, Fut>(&self, reload: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let _ = self.inner.reload.set(Box::new(move || {
            Box::pin(reload()) as std::pin::Pin<Box<_>>
        }));
    }

    /// Adds or replaces a trusted key.
    pub fn insert_key(&self, kid: &str, key: DecodingKey) {
        if let Ok(mut c) = self.inner.cache.write() {
            c.keys.insert(kid.to_owned(), key);
        }
    }

    /// Trusts exactly `keys` from now on: a key not among them verifies no more (a
    /// retired key, a compromised one rotated out), nor do the tokens it verified before.
    pub fn set_keys(&self, keys: impl IntoIterator<Item = (String, DecodingKey)>) {
        if let Ok(mut c) = self.inner.cache.write() {
            self.replace_keys(&mut c, keys.into_iter().collect());
        }
    }

    /// Puts `keys` in the cache's place; when one it had is gone, the tokens verified
    /// before are forgotten (they are few, and a key goes seldom), so that none signed by
    /// it is still answered from memory.
    fn replace_keys(&self, cache: &mut KeyCache, keys: HashMap<String, DecodingKey>) {
        let dropped = cache.keys.keys().any(|kid| !keys.contains_key(kid));
        cache.keys = keys;
        if dropped {
            self.inner.verified.invalidate_all();
        }
    }

    /// Checks a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_shared(token).await.map(Arc::unwrap_or_clone)
    }

    /// [`Verifier::verify`], answering a token verified before from memory (until it
    /// expires, for at most [`VERIFIED_TTL`]).
    pub async fn verify_shared(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        if let Some(v) = self.inner.verified.get(token)
            && v.until > Instant::now()
        {
            return Ok(v.claims);
        }
        // Boxed: a check may fetch identity's keys, a future of some 2 KiB that would
        // otherwise make every caller's future that much larger, cache hit or not.
        let claims = Arc::new(Box::pin(self.check(token)).await?);
        let until = trusted_until(claims.exp, chrono::Utc::now().timestamp(), Instant::now());
        self.inner.verified.insert(
            Arc::from(token),
            Verified {
                claims: claims.clone(),
                until,
            },
        );
        Ok(claims)
    }

    /// Verifies `token`'s signature and claims against identity's keys.
    async fn check(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        if names_critical_extensions(token) {
            // RFC 7515 §4.1.11: an extension the verifier does not know, marked as one it
            // must understand, makes the token invalid (this verifier knows none).
            return Err(TokenError::Invalid(
                "it names critical header extensions (`crit`) this service does not know".into(),
            ));
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
        // Issued later than now (past the clock leeway): no key holder's clock says so.
        let leeway = i64::try_from(self.inner.validation.leeway).unwrap_or(i64::MAX);
        if data.claims.iat > chrono::Utc::now().timestamp().saturating_add(leeway) {
            return Err(TokenError::Invalid("it was issued in the future".into()));
        }
        Ok(data.claims)
    }

    /// Fetches identity's keys once, now, trying again after each failure's [`backoff`]
    /// until they come or `stop` fires: a service started while identity is up can then
    /// verify tokens if identity goes down before its first signed-in request (it fetched
    /// them at that request before, and answered 503 to every user meanwhile).
    pub async fn warm(&self, stop: crate::shutdown::Shutdown) {
        let mut failures = 0;
        while self.refresh(false).await.is_err() {
            failures += 1;
            tokio::select! {
                () = tokio::time::sleep(backoff(failures)) => {}
                () = stop.wait() => return,
            }
        }
    }

    /// Whether it holds any of identity's keys (fetched, or its own).
    pub fn has_keys(&self) -> bool {
        self.inner.cache.read().is_ok_and(|c| !c.keys.is_empty())
    }

    fn cached_key(&self, kid: &str, allow_stale: bool) -> Option<DecodingKey> {
        let c = self.inner.cache.read().ok()?;
        let fresh =
            self.inner.identity.is_none() || c.fetched_at.is_some_and(|t| t.elapsed() < KEY_TTL);
        if fresh || allow_stale {
            c.keys.get(kid).cloned()
        } else {
            None
        }
    }

    /// Fetches the key set, one fetch at a time: requests waiting meanwhile take its
    /// outcome. `unknown_kid` fetches are rate-limited, and after a failure none is tried
    /// again until its [`backoff`] has passed (stale keys go on verifying meanwhile).
    async fn refresh(&self, unknown_kid: bool) -> Result<(), TokenError> {
        let Some(identity) = &self.inner.identity else {
            return self.reload(unknown_kid).await;
        };
        let _guard = self.inner.fetch_lock.lock().await;
        let (recently, failing) = match self.inner.cache.read() {
            Ok(c) => (
                c.fetched_at.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL),
                c.failing.clone(),
            ),
            Err(_) => (false, None),
        };
        if unknown_kid && recently {
            return Ok(());
        }
        if let Some(f) = &failing
            && f.at.elapsed() < backoff(f.count)
        {
            return Err(TokenError::KeysUnavailable(f.error.clone()));
        }
        let fetched = async {
            let set: JwkSet = identity
                .send(Method::GET, JWKS_PATH, |r| r)
                .await
                .map_err(|e| e.to_string())?
                .error_for_status()
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(set)
        }
        .await;
        let Ok(mut c) = self.inner.cache.write() else {
            return Err(TokenError::KeysUnavailable(
                "the key cache is poisoned".into(),
            ));
        };
        match fetched {
            Ok(set) => {
                let keys = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let kid = jwk.common.key_id.clone()?;
                        DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
                    })
                    .collect();
                self.replace_keys(&mut c, keys);
                c.fetched_at = Some(Instant::now());
                c.failing = None;
                Ok(())
            }
            Err(error) => {
                let count = failing.map_or(1, |f| f.count.saturating_add(1));
                tracing::warn!(%error, failures = count, retry_in = ?backoff(count), "cannot fetch identity's keys");
                c.failing = Some(Failing {
                    at: Instant::now(),
                    count,
                    error: error.clone(),
                });
                Err(TokenError::KeysUnavailable(error))
            }
        }
    }
}

impl Verifier {
    /// A verifier of given keys reads them again, if it knows how ([`Verifier::reload_with`]),
    /// for an unknown key id and at most once every [`REFETCH_INTERVAL`]; failing, it goes
    /// on with the keys it has.
    async fn reload(&self, unknown_kid: bool) -> Result<(), TokenError> {
        let Some(reload) = self.inner.reload.get().filter(|_| unknown_kid) else {
            return Ok(());
        };
        let _guard = self.inner.fetch_lock.lock().await;
        let recently = self
            .inner
            .cache
            .read()
            .is_ok_and(|c| c.fetched_at.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL));
        if recently {
            return Ok(());
        }
        let outcome = reload().await;
        if let Ok(mut c) = self.inner.cache.write() {
            c.fetched_at = Some(Instant::now());
        }
        if let Err(error) = outcome {
            tracing::warn!(%error, "could not read the signing keys again");
        }
        Ok(())
    }
}

/// Whether the JOSE header of `token` (its first part) has a `crit` member.
fn names_critical_extensions(token: &str) -> bool {
    use base64::Engine as _;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .is_some_and(|h| h.get("crit").is_some())
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, Problem> {
    let mut all = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    // One field, one value (RFC 9110 §11.6.2): of two, the first was taken, and which one
    // a proxy before us took is anyone's guess.
    if all.next().is_some() {
        return Err(Problem::bad_request(
            "send one Authorization header: this request has several",
        ));
    }
    // UTF-8, not `to_str`'s visible ASCII byte by byte: the check runs a word at a time
    // over the ASCII of a token (this function: 834 → 718 instructions for a 470-byte
    // token), and a token with other characters fails its verification anyway.
    let value = std::str::from_utf8(value.as_bytes())
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

/// A signed-in user: extracting it answers 401 without a valid bearer token, and 403 for a
/// service's token, which acts for no person (with one, a caller made a cart and read
/// order lists of a user named `service:storefront`: the keys review).
#[derive(Debug, Clone)]
pub struct User(pub Claims);

/// A person's claims, or 403 for a service's.
fn a_person(claims: Claims) -> Result<Claims, Problem> {
    if claims.is_service() {
        return Err(Problem::forbidden(
            "a service's token acts for no person: this endpoint is for a signed-in user",
        ));
    }
    Ok(claims)
}

impl<S> FromRequestParts<S> for User
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(User(a_person(verified(parts, state).await?)?))
    }
}

/// The claims of the request's bearer token, a person's or a service's: 401 without a
/// valid one.
async fn verified<S>(parts: &mut Parts, state: &S) -> Result<Claims, Problem>
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    let token = bearer(parts)?.ok_or_else(|| {
        Problem::unauthorized("this endpoint needs a bearer token: sign in first")
    })?;
    let verifier = Verifier::from_ref(state);
    Ok(verifier.verify(token).await?)
}

/// A signed-in user if the request carries a token; a present but invalid token is still
/// refused with 401, and a service's with 403 (as [`User`]).
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
                Ok(MaybeUser(Some(a_person(verifier.verify(token).await?)?)))
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
        let allowed = |c: &Claims| c.is_admin();
        let refusal = "this action is for administrators only";
        user_who(parts, state, allowed, refusal).await.map(Admin)
    }
}

/// The verified caller of `parts` if `allowed` admits it: 401 without a valid token, 403
/// (saying `refusal`) for one it does not.
async fn user_who<S>(
    parts: &mut Parts,
    state: &S,
    allowed: impl Fn(&Claims) -> bool,
    refusal: &'static str,
) -> Result<Claims, Problem>
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    let claims = verified(parts, state).await?;
    if allowed(&claims) {
        Ok(claims)
    } else {
        Err(Problem::forbidden(refusal))
    }
}

/// Another Bazaar service: 401 without a valid token, 403 for a user's, an
/// administrator's included. Guards the internal endpoints (the checkout saga's calls,
/// the event feeds): the outside contract has them answer service credentials only, and
/// an administrator's token holding those powers would let anyone who steals one move
/// stock and money around the saga.
#[derive(Debug, Clone)]
pub struct ServiceCaller(pub Claims);

impl<S> FromRequestParts<S> for ServiceCaller
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let allowed = |c: &Claims| c.is_service();
        let refusal = "this endpoint is for Bazaar's own services";
        user_who(parts, state, allowed, refusal)
            .await
            .map(ServiceCaller)
    }
}

/// Another Bazaar service or an administrator: 401 without a valid token, 403 for a
/// customer's. For what operators and the ops console share (the supervisor's process
/// list), never for the internal endpoints ([`ServiceCaller`]).
#[derive(Debug, Clone)]
pub struct ServiceOrAdmin(pub Claims);

impl<S> FromRequestParts<S> for ServiceOrAdmin
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let allowed = |c: &Claims| c.is_service() || c.is_admin();
        let refusal = "this endpoint is for Bazaar's services and administrators";
        user_who(parts, state, allowed, refusal)
            .await
            .map(ServiceOrAdmin)
    }
}

/// The services an internal endpoint answers: a caller list as a type, so a handler's
/// signature says who may call it (`CalledBy<callers::Orders>`).
pub trait Callers: Send + Sync + 'static {
    /// The services allowed, by name.
    const NAMES: &'static [&'static str];
}

/// Caller lists of Bazaar's internal endpoints.
pub mod callers {
    /// Only the checkout saga: payments' authorisations, inventory's reservations and the
    /// cart's holds.
    #[derive(Debug, Clone, Copy)]
    pub struct Orders;

    impl super::Callers for Orders {
        const NAMES: &'static [&'static str] = &["orders"];
    }
}

/// One of the services `C` names: 401 without a valid token, 403 for a user's token (an
/// administrator's too) or another service's. Each service has its own credential (see
/// [`ServiceCredentials`]), so a service that needs no internal power — the storefront,
/// which faces the public — cannot use one even if it is compromised.
#[derive(Debug, Clone)]
pub struct CalledBy<C: Callers>(pub Claims, pub std::marker::PhantomData<C>);

impl<S, C> FromRequestParts<S> for CalledBy<C>
where
    S: Send + Sync,
    Verifier: FromRef<S>,
    C: Callers,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ServiceCaller(claims) = ServiceCaller::from_request_parts(parts, state).await?;
        let allowed = claims
            .service_name()
            .is_some_and(|name| C::NAMES.contains(&name));
        if allowed {
            Ok(CalledBy(claims, std::marker::PhantomData))
        } else {
            Err(Problem::forbidden(format!(
                "this endpoint answers only {}",
                C::NAMES.join(", ")
            )))
        }
    }
}

/// What a service key starts with: `bzsk1.<service>.<mac>`.
const SERVICE_KEY_PREFIX: &str = "bzsk1";

/// The shortest master service secret identity accepts (`BAZAAR_SERVICE_SECRET`).
pub const MIN_SERVICE_SECRET_LEN: usize = 32;

/// The key `service` presents to identity for its tokens, derived from the shop's master
/// service secret: `bzsk1.<service>.<HMAC-SHA256(master, service), base64url>`.
///
/// Only identity holds the master. `bazaar up` hands every other service its own key, so
/// a service (the public-facing storefront, say) that is compromised can mint tokens in
/// its own name only, and each internal endpoint answers only the services it names
/// ([`CalledBy`]). A service given the master itself derives its key and never sends
/// the master.
pub fn service_key(master: &str, service: &str) -> String {
    use base64::Engine;
    use hmac::{Mac, digest::KeyInit};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(master.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"bazaar service key v1\0");
    mac.update(service.as_bytes());
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{SERVICE_KEY_PREFIX}.{service}.{tag}")
}

/// The key `service` presents, given what it was configured with: its own key as is, or
/// the master, from which it derives its key.
pub fn presented_key(configured: &str, service: &str) -> String {
    let own = format!("{SERVICE_KEY_PREFIX}.{service}.");
    if configured.starts_with(&own) {
        configured.to_owned()
    } else {
        service_key(configured, service)
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
    identity: ServiceClient,
    secret: crate::config::Secret,
    cached: Mutex<Option<(String, Instant)>>,
    /// Why identity last refused this service's key, until it takes it again.
    refused: std::sync::Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct ServiceToken {
    access_token: String,
    expires_in: u64,
}

impl std::fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        f.debug_struct("ServiceCredentials")
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

impl ServiceCredentials {
    /// Credentials of `service`, from the one identity at `identity_url`.
    pub fn new(service: &str, identity_url: &str, secret: crate::config::Secret) -> Self {
        let identity = ServiceClient::fixed("identity", identity_url, FETCH_TIMEOUT);
        Self::from_identity(service, identity, secret)
    }

    /// Credentials of `service`, from identity's replicas through `identity`.
    pub fn from_identity(
        service: &str,
        identity: ServiceClient,
        secret: crate::config::Secret,
    ) -> Self {
        Self {
            inner: Arc::new(CredentialsInner {
                service: service.to_owned(),
                identity,
                secret,
                cached: Mutex::new(None),
                refused: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The readiness check of a service that calls others as itself: failing while it
    /// has no secret, or identity refuses the one it has. Either is a configuration
    /// mistake no retry mends, and the service could do none of its calls to internal
    /// endpoints (a checkout would fail as "the cart is not answering").
    pub fn check(&self) -> Result<(), String> {
        if self.inner.secret.is_empty() {
            return Err(
                "BAZAAR_SERVICE_SECRET is empty: this service cannot get a service token".into(),
            );
        }
        match &*self.inner.refused.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// Gets a first token, retrying with a backoff until one comes (or `stop`): whether
    /// identity takes this service's key is known from the start, not at its first call.
    pub async fn warm(&self, stop: crate::shutdown::Shutdown) {
        if self.inner.secret.is_empty() {
            return;
        }
        let mut failures = 0;
        while self.token().await.is_err() {
            failures += 1;
            tokio::select! {
                () = tokio::time::sleep(backoff(failures)) => {}
                () = stop.wait() => return,
            }
        }
    }

    fn note_refusal(&self, refused: Option<String>) {
        *self.inner.refused.lock().unwrap_or_else(|e| e.into_inner()) = refused;
    }

    /// A valid service token (`Authorization: Bearer …`).
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.inner.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let body = serde_json::json!({
            "service": self.inner.service,
            "secret": presented_key(self.inner.secret.expose(), &self.inner.service),
        });
        let res = self
            .inner
            .identity
            .send(Method::POST, "/api/identity/service-tokens", |r| {
                r.json(&body)
            })
            .await
            .map_err(|e| TokenError::KeysUnavailable(format!("no service token: {e}")))?;
        let status = res.status();
        if matches!(
            status,
            http::StatusCode::UNAUTHORIZED | http::StatusCode::FORBIDDEN
        ) {
            let why = format!(
                "identity refuses this service's key ({status}): BAZAAR_SERVICE_SECRET is not \
                 the master secret identity holds, nor the key it derives for {}",
                self.inner.service
            );
            self.note_refusal(Some(why.clone()));
            return Err(TokenError::KeysUnavailable(format!(
                "no service token: {why}"
            )));
        }
        let res = res
            .error_for_status()
            .map_err(|e| TokenError::KeysUnavailable(format!("no service token: {e}")))?;
        let t: ServiceToken = res
            .json()
            .await
            .map_err(|e| TokenError::KeysUnavailable(format!("no service token: {e}")))?;
        let renew_at = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(60).max(1));
        self.note_refusal(None);
        *cached = Some((t.access_token.clone(), renew_at));
        Ok(t.access_token)
    }

    /// Forgets the cached token (after a 401, say).
    pub async fn invalidate(&self) {
        *self.inner.cached.lock().await = None;
    }

    /// Sends a request as this service: `send` is given the cached token, and when the
    /// answer is 401 (the callee no longer takes it: identity's keys changed, or it
    /// expired early) it is given a fresh one, once. `no_token` says why there is none.
    pub async fn send_as<E, F>(
        &self,
        send: impl Fn(String) -> F,
        no_token: impl Fn(TokenError) -> E,
    ) -> Result<reqwest::Response, E>
    where
        F: Future<Output = Result<reqwest::Response, E>>,
    {
        let token = self.token().await.map_err(&no_token)?;
        let res = send(token).await?;
        if res.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        self.invalidate().await;
        let token = self.token().await.map_err(&no_token)?;
        send(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
    use jsonwebtoken::{EncodingKey, Header};

    /// Two Authorization fields: the first was taken, whichever it was (the HTTP review).
    #[test]
    fn a_request_with_two_authorization_headers_is_refused() {
        let parts = |values: &[&str]| {
            let mut req = http::Request::builder().uri("/");
            for v in values {
                req = req.header(header::AUTHORIZATION, *v);
            }
            req.body(()).unwrap().into_parts().0
        };
        let two = parts(&["Bearer a.b.c", "Bearer d.e.f"]);
        let refused = bearer(&two).unwrap_err();
        assert_eq!(refused.status, 400);
        assert!(refused.detail.unwrap().contains("one Authorization"));
        let one = parts(&["Bearer a.b.c"]);
        assert_eq!(bearer(&one).unwrap(), Some("a.b.c"));
        assert_eq!(bearer(&parts(&[])).unwrap(), None);
    }

    #[test]
    fn each_service_has_a_key_of_its_own_that_only_the_master_makes() {
        let master = "m".repeat(MIN_SERVICE_SECRET_LEN);
        let orders = service_key(&master, "orders");
        assert!(orders.starts_with("bzsk1.orders."), "{orders}");
        assert_eq!(orders, service_key(&master, "orders"), "stable");
        assert_ne!(orders, service_key(&master, "storefront"));
        assert_ne!(orders, service_key(&"n".repeat(32), "orders"));
        // A service given its key presents it; given the master, it derives its own key.
        assert_eq!(presented_key(&orders, "orders"), orders);
        assert_eq!(presented_key(&master, "orders"), orders);
        // Another service's key is not its own: presented as a master, it derives
        // something identity will not take as orders' key.
        assert_ne!(
            presented_key(&orders, "storefront"),
            service_key(&master, "storefront")
        );
    }

    fn signer(seed: u8) -> (EncodingKey, DecodingKey) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let der = key.to_pkcs8_der().unwrap();
        (
            EncodingKey::from_ed_der(der.as_bytes()),
            DecodingKey::from_ed_der(key.verifying_key().as_bytes()),
        )
    }

    fn token(key: &EncodingKey, jti: &str, exp_in: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "u-1".into(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            roles: vec![ROLE_CUSTOMER.into()],
            iss: "bazaar".into(),
            aud: "bazaar".into(),
            iat: now,
            exp: now + exp_in,
            jti: jti.into(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    #[tokio::test]
    async fn a_token_not_good_before_a_later_time_is_refused_until_then() {
        let verifier = Verifier::local("bazaar", "bazaar");
        let (sign, verify) = signer(3);
        verifier.insert_key("k1", verify);
        let now = chrono::Utc::now().timestamp();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let with_nbf = |nbf: i64| {
            let claims = serde_json::json!({
                "sub": "u-1", "email": "", "name": "", "roles": [ROLE_CUSTOMER],
                "iss": "bazaar", "aud": "bazaar", "iat": now, "exp": now + 600,
                "jti": format!("nbf-{nbf}"), "nbf": nbf,
            });
            jsonwebtoken::encode(&header, &claims, &sign).unwrap()
        };
        assert!(
            verifier.verify(&with_nbf(now + 3600)).await.is_err(),
            "an hour early"
        );
        assert!(
            verifier.verify(&with_nbf(now - 5)).await.is_ok(),
            "already good"
        );
    }

    #[tokio::test]
    async fn a_verified_token_is_answered_from_memory_and_only_that_token() {
        let verifier = Verifier::local("bazaar", "bazaar");
        let (old_sign, old_verify) = signer(1);
        verifier.insert_key("k1", old_verify);
        let first = token(&old_sign, "t-1", 600);
        assert_eq!(verifier.verify(&first).await.unwrap().jti, "t-1");

        // The key behind `k1` changes: the token verified before is still known, but a
        // new token signed with the old key is checked, and fails.
        let (_, new_verify) = signer(2);
        verifier.insert_key("k1", new_verify);
        assert_eq!(verifier.verify(&first).await.unwrap().jti, "t-1");
        let second = token(&old_sign, "t-2", 600);
        assert_eq!(
            verifier.verify(&second).await.unwrap_err(),
            TokenError::Signature
        );
        // A failure is never remembered as a success, and a tampered token is not the
        // token that was verified.
        let mut tampered = first.clone();
        tampered.push('x');
        assert!(verifier.verify(&tampered).await.is_err());
    }

    #[tokio::test]
    async fn a_key_set_without_a_key_refuses_its_tokens_even_those_verified_before() {
        let verifier = Verifier::local("bazaar", "bazaar");
        let (sign, verify) = signer(1);
        let (_, other) = signer(2);
        verifier.insert_key("k1", verify.clone());
        let first = token(&sign, "t-1", 600);
        assert!(verifier.verify(&first).await.is_ok());
        // The same set again forgets nothing.
        verifier.set_keys([("k1".to_owned(), verify), ("k2".to_owned(), other.clone())]);
        assert!(verifier.verify(&first).await.is_ok());
        // `k1` retired: its token, verified and remembered, is refused all the same.
        verifier.set_keys([("k2".to_owned(), other)]);
        assert_eq!(
            verifier.verify(&first).await.unwrap_err(),
            TokenError::UnknownKey
        );
    }

    #[tokio::test]
    async fn critical_extensions_and_tokens_issued_in_the_future_are_refused() {
        use base64::Engine as _;
        use ed25519_dalek::Signer as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let key = SigningKey::from_bytes(&[7; 32]);
        let (_, verify) = signer(7);
        let verifier = Verifier::local("bazaar", "bazaar");
        verifier.insert_key("k1", verify);
        let now = chrono::Utc::now().timestamp();
        let signed = |header: serde_json::Value, iat: i64| {
            let claims = serde_json::json!({
                "sub": "u-1", "email": "ada@example.com", "name": "Ada", "roles": ["customer"],
                "iss": "bazaar", "aud": "bazaar", "iat": iat, "exp": now + 600, "jti": "t"
            });
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let signature = key.sign(input.as_bytes());
            format!("{input}.{}", b64(&signature.to_bytes()))
        };
        let plain = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"});
        assert!(verifier.verify(&signed(plain.clone(), now)).await.is_ok());
        let mut critical = plain.clone();
        critical["crit"] = serde_json::json!(["x"]);
        critical["x"] = serde_json::json!(1);
        assert!(matches!(
            verifier.verify(&signed(critical, now)).await,
            Err(TokenError::Invalid(why)) if why.contains("crit")
        ));
        assert!(
            verifier
                .verify(&signed(plain.clone(), now + 20))
                .await
                .is_ok(),
            "within the clock leeway"
        );
        assert!(matches!(
            verifier.verify(&signed(plain, now + 3600)).await,
            Err(TokenError::Invalid(why)) if why.contains("future")
        ));
    }

    #[tokio::test]
    async fn keys_warmed_at_start_verify_after_identity_has_gone() {
        use base64::Engine as _;
        let key = SigningKey::from_bytes(&[5; 32]);
        let x =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let jwks = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA", "use": "sig"}
        ]});
        let app = axum::Router::new().route(
            JWKS_PATH,
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let identity = tokio::spawn(async move { axum::serve(listener, app).await });
        let verifier = Verifier::remote(&url, "bazaar", "bazaar");
        assert!(!verifier.has_keys());
        let stop = crate::shutdown::Shutdown::new();
        tokio::time::timeout(Duration::from_secs(5), verifier.warm(stop))
            .await
            .expect("warmed while identity answers");
        assert!(verifier.has_keys());
        // Identity goes; the first signed-in request comes after.
        identity.abort();
        let _ = identity.await;
        let (sign, _) = signer(5);
        let claims = verifier.verify(&token(&sign, "after", 600)).await;
        assert_eq!(claims.map(|c| c.jti), Ok("after".to_owned()));
    }

    #[tokio::test]
    async fn warming_keys_gives_up_when_the_service_stops() {
        // Nothing listens here: every fetch fails.
        let verifier = Verifier::remote("http://127.0.0.1:9", "bazaar", "bazaar");
        let stop = crate::shutdown::Shutdown::new();
        let warming = tokio::spawn({
            let (verifier, stop) = (verifier.clone(), stop.clone());
            async move { verifier.warm(stop).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!warming.is_finished(), "it keeps trying");
        stop.trigger();
        tokio::time::timeout(Duration::from_secs(2), warming)
            .await
            .expect("it stops with the service")
            .unwrap();
        assert!(!verifier.has_keys());
    }

    #[test]
    fn fetches_back_off_doubling_up_to_half_a_minute() {
        let waits: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_failing_identity_is_asked_once_per_backoff_however_many_requests_wait() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let asked = Arc::new(AtomicU32::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().route(
            JWKS_PATH,
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { http::StatusCode::INTERNAL_SERVER_ERROR }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let verifier = Verifier::remote(&url, "bazaar", "bazaar");
        let (sign, _) = signer(3);

        // Thirty requests with a key id nobody knows, at once: one fetch, thirty refusals
        // saying the keys are unavailable.
        let tokens: Vec<String> = (0..30)
            .map(|i| token(&sign, &format!("t-{i}"), 600))
            .collect();
        let all = futures_util::future::join_all(tokens.iter().map(|t| verifier.verify(t))).await;
        assert!(
            all.iter()
                .all(|r| matches!(r, Err(TokenError::KeysUnavailable(_)))),
            "{all:?}"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one fetch for all of them");
        assert!(verifier.verify(&token(&sign, "again", 600)).await.is_err());
        assert_eq!(asked.load(Ordering::SeqCst), 1, "none within the backoff");
        tokio::time::sleep(backoff(1) + Duration::from_millis(50)).await;
        assert!(verifier.verify(&token(&sign, "later", 600)).await.is_err());
        assert_eq!(asked.load(Ordering::SeqCst), 2, "asked again after it");
    }

    /// A service whose key identity refuses (or that has none) is not ready, saying why;
    /// once identity takes the key, it is.
    #[tokio::test]
    async fn a_service_whose_key_identity_refuses_says_so_in_its_readiness() {
        use axum::{Json, routing::post};
        use std::sync::atomic::{AtomicBool, Ordering};
        let takes = Arc::new(AtomicBool::new(false));
        let taking = takes.clone();
        let app = axum::Router::new().route(
            "/api/identity/service-tokens",
            post(move || {
                let takes = taking.load(Ordering::SeqCst);
                async move {
                    if takes {
                        Ok(Json(
                            serde_json::json!({"access_token": "tok", "expires_in": 3600}),
                        ))
                    } else {
                        Err(http::StatusCode::UNAUTHORIZED)
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let secret = crate::config::Secret::new("k".repeat(MIN_SERVICE_SECRET_LEN));
        let credentials = ServiceCredentials::new("orders", &url, secret);
        assert_eq!(credentials.check(), Ok(()), "nothing known against it yet");

        assert!(credentials.token().await.is_err());
        let why = credentials.check().unwrap_err();
        assert!(
            why.contains("identity refuses this service's key") && why.contains("401"),
            "{why}"
        );
        // Warming keeps asking, and ends once the key is taken (identity's secret mended).
        let warming = tokio::spawn({
            let credentials = credentials.clone();
            async move { credentials.warm(crate::shutdown::Shutdown::new()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        takes.store(true, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(10), warming)
            .await
            .expect("warmed once the key is taken")
            .unwrap();
        assert_eq!(credentials.check(), Ok(()));

        let without = ServiceCredentials::new("orders", &url, crate::config::Secret::default());
        assert!(
            without
                .check()
                .is_err_and(|why| why.contains("BAZAAR_SERVICE_SECRET is empty")),
        );
    }

    #[tokio::test]
    async fn a_refused_service_token_is_renewed_once_then_the_refusal_stands() {
        use axum::{Json, routing::post};
        use std::sync::atomic::{AtomicU32, Ordering};
        // Identity mints tok-1, tok-2, …; the callee takes only tok-2 at /picky and
        // nothing at /never.
        let minted = Arc::new(AtomicU32::new(0));
        let counter = minted.clone();
        let app = axum::Router::new()
            .route(
                "/api/identity/service-tokens",
                post(move || {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        Json(serde_json::json!({"access_token": format!("tok-{n}"), "expires_in": 3600}))
                    }
                }),
            )
            .route(
                "/picky",
                axum::routing::get(|headers: http::HeaderMap| async move {
                    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                        Some("Bearer tok-2") => http::StatusCode::OK,
                        _ => http::StatusCode::UNAUTHORIZED,
                    }
                }),
            )
            .route(
                "/never",
                axum::routing::get(|| async { http::StatusCode::UNAUTHORIZED }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let credentials =
            ServiceCredentials::new("orders", &url, crate::config::Secret::new("s3cret"));
        let http = reqwest::Client::new();
        let call = |path: &'static str| {
            let (http, url) = (http.clone(), url.clone());
            move |token: String| {
                let sent = http.get(format!("{url}{path}")).bearer_auth(token).send();
                async move { sent.await.map_err(|e| e.to_string()) }
            }
        };
        let no_token = |e: TokenError| e.to_string();

        let res = credentials.send_as(call("/picky"), no_token).await.unwrap();
        assert_eq!(res.status(), http::StatusCode::OK, "renewed after the 401");
        assert_eq!(minted.load(Ordering::SeqCst), 2);
        let res = credentials.send_as(call("/picky"), no_token).await.unwrap();
        assert_eq!(res.status(), http::StatusCode::OK);
        assert_eq!(
            minted.load(Ordering::SeqCst),
            2,
            "the renewed token is kept"
        );

        let res = credentials.send_as(call("/never"), no_token).await.unwrap();
        assert_eq!(
            res.status(),
            http::StatusCode::UNAUTHORIZED,
            "the refusal stands"
        );
        assert_eq!(
            minted.load(Ordering::SeqCst),
            3,
            "renewed once, not forever"
        );
    }

    #[test]
    fn trust_lasts_until_expiry_or_a_minute_whichever_is_first() {
        let at = Instant::now();
        assert_eq!(
            trusted_until(1_000 + 10, 1_000, at),
            at + Duration::from_secs(10)
        );
        assert_eq!(trusted_until(1_000 + 3_600, 1_000, at), at + VERIFIED_TTL);
        assert_eq!(
            trusted_until(1_000 - 5, 1_000, at),
            at,
            "expired: not trusted at all"
        );
    }
}
