//! The cart follows the catalog: lines show a product as the catalog has it now, a
//! deleted product stays in the cart as unavailable, and only known, sellable products
//! can be added.

use crate::helpers::{eventually, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn a_price_change_in_the_catalog_shows_in_the_cart() {
    // Arrange
    let app = spawn_app().await;
    let products = app.products(2).await;
    let (a, b) = (&products[0], &products[1]);
    let mut visitor = app.visitor_holding(&[(&a.id, 2), (&b.id, 1)]).await;
    let new_price = a.price_cents + 150;

    // Act: an administrator changes the price in the catalog.
    app.set_price(&a.id, new_price).await;

    // Assert: the cart shows it shortly after, totals included.
    let cart = eventually("the new price in the cart", async || {
        let answer = visitor.get().await;
        (answer.cart()["items"][0]["unit_price_cents"] == new_price).then_some(answer.body)
    })
    .await;
    assert_eq!(cart["items"][0]["line_total_cents"], 2 * new_price);
    assert_eq!(cart["items"][1]["unit_price_cents"], b.price_cents);
    assert_eq!(cart["total_cents"], 2 * new_price + b.price_cents);
}

#[tokio::test]
async fn a_deleted_product_stays_unavailable_and_cannot_be_added() {
    // Arrange
    let app = spawn_app().await;
    let products = app.products(2).await;
    let (gone, kept) = (&products[0], &products[1]);
    let mut shopper = app.user(&crate::helpers::identity().shopper);
    shopper.fill(&[(&gone.id, 1), (&kept.id, 2)]).await;

    // Act
    app.delete_product(&gone.id).await;

    // Assert: the line stays, unavailable, counting for nothing.
    let cart = eventually("the deleted product unavailable", async || {
        let answer = shopper.get().await;
        (answer.cart()["items"][0]["available"] == false).then_some(answer.body)
    })
    .await;
    assert_eq!(cart["items"][0]["name"], gone.name.as_str());
    assert_eq!(cart["items"][1]["available"], true);
    assert_eq!(cart["total_cents"], 2 * kept.price_cents);

    // It cannot be added again, nor its quantity changed; it can be removed.
    shopper.add(&gone.id, 1).await.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("product_id"),
        "adding it",
    );
    app.visitor().add(&gone.id, 1).await.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("product_id"),
        "a visitor adding it",
    );
    shopper.set(&gone.id, 3).await.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("product_id"),
        "changing its line",
    );
    assert_eq!(
        shopper.remove(&gone.id).await.lines(),
        [(kept.id.clone(), 2)]
    );
    assert_eq!(
        app.carts("anonymous").await,
        0,
        "a refused add makes no cart"
    );
}

#[tokio::test]
async fn a_new_product_can_be_added_once_announced_unless_in_another_currency() {
    let app = spawn_app().await;
    let kettle = app.create_product("CART-KETTLE-1", 2599, "USD").await;
    // The catalog refuses a product in another currency than the shop's; one announced by
    // a catalog configured otherwise (another BAZAAR_CURRENCY) still cannot be bought.
    let euro = uuid::Uuid::new_v4().to_string();
    let announced = events::Event::new(
        "catalog",
        "bazaar.catalog.product.created.v1",
        euro.clone(),
        serde_json::json!({
            "id": euro, "sku": "CART-KETTLE-EUR", "name": "Euro Kettle",
            "description": "", "category": "kitchen", "price_cents": 2599, "currency": "EUR",
            "created_at": "2026-12-06T08:00:00.000Z", "updated_at": "2026-12-06T08:00:00.000Z",
            "initial_stock": 5
        }),
    )
    .unwrap();
    app.consumer()
        .await
        .process(&announced, None)
        .await
        .unwrap();
    let mut visitor = app.visitor();

    let added = visitor.add(&kettle, 3).await;
    assert_eq!(added.cart()["items"][0]["name"], "Test Kettle");
    assert_eq!(added.cart()["items"][0]["unit_price_cents"], 2599);
    assert_eq!(added.cart()["total_cents"], 3 * 2599);
    visitor.add(&euro, 1).await.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("product_id"),
        "a EUR product",
    );
}
