//! Who may call a path, and how long its upstream may take: read from the routes each
//! service declares in its `ServiceDef` (see the registry).
//!
//! The gateway refuses any request whose token is invalid before it reaches a service,
//! and does not route internal paths at all. A request without a token goes on even to a
//! protected route: the service refuses it (401) or says there is no such route (404) or
//! method (405), which the gateway cannot tell, knowing a service's protected prefixes
//! but not its routes. Services verify tokens themselves in any case (the gateway is not
//! the only way in inside the cluster).

use http::{HeaderMap, Method};
use platform::registry::{Access, ServiceDef};
use std::{borrow::Cow, time::Duration};

/// What the gateway does with a request to one of a service's public paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not routed: answered 404 as if there were nothing there.
    Hidden,
    /// Needs a valid bearer token: forwarded with one, and without one for the service
    /// to refuse (or to say there is no such route).
    NeedsToken,
    /// Forwarded (a token, when present, is still verified).
    Open,
    /// Forwarded without any bearer token (see [`Access::Anonymous`]).
    Anonymous,
}

/// The verdict on `method path` for `service`, `path` being the full public path
/// (`/api/<service>/...`).
pub fn verdict(service: &ServiceDef, method: &Method, path: &str) -> Verdict {
    let rest = rest_of(service, path);
    // A service's public document describes what anyone may try: anyone may read it.
    if rest == "/openapi.json" && is_read(method) {
        return Verdict::Open;
    }
    match service.route(rest).map_or(Access::Public, |r| r.access) {
        Access::Internal => Verdict::Hidden,
        Access::SignedIn => Verdict::NeedsToken,
        // A method that is neither (`TRACE`, one made up) is the service's to refuse
        // (405, with the methods it takes), not a reason to ask for a token.
        Access::SignedInToWrite if is_write(method) => Verdict::NeedsToken,
        Access::SignedInToWrite | Access::Public => Verdict::Open,
        Access::Anonymous => Verdict::Anonymous,
    }
}

/// Why a path is refused before any routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// Empty (`//`) or dot (`.`, `..`) segments, a backslash, or percent-encoded dots,
    /// slashes, backslashes or percent signs: ways to make the gateway and a service
    /// read one path two ways. Answered 400.
    Ambiguous,
    /// An internal path (event feeds): answered 404, as if there were nothing there.
    Internal,
}

/// The path the gateway judges a request by: percent-decoded and lower-cased, once it is
/// sure that the service behind will read the same segments. Paths are forwarded as they
/// came; this form only decides whether they are. A path already in that form (most are)
/// is judged as it is, without a copy.
pub fn canonical(path: &str) -> Result<Cow<'_, str>, BadPath> {
    let plain = !path
        .bytes()
        .any(|b| b == b'%' || b == b'\\' || b.is_ascii_uppercase());
    let decoded = if plain {
        Cow::Borrowed(path)
    } else {
        let lower = path.to_ascii_lowercase();
        if ["%2e", "%2f", "%5c", "%25", "\\"]
            .iter()
            .any(|bad| lower.contains(bad))
        {
            return Err(BadPath::Ambiguous);
        }
        let decoded = percent_encoding::percent_decode_str(&lower)
            .decode_utf8()
            .map_err(|_| BadPath::Ambiguous)?;
        Cow::Owned(decoded.into_owned())
    };
    let head = first_segments(&decoded)?;
    if is_event_feed(&head) {
        return Err(BadPath::Internal);
    }
    Ok(decoded)
}

/// The first segments of an absolute path (all `is_event_feed` looks at), in one pass over
/// its bytes; `Ambiguous` for a relative path, an empty segment (`//`, but a trailing
/// slash is an empty last segment, and harmless), a dot segment or a backslash.
fn first_segments(path: &str) -> Result<[&str; 4], BadPath> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(BadPath::Ambiguous);
    }
    let mut head = [""; 4];
    let (mut n, mut start) = (0, 1);
    for end in 1..=bytes.len() {
        match bytes.get(end) {
            Some(b'\\') => return Err(BadPath::Ambiguous),
            Some(b'/') | None => {
                let segment = &path[start..end];
                let last = end == bytes.len();
                if matches!(segment, "." | "..") || (segment.is_empty() && !last) {
                    return Err(BadPath::Ambiguous);
                }
                if let Some(h) = head.get_mut(n) {
                    *h = segment;
                }
                n += 1;
                start = end + 1;
            }
            Some(_) => {}
        }
    }
    Ok(head)
}

/// `/events/...` (where every producer serves its log, outbox and head) and
/// `/api/<service>/events/{log,outbox,head}`: only services read them, directly. The
/// dead letters under `/api/<service>/events/dead-letters` are for administrators, who
/// reach them through here.
fn is_event_feed(segments: &[&str]) -> bool {
    match segments {
        ["events", ..] => true,
        ["api", _, "events", feed, ..] => matches!(*feed, "log" | "outbox" | "head"),
        _ => false,
    }
}

/// The time the upstream has to answer `path`: the route's own, or `default`.
pub fn timeout(service: &ServiceDef, path: &str, default: Duration) -> Duration {
    service
        .route(rest_of(service, path))
        .and_then(|r| r.timeout_ms)
        .map_or(default, Duration::from_millis)
}

/// Whether the route of `path` answers a repeated `Idempotency-Key` without acting twice
/// (its service says so in the registry).
pub fn honours_idempotency_key(service: &ServiceDef, path: &str) -> bool {
    service
        .route(rest_of(service, path))
        .is_some_and(|r| r.idempotency_key)
}

/// The key that keeps a client's calls to `path` on one replica, when its route asks for
/// affinity: the hash of the value of the first of the route's cookies the request
/// carries (see `Route::affinity_cookies`). Without one (or only an emptied one) any
/// replica may answer.
pub fn affinity(service: &ServiceDef, path: &str, headers: &HeaderMap) -> Option<u64> {
    let names = service.route(rest_of(service, path))?.affinity_cookies;
    if names.is_empty() {
        return None;
    }
    platform::extract::cookies(headers)
        .find(|(name, value)| names.contains(name) && !value.is_empty())
        .map(|(_, value)| platform::balance::affinity_key(value.as_bytes()))
}

/// The part of `/api/<service>/rest` after the service's prefix.
fn rest_of<'p>(service: &ServiceDef, path: &'p str) -> &'p str {
    path.strip_prefix("/api/")
        .and_then(|p| p.strip_prefix(service.name))
        .unwrap_or("")
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_one_way_only_are_judged_decoded_and_lower_cased() {
        assert_eq!(
            canonical("/api/Echo/%70rivate").unwrap(),
            "/api/echo/private"
        );
        assert_eq!(canonical("/api/cart/").unwrap(), "/api/cart/");
        assert_eq!(canonical("/").unwrap(), "/");
        for (path, why) in [
            ("//api/echo/private", BadPath::Ambiguous),
            ("/api//echo/private", BadPath::Ambiguous),
            ("/api/echo/x/../private", BadPath::Ambiguous),
            ("/api/echo/./private", BadPath::Ambiguous),
            ("/api/echo/x/%2e%2e/private", BadPath::Ambiguous),
            ("/api/echo/x/%2E./private", BadPath::Ambiguous),
            ("/api/echo%2fprivate", BadPath::Ambiguous),
            ("/api/echo%5cprivate", BadPath::Ambiguous),
            ("/api/echo/%252e%252e/private", BadPath::Ambiguous),
            ("/api/echo\\private", BadPath::Ambiguous),
            ("/api/echo/..", BadPath::Ambiguous),
            ("/api/echo/.", BadPath::Ambiguous),
            ("api/echo", BadPath::Ambiguous),
            ("", BadPath::Ambiguous),
            ("/events/log", BadPath::Internal),
            ("/EVENTS/outbox", BadPath::Internal),
            ("/%65vents/head", BadPath::Internal),
            ("/api/orders/events/log", BadPath::Internal),
        ] {
            assert_eq!(canonical(path), Err(why), "{path}");
        }
        assert!(canonical("/api/orders/events/dead-letters").is_ok());
    }

    #[test]
    fn each_access_has_its_verdict() {
        let def = identity::SERVICE;
        for (method, path, expected) in [
            (Method::POST, "/api/identity/refresh", Verdict::Anonymous),
            (Method::POST, "/api/identity/login", Verdict::Anonymous),
            (Method::POST, "/api/identity/register", Verdict::Anonymous),
            (
                Method::GET,
                "/api/identity/.well-known/jwks.json",
                Verdict::Anonymous,
            ),
            (Method::GET, "/api/identity/me", Verdict::NeedsToken),
            (Method::POST, "/api/identity/logout", Verdict::NeedsToken),
            (Method::GET, "/api/identity/service-tokens", Verdict::Hidden),
            (Method::GET, "/api/identity/openapi.json", Verdict::Open),
        ] {
            assert_eq!(verdict(&def, &method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn a_clients_affinity_is_its_first_session_cookie() {
        use http::{HeaderValue, header};
        use platform::registry::Route;
        const PAGES: &[Route] =
            &[Route::new("", Access::Public).affinity_by_cookies(&["sid", "__Host-sid"])];
        let def = ServiceDef {
            name: "pages",
            routes: PAGES,
            ..identity::SERVICE
        };
        let key = |cookies: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for c in cookies {
                headers.append(header::COOKIE, HeaderValue::from_static(c));
            }
            affinity(&def, "/p/1", &headers)
        };
        let one = key(&["sid=abc"]);
        assert!(one.is_some());
        assert_eq!(key(&["theme=dark; sid=abc"]), one, "among other cookies");
        assert_eq!(
            key(&["theme=dark", "sid=\"abc\""]),
            one,
            "in any header, quoted"
        );
        assert_eq!(key(&["__Host-sid=abc"]), one, "by either name");
        assert_ne!(key(&["sid=abd"]), one);
        assert_eq!(
            key(&["sid=", "__Host-sid=abc"]),
            one,
            "an emptied one is none"
        );
        for none in [&[][..], &["theme=dark"], &["sid="], &["sidx=abc"]] {
            assert_eq!(key(none), None, "{none:?}");
        }
        // A route without affinity has no key, whatever the cookies.
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("sid=abc"));
        assert_eq!(
            affinity(&identity::SERVICE, "/api/identity/me", &headers),
            None
        );
    }

    #[test]
    fn only_a_write_needs_a_token_where_anyone_may_read() {
        use platform::registry::Route;
        const SHELF: &[Route] = &[Route::new("", Access::SignedInToWrite)];
        let def = ServiceDef {
            name: "shelf",
            routes: SHELF,
            ..identity::SERVICE
        };
        let made_up = Method::from_bytes(b"FOO1").unwrap();
        for (method, expected) in [
            (Method::GET, Verdict::Open),
            (Method::HEAD, Verdict::Open),
            (Method::OPTIONS, Verdict::Open),
            (Method::POST, Verdict::NeedsToken),
            (Method::PUT, Verdict::NeedsToken),
            (Method::PATCH, Verdict::NeedsToken),
            (Method::DELETE, Verdict::NeedsToken),
            // The service answers these 405 itself, as it does when called directly.
            (Method::TRACE, Verdict::Open),
            (made_up, Verdict::Open),
        ] {
            let path = "/api/shelf/products";
            assert_eq!(verdict(&def, &method, path), expected, "{method} {path}");
        }
    }
}
