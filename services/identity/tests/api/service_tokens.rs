//! Service tokens: how Bazaar's services authenticate to each other.

use crate::helpers::{Scratch, assert_problem, spawn_app_with};
use platform::auth::{ServiceCredentials, Verifier, service_key};
use platform::config::Secret;
use reqwest::StatusCode;
use serde_json::json;

/// The master service secret, which only identity holds.
const SECRET: &str = "a-master-service-secret-for-the-tests";

#[tokio::test]
async fn a_service_with_the_secret_gets_a_verifiable_service_token() {
    let app = spawn_app_with(Scratch::new(), &[("service_secret", SECRET)]).await;
    let credentials = ServiceCredentials::new("orders", &app.address, Secret::new(SECRET));
    let token = credentials.token().await.expect("a service token");
    // Cached: the same token until it is due for renewal.
    assert_eq!(credentials.token().await.unwrap(), token);
    let verifier = Verifier::remote(&app.address, "bazaar-identity", "bazaar");
    let claims = verifier
        .verify(&token)
        .await
        .expect("verifies with the JWKS");
    assert_eq!(claims.sub, "service:orders");
    assert!(claims.is_service());
    assert!(!claims.is_admin());
}

#[tokio::test]
async fn a_service_given_only_its_own_key_gets_tokens_in_its_own_name_only() {
    let app = spawn_app_with(Scratch::new(), &[("service_secret", SECRET)]).await;
    let storefront = service_key(SECRET, "storefront");
    // What `bazaar up` gives the storefront works for the storefront...
    let credentials = ServiceCredentials::new("storefront", &app.address, Secret::new(&storefront));
    let token = credentials.token().await.expect("a service token");
    let verifier = Verifier::remote(&app.address, "bazaar-identity", "bazaar");
    assert_eq!(
        verifier.verify(&token).await.unwrap().sub,
        "service:storefront"
    );
    // ...and for nobody else: with it, a compromised storefront cannot be orders.
    for (body, why) in [
        (
            json!({"service": "orders", "secret": storefront}),
            "another service's key",
        ),
        (
            json!({"service": "orders", "secret": SECRET}),
            "the master itself, sent",
        ),
    ] {
        let r = app.post_json("/api/identity/service-tokens", &body).await;
        assert_problem(r, StatusCode::UNAUTHORIZED, None, why).await;
    }
}

#[tokio::test]
async fn a_wrong_secret_or_a_bad_name_is_refused() {
    let app = spawn_app_with(Scratch::new(), &[("service_secret", SECRET)]).await;
    let cases = [
        (
            json!({"service": "orders", "secret": "guess"}),
            StatusCode::UNAUTHORIZED,
            "wrong secret",
        ),
        (
            json!({"service": "Orders!", "secret": SECRET}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad name",
        ),
        (
            json!({"service": "", "secret": SECRET}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty name",
        ),
        (
            json!({"service": "orders"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no secret",
        ),
    ];
    for (body, status, why) in cases {
        let r = app.post_json("/api/identity/service-tokens", &body).await;
        assert_problem(r, status, None, why).await;
    }
}

#[tokio::test]
async fn without_a_configured_secret_no_service_token_is_issued() {
    let app = spawn_app_with(Scratch::new(), &[("service_secret", "")]).await;
    let body = json!({"service": "orders", "secret": ""});
    let r = app.post_json("/api/identity/service-tokens", &body).await;
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, None, "unconfigured").await;
}
