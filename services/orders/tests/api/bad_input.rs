//! Bad input, request by request: every case answers a problem document with the right
//! status, naming the field at fault where there is one, and places no order.

use crate::helpers::{GOOD_CARD, assert_problem, checkout_body, new_key, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Case {
    what: &'static str,
    key: Option<String>,
    token: bool,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    field: Option<&'static str>,
}

/// A valid checkout with one change.
fn with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut body = checkout_body(GOOD_CARD);
    change(&mut body);
    serde_json::to_vec(&body).unwrap()
}

/// The JSON pointer of a field as problem documents name it (`payment.cvc`).
fn pointer(field: &str) -> String {
    format!("/{}", field.replace('.', "/"))
}

/// A valid checkout without `field` (`payment.cvc`).
fn without(field: &str) -> Vec<u8> {
    let parent = field
        .rsplit_once('.')
        .map_or(String::new(), |(p, _)| pointer(p));
    let name = field.rsplit('.').next().unwrap();
    with(|b| {
        let object = b.pointer_mut(&parent).and_then(Value::as_object_mut);
        object.unwrap().remove(name);
    })
}

/// A valid checkout with `field` (`payment.cvc`) set to `value`.
fn with_value(field: &str, value: Value) -> Vec<u8> {
    with(|b| *b.pointer_mut(&pointer(field)).unwrap() = value)
}

#[tokio::test]
async fn checkout_refuses_bad_input_naming_the_field() {
    // Arrange: a shopper whose cart is empty (the last case) — every other case is
    // refused before the cart is read.
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let case = |what, body: Vec<u8>, status, field| Case {
        what,
        key: Some(new_key()),
        token: true,
        content_type: "application/json",
        body,
        status,
        field,
    };
    // A field refused in turn: missing, or with a wrong value.
    let invalid = |what, field, body| case(what, body, unprocessable, Some(field));
    let missing = |what, field| invalid(what, field, without(field));
    let wrong = |what, field, value| invalid(what, field, with_value(field, value));
    let good = with(|_| {});
    let long = "x".repeat(201);
    let cases = vec![
        Case {
            key: None,
            ..case(
                "no Idempotency-Key",
                good.clone(),
                StatusCode::BAD_REQUEST,
                Some("Idempotency-Key"),
            )
        },
        Case {
            key: Some(String::new()),
            ..case(
                "empty Idempotency-Key",
                good.clone(),
                StatusCode::BAD_REQUEST,
                Some("Idempotency-Key"),
            )
        },
        Case {
            key: Some("k".repeat(256)),
            ..case(
                "Idempotency-Key too long",
                good.clone(),
                StatusCode::BAD_REQUEST,
                Some("Idempotency-Key"),
            )
        },
        Case {
            token: false,
            ..case("no token", good.clone(), StatusCode::UNAUTHORIZED, None)
        },
        case(
            "malformed JSON",
            br#"{"payment": "#.to_vec(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        Case {
            content_type: "text/plain",
            ..case(
                "not JSON",
                good.clone(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
            )
        },
        case(
            "not an object",
            b"[1, 2]".to_vec(),
            unprocessable,
            Some("body"),
        ),
        // A misspelt field is refused, not ignored: `expected_total` instead of
        // `expected_total_cents` would otherwise charge without the price check.
        invalid(
            "a field checkout does not know",
            "expected_total",
            with(|b| b["expected_total"] = json!(2598)),
        ),
        invalid(
            "a field of the address checkout does not know",
            "shipping_address.line2",
            with(|b| b["shipping_address"]["line2"] = json!("Flat 2")),
        ),
        missing("no payment", "payment"),
        missing("no shipping address", "shipping_address"),
        missing("no card number", "payment.card_number"),
        missing("no cvc", "payment.cvc"),
        missing("no expiry year", "payment.exp_year"),
        wrong("expiry month as text", "payment.exp_month", json!("12")),
        wrong("empty card number", "payment.card_number", json!("")),
        wrong(
            "card number with letters",
            "payment.card_number",
            json!("4242abcd42424242"),
        ),
        wrong("empty cvc", "payment.cvc", json!("")),
        wrong("blank name", "shipping_address.name", json!("  ")),
        wrong("line1 too long", "shipping_address.line1", json!(long)),
        missing("no city", "shipping_address.city"),
        wrong(
            "empty postal code",
            "shipping_address.postal_code",
            json!(""),
        ),
        wrong(
            "three-letter country",
            "shipping_address.country",
            json!("USA"),
        ),
        wrong(
            "country with a digit",
            "shipping_address.country",
            json!("U1"),
        ),
        case("an empty cart", good.clone(), unprocessable, Some("cart")),
    ];

    // Act / Assert
    for c in cases {
        let mut req = app
            .client
            .post(app.url("/api/orders/checkout"))
            .header("Content-Type", c.content_type)
            .body(c.body);
        if let Some(key) = &c.key {
            req = req.header("Idempotency-Key", key);
        }
        if c.token {
            req = req.bearer_auth(&shopper.token);
        }
        let res = req.send().await.expect("request sent");
        assert_problem(res, c.status, c.field, c.what).await;
    }
    let db = app.db().await;
    assert_eq!(
        app.order_count(&db).await,
        0,
        "a refused checkout placed an order"
    );
}

#[tokio::test]
async fn every_bad_field_is_named_at_once_and_reading_orders_refuses_bad_requests() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let body = with(|b| {
        b["shipping_address"]["city"] = json!("");
        b["shipping_address"]["country"] = json!("Germany");
        b["payment"]["cvc"] = json!("abc");
    });
    let res = app
        .client
        .post(app.url("/api/orders/checkout"))
        .bearer_auth(&shopper.token)
        .header("Idempotency-Key", new_key())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        "three bad fields",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "shipping_address.city",
            "shipping_address.country",
            "payment.cvc"
        ]
    );

    let token = Some(shopper.token.as_str());
    let cases = [
        (
            "/api/orders?page=0",
            token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("page"),
        ),
        (
            "/api/orders?per_page=101",
            token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("per_page"),
        ),
        (
            "/api/orders?page=x",
            token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("page"),
        ),
        ("/api/orders", None, StatusCode::UNAUTHORIZED, None),
        ("/api/orders/not-an-id", token, StatusCode::NOT_FOUND, None),
        (
            "/api/orders/01939f1c-0000-7000-8000-000000000000",
            token,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/api/orders/01939f1c-0000-7000-8000-000000000000",
            None,
            StatusCode::UNAUTHORIZED,
            None,
        ),
    ];
    for (path, token, status, field) in cases {
        let res = app.get(path, token).await;
        assert_problem(res, status, field, path).await;
    }
}
