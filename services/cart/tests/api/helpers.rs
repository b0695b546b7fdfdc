//! Test fixtures: one real identity for the whole binary, and per test a real catalog
//! (seeded with a few products), a stand-in for orders' event log (the real outbox and
//! log of the events crate, fed by the test) and a real cart following both, each on its
//! own SQLite file, driven over HTTP with cookies handled by hand.

use cart::handler::CartHandler;
use events::{Consumer, Event, testing::FakeProducer};
use identity::testing::Account;
use platform::{
    db::Db,
    testing::{CatalogAdmin, Running, Scratch, assert_problem_document},
};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use sqlx::Row;

pub use platform::testing::eventually;

/// Products in each test's seeded catalog.
pub const SEED_PRODUCTS: usize = 60;
/// Attempts the cart (and a test's own consumer) makes at an event before dead-lettering.
pub const MAX_ATTEMPTS: u32 = 3;
pub use events::types::orders::ORDER_CONFIRMED;

/// The two customers of the shared identity the tests act as.
pub struct Customers {
    pub shopper: Account,
    pub other: Account,
}

/// The shared identity's customers, signed up on first use.
pub fn identity() -> Customers {
    let identity = identity::testing::shared();
    Customers {
        shopper: identity.customer(),
        other: identity.account("other@test.local", "Olive Other"),
    }
}

/// An `order.confirmed` as orders sends it (from its published contract), for `user_id`,
/// buying `items` (product id, quantity).
pub fn order_confirmed(user_id: &str, items: &[(&str, i64)]) -> Event {
    order_confirmed_as(&uuid::Uuid::now_v7().to_string(), user_id, items)
}

/// [`order_confirmed`] for the order `order_id` (one whose checkout took the lines).
pub fn order_confirmed_as(order_id: &str, user_id: &str, items: &[(&str, i64)]) -> Event {
    events::testing::event("orders", ORDER_CONFIRMED, order_id, |data| {
        data["order_id"] = order_id.into();
        data["user_id"] = user_id.into();
        data["items"] = events::testing::items_like(data, items);
    })
}

/// A catalog seeded with [`SEED_PRODUCTS`] products, an orders log, and a cart following
/// both.
pub struct TestApp {
    /// The cart's `http://127.0.0.1:<port>`.
    pub address: String,
    /// The catalog's `http://127.0.0.1:<port>`.
    pub catalog: String,
    /// A stand-in for the orders service's event side, where the cart reads `orders`.
    pub orders: FakeProducer,
    pub client: reqwest::Client,
    pub admin_token: String,
    /// The cart's database.
    pub database_url: String,
    _running: [Running; 2],
    _scratch: Scratch,
}

/// A fresh catalog, orders log and cart; returns once the cart knows the seeded products.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let scratch = Scratch::new("cart");
    let seed = SEED_PRODUCTS.to_string();
    let catalog_db = scratch.sqlite_url("catalog");
    let seeded = [("seed_products", seed.as_str())];
    let catalog = identity
        .spawn(&catalog::SERVICE, &catalog_db, &seeded)
        .await;
    let orders = FakeProducer::start("orders", &scratch.sqlite_url("orders"))
        .await
        .expect("the orders log starts");

    let database_url = scratch.sqlite_url("cart");
    let settings = [
        ("catalog_url", catalog.url()),
        ("orders_url", &orders.url),
        ("event_max_attempts", &MAX_ATTEMPTS.to_string()),
    ];
    let cart = identity
        .spawn(&cart::SERVICE, &database_url, &settings)
        .await;

    let app = TestApp {
        address: cart.url().to_owned(),
        catalog: catalog.url().to_owned(),
        orders,
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        database_url,
        _running: [cart, catalog],
        _scratch: scratch,
    };
    let db = app.db().await;
    eventually("the cart to know every seeded product", async || {
        (known_products(&db).await == SEED_PRODUCTS as i64).then_some(())
    })
    .await;
    app
}

async fn known_products(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM products")
        .fetch_one(db.pool())
        .await
        .expect("the cart's products count")
        .get("n")
}

/// One product as the catalog lists it.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
}

impl TestApp {
    /// A visitor with no cookie and no token.
    pub fn visitor(&self) -> Shopper<'_> {
        Shopper {
            app: self,
            cookie: None,
            token: None,
        }
    }

    /// A signed-in user with no cookie.
    pub fn user(&self, account: &Account) -> Shopper<'_> {
        Shopper {
            app: self,
            cookie: None,
            token: Some(account.token.clone()),
        }
    }

    /// The shared shopper, signed in, once their cart holds `lines` (product id,
    /// quantity) on top of what it held.
    pub async fn shopper_holding(&self, lines: &[(&str, i64)]) -> Shopper<'_> {
        let mut shopper = self.user(&identity().shopper);
        shopper.fill(lines).await;
        shopper
    }

    /// A new visitor, once their anonymous cart holds `lines` (product id, quantity).
    pub async fn visitor_holding(&self, lines: &[(&str, i64)]) -> Shopper<'_> {
        let mut visitor = self.visitor();
        visitor.fill(lines).await;
        visitor
    }

    /// The first `n` products of the catalog, by name.
    pub async fn products(&self, n: usize) -> Vec<Product> {
        let res = self
            .client
            .get(format!(
                "{}/api/catalog/products?per_page={n}",
                self.catalog
            ))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::OK, "listing the catalog");
        let body: Value = res.json().await.expect("a JSON body");
        let items = body["items"].as_array().expect("items");
        assert!(
            items.len() >= n,
            "the catalog lists {} products",
            items.len()
        );
        items
            .iter()
            .take(n)
            .map(|p| Product {
                id: p["id"].as_str().expect("an id").to_owned(),
                name: p["name"].as_str().expect("a name").to_owned(),
                price_cents: p["price_cents"].as_i64().expect("a price"),
            })
            .collect()
    }

    /// The catalog's administrators' API.
    pub fn catalog_admin(&self) -> CatalogAdmin {
        CatalogAdmin::new(&self.catalog, &self.admin_token)
    }

    /// The ids of the first `N` products of the catalog, by name.
    pub async fn product_ids<const N: usize>(&self) -> [String; N] {
        let ids: Vec<String> = self.products(N).await.into_iter().map(|p| p.id).collect();
        ids.try_into().expect("as many ids as products")
    }

    /// Creates a product through the catalog as the administrator and waits until the
    /// cart knows it; returns its id.
    pub async fn create_product(&self, sku: &str, price_cents: i64, currency: &str) -> String {
        let product = json!({
            "sku": sku, "name": "Test Kettle", "description": "A kettle for tests.",
            "category": "kitchen", "price_cents": price_cents, "currency": currency,
            "initial_stock": 5
        });
        let id = self.catalog_admin().create_product(&product).await;
        let db = self.db().await;
        eventually(&format!("the cart to know {sku}"), async || {
            sqlx::query("SELECT 1 FROM products WHERE id = $1")
                .bind(&id)
                .fetch_optional(db.pool())
                .await
                .expect("the cart's products read")
                .map(|_| ())
        })
        .await;
        id
    }

    /// Changes a product's price through the catalog as the administrator.
    pub async fn set_price(&self, product_id: &str, price_cents: i64) {
        self.catalog_admin()
            .set_price(product_id, price_cents)
            .await;
    }

    /// Deletes a product through the catalog as the administrator.
    pub async fn delete_product(&self, product_id: &str) {
        self.catalog_admin().delete_product(product_id).await;
    }

    /// The cart's database, opened beside the running service.
    pub async fn db(&self) -> Db {
        Db::connect(&self.database_url, &cart::store::migrations())
            .await
            .expect("the cart's database opens")
    }

    /// A consumer of the test's own on the cart's database, with the cart's real handler
    /// and subscriptions: deliveries made through it are exactly what the transport makes.
    pub async fn consumer(&self) -> Consumer {
        Consumer::new(
            "cart",
            self.db().await,
            CartHandler,
            cart::SERVICE.subscriptions,
            MAX_ATTEMPTS,
        )
    }

    /// How many carts the cart service keeps, by kind (`user`, `anonymous`).
    pub async fn carts(&self, kind: &str) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM carts WHERE kind = $1")
            .bind(kind)
            .fetch_one(self.db().await.pool())
            .await
            .expect("the carts count")
            .get("n")
    }
}

/// Someone using the cart: the cookie the cart last set (kept as a browser would) and
/// the bearer token, if signed in.
pub struct Shopper<'a> {
    app: &'a TestApp,
    pub cookie: Option<String>,
    pub token: Option<String>,
}

/// A cart's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    /// The `Set-Cookie` header, if any.
    pub set_cookie: Option<String>,
    pub body: Value,
}

impl Answer {
    /// The answer's cart, asserting it is a 200.
    pub fn cart(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        &self.body
    }

    /// Product id and quantity of each line, in order.
    pub fn lines(&self) -> Vec<(String, i64)> {
        self.cart()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|l| {
                (
                    l["product_id"].as_str().expect("product_id").to_owned(),
                    l["quantity"].as_i64().expect("quantity"),
                )
            })
            .collect()
    }

    /// Asserts a problem document of `status` naming `field` (if given).
    pub fn assert_problem(&self, status: StatusCode, field: Option<&str>, case: &str) {
        assert_problem_document(
            self.status,
            &self.content_type,
            &self.body,
            status,
            field,
            case,
        );
    }
}

impl Shopper<'_> {
    /// Signs in: the cookie stays, as a browser keeps it.
    pub fn sign_in(&mut self, account: &Account) {
        self.token = Some(account.token.clone());
    }

    /// A request to the cart with this shopper's cookie and token and a raw body; keeps
    /// the cookie the answer sets (or drops it when the answer expires it).
    pub async fn send_raw(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.address));
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, format!("bazaar_cart={cookie}"));
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct).body(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let header = |name| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let set_cookie = header(header::SET_COOKIE);
        let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
        if let Some(set) = &set_cookie {
            let value = set
                .strip_prefix("bazaar_cart=")
                .and_then(|rest| rest.split(';').next())
                .expect("the cart sets only its own cookie");
            self.cookie = (!set.contains("Max-Age=0")).then(|| value.to_owned());
        }
        let bytes = res.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            set_cookie,
            body,
        }
    }

    /// A request with an optional JSON body.
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        match body {
            Some(b) => {
                let bytes = serde_json::to_vec(&b).expect("JSON");
                self.send_raw(method, path, Some("application/json"), bytes)
                    .await
            }
            None => self.send_raw(method, path, None, Vec::new()).await,
        }
    }

    pub async fn get(&mut self) -> Answer {
        self.send(Method::GET, "/api/cart", None).await
    }

    pub async fn add(&mut self, product_id: &str, quantity: i64) -> Answer {
        self.send(
            Method::POST,
            "/api/cart/items",
            Some(json!({"product_id": product_id, "quantity": quantity})),
        )
        .await
    }

    pub async fn set(&mut self, product_id: &str, quantity: i64) -> Answer {
        self.send(
            Method::PATCH,
            &format!("/api/cart/items/{product_id}"),
            Some(json!({ "quantity": quantity })),
        )
        .await
    }

    pub async fn remove(&mut self, product_id: &str) -> Answer {
        self.send(
            Method::DELETE,
            &format!("/api/cart/items/{product_id}"),
            None,
        )
        .await
    }

    pub async fn clear(&mut self) -> Answer {
        self.send(Method::DELETE, "/api/cart", None).await
    }

    /// Adds each of `lines` (product id, quantity) in turn, asserting every add is taken.
    pub async fn fill(&mut self, lines: &[(&str, i64)]) {
        for (product_id, quantity) in lines {
            self.add(product_id, *quantity).await.cart();
        }
    }
}
