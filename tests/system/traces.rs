//! Distributed traces: every service exports OTLP to a receiver in this test process (as
//! it would to Jaeger or a Collector), and one checkout comes out as one trace, from the
//! gateway through orders, cart, inventory and payments to the consumers of its events.
//! The shop's own collector (the ops console's trace view) is checked too.

use crate::checkout::stocked_product;
use crate::helpers::{GOOD_CARD, Options, Shape, Shop, eventually, send_status, send_text, unique};
use bazaar::traces::{self, Filter, TraceStore, TraceView};
use reqwest::StatusCode;
use std::collections::BTreeSet;
use std::time::Duration;

/// An OTLP/HTTP receiver on its own thread and runtime (starting a shop blocks the
/// test's); returns its store and its URL.
fn receiver() -> (TraceStore, String) {
    let store = TraceStore::new(traces::KEPT);
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", std_listener.local_addr().unwrap());
    let app = traces::receiver(store.clone(), None);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (store, url)
}

/// Checks out one product with a good card; returns the order's id.
async fn one_checkout(shop: &Shop) -> String {
    let admin = shop.admin_token().await;
    let product = stocked_product(shop, &admin, 5).await;
    let token = shop.customer_token().await;
    shop.add_to_cart(Some(&token), &product, 1, Duration::from_secs(20))
        .await;
    let (status, order) = shop.checkout(&token, &unique(), GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order["id"].as_str().unwrap().to_owned()
}

/// What a whole checkout trace has: one root at the gateway, the services the saga
/// calls, the handling of the confirmation by notifications, and no span whose parent is
/// missing. `Err` says what is missing yet.
fn whole_checkout(view: &TraceView, order_id: &str) -> Result<(), String> {
    let roots: Vec<_> = view
        .spans
        .iter()
        .filter(|s| s.span.parent_span_id.is_none())
        .collect();
    if roots.len() != 1 || roots[0].span.service != "gateway" {
        return Err(format!(
            "roots: {:?}",
            roots
                .iter()
                .map(|r| (&r.span.service, &r.span.name))
                .collect::<Vec<_>>()
        ));
    }
    let services: BTreeSet<&str> = view.spans.iter().map(|s| s.span.service.as_str()).collect();
    for needed in [
        "gateway",
        "orders",
        "cart",
        "inventory",
        "payments",
        "notifications",
    ] {
        if !services.contains(needed) {
            return Err(format!("no span of {needed} yet; spans of {services:?}"));
        }
    }
    let notified = view.spans.iter().any(|s| {
        s.span.service == "notifications"
            && s.span.kind == "consumer"
            && is_confirmation(&s.span.name, "handle")
    });
    if !notified {
        let theirs: Vec<_> = view
            .spans
            .iter()
            .filter(|s| s.span.service == "notifications")
            .map(|s| (&s.span.kind, &s.span.name))
            .collect();
        return Err(format!(
            "notifications' handling of order.confirmed is not in the trace yet; its spans: {theirs:?}"
        ));
    }
    let orphans: Vec<_> = view
        .spans
        .iter()
        .filter(|s| s.orphan)
        .map(|s| (&s.span.service, &s.span.name))
        .collect();
    if !orphans.is_empty() {
        return Err(format!("spans whose parent is missing: {orphans:?}"));
    }
    let saga = view.spans.iter().any(|s| {
        s.span.service == "orders"
            && s.span
                .attributes
                .get("order_id")
                .is_some_and(|o| o == order_id)
    });
    if !saga {
        return Err(format!("no saga span of order {order_id}"));
    }
    Ok(())
}

/// Whether a span's name is `verb` of the event `order.confirmed` (its full type is
/// `bazaar.orders.order.confirmed.v1`).
fn is_confirmation(name: &str, verb: &str) -> bool {
    name.strip_prefix(verb)
        .is_some_and(|kind| kind.trim_start().ends_with(".order.confirmed.v1"))
}

/// The checkout's trace in `store`, once it is whole.
async fn checkout_trace(store: &TraceStore, order_id: &str) -> TraceView {
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let found = store.list(&Filter {
                route: Some("/api/orders/checkout".into()),
                limit: Some(500),
                ..Filter::default()
            });
            let mut why = format!("{} checkout traces", found.len());
            for summary in found {
                let Some(view) = store.get(&summary.trace_id) else {
                    continue;
                };
                match whole_checkout(&view, order_id) {
                    Ok(()) => return Ok(view),
                    Err(e) => why = e,
                }
            }
            Err(why)
        },
    )
    .await
}

crate::in_both_shapes!(one_checkout_is_one_trace_across_the_services);
async fn one_checkout_is_one_trace_across_the_services(shape: Shape) {
    let (store, url) = receiver();
    let shop = Shop::start_with(Options {
        shape,
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
            // Every trace, so that a test's own polling never leaves its checkout out
            // of the default's rate of new traces.
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
        ],
        ..Options::default()
    });
    let order_id = one_checkout(&shop).await;
    let trace = checkout_trace(&store, &order_id).await;

    let root = &trace.spans[0];
    assert_eq!(root.span.kind, "server");
    assert_eq!(root.span.name, "POST /api/orders/checkout");
    assert_eq!(
        root.span
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("201")
    );
    // Each call the saga makes is a client span with the callee's server span under it.
    for callee in ["cart", "inventory", "payments"] {
        let call = trace
            .spans
            .iter()
            .find(|s| {
                s.span.service == "orders"
                    && s.span.kind == "client"
                    && s.span.name.ends_with(callee)
            })
            .unwrap_or_else(|| panic!("no call from orders to {callee}"));
        assert!(
            trace.spans.iter().any(|s| s.span.service == callee
                && s.span.kind == "server"
                && s.span.parent_span_id.as_deref() == Some(call.span.span_id.as_str())),
            "{callee}'s server span is not a child of orders' call"
        );
    }
    // The confirmation was recorded under the saga and handled under that recording.
    let publish = trace
        .spans
        .iter()
        .find(|s| s.span.kind == "producer" && is_confirmation(&s.span.name, "publish"))
        .expect("the producer span of order.confirmed");
    assert_eq!(publish.span.service, "orders");
    assert!(trace.spans.iter().any(|s| s.span.kind == "consumer"
        && s.span.parent_span_id.as_deref() == Some(publish.span.span_id.as_str())));
    // Orders' latency histogram names this trace as the exemplar of the checkout's bucket
    // (the only checkout so far), for a scraper that asks for OpenMetrics.
    let orders = &shop.service_urls().await["orders"];
    let exposition = send_text(
        shop.http
            .get(format!("{orders}/metrics"))
            .header("accept", "application/openmetrics-text; version=1.0.0"),
    )
    .await;
    let exemplars: Vec<&str> = exposition
        .lines()
        .filter(|l| l.starts_with("bazaar_http_request_duration_seconds_bucket{"))
        .filter(|l| l.contains("checkout\""))
        .filter_map(|l| l.split_once(" # {trace_id=\"")?.1.split_once('"'))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(exemplars, [trace.trace_id.as_str()], "{exposition}");
    // Probes, scrapes and feed polls start no traces of their own.
    let noise = store.list(&Filter {
        limit: Some(500),
        ..Filter::default()
    });
    for t in &noise {
        assert!(
            !t.name.contains("/health/")
                && !t.name.contains("/metrics")
                && !t.name.contains("/events/"),
            "a trace rooted at {}",
            t.name
        );
    }
}

/// A checkout whose client sent a `traceparent` with the sampled flag off is recorded
/// nowhere: the gateway follows the client's decision, and tells every service behind it
/// (orders, and through orders cart, inventory and payments, and through its events the
/// consumers) that the trace is not recorded, so none starts a trace of its own; with
/// `always_on` here, each would trace everything it was not told about.
#[tokio::test]
async fn a_checkout_its_client_does_not_record_is_recorded_nowhere() {
    let (store, url) = receiver();
    let shop = Shop::start_with(Options {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
            // Every trace, so that a test's own polling never leaves its checkout out
            // of the default's rate of new traces.
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
        ],
        ..Options::default()
    });
    let admin = shop.admin_token().await;
    let product = stocked_product(&shop, &admin, 5).await;
    let token = shop.customer_token().await;
    shop.add_to_cart(Some(&token), &product, 1, Duration::from_secs(20))
        .await;
    let r = shop
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .header("Idempotency-Key", unique())
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        )
        .json(&bazaar::testing::checkout_body(GOOD_CARD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let unrecorded: serde_json::Value = r.json().await.unwrap();
    let unrecorded = unrecorded["id"].as_str().unwrap().to_owned();

    // A recorded checkout after it: once its whole trace (its events' handling included)
    // has arrived, the first checkout's spans would have too.
    let order_id = one_checkout(&shop).await;
    checkout_trace(&store, &order_id).await;
    let all = store.list(&Filter {
        limit: Some(500),
        ..Filter::default()
    });
    let checkouts = all
        .iter()
        .filter(|t| t.name == "POST /api/orders/checkout")
        .count();
    assert_eq!(checkouts, 1, "{all:?}");
    for summary in &all {
        let view = store.get(&summary.trace_id).unwrap();
        for s in &view.spans {
            assert_ne!(
                s.span.attributes.get("order_id"),
                Some(&unrecorded),
                "a span of the unrecorded checkout: {} {}",
                s.span.service,
                s.span.name
            );
        }
        let root = view.spans.iter().find(|s| s.span.parent_span_id.is_none());
        assert!(
            root.is_some_and(|r| r.span.service == "gateway"),
            "a trace not started at the gateway: {:?}",
            root.map(|r| (&r.span.service, &r.span.name))
        );
    }
}

/// `GET path` on the supervisor's control API as `token`'s holder, read as `T`.
async fn control<T: serde::de::DeserializeOwned>(shop: &Shop, token: &str, path: &str) -> T {
    let r = shop
        .http
        .get(format!("{}{path}", shop.control_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_shop_collects_its_own_traces_for_the_ops_console() {
    // Every trace: see `one_checkout_is_one_trace_across_the_services`.
    let shop = Shop::start_with(Options::env("OTEL_TRACES_SAMPLER", "always_on"));
    let order_id = one_checkout(&shop).await;
    let admin = shop.admin_token().await;
    let found = eventually(
        Duration::from_secs(30),
        Duration::from_millis(250),
        async || {
            let listed: bazaar::control::Traces =
                control(&shop, &admin, "/traces?route=/api/orders/checkout").await;
            for t in listed.traces {
                let view: TraceView =
                    control(&shop, &admin, &format!("/traces/{}", t.trace_id)).await;
                if whole_checkout(&view, &order_id).is_ok() {
                    return Ok(view);
                }
            }
            Err("no whole checkout trace yet".to_owned())
        },
    )
    .await;
    assert!(found.spans.len() >= 10, "{} spans", found.spans.len());

    // The map shows the calls and the event flows between the services.
    let map: traces::ServiceMap = control(&shop, &admin, "/traces/map").await;
    let has = |from: &str, to: &str, kind: &str| {
        map.edges
            .iter()
            .any(|e| e.from == from && e.to == to && e.kind == kind && e.count >= 1)
    };
    assert!(has("gateway", "orders", "call"), "{map:?}");
    assert!(has("orders", "payments", "call"), "{map:?}");
    assert!(has("orders", "notifications", "event"), "{map:?}");

    // Nobody else reads or writes them.
    let anonymous = shop.http.get(format!("{}/traces", shop.control_url));
    assert_eq!(send_status(anonymous).await, StatusCode::UNAUTHORIZED);
    let forged = shop
        .http
        .post(format!("{}/v1/traces", shop.control_url))
        .header("content-type", "application/json")
        .body("{}");
    assert_eq!(send_status(forged).await, StatusCode::UNAUTHORIZED);
}

/// At the gateway a client's sampled `traceparent` is a wish, granted within the
/// sampler's budget: a client that asks for every one of its requests to be traced gets
/// the budget's few, not all (each trace costs the gateway about three times a forward).
/// A trace the gateway records stays whole all the same: the storefront's calls back
/// through the gateway, inside a page's trace, are followed without the budget.
#[tokio::test]
async fn the_gateway_grants_clients_traces_within_the_samplers_budget() {
    const PER_SECOND: u64 = 2;
    let (store, url) = receiver();
    let shop = Shop::start_with(Options {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
            ("OTEL_TRACES_SAMPLER", "ratelimited".into()),
            ("OTEL_TRACES_SAMPLER_ARG", PER_SECOND.to_string()),
        ],
        ..Options::default()
    });
    // Wait out the budget spent on whatever the test's start-up asked.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = std::time::Instant::now();
    let asked: Vec<String> = (0..100u128)
        .map(|n| format!("{:032x}", 0x5eed_0000_u128 + n))
        .collect();
    for trace in &asked {
        let r = shop
            .get("/api/catalog/categories")
            .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"));
        assert_eq!(send_status(r).await, StatusCode::OK);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let recorded = || asked.iter().filter(|t| store.get(t).is_some()).count();
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || match recorded() {
            0 => Err("no client's trace recorded yet".to_owned()),
            _ => Ok(()),
        },
    )
    .await;
    // Whatever else is still on its way arrives within the export's delay.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let budget = PER_SECOND + PER_SECOND * elapsed.ceil() as u64;
    let recorded = recorded();
    assert!(
        (1..=budget as usize).contains(&recorded),
        "{recorded} of 100 clients' traces recorded in {elapsed:.1} s, budget {budget}"
    );

    // One granted trace id sent again and again is granted no more than new ones are.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reused = format!("{:032x}", 0x5eed_1000_u128);
    let started = std::time::Instant::now();
    for n in 0..60u64 {
        let r = shop.get("/api/catalog/categories").header(
            "traceparent",
            format!("00-{reused}-{:016x}-01", 0xb7ad_0000_u64 + n),
        );
        assert_eq!(send_status(r).await, StatusCode::OK);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let recorded = || {
        store.get(&reused).map_or(0, |view| {
            view.spans
                .iter()
                .filter(|s| s.span.service == "gateway" && s.span.kind == "server")
                .count()
        })
    };
    // The first is granted; wait for it however slow the export, then for the rest.
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || match recorded() {
            0 => Err("the granted request's span has not arrived yet".to_owned()),
            _ => Ok(()),
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let gateway_spans = recorded();
    let budget = PER_SECOND + PER_SECOND * elapsed.ceil() as u64;
    assert!(
        (1..=budget as usize).contains(&gateway_spans),
        "{gateway_spans} of 60 requests of one client's trace recorded in {elapsed:.1} s, budget {budget}"
    );

    // A page the gateway traces: its own root, then the storefront's calls back through
    // it, each a sampled `traceparent` from a caller, all in the trace.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send_status(shop.get("/")).await, StatusCode::OK);
    let page = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || {
            let found = store.list(&Filter {
                service: Some("storefront".into()),
                limit: Some(50),
                ..Filter::default()
            });
            let view = found
                .iter()
                .filter(|s| s.service == "gateway" && s.name.starts_with("GET /"))
                .find_map(|s| store.get(&s.trace_id))
                .ok_or("no page trace yet")?;
            let through_gateway = view
                .spans
                .iter()
                .filter(|s| s.span.service == "gateway" && s.span.kind == "server")
                .count();
            // The page's own request and at least two of the storefront's calls.
            if through_gateway >= 3 {
                Ok(view)
            } else {
                Err(format!("{through_gateway} gateway spans so far"))
            }
        },
    )
    .await;
    let ids: BTreeSet<&str> = page.spans.iter().map(|s| s.span.span_id.as_str()).collect();
    for s in &page.spans {
        if let Some(parent) = &s.span.parent_span_id {
            assert!(
                ids.contains(parent.as_str()),
                "{} {} names a parent that is missing",
                s.span.service,
                s.span.name
            );
        }
    }
}
