//! The gateway's kept-alive HTTP/1 connections to its upstreams.
//!
//! A connection belongs to one exchange at a time and is driven by the task forwarding
//! the request (`crate::h1`); between exchanges it waits in its replica's idle list. A
//! connection goes back to that list when its answer's body ends, and a request takes the
//! most recently used idle connection that is still open.
//!
//! Before these, the gateway went through hyper-util's pooled client, then hyper's
//! connection-level client with a pool of its own: each saved CPU per request
//! (docs/benchmarks.md, "The gateway's forwarding path", and the 2026-12-05 eighth
//! machine's figures for this one).
//!
//! A request that finds its idle connection closed before the request was written (the
//! upstream closed a kept-alive connection at that moment) is sent on a new connection:
//! nothing of it reached the upstream, so this is not a retry in the balancer's sense.
//! A connection idle for [`IDLE_FOR`] is closed here first, before the service's own idle
//! timeout could close it while a request is on its way.

use crate::h1::{self, Conn};
use bytes::Bytes;
use http::{
    HeaderValue, Request, Response,
    uri::{Authority, Scheme},
};
use rustc_hash::FxHashMap as HashMap;
use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};
use tokio::net::TcpStream;

/// Idle connections kept per replica; more are closed when their response ends.
const MAX_IDLE: usize = 64;

/// How long a connection of the gateway's stays idle before it is closed: shorter than the services' own
/// idle timeout (`platform::service::IDLE_TIMEOUT`), so that they never close one under
/// a request this end is sending.
pub const IDLE_FOR: Duration = Duration::from_secs(50);

/// An answer's body from the pool: when it has been read to its end, its connection
/// serves the next request; dropped before, the connection is closed with it.
pub type PooledBody = h1::Body<GiveBack>;

/// Connections to every replica the gateway forwards to, by `host:port`. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Keyed by the authority's text as the balancer wrote it: hashed as one string, not
    /// folded to lower case byte by byte as `Authority`'s own `Hash` does.
    replicas: Mutex<HashMap<Box<str>, Replica>>,
    connect_timeout: Duration,
    idle_for: Duration,
}

/// One replica's idle connections, each with the time it became idle, and the `Host`
/// its requests carry (made once).
struct Replica {
    host: HeaderValue,
    idle: Vec<(Conn, Instant)>,
}

impl Replica {
    /// The entry of `authority`, made when missing (`None` for an authority that is not a
    /// valid header value, which a parsed one always is).
    fn of<'a>(
        replicas: &'a mut HashMap<Box<str>, Replica>,
        authority: &Authority,
    ) -> Option<&'a mut Replica> {
        let key = authority.as_str();
        if !replicas.contains_key(key) {
            let host = HeaderValue::from_str(key).ok()?;
            let idle = Vec::new();
            replicas.insert(key.into(), Replica { host, idle });
        }
        replicas.get_mut(key)
    }
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made (or none is made for such a URL): nothing reached the
    /// upstream.
    #[error("cannot connect to {0}: {1}")]
    Connect(Authority, String),
    /// The request went out (or may have), and the connection failed before a response.
    #[error("the connection to {0} failed: {1}")]
    Reset(Authority, h1::Error),
}

impl Pool {
    /// A pool whose new connections give up after `connect_timeout`, and whose idle ones
    /// are closed after `idle_for` ([`IDLE_FOR`] for the gateway's).
    pub fn new(connect_timeout: Duration, idle_for: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                replicas: Mutex::new(HashMap::default()),
                connect_timeout,
                idle_for,
            }),
        }
    }

    /// The oldest time an idle connection may have become idle and still be used (`None`
    /// early in the clock's life: any).
    fn fresh_since(&self) -> Option<Instant> {
        Instant::now().checked_sub(self.inner.idle_for)
    }

    /// Sends `request` (origin-form target) to the replica at `scheme://authority`, with
    /// `Host` naming it. The response's body, once read to its end, gives the connection
    /// back. Plain HTTP only: an `https` replica is refused, not sent cleartext.
    pub async fn send(
        &self,
        scheme: &Scheme,
        authority: &Authority,
        request: Request<Bytes>,
    ) -> Result<Response<PooledBody>, SendError> {
        if *scheme != Scheme::HTTP {
            return Err(SendError::Connect(
                authority.clone(),
                format!("the gateway forwards over http only, not {scheme}"),
            ));
        }
        let (host, idle) = self.checkout(authority);
        let Some(host) = host else {
            return Err(SendError::Connect(
                authority.clone(),
                "not a valid host".into(),
            ));
        };
        if let Some(conn) = idle {
            match conn
                .exchange(&request, &host, self.give_back(authority))
                .await
            {
                Ok(res) => return Ok(res),
                // Never taken: the kept-alive connection had closed. Use a new one.
                Err(failure) if failure.unsent => {}
                Err(failure) => return Err(SendError::Reset(authority.clone(), failure.error)),
            }
        }
        // Boxed: a new connection is the rare case, and its future would otherwise make
        // every request's that much larger.
        let conn = Box::pin(self.connect(authority)).await?;
        conn.exchange(&request, &host, self.give_back(authority))
            .await
            .map_err(|failure| SendError::Reset(authority.clone(), failure.error))
    }

    fn give_back(&self, authority: &Authority) -> GiveBack {
        GiveBack {
            pool: self.clone(),
            authority: authority.clone(),
        }
    }

    /// The `Host` for `authority`, and an idle connection to it that can take a request
    /// now; closed ones, and those idle too long, are dropped on the way.
    fn checkout(&self, authority: &Authority) -> (Option<HeaderValue>, Option<Conn>) {
        let fresh_since = self.fresh_since();
        let mut replicas = self.replicas();
        let Some(replica) = Replica::of(&mut replicas, authority) else {
            return (None, None);
        };
        while let Some((mut conn, since)) = replica.idle.pop() {
            if fresh_since.is_none_or(|t| since >= t) && !conn.closed() {
                return (Some(replica.host.clone()), Some(conn));
            }
        }
        (Some(replica.host.clone()), None)
    }

    fn replicas(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Replica>> {
        self.inner
            .replicas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self, authority: &Authority) -> Result<Conn, SendError> {
        let failed = |e: String| SendError::Connect(authority.clone(), e);
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::time::timeout(
            self.inner.connect_timeout,
            TcpStream::connect((authority.host(), port)),
        )
        .await
        .map_err(|_| {
            failed(format!(
                "no connection within {:?}",
                self.inner.connect_timeout
            ))
        })?
        .map_err(|e| failed(e.to_string()))?;
        // Without it a request written in two parts waits for the peer's delayed ACK.
        stream
            .set_nodelay(true)
            .map_err(|e| failed(e.to_string()))?;
        self.sweep();
        Ok(Conn::new(stream))
    }

    /// Drops idle connections of every replica that were idle too long or that their
    /// upstream closed, and forgets replicas with none: replicas that went away leave
    /// nothing behind. Runs when a connection is made.
    fn sweep(&self) {
        let fresh_since = self.fresh_since();
        self.replicas().retain(|_, replica| {
            replica.idle.retain_mut(|(conn, since)| {
                fresh_since.is_none_or(|t| *since >= t) && !conn.closed()
            });
            !replica.idle.is_empty()
        });
    }

    fn put_back(&self, authority: &Authority, conn: Conn) {
        let mut replicas = self.replicas();
        if let Some(replica) = Replica::of(&mut replicas, authority)
            && replica.idle.len() < MAX_IDLE
        {
            replica.idle.push((conn, Instant::now()));
        }
    }
}

/// Where an answer's connection goes when its body has ended: back to its replica's idle
/// connections.
pub struct GiveBack {
    pool: Pool,
    authority: Authority,
}

impl h1::Reuse for GiveBack {
    fn reuse(self, conn: Conn) {
        self.pool.put_back(&self.authority, conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use platform::testing::eventually;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    /// How the test upstream answers: `body` to every request; with `close_after`, it
    /// closes each connection after that many answers; with `unfinished`, it sends only
    /// the first half of the body and keeps the connection open without the rest.
    #[derive(Clone, Copy)]
    struct Answer {
        body: &'static str,
        close_after: Option<usize>,
        unfinished: bool,
    }

    impl Answer {
        fn of(body: &'static str) -> Self {
            Self {
                body,
                close_after: None,
                unfinished: false,
            }
        }
    }

    /// An upstream answering as `answer` says, and the connections it has accepted.
    async fn upstream(answer: Answer) -> (Authority, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut answered = 0;
                    loop {
                        let mut seen = Vec::new();
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&seen).to_string();
                        let body = answer.body;
                        let sent = if answer.unfinished {
                            &body[..body.len() / 2]
                        } else {
                            body
                        };
                        let text = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-host: {}\r\n\r\n{sent}",
                            body.len(),
                            head.lines()
                                .find_map(|l| l.strip_prefix("host: "))
                                .unwrap_or("-")
                        );
                        if stream.write_all(text.as_bytes()).await.is_err() {
                            return;
                        }
                        answered += 1;
                        if answer.close_after == Some(answered) {
                            return;
                        }
                        if answer.unfinished {
                            // Held open, the rest never sent, until the client goes.
                            let _ = stream.read(&mut buf).await;
                            return;
                        }
                    }
                });
            }
        });
        (authority, connections)
    }

    fn get(path: &str) -> Request<Bytes> {
        Request::get(path).body(Bytes::new()).unwrap()
    }

    async fn send(pool: &Pool, authority: &Authority) -> Response<PooledBody> {
        let sent = pool.send(&Scheme::HTTP, authority, get("/x")).await;
        sent.unwrap_or_else(|e| panic!("no answer: {e}"))
    }

    async fn text(res: Response<PooledBody>) -> String {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Waits until `pool` holds `count` idle connections to `authority` for which `state`
    /// holds (open ones: `|c| !c.closed()`; closed: `Conn::closed`): what a connection
    /// gets to once its answer has ended, and once the runtime has seen what the upstream
    /// did with it.
    async fn idle(pool: &Pool, authority: &Authority, count: usize, state: fn(&mut Conn) -> bool) {
        eventually("the pool's idle connections", async || {
            let mut replicas = pool.replicas();
            let idle = replicas.get_mut(authority.as_str()).map_or(0, |r| {
                r.idle
                    .iter_mut()
                    .map(|(c, _)| state(c))
                    .filter(|s| *s)
                    .count()
            });
            (idle == count).then_some(())
        })
        .await;
    }

    fn open(conn: &mut Conn) -> bool {
        !conn.closed()
    }

    #[tokio::test]
    async fn requests_in_turn_share_one_connection_and_name_the_host() {
        let (authority, connections) = upstream(Answer::of("hello")).await;
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        for _ in 0..20 {
            let res = send(&pool, &authority).await;
            assert_eq!(res.headers()["x-host"], authority.as_str());
            assert_eq!(text(res).await, "hello");
            idle(&pool, &authority, 1, open).await;
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_sockets_buffers_comes_whole_and_keeps_its_connection() {
        let large: &'static str = "0123456789abcdef".repeat(1 << 16).leak();
        let (authority, connections) = upstream(Answer::of(large)).await;
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        for _ in 0..3 {
            assert_eq!(text(send(&pool, &authority).await).await.len(), large.len());
            idle(&pool, &authority, 1, open).await;
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_open_connections_and_keep_them() {
        let (authority, connections) = upstream(Answer::of("hi")).await;
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        for _ in 0..3 {
            let all = (0..8).map(|_| {
                let (pool, authority) = (pool.clone(), authority.clone());
                async move { text(send(&pool, &authority).await).await }
            });
            for answer in futures_util::future::join_all(all).await {
                assert_eq!(answer, "hi");
            }
            idle(&pool, &authority, 8, open).await;
        }
        assert_eq!(
            connections.load(Ordering::SeqCst),
            8,
            "8 at a time, 3 times"
        );
    }

    #[tokio::test]
    async fn a_connection_idle_too_long_is_closed_not_used() {
        let (authority, connections) = upstream(Answer::of("hi")).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(2));
        // Requests closer together than the idle time share a connection.
        for _ in 0..3 {
            assert_eq!(text(send(&pool, &authority).await).await, "hi");
            idle(&pool, &authority, 1, open).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        // One idle for longer is dropped, and the next request gets a new one.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_eq!(text(send(&pool, &authority).await).await, "hi");
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        idle(&pool, &authority, 1, open).await;
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced_without_an_error() {
        let closing = Answer {
            close_after: Some(1),
            ..Answer::of("once")
        };
        let (authority, connections) = upstream(closing).await;
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        for _ in 0..5 {
            assert_eq!(text(send(&pool, &authority).await).await, "once");
            idle(&pool, &authority, 1, Conn::closed).await;
        }
        assert_eq!(connections.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_takes_its_connection_with_it() {
        let unfinished = Answer {
            unfinished: true,
            ..Answer::of("half of this never comes")
        };
        let (authority, connections) = upstream(unfinished).await;
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        let res = send(&pool, &authority).await;
        assert_eq!(res.status(), 200);
        drop(res);
        assert!(
            pool.replicas()
                .get(authority.as_str())
                .is_none_or(|r| r.idle.is_empty()),
            "a connection with half a response is not used again"
        );
        let again = send(&pool, &authority).await;
        assert_eq!(again.status(), 200);
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        let Err(err) = pool.send(&Scheme::HTTP, &authority, get("/")).await else {
            panic!("a response from nothing");
        };
        assert!(matches!(err, SendError::Connect(..)), "{err}");
    }

    #[tokio::test]
    async fn an_https_replica_is_refused_not_sent_cleartext() {
        let (authority, connections) = upstream(Answer::of("secret")).await;
        let pool = Pool::new(Duration::from_secs(1), IDLE_FOR);
        let Err(err) = pool.send(&Scheme::HTTPS, &authority, get("/")).await else {
            panic!("sent over cleartext");
        };
        assert!(matches!(err, SendError::Connect(..)), "{err}");
        assert_eq!(connections.load(Ordering::SeqCst), 0);
    }
}
