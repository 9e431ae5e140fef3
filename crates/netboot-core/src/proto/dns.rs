//! Sans-IO DNS stub resolver for IPv4 addresses (A records).
//!
//! Servers are tried in order, each with a per-attempt timeout and a few retries. An
//! authoritative "no such name" ends the resolution at once; a server failure moves on
//! to the next server. CNAME chains are followed inside a response and, when a response
//! stops at an alias, by asking again for the alias target (both bounded).
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddrV4};
//! use netboot_core::proto::dns::{DnsConfig, DnsResolver, DnsState};
//! let server = Ipv4Addr::new(10, 0, 0, 53);
//! let mut dns = DnsResolver::new("boot.example", &[server], DnsConfig::new(49152, 0x1234), 0);
//! let query = dns.poll_transmit(0).expect("a query");
//! assert_eq!(query.dst, SocketAddrV4::new(server, 53));
//! // … send it, then feed the answer: dns.handle(now, from, &payload) …
//! assert_eq!(*dns.state(), DnsState::Running);
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::{Datagram, Millis};
use crate::wire::dns::{
    CLASS_IN, DnsWireError, Message, Name, Rcode, RecordData, TYPE_A, build_query,
};

/// The DNS server port.
pub const DNS_PORT: u16 = 53;
/// Most CNAME links followed inside one response: chains longer than this are loops or
/// abuse, not real zones.
pub const MAX_CNAME_LINKS: usize = 16;

/// Resolver settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// Local UDP port queries are sent from (pick a random-ish one per resolution).
    pub local_port: u16,
    /// First query id (pick a random-ish one per resolution). Later queries (next
    /// server, alias target) use the following values of a xorshift sequence.
    pub query_id: u16,
    /// How long to wait for an answer to one query before retrying.
    pub attempt_timeout: Millis,
    /// Queries sent to each server before moving on to the next.
    pub attempts_per_server: u8,
    /// Extra queries allowed for alias targets when a response ends on a CNAME.
    pub max_cname_queries: u8,
}

impl DnsConfig {
    /// Defaults (2 s per attempt, 2 attempts per server, 8 alias re-queries) with the
    /// caller's port and first id.
    pub const fn new(local_port: u16, query_id: u16) -> Self {
        Self {
            local_port,
            query_id,
            attempt_timeout: 2_000,
            attempts_per_server: 2,
            max_cname_queries: 8,
        }
    }
}

/// How one server failed to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerFailure {
    /// No answer within the timeouts.
    TimedOut,
    /// It answered with an error code (SERVFAIL, REFUSED, …).
    Rcode(Rcode),
    /// It truncated the answer without any usable record (we do not do DNS over TCP).
    Truncated,
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str("timed out"),
            Self::Rcode(r) => r.fmt(f),
            Self::Truncated => f.write_str("truncated answer"),
        }
    }
}

/// Why a name could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsError {
    /// The name is not a valid DNS name.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: DnsWireError,
    },
    /// There is no DNS server to ask.
    NoServers {
        /// The name.
        name: String,
    },
    /// The name does not exist.
    NxDomain {
        /// The name (and the alias it was reached through, if any).
        name: String,
        /// The server that said so.
        server: Ipv4Addr,
    },
    /// The name exists but has no IPv4 address.
    NoAddress {
        /// The name.
        name: String,
        /// The server that said so.
        server: Ipv4Addr,
    },
    /// Every server failed or timed out.
    NoAnswer {
        /// The name.
        name: String,
        /// Each server tried and how it failed.
        tried: Vec<(Ipv4Addr, ServerFailure)>,
    },
    /// The CNAME chain is too long (or loops).
    CnameChainTooLong {
        /// The name.
        name: String,
    },
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { name, reason } => {
                write!(f, "DNS: \"{name}\" is not a valid host name ({reason})")
            }
            Self::NoServers { name } => write!(
                f,
                "DNS: cannot resolve {name}: no DNS servers available (set ${{dns}} or get one from DHCP)"
            ),
            Self::NxDomain { name, server } => {
                write!(f, "DNS: {name} does not exist (NXDOMAIN from {server})")
            }
            Self::NoAddress { name, server } => write!(
                f,
                "DNS: {name} has no IPv4 address (no A record from {server}): check the name, or use an IP address"
            ),
            Self::NoAnswer { name, tried } => {
                write!(f, "DNS: no answer for {name} from ")?;
                for (i, (server, failure)) in tried.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{server} ({failure})")?;
                }
                f.write_str(": check ${dns} and the network path to the servers")
            }
            Self::CnameChainTooLong { name } => write!(
                f,
                "DNS: {name}: CNAME chain too long: the zone probably has an alias loop"
            ),
        }
    }
}

impl core::error::Error for DnsError {}

/// Where a resolution stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsState {
    /// Still waiting for answers.
    Running,
    /// The name's first IPv4 address.
    Resolved(Ipv4Addr),
    /// It failed, for good.
    Failed(DnsError),
}

/// One resolution of a host name to an IPv4 address.
#[derive(Clone, Debug)]
pub struct DnsResolver {
    config: DnsConfig,
    /// The name as given, for messages.
    original: String,
    /// The name currently asked about (an alias target after a CNAME); `None` when the
    /// resolution ended before any query (IP literal, invalid name, no servers).
    target: Option<Name>,
    servers: Vec<Ipv4Addr>,
    server: usize,
    attempt: u8,
    id: u16,
    /// A query is due: the next `poll_transmit` sends it.
    send_due: bool,
    /// When the outstanding query times out.
    deadline: Option<Millis>,
    /// Last time the caller told us, for `poll_deadline` while a query is due.
    now: Millis,
    cname_queries: u8,
    tried: Vec<(Ipv4Addr, ServerFailure)>,
    state: DnsState,
}

impl DnsResolver {
    /// Starts resolving `name` with `servers` (tried in order). A dotted-quad IPv4
    /// literal resolves at once without traffic; an invalid name or an empty server
    /// list fails at once.
    pub fn new(name: &str, servers: &[Ipv4Addr], config: DnsConfig, now: Millis) -> Self {
        let mut this = Self {
            config,
            original: String::from(name),
            target: None,
            servers: Vec::from(servers),
            server: 0,
            attempt: 0,
            id: config.query_id,
            send_due: false,
            deadline: None,
            now,
            cname_queries: 0,
            tried: Vec::new(),
            state: DnsState::Running,
        };
        if let Ok(ip) = name.parse::<Ipv4Addr>() {
            this.state = DnsState::Resolved(ip);
            return this;
        }
        match Name::from_dotted(name) {
            Err(reason) => {
                this.state = DnsState::Failed(DnsError::InvalidName {
                    name: this.original.clone(),
                    reason,
                });
            }
            Ok(_) if servers.is_empty() => {
                this.state = DnsState::Failed(DnsError::NoServers {
                    name: this.original.clone(),
                });
            }
            Ok(target) => {
                this.target = Some(target);
                this.send_due = true;
            }
        }
        this
    }

    /// Where the resolution stands.
    pub const fn state(&self) -> &DnsState {
        &self.state
    }

    /// The next query to send, if one is due at `now` (first query, retry after a
    /// timeout, next server, alias target). Also handles timeouts, so call it whenever
    /// [`poll_deadline`](Self::poll_deadline) passes.
    pub fn poll_transmit(&mut self, now: Millis) -> Option<Datagram> {
        self.now = now;
        self.handle_timeout(now);
        let target = self.target.as_ref()?;
        if self.state != DnsState::Running || !self.send_due {
            return None;
        }
        let server = *self.servers.get(self.server)?;
        self.send_due = false;
        self.deadline = Some(now.saturating_add(self.config.attempt_timeout));
        Some(Datagram {
            src_port: self.config.local_port,
            dst: SocketAddrV4::new(server, DNS_PORT),
            payload: build_query(self.id, target, TYPE_A),
        })
    }

    /// When to call [`poll_transmit`](Self::poll_transmit) next (a time already past
    /// means now); `None` once resolved or failed.
    pub fn poll_deadline(&self) -> Option<Millis> {
        match self.state {
            DnsState::Running if self.send_due => Some(self.now),
            DnsState::Running => self.deadline,
            _ => None,
        }
    }

    fn handle_timeout(&mut self, now: Millis) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if self.state != DnsState::Running || self.send_due || now < deadline {
            return;
        }
        self.deadline = None;
        self.attempt += 1;
        if self.attempt < self.config.attempts_per_server {
            // Same id: a late answer to the first query is still welcome.
            self.send_due = true;
        } else {
            self.next_server(ServerFailure::TimedOut);
        }
    }

    fn next_server(&mut self, failure: ServerFailure) {
        if let Some(&server) = self.servers.get(self.server) {
            self.tried.push((server, failure));
        }
        self.server += 1;
        if self.server >= self.servers.len() {
            self.state = DnsState::Failed(DnsError::NoAnswer {
                name: self.display_name(),
                tried: core::mem::take(&mut self.tried),
            });
            return;
        }
        self.start_query();
    }

    fn start_query(&mut self) {
        self.attempt = 0;
        self.id = next_id(self.id);
        self.deadline = None;
        self.send_due = true;
    }

    /// The name for messages: the alias target, with the original name if different.
    fn display_name(&self) -> String {
        match &self.target {
            Some(target) if Name::from_dotted(&self.original).ok().as_ref() != Some(target) => {
                alloc::format!("{target} (alias of {})", self.original)
            }
            _ => self.original.clone(),
        }
    }

    /// Handles a UDP datagram received at `now` from `from` on the local port. Anything
    /// that is not the answer to the outstanding query (other source, other id, other
    /// question, malformed) is ignored.
    pub fn handle(&mut self, now: Millis, from: SocketAddrV4, payload: &[u8]) {
        self.now = now;
        if self.state != DnsState::Running || self.deadline.is_none() {
            return;
        }
        let (Some(target), Some(&server)) = (&self.target, self.servers.get(self.server)) else {
            return;
        };
        if from != SocketAddrV4::new(server, DNS_PORT) {
            return;
        }
        let Ok(msg) = Message::parse(payload) else {
            return;
        };
        let h = msg.header;
        let question_matches = matches!(
            msg.questions.as_slice(),
            [q] if q.name == *target && q.qtype == TYPE_A && q.qclass == CLASS_IN
        );
        if !h.is_response() || h.id != self.id || h.opcode() != 0 || !question_matches {
            return;
        }
        match h.rcode() {
            Rcode::NoError => {
                let target = target.clone();
                self.process_answers(&msg, target, server);
            }
            // The name does not exist: asking elsewhere would only waste time.
            Rcode::NxDomain => {
                self.state = DnsState::Failed(DnsError::NxDomain {
                    name: self.display_name(),
                    server,
                });
            }
            rcode => self.next_server(ServerFailure::Rcode(rcode)),
        }
    }

    fn process_answers(&mut self, msg: &Message, queried: Name, server: Ipv4Addr) {
        let mut name = queried.clone();
        for _ in 0..=MAX_CNAME_LINKS {
            let mut alias = None;
            for record in msg.answers.iter().filter(|r| r.name == name) {
                match &record.data {
                    RecordData::A(ip) => {
                        self.state = DnsState::Resolved(*ip);
                        return;
                    }
                    RecordData::Cname(target) => alias = alias.or(Some(target)),
                    _ => {}
                }
            }
            match alias {
                Some(target) => name = target.clone(),
                None if name == queried => {
                    // Neither address nor alias. If truncated, another server might do
                    // better; otherwise the name simply has no A record.
                    if msg.header.truncated() {
                        self.next_server(ServerFailure::Truncated);
                    } else {
                        self.state = DnsState::Failed(DnsError::NoAddress {
                            name: self.display_name(),
                            server,
                        });
                    }
                    return;
                }
                None => {
                    // The response stops at an alias: ask for its target.
                    self.cname_queries += 1;
                    if self.cname_queries > self.config.max_cname_queries {
                        self.state = DnsState::Failed(DnsError::CnameChainTooLong {
                            name: self.original.clone(),
                        });
                    } else {
                        self.target = Some(name);
                        self.start_query();
                    }
                    return;
                }
            }
        }
        self.state = DnsState::Failed(DnsError::CnameChainTooLong {
            name: self.original.clone(),
        });
    }
}

/// The next query id: xorshift16, so consecutive ids are not guessable by +1.
const fn next_id(id: u16) -> u16 {
    let mut x = if id == 0 { 0xACE1 } else { id };
    x ^= x << 7;
    x ^= x >> 9;
    x ^= x << 8;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);

    fn from(s: Ipv4Addr) -> SocketAddrV4 {
        SocketAddrV4::new(s, DNS_PORT)
    }

    enum Ans<'a> {
        A(&'a str, Ipv4Addr),
        Cname(&'a str, &'a str),
    }

    /// A response to `query` with `rcode` and these answers (uncompressed names).
    fn respond(query: &[u8], rcode: u8, answers: &[Ans<'_>]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] = 0x81; // QR, RD
        r[3] = 0x80 | rcode; // RA
        r[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for a in answers {
            let (owner, rtype, rdata) = match a {
                Ans::A(n, ip) => (*n, TYPE_A, ip.octets().to_vec()),
                Ans::Cname(n, t) => (
                    *n,
                    5,
                    Name::from_dotted(t).expect("name").as_wire().to_vec(),
                ),
            };
            r.extend_from_slice(Name::from_dotted(owner).expect("name").as_wire());
            r.extend_from_slice(&rtype.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            r.extend_from_slice(&rdata);
        }
        r
    }

    fn resolver(servers: &[Ipv4Addr]) -> DnsResolver {
        DnsResolver::new("boot.example", servers, DnsConfig::new(40000, 0x1234), 0)
    }

    #[test]
    fn ip_literal_needs_no_traffic() {
        let mut r = DnsResolver::new("192.0.2.1", &[], DnsConfig::new(1, 1), 0);
        assert_eq!(*r.state(), DnsState::Resolved(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.poll_transmit(0), None);
        assert_eq!(r.poll_deadline(), None);
    }

    #[test]
    fn no_servers_and_invalid_names() {
        let r = resolver(&[]);
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert!(e.to_string().contains("no DNS servers available"));
        let r = DnsResolver::new("a..b", &[S1], DnsConfig::new(1, 1), 0);
        assert!(matches!(
            r.state(),
            DnsState::Failed(DnsError::InvalidName { .. })
        ));
    }

    #[test]
    fn simple_answer() {
        let mut r = resolver(&[S1]);
        assert_eq!(r.poll_deadline(), Some(0));
        let q = r.poll_transmit(0).expect("query");
        assert_eq!((q.src_port, q.dst), (40000, from(S1)));
        assert_eq!(&q.payload[..2], &0x1234u16.to_be_bytes());
        assert_eq!(q.payload[2] & 0x01, 0x01, "RD set");
        assert_eq!(r.poll_transmit(10), None, "one query at a time");
        assert_eq!(r.poll_deadline(), Some(2_000));
        r.handle(
            50,
            from(S1),
            &respond(&q.payload, 0, &[Ans::A("boot.example", ADDR)]),
        );
        assert_eq!(*r.state(), DnsState::Resolved(ADDR));
        assert_eq!(r.poll_deadline(), None);
    }

    #[test]
    fn foreign_packets_are_ignored() {
        let mut r = resolver(&[S1]);
        let q = r.poll_transmit(0).expect("query");
        let good = respond(&q.payload, 0, &[Ans::A("boot.example", ADDR)]);
        let mut other_id = good.clone();
        other_id[1] ^= 1;
        let mut not_response = good.clone();
        not_response[2] &= 0x7F;
        let other_question = respond(
            &build_query(
                0x1234,
                &Name::from_dotted("evil.example").expect("n"),
                TYPE_A,
            ),
            0,
            &[Ans::A("evil.example", Ipv4Addr::new(6, 6, 6, 6))],
        );
        r.handle(1, from(S2), &good); // wrong server
        r.handle(1, SocketAddrV4::new(S1, 5353), &good); // wrong port
        r.handle(1, from(S1), &other_id);
        r.handle(1, from(S1), &not_response);
        r.handle(1, from(S1), &other_question);
        r.handle(1, from(S1), b"garbage");
        r.handle(1, from(S1), &good[..good.len() - 1]);
        assert_eq!(*r.state(), DnsState::Running);
        r.handle(2, from(S1), &good);
        assert_eq!(*r.state(), DnsState::Resolved(ADDR));
    }

    #[test]
    fn cname_chain_inside_one_response() {
        let mut r = resolver(&[S1]);
        let q = r.poll_transmit(0).expect("query");
        // Answers deliberately out of order.
        let resp = respond(
            &q.payload,
            0,
            &[
                Ans::A("edge.cdn.example", ADDR),
                Ans::Cname("boot.example", "www.example"),
                Ans::A("unrelated.example", Ipv4Addr::new(6, 6, 6, 6)),
                Ans::Cname("www.example", "edge.cdn.example"),
            ],
        );
        r.handle(1, from(S1), &resp);
        assert_eq!(*r.state(), DnsState::Resolved(ADDR));
    }

    #[test]
    fn cname_loop_inside_one_response_fails() {
        let mut r = resolver(&[S1]);
        let q = r.poll_transmit(0).expect("query");
        let resp = respond(
            &q.payload,
            0,
            &[
                Ans::Cname("boot.example", "a.example"),
                Ans::Cname("a.example", "boot.example"),
            ],
        );
        r.handle(1, from(S1), &resp);
        assert!(matches!(
            r.state(),
            DnsState::Failed(DnsError::CnameChainTooLong { .. })
        ));
    }

    #[test]
    fn cname_across_responses() {
        let mut r = resolver(&[S1, S2]);
        let q1 = r.poll_transmit(0).expect("query");
        r.handle(
            1,
            from(S1),
            &respond(
                &q1.payload,
                0,
                &[Ans::Cname("boot.example", "files.example")],
            ),
        );
        assert_eq!(*r.state(), DnsState::Running);
        let q2 = r.poll_transmit(1).expect("query for alias target");
        assert_eq!(q2.dst, from(S1), "same server");
        assert_ne!(q2.payload[..2], q1.payload[..2], "new id");
        let question = Message::parse(&q2.payload).expect("query").questions;
        assert_eq!(
            question[0].name,
            Name::from_dotted("files.example").expect("n")
        );
        // A stale answer to the first query is ignored now.
        r.handle(
            2,
            from(S1),
            &respond(&q1.payload, 0, &[Ans::A("boot.example", ADDR)]),
        );
        assert_eq!(*r.state(), DnsState::Running);
        r.handle(
            3,
            from(S1),
            &respond(&q2.payload, 0, &[Ans::A("files.example", ADDR)]),
        );
        assert_eq!(*r.state(), DnsState::Resolved(ADDR));
    }

    #[test]
    fn cname_requeries_are_bounded() {
        let mut config = DnsConfig::new(40000, 7);
        config.max_cname_queries = 2;
        let mut r = DnsResolver::new("a0.example", &[S1], config, 0);
        for i in 0..3 {
            let q = r.poll_transmit(i).expect("query");
            let (owner, target) = (
                alloc::format!("a{i}.example"),
                alloc::format!("a{}.example", i + 1),
            );
            r.handle(
                i,
                from(S1),
                &respond(&q.payload, 0, &[Ans::Cname(&owner, &target)]),
            );
        }
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert!(matches!(e, DnsError::CnameChainTooLong { .. }));
        assert!(e.to_string().contains("alias loop"));
    }

    #[test]
    fn nxdomain_fails_at_once_with_a_clear_message() {
        let mut r = resolver(&[S1, S2]);
        let q = r.poll_transmit(0).expect("query");
        r.handle(1, from(S1), &respond(&q.payload, 3, &[]));
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert_eq!(
            e.to_string(),
            "DNS: boot.example does not exist (NXDOMAIN from 10.0.0.1)"
        );
        assert_eq!(r.poll_transmit(10_000), None, "no other server asked");
    }

    #[test]
    fn nxdomain_on_alias_target_names_both() {
        let mut r = resolver(&[S1]);
        let q = r.poll_transmit(0).expect("query");
        r.handle(
            1,
            from(S1),
            &respond(&q.payload, 0, &[Ans::Cname("boot.example", "gone.example")]),
        );
        let q = r.poll_transmit(1).expect("query");
        r.handle(2, from(S1), &respond(&q.payload, 3, &[]));
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert_eq!(
            e.to_string(),
            "DNS: gone.example (alias of boot.example) does not exist (NXDOMAIN from 10.0.0.1)"
        );
    }

    #[test]
    fn no_a_record() {
        let mut r = resolver(&[S1]);
        let q = r.poll_transmit(0).expect("query");
        r.handle(1, from(S1), &respond(&q.payload, 0, &[]));
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert!(matches!(e, DnsError::NoAddress { server: S1, .. }));
        assert!(
            e.to_string()
                .starts_with("DNS: boot.example has no IPv4 address")
        );
    }

    #[test]
    fn servfail_moves_to_next_server() {
        let mut r = resolver(&[S1, S2]);
        let q1 = r.poll_transmit(0).expect("query");
        r.handle(1, from(S1), &respond(&q1.payload, 2, &[]));
        assert_eq!(*r.state(), DnsState::Running);
        let q2 = r.poll_transmit(1).expect("query to the next server");
        assert_eq!(q2.dst, from(S2));
        r.handle(
            2,
            from(S2),
            &respond(&q2.payload, 0, &[Ans::A("boot.example", ADDR)]),
        );
        assert_eq!(*r.state(), DnsState::Resolved(ADDR));
    }

    #[test]
    fn timeouts_across_two_servers_with_a_fake_clock() {
        let mut r = resolver(&[S1, S2]);
        let mut sent = vec![];
        let mut now = 0;
        // Drive the clock from deadline to deadline; nobody answers.
        while *r.state() == DnsState::Running {
            if let Some(q) = r.poll_transmit(now) {
                sent.push((now, q.dst));
            }
            now = r.poll_deadline().unwrap_or(now).max(now);
            assert!(now < 100_000, "must give up");
        }
        assert_eq!(
            sent,
            vec![
                (0, from(S1)),
                (2_000, from(S1)),
                (4_000, from(S2)),
                (6_000, from(S2))
            ]
        );
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert_eq!(
            e.to_string(),
            "DNS: no answer for boot.example from 10.0.0.1 (timed out), 10.0.0.2 (timed out): \
             check ${dns} and the network path to the servers"
        );
        assert_eq!(now, 8_000);
    }

    #[test]
    fn late_answer_to_a_retried_query_is_accepted() {
        let mut r = resolver(&[S1, S2]);
        let q = r.poll_transmit(0).expect("query");
        let retry = r.poll_transmit(2_000).expect("retry");
        assert_eq!(retry.payload, q.payload, "same id and question");
        r.handle(
            2_100,
            from(S1),
            &respond(&q.payload, 0, &[Ans::A("boot.example", ADDR)]),
        );
        assert_eq!(*r.state(), DnsState::Resolved(ADDR));
    }

    #[test]
    fn timeout_then_servfail_reports_both() {
        let mut r = resolver(&[S1, S2]);
        r.poll_transmit(0).expect("query");
        r.poll_transmit(2_000).expect("retry");
        let q = r.poll_transmit(4_000).expect("next server");
        assert_eq!(q.dst, from(S2));
        // An answer from the first server now is ignored.
        r.handle(
            4_001,
            from(S1),
            &respond(&q.payload, 0, &[Ans::A("boot.example", ADDR)]),
        );
        r.handle(4_002, from(S2), &respond(&q.payload, 2, &[]));
        let DnsState::Failed(e) = r.state() else {
            panic!("should fail")
        };
        assert!(
            e.to_string()
                .contains("10.0.0.1 (timed out), 10.0.0.2 (SERVFAIL)"),
            "{e}"
        );
    }

    #[test]
    fn ids_vary() {
        let mut id = 0x1234;
        let mut seen = vec![id];
        for _ in 0..100 {
            id = next_id(id);
            assert!(!seen.contains(&id));
            seen.push(id);
        }
    }
}
