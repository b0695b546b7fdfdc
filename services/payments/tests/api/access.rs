//! Who may call what: the internal endpoints take the checkout saga's service (orders)
//! only, the ledger summary administrators only; the summary adds up.

use crate::helpers::{
    AUTHORIZATIONS, Answer, CARD_DECLINED, CARD_SUCCEEDS, SUMMARY, assert_problem, authorization,
    new_key, spawn_app,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn customers_are_forbidden_and_anonymous_callers_unauthorized() {
    // Arrange
    let app = spawn_app().await;
    let auth = app.authorized("order-1", 1000).await;
    let id = auth["id"].as_str().unwrap();
    let body = authorization("order-2", 1000, CARD_SUCCEEDS);
    let endpoints = [
        (Method::POST, AUTHORIZATIONS.to_owned(), Some(&body)),
        (Method::GET, format!("{AUTHORIZATIONS}/{id}"), None),
        (Method::POST, format!("{AUTHORIZATIONS}/{id}/capture"), None),
        (Method::POST, format!("{AUTHORIZATIONS}/{id}/void"), None),
        (Method::POST, format!("{AUTHORIZATIONS}/{id}/refund"), None),
        (Method::GET, SUMMARY.to_owned(), None),
    ];

    for (method, path, body) in &endpoints {
        for (who, token, status) in [
            ("nobody", None, StatusCode::UNAUTHORIZED),
            (
                "a customer",
                Some(app.customer_token.as_str()),
                StatusCode::FORBIDDEN,
            ),
            (
                "another service (the public-facing storefront)",
                Some(app.storefront_token.as_str()),
                StatusCode::FORBIDDEN,
            ),
            (
                "a forged token",
                Some("not.a.token"),
                StatusCode::UNAUTHORIZED,
            ),
        ] {
            // Act
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.header("Idempotency-Key", new_key()).json(b);
            }
            let answer = Answer::read(req.send().await.unwrap()).await;

            // Assert
            assert_problem(&answer, status, None, &format!("{who}: {method} {path}"));
        }
    }
    let db = app.db().await;
    assert_eq!(app.count(&db, "authorizations").await, 1);
    assert_eq!(app.ledger(&db).await.len(), 1, "nothing changed");
}

#[tokio::test]
async fn services_may_not_read_the_summary_nor_administrators_authorize() {
    let app = spawn_app().await;
    let answer = app.get_as(&app.service_token, SUMMARY).await;
    assert_problem(&answer, StatusCode::FORBIDDEN, None, "service");
    // Authorising is the checkout saga's alone: an administrator's token would put
    // money in the ledger no order accounts for.
    let answer = app
        .authorize_as(
            &app.admin_token,
            &new_key(),
            &authorization("order-1", 100, CARD_SUCCEEDS),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let db = app.db().await;
    assert_eq!(app.count(&db, "authorizations").await, 0);
}

#[tokio::test]
async fn the_ledger_summary_adds_up_every_movement() {
    // Arrange
    let app = spawn_app().await;
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap().to_owned();
    let captured = id(&app.authorized("order-1", 1000).await);
    let voided = id(&app.authorized("order-2", 2000).await);
    let refunded = id(&app.authorized("order-3", 3000).await);
    app.authorized("order-4", 4000).await;
    let mut euros = authorization("order-5", 700, CARD_SUCCEEDS);
    euros["currency"] = json!("EUR");
    assert_eq!(
        app.authorize(&new_key(), &euros).await.status,
        StatusCode::CREATED
    );
    let declined = app
        .authorize(&new_key(), &authorization("order-6", 500, CARD_DECLINED))
        .await;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
    for (id, action) in [
        (&captured, "capture"),
        (&voided, "void"),
        (&refunded, "capture"),
        (&refunded, "refund"),
    ] {
        assert_eq!(app.act(id, action).await.status, StatusCode::OK);
    }

    // Act
    let all = app.get_as(&app.admin_token, SUMMARY).await;
    let usd = app
        .get_as(&app.admin_token, &format!("{SUMMARY}?currency=USD"))
        .await;
    let bad = app
        .get_as(&app.admin_token, &format!("{SUMMARY}?currency=usd"))
        .await;

    // Assert: cents of two currencies are not added together (10,700 "cents" of USD and
    // EUR, before: the money review); the ledger is asked one currency at a time.
    assert_problem(
        &all,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("currency"),
        "two currencies",
    );
    assert!(
        all.body["detail"].as_str().unwrap().contains("EUR, USD"),
        "{}",
        all.body
    );
    assert_eq!(usd.status, StatusCode::OK);
    assert_eq!(
        usd.body,
        json!({
            "currency": "USD", "authorized_cents": 10_000, "captured_cents": 4000,
            "voided_cents": 2000, "refunded_cents": 3000, "count": 8
        })
    );
    assert_problem(
        &bad,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("currency"),
        "usd",
    );
}

/// A ledger of one currency sums it without being asked which, and says which it is.
#[tokio::test]
async fn the_ledger_summary_of_one_currency_names_it() {
    let app = spawn_app().await;
    let empty = app.summary().await;
    assert_eq!(empty["authorized_cents"], 0);
    assert!(empty.get("currency").is_none(), "{empty}");
    app.authorized("order-1", 1234).await;
    let summary = app.summary().await;
    assert_eq!(summary["currency"], "USD", "{summary}");
    assert_eq!(summary["authorized_cents"], 1234, "{summary}");
}
