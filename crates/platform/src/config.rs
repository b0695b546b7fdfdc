//! Typed configuration: defaults, then an optional TOML file, then environment variables.
//!
//! Every variable has the prefix `BAZAAR_`; keys are the field names in upper case
//! (`BAZAAR_DATABASE_URL` sets `database_url`). `BAZAAR_CONFIG` names a TOML file whose
//! keys are the same field names. All problems are reported together at start-up.

use crate::discovery::{Discovery, Endpoints, Source};
use crate::{
    registry::{Registry, Variable},
    telemetry::LogFormat,
};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::{collections::BTreeMap, fmt, net::SocketAddr, path::PathBuf, time::Duration};

/// The environment-variable prefix of every setting.
pub const ENV_PREFIX: &str = "BAZAAR_";

/// How long a request may take by default (`BAZAAR_REQUEST_TIMEOUT_MS`), in ms.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;
/// The longest a duration setting may be (10 minutes); the drain delay's (1 minute), and
/// the outbox's retention (10 years).
pub const MAX_DURATION_MS: u64 = 600_000;
const MAX_DRAIN_DELAY_MS: u64 = 60_000;
const MAX_RETENTION_HOURS: u64 = 10 * 365 * 24;
/// The default of `BAZAAR_SHUTDOWN_GRACE_MS`: longer than a request may take, so that one
/// accepted just before a drain stops taking requests is answered, if only by its own
/// timeout, before the shutdown drops it (with 10 s, an upload that took 13 s through a
/// draining gateway got no answer at all: the gateway-restarts review).
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = DEFAULT_REQUEST_TIMEOUT_MS + 2_000;

/// Settings every service has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommonSettings {
    /// Address the HTTP server binds (`BAZAAR_LISTEN`); port 0 picks a free one.
    pub listen: SocketAddr,
    /// This service's own database (`BAZAAR_DATABASE_URL`): `sqlite://PATH` or
    /// `postgres://...`.
    pub database_url: String,
    /// Most connections this process holds to its database (`BAZAAR_DATABASE_POOL`).
    /// PostgreSQL admits 100 clients by default: services sharing one server (`bazaar up
    /// --database`, or replicas) must fit in that together.
    pub database_pool: u32,
    /// When a SQLite commit is on disk (`BAZAAR_SQLITE_SYNCHRONOUS`): `full` (the default:
    /// before it is answered) or `normal` (at checkpoints: faster, but a power cut may
    /// lose the last commits).
    pub sqlite_synchronous: crate::db::Synchronous,
    /// Log filter in `RUST_LOG` syntax (`BAZAAR_LOG`).
    pub log: String,
    /// `text` or `json` (`BAZAAR_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes (`BAZAAR_BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// Longest a request may take before it is answered 503 (`BAZAAR_REQUEST_TIMEOUT_MS`).
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests (`BAZAAR_SHUTDOWN_GRACE_MS`).
    pub shutdown_grace_ms: u64,
    /// How long a service asked to drain (SIGTERM) keeps serving, not ready, while its
    /// callers move to other replicas, before it stops taking requests
    /// (`BAZAAR_DRAIN_DELAY_MS`).
    pub drain_delay_ms: u64,
    /// For a read model's replica that a rolling restart started to replace another, the
    /// database of the copy it replaces (`BAZAAR_PREDECESSOR_DATABASE`, set by `bazaar up`):
    /// the new copy keeps the events an admin discarded there discarded.
    pub predecessor_database: Option<String>,
    /// `iss` of the tokens identity issues and every service accepts (`BAZAAR_TOKEN_ISSUER`).
    pub token_issuer: String,
    /// `aud` of those tokens (`BAZAAR_TOKEN_AUDIENCE`).
    pub token_audience: String,
    /// How events travel between services (`BAZAAR_BROKER`): `embedded` (consumers read
    /// each producer's outbox over HTTP; nothing to install) or an `amqp://` URL (RabbitMQ).
    pub broker: String,
    /// Prefix of the broker's exchange and queue names (`BAZAAR_EVENTS_NAMESPACE`), so
    /// several shops (or test runs) can share one broker.
    pub events_namespace: String,
    /// Attempts a consumer makes at an event before it goes to the dead-letter store
    /// (`BAZAAR_EVENT_MAX_ATTEMPTS`).
    pub event_max_attempts: u32,
    /// How long a producer keeps an event in its outbox at least
    /// (`BAZAAR_OUTBOX_RETENTION_HOURS`); past it, an event every subscriber has goes,
    /// unless a read model takes its type (those are kept for good).
    pub outbox_retention_hours: u64,
    /// Whether a consuming service reports ready only once it has applied what its
    /// producers had when it started (`BAZAAR_READY_AFTER_CATCH_UP`, default `true`).
    /// `false` lets it take requests while a large backlog is still arriving.
    pub ready_after_catch_up: bool,
    /// The secret services present to identity to get a service token for calling each
    /// other (`BAZAAR_SERVICE_SECRET`). `bazaar up` makes a random one per run; in a
    /// cluster it is a shared secret. Empty: no service tokens are issued.
    pub service_secret: Secret,
    /// The supervisor's directory of every service's ready replicas
    /// (`BAZAAR_DIRECTORY_FILE`, set by `bazaar up`): followed as it changes, and
    /// preferred to the `BAZAAR_<NAME>_URL` settings.
    pub directory_file: Option<PathBuf>,
    /// How often a service URL's DNS name is resolved again, so that replicas coming and
    /// going (a Kubernetes headless Service) are followed (`BAZAAR_DNS_REFRESH_MS`).
    pub dns_refresh_ms: u64,
    /// How calls pick a replica of the service they go to (`BAZAAR_BALANCE`):
    /// `least-outstanding` (the power of two choices over requests in flight) or
    /// `peak-ewma` (over latency × requests in flight).
    pub balance: crate::balance::Policy,
    /// Consecutive failures that take a replica out of a caller's rotation
    /// (`BAZAAR_BREAKER_FAILURES`).
    pub breaker_failures: u32,
    /// How long a replica stays out before one trial call (`BAZAAR_BREAKER_OPEN_MS`).
    pub breaker_open_ms: u64,
    /// How often callers probe each replica's readiness (`BAZAAR_PROBE_INTERVAL_MS`); two
    /// failed probes in a row take it out until one succeeds. 0: no probing.
    pub probe_interval_ms: u64,
    /// Whether rate limits apply (`BAZAAR_RATE_LIMITS`): `on`, or `off` for benchmarks and
    /// load tests. The limits themselves are each service's own settings.
    pub rate_limits: crate::ratelimit::Switch,
    /// The proxies whose `X-Forwarded-For` names the client (`BAZAAR_TRUSTED_PROXIES`): a
    /// comma-separated list of addresses and CIDR blocks. Everyone else is the client
    /// itself. Rate limits per address count by the client so found.
    pub trusted_proxies: String,
}

impl CommonSettings {
    /// How this service's callers balance over the replicas of the services they call.
    pub fn balance(&self) -> crate::balance::Settings {
        let interval = Duration::from_millis(self.probe_interval_ms);
        crate::balance::Settings {
            policy: self.balance,
            breaker_failures: self.breaker_failures,
            breaker_open: Duration::from_millis(self.breaker_open_ms),
            probe_interval: interval,
            probe_timeout: interval.mul_f32(0.8).max(Duration::from_millis(50)),
            probe_failures: 2,
        }
    }

    /// How long a producer keeps an event in its outbox at least, and (never less than a
    /// day) a consumer remembers one it handled.
    pub fn outbox_retention(&self) -> Duration {
        Duration::from_secs(self.outbox_retention_hours.saturating_mul(3600))
    }
}

impl CommonSettings {
    /// The trusted proxies (checked at start-up; none when unparseable).
    pub fn trusted_proxies(&self) -> crate::ratelimit::TrustedProxies {
        self.trusted_proxies.parse().unwrap_or_default()
    }

    fn defaults(service: &str, registry: Registry) -> Self {
        let port = registry.get(service).map_or(0, |e| e.port);
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            database_url: format!("sqlite://data/{service}.db"),
            database_pool: 10,
            sqlite_synchronous: crate::db::Synchronous::Full,
            log: "info,sqlx=warn".into(),
            log_format: LogFormat::Text,
            body_limit_bytes: 256 * 1024,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            drain_delay_ms: 2_000,
            predecessor_database: None,
            token_issuer: "bazaar-identity".into(),
            token_audience: "bazaar".into(),
            broker: "embedded".into(),
            events_namespace: "bazaar".into(),
            event_max_attempts: 5,
            outbox_retention_hours: 7 * 24,
            ready_after_catch_up: true,
            service_secret: Secret::default(),
            directory_file: None,
            dns_refresh_ms: 5_000,
            balance: crate::balance::Policy::default(),
            breaker_failures: 5,
            breaker_open_ms: 2_000,
            probe_interval_ms: 500,
            rate_limits: crate::ratelimit::Switch::On,
            trusted_proxies: "127.0.0.0/8,::1".into(),
        }
    }
}

/// Where the other services are: the supervisor's directory file, else
/// `BAZAAR_<NAME>_URL` (a URL or a comma-separated list; a DNS name is resolved again and
/// again), else `http://127.0.0.1:<its port>` from the registry. See [`discovery`].
#[derive(Debug, Clone)]
pub struct Directory {
    registry: Registry,
    urls: BTreeMap<String, Vec<String>>,
    file: Option<PathBuf>,
    dns_refresh: Duration,
    live: Discovery,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new(Registry::EMPTY)
    }
}

impl Directory {
    /// A directory of `registry`'s services at their default ports, until told otherwise.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            urls: BTreeMap::new(),
            file: None,
            dns_refresh: Duration::from_secs(5),
            live: Discovery::default(),
        }
    }

    /// The configured base URLs of `service` (no trailing slash). A service neither
    /// registered nor configured gets an address nothing listens on, so calls to it fail
    /// fast.
    fn configured(&self, service: &str) -> Vec<String> {
        self.urls.get(service).cloned().unwrap_or_else(|| {
            let port = self.registry.get(service).map_or(0, |e| e.port);
            vec![format!("http://127.0.0.1:{port}")]
        })
    }

    /// One base URL of `service`: the first of its replicas as they are now.
    pub fn url(&self, service: &str) -> String {
        match self.endpoints(service).current().first() {
            Some(url) => url.to_string(),
            None => self
                .configured(service)
                .into_iter()
                .next()
                .unwrap_or_default(),
        }
    }

    /// The replicas of `service`, kept up to date as they come and go.
    pub fn endpoints(&self, service: &str) -> Endpoints {
        let source = match &self.file {
            Some(path) => Source::File {
                path: path.clone(),
                fallback: self.configured(service),
            },
            None => Source::Urls {
                urls: self.configured(service),
                refresh: self.dns_refresh,
            },
        };
        self.live.endpoints(service, &source)
    }

    /// The registry this directory knows the services from.
    pub fn registry(&self) -> Registry {
        self.registry
    }

    /// Overrides one service's URLs (`a` or `a,b,c`; tests and embedders).
    pub fn set(&mut self, service: &str, urls: impl Into<String>) {
        let urls: Vec<String> = replica_urls(&urls.into())
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect();
        self.urls.insert(service.to_owned(), urls);
    }

    /// Follows the supervisor's directory file, refreshing DNS names every `dns_refresh`.
    fn follow(&mut self, file: Option<PathBuf>, dns_refresh: Duration) {
        self.file = file;
        self.dns_refresh = dns_refresh;
    }
}

/// The URLs a `BAZAAR_<SERVICE>_URL` value lists: `a` or `a,b,c`, spaces and empty
/// entries aside.
fn replica_urls(urls: &str) -> impl Iterator<Item = &str> {
    urls.split(',').map(str::trim).filter(|u| !u.is_empty())
}

/// Whether `urls` (as [`replica_urls`] reads them) names at least one replica, each by an
/// `http` or `https` URL with a host; else what is wrong.
fn check_service_urls(urls: &str) -> Result<(), String> {
    let mut any = false;
    for url in replica_urls(urls) {
        any = true;
        let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!(
                "`{url}` is not an http:// or https:// URL with a host"
            ));
        }
    }
    if any {
        Ok(())
    } else {
        Err(format!("`{urls}` names no replica"))
    }
}

/// A service's whole configuration: the common part, the directory, and its own part `S`.
#[derive(Debug, Clone)]
pub struct Settings<S> {
    /// The service's name (`catalog`).
    pub service: String,
    pub common: CommonSettings,
    pub directory: Directory,
    pub own: S,
}

/// Everything wrong with the configuration, reported at once.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Service-specific settings: defaults that run, and a check of their values.
pub trait ServiceSettings: Serialize + DeserializeOwned + Default {
    /// Problems with the values, each a sentence naming the variable.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

/// For [`ServiceSettings::validate`]: the problem with the setting `name` when `value` is
/// outside `bounds` (`BAZAAR_X must be between 1 and 30, got 0`), or `None`.
pub fn out_of_bounds<T: PartialOrd + fmt::Display>(
    name: &str,
    value: T,
    bounds: std::ops::RangeInclusive<T>,
) -> Option<String> {
    (!bounds.contains(&value)).then(|| {
        let (min, max) = bounds.into_inner();
        format!("{name} must be between {min} and {max}, got {value}")
    })
}

/// For [`ServiceSettings::validate`]: the problem with the setting `name` when `value` is
/// above `max` (`BAZAAR_X must be at most 100, got 101`), or `None`.
pub fn above<T: PartialOrd + fmt::Display>(name: &str, value: T, max: T) -> Option<String> {
    (value > max).then(|| format!("{name} must be at most {max}, got {value}"))
}

/// The own settings of a service that has none beyond the common ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoSettings {}

impl ServiceSettings for NoSettings {}

impl<S: ServiceSettings> Settings<S> {
    /// Loads the settings of `service` from defaults, `BAZAAR_CONFIG` and `BAZAAR_*`.
    pub fn load(service: &str, registry: Registry) -> Result<Self, ConfigError> {
        if let Some(problem) = std::env::var_os("BAZAAR_CONFIG").and_then(unreadable_config) {
            return Err(ConfigError(vec![problem]));
        }
        Self::from_figment(service, registry, figment_for(service, registry))
    }

    /// Settings from defaults and the given `(key, value)` overrides only: tests use this
    /// so that the environment of the test process does not leak in. Rate limits are off
    /// unless the overrides turn them on (`("rate_limits", "on")`): a test's traffic all
    /// comes from one address.
    pub fn for_tests(service: &str, overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::for_tests_in(Registry::EMPTY, service, overrides)
    }

    /// [`Settings::for_tests`] for a service of `registry`.
    pub fn for_tests_in(
        registry: Registry,
        service: &str,
        overrides: &[(&str, &str)],
    ) -> Result<Self, ConfigError> {
        let mut figment = base_figment(service, registry).merge(Serialized::default(
            "rate_limits",
            crate::ratelimit::Switch::Off,
        ));
        for (k, v) in overrides {
            // Parsed the way environment values are, so `("ttl_secs", "60")` is a number.
            let value: figment::value::Value = v
                .parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {});
            figment = figment.merge(Serialized::default(k, value));
        }
        Self::from_figment(service, registry, figment)
    }

    fn from_figment(
        service: &str,
        registry: Registry,
        figment: Figment,
    ) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let common = extract_reporting::<CommonSettings>(
            &figment,
            &Figment::from(Serialized::defaults(CommonSettings::defaults(
                service, registry,
            ))),
            &mut errors,
        );
        let own = extract_reporting::<S>(
            &figment,
            &Figment::from(Serialized::defaults(S::default())),
            &mut errors,
        );
        // Every `<service>_url` setting, known service or not.
        let mut directory = Directory::new(registry);
        if let Ok(all) = figment.extract::<BTreeMap<String, figment::value::Value>>() {
            for (key, value) in all {
                if let (Some(name), Some(url)) = (key.strip_suffix("_url"), value.as_str())
                    && key != "database_url"
                {
                    if registry.get(name).is_some()
                        && let Err(e) = check_service_urls(url)
                    {
                        errors.push(format!(
                            "BAZAAR_{}_URL must be one or more http:// URLs separated by commas: {e}",
                            name.to_ascii_uppercase()
                        ));
                    }
                    directory.set(name, url);
                }
            }
        }
        if let Some(c) = &common {
            if !(c.database_url.starts_with("sqlite:")
                || c.database_url.starts_with("postgres://")
                || c.database_url.starts_with("postgresql://"))
            {
                errors.push(format!(
                    "BAZAAR_DATABASE_URL must start with sqlite:, postgres:// or postgresql://, got `{}`",
                    c.database_url
                ));
            }
            if c.broker != "embedded"
                && !(c.broker.starts_with("amqp://") || c.broker.starts_with("amqps://"))
            {
                errors.push(format!(
                    "BAZAAR_BROKER must be `embedded` or an amqp:// URL, got `{}`",
                    c.broker
                ));
            }
            errors.extend(crate::telemetry::log_filter_problem(&c.log));
            if c.event_max_attempts == 0 {
                errors.push("BAZAAR_EVENT_MAX_ATTEMPTS must be at least 1".into());
            }
            // The master secret (identity's) or a service's own key derived from it (much
            // longer): anything shorter is a mistake, not a secret.
            let min = crate::auth::MIN_SERVICE_SECRET_LEN;
            let length = c.service_secret.expose().chars().count();
            if length > 0 && length < min {
                errors.push(format!(
                    "BAZAAR_SERVICE_SECRET is {length} characters long; it must have at least \
                     {min} (e.g. `openssl rand -hex 32`)"
                ));
            }
            if c.database_pool == 0 {
                errors.push("BAZAAR_DATABASE_POOL must be at least 1".to_owned());
            }
            if c.body_limit_bytes == 0 {
                errors.push("BAZAAR_BODY_LIMIT_BYTES must be greater than 0".into());
            }
            if c.breaker_failures == 0 {
                errors.push("BAZAAR_BREAKER_FAILURES must be greater than 0".into());
            }
            // Durations a mistake would make endless, or nothing: a drain that never ends,
            // a replica left out of rotation for good (the operator review).
            for (name, value, bounds) in [
                (
                    "BAZAAR_BREAKER_OPEN_MS",
                    c.breaker_open_ms,
                    1..=MAX_DURATION_MS,
                ),
                (
                    "BAZAAR_REQUEST_TIMEOUT_MS",
                    c.request_timeout_ms,
                    100..=MAX_DURATION_MS,
                ),
                (
                    "BAZAAR_SHUTDOWN_GRACE_MS",
                    c.shutdown_grace_ms,
                    0..=MAX_DURATION_MS,
                ),
                (
                    "BAZAAR_DRAIN_DELAY_MS",
                    c.drain_delay_ms,
                    0..=MAX_DRAIN_DELAY_MS,
                ),
                (
                    "BAZAAR_PROBE_INTERVAL_MS",
                    c.probe_interval_ms,
                    0..=MAX_DURATION_MS,
                ),
                (
                    "BAZAAR_DNS_REFRESH_MS",
                    c.dns_refresh_ms,
                    1..=MAX_DURATION_MS,
                ),
                (
                    "BAZAAR_OUTBOX_RETENTION_HOURS",
                    c.outbox_retention_hours,
                    0..=MAX_RETENTION_HOURS,
                ),
            ] {
                errors.extend(out_of_bounds(name, value, bounds));
            }
            if let Err(e) = c
                .trusted_proxies
                .parse::<crate::ratelimit::TrustedProxies>()
            {
                errors.push(format!("BAZAAR_TRUSTED_PROXIES: {e}"));
            }
            directory.follow(
                c.directory_file.clone(),
                Duration::from_millis(c.dns_refresh_ms.max(1)),
            );
        }
        if let Some(o) = &own {
            errors.extend(o.validate());
        }
        match (common, own) {
            (Some(common), Some(own)) if errors.is_empty() => Ok(Self {
                service: service.to_owned(),
                common,
                directory,
                own,
            }),
            _ => Err(ConfigError(errors)),
        }
    }
}

/// `T` read from `figment`, with every value that does not fit it (a word where a number
/// goes) noted in `errors`: serde stops at the first, so each one found is noted, stood in
/// for by its value in `defaults`, and `T` read again. So one start names every such
/// mistake, and the checks of the values that did fit still run on what is read. `None`
/// where a value could not be stood in for.
fn extract_reporting<T: DeserializeOwned>(
    figment: &Figment,
    defaults: &Figment,
    errors: &mut Vec<String>,
) -> Option<T> {
    let mut figment = figment.clone();
    // Each pass stands in for at least one more value; a settings struct has fewer.
    for _ in 0..64 {
        let refused = match figment.extract::<T>() {
            Ok(value) => return Some(value),
            Err(refused) => refused,
        };
        let mut stood_in = false;
        for e in refused {
            errors.push(e.to_string());
            let key = e.path.join(".");
            if let Some(default) = (!key.is_empty())
                .then(|| defaults.find_value(&key).ok())
                .flatten()
            {
                figment = figment.merge(Serialized::default(&key, default));
                stood_in = true;
            }
        }
        if !stood_in {
            return None;
        }
    }
    None
}

fn base_figment(service: &str, registry: Registry) -> Figment {
    Figment::new().merge(Serialized::defaults(CommonSettings::defaults(
        service, registry,
    )))
}

/// Why the file `BAZAAR_CONFIG` names cannot be read, said as the setting that named it,
/// whole; `None` when it can. Read, not only opened: a directory opens, and its error came
/// out of the TOML reader garbled, without the path (the settings review).
fn unreadable_config(path: std::ffi::OsString) -> Option<String> {
    let e = std::fs::read(&path).err()?;
    let path = PathBuf::from(path);
    Some(format!(
        "BAZAAR_CONFIG={}: cannot read it: {e}",
        std::path::absolute(&path).unwrap_or(path).display()
    ))
}

fn figment_for(service: &str, registry: Registry) -> Figment {
    let mut figment = base_figment(service, registry);
    if let Some(path) = std::env::var_os("BAZAAR_CONFIG") {
        figment = figment.merge(Toml::file_exact(PathBuf::from(path)));
    }
    figment.merge(Env::prefixed(ENV_PREFIX))
}

/// The settings of `S`, as environment variables with their defaults (for the docs and
/// `bazaar config`).
pub fn variables<S: Serialize + Default>() -> Vec<Variable> {
    to_variables(&S::default())
}

/// The settings every service has, with the defaults of a service not in any registry.
pub fn common_variables() -> Vec<Variable> {
    to_variables(&CommonSettings::defaults("<service>", Registry::EMPTY))
}

fn to_variables(value: &impl Serialize) -> Vec<Variable> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .map(|(key, default)| Variable {
                name: format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                default,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A secret value (a password, a key) that never shows in `Debug` output or logs.
///
/// Environment values are parsed (`12345` becomes a number), so a secret accepts any
/// scalar and keeps its text; quote a value whose leading zeros matter (`BAZAAR_X='"0123"'`).
#[derive(Clone, Default, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl serde::de::Visitor<'_> for Scalar {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }
        d.deserialize_any(Scalar)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_that_cannot_be_read_is_said_with_its_path() {
        let dir = std::env::temp_dir().join(format!("bazaar-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let said = unreadable_config(dir.clone().into_os_string()).expect("a directory");
        assert!(said.contains(&dir.display().to_string()), "{said}");
        assert!(said.contains("directory"), "{said}");
        let missing = dir.join("nope.toml");
        assert!(unreadable_config(missing.into_os_string()).is_some());
        let file = dir.join("bazaar.toml");
        std::fs::write(&file, "log = \"warn\"\n").unwrap();
        assert_eq!(unreadable_config(file.into_os_string()), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Own {
        page_size: u32,
    }

    impl ServiceSettings for Own {
        fn validate(&self) -> Vec<String> {
            if self.page_size > 100 {
                vec!["BAZAAR_PAGE_SIZE must be at most 100".into()]
            } else {
                vec![]
            }
        }
    }

    #[test]
    fn settings_out_of_bounds_are_worded_alike() {
        assert_eq!(out_of_bounds("BAZAAR_X", 5, 1..=10), None);
        assert_eq!(
            out_of_bounds("BAZAAR_X", 0, 1..=10).as_deref(),
            Some("BAZAAR_X must be between 1 and 10, got 0")
        );
        assert_eq!(above("BAZAAR_Y", 10, 10), None);
        assert_eq!(
            above("BAZAAR_Y", 11, 10).as_deref(),
            Some("BAZAAR_Y must be at most 10, got 11")
        );
    }

    #[test]
    fn defaults_run() {
        let s = Settings::<Own>::for_tests("catalog", &[]).unwrap();
        assert_eq!(s.common.listen.port(), 0, "a service in no registry");
        assert_eq!(s.common.database_url, "sqlite://data/catalog.db");
    }

    #[test]
    fn variables_name_every_setting_with_its_default() {
        let vars = variables::<Own>();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].name, "BAZAAR_PAGE_SIZE");
        assert_eq!(vars[0].default, serde_json::json!(0));
        let common = common_variables();
        assert!(common.iter().any(|v| v.name == "BAZAAR_DATABASE_URL"));
        assert!(common.iter().any(|v| v.name == "BAZAAR_SERVICE_SECRET"));
    }

    #[test]
    fn a_duration_has_bounds_and_the_shutdown_outlasts_a_request() {
        let endless = u64::MAX.to_string();
        let err = Settings::<Own>::for_tests(
            "catalog",
            &[
                ("drain_delay_ms", endless.as_str()),
                ("breaker_open_ms", endless.as_str()),
                ("request_timeout_ms", "0"),
                ("outbox_retention_hours", endless.as_str()),
            ],
        )
        .unwrap_err();
        for name in [
            "BAZAAR_DRAIN_DELAY_MS must be between 0 and 60000",
            "BAZAAR_BREAKER_OPEN_MS must be between 1 and 600000",
            "BAZAAR_REQUEST_TIMEOUT_MS must be between 100 and 600000, got 0",
            "BAZAAR_OUTBOX_RETENTION_HOURS must be between 0 and 87600",
        ] {
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        for (log, problem) in [
            ("warnn", Some("BAZAAR_LOG names `warnn`, which is no level")),
            ("info,eror", Some("BAZAAR_LOG names `eror`")),
            ("!!!bad[", Some("BAZAAR_LOG `!!!bad[` is not a log filter")),
            ("warn", None),
            ("info,orders=debug,sqlx::query=warn", None),
            ("WARN,lapin=off", None),
        ] {
            let said = match Settings::<Own>::for_tests("catalog", &[("log", log)]) {
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            match (problem, said) {
                (None, None) => {}
                (Some(want), Some(said)) => assert!(said.contains(want), "{log}: {said}"),
                (want, said) => panic!("{log}: wanted {want:?}, got {said:?}"),
            }
        }
        // A request accepted as a drain stops taking them is answered, if only by its own
        // timeout, before the shutdown's grace is over.
        let s = Settings::<Own>::for_tests("catalog", &[]).unwrap();
        assert!(s.common.shutdown_grace_ms > s.common.request_timeout_ms);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Settings::<Own>::for_tests(
            "catalog",
            &[
                ("database_url", "mysql://x"),
                ("page_size", "500"),
                ("service_secret", "hunter2"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(
            err.to_string()
                .contains("BAZAAR_SERVICE_SECRET is 7 characters long"),
            "{err}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_kind_hides_no_other_mistake() {
        let err = Settings::<Own>::for_tests(
            "catalog",
            &[
                ("log_format", "yaml"),
                ("sqlite_synchronous", "sometimes"),
                ("database_pool", "abc"),
                ("request_timeout_ms", "xyz"),
                ("broker", "kafka://x"),
                ("database_url", "mysql://x"),
                ("page_size", "many"),
            ],
        )
        .unwrap_err()
        .to_string();
        for named in [
            "log_format",
            "sqlite_synchronous",
            "database_pool",
            "request_timeout_ms",
            "BAZAAR_BROKER",
            "BAZAAR_DATABASE_URL",
            "page_size",
        ] {
            assert!(
                err.to_ascii_lowercase()
                    .contains(&named.to_ascii_lowercase()),
                "{named}: {err}"
            );
        }
    }

    #[test]
    fn directory_takes_overrides() {
        let s =
            Settings::<NoSettings>::for_tests("gateway", &[("catalog_url", "http://10.0.0.1:9/")])
                .unwrap();
        assert_eq!(s.directory.url("catalog"), "http://10.0.0.1:9");
    }

    #[test]
    fn numeric_looking_secrets_are_kept_as_text() {
        #[derive(Debug, Default, Serialize, Deserialize)]
        #[serde(default)]
        struct WithSecret {
            password: Option<Secret>,
        }
        impl ServiceSettings for WithSecret {}
        let s =
            Settings::<WithSecret>::for_tests("identity", &[("password", "12345678901")]).unwrap();
        assert_eq!(s.own.password.unwrap().expose(), "12345678901");
    }

    #[tokio::test]
    async fn a_service_url_may_list_several_replicas() {
        let s = Settings::<NoSettings>::for_tests(
            "gateway",
            &[("catalog_url", "http://127.0.0.1:2/, http://127.0.0.1:1")],
        )
        .unwrap();
        assert_eq!(s.directory.url("catalog"), "http://127.0.0.1:1");
        let all: Vec<String> = s
            .directory
            .endpoints("catalog")
            .current()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(all, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    }

    #[test]
    fn service_urls_are_http_urls_with_a_host() {
        for good in [
            "http://127.0.0.1:9",
            "http://a:1, http://b:2/,",
            "https://catalog.shop.svc.cluster.local",
        ] {
            assert_eq!(check_service_urls(good), Ok(()), "{good}");
        }
        for bad in [
            "127.0.0.1:9",
            "ftp://a:1",
            "http://a:1,not a url",
            "",
            " , ",
            "file:///tmp/x",
        ] {
            assert!(check_service_urls(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn directory_takes_any_service() {
        let s =
            Settings::<NoSettings>::for_tests("orders", &[("payments_url", "http://127.0.0.1:9")])
                .unwrap();
        assert_eq!(s.directory.url("payments"), "http://127.0.0.1:9");
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret([redacted])"
        );
    }
}
