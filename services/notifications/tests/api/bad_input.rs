//! Bad requests: every case answers a problem document with the right status, naming
//! the field at fault where there is one.

use crate::helpers::{assert_problem, register, spawn_app};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn the_mailbox_needs_a_valid_token() {
    let app = spawn_app().await;
    let cases = [
        ("/api/notifications", None, "no token"),
        ("/api/notifications", Some("not-a-jwt"), "a malformed token"),
        (
            "/api/notifications",
            Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            "an unsigned token",
        ),
        ("/api/notifications/stream", None, "stream without a token"),
        (
            "/api/notifications/stream",
            Some("not-a-jwt"),
            "stream with a malformed token",
        ),
    ];
    for (path, token, case) in cases {
        let res = app.get_as(path, token).await;
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_problem(res, StatusCode::UNAUTHORIZED, None, case).await;
        assert!(www.is_some_and(|v| v.starts_with("Bearer")), "{case}");
    }
}

#[tokio::test]
async fn listing_refuses_a_bad_limit() {
    // Arrange
    let app = spawn_app().await;
    let sam = register("Sam").await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        ("?limit=0", "zero"),
        ("?limit=101", "above 100"),
        ("?limit=-1", "negative"),
        ("?limit=ten", "not a number"),
        ("?limit=1.5", "a fraction"),
        ("?limit=", "empty"),
        ("?limit=99999999999999999999", "beyond 64 bits"),
    ];

    // Act / Assert
    for (query, case) in cases {
        let res = app
            .get_as(&format!("/api/notifications{query}"), Some(&sam.token))
            .await;
        assert_problem(res, unprocessable, Some("limit"), case).await;
    }
    for ok in ["?limit=1", "?limit=100", "", "?unknown=1"] {
        let res = app
            .get_as(&format!("/api/notifications{ok}"), Some(&sam.token))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{ok}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let sam = register("Sam").await;
    let cases = [
        (
            Method::POST,
            "/api/notifications",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::DELETE,
            "/api/notifications/stream",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/api/notifications/a/b", StatusCode::NOT_FOUND),
    ];
    for (method, path, status) in cases {
        let res = app.send(method.clone(), path, Some(&sam.token), None).await;
        assert_problem(res, status, None, &format!("{method} {path}")).await;
    }
}
