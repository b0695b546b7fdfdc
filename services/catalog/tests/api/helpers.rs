//! Test fixtures: a real identity service for tokens, and a fresh catalog per test on its
//! own SQLite file, driven over HTTP.

use platform::testing::{Api, Running, Scratch};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

pub use platform::testing::assert_problem;

/// A running catalog with its own database; its API's requests are the app's.
pub struct TestApp {
    pub api: Api,
    pub admin_token: String,
    pub customer_token: String,
    /// The catalog's database, as a URL the service accepts.
    pub database_url: String,
    /// How long `catalog::build` took (migrations and seeding included).
    pub build_time: Duration,
    _running: Running,
    _scratch: Scratch,
}

/// The catalog for a test: port 0, the given database, the shared identity, then `extra`.
pub fn settings(database_url: &str, extra: &[(&str, &str)]) -> platform::Launch {
    let mut more = vec![("seed_products", "60")];
    more.extend_from_slice(extra);
    identity::testing::shared().launch(&catalog::SERVICE, database_url, &more)
}

/// A catalog seeded with a small catalog (60 products, every category used).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A catalog whose test settings (60 seed products) are overridden by `extra`.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let scratch = Scratch::new("catalog");
    let database_url = scratch.sqlite_url("catalog");
    spawn_app_on(scratch, database_url, extra).await
}

/// A catalog on `database_url` (a SQLite file in `scratch`, or a PostgreSQL database).
pub async fn spawn_app_on(
    scratch: Scratch,
    database_url: String,
    extra: &[(&str, &str)],
) -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let started = Instant::now();
    let service = settings(&database_url, extra)
        .build()
        .await
        .expect("the catalog builds");
    let build_time = started.elapsed();
    let running = Running::spawn(service);
    TestApp {
        api: Api::new(running.url()),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer().token,
        database_url,
        build_time,
        _running: running,
        _scratch: scratch,
    }
}

platform::app_derefs_to_api!(TestApp);

/// One outbox row: its type, subject and the event's `data`.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub kind: String,
    pub subject: String,
    pub data: Value,
}

impl TestApp {
    /// Creates a product as the administrator; returns the created product.
    /// Creates [`new_product`] `sku` as the administrator.
    pub async fn create(&self, sku: &str) -> Created {
        let product = self.create_product(&new_product(sku)).await;
        let id = product["id"].as_str().expect("an id").to_owned();
        let path = format!("/api/catalog/products/{id}");
        Created { product, id, path }
    }

    pub async fn create_product(&self, body: &Value) -> Value {
        let res = self
            .send(
                Method::POST,
                "/api/catalog/products",
                Some(&self.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create {body}");
        res.json().await.expect("a JSON body")
    }

    /// Changes a product as the administrator (`PATCH` with `body`); returns the product
    /// as it is now.
    pub async fn patch_product(&self, id: &str, body: &Value) -> Value {
        let res = self
            .send(
                Method::PATCH,
                &format!("/api/catalog/products/{id}"),
                Some(&self.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "patch {id} with {body}");
        res.json().await.expect("a JSON body")
    }

    /// Every product, fetched page by page.
    pub async fn all_products(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let body = self
                .get_json(&format!("/api/catalog/products?per_page=100&page={page}"))
                .await;
            let items = body["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            out.extend(items);
        }
        out
    }

    /// The outbox, in the order the events were recorded, read from the service's file.
    pub async fn outbox(&self) -> Vec<OutboxRow> {
        use sqlx::Row;
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&self.database_url)
            .await
            .expect("the catalog's database opens");
        let rows = sqlx::query("SELECT type, subject, payload FROM outbox ORDER BY seq")
            .fetch_all(&pool)
            .await
            .expect("the outbox reads");
        pool.close().await;
        rows.iter()
            .map(|r| {
                let payload: String = r.get("payload");
                let event: Value = serde_json::from_str(&payload).expect("the payload is JSON");
                assert_eq!(event["specversion"], "1.0");
                assert_eq!(event["source"], "/bazaar/catalog");
                OutboxRow {
                    kind: r.get("type"),
                    subject: r.get("subject"),
                    data: event["data"].clone(),
                }
            })
            .collect()
    }

    /// The outbox rows about one product.
    pub async fn events_of(&self, subject: &str) -> Vec<OutboxRow> {
        self.outbox()
            .await
            .into_iter()
            .filter(|r| r.subject == subject)
            .collect()
    }
}

/// A product body an administrator could post.
/// A product [`TestApp::create`] made: the catalog's answer, its id and its path.
pub struct Created {
    pub product: Value,
    pub id: String,
    pub path: String,
}

pub fn new_product(sku: &str) -> Value {
    serde_json::json!({
        "sku": sku,
        "name": "Test Kettle",
        "description": "A kettle for tests — it boils.",
        "category": "kitchen",
        "price_cents": 4999,
        "initial_stock": 5
    })
}
