//! The gateway under test: in front of the binary's shared identity and of `echo` (also
//! standing in for the storefront), which answers every request with what reached it.

use axum::{Json, Router, extract::Request};
use platform::{
    Access, Kit, Launch, Route, ServiceDef,
    config::NoSettings,
    registry::{Entry, Readiness::Required, Registry},
    service::Service,
    testing::Running,
};
use serde_json::{Value, json};

/// A service that echoes each request's method, path, query and forwarded address; it has
/// an internal path, a signed-in one, one that takes no token, and is public otherwise.
pub const ECHO: ServiceDef = echo_def("echo");
/// The same, as the storefront: every path outside `/api` goes to it.
pub const PAGES: ServiceDef = echo_def("storefront");

const ECHO_ROUTES: &[Route] = &[
    Route::new("/private", Access::Internal),
    Route::new("/me", Access::SignedIn),
    Route::new("/login", Access::Anonymous),
    Route::new("/keyed", Access::Public).honours_idempotency_key(),
    Route::new("/shelf", Access::SignedInToWrite),
];

const fn echo_def(name: &'static str) -> ServiceDef {
    ServiceDef {
        name,
        about: "echoes what reached it",
        database: false,
        publishes: &[],
        subscriptions: &[],
        read_model: false,
        calls: &[],
        routes: ECHO_ROUTES,
        build: |launch| Box::pin(launch.start(build_echo)),
        settings: platform::config::variables::<NoSettings>,
    }
}

async fn build_echo(mut kit: Kit<NoSettings>) -> anyhow::Result<Service> {
    kit.fallback(Router::new().fallback(echo));
    kit.bind().await
}

async fn echo(req: Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    // `/api/echo/events`: an event stream that goes on until one side ends it.
    if req.uri().path().ends_with("/events") {
        let ticks = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Some((Ok::<_, std::io::Error>(": tick\n\n"), ()))
        });
        return (
            [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
            axum::body::Body::from_stream(ticks),
        )
            .into_response();
    }
    echoed(req).await.into_response()
}

async fn echoed(req: Request) -> Json<Value> {
    // `/api/echo/slow?ms=N` answers after N ms: an upstream too slow for a timeout.
    if req.uri().path().ends_with("/slow") {
        let ms = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    // What the request says, taken before its body is read (a borrow of it may not be
    // held across that wait).
    let mut seen = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        json!({
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "query": req.uri().query(),
            "forwarded_for": header("x-forwarded-for"),
            "forwarded_host": header("x-forwarded-host"),
            "forwarded_proto": header("x-forwarded-proto"),
            "authorization": header("authorization"),
            "request_id": header("x-request-id"),
        })
    };
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    seen["body"] = String::from_utf8_lossy(&body).into();
    Json(seen)
}

#[rustfmt::skip]
pub const REGISTRY: Registry = Registry::new(&[
    Entry { def: &identity::SERVICE, port: 0, level: 0, readiness: Required },
    Entry { def: &ECHO, port: 0, level: 1, readiness: Required },
    Entry { def: &PAGES, port: 0, level: 1, readiness: Required },
    Entry { def: &gateway::SERVICE, port: 0, level: 2, readiness: Required },
]);

/// A running gateway and the echo services behind it; dropping it stops them.
pub struct TestGateway {
    pub api: platform::testing::Api,
    _running: Vec<Running>,
}

/// The gateway with `overrides` (rate limits are off unless they turn them on).
pub async fn spawn_gateway(overrides: &[(&str, &str)]) -> TestGateway {
    spawn_gateway_to(None, overrides).await
}

/// [`spawn_gateway`], with `echo`'s replicas at `echo_urls` (a comma-separated list)
/// instead of a running echo, when given.
pub async fn spawn_gateway_to(echo_urls: Option<&str>, overrides: &[(&str, &str)]) -> TestGateway {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let listen = ("listen", "127.0.0.1:0");
    let echo = start(&ECHO, &[listen]).await;
    let pages = start(&PAGES, &[listen]).await;
    let mut all = vec![
        listen,
        ("identity_url", identity.url.as_str()),
        ("echo_url", echo_urls.unwrap_or(echo.url())),
        ("storefront_url", pages.url()),
    ];
    all.extend_from_slice(overrides);
    let gateway = start(&gateway::SERVICE, &all).await;
    TestGateway {
        api: platform::testing::Api::new(gateway.url()),
        _running: vec![gateway, echo, pages],
    }
}

/// The service `def` of [`REGISTRY`], with `settings`, running in the background.
async fn start(def: &'static ServiceDef, settings: &[(&str, &str)]) -> Running {
    let launch = Launch::for_tests(def, settings).in_registry(REGISTRY);
    let service = launch.build().await;
    Running::spawn(service.unwrap_or_else(|e| panic!("{} builds: {e:#}", def.name)))
}

impl TestGateway {
    /// Stops the gateway (not the services behind it) as a shutdown does, after its drain
    /// delay; how long it took.
    pub async fn stop_gateway(&mut self) -> std::time::Duration {
        self._running.remove(0).stop().await
    }

    /// `GET path`, with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.api.client.get(self.api.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request sent")
    }
}

/// A customer's access token from the shared identity.
pub fn customer_token(email: &str) -> String {
    identity::testing::shared()
        .account(email, "Gateway Tester")
        .token
}
