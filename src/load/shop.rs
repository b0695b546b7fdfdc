//! The shop as the load generator sees it: its public API through the gateway (any
//! address), the catalog read once at the start, and a pool of signed-in shopper
//! accounts reused from run to run so that runs do not spend their time hashing
//! passwords.

use super::stats::ErrorKind;
use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use platform::failure::error_chain as chain;
use reqwest::header::{COOKIE, HeaderMap, RETRY_AFTER, SET_COOKIE};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// A card the simulated processor accepts.
pub const GOOD_CARD: &str = "4242424242424242";
/// A card it declines.
pub const DECLINED_CARD: &str = "4000000000000002";
/// Products with less stock than this at the start are not put in carts, so that a run
/// does not sell out what it buys.
pub const MIN_STOCK: i64 = 20;
/// The catalog is sampled up to this many products.
const MAX_PRODUCTS: usize = 1_000;
/// Attempts of one checkout (same `Idempotency-Key`) before a 5xx or timeout fails it.
/// How long a checkout is asked again with its key while the answers say nothing of its
/// order (a gateway's 5xx, a timeout): orders' window for resuming one (30 s).
const CHECKOUT_PATIENCE: Duration = Duration::from_secs(30);
/// The cookie naming an anonymous cart.
const CART_COOKIE: &str = "bazaar_cart";
/// Kinds of failure an example is kept of (the first of each).
const MAX_EXAMPLES: usize = 16;
/// The longest an example's text is kept.
const EXAMPLE_CHARS: usize = 300;

/// A transport failure as an error kind.
pub fn transport_error(e: reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    }
}

/// A complete answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The answer if it is a success, else its status as the error.
    fn success(self) -> Result<Self, ErrorKind> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(ErrorKind::Status(self.status.as_u16()))
        }
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ErrorKind> {
        serde_json::from_slice(&self.body).map_err(|_| ErrorKind::InvalidResponse)
    }

    /// What the answer says of itself, in a line: a problem document's title and detail,
    /// a page's title, or the start of its text; and the request id the shop gave it, by
    /// which its logs find the request.
    fn said(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let problem = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| {
                let title = v["title"].as_str()?;
                Some(match v["detail"].as_str() {
                    Some(detail) => format!("{title}: {detail}"),
                    None => title.to_owned(),
                })
            });
        let page_title = || {
            let start = text.find("<title>")? + "<title>".len();
            let end = start + text[start..].find("</title>")?;
            Some(text[start..end].trim().to_owned())
        };
        let mut said = problem
            .or_else(page_title)
            .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
        if said.is_empty() {
            said = "(no body)".to_owned();
        }
        let mut said: String = said.chars().take(EXAMPLE_CHARS).collect();
        if let Some(id) = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            said.push_str(&format!(" (request id {id})"));
        }
        format!("{} {said}", self.status.as_u16())
    }

    fn retry_after(&self) -> Option<Duration> {
        let secs = self
            .headers
            .get(RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(Duration::from_secs(secs))
    }
}

/// Whose cart a cart request is about.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// A signed-in shopper's.
    Bearer(&'a str),
    /// An anonymous visitor's, named by the cart's cookie (none before the first add).
    Cookie(Option<&'a str>),
}

/// A product as the load uses it.
#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
}

/// What the load knows of the catalog, read at the start.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub categories: Vec<String>,
    pub products: Vec<Product>,
    /// Indexes into `products` of those with at least [`MIN_STOCK`] in stock (looked up
    /// only when the scenario buys).
    pub stocked: Vec<usize>,
    /// Words of product names, to search for.
    pub words: Vec<String>,
}

/// A signed-in shopper's tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    /// After this the access token is refreshed before use.
    pub fresh_until: Instant,
}

impl Tokens {
    pub fn stale(&self) -> bool {
        Instant::now() >= self.fresh_until
    }
}

/// A shopper account of the pool, its cart empty: a confirmed checkout takes the lines
/// out of the cart before it answers, and a failed one's run clears it.
#[derive(Clone, Debug)]
pub struct Account {
    pub email: String,
    pub tokens: Tokens,
}

/// How a checkout ended, when it ended as the shop means checkouts to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutOutcome {
    /// 201: paid (captured) and confirmed.
    Confirmed { cents: i64 },
    /// 202: authorised; the shop confirms it later.
    Accepted { cents: i64 },
    /// 402: the card was declined; nothing was charged.
    Declined,
    /// 409 `insufficient-stock`: nothing was charged.
    OutOfStock,
}

/// What one checkout attempt's answer calls for.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Done(Result<CheckoutOutcome, ErrorKind>),
    /// Worth another attempt with the same key, after `after` if the shop said so.
    Retry {
        error: ErrorKind,
        after: Option<Duration>,
    },
}

fn judge(attempt: Result<Answer, ErrorKind>) -> Verdict {
    #[derive(Deserialize)]
    struct Order {
        status: String,
        total_cents: i64,
    }
    #[derive(Deserialize)]
    struct Problem {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        order_id: Option<String>,
        #[serde(default)]
        resumable_until: Option<String>,
    }
    let answer = match attempt {
        Ok(answer) => answer,
        Err(error @ (ErrorKind::Timeout | ErrorKind::Connection)) => {
            return Verdict::Retry { error, after: None };
        }
        Err(error) => return Verdict::Done(Err(error)),
    };
    let status = answer.status.as_u16();
    match status {
        201 | 202 => {
            Verdict::Done(
                answer
                    .json::<Order>()
                    .and_then(|o| match (status, o.status.as_str()) {
                        (201, "confirmed") => Ok(CheckoutOutcome::Confirmed {
                            cents: o.total_cents,
                        }),
                        (202, _) => Ok(CheckoutOutcome::Accepted {
                            cents: o.total_cents,
                        }),
                        _ => Err(ErrorKind::InvalidResponse),
                    }),
            )
        }
        402 => Verdict::Done(Ok(CheckoutOutcome::Declined)),
        409 => match answer.json::<Problem>() {
            Ok(p) if p.kind.ends_with(":insufficient-stock") => {
                Verdict::Done(Ok(CheckoutOutcome::OutOfStock))
            }
            // The first request with this key is still being handled: ask again.
            Ok(p) if p.kind.ends_with(":request-in-progress") => Verdict::Retry {
                error: ErrorKind::Status(409),
                after: answer.retry_after(),
            },
            _ => Verdict::Done(Err(ErrorKind::Status(409))),
        },
        // Orders' own final answer: the order it names was cancelled; asking again with
        // the key answers the same.
        503 if answer
            .json::<Problem>()
            .is_ok_and(|p| p.order_id.is_some() && p.resumable_until.is_none()) =>
        {
            Verdict::Done(Err(ErrorKind::Status(503)))
        }
        // The gateway's (nothing known of the order) or a checkout waiting to be resumed.
        500..=599 => Verdict::Retry {
            error: ErrorKind::Status(status),
            after: answer.retry_after(),
        },
        _ => Verdict::Done(Err(ErrorKind::Status(status))),
    }
}

/// The cart's id from a response's `Set-Cookie`, as a `Cookie` header value.
fn cart_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| name == CART_COOKIE && !value.is_empty())
        })
        .map(str::to_owned)
}

/// Words worth searching for: the distinct alphabetic words of at least four letters.
fn search_words<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    names
        .into_iter()
        .flat_map(str::split_whitespace)
        .map(|w| w.trim_matches(|c: char| !c.is_alphabetic()).to_lowercase())
        .filter(|w| w.chars().count() >= 4 && w.chars().all(char::is_alphabetic))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A card expiry year safely in the future.
fn expiry_year() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + secs / 31_556_952 + 3
}

/// The shop under load.
pub struct Shop {
    http: reqwest::Client,
    /// The shop's address without a trailing slash.
    base: String,
    pub catalog: Catalog,
    idle: Mutex<VecDeque<Account>>,
    next_account: AtomicU64,
    /// Makes this load's account emails its own.
    tag: String,
    password: String,
    expiry_year: u64,
    /// What the shop said with the first failure of each kind (see [`Shop::examples`]).
    examples: Mutex<BTreeMap<ErrorKind, String>>,
}

impl Shop {
    /// Reads the catalog at `base` (and the stock of its products when `buying`).
    pub async fn connect(base: &str, timeout: Duration, buying: bool) -> anyhow::Result<Self> {
        let url = url::Url::parse(base).with_context(|| format!("`{base}` is not a URL"))?;
        match url.scheme() {
            "http" => {}
            "https" => bail!(
                "`{base}`: this build speaks plain HTTP only; point --url at an http:// \
                 address (the gateway, an ingress's HTTP port, or a port-forward)"
            ),
            other => bail!("`{base}`: unsupported scheme `{other}`"),
        }
        if url.query().is_some() || url.fragment().is_some() {
            bail!(
                "`{base}`: the shop's address takes no query or fragment; give its base, \
                 such as http://127.0.0.1:8080 (a path prefix is kept)"
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("bazaar-load/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("could not build an HTTP client")?;
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let mut shop = Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            catalog: Catalog::default(),
            idle: Mutex::new(VecDeque::new()),
            next_account: AtomicU64::new(0),
            password: format!("Load-{}", uuid::Uuid::new_v4().simple()),
            tag,
            expiry_year: expiry_year(),
            examples: Mutex::new(BTreeMap::new()),
        };
        shop.catalog = shop
            .read_catalog(buying)
            .await
            .with_context(|| format!("could not read the catalog of the shop at {base}"))?;
        Ok(shop)
    }

    async fn read_catalog(&self, buying: bool) -> anyhow::Result<Catalog> {
        #[derive(Deserialize)]
        struct Categories {
            items: Vec<Named>,
        }
        #[derive(Deserialize)]
        struct Named {
            id: String,
            #[serde(default)]
            name: String,
        }
        #[derive(Deserialize)]
        struct Page {
            items: Vec<Named>,
            total: usize,
        }
        // The first request says in full why the shop cannot be reached, if it cannot.
        let categories: Categories = self
            .http
            .get(self.url("/api/catalog/categories"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("GET /api/catalog/categories")?
            .json()
            .await
            .context("GET /api/catalog/categories")?;
        let mut named = Vec::new();
        for page in 1.. {
            let page_no = page.to_string();
            let path = "/api/catalog/products";
            let p: Page = self
                .before_the_load(
                    self.http
                        .get(self.url(path))
                        .query(&[("per_page", "100"), ("page", &page_no)]),
                )
                .await
                .and_then(|a| a.success())
                .and_then(|a| a.json())
                .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
            let last = p.items.len() < 100 || named.len() + p.items.len() >= p.total;
            named.extend(p.items);
            if last || named.len() >= MAX_PRODUCTS {
                break;
            }
        }
        named.truncate(MAX_PRODUCTS);
        if categories.items.is_empty() || named.is_empty() {
            bail!("the catalog has no categories or no products");
        }
        let words = search_words(named.iter().map(|p| p.name.as_str()));
        if words.is_empty() {
            bail!("no product name has a word to search for");
        }
        let products: Vec<Product> = named.into_iter().map(|p| Product { id: p.id }).collect();
        let stocked = if buying {
            let stocked = self.stocked(&products).await?;
            if stocked.is_empty() {
                bail!("no product has {MIN_STOCK} or more in stock to buy");
            }
            stocked
        } else {
            Vec::new()
        };
        Ok(Catalog {
            categories: categories.items.into_iter().map(|c| c.id).collect(),
            products,
            stocked,
            words,
        })
    }

    /// Indexes of the products with at least [`MIN_STOCK`] available.
    async fn stocked(&self, products: &[Product]) -> anyhow::Result<Vec<usize>> {
        #[derive(Deserialize)]
        struct Stock {
            available: i64,
        }
        let mut stocked: Vec<usize> = stream::iter(products.iter().enumerate())
            .map(|(i, p)| async move {
                let path = format!("/api/inventory/{}", p.id);
                match self.before_the_load(self.http.get(self.url(&path))).await {
                    Ok(a) if a.status == StatusCode::NOT_FOUND => Ok(None),
                    Ok(a) => {
                        let stock: Stock = a
                            .success()
                            .and_then(|a| a.json())
                            .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
                        Ok((stock.available >= MIN_STOCK).then_some(i))
                    }
                    Err(e) => Err(anyhow::anyhow!("GET {path}: {e}")),
                }
            })
            .buffer_unordered(16)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        stocked.sort_unstable();
        Ok(stocked)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// [`Shop::send`] for what is read before the load starts (the catalog, its stock):
    /// a shop whose rate limits are on (the default) answers a burst of them 429, so each
    /// is sent again after the `Retry-After` it names, for up to a minute in all, and the
    /// first such wait is said once. During the load, a 429 is an error like any other.
    async fn before_the_load(&self, req: RequestBuilder) -> Result<Answer, ErrorKind> {
        /// Longest wait for one `Retry-After`, and for all of them together.
        const LONGEST: Duration = Duration::from_secs(10);
        const IN_ALL: Duration = Duration::from_secs(60);
        static SAID: std::sync::Once = std::sync::Once::new();
        let began = std::time::Instant::now();
        loop {
            let Some(again) = req.try_clone() else {
                return self.send(req).await;
            };
            let answer = self.send(again).await?;
            if answer.status != StatusCode::TOO_MANY_REQUESTS || began.elapsed() >= IN_ALL {
                return Ok(answer);
            }
            let wait = answer
                .retry_after()
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(100), LONGEST);
            SAID.call_once(|| {
                eprintln!(
                    "the shop limits this client's rate (429) while the catalog is read; \
                     waiting as it asks (for load tests, start the shop with \
                     BAZAAR_RATE_LIMITS=off: during the load a 429 counts as an error)"
                );
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a request and reads its whole answer, keeping an example of what the shop
    /// said for the first failure of each kind: an answer that is not a success (each
    /// becomes the step's error; a checkout's answers are judged apart), or a transport
    /// error.
    async fn send(&self, req: RequestBuilder) -> Result<Answer, ErrorKind> {
        let (answer, failure) = self.exchange(req).await;
        if let Some((kind, said)) = failure {
            self.note(kind, || said);
        }
        answer
    }

    /// Sends a request and reads its whole answer; with what the shop said when it is a
    /// failure (an answer that is not a success, or a transport error), and its kind.
    async fn exchange(
        &self,
        req: RequestBuilder,
    ) -> (Result<Answer, ErrorKind>, Option<(ErrorKind, String)>) {
        let (http, req) = req.build_split();
        let req = match req {
            Ok(req) => req,
            Err(e) => return (Err(transport_error(e)), None),
        };
        let asked = format!("{} {}", req.method(), req.url().path());
        let failed = |e: reqwest::Error| {
            let said = format!("{asked}: {}", chain(&e));
            let kind = transport_error(e);
            (Err(kind), Some((kind, said)))
        };
        let r = match http.execute(req).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let status = r.status();
        let headers = r.headers().clone();
        let body = match r.bytes().await {
            Ok(body) => body,
            Err(e) => return failed(e),
        };
        let answer = Answer {
            status,
            headers,
            body,
        };
        let failure = (!status.is_success()).then(|| {
            let said = format!("{asked}: {}", answer.said());
            (ErrorKind::Status(status.as_u16()), said)
        });
        (Ok(answer), failure)
    }

    /// Keeps `said()` as the example of `kind` if it is the first of its kind.
    fn note(&self, kind: ErrorKind, said: impl FnOnce() -> String) {
        let mut examples = self.examples.lock().unwrap_or_else(PoisonError::into_inner);
        if examples.len() < MAX_EXAMPLES && !examples.contains_key(&kind) {
            examples.insert(kind, said());
        }
    }

    /// An example of each kind of failure met, in the shop's words: the first
    /// request that failed so, and what it was answered.
    pub fn examples(&self) -> BTreeMap<ErrorKind, String> {
        self.examples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ErrorKind> {
        let answer = self
            .send(self.http.get(self.url(path)).query(query))
            .await?
            .success()?;
        answer.json().inspect_err(|&kind| {
            self.note(kind, || {
                format!(
                    "GET {path}: {} with a body that is not the JSON expected: {}",
                    answer.status,
                    answer.said()
                )
            });
        })
    }

    fn authed(req: RequestBuilder, auth: Auth<'_>) -> RequestBuilder {
        match auth {
            Auth::Bearer(token) => req.bearer_auth(token),
            Auth::Cookie(Some(cookie)) => req.header(COOKIE, cookie),
            Auth::Cookie(None) => req,
        }
    }

    /// The storefront's home page.
    pub async fn home(&self) -> Result<(), ErrorKind> {
        self.send(self.http.get(self.url("/"))).await?.success()?;
        Ok(())
    }

    /// The ids on the first page of a category's listing.
    pub async fn category(&self, category: &str) -> Result<Vec<String>, ErrorKind> {
        let page: Items = self
            .get_json(
                "/api/catalog/products",
                &[("category", category), ("per_page", "24")],
            )
            .await?;
        Ok(page.ids())
    }

    /// The ids of the first page of hits.
    pub async fn search(&self, q: &str) -> Result<Vec<String>, ErrorKind> {
        let hits: Items = self.get_json("/api/search", &[("q", q)]).await?;
        Ok(hits.ids())
    }

    pub async fn product(&self, id: &str) -> Result<(), ErrorKind> {
        let product: Item = self
            .get_json(&format!("/api/catalog/products/{id}"), &[])
            .await?;
        if product.id == id {
            Ok(())
        } else {
            Err(ErrorKind::InvalidResponse)
        }
    }

    pub async fn recommendations(&self, id: &str) -> Result<(), ErrorKind> {
        let _: Items = self
            .get_json(&format!("/api/recommendations/products/{id}"), &[])
            .await?;
        Ok(())
    }

    /// A new, unused email for a shopper of this load.
    pub fn new_email(&self) -> String {
        let n = self.next_account.fetch_add(1, Ordering::Relaxed);
        format!("load-{}-{n}@example.com", self.tag)
    }

    pub async fn register(&self, email: &str) -> Result<(), ErrorKind> {
        let body = json!({"email": email, "password": self.password, "name": "Load Shopper"});
        self.send(
            self.http
                .post(self.url("/api/identity/register"))
                .json(&body),
        )
        .await?
        .success()?;
        Ok(())
    }

    pub async fn sign_in(&self, email: &str) -> Result<Tokens, ErrorKind> {
        let body = json!({"email": email, "password": self.password});
        self.tokens(self.http.post(self.url("/api/identity/login")).json(&body))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ErrorKind> {
        let body = json!({"refresh_token": refresh_token});
        self.tokens(
            self.http
                .post(self.url("/api/identity/refresh"))
                .json(&body),
        )
        .await
    }

    async fn tokens(&self, req: RequestBuilder) -> Result<Tokens, ErrorKind> {
        #[derive(Deserialize)]
        struct Pair {
            access_token: String,
            refresh_token: String,
            expires_in: u64,
        }
        let pair: Pair = self.send(req).await?.success()?.json()?;
        // A minute's margin, so that no token expires on its way to the shop.
        let fresh_for = Duration::from_secs(pair.expires_in.saturating_sub(60));
        Ok(Tokens {
            access: pair.access_token,
            refresh: pair.refresh_token,
            fresh_until: Instant::now() + fresh_for,
        })
    }

    /// The product ids in the cart.
    pub async fn cart(&self, auth: Auth<'_>) -> Result<Vec<String>, ErrorKind> {
        #[derive(Deserialize)]
        struct Line {
            product_id: String,
        }
        #[derive(Deserialize)]
        struct Cart {
            items: Vec<Line>,
        }
        let cart: Cart = self
            .send(Self::authed(self.http.get(self.url("/api/cart")), auth))
            .await?
            .success()?
            .json()?;
        Ok(cart.items.into_iter().map(|l| l.product_id).collect())
    }

    /// Adds one unit of `product`; returns the anonymous cart's cookie if the shop set
    /// one.
    pub async fn add_to_cart(
        &self,
        auth: Auth<'_>,
        product: &str,
    ) -> Result<Option<String>, ErrorKind> {
        let req = self
            .http
            .post(self.url("/api/cart/items"))
            .json(&json!({"product_id": product, "quantity": 1}));
        let answer = self.send(Self::authed(req, auth)).await?.success()?;
        Ok(cart_cookie(&answer.headers))
    }

    pub async fn clear_cart(&self, auth: Auth<'_>) -> Result<(), ErrorKind> {
        let req = Self::authed(self.http.delete(self.url("/api/cart")), auth);
        self.send(req).await?.success()?;
        Ok(())
    }

    /// Checks the signed-in shopper's cart out with `card`, retrying with the same
    /// `key` on 5xx answers, timeouts and broken connections; `retries` counts them.
    pub async fn checkout(
        &self,
        token: &str,
        card: &str,
        key: &str,
        retries: &AtomicU32,
    ) -> Result<CheckoutOutcome, ErrorKind> {
        let body = json!({
            "payment": {"card_number": card, "exp_month": 12, "exp_year": self.expiry_year, "cvc": "123"},
            "shipping_address": {"name": "Load Shopper", "line1": "1 Benchmark Way",
                                 "city": "Loadville", "postal_code": "12345", "country": "US"}
        });
        let mut backoff = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        loop {
            let req = self
                .http
                .post(self.url("/api/orders/checkout"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body);
            // An example only of an answer the report counts as an error: not of a decline
            // (an outcome), nor of an answer asked again that then went through.
            let (answer, failure) = self.exchange(req).await;
            let example = |kind: ErrorKind| {
                if let Some((failed, said)) = failure.clone()
                    && failed == kind
                {
                    self.note(kind, || said);
                }
            };
            match judge(answer) {
                Verdict::Done(outcome) => {
                    if let Err(kind) = outcome {
                        example(kind);
                    }
                    return outcome;
                }
                Verdict::Retry { error, .. } if started.elapsed() >= CHECKOUT_PATIENCE => {
                    example(error);
                    return Err(error);
                }
                Verdict::Retry { after, .. } => {
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(after.unwrap_or(backoff).min(Duration::from_secs(2))).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// An idle account, the longest idle first.
    pub fn take_account(&self) -> Option<Account> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// Puts an account back for later runs.
    pub fn return_account(&self, account: Account) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(account);
    }

    /// Registers and signs in `n` shoppers before the load starts, a few at a time.
    pub async fn prepare_accounts(&self, n: usize) -> anyhow::Result<()> {
        let accounts: Vec<Account> = stream::iter(0..n)
            .map(|_| async move {
                let email = self.new_email();
                self.register(&email)
                    .await
                    .with_context(|| format!("registering {email}"))?;
                let tokens = self
                    .sign_in(&email)
                    .await
                    .with_context(|| format!("signing in as {email}"))?;
                anyhow::Ok(Account { email, tokens })
            })
            .buffer_unordered(4)
            .try_collect()
            .await?;
        accounts.into_iter().for_each(|a| self.return_account(a));
        Ok(())
    }
}

/// A list of things with ids (a product page, search hits, recommendations).
#[derive(Deserialize)]
struct Items {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: String,
}

impl Items {
    fn ids(self) -> Vec<String> {
        self.items.into_iter().map(|i| i.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::Value;

    fn answer(status: u16, body: Value, headers: &[(&str, &str)]) -> Result<Answer, ErrorKind> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_string()),
        })
    }

    /// A shop's catalog as the load reads it first: one category, two products.
    fn catalog_of_two() -> axum::Router {
        use axum::{Json, routing::get};
        axum::Router::new()
            .route(
                "/api/catalog/categories",
                get(|| async { Json(json!({"items": [{"id": "mugs", "name": "Mugs"}]})) }),
            )
            .route(
                "/api/catalog/products",
                get(|| async {
                    Json(json!({"items": [
                        {"id": "p-1", "name": "Blue Mug"},
                        {"id": "p-2", "name": "Green Teapot"},
                    ], "total": 2}))
                }),
            )
    }

    /// Serves `app` on a port of its own; its address.
    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A shop whose rate limits answer the first stock reads 429, as a shop with its
    /// limits on answers a burst: the catalog is still read, waiting as it is asked to.
    #[tokio::test]
    async fn the_catalog_is_read_through_a_shops_rate_limits() {
        use axum::{Json, extract::Path, routing::get};
        use std::sync::atomic::{AtomicU32, Ordering};
        let limited = std::sync::Arc::new(AtomicU32::new(0));
        let counter = limited.clone();
        let app = catalog_of_two().route(
            "/api/inventory/{id}",
            get(move |Path(id): Path<String>| {
                let refused = counter.fetch_add(1, Ordering::SeqCst) < 3;
                async move {
                    if refused {
                        Err((
                            StatusCode::TOO_MANY_REQUESTS,
                            [(RETRY_AFTER, HeaderValue::from_static("0"))],
                        ))
                    } else {
                        Ok(Json(
                            json!({"product_id": id, "available": 50, "reserved": 0}),
                        ))
                    }
                }
            }),
        );
        let url = serve(app).await;
        let shop = Shop::connect(&url, Duration::from_secs(5), true)
            .await
            .expect("the catalog is read");
        assert_eq!(shop.catalog.stocked, vec![0, 1]);
        assert!(
            limited.load(Ordering::SeqCst) >= 5,
            "the refused reads were sent again"
        );
    }

    /// Each kind of failure keeps the first answer of its kind, in the shop's words: a
    /// page's title, a problem's title and detail, with the request id to find it by.
    #[tokio::test]
    async fn the_first_failure_of_each_kind_is_kept_as_the_shop_said_it() {
        use axum::routing::get;
        let app = catalog_of_two()
            .route(
                "/",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("x-request-id", "req-1"), ("content-type", "text/html")],
                        "<html><head><title> Unavailable · Bazaar </title></head><body>…</body></html>",
                    )
                }),
            )
            .route(
                "/api/catalog/products/{id}",
                get(|| async {
                    (
                        StatusCode::BAD_GATEWAY,
                        [("content-type", "application/problem+json")],
                        r#"{"type":"urn:bazaar:problem:bad-gateway","title":"Bad gateway","status":502,"detail":"the catalog service failed to answer"}"#,
                    )
                }),
            );
        let url = serve(app).await;
        let shop = Shop::connect(&url, Duration::from_secs(5), false)
            .await
            .expect("the catalog is read");
        assert_eq!(shop.home().await, Err(ErrorKind::Status(503)));
        assert_eq!(shop.product("p-1").await, Err(ErrorKind::Status(502)));
        assert_eq!(shop.product("p-2").await, Err(ErrorKind::Status(502)));
        let examples = shop.examples();
        assert_eq!(
            examples.get(&ErrorKind::Status(503)).map(String::as_str),
            Some("GET /: 503 Unavailable · Bazaar (request id req-1)"),
        );
        assert_eq!(
            examples.get(&ErrorKind::Status(502)).map(String::as_str),
            Some(
                "GET /api/catalog/products/p-1: 502 Bad gateway: the catalog service failed to answer"
            ),
            "the first of its kind"
        );
        assert_eq!(examples.len(), 2, "{examples:?}");
    }

    /// A checkout asked again after a 503 that then went through, and a decline, are no
    /// errors of the report's: neither leaves an example (the saga review found a
    /// checkout's 503 shown as the first 503 of a run whose checkouts had no error).
    #[tokio::test]
    async fn a_checkout_that_went_through_on_its_retry_leaves_no_example_of_a_failure() {
        use axum::{http::HeaderMap, routing::post};
        use std::sync::atomic::{AtomicU32, Ordering};
        let tries = std::sync::Arc::new(AtomicU32::new(0));
        let counter = tries.clone();
        let app = catalog_of_two().route(
            "/api/orders/checkout",
            post(move |headers: HeaderMap| {
                let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
                let declined = headers["idempotency-key"] == "declined";
                async move {
                    let (status, body) = match (first, declined) {
                        (_, true) => (StatusCode::PAYMENT_REQUIRED, problem(402, "card-declined")),
                        (true, false) => (StatusCode::SERVICE_UNAVAILABLE, problem(503, "unavailable")),
                        (false, false) => (
                            StatusCode::CREATED,
                            json!({"id": "o", "status": "confirmed", "items": [], "total_cents": 2598}),
                        ),
                    };
                    (status, [(RETRY_AFTER, HeaderValue::from_static("0"))], body.to_string())
                }
            }),
        );
        let url = serve(app).await;
        let shop = Shop::connect(&url, Duration::from_secs(5), false)
            .await
            .expect("the catalog is read");
        let retries = AtomicU32::new(0);

        let bought = shop.checkout("t", "4242", "bought", &retries).await;
        let declined = shop.checkout("t", "4000", "declined", &retries).await;

        assert_eq!(bought, Ok(CheckoutOutcome::Confirmed { cents: 2598 }));
        assert_eq!(declined, Ok(CheckoutOutcome::Declined));
        assert_eq!(retries.load(Ordering::SeqCst), 1);
        let examples = shop.examples();
        assert!(examples.is_empty(), "{examples:?}");
    }

    fn problem(status: u16, slug: &str) -> Value {
        json!({"type": format!("urn:bazaar:problem:{slug}"), "title": "t", "status": status})
    }

    #[test]
    fn a_checkout_answer_is_an_outcome_an_error_or_worth_another_try() {
        use CheckoutOutcome::*;
        use ErrorKind::*;
        let order = |status: &str| json!({"id": "o", "status": status, "items": [], "total_cents": 2598, "currency": "USD"});
        let refused = |status, slug| answer(status, problem(status, slug), &[]);
        let retry = |error, seconds: Option<u64>| Verdict::Retry {
            error,
            after: seconds.map(Duration::from_secs),
        };
        let in_progress = &[("retry-after", "1")];
        let unavailable = &[("retry-after", "2")];
        let cases: Vec<(&str, Result<Answer, ErrorKind>, Verdict)> = vec![
            (
                "confirmed",
                answer(201, order("confirmed"), &[]),
                Verdict::Done(Ok(Confirmed { cents: 2598 })),
            ),
            (
                "accepted, confirmed later",
                answer(202, order("authorized"), &[]),
                Verdict::Done(Ok(Accepted { cents: 2598 })),
            ),
            (
                "201 that is not confirmed",
                answer(201, order("pending"), &[]),
                Verdict::Done(Err(InvalidResponse)),
            ),
            (
                "201 without a body",
                answer(201, json!(null), &[]),
                Verdict::Done(Err(InvalidResponse)),
            ),
            (
                "declined",
                refused(402, "card-declined"),
                Verdict::Done(Ok(Declined)),
            ),
            (
                "out of stock",
                refused(409, "insufficient-stock"),
                Verdict::Done(Ok(OutOfStock)),
            ),
            (
                "in progress",
                answer(409, problem(409, "request-in-progress"), in_progress),
                retry(Status(409), Some(1)),
            ),
            (
                "interrupted",
                refused(409, "checkout-interrupted"),
                Verdict::Done(Err(Status(409))),
            ),
            (
                "bad input",
                refused(422, "validation"),
                Verdict::Done(Err(Status(422))),
            ),
            (
                "unavailable",
                answer(503, problem(503, "service-unavailable"), unavailable),
                retry(Status(503), Some(2)),
            ),
            (
                "gateway timeout",
                answer(504, json!({}), &[]),
                retry(Status(504), None),
            ),
            (
                "a checkout waiting to be resumed",
                answer(
                    503,
                    json!({"type": "urn:bazaar:problem:payment-unavailable", "title": "t",
                           "status": 503, "order_id": "o", "resumable_until": "2030-01-01T00:00:00Z"}),
                    unavailable,
                ),
                retry(Status(503), Some(2)),
            ),
            (
                "orders' final 503: the order cancelled",
                answer(
                    503,
                    json!({"type": "urn:bazaar:problem:payment-unavailable", "title": "t",
                           "status": 503, "order_id": "o"}),
                    unavailable,
                ),
                Verdict::Done(Err(Status(503))),
            ),
            ("timeout", Err(Timeout), retry(Timeout, None)),
            ("connection", Err(Connection), retry(Connection, None)),
        ];
        for (case, attempt, want) in cases {
            assert_eq!(judge(attempt), want, "{case}");
        }
    }

    #[test]
    fn the_anonymous_carts_cookie_is_taken_from_set_cookie() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for v in values {
                map.append(SET_COOKIE, HeaderValue::from_str(v).unwrap());
            }
            map
        };
        assert_eq!(
            cart_cookie(&headers(&[
                "theme=dark; Path=/",
                "bazaar_cart=0123abcd; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000"
            ])),
            Some("bazaar_cart=0123abcd".to_owned())
        );
        assert_eq!(cart_cookie(&headers(&["bazaar_cart=; Max-Age=0"])), None);
        assert_eq!(cart_cookie(&headers(&[])), None);
    }

    #[test]
    fn search_words_are_distinct_lowercase_words_of_four_letters_or_more() {
        let words = search_words([
            "Walnut Desk Lamp",
            "Desk Organiser (oak)",
            "USB-C Hub 4-Port",
        ]);
        assert_eq!(words, ["desk", "lamp", "organiser", "port", "walnut"]);
    }

    #[test]
    fn card_expiry_is_in_the_future() {
        assert!(expiry_year() >= 2028, "{}", expiry_year());
    }
}
