//! # netboot-script
//!
//! The iPXE-compatible script language: a parser to an AST ([`parse`]) and an
//! interpreter ([`Interpreter`]) over a [`Runtime`] trait that carries every effect on
//! the machine. The crate does no I/O of its own.
//!
//! * [`parse`] — line reader, labels, tokens, `&&`/`||`/`;`, comments (§1.2–§1.3).
//! * [`Interpreter`] — flow rules, `goto`/`exit`, nested scripts, `${errno}` (§1.4–§1.5),
//!   and the explicit command table ([`commands::table`], §3).
//! * [`options`] — iPXE's getopt rules (§2).
//! * [`image`] — the image registry and initrd arguments (§6).
//! * [`menu`], [`lineedit`], [`keys`] — pure state machines and renderers for `choose`,
//!   `read`, `login` and the shell (§5).
//!
//! ```
//! use netboot_script::{Interpreter, Runtime, Error, image::ImageRegistry};
//! use netboot_script::runtime::{FetchRequest, Fetched};
//! use netboot_core::{platform::Key, settings::Settings};
//!
//! #[derive(Default)]
//! struct Host { settings: Settings, images: ImageRegistry<Vec<u8>>, out: String }
//! impl Runtime for Host {
//!     type Blob = Vec<u8>;
//!     fn settings(&mut self) -> &mut Settings { &mut self.settings }
//!     fn images(&mut self) -> &mut ImageRegistry<Vec<u8>> { &mut self.images }
//!     fn print(&mut self, text: &str) { self.out.push_str(text) }
//!     fn poll_key(&mut self) -> Option<Key> { None }
//!     fn now_ms(&self) -> u64 { 0 }
//!     fn fetch(&mut self, _: &FetchRequest<'_>) -> Result<Fetched<Vec<u8>>, Error> {
//!         Err(Error::NotSupported("fetch"))
//!     }
//! }
//!
//! let mut host = Host::default();
//! let rc = Interpreter::new().run_script(&mut host, b"#!ipxe\nset n 2\necho item${n}\nexit 3\necho never\n");
//! assert_eq!(host.out, "item2\n");
//! assert_eq!(rc, Err(Error::Exit(3)));
//! ```
#![no_std]

extern crate alloc;

pub mod commands;
pub mod digest;
mod error;
pub mod image;
mod interp;
pub mod keys;
pub mod lineedit;
pub mod lint;
pub mod machine;
pub mod menu;
pub mod options;
pub mod parse;
pub mod runtime;
pub mod testing;

pub use error::{Error, IpxeText, Posix, SUBSYSTEM_PLATFORM, SUBSYSTEM_SCRIPT};
pub use interp::{Interpreter, MAX_NESTING, MAX_REPLACEMENTS, SHELL_PROMPT};
pub use parse::{MAX_LINE_LEN, MAX_SCRIPT_SIZE};
pub use runtime::Runtime;

/// The magic that starts every iPXE script.
pub const MAGIC: &[u8] = b"#!ipxe";
/// The legacy gPXE magic, which iPXE also accepts.
pub const MAGIC_GPXE: &[u8] = b"#!gpxe";

/// Whether `bytes` is an iPXE script: it starts with `#!ipxe` (or the legacy `#!gpxe`,
/// which iPXE also accepts, §1.1) followed by whitespace. A bare magic with nothing after
/// it is accepted too (an empty script; iPXE requires a seventh byte).
///
/// ```
/// assert!(netboot_script::is_script(b"#!ipxe\necho hi\n"));
/// assert!(netboot_script::is_script(b"#!gpxe\n"));
/// assert!(!netboot_script::is_script(b"#!ipxe2\n"));
/// ```
pub fn is_script(bytes: &[u8]) -> bool {
    match bytes
        .strip_prefix(MAGIC)
        .or_else(|| bytes.strip_prefix(MAGIC_GPXE))
    {
        Some([]) => true,
        Some([next, ..]) => next.is_ascii_whitespace() || *next == 0x0b,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_script;

    #[test]
    fn recognises_only_the_magic() {
        assert!(is_script(b"#!ipxe"));
        assert!(is_script(b"#!ipxe\r\ndhcp\r\n"));
        assert!(is_script(b"#!ipxe dhcp"));
        assert!(is_script(b"#!ipxe\x0bdhcp"));
        assert!(is_script(b"#!gpxe\n"));
        assert!(!is_script(b"#!ipxeboot\n"));
        assert!(!is_script(b""));
        assert!(!is_script(b"\x7fELF"));
    }
}
