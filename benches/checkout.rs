//! Checkout throughput and latency through the gateway, the whole shop running as real
//! processes (embedded shape): `cargo bench --bench checkout`. Prints figures; asserts
//! nothing. Each checkout is a full saga: cart read, reservation, authorisation,
//! reservation commit, capture, confirmation.

use bazaar::testing::{GOOD_CARD, Shop, checkout_body, send_json, unique};
use serde_json::json;
use std::time::{Duration, Instant};

const SHOPPERS: usize = 16;
const CHECKOUTS_PER_SHOPPER: usize = 25;

fn main() {
    bazaar::testing::block_on(run());
}

async fn run() {
    let shop = Shop::start();
    let admin = shop.admin_token().await;
    let product = shop
        .create_product(
            &admin,
            json!({"sku": "BENCH-0001", "name": "Benchmark Mug", "description": "Sold many times.",
                   "price_cents": 1200, "initial_stock": 1_000_000}),
        )
        .await;
    let mut tokens = Vec::new();
    for _ in 0..SHOPPERS {
        tokens.push(shop.customer_token().await);
    }
    // Wait for the product to reach the cart's copy.
    shop.add_to_cart(Some(&tokens[0]), &product, 1, Duration::from_secs(30))
        .await;
    let _ = shop
        .delete("/api/cart")
        .bearer_auth(&tokens[0])
        .send()
        .await;

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let (url, http, product) = (shop.url.clone(), shop.http.clone(), product.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..CHECKOUTS_PER_SHOPPER {
                http.post(format!("{url}/api/cart/items"))
                    .bearer_auth(&token)
                    .json(&json!({"product_id": product, "quantity": 1}))
                    .send()
                    .await
                    .unwrap();
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/api/orders/checkout"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", unique())
                    .json(&checkout_body(GOOD_CARD))
                    .send()
                    .await
                    .unwrap();
                let ok = r.status().is_success();
                latencies.push((t.elapsed(), ok));
                // The checkout took the cart's lines before it answered; check it did.
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    let cart =
                        send_json(http.get(format!("{url}/api/cart")).bearer_auth(&token)).await;
                    if cart["items"].as_array().is_some_and(|i| i.is_empty()) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let elapsed = started.elapsed();
    let failed = all.iter().filter(|(_, ok)| !ok).count();
    let mut lat: Vec<Duration> = all.iter().map(|(d, _)| *d).collect();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "checkout  {} checkouts by {SHOPPERS} concurrent shoppers in {:.1} s: {:.1} checkouts/s (each shopper also refills its cart); \
         latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms; failed {failed}",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
}
