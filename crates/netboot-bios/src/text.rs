//! Small text helpers shared by the reports the firmware prints.

use core::fmt;

/// Displays bytes as text: printable ASCII as is, everything else as `\xNN`.
///
/// Used for strings that come from loaders or tables and may hold anything.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while !rest.is_empty() {
            // Print the longest printable run in one go; it is cheaper than per byte.
            let run = rest
                .iter()
                .take_while(|b| matches!(b, 0x20..=0x7E) && **b != b'\\')
                .count();
            if run > 0 {
                // The run is printable ASCII, hence valid UTF-8.
                f.write_str(core::str::from_utf8(&rest[..run]).map_err(|_| fmt::Error)?)?;
                rest = &rest[run..];
            } else {
                match rest[0] {
                    b'\\' => f.write_str("\\\\")?,
                    b => write!(f, "\\x{b:02x}")?,
                }
                rest = &rest[1..];
            }
        }
        Ok(())
    }
}

/// Returns the bytes before the first NUL (all of them if there is none).
pub fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn escapes_non_printable_bytes() {
        assert_eq!(format!("{}", Escaped(b"hello=world")), "hello=world");
        assert_eq!(format!("{}", Escaped(b"a\tb\xff\\")), "a\\x09b\\xff\\\\");
        assert_eq!(format!("{}", Escaped(b"")), "");
    }

    #[test]
    fn stops_at_nul() {
        assert_eq!(until_nul(b"abc\0def"), b"abc");
        assert_eq!(until_nul(b"abc"), b"abc");
        assert_eq!(until_nul(b"\0"), b"");
    }
}
