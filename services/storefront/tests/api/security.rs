//! What protects the pages: security headers, refusing state changes from other sites,
//! the sealed session cookie, the session's CSRF token on every change, forms that only
//! take forms, cacheable static files; and the OpenAPI document of the few JSON endpoints.

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Browser, new_customer, products, spawn_storefront,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
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
    // A page anyone gets alike (no cookie): a cache may keep it, asking first.
    assert_eq!(page.header("cache-control"), "no-cache");
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
        // Let through, to the form's own refusal of an empty email.
        assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY, "{headers:?}");
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
async fn a_form_not_in_utf8_or_compressed_is_refused_and_a_browser_is_shown_a_page() {
    let sf = spawn_storefront(&[]).await;
    let client = reqwest::Client::new();
    let send = async |headers: &[(&str, &str)], body: &'static [u8]| {
        let mut req = client
            .post(format!("{}/register", sf.url))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("the storefront answers");
        let status = res.status();
        let kind = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, kind, res.text().await.unwrap_or_default())
    };
    let form = "application/x-www-form-urlencoded";
    let html = "text/html,application/xhtml+xml";
    let body: &[u8] = b"name=Jos%E9&email=jose%40example.com&password=a+long+secret+phrase";
    for (headers, raw, status, said) in [
        (
            vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=latin1",
            )],
            &b"name=Jose"[..],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "charset=latin1",
        ),
        (
            vec![("content-type", form), ("content-encoding", "gzip")],
            &b"name=Jose"[..],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding: gzip",
        ),
        // Latin-1's é, percent-encoded: read as it came, it was made U+FFFD and kept.
        (
            vec![("content-type", form)],
            body,
            StatusCode::BAD_REQUEST,
            "`name` is not UTF-8",
        ),
    ] {
        // A browser's form is answered a page, with the status and the reason.
        let mut as_browser = headers.clone();
        as_browser.push(("accept", html));
        let (got, kind, text) = send(&as_browser, raw).await;
        assert_eq!(got, status, "{as_browser:?}: {text}");
        assert!(kind.starts_with("text/html"), "{as_browser:?}: {kind}");
        assert!(text.contains(said), "{as_browser:?}: {text}");
    }
    // A caller that sends no form and asks for no HTML keeps the problem document
    // (`forms_take_only_form_bodies`).
    let (got, kind, _) = send(&[("content-type", "text/plain")], b"name=Jose").await;
    assert_eq!(got, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(kind.starts_with("application/problem+json"), "{kind}");
}

#[tokio::test]
async fn static_files_are_cached_by_content() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let home = browser.get("/signin").await;
    // The page's link that starts with `prefix`.
    let linked = |prefix: &str| {
        home.body
            .split("href=\"")
            .find(|s| s.starts_with(prefix))
            .and_then(|s| s.split('"').next())
            .map(str::to_owned)
    };
    let css = linked("/static/app.css?v=").expect("a versioned stylesheet");
    let page = browser.get(&css).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/css"));
    assert!(page.header("cache-control").contains("immutable"));
    let etag = page.header("etag").to_owned();
    let again = browser
        .send(Method::GET, &css, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // Compared weakly, and `*` matches (RFC 9110 §13.1.2); a 304 says no length or that of
    // what the browser has (§8.6), never 0.
    for tag in [
        format!("W/{etag}"),
        "*".to_owned(),
        format!("\"x\", {etag}"),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let again = browser
                .send(method.clone(), &css, None, &[("if-none-match", &tag)])
                .await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{method} {tag}");
            let length = again.header("content-length");
            assert!(
                length.is_empty() || length == page.body.len().to_string(),
                "{method} {tag}: {length}"
            );
        }
    }
    // Kept a year only under its own version: another version's URL (a page of a newer
    // release asking this replica), or none, is checked again at each use.
    let other_version = css.replace("?v=", "?v=0");
    for path in [other_version.as_str(), "/static/app.css", "/favicon.ico"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("cache-control"), "public, no-cache", "{path}");
    }
    let js = browser.get("/static/app.js").await;
    assert!(js.header("content-type").starts_with("text/javascript"));
    // The icon, linked from every page and where browsers look for it unasked.
    let icon = linked("/static/favicon.svg?v=").expect("a versioned icon");
    for path in [icon.as_str(), "/favicon.ico"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("content-type"), "image/svg+xml", "{path}");
        assert!(page.body.starts_with("<svg"), "{path}");
    }
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
            "/ops/api/dead-letters/{service}/{id}/discard",
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
    let opened = browser.session().unwrap();
    let session = browser.cookies.remove("__Host-bazaar_session").unwrap();
    browser.cookies.insert("bazaar_session".into(), session);
    let account = browser.send(Method::GET, "/orders", None, &public).await;
    assert_eq!(
        account.status,
        StatusCode::SEE_OTHER,
        "a tossed plain cookie is ignored"
    );

    // Nor does a session sealed for the plain name, sent under the `__Host-` one: the
    // name is sealed in.
    let plain = browser.seal("bazaar_session", &opened);
    browser.cookies.clear();
    browser
        .cookies
        .insert("__Host-bazaar_session".into(), plain.clone());
    let account = browser.send(Method::GET, "/orders", None, &public).await;
    assert_eq!(
        account.status,
        StatusCode::SEE_OTHER,
        "a plain cookie renamed __Host- is no session"
    );
    browser.cookies.clear();
    browser.cookies.insert(
        "__Host-bazaar_session".into(),
        browser.seal("__Host-bazaar_session", &opened),
    );
    let account = browser.send(Method::GET, "/orders", None, &public).await;
    assert_eq!(account.status, StatusCode::OK, "sealed for its own name");
}

/// The session cookie is sealed: it shows no token, and a changed, foreign or unsealed one
/// is no session (and is forgotten).
#[tokio::test]
async fn the_session_cookie_shows_no_token_and_a_changed_one_is_no_session() {
    let sf = spawn_storefront(&[]).await;
    let browser = Browser::customer(&sf).await;
    let value = browser.cookies["bazaar_session"].clone();
    let session = browser.session().expect("sealed with the storefront's key");
    let raw = URL_SAFE_NO_PAD.decode(&value).expect("base64url");
    assert_eq!(raw[0], 1, "the format's version");
    let text = String::from_utf8_lossy(&raw);
    // Not bare `eyJ`: three given characters turn up by chance somewhere in a cookie of
    // hundreds of random base64 characters about once in a few hundred sessions (CI saw
    // it). The first twelve of the session's JWT, its header's start, do not.
    let jwt_header = &session["a"].as_str().unwrap()[..12];
    assert!(jwt_header.starts_with("eyJ"), "the session holds a JWT");
    for token in [
        jwt_header,
        session["a"].as_str().unwrap(),
        session["r"].as_str().unwrap(),
        session["c"].as_str().unwrap(),
    ] {
        assert!(
            !value.contains(token) && !text.contains(token),
            "`{token}` is readable in the cookie"
        );
    }

    let mut tampered = raw.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let unsealed = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).unwrap());
    let other_shop = crate::helpers::spawn_storefront(&[(
        "session_key",
        "another-shops-session-key-of-32-characters",
    )])
    .await;
    let foreign = Browser::new(&other_shop).seal("bazaar_session", &session);
    for (case, cookie) in [
        ("a changed byte", URL_SAFE_NO_PAD.encode(&tampered)),
        ("a cookie of before, unsealed", unsealed),
        ("sealed with another key", foreign),
        ("truncated", value[..value.len() - 4].to_owned()),
    ] {
        let mut b = Browser::new(&sf);
        b.cookies.insert("bazaar_session".into(), cookie);
        let page = b.get("/orders").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{case}");
        assert!(page.location().starts_with("/signin"), "{case}");
        assert!(!b.has_session(), "{case}: the cookie is forgotten");
    }
}

/// Every replica of a shop derives the same key from the service secret, so a session
/// started at one is good at the others; a storefront with another key does not take it.
#[tokio::test]
async fn replicas_given_one_secret_share_sessions_and_other_keys_do_not() {
    let one = spawn_storefront(&[]).await;
    let two = spawn_storefront(&[]).await;
    let key = "a-session-key-given-explicitly-of-32-chars";
    let explicit = spawn_storefront(&[("session_key", key)]).await;
    let (email, password) = new_customer().await;
    let mut browser = Browser::new(&one);
    browser.sign_in(&email, &password).await;
    let cookie = browser.cookies["bazaar_session"].clone();

    let mut at_two = Browser::new(&two);
    at_two
        .cookies
        .insert("bazaar_session".into(), cookie.clone());
    at_two
        .get("/orders")
        .await
        .assert_html(StatusCode::OK, &["Sam Shopper"]);
    let mut elsewhere = Browser::new(&explicit);
    elsewhere.cookies.insert("bazaar_session".into(), cookie);
    assert_eq!(
        elsewhere.get("/orders").await.status,
        StatusCode::SEE_OTHER,
        "another key opens nothing"
    );
    elsewhere.sign_in(&email, &password).await;
    elsewhere
        .get("/orders")
        .await
        .assert_html(StatusCode::OK, &["Sam Shopper"]);
}

/// A signed-in visitor's pages carry the session's CSRF token, and a change without it is
/// refused before anything happens: another site can make the browser send the cookie,
/// not the token.
#[tokio::test]
async fn changes_in_a_session_need_its_csrf_token() {
    let sf = spawn_storefront(&[]).await;
    let (email, password) = new_customer().await;
    let mut browser = Browser::new(&sf);
    let anonymous = browser.get("/signin").await;
    assert!(
        !anonymous.body.contains("csrf"),
        "no token without a session"
    );
    browser.sign_in(&email, &password).await;
    let token = browser.csrf_token().expect("a token in the session");
    let product = products(5).await.remove(4);
    let id = product["id"].as_str().unwrap().to_owned();

    let page = browser.get(&format!("/p/{id}")).await;
    page.assert_html(
        StatusCode::OK,
        &[
            &format!(r#"<meta name="csrf-token" content="{token}">"#),
            &format!(r#"<input type="hidden" name="csrf_token" value="{token}">"#),
        ],
    );
    let added = browser.add_to_cart(&id, "1").await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "with the token");
    let cart = browser.get("/cart").await;
    let forms = cart.body.matches(r#"<form method="post""#).count();
    let tokens = cart
        .body
        .matches(&format!(r#"name="csrf_token" value="{token}""#))
        .count();
    assert_eq!(
        forms, tokens,
        "every form of the cart page carries the token"
    );

    let wrong = "x".repeat(token.len());
    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Pairs, Pairs); 4] = [
        ("no token", vec![], vec![]),
        ("a wrong token", vec![("csrf_token", &wrong)], vec![]),
        ("an empty token", vec![("csrf_token", "")], vec![]),
        (
            "a wrong header, the right field",
            vec![("csrf_token", &token)],
            vec![("x-csrf-token", &wrong)],
        ),
    ];
    for (case, extra, headers) in cases {
        let mut fields = vec![("product_id", id.as_str()), ("quantity", "5")];
        fields.extend(extra);
        let page = browser
            .send(Method::POST, "/cart/items", Some(&fields), &headers)
            .await;
        page.assert_html(StatusCode::FORBIDDEN, &["That form has expired"]);
        assert!(
            page.body.contains("Sam Shopper"),
            "{case}: the shop's own page"
        );
    }
    let cart = browser.get("/cart").await;
    cart.assert_html(
        StatusCode::OK,
        &[r#"value="1""#, r#"<span class="count">1<"#],
    );

    let out = browser.send(Method::POST, "/signout", Some(&[]), &[]).await;
    assert_eq!(
        out.status,
        StatusCode::FORBIDDEN,
        "signing out without the token"
    );
    assert_eq!(
        browser.get("/orders").await.status,
        StatusCode::OK,
        "still signed in"
    );

    // The token in the header does as well as in the form.
    let removed = browser
        .send(
            Method::POST,
            &format!("/cart/items/{id}/remove"),
            Some(&[]),
            &[("x-csrf-token", &token)],
        )
        .await;
    assert_eq!(removed.location(), "/cart?notice=removed");
    let out = browser.post("/signout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "with the token");
}

/// The ops console's scripts send the token in `X-CSRF-Token`; without it their JSON
/// endpoints answer a problem.
#[tokio::test]
async fn the_consoles_controls_need_the_token_in_a_header() {
    let sf = spawn_storefront(&[]).await;
    let mut admin = Browser::new(&sf);
    admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let console = admin.get("/ops").await;
    let token = admin.csrf_token().unwrap();
    console.assert_html(
        StatusCode::OK,
        &[&format!(r#"<meta name="csrf-token" content="{token}">"#)],
    );
    let path = "/ops/api/services/catalog/kill";
    for headers in [
        vec![("accept", "application/json")],
        vec![("accept", "application/json"), ("x-csrf-token", "wrong")],
    ] {
        let page = admin.send(Method::POST, path, None, &headers).await;
        let problem = page.assert_problem(StatusCode::FORBIDDEN, None, "no token");
        assert!(
            problem["detail"].as_str().unwrap().contains("CSRF"),
            "{problem}"
        );
    }
    // With it the request goes through: here, to say there is no supervisor.
    admin.script_post(path).await.assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "with the token",
    );
}

/// Signing in starts a new session with a new token: one learnt before is no use.
#[tokio::test]
async fn signing_in_again_gives_a_new_token() {
    let sf = spawn_storefront(&[]).await;
    let (email, password) = new_customer().await;
    let mut browser = Browser::new(&sf);
    browser.sign_in(&email, &password).await;
    let before = browser.csrf_token().unwrap();
    browser.sign_in(&email, &password).await;
    let after = browser.csrf_token().unwrap();
    assert_ne!(before, after);
    let stale = browser
        .send(
            Method::POST,
            "/signout",
            Some(&[("csrf_token", before.as_str())]),
            &[],
        )
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    let out = browser
        .send(
            Method::POST,
            "/signout",
            Some(&[("csrf_token", after.as_str())]),
            &[],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
}
