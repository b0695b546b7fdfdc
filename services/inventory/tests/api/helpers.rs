//! Test fixtures: one real identity for the whole binary (issuing user and service
//! tokens), and per test a real catalog (seeded with a few products) and a real inventory
//! that follows it, each on its own SQLite file, driven over HTTP.

use events::Consumer;
use inventory::handler::StockHandler;
use platform::{config::Secret, db::Db, shutdown::Shutdown};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::Row;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple-42";
const CUSTOMER_EMAIL: &str = "shopper@test.local";
const CUSTOMER_PASSWORD: &str = "purple-monkey-dishwasher-7";
/// The secret identity gives service tokens for.
const SERVICE_SECRET: &str = "test-secret";

/// Products in each test's seeded catalog.
pub const SEED_PRODUCTS: usize = 40;
/// Attempts inventory (and a test's own consumer) makes at an event before dead-lettering.
pub const MAX_ATTEMPTS: u32 = 3;

pub const PRODUCT_CREATED: &str = "bazaar.catalog.product.created.v1";
pub const PRODUCT_DELETED: &str = "bazaar.catalog.product.deleted.v1";
pub const STOCK_CHANGED: &str = "bazaar.inventory.stock.changed.v1";
pub const RESERVATION_HELD: &str = "bazaar.inventory.reservation.held.v1";
pub const RESERVATION_COMMITTED: &str = "bazaar.inventory.reservation.committed.v1";
pub const RESERVATION_RELEASED: &str = "bazaar.inventory.reservation.released.v1";

/// The reservations collection.
pub const RESERVATIONS: &str = "/api/inventory/reservations";

/// How often and how long [`eventually`] looks.
const POLL: Duration = Duration::from_millis(50);
const PATIENCE: Duration = Duration::from_secs(10);

/// The identity service everything verifies tokens against, and a token of each kind.
pub struct Identity {
    pub url: String,
    pub admin_token: String,
    pub customer_token: String,
    /// A service token of `orders`, the reservations' real caller.
    pub service_token: String,
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
    let service_token =
        platform::auth::ServiceCredentials::new("orders", &url, Secret::new(SERVICE_SECRET))
            .token()
            .await?;
    Ok((
        Identity {
            url,
            admin_token,
            customer_token,
            service_token,
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
        "bazaar-inventory-test-{label}-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Looks every 50 ms, for up to 10 s, until `check` finds what it looks for.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A running inventory service, stoppable.
struct Running {
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A catalog seeded with [`SEED_PRODUCTS`] products and an inventory following it.
pub struct TestApp {
    /// Inventory's `http://127.0.0.1:<port>` (it changes when inventory restarts).
    pub address: String,
    /// The catalog's `http://127.0.0.1:<port>`.
    pub catalog: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub customer_token: String,
    /// A service token (of `orders`): what the reservations API wants.
    pub service_token: String,
    /// Inventory's database.
    pub database_url: String,
    /// The catalog's database.
    pub catalog_database_url: String,
    running: Option<Running>,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh catalog and inventory.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity();
    let dir = temp_dir("app");
    let catalog_database_url = format!("sqlite://{}/catalog.db", dir.display());
    let seed = SEED_PRODUCTS.to_string();
    let settings = catalog::Settings::for_tests(
        "catalog",
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &catalog_database_url),
            ("identity_url", &identity.url),
            ("seed_products", &seed),
        ],
    )
    .expect("valid catalog settings");
    let catalog = catalog::build(settings).await.expect("the catalog builds");
    let catalog_address = format!("http://{}", catalog.local_addr());
    tokio::spawn(catalog.run());

    let mut app = TestApp {
        address: String::new(),
        catalog: catalog_address,
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer_token.clone(),
        service_token: identity.service_token.clone(),
        database_url: format!("sqlite://{}/inventory.db", dir.display()),
        catalog_database_url,
        running: None,
        dir,
    };
    app.start().await;
    app
}

/// One row of an outbox: its sequence number, type, subject and the event's `data`.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub kind: String,
    pub subject: String,
    pub data: Value,
}

impl TestApp {
    /// Inventory's settings: port 0, its database, the catalog and identity of this test.
    pub fn settings(&self) -> inventory::Settings {
        inventory::Settings::for_tests(
            "inventory",
            &[
                ("listen", "127.0.0.1:0"),
                ("database_url", &self.database_url),
                ("identity_url", &identity().url),
                ("catalog_url", &self.catalog),
                ("event_max_attempts", &MAX_ATTEMPTS.to_string()),
            ],
        )
        .expect("valid inventory settings")
    }

    /// Starts inventory (again) on its database.
    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "inventory is running already");
        let service = inventory::build(self.settings())
            .await
            .expect("inventory builds");
        self.address = format!("http://{}", service.local_addr());
        let shutdown = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        self.running = Some(Running { shutdown, task });
    }

    /// Stops inventory gracefully and waits until it has stopped.
    pub async fn stop(&mut self) {
        let running = self.running.take().expect("inventory is running");
        running.shutdown.trigger();
        running
            .task
            .await
            .expect("inventory's task ended normally")
            .expect("inventory stopped cleanly");
    }

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

    /// A request to inventory with an optional bearer token and JSON body.
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

    /// A request to inventory with a raw body and content type, as the administrator.
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

    /// Sets a product's level as the administrator; returns the answer.
    pub async fn put_stock(&self, product_id: &str, available: i64) -> Response {
        self.send(
            Method::PUT,
            &format!("/api/inventory/{product_id}"),
            Some(&self.admin_token),
            Some(&json!({ "available": available })),
        )
        .await
    }

    /// A product's stock, or `None` while inventory keeps none for it.
    pub async fn stock(&self, product_id: &str) -> Option<Value> {
        let res = self.get(&format!("/api/inventory/{product_id}")).await;
        match res.status() {
            StatusCode::OK => Some(res.json().await.expect("a JSON body")),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET stock of {product_id} answered {other}"),
        }
    }

    /// Waits until a product's stock exists and satisfies `ready`; returns it.
    pub async fn wait_for_stock(&self, product_id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        eventually(&format!("the stock of {product_id}"), async || {
            self.stock(product_id).await.filter(|s| ready(s))
        })
        .await
    }

    /// The stock of several products, through the listing endpoint.
    pub async fn stock_of(&self, product_ids: &[&str]) -> Vec<Value> {
        let body = self
            .get_json(&format!(
                "/api/inventory?product_ids={}",
                product_ids.join(",")
            ))
            .await;
        body["items"].as_array().cloned().expect("a list of items")
    }

    /// The stock every seeded product was announced with, once inventory has all of it:
    /// product id → initial stock, as the catalog's `product.created` events say.
    pub async fn wait_for_seed(&self) -> BTreeMap<String, i64> {
        let expected = self.initial_stock().await;
        assert_eq!(
            expected.len(),
            SEED_PRODUCTS,
            "the catalog announced its seed"
        );
        let ids: Vec<&str> = expected.keys().map(String::as_str).collect();
        eventually("every seeded product in inventory", async || {
            (self.stock_of(&ids).await.len() == ids.len()).then_some(())
        })
        .await;
        expected
    }

    /// Creates a product through the catalog as the administrator; returns its id.
    pub async fn create_product(&self, sku: &str, initial_stock: i64) -> String {
        let res = self
            .client
            .post(format!("{}/api/catalog/products", self.catalog))
            .bearer_auth(&self.admin_token)
            .json(&json!({
                "sku": sku,
                "name": "Test Kettle",
                "description": "A kettle for tests.",
                "category": "kitchen",
                "price_cents": 4999,
                "initial_stock": initial_stock
            }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::CREATED, "creating {sku}");
        let product: Value = res.json().await.expect("a JSON body");
        product["id"].as_str().expect("an id").to_owned()
    }

    /// Deletes a product through the catalog as the administrator.
    pub async fn delete_product(&self, product_id: &str) {
        let res = self
            .client
            .delete(format!(
                "{}/api/catalog/products/{product_id}",
                self.catalog
            ))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            res.status(),
            StatusCode::NO_CONTENT,
            "deleting {product_id}"
        );
    }

    /// The catalog's outbox, read from its file: what inventory is fed.
    pub async fn catalog_outbox(&self) -> Vec<OutboxRow> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&self.catalog_database_url)
            .await
            .expect("the catalog's database opens");
        let rows = sqlx::query("SELECT seq, type, subject, payload FROM outbox ORDER BY seq")
            .fetch_all(&pool)
            .await
            .expect("the catalog's outbox reads");
        pool.close().await;
        rows.iter()
            .map(|r| {
                outbox_row(
                    r.get("seq"),
                    r.get("type"),
                    r.get("subject"),
                    r.get("payload"),
                )
            })
            .collect()
    }

    /// Appends a row to the catalog's outbox behind the catalog's back, as a faulty
    /// producer would: inventory reads it like any other event.
    pub async fn append_to_catalog_log(&self, kind: &str, subject: &str, payload: &str) {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&self.catalog_database_url)
            .await
            .expect("the catalog's database opens");
        sqlx::query(
            "INSERT INTO outbox (id, type, subject, time, payload, attempts) \
             VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(kind)
        .bind(subject)
        .bind(events::now_rfc3339())
        .bind(payload)
        .execute(&pool)
        .await
        .expect("the catalog's outbox takes the row");
        pool.close().await;
    }

    /// Product id → `initial_stock` of every `product.created` the catalog recorded.
    pub async fn initial_stock(&self) -> BTreeMap<String, i64> {
        self.catalog_outbox()
            .await
            .into_iter()
            .filter(|r| r.kind == PRODUCT_CREATED)
            .map(|r| {
                let stock = r.data["initial_stock"].as_i64().expect("initial_stock");
                (r.subject, stock)
            })
            .collect()
    }

    /// Creates a product through the catalog with `stock` units; returns its id once
    /// inventory keeps its stock.
    pub async fn stocked_product(&self, sku: &str, stock: i64) -> String {
        let id = self.create_product(sku, stock).await;
        self.wait_for_stock(&id, |_| true).await;
        id
    }

    /// A product's `(available, reserved)`.
    pub async fn levels(&self, product_id: &str) -> (i64, i64) {
        let stock = self.stock(product_id).await.expect("the product has stock");
        (
            stock["available"].as_i64().expect("available"),
            stock["reserved"].as_i64().expect("reserved"),
        )
    }

    /// Asks for a reservation as the orders service.
    pub async fn reserve(&self, body: &Value) -> Response {
        self.send(
            Method::POST,
            RESERVATIONS,
            Some(&self.service_token),
            Some(body),
        )
        .await
    }

    /// Reserves `items` (`(product_id, quantity)`) under `id`, expecting 201; returns the
    /// reservation.
    pub async fn reserve_ok(&self, id: &str, items: &[(&str, i64)]) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(|(p, q)| json!({"product_id": p, "quantity": q}))
            .collect();
        let res = self
            .reserve(&json!({"reservation_id": id, "items": items}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "reserving {id}");
        res.json().await.expect("a JSON body")
    }

    /// `POST /api/inventory/reservations/{id}/{action}` (`commit`, `release`) as the
    /// orders service.
    pub async fn settle(&self, id: &str, action: &str) -> Response {
        self.send(
            Method::POST,
            &format!("{RESERVATIONS}/{id}/{action}"),
            Some(&self.service_token),
            None,
        )
        .await
    }

    /// A reservation as the orders service sees it.
    pub async fn reservation(&self, id: &str) -> Response {
        self.send(
            Method::GET,
            &format!("{RESERVATIONS}/{id}"),
            Some(&self.service_token),
            None,
        )
        .await
    }

    /// The reservations held right now, as an administrator lists them.
    pub async fn held(&self) -> Vec<Value> {
        let res = self
            .send(
                Method::GET,
                &format!("{RESERVATIONS}?status=held&limit=500"),
                Some(&self.admin_token),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "listing held reservations");
        let body: Value = res.json().await.expect("a JSON body");
        body["items"].as_array().cloned().expect("a list of items")
    }

    /// Inventory's database, opened beside the running service.
    pub async fn db(&self) -> Db {
        Db::connect(&self.database_url, &inventory::store::migrations())
            .await
            .expect("inventory's database opens")
    }

    /// What inventory published: its outbox, oldest first.
    pub async fn published(&self, db: &Db) -> Vec<OutboxRow> {
        let rows = sqlx::query("SELECT seq, type, subject, payload FROM outbox ORDER BY seq")
            .fetch_all(db.pool())
            .await
            .expect("inventory's outbox reads");
        rows.iter()
            .map(|r| {
                outbox_row(
                    r.get("seq"),
                    r.get("type"),
                    r.get("subject"),
                    r.get("payload"),
                )
            })
            .collect()
    }
}

fn outbox_row(seq: i64, kind: String, subject: String, payload: String) -> OutboxRow {
    let event: Value = serde_json::from_str(&payload).expect("the payload is JSON");
    assert_eq!(event["specversion"], "1.0", "{event}");
    OutboxRow {
        seq,
        kind,
        subject,
        data: event["data"].clone(),
    }
}

/// One row of inventory's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub delta: i64,
    pub reason: String,
    pub event_id: Option<String>,
}

/// A product's ledger, oldest first.
pub async fn movements(db: &Db, product_id: &str) -> Vec<Movement> {
    sqlx::query(
        "SELECT delta, reason, event_id FROM stock_movements WHERE product_id = $1 ORDER BY at, id",
    )
    .bind(product_id)
    .fetch_all(db.pool())
    .await
    .expect("the ledger reads")
    .iter()
    .map(|r| Movement {
        delta: r.get("delta"),
        reason: r.get("reason"),
        event_id: r.get("event_id"),
    })
    .collect()
}

/// What a product's ledger adds up to: `(Σ delta, Σ reserved_delta)`, which must be its
/// `(available, reserved)`.
pub async fn ledger_sums(db: &Db, product_id: &str) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS available, \
         CAST(COALESCE(SUM(reserved_delta), 0) AS BIGINT) AS reserved \
         FROM stock_movements WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_one(db.pool())
    .await
    .expect("the ledger sums");
    (row.get("available"), row.get("reserved"))
}

/// How many ledger rows have this reason.
pub async fn movements_with_reason(db: &Db, reason: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM stock_movements WHERE reason = $1")
        .bind(reason)
        .fetch_one(db.pool())
        .await
        .expect("the ledger counts")
        .get("n")
}

/// A consumer of the test's own on inventory's database, with inventory's real handler
/// and subscriptions: deliveries made through it are exactly what the transport makes.
pub fn consumer(db: &Db) -> Consumer {
    Consumer::new(
        "inventory",
        db.clone(),
        StockHandler::new(),
        inventory::SUBSCRIPTIONS,
        MAX_ATTEMPTS,
    )
}

/// A catalog `product.created` as the catalog would send it.
pub fn product_created(product_id: &str, sku: &str, initial_stock: i64) -> events::Event {
    events::Event::new(
        "catalog",
        PRODUCT_CREATED,
        product_id,
        json!({
            "id": product_id, "sku": sku, "name": "Test Kettle", "description": "",
            "category": "kitchen", "price_cents": 4999, "currency": "USD",
            "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-01T00:00:00.000Z",
            "initial_stock": initial_stock
        }),
    )
    .expect("an event")
}

/// A fresh product id, in the catalog's form.
pub fn new_product_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
