//! Test fixtures: one real identity for the whole binary, and per test a real catalog
//! (seeded with a few products) and a real recommendation service following it, each on
//! its own SQLite file, driven over HTTP; orders are delivered through the service's
//! consumer.

use events::{Consumer, Event, Outcome};
use identity::testing::Account;
use platform::{
    db::Db,
    testing::{CatalogAdmin, Running, Scratch},
};
use recommendations::handler::ModelHandler;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

pub use platform::testing::{assert_problem, eventually};

/// Products in each test's seeded catalog.
pub const SEED_PRODUCTS: usize = 40;
/// Attempts the service (and a test's own consumer) makes at an event before
/// dead-lettering it.
pub const MAX_ATTEMPTS: u32 = 3;

pub use events::types::orders::ORDER_CONFIRMED;

/// Nothing listens here: the orders service is not started, its events are delivered by
/// the tests themselves.
const NO_ORDERS_SERVICE: &str = "http://127.0.0.1:9";

/// The shared identity's administrator and the customers the tests act as.
pub struct Identity {
    pub admin_token: String,
    /// A shopper with a history in the tests that give them one.
    pub shopper: Account,
    /// A shopper who never buys anything.
    pub newcomer: Account,
}

/// The shared identity's accounts, the customers signed up on first use.
pub fn identity() -> Identity {
    let identity = identity::testing::shared();
    Identity {
        admin_token: identity.admin_token.clone(),
        shopper: identity.customer(),
        newcomer: identity.account("newcomer@test.local", "Nia Newcomer"),
    }
}

/// A catalog product, as the catalog's API lists it.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub category: String,
    pub created_at: String,
}

/// A seeded catalog and a recommendation service that has followed its seed.
pub struct TestApp {
    /// The recommendation service's `http://127.0.0.1:<port>`.
    pub address: String,
    /// The catalog's `http://127.0.0.1:<port>`.
    pub catalog: String,
    pub client: reqwest::Client,
    /// The recommendation service's database, opened beside the running service.
    pub db: Db,
    /// The catalog's seeded products.
    pub seed: Vec<Product>,
    catalog_running: Option<Running>,
    _running: Running,
    _scratch: Scratch,
}

/// A fresh catalog and recommendation service, the seed already taken in.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let scratch = Scratch::new("recommendations");
    let catalog_db = scratch.sqlite_url("catalog");
    let seed = SEED_PRODUCTS.to_string();
    let seeded = [("seed_products", seed.as_str())];
    let catalog = identity
        .spawn(&catalog::SERVICE, &catalog_db, &seeded)
        .await;
    let catalog_address = catalog.url().to_owned();

    let database_url = scratch.sqlite_url("recommendations");
    let settings = [
        ("catalog_url", catalog_address.as_str()),
        ("orders_url", NO_ORDERS_SERVICE),
        // No orders service to catch up with: ready without it.
        ("ready_after_catch_up", "false"),
        ("event_max_attempts", &MAX_ATTEMPTS.to_string()),
    ];
    let service = identity
        .spawn(&recommendations::SERVICE, &database_url, &settings)
        .await;
    let db = Db::connect(&database_url, &recommendations::store::migrations())
        .await
        .expect("the recommendations database opens");

    let mut app = TestApp {
        address: service.url().to_owned(),
        catalog: catalog_address,
        client: reqwest::Client::new(),
        db,
        seed: Vec::new(),
        catalog_running: Some(catalog),
        _running: service,
        _scratch: scratch,
    };
    app.seed = app.catalog_products().await;
    assert_eq!(app.seed.len(), SEED_PRODUCTS, "the catalog is seeded");
    eventually("the seed in the recommendation model", async || {
        (app.known_products().await == SEED_PRODUCTS as i64).then_some(())
    })
    .await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A GET of the recommendation service, with a bearer token if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// GET and parse a 200 JSON answer.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        let res = self.get(path, token).await;
        let status = res.status();
        let body: Value = res.json().await.expect("a JSON body");
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// The recommendations next to a product.
    pub async fn for_product(&self, product_id: &str, limit: Option<u32>) -> Vec<Value> {
        let query = limit.map(|l| format!("?limit={l}")).unwrap_or_default();
        let body = self
            .get_json(
                &format!("/api/recommendations/products/{product_id}{query}"),
                None,
            )
            .await;
        items(&body)
    }

    /// The recommendations of the shopper the token belongs to.
    pub async fn for_me(&self, token: &str, limit: Option<u32>) -> Vec<Value> {
        let query = limit.map(|l| format!("?limit={l}")).unwrap_or_default();
        let body = self
            .get_json(&format!("/api/recommendations/me{query}"), Some(token))
            .await;
        items(&body)
    }

    /// Waits until the service knows a product (it answers for it).
    pub async fn wait_for_product(&self, product_id: &str) {
        eventually(&format!("product {product_id} in the model"), async || {
            let res = self
                .get(&format!("/api/recommendations/products/{product_id}"), None)
                .await;
            (res.status() == StatusCode::OK).then_some(())
        })
        .await;
    }

    /// How many products the model has a copy of.
    pub async fn known_products(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM products")
            .fetch_one(self.db.pool())
            .await
            .expect("the products count")
            .get("n")
    }

    /// Every product of the catalog, through its API.
    pub async fn catalog_products(&self) -> Vec<Product> {
        let res = self
            .client
            .get(format!(
                "{}/api/catalog/products?per_page=100",
                self.catalog
            ))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("a JSON body");
        body["items"]
            .as_array()
            .expect("a list of products")
            .iter()
            .map(|p| Product {
                id: p["id"].as_str().expect("an id").to_owned(),
                category: p["category"].as_str().expect("a category").to_owned(),
                created_at: p["created_at"].as_str().expect("created_at").to_owned(),
            })
            .collect()
    }

    /// The seeded products of `category`, newest first (the order of "popular" among
    /// products nobody ordered).
    pub fn newest_in(&self, category: &str) -> Vec<&Product> {
        let mut found: Vec<&Product> = self
            .seed
            .iter()
            .filter(|p| p.category == category)
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        found
    }

    /// Seeded categories, those with the most products first.
    pub fn categories_by_size(&self) -> Vec<String> {
        let mut sizes: std::collections::BTreeMap<&str, usize> = Default::default();
        for p in &self.seed {
            *sizes.entry(p.category.as_str()).or_default() += 1;
        }
        let mut categories: Vec<(&str, usize)> = sizes.into_iter().collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        categories.into_iter().map(|(c, _)| c.to_owned()).collect()
    }

    /// The catalog's administrators' API.
    pub fn catalog_admin(&self) -> CatalogAdmin {
        CatalogAdmin::new(&self.catalog, &identity::testing::shared().admin_token)
    }

    /// Creates a product through the catalog as the administrator; returns its id.
    pub async fn create_product(&self, sku: &str, category: &str) -> String {
        let product = json!({
            "sku": sku,
            "name": "Test Kettle",
            "description": "A kettle for tests.",
            "category": category,
            "price_cents": 4999,
            "initial_stock": 5
        });
        self.catalog_admin().create_product(&product).await
    }

    /// Stops the catalog gracefully and waits until it has stopped.
    pub async fn stop_catalog(&mut self) {
        let running = self.catalog_running.take().expect("the catalog is running");
        running.stop().await;
    }

    /// A consumer of the test's own on the service's database, with its real handler and
    /// subscriptions: deliveries made through it are exactly what the transport makes.
    pub fn consumer(&self) -> Consumer {
        Consumer::new(
            "recommendations",
            self.db.clone(),
            ModelHandler,
            recommendations::SERVICE.subscriptions,
            MAX_ATTEMPTS,
        )
    }

    /// Delivers an event as the transport would; returns what became of it.
    pub async fn deliver(&self, event: &Event) -> Outcome {
        self.consumer()
            .process(event, None)
            .await
            .expect("the consumer's database works")
    }

    /// Delivers a confirmed order of one unit of each of `products` by `user_id`.
    pub async fn confirm_order(&self, user_id: &str, products: &[&str]) -> Event {
        let event = order_confirmed(user_id, products);
        assert_eq!(self.deliver(&event).await, Outcome::Handled, "{products:?}");
        event
    }
}

/// The `items` of a recommendations body.
pub fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().cloned().expect("a list of items")
}

/// The ids of recommended items.
pub fn ids(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("an id"))
        .collect()
}

/// `bazaar.orders.order.confirmed.v1` as the orders service sends it (from its published
/// contract): one unit of each product.
pub fn order_confirmed(user_id: &str, products: &[&str]) -> Event {
    let order_id = uuid::Uuid::now_v7().to_string();
    let items: Vec<(&str, i64)> = products.iter().map(|p| (*p, 1)).collect();
    events::testing::event("orders", ORDER_CONFIRMED, &order_id, |data| {
        data["order_id"] = order_id.as_str().into();
        data["user_id"] = user_id.into();
        data["items"] = events::testing::items_like(data, &items);
    })
}
