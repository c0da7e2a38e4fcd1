//! Request heads are checked before the HTTP parser sees them, so that a head too long, with
//! too many headers, or malformed is answered with an OperationOutcome like every other error
//! (the parser itself would answer a bare 400 or 431 and close).
//!
//! [`HeadGuard`] wraps a connection's stream. It holds back each request head until it is
//! complete and within the limits, then lets it through whole. A head that breaks a limit is
//! never passed on: in its place the parser gets a small request of ours, and the connection
//! remembers which request that is and why ([`HeadVerdicts`]); [`answer_rejected_heads`]
//! answers it and closes the connection. A request with a body switches the guard off for the
//! rest of its connection, which is then closed after that request.

use super::ApiError;
use crate::fhir::IssueType;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request line (method, target and version) accepted.
pub const MAX_REQUEST_LINE_BYTES: usize = 16 * 1024;
/// The longest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// The most header fields in one request.
pub const MAX_HEADERS: usize = 64;

/// What the request parser gets instead of a head that was refused. Its path names the case
/// in the request log; the connection's verdicts say which request it is, so a client sending
/// the same request line gets an ordinary 404.
const STAND_IN: &[u8] = b"GET /request-head-refused HTTP/1.1\r\nhost: -\r\nconnection: close\r\n\r\n";

/// Why a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RequestLineTooLong,
    HeadTooLarge,
    TooManyHeaders,
    Malformed,
}

impl Refusal {
    fn error(self) -> ApiError {
        match self {
            Refusal::RequestLineTooLong => ApiError::new(
                StatusCode::URI_TOO_LONG,
                IssueType::TooLong,
                format!("the request line is longer than {MAX_REQUEST_LINE_BYTES} bytes (a limit of this server)"),
            ),
            Refusal::HeadTooLarge => ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                IssueType::TooLong,
                format!("the request head is longer than {MAX_HEAD_BYTES} bytes (a limit of this server)"),
            ),
            Refusal::TooManyHeaders => ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                IssueType::TooLong,
                format!("the request has more than {MAX_HEADERS} header fields (a limit of this server)"),
            ),
            Refusal::Malformed => ApiError::bad_request("the request head is not valid HTTP/1.1"),
        }
    }
}

/// Per connection: which request (by its number on the connection) stands in for a refused
/// head, and how many requests have been dispatched so far. Shared by the guard, which writes
/// it, and the connection's data, which [`answer_rejected_heads`] reads.
#[derive(Debug, Default)]
pub struct HeadVerdicts {
    refused: Cell<Option<(u64, Refusal)>>,
    dispatched: Cell<u64>,
}

impl HeadVerdicts {
    /// Counts a request as dispatched; returns why its head was refused, if it was.
    fn next_request(&self) -> Option<Refusal> {
        let n = self.dispatched.get() + 1;
        self.dispatched.set(n);
        self.refused.get().filter(|(at, _)| *at == n).map(|(_, why)| why)
    }
}

enum Mode {
    /// Checking heads; bytes after the last complete head are held back.
    Heads,
    /// After a head announcing a body: everything passes (the connection closes after it).
    Passthrough,
    /// After a refusal: what the client still sends is read and dropped.
    Draining,
}

/// A connection's stream with request heads checked before they reach the HTTP parser.
pub struct HeadGuard<T> {
    inner: T,
    mode: Mode,
    /// Bytes from the client not yet let through: the start of a head.
    held: Vec<u8>,
    /// How far `held` has been scanned, where its current line starts, and what the head has
    /// shown so far.
    scanned: usize,
    line_start: usize,
    request_line_seen: bool,
    header_lines: usize,
    /// Bytes let through, waiting for the parser to read them.
    ready: Vec<u8>,
    ready_from: usize,
    /// Heads let through (or stood in for) so far.
    heads: u64,
    verdicts: Rc<HeadVerdicts>,
}

impl<T> HeadGuard<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            mode: Mode::Heads,
            held: Vec::new(),
            scanned: 0,
            line_start: 0,
            request_line_seen: false,
            header_lines: 0,
            ready: Vec::new(),
            ready_from: 0,
            heads: 0,
            verdicts: Rc::default(),
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// For the connection's data: where this connection's refusals are written.
    pub fn verdicts(&self) -> Rc<HeadVerdicts> {
        Rc::clone(&self.verdicts)
    }

    /// Takes bytes from the client: complete heads within the limits go to `ready`.
    fn feed(&mut self, bytes: &[u8]) {
        match self.mode {
            Mode::Heads => self.held.extend_from_slice(bytes),
            Mode::Passthrough => return self.ready.extend_from_slice(bytes),
            Mode::Draining => return,
        }
        while let Mode::Heads = self.mode {
            match self.scan() {
                Some(Ok(end)) => self.let_through(end),
                Some(Err(refusal)) => return self.refuse(refusal),
                None => return,
            }
        }
    }

    /// Scans `held` for the end of the current head: `Some(Ok(end))` when it is complete,
    /// `Some(Err(..))` when it breaks a limit, `None` when more bytes are needed.
    fn scan(&mut self) -> Option<Result<usize, Refusal>> {
        while self.scanned < self.held.len() {
            let i = self.scanned;
            self.scanned += 1;
            if self.held[i] != b'\n' {
                continue;
            }
            let line = &self.held[self.line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let empty = line.is_empty();
            let len = line.len();
            self.line_start = i + 1;
            if !self.request_line_seen && len > MAX_REQUEST_LINE_BYTES {
                return Some(Err(Refusal::RequestLineTooLong));
            }
            if i + 1 > MAX_HEAD_BYTES {
                return Some(Err(Refusal::HeadTooLarge));
            }
            if !self.request_line_seen {
                // Empty lines before a request line are tolerated (RFC 9112 2.2).
                self.request_line_seen = !empty;
            } else if empty {
                return Some(Ok(i + 1));
            } else {
                self.header_lines += 1;
                if self.header_lines > MAX_HEADERS {
                    return Some(Err(Refusal::TooManyHeaders));
                }
            }
        }
        // An unfinished line already too long is refused without waiting for its end.
        let open_line = self.held.len() - self.line_start;
        if !self.request_line_seen && open_line > MAX_REQUEST_LINE_BYTES {
            return Some(Err(Refusal::RequestLineTooLong));
        }
        if self.held.len() > MAX_HEAD_BYTES {
            return Some(Err(Refusal::HeadTooLarge));
        }
        None
    }

    /// The head `held[..end]` is complete: parse it as the HTTP parser will, and let it through.
    fn let_through(&mut self, end: usize) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let body = match request.parse(&self.held[..end]) {
            Ok(httparse::Status::Complete(n)) if n == end && valid_target(request.path) => has_body(request.headers),
            _ => return self.refuse(Refusal::Malformed),
        };
        self.heads += 1;
        self.ready.extend(self.held.drain(..end));
        self.scanned = 0;
        self.line_start = 0;
        self.request_line_seen = false;
        self.header_lines = 0;
        if body {
            self.ready.append(&mut self.held);
            self.mode = Mode::Passthrough;
        }
    }

    fn refuse(&mut self, refusal: Refusal) {
        self.heads += 1;
        self.verdicts.refused.set(Some((self.heads, refusal)));
        self.held = Vec::new();
        self.ready.extend_from_slice(STAND_IN);
        self.mode = Mode::Draining;
    }

    /// Copies let-through bytes into `buf`; whether there were any.
    fn hand_over(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let waiting = &self.ready[self.ready_from..];
        if waiting.is_empty() {
            return false;
        }
        let n = waiting.len().min(buf.remaining());
        buf.put_slice(&waiting[..n]);
        self.ready_from += n;
        if self.ready_from == self.ready.len() {
            self.ready.clear();
            self.ready_from = 0;
        }
        true
    }
}

/// The request target as the HTTP library will accept it.
fn valid_target(path: Option<&str>) -> bool {
    path.is_some_and(|p| actix_web::http::Uri::try_from(p).is_ok())
}

fn has_body(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            || h.name.eq_ignore_ascii_case("content-length") && h.value.iter().any(|b| *b != b'0' && *b != b' ')
    })
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadGuard<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.hand_over(buf) {
                return Poll::Ready(Ok(()));
            }
            if let Mode::Passthrough = this.mode {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 8 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // The client is done; an unfinished head is dropped with the connection.
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => this.feed(read.filled()),
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadGuard<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Answers the stand-in of a refused head with its OperationOutcome and closes the
/// connection; closes a connection after a request with a body too (the guard no longer
/// checks what follows it).
pub async fn answer_rejected_heads(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = req.conn_data::<Rc<HeadVerdicts>>().and_then(|v| v.next_request());
    if let Some(refusal) = refusal {
        let mut response = refusal.error().error_response();
        response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes().iter().any(|b| *b != b'0'));
    let mut response = next.call(req).await?;
    if has_body {
        response.response_mut().head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard_bytes(input: &[u8]) -> (Vec<u8>, Option<(u64, Refusal)>) {
        let mut g = HeadGuard::new(());
        for chunk in input.chunks(7) {
            g.feed(chunk);
        }
        (g.ready[g.ready_from..].to_vec(), g.verdicts.refused.get())
    }

    #[test]
    fn complete_heads_pass_whole_and_in_order() {
        let two = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\nhost: x\n\nGET /c";
        let (out, refused) = guard_bytes(two);
        assert_eq!(out, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\nhost: x\n\n");
        assert_eq!(refused, None);
    }

    #[test]
    fn limits_are_refused_with_their_reason() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE_BYTES));
        assert_eq!(guard_bytes(long_line.as_bytes()), (STAND_IN.to_vec(), Some((1, Refusal::RequestLineTooLong))));
        let unfinished = format!("GET /{}", "a".repeat(MAX_REQUEST_LINE_BYTES + 10));
        assert_eq!(guard_bytes(unfinished.as_bytes()).1, Some((1, Refusal::RequestLineTooLong)));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(guard_bytes(many.as_bytes()).1, Some((1, Refusal::TooManyHeaders)));
        let big = format!("GET / HTTP/1.1\r\nx-big: {}\r\n\r\n", "b".repeat(MAX_HEAD_BYTES));
        assert_eq!(guard_bytes(big.as_bytes()).1, Some((1, Refusal::HeadTooLarge)));
        assert_eq!(guard_bytes(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").1, Some((1, Refusal::Malformed)));
        assert_eq!(guard_bytes(b"GET /\x7f HTTP/1.1\r\n\r\n").1, Some((1, Refusal::Malformed)));
    }

    #[test]
    fn the_refused_request_is_counted_after_the_ones_before_it() {
        let input = format!("GET /ok HTTP/1.1\r\n\r\nGET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE_BYTES));
        let (out, refused) = guard_bytes(input.as_bytes());
        assert!(out.starts_with(b"GET /ok HTTP/1.1\r\n\r\nGET /request-head-refused"));
        assert_eq!(refused, Some((2, Refusal::RequestLineTooLong)));
    }

    #[test]
    fn a_body_ends_the_checking() {
        let input = b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET / HTTP/1.1\r\n";
        let (out, refused) = guard_bytes(input);
        assert_eq!(out, input.to_vec());
        assert_eq!(refused, None);
    }
}
