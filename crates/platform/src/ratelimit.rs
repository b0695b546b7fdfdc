//! Rate limits: a token bucket (GCRA) per key — a client address, a user, an account —
//! and the answer over a limit: 429 with `Retry-After` and the IETF `RateLimit` and
//! `RateLimit-Policy` headers. `BAZAAR_RATE_LIMITS=off` turns every limit off.
//!
//! Also who the client is: the peer address, or — when the peer is one of the trusted
//! proxies (`BAZAAR_TRUSTED_PROXIES`) — the address it forwards in `X-Forwarded-For`.

use crate::Problem;
use axum::{
    extract::ConnectInfo,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, RateLimiter,
    clock::{Clock, DefaultClock},
};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Whether rate limits apply (`BAZAAR_RATE_LIMITS`: `on`, the default, or `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Switch {
    #[default]
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

impl Serialize for Switch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Switch::On => "on",
            Switch::Off => "off",
        })
    }
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Switch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`on` or `off`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Switch, E> {
                Ok(if v { Switch::On } else { Switch::Off })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Switch, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "on" | "true" | "yes" | "1" => Ok(Switch::On),
                    "off" | "false" | "no" | "0" => Ok(Switch::Off),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Switch, E> {
                self.visit_bool(v != 0)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Switch, E> {
                self.visit_bool(v != 0)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How fast one key may go: `count` per `per` on average, in bursts of up to `burst`.
/// Written `50/s`, `10/min burst 5` or `20/h burst 10` (the burst defaults to the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    count: NonZeroU32,
    per: Duration,
    burst: NonZeroU32,
}

impl Quota {
    /// `count` per `per`, in bursts of up to `burst`.
    pub const fn new(count: NonZeroU32, per: Duration, burst: NonZeroU32) -> Self {
        Self { count, per, burst }
    }

    /// The most requests a key may make at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// How long an empty bucket takes to fill again, in whole seconds (the window of
    /// `RateLimit-Policy`).
    pub fn window_secs(&self) -> u64 {
        let per_cell = self.per / self.count.get();
        (per_cell * self.burst.get()).as_secs_f64().ceil().max(1.0) as u64
    }

    fn governor(&self) -> governor::Quota {
        let per_cell = (self.per / self.count.get()).max(Duration::from_nanos(1));
        governor::Quota::with_period(per_cell)
            .expect("a period of at least a nanosecond")
            .allow_burst(self.burst)
    }
}

impl FromStr for Quota {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a rate such as `50/s`, `10/min burst 5` or `20/h`");
        let mut words = s.split_whitespace();
        let (count, unit) = words
            .next()
            .and_then(|r| r.split_once('/'))
            .ok_or_else(bad)?;
        let count: NonZeroU32 = count.parse().map_err(|_| bad())?;
        let per = match unit {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match (words.next(), words.next(), words.next()) {
            (None, _, _) => count,
            (Some("burst"), Some(b), None) => b.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        Ok(Self { count, per, burst })
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)?;
        if self.burst != self.count {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

impl Serialize for Quota {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Token buckets, one per key, all with the same quota. Cheap to clone. A limiter that is
/// off lets everything through.
#[derive(Clone)]
pub struct Limiter {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// The policy's name in `RateLimit` headers (`address`, `sign-in-account`).
    name: &'static str,
    quota: Quota,
    /// Keyed by a hash of the key, not the key: a bucket costs the same for a 250 KB
    /// email as for an address (the abuse review grew identity by 250 KB an attempt).
    /// Keyed randomly per process, so no client can aim two keys at one bucket.
    buckets: DefaultKeyedRateLimiter<u64>,
    hasher: std::hash::RandomState,
    checks: AtomicU64,
}

/// How many checks pass between sweeps of the buckets that have filled up again.
const SWEEP_EVERY: u64 = 4096;

impl Limiter {
    /// A limiter named `name` (as the headers show it) giving each key `quota`, or one
    /// that is off.
    pub fn new(name: &'static str, quota: Quota, switch: Switch) -> Self {
        Self {
            inner: switch.is_on().then(|| {
                Arc::new(Inner {
                    name,
                    quota,
                    buckets: RateLimiter::keyed(quota.governor()),
                    hasher: std::hash::RandomState::new(),
                    checks: AtomicU64::new(0),
                })
            }),
        }
    }

    /// A limiter that lets everything through.
    pub fn off() -> Self {
        Self { inner: None }
    }

    /// Whether it limits anything: a caller with a key to build need not build it when
    /// the limiter is off.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Takes one token from the bucket of the client at `ip` ([`counted_as`]).
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Limited> {
        if self.inner.is_none() {
            return Ok(());
        }
        self.check(&counted_as(ip).to_string())
    }

    /// Takes one token from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: &str) -> Result<(), Limited> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        // Buckets that have filled up again say nothing a new bucket would not: drop them
        // now and then, so that one-off clients do not pile up.
        if inner.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            inner.buckets.retain_recent();
        }
        inner
            .buckets
            .check_key(&std::hash::BuildHasher::hash_one(&inner.hasher, key))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Limited {
                    policy: inner.name,
                    quota: inner.quota,
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            })
    }
}

/// A request over a limit: answered 429.
#[derive(Debug, Clone)]
pub struct Limited {
    policy: &'static str,
    quota: Quota,
    retry_after_secs: u64,
}

impl Limited {
    /// Seconds until the next request may pass.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_secs
    }
}

impl From<&Limited> for Problem {
    fn from(limited: &Limited) -> Self {
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            format!(
                "too many requests; try again in {} s",
                limited.retry_after_secs
            ),
        );
        problem.retry_after = Some(limited.retry_after_secs);
        problem
    }
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let mut res = Problem::from(&self).into_response();
        let headers = res.headers_mut();
        // draft-ietf-httpapi-ratelimit-headers: the policy's quota and window, and what is
        // left of it (nothing) with the seconds until more.
        if let Ok(v) = HeaderValue::from_str(&format!(
            "\"{}\";q={};w={}",
            self.policy,
            self.quota.burst(),
            self.quota.window_secs()
        )) {
            headers.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "\"{}\";r=0;t={}",
            self.policy, self.retry_after_secs
        )) {
            headers.insert("ratelimit", v);
        }
        res
    }
}

/// The addresses whose `X-Forwarded-For` is believed (`BAZAAR_TRUSTED_PROXIES`): a
/// comma-separated list of addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || format!("`{item}` is not an IP address or a CIDR block");
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
                None => (item, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            if bits > max {
                return Err(bad());
            }
            blocks.push((addr, bits));
        }
        Ok(Self(blocks))
    }
}

impl TrustedProxies {
    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|&(net, bits)| match (canonical(net), ip) {
                (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
                (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
                _ => false,
            })
    }

    /// The client of a request that came from `peer`: the peer itself unless it is
    /// trusted, else the nearest untrusted address it (and the trusted proxies before it)
    /// forwarded in `X-Forwarded-For`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        // The nearest hop last: the last value's last address first.
        let forwarded = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .rev()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.rsplit(','));
        for hop in forwarded {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(ip);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// `X-Forwarded-For`, as a constant name: found without parsing the name per request.
pub const FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// The peer address of a request served by a [`crate::service::Service`].
pub fn peer(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The address of a request's peer, when the server knows it (an extractor that never
/// fails).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer(&parts.extensions)))
    }
}

/// Whom a per-address limit counts a request from `ip` against: an IPv4 address, or an
/// IPv6 address's /64. A subscriber's network is a /64 at the least (a home connection
/// gets one, a host may use any address in it), so counting IPv6 addresses one by one
/// would give one client 2^64 buckets.
pub fn counted_as(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(net: &[u8], addr: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if net[..whole] != addr[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        net[whole] & mask == addr[whole] & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(s: &str) -> Quota {
        s.parse().unwrap()
    }

    #[test]
    fn quotas_read_and_write_the_same() {
        for (text, burst, window) in [
            ("50/s", 50, 1),
            ("50/s burst 200", 200, 4),
            ("10/min burst 5", 5, 30),
            ("20/h", 20, 3600),
        ] {
            let q = quota(text);
            assert_eq!(q.to_string(), text);
            assert_eq!(q.burst(), burst, "{text}");
            assert_eq!(q.window_secs(), window, "{text}");
        }
        for bad in [
            "",
            "50",
            "0/s",
            "5/day",
            "5/s burst",
            "5/s burst 0",
            "5/s x 3",
        ] {
            assert!(bad.parse::<Quota>().is_err(), "`{bad}` is refused");
        }
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_and_others_are_not_affected() {
        let limiter = Limiter::new("test", quota("1/min burst 3"), Switch::On);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let limited = limiter.check("a").unwrap_err();
        assert!(
            (1..=60).contains(&limited.retry_after_secs()),
            "{limited:?}"
        );
        assert!(limiter.check("b").is_ok(), "another key has its own bucket");
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_network_and_an_ipv4_one_by_its_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let limiter = Limiter::new("test", quota("1/min burst 3"), Switch::On);
        // Three addresses of one /64 use up one bucket (a review sent 500 requests from
        // 500 addresses of a /64, and none was limited).
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"] {
            assert!(limiter.check_address(ip(host)).is_ok(), "{host}");
        }
        assert!(limiter.check_address(ip("2001:db8:1:2::1f5")).is_err());
        assert!(
            limiter.check_address(ip("2001:db8:1:3::1")).is_ok(),
            "the next /64 is someone else's"
        );
        for _ in 0..3 {
            assert!(limiter.check_address(ip("192.0.2.1")).is_ok());
        }
        assert!(
            limiter.check_address(ip("::ffff:192.0.2.1")).is_err(),
            "the same IPv4 client"
        );
        assert!(
            limiter.check_address(ip("192.0.2.2")).is_ok(),
            "IPv4 by address"
        );
        assert_eq!(counted_as(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn a_limiter_that_is_off_lets_everything_through() {
        let limiter = Limiter::new("test", quota("1/h burst 1"), Switch::Off);
        for _ in 0..100 {
            assert!(limiter.check("a").is_ok());
        }
    }

    #[tokio::test]
    async fn over_the_limit_is_a_429_problem_with_its_headers() {
        let limiter = Limiter::new("sign-in", quota("6/min burst 2"), Switch::On);
        limiter.check("a").unwrap();
        limiter.check("a").unwrap();
        let res = limiter.check("a").unwrap_err().into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = res.headers();
        let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=10).contains(&retry), "{retry}");
        assert_eq!(h["ratelimit-policy"], "\"sign-in\";q=2;w=20");
        assert_eq!(
            h["ratelimit"].to_str().unwrap(),
            format!("\"sign-in\";r=0;t={retry}")
        );
        assert_eq!(h["content-type"], "application/problem+json");
    }

    #[test]
    fn switches_read_on_and_off() {
        for (v, want) in [
            (serde_json::json!("off"), Switch::Off),
            (serde_json::json!("OFF"), Switch::Off),
            (serde_json::json!(false), Switch::Off),
            (serde_json::json!("on"), Switch::On),
            (serde_json::json!(true), Switch::On),
        ] {
            assert_eq!(
                serde_json::from_value::<Switch>(v.clone()).unwrap(),
                want,
                "{v}"
            );
        }
        assert!(serde_json::from_value::<Switch>(serde_json::json!("maybe")).is_err());
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwards_it() {
        let trusted: TrustedProxies = "127.0.0.0/8, ::1, 10.1.0.0/16".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.1.2.3"),
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(trusted.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &h),
            ip("203.0.113.9"),
            "the nearest untrusted hop, not what the client claimed before it"
        );
        // Two header lines are one list, the later line's addresses the nearer.
        let mut lines = HeaderMap::new();
        lines.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        lines.append(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.1.0.9"),
        );
        lines.append("x-forwarded-for", HeaderValue::from_static("10.1.2.3"));
        assert_eq!(trusted.client(ip("127.0.0.1"), &lines), ip("203.0.113.7"));
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        assert!(trusted.contains(ip("::1")));
        assert!(!trusted.contains(ip("10.2.0.1")));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("nonsense".parse::<TrustedProxies>().is_err());
    }
}
