//! Synchronizer tokens against cross-site request forgery. Every session carries a random
//! token, sealed in its cookie and fresh at each sign-in; every page of a signed-in visitor
//! puts it in each form that changes something (a hidden `csrf_token` field) and in a
//! `<meta name="csrf-token">` for the ops console's scripts, which send it as
//! `X-CSRF-Token`. An unsafe request with a session that does not present it is refused
//! before any handler runs. Another site can make a browser send the cookie, but cannot
//! read the token from this shop's pages.
//!
//! Visitors without a session have no token: the Origin and `Sec-Fetch-Site` check
//! (`routes::same_site_only`) guards them, the sign-in and registration forms included.

use super::Visitor;
use crate::{error::StorefrontError, form, frame, views::Views};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use platform::Problem;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";
/// The header that carries it on script requests.
pub const HEADER: &str = "x-csrf-token";

/// A new token: 32 random bytes, base64url.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `presented` is `expected`, taking the same time wherever they differ.
pub fn matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Lets an unsafe request with a session through only with the session's token, in the
/// `X-CSRF-Token` header or the form's `csrf_token` field. Installed inside
/// [`super::middleware`], which puts the [`Visitor`] in the request.
pub async fn require_token(State(views): State<Views>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(visitor) = req.extensions().get::<Visitor>().cloned() else {
        return next.run(req).await;
    };
    let Some(expected) = visitor.csrf_token().await else {
        return next.run(req).await;
    };
    let problem = wants_problem(req.uri().path(), req.headers());
    let (req, presented) = match presented(req).await {
        Ok(found) => found,
        Err(problem) => return problem.into_response(),
    };
    if presented.as_deref().is_some_and(|p| matches(p, &expected)) {
        return next.run(req).await;
    }
    tracing::info!(
        method = %req.method(),
        path = req.uri().path(),
        token = if presented.is_some() { "wrong" } else { "missing" },
        "refused an unsafe request without its session's CSRF token"
    );
    let refused = StorefrontError::CsrfTokenMismatch;
    if problem {
        return refused.into_response();
    }
    let path = frame::here(req.uri());
    let chrome = frame::chrome(&visitor, &path, "", None).await;
    views.error_page(&chrome, &refused)
}

/// The token a request presents, and the request to pass on (its form body read, and put
/// back).
async fn presented(req: Request) -> Result<(Request, Option<String>), Problem> {
    if let Some(token) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        let token = token.trim().to_owned();
        return Ok((req, Some(token)));
    }
    if !form::is_form(req.headers()) {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    // The body limit travels in the request's extensions.
    let mut whole = Request::new(body);
    *whole.extensions_mut() = parts.extensions.clone();
    let bytes = form::read_body(whole, &()).await?;
    let token = form::field(&bytes, FIELD);
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// Whether the refusal is a problem document rather than a page: the console's JSON
/// endpoints, and requests that are neither forms nor ask for HTML.
pub fn wants_problem(path: &str, headers: &HeaderMap) -> bool {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    path.starts_with("/ops/api/") || !(form::is_form(headers) || accepts_html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_match_only_themselves() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 43, "32 bytes, base64url: {a}");
        assert_ne!(a, b);
        assert!(matches(&a, &a.clone()));
        for wrong in [
            b.as_str(),
            "",
            &a[..42],
            &format!("{a}x"),
            &a.to_uppercase(),
        ] {
            assert!(!matches(wrong, &a), "{wrong:?}");
        }
        assert!(!matches("", ""), "an empty token matches nothing");
    }

    #[test]
    fn the_console_and_scripts_get_problems_and_forms_get_pages() {
        let headers = |pairs: &[(&'static str, &'static str)]| -> HeaderMap {
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        header::HeaderName::from_static(k),
                        header::HeaderValue::from_static(v),
                    )
                })
                .collect()
        };
        let form = [("content-type", "application/x-www-form-urlencoded")];
        assert!(!wants_problem("/cart/items", &headers(&form)));
        assert!(!wants_problem(
            "/signout",
            &headers(&[("accept", "text/html,application/xhtml+xml")])
        ));
        assert!(wants_problem(
            "/ops/api/services/catalog/kill",
            &headers(&[("accept", "application/json")])
        ));
        assert!(wants_problem(
            "/ops/api/services/catalog/kill",
            &headers(&form)
        ));
        assert!(wants_problem(
            "/checkout",
            &headers(&[("content-type", "application/json")])
        ));
    }
}
