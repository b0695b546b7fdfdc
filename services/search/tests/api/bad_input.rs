//! Bad input, endpoint by endpoint: out-of-range parameters answer a problem document
//! naming the field; search text that looks like query syntax is taken as plain words and
//! never makes a 500; the administrators' endpoints refuse everyone else.

use crate::helpers::{SEED_PRODUCTS, assert_problem, spawn_app, spawn_search_only};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn search_refuses_out_of_range_parameters_naming_each() {
    // Arrange
    let app = spawn_search_only().await;
    let long = "x".repeat(1000);
    let many_words = "word ".repeat(13);
    let long_word = "y".repeat(41);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    // (what, query parameters, the field named)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("a 1000-character query", vec![("q", &long)], "q"),
        ("13 words", vec![("q", &many_words)], "q"),
        ("a 41-character word", vec![("q", &long_word)], "q"),
        ("page 0", vec![("page", "0")], "page"),
        ("a negative page", vec![("page", "-1")], "page"),
        ("a page that is not a number", vec![("page", "two")], "page"),
        (
            "a page past 10 000 results",
            vec![("page", "101"), ("per_page", "100")],
            "page",
        ),
        ("per_page 0", vec![("per_page", "0")], "per_page"),
        ("per_page 101", vec![("per_page", "101")], "per_page"),
        (
            "a negative min_price",
            vec![("min_price", "-1")],
            "min_price",
        ),
        (
            "a negative max_price",
            vec![("max_price", "-5")],
            "max_price",
        ),
        (
            "min_price above max_price",
            vec![("min_price", "500"), ("max_price", "100")],
            "min_price",
        ),
        (
            "a price that is not a number",
            vec![("max_price", "cheap")],
            "max_price",
        ),
        (
            "a malformed category",
            vec![("category", "Home & Garden")],
            "category",
        ),
        ("an unknown sort", vec![("sort", "cheapest")], "sort"),
    ];

    // Act / Assert
    for (what, params, field) in cases {
        let res = app
            .client
            .get(app.url("/api/search"))
            .query(&params)
            .send()
            .await
            .expect("request sent");
        assert_problem(res, unprocessable, Some(field), what).await;
    }
    let res = app
        .client
        .get(app.url("/api/search/suggest"))
        .query(&[("q", &long)])
        .send()
        .await
        .expect("request sent");
    assert_problem(res, unprocessable, Some("q"), "a 1000-character prefix").await;
}

#[tokio::test]
async fn query_syntax_is_plain_text_and_never_a_server_error() {
    // Arrange
    let app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;

    // Act / Assert
    for q in [
        "\"unbalanced quote",
        "\"",
        "-",
        "+",
        "AND",
        "OR NOT",
        "skillet AND",
        "(((",
        "name:skillet",
        "skillet^10",
        "*",
        "skil*",
        "~2",
        "[1 TO 5]",
        "\\",
        "🛶 canoe",
        "\u{0}",
        "%",
    ] {
        for path in ["/api/search", "/api/search/suggest"] {
            let res = app
                .client
                .get(app.url(path))
                .query(&[("q", q)])
                .send()
                .await
                .expect("request sent");
            assert_eq!(res.status(), StatusCode::OK, "{path} q={q:?}");
        }
    }
    // Text without a word is a search nothing matches; blank text is none: every product.
    let body = app.search(&[("q", "\" - ( )")]).await;
    assert_eq!(body["total"], 0, "{body}");
    let body = app.search(&[("q", "  ")]).await;
    assert_eq!(body["total"], SEED_PRODUCTS, "{body}");
}

#[tokio::test]
async fn the_administrators_endpoints_refuse_everyone_else() {
    // Arrange
    let app = spawn_search_only().await;

    // Act / Assert
    for (method, path) in [
        (Method::POST, "/api/search/admin/rebuild"),
        (Method::GET, "/api/search/admin/status"),
        (Method::GET, "/api/search/events/dead-letters"),
    ] {
        let anonymous = app.send(method.clone(), path, None).await;
        assert_problem(
            anonymous,
            StatusCode::UNAUTHORIZED,
            None,
            &format!("{method} {path} anonymously"),
        )
        .await;
        let customer = app
            .send(method.clone(), path, Some(&app.customer_token))
            .await;
        assert_problem(
            customer,
            StatusCode::FORBIDDEN,
            None,
            &format!("{method} {path} as a customer"),
        )
        .await;
    }
}
