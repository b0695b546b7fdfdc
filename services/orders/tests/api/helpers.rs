//! Test fixtures: one real identity for the whole binary (on its own thread), and per
//! test the real services a checkout crosses — catalog (a small seed), inventory,
//! payments, cart and orders — each on port 0 with its own SQLite file, talking over
//! HTTP and the embedded event transport.

use platform::{
    db::Db,
    testing::{Api, CatalogAdmin, POLL, Running, Scratch, eventually_with},
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

/// A registered, signed-in customer.
pub use identity::testing::Account as Shopper;
pub use platform::testing::assert_problem;

pub use payments::processor::{
    CARD_DECLINED as DECLINED_CARD, CARD_INSUFFICIENT_FUNDS as NO_FUNDS_CARD,
    CARD_PROCESSING_ERROR as FLAKY_CARD, CARD_SUCCEEDS as GOOD_CARD,
};

pub use events::types::orders::{ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_PLACED};

/// How long [`eventually`] looks: a checkout crosses five services.
const PATIENCE: Duration = Duration::from_secs(15);

/// Looks every 50 ms, for up to 15 s, until `check` finds what it looks for.
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_with(POLL, PATIENCE, what, check).await
}

/// Every service a checkout crosses, fresh for one test.
pub struct TestApp {
    /// Orders' `http://127.0.0.1:<port>`.
    pub address: String,
    pub catalog: String,
    pub inventory: String,
    pub payments: String,
    pub cart: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    /// The orders service's own token: inventory's reservations and payments'
    /// authorisations answer it only.
    pub orders_token: String,
    /// Orders' database.
    pub database_url: String,
    /// Inventory and payments, which a test may stop and start again.
    outageable: Vec<Outageable>,
    /// Whether the gate between orders and the cart answers the cart's takes with 503.
    refuse_cart_takes: Arc<AtomicBool>,
    _running: Vec<Running>,
    _scratch: Scratch,
}

/// Settings overrides, owned.
type Pairs = Vec<(&'static str, String)>;

fn refs(pairs: &Pairs) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A service a test can stop and start again at the same address.
struct Outageable {
    def: &'static platform::ServiceDef,
    /// Its settings, listening where it listened first.
    settings: Pairs,
    running: Option<Running>,
    url: String,
}

impl Outageable {
    async fn start(def: &'static platform::ServiceDef, mut settings: Pairs) -> Self {
        let launch = platform::Launch::for_tests(def, &refs(&settings));
        let running = Running::spawn(launch.build().await.expect("the service builds"));
        let listen = settings.iter_mut().find(|(k, _)| *k == "listen");
        listen.expect("a listen setting").1 = running.addr().to_string();
        Self {
            def,
            settings,
            url: running.url().to_owned(),
            running: Some(running),
        }
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    async fn restart(&mut self) {
        let launch = platform::Launch::for_tests(self.def, &refs(&self.settings));
        let running = Running::spawn(launch.build().await.expect("the service builds again"));
        assert_eq!(running.url(), self.url, "back where it was");
        self.running = Some(running);
    }
}

/// A fresh shop with orders' default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A fresh shop; `orders_overrides` are added to orders' settings.
pub async fn spawn_app_with(orders_overrides: &[(&'static str, &str)]) -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let scratch = Scratch::new("orders");
    let db = |name: &str| scratch.sqlite_url(name);
    let mut running = Vec::new();
    // Starts a service on this test's runtime; returns its URL.
    let mut start = |service| {
        let service = Running::spawn(service);
        let url = service.url().to_owned();
        running.push(service);
        url
    };
    // Every service: its database, and identity for tokens.
    let with = |name: &str, listen: &str, own: &[(&'static str, String)]| -> Pairs {
        let mut all = vec![
            ("listen", listen.to_owned()),
            ("database_url", db(name)),
            ("identity_url", identity.url.clone()),
        ];
        all.extend_from_slice(own);
        all
    };
    let any_port = "127.0.0.1:0";

    let c = with("catalog", any_port, &[("seed_products", "3".into())]);
    let settings = platform::Launch::for_tests(&catalog::SERVICE, &refs(&c));
    let catalog = start(settings.build().await.expect("catalog builds"));

    let i = with("inventory", any_port, &[("catalog_url", catalog.clone())]);
    let inventory = Outageable::start(&inventory::SERVICE, i).await;
    let payments = Outageable::start(&payments::SERVICE, with("payments", any_port, &[])).await;

    // The cart follows orders' events and orders reads the cart: orders' port is chosen
    // first so that each can be told where the other is.
    // Its socket is bound now and held: no other test process can take the port meanwhile.
    let orders_socket = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let orders_listen = orders_socket.local_addr().expect("an address").to_string();
    let orders_url = format!("http://{orders_listen}");
    let (inventory_service, payments_service) = (inventory, payments);
    let (inventory, payments) = (inventory_service.url(), payments_service.url());
    let k = with(
        "cart",
        any_port,
        &[
            ("catalog_url", catalog.clone()),
            ("orders_url", orders_url.clone()),
        ],
    );
    let settings = platform::Launch::for_tests(&cart::SERVICE, &refs(&k));
    let cart = start(settings.build().await.expect("cart builds"));
    let refuse_cart_takes = Arc::new(AtomicBool::new(false));
    let cart_gate = CartGate::start(&cart, refuse_cart_takes.clone()).await;

    let mut own: Pairs = vec![
        ("cart_url", cart_gate),
        ("inventory_url", inventory.clone()),
        ("payments_url", payments.clone()),
        ("service_secret", identity::testing::SERVICE_SECRET.into()),
    ];
    own.extend(orders_overrides.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let o = with("orders", &orders_listen, &own);
    let settings =
        platform::Launch::for_tests(&orders::SERVICE, &refs(&o)).listening_on(orders_socket);
    let address = start(settings.build().await.expect("orders builds"));
    assert_eq!(
        address, orders_url,
        "orders listens where the cart looks for it"
    );
    let database_url = db("orders");

    TestApp {
        address,
        catalog,
        inventory,
        payments,
        cart,
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        orders_token: identity.service_token("orders"),
        database_url,
        outageable: vec![inventory_service, payments_service],
        refuse_cart_takes,
        _running: running,
        _scratch: scratch,
    }
}

/// Between orders and the cart: passes every request on, and while `refuse_takes` is set
/// answers the cart's takes (`POST /api/cart/holds`) with 503, as a cart that stopped
/// answering after the checkout read it.
#[derive(Clone)]
struct CartGate {
    cart: String,
    refuse_takes: Arc<AtomicBool>,
    http: reqwest::Client,
}

impl CartGate {
    /// Starts a gate in front of the cart at `cart`; returns its URL.
    async fn start(cart: &str, refuse_takes: Arc<AtomicBool>) -> String {
        let gate = CartGate {
            cart: cart.to_owned(),
            refuse_takes,
            http: reqwest::Client::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let app = axum::Router::new().fallback(Self::pass).with_state(gate);
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    async fn pass(
        axum::extract::State(gate): axum::extract::State<CartGate>,
        req: axum::extract::Request,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let (parts, body) = req.into_parts();
        if gate.refuse_takes.load(Ordering::SeqCst)
            && parts.method == Method::POST
            && parts.uri.path() == "/api/cart/holds"
        {
            return (StatusCode::SERVICE_UNAVAILABLE, "the cart is not answering").into_response();
        }
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = parts.headers;
        headers.remove(reqwest::header::HOST);
        let sent = gate
            .http
            .request(parts.method, format!("{}{target}", gate.cart))
            .headers(headers)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status();
                let mut headers = r.headers().clone();
                headers.remove(reqwest::header::TRANSFER_ENCODING);
                headers.remove(reqwest::header::CONNECTION);
                let bytes = r.bytes().await.unwrap_or_default();
                (status, headers, bytes).into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        }
    }
}

/// A checkout body paying with `card`.
pub fn checkout_body(card: &str) -> Value {
    json!({
        "payment": {"card_number": card, "exp_month": 12, "exp_year": next_year(), "cvc": "123"},
        "shipping_address": {
            "name": "Sam Shopper", "line1": "1 Market Street", "city": "Springfield",
            "postal_code": "12345", "country": "US"
        }
    })
}

/// A card expiry year safely in the future.
pub fn next_year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year() + 1
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Registers and signs in a new customer.
    pub async fn shopper(&self) -> Shopper {
        identity::testing::shared().register("Sam Shopper").await
    }

    /// Creates a product through the catalog as the administrator and waits until
    /// inventory holds its stock; returns its id.
    pub async fn product(&self, price_cents: i64, stock: i64) -> String {
        let sku = format!(
            "T-{}",
            uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase()
        );
        let product = json!({
            "sku": sku, "name": format!("Kettle {sku}"), "description": "A kettle.",
            "category": "kitchen", "price_cents": price_cents, "initial_stock": stock
        });
        let catalog = CatalogAdmin::new(&self.catalog, &self.admin_token);
        let id = catalog.create_product(&product).await;
        eventually(&format!("inventory to stock {id}"), async || {
            self.stock(&id).await
        })
        .await;
        id
    }

    /// Changes `id`'s price at the catalog, and waits until the shopper's cart shows it.
    pub async fn reprice(&self, shopper: &Shopper, id: &str, price_cents: i64) {
        CatalogAdmin::new(&self.catalog, &self.admin_token)
            .set_price(id, price_cents)
            .await;
        eventually(
            &format!("the cart to price {id} at {price_cents}"),
            async || {
                let cart = self.cart_of(shopper).await;
                let items = cart["items"].as_array()?;
                let line = items.iter().find(|l| l["product_id"] == id)?;
                (line["unit_price_cents"] == price_cents).then_some(())
            },
        )
        .await;
    }

    /// Makes the cart refuse (`true`) or take (`false`) checkouts' lines, as orders sees
    /// it; everything else orders asks of the cart is answered as ever.
    pub fn cart_refuses_takes(&self, refuse: bool) {
        self.refuse_cart_takes.store(refuse, Ordering::SeqCst);
    }

    /// Stops `service` (`inventory` or `payments`): its port refuses connections until
    /// [`TestApp::restart`].
    pub async fn stop(&mut self, service: &str) {
        self.outageable(service).stop().await;
    }

    /// Starts `service` again at its address, on its database as it was.
    pub async fn restart(&mut self, service: &str) {
        self.outageable(service).restart().await;
    }

    fn outageable(&mut self, service: &str) -> &mut Outageable {
        self.outageable
            .iter_mut()
            .find(|o| o.def.name == service)
            .unwrap_or_else(|| panic!("{service} cannot be stopped in these tests"))
    }

    /// `(available, reserved)` of a product, or `None` while inventory has no stock.
    pub async fn stock(&self, product_id: &str) -> Option<(i64, i64)> {
        let res = self
            .client
            .get(format!("{}/api/inventory/{product_id}", self.inventory))
            .send()
            .await
            .expect("request sent");
        if res.status() != StatusCode::OK {
            return None;
        }
        let s: Value = res.json().await.expect("a JSON body");
        Some((
            s["available"].as_i64().expect("available"),
            s["reserved"].as_i64().expect("reserved"),
        ))
    }

    /// [`TestApp::add_to_cart`] of each of `lines` (product id, quantity) in turn.
    pub async fn fill_cart(&self, shopper: &Shopper, lines: &[(&str, i64)]) {
        for (product_id, quantity) in lines {
            self.add_to_cart(shopper, product_id, *quantity).await;
        }
    }

    /// Adds a product to the shopper's cart, waiting until the cart knows the product
    /// (it learns of products from the catalog's events).
    pub async fn add_to_cart(&self, shopper: &Shopper, product_id: &str, quantity: i64) {
        let url = format!("{}/api/cart/items", self.cart);
        eventually(&format!("the cart to take {product_id}"), async || {
            let res = self
                .client
                .post(&url)
                .bearer_auth(&shopper.token)
                .json(&json!({"product_id": product_id, "quantity": quantity}))
                .send()
                .await
                .expect("request sent");
            match res.status() {
                s if s.is_success() => Some(()),
                StatusCode::UNPROCESSABLE_ENTITY => None,
                other => panic!(
                    "adding to the cart answered {other}: {}",
                    res.text().await.unwrap_or_default()
                ),
            }
        })
        .await;
    }

    /// Adds a product to a new anonymous cart, as a shopper who has not signed in does;
    /// returns the cookie that names the cart (`bazaar_cart=…`).
    pub async fn add_anonymously(&self, product_id: &str, quantity: i64) -> String {
        let url = format!("{}/api/cart/items", self.cart);
        eventually(&format!("the cart to take {product_id}"), async || {
            let res = self
                .client
                .post(&url)
                .json(&json!({"product_id": product_id, "quantity": quantity}))
                .send()
                .await
                .expect("request sent");
            match res.status() {
                s if s.is_success() => res
                    .headers()
                    .get(reqwest::header::SET_COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(';').next())
                    .map(str::to_owned),
                StatusCode::UNPROCESSABLE_ENTITY => None,
                other => panic!("adding to an anonymous cart answered {other}"),
            }
        })
        .await
    }

    /// The shopper's cart.
    pub async fn cart_of(&self, shopper: &Shopper) -> Value {
        let cart = Api::new(&self.cart);
        cart.get_json_as("/api/cart", &shopper.token).await
    }

    /// `POST /api/orders/checkout` as the shopper with `key`.
    pub async fn checkout(&self, shopper: &Shopper, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/api/orders/checkout"))
            .bearer_auth(&shopper.token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// A GET on orders as `token`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// One of the shopper's orders (200), as JSON.
    pub async fn order(&self, shopper: &Shopper, id: &str) -> Value {
        self.get_json_as(shopper, &format!("/api/orders/{id}"))
            .await
    }

    /// The first page of the shopper's orders (200), as JSON.
    pub async fn orders_of(&self, shopper: &Shopper) -> Value {
        self.get_json_as(shopper, "/api/orders").await
    }

    /// `GET path` as the shopper, a 200 read as JSON.
    async fn get_json_as(&self, shopper: &Shopper, path: &str) -> Value {
        let res = self.get(path, Some(&shopper.token)).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("a JSON body")
    }

    /// A request to another service's internal endpoint, as the orders service.
    pub async fn as_orders(
        &self,
        method: Method,
        url: String,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        self.send_as(&self.orders_token, method, url, key, body)
            .await
    }

    /// `GET url` from another service's internal endpoint as the orders service, answered
    /// 200 with a JSON body.
    pub async fn orders_get(&self, url: String) -> Value {
        let res = self.as_orders(Method::GET, url.clone(), None, None).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {url}");
        res.json().await.expect("a JSON body")
    }

    /// A request to another service as the administrator.
    pub async fn as_admin(
        &self,
        method: Method,
        url: String,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        self.send_as(&self.admin_token, method, url, key, body)
            .await
    }

    async fn send_as(
        &self,
        token: &str,
        method: Method,
        url: String,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, url).bearer_auth(token);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    /// `GET url` as the administrator, answered 200 with a JSON body.
    pub async fn admin_get(&self, url: String) -> Value {
        let res = self.as_admin(Method::GET, url.clone(), None, None).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {url}");
        res.json().await.expect("a JSON body")
    }

    /// Payments' ledger, added up.
    pub async fn ledger(&self) -> Value {
        self.admin_get(format!("{}/api/payments/ledger/summary", self.payments))
            .await
    }

    /// Asserts payments' ledger totals named in `expected` (`("captured_cents", 0)`).
    pub async fn assert_ledger(&self, expected: &[(&str, i64)]) {
        let ledger = self.ledger().await;
        for (total, cents) in expected {
            assert_eq!(ledger[*total], *cents, "{total}: {ledger}");
        }
    }

    /// A reservation as inventory shows it.
    pub async fn reservation(&self, id: &str) -> Value {
        self.orders_get(format!(
            "{}/api/inventory/reservations/{id}",
            self.inventory
        ))
        .await
    }

    /// Reservations inventory holds right now.
    pub async fn held_reservations(&self) -> Vec<Value> {
        let url = format!("{}/api/inventory/reservations?status=held", self.inventory);
        let body = self.orders_get(url).await;
        body["items"].as_array().cloned().expect("items")
    }

    /// Orders' database, opened beside the running service.
    pub async fn db(&self) -> Db {
        Db::connect(&self.database_url, &orders::store::migrations())
            .await
            .expect("orders' database opens")
    }

    /// The types and data of the events orders recorded about `order_id`, oldest first.
    pub async fn published(&self, db: &Db, order_id: &str) -> Vec<(String, Value)> {
        events::testing::recorded(db)
            .await
            .into_iter()
            .filter(|(_, event)| event.subject == order_id)
            .map(|(_, event)| (event.kind, event.data))
            .collect()
    }

    /// The types of the events orders recorded about `order_id`, oldest first.
    pub async fn published_types(&self, order_id: &str) -> Vec<String> {
        let db = self.db().await;
        let published = self.published(&db, order_id).await;
        published.into_iter().map(|(kind, _)| kind).collect()
    }

    /// The saga's writes of `order_id`, oldest first: `from → to @ step` (`placed` for
    /// the first).
    pub async fn saga_writes(&self, order_id: &str) -> Vec<String> {
        use sqlx::Row;
        let db = self.db().await;
        sqlx::query(
            "SELECT from_status, to_status, step FROM saga_log WHERE order_id = $1 ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(db.pool())
        .await
        .expect("the saga log")
        .iter()
        .map(|row| {
            let from: Option<String> = row.get("from_status");
            let (to, step): (String, String) = (row.get("to_status"), row.get("step"));
            format!("{} → {to} @ {step}", from.as_deref().unwrap_or("placed"))
        })
        .collect()
    }

    /// How many orders orders holds, over all users.
    pub async fn order_count(&self, db: &Db) -> i64 {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM orders")
            .fetch_one(db.pool())
            .await
            .expect("orders count")
            .get("n")
    }
}
