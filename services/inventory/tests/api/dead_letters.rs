//! Events that cannot be applied: bad data is set aside at once without holding up the
//! events behind it, a failing database is retried, and operators can see and replay
//! what was set aside.

use crate::helpers::{
    MAX_ATTEMPTS, PRODUCT_CREATED, TestApp, assert_problem, consumer, movements, new_product_id,
    product_created, spawn_app,
};
use events::{Consumer, Event, Outcome};
use platform::db::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DEAD_LETTERS: &str = "/api/inventory/events/dead-letters";

/// From now on, every ledger entry of a product whose sku starts with `BROKEN-` fails,
/// as it would while the database is in trouble.
async fn break_ledger(db: &Db) {
    sqlx::raw_sql(
        "CREATE TRIGGER outage BEFORE INSERT ON stock_movements \
         WHEN (SELECT sku FROM stock WHERE product_id = NEW.product_id) LIKE 'BROKEN-%' \
         BEGIN SELECT RAISE(ABORT, 'simulated outage'); END",
    )
    .execute(db.pool())
    .await
    .unwrap();
}

/// A new product's `product.created` and a consumer of the test's own to deliver it,
/// once inventory has followed the seed and its database refuses the product's ledger
/// entries (its sku is to start with `BROKEN-`): a failure that lasts until
/// [`repair_ledger`].
struct Outage {
    db: Db,
    delivery: Consumer,
    id: String,
    event: Event,
}

impl Outage {
    async fn start(app: &TestApp, sku: &str, stock: i64) -> Self {
        app.wait_for_seed().await;
        let db = app.db().await;
        let id = new_product_id();
        let event = product_created(&id, sku, stock);
        break_ledger(&db).await;
        Self {
            delivery: consumer(&db),
            db,
            id,
            event,
        }
    }

    /// Delivers the event as the transport would; returns what became of it.
    async fn deliver(&self) -> Outcome {
        self.delivery.process(&self.event, None).await.unwrap()
    }

    /// Ends the outage: the database takes the product's ledger entries again.
    async fn repair(&self) {
        repair_ledger(&self.db).await;
    }
}

async fn repair_ledger(db: &Db) {
    sqlx::raw_sql("DROP TRIGGER outage")
        .execute(db.pool())
        .await
        .unwrap();
}

/// The open dead letters, as an administrator sees them.
async fn dead_letters(app: &TestApp) -> Vec<Value> {
    let res = app
        .send(Method::GET, DEAD_LETTERS, Some(&app.admin_token), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().cloned().unwrap()
}

async fn replay(app: &TestApp, id: &str) -> reqwest::Response {
    let path = format!("{DEAD_LETTERS}/{id}/replay");
    app.send_as(Method::POST, &path, &app.admin_token).await
}

#[tokio::test]
async fn a_poison_event_is_set_aside_and_the_events_behind_it_still_apply() {
    // Arrange: inventory is idle, having followed the seed.
    let app = spawn_app().await;
    app.wait_for_seed().await;
    let db = app.db().await;
    let delivery = consumer(&db);
    let poison_id = new_product_id();
    let poison = events::testing::poison("catalog", PRODUCT_CREATED, &poison_id, |data| {
        data["id"] = poison_id.as_str().into();
        data["sku"] = "POISON-1".into();
        data["initial_stock"] = "plenty".into();
    });
    let good_id = new_product_id();
    let good = product_created(&good_id, "GOOD-1", 9);

    // Act
    let poisoned = delivery.process(&poison, None).await.unwrap();
    let applied = delivery.process(&good, None).await.unwrap();

    // Assert: the poison is dead-lettered on its first failure; the next event applies.
    assert_eq!(poisoned, Outcome::DeadLettered);
    assert_eq!(applied, Outcome::Handled);
    assert_eq!(app.stock(&poison_id).await, None);
    assert_eq!(app.stock(&good_id).await.unwrap()["available"], 9);

    // Operators see it, with what went wrong.
    let letters = dead_letters(&app).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["event_id"], poison.id.as_str());
    assert_eq!(letter["type"], PRODUCT_CREATED);
    assert_eq!(letter["payload"]["data"]["initial_stock"], "plenty");
    let error = letter["error"].as_str().unwrap();
    assert!(error.contains("permanent"), "{error}");

    // Only administrators do.
    let res = app.send(Method::GET, DEAD_LETTERS, None, None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, None, "no token").await;
    let res = app
        .send(Method::GET, DEAD_LETTERS, Some(&app.customer_token), None)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, None, "customer").await;

    // Act: a replay of data that is still bad.
    let letter_id = letter["id"].as_str().unwrap();
    let res = replay(&app, letter_id).await;

    // Assert: it fails again and stays open; nothing was applied.
    assert_eq!(res.status(), StatusCode::OK);
    let replayed: Value = res.json().await.unwrap();
    assert_eq!(replayed, json!({"id": letter_id, "result": "failed"}));
    let letters = dead_letters(&app).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["attempts"], 2);
    assert!(movements(&db, &poison_id).await.is_empty());
    let path = format!("{DEAD_LETTERS}/{letter_id}/replay");
    let res = app.send_as(Method::POST, &path, &app.customer_token).await;
    assert_problem(res, StatusCode::FORBIDDEN, None, "customer replays").await;
    let res = replay(&app, "no-such-letter").await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "unknown dead letter").await;

    // An administrator closes it without a replay (a customer may not); then it is gone
    // from the list, and neither a replay nor a second discard finds it open.
    let discard = format!("{DEAD_LETTERS}/{letter_id}");
    let res = app
        .send_as(Method::DELETE, &discard, &app.customer_token)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, None, "customer discards").await;
    let res = app
        .send(Method::DELETE, &discard, Some(&app.admin_token), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(dead_letters(&app).await.is_empty());
    let res = replay(&app, letter_id).await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "a discarded letter").await;
    let res = app
        .send(Method::DELETE, &discard, Some(&app.admin_token), None)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "discarded twice").await;
    assert!(movements(&db, &poison_id).await.is_empty());
}

#[tokio::test]
async fn poison_in_the_catalogs_log_is_set_aside_by_the_running_consumer() {
    // Arrange: two bad events in the catalog's log, a real product behind them.
    let app = spawn_app().await;
    app.wait_for_seed().await;
    let bad_id = new_product_id();
    let out_of_bounds = events::testing::poison("catalog", PRODUCT_CREATED, &bad_id, |data| {
        data["id"] = bad_id.as_str().into();
        data["initial_stock"] = (-5).into();
    });
    app.append_to_catalog_log(
        PRODUCT_CREATED,
        &bad_id,
        &serde_json::to_string(&out_of_bounds).unwrap(),
    )
    .await;
    app.append_to_catalog_log(PRODUCT_CREATED, "nobody", r#"{"not": "a CloudEvent"}"#)
        .await;

    // Act
    let id = app.announce_product("BEHIND-1", 4).await;

    // Assert: the product behind them applies; both are dead letters, without retries.
    let stock = app.wait_for_stock(&id, |_| true).await;
    assert_eq!(stock["available"], 4);
    assert_eq!(app.stock(&bad_id).await, None);
    let letters = dead_letters(&app).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0]["event_id"], out_of_bounds.id.as_str());
    let error = letters[0]["error"].as_str().unwrap();
    assert!(error.contains("initial_stock"), "{error}");
    assert_eq!(letters[0]["attempts"], 1);
    assert_eq!(letters[1]["event_id"], Value::Null);
    assert_eq!(letters[1]["payload"], json!({"not": "a CloudEvent"}));
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_then_applies_once() {
    // Arrange: the database refuses this product's ledger entry for a while.
    let app = spawn_app().await;
    let outage = Outage::start(&app, "BROKEN-1", 5).await;
    let id = &outage.id;

    // Act
    let first = outage.deliver().await;

    // Assert: to be retried, and nothing half-done: the stock row went with the ledger.
    assert!(matches!(first, Outcome::Retry(_)), "{first:?}");
    assert_eq!(app.stock(id).await, None);

    // Act: the database recovers; the transport delivers again, twice.
    outage.repair().await;
    let second = outage.deliver().await;
    let third = outage.deliver().await;

    // Assert: applied once.
    assert_eq!(second, Outcome::Handled);
    assert_eq!(third, Outcome::Duplicate);
    assert_eq!(app.stock(id).await.unwrap()["available"], 5);
    let ledger = movements(&outage.db, id).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(
        ledger[0].event_id.as_deref(),
        Some(outage.event.id.as_str())
    );
    assert!(dead_letters(&app).await.is_empty());
}

#[tokio::test]
async fn a_failure_that_outlasts_its_attempts_is_dead_lettered_and_replayed_after_the_fix() {
    // Arrange
    let app = spawn_app().await;
    let outage = Outage::start(&app, "BROKEN-2", 3).await;
    let id = &outage.id;

    // Act: every attempt fails.
    let mut outcomes = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        outcomes.push(outage.deliver().await);
    }

    // Assert: retried until the last attempt, then set aside.
    assert!(
        outcomes[..outcomes.len() - 1]
            .iter()
            .all(|o| matches!(o, Outcome::Retry(_))),
        "{outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&Outcome::DeadLettered));
    let letters = dead_letters(&app).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["attempts"], i64::from(MAX_ATTEMPTS));
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("simulated outage")
    );
    let letter_id = letters[0]["id"].as_str().unwrap().to_owned();

    // Act: the database is repaired and an operator replays the event.
    outage.repair().await;
    let res = replay(&app, &letter_id).await;

    // Assert: applied, once, and the letter is closed.
    assert_eq!(res.status(), StatusCode::OK);
    let replayed: Value = res.json().await.unwrap();
    assert_eq!(replayed["result"], "handled");
    assert_eq!(app.stock(id).await.unwrap()["available"], 3);
    assert!(dead_letters(&app).await.is_empty());
    let res = replay(&app, &letter_id).await;
    assert_problem(
        res,
        StatusCode::NOT_FOUND,
        None,
        "replaying a closed letter",
    )
    .await;
    assert_eq!(outage.deliver().await, Outcome::Duplicate);
    assert_eq!(movements(&outage.db, id).await.len(), 1);
}
