//! Event throughput and commit-to-handled latency, embedded transport and RabbitMQ, in one
//! run: `cargo bench -p bazaar-events`. RabbitMQ is measured when `BAZAAR_BENCH_AMQP_URL`
//! (or `BAZAAR_TEST_AMQP_URL`) names a broker. Prints figures; asserts nothing.
//!
//! Both sides are real: a producer service with a SQLite outbox behind HTTP (and its relay
//! for RabbitMQ), and a consumer with its own SQLite database, inbox and handler.

use events::{Broker, Consumer, Event, Handler, HandlerError, Producer, Subscription, outbox};
use platform::{
    config::{Directory, NoSettings, Settings},
    db::Db,
    service::Service,
    shutdown::Shutdown,
};
use sqlx::{Any, Transaction};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const KIND: &str = "bazaar.bench.thing.created.v1";
const SUBS: &[Subscription] = &[Subscription {
    producer: "bench",
    types: &[KIND],
}];

/// Commit instants by event id, and the handled latencies.
#[derive(Clone, Default)]
struct Clock {
    committed: Arc<Mutex<HashMap<String, Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

impl Handler for Clock {
    async fn handle(
        &self,
        _tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        let now = Instant::now();
        if let Some(t) = self.committed.lock().unwrap().get(&event.id) {
            self.latencies.lock().unwrap().push(now - *t);
        }
        Ok(())
    }
}

struct Rig {
    db: Db,
    producer: Producer,
    clock: Clock,
    consumer_db: Db,
    stops: Vec<Shutdown>,
}

async fn rig(broker: Broker) -> Rig {
    // Queues exist before anything is published, as `bazaar up` arranges.
    if let Broker::Amqp { url, namespace } = &broker {
        events::amqp::declare_topology(url, namespace, &[("benchconsumer", vec![KIND])])
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("bazaar-bench-{}", uuid::Uuid::new_v4()));
    let settings = Settings::<NoSettings>::for_tests(
        "bench",
        &[
            ("listen", "127.0.0.1:0"),
            (
                "database_url",
                &format!("sqlite://{}/producer.db", dir.display()),
            ),
            ("log", "warn"),
        ],
    )
    .unwrap();
    let db = Db::connect(&settings.common.database_url, outbox::MIGRATIONS)
        .await
        .unwrap();
    let producer = Producer::new("bench", db.clone(), broker.clone());
    let mut builder = Service::builder("bench", &settings.common);
    let relay = producer.clone().relay(builder.shutdown());
    builder.routes(producer.routes()).worker("relay", relay);
    let service = builder.bind().await.unwrap();
    let url = format!("http://{}", service.local_addr());
    let service_stop = service.shutdown_handle();
    tokio::spawn(service.run());

    let consumer_db = Db::connect(
        &format!("sqlite://{}/consumer.db", dir.display()),
        events::consumer::MIGRATIONS,
    )
    .await
    .unwrap();
    let clock = Clock::default();
    let consumer = Consumer::new("benchconsumer", consumer_db.clone(), clock.clone(), SUBS, 3);
    let mut directory = Directory::default();
    directory.set("bench", url);
    let consumer_stop = Shutdown::new();
    let transport = events::Transport::new(broker, directory);
    let stop = consumer_stop.clone();
    tokio::spawn(async move { transport.run(consumer, stop).await });
    Rig {
        db,
        producer,
        clock,
        consumer_db,
        stops: vec![service_stop, consumer_stop],
    }
}

impl Rig {
    async fn commit_one(&self, i: usize) {
        let event = Event::new(
            "bench",
            KIND,
            format!("s{}", i % 64),
            serde_json::json!({"i": i}),
        )
        .unwrap();
        let id = event.id.clone();
        let mut tx = self.db.begin_write().await.unwrap();
        outbox::enqueue(&mut tx, &event).await.unwrap();
        // Stamped just before the commit: the consumer can see the event only after it.
        self.clock
            .committed
            .lock()
            .unwrap()
            .insert(id, Instant::now());
        tx.commit().await.unwrap();
        self.producer.notify();
    }

    async fn wait_handled(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.clock.latencies.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "events were not all handled in time"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn reset(&self) {
        self.clock.latencies.lock().unwrap().clear();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(name: &str, broker: Broker) {
    let rig = rig(broker).await;
    // Warm up connections and caches.
    for i in 0..200 {
        rig.commit_one(i).await;
    }
    rig.wait_handled(200).await;
    rig.reset();

    // Throughput: a burst, committed as fast as one writer can, until all are handled.
    let burst = 5_000;
    let started = Instant::now();
    for i in 0..burst {
        rig.commit_one(i).await;
    }
    let committed_in = started.elapsed();
    rig.wait_handled(burst).await;
    let total = started.elapsed();
    rig.reset();

    // Latency: a steady 500 events/s, commit to handler.
    let paced = 1_000;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    for i in 0..paced {
        tick.tick().await;
        rig.commit_one(i).await;
    }
    rig.wait_handled(paced).await;
    let mut lat = rig.clock.latencies.lock().unwrap().clone();
    lat.sort_unstable();
    println!(
        "{name:<9} throughput {:>7.0} events/s end to end ({burst} events; producer alone {:>7.0} commits/s) | latency at 500/s: p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        burst as f64 / total.as_secs_f64(),
        burst as f64 / committed_in.as_secs_f64(),
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for s in &rig.stops {
        s.trigger();
    }
    rig.consumer_db.close().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        measure("embedded", Broker::Embedded).await;
        let amqp = std::env::var("BAZAAR_BENCH_AMQP_URL")
            .or_else(|_| std::env::var("BAZAAR_TEST_AMQP_URL"))
            .ok()
            .filter(|u| !u.is_empty());
        match amqp {
            Some(url) => {
                let namespace = format!("bench-{}", uuid::Uuid::new_v4().simple());
                let broker = Broker::Amqp {
                    url: url.clone(),
                    namespace: namespace.clone(),
                };
                measure("rabbitmq", broker).await;
                if let Err(e) =
                    events::amqp::delete_topology(&url, &namespace, &["benchconsumer"]).await
                {
                    eprintln!("could not clean up namespace {namespace}: {e:#}");
                }
            }
            None => println!("rabbitmq  skipped: set BAZAAR_BENCH_AMQP_URL to measure it"),
        }
    });
}
