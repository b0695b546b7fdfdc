//! Bad input, endpoint by endpoint: every case answers a problem document with the right
//! status, naming the field at fault where there is one, and changes nothing.

use crate::helpers::{RESERVATIONS, TestApp, spawn_app};
use platform::testing::Refused;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Sends each case as `token`'s holder: the administrator for stock, the orders service
/// for reservations.
async fn run(app: &TestApp, token: &str, cases: Vec<Refused>) {
    let db = app.db().await;
    let published = app.published(&db).await.len();
    for case in cases {
        app.assert_refused(Some(token), case).await;
    }
    assert_eq!(
        app.published(&db).await.len(),
        published,
        "a refused request recorded a change"
    );
}

#[tokio::test]
async fn setting_a_level_refuses_bad_input() {
    // Arrange
    let app = spawn_app().await;
    let (id, level, path) = app.seeded_product().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let put = |what, body: Value, status, field| {
        Refused::json(what, Method::PUT, &path, &body, status, field)
    };
    let cases = vec![
        Refused {
            body: br#"{"available": "#.to_vec(),
            ..put("malformed JSON", json!({}), StatusCode::BAD_REQUEST, None)
        },
        Refused {
            body: br#"{"available": 5} trailing"#.to_vec(),
            ..put("trailing garbage", json!({}), StatusCode::BAD_REQUEST, None)
        },
        put(
            "not an object",
            json!("just text"),
            unprocessable,
            Some("body"),
        ),
        put(
            "missing available",
            json!({}),
            unprocessable,
            Some("available"),
        ),
        put(
            "available is null",
            json!({"available": null}),
            unprocessable,
            Some("available"),
        ),
        put(
            "available as a string",
            json!({"available": "ten"}),
            unprocessable,
            Some("available"),
        ),
        put(
            "available as a numeric string",
            json!({"available": "10"}),
            unprocessable,
            Some("available"),
        ),
        put(
            "available as a fraction",
            json!({"available": 1.5}),
            unprocessable,
            Some("available"),
        ),
        put(
            "negative available",
            json!({"available": -1}),
            unprocessable,
            Some("available"),
        ),
        put(
            "available too large",
            json!({"available": 1_000_001}),
            unprocessable,
            Some("available"),
        ),
        put(
            "available beyond 64 bits",
            json!({"available": 1e30}),
            unprocessable,
            Some("available"),
        ),
        Refused {
            content_type: "text/plain",
            ..put(
                "not JSON",
                json!({"available": 5}),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
            )
        },
        put(
            "oversized body",
            json!({"available": 5, "padding": "x".repeat(300 * 1024)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        Refused {
            path: "/api/inventory/01939f1c-0000-7000-8000-000000000000".into(),
            ..put(
                "unknown product",
                json!({"available": 5}),
                StatusCode::NOT_FOUND,
                None,
            )
        },
        Refused {
            path: "/api/inventory/not%20an%20id".into(),
            ..put(
                "an id no product can have",
                json!({"available": 5}),
                StatusCode::NOT_FOUND,
                None,
            )
        },
        Refused {
            path: "/api/inventory".into(),
            ..put(
                "PUT on the collection",
                json!({"available": 5}),
                StatusCode::METHOD_NOT_ALLOWED,
                None,
            )
        },
    ];

    // Act / Assert
    run(&app, &app.admin_token, cases).await;
    assert_eq!(app.stock(&id).await.unwrap()["available"], level);
}

#[tokio::test]
async fn reading_stock_refuses_bad_parameters() {
    let app = spawn_app().await;
    app.wait_for_seed().await;
    let get = Refused::get;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let list = |what, query: &str| {
        get(
            what,
            format!("/api/inventory{query}"),
            unprocessable,
            Some("product_ids"),
        )
    };
    let too_many = (0..101)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let cases = vec![
        list("no product_ids", ""),
        list("empty product_ids", "?product_ids="),
        list("blank product_ids", "?product_ids=%20%20"),
        list("an empty entry", "?product_ids=a,,b"),
        list("a trailing comma", "?product_ids=a,"),
        list("a malformed id", "?product_ids=a,b%2Fc"),
        list(
            "an id too long",
            &format!("?product_ids={}", "x".repeat(65)),
        ),
        list("101 ids", &format!("?product_ids={too_many}")),
        get(
            "unknown product",
            "/api/inventory/01939f1c-0000-7000-8000-000000000000".into(),
            StatusCode::NOT_FOUND,
            None,
        ),
        get(
            "an id no product can have",
            "/api/inventory/%20".into(),
            StatusCode::NOT_FOUND,
            None,
        ),
        get(
            "unknown route",
            "/api/inventory/a/b/c".into(),
            StatusCode::NOT_FOUND,
            None,
        ),
    ];
    run(&app, &app.admin_token, cases).await;
}

#[tokio::test]
async fn reserving_refuses_bad_input_and_holds_nothing() {
    // Arrange
    let app = spawn_app().await;
    let id = app.stocked_product("BAD-RES", 5).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let post = |what, body: Value, status, field| {
        Refused::json(what, Method::POST, RESERVATIONS, &body, status, field)
    };
    let line = |quantity: Value| json!({"reservation_id": "r-1", "items": [{"product_id": id, "quantity": quantity}]});
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"product_id": format!("p{i}"), "quantity": 1}))
        .collect();
    let cases = vec![
        Refused {
            body: br#"{"reservation_id": "r-1", "items": ["#.to_vec(),
            ..post("malformed JSON", json!({}), StatusCode::BAD_REQUEST, None)
        },
        post(
            "not an object",
            json!("just text"),
            unprocessable,
            Some("body"),
        ),
        post(
            "missing reservation_id",
            json!({"items": [{"product_id": id, "quantity": 1}]}),
            unprocessable,
            Some("reservation_id"),
        ),
        post(
            "empty reservation_id",
            json!({"reservation_id": "", "items": [{"product_id": id, "quantity": 1}]}),
            unprocessable,
            Some("reservation_id"),
        ),
        post(
            "reservation_id with a slash",
            json!({"reservation_id": "a/b", "items": [{"product_id": id, "quantity": 1}]}),
            unprocessable,
            Some("reservation_id"),
        ),
        post(
            "reservation_id as a number",
            json!({"reservation_id": 7, "items": [{"product_id": id, "quantity": 1}]}),
            unprocessable,
            Some("reservation_id"),
        ),
        post(
            "missing items",
            json!({"reservation_id": "r-1"}),
            unprocessable,
            Some("items"),
        ),
        post(
            "empty items",
            json!({"reservation_id": "r-1", "items": []}),
            unprocessable,
            Some("items"),
        ),
        post(
            "items not a list",
            json!({"reservation_id": "r-1", "items": {"product_id": id}}),
            unprocessable,
            Some("items"),
        ),
        post(
            "101 lines",
            json!({"reservation_id": "r-1", "items": too_many}),
            unprocessable,
            Some("items"),
        ),
        post(
            "quantity 0",
            line(json!(0)),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "negative quantity",
            line(json!(-2)),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "huge quantity",
            line(json!(10_001)),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "quantity beyond 64 bits",
            line(json!(1e30)),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "fractional quantity",
            line(json!(1.5)),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "quantity as a string",
            line(json!("2")),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "missing quantity",
            json!({"reservation_id": "r-1", "items": [{"product_id": id}]}),
            unprocessable,
            Some("items[0].quantity"),
        ),
        post(
            "missing product_id",
            json!({"reservation_id": "r-1", "items": [{"quantity": 1}]}),
            unprocessable,
            Some("items[0].product_id"),
        ),
        post(
            "malformed product_id",
            json!({"reservation_id": "r-1", "items": [{"product_id": "a b", "quantity": 1}]}),
            unprocessable,
            Some("items[0].product_id"),
        ),
        post(
            "the same product twice",
            json!({"reservation_id": "r-1", "items": [
                {"product_id": id, "quantity": 1}, {"product_id": id, "quantity": 2}
            ]}),
            unprocessable,
            Some("items[1].product_id"),
        ),
        post(
            "ttl_secs 0",
            json!({"reservation_id": "r-1", "ttl_secs": 0, "items": [{"product_id": id, "quantity": 1}]}),
            unprocessable,
            Some("ttl_secs"),
        ),
        post(
            "ttl_secs over a day",
            json!({"reservation_id": "r-1", "ttl_secs": 86_401, "items": [{"product_id": id, "quantity": 1}]}),
            unprocessable,
            Some("ttl_secs"),
        ),
        Refused {
            content_type: "text/plain",
            ..post(
                "not JSON",
                line(json!(1)),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
            )
        },
        post(
            "oversized body",
            json!({"reservation_id": "r-1", "items": [], "padding": "x".repeat(300 * 1024)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        Refused {
            path: format!("{RESERVATIONS}/r-1"),
            ..post(
                "POST on a reservation",
                line(json!(1)),
                StatusCode::METHOD_NOT_ALLOWED,
                None,
            )
        },
        Refused {
            method: Method::GET,
            path: format!("{RESERVATIONS}?status=expired"),
            ..post(
                "listing an unknown state",
                json!({}),
                unprocessable,
                Some("status"),
            )
        },
        Refused {
            method: Method::GET,
            path: format!("{RESERVATIONS}?limit=0"),
            ..post("listing none", json!({}), unprocessable, Some("limit"))
        },
        Refused {
            method: Method::GET,
            path: format!("{RESERVATIONS}?limit=many"),
            ..post(
                "a limit that is no number",
                json!({}),
                unprocessable,
                Some("limit"),
            )
        },
    ];

    // Act / Assert
    run(&app, &app.service_token, cases).await;
    assert_eq!(app.levels(&id).await, (5, 0), "nothing was held");
    assert!(app.held().await.is_empty());
}
