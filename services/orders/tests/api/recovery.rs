//! Crash recovery: orders left mid-saga (written straight into orders' database, with
//! the other services brought to the matching state through their APIs) are finished by
//! the recovery worker — backwards before the payment's authorisation, forwards after.

use crate::helpers::{
    GOOD_CARD, ORDER_CANCELLED, ORDER_CONFIRMED, Shopper, TestApp, eventually, spawn_app,
    spawn_app_with,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An order of one line — `quantity` units of `product` at `unit_price_cents` — by
/// `shopper`, which the test takes through the saga's steps by hand and then leaves as a
/// crash would.
struct Saga<'a> {
    app: &'a TestApp,
    id: String,
    shopper: Shopper,
    product: String,
    quantity: i64,
    unit_price_cents: i64,
}

impl<'a> Saga<'a> {
    /// A new shopper's order of `quantity` units of a new product priced `unit_price_cents`
    /// of which inventory holds `stock`.
    async fn new(app: &'a TestApp, unit_price_cents: i64, stock: i64, quantity: i64) -> Self {
        Self {
            app,
            id: uuid::Uuid::now_v7().to_string(),
            shopper: app.shopper().await,
            product: app.product(unit_price_cents, stock).await,
            quantity,
            unit_price_cents,
        }
    }

    /// Another order of the same line by the same shopper.
    fn another(&self) -> Self {
        Self {
            app: self.app,
            id: uuid::Uuid::now_v7().to_string(),
            shopper: self.shopper.clone(),
            product: self.product.clone(),
            ..*self
        }
    }

    /// Holds the stock through inventory's API, as the saga's first step would; for
    /// `ttl` seconds if given.
    async fn reserve(&self, ttl: Option<i64>) {
        let mut body = json!({
            "reservation_id": self.id,
            "items": [{"product_id": self.product, "quantity": self.quantity}]
        });
        if let Some(ttl) = ttl {
            body["ttl_secs"] = ttl.into();
        }
        let app = self.app;
        let reservations = format!("{}/api/inventory/reservations", app.inventory);
        let res = app
            .as_orders(Method::POST, reservations, None, Some(&body))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "reserving for {}",
            self.id
        );
    }

    /// Authorises the order's total through payments' API; returns the authorisation's id.
    async fn authorize(&self) -> String {
        let order_id = &self.id;
        let body = json!({
            "order_id": order_id, "user_id": self.shopper.id, "amount_cents": self.total(),
            "currency": "USD",
            "card": {"number": GOOD_CARD, "exp_month": 12, "exp_year": crate::helpers::next_year(), "cvc": "123"}
        });
        let app = self.app;
        let res = app
            .as_orders(
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

    /// Commits the order's reservation through inventory's API, as the saga's commit does.
    async fn commit(&self) {
        let app = self.app;
        let url = format!(
            "{}/api/inventory/reservations/{}/commit",
            app.inventory, self.id
        );
        let res = app.as_orders(Method::POST, url, None, None).await;
        assert_eq!(res.status(), StatusCode::OK, "committing {}", self.id);
    }

    /// Voids `authorization` through payments' API, as the saga's compensation does.
    async fn void(&self, authorization: &str) {
        let app = self.app;
        let url = format!(
            "{}/api/payments/authorizations/{authorization}/void",
            app.payments
        );
        let key = format!("order-{}-void", self.id);
        let res = app.as_orders(Method::POST, url, Some(&key), None).await;
        assert_eq!(res.status(), StatusCode::OK, "voiding {authorization}");
    }

    fn total(&self) -> i64 {
        self.unit_price_cents * self.quantity
    }

    /// Writes the order into orders' database as the saga would have, at `status` and
    /// about to take `step`, last touched a minute ago: what a crash leaves.
    async fn crash_at(&self, status: &str, step: &str, authorization_id: Option<&str>) {
        let then = chrono::Utc::now() - chrono::Duration::minutes(1);
        self.crash_placed_at(status, step, authorization_id, then)
            .await;
    }

    /// [`Saga::crash_at`] for an order placed at `placed`, last written a minute ago.
    /// One transaction: recovery, looking every 500 ms, sees the order as it is meant
    /// to be or not at all.
    async fn crash_placed_at(
        &self,
        status: &str,
        step: &str,
        authorization_id: Option<&str>,
        placed: chrono::DateTime<chrono::Utc>,
    ) {
        let then = events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::minutes(1));
        let placed = events::envelope::to_rfc3339(placed);
        let db = self.app.db().await;
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query(
            "INSERT INTO orders (id, user_id, user_email, user_name, idempotency_key, request_hash, \
             total_cents, currency, ship_name, ship_line1, ship_city, ship_postal_code, ship_country, \
             status, step, attempts, authorization_id, created_at, updated_at) \
             VALUES ($1, $2, 'sam@test.local', 'Sam', $3, 'hash', $4, 'USD', 'Sam', '1 Main St', \
             'Springfield', '12345', 'US', $5, $6, 1, $7, $8, $9)",
        )
        .bind(&self.id)
        .bind(&self.shopper.id)
        .bind(format!("key-{}", self.id))
        .bind(self.total())
        .bind(status)
        .bind(step)
        .bind(authorization_id)
        .bind(&placed)
        .bind(&then)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO order_items (order_id, line, product_id, name, unit_price_cents, quantity) \
             VALUES ($1, 0, $2, 'Kettle', $3, $4)",
        )
        .bind(&self.id)
        .bind(&self.product)
        .bind(self.unit_price_cents)
        .bind(self.quantity)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// Waits until recovery has brought the order to `status`; returns it.
    async fn wait_for_status(&self, status: &str) -> Value {
        let id = &self.id;
        eventually(&format!("order {id} to be {status}"), async || {
            let order = self.app.order(&self.shopper, id).await;
            (order["status"] == status).then_some(order)
        })
        .await
    }

    /// The events orders published for the order: type and data.
    async fn published(&self) -> Vec<(String, Value)> {
        self.app.published(&self.app.db().await, &self.id).await
    }
}

#[tokio::test]
async fn sagas_stuck_before_the_payment_are_cancelled_and_their_stock_released() {
    // Arrange: one crash after the reservation, while authorising (in doubt), one before
    // anything was asked of inventory.
    let app = spawn_app().await;
    let reserved = Saga::new(&app, 1000, 5, 2).await;
    let fresh = reserved.another();
    let product = &reserved.product;
    reserved.reserve(None).await;
    assert_eq!(app.stock(product).await, Some((3, 2)));
    // Payments answered the authorisation, but the process died before it saved the pivot:
    // the order never learnt the authorisation's id.
    let in_doubt = reserved.authorize().await;
    reserved.crash_at("authorizing", "authorize", None).await;
    fresh.crash_at("pending", "reserve", None).await;

    // Act: the recovery worker finds them.
    for saga in [&reserved, &fresh] {
        let order = saga.wait_for_status("cancelled").await;

        // Assert
        let id = &saga.id;
        assert_eq!(order["cancel_reason"], "interrupted", "{id}");
        assert_eq!(app.published_types(id).await, [ORDER_CANCELLED], "{id}");
    }
    assert_eq!(app.stock(product).await, Some((5, 0)));
    assert_eq!(app.reservation(&reserved.id).await["status"], "released");
    // The in-doubt authorisation was found by order and voided: no hold is left.
    app.assert_ledger(&[
        ("authorized_cents", 2000),
        ("voided_cents", 2000),
        ("captured_cents", 0),
    ])
    .await;
    let auth = app
        .orders_get(format!(
            "{}/api/payments/authorizations/{in_doubt}",
            app.payments
        ))
        .await;
    assert_eq!(auth["status"], "voided", "{auth}");
}

#[tokio::test]
async fn a_saga_stopped_before_the_payment_waits_for_its_client_until_its_window_ends() {
    // Arrange: an order placed a moment ago whose driver stopped after reserving its
    // stock without a word (its process died, or its database failed under it and orders
    // told the client to send the request again): not written for a minute, no
    // `resumable_until`, no lease.
    // Long beside the look below, so that a busy machine's pauses cannot carry the
    // look past the window.
    let window = std::time::Duration::from_secs(8);
    let app = spawn_app_with(&[("checkout_resumable_ms", "8000")]).await;
    let saga = Saga::new(&app, 1000, 5, 2).await;
    saga.reserve(None).await;
    let placed = std::time::Instant::now();
    saga.crash_placed_at("reserving", "reserve", None, chrono::Utc::now())
        .await;

    // Act: recovery looks several times (every 500 ms) within the window.
    tokio::time::sleep(window / 4).await;

    // Assert: the order is left for its client's same-key retry to carry on.
    let order = app.order(&saga.shopper, &saga.id).await;
    assert_eq!(order["status"], "reserving", "{order}");
    assert_eq!(app.stock(&saga.product).await, Some((3, 2)));

    // Nobody retried in time: recovery compensates it once the window has passed.
    let order = saga.wait_for_status("cancelled").await;
    assert!(
        placed.elapsed() >= window,
        "cancelled after {:?}",
        placed.elapsed()
    );
    assert_eq!(order["cancel_reason"], "interrupted");
    assert_eq!(app.stock(&saga.product).await, Some((5, 0)));
}

/// The commit and the capture are one step of the order's, with no write between them:
/// a checkout stopped after inventory committed its reservation is carried on by
/// committing again, which sells nothing twice.
#[tokio::test]
async fn a_saga_stuck_after_the_payment_is_confirmed_and_captured_once_committed_or_not() {
    let app = spawn_app().await;
    for committed in [false, true] {
        // Arrange: a crash after the authorisation, while confirming: before the commit,
        // or after it and before the capture.
        let saga = Saga::new(&app, 1250, 6, 2).await;
        saga.reserve(None).await;
        let authorization = saga.authorize().await;
        if committed {
            saga.commit().await;
        }
        saga.crash_at("confirming", "commit", Some(&authorization))
            .await;

        // Act
        let order = saga.wait_for_status("confirmed").await;

        // Assert: two units sold, not four; captured once.
        assert!(order["confirmed_at"].is_string(), "committed: {committed}");
        assert_eq!(
            app.stock(&saga.product).await,
            Some((4, 0)),
            "committed: {committed}"
        );
        assert_eq!(app.reservation(&saga.id).await["status"], "committed");
        let events = saga.published().await;
        assert_eq!(events.len(), 1, "committed: {committed}");
        assert_eq!(events[0].0, ORDER_CONFIRMED);
        assert_eq!(events[0].1["total_cents"], 2500);
    }
    app.assert_ledger(&[("authorized_cents", 5000), ("captured_cents", 5000)])
        .await;
}

/// The void and the release are one step of a compensation's, with no write between them:
/// a compensation stopped after payments voided is carried on by voiding again, which
/// changes nothing, then releasing the stock.
#[tokio::test]
async fn a_compensation_stopped_after_its_void_voids_again_harmlessly_and_releases() {
    // Arrange: compensating, the authorisation voided, the process gone before the release.
    let app = spawn_app().await;
    let saga = Saga::new(&app, 900, 5, 2).await;
    saga.reserve(None).await;
    let authorization = saga.authorize().await;
    saga.void(&authorization).await;
    saga.crash_at("compensating", "void", Some(&authorization))
        .await;

    // Act
    saga.wait_for_status("cancelled").await;

    // Assert: the stock back, the hold voided once, nothing captured.
    assert_eq!(app.stock(&saga.product).await, Some((5, 0)));
    assert_eq!(app.reservation(&saga.id).await["status"], "released");
    app.assert_ledger(&[
        ("authorized_cents", 1800),
        ("voided_cents", 1800),
        ("captured_cents", 0),
    ])
    .await;
}

#[tokio::test]
async fn a_saga_whose_reservation_expired_after_the_payment_voids_it() {
    // Arrange: authorised, but stuck so long that the stock was given back.
    let app = spawn_app().await;
    let saga = Saga::new(&app, 800, 3, 1).await;
    let product = &saga.product;
    saga.reserve(Some(1)).await;
    let authorization = saga.authorize().await;
    eventually("the reservation to expire", async || {
        (app.stock(product).await == Some((3, 0))).then_some(())
    })
    .await;
    saga.crash_at("authorized", "commit", Some(&authorization))
        .await;

    // Act
    let order = saga.wait_for_status("cancelled").await;

    // Assert: nothing sold, nothing charged.
    assert_eq!(order["cancel_reason"], "expired");
    assert_eq!(app.stock(product).await, Some((3, 0)));
    app.assert_ledger(&[("captured_cents", 0), ("voided_cents", 800)])
        .await;
}

#[tokio::test]
async fn an_order_another_replica_still_drives_is_left_to_it_until_its_lease_lapses() {
    // Arrange: a saga that has not been written for a minute, waiting on its payment —
    // but another replica holds its lease, renewing it as a live driver does.
    let app = spawn_app().await;
    let saga = Saga::new(&app, 1000, 5, 2).await;
    let product = &saga.product;
    saga.reserve(None).await;
    saga.crash_at("authorizing", "authorize", None).await;
    let lease = std::time::Duration::from_secs(3);
    let until = events::envelope::to_rfc3339(
        chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap(),
    );
    let db = app.db().await;
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query(
        "UPDATE orders SET driver = 'orders-2/a-live-replica', driven_until = $1 WHERE id = $2",
    )
    .bind(&until)
    .bind(&saga.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Act: recovery looks many times while the lease holds.
    tokio::time::sleep(lease / 2).await;

    // Assert: it left the order to its driver — no compensation raced the payment.
    let order = app.order(&saga.shopper, &saga.id).await;
    assert_eq!(order["status"], "authorizing", "{order}");
    assert_eq!(app.stock(product).await, Some((3, 2)));

    // The driver died (its lease lapsed unrenewed): recovery takes over and compensates.
    let order = saga.wait_for_status("cancelled").await;
    assert_eq!(order["cancel_reason"], "interrupted");
    assert_eq!(app.stock(product).await, Some((5, 0)));
}
