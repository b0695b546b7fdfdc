//! Events between real service processes: the catalog's product events reach inventory,
//! and nothing is lost or applied twice when processes or the broker die at the worst
//! moment. Counts come from the consumer's own database.

use crate::helpers::{Options, Shape, Shop, production};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use std::time::{Duration, Instant};

async fn count(pool: &AnyPool, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

/// ProductCreated events in the catalog's outbox.
async fn products_created(shop: &Shop) -> i64 {
    let catalog = shop.database("catalog").await;
    let n = count(
        &catalog,
        "SELECT COUNT(*) FROM outbox WHERE type = 'bazaar.catalog.product.created.v1'",
    )
    .await;
    catalog.close().await;
    n
}

/// Waits until inventory has applied `expected` ProductCreated events, then checks that
/// each was applied exactly once and none was set aside.
async fn assert_each_created_event_applied_once(shop: &Shop, expected: i64, within: Duration) {
    let inventory = shop.database("inventory").await;
    let deadline = Instant::now() + within;
    loop {
        let applied = count(&inventory, "SELECT COUNT(*) FROM stock").await;
        if applied >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "inventory applied {applied} of {expected} product events in {within:?}; log:\n{}",
            shop.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let initial = count(
        &inventory,
        "SELECT COUNT(*) FROM stock_movements WHERE reason = 'initial'",
    )
    .await;
    let distinct = count(
        &inventory,
        "SELECT COUNT(DISTINCT event_id) FROM stock_movements WHERE reason = 'initial'",
    )
    .await;
    let handled = count(
        &inventory,
        "SELECT COUNT(*) FROM inbox WHERE type = 'bazaar.catalog.product.created.v1'",
    )
    .await;
    let dead = count(&inventory, "SELECT COUNT(*) FROM dead_letters").await;
    assert_eq!(
        initial, expected,
        "one stock movement per ProductCreated event"
    );
    assert_eq!(distinct, expected, "no event applied twice");
    assert_eq!(handled, expected, "each event recorded once in the inbox");
    assert_eq!(dead, 0, "no event was dead-lettered");
    inventory.close().await;
}

async fn stock_of(shop: &Shop, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = shop
            .get(&format!("/api/inventory/{id}"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            return r.json().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no stock for {id} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

crate::in_both_shapes!(catalog_events_reach_inventory);
async fn catalog_events_reach_inventory(shape: Shape) {
    let shop = Shop::start_with(Options {
        shape,
        ..Options::default()
    });
    let seeded = products_created(&shop).await;
    assert!(seeded >= 500);
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;

    // A new product is in stock within a moment of its creation; a deleted one is marked.
    let admin = shop.admin_token().await;
    let category = shop.json("/api/catalog/categories", None).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created: Value = shop
        .post("/api/catalog/products")
        .bearer_auth(&admin)
        .json(
            &json!({"sku": "EVT-0001", "name": "Event Horizon Lamp", "description": "Bright.",
                      "category": category, "price_cents": 4900, "initial_stock": 7}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let started = Instant::now();
    let stock = stock_of(&shop, id, Duration::from_secs(10)).await;
    let freshness = started.elapsed();
    assert_eq!(stock["available"], 7);
    assert!(
        freshness < Duration::from_secs(2),
        "stock appeared after {freshness:?}"
    );

    let r = shop
        .http
        .delete(format!("{}/api/catalog/products/{id}", shop.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while stock_of(&shop, id, Duration::from_secs(5)).await["discontinued"] != json!(true) {
        assert!(
            Instant::now() < deadline,
            "deletion did not reach inventory"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

crate::in_both_shapes!(a_producer_killed_between_commit_and_delivery_loses_nothing);
async fn a_producer_killed_between_commit_and_delivery_loses_nothing(shape: Shape) {
    // The catalog dies the first time it is about to hand events over: in the embedded
    // shape while serving its log, with RabbitMQ before its relay publishes.
    let shop = Shop::start_with(Options {
        shape,
        env: vec![(
            "BAZAAR_FAILPOINTS",
            "catalog.log.before_serve:once,catalog.relay.before_publish:once".into(),
        )],
        ..Options::default()
    });
    let seeded = products_created(&shop).await;
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;
    assert!(
        shop.log_tail(10_000).contains("failpoint catalog."),
        "the catalog was killed at its failpoint"
    );
}

crate::in_both_shapes!(a_consumer_killed_after_its_effect_before_its_ack_applies_it_once);
async fn a_consumer_killed_after_its_effect_before_its_ack_applies_it_once(shape: Shape) {
    let shop = Shop::start_with(Options {
        shape,
        env: vec![(
            "BAZAAR_FAILPOINTS",
            "inventory.consumer.after_commit:once".into(),
        )],
        ..Options::default()
    });
    let seeded = products_created(&shop).await;
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;
    assert!(
        shop.log_tail(10_000)
            .contains("failpoint inventory.consumer.after_commit"),
        "inventory was killed at its failpoint"
    );
}

// Multi-threaded: the proxy's tasks must run while the test thread waits for the shop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_going_away_while_events_are_produced_loses_nothing() {
    let Some(shape) = production() else { return };
    let Shape::Production {
        amqp: Some(broker), ..
    } = &shape
    else {
        eprintln!("skipped: BAZAAR_TEST_AMQP_URL is not set");
        return;
    };
    let probe = events::testing::TcpProxy::start("127.0.0.1:1".into())
        .await
        .unwrap();
    let (upstream, _) = events::testing::amqp_via(broker, probe.addr()).unwrap();
    drop(probe);
    let proxy = events::testing::TcpProxy::start(upstream).await.unwrap();
    let (_, proxied) = events::testing::amqp_via(broker, proxy.addr()).unwrap();
    let shop = Shop::start_with(Options {
        shape: shape.clone(),
        broker: Some(proxied),
        ..Options::default()
    });
    let seeded = products_created(&shop).await;
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;

    proxy.cut();
    let admin = shop.admin_token().await;
    let category = shop.json("/api/catalog/categories", None).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..20 {
        let r = shop
            .post("/api/catalog/products")
            .bearer_auth(&admin)
            .json(
                &json!({"sku": format!("CUT-{i:04}"), "name": format!("Outage Candle {i}"),
                          "description": "Made while the broker was away.",
                          "category": category, "price_cents": 999, "initial_stock": 3}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "writes do not need the broker"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    assert_each_created_event_applied_once(&shop, seeded + 20, Duration::from_secs(60)).await;
}

crate::in_both_shapes!(ten_thousand_events_with_random_kills_are_each_handled_once);
async fn ten_thousand_events_with_random_kills_are_each_handled_once(shape: Shape) {
    let shop = Shop::start_with(Options {
        shape,
        env: vec![("BAZAAR_SEED_PRODUCTS", "10000".into())],
        ..Options::default()
    });
    let expected = products_created(&shop).await;
    assert_eq!(expected, 10_000);
    // Kill the producer and the consumer, alternately, while the events flow.
    let inventory = shop.database("inventory").await;
    let mut kills = 0;
    for round in 0..10 {
        if count(&inventory, "SELECT COUNT(*) FROM stock").await >= expected {
            break;
        }
        let victim = if round % 2 == 0 {
            "inventory"
        } else {
            "catalog"
        };
        if let Some(pid) = shop.service_pid(victim) {
            let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            kills += 1;
        }
        // Vary the moment: 300..1000 ms.
        let pause = 300 + (round * 137) % 700;
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    inventory.close().await;
    assert!(kills >= 2, "the test killed processes mid-stream ({kills})");
    // Generous: in the production shape four services each apply the 10,000 events on
    // PostgreSQL, on a machine that runs other shops' tests at the same time.
    assert_each_created_event_applied_once(&shop, expected, Duration::from_secs(420)).await;
}
