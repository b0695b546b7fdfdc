//! Internal paths stay internal: each trick to make the gateway route one is refused.

use crate::helpers::spawn_gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `method path` exactly as written (an HTTP client would normalise it) and
/// answers the status code and body.
async fn raw(address: &str, method: &str, path: &str) -> (u16, String) {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A client's `Connection` may name its own headers for the gateway to drop, not the
/// body's framing nor the id the gateway gives the request: the POST's body and its id
/// reach the service.
#[tokio::test]
async fn connection_cannot_drop_a_body_or_the_request_id() {
    let gateway = spawn_gateway(&[]).await;
    let host = gateway.api.address.trim_start_matches("http://");
    for framing in ["Content-Length: 7\r\n", "Transfer-Encoding: chunked\r\n"] {
        let body = if framing.starts_with("Content-Length") {
            "{\"a\":1}".to_owned()
        } else {
            "7\r\n{\"a\":1}\r\n0\r\n\r\n".to_owned()
        };
        let named = framing.split(':').next().unwrap_or_default();
        let request = format!(
            "POST /api/echo/things HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             {framing}Connection: close, {named}, X-Request-Id, X-Mine\r\nX-Mine: 1\r\n\r\n{body}"
        );
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{named}: {answer}");
        let json = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        // A chunked answer's body is framed in chunks: the JSON is its one chunk.
        let json = json.find('{').map(|at| &json[at..]).unwrap_or(json);
        let json = json.rfind('}').map(|at| &json[..=at]).unwrap_or(json);
        let seen: Value = serde_json::from_str(json).expect("the echo's JSON");
        assert_eq!(seen["body"], "{\"a\":1}", "{named}: {seen}");
        assert!(seen["request_id"].is_string(), "{named}: {seen}");
    }
}

/// A body in a transfer coding the gateway does not take off (`gzip, chunked`) is refused
/// 501: its chunks were taken off and the rest passed on as a plain body, where a proxy
/// before the gateway that decodes it sees another (the HTTP review).
#[tokio::test]
async fn a_body_in_another_transfer_coding_is_refused() {
    let gateway = spawn_gateway(&[]).await;
    let host = gateway.api.address.trim_start_matches("http://");
    for coding in ["gzip, chunked", "foo, chunked"] {
        let request = format!(
            "POST /api/echo/things HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: {coding}\r\nConnection: close\r\n\r\n7\r\n{{\"a\":1}}\r\n0\r\n\r\n"
        );
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 501"), "{coding}: {answer}");
        assert!(
            answer.contains("application/problem+json"),
            "{coding}: {answer}"
        );
    }
}

#[tokio::test]
async fn internal_paths_are_not_routed_however_they_are_written() {
    let gw = spawn_gateway(&[]).await;
    let address = gw.api.address.clone();

    // What is public still goes through, unchanged.
    let (status, body) = raw(&address, "GET", "/api/echo/things/1").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"path\":\"/api/echo/things/1\""), "{body}");

    // A target that is no path is told so, not that its path has dot segments.
    for (method, target) in [("OPTIONS", "*"), ("CONNECT", "127.0.0.1:9")] {
        let (status, body) = raw(&address, method, target).await;
        assert_eq!(status, 400, "{method} {target}: {body}");
        assert!(body.contains("must be a path"), "{method} {target}: {body}");
    }

    // Tricks to reach identity's service tokens, a service's internal routes and the
    // event log (each a path and why it is a trick).
    let posts = [
        ("/api/identity/service-tokens", "identity's service tokens"),
        ("/api/identity/SERVICE-TOKENS", "in capitals"),
        ("/api/identity/service-tokens/", "with a trailing slash"),
        ("/api/identity/%73ervice-tokens", "percent-encoded"),
        ("/api/identity/x/../service-tokens", "behind a dot-dot"),
        ("/api/identity/./service-tokens", "behind a dot"),
        (
            "/api/identity/x/%2e%2e/service-tokens",
            "behind an encoded dot-dot",
        ),
        (
            "/api/identity/x/%2E%2E/service-tokens",
            "the same in capitals",
        ),
        ("/api/identity%2fservice-tokens", "with an encoded slash"),
        ("/api/identity//service-tokens", "after a double slash"),
        (
            "//api/identity/service-tokens",
            "after a leading double slash",
        ),
        ("/api/identity/%252e%252e/service-tokens", "double-encoded"),
    ];
    let gets = [
        ("/api/echo/private", "a service's internal route"),
        ("/api/echo/Private/x", "in mixed case"),
        ("/api/echo/public/../private", "behind a dot-dot"),
        ("/api/echo/%70rivate", "percent-encoded"),
        ("/events/log?after=0", "the event log, through the pages"),
        ("/events/outbox", "the outbox figures"),
        ("/events/head?types=x", "the newest event"),
        ("/Events/log", "in capitals"),
        ("/%65vents/log", "percent-encoded"),
        ("/x/../events/log", "behind a dot-dot"),
        ("/api/echo/events/log", "under a service's prefix"),
        ("/api/echo/../../events/log", "climbing out of a prefix"),
    ];
    let cases = posts.map(|case| ("POST", case)).into_iter();
    for (method, (path, why)) in cases.chain(gets.map(|case| ("GET", case))) {
        let (status, body) = raw(&address, method, path).await;
        assert!(
            status == 400 || status == 404,
            "{method} {path} ({why}) answered {status}: {body}"
        );
        if let Ok(echoed) = serde_json::from_str::<Value>(&body) {
            assert!(
                echoed.get("path").is_none(),
                "{method} {path} ({why}) reached a service: {body}"
            );
        }
    }
}

#[tokio::test]
async fn answers_over_tls_ask_browsers_to_stay_on_https() {
    let gateway = spawn_gateway(&[]).await;
    for path in ["/", "/api/echo/public"] {
        let over_tls = gateway.get(path, &[("x-forwarded-proto", "https")]).await;
        assert_eq!(
            over_tls.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
        let plain = gateway.get(path, &[]).await;
        assert!(
            !plain.headers().contains_key("strict-transport-security"),
            "{path}: no HSTS over plain HTTP"
        );
    }
    // A client that is no trusted proxy cannot claim TLS: no HSTS for it, and the
    // services behind hear `http`.
    let untrusting = spawn_gateway(&[("trusted_proxies", "")]).await;
    let claimed = untrusting
        .get("/api/echo/public", &[("x-forwarded-proto", "https")])
        .await;
    assert!(!claimed.headers().contains_key("strict-transport-security"));
    let body: Value = claimed.json().await.unwrap();
    assert_eq!(body["forwarded_proto"], "http", "{body}");
}

#[tokio::test]
async fn answers_are_counted_per_service_forwarded_to() {
    let gw = spawn_gateway(&[]).await;
    for path in [
        "/api/echo/things/1",
        "/api/echo/things/2",
        "/",
        "/api/nowhere/x",
    ] {
        gw.get(path, &[]).await;
    }
    let metrics = gw.get("/metrics", &[]).await.text().await.unwrap();
    let count = |route: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with("bazaar_http_requests_total{"))
            .filter(|l| l.contains(&format!("route=\"{route}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(count("/api/echo"), 2.0, "{metrics}");
    assert_eq!(count("/{*page}"), 1.0, "the storefront's pages: {metrics}");
    assert_eq!(count("unmatched"), 1.0, "no such service: {metrics}");
}

/// The gateway's own document describes what it answers itself, every status of it a
/// problem document, as the contract has every service publish one.
#[tokio::test]
async fn the_gateway_documents_its_own_answers() {
    let gw = spawn_gateway(&[]).await;
    let res = gw.get("/openapi.json", &[]).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    let forward = &doc["paths"]["/api/{service}/{path}"];
    for method in ["get", "post", "put", "patch", "delete"] {
        let responses = &forward[method]["responses"];
        for status in [
            "400", "401", "404", "408", "413", "429", "500", "502", "503", "504",
        ] {
            assert!(
                responses[status]["content"]["application/problem+json"].is_object(),
                "{method} {status}: {responses}"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object(), "{doc}");
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "{doc}"
    );
}

/// A route that takes its credentials in its body (signing in, refreshing a token) is
/// forwarded whatever bearer token comes along, and without it; elsewhere a token that
/// does not verify is refused before it reaches a service.
#[tokio::test]
async fn a_route_that_takes_no_token_ignores_a_bad_one() {
    let gw = spawn_gateway(&[]).await;
    let bad = [("authorization", "Bearer not.a.token")];
    let login = gw.get("/api/echo/login", &bad).await;
    assert_eq!(login.status(), 200);
    let echoed: serde_json::Value = login.json().await.unwrap();
    assert_eq!(echoed["authorization"], serde_json::Value::Null, "{echoed}");
    let public = gw.get("/api/echo/anything", &bad).await;
    assert_eq!(public.status(), 401);
}

/// Without a token a request reaches the service, even on a route that needs one: the
/// service refuses it (401) or says there is no such route (404) or method (405), which
/// the gateway cannot tell (answering 401 for every path under a protected prefix told
/// a client that `/api/orders/nonexistent` needed a token). A token that does not verify
/// reaches nothing, on any route that looks at tokens.
#[tokio::test]
async fn without_a_token_the_service_answers_and_a_bad_token_goes_no_further() {
    let gw = spawn_gateway(&[]).await;
    let send = |method: &str, path: &str, token: Option<&str>| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = gw.api.client.request(method, gw.api.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    for (method, path) in [
        ("GET", "/api/echo/me"),
        ("DELETE", "/api/echo/me/nonexistent"),
        ("OPTIONS", "/api/echo/me"),
        ("POST", "/api/echo/shelf/1"),
        ("PATCH", "/api/echo/shelf/1"),
        ("GET", "/api/echo/shelf/1"),
        ("FOO1", "/api/echo/shelf/1"),
    ] {
        let res = send(method, path, None).await.unwrap();
        assert_eq!(res.status(), 200, "{method} {path} without a token");
        let echoed: serde_json::Value = res.json().await.unwrap();
        assert_eq!(echoed["method"], method, "{echoed}");
        assert_eq!(echoed["path"], path, "{echoed}");
        let res = send(method, path, Some("not.a.token")).await.unwrap();
        assert_eq!(res.status(), 401, "{method} {path} with a bad token");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
}

/// An upstream replica that reads each request and breaks the connection before any
/// answer (a process killed mid-request): the number of requests it read.
async fn breaking_replica() -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let read = std::sync::Arc::new(AtomicU32::new(0));
    let counter = read.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                // A reset, not a clean close: the request may have been acted on.
                let _ = conn.set_zero_linger();
            });
        }
    });
    (url, read)
}

/// A POST with an `Idempotency-Key` whose connection broke is sent to another replica
/// only where its service says it honours the key (orders' checkout does; cart ignored it,
/// and a review's add-to-cart was applied twice when a cart replica was killed).
#[tokio::test]
async fn a_keyed_post_is_sent_again_only_where_the_service_honours_the_key() {
    use std::sync::atomic::Ordering;
    let (a, read_a) = breaking_replica().await;
    let (b, read_b) = breaking_replica().await;
    let replicas = format!("{a},{b}");
    let gateway = crate::helpers::spawn_gateway_to(
        Some(&replicas),
        &[("probe_interval_ms", "0"), ("breaker_failures", "100")],
    )
    .await;
    let read = || read_a.load(Ordering::SeqCst) + read_b.load(Ordering::SeqCst);
    let post = async |path: &str, key: &str| {
        gateway
            .api
            .client
            .post(gateway.api.url(path))
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"quantity": 1}))
            .send()
            .await
            .unwrap()
            .status()
    };
    for i in 0..3 {
        assert_eq!(post("/api/echo/items", &format!("plain-{i}")).await, 502);
    }
    assert_eq!(
        read(),
        3,
        "each sent once: the service does not honour the key"
    );
    for i in 0..3 {
        assert_eq!(post("/api/echo/keyed", &format!("keyed-{i}")).await, 502);
    }
    assert_eq!(
        read(),
        3 + 6,
        "each sent to both replicas: this route honours the key"
    );
}

/// An event stream the gateway forwards ends when the gateway shuts down, cleanly, so
/// the client reconnects (to another replica, or the successor) and the gateway stops at
/// once: it held the stream, and its own exit, for the whole grace period (10 s), then
/// cut it as a failure (the notifications review: every gateway restart took 12 s with a
/// storefront page open).
#[tokio::test]
async fn a_forwarded_event_stream_ends_when_the_gateway_shuts_down() {
    let mut gw = spawn_gateway(&[]).await;
    let mut stream = gw.get("/api/echo/events", &[]).await;
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream flows");

    let took = gw.stop_gateway().await;

    assert!(
        // Without the end of the stream it waits out the grace period, 10 s.
        took < std::time::Duration::from_secs(5),
        "stopped in {took:?}"
    );
    let rest = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(_tick) = stream.chunk().await? {}
        Ok::<_, reqwest::Error>(())
    })
    .await
    .expect("the stream ends");
    assert!(rest.is_ok(), "ended cleanly: {rest:?}");
}

/// Event streams hold their connections for as long as they are open: beyond its bound
/// the gateway refuses one more with a 503 to retry, and everything else is served as
/// ever (the notifications review: 88 streams of 11 accounts took every connection a
/// gateway allowed, and the whole shop stopped answering, its health checks included).
#[tokio::test]
async fn streams_beyond_the_gateways_bound_are_refused_and_the_rest_is_served() {
    // Arrange: a gateway forwarding two streams at most, both open.
    let gw = spawn_gateway(&[("max_streams", "2")]).await;
    let mut first = gw.get("/api/echo/events", &[]).await;
    let second = gw.get("/api/echo/events", &[]).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert!(first.chunk().await.unwrap().is_some(), "the stream flows");

    // Act
    let third = gw
        .get("/api/echo/events", &[("accept", "text/event-stream")])
        .await;
    let other = gw.get("/api/echo/public", &[]).await;

    // Assert: the third refused, to be asked again; the rest served.
    assert_eq!(third.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(third.headers()["retry-after"], "5");
    let problem: Value = third.json().await.unwrap();
    assert_eq!(
        problem["type"], "urn:bazaar:problem:too-many-streams",
        "{problem}"
    );
    assert_eq!(other.status(), reqwest::StatusCode::OK);
    // A stream that ends gives its place back.
    drop(second);
    let mut again = None;
    for _ in 0..100 {
        let res = gw.get("/api/echo/events", &[]).await;
        if res.status() == reqwest::StatusCode::OK {
            again = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut again = again.expect("a stream opened once another ended");
    assert!(
        again.chunk().await.unwrap().is_some(),
        "the new stream flows"
    );
}

#[tokio::test]
async fn a_head_the_services_could_not_take_is_refused_by_the_gateway() {
    let gateway = spawn_gateway(&[]).await;
    let names: Vec<String> = (0..95).map(|i| format!("x-h{i}")).collect();
    // 92 fields: reqwest adds `accept` and `host`, so 90 of these.
    let headers = |n: usize| -> Vec<(&str, &str)> {
        names[..n].iter().map(|name| (name.as_str(), "v")).collect()
    };
    // Room left for what the gateway adds: forwarded, and answered by the service. The
    // most it takes, 92 (with reqwest's `accept` and `host`), passes; one more does not.
    let fits = gateway.get("/api/echo/public", &headers(90)).await;
    assert_eq!(fits.status(), reqwest::StatusCode::OK);
    let over = gateway.get("/api/echo/public", &headers(91)).await;
    assert_eq!(
        over.status(),
        reqwest::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Past it: the gateway's own 431, naming its own limit.
    let refused = gateway.get("/api/echo/public", &headers(95)).await;
    assert_eq!(
        refused.status(),
        reqwest::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:bazaar:problem:request-header-fields-too-large"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("more than 92 header fields"),
        "{problem}"
    );
    let long = "v".repeat(79 * 1024);
    let refused = gateway
        .get("/api/echo/public", &[("x-long", long.as_str())])
        .await;
    assert_eq!(
        refused.status(),
        reqwest::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}
