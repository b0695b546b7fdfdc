//! The client of `bazaar up`'s control API: every service process with its state, and
//! kill / restart; the traces its embedded collector keeps, one trace's waterfall, and
//! the map of the services drawn from them. Calls carry the storefront's service token.

use crate::error::StorefrontError;
use platform::auth::ServiceCredentials;
use platform::traces::{ServiceMap, TraceFilter, TraceList, TraceSummary, TraceView};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::time::Duration;
use utoipa::ToSchema;

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
    /// `starting`, `ready`, `unready`, `draining`, `restarting` or `stopped`.
    pub state: String,
    /// How often it was started again after it died.
    #[serde(default)]
    pub restarts: u32,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub last_exit: Option<String>,
    /// The CPUs it may run on, as `taskset -c` writes them (`0`, `0-3`).
    #[serde(default)]
    pub cpus: Option<String>,
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
        let id = id.as_str();
        self.get(&format!("/traces/{id}"), &[])
            .await
            .map_err(|e| match e {
                StorefrontError::NotFound(_) => StorefrontError::NotFound(format!("trace {id}")),
                e => e,
            })
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
        if res.status().is_success() {
            return Ok(());
        }
        Err(StorefrontError::from_failed_answer(SERVICE, res).await)
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
}
