//! The outbox's retention: what a producer deletes from its log, and what it keeps.

use crate::helpers::*;
use chrono::Utc;
use events::{
    Broker, Consumer, Event, Outcome, outbox,
    retention::{self, Pruned, Retention},
};
use platform::db::Db;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
/// A type a read model takes: kept for good.
const REPLAYED: &str = "bazaar.testproducer.thing.kept.v1";

fn retention(keep: Duration, readers: &[&str]) -> Retention {
    Retention {
        keep,
        replayed: [REPLAYED.to_owned()].into(),
        readers: readers.iter().map(|r| (*r).to_owned()).collect(),
    }
}

/// The types left in the outbox, by `seq`.
async fn left(db: &Db) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT seq, type FROM outbox ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .unwrap()
}

async fn set_position(db: &Db, consumer: &str, position: i64) {
    sqlx::query(
        "INSERT INTO consumer_positions (consumer, position, seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
    )
    .bind(consumer)
    .bind(position)
    .bind(events::now_rfc3339())
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn an_event_goes_once_old_and_read_by_every_reader_unless_a_read_model_replays_it() {
    let rig = Rig::start(Broker::Embedded, Recorder::default(), 3).await;
    let (producer, db) = (&rig.producer, &rig.producer.db);
    // Seqs 1–10 taken by the consumer `one`, 11–15 by nobody, 16–20 replayed by a read
    // model, 21–30 taken by `one`.
    producer.produce(10, CREATED, data).await;
    producer.produce(5, OTHER, data).await;
    producer.produce(5, REPLAYED, data).await;
    producer.produce(10, CREATED, |i| data(10 + i)).await;
    eventually(
        WAIT,
        "`one` has read everything, and it is saved",
        || async {
            let saved: Option<i64> = sqlx::query_scalar(
                "SELECT position FROM consumer_positions WHERE consumer = 'one'",
            )
            .fetch_optional(db.pool())
            .await
            .unwrap();
            saved == Some(30)
        },
    )
    .await;
    assert_eq!(effects(&rig.db).await.len(), 20);
    let broker = Broker::Embedded;

    // Younger than the retention: everything stays.
    let young = retention(Duration::from_secs(3600), &["one"]);
    assert_eq!(
        young
            .prune(db, &broker, &mut Pruned::default())
            .await
            .unwrap(),
        0
    );
    // A reader that has never read holds everything back.
    let absent = retention(Duration::ZERO, &["one", "absent"]);
    assert_eq!(
        absent
            .prune(db, &broker, &mut Pruned::default())
            .await
            .unwrap(),
        0
    );
    assert_eq!(left(db).await.len(), 30);

    // A reader at 12: what it has read goes, and nothing after it. (Pruned by the
    // producer, whose memory of its newest events forgets what goes.)
    set_position(db, "lagging", 12).await;
    producer
        .producer
        .retain(retention(Duration::ZERO, &["one", "lagging"]));
    let mut pruned = Pruned::default();
    assert_eq!(producer.producer.prune(&mut pruned).await.unwrap(), 12);
    assert_eq!(left(db).await.first().unwrap().0, 13);

    // Once it has read the rest, all but the replayed type go, and the newest event,
    // which stays for the log's head.
    set_position(db, "lagging", 30).await;
    assert_eq!(producer.producer.prune(&mut pruned).await.unwrap(), 12);
    let kept = left(db).await;
    let mut expected: Vec<_> = (16..=20).map(|s| (s, REPLAYED.to_owned())).collect();
    expected.push((30, CREATED.to_owned()));
    assert_eq!(kept, expected);
    assert_eq!(producer.outbox_stats().await["head"], 30);
    assert_eq!(producer.producer.prune(&mut pruned).await.unwrap(), 0);

    // The log goes on from where it was, for the reader and for a new one.
    producer.produce(3, CREATED, |i| data(20 + i)).await;
    eventually(WAIT, "the new events handled", || async {
        effects(&rig.db).await.len() == 23
    })
    .await;
    let page: serde_json::Value = reqwest::get(format!("{}/events/log?after=0", producer.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![16, 17, 18, 19, 20, 30, 31, 32, 33]);
    rig.stop().await;
}

#[tokio::test]
async fn on_rabbitmq_an_event_goes_once_the_broker_has_confirmed_it() {
    let dir = scratch();
    let db = Db::connect(&dir.sqlite_url("producer"), outbox::MIGRATIONS)
        .await
        .unwrap();
    for i in 0..6 {
        let event = Event::new(PRODUCER, CREATED, "thing", data(i)).unwrap();
        let mut tx = db.begin_write().await.unwrap();
        outbox::enqueue(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
    }
    // The relay has delivered 1–3 and 5; 4 waits for a retry.
    sqlx::query("UPDATE outbox SET delivered_at = $1 WHERE seq IN (1, 2, 3, 5)")
        .bind(events::now_rfc3339())
        .execute(db.pool())
        .await
        .unwrap();
    let broker = Broker::Amqp {
        url: "amqp://127.0.0.1:1/%2f".into(),
        namespace: "unused".into(),
    };
    // No reader's position counts: the queues hold what was delivered.
    let r = retention(Duration::ZERO, &["never-read"]);
    let mut pruned = Pruned::default();
    assert_eq!(r.prune(&db, &broker, &mut pruned).await.unwrap(), 3);
    let seqs: Vec<i64> = left(&db).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![4, 5, 6], "nothing from the first undelivered on");

    sqlx::query("UPDATE outbox SET delivered_at = $1 WHERE seq IN (4, 6)")
        .bind(events::now_rfc3339())
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(r.prune(&db, &broker, &mut pruned).await.unwrap(), 2);
    let seqs: Vec<i64> = left(&db).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![6], "the newest stays");
    db.close().await;
}

#[tokio::test]
async fn a_consumer_forgets_what_it_handled_long_ago_and_still_knows_what_it_handled_lately() {
    let dir = scratch();
    let db = consumer_db(&dir, "consumer").await;
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let events: Vec<Event> = (0..1_200)
        .map(|i| Event::new(PRODUCER, CREATED, "thing", data(i)).unwrap())
        .collect();
    for event in &events {
        assert_eq!(
            consumer.process(event, None).await.unwrap(),
            Outcome::Handled
        );
    }
    // The first 1,100 were handled two days ago: more than a window's worth (500).
    let two_days_ago = events::envelope::to_rfc3339(Utc::now() - chrono::Duration::days(2));
    for event in &events[..1_100] {
        sqlx::query("UPDATE inbox SET handled_at = $1 WHERE event_id = $2")
            .bind(&two_days_ago)
            .bind(&event.id)
            .execute(db.pool())
            .await
            .unwrap();
    }

    let a_day_ago = Utc::now() - chrono::Duration::days(1);
    assert_eq!(
        consumer.forget_handled_before(a_day_ago).await.unwrap(),
        1_100
    );
    assert_eq!(consumer.handled_count().await.unwrap(), 100);
    assert_eq!(consumer.forget_handled_before(a_day_ago).await.unwrap(), 0);

    // What it handled lately is still a duplicate, and nothing is applied twice.
    for event in &events[1_100..] {
        assert_eq!(
            consumer.process(event, None).await.unwrap(),
            Outcome::Duplicate
        );
    }
    assert_eq!(effects(&db).await.len(), 1_200);
    db.close().await;
}

#[tokio::test]
async fn the_inbox_retention_keeps_a_day_at_least_and_stops_with_the_service() {
    let dir = scratch();
    let db = consumer_db(&dir, "consumer").await;
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    assert!(retention::INBOX_AT_LEAST >= Duration::from_secs(24 * 3600));
    // A retention longer than the calendar goes back: nothing is old enough.
    assert_eq!(retention::older_than(Duration::MAX), None);

    let shutdown = platform::shutdown::Shutdown::new();
    let running = tokio::spawn(consumer.retain(Duration::ZERO, shutdown.clone()));
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the retention stops at shutdown")
        .unwrap()
        .unwrap();
    db.close().await;
}

#[tokio::test]
async fn a_consumer_whose_inbox_forgot_the_newest_event_is_still_caught_up_with_it() {
    let rig = Rig::start(Broker::Embedded, Recorder::default(), 3).await;
    rig.producer.produce(5, CREATED, data).await;
    eventually(WAIT, "the events handled", || async {
        effects(&rig.db).await.len() == 5
    })
    .await;
    // A quiet shop, long after: the inbox has forgotten every event, the newest included,
    // which is still the producer's newest.
    sqlx::query("UPDATE inbox SET handled_at = '2000-01-01T00:00:00.000Z'")
        .execute(rig.db.pool())
        .await
        .unwrap();
    let a_day_ago = Utc::now() - chrono::Duration::days(1);
    rig.consumer.forget_handled_before(a_day_ago).await.unwrap();
    assert_eq!(rig.consumer.handled_count().await.unwrap(), 0);

    // The consumer starts again: it is caught up, as its saved position says.
    let catch_up = events::catchup::CatchUp::of(&rig.consumer);
    assert!(catch_up.check().is_err());
    let mut directory = platform::config::Directory::default();
    directory.set(PRODUCER, &rig.producer.url);
    let transport = events::Transport::new(Broker::Embedded, directory);
    let stop = platform::shutdown::Shutdown::new();
    let watching = tokio::spawn(catch_up.clone().watch(
        rig.consumer.clone(),
        transport,
        stop.clone(),
    ));
    eventually(WAIT, "caught up", || async { catch_up.check().is_ok() }).await;
    stop.trigger();
    watching.await.unwrap().unwrap();
    assert_eq!(effects(&rig.db).await.len(), 5, "nothing applied again");
    rig.stop().await;
}
