//! DHCPv4 / BOOTP messages (RFC 951, RFC 2131, RFC 2132, RFC 3396).
//!
//! [`Packet`] is a view over a byte buffer whose accessors never panic, and [`DhcpRepr`] is
//! the parsed message. Parsing copes with option overload (option 52: more options in the
//! `file` and `sname` fields), with long options split into several same-code pieces
//! (RFC 3396, concatenated on parse and split on emit) and with BOOTP replies that carry
//! no message type. Everything that came from the wire is checked: a malformed packet is a
//! [`DhcpError`], never a panic.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use netboot_core::wire::dhcp::{DhcpRepr, MessageType, Op, opt};
//!
//! let mut discover = DhcpRepr::new(Op::Request, 0x1234_5678, [2, 0, 0, 0, 0, 1]);
//! discover.set_option(opt::MESSAGE_TYPE, [MessageType::Discover as u8]);
//! let bytes = discover.to_bytes().expect("fits");
//! let parsed = DhcpRepr::parse_bytes(&bytes).expect("valid");
//! assert_eq!(parsed.message_type(), Some(MessageType::Discover));
//! assert_eq!(parsed.yiaddr, Ipv4Addr::UNSPECIFIED);
//! ```

use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

/// Byte offsets of the fixed BOOTP header fields.
pub mod field {
    /// A byte range within the header.
    pub type Field = core::ops::Range<usize>;
    /// Message op code: 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub const OP: usize = 0;
    /// Hardware address type (1 = Ethernet).
    pub const HTYPE: usize = 1;
    /// Hardware address length (6 for Ethernet).
    pub const HLEN: usize = 2;
    /// Relay hop count.
    pub const HOPS: usize = 3;
    /// Transaction ID.
    pub const XID: Field = 4..8;
    /// Seconds since the client began (iPXE reuses it as a trace field).
    pub const SECS: Field = 8..10;
    /// Flags; bit 15 asks the server to broadcast its reply.
    pub const FLAGS: Field = 10..12;
    /// Client address, when the client already has one.
    pub const CIADDR: Field = 12..16;
    /// "Your" address: the one the server offers.
    pub const YIADDR: Field = 16..20;
    /// Next server (boot server) address.
    pub const SIADDR: Field = 20..24;
    /// Relay agent address.
    pub const GIADDR: Field = 24..28;
    /// Client hardware address, zero-padded to 16 bytes.
    pub const CHADDR: Field = 28..44;
    /// Server host name, NUL-terminated (or options, if overloaded).
    pub const SNAME: Field = 44..108;
    /// Boot file name, NUL-terminated (or options, if overloaded).
    pub const FILE: Field = 108..236;
    /// Magic cookie 99.130.83.99 that marks RFC 1497 options.
    pub const MAGIC: Field = 236..240;
    /// Start of the variable-length options field.
    pub const OPTIONS: usize = 240;
}

/// Length of the fixed header including the magic cookie.
pub const HEADER_LEN: usize = field::OPTIONS;
/// The RFC 1497 magic cookie.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Emitted packets are padded to this size: the BOOTP minimum, below which some relays and
/// old servers drop the packet.
pub const MIN_PACKET_LEN: usize = 300;
/// Bit 15 of `flags`: reply by broadcast.
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Option codes used by netboot (RFC 2132 and PXE/iPXE assignments).
pub mod opt {
    /// Padding; no length byte.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Routers (the first is the default gateway).
    pub const ROUTER: u8 = 3;
    /// DNS servers.
    pub const DNS_SERVERS: u8 = 6;
    /// Host name.
    pub const HOSTNAME: u8 = 12;
    /// Domain name.
    pub const DOMAIN_NAME: u8 = 15;
    /// Root path (SAN boot target).
    pub const ROOT_PATH: u8 = 17;
    /// Interface MTU.
    pub const MTU: u8 = 26;
    /// Vendor-specific information (PXE options 43.x).
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// Lease time in seconds.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload: 1 = `file` holds options, 2 = `sname`, 3 = both.
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Vendor class identifier (`PXEClient:…`).
    pub const VENDOR_CLASS: u8 = 60;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// TFTP server name (also the `sname` field).
    pub const TFTP_SERVER_NAME: u8 = 66;
    /// Boot file name (also the `file` field).
    pub const BOOTFILE_NAME: u8 = 67;
    /// User class (`iPXE`).
    pub const USER_CLASS: u8 = 77;
    /// PXE client system architecture.
    pub const CLIENT_ARCH: u8 = 93;
    /// PXE client network device interface (UNDI version).
    pub const CLIENT_NDI: u8 = 94;
    /// PXE client UUID.
    pub const CLIENT_UUID: u8 = 97;
    /// Domain search list.
    pub const DOMAIN_SEARCH: u8 = 119;
    /// iPXE encapsulated options (175.x).
    pub const IPXE_ENCAP: u8 = 175;
    /// End of an option area; no length byte.
    pub const END: u8 = 255;
}

/// A malformed DHCP packet, or a [`DhcpRepr`] that cannot be emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhcpError {
    /// Shorter than the 240-byte header (including the magic cookie).
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// The op code is neither BOOTREQUEST nor BOOTREPLY.
    BadOp(u8),
    /// The hardware address is not a 6-byte MAC.
    BadHardwareLength(u8),
    /// The magic cookie is missing or wrong.
    BadCookie([u8; 4]),
    /// An option's length byte (or the length byte itself) runs past the end of its area.
    OptionOverrun {
        /// The option's code.
        code: u8,
        /// Where it was.
        area: Area,
    },
    /// Option 52 with a length other than 1 or a value other than 1, 2 or 3.
    BadOverload,
    /// `sname` or `file` too long for its field.
    FieldTooLong {
        /// `"sname"` or `"file"`.
        field: &'static str,
        /// The value's length.
        len: usize,
    },
    /// An option code that cannot be emitted as an option (PAD, END, or overload).
    ReservedOption(u8),
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

/// The three places options can live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The options field after the magic cookie.
    Options,
    /// The `file` field (overload bit 1).
    File,
    /// The `sname` field (overload bit 2).
    Sname,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Options => "options field",
            Area::File => "file field (overloaded)",
            Area::Sname => "sname field (overloaded)",
        })
    }
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => write!(
                f,
                "DHCP packet truncated: {len} bytes, the header alone is {HEADER_LEN}"
            ),
            Self::BadOp(op) => write!(f, "DHCP packet has op code {op}, expected 1 or 2"),
            Self::BadHardwareLength(hlen) => {
                write!(
                    f,
                    "DHCP packet has hardware address length {hlen}, expected 6"
                )
            }
            Self::BadCookie(c) => write!(
                f,
                "DHCP packet has no magic cookie (found {}.{}.{}.{})",
                c[0], c[1], c[2], c[3]
            ),
            Self::OptionOverrun { code, area } => {
                write!(f, "DHCP option {code} in the {area} runs past its end")
            }
            Self::BadOverload => f.write_str("DHCP option 52 (overload) is malformed"),
            Self::FieldTooLong { field, len } => {
                write!(f, "DHCP {field} of {len} bytes does not fit its field")
            }
            Self::ReservedOption(code) => write!(f, "DHCP option code {code} cannot be emitted"),
            Self::BufferTooSmall { need, have } => {
                write!(f, "DHCP buffer too small: need {need} bytes, have {have}")
            }
        }
    }
}

impl core::error::Error for DhcpError {}

/// Result of parsing or emitting DHCP.
pub type Result<T> = core::result::Result<T, DhcpError>;

/// A view over a buffer holding a DHCP packet. Accessors read zeros and setters do nothing
/// past the end of a short buffer; [`Packet::new_checked`] rules that out up front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer, checking that it holds at least the fixed header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header and cookie.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(DhcpError::Truncated { len });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn array<const N: usize>(&self, range: field::Field) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; N])
    }

    fn slice(&self, range: field::Field) -> &[u8] {
        self.buffer.as_ref().get(range).unwrap_or(&[])
    }

    /// Op code (1 request, 2 reply).
    pub fn op(&self) -> u8 {
        self.byte(field::OP)
    }
    /// Hardware type.
    pub fn htype(&self) -> u8 {
        self.byte(field::HTYPE)
    }
    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        self.byte(field::HLEN)
    }
    /// Relay hops.
    pub fn hops(&self) -> u8 {
        self.byte(field::HOPS)
    }
    /// Transaction ID.
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.array(field::XID))
    }
    /// Seconds field.
    pub fn secs(&self) -> u16 {
        u16::from_be_bytes(self.array(field::SECS))
    }
    /// Flags field.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes(self.array(field::FLAGS))
    }
    /// Client address.
    pub fn ciaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::CIADDR))
    }
    /// Offered ("your") address.
    pub fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::YIADDR))
    }
    /// Next-server address.
    pub fn siaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::SIADDR))
    }
    /// Relay agent address.
    pub fn giaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::GIADDR))
    }
    /// The whole 16-byte client hardware address field.
    pub fn chaddr(&self) -> [u8; 16] {
        self.array(field::CHADDR)
    }
    /// The whole 64-byte `sname` field.
    pub fn sname(&self) -> &[u8] {
        self.slice(field::SNAME)
    }
    /// The whole 128-byte `file` field.
    pub fn file(&self) -> &[u8] {
        self.slice(field::FILE)
    }
    /// The magic cookie.
    pub fn magic(&self) -> [u8; 4] {
        self.array(field::MAGIC)
    }
    /// The options field (everything after the cookie).
    pub fn options(&self) -> &[u8] {
        self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    /// Writes `value` zero-padded into a fixed field (truncated if longer).
    fn put_padded(&mut self, range: field::Field, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            dst.fill(0);
            let n = value.len().min(dst.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), value.get(..n)) {
                d.copy_from_slice(s);
            }
        }
    }

    /// Sets the op code.
    pub fn set_op(&mut self, v: u8) {
        self.put(field::OP, &[v]);
    }
    /// Sets the hardware type.
    pub fn set_htype(&mut self, v: u8) {
        self.put(field::HTYPE, &[v]);
    }
    /// Sets the hardware address length.
    pub fn set_hlen(&mut self, v: u8) {
        self.put(field::HLEN, &[v]);
    }
    /// Sets the relay hop count.
    pub fn set_hops(&mut self, v: u8) {
        self.put(field::HOPS, &[v]);
    }
    /// Sets the transaction ID.
    pub fn set_xid(&mut self, v: u32) {
        self.put(field::XID.start, &v.to_be_bytes());
    }
    /// Sets the seconds field.
    pub fn set_secs(&mut self, v: u16) {
        self.put(field::SECS.start, &v.to_be_bytes());
    }
    /// Sets the flags field.
    pub fn set_flags(&mut self, v: u16) {
        self.put(field::FLAGS.start, &v.to_be_bytes());
    }
    /// Sets the client address.
    pub fn set_ciaddr(&mut self, v: Ipv4Addr) {
        self.put(field::CIADDR.start, &v.octets());
    }
    /// Sets the offered address.
    pub fn set_yiaddr(&mut self, v: Ipv4Addr) {
        self.put(field::YIADDR.start, &v.octets());
    }
    /// Sets the next-server address.
    pub fn set_siaddr(&mut self, v: Ipv4Addr) {
        self.put(field::SIADDR.start, &v.octets());
    }
    /// Sets the relay agent address.
    pub fn set_giaddr(&mut self, v: Ipv4Addr) {
        self.put(field::GIADDR.start, &v.octets());
    }
    /// Sets the client hardware address (zero-padded to 16 bytes).
    pub fn set_chaddr(&mut self, v: &[u8]) {
        self.put_padded(field::CHADDR, v);
    }
    /// Sets `sname` (zero-padded, truncated to 64 bytes).
    pub fn set_sname(&mut self, v: &[u8]) {
        self.put_padded(field::SNAME, v);
    }
    /// Sets `file` (zero-padded, truncated to 128 bytes).
    pub fn set_file(&mut self, v: &[u8]) {
        self.put_padded(field::FILE, v);
    }
    /// Writes the magic cookie.
    pub fn set_magic(&mut self) {
        self.put(field::MAGIC.start, &MAGIC_COOKIE);
    }
    /// The options field, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::OPTIONS..)
            .unwrap_or(&mut [])
    }
}

/// Iterator over the (code, data) pairs of one option area, skipping PAD and stopping at
/// END. Yields an error (then stops) when an option runs past the area.
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    data: &'a [u8],
    area: Area,
    pos: usize,
}

impl<'a> OptionIter<'a> {
    /// Walks `data` as an option area (also usable for encapsulated options like 43 and 175).
    pub fn new(data: &'a [u8], area: Area) -> Self {
        Self { data, area, pos: 0 }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<(u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let code = *self.data.get(self.pos)?;
            match code {
                opt::PAD => self.pos += 1,
                opt::END => {
                    self.pos = self.data.len();
                    return None;
                }
                _ => {
                    let value = self.data.get(self.pos + 1).and_then(|&len| {
                        self.data.get(self.pos + 2..self.pos + 2 + usize::from(len))
                    });
                    let Some(value) = value else {
                        self.pos = self.data.len();
                        let area = self.area;
                        return Some(Err(DhcpError::OptionOverrun { code, area }));
                    };
                    self.pos += 2 + value.len();
                    return Some(Ok((code, value)));
                }
            }
        }
    }
}

/// Finds sub-option `code` in an encapsulated option's data (e.g. 43.9 or 175.1).
/// Malformed encapsulated data yields `None` rather than an error: it is advisory.
pub fn encapsulated(data: &[u8], code: u8) -> Option<&[u8]> {
    OptionIter::new(data, Area::Options)
        .map_while(core::result::Result::ok)
        .find(|&(c, _)| c == code)
        .map(|(_, v)| v)
}

/// BOOTP op code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// BOOTREQUEST (client to server).
    Request = 1,
    /// BOOTREPLY (server to client).
    Reply = 2,
}

/// DHCP message type (option 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// DHCPDISCOVER.
    Discover = 1,
    /// DHCPOFFER.
    Offer = 2,
    /// DHCPREQUEST.
    Request = 3,
    /// DHCPDECLINE.
    Decline = 4,
    /// DHCPACK.
    Ack = 5,
    /// DHCPNAK.
    Nak = 6,
    /// DHCPRELEASE.
    Release = 7,
    /// DHCPINFORM.
    Inform = 8,
}

impl MessageType {
    /// Decodes an option 53 value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

/// A parsed DHCP/BOOTP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpRepr {
    /// Request or reply.
    pub op: Op,
    /// Hardware type (1 = Ethernet).
    pub htype: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction ID.
    pub xid: u32,
    /// Seconds field.
    pub secs: u16,
    /// The broadcast flag.
    pub broadcast: bool,
    /// Client address.
    pub ciaddr: Ipv4Addr,
    /// Offered address.
    pub yiaddr: Ipv4Addr,
    /// Next-server address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client MAC.
    pub chaddr: [u8; 6],
    /// Server host name, up to its NUL; empty when the field held options.
    pub sname: Vec<u8>,
    /// Boot file name, up to its NUL; empty when the field held options.
    pub file: Vec<u8>,
    /// Options in wire order, pieces of the same code concatenated (RFC 3396). Never holds
    /// PAD, END or overload (52): overload is resolved on parse and never emitted.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl DhcpRepr {
    /// An empty message with the broadcast flag clear and no options.
    pub fn new(op: Op, xid: u32, chaddr: [u8; 6]) -> Self {
        Self {
            op,
            htype: 1,
            hops: 0,
            xid,
            secs: 0,
            broadcast: false,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options: Vec::new(),
        }
    }

    /// Parses a packet view.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let op = match packet.op() {
            1 => Op::Request,
            2 => Op::Reply,
            other => return Err(DhcpError::BadOp(other)),
        };
        if packet.hlen() != 6 {
            return Err(DhcpError::BadHardwareLength(packet.hlen()));
        }
        if packet.magic() != MAGIC_COOKIE {
            return Err(DhcpError::BadCookie(packet.magic()));
        }
        let chaddr = packet.chaddr();
        let mut mac = [0; 6];
        mac.copy_from_slice(&chaddr[..6]);

        let mut options: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut overload = 0u8;
        for item in OptionIter::new(packet.options(), Area::Options) {
            let (code, data) = item?;
            if code == opt::OVERLOAD {
                overload = match data {
                    [v @ 1..=3] => *v,
                    _ => return Err(DhcpError::BadOverload),
                };
            } else {
                push_concat(&mut options, code, data);
            }
        }
        // RFC 3396 order: options field, then file, then sname. Option 52 only counts in
        // the options field, so any copy inside the overloaded fields is ignored.
        for (bit, area, bytes) in [
            (1, Area::File, packet.file()),
            (2, Area::Sname, packet.sname()),
        ] {
            if overload & bit != 0 {
                for item in OptionIter::new(bytes, area) {
                    let (code, data) = item?;
                    if code != opt::OVERLOAD {
                        push_concat(&mut options, code, data);
                    }
                }
            }
        }
        let text = |bit: u8, bytes: &[u8]| -> Vec<u8> {
            if overload & bit != 0 {
                Vec::new()
            } else {
                bytes.split(|&b| b == 0).next().unwrap_or(&[]).to_vec()
            }
        };
        Ok(Self {
            op,
            htype: packet.htype(),
            hops: packet.hops(),
            xid: packet.xid(),
            secs: packet.secs(),
            broadcast: packet.flags() & FLAG_BROADCAST != 0,
            ciaddr: packet.ciaddr(),
            yiaddr: packet.yiaddr(),
            siaddr: packet.siaddr(),
            giaddr: packet.giaddr(),
            chaddr: mac,
            sname: text(2, packet.sname()),
            file: text(1, packet.file()),
            options,
        })
    }

    /// Parses raw bytes (a UDP payload).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// Bytes [`DhcpRepr::emit`] writes, padding included.
    pub fn buffer_len(&self) -> usize {
        let opts: usize = self
            .options
            .iter()
            .map(|(_, v)| 2 * v.len().div_ceil(255).max(1) + v.len())
            .sum();
        (HEADER_LEN + opts + 1).max(MIN_PACKET_LEN)
    }

    /// Writes the message into `packet`, which must hold [`DhcpRepr::buffer_len`] bytes.
    /// Options longer than 255 bytes are split into consecutive same-code pieces.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let need = self.buffer_len();
        let have = packet.buffer.as_ref().len();
        if have < need {
            return Err(DhcpError::BufferTooSmall { need, have });
        }
        for (name, value, max) in [("sname", &self.sname, 64), ("file", &self.file, 128)] {
            if value.len() > max {
                let len = value.len();
                return Err(DhcpError::FieldTooLong { field: name, len });
            }
        }
        if let Some(&(code, _)) = self
            .options
            .iter()
            .find(|(c, _)| matches!(*c, opt::PAD | opt::END | opt::OVERLOAD))
        {
            return Err(DhcpError::ReservedOption(code));
        }
        packet.buffer.as_mut().fill(0);
        packet.set_op(self.op as u8);
        packet.set_htype(self.htype);
        packet.set_hlen(6);
        packet.set_hops(self.hops);
        packet.set_xid(self.xid);
        packet.set_secs(self.secs);
        packet.set_flags(if self.broadcast { FLAG_BROADCAST } else { 0 });
        packet.set_ciaddr(self.ciaddr);
        packet.set_yiaddr(self.yiaddr);
        packet.set_siaddr(self.siaddr);
        packet.set_giaddr(self.giaddr);
        packet.set_chaddr(&self.chaddr);
        packet.set_sname(&self.sname);
        packet.set_file(&self.file);
        packet.set_magic();

        let out = packet.options_mut();
        let mut pos = 0;
        let mut put = |bytes: &[u8]| {
            if let Some(dst) = out.get_mut(pos..pos + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            pos += bytes.len();
        };
        for (code, value) in &self.options {
            if value.is_empty() {
                put(&[*code, 0]);
            }
            for piece in value.chunks(255) {
                // chunks(255) guarantees the length fits a byte.
                put(&[*code, piece.len() as u8]);
                put(piece);
            }
        }
        put(&[opt::END]);
        Ok(())
    }

    /// Emits into a fresh, exactly sized buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut buf = alloc::vec![0; self.buffer_len()];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }

    /// The value of option `code`, if present.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets option `code`, replacing an existing value in place or appending.
    pub fn set_option(&mut self, code: u8, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.options.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1 = value,
            None => self.options.push((code, value)),
        }
    }

    /// Removes option `code`.
    pub fn remove_option(&mut self, code: u8) {
        self.options.retain(|(c, _)| *c != code);
    }

    /// The message type, or `None` for BOOTP (or an unknown type).
    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(opt::MESSAGE_TYPE)? {
            [v] => MessageType::from_u8(*v),
            _ => None,
        }
    }

    /// True for a plain BOOTP message (no option 53 at all).
    pub fn is_bootp(&self) -> bool {
        self.option(opt::MESSAGE_TYPE).is_none()
    }

    /// An option holding exactly one IPv4 address.
    pub fn ipv4_option(&self, code: u8) -> Option<Ipv4Addr> {
        let v: [u8; 4] = self.option(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(v))
    }

    /// An option holding a list of IPv4 addresses (a trailing partial address is ignored).
    pub fn ipv4_list(&self, code: u8) -> Vec<Ipv4Addr> {
        ipv4_list(self.option(code).unwrap_or(&[]))
    }

    /// Server identifier (54).
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(opt::SERVER_ID)
    }

    /// Requested IP address (50).
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(opt::REQUESTED_IP)
    }

    /// Subnet mask (1).
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(opt::SUBNET_MASK)
    }

    /// Lease time in seconds (51).
    pub fn lease_time(&self) -> Option<u32> {
        let v: [u8; 4] = self.option(opt::LEASE_TIME)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    /// Vendor class identifier (60).
    pub fn vendor_class(&self) -> Option<&[u8]> {
        self.option(opt::VENDOR_CLASS)
    }

    /// Sub-option `sub` of encapsulated option `code` (e.g. 43.9, 175.1).
    pub fn encapsulated(&self, code: u8, sub: u8) -> Option<&[u8]> {
        encapsulated(self.option(code)?, sub)
    }
}

/// Decodes a list of IPv4 addresses (a trailing partial address is ignored).
pub fn ipv4_list(bytes: &[u8]) -> Vec<Ipv4Addr> {
    bytes
        .chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
        .collect()
}

/// RFC 3396: repeated codes are one option, concatenated at the first one's position.
fn push_concat(options: &mut Vec<(u8, Vec<u8>)>, code: u8, data: &[u8]) {
    match options.iter_mut().find(|(c, _)| *c == code) {
        Some(slot) => slot.1.extend_from_slice(data),
        None => options.push((code, data.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    /// A DHCPOFFER laid out byte by byte the way dnsmasq sends one for
    /// `--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h --dhcp-boot=pxelinux.0`.
    fn dnsmasq_offer() -> Vec<u8> {
        let mut p = vec![2u8, 1, 6, 0]; // op, htype, hlen, hops
        p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // xid
        p.extend_from_slice(&[0, 0, 0x80, 0]); // secs, flags (broadcast)
        p.extend_from_slice(&[0; 4]); // ciaddr
        p.extend_from_slice(&[192, 0, 2, 123]); // yiaddr
        p.extend_from_slice(&[192, 0, 2, 1]); // siaddr: dnsmasq names itself as TFTP server
        p.extend_from_slice(&[0; 4]); // giaddr
        p.extend_from_slice(&MAC);
        p.extend_from_slice(&[0; 10]);
        let mut sname = [0u8; 64];
        sname[..6].copy_from_slice(b"nblab1");
        p.extend_from_slice(&sname);
        let mut file = [0u8; 128];
        file[..10].copy_from_slice(b"pxelinux.0");
        p.extend_from_slice(&file);
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(&[53, 1, 2]);
        p.extend_from_slice(&[54, 4, 192, 0, 2, 1]);
        p.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10]); // 3600 s
        p.extend_from_slice(&[58, 4, 0, 0, 0x07, 0x08]); // T1
        p.extend_from_slice(&[59, 4, 0, 0, 0x0c, 0x4e]); // T2
        p.extend_from_slice(&[1, 4, 255, 255, 255, 0]);
        p.extend_from_slice(&[28, 4, 192, 0, 2, 255]);
        p.extend_from_slice(&[3, 4, 192, 0, 2, 1]);
        p.extend_from_slice(&[6, 8, 192, 0, 2, 1, 192, 0, 2, 2]);
        p.extend_from_slice(&[15, 7]);
        p.extend_from_slice(b"example");
        p.push(255);
        let len = p.len().max(MIN_PACKET_LEN); // dnsmasq pads to the BOOTP minimum
        p.resize(len, 0);
        p
    }

    #[test]
    fn parses_a_dnsmasq_offer() {
        let repr = DhcpRepr::parse_bytes(&dnsmasq_offer()).expect("valid offer");
        assert_eq!(repr.op, Op::Reply);
        assert_eq!(repr.xid, 0xdead_beef);
        assert!(repr.broadcast);
        assert_eq!(repr.chaddr, MAC);
        assert_eq!(repr.yiaddr, Ipv4Addr::new(192, 0, 2, 123));
        assert_eq!(repr.siaddr, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(repr.sname, b"nblab1");
        assert_eq!(repr.file, b"pxelinux.0");
        assert_eq!(repr.message_type(), Some(MessageType::Offer));
        assert_eq!(repr.server_id(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(repr.lease_time(), Some(3600));
        assert_eq!(repr.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(
            repr.ipv4_list(opt::DNS_SERVERS),
            [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)]
        );
        assert_eq!(repr.option(opt::DOMAIN_NAME), Some(&b"example"[..]));
        let codes: Vec<u8> = repr.options.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [53, 54, 51, 58, 59, 1, 28, 3, 6, 15]);
    }

    #[test]
    fn round_trips() {
        let mut repr = DhcpRepr::new(Op::Reply, 42, MAC);
        repr.hops = 1;
        repr.secs = 7;
        repr.broadcast = true;
        repr.ciaddr = Ipv4Addr::new(10, 0, 0, 1);
        repr.yiaddr = Ipv4Addr::new(10, 0, 0, 2);
        repr.siaddr = Ipv4Addr::new(10, 0, 0, 3);
        repr.giaddr = Ipv4Addr::new(10, 0, 0, 4);
        repr.sname = b"server".to_vec();
        repr.file = b"boot.efi".to_vec();
        repr.set_option(opt::MESSAGE_TYPE, [5]);
        repr.set_option(80, []); // zero-length (rapid commit)
        repr.set_option(209, vec![b'x'; 600]); // long: three pieces on the wire
        let bytes = repr.to_bytes().expect("emit");
        assert_eq!(bytes.len(), repr.buffer_len());
        // 600 bytes go out as 255 + 255 + 90.
        let pieces: Vec<usize> = OptionIter::new(&bytes[HEADER_LEN..], Area::Options)
            .map(|o| o.expect("well-formed"))
            .filter(|(c, _)| *c == 209)
            .map(|(_, v)| v.len())
            .collect();
        assert_eq!(pieces, [255, 255, 90]);
        assert_eq!(DhcpRepr::parse_bytes(&bytes), Ok(repr));
    }

    #[test]
    fn small_messages_are_padded_to_the_bootp_minimum() {
        let repr = DhcpRepr::new(Op::Request, 1, MAC);
        assert_eq!(repr.to_bytes().expect("emit").len(), MIN_PACKET_LEN);
    }

    #[test]
    fn emit_rejects_bad_input() {
        let mut repr = DhcpRepr::new(Op::Request, 1, MAC);
        let mut small = [0u8; 100];
        assert!(matches!(
            repr.emit(&mut Packet::new_unchecked(&mut small[..])),
            Err(DhcpError::BufferTooSmall { .. })
        ));
        repr.file = vec![b'a'; 129];
        assert!(matches!(
            repr.to_bytes(),
            Err(DhcpError::FieldTooLong { .. })
        ));
        repr.file.clear();
        repr.set_option(opt::OVERLOAD, [3]);
        assert_eq!(repr.to_bytes(), Err(DhcpError::ReservedOption(52)));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let offer = dnsmasq_offer();
        // Up to the cookie, the header is missing; past it, the last option in the
        // buffer may be cut (an error) or the cut may fall after END (fine).
        for len in 0..offer.len() {
            let result = DhcpRepr::parse_bytes(&offer[..len]);
            if len < HEADER_LEN {
                assert_eq!(result, Err(DhcpError::Truncated { len }));
            }
        }
        // Cutting inside any option other than at its end is an overrun.
        let end_of_options = offer.iter().rposition(|&b| b == 255).expect("END");
        for len in HEADER_LEN + 1..end_of_options {
            let r = DhcpRepr::parse_bytes(&offer[..len]);
            assert!(
                r.is_err() || r.as_ref().is_ok_and(|r| r.options.len() < 10),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn hostile_headers() {
        let mut p = dnsmasq_offer();
        p[field::MAGIC.start] = 0;
        assert_eq!(
            DhcpRepr::parse_bytes(&p),
            Err(DhcpError::BadCookie([0, 130, 83, 99]))
        );
        let mut p = dnsmasq_offer();
        p[field::HLEN] = 200;
        assert_eq!(
            DhcpRepr::parse_bytes(&p),
            Err(DhcpError::BadHardwareLength(200))
        );
        let mut p = dnsmasq_offer();
        p[field::OP] = 9;
        assert_eq!(DhcpRepr::parse_bytes(&p), Err(DhcpError::BadOp(9)));
    }

    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut p = dnsmasq_offer();
        p.truncate(HEADER_LEN);
        p.extend_from_slice(options);
        p
    }

    #[test]
    fn option_length_past_the_end() {
        let p = with_options(&[53, 1, 2, 67, 200, b'a', b'b']);
        assert_eq!(
            DhcpRepr::parse_bytes(&p),
            Err(DhcpError::OptionOverrun {
                code: 67,
                area: Area::Options
            })
        );
        // A code with no room for its length byte.
        let p = with_options(&[53, 1, 2, 67]);
        assert!(matches!(
            DhcpRepr::parse_bytes(&p),
            Err(DhcpError::OptionOverrun { code: 67, .. })
        ));
    }

    #[test]
    fn pad_end_zero_length_and_missing_end() {
        // PAD between options, a zero-length option, and no END: all acceptable.
        let p = with_options(&[0, 0, 53, 1, 2, 0, 80, 0, 12, 2, b'h', b'i']);
        let repr = DhcpRepr::parse_bytes(&p).expect("valid");
        assert_eq!(repr.option(80), Some(&[][..]));
        assert_eq!(repr.option(opt::HOSTNAME), Some(&b"hi"[..]));
        // Anything after END is ignored, even garbage.
        let p = with_options(&[53, 1, 5, 255, 67, 200]);
        assert_eq!(DhcpRepr::parse_bytes(&p).expect("valid").options.len(), 1);
    }

    #[test]
    fn long_options_are_concatenated() {
        let p = with_options(&[53, 1, 5, 43, 2, 1, 2, 3, 1, 9, 43, 1, 3, 255]);
        let repr = DhcpRepr::parse_bytes(&p).expect("valid");
        assert_eq!(repr.option(43), Some(&[1, 2, 3][..]));
        let codes: Vec<u8> = repr.options.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [53, 43, 3]);
    }

    #[test]
    fn overload_reads_file_then_sname() {
        let mut p = with_options(&[53, 1, 2, 52, 1, 3, 67, 2, b'a', b'b', 255]);
        let file = field::FILE.start;
        p[file..file + 6].copy_from_slice(&[67, 2, b'c', b'd', 66, 1]);
        p[file + 6] = b's';
        p[file + 7] = 255;
        let sname = field::SNAME.start;
        p[sname..sname + 5].copy_from_slice(&[12, 2, b'h', b'n', 255]);
        let repr = DhcpRepr::parse_bytes(&p).expect("valid");
        assert_eq!(repr.option(67), Some(&b"abcd"[..]));
        assert_eq!(repr.option(66), Some(&b"s"[..]));
        assert_eq!(repr.option(12), Some(&b"hn"[..]));
        assert!(repr.file.is_empty() && repr.sname.is_empty());
        assert_eq!(repr.option(opt::OVERLOAD), None);
    }

    #[test]
    fn overload_pointing_at_garbage() {
        // The file field holds a name, not options: option 'b' (98) claims 111 bytes, which
        // walks off the end of the 128-byte field.
        let mut p = with_options(&[53, 1, 2, 52, 1, 1, 255]);
        let file = field::FILE.start;
        p[file..file + 9].copy_from_slice(b"bootx.efi");
        p[file + 1] = 200;
        assert_eq!(
            DhcpRepr::parse_bytes(&p),
            Err(DhcpError::OptionOverrun {
                code: b'b',
                area: Area::File
            })
        );
        // Bad overload values.
        for bad in [&[52u8, 1, 0][..], &[52, 1, 4], &[52, 2, 1, 1], &[52, 0]] {
            assert_eq!(
                DhcpRepr::parse_bytes(&with_options(bad)),
                Err(DhcpError::BadOverload)
            );
        }
    }

    #[test]
    fn bootp_reply_has_no_message_type() {
        let repr =
            DhcpRepr::parse_bytes(&with_options(&[1, 4, 255, 255, 0, 0, 255])).expect("valid");
        assert!(repr.is_bootp());
        assert_eq!(repr.message_type(), None);
    }

    #[test]
    fn encapsulated_lookup() {
        let data = [1, 1, 0xff, 176, 1, 1, 9, 200];
        assert_eq!(encapsulated(&data, 1), Some(&[0xff][..]));
        assert_eq!(encapsulated(&data, 176), Some(&[1][..]));
        assert_eq!(encapsulated(&data, 9), None); // overruns: not found, no panic
    }

    #[test]
    fn random_garbage_never_panics() {
        // A small xorshift generator: deterministic, no dependencies.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = with_options(&[53, 1, 2, 52, 1, 3]);
        for _ in 0..2000 {
            let mut p = base.clone();
            let extra = (next() % 64) as usize;
            p.extend((0..extra).map(|_| next() as u8));
            for _ in 0..(next() % 8) {
                let i = (next() as usize) % p.len();
                p[i] = next() as u8;
            }
            let _ = DhcpRepr::parse_bytes(&p);
        }
    }
}
