//! Sans-IO protocol engines. Each takes received bytes and the current time and returns
//! bytes to send, events, and its next deadline. They never touch sockets, clocks or the
//! platform, which makes them deterministic to test, fuzzable and benchable on the host.

pub mod dhcp;
pub mod dns;
pub mod http;
pub mod ntp;
pub mod ping;
pub mod tftp;

use alloc::vec::Vec;
use core::net::SocketAddrV4;

/// Milliseconds on the platform's monotonic clock ([`crate::platform::Clock::now_ms`]).
pub type Millis = u64;

/// A UDP datagram an engine wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Local UDP port to send from.
    pub src_port: u16,
    /// Destination address and port (255.255.255.255 for broadcasts).
    pub dst: SocketAddrV4,
    /// UDP payload.
    pub payload: Vec<u8>,
}
