//! The embedded transport: consumers read the producer's outbox over HTTP.

use crate::helpers::*;
use events::{Broker, Consumer, Outcome, consumer::ReplayResult};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn every_event_is_handled_once_and_in_order() {
    let rig = Rig::start(Broker::Embedded, Recorder::default(), 3).await;
    let (producer, db, consumer) = (&rig.producer, &rig.db, &rig.consumer);

    producer.produce(150, CREATED, data).await;
    // Events of types nobody subscribed to are skipped, not handled.
    producer.produce(20, OTHER, data).await;
    producer.produce(50, CREATED, |i| data(150 + i)).await;

    eventually(WAIT, "200 effects", || async {
        effects(db).await.len() >= 200
    })
    .await;
    let applied = effects(db).await;
    assert_eq!(
        applied,
        (0..200).collect::<Vec<i64>>(),
        "once each, in commit order"
    );
    assert_eq!(consumer.handled_count().await.unwrap(), 200);

    // The producer knows how far this consumer has read.
    let stats = producer.outbox_stats().await;
    assert_eq!(stats["head"], 220);
    assert_eq!(stats["consumers"][0]["consumer"], "one");

    rig.stop().await;
}

#[tokio::test]
async fn a_redelivered_event_has_no_second_effect() {
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, Broker::Embedded).await;
    producer.produce(1, CREATED, data).await;
    let page: events::producer::LogPage =
        reqwest::get(format!("{}/events/log?after=0", producer.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let event: events::Event = serde_json::from_value(page.events[0].event.clone()).unwrap();
    let db = consumer_db(&dir, "consumer").await;
    let metrics = platform::metrics::Metrics::new("one");
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3)
        .with_metrics(&metrics);
    assert_eq!(
        consumer.process(&event, None).await.unwrap(),
        Outcome::Handled
    );
    for _ in 0..3 {
        assert_eq!(
            consumer.process(&event, None).await.unwrap(),
            Outcome::Duplicate
        );
    }
    assert_eq!(effects(&db).await, vec![0]);
    // The metric counts applications apart from redeliveries.
    let text = metrics.render();
    for (outcome, n) in [("handled", 1), ("duplicate", 3)] {
        let line = format!(
            "bazaar_events_consumed_total{{service=\"one\",event=\"{}\",outcome=\"{outcome}\"}} {n}",
            event.kind
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    producer.stop().await;
}

#[tokio::test]
async fn two_replicas_never_handle_one_event_though_a_page_outlasts_the_lease() {
    // Each poisoned event retries for most of a second before it is dead-lettered: the
    // page of them takes longer than the reader's 6 s lease.
    let recorder = Recorder::default();
    recorder.poisoned.lock().unwrap().extend(0..16);
    let rig = Rig::start(Broker::Embedded, recorder.clone(), 5).await;
    let (producer, db) = (&rig.producer, &rig.db);
    let sibling = Consumer::new("one", db.clone(), recorder, SUBSCRIPTIONS, 5);
    let (stop_sibling, sibling_task) = run(sibling, Broker::Embedded, &producer.url);

    producer.produce(16, CREATED, data).await;
    eventually(Duration::from_secs(60), "16 dead letters", || async {
        rig.consumer.dead_letters(100).await.unwrap().len() >= 16
    })
    .await;
    // A moment for a second reader's copy of any of them to land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dead = rig.consumer.dead_letters(100).await.unwrap();
    let mut numbers: Vec<i64> = dead
        .iter()
        .map(|d| d.payload["data"]["n"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..16).collect::<Vec<i64>>(),
        "each event dead-lettered once"
    );

    stop_sibling.trigger();
    sibling_task.await.unwrap();
    rig.stop().await;
}

#[tokio::test]
async fn an_admin_closes_a_dead_letter_without_a_replay() {
    let recorder = Recorder::default();
    recorder.poisoned.lock().unwrap().push(1);
    let rig = Rig::start(Broker::Embedded, recorder, 1).await;
    let (producer, db, consumer) = (&rig.producer, &rig.db, &rig.consumer);
    producer.produce(3, CREATED, data).await;
    eventually(WAIT, "2 effects", || async { effects(db).await.len() >= 2 }).await;
    let dead = consumer.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);

    assert!(consumer.discard(&dead[0].id, "admin-1").await.unwrap());
    assert!(consumer.dead_letters(10).await.unwrap().is_empty());
    assert!(
        !consumer.discard(&dead[0].id, "admin-1").await.unwrap(),
        "a closed letter is not open any more"
    );
    assert_eq!(consumer.replay(&dead[0].id).await.unwrap(), None);
    // On record, closed, with who closed it; its event never applied.
    let by: Option<String> =
        sqlx::query_scalar("SELECT discarded_by FROM dead_letters WHERE id = $1")
            .bind(&dead[0].id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(by.as_deref(), Some("admin-1"));
    assert_eq!(effects(db).await, vec![0, 2]);
    rig.stop().await;
}

/// A read model's rolling restart builds a new copy of its data from the producers' logs:
/// what an admin discarded in the old copy must not reopen there.
#[tokio::test]
async fn a_new_copy_keeps_what_an_admin_discarded_in_the_one_it_replaces() {
    let recorder = Recorder::default();
    recorder.poisoned.lock().unwrap().push(1);
    let rig = Rig::start(Broker::Embedded, recorder.clone(), 1).await;
    let dir = scratch();
    // Another copy (the other data slot) that met the event before the admin decided.
    let older = consumer_db(&dir, "older").await;
    let older_consumer = Consumer::new("one", older.clone(), recorder.clone(), SUBSCRIPTIONS, 1);
    let older_run = run(older_consumer.clone(), Broker::Embedded, &rig.producer.url);
    rig.producer.produce(3, CREATED, data).await;
    for db in [&rig.db, &older] {
        eventually(WAIT, "2 effects", || async {
            effects(db).await == vec![0, 2]
        })
        .await;
    }
    let old_letters = older_consumer.dead_letters(10).await.unwrap();
    assert_eq!(old_letters.len(), 1);
    let (stop, task) = older_run;
    stop.trigger();
    task.await.unwrap();
    let letter = rig.consumer.dead_letters(10).await.unwrap().remove(0);
    assert!(rig.consumer.discard(&letter.id, "admin-1").await.unwrap());

    // A fresh copy takes the decision over, then reads the log from its start.
    let fresh = consumer_db(&dir, "fresh").await;
    let copy = Consumer::new("one", fresh.clone(), recorder.clone(), SUBSCRIPTIONS, 5);
    assert_eq!(copy.inherit_discards(&rig.db).await.unwrap(), 1);
    assert_eq!(
        copy.inherit_discards(&rig.db).await.unwrap(),
        0,
        "taken once"
    );
    let running = run(copy.clone(), Broker::Embedded, &rig.producer.url);
    eventually(WAIT, "the new copy past the discarded event", || async {
        effects(&fresh).await == vec![0, 2]
            && copy
                .has_applied(&letter.event_id.clone().unwrap())
                .await
                .unwrap()
    })
    .await;
    assert!(
        copy.dead_letters(10).await.unwrap().is_empty(),
        "the discarded event did not reopen as a letter"
    );
    let closed: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT event_id, discarded_by FROM dead_letters")
            .fetch_all(fresh.pool())
            .await
            .unwrap();
    assert_eq!(
        closed,
        vec![(letter.event_id.clone(), Some("admin-1".to_owned()))]
    );
    assert_eq!(
        attempts_left(&fresh).await,
        0,
        "set aside at its first failure"
    );

    // The other slot's copy, met again: its letter of that event is closed as decided.
    assert_eq!(older_consumer.inherit_discards(&fresh).await.unwrap(), 1);
    assert!(older_consumer.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(effects(&older).await, vec![0, 2], "and still never applied");

    let (stop, task) = running;
    stop.trigger();
    task.await.unwrap();
    rig.stop().await;
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_rest_flow_then_replay_works() {
    let recorder = Recorder::default();
    recorder.poisoned.lock().unwrap().push(3);
    recorder.flaky.lock().unwrap().insert(6, 2);
    let rig = Rig::start(Broker::Embedded, recorder.clone(), 3).await;
    let (producer, db, consumer) = (&rig.producer, &rig.db, &rig.consumer);

    producer.produce(10, CREATED, data).await;
    eventually(WAIT, "9 effects", || async { effects(db).await.len() >= 9 }).await;
    assert_eq!(
        effects(db).await,
        vec![0, 1, 2, 4, 5, 6, 7, 8, 9],
        "3 is out, 6 got through on its third try"
    );

    let dead = consumer.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].error.contains("poisoned"), "{}", dead[0].error);
    assert_eq!(dead[0].payload["data"]["n"], 3);

    // Still poisoned: the replay fails and the letter stays.
    assert_eq!(
        consumer.replay(&dead[0].id).await.unwrap(),
        Some(ReplayResult::Failed)
    );
    assert_eq!(consumer.dead_letters(10).await.unwrap().len(), 1);
    // Fixed: the replay applies it, once.
    recorder.poisoned.lock().unwrap().clear();
    assert_eq!(
        consumer.replay(&dead[0].id).await.unwrap(),
        Some(ReplayResult::Handled)
    );
    assert_eq!(
        consumer.replay(&dead[0].id).await.unwrap(),
        None,
        "a replayed letter is closed"
    );
    assert!(consumer.dead_letters(10).await.unwrap().is_empty());
    let mut applied = effects(db).await;
    applied.sort_unstable();
    assert_eq!(applied, (0..10).collect::<Vec<i64>>());
    assert_eq!(attempts_left(db).await, 0, "no count outlives its event");

    // Later, with every count cleared, a failure is counted and cleared again.
    recorder.flaky.lock().unwrap().insert(12, 1);
    producer.produce(5, CREATED, |i| data(10 + i)).await;
    eventually(WAIT, "15 effects", || async {
        effects(db).await.len() >= 15
    })
    .await;
    assert_eq!(attempts_left(db).await, 0, "no count outlives its event");

    rig.stop().await;
}

async fn attempts_left(db: &platform::db::Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM event_attempts")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_event_that_cannot_be_understood_is_dead_lettered_at_once() {
    let rig = Rig::start(Broker::Embedded, Recorder::default(), 5).await;
    let (producer, db, consumer) = (&rig.producer, &rig.db, &rig.consumer);
    producer
        .produce(1, CREATED, |_| serde_json::json!({"no": "n"}))
        .await;
    producer.produce(1, CREATED, |_| data(1)).await;
    eventually(WAIT, "the good event", || async {
        effects(db).await == vec![1]
    })
    .await;
    let dead = consumer.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1, "a permanent failure is not retried");
    rig.stop().await;
}

#[tokio::test]
async fn events_committed_while_the_producer_is_down_arrive_once_it_is_back() {
    let dir = scratch();
    let port = free_port();
    let producer = ProducerApp::start(&dir, port, Broker::Embedded).await;
    let db = consumer_db(&dir, "consumer").await;
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let url = producer.url.clone();
    let (stop, task) = run(consumer.clone(), Broker::Embedded, &url);
    producer.produce(5, CREATED, data).await;
    eventually(WAIT, "5 effects", || async {
        effects(&db).await.len() == 5
    })
    .await;

    // Commit more while nobody can read them, then take the producer down.
    producer.produce(5, CREATED, |i| data(5 + i)).await;
    producer.stop().await;
    let producer = ProducerApp::start(&dir, port, Broker::Embedded).await;
    producer.produce(5, CREATED, |i| data(10 + i)).await;
    eventually(WAIT, "15 effects", || async {
        effects(&db).await.len() >= 15
    })
    .await;
    assert_eq!(effects(&db).await, (0..15).collect::<Vec<i64>>());
    stop.trigger();
    task.await.unwrap();
    producer.stop().await;
}

/// The producer's database restored from a backup taken before the events its reader last
/// read: the log's numbers go on after the reader's position, so the events that come next
/// are read. They took the numbers the reader had read past, and it never read them (the
/// backup review: a product created after a restore of the catalog never reached
/// inventory, cart or search).
#[tokio::test]
async fn after_a_restore_of_the_producer_what_comes_next_is_read() {
    let dir = scratch();
    let port = free_port();
    let producer = ProducerApp::start(&dir, port, Broker::Embedded).await;
    let db = consumer_db(&dir, "consumer").await;
    let consumer = Consumer::new("one", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let (stop, task) = run(consumer.clone(), Broker::Embedded, &producer.url);
    producer.produce(5, CREATED, data).await;
    eventually(WAIT, "5 effects", || async {
        effects(&db).await.len() == 5
    })
    .await;
    producer.stop().await;

    // Restored as it was after its second event (what a copy of its file then holds).
    let restored = platform::db::Db::connect(&dir.sqlite_url("producer"), &[])
        .await
        .unwrap();
    sqlx::query("DELETE FROM outbox WHERE seq > 2")
        .execute(restored.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE sqlite_sequence SET seq = 2 WHERE name = 'outbox'")
        .execute(restored.pool())
        .await
        .unwrap();
    let last = async || -> i64 {
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
            .fetch_one(restored.pool())
            .await
            .unwrap()
    };
    assert_eq!(last().await, 2);
    let producer = ProducerApp::start(&dir, port, Broker::Embedded).await;
    // The reader, back at once, stands at 5: the log goes on from there.
    eventually(WAIT, "the log's numbers past the reader's", || async {
        last().await >= 5
    })
    .await;
    producer.produce(2, CREATED, |i| data(5 + i)).await;
    eventually(WAIT, "7 effects", || async {
        effects(&db).await.len() >= 7
    })
    .await;
    assert_eq!(effects(&db).await, (0..7).collect::<Vec<i64>>());
    stop.trigger();
    task.await.unwrap();
    restored.close().await;
    producer.stop().await;
}

#[tokio::test]
async fn two_replicas_of_one_consumer_handle_each_event_once() {
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, Broker::Embedded).await;
    let db = consumer_db(&dir, "shared").await;
    let a = Consumer::new("pair", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let b = Consumer::new("pair", db.clone(), Recorder::default(), SUBSCRIPTIONS, 3);
    let (stop_a, task_a) = run(a, Broker::Embedded, &producer.url);
    let (stop_b, task_b) = run(b, Broker::Embedded, &producer.url);
    producer.produce(100, CREATED, data).await;
    eventually(WAIT, "100 effects", || async {
        effects(&db).await.len() >= 100
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(effects(&db).await, (0..100).collect::<Vec<i64>>());
    // Two separate services each get every event (fan-out).
    let other_db = consumer_db(&dir, "other").await;
    let other = Consumer::new(
        "other",
        other_db.clone(),
        Recorder::default(),
        SUBSCRIPTIONS,
        3,
    );
    let (stop_c, task_c) = run(other, Broker::Embedded, &producer.url);
    eventually(WAIT, "fan-out", || async {
        effects(&other_db).await.len() >= 100
    })
    .await;
    for (s, t) in [(stop_a, task_a), (stop_b, task_b), (stop_c, task_c)] {
        s.trigger();
        t.await.unwrap();
    }
    producer.stop().await;
}

#[tokio::test]
async fn the_log_refuses_bad_queries_with_problems() {
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, Broker::Embedded).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("after=-1", "after"),
        ("after=x", "after"),
    ] {
        let r = reqwest::get(format!("{}/events/log?{query}", producer.url))
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    producer.stop().await;
}

/// `GET /events/log` as a consumer of `types` asks it, from `after`, waiting up to `wait_ms`.
async fn read_log(url: &str, after: i64, types: &str, wait_ms: u64) -> events::producer::LogPage {
    reqwest::get(format!(
        "{url}/events/log?after={after}&types={types}&wait_ms={wait_ms}&consumer=one"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_reader_waiting_for_its_types_is_not_woken_by_others() {
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, Broker::Embedded).await;
    producer.produce(3, OTHER, data).await;

    // Only other types in the log: the wait runs out, and says how far it looked.
    let started = std::time::Instant::now();
    let page = read_log(&producer.url, 0, CREATED, 300).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited");
    assert!(page.events.is_empty());
    assert_eq!(page.next, 3, "past the events of other types");

    // Waiting for its type, a reader sleeps through other events and wakes for its own.
    let url = producer.url.clone();
    let waiting = tokio::spawn(async move { read_log(&url, 3, CREATED, 10_000).await });
    producer.produce(2, OTHER, data).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!waiting.is_finished(), "woken by events it does not take");
    producer.produce(1, CREATED, data).await;
    let page = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("answered once its own type comes")
        .unwrap();
    let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![6]);
    assert_eq!(page.next, 6);
    producer.stop().await;
}

#[tokio::test]
async fn a_readers_position_is_shown_at_once_and_saved_soon() {
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, Broker::Embedded).await;
    producer.produce(4, CREATED, data).await;
    let _ = read_log(&producer.url, 3, CREATED, 0).await;

    // The replica that served the read knows the position at once.
    let stats = producer.outbox_stats().await;
    assert_eq!(stats["consumers"][0]["consumer"], "one", "{stats}");
    assert_eq!(stats["consumers"][0]["position"], 3, "{stats}");
    assert_eq!(stats["consumers"][0]["backlog"], 1, "{stats}");

    // Another replica reads it from the database, where it is saved in the background.
    eventually(WAIT, "the position saved", || async {
        let saved: Option<i64> =
            sqlx::query_scalar("SELECT position FROM consumer_positions WHERE consumer = 'one'")
                .fetch_optional(producer.db.pool())
                .await
                .unwrap();
        saved == Some(3)
    })
    .await;
    producer.stop().await;
}

#[tokio::test]
async fn a_reader_that_does_not_move_on_is_not_saved_again_at_every_read() {
    let dir = scratch();
    let producer = ProducerApp::start(&dir, 0, Broker::Embedded).await;
    producer.produce(4, CREATED, data).await;
    let saved = async || -> Option<(i64, String)> {
        sqlx::query_as("SELECT position, seen_at FROM consumer_positions WHERE consumer = 'one'")
            .fetch_optional(producer.db.pool())
            .await
            .unwrap()
    };
    let _ = read_log(&producer.url, 3, CREATED, 0).await;
    eventually(WAIT, "the position saved", || async {
        saved().await.is_some_and(|(position, _)| position == 3)
    })
    .await;
    let first = saved().await;

    // Act: reads from the same position, as an idle consumer's long polls are, across
    // several of the producer's saves (one a second).
    for _ in 0..5 {
        let _ = read_log(&producer.url, 3, CREATED, 0).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Assert: the row was not written again (each write a synced transaction, every few
    // seconds in every producer of an idle shop, for good); a reader moving on is saved.
    assert_eq!(saved().await, first);
    let _ = read_log(&producer.url, 4, CREATED, 0).await;
    eventually(WAIT, "the new position saved", || async {
        saved().await.is_some_and(|(position, _)| position == 4)
    })
    .await;
    producer.stop().await;
}
