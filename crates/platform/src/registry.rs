//! The shop's services as data. Each service crate describes itself in a [`ServiceDef`]
//! (its name, the events it publishes and takes, whom it calls, how the gateway exposes
//! its paths, how it is built); the binary lists them in a [`Registry`] of [`Entry`] rows
//! (port, start level, whether the shop's readiness needs it). Everything that needs the
//! list of services — `bazaar serve`, the supervisor, the gateway, the ops console, the
//! tests, the docs — reads it from there, so adding a service is a crate plus one row.

use crate::service::Service;
use futures_util::future::BoxFuture;

/// What a consuming service takes from one producer.
#[derive(Debug, Clone, Copy)]
pub struct Subscription {
    /// The producing service (`catalog`).
    pub producer: &'static str,
    /// The event types taken from it (`bazaar.catalog.product.created.v1`).
    pub types: &'static [&'static str],
}

/// Who may call a path through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (a token, when present, is still verified).
    Public,
    /// Anyone, and no bearer token is looked at: the request carries its credentials in
    /// its body (signing in, registering, refreshing a token) or needs none (the token
    /// keys). A token sent along anyway, expired as it may be, is neither verified nor
    /// forwarded, so a client that sends its access token with every request can still
    /// refresh it.
    Anonymous,
    /// Only a request with a valid bearer token.
    SignedIn,
    /// Anyone may read (GET, HEAD, OPTIONS); writing (POST, PUT, PATCH, DELETE) needs a
    /// valid bearer token. Any other method reaches the service, which refuses it (405).
    SignedInToWrite,
    /// Only Bazaar's own services, calling directly: the gateway does not route it at all.
    Internal,
}

/// How the gateway treats the paths under one prefix of a service's public paths.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// A path under `/api/<service>`: `""` is every path of the service, `"/me"` is
    /// `/api/<service>/me` and everything below it. The first matching route applies;
    /// paths no route matches are [`Access::Public`].
    pub prefix: &'static str,
    pub access: Access,
    /// How long the upstream may take to answer, when it is not the gateway's default.
    pub timeout_ms: Option<u64>,
    /// Whether the service answers a POST here that repeats an `Idempotency-Key` with the
    /// first one's outcome, without acting twice: only then may the gateway send such a
    /// POST to another replica after a connection broke under it.
    pub idempotency_key: bool,
    /// Cookies that keep one client's calls on one replica: the gateway hashes the value
    /// of the first of them a request carries over the service's replicas (see
    /// [`crate::balance::Balancer::pick_affine`]). For work a replica does once for a
    /// client, such as the storefront spending a session's refresh token once for all
    /// the requests of a browser that find its access token expired.
    pub affinity_cookies: &'static [&'static str],
}

impl Route {
    pub const fn new(prefix: &'static str, access: Access) -> Self {
        Self {
            prefix,
            access,
            timeout_ms: None,
            idempotency_key: false,
            affinity_cookies: &[],
        }
    }

    /// The same route, a client's calls kept on one replica by these cookies (see
    /// [`Route::affinity_cookies`]).
    pub const fn affinity_by_cookies(mut self, names: &'static [&'static str]) -> Self {
        self.affinity_cookies = names;
        self
    }

    /// The same route, declared to honour `Idempotency-Key` (see [`Route::idempotency_key`]).
    pub const fn honours_idempotency_key(mut self) -> Self {
        self.idempotency_key = true;
        self
    }

    /// The same route with a timeout of its own.
    pub const fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Whether this route covers `rest`, the part of a path after `/api/<service>`.
    pub fn covers(&self, rest: &str) -> bool {
        match rest.strip_prefix(self.prefix) {
            Some(after) => after.is_empty() || after.starts_with('/'),
            None => false,
        }
    }
}

/// Starts a service: loads its settings the way [`Launch`] says and builds it.
pub type Build = fn(crate::kit::Launch) -> BoxFuture<'static, anyhow::Result<Service>>;

/// A setting of a service, as an operator sets it: `BAZAAR_<KEY>` and its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub default: serde_json::Value,
}

/// What a service says about itself, in its own crate (`pub const SERVICE`).
pub struct ServiceDef {
    /// The service's name: its `bazaar serve` argument, its `/api/<name>` prefix, the
    /// prefix of its metrics and the name of its database.
    pub name: &'static str,
    /// One line on what it is for.
    pub about: &'static str,
    /// Whether it keeps a database of its own.
    pub database: bool,
    /// The event types it publishes through its outbox (none: it has no outbox).
    pub publishes: &'static [&'static str],
    /// The events it takes from other services (none: it consumes nothing).
    pub subscriptions: &'static [Subscription],
    /// Whether its data is a read model derived only from events, which each replica
    /// keeps a copy of and can rebuild by replaying them (search, recommendations).
    pub read_model: bool,
    /// The services it calls over HTTP while serving (identity's keys not counted: every
    /// service verifies tokens).
    pub calls: &'static [&'static str],
    /// How the gateway exposes its paths under `/api/<name>`.
    pub routes: &'static [Route],
    /// Builds it: `|launch| Box::pin(launch.start(build))`.
    pub build: Build,
    /// Its settings beyond the common ones: `platform::config::variables::<Config>`.
    pub settings: fn() -> Vec<Variable>,
}

impl std::fmt::Debug for ServiceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDef")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ServiceDef {
    /// The access rule and timeout of `rest`, the part of a path after `/api/<name>`.
    pub fn route(&self, rest: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.covers(rest))
    }

    /// The producers it reads, each once, in name order.
    pub fn producers(&self) -> Vec<&'static str> {
        let mut producers: Vec<&str> = self.subscriptions.iter().map(|s| s.producer).collect();
        producers.sort_unstable();
        producers.dedup();
        producers
    }

    /// Every event type it takes.
    pub fn consumed_types(&self) -> Vec<&'static str> {
        self.subscriptions
            .iter()
            .flat_map(|s| s.types.iter().copied())
            .collect()
    }
}

/// Whether the shop is ready without a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The gateway is not ready while this service is not.
    Required,
    /// The shop degrades without it: reported, never making the gateway unready.
    Optional,
}

/// A service's place in the shop: its default port, when it starts, and whether the shop
/// needs it to be ready.
#[derive(Debug)]
pub struct Entry {
    pub def: &'static ServiceDef,
    /// Where it listens by default (`bazaar up` with its default `--port 8080`).
    pub port: u16,
    /// Services start level by level, each level once the one before is ready.
    pub level: u8,
    pub readiness: Readiness,
}

impl Entry {
    pub fn name(&self) -> &'static str {
        self.def.name
    }
}

/// The services of the shop, in start-up order. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    entries: &'static [Entry],
}

/// The service whose address is the shop's.
pub const GATEWAY: &str = "gateway";
/// The service every other verifies tokens with.
pub const IDENTITY: &str = "identity";

impl Registry {
    pub const fn new(entries: &'static [Entry]) -> Self {
        Self { entries }
    }

    /// A registry of no services: what a service built alone in a test sees.
    pub const EMPTY: Registry = Registry { entries: &[] };

    pub fn entries(&self) -> &'static [Entry] {
        self.entries
    }

    pub fn get(&self, name: &str) -> Option<&'static Entry> {
        self.entries.iter().find(|e| e.def.name == name)
    }

    /// Every service's name, in start-up order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.def.name)
    }

    /// The services that publish events (each has an outbox and a log).
    pub fn producers(&self) -> impl Iterator<Item = &'static Entry> + '_ {
        self.entries.iter().filter(|e| !e.def.publishes.is_empty())
    }

    /// The services that consume events (each has a queue or read positions).
    pub fn consumers(&self) -> impl Iterator<Item = &'static Entry> + '_ {
        self.entries
            .iter()
            .filter(|e| !e.def.subscriptions.is_empty())
    }

    /// The services the gateway forwards to: all but itself.
    pub fn upstreams(&self) -> impl Iterator<Item = &'static Entry> + '_ {
        self.entries.iter().filter(|e| e.def.name != GATEWAY)
    }

    /// The start levels in order, each with its services.
    pub fn levels(&self) -> Vec<Vec<&'static Entry>> {
        let mut levels: Vec<u8> = self.entries.iter().map(|e| e.level).collect();
        levels.sort_unstable();
        levels.dedup();
        levels
            .into_iter()
            .map(|l| self.entries.iter().filter(|e| e.level == l).collect())
            .collect()
    }

    /// What is wrong with the registry: duplicate names or ports, a subscription or call
    /// naming a service that is not in it, an event taken from a service that does not
    /// publish it.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            for other in &self.entries[..i] {
                if other.def.name == e.def.name {
                    problems.push(format!("`{}` is registered twice", e.def.name));
                }
                if other.port == e.port {
                    problems.push(format!(
                        "`{}` and `{}` share port {}",
                        other.def.name, e.def.name, e.port
                    ));
                }
            }
            for producer in e.def.producers() {
                match self.get(producer) {
                    None => problems.push(format!(
                        "`{}` subscribes to `{producer}`, which is not registered",
                        e.def.name
                    )),
                    Some(p) => {
                        for t in e.def.consumed_types() {
                            let from_p = e
                                .def
                                .subscriptions
                                .iter()
                                .any(|s| s.producer == producer && s.types.contains(&t));
                            if from_p && !p.def.publishes.contains(&t) {
                                problems.push(format!(
                                    "`{}` takes `{t}` from `{producer}`, which does not publish it",
                                    e.def.name
                                ));
                            }
                        }
                    }
                }
            }
            for callee in e.def.calls {
                if self.get(callee).is_none() {
                    problems.push(format!(
                        "`{}` calls `{callee}`, which is not registered",
                        e.def.name
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cover_their_prefix_and_below_only() {
        let me = Route::new("/me", Access::SignedIn);
        assert!(me.covers("/me"));
        assert!(me.covers("/me/orders"));
        assert!(!me.covers("/members"));
        assert!(!me.covers(""));
        let all = Route::new("", Access::SignedIn);
        assert!(all.covers(""));
        assert!(all.covers("/x"));
        assert_eq!(
            Route::new("/a", Access::Public).timeout_ms(9).timeout_ms,
            Some(9)
        );
    }
}
