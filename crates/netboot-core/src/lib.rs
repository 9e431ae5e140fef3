//! # netboot-core
//!
//! The platform-free runtime of netboot: everything about *network booting* that is not
//! about a particular machine. Firmware backends (`netboot-efi`, `netboot-bios`) and the
//! host simulator implement the [`platform`] seam; the shared runtime does the rest.
//!
//! * [`platform`] — the seam: `Console`, `Clock`, `Power` and the whole-machine
//!   [`platform::Platform`] trait (NICs, boot, power) a backend implements once.
//! * [`wire`] — wire formats (DHCP, DNS, TFTP, HTTP heads and chunked bodies), checked
//!   views and `Repr`s in smoltcp's style.
//! * [`proto`] — sans-IO protocol engines: bytes and time in, bytes to send, events and
//!   the next deadline out (DHCP client with PXE options and ProxyDHCP, DNS resolver, TFTP
//!   transfer with windowsize, HTTP request/response reader).
//! * [`net`] — the smoltcp glue: [`net::NetDevice`] drives the engines in one poll loop
//!   with deadlines and Ctrl-C, and [`net::NetDevice::fetch`] downloads TFTP/HTTP URIs
//!   into a [`net::Sink`] with progress.
//! * `tls` (feature `https`, on by default) — the HTTPS client (TLS 1.3/1.2 through
//!   rustls's sans-IO connection and a pure-Rust RustCrypto provider), the trust store
//!   (`NETBOOT_TRUST` at build time, the public roots with `public-roots`) and CMS
//!   signature checks for `imgverify`.
//! * [`settings`] — iPXE's settings tree, types and `${…}` expansion; [`uri`] — URI
//!   parsing and resolution; [`error`] — the crate's error type with stable codes;
//!   [`embed`] and [`startup`] — the build-time script and the banner.
//!
//! The script interpreter and the standard runtime over a `Platform` live in
//! `netboot-script` (`netboot_script::machine::Machine`).
//!
//! The crate is `#![no_std]` and builds for the host, `x86_64-unknown-uefi` and
//! `x86_64-unknown-none`.
//!
//! ```
//! assert!(netboot_core::banner().starts_with("netboot "));
//! ```
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod embed;
pub mod error;
pub mod net;
pub mod platform;
pub mod proto;
pub mod settings;
pub mod startup;
#[cfg(feature = "https")]
pub mod tls;
pub mod uri;
pub mod wire;

/// The crate version, as reported by `${version}` and the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The banner line every netboot firmware prints first: `netboot <version>`.
pub const fn banner() -> &'static str {
    concat!("netboot ", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn banner_names_the_version() {
        assert_eq!(super::banner(), std::format!("netboot {}", super::VERSION));
    }
}
