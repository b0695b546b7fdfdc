//! The server side of a connection, for a service with a [`Front`](crate::service::Front)
//! (the gateway): each request read and answered on the connection's own task.
//!
//! Counted by callgrind, hyper's server dispatch was some 10,700 instructions of the
//! gateway's 34,500 per forwarded request (docs/benchmarks.md): its message state machine,
//! a channel-backed body, and a request and response rebuilt from its own types. Here the
//! head is parsed by `httparse` into the `HeaderMap` the handler gets, with values shared
//! from the one buffer the head was read into, and the answer's head and a body that is
//! ready go out in one `send`.
//!
//! The request body is read whole before the request is handled, within the body limit and
//! the request's time: the front reads every body whole anyway, to be able to send it
//! again. A body too large, too slow or malformed is still handed to the handler, as the
//! problem to answer with, so that it gets the standard treatment (request id, metrics).
//!
//! What is kept of hyper's behaviour: a head must arrive within the idle timeout of the
//! connection opening or of the previous answer; requests on a connection are answered in
//! turn (pipelining); a handler is dropped when its client hangs up; a stopping server
//! ends each connection after the answer in hand, and idle ones at once. A request head
//! that cannot be framed without doubt (both `Content-Length` and `Transfer-Encoding`, a
//! coding other than chunked, lengths that disagree) is refused with a 400 and the
//! connection closed (RFC 9112, section 6.3).

use super::{Decoder, Framers, MAX_HEAD, MAX_HEADERS, READ_AT_LEAST, Step, decimal, read_buf};
use crate::Problem;
use axum::{body::Body, response::IntoResponse};
use bytes::{Bytes, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header,
};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use std::{
    convert::Infallible, future::Future, io, mem::MaybeUninit, pin::Pin, task::Poll, time::Duration,
};
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    sync::watch,
    time::{Instant, timeout_at},
};

/// The most headers added to a request between its parsing and its forwarding.
const ADDED: usize = 8;

/// What a connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The longest wait for a request's whole head, from the connection opening or the
    /// previous answer.
    pub idle_timeout: Duration,
    /// The largest request body read.
    pub body_limit: usize,
    /// The longest a request's body may take to arrive, from the end of its head.
    pub body_timeout: Duration,
}

/// Serves the requests of `io` with `handle` until the client closes, the connection can
/// carry no more, or `closing` fires (then after the answer in hand). `handle` gets each
/// request with its whole body, and the problem to answer with instead when the body could
/// not be read.
pub async fn serve<F, Fut>(
    io: TcpStream,
    settings: Settings,
    mut closing: watch::Receiver<()>,
    mut handle: F,
) where
    F: FnMut(Request<Bytes>, Option<Problem>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Infallible>>,
{
    let mut conn = Conn {
        io,
        buf: BytesMut::with_capacity(READ_AT_LEAST),
        out: Vec::with_capacity(READ_AT_LEAST),
    };
    // Where each request's handler runs, made once per connection: a handler's future is
    // large, and each move of it is a copy.
    let mut in_flight: Pin<Box<Option<Fut>>> = Box::pin(None);
    loop {
        let head = match conn.read_head(settings.idle_timeout, &mut closing).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(refused) => {
                let answer = refused.into_response();
                let _ = conn
                    .respond(answer, &Method::GET, Version::HTTP_11, false)
                    .await;
                conn.linger().await;
                return;
            }
        };
        let Head {
            request,
            decoder,
            keep_alive,
        } = head;
        let (request, refused) = match decoder {
            None => (request.map(|()| Bytes::new()), None),
            Some(decoder) => match conn.read_body(&request, decoder, settings).await {
                Ok(body) => (request.map(|()| body), None),
                Err(BodyFailure::Gone) => return,
                Err(BodyFailure::Refused(problem)) => {
                    (request.map(|()| Bytes::new()), Some(problem))
                }
            },
        };
        let unread = refused.is_some();
        let method = request.method().clone();
        let version = request.version();
        in_flight.set(Some(handle(request, refused)));
        let Some(answer) = conn.answer(in_flight.as_mut()).await else {
            // The client hung up: its handler is dropped with the connection.
            return;
        };
        in_flight.set(None);
        let stopping = !matches!(closing.has_changed(), Ok(false));
        let kept = conn
            .respond(answer, &method, version, keep_alive && !unread && !stopping)
            .await;
        if unread {
            conn.linger().await;
        }
        if !matches!(kept, Ok(true)) {
            return;
        }
    }
}

/// A request's head, parsed, and how its body is framed (`None`: it has none).
struct Head {
    request: Request<()>,
    decoder: Option<Decoder>,
    keep_alive: bool,
}

/// A head refused before it could become a request: answered, and the connection closed.
enum Refused {
    Malformed(&'static str),
    TargetTooLong,
    HeadTooLarge(&'static str),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response<Body> {
        match self {
            Refused::Malformed(why) => Problem::bad_request(format!("malformed request: {why}")),
            Refused::TargetTooLong => Problem::new(
                StatusCode::URI_TOO_LONG,
                "uri-too-long",
                "URI too long",
                format!("the request line is longer than {MAX_HEAD} bytes"),
            ),
            Refused::HeadTooLarge(why) => Problem::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
                "Request header fields too large",
                why,
            ),
        }
        .into_response()
    }
}

/// Why a request's body was not read.
enum BodyFailure {
    /// The client went away, or the connection failed.
    Gone,
    /// The answer to give instead of handling the request.
    Refused(Problem),
}

struct Conn {
    io: TcpStream,
    /// What was read and not yet used: the start of the next request, if anything.
    buf: BytesMut,
    /// The answer being written, reused from one answer to the next.
    out: Vec<u8>,
}

impl Conn {
    /// The next request's head: `None` when the client closed, was idle too long, or the
    /// server is stopping and no request has begun.
    async fn read_head(
        &mut self,
        idle_timeout: Duration,
        closing: &mut watch::Receiver<()>,
    ) -> Result<Option<Head>, Refused> {
        let deadline = Instant::now() + idle_timeout;
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = parse_head(&mut self.buf)? {
                    return Ok(Some(head));
                }
            } else if !matches!(closing.has_changed(), Ok(false)) {
                return Ok(None);
            }
            self.buf.reserve(READ_AT_LEAST);
            let read = if self.buf.is_empty() {
                tokio::select! {
                    biased;
                    read = timeout_at(deadline, read_buf(&mut self.io, &mut self.buf)) => read,
                    _ = closing.changed() => return Ok(None),
                }
            } else {
                timeout_at(deadline, read_buf(&mut self.io, &mut self.buf)).await
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                // Closed, failed or idle too long: the connection ends without an answer.
                _ => return Ok(None),
            }
        }
    }

    /// Reads the body `decoder` frames, whole, within `settings`' limit and time.
    async fn read_body(
        &mut self,
        request: &Request<()>,
        mut decoder: Decoder,
        settings: Settings,
    ) -> Result<Bytes, BodyFailure> {
        let limit = settings.body_limit;
        if let Decoder::Length(n) = decoder {
            if n > limit as u64 {
                return Err(BodyFailure::Refused(Problem::too_large(limit)));
            }
            // The body at hand whole: one piece of the buffer, not a copy.
            if self.buf.len() as u64 >= n {
                return Ok(self.buf.split_to(n as usize).freeze());
            }
        }
        if expects_continue(request) {
            self.io
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| BodyFailure::Gone)?;
        }
        let deadline = Instant::now() + settings.body_timeout;
        let mut body = BytesMut::new();
        loop {
            match decoder.decode(&mut self.buf) {
                Ok(Step::Data(data)) => {
                    if body.len() + data.len() > limit {
                        return Err(BodyFailure::Refused(Problem::too_large(limit)));
                    }
                    body.extend_from_slice(&data);
                    continue;
                }
                Ok(Step::End) => return Ok(body.freeze()),
                Ok(Step::More) => {}
                Err(why) => {
                    return Err(BodyFailure::Refused(Problem::bad_request(format!(
                        "the request body is malformed: {why}"
                    ))));
                }
            }
            self.buf.reserve(READ_AT_LEAST);
            match timeout_at(deadline, read_buf(&mut self.io, &mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Err(BodyFailure::Gone),
                Err(_) => return Err(BodyFailure::Refused(Problem::body_too_slow())),
            }
        }
    }

    /// The handler's answer, or `None` if the client closed the connection first. What
    /// the client sends meanwhile (its next request) is kept for later.
    async fn answer<Fut>(&mut self, mut handled: Pin<&mut Option<Fut>>) -> Option<Response<Body>>
    where
        Fut: Future<Output = Result<Response<Body>, Infallible>>,
    {
        let mut watching = true;
        loop {
            let handled = std::future::poll_fn(|cx| match handled.as_mut().as_pin_mut() {
                Some(fut) => fut.poll(cx),
                None => Poll::Pending,
            });
            tokio::select! {
                biased;
                answer = handled => return match answer {
                    Ok(answer) => Some(answer),
                    Err(never) => match never {},
                },
                ready = self.io.readable(), if watching => {
                    if ready.is_err() {
                        return None;
                    }
                    self.buf.reserve(READ_AT_LEAST);
                    match self.io.try_read_buf(&mut self.buf) {
                        Ok(0) => return None,
                        // A request sent ahead is kept, up to one head's worth.
                        Ok(_) => watching = self.buf.len() <= MAX_HEAD,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return None,
                    }
                }
            }
        }
    }

    /// Writes `answer` to a request of `method` and `version`, framed for this connection;
    /// whether the connection can carry another request after it (`keep_alive`: as far as
    /// the request and the server are concerned).
    async fn respond(
        &mut self,
        answer: Response<Body>,
        method: &Method,
        version: Version,
        mut keep_alive: bool,
    ) -> io::Result<bool> {
        let (parts, mut body) = answer.into_parts();
        keep_alive &= !lists_close(&parts.headers);
        let framing = if *method == Method::HEAD
            || parts.status.is_informational()
            || parts.status == StatusCode::NO_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED
        {
            // The answer to a HEAD says the length a GET's would have, when it is known.
            let length = body.size_hint().exact();
            if *method == Method::HEAD && !parts.headers.contains_key(header::CONTENT_LENGTH) {
                Framing::Head(length)
            } else {
                Framing::None
            }
        } else {
            match body.size_hint().exact() {
                Some(n) => Framing::Length(n),
                None if version == Version::HTTP_11 => Framing::Chunked,
                None => Framing::UntilClose,
            }
        };
        keep_alive &= !matches!(framing, Framing::UntilClose);
        let out = &mut self.out;
        out.clear();
        write_head(out, &parts, framing, keep_alive, method, version);
        match framing {
            Framing::None | Framing::Head(_) => {
                self.io.write_all(out).await?;
                Ok(keep_alive)
            }
            Framing::Length(n) => {
                let mut left = n;
                loop {
                    let data = match next_data(&mut body, &mut self.io, out).await? {
                        Next::Data(data) => data,
                        Next::End => break,
                        Next::Failed => {
                            self.io.write_all(out).await?;
                            return Ok(false);
                        }
                    };
                    if data.len() as u64 > left {
                        // A body longer than it said: what it said is sent, and the
                        // connection ends with it.
                        out.extend_from_slice(&data[..left as usize]);
                        self.io.write_all(out).await?;
                        return Ok(false);
                    }
                    left -= data.len() as u64;
                    out.extend_from_slice(&data);
                }
                self.io.write_all(out).await?;
                // A body that ended short leaves the client waiting for the rest: only
                // closing tells it.
                Ok(keep_alive && left == 0)
            }
            Framing::Chunked => loop {
                match next_data(&mut body, &mut self.io, out).await? {
                    Next::Data(data) => {
                        if data.is_empty() {
                            continue;
                        }
                        write_chunk_size(out, data.len());
                        out.extend_from_slice(&data);
                        out.extend_from_slice(b"\r\n");
                    }
                    Next::End => {
                        out.extend_from_slice(b"0\r\n\r\n");
                        self.io.write_all(out).await?;
                        return Ok(keep_alive);
                    }
                    // The body failed: no last chunk, so the client sees it cut short.
                    Next::Failed => {
                        self.io.write_all(out).await?;
                        return Ok(false);
                    }
                }
            },
            Framing::UntilClose => loop {
                match next_data(&mut body, &mut self.io, out).await? {
                    Next::Data(data) => out.extend_from_slice(&data),
                    Next::End | Next::Failed => {
                        self.io.write_all(out).await?;
                        return Ok(false);
                    }
                }
            },
        }
    }

    /// Closes after an answer given without reading the whole request: the write side
    /// first, then what the client still sends is read and dropped for a moment, so that
    /// closing with it unread does not reset the connection and lose the answer.
    async fn linger(&mut self) {
        if self.io.shutdown().await.is_err() {
            return;
        }
        let until = Instant::now() + Duration::from_secs(1);
        let mut drained = 0;
        while drained < 1 << 20 {
            self.buf.clear();
            self.buf.reserve(READ_AT_LEAST);
            match timeout_at(until, read_buf(&mut self.io, &mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => return,
            }
        }
    }
}

/// How an answer's body goes on the wire.
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    /// No body, but the length a GET's answer would have.
    Head(Option<u64>),
    Length(u64),
    Chunked,
    /// To an HTTP/1.0 client, a body of unknown length ends with the connection.
    UntilClose,
}

/// What came of a body next.
enum Next {
    Data(Bytes),
    End,
    Failed,
}

/// The next piece of `body`'s data (trailers are dropped). When none is ready, what `out` holds is sent first: an answer that trickles
/// (an event stream) reaches its client as it goes, and one that is ready goes in one
/// `send`.
async fn next_data(body: &mut Body, io: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<Next> {
    loop {
        let polled =
            std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx))).await;
        let frame = match polled {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if !out.is_empty() {
                    io.write_all(out).await?;
                    out.clear();
                }
                body.frame().await
            }
        };
        match frame {
            None => return Ok(Next::End),
            Some(Err(_)) => return Ok(Next::Failed),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Next::Data(data));
                }
            }
        }
    }
}

/// The request's head at the start of `buf`, taken out of it, if it is whole.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, Refused> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
        // No line end in a head's worth: the request line alone is too long.
        Ok(_) if !buf[..MAX_HEAD].windows(2).any(|w| w == b"\r\n") => {
            return Err(Refused::TargetTooLong);
        }
        Ok(_) => {
            return Err(Refused::HeadTooLarge(
                "the request's headers are larger than 64 KiB",
            ));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refused::HeadTooLarge(
                "the request has more than 100 headers",
            ));
        }
        Err(_) => return Err(Refused::Malformed("not an HTTP/1 request")),
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Refused::Malformed("an invalid method"))?;
    let http11 = req.version == Some(1);
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let target = at(req.path.unwrap_or_default().as_bytes());
    let spans: Vec<_> = req
        .headers
        .iter()
        .map(|h| (at(h.name.as_bytes()), at(h.value)))
        .collect();
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target))
        .map_err(|_| Refused::Malformed("an invalid request target"))?;
    // Room for what is added on the way (a request id; the gateway's `X-Forwarded-*` and
    // `traceparent`), so that the map is not grown (and rehashed) for them.
    let mut headers = HeaderMap::with_capacity(spans.len() + ADDED);
    let mut framers = Framers::default();
    for (name, value) in spans {
        let name = HeaderName::from_bytes(&head[name])
            .map_err(|_| Refused::Malformed("an invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value))
            .map_err(|_| Refused::Malformed("an invalid header value"))?;
        framers.note(&name, &value);
        headers.append(name, value);
    }
    let decoder = if framers.coded {
        if !http11 {
            return Err(Refused::Malformed(
                "a transfer coding in an HTTP/1.0 request",
            ));
        }
        if !framers.chunked_last {
            return Err(Refused::Malformed("a transfer coding that is not chunked"));
        }
        if framers.length.is_some() || framers.bad_length.is_some() {
            return Err(Refused::Malformed(
                "both a Content-Length and a Transfer-Encoding",
            ));
        }
        Some(Decoder::CHUNKED)
    } else if let Some(why) = framers.bad_length {
        return Err(Refused::Malformed(why));
    } else {
        framers.length.filter(|n| *n > 0).map(Decoder::Length)
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *request.headers_mut() = headers;
    Ok(Some(Head {
        request,
        decoder,
        keep_alive: framers.keep_alive(http11),
    }))
}

/// Whether the client waits for a `100 Continue` before it sends the body.
fn expects_continue(request: &Request<()>) -> bool {
    request.version() == Version::HTTP_11
        && request
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Whether a `Connection` header of the answer lists `close`.
fn lists_close(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|o| o.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// The status line and headers of an answer framed as `framing`, with `Connection` and
/// `Date` as this connection needs them. The answer's own framing headers are replaced,
/// but a `Content-Length` on the answer to a HEAD, which tells what a GET would get.
fn write_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    framing: Framing,
    keep_alive: bool,
    method: &Method,
    version: Version,
) {
    let (status, headers) = (parts.status, &parts.headers);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    for (name, value) in headers.iter() {
        if name == header::CONNECTION
            || name == header::TRANSFER_ENCODING
            || (name == header::CONTENT_LENGTH && *method != Method::HEAD)
        {
            continue;
        }
        dated |= name == header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) | Framing::Head(Some(n)) => {
            out.extend_from_slice(b"content-length: ");
            decimal(n as usize, out);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None | Framing::Head(None) | Framing::UntilClose => {}
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        date::now(|text| out.extend_from_slice(text));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A chunk's size line: hex digits and CRLF.
fn write_chunk_size(out: &mut Vec<u8>, size: usize) {
    let digits = format!("{size:x}");
    out.extend_from_slice(digits.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The `Date` of answers, formatted once a second per thread.
mod date {
    use std::{
        cell::RefCell,
        time::{SystemTime, UNIX_EPOCH},
    };

    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }

    /// Calls `with` with the current date as an HTTP date.
    pub fn now(with: impl FnOnce(&[u8])) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with_borrow_mut(|(at, text)| {
            if *at != second || text.is_empty() {
                *at = second;
                *text = httpdate::fmt_http_date(now);
            }
            with(text.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    use tokio::{io::AsyncReadExt, net::TcpListener, sync::watch};

    const SETTINGS: Settings = Settings {
        idle_timeout: Duration::from_secs(5),
        body_limit: 64,
        body_timeout: Duration::from_millis(300),
    };

    /// A server on one connection: it answers `METHOD PATH BODY` (or the refusal), and
    /// streams, waits or says nothing on some paths. Returns the client's end, the
    /// closing trigger and the flag of a dropped handler.
    async fn connect(settings: Settings) -> (TcpStream, watch::Sender<()>, Arc<AtomicBool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (closing, asked) = watch::channel(());
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        tokio::spawn(async move {
            let (io, _) = listener.accept().await.unwrap();
            serve(
                io,
                settings,
                asked,
                move |req: Request<Bytes>, refused: Option<Problem>| {
                    let flag = flag.clone();
                    async move {
                        if let Some(problem) = refused {
                            return Ok(problem.into_response());
                        }
                        let echo = format!(
                            "{} {} {}",
                            req.method(),
                            req.uri(),
                            String::from_utf8_lossy(req.body())
                        );
                        Ok(match req.uri().path() {
                            "/empty" => StatusCode::NO_CONTENT.into_response(),
                            "/slow" => {
                                struct Guard(Arc<AtomicBool>, bool);
                                impl Drop for Guard {
                                    fn drop(&mut self) {
                                        if !self.1 {
                                            self.0.store(true, Ordering::SeqCst);
                                        }
                                    }
                                }
                                let mut guard = Guard(flag, false);
                                tokio::time::sleep(Duration::from_millis(300)).await;
                                guard.1 = true;
                                echo.into_response()
                            }
                            "/stream" => {
                                let (tx, rx) =
                                    tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
                                tokio::spawn(async move {
                                    for piece in ["one;", "two;"] {
                                        tx.send(Ok(Bytes::from(piece))).await.unwrap();
                                        tokio::time::sleep(Duration::from_millis(150)).await;
                                    }
                                });
                                let stream =
                                    futures_util::stream::unfold(rx, |mut rx| async move {
                                        rx.recv().await.map(|item| (item, rx))
                                    });
                                Body::from_stream(stream).into_response()
                            }
                            _ => echo.into_response(),
                        })
                    }
                },
            )
            .await;
        });
        let client = TcpStream::connect(addr).await.unwrap();
        (client, closing, dropped)
    }

    /// One answer off `client`: its head (lower-cased) and body, framed by its
    /// `content-length` or chunks, or read to the close.
    async fn answer(client: &mut TcpStream, got: &mut Vec<u8>) -> Option<(String, String)> {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                let rest = got[end + 4..].to_vec();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map(|n| n.parse::<usize>().unwrap());
                let chunked = head.contains("transfer-encoding: chunked");
                let no_body = head.starts_with("http/1.1 204") || head.starts_with("http/1.1 100");
                let (body, used) = if no_body {
                    (Vec::new(), 0)
                } else if let Some(n) = length {
                    if rest.len() < n {
                        read_more(client, got).await?;
                        continue;
                    }
                    (rest[..n].to_vec(), n)
                } else if chunked {
                    let mut buf = BytesMut::from(&rest[..]);
                    let mut decoder = Decoder::CHUNKED;
                    let mut body = Vec::new();
                    let done = loop {
                        match decoder.decode(&mut buf).unwrap() {
                            Step::Data(d) => body.extend_from_slice(&d),
                            Step::End => break true,
                            Step::More => break false,
                        }
                    };
                    if !done {
                        read_more(client, got).await?;
                        continue;
                    }
                    (body, rest.len() - buf.len())
                } else {
                    let mut all = rest.clone();
                    client.read_to_end(&mut all).await.ok()?;
                    got.clear();
                    return Some((head, String::from_utf8_lossy(&all).into_owned()));
                };
                got.drain(..end + 4 + used);
                return Some((head, String::from_utf8_lossy(&body).into_owned()));
            }
            read_more(client, got).await?;
        }
    }

    async fn read_more(client: &mut TcpStream, got: &mut Vec<u8>) -> Option<()> {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .expect("an answer in time")
            .ok()?;
        (n > 0).then(|| got.extend_from_slice(&buf[..n]))
    }

    /// Whether the server closed the connection (nothing more to read).
    async fn closed(client: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    #[tokio::test]
    async fn requests_sent_ahead_are_answered_in_turn_on_one_connection() {
        let (mut client, _closing, _) = connect(SETTINGS).await;
        client
            .write_all(
                b"GET /a?x=1 HTTP/1.1\r\nhost: h\r\n\r\n\
                  POST /b HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nhello\
                  POST /c HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n6;x=y\r\nhello \r\n5\r\nworld\r\n0\r\ntrailer: t\r\n\r\n",
            )
            .await
            .unwrap();
        let mut got = Vec::new();
        for expected in ["GET /a?x=1 ", "POST /b hello", "POST /c hello world"] {
            let (head, body) = answer(&mut client, &mut got).await.unwrap();
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
            assert!(head.contains("\r\ndate: "), "{head}");
            assert!(!head.contains("connection: close"), "{head}");
            assert_eq!(body, expected);
        }
        // Still open for another.
        client
            .write_all(b"GET /d HTTP/1.1\r\nhost: h\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(answer(&mut client, &mut got).await.unwrap().1, "GET /d ");
    }

    #[tokio::test]
    async fn heads_that_cannot_be_framed_without_doubt_are_refused_and_the_connection_closed() {
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD + 10));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "x-a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        let big = format!("GET / HTTP/1.1\r\nx-big: {}\r\n", "b".repeat(MAX_HEAD));
        let cases: Vec<(String, &str)> = vec![
            (
                "POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n".into(),
                "400",
            ),
            (
                "POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n".into(),
                "400",
            ),
            (
                "POST / HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n".into(),
                "400",
            ),
            (
                "POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n".into(),
                "400",
            ),
            (
                "POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd".into(),
                "400",
            ),
            (
                "POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n".into(),
                "400",
            ),
            ("GET / HTTP/1.1\r\nbad header\r\n\r\n".into(), "400"),
            ("G(T / HTTP/1.1\r\n\r\n".into(), "400"),
            (long_target, "414"),
            (many, "431"),
            (big, "431"),
        ];
        for (request, status) in cases {
            let (mut client, _closing, _) = connect(SETTINGS).await;
            client.write_all(request.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            let (head, body) = answer(&mut client, &mut got).await.unwrap();
            let what = &request[..request.len().min(60)];
            assert!(
                head.starts_with(&format!("http/1.1 {status} ")),
                "{what}: {head}"
            );
            assert!(
                head.contains("content-type: application/problem+json"),
                "{what}: {head}"
            );
            assert!(head.contains("connection: close"), "{what}: {head}");
            assert!(body.contains("\"status\":"), "{what}: {body}");
            assert!(
                closed(&mut client).await,
                "{what}: the connection stays open"
            );
        }
    }

    #[tokio::test]
    async fn bodies_too_large_or_too_slow_or_malformed_are_answered_with_their_problem() {
        let cases: [(&[u8], &str); 4] = [
            (b"POST / HTTP/1.1\r\ncontent-length: 65\r\n\r\n", "413"),
            (
                b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n40\r\n",
                "413",
            ),
            (b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc", "408"),
            (
                b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "400",
            ),
        ];
        for (request, status) in cases {
            let (mut client, _closing, _) = connect(SETTINGS).await;
            client.write_all(request).await.unwrap();
            if status == "413" && request.ends_with(b"40\r\n") {
                client.write_all(&[b'x'; 0x40]).await.unwrap();
                client.write_all(b"\r\n1\r\nx\r\n0\r\n\r\n").await.unwrap();
            }
            let mut got = Vec::new();
            let (head, body) = answer(&mut client, &mut got).await.unwrap();
            assert!(head.starts_with(&format!("http/1.1 {status} ")), "{head}");
            assert!(head.contains("connection: close"), "{head}");
            assert!(body.contains(&format!("\"status\":{status}")), "{body}");
            assert!(closed(&mut client).await);
        }
    }

    #[tokio::test]
    async fn a_client_that_expects_100_continue_is_told_to_go_on() {
        let (mut client, _closing, _) = connect(SETTINGS).await;
        client
            .write_all(b"PUT /x HTTP/1.1\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let (interim, _) = answer(&mut client, &mut got).await.unwrap();
        assert_eq!(interim, "http/1.1 100 continue");
        client.write_all(b"data").await.unwrap();
        assert_eq!(
            answer(&mut client, &mut got).await.unwrap().1,
            "PUT /x data"
        );
    }

    #[tokio::test]
    async fn http_1_0_closes_unless_kept_alive_and_streams_until_close() {
        let (mut client, _closing, _) = connect(SETTINGS).await;
        client
            .write_all(b"GET /a HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let (head, body) = answer(&mut client, &mut got).await.unwrap();
        assert!(head.contains("connection: keep-alive"), "{head}");
        assert_eq!(body, "GET /a ");
        client
            .write_all(b"GET /stream HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = answer(&mut client, &mut got).await.unwrap();
        assert!(
            head.contains("connection: close") && !head.contains("chunked"),
            "{head}"
        );
        assert_eq!(body, "one;two;");

        let (mut client, _closing, _) = connect(SETTINGS).await;
        client.write_all(b"GET /a HTTP/1.0\r\n\r\n").await.unwrap();
        let (head, _) = answer(&mut client, &mut Vec::new()).await.unwrap();
        assert!(head.contains("connection: close"), "{head}");
        assert!(closed(&mut client).await);
    }

    #[tokio::test]
    async fn answers_without_a_body_and_streamed_ones_are_framed_as_such() {
        let (mut client, _closing, _) = connect(SETTINGS).await;
        let mut got = Vec::new();
        client.write_all(b"HEAD /a HTTP/1.1\r\n\r\n").await.unwrap();
        while !got.ends_with(b"\r\n\r\n") {
            read_more(&mut client, &mut got).await.unwrap();
        }
        let head = String::from_utf8_lossy(&got).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            head.contains("content-length: 8\r\n"),
            "a GET's length: {head}"
        );
        // No body follows the HEAD's head: the next answer comes right after it.
        got.clear();
        client
            .write_all(b"GET /empty HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let (head, _) = answer(&mut client, &mut got).await.unwrap();
        assert!(head.starts_with("http/1.1 204"), "{head}");
        assert!(
            !head.contains("content-length") && !head.contains("transfer-encoding"),
            "{head}"
        );
        // A stream goes chunked, each piece as it comes: the first before the second.
        client
            .write_all(b"GET /stream HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        while !String::from_utf8_lossy(&got).contains("one;") {
            read_more(&mut client, &mut got).await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_millis(140),
            "the first piece waited"
        );
        let (head, body) = answer(&mut client, &mut got).await.unwrap();
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        assert_eq!(body, "one;two;");
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_has_its_handler_dropped() {
        let (mut client, _closing, dropped) = connect(SETTINGS).await;
        client
            .write_all(b"GET /slow HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(client);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "the handler ran on for nobody"
        );
    }

    #[tokio::test]
    async fn stopping_ends_idle_connections_at_once_and_busy_ones_after_their_answer() {
        let (mut idle, closing, _) = connect(SETTINGS).await;
        idle.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        answer(&mut idle, &mut Vec::new()).await.unwrap();
        closing.send(()).unwrap();
        assert!(closed(&mut idle).await);

        let (mut busy, closing, _) = connect(SETTINGS).await;
        busy.write_all(b"GET /slow HTTP/1.1\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        closing.send(()).unwrap();
        let (head, body) = answer(&mut busy, &mut Vec::new()).await.unwrap();
        assert!(head.contains("connection: close"), "{head}");
        assert_eq!(body, "GET /slow ");
        assert!(closed(&mut busy).await);
    }

    #[tokio::test]
    async fn a_connection_silent_past_the_idle_timeout_is_closed() {
        let settings = Settings {
            idle_timeout: Duration::from_millis(200),
            ..SETTINGS
        };
        let (mut client, _closing, _) = connect(settings).await;
        client.write_all(b"GET /a HTTP/1.1\r\n").await.unwrap();
        let started = std::time::Instant::now();
        assert!(closed(&mut client).await);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
