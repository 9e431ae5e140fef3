//! The crate-wide error type.

use core::fmt;

/// A netboot-image failure: what was being read, why it failed, and a hint.
///
/// Every variant has a stable numeric [`code`](Error::code) (range `0x0Axx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The data ends before a structure or a declared length does.
    Truncated {
        /// The structure being read (`"bzImage setup"`, `"cpio entry"`, …).
        what: &'static str,
        /// Bytes the header says are needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// The magic number or signature is wrong: it is not this format.
    BadMagic {
        /// The format that was expected.
        what: &'static str,
    },
    /// A field holds an impossible value.
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Valid, but not something this crate implements.
    Unsupported {
        /// The structure being read.
        what: &'static str,
        /// The unsupported feature.
        why: &'static str,
    },
    /// A checksum (CRC32, Adler-32, CPIO check, ISIZE) does not match.
    Checksum {
        /// The checksum that failed.
        what: &'static str,
        /// The value stored in the data.
        expected: u32,
        /// The value computed.
        actual: u32,
    },
    /// An output or a count would exceed its limit.
    TooLarge {
        /// What grew too large.
        what: &'static str,
        /// The size reached or requested.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A linked structure refers back to itself (directory loop, chain cycle) or nests
    /// deeper than the limit.
    Loop {
        /// The structure that loops.
        what: &'static str,
    },
    /// A caller-supplied output buffer is too small.
    NoSpace {
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// A caller-supplied argument is invalid (an empty CPIO name, a name with a NUL).
    InvalidArgument {
        /// What is wrong.
        why: &'static str,
    },
}

impl Error {
    /// Stable numeric code (for `${errno}` and exit statuses).
    pub const fn code(&self) -> u32 {
        match self {
            Error::Truncated { .. } => 0x0A01,
            Error::BadMagic { .. } => 0x0A02,
            Error::Malformed { .. } => 0x0A03,
            Error::Unsupported { .. } => 0x0A04,
            Error::Checksum { .. } => 0x0A05,
            Error::TooLarge { .. } => 0x0A06,
            Error::Loop { .. } => 0x0A07,
            Error::NoSpace { .. } => 0x0A08,
            Error::InvalidArgument { .. } => 0x0A09,
        }
    }

    pub(crate) const fn truncated(what: &'static str, need: u64, have: usize) -> Error {
        Error::Truncated {
            what,
            need,
            have: have as u64,
        }
    }

    pub(crate) const fn malformed(what: &'static str, why: &'static str) -> Error {
        Error::Malformed { what, why }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { what, need, have } => write!(
                f,
                "{what} truncated: header says {need} bytes, have {have} \
                 (hint: the download was cut short or the file is damaged; fetch it again)"
            ),
            Error::BadMagic { what } => write!(
                f,
                "not a {what}: wrong magic number (hint: check the file type with `probe`)"
            ),
            Error::Malformed { what, why } => {
                write!(
                    f,
                    "malformed {what}: {why} (hint: the file is damaged or hostile)"
                )
            }
            Error::Unsupported { what, why } => write!(
                f,
                "unsupported {what}: {why} (hint: convert the image to a supported variant)"
            ),
            Error::Checksum {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what} mismatch: stored {expected:#010x}, computed {actual:#010x} \
                 (hint: the data is corrupt; fetch it again)"
            ),
            Error::TooLarge { what, size, limit } => write!(
                f,
                "{what} too large: {size} exceeds the limit of {limit} \
                 (hint: raise the limit or use a smaller image)"
            ),
            Error::Loop { what } => write!(
                f,
                "{what} loops back on itself or nests too deeply (hint: the image is damaged or hostile)"
            ),
            Error::NoSpace { need, have } => write!(
                f,
                "output buffer too small: need {need} bytes, have {have} (hint: size it with the matching `_len` function)"
            ),
            Error::InvalidArgument { why } => write!(f, "invalid argument: {why}"),
        }
    }
}

impl core::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;
