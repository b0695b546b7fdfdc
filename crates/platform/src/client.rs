//! Outbound HTTP: one way to build a client, with timeouts, and [`ServiceClient`], the
//! client of one service's replicas: each call goes to a replica the balancer picks, its
//! outcome is recorded, and a call that failed in a way that is safe to repeat is sent
//! once more to another replica, within the retry budget.

use crate::{
    balance::{Balancer, Failed, NoReplica, Outcome, Pick, has_idempotency_key, retryable},
    telemetry,
};
use http::Method;
use std::time::Duration;
use tracing::Instrument;

/// A client builder with Bazaar's defaults: a connect timeout, an overall timeout, a
/// pool of idle connections, and a user agent naming the caller.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(POOL_IDLE)
        .user_agent(concat!("bazaar/", env!("CARGO_PKG_VERSION")))
}

/// How long a client keeps an idle connection: less than the services' own idle timeout
/// ([`crate::service::IDLE_TIMEOUT`]), so that none is closed under a request being sent.
pub const POOL_IDLE: Duration = Duration::from_secs(60);

/// A client with [`builder`]'s defaults.
pub fn client() -> reqwest::Client {
    builder()
        .build()
        .expect("a client with default settings always builds")
}

/// Probes a service's health endpoint at `url`: `Ok` when it answers 2xx — and, with
/// `service`, when the answer names that service (so a probe can tell that the address
/// leads where it should). Otherwise why not, in a few words.
pub async fn probe(http: &reqwest::Client, url: &str, service: Option<&str>) -> Result<(), String> {
    match http.get(url).send().await {
        Ok(r) if r.status().is_success() => match service {
            None => Ok(()),
            Some(expected) => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["service"] == expected {
                    Ok(())
                } else {
                    Err(format!("answered by {} instead", body["service"]))
                }
            }
        },
        Ok(r) => Err(format!("not ready ({})", r.status())),
        Err(e) if e.is_timeout() => Err("timed out".to_owned()),
        Err(e) if e.is_connect() => Err("down".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// A client of one service's replicas. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    balancer: Balancer,
    http: reqwest::Client,
}

/// Why a call to a service got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No replica could take it: none known, or every one's circuit open.
    #[error("{service}: {reason}")]
    NoReplica { service: String, reason: NoReplica },
    /// The replica (and the one a retry went to) did not answer.
    #[error("{service} at {url}: {source}")]
    Transport {
        service: String,
        url: String,
        how: Failed,
        #[source]
        source: reqwest::Error,
    },
}

impl CallError {
    /// Whether the call timed out (rather than finding no replica or no connection).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            CallError::Transport {
                how: Failed::Timeout,
                ..
            }
        )
    }
}

impl ServiceClient {
    /// Calls go to `balancer`'s replicas through `http` (whose timeouts bound each try).
    pub fn new(balancer: Balancer, http: reqwest::Client) -> Self {
        Self { balancer, http }
    }

    /// A client of the one replica at `base_url` (no probing), each try bounded by
    /// `timeout`: for tests and tools that know where the service is.
    pub fn fixed(service: &str, base_url: &str, timeout: Duration) -> Self {
        let settings = crate::balance::Settings {
            probe_interval: Duration::ZERO,
            ..Default::default()
        };
        let http = builder().timeout(timeout).build().unwrap_or_default();
        let endpoints = crate::discovery::Endpoints::fixed([base_url.to_owned()]);
        Self::new(
            Balancer::new(service, endpoints, settings, http.clone()),
            http,
        )
    }

    /// Whether a replica of the service answers ready (and is the service meant).
    pub async fn ready(&self) -> Result<(), String> {
        self.health("/health/ready", true).await
    }

    /// Whether a replica of the service answers that it lives, ready or not.
    pub async fn live(&self) -> Result<(), String> {
        self.health("/health/live", false).await
    }

    /// A replica's answer at the health endpoint `path`, whose body names the service
    /// when `named`.
    async fn health(&self, path: &str, named: bool) -> Result<(), String> {
        match self.send(Method::GET, path, |r| r).await {
            Ok(r) if r.status().is_success() => {
                if !named {
                    return Ok(());
                }
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["service"] == self.service() {
                    Ok(())
                } else {
                    Err(format!("answered by {} instead", body["service"]))
                }
            }
            Ok(r) => Err(format!("not ready ({})", r.status())),
            Err(e) if e.is_timeout() => Err("timed out".to_owned()),
            Err(CallError::Transport {
                how: Failed::Connect,
                ..
            }) => Err("down".to_owned()),
            // Without the service's name: the check it answers is named after it.
            Err(CallError::NoReplica { reason, .. }) => Err(reason.to_string()),
            Err(CallError::Transport { url, source, .. }) => Err(format!("at {url}: {source}")),
        }
    }

    pub fn balancer(&self) -> &Balancer {
        &self.balancer
    }

    pub fn service(&self) -> &str {
        self.balancer.service()
    }

    /// `method path` to a replica, the request completed by `build` (headers, body) for
    /// each try. Answers whatever status the replica gives; a 5xx of its own, like a
    /// transport failure, counts against it.
    ///
    /// The call is a client span of the caller's trace, and carries its `traceparent`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallError> {
        let span = telemetry::client_span(self.service(), &method, path);
        let sent = self
            .send_in(&span, method, path, build)
            .instrument(span.clone())
            .await;
        match &sent {
            Ok(res) => telemetry::record_status(&span, res.status()),
            Err(_) => telemetry::record_failure(&span),
        }
        sent
    }

    async fn send_in(
        &self,
        span: &tracing::Span,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallError> {
        self.balancer.attempted();
        let mut tried: Option<Pick> = None;
        let mut retried = false;
        loop {
            let avoid = tried.as_ref().map(Pick::replica);
            let pick = self
                .balancer
                .pick(avoid)
                .map_err(|reason| CallError::NoReplica {
                    service: self.service().to_owned(),
                    reason,
                })?;
            drop(tried.take());
            let request = build(
                self.http
                    .request(method.clone(), format!("{}{path}", pick.url())),
            )
            .build();
            let mut request = match request {
                Ok(r) => r,
                Err(source) => {
                    return Err(CallError::Transport {
                        service: self.service().to_owned(),
                        url: pick.url().to_owned(),
                        how: Failed::Connect,
                        source,
                    });
                }
            };
            telemetry::inject(span, request.headers_mut());
            let keyed = has_idempotency_key(request.headers());
            // A deadline set on this request is the caller's own patience (the
            // storefront's 300 ms for what a page can do without), often shorter than the
            // replica's own answer may take through it: running out of it says nothing of
            // the replica's health, which its probes judge meanwhile. Counted as failures,
            // five such calls in a row would take a healthy replica (the gateway, in front
            // of one frozen upstream) out of rotation for every call.
            let callers_deadline = request.timeout().is_some();
            match self.http.execute(request).await {
                Ok(res) => {
                    pick.record(Outcome::of(res.status(), res.headers()));
                    return Ok(res);
                }
                Err(source) => {
                    let how = if source.is_timeout() {
                        Failed::Timeout
                    } else if source.is_connect() {
                        Failed::Connect
                    } else {
                        Failed::Reset
                    };
                    let url = pick.url().to_owned();
                    // The pick stays alive until the retry's is made, so the retry
                    // avoids it; its outcome is recorded now (none, for a caller's own
                    // deadline).
                    let failed = if how == Failed::Timeout && callers_deadline {
                        pick
                    } else {
                        pick.fail()
                    };
                    let again = !retried
                        && retryable(how, &method, keyed)
                        && (self.balancer.replicas().len() > 1 || how == Failed::Reset)
                        && self.balancer.may_retry();
                    if !again {
                        return Err(CallError::Transport {
                            service: self.service().to_owned(),
                            url,
                            how,
                            source,
                        });
                    }
                    tracing::debug!(service = self.service(), %url, error = %source, "retrying on another replica");
                    retried = true;
                    tried = Some(failed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that takes connections and never answers (a frozen upstream behind a
    /// healthy proxy, as far as its caller can tell).
    async fn silent() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        (url, task)
    }

    #[tokio::test]
    async fn only_the_clients_own_timeout_counts_against_a_replica() {
        let (url, _server) = silent().await;
        let short = Duration::from_millis(30);
        // The caller's own, shorter deadline on each request: the replica stays in.
        let patient = ServiceClient::fixed("upstream", &url, Duration::from_secs(60));
        for _ in 0..8 {
            let e = patient
                .send(Method::GET, "/x", |r| r.timeout(short))
                .await
                .unwrap_err();
            assert!(e.is_timeout(), "{e}");
        }
        // The client's own timeout: five in a row open the replica's breaker.
        let strict = ServiceClient::fixed("upstream", &url, short);
        let mut refused = false;
        for _ in 0..8 {
            match strict.send(Method::GET, "/x", |r| r).await {
                Err(CallError::NoReplica { .. }) => refused = true,
                Err(e) => assert!(e.is_timeout(), "{e}"),
                Ok(res) => panic!("answered {}", res.status()),
            }
        }
        assert!(refused, "the replica was taken out");
        let e = patient
            .send(Method::GET, "/x", |r| r.timeout(short))
            .await
            .unwrap_err();
        assert!(e.is_timeout(), "still tried: {e}");
    }

    /// A health check's failure is reported under the service's name already: its text
    /// does not name the service again ("identity: identity: every replica's circuit is
    /// open" in the console, the console review).
    #[tokio::test]
    async fn a_failed_health_check_does_not_name_its_service_again() {
        let (url, _server) = silent().await;
        let client = ServiceClient::fixed("upstream", &url, Duration::from_millis(30));
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(client.ready().await.unwrap_err());
        }
        assert!(
            seen.iter().any(|e| e == "every replica's circuit is open"),
            "{seen:?}"
        );
        assert!(seen.iter().all(|e| !e.contains("upstream")), "{seen:?}");
    }
}
