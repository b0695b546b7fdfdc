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
    store: Store,
    user_id: String,
    after: i64,
    head: watch::Receiver<i64>,
    shutdown: Shutdown,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let feed = Feed {
        store,
        user_id,
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

struct Feed {
    store: Store,
    user_id: String,
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
    /// or `None` at shutdown.
    async fn wait_for_news(&mut self) -> Option<i64> {
        let last = self.last;
        tokio::select! {
            _ = self.shutdown.wait() => None,
            seen = self.head.wait_for(|h| *h > last) => seen.ok().map(|h| *h),
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
