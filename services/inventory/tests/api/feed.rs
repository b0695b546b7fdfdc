//! Inventory follows the catalog: every product it announces gets its stock, once, and a
//! restart neither loses nor repeats an event.

use crate::helpers::{
    PRODUCT_CREATED, PRODUCT_DELETED, STOCK_CHANGED, consumer, eventually, movements,
    movements_with_reason, spawn_app,
};
use serde_json::json;
use sqlx::Row;

#[tokio::test]
async fn every_seeded_product_has_the_stock_the_catalog_announced() {
    // Arrange / Act: a fresh catalog announces its seed; inventory follows.
    let app = spawn_app().await;

    // Assert
    let expected = app.wait_for_seed().await;
    let ids: Vec<&str> = expected.keys().map(String::as_str).collect();
    let items = app.stock_of(&ids).await;
    assert_eq!(items.len(), expected.len());
    for item in &items {
        let id = item["product_id"].as_str().unwrap();
        assert_eq!(
            item,
            &json!({
                "product_id": id,
                "available": expected[id],
                "reserved": 0,
                "discontinued": false
            })
        );
    }
    // The seed's stock is varied, so equality above is not a coincidence of defaults.
    let levels: std::collections::BTreeSet<i64> = expected.values().copied().collect();
    assert!(levels.len() > 5, "{levels:?}");
    let (first, stock) = expected.iter().next().unwrap();
    assert_eq!(
        app.get_json(&format!("/api/inventory/{first}")).await["available"],
        *stock
    );

    // Each product's stock was announced in turn, with the level it started at.
    let db = app.db().await;
    let published = app.published(&db).await;
    assert_eq!(published.len(), expected.len());
    for row in &published {
        assert_eq!(row.kind, STOCK_CHANGED);
        assert_eq!(
            row.data,
            json!({
                "product_id": row.subject,
                "available": expected[&row.subject],
                "reserved": 0,
                "reason": "initial"
            })
        );
    }
}

#[tokio::test]
async fn a_new_product_is_stocked_and_a_deleted_one_discontinued() {
    // Arrange
    let app = spawn_app().await;

    // Act: the catalog announces a new product.
    let id = app.announce_product("FRESH-1", 7).await;

    // Assert: inventory has it shortly after.
    let stock = app.wait_for_stock(&id, |_| true).await;
    assert_eq!(
        stock,
        json!({"product_id": id, "available": 7, "reserved": 0, "discontinued": false})
    );

    // Act: the catalog deletes it.
    app.announce_deletion(&id).await;

    // Assert: the stock is kept, marked discontinued.
    let stock = app.wait_for_stock(&id, |s| s["discontinued"] == true).await;
    assert_eq!(stock["available"], 7);
    let db = app.db().await;
    let ledger = movements(&db, &id).await;
    assert_eq!(ledger.len(), 1, "discontinuing moves no stock: {ledger:?}");
    assert_eq!((ledger[0].delta, ledger[0].reason.as_str()), (7, "initial"));
}

#[tokio::test]
async fn each_event_has_one_effect_across_restarts_and_redeliveries() {
    // Arrange: inventory has followed the seed, one created-and-deleted product and
    // one created product.
    let mut app = spawn_app().await;
    app.wait_for_seed().await;
    let gone = app.announce_product("GONE-1", 4).await;
    app.announce_deletion(&gone).await;
    let kept = app.announce_product("KEPT-1", 6).await;
    app.wait_for_stock(&kept, |_| true).await;
    app.wait_for_stock(&gone, |s| s["discontinued"] == true)
        .await;
    let db = app.db().await;
    let log = app.catalog_log().await;
    let created = log
        .iter()
        .filter(|(_, e)| e.kind == PRODUCT_CREATED)
        .count() as i64;
    let deleted = log
        .iter()
        .filter(|(_, e)| e.kind == PRODUCT_DELETED)
        .count() as i64;
    assert_eq!((created, deleted), (42, 1));

    // Assert: one `initial` movement per product.created, one inbox entry per event.
    let handled = consumer(&db);
    assert_eq!(movements_with_reason(&db, "initial").await, created);
    assert_eq!(handled.handled_count().await.unwrap(), created + deleted);

    // Act: a graceful restart on the same database, then one more product.
    app.stop().await;
    app.start().await;
    let late = app.announce_product("LATE-1", 9).await;

    // Assert: the new product arrives; nothing before it is applied again.
    let stock = app.wait_for_stock(&late, |_| true).await;
    assert_eq!(stock["available"], 9);
    assert_eq!(movements_with_reason(&db, "initial").await, created + 1);
    assert_eq!(
        handled.handled_count().await.unwrap(),
        created + deleted + 1
    );

    // Act: the read position is lost, so every event is delivered again.
    app.stop().await;
    sqlx::query("UPDATE event_cursors SET position = 0, lease_owner = NULL WHERE producer = $1")
        .bind("catalog")
        .execute(db.pool())
        .await
        .unwrap();
    app.start().await;
    let head = app.catalog_log().await.last().unwrap().0;
    eventually(
        "inventory to read the whole catalog log again",
        async || (cursor(&db).await >= head).then_some(()),
    )
    .await;

    // Assert: the inbox recognised every one; no stock moved, nothing was announced.
    assert_eq!(movements_with_reason(&db, "initial").await, created + 1);
    assert_eq!(
        handled.handled_count().await.unwrap(),
        created + deleted + 1
    );
    assert_eq!(app.published(&db).await.len() as i64, created + 1);
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM stock_movements")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get("n");
    assert_eq!(total, created + 1);
    assert_eq!(
        app.stock(&gone).await.unwrap()["discontinued"],
        true,
        "a redelivered create did not bring a deleted product back"
    );
}

/// Inventory's read position in the catalog's log.
async fn cursor(db: &platform::db::Db) -> i64 {
    sqlx::query("SELECT position FROM event_cursors WHERE producer = $1")
        .bind("catalog")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get("position")
}

#[tokio::test]
async fn a_reused_product_id_keeps_its_stock_and_a_deletion_before_the_creation_holds() {
    // Arrange: a product inventory keeps, with its level since adjusted.
    let app = spawn_app().await;
    let id = app.announce_product("REUSE-1", 5).await;
    app.wait_for_stock(&id, |_| true).await;
    assert_eq!(
        app.put_stock(&id, 8).await.status(),
        reqwest::StatusCode::OK
    );
    let db = app.db().await;
    let delivery = consumer(&db);
    let unknown = crate::helpers::new_product_id();
    let deletion = events::Event::new(
        "catalog",
        PRODUCT_DELETED,
        unknown.as_str(),
        json!({"product_id": unknown, "sku": "NEVER-1"}),
    )
    .unwrap();

    // Act: the id is announced again; a product inventory never knew is deleted, and
    // then its creation comes (two replicas took them from one queue at once: the races
    // review saw such products sold after the catalog deleted them).
    let again = delivery
        .process(&crate::helpers::product_created(&id, "REUSE-2", 50), None)
        .await
        .unwrap();
    let deleted = delivery.process(&deletion, None).await.unwrap();
    let created_late = delivery
        .process(
            &crate::helpers::product_created(&unknown, "NEVER-1", 7),
            None,
        )
        .await
        .unwrap();

    // Assert: all handled; the reused id changed nothing, and the deleted product is
    // discontinued with no stock, without a movement.
    for outcome in [again, deleted, created_late] {
        assert_eq!(outcome, events::Outcome::Handled);
    }
    assert_eq!(
        app.stock(&id).await.unwrap(),
        json!({"product_id": id, "available": 8, "reserved": 0, "discontinued": false})
    );
    assert_eq!(movements(&db, &id).await.len(), 2, "initial and adjustment");
    assert_eq!(
        app.stock(&unknown).await.unwrap(),
        json!({"product_id": unknown, "available": 0, "reserved": 0, "discontinued": true})
    );
    assert!(movements(&db, &unknown).await.is_empty());
}
