//! Reading the catalog: categories, listing with filters, orders and pages, and lookup.

use crate::helpers::{assert_problem, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().cloned().unwrap()
}

#[tokio::test]
async fn categories_are_slugs_with_names_and_counts() {
    let app = spawn_app().await;
    let body = app.get_json("/api/catalog/categories").await;
    let categories = items(&body);
    assert!(categories.len() >= 12);
    let kitchen = categories
        .iter()
        .find(|c| c["id"] == "kitchen")
        .expect("kitchen exists");
    assert_eq!(kitchen["name"], "Kitchen");
    assert!(
        kitchen["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    for c in &categories {
        let id = c["id"].as_str().unwrap();
        assert!(
            id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{id}"
        );
        let listed = app
            .get_json(&format!("/api/catalog/products?category={id}"))
            .await;
        assert_eq!(listed["total"], c["product_count"], "{id}");
    }
}

#[tokio::test]
async fn the_default_listing_is_the_first_twenty_by_name() {
    let app = spawn_app().await;
    let body = app.get_json("/api/catalog/products").await;
    assert_eq!(body["total"], 60);
    assert_eq!(body["page"], 1);
    assert_eq!(body["per_page"], 20);
    let page = items(&body);
    assert_eq!(page.len(), 20);
    for key in [
        "id",
        "sku",
        "name",
        "description",
        "category",
        "price_cents",
        "currency",
        "created_at",
        "updated_at",
    ] {
        assert!(!page[0][key].is_null(), "{key} missing in {}", page[0]);
    }
    let keys: Vec<(String, String)> = page
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "not sorted by name, id"
    );
}

#[tokio::test]
async fn pages_are_disjoint_and_cover_everything() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let body = app
            .get_json(&format!("/api/catalog/products?per_page=25&page={page}"))
            .await;
        assert_eq!(body["total"], 60, "page {page}");
        assert_eq!(body["page"], page);
        let got = items(&body);
        assert_eq!(got.len(), if page < 3 { 25 } else { 10 }, "page {page}");
        seen.extend(ids(&got));
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 60, "pages overlap");
    let past_the_end = app
        .get_json("/api/catalog/products?per_page=25&page=4")
        .await;
    assert_eq!(past_the_end["total"], 60);
    assert!(items(&past_the_end).is_empty());
}

#[tokio::test]
async fn every_sort_is_ordered_with_an_id_tie_break() {
    let app = spawn_app().await;
    type InOrder = fn(&Value, &Value) -> bool;
    let cases: [(&str, InOrder); 4] = [
        ("name", |a, b| {
            (a["name"].as_str(), a["id"].as_str()) <= (b["name"].as_str(), b["id"].as_str())
        }),
        ("price_asc", |a, b| {
            (a["price_cents"].as_i64(), a["id"].as_str())
                <= (b["price_cents"].as_i64(), b["id"].as_str())
        }),
        ("price_desc", |a, b| {
            let (pa, pb) = (a["price_cents"].as_i64(), b["price_cents"].as_i64());
            pa > pb || (pa == pb && a["id"].as_str() <= b["id"].as_str())
        }),
        ("newest", |a, b| {
            (a["created_at"].as_str(), a["id"].as_str())
                >= (b["created_at"].as_str(), b["id"].as_str())
        }),
    ];
    for (sort, in_order) in cases {
        let body = app
            .get_json(&format!("/api/catalog/products?sort={sort}&per_page=100"))
            .await;
        let got = items(&body);
        assert_eq!(got.len(), 60, "{sort}");
        assert!(
            got.windows(2).all(|w| in_order(&w[0], &w[1])),
            "{sort} is out of order"
        );
        // Paging an order gives the same sequence as one big page.
        let first = items(
            &app.get_json(&format!("/api/catalog/products?sort={sort}&per_page=30"))
                .await,
        );
        let second = items(
            &app.get_json(&format!(
                "/api/catalog/products?sort={sort}&per_page=30&page=2"
            ))
            .await,
        );
        assert_eq!(
            [ids(&first), ids(&second)].concat(),
            ids(&got),
            "{sort} pages"
        );
    }
}

#[tokio::test]
async fn filters_narrow_the_listing_and_the_total() {
    // Arrange: everything, to compute what each filter should return.
    let app = spawn_app().await;
    let all = app.all_products().await;
    let word = all[0]["name"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let mut prices: Vec<i64> = all
        .iter()
        .map(|p| p["price_cents"].as_i64().unwrap())
        .collect();
    prices.sort();
    let (lo, hi) = (prices[10], prices[40]);
    let price_of = |p: &Value| p["price_cents"].as_i64().unwrap();

    type Pred<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    let cases: Vec<(String, Pred)> = vec![
        (
            "category=kitchen".into(),
            Box::new(|p: &Value| p["category"] == "kitchen"),
        ),
        (
            format!("min_price={lo}"),
            Box::new(move |p: &Value| price_of(p) >= lo),
        ),
        (
            format!("max_price={hi}"),
            Box::new(move |p: &Value| price_of(p) <= hi),
        ),
        (
            format!("min_price={lo}&max_price={hi}"),
            Box::new(move |p: &Value| (lo..=hi).contains(&price_of(p))),
        ),
        (
            format!("q={}", word.to_uppercase()),
            Box::new(|p: &Value| {
                p["name"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains(&word.to_lowercase())
            }),
        ),
        (
            format!("category=outdoor&max_price={hi}"),
            Box::new(move |p: &Value| p["category"] == "outdoor" && price_of(p) <= hi),
        ),
        ("q=no-such-product-name".into(), Box::new(|_: &Value| false)),
        (
            "q=%25".into(),
            Box::new(|p: &Value| p["name"].as_str().unwrap().contains('%')),
        ),
    ];
    for (query, matches) in cases {
        // Act
        let body = app
            .get_json(&format!(
                "/api/catalog/products?{query}&per_page=100&sort=price_asc"
            ))
            .await;

        // Assert
        let expected: Vec<&Value> = all.iter().filter(|p| matches(p)).collect();
        assert_eq!(body["total"], expected.len(), "{query}: total");
        let got = items(&body);
        assert_eq!(got.len(), expected.len(), "{query}: items");
        assert!(got.iter().all(&matches), "{query}: an item does not match");
    }
}

#[tokio::test]
async fn a_product_is_found_by_id() {
    let app = spawn_app().await;
    let listed = items(&app.get_json("/api/catalog/products?per_page=1").await).remove(0);
    let id = listed["id"].as_str().unwrap();
    let got = app.get_json(&format!("/api/catalog/products/{id}")).await;
    assert_eq!(got, listed);

    let missing = app
        .get("/api/catalog/products/01939f1c-0000-7000-8000-000000000000")
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND, None, "unknown id").await;
}
