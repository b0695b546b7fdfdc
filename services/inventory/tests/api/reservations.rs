//! Reservations: units held for checkouts, all or nothing, once per id, committed or
//! released (by the caller or on expiry), never oversold, every change in the ledger and
//! announced, and the API open to Bazaar's services only.

use crate::helpers::{
    RESERVATION_COMMITTED, RESERVATION_HELD, RESERVATION_RELEASED, RESERVATIONS, STOCK_CHANGED,
    TestApp, assert_problem, eventually, ledger_sums, spawn_app,
};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// Asserts every product's ledger adds up to its levels.
async fn assert_ledger_adds_up(app: &TestApp, products: &[&str]) {
    let db = app.db().await;
    for id in products {
        assert_eq!(
            ledger_sums(&db, id).await,
            app.levels(id).await,
            "the ledger of {id} adds up to its levels"
        );
    }
}

/// `(type, subject, data)` of what inventory published after the first `skip` events.
async fn published_since(app: &TestApp, skip: usize) -> Vec<(String, String, Value)> {
    let db = app.db().await;
    app.published(&db)
        .await
        .into_iter()
        .skip(skip)
        .map(|r| (r.kind, r.subject, r.data))
        .collect()
}

async fn published_count(app: &TestApp) -> usize {
    let db = app.db().await;
    app.published(&db).await.len()
}

#[tokio::test]
async fn a_reservation_holds_units_once_and_a_commit_takes_them_for_good() {
    // Arrange
    let app = spawn_app().await;
    let mug = app.stocked_product("RES-MUG", 10).await;
    let pot = app.stocked_product("RES-POT", 5).await;
    let before = published_count(&app).await;
    let body = json!({"reservation_id": "order-1", "items": [
        {"product_id": mug, "quantity": 3}, {"product_id": pot, "quantity": 2}
    ]});

    // Act
    let res = app.reserve(&body).await;

    // Assert: held, with the default time to live, and the units moved.
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        res.headers()[header::LOCATION],
        "/api/inventory/reservations/order-1"
    );
    let held: Value = res.json().await.unwrap();
    assert_eq!(held["reservation_id"], "order-1");
    assert_eq!(held["status"], "held");
    assert_eq!(held["items"], body["items"]);
    assert!(held.get("reason").is_none(), "{held}");
    let created = chrono::DateTime::parse_from_rfc3339(held["created_at"].as_str().unwrap());
    let expires = chrono::DateTime::parse_from_rfc3339(held["expires_at"].as_str().unwrap());
    assert_eq!((expires.unwrap() - created.unwrap()).num_seconds(), 900);
    assert_eq!(app.levels(&mug).await, (7, 3));
    assert_eq!(app.levels(&pot).await, (3, 2));

    // The same id again, even with other items, returns the reservation and holds no more.
    for again in [
        body.clone(),
        json!({"reservation_id": "order-1", "items": [{"product_id": mug, "quantity": 9}]}),
    ] {
        let res = app.reserve(&again).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), held);
    }
    assert_eq!(app.levels(&mug).await, (7, 3));
    let res = app.reservation("order-1").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), held);

    // Commit: the units leave the stock; committing again changes nothing.
    let res = app.settle("order-1", "commit").await;
    assert_eq!(res.status(), StatusCode::OK);
    let committed: Value = res.json().await.unwrap();
    assert_eq!(committed["status"], "committed");
    assert_eq!(committed["items"], body["items"]);
    assert_eq!(app.levels(&mug).await, (7, 0));
    assert_eq!(app.levels(&pot).await, (3, 0));
    let res = app.settle("order-1", "commit").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), committed);

    // A committed reservation cannot be released.
    let res = app.settle("order-1", "release").await;
    let problem = assert_problem(res, StatusCode::CONFLICT, None, "release committed").await;
    assert_eq!(problem["type"], "urn:bazaar:problem:reservation-state");
    assert_eq!(app.levels(&mug).await, (7, 0));

    // Every change was kept and announced, once.
    assert_ledger_adds_up(&app, &[&mug, &pot]).await;
    let kinds: Vec<(String, String, String)> = published_since(&app, before)
        .await
        .into_iter()
        .map(|(kind, subject, data)| {
            let reason = data["reason"].as_str().unwrap_or_default().to_owned();
            (kind, subject, reason)
        })
        .collect();
    // Stock rows are updated in product-id order.
    let (first, second, first_held) = if mug < pot {
        (&mug, &pot, (7, 3))
    } else {
        (&pot, &mug, (3, 2))
    };
    let expected: Vec<(String, String, String)> = [
        (STOCK_CHANGED, first.as_str(), "reserved"),
        (STOCK_CHANGED, second.as_str(), "reserved"),
        (RESERVATION_HELD, "order-1", ""),
        (STOCK_CHANGED, first.as_str(), "committed"),
        (STOCK_CHANGED, second.as_str(), "committed"),
        (RESERVATION_COMMITTED, "order-1", ""),
    ]
    .into_iter()
    .map(|(k, s, r)| (k.to_owned(), s.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(kinds, expected);
    let announced = published_since(&app, before).await;
    assert_eq!(
        announced[2].2,
        json!({"reservation_id": "order-1", "items": body["items"]})
    );
    assert_eq!(
        announced[0].2,
        json!({"product_id": first, "available": first_held.0, "reserved": first_held.1, "reason": "reserved"})
    );
}

#[tokio::test]
async fn a_released_reservation_gives_its_units_back_and_cannot_be_committed() {
    // Arrange
    let app = spawn_app().await;
    let mug = app.stocked_product("REL-MUG", 6).await;
    app.reserve_ok("order-2", &[(&mug, 4)]).await;
    assert_eq!(app.levels(&mug).await, (2, 4));
    let before = published_count(&app).await;

    // Act
    let res = app.settle("order-2", "release").await;

    // Assert
    assert_eq!(res.status(), StatusCode::OK);
    let released: Value = res.json().await.unwrap();
    assert_eq!(released["status"], "released");
    assert_eq!(released["reason"], "requested");
    assert_eq!(app.levels(&mug).await, (6, 0));
    let res = app.settle("order-2", "release").await;
    assert_eq!(res.status(), StatusCode::OK, "releasing again");
    assert_eq!(res.json::<Value>().await.unwrap(), released);
    let res = app.settle("order-2", "commit").await;
    let problem = assert_problem(res, StatusCode::CONFLICT, None, "commit released").await;
    assert_eq!(problem["type"], "urn:bazaar:problem:reservation-state");
    // Reserving again under a released id does not hold anything again.
    let res = app
        .reserve(
            &json!({"reservation_id": "order-2", "items": [{"product_id": mug, "quantity": 4}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "released");
    assert_eq!(app.levels(&mug).await, (6, 0));
    assert!(app.held().await.is_empty(), "nothing left held");

    assert_ledger_adds_up(&app, &[&mug]).await;
    let announced = published_since(&app, before).await;
    assert_eq!(announced.len(), 2, "{announced:?}");
    assert_eq!(
        (announced[0].0.as_str(), &announced[0].2),
        (
            STOCK_CHANGED,
            &json!({"product_id": mug, "available": 6, "reserved": 0, "reason": "released"})
        )
    );
    assert_eq!(
        (announced[1].0.as_str(), &announced[1].2),
        (
            RESERVATION_RELEASED,
            &json!({"reservation_id": "order-2", "items": [{"product_id": mug, "quantity": 4}], "reason": "requested"})
        )
    );

    // Unknown reservations are not found, whatever is asked of them.
    for res in [
        app.settle("no-such-order", "commit").await,
        app.settle("no-such-order", "release").await,
        app.reservation("no-such-order").await,
        app.reservation("not%20an%20id").await,
    ] {
        assert_problem(res, StatusCode::NOT_FOUND, None, "unknown reservation").await;
    }
}

#[tokio::test]
async fn a_short_line_holds_nothing_and_every_line_at_fault_is_named() {
    // Arrange
    let app = spawn_app().await;
    let plenty = app.stocked_product("AON-PLENTY", 10).await;
    let scarce = app.stocked_product("AON-SCARCE", 2).await;
    let gone = app.stocked_product("AON-GONE", 5).await;
    app.announce_deletion(&gone).await;
    app.wait_for_stock(&gone, |s| s["discontinued"] == true)
        .await;
    let unknown = "0193a5c2-0000-7000-8000-00000000beef";
    let before = published_count(&app).await;

    // Act
    let res = app
        .reserve(&json!({"reservation_id": "order-3", "items": [
            {"product_id": plenty, "quantity": 4},
            {"product_id": scarce, "quantity": 3},
            {"product_id": gone, "quantity": 1},
            {"product_id": unknown, "quantity": 1},
        ]}))
        .await;

    // Assert
    let problem = assert_problem(res, StatusCode::CONFLICT, None, "short").await;
    assert_eq!(problem["type"], "urn:bazaar:problem:insufficient-stock");
    let errors: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(errors.len(), 3, "{problem}");
    assert_eq!(errors[0], ("items[1].quantity", "only 2 left"));
    assert_eq!(errors[1].0, "items[2].product_id");
    assert!(errors[1].1.contains("discontinued"), "{problem}");
    assert_eq!(errors[2].0, "items[3].product_id");
    assert_eq!(app.levels(&plenty).await, (10, 0), "nothing was held");
    assert_eq!(app.levels(&scarce).await, (2, 0));
    assert_eq!(published_count(&app).await, before, "nothing was announced");
    let res = app.reservation("order-3").await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "no reservation was made").await;

    // The same id can then hold what there is.
    app.reserve_ok("order-3", &[(&plenty, 4), (&scarce, 2)])
        .await;
    assert_eq!(app.levels(&scarce).await, (0, 2));
    assert_ledger_adds_up(&app, &[&plenty, &scarce]).await;
}

#[tokio::test]
async fn concurrent_reservations_never_oversell() {
    // Arrange
    let app = spawn_app().await;
    let hot = app.stocked_product("HOT-1", 10).await;

    // Act: 50 checkouts of one unit each, at once.
    let attempts = (0..50).map(|i| {
        let body = json!({"reservation_id": format!("rush-{i}"), "items": [{"product_id": hot, "quantity": 1}]});
        let app = &app;
        async move { app.reserve(&body).await }
    });
    let answers = join_all(attempts).await;

    // Assert
    let mut held = 0;
    for res in answers {
        match res.status() {
            StatusCode::CREATED => held += 1,
            _ => {
                let problem = assert_problem(
                    res,
                    StatusCode::CONFLICT,
                    Some("items[0].quantity"),
                    "sold out",
                )
                .await;
                assert_eq!(problem["type"], "urn:bazaar:problem:insufficient-stock");
            }
        }
    }
    assert_eq!(held, 10, "exactly the stock was held");
    assert_eq!(app.levels(&hot).await, (0, 10));
    assert_eq!(app.held().await.len(), 10);
    assert_ledger_adds_up(&app, &[&hot]).await;
    for (kind, _, data) in published_since(&app, 0).await {
        if kind == STOCK_CHANGED {
            assert!(data["available"].as_i64().unwrap() >= 0, "{data}");
        }
    }
}

#[tokio::test]
async fn a_reservation_left_alone_expires_and_gives_its_units_back() {
    // Arrange
    let app = spawn_app().await;
    let mug = app.stocked_product("EXP-MUG", 3).await;

    // Act
    let res = app
        .reserve(&json!({"reservation_id": "order-4", "ttl_secs": 1,
            "items": [{"product_id": mug, "quantity": 2}]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.levels(&mug).await, (1, 2));

    // Assert: the worker releases it soon after its time.
    let expired = eventually("the reservation to expire", async || {
        let r: Value = app.reservation("order-4").await.json().await.ok()?;
        (r["status"] == "released").then_some(r)
    })
    .await;
    assert_eq!(expired["reason"], "expired");
    assert_eq!(app.levels(&mug).await, (3, 0));
    assert!(app.held().await.is_empty());
    let res = app.settle("order-4", "commit").await;
    assert_problem(res, StatusCode::CONFLICT, None, "commit expired").await;
    let db = app.db().await;
    let reasons: Vec<String> = crate::helpers::movements(&db, &mug)
        .await
        .into_iter()
        .map(|m| m.reason)
        .collect();
    assert_eq!(reasons, ["initial", "reserved", "expired"]);
    let released = published_since(&app, 0)
        .await
        .into_iter()
        .find(|(kind, _, _)| kind == RESERVATION_RELEASED)
        .expect("reservation.released was announced");
    assert_eq!(released.2["reason"], "expired");
}

#[tokio::test]
async fn only_the_checkout_saga_uses_reservations() {
    // Arrange
    let app = spawn_app().await;
    let mug = app.stocked_product("AUTH-MUG", 3).await;
    app.reserve_ok("order-5", &[(&mug, 1)]).await;
    let body = json!({"reservation_id": "order-6", "items": [{"product_id": mug, "quantity": 1}]});
    let requests: [(Method, String, Option<&Value>); 5] = [
        (Method::POST, RESERVATIONS.to_owned(), Some(&body)),
        (Method::GET, format!("{RESERVATIONS}?status=held"), None),
        (Method::GET, format!("{RESERVATIONS}/order-5"), None),
        (Method::POST, format!("{RESERVATIONS}/order-5/commit"), None),
        (
            Method::POST,
            format!("{RESERVATIONS}/order-5/release"),
            None,
        ),
    ];
    // Only the checkout saga (orders) holds stock: not any other service, nor an
    // administrator (a service credential only, as the outside contract has it).
    let storefront = identity::testing::shared().service_token("storefront");
    let callers: [(Option<&str>, StatusCode, &str); 5] = [
        (None, StatusCode::UNAUTHORIZED, "no token"),
        (Some("garbage"), StatusCode::UNAUTHORIZED, "garbage token"),
        (Some(&app.customer_token), StatusCode::FORBIDDEN, "customer"),
        (
            Some(&app.admin_token),
            StatusCode::FORBIDDEN,
            "administrator",
        ),
        (Some(&storefront), StatusCode::FORBIDDEN, "another service"),
    ];

    for (method, path, body) in &requests {
        for (token, status, who) in callers {
            // Act
            let res = app.send(method.clone(), path, token, *body).await;

            // Assert
            assert_problem(res, status, None, &format!("{who}: {method} {path}")).await;
        }
    }
    assert_eq!(app.levels(&mug).await, (2, 1), "nothing changed");
    let res = app.reservation("order-6").await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "not made").await;
}
