//! Sign-in, registration and refresh limits: per account and per client address.

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Scratch, spawn_app_with, unique_email,
};
use reqwest::StatusCode;

/// The admin the apps here are configured with, and rate limits on.
const LIMITED: &[(&str, &str)] = &[
    ("admin_email", ADMIN_EMAIL),
    ("admin_password", ADMIN_PASSWORD),
    ("rate_limits", "on"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = LIMITED.to_vec();
    all.extend_from_slice(extra);
    all
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

#[tokio::test]
async fn a_password_brute_force_is_stopped_and_the_right_password_waits_too() {
    // Room at the address: this is about the account.
    let app = spawn_app_with(
        Scratch::new(),
        &with(&[("sign_in_rate_limit_per_address", "1/s burst 100")]),
    )
    .await;
    let user = app.new_user().await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(
            app.login(&user.email, "wrong password guess")
                .await
                .status(),
        );
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(refused, 10, "ten guesses are checked: {statuses:?}");
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let res = app.login(&user.email, &user.password).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "not 200");
    assert!((1..=60).contains(&retry_after(&res)));
    assert_eq!(
        res.headers()["ratelimit-policy"],
        "\"sign-in-account\";q=10;w=120"
    );
    // The lock is on the account, wherever the guesses come from: the email is compared
    // as sign-in compares it.
    let res = app
        .login(&format!(" {} ", user.email.to_uppercase()), &user.password)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account is not locked by it.
    let other = app.new_user().await;
    assert_eq!(
        app.login(&other.email, &other.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_address_guessing_across_accounts_is_stopped() {
    let app = spawn_app_with(
        Scratch::new(),
        &with(&[("sign_in_rate_limit_per_address", "1/min burst 5")]),
    )
    .await;
    for i in 0..5 {
        let res = app.login(&unique_email(), PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = app.login(&unique_email(), PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        res.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"sign-in-address\";r=0;t=")
    );
}

#[tokio::test]
async fn a_burst_of_registrations_from_one_address_is_stopped() {
    let app = spawn_app_with(Scratch::new(), LIMITED).await;
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(
            app.register(&unique_email(), PASSWORD, "Burst")
                .await
                .status(),
        );
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 10, "{statuses:?}");
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn registering_one_email_again_and_again_is_stopped() {
    let app = spawn_app_with(Scratch::new(), LIMITED).await;
    let email = unique_email();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.register(&email, PASSWORD, "Again").await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn refreshes_are_limited_per_address() {
    let app = spawn_app_with(
        Scratch::new(),
        &with(&[("refresh_rate_limit_per_address", "1/min burst 3")]),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.refresh("no such token").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.refresh("no such token").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn clients_behind_the_gateway_are_counted_apart() {
    let app = spawn_app_with(
        Scratch::new(),
        &with(&[("sign_in_rate_limit_per_address", "1/min burst 2")]),
    )
    .await;
    let login_from = |ip: &'static str| {
        app.client
            .post(app.url("/api/identity/login"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({"email": unique_email(), "password": PASSWORD}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            login_from("203.0.113.1").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from("203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from("203.0.113.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another client the gateway forwards"
    );
}
