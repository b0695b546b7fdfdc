//! Forwarding `/api/<service>/...` to the service, streaming both bodies.

use crate::{breaker::Breaker, config::Config, policy};
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Uri, header},
    response::{IntoResponse, Response},
    routing::any,
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use platform::{Problem, auth::Verifier, metrics::Metrics};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use std::{collections::HashMap, sync::Arc, time::Duration};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    outcome: String,
}

struct Upstream {
    base: String,
    breaker: Breaker,
}

/// The forwarding half of the gateway. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    upstreams: HashMap<String, Upstream>,
    client: Client<HttpConnector, Body>,
    verifier: Verifier,
    outcomes: Family<UpstreamLabels, Counter>,
}

impl Proxy {
    /// A proxy to `upstreams` (`(name, base URL)`), registering its metrics in `metrics`.
    pub fn new(
        config: &Config,
        upstreams: Vec<(String, String)>,
        verifier: Verifier,
        metrics: &Metrics,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        let outcomes = Family::<UpstreamLabels, Counter>::default();
        metrics.register(
            "gateway_upstream_calls",
            "Calls to upstream services by outcome (2xx..5xx, timeout, down, open_circuit, error)",
            outcomes.clone(),
        );
        let upstreams = upstreams
            .into_iter()
            .map(|(name, base)| {
                let breaker = Breaker::new(
                    config.breaker_failures,
                    Duration::from_millis(config.breaker_open_ms),
                );
                (name, Upstream { base, breaker })
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                upstreams,
                client,
                verifier,
                outcomes,
            }),
        }
    }

    fn count(&self, upstream: &str, outcome: &str) {
        self.inner
            .outcomes
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

/// The routes the gateway answers by forwarding.
pub fn router(proxy: Proxy) -> Router {
    Router::new()
        .route("/api/{service}", any(forward))
        .route("/api/{service}/{*rest}", any(forward))
        .with_state(proxy)
}

/// Every other path (the web pages, their assets) goes to the storefront, unchanged.
pub fn pages(proxy: Proxy) -> Router {
    Router::new().fallback(forward).with_state(proxy)
}

/// The service that serves the web pages.
const STOREFRONT: &str = "storefront";

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for h in HOP_BY_HOP.iter().chain(named.iter()) {
        headers.remove(h);
    }
}

fn is_safe(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

async fn forward(State(proxy): State<Proxy>, mut req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let service = if path.starts_with("/api/") {
        path.trim_start_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    } else {
        STOREFRONT.to_owned()
    };
    let Some(upstream) = proxy.inner.upstreams.get(&service) else {
        return Problem::not_found(format!("there is no service called `{service}`"))
            .into_response();
    };

    if policy::is_internal(&path) {
        return Problem::not_found(format!("no route for {path}")).into_response();
    }

    // Verify the token here, so a forged or expired one never reaches a service.
    let (mut parts, body) = req.into_parts();
    match platform::auth::bearer(&parts) {
        Err(p) => return p.into_response(),
        Ok(Some(token)) => {
            if let Err(e) = proxy.inner.verifier.verify(token).await {
                return Problem::from(e).into_response();
            }
        }
        Ok(None) if policy::requires_token(&parts.method, &path) => {
            return Problem::unauthorized("this endpoint needs a bearer token: sign in first")
                .into_response();
        }
        Ok(None) => {}
    }

    // Each service publishes its OpenAPI document at its root; expose it under its prefix.
    let upstream_path = if path == format!("/api/{service}/openapi.json") {
        "/openapi.json".to_owned()
    } else {
        path.clone()
    };
    let target = match parts.uri.query() {
        Some(q) => format!("{}{upstream_path}?{q}", upstream.base),
        None => format!("{}{upstream_path}", upstream.base),
    };
    parts.uri = match target.parse::<Uri>() {
        Ok(u) => u,
        Err(_) => {
            return Problem::bad_request("the request path is not a valid URI").into_response();
        }
    };
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    if !parts.headers.contains_key("x-forwarded-proto") {
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    req = Request::from_parts(parts, body);

    if !upstream.breaker.allow() {
        proxy.count(&service, "open_circuit");
        return Problem::unavailable(
            format!("the {service} service is failing; calls are paused for a moment"),
            1,
        )
        .into_response();
    }
    let timeout = policy::timeout(&proxy.inner.config, req.method(), &path);
    // A safe request carries no body, so it can be sent again: once, when a pooled
    // connection turns out to be dead (the upstream restarted since it was opened).
    let retry = is_safe(req.method()).then(|| {
        let mut again = Request::new(Body::empty());
        *again.method_mut() = req.method().clone();
        *again.uri_mut() = req.uri().clone();
        *again.headers_mut() = req.headers().clone();
        again
    });
    let client = &proxy.inner.client;
    let result = tokio::time::timeout(timeout, async {
        match client.request(req).await {
            Err(e) if !e.is_connect() && retry.is_some() => {
                tracing::debug!(upstream = %service, error = ?e, "retrying on a fresh connection");
                client.request(retry.expect("checked above")).await
            }
            other => other,
        }
    })
    .await;
    match result {
        Ok(Ok(res)) => {
            let status = res.status();
            if status.is_server_error() {
                upstream.breaker.on_failure();
            } else {
                upstream.breaker.on_success();
            }
            proxy.count(&service, &format!("{}xx", status.as_u16() / 100));
            let (mut parts, body) = res.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            upstream.breaker.on_failure();
            if e.is_connect() {
                proxy.count(&service, "down");
                tracing::warn!(upstream = %service, error = %e, "upstream unreachable");
                Problem::unavailable(format!("the {service} service is not reachable"), 1)
                    .into_response()
            } else {
                proxy.count(&service, "error");
                tracing::warn!(upstream = %service, error = ?e, "upstream call failed");
                Problem::new(
                    http::StatusCode::BAD_GATEWAY,
                    "bad-gateway",
                    "Bad gateway",
                    format!("the {service} service failed to answer"),
                )
                .into_response()
            }
        }
        Err(_) => {
            upstream.breaker.on_failure();
            proxy.count(&service, "timeout");
            tracing::warn!(upstream = %service, timeout_ms = timeout.as_millis() as u64, "upstream timed out");
            Problem::new(
                http::StatusCode::GATEWAY_TIMEOUT,
                "gateway-timeout",
                "Gateway timeout",
                format!(
                    "the {service} service did not answer within {} ms",
                    timeout.as_millis()
                ),
            )
            .into_response()
        }
    }
}
