//! TFTP client engine (sans-IO): one [`TftpTransfer`] per file download.
//!
//! Reads one file with RFC 1350, negotiating `blksize` (RFC 2348), `tsize` (RFC 2349)
//! and `windowsize` (RFC 7440) through RFC 2347 options. The engine owns no socket and
//! no clock: the caller feeds it received datagrams and the time, sends what
//! [`TftpTransfer::poll_transmit`] returns, and sleeps until
//! [`TftpTransfer::poll_deadline`].
//!
//! Received data is handed back as a [`Chunk`] that borrows the datagram, so the caller
//! copies each byte exactly once, into the image buffer.
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddrV4};
//! use netboot_core::proto::tftp::{TftpConfig, TftpTransfer};
//!
//! let server = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 69);
//! let mut config = TftpConfig::new(server, "pxelinux.0", 49152);
//! config.windowsize = Some(8);
//! let mut transfer = TftpTransfer::new(config, 0).expect("valid config");
//! let rrq = transfer.poll_transmit(0).expect("the request goes out first");
//! assert_eq!(rrq.dst, server);
//! assert_eq!(&rrq.payload[..2], &[0, 1]); // RRQ
//!
//! // A server answers from its own port (its transfer ID) with one short block:
//! let from = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);
//! let chunk = transfer.handle(5, from, b"\x00\x03\x00\x01hi").expect("valid").expect("data");
//! assert_eq!((chunk.offset, chunk.data), (0, &b"hi"[..]));
//! assert!(transfer.is_done());
//! let ack = transfer.poll_transmit(5).expect("final ACK");
//! assert_eq!((ack.dst, ack.payload.as_slice()), (from, &b"\x00\x04\x00\x01"[..]));
//! ```
//!
//! Note for the caller: with a window of `W` blocks, up to `W` datagrams arrive back to back,
//! so the UDP receive buffer must hold `W` packets of `blksize + 4` bytes or the window
//! degrades into retransmissions.

use crate::proto::{Datagram, Millis};
use crate::uri::Uri;
use crate::wire::tftp::{
    self as wire, DEFAULT_BLKSIZE, ErrorCode, MAX_BLKSIZE, MIN_BLKSIZE, OptionList, Repr,
};
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

/// The well-known TFTP server port.
pub const TFTP_PORT: u16 = 69;
/// The `blksize` requested by default: iPXE's value, which fits a 1500-byte Ethernet MTU
/// with IPv4, UDP and TFTP headers and room for a VLAN tag or tunnel.
pub const DEFAULT_REQUEST_BLKSIZE: u16 = 1432;
/// The `windowsize` requested by default. Servers without RFC 7440 ignore the option.
pub const DEFAULT_WINDOWSIZE: u16 = 16;
/// How long to wait for a reply before retransmitting, by default.
pub const DEFAULT_RETRANSMIT_TIMEOUT: Millis = 1000;
/// How many retransmissions without progress end the transfer, by default.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// The largest file accepted by default (16 GiB). Callers should set
/// [`TftpConfig::max_size`] from the memory they can actually give the image.
pub const DEFAULT_MAX_SIZE: u64 = 16 << 30;

/// Wrong-TID replies waiting to be sent; more are dropped, so a flood cannot grow memory.
const MAX_QUEUED_STRAY: usize = 4;
/// Server error texts longer than this are cut: they end up on a console.
const MAX_SERVER_MESSAGE: usize = 256;

/// What to download and how hard to try.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TftpConfig {
    /// Server address; the port is normally [`TFTP_PORT`].
    pub server: SocketAddrV4,
    /// File name as sent in the request (no leading `/` is added or removed).
    pub filename: String,
    /// Local UDP port (our transfer ID); use a fresh one per transfer.
    pub local_port: u16,
    /// `blksize` to propose (8..=65464); `None` does not ask, leaving 512.
    pub blksize: Option<u16>,
    /// RFC 7440 `windowsize` to propose (1..=65535); `None` does not ask (lock-step).
    pub windowsize: Option<u16>,
    /// Whether to ask for the file size (`tsize=0`).
    pub request_tsize: bool,
    /// Time to wait for a reply before retransmitting.
    pub retransmit_timeout: Millis,
    /// Retransmissions without progress before giving up.
    pub max_retries: u32,
    /// Optional limit on the whole transfer, from the request to the last block.
    pub overall_timeout: Option<Millis>,
    /// Largest acceptable file: a larger `tsize`, or more data than this, is an error.
    pub max_size: u64,
}

impl TftpConfig {
    /// A configuration with the defaults: blksize 1432, windowsize 16, tsize requested,
    /// 1 s retransmit timeout, 8 retries, no overall limit, 16 GiB maximum.
    pub fn new(server: SocketAddrV4, filename: impl Into<String>, local_port: u16) -> Self {
        TftpConfig {
            server,
            filename: filename.into(),
            local_port,
            blksize: Some(DEFAULT_REQUEST_BLKSIZE),
            windowsize: Some(DEFAULT_WINDOWSIZE),
            request_tsize: true,
            retransmit_timeout: DEFAULT_RETRANSMIT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            overall_timeout: None,
            max_size: DEFAULT_MAX_SIZE,
        }
    }

    /// A configuration for a `tftp://` URI whose host resolved to `server_ip`: the port
    /// comes from the URI (69 by default) and the file name is the percent-decoded path
    /// without its first `/`, so `tftp://s//abs/file` asks for `/abs/file` (as iPXE does).
    pub fn from_uri(uri: &Uri, server_ip: Ipv4Addr, local_port: u16) -> Result<Self, TftpError> {
        if !uri.scheme().eq_ignore_ascii_case("tftp") {
            return Err(TftpError::InvalidConfig {
                reason: "not a tftp:// URI",
            });
        }
        let port = uri.port_or_default().unwrap_or(TFTP_PORT);
        let path = uri.decoded_path();
        let filename = path.strip_prefix('/').unwrap_or(&path);
        Ok(TftpConfig::new(
            SocketAddrV4::new(server_ip, port),
            filename,
            local_port,
        ))
    }
}

/// A piece of the file: `data` belongs at byte `offset`. It borrows the received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'p> {
    /// Byte offset of `data` in the file.
    pub offset: u64,
    /// The bytes, borrowed from the payload passed to [`TftpTransfer::handle`].
    pub data: &'p [u8],
}

/// Why a TFTP transfer failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TftpError {
    /// The configuration cannot be sent (for example a NUL in the file name).
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// No reply (or no progress) after every retransmission.
    Timeout {
        /// The server asked.
        server: SocketAddrV4,
        /// The file asked for.
        filename: String,
        /// Retransmissions made.
        retries: u32,
        /// Whether the server had answered before (the transfer stalled).
        started: bool,
    },
    /// The whole transfer took longer than [`TftpConfig::overall_timeout`].
    TransferTimeout {
        /// The file asked for.
        filename: String,
        /// The limit, in milliseconds.
        limit: Millis,
    },
    /// The server sent an ERROR packet.
    Server {
        /// The TFTP error code.
        code: ErrorCode,
        /// The server's text, with control characters replaced.
        message: String,
    },
    /// The server's OACK contains an option we did not ask for or a value we cannot use.
    BadOption {
        /// Option name as the server sent it.
        name: String,
        /// Option value as the server sent it.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file is larger than [`TftpConfig::max_size`].
    TooLarge {
        /// The size announced by `tsize`, or the bytes received so far.
        size: u64,
        /// The configured maximum.
        limit: u64,
    },
    /// The server sent something that is not valid TFTP.
    Malformed(wire::Error),
    /// The server sent a valid packet that has no place in a read transfer.
    Protocol {
        /// What it did.
        reason: &'static str,
    },
}

impl fmt::Display for TftpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TftpError::InvalidConfig { reason } => write!(f, "TFTP: invalid request: {reason}"),
            TftpError::Timeout {
                server,
                filename,
                retries,
                started: false,
            } => write!(
                f,
                "TFTP timeout: no reply from {server} for {filename} after {retries} retries \
                 (is a TFTP server running there, and does a firewall pass UDP port {} and \
                 the replies from other ports?)",
                server.port()
            ),
            TftpError::Timeout {
                server,
                filename,
                retries,
                started: true,
            } => write!(
                f,
                "TFTP timeout: transfer of {filename} from {server} stalled after {retries} \
                 retries"
            ),
            TftpError::TransferTimeout { filename, limit } => {
                write!(f, "TFTP: transfer of {filename} exceeded {limit} ms")
            }
            TftpError::Server { code, message } => {
                write!(
                    f,
                    "TFTP error {} ({}): {message}",
                    u16::from(*code),
                    code.name()
                )?;
                match code {
                    ErrorCode::FileNotFound => f.write_str(
                        " (hint: the name is relative to the server's TFTP root and may be \
                         case-sensitive)",
                    ),
                    ErrorCode::AccessViolation => {
                        f.write_str(" (hint: check the file's permissions on the server)")
                    }
                    _ => Ok(()),
                }
            }
            TftpError::BadOption {
                name,
                value,
                reason,
            } => write!(f, "TFTP: server answered option {name}={value}: {reason}"),
            TftpError::TooLarge { size, limit } => write!(
                f,
                "TFTP: file too large: {size} bytes, limit {limit} bytes (not enough memory \
                 for the image)"
            ),
            TftpError::Malformed(e) => write!(f, "TFTP: malformed packet from server: {e}"),
            TftpError::Protocol { reason } => write!(f, "TFTP: protocol error: {reason}"),
        }
    }
}

impl core::error::Error for TftpError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// RRQ sent, no valid reply yet.
    Requesting { with_options: bool },
    /// OACK or first DATA received.
    Receiving,
    /// Last block received and acknowledged.
    Done,
    /// See `TftpTransfer::error`.
    Failed,
}

/// One TFTP read transfer (RFC 1350 + 2347/2348/2349/7440), as a state machine.
///
/// Protocol behaviour:
/// - The server's transfer ID (address and port) is learned from its first reply, which
///   must come from the server's address. Packets from any other source get an ERROR 5
///   ("Unknown transfer ID") and are otherwise ignored.
/// - An OACK is checked (only options we asked for, values no larger than asked) and
///   acknowledged with ACK 0; a bad OACK is refused with ERROR 8.
/// - DATA without an OACK means the server ignored the options: 512-byte blocks, lock-step.
/// - ERROR 8 in reply to a request with options: the request is repeated once without.
/// - Windows (RFC 7440): ACK at the end of each window and on timeout; a gap ACKs the
///   last in-order block once so the server restarts from there; duplicates are ignored,
///   except that a late repeat of the block we last acknowledged is acknowledged again
///   (the server's retransmission: our ACK was lost).
/// - Block numbers wrap from 65535 to 0; offsets keep growing.
/// - A block shorter than the block size (possibly empty) is the last.
#[derive(Debug)]
pub struct TftpTransfer {
    config: TftpConfig,
    phase: Phase,
    /// The server's transfer ID, once known.
    peer: Option<SocketAddrV4>,
    blksize: u16,
    windowsize: u16,
    tsize: Option<u64>,
    /// Whether options were accepted by an OACK (a repeated OACK then means ACK 0 was lost).
    negotiated: bool,
    /// Block number of the last in-order DATA; 0 before the first.
    last_block: u16,
    /// Bytes delivered so far: the offset of the next block.
    received: u64,
    /// In-order blocks since our last ACK.
    in_window: u16,
    /// Whether the current gap has been reported with an ACK already.
    gap_acked: bool,
    /// Our latest RRQ or ACK, not yet handed out. A newer one replaces it: ACKs are
    /// cumulative.
    pending: Option<Datagram>,
    /// ERROR packets to send (wrong TIDs, refusals). Bounded by `MAX_QUEUED_STRAY`.
    stray: VecDeque<Datagram>,
    /// When to retransmit (or give up).
    deadline: Option<Millis>,
    /// When the last ACK was queued.
    last_ack_at: Millis,
    retries: u32,
    started_at: Millis,
    error: Option<TftpError>,
}

impl TftpTransfer {
    /// Starts a transfer: the RRQ is ready for [`TftpTransfer::poll_transmit`].
    pub fn new(config: TftpConfig, now: Millis) -> Result<Self, TftpError> {
        if config.filename.is_empty() {
            return Err(TftpError::InvalidConfig {
                reason: "empty file name",
            });
        }
        if config.filename.contains('\0') {
            return Err(TftpError::InvalidConfig {
                reason: "file name contains a NUL byte",
            });
        }
        if config
            .blksize
            .is_some_and(|b| !(MIN_BLKSIZE..=MAX_BLKSIZE).contains(&b))
        {
            return Err(TftpError::InvalidConfig {
                reason: "blksize must be between 8 and 65464",
            });
        }
        if config.windowsize == Some(0) {
            return Err(TftpError::InvalidConfig {
                reason: "windowsize must be at least 1",
            });
        }
        if config.retransmit_timeout == 0 {
            return Err(TftpError::InvalidConfig {
                reason: "retransmit timeout must be positive",
            });
        }
        let with_options =
            config.blksize.is_some() || config.windowsize.is_some() || config.request_tsize;
        let mut transfer = TftpTransfer {
            config,
            phase: Phase::Requesting { with_options },
            peer: None,
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            tsize: None,
            negotiated: false,
            last_block: 0,
            received: 0,
            in_window: 0,
            gap_acked: false,
            pending: None,
            stray: VecDeque::new(),
            deadline: None,
            last_ack_at: now,
            retries: 0,
            started_at: now,
            error: None,
        };
        transfer.send_rrq(now);
        if transfer.pending.is_none() {
            return Err(TftpError::InvalidConfig {
                reason: "request cannot be encoded",
            });
        }
        Ok(transfer)
    }

    /// The next datagram to send, if any. Call until `None` after every `handle` and
    /// whenever [`TftpTransfer::poll_deadline`] has passed (this also runs the timers).
    pub fn poll_transmit(&mut self, now: Millis) -> Option<Datagram> {
        // The error is kept in `self.error`; the caller sees it through `error()`.
        let _ = self.handle_timeout(now);
        self.pending.take().or_else(|| self.stray.pop_front())
    }

    /// Runs the timers: retransmits on timeout, fails after the last retry or when the
    /// overall limit has passed. [`TftpTransfer::poll_transmit`] calls this itself.
    pub fn handle_timeout(&mut self, now: Millis) -> Result<(), TftpError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if !matches!(self.phase, Phase::Requesting { .. } | Phase::Receiving) {
            return Ok(());
        }
        if let Some(limit) = self.config.overall_timeout
            && now.saturating_sub(self.started_at) >= limit
        {
            return Err(self.fail(TftpError::TransferTimeout {
                filename: self.config.filename.clone(),
                limit,
            }));
        }
        match self.deadline {
            Some(deadline) if now >= deadline => {}
            _ => return Ok(()),
        }
        if self.retries >= self.config.max_retries {
            return Err(self.fail(TftpError::Timeout {
                server: self.peer.unwrap_or(self.config.server),
                filename: self.config.filename.clone(),
                retries: self.retries,
                started: self.phase == Phase::Receiving,
            }));
        }
        self.retries += 1;
        match self.phase {
            Phase::Requesting { .. } => self.send_rrq(now),
            // RFC 7440: on timeout, ACK the last in-order block; the server resends from it.
            _ => {
                self.in_window = 0;
                self.send_ack(now, self.last_block);
            }
        }
        Ok(())
    }

    /// When to call [`TftpTransfer::poll_transmit`] next if nothing arrives; `None` once
    /// the transfer has ended.
    pub fn poll_deadline(&self) -> Option<Millis> {
        if !matches!(self.phase, Phase::Requesting { .. } | Phase::Receiving) {
            return None;
        }
        let overall = self
            .config
            .overall_timeout
            .map(|limit| self.started_at.saturating_add(limit));
        match (self.deadline, overall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Processes one datagram received on [`TftpConfig::local_port`] from `from`.
    ///
    /// Returns the file data it carried, if it was the next block. Copy it at
    /// `chunk.offset` before the next call. An error ends the transfer; after it, every
    /// call returns the same error (an ERROR for the server may still be in
    /// [`TftpTransfer::poll_transmit`]).
    pub fn handle<'p>(
        &mut self,
        now: Millis,
        from: SocketAddrV4,
        payload: &'p [u8],
    ) -> Result<Option<Chunk<'p>>, TftpError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let from_peer = match self.peer {
            Some(peer) => from == peer,
            // Until the server's TID is known, any port on the server's address may answer.
            None => from.ip() == self.config.server.ip(),
        };
        if !from_peer {
            self.reject_stranger(from, payload);
            return Ok(None);
        }
        let repr = match Repr::from_bytes(payload) {
            Ok(repr) => repr,
            Err(e) => {
                self.queue_error(from, ErrorCode::IllegalOperation, "malformed packet");
                return Err(self.fail(TftpError::Malformed(e)));
            }
        };
        match repr {
            Repr::Data { block, data } => self.on_data(now, from, block, data),
            Repr::OptionAck { options } => self.on_oack(now, from, options).map(|()| None),
            Repr::Error { code, message } => self.on_error(now, code, message).map(|()| None),
            Repr::Ack { .. } | Repr::ReadRequest { .. } | Repr::Request { .. } => {
                self.queue_error(from, ErrorCode::IllegalOperation, "expected DATA");
                Err(self.fail(TftpError::Protocol {
                    reason: "server sent an ACK or a request during a read",
                }))
            }
        }
    }

    /// Whether the whole file has been received (the final ACK may still be pending in
    /// [`TftpTransfer::poll_transmit`]).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The error that ended the transfer, if it failed.
    pub fn error(&self) -> Option<&TftpError> {
        self.error.as_ref()
    }

    /// The file size announced by the server (`tsize`), at most [`TftpConfig::max_size`].
    /// A hint for presizing: the data may still end earlier or run later.
    pub fn size_hint(&self) -> Option<u64> {
        self.tsize
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The block size in use: negotiated, or 512.
    pub fn blksize(&self) -> u16 {
        self.blksize
    }

    /// The window size in use: negotiated, or 1 (lock-step).
    pub fn windowsize(&self) -> u16 {
        self.windowsize
    }

    /// The server's transfer ID (address and port), once it has answered.
    pub fn peer(&self) -> Option<SocketAddrV4> {
        self.peer
    }

    /// The configuration this transfer runs with.
    pub fn config(&self) -> &TftpConfig {
        &self.config
    }

    fn on_data<'p>(
        &mut self,
        now: Millis,
        from: SocketAddrV4,
        block: u16,
        data: &'p [u8],
    ) -> Result<Option<Chunk<'p>>, TftpError> {
        match self.phase {
            Phase::Requesting { .. } => {
                // DATA before any OACK: the server ignored our options (RFC 2347), so the
                // RFC 1350 defaults apply, which `blksize`/`windowsize` already hold.
                self.peer = Some(from);
                self.phase = Phase::Receiving;
            }
            Phase::Receiving => {}
            Phase::Done => {
                if block == self.last_block {
                    self.reack_duplicate(now, block);
                }
                return Ok(None);
            }
            Phase::Failed => return Ok(None),
        }
        if data.len() > usize::from(self.blksize) {
            self.queue_error(from, ErrorCode::IllegalOperation, "block too large");
            return Err(self.fail(TftpError::Protocol {
                reason: "DATA larger than the negotiated block size",
            }));
        }
        let expected = self.last_block.wrapping_add(1);
        if block != expected {
            // Half the sequence space ahead counts as "ahead", the rest as "already seen";
            // windows are far smaller than 32768 blocks.
            let ahead = block.wrapping_sub(expected) < 0x8000;
            if ahead {
                // A block went missing. Tell the server once where we are; it restarts the
                // window from there. Later blocks of the broken window are dropped: keeping
                // them would mean a second copy.
                if !self.gap_acked {
                    self.gap_acked = true;
                    self.in_window = 0;
                    self.send_ack(now, self.last_block);
                }
            } else if block == self.last_block && self.in_window == 0 {
                self.reack_duplicate(now, block);
            }
            return Ok(None);
        }
        let offset = self.received;
        let total = offset.saturating_add(data.len() as u64);
        if total > self.config.max_size {
            self.queue_error(from, ErrorCode::DiskFull, "file too large");
            return Err(self.fail(TftpError::TooLarge {
                size: total,
                limit: self.config.max_size,
            }));
        }
        self.received = total;
        self.last_block = block;
        self.gap_acked = false;
        self.retries = 0;
        self.in_window = self.in_window.saturating_add(1);
        if data.len() < usize::from(self.blksize) {
            self.phase = Phase::Done;
            self.send_ack(now, block);
            self.deadline = None;
        } else if self.in_window >= self.windowsize {
            self.in_window = 0;
            self.send_ack(now, block);
        } else {
            // Mid-window: nothing to send, wait for the next block.
            self.deadline = Some(now.saturating_add(self.config.retransmit_timeout));
        }
        Ok(Some(Chunk { offset, data }))
    }

    fn on_oack(
        &mut self,
        now: Millis,
        from: SocketAddrV4,
        options: OptionList<'_>,
    ) -> Result<(), TftpError> {
        match self.phase {
            Phase::Requesting { with_options: true } => {}
            Phase::Requesting {
                with_options: false,
            } => {
                let (name, value) = options.iter().next().unwrap_or(("", ""));
                return Err(self.refuse_option(from, name, value, "option not requested"));
            }
            Phase::Receiving if self.negotiated && self.received == 0 => {
                // The OACK again: our ACK 0 was lost.
                self.send_ack(now, 0);
                return Ok(());
            }
            _ => return Ok(()),
        }
        let mut blksize = DEFAULT_BLKSIZE;
        let mut windowsize = 1;
        let mut tsize = None;
        let mut seen = [false; 3];
        for (name, value) in options.iter() {
            let (slot, asked) = if name.eq_ignore_ascii_case("blksize") {
                (0, self.config.blksize.map(u64::from))
            } else if name.eq_ignore_ascii_case("windowsize") {
                (1, self.config.windowsize.map(u64::from))
            } else if name.eq_ignore_ascii_case("tsize") {
                (2, self.config.request_tsize.then_some(u64::MAX))
            } else {
                return Err(self.refuse_option(from, name, value, "option not requested"));
            };
            let Some(asked) = asked else {
                return Err(self.refuse_option(from, name, value, "option not requested"));
            };
            if core::mem::replace(&mut seen[slot], true) {
                return Err(self.refuse_option(from, name, value, "option repeated"));
            }
            let Some(number) = parse_decimal(value) else {
                return Err(self.refuse_option(from, name, value, "value is not a number"));
            };
            if number > asked {
                return Err(self.refuse_option(from, name, value, "value larger than requested"));
            }
            match slot {
                0 => match u16::try_from(number) {
                    Ok(b) if b >= MIN_BLKSIZE => blksize = b,
                    _ => return Err(self.refuse_option(from, name, value, "blksize below 8")),
                },
                1 => match u16::try_from(number) {
                    Ok(w) if w >= 1 => windowsize = w,
                    _ => return Err(self.refuse_option(from, name, value, "windowsize 0")),
                },
                _ => {
                    if number > self.config.max_size {
                        self.queue_error(from, ErrorCode::DiskFull, "file too large");
                        return Err(self.fail(TftpError::TooLarge {
                            size: number,
                            limit: self.config.max_size,
                        }));
                    }
                    tsize = Some(number);
                }
            }
        }
        self.peer = Some(from);
        self.phase = Phase::Receiving;
        self.negotiated = true;
        self.blksize = blksize;
        self.windowsize = windowsize;
        self.tsize = tsize;
        self.retries = 0;
        self.send_ack(now, 0);
        Ok(())
    }

    fn on_error(&mut self, now: Millis, code: ErrorCode, message: &[u8]) -> Result<(), TftpError> {
        if self.phase == (Phase::Requesting { with_options: true })
            && code == ErrorCode::OptionNegotiation
        {
            // The server refuses options outright (RFC 2347 §"Negotiation"): ask again
            // plainly, as a fresh request (the server chooses a new TID).
            self.phase = Phase::Requesting {
                with_options: false,
            };
            self.retries = 0;
            self.send_rrq(now);
            return Ok(());
        }
        Err(self.fail(TftpError::Server {
            code,
            message: printable(message),
        }))
    }

    /// A packet from someone who is not our server: tell them (RFC 1350 §4), carry on.
    fn reject_stranger(&mut self, from: SocketAddrV4, payload: &[u8]) {
        // Never answer an ERROR with an ERROR: two confused peers would ping-pong forever.
        if matches!(Repr::from_bytes(payload), Ok(Repr::Error { .. })) {
            return;
        }
        self.queue_error(from, ErrorCode::UnknownTransferId, "Unknown transfer ID");
    }

    fn refuse_option(
        &mut self,
        from: SocketAddrV4,
        name: &str,
        value: &str,
        reason: &'static str,
    ) -> TftpError {
        self.queue_error(from, ErrorCode::OptionNegotiation, reason);
        self.fail(TftpError::BadOption {
            name: printable(name.as_bytes()),
            value: printable(value.as_bytes()),
            reason,
        })
    }

    fn fail(&mut self, error: TftpError) -> TftpError {
        self.phase = Phase::Failed;
        self.pending = None;
        self.deadline = None;
        self.error = Some(error.clone());
        error
    }

    fn datagram(&self, dst: SocketAddrV4, repr: &Repr<'_>) -> Option<Datagram> {
        Some(Datagram {
            src_port: self.config.local_port,
            dst,
            payload: repr.to_vec().ok()?,
        })
    }

    fn queue_error(&mut self, dst: SocketAddrV4, code: ErrorCode, message: &str) {
        if self.stray.len() >= MAX_QUEUED_STRAY {
            return;
        }
        let repr = Repr::Error {
            code,
            message: message.as_bytes(),
        };
        if let Some(datagram) = self.datagram(dst, &repr) {
            self.stray.push_back(datagram);
        }
    }

    fn send_rrq(&mut self, now: Millis) {
        let with_options = matches!(self.phase, Phase::Requesting { with_options: true });
        let blksize = self.config.blksize.map(|b| b.to_string());
        let windowsize = self.config.windowsize.map(|w| w.to_string());
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(3);
        if with_options {
            if let Some(b) = &blksize {
                pairs.push(("blksize", b));
            }
            if let Some(w) = &windowsize {
                pairs.push(("windowsize", w));
            }
            if self.config.request_tsize {
                pairs.push(("tsize", "0"));
            }
        }
        let repr = Repr::ReadRequest {
            filename: self.config.filename.as_bytes(),
            options: OptionList::from_pairs(&pairs),
        };
        self.pending = self.datagram(self.config.server, &repr);
        self.deadline = Some(now.saturating_add(self.config.retransmit_timeout));
    }

    /// A repeat of the block we acknowledged last. If it comes well after our ACK, the
    /// server timed out waiting for that ACK: send it again now rather than at our own
    /// timeout. If it comes right after, it is a duplicate made by the network; answering
    /// it would make a server that resends on every ACK send everything twice from here on
    /// (the "Sorcerer's Apprentice" of RFC 1123 §4.2.3.1), so it is ignored.
    fn reack_duplicate(&mut self, now: Millis, block: u16) {
        if now.saturating_sub(self.last_ack_at) >= self.config.retransmit_timeout / 4 {
            self.send_ack(now, block);
        }
    }

    fn send_ack(&mut self, now: Millis, block: u16) {
        let Some(peer) = self.peer else { return };
        self.pending = self.datagram(peer, &Repr::Ack { block });
        self.last_ack_at = now;
        if self.phase != Phase::Done {
            self.deadline = Some(now.saturating_add(self.config.retransmit_timeout));
        }
    }
}

/// A plain decimal number as RFC 2347 options carry them; `None` for anything else.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, b| {
        let digit = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Server text made safe for a console: control characters (escape sequences!) replaced,
/// length bounded.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(MAX_SERVER_MESSAGE)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;
    use std::boxed::Box;

    const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const SERVER: SocketAddrV4 = SocketAddrV4::new(SERVER_IP, TFTP_PORT);
    const LOCAL_PORT: u16 = 49152;

    fn file_of(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Support {
        /// RFC 2347 options honoured.
        Options,
        /// Options answered with ERROR 8.
        RefuseWithError,
        /// Options silently ignored (RFC 1350 server).
        Ignore,
    }

    /// A TFTP server that answers instantly and never times out itself: every loss must
    /// be recovered by the client's timers or gap ACKs.
    struct FakeServer {
        tid: u16,
        file: Vec<u8>,
        support: Support,
        windowsize_supported: bool,
        /// Reply with ERROR 1 to every request.
        not_found: bool,
        /// Never reply.
        silent: bool,
        /// Extra options to put in the OACK (to test refusal).
        extra_oack: Vec<(String, String)>,
        blksize_bonus: u16,
        blksize: usize,
        window: u64,
        /// Highest block sequence number acknowledged (0: none).
        acked: u64,
        /// Highest block sequence number sent.
        sent_high: u64,
        /// Options of every RRQ received.
        rrqs: Vec<Vec<(String, String)>>,
        /// Block numbers of every ACK received.
        acks: Vec<u16>,
        /// Codes of every ERROR received.
        errors: Vec<u16>,
        data_sent: usize,
        finished: bool,
    }

    impl FakeServer {
        fn new(file: Vec<u8>, support: Support) -> Self {
            FakeServer {
                tid: 40000,
                file,
                support,
                windowsize_supported: true,
                not_found: false,
                silent: false,
                extra_oack: Vec::new(),
                blksize_bonus: 0,
                blksize: 512,
                window: 1,
                acked: 0,
                sent_high: 0,
                rrqs: Vec::new(),
                acks: Vec::new(),
                errors: Vec::new(),
                data_sent: 0,
                finished: false,
            }
        }

        fn addr(&self) -> SocketAddrV4 {
            SocketAddrV4::new(SERVER_IP, self.tid)
        }

        fn total_blocks(&self) -> u64 {
            (self.file.len() / self.blksize) as u64 + 1
        }

        fn data(&mut self, seq: u64) -> Vec<u8> {
            let start = ((seq - 1) as usize) * self.blksize;
            let end = (start + self.blksize).min(self.file.len());
            self.data_sent += 1;
            Repr::Data {
                block: seq as u16,
                data: &self.file[start..end],
            }
            .to_vec()
            .expect("emit DATA")
        }

        fn send_window(&mut self) -> Vec<Vec<u8>> {
            let last = (self.acked + self.window).min(self.total_blocks());
            let out: Vec<Vec<u8>> = (self.acked + 1..=last).map(|s| self.data(s)).collect();
            self.sent_high = self.sent_high.max(last);
            out
        }

        fn receive(&mut self, datagram: &Datagram) -> Vec<Vec<u8>> {
            match Repr::from_bytes(&datagram.payload).expect("client sends valid TFTP") {
                Repr::ReadRequest { filename, options } => {
                    assert_eq!(datagram.dst, SERVER, "requests go to port 69");
                    let options: Vec<(String, String)> = options
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect();
                    self.rrqs.push(options.clone());
                    // Every request gets a fresh TID, like real servers.
                    self.tid += 1;
                    self.acked = 0;
                    self.sent_high = 0;
                    if self.silent {
                        return vec![];
                    }
                    if self.not_found {
                        let text =
                            format!("File '{}' not found", String::from_utf8_lossy(filename));
                        return vec![
                            Repr::Error {
                                code: ErrorCode::FileNotFound,
                                message: text.as_bytes(),
                            }
                            .to_vec()
                            .expect("emit"),
                        ];
                    }
                    if options.is_empty() || self.support == Support::Ignore {
                        self.blksize = 512;
                        self.window = 1;
                        return self.send_window();
                    }
                    if self.support == Support::RefuseWithError {
                        return vec![
                            Repr::Error {
                                code: ErrorCode::OptionNegotiation,
                                message: b"options not supported",
                            }
                            .to_vec()
                            .expect("emit"),
                        ];
                    }
                    let mut accepted: Vec<(String, String)> = Vec::new();
                    for (name, value) in &options {
                        match name.to_ascii_lowercase().as_str() {
                            "blksize" => {
                                let b: u16 = value.parse().expect("number");
                                let b = b + self.blksize_bonus;
                                self.blksize = b.into();
                                accepted.push((name.clone(), b.to_string()));
                            }
                            "windowsize" if self.windowsize_supported => {
                                self.window = value.parse().expect("number");
                                accepted.push((name.clone(), value.clone()));
                            }
                            "tsize" => accepted.push((name.clone(), self.file.len().to_string())),
                            _ => {}
                        }
                    }
                    accepted.extend(self.extra_oack.iter().cloned());
                    let pairs: Vec<(&str, &str)> = accepted
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    vec![
                        Repr::OptionAck {
                            options: OptionList::from_pairs(&pairs),
                        }
                        .to_vec()
                        .expect("emit"),
                    ]
                }
                Repr::Ack { block } => {
                    assert_eq!(datagram.dst, self.addr(), "ACKs go to the server's TID");
                    self.acks.push(block);
                    let seq = self.acked + u64::from(block.wrapping_sub(self.acked as u16));
                    if seq > self.sent_high {
                        return vec![];
                    }
                    if seq == self.total_blocks() {
                        self.finished = true;
                        return vec![];
                    }
                    self.acked = seq;
                    self.send_window()
                }
                Repr::Error { code, .. } => {
                    self.errors.push(code.into());
                    vec![]
                }
                other => panic!("unexpected packet from the client: {other:?}"),
            }
        }
    }

    type Packet = (SocketAddrV4, Vec<u8>);

    /// Connects a client and a fake server through a lossy "network" and a fake clock.
    struct Net {
        client: TftpTransfer,
        server: FakeServer,
        now: Millis,
        /// Server → client: decides what actually arrives (drop, duplicate, inject…).
        down: Box<dyn FnMut(Packet) -> Vec<Packet>>,
        /// Client → server: `false` drops the datagram.
        up: Box<dyn FnMut(&Datagram) -> bool>,
        in_flight: VecDeque<Packet>,
        /// Every datagram the client sent, with the time.
        sent: Vec<(Millis, Datagram)>,
        assembled: Vec<u8>,
    }

    impl Net {
        fn new(config: TftpConfig, server: FakeServer) -> Self {
            Net {
                client: TftpTransfer::new(config, 0).expect("valid config"),
                server,
                now: 0,
                down: Box::new(|p| vec![p]),
                up: Box::new(|_| true),
                in_flight: VecDeque::new(),
                sent: Vec::new(),
                assembled: Vec::new(),
            }
        }

        fn flush_client(&mut self) {
            while let Some(d) = self.client.poll_transmit(self.now) {
                self.sent.push((self.now, d.clone()));
                assert_eq!(d.src_port, LOCAL_PORT);
                let to_server = d.dst.ip() == &SERVER_IP
                    && (d.dst.port() == TFTP_PORT || d.dst.port() == self.server.tid);
                if to_server && (self.up)(&d) {
                    let replies = self.server.receive(&d);
                    let from = self.server.addr();
                    for reply in replies {
                        for p in (self.down)((from, reply)) {
                            self.in_flight.push_back(p);
                        }
                    }
                }
            }
        }

        fn run(&mut self) -> Result<Vec<u8>, TftpError> {
            for _ in 0..2_000_000 {
                self.flush_client();
                if let Some((from, payload)) = self.in_flight.pop_front() {
                    match self.client.handle(self.now, from, &payload) {
                        Ok(Some(chunk)) => {
                            assert_eq!(chunk.offset, self.assembled.len() as u64);
                            self.assembled.extend_from_slice(chunk.data);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.flush_client();
                            return Err(e);
                        }
                    }
                    continue;
                }
                if self.client.is_done() {
                    self.flush_client();
                    return Ok(core::mem::take(&mut self.assembled));
                }
                if let Some(e) = self.client.error() {
                    return Err(e.clone());
                }
                let deadline = self
                    .client
                    .poll_deadline()
                    .expect("a live transfer has a deadline");
                assert!(
                    deadline > self.now,
                    "deadline {deadline} not after {}",
                    self.now
                );
                self.now = deadline;
            }
            panic!("transfer did not end");
        }

        fn client_acks(&self) -> Vec<u16> {
            self.sent
                .iter()
                .filter_map(|(_, d)| match Repr::from_bytes(&d.payload) {
                    Ok(Repr::Ack { block }) => Some(block),
                    _ => None,
                })
                .collect()
        }
    }

    fn config() -> TftpConfig {
        TftpConfig::new(SERVER, "images/vmlinuz", LOCAL_PORT)
    }

    fn block_of(payload: &[u8]) -> Option<u16> {
        match Repr::from_bytes(payload) {
            Ok(Repr::Data { block, .. }) => Some(block),
            _ => None,
        }
    }

    #[test]
    fn plain_rfc1350_transfer() {
        let file = file_of(512 * 5 + 100);
        let mut cfg = config();
        cfg.blksize = None;
        cfg.windowsize = None;
        cfg.request_tsize = false;
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.server.rrqs, vec![vec![]]);
        assert_eq!(net.server.acks, vec![1, 2, 3, 4, 5, 6]);
        assert!(net.server.finished);
        assert_eq!((net.client.blksize(), net.client.windowsize()), (512, 1));
        assert_eq!(net.client.size_hint(), None);
        assert_eq!(net.client.received(), file.len() as u64);
        assert_eq!(net.client.poll_deadline(), None);
        assert_eq!(net.now, 0, "no timeouts needed");
    }

    #[test]
    fn blksize_and_tsize_negotiated() {
        let file = file_of(1432 * 3 + 7);
        let mut cfg = config();
        cfg.windowsize = None;
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        assert_eq!(net.run().expect("transfer"), file);
        let opts = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            net.server.rrqs,
            vec![opts(&[("blksize", "1432"), ("tsize", "0")])]
        );
        assert_eq!(net.server.acks, vec![0, 1, 2, 3, 4]);
        assert_eq!(net.client.blksize(), 1432);
        assert_eq!(net.client.windowsize(), 1);
        assert_eq!(net.client.size_hint(), Some(file.len() as u64));
        assert_eq!(net.client.peer(), Some(net.server.addr()));
    }

    #[test]
    fn windowsize_4_with_a_dropped_block_inside_a_window() {
        let file = file_of(512 * 13 + 1);
        let mut cfg = config();
        cfg.blksize = Some(512);
        cfg.windowsize = Some(4);
        let mut server = FakeServer::new(file.clone(), Support::Options);
        server.windowsize_supported = true;
        let mut net = Net::new(cfg, server);
        let mut dropped = false;
        net.down = Box::new(move |p| {
            if block_of(&p.1) == Some(6) && !dropped {
                dropped = true;
                return vec![];
            }
            vec![p]
        });
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.client.windowsize(), 4);
        // Window 5..8 loses 6: block 7 reveals the gap, ACK 5 (last in order) makes the
        // server restart at 6; block 8 of the broken window is ignored without another ACK.
        assert_eq!(net.server.acks, vec![0, 4, 5, 9, 13, 14]);
        assert_eq!(
            net.now, 0,
            "the gap ACK recovers without waiting for a timeout"
        );
    }

    #[test]
    fn windowsize_4_with_the_last_block_of_a_window_dropped_recovers_by_timeout() {
        let file = file_of(512 * 10 + 3);
        let mut cfg = config();
        cfg.blksize = Some(512);
        cfg.windowsize = Some(4);
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        let mut dropped = false;
        net.down = Box::new(move |p| {
            if block_of(&p.1) == Some(4) && !dropped {
                dropped = true;
                return vec![];
            }
            vec![p]
        });
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.server.acks, vec![0, 3, 7, 11]);
        assert_eq!(net.now, DEFAULT_RETRANSMIT_TIMEOUT);
    }

    #[test]
    fn duplicated_and_reordered_packets() {
        for window in [1u16, 4] {
            let file = file_of(512 * 20 + 17);
            let mut cfg = config();
            cfg.blksize = Some(512);
            cfg.windowsize = Some(window);
            let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
            let mut count = 0;
            let mut held: Option<Packet> = None;
            net.down = Box::new(move |p| {
                count += 1;
                if let Some(h) = held.take() {
                    // Deliver the held packet after this one: a reordering.
                    return vec![p, h];
                }
                match count % 5 {
                    0 => vec![p.clone(), p],
                    2 if block_of(&p.1).is_some_and(|b| b % 4 != 0) => {
                        held = Some(p);
                        vec![]
                    }
                    _ => vec![p],
                }
            });
            assert_eq!(net.run().expect("transfer"), file, "window {window}");
            assert!(
                net.server.data_sent < 3 * 21,
                "window {window}: {} DATA packets for 21 blocks",
                net.server.data_sent
            );
        }
    }

    #[test]
    fn duplicate_of_the_acknowledged_block_is_acknowledged_again() {
        let mut t = TftpTransfer::new(
            TftpConfig {
                windowsize: None,
                ..config()
            },
            0,
        )
        .expect("config");
        let _rrq = t.poll_transmit(0);
        let peer = SocketAddrV4::new(SERVER_IP, 5555);
        let block1 = [&b"\x00\x03\x00\x01"[..], &[1u8; 512]].concat();
        // Server ignores options: DATA 1 of 512 bytes.
        assert!(t.handle(1, peer, &block1).expect("ok").is_some());
        assert_eq!(
            t.poll_transmit(1).expect("ack").payload,
            b"\x00\x04\x00\x01"
        );
        // An immediate copy is the network's: no second ACK.
        assert_eq!(t.handle(2, peer, &block1), Ok(None));
        assert_eq!(t.poll_transmit(2), None);
        // A late copy is the server's retransmission (our ACK got lost): ACK again.
        assert_eq!(t.handle(600, peer, &block1), Ok(None));
        assert_eq!(
            t.poll_transmit(600).expect("re-ack").payload,
            b"\x00\x04\x00\x01"
        );
        // Final block, then its late duplicate after done: re-ACK.
        assert!(
            t.handle(700, peer, b"\x00\x03\x00\x02end")
                .expect("ok")
                .is_some()
        );
        assert!(t.is_done());
        assert_eq!(
            t.poll_transmit(700).expect("ack").payload,
            b"\x00\x04\x00\x02"
        );
        assert_eq!(t.handle(701, peer, b"\x00\x03\x00\x02end"), Ok(None));
        assert_eq!(t.poll_transmit(701), None);
        assert_eq!(t.handle(2000, peer, b"\x00\x03\x00\x02end"), Ok(None));
        assert_eq!(
            t.poll_transmit(2000).expect("re-ack").payload,
            b"\x00\x04\x00\x02"
        );
        assert_eq!(t.poll_transmit(5000), None);
    }

    #[test]
    fn wrong_tid_gets_error_5_and_is_otherwise_ignored() {
        let file = file_of(512 * 6 + 10);
        let mut cfg = config();
        cfg.blksize = None;
        cfg.windowsize = None;
        cfg.request_tsize = false;
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        let intruder = SocketAddrV4::new(SERVER_IP, 6666);
        let stranger = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 9), 40001);
        net.down = Box::new(move |p| {
            if block_of(&p.1) == Some(3) {
                let fake = Repr::Data {
                    block: 4,
                    data: &[0xEE; 512],
                }
                .to_vec()
                .expect("emit");
                let err = Repr::Error {
                    code: ErrorCode::FileNotFound,
                    message: b"spoof",
                }
                .to_vec()
                .expect("emit");
                return vec![
                    (intruder, fake.clone()),
                    (stranger, fake),
                    (intruder, err),
                    p,
                ];
            }
            vec![p]
        });
        assert_eq!(net.run().expect("transfer"), file);
        let errors: Vec<(SocketAddrV4, Vec<u8>)> = net
            .sent
            .iter()
            .filter(|(_, d)| d.payload.starts_with(&[0, 5]))
            .map(|(_, d)| (d.dst, d.payload.clone()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (
                    intruder,
                    b"\x00\x05\x00\x05Unknown transfer ID\x00".to_vec()
                ),
                (
                    stranger,
                    b"\x00\x05\x00\x05Unknown transfer ID\x00".to_vec()
                ),
            ],
            "one ERROR 5 per intruding DATA, none in reply to an ERROR"
        );
    }

    #[test]
    fn error_8_from_server_retries_without_options() {
        let file = file_of(512 * 2 + 1);
        let mut net = Net::new(
            config(),
            FakeServer::new(file.clone(), Support::RefuseWithError),
        );
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.server.rrqs.len(), 2);
        assert_eq!(net.server.rrqs[0].len(), 3, "blksize, windowsize, tsize");
        assert!(
            net.server.rrqs[1].is_empty(),
            "second request without options"
        );
        assert_eq!(net.client.blksize(), 512);
        assert_eq!(net.client.size_hint(), None);
    }

    #[test]
    fn data_without_oack_falls_back_to_512_lock_step() {
        let file = file_of(512 * 4 + 99);
        let mut net = Net::new(config(), FakeServer::new(file.clone(), Support::Ignore));
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.server.rrqs.len(), 1);
        assert_eq!((net.client.blksize(), net.client.windowsize()), (512, 1));
        assert_eq!(net.server.acks, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn zero_length_last_block() {
        let file = file_of(1432 * 3);
        let mut cfg = config();
        cfg.windowsize = Some(2);
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.server.acks, vec![0, 2, 4]);
        assert!(net.server.finished);
    }

    #[test]
    fn block_numbers_roll_over_past_65535() {
        // blksize 8 and 65,540 full blocks: numbers run 1..=65535, 0, 1, 2, 3, 4 (+ last).
        let blocks = 65_540usize;
        let file = file_of(8 * blocks + 5);
        let mut cfg = config();
        cfg.blksize = Some(8);
        cfg.windowsize = Some(64);
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        // Lose block 0 (the 65,536th) once, right at the wrap.
        let mut dropped = false;
        net.down = Box::new(move |p| {
            if block_of(&p.1) == Some(0) && !dropped {
                dropped = true;
                return vec![];
            }
            vec![p]
        });
        let got = net.run().expect("transfer");
        assert_eq!(got.len(), file.len());
        assert!(got == file, "content differs");
        assert!(net.server.finished);
        let acks = net.server.acks;
        assert!(acks.contains(&65535), "the gap ACK before the wrap");
        assert_eq!(acks.last(), Some(&((blocks + 1) as u16)));
    }

    #[test]
    fn timeout_after_retries_with_a_clear_message() {
        let mut server = FakeServer::new(file_of(10), Support::Options);
        server.silent = true;
        let mut cfg = config();
        cfg.max_retries = 3;
        cfg.retransmit_timeout = 500;
        let mut net = Net::new(cfg, server);
        let err = net.run().expect_err("no server");
        assert_eq!(net.server.rrqs.len(), 4, "first try + 3 retries");
        assert_eq!(net.now, 4 * 500);
        let text = format!("{err}");
        assert!(
            text.starts_with(
                "TFTP timeout: no reply from 192.0.2.1:69 for images/vmlinuz after 3 retries"
            ),
            "{text}"
        );
        assert_eq!(net.client.poll_deadline(), None);
        assert_eq!(net.client.poll_transmit(net.now + 10_000), None);
        assert_eq!(net.client.handle(0, SERVER, b"\x00\x03\x00\x01"), Err(err));
    }

    #[test]
    fn lost_acks_are_retransmitted_on_timeout() {
        let file = file_of(1432 * 2 + 5);
        let mut cfg = config();
        cfg.windowsize = None;
        let mut net = Net::new(cfg, FakeServer::new(file.clone(), Support::Options));
        let mut lost = 0;
        // Lose ACK 0 twice and ACK 2 once.
        net.up = Box::new(move |d| {
            let block = match Repr::from_bytes(&d.payload) {
                Ok(Repr::Ack { block }) => block,
                _ => return true,
            };
            if (block == 0 && lost < 2) || (block == 2 && lost == 2) {
                lost += 1;
                return false;
            }
            true
        });
        assert_eq!(net.run().expect("transfer"), file);
        assert_eq!(net.client_acks(), vec![0, 0, 0, 1, 2, 2, 3]);
        assert_eq!(net.now, 3 * DEFAULT_RETRANSMIT_TIMEOUT);
    }

    #[test]
    fn stalled_transfer_times_out() {
        let file = file_of(1432 * 4);
        let mut cfg = config();
        cfg.windowsize = None;
        cfg.max_retries = 2;
        let mut net = Net::new(cfg, FakeServer::new(file, Support::Options));
        // The server goes away after block 2.
        net.down = Box::new(|p| match block_of(&p.1) {
            Some(b) if b >= 3 => vec![],
            _ => vec![p],
        });
        let err = net.run().expect_err("stall");
        assert!(matches!(
            err,
            TftpError::Timeout {
                started: true,
                retries: 2,
                ..
            }
        ));
        assert_eq!(net.assembled.len(), 1432 * 2);
        assert!(format!("{err}").contains("stalled"), "{err}");
    }

    #[test]
    fn overall_timeout() {
        let mut server = FakeServer::new(file_of(10), Support::Options);
        server.silent = true;
        let mut cfg = config();
        cfg.overall_timeout = Some(2500);
        cfg.max_retries = 100;
        let mut net = Net::new(cfg, server);
        let err = net.run().expect_err("limit");
        assert_eq!(
            err,
            TftpError::TransferTimeout {
                filename: "images/vmlinuz".into(),
                limit: 2500
            }
        );
        assert_eq!(net.now, 2500);
    }

    #[test]
    fn server_error_1_surfaces_its_text() {
        let mut server = FakeServer::new(vec![], Support::Options);
        server.not_found = true;
        let mut net = Net::new(config(), server);
        let err = net.run().expect_err("not found");
        assert_eq!(
            err,
            TftpError::Server {
                code: ErrorCode::FileNotFound,
                message: "File 'images/vmlinuz' not found".into(),
            }
        );
        let text = format!("{err}");
        assert!(
            text.starts_with("TFTP error 1 (File not found): File 'images/vmlinuz' not found"),
            "{text}"
        );
        assert!(net.server.errors.is_empty(), "no reply to an ERROR");
    }

    #[test]
    fn server_text_is_sanitised() {
        let mut t = TftpTransfer::new(config(), 0).expect("config");
        let _ = t.poll_transmit(0);
        let long = [&b"\x00\x05\x00\x02\x1b[2Jbad\xff"[..], &[b'x'; 1000]].concat();
        let err = t.handle(1, SERVER, &long).expect_err("error");
        let TftpError::Server { code, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(code, ErrorCode::AccessViolation);
        assert!(message.starts_with("?[2Jbad\u{FFFD}xx"), "{message}");
        assert_eq!(message.chars().count(), MAX_SERVER_MESSAGE);
    }

    fn oack_test(extra: &[(&str, &str)], bonus: u16) -> (TftpError, Vec<u16>) {
        let mut server = FakeServer::new(file_of(3000), Support::Options);
        server.extra_oack = extra
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        server.blksize_bonus = bonus;
        let mut net = Net::new(config(), server);
        let err = net.run().expect_err("refused");
        (err, net.server.errors)
    }

    #[test]
    fn oack_with_unrequested_or_larger_options_is_refused_with_error_8() {
        let (err, errors) = oack_test(&[("timeout", "5")], 0);
        assert!(
            matches!(&err, TftpError::BadOption { name, reason: "option not requested", .. } if name == "timeout"),
            "{err:?}"
        );
        assert_eq!(errors, vec![8]);
        let (err, errors) = oack_test(&[], 1);
        assert!(
            matches!(&err, TftpError::BadOption { value, reason: "value larger than requested", .. } if value == "1433"),
            "{err:?}"
        );
        assert_eq!(errors, vec![8]);
        let (err, _) = oack_test(&[("BLKSIZE", "512")], 0);
        assert!(matches!(
            err,
            TftpError::BadOption {
                reason: "option repeated",
                ..
            }
        ));
        assert_eq!(
            format!("{err}"),
            "TFTP: server answered option BLKSIZE=512: option repeated"
        );
    }

    fn handshake(cfg: TftpConfig, oack: &[u8]) -> (TftpTransfer, Result<(), TftpError>) {
        let mut t = TftpTransfer::new(cfg, 0).expect("config");
        let _rrq = t.poll_transmit(0).expect("rrq");
        let from = SocketAddrV4::new(SERVER_IP, 7000);
        let r = t.handle(1, from, oack).map(|c| assert_eq!(c, None));
        (t, r)
    }

    #[test]
    fn oack_values_are_checked() {
        let bad: &[&[u8]] = &[
            b"\x00\x06blksize\x007\x00",
            b"\x00\x06blksize\x00-1\x00",
            b"\x00\x06blksize\x00 512\x00",
            b"\x00\x06blksize\x00\x00",
            b"\x00\x06windowsize\x000\x00",
            b"\x00\x06windowsize\x0017\x00",
            b"\x00\x06tsize\x0099999999999999999999999\x00",
        ];
        for oack in bad {
            let (mut t, r) = handshake(config(), oack);
            assert!(
                matches!(r, Err(TftpError::BadOption { .. })),
                "{oack:?}: {r:?}"
            );
            let reply = t.poll_transmit(2).expect("ERROR 8");
            assert_eq!(&reply.payload[..4], b"\x00\x05\x00\x08");
        }
        // Options we did not ask for at all.
        let mut cfg = config();
        cfg.windowsize = None;
        let (_, r) = handshake(cfg, b"\x00\x06windowsize\x004\x00");
        assert!(matches!(r, Err(TftpError::BadOption { .. })));
        // Smaller values and case-insensitive names are fine; missing options → defaults.
        let (t, r) = handshake(config(), b"\x00\x06BlkSize\x001024\x00WINDOWSIZE\x002\x00");
        assert_eq!(r, Ok(()));
        assert_eq!(
            (t.blksize(), t.windowsize(), t.size_hint()),
            (1024, 2, None)
        );
        let (t, r) = handshake(config(), b"\x00\x06");
        assert_eq!(r, Ok(()));
        assert_eq!((t.blksize(), t.windowsize()), (512, 1));
    }

    #[test]
    fn tsize_over_the_limit_is_refused() {
        let mut cfg = config();
        cfg.max_size = 1000;
        let (mut t, r) = handshake(cfg, b"\x00\x06tsize\x001001\x00");
        assert_eq!(
            r,
            Err(TftpError::TooLarge {
                size: 1001,
                limit: 1000
            })
        );
        assert_eq!(
            &t.poll_transmit(2).expect("ERROR").payload[..4],
            b"\x00\x05\x00\x03"
        );
        assert!(format!("{}", t.error().expect("failed")).contains("too large"));
    }

    #[test]
    fn data_over_the_limit_without_tsize_is_refused() {
        let file = file_of(5000);
        let mut cfg = config();
        cfg.max_size = 4000;
        cfg.request_tsize = false;
        let mut net = Net::new(cfg, FakeServer::new(file, Support::Options));
        let err = net.run().expect_err("too large");
        assert!(
            matches!(err, TftpError::TooLarge { limit: 4000, .. }),
            "{err:?}"
        );
        assert_eq!(net.assembled.len(), 1432 * 2);
        assert_eq!(net.server.errors, vec![3]);
    }

    #[test]
    fn repeated_oack_is_acknowledged_again() {
        let (mut t, r) = handshake(config(), b"\x00\x06blksize\x00512\x00");
        assert_eq!(r, Ok(()));
        let from = SocketAddrV4::new(SERVER_IP, 7000);
        assert_eq!(
            t.poll_transmit(1).expect("ack 0").payload,
            b"\x00\x04\x00\x00"
        );
        assert_eq!(t.handle(2, from, b"\x00\x06blksize\x00512\x00"), Ok(None));
        assert_eq!(
            t.poll_transmit(2).expect("ack 0").payload,
            b"\x00\x04\x00\x00"
        );
        assert_eq!(t.blksize(), 512);
    }

    #[test]
    fn oack_after_a_plain_request_is_refused() {
        let mut cfg = config();
        cfg.blksize = None;
        cfg.windowsize = None;
        cfg.request_tsize = false;
        let (_, r) = handshake(cfg, b"\x00\x06blksize\x00512\x00");
        assert!(matches!(
            r,
            Err(TftpError::BadOption {
                reason: "option not requested",
                ..
            })
        ));
    }

    #[test]
    fn malformed_or_unexpected_packets_from_the_server_fail_cleanly() {
        let cases: &[&[u8]] = &[
            b"\x00",
            b"\x00\x09xx",
            b"\x00\x06blksize",
            b"\x00\x04\x00\x01",
        ];
        for bad in cases {
            let mut t = TftpTransfer::new(config(), 0).expect("config");
            let _ = t.poll_transmit(0);
            let r = t.handle(1, SERVER, bad);
            assert!(
                matches!(r, Err(TftpError::Malformed(_) | TftpError::Protocol { .. })),
                "{bad:?}: {r:?}"
            );
            assert_eq!(
                &t.poll_transmit(1).expect("ERROR 4").payload[..4],
                b"\x00\x05\x00\x04"
            );
        }
        // Oversized block.
        let (mut t, r) = handshake(config(), b"\x00\x06blksize\x00512\x00");
        assert_eq!(r, Ok(()));
        let _ = t.poll_transmit(1);
        let big = [&b"\x00\x03\x00\x01"[..], &[0u8; 513]].concat();
        let from = SocketAddrV4::new(SERVER_IP, 7000);
        assert!(matches!(
            t.handle(2, from, &big),
            Err(TftpError::Protocol { .. })
        ));
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        let bad = [
            TftpConfig {
                filename: String::new(),
                ..config()
            },
            TftpConfig {
                filename: "a\0b".into(),
                ..config()
            },
            TftpConfig {
                blksize: Some(7),
                ..config()
            },
            TftpConfig {
                blksize: Some(65465),
                ..config()
            },
            TftpConfig {
                windowsize: Some(0),
                ..config()
            },
            TftpConfig {
                retransmit_timeout: 0,
                ..config()
            },
        ];
        for cfg in bad {
            assert!(matches!(
                TftpTransfer::new(cfg, 0),
                Err(TftpError::InvalidConfig { .. })
            ));
        }
    }

    #[test]
    fn config_from_uri() {
        let uri = Uri::parse("tftp://boot.example:1069//abs/file%20name.efi").expect("uri");
        let cfg = TftpConfig::from_uri(&uri, SERVER_IP, 5000).expect("tftp");
        assert_eq!(cfg.server, SocketAddrV4::new(SERVER_IP, 1069));
        assert_eq!(cfg.filename, "/abs/file name.efi");
        let uri = Uri::parse("tftp://10.0.0.1/pxelinux.0").expect("uri");
        let cfg = TftpConfig::from_uri(&uri, SERVER_IP, 5000).expect("tftp");
        assert_eq!(
            (cfg.server.port(), cfg.filename.as_str()),
            (69, "pxelinux.0")
        );
        let uri = Uri::parse("http://10.0.0.1/x").expect("uri");
        assert!(TftpConfig::from_uri(&uri, SERVER_IP, 5000).is_err());
    }
}
