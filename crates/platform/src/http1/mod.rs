//! HTTP/1.1 on the wire, spoken by Bazaar itself where hyper's generality costs the most:
//! the gateway's connections to its upstreams (`gateway::h1`) and the connections of a
//! service with a [`Front`](crate::service::Front) ([`server`]).
//!
//! What both sides share lives here: the limits, what a head's headers say of its framing
//! ([`Framers`]), and the body decoder (a length, or chunks with their extensions and
//! trailers). Everything that cannot be framed without doubt is an error, never a guess: a
//! message read wrongly makes the next one on the connection someone else's (RFC 9112,
//! section 6.3; request smuggling).

pub mod server;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, header};
use std::{
    future::Future as _,
    io,
    task::{Context, Poll},
};
use tokio::{io::AsyncReadExt, net::TcpStream};

/// The most a message's head may take, start line and headers.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most headers a message may have.
pub const MAX_HEADERS: usize = 100;
/// Room made in a read buffer before each read.
pub const READ_AT_LEAST: usize = 8 * 1024;
/// The most a chunk's size line (with its extensions) or a trailer line may take.
pub const MAX_LINE: usize = 4 * 1024;

/// Reads what the socket has into `buf`'s spare room (at least one byte of room).
pub async fn read_buf(io: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_buf(io, buf, cx)).await
}

/// One read into `buf`'s spare room, through `AsyncRead`, which knows that a read that
/// did not fill the room leaves nothing to read, and so asks the socket no second time.
pub fn poll_read_buf(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    // The future only reads, and holds nothing between polls.
    std::pin::pin!(io.read_buf(buf)).poll(cx)
}

/// `n` in decimal digits, written without `fmt`.
pub fn decimal(mut n: usize, out: &mut Vec<u8>) {
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

/// Digits only, no sign, no overflow.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// What a message's headers say of its framing, noted in the one pass that builds its
/// `HeaderMap` (looking the same headers up again afterwards cost some 560 instructions
/// a message).
#[derive(Debug, Default)]
pub struct Framers {
    /// `Connection` lists `close`.
    pub close: bool,
    /// `Connection` lists `keep-alive`.
    pub keep_alive: bool,
    /// There is a `Transfer-Encoding`.
    pub coded: bool,
    /// The last `Transfer-Encoding`'s last coding is `chunked`.
    pub chunked_last: bool,
    /// The `Content-Length`, all of its values agreeing.
    pub length: Option<u64>,
    /// What is wrong with the `Content-Length`s, the first thing found.
    pub bad_length: Option<&'static str>,
}

impl Framers {
    /// Notes one header of the message.
    pub fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
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

    /// Whether the connection stays open after this message, by its version's default
    /// and its `Connection` options.
    pub fn keep_alive(&self, http11: bool) -> bool {
        if http11 { !self.close } else { self.keep_alive }
    }
}

/// Where a body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoder {
    /// This many bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// Everything until the connection closes (answers only).
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chunk {
    /// A size line is next.
    Size,
    /// This many bytes of a chunk's data, then its CRLF.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines, to the empty one.
    Trailers,
}

/// What the buffer held of a body.
pub enum Step {
    Data(Bytes),
    /// Nothing yet: read more.
    More,
    /// The body is over.
    End,
}

impl Decoder {
    /// A chunked body, from its start.
    pub const CHUNKED: Decoder = Decoder::Chunked(Chunk::Size);

    /// Takes what `buf` holds of the body off its front. Trailer fields are dropped; the
    /// empty line ends the body.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, &'static str> {
        loop {
            match self {
                Decoder::Length(0) => return Ok(Step::End),
                Decoder::Length(left) | Decoder::Chunked(Chunk::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = (*left).min(buf.len() as u64);
                    *left -= take;
                    let data = buf.split_to(take as usize).freeze();
                    if let Decoder::Chunked(chunk @ Chunk::Data(0)) = self {
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
                    *self = Decoder::Chunked(if size == 0 {
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
                        return Err("a chunk longer than its size");
                    }
                    buf.advance(2);
                    *self = Decoder::Chunked(Chunk::Size);
                }
                Decoder::Chunked(Chunk::Trailers) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    if line.is_empty() {
                        *self = Decoder::Length(0);
                    }
                }
            }
        }
    }
}

/// A CRLF-ended line taken from the front of `buf`, without its CRLF, if a whole one is
/// there.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, &'static str> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= MAX_LINE => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        Some(_) => Err("a chunk line is too long"),
        None if buf.len() > MAX_LINE => Err("a chunk line is too long"),
        None => Ok(None),
    }
}

/// A chunk's size, from its line: hex digits, then extensions (ignored) after `;`.
pub fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .map(<[u8]>::trim_ascii)
        .unwrap_or_default();
    if digits.is_empty() || digits.len() > 16 {
        return Err("an invalid chunk size");
    }
    digits.iter().try_fold(0u64, |n, d| {
        let v = (*d as char).to_digit(16).ok_or("an invalid chunk size")?;
        Ok((n << 4) | u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_chunked_body_in_pieces_decodes_whole() {
        let wire = b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let mut decoder = Decoder::CHUNKED;
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for byte in wire {
            buf.extend_from_slice(&[*byte]);
            while let Step::Data(d) = decoder.decode(&mut buf).unwrap() {
                body.extend_from_slice(&d);
            }
        }
        assert_eq!(body, b"abcde");
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::End)));
        assert_eq!(
            &buf[..],
            b"NEXT",
            "what follows the body stays in the buffer"
        );
    }
}
