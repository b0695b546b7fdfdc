//! Test fixtures: one small real shop for the whole binary (the shared identity, a
//! catalog with a small seed, inventory, cart, payments, orders and notifications, the
//! gateway in front; search and recommendations absent), started on a thread of its own;
//! per test a real storefront on port 0 pointed at it; and a tiny browser (cookies, forms,
//! no redirects followed) to drive the pages.

pub use identity::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, SERVICE_SECRET};
pub use platform::testing::eventually;
use platform::{
    Launch,
    registry::{
        Entry,
        Readiness::{Optional, Required},
        Registry,
    },
    testing::Scratch,
};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::OnceLock, time::Duration};
use storefront::session::{SECURE_SESSION_COOKIE, SESSION_COOKIE, SessionKey};

/// Products in the shared catalog.
pub const SEED_PRODUCTS: usize = 40;
/// An address nothing listens on: the services the test shop does not run.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// The shared shop: each service's own address.
pub struct Shop {
    pub identity: String,
    pub catalog: String,
    pub inventory: String,
    pub admin_token: String,
    /// Every `<service>_url` of the shop (absent services at [`NOWHERE`]).
    pub urls: BTreeMap<String, String>,
}

/// The services the test shop runs (the rest are at [`NOWHERE`]).
const RUNNING: &[&str] = &[
    "identity",
    "catalog",
    "inventory",
    "cart",
    "payments",
    "orders",
    "notifications",
    "gateway",
    "storefront",
];

/// The shop's services, as the binary's registry lists them (which this crate cannot
/// depend on): what the gateway routes to and the console watches. Ports come from the
/// tests' settings.
#[rustfmt::skip]
pub const REGISTRY: Registry = Registry::new(&[
    Entry { def: &identity::SERVICE, port: 0, level: 0, readiness: Required },
    Entry { def: &catalog::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &search::SERVICE, port: 0, level: 1, readiness: Optional },
    Entry { def: &recommendations::SERVICE, port: 0, level: 1, readiness: Optional },
    Entry { def: &cart::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &inventory::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &payments::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &orders::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &notifications::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &storefront::SERVICE, port: 0, level: 1, readiness: Required },
    Entry { def: &gateway::SERVICE, port: 0, level: 2, readiness: Required },
]);

/// One shop for the whole test binary: each test has its own tokio runtime, which would
/// take a per-test shop down with it, and every start costs a seed.
pub fn shop() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let identity = identity::testing::shared();
        platform::testing::start_for_binary("the shop", move |_| async move {
            let scratch = Scratch::for_binary("storefront-shop");
            let shop = start_shop(&scratch, &identity.url, &identity.admin_token).await?;
            Ok((shop, scratch))
        })
    })
}

/// Every service the test shop does not run, at [`NOWHERE`].
fn absent_services(running: &[&str]) -> Vec<(String, String)> {
    REGISTRY
        .names()
        .filter(|s| !running.contains(s))
        .map(|s| (format!("{s}_url"), NOWHERE.to_owned()))
        .collect()
}

/// Borrowed pairs, as `Settings::for_tests` takes them.
fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect()
}

/// Starts a service in the background on its socket, its settings built from `overrides`.
macro_rules! start {
    ($sockets:ident, $krate:ident, $name:literal, $overrides:expr) => {{
        let launch = Launch::for_tests(&$krate::SERVICE, $overrides)
            .in_registry(REGISTRY)
            .listening_on($sockets.remove($name).expect("a socket"));
        let service = launch.build().await?;
        tokio::spawn(service.run());
    }};
}

async fn start_shop(scratch: &Scratch, identity: &str, admin_token: &str) -> anyhow::Result<Shop> {
    platform::telemetry::init_for_tests();
    // Every address is known before anything starts: consumers are told their producers'.
    // Each socket is bound now and held until its service takes it: another test process
    // cannot take the port in between.
    let mut listen = BTreeMap::new();
    let mut sockets = BTreeMap::new();
    let mut urls = BTreeMap::new();
    for name in RUNNING {
        match *name {
            "storefront" => {
                urls.insert("storefront_url".to_owned(), NOWHERE.to_owned());
            }
            "identity" => {
                urls.insert("identity_url".to_owned(), identity.to_owned());
            }
            _ => {
                let socket = bound();
                let addr = socket.local_addr()?.to_string();
                urls.insert(format!("{name}_url"), format!("http://{addr}"));
                listen.insert(*name, addr);
                sockets.insert(*name, socket);
            }
        }
    }
    urls.extend(absent_services(RUNNING));
    let with = |name: &str, own: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = vec![
            ("listen".into(), listen[name].clone()),
            ("database_url".into(), scratch.sqlite_url(name)),
            ("service_secret".into(), SERVICE_SECRET.into()),
        ];
        all.extend(urls.iter().map(|(k, v)| (k.clone(), v.clone())));
        all.extend(own.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        all
    };

    let seed = SEED_PRODUCTS.to_string();
    start!(
        sockets,
        catalog,
        "catalog",
        &refs(&with("catalog", &[("seed_products", &seed)]))
    );
    start!(
        sockets,
        inventory,
        "inventory",
        &refs(&with("inventory", &[]))
    );
    start!(sockets, cart, "cart", &refs(&with("cart", &[])));
    start!(sockets, payments, "payments", &refs(&with("payments", &[])));
    start!(sockets, orders, "orders", &refs(&with("orders", &[])));
    start!(
        sockets,
        notifications,
        "notifications",
        &refs(&with("notifications", &[]))
    );
    let gateway: Vec<(String, String)> = with("gateway", &[])
        .into_iter()
        .filter(|(k, _)| k != "database_url")
        .collect();
    start!(sockets, gateway, "gateway", &refs(&gateway));

    // Tests start at once: every backend must answer and hold the seed (its consumers
    // caught up), or the first cart add meets a cart that has not heard of the product.
    for (name, addr) in &listen {
        if *name != "gateway" {
            platform::testing::ready(&format!("http://{addr}")).await;
        }
    }
    let url = |name: &str| urls[&format!("{name}_url")].clone();
    Ok(Shop {
        identity: url("identity"),
        catalog: url("catalog"),
        inventory: url("inventory"),
        admin_token: admin_token.to_owned(),
        urls,
    })
}

/// A socket on a free port, for a service that must know its own address before it
/// starts.
fn bound() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")
}

/// A storefront of the test's own, in front of the shared shop.
pub struct Storefront {
    pub url: String,
    /// The key its session cookies are sealed with, so that tests can read and forge
    /// them.
    pub key: SessionKey,
}

/// Starts a storefront; `extra` overrides settings (`("supervisor_url", …)`).
pub async fn spawn_storefront(extra: &[(&str, &str)]) -> Storefront {
    platform::telemetry::init_for_tests();
    let shop = shop();
    let socket = bound();
    let listen = socket.local_addr().expect("an address").to_string();
    let url = format!("http://{listen}");
    let mut overrides: Vec<(&str, &str)> = shop
        .urls
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    overrides.extend([
        ("listen", listen.as_str()),
        ("storefront_url", url.as_str()),
        ("service_secret", SERVICE_SECRET),
        ("ops_poll_ms", "200"),
        ("ops_scrape_ms", "200"),
    ]);
    overrides.extend_from_slice(extra);
    let service = Launch::for_tests(&storefront::SERVICE, &overrides)
        .in_registry(REGISTRY)
        .listening_on(socket)
        .build()
        .await
        .expect("the storefront builds");
    tokio::spawn(service.run());
    let key = match extra.iter().find(|(k, _)| *k == "session_key") {
        Some((_, key)) => SessionKey::from_secret(key),
        None => SessionKey::from_service_secret(SERVICE_SECRET, "storefront"),
    };
    Storefront { url, key }
}

/// A gateway of the test's own in front of the shared shop; `extra` overrides settings
/// (`("recommendations_url", …)`). Returns its URL.
pub async fn spawn_gateway(extra: &[(&str, &str)]) -> String {
    let shop = shop();
    let mut overrides: Vec<(&str, &str)> = vec![("listen", "127.0.0.1:0")];
    overrides.extend(shop.urls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    overrides.extend_from_slice(extra);
    let service = Launch::for_tests(&gateway::SERVICE, &overrides)
        .in_registry(REGISTRY)
        .build()
        .await
        .expect("the gateway builds");
    let url = format!("http://{}", service.local_addr());
    tokio::spawn(service.run());
    url
}

/// A rate limit's refusal: 429, to come back in 7 s.
pub fn refused_for_7_s() -> axum::response::Response {
    let mut problem = platform::Problem::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        "too many requests; try again in 7 s",
    );
    problem.retry_after = Some(7);
    axum::response::IntoResponse::into_response(problem)
}

/// A gateway that refuses every call for 7 s (a rate limit met); its URL.
pub async fn limited_gateway() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limited = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async { refused_for_7_s() });
    tokio::spawn(async move { axum::serve(listener, app).await });
    limited
}

/// A catalog product, as its API gives it.
pub async fn products(per_page: u32) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/catalog/products?per_page={per_page}",
            shop().catalog
        ))
        .send()
        .await
        .expect("the catalog answers")
        .json()
        .await
        .expect("a product page");
    body["items"].as_array().cloned().expect("items")
}

/// Sets a product's stock as the administrator, once inventory knows the product.
pub async fn set_stock(product_id: &str, available: i64) {
    let shop = shop();
    let client = reqwest::Client::new();
    eventually(&format!("inventory to know {product_id}"), async || {
        let res = client
            .put(format!("{}/api/inventory/{product_id}", shop.inventory))
            .bearer_auth(&shop.admin_token)
            .json(&json!({ "available": available }))
            .send()
            .await
            .ok()?;
        (res.status() == StatusCode::OK).then_some(())
    })
    .await;
}

/// A newly registered customer (named Sam Shopper): email and password.
pub async fn new_customer() -> (String, String) {
    let account = identity::testing::shared().register("Sam Shopper").await;
    (account.email, identity::testing::PASSWORD.to_owned())
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.header("location")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts an HTML page answered `status` containing every snippet.
    pub fn assert_html(&self, status: StatusCode, snippets: &[&str]) {
        assert_eq!(
            self.status, status,
            "answered {}: {}",
            self.status, self.body
        );
        assert!(
            self.header("content-type").starts_with("text/html"),
            "content type {}",
            self.header("content-type")
        );
        for s in snippets {
            assert!(
                self.body.contains(s),
                "`{s}` is not on the page:\n{}",
                self.body
            );
        }
    }

    /// Asserts a problem document of `status` naming `field` (if given).
    pub fn assert_problem(&self, status: StatusCode, field: Option<&str>, case: &str) -> Value {
        let body = self.json();
        platform::testing::assert_problem_document(
            self.status,
            self.header("content-type"),
            &body,
            status,
            field,
            case,
        );
        body
    }
}

/// A browser, as far as the storefront can tell: it keeps cookies and posts forms.
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` received, as sent.
    pub set_cookies: Vec<String>,
    /// The storefront's session key: what the browser cannot know, and tests may.
    key: SessionKey,
}

impl Browser {
    pub fn new(storefront: &Storefront) -> Self {
        Self {
            key: storefront.key.clone(),
            base: storefront.url.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("a client"),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request with the cookies; keeps the cookies it sets.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            req = req.header(header::COOKIE, self.cookie_header());
        }
        if let Some(fields) = form {
            let body = serde_urlencoded::to_string(fields).expect("a form");
            req = req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("the storefront answers");
        for value in res.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default().to_owned();
            if let Some((name, rest)) = text.split_once('=') {
                let value = rest.split(';').next().unwrap_or_default();
                if text.contains("Max-Age=0") || value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
            self.set_cookies.push(text);
        }
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None, &[]).await
    }

    /// Posts a form as the storefront's pages have it: with the session's CSRF token,
    /// when there is a session and the form names none.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let token = self.csrf_token();
        let mut fields = form.to_vec();
        if let Some(token) = &token
            && !form.iter().any(|(k, _)| *k == "csrf_token")
        {
            fields.push(("csrf_token", token));
        }
        self.send(Method::POST, path, Some(&fields), &[]).await
    }

    /// A POST as the ops console's script sends it: no body, JSON accepted, the session's
    /// CSRF token in `X-CSRF-Token`.
    pub async fn script_post(&mut self, path: &str) -> Page {
        let token = self.csrf_token().unwrap_or_default();
        self.send(
            Method::POST,
            path,
            None,
            &[("accept", "application/json"), ("x-csrf-token", &token)],
        )
        .await
    }

    /// The session cookie's name and value, if the browser holds one.
    fn session_cookie(&self) -> Option<(&'static str, &String)> {
        [SESSION_COOKIE, SECURE_SESSION_COOKIE]
            .into_iter()
            .find_map(|name| Some((name, self.cookies.get(name)?)))
    }

    /// What the session cookie holds, opened with the storefront's key.
    pub fn session(&self) -> Option<Value> {
        let (name, value) = self.session_cookie()?;
        serde_json::from_slice(&self.key.open(name, value)?).ok()
    }

    /// Replaces the session cookie's content with `session`, sealed as the storefront
    /// would.
    pub fn forge_session(&mut self, session: &Value) {
        let name = self.session_cookie().map_or(SESSION_COOKIE, |(n, _)| n);
        let sealed = self.seal(name, session);
        self.cookies.insert(name.to_owned(), sealed);
    }

    /// `session` sealed as the value of the cookie `name`.
    pub fn seal(&self, name: &str, session: &Value) -> String {
        self.key
            .seal(name, &serde_json::to_vec(session).expect("JSON"))
            .expect("sealed")
    }

    /// The session's CSRF token, as its pages carry it.
    pub fn csrf_token(&self) -> Option<String> {
        Some(self.session()?["c"].as_str()?.to_owned())
    }

    /// Signs in through the form; asserts it worked.
    pub async fn sign_in(&mut self, email: &str, password: &str) {
        let page = self
            .post(
                "/signin",
                &[("email", email), ("password", password), ("next", "/")],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "signing in: {}",
            page.body
        );
        assert!(self.has_session(), "a session cookie");
    }

    /// Whether the browser holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.cookies.contains_key("bazaar_session")
    }

    /// Adds `quantity` of a product to the cart through the product page's form, once the
    /// cart takes it (the cart learns of products from the catalog's events): the
    /// redirect that answered.
    pub async fn add_to_cart(&mut self, product_id: &str, quantity: &str) -> Page {
        eventually("the cart to take the product", async || {
            let page = self
                .post(
                    "/cart/items",
                    &[("product_id", product_id), ("quantity", quantity)],
                )
                .await;
            let added = format!("added={quantity}");
            page.location().contains(&added).then_some(page)
        })
        .await
    }

    /// A browser signed in as a new customer.
    pub async fn customer(storefront: &Storefront) -> Self {
        let (email, password) = new_customer().await;
        let mut browser = Browser::new(storefront);
        browser.sign_in(&email, &password).await;
        browser
    }
}

/// The ids of every `<input>` that is not hidden, and of every `<select>`.
pub fn field_ids(html: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for tag in ["<input", "<select", "<textarea"] {
        for (i, _) in html.match_indices(tag) {
            let rest = &html[i..];
            let end = rest.find('>').unwrap_or(rest.len());
            let element = &rest[..end];
            if element.contains("type=\"hidden\"") {
                continue;
            }
            let id = element
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("a form field without an id: {element}"));
            ids.push(id.to_owned());
        }
    }
    ids
}

/// Asserts every visible form field has a `<label for>`, and the page its landmarks.
pub fn assert_accessible(html: &str) {
    for id in field_ids(html) {
        assert!(
            html.contains(&format!("for=\"{id}\"")),
            "the field `{id}` has no label"
        );
    }
    for landmark in [
        "<header",
        "<main id=\"main\"",
        "<nav",
        "<footer",
        "lang=\"en\"",
        "Skip to main content",
    ] {
        assert!(html.contains(landmark), "`{landmark}` is missing");
    }
}

/// The trace of a checkout, as the supervisor's `/traces/{id}` answers it: the gateway's
/// request through the storefront and orders to a failing payment, and the handling of
/// the order's event, whose parent span never arrived (an orphan, linked to the trace).
pub const CHECKOUT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A second kept trace: a quick catalog read.
pub const BROWSE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

pub fn checkout_trace() -> Value {
    let span = |id: &str,
                parent: Option<&str>,
                service: &str,
                name: &str,
                kind: &str,
                offset: f64,
                duration: f64,
                depth: usize| {
        let start = 1_735_725_600_000_000_000_u64 + (offset * 1e6) as u64;
        json!({
            "span_id": id, "parent_span_id": parent, "service": service, "instance": format!("{service}-1"),
            "name": name, "kind": kind, "start_unix_nano": start, "end_unix_nano": start + (duration * 1e6) as u64,
            "error": false, "attributes": {}, "links": [],
            "offset_ms": offset, "duration_ms": duration, "depth": depth, "orphan": false,
        })
    };
    let mut spans = vec![
        span(
            "0000000000000001",
            None,
            "gateway",
            "POST /checkout",
            "server",
            0.0,
            40.0,
            0,
        ),
        span(
            "0000000000000002",
            Some("0000000000000001"),
            "storefront",
            "POST /checkout",
            "server",
            1.0,
            38.0,
            1,
        ),
        span(
            "0000000000000003",
            Some("0000000000000002"),
            "storefront",
            "POST gateway",
            "client",
            2.0,
            35.0,
            2,
        ),
        span(
            "0000000000000004",
            Some("0000000000000003"),
            "gateway",
            "POST /api/orders/checkout",
            "server",
            3.0,
            33.0,
            3,
        ),
        span(
            "0000000000000005",
            Some("0000000000000004"),
            "orders",
            "POST /api/orders/checkout",
            "server",
            4.0,
            30.0,
            4,
        ),
        span(
            "0000000000000006",
            Some("0000000000000005"),
            "orders",
            "POST payments",
            "client",
            10.0,
            10.0,
            5,
        ),
        span(
            "0000000000000007",
            Some("0000000000000006"),
            "payments",
            "POST /api/payments/<script>",
            "server",
            11.0,
            8.0,
            6,
        ),
        span(
            "0000000000000008",
            Some("00f067aa0ba902b7"),
            "notifications",
            "handle bazaar.orders.order.confirmed.v1",
            "consumer",
            36.0,
            4.0,
            0,
        ),
    ];
    spans[0]["attributes"] = json!({"http.route": "/checkout", "http.response.status_code": "303"});
    for failed in [5, 6] {
        spans[failed]["error"] = json!(true);
    }
    spans[7]["orphan"] = json!(true);
    spans[7]["links"] = json!([{"trace_id": BROWSE_TRACE, "span_id": "00f067aa0ba902b7"}]);
    json!({
        "trace_id": CHECKOUT_TRACE, "started_at": "2025-01-01T10:00:00.000Z", "duration_ms": 40.0,
        "spans": spans,
    })
}

/// The supervisor's `/traces`, slowest first.
pub fn trace_list() -> Value {
    json!({"traces": [
        {"trace_id": CHECKOUT_TRACE, "service": "gateway", "name": "POST /checkout",
         "started_at": "2025-01-01T10:00:00.000Z", "duration_ms": 40.0, "spans": 8,
         "services": ["gateway", "notifications", "orders", "payments", "storefront"], "error": true},
        {"trace_id": BROWSE_TRACE, "service": "gateway", "name": "GET /api/catalog/products",
         "started_at": "2025-01-01T10:00:01.000Z", "duration_ms": 4.0, "spans": 3,
         "services": ["catalog", "gateway"], "error": false},
    ]})
}

/// The supervisor's `/traces/map`: calls each way between the gateway and the storefront,
/// a call of which a quarter failed, and an event flow.
pub fn service_map() -> Value {
    json!({
        "services": ["gateway", "notifications", "orders", "payments", "storefront"],
        "edges": [
            {"from": "gateway", "to": "orders", "kind": "call", "count": 4, "errors": 0, "per_second": 0.4},
            {"from": "gateway", "to": "storefront", "kind": "call", "count": 12, "errors": 0, "per_second": 1.2},
            {"from": "orders", "to": "notifications", "kind": "event", "count": 4, "errors": 0, "per_second": 0.4},
            {"from": "orders", "to": "payments", "kind": "call", "count": 4, "errors": 1, "per_second": 0.4},
            {"from": "storefront", "to": "gateway", "kind": "call", "count": 12, "errors": 0, "per_second": 1.2},
        ],
        "window_seconds": 10.0,
    })
}

/// One row of a table in `html`: from the element carrying `attribute` to its `</tr>`.
pub fn row<'a>(html: &'a str, attribute: &str) -> &'a str {
    let start = html
        .find(attribute)
        .unwrap_or_else(|| panic!("no `{attribute}` in:\n{html}"));
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}
