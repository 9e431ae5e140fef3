//! The script embedded at build time.
//!
//! Building with `NETBOOT_EMBED=path/to/script.ipxe` (for example through
//! `NETBOOT_EMBED=script.ipxe cargo xtask build`) places the file's bytes in every
//! firmware built from this crate, like iPXE's `make EMBED=`. The runtime runs it instead
//! of the DHCP-provided boot file.

static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/embedded.ipxe"));

/// The embedded script, or `None` when the build had no `NETBOOT_EMBED`.
pub fn script() -> Option<&'static [u8]> {
    (!EMBEDDED.is_empty()).then_some(EMBEDDED)
}

/// The first line of the embedded script without its line ending, for the start-up
/// report (`#!ipxe` for a well-formed script).
pub fn first_line() -> Option<&'static [u8]> {
    let script = script()?;
    let line = script.split(|&b| b == b'\n').next().unwrap_or(script);
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}
