//! Sans-IO HTTP/1.1 client: a request builder and a response reader over a byte stream.
//!
//! The caller owns the TCP connection (and TLS, if any): it writes [`Request::encode`]'s
//! bytes, feeds what it receives into [`ResponseReader::feed`], and tells the reader when
//! the stream closes with [`ResponseReader::eof`]. Body bytes come back as slices of the
//! fed input, so the only copy is the caller's into the image buffer.
//!
//! ```
//! use netboot_core::proto::http::{Event, Method, Request, ResponseReader, HttpConfig};
//! let request = Request::get("boot.example", 80, "/vmlinuz").encode()?;
//! assert!(request.starts_with(b"GET /vmlinuz HTTP/1.1\r\nHost: boot.example\r\n"));
//!
//! let mut reader = ResponseReader::new(Method::Get, HttpConfig::default(), 0);
//! let mut input: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
//! let mut image = Vec::new();
//! loop {
//!     let (used, event) = reader.feed(0, input)?;
//!     input = &input[used..];
//!     match event {
//!         Some(Event::Head(head)) => assert_eq!(head.status, 200),
//!         Some(Event::Body(data)) => image.extend_from_slice(data),
//!         Some(Event::Done) => break,
//!         None => unreachable!("the whole response was fed"),
//!     }
//! }
//! assert_eq!(image, b"hello");
//! assert!(reader.can_reuse());
//! # Ok::<(), netboot_core::proto::http::HttpError>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;

use super::Millis;
use crate::wire::http::{
    ChunkError, ChunkedDecoder, HeadError, HeadScanner, ResponseHead, Version,
};

/// Default inactivity timeout: iPXE's HTTP watchdog is 120 s; a minute without a single
/// byte is already a stall on any network a firmware boots from.
pub const DEFAULT_IDLE_TIMEOUT: Millis = 60_000;
/// Default redirect limit (iPXE has none; an unbounded chain is a hang).
pub const DEFAULT_MAX_REDIRECTS: u8 = 10;

/// Why an HTTP exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The request cannot be built (the text says which part is wrong).
    InvalidRequest(&'static str),
    /// The response head is malformed.
    Head(HeadError),
    /// The chunked body is malformed.
    Chunked(ChunkError),
    /// The server answered 4xx/5xx, or a 3xx that is not a redirect.
    Status {
        /// Status code.
        code: u16,
        /// Reason phrase as sent.
        reason: String,
    },
    /// A redirect without a `Location` header.
    RedirectWithoutLocation {
        /// Status code.
        code: u16,
    },
    /// More redirects than allowed.
    TooManyRedirects {
        /// The limit.
        max: u8,
    },
    /// The server switched protocols (101), which we never ask for.
    UnexpectedSwitch,
    /// The connection closed before a complete response head arrived.
    ClosedBeforeHead {
        /// Bytes of head received.
        received: usize,
    },
    /// The connection closed before `Content-Length` bytes of body arrived.
    Truncated {
        /// Body bytes received.
        received: u64,
        /// Body bytes announced.
        expected: u64,
    },
    /// The connection closed in the middle of a chunked body.
    ChunkedTruncated {
        /// Body bytes received.
        received: u64,
    },
    /// No byte arrived for the idle timeout.
    Timeout {
        /// The idle timeout that expired.
        idle: Millis,
        /// Body bytes received before the stall.
        received: u64,
    },
}

impl From<HeadError> for HttpError {
    fn from(e: HeadError) -> Self {
        Self::Head(e)
    }
}

impl From<ChunkError> for HttpError {
    fn from(e: ChunkError) -> Self {
        Self::Chunked(e)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest(what) => write!(f, "cannot build HTTP request: {what}"),
            Self::Head(e) => e.fmt(f),
            Self::Chunked(e) => e.fmt(f),
            Self::Status { code, reason } => {
                let reason = if reason.is_empty() {
                    canonical_reason(*code)
                } else {
                    reason
                };
                write!(f, "HTTP {code} {reason}")?;
                if let Some(hint) = status_hint(*code) {
                    write!(f, ": {hint}")?;
                }
                Ok(())
            }
            Self::RedirectWithoutLocation { code } => write!(
                f,
                "HTTP {code} {} without a Location header: the server's redirect is broken",
                canonical_reason(*code)
            ),
            Self::TooManyRedirects { max } => write!(
                f,
                "too many redirects (more than {max}): the server probably redirects in a loop"
            ),
            Self::UnexpectedSwitch => {
                write!(
                    f,
                    "HTTP 101 Switching Protocols was not asked for: the server is misbehaving"
                )
            }
            Self::ClosedBeforeHead { received: 0 } => write!(
                f,
                "connection closed before any HTTP response: the server dropped the request \
                 (is it an HTTP server, and is the port right?)"
            ),
            Self::ClosedBeforeHead { received } => write!(
                f,
                "connection closed after {received} bytes of HTTP response head: the server dropped the request"
            ),
            Self::Truncated { received, expected } => write!(
                f,
                "connection closed after {received} of {expected} bytes: the download is incomplete, retry it"
            ),
            Self::ChunkedTruncated { received } => write!(
                f,
                "connection closed after {received} bytes of a chunked body, before its end: \
                 the download is incomplete, retry it"
            ),
            Self::Timeout { idle, received } => write!(
                f,
                "HTTP download stalled: no data for {} s after {received} bytes of body: \
                 check the network and the server",
                idle / 1000
            ),
        }
    }
}

impl core::error::Error for HttpError {}

fn status_hint(code: u16) -> Option<&'static str> {
    Some(match code {
        401 => "the server needs credentials: put user:password@ in the URL",
        403 => "the server refuses access: check the file's permissions on the server",
        404 => "check the path on the server",
        407 => "the proxy needs credentials",
        410 => "the file was removed from the server",
        416 => {
            "the requested byte range is beyond the end of the file: is the file shorter than expected?"
        }
        300..=399 => "this kind of redirect is not followed",
        500..=599 => "the server failed: check its logs",
        _ => return None,
    })
}

/// The standard reason phrase of a status code, for servers that send none.
pub fn canonical_reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`: fetch the body.
    Get,
    /// `HEAD`: the head only (sizes, existence); the response never has a body.
    Head,
    /// `POST`: submit a body (iPXE's `##params` forms).
    Post,
    /// `PUT`: store a body.
    Put,
}

impl Method {
    /// The method's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
        }
    }

    /// The method named `name` (ASCII case-insensitive), as `params --method` gives it.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Get, Self::Head, Self::Post, Self::Put]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

/// An HTTP/1.1 request, built from URI parts the caller already split and decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    method: Method,
    host: &'a str,
    port: u16,
    default_port: u16,
    path: &'a str,
    credentials: Option<(&'a str, &'a str)>,
    range: Option<(u64, Option<u64>)>,
    headers: Vec<(&'a str, &'a str)>,
    body: Option<(&'a str, &'a [u8])>,
}

impl<'a> Request<'a> {
    /// A request for `path` (origin form: path and query, already percent-encoded; empty
    /// means `/`) on `host:port`. The default port is 80; see [`Self::default_port`].
    pub const fn new(method: Method, host: &'a str, port: u16, path: &'a str) -> Self {
        Self {
            method,
            host,
            port,
            default_port: 80,
            path,
            credentials: None,
            range: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `GET` request.
    pub const fn get(host: &'a str, port: u16, path: &'a str) -> Self {
        Self::new(Method::Get, host, port, path)
    }

    /// A `HEAD` request.
    pub const fn head(host: &'a str, port: u16, path: &'a str) -> Self {
        Self::new(Method::Head, host, port, path)
    }

    /// The scheme's default port (443 for HTTPS), left out of the `Host` header.
    pub const fn default_port(mut self, port: u16) -> Self {
        self.default_port = port;
        self
    }

    /// Sends `Authorization: Basic` with these credentials (already percent-decoded).
    pub const fn basic_auth(mut self, user: &'a str, password: &'a str) -> Self {
        self.credentials = Some((user, password));
        self
    }

    /// Sends `Authorization: Basic` from URI userinfo `user[:password]` (already
    /// percent-decoded).
    pub fn userinfo(self, userinfo: &'a str) -> Self {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        self.basic_auth(user, password)
    }

    /// Asks for bytes `first..=last` (`Range: bytes=first-last`), or from `first` to the
    /// end when `last` is `None`.
    pub const fn range(mut self, first: u64, last: Option<u64>) -> Self {
        self.range = Some((first, last));
        self
    }

    /// Adds a header line `name: value` (iPXE's `param --header`). Names must be
    /// tokens and values must not contain control characters, or [`Self::encode`] fails.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sends `body` with `Content-Type: content_type` and its `Content-Length`.
    pub const fn body(mut self, content_type: &'a str, body: &'a [u8]) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// The request's bytes, ready to write to the connection.
    pub fn encode(&self) -> Result<Vec<u8>, HttpError> {
        // Anything that could end a line or a token would let a URI inject headers.
        let unsafe_char = |c: char| c.is_ascii_control() || c == ' ';
        if self.host.is_empty() || self.host.contains(unsafe_char) {
            return Err(HttpError::InvalidRequest("invalid host name"));
        }
        if self.path.contains(unsafe_char) || self.path.contains('#') {
            return Err(HttpError::InvalidRequest(
                "the path contains spaces, control characters or a fragment",
            ));
        }
        if let Some((first, Some(last))) = self.range
            && last < first
        {
            return Err(HttpError::InvalidRequest(
                "byte range ends before it starts",
            ));
        }
        // RFC 7617: the user-id cannot contain a colon, it would split differently.
        if let Some((user, _)) = self.credentials
            && user.contains(':')
        {
            return Err(HttpError::InvalidRequest("user name contains ':'"));
        }
        // RFC 9110 §5.1 and §5.5: a token name, and a value without line breaks.
        let bad_value = |v: &str| v.chars().any(|c| c.is_ascii_control() && c != '\t');
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(HttpError::InvalidRequest("invalid header name"));
            }
            if bad_value(value) {
                return Err(HttpError::InvalidRequest(
                    "a header value contains control characters",
                ));
            }
        }
        if let Some((content_type, _)) = self.body
            && bad_value(content_type)
        {
            return Err(HttpError::InvalidRequest(
                "the content type contains control characters",
            ));
        }

        let mut s = String::with_capacity(160 + self.path.len());
        let path = if self.path.is_empty() { "/" } else { self.path };
        // Writing to a String cannot fail; the results are discarded deliberately.
        let _ = write!(s, "{} {path} HTTP/1.1\r\nHost: ", self.method.as_str());
        // An IPv6 literal needs brackets, or its colons read as a port.
        if self.host.contains(':') && !self.host.starts_with('[') {
            let _ = write!(s, "[{}]", self.host);
        } else {
            s.push_str(self.host);
        }
        if self.port != self.default_port {
            let _ = write!(s, ":{}", self.port);
        }
        let _ = write!(
            s,
            "\r\nUser-Agent: netboot/{}\r\nConnection: keep-alive\r\n",
            crate::VERSION
        );
        match self.range {
            Some((first, Some(last))) => {
                let _ = write!(s, "Range: bytes={first}-{last}\r\n");
            }
            Some((first, None)) => {
                let _ = write!(s, "Range: bytes={first}-\r\n");
            }
            None => {}
        }
        if let Some((user, password)) = self.credentials {
            let mut plain = Vec::with_capacity(user.len() + 1 + password.len());
            plain.extend_from_slice(user.as_bytes());
            plain.push(b':');
            plain.extend_from_slice(password.as_bytes());
            s.push_str("Authorization: Basic ");
            base64_encode(&plain, &mut s);
            s.push_str("\r\n");
        }
        if let Some((content_type, body)) = self.body {
            let _ = write!(
                s,
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        for (name, value) in &self.headers {
            let _ = write!(s, "{name}: {value}\r\n");
        }
        s.push_str("\r\n");
        let mut bytes = s.into_bytes();
        if let Some((_, body)) = self.body {
            bytes.extend_from_slice(body);
        }
        Ok(bytes)
    }
}

/// RFC 9110 `tchar`: the bytes allowed in a header name.
const fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Appends `application/x-www-form-urlencoded` text for `fields` to `out`: `key=value`
/// pairs joined by `&`, every byte outside RFC 3986's unreserved set percent-encoded
/// (as iPXE's `uri_encode_string` with `URI_FIELD` does, so a space is `%20`).
pub fn form_urlencode<'k>(fields: impl IntoIterator<Item = (&'k str, &'k str)>, out: &mut String) {
    let encode = |text: &str, out: &mut String| {
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    };
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(key, out);
        out.push('=');
        encode(value, out);
    }
}

/// Appends the standard base64 (RFC 4648 §4, padded) encoding of `data` to `out`.
pub fn base64_encode(data: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
    for group in data.chunks(3) {
        let b = |i: usize| group.get(i).copied().map_or(0, u32::from);
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        out.push(if group.len() > 1 { sextet(n, 6) } else { '=' });
        out.push(if group.len() > 2 { sextet(n, 0) } else { '=' });
    }
}

/// Settings of a response reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Fail when no byte arrives for this long.
    pub idle_timeout: Millis,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The essentials of a response head, as announced by [`Event::Head`]; the full head is
/// at [`ResponseReader::head`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadInfo {
    /// Status code.
    pub status: u16,
    /// Protocol version.
    pub version: Version,
    /// `Content-Length` as sent (for a `HEAD` request: the size a `GET` would return).
    pub content_length: Option<u64>,
    /// Whether the body is chunked.
    pub chunked: bool,
    /// Whether a body follows (false for `HEAD`, 204 and 304, and for an empty body).
    pub has_body: bool,
}

/// Something the reader found in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'p> {
    /// The final (non-1xx) response head has arrived.
    Head(HeadInfo),
    /// Body bytes, borrowed from the fed input.
    Body(&'p [u8]),
    /// The response is complete.
    Done,
}

#[derive(Clone, Debug)]
enum State {
    Head,
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// Body ends when the connection closes.
    UntilClose,
    /// Complete; `Done` not yet reported.
    Finished,
    /// Complete and reported.
    Done,
    Failed(HttpError),
}

/// Reads one HTTP/1.x response from a byte stream, without copying the body.
///
/// Feed received bytes to [`feed`](Self::feed) until it returns `None` (all consumed,
/// need more) or [`Event::Done`]; when the connection closes call [`eof`](Self::eof).
/// 1xx interim responses are skipped. Errors are sticky.
#[derive(Clone, Debug)]
pub struct ResponseReader {
    method: Method,
    config: HttpConfig,
    state: State,
    scanner: HeadScanner,
    head_buf: Vec<u8>,
    head: Option<ResponseHead>,
    body_received: u64,
    last_activity: Millis,
    until_close: bool,
    closed: bool,
    trailing_garbage: bool,
}

impl ResponseReader {
    /// A reader for the response to a `method` request sent at `now` (the idle timer
    /// starts then).
    pub fn new(method: Method, config: HttpConfig, now: Millis) -> Self {
        Self {
            method,
            config,
            state: State::Head,
            scanner: HeadScanner::new(),
            head_buf: Vec::new(),
            head: None,
            body_received: 0,
            last_activity: now,
            until_close: false,
            closed: false,
            trailing_garbage: false,
        }
    }

    /// The final response head, once [`Event::Head`] has been reported.
    pub const fn head(&self) -> Option<&ResponseHead> {
        self.head.as_ref()
    }

    /// Body bytes reported so far.
    pub const fn body_received(&self) -> u64 {
        self.body_received
    }

    /// Whether the whole response has been read.
    pub const fn is_complete(&self) -> bool {
        matches!(self.state, State::Finished | State::Done)
    }

    /// Feeds bytes received at `now`. Returns how many were consumed and at most one
    /// event. `None` means all of `data` was consumed and more is needed; otherwise call
    /// again with the rest (possibly empty: a pending [`Event::Done`] is reported even
    /// for empty input). After `Done`, further bytes are discarded and forbid reuse.
    pub fn feed<'p>(
        &mut self,
        now: Millis,
        data: &'p [u8],
    ) -> Result<(usize, Option<Event<'p>>), HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if !data.is_empty() {
            self.last_activity = now;
        }
        let result = self.step(data);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step<'p>(&mut self, data: &'p [u8]) -> Result<(usize, Option<Event<'p>>), HttpError> {
        let mut off = 0;
        loop {
            let rest = &data[off..];
            match &mut self.state {
                State::Head => {
                    let Some(n) = self.scanner.push(rest)? else {
                        self.head_buf.extend_from_slice(rest);
                        return Ok((data.len(), None));
                    };
                    self.head_buf.extend_from_slice(&rest[..n]);
                    off += n;
                    let head = ResponseHead::parse(&self.head_buf)?;
                    self.head_buf.clear();
                    self.scanner = HeadScanner::new();
                    match head.status {
                        101 => return Err(HttpError::UnexpectedSwitch),
                        // 100 Continue, 103 Early Hints: the real response follows.
                        100..=199 => continue,
                        _ => return Ok((off, Some(Event::Head(self.start_body(head))))),
                    }
                }
                State::Length { remaining } => {
                    if rest.is_empty() {
                        return Ok((off, None));
                    }
                    let n = usize::try_from(*remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::Finished;
                    }
                    self.body_received += n as u64;
                    return Ok((off + n, Some(Event::Body(&rest[..n]))));
                }
                State::Chunked(decoder) => {
                    if decoder.is_done() {
                        self.state = State::Finished;
                        continue;
                    }
                    if rest.is_empty() {
                        return Ok((off, None));
                    }
                    let (n, body) = decoder.decode(rest)?;
                    off += n;
                    if let Some(body) = body {
                        self.body_received += body.len() as u64;
                        return Ok((off, Some(Event::Body(body))));
                    }
                }
                State::UntilClose => {
                    if rest.is_empty() {
                        return Ok((off, None));
                    }
                    self.body_received += rest.len() as u64;
                    return Ok((data.len(), Some(Event::Body(rest))));
                }
                State::Finished => {
                    self.state = State::Done;
                    return Ok((off, Some(Event::Done)));
                }
                State::Done => {
                    // Bytes after a complete response: a broken server or an unasked
                    // pipelined response. Either way this connection is not reusable.
                    if !rest.is_empty() {
                        self.trailing_garbage = true;
                    }
                    return Ok((data.len(), None));
                }
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    /// Chooses the body framing (RFC 9112 §6.3) and reports the head.
    fn start_body(&mut self, head: ResponseHead) -> HeadInfo {
        let no_body = self.method == Method::Head || matches!(head.status, 204 | 304);
        self.state = if no_body {
            State::Finished
        } else if head.is_chunked() {
            State::Chunked(ChunkedDecoder::new())
        } else if let Some(n) = head.content_length() {
            if n == 0 {
                State::Finished
            } else {
                State::Length { remaining: n }
            }
        } else {
            self.until_close = true;
            State::UntilClose
        };
        let info = HeadInfo {
            status: head.status,
            version: head.version,
            content_length: head.content_length(),
            chunked: head.is_chunked(),
            has_body: !matches!(self.state, State::Finished),
        };
        self.head = Some(head);
        info
    }

    /// Tells the reader the connection closed (no more bytes will come). `Ok` means the
    /// response is complete (a close-delimited body ends here); an incomplete response
    /// is an error saying how much arrived.
    pub fn eof(&mut self) -> Result<(), HttpError> {
        self.closed = true;
        let error = match &self.state {
            State::Head => HttpError::ClosedBeforeHead {
                received: self.scanner.len(),
            },
            State::Length { remaining } => HttpError::Truncated {
                received: self.body_received,
                expected: self.body_received + remaining,
            },
            State::Chunked(d) if !d.is_done() => HttpError::ChunkedTruncated {
                received: self.body_received,
            },
            State::Chunked(_) | State::UntilClose | State::Finished => {
                self.state = State::Done;
                return Ok(());
            }
            State::Done => return Ok(()),
            State::Failed(e) => return Err(e.clone()),
        };
        self.state = State::Failed(error.clone());
        Err(error)
    }

    /// Whether the connection can carry the next request: the response is complete, was
    /// not close-delimited, nothing followed it, the stream is open and the server
    /// allows it (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`).
    pub fn can_reuse(&self) -> bool {
        self.is_complete()
            && !self.until_close
            && !self.closed
            && !self.trailing_garbage
            && self.head.as_ref().is_some_and(ResponseHead::keep_alive)
    }

    /// When the idle timeout expires, unless more bytes arrive; `None` once the
    /// response is complete or failed.
    pub fn deadline(&self) -> Option<Millis> {
        match self.state {
            State::Finished | State::Done | State::Failed(_) => None,
            _ => Some(self.last_activity.saturating_add(self.config.idle_timeout)),
        }
    }

    /// Fails the exchange if the idle timeout has expired at `now`.
    pub fn poll_timeout(&mut self, now: Millis) -> Result<(), HttpError> {
        match self.deadline() {
            Some(deadline) if now >= deadline => {
                let e = HttpError::Timeout {
                    idle: self.config.idle_timeout,
                    received: self.body_received,
                };
                self.state = State::Failed(e.clone());
                Err(e)
            }
            _ => Ok(()),
        }
    }
}

/// What a complete response head means for the download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'h> {
    /// 2xx: the body is the resource.
    Success,
    /// A redirect to this `Location` (as sent; resolve it against the request URI).
    /// For 303 the next request must be `GET` (or stay `HEAD`).
    Redirect(&'h str),
}

/// Follows redirects with a bound and turns error statuses into [`HttpError::Status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirects {
    followed: u8,
    max: u8,
}

impl Default for Redirects {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_REDIRECTS)
    }
}

impl Redirects {
    /// Allows at most `max` redirects for one download.
    pub const fn new(max: u8) -> Self {
        Self { followed: 0, max }
    }

    /// Redirects followed so far.
    pub const fn followed(&self) -> u8 {
        self.followed
    }

    /// Classifies a final response head: success, a redirect to follow (counted), or an
    /// error carrying the status code and reason.
    ///
    /// ```
    /// use netboot_core::{proto::http::{Outcome, Redirects}, wire::http::ResponseHead};
    /// let head = ResponseHead::parse(b"HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\n")?;
    /// assert_eq!(Redirects::default().check(&head).ok(), Some(Outcome::Redirect("/b")));
    /// let head = ResponseHead::parse(b"HTTP/1.1 404 Not Found\r\n\r\n")?;
    /// let err = Redirects::default().check(&head).expect_err("404 is an error");
    /// assert_eq!(err.to_string(), "HTTP 404 Not Found: check the path on the server");
    /// # Ok::<(), netboot_core::wire::http::HeadError>(())
    /// ```
    pub fn check<'h>(&mut self, head: &'h ResponseHead) -> Result<Outcome<'h>, HttpError> {
        match head.status {
            200..=299 => Ok(Outcome::Success),
            301 | 302 | 303 | 307 | 308 => {
                let location = head
                    .location()
                    .filter(|l| !l.is_empty())
                    .ok_or(HttpError::RedirectWithoutLocation { code: head.status })?;
                if self.followed >= self.max {
                    return Err(HttpError::TooManyRedirects { max: self.max });
                }
                self.followed += 1;
                Ok(Outcome::Redirect(location))
            }
            code => Err(HttpError::Status {
                code,
                reason: head.reason.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use std::format;

    /// Feeds `pieces` in order, collecting events; returns head, body, whether Done was
    /// seen, and the reader.
    fn run(
        method: Method,
        pieces: &[&[u8]],
    ) -> Result<(Option<HeadInfo>, Vec<u8>, bool, ResponseReader), HttpError> {
        let mut r = ResponseReader::new(method, HttpConfig::default(), 0);
        let (mut head, mut body, mut done) = (None, Vec::new(), false);
        for piece in pieces {
            let mut rest = *piece;
            loop {
                let (used, event) = r.feed(1, rest)?;
                assert!(used <= rest.len());
                rest = &rest[used..];
                match event {
                    None => {
                        assert!(rest.is_empty(), "None must mean all consumed");
                        break;
                    }
                    Some(Event::Head(h)) => {
                        assert!(head.is_none(), "one head");
                        head = Some(h);
                    }
                    Some(Event::Body(b)) => {
                        assert!(!b.is_empty());
                        assert!(!done);
                        body.extend_from_slice(b);
                    }
                    Some(Event::Done) => {
                        assert!(!done, "Done once");
                        done = true;
                    }
                }
            }
        }
        Ok((head, body, done, r))
    }

    const CHUNKED_RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nETag: x\r\n\r\n";

    #[test]
    fn request_get_minimal() {
        let r = Request::get("boot.example", 80, "/images/vmlinuz?arch=x86_64")
            .encode()
            .expect("ok");
        let expected = format!(
            "GET /images/vmlinuz?arch=x86_64 HTTP/1.1\r\nHost: boot.example\r\n\
             User-Agent: netboot/{}\r\nConnection: keep-alive\r\n\r\n",
            crate::VERSION
        );
        assert_eq!(String::from_utf8(r).expect("ascii"), expected);
    }

    #[test]
    fn request_head_port_range_auth() {
        let r = Request::head("10.0.0.1", 8080, "")
            .range(0, Some(511))
            .basic_auth("Aladdin", "open sesame")
            .encode()
            .expect("ok");
        let r = String::from_utf8(r).expect("ascii");
        assert!(
            r.starts_with("HEAD / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"),
            "{r}"
        );
        assert!(r.contains("\r\nRange: bytes=0-511\r\n"));
        assert!(r.contains("\r\nAuthorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
        assert!(r.ends_with("\r\n\r\n"));

        let r = Request::get("fe80::1", 443, "/x")
            .default_port(443)
            .range(100, None);
        let r = String::from_utf8(r.encode().expect("ok")).expect("ascii");
        assert!(r.contains("\r\nHost: [fe80::1]\r\n"));
        assert!(r.contains("\r\nRange: bytes=100-\r\n"));
        let r = Request::get("h", 80, "/")
            .userinfo("user:pa:ss")
            .encode()
            .expect("ok");
        let mut expected = String::new();
        base64_encode(b"user:pa:ss", &mut expected);
        assert!(String::from_utf8(r).expect("ascii").contains(&expected));
    }

    #[test]
    fn request_rejects_injection() {
        for (host, path) in [
            ("h\r\nX: y", "/"),
            ("", "/"),
            ("h", "/a b"),
            ("h", "/a\r\nX: y"),
            ("h", "/#f"),
        ] {
            assert!(matches!(
                Request::get(host, 80, path).encode(),
                Err(HttpError::InvalidRequest(_))
            ));
        }
        assert!(
            Request::get("h", 80, "/")
                .range(5, Some(4))
                .encode()
                .is_err()
        );
        assert!(
            Request::get("h", 80, "/")
                .basic_auth("a:b", "c")
                .encode()
                .is_err()
        );
    }

    #[test]
    fn request_post_with_form_body_and_headers() {
        let mut form = String::new();
        form_urlencode([("mac", "52:54:00:12:34:56"), ("a b", "x&y=z~")], &mut form);
        assert_eq!(form, "mac=52%3A54%3A00%3A12%3A34%3A56&a%20b=x%26y%3Dz~");
        let r = Request::new(Method::Post, "192.0.2.1", 80, "/submit")
            .header("X-Asset", "rack 4\tslot 2")
            .body("application/x-www-form-urlencoded", form.as_bytes())
            .encode()
            .expect("ok");
        let expected = format!(
            "POST /submit HTTP/1.1\r\nHost: 192.0.2.1\r\n\
             User-Agent: netboot/{}\r\nConnection: keep-alive\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             X-Asset: rack 4\tslot 2\r\n\r\n{form}",
            crate::VERSION,
            form.len()
        );
        assert_eq!(String::from_utf8(r).expect("ascii"), expected);

        // An empty body still says so; headers alone leave a GET a GET.
        let r = Request::new(Method::Post, "h", 80, "/").body("text/plain", b"");
        let r = String::from_utf8(r.encode().expect("ok")).expect("ascii");
        assert!(r.ends_with("Content-Length: 0\r\n\r\n"), "{r}");
        let r = Request::get("h", 80, "/").header("Accept", "*/*");
        let r = String::from_utf8(r.encode().expect("ok")).expect("ascii");
        assert!(r.starts_with("GET / HTTP/1.1\r\n") && r.ends_with("\r\nAccept: */*\r\n\r\n"));
        assert!(!r.contains("Content-Length"));

        assert_eq!(Method::from_name("post"), Some(Method::Post));
        assert_eq!(Method::from_name("PUT"), Some(Method::Put));
        assert_eq!(Method::from_name("BREW"), None);
    }

    #[test]
    fn request_rejects_header_injection() {
        for (name, value) in [
            ("X-A", "v\r\nX-B: w"),
            ("X A", "v"),
            ("", "v"),
            ("X:A", "v"),
            ("X-A", "\n"),
        ] {
            assert!(
                matches!(
                    Request::get("h", 80, "/").header(name, value).encode(),
                    Err(HttpError::InvalidRequest(_))
                ),
                "{name:?}: {value:?}"
            );
        }
        assert!(
            Request::new(Method::Post, "h", 80, "/")
                .body("text/plain\r\nX: y", b"")
                .encode()
                .is_err()
        );
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10 and RFC 7617 §2.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            let mut out = String::new();
            base64_encode(plain.as_bytes(), &mut out);
            assert_eq!(out, encoded, "{plain:?}");
        }
        let mut out = String::new();
        base64_encode(&[0xfb, 0xff, 0xbf], &mut out);
        assert_eq!(out, "+/+/");
    }

    #[test]
    fn content_length_body_at_every_split() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        for split in 0..=resp.len() {
            let (a, b) = resp.split_at(split);
            let (head, body, done, r) = run(Method::Get, &[a, b, b""]).expect("ok");
            assert_eq!(
                head.map(|h| (h.status, h.content_length, h.has_body)),
                Some((200, Some(11), true))
            );
            assert_eq!(body, b"hello world", "split {split}");
            assert!(done);
            assert!(r.can_reuse());
        }
        let bytes: Vec<&[u8]> = resp.chunks(1).chain([&b""[..]]).collect();
        let (_, body, done, _) = run(Method::Get, &bytes).expect("ok");
        assert_eq!((body.as_slice(), done), (&b"hello world"[..], true));
    }

    #[test]
    fn body_slices_are_borrowed() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let mut r = ResponseReader::new(Method::Get, HttpConfig::default(), 0);
        let (n, _) = r.feed(0, resp).expect("head");
        let (_, event) = r.feed(0, &resp[n..]).expect("body");
        let Some(Event::Body(b)) = event else {
            panic!("expected body")
        };
        assert_eq!(b.as_ptr(), resp[n..].as_ptr());
    }

    #[test]
    fn chunked_body_at_every_split_and_byte_by_byte() {
        let resp = CHUNKED_RESPONSE;
        for split in 0..=resp.len() {
            let (a, b) = resp.split_at(split);
            let (head, body, done, r) = run(Method::Get, &[a, b, b""]).expect("ok");
            assert!(head.expect("head").chunked);
            assert_eq!(body, b"hello, world", "split {split}");
            assert!(done);
            assert!(r.can_reuse());
        }
        let bytes: Vec<&[u8]> = resp.chunks(1).chain([&b""[..]]).collect();
        let (_, body, done, _) = run(Method::Get, &bytes).expect("ok");
        assert_eq!((body.as_slice(), done), (&b"hello, world"[..], true));
    }

    #[test]
    fn every_prefix_then_eof_is_an_error_not_a_panic() {
        for resp in [
            CHUNKED_RESPONSE,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".as_slice(),
        ] {
            for end in 0..resp.len() {
                let (_, _, done, mut r) = run(Method::Get, &[&resp[..end]]).expect("valid prefix");
                assert!(!done);
                assert!(r.eof().is_err(), "prefix {end}");
            }
            let (_, _, _, mut r) = run(Method::Get, &[resp]).expect("ok");
            assert_eq!(r.eof(), Ok(()));
            assert!(!r.can_reuse(), "closed");
        }
    }

    #[test]
    fn truncation_error_texts() {
        let (_, _, _, mut r) = run(
            Method::Get,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
        )
        .expect("ok");
        let e = r.eof().expect_err("truncated");
        assert_eq!(
            e,
            HttpError::Truncated {
                received: 3,
                expected: 10
            }
        );
        assert!(
            e.to_string()
                .starts_with("connection closed after 3 of 10 bytes")
        );
        // Sticky.
        assert_eq!(r.feed(5, b"more"), Err(e));

        let mut r = ResponseReader::new(Method::Get, HttpConfig::default(), 0);
        assert_eq!(r.eof(), Err(HttpError::ClosedBeforeHead { received: 0 }));
        let (_, _, _, mut r) = run(
            Method::Get,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab"],
        )
        .expect("ok");
        assert_eq!(r.eof(), Err(HttpError::ChunkedTruncated { received: 2 }));
    }

    #[test]
    fn close_delimited_body() {
        let resp = b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\n\r\nall of it";
        let (head, body, done, mut r) = run(Method::Get, &[resp]).expect("ok");
        let head = head.expect("head");
        assert_eq!(
            (head.content_length, head.has_body, done),
            (None, true, false)
        );
        assert_eq!(body, b"all of it");
        assert!(!r.is_complete());
        assert_eq!(r.eof(), Ok(()));
        assert!(r.is_complete());
        assert!(!r.can_reuse());
        // Even HTTP/1.1 keep-alive cannot reuse a close-delimited connection.
        let (_, _, _, mut r) = run(Method::Get, &[b"HTTP/1.1 200 OK\r\n\r\nxyz"]).expect("ok");
        assert_eq!(r.eof(), Ok(()));
        assert!(!r.can_reuse());
    }

    #[test]
    fn bodiless_responses() {
        let cases: [(Method, &[u8]); 4] = [
            (
                Method::Head,
                b"HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n",
            ),
            (
                Method::Get,
                b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            ),
            (Method::Get, b"HTTP/1.1 304 Not Modified\r\n\r\n"),
            (Method::Get, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ];
        for (method, resp) in cases {
            let (head, body, done, r) = run(method, &[resp, b""]).expect("ok");
            let head = head.expect("head");
            assert!(!head.has_body);
            assert!(body.is_empty());
            assert!(done);
            assert!(r.can_reuse());
        }
        let (head, ..) = run(Method::Head, &[cases[0].1]).expect("ok");
        assert_eq!(head.and_then(|h| h.content_length), Some(123_456));
    }

    #[test]
    fn interim_responses_are_skipped_and_101_refused() {
        let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (head, body, done, _) = run(Method::Get, &[resp, b""]).expect("ok");
        assert_eq!(head.map(|h| h.status), Some(200));
        assert_eq!((body.as_slice(), done), (&b"ok"[..], true));
        assert_eq!(
            run(Method::Get, &[b"HTTP/1.1 101 Switching Protocols\r\n\r\n"]).err(),
            Some(HttpError::UnexpectedSwitch)
        );
    }

    #[test]
    fn keep_alive_decisions() {
        let reuse = |resp: &[u8]| run(Method::Get, &[resp, b""]).expect("ok").3.can_reuse();
        assert!(reuse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"));
        assert!(!reuse(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
        ));
        assert!(!reuse(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"));
        assert!(reuse(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx"
        ));
        // Junk after the body.
        assert!(!reuse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxJUNK"));
        // Incomplete.
        assert!(
            !run(
                Method::Get,
                &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nx"]
            )
            .expect("ok")
            .3
            .can_reuse()
        );
    }

    #[test]
    fn hostile_responses() {
        let err = |resp: &[u8]| run(Method::Get, &[resp]).err();
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some(HttpError::Head(HeadError::ConflictingContentLength))
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Some(HttpError::Chunked(ChunkError::BadChunkSize))
        );
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        while huge.len() <= crate::wire::http::MAX_HEAD_LEN {
            huge.extend_from_slice(b"X-Pad: 0123456789abcdef0123456789abcdef\r\n");
        }
        let e = err(&huge).expect("too large");
        assert_eq!(e, HttpError::Head(HeadError::TooLarge));
        assert!(e.to_string().starts_with("response head too large"));
        assert!(matches!(
            err(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
            Some(HttpError::Head(HeadError::BadStatusLine))
        ));
    }

    #[test]
    fn idle_timeout() {
        let config = HttpConfig {
            idle_timeout: 5_000,
        };
        let mut r = ResponseReader::new(Method::Get, config, 1_000);
        assert_eq!(r.deadline(), Some(6_000));
        assert_eq!(r.poll_timeout(5_999), Ok(()));
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab";
        let (n, _) = r.feed(4_000, input).expect("head");
        r.feed(4_000, &input[n..]).expect("body");
        assert_eq!(r.deadline(), Some(9_000));
        // Empty input is not activity.
        r.feed(8_000, b"").expect("ok");
        assert_eq!(r.deadline(), Some(9_000));
        let (n, _) = r.feed(8_000, b"ab").expect("ok");
        assert_eq!(n, 2);
        assert_eq!(r.deadline(), None, "complete: no timeout");

        let mut r = ResponseReader::new(Method::Get, config, 0);
        let e = r.poll_timeout(5_000).expect_err("expired");
        assert_eq!(
            e,
            HttpError::Timeout {
                idle: 5_000,
                received: 0
            }
        );
        assert!(
            e.to_string()
                .starts_with("HTTP download stalled: no data for 5 s")
        );
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn redirects() {
        let head = |s: &str| ResponseHead::parse(s.as_bytes()).expect("head");
        let mut rd = Redirects::new(2);
        for code in [301, 302, 303, 307, 308] {
            let h = head(&format!(
                "HTTP/1.1 {code} X\r\nLocation: http://other/x\r\n\r\n"
            ));
            assert_eq!(
                Redirects::default().check(&h),
                Ok(Outcome::Redirect("http://other/x"))
            );
        }
        let h = head("HTTP/1.1 302 Found\r\nLocation: ../b\r\n\r\n");
        assert_eq!(rd.check(&h), Ok(Outcome::Redirect("../b")));
        assert_eq!(rd.check(&h), Ok(Outcome::Redirect("../b")));
        assert_eq!(rd.followed(), 2);
        let e = rd.check(&h).expect_err("limit");
        assert_eq!(e, HttpError::TooManyRedirects { max: 2 });
        assert!(e.to_string().starts_with("too many redirects"));
        assert_eq!(
            Redirects::default().check(&head("HTTP/1.1 301 Moved\r\n\r\n")),
            Err(HttpError::RedirectWithoutLocation { code: 301 })
        );
        assert_eq!(
            Redirects::default().check(&head("HTTP/1.1 206 Partial Content\r\n\r\n")),
            Ok(Outcome::Success)
        );
        assert!(matches!(
            Redirects::default().check(&head(
                "HTTP/1.1 300 Multiple Choices\r\nLocation: /x\r\n\r\n"
            )),
            Err(HttpError::Status { code: 300, .. })
        ));
    }

    #[test]
    fn status_error_texts() {
        let text = |code: u16, reason: &str| {
            let h = ResponseHead::parse(format!("HTTP/1.1 {code} {reason}\r\n\r\n").as_bytes())
                .expect("head");
            Redirects::default()
                .check(&h)
                .expect_err("error")
                .to_string()
        };
        assert_eq!(
            text(404, "Not Found"),
            "HTTP 404 Not Found: check the path on the server"
        );
        assert_eq!(
            text(401, "Unauthorized"),
            "HTTP 401 Unauthorized: the server needs credentials: put user:password@ in the URL"
        );
        assert!(
            text(403, "Forbidden").starts_with("HTTP 403 Forbidden: the server refuses access")
        );
        assert!(
            text(416, "Requested Range Not Satisfiable").contains("beyond the end of the file")
        );
        assert_eq!(
            text(503, ""),
            "HTTP 503 Service Unavailable: the server failed: check its logs"
        );
        assert_eq!(text(418, "I'm a teapot"), "HTTP 418 I'm a teapot");
        let e = HttpError::Status {
            code: 404,
            reason: "Not Found".to_string(),
        };
        assert_eq!(vec![e.clone()], vec![e]);
    }
}
