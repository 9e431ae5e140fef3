//! Network diagnostics and services beyond downloads: `ping` (ICMP echo through a
//! smoltcp ICMP socket) and `ntp` (one SNTP exchange), driving the engines of
//! [`crate::proto::ping`] and [`crate::proto::ntp`] in the usual poll loop.

use super::{NetDevice, Step, UdpLink, Waiter};
use crate::error::Error;
use crate::proto::Millis;
use crate::proto::ntp::{NtpTime, SntpClient, SntpConfig, SntpState};
use crate::proto::ping::{MAX_PAYLOAD, PingConfig, PingEvent, Pinger};
use alloc::vec;
use core::net::Ipv4Addr;
use smoltcp::phy::{ChecksumCapabilities, Device};
use smoltcp::socket::icmp;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress};

/// How a `ping` run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingSummary {
    /// Echo requests sent.
    pub sent: u64,
    /// Valid replies received.
    pub received: u64,
    /// Whether Ctrl-C stopped it.
    pub cancelled: bool,
}

/// `ping` parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingRequest {
    /// Whom to ping.
    pub target: Ipv4Addr,
    /// Payload bytes per request (clamped to [`MAX_PAYLOAD`]).
    pub size: usize,
    /// Period between requests, and the time each may take to be answered.
    pub timeout: Millis,
    /// Requests to send; `None` = until Ctrl-C.
    pub count: Option<u64>,
}

impl<D: Device> NetDevice<D> {
    /// Pings `req.target`, handing each event to `report` together with the waiter (so
    /// the caller can print through it). Ctrl-C ends the run normally, with
    /// [`PingSummary::cancelled`] set; errors are for an unconfigured interface.
    pub fn ping<W: Waiter>(
        &mut self,
        w: &mut W,
        req: &PingRequest,
        mut report: impl FnMut(&mut W, &PingEvent),
    ) -> Result<PingSummary, Error> {
        self.require_config()?;
        let ident = (self.seed as u16) ^ self.ephemeral_port();
        let config = PingConfig {
            ident,
            size: req.size.min(MAX_PAYLOAD),
            timeout: req.timeout,
            count: req.count,
        };
        let mut pinger = Pinger::new(config, w.now_ms());
        let slot = MAX_PAYLOAD + 8;
        let rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 8], vec![0; 8 * slot]);
        let tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 4 * slot]);
        let mut socket = icmp::Socket::new(rx, tx);
        // Binding a fresh socket to an identifier cannot fail.
        let _ = socket.bind(icmp::Endpoint::Ident(ident));
        let handle = self.sockets.add(socket);
        let caps = ChecksumCapabilities::default();
        let target = IpAddress::Ipv4(req.target);
        let mut link = ();
        let result = self.drive(w, &mut link, |dev, now, _, w| {
            let socket = dev.sockets.get_mut::<icmp::Socket>(handle);
            while let Ok((payload, IpAddress::Ipv4(from))) = socket.recv() {
                let Ok(packet) = Icmpv4Packet::new_checked(payload) else {
                    continue;
                };
                if let Ok(Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                }) = Icmpv4Repr::parse(&packet, &caps)
                {
                    pinger.handle_reply(now, from, ident, seq_no, data);
                }
            }
            while let Some(echo) = pinger.poll_transmit(now) {
                let repr = Icmpv4Repr::EchoRequest {
                    ident: echo.ident,
                    seq_no: echo.seq,
                    data: &echo.data,
                };
                // A full queue drops the request; it then shows as a timeout.
                if let Ok(buf) = socket.send(repr.buffer_len(), target) {
                    repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
                }
            }
            while let Some(event) = pinger.poll_event() {
                report(w, &event);
            }
            if pinger.is_done() {
                Step::Done(Ok(()))
            } else {
                Step::Wait(pinger.poll_deadline())
            }
        });
        self.sockets.remove(handle);
        let cancelled = match result {
            Ok(()) => false,
            Err(Error::Cancelled) => true,
            Err(e) => return Err(e),
        };
        Ok(PingSummary {
            sent: pinger.sent(),
            received: pinger.received(),
            cancelled,
        })
    }

    /// One SNTP exchange with `server` (an IPv4 literal or a name, resolved with the
    /// configured DNS servers). The outer error is the network's (no configuration, DNS,
    /// Ctrl-C); the inner one the protocol's (no valid reply, kiss-o'-death).
    pub fn ntp(&mut self, w: &mut impl Waiter, server: &str) -> Result<NtpTime, Error> {
        self.require_config()?;
        let ip = self.resolve(w, server)?;
        let port = self.ephemeral_port();
        let now = w.now_ms();
        let seed = self.seed ^ now.rotate_left(32) ^ u64::from(port);
        let mut client = SntpClient::new(ip, SntpConfig::new(port, seed), now);
        let mut link = UdpLink::socket(self, port);
        let result = self.drive(w, &mut link, |dev, now, link, _| {
            link.pump(dev, now, &mut client);
            match client.state() {
                SntpState::Running => Step::Wait(client.poll_deadline()),
                SntpState::Done(time) => Step::Done(Ok(*time)),
                SntpState::Failed(e) => Step::Done(Err(Error::Ntp {
                    server: server.into(),
                    cause: *e,
                })),
            }
        });
        link.close(self);
        result
    }
}
