//! The shop's edge: where a caller's wish to be traced is a request, not an order.
//!
//! Inside the shop a service follows its caller's sampled flag, so that a trace is whole.
//! At the gateway the caller is anyone on the internet, and following it there let any
//! client have every one of its requests traced by sending `traceparent: …-01`: a trace
//! costs the gateway about three times what forwarding does (docs/benchmarks.md), so a
//! client could slow the shop for everyone, and bury the sample, past the sampler's cap.
//!
//! So at the edge a sampled `traceparent` counts against the same budget as the traces
//! the gateway starts itself ([`Roots`]: 20 a second by default), or against a budget of
//! [`Roots::DEFAULT_PER_SECOND`] of its own when the roots have none (`always_off`,
//! `traceidratio`). Over it, the request goes unrecorded, as one out of the sample does.
//!
//! One kind of caller is inside the trace already: the storefront, whose page requests
//! the gateway forwarded and which calls the API back through it. A trace the gateway
//! started itself is remembered for a while, and its later requests are followed without
//! touching the budget, up to [`PER_TRACE`] of them. A client's trace the gateway granted
//! is not: the client chose its id and could send it again and again, every request
//! traced (a review did, 360 of 360 with 10 ids); the ids the gateway makes, nobody
//! outside sees.

use super::Roots;
use opentelemetry::trace::TraceId;
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long a recorded trace's later requests are followed.
const KEPT_FOR: Duration = Duration::from_secs(30);

/// How many of a recorded trace's requests are followed without the budget.
pub(super) const PER_TRACE: u16 = 32;

/// The most traces remembered at once: past it the oldest are forgotten first.
const REMEMBERED: usize = 4096;

/// The gateway's judgement of its callers' sampled flags (see the module's page).
pub(super) struct Edge {
    /// The budget of callers' traces when the roots have none of their own.
    own_budget: governor::DefaultDirectRateLimiter,
    /// The traces recorded here lately: until when each is followed, and for how many
    /// more requests.
    recorded: Mutex<HashMap<TraceId, (Instant, u16)>>,
}

impl Edge {
    pub(super) fn new() -> Self {
        let per_second = std::num::NonZeroU32::new(Roots::DEFAULT_PER_SECOND)
            .unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            own_budget: governor::RateLimiter::direct(governor::Quota::per_second(per_second)),
            recorded: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request at `path` whose caller asked for `trace` to be recorded is.
    pub(super) fn follows(&self, trace: TraceId, roots: Option<&Roots>, path: &str) -> bool {
        let now = Instant::now();
        if let Some((until, left)) = self.lock().get_mut(&trace)
            && *until > now
            && *left > 0
        {
            *left -= 1;
            return true;
        }
        let Some(roots) = roots else {
            return false;
        };
        match roots {
            Roots::Every | Roots::PerSecond(..) => roots.admit(path),
            Roots::Never | Roots::Share(_) => {
                !Roots::never_traced(path) && self.own_budget.check().is_ok()
            }
        }
    }

    /// Notes that `trace` is recorded here, so that its later requests are followed.
    pub(super) fn remember(&self, trace: TraceId) {
        let now = Instant::now();
        let mut recorded = self.lock();
        if recorded.contains_key(&trace) {
            return;
        }
        if recorded.len() >= REMEMBERED {
            recorded.retain(|_, (until, _)| *until > now);
        }
        if recorded.len() >= REMEMBERED
            && let Some(oldest) = recorded.iter().min_by_key(|(_, (until, _))| *until)
        {
            let oldest = *oldest.0;
            recorded.remove(&oldest);
        }
        recorded.insert(trace, (now + KEPT_FOR, PER_TRACE));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TraceId, (Instant, u16)>> {
        // A panic elsewhere while holding it leaves a map that is still a map.
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: u128) -> TraceId {
        TraceId::from_bytes(n.to_be_bytes())
    }

    fn followed(edge: &Edge, roots: &Roots, traces: std::ops::Range<u128>) -> usize {
        traces
            .filter(|&n| edge.follows(trace(n), Some(roots), "/api/catalog/products"))
            .count()
    }

    #[test]
    fn callers_traces_share_the_roots_budget() {
        let edge = Edge::new();
        let roots = Roots::new("ratelimited", Some("5"));
        // 100 callers' traces in a burst: the budget's 5, not 100.
        assert_eq!(followed(&edge, &roots, 0..100), 5);
        // And the gateway's own roots have nothing left either.
        assert!(!roots.admit("/api/catalog/products"));
    }

    #[test]
    fn without_a_budget_of_the_roots_callers_get_one_of_their_own() {
        let edge = Edge::new();
        let never = Roots::new("always_off", None);
        let cap = Roots::DEFAULT_PER_SECOND as usize;
        assert_eq!(followed(&edge, &never, 0..1000), cap);
        let edge = Edge::new();
        let share = Roots::new("traceidratio", Some("0.5"));
        assert_eq!(followed(&edge, &share, 0..1000), cap);
        // Always on traces every request anyway.
        let edge = Edge::new();
        let every = Roots::new("always_on", None);
        assert_eq!(followed(&edge, &every, 0..1000), 1000);
    }

    #[test]
    fn a_recorded_traces_later_requests_are_followed_up_to_a_bound() {
        let edge = Edge::new();
        let roots = Roots::new("ratelimited", Some("1"));
        // The budget is spent on another trace.
        assert_eq!(followed(&edge, &roots, 0..10), 1);
        edge.remember(trace(42));
        let later = (0..1000)
            .filter(|_| edge.follows(trace(42), Some(&roots), "/api/cart"))
            .count();
        assert_eq!(later, usize::from(PER_TRACE));
        // Remembering it again (another span of the same trace) does not refill it.
        edge.remember(trace(42));
        assert!(!edge.follows(trace(42), Some(&roots), "/api/cart"));
    }

    #[test]
    fn probes_are_never_traced_for_a_caller() {
        let edge = Edge::new();
        let never = Roots::new("always_off", None);
        assert!(!edge.follows(trace(1), Some(&never), "/health/ready"));
        assert!(!edge.follows(trace(1), None, "/api/catalog/products"));
    }

    #[test]
    fn the_memory_is_bounded() {
        let edge = Edge::new();
        for n in 0..(REMEMBERED as u128 + 10) {
            edge.remember(trace(n));
        }
        assert_eq!(edge.lock().len(), REMEMBERED);
        // The newest is kept.
        assert!(edge.lock().contains_key(&trace(REMEMBERED as u128 + 9)));
    }
}
