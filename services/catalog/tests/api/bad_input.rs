//! Bad input, endpoint by endpoint: every case answers a problem document with the right
//! status, naming the field at fault where there is one.

use crate::helpers::{TestApp, assert_problem, new_product, spawn_app};
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

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    field: Option<&'static str>,
}

async fn run(app: &TestApp, cases: Vec<Case>) {
    let before = app.outbox().await.len();
    for case in cases {
        let res = if case.method == Method::GET {
            app.get(&case.path).await
        } else {
            app.send_raw(
                case.method.clone(),
                &case.path,
                Some(&app.admin_token),
                case.content_type,
                case.body,
            )
            .await
        };
        assert_problem(res, case.status, case.field, case.what).await;
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
    let post = |what, body: Vec<u8>, status, field| Case {
        what,
        method: Method::POST,
        path: "/api/catalog/products".into(),
        content_type: json_ct,
        body,
        status,
        field,
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = vec![
        post(
            "malformed JSON",
            br#"{"sku": "#.to_vec(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        post(
            "not an object",
            br#""just text""#.to_vec(),
            unprocessable,
            Some("body"),
        ),
        post(
            "missing sku",
            product_with("sku", None),
            unprocessable,
            Some("sku"),
        ),
        post(
            "missing name",
            product_with("name", None),
            unprocessable,
            Some("name"),
        ),
        post(
            "missing price",
            product_with("price_cents", None),
            unprocessable,
            Some("price_cents"),
        ),
        post(
            "missing category",
            product_with("category", None),
            unprocessable,
            Some("category"),
        ),
        post(
            "price as a string",
            product_with("price_cents", Some(json!("49.99"))),
            unprocessable,
            Some("price_cents"),
        ),
        post(
            "price as a fraction",
            product_with("price_cents", Some(json!(49.5))),
            unprocessable,
            Some("price_cents"),
        ),
        post(
            "zero price",
            product_with("price_cents", Some(json!(0))),
            unprocessable,
            Some("price_cents"),
        ),
        post(
            "negative price",
            product_with("price_cents", Some(json!(-100))),
            unprocessable,
            Some("price_cents"),
        ),
        post(
            "price too high",
            product_with("price_cents", Some(json!(100_000_001))),
            unprocessable,
            Some("price_cents"),
        ),
        post(
            "lower-case sku",
            product_with("sku", Some(json!("kit-1"))),
            unprocessable,
            Some("sku"),
        ),
        post(
            "short sku",
            product_with("sku", Some(json!("AB"))),
            unprocessable,
            Some("sku"),
        ),
        post(
            "long sku",
            product_with("sku", Some(json!("X".repeat(33)))),
            unprocessable,
            Some("sku"),
        ),
        post(
            "sku with a space",
            product_with("sku", Some(json!("KIT 1"))),
            unprocessable,
            Some("sku"),
        ),
        post(
            "sku as a number",
            product_with("sku", Some(json!(12345))),
            unprocessable,
            Some("sku"),
        ),
        post(
            "empty name",
            product_with("name", Some(json!("   "))),
            unprocessable,
            Some("name"),
        ),
        post(
            "long name",
            product_with("name", Some(json!("n".repeat(121)))),
            unprocessable,
            Some("name"),
        ),
        post(
            "long description",
            product_with("description", Some(json!("d".repeat(2001)))),
            unprocessable,
            Some("description"),
        ),
        post(
            "lower-case currency",
            product_with("currency", Some(json!("usd"))),
            unprocessable,
            Some("currency"),
        ),
        post(
            "four-letter currency",
            product_with("currency", Some(json!("USDT"))),
            unprocessable,
            Some("currency"),
        ),
        post(
            "currency as a number",
            product_with("currency", Some(json!(840))),
            unprocessable,
            Some("currency"),
        ),
        post(
            "unknown category",
            product_with("category", Some(json!("spaceships"))),
            unprocessable,
            Some("category"),
        ),
        post(
            "malformed category",
            product_with("category", Some(json!("Kitchen Stuff"))),
            unprocessable,
            Some("category"),
        ),
        post(
            "negative stock",
            product_with("initial_stock", Some(json!(-1))),
            unprocessable,
            Some("initial_stock"),
        ),
        post(
            "huge stock",
            product_with("initial_stock", Some(json!(5_000_000))),
            unprocessable,
            Some("initial_stock"),
        ),
        Case {
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
    let product = app.create_product(&new_product("PATCH-BAD")).await;
    let path = format!("/api/catalog/products/{}", product["id"].as_str().unwrap());
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let patch = |what, path: &str, body: Value, status, field| Case {
        what,
        method: Method::PATCH,
        path: path.to_owned(),
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
        status,
        field,
    };
    let cases = vec![
        Case {
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
    let get = |what, query: &str, field| Case {
        what,
        method: Method::GET,
        path: format!("/api/catalog/products?{query}"),
        content_type: "",
        body: Vec::new(),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: Some(field),
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
