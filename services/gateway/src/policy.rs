//! Which routes need a signed-in user, and how long each may take.
//!
//! The gateway refuses an anonymous request to a protected route before it reaches the
//! service, and refuses any request whose token is invalid; services still verify tokens
//! themselves (the gateway is not the only way in inside the cluster).

use crate::config::Config;
use http::Method;
use std::time::Duration;

/// Whether `method path` needs a bearer token. `path` is the full public path.
pub fn requires_token(method: &Method, path: &str) -> bool {
    // Pages are the storefront's business: it signs its visitors in with a session.
    let Some(api) = path.strip_prefix("/api/") else {
        return false;
    };
    let mut segments = api.split('/');
    let service = segments.next().unwrap_or_default();
    let first = segments.next().unwrap_or_default();
    match service {
        "identity" => matches!(first, "me" | "logout" | "users"),
        "catalog" | "inventory" => !is_read(method),
        "orders" | "notifications" | "payments" => true,
        "recommendations" => first == "me",
        _ => false,
    }
}

/// Whether `path` is an internal endpoint: one that only Bazaar's own services call (the
/// checkout saga's reservations and payments). The gateway does not expose them at all;
/// services reach each other directly, with service tokens.
pub fn is_internal(path: &str) -> bool {
    const INTERNAL: [&str; 2] = [
        "/api/inventory/reservations",
        "/api/payments/authorizations",
    ];
    INTERNAL.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The time an upstream has to answer `method path`.
pub fn timeout(config: &Config, method: &Method, path: &str) -> Duration {
    let ms = if *method == Method::POST && path.starts_with("/api/orders/checkout") {
        config.checkout_timeout_ms
    } else {
        config.upstream_timeout_ms
    };
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_routes() {
        let cases = [
            (
                Method::GET,
                "/api/catalog/products",
                false,
                "browsing is public",
            ),
            (
                Method::POST,
                "/api/catalog/products",
                true,
                "catalog writes need a token",
            ),
            (
                Method::DELETE,
                "/api/catalog/products/x",
                true,
                "catalog writes need a token",
            ),
            (
                Method::POST,
                "/api/identity/login",
                false,
                "login is public",
            ),
            (
                Method::POST,
                "/api/identity/register",
                false,
                "registration is public",
            ),
            (Method::GET, "/api/identity/me", true, "me needs a token"),
            (Method::GET, "/api/orders", true, "orders are private"),
            (Method::GET, "/api/cart", false, "anonymous carts exist"),
            (
                Method::GET,
                "/api/recommendations/me",
                true,
                "personal recommendations",
            ),
            (
                Method::GET,
                "/api/recommendations/products/1",
                false,
                "product recommendations",
            ),
        ];
        for (method, path, expected, why) in cases {
            assert_eq!(
                requires_token(&method, path),
                expected,
                "{method} {path}: {why}"
            );
        }
    }

    #[test]
    fn internal_endpoints_are_not_exposed() {
        assert!(is_internal("/api/inventory/reservations"));
        assert!(is_internal("/api/inventory/reservations/abc/commit"));
        assert!(is_internal("/api/payments/authorizations"));
        assert!(!is_internal("/api/inventory/reservationsx"));
        assert!(!is_internal("/api/inventory/123"));
        assert!(!is_internal("/api/payments/ledger/summary"));
    }

    #[test]
    fn checkout_gets_the_long_timeout() {
        let c = Config::default();
        assert_eq!(
            timeout(&c, &Method::POST, "/api/orders/checkout"),
            Duration::from_millis(c.checkout_timeout_ms)
        );
        assert_eq!(
            timeout(&c, &Method::GET, "/api/orders"),
            Duration::from_millis(c.upstream_timeout_ms)
        );
    }
}
