//! Bad input, endpoint by endpoint: every case answers a problem document with the right
//! status, naming the field at fault where there is one, and changes no cart.

use crate::helpers::{Shopper, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    field: Option<&'static str>,
}

/// Runs every case as `shopper`; their cart must be the same afterwards.
async fn run(shopper: &mut Shopper<'_>, cases: Vec<Case>) {
    let before = shopper.get().await.body;
    for case in cases {
        let answer = shopper
            .send_raw(case.method, &case.path, case.content_type, case.body)
            .await;
        answer.assert_problem(case.status, case.field, case.what);
        assert_eq!(
            answer.set_cookie, None,
            "{}: no cookie on a refusal",
            case.what
        );
    }
    assert_eq!(
        shopper.get().await.body,
        before,
        "a refused request changed the cart"
    );
}

fn json_case(
    what: &'static str,
    method: Method,
    path: &str,
    body: Value,
    status: StatusCode,
    field: Option<&'static str>,
) -> Case {
    Case {
        what,
        method,
        path: path.to_owned(),
        content_type: Some("application/json"),
        body: serde_json::to_vec(&body).unwrap(),
        status,
        field,
    }
}

#[tokio::test]
async fn adding_refuses_bad_input_naming_the_field() {
    // Arrange: a visitor whose cart holds 98 of one product.
    let app = spawn_app().await;
    let products = app.products(51).await;
    let id = products[0].id.as_str();
    let mut visitor = app.visitor_holding(&[(id, 98)]).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let post = |what, body: Value, status, field| {
        json_case(what, Method::POST, "/api/cart/items", body, status, field)
    };
    let quantity = |what, q: Value| {
        post(
            what,
            json!({"product_id": id, "quantity": q}),
            unprocessable,
            Some("quantity"),
        )
    };
    let product = |what, p: Value| {
        post(
            what,
            json!({"product_id": p, "quantity": 1}),
            unprocessable,
            Some("product_id"),
        )
    };
    let raw = |what, content_type, body: &[u8], status| Case {
        content_type: Some(content_type),
        body: body.to_vec(),
        ..post(what, json!({}), status, None)
    };
    let cases = vec![
        quantity("quantity 0", json!(0)),
        quantity("quantity 100", json!(100)),
        quantity("quantity -1", json!(-1)),
        quantity("quantity as text", json!("x")),
        quantity("quantity as a numeric string", json!("2")),
        quantity("quantity as a fraction", json!(1.5)),
        quantity("quantity beyond 64 bits", json!(1e30)),
        quantity("a line past 99", json!(2)),
        post(
            "a field the cart does not know (a misspelt quantity)",
            json!({"product_id": id, "qty": 2}),
            unprocessable,
            Some("qty"),
        ),
        product("missing product_id", Value::Null),
        post(
            "no product_id at all",
            json!({"quantity": 1}),
            unprocessable,
            Some("product_id"),
        ),
        product("product_id as a number", json!(5)),
        product("empty product_id", json!("")),
        product("malformed product_id", json!("a/b")),
        product("product_id too long", json!("x".repeat(65))),
        product(
            "unknown product",
            json!("01939f1c-0000-7000-8000-000000000000"),
        ),
        post(
            "not an object",
            json!("just text"),
            unprocessable,
            Some("body"),
        ),
        raw(
            "malformed JSON",
            "application/json",
            br#"{"product_id": "#,
            StatusCode::BAD_REQUEST,
        ),
        raw(
            "trailing garbage",
            "application/json",
            format!(r#"{{"product_id": "{id}"}} x"#).as_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        raw(
            "not JSON",
            "text/plain",
            format!(r#"{{"product_id": "{id}"}}"#).as_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        post(
            "oversized body",
            json!({"product_id": id, "quantity": 1, "padding": "x".repeat(300 * 1024)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        Case {
            path: "/api/cart/items/whatever/else".into(),
            ..post("unknown route", json!({}), StatusCode::NOT_FOUND, None)
        },
        Case {
            method: Method::GET,
            ..post(
                "GET on the items",
                json!({}),
                StatusCode::METHOD_NOT_ALLOWED,
                None,
            )
        },
    ];

    // Act / Assert
    run(&mut visitor, cases).await;

    // The 51st line is refused, naming the product that did not fit.
    for p in &products[1..50] {
        visitor.add(&p.id, 1).await.cart();
    }
    assert_eq!(visitor.get().await.lines().len(), 50);
    run(
        &mut visitor,
        vec![product("a 51st line", json!(products[50].id))],
    )
    .await;
    assert_eq!(
        visitor.add(&products[1].id, 1).await.lines()[1],
        (products[1].id.clone(), 2),
        "a full cart still takes more of what it holds"
    );
}

#[tokio::test]
async fn changing_a_line_refuses_bad_input() {
    let app = spawn_app().await;
    let products = app.products(2).await;
    let (held, other) = (products[0].id.as_str(), products[1].id.as_str());
    let mut visitor = app.visitor_holding(&[(held, 3)]).await;
    let path = format!("/api/cart/items/{held}");
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let patch = |what, body: Value, status, field| {
        json_case(what, Method::PATCH, &path, body, status, field)
    };
    let cases = vec![
        patch(
            "quantity 0",
            json!({"quantity": 0}),
            unprocessable,
            Some("quantity"),
        ),
        patch(
            "quantity 100",
            json!({"quantity": 100}),
            unprocessable,
            Some("quantity"),
        ),
        patch(
            "quantity -1",
            json!({"quantity": -1}),
            unprocessable,
            Some("quantity"),
        ),
        patch(
            "quantity as text",
            json!({"quantity": "x"}),
            unprocessable,
            Some("quantity"),
        ),
        patch(
            "missing quantity",
            json!({}),
            unprocessable,
            Some("quantity"),
        ),
        patch(
            "quantity null",
            json!({"quantity": null}),
            unprocessable,
            Some("quantity"),
        ),
        Case {
            body: br#"{"quantity": "#.to_vec(),
            ..patch("malformed JSON", json!({}), StatusCode::BAD_REQUEST, None)
        },
        Case {
            content_type: Some("text/plain"),
            ..patch(
                "not JSON",
                json!({"quantity": 1}),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
            )
        },
        Case {
            path: format!("/api/cart/items/{other}"),
            ..patch(
                "a product not in the cart",
                json!({"quantity": 1}),
                StatusCode::NOT_FOUND,
                None,
            )
        },
        Case {
            path: "/api/cart/items/not%20an%20id".into(),
            ..patch(
                "an id no product can have",
                json!({"quantity": 1}),
                StatusCode::NOT_FOUND,
                None,
            )
        },
        Case {
            method: Method::DELETE,
            path: format!("/api/cart/items/{other}"),
            content_type: None,
            body: Vec::new(),
            ..patch(
                "removing a product not in the cart",
                json!({}),
                StatusCode::NOT_FOUND,
                None,
            )
        },
    ];
    run(&mut visitor, cases).await;
}
