//! Checkout throughput and latency through the gateway, the whole shop running as real
//! processes (embedded shape): `cargo bench --bench checkout`. Prints figures; asserts
//! nothing. Each checkout is a full saga: cart read, reservation, authorisation,
//! reservation commit, capture, confirmation.

#[path = "../tests/system/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{Shop, unique};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SHOPPERS: usize = 16;
const CHECKOUTS_PER_SHOPPER: usize = 25;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let shop = Shop::start_with(helpers::Options {
        env: vec![("BAZAAR_LOG", "warn".into())],
        ..helpers::Options::default()
    });
    let admin = shop.admin_token().await;
    let category = shop
        .get("/api/catalog/categories")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product: Value = shop
        .post("/api/catalog/products")
        .bearer_auth(&admin)
        .json(
            &json!({"sku": "BENCH-0001", "name": "Benchmark Mug", "description": "Sold many times.",
                      "category": category, "price_cents": 1200, "initial_stock": 1_000_000}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product = product["id"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for _ in 0..SHOPPERS {
        tokens.push(shop.customer_token().await);
    }
    // Wait for the product to reach the cart's copy.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shop
        .post("/api/cart/items")
        .bearer_auth(&tokens[0])
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap()
        .status()
        .is_success()
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = shop
        .http
        .delete(format!("{}/api/cart", shop.url))
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
                    .json(&json!({
                        "payment": {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
                        "shipping_address": {"name": "Bench", "line1": "1 Loop Road", "city": "Testville",
                                             "postal_code": "12345", "country": "US"}
                    }))
                    .send()
                    .await
                    .unwrap();
                let ok = r.status().is_success();
                latencies.push((t.elapsed(), ok));
                // The cart empties itself from the confirmation event; do not race it.
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    let cart: Value = http.get(format!("{url}/api/cart")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
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
