//! DNS wire format (RFC 1035): queries for A records and the parts of responses a stub
//! resolver needs (header, question, answer section with A and CNAME records).
//!
//! Name decompression is hardened: every compression pointer must point strictly before
//! the start of the label sequence it interrupts, so pointer targets strictly decrease
//! and loops are impossible by construction; jumps, label and name lengths are bounded
//! as well.
//!
//! ```
//! use netboot_core::wire::dns::{build_query, Message, Name, TYPE_A};
//! let name = Name::from_dotted("boot.example")?;
//! let query = build_query(0x1234, &name, TYPE_A);
//! let parsed = Message::parse(&query)?;
//! assert_eq!(parsed.header.id, 0x1234);
//! assert_eq!(parsed.questions[0].name, name);
//! # Ok::<(), netboot_core::wire::dns::DnsWireError>(())
//! ```

use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest name in wire form, length octets and root included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;
/// Most compression pointers followed in one name. Decreasing targets already forbid
/// loops; this bounds the work a hostile packet can cause.
pub const MAX_POINTER_JUMPS: usize = 32;
/// Record type A (IPv4 address).
pub const TYPE_A: u16 = 1;
/// Record type CNAME (canonical name).
pub const TYPE_CNAME: u16 = 5;
/// Class IN (Internet).
pub const CLASS_IN: u16 = 1;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;

/// Why a DNS name or message is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsWireError {
    /// The message ends in the middle of a field.
    Truncated,
    /// A label is longer than 63 bytes.
    LabelTooLong,
    /// A name is longer than 255 bytes.
    NameTooLong,
    /// A dotted name is empty or has an empty label (`a..b`).
    EmptyLabel,
    /// A dotted name contains a space or control character.
    BadCharacter,
    /// A compression pointer does not point strictly backwards (forward or loop).
    BadPointer {
        /// Offset of the pointer.
        at: usize,
        /// Offset it points to.
        target: usize,
    },
    /// More than [`MAX_POINTER_JUMPS`] compression pointers in one name.
    TooManyPointers,
    /// A label type other than a plain label or a pointer (0x40/0x80 prefixes).
    BadLabelType,
    /// A record's data does not match its type.
    BadRecordData,
}

impl fmt::Display for DnsWireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "truncated DNS message"),
            Self::LabelTooLong => write!(f, "DNS label longer than {MAX_LABEL_LEN} bytes"),
            Self::NameTooLong => write!(f, "DNS name longer than {MAX_NAME_LEN} bytes"),
            Self::EmptyLabel => write!(f, "empty DNS label (the name is empty or has '..')"),
            Self::BadCharacter => write!(f, "DNS name contains a space or control character"),
            Self::BadPointer { at, target } => write!(
                f,
                "DNS compression pointer at offset {at} to {target} does not point backwards (loop or forward pointer)"
            ),
            Self::TooManyPointers => {
                write!(
                    f,
                    "more than {MAX_POINTER_JUMPS} DNS compression pointers in one name"
                )
            }
            Self::BadLabelType => write!(f, "unsupported DNS label type"),
            Self::BadRecordData => write!(f, "DNS record data does not match its type"),
        }
    }
}

impl core::error::Error for DnsWireError {}

/// A domain name in uncompressed wire form (length-prefixed labels, then the root's
/// zero), ASCII-lowercased so that `==` is DNS's case-insensitive comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name(Vec<u8>);

impl Name {
    /// Parses a dotted name (`boot.example`, an optional final dot).
    pub fn from_dotted(dotted: &str) -> Result<Self, DnsWireError> {
        let dotted = dotted.strip_suffix('.').unwrap_or(dotted);
        if dotted.is_empty() {
            return Err(DnsWireError::EmptyLabel);
        }
        let mut wire = Vec::with_capacity(dotted.len() + 2);
        for label in dotted.split('.') {
            if label.is_empty() {
                return Err(DnsWireError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(DnsWireError::LabelTooLong);
            }
            if label.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(DnsWireError::BadCharacter);
            }
            // The length was checked against 63 just above.
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        wire.push(0);
        if wire.len() > MAX_NAME_LEN {
            return Err(DnsWireError::NameTooLong);
        }
        Ok(Self(wire))
    }

    /// Reads a possibly compressed name at `offset` in `message`. Returns the name and
    /// the offset just after it (after the first pointer, if any).
    pub fn parse(message: &[u8], offset: usize) -> Result<(Self, usize), DnsWireError> {
        let mut wire = Vec::new();
        let mut pos = offset;
        // Start of the label sequence being read: pointers must point before it.
        let mut segment_start = offset;
        let mut jumps = 0;
        let mut end = None;
        loop {
            let len = *message.get(pos).ok_or(DnsWireError::Truncated)?;
            match len & 0xC0 {
                0x00 if len == 0 => {
                    wire.push(0);
                    if wire.len() > MAX_NAME_LEN {
                        return Err(DnsWireError::NameTooLong);
                    }
                    return Ok((Self(wire), end.unwrap_or(pos + 1)));
                }
                0x00 => {
                    let label_len = usize::from(len);
                    let label = message
                        .get(pos + 1..pos + 1 + label_len)
                        .ok_or(DnsWireError::Truncated)?;
                    // Check before growing: keeps memory bounded on hostile input.
                    if wire.len() + 1 + label_len + 1 > MAX_NAME_LEN {
                        return Err(DnsWireError::NameTooLong);
                    }
                    wire.push(len);
                    wire.extend(label.iter().map(u8::to_ascii_lowercase));
                    pos += 1 + label_len;
                }
                0xC0 => {
                    let low = *message.get(pos + 1).ok_or(DnsWireError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    // Strictly backwards, and not into the fixed header.
                    if target >= segment_start || target < HEADER_LEN {
                        return Err(DnsWireError::BadPointer { at: pos, target });
                    }
                    jumps += 1;
                    if jumps > MAX_POINTER_JUMPS {
                        return Err(DnsWireError::TooManyPointers);
                    }
                    end.get_or_insert(pos + 2);
                    pos = target;
                    segment_start = target;
                }
                _ => return Err(DnsWireError::BadLabelType),
            }
        }
    }

    /// The name in uncompressed wire form (lowercased).
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The labels, in order.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.0.as_slice();
        core::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let label = tail.get(..usize::from(len)).filter(|_| len != 0)?;
            rest = &tail[label.len()..];
            Some(label)
        })
    }
}

impl fmt::Display for Name {
    /// Dotted form; bytes that would be ambiguous or unprintable appear as `\DDD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        Ok(())
    }
}

/// Response code (RFC 1035 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// No error.
    NoError,
    /// The server could not interpret the query.
    FormErr,
    /// The server failed (often: it could not reach the authoritative servers).
    ServFail,
    /// The name does not exist.
    NxDomain,
    /// The server does not support the query.
    NotImp,
    /// The server refuses to answer (often: recursion not offered to us).
    Refused,
    /// Another code.
    Other(u8),
}

impl Rcode {
    /// From the header's 4-bit field.
    pub const fn from_u8(code: u8) -> Self {
        match code {
            0 => Self::NoError,
            1 => Self::FormErr,
            2 => Self::ServFail,
            3 => Self::NxDomain,
            4 => Self::NotImp,
            5 => Self::Refused,
            n => Self::Other(n),
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoError => f.write_str("NOERROR"),
            Self::FormErr => f.write_str("FORMERR"),
            Self::ServFail => f.write_str("SERVFAIL"),
            Self::NxDomain => f.write_str("NXDOMAIN"),
            Self::NotImp => f.write_str("NOTIMP"),
            Self::Refused => f.write_str("REFUSED"),
            Self::Other(n) => write!(f, "RCODE {n}"),
        }
    }
}

/// The fixed DNS header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Transaction id.
    pub id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, rcode).
    pub flags: u16,
    /// Number of questions.
    pub qdcount: u16,
    /// Number of answer records.
    pub ancount: u16,
    /// Number of authority records.
    pub nscount: u16,
    /// Number of additional records.
    pub arcount: u16,
}

impl Header {
    /// Reads the header at the start of `message`.
    pub fn parse(message: &[u8]) -> Result<Self, DnsWireError> {
        let h = message.get(..HEADER_LEN).ok_or(DnsWireError::Truncated)?;
        let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Ok(Self {
            id: word(0),
            flags: word(2),
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }

    /// Whether this is a response (QR set).
    pub const fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    /// The opcode (0 for a standard query).
    pub const fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }

    /// Whether the server truncated the message (TC).
    pub const fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }

    /// The response code.
    pub const fn rcode(&self) -> Rcode {
        Rcode::from_u8((self.flags & 0xF) as u8)
    }
}

/// A question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Name asked about.
    pub name: Name,
    /// Record type asked for.
    pub qtype: u16,
    /// Class asked for.
    pub qclass: u16,
}

/// Data of an answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordData {
    /// An IPv4 address (type A, class IN).
    A(Ipv4Addr),
    /// An alias: the canonical name (type CNAME).
    Cname(Name),
    /// A record of another type or class, not decoded.
    Other {
        /// Record type.
        rtype: u16,
        /// Record class.
        class: u16,
    },
}

/// An answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner name.
    pub name: Name,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Decoded data.
    pub data: RecordData,
}

/// The header, questions and answers of a message (authority and additional sections
/// are not read: a stub resolver does not need them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Header.
    pub header: Header,
    /// Question section.
    pub questions: Vec<Question>,
    /// Answer section.
    pub answers: Vec<Record>,
}

impl Message {
    /// Parses a message.
    pub fn parse(message: &[u8]) -> Result<Self, DnsWireError> {
        let header = Header::parse(message)?;
        let mut pos = HEADER_LEN;
        // No with_capacity from the counts: they come from the network. Each entry
        // consumes bytes, so the message length bounds the vectors.
        let mut questions = Vec::new();
        for _ in 0..header.qdcount {
            let (name, next) = Name::parse(message, pos)?;
            let fixed = message.get(next..next + 4).ok_or(DnsWireError::Truncated)?;
            questions.push(Question {
                name,
                qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
                qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
            });
            pos = next + 4;
        }
        let mut answers = Vec::new();
        for _ in 0..header.ancount {
            let (name, next) = Name::parse(message, pos)?;
            let fixed = message
                .get(next..next + 10)
                .ok_or(DnsWireError::Truncated)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let class = u16::from_be_bytes([fixed[2], fixed[3]]);
            let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
            let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let start = next + 10;
            let rdata = message
                .get(start..start + rdlen)
                .ok_or(DnsWireError::Truncated)?;
            let data = match (rtype, class) {
                (TYPE_A, CLASS_IN) => {
                    let octets: [u8; 4] =
                        rdata.try_into().map_err(|_| DnsWireError::BadRecordData)?;
                    RecordData::A(Ipv4Addr::from(octets))
                }
                (TYPE_CNAME, CLASS_IN) => {
                    let (target, end) = Name::parse(message, start)?;
                    if end != start + rdlen {
                        return Err(DnsWireError::BadRecordData);
                    }
                    RecordData::Cname(target)
                }
                _ => RecordData::Other { rtype, class },
            };
            answers.push(Record { name, ttl, data });
            pos = start + rdlen;
        }
        Ok(Self {
            header,
            questions,
            answers,
        })
    }
}

/// Builds a standard query (RD set, one question of class IN) for `name`.
pub fn build_query(id: u16, name: &Name, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(HEADER_LEN + name.0.len() + 4);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&FLAG_RD.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1, no records
    q.extend_from_slice(&name.0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn name(s: &str) -> Name {
        Name::from_dotted(s).expect("valid name")
    }

    /// A response header with `qd` questions and `an` answers.
    fn header(id: u16, flags: u16, qd: u16, an: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [id, flags, qd, an, 0, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn query_bytes() {
        let q = build_query(0xBEEF, &name("Boot.Example."), TYPE_A);
        let expected: &[u8] = &[
            0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'b', b'o', b'o', b't', 7, b'e',
            b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1,
        ];
        assert_eq!(q, expected);
    }

    #[test]
    fn dotted_names() {
        assert_eq!(name("a.b").to_string(), "a.b");
        assert_eq!(name("A.B."), name("a.b"));
        assert_eq!(Name::from_dotted(""), Err(DnsWireError::EmptyLabel));
        assert_eq!(Name::from_dotted("."), Err(DnsWireError::EmptyLabel));
        assert_eq!(Name::from_dotted("a..b"), Err(DnsWireError::EmptyLabel));
        assert_eq!(Name::from_dotted("a b"), Err(DnsWireError::BadCharacter));
        let label63 = "x".repeat(63);
        assert!(Name::from_dotted(&label63).is_ok());
        assert_eq!(
            Name::from_dotted(&"x".repeat(64)),
            Err(DnsWireError::LabelTooLong)
        );
        // 4 × (1 + 61) + 1 = 249; adding ".abcde" makes exactly 255; one more byte is 256.
        let long = [&"y".repeat(61)[..]; 4].join(".");
        assert!(Name::from_dotted(&long).is_ok());
        assert_eq!(
            Name::from_dotted(&(long.clone() + ".abcde")).map(|n| n.as_wire().len()),
            Ok(255)
        );
        assert_eq!(
            Name::from_dotted(&(long + ".abcdef")),
            Err(DnsWireError::NameTooLong)
        );
    }

    #[test]
    fn valid_backward_pointers() {
        // Question "boot.example", answer owner "www" + pointer to "example" (offset 17),
        // then a name that is a pointer to a name that ends in a pointer.
        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(b"\x04boot\x07example\x00"); // at 12; "example" at 17
        let second = m.len();
        m.extend_from_slice(b"\x03www\xC0\x11"); // www + ptr(17)
        let third = m.len();
        m.extend_from_slice(&[0xC0, second as u8]);
        assert_eq!(Name::parse(&m, 12), Ok((name("boot.example"), second)));
        assert_eq!(Name::parse(&m, second), Ok((name("www.example"), third)));
        assert_eq!(Name::parse(&m, third), Ok((name("www.example"), third + 2)));
    }

    #[test]
    fn hostile_pointers_rejected() {
        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(&[0xC0, 12]); // at 12: self-loop
        assert_eq!(
            Name::parse(&m, 12),
            Err(DnsWireError::BadPointer { at: 12, target: 12 })
        );

        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(&[0xC0, 16, 0, 0, 1, b'a', 0]); // at 12: forward to 16
        assert_eq!(
            Name::parse(&m, 12),
            Err(DnsWireError::BadPointer { at: 12, target: 16 })
        );

        // 2-cycle: 12 → 14 (forward, rejected); starting at 14 → 12 → 14 (rejected).
        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(&[0xC0, 14, 0xC0, 12]);
        assert!(matches!(
            Name::parse(&m, 12),
            Err(DnsWireError::BadPointer { .. })
        ));
        assert_eq!(
            Name::parse(&m, 14),
            Err(DnsWireError::BadPointer { at: 12, target: 14 })
        );

        // A pointer back into a label sequence that leads to the pointer again.
        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(&[1, b'a', 0xC0, 12]);
        assert_eq!(
            Name::parse(&m, 14),
            Err(DnsWireError::BadPointer { at: 14, target: 12 })
        );

        // Into the header.
        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(&[0xC0, 2]);
        assert!(matches!(
            Name::parse(&m, 12),
            Err(DnsWireError::BadPointer { .. })
        ));

        // Reserved label types, truncated label and pointer.
        for tail in [&[0x40, 0][..], &[0x80, 0], &[5, b'a'], &[0xC0], &[]] {
            let mut m = header(1, 0x8180, 0, 0);
            m.extend_from_slice(tail);
            assert!(Name::parse(&m, 12).is_err(), "{tail:?}");
        }
    }

    #[test]
    fn pointer_chains_are_bounded() {
        // A long strictly-decreasing chain: each 2-byte pointer points at the previous.
        let mut m = header(1, 0x8180, 0, 0);
        m.push(0); // root at 12
        let mut prev = 12usize;
        for _ in 0..MAX_POINTER_JUMPS + 1 {
            let here = m.len();
            m.extend_from_slice(&[0xC0 | (prev >> 8) as u8, prev as u8]);
            prev = here;
        }
        assert_eq!(Name::parse(&m, prev), Err(DnsWireError::TooManyPointers));
        // Names growing beyond 255 bytes through pointers.
        let mut m = header(1, 0x8180, 0, 0);
        m.extend_from_slice(&[63]);
        m.extend_from_slice(&[b'x'; 63]);
        m.push(0);
        let mut prev = 12usize;
        for _ in 0..4 {
            let here = m.len();
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
            m.extend_from_slice(&[0xC0 | (prev >> 8) as u8, prev as u8]);
            prev = here;
        }
        assert_eq!(Name::parse(&m, prev), Err(DnsWireError::NameTooLong));
    }

    #[test]
    fn parses_a_and_cname_answers() {
        let mut m = header(0x4242, 0x8180, 1, 3);
        m.extend_from_slice(b"\x04boot\x07example\x00\x00\x01\x00\x01");
        // boot.example CNAME cdn.example (compressed: "cdn" + ptr to "example" at 17)
        m.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
        let cdn = m.len();
        m.extend_from_slice(b"\x03cdn\xC0\x11");
        // cdn.example A 192.0.2.7
        m.extend_from_slice(&[0xC0, cdn as u8, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 7]);
        // An AAAA record, skipped.
        m.extend_from_slice(&[0xC0, cdn as u8, 0, 28, 0, 1, 0, 0, 1, 0, 0, 16]);
        m.extend_from_slice(&[0; 16]);
        let msg = Message::parse(&m).expect("valid");
        assert!(msg.header.is_response());
        assert_eq!(msg.header.rcode(), Rcode::NoError);
        assert_eq!(
            msg.questions,
            vec![Question {
                name: name("boot.example"),
                qtype: 1,
                qclass: 1
            }]
        );
        assert_eq!(msg.answers[0].data, RecordData::Cname(name("cdn.example")));
        assert_eq!(msg.answers[1].name, name("cdn.example"));
        assert_eq!(
            msg.answers[1].data,
            RecordData::A(Ipv4Addr::new(192, 0, 2, 7))
        );
        assert_eq!(
            msg.answers[2].data,
            RecordData::Other {
                rtype: 28,
                class: 1
            }
        );
        // Every prefix fails cleanly.
        for end in 0..m.len() {
            assert!(Message::parse(&m[..end]).is_err(), "prefix {end}");
        }
        // Bad A length.
        let mut bad = header(1, 0x8180, 0, 1);
        bad.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(Message::parse(&bad), Err(DnsWireError::BadRecordData));
    }

    #[test]
    fn header_flags() {
        let h = Header::parse(&header(7, 0x8183, 0, 0)).expect("header");
        assert!(h.is_response());
        assert_eq!(h.rcode(), Rcode::NxDomain);
        assert!(!h.truncated());
        assert_eq!(h.opcode(), 0);
        assert_eq!(Header::parse(&[0; 11]), Err(DnsWireError::Truncated));
        assert_eq!(Rcode::ServFail.to_string(), "SERVFAIL");
    }
}
