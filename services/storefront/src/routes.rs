//! The storefront's routes: the pages (HTML, not in the OpenAPI document), the few JSON
//! and streaming endpoints (documented), the static files, and the middleware every
//! response passes: the visitor's session, security headers, and a refusal of state
//! changes sent from other sites or, in a session, without its CSRF token.

use crate::{
    app::App,
    assets, frame, ops,
    pages::{account, cart, catalog, checkout},
    session::{self, Sessions},
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
            authenticated by the storefront's sealed session cookie; a POST also sends the \
            session's CSRF token, from the page's `<meta name=\"csrf-token\">`, as \
            `X-CSRF-Token`), the live notification stream behind the header's badge, and \
            product pictures. Errors are RFC 9457 problem documents \
            (`application/problem+json`); validation problems name each bad field in \
            `errors`."
    ),
    components(schemas(crate::ops::supervisor::Action)),
    tags(
        (name = "ops", description = "The ops console's data and controls."),
        (name = "pages", description = "What pages load besides themselves.")
    )
)]
struct ApiDoc;

/// Every route, with state and middleware applied, and the OpenAPI document: the shop's
/// pages with their state, the ops console with its own, and the visitor's session
/// around both.
pub fn router(app: App, sessions: Sessions, console: ops::Console) -> OpenApiRouter {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(account::notification_stream))
        .routes(routes!(catalog::image))
        .with_state(app.clone())
        .merge(ops::routes(console));
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
        .route("/{*path}", get(not_found))
        .with_state(app.clone());
    api.merge(OpenApiRouter::from(pages))
        .route("/static/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .layer(middleware::from_fn_with_state(
            app.views().clone(),
            session::csrf::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            app.views().clone(),
            problems_as_pages,
        ))
        .layer(middleware::from_fn_with_state(
            sessions,
            session::middleware,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(same_site_only))
}

/// Any other path: the not-found page; under `/api/`, a problem document, as for every
/// service (the contract: an unknown route under `/api/<service>/` is a 404 problem; the
/// HTTP review met an HTML page for `/api/storefront/nosuch`).
async fn not_found(State(app): State<App>, OriginalUri(uri): OriginalUri) -> Response {
    if uri.path().starts_with("/api/") {
        return Problem::not_found(format!("no route for GET {}", uri.path())).into_response();
    }
    let chrome = Chrome {
        path: frame::here(&uri),
        ..Chrome::default()
    };
    app.views().error_page(
        &chrome,
        &crate::error::StorefrontError::NotFound(uri.path().to_owned()),
    )
}

/// A browser's page or form is answered a page: a problem document made before any page
/// saw the request (a body too large, not a form, compressed or not UTF-8, a session's
/// form read for its CSRF token, a time limit) is shown as the error page, with its status
/// and words. The JSON endpoints, and callers that ask for no HTML, keep the document (the
/// verification review met raw JSON on a 415 to the sign-up form).
async fn problems_as_pages(
    State(views): State<crate::views::Views>,
    req: Request,
    next: Next,
) -> Response {
    if session::csrf::wants_problem(req.uri().path(), req.headers()) {
        return next.run(req).await;
    }
    let uri = req.uri().clone();
    let visitor = req.extensions().get::<session::Visitor>().cloned();
    let res = next.run(req).await;
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return res;
    }
    let path = frame::here(&uri);
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let Ok(problem) = serde_json::from_slice::<Problem>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let chrome = match visitor {
        Some(visitor) => frame::chrome(&visitor, &path, "", None).await,
        None => Chrome {
            path,
            ..Chrome::default()
        },
    };
    views.error_page(
        &chrome,
        &crate::error::StorefrontError::Rejected(Box::new(problem)),
    )
}

/// The policy of every HTML page: scripts, styles and connections from this origin only,
/// pictures from here (and `data:`), no framing.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

/// Security headers on every response; a CSP and no caching by shared caches on pages.
async fn security_headers(req: Request, next: Next) -> Response {
    // A page asked for with cookies may show what is the visitor's alone (an anonymous
    // cart's lines and total too): no cache keeps it.
    let personal = req.headers().contains_key(header::COOKIE);
    let mut res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = res.headers_mut();
    let always = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    let on_pages = [
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in always {
        h.insert(name, HeaderValue::from_static(value));
    }
    if is_html {
        for (name, value) in on_pages {
            h.insert(name, HeaderValue::from_static(value));
        }
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(if personal {
                "private, no-store"
            } else {
                "no-cache"
            }));
    }
    res
}

/// Refuses state changes from other sites. A browser says where a request comes from:
/// `Sec-Fetch-Site: cross-site`, or an `Origin` (else a `Referer`) whose host is not the
/// one the request was sent to (as the gateway passes it on in `X-Forwarded-Host`, else
/// `Host`). `SameSite=Lax` cookies alone would still let an anonymous cart, or an older
/// browser's session, be changed from elsewhere. A request naming no origin at all is not
/// a browser's cross-site form, and passes.
async fn same_site_only(req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && let Err(why) = same_site(req.headers()) {
        return Problem::forbidden(format!(
            "requests from other sites may not change anything here ({why})"
        ))
        .into_response();
    }
    next.run(req).await
}

/// Whether an unsafe request's headers say it comes from this site (or say nothing).
fn same_site(headers: &header::HeaderMap) -> Result<(), &'static str> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if text("sec-fetch-site").is_some_and(|v| v.eq_ignore_ascii_case("cross-site")) {
        return Err("the browser says cross-site");
    }
    let target = text("x-forwarded-host")
        .and_then(|h| h.split(',').next())
        .or_else(|| text(header::HOST.as_str()))
        .map(str::trim);
    let (claimed, refused) = match (
        text(header::ORIGIN.as_str()),
        text(header::REFERER.as_str()),
    ) {
        (Some(origin), _) => (origin, "its origin is another site"),
        (None, Some(referer)) => (referer, "its referrer is another site"),
        (None, None) => return Ok(()),
    };
    let source = claimed
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|u| Some(authority(u.scheme_str()?, u.authority()?.as_str())));
    match (source, target) {
        (Some(source), Some(target)) if source.eq_ignore_ascii_case(&authority("", target)) => {
            Ok(())
        }
        _ => Err(refused),
    }
}

/// `host[:port]` without the scheme's default port.
fn authority(scheme: &str, authority: &str) -> String {
    let default = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let a = authority.rsplit('@').next().unwrap_or(authority);
    let a = if default.is_empty() {
        a.strip_suffix(":80")
            .or_else(|| a.strip_suffix(":443"))
            .unwrap_or(a)
    } else {
        a.strip_suffix(default).unwrap_or(a)
    };
    a.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> header::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn only_requests_from_this_site_or_from_no_browser_change_things() {
        let allowed = [
            vec![("host", "shop.example")],
            vec![("host", "shop.example"), ("origin", "https://shop.example")],
            vec![
                ("host", "shop.example:443"),
                ("origin", "https://SHOP.example"),
            ],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            vec![
                ("host", "10.0.0.5:8083"),
                ("x-forwarded-host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            vec![
                ("host", "shop.example"),
                ("referer", "https://shop.example/cart?x=1"),
            ],
            vec![
                ("host", "shop.example"),
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://shop.example"),
            ],
        ];
        for h in allowed {
            assert_eq!(same_site(&headers(&h)), Ok(()), "{h:?}");
        }
        let refused = [
            vec![("host", "shop.example"), ("sec-fetch-site", "cross-site")],
            vec![("host", "shop.example"), ("origin", "http://evil.example")],
            vec![("host", "shop.example"), ("origin", "null")],
            vec![
                ("host", "shop.example:8080"),
                ("origin", "http://shop.example"),
            ],
            vec![
                ("host", "10.0.0.5:8083"),
                ("x-forwarded-host", "shop.example"),
                ("origin", "http://10.0.0.5:8083"),
            ],
            vec![
                ("host", "shop.example"),
                ("referer", "https://evil.example/shop.example"),
            ],
            vec![("origin", "https://shop.example")],
        ];
        for h in refused {
            assert!(same_site(&headers(&h)).is_err(), "{h:?}");
        }
    }
}
