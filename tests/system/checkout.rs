//! The shopping flow across real processes: cart, inventory, payments, orders (the
//! checkout saga) and notifications, through the gateway.

use crate::helpers::{
    DECLINED_CARD, GOOD_CARD, Options, Shape, Shop, checkout_body, eventually, scalar, send_json,
    send_status, unique,
};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// An admin-created product with `stock` units, already known to inventory (cart's copy
/// arrives the same way).
pub(crate) async fn stocked_product(shop: &Shop, admin: &str, stock: u32) -> String {
    let sku = format!("CHK-{}", &unique().replace('-', "")[..12]);
    let id = shop
        .create_product(
            admin,
            json!({"sku": sku, "name": "Limited Edition Teapot", "description": "Only a few were made.",
                   "price_cents": 3500, "initial_stock": stock}),
        )
        .await;
    shop.stock(&id, Duration::from_secs(20)).await;
    id
}

async fn add_to_cart(shop: &Shop, token: &str, product: &str, quantity: u32) {
    shop.add_to_cart(Some(token), product, quantity, Duration::from_secs(20))
        .await;
}

/// Where a checkout test starts: an administrator's token, a new product with `stock`
/// in stock, and a new customer's token, their cart holding `quantity` of the product.
async fn ready_to_check_out(shop: &Shop, stock: u32, quantity: u32) -> (String, String, String) {
    let admin = shop.admin_token().await;
    let product = stocked_product(shop, &admin, stock).await;
    let token = shop.customer_token().await;
    add_to_cart(shop, &token, &product, quantity).await;
    (admin, product, token)
}

/// The product's stock, once inventory knows it.
async fn stock(shop: &Shop, product: &str) -> Value {
    shop.stock(product, Duration::from_secs(30)).await
}

/// The user's notifications whose subject contains `needle` (none while notifications
/// does not answer).
async fn notifications_about(shop: &Shop, token: &str, needle: &str) -> Vec<Value> {
    let items = shop.json("/api/notifications", Some(token)).await;
    let about = |m: &&Value| m["subject"].as_str().is_some_and(|s| s.contains(needle));
    items
        .as_array()
        .map(|a| a.iter().filter(about).cloned().collect())
        .unwrap_or_default()
}

/// Polls the user's notifications until `n` whose subject contains `needle` arrived.
async fn wait_for_notifications(
    shop: &Shop,
    token: &str,
    needle: &str,
    n: usize,
    within: Duration,
) {
    eventually(
        within,
        Duration::from_millis(100),
        async || match notifications_about(shop, token, needle).await.len() {
            got if got == n => Ok(()),
            got => Err(format!("{got} of {n} notifications with `{needle}`")),
        },
    )
    .await
}

crate::in_both_shapes!(a_shopper_browses_signs_in_with_a_merged_cart_checks_out_and_is_notified);
async fn a_shopper_browses_signs_in_with_a_merged_cart_checks_out_and_is_notified(shape: Shape) {
    let shop = Shop::start_in(shape);
    let products: Value = shop
        .json("/api/catalog/products?per_page=3&sort=price_asc", None)
        .await;
    let a = products["items"][0]["id"].as_str().unwrap().to_owned();
    let b = products["items"][1]["id"].as_str().unwrap().to_owned();

    // Anonymous: the cart lives behind a cookie. (The cart learns the seeded products
    // from the catalog's events; on a fresh shop that takes a moment.)
    let r = shop.add_to_cart(None, &a, 2, Duration::from_secs(30)).await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("an anonymous cart cookie")
        .to_owned();

    // Signing in merges it into the user's cart.
    let token = shop.customer_token().await;
    add_to_cart(&shop, &token, &b, 1).await;
    let cart = send_json(
        shop.get("/api/cart")
            .bearer_auth(&token)
            .header("cookie", &cookie),
    )
    .await;
    let lines = cart["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{cart}");
    let before_a = stock(&shop, &a).await["available"].as_i64().unwrap();
    stock(&shop, &b).await; // inventory has caught up with the seed too

    let (status, order) = shop.checkout(&token, &unique(), GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["total_cents"], cart["total_cents"]);
    assert_eq!(
        stock(&shop, &a).await["available"].as_i64().unwrap(),
        before_a - 2
    );

    let id = order["id"].as_str().unwrap();
    let fetched: Value = shop.json(&format!("/api/orders/{id}"), Some(&token)).await;
    assert_eq!(fetched["status"], "confirmed");
    // Another user sees nothing of it.
    let other = shop.customer_token().await;
    let theirs = shop.get(&format!("/api/orders/{id}")).bearer_auth(&other);
    assert_eq!(send_status(theirs).await, StatusCode::NOT_FOUND);

    wait_for_notifications(&shop, &token, "confirmed", 1, Duration::from_secs(20)).await;
    // The checkout took what it bought out of the cart.
    shop.cart_emptied(&token, Duration::from_secs(20)).await;
}

crate::in_both_shapes!(a_declined_card_changes_nothing_but_says_so);
async fn a_declined_card_changes_nothing_but_says_so(shape: Shape) {
    let shop = Shop::start_in(shape);
    let (admin, product, token) = ready_to_check_out(&shop, 5, 2).await;
    let (status, problem) = shop.checkout(&token, &unique(), DECLINED_CARD).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
    let s = stock(&shop, &product).await;
    assert_eq!(s["available"], 5, "stock is back: {s}");
    assert_eq!(s["reserved"], 0);
    let summary: Value = shop
        .json("/api/payments/ledger/summary", Some(&admin))
        .await;
    assert_eq!(summary["captured_cents"], 0, "{summary}");
    wait_for_notifications(&shop, &token, "declined", 1, Duration::from_secs(20)).await;
    // The cart is kept for another try.
    let cart: Value = shop.json("/api/cart", Some(&token)).await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 1);
}

crate::in_both_shapes!(a_hundred_checkouts_for_ten_in_stock_sell_exactly_ten);
async fn a_hundred_checkouts_for_ten_in_stock_sell_exactly_ten(shape: Shape) {
    let shop = Shop::start_in(shape);
    let admin = shop.admin_token().await;
    let product = stocked_product(&shop, &admin, 10).await;
    let mut tokens = Vec::new();
    for _ in 0..100 {
        let token = shop.customer_token().await;
        add_to_cart(&shop, &token, &product, 1).await;
        tokens.push(token);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let url = shop.url.clone();
        let http = shop.http.clone();
        tasks.spawn(async move {
            http.post(format!("{url}/api/orders/checkout"))
                .bearer_auth(&token)
                .header("Idempotency-Key", unique())
                .json(&checkout_body(GOOD_CARD))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let mut created = 0;
    let mut conflicts = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created, conflicts), (10, 90));
    let s = stock(&shop, &product).await;
    assert_eq!(s["available"], 0, "{s}");
    assert_eq!(s["reserved"], 0, "no reservation left behind: {s}");
}

crate::in_both_shapes!(the_same_checkout_five_times_at_once_is_one_order_and_one_charge);
async fn the_same_checkout_five_times_at_once_is_one_order_and_one_charge(shape: Shape) {
    let shop = Shop::start_in(shape);
    let (admin, product, token) = ready_to_check_out(&shop, 50, 3).await;
    let key = unique();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (url, http, token, key) = (
            shop.url.clone(),
            shop.http.clone(),
            token.clone(),
            key.clone(),
        );
        tasks.spawn(async move {
            let r = http
                .post(format!("{url}/api/orders/checkout"))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(&checkout_body(GOOD_CARD))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{body}; the shop's log:\n{}",
            shop.log_tail(40)
        );
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order: {ids:?}");
    let orders: Value = shop.json("/api/orders", Some(&token)).await;
    assert_eq!(orders["total"], 1);
    let summary: Value = shop
        .json("/api/payments/ledger/summary", Some(&admin))
        .await;
    assert_eq!(
        summary["captured_cents"],
        3 * 3500,
        "one capture: {summary}"
    );
    assert_eq!(stock(&shop, &product).await["available"], 47);
}

#[tokio::test]
async fn checkouts_succeed_while_notifications_is_down_and_the_messages_arrive_later() {
    let shop = Shop::start();
    let admin = shop.admin_token().await;
    let product = stocked_product(&shop, &admin, 20).await;
    let token = shop.customer_token().await;
    let pid = shop
        .service_pid("notifications")
        .expect("notifications runs");
    // Hung, not dead: nobody can reach it, and the supervisor does not restart it for
    // some 15 s (a replica that answers nothing for longer is killed and started again).
    signal::kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
    let mut confirmed = 0;
    for _ in 0..3 {
        add_to_cart(&shop, &token, &product, 1).await;
        let (status, body) = shop.checkout(&token, &unique(), GOOD_CARD).await;
        if status == StatusCode::CREATED {
            confirmed += 1;
        } else {
            signal::kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
            panic!("checkout failed while notifications was down: {status} {body}");
        }
        // Wait for the cart to empty before the next round.
        shop.cart_emptied(&token, Duration::from_secs(20)).await;
    }
    signal::kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
    assert_eq!(confirmed, 3);
    wait_for_notifications(&shop, &token, "confirmed", 3, Duration::from_secs(30)).await;
}

crate::in_both_shapes!(orders_killed_mid_saga_ends_every_checkout_confirmed_or_compensated);
async fn orders_killed_mid_saga_ends_every_checkout_confirmed_or_compensated(shape: Shape) {
    let shop = Shop::start_with(Options::env("BAZAAR_LOG", "error").in_shape(shape));
    let admin = shop.admin_token().await;
    let product = stocked_product(&shop, &admin, 1000).await;
    const SHOPPERS: usize = 20;
    const ROUNDS: usize = 10; // 200 checkouts
    let mut tokens = Vec::new();
    for _ in 0..SHOPPERS {
        tokens.push(shop.customer_token().await);
    }
    let mut kills = 0;
    let mut outcomes = [0_usize; 2];
    for round in 0..ROUNDS {
        let mut tasks = tokio::task::JoinSet::new();
        for token in &tokens {
            add_to_cart(&shop, token, &product, 1).await;
            let (url, http, token) = (shop.url.clone(), shop.http.clone(), token.clone());
            tasks.spawn(async move {
                // A client retries with the same key until it gets a final answer: not a
                // 5xx, nor a 409 saying the checkout with this key is still running.
                let key = unique();
                for _ in 0..60 {
                    if let Ok(r) = http
                        .post(format!("{url}/api/orders/checkout"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&checkout_body(GOOD_CARD))
                        .send()
                        .await
                        && !r.status().is_server_error()
                    {
                        let status = r.status();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        let kind = body["type"].as_str().unwrap_or_default().to_owned();
                        if kind != "urn:bazaar:problem:request-in-progress" {
                            return (token, status, kind, body);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                (
                    token,
                    StatusCode::SERVICE_UNAVAILABLE,
                    String::new(),
                    Value::Null,
                )
            });
        }
        // Kill orders at a different moment in each round.
        tokio::time::sleep(Duration::from_millis(20 + (round as u64 * 37) % 150)).await;
        if let Some(pid) = shop.service_pid("orders") {
            let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            kills += 1;
        }
        while let Some(r) = tasks.join_next().await {
            // Confirmed, or cancelled because the crash came before the payment was
            // authorised for good (the card details died with the process): nothing else.
            let (token, status, kind, body) = r.unwrap();
            let interrupted =
                status == StatusCode::CONFLICT && kind == "urn:bazaar:problem:checkout-interrupted";
            assert!(
                status.is_success() || interrupted,
                "a checkout ended with {status}: {body}"
            );
            outcomes[usize::from(interrupted)] += 1;
            // A confirmed checkout took its line out of the cart before it answered. An
            // interrupted one gives it back once its compensation is done (recovery may
            // finish that after the answer): the next round starts from an empty cart,
            // as a shopper's next visit would, once every order is final.
            if interrupted {
                shop.fresh_cart(&token, Duration::from_secs(60)).await;
            } else {
                shop.cart_emptied(&token, Duration::from_secs(30)).await;
            }
        }
    }
    assert!(kills >= 5);
    eprintln!(
        "{kills} kills of orders: {} checkouts confirmed, {} interrupted",
        outcomes[0], outcomes[1]
    );

    // Every saga ends confirmed or cancelled; money and stock agree with the orders.
    let orders_db = shop.database("orders").await;
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            let open = scalar(
                &orders_db,
                "SELECT COUNT(*) FROM orders WHERE status NOT IN ('confirmed', 'cancelled')",
            )
            .await;
            match open {
                0 => Ok(()),
                _ => Err(format!("{open} sagas never finished")),
            }
        },
    )
    .await;
    let confirmed_total = scalar(
        &orders_db,
        "SELECT CAST(COALESCE(SUM(total_cents), 0) AS BIGINT) FROM orders WHERE status = 'confirmed'",
    )
    .await;
    let summary: Value = shop
        .json("/api/payments/ledger/summary", Some(&admin))
        .await;
    let captured = summary["captured_cents"].as_i64().unwrap()
        - summary["refunded_cents"].as_i64().unwrap_or(0);
    assert_eq!(
        captured, confirmed_total,
        "money captured = total of confirmed orders: {summary}"
    );
    // No authorisation left open: each was captured or voided.
    let payments = shop.database("payments").await;
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || match scalar(
            &payments,
            "SELECT COUNT(*) FROM authorizations WHERE status = 'authorized'",
        )
        .await
        {
            0 => Ok(()),
            open => Err(format!("{open} authorisations are still open")),
        },
    )
    .await;
    // Stock conserved: what confirmed orders hold is gone, nothing else, nothing reserved.
    let sold = scalar(
        &orders_db,
        "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) \
         FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed'",
    )
    .await;
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let s = stock(&shop, &product).await;
            match s["reserved"] == 0 && s["available"] == 1000 - sold {
                true => Ok(()),
                false => Err(format!("stock {s}, expected {} available", 1000 - sold)),
            }
        },
    )
    .await;
    let confirmed = scalar(
        &orders_db,
        "SELECT COUNT(*) FROM orders WHERE status = 'confirmed'",
    )
    .await;
    assert_eq!(
        usize::try_from(confirmed).unwrap(),
        outcomes[0],
        "an order confirmed for each checkout answered as confirmed, and no other"
    );
    assert_eq!(sold, confirmed, "one unit in each confirmed order");
}
