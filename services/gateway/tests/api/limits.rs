//! Rate limits at the gateway: per client address and per signed-in user.

use crate::helpers::{TestGateway, customer_token, spawn_gateway};
use reqwest::StatusCode;
use serde_json::Value;

/// The limit's 429: a problem document with `Retry-After` and the IETF headers.
async fn assert_limited(res: reqwest::Response, policy: &str) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = res.headers().clone();
    let retry: u64 = h["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1, "{retry}");
    let policy_header = h["ratelimit-policy"].to_str().unwrap();
    assert!(
        policy_header.starts_with(&format!("\"{policy}\";q=")),
        "{policy_header}"
    );
    assert_eq!(
        h["ratelimit"].to_str().unwrap(),
        format!("\"{policy}\";r=0;t={retry}")
    );
    platform::testing::assert_problem(res, StatusCode::TOO_MANY_REQUESTS, None, policy).await;
}

/// A gateway with rate limits on, and `limit` (`("address_rate_limit", "1/min burst 5")`).
async fn spawn_limited(limit: (&str, &str)) -> TestGateway {
    spawn_gateway(&[("rate_limits", "on"), limit]).await
}

#[tokio::test]
async fn a_flood_from_one_address_is_answered_429_once_its_burst_is_spent() {
    let gw = spawn_limited(("address_rate_limit", "1/min burst 5")).await;
    for i in 0..5 {
        let res = gw.get("/api/echo/things", &[]).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "request {i} is within the burst"
        );
    }
    assert_limited(gw.get("/api/echo/things", &[]).await, "address").await;
    // Pages count too: the address is limited wherever it goes.
    assert_limited(gw.get("/", &[]).await, "address").await;
}

#[tokio::test]
async fn each_signed_in_user_has_a_bucket_of_their_own() {
    let gw = spawn_limited(("user_rate_limit", "1/min burst 3")).await;
    let ada = customer_token("ada@gateway.test");
    let bob = customer_token("bob@gateway.test");
    let bearer = |t: &str| format!("Bearer {t}");
    for _ in 0..3 {
        let res = gw
            .get("/api/echo/me", &[("authorization", &bearer(&ada))])
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_limited(
        gw.get("/api/echo/me", &[("authorization", &bearer(&ada))])
            .await,
        "user",
    )
    .await;
    let res = gw
        .get("/api/echo/me", &[("authorization", &bearer(&bob))])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "another user is not limited");
    let res = gw.get("/api/echo/things", &[]).await;
    assert_eq!(res.status(), StatusCode::OK, "nor is the address");
}

#[tokio::test]
async fn with_rate_limits_off_nothing_is_limited() {
    let gw = spawn_gateway(&[
        ("rate_limits", "off"),
        ("address_rate_limit", "1/h burst 1"),
    ])
    .await;
    for _ in 0..20 {
        assert_eq!(gw.get("/api/echo/x", &[]).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn an_address_a_trusted_proxy_forwards_is_counted_and_passed_on() {
    let gw = spawn_limited(("address_rate_limit", "1/min burst 2")).await;
    // The test's own address, 127.0.0.1, is a trusted proxy by default (the storefront).
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    for _ in 0..2 {
        let res = gw.get("/api/echo/a", &from("203.0.113.7")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["forwarded_for"], "203.0.113.7");
    }
    assert_eq!(
        gw.get("/api/echo/a", &from("203.0.113.7")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let res = gw.get("/api/echo/a", &from("198.51.100.8")).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "another client behind the proxy"
    );
}

#[tokio::test]
async fn an_untrusted_client_cannot_claim_another_address() {
    let gw = spawn_gateway(&[
        ("rate_limits", "on"),
        ("trusted_proxies", ""),
        ("address_rate_limit", "1/min burst 2"),
    ])
    .await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let claimed = format!("203.0.113.{i}");
        let res = gw
            .get("/api/echo/a", &[("x-forwarded-for", &claimed)])
            .await;
        statuses.push(res.status());
        if res.status() == StatusCode::OK {
            let body: Value = res.json().await.unwrap();
            assert_eq!(
                body["forwarded_for"], "127.0.0.1",
                "the upstream hears the real address"
            );
            assert_eq!(
                body["forwarded_host"],
                gw.api.url("").trim_start_matches("http://"),
                "and the host the client asked for"
            );
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}
