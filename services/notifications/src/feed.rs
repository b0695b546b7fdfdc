//! The live feed behind `GET /api/notifications/stream`: one watcher per process notices
//! new messages (it polls the mailbox's head every 250 ms, so it sees every replica's
//! writes and survives restarts), and each open stream then reads its user's messages
//! after the last one it sent.

use crate::{domain::Message, store::Store};
use anyhow::Context;
use axum::response::sse::Event as SseEvent;
use futures_util::Stream;
use platform::{Kit, shutdown::Shutdown};
use std::{collections::VecDeque, convert::Infallible, time::Duration};
use tokio::sync::watch;

/// How often the mailbox's head is looked at.
pub const POLL: Duration = Duration::from_millis(250);
/// The SSE event name of a message.
pub const EVENT_NAME: &str = "notification";
/// How long a client waits before reconnecting (the stream's `retry:` hint).
const RECONNECT: Duration = Duration::from_secs(2);
/// Messages read per query.
const BATCH: i64 = 100;
/// How often an open stream looks whether its user signed out.
pub const SIGN_OUT_CHECK: Duration = Duration::from_secs(1);

/// Starts the watcher of the mailbox's head; returns the head as it publishes it.
pub async fn start<S>(kit: &mut Kit<S>, store: &Store) -> anyhow::Result<watch::Receiver<i64>> {
    let head = store
        .head()
        .await
        .context("could not read the notifications mailbox")?;
    let (head_tx, head_rx) = watch::channel(head);
    let store = store.clone();
    kit.worker("feed", move |stop| watch_head(store, head_tx, stop));
    Ok(head_rx)
}

/// Watches the mailbox's head (the position of its newest message) and publishes it on
/// `head`, until shutdown.
pub async fn watch_head(
    store: Store,
    head: watch::Sender<i64>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    loop {
        match store.head().await {
            Ok(now) => {
                head.send_if_modified(|seen| {
                    let newer = now > *seen;
                    if newer {
                        *seen = now;
                    }
                    newer
                });
            }
            Err(e) => tracing::warn!(error = %e, "could not read the mailbox head"),
        }
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One client's stream: its user's messages after position `after`, as SSE events, until
/// the client goes away or the service stops.
pub fn stream(
    subscriber: Subscriber,
    store: Store,
    after: i64,
    head: watch::Receiver<i64>,
    shutdown: Shutdown,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let feed = Feed {
        store,
        user_id: subscriber.user_id,
        issued_at: subscriber.issued_at,
        until: subscriber.until,
        _slot: subscriber.slot,
        last: after,
        queue: VecDeque::new(),
        head,
        shutdown,
        greeted: false,
    };
    futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    })
}

/// Whose stream it is, until when, and the place it takes among the user's streams.
pub struct Subscriber {
    pub user_id: String,
    /// When the token that opened it was issued (`iat`): a sign-out after it ends it.
    pub issued_at: i64,
    /// When the token that opened it expires: the stream ends then.
    pub until: tokio::time::Instant,
    pub slot: Slot,
}

/// The live streams open per user, and how many one user may hold. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    open: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    per_user: u32,
}

impl Streams {
    pub fn new(per_user: u32) -> Self {
        Self {
            open: Default::default(),
            per_user,
        }
    }

    /// A place for one more stream of `user_id`, held until the [`Slot`] is dropped; or
    /// how many that user has open already, when that is the limit.
    pub fn open(&self, user_id: &str) -> Result<Slot, u32> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(user_id.to_owned()).or_insert(0);
        if *count >= self.per_user {
            return Err(*count);
        }
        *count += 1;
        Ok(Slot {
            streams: self.clone(),
            user_id: user_id.to_owned(),
        })
    }
}

/// One open stream's place; given back when the stream ends (the client left, the token
/// expired, the service stopped).
pub struct Slot {
    streams: Streams,
    user_id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

struct Feed {
    store: Store,
    user_id: String,
    issued_at: i64,
    until: tokio::time::Instant,
    _slot: Slot,
    /// The position of the last message read for this user (or of the head it started
    /// from).
    last: i64,
    queue: VecDeque<Message>,
    head: watch::Receiver<i64>,
    shutdown: Shutdown,
    greeted: bool,
}

impl Feed {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        if !self.greeted {
            self.greeted = true;
            return Some(SseEvent::default().retry(RECONNECT));
        }
        loop {
            if let Some(message) = self.queue.pop_front() {
                match to_event(&message) {
                    Some(event) => return Some(event),
                    None => continue,
                }
            }
            let head = self.wait_for_news().await?;
            match self.store.after(&self.user_id, self.last, BATCH).await {
                Ok(rows) => {
                    let full = rows.len() as i64 == BATCH;
                    if let Some((seq, _)) = rows.last() {
                        self.last = *seq;
                    }
                    // Everything up to the head it saw has committed (writers are
                    // serialised to their commit), so this user has nothing more there.
                    if !full {
                        self.last = self.last.max(head);
                    }
                    self.queue.extend(rows.into_iter().map(|(_, m)| m));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the mailbox for a stream");
                    tokio::select! {
                        _ = self.shutdown.wait() => return None,
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        }
    }

    /// Waits until the mailbox's head is past this stream's position; returns the head,
    /// or `None` at shutdown, when the stream's token expires, or once the user signed out
    /// after it was issued (looked at every [`SIGN_OUT_CHECK`], on any replica's news).
    async fn wait_for_news(&mut self) -> Option<i64> {
        let last = self.last;
        loop {
            let news = tokio::select! {
                _ = self.shutdown.wait() => return None,
                _ = tokio::time::sleep_until(self.until) => return None,
                seen = self.head.wait_for(|h| *h > last) => Some(seen.ok().map(|h| *h)),
                _ = tokio::time::sleep(SIGN_OUT_CHECK) => None,
            };
            if let Some(head) = news {
                return head;
            }
            match self
                .store
                .signed_out_since(&self.user_id, self.issued_at)
                .await
            {
                Ok(true) => {
                    tracing::info!(user_id = %self.user_id, "the user signed out; the stream ends");
                    return None;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the user's sign-outs"),
            }
        }
    }
}

/// A message as an SSE event: named `notification`, its id the message's, its data the
/// message as JSON.
fn to_event(message: &Message) -> Option<SseEvent> {
    match serde_json::to_string(message) {
        Ok(data) => Some(
            SseEvent::default()
                .event(EVENT_NAME)
                .id(message.id.as_str())
                .data(data),
        ),
        Err(e) => {
            tracing::error!(error = %e, message_id = %message.id, "could not encode a message");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageKind;

    #[test]
    fn a_message_becomes_a_named_event_with_its_id() {
        let message = Message {
            id: "m-1".into(),
            kind: MessageKind::Welcome,
            subject: "Welcome to Bazaar, Sam".into(),
            body: "Hi Sam,\n\nWelcome!\n".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let event = to_event(&message).unwrap();
        let text = format!("{event:?}");
        assert!(text.contains("notification"), "{text}");
        assert!(text.contains("m-1"), "{text}");
    }
}
