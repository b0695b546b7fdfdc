//! Bad input, endpoint by endpoint: every case answers a problem document with the right
//! status, naming the field at fault where there is one.

use crate::helpers::{Created, TestApp, assert_problem, new_product, spawn_app};
use platform::testing::Refused;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `new_product` with `key` set to `value` (or removed when `value` is `None`).
fn product_with(key: &str, value: Option<Value>) -> Vec<u8> {
    let mut body = new_product("BAD-1");
    match value {
        Some(v) => body[key] = v,
        None => {
            body.as_object_mut().unwrap().remove(key);
        }
    }
    serde_json::to_vec(&body).unwrap()
}

async fn run(app: &TestApp, cases: Vec<Refused>) {
    let before = app.outbox().await.len();
    for case in cases {
        let token = (case.method != Method::GET).then_some(app.admin_token.as_str());
        app.assert_refused(token, case).await;
    }
    assert_eq!(
        app.outbox().await.len(),
        before,
        "a refused request recorded an event"
    );
}

#[tokio::test]
async fn creating_a_product_refuses_bad_input() {
    let app = spawn_app().await;
    let json_ct = "application/json";
    let post = |what, body: Vec<u8>, status, field| Refused {
        what,
        method: Method::POST,
        path: "/api/catalog/products".into(),
        content_type: json_ct,
        body,
        status,
        field,
    };
    // Each refused for the field it spoils: `(what, field, value)`, no value removing it.
    let spoilt: [(&str, &str, Option<Value>); 24] = [
        ("missing sku", "sku", None),
        ("missing name", "name", None),
        ("missing price", "price_cents", None),
        ("missing category", "category", None),
        ("price as a string", "price_cents", Some(json!("49.99"))),
        ("price as a fraction", "price_cents", Some(json!(49.5))),
        ("zero price", "price_cents", Some(json!(0))),
        ("negative price", "price_cents", Some(json!(-100))),
        ("price too high", "price_cents", Some(json!(100_000_001))),
        ("lower-case sku", "sku", Some(json!("kit-1"))),
        ("short sku", "sku", Some(json!("AB"))),
        ("long sku", "sku", Some(json!("X".repeat(33)))),
        ("sku with a space", "sku", Some(json!("KIT 1"))),
        ("sku as a number", "sku", Some(json!(12345))),
        ("empty name", "name", Some(json!("   "))),
        ("long name", "name", Some(json!("n".repeat(121)))),
        (
            "long description",
            "description",
            Some(json!("d".repeat(2001))),
        ),
        ("lower-case currency", "currency", Some(json!("usd"))),
        ("four-letter currency", "currency", Some(json!("USDT"))),
        ("currency as a number", "currency", Some(json!(840))),
        ("unknown category", "category", Some(json!("spaceships"))),
        (
            "malformed category",
            "category",
            Some(json!("Kitchen Stuff")),
        ),
        ("negative stock", "initial_stock", Some(json!(-1))),
        ("huge stock", "initial_stock", Some(json!(5_000_000))),
    ];
    let mut cases = vec![
        post(
            "malformed JSON",
            br#"{"sku": "#.to_vec(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        post(
            "not an object",
            br#""just text""#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        Refused {
            content_type: "text/plain",
            ..post(
                "not JSON",
                product_with("sku", Some(json!("TXT-1"))),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
            )
        },
        post(
            "oversized body",
            product_with("description", Some(json!("x".repeat(300 * 1024)))),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    cases.extend(spoilt.into_iter().map(|(what, field, value)| {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        post(what, product_with(field, value), status, Some(field))
    }));
    run(&app, cases).await;
    assert_eq!(
        app.get_json("/api/catalog/products").await["total"],
        60,
        "nothing was created"
    );
}

#[tokio::test]
async fn patching_a_product_refuses_bad_input() {
    let app = spawn_app().await;
    let Created { product, path, .. } = app.create("PATCH-BAD").await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let patch = |what, path: &str, body: Value, status, field| {
        Refused::json(what, Method::PATCH, path, &body, status, field)
    };
    let cases = vec![
        Refused {
            body: br#"{"name": "#.to_vec(),
            ..patch(
                "malformed JSON",
                &path,
                json!({}),
                StatusCode::BAD_REQUEST,
                None,
            )
        },
        patch("empty patch", &path, json!({}), unprocessable, Some("body")),
        patch(
            "only nulls",
            &path,
            json!({"name": null, "price_cents": null}),
            unprocessable,
            Some("body"),
        ),
        patch(
            "only read-only fields ignored",
            &path,
            json!({"id": "x"}),
            unprocessable,
            Some("body"),
        ),
        patch(
            "price as text",
            &path,
            json!({"price_cents": "cheap"}),
            unprocessable,
            Some("price_cents"),
        ),
        patch(
            "negative price",
            &path,
            json!({"price_cents": -1}),
            unprocessable,
            Some("price_cents"),
        ),
        patch(
            "empty name",
            &path,
            json!({"name": ""}),
            unprocessable,
            Some("name"),
        ),
        patch(
            "long description",
            &path,
            json!({"description": "d".repeat(2001)}),
            unprocessable,
            Some("description"),
        ),
        patch(
            "unknown category",
            &path,
            json!({"category": "spaceships"}),
            unprocessable,
            Some("category"),
        ),
        patch(
            "changing the sku",
            &path,
            json!({"sku": "NEW-SKU"}),
            unprocessable,
            Some("sku"),
        ),
        patch(
            "changing the currency",
            &path,
            json!({"currency": "EUR"}),
            unprocessable,
            Some("currency"),
        ),
        patch(
            "unknown id",
            "/api/catalog/products/01939f1c-0000-7000-8000-000000000000",
            json!({"price_cents": 100}),
            StatusCode::NOT_FOUND,
            None,
        ),
        patch(
            "id that is no uuid",
            "/api/catalog/products/nope",
            json!({"price_cents": 100}),
            StatusCode::NOT_FOUND,
            None,
        ),
    ];
    run(&app, cases).await;
    assert_eq!(app.get_json(&path).await, product, "nothing changed");
}

#[tokio::test]
async fn listing_products_refuses_bad_parameters() {
    let app = spawn_app().await;
    let get = |what, query: &str, field| {
        let path = format!("/api/catalog/products?{query}");
        Refused::get(what, path, StatusCode::UNPROCESSABLE_ENTITY, Some(field))
    };
    let cases = vec![
        get("page 0", "page=0", "page"),
        get("negative page", "page=-1", "page"),
        get("page not a number", "page=two", "page"),
        get("per_page 1000", "per_page=1000", "per_page"),
        get("per_page 0", "per_page=0", "per_page"),
        get("non-numeric min price", "min_price=cheap", "min_price"),
        get("non-numeric max price", "max_price=10.50", "max_price"),
        get("negative min price", "min_price=-5", "min_price"),
        get("min above max", "min_price=5000&max_price=100", "min_price"),
        get("unknown sort", "sort=cheapest", "sort"),
        get("unknown category", "category=spaceships", "category"),
        get("malformed category", "category=Kitchen%20Stuff", "category"),
        get("q too long", &format!("q={}", "a".repeat(101)), "q"),
    ];
    run(&app, cases).await;
}

#[tokio::test]
async fn unknown_products_are_not_found() {
    let app = spawn_app().await;
    for path in [
        "/api/catalog/products/01939f1c-0000-7000-8000-000000000000",
        "/api/catalog/products/not-a-uuid",
        "/api/catalog/products/%20",
    ] {
        assert_problem(app.get(path).await, StatusCode::NOT_FOUND, None, path).await;
        let res = app
            .send(Method::DELETE, path, Some(&app.admin_token), None)
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, None, path).await;
    }
    let res = app.get("/api/catalog/nothing-here").await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "unknown route").await;
    let res = app
        .send(
            Method::PUT,
            "/api/catalog/products",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_problem(
        res,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "PUT on the collection",
    )
    .await;
}
