//! What protects the pages: security headers, refusing state changes from other sites,
//! forms that only take forms, cacheable static files; and the OpenAPI document of the
//! few JSON endpoints.

use crate::helpers::{Browser, spawn_storefront};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn pages_carry_security_headers() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let page = browser.get("/signin").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("referrer-policy"), "same-origin");
    assert!(
        !page.body.contains(" style=\""),
        "no inline styles (the CSP forbids them)"
    );
    assert!(!page.body.contains("<script>"), "no inline scripts");
}

#[tokio::test]
async fn other_sites_cannot_change_anything() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    for path in [
        "/signin",
        "/cart/items",
        "/signout",
        "/ops/api/services/catalog/kill",
    ] {
        let page = browser
            .send(
                Method::POST,
                path,
                Some(&[("email", "a@b.c")]),
                &[("sec-fetch-site", "cross-site")],
            )
            .await;
        page.assert_problem(StatusCode::FORBIDDEN, None, path);
    }
    // An older browser sends no Sec-Fetch-Site, but says where the form was.
    let origin = sf.url.clone();
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("referer", "http://evil.example/shop"),
    ] {
        let page = browser
            .send(
                Method::POST,
                "/cart/items",
                Some(&[("product_id", "p"), ("quantity", "1")]),
                &[(name, value)],
            )
            .await;
        page.assert_problem(StatusCode::FORBIDDEN, None, value);
    }
    for headers in [
        vec![("sec-fetch-site", "same-origin")],
        vec![("origin", origin.as_str())],
        vec![],
    ] {
        let same = browser
            .send(Method::POST, "/signin", Some(&[("email", "")]), &headers)
            .await;
        assert_eq!(same.status, StatusCode::OK, "{headers:?}");
    }
}

#[tokio::test]
async fn forms_take_only_form_bodies() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let page = browser
        .send(
            Method::POST,
            "/signin",
            None,
            &[("content-type", "application/json")],
        )
        .await;
    page.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "a JSON sign-in");
}

#[tokio::test]
async fn static_files_are_cached_by_content() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let home = browser.get("/signin").await;
    let css = home
        .body
        .split("href=\"")
        .find(|s| s.starts_with("/static/app.css?v="))
        .and_then(|s| s.split('"').next())
        .expect("a versioned stylesheet")
        .to_owned();
    let page = browser.get(&css).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/css"));
    assert!(page.header("cache-control").contains("immutable"));
    let etag = page.header("etag").to_owned();
    let again = browser
        .send(Method::GET, &css, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let js = browser.get("/static/app.js").await;
    assert!(js.header("content-type").starts_with("text/javascript"));
    browser.get("/static/secrets.txt").await.assert_problem(
        StatusCode::NOT_FOUND,
        None,
        "an unknown asset",
    );
}

#[tokio::test]
async fn the_json_endpoints_are_documented_with_their_problems() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let doc = browser.get("/openapi.json").await.json();
    let operations = [
        ("/ops/api/state", "get", &["200", "401", "403"][..]),
        (
            "/ops/api/services/{service}/{action}",
            "post",
            &["200", "401", "403", "422", "503"][..],
        ),
        (
            "/ops/api/dead-letters/{service}/{id}/replay",
            "post",
            &["200", "401", "403", "404", "422"][..],
        ),
        (
            "/ops/api/traces",
            "get",
            &["200", "401", "403", "422", "503"][..],
        ),
        (
            "/ops/api/traces/{id}",
            "get",
            &["200", "401", "403", "404", "503"][..],
        ),
        (
            "/ops/api/traces/map",
            "get",
            &["200", "401", "403", "503"][..],
        ),
        ("/account/notifications/stream", "get", &["200", "204"][..]),
        ("/images/products/{file}", "get", &["200", "404"][..]),
    ];
    let schemas = [
        "OpsState",
        "ServiceView",
        "Chart",
        "Replayed",
        "TraceList",
        "TraceSummary",
        "TraceView",
        "TraceSpan",
        "SpanLink",
        "ServiceMap",
        "ServiceMapEdge",
        "Problem",
    ];
    platform::testing::assert_documented(&doc, &operations, &schemas);
}

/// Reached at a public host, the session cookie is `Secure` and `__Host-` bound; a plain
/// `bazaar_session` cookie (one another site on the domain could have set) is ignored.
#[tokio::test]
async fn at_a_public_host_the_session_cookie_is_secure_and_bound_to_the_host() {
    let sf = spawn_storefront(&[]).await;
    let (email, password) = crate::helpers::new_customer().await;
    let public = [
        ("x-forwarded-host", "shop.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let mut browser = Browser::new(&sf);
    let page = browser
        .send(
            Method::POST,
            "/signin",
            Some(&[
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("next", "/"),
            ]),
            &public,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let issued = browser.set_cookies.last().unwrap().clone();
    assert!(issued.starts_with("__Host-bazaar_session="), "{issued}");
    assert!(
        issued.ends_with("; Secure") && issued.contains("; Path=/"),
        "{issued}"
    );
    let account = browser.send(Method::GET, "/orders", None, &public).await;
    assert_eq!(
        account.status,
        StatusCode::OK,
        "signed in with the __Host- cookie"
    );

    // The same session under the plain name does not sign anyone in here.
    let session = browser.cookies.remove("__Host-bazaar_session").unwrap();
    browser.cookies.insert("bazaar_session".into(), session);
    let account = browser.send(Method::GET, "/orders", None, &public).await;
    assert_eq!(
        account.status,
        StatusCode::SEE_OTHER,
        "a tossed plain cookie is ignored"
    );
}
