//! Test fixtures: one real identity for the whole binary (the source of tokens and of
//! `user.registered`), and per test a real notifications service on its own SQLite file
//! following it over the embedded transport, driven over HTTP; orders' and payments'
//! events are delivered through the consumer directly; a minimal SMTP server catches mail.

use events::{Consumer, Event, Outcome};
use notifications::handler::{EmailMode, NotificationHandler};
use platform::{
    db::Db,
    testing::{PATIENCE, Restartable, Scratch, content_type},
};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sqlx::Row;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    task::JoinHandle,
};

/// A shopper registered with identity, signed in.
pub use identity::testing::Account as Shopper;
/// The identity service everything verifies tokens against.
pub use identity::testing::shared as identity;
pub use platform::testing::{assert_problem, eventually};

pub use notifications::events::{
    ORDER_CANCELLED, ORDER_CONFIRMED, PAYMENT_FAILED, USER_REGISTERED, USER_SIGNED_OUT,
};

/// Attempts notifications (and a test's own consumer) makes at an event.
pub const MAX_ATTEMPTS: u32 = 3;
/// Where orders and payments are said to be: nothing listens there (their events are
/// delivered through [`TestApp::deliver`]).
const NOWHERE: &str = "http://127.0.0.1:9";

/// Registers a new shopper with identity (which announces `user.registered`) and signs
/// them in.
pub async fn register(name: &str) -> Shopper {
    identity().register(name).await
}

/// A notifications service following the shared identity; its API's requests are the
/// app's.
pub struct TestApp {
    /// The service's API (its address changes when the service restarts).
    pub api: Restartable,
    pub database_url: String,
    overrides: Vec<(String, String)>,
    _scratch: Scratch,
}

/// A fresh notifications service without email.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A fresh notifications service with extra settings (`("smtp_url", …)`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    platform::telemetry::init_for_tests();
    identity();
    let scratch = Scratch::new("notifications");
    let mut app = TestApp {
        api: Restartable::stopped(),
        database_url: scratch.sqlite_url("notifications"),
        overrides: overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        _scratch: scratch,
    };
    app.start().await;
    app
}

platform::app_derefs_to_api!(TestApp);

impl TestApp {
    /// Starts the service (again) on its database: port 0, the shared identity, the
    /// overrides.
    pub async fn start(&mut self) {
        let attempts = MAX_ATTEMPTS.to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("orders_url", NOWHERE),
            ("payments_url", NOWHERE),
            ("event_max_attempts", &attempts),
        ];
        pairs.extend(self.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let running = identity()
            .spawn(&notifications::SERVICE, &self.database_url, &pairs)
            .await;
        self.api.started(running);
    }

    /// Stops the service gracefully; returns how long that took.
    pub async fn stop(&mut self) -> Duration {
        self.api.stop().await
    }

    /// GET with an optional bearer token.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, None).await
    }

    /// The user's mailbox, newest first.
    pub async fn messages(&self, token: &str) -> Vec<Value> {
        self.messages_at("/api/notifications", token).await
    }

    /// The mailbox as `path` lists it.
    pub async fn messages_at(&self, path: &str, token: &str) -> Vec<Value> {
        let res = self.get_as(path, Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let body: Value = res.json().await.expect("a JSON body");
        body.as_array().cloned().expect("a JSON array")
    }

    /// Waits until the user's mailbox holds a message of `kind`; returns it.
    pub async fn wait_for_message(&self, token: &str, kind: &str) -> Value {
        eventually(&format!("a `{kind}` message"), async || {
            self.messages(token)
                .await
                .into_iter()
                .find(|m| m["kind"] == kind)
        })
        .await
    }

    /// Registers a new shopper named `name` (see [`register`]) and waits until the
    /// welcome the service sends them is in their mailbox.
    pub async fn welcomed(&self, name: &str) -> Shopper {
        let shopper = register(name).await;
        self.wait_for_message(&shopper.token, "welcome").await;
        shopper
    }

    /// The service's database, opened beside the running service.
    pub async fn db(&self) -> Db {
        Db::connect(&self.database_url, &notifications::store::migrations())
            .await
            .expect("the notifications database opens")
    }

    /// Delivers an event as the transport would, through a consumer of the service's
    /// database (mail or no mail, as `email` says).
    pub async fn deliver_with(&self, event: &Event, email: EmailMode) -> Outcome {
        let consumer = Consumer::new(
            "notifications",
            self.db().await,
            NotificationHandler::new(email),
            notifications::SERVICE.subscriptions,
            MAX_ATTEMPTS,
        );
        consumer
            .process(event, None)
            .await
            .expect("the consumer ran")
    }

    /// Delivers an event to a service without email.
    pub async fn deliver(&self, event: &Event) -> Outcome {
        self.deliver_with(event, EmailMode::Skip).await
    }

    /// Waits until the email of `subject` to `user_id` is `state` (`sent`, `failed`);
    /// returns how many tries it took.
    pub async fn wait_for_email(&self, user_id: &str, subject: &str, state: &str) -> i64 {
        eventually(&format!("the email {subject:?} {state}"), async || {
            let states = self.email_states(user_id).await;
            states
                .get(subject)
                .filter(|(s, _)| s == state)
                .map(|(_, tries)| *tries)
        })
        .await
    }

    /// Every message's email status and tries, by subject, for one user.
    pub async fn email_states(&self, user_id: &str) -> HashMap<String, (String, i64)> {
        let db = self.db().await;
        sqlx::query("SELECT subject, email_status, email_attempts FROM messages WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(db.pool())
            .await
            .expect("the mailbox reads")
            .iter()
            .map(|r| {
                (
                    r.get("subject"),
                    (r.get("email_status"), r.get("email_attempts")),
                )
            })
            .collect()
    }
}

/// A new order id, as orders would make it.
pub fn new_order_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The `#XXXXXXXX` shoppers see for an order id.
pub fn short(order_id: &str) -> String {
    format!("#{}", order_id[order_id.len() - 8..].to_ascii_uppercase())
}

/// Orders' event of `kind` (from its published contract) for a shopper's order of a mug
/// pair and a kettle ($75.97).
fn order_event(
    kind: &str,
    shopper: &Shopper,
    order_id: &str,
    edit: impl FnOnce(&mut Value),
) -> Event {
    events::testing::event("orders", kind, order_id, |data| {
        data["order_id"] = order_id.into();
        data["user_id"] = shopper.id.as_str().into();
        data["user_email"] = shopper.email.as_str().into();
        data["user_name"] = shopper.name.as_str().into();
        let mut items = events::testing::items_like(data, &[("p-mug", 2), ("p-kettle", 1)]);
        items[0]["name"] = "Blue Mug".into();
        items[0]["unit_price_cents"] = 1299.into();
        items[1]["name"] = "Kettle".into();
        items[1]["unit_price_cents"] = 4999.into();
        data["items"] = items;
        data["total_cents"] = 7597.into();
        data["currency"] = "USD".into();
        edit(data);
    })
}

/// Orders' `order.confirmed` for a shopper's order of a mug pair and a kettle ($75.97).
pub fn order_confirmed(shopper: &Shopper, order_id: &str) -> Event {
    order_event(ORDER_CONFIRMED, shopper, order_id, |data| {
        data["confirmed_at"] = events::now_rfc3339().into();
    })
}

/// Orders' `order.cancelled` of that order, for `reason`.
pub fn order_cancelled(shopper: &Shopper, order_id: &str, reason: &str) -> Event {
    order_event(ORDER_CANCELLED, shopper, order_id, |data| {
        data["reason"] = reason.into();
    })
}

/// Payments' `payment.failed` of that order.
pub fn payment_failed(shopper: &Shopper, order_id: &str, decline_code: &str) -> Event {
    events::testing::event("payments", PAYMENT_FAILED, order_id, |data| {
        data["order_id"] = order_id.into();
        data["user_id"] = shopper.id.as_str().into();
        data["amount_cents"] = 7597.into();
        data["currency"] = "USD".into();
        data["decline_code"] = decline_code.into();
    })
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

/// Reads a `text/event-stream` response event by event.
pub struct SseReader {
    res: Response,
    buffer: String,
}

impl SseReader {
    /// Opens the user's stream, resuming after `last_event_id` if given.
    pub async fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Self {
        let mut req = app
            .client
            .get(app.url("/api/notifications/stream"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.expect("request sent");
        assert_eq!(res.status(), StatusCode::OK, "opening the stream");
        let content_type = content_type(res.headers());
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            res,
            buffer: String::new(),
        }
    }

    /// The next event that carries data, within `within`; `None` when none came.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await;
            match chunk {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) => return None,
                Ok(Err(e)) => panic!("the stream failed: {e}"),
            }
        }
    }

    /// The next event with data; fails the test after [`PATIENCE`].
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(PATIENCE)
            .await
            .expect("an event within the patience")
    }

    /// Whether the server ended the stream within `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
            }
        }
    }
}

/// An event frame with data (retry hints and comments carry none).
fn parse_frame(frame: &str) -> Option<SseEvent> {
    let mut event = SseEvent::default();
    let mut data = Vec::new();
    for line in frame.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event.event = Some(value.to_owned()),
            "id" => event.id = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    event.data = data.join("\n");
    Some(event)
}

/// One email the SMTP sink took.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// What came after DATA: headers and body.
    pub data: String,
}

impl Mail {
    /// A header's value (the first of that name), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = value.as_mut() {
                    v.push_str(line.trim_start());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value
    }
}

/// How the sink answers `RCPT TO` for one address, the first `times` times.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub to: String,
    pub reply: &'static str,
    pub times: usize,
}

/// A minimal SMTP server: 220/250/354/221 to the usual commands, capturing each DATA;
/// `RCPT TO` of an address with a [`Refusal`] is refused as it says.
pub struct SmtpSink {
    pub addr: SocketAddr,
    mail: Arc<Mutex<Vec<Mail>>>,
    rcpt_seen: Arc<Mutex<HashMap<String, usize>>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start(refusals: Vec<Refusal>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the SMTP sink");
        let addr = listener.local_addr().expect("the sink's address");
        let mail = Arc::new(Mutex::new(Vec::new()));
        let rcpt_seen = Arc::new(Mutex::new(HashMap::new()));
        let refusals = Arc::new(refusals);
        let (m, r) = (mail.clone(), rcpt_seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (m, r, refusals) = (m.clone(), r.clone(), refusals.clone());
                tokio::spawn(async move {
                    let _ = session(socket, m, r, refusals).await;
                });
            }
        });
        Self {
            addr,
            mail,
            rcpt_seen,
            task,
        }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The mail taken so far for `to`.
    pub fn mail_to(&self, to: &str) -> Vec<Mail> {
        self.mail
            .lock()
            .expect("the sink's mail")
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .cloned()
            .collect()
    }

    /// How often `RCPT TO` named `to`.
    pub fn rcpt_count(&self, to: &str) -> usize {
        self.rcpt_seen
            .lock()
            .expect("the sink's counts")
            .get(to)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `n` emails for `to` arrived; returns them.
    pub async fn wait_for_mail(&self, to: &str, n: usize) -> Vec<Mail> {
        eventually(&format!("{n} email(s) to {to}"), async || {
            let mail = self.mail_to(to);
            (mail.len() >= n).then_some(mail)
        })
        .await
    }
}

/// The address inside `MAIL FROM:<a>` / `RCPT TO:<a>`.
fn angle_address(arg: &str) -> String {
    arg.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_else(|| arg.trim().to_owned())
}

async fn session(
    socket: tokio::net::TcpStream,
    mail: Arc<Mutex<Vec<Mail>>>,
    rcpt_seen: Arc<Mutex<HashMap<String, usize>>>,
    refusals: Arc<Vec<Refusal>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = angle_address(&command[10..]);
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = angle_address(&command[8..]);
            let seen = {
                let mut counts = rcpt_seen.lock().expect("the sink's counts");
                let n = counts.entry(rcpt.clone()).or_insert(0);
                *n += 1;
                *n
            };
            match refusals.iter().find(|r| r.to == rcpt && seen <= r.times) {
                Some(refusal) => format!("{}\r\n", refusal.reply),
                None => {
                    to.push(rcpt);
                    "250 OK\r\n".into()
                }
            }
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Undo dot-stuffing.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mail.lock().expect("the sink's mail").push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            "250 OK queued\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            // RSET, NOOP and anything else.
            "250 OK\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}
