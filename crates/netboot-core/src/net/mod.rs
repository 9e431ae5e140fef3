//! The smoltcp glue: one [`NetDevice`] per NIC drives the sans-IO engines of
//! [`crate::proto`] in a single poll loop (poll NIC → poll engine → deadline and Ctrl-C →
//! idle). Nothing here blocks without a timeout, and every wait can be cancelled.
//!
//! DHCP runs on a raw IPv4/UDP socket because it must send from 0.0.0.0 before the
//! interface has an address; everything else uses ordinary smoltcp UDP and TCP sockets.

pub mod csum;
mod diag;
mod fetch;

pub use diag::{PingRequest, PingSummary};
pub use fetch::{Download, HttpOptions, Progress, Sink, VecSink};

use crate::error::Error;
use crate::proto::dhcp::{DhcpClient, DhcpConfig, DhcpState, Lease};
use crate::proto::dns::{DnsConfig, DnsResolver, DnsState};
use crate::proto::{Datagram, Millis};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, Device};
use smoltcp::socket::{raw, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpProtocol, IpVersion,
    Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

/// What a wait loop needs from the platform: time, idling, cancellation and progress.
pub trait Waiter {
    /// Milliseconds on the monotonic clock.
    fn now_ms(&mut self) -> Millis;
    /// Nothing to do for up to `ms` milliseconds: sleep, stall or wait for the NIC.
    fn idle(&mut self, ms: Millis);
    /// Whether the user asked to cancel (Ctrl-C). Called about every 50 ms at most.
    fn cancelled(&mut self) -> bool;
    /// A download made progress (called at most a few times a second, and at the end).
    fn progress(&mut self, _progress: &Progress) {}
}

/// IPv4 configuration of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpConfig {
    /// Our address.
    pub address: Ipv4Addr,
    /// Prefix length (24 for 255.255.255.0).
    pub prefix_len: u8,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers in order of preference.
    pub dns: Vec<Ipv4Addr>,
}

impl IpConfig {
    /// The configuration a DHCP lease describes (no netmask: a /24 is assumed, as the
    /// classful default for the common case, and said so in the docs of `ifstat`).
    pub fn from_lease(lease: &Lease) -> IpConfig {
        let prefix_len = lease
            .netmask
            .map(|m| u32::from(m).leading_ones() as u8)
            .unwrap_or(24);
        IpConfig {
            address: lease.address,
            prefix_len,
            gateway: lease.gateway,
            dns: lease.dns_servers.clone(),
        }
    }
}

/// Socket buffer sizes; large TCP receive buffers give large windows (with scaling).
#[derive(Clone, Copy, Debug)]
pub struct Buffers {
    /// TCP receive buffer in bytes (the advertised window).
    pub tcp_rx: usize,
    /// TCP transmit buffer in bytes.
    pub tcp_tx: usize,
    /// UDP receive payload buffer in bytes (holds a whole TFTP window).
    pub udp_rx: usize,
    /// UDP receive packet slots.
    pub udp_rx_packets: usize,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers {
            tcp_rx: 1 << 20,
            tcp_tx: 16 << 10,
            udp_rx: 128 << 10,
            udp_rx_packets: 96,
        }
    }
}

/// How often wait loops look at the console for Ctrl-C.
const CANCEL_CHECK_MS: Millis = 50;

/// One network interface: a NIC, its smoltcp interface and sockets, and its settings.
pub struct NetDevice<D: Device> {
    name: String,
    device: D,
    iface: Interface,
    sockets: SocketSet<'static>,
    mac: [u8; 6],
    config: Option<IpConfig>,
    lease: Option<Lease>,
    buffers: Buffers,
    next_port: u16,
    seed: u64,
    http_conn: Option<fetch::Connection>,
    http_reused: bool,
    #[cfg(feature = "https")]
    tls: Option<(
        alloc::sync::Arc<crate::tls::TlsSetup>,
        Option<crate::tls::WallClock>,
    )>,
}

impl<D: Device> NetDevice<D> {
    /// Wraps `device` as interface `name` (`net0`) with hardware address `mac`. `seed`
    /// should differ between boots (it picks TCP sequence numbers and ports).
    pub fn new(name: &str, mut device: D, mac: [u8; 6], seed: u64, now: Millis) -> Self {
        let hw = HardwareAddress::Ethernet(EthernetAddress(mac));
        let mut config = Config::new(hw);
        config.random_seed = seed;
        // The interface keeps the capabilities it is made with: those of the checksum
        // verifying wrapper that every poll passes it.
        let iface = Interface::new(config, &mut csum::Verified(&mut device), instant(now));
        NetDevice {
            name: name.to_string(),
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            mac,
            config: None,
            lease: None,
            buffers: Buffers::default(),
            next_port: 49152 + (seed % 8192) as u16,
            seed,
            http_conn: None,
            http_reused: false,
            #[cfg(feature = "https")]
            tls: None,
        }
    }

    /// The trust store (as a [`crate::tls::TlsSetup`]) and wall clock for the next
    /// `https://` connections. Without it, HTTPS uses the build's trust store
    /// ([`crate::tls::TrustStore::builtin`]) and no clock (so validity checks fail).
    #[cfg(feature = "https")]
    pub fn set_tls(
        &mut self,
        setup: alloc::sync::Arc<crate::tls::TlsSetup>,
        clock: Option<crate::tls::WallClock>,
    ) {
        self.tls = Some((setup, clock));
    }

    /// Interface name (`net0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hardware address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Current IPv4 configuration.
    pub fn ip_config(&self) -> Option<&IpConfig> {
        self.config.as_ref()
    }

    /// The last DHCP lease.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Changes socket buffer sizes for later transfers.
    pub fn set_buffers(&mut self, buffers: Buffers) {
        self.buffers = buffers;
    }

    /// The underlying device (for platform code that needs to release it).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Applies a static or DHCP configuration.
    pub fn configure(&mut self, config: IpConfig) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::new(
                IpAddress::Ipv4(config.address),
                config.prefix_len,
            ));
        });
        self.iface.routes_mut().remove_default_ipv4_route();
        if let Some(gw) = config.gateway {
            let _ = self.iface.routes_mut().add_default_ipv4_route(gw);
        }
        self.config = Some(config);
    }

    /// Drops the IPv4 configuration (`ifclose`).
    pub fn deconfigure(&mut self) {
        self.iface.update_ip_addrs(|addrs| addrs.clear());
        self.iface.routes_mut().remove_default_ipv4_route();
        self.config = None;
        self.lease = None;
    }

    /// Moves frames in and out; returns whether anything happened.
    pub fn poll(&mut self, now: Millis) -> bool {
        self.iface.poll(
            instant(now),
            &mut csum::Verified(&mut self.device),
            &mut self.sockets,
        ) != smoltcp::iface::PollResult::None
    }

    /// How long the interface can sleep before it needs polling again.
    fn poll_delay(&mut self, now: Millis) -> Option<Millis> {
        self.iface
            .poll_delay(instant(now), &self.sockets)
            .map(|d| d.total_millis())
    }

    fn ephemeral_port(&mut self) -> u16 {
        self.next_port = if self.next_port >= 65000 {
            49152
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    /// Runs DHCP; on success the interface is configured and the lease returned.
    pub fn dhcp(&mut self, w: &mut impl Waiter, config: DhcpConfig) -> Result<Lease, Error> {
        let now = w.now_ms();
        let mut client = DhcpClient::new(config, now);
        let mut link = UdpLink::raw(self, crate::proto::dhcp::CLIENT_PORT);
        let mut configured_for = None;
        let result = self.drive(w, &mut link, |dev, now, link, _| {
            // During the ProxyDHCP exchange we already own the acked address and must
            // answer ARP for it, or the proxy's unicast reply never arrives.
            if let Some(acked) = client.acked()
                && configured_for != Some(acked.address)
            {
                configured_for = Some(acked.address);
                dev.configure(IpConfig::from_lease(acked));
            }
            link.pump(dev, now, &mut client);
            match client.state() {
                DhcpState::Running => Step::Wait(client.poll_deadline()),
                DhcpState::Bound(lease) => Step::Done(Ok(lease.clone())),
                DhcpState::Failed(e) => Step::Done(Err(Error::Dhcp {
                    interface: dev.name.clone(),
                    cause: e.clone(),
                })),
            }
        });
        link.close(self);
        match result {
            Ok(lease) => {
                self.configure(IpConfig::from_lease(&lease));
                self.lease = Some(lease.clone());
                Ok(lease)
            }
            Err(e) => {
                if configured_for.is_some() {
                    self.deconfigure();
                }
                Err(e)
            }
        }
    }

    /// Resolves `host` (an IPv4 literal or a DNS name) with the configured servers.
    pub fn resolve(&mut self, w: &mut impl Waiter, host: &str) -> Result<Ipv4Addr, Error> {
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(ip);
        }
        let servers = self.require_config()?.dns.clone();
        let port = self.ephemeral_port();
        let config = DnsConfig::new(port, (self.seed as u16) ^ port);
        let mut resolver = DnsResolver::new(host, &servers, config, w.now_ms());
        let mut link = UdpLink::socket(self, port);
        let result = self.drive(w, &mut link, |dev, now, link, _| {
            link.pump(dev, now, &mut resolver);
            match resolver.state() {
                DnsState::Running => Step::Wait(resolver.poll_deadline()),
                DnsState::Resolved(ip) => Step::Done(Ok(*ip)),
                DnsState::Failed(e) => Step::Done(Err(Error::Dns(e.clone()))),
            }
        });
        link.close(self);
        result
    }

    fn require_config(&self) -> Result<&IpConfig, Error> {
        self.config.as_ref().ok_or_else(|| Error::NotConfigured {
            interface: self.name.clone(),
        })
    }

    /// The poll loop: polls the interface, runs `step`, checks Ctrl-C, idles until the
    /// engine's deadline or the interface's next timer.
    fn drive<W: Waiter, L, T>(
        &mut self,
        w: &mut W,
        link: &mut L,
        mut step: impl FnMut(&mut Self, Millis, &mut L, &mut W) -> Step<T>,
    ) -> Result<T, Error> {
        let mut last_cancel_check = 0;
        loop {
            let now = w.now_ms();
            self.poll(now);
            let deadline = match step(self, now, link, w) {
                Step::Done(r) => {
                    // Flush what the final step queued (a last ACK, a FIN).
                    self.poll(w.now_ms());
                    return r;
                }
                Step::Wait(deadline) => deadline,
            };
            // Ctrl-C is checked on a timer, busy or not: a fast transfer never idles.
            if now >= last_cancel_check + CANCEL_CHECK_MS {
                last_cancel_check = now;
                if w.cancelled() {
                    return Err(Error::Cancelled);
                }
            }
            if self.poll(now) {
                continue;
            }
            let mut wait = deadline
                .map(|d| d.saturating_sub(now))
                .unwrap_or(CANCEL_CHECK_MS);
            if let Some(d) = self.poll_delay(now) {
                wait = wait.min(d);
            }
            if wait > 0 {
                w.idle(wait.min(CANCEL_CHECK_MS));
            }
        }
    }
}

/// What a poll-loop step decided.
enum Step<T> {
    /// Finished with this result.
    Done(Result<T, Error>),
    /// Waiting; the engine's next deadline, if any.
    Wait(Option<Millis>),
}

fn instant(ms: Millis) -> Instant {
    Instant::from_millis(ms as i64)
}

/// A sans-IO engine that speaks UDP, as [`UdpLink::pump`] drives it.
pub(crate) trait UdpEngine {
    /// Takes a received datagram.
    fn handle(&mut self, now: Millis, from: SocketAddrV4, payload: &[u8]);
    /// The next datagram to send.
    fn poll_transmit(&mut self, now: Millis) -> Option<Datagram>;
}

macro_rules! udp_engine {
    ($($ty:ty),*) => {$(
        impl UdpEngine for $ty {
            fn handle(&mut self, now: Millis, from: SocketAddrV4, payload: &[u8]) {
                <$ty>::handle(self, now, from, payload)
            }
            fn poll_transmit(&mut self, now: Millis) -> Option<Datagram> {
                <$ty>::poll_transmit(self, now)
            }
        }
    )*};
}
udp_engine!(DhcpClient, DnsResolver, crate::proto::ntp::SntpClient);

/// A UDP endpoint for an engine: an ordinary smoltcp socket, or a raw IPv4 socket that
/// can send from 0.0.0.0 (DHCP before the interface has an address).
struct UdpLink {
    handle: SocketHandle,
    port: u16,
    raw: bool,
}

impl UdpLink {
    fn socket<D: Device>(dev: &mut NetDevice<D>, port: u16) -> UdpLink {
        let b = dev.buffers;
        let rx = udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; b.udp_rx_packets],
            vec![0; b.udp_rx],
        );
        let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16 << 10]);
        let mut socket = udp::Socket::new(rx, tx);
        // Binding a fresh socket to a non-zero port cannot fail.
        let _ = socket.bind(port);
        UdpLink {
            handle: dev.sockets.add(socket),
            port,
            raw: false,
        }
    }

    fn raw<D: Device>(dev: &mut NetDevice<D>, port: u16) -> UdpLink {
        let rx = raw::PacketBuffer::new(vec![raw::PacketMetadata::EMPTY; 16], vec![0; 16 << 10]);
        let tx = raw::PacketBuffer::new(vec![raw::PacketMetadata::EMPTY; 8], vec![0; 8 << 10]);
        let socket = raw::Socket::new(Some(IpVersion::Ipv4), Some(IpProtocol::Udp), rx, tx);
        UdpLink {
            handle: dev.sockets.add(socket),
            port,
            raw: true,
        }
    }

    fn close<D: Device>(self, dev: &mut NetDevice<D>) {
        dev.sockets.remove(self.handle);
    }

    /// Hands every waiting datagram to `engine`, then sends what it queued: receiving
    /// first lets replies (ACKs, REQUESTs) leave in the same poll-loop iteration.
    fn pump<D: Device>(
        &mut self,
        dev: &mut NetDevice<D>,
        now: Millis,
        engine: &mut impl UdpEngine,
    ) {
        while self
            .recv_with(dev, |from, payload| engine.handle(now, from, payload))
            .is_some()
        {}
        while let Some(d) = engine.poll_transmit(now) {
            self.send(dev, &d);
        }
    }

    /// Queues a datagram; a full queue drops it (the engine retransmits).
    fn send<D: Device>(&mut self, dev: &mut NetDevice<D>, d: &Datagram) {
        if !self.raw {
            let socket = dev.sockets.get_mut::<udp::Socket>(self.handle);
            let to = IpEndpoint::new(IpAddress::Ipv4(*d.dst.ip()), d.dst.port());
            let _ = socket.send_slice(&d.payload, to);
            return;
        }
        let src = dev
            .config
            .as_ref()
            .map(|c| c.address)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let udp_repr = UdpRepr {
            src_port: d.src_port,
            dst_port: d.dst.port(),
        };
        let ip_repr = Ipv4Repr {
            src_addr: src,
            dst_addr: *d.dst.ip(),
            next_header: IpProtocol::Udp,
            payload_len: udp_repr.header_len() + d.payload.len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; ip_repr.buffer_len() + ip_repr.payload_len];
        let caps = ChecksumCapabilities::default();
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip_repr.emit(&mut ip, &caps);
        let mut udp_packet = UdpPacket::new_unchecked(ip.payload_mut());
        udp_repr.emit(
            &mut udp_packet,
            &IpAddress::Ipv4(src),
            &IpAddress::Ipv4(*d.dst.ip()),
            d.payload.len(),
            |p| p.copy_from_slice(&d.payload),
            &caps,
        );
        let _ = dev
            .sockets
            .get_mut::<raw::Socket>(self.handle)
            .send_slice(&buf);
    }

    /// Hands the next datagram for our port to `f` as (source, payload), borrowed from the
    /// socket buffer (no copy); `None` when nothing is waiting.
    fn recv_with<D: Device, R>(
        &mut self,
        dev: &mut NetDevice<D>,
        mut f: impl FnMut(SocketAddrV4, &[u8]) -> R,
    ) -> Option<R> {
        if !self.raw {
            let socket = dev.sockets.get_mut::<udp::Socket>(self.handle);
            let (payload, meta) = socket.recv().ok()?;
            let IpAddress::Ipv4(ip) = meta.endpoint.addr;
            return Some(f(SocketAddrV4::new(ip, meta.endpoint.port), payload));
        }
        let socket = dev.sockets.get_mut::<raw::Socket>(self.handle);
        let caps = ChecksumCapabilities::default();
        // Raw sockets see every UDP packet: skip those for other ports and bad ones.
        while let Ok(packet) = socket.recv() {
            let Ok(ip) = Ipv4Packet::new_checked(packet) else {
                continue;
            };
            let Ok(ip_repr) = Ipv4Repr::parse(&ip, &caps) else {
                continue;
            };
            let Ok(udp_packet) = UdpPacket::new_checked(ip.payload()) else {
                continue;
            };
            let (src, dst) = (
                IpAddress::Ipv4(ip_repr.src_addr),
                IpAddress::Ipv4(ip_repr.dst_addr),
            );
            let Ok(udp_repr) = UdpRepr::parse(&udp_packet, &src, &dst, &caps) else {
                continue;
            };
            if udp_repr.dst_port == self.port {
                let from = SocketAddrV4::new(ip_repr.src_addr, udp_repr.src_port);
                return Some(f(from, udp_packet.payload()));
            }
        }
        None
    }
}
