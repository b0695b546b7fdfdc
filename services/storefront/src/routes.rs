//! The storefront's routes: the pages (HTML, not in the OpenAPI document), the few JSON
//! and streaming endpoints (documented), the static files, and the middleware every
//! response passes: the visitor's session, security headers, and a refusal of state
//! changes sent from other sites.

use crate::{
    app::App,
    assets,
    pages::{self, account, cart, catalog, checkout, ops},
    session,
    views::Chrome,
};
use axum::{
    Router,
    extract::{OriginalUri, Request, State},
    http::{HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::Problem;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar storefront",
        description = "The shop's web pages and the ops console, rendered on the server. \
            Pages are HTML and not described here; this document covers the endpoints \
            scripts call: the ops console's state and controls (administrators only, \
            authenticated by the storefront's `bazaar_session` cookie, which holds \
            identity's tokens), the live notification stream behind the header's badge, and \
            product pictures. Errors are RFC 9457 problem documents \
            (`application/problem+json`); validation problems name each bad field in \
            `errors`."
    ),
    tags(
        (name = "ops", description = "The ops console's data and controls."),
        (name = "pages", description = "What pages load besides themselves.")
    )
)]
struct ApiDoc;

/// Every route, with state and middleware applied, and the OpenAPI document.
pub fn router(app: App) -> (Router, utoipa::openapi::OpenApi) {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::api_state))
        .routes(routes!(ops::api_control))
        .routes(routes!(ops::api_replay))
        .routes(routes!(account::notification_stream))
        .routes(routes!(catalog::image))
        .with_state(app.clone())
        .split_for_parts();
    let pages = Router::new()
        .route("/", get(catalog::home))
        .route("/c/{category}", get(catalog::category))
        .route("/search", get(catalog::search))
        .route("/p/{id}", get(catalog::product))
        .route("/cart", get(cart::page))
        .route("/cart/items", post(cart::add))
        .route("/cart/items/{id}", post(cart::update))
        .route("/cart/items/{id}/remove", post(cart::remove))
        .route("/signin", get(account::signin_form).post(account::signin))
        .route(
            "/register",
            get(account::register_form).post(account::register),
        )
        .route(
            "/signout",
            get(account::signout_form).post(account::signout),
        )
        .route("/checkout", get(checkout::form).post(checkout::submit))
        .route("/orders", get(account::orders))
        .route("/orders/{id}", get(account::order))
        .route("/account/notifications", get(account::notifications))
        .route("/ops", get(ops::page))
        .route("/{*path}", get(not_found))
        .with_state(app.clone());
    let router = Router::new()
        .merge(api)
        .merge(pages)
        .route("/static/{file}", get(assets::serve))
        .layer(middleware::from_fn_with_state(app, session::middleware))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(same_site_only));
    (router, openapi)
}

/// Any other path: the not-found page.
async fn not_found(State(app): State<App>, OriginalUri(uri): OriginalUri) -> Response {
    let chrome = Chrome {
        path: pages::here(&uri),
        ..Chrome::default()
    };
    app.views().error_page(
        &chrome,
        &crate::error::StorefrontError::NotFound(uri.path().to_owned()),
    )
}

/// The policy of every HTML page: scripts, styles and connections from this origin only,
/// pictures from here (and `data:`), no framing.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

/// Security headers on every response; a CSP and no caching by shared caches on pages.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if is_html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-cache"));
    }
    res
}

/// Refuses state changes a browser says come from another site (`Sec-Fetch-Site:
/// cross-site`). With `SameSite=Lax` cookies they would carry no session anyway; this
/// also keeps them from touching an anonymous cart.
async fn same_site_only(req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    if unsafe_method && cross_site {
        return Problem::forbidden("requests from other sites may not change anything here")
            .into_response();
    }
    next.run(req).await
}
