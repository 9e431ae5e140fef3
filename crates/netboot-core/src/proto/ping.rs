//! Sans-IO ICMP echo ("ping") engine, with iPXE's pinger timing: one echo request per
//! timeout period; a request still unanswered when the next period starts has timed
//! out. It ends after `count` requests (earlier when the last one is answered), or runs
//! until the caller stops it when there is no count.
//!
//! The engine deals in echo identifiers, sequence numbers and payloads; the caller wraps
//! them in ICMP (smoltcp's ICMP socket does that, and filters by identifier).
//!
//! ```
//! use netboot_core::proto::ping::{PingConfig, Pinger};
//! let mut ping = Pinger::new(PingConfig { ident: 7, size: 4, timeout: 1_000, count: Some(1) }, 0);
//! let echo = ping.poll_transmit(0).expect("first request at once");
//! assert_eq!((echo.ident, echo.seq, echo.data.as_slice()), (7, 1, &[0u8, 1, 2, 3][..]));
//! ping.handle_reply(20, [192, 0, 2, 1].into(), 7, 1, &[0, 1, 2, 3]);
//! assert!(ping.is_done());
//! assert_eq!((ping.sent(), ping.received()), (1, 1));
//! ```

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::Millis;

/// Largest payload that fits an Ethernet frame without fragmentation (1500 − 20 − 8).
pub const MAX_PAYLOAD: usize = 1472;

/// Pinger settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingConfig {
    /// ICMP echo identifier.
    pub ident: u16,
    /// Payload bytes per request (at most [`MAX_PAYLOAD`]; larger is clamped).
    pub size: usize,
    /// Period between requests, and how long each may take to be answered.
    pub timeout: Millis,
    /// Requests to send; `None` or `Some(0)` = until stopped.
    pub count: Option<u64>,
}

/// An echo request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoRequest {
    /// Identifier.
    pub ident: u16,
    /// Sequence number on the wire (the low 16 bits of the count from 1).
    pub seq: u16,
    /// Payload.
    pub data: Vec<u8>,
}

/// What happened to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PingEvent {
    /// A matching reply.
    Reply {
        /// Who answered.
        from: Ipv4Addr,
        /// Sequence number, counting from 1.
        seq: u64,
        /// Payload bytes.
        len: usize,
        /// Round-trip time.
        rtt: Millis,
    },
    /// A reply with the right sequence number but a different payload.
    Corrupt {
        /// Who answered.
        from: Ipv4Addr,
        /// Sequence number.
        seq: u64,
        /// Payload bytes received.
        len: usize,
    },
    /// No reply within the timeout.
    Timeout {
        /// Sequence number.
        seq: u64,
    },
}

/// The pinger. See the module documentation.
#[derive(Clone, Debug)]
pub struct Pinger {
    config: PingConfig,
    sent: u64,
    received: u64,
    pending: Option<(u64, Millis)>,
    deadline: Millis,
    events: VecDeque<PingEvent>,
    done: bool,
}

impl Pinger {
    /// A pinger that sends its first request at the first [`Self::poll_transmit`].
    pub fn new(mut config: PingConfig, now: Millis) -> Self {
        config.size = config.size.min(MAX_PAYLOAD);
        if config.count == Some(0) {
            config.count = None;
        }
        Self {
            config,
            sent: 0,
            received: 0,
            pending: None,
            deadline: now,
            events: VecDeque::new(),
            done: false,
        }
    }

    /// Requests sent.
    pub const fn sent(&self) -> u64 {
        self.sent
    }

    /// Valid replies received.
    pub const fn received(&self) -> u64 {
        self.received
    }

    /// Whether all requests have been answered or timed out.
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// When [`Self::poll_transmit`] must run again (`None` once done).
    pub const fn poll_deadline(&self) -> Option<Millis> {
        if self.done { None } else { Some(self.deadline) }
    }

    /// The next event to report.
    pub fn poll_event(&mut self) -> Option<PingEvent> {
        self.events.pop_front()
    }

    fn payload(&self) -> impl Iterator<Item = u8> {
        (0..self.config.size).map(|i| i as u8)
    }

    fn all_sent(&self) -> bool {
        self.config.count.is_some_and(|c| self.sent >= c)
    }

    /// The next request when its period has started; also times out the previous one.
    pub fn poll_transmit(&mut self, now: Millis) -> Option<EchoRequest> {
        if self.done || now < self.deadline {
            return None;
        }
        if let Some((seq, _)) = self.pending.take() {
            self.events.push_back(PingEvent::Timeout { seq });
        }
        if self.all_sent() {
            self.done = true;
            return None;
        }
        self.sent += 1;
        self.pending = Some((self.sent, now));
        self.deadline = now.saturating_add(self.config.timeout.max(1));
        Some(EchoRequest {
            ident: self.config.ident,
            seq: self.sent as u16,
            data: self.payload().collect(),
        })
    }

    /// Feeds an echo reply. Replies for another identifier, or for a request that is
    /// not the one outstanding (late, duplicated), are ignored.
    pub fn handle_reply(&mut self, now: Millis, from: Ipv4Addr, ident: u16, seq: u16, data: &[u8]) {
        if self.done || ident != self.config.ident {
            return;
        }
        let Some((pending, sent_at)) = self.pending else {
            return;
        };
        if pending as u16 != seq {
            return;
        }
        self.pending = None;
        let len = data.len();
        if len == self.config.size && data.iter().copied().eq(self.payload()) {
            self.received += 1;
            self.events.push_back(PingEvent::Reply {
                from,
                seq: pending,
                len,
                rtt: now.saturating_sub(sent_at),
            });
        } else {
            self.events.push_back(PingEvent::Corrupt {
                from,
                seq: pending,
                len,
            });
        }
        if self.all_sent() {
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn config(count: Option<u64>) -> PingConfig {
        PingConfig {
            ident: 0x1234,
            size: 64,
            timeout: 1_000,
            count,
        }
    }

    #[test]
    fn one_request_per_period_and_early_finish() {
        let mut p = Pinger::new(config(Some(3)), 0);
        let e1 = p.poll_transmit(0).expect("seq 1");
        assert_eq!((e1.seq, e1.data.len(), e1.data[63]), (1, 64, 63));
        assert_eq!(p.poll_transmit(999), None);
        p.handle_reply(10, PEER, 0x1234, 1, &e1.data);
        assert_eq!(
            p.poll_event(),
            Some(PingEvent::Reply {
                from: PEER,
                seq: 1,
                len: 64,
                rtt: 10
            })
        );
        // Duplicates are ignored.
        p.handle_reply(11, PEER, 0x1234, 1, &e1.data);
        assert_eq!(p.poll_event(), None);
        let e2 = p.poll_transmit(1_000).expect("seq 2");
        assert_eq!(e2.seq, 2);
        // seq 2 is lost.
        let e3 = p.poll_transmit(2_000).expect("seq 3");
        assert_eq!(p.poll_event(), Some(PingEvent::Timeout { seq: 2 }));
        assert!(!p.is_done());
        p.handle_reply(2_005, PEER, 0x1234, 3, &e3.data);
        assert!(matches!(
            p.poll_event(),
            Some(PingEvent::Reply { seq: 3, .. })
        ));
        assert!(p.is_done(), "the last reply ends it without waiting");
        assert_eq!((p.sent(), p.received()), (3, 2));
        assert_eq!(p.poll_deadline(), None);
    }

    #[test]
    fn last_request_times_out() {
        let mut p = Pinger::new(config(Some(1)), 5);
        assert!(p.poll_transmit(5).is_some());
        assert_eq!(p.poll_deadline(), Some(1_005));
        assert_eq!(p.poll_transmit(1_005), None);
        assert_eq!(p.poll_event(), Some(PingEvent::Timeout { seq: 1 }));
        assert!(p.is_done());
        assert_eq!(p.received(), 0);
    }

    #[test]
    fn foreign_and_corrupt_replies() {
        let mut p = Pinger::new(config(None), 0);
        let e = p.poll_transmit(0).expect("seq 1");
        p.handle_reply(1, PEER, 0x4321, 1, &e.data);
        p.handle_reply(1, PEER, 0x1234, 2, &e.data);
        assert_eq!(p.poll_event(), None);
        p.handle_reply(2, PEER, 0x1234, 1, &e.data[..10]);
        assert_eq!(
            p.poll_event(),
            Some(PingEvent::Corrupt {
                from: PEER,
                seq: 1,
                len: 10
            })
        );
        assert_eq!(p.received(), 0);
        assert!(!p.is_done(), "no count: runs until stopped");
        for now in (1..100).map(|i| i * 1_000) {
            assert!(p.poll_transmit(now).is_some());
        }
        assert_eq!(p.sent(), 100);
    }

    #[test]
    fn hostile_sizes_and_wrapping_sequence() {
        let mut p = Pinger::new(
            PingConfig {
                size: usize::MAX,
                timeout: 0,
                count: Some(0),
                ..config(None)
            },
            0,
        );
        let e = p.poll_transmit(0).expect("request");
        assert_eq!(e.data.len(), MAX_PAYLOAD);
        p.handle_reply(0, PEER, 0x1234, 1, &[0; 65_535]);
        assert!(matches!(
            p.poll_event(),
            Some(PingEvent::Corrupt { len: 65_535, .. })
        ));
        let mut p = Pinger::new(config(None), 0);
        let mut now = 0;
        for _ in 0..65_537 {
            let _ = p.poll_transmit(now);
            now += 1_000;
        }
        let e = p.poll_transmit(now).expect("request");
        assert_eq!(e.seq, 2, "65 538 wraps to 2 on the wire");
        p.handle_reply(now, PEER, 0x1234, 2, &e.data);
        while let Some(ev) = p.poll_event() {
            if let PingEvent::Reply { seq, .. } = ev {
                assert_eq!(seq, 65_538);
            }
        }
        assert_eq!(p.received(), 1);
    }
}
