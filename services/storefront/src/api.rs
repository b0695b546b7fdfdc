//! The shop's public APIs as the storefront calls them: through the gateway, like any
//! client, each call bounded by a timeout that fits what the page does with the answer.
//! It knows callers only by what the gateway is told ([`Caller`]): sessions, visitors and
//! pages are the callers' business.

use crate::{
    domain::{
        Address, CategoryId, Checkout, ListingSort, PathId, ProductId, Quantity, SearchSort,
        SortOrder,
    },
    error::StorefrontError,
};
use bytes::Bytes;
use platform::Problem;
use platform::{
    balance::Balancer,
    client::{CallError, ServiceClient},
};
use reqwest::{Method, RequestBuilder, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};

/// The cart service's anonymous cart cookie.
pub const CART_COOKIE: &str = "bazaar_cart";

/// The notifications a page of the list shows, and what the header's badge counts (past
/// it, the badge says "50+"). One more is asked for, to know whether there are more.
pub const NOTIFICATIONS_PAGE: usize = 50;

/// How long a call may take, by what the page does without its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// The page needs it.
    Standard,
    /// The page renders without it.
    Optional,
    /// Search results (the page falls back to the catalog).
    Search,
    /// A checkout, which runs the whole saga.
    Checkout,
}

/// The timeout of each kind of call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub standard: Duration,
    pub optional: Duration,
    pub search: Duration,
    pub checkout: Duration,
}

impl Timeouts {
    fn of(&self, patience: Patience) -> Duration {
        match patience {
            Patience::Standard => self.standard,
            Patience::Optional => self.optional,
            Patience::Search => self.search,
            Patience::Checkout => self.checkout,
        }
    }
}

/// Who a call is made for, as far as the gateway is told.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The browser request's id, passed on so that the services' logs line up.
    pub request_id: Option<String>,
    /// The user's access token.
    pub token: Option<String>,
    /// The anonymous cart's cookie (only the cart service is sent it).
    pub cart_cookie: Option<String>,
    /// The browser's address as the gateway forwarded it, passed back so that the
    /// gateway's and identity's limits per address count the browser, not the storefront.
    pub forwarded_for: Option<String>,
}

impl Caller {
    /// What the gateway is told of the caller, as headers: the browser request's id, the
    /// browser's address and the user's token, those of them there are.
    fn headers(&self) -> Vec<(header::HeaderName, String)> {
        let mut headers = Vec::new();
        if let Some(id) = &self.request_id {
            headers.push((header::HeaderName::from_static("x-request-id"), id.clone()));
        }
        if let Some(ip) = &self.forwarded_for {
            headers.push((
                header::HeaderName::from_static("x-forwarded-for"),
                ip.clone(),
            ));
        }
        if let Some(t) = &self.token {
            headers.push((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        headers
    }
}

/// A client of the gateway. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    /// The gateway's replicas.
    gateway: ServiceClient,
    /// For event streams, which stay open: no overall timeout, only one to connect.
    streaming: ServiceClient,
    timeouts: Timeouts,
}

/// One call to make, completed by the handler's headers and body, and sent to whichever
/// gateway replica the balancer picks (again to another, when that is safe).
struct Call {
    method: Method,
    path: String,
    timeout: Duration,
    headers: Vec<(header::HeaderName, String)>,
    query: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

impl Call {
    fn query(mut self, query: &[(&str, String)]) -> Self {
        self.query
            .extend(query.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        self
    }

    fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.clone());
        self
    }

    fn header(mut self, name: impl Into<header::HeaderName>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn apply(&self, mut req: RequestBuilder) -> RequestBuilder {
        req = req.timeout(self.timeout);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if !self.query.is_empty() {
            req = req.query(&self.query);
        }
        if let Some(b) = &self.body {
            req = req.json(b);
        }
        req
    }
}

/// Problems the gateway or the platform answer for a service that is down, hung or
/// broken, as opposed to a service's own reasons for failing a request.
const INFRASTRUCTURE_PROBLEMS: &[&str] = &[
    "urn:bazaar:problem:unavailable",
    "urn:bazaar:problem:bad-gateway",
    "urn:bazaar:problem:gateway-timeout",
    "urn:bazaar:problem:internal",
];

/// A successful answer.
struct Answer {
    headers: header::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json<T: DeserializeOwned>(&self, service: &'static str) -> Result<T, StorefrontError> {
        serde_json::from_slice(&self.body).map_err(|e| StorefrontError::Malformed {
            service,
            detail: e.to_string(),
        })
    }
}

/// What the cart service answers: the cart, when the answer carries one, and its
/// `Set-Cookie` headers (the anonymous cart's cookie), which belong to the browser.
#[derive(Debug, Clone, Default)]
pub struct CartAnswer {
    pub cart: Option<Cart>,
    pub set_cookies: Vec<header::HeaderValue>,
}

// ---- What the APIs answer (only the fields the pages use; unknown fields are ignored).

/// A catalog product.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    #[serde(default = "usd")]
    pub currency: String,
}

fn usd() -> String {
    "USD".to_owned()
}

/// A page of the catalog's products.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// A catalog category.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Category {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub product_count: i64,
}

#[derive(Deserialize)]
struct CategoryList {
    items: Vec<Category>,
}

/// Inventory's stock of one product.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stock {
    pub product_id: String,
    pub available: i64,
    #[serde(default)]
    pub reserved: i64,
    #[serde(default)]
    pub discontinued: bool,
}

/// A product summary as search and recommendations give it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub category: String,
    pub price_cents: i64,
    #[serde(default = "usd")]
    pub currency: String,
}

/// Search results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResults {
    pub items: Vec<Summary>,
    pub total: i64,
    #[serde(default)]
    pub facets: Facets,
}

/// Hit counts by category.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Facets {
    #[serde(default)]
    pub category: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

/// A cart, as the cart service shows it to its owner.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cart {
    pub items: Vec<CartLine>,
    pub total_cents: i64,
    #[serde(default = "usd")]
    pub currency: String,
}

impl Cart {
    /// Units in the cart.
    pub fn units(&self) -> i64 {
        self.items.iter().map(|l| l.quantity).sum()
    }
}

/// A line of the cart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    pub line_total_cents: i64,
    #[serde(default = "yes")]
    pub available: bool,
}

fn yes() -> bool {
    true
}

/// What identity answers a sign-in or a refresh with.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub items: Vec<OrderLine>,
    pub total_cents: i64,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default)]
    pub created_at: String,
    /// Why a cancelled order was cancelled.
    #[serde(default, alias = "cancel_reason")]
    pub reason: Option<String>,
    #[serde(default)]
    pub shipping_address: Option<Address>,
}

/// A line of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    #[serde(default)]
    pub line_total_cents: Option<i64>,
}

/// A page of the user's orders.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPage {
    pub items: Vec<Order>,
    #[serde(default)]
    pub total: i64,
    #[serde(default = "one")]
    pub page: u32,
    #[serde(default = "twenty")]
    pub per_page: u32,
}

fn one() -> u32 {
    1
}

fn twenty() -> u32 {
    20
}

/// A message in the user's mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(default)]
    pub kind: String,
    pub subject: String,
    #[serde(default)]
    pub body: String,
    pub created_at: String,
}

/// Query of a catalog listing.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub category: Option<CategoryId>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub name_contains: Option<String>,
    pub sort: ListingSort,
    pub page: u32,
    pub per_page: u32,
}

/// Query of a search.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: String,
    pub category: Option<CategoryId>,
    pub sort: SearchSort,
    pub page: u32,
    pub per_page: u32,
}

/// A call to `service` that got no answer: unavailable, why in a few words for a page.
fn unreachable(service: &'static str, e: &CallError) -> StorefrontError {
    let detail = match e {
        CallError::Transport { how, .. } if *how == platform::balance::Failed::Timeout => {
            "timed out".to_owned()
        }
        CallError::Transport { how, .. } if *how == platform::balance::Failed::Connect => {
            "could not connect".to_owned()
        }
        other => other.to_string(),
    };
    StorefrontError::Unavailable { service, detail }
}

/// The sort and paging parameters of a listing or a search, and its category if any.
fn page_params(
    sort: &str,
    page: u32,
    per_page: u32,
    category: Option<&CategoryId>,
) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("sort", sort.to_owned()),
        ("page", page.max(1).to_string()),
        ("per_page", per_page.clamp(1, 100).to_string()),
    ];
    if let Some(c) = category {
        params.push(("category", c.as_str().to_owned()));
    }
    params
}

/// A 404 from an endpoint that always exists means the gateway knows no such service:
/// it is not deployed, which is the same as unavailable to a page.
fn absent_is_unavailable(e: StorefrontError) -> StorefrontError {
    match e {
        StorefrontError::Refused {
            service, problem, ..
        } if problem.status == 404 => StorefrontError::Unavailable {
            service,
            detail: problem.detail.unwrap_or_else(|| "not found".into()),
        },
        other => other,
    }
}

impl Client {
    /// A client of the gateway's replicas, balanced by `gateway`.
    pub fn new(gateway: Balancer, timeouts: Timeouts) -> anyhow::Result<Self> {
        let http = platform::client::builder()
            // Per-call timeouts below; this only bounds anything unforeseen.
            .timeout(Duration::from_secs(60))
            .build()?;
        // No overall timeout (a stream lasts), but idle connections go as the others do.
        let streaming = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(platform::client::POOL_IDLE)
            .user_agent(concat!("bazaar-storefront/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            gateway: ServiceClient::new(gateway.clone(), http),
            streaming: ServiceClient::new(gateway, streaming),
            timeouts,
        })
    }

    fn request(&self, c: &Caller, method: Method, path: &str, patience: Patience) -> Call {
        let mut headers = vec![(header::ACCEPT, "application/json".to_owned())];
        headers.extend(c.headers());
        Call {
            method,
            path: path.to_owned(),
            timeout: self.timeouts.of(patience),
            headers,
            query: Vec::new(),
            body: None,
        }
    }

    /// Sends a call; any answer but a success becomes an error.
    #[tracing::instrument(skip_all, fields(service = service))]
    async fn send(&self, service: &'static str, call: Call) -> Result<Answer, StorefrontError> {
        let res = self
            .gateway
            .send(call.method.clone(), &call.path, |r| call.apply(r))
            .await
            .map_err(|e| unreachable(service, &e))?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .bytes()
            .await
            .map_err(|e| StorefrontError::Unavailable {
                service,
                detail: format!("the answer was cut short: {e}"),
            })?;
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        let is_problem = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(platform::problem::CONTENT_TYPE));
        let problem = is_problem
            .then(|| serde_json::from_slice::<Problem>(&body).ok())
            .flatten();
        // Members beside the standard ones (payments' `decline_code`, orders'
        // `resumable_until`).
        let members = is_problem
            .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .flatten()
            .unwrap_or_default();
        if status.is_server_error() {
            return Err(match problem {
                // The service itself answered, with a reason of its own.
                Some(p) if !INFRASTRUCTURE_PROBLEMS.contains(&p.kind.as_str()) => {
                    StorefrontError::Failed {
                        service,
                        problem: Box::new(p),
                        resumable: members["resumable_until"].is_string(),
                    }
                }
                _ => StorefrontError::Unavailable {
                    service,
                    detail: format!("answered {status}"),
                },
            });
        }
        let code = members["decline_code"]
            .as_str()
            .or(members["order_status"].as_str())
            .map(str::to_owned);
        let order_id = members["order_id"].as_str().map(str::to_owned);
        let mut problem = problem.unwrap_or_else(|| {
            Problem::from_status(
                status,
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>(),
            )
        });
        // A rate limit's wait, for the page that passes it on.
        problem.retry_after = crate::error::retry_after_in(&headers);
        Err(StorefrontError::Refused {
            service,
            problem: Box::new(problem),
            code,
            order_id,
        })
    }

    /// `GET path` of a service.
    async fn get(
        &self,
        c: &Caller,
        service: &'static str,
        path: &str,
        patience: Patience,
        query: &[(&str, String)],
    ) -> Result<Answer, StorefrontError> {
        let req = self.request(c, Method::GET, path, patience).query(query);
        self.send(service, req).await
    }

    /// `POST path` of a service with a JSON body.
    async fn post(
        &self,
        c: &Caller,
        service: &'static str,
        path: &str,
        patience: Patience,
        body: &serde_json::Value,
    ) -> Result<Answer, StorefrontError> {
        let req = self.request(c, Method::POST, path, patience).json(body);
        self.send(service, req).await
    }

    // ---- catalog

    /// Every category.
    pub async fn categories(&self, c: &Caller) -> Result<Vec<Category>, StorefrontError> {
        let path = "/api/catalog/categories";
        let answer = self
            .get(c, "catalog", path, Patience::Standard, &[])
            .await
            .map_err(absent_is_unavailable)?;
        Ok(answer.json::<CategoryList>("catalog")?.items)
    }

    /// A page of products.
    pub async fn products(&self, c: &Caller, q: &Listing) -> Result<ProductPage, StorefrontError> {
        let mut params = page_params(q.sort.as_str(), q.page, q.per_page, q.category.as_ref());
        if let Some(p) = q.min_price {
            params.push(("min_price", p.to_string()));
        }
        if let Some(p) = q.max_price {
            params.push(("max_price", p.to_string()));
        }
        if let Some(n) = &q.name_contains {
            params.push(("q", n.clone()));
        }
        let path = "/api/catalog/products";
        self.get(c, "catalog", path, Patience::Standard, &params)
            .await?
            .json("catalog")
    }

    /// One product.
    pub async fn product(
        &self,
        c: &Caller,
        id: &ProductId,
        patience: Patience,
    ) -> Result<Product, StorefrontError> {
        let path = format!("/api/catalog/products/{id}");
        self.get(c, "catalog", &path, patience, &[])
            .await?
            .json("catalog")
    }

    // ---- inventory, search, recommendations

    /// A product's stock (optional: the page says when it is unknown).
    pub async fn stock(&self, c: &Caller, id: &ProductId) -> Result<Stock, StorefrontError> {
        let path = format!("/api/inventory/{id}");
        self.get(c, "inventory", &path, Patience::Optional, &[])
            .await?
            .json("inventory")
    }

    /// Search results.
    pub async fn search(
        &self,
        c: &Caller,
        q: &SearchQuery,
    ) -> Result<SearchResults, StorefrontError> {
        let mut params = vec![("q", q.q.clone())];
        params.extend(page_params(
            q.sort.as_str(),
            q.page,
            q.per_page,
            q.category.as_ref(),
        ));
        self.get(c, "search", "/api/search", Patience::Search, &params)
            .await?
            .json("search")
    }

    /// Products to show beside one (optional).
    pub async fn recommendations(
        &self,
        c: &Caller,
        id: &ProductId,
    ) -> Result<Vec<Summary>, StorefrontError> {
        let path = format!("/api/recommendations/products/{id}");
        self.recommended(c, &path).await
    }

    /// Products for the caller, a signed-in user (optional).
    pub async fn recommended_for_me(&self, c: &Caller) -> Result<Vec<Summary>, StorefrontError> {
        self.recommended(c, "/api/recommendations/me").await
    }

    async fn recommended(&self, c: &Caller, path: &str) -> Result<Vec<Summary>, StorefrontError> {
        let limit = [("limit", "6".to_owned())];
        Ok(self
            .get(c, "recommendations", path, Patience::Optional, &limit)
            .await?
            .json::<Items<Summary>>("recommendations")?
            .items)
    }

    // ---- cart: the user's token if signed in, and the anonymous cart cookie

    async fn cart_call(
        &self,
        c: &Caller,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        patience: Patience,
    ) -> Result<CartAnswer, StorefrontError> {
        let reading = method == Method::GET;
        let mut req = self.request(c, method, path, patience);
        if let Some(cookie) = &c.cart_cookie {
            req = req.header(header::COOKIE, format!("{CART_COOKIE}={cookie}"));
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let answer = self
            .send("cart", req)
            .await
            .map_err(|e| if reading { absent_is_unavailable(e) } else { e })?;
        Ok(CartAnswer {
            cart: (!answer.body.is_empty())
                .then(|| serde_json::from_slice::<Cart>(&answer.body).ok())
                .flatten(),
            set_cookies: answer
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .cloned()
                .collect(),
        })
    }

    /// The caller's cart.
    pub async fn cart(
        &self,
        c: &Caller,
        patience: Patience,
    ) -> Result<CartAnswer, StorefrontError> {
        self.cart_call(c, Method::GET, "/api/cart", None, patience)
            .await
    }

    /// Adds units of a product.
    pub async fn add_to_cart(
        &self,
        c: &Caller,
        id: &ProductId,
        q: Quantity,
    ) -> Result<CartAnswer, StorefrontError> {
        let body = json!({"product_id": id.as_str(), "quantity": q.get()});
        let path = "/api/cart/items";
        self.cart_call(c, Method::POST, path, Some(body), Patience::Standard)
            .await
    }

    /// Sets a line's quantity.
    pub async fn set_quantity(
        &self,
        c: &Caller,
        id: &ProductId,
        q: Quantity,
    ) -> Result<CartAnswer, StorefrontError> {
        let path = format!("/api/cart/items/{id}");
        let body = json!({"quantity": q.get()});
        self.cart_call(c, Method::PATCH, &path, Some(body), Patience::Standard)
            .await
    }

    /// Removes a line.
    pub async fn remove_from_cart(
        &self,
        c: &Caller,
        id: &ProductId,
    ) -> Result<CartAnswer, StorefrontError> {
        let path = format!("/api/cart/items/{id}");
        self.cart_call(c, Method::DELETE, &path, None, Patience::Standard)
            .await
    }

    // ---- identity

    /// `POST /api/identity/{action}` with `body`.
    async fn identity(
        &self,
        c: &Caller,
        action: &str,
        patience: Patience,
        body: serde_json::Value,
    ) -> Result<Answer, StorefrontError> {
        let path = format!("/api/identity/{action}");
        self.post(c, "identity", &path, patience, &body).await
    }

    /// Signs in.
    pub async fn login(
        &self,
        c: &Caller,
        email: &str,
        password: &str,
    ) -> Result<TokenPair, StorefrontError> {
        let body = json!({"email": email, "password": password});
        self.identity(c, "login", Patience::Standard, body)
            .await?
            .json("identity")
    }

    /// Creates an account.
    pub async fn register(
        &self,
        c: &Caller,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<(), StorefrontError> {
        let body = json!({"name": name, "email": email, "password": password});
        self.identity(c, "register", Patience::Standard, body)
            .await
            .map(|_| ())
    }

    /// Spends a refresh token for a new pair.
    pub async fn refresh(
        &self,
        c: &Caller,
        refresh_token: &str,
    ) -> Result<TokenPair, StorefrontError> {
        let body = json!({"refresh_token": refresh_token});
        self.identity(c, "refresh", Patience::Standard, body)
            .await?
            .json("identity")
    }

    /// Ends a sign-in at identity (its refresh token stops working); the caller's token
    /// is the sign-in's access token.
    pub async fn logout(&self, c: &Caller, refresh_token: &str) -> Result<(), StorefrontError> {
        let body = json!({"refresh_token": refresh_token});
        self.identity(c, "logout", Patience::Optional, body)
            .await
            .map(|_| ())
    }

    // ---- orders

    /// Places the order for the caller's cart.
    pub async fn checkout(&self, c: &Caller, order: &Checkout) -> Result<Order, StorefrontError> {
        let mut body = json!({
            "payment": {
                "card_number": order.card.number,
                "exp_month": order.card.exp_month,
                "exp_year": order.card.exp_year,
                "cvc": order.card.cvc,
            },
            "shipping_address": order.address,
        });
        if let Some(shown) = order.expected_total_cents {
            body["expected_total_cents"] = shown.into();
        }
        let req = self
            .request(c, Method::POST, "/api/orders/checkout", Patience::Checkout)
            .header(
                header::HeaderName::from_static("idempotency-key"),
                order.idempotency_key.clone(),
            )
            .json(&body);
        self.send("orders", req).await?.json("orders")
    }

    /// A page of the caller's orders.
    pub async fn orders(&self, c: &Caller, page: u32) -> Result<OrderPage, StorefrontError> {
        let params = [("page", page.to_string()), ("per_page", "20".to_owned())];
        self.get(c, "orders", "/api/orders", Patience::Standard, &params)
            .await
            .map_err(absent_is_unavailable)?
            .json("orders")
    }

    /// One of the caller's orders.
    pub async fn order(&self, c: &Caller, id: &PathId) -> Result<Order, StorefrontError> {
        let path = format!("/api/orders/{}", id.as_str());
        self.get(c, "orders", &path, Patience::Standard, &[])
            .await?
            .json("orders")
    }

    // ---- notifications

    /// The caller's messages, newest first.
    pub async fn notifications(
        &self,
        c: &Caller,
        patience: Patience,
        before: Option<&PathId>,
    ) -> Result<Vec<Notification>, StorefrontError> {
        let path = "/api/notifications";
        // One more than a page: whether there are older ones is then known, not guessed.
        let mut query = vec![("limit", (NOTIFICATIONS_PAGE + 1).to_string())];
        if let Some(before) = before {
            query.push(("before", before.as_str().to_owned()));
        }
        let answer = self
            .get(c, "notifications", path, patience, &query)
            .await
            .map_err(absent_is_unavailable)?;
        // The contract says a bare array; accept `{items}` as well.
        match answer.json::<Vec<Notification>>("notifications") {
            Ok(list) => Ok(list),
            Err(e) => answer
                .json::<Items<Notification>>("notifications")
                .map(|i| i.items)
                .map_err(|_| e),
        }
    }

    /// Opens the caller's live notification stream (the response is streamed on).
    pub async fn notification_stream(
        &self,
        c: &Caller,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, StorefrontError> {
        let mut headers = vec![(header::ACCEPT, "text/event-stream".to_owned())];
        headers.extend(c.headers());
        if let Some(id) = last_event_id {
            headers.push((
                header::HeaderName::from_static("last-event-id"),
                id.to_owned(),
            ));
        }
        let build = |mut req: RequestBuilder| {
            for (name, value) in &headers {
                req = req.header(name, value);
            }
            req
        };
        let service = "notifications";
        let res = self
            .streaming
            .send(Method::GET, "/api/notifications/stream", build)
            .await
            .map_err(|e| unreachable(service, &e))?;
        if res.status().is_success() {
            return Ok(res);
        }
        Err(StorefrontError::from_failed_answer(service, res).await)
    }

    // ---- operators: dead letters, with an administrator's own token

    /// A consumer's open dead letters.
    pub async fn dead_letters(
        &self,
        c: &Caller,
        service: &str,
    ) -> Result<(Vec<serde_json::Value>, bool), StorefrontError> {
        /// What the list answers: the oldest open letters, and whether more are open.
        #[derive(Deserialize)]
        struct Letters {
            items: Vec<serde_json::Value>,
            #[serde(default)]
            more: bool,
        }
        let path = format!("/api/{service}/events/dead-letters");
        let letters = self
            .get(c, "gateway", &path, Patience::Optional, &[])
            .await?
            .json::<Letters>("gateway")?;
        Ok((letters.items, letters.more))
    }

    /// Replays one dead letter; answers what the consumer reports.
    pub async fn replay(
        &self,
        c: &Caller,
        service: &str,
        id: &PathId,
    ) -> Result<serde_json::Value, StorefrontError> {
        let path = format!("/api/{service}/events/dead-letters/{}/replay", id.as_str());
        let req = self.request(c, Method::POST, &path, Patience::Standard);
        self.send("gateway", req).await?.json("gateway")
    }

    /// Closes one dead letter without replaying it.
    pub async fn discard(
        &self,
        c: &Caller,
        service: &str,
        id: &PathId,
    ) -> Result<(), StorefrontError> {
        let path = format!("/api/{service}/events/dead-letters/{}", id.as_str());
        let req = self.request(c, Method::DELETE, &path, Patience::Standard);
        self.send("gateway", req).await.map(drop)
    }
}
