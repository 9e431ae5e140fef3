//! HTTPS: a sans-IO TLS 1.3/1.2 client, the trust store, and CMS signature checks.
//!
//! # Why rustls with a RustCrypto provider
//!
//! netboot needs TLS 1.3 *and* 1.2, ECDHE over X25519 and P-256, AES-GCM and
//! ChaCha20-Poly1305, RSA (PKCS#1 and PSS) and ECDSA server certificates, SNI and real
//! chain and host-name validation, with no operating system and no C compiler for the
//! firmware targets. [rustls] 0.23 is the one Rust implementation that covers all of it
//! in `no_std` + `alloc`: its *unbuffered* connection is a state machine that takes and
//! returns bytes, exactly the sans-IO shape of netboot's other engines (DESIGN.md), and its
//! certificate checks are rustls-webpki's, the `webpki` of our chosen dependencies.
//! rustls needs a crypto provider: `ring` and `aws-lc-rs` compile C and assembly that the
//! UEFI and bare-metal targets cannot build, so netboot uses the pure-Rust RustCrypto
//! primitives (`aes-gcm`, `chacha20poly1305`, `p256`, `p384`, `x25519-dalek`, `rsa`,
//! `sha2`, all mature): the cipher suites and random source come from `rustls-rustcrypto`
//! (RustCrypto's own glue, still versioned 0.0.x-alpha, exercised by the tests against
//! OpenSSL-backed nginx), the key exchange and signature verifiers from our own
//! client-only [`crypto`] module. Alternatives considered: `embedded-tls`
//! speaks only TLS 1.3 and has no full chain validation; writing TLS ourselves would be
//! the riskiest code in the project.
//!
//! Costs: the firmware targets are soft-float, so `.cargo/config.toml` selects the
//! portable (constant-time, non-SIMD) backends; measured on the release netboot.efi, the
//! `https` feature adds about 535 KB (TLS, certificate checks, CMS and `imgverify`) and
//! `public-roots` 63 KB more: 451,072 B without, 1,048,064 B with both (BENCHMARKS.md).
//! Under QEMU's TCG, HTTPS downloads run at about a fifth of the HTTP rate (8.6 against
//! 42.8 MB/s), the cost of the portable ChaCha20-Poly1305. Both are Cargo features of
//! this crate, on by default; without `https` an `https://` URI fails with an
//! explanation.
//!
//! # Pieces
//!
//! * [`TrustStore`] — root CAs: embedded at build time (`NETBOOT_TRUST`), the public set
//!   (`public-roots`), or added at run time.
//! * [`TlsSetup`] — a provider and verifier built once from a trust store.
//! * [`TlsClient`] — one connection's state machine: ciphertext in, ciphertext out,
//!   plaintext both ways; [`crate::net::NetDevice::fetch`] drives it over smoltcp TCP.
//! * [`TlsError`] — failures explained: unknown CA, wrong host name, expired or not yet
//!   valid (naming the clock), an old-TLS-only server.
//! * [`crypto`] — the crypto provider: RustCrypto's primitives, only what a client needs.
//! * [`rng`] — the random source on machines without an operating system.
//!
//! [rustls]: https://docs.rs/rustls

pub mod cms;
pub mod crypto;
pub mod rng;
mod session;
mod trust;

pub use session::TlsClient;
pub use trust::{TrustError, TrustStore};

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use pki_types::UnixTime;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;

/// The wall clock used to check certificate validity, and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// Seconds since the Unix epoch, now.
    pub unix_secs: u64,
    /// Which clock said so, for error messages (`EFI real-time clock`, `NTP`).
    pub source: &'static str,
}

/// A crypto provider and certificate verifier, built once from a [`TrustStore`].
#[derive(Debug)]
pub struct TlsSetup {
    provider: Arc<CryptoProvider>,
    verifier: Option<Arc<WebPkiServerVerifier>>,
    roots: String,
}

impl TlsSetup {
    /// A setup that trusts the roots of `trust`.
    pub fn new(trust: &TrustStore) -> TlsSetup {
        let provider = Arc::new(provider());
        let mut store = rustls::RootCertStore::empty();
        store.roots.extend(trust.anchors().iter().cloned());
        let verifier = (!store.is_empty()).then(|| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .ok()
        });
        TlsSetup {
            provider,
            verifier: verifier.flatten(),
            roots: trust.describe(),
        }
    }

    /// The trust store's description (`1 embedded + 146 public roots`).
    pub fn roots(&self) -> &str {
        &self.roots
    }
}

/// The crypto provider: RustCrypto's primitives, client side only ([`crypto`]), with
/// ChaCha20-Poly1305 preferred where the CPU has no usable AES instructions (all firmware
/// targets: their AES is the portable bitsliced one, several times slower than ChaCha20
/// in software).
pub fn provider() -> CryptoProvider {
    let mut provider = crypto::client_provider();
    if cfg!(any(target_os = "none", target_os = "uefi")) {
        use rustls::CipherSuite as S;
        provider.cipher_suites.sort_by_key(|s| {
            !matches!(
                s.suite(),
                S::TLS13_CHACHA20_POLY1305_SHA256
                    | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                    | S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            )
        });
    }
    provider
}

/// Why a TLS connection failed, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The chain does not end at a trusted root.
    UnknownIssuer {
        /// The trust store, described.
        roots: String,
    },
    /// The certificate does not name the host that was asked for.
    NotValidForName {
        /// The host in the URI.
        expected: String,
        /// The names the certificate has.
        presented: Vec<String>,
    },
    /// The certificate's `notAfter` is in the past (by our clock).
    Expired {
        /// Our time.
        now: u64,
        /// The certificate's end.
        not_after: u64,
        /// Which clock.
        clock: &'static str,
    },
    /// The certificate's `notBefore` is in the future (by our clock).
    NotYetValid {
        /// Our time.
        now: u64,
        /// The certificate's start.
        not_before: u64,
        /// Which clock.
        clock: &'static str,
    },
    /// There is no wall clock at all to check validity against.
    NoClock,
    /// The build or the run trusts no root at all.
    NoTrustedRoots,
    /// The server speaks only a TLS (or SSL) version older than 1.2.
    OldProtocol,
    /// Another certificate problem (bad signature, wrong key usage, …).
    Certificate(String),
    /// The server sent an alert.
    Alert(String),
    /// The peer broke the protocol, or something else failed.
    Protocol(String),
    /// The server answered with something that is not TLS.
    NotTls,
    /// The server closed the connection during the handshake.
    ClosedInHandshake,
    /// A record larger than netboot's buffers allow.
    RecordTooLarge,
    /// The handshake did not finish in time.
    Timeout,
    /// This build has no HTTPS support.
    NotBuilt,
}

impl TlsError {
    /// Maps a rustls error, naming `host` and `clock` where they help.
    pub fn from_rustls(e: rustls::Error, clock: Option<WallClock>, roots: &str) -> TlsError {
        use rustls::{AlertDescription, CertificateError as C, Error as E, PeerIncompatible};
        let clock_name = clock.map_or("no clock", |c| c.source);
        match e {
            E::InvalidCertificate(C::UnknownIssuer) => TlsError::UnknownIssuer {
                roots: roots.to_string(),
            },
            E::InvalidCertificate(C::NotValidForNameContext {
                expected,
                presented,
            }) => TlsError::NotValidForName {
                expected: server_name(&expected),
                presented: presented.iter().map(|p| presented_name(p)).collect(),
            },
            E::InvalidCertificate(C::NotValidForName) => TlsError::NotValidForName {
                expected: String::new(),
                presented: Vec::new(),
            },
            E::InvalidCertificate(C::ExpiredContext { time, not_after }) => TlsError::Expired {
                now: time.as_secs(),
                not_after: not_after.as_secs(),
                clock: clock_name,
            },
            E::InvalidCertificate(C::Expired) => TlsError::Expired {
                now: clock.map_or(0, |c| c.unix_secs),
                not_after: 0,
                clock: clock_name,
            },
            E::InvalidCertificate(C::NotValidYetContext { time, not_before }) => {
                TlsError::NotYetValid {
                    now: time.as_secs(),
                    not_before: not_before.as_secs(),
                    clock: clock_name,
                }
            }
            E::InvalidCertificate(C::NotValidYet) => TlsError::NotYetValid {
                now: clock.map_or(0, |c| c.unix_secs),
                not_before: 0,
                clock: clock_name,
            },
            E::InvalidCertificate(other) => TlsError::Certificate(alloc::format!("{other:?}")),
            E::FailedToGetCurrentTime => TlsError::NoClock,
            E::AlertReceived(AlertDescription::ProtocolVersion)
            | E::PeerIncompatible(PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig)
            | E::PeerIncompatible(PeerIncompatible::Tls12NotOffered)
            | E::PeerIncompatible(PeerIncompatible::SupportedVersionsExtensionRequired) => {
                TlsError::OldProtocol
            }
            E::AlertReceived(alert) => TlsError::Alert(alloc::format!("{alert:?}")),
            E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => TlsError::NotTls,
            other => TlsError::Protocol(alloc::format!("{other}")),
        }
    }
}

fn server_name(name: &pki_types::ServerName<'_>) -> String {
    match name {
        pki_types::ServerName::DnsName(d) => d.as_ref().to_string(),
        pki_types::ServerName::IpAddress(pki_types::IpAddr::V4(ip)) => {
            core::net::Ipv4Addr::from(*ip.as_ref()).to_string()
        }
        _ => alloc::format!("{name:?}"),
    }
}

/// A name from rustls's list of presented names, which are `Debug` renderings
/// (`DnsName("boot.test")`, `IpAddress(192.0.2.1)`): the bare name.
fn presented_name(text: &str) -> String {
    let inner = match (text.find('('), text.rfind(')')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    inner.trim_matches('"').to_string()
}

/// `2026-11-22 05:41:09 UTC` for Unix seconds.
pub fn format_utc(secs: u64) -> String {
    let c = crate::platform::civil_from_unix_time(i64::try_from(secs).unwrap_or(i64::MAX));
    alloc::format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second
    )
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownIssuer { roots } => write!(
                f,
                "the server's certificate is issued by an unknown certificate authority \
                 (trusted: {roots}); hint: build with NETBOOT_TRUST=your-ca.pem, or send \
                 the intermediate certificates"
            ),
            TlsError::NotValidForName {
                expected,
                presented,
            } => {
                write!(f, "the server's certificate is not valid for {expected}")?;
                if !presented.is_empty() {
                    write!(f, " (it names {})", presented.join(", "))?;
                }
                f.write_str("; hint: use a URL with a name the certificate lists")
            }
            TlsError::Expired {
                now,
                not_after,
                clock,
            } => write!(
                f,
                "the server's certificate expired at {} but the clock ({clock}) says {}; \
                 hint: if the clock is wrong, set it with `ntp SERVER`",
                format_utc(*not_after),
                format_utc(*now)
            ),
            TlsError::NotYetValid {
                now,
                not_before,
                clock,
            } => write!(
                f,
                "the server's certificate is not valid before {} but the clock ({clock}) \
                 says {}; hint: the clock is probably wrong: set it with `ntp SERVER`",
                format_utc(*not_before),
                format_utc(*now)
            ),
            TlsError::NoClock => f.write_str(
                "no wall clock to check the certificate's validity against; hint: run \
                 `ntp SERVER` first",
            ),
            TlsError::NoTrustedRoots => f.write_str(
                "no trusted root certificates in this build; hint: build with \
                 NETBOOT_TRUST=ca.pem or the `public-roots` feature",
            ),
            TlsError::OldProtocol => f.write_str(
                "the server does not speak TLS 1.2 or 1.3 (only an older, insecure \
                 version); hint: enable TLSv1.2/TLSv1.3 on the server",
            ),
            TlsError::Certificate(why) => write!(f, "the server's certificate is invalid: {why}"),
            TlsError::Alert(alert) => write!(
                f,
                "the server refused the TLS handshake (alert {alert}); hint: the server may \
                 need a cipher or curve netboot lacks (ECDHE, AES-GCM, ChaCha20)"
            ),
            TlsError::Protocol(why) => write!(f, "TLS protocol error: {why}"),
            TlsError::NotTls => f.write_str(
                "the server did not answer with TLS (is this an HTTPS port? plain HTTP is \
                 usually on port 80)",
            ),
            TlsError::ClosedInHandshake => f.write_str(
                "the server closed the connection during the TLS handshake (is it an HTTPS \
                 port?)",
            ),
            TlsError::RecordTooLarge => f.write_str("the server sent an oversized TLS record"),
            TlsError::Timeout => f.write_str("the TLS handshake timed out after 15 s"),
            TlsError::NotBuilt => {
                f.write_str("this build has no HTTPS support (netboot-core feature `https`)")
            }
        }
    }
}

/// The current time as rustls wants it, or none.
#[derive(Debug)]
struct FixedTime(Option<UnixTime>);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_their_debug_wrapping() {
        assert_eq!(presented_name("DnsName(\"other.test\")"), "other.test");
        assert_eq!(presented_name("IpAddress(192.0.2.1)"), "192.0.2.1");
        assert_eq!(presented_name("plain"), "plain");
    }

    #[test]
    fn formats_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_326_069), "2026-11-22 05:41:09 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn errors_name_the_clock_and_hint() {
        let e = TlsError::Expired {
            now: 1_795_326_069,
            not_after: 1_609_459_200,
            clock: "EFI real-time clock",
        };
        let text = e.to_string();
        assert!(
            text.contains("expired at 2021-01-01 00:00:00 UTC"),
            "{text}"
        );
        assert!(text.contains("EFI real-time clock"), "{text}");
        assert!(text.contains("ntp"), "{text}");
    }

    #[cfg(any(target_os = "none", target_os = "uefi"))]
    #[test]
    fn firmware_prefers_chacha() {
        let p = provider();
        assert!(alloc::format!("{:?}", p.cipher_suites[0].suite()).contains("CHACHA20"));
    }
}
