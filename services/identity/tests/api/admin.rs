//! The admin account ensured at start, and the admin-only account listing.

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Scratch, TestApp, assert_problem, spawn_app, spawn_app_with,
};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

const CONFIGURED: [(&str, &str); 2] = [
    ("admin_email", ADMIN_EMAIL),
    ("admin_password", ADMIN_PASSWORD),
];

/// Every account with the admin role, as the listing shows them.
async fn admins(app: &TestApp, access: &str) -> Vec<Value> {
    let res = app
        .get_with_token("/api/identity/users?per_page=100", access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["roles"].as_array().unwrap().iter().any(|r| r == "admin"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_configured_admin_exists_once_across_restarts() {
    let scratch = Scratch::new();
    let app = spawn_app_with(scratch.clone(), &CONFIGURED).await;
    let tokens = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["customer", "admin"]));
    app.stop().await;

    let app = spawn_app_with(scratch, &CONFIGURED).await;
    let tokens = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let admins = admins(&app, &tokens.access).await;
    assert_eq!(admins.len(), 1, "{admins:?}");
    assert_eq!(admins[0]["email"], ADMIN_EMAIL);
}

/// A start that fails on its settings makes nothing: the admin's random password, which
/// is printed once, would otherwise be printed by a run that then failed, and never again.
#[tokio::test]
async fn a_start_refused_for_its_settings_creates_no_admin() {
    platform::telemetry::init_for_tests();
    let scratch = Scratch::new();
    let database_url = scratch.database_url();
    let settings = platform::Launch::for_tests(
        &identity::SERVICE,
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", database_url.as_str()),
            ("service_secret", "short"),
        ],
    );
    let refused = settings
        .build()
        .await
        .err()
        .expect("a short secret is refused");
    assert!(
        format!("{refused:#}").contains("BAZAAR_SERVICE_SECRET"),
        "{refused:#}"
    );
    // Nothing was written: not even the database.
    assert!(
        !scratch.dir().join("identity.db").exists(),
        "the refused start made a database"
    );
}

#[tokio::test]
async fn a_changed_admin_password_takes_effect_at_start() {
    let scratch = Scratch::new();
    spawn_app_with(scratch.clone(), &CONFIGURED)
        .await
        .stop()
        .await;

    let app = spawn_app_with(
        scratch,
        &[
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", "a brand new passphrase"),
        ],
    )
    .await;

    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.tokens(ADMIN_EMAIL, "a brand new passphrase").await;
}

#[tokio::test]
async fn a_registered_account_named_as_admin_is_promoted() {
    let scratch = Scratch::new();
    let app = spawn_app_with(scratch.clone(), &CONFIGURED).await;
    let user = app.new_user().await;
    app.stop().await;

    let app = spawn_app_with(
        scratch,
        &[
            ("admin_email", &user.email),
            ("admin_password", "the admin passphrase"),
        ],
    )
    .await;

    let tokens = app.tokens(&user.email, "the admin passphrase").await;
    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["id"], user.id.as_str());
    assert_eq!(me["roles"], serde_json::json!(["customer", "admin"]));
}

/// (email, roles, password hash) of every admin, read from the database.
async fn admin_rows(app: &TestApp) -> Vec<(String, String, String)> {
    let db = app.database().await;
    let rows =
        sqlx::query("SELECT email, roles, password_hash FROM users WHERE roles LIKE '%admin%'")
            .fetch_all(&db)
            .await
            .unwrap();
    db.close().await;
    rows.iter()
        .map(|r| (r.get("email"), r.get("roles"), r.get("password_hash")))
        .collect()
}

#[tokio::test]
async fn without_configuration_a_default_admin_is_created_once() {
    let scratch = Scratch::new();
    let app = spawn_app_with(scratch.clone(), &[]).await;
    let first = admin_rows(&app).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].0, "admin@bazaar.local");
    assert_eq!(first[0].1, "customer,admin");
    app.stop().await;

    let app = spawn_app_with(scratch, &[]).await;

    assert_eq!(
        admin_rows(&app).await,
        first,
        "no second admin, and the password is unchanged"
    );
}

#[tokio::test]
async fn listing_users_pages_and_is_for_admins_only() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (user, customer) = app.signed_in_user().await;
    app.new_user().await;

    let res = app
        .get_with_token("/api/identity/users?page=2&per_page=2", &admin.access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 2);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    for field in ["id", "email", "name", "roles", "created_at"] {
        assert!(!items[0][field].is_null(), "{field} in {}", items[0]);
    }
    assert!(items[0].get("password_hash").is_none());

    let res = app
        .get_with_token(&format!("/api/identity/users/{}", user.id), &admin.access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let one: Value = res.json().await.unwrap();
    assert_eq!(one["email"], user.email.as_str());

    let res = app
        .get_with_token("/api/identity/users/no-such-id", &admin.access)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "unknown user id").await;
    let res = app
        .get_with_token("/api/identity/users", &customer.access)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, None, "a customer").await;
    let res = app.get("/api/identity/users").await;
    assert_problem(res, StatusCode::UNAUTHORIZED, None, "no token").await;
}
