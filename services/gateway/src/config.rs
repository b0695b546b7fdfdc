//! The gateway's own settings (each also settable as `BAZAAR_<FIELD>`).

use platform::{
    config::{MAX_DURATION_MS, ServiceSettings, out_of_bounds},
    ratelimit::Quota,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Longest wait for an upstream's response head, in ms, unless the service's route
    /// says otherwise (orders' checkout does).
    pub upstream_timeout_ms: u64,
    /// Longest wait to open a TCP connection to an upstream, in ms.
    pub connect_timeout_ms: u64,
    /// Timeout of each upstream readiness probe behind `/health/ready`, in ms.
    pub health_timeout_ms: u64,
    /// Requests per client address (`BAZAAR_ADDRESS_RATE_LIMIT`): `50/s burst 200` lets a
    /// browser load pages and their API calls freely while stopping a scraper or a flood.
    /// The address is the peer's, or the one a trusted proxy forwards.
    pub address_rate_limit: Quota,
    /// Requests per signed-in user, by the verified token's subject
    /// (`BAZAAR_USER_RATE_LIMIT`), wherever they come from.
    pub user_rate_limit: Quota,
    /// Event streams forwarded at once (`BAZAAR_MAX_STREAMS`); one more is answered 503
    /// with `Retry-After`. 0: half the connections the gateway serves at once, so that
    /// streams, each holding its connection for as long as it is open, never take the
    /// connections every other request needs.
    pub max_streams: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            upstream_timeout_ms: 5_000,
            connect_timeout_ms: 1_000,
            health_timeout_ms: 1_000,
            address_rate_limit: "50/s burst 200".parse().expect("a valid quota"),
            user_rate_limit: "20/s burst 100".parse().expect("a valid quota"),
            max_streams: 0,
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        // Bounded above too: a timeout of u64::MAX ms overflows the instant it is added to
        // (the verification review found it accepted).
        [
            ("BAZAAR_UPSTREAM_TIMEOUT_MS", self.upstream_timeout_ms),
            ("BAZAAR_CONNECT_TIMEOUT_MS", self.connect_timeout_ms),
            ("BAZAAR_HEALTH_TIMEOUT_MS", self.health_timeout_ms),
        ]
        .into_iter()
        .filter_map(|(name, v)| out_of_bounds(name, v, 1..=MAX_DURATION_MS))
        .collect()
    }
}

impl Config {
    /// The event streams forwarded at once by a gateway serving `connections` at once:
    /// `BAZAAR_MAX_STREAMS`, or half of them, and never more than three quarters, so that
    /// streams cannot take every connection whatever the setting (a quarter stays for every
    /// other request; with more, streams took them all and the shop stopped answering,
    /// the verification review). A setting above that is logged and capped: more streams
    /// need a higher open-files limit.
    pub fn max_streams(&self, connections: usize) -> usize {
        let most = (connections * 3 / 4).max(1);
        match self.max_streams {
            0 => (connections / 2).max(1),
            n if n > most => {
                tracing::warn!(
                    max_streams = n,
                    connections,
                    capped_at = most,
                    "BAZAAR_MAX_STREAMS is above three quarters of the connections this gateway \
                     serves at once (a third of its open-files limit); capped, so that other \
                     requests keep a quarter: raise the open-files limit for more streams"
                );
                most
            }
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_bounded_both_ways() {
        let config = Config {
            upstream_timeout_ms: u64::MAX,
            connect_timeout_ms: 0,
            ..Config::default()
        };
        assert_eq!(
            config.validate(),
            [
                format!(
                    "BAZAAR_UPSTREAM_TIMEOUT_MS must be between 1 and 600000, got {}",
                    u64::MAX
                ),
                "BAZAAR_CONNECT_TIMEOUT_MS must be between 1 and 600000, got 0".to_owned(),
            ]
        );
        assert!(Config::default().validate().is_empty());
    }

    #[test]
    fn streams_take_half_the_connections_and_never_more_than_three_quarters() {
        let with = |max_streams| Config {
            max_streams,
            ..Config::default()
        };
        assert_eq!(with(0).max_streams(88), 44);
        assert_eq!(with(5).max_streams(88), 5);
        assert_eq!(with(66).max_streams(88), 66);
        assert_eq!(with(1000).max_streams(88), 66);
        assert_eq!(with(0).max_streams(1), 1);
    }
}
