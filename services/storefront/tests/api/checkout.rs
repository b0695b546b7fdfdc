//! Checkout through the real saga (cart, inventory, payments, orders) and what the
//! shopper sees of each outcome: the order page, a declined card with the cart kept,
//! stock that ran out, fields to fix; a double submit that orders once; and the
//! confirmation arriving live on the notification stream.

use crate::helpers::{
    Browser, Page, Storefront, eventually, products, set_stock, shop, spawn_storefront,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A signed-in shopper with `quantity` of a product (given `stock`) in their cart.
async fn shopper_with(
    sf: &Storefront,
    index: usize,
    stock: i64,
    quantity: &str,
) -> (Browser, Value) {
    let product = products(40).await.remove(index);
    let id = product["id"].as_str().unwrap().to_owned();
    set_stock(&id, stock).await;
    let mut browser = Browser::customer(sf).await;
    browser.add_to_cart(&id, quantity).await;
    (browser, product)
}

/// The hidden idempotency key of a checkout form.
fn key_of(page: &Page) -> String {
    hidden(page, "idempotency_key")
}

/// The value of the checkout form's hidden field `name`.
fn hidden(page: &Page, name: &str) -> String {
    page.body
        .split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("a hidden {name}: {}", page.body))
        .to_owned()
}

fn form<'a>(key: &'a str, card: &'a str, city: &'a str, year: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("idempotency_key", key),
        ("name", "Sam Shopper"),
        ("line1", "1 Analytical Engine Way"),
        ("city", city),
        ("postal_code", "N1 9GU"),
        ("country", "gb"),
        ("card_number", card),
        ("exp_month", "12"),
        ("exp_year", year),
        ("cvc", "123"),
    ]
}

/// Reads an event stream until it says `text` (within half a minute, for a busy
/// machine); whether it did, and what it said.
async fn read_until(stream: &mut reqwest::Response, text: &str) -> (bool, String) {
    let mut said = String::new();
    let heard = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            said.push_str(&String::from_utf8_lossy(&chunk));
            if said.contains(text) {
                return true;
            }
        }
        false
    })
    .await;
    (heard == Ok(true), said)
}

#[tokio::test]
async fn an_order_is_placed_once_and_confirmed_live() {
    let sf = spawn_storefront(&[]).await;
    let (mut browser, product) = shopper_with(&sf, 5, 50, "2").await;
    let name = product["name"].as_str().unwrap().replace('&', "&amp;");

    // The notification stream, through the storefront, with the session cookie.
    let cookie = format!("bazaar_session={}", browser.cookies["bazaar_session"]);
    let mut stream = reqwest::Client::new()
        .get(format!("{}/account/notifications/stream", sf.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // A page rendered now, whose script connects only after the order is confirmed: its
    // stream starts after the newest notification it counted (the welcome), not at the
    // moment it connects.
    let late_stream = eventually("the welcome to be counted", async || {
        let page = browser.get("/").await;
        let stream = page
            .body
            .split(r#"data-stream=""#)
            .nth(1)?
            .split('"')
            .next()?
            .replace("&amp;", "&");
        stream.contains("?after=").then_some(stream)
    })
    .await;

    let page = browser.get("/checkout").await;
    page.assert_html(
        StatusCode::OK,
        &[&name, r#"value="Sam Shopper""#, "Place order"],
    );
    crate::helpers::assert_accessible(&page.body);
    let key = key_of(&page);
    let placed = browser
        .post(
            "/checkout",
            &form(&key, "4242 4242 4242 4242", "London", "2034"),
        )
        .await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let order_url = placed.location().to_owned();
    assert!(
        order_url.starts_with("/orders/") && order_url.ends_with("?placed=1"),
        "{order_url}"
    );

    // The same form sent again is the same order.
    let again = browser
        .post(
            "/checkout",
            &form(&key, "4242 4242 4242 4242", "London", "2034"),
        )
        .await;
    assert_eq!(again.location(), order_url, "a double submit orders once");

    let order = browser.get(&order_url).await;
    order.assert_html(
        StatusCode::OK,
        &[
            "Thank you! Your order is confirmed.",
            &name,
            "Confirmed",
            "1 Analytical Engine Way",
        ],
    );
    crate::helpers::assert_accessible(&order.body);
    let orders = browser.get("/orders").await;
    orders.assert_html(StatusCode::OK, &["1 order", "Confirmed"]);

    // The confirmation arrives on the stream the header's badge listens to.
    let (heard, received) = read_until(&mut stream, "is confirmed").await;
    assert!(heard, "the stream said: {received}");
    let mut late = reqwest::Client::new()
        .get(format!("{}{late_stream}", sf.url))
        .header(
            "cookie",
            format!("bazaar_session={}", browser.cookies["bazaar_session"]),
        )
        .send()
        .await
        .unwrap();
    let (replayed, caught_up) = read_until(&mut late, "is confirmed").await;
    assert!(replayed, "the late stream said: {caught_up}");

    // The checkout took what it bought out of the cart.
    eventually("the cart to empty", async || {
        browser
            .get("/cart")
            .await
            .body
            .contains("Your cart is empty.")
            .then_some(())
    })
    .await;

    // Unread until looked at.
    let home = browser.get("/").await;
    let unread: i64 = home
        .body
        .split(r#"data-count=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(unread >= 1, "{unread} unread");
    let list = browser.get("/account/notifications").await;
    list.assert_html(StatusCode::OK, &["is confirmed", "notification unread"]);
    let home = browser.get("/").await;
    assert!(home.body.contains(r#"data-count="0""#), "read now");
}

#[tokio::test]
async fn a_declined_card_is_explained_and_the_cart_kept() {
    let sf = spawn_storefront(&[]).await;
    let (mut browser, product) = shopper_with(&sf, 6, 50, "1").await;
    let name = product["name"].as_str().unwrap().replace('&', "&amp;");
    for (card, words) in [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "declined for insufficient funds"),
    ] {
        let page = browser.get("/checkout").await;
        let key = key_of(&page);
        let declined = browser
            .post("/checkout", &form(&key, card, "London", "2034"))
            .await;
        declined.assert_html(
            StatusCode::PAYMENT_REQUIRED,
            &[
                words,
                "cart has been kept",
                r#"id="f-card_number-error""#,
                &name,
            ],
        );
        assert_ne!(key_of(&declined), key, "another try is another request");
        assert!(
            !declined.body.contains(card),
            "the card number is never shown back"
        );
    }
    let cart = browser.get("/cart").await;
    cart.assert_html(StatusCode::OK, &[&name]);
}

/// A payment that fails for now keeps the order open for the same form: the form comes
/// back with its key, though the cart reads empty (its items are held for the order).
#[tokio::test]
async fn a_payment_that_fails_for_now_brings_the_same_form_back() {
    let sf = spawn_storefront(&[]).await;
    let (mut browser, _) = shopper_with(&sf, 8, 50, "1").await;
    let page = browser.get("/checkout").await;
    let key = key_of(&page);
    // Each answer brings the form back with its key: the order it placed is still open
    // (its items set aside, so the cart reads empty, which the page must not say).
    let mut send = async |card: &str, status: StatusCode, said: &[&str]| {
        let page = browser
            .post("/checkout", &form(&key, card, "Leeds", "2034"))
            .await;
        let mut expected = said.to_vec();
        expected.extend([r#"id="checkout-held""#, r#"id="place-order""#]);
        page.assert_html(status, &expected);
        assert!(!page.body.contains("Your cart is empty"), "{}", page.body);
        assert_eq!(key_of(&page), key, "the same form carries the order on");
    };
    send(
        "4000000000000119",
        StatusCode::SERVICE_UNAVAILABLE,
        &[
            "Your order is not finished yet",
            "Enter the same card again",
        ],
    )
    .await;
    // The shopper tries another card on it: that order waits for the first card, and
    // the form says so (a review found a dead end: "your cart is empty").
    send(
        "4242424242424242",
        StatusCode::UNPROCESSABLE_ENTITY,
        &[
            "Your earlier try of this order is not finished",
            "submit the card and address you gave first",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_price_changed_while_the_form_was_open_is_shown_before_anything_is_charged() {
    let sf = spawn_storefront(&[]).await;
    let shop = shop();
    let admin = platform::testing::CatalogAdmin::new(&shop.catalog, &shop.admin_token);
    let id = admin
        .create_product(&json!({
            "sku": format!("PRICE-{}", &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()),
            "name": "Repriced Teapot", "description": "Its price moves.", "category": "kitchen",
            "price_cents": 1000, "initial_stock": 10
        }))
        .await;
    set_stock(&id, 10).await;
    let mut browser = Browser::customer(&sf).await;
    browser.add_to_cart(&id, "2").await;
    let page = browser.get("/checkout").await;
    assert_eq!(hidden(&page, "expected_total_cents"), "2000");

    // The price rises while the shopper fills the form in.
    admin.set_price(&id, 1500).await;
    eventually("the cart to have the new price", async || {
        let cart = browser.get("/cart").await;
        cart.body.contains("$30.00").then_some(())
    })
    .await;

    let key = key_of(&page);
    let mut filled = form(&key, "4242424242424242", "London", "2034");
    let shown = hidden(&page, "expected_total_cents");
    filled.push(("expected_total_cents", &shown));
    let told = browser.post("/checkout", &filled).await;
    told.assert_html(
        StatusCode::CONFLICT,
        &[
            "Your total has changed",
            "$30.00",
            r#"name="expected_total_cents" value="3000""#,
        ],
    );

    // Placed again from the page that says the new total: bought at it.
    let key = key_of(&told);
    let mut again = form(&key, "4242424242424242", "London", "2034");
    let shown = hidden(&told, "expected_total_cents");
    again.push(("expected_total_cents", &shown));
    let placed = browser.post("/checkout", &again).await;
    assert!(placed.location().starts_with("/orders/"), "{}", placed.body);
    let order = browser.get(placed.location()).await;
    assert!(order.body.contains("$30.00"), "{}", order.body);
}

#[tokio::test]
async fn short_stock_and_bad_fields_are_shown_where_they_belong() {
    let sf = spawn_storefront(&[]).await;
    let (mut browser, product) = shopper_with(&sf, 7, 1, "2").await;
    let name = product["name"].as_str().unwrap().replace('&', "&amp;");

    let page = browser.get("/checkout").await;
    let key = key_of(&page);
    let local = browser
        .post("/checkout", &form(&key, "4242424242424242", "", "2034"))
        .await;
    local.assert_html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &[r#"id="f-city-error""#, "Enter the town or city."],
    );

    let short = browser
        .post(
            "/checkout",
            &form(&key_of(&local), "4242424242424242", "London", "2034"),
        )
        .await;
    short.assert_html(
        StatusCode::CONFLICT,
        &[
            "Some items are out of stock",
            &format!("{name}: only 1 left"),
            r#"href="/cart""#,
        ],
    );

    // With a quantity there is stock for, a card that expired long ago is refused by
    // payments, and the form says which field.
    let id = product["id"].as_str().unwrap();
    let fewer = browser
        .post(&format!("/cart/items/{id}"), &[("quantity", "1")])
        .await;
    assert_eq!(fewer.location(), "/cart?notice=updated");
    let page = browser.get("/checkout").await;
    let expired = browser
        .post(
            "/checkout",
            &form(&key_of(&page), "4242424242424242", "London", "2001"),
        )
        .await;
    expired.assert_html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &[r#"aria-invalid="true""#],
    );
    assert!(
        expired.body.contains(r#"id="f-exp_year-error""#)
            || expired.body.contains(r#"id="f-exp_month-error""#),
        "{}",
        expired.body
    );
    assert!(!expired.body.contains("out of stock"));
}
