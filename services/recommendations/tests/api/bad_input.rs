//! Bad input, endpoint by endpoint: every case answers a problem document with the right
//! status, naming the field at fault where there is one; an event that makes no sense is
//! set aside without holding up the ones behind it.

use crate::helpers::{
    ORDER_CONFIRMED, TestApp, assert_problem, identity, ids, order_confirmed, spawn_app,
};
use events::{Event, Outcome};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

struct Case {
    what: String,
    path: String,
    auth: Option<String>,
    status: StatusCode,
    field: Option<&'static str>,
}

async fn run(app: &TestApp, cases: Vec<Case>) {
    for case in cases {
        let mut req = app.client.get(app.url(&case.path));
        if let Some(auth) = &case.auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let res = req.send().await.expect("request sent");
        assert_problem(res, case.status, case.field, &case.what).await;
    }
}

#[tokio::test]
async fn bad_limits_unknown_products_and_missing_tokens_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let product = app.seed[0].id.clone();
    let bearer = format!("Bearer {}", identity().shopper.token);
    let bad_limits = [
        ("0", "zero"),
        ("21", "above 20"),
        ("-1", "negative"),
        ("abc", "not a number"),
        ("1.5", "a fraction"),
        ("", "empty"),
        ("99999999999999999999", "beyond 64 bits"),
    ];
    let mut cases = Vec::new();
    for (limit, why) in bad_limits {
        cases.push(Case {
            what: format!("products: limit {why}"),
            path: format!("/api/recommendations/products/{product}?limit={limit}"),
            auth: None,
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some("limit"),
        });
        cases.push(Case {
            what: format!("me: limit {why}"),
            path: format!("/api/recommendations/me?limit={limit}"),
            auth: Some(bearer.clone()),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some("limit"),
        });
    }
    let not_found = |what: &str, path: &str| Case {
        what: what.to_owned(),
        path: path.to_owned(),
        auth: None,
        status: StatusCode::NOT_FOUND,
        field: None,
    };
    cases.extend([
        not_found(
            "unknown product",
            "/api/recommendations/products/01939f1c-0000-7000-8000-000000000000",
        ),
        not_found(
            "an id no product can have",
            "/api/recommendations/products/not%20an%20id",
        ),
        not_found("unknown route", "/api/recommendations/nothing/here"),
    ]);
    let unauthorized = |what: &str, auth: Option<&str>| Case {
        what: what.to_owned(),
        path: "/api/recommendations/me".to_owned(),
        auth: auth.map(str::to_owned),
        status: StatusCode::UNAUTHORIZED,
        field: None,
    };
    cases.extend([
        unauthorized("me without a token", None),
        unauthorized("me with a malformed token", Some("Bearer not-a-jwt")),
        unauthorized("me with another scheme", Some("Basic c2FtOnNlY3JldA==")),
    ]);

    // Act / Assert
    run(&app, cases).await;

    // The bounds themselves are fine.
    for limit in [1, 20] {
        let items = app.for_product(&product, Some(limit)).await;
        assert_eq!(items.len(), limit as usize);
        let mine = app.for_me(&identity().shopper.token, Some(limit)).await;
        assert_eq!(mine.len(), limit as usize);
    }
    let res = app
        .client
        .post(app.url("/api/recommendations/me"))
        .bearer_auth(&identity().shopper.token)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, None, "POST on me").await;
}

#[tokio::test]
async fn an_order_that_makes_no_sense_is_set_aside_and_the_next_one_counts() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = (app.seed[0].id.clone(), app.seed[1].id.clone());
    let order_id = uuid::Uuid::now_v7().to_string();
    let poison = Event::new(
        "orders",
        ORDER_CONFIRMED,
        order_id.as_str(),
        json!({
            "order_id": order_id, "user_id": "u-1", "confirmed_at": events::now_rfc3339(),
            "items": [{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 0}]
        }),
    )
    .unwrap();

    // Act
    let poisoned = app.deliver(&poison).await;
    let good = app.deliver(&order_confirmed("u-1", &[&a, &b])).await;

    // Assert: set aside at once, naming the line at fault; the next order counts.
    assert_eq!(poisoned, Outcome::DeadLettered);
    assert_eq!(good, Outcome::Handled);
    let items = app.for_product(&a, Some(1)).await;
    assert_eq!(ids(&items), [b.as_str()]);
    assert_eq!(items[0]["reason"], "bought_together");

    // Operators see it; nobody else does.
    let path = "/api/recommendations/events/dead-letters";
    let listed: Value = app.get_json(path, Some(&identity().admin_token)).await;
    let letters = listed["items"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    assert_eq!(letters[0]["event_id"], poison.id.as_str());
    let error = letters[0]["error"].as_str().unwrap();
    assert!(error.contains("items[1].quantity"), "{error}");
    let customer = app.get(path, Some(&identity().shopper.token)).await;
    assert_problem(customer, StatusCode::FORBIDDEN, None, "a customer").await;
    let nobody = app.get(path, None).await;
    assert_problem(nobody, StatusCode::UNAUTHORIZED, None, "no token").await;
}
