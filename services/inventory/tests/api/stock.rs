//! Reading stock, and administrators setting it: every change in the ledger and
//! announced, nothing changed by anyone else.

use crate::helpers::{STOCK_CHANGED, movements, spawn_app};
use platform::testing::{assert_caller_refused, refused_callers};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_sets_a_level_and_the_change_is_kept_and_announced() {
    // Arrange
    let app = spawn_app().await;
    let expected = app.wait_for_seed().await;
    let (id, initial) = expected
        .iter()
        .find(|(_, stock)| **stock > 0)
        .map(|(id, stock)| (id.clone(), *stock))
        .unwrap();
    let db = app.db().await;
    let published_before = app.published(&db).await.len();

    // Act: raise, then empty.
    let res = app.put_stock(&id, initial + 13).await;

    // Assert
    assert_eq!(res.status(), StatusCode::OK);
    let raised: Value = res.json().await.unwrap();
    assert_eq!(
        raised,
        json!({"product_id": id, "available": initial + 13, "reserved": 0, "discontinued": false})
    );
    assert_eq!(app.stock(&id).await.unwrap(), raised);

    let res = app.put_stock(&id, 0).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.stock(&id).await.unwrap()["available"], 0);

    // The ledger adds up to the level, one movement per change.
    let ledger = movements(&db, &id).await;
    let summary: Vec<(i64, &str)> = ledger
        .iter()
        .map(|m| (m.delta, m.reason.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (initial, "initial"),
            (13, "adjustment"),
            (-(initial + 13), "adjustment")
        ]
    );
    assert!(ledger[1..].iter().all(|m| m.event_id.is_none()));

    // Each change was announced with the levels after it.
    let published = app.published(&db).await;
    let new: Vec<&Value> = published[published_before..]
        .iter()
        .inspect(|r| {
            assert_eq!(
                (r.kind.as_str(), r.subject.as_str()),
                (STOCK_CHANGED, id.as_str())
            )
        })
        .map(|r| &r.data)
        .collect();
    assert_eq!(
        new,
        [
            &json!({"product_id": id, "available": initial + 13, "reserved": 0, "reason": "adjustment"}),
            &json!({"product_id": id, "available": 0, "reserved": 0, "reason": "adjustment"}),
        ]
    );

    // Setting the level it has changes nothing and records nothing.
    let res = app.put_stock(&id, 0).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(movements(&db, &id).await.len(), 3);
    assert_eq!(app.published(&db).await.len(), published.len());
}

#[tokio::test]
async fn a_discontinued_products_level_can_still_be_set() {
    let app = spawn_app().await;
    let id = app.announce_product("OLD-1", 2).await;
    app.wait_for_stock(&id, |_| true).await;
    app.announce_deletion(&id).await;
    app.wait_for_stock(&id, |s| s["discontinued"] == true).await;

    let res = app.put_stock(&id, 0).await;

    assert_eq!(res.status(), StatusCode::OK);
    let stock: Value = res.json().await.unwrap();
    assert_eq!(
        stock,
        json!({"product_id": id, "available": 0, "reserved": 0, "discontinued": true})
    );
}

#[tokio::test]
async fn listing_returns_the_known_products_in_the_order_asked() {
    let app = spawn_app().await;
    let expected = app.wait_for_seed().await;
    let ids: Vec<&str> = expected.keys().map(String::as_str).rev().take(3).collect();
    let unknown = "0193a5c2-0000-7000-8000-000000000000";

    let items = app
        .stock_of(&[ids[0], unknown, ids[1], ids[0], ids[2]])
        .await;

    let listed: Vec<&str> = items
        .iter()
        .map(|i| i["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "unknown ids left out, repeats once");
    for item in &items {
        assert_eq!(
            item["available"],
            expected[item["product_id"].as_str().unwrap()]
        );
    }
    let hundred: Vec<String> = (0..100).map(|i| format!("unknown-{i}")).collect();
    let hundred: Vec<&str> = hundred.iter().map(String::as_str).collect();
    assert!(
        app.stock_of(&hundred).await.is_empty(),
        "100 ids are allowed"
    );
}

#[tokio::test]
async fn only_administrators_set_stock() {
    // Arrange
    let app = spawn_app().await;
    let (id, level, path) = app.seeded_product().await;
    let db = app.db().await;
    let published_before = app.published(&db).await.len();
    let body = json!({"available": level + 100});
    let tokens = refused_callers(&app.customer_token);

    for (token, status, who) in tokens {
        // Act
        let res = app.send(Method::PUT, &path, token, Some(&body)).await;

        // Assert
        assert_caller_refused(res, status, who).await;
    }
    assert_eq!(
        app.stock(&id).await.unwrap()["available"],
        level,
        "unchanged"
    );
    assert_eq!(movements(&db, &id).await.len(), 1);
    assert_eq!(app.published(&db).await.len(), published_before);
}
