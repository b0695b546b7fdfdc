//! Problem documents for the requests hyper refuses before any service sees them.
//!
//! hyper's HTTP/1 server answers a request it cannot parse on its own: `400` for a
//! malformed request line or header, `414` for a target longer than 65,534 bytes, `431`
//! for more than 100 header fields or a head larger than its read buffer
//! ([`MAX_HEAD_BYTES`]). It does so with an empty body, then closes the connection, and it
//! offers no hook to answer otherwise (hyper 1.x). Every other refusal of Bazaar's is a
//! problem document, so these are made one too: the connection's writes are watched for that answer, which always has the
//! same fixed shape and is always the last thing written on its connection, and it is
//! replaced by the same status with a problem document.
//!
//! Nothing Bazaar answers itself has that shape: its refusals carry a `content-type` and
//! a body. The watch costs a comparison of a write's last four bytes, and a few more only
//! for a write that ends a head with no body.

use crate::problem::{CONTENT_TYPE, Problem};
use http::StatusCode;
use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// hyper's answer: its status line, then exactly these headers in this order, the date's
/// value (an IMF-fixdate, always 29 bytes), and the end of the head.
/// The largest request head a server reads (hyper's read buffer's bound): past it, 431.
/// Above the longest target hyper takes (65,534 bytes), so that one is still a 414.
pub const MAX_HEAD_BYTES: usize = 80 * 1024;

/// The most header fields a request may have (hyper's bound).
pub const MAX_HEADER_FIELDS: usize = 100;

const HEADERS: &[u8] = b"connection: close\r\ncontent-length: 0\r\ndate: ";
const DATE_LEN: usize = 29;
const END: &[u8] = b"\r\n\r\n";

/// The statuses hyper answers with, and their status lines as it writes them.
const REFUSALS: [(StatusCode, &[u8]); 3] = [
    (StatusCode::BAD_REQUEST, b"HTTP/1.1 400 Bad Request\r\n"),
    (StatusCode::URI_TOO_LONG, b"HTTP/1.1 414 URI Too Long\r\n"),
    (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    ),
];

/// A connection whose answers from hyper itself are made problem documents.
pub(super) struct Refusals<T> {
    io: T,
    /// What is still to be written before anything else: the bytes of the write whose
    /// refusal was replaced, the replacement included, and how many of them are written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> Refusals<T> {
    pub(super) fn new(io: T) -> Self {
        Self { io, pending: None }
    }
}

impl<T: AsyncWrite + Unpin> Refusals<T> {
    /// Writes what is pending, if anything; ready once nothing is. (Inline: on every
    /// write and flush, where nearly always nothing is.)
    #[inline]
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_none() {
            return Poll::Ready(Ok(()));
        }
        self.poll_pending_slow(cx)
    }

    #[cold]
    fn poll_pending_slow(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Refusals<T> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Refusals<T> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if buf.ends_with(END)
            && let Some((at, status)) = refusal(buf)
        {
            let mut bytes = Vec::with_capacity(at + 512);
            bytes.extend_from_slice(&buf[..at]);
            let date = &buf[buf.len() - END.len() - DATE_LEN..buf.len() - END.len()];
            answer(status, date, &mut bytes);
            this.pending = Some((bytes, 0));
            // All of `buf` is taken: what is not written yet goes out before anything
            // else, at the latest when hyper flushes or shuts the connection down.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Where in `buf` hyper's own answer begins, and its status, if `buf` ends with one.
#[cold]
fn refusal(buf: &[u8]) -> Option<(usize, StatusCode)> {
    if !buf.ends_with(END) {
        return None;
    }
    let headers_end = buf.len().checked_sub(END.len() + DATE_LEN)?;
    let headers_at = headers_end.checked_sub(HEADERS.len())?;
    if &buf[headers_at..headers_end] != HEADERS {
        return None;
    }
    REFUSALS.iter().find_map(|(status, line)| {
        let at = headers_at.checked_sub(line.len())?;
        (&buf[at..headers_at] == *line).then_some((at, *status))
    })
}

/// Writes the answer for `status`: the same status line, date and `connection: close`,
/// and a problem document saying what was refused.
fn answer(status: StatusCode, date: &[u8], out: &mut Vec<u8>) {
    let problem = match status {
        StatusCode::URI_TOO_LONG => Problem::new(
            status,
            "uri-too-long",
            "URI too long",
            "the request's target is longer than the 65,534 bytes a server reads",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Problem::new(
            status,
            "request-header-fields-too-large",
            "Request header fields too large",
            "the request has more than 100 header fields, or a head larger than 80 KiB",
        ),
        _ => Problem::bad_request(
            "the request is not well-formed HTTP/1.1: its request line or a header field \
             could not be parsed",
        ),
    };
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    // The status line as hyper writes it (its canonical reason).
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or_default()
        )
        .as_bytes(),
    );
    out.extend_from_slice(b"content-type: ");
    out.extend_from_slice(CONTENT_TYPE.as_bytes());
    out.extend_from_slice(b"\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    // A request id like every other answer's, though the request never reached a
    // handler (nor a log line) to be known by it.
    out.extend_from_slice(b"\r\nx-request-id: ");
    out.extend_from_slice(
        uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut [0; 36])
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\nconnection: close\r\ndate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(END);
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const DATE: &str = "Sun, 06 Dec 2026 04:41:39 GMT";

    fn hypers(line: &str) -> Vec<u8> {
        format!("{line}\r\nconnection: close\r\ncontent-length: 0\r\ndate: {DATE}\r\n\r\n")
            .into_bytes()
    }

    #[test]
    fn hypers_own_answers_are_recognised_and_nothing_else() {
        assert_eq!(
            refusal(&hypers("HTTP/1.1 400 Bad Request")),
            Some((0, StatusCode::BAD_REQUEST))
        );
        assert_eq!(
            refusal(&hypers("HTTP/1.1 414 URI Too Long")),
            Some((0, StatusCode::URI_TOO_LONG))
        );
        let mut pipelined = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
        pipelined.extend(hypers("HTTP/1.1 431 Request Header Fields Too Large"));
        assert_eq!(
            refusal(&pipelined),
            Some((40, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)),
            "after an answer still in the same write"
        );

        for other in [
            // A 404 of the same shape is not one hyper makes.
            hypers("HTTP/1.1 404 Not Found"),
            // Bazaar's own refusals carry their type and a body.
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n\
                 content-length: 2\r\ndate: {DATE}\r\n\r\n{{}}"
            )
            .into_bytes(),
            // An empty answer that is not hyper's (another header among them).
            format!(
                "HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\nconnection: close\r\n\
                 content-length: 0\r\ndate: {DATE}\r\n\r\n"
            )
            .into_bytes(),
            b"\r\n\r\n".to_vec(),
            Vec::new(),
        ] {
            assert_eq!(refusal(&other), None, "{}", String::from_utf8_lossy(&other));
        }
    }

    /// The answer as a client reads it: its head, and its body as JSON.
    async fn read_answer(client: &mut tokio::io::DuplexStream) -> (String, serde_json::Value) {
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.unwrap();
        let text = String::from_utf8(all).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len(), "the length is the body's");
        (head.to_owned(), serde_json::from_str(body).unwrap())
    }

    #[tokio::test]
    async fn a_refusal_is_written_as_a_problem_document_even_a_byte_at_a_time() {
        // A peer that takes one byte per write: the replacement goes out in pieces, all
        // of it before the flush returns.
        let (mut client, server) = tokio::io::duplex(1);
        let mut io = Refusals::new(server);
        let mut written = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
        written.extend(hypers("HTTP/1.1 414 URI Too Long"));
        let writer = tokio::spawn(async move {
            io.write_all(&written).await.unwrap();
            io.flush().await.unwrap();
            io.shutdown().await.unwrap();
        });
        let mut first = vec![0; 40];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(
            first, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            "what came before is untouched"
        );
        let (head, problem) = read_answer(&mut client).await;
        writer.await.unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("date: {DATE}")));
        assert!(head.contains("x-request-id: "), "{head}");
        assert_eq!(problem["status"], 414);
        assert_eq!(problem["type"], "urn:bazaar:problem:uri-too-long");
    }

    #[tokio::test]
    async fn other_writes_pass_untouched() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut io = Refusals::new(server);
        let answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        io.write_all(answer).await.unwrap();
        io.shutdown().await.unwrap();
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, answer);
    }
}
