//! Test fixtures (feature `test-util`): events made from their producers' published
//! contracts, a stand-in producer whose events a test writes
//! itself, so a consumer's tests need not start the real producing service, and a TCP
//! proxy that cuts a broker connection.

use crate::{Broker, Event, Producer, outbox};
use platform::db::Db;
use serde_json::Value;

use std::net::SocketAddr;
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Data of a `kind` event for a consumer's test, generated from its producer's types: the
/// example published with `kind`'s contract, changed by `edit` (set the ids and amounts the
/// test needs), then checked against the contract, so a consumer is never tested on data
/// its producer would not send.
///
/// Panics if `kind` has no contract or the edited data breaks it.
pub fn payload(kind: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut data = crate::contract::example(kind)
        .unwrap_or_else(|| panic!("{kind} has no published contract"))
        .clone();
    edit(&mut data);
    if let Err(violation) = crate::contract::check(kind, &data) {
        panic!("a test made data its producer would not send: {violation}");
    }
    data
}

/// An event of `kind` about `subject` from `producer`, its data made by [`payload`].
pub fn event(producer: &str, kind: &str, subject: &str, edit: impl FnOnce(&mut Value)) -> Event {
    Event::new(producer, kind, subject, payload(kind, edit)).expect("JSON serialises")
}

/// Poison for a consumer's defences: an event of `kind` whose data, the published example
/// changed by `edit`, breaks the contract; a producer would never send it.
///
/// Panics if the edited data still keeps to the contract (the test would prove nothing).
pub fn poison(producer: &str, kind: &str, subject: &str, edit: impl FnOnce(&mut Value)) -> Event {
    let mut data = crate::contract::example(kind)
        .unwrap_or_else(|| panic!("{kind} has no published contract"))
        .clone();
    edit(&mut data);
    assert!(
        crate::contract::check(kind, &data).is_err(),
        "poison for {kind} that keeps to its contract: {data}"
    );
    Event::new(producer, kind, subject, data).expect("JSON serialises")
}

/// The `items` of an order or reservation example, remade as `items` (product id,
/// quantity): each a copy of the example's first with those two members set.
pub fn items_like(data: &Value, items: &[(&str, i64)]) -> Value {
    let first = &data["items"][0];
    items
        .iter()
        .map(|(product_id, quantity)| {
            let mut item = first.clone();
            item["product_id"] = (*product_id).into();
            item["quantity"] = (*quantity).into();
            item
        })
        .collect()
}

/// A producing service's event side and nothing else: the events crate's real outbox and
/// log on a database of its own, served over HTTP like the producer serves them, fed by
/// the test. Point a consumer's `<producer>_url` at [`FakeProducer::url`].
pub struct FakeProducer {
    /// `http://127.0.0.1:<port>`, where the log is served.
    pub url: String,
    db: Db,
    producer: Producer,
    server: JoinHandle<()>,
}

impl FakeProducer {
    /// The log of producer `name` on the database at `database_url`.
    pub async fn start(name: &str, database_url: &str) -> anyhow::Result<Self> {
        let db = Db::connect(database_url, outbox::MIGRATIONS).await?;
        let producer = Producer::new(name, db.clone(), Broker::Embedded);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let routes = producer.routes();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        Ok(Self {
            url,
            db,
            producer,
            server,
        })
    }

    /// Records `event` as its producer would: in a transaction of its own, then wakes
    /// the readers waiting on the log.
    pub async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        let mut tx = self.db.begin_write().await?;
        outbox::enqueue(&mut tx, event).await?;
        self.producer.commit(tx).await?;
        Ok(())
    }
}

impl Drop for FakeProducer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A TCP proxy on 127.0.0.1 whose connections a test can cut, to simulate a broker that
/// goes away (and refuses new connections) and comes back.
pub struct TcpProxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let down = down.clone();
            let links = links.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap_or_else(|e| e.into_inner()).push(link);
                }
            })
        };
        Ok(Self {
            addr,
            down,
            links,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            link.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A [`TcpProxy`] in front of the broker of the `amqp://` URL `url`, and the URL that
/// reaches the broker through it (a test can then cut every connection at will).
pub async fn amqp_proxy(url: &str) -> Option<(TcpProxy, String)> {
    let parsed = url::Url::parse(url).ok()?;
    let upstream = format!("{}:{}", parsed.host_str()?, parsed.port().unwrap_or(5672));
    let proxy = TcpProxy::start(upstream).await.ok()?;
    let addr = proxy.addr();
    let mut proxied = parsed;
    proxied.set_host(Some(&addr.ip().to_string())).ok()?;
    proxied.set_port(Some(addr.port())).ok()?;
    Some((proxy, proxied.to_string()))
}

/// The events in the outbox of `db`, oldest first, each with its position in the
/// producer's log: what a producer's tests read to see what it published.
pub async fn recorded(db: &Db) -> Vec<(i64, Event)> {
    use sqlx::Row;
    sqlx::query("SELECT seq, payload FROM outbox ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .expect("the outbox reads")
        .iter()
        .map(|r| {
            let payload: String = r.get("payload");
            let event = serde_json::from_str(&payload).expect("the outbox holds events");
            (r.get("seq"), event)
        })
        .collect()
}
