//! A confirmed order takes what it bought out of the buyer's cart, once, whatever the
//! transport redelivers.

use crate::helpers::{eventually, identity, order_confirmed, spawn_app};
use cart::events::ORDER_CONFIRMED;
use events::Outcome;

#[tokio::test]
async fn a_confirmed_order_empties_the_buyers_cart_of_what_it_bought() {
    // Arrange: the buyer holds a ×3, b ×2, c ×1; another user holds a ×1.
    let app = spawn_app().await;
    let [a, b, c] = &app.product_ids().await;
    let mut buyer = app.shopper_holding(&[(a, 3), (b, 2), (c, 1)]).await;
    let mut other = app.user(&identity().other);
    other.add(a, 1).await.cart();

    // Act: orders confirms an order of a ×1 and b ×2 (through its event log).
    app.orders
        .publish(&order_confirmed(&identity().shopper.id, &[(a, 1), (b, 2)]))
        .await
        .expect("orders records the event");

    // Assert: a keeps the rest, b is gone, c untouched; the other cart too.
    eventually("the order to leave the cart", async || {
        let lines = buyer.get().await.lines();
        (lines.len() == 2).then_some(())
    })
    .await;
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 2), (c.clone(), 1)]);
    assert_eq!(other.get().await.lines(), [(a.clone(), 1)]);

    // An order of more than the cart holds removes the line, and nothing else.
    app.orders
        .publish(&order_confirmed(&identity().shopper.id, &[(a, 5)]))
        .await
        .expect("orders records the event");
    eventually("the second order to leave the cart", async || {
        (buyer.get().await.lines() == [(c.clone(), 1)]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_order_has_no_second_effect_and_a_bad_one_is_set_aside() {
    // Arrange
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut buyer = app.shopper_holding(&[(a, 5)]).await;
    let consumer = app.consumer().await;
    let order = order_confirmed(&identity().shopper.id, &[(a, 2)]);

    // Act / Assert: the first delivery applies, the second is recognised.
    assert_eq!(
        consumer.process(&order, None).await.unwrap(),
        Outcome::Handled
    );
    assert_eq!(
        consumer.process(&order, None).await.unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 3)]);

    // An order for a user without a cart is no work.
    let stranger = order_confirmed("no-such-user", &[(a, 1)]);
    assert_eq!(
        consumer.process(&stranger, None).await.unwrap(),
        Outcome::Handled
    );

    // Data that makes no sense is dead-lettered at once, for an operator to see.
    let bad = events::testing::poison("orders", ORDER_CONFIRMED, "o-1", |data| {
        data["user_id"] = identity().shopper.id.as_str().into();
        data["items"] = events::testing::items_like(data, &[(a, 0)]);
    });
    assert_eq!(
        consumer.process(&bad, None).await.unwrap(),
        Outcome::DeadLettered
    );
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 3)]);
    let letters = platform::testing::Api::new(&app.address)
        .get_json_as("/api/cart/events/dead-letters", &app.admin_token)
        .await;
    let items = letters["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{letters}");
    assert_eq!(items[0]["event_id"], bad.id.as_str());
    assert!(
        items[0]["error"]
            .as_str()
            .unwrap()
            .contains("items[0].quantity"),
        "{letters}"
    );
}
