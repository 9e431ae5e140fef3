//! Sans-IO DHCPv4 client for network booting, following iPXE's behaviour
//! (`docs/ipxe-behaviour.md` §10): PXE options in every request, DISCOVER with exponential
//! back-off, a short window to collect offers (so a ProxyDHCP offer can join the DHCP one),
//! REQUEST/ACK, then an optional ProxyDHCP REQUEST to port 4011 whose boot information is
//! merged into the [`Lease`]. Plain BOOTP servers are accepted too.
//!
//! The caller owns the socket (UDP port 68) and the clock:
//!
//! ```
//! use netboot_core::proto::dhcp::{ClientArch, DhcpClient, DhcpConfig, DhcpState};
//!
//! let mut client = DhcpClient::new(DhcpConfig::new([2, 0, 0, 0, 0, 1], ClientArch::EFI_X86_64), 0);
//! let discover = client.poll_transmit(0).expect("sends a DISCOVER at once");
//! assert_eq!((discover.src_port, discover.dst.port()), (68, 67));
//! assert!(matches!(client.state(), DhcpState::Running));
//! assert_eq!(client.poll_deadline(), Some(1000)); // first retransmission after 1 s
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::{Datagram, Millis};
use crate::wire::dhcp::{DhcpRepr, MessageType, Op, encapsulated, ipv4_list, opt};

/// DHCP server port.
pub const SERVER_PORT: u16 = 67;
/// DHCP client port.
pub const CLIENT_PORT: u16 = 68;
/// PXE ProxyDHCP / boot server port.
pub const PROXY_PORT: u16 = 4011;

/// Option 55 as netboot sends it: the usual network parameters, the PXE range 128–135,
/// iPXE's 175, and PXELINUX's 209 (config file) and 210 (path prefix).
pub const DEFAULT_PARAMETER_REQUEST_LIST: &[u8] = &[
    1, 3, 6, 12, 15, 17, 26, 28, 42, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135,
    175, 209, 210,
];

/// A NAKing server restarts discovery; this bounds the loop a broken server could cause.
const MAX_NAK_RESTARTS: u32 = 8;

/// PXE client system architecture (option 93, RFC 4578 and IANA registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientArch(pub u16);

impl ClientArch {
    /// x86 BIOS.
    pub const BIOS: Self = Self(0x0000);
    /// IA32 UEFI.
    pub const EFI_IA32: Self = Self(0x0006);
    /// x86-64 UEFI.
    pub const EFI_X86_64: Self = Self(0x0007);
    /// ARM32 UEFI.
    pub const EFI_ARM32: Self = Self(0x000a);
    /// ARM64 UEFI.
    pub const EFI_ARM64: Self = Self(0x000b);

    /// UNDI version announced in option 94 and the vendor class: iPXE says 2.1 on BIOS
    /// and 3.10 on UEFI.
    pub fn undi_version(self) -> (u8, u8) {
        if self == Self::BIOS { (2, 1) } else { (3, 10) }
    }
}

/// Retransmission and selection timings, in milliseconds. Defaults are iPXE's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpTimings {
    /// First DISCOVER retransmission interval (doubles each time).
    pub discover_initial: Millis,
    /// Largest interval; discovery fails when the next interval would exceed it (with the
    /// defaults: sends at 0, 1, 3, 7 s and fails at 15 s).
    pub discover_max: Millis,
    /// How long after the first DISCOVER to keep collecting offers once one is held, so a
    /// ProxyDHCP offer can arrive.
    pub selection_window: Millis,
    /// First REQUEST retransmission interval.
    pub request_initial: Millis,
    /// Largest REQUEST interval (same failure rule as discovery).
    pub request_max: Millis,
    /// How long to wait for the ProxyDHCP server on port 4011 before using its offer as is.
    pub proxy_timeout: Millis,
}

impl Default for DhcpTimings {
    fn default() -> Self {
        Self {
            discover_initial: 1000,
            discover_max: 10_000,
            selection_window: 2000,
            request_initial: 250,
            request_max: 10_000,
            proxy_timeout: 2000,
        }
    }
}

/// What the client says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpConfig {
    /// The NIC's MAC (chaddr and option 61).
    pub mac: [u8; 6],
    /// Transaction ID. [`DhcpConfig::new`] derives one from the MAC; mix in entropy (a
    /// clock, a random source) when several machines may share a MAC suffix.
    pub xid: u32,
    /// Client architecture (option 93; also selects the UNDI version).
    pub arch: ClientArch,
    /// Client UUID for option 97, in wire byte order (SMBIOS UUID, EFI mixed-endian).
    /// `None` omits the option (some NICs do).
    pub uuid: Option<[u8; 16]>,
    /// Vendor class (option 60); `None` sends `PXEClient:Arch:AAAAA:UNDI:MMMmmm`.
    pub vendor_class: Option<Vec<u8>>,
    /// User class (option 77): `iPXE` by default, which is what DHCP servers match to break
    /// the PXE → iPXE chainload loop. `None` omits it.
    pub user_class: Option<Vec<u8>>,
    /// Host name (option 12); not sent by default, like iPXE.
    pub hostname: Option<Vec<u8>>,
    /// Maximum DHCP message size (option 57): 1500 − IP − UDP headers.
    pub max_message_size: u16,
    /// Option 55.
    pub parameter_request_list: Vec<u8>,
    /// iPXE feature codes announced in option 175 (each as sub-option = 1, e.g. 0x13 HTTP,
    /// 0x15 TFTP). Empty omits option 175.
    pub features: Vec<u8>,
    /// Timings.
    pub timings: DhcpTimings,
}

impl DhcpConfig {
    /// Defaults for `mac` and `arch`.
    pub fn new(mac: [u8; 6], arch: ClientArch) -> Self {
        Self {
            mac,
            xid: u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]) ^ 0x6e62_6f74,
            arch,
            uuid: None,
            vendor_class: None,
            user_class: Some(b"iPXE".to_vec()),
            hostname: None,
            max_message_size: 1472,
            parameter_request_list: DEFAULT_PARAMETER_REQUEST_LIST.to_vec(),
            features: Vec::new(),
            timings: DhcpTimings::default(),
        }
    }

    /// The vendor class sent as option 60.
    pub fn vendor_class_id(&self) -> Vec<u8> {
        if let Some(v) = &self.vendor_class {
            return v.clone();
        }
        let (major, minor) = self.arch.undi_version();
        alloc::format!(
            "PXEClient:Arch:{:05}:UNDI:{major:03}{minor:03}",
            self.arch.0
        )
        .into_bytes()
    }
}

/// Boot information from a ProxyDHCP server, kept apart from the DHCP lease (iPXE's
/// `proxydhcp` settings block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyLease {
    /// The proxy's identity (option 54, else siaddr, else source address).
    pub server: Ipv4Addr,
    /// Its siaddr, if set.
    pub next_server: Option<Ipv4Addr>,
    /// Its options, like [`Lease::options`].
    pub options: BTreeMap<u8, Vec<u8>>,
    /// True when this came from the port-4011 exchange, false when the proxy did not
    /// answer there and its broadcast offer is used instead.
    pub confirmed: bool,
}

/// The result of a successful DHCP (or BOOTP) exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Our address (yiaddr).
    pub address: Ipv4Addr,
    /// Subnet mask (option 1).
    pub netmask: Option<Ipv4Addr>,
    /// Default gateway (first router of option 3).
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// Host name (option 12).
    pub hostname: Option<String>,
    /// DHCP server identifier (option 54); `None` for BOOTP.
    pub server_id: Option<Ipv4Addr>,
    /// `${next-server}`: the first non-zero siaddr in lookup order (iPXE takes it from
    /// siaddr only; option 66 stays a separate setting).
    pub next_server: Option<Ipv4Addr>,
    /// `${filename}`: the `file` field if populated, else option 67, in lookup order.
    pub filename: Option<String>,
    /// Lease time in seconds (option 51); `None` for BOOTP.
    pub lease_time: Option<u32>,
    /// True when a BOOTP reply (no option 53) was taken.
    pub bootp: bool,
    /// Every option of the ACK, by code, as `${NN}` settings read them: a populated `sname`
    /// or `file` field shows as 66 or 67, as in iPXE.
    pub options: BTreeMap<u8, Vec<u8>>,
    /// ProxyDHCP boot information, if a proxy answered.
    pub proxy: Option<ProxyLease>,
    ack_next_server: Option<Ipv4Addr>,
}

impl Lease {
    fn from_ack(ack: &DhcpRepr) -> Self {
        let mut lease = Self {
            address: ack.yiaddr,
            netmask: None,
            gateway: None,
            dns_servers: Vec::new(),
            domain: None,
            hostname: None,
            server_id: ack.server_id(),
            next_server: None,
            filename: None,
            lease_time: ack.lease_time(),
            bootp: ack.is_bootp(),
            options: block_options(ack),
            proxy: None,
            ack_next_server: nonzero(ack.siaddr),
        };
        lease.derive();
        lease
    }

    /// Option `code` as `${code}` reads it: from the DHCP block and the ProxyDHCP block in
    /// iPXE's lookup order (higher 175.1 priority first; on a tie the DHCP block, which is
    /// registered first).
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.blocks()
            .into_iter()
            .find_map(|(options, _)| options.get(&code))
            .map(Vec::as_slice)
    }

    /// The settings blocks in lookup order.
    fn blocks(&self) -> Vec<Block<'_>> {
        let own = (&self.options, self.ack_next_server);
        match &self.proxy {
            None => alloc::vec![own],
            Some(p) if priority(&p.options) > priority(&self.options) => {
                alloc::vec![(&p.options, p.next_server), own]
            }
            Some(p) => alloc::vec![own, (&p.options, p.next_server)],
        }
    }

    /// Recomputes the convenience fields from the blocks.
    fn derive(&mut self) {
        let ip = |v: &[u8]| <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from);
        self.netmask = self.option(opt::SUBNET_MASK).and_then(ip);
        self.gateway = self
            .option(opt::ROUTER)
            .and_then(|v| ipv4_list(v).first().copied());
        self.dns_servers = ipv4_list(self.option(opt::DNS_SERVERS).unwrap_or(&[]));
        self.domain = self.option(opt::DOMAIN_NAME).map(text);
        self.hostname = self.option(opt::HOSTNAME).map(text);
        self.filename = self.option(opt::BOOTFILE_NAME).map(text);
        self.next_server = self.blocks().into_iter().find_map(|(_, ns)| ns);
    }
}

/// A settings block: its options and its siaddr.
type Block<'a> = (&'a BTreeMap<u8, Vec<u8>>, Option<Ipv4Addr>);

/// Why DHCP failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhcpClientError {
    /// Discovery timed out without a usable offer.
    NoOffers {
        /// The NIC.
        mac: [u8; 6],
        /// How long discovery ran.
        after: Millis,
    },
    /// The chosen server never acknowledged its offer.
    NoAck {
        /// The server.
        server: Ipv4Addr,
        /// The address it offered.
        address: Ipv4Addr,
        /// How long the request phase ran.
        after: Millis,
    },
    /// Servers kept refusing our requests.
    TooManyNaks {
        /// The last refusing server.
        server: Ipv4Addr,
        /// Refusals seen.
        count: u32,
    },
}

impl fmt::Display for DhcpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoOffers { mac: m, after } => write!(
                f,
                "no DHCP offers received on {} after {} s \
                 (check the cable, the switch port's STP/LACP setup, and that a DHCP server \
                 serves this network)",
                crate::platform::MacText(*m),
                after / 1000
            ),
            Self::NoAck {
                server,
                address,
                after,
            } => write!(
                f,
                "DHCP server {server} offered {address} but did not acknowledge it after {} s",
                after / 1000
            ),
            Self::TooManyNaks { server, count } => write!(
                f,
                "DHCP server {server} refused our request (DHCPNAK) {count} times; \
                 another server may be handing out conflicting addresses"
            ),
        }
    }
}

impl core::error::Error for DhcpClientError {}

/// Where the client is, as seen by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpState<'a> {
    /// Still exchanging messages.
    Running,
    /// Done: configure the interface with this lease.
    Bound(&'a Lease),
    /// Gave up.
    Failed(&'a DhcpClientError),
}

/// An offer that can give us an address.
#[derive(Clone, Debug)]
struct Offer {
    repr: DhcpRepr,
    /// Option 54 as sent (unspecified for BOOTP); the REQUEST names it and the ACK must match.
    server: Ipv4Addr,
    rank: (i8, bool, bool),
    no_pxedhcp: bool,
}

/// An offer carrying `PXEClient` boot information (may be the same packet as the [`Offer`]).
#[derive(Clone, Debug)]
struct ProxyOffer {
    repr: DhcpRepr,
    server: Ipv4Addr,
    priority: i8,
}

#[derive(Clone, Debug)]
enum Phase {
    Discover {
        start: Millis,
        best: Option<Offer>,
        proxy: Option<ProxyOffer>,
    },
    Request {
        start: Millis,
        offer: Offer,
        proxy: Option<ProxyOffer>,
    },
    Proxy {
        start: Millis,
        lease: Lease,
        proxy: ProxyOffer,
    },
    Bound(Lease),
    Failed(DhcpClientError),
}

/// Exponential back-off: after each expiry the interval doubles; when the doubled interval
/// would pass `max`, the state times out (iPXE's rule).
#[derive(Clone, Copy, Debug)]
struct Retry {
    next: Millis,
    interval: Millis,
    max: Millis,
    sent: u32,
}

impl Retry {
    fn start(now: Millis, initial: Millis, max: Millis) -> Self {
        // iPXE floors intervals at 0.25 s; it also keeps a zero initial value from spinning.
        let interval = initial.max(250);
        Self {
            next: now,
            interval,
            max,
            sent: 0,
        }
    }

    fn exhausted(&self, now: Millis) -> bool {
        self.sent > 0 && now >= self.next && self.interval.saturating_mul(2) > self.max
    }

    fn on_send(&mut self, now: Millis) {
        if self.sent > 0 {
            self.interval = self.interval.saturating_mul(2).min(self.max);
        }
        self.next = now.saturating_add(self.interval);
        self.sent += 1;
    }
}

/// The DHCP client engine. See the module documentation.
#[derive(Clone, Debug)]
pub struct DhcpClient {
    config: DhcpConfig,
    phase: Phase,
    retry: Retry,
    naks: u32,
}

impl DhcpClient {
    /// Starts discovery at `now`; the first DISCOVER is due immediately.
    pub fn new(config: DhcpConfig, now: Millis) -> Self {
        let t = config.timings;
        Self {
            config,
            phase: Phase::Discover {
                start: now,
                best: None,
                proxy: None,
            },
            retry: Retry::start(now, t.discover_initial, t.discover_max),
            naks: 0,
        }
    }

    /// Where the client is.
    pub fn state(&self) -> DhcpState<'_> {
        match &self.phase {
            Phase::Bound(lease) => DhcpState::Bound(lease),
            Phase::Failed(e) => DhcpState::Failed(e),
            _ => DhcpState::Running,
        }
    }

    /// The acknowledged lease, already during the ProxyDHCP exchange: the caller must
    /// configure this address then, because the proxy answers by unicast.
    pub fn acked(&self) -> Option<&Lease> {
        match &self.phase {
            Phase::Proxy { lease, .. } | Phase::Bound(lease) => Some(lease),
            _ => None,
        }
    }

    /// When [`DhcpClient::poll_transmit`] next has work (a send or a timeout); `None` once
    /// bound or failed.
    pub fn poll_deadline(&self) -> Option<Millis> {
        let t = &self.config.timings;
        let extra = match &self.phase {
            Phase::Discover {
                start,
                best: Some(_),
                ..
            } => start.saturating_add(t.selection_window),
            Phase::Proxy { start, .. } => start.saturating_add(t.proxy_timeout),
            Phase::Discover { .. } | Phase::Request { .. } => Millis::MAX,
            Phase::Bound(_) | Phase::Failed(_) => return None,
        };
        Some(self.retry.next.min(extra))
    }

    /// Applies timeouts due by `now` and returns the datagram to send, if one is due.
    pub fn poll_transmit(&mut self, now: Millis) -> Option<Datagram> {
        self.on_time(now);
        if now < self.retry.next {
            return None;
        }
        let datagram = self.build()?;
        self.retry.on_send(now);
        Some(datagram)
    }

    /// Feeds a datagram received on port 68 from `from`. Anything that is not a reply to us
    /// (malformed, wrong xid, chaddr or op, unexpected type or port) is ignored.
    pub fn handle(&mut self, now: Millis, from: SocketAddrV4, payload: &[u8]) {
        self.on_time(now);
        let Ok(reply) = DhcpRepr::parse_bytes(payload) else {
            return;
        };
        if reply.op != Op::Reply || reply.xid != self.config.xid || reply.chaddr != self.config.mac
        {
            return;
        }
        let msg = reply.message_type();
        let bootp = reply.is_bootp();
        let phase = core::mem::replace(&mut self.phase, Phase::Failed(placeholder()));
        self.phase = match phase {
            Phase::Discover {
                start,
                mut best,
                mut proxy,
            } => {
                self.consider(&reply, from, &mut best, &mut proxy);
                let ready = best.as_ref().is_some_and(|b| {
                    b.no_pxedhcp
                        || proxy.is_some()
                        || now >= start.saturating_add(self.config.timings.selection_window)
                });
                let phase = Phase::Discover { start, best, proxy };
                if ready {
                    self.select(now, phase)
                } else {
                    phase
                }
            }
            Phase::Request {
                start,
                offer,
                proxy,
            } => {
                let ours = from.port() == SERVER_PORT
                    && reply.server_id().unwrap_or(Ipv4Addr::UNSPECIFIED) == offer.server;
                if ours
                    && (msg == Some(MessageType::Ack) || bootp)
                    && reply.yiaddr == offer.repr.yiaddr
                {
                    self.bind(now, &reply, proxy, offer.no_pxedhcp)
                } else if ours && msg == Some(MessageType::Nak) {
                    self.naks += 1;
                    if self.naks >= MAX_NAK_RESTARTS {
                        let server = offer.server;
                        Phase::Failed(DhcpClientError::TooManyNaks {
                            server,
                            count: self.naks,
                        })
                    } else {
                        self.restart(now)
                    }
                } else {
                    Phase::Request {
                        start,
                        offer,
                        proxy,
                    }
                }
            }
            Phase::Proxy {
                start,
                lease,
                proxy,
            } => {
                let answer = from.port() == PROXY_PORT
                    && matches!(msg, Some(MessageType::Offer | MessageType::Ack))
                    && server_identity(&reply, from) == proxy.server
                    && has_pxe_options(&reply);
                if answer {
                    let server = proxy.server;
                    Phase::Bound(merge_proxy(lease, &reply, server, true))
                } else {
                    Phase::Proxy {
                        start,
                        lease,
                        proxy,
                    }
                }
            }
            done @ (Phase::Bound(_) | Phase::Failed(_)) => done,
        };
    }

    /// Records a discovery-phase reply as the best DHCP offer and/or ProxyDHCP offer.
    fn consider(
        &self,
        reply: &DhcpRepr,
        from: SocketAddrV4,
        best: &mut Option<Offer>,
        proxy: &mut Option<ProxyOffer>,
    ) {
        let msg = reply.message_type();
        let priority = priority_of(reply);
        let no_pxedhcp = reply
            .encapsulated(opt::IPXE_ENCAP, 176)
            .is_some_and(|v| v.iter().any(|&b| b != 0));
        let bootp = reply.is_bootp();
        if !reply.yiaddr.is_unspecified()
            && from.port() == SERVER_PORT
            && (msg == Some(MessageType::Offer) || bootp)
        {
            // iPXE ranks by 175.1 priority only, later offers winning ties. We also prefer
            // a real DHCP server to BOOTP and an offer that names a boot file, so a plain
            // office DHCP server does not beat the PXE-configured one by answering last.
            let has_file = !reply.file.is_empty() || reply.option(opt::BOOTFILE_NAME).is_some();
            let rank = (priority, !bootp, has_file);
            if best.as_ref().is_none_or(|b| rank >= b.rank) {
                let server = reply.server_id().unwrap_or(Ipv4Addr::UNSPECIFIED);
                *best = Some(Offer {
                    repr: reply.clone(),
                    server,
                    rank,
                    no_pxedhcp,
                });
            }
        }
        let pxeclient = reply
            .vendor_class()
            .is_some_and(|v| v.starts_with(b"PXEClient"));
        let server = server_identity(reply, from);
        if pxeclient
            && !server.is_unspecified()
            && proxy.as_ref().is_none_or(|p| priority >= p.priority)
        {
            *proxy = Some(ProxyOffer {
                repr: reply.clone(),
                server,
                priority,
            });
        }
    }

    /// Leaves discovery with the chosen offer: REQUEST it, or bind a BOOTP reply directly.
    fn select(&mut self, now: Millis, phase: Phase) -> Phase {
        let Phase::Discover {
            best: Some(offer),
            proxy,
            ..
        } = phase
        else {
            return phase;
        };
        if offer.repr.is_bootp() {
            return self.bind(now, &offer.repr, proxy, offer.no_pxedhcp);
        }
        let t = self.config.timings;
        self.retry = Retry::start(now, t.request_initial, t.request_max);
        Phase::Request {
            start: now,
            offer,
            proxy,
        }
    }

    fn bind(
        &mut self,
        now: Millis,
        ack: &DhcpRepr,
        proxy: Option<ProxyOffer>,
        no_pxedhcp: bool,
    ) -> Phase {
        let lease = Lease::from_ack(ack);
        match proxy {
            Some(p) if !no_pxedhcp => {
                if has_pxe_options(&p.repr) {
                    // Already complete: no need to ask port 4011.
                    Phase::Bound(merge_proxy(lease, &p.repr, p.server, false))
                } else {
                    let t = self.config.timings;
                    self.retry = Retry::start(now, 0, t.request_max);
                    Phase::Proxy {
                        start: now,
                        lease,
                        proxy: p,
                    }
                }
            }
            _ => Phase::Bound(lease),
        }
    }

    fn restart(&mut self, now: Millis) -> Phase {
        let t = self.config.timings;
        self.retry = Retry::start(now, t.discover_initial, t.discover_max);
        Phase::Discover {
            start: now,
            best: None,
            proxy: None,
        }
    }

    /// Timer-driven transitions: end of the selection window, ProxyDHCP give-up, failure.
    fn on_time(&mut self, now: Millis) {
        let t = self.config.timings;
        let phase = core::mem::replace(&mut self.phase, Phase::Failed(placeholder()));
        self.phase = match phase {
            Phase::Discover {
                start,
                best: Some(b),
                proxy,
            } if now >= start.saturating_add(t.selection_window) => self.select(
                now,
                Phase::Discover {
                    start,
                    best: Some(b),
                    proxy,
                },
            ),
            Phase::Proxy {
                start,
                lease,
                proxy,
            } if now >= start.saturating_add(t.proxy_timeout) => {
                // iPXE binds without ProxyDHCP here; the offer's own boot information is
                // better than none (ProxyDHCP replies are often lost to races).
                Phase::Bound(merge_proxy(lease, &proxy.repr, proxy.server, false))
            }
            Phase::Discover { start, .. } if self.retry.exhausted(now) => {
                Phase::Failed(DhcpClientError::NoOffers {
                    mac: self.config.mac,
                    after: now.saturating_sub(start),
                })
            }
            Phase::Request { start, offer, .. } if self.retry.exhausted(now) => {
                Phase::Failed(DhcpClientError::NoAck {
                    server: offer.server,
                    address: offer.repr.yiaddr,
                    after: now.saturating_sub(start),
                })
            }
            other => other,
        };
    }

    /// The message for the current phase.
    fn build(&self) -> Option<Datagram> {
        let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);
        // iPXE's trace in `secs`: (retries << 2) | (have offer << 1) | have proxy offer.
        let trace = |offer: bool, proxy: bool| {
            let retries = u16::try_from(self.retry.sent)
                .unwrap_or(u16::MAX >> 2)
                .min(0x3fff);
            (retries << 2) | (u16::from(offer) << 1) | u16::from(proxy)
        };
        let (repr, dst) = match &self.phase {
            Phase::Discover { best, proxy, .. } => {
                let mut r = self.request(MessageType::Discover, Ipv4Addr::UNSPECIFIED);
                r.secs = trace(best.is_some(), proxy.is_some());
                (r, broadcast)
            }
            Phase::Request { offer, proxy, .. } => {
                let mut r = self.request(MessageType::Request, Ipv4Addr::UNSPECIFIED);
                r.secs = trace(true, proxy.is_some());
                if !offer.server.is_unspecified() {
                    r.set_option(opt::SERVER_ID, offer.server.octets());
                }
                r.set_option(opt::REQUESTED_IP, offer.repr.yiaddr.octets());
                (r, broadcast)
            }
            Phase::Proxy { lease, proxy, .. } => {
                let mut r = self.request(MessageType::Request, lease.address);
                r.secs = trace(true, true);
                r.set_option(opt::SERVER_ID, proxy.server.octets());
                (r, SocketAddrV4::new(proxy.server, PROXY_PORT))
            }
            Phase::Bound(_) | Phase::Failed(_) => return None,
        };
        let payload = repr.to_bytes().ok()?;
        Some(Datagram {
            src_port: CLIENT_PORT,
            dst,
            payload,
        })
    }

    /// A request carrying the options iPXE puts in every request (§10.1).
    fn request(&self, kind: MessageType, ciaddr: Ipv4Addr) -> DhcpRepr {
        let c = &self.config;
        let mut r = DhcpRepr::new(Op::Request, c.xid, c.mac);
        r.ciaddr = ciaddr;
        // We may have no address yet, and the network stack may drop unicast to an address
        // it does not own, so ask for broadcast replies until we have one.
        r.broadcast = ciaddr.is_unspecified();
        let (major, minor) = c.arch.undi_version();
        r.set_option(opt::MESSAGE_TYPE, [kind as u8]);
        r.set_option(opt::MAX_MESSAGE_SIZE, c.max_message_size.to_be_bytes());
        r.set_option(opt::CLIENT_ARCH, c.arch.0.to_be_bytes());
        r.set_option(opt::CLIENT_NDI, [1, major, minor]);
        r.set_option(opt::VENDOR_CLASS, c.vendor_class_id());
        if let Some(uc) = &c.user_class {
            r.set_option(opt::USER_CLASS, uc.clone());
        }
        r.set_option(
            opt::PARAMETER_REQUEST_LIST,
            c.parameter_request_list.clone(),
        );
        if !c.features.is_empty() {
            let encap: Vec<u8> = c.features.iter().flat_map(|&f| [f, 1, 1]).collect();
            r.set_option(opt::IPXE_ENCAP, encap);
        }
        let mut client_id = alloc::vec![1u8];
        client_id.extend_from_slice(&c.mac);
        r.set_option(opt::CLIENT_ID, client_id);
        if let Some(uuid) = &c.uuid {
            let mut v = alloc::vec![0u8];
            v.extend_from_slice(uuid);
            r.set_option(opt::CLIENT_UUID, v);
        }
        if let Some(h) = &c.hostname {
            r.set_option(opt::HOSTNAME, h.clone());
        }
        r
    }
}

/// Stand-in while a phase is moved out by value; always overwritten before returning.
fn placeholder() -> DhcpClientError {
    DhcpClientError::TooManyNaks {
        server: Ipv4Addr::UNSPECIFIED,
        count: 0,
    }
}

fn nonzero(a: Ipv4Addr) -> Option<Ipv4Addr> {
    (!a.is_unspecified()).then_some(a)
}

/// A settings string: bytes up to the first NUL, lossy UTF-8.
fn text(v: &[u8]) -> String {
    let v = v.split(|&b| b == 0).next().unwrap_or(&[]);
    String::from_utf8_lossy(v).into_owned()
}

/// Options as a settings block reads them: populated `sname`/`file` shadow 66/67.
fn block_options(repr: &DhcpRepr) -> BTreeMap<u8, Vec<u8>> {
    let mut map: BTreeMap<u8, Vec<u8>> = repr.options.iter().cloned().collect();
    if !repr.sname.is_empty() {
        map.insert(opt::TFTP_SERVER_NAME, repr.sname.clone());
    }
    if !repr.file.is_empty() {
        map.insert(opt::BOOTFILE_NAME, repr.file.clone());
    }
    map
}

/// `${priority}` (175.1, int8) of a settings block; 0 when absent.
fn priority(options: &BTreeMap<u8, Vec<u8>>) -> i8 {
    options
        .get(&opt::IPXE_ENCAP)
        .and_then(|v| encapsulated(v, 1))
        .and_then(|v| v.first())
        .map_or(0, |&b| b as i8)
}

fn priority_of(repr: &DhcpRepr) -> i8 {
    repr.encapsulated(opt::IPXE_ENCAP, 1)
        .and_then(|v| v.first())
        .map_or(0, |&b| b as i8)
}

/// iPXE's server identity for ProxyDHCP: option 54, else siaddr, else the source address.
fn server_identity(reply: &DhcpRepr, from: SocketAddrV4) -> Ipv4Addr {
    reply
        .server_id()
        .or_else(|| nonzero(reply.siaddr))
        .unwrap_or(*from.ip())
}

/// iPXE's test for a complete PXE answer: a next-server and a boot file, or a boot menu
/// (43.9).
fn has_pxe_options(repr: &DhcpRepr) -> bool {
    let file = !repr.file.is_empty()
        || repr
            .option(opt::BOOTFILE_NAME)
            .is_some_and(|f| !f.is_empty());
    (!repr.siaddr.is_unspecified() && file) || repr.encapsulated(opt::VENDOR_SPECIFIC, 9).is_some()
}

fn merge_proxy(mut lease: Lease, reply: &DhcpRepr, server: Ipv4Addr, confirmed: bool) -> Lease {
    lease.proxy = Some(ProxyLease {
        server,
        next_server: nonzero(reply.siaddr),
        options: block_options(reply),
        confirmed,
    });
    lease.derive();
    lease
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dhcp::Area;
    use crate::wire::dhcp::OptionIter;
    use alloc::string::ToString;
    use alloc::vec;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    const SERVER_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PROXY_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
    const OFFERED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 123);

    fn client() -> DhcpClient {
        let mut config = DhcpConfig::new(MAC, ClientArch::EFI_X86_64);
        config.uuid = Some([0x11; 16]);
        DhcpClient::new(config, 0)
    }

    fn from(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(ip, port)
    }

    /// A server reply to `client`'s transaction.
    fn reply(c: &DhcpClient, kind: Option<MessageType>, yiaddr: Ipv4Addr) -> DhcpRepr {
        let mut r = DhcpRepr::new(Op::Reply, c.config.xid, MAC);
        r.yiaddr = yiaddr;
        if let Some(kind) = kind {
            r.set_option(opt::MESSAGE_TYPE, [kind as u8]);
        }
        r
    }

    /// The full DHCP server A: address, mask, router, DNS, domain, boot file.
    fn server_a(c: &DhcpClient, kind: MessageType) -> Vec<u8> {
        let mut r = reply(c, Some(kind), OFFERED);
        r.siaddr = SERVER_A;
        r.file = b"undionly.kpxe".to_vec();
        r.set_option(opt::SERVER_ID, SERVER_A.octets());
        r.set_option(opt::LEASE_TIME, 3600u32.to_be_bytes());
        r.set_option(opt::SUBNET_MASK, [255, 255, 255, 0]);
        r.set_option(opt::ROUTER, [192, 0, 2, 254, 192, 0, 2, 253]);
        r.set_option(opt::DNS_SERVERS, [192, 0, 2, 53]);
        r.set_option(opt::DOMAIN_NAME, *b"example.org");
        r.set_option(209, *b"pxelinux.cfg/default");
        r.to_bytes().expect("emit")
    }

    /// A ProxyDHCP server B: no address, `PXEClient`, no boot info until asked on 4011.
    fn proxy_b(c: &DhcpClient, kind: MessageType, with_boot: bool) -> Vec<u8> {
        let mut r = reply(c, Some(kind), Ipv4Addr::UNSPECIFIED);
        r.set_option(opt::SERVER_ID, PROXY_B.octets());
        r.set_option(opt::VENDOR_CLASS, *b"PXEClient");
        r.set_option(opt::VENDOR_SPECIFIC, [6, 1, 8]); // 43.6: discovery control
        if with_boot {
            r.siaddr = PROXY_B;
            r.file = b"ipxe.efi".to_vec();
            r.set_option(opt::TFTP_SERVER_NAME, *b"boot.example.org");
        }
        r.to_bytes().expect("emit")
    }

    fn sent(c: &mut DhcpClient, now: Millis) -> (Datagram, DhcpRepr) {
        let d = c.poll_transmit(now).expect("a datagram is due");
        let r = DhcpRepr::parse_bytes(&d.payload).expect("we emit valid packets");
        (d, r)
    }

    fn bound(c: &DhcpClient) -> &Lease {
        match c.state() {
            DhcpState::Bound(lease) => lease,
            other => panic!("not bound: {other:?}"),
        }
    }

    #[test]
    fn discover_carries_exactly_the_pxe_options() {
        let mut c = client();
        let (d, r) = sent(&mut c, 0);
        assert_eq!(d.src_port, 68);
        assert_eq!(d.dst, from(Ipv4Addr::BROADCAST, 67));
        assert_eq!(r.op, Op::Request);
        assert!(r.broadcast);
        assert_eq!(r.chaddr, MAC);
        assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
        let codes: Vec<u8> = r.options.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [53, 57, 93, 94, 60, 77, 55, 61, 97]);
        assert_eq!(r.message_type(), Some(MessageType::Discover));
        assert_eq!(r.option(57), Some(&1472u16.to_be_bytes()[..]));
        assert_eq!(r.option(93), Some(&[0, 7][..]));
        assert_eq!(r.option(94), Some(&[1, 3, 10][..]));
        assert_eq!(r.option(60), Some(&b"PXEClient:Arch:00007:UNDI:003010"[..]));
        assert_eq!(r.option(77), Some(&b"iPXE"[..]));
        assert_eq!(
            r.option(55),
            Some(
                &[
                    1, 3, 6, 12, 15, 17, 26, 28, 42, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132,
                    133, 134, 135, 175, 209, 210
                ][..]
            )
        );
        assert_eq!(
            r.option(61),
            Some(&[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56][..])
        );
        let mut uuid = vec![0u8];
        uuid.extend_from_slice(&[0x11; 16]);
        assert_eq!(r.option(97), Some(&uuid[..]));
    }

    #[test]
    fn bios_vendor_class_hostname_and_features() {
        let mut config = DhcpConfig::new(MAC, ClientArch::BIOS);
        config.hostname = Some(b"node7".to_vec());
        config.features = vec![0x13, 0x15];
        config.user_class = None;
        let mut c = DhcpClient::new(config, 0);
        let (_, r) = sent(&mut c, 0);
        assert_eq!(r.option(60), Some(&b"PXEClient:Arch:00000:UNDI:002001"[..]));
        assert_eq!(r.option(93), Some(&[0, 0][..]));
        assert_eq!(r.option(94), Some(&[1, 2, 1][..]));
        assert_eq!(r.option(12), Some(&b"node7"[..]));
        assert_eq!(r.option(77), None);
        assert_eq!(r.option(97), None);
        assert_eq!(r.option(175), Some(&[0x13, 1, 1, 0x15, 1, 1][..]));
    }

    #[test]
    fn full_exchange_binds() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(100, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        // Still waiting for a possible ProxyDHCP offer.
        assert_eq!(c.poll_transmit(100), None);
        assert_eq!(c.poll_deadline(), Some(1000)); // retransmit before the 2 s window
        let (_, again) = sent(&mut c, 1000);
        assert_eq!(again.secs, (1 << 2) | 0b10); // trace: one retry, have an offer
        assert_eq!(c.poll_deadline(), Some(2000));
        let (d, req) = sent(&mut c, 2000);
        assert_eq!(d.dst, from(Ipv4Addr::BROADCAST, 67));
        assert_eq!(req.message_type(), Some(MessageType::Request));
        assert_eq!(req.server_id(), Some(SERVER_A));
        assert_eq!(req.requested_ip(), Some(OFFERED));
        assert_eq!(req.option(77), Some(&b"iPXE"[..]));
        c.handle(2010, from(SERVER_A, 67), &server_a(&c, MessageType::Ack));
        let lease = bound(&c);
        assert_eq!(lease.address, OFFERED);
        assert_eq!(lease.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(lease.gateway, Some(Ipv4Addr::new(192, 0, 2, 254)));
        assert_eq!(lease.dns_servers, [Ipv4Addr::new(192, 0, 2, 53)]);
        assert_eq!(lease.domain.as_deref(), Some("example.org"));
        assert_eq!(lease.server_id, Some(SERVER_A));
        assert_eq!(lease.next_server, Some(SERVER_A));
        assert_eq!(lease.filename.as_deref(), Some("undionly.kpxe"));
        assert_eq!(lease.lease_time, Some(3600));
        assert_eq!(lease.option(209), Some(&b"pxelinux.cfg/default"[..]));
        assert_eq!(lease.option(67), Some(&b"undionly.kpxe"[..]));
        assert!(!lease.bootp && lease.proxy.is_none());
        assert_eq!(c.poll_deadline(), None);
        assert_eq!(c.poll_transmit(5000), None);
    }

    #[test]
    fn discover_backoff_and_timeout() {
        let mut c = client();
        let mut times = Vec::new();
        for now in (0..20_000).step_by(50) {
            if c.poll_transmit(now).is_some() {
                times.push(now);
            }
        }
        assert_eq!(times, [0, 1000, 3000, 7000]);
        match c.state() {
            DhcpState::Failed(e) => {
                assert_eq!(
                    e,
                    &DhcpClientError::NoOffers {
                        mac: MAC,
                        after: 15_000
                    }
                );
                assert_eq!(
                    e.to_string().split(" (").next(),
                    Some("no DHCP offers received on 52:54:00:12:34:56 after 15 s")
                );
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn deadlines_drive_the_same_schedule() {
        let mut c = client();
        let mut now = 0;
        let mut times = Vec::new();
        while let Some(deadline) = c.poll_deadline() {
            now = deadline.max(now);
            if c.poll_transmit(now).is_some() {
                times.push(now);
            }
        }
        assert_eq!(times, [0, 1000, 3000, 7000]);
        assert_eq!(now, 15_000);
        assert!(matches!(c.state(), DhcpState::Failed(_)));
    }

    #[test]
    fn request_timeout_fails_with_server_named() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(100, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        let mut times = Vec::new();
        for now in (2000..40_000).step_by(250) {
            if c.poll_transmit(now).is_some() {
                times.push(now);
            }
        }
        assert_eq!(times, [2000, 2250, 2750, 3750, 5750, 9750]);
        match c.state() {
            DhcpState::Failed(DhcpClientError::NoAck {
                server,
                address,
                after,
            }) => {
                assert_eq!((*server, *address, *after), (SERVER_A, OFFERED, 15_750));
            }
            other => panic!("expected NoAck, got {other:?}"),
        }
    }

    #[test]
    fn nak_restarts_discovery() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(100, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        sent(&mut c, 2000); // REQUEST
        let mut nak = reply(&c, Some(MessageType::Nak), Ipv4Addr::UNSPECIFIED);
        nak.set_option(opt::SERVER_ID, SERVER_A.octets());
        c.handle(2100, from(SERVER_A, 67), &nak.to_bytes().expect("emit"));
        assert!(matches!(c.state(), DhcpState::Running));
        let (_, r) = sent(&mut c, 2100);
        assert_eq!(r.message_type(), Some(MessageType::Discover));
        // The overall timeout restarts too.
        c.handle(2200, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        let (_, r) = sent(&mut c, 4100);
        assert_eq!(r.message_type(), Some(MessageType::Request));
        c.handle(4200, from(SERVER_A, 67), &server_a(&c, MessageType::Ack));
        assert_eq!(bound(&c).address, OFFERED);
    }

    #[test]
    fn endless_naks_fail() {
        let mut c = client();
        let mut nak = reply(&c, Some(MessageType::Nak), Ipv4Addr::UNSPECIFIED);
        nak.set_option(opt::SERVER_ID, SERVER_A.octets());
        let nak = nak.to_bytes().expect("emit");
        let mut now = 0;
        for _ in 0..MAX_NAK_RESTARTS {
            sent(&mut c, now);
            c.handle(now, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
            now += 2000;
            sent(&mut c, now);
            c.handle(now, from(SERVER_A, 67), &nak);
        }
        assert!(matches!(
            c.state(),
            DhcpState::Failed(DhcpClientError::TooManyNaks { count: 8, .. })
        ));
    }

    #[test]
    fn proxydhcp_exchange_on_4011() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(
            50,
            from(PROXY_B, 67),
            &proxy_b(&c, MessageType::Offer, false),
        );
        assert!(matches!(c.state(), DhcpState::Running));
        // With a proxy offer held, the DHCP offer is taken at once.
        c.handle(60, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        let (_, req) = sent(&mut c, 60);
        assert_eq!(req.message_type(), Some(MessageType::Request));
        assert_eq!(req.secs & 0b11, 0b11);
        c.handle(70, from(SERVER_A, 67), &server_a(&c, MessageType::Ack));
        assert!(matches!(c.state(), DhcpState::Running));
        assert_eq!(c.acked().map(|l| l.address), Some(OFFERED));

        let (d, preq) = sent(&mut c, 70);
        assert_eq!(d.src_port, 68);
        assert_eq!(d.dst, from(PROXY_B, 4011));
        assert_eq!(preq.ciaddr, OFFERED);
        assert!(!preq.broadcast);
        assert_eq!(preq.server_id(), Some(PROXY_B));
        assert_eq!(preq.requested_ip(), None);
        assert_eq!(
            preq.option(60),
            Some(&b"PXEClient:Arch:00007:UNDI:003010"[..])
        );

        // An answer from the wrong port is ignored; the right one binds.
        let ack = proxy_b(&c, MessageType::Ack, true);
        c.handle(80, from(PROXY_B, 67), &ack);
        assert!(matches!(c.state(), DhcpState::Running));
        c.handle(90, from(PROXY_B, 4011), &ack);
        let lease = bound(&c);
        let proxy = lease.proxy.as_ref().expect("proxy info");
        assert!(proxy.confirmed);
        assert_eq!(proxy.server, PROXY_B);
        // iPXE lookup order: the DHCP block first, so A's file and siaddr win ties...
        assert_eq!(lease.filename.as_deref(), Some("undionly.kpxe"));
        assert_eq!(lease.next_server, Some(SERVER_A));
        // ...and what only the proxy has comes from the proxy.
        assert_eq!(lease.option(66), Some(&b"boot.example.org"[..]));
        assert_eq!(lease.option(43), Some(&[6, 1, 8][..]));
        assert_eq!(
            proxy.options.get(&67).map(Vec::as_slice),
            Some(&b"ipxe.efi"[..])
        );
    }

    #[test]
    fn proxydhcp_boot_info_fills_gaps_and_priority_reorders() {
        let mut c = client();
        sent(&mut c, 0);
        // A plain DHCP server with no boot information at all.
        let mut offer = reply(&c, Some(MessageType::Offer), OFFERED);
        offer.set_option(opt::SERVER_ID, SERVER_A.octets());
        let mut ack = offer.clone();
        ack.set_option(opt::MESSAGE_TYPE, [MessageType::Ack as u8]);
        c.handle(
            10,
            from(PROXY_B, 67),
            &proxy_b(&c, MessageType::Offer, false),
        );
        c.handle(20, from(SERVER_A, 67), &offer.to_bytes().expect("emit"));
        sent(&mut c, 20);
        c.handle(30, from(SERVER_A, 67), &ack.to_bytes().expect("emit"));
        sent(&mut c, 30);
        let mut pack = DhcpRepr::parse_bytes(&proxy_b(&c, MessageType::Ack, true)).expect("ok");
        pack.set_option(opt::IPXE_ENCAP, [1, 1, 5]); // priority 5 beats the DHCP block
        pack.set_option(opt::DOMAIN_NAME, *b"proxy.example");
        c.handle(40, from(PROXY_B, 4011), &pack.to_bytes().expect("emit"));
        let lease = bound(&c);
        assert_eq!(lease.filename.as_deref(), Some("ipxe.efi"));
        assert_eq!(lease.next_server, Some(PROXY_B));
        assert_eq!(lease.domain.as_deref(), Some("proxy.example"));
        assert_eq!(lease.server_id, Some(SERVER_A));
    }

    #[test]
    fn proxydhcp_timeout_falls_back_to_the_offer() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(
            10,
            from(PROXY_B, 67),
            &proxy_b(&c, MessageType::Offer, false),
        );
        c.handle(20, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        sent(&mut c, 20);
        c.handle(30, from(SERVER_A, 67), &server_a(&c, MessageType::Ack));
        let mut times = Vec::new();
        for now in (30..5000).step_by(10) {
            if c.poll_transmit(now).is_some() {
                times.push(now);
            }
        }
        assert_eq!(times, [30, 280, 780, 1780]);
        let lease = bound(&c);
        let proxy = lease.proxy.as_ref().expect("fallback proxy info");
        assert!(!proxy.confirmed);
        assert_eq!(lease.option(43), Some(&[6, 1, 8][..]));
        assert_eq!(lease.filename.as_deref(), Some("undionly.kpxe"));
    }

    #[test]
    fn complete_proxy_offer_skips_4011() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(
            10,
            from(PROXY_B, 67),
            &proxy_b(&c, MessageType::Offer, true),
        );
        c.handle(20, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        sent(&mut c, 20);
        c.handle(30, from(SERVER_A, 67), &server_a(&c, MessageType::Ack));
        let lease = bound(&c);
        assert_eq!(lease.proxy.as_ref().map(|p| p.server), Some(PROXY_B));
    }

    #[test]
    fn no_pxedhcp_ignores_proxy() {
        let mut c = client();
        sent(&mut c, 0);
        let mut offer = DhcpRepr::parse_bytes(&server_a(&c, MessageType::Offer)).expect("ok");
        offer.set_option(opt::IPXE_ENCAP, [176, 1, 1]);
        c.handle(10, from(SERVER_A, 67), &offer.to_bytes().expect("emit"));
        // 175.176 means "don't wait for ProxyDHCP": REQUEST at once.
        let (_, r) = sent(&mut c, 10);
        assert_eq!(r.message_type(), Some(MessageType::Request));
        c.handle(
            20,
            from(PROXY_B, 67),
            &proxy_b(&c, MessageType::Offer, false),
        );
        c.handle(30, from(SERVER_A, 67), &server_a(&c, MessageType::Ack));
        assert!(bound(&c).proxy.is_none());
    }

    #[test]
    fn bootp_reply_binds_after_the_window() {
        let mut c = client();
        sent(&mut c, 0);
        let mut r = reply(&c, None, OFFERED);
        r.siaddr = SERVER_A;
        r.file = b"/tftpboot/vmlinux".to_vec();
        r.set_option(opt::SUBNET_MASK, [255, 255, 0, 0]);
        c.handle(100, from(SERVER_A, 67), &r.to_bytes().expect("emit"));
        assert!(matches!(c.state(), DhcpState::Running));
        sent(&mut c, 1000); // a retransmitted DISCOVER: BOOTP waits for something better
        assert!(matches!(c.state(), DhcpState::Running));
        assert_eq!(c.poll_transmit(2000), None);
        let lease = bound(&c);
        assert!(lease.bootp);
        assert_eq!(lease.address, OFFERED);
        assert_eq!(lease.server_id, None);
        assert_eq!(lease.lease_time, None);
        assert_eq!(lease.filename.as_deref(), Some("/tftpboot/vmlinux"));
        assert_eq!(lease.netmask, Some(Ipv4Addr::new(255, 255, 0, 0)));
    }

    #[test]
    fn dhcp_offer_beats_bootp_reply() {
        let mut c = client();
        sent(&mut c, 0);
        c.handle(10, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        let bootp = reply(&c, None, Ipv4Addr::new(192, 0, 2, 77));
        c.handle(
            20,
            from(Ipv4Addr::new(192, 0, 2, 7), 67),
            &bootp.to_bytes().expect("emit"),
        );
        let (_, r) = sent(&mut c, 2000);
        assert_eq!(r.requested_ip(), Some(OFFERED));
    }

    #[test]
    fn offers_with_a_boot_file_win_and_priority_wins_over_that() {
        let mut c = client();
        sent(&mut c, 0);
        let other = Ipv4Addr::new(192, 0, 2, 2);
        let mut plain = reply(&c, Some(MessageType::Offer), Ipv4Addr::new(192, 0, 2, 200));
        plain.set_option(opt::SERVER_ID, other.octets());
        c.handle(10, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        c.handle(20, from(other, 67), &plain.to_bytes().expect("emit"));
        let (_, r) = sent(&mut c, 2000);
        assert_eq!(r.server_id(), Some(SERVER_A));

        let mut c = client();
        sent(&mut c, 0);
        plain.set_option(opt::IPXE_ENCAP, [1, 1, 1]);
        c.handle(10, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        c.handle(20, from(other, 67), &plain.to_bytes().expect("emit"));
        let (_, r) = sent(&mut c, 2000);
        assert_eq!(r.server_id(), Some(other));
    }

    #[test]
    fn ignores_what_is_not_ours() {
        let mut c = client();
        sent(&mut c, 0);
        let good = DhcpRepr::parse_bytes(&server_a(&c, MessageType::Offer)).expect("ok");
        let mut foreign_xid = good.clone();
        foreign_xid.xid ^= 1;
        let mut foreign_mac = good.clone();
        foreign_mac.chaddr[5] ^= 1;
        let mut request = good.clone();
        request.op = Op::Request;
        let mut ack_in_discovery = good.clone();
        ack_in_discovery.set_option(opt::MESSAGE_TYPE, [MessageType::Ack as u8]);
        for r in [foreign_xid, foreign_mac, request, ack_in_discovery] {
            c.handle(10, from(SERVER_A, 67), &r.to_bytes().expect("emit"));
        }
        // Wrong source port, and garbage.
        c.handle(10, from(SERVER_A, 1067), &server_a(&c, MessageType::Offer));
        c.handle(10, from(SERVER_A, 67), &[2, 1, 6]);
        c.handle(10, from(SERVER_A, 67), &[]);
        // Nothing was taken: no request at the end of the window, only retransmissions.
        assert_eq!(c.poll_deadline(), Some(1000));
        let (_, r) = sent(&mut c, 1000);
        assert_eq!(r.message_type(), Some(MessageType::Discover));
        // An ACK from another server, or for another address, does not bind.
        c.handle(1100, from(SERVER_A, 67), &server_a(&c, MessageType::Offer));
        sent(&mut c, 2000);
        let mut wrong = good.clone();
        wrong.set_option(opt::MESSAGE_TYPE, [MessageType::Ack as u8]);
        wrong.yiaddr = Ipv4Addr::new(192, 0, 2, 99);
        c.handle(2100, from(SERVER_A, 67), &wrong.to_bytes().expect("emit"));
        wrong.yiaddr = OFFERED;
        wrong.set_option(opt::SERVER_ID, [192, 0, 2, 3]);
        c.handle(2100, from(SERVER_A, 67), &wrong.to_bytes().expect("emit"));
        assert!(matches!(c.state(), DhcpState::Running));
    }

    #[test]
    fn requests_are_well_formed_on_the_wire() {
        let mut c = client();
        let d = c.poll_transmit(0).expect("discover");
        assert!(d.payload.len() >= 300);
        for item in OptionIter::new(&d.payload[240..], Area::Options) {
            item.expect("well-formed options");
        }
    }
}
