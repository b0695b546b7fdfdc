//! Test fixtures: one real identity for the whole binary (issuing user and service
//! tokens), and per test the catalog's event log (a stand-in producer the test feeds,
//! seeded with a few products) and a real inventory that follows it, each on its own
//! SQLite file, driven over HTTP.

use events::{
    Consumer, Event,
    testing::{FakeProducer, recorded},
};
use inventory::handler::StockHandler;
use platform::{
    db::Db,
    testing::{Restartable, Scratch},
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;

pub use platform::testing::{assert_problem, eventually};

/// Products the catalog announces before each test's inventory starts.
pub const SEED_PRODUCTS: usize = 40;
/// Attempts inventory (and a test's own consumer) makes at an event before dead-lettering.
pub const MAX_ATTEMPTS: u32 = 3;

pub use events::types::{
    catalog::{PRODUCT_CREATED, PRODUCT_DELETED},
    inventory::{RESERVATION_COMMITTED, RESERVATION_HELD, RESERVATION_RELEASED, STOCK_CHANGED},
};

/// The reservations collection.
pub const RESERVATIONS: &str = "/api/inventory/reservations";

/// The catalog's log, seeded with [`SEED_PRODUCTS`] products, and an inventory following
/// it; inventory's API's requests are the app's.
pub struct TestApp {
    /// Inventory's API (its address changes when inventory restarts).
    pub api: Restartable,
    /// The catalog's event log.
    pub catalog: FakeProducer,
    pub admin_token: String,
    pub customer_token: String,
    /// A service token (of `orders`): what the reservations API wants.
    pub service_token: String,
    /// Inventory's database.
    pub database_url: String,
    /// The catalog log's database.
    pub catalog_database_url: String,
    _scratch: Scratch,
}

/// A fresh catalog log and inventory.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let scratch = Scratch::new("inventory");
    let catalog_database_url = scratch.sqlite_url("catalog");
    let catalog = FakeProducer::start("catalog", &catalog_database_url)
        .await
        .expect("the catalog's log starts");
    for i in 0..SEED_PRODUCTS {
        // Varied levels, zero among them, so that no default passes for the right one.
        let stock = (i as i64 * 7) % 23;
        let created = product_created(&new_product_id(), &format!("SEED-{i:05}"), stock);
        catalog
            .publish(&created)
            .await
            .expect("the seed is announced");
    }
    let mut app = TestApp {
        api: Restartable::stopped(),
        catalog,
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer().token,
        service_token: identity.service_token("orders"),
        database_url: scratch.sqlite_url("inventory"),
        catalog_database_url,
        _scratch: scratch,
    };
    app.start().await;
    app
}

platform::app_derefs_to_api!(TestApp);

impl TestApp {
    /// Starts inventory (again) on its database: port 0, the catalog and identity of this
    /// test.
    pub async fn start(&mut self) {
        let settings = [
            ("catalog_url", self.catalog.url.as_str()),
            ("event_max_attempts", &MAX_ATTEMPTS.to_string()),
        ];
        let running = identity::testing::shared()
            .spawn(&inventory::SERVICE, &self.database_url, &settings)
            .await;
        self.api.started(running);
    }

    /// Stops inventory gracefully and waits until it has stopped.
    pub async fn stop(&mut self) {
        self.api.stop().await;
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

    /// A seeded product, once inventory has the whole seed: its id, the level it was
    /// announced with, and the path of its stock.
    pub async fn seeded_product(&self) -> (String, i64, String) {
        let expected = self.wait_for_seed().await;
        let (id, level) = expected.into_iter().next().expect("a seeded product");
        let path = format!("/api/inventory/{id}");
        (id, level, path)
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

    /// The catalog announces a new product with `initial_stock` units; returns its id.
    pub async fn announce_product(&self, sku: &str, initial_stock: i64) -> String {
        let id = new_product_id();
        self.announce(&product_created(&id, sku, initial_stock))
            .await;
        id
    }

    /// The catalog announces that it deleted a product.
    pub async fn announce_deletion(&self, product_id: &str) {
        let deleted = events::testing::event("catalog", PRODUCT_DELETED, product_id, |data| {
            data["product_id"] = product_id.into();
        });
        self.announce(&deleted).await;
    }

    /// The catalog records `event` in its log.
    pub async fn announce(&self, event: &Event) {
        self.catalog
            .publish(event)
            .await
            .expect("the catalog's log takes the event");
    }

    /// The catalog's log, read from its file: what inventory is fed, each event with its
    /// position.
    pub async fn catalog_log(&self) -> Vec<(i64, Event)> {
        recorded(&self.catalog_db().await).await
    }

    /// Appends a row to the catalog's log as it is, as a faulty producer would: inventory
    /// reads it like any other event.
    pub async fn append_to_catalog_log(&self, kind: &str, subject: &str, payload: &str) {
        sqlx::query(
            "INSERT INTO outbox (id, type, subject, time, payload, attempts) \
             VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(kind)
        .bind(subject)
        .bind(events::now_rfc3339())
        .bind(payload)
        .execute(self.catalog_db().await.pool())
        .await
        .expect("the catalog's log takes the row");
    }

    async fn catalog_db(&self) -> Db {
        Db::connect(&self.catalog_database_url, events::outbox::MIGRATIONS)
            .await
            .expect("the catalog's database opens")
    }

    /// Product id → `initial_stock` of every `product.created` the catalog recorded.
    pub async fn initial_stock(&self) -> BTreeMap<String, i64> {
        self.catalog_log()
            .await
            .into_iter()
            .filter(|(_, r)| r.kind == PRODUCT_CREATED)
            .map(|(_, r)| {
                let stock = r.data["initial_stock"].as_i64().expect("initial_stock");
                (r.subject, stock)
            })
            .collect()
    }

    /// The catalog announces a product with `stock` units; returns its id once inventory
    /// keeps its stock.
    pub async fn stocked_product(&self, sku: &str, stock: i64) -> String {
        let id = self.announce_product(sku, stock).await;
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
        let path = format!("{RESERVATIONS}/{id}/{action}");
        self.send_as(Method::POST, &path, &self.service_token).await
    }

    /// A reservation as the orders service sees it.
    pub async fn reservation(&self, id: &str) -> Response {
        let path = format!("{RESERVATIONS}/{id}");
        self.send_as(Method::GET, &path, &self.service_token).await
    }

    /// The reservations held right now, as the orders service lists them.
    pub async fn held(&self) -> Vec<Value> {
        let path = format!("{RESERVATIONS}?status=held&limit=500");
        let res = self.send_as(Method::GET, &path, &self.service_token).await;
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
    pub async fn published(&self, db: &Db) -> Vec<Event> {
        recorded(db).await.into_iter().map(|(_, e)| e).collect()
    }
}

/// One row of inventory's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub delta: i64,
    pub reason: String,
    pub event_id: Option<String>,
}

platform::from_row! { Movement { delta, reason, event_id } }

/// A product's ledger, oldest first.
pub async fn movements(db: &Db, product_id: &str) -> Vec<Movement> {
    sqlx::query_as(
        "SELECT delta, reason, event_id FROM stock_movements WHERE product_id = $1 ORDER BY at, id",
    )
    .bind(product_id)
    .fetch_all(db.pool())
    .await
    .expect("the ledger reads")
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
        StockHandler,
        inventory::SERVICE.subscriptions,
        MAX_ATTEMPTS,
    )
}

/// A catalog `product.created` as the catalog would send it (from its published contract).
pub fn product_created(product_id: &str, sku: &str, initial_stock: i64) -> Event {
    events::testing::event("catalog", PRODUCT_CREATED, product_id, |data| {
        data["id"] = product_id.into();
        data["sku"] = sku.into();
        data["initial_stock"] = initial_stock.into();
    })
}

/// A fresh product id, in the catalog's form.
pub fn new_product_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
