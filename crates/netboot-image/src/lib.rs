//! # netboot-image
//!
//! Pure probes, parsers and builders for every image a network boot meets. It depends on
//! nothing else of netboot's and does not allocate where parsing needs no allocation.
//!
//! Status: this crate holds the shared [`Format`] names so far; probing and parsing are
//! tracked as their own issue.
#![no_std]

/// The image formats netboot names in `netboot-sim probe` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Linux bzImage.
    BzImage,
    /// PE/COFF EFI application or driver.
    Pe,
    /// iPXE script.
    Script,
    /// Anything not recognised.
    Unknown,
}

impl Format {
    /// The lower-case name used in machine-readable output.
    pub const fn name(self) -> &'static str {
        match self {
            Format::BzImage => "bzimage",
            Format::Pe => "pe",
            Format::Script => "script",
            Format::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn names_are_the_documented_ones() {
        assert_eq!(Format::BzImage.name(), "bzimage");
        assert_eq!(Format::Pe.name(), "pe");
        assert_eq!(Format::Script.name(), "script");
        assert_eq!(Format::Unknown.name(), "unknown");
    }
}
