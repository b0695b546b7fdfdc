//! The shop's public APIs as the storefront calls them: through the gateway, like any
//! client, with the visitor's token and cart cookie, each call bounded by a timeout that
//! fits what the page does with the answer.

use crate::{
    domain::{Address, CategoryId, Checkout, ListingSort, PathId, ProductId, Quantity, SearchSort},
    error::StorefrontError,
    session::{CART_COOKIE, Visitor},
};
use bytes::Bytes;
use platform::Problem;
use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};

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

/// A client of the gateway. Cheap to clone.
#[derive(Clone)]
pub struct Shop {
    http: reqwest::Client,
    base: String,
    timeouts: Timeouts,
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

/// The visitor's cart.
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

impl Shop {
    /// A client of the gateway at `base`.
    pub fn new(base: &str, timeouts: Timeouts) -> anyhow::Result<Self> {
        Ok(Self {
            http: platform::client::builder()
                // Per-call timeouts below; this only bounds anything unforeseen.
                .timeout(Duration::from_secs(60))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            timeouts,
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        v: &Visitor,
        method: Method,
        path: &str,
        patience: Patience,
        token: Option<&str>,
    ) -> RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(self.timeouts.of(patience))
            .header(header::ACCEPT, "application/json");
        if let Some(id) = v.request_id() {
            req = req.header("x-request-id", id);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req
    }

    /// Sends a request; any answer but a success becomes an error.
    #[tracing::instrument(skip_all, fields(service = service))]
    async fn send(
        &self,
        service: &'static str,
        req: RequestBuilder,
    ) -> Result<Answer, StorefrontError> {
        let res = req.send().await.map_err(|e| {
            let detail = if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "could not connect".to_owned()
            } else {
                e.to_string()
            };
            StorefrontError::Unavailable { service, detail }
        })?;
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
        if status.is_server_error() {
            return Err(match problem {
                // The service itself answered, with a reason of its own.
                Some(p) if !INFRASTRUCTURE_PROBLEMS.contains(&p.kind.as_str()) => {
                    StorefrontError::Failed {
                        service,
                        problem: Box::new(p),
                    }
                }
                _ => StorefrontError::Unavailable {
                    service,
                    detail: format!("answered {status}"),
                },
            });
        }
        let code = is_problem
            .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .flatten()
            .and_then(|v| v["decline_code"].as_str().map(str::to_owned));
        let problem = problem.unwrap_or_else(|| {
            Problem::from_status(
                status,
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>(),
            )
        });
        Err(StorefrontError::Refused {
            service,
            problem: Box::new(problem),
            code,
        })
    }

    // ---- catalog

    /// Every category.
    pub async fn categories(&self, v: &Visitor) -> Result<Vec<Category>, StorefrontError> {
        let req = self.request(
            v,
            Method::GET,
            "/api/catalog/categories",
            Patience::Standard,
            None,
        );
        let answer = self
            .send("catalog", req)
            .await
            .map_err(absent_is_unavailable)?;
        Ok(answer.json::<CategoryList>("catalog")?.items)
    }

    /// A page of products.
    pub async fn products(&self, v: &Visitor, q: &Listing) -> Result<ProductPage, StorefrontError> {
        let mut params: Vec<(&str, String)> = vec![
            ("sort", q.sort.as_str().to_owned()),
            ("page", q.page.max(1).to_string()),
            ("per_page", q.per_page.clamp(1, 100).to_string()),
        ];
        if let Some(c) = &q.category {
            params.push(("category", c.as_str().to_owned()));
        }
        if let Some(p) = q.min_price {
            params.push(("min_price", p.to_string()));
        }
        if let Some(p) = q.max_price {
            params.push(("max_price", p.to_string()));
        }
        if let Some(n) = &q.name_contains {
            params.push(("q", n.clone()));
        }
        let req = self
            .request(
                v,
                Method::GET,
                "/api/catalog/products",
                Patience::Standard,
                None,
            )
            .query(&params);
        self.send("catalog", req).await?.json("catalog")
    }

    /// One product.
    pub async fn product(&self, v: &Visitor, id: &ProductId) -> Result<Product, StorefrontError> {
        let path = format!("/api/catalog/products/{id}");
        let req = self.request(v, Method::GET, &path, Patience::Standard, None);
        self.send("catalog", req).await?.json("catalog")
    }

    /// One product, within the optional patience (the image endpoint).
    pub async fn product_quickly(
        &self,
        v: &Visitor,
        id: &ProductId,
    ) -> Result<Product, StorefrontError> {
        let path = format!("/api/catalog/products/{id}");
        let req = self.request(v, Method::GET, &path, Patience::Optional, None);
        self.send("catalog", req).await?.json("catalog")
    }

    // ---- inventory, search, recommendations

    /// A product's stock (optional: the page says when it is unknown).
    pub async fn stock(&self, v: &Visitor, id: &ProductId) -> Result<Stock, StorefrontError> {
        let path = format!("/api/inventory/{id}");
        let req = self.request(v, Method::GET, &path, Patience::Optional, None);
        self.send("inventory", req).await?.json("inventory")
    }

    /// Search results.
    pub async fn search(
        &self,
        v: &Visitor,
        q: &SearchQuery,
    ) -> Result<SearchResults, StorefrontError> {
        let mut params: Vec<(&str, String)> = vec![
            ("q", q.q.clone()),
            ("sort", q.sort.as_str().to_owned()),
            ("page", q.page.max(1).to_string()),
            ("per_page", q.per_page.clamp(1, 100).to_string()),
        ];
        if let Some(c) = &q.category {
            params.push(("category", c.as_str().to_owned()));
        }
        let req = self
            .request(v, Method::GET, "/api/search", Patience::Search, None)
            .query(&params);
        self.send("search", req).await?.json("search")
    }

    /// Products to show beside one (optional).
    pub async fn recommendations(
        &self,
        v: &Visitor,
        id: &ProductId,
    ) -> Result<Vec<Summary>, StorefrontError> {
        let path = format!("/api/recommendations/products/{id}");
        let req = self
            .request(v, Method::GET, &path, Patience::Optional, None)
            .query(&[("limit", "6")]);
        Ok(self
            .send("recommendations", req)
            .await?
            .json::<Items<Summary>>("recommendations")?
            .items)
    }

    /// Products for the signed-in visitor (optional).
    pub async fn recommended_for_me(&self, v: &Visitor) -> Result<Vec<Summary>, StorefrontError> {
        v.with_token(|token| async move {
            let req = self
                .request(
                    v,
                    Method::GET,
                    "/api/recommendations/me",
                    Patience::Optional,
                    token.as_deref(),
                )
                .query(&[("limit", "6")]);
            Ok(self
                .send("recommendations", req)
                .await?
                .json::<Items<Summary>>("recommendations")?
                .items)
        })
        .await
    }

    // ---- cart: the visitor's token if signed in, and the anonymous cart cookie

    async fn cart_call(
        &self,
        v: &Visitor,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        patience: Patience,
    ) -> Result<Option<Cart>, StorefrontError> {
        let answer = v
            .with_optional_token(|token| {
                let method = method.clone();
                let body = body.clone();
                async move {
                    let mut req = self.request(v, method, path, patience, token.as_deref());
                    if let Some(cookie) = v.cart_cookie().await {
                        req = req.header(header::COOKIE, format!("{CART_COOKIE}={cookie}"));
                    }
                    if let Some(b) = &body {
                        req = req.json(b);
                    }
                    self.send("cart", req).await
                }
            })
            .await
            .map_err(|e| {
                if method == Method::GET {
                    absent_is_unavailable(e)
                } else {
                    e
                }
            })?;
        v.relay_cart_cookies(&answer.headers).await;
        if answer.body.is_empty() {
            return Ok(None);
        }
        Ok(serde_json::from_slice::<Cart>(&answer.body).ok())
    }

    /// The visitor's cart.
    pub async fn cart(&self, v: &Visitor) -> Result<Cart, StorefrontError> {
        self.cart_call(v, Method::GET, "/api/cart", None, Patience::Standard)
            .await?
            .ok_or_else(|| StorefrontError::Malformed {
                service: "cart",
                detail: "the cart answered without a cart".into(),
            })
    }

    /// The visitor's cart within the optional patience (the header's count).
    pub async fn cart_quickly(&self, v: &Visitor) -> Result<Cart, StorefrontError> {
        self.cart_call(v, Method::GET, "/api/cart", None, Patience::Optional)
            .await?
            .ok_or_else(|| StorefrontError::Malformed {
                service: "cart",
                detail: "the cart answered without a cart".into(),
            })
    }

    /// Adds units of a product.
    pub async fn add_to_cart(
        &self,
        v: &Visitor,
        id: &ProductId,
        q: Quantity,
    ) -> Result<(), StorefrontError> {
        let body = json!({"product_id": id.as_str(), "quantity": q.get()});
        self.cart_call(
            v,
            Method::POST,
            "/api/cart/items",
            Some(body),
            Patience::Standard,
        )
        .await
        .map(|_| ())
    }

    /// Sets a line's quantity.
    pub async fn set_quantity(
        &self,
        v: &Visitor,
        id: &ProductId,
        q: Quantity,
    ) -> Result<(), StorefrontError> {
        let path = format!("/api/cart/items/{id}");
        let body = json!({"quantity": q.get()});
        self.cart_call(v, Method::PATCH, &path, Some(body), Patience::Standard)
            .await
            .map(|_| ())
    }

    /// Removes a line.
    pub async fn remove_from_cart(
        &self,
        v: &Visitor,
        id: &ProductId,
    ) -> Result<(), StorefrontError> {
        let path = format!("/api/cart/items/{id}");
        self.cart_call(v, Method::DELETE, &path, None, Patience::Standard)
            .await
            .map(|_| ())
    }

    // ---- identity

    /// Signs in.
    pub async fn login(
        &self,
        v: &Visitor,
        email: &str,
        password: &str,
    ) -> Result<TokenPair, StorefrontError> {
        let req = self
            .request(
                v,
                Method::POST,
                "/api/identity/login",
                Patience::Standard,
                None,
            )
            .json(&json!({"email": email, "password": password}));
        self.send("identity", req).await?.json("identity")
    }

    /// Creates an account.
    pub async fn register(
        &self,
        v: &Visitor,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<(), StorefrontError> {
        let req = self
            .request(
                v,
                Method::POST,
                "/api/identity/register",
                Patience::Standard,
                None,
            )
            .json(&json!({"name": name, "email": email, "password": password}));
        self.send("identity", req).await.map(|_| ())
    }

    /// Spends a refresh token for a new pair. Uses nothing of the visitor but its request
    /// id (it runs while the visitor's state is locked).
    pub async fn refresh(
        &self,
        v: &Visitor,
        refresh_token: &str,
    ) -> Result<TokenPair, StorefrontError> {
        let req = self
            .request(
                v,
                Method::POST,
                "/api/identity/refresh",
                Patience::Standard,
                None,
            )
            .json(&json!({"refresh_token": refresh_token}));
        self.send("identity", req).await?.json("identity")
    }

    /// Ends a sign-in at identity (its refresh token stops working).
    pub async fn logout(
        &self,
        v: &Visitor,
        access_token: &str,
        refresh_token: &str,
    ) -> Result<(), StorefrontError> {
        let req = self
            .request(
                v,
                Method::POST,
                "/api/identity/logout",
                Patience::Optional,
                Some(access_token),
            )
            .json(&json!({"refresh_token": refresh_token}));
        self.send("identity", req).await.map(|_| ())
    }

    // ---- orders

    /// Places the order for the visitor's cart.
    pub async fn checkout(&self, v: &Visitor, c: &Checkout) -> Result<Order, StorefrontError> {
        let body = json!({
            "payment": {
                "card_number": c.card.number,
                "exp_month": c.card.exp_month,
                "exp_year": c.card.exp_year,
                "cvc": c.card.cvc,
            },
            "shipping_address": c.address,
        });
        v.with_token(|token| {
            let body = body.clone();
            async move {
                let req = self
                    .request(
                        v,
                        Method::POST,
                        "/api/orders/checkout",
                        Patience::Checkout,
                        token.as_deref(),
                    )
                    .header("idempotency-key", &c.idempotency_key)
                    .json(&body);
                self.send("orders", req).await?.json("orders")
            }
        })
        .await
    }

    /// A page of the visitor's orders.
    pub async fn orders(&self, v: &Visitor, page: u32) -> Result<OrderPage, StorefrontError> {
        v.with_token(|token| async move {
            let req = self
                .request(
                    v,
                    Method::GET,
                    "/api/orders",
                    Patience::Standard,
                    token.as_deref(),
                )
                .query(&[("page", page.to_string()), ("per_page", "20".to_owned())]);
            self.send("orders", req)
                .await
                .map_err(absent_is_unavailable)?
                .json("orders")
        })
        .await
    }

    /// One of the visitor's orders.
    pub async fn order(&self, v: &Visitor, id: &PathId) -> Result<Order, StorefrontError> {
        let path = format!("/api/orders/{}", id.as_str());
        v.with_token(|token| {
            let path = path.clone();
            async move {
                let req = self.request(v, Method::GET, &path, Patience::Standard, token.as_deref());
                self.send("orders", req).await?.json("orders")
            }
        })
        .await
    }

    // ---- notifications

    /// The visitor's messages, newest first.
    pub async fn notifications(
        &self,
        v: &Visitor,
        patience: Patience,
    ) -> Result<Vec<Notification>, StorefrontError> {
        v.with_token(|token| async move {
            let req = self.request(
                v,
                Method::GET,
                "/api/notifications",
                patience,
                token.as_deref(),
            );
            let answer = self
                .send("notifications", req)
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
        })
        .await
    }

    /// Opens the visitor's live notification stream (the response is streamed on).
    pub async fn notification_stream(
        &self,
        v: &Visitor,
        streaming: &reqwest::Client,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, StorefrontError> {
        v.with_token(|token| async move {
            let mut req = streaming
                .get(format!("{}/api/notifications/stream", self.base))
                .header(header::ACCEPT, "text/event-stream");
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some(id) = last_event_id {
                req = req.header("last-event-id", id);
            }
            if let Some(id) = v.request_id() {
                req = req.header("x-request-id", id);
            }
            let service = "notifications";
            let res = req.send().await.map_err(|e| StorefrontError::Unavailable {
                service,
                detail: e.to_string(),
            })?;
            let status = res.status();
            if status.is_success() {
                return Ok(res);
            }
            if status == StatusCode::UNAUTHORIZED || status.is_client_error() {
                let problem = res
                    .json::<Problem>()
                    .await
                    .unwrap_or_else(|_| Problem::from_status(status, "refused"));
                return Err(StorefrontError::Refused {
                    service,
                    problem: Box::new(problem),
                    code: None,
                });
            }
            Err(StorefrontError::Unavailable {
                service,
                detail: format!("answered {status}"),
            })
        })
        .await
    }

    // ---- operators: dead letters, with the administrator's own token

    /// A consumer's open dead letters.
    pub async fn dead_letters(
        &self,
        v: &Visitor,
        service: &str,
    ) -> Result<Vec<serde_json::Value>, StorefrontError> {
        let path = format!("/api/{service}/events/dead-letters");
        v.with_token(|token| {
            let path = path.clone();
            async move {
                let req = self.request(v, Method::GET, &path, Patience::Optional, token.as_deref());
                Ok(self
                    .send("gateway", req)
                    .await?
                    .json::<Items<serde_json::Value>>("gateway")?
                    .items)
            }
        })
        .await
    }

    /// Replays one dead letter; answers what the consumer reports.
    pub async fn replay(
        &self,
        v: &Visitor,
        service: &str,
        id: &PathId,
    ) -> Result<serde_json::Value, StorefrontError> {
        let path = format!("/api/{service}/events/dead-letters/{}/replay", id.as_str());
        v.with_token(|token| {
            let path = path.clone();
            async move {
                let req =
                    self.request(v, Method::POST, &path, Patience::Standard, token.as_deref());
                self.send("gateway", req).await?.json("gateway")
            }
        })
        .await
    }
}
