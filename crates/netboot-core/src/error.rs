//! The crate-wide error type.
//!
//! Every failure carries a stable numeric code (for `${errno}` and exit statuses) and a
//! `Display` text that says what failed, the underlying cause and, where one is known, a
//! hint. Protocol engines keep their own precise error types; this type wraps them.

use crate::proto::dhcp::DhcpClientError;
use crate::proto::dns::DnsError;
use crate::proto::http::HttpError;
use crate::proto::ntp::NtpError;
use crate::proto::tftp::TftpError;
use crate::settings::SettingsError;
use crate::uri::UriError;
use alloc::string::String;
use core::fmt;

/// A netboot-core failure.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The user pressed Ctrl-C.
    Cancelled,
    /// DHCP failed on an interface.
    Dhcp {
        /// Interface name (`net0`).
        interface: String,
        /// What the client saw.
        cause: DhcpClientError,
    },
    /// Name resolution failed.
    Dns(DnsError),
    /// A TFTP transfer failed.
    Tftp(TftpError),
    /// An HTTP transfer failed.
    Http(HttpError),
    /// Setting the clock by NTP failed.
    Ntp {
        /// The server as given.
        server: String,
        /// What went wrong.
        cause: NtpError,
    },
    /// A URI could not be parsed or resolved.
    Uri(UriError),
    /// A settings operation failed.
    Settings(SettingsError),
    /// A TCP connection failed.
    Connection {
        /// `host:port`.
        peer: String,
        /// What happened.
        why: &'static str,
    },
    /// A TLS connection failed (handshake, certificate, protocol).
    #[cfg(feature = "https")]
    Tls {
        /// `host:port`.
        peer: String,
        /// What went wrong.
        cause: crate::tls::TlsError,
    },
    /// An interface has no IPv4 configuration.
    NotConfigured {
        /// Interface name.
        interface: String,
    },
    /// No network interface exists.
    NoInterface,
    /// The URI's scheme cannot be fetched.
    UnsupportedScheme(String),
    /// An image does not fit in memory or exceeds the configured limit.
    TooLarge {
        /// Bytes needed.
        size: u64,
        /// Bytes allowed.
        limit: u64,
    },
    /// Memory allocation failed.
    OutOfMemory {
        /// Bytes requested.
        size: u64,
    },
}

impl Error {
    /// Stable numeric code, grouped by area.
    pub fn code(&self) -> u32 {
        match self {
            Error::Cancelled => 0x0101,
            Error::NoInterface => 0x0102,
            Error::NotConfigured { .. } => 0x0103,
            Error::Connection { .. } => 0x0104,
            Error::UnsupportedScheme(_) => 0x0105,
            Error::TooLarge { .. } => 0x0106,
            Error::OutOfMemory { .. } => 0x0107,
            Error::Dhcp { .. } => 0x0201,
            Error::Dns(_) => 0x0301,
            Error::Tftp(TftpError::Server { .. }) => 0x0402,
            Error::Tftp(_) => 0x0401,
            // HTTP status errors keep the status visible: 0x10194 is HTTP 404.
            Error::Http(HttpError::Status { code, .. }) => 0x1_0000 + u32::from(*code),
            Error::Http(_) => 0x0501,
            Error::Uri(_) => 0x0601,
            Error::Ntp { .. } => 0x0701,
            Error::Settings(e) => e.code(),
            #[cfg(feature = "https")]
            Error::Tls { .. } => 0x0801,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled => f.write_str("cancelled by Ctrl-C"),
            Error::Dhcp { interface, cause } => write!(f, "DHCP on {interface} failed: {cause}"),
            Error::Dns(e) => write!(f, "{e}"),
            Error::Tftp(e) => write!(f, "{e}"),
            Error::Http(e) => write!(f, "{e}"),
            Error::Uri(e) => write!(f, "{e}"),
            Error::Ntp { server, cause } => write!(f, "{server}: {cause}"),
            Error::Settings(e) => write!(f, "{e}"),
            Error::Connection { peer, why } => write!(f, "connection to {peer} failed: {why}"),
            #[cfg(feature = "https")]
            Error::Tls { peer, cause } => write!(f, "TLS with {peer} failed: {cause}"),
            Error::NotConfigured { interface } => {
                write!(
                    f,
                    "{interface} has no IPv4 address (hint: run `dhcp` or `ifconf` first)"
                )
            }
            Error::NoInterface => f.write_str("no network interface found"),
            Error::UnsupportedScheme(s) if s.eq_ignore_ascii_case("https") => write!(
                f,
                "cannot fetch https URIs: this build has no HTTPS (netboot-core feature `https`)"
            ),
            Error::UnsupportedScheme(s) => {
                let supported = if cfg!(feature = "https") {
                    "tftp, http, https"
                } else {
                    "tftp, http"
                };
                write!(f, "cannot fetch {s:?} URIs (supported: {supported})")
            }
            Error::TooLarge { size, limit } => {
                write!(
                    f,
                    "image of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            Error::OutOfMemory { size } => write!(f, "out of memory allocating {size} bytes"),
        }
    }
}

impl core::error::Error for Error {}

macro_rules! from_engine {
    ($($ty:ty => $variant:ident),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}
from_engine!(DnsError => Dns, TftpError => Tftp, HttpError => Http, UriError => Uri, SettingsError => Settings);
