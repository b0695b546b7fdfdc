//! The cart's HTTP API under `/api/cart`: whose cart a request is about (token or
//! cookie, merging at sign-in), the handlers, their bodies, and the OpenAPI document.

use crate::{
    cookie::{CartCookie, CookiePolicy},
    domain::{AnonymousId, Cart, Invalid, MAX_LINES, Owner, ProductId, Quantity},
    error::CartError,
    store::{self, Store},
};
use axum::{
    extract::{FromRef, FromRequestParts, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use platform::{
    Failure, Problem,
    auth::{CalledBy, Claims, MaybeUser, Verifier, callers::Orders},
    extract::Json,
    failure::Fields,
    openapi::{KeysUnavailable, ServiceOnly},
};
use serde::Deserialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub verifier: Verifier,
    pub cookies: CookiePolicy,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar cart",
        description = "Shopping carts. A request with a bearer token is about the signed-in \
            user's cart (an invalid token is refused with 401); one without is about the \
            anonymous cart named by the `bazaar_cart` cookie, which the first change creates \
            and sets (`HttpOnly; SameSite=Lax; Path=/; Max-Age` of 30 days, renewed at each \
            change). A signed-in request that still carries the cookie merges that cart into \
            the user's (quantities added, at most 99 a line; lines past the 50th dropped) and \
            expires the cookie (`Max-Age=0`). A malformed or unknown cookie counts as no cart. \
            Lines show the product as the catalog has it now (the cart follows the catalog's \
            events, so a product the catalog has just created or changed shows a moment \
            later); a deleted product's line stays, `available: false`, counting for nothing. \
            A line holds 1 to 99 units; a cart at most 50 lines. A checkout takes what it buys \
            out of the buyer's cart at once; if the order is cancelled, the lines come back. \
            Errors are RFC 9457 problem documents \
            (`application/problem+json`); validation problems list each bad field in \
            `errors`, the body as a whole being named `body`."
    ),
    tags(
        (name = "cart", description = "The caller's cart: the signed-in user's, or the \
            anonymous one of the `bazaar_cart` cookie."),
        (name = "checkout", description = "The checkout saga's hold on a cart's lines \
            (Bazaar's orders service only; the gateway does not route it)."),
        (name = "events", description = "Operators' view of the events the cart could not \
            apply (administrators only).")
    ),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        platform::openapi::add_bearer(components);
        components.add_security_scheme(
            "cart_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::cookie::NAME,
                "An anonymous cart's id (32 hex digits), set by the cart itself",
            ))),
        );
    }
}

/// The cart's routes and their OpenAPI document. The dead-letter routes are served by
/// `events::admin::routes`.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item, remove_item))
        .routes(routes!(take_for_order))
        .routes(routes!(give_back_for_order))
        .with_state(state)
}

/// A product to put in the cart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemRequest {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub product_id: String,
    /// Units to add, 1 to 99 (default 1); added to the line if the cart has the product
    /// already, which may then hold at most 99.
    #[schema(example = 2, minimum = 1, maximum = 99)]
    #[serde(default)]
    pub quantity: Option<i64>,
}

impl AddItemRequest {
    fn parse(self) -> Result<(ProductId, Quantity), CartError> {
        let mut fields = Fields::new();
        let id = fields.take("product_id", ProductId::parse(&self.product_id));
        let quantity = fields.take("quantity", Quantity::new(self.quantity.unwrap_or(1)));
        match (id, quantity) {
            (Some(id), Some(quantity)) => Ok((id, quantity)),
            _ => Err(Failure::from(fields).into()),
        }
    }
}

/// A line's new quantity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantityRequest {
    /// Units the line holds from now on, 1 to 99 (remove a line with `DELETE`).
    #[schema(example = 3, minimum = 1, maximum = 99)]
    pub quantity: i64,
}

impl SetQuantityRequest {
    fn parse(self) -> Result<Quantity, CartError> {
        Ok(Failure::field("quantity", Quantity::new(self.quantity))?)
    }
}

/// An id in a path that cannot be a product's names no line of the cart.
fn line_id(raw: &str) -> Result<ProductId, CartError> {
    ProductId::parse(raw).map_err(|_| CartError::LineNotFound(raw.to_owned()))
}

platform::problem_responses! {
    /// `401`: a bearer token was sent but is invalid or expired (a request without one is
    /// about the cookie's cart).
    BadToken {
        "401" => "The bearer token is invalid or expired",
        "403" => "A service's token, which acts for no person",
    }
}

platform::problem_responses! {
    /// `404`: the cart holds no line for the product in the path.
    NoSuchLine { "404" => "The cart holds no such product (or there is no cart)" }
}

/// Whether a request may create a cart that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    Yes,
    No,
}

/// Whose cart a request is about, and what its response tells the browser of the cookie.
struct Session {
    /// `None`: an anonymous visitor without a cart.
    owner: Option<Owner>,
    /// Sent whatever the outcome: the cookie of a cart merged into the user's, expired.
    expire: Option<HeaderValue>,
    /// The anonymous cart whose cookie is (re)issued when a change succeeds.
    anonymous: Option<AnonymousId>,
}

impl Session {
    /// A signed-in user's cart, with the request's anonymous cart merged into it first;
    /// else the cookie's cart, if it exists, or a new one when `create` says so.
    async fn open(
        state: &AppState,
        user: Option<Claims>,
        headers: &HeaderMap,
        create: Create,
    ) -> Result<Self, CartError> {
        let cookie = CartCookie::from_headers(headers);
        if let Some(claims) = user {
            let owner = Owner::user(&claims.sub);
            if let CartCookie::Present(id) = &cookie {
                let merged = state
                    .store
                    .merge(&Owner::Anonymous(id.clone()), &owner)
                    .await?;
                if merged.moved + merged.dropped > 0 {
                    tracing::info!(
                        user = %claims.sub,
                        moved = merged.moved,
                        dropped = merged.dropped,
                        "anonymous cart merged at sign-in"
                    );
                }
            }
            return Ok(Session {
                owner: Some(owner),
                expire: cookie.is_sent().then(|| state.cookies.expire()),
                anonymous: None,
            });
        }
        let existing = match cookie {
            CartCookie::Present(id) => {
                let owner = Owner::Anonymous(id.clone());
                state.store.exists(&owner).await?.then_some(id)
            }
            CartCookie::Absent | CartCookie::Malformed => None,
        };
        // An id the cart never issued, or whose cart was purged, is not taken over: a
        // new cart gets a new id.
        let anonymous = match (existing, create) {
            (Some(id), _) => Some(id),
            (None, Create::Yes) => Some(AnonymousId::generate()),
            (None, Create::No) => None,
        };
        Ok(Session {
            owner: anonymous.clone().map(Owner::Anonymous),
            expire: None,
            anonymous,
        })
    }

    /// The answer to a request: after a change (`changed`), an anonymous cart's cookie is
    /// (re)issued if it succeeded.
    fn reply(self, result: Result<Cart, CartError>, changed: bool, state: &AppState) -> Reply {
        let set_cookie = match (self.expire, self.anonymous) {
            (Some(expire), _) => Some(expire),
            (None, Some(id)) if changed && result.is_ok() => Some(state.cookies.issue(&id)),
            _ => None,
        };
        Reply { set_cookie, result }
    }
}

/// A request about the caller's cart: the signed-in user (a present but invalid token is
/// refused before anything else) and the headers that may carry the cart's cookie.
struct CartCall {
    state: AppState,
    user: Option<Claims>,
    headers: HeaderMap,
}

impl FromRequestParts<AppState> for CartCall {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await?;
        Ok(CartCall {
            state: state.clone(),
            user,
            headers: parts.headers.clone(),
        })
    }
}

impl CartCall {
    /// Applies `op` to the caller's cart, changing nothing; a caller without a cart sees an
    /// empty one.
    async fn read(self, op: impl AsyncFnOnce(&Store, &Owner) -> CartResult) -> ReplyResult {
        let empty = Ok(Cart::empty(self.state.store.currency()));
        self.on_cart(Create::No, false, empty, op).await
    }

    /// Applies the change `op` to the caller's cart, created first if `create` says so; a
    /// caller without a cart has an empty one. Success (re)issues an anonymous cart's cookie.
    async fn change(
        self,
        create: Create,
        op: impl AsyncFnOnce(&Store, &Owner) -> CartResult,
    ) -> ReplyResult {
        let empty = Ok(Cart::empty(self.state.store.currency()));
        self.on_cart(create, true, empty, op).await
    }

    /// Applies the change `op` to the caller's line of `product`; a caller without a cart
    /// has no such line (404).
    async fn change_line(
        self,
        product: &ProductId,
        op: impl AsyncFnOnce(&Store, &Owner) -> CartResult,
    ) -> ReplyResult {
        let without = Err(CartError::LineNotFound(product.to_string()));
        self.on_cart(Create::No, true, without, op).await
    }

    /// Opens the caller's session and applies `op` to its cart; a caller without a cart
    /// gets `without`. A change (`changes`) (re)issues an anonymous cart's cookie when it
    /// succeeds.
    async fn on_cart(
        self,
        create: Create,
        changes: bool,
        without: CartResult,
        op: impl AsyncFnOnce(&Store, &Owner) -> CartResult,
    ) -> ReplyResult {
        let state = &self.state;
        let session = Session::open(state, self.user, &self.headers, create).await?;
        let result = match &session.owner {
            Some(owner) => op(&state.store, owner).await,
            None => without,
        };
        Ok(session.reply(result, changes, state))
    }
}

/// A cart, or why not.
type CartResult = Result<Cart, CartError>;

/// A handler's answer: a [`Reply`], or a bare [`CartError`] for a request refused before
/// its session opened.
type ReplyResult = Result<Reply, CartError>;

/// A cart, or the problem, with the cookie the browser should keep. (A request refused
/// before its session opened is a bare [`CartError`]: it touched no cart and sets no
/// cookie.)
pub struct Reply {
    set_cookie: Option<HeaderValue>,
    result: Result<Cart, CartError>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut res = match self.result {
            Ok(cart) => Json(cart).into_response(),
            Err(e) => e.into_response(),
        };
        if let Some(cookie) = self.set_cookie {
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
        // The body depends on the cookie and token: no shared cache may keep it.
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        res
    }
}

/// Shows the caller's cart (empty when an anonymous caller has none yet).
#[utoipa::path(
    get,
    path = "/api/cart",
    tag = "cart",
    security((), ("bearer" = []), ("cart_cookie" = [])),
    responses(
        (status = 200, description = "The caller's cart", body = Cart,
            headers(("Set-Cookie" = String, description = "`bazaar_cart=; …; Max-Age=0` after a sign-in merge"))),
        BadToken,
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all)]
async fn get_cart(call: CartCall) -> ReplyResult {
    call.read(async |store, owner| store.cart(owner).await)
        .await
}

/// Empties the caller's cart.
#[utoipa::path(
    delete,
    path = "/api/cart",
    tag = "cart",
    security((), ("bearer" = []), ("cart_cookie" = [])),
    responses(
        (status = 200, description = "The cart, now empty", body = Cart,
            headers(("Set-Cookie" = String, description = "The anonymous cart's cookie, renewed; or expired after a sign-in merge"))),
        BadToken,
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all)]
async fn clear_cart(call: CartCall) -> ReplyResult {
    call.change(Create::No, async |store, owner| store.clear(owner).await)
        .await
}

/// Puts a product in the caller's cart, or more of it; creates the cart (and, for an
/// anonymous caller, sets its cookie) if there is none yet.
#[utoipa::path(
    post,
    path = "/api/cart/items",
    tag = "cart",
    security((), ("bearer" = []), ("cart_cookie" = [])),
    request_body(content = AddItemRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The cart after the change", body = Cart,
            headers(("Set-Cookie" = String, description = "`bazaar_cart=<id>; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000` for an anonymous cart; expired after a sign-in merge"))),
        BadToken,
        (status = 422, description = "`product_id` is missing, malformed, unknown, deleted or priced in another currency, or the cart holds 50 lines already; `quantity` is not an integer from 1 to 99, or would bring the line past 99 (each named in `errors`)", body = Problem, content_type = "application/problem+json"),
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all)]
async fn add_item(call: CartCall, Json(body): Json<AddItemRequest>) -> ReplyResult {
    let (product, quantity) = body.parse()?;
    call.change(Create::Yes, async |store, owner| {
        store.add(owner, &product, quantity).await
    })
    .await
}

/// Sets how many units of a product the caller's cart holds.
#[utoipa::path(
    patch,
    path = "/api/cart/items/{product_id}",
    tag = "cart",
    security((), ("bearer" = []), ("cart_cookie" = [])),
    params(("product_id" = String, Path, description = "The product's id, as the catalog gave it")),
    request_body(content = SetQuantityRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The cart after the change", body = Cart,
            headers(("Set-Cookie" = String, description = "The anonymous cart's cookie, renewed; or expired after a sign-in merge"))),
        BadToken,
        NoSuchLine,
        (status = 422, description = "`quantity` is missing or not an integer from 1 to 99, or the product was deleted (`product_id`): its line can only be removed", body = Problem, content_type = "application/problem+json"),
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn set_item(
    call: CartCall,
    Path(id): Path<String>,
    Json(body): Json<SetQuantityRequest>,
) -> ReplyResult {
    let quantity = body.parse()?;
    let product = line_id(&id)?;
    call.change_line(&product, async |store, owner| {
        store.set_quantity(owner, &product, quantity).await
    })
    .await
}

/// Takes a product out of the caller's cart.
#[utoipa::path(
    delete,
    path = "/api/cart/items/{product_id}",
    tag = "cart",
    security((), ("bearer" = []), ("cart_cookie" = [])),
    params(("product_id" = String, Path, description = "The product's id, as the catalog gave it")),
    responses(
        (status = 200, description = "The cart after the change", body = Cart,
            headers(("Set-Cookie" = String, description = "The anonymous cart's cookie, renewed; or expired after a sign-in merge"))),
        BadToken,
        NoSuchLine,
        KeysUnavailable
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn remove_item(call: CartCall, Path(id): Path<String>) -> ReplyResult {
    let product = line_id(&id)?;
    call.change_line(&product, async |store, owner| {
        store.remove(owner, &product).await
    })
    .await
}

/// The lines a checkout takes out of its buyer's cart.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TakeRequest {
    /// The order taking them; taking again for the same order takes nothing more.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub order_id: String,
    /// The buyer, whose cart it is.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d12")]
    pub user_id: String,
    /// What the order bought: 1 to 50 products, each named once.
    pub items: Vec<TakeItem>,
}

/// One product a checkout takes, in the quantity it ordered.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TakeItem {
    pub product_id: String,
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}

/// What a take comes to.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Taken {
    pub order_id: String,
    /// `taken` now, or `already` by an earlier request for the same order (a give-back:
    /// `returned`, `already` or `nothing`).
    #[schema(example = "taken")]
    pub outcome: String,
}

/// An order's id as the cart keeps it: 1 to 100 characters.
fn check_order_id(raw: &str) -> Result<(), Invalid> {
    match raw.trim().is_empty() || raw.len() > 100 {
        true => Err(Invalid("must be 1 to 100 characters".into())),
        false => Ok(()),
    }
}

/// A take, parsed: whose cart, for which order, what.
type Take = (Owner, String, Vec<(ProductId, i64)>);

impl TakeRequest {
    fn parse(self) -> Result<Take, CartError> {
        let mut fields = Fields::new();
        fields.take("order_id", check_order_id(&self.order_id));
        if self.user_id.trim().is_empty() {
            fields.refuse("user_id", "must not be empty");
        }
        if self.items.is_empty() || self.items.len() > MAX_LINES {
            fields.refuse("items", format!("must name 1 to {MAX_LINES} products"));
        }
        let mut items: Vec<(ProductId, i64)> = Vec::with_capacity(self.items.len());
        for (i, item) in self.items.into_iter().enumerate() {
            let id = fields.take(
                format!("items[{i}].product_id"),
                ProductId::parse(&item.product_id),
            );
            let quantity =
                fields.take(format!("items[{i}].quantity"), Quantity::new(item.quantity));
            if let (Some(id), Some(quantity)) = (id, quantity) {
                if items.iter().any(|(seen, _)| *seen == id) {
                    fields.refuse(format!("items[{i}].product_id"), "is named twice");
                }
                items.push((id, quantity.units()));
            }
        }
        fields.check()?;
        Ok((Owner::user(&self.user_id), self.order_id, items))
    }
}

/// Takes a checkout's lines out of the buyer's cart, all or none (for the checkout saga).
/// Each product must still be in the cart in at least the quantity ordered (a larger line
/// keeps the rest): otherwise the cart has changed since the order read it, or another
/// checkout took it, and nothing is taken. The lines stay held for the order: its
/// confirmation makes them bought, its cancellation puts them back in the cart. Asking
/// again for the same order takes nothing more (200).
#[utoipa::path(
    post,
    path = "/api/cart/holds",
    tag = "checkout",
    security(("bearer" = [])),
    request_body(content = TakeRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The lines left the cart, held for the order", body = Taken),
        (status = 200, description = "The order had taken them already", body = Taken),
        ServiceOnly,
        (status = 409, description = "`urn:bazaar:problem:cart-changed`: the cart no longer holds what the order read (changed, or taken by another checkout), or the order was cancelled already. Nothing was taken.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or out of bounds (named in `errors`): `order_id`, `user_id`, `items` (1 to 50), `items[i].product_id` (malformed, or named twice), `items[i].quantity` (1 to 99)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn take_for_order(
    State(state): State<AppState>,
    _caller: CalledBy<Orders>,
    Json(body): Json<TakeRequest>,
) -> Result<Response, CartError> {
    let (owner, order_id, items) = body.parse()?;
    let taken = state.store.take(&owner, &order_id, &items).await?;
    // Taken and committed, but the saga has not heard: it must ask again.
    events::faults::point("cart.take.after_commit");
    let (status, outcome) = match taken {
        store::Taken::Now => (StatusCode::CREATED, "taken"),
        store::Taken::Already => (StatusCode::OK, "already"),
    };
    tracing::info!(%order_id, outcome, lines = items.len(), "a checkout's lines taken from the cart");
    Ok((
        status,
        Json(Taken {
            order_id,
            outcome: outcome.to_owned(),
        }),
    )
        .into_response())
}

/// Whose cart a cancelled order's lines go back to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GiveBackRequest {
    /// The buyer, whose cart it is.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d12")]
    pub user_id: String,
}

/// Gives a cancelled order's lines back to the buyer's cart (for the checkout saga, as
/// it compensates; the order's `order.cancelled` does the same, and whichever comes
/// second finds it done). Quantities are added to what the cart holds now, at most 99 a
/// line and 50 lines. An order that took nothing is marked, so that its take, should it
/// still arrive, is refused.
#[utoipa::path(
    post,
    path = "/api/cart/holds/{order_id}/return",
    tag = "checkout",
    security(("bearer" = [])),
    params(("order_id" = String, Path, description = "The cancelled order")),
    request_body(content = GiveBackRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`returned` now, `already` before, or `nothing` (the order took nothing)", body = Taken),
        ServiceOnly,
        (status = 409, description = "`urn:bazaar:problem:cart-changed`: the order was confirmed; its lines are bought", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is missing, or `order_id` is not 1 to 100 characters", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn give_back_for_order(
    State(state): State<AppState>,
    _caller: CalledBy<Orders>,
    Path(order_id): Path<String>,
    Json(body): Json<GiveBackRequest>,
) -> Result<Json<Taken>, CartError> {
    Failure::field("order_id", check_order_id(&order_id))?;
    if body.user_id.trim().is_empty() {
        return Err(CartError::invalid("user_id", "must not be empty"));
    }
    let given = state
        .store
        .give_back(&order_id, &Owner::user(&body.user_id))
        .await?;
    let outcome = match given {
        store::GivenBack::Now(_) => "returned",
        store::GivenBack::Already => "already",
        store::GivenBack::Nothing => "nothing",
        store::GivenBack::Bought => {
            return Err(CartError::CartChanged(
                "the order was confirmed: its lines are bought".into(),
            ));
        }
    };
    tracing::info!(%order_id, outcome, "a cancelled order's lines given back");
    Ok(Json(Taken {
        order_id,
        outcome: outcome.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    #[test]
    fn an_item_is_parsed_naming_every_bad_field() {
        let add = |product_id: &str, quantity| AddItemRequest {
            product_id: product_id.into(),
            quantity,
        };
        let (id, q) = add("p-1", None).parse().unwrap();
        assert_eq!((id.as_str(), q.units()), ("p-1", 1));
        assert_eq!(add("p-1", Some(99)).parse().unwrap().1.units(), 99);
        assert_eq!(
            refused_fields(add("p-1", Some(0)).parse().unwrap_err()),
            ["quantity"]
        );
        assert_eq!(
            refused_fields(add("p 1", Some(1)).parse().unwrap_err()),
            ["product_id"]
        );
        assert_eq!(
            refused_fields(add("", Some(100)).parse().unwrap_err()),
            ["product_id", "quantity"]
        );
    }

    #[test]
    fn a_new_quantity_is_one_to_ninety_nine() {
        assert_eq!(
            SetQuantityRequest { quantity: 5 }.parse().unwrap().units(),
            5
        );
        for bad in [0, -1, 100] {
            let err = SetQuantityRequest { quantity: bad }.parse().unwrap_err();
            assert_eq!(refused_fields(err), ["quantity"], "{bad}");
        }
    }

    #[test]
    fn malformed_ids_name_no_line() {
        assert!(matches!(
            line_id("no such/id"),
            Err(CartError::LineNotFound(_))
        ));
    }
}
