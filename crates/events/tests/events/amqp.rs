//! The RabbitMQ transport. Runs when `BAZAAR_TEST_AMQP_URL` names a broker (as `.ci/run`
//! does); fails loudly if it is set but unreachable. Each test uses its own namespace.

use crate::helpers::*;
use events::{Broker, Consumer, testing::amqp_proxy};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn broker_url() -> Option<String> {
    std::env::var("BAZAAR_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

fn namespace() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// The test broker, a namespace of the test's own, and in it consumer `one`'s queue for
/// `CREATED` (declared before anything is published, as `bazaar up` does); `None` when
/// no broker is set (the test is skipped).
async fn broker_with_queue() -> Option<(String, String, Broker)> {
    let Some(url) = broker_url() else {
        eprintln!("skipped: BAZAAR_TEST_AMQP_URL is not set");
        return None;
    };
    let ns = namespace();
    events::amqp::declare_topology(&url, &ns, &[("one", vec![CREATED])])
        .await
        .unwrap();
    let broker = Broker::Amqp {
        url: url.clone(),
        namespace: ns.clone(),
    };
    Some((url, ns, broker))
}

/// Events in the producer's outbox the relay has not marked delivered.
async fn undelivered(db: &platform::db::Db) -> i64 {
    sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
            .fetch_one(db.pool())
            .await
            .unwrap(),
        0,
    )
    .unwrap()
}

async fn cleanup(url: &str, ns: &str, services: &[&str]) {
    if let Err(e) = events::amqp::delete_topology(url, ns, services).await {
        eprintln!("could not clean up namespace {ns}: {e:#}");
    }
}

#[tokio::test]
async fn events_flow_through_rabbitmq_exactly_once_and_survive_a_cut_connection() {
    let Some(url) = broker_url() else {
        eprintln!("skipped: BAZAAR_TEST_AMQP_URL is not set");
        return;
    };
    let ns = namespace();
    // Both sides reach the broker through a proxy the test can cut.
    let (proxy, proxied) = amqp_proxy(&url).await.expect("an amqp:// URL");
    let broker = Broker::Amqp {
        url: proxied,
        namespace: ns.clone(),
    };

    let dir = scratch();
    // The consumer's queue is declared before anything is published (as `bazaar up`
    // does), so events recorded before the consumer ever started wait in it.
    events::amqp::declare_topology(&url, &ns, &[("one", vec![CREATED])])
        .await
        .unwrap();
    let producer = ProducerApp::start(&dir, 0, broker.clone()).await;
    producer.produce(20, CREATED, data).await;
    let db = consumer_db(&dir, "consumer").await;
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let (stop, task) = run(consumer.clone(), broker.clone(), &producer.url);
    eventually(WAIT, "20 effects", || async {
        effects(&db).await.len() >= 20
    })
    .await;

    // The broker goes away while events are produced; nothing is lost once it is back.
    proxy.cut();
    producer.produce(30, CREATED, |i| data(20 + i)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    eventually(WAIT, "50 effects", || async {
        effects(&db).await.len() >= 50
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut applied = effects(&db).await;
    applied.sort_unstable();
    assert_eq!(
        applied,
        (0..50).collect::<Vec<i64>>(),
        "each event exactly once"
    );
    assert_eq!(
        undelivered(&producer.db).await,
        0,
        "the relay marked everything delivered after confirms"
    );

    stop.trigger();
    task.await.unwrap();
    producer.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}

/// An event no queue takes is noted `unrouted`, and only such events are. The broker's
/// returns carry no delivery tag, and lapin hands each to whichever confirm it handles
/// next: a batch of both kinds, published at once after an outage, once had the note on
/// an event two queues had taken (a review).
#[tokio::test]
async fn only_the_events_no_queue_takes_are_noted_unrouted() {
    let Some(url) = broker_url() else {
        eprintln!("skipped: BAZAAR_TEST_AMQP_URL is not set");
        return;
    };
    let ns = namespace();
    let (proxy, proxied) = amqp_proxy(&url).await.expect("an amqp:// URL");
    let broker = Broker::Amqp {
        url: proxied,
        namespace: ns.clone(),
    };
    events::amqp::declare_topology(&url, &ns, &[("one", vec![CREATED])])
        .await
        .unwrap();
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, broker).await;
    // The broker away while both kinds are recorded: they go out together once it is back,
    // enough of them for the broker to confirm several publishes at once (the old code
    // failed this two runs in three; with 60 events, never).
    proxy.cut();
    let mut nobodys = std::collections::BTreeSet::new();
    for i in 0..400 {
        let kind = if i % 3 == 0 { OTHER } else { CREATED };
        let ids = producer.produce(1, kind, |_| data(i)).await;
        if kind == OTHER {
            nobodys.extend(ids);
        }
    }
    proxy.restore();
    eventually(WAIT, "every event delivered", || async {
        undelivered(&producer.db).await == 0
    })
    .await;
    let noted: std::collections::BTreeSet<String> =
        sqlx::query_scalar("SELECT id FROM outbox WHERE last_error LIKE 'unrouted%'")
            .fetch_all(producer.db.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        noted, nobodys,
        "noted unrouted: exactly the events no queue takes"
    );
    producer.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}

/// A consumer's queue deleted (by an operator, or lost with a broker node) loses nothing
/// of the types that service takes: the broker returns them as unroutable, and the relay
/// keeps them and publishes them again until the consumer declares its queue once more
/// (a review deleted notifications' queue and lost the payment failures sent meanwhile).
/// A type nobody takes is still done at once.
#[tokio::test]
async fn events_for_a_missing_queue_wait_for_it() {
    let Some((url, ns, broker)) = broker_with_queue().await else {
        return;
    };
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, broker.clone()).await;
    let takers = [(CREATED.to_owned(), vec!["one".to_owned()])];
    producer
        .producer
        .expect_queues(takers.into_iter().collect());
    // The relay's link is up (it declared the queues it expects as it connected), and
    // then the queue goes: deleted by hand, or lost with a broker node.
    producer.produce(1, OTHER, data).await;
    eventually(WAIT, "the relay connected", || async {
        undelivered(&producer.db).await == 0
    })
    .await;
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    conn.create_channel()
        .await
        .unwrap()
        .queue_delete(
            events::amqp::queue_name(&ns, "one").as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
    producer.produce(5, CREATED, data).await;
    producer.produce(1, OTHER, data).await;
    eventually(WAIT, "nobody's event done, the others waiting", || async {
        undelivered(&producer.db).await == 5
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(undelivered(&producer.db).await, 5, "still waiting");
    let why: Vec<String> = sqlx::query_scalar(
        "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL",
    )
    .fetch_all(producer.db.pool())
    .await
    .unwrap();
    assert!(
        !why.is_empty() && why.iter().all(|w| w.contains("queue is missing")),
        "{why:?}"
    );
    // The operator sees what keeps them waiting, oldest first.
    let stats = producer.outbox_stats().await;
    let stuck = stats["stuck"].as_array().expect("stuck events listed");
    assert!(!stuck.is_empty() && stuck.len() <= 5, "{stats}");
    assert!(
        stuck.iter().all(|e| e["type"] == CREATED
            && e["attempts"].as_i64() >= Some(1)
            && e["last_error"]
                .as_str()
                .is_some_and(|w| w.contains("queue is missing"))),
        "{stats}"
    );
    let seqs: Vec<i64> = stuck.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.is_sorted(), "oldest first: {seqs:?}");

    // The consumer comes back and declares its queue: every event gets there.
    let db = consumer_db(&dir, "consumer").await;
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let (stop, task) = run(consumer, broker, &producer.url);
    eventually(WAIT, "5 effects", || async {
        effects(&db).await.len() >= 5
    })
    .await;
    eventually(WAIT, "every event delivered", || async {
        undelivered(&producer.db).await == 0
    })
    .await;
    stop.trigger();
    task.await.unwrap();
    producer.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}

/// A relay that cannot reach the broker says why in the outbox's figures (no event is
/// tried meanwhile, so none could), and stops saying it once it reaches it.
#[tokio::test]
async fn a_relay_that_cannot_reach_the_broker_says_why_in_the_outbox() {
    let Some((url, ns, broker)) = broker_with_queue().await else {
        return;
    };
    let dir = scratch();
    let wrong = Broker::Amqp {
        url: url.replacen("guest:guest@", "guest:not-the-password@", 1),
        namespace: ns.clone(),
    };
    let producer = ProducerApp::start(&dir, 0, wrong).await;
    producer.produce(2, CREATED, data).await;
    eventually(WAIT, "the reason in the outbox", || async {
        producer.outbox_stats().await["broker_error"]
            .as_str()
            .is_some_and(|why| !why.is_empty())
    })
    .await;
    let stats = producer.outbox_stats().await;
    assert_eq!(stats["undelivered"], 2, "{stats}");
    producer.stop().await;

    let producer = ProducerApp::start(&dir, 0, broker).await;
    eventually(WAIT, "delivered once the broker is reached", || async {
        undelivered(&producer.db).await == 0
    })
    .await;
    let stats = producer.outbox_stats().await;
    assert!(stats.get("broker_error").is_none(), "{stats}");
    producer.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}

/// A consumer that cannot attach to its queue (a wrong password, a wrong vhost) is not
/// ready, saying why; one that attached is, and stays so.
#[tokio::test]
async fn a_consumer_is_ready_only_once_it_has_attached_to_its_queue() {
    let Some((url, ns, broker)) = broker_with_queue().await else {
        return;
    };
    let dir = scratch();
    let refused = url.replacen("guest:guest@", "guest:not-the-password@", 1);
    assert_ne!(refused, url, "the test broker's URL names guest:guest");
    let wrong = Broker::Amqp {
        url: refused,
        namespace: ns.clone(),
    };
    let db = consumer_db(&dir, "refused").await;
    let consumer = Consumer::new("one", db, Recorder::default(), SUBSCRIPTIONS, 3);
    assert!(
        consumer.broker_check().is_err(),
        "not ready before it tried"
    );
    let (stop, task) = run(consumer.clone(), wrong, "http://127.0.0.1:9");
    eventually(WAIT, "the refusal named", || async {
        consumer
            .broker_check()
            .is_err_and(|why| why.contains("cannot attach to its queue on the broker"))
    })
    .await;
    stop.trigger();
    task.await.unwrap();

    let db = consumer_db(&dir, "attached").await;
    let consumer = Consumer::new("one", db, Recorder::default(), SUBSCRIPTIONS, 3);
    let (stop, task) = run(consumer.clone(), broker, "http://127.0.0.1:9");
    eventually(WAIT, "attached", || async {
        consumer.broker_check().is_ok()
    })
    .await;
    stop.trigger();
    task.await.unwrap();
    assert!(
        consumer.broker_check().is_ok(),
        "still ready once it has attached"
    );
    cleanup(&url, &ns, &["one"]).await;
}

/// A message that dies in one service's queue reaches that service's dead-letter queue
/// only, not every service's; and each service's queue is declared by the producer before
/// it publishes, so a subscriber whose own start comes later misses nothing.
#[tokio::test]
async fn a_dead_letter_reaches_the_dead_letter_queue_of_its_own_service_only() {
    use lapin::options::{BasicGetOptions, BasicRejectOptions};
    let Some(url) = broker_url() else {
        eprintln!("skipped: BAZAAR_TEST_AMQP_URL is not set");
        return;
    };
    let ns = namespace();
    // A broker where an earlier version (or a hand) bound `two`'s dead-letter queue to the
    // fanout dead exchange itself, with no key and with the queue's name: those go.
    {
        use lapin::{
            ExchangeKind,
            options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
            types::{AMQPValue, FieldTable},
        };
        let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        let (dead, two_dead) = (format!("{ns}.dead"), format!("{ns}.two.dead"));
        ch.exchange_declare(
            dead.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        let mut quorum = FieldTable::default();
        quorum.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        ch.queue_declare(
            two_dead.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            quorum,
        )
        .await
        .unwrap();
        for key in ["", two_dead.as_str()] {
            ch.queue_bind(
                two_dead.as_str().into(),
                dead.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        }
        let _ = conn.close(200, "done".into()).await;
    }
    // Nothing else declared yet: the producer's link declares what the registry says is
    // taken.
    let queued = std::collections::BTreeMap::from([
        (CREATED.to_owned(), vec!["one".to_owned(), "two".to_owned()]),
        (OTHER.to_owned(), vec!["two".to_owned()]),
    ]);
    let publisher = events::amqp::Publisher::connect(&url, &ns, PRODUCER, &queued)
        .await
        .unwrap();
    for (id, kind) in [("e-1", CREATED), ("e-2", OTHER)] {
        let confirm = publisher.publish(id, kind, b"{}").await.unwrap();
        let returned = events::amqp::await_confirm(confirm).await.unwrap();
        assert_eq!(returned, None, "{kind} is routed");
    }
    let depth = |queue: &'static str| {
        let (url, ns) = (url.clone(), ns.clone());
        async move { events::amqp::queue_depth(&url, &ns, queue).await.unwrap() }
    };
    assert_eq!((depth("one").await, depth("two").await), (1, 2));

    // `one` refuses its message for good: it is dead-lettered.
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let got = ch
        .basic_get(
            events::amqp::queue_name(&ns, "one").as_str().into(),
            BasicGetOptions::default(),
        )
        .await
        .unwrap()
        .expect("a message in one's queue");
    got.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    eventually(
        WAIT,
        "the dead letter in one's dead-letter queue",
        || async { depth("one.dead").await == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        depth("two.dead").await,
        0,
        "another service's dead letters stay its own"
    );
    assert_eq!(depth("two").await, 2);
    let _ = conn.close(200, "done".into()).await;
    cleanup(&url, &ns, &["one", "two"]).await;
}

#[tokio::test]
async fn a_poison_event_on_rabbitmq_is_dead_lettered_and_the_rest_flow() {
    let Some((url, ns, broker)) = broker_with_queue().await else {
        return;
    };
    let recorder = Recorder::default();
    recorder.poisoned.lock().unwrap().push(2);
    let rig = Rig::start(broker, recorder, 3).await;
    let (producer, db, consumer) = (&rig.producer, &rig.db, &rig.consumer);
    producer.produce(6, CREATED, data).await;
    eventually(WAIT, "5 effects", || async { effects(db).await.len() >= 5 }).await;
    let mut applied = effects(db).await;
    applied.sort_unstable();
    assert_eq!(applied, vec![0, 1, 3, 4, 5]);
    let dead = consumer.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload["data"]["n"], 2);
    rig.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}

#[tokio::test]
async fn replicas_of_a_producer_relay_each_event_once_and_a_standby_takes_over() {
    let Some((url, ns, broker)) = broker_with_queue().await else {
        return;
    };
    // Two replicas of one producing service: one database, two relays.
    let dir = scratch();
    let first = ProducerApp::start(&dir, 0, broker.clone()).await;
    let second = ProducerApp::start(&dir, 0, broker.clone()).await;
    let depth = async || events::amqp::queue_depth(&url, &ns, "one").await.unwrap();
    // Waits until the outbox is relayed and the queue holds `queued` messages.
    let relayed = async |queued: u32| {
        eventually(WAIT, "every event relayed", || async {
            undelivered(&second.db).await == 0
        })
        .await;
        eventually(WAIT, &format!("{queued} messages queued"), || async {
            depth().await >= queued
        })
        .await;
    };

    first.produce(100, CREATED, data).await;
    second.produce(100, CREATED, |i| data(100 + i)).await;
    relayed(200).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        depth().await,
        200,
        "each event published once, not once per replica"
    );

    // The first replica stops (it may be the one relaying): the other goes on.
    first.stop().await;
    second.produce(20, CREATED, |i| data(200 + i)).await;
    relayed(220).await;
    assert_eq!(depth().await, 220);

    second.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}

#[tokio::test]
async fn a_consumer_reports_how_many_messages_wait_in_its_queue() {
    let Some((url, ns, broker)) = broker_with_queue().await else {
        return;
    };
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, broker.clone()).await;
    let db = consumer_db(&dir, "consumer").await;
    // The first event fails until released, and holds up the rest: they wait in the queue
    // (all but the prefetched).
    let recorder = Recorder::default();
    recorder.poisoned.lock().unwrap().push(0);
    let metrics = platform::metrics::Metrics::new("one");
    let consumer = Consumer::new("one", db.clone(), recorder.clone(), SUBSCRIPTIONS, 1_000)
        .with_metrics(&metrics);
    let (stop, task) = run(consumer, broker, &producer.url);
    let queued = || {
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with("bazaar_events_queue_messages{"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u32>().ok())
    };
    producer.produce(200, CREATED, data).await;
    eventually(WAIT, "the waiting messages counted", || async {
        queued().is_some_and(|n| n >= 100)
    })
    .await;

    recorder.poisoned.lock().unwrap().clear();
    eventually(WAIT, "200 effects", || async {
        effects(&db).await.len() >= 200
    })
    .await;
    eventually(WAIT, "the queue counted empty", || async {
        queued() == Some(0)
    })
    .await;

    stop.trigger();
    task.await.unwrap();
    producer.stop().await;
    cleanup(&url, &ns, &["one"]).await;
}
