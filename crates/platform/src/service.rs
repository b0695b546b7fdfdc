//! The HTTP service every Bazaar service is: its routes plus the standard ones and the
//! standard middleware, bound to a listener, with background workers raced against the
//! server and one graceful shutdown for all of them.

use crate::{
    config::CommonSettings,
    metrics::{self, Metrics},
    problem::Problem,
    shutdown::{self, Shutdown},
    telemetry,
};
use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self as mw, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::{
    FutureExt,
    future::{BoxFuture, Either},
};
use hyper::body::Incoming;
use std::{
    any::Any,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::net::TcpListener;

mod refusals;
pub use refusals::{MAX_HEAD_BYTES, MAX_HEADER_FIELDS};

/// The header carrying the request id, set by the gateway (or here, if absent) and
/// echoed in every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The paths every service serves itself: liveness, readiness, metrics, and its OpenAPI
/// documents (all of them and the public ones).
pub const STANDARD_PATHS: [&str; 5] = [
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/openapi.public.json",
];

/// A readiness check: `Ok` when the dependency it checks can be used.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A named readiness check; an optional one is reported but does not make the service
/// unready.
#[derive(Clone)]
struct NamedCheck {
    name: String,
    required: bool,
    check: Check,
}

/// A background worker: runs until the shutdown trigger fires, then returns.
pub type Worker = BoxFuture<'static, anyhow::Result<()>>;

/// Builder of a [`Service`].
pub struct ServiceBuilder {
    name: String,
    settings: CommonSettings,
    router: Router,
    openapi: Option<utoipa::openapi::OpenApi>,
    public_openapi: Option<utoipa::openapi::OpenApi>,
    checks: Vec<NamedCheck>,
    workers: Vec<(String, Worker)>,
    metrics: Metrics,
    shutdown: Shutdown,
    on_stop: Vec<BoxFuture<'static, ()>>,
    fallback: Option<Router>,
    front: Option<Arc<dyn Front>>,
    listener: Option<std::net::TcpListener>,
    own_listener: Option<std::net::TcpListener>,
    idle_timeout: Duration,
    max_connections: Option<usize>,
}

/// How long a connection may take to send a request's head, and how long a kept-alive
/// connection may sit idle between requests, before it is closed: what bounds a client
/// that trickles its headers (slowloris) or holds connections open unused. Longer than
/// the idle timeouts of the callers' pools (60 s for the services' clients, 50 s for the
/// gateway's) and of common load balancers (60 s), so a caller never sends a request on
/// a connection this end is closing at that moment; nginx's `keepalive_timeout` default.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The longest `/health/ready` waits for a check that decides readiness.
const REQUIRED_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a `/health/ready` answer serves callers outside the operator's network. Each
/// answer runs every check, and the gateway's ask every service behind it: from the
/// internet, unlimited, that was one client's 1,350 requests a second costing 1.3 of
/// this machine's 2 cores (the abuse review). The operator's own probers (the
/// supervisor, a kubelet, the callers' balancers) still get a fresh answer each time.
const OUTSIDERS_READINESS_TTL: Duration = Duration::from_secs(1);

/// The longest `/health/ready` waits for a check that is only reported (the gateway's
/// search and recommendations): a frozen optional upstream must not slow the answer past
/// its probers' patience (the supervisor's is 1 s), which made a ready gateway read as
/// unready.
const OPTIONAL_CHECK_TIMEOUT: Duration = Duration::from_millis(300);

/// The least time a service's workers get to stop at shutdown, when draining its requests
/// took the whole grace period.
pub const WORKERS_AT_LEAST: Duration = Duration::from_secs(1);

/// How many connections a process serves at once by default: half the file descriptors
/// it may open (`RLIMIT_NOFILE`'s soft limit, read from `/proc/self/limits`), leaving
/// the rest for its database pool, its calls to other services and its files, so that
/// running out of descriptors never fails those. At the limit, new connections wait in
/// the kernel's accept queue until one closes, as with HAProxy's `maxconn`. 10,000
/// where the limit cannot be read; at least 64.
pub fn max_connections() -> usize {
    max_connections_holding(1)
}

/// [`max_connections`] for a process each of whose connections may hold `descriptors`
/// descriptors: a proxy holds two, its client's and its upstream's (HAProxy sizes its
/// `maxconn` the same way). The limit's share left over stays for everything else.
/// With half the limit, a gateway whose clients held event streams open ran out of
/// descriptors (each stream one upstream connection more), answered 503 for a healthy
/// upstream, could not accept, and was killed by its supervisor (the protocol review).
pub fn max_connections_holding(descriptors: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| open_files_soft_limit(&limits));
    match soft {
        Some(n) => (n / (descriptors + 1)).clamp(64, 1_000_000),
        None => 10_000,
    }
}

/// Raises this process's soft limit of open files to its hard limit, before it opens
/// any: the soft limit is often 1,024 where the hard one allows far more, and the shop's
/// connection limits are a share of it (Go's runtime and the JVM do the same at start).
/// Returns the new limit; `None` when it could not be read or raised (it is then left as
/// it was).
pub fn raise_open_files_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    Some(hard)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text; `None` when unlimited or
/// not there.
fn open_files_soft_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A bound, ready-to-run service.
pub struct Service {
    name: String,
    listener: TcpListener,
    /// A second socket handed down beside the first (see [`inherited_listeners`]), served
    /// alike.
    own: Option<TcpListener>,
    app: Arc<App>,
    workers: Vec<(String, Worker)>,
    shutdown: Shutdown,
    grace: Duration,
    drain_delay: Duration,
    draining: Arc<AtomicBool>,
    on_stop: Vec<BoxFuture<'static, ()>>,
}

impl Service {
    pub fn builder(name: &str, settings: &CommonSettings) -> ServiceBuilder {
        ServiceBuilder {
            name: name.to_owned(),
            settings: settings.clone(),
            router: Router::new(),
            openapi: None,
            public_openapi: None,
            checks: Vec::new(),
            workers: Vec::new(),
            metrics: Metrics::new(name),
            shutdown: Shutdown::new(),
            on_stop: Vec::new(),
            fallback: None,
            front: None,
            listener: None,
            own_listener: None,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: None,
        }
    }

    /// The address the server is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// A handle that stops this service when triggered.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until SIGTERM or Ctrl-C. SIGTERM drains first: `/health/ready` answers
    /// 503 at once, requests are still served for the drain delay while callers move to
    /// other replicas, then the service stops as on Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let trigger = self.shutdown.clone();
        let draining = self.draining.clone();
        let (name, delay) = (self.name.clone(), self.drain_delay);
        tokio::spawn(async move {
            if shutdown::stop_signal().await == shutdown::Stop::Drain {
                draining.store(true, Ordering::SeqCst);
                tracing::info!(service = %name, delay_ms = delay.as_millis() as u64, "draining: not ready, still serving");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown::signal() => {}
                }
            }
            trigger.trigger();
        });
        self.run().await
    }

    /// Whether the service is draining (and so reports not ready).
    pub fn draining(&self) -> Arc<AtomicBool> {
        self.draining.clone()
    }

    /// Serves until the shutdown handle is triggered; then stops accepting, drains
    /// in-flight requests and waits for the workers, within the grace period in all.
    pub async fn run(self) -> anyhow::Result<()> {
        let Service {
            name,
            listener,
            own,
            app,
            workers,
            shutdown,
            grace,
            on_stop,
            ..
        } = self;
        tracing::info!(service = %name, addr = %listener.local_addr()?, "listening");
        let mut tasks = tokio::task::JoinSet::new();
        for (worker_name, fut) in workers {
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                // A worker that panics stops its process as one that fails does: a
                // process whose consumer died would otherwise stay up, ready, and do
                // nothing more (the supervisor or the orchestrator restarts it).
                let outcome = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
                let failed = match outcome {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(e)) => e,
                    Err(panic) => anyhow::anyhow!("panicked: {}", panic_text(panic.as_ref())),
                };
                tracing::error!(worker = %worker_name, error = ?failed, "worker failed");
                shutdown.trigger();
                Err(failed.context(format!("worker {worker_name} failed")))
            });
        }
        // The server stops accepting at once on shutdown. `grace` bounds the whole of
        // what follows, in-flight requests and then the workers: an orchestrator's
        // termination period is sized to the drain delay plus one grace (deploy/).
        let serving = async {
            let places = app.max_connections;
            match own {
                // One limit for both ports, with places of its own for the process's own
                // port: at the limit on the shared port, the supervisor's checks (and the
                // storefront's calls) still get in, so a gateway full of clients is not
                // taken for a frozen one and killed.
                Some(own) => {
                    let kept = (places / 8).max(1);
                    tokio::join!(
                        serve(
                            listener,
                            app.clone(),
                            (places - kept).max(1),
                            shutdown.clone()
                        ),
                        serve(own, app, kept, shutdown.clone())
                    );
                }
                None => serve(listener, app, places, shutdown.clone()).await,
            }
        };
        tokio::pin!(serving);
        let deadline = tokio::select! {
            () = &mut serving => tokio::time::Instant::now() + grace,
            () = shutdown.wait() => {
                let deadline = tokio::time::Instant::now() + grace;
                tokio::select! {
                    () = serving => {}
                    () = tokio::time::sleep_until(deadline) => {
                        tracing::warn!(service = %name, "grace period over; dropping in-flight requests");
                    }
                }
                deadline
            }
        };
        shutdown.trigger();
        let mut first_error = None;
        // Workers get what is left of it (a moment at least, to notice the shutdown); one
        // stuck in I/O is then cut off.
        let deadline = deadline.max(tokio::time::Instant::now() + WORKERS_AT_LEAST);
        let drained = tokio::time::timeout_at(deadline, async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok(Err(e)) = joined {
                    first_error.get_or_insert(e);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(service = %name, "workers did not stop within the grace period; aborting them");
            tasks.abort_all();
        }
        for f in on_stop {
            f.await;
        }
        tracing::info!(service = %name, "stopped");
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Requests a service serves ahead of its router, straight from the connection: the
/// gateway's forwarding, which needs none of the router's matching, extractors or
/// extensions (docs/benchmarks.md, the gateway's forwarding path). Such a request still
/// gets the standard treatment: its request id, span, caught panic, problem documents for
/// bare errors and metrics; but not the router's request timeout or body limit, which
/// the front applies itself.
pub trait Front: Send + Sync + 'static {
    /// Whether the front serves requests to `path`; the others go to the router.
    fn serves(&self, path: &str) -> bool;

    /// Serves a request from `peer`: the label its answer is counted under in the request
    /// metrics (`None`: "unmatched"), and the answer, which bounds its own time.
    fn serve(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
    ) -> (Option<RouteLabel>, BoxFuture<'static, Response>);
}

/// What answers a connection's requests: the front, for those it serves, else the router.
struct App {
    router: Router,
    front: Option<(Arc<dyn Front>, Standard)>,
    /// See [`IDLE_TIMEOUT`].
    idle_timeout: Duration,
    /// See [`max_connections`].
    max_connections: usize,
}

impl App {
    fn call(
        &self,
        mut req: http::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response, std::convert::Infallible>> + Send + use<> {
        match &self.front {
            Some((front, standard)) if front.serves(req.uri().path()) => {
                let seen = Seen::of(&mut req, None);
                // The label is known once the front has the request; the answer is counted
                // under it, after the answer is ready.
                let (label, answer) = front.serve(req, peer);
                Either::Left(standard.clone().around(seen, None, label, answer))
            }
            _ => {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut router = self.router.clone();
                Either::Right(tower::Service::call(&mut router, req.map(Body::new)))
            }
        }
    }
}

/// Accepts connections on `listener` and serves each with `app` until `stop` fires; then
/// stops accepting, lets each connection finish the request it is serving (HTTP/1
/// keep-alive ends after it), and returns once every connection has closed.
async fn serve(listener: TcpListener, app: Arc<App>, places: usize, stop: Shutdown) {
    let (closing, connections) = tokio::sync::watch::channel(());
    let open = Arc::new(tokio::sync::Semaphore::new(places));
    let mut at_the_limit = false;
    let mut last_accepted = Instant::now();
    loop {
        // A connection is accepted only with a place for it: at the limit, new ones wait
        // in the kernel's queue until one closes, and those open are served as ever.
        let place = match open.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                if !std::mem::replace(&mut at_the_limit, true) {
                    tracing::warn!(
                        max = places,
                        "at the connection limit: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    place = open.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        Err(_) => break,
                    },
                    () = stop.wait() => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = stop.wait() => break,
        };
        // TCP_NODELAY on every accepted connection: without it a response written in two
        // parts waits for the client's delayed ACK (40 ms on Linux) on a kept-alive
        // connection — which every service-to-service connection is.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        last_accepted = Instant::now();
        if at_the_limit && open.available_permits() > 0 {
            at_the_limit = false;
        }
        let app = app.clone();
        let mut asked_to_close = closing.subscribe();
        tokio::spawn(async move {
            let _place = place;
            let idle_timeout = app.idle_timeout;
            let requests =
                hyper::service::service_fn(move |req: http::Request<Incoming>| app.call(req, peer));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(idle_timeout)
                // A request's head past this is refused (431), whatever its size: hyper's
                // own bound is its read buffer's (some 400 KB, not exactly), and a client's
                // header of that size was read, kept and forwarded.
                .max_header_size(refusals::MAX_HEAD_BYTES)
                // A response's head and body copied into one buffer and sent with one
                // `send`: cheaper in the kernel than a `writev` of the two.
                .writev(false)
                // What hyper refuses on its own (a head it cannot parse) is answered with a
                // problem document, as every other refusal is.
                .serve_connection(
                    hyper_util::rt::TokioIo::new(refusals::Refusals::new(tcp)),
                    requests,
                )
                .with_upgrades();
            tokio::pin!(connection);
            let finished = tokio::select! {
                r = connection.as_mut() => r,
                _ = asked_to_close.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = finished {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // A connection accepted a moment ago has its request on the way, or unread: asked to
    // close now, it would be closed as idle, unanswered (a review's new connections failed
    // so during the gateway's rolling restarts). Its request is given a moment to be read.
    let unread = FIRST_REQUEST_WAIT.saturating_sub(last_accepted.elapsed());
    if !unread.is_zero() {
        tokio::time::sleep(unread).await;
    }
    // Every connection holds a receiver: sending asks them to close, and `closed` resolves
    // when the last one is gone.
    drop(connections);
    let _ = closing.send(());
    closing.closed().await;
}

/// How long after its last accepted connection a stopping server waits before it asks
/// connections to close: time for that connection's first request to be read.
const FIRST_REQUEST_WAIT: Duration = Duration::from_millis(100);

/// An `accept` that failed: a connection that went away before it was taken is nothing;
/// anything else (out of file descriptors, say) is logged and waited out for a moment
/// rather than retried in a busy loop.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

impl ServiceBuilder {
    /// The service's own routes, with their state already applied.
    pub fn routes(&mut self, router: Router) -> &mut Self {
        self.router = std::mem::take(&mut self.router).merge(router);
        self
    }

    /// The OpenAPI document served at `/openapi.json`: every endpoint, the internal ones
    /// (what only Bazaar's services call) included.
    pub fn openapi(&mut self, doc: utoipa::openapi::OpenApi) -> &mut Self {
        self.openapi = Some(doc);
        self
    }

    /// The document the public reads, served at `/openapi.public.json` (the gateway's
    /// `/api/<service>/openapi.json`): what the gateway routes. Without one, the whole
    /// document.
    pub fn public_openapi(&mut self, doc: utoipa::openapi::OpenApi) -> &mut Self {
        self.public_openapi = Some(doc);
        self
    }

    /// Adds a readiness check, reported by name at `/health/ready`.
    pub fn check<F, Fut>(&mut self, name: &str, check: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add_check(name, true, Arc::new(move || Box::pin(check())))
    }

    /// Adds a check that is reported at `/health/ready` but never makes it fail: a
    /// dependency whose absence degrades the service without stopping it.
    pub fn optional_check<F, Fut>(&mut self, name: &str, check: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add_check(name, false, Arc::new(move || Box::pin(check())))
    }

    fn add_check(&mut self, name: &str, required: bool, check: Check) -> &mut Self {
        self.checks.push(NamedCheck {
            name: name.to_owned(),
            required,
            check,
        });
        self
    }

    /// The database readiness check and a clean close at shutdown.
    pub fn database(&mut self, db: &crate::db::Db) -> &mut Self {
        let for_check = db.clone();
        let for_close = db.clone();
        self.check("database", move || {
            let db = for_check.clone();
            async move { db.ping().await.map_err(|e| e.to_string()) }
        });
        self.on_stop
            .push(Box::pin(async move { for_close.close().await }));
        self
    }

    /// Adds a background worker; it should return once [`ServiceBuilder::shutdown`] fires.
    pub fn worker(
        &mut self,
        name: &str,
        worker: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> &mut Self {
        self.workers.push((name.to_owned(), Box::pin(worker)));
        self
    }

    /// What answers requests no route matches (by default a 404 problem): the gateway
    /// hands them to the storefront.
    pub fn fallback(&mut self, router: Router) -> &mut Self {
        self.fallback = Some(router);
        self
    }

    /// What serves some requests ahead of the router (see [`Front`]).
    pub fn front(&mut self, front: impl Front) -> &mut Self {
        self.front = Some(Arc::new(front));
        self
    }

    /// The trigger that stops the service and its workers.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The service's metrics registry, for registering its own metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Closes a connection that has not sent a request's whole head within `timeout` of
    /// connecting or of its previous response ([`IDLE_TIMEOUT`] unless set).
    pub fn idle_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.idle_timeout = timeout;
        self
    }

    /// Serves at most `max` connections at once ([`max_connections`] unless set).
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// Serves on `listener`, bound beforehand, instead of binding the `listen` setting.
    pub fn listener(&mut self, listener: std::net::TcpListener) -> &mut Self {
        self.listener = Some(listener);
        self
    }

    /// With [`ServiceBuilder::listener`], a port of the process's own beside that one
    /// (which its replicas share), as `LISTEN_FDS=2` hands down.
    pub fn own_listener(&mut self, own: std::net::TcpListener) -> &mut Self {
        self.own_listener = Some(own);
        self
    }

    /// Binds the listener (or takes the ones given or those handed down, see
    /// [`inherited_listeners`]) and assembles the router.
    pub async fn bind(self) -> anyhow::Result<Service> {
        let (listener, own) = if let Some(given) = self.listener {
            given.set_nonblocking(true)?;
            let own = match self.own_listener {
                Some(own) => {
                    own.set_nonblocking(true)?;
                    Some(TcpListener::from_std(own)?)
                }
                None => None,
            };
            (TcpListener::from_std(given)?, own)
        } else if let Some(inherited) = inherited_listeners()? {
            inherited
        } else {
            let bound = TcpListener::bind(self.settings.listen).await.map_err(|e| {
                anyhow::anyhow!("could not listen on {}: {e}", self.settings.listen)
            })?;
            (bound, None)
        };
        let public = self
            .public_openapi
            .or_else(|| self.openapi.clone())
            .map(Arc::new);
        let openapi = self.openapi.map(Arc::new);
        let draining = Arc::new(AtomicBool::new(false));
        let readiness = Arc::new(Readiness {
            service: self.name.clone(),
            checks: self.checks,
            draining: draining.clone(),
            for_outsiders: tokio::sync::Mutex::new(None),
        });
        // Health probes bypass the middleware: callers probe every replica twice a
        // second, and a deliberate "not ready" is not a server error to log or count.
        let [
            live_path,
            ready_path,
            metrics_path,
            openapi_path,
            public_path,
        ] = STANDARD_PATHS;
        let health = Router::new()
            .route(live_path, get(live))
            .route(ready_path, get(ready).with_state(readiness))
            .layer(mw::from_fn(probe_answer));
        let standard = Router::new()
            .route(
                metrics_path,
                get(metrics::handler)
                    .with_state(self.metrics.clone())
                    .route_layer(mw::from_fn(operators_only)),
            )
            .route(openapi_path, get(move || document(openapi.clone())))
            .route(public_path, get(move || document(public.clone())));
        let routes = self.router.merge(standard);
        let routes = match self.fallback {
            Some(fallback) => routes.fallback_service(fallback),
            None => routes.fallback(not_found),
        };
        let timeout = Duration::from_millis(self.settings.request_timeout_ms);
        let standard = Standard {
            metrics: self.metrics.clone(),
            timeout,
            draining: draining.clone(),
        };
        let router = standard
            .clone()
            .apply(routes, self.settings.body_limit_bytes)
            .merge(health);
        let app = App {
            router,
            front: self.front.map(|front| (front, standard)),
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections.unwrap_or_else(max_connections),
        };
        Ok(Service {
            name: self.name,
            listener,
            own,
            app: Arc::new(app),
            workers: self.workers,
            shutdown: self.shutdown,
            grace: Duration::from_millis(self.settings.shutdown_grace_ms),
            drain_delay: Duration::from_millis(self.settings.drain_delay_ms),
            draining,
            on_stop: self.on_stop,
        })
    }
}

impl Standard {
    /// The standard middleware, around every route of `router`: a request id (the
    /// caller's, or a new one) echoed in the response, the request's span, the timeout, a
    /// caught panic as a 500 problem, problem documents for bare errors, the metrics, and
    /// `Connection: close` while draining; then the body limit.
    fn apply(self, router: Router, body_limit: usize) -> Router {
        // One service doing all of it: each layer of a stack costs a future, often boxed,
        // and tower-http's ones an extension map entry or a wrapped body, per request (the
        // gateway bench's allocations per forwarded request: docs/benchmarks.md).
        router.layer(
            tower::ServiceBuilder::new()
                .layer(tower::layer::layer_fn(move |inner| StandardService {
                    inner,
                    standard: self.clone(),
                }))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
    }
}

/// The route a response is counted under when no route template matched its request: set
/// on the response by a handler that serves many paths as one (the gateway, one label per
/// service it forwards to), and taken off it by the standard middleware.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

/// Set by the gateway on an answer it relays from a service: a failure in it is that
/// service's, which logs it at ERROR itself, so the gateway's line for it is a warning (an
/// operator counting errors counted each failure twice: the soak review).
#[derive(Debug, Clone, Copy)]
pub struct Relayed;

/// The longest request id a caller may choose: a UUID, a W3C trace id, or an id of
/// another tracing scheme fits in it with room to spare.
const MAX_REQUEST_ID: usize = 128;

/// Whether a caller's request id is kept: at most [`MAX_REQUEST_ID`] visible ASCII
/// characters, no spaces.
fn usable_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// A new request id: a random UUID (v4) from the thread's generator (tower-http's
/// `MakeRequestUuid` asks the kernel for the 16 bytes, a system call per request).
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
        .unwrap_or(HeaderValue::from_static("-"))
}

/// What [`StandardService`] needs.
#[derive(Clone)]
struct Standard {
    metrics: Metrics,
    timeout: Duration,
    /// The service's draining flag: every answer given while it is set closes its
    /// connection after it, so that clients kept alive move to the replica that takes
    /// over without a request of theirs meeting a connection closed under it.
    draining: Arc<AtomicBool>,
}

/// The standard middleware as one service: see [`apply_middleware`].
#[derive(Clone)]
struct StandardService<S> {
    inner: S,
    standard: Standard,
}

impl<S> tower::Service<Request> for StandardService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<Response, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone is the one not yet polled ready; the ready one serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let route = req.extensions().get::<MatchedPath>().cloned();
        let mut seen = Seen::of(&mut req, route);
        if !hyper::body::Body::is_end_stream(req.body()) {
            let (watched, watch) = BodyWatch::wrap(req);
            req = watched;
            seen.body = Some(watch);
        }
        let timeout = self.standard.timeout;
        let answer = async move {
            match inner.call(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            }
        };
        Box::pin(
            self.standard
                .clone()
                .around(seen, Some(timeout), None, answer),
        )
    }
}

/// What the standard treatment notes of a request before it is handled.
struct Seen {
    start: Instant,
    id: HeaderValue,
    method: http::Method,
    route: Option<MatchedPath>,
    scope: telemetry::RequestScope,
    /// How the request's body is being read, when it has one.
    body: Option<Arc<BodyWatch>>,
    /// Whether it carried credentials (`Authorization`): its answer is then the caller's
    /// alone, and kept by no cache.
    credentials: bool,
}

/// Whether a request's handler is waiting on its body: the client's part of a time-out.
#[derive(Default)]
struct BodyWatch(std::sync::atomic::AtomicBool);

impl BodyWatch {
    /// Makes `req`'s body tell the returned watch whether its reader waits on the client.
    fn wrap(req: Request) -> (Request, Arc<BodyWatch>) {
        let watch = Arc::new(BodyWatch::default());
        let seen = watch.clone();
        let req = req.map(|inner| Body::new(Watched { inner, watch: seen }));
        (req, watch)
    }

    /// Whether the handler's last read of the body found nothing yet: the client is
    /// sending it too slowly, or has stopped.
    fn waiting(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request body that reports to its [`BodyWatch`].
struct Watched {
    inner: Body,
    watch: Arc<BodyWatch>,
}

impl hyper::body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        self.watch.0.store(polled.is_pending(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Seen {
    /// Notes `req`, matched to `route`; gives it a request id if it came without one.
    fn of<B>(req: &mut http::Request<B>, route: Option<MatchedPath>) -> Self {
        let start = Instant::now();
        let id = match req.headers().get(&REQUEST_ID) {
            Some(id) if usable_request_id(id) => id.clone(),
            // None, or one that would bloat every log line and call of the request: it
            // gets an id of ours instead, as if it had sent none.
            _ => {
                let id = new_request_id();
                req.headers_mut().insert(REQUEST_ID.clone(), id.clone());
                id
            }
        };
        let method = req.method().clone();
        let scope = telemetry::request_scope(
            &method,
            route.as_ref().map(MatchedPath::as_str),
            req.uri(),
            req.headers(),
            &id,
        );
        Seen {
            start,
            id,
            method,
            route,
            scope,
            body: None,
            credentials: req.headers().contains_key(header::AUTHORIZATION),
        }
    }
}

impl Standard {
    /// `answer`, with the standard treatment: in the request's scope (see
    /// [`telemetry::RequestScope`]), cut off after
    /// `timeout` (if any), a panic caught, bare errors made problem documents, the request
    /// id echoed, and counted under `label`, else the matched route, else "unmatched".
    async fn around(
        self,
        seen: Seen,
        timeout: Option<Duration>,
        label: Option<RouteLabel>,
        answer: impl Future<Output = Response> + Send,
    ) -> Result<Response, std::convert::Infallible> {
        let Seen {
            start,
            id,
            method,
            route,
            scope,
            body,
            credentials,
        } = seen;
        let recorded = scope.span();
        // Its trace, if sampled, becomes the latency bucket's exemplar.
        let trace = telemetry::sampled_trace_id(&recorded);
        let Standard {
            metrics, draining, ..
        } = self;
        // Made in place, not held in a variable first: a future held and then wrapped
        // takes its room in this one's twice.
        scope
            .run(async move {
                // A panic anywhere in the handler is caught here.
                let handled = std::panic::AssertUnwindSafe(async move {
                    match timeout {
                        Some(t) => tokio::time::timeout(t, answer).await.ok(),
                        None => Some(answer.await),
                    }
                })
                .catch_unwind()
                .await;
                let mut res = match handled {
                    Ok(Some(res)) => problem_for_bare_errors(res).await,
                    // Out of time while waiting on the client's body: its fault, not ours.
                    Ok(None) if body.is_some_and(|b| b.waiting()) => {
                        Problem::body_too_slow().into_response()
                    }
                    Ok(None) => Problem::took_too_long().into_response(),
                    Err(panic) => panic_to_problem(panic),
                };
                if !res.headers().contains_key(&REQUEST_ID) {
                    res.headers_mut().insert(REQUEST_ID.clone(), id);
                }
                // No answer is to be read as anything but its declared type (a product
                // name an admin typed, sniffed as HTML, say).
                res.headers_mut()
                    .entry(header::X_CONTENT_TYPE_OPTIONS)
                    .or_insert(HeaderValue::from_static("nosniff"));
                // What a signed-in caller is told (an order, a profile, a list of
                // messages) is stored by no cache on the way, unless its service says
                // otherwise.
                if credentials {
                    res.headers_mut()
                        .entry(header::CACHE_CONTROL)
                        .or_insert(HeaderValue::from_static("private, no-store"));
                }
                if draining.load(Ordering::Relaxed) {
                    res.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                let label = label.or_else(|| res.extensions_mut().remove::<RouteLabel>());
                let relayed = res.extensions_mut().remove::<Relayed>().is_some();
                let status = res.status();
                let elapsed = start.elapsed();
                telemetry::record_status(&recorded, status);
                // A failure of this process is an error. A failure relayed from the
                // service that had it (and logged it), or a deliberate "try again" (a 503
                // with Retry-After: a dependency away, a payment processor failing for a
                // moment) is a warning: documented answers filled the log's errors.
                let deliberate = status == StatusCode::SERVICE_UNAVAILABLE
                    && res.headers().contains_key(header::RETRY_AFTER);
                if status.is_server_error() && (relayed || deliberate) {
                    tracing::warn!(
                        status = status.as_u16(),
                        latency_ms = elapsed.as_millis() as u64,
                        "response failed"
                    );
                } else if status.is_server_error() {
                    tracing::error!(
                        status = status.as_u16(),
                        latency_ms = elapsed.as_millis() as u64,
                        "response failed"
                    );
                } else {
                    tracing::debug!(
                        status = status.as_u16(),
                        latency_ms = elapsed.as_millis() as u64,
                        "finished processing request"
                    );
                }
                metrics.observe(
                    method.as_str(),
                    match (&label, &route) {
                        (Some(RouteLabel(label)), _) => label,
                        (None, Some(route)) => route.as_str(),
                        (None, None) => "unmatched",
                    },
                    status.as_u16(),
                    elapsed.as_secs_f64(),
                    trace,
                );
                Ok(res)
            })
            .await
    }
}

/// The sockets a supervisor bound for this process and passed under systemd's
/// socket-activation protocol: file descriptor 3 (`LISTEN_FDS=1`), and for a gateway
/// replica of `bazaar up` also 4 (`LISTEN_FDS=2`), a port of its own beside the shop's
/// (which its siblings share, so that only on its own port is an answer surely its own:
/// the supervisor's checks and the storefront's calls go there). `bazaar up` passes them
/// bound but not yet listening (so a port refuses connections until the service is up),
/// systemd already listening; either way they listen from here. Taken at most once per
/// process, so two services built in one process never share them. `None` when there
/// are none to take.
fn inherited_listeners() -> anyhow::Result<Option<(TcpListener, Option<TcpListener>)>> {
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var_os("LISTEN_FDS").is_none()
        || TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return Ok(None);
    }
    let mut handed = listenfd::ListenFd::from_env();
    let mut take = |index: usize| -> anyhow::Result<Option<TcpListener>> {
        let Some(inherited) = handed
            .take_tcp_listener(index)
            .map_err(|e| anyhow::anyhow!("the socket handed down is unusable: {e}"))?
        else {
            return Ok(None);
        };
        let socket = socket2::Socket::from(inherited);
        socket
            .listen(LISTEN_BACKLOG)
            .map_err(|e| anyhow::anyhow!("could not listen on the socket handed down: {e}"))?;
        socket.set_nonblocking(true)?;
        Ok(Some(TcpListener::from_std(socket.into())?))
    };
    let Some(first) = take(0)? else {
        return Ok(None);
    };
    Ok(Some((first, take(1)?)))
}

/// Connections the kernel queues before the service accepts them (tokio's default).
const LISTEN_BACKLOG: i32 = 1024;

/// An OpenAPI document as JSON, or 404 when the service publishes none.
async fn document(doc: Option<Arc<utoipa::openapi::OpenApi>>) -> Response {
    match doc {
        Some(d) => Json(serde_json::to_value(&*d).unwrap_or_default()).into_response(),
        None => Problem::not_found("this service publishes no OpenAPI document").into_response(),
    }
}

async fn live() -> impl IntoResponse {
    // The process says who it is, as readiness does: where several processes answer at
    // one address (a Service in front of the gateway's pods), whoever asks tells whose
    // answer it got.
    Json(serde_json::json!({"status": "live", "pid": std::process::id()}))
}

/// What `/health/ready` checks, and whose readiness it reports.
struct Readiness {
    service: String,
    checks: Vec<NamedCheck>,
    /// Set when the service starts draining: it is then not ready, whatever its checks.
    draining: Arc<AtomicBool>,
    /// The last answer given outside the operator's network, and when: given again for
    /// [`OUTSIDERS_READINESS_TTL`]. Behind a lock, so that callers arriving while the
    /// checks run wait for that run instead of starting their own.
    for_outsiders: tokio::sync::Mutex<Option<(Instant, StatusCode, serde_json::Value)>>,
}

/// Whether a request comes from the operator's own network: straight from a loopback or
/// private address (RFC 1918, IPv6 unique-local or link-local), not forwarded by a proxy
/// (no `X-Forwarded-For` or `Forwarded`: an ingress or the gateway always adds one). Such
/// callers — Prometheus, the supervisor, the ops console, an operator's curl — see
/// `/metrics` and readiness in detail; a client from the internet, which reaches a
/// service only through a proxy, does not. A request served without a socket (a test
/// calling the router in process) has no peer and counts as the operator's.
pub fn from_operators_network(parts: &http::request::Parts) -> bool {
    let forwarded = parts.headers.contains_key(crate::ratelimit::FORWARDED_FOR)
        || parts.headers.contains_key(header::FORWARDED);
    if forwarded {
        return false;
    }
    match crate::ratelimit::peer(&parts.extensions) {
        None => true,
        Some(ip) => is_operators_address(ip),
    }
}

/// Loopback, private (RFC 1918), IPv6 unique-local (fc00::/7) or link-local addresses.
pub fn is_operators_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_operators_address(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        },
    }
}

/// `/metrics` for the operator's network only (see [`from_operators_network`]): through
/// the gateway, from the internet, it is 403.
async fn operators_only(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if !from_operators_network(&parts) {
        return Problem::forbidden(
            "metrics are served to the operator's network only, not through a proxy",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The service's readiness: every check's result, and the service's name, so a prober
/// knows it asked the service it meant to. Callers outside the operator's network get
/// each check as `ok` or `failing`, without the reasons (which name internal addresses);
/// callers inside it also get the process id, so a prober knows which of the processes
/// answering at one address answered (the gateway's replicas on the shop's port, pods
/// behind a Service).
async fn ready(State(readiness): State<Arc<Readiness>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let detailed = from_operators_network(&parts);
    let with_pid = |mut body: serde_json::Value| {
        if detailed {
            body["pid"] = std::process::id().into();
        }
        Json(body)
    };
    if readiness.draining.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            with_pid(serde_json::json!({
                "service": readiness.service,
                "status": "draining",
                "checks": {},
            })),
        )
            .into_response();
    }
    if !detailed {
        let mut last = readiness.for_outsiders.lock().await;
        if let Some((at, status, body)) = last.as_ref()
            && at.elapsed() < OUTSIDERS_READINESS_TTL
        {
            return (*status, Json(body.clone())).into_response();
        }
        let (status, body) = run_checks(&readiness, false).await;
        *last = Some((Instant::now(), status, body.clone()));
        return (status, Json(body)).into_response();
    }
    let (status, body) = run_checks(&readiness, true).await;
    (status, with_pid(body)).into_response()
}

/// Every check's result (each failure's reason when `detailed`), and the status they
/// make: 200 when every required check passed, 503 otherwise.
async fn run_checks(readiness: &Readiness, detailed: bool) -> (StatusCode, serde_json::Value) {
    let results = futures_util::future::join_all(readiness.checks.iter().map(|c| {
        let c = c.clone();
        async move {
            let limit = if c.required {
                REQUIRED_CHECK_TIMEOUT
            } else {
                OPTIONAL_CHECK_TIMEOUT
            };
            let r = tokio::time::timeout(limit, (c.check)()).await;
            let r = r.unwrap_or_else(|_| Err("timed out".to_owned()));
            (c.name, c.required, r)
        }
    }))
    .await;
    let all_ok = results
        .iter()
        .all(|(_, required, r)| r.is_ok() || !required);
    let checks: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(n, _, r)| {
            let v = match r {
                Ok(()) => serde_json::json!("ok"),
                Err(e) if detailed => serde_json::json!(e),
                Err(_) => serde_json::json!("failing"),
            };
            (n, v)
        })
        .collect();
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        serde_json::json!({
            "service": readiness.service,
            "status": if all_ok { "ready" } else { "not ready" },
            "checks": checks,
        }),
    )
}

/// 404 for a path no route has, as a problem document (a router's fallback). A HEAD is
/// named as the GET it stands for: HEAD answers with GET's header fields, its
/// `Content-Length` too (the HTTP review: one byte longer, for "HEAD").
pub async fn not_found(req: Request) -> Problem {
    let method = match req.method() {
        &http::Method::HEAD => &http::Method::GET,
        other => other,
    };
    Problem::not_found(format!("no route for {method} {}", req.uri().path()))
}

fn panic_to_problem(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic_text(err.as_ref());
    tracing::error!(panic = %detail, "handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "The server failed to handle the request; it has been logged.",
    )
    .into_response()
}

/// What a panic said (its message, when it had one).
fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

/// The probes' answers, outside the standard middleware (neither logged nor counted), as
/// every other answer is: with the request's id, `nosniff`, and a problem document for a
/// method they do not take (a POST to `/health/live` had a bare 405: the HTTP review).
async fn probe_answer(req: Request, next: mw::Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|id| usable_request_id(id))
        .cloned()
        .unwrap_or_else(new_request_id);
    let mut res = problem_for_bare_errors(next.run(req).await).await;
    let headers = res.headers_mut();
    headers.insert(REQUEST_ID.clone(), id);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Turns a bare error response (axum's 405, a 413 from the body limit, ...) into a
/// problem document, so API clients see one error shape everywhere.
pub async fn problem_for_bare_errors(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    // Only bare errors are rewritten: no body type, or plain text (axum's own 405, the
    // body limit's 413). A problem document, a JSON health report or an HTML error page
    // already says what it means.
    let bare = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !bare {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned()
        });
    let mut out = Problem::from_status(status, text).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The body of a problem response as a string (tests and logs).
pub async fn body_text(body: Body) -> String {
    axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A `Location` header value.
pub fn location(path: &str) -> HeaderValue {
    HeaderValue::from_str(path).unwrap_or_else(|_| HeaderValue::from_static("/"))
}

/// `201 Created`: `body`, as JSON, and where the new resource is (`Location: path`).
pub fn created(path: &str, body: impl serde::Serialize) -> Response {
    let at = [(header::LOCATION, location(path))];
    (StatusCode::CREATED, at, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NoSettings, Settings};

    /// HEAD answers with GET's header fields: a 404's body names the GET, so its length
    /// is the same (it was one byte longer for "HEAD").
    #[tokio::test]
    async fn a_head_without_a_route_is_answered_as_its_get() {
        let detail = |method: &'static str| async move {
            let req = http::Request::builder()
                .method(method)
                .uri("/api/catalog/nosuch")
                .body(Body::empty())
                .unwrap();
            not_found(req).await.detail.unwrap()
        };
        assert_eq!(detail("HEAD").await, detail("GET").await);
        assert_eq!(
            detail("POST").await,
            "no route for POST /api/catalog/nosuch"
        );
    }

    /// A router of routes that answer, fail bare, panic and hang, behind the standard
    /// middleware, and the metrics it records in. Its timeout, 2 s, cuts off the hanging
    /// route; the others end in microseconds, far from it even on a loaded machine.
    fn standard_router() -> (Router, Metrics) {
        let metrics = Metrics::new("probe");
        let routes = Router::new()
            .route("/ok/{id}", get(|| async { "fine" }))
            .route("/bare", get(|| async { (StatusCode::CONFLICT, "taken") }))
            .route(
                "/panics",
                get(|| async {
                    if true {
                        panic!("a bug");
                    }
                    "never"
                }),
            )
            .route(
                "/hangs",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/echo", axum::routing::post(|body: String| async { body }))
            .route(
                "/echo-late",
                axum::routing::post(|body: String| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    body
                }),
            );
        let standard = Standard {
            metrics: metrics.clone(),
            timeout: Duration::from_secs(2),
            draining: Arc::default(),
        };
        let router = standard.apply(routes, 1024);
        (router, metrics)
    }

    async fn call(router: &Router, req: http::Request<Body>) -> (Response, serde_json::Value) {
        use tower::ServiceExt;
        let res = router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (Response::from_parts(parts, Body::from(bytes)), json)
    }

    fn get_request(path: &str) -> http::Request<Body> {
        http::Request::get(path).body(Body::empty()).unwrap()
    }

    /// Out of time while the handler waits on a body the client stopped sending is the
    /// client's fault (408); out of time with the whole body in hand is the service's (503).
    #[tokio::test]
    async fn a_body_that_stops_coming_is_a_408_a_slow_handler_a_503() {
        let (router, _) = standard_router();
        let stalled = || {
            use futures_util::StreamExt;
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(
                bytes::Bytes::from_static(b"{\"half\": "),
            )]);
            Body::from_stream(first.chain(futures_util::stream::pending()))
        };
        let post = |path: &str, body: Body| http::Request::post(path).body(body).unwrap();
        let (res, problem) = call(&router, post("/echo", stalled())).await;
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT, "{problem}");
        assert_eq!(problem["detail"], "the request body did not arrive in time");

        let (res, problem) = call(&router, post("/echo-late", Body::from("whole"))).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{problem}");

        let (res, _) = call(&router, post("/echo", Body::from("whole"))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_request_keeps_its_callers_id_or_gets_a_new_one_echoed_back() {
        let (router, _) = standard_router();
        let mut req = get_request("/ok/1");
        req.headers_mut().insert(
            REQUEST_ID.clone(),
            HeaderValue::from_static("from-the-caller"),
        );
        let (res, _) = call(&router, req).await;
        assert_eq!(res.headers()[&REQUEST_ID], "from-the-caller");
        assert_eq!(
            res.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "every answer is read as its declared type only"
        );

        // One too long, or not plain text, is replaced, as if none had been sent.
        for odd in [
            "x".repeat(129),
            "two words".to_owned(),
            "caf\u{e9}".to_owned(),
        ] {
            let mut req = get_request("/ok/1");
            let value = HeaderValue::from_bytes(odd.as_bytes()).unwrap();
            req.headers_mut().insert(REQUEST_ID.clone(), value);
            let (res, _) = call(&router, req).await;
            let id = res.headers()[&REQUEST_ID].to_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{odd:?} became {id}");
        }
        let mut req = get_request("/ok/1");
        let longest = "a".repeat(MAX_REQUEST_ID);
        req.headers_mut()
            .insert(REQUEST_ID.clone(), HeaderValue::from_str(&longest).unwrap());
        let (res, _) = call(&router, req).await;
        assert_eq!(res.headers()[&REQUEST_ID], longest.as_str());

        let (first, _) = call(&router, get_request("/ok/1")).await;
        let (second, _) = call(&router, get_request("/ok/2")).await;
        let first = first.headers()[&REQUEST_ID].to_str().unwrap().to_owned();
        let second = second.headers()[&REQUEST_ID].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
        assert_ne!(first, second, "each request its own id");
    }

    #[tokio::test]
    async fn a_panic_a_hang_and_a_bare_error_all_answer_problem_documents() {
        let (router, _) = standard_router();
        let (res, body) = call(&router, get_request("/panics")).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(
            res.headers().contains_key(&REQUEST_ID),
            "a panic's answer has an id too"
        );
        assert_eq!(body["status"], 500);

        let (res, body) = call(&router, get_request("/hangs")).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["detail"], "the request took too long to handle");

        let (res, body) = call(&router, get_request("/bare")).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(body["detail"], "taken");

        let mut post = get_request("/ok/1");
        *post.method_mut() = http::Method::POST;
        let (res, _) = call(&router, post).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(res.headers().contains_key(header::ALLOW));
    }

    #[tokio::test]
    async fn every_answer_is_counted_under_its_route_template_panics_included() {
        let (router, metrics) = standard_router();
        for path in ["/ok/1", "/ok/2", "/panics", "/bare"] {
            call(&router, get_request(path)).await;
        }
        let text = metrics.render();
        let count = |route: &str, status: &str| {
            text.lines()
                .filter(|l| l.starts_with("bazaar_http_requests_total{"))
                .filter(|l| {
                    l.contains(&format!("route=\"{route}\""))
                        && l.contains(&format!("status=\"{status}\""))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .fold(0.0, f64::max)
        };
        assert_eq!(count("/ok/{id}", "200"), 2.0, "{text}");
        assert_eq!(count("/panics", "500"), 1.0, "{text}");
        assert_eq!(count("/bare", "409"), 1.0, "{text}");
    }

    /// A service called "probe" answering `GET /work` with "done", set up further by
    /// `shape`, running: its address, what stops it, and its task to await after that.
    async fn probe(
        shape: impl FnOnce(&mut ServiceBuilder),
    ) -> (
        SocketAddr,
        Shutdown,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        probe_with(&[], shape).await
    }

    /// [`probe`] with `settings` besides its address.
    async fn probe_with(
        settings: &[(&str, &str)],
        shape: impl FnOnce(&mut ServiceBuilder),
    ) -> (
        SocketAddr,
        Shutdown,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let mut all = vec![("listen", "127.0.0.1:0")];
        all.extend_from_slice(settings);
        let settings = Settings::<NoSettings>::for_tests("probe", &all).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        builder.routes(Router::new().route("/work", get(|| async { "done" })));
        shape(&mut builder);
        let service = builder.bind().await.unwrap();
        let addr = service.local_addr();
        let stop = service.shutdown_handle();
        (addr, stop, tokio::spawn(service.run()))
    }

    /// Sends `GET /work` on `tcp`: the answer's text, if one comes within `within`.
    async fn ask(tcp: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tcp.write_all(b"GET /work HTTP/1.1\r\nhost: probe\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0; 1024];
        let n = tokio::time::timeout(within, tcp.read(&mut buf))
            .await
            .ok()?
            .unwrap();
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// What the log says of a failed answer: ERROR for this process's own failures, a
    /// warning for a deliberate "try again" and for a failure relayed from another service.
    #[tokio::test(flavor = "current_thread")]
    async fn only_a_services_own_failures_are_logged_as_errors() {
        let lines = crate::testing::Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _logging = tracing::subscriber::set_default(subscriber);
        let settings =
            Settings::<NoSettings>::for_tests("probe", &[("listen", "127.0.0.1:0")]).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        builder.routes(
            Router::new()
                .route(
                    "/broken",
                    get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
                )
                .route(
                    "/later",
                    get(|| async {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [(header::RETRY_AFTER, "2")],
                        )
                    }),
                )
                .route(
                    "/relayed",
                    get(|| async {
                        // As a service answered it: a problem document.
                        let mut res = crate::Problem::new(
                            StatusCode::BAD_GATEWAY,
                            "upstream-failed",
                            "Bad gateway",
                            "the service behind failed",
                        )
                        .into_response();
                        res.extensions_mut().insert(Relayed);
                        res
                    }),
                ),
        );
        let service = builder.bind().await.unwrap();
        let url = format!("http://{}", service.local_addr());
        let stop = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        let http = reqwest::Client::new();
        for path in ["/broken", "/later", "/relayed"] {
            http.get(format!("{url}{path}")).send().await.unwrap();
        }
        stop.trigger();
        let _ = task.await;
        let said = lines.text();
        let level_of = |status: &str| {
            said.lines()
                .find(|l| l.contains("response failed") && l.contains(&format!("status={status}")))
                .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_owned())
        };
        assert_eq!(level_of("500").as_deref(), Some("ERROR"), "{said}");
        assert_eq!(level_of("503").as_deref(), Some("WARN"), "{said}");
        assert_eq!(level_of("502").as_deref(), Some("WARN"), "{said}");
    }

    #[tokio::test]
    async fn a_draining_service_is_not_ready_but_still_serves() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let settings =
            Settings::<NoSettings>::for_tests("probe", &[("listen", "127.0.0.1:0")]).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        builder.routes(Router::new().route("/work", get(|| async { "done" })));
        let service = builder.bind().await.unwrap();
        let service_addr = service.local_addr();
        let url = format!("http://{service_addr}");
        let draining = service.draining();
        let stop = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        let http = reqwest::Client::new();
        let readiness = async || {
            http.get(format!("{url}/health/ready"))
                .send()
                .await
                .unwrap()
        };
        assert_eq!(readiness().await.status(), StatusCode::OK);
        // A client kept alive from before the drain.
        let mut kept = tokio::net::TcpStream::connect(service_addr).await.unwrap();
        let request = b"GET /work HTTP/1.1\r\nhost: probe\r\n\r\n";
        kept.write_all(request).await.unwrap();
        let mut buf = vec![0; 4096];
        let n = kept.read(&mut buf).await.unwrap();
        let before = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        assert!(
            before.ends_with("done") && !before.contains("connection: close"),
            "{before}"
        );

        draining.store(true, Ordering::SeqCst);
        // Its next answer closes the connection after it: the client knows to reconnect
        // (to whichever replica takes over), and no request of its meets a closed one.
        kept.write_all(request).await.unwrap();
        let mut during = Vec::new();
        let read = kept.read_to_end(&mut during);
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the connection is closed after the answer")
            .unwrap();
        let during = String::from_utf8_lossy(&during).to_lowercase();
        assert!(
            during.contains("connection: close") && during.ends_with("done"),
            "{during}"
        );
        let ready = readiness().await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "draining");
        assert_eq!(body["service"], "probe");
        let work = http.get(format!("{url}/work")).send().await.unwrap();
        assert_eq!(
            work.text().await.unwrap(),
            "done",
            "requests are still served"
        );

        stop.trigger();
        task.await.unwrap().unwrap();
    }

    /// A worker that panics stops its process, as one that fails does, instead of leaving
    /// it up and ready with the work undone.
    #[tokio::test]
    async fn a_worker_that_panics_stops_its_service() {
        let settings =
            Settings::<NoSettings>::for_tests("probe", &[("listen", "127.0.0.1:0")]).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        builder.worker("fragile", async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!("a bug in a worker");
        });
        let service = builder.bind().await.unwrap();
        let ran = tokio::time::timeout(Duration::from_secs(20), service.run())
            .await
            .expect("the service stops by itself");
        let error = format!("{:#}", ran.expect_err("a failure"));
        assert!(
            error.contains("fragile") && error.contains("a bug in a worker"),
            "{error}"
        );
    }

    /// A check that is only reported answers "timed out" after a moment, without holding
    /// the answer (nor the service's readiness) up.
    #[tokio::test]
    async fn a_hanging_optional_check_does_not_hold_readiness_up() {
        let settings =
            Settings::<NoSettings>::for_tests("probe", &[("listen", "127.0.0.1:0")]).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        builder.optional_check("frozen", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        let service = builder.bind().await.unwrap();
        let url = format!("http://{}/health/ready", service.local_addr());
        let stop = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        let asked = Instant::now();
        let ready = reqwest::get(&url).await.unwrap();
        let took = asked.elapsed();
        assert_eq!(ready.status(), StatusCode::OK);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["checks"]["frozen"], "timed out", "{body}");
        // 300 ms by design; a required check would hold it 2 s.
        assert!(took < Duration::from_millis(1_500), "{took:?}");
        stop.trigger();
        task.await.unwrap().unwrap();
    }

    /// The grace period bounds the whole shutdown: a request that never finishes and a
    /// worker that ignores the shutdown are cut off within one grace (and the workers'
    /// moment), not one grace each, so an orchestrator's termination period sized to it
    /// holds (deploy/k8s: preStop, drain delay, one grace).
    #[tokio::test]
    async fn one_grace_period_bounds_requests_and_workers_together() {
        let settings = Settings::<NoSettings>::for_tests(
            "probe",
            &[("listen", "127.0.0.1:0"), ("shutdown_grace_ms", "4000")],
        )
        .unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        builder
            .routes(Router::new().route(
                "/hangs",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            ))
            .worker("stubborn", async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            });
        let service = builder.bind().await.unwrap();
        let url = format!("http://{}/hangs", service.local_addr());
        let stop = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        let hanging = tokio::spawn(async move { reqwest::get(url).await });
        // The request is in flight before the shutdown begins.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let began = Instant::now();
        stop.trigger();
        task.await.unwrap().unwrap();
        let took = began.elapsed();
        hanging.abort();
        // 4 s for the request, then 1 s for the worker: 5 s. One grace each would be 8 s.
        assert!(
            took >= Duration::from_secs(4) && took < Duration::from_millis(7_000),
            "{took:?}"
        );
    }

    /// A connection accepted a moment before the server stops, its request not read yet,
    /// is answered, not closed as idle (a review's new connections to a gateway failed so
    /// during its rolling restarts).
    #[tokio::test]
    async fn a_connection_accepted_just_before_the_stop_is_answered() {
        let (addr, stop, task) = probe_with(&[("drain_delay_ms", "0")], |_| {}).await;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Accepted; then the stop, and the request right after it.
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.trigger();
        let answer = ask(&mut tcp, Duration::from_secs(2)).await;
        assert!(
            answer.as_deref().is_some_and(|a| a.contains("done")),
            "{answer:?}"
        );
        task.await.unwrap().unwrap();
    }

    /// A client that trickles its request's head, or keeps a connection open without
    /// sending anything, is cut off after the idle timeout; one that sends its requests
    /// in time is served, however long the connection lives.
    #[tokio::test]
    async fn slow_heads_and_idle_connections_are_closed_after_the_idle_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, stop, task) = probe(|b| {
            b.idle_timeout(Duration::from_secs(1));
        })
        .await;
        // Reads until the server closes the connection; how long since `since` that took,
        // and what came.
        let until_closed = async |tcp: &mut tokio::net::TcpStream, since: Instant| {
            let mut seen = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut seen)).await;
            assert!(closed.is_ok(), "the connection was not closed");
            (since.elapsed(), String::from_utf8_lossy(&seen).into_owned())
        };

        // Half a head, then nothing. The server's timer starts once it has the
        // connection, after this.
        let connecting = Instant::now();
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /work HTTP/1.1\r\nhost: pro")
            .await
            .unwrap();
        let (after, answer) = until_closed(&mut slow, connecting).await;
        assert!(after >= Duration::from_secs(1), "closed after {after:?}");
        assert!(!answer.contains("done"), "{answer}");

        // Requests 200 ms apart, for longer than the timeout: each is served.
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut last_sent = Instant::now();
        for _ in 0..7 {
            last_sent = Instant::now();
            let answer = ask(&mut busy, Duration::from_secs(5)).await;
            assert!(answer.is_some_and(|a| a.ends_with("done")));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Then idle: closed, with nothing more sent, a timeout after the last answer
        // (whose timer started after this end sent its request).
        let (after, answer) = until_closed(&mut busy, last_sent).await;
        assert!(after >= Duration::from_secs(1), "closed after {after:?}");
        assert_eq!(answer, "");

        stop.trigger();
        task.await.unwrap().unwrap();
    }

    /// A process with a port of its own beside the shared one has one limit for both, and
    /// keeps an eighth of it for its own port: at the limit on the shared port, a check
    /// on its own port is still answered (the supervisor's, which otherwise took a full
    /// gateway for a frozen one and killed it).
    #[tokio::test]
    async fn at_the_limit_on_the_shared_port_the_own_port_still_answers() {
        let shared = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let own = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let own_addr = own.local_addr().unwrap();
        let (addr, stop, task) = probe(|b| {
            b.listener(shared).own_listener(own).max_connections(8);
        })
        .await;
        // Eight places: seven on the shared port, one kept for the own port.
        let mut open = Vec::new();
        for _ in 0..7 {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let answer = ask(&mut tcp, Duration::from_secs(5)).await;
            assert!(answer.is_some_and(|a| a.ends_with("done")));
            open.push(tcp);
        }
        let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut over, Duration::from_millis(300)).await, None);
        let mut check = tokio::net::TcpStream::connect(own_addr).await.unwrap();
        let answer = ask(&mut check, Duration::from_secs(5)).await;
        assert!(
            answer.is_some_and(|a| a.ends_with("done")),
            "the own port answers"
        );

        drop((open, over, check));
        stop.trigger();
        task.await.unwrap().unwrap();
    }

    /// At the connection limit a new connection waits, unserved, until one closes; the
    /// open ones are served as ever.
    #[tokio::test]
    async fn a_connection_over_the_limit_waits_until_one_closes() {
        use tokio::io::AsyncReadExt;
        let (addr, stop, task) = probe(|b| {
            b.max_connections(2);
        })
        .await;
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        for open in [&mut first, &mut second] {
            let answer = ask(open, Duration::from_secs(5)).await;
            assert!(answer.is_some_and(|a| a.ends_with("done")));
        }
        // A third connects (the kernel queues it) but is not served.
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut third, Duration::from_millis(300)).await, None);
        // The open ones still are.
        let answer = ask(&mut first, Duration::from_secs(5)).await;
        assert!(answer.is_some_and(|a| a.ends_with("done")));
        // One closes: the third is taken, and its request, waiting since, answered.
        drop(second);
        let mut buf = vec![0; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
            .await
            .expect("served once a place was free")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("done"));

        drop((first, third));
        stop.trigger();
        task.await.unwrap().unwrap();
    }

    /// A soft limit below the hard one (as a shell's 1,024 often is) is raised to it.
    /// (Nextest runs each test in a process of its own: no other test sees the change.)
    #[test]
    fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let lowered = 256.min(hard);
        setrlimit(Resource::RLIMIT_NOFILE, lowered, hard).unwrap();
        assert_eq!(raise_open_files_limit(), Some(hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let soft = open_files_soft_limit(&limits).map(|n| n as u64);
        assert!(soft.is_none() || soft == Some(hard), "{limits}");
    }

    #[test]
    fn the_default_connection_limit_is_half_the_open_files() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             127533               127533               processes \n\
                      Max open files            20000                524288               files     \n";
        assert_eq!(open_files_soft_limit(limits), Some(20_000));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_files_soft_limit(unlimited), None);
        assert_eq!(open_files_soft_limit("nothing here"), None);
        let max = max_connections();
        assert!((64..=1_000_000).contains(&max), "{max}");
        // A proxy's connections hold two descriptors each: a third of the limit.
        let proxied = max_connections_holding(2);
        assert!(
            proxied < max || proxied == 64 || max == 10_000,
            "{proxied} {max}"
        );
    }

    /// A front for `/front/...`: it echoes the peer and request id it saw, panics, or
    /// answers slowly (saying so in `slow_started` when it begins).
    struct EchoFront {
        slow_started: Arc<tokio::sync::Notify>,
    }

    impl Front for EchoFront {
        fn serves(&self, path: &str) -> bool {
            path.starts_with("/front/")
        }

        fn serve(
            &self,
            req: http::Request<Incoming>,
            peer: SocketAddr,
        ) -> (Option<RouteLabel>, BoxFuture<'static, Response>) {
            let label = RouteLabel("/front".into());
            let id = req.headers().get(&REQUEST_ID).cloned();
            let path = req.uri().path().to_owned();
            let slow_started = self.slow_started.clone();
            let answer = async move {
                match path.as_str() {
                    "/front/panic" => panic!("a bug in front"),
                    "/front/slow" => {
                        slow_started.notify_one();
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        "slow, but served".into_response()
                    }
                    _ => Json(serde_json::json!({
                        "peer": peer.ip().to_string(),
                        "id": id.as_ref().and_then(|v| v.to_str().ok()),
                    }))
                    .into_response(),
                }
            };
            (Some(label), Box::pin(answer))
        }
    }

    #[tokio::test]
    async fn a_front_serves_its_paths_with_the_standard_treatment_and_the_router_the_rest() {
        let settings =
            Settings::<NoSettings>::for_tests("probe", &[("listen", "127.0.0.1:0")]).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        let slow_started = Arc::new(tokio::sync::Notify::new());
        builder
            .routes(Router::new().route("/work", get(|| async { "done" })))
            .front(EchoFront {
                slow_started: slow_started.clone(),
            });
        let metrics = builder.metrics().clone();
        let service = builder.bind().await.unwrap();
        let url = format!("http://{}", service.local_addr());
        let stop = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        let http = reqwest::Client::new();

        let echoed = http.get(format!("{url}/front/echo")).send().await.unwrap();
        assert_eq!(echoed.status(), StatusCode::OK);
        let id = echoed.headers()[&REQUEST_ID].to_str().unwrap().to_owned();
        let body: serde_json::Value = echoed.json().await.unwrap();
        assert_eq!(body["peer"], "127.0.0.1");
        assert_eq!(
            body["id"],
            id.as_str(),
            "the front sees the id the caller gets back"
        );

        let panicked = http.get(format!("{url}/front/panic")).send().await.unwrap();
        assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            panicked.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(panicked.headers().contains_key(&REQUEST_ID));

        let routed = http.get(format!("{url}/work")).send().await.unwrap();
        assert_eq!(
            routed.text().await.unwrap(),
            "done",
            "the router serves the rest"
        );
        let ready = http
            .get(format!("{url}/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK);

        let text = metrics.render();
        for status in ["200", "500"] {
            assert!(
                text.lines().any(|l| l.contains("route=\"/front\"")
                    && l.contains(&format!("status=\"{status}\""))),
                "front answers counted under their label, {status} included:\n{text}"
            );
        }

        // Shutdown stops accepting, but lets a request in flight finish.
        let slow = tokio::spawn({
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(format!("{url}/front/slow")).send().await }
        });
        // Stopped once the request is being served, however busy the machine.
        slow_started.notified().await;
        stop.trigger();
        let slow = slow.await.unwrap().unwrap();
        assert_eq!(slow.status(), StatusCode::OK);
        assert_eq!(slow.text().await.unwrap(), "slow, but served");
        task.await.unwrap().unwrap();
        assert!(
            http.get(format!("{url}/work")).send().await.is_err(),
            "a stopped service accepts nothing"
        );
    }

    #[test]
    fn the_operators_network_is_loopback_and_private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_operators_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "203.0.113.9",
            "8.8.8.8",
            "172.32.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_operators_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn metrics_and_the_reasons_for_unreadiness_are_for_the_operators_network_only() {
        let settings =
            Settings::<NoSettings>::for_tests("probe", &[("listen", "127.0.0.1:0")]).unwrap();
        let mut builder = Service::builder("probe", &settings.common);
        let checks_run = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = checks_run.clone();
        builder.check("database", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err("cannot reach postgres://10.0.0.5:5432/probe".to_owned()) }
        });
        let service = builder.bind().await.unwrap();
        let url = format!("http://{}", service.local_addr());
        let stop = service.shutdown_handle();
        let task = tokio::spawn(service.run());
        let http = reqwest::Client::new();
        // A GET from loopback, or forwarded by a proxy with this header.
        let get = async |path: &str, forwarded: Option<(&str, &str)>| {
            let mut request = http.get(format!("{url}{path}"));
            if let Some((name, value)) = forwarded {
                request = request.header(name, value);
            }
            request.send().await.unwrap()
        };

        // The probes answer as every route does: with a request id, and a problem for a
        // method they do not take (a bare 405 before: the HTTP review).
        let live = get("/health/live", None).await;
        assert!(live.headers().contains_key("x-request-id"));
        assert_eq!(live.headers()["x-content-type-options"], "nosniff");
        let posted = http
            .post(format!("{url}/health/live"))
            .header("x-request-id", "probe-1")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(posted.headers()["x-request-id"], "probe-1");
        assert!(
            posted.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        // Straight from loopback: the operator's view.
        assert_eq!(get("/metrics", None).await.status(), StatusCode::OK);
        let ready: serde_json::Value = get("/health/ready", None).await.json().await.unwrap();
        assert_eq!(
            ready["checks"]["database"],
            "cannot reach postgres://10.0.0.5:5432/probe"
        );

        // Forwarded by a proxy (the gateway, an ingress): neither.
        for forwarded in [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ] {
            let metrics = get("/metrics", Some(forwarded)).await;
            assert_eq!(metrics.status(), StatusCode::FORBIDDEN, "{forwarded:?}");
            let ready = get("/health/ready", Some(forwarded)).await;
            assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body: serde_json::Value = ready.json().await.unwrap();
            assert_eq!(body["checks"]["database"], "failing", "{forwarded:?}");
            assert!(!body.to_string().contains("10.0.0.5"), "{body}");
        }
        // Asks from outside at once share one run of the checks at most (none, when the
        // last answer is still fresh): however slow the machine, it is never one each.
        let before = checks_run.load(Ordering::SeqCst);
        let outside = Some(("x-forwarded-for", "203.0.113.9"));
        futures_util::future::join_all((0..5).map(|_| get("/health/ready", outside))).await;
        let runs = checks_run.load(Ordering::SeqCst) - before;
        assert!(
            runs <= 1,
            "five forwarded asks at once ran the checks {runs} times"
        );
        let before = checks_run.load(Ordering::SeqCst);
        get("/health/ready", None).await;
        assert_eq!(
            checks_run.load(Ordering::SeqCst) - before,
            1,
            "the operator's network gets a fresh answer"
        );

        stop.trigger();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn heads_hyper_cannot_parse_are_refused_with_problem_documents() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, stop, task) = probe(|_| {}).await;
        // Sends `request` on a connection of its own and reads until the server closes it.
        let exchange = async |request: Vec<u8>| {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(&request).await.unwrap();
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer).await.unwrap();
            String::from_utf8(answer).unwrap()
        };
        let many_headers: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
        let long_target = "a".repeat(70_000);
        let large_header = "v".repeat(refusals::MAX_HEAD_BYTES);
        let cases = [
            (
                b"GET /work HTTP/1.1\r\nhost x\r\n\r\n".to_vec(),
                400,
                "bad-request",
            ),
            (b"GET /work HTTP/9.7\r\n\r\n".to_vec(), 400, "bad-request"),
            (
                format!("GET /work?q={long_target} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(),
                414,
                "uri-too-long",
            ),
            (
                format!("GET /work HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n").into_bytes(),
                431,
                "request-header-fields-too-large",
            ),
            (
                format!("GET /work HTTP/1.1\r\nhost: x\r\nx-large: {large_header}\r\n\r\n")
                    .into_bytes(),
                431,
                "request-header-fields-too-large",
            ),
        ];
        for (request, status, kind) in cases {
            let answer = exchange(request).await;
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            assert!(
                head.contains("content-type: application/problem+json"),
                "{head}"
            );
            let problem: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(problem["status"], status, "{body}");
            assert_eq!(
                problem["type"],
                format!("urn:bazaar:problem:{kind}"),
                "{body}"
            );
        }

        // A good request and a bad one on one connection: the first is answered as ever.
        let answer = exchange(
            b"GET /work HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost x\r\n\r\n".to_vec(),
        )
        .await;
        let (first, rest) = answer.split_once("\r\n\r\n").unwrap();
        assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
        let rest = rest.strip_prefix("done").unwrap();
        assert!(rest.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{rest}");
        assert!(rest.contains("urn:bazaar:problem:bad-request"), "{rest}");

        stop.trigger();
        task.await.unwrap().unwrap();
    }
}
