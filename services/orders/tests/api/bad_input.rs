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
        case(
            "no payment",
            with(|b| drop(b.as_object_mut().unwrap().remove("payment"))),
            unprocessable,
            Some("payment"),
        ),
        case(
            "no shipping address",
            with(|b| drop(b.as_object_mut().unwrap().remove("shipping_address"))),
            unprocessable,
            Some("shipping_address"),
        ),
        case(
            "no card number",
            with(|b| drop(b["payment"].as_object_mut().unwrap().remove("card_number"))),
            unprocessable,
            Some("payment.card_number"),
        ),
        case(
            "no cvc",
            with(|b| drop(b["payment"].as_object_mut().unwrap().remove("cvc"))),
            unprocessable,
            Some("payment.cvc"),
        ),
        case(
            "no expiry year",
            with(|b| drop(b["payment"].as_object_mut().unwrap().remove("exp_year"))),
            unprocessable,
            Some("payment.exp_year"),
        ),
        case(
            "expiry month as text",
            with(|b| b["payment"]["exp_month"] = json!("12")),
            unprocessable,
            Some("payment.exp_month"),
        ),
        case(
            "empty card number",
            with(|b| b["payment"]["card_number"] = json!("")),
            unprocessable,
            Some("payment.card_number"),
        ),
        case(
            "card number with letters",
            with(|b| b["payment"]["card_number"] = json!("4242abcd42424242")),
            unprocessable,
            Some("payment.card_number"),
        ),
        case(
            "empty cvc",
            with(|b| b["payment"]["cvc"] = json!("")),
            unprocessable,
            Some("payment.cvc"),
        ),
        case(
            "blank name",
            with(|b| b["shipping_address"]["name"] = json!("  ")),
            unprocessable,
            Some("shipping_address.name"),
        ),
        case(
            "line1 too long",
            with(|b| b["shipping_address"]["line1"] = json!(long)),
            unprocessable,
            Some("shipping_address.line1"),
        ),
        case(
            "no city",
            with(|b| {
                drop(
                    b["shipping_address"]
                        .as_object_mut()
                        .unwrap()
                        .remove("city"),
                )
            }),
            unprocessable,
            Some("shipping_address.city"),
        ),
        case(
            "empty postal code",
            with(|b| b["shipping_address"]["postal_code"] = json!("")),
            unprocessable,
            Some("shipping_address.postal_code"),
        ),
        case(
            "three-letter country",
            with(|b| b["shipping_address"]["country"] = json!("USA")),
            unprocessable,
            Some("shipping_address.country"),
        ),
        case(
            "country with a digit",
            with(|b| b["shipping_address"]["country"] = json!("U1")),
            unprocessable,
            Some("shipping_address.country"),
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
