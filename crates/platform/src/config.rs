//! Typed configuration: defaults, then an optional TOML file, then environment variables.
//!
//! Every variable has the prefix `BAZAAR_`; keys are the field names in upper case
//! (`BAZAAR_DATABASE_URL` sets `database_url`). `BAZAAR_CONFIG` names a TOML file whose
//! keys are the same field names. All problems are reported together at start-up.

use crate::telemetry::LogFormat;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::{collections::BTreeMap, fmt, net::SocketAddr, path::PathBuf};

/// The environment-variable prefix of every setting.
pub const ENV_PREFIX: &str = "BAZAAR_";

/// Every service of the shop, in start-up order, with its default port.
///
/// The gateway listens on 8080 and each service on its own port after it.
pub const SERVICES: &[(&str, u16)] = &[
    ("identity", 8081),
    ("catalog", 8082),
    ("search", 8083),
    ("recommendations", 8084),
    ("cart", 8085),
    ("inventory", 8086),
    ("payments", 8087),
    ("orders", 8088),
    ("notifications", 8089),
    ("storefront", 8090),
    ("gateway", 8080),
];

/// The default port of a service, if it is one of [`SERVICES`].
pub fn default_port(service: &str) -> Option<u16> {
    SERVICES
        .iter()
        .find(|(n, _)| *n == service)
        .map(|(_, p)| *p)
}

/// Settings every service has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommonSettings {
    /// Address the HTTP server binds (`BAZAAR_LISTEN`); port 0 picks a free one.
    pub listen: SocketAddr,
    /// This service's own database (`BAZAAR_DATABASE_URL`): `sqlite://PATH` or
    /// `postgres://...`.
    pub database_url: String,
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
    /// The secret services present to identity to get a service token for calling each
    /// other (`BAZAAR_SERVICE_SECRET`). `bazaar up` makes a random one per run; in a
    /// cluster it is a shared secret. Empty: no service tokens are issued.
    pub service_secret: Secret,
}

impl CommonSettings {
    fn defaults(service: &str) -> Self {
        let port = default_port(service).unwrap_or(0);
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            database_url: format!("sqlite://data/{service}.db"),
            log: "info,sqlx=warn".into(),
            log_format: LogFormat::Text,
            body_limit_bytes: 256 * 1024,
            request_timeout_ms: 15_000,
            shutdown_grace_ms: 10_000,
            token_issuer: "bazaar-identity".into(),
            token_audience: "bazaar".into(),
            broker: "embedded".into(),
            events_namespace: "bazaar".into(),
            event_max_attempts: 5,
            service_secret: Secret::default(),
        }
    }
}

/// Where the other services are: `BAZAAR_<NAME>_URL`, else `http://127.0.0.1:<default port>`.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    urls: BTreeMap<String, String>,
}

impl Directory {
    /// The base URL of `service` (no trailing slash).
    pub fn url(&self, service: &str) -> String {
        self.urls
            .get(service)
            .cloned()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", default_port(service).unwrap_or(80)))
    }

    /// Every known service and its URL, in start-up order.
    pub fn all(&self) -> Vec<(String, String)> {
        SERVICES
            .iter()
            .map(|(n, _)| ((*n).to_owned(), self.url(n)))
            .collect()
    }

    /// Overrides one service's URL (tests and embedders).
    pub fn set(&mut self, service: &str, url: impl Into<String>) {
        self.urls.insert(
            service.to_owned(),
            url.into().trim_end_matches('/').to_owned(),
        );
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

/// The own settings of a service that has none beyond the common ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoSettings {}

impl ServiceSettings for NoSettings {}

impl<S: ServiceSettings> Settings<S> {
    /// Loads the settings of `service` from defaults, `BAZAAR_CONFIG` and `BAZAAR_*`.
    pub fn load(service: &str) -> Result<Self, ConfigError> {
        Self::from_figment(service, figment_for(service))
    }

    /// Settings from defaults and the given `(key, value)` overrides only: tests use this
    /// so that the environment of the test process does not leak in.
    pub fn for_tests(service: &str, overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut figment = base_figment(service);
        for (k, v) in overrides {
            // Parsed the way environment values are, so `("ttl_secs", "60")` is a number.
            let value: figment::value::Value = v
                .parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {});
            figment = figment.merge(Serialized::default(k, value));
        }
        Self::from_figment(service, figment)
    }

    fn from_figment(service: &str, figment: Figment) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let common = figment
            .extract::<CommonSettings>()
            .map_err(|e| errors.extend(e.into_iter().map(|e| e.to_string())))
            .ok();
        let own = figment
            .extract::<S>()
            .map_err(|e| errors.extend(e.into_iter().map(|e| e.to_string())))
            .ok();
        // Every `<service>_url` setting, known service or not.
        let mut directory = Directory::default();
        if let Ok(all) = figment.extract::<BTreeMap<String, figment::value::Value>>() {
            for (key, value) in all {
                if let (Some(name), Some(url)) = (key.strip_suffix("_url"), value.as_str())
                    && key != "database_url"
                {
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
            if c.event_max_attempts == 0 {
                errors.push("BAZAAR_EVENT_MAX_ATTEMPTS must be at least 1".into());
            }
            if c.body_limit_bytes == 0 {
                errors.push("BAZAAR_BODY_LIMIT_BYTES must be greater than 0".into());
            }
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

fn base_figment(service: &str) -> Figment {
    Figment::new().merge(Serialized::defaults(CommonSettings::defaults(service)))
}

fn figment_for(service: &str) -> Figment {
    let mut figment = base_figment(service);
    if let Some(path) = std::env::var_os("BAZAAR_CONFIG") {
        figment = figment.merge(Toml::file_exact(PathBuf::from(path)));
    }
    figment.merge(Env::prefixed(ENV_PREFIX))
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
    fn defaults_run() {
        let s = Settings::<Own>::for_tests("catalog", &[]).unwrap();
        assert_eq!(s.common.listen.port(), 8082);
        assert_eq!(s.common.database_url, "sqlite://data/catalog.db");
        assert_eq!(s.directory.url("identity"), "http://127.0.0.1:8081");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Settings::<Own>::for_tests(
            "catalog",
            &[("database_url", "mysql://x"), ("page_size", "500")],
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
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
