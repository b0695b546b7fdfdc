//! Notifications' own settings, next to the common ones every service has: whether and how
//! messages are also sent by email.
//!
//! The common settings cover the rest: its database (`BAZAAR_DATABASE_URL`), where the
//! producers it reads are (`BAZAAR_IDENTITY_URL`, `BAZAAR_ORDERS_URL`,
//! `BAZAAR_PAYMENTS_URL`, read by the embedded transport) and where identity publishes
//! its keys (`BAZAAR_IDENTITY_URL`).

use lettre::message::Mailbox;
use platform::config::{ServiceSettings, out_of_bounds};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Settings of the notifications service; each field is also the variable
/// `BAZAAR_<FIELD>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The SMTP server each message is also mailed through (`BAZAAR_SMTP_URL`), as
    /// `smtp://host[:port]` (port 25 by default; plain SMTP, no credentials: a local
    /// relay). Unset or empty: no email is sent, messages go to the mailbox only and their
    /// email status is `skipped`.
    pub smtp_url: Option<String>,
    /// The sender of those emails (`BAZAAR_SMTP_FROM`), default `Bazaar <shop@bazaar.local>`.
    pub smtp_from: String,
    /// The wait before the first retry of an email the server did not take
    /// (`BAZAAR_EMAIL_RETRY_BASE_MS`, default 2 000), doubling at each further try; an
    /// email is tried at most 5 times.
    pub email_retry_base_ms: u64,
    /// Live streams one user may hold open at once (`BAZAAR_STREAMS_PER_USER`, default 8:
    /// a few tabs and devices); one more is answered 429.
    pub streams_per_user: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_from: "Bazaar <shop@bazaar.local>".to_owned(),
            email_retry_base_ms: 2_000,
            streams_per_user: 8,
        }
    }
}

/// The longest first retry delay accepted (an hour).
const MAX_RETRY_BASE_MS: u64 = 60 * 60 * 1000;

impl Config {
    /// The SMTP server, when email is configured.
    pub fn smtp(&self) -> Result<Option<SmtpServer>, String> {
        match self.smtp_url.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(url) => SmtpServer::parse(url)
                .map(Some)
                .map_err(|e| format!("BAZAAR_SMTP_URL {e}, got `{url}`")),
        }
    }

    /// The sender of every email.
    pub fn from_mailbox(&self) -> Result<Mailbox, String> {
        self.smtp_from.parse().map_err(|e| {
            format!(
                "BAZAAR_SMTP_FROM must be an address like `Bazaar <shop@example.com>` ({e}), got `{}`",
                self.smtp_from
            )
        })
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = self.smtp() {
            errors.push(e);
        }
        if let Err(e) = self.from_mailbox() {
            errors.push(e);
        }
        errors.extend(out_of_bounds(
            "BAZAAR_EMAIL_RETRY_BASE_MS",
            self.email_retry_base_ms,
            1..=MAX_RETRY_BASE_MS,
        ));
        if self.streams_per_user == 0 {
            errors.push("BAZAAR_STREAMS_PER_USER must be at least 1".to_owned());
        }
        errors
    }
}

/// A plain SMTP server: host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
}

impl SmtpServer {
    /// Parses `smtp://host[:port][/]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or("must start with smtp:// (only plain SMTP to a local relay is supported)")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['@', '/', '?', '#']) {
            return Err("must be smtp://host[:port], without credentials, path or query".into());
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("has an unclosed `[`")?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err("names no host".into());
        }
        let port = match port {
            None => 25,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("has a port that is not a number from 1 to 65535")?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "smtp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "smtp://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::{assert_settings_refused, default_settings, settings};

    #[test]
    fn defaults_run_without_email() {
        let s = default_settings::<Config>("notifications");
        assert_eq!(s.own.smtp(), Ok(None));
        assert_eq!(
            s.own.from_mailbox().unwrap().to_string(),
            "Bazaar <shop@bazaar.local>"
        );
    }

    #[test]
    fn smtp_is_configured_by_url() {
        let s = settings::<Config>(
            "notifications",
            &[
                ("smtp_url", "smtp://127.0.0.1:2525"),
                ("smtp_from", "Shop <noreply@example.com>"),
                ("orders_url", "http://10.0.0.3:9000"),
            ],
        );
        assert_eq!(
            s.own.smtp().unwrap(),
            Some(SmtpServer {
                host: "127.0.0.1".into(),
                port: 2525
            })
        );
        assert_eq!(s.directory.url("orders"), "http://10.0.0.3:9000");
    }

    #[test]
    fn smtp_urls_parse_host_and_port() {
        let ok = [
            ("smtp://mail.local", "mail.local", 25),
            ("smtp://mail.local:587/", "mail.local", 587),
            ("smtp://[::1]:2525", "::1", 2525),
        ];
        for (url, host, port) in ok {
            let s = SmtpServer::parse(url).unwrap();
            assert_eq!((s.host.as_str(), s.port), (host, port), "{url}");
        }
        assert_eq!(
            SmtpServer::parse("smtp://[::1]:2525").unwrap().to_string(),
            "smtp://[::1]:2525"
        );
        for bad in [
            "mail.local",
            "smtps://mail.local",
            "smtp://",
            "smtp://:25",
            "smtp://mail.local:0",
            "smtp://mail.local:x",
            "smtp://user:pw@mail.local",
            "smtp://mail.local/path",
        ] {
            assert!(SmtpServer::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn every_bad_setting_is_reported_at_once_by_its_variable() {
        assert_settings_refused::<Config>(
            "notifications",
            &[
                ("smtp_url", "http://mail"),
                ("smtp_from", "not an address"),
                ("email_retry_base_ms", "0"),
            ],
            &[
                "BAZAAR_SMTP_URL",
                "BAZAAR_SMTP_FROM",
                "BAZAAR_EMAIL_RETRY_BASE_MS",
            ],
        );
    }
}
