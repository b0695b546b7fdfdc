//! A real identity service on port 0 with a fresh SQLite database, and typed helpers to
//! drive it over HTTP.

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{SigningKey, pkcs8::DecodePrivateKey};
use platform::testing::{Api, Running};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

pub use platform::testing::assert_problem;

/// The admin every [`spawn_app`] configures.
pub const ADMIN_EMAIL: &str = "root@bazaar.test";
pub const ADMIN_PASSWORD: &str = "admin passphrase 4 tests";
/// A password every test user may have.
pub const PASSWORD: &str = "correct horse battery staple";

/// A scratch directory shared by the apps a test starts on it in turn, removed when the
/// last of them is gone.
pub struct Scratch(platform::testing::Scratch);

impl Scratch {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(platform::testing::Scratch::new("identity")))
    }

    pub fn database_url(&self) -> String {
        self.0.sqlite_url("identity")
    }

    /// The directory itself.
    pub fn dir(&self) -> &std::path::Path {
        self.0.path()
    }
}

/// A running identity service; dropping it stops the service. Its API's requests are
/// the app's.
pub struct TestApp {
    pub api: Api,
    pub scratch: Arc<Scratch>,
    running: Running,
}

platform::app_derefs_to_api!(TestApp);

/// A registered user's credentials and id.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
}

/// A token pair as answered by login and refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// The app with the standard test admin, on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(
        Scratch::new(),
        &[
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
        ],
    )
    .await
}

/// The app on the database in `scratch`, with `overrides` besides listen and database.
pub async fn spawn_app_with(scratch: Arc<Scratch>, overrides: &[(&str, &str)]) -> TestApp {
    let database_url = scratch.database_url();
    spawn_app_on(scratch, &database_url, overrides).await
}

/// The app on the database at `database_url` (a replica, when another app runs on it).
pub async fn spawn_app_on(
    scratch: Arc<Scratch>,
    database_url: &str,
    overrides: &[(&str, &str)],
) -> TestApp {
    platform::telemetry::init_for_tests();
    let mut all = vec![("listen", "127.0.0.1:0"), ("database_url", database_url)];
    all.extend_from_slice(overrides);
    let settings = platform::Launch::for_tests(&identity::SERVICE, &all);
    let running = Running::spawn(settings.build().await.expect("identity builds"));
    TestApp {
        api: Api::new(running.url()),
        scratch,
        running,
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// An email address no other test uses.
pub fn unique_email() -> String {
    format!(
        "user{}-{}@example.com",
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

impl TestApp {
    /// Stops the server and waits until it has closed its database.
    pub async fn stop(self) {
        self.running.stop().await;
    }

    /// `POST path` without a body or a token.
    pub async fn post(&self, path: &str) -> Response {
        self.send(Method::POST, path, None, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send(Method::POST, path, None, Some(body)).await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Response {
        self.post_json(
            "/api/identity/register",
            &json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/identity/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/identity/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// Logs out with `access`, ending the session of `refresh_token` or, without it, all.
    pub async fn logout(&self, access: &str, refresh_token: Option<&str>) -> Response {
        let body = refresh_token.map(|t| json!({"refresh_token": t}));
        self.send(
            Method::POST,
            "/api/identity/logout",
            Some(access),
            body.as_ref(),
        )
        .await
    }

    pub async fn me(&self, access: &str) -> Response {
        self.get_with_token("/api/identity/me", access).await
    }

    pub async fn get_with_token(&self, path: &str, access: &str) -> Response {
        self.send_as(Method::GET, path, access).await
    }

    pub async fn jwks(&self) -> Value {
        let res = self.get("/api/identity/.well-known/jwks.json").await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("JSON key set")
    }

    /// Registers a fresh user.
    pub async fn new_user(&self) -> TestUser {
        let email = unique_email();
        let res = self.register(&email, PASSWORD, "Test User").await;
        assert_eq!(res.status(), StatusCode::CREATED, "register");
        let body: Value = res.json().await.expect("JSON");
        TestUser {
            id: body["id"].as_str().expect("id").to_owned(),
            email,
            password: PASSWORD.to_owned(),
        }
    }

    /// Logs in, expecting success.
    pub async fn tokens(&self, email: &str, password: &str) -> Tokens {
        let res = self.login(email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {email}");
        tokens_of(res).await
    }

    /// A fresh user and a signed-in session of theirs.
    pub async fn signed_in_user(&self) -> (TestUser, Tokens) {
        let user = self.new_user().await;
        let tokens = self.tokens(&user.email, &user.password).await;
        (user, tokens)
    }

    /// The database, opened beside the running service.
    pub async fn database(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.scratch.database_url())
            .await
            .expect("open the test database")
    }

    /// The service's signing key and its id, read from its database.
    pub async fn signing_key(&self) -> (String, SigningKey) {
        let db = self.database().await;
        let row = sqlx::query("SELECT kid, private_key FROM signing_keys ORDER BY created_at, kid")
            .fetch_one(&db)
            .await
            .expect("a signing key");
        let kid: String = row.get("kid");
        let der = STANDARD
            .decode(row.get::<String, _>("private_key"))
            .expect("base64 key");
        db.close().await;
        (kid, SigningKey::from_pkcs8_der(&der).expect("PKCS#8 key"))
    }
}

/// The pair in a login or refresh answer.
pub async fn tokens_of(res: Response) -> Tokens {
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().is_some_and(|s| s > 0));
    Tokens {
        access: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    }
}
