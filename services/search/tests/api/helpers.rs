//! Test fixtures: one real identity for the whole binary, and per test a real catalog
//! (with its default seed of 600 products) and a real search that follows it, each on its
//! own SQLite file, driven over HTTP.

use platform::shutdown::Shutdown;
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple-42";
const CUSTOMER_EMAIL: &str = "shopper@test.local";
const CUSTOMER_PASSWORD: &str = "purple-monkey-dishwasher-7";

/// Products in the catalog's default seed.
pub const SEED_PRODUCTS: usize = 600;

/// How often and how long [`eventually`] looks.
const POLL: Duration = Duration::from_millis(20);
const PATIENCE: Duration = Duration::from_secs(15);

/// The identity service everything verifies tokens against, and a token of each kind.
pub struct Identity {
    pub url: String,
    pub admin_token: String,
    pub customer_token: String,
}

static IDENTITY: OnceLock<Identity> = OnceLock::new();

/// One identity service for the whole test binary: each test has its own tokio runtime,
/// which would take a per-test identity down with it, and every start costs password
/// hashes. It runs on a thread of its own for as long as the binary does.
pub fn identity() -> &'static Identity {
    IDENTITY.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("identity".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for identity");
                rt.block_on(async move {
                    match start_identity().await {
                        Ok((fixture, server)) => {
                            let _ = tx.send(Ok(fixture));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("{e:#}")));
                        }
                    }
                });
            })
            .expect("a thread for identity");
        match rx.recv() {
            Ok(Ok(identity)) => identity,
            Ok(Err(e)) => panic!("identity did not start: {e}"),
            Err(_) => panic!("identity's thread ended before it started"),
        }
    })
}

async fn start_identity() -> anyhow::Result<(Identity, JoinHandle<anyhow::Result<()>>)> {
    let dir = temp_dir("identity");
    let db = format!("sqlite://{}/identity.db", dir.display());
    let settings = identity::Settings::for_tests(
        "identity",
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &db),
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
            ("service_secret", "test-secret"),
        ],
    )?;
    let service = identity::build(settings).await?;
    let url = format!("http://{}", service.local_addr());
    let server = tokio::spawn(service.run());

    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{url}/api/identity/register"))
        .json(&json!({
            "email": CUSTOMER_EMAIL, "password": CUSTOMER_PASSWORD, "name": "Sam Shopper"
        }))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == StatusCode::CREATED,
        "register answered {}: {}",
        registered.status(),
        registered.text().await.unwrap_or_default()
    );
    let admin_token = login(&client, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let customer_token = login(&client, &url, CUSTOMER_EMAIL, CUSTOMER_PASSWORD).await?;
    Ok((
        Identity {
            url,
            admin_token,
            customer_token,
        },
        server,
    ))
}

async fn login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let res = client
        .post(format!("{url}/api/identity/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == StatusCode::OK,
        "login as {email} answered {}",
        res.status()
    );
    let body: Value = res.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login as {email} returned no access_token: {body}"))
}

/// A fresh temporary directory.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bazaar-search-test-{label}-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Looks every 20 ms, for up to 15 s, until `check` finds what it looks for; returns it
/// and how long it took.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> (T, Duration) {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return (found, started.elapsed());
        }
        assert!(
            started.elapsed() < PATIENCE,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A running search service, stoppable.
struct Running {
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A seeded catalog and a search following it.
pub struct TestApp {
    /// Search's `http://127.0.0.1:<port>` (it changes when search restarts).
    pub address: String,
    /// The catalog's `http://127.0.0.1:<port>`.
    pub catalog: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub customer_token: String,
    /// Search's database.
    pub database_url: String,
    /// Search's index, derived from the database's location.
    pub index_dir: PathBuf,
    running: Option<Running>,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh catalog with its default seed, and a search following it.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity();
    let dir = temp_dir("app");
    let catalog_db = format!("sqlite://{}/catalog.db", dir.display());
    let settings = catalog::Settings::for_tests(
        "catalog",
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &catalog_db),
            ("identity_url", &identity.url),
        ],
    )
    .expect("valid catalog settings");
    let catalog = catalog::build(settings).await.expect("the catalog builds");
    let catalog_address = format!("http://{}", catalog.local_addr());
    tokio::spawn(catalog.run());

    let mut app = TestApp {
        address: String::new(),
        catalog: catalog_address,
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer_token.clone(),
        database_url: format!("sqlite://{}/search/search.db", dir.display()),
        index_dir: dir.join("search").join("search-index"),
        running: None,
        dir,
    };
    app.start().await;
    app
}

/// A search alone, following a catalog that is not there (its reads keep failing and
/// being retried): enough for what needs no products.
pub async fn spawn_search_only() -> TestApp {
    platform::telemetry::init_for_tests();
    let identity = identity();
    let dir = temp_dir("alone");
    let mut app = TestApp {
        address: String::new(),
        catalog: "http://127.0.0.1:9".into(),
        client: reqwest::Client::new(),
        admin_token: identity.admin_token.clone(),
        customer_token: identity.customer_token.clone(),
        database_url: format!("sqlite://{}/search/search.db", dir.display()),
        index_dir: dir.join("search").join("search-index"),
        running: None,
        dir,
    };
    app.start().await;
    app
}

impl TestApp {
    /// Search's settings: port 0, its database, the catalog and identity of this test.
    pub fn settings(&self) -> search::Settings {
        search::Settings::for_tests(
            "search",
            &[
                ("listen", "127.0.0.1:0"),
                ("database_url", &self.database_url),
                ("identity_url", &identity().url),
                ("catalog_url", &self.catalog),
                ("event_max_attempts", "3"),
            ],
        )
        .expect("valid search settings")
    }

    /// Starts search (again) on its database and index.
    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "search is running already");
        let service = search::build(self.settings()).await.expect("search builds");
        self.address = format!("http://{}", service.local_addr());
        let shutdown = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        self.running = Some(Running { shutdown, task });
    }

    /// Stops search gracefully and waits until it has stopped.
    pub async fn stop(&mut self) {
        let running = self.running.take().expect("search is running");
        running.shutdown.trigger();
        running
            .task
            .await
            .expect("search's task ended normally")
            .expect("search stopped cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// GET and parse a 200 JSON answer.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("a JSON body")
    }

    /// A request to search with an optional bearer token.
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// `GET /api/search` with these query parameters.
    pub async fn search(&self, params: &[(&str, &str)]) -> Value {
        let res = self
            .client
            .get(self.url("/api/search"))
            .query(params)
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::OK, "search {params:?}");
        res.json().await.expect("a JSON body")
    }

    /// The index's status, as the administrator sees it.
    pub async fn status(&self) -> Value {
        let res = self
            .send(
                Method::GET,
                "/api/search/admin/status",
                Some(&self.admin_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "status");
        res.json().await.expect("a JSON body")
    }

    /// Waits until search knows and has indexed `products` products.
    pub async fn wait_until_indexed(&self, products: usize) -> Duration {
        let (_, took) = eventually(&format!("{products} products indexed"), async || {
            let s = self.status().await;
            (s["products"] == products && s["documents"] == products && s["up_to_date"] == true)
                .then_some(())
        })
        .await;
        took
    }

    /// Every product in the catalog, through its listing API.
    pub async fn catalog_products(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for page in 1.. {
            let res = self
                .client
                .get(format!("{}/api/catalog/products", self.catalog))
                .query(&[("per_page", "100"), ("page", &page.to_string())])
                .send()
                .await
                .expect("request sent");
            assert_eq!(res.status(), StatusCode::OK, "catalog page {page}");
            let body: Value = res.json().await.expect("a JSON body");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            all.extend(items);
        }
        all
    }

    /// A request to the catalog as the administrator; asserts `expected`.
    pub async fn catalog_admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.catalog))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        assert_eq!(res.status(), expected, "{method} {path}");
        res.json().await.unwrap_or(Value::Null)
    }
}

/// The ids of a search answer's items, in order.
pub fn ids(results: &Value) -> Vec<String> {
    results["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that `res` is a problem document of `status` naming `field` (if given);
/// returns the document.
pub async fn assert_problem(
    res: Response,
    status: StatusCode,
    field: Option<&str>,
    case: &str,
) -> Value {
    assert_eq!(res.status(), status, "{case}: status");
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{case}: content type was {content_type:?}"
    );
    let body: Value = res.json().await.expect("a JSON problem document");
    assert_eq!(body["status"], status.as_u16(), "{case}: {body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{case}: {body}"
    );
    if let Some(field) = field {
        let named = body["errors"]
            .as_array()
            .is_some_and(|errors| errors.iter().any(|e| e["field"] == field));
        assert!(named, "{case}: `{field}` is not named in {body}");
    }
    body
}
