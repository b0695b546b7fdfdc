//! Crash recovery: orders left mid-saga (written straight into orders' database, with
//! the other services brought to the matching state through their APIs) are finished by
//! the recovery worker — backwards before the payment's authorisation, forwards after.

use crate::helpers::{GOOD_CARD, ORDER_CANCELLED, ORDER_CONFIRMED, TestApp, eventually, spawn_app};
use platform::db::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A saga as a crash left it.
struct Stuck<'a> {
    user_id: &'a str,
    product_id: &'a str,
    quantity: i64,
    unit_price_cents: i64,
    status: &'a str,
    step: &'a str,
    authorization_id: Option<&'a str>,
}

/// Writes the order as the saga would have, last touched a minute ago.
async fn write_stuck_order(db: &Db, s: Stuck<'_>, id: &str) {
    let then = events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::minutes(1));
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query(
        "INSERT INTO orders (id, user_id, user_email, user_name, idempotency_key, request_hash, \
         total_cents, currency, ship_name, ship_line1, ship_city, ship_postal_code, ship_country, \
         status, step, attempts, authorization_id, created_at, updated_at) \
         VALUES ($1, $2, 'sam@test.local', 'Sam', $3, 'hash', $4, 'USD', 'Sam', '1 Main St', \
         'Springfield', '12345', 'US', $5, $6, 1, $7, $8, $8)",
    )
    .bind(id)
    .bind(s.user_id)
    .bind(format!("key-{id}"))
    .bind(s.unit_price_cents * s.quantity)
    .bind(s.status)
    .bind(s.step)
    .bind(s.authorization_id)
    .bind(&then)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO order_items (order_id, line, product_id, name, unit_price_cents, quantity) \
         VALUES ($1, 0, $2, 'Kettle', $3, $4)",
    )
    .bind(id)
    .bind(s.product_id)
    .bind(s.unit_price_cents)
    .bind(s.quantity)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Holds stock for `order_id` through inventory's API, as the saga's first step would.
async fn reserve(app: &TestApp, order_id: &str, product_id: &str, quantity: i64, ttl: Option<i64>) {
    let mut body = json!({
        "reservation_id": order_id,
        "items": [{"product_id": product_id, "quantity": quantity}]
    });
    if let Some(ttl) = ttl {
        body["ttl_secs"] = ttl.into();
    }
    let res = app
        .as_admin(
            Method::POST,
            format!("{}/api/inventory/reservations", app.inventory),
            None,
            Some(&body),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "reserving for {order_id}"
    );
}

/// Authorises the order's total through payments' API; returns the authorisation's id.
async fn authorize(app: &TestApp, order_id: &str, user_id: &str, amount_cents: i64) -> String {
    let body = json!({
        "order_id": order_id, "user_id": user_id, "amount_cents": amount_cents,
        "currency": "USD",
        "card": {"number": GOOD_CARD, "exp_month": 12, "exp_year": crate::helpers::next_year(), "cvc": "123"}
    });
    let res = app
        .as_admin(
            Method::POST,
            format!("{}/api/payments/authorizations", app.payments),
            Some(&format!("order-{order_id}-authorize")),
            Some(&body),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "authorising {order_id}");
    let auth: Value = res.json().await.unwrap();
    auth["id"].as_str().unwrap().to_owned()
}

async fn wait_for_status(
    app: &TestApp,
    shopper: &crate::helpers::Shopper,
    id: &str,
    status: &str,
) -> Value {
    eventually(&format!("order {id} to be {status}"), async || {
        let order = app.order(shopper, id).await;
        (order["status"] == status).then_some(order)
    })
    .await
}

#[tokio::test]
async fn sagas_stuck_before_the_payment_are_cancelled_and_their_stock_released() {
    // Arrange: one crash after the reservation, while authorising (in doubt), one before
    // anything was asked of inventory.
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let product = app.product(1000, 5).await;
    let reserved = uuid::Uuid::now_v7().to_string();
    let fresh = uuid::Uuid::now_v7().to_string();
    reserve(&app, &reserved, &product, 2, None).await;
    assert_eq!(app.stock(&product).await, Some((3, 2)));
    // Payments answered the authorisation, but the process died before it saved the pivot:
    // the order never learnt the authorisation's id.
    let in_doubt = authorize(&app, &reserved, &shopper.id, 2000).await;
    let db = app.db().await;
    for (id, status, step) in [
        (&reserved, "authorizing", "authorize"),
        (&fresh, "pending", "reserve"),
    ] {
        let stuck = Stuck {
            user_id: &shopper.id,
            product_id: &product,
            quantity: 2,
            unit_price_cents: 1000,
            status,
            step,
            authorization_id: None,
        };
        write_stuck_order(&db, stuck, id).await;
    }

    // Act: the recovery worker finds them.
    for id in [&reserved, &fresh] {
        let order = wait_for_status(&app, &shopper, id, "cancelled").await;

        // Assert
        assert_eq!(order["cancel_reason"], "interrupted", "{id}");
        let kinds: Vec<String> = app
            .published(&db, id)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds, [ORDER_CANCELLED], "{id}");
    }
    assert_eq!(app.stock(&product).await, Some((5, 0)));
    assert_eq!(app.reservation(&reserved).await["status"], "released");
    // The in-doubt authorisation was found by order and voided: no hold is left.
    app.assert_ledger(&[
        ("authorized_cents", 2000),
        ("voided_cents", 2000),
        ("captured_cents", 0),
    ])
    .await;
    let auth = app
        .admin_get(format!(
            "{}/api/payments/authorizations/{in_doubt}",
            app.payments
        ))
        .await;
    assert_eq!(auth["status"], "voided", "{auth}");
}

#[tokio::test]
async fn a_saga_stuck_after_the_payment_is_confirmed_and_captured() {
    // Arrange: a crash after the authorisation, while confirming.
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let product = app.product(1250, 6).await;
    let id = uuid::Uuid::now_v7().to_string();
    reserve(&app, &id, &product, 2, None).await;
    let authorization = authorize(&app, &id, &shopper.id, 2500).await;
    let db = app.db().await;
    let stuck = Stuck {
        user_id: &shopper.id,
        product_id: &product,
        quantity: 2,
        unit_price_cents: 1250,
        status: "confirming",
        step: "commit",
        authorization_id: Some(&authorization),
    };
    write_stuck_order(&db, stuck, &id).await;

    // Act
    let order = wait_for_status(&app, &shopper, &id, "confirmed").await;

    // Assert
    assert!(order["confirmed_at"].is_string());
    assert_eq!(app.stock(&product).await, Some((4, 0)));
    assert_eq!(app.reservation(&id).await["status"], "committed");
    let ledger = app.ledger().await;
    assert_eq!(ledger["captured_cents"], 2500, "{ledger}");
    let events = app.published(&db, &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, ORDER_CONFIRMED);
    assert_eq!(events[0].1["total_cents"], 2500);
}

#[tokio::test]
async fn a_saga_whose_reservation_expired_after_the_payment_voids_it() {
    // Arrange: authorised, but stuck so long that the stock was given back.
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let product = app.product(800, 3).await;
    let id = uuid::Uuid::now_v7().to_string();
    reserve(&app, &id, &product, 1, Some(1)).await;
    let authorization = authorize(&app, &id, &shopper.id, 800).await;
    eventually("the reservation to expire", async || {
        (app.stock(&product).await == Some((3, 0))).then_some(())
    })
    .await;
    let db = app.db().await;
    let stuck = Stuck {
        user_id: &shopper.id,
        product_id: &product,
        quantity: 1,
        unit_price_cents: 800,
        status: "authorized",
        step: "commit",
        authorization_id: Some(&authorization),
    };
    write_stuck_order(&db, stuck, &id).await;

    // Act
    let order = wait_for_status(&app, &shopper, &id, "cancelled").await;

    // Assert: nothing sold, nothing charged.
    assert_eq!(order["cancel_reason"], "expired");
    assert_eq!(app.stock(&product).await, Some((3, 0)));
    app.assert_ledger(&[("captured_cents", 0), ("voided_cents", 800)])
        .await;
}

#[tokio::test]
async fn an_order_another_replica_still_drives_is_left_to_it_until_its_lease_lapses() {
    // Arrange: a saga that has not been written for a minute, waiting on its payment —
    // but another replica holds its lease, renewing it as a live driver does.
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let product = app.product(1000, 5).await;
    let id = uuid::Uuid::now_v7().to_string();
    reserve(&app, &id, &product, 2, None).await;
    let db = app.db().await;
    let stuck = Stuck {
        user_id: &shopper.id,
        product_id: &product,
        quantity: 2,
        unit_price_cents: 1000,
        status: "authorizing",
        step: "authorize",
        authorization_id: None,
    };
    write_stuck_order(&db, stuck, &id).await;
    let lease = std::time::Duration::from_secs(3);
    let until = events::envelope::to_rfc3339(
        chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap(),
    );
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query(
        "UPDATE orders SET driver = 'orders-2/a-live-replica', driven_until = $1 WHERE id = $2",
    )
    .bind(&until)
    .bind(&id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Act: recovery looks many times while the lease holds.
    tokio::time::sleep(lease / 2).await;

    // Assert: it left the order to its driver — no compensation raced the payment.
    let order = app.order(&shopper, &id).await;
    assert_eq!(order["status"], "authorizing", "{order}");
    assert_eq!(app.stock(&product).await, Some((3, 2)));

    // The driver died (its lease lapsed unrenewed): recovery takes over and compensates.
    let order = wait_for_status(&app, &shopper, &id, "cancelled").await;
    assert_eq!(order["cancel_reason"], "interrupted");
    assert_eq!(app.stock(&product).await, Some((5, 0)));
}
