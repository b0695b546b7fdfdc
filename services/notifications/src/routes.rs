//! Notifications' HTTP API under `/api/notifications`: the signed-in user's mailbox and
//! its live stream, their bodies, and the OpenAPI document they make up.

use crate::{
    domain::{Limit, Message},
    error::NotificationsError,
    feed,
    store::Store,
};
use axum::{
    extract::{FromRef, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{KeepAlive, Sse},
    },
};
use platform::{
    Failure, Problem,
    auth::{User, Verifier},
    extract::{Json, Query},
    openapi::{BearerAuth, KeysUnavailable, SignedIn},
    shutdown::Shutdown,
};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::watch;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach (each field by its type: `State<Store>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub verifier: Verifier,
    /// The mailbox's head, as the feed's watcher last saw it.
    pub head: watch::Receiver<i64>,
    /// Ends open streams when the service stops, so shutdown need not wait for them.
    pub shutdown: Shutdown,
    /// The streams open per user, and how many one may hold.
    pub streams: feed::Streams,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar notifications",
        description = "Every signed-in shopper's mailbox: a welcome when the account is \
            created, and a message when an order is confirmed or cancelled or a card is \
            declined. Messages are written from the events of identity, orders and \
            payments, one per event; when SMTP is configured each is also emailed. Every \
            endpoint needs the user's bearer token and shows only that user's messages. \
            Errors are RFC 9457 problem documents (`application/problem+json`); validation \
            problems list each bad field in `errors`."
    ),
    tags(
        (name = "mailbox", description = "The signed-in user's messages, listed and live."),
        (name = "events", description = "Operators' view of the events notifications \
            could not apply (administrators only).")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Notifications' routes and their OpenAPI document. The dead-letter routes are served
/// by `events::admin::routes`.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_messages))
        .routes(routes!(stream_messages))
        .with_state(state)
}

/// Which messages to list: the newest, or those older than one already seen.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100; 50 when not given.
    #[param(example = 20, minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The id of one of the user's messages: only older ones are listed (the next page;
    /// a full page's answer names it in its `Link: <…>; rel="next"` header).
    #[param(max_length = 64)]
    before: Option<String>,
}

impl ListParams {
    /// Messages listed when the client does not say.
    const DEFAULT_LIMIT: i64 = 50;

    fn parse(self) -> Result<(Limit, Option<String>), Failure> {
        let limit = Failure::field(
            "limit",
            Limit::new(self.limit.unwrap_or(Self::DEFAULT_LIMIT)),
        )?;
        let before = match self.before {
            Some(id) if platform::domain::ChosenId::<64>::parse(&id).is_err() => {
                return Err(Failure::invalid("before", "must be a message's id"));
            }
            other => other,
        };
        Ok((limit, before))
    }
}

/// Lists the signed-in user's messages, newest first.
#[utoipa::path(
    get,
    path = "/api/notifications",
    tag = "mailbox",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "The user's newest messages (or those older than `before`), newest first (a JSON array); a full page names the next one in `Link: <…>; rel=\"next\"`", body = Vec<Message>),
        SignedIn,
        (status = 422, description = "`limit` is not an integer from 1 to 100, or `before` is not the id of one of the user's messages (named in `errors`)", body = Problem, content_type = "application/problem+json"),
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.sub))]
async fn list_messages(
    State(store): State<Store>,
    User(user): User,
    Query(params): Query<ListParams>,
) -> Result<Response, NotificationsError> {
    let (limit, before) = params.parse()?;
    let Some(messages) = store.list(&user.sub, limit, before.as_deref()).await? else {
        return Err(Failure::invalid("before", "is not the id of one of your messages").into());
    };
    // A full page may have more behind it: the next one starts after its oldest.
    let next = (messages.len() as i64 == limit.get())
        .then(|| messages.last())
        .flatten()
        .map(|oldest| {
            format!(
                "</api/notifications?limit={}&before={}>; rel=\"next\"",
                limit.get(),
                oldest.id
            )
        })
        .and_then(|link| HeaderValue::from_str(&link).ok());
    let mut res = Json(messages).into_response();
    if let Some(link) = next {
        res.headers_mut().insert(header::LINK, link);
    }
    Ok(res)
}

/// The header a reconnecting `EventSource` sends: the id of the last event it received.
static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Tells reverse proxies (nginx) not to buffer the stream.
static ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// When a user over the stream limit may try again.
const STREAM_RETRY_AFTER_SECS: u64 = 5;

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Streams the signed-in user's new messages as they arrive (server-sent events).
///
/// Each message is an event named `notification` whose `id` is the message's id and whose
/// `data` is the message as JSON (as listed by `GET /api/notifications`). The stream
/// starts with a `retry:` hint and sends a keep-alive comment every 15 s when idle. A
/// client reconnecting with `Last-Event-ID` (as `EventSource` does by itself) first gets
/// the messages it missed after that one; an id that is not one of the user's messages
/// counts as none, and the stream starts with the next new message.
#[utoipa::path(
    get,
    path = "/api/notifications/stream",
    tag = "mailbox",
    security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last message received; the messages after it are sent first")
    ),
    responses(
        (status = 200, description = "A `text/event-stream` of `notification` events, open until the client or the service leaves, or the token that opened it expires", body = String, content_type = "text/event-stream"),
        SignedIn,
        (status = 429, description = "The user has `BAZAAR_STREAMS_PER_USER` streams open already; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.sub))]
async fn stream_messages(
    State(state): State<AppState>,
    User(user): User,
    headers: HeaderMap,
) -> Result<Response, NotificationsError> {
    let last_seen = headers
        .get(&LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let resume_at = match last_seen {
        Some(id) => state.store.position_of(&user.sub, id).await?,
        None => None,
    };
    let after = match resume_at {
        Some(position) => position,
        None => state.store.head().await?,
    };
    if state.store.signed_out_since(&user.sub, user.iat).await? {
        return Err(NotificationsError::SignedOut);
    }
    // A token past its expiry, still taken within the clock leeway, would open a stream
    // that ends at once, and its client would reconnect every 2 s, never told to refresh
    // it (the notifications review).
    if user.exp <= chrono::Utc::now().timestamp() {
        return Ok(Problem::invalid_token(
            "this token has expired, and a stream lasts only as long as the token that opens \
             it: refresh it, then reconnect",
        )
        .into_response());
    }
    let slot = match state.streams.open(&user.sub) {
        Ok(slot) => slot,
        Err(open) => {
            let mut problem = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                "Too many streams",
                format!("this account already has {open} live streams open; close one first"),
            );
            problem.retry_after = Some(STREAM_RETRY_AFTER_SECS);
            return Ok(problem.into_response());
        }
    };
    // The stream ends when the token that opened it expires: a signed-out or
    // deactivated user's stream does not outlive the token (the client reconnects with
    // a fresh one and `Last-Event-ID`, missing nothing).
    let expires_in = Duration::from_secs(
        u64::try_from(user.exp.saturating_sub(chrono::Utc::now().timestamp())).unwrap_or(0),
    );
    tracing::info!(
        after,
        resumed = resume_at.is_some(),
        ?expires_in,
        "stream opened"
    );
    let events = feed::stream(
        feed::Subscriber {
            user_id: user.sub,
            issued_at: user.iat,
            until: tokio::time::Instant::now() + expires_in,
            slot,
        },
        state.store.clone(),
        after,
        state.head.clone(),
        state.shutdown.clone(),
    );
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    Ok((
        [(ACCEL_BUFFERING.clone(), HeaderValue::from_static("no"))],
        sse,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    #[test]
    fn the_limit_is_parsed_naming_limit() {
        assert_eq!(ListParams::default().parse().unwrap().0.get(), 50);
        for bad in [0, 101, -1] {
            let refused = (ListParams {
                limit: Some(bad),
                before: None,
            })
            .parse()
            .unwrap_err();
            assert_eq!(refused_fields(refused), ["limit"], "{bad}");
        }
        for bad in ["", "a b", "x/../y", &"a".repeat(65)] {
            let refused = (ListParams {
                limit: None,
                before: Some(bad.to_owned()),
            })
            .parse()
            .unwrap_err();
            assert_eq!(refused_fields(refused), ["before"], "{bad}");
        }
    }
}
