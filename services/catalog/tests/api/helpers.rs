//! Test fixtures: a real identity service for tokens, and a fresh catalog per test on its
//! own SQLite file, driven over HTTP.

use reqwest::{Method, Response, StatusCode, header};
use serde_json::Value;
use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple-42";
const CUSTOMER_EMAIL: &str = "shopper@test.local";
const CUSTOMER_PASSWORD: &str = "purple-monkey-dishwasher-7";

/// The identity service the catalogs verify tokens against, and a token of each kind.
pub struct Identity {
    pub url: String,
    pub admin_token: String,
    pub customer_token: String,
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

async fn start_identity() -> anyhow::Result<(Identity, tokio::task::JoinHandle<anyhow::Result<()>>)>
{
    let dir = temp_dir("identity");
    let db = format!("sqlite://{}/identity.db", dir.display());
    let settings = identity::Settings::for_tests(
        "identity",
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &db),
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
        ],
    )?;
    let service = identity::build(settings).await?;
    let url = format!("http://{}", service.local_addr());
    let server = tokio::spawn(service.run());

    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{url}/api/identity/register"))
        .json(&serde_json::json!({
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
    Ok((
        Identity {
            url,
            admin_token,
            customer_token,
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
        .json(&serde_json::json!({"email": email, "password": password}))
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
        "bazaar-catalog-test-{label}-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A running catalog with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub customer_token: String,
    /// The catalog's database, as a URL the service accepts.
    pub database_url: String,
    /// How long `catalog::build` took (migrations and seeding included).
    pub build_time: Duration,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The catalog's settings for a test: port 0, the given database, the shared identity.
pub fn settings(database_url: &str, seed_products: u32) -> catalog::Settings {
    catalog::Settings::for_tests(
        "catalog",
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", database_url),
            ("identity_url", &identity().url),
            ("seed_products", &seed_products.to_string()),
        ],
    )
    .expect("valid test settings")
}

/// A catalog seeded with a small catalog (60 products, every category used).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A catalog whose test settings (60 seed products) are first changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut catalog::Settings)) -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity();
    let dir = temp_dir("catalog");
    let database_url = format!("sqlite://{}/catalog.db", dir.display());
    let mut settings = settings(&database_url, 60);
    configure(&mut settings);
    let started = Instant::now();
    let service = catalog::build(settings).await.expect("the catalog builds");
    let build_time = started.elapsed();
    let address = format!("http://{}", service.local_addr());
    tokio::spawn(service.run());
    TestApp {
        address,
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer_token.clone(),
        database_url,
        build_time,
        dir,
    }
}

/// One outbox row: its type, subject and the event's `data`.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub kind: String,
    pub subject: String,
    pub data: Value,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// GET and parse a 200 JSON answer.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("a JSON body")
    }

    /// A request with an optional bearer token and JSON body.
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

    /// A request with a raw body and content type, as the administrator.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a product as the administrator; returns the created product.
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

/// Asserts that `res` is a problem document of `status` naming `field` (if given);
/// returns the document.
pub async fn assert_problem(
    res: Response,
    status: StatusCode,
    field: Option<&str>,
    case: &str,
) -> Value {
    assert_eq!(res.status(), status, "{case}: status");
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{case}: content type was {content_type:?}"
    );
    let body: Value = res.json().await.expect("a JSON problem document");
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
    body
}
