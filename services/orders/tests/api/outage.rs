//! A transient outage is not a final answer: a checkout that the cart, inventory or
//! payments being unavailable stopped before its payment waits, resumable, for its client to send the
//! same request again, and only when its window has passed is it cancelled with a 503
//! that becomes the key's answer.

use crate::helpers::{
    FLAKY_CARD, GOOD_CARD, ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_PLACED, Shopper, TestApp,
    assert_problem, checkout_body, eventually, new_key, spawn_app_with,
};
use reqwest::{StatusCode, header};
use serde_json::Value;
use sqlx::Row;

/// A 503 that keeps its checkout open: its problem, with `resumable_until`.
async fn resumable_503(res: reqwest::Response, kind: &str, case: &str) -> Value {
    assert!(res.headers().contains_key(header::RETRY_AFTER), "{case}");
    let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, None, case).await;
    assert_eq!(
        problem["type"],
        format!("urn:bazaar:problem:{kind}"),
        "{case}: {problem}"
    );
    assert!(problem["resumable_until"].is_string(), "{case}: {problem}");
    problem
}

/// Who held the lease on driving the order's saga, and until when, once it is given up
/// (just after the answer, so this waits a little for it).
async fn lease_of(app: &TestApp, id: &str) -> (Option<String>, Option<String>) {
    let db = app.db().await;
    // The lease is given up just after the answer: wait a little for it.
    for _ in 0..250 {
        let row = sqlx::query("SELECT driver, driven_until FROM orders WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        let lease: (Option<String>, Option<String>) =
            (row.try_get(0).unwrap(), row.try_get(1).unwrap());
        if lease.1.is_none() {
            return lease;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the lease on {id} was not given up");
}

/// The order a checkout's problem names.
fn order_id(problem: &Value) -> String {
    problem["order_id"]
        .as_str()
        .expect("the order is named")
        .to_owned()
}

/// A new shopper whose cart holds 3 of a new product ($25, 4 in stock); returns them and
/// the product.
async fn stocked_cart(app: &TestApp) -> (Shopper, String) {
    let (shopper, product) = tokio::join!(app.shopper(), app.product(2500, 4));
    app.add_to_cart(&shopper, &product, 3).await;
    (shopper, product)
}

#[tokio::test]
async fn a_checkout_stopped_by_a_payments_outage_is_carried_on_by_a_retry_with_the_same_key() {
    // Arrange: payments is down when the shopper checks out.
    let mut app = spawn_app_with(&[("payment_retries", "1"), ("call_timeout_ms", "500")]).await;
    let (shopper, product) = stocked_cart(&app).await;
    let (key, body) = (new_key(), checkout_body(GOOD_CARD));
    app.stop("payments").await;

    // Act: the checkout, then the same request while payments is still down.
    let first = app.checkout(&shopper, &key, &body).await;
    let problem = resumable_503(first, "payment-unavailable", "payments down").await;
    let id = order_id(&problem);
    let again = app.checkout(&shopper, &key, &body).await;
    let problem = resumable_503(again, "payment-unavailable", "still down").await;

    // Assert: one order, open, its stock held.
    assert_eq!(
        problem["order_id"],
        id.as_str(),
        "the same order carried on"
    );
    let order = app.order(&shopper, &id).await;
    assert_eq!(order["status"], "authorizing", "{order}");
    assert_eq!(app.stock(&product).await, Some((1, 3)), "stock held for it");
    assert_eq!(app.order_count(&app.db().await).await, 1);
    // A checkout with a new key finds the cart's lines held for this one: told so, not
    // that the cart is empty.
    let other = app.checkout(&shopper, &new_key(), &body).await;
    let waiting = assert_problem(other, StatusCode::CONFLICT, None, "a new key").await;
    assert_eq!(
        waiting["type"], "urn:bazaar:problem:checkout-waiting-for-retry",
        "{waiting}"
    );
    let detail = waiting["detail"].as_str().unwrap();
    assert!(
        detail.contains(&id) && detail.contains(problem["resumable_until"].as_str().unwrap()),
        "{detail}"
    );
    assert_eq!(app.order_count(&app.db().await).await, 1);
    // The stopped saga gave its lease up (recovery need not wait for it to lapse).
    let (driver, until) = lease_of(&app, &id).await;
    assert!(driver.is_some(), "a driver held it");
    assert_eq!(until, None, "given up once the saga stopped");

    // Act: payments is back, and the shopper sends the same request once more.
    app.restart("payments").await;
    let res = app.checkout(&shopper, &key, &body).await;

    // Assert: confirmed, charged once, and that is the key's answer from now on.
    assert_eq!(res.status(), StatusCode::CREATED);
    let confirmed: Value = res.json().await.expect("a JSON body");
    assert_eq!(confirmed["id"], id.as_str());
    assert_eq!(confirmed["status"], "confirmed");
    let replay = app.checkout(&shopper, &key, &body).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    app.assert_ledger(&[("authorized_cents", 7500), ("captured_cents", 7500)])
        .await;
    assert_eq!(app.stock(&product).await, Some((1, 0)), "stock taken");
    assert_eq!(
        app.published_types(&id).await,
        [ORDER_PLACED, ORDER_CONFIRMED]
    );
    assert_eq!(app.order_count(&app.db().await).await, 1);
}

#[tokio::test]
async fn a_checkout_nobody_resumes_is_cancelled_when_its_window_closes() {
    // Arrange: payments fails this card every time; the checkout may wait one second.
    let app = spawn_app_with(&[
        ("payment_retries", "0"),
        ("checkout_resumable_ms", "1000"),
        ("recovery_interval_ms", "100"),
        ("recovery_after_ms", "500"),
    ])
    .await;
    let (shopper, product) = stocked_cart(&app).await;
    let (key, body) = (new_key(), checkout_body(FLAKY_CARD));

    // Act
    let first = app.checkout(&shopper, &key, &body).await;
    let problem = resumable_503(first, "payment-unavailable", "payments failing").await;
    let id = order_id(&problem);

    // Assert: recovery cancels it once the window has passed, and gives the stock back.
    let order = eventually(&format!("order {id} to be cancelled"), async || {
        let order = app.order(&shopper, &id).await;
        (order["status"] == "cancelled").then_some(order)
    })
    .await;
    assert_eq!(order["cancel_reason"], "payment_error", "{order}");
    assert_eq!(app.stock(&product).await, Some((4, 0)), "stock back");
    assert_eq!(
        app.published_types(&id).await,
        [ORDER_PLACED, ORDER_CANCELLED]
    );
    // Now the 503 is final: the key answers it, without a window, and nothing more
    // happens.
    let res = app.checkout(&shopper, &key, &body).await;
    let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, None, "final").await;
    assert_eq!(problem["type"], "urn:bazaar:problem:payment-unavailable");
    assert_eq!(problem["order_id"], id.as_str());
    assert!(problem.get("resumable_until").is_none(), "{problem}");
    app.assert_ledger(&[("authorized_cents", 0), ("captured_cents", 0)])
        .await;
    assert_eq!(app.order_count(&app.db().await).await, 1);
}

#[tokio::test]
async fn a_checkout_stopped_by_an_inventory_outage_reserves_when_retried_after_it() {
    // Arrange: inventory is down when the shopper checks out.
    let mut app = spawn_app_with(&[("call_timeout_ms", "500")]).await;
    let (shopper, product) = stocked_cart(&app).await;
    let (key, body) = (new_key(), checkout_body(GOOD_CARD));
    app.stop("inventory").await;

    // Act
    let first = app.checkout(&shopper, &key, &body).await;
    let problem = resumable_503(first, "inventory-unavailable", "inventory down").await;
    let id = order_id(&problem);
    let order = app.order(&shopper, &id).await;
    assert_eq!(order["status"], "pending", "{order}");
    app.restart("inventory").await;
    let res = app.checkout(&shopper, &key, &body).await;

    // Assert: reserved, charged and confirmed once, as if nothing had happened.
    assert_eq!(res.status(), StatusCode::CREATED);
    let confirmed: Value = res.json().await.expect("a JSON body");
    assert_eq!(confirmed["id"], id.as_str());
    app.assert_ledger(&[("authorized_cents", 7500), ("captured_cents", 7500)])
        .await;
    assert_eq!(app.stock(&product).await, Some((1, 0)));
    assert_eq!(
        app.published_types(&id).await,
        [ORDER_PLACED, ORDER_CONFIRMED]
    );
}

#[tokio::test]
async fn a_checkout_stopped_by_a_cart_outage_names_the_cart_and_takes_the_lines_when_retried() {
    // Arrange: the cart answers the checkout's read, then stops taking lines. Orders'
    // breaker keeps the cart out of its calls for 200 ms after the failures.
    let app = spawn_app_with(&[("call_timeout_ms", "500"), ("breaker_open_ms", "200")]).await;
    let (shopper, product) = stocked_cart(&app).await;
    let (key, body) = (new_key(), checkout_body(GOOD_CARD));
    app.cart_refuses_takes(true);

    // Act
    let first = app.checkout(&shopper, &key, &body).await;

    // Assert: the 503 names the cart, not inventory; nothing is reserved or charged, and
    // the same request asked again while the cart is still down says the same.
    let problem = resumable_503(first, "cart-unavailable", "the cart down").await;
    let id = order_id(&problem);
    assert_eq!(app.order(&shopper, &id).await["status"], "pending");
    assert_eq!(app.stock(&product).await, Some((4, 0)), "nothing reserved");
    let again = app.checkout(&shopper, &key, &body).await;
    let problem = resumable_503(again, "cart-unavailable", "the cart still down").await;
    assert_eq!(order_id(&problem), id);

    // Once the cart takes lines again (and orders' breaker lets calls to it through),
    // the same request carries the checkout on: the lines taken, the stock reserved and
    // committed, the card charged, once.
    app.cart_refuses_takes(false);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let res = app.checkout(&shopper, &key, &body).await;
    let status = res.status();
    let confirmed: Value = res.json().await.expect("a JSON body");
    assert_eq!(status, StatusCode::CREATED, "{confirmed}");
    assert_eq!(confirmed["id"], id.as_str());
    app.assert_ledger(&[("authorized_cents", 7500), ("captured_cents", 7500)])
        .await;
    assert_eq!(app.stock(&product).await, Some((1, 0)));
    let cart = app.cart_of(&shopper).await;
    assert_eq!(
        cart["items"],
        serde_json::json!([]),
        "the lines were bought: {cart}"
    );
    assert_eq!(
        app.published_types(&id).await,
        [ORDER_PLACED, ORDER_CONFIRMED]
    );
}

/// A checkout that ends while payments cannot be reached gives the cart's lines back at
/// once: the shopper is told the cart is kept, and finds it so, though the void (and the
/// release behind it) wait for payments. They came back only after both, seconds later,
/// and a shopper who filled the cart again meanwhile bought twice as much (the saga
/// review).
#[tokio::test]
async fn a_failed_checkout_gives_the_cart_back_at_once_though_the_void_waits() {
    // Arrange: no window to resume in; payments down.
    let mut app = spawn_app_with(&[
        ("payment_retries", "0"),
        ("call_timeout_ms", "500"),
        ("checkout_resumable_ms", "0"),
        ("recovery_interval_ms", "200"),
        ("recovery_after_ms", "500"),
    ])
    .await;
    let (shopper, product) = stocked_cart(&app).await;
    app.stop("payments").await;

    // Act
    let res = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;
    let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, None, "final").await;
    let id = order_id(&problem);

    // Assert: the lines are back at once; the order still compensating.
    let cart = app.cart_of(&shopper).await;
    assert_eq!(cart["items"][0]["product_id"], product.as_str(), "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 3, "{cart}");
    assert_eq!(app.order(&shopper, &id).await["status"], "compensating");
    // Payments back: recovery voids, releases, cancels; the lines are not given twice.
    app.restart("payments").await;
    eventually(&format!("order {id} to be cancelled"), async || {
        (app.order(&shopper, &id).await["status"] == "cancelled").then_some(())
    })
    .await;
    assert_eq!(app.stock(&product).await, Some((4, 0)), "stock back");
    let cart = app.cart_of(&shopper).await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 3, "{cart}");
}

/// However long payments takes to fail, a checkout answers before the gateway stops
/// waiting for it (`/checkout`'s timeout), with 503 and `resumable_until`: ten retries
/// backing off up to 5 s each took some 20 s, and the client got the gateway's bare 504
/// (the saga review, with payments frozen).
#[tokio::test]
async fn a_checkout_answers_before_the_gateway_gives_up_on_it_however_many_retries() {
    let mut app = spawn_app_with(&[("payment_retries", "10")]).await;
    let (shopper, _) = stocked_cart(&app).await;
    app.stop("payments").await;
    let gateway_waits = orders::SERVICE
        .route("/checkout")
        .and_then(|r| r.timeout_ms)
        .expect("checkout has a timeout of its own");

    let started = std::time::Instant::now();
    let res = app
        .checkout(&shopper, &new_key(), &checkout_body(GOOD_CARD))
        .await;
    let took = started.elapsed();

    resumable_503(res, "payment-unavailable", "payments down").await;
    // Before the gateway gives up (its last try ends 2 s before that); without the
    // deadline the answer came after 15.6 s.
    assert!(
        took < std::time::Duration::from_millis(gateway_waits),
        "answered in {took:?}, the gateway waits {gateway_waits} ms"
    );
}
