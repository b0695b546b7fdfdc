//! Test fixtures: one real identity for the whole binary (issuing user, admin and service
//! tokens), and per test a real payments service on port 0 with its own SQLite file,
//! driven over HTTP.

use events::testing::recorded;
use platform::{
    db::Db,
    testing::{Api, Running, Scratch, assert_problem_document, content_type},
};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::Row;
use std::path::PathBuf;

pub use platform::testing::eventually;

pub const AUTHORIZATIONS: &str = "/api/payments/authorizations";
pub const SUMMARY: &str = "/api/payments/ledger/summary";

pub use payments::processor::{
    CARD_DECLINED, CARD_INSUFFICIENT_FUNDS, CARD_PROCESSING_ERROR, CARD_SUCCEEDS,
};

pub use events::types::payments::{
    PAYMENT_AUTHORIZED as AUTHORIZED, PAYMENT_CAPTURED as CAPTURED, PAYMENT_FAILED as FAILED,
    PAYMENT_REFUNDED as REFUNDED, PAYMENT_VOIDED as VOIDED,
};

/// A running payments service on a fresh database; its API's requests are the app's.
pub struct TestApp {
    pub api: Api,
    pub admin_token: String,
    pub customer_token: String,
    /// The token payments is usually called with (the `orders` service's).
    pub service_token: String,
    /// A service that may not call payments.
    pub storefront_token: String,
    /// Payments' database.
    pub database_url: String,
    _running: Running,
    scratch: Scratch,
}

/// A fresh payments service with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A fresh payments service with some of its own settings overridden
/// (`("processing_delay_ms", "300")`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let scratch = Scratch::new("payments");
    let database_url = scratch.sqlite_url("payments");
    let running = identity
        .spawn(&payments::SERVICE, &database_url, overrides)
        .await;
    TestApp {
        api: Api::new(running.url()),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer().token,
        service_token: identity.service_token("orders"),
        storefront_token: identity.service_token("storefront"),
        database_url,
        _running: running,
        scratch,
    }
}

platform::app_derefs_to_api!(TestApp);

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
        content_type(&self.headers)
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

platform::from_row! { Entry { authorization_id, order_id, kind, amount_cents, currency } }

impl TestApp {
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

    /// `GET path` with `token`, read whole.
    pub async fn get_as(&self, token: &str, path: &str) -> Answer {
        Answer::read(self.send(Method::GET, path, Some(token), None).await).await
    }

    /// `GET /api/payments/authorizations/{id}` as the `orders` service.
    pub async fn authorization(&self, id: &str) -> Answer {
        let path = format!("{AUTHORIZATIONS}/{id}");
        self.get_as(&self.service_token, &path).await
    }

    /// `POST /api/payments/authorizations/{id}/{action}` as the `orders` service.
    pub async fn act(&self, id: &str, action: &str) -> Answer {
        let path = format!("{AUTHORIZATIONS}/{id}/{action}");
        let res = self.send_as(Method::POST, &path, &self.service_token).await;
        Answer::read(res).await
    }

    /// The ledger summary as the administrator.
    pub async fn summary(&self) -> Value {
        let answer = self.get_as(&self.admin_token, SUMMARY).await;
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
        recorded(db)
            .await
            .into_iter()
            .map(|(_, event)| {
                assert_eq!(event.source, "/bazaar/payments", "{event:?}");
                Published {
                    kind: event.kind,
                    subject: event.subject,
                    data: event.data,
                }
            })
            .collect()
    }

    /// The ledger, oldest first.
    pub async fn ledger(&self, db: &Db) -> Vec<Entry> {
        sqlx::query_as(
            "SELECT authorization_id, order_id, kind, amount_cents, currency \
             FROM ledger_entries ORDER BY at, id",
        )
        .fetch_all(db.pool())
        .await
        .expect("the ledger reads")
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
        // The `name` of every row `sql` reads, with `table` bound if given.
        let names = async |sql: &'static str, table: Option<&str>| -> Vec<String> {
            let query = sqlx::query(sql);
            let query = match table {
                Some(table) => query.bind(table.to_owned()),
                None => query,
            };
            let rows = query.fetch_all(db.pool()).await;
            let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter().map(|r| r.get("name")).collect()
        };
        let tables = names(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            None,
        )
        .await;
        assert!(tables.len() >= 5, "tables: {tables:?}");
        let mut values = Vec::new();
        for table in tables {
            let columns = names("SELECT name FROM pragma_table_info($1)", Some(&table)).await;
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
        std::fs::read_dir(self.scratch.path())
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

/// Asserts that `answer` is a problem document of `status` naming `field` (if given).
pub fn assert_problem(answer: &Answer, status: StatusCode, field: Option<&str>, case: &str) {
    assert_problem_document(
        answer.status,
        answer.content_type(),
        &answer.body,
        status,
        field,
        case,
    );
}
