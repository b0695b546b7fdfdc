//! Registering, signing in and out through the forms; the session cookie; errors next to
//! their fields; a refused access token refreshed without the shopper noticing; pages
//! that need a session sending anonymous visitors to sign in.

use crate::helpers::{Browser, assert_accessible, limited_gateway, new_customer, spawn_storefront};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn registering_signs_in_with_a_safe_cookie() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let form = browser.get("/register?next=%2Fcart").await;
    form.assert_html(
        StatusCode::OK,
        &["Create an account", r#"name="next" value="/cart""#],
    );
    assert_accessible(&form.body);

    let email = format!("new-{}@example.com", uuid::Uuid::new_v4().simple());
    let page = browser
        .post(
            "/register",
            &[
                ("name", "Grace Hopper"),
                ("email", &email),
                ("password", "a-long-and-varied-passphrase"),
                ("next", "/cart"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/cart");
    let cookie = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("bazaar_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    // The cookie holds identity's tokens, sealed: nobody who holds it reads them.
    let value = browser.cookies["bazaar_session"].clone();
    let session = browser
        .session()
        .expect("a session the storefront's key opens");
    let access = session["a"].as_str().unwrap();
    assert!(access.split('.').count() == 3, "a JWT");
    let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    for secret in [access, session["r"].as_str().unwrap(), "eyJ", "passphrase"] {
        assert!(
            !value.contains(secret) && !raw.contains(secret),
            "`{secret}` is readable in the cookie"
        );
    }

    let home = browser.get("/").await;
    home.assert_html(
        StatusCode::OK,
        &["Grace Hopper", r#"action="/signout""#, "notification-badge"],
    );
    assert!(
        home.header("cache-control").contains("no-store"),
        "a signed-in page is private"
    );

    let out = browser.post("/signout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.has_session(), "the cookie is gone");
    let home = browser.get("/").await;
    assert!(!home.body.contains("Grace Hopper"));
}

#[tokio::test]
async fn registration_errors_are_shown_next_to_their_fields() {
    let sf = spawn_storefront(&[]).await;
    let (taken, _) = new_customer().await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    // A refused form answers as identity refused it: 422 for bad fields, 409 for a taken
    // email, so that scripts and browsers' tools see the submission failed.
    let cases: [(Form, &str, &str, StatusCode); 4] = [
        (
            &[
                ("name", "A"),
                ("email", "not-an-email"),
                ("password", "a-long-and-varied-passphrase"),
            ],
            "email",
            "an email address",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &[
                ("name", "A"),
                ("email", "short@example.com"),
                ("password", "short"),
            ],
            "password",
            "short",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &[
                ("name", ""),
                ("email", "noname@example.com"),
                ("password", "a-long-and-varied-passphrase"),
            ],
            "name",
            "empty",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &[
                ("name", "A"),
                ("email", &taken),
                ("password", "a-long-and-varied-passphrase"),
            ],
            "email",
            "already exists",
            StatusCode::CONFLICT,
        ),
    ];
    for (form, field, words, status) in cases {
        let mut browser = Browser::new(&sf);
        let page = browser.post("/register", form).await;
        page.assert_html(
            status,
            &[
                &format!(r#"id="f-{field}-error""#),
                r#"aria-invalid="true""#,
            ],
        );
        let error = page
            .body
            .split(&format!(r#"id="f-{field}-error""#))
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap();
        assert!(error.contains(words), "{field}: `{words}` not in {error}");
        assert!(!browser.has_session(), "{field}: not signed in");
        assert!(
            !page.body.contains("a-long-and-varied-passphrase"),
            "the password is never shown back"
        );
    }
}

#[tokio::test]
async fn signing_in_returns_to_where_the_shopper_was() {
    let sf = spawn_storefront(&[]).await;
    let (email, password) = new_customer().await;
    let mut browser = Browser::new(&sf);

    let wrong = browser
        .post(
            "/signin",
            &[
                ("email", &email),
                ("password", "not-the-password"),
                ("next", "/orders"),
            ],
        )
        .await;
    wrong.assert_html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &["do not match an account", r#"value="/orders""#],
    );
    // The header's own sign-in link on the forms returns where the form does, not to
    // the form itself (a `next` nested in a `next`).
    for form in ["/signin?next=%2Fcart", "/register?next=%2Fcart"] {
        let page = browser.get(form).await;
        page.assert_html(StatusCode::OK, &[r#"href="/signin?next=%2Fcart""#]);
        assert!(!page.body.contains("next=%2Fsignin"), "{form}");
        assert!(!page.body.contains("next=%2Fregister"), "{form}");
    }
    let empty = browser
        .post("/signin", &[("email", ""), ("password", "")])
        .await;
    empty.assert_html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &[r#"id="f-email-error""#, r#"id="f-password-error""#],
    );

    for (next, expected) in [
        ("/orders", "/orders"),
        ("https://evil.example", "/"),
        ("//evil.example", "/"),
    ] {
        let mut browser = Browser::new(&sf);
        let page = browser
            .post(
                "/signin",
                &[("email", &email), ("password", &password), ("next", next)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(page.location(), expected, "{next}");
    }
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_for_concurrent_requests() {
    let sf = spawn_storefront(&[]).await;
    let browser = Browser::customer(&sf).await;
    let mut session = browser.session().unwrap();
    session["a"] = Value::from("not.a.token");
    let broken = browser.seal("bazaar_session", &session);

    // Five requests arrive together with the refused token: one refresh serves them all
    // (a second spend of the refresh token would revoke the whole sign-in).
    let pages = futures_util::future::join_all((0..5).map(|_| {
        let mut b = Browser::new(&sf);
        b.cookies.insert("bazaar_session".into(), broken.clone());
        async move {
            let page = b.get("/").await;
            (page, b.cookies.get("bazaar_session").cloned())
        }
    }))
    .await;
    let mut renewed = Vec::new();
    for (page, cookie) in pages {
        page.assert_html(StatusCode::OK, &["Sam Shopper"]);
        renewed.push(cookie.expect("a renewed session"));
    }
    let open = |cookie: &String| {
        let mut b = Browser::new(&sf);
        b.cookies.insert("bazaar_session".into(), cookie.clone());
        b.session().expect("a sealed session")
    };
    let fresh = open(&renewed[0]);
    assert_ne!(fresh["a"], "not.a.token", "a new access token");
    assert_ne!(
        fresh["r"], session["r"],
        "the refresh token was spent for a new one"
    );
    assert_eq!(fresh["c"], session["c"], "a refresh keeps the CSRF token");
    assert!(
        renewed.iter().all(|c| open(c)["r"] == fresh["r"]),
        "one refresh"
    );

    // The new session goes on working: the sign-in was not revoked.
    let mut later = Browser::new(&sf);
    later
        .cookies
        .insert("bazaar_session".into(), renewed[4].clone());
    later.get("/orders").await;
    later
        .get("/")
        .await
        .assert_html(StatusCode::OK, &["Sam Shopper"]);
}

/// A session whose refresh identity refuses for now (a rate limit met) is still a
/// session: its pages say when to come back, and it is kept. They sent the visitor to sign
/// in again, spending sign-ins under the limit (the keys review).
#[tokio::test]
async fn a_refresh_refused_for_now_asks_to_come_back_not_to_sign_in() {
    let sf = spawn_storefront(&[]).await;
    let browser = Browser::customer(&sf).await;
    let mut session = browser.session().unwrap();
    session["a"] = Value::from("not.a.token");
    let expired = browser.seal("bazaar_session", &session);
    let limited = limited_gateway().await;
    let behind_limit = spawn_storefront(&[("gateway_url", limited.as_str())]).await;

    for path in ["/orders", "/checkout"] {
        let mut visitor = Browser::new(&behind_limit);
        visitor
            .cookies
            .insert("bazaar_session".into(), expired.clone());
        let page = visitor.get(path).await;
        page.assert_html(StatusCode::TOO_MANY_REQUESTS, &["in 7 s"]);
        assert_eq!(page.header("retry-after"), "7", "{path}");
        assert_eq!(
            visitor.cookies.get("bazaar_session"),
            Some(&expired),
            "{path}: the session is kept"
        );
    }
    // The cart, too: a gateway that refuses only the refresh, and would answer the cart
    // of anyone asking without a token. The signed-in shopper was shown that (empty) cart,
    // and what they added went to it (the verification review).
    let shop = crate::helpers::shop();
    let anonymous_cart = reqwest::get(format!("{}/api/cart", shop.urls["gateway_url"]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refusing = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/api/identity/refresh",
            axum::routing::post(|| async { crate::helpers::refused_for_7_s() }),
        )
        .fallback(move || {
            let cart = anonymous_cart.clone();
            async move { ([("content-type", "application/json")], cart) }
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let storefront = spawn_storefront(&[("gateway_url", refusing.as_str())]).await;
    let mut visitor = Browser::new(&storefront);
    visitor
        .cookies
        .insert("bazaar_session".into(), expired.clone());
    visitor
        .get("/cart")
        .await
        .assert_html(StatusCode::TOO_MANY_REQUESTS, &["in 7 s"]);
    let product = crate::helpers::products(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let added = visitor
        .post(
            "/cart/items",
            &[("product_id", &product), ("quantity", "1")],
        )
        .await;
    // Back to the product, saying the cart could not take it (as for any refusal).
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert!(
        added.location().contains("cart_error="),
        "{}",
        added.location()
    );
    // The notifications stream asks the browser to come back, not to stop (a 204).
    let mut visitor = Browser::new(&behind_limit);
    visitor.cookies.insert("bazaar_session".into(), expired);
    let stream = visitor.get("/account/notifications/stream").await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(stream.body.contains("retry: 10000"), "{}", stream.body);
}

#[tokio::test]
async fn a_session_identity_no_longer_honours_is_forgotten() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::customer(&sf).await;
    let mut session = browser.session().unwrap();
    // Someone else spends the refresh token at identity first.
    let spent = reqwest::Client::new()
        .post(format!(
            "{}/api/identity/refresh",
            crate::helpers::shop().identity
        ))
        .json(&serde_json::json!({"refresh_token": session["r"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), StatusCode::OK);
    session["a"] = Value::from("not.a.token");
    browser.forge_session(&session);
    let page = browser.get("/").await;
    page.assert_html(StatusCode::OK, &["Sign in"]);
    assert!(!page.body.contains("Sam Shopper"));
    assert!(!browser.has_session(), "the dead session is forgotten");
}

/// Signing out after the access token expired (a tab left idle) still ends the session
/// at identity: its refresh token no longer works (identity refused the expired token's
/// logout, and a copy of the cookie stayed signed in for the refresh token's 30 days).
#[tokio::test]
async fn signing_out_with_an_expired_access_token_still_ends_the_session() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::customer(&sf).await;
    let mut session = browser.session().unwrap();
    let refresh_token = session["r"].clone();
    // As identity answers an expired token: 401.
    session["a"] = Value::from("not.a.token");
    browser.forge_session(&session);
    let out = browser.post("/signout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let after = reqwest::Client::new()
        .post(format!(
            "{}/api/identity/refresh",
            crate::helpers::shop().identity
        ))
        .json(&serde_json::json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "the session was revoked at identity"
    );
}

#[tokio::test]
async fn account_pages_send_anonymous_visitors_to_sign_in() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    for (path, next) in [
        ("/orders", "%2Forders"),
        ("/orders/some-order", "%2Forders%2Fsome-order"),
        ("/checkout", "%2Fcheckout"),
        ("/account/notifications", "%2Faccount%2Fnotifications"),
        ("/ops", "%2Fops"),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), format!("/signin?next={next}"), "{path}");
    }
    let stream = browser.get("/account/notifications/stream").await;
    assert_eq!(
        stream.status,
        StatusCode::NO_CONTENT,
        "browsers stop reconnecting"
    );
    let signout = browser.get("/signout").await;
    assert_eq!(signout.status, StatusCode::SEE_OTHER);
}
