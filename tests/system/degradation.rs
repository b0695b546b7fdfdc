//! Search and recommendations through the gateway, and the shop without them: browsing
//! and checkout keep working, and nothing waits on a dead service beyond its timeout.

use crate::helpers::{GOOD_CARD, Options, Shape, Shop, unique};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn get_json(shop: &Shop, path: &str) -> (StatusCode, Value) {
    let r = shop.get(path).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

crate::in_both_shapes!(search_and_recommendations_answer_through_the_gateway);
async fn search_and_recommendations_answer_through_the_gateway(shape: Shape) {
    let shop = Shop::start_in(shape);
    let (_, page) = get_json(&shop, "/api/catalog/products?per_page=1&sort=newest").await;
    let product = page["items"][0].clone();
    let name = product["name"].as_str().unwrap().to_owned();
    let id = product["id"].as_str().unwrap().to_owned();

    // Search builds its index from the catalog's events: the product is found by its
    // name, and by the name with a typo, once search has caught up.
    let longest = name
        .split_whitespace()
        .filter(|w| w.chars().all(char::is_alphabetic))
        .max_by_key(|w| w.len())
        .unwrap()
        .to_owned();
    let mut typo: Vec<char> = longest.chars().collect();
    typo.swap(1, 2);
    let typo: String = typo.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for query in [name.clone(), name.replace(&longest, &typo)] {
        loop {
            let (status, results) =
                get_json(&shop, &format!("/api/search?q={}", urlencode(&query))).await;
            let top3: Vec<&str> = results["items"]
                .as_array()
                .map(|a| a.iter().take(3).filter_map(|i| i["id"].as_str()).collect())
                .unwrap_or_default();
            if status == StatusCode::OK && top3.contains(&id.as_str()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "`{query}` never found {id}: {results}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (status, suggestions) = get_json(
        &shop,
        &format!("/api/search/suggest?q={}", urlencode(&name[..4])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{suggestions}");

    // Recommendations follows the catalog on its own, like search: poll it too.
    let recs = loop {
        let (status, recs) = get_json(&shop, &format!("/api/recommendations/products/{id}")).await;
        if status == StatusCode::OK {
            break recs;
        }
        assert!(
            Instant::now() < deadline,
            "recommendations never heard of {id}: {recs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let items = recs["items"].as_array().unwrap();
    assert!(
        !items.is_empty(),
        "a new product still gets recommendations: {recs}"
    );
    assert!(
        items.iter().all(|i| i["id"] != id),
        "never the product itself"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn without_search_and_recommendations_the_shop_still_sells() {
    let shop = Shop::start_with(Options::env("BAZAAR_UPSTREAM_TIMEOUT_MS", "1000"));
    let search = shop.service_pid("search").expect("search runs");
    let recommendations = shop
        .service_pid("recommendations")
        .expect("recommendations runs");
    // Hung rather than dead (the supervisor would restart a dead one at once).
    for pid in [search, recommendations] {
        signal::kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
    }
    let resume = || {
        for pid in [search, recommendations] {
            let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
        }
    };

    // Search fails fast (its timeout, then its open circuit), never hangs.
    for _ in 0..8 {
        let started = Instant::now();
        let (status, _) = get_json(&shop, "/api/search?q=mug").await;
        let took = started.elapsed();
        if !(status.is_server_error() && took < Duration::from_secs(3)) {
            resume();
            panic!("search answered {status} after {took:?}");
        }
    }
    let started = Instant::now();
    let (status, _) = get_json(&shop, "/api/recommendations/products/x").await;
    assert!(status.is_server_error() && started.elapsed() < Duration::from_secs(3));

    // The search page waits for search (1.5 s) longer than the gateway waits for an API
    // (1 s here), then falls back to the catalog's name filter: the gateway waits for the
    // page longer still, so the shopper gets the page, not the gateway's bare 504.
    let started = Instant::now();
    let page = shop.get("/search?q=mug").send().await.unwrap();
    let (status, took) = (page.status(), started.elapsed());
    let html = page.text().await.unwrap_or_default();
    if status != StatusCode::OK || !html.contains("<html") {
        resume();
        panic!("the search page answered {status} after {took:?}: {html:.300}");
    }

    // The shop is still ready: both are optional.
    let (status, health) = get_json(&shop, "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{health}");

    // Browsing and filtering work through the catalog; checkout works.
    let (status, page) = get_json(&shop, "/api/catalog/products?per_page=5&sort=price_asc").await;
    assert_eq!(status, StatusCode::OK);
    let product = page["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = get_json(&shop, &format!("/api/catalog/products/{product}")).await;
    assert_eq!(status, StatusCode::OK);
    let token = shop.customer_token().await;
    shop.add_to_cart(Some(&token), &product, 1, Duration::from_secs(30))
        .await;
    // Inventory learns the seed from events too.
    shop.stock(&product, Duration::from_secs(30)).await;
    let (status, body) = shop.checkout(&token, &unique(), GOOD_CARD).await;
    resume();
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
