//! Calls to the services the checkout orchestrates: the cart (as the signed-in user,
//! with their own token), inventory and payments (as the orders service, with a service
//! token from identity). Each answer is sorted into success, a definite refusal, or a
//! transient failure worth retrying.

use crate::domain::{Card, CartLine, Order, OrderId};
use platform::{
    auth::{ServiceCredentials, TokenError},
    client::ServiceClient,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{fmt, sync::Arc};

/// How many times the cart is read before a checkout gives up on it.
const CART_ATTEMPTS: u32 = 3;
/// The pause before the second read of the cart (tripled before the third).
const CART_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(150);

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// No answer, or one that says "try again": a connection failure, a timeout, 408,
    /// 429, 5xx, or a request still in progress at the other end. The call may or may
    /// not have taken effect, so only an idempotent call may be repeated.
    Transient(String),
    /// A definite refusal (4xx) with the problem document that came with it.
    Refused { status: u16, problem: Value },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transient(why) => f.write_str(why),
            CallError::Refused { status, problem } => {
                write!(f, "refused with {status}")?;
                if let Some(detail) = problem["detail"].as_str() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
        }
    }
}

/// The cart as the cart service shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct CartView {
    /// The lines, in the cart's order.
    pub items: Vec<CartLine>,
    /// The currency of every price in the cart.
    #[serde(default)]
    pub currency: String,
}

/// Who a call is made as.
#[derive(Clone, Copy)]
enum Caller<'a> {
    /// The signed-in user, with their own bearer token.
    User(&'a str),
    /// The signed-in user, with the anonymous cart their client still names (the value of
    /// its cart cookie), which the cart merges into theirs as it answers.
    UserWithCart(&'a str, &'a str),
    /// The orders service itself.
    Service,
}

/// The name of the cookie that names an anonymous cart: the cart service's
/// `cookie::NAME` (orders does not link the cart; a test holds the two together).
const CART_COOKIE: &str = "bazaar_cart";

/// The anonymous cart a request's `Cookie` headers name, if the value can be a cart id
/// (letters, digits, `-` and `_`, at most 64): only that cookie goes on to the cart, and
/// nothing that could not be a header value.
pub fn anonymous_cart(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CART_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|id| platform::domain::ChosenId::<64>::parse(id).is_ok())
        .map(str::to_owned)
}

/// The services orders calls. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    credentials: ServiceCredentials,
    cart: ServiceClient,
    inventory: ServiceClient,
    payments: ServiceClient,
}

impl Services {
    /// Calls to the replicas of cart, inventory and payments, calling as `credentials`.
    pub fn new(
        credentials: ServiceCredentials,
        cart: ServiceClient,
        inventory: ServiceClient,
        payments: ServiceClient,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                credentials,
                cart,
                inventory,
                payments,
            }),
        }
    }

    /// The signed-in user's cart (`GET /api/cart` with their token), with the anonymous
    /// cart their client names merged into it first: a shopper who fills a cart, signs in
    /// and checks out at once buys what they chose, as they would after looking at it.
    #[tracing::instrument(skip_all)]
    pub async fn cart(
        &self,
        user_token: &str,
        anonymous_cart: Option<&str>,
    ) -> Result<CartView, CallError> {
        let caller = match anonymous_cart {
            Some(cart) => Caller::UserWithCart(user_token, cart),
            None => Caller::User(user_token),
        };
        // A read changes nothing: a busy or restarting cart is asked again, briefly,
        // before the shopper is told to come back.
        let mut pause = CART_RETRY_PAUSE;
        let mut attempts = 1;
        let body = loop {
            let answer = self
                .call(
                    &self.inner.cart,
                    Method::GET,
                    "/api/cart",
                    caller,
                    None,
                    None,
                )
                .await;
            match answer {
                Err(CallError::Transient(why)) if attempts < CART_ATTEMPTS => {
                    tracing::debug!(%why, attempts, "the cart did not answer; asking again");
                    tokio::time::sleep(pause).await;
                    pause *= 3;
                    attempts += 1;
                }
                other => break other?,
            }
        };
        serde_json::from_value(body)
            .map_err(|e| CallError::Transient(format!("the cart's answer does not fit: {e}")))
    }

    /// Takes the order's lines out of its buyer's cart (`POST /api/cart/holds`, keyed by
    /// the order id: asking twice takes them once), so that no other checkout buys them
    /// again; the cart gives them back if the order is cancelled. 409 `cart-changed`
    /// when the cart no longer holds them.
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    pub async fn take_cart(&self, order: &Order) -> Result<(), CallError> {
        let items: Vec<Value> = order
            .lines
            .iter()
            .map(|l| json!({"product_id": l.product_id, "quantity": l.quantity}))
            .collect();
        let body = json!({
            "order_id": order.id.as_str(),
            "user_id": order.customer.id,
            "items": items,
        });
        self.call(
            &self.inner.cart,
            Method::POST,
            "/api/cart/holds",
            Caller::Service,
            None,
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Gives the lines a cancelled order took back to its buyer's cart
    /// (`POST /api/cart/holds/{id}/return`; the cart's copy of `order.cancelled` does the
    /// same later, and finds it done).
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    pub async fn give_back_cart(&self, order: &Order) -> Result<(), CallError> {
        let url = format!("/api/cart/holds/{}/return", order.id);
        self.call(
            &self.inner.cart,
            Method::POST,
            &url,
            Caller::Service,
            None,
            Some(&json!({"user_id": order.customer.id})),
        )
        .await
        .map(|_| ())
    }

    /// Holds the order's items (`POST /api/inventory/reservations`, the order id being
    /// the reservation id: asking twice holds them once).
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    pub async fn reserve(&self, order: &Order) -> Result<(), CallError> {
        let url = "/api/inventory/reservations";
        let items: Vec<Value> = order
            .lines
            .iter()
            .map(|l| json!({"product_id": l.product_id, "quantity": l.quantity}))
            .collect();
        let body = json!({"reservation_id": order.id.as_str(), "items": items});
        let answer = self
            .call(
                &self.inner.inventory,
                Method::POST,
                url,
                Caller::Service,
                None,
                Some(&body),
            )
            .await?;
        // The same id again returns the reservation as it is: one released meanwhile
        // holds nothing.
        match answer["status"].as_str() {
            Some("released") | Some("expired") => Err(CallError::Refused {
                status: StatusCode::CONFLICT.as_u16(),
                problem: json!({"detail": "the reservation was released already"}),
            }),
            _ => Ok(()),
        }
    }

    /// Takes the reserved units out of stock for good.
    #[tracing::instrument(skip_all, fields(order_id = %id))]
    pub async fn commit(&self, id: &OrderId) -> Result<(), CallError> {
        self.reservation_action(id, "commit").await
    }

    /// Gives the reserved units back; a reservation inventory never made is nothing to
    /// release.
    #[tracing::instrument(skip_all, fields(order_id = %id))]
    pub async fn release(&self, id: &OrderId) -> Result<(), CallError> {
        match self.reservation_action(id, "release").await {
            Err(CallError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }

    async fn reservation_action(&self, id: &OrderId, action: &str) -> Result<(), CallError> {
        let url = format!("/api/inventory/reservations/{id}/{action}");
        self.call(
            &self.inner.inventory,
            Method::POST,
            &url,
            Caller::Service,
            None,
            Some(&json!({})),
        )
        .await
        .map(|_| ())
    }

    /// Authorises the order's total on `card`; returns the authorisation's id. The key
    /// `order-<id>-authorize` makes a repeated call return the first one's answer.
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    pub async fn authorize(&self, order: &Order, card: &Card) -> Result<String, CallError> {
        let url = "/api/payments/authorizations";
        let body = json!({
            "order_id": order.id.as_str(),
            "user_id": order.customer.id,
            "amount_cents": order.total_cents,
            "currency": order.currency,
            "card": {
                "number": card.number(),
                "exp_month": card.exp_month(),
                "exp_year": card.exp_year(),
                "cvc": card.cvc(),
            }
        });
        let key = format!("order-{}-authorize", order.id);
        let answer = self
            .call(
                &self.inner.payments,
                Method::POST,
                url,
                Caller::Service,
                Some(&key),
                Some(&body),
            )
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CallError::Transient("payments' authorisation names no id".to_owned()))
    }

    /// Captures an authorisation (key `order-<id>-capture`).
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    pub async fn capture(&self, order: &Order, authorization_id: &str) -> Result<(), CallError> {
        self.authorization_action(order, authorization_id, "capture")
            .await
    }

    /// Voids an uncaptured authorisation (key `order-<id>-void`).
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    /// The ids of the order's authorisations still awaiting capture or void.
    pub async fn authorized_for(&self, order: &Order) -> Result<Vec<String>, CallError> {
        let url = format!("/api/payments/authorizations?order_id={}", order.id);
        let answer = self
            .call(
                &self.inner.payments,
                Method::GET,
                &url,
                Caller::Service,
                None,
                None,
            )
            .await?;
        Ok(answer["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["status"] == "authorized")
            .filter_map(|a| a["id"].as_str().map(str::to_owned))
            .collect())
    }

    pub async fn void(&self, order: &Order, authorization_id: &str) -> Result<(), CallError> {
        self.authorization_action(order, authorization_id, "void")
            .await
    }

    async fn authorization_action(
        &self,
        order: &Order,
        authorization_id: &str,
        action: &str,
    ) -> Result<(), CallError> {
        let url = format!("/api/payments/authorizations/{authorization_id}/{action}");
        let key = format!("order-{}-{action}", order.id);
        self.call(
            &self.inner.payments,
            Method::POST,
            &url,
            Caller::Service,
            Some(&key),
            Some(&json!({})),
        )
        .await
        .map(|_| ())
    }

    /// One call, made again once with a fresh service token if the first was refused as
    /// unauthenticated (the cached token may have been rotated out).
    async fn call(
        &self,
        service: &ServiceClient,
        method: Method,
        url: &str,
        caller: Caller<'_>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        // Errors name the URL, never the body (which may hold a card).
        let failed =
            |e: &dyn std::fmt::Display| CallError::Transient(format!("{method} {url}: {e}"));
        let cart_cookie = match caller {
            Caller::UserWithCart(_, cart) => Some(cart),
            Caller::User(_) | Caller::Service => None,
        };
        let send = |token: String| {
            let method = method.clone();
            async move {
                let build = |mut req: reqwest::RequestBuilder| {
                    req = req.bearer_auth(&token);
                    if let Some(cart) = cart_cookie {
                        req = req.header(reqwest::header::COOKIE, format!("{CART_COOKIE}={cart}"));
                    }
                    if let Some(key) = idempotency_key {
                        req = req.header("Idempotency-Key", key);
                    }
                    if let Some(body) = body {
                        req = req.json(body);
                    }
                    req
                };
                let sent = service.send(method, url, build).await;
                sent.map_err(|e| failed(&e))
            }
        };
        let res = match caller {
            Caller::User(token) | Caller::UserWithCart(token, _) => send(token.to_owned()).await?,
            Caller::Service => {
                let no_token = |e: TokenError| CallError::Transient(e.to_string());
                self.inner.credentials.send_as(send, no_token).await?
            }
        };
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| failed(&e))?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        Err(classify(status, answer, &method, url))
    }
}

/// A failed answer as transient or a refusal.
fn classify(status: StatusCode, answer: Value, method: &Method, url: &str) -> CallError {
    let in_progress = answer["type"].as_str() == Some("urn:bazaar:problem:request-in-progress");
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || in_progress
    {
        let detail = answer["detail"].as_str().unwrap_or("");
        CallError::Transient(format!("{method} {url} answered {status} {detail}"))
    } else {
        CallError::Refused {
            status: status.as_u16(),
            problem: answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A cart that answers 503 `failures` times, then an empty cart; and orders' view of it.
    async fn flaky_cart(failures: u32) -> (Services, Arc<AtomicU32>) {
        let asked = Arc::new(AtomicU32::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().route(
            "/api/cart",
            axum::routing::get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < failures {
                        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({}))).into_response()
                    } else {
                        axum::Json(json!({"items": [], "currency": "USD"})).into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let timeout = std::time::Duration::from_secs(5);
        let client = |name| ServiceClient::fixed(name, &url, timeout);
        let credentials =
            ServiceCredentials::new("orders", "http://127.0.0.1:9", Default::default());
        let services = Services::new(
            credentials,
            client("cart"),
            client("inventory"),
            client("payments"),
        );
        (services, asked)
    }

    #[test]
    fn only_the_anonymous_carts_cookie_goes_on_and_only_if_it_can_be_an_id() {
        use reqwest::header::{COOKIE, HeaderMap, HeaderValue};
        let of = |cookies: &[&str]| {
            let mut headers = HeaderMap::new();
            for c in cookies {
                headers.append(COOKIE, HeaderValue::from_str(c).unwrap());
            }
            anonymous_cart(&headers)
        };
        assert_eq!(CART_COOKIE, cart::cookie::NAME, "the cart's own cookie");
        assert_eq!(of(&[]), None);
        assert_eq!(
            of(&["session=abc; bazaar_cart=0b1e-7f_x"]).as_deref(),
            Some("0b1e-7f_x")
        );
        assert_eq!(of(&["a=1", "bazaar_cart=\"c-1\""]).as_deref(), Some("c-1"));
        assert_eq!(of(&["bazaar_cartx=c-1"]), None);
        for bad in ["bazaar_cart=", "bazaar_cart=a b", "bazaar_cart=a,b"] {
            assert_eq!(of(&[bad]), None, "{bad}");
        }
        assert_eq!(of(&[&format!("bazaar_cart={}", "a".repeat(65))]), None);
    }

    #[tokio::test]
    async fn a_cart_busy_for_a_moment_is_read_again() {
        let (services, asked) = flaky_cart(2).await;
        let cart = services
            .cart("token", None)
            .await
            .expect("the third read answers");
        assert!(cart.items.is_empty());
        assert_eq!(asked.load(Ordering::SeqCst), 3);

        let (services, asked) = flaky_cart(CART_ATTEMPTS).await;
        let e = services.cart("token", None).await.unwrap_err();
        assert!(matches!(e, CallError::Transient(_)), "{e:?}");
        assert_eq!(
            asked.load(Ordering::SeqCst),
            CART_ATTEMPTS,
            "then it gives up"
        );
    }

    #[test]
    fn answers_are_sorted_into_transient_and_refused() {
        let transient = [
            (500, json!(null)),
            (502, json!(null)),
            (503, json!({"type": "urn:bazaar:problem:processing-error"})),
            (408, json!(null)),
            (429, json!(null)),
            (
                409,
                json!({"type": "urn:bazaar:problem:request-in-progress"}),
            ),
        ];
        for (status, body) in transient {
            let e = classify(
                StatusCode::from_u16(status).unwrap(),
                body,
                &Method::POST,
                "http://x",
            );
            assert!(matches!(e, CallError::Transient(_)), "{status}: {e:?}");
        }
        for status in [400, 402, 404, 409, 422] {
            let e = classify(
                StatusCode::from_u16(status).unwrap(),
                json!({"detail": "no"}),
                &Method::POST,
                "http://x",
            );
            assert!(
                matches!(e, CallError::Refused { status: s, .. } if s == status),
                "{status}: {e:?}"
            );
            assert!(e.to_string().contains("no"));
        }
    }
}
