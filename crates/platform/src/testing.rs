//! Fixtures for the services' black-box tests (feature `test-util`): scratch directories,
//! services running in the background and their HTTP APIs, a bounded poller,
//! problem-document assertions and, in [`strategies`], what property tests share.

use crate::{kit::Launch, problem, registry::ServiceDef, service::Service, shutdown::Shutdown};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::Value;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

pub mod strategies;

/// How often [`eventually`] looks.
pub const POLL: Duration = Duration::from_millis(50);
/// How long [`eventually`] looks before it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long [`Running::stop`] waits: a service's grace period (10 s by default) for its
/// requests, then as long again for its workers.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Log lines written to memory, for a test to read.
#[derive(Clone, Default)]
pub struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Lines {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines of `work`, written under the log filter `filter` as a service writes
/// them (without colours).
pub fn logged(filter: &str, work: impl FnOnce()) -> String {
    use tracing_subscriber::layer::SubscriberExt;
    let lines = Lines::default();
    let writer = lines.clone();
    let layer = crate::telemetry::text_logs(filter, false, move || writer.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), work);
    lines.text()
}

/// A directory of its own under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Creates `bazaar-test-<label>-<uuid>`.
    pub fn new(label: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("bazaar-test-{label}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `sqlite://<dir>/<name>.db`: a database in this directory, as a URL services take.
    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}/{name}.db", self.dir.display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What names a [`Scratch::for_binary`] directory: this prefix, then its process's id.
const BINARY_SCRATCH: &str = "bazaar-test-binary-";

impl Scratch {
    /// A directory for a fixture the whole test binary shares ([`start_for_binary`]),
    /// kept until the process ends. Such a fixture is a `static`, never dropped, so its
    /// directory is not removed when it is done: it is named after this process
    /// (`bazaar-test-binary-<pid>-<label>-<uuid>`), and those of processes that have
    /// ended are removed here, by the next binary that makes one. Without that, each test
    /// process (nextest runs each test in its own) left a shared identity's database
    /// behind: 400 of them, 470 MB, after two test runs.
    pub fn for_binary(label: &str) -> Self {
        let temp = std::env::temp_dir();
        // Whether a process still runs is read from /proc: where there is none, nothing
        // is swept rather than everything.
        if Path::new("/proc/self").exists()
            && let Ok(entries) = std::fs::read_dir(&temp)
        {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix(BINARY_SCRATCH))
                    .and_then(|rest| rest.split('-').next())
                    .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = temp.join(format!(
            "{BINARY_SCRATCH}{}-{label}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self { dir }
    }
}

/// A PostgreSQL database of its own, under a fresh name, on the server
/// `BAZAAR_TEST_POSTGRES_URL` names (`postgres://user@host:port`, no database). Nothing
/// creates it: the first [`Db::connect`](crate::db::Db::connect) to [`Self::url`] does.
#[derive(Debug)]
pub struct ScratchPostgres {
    server: String,
    name: String,
}

impl ScratchPostgres {
    /// `bazaar_<label>_<uuid>` on the server; `None` when `BAZAAR_TEST_POSTGRES_URL` is
    /// not set, after saying on stderr that `unchecked` is not checked.
    pub fn from_env(label: &str, unchecked: &str) -> Option<Self> {
        let Ok(server) = std::env::var("BAZAAR_TEST_POSTGRES_URL") else {
            eprintln!("BAZAAR_TEST_POSTGRES_URL is not set; {unchecked} not checked");
            return None;
        };
        Some(Self {
            server: server.trim_end_matches('/').to_owned(),
            name: format!("bazaar_{label}_{}", uuid::Uuid::new_v4().simple()),
        })
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Drops the database (if it was created), closing what is still connected to it.
    pub async fn drop_database(self) {
        let admin = sqlx::AnyPool::connect(&format!("{}/postgres", self.server))
            .await
            .expect("BAZAAR_TEST_POSTGRES_URL is reachable");
        // The name is ours (a UUID), so building the statement from it is safe.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

/// Returns once a transaction on `db`, a PostgreSQL database, waits for a lock: for a
/// test that holds one transaction open and needs another blocked by it before going on.
pub async fn until_a_transaction_waits_for_a_lock(db: &crate::db::Db) {
    eventually("a transaction to wait for a lock", async || {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
}

/// A service running in the background on the current tokio runtime. Dropping the handle
/// asks the service to stop; [`Running::stop`] also waits until it has.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    url: String,
    shutdown: Shutdown,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Runs a built service in a task of its own.
    pub fn spawn(service: Service) -> Self {
        let addr = service.local_addr();
        let shutdown = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        Self {
            addr,
            url: format!("http://{addr}"),
            shutdown,
            task: Some(task),
        }
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The service's shutdown trigger.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Stops the service gracefully and waits until it has stopped; returns how long that
    /// took. Fails the test if the service fails or takes too long.
    pub async fn stop(mut self) -> Duration {
        let started = Instant::now();
        self.shutdown.trigger();
        let task = self.task.take().expect("a running service has its task");
        tokio::time::timeout(STOP_TIMEOUT, task)
            .await
            .unwrap_or_else(|_| panic!("the service at {} stops in time", self.addr))
            .unwrap_or_else(|e| panic!("the service at {}: its task failed: {e}", self.addr))
            .unwrap_or_else(|e| panic!("the service at {} stopped cleanly: {e:#}", self.addr));
        started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Lets a test's app stand for the [`Api`] in its field `api` (an [`Api`], or a
/// [`Restartable`], which dereferences to one), so that a test calls `app.get(..)`.
#[macro_export]
macro_rules! app_derefs_to_api {
    ($app:ty) => {
        impl ::std::ops::Deref for $app {
            type Target = $crate::testing::Api;

            fn deref(&self) -> &$crate::testing::Api {
                &self.api
            }
        }
    };
}

/// A service under test that the test stops and starts again on the same data: each start
/// is on a new port, and its [`Api`] (what it dereferences to) follows it there.
#[derive(Debug)]
pub struct Restartable {
    api: Api,
    running: Option<Running>,
}

impl Restartable {
    /// Nothing running yet.
    pub fn stopped() -> Self {
        Self {
            api: Api::new(String::new()),
            running: None,
        }
    }

    /// Takes `running` as the service, now at its address.
    pub fn started(&mut self, running: Running) {
        assert!(self.running.is_none(), "the service is running already");
        self.api.address = running.url().to_owned();
        self.running = Some(running);
    }

    /// Stops the service gracefully; returns how long that took.
    pub async fn stop(&mut self) -> Duration {
        let running = self.running.take().expect("the service is running");
        running.stop().await
    }
}

impl std::ops::Deref for Restartable {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Builds the service `def` from defaults and `overrides` only (`("listen",
/// "127.0.0.1:0")`, `("database_url", …)`) and runs it in the background.
pub async fn spawn(
    def: &'static ServiceDef,
    overrides: &[(&str, &str)],
) -> anyhow::Result<Running> {
    Ok(Running::spawn(
        Launch::for_tests(def, overrides).build().await?,
    ))
}

/// Starts a fixture the whole test binary shares (one identity, one shop) on a thread and
/// tokio runtime of its own, which live as long as the binary: each test has its own
/// runtime, which would take the fixture down with it. `start` is given that runtime's
/// handle and answers the fixture and what must stay alive with it (its services, its
/// scratch directory, made with [`Scratch::for_binary`]). Panics, naming `what`, when it
/// does not start.
pub fn start_for_binary<T, K, F, Fut>(what: &str, start: F) -> T
where
    T: Send + 'static,
    K: 'static,
    F: FnOnce(tokio::runtime::Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<(T, K)>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(what.into())
        .spawn({
            let what = what.to_owned();
            move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("a tokio runtime for {what}: {e}"));
                let handle = runtime.handle().clone();
                runtime.block_on(async move {
                    match start(handle).await {
                        Ok((fixture, _kept)) => {
                            let _ = tx.send(Ok(fixture));
                            // Serve, and keep the runtime, until the binary exits.
                            std::future::pending::<()>().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("{e:#}")));
                        }
                    }
                });
            }
        })
        .unwrap_or_else(|e| panic!("a thread for {what}: {e}"));
    match rx.recv() {
        Ok(Ok(fixture)) => fixture,
        Ok(Err(e)) => panic!("{what} did not start: {e}"),
        Err(_) => panic!("{what}'s thread ended before it started"),
    }
}

/// The HTTP API of a service under test: requests to paths under its address.
#[derive(Debug, Clone)]
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            client: reqwest::Client::new(),
        }
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

    /// A request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    /// GET with the bearer `token`, a 200 read as JSON.
    pub async fn get_json_as(&self, path: &str, token: &str) -> Value {
        let res = self.send_as(Method::GET, path, token).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("a JSON body")
    }

    /// A request without a body, with the bearer `token`.
    pub async fn send_as(&self, method: Method, path: &str, token: &str) -> Response {
        self.send(method, path, Some(token), None).await
    }

    /// A request with an optional bearer token and a raw body of `content_type`.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }
}

/// The catalog's administrators' API, as the tests of the services that follow the
/// catalog drive it: products created, repriced and deleted as the administrator, each
/// change asserted to be taken.
#[derive(Debug, Clone)]
pub struct CatalogAdmin {
    pub api: Api,
    /// An administrator's access token.
    pub token: String,
}

impl CatalogAdmin {
    /// The catalog at `address` (`http://127.0.0.1:<port>`), called with `token`.
    pub fn new(address: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            api: Api::new(address),
            token: token.into(),
        }
    }

    /// Creates `product` (the catalog's create body); returns its id.
    pub async fn create_product(&self, product: &Value) -> String {
        let path = "/api/catalog/products";
        let res = self.send(Method::POST, path, Some(product)).await;
        let sku = &product["sku"];
        assert_eq!(res.status(), StatusCode::CREATED, "creating {sku}");
        let created: Value = res.json().await.expect("a JSON body");
        created["id"].as_str().expect("an id").to_owned()
    }

    /// Changes the price of the product `id`.
    pub async fn set_price(&self, id: &str, price_cents: i64) {
        let body = serde_json::json!({ "price_cents": price_cents });
        let path = format!("/api/catalog/products/{id}");
        let res = self.send(Method::PATCH, &path, Some(&body)).await;
        assert_eq!(res.status(), StatusCode::OK, "repricing {id}");
    }

    /// Deletes the product `id`.
    pub async fn delete_product(&self, id: &str) {
        let path = format!("/api/catalog/products/{id}");
        let res = self.send(Method::DELETE, &path, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "deleting {id}");
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.api.send(method, path, Some(&self.token), body).await
    }
}

/// A request a service is to refuse with a problem document: what bad-input tests are
/// tables of.
#[derive(Debug)]
pub struct Refused {
    /// Names the case in failure messages.
    pub what: &'static str,
    pub method: Method,
    pub path: String,
    /// For anything but a GET.
    pub content_type: &'static str,
    /// For anything but a GET.
    pub body: Vec<u8>,
    pub status: StatusCode,
    /// The field the problem document is to name, if any.
    pub field: Option<&'static str>,
}

impl Refused {
    /// `method path` with `body` as JSON, to be refused with `status` naming `field`.
    pub fn json(
        what: &'static str,
        method: Method,
        path: impl Into<String>,
        body: &Value,
        status: StatusCode,
        field: Option<&'static str>,
    ) -> Self {
        Self {
            what,
            method,
            path: path.into(),
            content_type: "application/json",
            body: serde_json::to_vec(body).expect("JSON serialises"),
            status,
            field,
        }
    }

    /// `GET path`, to be refused with `status` naming `field`.
    pub fn get(
        what: &'static str,
        path: impl Into<String>,
        status: StatusCode,
        field: Option<&'static str>,
    ) -> Self {
        Self {
            what,
            method: Method::GET,
            path: path.into(),
            content_type: "",
            body: Vec::new(),
            status,
            field,
        }
    }
}

impl Api {
    /// Sends `case` with `token` (a GET without a body) and asserts that it is refused as
    /// the case says.
    pub async fn assert_refused(&self, token: Option<&str>, case: Refused) {
        let res = if case.method == Method::GET {
            self.send(Method::GET, &case.path, token, None).await
        } else {
            let (method, path) = (case.method, &case.path);
            self.send_raw(method, path, token, case.content_type, case.body)
                .await
        };
        assert_problem(res, case.status, case.field, case.what).await;
    }
}

/// The fields a refusal names, in order: what unit tests of parsers compare. A refusal
/// that is not a 422 fails the test.
pub fn refused_fields(refusal: impl Into<problem::Problem>) -> Vec<String> {
    let problem = refusal.into();
    assert_eq!(problem.status, 422, "not a refusal of input: {problem:?}");
    problem.errors.into_iter().map(|e| e.field).collect()
}

/// Looks every [`POLL`], for up to [`PATIENCE`], until `check` finds what it looks for.
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_with(POLL, PATIENCE, what, check).await
}

/// Looks every `poll`, for up to `patience`, until `check` finds what it looks for; fails
/// the test, naming `what`, when it does not.
pub async fn eventually_with<T>(
    poll: Duration,
    patience: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(poll).await;
    }
}

/// Waits, for up to a minute, until the service at `url` says it is ready (its
/// dependencies answer and its consumers have caught up with their producers).
pub async fn ready(url: &str) {
    let client = reqwest::Client::new();
    eventually_with(
        POLL,
        Duration::from_secs(60),
        &format!("{url} to be ready"),
        async || {
            let res = client
                .get(format!("{url}/health/ready"))
                .send()
                .await
                .ok()?;
            res.status().is_success().then_some(())
        },
    )
    .await;
}

/// Asserts that `res` is a problem document of `status` naming `field` (if given);
/// returns the document. `case` names the request in failure messages.
pub async fn assert_problem(
    res: Response,
    status: StatusCode,
    field: Option<&str>,
    case: &str,
) -> Value {
    let got = res.status();
    let content_type = content_type(res.headers()).to_owned();
    let text = res
        .text()
        .await
        .unwrap_or_else(|e| panic!("{case}: the body reads: {e}"));
    assert_eq!(got, status, "{case}: status ({text})");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{case}: a JSON problem document ({e}), got {text:?}"));
    assert_problem_document(got, &content_type, &body, status, field, case);
    body
}

/// The callers an administrators' endpoint refuses, as `(token, status, who)`: no token,
/// a garbage one and a forged one (401), and the customer of `customer_token` (403).
pub fn refused_callers(customer_token: &str) -> [(Option<&str>, StatusCode, &'static str); 4] {
    [
        (None, StatusCode::UNAUTHORIZED, "no token"),
        (Some("garbage"), StatusCode::UNAUTHORIZED, "garbage token"),
        (
            Some("eyJhbGciOiJFZERTQSJ9.e30.c2ln"),
            StatusCode::UNAUTHORIZED,
            "forged token",
        ),
        (Some(customer_token), StatusCode::FORBIDDEN, "customer"),
    ]
}

/// Asserts that `res` refuses its caller with `status`: a problem document, and on a 401
/// the `WWW-Authenticate` challenge.
pub async fn assert_caller_refused(res: Response, status: StatusCode, case: &str) {
    if status == StatusCode::UNAUTHORIZED {
        assert!(
            res.headers().contains_key(header::WWW_AUTHENTICATE),
            "{case}: no WWW-Authenticate"
        );
    }
    assert_problem(res, status, None, case).await;
}

/// [`assert_problem`] of an answer already read: its status, `Content-Type` and body.
pub fn assert_problem_document(
    got: StatusCode,
    content_type: &str,
    body: &Value,
    status: StatusCode,
    field: Option<&str>,
    case: &str,
) {
    assert_eq!(got, status, "{case}: status ({body})");
    assert!(
        content_type.starts_with(problem::CONTENT_TYPE),
        "{case}: content type was {content_type:?}"
    );
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
}

/// A response's `Content-Type`, or `""`.
pub fn content_type(headers: &header::HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Asserts that an OpenAPI document describes exactly `operations` — each `(path,
/// method, statuses)` documented with every listed status, each 4xx and 5xx a problem
/// document, and no operation the list leaves out — and defines `schemas`. The list is
/// the test's account of the service's routes, so a route added without its
/// documentation, or documentation of a route that is gone, fails it.
pub fn assert_documented(doc: &Value, operations: &[(&str, &str, &[&str])], schemas: &[&str]) {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|m| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&m.as_str())
                })
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    documented.sort();
    let mut listed: Vec<(String, String)> = operations
        .iter()
        .map(|(p, m, _)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    listed.sort();
    assert_eq!(
        documented, listed,
        "the document describes exactly these operations"
    );
    for (path, method, statuses) in operations {
        let op = &paths[*path][*method];
        for status in *statuses {
            let response = &op["responses"][status];
            assert!(
                response.is_object(),
                "{method} {path} does not document {status}"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"][problem::CONTENT_TYPE].is_object(),
                    "{method} {path} {status} is not a problem document"
                );
            }
        }
    }
    let defined = &doc["components"]["schemas"];
    for schema in schemas {
        assert!(defined[schema].is_object(), "schema {schema} is missing");
    }
}

/// [`assert_documented`] of an event consumer's document: exactly `operations` and the
/// operators' endpoints every consumer serves under `/api/<service>/events` — its dead
/// letters listed, one replayed, one discarded — with `schemas` and theirs.
pub fn assert_documented_consumer(
    doc: &Value,
    service: &str,
    operations: &[(&str, &str, &[&str])],
    schemas: &[&str],
) {
    let dead_letters = format!("/api/{service}/events/dead-letters");
    let replay = format!("{dead_letters}/{{id}}/replay");
    let letter = format!("{dead_letters}/{{id}}");
    let mut all = operations.to_vec();
    all.push((&dead_letters, "get", &["200", "401", "403", "500"]));
    all.push((&replay, "post", &["200", "401", "403", "404", "500"]));
    all.push((&letter, "delete", &["204", "401", "403", "404", "500"]));
    let mut all_schemas = schemas.to_vec();
    all_schemas.extend(["DeadLetters", "Replayed"]);
    assert_documented(doc, &all, &all_schemas);
}

/// The names of the parameters an OpenAPI document gives `method path`, in its order.
pub fn parameter_names<'a>(doc: &'a Value, path: &str, method: &str) -> Vec<&'a str> {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} documents no parameters"))
        .iter()
        .map(|p| p["name"].as_str().expect("a parameter's name"))
        .collect()
}

/// Asserts that each error becomes a problem document of its status naming its field, if
/// it names one: the table a service's error tests give.
pub fn assert_problems<E: std::fmt::Debug>(cases: Vec<(E, u16, Option<&str>)>)
where
    problem::Problem: From<E>,
{
    for (err, status, field) in cases {
        let label = format!("{err:?}");
        let p = problem::Problem::from(err);
        assert_eq!(p.status, status, "{label}");
        assert_eq!(p.errors.first().map(|e| e.field.as_str()), field, "{label}");
    }
}

/// Asserts that a service's migrations start with its own (version 1), include each of
/// `included` (by description: the events crate's tables, say), and use every version
/// once.
pub fn assert_migrations(all: &[crate::db::MigrationSource], included: &[&str]) {
    assert_eq!(
        all.first().map(|m| m.version),
        Some(1),
        "the service's own migrations come first"
    );
    for description in included {
        assert!(
            all.iter().any(|m| m.description == *description),
            "`{description}` is not among the migrations"
        );
    }
    let mut versions: Vec<i64> = all.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), all.len(), "versions are unique");
}

/// `service`'s settings from the defaults and `overrides` only (see
/// [`Settings::for_tests`](crate::config::Settings::for_tests)); fails the test if they
/// are refused.
pub fn settings<S: crate::config::ServiceSettings>(
    service: &str,
    overrides: &[(&str, &str)],
) -> crate::config::Settings<S> {
    crate::config::Settings::for_tests(service, overrides)
        .unwrap_or_else(|e| panic!("{service}'s settings with {overrides:?}: {e}"))
}

/// The settings `service` runs with when nothing is set. Fails the test unless they
/// load, the service's own part is `S::default()` (the defaults its variables are
/// documented with) and the database is the service's own SQLite file.
pub fn default_settings<S: crate::config::ServiceSettings>(
    service: &str,
) -> crate::config::Settings<S> {
    let s = settings::<S>(service, &[]);
    let as_json = |own: &S| serde_json::to_value(own).expect("settings serialise");
    assert_eq!(
        as_json(&s.own),
        as_json(&S::default()),
        "{service}'s own defaults"
    );
    assert_eq!(s.common.database_url, format!("sqlite://data/{service}.db"));
    s
}

/// Fails the test unless `service` refuses `overrides` with one problem for each of
/// `variables`, every one named: all the problems are reported at once.
pub fn assert_settings_refused<S: crate::config::ServiceSettings>(
    service: &str,
    overrides: &[(&str, &str)],
    variables: &[&str],
) {
    let err = match crate::config::Settings::<S>::for_tests(service, overrides) {
        Ok(_) => panic!("{service} took {overrides:?}"),
        Err(err) => err,
    };
    assert_eq!(err.0.len(), variables.len(), "{err}");
    let text = err.to_string();
    for name in variables {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}
