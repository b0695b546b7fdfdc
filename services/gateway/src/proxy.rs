//! Forwarding `/api/<service>/...` to a replica of the service, streaming responses.
//!
//! Each upstream is a balancer over the service's replicas (see `platform::balance`):
//! the replica is picked per request, its outcome recorded, and a request that failed in
//! a way that is safe to repeat is sent once more to another replica, within the retry
//! budget. Request bodies are read before forwarding (they are small, and a body still
//! in hand is what lets a keyed POST be retried after a connection failure).

use crate::{
    config::Config,
    policy::{self, Verdict},
    pool::{Pool, SendError},
};
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{
        HeaderMap, HeaderName, HeaderValue, Uri, header,
        uri::{Authority, PathAndQuery, Scheme},
    },
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::{StreamExt, future::BoxFuture};
use http::{StatusCode, request::Parts};
use http_body_util::BodyExt;
use platform::{
    Problem, ServiceDef,
    auth::Verifier,
    balance::{Balancer, Failed, NoReplica, Outcome, Pick, has_idempotency_key, retryable},
    config::CommonSettings,
    metrics::Metrics,
    ratelimit::{FORWARDED_FOR, Limiter, Switch, TrustedProxies},
    service::RouteLabel,
    shutdown::Shutdown,
    telemetry,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use std::{
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};
use tokio::{
    sync::OwnedSemaphorePermit,
    time::{Instant, Sleep},
};
use tracing::{Instrument, Span};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    outcome: String,
}

/// The outcomes counted per upstream, each with its `outcome` label.
#[derive(Debug, Clone, Copy)]
enum Counted {
    Xx2,
    Xx3,
    Xx4,
    Xx5,
    Timeout,
    Down,
    OpenCircuit,
    Error,
    Retried,
}

impl Counted {
    const ALL: [Counted; 9] = [
        Counted::Xx2,
        Counted::Xx3,
        Counted::Xx4,
        Counted::Xx5,
        Counted::Timeout,
        Counted::Down,
        Counted::OpenCircuit,
        Counted::Error,
        Counted::Retried,
    ];

    fn label(self) -> &'static str {
        match self {
            Counted::Xx2 => "2xx",
            Counted::Xx3 => "3xx",
            Counted::Xx4 => "4xx",
            Counted::Xx5 => "5xx",
            Counted::Timeout => "timeout",
            Counted::Down => "down",
            Counted::OpenCircuit => "open_circuit",
            Counted::Error => "error",
            Counted::Retried => "retried",
        }
    }

    fn of(status: StatusCode) -> Self {
        match status.as_u16() / 100 {
            2 => Counted::Xx2,
            3 => Counted::Xx3,
            4 => Counted::Xx4,
            _ => Counted::Xx5,
        }
    }
}

struct Upstream {
    def: &'static ServiceDef,
    /// Whether a route of it keeps a client on one replica (the storefront's sessions):
    /// only then is a request's affinity looked for.
    affine: bool,
    balancer: Balancer,
    /// What the gateway's request metrics count its answers under: `/api/<service>`, or
    /// `/{*page}` for the storefront's pages.
    label: RouteLabel,
    /// One counter per outcome, in the order of `Counted::ALL`, made once: no label
    /// lookups on the way.
    outcomes: [Counter; Counted::ALL.len()],
}

impl Upstream {
    fn count(&self, outcome: Counted) {
        self.outcomes[outcome as usize].inc();
    }
}

/// The forwarding half of the gateway. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Few enough to be found by name faster than by hash.
    upstreams: Vec<Upstream>,
    pool: Pool,
    verifier: Verifier,
    limits: Limits,
    /// The largest request body forwarded, and the longest a request may take in all.
    body_limit: usize,
    request_timeout: Duration,
    /// The gateway's shutdown, which ends the event streams it is forwarding.
    shutdown: Shutdown,
}

/// The gateway's limits: requests per client address and per signed-in user, and event
/// streams open at once.
pub struct Limits {
    by_address: Limiter,
    by_user: Limiter,
    /// Whose `X-Forwarded-For` is believed when finding the client's address.
    trusted: TrustedProxies,
    /// A permit per event stream forwarded, held until it ends. Never switched off: it
    /// keeps the gateway's connections for everything else, not a rate.
    streams: Arc<tokio::sync::Semaphore>,
    max_streams: usize,
}

impl Limits {
    /// The rate limits `config` sets, unless `switch` is off; event streams unbounded
    /// until [`Limits::with_streams`].
    pub fn new(config: &Config, switch: Switch, trusted: TrustedProxies) -> Self {
        Self {
            by_address: Limiter::new("address", config.address_rate_limit, switch),
            by_user: Limiter::new("user", config.user_rate_limit, switch),
            trusted,
            streams: Arc::new(tokio::sync::Semaphore::new(
                tokio::sync::Semaphore::MAX_PERMITS,
            )),
            max_streams: tokio::sync::Semaphore::MAX_PERMITS,
        }
    }

    /// At most `max` event streams forwarded at once.
    pub fn with_streams(mut self, max: usize) -> Self {
        self.streams = Arc::new(tokio::sync::Semaphore::new(max));
        self.max_streams = max;
        self
    }
}

impl Proxy {
    /// A proxy to `upstreams` (each service and the balancer over its replicas),
    /// registering its metrics in `metrics`; requests within `limits`, with bodies up to
    /// `common`'s limit, answered within its request timeout.
    pub fn new(
        config: &Config,
        upstreams: Vec<(&'static ServiceDef, Balancer)>,
        verifier: Verifier,
        metrics: &Metrics,
        common: &CommonSettings,
        limits: Limits,
        shutdown: Shutdown,
    ) -> Self {
        let pool = Pool::new(
            Duration::from_millis(config.connect_timeout_ms),
            crate::pool::IDLE_FOR,
        );
        let family = Family::<UpstreamLabels, Counter>::default();
        metrics.register(
            "gateway_upstream_calls",
            "Calls to upstream services by outcome (2xx..5xx, timeout, down, open_circuit, error, retried)",
            family.clone(),
        );
        let upstreams = upstreams
            .into_iter()
            .map(|(def, balancer)| {
                let outcomes = Counted::ALL.map(|o| {
                    let labels = UpstreamLabels {
                        upstream: def.name.to_owned(),
                        outcome: o.label().to_owned(),
                    };
                    family.get_or_create(&labels).clone()
                });
                let label = if def.name == STOREFRONT {
                    "/{*page}".into()
                } else {
                    format!("/api/{}", def.name).into()
                };
                Upstream {
                    def,
                    affine: def.routes.iter().any(|r| !r.affinity_cookies.is_empty()),
                    balancer,
                    label: RouteLabel(label),
                    outcomes,
                }
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                upstreams,
                pool,
                verifier,
                limits,
                body_limit: common.body_limit_bytes,
                request_timeout: Duration::from_millis(common.request_timeout_ms),
                shutdown,
            }),
        }
    }
}

/// Every path but the gateway's own (`/health/*`, `/metrics`, its documents) is forwarded:
/// `/api/<service>/...` to that service, the rest (the web pages, their assets) to the
/// storefront, unchanged. The service is found in the path (`service_of`), and each answer
/// is counted under that service's label (`/api/catalog`, ...), not under one route
/// template for every service.
///
/// Served from the connection, ahead of any router ([`platform::service::Front`]): a
/// forwarded request needs none of a router's matching, extractors or extensions.
impl platform::service::Front for Proxy {
    fn serves(&self, path: &str) -> bool {
        !platform::service::STANDARD_PATHS.contains(&path)
    }

    fn serve(
        &self,
        req: http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> (Option<RouteLabel>, BoxFuture<'static, Response>) {
        if let Some(why) = host_problem(&req) {
            let refused = Problem::bad_request(why).into_response();
            return (None, Box::pin(std::future::ready(refused)));
        }
        if let Some(refused) =
            head_problem(&req).or_else(|| platform::extract::transfer_coding_problem(req.headers()))
        {
            return (None, Box::pin(std::future::ready(refused.into_response())));
        }
        let proxy = self.clone();
        let upstream = proxy.upstream_of(req.uri().path());
        let label = upstream.map(|i| proxy.inner.upstreams[i].label.clone());
        let answer = async move { proxy.forward(upstream, req, Some(peer.ip())).await };
        (label, Box::pin(answer))
    }
}

/// The most header fields the gateway forwards, and the largest head: what every service
/// reads ([`platform::service::MAX_HEADER_FIELDS`], [`platform::service::MAX_HEAD_BYTES`]),
/// less room for what the gateway adds (`X-Forwarded-For`, `-Host`, `-Proto`, a request
/// id, `traceparent`). A request past them is refused here, in the gateway's words, not
/// by the service behind in words about limits the client did not reach (the abuse
/// review: 97 fields passed the gateway and were refused as "more than 100").
const FORWARDED_FIELDS: usize = platform::service::MAX_HEADER_FIELDS - 8;
const FORWARDED_HEAD: usize = platform::service::MAX_HEAD_BYTES - 2 * 1024;

/// 431 for a request with more fields or a larger head than the gateway forwards.
fn head_problem<B>(req: &http::Request<B>) -> Option<Problem> {
    let headers = req.headers();
    let head = || {
        let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        let fields: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        target + fields
    };
    // The request id is counted as the gateway's own: the server put one in when the
    // client sent none (so 92 fields of the client's pass, as said).
    let fields = headers.len() - usize::from(headers.contains_key(&platform::service::REQUEST_ID));
    (fields > FORWARDED_FIELDS || head() > FORWARDED_HEAD).then(|| {
        Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request-header-fields-too-large",
            "Request header fields too large",
            format!(
                "the request has more than {FORWARDED_FIELDS} header fields, or a head larger \
                 than {} KiB: the most the gateway forwards",
                FORWARDED_HEAD / 1024
            ),
        )
    })
}

/// Why a request's `Host` makes it one to refuse (RFC 9112 §3.2: 400 for an HTTP/1.1
/// request with none, with more than one, or with one that is not a host and port).
/// Behind it the storefront takes the host for the shop's own in its same-site check,
/// and links are made with it: a `Host: x@evil.com` read one way here and another there,
/// or two of them, must go no further.
fn host_problem<B>(req: &http::Request<B>) -> Option<&'static str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Some("the request has more than one Host header"),
        (None, _) if req.version() >= http::Version::HTTP_11 => {
            Some("an HTTP/1.1 request must name its host in a Host header")
        }
        (None, _) => None,
        (Some(host), None) if !is_host_and_port(host.as_bytes()) => {
            Some("the Host header is not a host name or address, with an optional port")
        }
        (Some(_), None) => None,
    }
}

/// A host name, an IPv4 address or a bracketed IPv6 one, then an optional `:port`.
fn is_host_and_port(host: &[u8]) -> bool {
    !host.is_empty()
        && host.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// The same forwarding as a router's fallback, for a gateway called in process.
pub fn router(proxy: Proxy) -> Router {
    Router::new().fallback(forward).with_state(proxy)
}

async fn forward(State(proxy): State<Proxy>, req: Request) -> Response {
    let peer = platform::ratelimit::peer(req.extensions());
    let upstream = proxy.upstream_of(req.uri().path());
    let mut res = proxy.forward(upstream, req, peer).await;
    if let Some(i) = upstream {
        res.extensions_mut()
            .insert(proxy.inner.upstreams[i].label.clone());
    }
    res
}

/// A request body the gateway forwards: hyper's from the connection, or axum's for a
/// gateway called in process.
pub trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + 'static
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static
{
}

/// What HSTS asks of browsers: HTTPS only, for a year.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Whether a request reached the shop over TLS, which the TLS-terminating proxy in front
/// says with `X-Forwarded-Proto: https`.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get(FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The service that serves the web pages.
const STOREFRONT: &str = "storefront";

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); `Connection`
/// first. A `static`, not a `const`: a constant array would be built and dropped again
/// at every use (`keep-alive` is not one of `http`'s standard names, so its drop is not
/// known to be nothing).
static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// `X-Forwarded-*`: what the gateway tells the services of the client's request.
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of these, or only `Connection: keep-alive`: one look over
    // the few names there are costs less than a hashed removal of each.
    let (mut connection, mut others) = (false, false);
    for name in headers.keys() {
        if *name == header::CONNECTION {
            connection = true;
        } else if other_hop_by_hop(name) {
            others = true;
        }
    }
    // The names every `Connection` line lists, removed as text: no header name is allocated
    // for them (shared copies of the values, not copies of their bytes, are held while the
    // map changes, and only of lines that name a header).
    if connection {
        let naming: Vec<HeaderValue> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter(|value| connection_names(value).next().is_some())
            .cloned()
            .collect();
        headers.remove(header::CONNECTION);
        for value in &naming {
            for name in connection_names(value) {
                headers.remove(name);
            }
        }
    }
    if others {
        for h in &HOP_BY_HOP[1..] {
            headers.remove(h);
        }
    }
}

/// The header names a `Connection` value lists that are to go with it. `keep-alive` and
/// `close` are options, not names (or a name removed with the other hop-by-hop headers
/// anyway). A message's framing and its host, and the request id this gateway gave it,
/// are never taken out, whoever lists them: `Connection: Content-Length` had the body
/// of a POST dropped on its way (the upstream read an empty one), and `Connection:
/// X-Request-Id` took the request's id from the service's logs (the protocol review).
fn connection_names(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| {
            !name.is_empty()
                && ![
                    "keep-alive",
                    "close",
                    "content-length",
                    "transfer-encoding",
                    "host",
                    platform::service::REQUEST_ID.as_str(),
                ]
                .iter()
                .any(|kept| name.eq_ignore_ascii_case(kept))
        })
}

/// Whether `name` is a hop-by-hop header other than `Connection`: compared with each
/// standard name as a constant (a comparison of two enum values), and `keep-alive` as
/// text, rather than with the names in [`HOP_BY_HOP`], whose comparisons the compiler
/// cannot see through.
fn other_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::TE
        || *name == header::TRAILER
        || *name == header::UPGRADE
        || name.as_str() == "keep-alive"
}

/// The service a path leads to: `/api/<service>/...`, or the storefront for the rest.
fn service_of(path: &str) -> &str {
    match path.strip_prefix("/api/") {
        Some(rest) => rest.split('/').next().unwrap_or_default(),
        None if path == "/api" => "",
        None => STOREFRONT,
    }
}

impl Proxy {
    /// The index of the upstream `path` leads to, if there is such a service.
    fn upstream_of(&self, path: &str) -> Option<usize> {
        let service = service_of(path);
        self.inner
            .upstreams
            .iter()
            .position(|u| u.def.name == service)
    }

    /// Forwards a request from `peer` to `upstream` (`None`: no such service), with
    /// HSTS on every answer to one that came over TLS (browsers ignore the header over
    /// plain HTTP, so a client claiming TLS gains nothing).
    async fn forward(
        &self,
        upstream: Option<usize>,
        req: http::Request<impl RequestBody>,
        peer: Option<IpAddr>,
    ) -> Response {
        let (parts, body) = req.into_parts();
        let tls = self.trusts(peer) && over_tls(&parts.headers);
        let upstream = upstream.map(|i| &self.inner.upstreams[i]);
        // A browser asking the storefront for a page gets one, whoever answers.
        let page = upstream.is_some_and(|u| u.def.name == STOREFRONT)
            && crate::page::wanted(&parts.headers);
        let mut res = self.forward_parts(upstream, parts, body, peer).await;
        if page {
            res = crate::page::of_problem(res).await;
        }
        if tls {
            res.headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
        res
    }

    /// Whether the request came from a trusted proxy (or from this process: no peer),
    /// whose `X-Forwarded-*` headers are believed.
    fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_none_or(|p| self.inner.limits.trusted.contains(p))
    }

    /// Forwards the request of `parts` and `body` to `upstream`, the service its path
    /// leads to (`None`: no such service).
    async fn forward_parts(
        &self,
        upstream: Option<&Upstream>,
        mut parts: Parts,
        body: impl RequestBody,
        peer: Option<IpAddr>,
    ) -> Response {
        // One timer for the whole request: its deadline, then each upstream attempt's.
        let deadline = Instant::now() + self.inner.request_timeout;
        let timer = tokio::time::sleep_until(deadline);
        tokio::pin!(timer);
        let path = parts.uri.path();
        // Judged as the services behind could read it: decoded, any case, one way only.
        let judged = match policy::canonical(path) {
            Ok(p) => p,
            // `OPTIONS *` and `CONNECT host:port` name no path at all.
            Err(policy::BadPath::Ambiguous) if !path.starts_with('/') => {
                return Problem::bad_request(
                    "the request target must be a path such as /api/catalog/products: \
                     the gateway serves no `OPTIONS *` and no CONNECT",
                )
                .into_response();
            }
            Err(policy::BadPath::Ambiguous) => {
                return Problem::bad_request(
                    "the path has an empty or dot segment, a backslash, an encoded separator, \
                     dot or percent sign (%2F, %5C, %2E, %25), or encoded bytes that are not \
                     UTF-8",
                )
                .into_response();
            }
            Err(policy::BadPath::Internal) => {
                return Problem::not_found(format!("no route for {path}")).into_response();
            }
        };
        let service = service_of(path);
        let Some(upstream) = upstream else {
            return Problem::not_found(format!("there is no service called `{service}`"))
                .into_response();
        };
        let verdict = policy::verdict(upstream.def, &parts.method, &judged);
        if verdict == Verdict::Hidden {
            return Problem::not_found(format!("no route for {path}")).into_response();
        }

        // Counted before any work is done for it: a flood costs a map look-up per request.
        let limits = &self.inner.limits;
        let client = peer.map(|peer| limits.trusted.client(peer, &parts.headers));
        if let Some(ip) = client
            && limits.by_address.is_on()
            && let Err(limited) = limits.by_address.check_address(ip)
        {
            return limited.into_response();
        }

        // Verify the token here, so a forged or expired one never reaches a service; a
        // route that takes no token gets none.
        if verdict == Verdict::Anonymous {
            parts.headers.remove(header::AUTHORIZATION);
        } else {
            match platform::auth::bearer(&parts) {
                Err(p) => return p.into_response(),
                Ok(Some(token)) => match self.inner.verifier.verify_shared(token).await {
                    Err(e) => return Problem::from(e).into_response(),
                    Ok(claims) => {
                        if let Err(limited) = limits.by_user.check(&claims.sub) {
                            return limited.into_response();
                        }
                    }
                },
                // Without a token, even where one is needed, the service answers: 401
                // where a token would help, 404 or 405 where there is no such route or
                // method (the gateway knows a service's protected prefixes, not its routes;
                // answering 401 for them all told a client without a token that
                // `/api/orders/nonexistent` needed one).
                Ok(None) => {}
            }
        }

        let timeout = policy::timeout(
            upstream.def,
            path,
            Duration::from_millis(self.inner.config.upstream_timeout_ms),
        );
        // Each service publishes its OpenAPI documents at its root; expose the public one
        // (what this gateway routes) under its prefix. Any other path goes as it came, not
        // copied.
        let openapi = path
            .strip_prefix("/api/")
            .and_then(|p| p.strip_prefix(service))
            == Some("/openapi.json");
        let path_and_query = if openapi {
            let public = match parts.uri.query() {
                Some(q) => format!("/openapi.public.json?{q}"),
                None => "/openapi.public.json".to_owned(),
            };
            PathAndQuery::try_from(public).ok()
        } else {
            parts.uri.path_and_query().cloned()
        };
        let Some(path_and_query) = path_and_query else {
            return Problem::bad_request("the request path is not a valid URI").into_response();
        };
        strip_hop_by_hop(&mut parts.headers);
        // The host the client asked for, as this gateway saw it (never a client's claim):
        // the storefront compares a form's Origin with it.
        // (`insert` replaces every value the client sent under the name.)
        match parts.headers.remove(header::HOST) {
            Some(host) => parts.headers.insert(FORWARDED_HOST, host),
            None => parts.headers.remove(FORWARDED_HOST),
        };
        // The services behind (and the storefront, on its calls back through here) learn
        // the client's address from this gateway only, not from what the client claimed.
        match client {
            Some(ip) => parts.headers.insert(FORWARDED_FOR, address_value(ip)),
            None => parts.headers.remove(FORWARDED_FOR),
        };
        // The scheme as a proxy in front said it, or this gateway's own: never a
        // client's claim (it turns on HSTS and the storefront's secure cookies).
        if !self.trusts(peer) || !parts.headers.contains_key(FORWARDED_PROTO) {
            parts
                .headers
                .insert(FORWARDED_PROTO, HeaderValue::from_static("http"));
        }
        let body = tokio::select! {
            biased;
            read = read_body(&parts, body, self.inner.body_limit) => match read {
                Ok(b) => b,
                Err(p) => return p.into_response(),
            },
            () = &mut timer => return Problem::body_too_slow().into_response(),
        };
        let affinity = upstream
            .affine
            .then(|| policy::affinity(upstream.def, &judged, &parts.headers))
            .flatten();
        let call = Call {
            upstream,
            parts: &parts,
            body,
            path_and_query: &path_and_query,
            timeout,
            deadline,
            affinity,
        };
        self.send(call, timer).await
    }
}

/// A request ready to be sent upstream.
struct Call<'a> {
    upstream: &'a Upstream,
    parts: &'a Parts,
    body: Option<Bytes>,
    path_and_query: &'a PathAndQuery,
    /// The time each attempt has, within the request's `deadline`.
    timeout: Duration,
    deadline: Instant,
    /// The key of the replica the client keeps to, when its route asks for affinity.
    affinity: Option<u64>,
}

/// An address as a header value, written without an intermediate `String`, and an IPv4
/// one (every request's, on most networks) without the formatting machinery.
fn address_value(ip: IpAddr) -> HeaderValue {
    use std::io::Write;
    // The longest address, an IPv6 one with an IPv4 tail, is 45 characters.
    let mut text = [0u8; 48];
    let len = match ip {
        IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                for (place, shown) in [(100, octet >= 100), (10, octet >= 10), (1, true)] {
                    if shown {
                        text[len] = b'0' + octet / place % 10;
                        len += 1;
                    }
                }
            }
            len
        }
        IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = write!(cursor, "{ip}");
            usize::try_from(cursor.position()).unwrap_or(0)
        }
    };
    HeaderValue::from_bytes(&text[..len]).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The request body: nothing for a request without one, else read whole (up to `limit`)
/// so that it can be sent again.
async fn read_body(
    parts: &Parts,
    body: impl RequestBody,
    limit: usize,
) -> Result<Option<Bytes>, Problem> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let may_have_body =
        declared.is_some_and(|n| n > 0) || parts.headers.contains_key(header::TRANSFER_ENCODING);
    if !may_have_body {
        return Ok(None);
    }
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(_) => Err(Problem::bad_request("the request body could not be read")),
    }
}

fn too_large(limit: usize) -> Problem {
    Problem::too_large(format!("the request body is larger than {limit} bytes"))
}

/// Why an attempt got no answer.
enum Unanswered {
    /// The replica failed the call in this way.
    Failed(SendError),
    /// The attempt's own time ran out.
    TimedOut,
    /// The request's whole time ran out.
    TooSlow,
}

impl Proxy {
    /// Sends the request to a replica, and once more to another when the first attempt
    /// failed in a way that is safe to repeat. `timer` is the request's one timer, reset
    /// for each attempt.
    async fn send(&self, call: Call<'_>, timer: Pin<&mut Sleep>) -> Response {
        let service = call.upstream.def.name;
        let span = telemetry::client_span(service, &call.parts.method, call.parts.uri.path());
        // Untraced, there is no span to enter and leave around every poll. The attempts
        // are made in each branch, not once before it: a future held in a variable and
        // then awaited (or wrapped) takes its room in this one's twice.
        let response = if span.is_disabled() {
            self.attempts(&call, &span, timer).await
        } else {
            self.attempts(&call, &span, timer)
                .instrument(span.clone())
                .await
        };
        telemetry::record_status(&span, response.status());
        response
    }

    async fn attempts(&self, call: &Call<'_>, span: &Span, mut timer: Pin<&mut Sleep>) -> Response {
        let Call {
            upstream, parts, ..
        } = *call;
        let service = upstream.def.name;
        upstream.balancer.attempted();
        let mut avoid: Option<Pick> = None;
        let mut retried = false;
        loop {
            let avoided = avoid.as_ref().map(Pick::replica);
            let picked = match call.affinity {
                Some(key) => upstream.balancer.pick_affine(key, avoided),
                None => upstream.balancer.pick(avoided),
            };
            let pick = match picked {
                Ok(p) => p,
                Err(NoReplica::AllOpen) => {
                    upstream.count(Counted::OpenCircuit);
                    return Problem::dependency_unavailable(
                        format!("the {service} service is failing; calls are paused for a moment"),
                        1,
                    )
                    .into_response();
                }
                Err(NoReplica::Unknown) => {
                    upstream.count(Counted::Down);
                    return Problem::dependency_unavailable(
                        format!("no {service} replica is known"),
                        1,
                    )
                    .into_response();
                }
            };
            drop(avoid.take());
            let Some((scheme, authority, uri)) = upstream_target(&pick, call.path_and_query) else {
                return Problem::bad_request("the request path is not a valid URI").into_response();
            };
            let mut request = http::Request::new(call.body.clone().unwrap_or_default());
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = parts.headers.clone();
            telemetry::inject(span, request.headers_mut());
            let own = Instant::now() + call.timeout;
            let whole = own >= call.deadline;
            timer.as_mut().reset(own.min(call.deadline));
            let sent = tokio::select! {
                biased;
                sent = self.inner.pool.send(&scheme, &authority, request) => sent.map_err(Unanswered::Failed),
                () = timer.as_mut() => Err(if whole { Unanswered::TooSlow } else { Unanswered::TimedOut }),
            };
            let how = match sent {
                Ok(res) => {
                    let status = res.status();
                    pick.record(Outcome::of(status, res.headers()));
                    upstream.count(Counted::of(status));
                    let (mut head, body) = res.into_parts();
                    strip_hop_by_hop(&mut head.headers);
                    head.extensions.insert(platform::service::Relayed);
                    let body = if is_event_stream(&head.headers) {
                        // Refused after the head, whatever the client asked for: the
                        // upstream's answer says what is a stream. Dropping it closes
                        // the stream there too.
                        let Some(permit) = self.stream_permit(service) else {
                            return self.too_many_streams();
                        };
                        self.ended_at_shutdown(Body::new(body), permit)
                    } else {
                        Body::new(body)
                    };
                    return Response::from_parts(head, body);
                }
                Err(Unanswered::Failed(e)) => {
                    tracing::debug!(upstream = service, replica = pick.url(), error = ?e, "upstream call failed");
                    match e {
                        SendError::Connect(..) => Failed::Connect,
                        SendError::Reset(..) => Failed::Reset,
                    }
                }
                Err(Unanswered::TimedOut) => Failed::Timeout,
                Err(Unanswered::TooSlow) => {
                    upstream.count(Counted::Timeout);
                    drop(pick.fail());
                    return Problem::took_too_long().into_response();
                }
            };
            let failed_pick = pick.fail();
            let again = !retried
                && retryable(
                    how,
                    &parts.method,
                    has_idempotency_key(&parts.headers)
                        && policy::honours_idempotency_key(upstream.def, parts.uri.path()),
                )
                && (upstream.balancer.replicas().len() > 1 || how == Failed::Reset)
                && upstream.balancer.may_retry();
            if again {
                upstream.count(Counted::Retried);
                retried = true;
                avoid = Some(failed_pick);
                continue;
            }
            let replica = failed_pick.url().to_owned();
            return match how {
                Failed::Connect => {
                    upstream.count(Counted::Down);
                    tracing::warn!(upstream = service, %replica, "upstream unreachable");
                    Problem::dependency_unavailable(
                        format!("the {service} service is not reachable"),
                        1,
                    )
                    .into_response()
                }
                Failed::Reset => {
                    upstream.count(Counted::Error);
                    Problem::new(
                        StatusCode::BAD_GATEWAY,
                        "bad-gateway",
                        "Bad gateway",
                        format!("the {service} service failed to answer"),
                    )
                    .of_dependency()
                    .into_response()
                }
                Failed::Timeout => {
                    upstream.count(Counted::Timeout);
                    let timeout = call.timeout;
                    tracing::warn!(upstream = service, %replica, timeout_ms = timeout.as_millis() as u64, "upstream timed out");
                    Problem::new(
                        StatusCode::GATEWAY_TIMEOUT,
                        "gateway-timeout",
                        "Gateway timeout",
                        format!(
                            "the {service} service did not answer within {} ms",
                            timeout.as_millis()
                        ),
                    )
                    .of_dependency()
                    .into_response()
                }
            };
        }
    }
}

/// When a client refused an event stream for want of room may ask again.
const STREAM_RETRY_AFTER_SECS: u64 = 5;

/// Whether an answer is an event stream (server-sent events), which goes on until one
/// side ends it.
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

impl Proxy {
    /// `body`, ended when this gateway shuts down (after its drain delay): an event
    /// stream would otherwise hold its connection, and the gateway's exit, for the whole
    /// grace period, then be cut as a failure. Ended cleanly, the client reconnects (to
    /// another replica, or to this one's successor) with `Last-Event-ID` and misses
    /// nothing.
    /// It holds `permit` (of the gateway's event streams) until it ends.
    fn ended_at_shutdown(&self, body: Body, permit: OwnedSemaphorePermit) -> Body {
        let shutdown = self.inner.shutdown.clone();
        Body::from_stream(
            body.into_data_stream()
                .take_until(async move { shutdown.wait().await })
                .map(move |chunk| {
                    let _held = &permit;
                    chunk
                }),
        )
    }

    /// A place for one more event stream from `service`, if the gateway has one.
    fn stream_permit(&self, service: &str) -> Option<OwnedSemaphorePermit> {
        let permit = self.inner.limits.streams.clone().try_acquire_owned().ok();
        if permit.is_none() {
            tracing::warn!(
                upstream = service,
                max_streams = self.inner.limits.max_streams,
                "an event stream refused: the gateway forwards as many as it may (BAZAAR_MAX_STREAMS)"
            );
        }
        permit
    }

    /// The answer to an event stream over [`Limits::with_streams`]' bound: 503, to be
    /// asked again later (when a stream has ended).
    fn too_many_streams(&self) -> Response {
        let mut problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-streams",
            "Too many open streams",
            format!(
                "the shop holds as many event streams open as it may ({}); try again later",
                self.inner.limits.max_streams
            ),
        );
        problem.retry_after = Some(STREAM_RETRY_AFTER_SECS);
        problem.into_response()
    }
}

/// Where to send the request: the replica's scheme and `host:port`, and the request
/// target in origin form, the replica's own path prefix (if its URL has one) before the
/// request's path.
fn upstream_target(pick: &Pick, path_and_query: &PathAndQuery) -> Option<(Scheme, Authority, Uri)> {
    if let Some((scheme, authority)) = pick.origin() {
        let target = Uri::from(path_and_query.clone());
        return Some((scheme.clone(), authority.clone(), target));
    }
    let url: Uri = pick.url().parse().ok()?;
    let (scheme, authority) = (url.scheme()?.clone(), url.authority()?.clone());
    let prefix = url.path().trim_end_matches('/');
    let target = format!("{prefix}{path_and_query}").parse().ok()?;
    Some((scheme, authority, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_one_host_and_only_a_host() {
        let with = |version, hosts: &[&str]| {
            let mut req = http::Request::new(());
            *req.version_mut() = version;
            for h in hosts {
                req.headers_mut()
                    .append(header::HOST, HeaderValue::from_str(h).unwrap());
            }
            host_problem(&req)
        };
        let v11 = http::Version::HTTP_11;
        for good in ["shop.example", "127.0.0.1:8080", "[::1]:8080", "localhost"] {
            assert_eq!(with(v11, &[good]), None, "{good}");
        }
        assert_eq!(
            with(http::Version::HTTP_10, &[]),
            None,
            "HTTP/1.0 needs none"
        );
        assert!(with(v11, &[]).is_some());
        assert!(with(v11, &["evil.com", "127.0.0.1:8080"]).is_some());
        for bad in ["x@evil.com", "a b", "evil.com/path", ""] {
            assert!(with(v11, &[bad]).is_some(), "{bad}");
        }
    }

    #[test]
    fn paths_lead_to_their_service() {
        assert_eq!(service_of("/api/catalog/products"), "catalog");
        assert_eq!(service_of("/api/cart"), "cart");
        assert_eq!(service_of("/"), STOREFRONT);
        assert_eq!(service_of("/p/123"), STOREFRONT);
        assert_eq!(service_of("/api"), "");
    }

    #[test]
    fn addresses_are_written_as_their_text() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.0.5.99",
            "192.168.100.10",
            "255.255.255.255",
            "::1",
            "2001:db8::ff00:42:8329",
            "::ffff:192.0.2.128",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(address_value(parsed), parsed.to_string().as_str(), "{ip}");
        }
    }

    #[test]
    fn the_hop_by_hop_names_are_known_one_way_or_the_other() {
        for name in &HOP_BY_HOP[1..] {
            assert!(other_hop_by_hop(name), "{name}");
        }
        for name in [
            header::CONNECTION,
            header::HOST,
            header::CONTENT_TYPE,
            HeaderName::from_static("keep-alive-x"),
            HeaderName::from_static("x-te"),
        ] {
            assert!(!other_hop_by_hop(&name), "{name}");
        }
    }

    #[test]
    fn hop_by_hop_headers_go_whichever_of_them_come() {
        fn kept(h: &HeaderMap) -> Vec<&str> {
            let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
            names.sort_unstable();
            names
        }
        // The usual answer: only `Connection: keep-alive`.
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(kept(&h), ["content-type"]);
        // A hop-by-hop header without `Connection`, and `Keep-Alive` beside it.
        let mut h = HeaderMap::new();
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Keep-Alive, Close"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(kept(&h), ["x-kept"]);
        // Nothing to take away.
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("shop"));
        strip_hop_by_hop(&mut h);
        assert_eq!(kept(&h), ["host"]);
    }

    #[test]
    fn connection_never_takes_the_framing_the_host_or_the_request_id() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static(
                "Content-Length, transfer-encoding, Host, X-Request-Id, x-secret",
            ),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("34"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::HOST, HeaderValue::from_static("shop"));
        h.insert(
            platform::service::REQUEST_ID.clone(),
            HeaderValue::from_static("r-1"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "content-length",
                "host",
                "transfer-encoding",
                "x-request-id"
            ]
        );
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
        // `Connection` sent as several lines: the names of each go.
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.append(header::CONNECTION, HeaderValue::from_static("x-first"));
        h.append(
            header::CONNECTION,
            HeaderValue::from_static("x-second, close"),
        );
        h.insert("x-first", HeaderValue::from_static("1"));
        h.insert("x-second", HeaderValue::from_static("2"));
        h.insert("x-kept", HeaderValue::from_static("3"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }
}
