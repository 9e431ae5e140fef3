//! Sans-IO SNTP client (RFC 4330 §5, the unicast client of RFC 5905's packet format).
//!
//! One exchange: a mode-3 request whose transmit timestamp is a random nonce (the
//! client has no clock yet), retransmitted with a fresh nonce after each timeout. A
//! reply counts only if it comes from the server's port 123, is in server mode (4),
//! echoes one of our nonces as its originate timestamp, carries a non-zero transmit
//! timestamp, a stratum from 1 to 15 and a leap indicator other than 3 (unsynchronised).
//! Anything else is ignored (it may be spoofed or stale) but remembered, so a timeout
//! can say why the replies were refused. A kiss-o'-death (stratum 0) ends the exchange.
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddrV4};
//! use netboot_core::proto::ntp::{SntpClient, SntpConfig, SntpState};
//! let server = Ipv4Addr::new(192, 0, 2, 1);
//! let mut ntp = SntpClient::new(server, SntpConfig::new(49200, 0x1234_5678), 0);
//! let request = ntp.poll_transmit(0).expect("a request");
//! assert_eq!(request.dst, SocketAddrV4::new(server, 123));
//! assert_eq!(request.payload.len(), 48);
//! assert_eq!(request.payload[0], 0x23); // LI 0, version 4, mode 3 (client)
//! assert_eq!(*ntp.state(), SntpState::Running);
//! ```

use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::{Datagram, Millis};

/// The NTP server port.
pub const NTP_PORT: u16 = 123;
/// Size of an NTP packet without extension fields or authenticator.
pub const PACKET_LEN: usize = 48;
/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SntpConfig {
    /// Local UDP port the request is sent from.
    pub local_port: u16,
    /// Seed for the request nonces (pick a random-ish one per exchange).
    pub nonce_seed: u64,
    /// How long to wait for a reply before retransmitting.
    pub attempt_timeout: Millis,
    /// Requests sent before giving up.
    pub attempts: u8,
}

impl SntpConfig {
    /// Defaults (2 s per attempt, 4 attempts) with the caller's port and nonce seed.
    pub const fn new(local_port: u16, nonce_seed: u64) -> Self {
        Self {
            local_port,
            nonce_seed,
            attempt_timeout: 2_000,
            attempts: 4,
        }
    }
}

/// Why a reply was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Shorter than the 48-byte header.
    TooShort(usize),
    /// Not from the server's address and port 123.
    WrongSource,
    /// A version other than 1–4.
    BadVersion(u8),
    /// Not a server-mode (4) packet.
    NotServerMode(u8),
    /// The originate timestamp is not one of our requests.
    OriginateMismatch,
    /// Leap indicator 3: the server's clock is not synchronised.
    Unsynchronised,
    /// A stratum above 15 (unsynchronised or invalid).
    BadStratum(u8),
    /// The transmit timestamp is zero.
    ZeroTransmit,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort(n) => write!(f, "{n}-byte reply is shorter than an NTP header"),
            Self::WrongSource => f.write_str("reply from an unexpected address or port"),
            Self::BadVersion(v) => write!(f, "reply has NTP version {v}"),
            Self::NotServerMode(m) => write!(f, "reply is in mode {m}, not server mode 4"),
            Self::OriginateMismatch => f.write_str("reply does not answer our request"),
            Self::Unsynchronised => f.write_str("server clock is not synchronised (leap 3)"),
            Self::BadStratum(s) => write!(f, "server has invalid stratum {s}"),
            Self::ZeroTransmit => f.write_str("reply has no transmit timestamp"),
        }
    }
}

/// Why the exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NtpError {
    /// No acceptable reply after every attempt.
    TimedOut {
        /// Requests sent.
        attempts: u8,
        /// Why the last refused reply was refused, if any came.
        last_rejection: Option<Rejection>,
    },
    /// The server sent a kiss-o'-death with this code (`RATE`, `DENY`, …).
    KissOfDeath([u8; 4]),
}

impl NtpError {
    /// A short fixed description (for error types that take `&'static str`).
    pub const fn summary(&self) -> &'static str {
        match self {
            Self::TimedOut {
                last_rejection: None,
                ..
            } => "no reply from the NTP server (timed out)",
            Self::TimedOut {
                last_rejection: Some(_),
                ..
            } => "no valid reply from the NTP server (replies were refused)",
            Self::KissOfDeath(_) => "the NTP server refused service (kiss-o'-death)",
        }
    }
}

impl fmt::Display for NtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut {
                attempts,
                last_rejection: None,
            } => write!(f, "NTP: no reply after {attempts} requests"),
            Self::TimedOut {
                attempts,
                last_rejection: Some(r),
            } => write!(f, "NTP: no valid reply after {attempts} requests ({r})"),
            Self::KissOfDeath(code) => {
                f.write_str("NTP: server refused service, kiss code ")?;
                for &b in code {
                    let c = if b.is_ascii_graphic() {
                        char::from(b)
                    } else {
                        '?'
                    };
                    write!(f, "{c}")?;
                }
                Ok(())
            }
        }
    }
}

impl core::error::Error for NtpError {}

/// The time an exchange established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpTime {
    /// Milliseconds since the Unix epoch at local time `at`.
    pub unix_ms: u64,
    /// The local monotonic time the reply arrived.
    pub at: Millis,
    /// Round-trip delay in ms (without the server's processing time).
    pub delay_ms: Millis,
    /// The server's stratum.
    pub stratum: u8,
}

impl NtpTime {
    /// Unix milliseconds at local monotonic time `now` (saturating before `at`).
    pub const fn unix_ms_at(&self, now: Millis) -> u64 {
        self.unix_ms.saturating_add(now.saturating_sub(self.at))
    }
}

/// Where the exchange is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SntpState {
    /// Waiting for a reply.
    Running,
    /// An acceptable reply arrived.
    Done(NtpTime),
    /// Failed.
    Failed(NtpError),
}

/// Converts a 64-bit NTP timestamp to Unix milliseconds. Era 0 ends in 2036; seconds
/// with the top bit clear are taken to be in era 1 (RFC 4330 §3).
pub const fn ntp_to_unix_ms(timestamp: u64) -> u64 {
    let secs = timestamp >> 32;
    let frac = timestamp & 0xffff_ffff;
    let secs = if secs & 0x8000_0000 == 0 {
        secs + (1 << 32)
    } else {
        secs
    };
    let unix = secs.saturating_sub(NTP_UNIX_OFFSET);
    unix * 1000 + ((frac * 1000) >> 32)
}

/// The SNTP client engine. See the module documentation.
#[derive(Clone, Debug)]
pub struct SntpClient {
    server: Ipv4Addr,
    config: SntpConfig,
    /// Nonce and local send time of each request sent.
    sent: Vec<(u64, Millis)>,
    rng: u64,
    deadline: Millis,
    last_rejection: Option<Rejection>,
    state: SntpState,
}

impl SntpClient {
    /// A client for `server` that sends its first request at the first
    /// [`Self::poll_transmit`].
    pub fn new(server: Ipv4Addr, config: SntpConfig, now: Millis) -> Self {
        Self {
            server,
            config,
            sent: Vec::new(),
            // xorshift64 must not start at 0.
            rng: config.nonce_seed | 1,
            deadline: now,
            last_rejection: None,
            state: SntpState::Running,
        }
    }

    /// The current state.
    pub const fn state(&self) -> &SntpState {
        &self.state
    }

    /// When [`Self::poll_transmit`] must run again (`None` once finished).
    pub const fn poll_deadline(&self) -> Option<Millis> {
        match self.state {
            SntpState::Running => Some(self.deadline),
            _ => None,
        }
    }

    fn next_nonce(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // Zero means "no timestamp" in NTP; never send it.
        x.max(1)
    }

    /// The next request to send, when one is due; also times the exchange out.
    pub fn poll_transmit(&mut self, now: Millis) -> Option<Datagram> {
        if self.state != SntpState::Running || now < self.deadline {
            return None;
        }
        if self.sent.len() >= usize::from(self.config.attempts) {
            self.state = SntpState::Failed(NtpError::TimedOut {
                attempts: self.config.attempts,
                last_rejection: self.last_rejection,
            });
            return None;
        }
        let nonce = self.next_nonce();
        self.sent.push((nonce, now));
        self.deadline = now.saturating_add(self.config.attempt_timeout);
        let mut payload = alloc::vec![0u8; PACKET_LEN];
        payload[0] = (4 << 3) | 3; // LI 0, VN 4, mode 3
        payload[40..48].copy_from_slice(&nonce.to_be_bytes());
        Some(Datagram {
            src_port: self.config.local_port,
            dst: SocketAddrV4::new(self.server, NTP_PORT),
            payload,
        })
    }

    /// Feeds a datagram received on our port. Refused replies are ignored (see the
    /// module documentation).
    pub fn handle(&mut self, now: Millis, from: SocketAddrV4, payload: &[u8]) {
        if self.state != SntpState::Running {
            return;
        }
        match self.check(now, from, payload) {
            Ok(time) => self.state = SntpState::Done(time),
            Err(Err(kiss)) => self.state = SntpState::Failed(NtpError::KissOfDeath(kiss)),
            Err(Ok(r)) => self.last_rejection = Some(r),
        }
    }

    /// Validates a reply: the time, or a rejection, or a kiss code.
    fn check(
        &self,
        now: Millis,
        from: SocketAddrV4,
        payload: &[u8],
    ) -> Result<NtpTime, Result<Rejection, [u8; 4]>> {
        if from != SocketAddrV4::new(self.server, NTP_PORT) {
            return Err(Ok(Rejection::WrongSource));
        }
        let Some(header) = payload.get(..PACKET_LEN) else {
            return Err(Ok(Rejection::TooShort(payload.len())));
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let leap = header[0] >> 6;
        let version = (header[0] >> 3) & 7;
        let mode = header[0] & 7;
        let stratum = header[1];
        if !(1..=4).contains(&version) {
            return Err(Ok(Rejection::BadVersion(version)));
        }
        if mode != 4 {
            return Err(Ok(Rejection::NotServerMode(mode)));
        }
        let originate = u64_at(24);
        let Some(&(_, sent_at)) = self.sent.iter().find(|(n, _)| *n == originate) else {
            return Err(Ok(Rejection::OriginateMismatch));
        };
        // Only a reply to our own request may end the exchange with a kiss code.
        if stratum == 0 {
            let mut code = [0u8; 4];
            code.copy_from_slice(&header[12..16]);
            return Err(Err(code));
        }
        if leap == 3 {
            return Err(Ok(Rejection::Unsynchronised));
        }
        if stratum > 15 {
            return Err(Ok(Rejection::BadStratum(stratum)));
        }
        let receive = u64_at(32);
        let transmit = u64_at(40);
        if transmit == 0 {
            return Err(Ok(Rejection::ZeroTransmit));
        }
        // RFC 4330 §5: delay = (T4 - T1) - (T3 - T2); the server's clock at T4 is
        // T3 + delay / 2. T1 and T4 are local monotonic times, T2 and T3 the server's.
        let t3 = ntp_to_unix_ms(transmit);
        let processing = if receive == 0 {
            0
        } else {
            t3.saturating_sub(ntp_to_unix_ms(receive))
        };
        let delay_ms = now.saturating_sub(sent_at).saturating_sub(processing);
        Ok(NtpTime {
            unix_ms: t3.saturating_add(delay_ms / 2),
            at: now,
            delay_ms,
            stratum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::ToString;

    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const FROM: SocketAddrV4 = SocketAddrV4::new(SERVER, NTP_PORT);
    /// 2024-01-01T00:00:00Z as NTP seconds.
    const NTP_2024: u64 = 1_704_067_200 + NTP_UNIX_OFFSET;

    fn client() -> SntpClient {
        SntpClient::new(SERVER, SntpConfig::new(49200, 42), 1_000)
    }

    fn nonce(d: &Datagram) -> u64 {
        u64::from_be_bytes(d.payload[40..48].try_into().expect("8 bytes"))
    }

    /// A server reply to `originate` sent at NTP time `secs` + half a second.
    fn reply(originate: u64, secs: u64) -> Vec<u8> {
        let mut p = std::vec![0u8; PACKET_LEN];
        p[0] = (4 << 3) | 4;
        p[1] = 2;
        p[24..32].copy_from_slice(&originate.to_be_bytes());
        p[32..40].copy_from_slice(&(secs << 32).to_be_bytes());
        p[40..48].copy_from_slice(&((secs << 32) | 0x8000_0000).to_be_bytes());
        p
    }

    #[test]
    fn valid_reply_gives_unix_time() {
        let mut c = client();
        assert_eq!(c.poll_transmit(999), None, "not before the start");
        let req = c.poll_transmit(1_000).expect("request");
        assert_eq!(req.src_port, 49200);
        assert_eq!(req.dst, FROM);
        assert_eq!(req.payload[0], 0x23);
        assert!(req.payload[1..40].iter().all(|&b| b == 0));
        assert_eq!(c.poll_deadline(), Some(3_000));
        c.handle(1_100, FROM, &reply(nonce(&req), NTP_2024));
        let SntpState::Done(t) = *c.state() else {
            panic!("{:?}", c.state());
        };
        // T3 = 2024 + 0.5 s; the server took 0.5 s, so the network delay is 0 (saturated).
        assert_eq!(t.unix_ms, 1_704_067_200_500);
        assert_eq!(t.at, 1_100);
        assert_eq!(t.stratum, 2);
        assert_eq!(t.unix_ms_at(3_100), 1_704_067_202_500);
        assert_eq!(c.poll_deadline(), None);
        assert_eq!(c.poll_transmit(10_000), None);
        // Later datagrams change nothing.
        c.handle(1_200, FROM, &reply(nonce(&req), NTP_2024 + 100));
        assert!(matches!(c.state(), SntpState::Done(t2) if *t2 == t));
    }

    #[test]
    fn round_trip_is_split_in_half() {
        let mut c = client();
        let req = c.poll_transmit(1_000).expect("request");
        let mut p = reply(nonce(&req), NTP_2024);
        // Receive and transmit at the same instant: 200 ms round trip, 100 ms each way.
        p[32..40].copy_from_slice(&(NTP_2024 << 32).to_be_bytes());
        p[40..48].copy_from_slice(&(NTP_2024 << 32).to_be_bytes());
        c.handle(1_200, FROM, &p);
        let SntpState::Done(t) = *c.state() else {
            panic!("{:?}", c.state());
        };
        assert_eq!((t.unix_ms, t.delay_ms), (1_704_067_200_100, 200));
    }

    #[test]
    fn invalid_replies_are_ignored_and_reported() {
        let req_nonce = |c: &mut SntpClient| nonce(&c.poll_transmit(1_000).expect("request"));
        type Mutate = fn(&mut Vec<u8>);
        let cases: [(Mutate, Rejection); 8] = [
            (|p| p[0] = (4 << 3) | 3, Rejection::NotServerMode(3)),
            (|p| p[0] = (4 << 3) | 5, Rejection::NotServerMode(5)),
            (|p| p[24] ^= 1, Rejection::OriginateMismatch),
            (|p| p[40..48].fill(0), Rejection::ZeroTransmit),
            (|p| p[1] = 16, Rejection::BadStratum(16)),
            (|p| p[1] = 255, Rejection::BadStratum(255)),
            (|p| p[0] |= 0xc0, Rejection::Unsynchronised),
            (|p| p[0] = (7 << 3) | 4, Rejection::BadVersion(7)),
        ];
        for (mutate, why) in cases {
            let mut c = client();
            let n = req_nonce(&mut c);
            let mut p = reply(n, NTP_2024);
            mutate(&mut p);
            c.handle(1_100, FROM, &p);
            assert_eq!(*c.state(), SntpState::Running, "{why:?}");
            // A valid reply afterwards still wins.
            c.handle(1_150, FROM, &reply(n, NTP_2024));
            assert!(matches!(c.state(), SntpState::Done(_)), "{why:?}");
        }
        // Wrong source address or port.
        for from in [
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 9), NTP_PORT),
            SocketAddrV4::new(SERVER, 1123),
        ] {
            let mut c = client();
            let n = req_nonce(&mut c);
            c.handle(1_100, from, &reply(n, NTP_2024));
            assert_eq!(*c.state(), SntpState::Running);
        }
    }

    #[test]
    fn retries_then_times_out_with_the_last_rejection() {
        let mut c = client();
        let mut nonces = Vec::new();
        let mut now = 1_000;
        for attempt in 0..4 {
            let req = c.poll_transmit(now).expect("request");
            assert_eq!(c.poll_transmit(now + 1_999), None, "attempt {attempt}");
            nonces.push(nonce(&req));
            now += 2_000;
        }
        nonces.dedup();
        assert_eq!(nonces.len(), 4, "each retransmission has a fresh nonce");
        assert!(nonces.iter().all(|&n| n != 0));
        let mut p = reply(nonces[0], NTP_2024);
        p[1] = 16;
        c.handle(now - 1, FROM, &p);
        assert_eq!(c.poll_transmit(now), None);
        assert_eq!(
            *c.state(),
            SntpState::Failed(NtpError::TimedOut {
                attempts: 4,
                last_rejection: Some(Rejection::BadStratum(16)),
            })
        );
        let text = match c.state() {
            SntpState::Failed(e) => e.to_string(),
            _ => unreachable!(),
        };
        assert_eq!(
            text,
            "NTP: no valid reply after 4 requests (server has invalid stratum 16)"
        );
        assert_eq!(c.poll_deadline(), None);

        let mut silent = client();
        let mut now = 1_000;
        while silent.poll_deadline().is_some() {
            let _ = silent.poll_transmit(now);
            now += 500;
        }
        assert_eq!(
            *silent.state(),
            SntpState::Failed(NtpError::TimedOut {
                attempts: 4,
                last_rejection: None
            })
        );
    }

    #[test]
    fn late_reply_to_an_earlier_request_counts() {
        let mut c = client();
        let first = c.poll_transmit(1_000).expect("request");
        let _second = c.poll_transmit(3_000).expect("retransmission");
        c.handle(3_100, FROM, &reply(nonce(&first), NTP_2024));
        assert!(matches!(c.state(), SntpState::Done(_)));
    }

    #[test]
    fn kiss_of_death_ends_the_exchange() {
        let mut c = client();
        let n = nonce(&c.poll_transmit(1_000).expect("request"));
        let mut p = reply(n, NTP_2024);
        p[1] = 0;
        p[12..16].copy_from_slice(b"RATE");
        // A kiss that does not answer our request is ignored.
        let mut stranger = p.clone();
        stranger[24] ^= 0xff;
        c.handle(1_050, FROM, &stranger);
        assert_eq!(*c.state(), SntpState::Running);
        c.handle(1_100, FROM, &p);
        assert_eq!(
            *c.state(),
            SntpState::Failed(NtpError::KissOfDeath(*b"RATE"))
        );
        assert_eq!(
            NtpError::KissOfDeath(*b"RA\0E").to_string(),
            "NTP: server refused service, kiss code RA?E"
        );
    }

    #[test]
    fn hostile_sizes() {
        for len in [0, 1, 47] {
            let mut c = client();
            let n = nonce(&c.poll_transmit(1_000).expect("request"));
            let p = reply(n, NTP_2024);
            c.handle(1_100, FROM, &p[..len]);
            assert_eq!(*c.state(), SntpState::Running, "{len}");
            c.handle(1_100, FROM, &[]);
            assert_eq!(c.last_rejection, Some(Rejection::TooShort(0)));
        }
        // Extension fields and a MAC after the header are ignored.
        let mut c = client();
        let n = nonce(&c.poll_transmit(1_000).expect("request"));
        let mut p = reply(n, NTP_2024);
        p.resize(65_535, 0xff);
        c.handle(1_100, FROM, &p);
        assert!(matches!(c.state(), SntpState::Done(_)));
        // Every byte value in every header position: never a panic.
        for at in 0..PACKET_LEN {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut c = client();
                let n = nonce(&c.poll_transmit(1_000).expect("request"));
                let mut p = reply(n, u64::MAX >> 32);
                p[at] = v;
                c.handle(u64::MAX, FROM, &p);
                let _ = format!("{:?}", c.state());
            }
        }
    }

    #[test]
    fn timestamps_convert_across_eras() {
        assert_eq!(ntp_to_unix_ms(NTP_UNIX_OFFSET << 32), 0);
        assert_eq!(
            ntp_to_unix_ms((NTP_2024 << 32) | 0x4000_0000),
            1_704_067_200_250
        );
        // 2036-02-07T06:28:16Z is NTP second 0 of era 1.
        assert_eq!(ntp_to_unix_ms(0), 2_085_978_496_000);
        assert_eq!(ntp_to_unix_ms(1 << 32), 2_085_978_497_000);
    }
}
