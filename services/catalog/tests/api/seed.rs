//! The generated catalog a fresh database starts with.

use crate::helpers::{TestApp, new_product, settings, spawn_app, spawn_app_with};
use std::collections::{BTreeMap, HashSet};

/// Builds a second catalog, with the default settings (seeding on), on `app`'s database:
/// what a restart does before it serves.
async fn build_again(app: &TestApp) {
    let again = settings(&app.database_url, &[]).build().await;
    drop(again.expect("builds again"));
}

#[tokio::test]
async fn a_fresh_database_gets_the_full_default_catalog_with_its_events() {
    // Arrange / Act
    let app = spawn_app_with(&[("seed_products", "600")]).await;
    eprintln!("build with a 600-product seed took {:?}", app.build_time);

    // Assert: at least 500 products in at least 10 categories, all listed.
    let products = app.all_products().await;
    assert!(products.len() >= 500, "{} products", products.len());
    let categories: HashSet<_> = products
        .iter()
        .map(|p| p["category"].as_str().unwrap_or_default())
        .collect();
    assert!(categories.len() >= 10, "{categories:?}");
    let listed = app.get_json("/api/catalog/categories").await;
    let items = listed["items"].as_array().unwrap();
    assert!(items.len() >= 12);
    let counted: i64 = items
        .iter()
        .map(|c| c["product_count"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, products.len() as i64);
    assert!(
        items.iter().all(|c| c["product_count"].as_i64() > Some(0)),
        "{listed}"
    );

    // Every product was announced, with its stock, so other services can copy it.
    let outbox = app.outbox().await;
    let created: BTreeMap<_, _> = outbox
        .iter()
        .filter(|r| r.kind == "bazaar.catalog.product.created.v1")
        .map(|r| (r.subject.clone(), r.data.clone()))
        .collect();
    assert_eq!(created.len(), products.len());
    for p in &products {
        let data = &created[p["id"].as_str().unwrap()];
        assert_eq!(data["sku"], p["sku"]);
        assert_eq!(data["price_cents"], p["price_cents"]);
        assert!(
            data["initial_stock"].as_u64().is_some_and(|s| s <= 250),
            "{data}"
        );
    }
    assert!(
        app.build_time.as_secs_f64() < 5.0,
        "opening and seeding took {:?}",
        app.build_time
    );
}

#[tokio::test]
async fn the_seed_is_the_same_every_time() {
    let first = spawn_app().await.all_products().await;
    let second = spawn_app().await.all_products().await;
    assert_eq!(first.len(), 60);
    assert_eq!(first, second, "same ids, names, prices and dates");
}

#[tokio::test]
async fn a_seeded_database_is_not_seeded_again() {
    // Arrange: a seeded catalog from which one product is deleted.
    let app = spawn_app().await;
    let products = app.all_products().await;
    let victim = products[0]["id"].as_str().unwrap();
    let res = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/catalog/products/{victim}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let events_before = app.outbox().await.len();

    // Act: a second catalog starts on the same database.
    build_again(&app).await;

    // Assert: nothing was added back, and no event recorded.
    assert_eq!(app.all_products().await.len(), 59);
    assert_eq!(app.outbox().await.len(), events_before);
}

#[tokio::test]
async fn without_seeding_the_shop_starts_empty_and_is_never_seeded_later() {
    // Arrange: seeding off.
    let app = spawn_app_with(&[("seed", "false")]).await;
    let body = app.get_json("/api/catalog/products").await;
    assert_eq!(body["total"], 0);
    // The categories exist all the same, so administrators can fill the shop.
    let categories = app.get_json("/api/catalog/categories").await;
    assert!(categories["items"].as_array().unwrap().len() >= 12);
    app.create_product(&new_product("NEW-1")).await;

    // Act: a restart with seeding on finds a database that holds products.
    build_again(&app).await;

    // Assert
    assert_eq!(app.all_products().await.len(), 1);
    assert_eq!(app.outbox().await.len(), 1);
}
