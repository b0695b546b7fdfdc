//! The ops console: for administrators only; every service's health checked directly,
//! outboxes, the event feed, traffic from two scrapes and its charts, dead letters through
//! the gateway, and process control and traces through the supervisor's API (a stand-in
//! here: the real one is `bazaar up` itself, which the browser tests drive).

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, BROWSE_TRACE, Browser, CHECKOUT_TRACE, Storefront, checkout_trace,
    eventually, service_map, shop, spawn_storefront, trace_list,
};
use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode as AxumStatus},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::auth::Verifier;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

async fn admin(sf: &Storefront) -> Browser {
    let mut browser = Browser::new(sf);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser
}

fn service<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["services"]
        .as_array()
        .and_then(|list| list.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("{name} is not in {state}"))
}

#[tokio::test]
async fn only_administrators_see_the_console() {
    let sf = spawn_storefront(&[]).await;
    let mut anonymous = Browser::new(&sf);
    anonymous.get("/ops/api/state").await.assert_problem(
        StatusCode::UNAUTHORIZED,
        None,
        "anonymous",
    );
    let mut customer = Browser::customer(&sf).await;
    assert_eq!(customer.get("/ops").await.status, StatusCode::FORBIDDEN);
    customer
        .get("/ops/api/state")
        .await
        .assert_problem(StatusCode::FORBIDDEN, None, "customer");
    customer
        .script_post("/ops/api/services/catalog/kill")
        .await
        .assert_problem(StatusCode::FORBIDDEN, None, "a customer killing");
    let home = customer.get("/").await;
    assert!(!home.body.contains("Ops console"), "no link for customers");

    for path in ["/ops/traces", &format!("/ops/traces/{CHECKOUT_TRACE}")] {
        assert_eq!(
            customer.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        let page = anonymous.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location().starts_with("/signin?next=%2Fops%2Ftraces"),
            "{path}"
        );
    }
    for path in [
        "/ops/api/traces",
        "/ops/api/traces/map",
        &format!("/ops/api/traces/{CHECKOUT_TRACE}"),
    ] {
        customer
            .get(path)
            .await
            .assert_problem(StatusCode::FORBIDDEN, None, path);
        anonymous
            .get(path)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, None, path);
    }
}

#[tokio::test]
async fn the_console_shows_health_backlogs_and_events() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = admin(&sf).await;
    let page = browser.get("/ops").await;
    page.assert_html(
        StatusCode::OK,
        &[
            r#"data-service="catalog" data-health="up""#,
            r#"data-service="identity" data-health="up""#,
            r#"data-service="storefront" data-health="up""#,
            r#"data-service="search" data-health="down""#,
            r#"data-producer="catalog""#,
            "Process control is unavailable",
        ],
    );
    assert!(
        !page.body.contains(r#"data-action="kill""#),
        "no buttons without a supervisor"
    );

    // The console polls each part with a short patience: on a busy machine a first poll
    // may not have heard from every one yet.
    let state = eventually("the console to hear inventory's dead letters", async || {
        let state = browser.get("/ops/api/state").await.json();
        let heard = state["dead_letters"]
            .as_array()?
            .iter()
            .any(|g| g["service"] == "inventory" && g["count"].is_number());
        heard.then_some(state)
    })
    .await;
    assert_eq!(state["services"].as_array().unwrap().len(), 11);
    for (name, health) in [
        ("identity", "up"),
        ("catalog", "up"),
        ("inventory", "up"),
        ("cart", "up"),
        ("orders", "up"),
        ("payments", "up"),
        ("notifications", "up"),
        ("storefront", "up"),
        ("search", "down"),
        ("recommendations", "down"),
    ] {
        assert_eq!(service(&state, name)["health"], health, "{name}");
    }
    assert_eq!(service(&state, "search")["health_detail"], "not reachable");
    // The gateway answers; whether it is ready depends on which services it requires.
    assert_ne!(service(&state, "gateway")["health"], "down");
    let catalog = state["outboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["service"] == "catalog")
        .expect("the catalog's outbox");
    assert!(catalog["head"].as_i64().unwrap() >= 40, "{catalog}");
    let inventory_reads_catalog = catalog["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["consumer"] == "inventory");
    assert!(inventory_reads_catalog, "{catalog}");
    let feed = state["feed"].as_array().unwrap();
    // The newest events of every producer, newest first (the other tests keep the shop
    // busy, so which producers are among the newest varies).
    assert!(!feed.is_empty() && feed.len() <= 40, "{feed:?}");
    for e in feed {
        let kind = e["type"].as_str().unwrap();
        let producer = e["producer"].as_str().unwrap();
        assert!(kind.starts_with(&format!("bazaar.{producer}.")), "{e}");
        assert!(
            e["subject"].is_string() && e["seq"].as_i64().unwrap() > 0,
            "{e}"
        );
    }
    let times: Vec<&str> = feed.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert!(feed.len() <= 40);
    let inventory = state["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["service"] == "inventory")
        .expect("inventory's dead letters, through the gateway");
    assert_eq!(inventory["count"], 0);
    assert_eq!(state["process_control"]["available"], false);
}

#[tokio::test]
async fn traffic_is_measured_between_two_scrapes() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = admin(&sf).await;
    let client = reqwest::Client::new();
    let catalog = &shop().catalog;
    let state = eventually("rates for the catalog", async || {
        for _ in 0..5 {
            client
                .get(format!("{catalog}/api/catalog/categories"))
                .send()
                .await
                .ok()?;
        }
        let state = browser.get("/ops/api/state").await.json();
        let c = service(&state, "catalog");
        (c["requests_per_sec"].as_f64()? > 0.0 && c["p99_ms"].as_f64().is_some()).then_some(state)
    })
    .await;
    let c = service(&state, "catalog");
    assert!(c["p99_ms"].as_f64().unwrap() < 1000.0, "{c}");
    assert!(c["error_rate"].as_f64().unwrap() <= 1.0);

    // Each scrape's rates are kept for the charts: the newest at the right-hand edge.
    let charts = c["charts"].as_array().expect("charts");
    let metrics: Vec<&str> = charts
        .iter()
        .map(|c| c["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["rate", "errors", "p99"]);
    let rate = &charts[0];
    let path = rate["path"].as_str().unwrap();
    assert!(path.starts_with('M'), "{rate}");
    assert!(
        path.contains("120.0 ") || path.contains("119."),
        "the newest is now: {rate}"
    );
    assert!(
        rate["latest_label"].as_str().unwrap().ends_with("req/s"),
        "{rate}"
    );
    let page = browser.get("/ops").await;
    page.assert_html(StatusCode::OK, &[r#"data-chart-service="catalog""#]);
    let card = &page.body[page.body.find(r#"data-chart-service="catalog""#).unwrap()..];
    let card = &card[..card.find("</figure>").unwrap()];
    assert!(
        card.contains(r#"class="chart-line chart-rate" d="M"#),
        "{card}"
    );
}

/// What the stand-in supervisor was asked: (service, action, caller's role).
type Calls = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;
/// What the stand-in supervisor was asked of its traces: each path and query.
type Asked = Arc<Mutex<Vec<String>>>;

#[derive(Clone)]
struct Fake {
    verifier: Verifier,
    calls: Calls,
    asked: Asked,
}

/// The stand-in supervisor's address, and what it was asked.
struct FakeSupervisor {
    url: String,
    calls: Calls,
    asked: Asked,
}

impl FakeSupervisor {
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// Answers a trace request as the real collector does, to the storefront's service
/// token only; keeps what was asked.
async fn traces_answer(
    fake: &Fake,
    headers: &HeaderMap,
    asked: String,
    answer: Option<Value>,
) -> Response {
    match roles(fake, headers).await {
        Some(r) if r.iter().any(|r| r == "service") => {}
        _ => return AxumStatus::UNAUTHORIZED.into_response(),
    }
    fake.asked.lock().unwrap().push(asked);
    match answer {
        Some(body) => axum::Json(body).into_response(),
        None => platform::Problem::not_found("no such trace is kept").into_response(),
    }
}

async fn roles(fake: &Fake, headers: &HeaderMap) -> Option<Vec<String>> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    fake.verifier.verify(token).await.ok().map(|c| c.roles)
}

/// A stand-in for `bazaar up`'s control API that checks the caller's token: processes,
/// kill and restart, and the trace collector's fixtures (the list filtered by route and
/// errors as the real one filters it).
async fn fake_supervisor() -> FakeSupervisor {
    let shop = shop();
    let fake = Fake {
        verifier: Verifier::remote(&shop.identity, "bazaar-identity", "bazaar"),
        calls: Calls::default(),
        asked: Asked::default(),
    };
    let (calls, asked) = (fake.calls.clone(), fake.asked.clone());
    let app = Router::new()
        .route(
            "/traces",
            get(|State(fake): State<Fake>, headers: HeaderMap, RawQuery(query): RawQuery| async move {
                let query = query.unwrap_or_default();
                let filter: std::collections::HashMap<String, String> =
                    serde_urlencoded::from_str(&query).unwrap_or_default();
                let mut list = trace_list();
                list["traces"].as_array_mut().unwrap().retain(|t| {
                    filter.get("route").is_none_or(|r| t["name"].as_str().unwrap().contains(r.as_str()))
                        && (!filter.contains_key("errors") || t["error"] == true)
                });
                traces_answer(&fake, &headers, format!("/traces?{query}"), Some(list)).await
            }),
        )
        .route(
            "/traces/map",
            get(|State(fake): State<Fake>, headers: HeaderMap| async move {
                traces_answer(&fake, &headers, "/traces/map".into(), Some(service_map())).await
            }),
        )
        .route(
            "/traces/{id}",
            get(|State(fake): State<Fake>, Path(id): Path<String>, headers: HeaderMap| async move {
                let found = (id == CHECKOUT_TRACE).then(checkout_trace);
                traces_answer(&fake, &headers, format!("/traces/{id}"), found).await
            }),
        )
        .route(
            "/processes",
            get(|State(fake): State<Fake>, headers: HeaderMap| async move {
                match roles(&fake, &headers).await {
                    Some(r) if r.iter().any(|r| r == "service") => Ok(axum::Json(json!({"processes": [
                        {"service": "catalog", "replica": 1, "pid": 4242, "port": 8082, "state": "ready", "restarts": 1,
                         "started_at": "2025-01-01T00:00:00.000Z", "last_exit": "killed by signal 9", "cpus": "0"},
                        {"service": "catalog", "replica": 2, "pid": 4343, "port": 41001, "state": "unready", "restarts": 0,
                         "started_at": "2025-01-01T00:00:00.000Z", "last_exit": null, "cpus": "1"},
                    ]}))),
                    _ => Err(AxumStatus::UNAUTHORIZED),
                }
            }),
        )
        .route(
            "/processes/{service}/{action}",
            post(
                |State(fake): State<Fake>, Path((service, action)): Path<(String, String)>, headers: HeaderMap| async move {
                    // As the real one: only an administrator kills or restarts.
                    let Some(r) = roles(&fake, &headers).await else {
                        return AxumStatus::UNAUTHORIZED;
                    };
                    let admin = r.iter().any(|r| r == "admin");
                    fake.calls.lock().unwrap().push((service, action, r));
                    if admin { AxumStatus::ACCEPTED } else { AxumStatus::FORBIDDEN }
                },
            ),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeSupervisor { url, calls, asked }
}

#[tokio::test]
async fn processes_are_killed_through_the_supervisor_as_the_signed_in_administrator() {
    let FakeSupervisor {
        url: supervisor,
        calls,
        ..
    } = fake_supervisor().await;
    let sf = spawn_storefront(&[("supervisor_url", &supervisor)]).await;
    let mut browser = admin(&sf).await;
    let page = browser.get("/ops").await;
    page.assert_html(
        StatusCode::OK,
        &[
            r#"data-action="kill" data-service="catalog""#,
            // Each replica, with what is not right about it (the restart is the first's).
            "#1 pid 4242 on CPU 0, restarted 1×; #2 pid 4343 on CPU 1 (unready)",
            // Kill takes the first replica, and says so.
            "Kill #1",
        ],
    );
    let answer = browser.script_post("/ops/api/services/catalog/kill").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let state = answer.json();
    assert_eq!(service(&state, "catalog")["pid"], 4242);
    // Each replica's CPUs, as the supervisor reported them.
    assert_eq!(service(&state, "catalog")["cpus"], "0");
    assert_eq!(service(&state, "catalog")["replicas"][1]["cpus"], "1");
    assert_eq!(state["process_control"]["available"], true);
    let restart = browser
        .script_post("/ops/api/services/search/restart")
        .await;
    assert_eq!(restart.status, StatusCode::OK);
    let seen = calls.lock().unwrap().clone();
    let asked: Vec<(&str, &str)> = seen
        .iter()
        .map(|(s, a, _)| (s.as_str(), a.as_str()))
        .collect();
    assert_eq!(asked, [("catalog", "kill"), ("search", "restart")]);
    assert!(
        seen.iter()
            .all(|(_, _, roles)| roles.iter().any(|r| r == "admin")
                && !roles.iter().any(|r| r == "service")),
        "the storefront passes on the administrator's token, never its own: {seen:?}"
    );

    // The storefront itself, and the gateway its answer goes through: answered first,
    // killed a moment later (killed at once, the answer never got out).
    for own in ["storefront", "gateway"] {
        let answer = browser
            .script_post(&format!("/ops/api/services/{own}/kill"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let killed = || {
            calls
                .lock()
                .unwrap()
                .iter()
                .any(|(s, a, _)| s == own && a == "kill")
        };
        assert!(!killed(), "{own} is killed after the answer is out");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while !killed() {
            assert!(
                std::time::Instant::now() < deadline,
                "{own} was never killed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// A kill's answer shows the service as its replicas together are: one gone beside one
/// serving is degraded, not down (the console probed the first replica alone, and the
/// console review saw a service "down" for a second while its other replica served).
#[tokio::test]
async fn a_kill_answers_with_the_service_as_its_replicas_together_are() {
    let FakeSupervisor {
        url: supervisor, ..
    } = fake_supervisor().await;
    let serving = &shop().urls["catalog_url"];
    let replicas = format!("http://127.0.0.1:1,{serving}");
    let sf = spawn_storefront(&[("supervisor_url", &supervisor), ("catalog_url", &replicas)]).await;
    let mut browser = admin(&sf).await;
    let answer = browser.script_post("/ops/api/services/catalog/kill").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let state = answer.json();
    assert_eq!(service(&state, "catalog")["health"], "degraded", "{state}");
    let down = state["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["service"] == "catalog" && i["health"] == "down")
        .count();
    assert_eq!(down, 0, "never said down: {}", state["incidents"]);
}

#[tokio::test]
async fn process_control_without_a_supervisor_is_unavailable() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = admin(&sf).await;
    let page = browser.script_post("/ops/api/services/catalog/kill").await;
    let body = page.assert_problem(StatusCode::SERVICE_UNAVAILABLE, None, "no supervisor");
    assert!(
        body["detail"].as_str().unwrap().contains("bazaar up"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_console_requests_name_the_field() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = admin(&sf).await;
    let cases = [
        (
            "/ops/api/services/nope/kill",
            "service",
            "an unknown service",
        ),
        (
            "/ops/api/services/catalog/explode",
            "action",
            "an unknown action",
        ),
        (
            "/ops/api/services/..%2Fidentity/kill",
            "service",
            "a path in the name",
        ),
        (
            "/ops/api/dead-letters/nope/abc/replay",
            "service",
            "replay for an unknown service",
        ),
        (
            "/ops/api/dead-letters/inventory/a%20b/replay",
            "id",
            "a malformed dead letter id",
        ),
        // A letter's id is a UUID; and a service that consumes nothing has no letters
        // (the gateway's 404 for one named an internal route: the console review).
        (
            "/ops/api/dead-letters/inventory/no-such-letter/replay",
            "id",
            "a dead letter id that is not a UUID",
        ),
        (
            "/ops/api/dead-letters/orders/0190d1a2-3b4c-7d5e-8f60-718293a4b5c6/replay",
            "service",
            "replay for a service that consumes no events",
        ),
        (
            "/ops/api/dead-letters/orders/0190d1a2-3b4c-7d5e-8f60-718293a4b5c6/discard",
            "service",
            "discard for a service that consumes no events",
        ),
        (
            "/ops/api/dead-letters/nope/0190d1a2-3b4c-7d5e-8f60-718293a4b5c6/discard",
            "service",
            "discard for an unknown service",
        ),
    ];
    for (path, field, case) in cases {
        let page = browser.script_post(path).await;
        page.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field), case);
    }
    for action in ["replay", "discard"] {
        let missing = browser
            .script_post(&format!(
                "/ops/api/dead-letters/inventory/0190d1a2-3b4c-7d5e-8f60-718293a4b5c6/{action}"
            ))
            .await;
        missing.assert_problem(StatusCode::NOT_FOUND, None, "an unknown dead letter");
    }
}

#[tokio::test]
async fn the_trace_view_lists_traces_draws_one_and_maps_the_services() {
    let supervisor = fake_supervisor().await;
    let sf = spawn_storefront(&[("supervisor_url", &supervisor.url)]).await;
    let mut browser = admin(&sf).await;
    browser.get("/ops").await.assert_html(
        StatusCode::OK,
        &[r#"<a href="/ops/traces" id="traces-link">"#],
    );

    let list = browser.get("/ops/traces").await;
    list.assert_html(
        StatusCode::OK,
        &[
            &format!(r#"<a href="/ops/traces/{CHECKOUT_TRACE}">POST /checkout</a>"#),
            &format!(r#"<a href="/ops/traces/{BROWSE_TRACE}">GET /api/catalog/products</a>"#),
            r#"<option value="recommendations">recommendations</option>"#,
            r#"<svg id="service-map""#,
            r#"data-from="orders" data-to="notifications" data-kind="event""#,
            r#"<g class="node node-idle" data-service="identity">"#,
        ],
    );
    assert!(
        list.body.find(CHECKOUT_TRACE) < list.body.find(BROWSE_TRACE),
        "slowest first"
    );
    assert!(
        list.body.find(r#"data-service="gateway""#) < list.body.find(r#"data-service="identity""#),
        "the map starts at the gateway"
    );

    let filtered = browser
        .get("/ops/traces?route=%2Fcheckout&service=orders&errors=true")
        .await;
    filtered.assert_html(
        StatusCode::OK,
        &[
            &format!(r#"data-trace="{CHECKOUT_TRACE}""#),
            r#"<option value="orders" selected>orders</option>"#,
            r#"value="/checkout""#,
            r#"value="true" checked>"#,
        ],
    );
    assert!(
        !filtered.body.contains(BROWSE_TRACE),
        "filtered by the supervisor"
    );
    let asked = supervisor.asked();
    assert!(
        asked.contains(&"/traces?route=%2Fcheckout&service=orders&errors=true".to_owned()),
        "the filter is passed on as the collector takes it: {asked:?}"
    );
    assert!(asked.contains(&"/traces?".to_owned()) && asked.contains(&"/traces/map".to_owned()));

    for id in [CHECKOUT_TRACE.to_owned(), CHECKOUT_TRACE.to_uppercase()] {
        let trace = browser.get(&format!("/ops/traces/{id}")).await;
        trace.assert_html(
            StatusCode::OK,
            &[
                r#"<dd id="trace-duration">40.0 ms</dd>"#,
                r#"<tr class="span-row span-error" data-span="0000000000000007" data-depth="6""#,
                r#"<tr class="span-row span-orphan" data-span="0000000000000008" data-depth="0""#,
                r#"<rect class="bar bar-client" x="250.0" y="1" width="250.0" height="10"/>"#,
                "Parent missing",
            ],
        );
    }
    let before = supervisor.asked().len();
    for path in [
        "/ops/traces/ffffffffffffffffffffffffffffffff",
        "/ops/traces/not-a-trace",
        "/ops/traces/..%2F..%2Fprocesses",
    ] {
        let page = browser.get(path).await;
        page.assert_html(StatusCode::NOT_FOUND, &["We could not find that"]);
    }
    assert_eq!(
        supervisor.asked()[before..],
        ["/traces/ffffffffffffffffffffffffffffffff".to_owned()],
        "only a trace id is asked for"
    );

    let found = browser
        .get("/ops/api/traces?route=checkout&errors=true")
        .await
        .json();
    let ids: Vec<&str> = found["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [CHECKOUT_TRACE]);
    let trace = browser
        .get(&format!("/ops/api/traces/{CHECKOUT_TRACE}"))
        .await
        .json();
    assert_eq!(trace["spans"].as_array().unwrap().len(), 8);
    assert_eq!(trace["spans"][7]["orphan"], true);
    assert_eq!(trace["spans"][0]["attributes"]["http.route"], "/checkout");
    let map = browser.get("/ops/api/traces/map").await.json();
    assert_eq!(map["edges"].as_array().unwrap().len(), 5, "{map}");
    for (path, status, field) in [
        (
            "/ops/api/traces/ffffffffffffffffffffffffffffffff",
            StatusCode::NOT_FOUND,
            None,
        ),
        ("/ops/api/traces/nope", StatusCode::NOT_FOUND, None),
        (
            "/ops/api/traces?limit=lots",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
        (
            "/ops/api/traces?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
        (
            "/ops/api/traces?limit=501",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
    ] {
        browser.get(path).await.assert_problem(status, field, path);
    }
}

#[tokio::test]
async fn without_a_supervisor_the_trace_view_explains_where_traces_go() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = admin(&sf).await;
    let list = browser.get("/ops/traces").await;
    list.assert_html(
        StatusCode::OK,
        &[
            "this storefront is not running under it",
            "<code>OTEL_EXPORTER_OTLP_ENDPOINT</code>",
        ],
    );
    assert!(!list.body.contains("Recent traces"), "no empty list");
    let one = browser.get(&format!("/ops/traces/{CHECKOUT_TRACE}")).await;
    one.assert_html(StatusCode::OK, &["this storefront is not running under it"]);
    let missing = browser.get("/ops/traces/nope").await;
    missing.assert_html(StatusCode::NOT_FOUND, &["We could not find that"]);
    let body = browser.get("/ops/api/traces").await.assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "no supervisor",
    );
    assert!(
        body["detail"].as_str().unwrap().contains("bazaar up"),
        "{body}"
    );
}

/// The `/metrics` text of a replica that has answered `n` requests (1 in 20 of them 5xx).
fn counted(n: f64) -> String {
    let errors = (n / 20.0).floor();
    format!(
        "# TYPE bazaar_http_requests counter\n\
                     bazaar_http_requests_total{{service=\"recommendations\",method=\"GET\",route=\"/x\",status=\"200\"}} {ok}\n\
                     bazaar_http_requests_total{{service=\"recommendations\",method=\"GET\",route=\"/x\",status=\"503\"}} {errors}\n\
                     # TYPE bazaar_http_request_duration_seconds histogram\n\
                     bazaar_http_request_duration_seconds_bucket{{service=\"recommendations\",le=\"0.01\",method=\"GET\",route=\"/x\"}} {n}\n\
                     bazaar_http_request_duration_seconds_bucket{{service=\"recommendations\",le=\"+Inf\",method=\"GET\",route=\"/x\"}} {n}\n",
        ok = n - errors,
    )
}

/// A stand-in replica whose `/metrics` counts `per_sec` requests a second since it
/// started (and 1 in 20 of them 5xx), and whose health is ready.
async fn counting_replica(per_sec: f64) -> String {
    let started = std::time::Instant::now();
    serve_metrics(Router::new().route(
        "/metrics",
        get(move || async move { counted((started.elapsed().as_secs_f64() * per_sec).floor()) }),
    ))
    .await
}

/// `app`, with a ready `/health/ready`, served on a port of its own; its address.
async fn serve_metrics(app: Router) -> String {
    let app = app.route(
        "/health/ready",
        get(|| async { axum::Json(json!({"status": "ready"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Two replicas sharing one port (as the gateway's do): each scrape is answered by one or
/// the other in turn, naming its process, one counting 100 requests a second, the other 300.
async fn two_replicas_on_one_port() -> String {
    let started = std::time::Instant::now();
    let turn = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    serve_metrics(Router::new().route(
        "/metrics",
        get(move || {
            let turn = turn.clone();
            async move {
                let (pid, per_sec) =
                    match turn.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 {
                        0 => ("101", 100.0),
                        _ => ("102", 300.0),
                    };
                let n = (started.elapsed().as_secs_f64() * per_sec).floor();
                ([("bazaar-pid", pid)], counted(n))
            }
        }),
    ))
    .await
}

/// Recommendations as the console shows it, replicas at `replicas` (comma-separated), a
/// few scrapes after its first rates.
async fn recommendations_seen_at(replicas: &str) -> Value {
    // Scrapes a second apart: the few milliseconds between the two replicas' answers weigh
    // little against the interval, on a busy machine too.
    let sf =
        spawn_storefront(&[("recommendations_url", replicas), ("ops_scrape_ms", "1000")]).await;
    let mut browser = admin(&sf).await;
    // The console scrapes while it is watched.
    eventually("rates for recommendations", async || {
        let state = browser.get("/ops/api/state").await.json();
        service(&state, "recommendations")["requests_per_sec"].as_f64()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let state = browser.get("/ops/api/state").await.json();
    service(&state, "recommendations").clone()
}

#[tokio::test]
async fn a_services_traffic_is_that_of_all_its_replicas() {
    let (one, two) = (counting_replica(100.0).await, counting_replica(300.0).await);
    let r = recommendations_seen_at(&format!("{one},{two}")).await;
    let rate = r["requests_per_sec"].as_f64().expect("a rate");
    assert!(
        (330.0..=470.0).contains(&rate),
        "400 requests a second between the two replicas, not one's 100 or 300: {r}"
    );
    let errors = r["error_rate"].as_f64().expect("an error share");
    assert!((0.0..=0.1).contains(&errors), "{r}");
}

#[tokio::test]
async fn replicas_sharing_a_port_are_each_counted() {
    let shared = two_replicas_on_one_port().await;
    // The directory names the address once per replica, as it does the gateway's.
    let r = recommendations_seen_at(&format!("{shared},{shared}")).await;
    let rate = r["requests_per_sec"].as_f64().expect("a rate");
    assert!(
        (330.0..=470.0).contains(&rate),
        "400 requests a second between the two processes on one port: {r}"
    );
}
