//! HTTP/1.x wire format (RFC 9112): response heads and the chunked transfer coding.
//!
//! Only what a download client needs. Heads are parsed once complete (the
//! [`HeadScanner`] finds the end without copying body bytes); bodies are never copied:
//! [`ChunkedDecoder`] hands back slices of its input.
//!
//! ```
//! use netboot_core::wire::http::{ResponseHead, Version};
//! let head = ResponseHead::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")?;
//! assert_eq!((head.version, head.status), (Version::Http11, 200));
//! assert_eq!(head.content_length(), Some(5));
//! # Ok::<(), netboot_core::wire::http::HeadError>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Largest response head accepted (status line, headers and the blank line).
pub const MAX_HEAD_LEN: usize = 16 * 1024;
/// Largest number of header fields accepted in one head.
pub const MAX_HEADERS: usize = 100;
/// Largest chunk-size line (size, extensions and line end) accepted.
pub const MAX_CHUNK_LINE_LEN: usize = 1024;
/// Largest trailer section accepted after the last chunk.
pub const MAX_TRAILER_LEN: usize = 16 * 1024;

/// Why a response head is unacceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeadError {
    /// The head is longer than [`MAX_HEAD_LEN`].
    TooLarge,
    /// The head has more than [`MAX_HEADERS`] fields.
    TooManyHeaders,
    /// The first line is not `HTTP/1.x NNN reason`.
    BadStatusLine,
    /// The server speaks an HTTP version other than 1.x.
    UnsupportedVersion,
    /// A header line (1-based line number within the head) is malformed.
    BadHeaderLine {
        /// Line number within the head, the status line being line 1.
        line: usize,
    },
    /// `Content-Length` is not a decimal number or does not fit in 64 bits.
    BadContentLength,
    /// Several `Content-Length` values disagree.
    ConflictingContentLength,
    /// `Transfer-Encoding` names a coding other than `chunked`.
    UnsupportedTransferCoding,
    /// `Content-Range` is malformed or inconsistent.
    BadContentRange,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => write!(
                f,
                "response head too large (over {} KiB): the server sent an oversized header block",
                MAX_HEAD_LEN / 1024
            ),
            Self::TooManyHeaders => write!(
                f,
                "response head has more than {MAX_HEADERS} header fields: the server is misbehaving"
            ),
            Self::BadStatusLine => write!(
                f,
                "malformed HTTP status line: is this an HTTP server (and not HTTPS on this port)?"
            ),
            Self::UnsupportedVersion => {
                write!(
                    f,
                    "unsupported HTTP version: only HTTP/1.0 and HTTP/1.1 are spoken"
                )
            }
            Self::BadHeaderLine { line } => {
                write!(
                    f,
                    "malformed header on line {line} of the HTTP response head"
                )
            }
            Self::BadContentLength => write!(f, "malformed Content-Length in the HTTP response"),
            Self::ConflictingContentLength => write!(
                f,
                "conflicting Content-Length values in the HTTP response: refusing to guess the body size"
            ),
            Self::UnsupportedTransferCoding => write!(
                f,
                "unsupported Transfer-Encoding in the HTTP response: only chunked is understood"
            ),
            Self::BadContentRange => write!(f, "malformed Content-Range in the HTTP response"),
        }
    }
}

impl core::error::Error for HeadError {}

/// Finds the end of a response head in a byte stream, tolerating bare LF line ends.
///
/// Feed successive pieces of the stream with [`push`](Self::push); it reports how much of
/// the piece belongs to the head, so the caller copies only head bytes and never the body.
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    /// The previous byte ended a line (only CRs since then).
    at_line_start: bool,
    /// Bytes of the head seen so far.
    len: usize,
}

impl HeadScanner {
    /// A scanner at the start of a head.
    pub const fn new() -> Self {
        Self {
            at_line_start: false,
            len: 0,
        }
    }

    /// Bytes of the head seen so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte of the head has been seen yet.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Scans `data`. Returns `Some(n)` when the head ends after `data[..n]` (the blank
    /// line included), `None` when all of `data` belongs to a head still incomplete.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<usize>, HeadError> {
        for (i, &b) in data.iter().enumerate() {
            self.len += 1;
            if self.len > MAX_HEAD_LEN {
                return Err(HeadError::TooLarge);
            }
            match b {
                b'\n' if self.at_line_start => return Ok(Some(i + 1)),
                b'\n' => self.at_line_start = true,
                // A CR right after a line end may start the "\r\n" of the blank line.
                b'\r' => {}
                _ => self.at_line_start = false,
            }
        }
        Ok(None)
    }
}

/// HTTP protocol version of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1 (or a later 1.x): connections persist unless `Connection: close`.
    Http11,
}

/// An authentication scheme offered in `WWW-Authenticate`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Basic` (RFC 7617).
    Basic,
    /// `Digest` (RFC 7616).
    Digest,
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `NTLM`.
    Ntlm,
    /// `Negotiate` (SPNEGO).
    Negotiate,
    /// Any other scheme, as sent.
    Other(String),
}

impl AuthScheme {
    fn from_token(token: &str) -> Self {
        let known = [
            ("basic", Self::Basic),
            ("digest", Self::Digest),
            ("bearer", Self::Bearer),
            ("ntlm", Self::Ntlm),
            ("negotiate", Self::Negotiate),
        ];
        for (name, scheme) in known {
            if token.eq_ignore_ascii_case(name) {
                return scheme;
            }
        }
        Self::Other(String::from(token))
    }
}

/// A parsed `Content-Range` (RFC 9110 §14.4), as sent with 206 and 416.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    /// First and last byte positions (inclusive) of the enclosed part; `None` for the
    /// `bytes */N` form a 416 response uses.
    pub range: Option<(u64, u64)>,
    /// Length of the whole representation; `None` when the server sent `*`.
    pub complete_length: Option<u64>,
}

impl ContentRange {
    /// Parses a `Content-Range` field value.
    ///
    /// ```
    /// use netboot_core::wire::http::ContentRange;
    /// let r = ContentRange::parse("bytes 0-499/1234").expect("valid");
    /// assert_eq!((r.range, r.complete_length), (Some((0, 499)), Some(1234)));
    /// ```
    pub fn parse(value: &str) -> Result<Self, HeadError> {
        let bad = HeadError::BadContentRange;
        let (unit, rest) = value.trim().split_once(' ').ok_or(bad)?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return Err(bad);
        }
        let (range, complete) = rest.trim().split_once('/').ok_or(bad)?;
        let complete_length = match complete {
            "*" => None,
            n => Some(parse_decimal(n).ok_or(bad)?),
        };
        let range = match range {
            "*" => None,
            r => {
                let (first, last) = r.split_once('-').ok_or(bad)?;
                let first = parse_decimal(first).ok_or(bad)?;
                let last = parse_decimal(last).ok_or(bad)?;
                if first > last || complete_length.is_some_and(|len| last >= len) {
                    return Err(bad);
                }
                Some((first, last))
            }
        };
        // `*/*` says nothing at all.
        if range.is_none() && complete_length.is_none() {
            return Err(bad);
        }
        Ok(Self {
            range,
            complete_length,
        })
    }
}

/// A parsed HTTP/1.x response head.
///
/// Framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`) are validated at
/// parse time, because a wrong guess there corrupts the body; the others are parsed on
/// demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Protocol version of the response.
    pub version: Version,
    /// Status code (100–599).
    pub status: u16,
    /// Reason phrase, possibly empty (non-UTF-8 bytes replaced).
    pub reason: String,
    headers: Vec<(String, String)>,
    content_length: Option<u64>,
    chunked: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

impl ResponseHead {
    /// Parses a complete head: status line, header lines and the terminating blank line
    /// (CRLF or bare LF line ends). Obsolete line folding is unfolded into one space, as
    /// RFC 9112 §5.2 asks of user agents.
    pub fn parse(head: &[u8]) -> Result<Self, HeadError> {
        if head.len() > MAX_HEAD_LEN {
            return Err(HeadError::TooLarge);
        }
        // Drop the final LF so the terminating blank line is the last element of the split
        // (and an unterminated head has no blank line at all).
        let Some(body) = head.strip_suffix(b"\n") else {
            return Err(if head.is_empty() {
                HeadError::BadStatusLine
            } else {
                HeadError::BadHeaderLine {
                    line: head.split(|&b| b == b'\n').count(),
                }
            });
        };
        let mut lines = body
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            // Tolerate stray blank lines before the status line (left over from a
            // previous body on a reused connection).
            .skip_while(|(_, l)| l.is_empty());
        let (_, status_line) = lines.next().ok_or(HeadError::BadStatusLine)?;
        let (version, status, reason) = parse_status_line(status_line)?;

        let mut headers: Vec<(String, String)> = Vec::new();
        let mut ended = false;
        for (number, line) in lines {
            if ended {
                // Bytes after the blank line are not part of a head.
                return Err(HeadError::BadHeaderLine { line: number });
            }
            if line.is_empty() {
                ended = true;
                continue;
            }
            let bad = HeadError::BadHeaderLine { line: number };
            if line.iter().any(|&b| b == b'\r' || b == 0) {
                return Err(bad);
            }
            if line[0] == b' ' || line[0] == b'\t' {
                // obs-fold: a continuation of the previous field value.
                let (_, value) = headers.last_mut().ok_or(bad)?;
                let more = String::from_utf8_lossy(trim_ows(line));
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(&more);
                }
                continue;
            }
            let colon = line.iter().position(|&b| b == b':').ok_or(bad)?;
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            // Whitespace before the colon is forbidden (RFC 9112 §5.1): it smuggles fields.
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return Err(bad);
            }
            if headers.len() == MAX_HEADERS {
                return Err(HeadError::TooManyHeaders);
            }
            headers.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(trim_ows(value)).into_owned(),
            ));
        }
        if !ended {
            // No blank line: the caller handed us a truncated head.
            return Err(HeadError::BadHeaderLine {
                line: head.split(|&b| b == b'\n').count(),
            });
        }

        let mut this = Self {
            version,
            status,
            reason,
            headers,
            content_length: None,
            chunked: false,
            connection_close: false,
            connection_keep_alive: false,
        };
        this.content_length = this.parse_content_length()?;
        this.chunked = this.parse_transfer_encoding()?;
        let (mut close, mut keep_alive) = (false, false);
        for token in this.header_values("connection").flat_map(|v| v.split(',')) {
            let token = token.trim();
            close |= token.eq_ignore_ascii_case("close");
            keep_alive |= token.eq_ignore_ascii_case("keep-alive");
        }
        this.connection_close = close;
        this.connection_keep_alive = keep_alive;
        Ok(this)
    }

    fn parse_content_length(&self) -> Result<Option<u64>, HeadError> {
        let mut length = None;
        // Repeated fields and `n, n` lists are allowed if they agree (RFC 9110 §8.6).
        for item in self
            .header_values("content-length")
            .flat_map(|v| v.split(','))
        {
            let n = parse_decimal(item.trim()).ok_or(HeadError::BadContentLength)?;
            match length {
                Some(previous) if previous != n => return Err(HeadError::ConflictingContentLength),
                _ => length = Some(n),
            }
        }
        Ok(length)
    }

    fn parse_transfer_encoding(&self) -> Result<bool, HeadError> {
        let mut chunked = false;
        for coding in self
            .header_values("transfer-encoding")
            .flat_map(|v| v.split(','))
        {
            // Parameters (`;q=…`) never apply to chunked; compare the coding name only.
            let name = coding.split(';').next().unwrap_or("").trim();
            if name.is_empty() || name.eq_ignore_ascii_case("identity") {
                continue;
            }
            // chunked must be the last and only coding we accept: anything else would
            // need a decoder we do not have, or (chunked twice) is an attack.
            if chunked || !name.eq_ignore_ascii_case("chunked") {
                return Err(HeadError::UnsupportedTransferCoding);
            }
            chunked = true;
        }
        Ok(chunked)
    }

    /// All header fields in order, as (name, value); names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of the field `name` (case-insensitive), in order.
    pub fn header_values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Length`, validated (agreeing duplicates allowed). Note that a chunked
    /// body ignores it, as RFC 9112 §6.3 requires.
    pub const fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Whether the body uses the chunked transfer coding.
    pub const fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// `Location`, as sent (possibly relative: resolving it is the caller's job).
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// Whether the server asked to close the connection (`Connection: close`).
    pub const fn connection_close(&self) -> bool {
        self.connection_close
    }

    /// Whether the server allows another request on this connection after this response:
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub const fn keep_alive(&self) -> bool {
        if self.connection_close {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => self.connection_keep_alive,
        }
    }

    /// `Content-Range`, if present.
    pub fn content_range(&self) -> Result<Option<ContentRange>, HeadError> {
        self.header("content-range")
            .map(ContentRange::parse)
            .transpose()
    }

    /// Schemes offered by every `WWW-Authenticate` field, in order.
    pub fn auth_schemes(&self) -> Vec<AuthScheme> {
        let mut schemes = Vec::new();
        for value in self.header_values("www-authenticate") {
            for element in split_outside_quotes(value) {
                let element = element.trim();
                let token_len = element.bytes().take_while(|&b| is_tchar(b)).count();
                let (token, rest) = element.split_at(token_len);
                // A challenge starts with a scheme token not followed by `=`; elements
                // such as `qop="auth"` are parameters of the previous challenge.
                if !token.is_empty() && !rest.trim_start().starts_with('=') {
                    schemes.push(AuthScheme::from_token(token));
                }
            }
        }
        schemes
    }
}

/// Splits at commas that are not inside a quoted string.
fn split_outside_quotes(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    core::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

fn parse_status_line(line: &[u8]) -> Result<(Version, u16, String), HeadError> {
    let bad = HeadError::BadStatusLine;
    let rest = line.strip_prefix(b"HTTP/").ok_or(bad)?;
    let (version, rest) = rest.split_at_checked(3).ok_or(bad)?;
    let version = match version {
        [b'1', b'.', b'0'] => Version::Http10,
        // Later 1.x minors are compatible with 1.1 (RFC 9110 §2.5).
        [b'1', b'.', minor] if minor.is_ascii_digit() => Version::Http11,
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            return Err(HeadError::UnsupportedVersion);
        }
        _ => return Err(bad),
    };
    let rest = rest.strip_prefix(b" ").ok_or(bad)?;
    let (code, rest) = rest.split_at_checked(3).ok_or(bad)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(bad);
    }
    // The reason may be missing altogether ("HTTP/1.1 200"), which some servers send.
    let reason = match rest {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return Err(bad),
    };
    if reason.iter().any(|&b| b == b'\r' || b == 0) {
        return Err(bad);
    }
    Ok((
        version,
        status,
        String::from_utf8_lossy(trim_ows(reason)).into_owned(),
    ))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty run of ASCII digits that fits in a `u64`.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Why a chunked body is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// The chunk-size line does not start with hex digits, or has junk after them.
    BadChunkSize,
    /// The chunk size does not fit in 64 bits.
    ChunkSizeOverflow,
    /// The chunk-size line is longer than [`MAX_CHUNK_LINE_LEN`].
    ChunkLineTooLong,
    /// A chunk's data is not followed by CRLF, or a CR is not followed by LF.
    MissingCrlf,
    /// The trailer section is longer than [`MAX_TRAILER_LEN`].
    TrailerTooLarge,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Self::BadChunkSize => "bad chunk size (not hexadecimal)",
            Self::ChunkSizeOverflow => "chunk size too large",
            Self::ChunkLineTooLong => "chunk-size line too long",
            Self::MissingCrlf => "missing CRLF after chunk",
            Self::TrailerTooLarge => "trailer section too large",
        };
        write!(
            f,
            "malformed chunked HTTP body: {what}: the server or a proxy corrupted the stream"
        )
    }
}

impl core::error::Error for ChunkError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// In a chunk-size line; `after_digits` once a non-digit (space, `;`) was seen.
    Size {
        size: u64,
        digits: bool,
        after_digits: bool,
        in_ext: bool,
    },
    /// Seen the CR ending a chunk-size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// After chunk data, expecting CR (or a bare LF).
    DataEnd,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// In the trailer section; `line_start` when nothing of the current line was seen.
    Trailer { line_start: bool },
    /// In the trailer section after a CR.
    TrailerLf { line_start: bool },
    /// After the final blank line.
    Done,
}

/// A streaming decoder of the chunked transfer coding (RFC 9112 §7.1).
///
/// Chunk extensions are ignored and trailer fields skipped. Data comes back as slices of
/// the input, so the body is never copied here.
///
/// ```
/// use netboot_core::wire::http::ChunkedDecoder;
/// let mut dec = ChunkedDecoder::new();
/// let mut input: &[u8] = b"5\r\nhello\r\n0\r\n\r\n";
/// let mut body = Vec::new();
/// while !dec.is_done() {
///     let (used, data) = dec.decode(input)?;
///     body.extend_from_slice(data.unwrap_or_default());
///     input = &input[used..];
/// }
/// assert_eq!(body, b"hello");
/// # Ok::<(), netboot_core::wire::http::ChunkError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Bytes in the current chunk-size line, or in the trailer section.
    line_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    const SIZE_START: ChunkState = ChunkState::Size {
        size: 0,
        digits: false,
        after_digits: false,
        in_ext: false,
    };

    /// A decoder at the start of a chunked body.
    pub const fn new() -> Self {
        Self {
            state: Self::SIZE_START,
            line_len: 0,
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes from `input`. Returns how many bytes were consumed and, if the consumed
    /// bytes end with chunk data, that data (never empty). Call again with the rest of
    /// the input; a call consumes everything unless it returns data or finishes the
    /// body, and bytes after the body are left unconsumed.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<&'a [u8]>), ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match &mut self.state {
                ChunkState::Data { remaining } => {
                    let available = input.len() - i;
                    let n = usize::try_from(*remaining).map_or(available, |r| r.min(available));
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = ChunkState::DataEnd;
                    }
                    return Ok((i + n, Some(&input[i..i + n])));
                }
                ChunkState::Done => return Ok((i, None)),
                ChunkState::Size {
                    size,
                    digits,
                    after_digits,
                    in_ext,
                } => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE_LEN {
                        return Err(ChunkError::ChunkLineTooLong);
                    }
                    let size = *size;
                    match b {
                        b'\r' | b'\n' if !*digits => return Err(ChunkError::BadChunkSize),
                        b'\r' => self.state = ChunkState::SizeLf { size },
                        b'\n' => self.end_size_line(size),
                        _ if *in_ext => {}
                        b';' if *digits => *in_ext = true,
                        b' ' | b'\t' if *digits => *after_digits = true,
                        _ if *after_digits => return Err(ChunkError::BadChunkSize),
                        _ => {
                            let digit =
                                char::from(b).to_digit(16).ok_or(ChunkError::BadChunkSize)?;
                            let new = size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(u64::from(digit)))
                                .ok_or(ChunkError::ChunkSizeOverflow)?;
                            self.state = ChunkState::Size {
                                size: new,
                                digits: true,
                                after_digits: false,
                                in_ext: false,
                            };
                        }
                    }
                }
                ChunkState::SizeLf { size } => match b {
                    b'\n' => {
                        let size = *size;
                        self.end_size_line(size);
                    }
                    _ => return Err(ChunkError::MissingCrlf),
                },
                ChunkState::DataEnd => match b {
                    b'\r' => self.state = ChunkState::DataLf,
                    // Bare LF line ends are tolerated, as elsewhere in the head.
                    b'\n' => self.start_size_line(),
                    _ => return Err(ChunkError::MissingCrlf),
                },
                ChunkState::DataLf => match b {
                    b'\n' => self.start_size_line(),
                    _ => return Err(ChunkError::MissingCrlf),
                },
                ChunkState::Trailer { line_start } | ChunkState::TrailerLf { line_start } => {
                    let line_start = *line_start;
                    let after_cr = matches!(self.state, ChunkState::TrailerLf { .. });
                    self.line_len += 1;
                    if self.line_len > MAX_TRAILER_LEN {
                        return Err(ChunkError::TrailerTooLarge);
                    }
                    self.state = match b {
                        b'\n' if line_start => ChunkState::Done,
                        b'\n' => ChunkState::Trailer { line_start: true },
                        _ if after_cr => return Err(ChunkError::MissingCrlf),
                        b'\r' => ChunkState::TrailerLf { line_start },
                        _ => ChunkState::Trailer { line_start: false },
                    };
                }
            }
            i += 1;
        }
        Ok((i, None))
    }

    fn start_size_line(&mut self) {
        self.state = Self::SIZE_START;
        self.line_len = 0;
    }

    fn end_size_line(&mut self, size: u64) {
        self.line_len = 0;
        self.state = if size == 0 {
            ChunkState::Trailer { line_start: true }
        } else {
            ChunkState::Data { remaining: size }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    const NGINX: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.24.0 (Ubuntu)\r\n\
Date: Tue, 14 Apr 2026 10:00:00 GMT\r\n\
Content-Type: application/octet-stream\r\n\
Content-Length: 13918976\r\n\
Last-Modified: Mon, 13 Apr 2026 09:00:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"661a2b3c-d46000\"\r\n\
Accept-Ranges: bytes\r\n\
\r\n";

    const PYTHON: &[u8] = b"HTTP/1.0 200 OK\r\n\
Server: SimpleHTTP/0.6 Python/3.12.3\r\n\
Date: Tue, 14 Apr 2026 10:00:00 GMT\r\n\
Content-type: application/octet-stream\r\n\
Content-Length: 1024\r\n\
Last-Modified: Mon, 13 Apr 2026 09:00:00 GMT\r\n\
\r\n";

    fn head_with(extra: &str) -> Result<ResponseHead, HeadError> {
        ResponseHead::parse(format!("HTTP/1.1 200 OK\r\n{extra}\r\n").as_bytes())
    }

    #[test]
    fn parses_nginx_head() {
        let h = ResponseHead::parse(NGINX).expect("nginx head");
        assert_eq!(
            (h.version, h.status, h.reason.as_str()),
            (Version::Http11, 200, "OK")
        );
        assert_eq!(h.content_length(), Some(13_918_976));
        assert!(!h.is_chunked());
        assert!(h.keep_alive());
        assert_eq!(h.header("etag"), Some("\"661a2b3c-d46000\""));
        assert_eq!(h.header("ACCEPT-RANGES"), Some("bytes"));
        assert_eq!(h.headers().count(), 8);
    }

    #[test]
    fn parses_python_http_server_head() {
        let h = ResponseHead::parse(PYTHON).expect("python head");
        assert_eq!((h.version, h.status), (Version::Http10, 200));
        assert_eq!(h.header("content-type"), Some("application/octet-stream"));
        assert_eq!(h.content_length(), Some(1024));
        // HTTP/1.0 without keep-alive: the server closes after the body.
        assert!(!h.keep_alive());
    }

    #[test]
    fn scanner_finds_end_of_real_heads_at_every_split() {
        for head in [NGINX, PYTHON, b"HTTP/1.1 204 No Content\n\n".as_slice()] {
            let mut stream = head.to_vec();
            stream.extend_from_slice(b"BODY\r\n\r\n");
            for split in 0..=stream.len() {
                let mut s = HeadScanner::new();
                let end = match s.push(&stream[..split]).expect("small") {
                    Some(n) => n,
                    None => split + s.push(&stream[split..]).expect("small").expect("ends"),
                };
                assert_eq!(end, head.len(), "split {split}");
            }
        }
    }

    #[test]
    fn scanner_rejects_oversized_head() {
        let mut s = HeadScanner::new();
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut result = Ok(None);
        for _ in 0..(MAX_HEAD_LEN / line.len() + 2) {
            result = s.push(line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(HeadError::TooLarge));
        assert_eq!(
            HeadError::TooLarge.to_string(),
            "response head too large (over 16 KiB): the server sent an oversized header block"
        );
        let mut big = vec![b'a'; MAX_HEAD_LEN + 1];
        big[..5].copy_from_slice(b"HTTP/");
        assert_eq!(ResponseHead::parse(&big), Err(HeadError::TooLarge));
    }

    #[test]
    fn status_line_variants() {
        let p = |s: &str| ResponseHead::parse(format!("{s}\r\n\r\n").as_bytes());
        assert_eq!(p("HTTP/1.1 404 Not Found").expect("ok").reason, "Not Found");
        assert_eq!(p("HTTP/1.1 200").expect("no reason").reason, "");
        assert_eq!(p("HTTP/1.1 200 ").expect("empty reason").reason, "");
        assert_eq!(p("HTTP/1.2 200 OK").expect("1.x").version, Version::Http11);
        assert_eq!(p("HTTP/2.0 200 OK"), Err(HeadError::UnsupportedVersion));
        for bad in [
            "",
            "HTTP/1.1",
            "HTTP/1.1 20",
            "HTTP/1.1 2000 OK",
            "HTTP/1.1 abc OK",
            "HTTP/1.1  200 OK",
            "HTTP/1.1 099 Low",
            "HTTP/1.1 600 High",
            "http/1.1 200 OK",
            "ICY 200 OK",
            "SSH-2.0-OpenSSH",
        ] {
            assert_eq!(p(bad), Err(HeadError::BadStatusLine), "{bad:?}");
        }
        // Leading blank lines are skipped; bare LF line ends work.
        let h = ResponseHead::parse(b"\r\n\nHTTP/1.1 200 OK\nA: b\n\n").expect("lenient");
        assert_eq!(h.header("a"), Some("b"));
    }

    #[test]
    fn header_lines() {
        let h = head_with("X-A:  spaced \t\r\nX-Empty:\r\nX-Fold: one\r\n  two\r\n\tthree\r\n")
            .expect("ok");
        assert_eq!(h.header("x-a"), Some("spaced"));
        assert_eq!(h.header("x-empty"), Some(""));
        assert_eq!(h.header("x-fold"), Some("one two three"));
        assert_eq!(
            head_with(" folded-first: x\r\n"),
            Err(HeadError::BadHeaderLine { line: 2 })
        );
        assert_eq!(
            head_with("No colon\r\n"),
            Err(HeadError::BadHeaderLine { line: 2 })
        );
        assert_eq!(
            head_with("Name : v\r\n"),
            Err(HeadError::BadHeaderLine { line: 2 })
        );
        assert_eq!(
            head_with(": v\r\n"),
            Err(HeadError::BadHeaderLine { line: 2 })
        );
        assert_eq!(
            head_with("A: b\rc\r\n"),
            Err(HeadError::BadHeaderLine { line: 2 })
        );
        assert_eq!(
            head_with("A: b\0\r\n"),
            Err(HeadError::BadHeaderLine { line: 2 })
        );
        // Not terminated by a blank line.
        assert!(ResponseHead::parse(b"HTTP/1.1 200 OK\r\nA: b\r\n").is_err());
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(head_with(&many), Err(HeadError::TooManyHeaders));
        let fine: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(head_with(&fine).is_ok());
    }

    #[test]
    fn content_length_rules() {
        let cl = |v: &str| head_with(v).map(|h| h.content_length());
        assert_eq!(cl(""), Ok(None));
        assert_eq!(cl("Content-Length: 0\r\n"), Ok(Some(0)));
        assert_eq!(
            cl("content-length: 18446744073709551615\r\n"),
            Ok(Some(u64::MAX))
        );
        assert_eq!(
            cl("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(Some(5))
        );
        assert_eq!(cl("Content-Length: 5, 5\r\n"), Ok(Some(5)));
        assert_eq!(
            cl("Content-Length: 5\r\nContent-Length: 6\r\n"),
            Err(HeadError::ConflictingContentLength)
        );
        assert_eq!(
            cl("Content-Length: 5, 6\r\n"),
            Err(HeadError::ConflictingContentLength)
        );
        for bad in [
            "-1",
            "+5",
            "0x10",
            "5 5",
            "",
            "1e3",
            "18446744073709551616",
            "５",
        ] {
            assert_eq!(
                cl(&format!("Content-Length: {bad}\r\n")),
                Err(HeadError::BadContentLength),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn transfer_encoding_rules() {
        let te = |v: &str| head_with(v).map(|h| h.is_chunked());
        assert_eq!(te("Transfer-Encoding: chunked\r\n"), Ok(true));
        assert_eq!(te("Transfer-Encoding: Chunked\r\n"), Ok(true));
        assert_eq!(te("Transfer-Encoding: identity\r\n"), Ok(false));
        assert_eq!(te("Transfer-Encoding: identity, chunked\r\n"), Ok(true));
        let unsupported = Err(HeadError::UnsupportedTransferCoding);
        assert_eq!(te("Transfer-Encoding: gzip, chunked\r\n"), unsupported);
        assert_eq!(te("Transfer-Encoding: chunked, gzip\r\n"), unsupported);
        assert_eq!(
            te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            unsupported
        );
        // Chunked wins over Content-Length (RFC 9112 §6.3).
        let h = head_with("Content-Length: 10\r\nTransfer-Encoding: chunked\r\n").expect("ok");
        assert!(h.is_chunked());
    }

    #[test]
    fn connection_and_location() {
        let h = head_with("Connection: close\r\nLocation: /other\r\n").expect("ok");
        assert!(h.connection_close());
        assert!(!h.keep_alive());
        assert_eq!(h.location(), Some("/other"));
        let h =
            ResponseHead::parse(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n").expect("ok");
        assert!(h.keep_alive());
        let h = head_with("Connection: Upgrade, Close\r\n").expect("ok");
        assert!(!h.keep_alive());
    }

    #[test]
    fn content_range_forms() {
        let cr = |v: &str| ContentRange::parse(v);
        assert_eq!(
            cr("bytes 0-0/1"),
            Ok(ContentRange {
                range: Some((0, 0)),
                complete_length: Some(1)
            })
        );
        assert_eq!(
            cr("bytes 100-199/*"),
            Ok(ContentRange {
                range: Some((100, 199)),
                complete_length: None
            })
        );
        assert_eq!(
            cr("bytes */1234"),
            Ok(ContentRange {
                range: None,
                complete_length: Some(1234)
            })
        );
        for bad in [
            "bytes */*",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "items 0-1/2",
            "bytes 0-/9",
            "bytes",
        ] {
            assert_eq!(cr(bad), Err(HeadError::BadContentRange), "{bad:?}");
        }
        let h = head_with("Content-Range: bytes 0-9/100\r\n").expect("ok");
        assert_eq!(
            h.content_range().expect("valid").and_then(|r| r.range),
            Some((0, 9))
        );
    }

    #[test]
    fn auth_schemes() {
        let h = head_with(
            "WWW-Authenticate: Basic realm=\"a, b\", Digest realm=\"x\", qop=\"auth\"\r\n\
             WWW-Authenticate: Negotiate\r\nWWW-Authenticate: Foo abc==\r\n",
        )
        .expect("ok");
        assert_eq!(
            h.auth_schemes(),
            vec![
                AuthScheme::Basic,
                AuthScheme::Digest,
                AuthScheme::Negotiate,
                AuthScheme::Other(String::from("Foo"))
            ]
        );
    }

    #[test]
    fn every_prefix_of_a_head_is_handled() {
        for head in [NGINX, PYTHON] {
            for end in 0..head.len() {
                // Must not panic; only the full head parses.
                assert!(ResponseHead::parse(&head[..end]).is_err(), "prefix {end}");
                let _ = HeadScanner::new().push(&head[..end]);
            }
        }
    }

    const CHUNKED: &[u8] =
        b"4\r\nWiki\r\n6;name=value\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n";
    const UNCHUNKED: &[u8] = b"Wikipedia in \r\n\r\nchunks.";

    /// Decodes `pieces` in order; returns the body and how many bytes were left after.
    fn decode_all(pieces: &[&[u8]]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut left = 0;
        for piece in pieces {
            let mut rest = *piece;
            loop {
                let (used, data) = dec.decode(rest)?;
                if let Some(d) = data {
                    assert!(!d.is_empty());
                    body.extend_from_slice(d);
                }
                rest = &rest[used..];
                if rest.is_empty() || dec.is_done() {
                    break;
                }
            }
            left += rest.len();
        }
        Ok((body, left, dec.is_done()))
    }

    #[test]
    fn chunked_whole_and_every_split() {
        assert_eq!(decode_all(&[CHUNKED]), Ok((UNCHUNKED.to_vec(), 0, true)));
        for split in 0..=CHUNKED.len() {
            let (a, b) = CHUNKED.split_at(split);
            assert_eq!(
                decode_all(&[a, b]),
                Ok((UNCHUNKED.to_vec(), 0, true)),
                "split {split}"
            );
        }
        let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
        assert_eq!(decode_all(&bytes), Ok((UNCHUNKED.to_vec(), 0, true)));
    }

    #[test]
    fn chunked_returns_borrowed_slices_and_leaves_following_bytes() {
        let input = b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1";
        let mut dec = ChunkedDecoder::new();
        let (used, data) = dec.decode(input).expect("ok");
        let data = data.expect("data");
        assert_eq!(data, b"abc");
        // The slice points into the input: no copy was made.
        assert_eq!(data.as_ptr(), input[3..].as_ptr());
        let (used2, none) = dec.decode(&input[used..]).expect("ok");
        assert_eq!(none, None);
        assert!(dec.is_done());
        assert_eq!(&input[used + used2..], b"HTTP/1.1");
        assert_eq!(dec.decode(b"more").expect("done"), (0, None));
    }

    #[test]
    fn chunked_lenient_forms() {
        let ok = |s: &[u8], body: &[u8]| assert_eq!(decode_all(&[s]), Ok((body.to_vec(), 0, true)));
        ok(b"0\r\n\r\n", b"");
        ok(b"a\nabcdefghij\n0\n\n", b"abcdefghij");
        ok(b"00000003 ; ext=\"q\" \r\nabc\r\n0;x\r\n\r\n", b"abc");
        ok(b"1\r\nx\r\n0\r\nA: b\r\nC: d\r\n\r\n", b"x");
    }

    #[test]
    fn chunked_hostile_inputs() {
        let err = |s: &[u8]| decode_all(&[s]).map(|_| ());
        assert_eq!(err(b"g\r\n"), Err(ChunkError::BadChunkSize));
        assert_eq!(err(b"\r\n"), Err(ChunkError::BadChunkSize));
        assert_eq!(err(b";ext\r\n"), Err(ChunkError::BadChunkSize));
        assert_eq!(err(b"0x5\r\n"), Err(ChunkError::BadChunkSize));
        assert_eq!(err(b"5 5\r\n"), Err(ChunkError::BadChunkSize));
        assert_eq!(err(b"-1\r\n"), Err(ChunkError::BadChunkSize));
        assert_eq!(
            err(b"10000000000000000\r\n"),
            Err(ChunkError::ChunkSizeOverflow)
        );
        assert_eq!(err(b"ffffffffffffffff\r\n"), Ok(())); // fits; just incomplete
        assert_eq!(err(b"3\rabc"), Err(ChunkError::MissingCrlf));
        assert_eq!(err(b"3\r\nabcX"), Err(ChunkError::MissingCrlf));
        assert_eq!(err(b"3\r\nabc\rX"), Err(ChunkError::MissingCrlf));
        assert_eq!(err(b"0\r\nA: b\rX"), Err(ChunkError::MissingCrlf));
        let mut long = vec![b'0'; MAX_CHUNK_LINE_LEN + 1];
        long.extend_from_slice(b"\r\n");
        assert_eq!(err(&long), Err(ChunkError::ChunkLineTooLong));
        let mut ext = b"1;".to_vec();
        ext.extend(core::iter::repeat_n(b'x', MAX_CHUNK_LINE_LEN));
        assert_eq!(err(&ext), Err(ChunkError::ChunkLineTooLong));
        let mut trailer = b"0\r\n".to_vec();
        trailer.extend(core::iter::repeat_n(b'x', MAX_TRAILER_LEN + 1));
        assert_eq!(err(&trailer), Err(ChunkError::TrailerTooLarge));
        assert!(
            ChunkError::BadChunkSize
                .to_string()
                .contains("bad chunk size")
        );
    }

    #[test]
    fn chunked_every_prefix_is_incomplete_not_a_panic() {
        for end in 0..CHUNKED.len() {
            let (body, _, done) = decode_all(&[&CHUNKED[..end]]).expect("prefix is valid");
            assert!(!done, "prefix {end}");
            assert!(UNCHUNKED.starts_with(&body));
        }
    }
}
