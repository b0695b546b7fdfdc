//! Test fixtures: one real identity for the whole binary (issuing user, admin and service
//! tokens), and per test a real payments service on port 0 with its own SQLite file,
//! driven over HTTP.

use platform::{auth::ServiceCredentials, config::Secret, db::Db, shutdown::Shutdown};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::Row;
use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple-42";
const CUSTOMER_EMAIL: &str = "shopper@test.local";
const CUSTOMER_PASSWORD: &str = "purple-monkey-dishwasher-7";
const SERVICE_SECRET: &str = "test-secret";

pub const AUTHORIZATIONS: &str = "/api/payments/authorizations";
pub const SUMMARY: &str = "/api/payments/ledger/summary";

pub const CARD_SUCCEEDS: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_INSUFFICIENT_FUNDS: &str = "4000000000009995";
pub const CARD_PROCESSING_ERROR: &str = "4000000000000119";

pub const AUTHORIZED: &str = "bazaar.payments.payment.authorized.v1";
pub const CAPTURED: &str = "bazaar.payments.payment.captured.v1";
pub const VOIDED: &str = "bazaar.payments.payment.voided.v1";
pub const REFUNDED: &str = "bazaar.payments.payment.refunded.v1";
pub const FAILED: &str = "bazaar.payments.payment.failed.v1";

/// The identity service everything verifies tokens against, and a token of each kind.
pub struct Identity {
    pub url: String,
    pub admin_token: String,
    pub customer_token: String,
    /// A service token of `orders`: the usual caller.
    pub orders_token: String,
    /// A service token of another service, whose idempotency keys are its own.
    pub other_service_token: String,
}

static IDENTITY: OnceLock<Identity> = OnceLock::new();

/// One identity service for the whole test binary: each test has its own tokio runtime,
/// which would take a per-test identity down with it, and every start costs password
/// hashes. It runs on a thread of its own for as long as the binary does.
pub fn identity() -> &'static Identity {
    IDENTITY.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("identity".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for identity");
                rt.block_on(async move {
                    match start_identity().await {
                        Ok((fixture, server)) => {
                            let _ = tx.send(Ok(fixture));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("{e:#}")));
                        }
                    }
                });
            })
            .expect("a thread for identity");
        match rx.recv() {
            Ok(Ok(identity)) => identity,
            Ok(Err(e)) => panic!("identity did not start: {e}"),
            Err(_) => panic!("identity's thread ended before it started"),
        }
    })
}

async fn start_identity() -> anyhow::Result<(Identity, JoinHandle<anyhow::Result<()>>)> {
    let dir = temp_dir("identity");
    let db = format!("sqlite://{}/identity.db", dir.display());
    let settings = identity::Settings::for_tests(
        "identity",
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &db),
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
            ("service_secret", SERVICE_SECRET),
        ],
    )?;
    let service = identity::build(settings).await?;
    let url = format!("http://{}", service.local_addr());
    let server = tokio::spawn(service.run());

    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{url}/api/identity/register"))
        .json(&json!({
            "email": CUSTOMER_EMAIL, "password": CUSTOMER_PASSWORD, "name": "Sam Shopper"
        }))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == StatusCode::CREATED,
        "register answered {}: {}",
        registered.status(),
        registered.text().await.unwrap_or_default()
    );
    let admin_token = login(&client, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let customer_token = login(&client, &url, CUSTOMER_EMAIL, CUSTOMER_PASSWORD).await?;
    let orders_token = ServiceCredentials::new("orders", &url, Secret::new(SERVICE_SECRET))
        .token()
        .await?;
    let other_service_token = ServiceCredentials::new("cart", &url, Secret::new(SERVICE_SECRET))
        .token()
        .await?;
    Ok((
        Identity {
            url,
            admin_token,
            customer_token,
            orders_token,
            other_service_token,
        },
        server,
    ))
}

async fn login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let res = client
        .post(format!("{url}/api/identity/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == StatusCode::OK,
        "login as {email} answered {}",
        res.status()
    );
    let body: Value = res.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login as {email} returned no access_token: {body}"))
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bazaar-payments-test-{label}-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A running payments service on a fresh database.
pub struct TestApp {
    /// Payments' `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub customer_token: String,
    /// The token payments is usually called with (the `orders` service's).
    pub service_token: String,
    pub other_service_token: String,
    /// Payments' database.
    pub database_url: String,
    shutdown: Shutdown,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh payments service with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A fresh payments service with some of its own settings overridden
/// (`("processing_delay_ms", "300")`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity();
    let dir = temp_dir("app");
    let database_url = format!("sqlite://{}/payments.db", dir.display());
    let mut settings: Vec<(&str, &str)> = vec![
        ("listen", "127.0.0.1:0"),
        ("database_url", &database_url),
        ("identity_url", &identity.url),
    ];
    settings.extend_from_slice(overrides);
    let settings =
        payments::Settings::for_tests("payments", &settings).expect("valid payments settings");
    let service = payments::build(settings).await.expect("payments builds");
    let address = format!("http://{}", service.local_addr());
    let shutdown = service.shutdown_handle();
    let task = tokio::spawn(service.run());
    TestApp {
        address,
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer_token.clone(),
        service_token: identity.orders_token.clone(),
        other_service_token: identity.other_service_token.clone(),
        database_url,
        shutdown,
        task: Some(task),
        dir,
    }
}

/// The body of an authorisation request: `card` is the card number, the rest is valid.
pub fn authorization(order_id: &str, amount_cents: i64, card: &str) -> Value {
    json!({
        "order_id": order_id,
        "user_id": "0193a5c2-0000-7cc0-9f1d-2b4e8a9c0d11",
        "amount_cents": amount_cents,
        "currency": "USD",
        "card": {"number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    })
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    format!("test-{}", uuid::Uuid::new_v4())
}

/// An answer read whole: status, headers, body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn read(res: Response) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("a JSON body ({e}), got {status} {text:?}"));
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// One row of an outbox: its type, subject and the event's `data`.
#[derive(Debug, Clone)]
pub struct Published {
    pub kind: String,
    pub subject: String,
    pub data: Value,
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub authorization_id: String,
    pub order_id: String,
    pub kind: String,
    pub amount_cents: i64,
    pub currency: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to payments with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    /// `POST /api/payments/authorizations` with a key, as the `orders` service.
    pub async fn authorize(&self, key: &str, body: &Value) -> Answer {
        self.authorize_as(&self.service_token, key, body).await
    }

    /// `POST /api/payments/authorizations` with a key and a token of choice.
    pub async fn authorize_as(&self, token: &str, key: &str, body: &Value) -> Answer {
        let res = self
            .client
            .post(self.url(AUTHORIZATIONS))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request sent");
        Answer::read(res).await
    }

    /// Authorises `amount_cents` on the card that succeeds; returns the authorisation.
    pub async fn authorized(&self, order_id: &str, amount_cents: i64) -> Value {
        let answer = self
            .authorize(
                &new_key(),
                &authorization(order_id, amount_cents, CARD_SUCCEEDS),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    /// `POST /api/payments/authorizations/{id}/{action}` as the `orders` service.
    pub async fn act(&self, id: &str, action: &str) -> Answer {
        let res = self
            .send(
                Method::POST,
                &format!("{AUTHORIZATIONS}/{id}/{action}"),
                Some(&self.service_token),
                None,
            )
            .await;
        Answer::read(res).await
    }

    /// The ledger summary as the administrator.
    pub async fn summary(&self) -> Value {
        let res = self
            .send(Method::GET, SUMMARY, Some(&self.admin_token), None)
            .await;
        let answer = Answer::read(res).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// Payments' database, opened beside the running service.
    pub async fn db(&self) -> Db {
        Db::connect(&self.database_url, &payments::store::migrations())
            .await
            .expect("payments' database opens")
    }

    /// What payments published: its outbox, oldest first.
    pub async fn published(&self, db: &Db) -> Vec<Published> {
        sqlx::query("SELECT type, subject, payload FROM outbox ORDER BY seq")
            .fetch_all(db.pool())
            .await
            .expect("the outbox reads")
            .iter()
            .map(|r| {
                let payload: String = r.get("payload");
                let event: Value = serde_json::from_str(&payload).expect("the payload is JSON");
                assert_eq!(event["specversion"], "1.0", "{event}");
                assert_eq!(event["source"], "/bazaar/payments", "{event}");
                Published {
                    kind: r.get("type"),
                    subject: r.get("subject"),
                    data: event["data"].clone(),
                }
            })
            .collect()
    }

    /// The ledger, oldest first.
    pub async fn ledger(&self, db: &Db) -> Vec<Entry> {
        sqlx::query(
            "SELECT authorization_id, order_id, kind, amount_cents, currency \
             FROM ledger_entries ORDER BY at, id",
        )
        .fetch_all(db.pool())
        .await
        .expect("the ledger reads")
        .iter()
        .map(|r| Entry {
            authorization_id: r.get("authorization_id"),
            order_id: r.get("order_id"),
            kind: r.get("kind"),
            amount_cents: r.get("amount_cents"),
            currency: r.get("currency"),
        })
        .collect()
    }

    /// How many rows a table has.
    pub async fn count(&self, db: &Db, table: &str) -> i64 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(db.pool())
        .await
        .expect("the table counts")
        .get("n")
    }

    /// Every value of every column of every table, as text: what a scan for leaked data
    /// looks through.
    pub async fn every_value(&self, db: &Db) -> Vec<(String, String, String)> {
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(db.pool())
        .await
        .expect("the tables list")
        .iter()
        .map(|r| r.get("name"))
        .collect();
        assert!(tables.len() >= 5, "tables: {tables:?}");
        let mut values = Vec::new();
        for table in tables {
            let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(db.pool())
                .await
                .expect("the columns list")
                .iter()
                .map(|r| r.get("name"))
                .collect();
            for column in columns {
                // As bytes: text as it is, numbers as their digits, blobs raw.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(\"{column}\" AS BLOB) AS v FROM \"{table}\""
                )))
                .fetch_all(db.pool())
                .await
                .expect("the column reads");
                for row in rows {
                    let v: Option<Vec<u8>> = row.get("v");
                    if let Some(v) = v {
                        let text = String::from_utf8_lossy(&v).into_owned();
                        values.push((table.clone(), column.clone(), text));
                    }
                }
            }
        }
        values
    }

    /// The database's files (main, WAL, shared memory), byte for byte.
    pub fn database_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        std::fs::read_dir(&self.dir)
            .expect("the test directory lists")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("payments.db"))
            })
            .map(|p| {
                let bytes = std::fs::read(&p).expect("the file reads");
                (p, bytes)
            })
            .collect()
    }
}

/// Asserts that `answer` is a problem document of `status` naming `field` (if given);
/// returns the document.
pub fn assert_problem(answer: &Answer, status: StatusCode, field: Option<&str>, case: &str) {
    assert_eq!(answer.status, status, "{case}: status, {}", answer.body);
    assert!(
        answer
            .content_type()
            .starts_with("application/problem+json"),
        "{case}: content type was {:?}",
        answer.content_type()
    );
    let body = &answer.body;
    assert_eq!(body["status"], status.as_u16(), "{case}: {body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{case}: {body}"
    );
    if let Some(field) = field {
        let named = body["errors"]
            .as_array()
            .is_some_and(|errors| errors.iter().any(|e| e["field"] == field));
        assert!(named, "{case}: `{field}` is not named in {body}");
    }
}

/// Looks every 25 ms, for up to 10 s, until `check` finds what it looks for.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after 10 s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
