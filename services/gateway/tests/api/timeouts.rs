//! A slow upstream costs a client the upstream's timeout, and never more than the
//! request's whole time: each answered with its own problem.

use crate::helpers::spawn_gateway;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `GET path` through `gw`: the status, the problem's `type`, and how long it took.
async fn timed(gw: &crate::helpers::TestGateway, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let res = gw.get(path, &[]).await;
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("a JSON body");
    let kind = body["type"].as_str().unwrap_or_default().to_owned();
    (status, kind, started.elapsed())
}

#[tokio::test]
async fn an_upstream_slower_than_its_timeout_is_a_504_after_that_timeout() {
    let gw = spawn_gateway(&[("upstream_timeout_ms", "300")]).await;
    let (status, kind, took) = timed(&gw, "/api/echo/slow?ms=5000").await;
    assert_eq!(status, 504, "{kind}");
    assert!(kind.ends_with("gateway-timeout"), "{kind}");
    assert!(
        took < Duration::from_secs(4),
        "answered at the timeout, not the upstream's pace: {took:?}"
    );

    let (status, _, _) = timed(&gw, "/api/echo/slow?ms=10").await;
    assert_eq!(status, 200, "an upstream within its time is answered");
}

/// A browser asking for a page the storefront is too slow to give gets a page saying so,
/// not the problem document a script gets.
#[tokio::test]
async fn a_page_the_storefront_is_too_slow_for_is_a_page_for_a_browser() {
    let gw = spawn_gateway(&[("upstream_timeout_ms", "300")]).await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let res = gw.get("/a/slow?ms=5000", &[("accept", browser)]).await;
    assert_eq!(res.status().as_u16(), 504);
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>Gateway timeout</h1>"), "{html}");
    // A script asking the same gets the problem document; so does the API, whoever asks.
    let (status, kind, _) = timed(&gw, "/a/slow?ms=5000").await;
    assert_eq!(status, 504);
    assert!(kind.ends_with("gateway-timeout"), "{kind}");
    let res = gw
        .get("/api/echo/slow?ms=5000", &[("accept", browser)])
        .await;
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/problem+json"), "{kind}");
}

#[tokio::test]
async fn a_request_never_outlasts_its_whole_time_whatever_the_upstreams_timeout() {
    let gw = spawn_gateway(&[
        ("upstream_timeout_ms", "10000"),
        ("request_timeout_ms", "300"),
    ])
    .await;
    let (status, kind, took) = timed(&gw, "/api/echo/slow?ms=5000").await;
    assert_eq!(status, 503, "{kind}");
    assert!(kind.ends_with("unavailable"), "{kind}");
    assert!(
        took < Duration::from_secs(4),
        "cut off at the request's time: {took:?}"
    );
}

#[tokio::test]
async fn a_body_that_never_comes_is_cut_off_at_the_requests_whole_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = spawn_gateway(&[("request_timeout_ms", "300")]).await;
    let host = gw.api.url("").trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/echo/things HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"half\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer before the client gives up")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    // The client's fault, not the shop's: a 4xx, as any bad input.
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
}
