//! The client of `bazaar up`'s control API: every service process with its state, and
//! kill / restart; the traces its embedded collector keeps, one trace's waterfall, and
//! the map of the services drawn from them. Calls carry the storefront's service token.

use crate::error::StorefrontError;
use platform::auth::ServiceCredentials;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::{collections::BTreeMap, time::Duration};
use utoipa::{IntoParams, ToSchema};

/// What the console can ask the supervisor to do to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// SIGKILL; the supervisor starts it again.
    Kill,
    /// A rolling restart: each replica's successor started and ready before it drains.
    Restart,
}

impl Action {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "kill" => Some(Action::Kill),
            "restart" => Some(Action::Restart),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Restart => "restart",
        }
    }
}

/// One supervised process, as the supervisor reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessInfo {
    pub service: String,
    /// Which of the service's replicas (1, 2, …).
    #[serde(default = "first")]
    pub replica: u32,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub port: Option<u16>,
    /// `starting`, `ready`, `draining`, `restarting` or `stopped`.
    pub state: String,
    /// How often it was started again after it died.
    #[serde(default)]
    pub restarts: u32,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub last_exit: Option<String>,
}

fn first() -> u32 {
    1
}

#[derive(Deserialize)]
struct Processes {
    processes: Vec<ProcessInfo>,
}

/// A W3C trace id: 32 lowercase hex digits, not all zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceId(String);

impl TraceId {
    /// The id, if `raw` is one (in either case).
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == 32
            && raw.bytes().all(|b| b.is_ascii_hexdigit())
            && raw.bytes().any(|b| b != b'0');
        valid.then(|| TraceId(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which traces to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TraceFilter {
    /// Only traces whose root span's name contains this (`checkout`, `/api/cart`).
    #[serde(default)]
    pub route: Option<String>,
    /// Only traces with a span of this service.
    #[serde(default)]
    pub service: Option<String>,
    /// Only traces with a failed span.
    #[serde(default)]
    pub errors: bool,
    /// At most this many (50 by default, 500 at most).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

impl TraceFilter {
    /// The query the supervisor's `/traces` takes: only what is set.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(route) = self.route.as_deref().filter(|r| !r.is_empty()) {
            query.push(("route", route.to_owned()));
        }
        if let Some(service) = self.service.as_deref().filter(|s| !s.is_empty()) {
            query.push(("service", service.to_owned()));
        }
        if self.errors {
            query.push(("errors", "true".to_owned()));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.clamp(1, 500).to_string()));
        }
        query
    }
}

/// A trace in the list: where it started, how long it took, what it touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's service.
    pub service: String,
    /// The root span's name (`POST /checkout`).
    pub name: String,
    /// When its first span started (RFC 3339).
    pub started_at: String,
    /// From its first span's start to its last span's end.
    pub duration_ms: f64,
    /// How many spans it has.
    pub spans: usize,
    /// Every service with a span in it.
    #[serde(default)]
    pub services: Vec<String>,
    /// Whether a span of it failed.
    #[serde(default)]
    pub error: bool,
}

/// Recent traces, slowest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceList {
    pub traces: Vec<TraceSummary>,
}

/// One trace, its spans in waterfall order: each after its parent, siblings by start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceView {
    pub trace_id: String,
    /// When its first span started (RFC 3339).
    pub started_at: String,
    pub duration_ms: f64,
    pub spans: Vec<TraceSpan>,
}

/// One span of a trace, placed in its waterfall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceSpan {
    pub span_id: String,
    #[serde(default)]
    pub parent_span_id: Option<String>,
    pub service: String,
    /// The replica (`service.instance.id`).
    #[serde(default)]
    pub instance: Option<String>,
    pub name: String,
    /// `server`, `client`, `producer`, `consumer` or `internal`.
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    #[serde(default)]
    pub error: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Spans of other traces this one is linked to.
    #[serde(default)]
    pub links: Vec<SpanLink>,
    /// Where it starts, in ms from the trace's start.
    pub offset_ms: f64,
    pub duration_ms: f64,
    /// How deep in the tree (a root is 0).
    #[serde(default)]
    pub depth: usize,
    /// Its parent is named but was never received.
    #[serde(default)]
    pub orphan: bool,
}

/// A span of another trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
}

/// The services and what flows between them, over the traces kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceMap {
    pub services: Vec<String>,
    pub edges: Vec<ServiceMapEdge>,
    /// The time the traces cover, in seconds (the rates' denominator).
    #[serde(default)]
    pub window_seconds: f64,
}

/// Calls or events from one service to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceMapEdge {
    pub from: String,
    pub to: String,
    /// `call` (HTTP) or `event` (an event handled).
    pub kind: String,
    pub count: u64,
    /// How many of them failed.
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub per_second: f64,
}

/// The supervisor's control API, if the storefront runs under `bazaar up`.
#[derive(Clone)]
pub struct Supervisor {
    url: Option<String>,
    credentials: ServiceCredentials,
    http: reqwest::Client,
}

const SERVICE: &str = "supervisor";

impl Supervisor {
    pub fn new(url: Option<String>, credentials: ServiceCredentials) -> anyhow::Result<Self> {
        Ok(Self {
            url,
            credentials,
            http: platform::client::builder()
                .timeout(Duration::from_secs(3))
                .build()?,
        })
    }

    /// Whether a control API is configured.
    pub fn is_configured(&self) -> bool {
        self.url.is_some()
    }

    /// The control API's address, if one is configured.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    fn base(&self) -> Result<&str, StorefrontError> {
        self.url.as_deref().ok_or_else(|| {
            StorefrontError::NoProcessControl(
                "the storefront is not running under `bazaar up` (no BAZAAR_SUPERVISOR_URL)".into(),
            )
        })
    }

    /// Sends a request with the service token, once more with a new token after a 401.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, StorefrontError> {
        let res = self
            .credentials
            .send_as(
                |token| {
                    let sent = build(&self.http).bearer_auth(token).send();
                    async move {
                        sent.await.map_err(|e| StorefrontError::Unavailable {
                            service: SERVICE,
                            detail: e.to_string(),
                        })
                    }
                },
                |e| StorefrontError::NoProcessControl(format!("no service token: {e}")),
            )
            .await?;
        if res.status() == StatusCode::UNAUTHORIZED {
            return Err(StorefrontError::NoProcessControl(
                "the supervisor refused the storefront's service token".into(),
            ));
        }
        Ok(res)
    }

    /// `GET {path}` with the service token, its JSON answer read as `T`. 404 is
    /// [`StorefrontError::NotFound`].
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, StorefrontError> {
        let url = format!("{}{path}", self.base()?);
        let res = self.send(|http| http.get(&url).query(query)).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Err(StorefrontError::NotFound(path.to_owned()));
        }
        if !res.status().is_success() {
            return Err(StorefrontError::Unavailable {
                service: SERVICE,
                detail: format!("answered {}", res.status()),
            });
        }
        res.json::<T>()
            .await
            .map_err(|e| StorefrontError::Malformed {
                service: SERVICE,
                detail: e.to_string(),
            })
    }

    /// Every supervised process.
    pub async fn processes(&self) -> Result<Vec<ProcessInfo>, StorefrontError> {
        let found: Processes = self.get("/processes", &[]).await.map_err(|e| match e {
            StorefrontError::NotFound(_) => StorefrontError::Unavailable {
                service: SERVICE,
                detail: "answered 404 Not Found".into(),
            },
            e => e,
        })?;
        Ok(found.processes)
    }

    /// The traces the supervisor keeps that pass `filter`, slowest first.
    pub async fn traces(&self, filter: &TraceFilter) -> Result<Vec<TraceSummary>, StorefrontError> {
        let list: TraceList = self.get("/traces", &filter.query()).await?;
        Ok(list.traces)
    }

    /// One trace; [`StorefrontError::NotFound`] when it is not (or no longer) kept.
    pub async fn trace(&self, id: &TraceId) -> Result<TraceView, StorefrontError> {
        self.get(&format!("/traces/{}", id.as_str()), &[]).await
    }

    /// The calls and event flows between the services, over the traces kept.
    pub async fn service_map(&self) -> Result<ServiceMap, StorefrontError> {
        self.get("/traces/map", &[]).await
    }

    /// Kills or restarts one service's process, as the administrator whose `admin_token`
    /// it is (the supervisor takes no service token for this).
    pub async fn signal(
        &self,
        service: &str,
        action: Action,
        admin_token: &str,
    ) -> Result<(), StorefrontError> {
        // A rolling restart takes seconds a replica: asked for, not waited on.
        let url = format!(
            "{}/processes/{service}/{}?wait=false",
            self.base()?,
            action.as_str()
        );
        let res = self
            .http
            .post(&url)
            .bearer_auth(admin_token)
            .send()
            .await
            .map_err(|e| StorefrontError::Unavailable {
                service: SERVICE,
                detail: e.to_string(),
            })?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let problem = res
            .json::<platform::Problem>()
            .await
            .unwrap_or_else(|_| platform::Problem::from_status(status, "refused"));
        if status.is_client_error() {
            return Err(StorefrontError::Refused {
                service: SERVICE,
                problem: Box::new(problem),
                code: None,
            });
        }
        Err(StorefrontError::Unavailable {
            service: SERVICE,
            detail: format!("answered {status}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_32_hex_digits() {
        let id = TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e47361",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "00000000000000000000000000000000",
            "../processes/catalog/kill0000000",
        ] {
            assert_eq!(TraceId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_filter_sends_only_what_is_set() {
        assert!(TraceFilter::default().query().is_empty());
        let filter = TraceFilter {
            route: Some("checkout".into()),
            service: Some(String::new()),
            errors: true,
            limit: Some(10_000),
        };
        assert_eq!(
            filter.query(),
            [
                ("route", "checkout".to_owned()),
                ("errors", "true".to_owned()),
                ("limit", "500".to_owned())
            ]
        );
    }

    #[test]
    fn a_waterfall_reads_as_the_supervisor_writes_it() {
        let view: TraceView = serde_json::from_value(serde_json::json!({
            "trace_id": "ab", "started_at": "2025-01-01T00:00:00.000Z", "duration_ms": 30.0,
            "spans": [{
                "span_id": "01", "parent_span_id": null, "service": "gateway", "instance": null,
                "name": "POST /checkout", "kind": "server", "start_unix_nano": 1, "end_unix_nano": 2,
                "error": false, "attributes": {"http.route": "/checkout"}, "links": [],
                "offset_ms": 0.0, "duration_ms": 30.0, "depth": 0, "orphan": false
            }]
        }))
        .unwrap();
        assert_eq!(view.spans[0].attributes["http.route"], "/checkout");
    }
}
