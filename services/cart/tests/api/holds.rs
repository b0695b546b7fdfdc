//! A checkout takes its lines out of the buyer's cart at once (for orders only), so a
//! second checkout cannot buy them again; the order's confirmation settles them and its
//! cancellation gives them back.

use crate::helpers::{
    Answer, Shopper, TestApp, eventually, identity, order_confirmed_as, spawn_app,
};
use cart::events::ORDER_CANCELLED;
use events::Event;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

/// Orders, calling with its service credential.
fn orders(app: &TestApp) -> Shopper<'_> {
    let mut orders = app.visitor();
    orders.token = Some(identity::testing::shared().service_token("orders"));
    orders
}

fn take_body(order_id: &str, user_id: &str, items: &[(&str, i64)]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(id, q)| json!({"product_id": id, "quantity": q}))
        .collect();
    json!({"order_id": order_id, "user_id": user_id, "items": items})
}

async fn take(caller: &mut Shopper<'_>, order_id: &str, items: &[(&str, i64)]) -> Answer {
    let body = take_body(order_id, &identity().shopper.id, items);
    caller
        .send(Method::POST, "/api/cart/holds", Some(body))
        .await
}

/// A checkout of a new order takes `lines` from the shared shopper's cart; returns the
/// order's id.
async fn taken_by_new_order(orders: &mut Shopper<'_>, lines: &[(&str, i64)]) -> String {
    let order = uuid::Uuid::now_v7().to_string();
    let taken = take(orders, &order, lines).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    order
}

/// An `order.cancelled` as orders sends it, for the shared shopper.
fn order_cancelled(order_id: &str) -> Event {
    events::testing::event("orders", ORDER_CANCELLED, order_id, |data| {
        data["order_id"] = order_id.into();
        data["user_id"] = identity().shopper.id.as_str().into();
    })
}

/// The state of an order's hold in the cart's database, once there is one.
async fn hold_state(app: &TestApp, order_id: &str) -> Option<String> {
    sqlx::query("SELECT state FROM cart_holds WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(app.db().await.pool())
        .await
        .expect("the holds table")
        .map(|r| r.get("state"))
}

#[tokio::test]
async fn a_checkout_takes_its_lines_once_and_a_second_checkout_finds_them_gone() {
    // Arrange: the buyer holds a ×3 and b ×2.
    let app = spawn_app().await;
    let [a, b, c] = &app.product_ids().await;
    let mut buyer = app.shopper_holding(&[(a, 3), (b, 2)]).await;
    let mut orders = orders(&app);
    let (first, second) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );

    // Act: the first checkout takes a ×2 and b ×2; then takes again (a retried step).
    let taken = take(&mut orders, &first, &[(a, 2), (b, 2)]).await;
    let again = take(&mut orders, &first, &[(a, 2), (b, 2)]).await;

    // Assert: taken once; the line of a keeps the unit not ordered.
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    assert_eq!(taken.body["outcome"], "taken");
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["outcome"], "already");
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 1)]);

    // A second checkout that read the cart before the first took it finds its lines gone,
    // and takes nothing.
    let late = take(&mut orders, &second, &[(a, 3), (b, 2)]).await;
    late.assert_problem(
        StatusCode::CONFLICT,
        None,
        "a second checkout of the same lines",
    );
    assert_eq!(late.body["type"], "urn:bazaar:problem:cart-changed");
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 1)]);

    // The shopper adds c; the first order's confirmation arrives late: it settles the hold
    // and takes nothing more out of the cart.
    buyer.add(c, 1).await.cart();
    let confirmed = order_confirmed_as(&first, &identity().shopper.id, &[(a, 2), (b, 2)]);
    app.orders
        .publish(&confirmed)
        .await
        .expect("orders records the event");
    eventually("the confirmation to settle the hold", async || {
        (hold_state(&app, &first).await.as_deref() == Some("bought")).then_some(())
    })
    .await;
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 1), (c.clone(), 1)]);
}

#[tokio::test]
async fn a_cancelled_order_gives_back_what_it_took_and_takes_nothing_after() {
    // Arrange: the buyer's a ×2 is taken by a checkout; then the shopper adds a and b.
    let app = spawn_app().await;
    let [a, b] = &app.product_ids().await;
    let mut buyer = app.shopper_holding(&[(a, 2)]).await;
    let mut orders = orders(&app);
    let order = taken_by_new_order(&mut orders, &[(a, 2)]).await;
    assert_eq!(buyer.get().await.lines(), []);
    buyer.fill(&[(a, 1), (b, 1)]).await;

    // Act: the order is cancelled.
    app.orders
        .publish(&order_cancelled(&order))
        .await
        .expect("orders records the event");

    // Assert: its lines are back, added to what the cart holds now.
    eventually("the cancelled order's lines to come back", async || {
        (buyer.get().await.lines() == [(a.clone(), 3), (b.clone(), 1)]).then_some(())
    })
    .await;
    assert_eq!(hold_state(&app, &order).await.as_deref(), Some("returned"));
    // A take for the cancelled order, arriving late, takes nothing.
    let late = take(&mut orders, &order, &[(a, 2)]).await;
    late.assert_problem(StatusCode::CONFLICT, None, "a take after the cancellation");
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 3), (b.clone(), 1)]);

    // An order cancelled before it took anything leaves a mark its late take meets.
    let never = uuid::Uuid::now_v7().to_string();
    app.orders
        .publish(&order_cancelled(&never))
        .await
        .expect("orders records the event");
    eventually("the cancellation to be marked", async || {
        hold_state(&app, &never).await.filter(|s| s == "returned")
    })
    .await;
    let late = take(&mut orders, &never, &[(a, 1)]).await;
    late.assert_problem(
        StatusCode::CONFLICT,
        None,
        "a take after a cancellation that took nothing",
    );
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 3), (b.clone(), 1)]);
}

/// A service's token acts for no person: the customer's cart routes refuse it (with one,
/// a caller made a cart of a user named `service:storefront`: the keys review).
#[tokio::test]
async fn a_services_token_has_no_cart() {
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut service = app.visitor();
    service.token = Some(identity::testing::shared().service_token("storefront"));
    let read = service.send(Method::GET, "/api/cart", None).await;
    read.assert_problem(StatusCode::FORBIDDEN, None, "a service reading a cart");
    let add = service
        .send(
            Method::POST,
            "/api/cart/items",
            Some(json!({"product_id": a, "quantity": 1})),
        )
        .await;
    add.assert_problem(StatusCode::FORBIDDEN, None, "a service adding to a cart");
}

#[tokio::test]
async fn only_orders_takes_and_a_bad_take_names_its_fields() {
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut buyer = app.shopper_holding(&[(a, 1)]).await;
    let order = uuid::Uuid::now_v7().to_string();

    // A customer's token, another service's, none at all: refused, nothing taken.
    let own = take(&mut app.user(&identity().shopper), &order, &[(a, 1)]).await;
    own.assert_problem(StatusCode::FORBIDDEN, None, "the buyer's own token");
    let mut search = app.visitor();
    search.token = Some(identity::testing::shared().service_token("search"));
    let other = take(&mut search, &order, &[(a, 1)]).await;
    other.assert_problem(StatusCode::FORBIDDEN, None, "another service's token");
    let anonymous = take(&mut app.visitor(), &order, &[(a, 1)]).await;
    anonymous.assert_problem(StatusCode::UNAUTHORIZED, None, "no token");
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 1)]);

    // Bad input names each field.
    let mut orders = orders(&app);
    let cases: [(Value, &str); 5] = [
        (take_body("", "u", &[(a, 1)]), "order_id"),
        (take_body(&order, " ", &[(a, 1)]), "user_id"),
        (take_body(&order, "u", &[]), "items"),
        (take_body(&order, "u", &[(a, 0)]), "items[0].quantity"),
        (
            take_body(&order, "u", &[(a, 1), (a, 1)]),
            "items[1].product_id",
        ),
    ];
    for (body, field) in cases {
        let answer = orders
            .send(Method::POST, "/api/cart/holds", Some(body))
            .await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field), field);
    }
    let long = format!("/api/cart/holds/{}/return", "o".repeat(101));
    let answer = orders
        .send(Method::POST, &long, Some(json!({"user_id": "u"})))
        .await;
    answer.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("order_id"),
        "a long id",
    );
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 1)]);
}

#[tokio::test]
async fn the_saga_gives_a_cancelled_orders_lines_back_at_once_and_its_event_adds_nothing() {
    // Arrange: a checkout took a ×2; the shopper then added a ×1.
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut buyer = app.shopper_holding(&[(a, 2)]).await;
    let mut orders = orders(&app);
    let order = taken_by_new_order(&mut orders, &[(a, 2)]).await;
    buyer.add(a, 1).await.cart();
    let give_back = format!("/api/cart/holds/{order}/return");
    let buyer_id = json!({"user_id": identity().shopper.id});

    // Act: the saga compensates (twice: a retried step), then the event arrives.
    let back = orders
        .send(Method::POST, &give_back, Some(buyer_id.clone()))
        .await;
    let again = orders
        .send(Method::POST, &give_back, Some(buyer_id.clone()))
        .await;
    app.orders
        .publish(&order_cancelled(&order))
        .await
        .expect("orders records the event");

    // Assert: given back once, at once.
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(back.body["outcome"], "returned");
    assert_eq!(again.body["outcome"], "already");
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 3)]);
    let consumer = app.consumer().await;
    let event = order_cancelled(&order);
    consumer.process(&event, None).await.unwrap();
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 3)]);

    // A confirmed order's lines are bought: not given back.
    let bought = taken_by_new_order(&mut orders, &[(a, 1)]).await;
    let confirmed = order_confirmed_as(&bought, &identity().shopper.id, &[(a, 1)]);
    consumer.process(&confirmed, None).await.unwrap();
    let refused = orders
        .send(
            Method::POST,
            &format!("/api/cart/holds/{bought}/return"),
            Some(buyer_id),
        )
        .await;
    refused.assert_problem(StatusCode::CONFLICT, None, "giving back a bought order");
    assert_eq!(buyer.get().await.lines(), [(a.clone(), 2)]);
}
