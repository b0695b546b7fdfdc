//! Freshness: what an administrator changes in the catalog shows in search results within
//! a bounded time, measured from the catalog's answer to the first search that shows it.

use crate::helpers::{SEED_PRODUCTS, TestApp, eventually, ids, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// The most a change may take to show.
const FRESH: Duration = Duration::from_secs(2);

async fn find(app: &TestApp, q: &str) -> Value {
    app.search(&[("q", q)]).await
}

#[tokio::test]
async fn catalog_changes_show_in_results_within_two_seconds() {
    // Arrange
    let app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;
    let mut timings = Vec::new();

    // Act / Assert: create.
    let created = app
        .catalog_admin(
            Method::POST,
            "/api/catalog/products",
            Some(json!({
                "sku": "TST-90001",
                "name": "Zyzzogeton Pour-Over Stand",
                "description": "A stand for slow mornings.",
                "category": "kitchen",
                "price_cents": 2599,
                "initial_stock": 5
            })),
            StatusCode::CREATED,
        )
        .await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let path = format!("/api/catalog/products/{id}");
    let (hit, took) = eventually("the new product", async || {
        let body = find(&app, "zyzzogeton").await;
        (ids(&body) == [id.clone()]).then(|| body["items"][0].clone())
    })
    .await;
    assert_eq!(hit["name"], "Zyzzogeton Pour-Over Stand");
    assert_eq!(
        (hit["price_cents"].as_i64(), hit["category"].as_str()),
        (Some(2599), Some("kitchen"))
    );
    timings.push(("create", took));

    // Rename: found by the new name, no longer by the old one.
    app.catalog_admin(
        Method::PATCH,
        &path,
        Some(json!({"name": "Quillwort Pour-Over Stand"})),
        StatusCode::OK,
    )
    .await;
    let (_, took) = eventually("the new name", async || {
        let new = find(&app, "quillwort").await;
        let old = find(&app, "zyzzogeton").await;
        (ids(&new) == [id.clone()] && old["total"] == 0).then_some(())
    })
    .await;
    timings.push(("rename", took));

    // Reprice: the new price shows and filters.
    app.catalog_admin(
        Method::PATCH,
        &path,
        Some(json!({"price_cents": 98_765})),
        StatusCode::OK,
    )
    .await;
    let (_, took) = eventually("the new price", async || {
        let body = app
            .search(&[
                ("q", "quillwort"),
                ("min_price", "98765"),
                ("max_price", "98765"),
            ])
            .await;
        (ids(&body) == [id.clone()] && body["items"][0]["price_cents"] == 98_765).then_some(())
    })
    .await;
    timings.push(("reprice", took));

    // Delete: gone.
    app.catalog_admin(Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let (_, took) = eventually("the deletion", async || {
        (find(&app, "quillwort").await["total"] == 0).then_some(())
    })
    .await;
    timings.push(("delete", took));

    eprintln!("catalog change → search result: {timings:?}");
    for (what, took) in timings {
        assert!(took < FRESH, "{what} took {took:?}");
    }
    let status = app.status().await;
    assert_eq!(status["products"], SEED_PRODUCTS, "{status}");
    assert_eq!(status["up_to_date"], true, "{status}");
}
