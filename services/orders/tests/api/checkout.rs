//! Checkouts end to end: the happy path through every service, and each way a checkout
//! fails, which must cancel the order, give the stock back and charge nothing.

use crate::helpers::{
    DECLINED_CARD, FLAKY_CARD, GOOD_CARD, NO_FUNDS_CARD, ORDER_CANCELLED, ORDER_CONFIRMED,
    ORDER_PLACED, assert_problem, checkout_body, new_key, next_year, spawn_app, spawn_app_with,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

#[tokio::test]
async fn a_checkout_reserves_charges_confirms_and_empties_the_cart() {
    // Arrange
    let app = spawn_app().await;
    let (shopper, stranger) = tokio::join!(app.shopper(), app.shopper());
    let (mug, pan) = tokio::join!(app.product(1299, 10), app.product(4500, 3));
    app.fill_cart(&shopper, &[(&mug, 2), (&pan, 1)]).await;

    // Act
    let res = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;

    // Assert: the answer.
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let order: Value = res.json().await.unwrap();
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/orders/{id}"));
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["total_cents"], 2 * 1299 + 4500);
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["items"][0]["product_id"], mug.as_str());
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(order["items"][0]["line_total_cents"], 2598);
    assert_eq!(order["shipping_address"]["country"], "US");
    assert!(order["created_at"].is_string());

    // The stock left inventory for good, the payment was captured.
    assert_eq!(app.stock(&mug).await, Some((8, 0)));
    assert_eq!(app.stock(&pan).await, Some((2, 0)));
    assert_eq!(app.reservation(&id).await["status"], "committed");
    app.assert_ledger(&[
        ("authorized_cents", 7098),
        ("captured_cents", 7098),
        ("voided_cents", 0),
    ])
    .await;

    // The checkout took its lines out of the cart before it answered.
    let cart = app.cart_of(&shopper).await;
    assert_eq!(cart["items"], serde_json::json!([]), "{cart}");

    // The order is the shopper's to see, and only theirs.
    let listed = app.orders_of(&shopper).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(
        (listed["page"].clone(), listed["per_page"].clone()),
        (1.into(), 20.into())
    );
    let fetched = app.order(&shopper, &id).await;
    assert_eq!(fetched["status"], "confirmed");
    assert_eq!(fetched["items"], order["items"]);
    let theirs = app
        .get(&format!("/api/orders/{id}"), Some(&stranger.token))
        .await;
    assert_problem(theirs, StatusCode::NOT_FOUND, None, "another user's order").await;
    let their_list = app.orders_of(&stranger).await;
    assert_eq!(their_list["total"], 0);

    // Placing and confirming were announced, with the contract's payloads.
    let db = app.db().await;
    let events = app.published(&db, &id).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, [ORDER_PLACED, ORDER_CONFIRMED]);
    let confirmed = &events[1].1;
    assert_eq!(confirmed["user_id"], shopper.id.as_str());
    assert_eq!(confirmed["user_email"], shopper.email.as_str());
    assert_eq!(confirmed["total_cents"], 7098);
    assert_eq!(confirmed["items"][1]["product_id"], pan.as_str());
    assert!(confirmed["confirmed_at"].is_string());
}

/// Each write of an order's state is a synced commit on orders' one database connection:
/// a checkout makes no more of them than recovery needs. Placed, then `authorizing`
/// before the payment is asked for (so that recovery voids what it may have authorised),
/// the pivot, and the end; the reservation and the commit-and-capture are made again by
/// whoever carries a stopped checkout on, so they need no write before or between them.
#[tokio::test]
async fn a_checkout_writes_its_order_four_times_whether_confirmed_or_declined() {
    // Arrange
    let app = spawn_app().await;
    let product = app.product(1500, 10).await;
    let (buyer, declined) = tokio::join!(app.shopper(), app.shopper());
    app.add_to_cart(&buyer, &product, 1).await;
    app.add_to_cart(&declined, &product, 1).await;

    // Act
    let bought = app
        .checkout(&buyer, &new_key(), &checkout_body(GOOD_CARD))
        .await;
    let refused = app
        .checkout(&declined, &new_key(), &checkout_body(DECLINED_CARD))
        .await;

    // Assert
    assert_eq!(bought.status(), StatusCode::CREATED);
    let bought: Value = bought.json().await.unwrap();
    let problem = assert_problem(refused, StatusCode::PAYMENT_REQUIRED, None, "declined").await;
    assert_eq!(
        app.saga_writes(bought["id"].as_str().unwrap()).await,
        [
            "placed → pending @ reserve",
            "pending → authorizing @ authorize",
            "authorizing → confirming @ commit",
            "confirming → confirmed @ done",
        ]
    );
    assert_eq!(
        app.saga_writes(problem["order_id"].as_str().unwrap()).await,
        [
            "placed → pending @ reserve",
            "pending → authorizing @ authorize",
            "authorizing → compensating @ void",
            "compensating → cancelled @ done",
        ]
    );
    assert_eq!(app.stock(&product).await, Some((9, 0)));
    app.assert_ledger(&[("captured_cents", 1500), ("voided_cents", 0)])
        .await;
}

/// A shopper who filled a cart before signing in and checks out at once, without looking
/// at the cart signed in, buys what they chose: the anonymous cart their cookie names is
/// merged as the checkout reads the cart (the contract: merged at sign-in).
#[tokio::test]
async fn a_cart_filled_before_signing_in_is_bought_by_the_first_checkout() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let (mug, pan) = tokio::join!(app.product(1299, 10), app.product(4500, 3));
    let cookie = app.add_anonymously(&mug, 2).await;
    app.add_to_cart(&shopper, &pan, 1).await;

    let res = app
        .client
        .post(app.url("/api/orders/checkout"))
        .bearer_auth(&shopper.token)
        .header("Idempotency-Key", new_key())
        .header(header::COOKIE, format!("theme=dark; {cookie}"))
        .json(&checkout_body(GOOD_CARD))
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), StatusCode::CREATED);
    let order: Value = res.json().await.unwrap();
    assert_eq!(order["total_cents"], 2 * 1299 + 4500, "{order}");
    assert_eq!(app.stock(&mug).await, Some((8, 0)));
    let cart = app.cart_of(&shopper).await;
    assert_eq!(cart["items"], json!([]), "{cart}");
}

#[tokio::test]
async fn failed_payments_cancel_the_order_release_the_stock_and_charge_nothing() {
    // No time to resume a checkout payments failed: the flaky card is cancelled at once
    // (tests/api/outage.rs has the checkouts that wait for a retry).
    let app = spawn_app_with(&[("checkout_resumable_ms", "0")]).await;
    let product = app.product(2500, 4).await;
    // (card, exp_month, status, problem type, decline code, field named, reason)
    let cases = [
        (
            DECLINED_CARD,
            12,
            StatusCode::PAYMENT_REQUIRED,
            "card-declined",
            Some("card_declined"),
            None,
            "payment_declined",
        ),
        (
            NO_FUNDS_CARD,
            12,
            StatusCode::PAYMENT_REQUIRED,
            "card-declined",
            Some("insufficient_funds"),
            None,
            "payment_declined",
        ),
        (
            FLAKY_CARD,
            12,
            StatusCode::SERVICE_UNAVAILABLE,
            "payment-unavailable",
            None,
            None,
            "payment_error",
        ),
    ];
    for (card, exp_month, status, kind, decline_code, field, reason) in cases {
        // Arrange
        let case = format!("card {card} expiring {exp_month}");
        let shopper = app.shopper().await;
        app.add_to_cart(&shopper, &product, 3).await;
        let mut body = checkout_body(card);
        body["payment"]["exp_month"] = exp_month.into();

        // Act
        let res = app.checkout(&shopper, &new_key(), &body).await;

        // Assert
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(res.headers().contains_key(header::RETRY_AFTER), "{case}");
        }
        let problem = assert_problem(res, status, field, &case).await;
        assert_eq!(
            problem["type"],
            format!("urn:bazaar:problem:{kind}"),
            "{case}: {problem}"
        );
        assert_eq!(
            problem["decline_code"].as_str(),
            decline_code,
            "{case}: {problem}"
        );
        let id = problem["order_id"].as_str().expect("the order is named");
        let order = app.order(&shopper, id).await;
        assert_eq!(order["status"], "cancelled", "{case}");
        assert_eq!(order["cancel_reason"], reason, "{case}");
        assert_eq!(
            app.stock(&product).await,
            Some((4, 0)),
            "{case}: stock back"
        );
        assert_eq!(app.reservation(id).await["status"], "released", "{case}");
        let kinds = app.published_types(id).await;
        assert_eq!(kinds, [ORDER_PLACED, ORDER_CANCELLED], "{case}");
        // The cart is as it was before the answer, for another try.
        let cart = app.cart_of(&shopper).await;
        assert_eq!(cart["items"][0]["quantity"], 3, "{case}: {cart}");
    }
    app.assert_ledger(&[("authorized_cents", 0), ("captured_cents", 0)])
        .await;
    assert!(app.held_reservations().await.is_empty());
}

#[tokio::test]
async fn a_mistyped_card_is_refused_before_any_order_is_made() {
    let app = spawn_app().await;
    let product = app.product(2500, 4).await;
    let shopper = app.shopper().await;
    app.add_to_cart(&shopper, &product, 3).await;
    let db = app.db().await;
    let amex = "378282246310005";
    // (what is wrong, the field, the payment's fields changed)
    let cases = [
        ("a short code", "payment.cvc", json!({"cvc": "12"})),
        (
            "an Amex's code of 3 digits",
            "payment.cvc",
            json!({"card_number": amex, "cvc": "123"}),
        ),
        ("month 13", "payment.exp_month", json!({"exp_month": 13})),
        (
            "a two-digit year",
            "payment.exp_year",
            json!({"exp_year": 26}),
        ),
        (
            "last year",
            "payment.exp_year",
            json!({"exp_year": next_year() - 2}),
        ),
        (
            "a wrong check digit",
            "payment.card_number",
            json!({"card_number": "4242424242424241"}),
        ),
    ];
    for (case, field, changes) in cases {
        let mut body = checkout_body(GOOD_CARD);
        for (k, v) in changes.as_object().unwrap() {
            body["payment"][k] = v.clone();
        }

        let res = app.checkout(&shopper, &new_key(), &body).await;

        let problem =
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, Some(field), case).await;
        assert!(problem.get("order_id").is_none(), "{case}: {problem}");
    }
    // No order, no hold, no message to send: the shopper corrects the form and pays.
    assert_eq!(app.order_count(&db).await, 0);
    assert_eq!(app.orders_of(&shopper).await["items"], json!([]));
    assert_eq!(app.stock(&product).await, Some((4, 0)));
    assert!(app.held_reservations().await.is_empty());
    assert_eq!(app.cart_of(&shopper).await["items"][0]["quantity"], 3);
    let res = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_price_changed_since_the_total_was_shown_is_told_before_anything_is_charged() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let kettle = app.product(1000, 10).await;
    app.fill_cart(&shopper, &[(&kettle, 2)]).await;
    let shown = app.cart_of(&shopper).await["total_cents"].clone();
    assert_eq!(shown, 2000);
    // An admin raises the price while the shopper looks at the checkout page.
    app.reprice(&shopper, &kettle, 1500).await;

    let mut body = checkout_body(GOOD_CARD);
    body["expected_total_cents"] = shown;
    let res = app.checkout(&shopper, &new_key(), &body).await;
    let problem = assert_problem(
        res,
        StatusCode::CONFLICT,
        Some("expected_total_cents"),
        "price changed",
    )
    .await;
    assert_eq!(problem["type"], "urn:bazaar:problem:price-changed");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("now 3000") && detail.contains("not 2000"),
        "{detail}"
    );
    assert_eq!(
        app.orders_of(&shopper).await["total"],
        0,
        "no order was placed"
    );
    assert_eq!(app.stock(&kettle).await, Some((10, 0)), "nothing reserved");
    assert_eq!(app.ledger().await["count"], 0, "nothing charged");

    // Agreeing to the new total buys at it; a checkout that names no total, at the
    // cart's prices as ever.
    body["expected_total_cents"] = json!(3000);
    let res = app.checkout(&shopper, &new_key(), &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let order: Value = res.json().await.unwrap();
    assert_eq!(order["total_cents"], 3000, "{order}");
}

#[tokio::test]
async fn a_stock_shortage_cancels_the_order_and_holds_nothing() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let (plenty, scarce) = tokio::join!(app.product(1000, 50), app.product(1000, 2));
    app.fill_cart(&shopper, &[(&plenty, 5), (&scarce, 3)]).await;

    let res = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;

    let problem = assert_problem(
        res,
        StatusCode::CONFLICT,
        Some("cart.items[1].quantity"),
        "stock short",
    )
    .await;
    assert_eq!(problem["type"], "urn:bazaar:problem:insufficient-stock");
    let id = problem["order_id"].as_str().unwrap();
    let order = app.order(&shopper, id).await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["cancel_reason"], "insufficient_stock");
    assert_eq!(app.stock(&plenty).await, Some((50, 0)));
    assert_eq!(app.stock(&scarce).await, Some((2, 0)));
    assert!(app.held_reservations().await.is_empty());
    assert_eq!(app.ledger().await["count"], 0, "payments was never called");
}

#[tokio::test]
async fn two_checkouts_of_one_cart_at_once_buy_it_once() {
    // Arrange: one cart, two checkouts with different keys (two tabs, a double submit).
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let mug = app.product(1299, 10).await;
    app.add_to_cart(&shopper, &mug, 2).await;

    // Act
    let (keys, body) = ([new_key(), new_key()], checkout_body(GOOD_CARD));
    let (first, second) = tokio::join!(
        app.checkout(&shopper, &keys[0], &body),
        app.checkout(&shopper, &keys[1], &body),
    );

    // Assert: one order confirmed; the other found the cart taken (cancelled, 409) or
    // already empty (422, no order).
    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    let loser = if first.status() == StatusCode::CREATED {
        second
    } else {
        first
    };
    assert_eq!(statuses[0], StatusCode::CREATED, "{statuses:?}");
    let problem: Value = loser.json().await.unwrap();
    match statuses[1] {
        StatusCode::CONFLICT => {
            assert_eq!(
                problem["type"], "urn:bazaar:problem:cart-changed",
                "{problem}"
            );
            let order = app
                .order(&shopper, problem["order_id"].as_str().unwrap())
                .await;
            assert_eq!(order["cancel_reason"], "cart_changed", "{order}");
        }
        StatusCode::UNPROCESSABLE_ENTITY => {
            assert_eq!(problem["errors"][0]["field"], "cart", "{problem}");
        }
        other => panic!("the second checkout answered {other}: {problem}"),
    }
    assert_eq!(app.stock(&mug).await, Some((8, 0)), "two units sold, once");
    app.assert_ledger(&[("authorized_cents", 2 * 1299), ("captured_cents", 2 * 1299)])
        .await;
    assert!(app.held_reservations().await.is_empty());
    // The cart stays empty: the loser's cancellation gives back nothing it did not take.
    let cart = app.cart_of(&shopper).await;
    assert_eq!(cart["items"], serde_json::json!([]), "{cart}");
}

#[tokio::test]
async fn a_checkout_right_after_another_finds_the_bought_lines_gone() {
    // Arrange: a confirmed checkout, then one more product in the cart at once.
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let (mug, pan) = tokio::join!(app.product(1299, 10), app.product(4500, 10));
    app.add_to_cart(&shopper, &mug, 2).await;
    let first = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    app.add_to_cart(&shopper, &pan, 1).await;

    // Act: the second checkout, before or after `order.confirmed` reaches the cart.
    let second = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;

    // Assert: it buys the pan only.
    assert_eq!(second.status(), StatusCode::CREATED);
    let order: Value = second.json().await.unwrap();
    assert_eq!(order["total_cents"], 4500, "{order}");
    assert_eq!(app.stock(&mug).await, Some((8, 0)));
    assert_eq!(app.stock(&pan).await, Some((9, 0)));
}
