//! Who is browsing: the signed-in session kept in the `bazaar_session` cookie (identity's
//! own signed tokens, so no session store), its refresh when the access token runs out,
//! the anonymous cart cookie passed between the browser and the cart service, and the
//! shop as the visitor sees it ([`Visitor::shop`]): every API call made with the visitor's
//! credentials. Pages reach the APIs only this way; the client below knows no sessions.
//!
//! The session cookie holds JSON `{a: access token, r: refresh token, n: newest
//! notification seen, c: CSRF token}`, sealed with the storefront's key (the `seal`
//! module: whoever holds the cookie reads no token in it, and cannot change it), and is
//! `HttpOnly; SameSite=Lax`: scripts cannot read it and other sites' forms do not carry
//! it. Unsafe requests of a session must present its CSRF token (the `csrf` module).
//! Concurrent requests of one browser that all find the access token expired share one
//! refresh (the `refresh` module).

pub mod csrf;
mod refresh;
mod seal;
mod shop;

pub use seal::SessionKey;
pub use shop::Shop;

use crate::{
    api::{self, Caller, TokenPair},
    domain::{is_id_byte, is_token},
    error::StorefrontError,
};
use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::Response,
};
use platform::{
    Problem,
    auth::{Claims, TokenError, Verifier},
};
use refresh::Refresher;
use serde::{Deserialize, Serialize};
use std::{fmt, future::Future, sync::Arc, time::Instant};
use tokio::sync::Mutex;

pub use api::CART_COOKIE;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bazaar_session";
/// Its name when it is `Secure`: the `__Host-` prefix binds it to this host.
pub const SECURE_SESSION_COOKIE: &str = "__Host-bazaar_session";

/// A signed-in session: the tokens identity issued, what the user has seen, and the token
/// its unsafe requests present.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "a")]
    pub access_token: String,
    #[serde(rename = "r")]
    pub refresh_token: String,
    /// `created_at` of the newest notification the user has looked at: newer ones are
    /// unread.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub seen_notifications: Option<String>,
    /// The synchronizer token of this session's forms, new at each sign-in.
    #[serde(rename = "c")]
    pub csrf_token: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session([redacted])")
    }
}

impl Session {
    /// A new session from a token pair, with a new CSRF token.
    pub fn new(pair: &TokenPair) -> Result<Self, getrandom::Error> {
        Ok(Self {
            access_token: pair.access_token.clone(),
            refresh_token: pair.refresh_token.clone(),
            seen_notifications: None,
            csrf_token: csrf::new_token()?,
        })
    }

    /// The value of the cookie `name`: the JSON, sealed.
    pub fn seal(&self, key: &SessionKey, name: &str) -> Option<String> {
        key.seal(name, &serde_json::to_vec(self).ok()?)
    }

    /// Reads the value of the cookie `name`; anything that does not open or is malformed
    /// is no session (the unsealed cookies of earlier versions too).
    pub fn open(key: &SessionKey, name: &str, value: &str) -> Option<Self> {
        let session: Session = serde_json::from_slice(&key.open(name, value)?).ok()?;
        (!session.access_token.is_empty()
            && !session.refresh_token.is_empty()
            && !session.csrf_token.is_empty())
        .then_some(session)
    }
}

/// The value of the first cookie called `name` in a request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    platform::extract::cookies(headers)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// How the storefront writes its cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    pub max_age_secs: u64,
    pub secure: SecureCookies,
}

/// When the session cookie is `Secure`, named with the `__Host-` prefix (which binds it to
/// this host, over HTTPS, path `/`: no other site or subdomain can set or shadow it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    /// Secure unless the shop is reached over plain HTTP on this machine (`localhost`,
    /// `127.0.0.1`, `[::1]`): what browsers allow without TLS, and what `bazaar up` serves.
    #[default]
    Auto,
    /// Always (`true` works too).
    Always,
    /// Never: the explicit opt-out for plain-HTTP development on another host (`false`
    /// works too).
    Never,
}

impl<'de> Deserialize<'de> for SecureCookies {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Mode;
        impl serde::de::Visitor<'_> for Mode {
            type Value = SecureCookies;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`auto`, `always` (or true) or `never` (or false)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<SecureCookies, E> {
                Ok(if v {
                    SecureCookies::Always
                } else {
                    SecureCookies::Never
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecureCookies, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "auto" => Ok(SecureCookies::Auto),
                    "always" | "true" => Ok(SecureCookies::Always),
                    "never" | "false" => Ok(SecureCookies::Never),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Mode)
    }
}

impl SecureCookies {
    /// Whether the answer to a request with `headers` sets a secure cookie: over TLS (the
    /// proxy in front says `X-Forwarded-Proto: https`), or at any host but this machine.
    pub fn applies(self, headers: &HeaderMap) -> bool {
        match self {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => {
                let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                let tls = text("x-forwarded-proto")
                    .and_then(|v| v.split(',').next())
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
                let host = text("x-forwarded-host").or_else(|| text(header::HOST.as_str()));
                tls || !host.is_some_and(is_this_machine)
            }
        }
    }
}

/// Whether a `Host` names this machine: `localhost` (and its subdomains), or a loopback
/// address, with or without a port.
fn is_this_machine(host: &str) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl CookiePolicy {
    /// The name of the session cookie, secure or not.
    pub fn name(secure: bool) -> &'static str {
        if secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// `Set-Cookie` for a session, sealed with `key` (`None` without random numbers).
    pub fn issue(&self, key: &SessionKey, session: &Session, secure: bool) -> Option<HeaderValue> {
        let value = session.seal(key, Self::name(secure))?;
        Some(self.header(&value, self.max_age_secs, secure))
    }

    /// `Set-Cookie` that makes the browser forget the session.
    pub fn expire(&self, secure: bool) -> HeaderValue {
        self.header("", 0, secure)
    }

    fn header(&self, value: &str, max_age: u64, secure: bool) -> HeaderValue {
        let name = Self::name(secure);
        let flag = if secure { "; Secure" } else { "" };
        let cookie =
            format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{flag}");
        // base64url and fixed attributes: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// What the request's credentials turned out to be.
#[derive(Debug, Clone)]
pub enum Auth {
    Anonymous,
    SignedIn(Box<Claims>),
    /// A session exists but cannot be checked now; it is kept. Why: identity's refusal
    /// of the refresh (a 429 with its `Retry-After`), or identity out of reach: what a page
    /// needing the session answers (a "try again", never "sign in again": the session is
    /// fine, and sending its visitor to sign in spent sign-ins under a rate limit).
    Unverifiable(StorefrontError),
}

impl Auth {
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Auth::SignedIn(c) => Some(c),
            _ => None,
        }
    }
}

/// What every visitor's session is served by: the gateway client, token verification,
/// the refreshes shared between requests, and how the session cookie is written. Cheap to
/// clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<SessionsInner>,
}

struct SessionsInner {
    client: api::Client,
    verifier: Verifier,
    refresher: Refresher,
    cookies: CookiePolicy,
    key: SessionKey,
}

impl Sessions {
    /// Sessions whose cookies are written by `cookies` and sealed with `key`.
    pub fn new(
        client: api::Client,
        verifier: Verifier,
        cookies: CookiePolicy,
        key: SessionKey,
    ) -> Self {
        Self {
            inner: Arc::new(SessionsInner {
                client,
                verifier,
                refresher: Refresher::default(),
                cookies,
                key,
            }),
        }
    }
}

/// One browser request's view of its visitor: session, anonymous cart, request id.
/// Extracted by handlers; the [`middleware`] writes any change back as `Set-Cookie`.
#[derive(Clone)]
pub struct Visitor {
    sessions: Sessions,
    inner: Arc<Mutex<VisitorState>>,
    request_id: Option<String>,
    /// The browser's address, as the gateway forwarded it.
    forwarded_for: Option<String>,
    started: Instant,
    /// Whether its session cookie is `Secure` and `__Host-` named.
    secure_cookie: bool,
}

struct VisitorState {
    session: Option<Session>,
    auth: Option<Auth>,
    session_changed: bool,
    cart_cookie: Option<String>,
    relay: Vec<HeaderValue>,
}

impl Visitor {
    fn new(sessions: Sessions, headers: &HeaderMap) -> Self {
        // Over TLS only the `__Host-` cookie counts: a plain one could have been set by
        // another site on this domain.
        let secure_cookie = sessions.inner.cookies.secure.applies(headers);
        let name = CookiePolicy::name(secure_cookie);
        let cookie = read_cookie(headers, name).filter(|v| !v.is_empty());
        let session = cookie
            .as_deref()
            .and_then(|v| Session::open(&sessions.inner.key, name, v));
        let cart_cookie = read_cookie(headers, CART_COOKIE).filter(|v| is_cookie_value(v));
        Self {
            sessions,
            inner: Arc::new(Mutex::new(VisitorState {
                auth: session.is_none().then_some(Auth::Anonymous),
                // A cookie that does not open (tampered with, sealed with another key, or
                // from before cookies were sealed) is forgotten.
                session_changed: cookie.is_some() && session.is_none(),
                session,
                cart_cookie,
                relay: Vec::new(),
            })),
            request_id: headers
                .get(&platform::service::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            forwarded_for: headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            started: Instant::now(),
            secure_cookie,
        }
    }

    fn client(&self) -> &api::Client {
        &self.sessions.inner.client
    }

    fn verifier(&self) -> &Verifier {
        &self.sessions.inner.verifier
    }

    /// The visitor as the gateway is told of it without credentials: the request id,
    /// passed on to every upstream call.
    fn anonymous(&self) -> Caller {
        Caller {
            request_id: self.request_id.clone(),
            forwarded_for: self.forwarded_for.clone(),
            ..Caller::default()
        }
    }

    /// The visitor with a token.
    fn bearing(&self, token: String) -> Caller {
        Caller {
            token: Some(token),
            ..self.anonymous()
        }
    }

    /// When the request started (pages log how long they took).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Who is browsing: the access token is verified, and refreshed once if it has
    /// expired or is refused.
    pub async fn auth(&self) -> Auth {
        let mut state = self.inner.lock().await;
        if let Some(auth) = &state.auth {
            return auth.clone();
        }
        let Some(session) = state.session.clone() else {
            state.auth = Some(Auth::Anonymous);
            return Auth::Anonymous;
        };
        let auth = match self.verifier().verify(&session.access_token).await {
            Ok(claims) => Auth::SignedIn(Box::new(claims)),
            Err(TokenError::KeysUnavailable(e)) => {
                tracing::warn!(error = %e, "cannot verify the session: keys unavailable");
                Auth::Unverifiable(StorefrontError::Unavailable {
                    service: "identity",
                    detail: format!("the session cannot be verified right now: {e}"),
                })
            }
            Err(_) => match self.refresh_locked(&mut state, &session).await {
                Ok(Some(claims)) => Auth::SignedIn(Box::new(claims)),
                Ok(None) => Auth::Anonymous,
                Err(why) => Auth::Unverifiable(why),
            },
        };
        state.auth = Some(auth.clone());
        auth
    }

    /// The signed-in user's claims, if any.
    pub async fn user(&self) -> Option<Claims> {
        self.auth().await.claims().cloned()
    }

    /// The signed-in user's claims: `SignInRequired` without a session, or why the session
    /// cannot be checked now (a page then says to come back, not to sign in again).
    pub async fn signed_in(&self) -> Result<Claims, StorefrontError> {
        match self.auth().await {
            Auth::SignedIn(claims) => Ok(*claims),
            Auth::Anonymous => Err(StorefrontError::SignInRequired),
            Auth::Unverifiable(why) => Err(why),
        }
    }

    /// The access token of a signed-in visitor.
    pub async fn token(&self) -> Option<String> {
        match self.auth().await {
            Auth::SignedIn(_) => self
                .inner
                .lock()
                .await
                .session
                .as_ref()
                .map(|s| s.access_token.clone()),
            _ => None,
        }
    }

    /// Runs `call` as the signed-in visitor; when the API refuses the token with 401 the
    /// session is refreshed and `call` runs once more. Without a session: `SignInRequired`;
    /// with one that cannot be checked now, why not.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, StorefrontError>
    where
        F: Fn(Caller) -> Fut,
        Fut: Future<Output = Result<T, StorefrontError>>,
    {
        let token = match self.auth().await {
            Auth::SignedIn(_) => self.token().await,
            Auth::Unverifiable(why) => return Err(why),
            Auth::Anonymous => None,
        };
        let Some(token) = token else {
            return Err(StorefrontError::SignInRequired);
        };
        match call(self.bearing(token.clone())).await {
            Err(e) if e.status() == Some(401) => match self.refresh_after(&token).await {
                Ok(Some(fresh)) => call(self.bearing(fresh)).await,
                Ok(None) => Err(StorefrontError::SignInRequired),
                Err(why) => Err(why),
            },
            other => other,
        }
    }

    /// Like [`Visitor::with_token`], but an anonymous visitor calls without a token. A
    /// session that cannot be checked now is not anonymous: the call is not made as one
    /// (the cart page showed a signed-in shopper an empty anonymous cart, and what they
    /// added went to a new one: the verification review).
    async fn with_optional_token<T, F, Fut>(&self, call: F) -> Result<T, StorefrontError>
    where
        F: Fn(Caller) -> Fut,
        Fut: Future<Output = Result<T, StorefrontError>>,
    {
        let token = match self.auth().await {
            Auth::SignedIn(_) => self.token().await,
            Auth::Unverifiable(why) => return Err(why),
            Auth::Anonymous => None,
        };
        match token {
            None => call(self.anonymous()).await,
            Some(token) => match call(self.bearing(token.clone())).await {
                Err(e) if e.status() == Some(401) => match self.refresh_after(&token).await {
                    Ok(Some(fresh)) => call(self.bearing(fresh)).await,
                    Ok(None) => call(self.anonymous()).await,
                    Err(why) => Err(why),
                },
                other => other,
            },
        }
    }

    /// After `used` was refused: a fresh token (someone else may already have refreshed),
    /// `None` when the session is over, or why it could not be refreshed now.
    async fn refresh_after(&self, used: &str) -> Result<Option<String>, StorefrontError> {
        let mut state = self.inner.lock().await;
        let Some(session) = state.session.clone() else {
            return Ok(None);
        };
        if session.access_token != used {
            return Ok(Some(session.access_token));
        }
        match self.refresh_locked(&mut state, &session).await {
            Ok(Some(claims)) => {
                state.auth = Some(Auth::SignedIn(Box::new(claims)));
                Ok(state.session.as_ref().map(|s| s.access_token.clone()))
            }
            Ok(None) => {
                state.auth = Some(Auth::Anonymous);
                Ok(None)
            }
            Err(why) => Err(why),
        }
    }

    /// Spends the refresh token: `Ok(Some)` signed in anew, `Ok(None)` the session is over
    /// (and forgotten), `Err` identity could not be asked, or asked us to wait (the session
    /// is kept).
    async fn refresh_locked(
        &self,
        state: &mut VisitorState,
        session: &Session,
    ) -> Result<Option<Claims>, StorefrontError> {
        // Only the request id goes with the refresh: this runs with the state locked.
        match self
            .sessions
            .inner
            .refresher
            .refresh(self.client(), &self.anonymous(), &session.refresh_token)
            .await
        {
            Ok(pair) => match self.verifier().verify(&pair.access_token).await {
                Ok(claims) => {
                    // The same session, refreshed: its CSRF token stays.
                    state.session = Some(Session {
                        access_token: pair.access_token.clone(),
                        refresh_token: pair.refresh_token.clone(),
                        ..session.clone()
                    });
                    state.session_changed = true;
                    Ok(Some(claims))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a refreshed token does not verify");
                    Err(StorefrontError::Unavailable {
                        service: "identity",
                        detail: format!("a refreshed token does not verify: {e}"),
                    })
                }
            },
            Err(e) if e.status() == Some(401) || e.status() == Some(422) => {
                state.session = None;
                state.session_changed = true;
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not refresh the session");
                Err(e)
            }
        }
    }

    /// Signs in at identity with an email and password, and starts the session.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Claims, StorefrontError> {
        let pair = self
            .client()
            .login(&self.anonymous(), email, password)
            .await?;
        let claims = self
            .verifier()
            .verify(&pair.access_token)
            .await
            .map_err(|e| StorefrontError::Unavailable {
                service: "identity",
                detail: e.to_string(),
            })?;
        // A new session, with a new CSRF token: one learnt before signing in is no use.
        let session = Session::new(&pair).map_err(|e| StorefrontError::Unavailable {
            service: "storefront",
            detail: format!("no random numbers for the session: {e}"),
        })?;
        let mut state = self.inner.lock().await;
        state.session = Some(session);
        state.auth = Some(Auth::SignedIn(Box::new(claims.clone())));
        state.session_changed = true;
        Ok(claims)
    }

    /// Ends the session, here and at identity.
    pub async fn sign_out(&self) {
        let ended = {
            let mut state = self.inner.lock().await;
            state.auth = Some(Auth::Anonymous);
            state.session_changed = true;
            state.session.take()
        };
        let Some(session) = ended else { return };
        let caller = self.bearing(session.access_token.clone());
        let mut revoked = self.client().logout(&caller, &session.refresh_token).await;
        if matches!(&revoked, Err(e) if e.status() == Some(401)) {
            // The access token expired while the tab stood idle (the usual way to sign
            // out): the refresh token is spent for a fresh pair, whose session is then
            // revoked. Left alone, a copy of the cookie would refresh itself and stay
            // signed in until the refresh token expired, weeks later.
            let refresher = &self.sessions.inner.refresher;
            revoked = match refresher
                .refresh(self.client(), &self.anonymous(), &session.refresh_token)
                .await
            {
                Ok(pair) => {
                    let fresh = self.bearing(pair.access_token.clone());
                    self.client().logout(&fresh, &pair.refresh_token).await
                }
                Err(e) => Err(e),
            };
        }
        // Nobody else is handed the pair a refresh shared out (a copy of the cookie).
        self.sessions.inner.refresher.forget(&session.refresh_token);
        if let Err(e) = revoked {
            // The cookie is gone either way; the refresh token expires on its own.
            tracing::warn!(error = %e, "identity could not revoke the session");
        }
    }

    /// The CSRF token of the visitor's session, which their pages put in every form that
    /// changes something; `None` without a session.
    pub async fn csrf_token(&self) -> Option<String> {
        let state = self.inner.lock().await;
        state.session.as_ref().map(|s| s.csrf_token.clone())
    }

    /// `created_at` of the newest notification seen.
    pub async fn seen_notifications(&self) -> Option<String> {
        let state = self.inner.lock().await;
        state
            .session
            .as_ref()
            .and_then(|s| s.seen_notifications.clone())
    }

    /// Records that notifications up to `created_at` have been seen.
    pub async fn mark_seen(&self, created_at: &str) {
        let mut state = self.inner.lock().await;
        if let Some(session) = state.session.as_mut()
            && session.seen_notifications.as_deref() != Some(created_at)
        {
            session.seen_notifications = Some(created_at.to_owned());
            state.session_changed = true;
        }
    }

    /// The anonymous cart cookie to send to the cart service.
    pub async fn cart_cookie(&self) -> Option<String> {
        self.inner.lock().await.cart_cookie.clone()
    }

    /// Relays the cart service's `Set-Cookie` for `bazaar_cart` to the browser, and uses
    /// the new value for the rest of this request.
    async fn relay_cart_cookies(&self, set_cookies: &[HeaderValue]) {
        let mut state = self.inner.lock().await;
        for value in set_cookies {
            let Ok(text) = value.to_str() else { continue };
            let Some((name, rest)) = text.split_once('=') else {
                continue;
            };
            if name.trim() != CART_COOKIE {
                continue;
            }
            let cookie_value = rest.split(';').next().unwrap_or_default().trim();
            let expired = text
                .split(';')
                .any(|attr| attr.trim().eq_ignore_ascii_case("max-age=0"));
            state.cart_cookie =
                (!expired && is_cookie_value(cookie_value)).then(|| cookie_value.to_owned());
            state.relay.push(value.clone());
        }
    }

    /// Writes what changed to the response.
    async fn finish(&self, res: &mut Response) {
        let state = self.inner.lock().await;
        let headers = res.headers_mut();
        for cookie in &state.relay {
            headers.append(header::SET_COOKIE, cookie.clone());
        }
        if state.session_changed {
            let policy = self.sessions.inner.cookies;
            let value = match &state.session {
                Some(s) => policy.issue(&self.sessions.inner.key, s, self.secure_cookie),
                None => Some(policy.expire(self.secure_cookie)),
            };
            if let Some(value) = value {
                headers.append(header::SET_COOKIE, value);
            }
        }
        if state.session.is_some() {
            // Pages of a signed-in visitor are theirs alone.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
        }
    }
}

fn is_cookie_value(v: &str) -> bool {
    is_token(v, 256, is_id_byte)
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Visitor>().cloned().ok_or_else(|| {
            Problem::internal(&StorefrontError::Malformed {
                service: "storefront",
                detail: "the session middleware is not installed".into(),
            })
        })
    }
}

/// Puts a [`Visitor`] in every request and writes its cookies to every response.
pub async fn middleware(
    State(sessions): State<Sessions>,
    mut req: Request,
    next: Next,
) -> Response {
    let visitor = Visitor::new(sessions, req.headers());
    req.extensions_mut().insert(visitor.clone());
    let mut res = next.run(req).await;
    visitor.finish(&mut res).await;
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    /// A JWT's look: `eyJ` is base64url of `{"`.
    const ACCESS: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
    const REFRESH: &str = "refresh-token-of-the-session";

    fn session() -> Session {
        Session {
            access_token: ACCESS.into(),
            refresh_token: REFRESH.into(),
            seen_notifications: Some("2025-01-01T00:00:00.000Z".into()),
            csrf_token: "csrf-token-of-the-session".into(),
        }
    }

    fn key() -> SessionKey {
        SessionKey::from_secret("a-session-key-of-32-characters-at-least")
    }

    #[test]
    fn a_session_survives_its_sealed_cookie_which_shows_no_token() {
        let s = session();
        let sealed = s.seal(&key(), SESSION_COOKIE).unwrap();
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "a cookie-safe value: {sealed}"
        );
        assert_eq!(Session::open(&key(), SESSION_COOKIE, &sealed), Some(s));
        assert!(!sealed.contains("eyJ"), "no JSON or JWT shows: {sealed}");
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for token in [ACCESS, REFRESH, "eyJ", "csrf-token-of-the-session"] {
            assert!(!text.contains(token), "{token} is in the cookie");
        }
    }

    #[test]
    fn a_cookie_sealed_for_the_plain_name_is_no_host_bound_session() {
        let plain = session().seal(&key(), SESSION_COOKIE).unwrap();
        assert_eq!(Session::open(&key(), SECURE_SESSION_COOKIE, &plain), None);
        let secure = session().seal(&key(), SECURE_SESSION_COOKIE).unwrap();
        assert_eq!(Session::open(&key(), SESSION_COOKIE, &secure), None);
        assert!(Session::open(&key(), SECURE_SESSION_COOKIE, &secure).is_some());
    }

    #[test]
    fn a_malformed_tampered_or_unsealed_cookie_is_no_session() {
        let json = |v: &[u8]| key().seal(SESSION_COOKIE, v).unwrap();
        let mut tampered = URL_SAFE_NO_PAD
            .decode(session().seal(&key(), SESSION_COOKIE).unwrap())
            .unwrap();
        let last = tampered.len() - 1;
        tampered[last / 2] ^= 0x20;
        let old_plain = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session()).unwrap());
        let other_key = session()
            .seal(
                &SessionKey::from_secret("another-key-of-32-characters-or-more"),
                SESSION_COOKIE,
            )
            .unwrap();
        for (case, bad) in [
            ("empty", String::new()),
            ("not base64", "not base64!".to_owned()),
            ("tampered", URL_SAFE_NO_PAD.encode(&tampered)),
            ("a plain cookie of before", old_plain),
            ("sealed with another key", other_key),
            ("sealed empty object", json(b"{}")),
            (
                "sealed, no access token",
                json(br#"{"a":"","r":"x","c":"y"}"#),
            ),
            ("sealed, no CSRF token", json(br#"{"a":"x","r":"x"}"#)),
            (
                "sealed, empty CSRF token",
                json(br#"{"a":"x","r":"x","c":""}"#),
            ),
            ("sealed array", json(b"[1,2]")),
        ] {
            assert_eq!(Session::open(&key(), SESSION_COOKIE, &bad), None, "{case}");
        }
    }

    #[test]
    fn every_new_session_has_a_new_csrf_token() {
        let pair = TokenPair {
            access_token: ACCESS.into(),
            refresh_token: REFRESH.into(),
        };
        let a = Session::new(&pair).unwrap();
        let b = Session::new(&pair).unwrap();
        assert_ne!(a.csrf_token, b.csrf_token);
        assert_eq!(a.csrf_token.len(), 43);
    }

    #[test]
    fn sessions_do_not_print_their_tokens() {
        assert_eq!(format!("{:?}", session()), "Session([redacted])");
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; bazaar_cart=abc"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("bazaar_session=xyz"),
        );
        assert_eq!(read_cookie(&headers, CART_COOKIE).as_deref(), Some("abc"));
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE).as_deref(),
            Some("xyz")
        );
        assert_eq!(read_cookie(&headers, "missing"), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_and_lax_and_host_bound_when_secure() {
        let policy = CookiePolicy {
            max_age_secs: 60,
            secure: SecureCookies::Auto,
        };
        let issued = policy.issue(&key(), &session(), false).unwrap();
        let text = issued.to_str().unwrap();
        assert!(text.starts_with("bazaar_session="), "{text}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(text.contains(attr), "{attr} missing: {text}");
        }
        assert!(!text.contains("Secure"));
        let secure = policy.issue(&key(), &session(), true).unwrap();
        let text = secure.to_str().unwrap();
        assert!(text.starts_with("__Host-bazaar_session="), "{text}");
        assert!(
            text.contains("; Path=/") && text.ends_with("; Secure"),
            "{text}"
        );
        assert!(
            !text.contains("Domain"),
            "__Host- cookies name no domain: {text}"
        );
        assert!(
            policy
                .expire(true)
                .to_str()
                .unwrap()
                .ends_with("Max-Age=0; Secure")
        );
    }

    #[test]
    fn cookies_are_secure_except_over_plain_http_on_this_machine() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        let auto = SecureCookies::Auto;
        for local in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "shop.localhost",
            "127.0.0.1",
        ] {
            assert!(
                !auto.applies(&headers(&[("x-forwarded-host", local)])),
                "{local}"
            );
            assert!(
                auto.applies(&headers(&[
                    ("x-forwarded-host", local),
                    ("x-forwarded-proto", "https")
                ])),
                "{local} over TLS"
            );
        }
        for remote in ["shop.example.com", "10.0.0.7:8080", "[2001:db8::1]:443"] {
            assert!(
                auto.applies(&headers(&[("x-forwarded-host", remote)])),
                "{remote}"
            );
            assert!(!SecureCookies::Never.applies(&headers(&[("x-forwarded-host", remote)])));
        }
        // Without X-Forwarded-Host (reached directly), the Host header counts.
        assert!(!auto.applies(&headers(&[("host", "localhost:8081")])));
        assert!(SecureCookies::Always.applies(&headers(&[("host", "localhost:8081")])));
        for (text, mode) in [
            ("\"auto\"", SecureCookies::Auto),
            ("true", SecureCookies::Always),
            ("\"always\"", SecureCookies::Always),
            ("false", SecureCookies::Never),
            ("\"never\"", SecureCookies::Never),
        ] {
            assert_eq!(
                serde_json::from_str::<SecureCookies>(text).unwrap(),
                mode,
                "{text}"
            );
        }
        assert!(serde_json::from_str::<SecureCookies>("\"sometimes\"").is_err());
    }

    #[test]
    fn cookie_values_are_plain_tokens() {
        assert!(is_cookie_value("0123abcdef"));
        for bad in ["", "a;b", "a b", "a\"b", &"x".repeat(257)] {
            assert!(!is_cookie_value(bad), "{bad:?}");
        }
    }
}
