//! # netboot-script
//!
//! The iPXE-compatible script language: a parser to an AST and an interpreter over a
//! `Runtime` trait (see the project's DESIGN.md).
//!
//! Status: only script recognition ([`is_script`]) is here so far; the parser and
//! interpreter are tracked as their own issue.
#![no_std]

/// The magic that starts every iPXE script.
pub const MAGIC: &[u8] = b"#!ipxe";

/// Whether `bytes` is an iPXE script: it starts with `#!ipxe` followed by whitespace or
/// the end of the data, as iPXE's script image probe requires.
///
/// ```
/// assert!(netboot_script::is_script(b"#!ipxe\necho hi\n"));
/// assert!(!netboot_script::is_script(b"#!ipxe2\n"));
/// ```
pub fn is_script(bytes: &[u8]) -> bool {
    match bytes.strip_prefix(MAGIC) {
        Some([]) => true,
        Some([next, ..]) => next.is_ascii_whitespace(),
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
        assert!(!is_script(b"#!gpxe\n"));
        assert!(!is_script(b"#!ipxeboot\n"));
        assert!(!is_script(b""));
        assert!(!is_script(b"\x7fELF"));
    }
}
