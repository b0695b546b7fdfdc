//! Crash safety across the two stores: the products table is written exactly once per
//! event (through the inbox) and the index is derived from it, so a lost index is rebuilt
//! from the table at start, and redelivered events change nothing.

use crate::helpers::{SEED_PRODUCTS, eventually, ids, spawn_app, temp_dir};
use events::{Event, Outcome};
use platform::db::Db;
use reqwest::{Method, StatusCode};
use search::{
    domain::{SearchQuery, Words},
    handler,
    index::SearchIndex,
    indexer::Indexer,
    rebuild_index,
    store::{self, Store},
};
use serde_json::json;

#[tokio::test]
async fn a_deleted_index_is_rebuilt_from_the_table_at_start() {
    // Arrange
    let mut app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;
    let before = app.search(&[("q", "skillet"), ("per_page", "50")]).await;
    let handled = app.status().await;

    // Act: stop, lose the index, start again.
    app.stop().await;
    std::fs::remove_dir_all(&app.index_dir).expect("the index directory existed");
    app.start().await;

    // Assert: not ready before the index holds the whole table; then the same answers,
    // from the table alone (no event is handled again).
    let once_ready = app.status_once_ready().await;
    assert_eq!(once_ready["documents"], SEED_PRODUCTS, "{once_ready}");
    let took = app.wait_until_indexed(SEED_PRODUCTS).await;
    eprintln!("the index was rebuilt from the table in {took:?}");
    let after = app.search(&[("q", "skillet"), ("per_page", "50")]).await;
    assert_eq!(before["total"], after["total"]);
    assert_eq!(before["facets"], after["facets"]);
    let status = app.status().await;
    assert_eq!(
        status["latest_version"], handled["latest_version"],
        "{status}"
    );
}

/// An index whose metadata lists no segments, its mark kept (edited, or restored apart
/// from its files), opens as an empty index at the table's latest version: without a
/// look at what it holds, it was served, empty, for good (the verification review).
#[tokio::test]
async fn an_index_whose_metadata_lost_its_segments_is_rebuilt_at_start() {
    // Arrange
    let mut app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;
    app.stop().await;
    let meta = app.index_dir.join("meta.json");
    let mut metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("meta.json")).expect("JSON");
    metadata["segments"] = json!([]);
    std::fs::write(&meta, serde_json::to_vec(&metadata).unwrap()).expect("meta.json written");

    // Act
    app.start().await;

    // Assert: not ready until the index holds the whole table again.
    let once_ready = app.status_once_ready().await;
    assert_eq!(once_ready["documents"], SEED_PRODUCTS, "{once_ready}");
}

/// An administrator's rebuild takes the replica out of rotation before it empties its
/// index: it answers not ready while the index still holds the whole catalog, for its
/// drain delay, so that callers' probes move searches to its peers first (without it,
/// searches through the gateway met a partial index for a probe round).
#[tokio::test]
async fn a_rebuild_answers_not_ready_before_it_empties_the_index() {
    // Arrange
    let app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;

    // Act: the rebuild asked for, and readiness watched meanwhile.
    let rebuild = app.send(
        Method::POST,
        "/api/search/admin/rebuild",
        Some(&app.admin_token),
    );
    let first_unready = async {
        let (why, _) = eventually("search not ready", async || {
            let ready = app.send(Method::GET, "/health/ready", None).await;
            if ready.status() != StatusCode::SERVICE_UNAVAILABLE {
                return None;
            }
            let body: serde_json::Value = ready.json().await.ok()?;
            Some(body["checks"]["index"].clone())
        })
        .await;
        why
    };
    let (answer, why) = tokio::join!(rebuild, first_unready);

    // Assert: the first "not ready" is the step aside, said while the index was whole
    // (read from the answer itself, not from a later look a busy machine could delay).
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert!(
        why.as_str()
            .is_some_and(|w| w.contains("out of rotation first")),
        "not ready first, then emptied: {why}"
    );
    let once_ready = app.status_once_ready().await;
    assert_eq!(once_ready["documents"], SEED_PRODUCTS, "{once_ready}");
}

#[tokio::test]
async fn an_index_deleted_while_search_runs_is_rebuilt_without_a_restart() {
    // Arrange
    let app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;
    let product = app.catalog_products().await[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    // Act: the index's directory goes (an operator's mistake, a cleaner), then the
    // catalog renames a product, which the indexer must write somewhere. (A background
    // merge may write a file into it meanwhile: "directory not empty", tried again.)
    let mut tries = 0;
    while let Err(e) = std::fs::remove_dir_all(&app.index_dir) {
        tries += 1;
        assert!(tries < 50, "could not delete the index directory: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.catalog_admin(
        Method::PATCH,
        &format!("/api/catalog/products/{product}"),
        Some(json!({"name": "Quillwort Pour-Over Stand"})),
        StatusCode::OK,
    )
    .await;

    // Assert: the index is built again from the table, with the change, and on disk.
    let (_, took) = eventually("the renamed product, in a rebuilt index", async || {
        let found = app.search(&[("q", "quillwort")]).await;
        let status = app.status().await;
        (ids(&found) == [product.clone()]
            && status["documents"] == SEED_PRODUCTS
            && status["up_to_date"] == true)
            .then_some(())
    })
    .await;
    eprintln!("the index was rebuilt in {took:?}");
    assert!(
        app.index_dir.join("meta.json").exists(),
        "the index is on disk again"
    );
    let ready = app.send(Method::GET, "/health/ready", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_index_deleted_while_nothing_changes_is_rebuilt_too() {
    // Arrange
    let app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;

    // Act: the index's directory goes, and the catalog stays as it is.
    let mut tries = 0;
    while let Err(e) = std::fs::remove_dir_all(&app.index_dir) {
        tries += 1;
        assert!(tries < 50, "could not delete the index directory: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Assert: it is on disk again, whole, without a change to index.
    let (_, took) = eventually("the index rebuilt on disk", async || {
        let status = app.status().await;
        (app.index_dir.join("meta.json").exists()
            && status["documents"] == SEED_PRODUCTS
            && status["up_to_date"] == true)
            .then_some(())
    })
    .await;
    eprintln!("the index was rebuilt in {took:?}");
}

fn created(id: &str, name: &str, updated_at: &str) -> Event {
    Event::new(
        "catalog",
        "bazaar.catalog.product.created.v1",
        id,
        json!({
            "id": id, "sku": "KIT-1", "name": name, "description": "Enamelled cast iron.",
            "category": "kitchen", "price_cents": 12_999, "currency": "USD",
            "created_at": "2025-01-01T00:00:00.000Z", "updated_at": updated_at,
            "initial_stock": 3
        }),
    )
    .expect("an event")
}

#[tokio::test]
async fn each_event_has_one_effect_and_the_index_follows_the_table() {
    // Arrange: search's database and index, driven through its real handler.
    let dir = temp_dir("exactly-once");
    let db = Db::connect(
        &format!("sqlite://{}/search.db", dir.display()),
        &store::migrations(),
    )
    .await
    .expect("the database opens");
    let store = Store::new(db.clone());
    let index = SearchIndex::open(&dir.join("index"), 15_000_000).expect("the index opens");
    let indexer = Indexer::new(store.clone(), index.clone());
    let consumer = handler::consumer(db.clone(), &indexer, 3);
    let oven = created("p-1", "Tidewater Dutch Oven", "2025-01-01T00:00:00.000Z");
    let renamed = Event::new(
        "catalog",
        "bazaar.catalog.product.updated.v1",
        "p-1",
        json!({
            "id": "p-1", "sku": "KIT-1", "name": "Tidewater Braiser", "description": "",
            "category": "kitchen", "price_cents": 12_999, "currency": "USD",
            "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-02T00:00:00.000Z"
        }),
    )
    .expect("an event");
    let stale = created("p-1", "Tidewater Stale Copy", "2025-01-01T00:00:00.000Z");

    // Act
    let outcomes = [
        consumer.process(&oven, None).await.unwrap(),
        consumer.process(&oven, None).await.unwrap(),
        consumer.process(&renamed, None).await.unwrap(),
        consumer.process(&stale, None).await.unwrap(),
    ];
    let progress = indexer.catch_up().await.expect("the index catches up");

    // Assert: the redelivery did nothing, the stale copy changed nothing.
    assert_eq!(
        outcomes,
        [
            Outcome::Handled,
            Outcome::Duplicate,
            Outcome::Handled,
            Outcome::Handled
        ]
    );
    assert_eq!(progress.changes, 1, "one row to index: {progress:?}");
    let search = |text: &str| {
        index
            .search(&SearchQuery {
                words: Words::parse(text).unwrap(),
                ..SearchQuery::default()
            })
            .expect("a search")
    };
    assert_eq!(search("braiser").total, 1);
    assert_eq!(search("stale").total, 0);
    assert_eq!(search("oven").total, 0);
    assert_eq!(indexer.catch_up().await.unwrap().changes, 0, "nothing new");

    // A deletion leaves a tombstone the index follows; a rebuild gives the same index.
    let deleted = Event::new(
        "catalog",
        "bazaar.catalog.product.deleted.v1",
        "p-1",
        json!({"product_id": "p-1", "sku": "KIT-1"}),
    )
    .expect("an event");
    consumer.process(&deleted, None).await.unwrap();
    consumer
        .process(
            &created("p-2", "Northfork Kettle", "2025-01-03T00:00:00.000Z"),
            None,
        )
        .await
        .unwrap();
    indexer.catch_up().await.unwrap();
    assert_eq!((search("braiser").total, search("kettle").total), (0, 1));
    let rebuilt = rebuild_index(&indexer).await.expect("a rebuild");
    assert_eq!(rebuilt.changes, 2, "{rebuilt:?}");
    assert_eq!((search("braiser").total, search("kettle").total), (0, 1));
    assert_eq!(index.num_docs(), 1);
    index.close();
    let _ = std::fs::remove_dir_all(&dir);
}
