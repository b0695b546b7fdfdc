//! Registration, sign-in, refresh-token rotation and sign-out.

use super::AppState;
use crate::{
    domain::{Email, Name, Password},
    error::Error,
    keys::{new_refresh_token, refresh_token_hash},
    published,
    store::{NewRefreshToken, Rotation, UserRecord},
};
use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::IntoResponse,
};
use platform::{
    Problem,
    auth::{ROLE_CUSTOMER, User},
    extract::{Json, TraceParent},
    failure::Fields,
    openapi::SignedIn,
    ratelimit::peer,
    service::created,
};
use serde::{Deserialize, Serialize};
use std::{convert::Infallible, net::IpAddr};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Case-insensitive; stored trimmed and lower-cased.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 10 to 256 characters, at least 5 different ones, not containing the email's local
    /// part, and not easy to guess: common passwords, words with digits added and runs of
    /// keys or letters are refused (zxcvbn's score of 3 or more).
    #[schema(
        example = "correct horse battery staple",
        min_length = 10,
        max_length = 256
    )]
    pub password: String,
    /// 1 to 100 characters.
    #[schema(example = "Ada Lovelace", min_length = 1, max_length = 100)]
    pub name: String,
}

/// A newly registered account.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

/// A refresh token to spend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The session to end; without a body every session of the user ends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    pub refresh_token: String,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// An EdDSA-signed JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Opaque and single-use: spend it at `/api/identity/refresh` for a new pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// The client a request comes from, as identity's rate limits count it: the peer, or the
/// address a trusted proxy forwarded for it; none when the server does not know the peer.
struct Client(Option<IpAddr>);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = peer(&parts.extensions);
        Ok(Client(state.limits.client(peer, &parts.headers)))
    }
}

platform::problem_responses! {
    /// `422`: a field of the body is missing or of the wrong type.
    UnreadableFields { "422" => "A field is missing or of the wrong type" }
}

/// Creates an account with the `customer` role.
#[utoipa::path(
    post,
    path = "/api/identity/register",
    tag = "sessions",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account was created", body = RegisteredUser,
            headers(("Location" = String, description = "The account's admin URL"))),
        (status = 409, description = "The email address is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad email, weak password or bad name; `errors` names each field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address or of this email; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    trace: TraceParent,
    Json(body): Json<RegisterRequest>,
) -> Result<impl IntoResponse, Error> {
    state.limits.register_from(client)?;
    let mut fields = Fields::new();
    let email = fields.take("email", Email::parse(&body.email));
    let password = fields.take(
        "password",
        Password::parse_for(&body.password, email.as_ref(), Some(&body.name)),
    );
    let name = fields.take("name", Name::parse(&body.name));
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(Error::Validation(fields.into_errors()));
    };
    state.limits.register_of(email.as_str())?;
    // Spare the hashing work when the answer is known; the insert still decides races.
    if state.store.user_by_email(email.as_str()).await?.is_some() {
        return Err(Error::EmailTaken);
    }
    let user = UserRecord {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.into_string(),
        name: name.into_string(),
        password_hash: state.hasher.hash(password.expose().to_owned()).await?,
        roles: vec![ROLE_CUSTOMER.to_owned()],
        created_at: events::envelope::now_rfc3339(),
    };
    let event = published::user_registered(&user, trace.0)?;
    state.store.insert_user(&user, &event).await?;
    tracing::info!(user_id = %user.id, "registered");
    let url = format!("/api/identity/users/{}", user.id);
    Ok(created(
        &url,
        RegisteredUser {
            id: user.id,
            email: user.email,
            name: user.name,
        },
    ))
}

/// Signs in: answers a new token pair.
#[utoipa::path(
    post,
    path = "/api/identity/login",
    tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Unknown email or wrong password (one answer for both)", body = Problem, content_type = "application/problem+json"),
        UnreadableFields,
        (status = 429, description = "Too many attempts at this account or from this address; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<LoginRequest>,
) -> Result<Issued, Error> {
    // No policy checks here: whatever was typed either matches an account or it does not.
    let email = body.email.trim().to_ascii_lowercase();
    // Before the hash: a guess over the limit costs nothing, and is not even checked, so
    // the right password during the lock-out is refused like any other.
    state.limits.sign_in(client, &email)?;
    let user = state.store.user_by_email(&email).await?;
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state.hasher.verify(body.password, phc).await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(Error::BadCredentials);
    };
    let next = next_refresh_token(&state)?;
    state
        .store
        .insert_refresh_token(&user.id, &next.stored)
        .await?;
    tracing::info!(user_id = %user.id, "signed in");
    token_pair(&state, &user, next.token).await.map(Issued)
}

/// Spends a refresh token for a new pair. Each refresh token works once; presenting a
/// spent one revokes every token descended from the same sign-in.
#[utoipa::path(
    post,
    path = "/api/identity/refresh",
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenPair),
        (status = 401, description = "Unknown, expired, spent or revoked refresh token", body = Problem, content_type = "application/problem+json"),
        UnreadableFields,
        (status = 429, description = "Too many refreshes from this address or of this account; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<RefreshRequest>,
) -> Result<Issued, Error> {
    state.limits.refresh(client)?;
    let presented = refresh_token_hash(&body.refresh_token);
    let next = next_refresh_token(&state)?;
    match state
        .store
        // Per account too, before the token is spent: a refused refresh leaves it usable.
        .rotate_refresh_token(&presented, &next.stored, |owner| {
            state.limits.refresh_of(owner)
        })
        .await?
    {
        Rotation::Rotated(user) => token_pair(&state, &user, next.token).await.map(Issued),
        Rotation::Reused { user_id } => {
            tracing::warn!(
                user_id,
                "a spent refresh token was presented again; its family is revoked"
            );
            Err(Error::BadRefreshToken)
        }
        Rotation::Refused => Err(Error::BadRefreshToken),
    }
}

/// Signs out: revokes the given refresh token's session, or without a body every session
/// of the user. Access tokens already issued stay valid until they expire.
#[utoipa::path(
    post,
    path = "/api/identity/logout",
    tag = "sessions",
    request_body(content = Option<LogoutRequest>, description = "Optional: the session to end"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        SignedIn,
        UnreadableFields,
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %claims.sub))]
async fn logout(
    State(state): State<AppState>,
    User(claims): User,
    request: Request,
) -> Result<StatusCode, Problem> {
    let now = chrono::Utc::now().timestamp();
    if has_body(request.headers()) {
        let Json(body) = Json::<LogoutRequest>::from_request(request, &state).await?;
        let hash = refresh_token_hash(&body.refresh_token);
        let signed_out = published::user_signed_out(&claims.sub, now, false)?;
        state
            .store
            .revoke_family_of(&hash, &claims.sub, &signed_out)
            .await?;
    } else {
        let signed_out = published::user_signed_out(&claims.sub, now, true)?;
        state
            .store
            .revoke_all_of_user(&claims.sub, &signed_out)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A refresh token for the client and its stored form.
struct NextRefreshToken {
    token: String,
    stored: NewRefreshToken,
}

fn next_refresh_token(state: &AppState) -> Result<NextRefreshToken, Error> {
    let (token, token_hash) = new_refresh_token()?;
    let now = chrono::Utc::now();
    let expires_at = chrono::TimeDelta::try_seconds(state.refresh_ttl_secs)
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    Ok(NextRefreshToken {
        token,
        stored: NewRefreshToken {
            token_hash,
            expires_at: events::envelope::to_rfc3339(expires_at),
        },
    })
}

/// A new token pair, as an answer no cache on the way may keep (RFC 6749 §5.1:
/// `Cache-Control: no-store`, and `Pragma: no-cache` for HTTP/1.0 caches).
struct Issued(TokenPair);

impl IntoResponse for Issued {
    fn into_response(self) -> axum::response::Response {
        (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(self.0),
        )
            .into_response()
    }
}

async fn token_pair(
    state: &AppState,
    user: &UserRecord,
    refresh_token: String,
) -> Result<TokenPair, Error> {
    // Signed with the key that signs now, whichever replica stored it.
    state.keys.freshen(&state.store).await;
    Ok(TokenPair {
        access_token: state.keys.mint_access_token(user)?,
        refresh_token,
        token_type: "Bearer".to_owned(),
        expires_in: state.keys.access_ttl_secs(),
    })
}

/// Whether the request carries a body at all (logout's is optional).
fn has_body(headers: &HeaderMap) -> bool {
    match headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(len) => len > 0,
        None => {
            headers.contains_key(header::CONTENT_TYPE)
                || headers.contains_key(header::TRANSFER_ENCODING)
        }
    }
}
