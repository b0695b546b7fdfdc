//! A producer service and consumers for the tests.

use events::{
    Broker, Consumer, Event, Handler, HandlerError, Producer, Subscription,
    consumer::MIGRATIONS as CONSUMER_MIGRATIONS, outbox,
};
use platform::{
    config::{Directory, NoSettings, Settings},
    db::{Db, MigrationSource},
    service::Service,
    shutdown::Shutdown,
    testing::Scratch,
};
use sqlx::{Any, Row, Transaction};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

pub const PRODUCER: &str = "testproducer";
pub const CREATED: &str = "bazaar.testproducer.thing.created.v1";
pub const OTHER: &str = "bazaar.testproducer.thing.ignored.v1";
pub const SUBSCRIPTIONS: &[Subscription] = &[Subscription {
    producer: PRODUCER,
    types: &[CREATED],
}];

/// A directory of the test's own, removed with it (the databases inside must not be in
/// use by then: keep it for as long as they are).
pub fn scratch() -> Scratch {
    Scratch::new("events")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running producer service: its outbox, its log endpoint and its relay.
pub struct ProducerApp {
    pub db: Db,
    pub producer: Producer,
    pub url: String,
    shutdown: Shutdown,
    task: JoinHandle<()>,
}

impl ProducerApp {
    pub async fn start(dir: &Scratch, port: u16, broker: Broker) -> Self {
        let settings = Settings::<NoSettings>::for_tests(
            PRODUCER,
            &[
                ("listen", &format!("127.0.0.1:{port}")),
                ("database_url", &dir.sqlite_url("producer")),
            ],
        )
        .unwrap();
        let db = Db::connect(&settings.common.database_url, outbox::MIGRATIONS)
            .await
            .unwrap();
        let producer = Producer::new(PRODUCER, db.clone(), broker);
        let mut builder = Service::builder(PRODUCER, &settings.common);
        let relay = producer.clone().relay(builder.shutdown());
        builder.routes(producer.routes()).worker("relay", relay);
        let service = builder.bind().await.unwrap();
        let url = format!("http://{}", service.local_addr());
        let shutdown = service.shutdown_handle();
        let task = tokio::spawn(async move {
            let _ = service.run().await;
        });
        Self {
            db,
            producer,
            url,
            shutdown,
            task,
        }
    }

    /// Records `n` events (one transaction each) with the given data; returns their ids.
    pub async fn produce(
        &self,
        n: usize,
        kind: &str,
        data: impl Fn(usize) -> serde_json::Value,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let event = Event::new(PRODUCER, kind, format!("thing-{}", i % 7), data(i)).unwrap();
            let mut tx = self.db.begin_write().await.unwrap();
            outbox::enqueue(&mut tx, &event).await.unwrap();
            tx.commit().await.unwrap();
            self.producer.notify();
            ids.push(event.id);
        }
        ids
    }

    /// `GET /events/outbox`: the head and each consumer's position and backlog.
    pub async fn outbox_stats(&self) -> serde_json::Value {
        reqwest::get(format!("{}/events/outbox", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
        self.db.close().await;
    }
}

/// A handler whose effect is not idempotent by itself (it appends a row), so a second
/// application of one event would show; it fails on command.
#[derive(Clone, Default)]
pub struct Recorder {
    /// Events (by `data.n`) that fail until released.
    pub poisoned: Arc<Mutex<Vec<u64>>>,
    /// Remaining transient failures per `data.n`.
    pub flaky: Arc<Mutex<HashMap<u64, u32>>>,
}

impl Handler for Recorder {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        let n = event.data["n"]
            .as_u64()
            .ok_or_else(|| HandlerError::Permanent("no `n` in the data".into()))?;
        if self.poisoned.lock().unwrap().contains(&n) {
            return Err(HandlerError::Transient(format!("event {n} is poisoned")));
        }
        if let Some(left) = self.flaky.lock().unwrap().get_mut(&n)
            && *left > 0
        {
            *left -= 1;
            return Err(HandlerError::Transient(format!("event {n} is flaky")));
        }
        sqlx::query("INSERT INTO effects (event_id, n) VALUES ($1, $2)")
            .bind(&event.id)
            .bind(n as i64)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

const EFFECTS: &[MigrationSource] = &[MigrationSource {
    version: 1,
    description: "effects",
    sqlite: "CREATE TABLE effects (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, n BIGINT NOT NULL);",
    postgres: "CREATE TABLE effects (id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL, n BIGINT NOT NULL);",
}];

/// A consumer database with the consumer tables and the recorder's `effects`.
pub async fn consumer_db(dir: &Scratch, name: &str) -> Db {
    let migrations = [EFFECTS, CONSUMER_MIGRATIONS].concat();
    Db::connect(&dir.sqlite_url(name), &migrations)
        .await
        .unwrap()
}

/// A producer and its consumer `"one"` (with `recorder`, trying an event up to
/// `max_attempts` times) running on `broker`: what most transport tests start from.
pub struct Rig {
    pub producer: ProducerApp,
    /// The consumer's database.
    pub db: Db,
    pub consumer: Consumer,
    running: (Shutdown, JoinHandle<()>),
    /// Where both databases are: removed last.
    _dir: Scratch,
}

impl Rig {
    pub async fn start(broker: Broker, recorder: Recorder, max_attempts: u32) -> Self {
        let dir = scratch();
        let producer = ProducerApp::start(&dir, 0, broker.clone()).await;
        let db = consumer_db(&dir, "consumer").await;
        let consumer = Consumer::new("one", db.clone(), recorder, SUBSCRIPTIONS, max_attempts);
        let running = run(consumer.clone(), broker, &producer.url);
        Self {
            producer,
            db,
            consumer,
            running,
            _dir: dir,
        }
    }

    /// Stops the consumer, then the producer.
    pub async fn stop(self) {
        let (stop, task) = self.running;
        stop.trigger();
        task.await.unwrap();
        self.producer.stop().await;
    }
}

/// Runs `consumer` on `broker` in the background.
pub fn run(consumer: Consumer, broker: Broker, producer_url: &str) -> (Shutdown, JoinHandle<()>) {
    let mut directory = Directory::default();
    directory.set(PRODUCER, producer_url);
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let transport = events::Transport::new(broker, directory);
        if let Err(e) = transport.run(consumer, stop).await {
            panic!("consumer failed: {e:#}");
        }
    });
    (shutdown, task)
}

/// The `n` of every effect, in the order applied.
pub async fn effects(db: &Db) -> Vec<i64> {
    sqlx::query("SELECT n FROM effects ORDER BY id")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<i64, _>(0).unwrap())
        .collect()
}

/// Polls until `check` holds, for at most `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn data(i: usize) -> serde_json::Value {
    serde_json::json!({ "n": i })
}
