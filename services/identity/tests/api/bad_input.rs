//! Bad input, endpoint by endpoint: every refusal is a problem document with the right
//! status, naming the field at fault where there is one.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp, assert_problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// One bad request and what it must be answered with.
struct Case {
    what: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    field: Option<&'static str>,
}

/// A JSON body refused as unprocessable (422), naming `field`.
fn invalid(what: &'static str, field: &'static str, body: serde_json::Value) -> Case {
    Case {
        what,
        content_type: Some("application/json"),
        body: serde_json::to_vec(&body).unwrap(),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: Some(field),
    }
}

fn raw_case(
    what: &'static str,
    content_type: Option<&'static str>,
    body: &[u8],
    status: StatusCode,
) -> Case {
    Case {
        what,
        content_type,
        body: body.to_vec(),
        status,
        field: None,
    }
}

/// Cases every JSON endpoint shares: malformed, too large, not JSON.
fn common_cases() -> Vec<Case> {
    let huge = format!(r#"{{"email": "{}"}}"#, "a".repeat(300 * 1024));
    vec![
        raw_case(
            "malformed JSON",
            Some("application/json"),
            br#"{"email": "#,
            StatusCode::BAD_REQUEST,
        ),
        raw_case(
            "an array, not an object",
            Some("application/json"),
            b"[1, 2]",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        raw_case(
            "body over 256 KiB",
            Some("application/json"),
            huge.as_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        raw_case(
            "text/plain",
            Some("text/plain"),
            br#"{"email": "a@b.co"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        raw_case(
            "no content type",
            None,
            br#"{"email": "a@b.co"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ]
}

async fn run(app: &TestApp, path: &str, token: Option<&str>, cases: Vec<Case>) {
    for case in cases {
        let mut request = app
            .client
            .request(Method::POST, app.url(path))
            .body(case.body);
        if let Some(ct) = case.content_type {
            request = request.header("content-type", ct);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let res = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}, {}: {e}", case.what));
        assert_problem(
            res,
            case.status,
            case.field,
            &format!("{path}, {}", case.what),
        )
        .await;
    }
}

#[tokio::test]
async fn register_refuses_bad_input() {
    let app = spawn_app().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let ok_email = "someone.new@example.com";
    let mut cases = vec![
        invalid(
            "missing email",
            "email",
            json!({"password": PASSWORD, "name": "N"}),
        ),
        invalid(
            "missing password",
            "password",
            json!({"email": ok_email, "name": "N"}),
        ),
        invalid(
            "missing name",
            "name",
            json!({"email": ok_email, "password": PASSWORD}),
        ),
        invalid(
            "email of the wrong type",
            "email",
            json!({"email": 5, "password": PASSWORD, "name": "N"}),
        ),
        invalid(
            "password of the wrong type",
            "password",
            json!({"email": ok_email, "password": true, "name": "N"}),
        ),
        invalid(
            "name of the wrong type",
            "name",
            json!({"email": ok_email, "password": PASSWORD, "name": ["N"]}),
        ),
        invalid(
            "not an email",
            "email",
            json!({"email": "not-an-email", "password": PASSWORD, "name": "N"}),
        ),
        invalid(
            "email without a domain",
            "email",
            json!({"email": "someone@", "password": PASSWORD, "name": "N"}),
        ),
        invalid(
            "empty email",
            "email",
            json!({"email": "", "password": PASSWORD, "name": "N"}),
        ),
        invalid(
            "password under 10 characters",
            "password",
            json!({"email": ok_email, "password": "Sh0rt!pw", "name": "N"}),
        ),
        invalid(
            "password of 4 distinct characters",
            "password",
            json!({"email": ok_email, "password": "abcdabcdabcd", "name": "N"}),
        ),
        invalid(
            "password containing the email's local part",
            "password",
            json!({"email": ok_email, "password": "x-Someone.New-2024", "name": "N"}),
        ),
        invalid(
            "password over 256 characters",
            "password",
            json!({"email": ok_email, "password": "abcde12345".repeat(26), "name": "N"}),
        ),
        invalid(
            "empty name",
            "name",
            json!({"email": ok_email, "password": PASSWORD, "name": "   "}),
        ),
        invalid(
            "name over 100 characters",
            "name",
            json!({"email": ok_email, "password": PASSWORD, "name": "n".repeat(101)}),
        ),
    ];
    cases.extend(common_cases());
    run(&app, "/api/identity/register", None, cases).await;

    // Every bad field is named at once.
    let res = app.register("nope", "short", "").await;
    let body = assert_problem(res, unprocessable, Some("email"), "three bad fields").await;
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(3), "{body}");

    // None of it created an account.
    assert_eq!(
        app.login(ok_email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_refuses_bad_input() {
    let app = spawn_app().await;
    let mut cases = vec![
        invalid("missing email", "email", json!({"password": PASSWORD})),
        invalid(
            "missing password",
            "password",
            json!({"email": ADMIN_EMAIL}),
        ),
        invalid(
            "email of the wrong type",
            "email",
            json!({"email": null, "password": PASSWORD}),
        ),
        invalid(
            "password of the wrong type",
            "password",
            json!({"email": ADMIN_EMAIL, "password": 1234567890}),
        ),
        invalid(
            "a field sign-in does not know",
            "remember_me",
            json!({"email": ADMIN_EMAIL, "password": PASSWORD, "remember_me": true}),
        ),
    ];
    cases.extend(common_cases());
    run(&app, "/api/identity/login", None, cases).await;
}

#[tokio::test]
async fn refresh_refuses_bad_input() {
    let app = spawn_app().await;
    let mut cases = vec![
        invalid("missing refresh_token", "refresh_token", json!({})),
        invalid(
            "refresh_token of the wrong type",
            "refresh_token",
            json!({"refresh_token": 42}),
        ),
    ];
    cases.extend(common_cases());
    run(&app, "/api/identity/refresh", None, cases).await;
}

#[tokio::test]
async fn logout_refuses_bad_input() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut cases = vec![
        invalid(
            "missing refresh_token",
            "refresh_token",
            json!({"everything": true}),
        ),
        invalid(
            "refresh_token of the wrong type",
            "refresh_token",
            json!({"refresh_token": [1]}),
        ),
    ];
    cases.extend(common_cases());
    run(&app, "/api/identity/logout", Some(&admin.access), cases).await;

    // None of it signed the admin out.
    assert_eq!(app.refresh(&admin.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn listing_users_refuses_bad_paging() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cases = [
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=-1", "per_page"),
        ("per_page=ten", "per_page"),
        ("page=9223372036854775807&per_page=100", "page"),
        // Past what every other list of the shop takes, alike.
        ("page=4294967296", "page"),
    ];
    for (query, field) in cases {
        let res = app
            .get_with_token(&format!("/api/identity/users?{query}"), &admin.access)
            .await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, Some(field), query).await;
    }
}
