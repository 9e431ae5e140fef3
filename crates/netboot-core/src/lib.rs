//! # netboot-core
//!
//! The platform-free runtime of netboot: everything about *network booting* that is not
//! about a particular machine. Firmware backends (`netboot-efi`, `netboot-bios`) and the
//! host simulator implement the [`platform`] seam; the shared runtime does the rest.
//!
//! Status: this crate currently holds the platform seam, the build-time embedded script
//! ([`embed`]) and the start-up banner ([`startup`]). The network stack and protocol
//! engines (DHCP, DNS, TFTP, HTTP) are tracked as their own issue and are not here yet.
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
