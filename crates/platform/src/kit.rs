//! The service kit: what a service's `build` is handed and gives back. A service declares
//! what it needs — its database and migrations, its API and OpenAPI document, its
//! workers — and the kit wires the rest the same way for every service: settings, the
//! token verifier, service credentials, readiness checks, metrics, the standard problem
//! responses of its OpenAPI document, shutdown. The events crate adds the producer and
//! the consumers (`events::EventsKit`).
//!
//! ```ignore
//! pub const SERVICE: ServiceDef = ServiceDef { name: "cart", build: |l| Box::pin(l.start(build)), .. };
//!
//! async fn build(mut kit: Kit<Config>) -> anyhow::Result<Service> {
//!     let db = kit.database(&store::migrations()).await?;
//!     kit.api(routes::router(AppState { store: Store::new(db), verifier: kit.verifier() }));
//!     kit.bind().await
//! }
//! ```

use crate::{
    auth::{ServiceCredentials, Verifier},
    balance::Balancer,
    client::ServiceClient,
    config::{CommonSettings, Directory, ServiceSettings, Settings},
    db::{Db, MigrationSource},
    metrics::Metrics,
    registry::{IDENTITY, Registry, ServiceDef},
    service::{Service, ServiceBuilder},
    shutdown::Shutdown,
};
use anyhow::Context;
use axum::Router;
use std::{future::Future, sync::OnceLock, time::Duration};
use utoipa_axum::router::OpenApiRouter;

/// The service secret of services started for tests ([`Launch::for_tests`]): their
/// consumers need service tokens to read their producers' feeds, from a test identity
/// that knows the same secret.
pub const TEST_SERVICE_SECRET: &str = "test-only-service-secret-of-32-characters-or-more";

/// How long a call to identity for keys or a service token may take.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(3);

/// How a service is to be started: which one, among which others, and where its settings
/// come from.
#[derive(Debug, Clone)]
pub struct Launch {
    def: &'static ServiceDef,
    registry: Registry,
    /// `None`: defaults, `BAZAAR_CONFIG`, then the environment. `Some`: defaults and these
    /// `(key, value)` pairs only (tests).
    overrides: Option<Vec<(String, String)>>,
    /// A socket bound beforehand (tests that must know every address before anything
    /// starts, without racing other processes for the port).
    listener: Option<std::sync::Arc<std::net::TcpListener>>,
}

impl Launch {
    /// The service `def` of `registry`, configured by the environment (`bazaar serve`).
    pub fn new(def: &'static ServiceDef, registry: Registry) -> Self {
        Self {
            def,
            registry,
            overrides: None,
            listener: None,
        }
    }

    /// The service `def`, configured by defaults, the [`TEST_SERVICE_SECRET`] and
    /// `overrides` only, so that the test process's environment does not leak in.
    pub fn for_tests(def: &'static ServiceDef, overrides: &[(&str, &str)]) -> Self {
        let secret = ("service_secret", TEST_SERVICE_SECRET);
        Self {
            def,
            registry: Registry::EMPTY,
            overrides: Some(
                std::iter::once(&secret)
                    .chain(overrides)
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            listener: None,
        }
    }

    /// The same launch serving on `listener`, bound beforehand, instead of binding the
    /// `listen` setting.
    pub fn listening_on(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(std::sync::Arc::new(listener));
        self
    }

    /// The same launch among the services of `registry`.
    pub fn in_registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Loads the settings and builds the service with `build`.
    pub async fn start<S, F, Fut>(self, build: F) -> anyhow::Result<Service>
    where
        S: ServiceSettings,
        F: FnOnce(Kit<S>) -> Fut,
        Fut: Future<Output = anyhow::Result<Service>>,
    {
        let name = self.def.name;
        let settings = match &self.overrides {
            None => Settings::<S>::load(name, self.registry)?,
            Some(o) => {
                let pairs: Vec<(&str, &str)> =
                    o.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                Settings::<S>::for_tests_in(self.registry, name, &pairs)?
            }
        };
        let mut kit = Kit::new(self.def, settings);
        if let Some(listener) = &self.listener {
            kit.builder.listener(listener.try_clone()?);
        }
        build(kit)
            .await
            .map_err(|e| e.context(format!("{name} failed to start")))
    }

    /// Builds the service: [`ServiceDef::build`] of this launch.
    pub async fn build(self) -> anyhow::Result<Service> {
        (self.def.build)(self).await
    }
}

/// A service being assembled. See the module documentation.
pub struct Kit<S> {
    def: &'static ServiceDef,
    settings: Settings<S>,
    builder: ServiceBuilder,
    api: Option<OpenApiRouter>,
    /// Documented routes the kit's extensions add (dead letters), merged after the
    /// service's own so that its document keeps its title and description.
    added_api: Vec<OpenApiRouter>,
    verifier: OnceLock<Verifier>,
    credentials: OnceLock<ServiceCredentials>,
    balancers: std::sync::Mutex<std::collections::HashMap<String, Balancer>>,
    extensions: http::Extensions,
}

impl<S> Kit<S> {
    fn new(def: &'static ServiceDef, settings: Settings<S>) -> Self {
        let builder = Service::builder(def.name, &settings.common);
        Self {
            def,
            settings,
            builder,
            api: None,
            added_api: Vec::new(),
            verifier: OnceLock::new(),
            credentials: OnceLock::new(),
            balancers: Default::default(),
            extensions: http::Extensions::new(),
        }
    }

    /// What the service says of itself.
    pub fn def(&self) -> &'static ServiceDef {
        self.def
    }

    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// The service's own settings.
    pub fn own(&self) -> &S {
        &self.settings.own
    }

    /// The settings every service has.
    pub fn common(&self) -> &CommonSettings {
        &self.settings.common
    }

    pub fn settings(&self) -> &Settings<S> {
        &self.settings
    }

    /// Where the other services are.
    pub fn directory(&self) -> &Directory {
        &self.settings.directory
    }

    /// The services of the shop.
    pub fn registry(&self) -> Registry {
        self.settings.directory.registry()
    }

    /// The trigger that stops the service and its workers.
    pub fn shutdown(&self) -> Shutdown {
        self.builder.shutdown()
    }

    /// The service's metrics registry, for metrics of its own.
    pub fn metrics(&self) -> &Metrics {
        self.builder.metrics()
    }

    /// The balancer over `service`'s replicas, made once and shared by every client of
    /// it in this process.
    pub fn balancer(&self, service: &str) -> Balancer {
        let mut known = self.balancers.lock().unwrap_or_else(|e| e.into_inner());
        known
            .entry(service.to_owned())
            .or_insert_with(|| {
                let probes = crate::client::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .build()
                    .unwrap_or_default();
                Balancer::new(
                    service,
                    self.directory().endpoints(service),
                    self.settings.common.balance(),
                    probes,
                )
            })
            .clone()
    }

    /// A client of `service`'s replicas, each try bounded by `timeout`.
    pub fn client(&self, service: &str, timeout: Duration) -> anyhow::Result<ServiceClient> {
        let http = crate::client::builder().timeout(timeout).build()?;
        Ok(ServiceClient::new(self.balancer(service), http))
    }

    /// A client of identity's replicas for keys and tokens.
    fn identity(&self) -> ServiceClient {
        let http = crate::client::builder()
            .timeout(IDENTITY_TIMEOUT)
            .build()
            .unwrap_or_default();
        ServiceClient::new(self.balancer(IDENTITY), http)
    }

    /// Verifies bearer tokens against identity's keys (made once, shared).
    pub fn verifier(&self) -> Verifier {
        self.verifier
            .get_or_init(|| {
                let common = &self.settings.common;
                Verifier::new(
                    self.identity(),
                    &common.token_issuer,
                    &common.token_audience,
                )
            })
            .clone()
    }

    /// Makes `verifier` the one [`Kit::verifier`] gives: identity's, which trusts its own
    /// keys rather than fetching them from itself. Call it before anything asks.
    pub fn use_verifier(&mut self, verifier: Verifier) -> &mut Self {
        if self.verifier.set(verifier).is_err() {
            tracing::warn!("the verifier was in use already; keeping it");
        }
        self
    }

    /// This service's credentials for calling other services (made once, shared).
    pub fn credentials(&self) -> ServiceCredentials {
        self.credentials
            .get_or_init(|| {
                ServiceCredentials::from_identity(
                    self.def.name,
                    self.identity(),
                    self.settings.common.service_secret.clone(),
                )
            })
            .clone()
    }

    /// Opens (creating if missing) the service's database and applies `migrations`; the
    /// database becomes a readiness check and is closed at shutdown.
    pub async fn database(&mut self, migrations: &[MigrationSource]) -> anyhow::Result<Db> {
        let common = &self.settings.common;
        let db = Db::connect_with(
            &common.database_url,
            migrations,
            common.database_pool,
            common.sqlite_synchronous,
        )
        .await
        .with_context(|| format!("could not open the {} database", self.def.name))?;
        self.modify(|b| b.database(&db));
        Ok(db)
    }

    /// Adds documented routes: their handlers and their part of the OpenAPI document.
    pub fn api(&mut self, router: OpenApiRouter) -> &mut Self {
        self.api = Some(match self.api.take() {
            Some(api) => api.merge(router),
            None => router,
        });
        self
    }

    /// Adds documented routes on behalf of a kit extension (the events crate's dead
    /// letters): they join the service's own document.
    pub fn added_api(&mut self, router: OpenApiRouter) -> &mut Self {
        self.added_api.push(router);
        self
    }

    /// Adds routes left out of the OpenAPI document (internal ones).
    pub fn routes(&mut self, router: Router) -> &mut Self {
        self.modify(|b| b.routes(router))
    }

    /// Adds a background worker, given the shutdown trigger it must return on.
    pub fn worker<F, Fut>(&mut self, name: &str, worker: F) -> &mut Self
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let fut = worker(self.shutdown());
        self.modify(|b| b.worker(name, fut))
    }

    /// Serves at most `max` connections at once
    /// ([`crate::service::max_connections`] unless set).
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.modify(|b| b.max_connections(max))
    }

    /// Adds a readiness check, reported by name at `/health/ready`.
    pub fn check<F, Fut>(&mut self, name: &str, check: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.modify(|b| b.check(name, check))
    }

    /// Adds a check reported at `/health/ready` that never makes the service unready.
    pub fn optional_check<F, Fut>(&mut self, name: &str, check: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.modify(|b| b.optional_check(name, check))
    }

    /// What answers requests no route matches (by default a 404 problem).
    pub fn fallback(&mut self, router: Router) -> &mut Self {
        self.modify(|b| b.fallback(router))
    }

    /// What serves some requests ahead of the router, straight from the connection (the
    /// gateway's forwarding; see [`crate::service::Front`]).
    pub fn front(&mut self, front: impl crate::service::Front) -> &mut Self {
        self.modify(|b| b.front(front))
    }

    /// Values other crates' kit extensions keep (the events crate's producer).
    pub fn extensions(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    fn modify(&mut self, f: impl FnOnce(&mut ServiceBuilder) -> &mut ServiceBuilder) -> &mut Self {
        f(&mut self.builder);
        self
    }

    /// Binds the listener and assembles the service. Its OpenAPI document gets the
    /// problem responses every operation shares.
    pub async fn bind(self) -> anyhow::Result<Service> {
        let mut builder = self.builder;
        // A service that verifies tokens has identity's keys from its start, not from its
        // first signed-in request: identity may be gone by then.
        if let Some(verifier) = self.verifier.get().cloned() {
            let stop = builder.shutdown();
            builder.worker("identity keys", async move {
                verifier.warm(stop).await;
                Ok(())
            });
        }
        // A service that calls others as itself learns at its start whether identity takes
        // its key, and is not ready while it cannot (see `ServiceCredentials::check`).
        if let Some(credentials) = self.credentials.get().cloned() {
            let stop = builder.shutdown();
            let warmed = credentials.clone();
            builder
                .check("service_token", move || {
                    std::future::ready(credentials.check())
                })
                .worker("service token", async move {
                    warmed.warm(stop).await;
                    Ok(())
                });
        }
        let mut added = self.added_api.into_iter();
        let api = self.api.or_else(|| added.next());
        if let Some(api) = api {
            let (router, mut doc) = added.fold(api, OpenApiRouter::merge).split_for_parts();
            crate::openapi::add_standard_problems(&mut doc);
            crate::openapi::optional_bodies_not_null(&mut doc);
            let public = crate::openapi::public(&doc, self.def);
            builder.routes(router).openapi(doc).public_openapi(public);
        }
        builder.bind().await
    }
}
