//! Changing the catalog: administrators only, every change with its events in the outbox.

use crate::helpers::{
    Created, assert_problem, new_product, spawn_app, spawn_app_on, spawn_app_with,
};
use platform::testing::{assert_caller_refused, refused_callers};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

const CREATED: &str = "bazaar.catalog.product.created.v1";
const UPDATED: &str = "bazaar.catalog.product.updated.v1";
const PRICE_CHANGED: &str = "bazaar.catalog.product.price_changed.v1";
const DELETED: &str = "bazaar.catalog.product.deleted.v1";

fn kinds(rows: &[crate::helpers::OutboxRow]) -> Vec<&str> {
    rows.iter().map(|r| r.kind.as_str()).collect()
}

/// Two admins changing one product at once: both changes are kept, whichever commits
/// last. On SQLite always; on PostgreSQL too when `BAZAAR_TEST_POSTGRES_URL` names a
/// server (where, read at READ COMMITTED without a lock, the later PATCH wrote back the
/// row as it was before the earlier one, undoing it: 8 rounds in 15 lost one).
#[tokio::test]
async fn two_patches_of_one_product_at_once_both_apply() {
    let postgres = platform::testing::ScratchPostgres::from_env("catalog", "PATCHes at once");
    let scratch = platform::testing::Scratch::new("catalog");
    let url = match &postgres {
        Some(pg) => pg.url(),
        None => scratch.sqlite_url("catalog"),
    };
    let app = spawn_app_on(scratch, url, &[]).await;
    for round in 0..20 {
        let id = app.create(&format!("RACE-{round:05}")).await.id;
        let renamed = json!({"name": format!("Renamed Kettle {round}")});
        let repriced = json!({"price_cents": 2000 + round});
        let (a, b) = tokio::join!(
            app.patch_product(&id, &renamed),
            app.patch_product(&id, &repriced)
        );
        let now = app.get_json(&format!("/api/catalog/products/{id}")).await;
        assert_eq!(now["name"], renamed["name"], "round {round}: {now}");
        assert_eq!(
            now["price_cents"], repriced["price_cents"],
            "round {round}: {now}"
        );
        assert!(
            a == now || b == now,
            "the later answer is the product as it is: {now}"
        );
    }
    drop(app);
    if let Some(pg) = postgres {
        pg.drop_database().await;
    }
}

#[tokio::test]
async fn an_admin_creates_a_product_and_it_is_announced() {
    // Arrange: a shop that sells in euros.
    let app = spawn_app_with(&[("currency", "EUR")]).await;
    let mut body = new_product("KIT-90001");
    body["currency"] = json!("EUR");

    // Act
    let res = app
        .send(
            Method::POST,
            "/api/catalog/products",
            Some(&app.admin_token),
            Some(&body),
        )
        .await;

    // Assert
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/catalog/products/{id}"));
    assert_eq!(created["sku"], "KIT-90001");
    assert_eq!(created["name"], "Test Kettle");
    assert_eq!(created["category"], "kitchen");
    assert_eq!(created["price_cents"], 4999);
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(app.get_json(&location).await, created);

    let events = app.events_of(id).await;
    assert_eq!(kinds(&events), [CREATED]);
    assert_eq!(events[0].data["initial_stock"], 5);
    assert_eq!(events[0].data["sku"], "KIT-90001");
    assert_eq!(events[0].data["currency"], "EUR");

    // Currency (the shop's) and stock have defaults.
    let mut minimal = new_product("KIT-90002");
    minimal.as_object_mut().unwrap().remove("initial_stock");
    minimal.as_object_mut().unwrap().remove("currency");
    let created = app.create_product(&minimal).await;
    assert_eq!(created["currency"], "EUR");
    let events = app.events_of(created["id"].as_str().unwrap()).await;
    assert_eq!(events[0].data["initial_stock"], 0);

    // A product in another currency could never be bought: refused. The seed is in euros.
    let mut dollars = new_product("KIT-90003");
    dollars["currency"] = json!("USD");
    let res = app
        .send(
            Method::POST,
            "/api/catalog/products",
            Some(&app.admin_token),
            Some(&dollars),
        )
        .await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("currency"),
        "USD",
    )
    .await;
    let seeded = app.get_json("/api/catalog/products?per_page=1").await;
    assert_eq!(seeded["items"][0]["currency"], "EUR", "{seeded}");
}

#[tokio::test]
async fn a_duplicate_sku_is_a_conflict() {
    let app = spawn_app().await;
    app.create_product(&new_product("DUP-1")).await;
    let before = app.outbox().await.len();
    // The sku just created, and a seeded one: both taken.
    for (sku, case) in [("DUP-1", "duplicate sku"), ("KIT-00001", "seeded sku")] {
        let res = app
            .send(
                Method::POST,
                "/api/catalog/products",
                Some(&app.admin_token),
                Some(&new_product(sku)),
            )
            .await;
        assert_problem(res, StatusCode::CONFLICT, Some("sku"), case).await;
    }
    assert_eq!(
        app.outbox().await.len(),
        before,
        "nothing recorded for a refused create"
    );
}

#[tokio::test]
async fn a_patch_changes_only_what_it_names() {
    // Arrange
    let app = spawn_app().await;
    let Created { product, id, path } = app.create("PATCH-1").await;
    let id = id.as_str();

    // Act: rename and move.
    let patched = app
        .patch_product(
            id,
            &json!({"name": "Renamed Kettle", "category": "coffee-tea"}),
        )
        .await;

    // Assert
    assert_eq!(patched["name"], "Renamed Kettle");
    assert_eq!(patched["category"], "coffee-tea");
    assert_eq!(patched["description"], product["description"]);
    assert_eq!(patched["price_cents"], product["price_cents"]);
    assert_eq!(patched["created_at"], product["created_at"]);
    assert!(patched["updated_at"].as_str() >= product["updated_at"].as_str());
    assert_eq!(app.get_json(&path).await, patched);
    let events = app.events_of(id).await;
    assert_eq!(
        kinds(&events),
        [CREATED, UPDATED],
        "no price change, no price event"
    );
    assert_eq!(events[1].data["name"], "Renamed Kettle");
    assert_eq!(events[1].data["category"], "coffee-tea");
}

#[tokio::test]
async fn a_price_change_records_updated_and_price_changed() {
    let app = spawn_app().await;
    let Created { id, .. } = app.create("PRICE-1").await;
    let id = id.as_str();

    let patched = app.patch_product(id, &json!({"price_cents": 3999})).await;

    assert_eq!(patched["price_cents"], 3999);
    let events = app.events_of(id).await;
    assert_eq!(kinds(&events), [CREATED, UPDATED, PRICE_CHANGED]);
    assert_eq!(events[1].data["price_cents"], 3999);
    assert_eq!(
        events[2].data,
        json!({"product_id": id, "old_price_cents": 4999, "new_price_cents": 3999, "currency": "USD"})
    );

    // The same price again changes nothing and records nothing.
    let unchanged = app.patch_product(id, &json!({"price_cents": 3999})).await;
    assert_eq!(unchanged, patched);
    assert_eq!(app.events_of(id).await.len(), 3);
}

#[tokio::test]
async fn an_admin_deletes_a_product_for_good() {
    let app = spawn_app().await;
    let Created { id, path, .. } = app.create("GONE-1").await;
    let id = id.as_str();

    let res = app
        .send(Method::DELETE, &path, Some(&app.admin_token), None)
        .await;

    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&path).await,
        StatusCode::NOT_FOUND,
        None,
        "deleted product",
    )
    .await;
    let events = app.events_of(id).await;
    assert_eq!(kinds(&events), [CREATED, DELETED]);
    assert_eq!(events[1].data, json!({"product_id": id, "sku": "GONE-1"}));
    let again = app
        .send(Method::DELETE, &path, Some(&app.admin_token), None)
        .await;
    assert_problem(again, StatusCode::NOT_FOUND, None, "deleting twice").await;
    // The sku is free again.
    app.create_product(&new_product("GONE-1")).await;
}

#[tokio::test]
async fn only_administrators_change_the_catalog() {
    // Arrange
    let app = spawn_app().await;
    let Created { product, path, .. } = app.create("GUARD-1").await;
    let before = app.outbox().await.len();
    let create = new_product("GUARD-2");
    let patch = json!({"price_cents": 1});
    let writes: [(Method, &str, Option<&serde_json::Value>); 3] = [
        (Method::POST, "/api/catalog/products", Some(&create)),
        (Method::PATCH, &path, Some(&patch)),
        (Method::DELETE, &path, None),
    ];
    let tokens = refused_callers(&app.customer_token);

    for (method, path, body) in &writes {
        for (token, status, who) in &tokens {
            // Act
            let res = app.send(method.clone(), path, *token, *body).await;

            // Assert
            assert_caller_refused(res, *status, &format!("{method} {path} as {who}")).await;
        }
    }
    assert_eq!(app.outbox().await.len(), before, "nothing was recorded");
    assert_eq!(app.get_json(&path).await, product, "nothing changed");
}
