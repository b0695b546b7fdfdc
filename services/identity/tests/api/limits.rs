//! Sign-in, registration and refresh limits: per account and per client address.

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Scratch, TestApp, spawn_app_with, unique_email,
};
use reqwest::StatusCode;

/// The admin the apps here are configured with, and rate limits on.
const LIMITED: &[(&str, &str)] = &[
    ("admin_email", ADMIN_EMAIL),
    ("admin_password", ADMIN_PASSWORD),
    ("rate_limits", "on"),
];

/// An identity of its own with rate limits on, and the settings of `extra`.
async fn spawn_limited(extra: &[(&'static str, &'static str)]) -> TestApp {
    let mut all = LIMITED.to_vec();
    all.extend_from_slice(extra);
    spawn_app_with(Scratch::new(), &all).await
}

/// The statuses of `n` requests made one after the other by `request`.
async fn statuses(
    n: usize,
    mut request: impl AsyncFnMut() -> reqwest::Response,
) -> Vec<StatusCode> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(request().await.status());
    }
    all
}

/// What `n` requests get when a limit lets `allowed` through: their `status`, then 429s.
fn limited(n: usize, allowed: usize, status: StatusCode) -> Vec<StatusCode> {
    let mut expected = vec![status; allowed];
    expected.resize(n, StatusCode::TOO_MANY_REQUESTS);
    expected
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
    let app = spawn_limited(&[("sign_in_rate_limit_per_address", "1/s burst 100")]).await;
    let user = app.new_user().await;
    let guesses = statuses(30, async || {
        app.login(&user.email, "wrong password guess").await
    });
    assert_eq!(
        guesses.await,
        limited(30, 10, StatusCode::UNAUTHORIZED),
        "ten guesses are checked"
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
    let app = spawn_limited(&[("sign_in_rate_limit_per_address", "1/min burst 5")]).await;
    let guesses = statuses(5, async || app.login(&unique_email(), PASSWORD).await);
    assert_eq!(guesses.await, limited(5, 5, StatusCode::UNAUTHORIZED));
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
    let app = spawn_limited(&[]).await;
    let burst = statuses(15, async || {
        app.register(&unique_email(), PASSWORD, "Burst").await
    });
    assert_eq!(burst.await, limited(15, 10, StatusCode::CREATED));
}

#[tokio::test]
async fn registering_one_email_again_and_again_is_stopped() {
    let app = spawn_limited(&[]).await;
    let email = unique_email();
    let again = statuses(4, async || app.register(&email, PASSWORD, "Again").await);
    assert_eq!(
        again.await,
        [
            StatusCode::CREATED,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn registrations_the_policy_refuses_do_not_use_up_the_emails_tries() {
    let app = spawn_limited(&[]).await;
    let email = unique_email();
    for weak in ["password123", "Password1234", "qwertyuiop1", "short"] {
        let refused = app.register(&email, weak, "Newbie").await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
    }
    let created = app.register(&email, PASSWORD, "Newbie").await;
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn refreshes_are_limited_per_address() {
    let app = spawn_limited(&[("refresh_rate_limit_per_address", "1/min burst 3")]).await;
    let refreshes = statuses(4, async || app.refresh("no such token").await);
    assert_eq!(refreshes.await, limited(4, 3, StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn refreshes_are_limited_per_account_whatever_the_address() {
    let app = spawn_limited(&[("refresh_rate_limit_per_account", "1/min burst 3")]).await;
    let (_, tokens) = app.signed_in_user().await;
    let mut token = tokens.refresh;
    let mut seen = Vec::new();
    for i in 0..4 {
        let res = app
            .client
            .post(app.url("/api/identity/refresh"))
            .header("x-forwarded-for", format!("203.0.113.{}", 10 + i))
            .json(&serde_json::json!({"refresh_token": token}))
            .send()
            .await
            .unwrap();
        seen.push(res.status());
        if res.status() == StatusCode::OK {
            let body: serde_json::Value = res.json().await.unwrap();
            token = body["refresh_token"].as_str().unwrap().to_owned();
        } else {
            assert!(retry_after(&res) > 0);
        }
    }
    assert_eq!(seen, limited(4, 3, StatusCode::OK));
    // The limit is the account's: another account refreshes as ever.
    let other = app.signed_in_user().await;
    assert_eq!(
        app.refresh(&other.1.refresh).await.status(),
        StatusCode::OK,
        "another account"
    );
}

#[tokio::test]
async fn clients_behind_the_gateway_are_counted_apart() {
    let app = spawn_limited(&[("sign_in_rate_limit_per_address", "1/min burst 2")]).await;
    let login_from = |ip: &'static str| {
        app.client
            .post(app.url("/api/identity/login"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({"email": unique_email(), "password": PASSWORD}))
            .send()
    };
    let one_client = statuses(3, async || login_from("203.0.113.1").await.unwrap());
    assert_eq!(one_client.await, limited(3, 2, StatusCode::UNAUTHORIZED));
    assert_eq!(
        login_from("203.0.113.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another client the gateway forwards"
    );
}
