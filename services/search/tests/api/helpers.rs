//! Test fixtures: one real identity for the whole binary, and per test a real catalog
//! (with its default seed of 600 products) and a real search that follows it, each on its
//! own SQLite file, driven over HTTP.

pub use platform::testing::assert_problem;
use platform::{
    shutdown::Shutdown,
    testing::{Api, eventually_with},
};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

/// Products in the catalog's default seed.
pub const SEED_PRODUCTS: usize = 600;

/// How often and how long [`eventually`] looks.
const POLL: Duration = Duration::from_millis(20);
const PATIENCE: Duration = Duration::from_secs(15);
/// How long [`TestApp::wait_until_indexed`] waits for a whole catalog.
const INDEXING_PATIENCE: Duration = Duration::from_secs(45);

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
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> (T, Duration) {
    let started = Instant::now();
    let found = eventually_with(POLL, PATIENCE, what, check).await;
    (found, started.elapsed())
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
    let identity = identity::testing::shared();
    let dir = temp_dir("app");
    let catalog_db = format!("sqlite://{}/catalog.db", dir.display());
    let settings = identity.launch(&catalog::SERVICE, &catalog_db, &[]);
    let catalog = settings.build().await.expect("the catalog builds");
    let catalog_address = format!("http://{}", catalog.local_addr());
    tokio::spawn(catalog.run());

    TestApp::start_in(dir, catalog_address).await
}

/// A search alone, following a catalog that is not there (its reads keep failing and
/// being retried): enough for what needs no products.
pub async fn spawn_search_only() -> TestApp {
    platform::telemetry::init_for_tests();
    TestApp::start_in(temp_dir("alone"), "http://127.0.0.1:9".into()).await
}

impl TestApp {
    /// A search on a database and index in `dir`, following the catalog at `catalog`,
    /// started.
    async fn start_in(dir: PathBuf, catalog: String) -> Self {
        let identity = identity::testing::shared();
        let mut app = TestApp {
            address: String::new(),
            catalog,
            client: reqwest::Client::new(),
            admin_token: identity.admin_token.clone(),
            customer_token: identity.customer().token,
            database_url: format!("sqlite://{}/search/search.db", dir.display()),
            index_dir: dir.join("search").join("search-index"),
            running: None,
            dir,
        };
        app.start().await;
        app
    }

    /// Search's settings: port 0, its database, the catalog and identity of this test.
    pub fn settings(&self) -> platform::Launch {
        let more = [
            ("catalog_url", self.catalog.as_str()),
            ("event_max_attempts", "3"),
        ];
        identity::testing::shared().launch(&search::SERVICE, &self.database_url, &more)
    }

    /// Starts search (again) on its database and index.
    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "search is running already");
        let service = self.settings().build().await.expect("search builds");
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

    /// Search's API at its current address.
    pub fn api(&self) -> Api {
        Api {
            address: self.address.clone(),
            client: self.client.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.api().url(path)
    }

    /// GET and parse a 200 JSON answer.
    pub async fn get_json(&self, path: &str) -> Value {
        self.api().get_json(path).await
    }

    /// A request to search with an optional bearer token.
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>) -> Response {
        self.api().send(method, path, token, None).await
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

    /// Waits until search knows and has indexed `products` products: the whole seeded
    /// catalog's events, which on a machine busy with the other tests took past the
    /// usual 15 s (4 tests of one CI run, under a load of 15 on 2 cores).
    pub async fn wait_until_indexed(&self, products: usize) -> Duration {
        let what = format!("{products} products indexed");
        let started = Instant::now();
        eventually_with(POLL, INDEXING_PATIENCE, &what, async || {
            let s = self.status().await;
            (s["products"] == products && s["documents"] == products && s["up_to_date"] == true)
                .then_some(())
        })
        .await;
        started.elapsed()
    }

    /// The index's status at the moment search first answers ready (asked every 5 ms):
    /// what the gateway sends searches to once it takes this replica back.
    pub async fn status_once_ready(&self) -> Value {
        let every = Duration::from_millis(5);
        eventually_with(every, INDEXING_PATIENCE, "search ready", async || {
            let ready = self.send(Method::GET, "/health/ready", None).await;
            (ready.status() == StatusCode::OK).then_some(())
        })
        .await;
        self.status().await
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
