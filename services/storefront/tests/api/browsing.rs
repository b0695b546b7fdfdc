//! Browsing the real catalog through the real gateway: the home page, a category with
//! filters and paging, a product with its stock, search falling back to the catalog when
//! the search service is not there, and optional services that never slow a page.

use crate::helpers::{
    Browser, assert_accessible, limited_gateway, products, set_stock, shop, spawn_gateway,
    spawn_storefront,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn categories() -> Vec<Value> {
    let body: Value = reqwest::get(format!("{}/api/catalog/categories", shop().catalog))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["items"].as_array().cloned().unwrap()
}

#[tokio::test]
async fn home_shows_the_departments_and_their_products() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let page = browser.get("/").await;
    page.assert_html(StatusCode::OK, &["Shop by department", "/images/products/"]);
    assert_accessible(&page.body);
    for c in categories().await {
        let name = c["name"].as_str().unwrap().replace('&', "&amp;");
        assert!(page.body.contains(&name), "{name} is missing");
    }
    let shelves = page.body.matches("class=\"section-head\"").count();
    assert_eq!(shelves, 4, "four featured departments");
    assert!(
        page.header("content-security-policy")
            .contains("default-src 'self'")
    );
}

#[tokio::test]
async fn a_category_filters_sorts_and_pages() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let biggest = categories()
        .await
        .into_iter()
        .max_by_key(|c| c["product_count"].as_i64())
        .unwrap();
    let id = biggest["id"].as_str().unwrap();
    let count = biggest["product_count"].as_i64().unwrap();

    let page = browser.get(&format!("/c/{id}?sort=price_asc")).await;
    page.assert_html(StatusCode::OK, &[&format!("{count} product")]);
    assert_accessible(&page.body);
    let prices = card_prices(&page.body);
    assert!(!prices.is_empty());
    assert!(
        prices.windows(2).all(|w| w[0] <= w[1]),
        "cheapest first: {prices:?}"
    );

    let cheap_limit = prices[prices.len() / 2];
    let filtered = browser
        .get(&format!("/c/{id}?max_price={cheap_limit}&sort=price_desc"))
        .await;
    filtered.assert_html(StatusCode::OK, &[]);
    let top = card_prices(&filtered.body)[0];
    assert!(top <= cheap_limit, "{top} > {cheap_limit}");

    let bad = browser
        .get(&format!("/c/{id}?min_price=cheap&max_price=-4"))
        .await;
    bad.assert_html(
        StatusCode::OK,
        &[
            r#"id="f-min_price-error""#,
            r#"id="f-max_price-error""#,
            "must be an amount like 25",
            &format!("{count} product"),
        ],
    );

    // Past the last page: said so, with the way back (not "no products match").
    let past = browser.get(&format!("/c/{id}?page=999")).await;
    past.assert_html(
        StatusCode::OK,
        &[
            "This page is past the last one",
            &format!(r#"href="/c/{id}">see the first page"#),
        ],
    );
    assert!(!past.body.contains("No products match"), "{}", past.body);
    assert!(!past.body.contains("page=998"), "previous is the last page");
}

#[tokio::test]
async fn unknown_pages_are_not_found() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    for path in [
        "/c/no-such-department",
        "/c/NOT_A_SLUG",
        "/p/0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11",
        "/p/not-an-id",
        "/no/such/page",
    ] {
        let page = browser.get(path).await;
        // The body is the friendly page; the platform may rewrite 4xx bodies.
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert!(
            page.body
                .contains("<title>We could not find that · Bazaar</title>"),
            "titled as every page is: {}",
            page.body
        );
    }
    // Under /api/, a problem document, as every service answers there (the contract).
    for path in ["/api/storefront/nosuch", "/api/storefront/health/ready"] {
        browser
            .send(Method::GET, path, None, &[("accept", "application/json")])
            .await
            .assert_problem(StatusCode::NOT_FOUND, None, path);
    }
}

#[tokio::test]
async fn a_product_shows_its_price_and_stock() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let all = products(40).await;
    let plenty = &all[0];
    let few = &all[1];
    let none = &all[2];
    set_stock(plenty["id"].as_str().unwrap(), 40).await;
    set_stock(few["id"].as_str().unwrap(), 3).await;
    set_stock(none["id"].as_str().unwrap(), 0).await;

    let id = plenty["id"].as_str().unwrap();
    let page = browser.get(&format!("/p/{id}")).await;
    let cents = plenty["price_cents"].as_i64().unwrap();
    let price = storefront::domain::format_money(cents, "USD");
    page.assert_html(
        StatusCode::OK,
        &[
            &price,
            "In stock",
            r#"action="/cart/items""#,
            &format!(r#"name="product_id" value="{id}""#),
            &format!("/images/products/{id}.svg"),
        ],
    );
    assert_accessible(&page.body);

    let page = browser
        .get(&format!("/p/{}", few["id"].as_str().unwrap()))
        .await;
    page.assert_html(StatusCode::OK, &["Only 3 left", r#"max="3""#]);
    let page = browser
        .get(&format!("/p/{}", none["id"].as_str().unwrap()))
        .await;
    page.assert_html(StatusCode::OK, &["Out of stock"]);
    assert!(!page.body.contains("Add to cart"), "nothing to add");
}

#[tokio::test]
async fn recommendations_never_slow_a_product_page() {
    // A recommender that accepts connections and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket);
        }
    });
    let gateway = spawn_gateway(&[("recommendations_url", &hung_url)]).await;
    let sf = spawn_storefront(&[("gateway_url", &gateway)]).await;
    let mut browser = Browser::new(&sf);
    let id = products(1).await[0]["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let page = browser.get(&format!("/p/{id}")).await;
    page.assert_html(
        StatusCode::OK,
        &["Recommendations are unavailable right now."],
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the page took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn search_falls_back_to_the_catalog_when_search_is_down() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let product = &products(1).await[0];
    let name = product["name"].as_str().unwrap();
    let word = name.split_whitespace().last().unwrap();
    let page = browser
        .get(&format!("/search?q={}", storefront::views::urlencode(word)))
        .await;
    page.assert_html(
        StatusCode::OK,
        &[
            "Search is unavailable right now",
            &format!("Results for “{word}”"),
        ],
    );
    assert!(
        page.body.contains(&name.replace('&', "&amp;")),
        "{name} is among the results"
    );
    assert_accessible(&page.body);

    let empty = browser.get("/search?q=").await;
    empty.assert_html(StatusCode::OK, &["Type what you are looking for"]);
    let long = browser.get(&format!("/search?q={}", "a".repeat(150))).await;
    long.assert_html(StatusCode::OK, &["must be at most 100 characters"]);
}

/// Words search refuses (more than it takes) are said so as search says it, not shown as
/// an outage with the catalog's name filter (the search review saw "Search is unavailable
/// right now" for a 13-word query).
#[tokio::test]
async fn words_search_refuses_are_said_so_not_taken_for_an_outage() {
    let shop = shop();
    let scratch = platform::testing::Scratch::new("storefront-search");
    let database_url = scratch.sqlite_url("search");
    let index_dir = scratch.path().join("search-index").display().to_string();
    let mut settings: Vec<(&str, &str)> = vec![
        ("listen", "127.0.0.1:0"),
        ("database_url", &database_url),
        ("index_dir", &index_dir),
    ];
    settings.extend(shop.urls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let search = platform::Launch::for_tests(&search::SERVICE, &settings)
        .in_registry(crate::helpers::REGISTRY)
        .build()
        .await
        .expect("search builds");
    let search_url = format!("http://{}", search.local_addr());
    tokio::spawn(search.run());
    let gateway = spawn_gateway(&[("search_url", &search_url)]).await;
    let sf = spawn_storefront(&[("gateway_url", &gateway)]).await;
    let mut browser = Browser::new(&sf);
    let words = "ashgrove ten inch cast iron skillet for the kitchen and the camp fire";
    let page = browser
        .get(&format!(
            "/search?q={}",
            storefront::views::urlencode(words)
        ))
        .await;
    page.assert_html(StatusCode::OK, &["Your search must have at most 12 words"]);
    assert!(
        !page.body.contains("Search is unavailable"),
        "{}",
        page.body
    );
}

/// The prices of a page's product cards, in order.
fn card_prices(body: &str) -> Vec<f64> {
    body.split("class=\"card-price\">$")
        .skip(1)
        .map(|s| {
            s.split('<')
                .next()
                .unwrap()
                .replace(',', "")
                .parse()
                .unwrap()
        })
        .collect()
}

/// A rate limit met while making a page is the visitor's to wait out: a 429 page that
/// passes on the limit's `Retry-After`, not a 400.
#[tokio::test]
async fn a_page_that_meets_a_rate_limit_says_when_to_come_back() {
    let limited = limited_gateway().await;
    let sf = spawn_storefront(&[("gateway_url", limited.as_str())]).await;

    let page = Browser::new(&sf).get("/c/kitchen").await;

    page.assert_html(
        StatusCode::TOO_MANY_REQUESTS,
        &["Too many requests", "in 7 s"],
    );
    assert_eq!(page.header("retry-after"), "7");
}
