//! TFTP packets: RFC 1350, with the option extension (RFC 2347 OACK) used by `blksize`
//! (RFC 2348), `tsize` (RFC 2349) and `windowsize` (RFC 7440).
//!
//! [`Packet`] is a checked view over a buffer; [`Repr`] parses it into borrowed fields and
//! emits it back. Parsing never panics and never copies payload bytes: a `DATA` payload is a
//! slice of the input.
//!
//! ```
//! use netboot_core::wire::tftp::{OptionList, Repr};
//!
//! let rrq = Repr::ReadRequest {
//!     filename: b"pxelinux.0",
//!     options: OptionList::from_pairs(&[("blksize", "1432"), ("tsize", "0")]),
//! };
//! let bytes = rrq.to_vec().expect("no NUL in the fields");
//! assert_eq!(&bytes[..4], b"\x00\x01px");
//! assert_eq!(Repr::from_bytes(&bytes), Ok(rrq));
//! ```

use alloc::vec::Vec;
use core::fmt;

/// Byte offsets of the fixed fields (the rest is NUL-terminated strings or payload).
mod field {
    use core::ops::Range;
    pub const OPCODE: Range<usize> = 0..2;
    /// Block number of DATA/ACK, error code of ERROR.
    pub const BLOCK: Range<usize> = 2..4;
    /// DATA payload and ERROR message start here.
    pub const PAYLOAD: usize = 4;
    /// RRQ/WRQ/OACK strings start right after the opcode.
    pub const STRINGS: usize = 2;
}

/// The block size every server uses when no `blksize` option was negotiated (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// The smallest `blksize` RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// The largest `blksize` RFC 2348 allows (a 64 KiB IP datagram minus headers).
pub const MAX_BLKSIZE: u16 = 65464;
/// The only transfer mode netboot sends: raw bytes.
pub const MODE_OCTET: &str = "octet";

/// A TFTP operation code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// 1: read request.
    ReadRequest,
    /// 2: write request.
    WriteRequest,
    /// 3: a block of file data.
    Data,
    /// 4: acknowledgement of a block.
    Ack,
    /// 5: error; ends the transfer.
    Error,
    /// 6: option acknowledgement (RFC 2347).
    OptionAck,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for Opcode {
    fn from(value: u16) -> Self {
        match value {
            1 => Opcode::ReadRequest,
            2 => Opcode::WriteRequest,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::OptionAck,
            other => Opcode::Unknown(other),
        }
    }
}

impl From<Opcode> for u16 {
    fn from(value: Opcode) -> Self {
        match value {
            Opcode::ReadRequest => 1,
            Opcode::WriteRequest => 2,
            Opcode::Data => 3,
            Opcode::Ack => 4,
            Opcode::Error => 5,
            Opcode::OptionAck => 6,
            Opcode::Unknown(other) => other,
        }
    }
}

/// The error code of an `ERROR` packet (RFC 1350, plus 8 from RFC 2347).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    Undefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID (a packet from a port that is not part of the transfer).
    UnknownTransferId,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: the transfer is terminated during option negotiation (RFC 2347).
    OptionNegotiation,
    /// A code no RFC defines.
    Unknown(u16),
}

impl ErrorCode {
    /// The RFC's name for the code, for messages such as `TFTP error 1 (File not found)`.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Undefined => "Not defined",
            ErrorCode::FileNotFound => "File not found",
            ErrorCode::AccessViolation => "Access violation",
            ErrorCode::DiskFull => "Disk full or allocation exceeded",
            ErrorCode::IllegalOperation => "Illegal TFTP operation",
            ErrorCode::UnknownTransferId => "Unknown transfer ID",
            ErrorCode::FileExists => "File already exists",
            ErrorCode::NoSuchUser => "No such user",
            ErrorCode::OptionNegotiation => "Option negotiation failed",
            ErrorCode::Unknown(_) => "Unknown error code",
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(value: u16) -> Self {
        match value {
            0 => ErrorCode::Undefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionNegotiation,
            other => ErrorCode::Unknown(other),
        }
    }
}

impl From<ErrorCode> for u16 {
    fn from(value: ErrorCode) -> Self {
        match value {
            ErrorCode::Undefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTransferId => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionNegotiation => 8,
            ErrorCode::Unknown(other) => other,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", u16::from(*self), self.name())
    }
}

/// Why a buffer is not a valid TFTP packet, or why a [`Repr`] cannot be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The packet ends before its fixed fields do.
    Truncated,
    /// The opcode is not one RFC 1350 or RFC 2347 defines.
    UnknownOpcode(u16),
    /// A filename, mode or option string is not terminated by a NUL byte.
    MissingNul,
    /// The transfer mode is not `octet`, `netascii` or `mail`.
    UnknownMode,
    /// A mode or option is not valid UTF-8.
    NotUtf8,
    /// An option has an empty name.
    EmptyOptionName,
    /// The last option has a name but no value.
    MissingOptionValue,
    /// Emitting: the buffer is smaller than [`Repr::buffer_len`].
    BufferTooSmall,
    /// Emitting: a string field contains a NUL byte, which would end it early on the wire.
    EmbeddedNul,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated TFTP packet"),
            Error::UnknownOpcode(op) => write!(f, "unknown TFTP opcode {op}"),
            Error::MissingNul => f.write_str("TFTP string field without terminating NUL"),
            Error::UnknownMode => f.write_str("unknown TFTP transfer mode"),
            Error::NotUtf8 => f.write_str("TFTP mode or option is not UTF-8"),
            Error::EmptyOptionName => f.write_str("TFTP option with an empty name"),
            Error::MissingOptionValue => f.write_str("TFTP option without a value"),
            Error::BufferTooSmall => f.write_str("buffer too small for the TFTP packet"),
            Error::EmbeddedNul => f.write_str("TFTP string field contains a NUL byte"),
        }
    }
}

/// The result type of this module.
pub type Result<T> = core::result::Result<T, Error>;

/// A transfer mode (RFC 1350 §5). Compared case-insensitively on parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `octet`: raw bytes. The only mode netboot requests.
    Octet,
    /// `netascii`: text with CR LF line ends.
    NetAscii,
    /// `mail`: obsolete.
    Mail,
}

impl Mode {
    /// The mode as sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => MODE_OCTET,
            Mode::NetAscii => "netascii",
            Mode::Mail => "mail",
        }
    }

    fn parse(text: &str) -> Result<Mode> {
        [Mode::Octet, Mode::NetAscii, Mode::Mail]
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text))
            .ok_or(Error::UnknownMode)
    }
}

/// A checked view over a buffer holding one TFTP packet.
///
/// `new_checked` guarantees the opcode is present and, for DATA, ACK and ERROR, the
/// two-byte block number or error code; the accessors never panic either way.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking its length against its opcode.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed fields the opcode implies are present.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPCODE.end {
            return Err(Error::Truncated);
        }
        match self.opcode() {
            Opcode::Data | Opcode::Ack | Opcode::Error if len < field::PAYLOAD => {
                Err(Error::Truncated)
            }
            _ => Ok(()),
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        match self.buffer.as_ref().get(range) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }

    /// The opcode (0, which is unknown, if the buffer is too short).
    pub fn opcode(&self) -> Opcode {
        Opcode::from(self.u16_at(field::OPCODE))
    }

    /// The block number of DATA and ACK packets, the error code of ERROR packets.
    pub fn block_number(&self) -> u16 {
        self.u16_at(field::BLOCK)
    }

    /// The bytes after the block number: DATA payload or ERROR message.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::PAYLOAD..)
            .unwrap_or_default()
    }

    /// The bytes after the opcode: the NUL-terminated strings of RRQ, WRQ and OACK.
    pub fn strings(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::STRINGS..)
            .unwrap_or_default()
    }
}

/// Splits one NUL-terminated string off the front of `bytes`.
fn take_cstr(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(Error::MissingNul)?;
    // `nul < bytes.len()`, so both halves exist; `split_at` cannot panic here, but
    // `get` keeps the no-panic property obvious.
    match (bytes.get(..nul), bytes.get(nul + 1..)) {
        (Some(s), Some(rest)) => Ok((s, rest)),
        _ => Err(Error::MissingNul),
    }
}

fn take_str(bytes: &[u8]) -> Result<(&str, &[u8])> {
    let (s, rest) = take_cstr(bytes)?;
    let s = core::str::from_utf8(s).map_err(|_| Error::NotUtf8)?;
    Ok((s, rest))
}

/// The `name\0value\0` pairs of a request or OACK, in the order they appear.
///
/// Either a validated slice of a received packet or a slice of pairs to emit; both
/// iterate the same way. Names are matched case-insensitively ([`OptionList::get`]).
#[derive(Clone, Copy)]
pub struct OptionList<'a> {
    inner: OptionsInner<'a>,
}

#[derive(Clone, Copy)]
enum OptionsInner<'a> {
    /// Wire bytes already checked by [`OptionList::parse`].
    Wire(&'a [u8]),
    Pairs(&'a [(&'a str, &'a str)]),
}

impl<'a> OptionList<'a> {
    /// No options.
    pub const fn empty() -> OptionList<'static> {
        OptionList {
            inner: OptionsInner::Pairs(&[]),
        }
    }

    /// Options to emit, in this order.
    pub const fn from_pairs(pairs: &'a [(&'a str, &'a str)]) -> OptionList<'a> {
        OptionList {
            inner: OptionsInner::Pairs(pairs),
        }
    }

    /// Validates the option area of a packet: pairs of non-empty UTF-8 name and UTF-8
    /// value, each NUL-terminated, nothing after the last pair.
    pub fn parse(bytes: &'a [u8]) -> Result<OptionList<'a>> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (name, after_name) = take_str(rest)?;
            if name.is_empty() {
                return Err(Error::EmptyOptionName);
            }
            if after_name.is_empty() {
                return Err(Error::MissingOptionValue);
            }
            let (_value, after_value) = take_str(after_name)?;
            rest = after_value;
        }
        Ok(OptionList {
            inner: OptionsInner::Wire(bytes),
        })
    }

    /// Iterates the `(name, value)` pairs in order.
    pub fn iter(&self) -> OptionIter<'a> {
        OptionIter { inner: self.inner }
    }

    /// The number of options.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The value of the first option called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn wire_len(&self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len() + 2).sum()
    }
}

impl fmt::Debug for OptionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for OptionList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for OptionList<'_> {}

/// Iterator over the pairs of an [`OptionList`].
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    inner: OptionsInner<'a>,
}

impl fmt::Debug for OptionsInner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsInner::Wire(bytes) => write!(f, "Wire({} bytes)", bytes.len()),
            OptionsInner::Pairs(pairs) => write!(f, "Pairs({})", pairs.len()),
        }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            OptionsInner::Pairs(pairs) => {
                let (first, rest) = pairs.split_first()?;
                *pairs = rest;
                Some(*first)
            }
            OptionsInner::Wire(bytes) => {
                // Validated by `OptionList::parse`; a failure here just ends the iteration.
                let (name, rest) = take_str(bytes).ok()?;
                let (value, rest) = take_str(rest).ok()?;
                *bytes = rest;
                Some((name, value))
            }
        }
    }
}

/// A parsed TFTP packet, borrowing from the buffer it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr<'a> {
    /// RRQ: read `filename` in octet mode, proposing `options`.
    ReadRequest {
        /// File name as sent (TFTP does not define an encoding).
        filename: &'a [u8],
        /// Proposed options, in order.
        options: OptionList<'a>,
    },
    /// A request in a mode other than octet, or a write request; parsed so a server-side
    /// test or tool can see it, never sent by the client.
    Request {
        /// [`Opcode::ReadRequest`] or [`Opcode::WriteRequest`].
        opcode: Opcode,
        /// File name as sent.
        filename: &'a [u8],
        /// Transfer mode.
        mode: Mode,
        /// Proposed options, in order.
        options: OptionList<'a>,
    },
    /// DATA: block `block` of the file; the last block is shorter than the block size.
    Data {
        /// Block number (wraps after 65535).
        block: u16,
        /// The payload, borrowed from the packet.
        data: &'a [u8],
    },
    /// ACK of block `block` (0 acknowledges an OACK).
    Ack {
        /// Block number acknowledged.
        block: u16,
    },
    /// ERROR: the transfer ends.
    Error {
        /// Error code.
        code: ErrorCode,
        /// Human-readable text (any bytes; usually ASCII).
        message: &'a [u8],
    },
    /// OACK: the options the server accepted, with its values.
    OptionAck {
        /// Accepted options, in order.
        options: OptionList<'a>,
    },
}

impl<'a> Repr<'a> {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        let buffer: &'a [u8] = T::as_ref(packet.buffer);
        let tail = |start: usize| buffer.get(start..).unwrap_or_default();
        match packet.opcode() {
            opcode @ (Opcode::ReadRequest | Opcode::WriteRequest) => {
                let (filename, rest) = take_cstr(tail(field::STRINGS))?;
                let (mode, rest) = take_str(rest)?;
                let mode = Mode::parse(mode)?;
                let options = OptionList::parse(rest)?;
                if opcode == Opcode::ReadRequest && mode == Mode::Octet {
                    Ok(Repr::ReadRequest { filename, options })
                } else {
                    Ok(Repr::Request {
                        opcode,
                        filename,
                        mode,
                        options,
                    })
                }
            }
            Opcode::Data => Ok(Repr::Data {
                block: packet.block_number(),
                data: tail(field::PAYLOAD),
            }),
            // Trailing bytes after an ACK are tolerated: some stacks pad short frames.
            Opcode::Ack => Ok(Repr::Ack {
                block: packet.block_number(),
            }),
            Opcode::Error => {
                let text = tail(field::PAYLOAD);
                // A missing NUL is tolerated here on purpose: the server's explanation is
                // worth more to the user than strictness about the packet that ends the
                // transfer anyway.
                let message = match take_cstr(text) {
                    Ok((message, _)) => message,
                    Err(_) => text,
                };
                Ok(Repr::Error {
                    code: ErrorCode::from(packet.block_number()),
                    message,
                })
            }
            Opcode::OptionAck => Ok(Repr::OptionAck {
                options: OptionList::parse(tail(field::STRINGS))?,
            }),
            Opcode::Unknown(op) => Err(Error::UnknownOpcode(op)),
        }
    }

    /// Checks and parses a raw UDP payload.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Repr<'a>> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    /// The opcode this packet is sent with.
    pub fn opcode(&self) -> Opcode {
        match self {
            Repr::ReadRequest { .. } => Opcode::ReadRequest,
            Repr::Request { opcode, .. } => *opcode,
            Repr::Data { .. } => Opcode::Data,
            Repr::Ack { .. } => Opcode::Ack,
            Repr::Error { .. } => Opcode::Error,
            Repr::OptionAck { .. } => Opcode::OptionAck,
        }
    }

    /// The number of bytes [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::STRINGS
            + match self {
                Repr::ReadRequest { filename, options } => {
                    filename.len() + MODE_OCTET.len() + 2 + options.wire_len()
                }
                Repr::Request {
                    filename,
                    mode,
                    options,
                    ..
                } => filename.len() + mode.as_str().len() + 2 + options.wire_len(),
                Repr::Data { data, .. } => 2 + data.len(),
                Repr::Ack { .. } => 2,
                Repr::Error { message, .. } => 2 + message.len() + 1,
                Repr::OptionAck { options } => options.wire_len(),
            }
    }

    /// Writes the packet to the front of `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut w = Writer { out, pos: 0 };
        w.put(&u16::from(self.opcode()).to_be_bytes());
        match self {
            Repr::ReadRequest { filename, options } => {
                w.put_cstr(filename)?;
                w.put_cstr(MODE_OCTET.as_bytes())?;
                w.put_options(options)?;
            }
            Repr::Request {
                filename,
                mode,
                options,
                ..
            } => {
                w.put_cstr(filename)?;
                w.put_cstr(mode.as_str().as_bytes())?;
                w.put_options(options)?;
            }
            Repr::Data { block, data } => {
                w.put(&block.to_be_bytes());
                w.put(data);
            }
            Repr::Ack { block } => w.put(&block.to_be_bytes()),
            Repr::Error { code, message } => {
                w.put(&u16::from(*code).to_be_bytes());
                w.put_cstr(message)?;
            }
            Repr::OptionAck { options } => w.put_options(options)?,
        }
        Ok(len)
    }

    /// Emits into a new vector of exactly [`Repr::buffer_len`] bytes.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut buf = alloc::vec![0; self.buffer_len()];
        self.emit(&mut buf)?;
        Ok(buf)
    }
}

/// Appends to a buffer presized by `buffer_len`.
struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        // `buffer_len` sized `out`, so this always fits; `get_mut` keeps a bug from panicking.
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    fn put_cstr(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.contains(&0) {
            return Err(Error::EmbeddedNul);
        }
        self.put(bytes);
        self.put(&[0]);
        Ok(())
    }

    fn put_options(&mut self, options: &OptionList<'_>) -> Result<()> {
        for (name, value) in options.iter() {
            if name.is_empty() {
                return Err(Error::EmptyOptionName);
            }
            self.put_cstr(name.as_bytes())?;
            self.put_cstr(value.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(repr: Repr<'_>, bytes: &[u8]) {
        assert_eq!(repr.buffer_len(), bytes.len());
        assert_eq!(repr.to_vec().expect("emit").as_slice(), bytes);
        assert_eq!(Repr::from_bytes(bytes), Ok(repr));
    }

    #[test]
    fn rrq_with_options_round_trips() {
        let pairs = [("blksize", "1432"), ("tsize", "0"), ("windowsize", "16")];
        round_trip(
            Repr::ReadRequest {
                filename: b"boot/pxelinux.0",
                options: OptionList::from_pairs(&pairs),
            },
            b"\x00\x01boot/pxelinux.0\x00octet\x00blksize\x001432\x00tsize\x000\x00windowsize\x0016\x00",
        );
    }

    #[test]
    fn rrq_without_options_round_trips() {
        round_trip(
            Repr::ReadRequest {
                filename: b"f",
                options: OptionList::empty(),
            },
            b"\x00\x01f\x00octet\x00",
        );
    }

    #[test]
    fn rrq_mode_is_case_insensitive_and_other_modes_parse() {
        let repr = Repr::from_bytes(b"\x00\x01f\x00OcTeT\x00").expect("parse");
        assert!(matches!(repr, Repr::ReadRequest { filename: b"f", .. }));
        let repr = Repr::from_bytes(b"\x00\x02f\x00netascii\x00").expect("parse");
        assert_eq!(
            repr,
            Repr::Request {
                opcode: Opcode::WriteRequest,
                filename: b"f",
                mode: Mode::NetAscii,
                options: OptionList::empty(),
            }
        );
        round_trip(repr, b"\x00\x02f\x00netascii\x00");
    }

    #[test]
    fn data_ack_error_oack_round_trip() {
        round_trip(
            Repr::Data {
                block: 0x1234,
                data: b"hello",
            },
            b"\x00\x03\x12\x34hello",
        );
        round_trip(
            Repr::Data {
                block: 65535,
                data: b"",
            },
            b"\x00\x03\xff\xff",
        );
        round_trip(Repr::Ack { block: 7 }, b"\x00\x04\x00\x07");
        round_trip(
            Repr::Error {
                code: ErrorCode::FileNotFound,
                message: b"no such file",
            },
            b"\x00\x05\x00\x01no such file\x00",
        );
        round_trip(
            Repr::OptionAck {
                options: OptionList::from_pairs(&[("blksize", "1400"), ("tsize", "99")]),
            },
            b"\x00\x06blksize\x001400\x00tsize\x0099\x00",
        );
        round_trip(
            Repr::OptionAck {
                options: OptionList::empty(),
            },
            b"\x00\x06",
        );
    }

    #[test]
    fn data_payload_is_borrowed_from_the_input() {
        let bytes = b"\x00\x03\x00\x01abc";
        let Ok(Repr::Data { data, .. }) = Repr::from_bytes(bytes) else {
            panic!("not DATA");
        };
        assert!(core::ptr::eq(data.as_ptr(), bytes[4..].as_ptr()));
    }

    #[test]
    fn option_names_are_case_insensitive() {
        let bytes = b"\x00\x06BlkSize\x00512\x00TSIZE\x001\x00";
        let Ok(Repr::OptionAck { options }) = Repr::from_bytes(bytes) else {
            panic!("not OACK");
        };
        assert_eq!(options.get("blksize"), Some("512"));
        assert_eq!(options.get("tsize"), Some("1"));
        assert_eq!(options.get("windowsize"), None);
        assert_eq!(options.len(), 2);
        assert!(!options.is_empty());
    }

    #[test]
    fn error_codes_have_rfc_names() {
        for code in 0..=8u16 {
            let name = ErrorCode::from(code).name();
            assert_ne!(name, "Unknown error code");
            assert_eq!(u16::from(ErrorCode::from(code)), code);
        }
        assert_eq!(ErrorCode::from(8).name(), "Option negotiation failed");
        assert_eq!(ErrorCode::from(42), ErrorCode::Unknown(42));
        assert_eq!(
            alloc::format!("{}", ErrorCode::FileNotFound),
            "1 (File not found)"
        );
        for op in 0..10u16 {
            assert_eq!(u16::from(Opcode::from(op)), op);
        }
    }

    #[test]
    fn error_without_nul_keeps_the_text() {
        assert_eq!(
            Repr::from_bytes(b"\x00\x05\x00\x02denied"),
            Ok(Repr::Error {
                code: ErrorCode::AccessViolation,
                message: b"denied"
            })
        );
        assert_eq!(
            Repr::from_bytes(b"\x00\x05\x00\x09"),
            Ok(Repr::Error {
                code: ErrorCode::Unknown(9),
                message: b""
            })
        );
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let cases: &[(&[u8], Error)] = &[
            (b"", Error::Truncated),
            (b"\x00", Error::Truncated),
            (b"\x00\x03", Error::Truncated),
            (b"\x00\x03\x00", Error::Truncated),
            (b"\x00\x04\x00", Error::Truncated),
            (b"\x00\x05\x00", Error::Truncated),
            (b"\x00\x00", Error::UnknownOpcode(0)),
            (b"\x00\x07\x00\x01", Error::UnknownOpcode(7)),
            (b"\xff\xff\x00\x01", Error::UnknownOpcode(0xffff)),
            (b"\x00\x01", Error::MissingNul),
            (b"\x00\x01file", Error::MissingNul),
            (b"\x00\x01file\x00", Error::MissingNul),
            (b"\x00\x01file\x00octet", Error::MissingNul),
            (b"\x00\x01file\x00binary\x00", Error::UnknownMode),
            (b"\x00\x01file\x00\xff\x00", Error::NotUtf8),
            (b"\x00\x01f\x00octet\x00blksize", Error::MissingNul),
            (
                b"\x00\x01f\x00octet\x00blksize\x00",
                Error::MissingOptionValue,
            ),
            (b"\x00\x01f\x00octet\x00blksize\x00512", Error::MissingNul),
            (b"\x00\x01f\x00octet\x00\x00512\x00", Error::EmptyOptionName),
            (b"\x00\x01f\x00octet\x00\xc3\x28\x00x\x00", Error::NotUtf8),
            (b"\x00\x06blksize", Error::MissingNul),
            (b"\x00\x06blksize\x00", Error::MissingOptionValue),
            (b"\x00\x06blksize\x00512", Error::MissingNul),
            (b"\x00\x06\x00", Error::EmptyOptionName),
            (b"\x00\x06a\x00b\x00c\x00", Error::MissingOptionValue),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Repr::from_bytes(bytes), Err(*expected), "input {bytes:?}");
        }
    }

    #[test]
    fn every_prefix_of_valid_packets_parses_or_errs_without_panicking() {
        let packets: &[&[u8]] = &[
            b"\x00\x01boot\x00octet\x00blksize\x001432\x00tsize\x000\x00",
            b"\x00\x06blksize\x001432\x00",
            b"\x00\x05\x00\x01nope\x00",
            b"\x00\x03\x00\x01data",
        ];
        for packet in packets {
            for end in 0..=packet.len() {
                let _ = Repr::from_bytes(&packet[..end]);
                if let Ok(p) = Packet::new_checked(&packet[..end]) {
                    let _ = (p.opcode(), p.block_number(), p.payload(), p.strings());
                }
            }
        }
        // Arbitrary byte soup, deterministic.
        let mut x: u32 = 0x1234_5678;
        let mut buf = [0u8; 24];
        for _ in 0..20_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = (x % 8) as u8; // small values hit opcodes and NULs often
            }
            let len = (x as usize) % buf.len();
            let _ = Repr::from_bytes(&buf[..len]);
        }
    }

    #[test]
    fn emit_rejects_nul_small_buffers_and_empty_names() {
        let repr = Repr::ReadRequest {
            filename: b"a\0b",
            options: OptionList::empty(),
        };
        assert_eq!(repr.to_vec(), Err(Error::EmbeddedNul));
        let pairs = [("blk\0size", "1")];
        let repr = Repr::OptionAck {
            options: OptionList::from_pairs(&pairs),
        };
        assert_eq!(repr.to_vec(), Err(Error::EmbeddedNul));
        let pairs = [("", "1")];
        let repr = Repr::OptionAck {
            options: OptionList::from_pairs(&pairs),
        };
        assert_eq!(repr.to_vec(), Err(Error::EmptyOptionName));
        let mut small = [0u8; 3];
        assert_eq!(
            Repr::Ack { block: 1 }.emit(&mut small),
            Err(Error::BufferTooSmall)
        );
        let mut big = [0xAAu8; 8];
        assert_eq!(Repr::Ack { block: 1 }.emit(&mut big), Ok(4));
        assert_eq!(&big[..5], b"\x00\x04\x00\x01\xAA");
    }

    #[test]
    fn packet_view_accessors() {
        let p = Packet::new_checked(&b"\x00\x03\x00\x2aXY"[..]).expect("checked");
        assert_eq!(p.opcode(), Opcode::Data);
        assert_eq!(p.block_number(), 42);
        assert_eq!(p.payload(), b"XY");
        assert_eq!(
            Repr::parse(&p),
            Ok(Repr::Data {
                block: 42,
                data: b"XY"
            })
        );
        assert_eq!(
            Packet::new_checked(&b"\x00\x04"[..]).map(|_| ()),
            Err(Error::Truncated)
        );
    }
}
