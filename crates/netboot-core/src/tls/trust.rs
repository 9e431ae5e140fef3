//! The trust store: which root certificate authorities HTTPS and `imgverify` accept.
//!
//! [`TrustStore::builtin`] holds, in order: the CAs embedded at build time
//! (`NETBOOT_TRUST=ca.pem cargo xtask build`, PEM, several files separated by commas) and,
//! with the `public-roots` feature (on by default), the public web's roots (Mozilla's set,
//! as packaged by the `webpki-roots` crate). An embedder can start from
//! [`TrustStore::empty`] and add its own with [`TrustStore::add_pem`] or
//! [`TrustStore::add_der`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use pki_types::pem::PemObject;
use pki_types::{CertificateDer, TrustAnchor};

/// The PEM file(s) named by `NETBOOT_TRUST` at build time (empty without it).
static EMBEDDED_PEM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trust.pem"));

/// Why a certificate could not be added to the trust store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustError {
    /// The PEM text has no `-----BEGIN CERTIFICATE-----` block.
    NoCertificate,
    /// A PEM block or its base64 is malformed.
    BadPem,
    /// The DER is not an X.509 certificate webpki can use as a trust anchor.
    BadCertificate(String),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::NoCertificate => {
                f.write_str("no PEM certificate (-----BEGIN CERTIFICATE-----) found")
            }
            TrustError::BadPem => f.write_str("malformed PEM certificate block"),
            TrustError::BadCertificate(why) => {
                write!(f, "not a usable X.509 CA certificate: {why}")
            }
        }
    }
}

impl core::error::Error for TrustError {}

/// A set of trusted root CAs.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    embedded: usize,
    public: usize,
}

impl TrustStore {
    /// No trusted roots at all: every HTTPS connection fails until some are added.
    pub fn empty() -> Self {
        TrustStore::default()
    }

    /// The build's roots: `NETBOOT_TRUST`'s CAs, then (feature `public-roots`) the public
    /// web's. A malformed embedded file cannot happen: the build script checks it.
    pub fn builtin() -> Self {
        let mut store = TrustStore::empty();
        if !EMBEDDED_PEM.is_empty() {
            store.embedded = store.add_pem(EMBEDDED_PEM).unwrap_or(0);
        }
        #[cfg(feature = "public-roots")]
        {
            store
                .anchors
                .extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            store.public = webpki_roots::TLS_SERVER_ROOTS.len();
        }
        store
    }

    /// Adds every certificate in `pem`; returns how many. All or nothing: when one block
    /// is bad, none is added.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, TrustError> {
        let mut anchors = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| TrustError::BadPem)?;
            anchors.push(anchor(&cert)?);
        }
        if anchors.is_empty() {
            return Err(TrustError::NoCertificate);
        }
        let added = anchors.len();
        self.anchors.extend(anchors);
        Ok(added)
    }

    /// Adds one DER-encoded certificate as a trust anchor.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), TrustError> {
        self.anchors.push(anchor(&CertificateDer::from(der))?);
        Ok(())
    }

    /// The trust anchors, embedded ones first.
    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// How many roots there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// How many came from `NETBOOT_TRUST` at build time.
    pub fn embedded(&self) -> usize {
        self.embedded
    }

    /// How many are the public web's roots (feature `public-roots`).
    pub fn public(&self) -> usize {
        self.public
    }

    /// A one-line description for logs: `2 embedded + 146 public roots`.
    pub fn describe(&self) -> String {
        let other = self.len() - self.embedded - self.public;
        let mut parts = Vec::new();
        if self.embedded > 0 {
            parts.push(alloc::format!("{} embedded", self.embedded));
        }
        if self.public > 0 {
            parts.push(alloc::format!("{} public", self.public));
        }
        if other > 0 {
            parts.push(alloc::format!("{other} added"));
        }
        if parts.is_empty() {
            return String::from("no trusted roots");
        }
        alloc::format!("{} roots", parts.join(" + "))
    }
}

/// The trust anchor of a DER certificate.
fn anchor(cert: &CertificateDer<'_>) -> Result<TrustAnchor<'static>, TrustError> {
    webpki::anchor_from_trusted_cert(cert)
        .map(|a| a.to_owned())
        .map_err(|e| TrustError::BadCertificate(alloc::format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_text_without_certificates() {
        let mut store = TrustStore::empty();
        assert_eq!(store.add_pem(b"hello"), Err(TrustError::NoCertificate));
        assert!(store.is_empty());
        assert_eq!(store.describe(), "no trusted roots");
    }

    #[test]
    fn rejects_a_certificate_that_is_not_der() {
        let mut store = TrustStore::empty();
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            store.add_pem(pem),
            Err(TrustError::BadCertificate(_))
        ));
    }

    #[test]
    fn a_bad_block_adds_nothing() {
        let good = include_bytes!("../../tests/fixtures/tls/ca.pem");
        let mut pem = good.to_vec();
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let mut store = TrustStore::empty();
        assert!(store.add_pem(&pem).is_err());
        assert!(store.is_empty());
        assert_eq!(store.add_pem(good), Ok(1));
    }

    #[cfg(feature = "public-roots")]
    #[test]
    fn builtin_has_the_public_roots() {
        let store = TrustStore::builtin();
        assert!(store.public() > 100, "{}", store.describe());
        assert!(store.describe().contains("public"));
    }
}
