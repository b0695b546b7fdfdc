//! Orders' HTTP API under `/api/orders`: checkout, and a user's orders. Handlers, their
//! request and response bodies, and the OpenAPI document they make up.

use crate::{
    clients::Services,
    domain::{
        AddressText, Answer, BasketError, Card, Checkout, CountryCode, Customer, IdempotencyKey,
        Invalid, Order, OrderId, Page, ShippingAddress,
    },
    error::{IDEMPOTENCY_KEY, OrdersError},
    saga::Saga,
    store::Store,
    view::{CheckoutProblem, OrderPage, OrderView},
};
use axum::{
    extract::{FromRef, Path, State},
    http::{HeaderMap, header},
};
use events::now_rfc3339;
use platform::openapi::{BearerAuth, SignedIn};
use platform::{
    Problem,
    auth::{User, Verifier},
    domain::card::{CardNumber, Cvc, Expiry, ExpiryError},
    extract::{Json, Query},
    failure::Fields,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub saga: Saga,
    pub services: Services,
    pub verifier: Verifier,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar orders",
        description = "Orders and checkout. A checkout turns the signed-in user's cart into \
            an order through a saga: stock is reserved (inventory), the payment authorised \
            (payments), then the reservation committed and the payment captured. A checkout \
            that fails is undone (payment voided, stock released) and its order cancelled; \
            nothing is charged. Every checkout carries an `Idempotency-Key`: the same key \
            with the same body always gets the first answer, and never a second order or \
            charge. The card is used for the payment only and never stored. Events: \
            `bazaar.orders.order.placed.v1`, `bazaar.orders.order.confirmed.v1`, \
            `bazaar.orders.order.cancelled.v1`. Errors are RFC 9457 problem documents \
            (`application/problem+json`); validation problems list each bad field in \
            `errors`, the body as a whole being named `body`."
    ),
    tags(
        (name = "checkout", description = "Turning the cart into a paid order."),
        (name = "orders", description = "The signed-in user's orders.")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Orders' routes and their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(checkout))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .with_state(state)
}

/// A checkout: how to pay and where to ship. What is bought is the user's cart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The card to pay with.
    pub payment: PaymentRequest,
    /// Where to ship the order.
    pub shipping_address: AddressRequest,
    /// The cart's total the shopper was shown and agreed to, in minor units. When given,
    /// a cart that now totals otherwise (a price changed since) is refused with 409
    /// `urn:bazaar:problem:price-changed`, before anything is reserved or charged. Without
    /// it, the cart's prices at the moment of the checkout are charged.
    #[serde(default)]
    #[schema(example = 2598, minimum = 0)]
    pub expected_total_cents: Option<i64>,
}

/// The card to pay with. Used for this checkout's payment only; never stored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// 12 to 19 digits (spaces allowed). Test cards: `4242424242424242` succeeds,
    /// `4000000000000002` is declined, `4000000000009995` is declined for insufficient
    /// funds, `4000000000000119` fails transiently.
    #[schema(example = "4242424242424242")]
    pub card_number: String,
    /// 1 to 12 (checked by payments).
    #[schema(example = 12)]
    pub exp_month: i64,
    /// Four digits, not in the past (checked by payments).
    #[schema(example = 2030)]
    pub exp_year: i64,
    /// 3 or 4 digits (checked by payments).
    #[schema(example = "123")]
    pub cvc: String,
}

impl std::fmt::Debug for PaymentRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaymentRequest { .. }")
    }
}

/// Where to ship. Each line 1 to 200 characters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    /// Who receives the parcel.
    #[schema(example = "Sam Shopper", max_length = 200)]
    pub name: String,
    /// Street and number.
    #[schema(example = "1 Market Street", max_length = 200)]
    pub line1: String,
    #[schema(example = "Springfield", max_length = 200)]
    pub city: String,
    #[schema(example = "12345", max_length = 200)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 (`DE`, `us`).
    #[schema(example = "US", min_length = 2, max_length = 2)]
    pub country: String,
}

impl CheckoutRequest {
    /// The request as domain values, and the total the shopper was shown; every bad field
    /// is reported at once.
    fn parse(self) -> Result<(Checkout, Option<i64>), OrdersError> {
        let mut fields = Fields::new();
        if self.expected_total_cents.is_some_and(|t| t < 0) {
            fields.refuse("expected_total_cents", "must not be negative");
        }
        let a = self.shipping_address;
        let mut text = |name: &str, raw: &str| {
            fields.take(format!("shipping_address.{name}"), AddressText::parse(raw))
        };
        let name = text("name", &a.name);
        let line1 = text("line1", &a.line1);
        let city = text("city", &a.city);
        let postal_code = text("postal_code", &a.postal_code);
        let country = fields.take("shipping_address.country", CountryCode::parse(&a.country));
        // The card is checked as payments will check it: a mistyped one is refused here,
        // before an order exists, rather than becoming a cancelled order.
        let p = self.payment;
        let number = fields.take("payment.card_number", CardNumber::parse(&p.card_number));
        let expiry = match Expiry::parse(p.exp_month, p.exp_year, Expiry::this_month()) {
            Ok(expiry) => Some(expiry),
            Err(refused) => {
                for why in refused {
                    match why {
                        ExpiryError::Month(Invalid(m)) => fields.refuse("payment.exp_month", m),
                        ExpiryError::Year(Invalid(m)) => fields.refuse("payment.exp_year", m),
                    }
                }
                None
            }
        };
        let cvc = p.cvc.trim();
        let brand = number.as_ref().map(CardNumber::brand);
        let cvc = fields
            .take("payment.cvc", Cvc::parse(cvc, brand))
            .map(|_| cvc.to_owned());
        match (name, line1, city, postal_code, country, number, expiry, cvc) {
            (
                Some(name),
                Some(line1),
                Some(city),
                Some(postal_code),
                Some(country),
                Some(number),
                Some(expiry),
                Some(cvc),
            ) if fields.is_empty() => Ok((
                Checkout {
                    address: ShippingAddress {
                        name,
                        line1,
                        city,
                        postal_code,
                        country,
                    },
                    card: Card::new(
                        number.digits().to_owned(),
                        i64::from(expiry.month),
                        i64::from(expiry.year),
                        cvc,
                    ),
                },
                self.expected_total_cents,
            )),
            _ => Err(OrdersError::Invalid(fields.into_errors())),
        }
    }
}

/// Which page of orders to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersParams {
    /// The page, from 1. Default 1.
    #[param(minimum = 1, maximum = 4_294_967_295_u64)]
    page: Option<u32>,
    /// Orders per page, 1 to 100. Default 20.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

impl ListOrdersParams {
    fn parse(self) -> Result<Page, OrdersError> {
        Page::new(
            self.page.unwrap_or(1),
            self.per_page.unwrap_or(Page::DEFAULT_PER_PAGE),
        )
        .map_err(|(name, e)| OrdersError::invalid(name, e.to_string()))
    }
}

/// The `Idempotency-Key` header, parsed; 400 naming it when missing or malformed.
fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, OrdersError> {
    let bad = |e: Invalid| OrdersError::BadHeader {
        header: IDEMPOTENCY_KEY,
        message: e.to_string(),
    };
    // Two keys: which one the client meant cannot be told, and a proxy may have merged two
    // requests' headers.
    if headers.get_all(IDEMPOTENCY_KEY).iter().nth(1).is_some() {
        return Err(bad(Invalid("must be sent once".into())));
    }
    let raw = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            bad(Invalid(
                "may contain only printable ASCII characters".into(),
            ))
        })?),
    };
    IdempotencyKey::parse(raw).map_err(bad)
}

/// The request's own bearer token (already verified by the `User` extractor), to read
/// the user's cart as the user.
fn bearer(headers: &HeaderMap) -> Result<&str, OrdersError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(OrdersError::NotACustomer)
}

/// Checks out the signed-in user's cart: reserves the stock, takes the payment, and
/// answers with the confirmed order. The card is used for this payment only. A failed
/// checkout cancels its order and charges nothing. The same `Idempotency-Key` with the
/// same body gets the first request's answer (waiting up to ~15 s while the first is
/// still running), or carries on a checkout that inventory or payments being unavailable
/// stopped (a 503 with `resumable_until`); with a different body it is refused.
#[utoipa::path(
    post,
    path = "/api/orders/checkout",
    tag = "checkout",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[ -~]+$", description = "A unique key per checkout (1 to 255 printable ASCII characters), e.g. a UUID. Sending the same request again with it returns the first answer.")),
    request_body(content = CheckoutRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The order is confirmed: stock taken, payment captured", body = OrderView,
            headers(("Location" = String, description = "The order's URL"))),
        (status = 202, description = "The payment is authorised but the last step could not be finished yet; the order will be confirmed shortly (poll its URL), unless its stock hold runs out first (inventory unreachable past the reservation's lifetime, 15 min by default): it is then cancelled `expired` and the payment voided", body = OrderView,
            headers(("Location" = String, description = "The order's URL"))),
        (status = 400, description = "The `Idempotency-Key` header is missing or malformed (named in `errors`), or the body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        SignedIn,
        (status = 402, description = "The card was declined (`urn:bazaar:problem:card-declined`, with `decline_code`); the order was cancelled", body = CheckoutProblem, content_type = "application/problem+json"),
        (status = 403, description = "The token is not a customer's (a service token)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stock is short (`urn:bazaar:problem:insufficient-stock`, the cart lines named in `errors`; the order was cancelled), the checkout with this key is still running (`urn:bazaar:problem:request-in-progress`), it was interrupted (`urn:bazaar:problem:checkout-interrupted`), its reservation expired (`urn:bazaar:problem:reservation-expired`), the cart's total is not the `expected_total_cents` sent, a price having changed since it was shown (`urn:bazaar:problem:price-changed`, naming `expected_total_cents`; no order was placed, nothing reserved or charged), the cart no longer held what the checkout read, as when another checkout of it went through first (`urn:bazaar:problem:cart-changed`; the order was cancelled, nothing charged), or the cart is empty because another checkout holds its lines while it waits for a retry with its own key (`urn:bazaar:problem:checkout-waiting-for-retry`, which names it and until when)", body = CheckoutProblem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid (named in `errors`: `shipping_address.city`, `payment.card_number`, …), payments found the card invalid (the order was cancelled), the cart is empty or its total is more than one order may be, 100000000 in minor units (`cart`), or it holds a product no longer sold (`cart.items[i].product_id`), or the key was used with another body (`urn:bazaar:problem:idempotency-key-reused`, naming the `order_id` it placed and its `order_status`)", body = CheckoutProblem, content_type = "application/problem+json"),
        (status = 503, description = "The payment kept failing (`urn:bazaar:problem:payment-unavailable`), or inventory (`urn:bazaar:problem:inventory-unavailable`) or the cart (`urn:bazaar:problem:cart-unavailable`) could not be reached, nothing charged. With `resumable_until` the order waits until then: send the same request with the same key to carry it on. With `order_id` and without `resumable_until` the order was cancelled: retry with a new key. Or the cart could not be read (no order was placed). A 502, 503 or 504 of the gateway's (`urn:bazaar:problem:unavailable`, `bad-gateway`, `gateway-timeout`: no `order_id`) says nothing of the order, which may have been placed: send the same request with the same key again", body = CheckoutProblem, content_type = "application/problem+json")
    )
)]
// Not instrumented: the saga's task carries the span current here (`Saga::drive`), and
// a function's span the logs do not show would take the request's id out of the saga's
// log lines (the request's own span is the one to carry).
async fn checkout(
    State(app): State<AppState>,
    User(claims): User,
    headers: HeaderMap,
    Json(body): Json<CheckoutRequest>,
) -> Result<Answer, OrdersError> {
    let key = idempotency_key(&headers)?;
    let (checkout, shown_total) = body.parse()?;
    let fingerprint = checkout.fingerprint();
    let customer = Customer {
        id: claims.sub.clone(),
        email: claims.email.clone(),
        name: claims.name.clone(),
    };
    if let Some(existing) = app.store.find_by_key(&customer.id, key.as_str()).await? {
        return app.saga.replay(existing, &fingerprint, checkout.card).await;
    }

    let cart = app
        .services
        .cart(
            bearer(&headers)?,
            crate::clients::anonymous_cart(&headers).as_deref(),
        )
        .await
        .map_err(|e| OrdersError::Unavailable {
            service: "cart",
            cause: e.to_string(),
        })?;
    let basket = match crate::domain::Basket::from_cart(cart.items, &cart.currency) {
        Ok(basket) => basket,
        Err(e) => {
            // A first request with this key may have finished meanwhile and emptied the
            // cart: then this one gets its answer.
            if let Some(existing) = app.store.find_by_key(&customer.id, key.as_str()).await? {
                return app.saga.replay(existing, &fingerprint, checkout.card).await;
            }
            // Empty because another checkout holds its lines while it waits for a retry:
            // say so, rather than that there is nothing to buy.
            if matches!(e, BasketError::Empty)
                && let Some((order, until)) = app.store.waiting_for_retry(&customer.id).await?
            {
                return Err(OrdersError::AwaitingRetry { order, until });
            }
            return Err(match e {
                BasketError::Empty => OrdersError::EmptyCart,
                BasketError::Line { field, message } => OrdersError::invalid(field, message),
            });
        }
    };

    basket.agrees_with(shown_total)?;

    let order = Order::place(
        OrderId::new(),
        customer,
        &key,
        &checkout,
        basket,
        now_rfc3339(),
    );
    let claim = app.saga.claim(&order.id).ok_or(OrdersError::InProgress)?;
    if !app.saga.place(&order).await? {
        // Another request with this key placed its order first: answer from it.
        drop(claim);
        let existing = app
            .store
            .find_by_key(&order.customer.id, key.as_str())
            .await?
            .ok_or(OrdersError::InProgress)?;
        return app.saga.replay(existing, &fingerprint, checkout.card).await;
    }
    tracing::info!(order_id = %order.id, user_id = %order.customer.id, total_cents = order.total_cents, lines = order.lines.len(), "order placed");
    app.saga.checkout_placed(claim, order, checkout.card).await
}

/// Lists the signed-in user's orders, newest first, in every state.
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(ListOrdersParams),
    responses(
        (status = 200, description = "One page of the user's orders and how many there are", body = OrderPage),
        SignedIn,
        (status = 422, description = "`page` or `per_page` is out of range (named in `errors`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %claims.sub))]
async fn list_orders(
    State(app): State<AppState>,
    User(claims): User,
    Query(params): Query<ListOrdersParams>,
) -> Result<Json<OrderPage>, OrdersError> {
    let page = params.parse()?;
    let (orders, total) = app.store.list_for_user(&claims.sub, page).await?;
    Ok(Json(OrderPage {
        items: orders.iter().map(OrderView::from).collect(),
        total,
        page: page.page(),
        per_page: page.per_page(),
    }))
}

/// Gets one of the signed-in user's orders. Another user's order is not found.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        SignedIn,
        (status = 404, description = "The user has no such order", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %claims.sub, order_id = %id))]
async fn get_order(
    State(app): State<AppState>,
    User(claims): User,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, OrdersError> {
    let order_id = OrderId::parse(&id).ok_or_else(|| OrdersError::NotFound(id.clone()))?;
    app.store
        .get_for_user(&order_id, &claims.sub)
        .await?
        .map(|o| Json(OrderView::from(&o)))
        .ok_or(OrdersError::NotFound(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use platform::testing::refused_fields;
    use serde_json::json;

    fn body(value: serde_json::Value) -> CheckoutRequest {
        serde_json::from_value(value).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({
            "payment": {"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            "shipping_address": {"name": "Sam", "line1": "1 Main St", "city": "Springfield",
                "postal_code": "12345", "country": "us"}
        })
    }

    #[test]
    fn a_good_request_becomes_a_checkout() {
        let (c, shown) = body(good()).parse().unwrap();
        assert_eq!(c.address.country.as_str(), "US");
        assert_eq!(c.card.number(), "4242424242424242");
        assert_eq!(shown, None, "the total shown is optional");
        let mut v = good();
        v["expected_total_cents"] = json!(2598);
        assert_eq!(body(v).parse().unwrap().1, Some(2598));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let mut v = good();
        v["shipping_address"]["name"] = json!(" ");
        v["shipping_address"]["city"] = json!("x".repeat(201));
        v["shipping_address"]["country"] = json!("USA");
        v["payment"]["card_number"] = json!("");
        v["payment"]["cvc"] = json!("");
        v["expected_total_cents"] = json!(-1);
        assert_eq!(
            refused_fields(body(v).parse().unwrap_err()),
            [
                "expected_total_cents",
                "shipping_address.name",
                "shipping_address.city",
                "shipping_address.country",
                "payment.card_number",
                "payment.cvc"
            ]
        );
    }

    #[test]
    fn the_key_header_is_required_and_bounded() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            idempotency_key(&h),
            Err(OrdersError::BadHeader {
                header: IDEMPOTENCY_KEY,
                ..
            })
        ));
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k-1"));
        assert_eq!(idempotency_key(&h).unwrap().as_str(), "k-1");
        h.insert(
            IDEMPOTENCY_KEY,
            HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        );
        assert!(idempotency_key(&h).is_err());
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_bytes(b"\xff").unwrap());
        assert!(idempotency_key(&h).is_err());
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k-1"));
        h.append(IDEMPOTENCY_KEY, HeaderValue::from_static("k-2"));
        let Err(OrdersError::BadHeader { message, .. }) = idempotency_key(&h) else {
            panic!("two keys were taken");
        };
        assert_eq!(message, "must be sent once");
    }

    #[test]
    fn pages_default_and_are_bounded() {
        let p = ListOrdersParams::default().parse().unwrap();
        assert_eq!((p.page(), p.per_page()), (1, 20));
        let bad = ListOrdersParams {
            per_page: Some(101),
            ..Default::default()
        };
        assert_eq!(refused_fields(bad.parse().unwrap_err()), ["per_page"]);
    }

    #[test]
    fn the_payment_never_prints() {
        let p: PaymentRequest = serde_json::from_value(good()["payment"].clone()).unwrap();
        assert!(!format!("{p:?}").contains("4242"));
    }
}

/// Property tests of what the listing's query string and the checkout's key header give,
/// read as the handlers read them.
#[cfg(test)]
mod properties {
    use super::*;
    use axum::http::HeaderValue;
    use platform::testing::strategies::query_params;
    use proptest::prelude::*;

    /// The page a listing request with this query string gets, or the fields named in the
    /// 422 (any other refusal as its description).
    fn listing(query: &str) -> Result<Page, Vec<String>> {
        let params = query_params::<ListOrdersParams>(query)?;
        params.parse().map_err(|e| match e {
            OrdersError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("{other:?}")],
        })
    }

    proptest! {
        #[test]
        fn every_page_from_one_and_page_size_from_one_to_100_is_a_listing(
            page in prop_oneof![-2..=2i64, 4_294_967_294..=4_294_967_297i64, any::<i64>()],
            per_page in prop_oneof![-2..=2i64, 98..=102i64, any::<i64>()],
        ) {
            let got = listing(&format!("page={page}&per_page={per_page}"));
            let in_u32 = |n: i64| u32::try_from(n).is_ok();
            if page >= 1 && in_u32(page) && (1..=100).contains(&per_page) {
                let p = got.map_err(|fields| TestCaseError::fail(format!("{fields:?}")))?;
                prop_assert_eq!((i64::from(p.page()), i64::from(p.per_page())), (page, per_page));
                prop_assert_eq!(p.offset(), (page - 1) * per_page);
            } else {
                // A number no `u32` holds stops the extractor, which names it; past that,
                // the page is checked before the page size.
                let named = if !in_u32(page) {
                    "page"
                } else if !in_u32(per_page) {
                    "per_page"
                } else if page == 0 {
                    "page"
                } else {
                    "per_page"
                };
                prop_assert_eq!(got.err(), Some(vec![named.to_owned()]));
            }
        }

        #[test]
        fn any_query_string_is_a_listing_or_a_refusal_naming_a_parameter(
            query in "((page|per_page|other)=[A-Za-z0-9%+._-]{0,6}&?){0,4}",
        ) {
            if let Err(fields) = listing(&query) {
                prop_assert_eq!(fields.len(), 1, "{:?} refused with {:?}", query, fields);
                prop_assert!(
                    fields[0] == "page" || fields[0] == "per_page",
                    "{:?} refused naming {:?}",
                    query,
                    fields
                );
            }
        }

        #[test]
        fn any_key_header_is_the_key_or_a_refusal_naming_the_header(
            // What HTTP lets a header carry: no line breaks nor other controls but tab.
            raw in prop_oneof![
                "[ -~]{0,300}".prop_map(String::into_bytes),
                prop::collection::vec(
                    prop_oneof![8 => 0x20..=0x7eu8, 1 => 0x80..=0xffu8, 1 => Just(b'\t')],
                    0..100,
                ),
            ],
        ) {
            let mut headers = HeaderMap::new();
            let value = HeaderValue::from_bytes(&raw)
                .map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
            headers.insert(IDEMPOTENCY_KEY, value);
            let printable = raw.iter().all(|b| (0x20..0x7f).contains(b));
            match idempotency_key(&headers) {
                Ok(key) => {
                    prop_assert!(printable && (1..=255).contains(&raw.len()), "{:?}", raw);
                    prop_assert_eq!(key.as_str().as_bytes(), &raw[..]);
                }
                Err(OrdersError::BadHeader { header, message }) => {
                    prop_assert_eq!(header, IDEMPOTENCY_KEY);
                    prop_assert!(!message.is_empty());
                    prop_assert!(
                        !printable || !(1..=255).contains(&raw.len()),
                        "{:?} refused: {}",
                        raw,
                        message
                    );
                }
                Err(other) => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
