//! The same checkout sent again — at once, concurrently, or later — places one order and
//! charges once; the key cannot be reused for another request. And many shoppers racing
//! for a few units never oversell.

use crate::helpers::{GOOD_CARD, assert_problem, checkout_body, new_key, spawn_app};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn one_key_sent_five_times_at_once_places_one_order_and_charges_once() {
    // Arrange
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let product = app.product(1999, 10).await;
    app.add_to_cart(&shopper, &product, 2).await;
    let key = new_key();
    let body = checkout_body(GOOD_CARD);

    // Act
    let answers = join_all((0..5).map(|_| async {
        let res = app.checkout(&shopper, &key, &body).await;
        let status = res.status();
        (status, res.json::<Value>().await.unwrap())
    }))
    .await;

    // Assert: five identical answers about one order.
    let (status, first) = &answers[0];
    assert_eq!(*status, StatusCode::CREATED, "{first}");
    for (s, b) in &answers {
        assert_eq!((s, b), (status, first), "every answer is the first one");
    }
    let db = app.db().await;
    assert_eq!(app.order_count(&db).await, 1);
    let ledger = app.ledger().await;
    assert_eq!(ledger["authorized_cents"], 3998, "{ledger}");
    assert_eq!(ledger["captured_cents"], 3998, "{ledger}");
    assert_eq!(app.stock(&product).await, Some((8, 0)));

    // Later, the same request gets the same answer; nothing more happens.
    let again = app.checkout(&shopper, &key, &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(&again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.ledger().await["count"], ledger["count"]);

    // The key with another body is refused, and still nothing happens.
    let mut other = body.clone();
    other["shipping_address"]["city"] = "Shelbyville".into();
    let reused = app.checkout(&shopper, &key, &other).await;
    let problem = assert_problem(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Idempotency-Key"),
        "key reused",
    )
    .await;
    assert_eq!(problem["type"], "urn:bazaar:problem:idempotency-key-reused");
    // It names the order the key placed and where it stands: done, here.
    assert_eq!(problem["order_id"], first["id"], "{problem}");
    assert_eq!(problem["order_status"], "confirmed", "{problem}");
    assert_eq!(app.order_count(&db).await, 1);

    // Keys are per user: another shopper's same key is their own checkout.
    let other_shopper = app.shopper().await;
    app.add_to_cart(&other_shopper, &product, 1).await;
    let theirs = app.checkout(&other_shopper, &key, &body).await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert_eq!(app.order_count(&db).await, 2);
}

#[tokio::test]
async fn twenty_shoppers_racing_for_five_units_never_oversell() {
    // Arrange
    let app = spawn_app().await;
    let product = app.product(1500, 5).await;
    let shoppers = join_all((0..20).map(|_| app.shopper())).await;
    join_all(shoppers.iter().map(|s| app.add_to_cart(s, &product, 1))).await;

    // Act
    let statuses = join_all(shoppers.iter().map(|s| async {
        app.checkout(s, &new_key(), &checkout_body(GOOD_CARD))
            .await
            .status()
    }))
    .await;

    // Assert
    let confirmed = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let short = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((confirmed, short), (5, 15), "{statuses:?}");
    assert_eq!(app.stock(&product).await, Some((0, 0)));
    assert!(app.held_reservations().await.is_empty());
    app.assert_ledger(&[("captured_cents", 5 * 1500), ("authorized_cents", 5 * 1500)])
        .await;
}
