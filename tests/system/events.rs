//! Events between real service processes: the catalog's product events reach inventory,
//! and nothing is lost or applied twice when processes or the broker die at the worst
//! moment. Counts come from the consumer's own database.

use crate::helpers::{
    Options, Shape, Shop, eventually, production, scalar, send_status, send_until, unique,
};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// ProductCreated events in the catalog's outbox.
async fn products_created(shop: &Shop) -> i64 {
    let catalog = shop.database("catalog").await;
    let n = scalar(
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
    eventually(within, Duration::from_millis(100), async || {
        match scalar(&inventory, "SELECT COUNT(*) FROM stock").await {
            applied if applied >= expected => Ok(()),
            applied => Err(format!(
                "inventory applied {applied} of {expected} product events; log:\n{}",
                shop.log_tail(30)
            )),
        }
    })
    .await;
    let initial = scalar(
        &inventory,
        "SELECT COUNT(*) FROM stock_movements WHERE reason = 'initial'",
    )
    .await;
    let distinct = scalar(
        &inventory,
        "SELECT COUNT(DISTINCT event_id) FROM stock_movements WHERE reason = 'initial'",
    )
    .await;
    let handled = scalar(
        &inventory,
        "SELECT COUNT(*) FROM inbox WHERE type = 'bazaar.catalog.product.created.v1'",
    )
    .await;
    let dead = scalar(&inventory, "SELECT COUNT(*) FROM dead_letters").await;
    assert_eq!(
        initial, expected,
        "one stock movement per ProductCreated event"
    );
    assert_eq!(distinct, expected, "no event applied twice");
    assert_eq!(handled, expected, "each event recorded once in the inbox");
    assert_eq!(dead, 0, "no event was dead-lettered");
    inventory.close().await;
}

crate::in_both_shapes!(catalog_events_reach_inventory);
async fn catalog_events_reach_inventory(shape: Shape) {
    let shop = Shop::start_in(shape);
    let seeded = products_created(&shop).await;
    assert!(seeded >= 500);
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;

    // A new product is in stock within a moment of its creation; a deleted one is marked.
    let admin = shop.admin_token().await;
    let id = &shop
        .create_product(
            &admin,
            json!({"sku": "EVT-0001", "name": "Event Horizon Lamp", "description": "Bright.",
                   "price_cents": 4900, "initial_stock": 7}),
        )
        .await;
    let started = Instant::now();
    let stock = shop.stock(id, Duration::from_secs(10)).await;
    let freshness = started.elapsed();
    assert_eq!(stock["available"], 7);
    assert!(
        freshness < Duration::from_secs(2),
        "stock appeared after {freshness:?}"
    );

    let deletion = shop
        .delete(&format!("/api/catalog/products/{id}"))
        .bearer_auth(&admin);
    assert_eq!(send_status(deletion).await, StatusCode::NO_CONTENT);
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(25),
        async || match shop.stock(id, Duration::from_secs(5)).await["discontinued"] == json!(true) {
            true => Ok(()),
            false => Err("deletion did not reach inventory".to_owned()),
        },
    )
    .await;
}

/// Starts a shop whose processes die at `failpoints`, and checks that the seed's events
/// still reach inventory each exactly once, and that `who` did die (its log line holds
/// `marker`).
async fn nothing_is_lost_when_killed_at(shape: Shape, failpoints: &str, marker: &str, who: &str) {
    let shop = Shop::start_with(Options::env("BAZAAR_FAILPOINTS", failpoints).in_shape(shape));
    let seeded = products_created(&shop).await;
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;
    assert!(
        shop.log_tail(10_000).contains(marker),
        "{who} was killed at its failpoint"
    );
}

crate::in_both_shapes!(a_producer_killed_between_commit_and_delivery_loses_nothing);
async fn a_producer_killed_between_commit_and_delivery_loses_nothing(shape: Shape) {
    // The catalog dies the first time it is about to hand events over: in the embedded
    // shape while serving its log, with RabbitMQ before its relay publishes.
    let failpoints = "catalog.log.before_serve:once,catalog.relay.before_publish:once";
    nothing_is_lost_when_killed_at(shape, failpoints, "failpoint catalog.", "the catalog").await;
}

crate::in_both_shapes!(a_consumer_killed_after_its_effect_before_its_ack_applies_it_once);
async fn a_consumer_killed_after_its_effect_before_its_ack_applies_it_once(shape: Shape) {
    let failpoint = "inventory.consumer.after_commit";
    let marker = format!("failpoint {failpoint}");
    nothing_is_lost_when_killed_at(shape, &format!("{failpoint}:once"), &marker, "inventory").await;
}

#[tokio::test]
async fn a_producer_killed_between_the_brokers_confirm_and_its_record_delivers_each_event_once() {
    // With RabbitMQ only: the broker has confirmed the publish, the outbox row is not yet
    // marked delivered; the restarted relay publishes it again and the consumers dedup.
    let Some(shape @ Shape::Production { amqp: Some(_), .. }) = production() else {
        eprintln!("skipped: BAZAAR_TEST_AMQP_URL is not set");
        return;
    };
    let failpoint = "catalog.relay.after_confirm";
    let shop = Shop::start_with(
        Options::env("BAZAAR_FAILPOINTS", format!("{failpoint}:once")).in_shape(shape),
    );
    let seeded = products_created(&shop).await;
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;
    assert!(
        shop.log_tail(10_000)
            .contains(&format!("failpoint {failpoint}")),
        "the catalog was killed at its failpoint"
    );
    // The tables above are unique per event, so they cannot show an event applied twice;
    // the consumer's own count of applications can (inventory lived through it all).
    let inventory = &shop.service_urls().await["inventory"];
    let metrics = reqwest::get(format!("{inventory}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| -> i64 {
        let series =
            format!("event=\"bazaar.catalog.product.created.v1\",outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .filter(|l| l.starts_with("bazaar_events_consumed_total{") && l.contains(&series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum()
    };
    assert_eq!(
        count("handled"),
        seeded,
        "each ProductCreated applied once by inventory; its metrics:\n{metrics}"
    );
    assert!(
        count("duplicate") >= 1,
        "the restarted relay published again what the broker had confirmed, and inventory \
         recognised it; its metrics:\n{metrics}"
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
    let (proxy, proxied) = events::testing::amqp_proxy(broker).await.unwrap();
    let shop = Shop::start_with(Options {
        shape: shape.clone(),
        broker: Some(proxied),
        ..Options::default()
    });
    let seeded = products_created(&shop).await;
    assert_each_created_event_applied_once(&shop, seeded, Duration::from_secs(60)).await;

    proxy.cut();
    let admin = shop.admin_token().await;
    // Writes do not need the broker.
    for i in 0..20 {
        shop.create_product(
            &admin,
            json!({"sku": format!("CUT-{i:04}"), "name": format!("Outage Candle {i}"),
                   "description": "Made while the broker was away.",
                   "price_cents": 999, "initial_stock": 3}),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    assert_each_created_event_applied_once(&shop, seeded + 20, Duration::from_secs(60)).await;
}

crate::in_both_shapes!(three_thousand_events_with_random_kills_are_each_handled_once);
async fn three_thousand_events_with_random_kills_are_each_handled_once(shape: Shape) {
    use futures_util::{FutureExt, StreamExt, stream};
    let shop = Shop::start_with(Options {
        shape,
        ..Options::default()
    });
    let seeded = products_created(&shop).await;
    let admin = shop.admin_token().await;
    let category = shop.json("/api/catalog/categories", None).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // 3,000 products created through the API while the producer (catalog) and the
    // consumer (inventory) are killed, alternately: the events flow through the kills.
    let run = unique().replace('-', "");
    let done = std::sync::atomic::AtomicBool::new(false);
    let made = std::sync::atomic::AtomicUsize::new(0);
    let creating = stream::iter(0..3_000)
        .map(|i| {
            let (shop, admin, category, made) = (&shop, &admin, &category, &made);
            let sku = format!("K{}-{i}", &run[..10.min(run.len())]);
            async move {
                // Retried until the catalog answers: a product it did create answers 409
                // the second time (its SKU is taken), which is as good.
                let product = json!({"sku": sku, "name": format!("Kill test {i}"),
                    "description": "Made while processes die.", "category": category,
                    "price_cents": 100, "initial_stock": 1});
                let request = || {
                    shop.post("/api/catalog/products")
                        .bearer_auth(admin)
                        .json(&product)
                };
                let created = |s| s == StatusCode::CREATED || s == StatusCode::CONFLICT;
                let (within, every) = (Duration::from_secs(120), Duration::from_millis(50));
                send_until(&format!("creating {sku}"), within, every, created, request).await;
                made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .then(|_| async { done.store(true, std::sync::atomic::Ordering::SeqCst) });
    let mut kills = 0;
    let killing = async {
        for round in 0..10 {
            let victim = if round % 2 == 0 {
                "inventory"
            } else {
                "catalog"
            };
            // Each kill at its own point of the stream (every 280 products), however fast
            // the machine creates them: a kill by the clock found the stream over once.
            let at = 280 * (round + 1);
            while made.load(std::sync::atomic::Ordering::SeqCst) < at
                && !done.load(std::sync::atomic::Ordering::SeqCst)
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            if let Some(pid) = shop.service_pid(victim) {
                let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                kills += 1;
            }
            // Vary the moment, and give the victim time to come back.
            let pause = 300 + (round * 137) % 400;
            tokio::time::sleep(Duration::from_millis(pause as u64)).await;
        }
    };
    let ((), ()) = tokio::join!(creating, killing);
    let expected = products_created(&shop).await;
    assert_eq!(expected, seeded + 3_000, "each product created once");
    assert!(kills >= 2, "the test killed processes mid-stream ({kills})");
    // Generous: in the production shape four services each apply the events on
    // PostgreSQL, on a machine that runs other shops' tests at the same time.
    assert_each_created_event_applied_once(&shop, expected, Duration::from_secs(420)).await;
}

#[tokio::test]
async fn an_operator_replays_and_closes_dead_letters_from_the_command_line() {
    let shop = Shop::start();
    let notifications = shop.database("notifications").await;
    // Two letters whose payloads are no events: a replay fails, a discard closes them.
    let ids = [
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    ];
    for id in &ids {
        sqlx::query(
            "INSERT INTO dead_letters (id, payload, error, attempts, dead_at) \
             VALUES ($1, 'not an event', 'not a CloudEvent', 1, '2026-12-06T00:00:00.000Z')",
        )
        .bind(id)
        .execute(&notifications)
        .await
        .unwrap();
    }
    let events = |args: &[&str]| {
        let mut cmd = std::process::Command::new(bazaar::testing::bazaar_bin());
        cmd.arg("events")
            .args(["--url", &shop.url])
            .args(args)
            .env("BAZAAR_ADMIN_EMAIL", bazaar::testing::ADMIN_EMAIL)
            .env("BAZAAR_ADMIN_PASSWORD", bazaar::testing::ADMIN_PASSWORD);
        cmd.output().unwrap()
    };
    let failed = events(&["replay", "notifications", &ids[0]]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("failed again"),
        "{failed:?}"
    );
    // Not an id: refused before anything is sent.
    let refused = events(&["discard", "notifications", "../../catalog/products/x"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    // Both closed with one command (one sign-in), each said on standard output.
    let closed = events(&["discard", "notifications", &ids[0], &ids[1]]);
    assert!(closed.status.success(), "{closed:?}");
    let said = String::from_utf8_lossy(&closed.stdout);
    for id in &ids {
        assert!(said.contains(&format!("\"id\": \"{id}\"")), "{said}");
    }
    assert_eq!(
        said.matches("\"result\": \"discarded\"").count(),
        2,
        "{said}"
    );
    // Closed already: refused, the problem on standard error and nothing on standard
    // output (a script's `> out.json` held the problem document).
    let again = events(&["discard", "notifications", &ids[0]]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(again.stdout.is_empty(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("404 Not Found: "),
        "{again:?}"
    );
    let open = scalar(
        &notifications,
        "SELECT COUNT(*) FROM dead_letters WHERE replayed_at IS NULL",
    )
    .await;
    assert_eq!(open, 0);
    notifications.close().await;
}

crate::in_both_shapes!(a_discarded_event_stays_discarded_across_a_rolling_restart);
/// A read model's rolling restart builds its copy afresh in the other data slot, from the
/// producers' logs: an event an admin discarded in the old copy stays discarded in the new
/// one (it reopened as a dead letter after every restart, to be discarded again).
async fn a_discarded_event_stays_discarded_across_a_rolling_restart(shape: Shape) {
    let shop = Shop::start_in(shape);
    let admin = shop.admin_token().await;
    // A product event search cannot take, in the catalog's log as a faulty catalog would.
    let event = events::Event::new(
        "catalog",
        "bazaar.catalog.product.created.v1",
        uuid::Uuid::now_v7().to_string(),
        json!({"not": "a product"}),
    )
    .unwrap();
    let catalog = shop.database("catalog").await;
    sqlx::query(
        "INSERT INTO outbox (id, type, subject, time, payload, attempts) \
         VALUES ($1, $2, $3, $4, $5, 0)",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(&event.subject)
    .bind(events::now_rfc3339())
    .bind(serde_json::to_string(&event).unwrap())
    .execute(&catalog)
    .await
    .unwrap();
    catalog.close().await;
    let letters = format!("{}/api/search/events/dead-letters", shop.url);
    let open = async || {
        let list: serde_json::Value = shop
            .http
            .get(&letters)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    };
    let letter = eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            let open = open().await;
            open.into_iter()
                .find(|l| l["event_id"] == event.id.as_str())
                .ok_or_else(|| "search has not set the event aside yet".to_owned())
        },
    )
    .await;
    let id = letter["id"].as_str().unwrap();
    let discarded = shop
        .http
        .delete(format!("{letters}/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(discarded.status(), StatusCode::NO_CONTENT);

    let before = shop.service_pid("search");
    let restarted = shop
        .http
        .post(format!(
            "{}/services/search/restart?wait=true",
            shop.control_url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let status = restarted.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        restarted.text().await.unwrap()
    );
    assert_ne!(shop.service_pid("search"), before, "a successor serves");
    // Ready means caught up: the new copy has met the event, and kept it closed.
    assert_eq!(open().await, Vec::<serde_json::Value>::new());
}
