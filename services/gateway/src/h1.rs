//! HTTP/1.1 to an upstream, spoken on the task that forwards the request.
//!
//! hyper's client runs each connection as a task of its own: a request goes to it through
//! a channel, its head comes back through another, and its body through a third, each
//! hand-over a wake-up and a poll. Counted by callgrind, that connection task was 30% of
//! the gateway's instructions per forwarded request, and parsing an answer's head into
//! hyper's structures 4,900 of them (docs/benchmarks.md). Here the request's own task
//! writes the request and reads the answer: one `send` and (for the usual small answer)
//! one `recv`, the head parsed by `httparse` straight into the `HeaderMap` the gateway
//! forwards, and a body that arrived with its head handed on as one piece.
//!
//! The gateway's request bodies are read whole before they are forwarded, so a request is
//! always sent with a `Content-Length`. Answers are framed as RFC 9112 (section 6.3) says,
//! and whatever cannot be framed without doubt is an error, never a guess: a message that
//! is read wrongly would make the next answer on the connection someone else's.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Frame, SizeHint};
use std::future::Future as _;
use std::{
    io,
    mem::MaybeUninit,
    pin::Pin,
    task::{Context, Poll, Waker},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The most an answer's head may take, status line and headers.
const MAX_HEAD: usize = 64 * 1024;
/// The most headers an answer may have.
const MAX_HEADERS: usize = 100;
/// Room made in the read buffer before each read.
const READ_AT_LEAST: usize = 8 * 1024;
/// The most a chunk's size line (with its extensions) or a trailer line may take.
const MAX_LINE: usize = 4 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The upstream closed the connection before a byte of the answer.
    #[error("the upstream closed the connection without an answer")]
    Closed,
    /// The answer is not HTTP/1 the gateway can forward.
    #[error("the upstream's answer is malformed: {0}")]
    Malformed(&'static str),
}

/// One connection to an upstream, between exchanges: nothing is owed on it.
pub struct Conn {
    io: TcpStream,
    /// What was read and not yet used; empty between exchanges.
    buf: BytesMut,
}

/// An exchange that failed, and whether the request may have reached the upstream.
pub struct Failure {
    pub error: Error,
    /// Nothing of the request was taken by the upstream: it can go on another connection.
    pub unsent: bool,
}

impl Conn {
    pub fn new(io: TcpStream) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Whether the upstream closed this idle connection (or sent something unasked, which
    /// makes it unusable as well), as far as is known without waiting: a readiness the
    /// runtime saw, then one read to tell which. An open, quiet connection costs no
    /// system call.
    pub fn closed(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut byte = [0u8; 1];
                !matches!(self.io.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Sends `request` (origin-form target; `host` as its `Host`) and reads the answer's
    /// head. The body comes with the response; when it has been read to its end, a
    /// connection that can carry another exchange is handed to `reuse`.
    pub async fn exchange<R: Reuse>(
        mut self,
        request: &Request<Bytes>,
        host: &HeaderValue,
        reuse: R,
    ) -> Result<Response<Body<R>>, Failure> {
        let message = encode(request, host);
        if let Err(e) = self.io.write_all(&message).await {
            // Refused as it was written: the upstream had closed this connection, and a
            // closed socket processes nothing.
            return Err(Failure {
                error: e.into(),
                unsent: true,
            });
        }
        let sent = |error| Failure {
            error,
            unsent: false,
        };
        let (parts, framing) = self.read_head(request.method()).await.map_err(sent)?;
        let body = match framing.length {
            Length::Empty => {
                if framing.reusable {
                    reuse.reuse(self);
                }
                Body::done()
            }
            Length::Exactly(n) if self.buf.len() as u64 >= n => {
                let whole = self.buf.split_to(n as usize).freeze();
                // Anything after the body is something no request asked for.
                if framing.reusable && self.buf.is_empty() {
                    reuse.reuse(self);
                }
                Body::whole(whole)
            }
            Length::Exactly(n) => Body::streaming(self, Decoder::Length(n), framing, reuse),
            Length::Chunked => Body::streaming(self, Decoder::Chunked(Chunk::Size), framing, reuse),
            Length::UntilClose => Body::streaming(self, Decoder::UntilClose, framing, reuse),
        };
        Ok(Response::from_parts(parts, body))
    }

    /// Reads until a final answer's head is complete (1xx answers are passed over), and
    /// returns it with how its body is framed.
    async fn read_head(
        &mut self,
        method: &Method,
    ) -> Result<(http::response::Parts, Framing), Error> {
        let mut read_any = false;
        loop {
            if !self.buf.is_empty() {
                match self.parse_head(method)? {
                    Some(Head::Final(parts, framing)) => return Ok((parts, framing)),
                    Some(Head::Interim) => continue,
                    None => {}
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(Error::Malformed("the head is too large"));
                }
            }
            self.buf.reserve(READ_AT_LEAST);
            let n = read_buf(&mut self.io, &mut self.buf).await?;
            if n == 0 {
                return Err(if read_any {
                    Error::Malformed("the connection closed in the middle of the head")
                } else {
                    Error::Closed
                });
            }
            read_any = true;
        }
    }

    /// The head at the start of the buffer, taken out of it, if it is complete.
    fn parse_head(&mut self, method: &Method) -> Result<Option<Head>, Error> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut res, &self.buf, &mut slots);
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
            Ok(httparse::Status::Complete(_)) => {
                return Err(Error::Malformed("the head is too large"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Error::Malformed("too many headers"));
            }
            Err(_) => return Err(Error::Malformed("not an HTTP/1 answer")),
        };
        let status = res
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(Error::Malformed("no valid status"))?;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(Error::Malformed("a protocol switch is not forwarded"));
        }
        let http11 = res.version == Some(1);
        // Where each name and value lies in the head, so that the head can become one
        // shared buffer that the values point into, not a copy each.
        let base = self.buf.as_ptr() as usize;
        let spans: Vec<(usize, usize, usize, usize)> = res
            .headers
            .iter()
            .map(|h| {
                let name = h.name.as_ptr() as usize - base;
                let value = h.value.as_ptr() as usize - base;
                (name, name + h.name.len(), value, value + h.value.len())
            })
            .collect();
        let head = self.buf.split_to(len).freeze();
        if status.is_informational() {
            return Ok(Some(Head::Interim));
        }
        let mut headers = HeaderMap::with_capacity(spans.len());
        let mut framers = Framers::default();
        for (ns, ne, vs, ve) in spans {
            let name = HeaderName::from_bytes(&head[ns..ne])
                .map_err(|_| Error::Malformed("an invalid header name"))?;
            let value = HeaderValue::from_maybe_shared(head.slice(vs..ve))
                .map_err(|_| Error::Malformed("an invalid header value"))?;
            framers.note(&name, &value);
            headers.append(name, value);
        }
        let framing = Framing::of(method, status, http11, &framers, &mut headers)?;
        let mut parts = Response::new(()).into_parts().0;
        parts.status = status;
        parts.headers = headers;
        Ok(Some(Head::Final(parts, framing)))
    }
}

/// An answer's head, parsed.
enum Head {
    /// A 1xx answer, passed over: the final one follows on the connection.
    Interim,
    Final(http::response::Parts, Framing),
}

/// Reads what the socket has into `buf`'s spare room (at least one byte of room).
async fn read_buf(io: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_buf(io, buf, cx)).await
}

/// One read into `buf`'s spare room, through `AsyncRead`, which knows that a read that
/// did not fill the room leaves nothing to read, and so asks the socket no second time.
fn poll_read_buf(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    // The future only reads, and holds nothing between polls.
    std::pin::pin!(io.read_buf(buf)).poll(cx)
}

/// `request` as it goes on the wire: request line, `Host`, the headers but those that
/// frame a body, its `Content-Length`, and the body, in one buffer (one `send`).
fn encode(request: &Request<Bytes>, host: &HeaderValue) -> Vec<u8> {
    let body = request.body();
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in request.headers() {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let method = request.method();
    if !body.is_empty()
        || *method == Method::POST
        || *method == Method::PUT
        || *method == Method::PATCH
    {
        out.extend_from_slice(b"content-length: ");
        decimal(body.len(), &mut out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// `n` in decimal digits, written without `fmt`.
fn decimal(mut n: usize, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// How an answer's body is delimited, and whether its connection can carry another
/// exchange after it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Framing {
    length: Length,
    reusable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Length {
    Empty,
    Exactly(u64),
    Chunked,
    UntilClose,
}

impl Framing {
    /// RFC 9112, section 6.3, for the answer to `method` with `status` and `headers`.
    /// `Transfer-Encoding` and a `Content-Length` it overrides are taken out of `headers`:
    /// the gateway's own connection frames the body again.
    fn of(
        method: &Method,
        status: StatusCode,
        http11: bool,
        framers: &Framers,
        headers: &mut HeaderMap,
    ) -> Result<Framing, Error> {
        let keep_alive = if http11 {
            !framers.close
        } else {
            framers.keep_alive
        };
        if *method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(Framing {
                length: Length::Empty,
                reusable: keep_alive,
            });
        }
        if framers.coded {
            if !framers.chunked_last || !http11 {
                return Err(Error::Malformed("a transfer coding that is not chunked"));
            }
            headers.remove(header::TRANSFER_ENCODING);
            // A length beside a transfer coding is overridden by it, and is a sign of an
            // upstream not to trust with another exchange.
            let reusable = keep_alive && headers.remove(header::CONTENT_LENGTH).is_none();
            return Ok(Framing {
                length: Length::Chunked,
                reusable,
            });
        }
        if let Some(why) = framers.bad_length {
            return Err(Error::Malformed(why));
        }
        Ok(match framers.length {
            Some(0) => Framing {
                length: Length::Empty,
                reusable: keep_alive,
            },
            Some(n) => Framing {
                length: Length::Exactly(n),
                reusable: keep_alive,
            },
            None => Framing {
                length: Length::UntilClose,
                reusable: false,
            },
        })
    }
}

/// What an answer's headers say of its framing, noted in the one pass that builds its
/// `HeaderMap` (looking the same headers up again afterwards cost some 560 instructions
/// an answer).
#[derive(Debug, Default)]
struct Framers {
    /// `Connection` lists `close`.
    close: bool,
    /// `Connection` lists `keep-alive`.
    keep_alive: bool,
    /// There is a `Transfer-Encoding`.
    coded: bool,
    /// The last `Transfer-Encoding`'s last coding is `chunked`.
    chunked_last: bool,
    /// The `Content-Length`, all of its values agreeing.
    length: Option<u64>,
    /// What is wrong with the `Content-Length`s, the first thing found.
    bad_length: Option<&'static str>,
}

impl Framers {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
        if *name == header::CONNECTION {
            for option in value
                .as_bytes()
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
            {
                self.close |= option.eq_ignore_ascii_case(b"close");
                self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if *name == header::TRANSFER_ENCODING {
            self.coded = true;
            self.chunked_last = value
                .as_bytes()
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if *name == header::CONTENT_LENGTH {
            for part in value.as_bytes().split(|b| *b == b',') {
                let why = match parse_decimal(part.trim_ascii()) {
                    None => Some("an invalid length"),
                    Some(n) if self.length.is_some_and(|l| l != n) => Some("conflicting lengths"),
                    Some(n) => {
                        self.length = Some(n);
                        None
                    }
                };
                if let Some(why) = why {
                    self.bad_length.get_or_insert(why);
                }
            }
        }
    }
}

/// Digits only, no sign, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// Where a connection goes once its exchange is over and it can carry another.
pub trait Reuse: Send + 'static {
    fn reuse(self, conn: Conn);
}

/// An answer's body: whole when it came with its head, else read from the connection as
/// the gateway's client takes it. Dropped before its end, its connection is closed with
/// it (a connection with an answer half read cannot carry another).
pub struct Body<R> {
    state: State<R>,
}

enum State<R> {
    Whole(Bytes),
    Streaming(Box<Streaming<R>>),
    Done,
}

struct Streaming<R> {
    conn: Conn,
    decoder: Decoder,
    reusable: bool,
    reuse: Option<R>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Decoder {
    /// This many bytes still to come.
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk {
    /// A size line is next.
    Size,
    /// This many bytes of a chunk's data, then its CRLF.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines, to the empty one.
    Trailers,
}

impl<R: Reuse> Body<R> {
    fn done() -> Self {
        Self { state: State::Done }
    }

    fn whole(bytes: Bytes) -> Self {
        Self {
            state: State::Whole(bytes),
        }
    }

    fn streaming(conn: Conn, decoder: Decoder, framing: Framing, reuse: R) -> Self {
        Self {
            state: State::Streaming(Box::new(Streaming {
                conn,
                decoder,
                reusable: framing.reusable,
                reuse: Some(reuse),
            })),
        }
    }
}

impl<R: Reuse> hyper::body::Body for Body<R> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = match &mut self.state {
            State::Done => return Poll::Ready(None),
            State::Whole(bytes) => {
                let bytes = std::mem::take(bytes);
                self.state = State::Done;
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            State::Streaming(streaming) => streaming.poll_data(cx),
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(data))) => {
                // A body of known length is over with its last byte: its connection goes
                // back now, not at the next poll.
                if let State::Streaming(streaming) = &self.state
                    && streaming.decoder == Decoder::Length(0)
                    && let State::Streaming(streaming) =
                        std::mem::replace(&mut self.state, State::Done)
                {
                    (*streaming).finish();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Ok(None)) => {
                if let State::Streaming(streaming) = std::mem::replace(&mut self.state, State::Done)
                {
                    (*streaming).finish();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                self.state = State::Done;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done => SizeHint::with_exact(0),
            State::Whole(bytes) => SizeHint::with_exact(bytes.len() as u64),
            State::Streaming(s) => match s.decoder {
                Decoder::Length(n) => SizeHint::with_exact(n),
                _ => SizeHint::default(),
            },
        }
    }
}

impl<R: Reuse> Streaming<R> {
    /// The next piece of the body (`None` at its end).
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        loop {
            match self.decode()? {
                Step::Data(data) => return Poll::Ready(Ok(Some(data))),
                Step::End => return Poll::Ready(Ok(None)),
                Step::More => {}
            }
            let buf = &mut self.conn.buf;
            buf.reserve(READ_AT_LEAST);
            let n = std::task::ready!(poll_read_buf(&mut self.conn.io, buf, cx))?;
            if n == 0 {
                if self.decoder == Decoder::UntilClose {
                    self.decoder = Decoder::Length(0);
                    return Poll::Ready(Ok(None));
                }
                return Poll::Ready(Err(Error::Malformed(
                    "the connection closed in the middle of the body",
                )));
            }
        }
    }

    /// What the buffer holds of the body now.
    fn decode(&mut self) -> Result<Step, Error> {
        let buf = &mut self.conn.buf;
        loop {
            match &mut self.decoder {
                Decoder::Length(0) => return Ok(Step::End),
                Decoder::Length(left) | Decoder::Chunked(Chunk::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = (*left).min(buf.len() as u64);
                    *left -= take;
                    let data = buf.split_to(take as usize).freeze();
                    if let Decoder::Chunked(chunk @ Chunk::Data(0)) = &mut self.decoder {
                        *chunk = Chunk::DataEnd;
                    }
                    return Ok(Step::Data(data));
                }
                Decoder::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Decoder::Chunked(Chunk::Size) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    let size = chunk_size(&line)?;
                    self.decoder = Decoder::Chunked(if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    });
                }
                Decoder::Chunked(Chunk::DataEnd) => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Error::Malformed("a chunk longer than its size"));
                    }
                    buf.advance(2);
                    self.decoder = Decoder::Chunked(Chunk::Size);
                }
                Decoder::Chunked(Chunk::Trailers) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    // Trailer fields are not forwarded; the empty line ends the body.
                    if line.is_empty() {
                        self.decoder = Decoder::Length(0);
                    }
                }
            }
        }
    }

    /// The body was read to its end: the connection serves again if it can.
    fn finish(self) {
        let Streaming {
            conn,
            reusable,
            reuse,
            ..
        } = self;
        if reusable
            && conn.buf.is_empty()
            && let Some(reuse) = reuse
        {
            reuse.reuse(conn);
        }
    }
}

enum Step {
    Data(Bytes),
    More,
    End,
}

/// A CRLF-ended line taken from the front of `buf`, without its CRLF, if a whole one is
/// there.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= MAX_LINE => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        Some(_) => Err(Error::Malformed("a chunk line is too long")),
        None if buf.len() > MAX_LINE => Err(Error::Malformed("a chunk line is too long")),
        None => Ok(None),
    }
}

/// A chunk's size, from its line: hex digits, then extensions (ignored) after `;`.
fn chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .map(<[u8]>::trim_ascii)
        .unwrap_or_default();
    if digits.is_empty() || digits.len() > 16 {
        return Err(Error::Malformed("an invalid chunk size"));
    }
    digits.iter().try_fold(0u64, |n, d| {
        let v = (*d as char)
            .to_digit(16)
            .ok_or(Error::Malformed("an invalid chunk size"))?;
        Ok((n << 4) | u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{IDLE_FOR, Pool, SendError};
    use http::uri::{Authority, Scheme};
    use http_body_util::BodyExt;
    use std::{
        collections::VecDeque,
        sync::{
            Arc, Mutex,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };
    use tokio::{io::AsyncReadExt, net::TcpListener};

    /// One answer of the scripted upstream: its bytes exactly, written a byte at a time
    /// when `piecewise`, and the connection closed after it when `close`.
    #[derive(Clone, Copy)]
    struct Answer {
        bytes: &'static str,
        piecewise: bool,
        close: bool,
    }

    fn answer(bytes: &'static str) -> Answer {
        Answer {
            bytes,
            piecewise: false,
            close: false,
        }
    }

    /// What the upstream saw: the connections it accepted and each request, raw.
    #[derive(Clone, Default)]
    struct Seen {
        connections: Arc<AtomicUsize>,
        requests: Arc<Mutex<Vec<String>>>,
    }

    /// An upstream that answers the requests it gets, on whatever connection, with
    /// `answers` in turn.
    async fn upstream(answers: Vec<Answer>) -> (Authority, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let seen = Seen::default();
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let counted = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                counted.connections.fetch_add(1, Ordering::SeqCst);
                let (answers, seen) = (answers.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let Some(request) = read_request(&mut stream, &mut got).await else {
                            return;
                        };
                        seen.requests.lock().unwrap().push(request);
                        let Some(answer) = answers.lock().unwrap().pop_front() else {
                            return;
                        };
                        let written = if answer.piecewise {
                            let mut all = Ok(());
                            for byte in answer.bytes.as_bytes() {
                                all = all.and(stream.write_all(&[*byte]).await);
                                tokio::task::yield_now().await;
                            }
                            all
                        } else {
                            stream.write_all(answer.bytes.as_bytes()).await
                        };
                        if written.is_err() || answer.close {
                            return;
                        }
                    }
                });
            }
        });
        (authority, seen)
    }

    /// The next request on `stream` (head and `Content-Length` body) as text; `got` keeps
    /// what was read beyond it.
    async fn read_request(stream: &mut TcpStream, got: &mut Vec<u8>) -> Option<String> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse().unwrap());
                if got.len() >= end + 4 + length {
                    let request: Vec<u8> = got.drain(..end + 4 + length).collect();
                    return Some(String::from_utf8_lossy(&request).into_owned());
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn pool() -> Pool {
        Pool::new(Duration::from_secs(1), IDLE_FOR)
    }

    async fn send(
        pool: &Pool,
        authority: &Authority,
        request: Request<Bytes>,
    ) -> Result<(Response<()>, Result<Bytes, Error>), SendError> {
        let res = pool.send(&Scheme::HTTP, authority, request).await?;
        let (parts, body) = res.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes());
        Ok((Response::from_parts(parts, ()), body))
    }

    fn get() -> Request<Bytes> {
        Request::get("/x?y=1").body(Bytes::new()).unwrap()
    }

    fn head() -> Request<Bytes> {
        Request::head("/x").body(Bytes::new()).unwrap()
    }

    const OK_HI: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";

    #[tokio::test]
    async fn the_request_goes_out_with_its_own_framing_only() {
        let (authority, seen) = upstream(vec![answer(OK_HI), answer(OK_HI)]).await;
        let pool = pool();
        let mut post = Request::post("/orders?x=1")
            .header("x-request-id", "abc")
            .header(header::TRANSFER_ENCODING, "chunked")
            .header(header::CONTENT_LENGTH, "999")
            .header(header::HOST, "evil.example")
            .body(Bytes::from_static(b"{\"a\":1}"))
            .unwrap();
        post.headers_mut()
            .append("x-twice", HeaderValue::from_static("1"));
        post.headers_mut()
            .append("x-twice", HeaderValue::from_static("2"));
        let (res, body) = send(&pool, &authority, post).await.unwrap();
        assert_eq!(
            (res.status(), body.unwrap()),
            (StatusCode::OK, Bytes::from("hi"))
        );
        let empty = Request::post("/empty").body(Bytes::new()).unwrap();
        send(&pool, &authority, empty).await.unwrap().1.unwrap();
        let requests = seen.requests.lock().unwrap().clone();
        assert_eq!(
            requests[0],
            format!(
                "POST /orders?x=1 HTTP/1.1\r\nhost: {authority}\r\nx-request-id: abc\r\n\
                 x-twice: 1\r\nx-twice: 2\r\ncontent-length: 7\r\n\r\n{{\"a\":1}}"
            )
        );
        assert_eq!(
            requests[1],
            format!("POST /empty HTTP/1.1\r\nhost: {authority}\r\ncontent-length: 0\r\n\r\n")
        );
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_chunked_answer_in_pieces_is_read_whole_and_keeps_its_connection() {
        let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: b\r\n\r\n\
                       5;ext=1\r\nhello\r\n7\r\n, world\r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n";
        let answers = vec![
            Answer {
                piecewise: true,
                ..answer(chunked)
            },
            answer(chunked),
            answer(OK_HI),
        ];
        let (authority, seen) = upstream(answers).await;
        let pool = pool();
        for _ in 0..2 {
            let (res, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(body.unwrap(), Bytes::from("hello, world0123456789"));
            assert_eq!(res.headers()["x-a"], "b");
            assert!(!res.headers().contains_key(header::TRANSFER_ENCODING));
        }
        let (_, body) = send(&pool, &authority, get()).await.unwrap();
        assert_eq!(body.unwrap(), Bytes::from("hi"));
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_length_in_pieces_is_read_whole_and_keeps_its_connection() {
        let answers = vec![
            Answer {
                piecewise: true,
                ..answer("HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\nhello world")
            },
            answer(OK_HI),
        ];
        let (authority, seen) = upstream(answers).await;
        let pool = pool();
        let (res, body) = send(&pool, &authority, get()).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()[header::CONTENT_LENGTH], "11");
        assert_eq!(body.unwrap(), Bytes::from("hello world"));
        let (_, body) = send(&pool, &authority, get()).await.unwrap();
        assert_eq!(body.unwrap(), Bytes::from("hi"));
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn answers_without_a_body_end_at_their_head() {
        let answers = vec![
            answer("HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"),
            answer("HTTP/1.1 204 No Content\r\n\r\n"),
            answer("HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n"),
            answer(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            ),
            answer(OK_HI),
        ];
        let (authority, seen) = upstream(answers).await;
        let pool = pool();
        let (res, body) = send(&pool, &authority, head()).await.unwrap();
        assert_eq!(res.headers()[header::CONTENT_LENGTH], "1234");
        assert!(body.unwrap().is_empty());
        for status in [204, 304] {
            let (res, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(res.status(), status);
            assert!(body.unwrap().is_empty());
        }
        let (res, body) = send(&pool, &authority, get()).await.unwrap();
        assert_eq!(
            (res.status(), body.unwrap()),
            (StatusCode::OK, Bytes::from("ok"))
        );
        assert!(
            !res.headers().contains_key("link"),
            "an interim answer's headers"
        );
        let (_, body) = send(&pool, &authority, get()).await.unwrap();
        assert_eq!(body.unwrap(), Bytes::from("hi"));
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn connections_that_cannot_carry_another_answer_are_not_used_again() {
        let answers = vec![
            // Delimited by the connection's end.
            Answer {
                close: true,
                ..answer("HTTP/1.1 200 OK\r\n\r\nto the end")
            },
            // Closed by the upstream's word.
            answer("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi"),
            // HTTP/1.0 without keep-alive.
            answer("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nhi"),
            // A length beside a transfer coding: the coding counts, the upstream is doubted.
            answer(
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            ),
            // Bytes after the body that no request asked for.
            answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n"),
            answer(OK_HI),
        ];
        let (authority, seen) = upstream(answers).await;
        let pool = pool();
        let (_, body) = send(&pool, &authority, get()).await.unwrap();
        assert_eq!(body.unwrap(), Bytes::from("to the end"));
        for round in 2..=5 {
            let (res, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(body.unwrap(), Bytes::from("hi"), "answer {round}");
            assert!(!res.headers().contains_key(header::CONTENT_LENGTH) || round != 4);
            assert_eq!(
                seen.connections.load(Ordering::SeqCst),
                round,
                "answer {round}"
            );
        }
        send(&pool, &authority, get()).await.unwrap().1.unwrap();
        assert_eq!(seen.connections.load(Ordering::SeqCst), 6);
    }

    /// Each malformed answer fails its exchange (the gateway answers 502), and closes the
    /// connection it came on.
    #[tokio::test]
    async fn malformed_answers_are_errors_not_guesses() {
        let large_head: &'static str =
            format!("HTTP/1.1 200 OK\r\nx-big: {}\r\n\r\n", "a".repeat(MAX_HEAD)).leak();
        let cases = [
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nhi",
            "HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\nhi",
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\nhi",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nhi",
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            "NOT HTTP AT ALL\r\n\r\n",
            large_head,
        ];
        for case in cases {
            let (authority, seen) = upstream(vec![answer(case), answer(OK_HI)]).await;
            let pool = pool();
            let err = send(&pool, &authority, get()).await.err();
            assert!(
                matches!(err, Some(SendError::Reset(_, Error::Malformed(_)))),
                "{case:.60}: {err:?}"
            );
            let (_, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(body.unwrap(), Bytes::from("hi"));
            assert_eq!(seen.connections.load(Ordering::SeqCst), 2, "{case:.60}");
        }
    }

    #[tokio::test]
    async fn a_malformed_or_cut_body_fails_the_body() {
        let cases = [
            Answer {
                close: true,
                ..answer(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n",
                )
            },
            Answer {
                close: true,
                ..answer(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
                )
            },
            Answer {
                close: true,
                ..answer("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhi")
            },
            Answer {
                close: true,
                ..answer("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n")
            },
        ];
        for case in cases {
            let (authority, seen) = upstream(vec![case, answer(OK_HI)]).await;
            let pool = pool();
            let (res, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert!(body.is_err(), "{:.60}", case.bytes);
            let (_, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(body.unwrap(), Bytes::from("hi"));
            assert_eq!(
                seen.connections.load(Ordering::SeqCst),
                2,
                "{:.60}",
                case.bytes
            );
        }
    }

    /// Repeated lengths that agree are one length (RFC 9112 6.3), and `Connection` options
    /// are read from every line and list.
    #[tokio::test]
    async fn lengths_that_agree_and_connection_lists_are_read_whole() {
        let answers = vec![
            answer("HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\nContent-Length: 2\r\n\r\nhi"),
            answer("HTTP/1.1 200 OK\r\nconnection: x-a, Keep-Alive\r\ncontent-length: 2\r\n\r\nhi"),
            answer(
                "HTTP/1.1 200 OK\r\nconnection: x-a\r\nConnection: CLOSE\r\ncontent-length: 2\r\n\r\nhi",
            ),
            answer(OK_HI),
        ];
        let (authority, seen) = upstream(answers).await;
        let pool = pool();
        for round in 1..=3 {
            let (_, body) = send(&pool, &authority, get()).await.unwrap();
            assert_eq!(body.unwrap(), Bytes::from("hi"), "answer {round}");
        }
        assert_eq!(
            seen.connections.load(Ordering::SeqCst),
            1,
            "the first two kept it"
        );
        send(&pool, &authority, get()).await.unwrap().1.unwrap();
        assert_eq!(
            seen.connections.load(Ordering::SeqCst),
            2,
            "the third closed it"
        );
    }

    #[tokio::test]
    async fn an_upstream_that_closes_without_answering_is_a_reset() {
        let (authority, _) = upstream(vec![]).await;
        let err = send(&pool(), &authority, get()).await.err();
        assert!(
            matches!(err, Some(SendError::Reset(_, Error::Closed))),
            "{err:?}"
        );
    }

    #[test]
    fn chunk_sizes_are_hex_digits_with_extensions_ignored() {
        assert_eq!(chunk_size(b"0").unwrap(), 0);
        assert_eq!(chunk_size(b"1aF").unwrap(), 0x1af);
        assert_eq!(chunk_size(b"10;name=value").unwrap(), 16);
        assert_eq!(chunk_size(b"ffffffffffffffff").unwrap(), u64::MAX);
        for bad in [&b""[..], b"x", b"-1", b"1 2", b"10000000000000000", b";ext"] {
            assert!(chunk_size(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn lengths_are_plain_digits() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"1024"), Some(1024));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1.0",
            b"0x10",
            b"18446744073709551616",
        ] {
            assert_eq!(parse_decimal(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        for n in [0, 7, 10, 1024, usize::MAX] {
            let mut out = Vec::new();
            decimal(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
