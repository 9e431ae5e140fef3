//! Wire formats, in smoltcp's style: a checked view over a byte buffer (`new_checked`)
//! plus a high-level `Repr` that parses and emits. No protocol logic lives here.

pub mod dhcp;
pub mod dns;
pub mod http;
pub mod tftp;
