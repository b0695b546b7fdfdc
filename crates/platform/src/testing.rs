//! Fixtures for the services' black-box tests (feature `test-util`): scratch directories,
//! services running in the background and their HTTP APIs, a bounded poller and
//! problem-document assertions.

use crate::{problem, service::Service, shutdown::Shutdown};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::Value;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

/// How often [`eventually`] looks.
pub const POLL: Duration = Duration::from_millis(50);
/// How long [`eventually`] looks before it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long [`Running::stop`] waits: a service's grace period (10 s by default) for its
/// requests, then as long again for its workers.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

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
