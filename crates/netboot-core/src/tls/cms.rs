//! CMS (PKCS #7) detached signatures for `imgverify`.
//!
//! A signature file is a DER (or PEM-armoured) `ContentInfo` holding a `SignedData`
//! (RFC 5652) whose content is left out ("detached"): the image is the content. This is
//! what `openssl cms -sign -binary -outform DER -in IMAGE -signer cert.pem -inkey key.pem
//! [-certfile intermediate.pem] [-noattr]` writes, and what iPXE's `imgverify` checks.
//!
//! [`verify_detached`] checks every signer (or, with [`verify_detached_signer`], every
//! signer with a given common name):
//!
//! 1. its certificate is among the embedded certificates (found by issuer and serial
//!    number, or by subject key identifier);
//! 2. the certificate chains to one of the trust anchors through the other embedded
//!    certificates, is valid at `now`, and is for code signing (extended key usage
//!    `codeSigning`, and `digitalSignature` if it has a key usage extension) — checked by
//!    webpki;
//! 3. without signed attributes, the signature is over the image itself; with them, the
//!    `messageDigest` attribute equals the image's digest (SHA-256/384/512) and the
//!    signature is over the DER of the attributes re-tagged as a SET;
//! 4. the signature verifies with the certificate's key: RSA PKCS #1 v1.5 or ECDSA (P-256,
//!    P-384), with the algorithms of [`super::provider`] (Ed25519 signers are recognised
//!    but refused as unsupported: the client-only provider leaves its verifier out).
//!
//! The DER reader is our own: bounded by the input (every length is checked against what
//! is left), no recursion (the structure is walked at fixed depth), no panics. BER's
//! indefinite lengths are refused with a hint.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use pki_types::CertificateDer;
/// Re-exported for callers of [`verify_detached`] that do not depend on `pki-types`.
pub use pki_types::{TrustAnchor, UnixTime};

/// The extended key usage `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), as DER OID content.
pub const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The most certificates or signers a signature may carry (more is refused as malformed).
pub const MAX_ITEMS: usize = 64;

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;
const TAG_CONTEXT_3: u8 = 0xa3;
const TAG_IMPLICIT_0: u8 = 0x80;

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_ATTR_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const OID_ATTR_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// Why a signature was not accepted, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmsError {
    /// The signature file is not well-formed DER CMS.
    Malformed {
        /// Which element was being read.
        element: &'static str,
        /// What was wrong with it.
        why: &'static str,
    },
    /// The file is CMS, but not `signedData` (e.g. encrypted data).
    NotSignedData {
        /// The content type found, dotted.
        oid: String,
    },
    /// The `SignedData` has no `SignerInfo` at all.
    NoSigners,
    /// A signer's certificate is not among the embedded certificates.
    NoSignerCertificate {
        /// How the signer identifies its certificate (issuer and serial, or key id).
        signer: String,
    },
    /// `--signer NAME` matches none of the signers.
    WrongSigner {
        /// The name asked for.
        expected: String,
        /// The signers' common names.
        found: Vec<String>,
    },
    /// The signer's certificate is not for code signing.
    NotCodeSigning {
        /// The signer's common name.
        signer: String,
        /// What the certificate is for instead (extended key usages, or a key usage
        /// without `digitalSignature`).
        usage: String,
    },
    /// The certificate chain does not end at a trusted root.
    UnknownCa {
        /// The signer's common name.
        signer: String,
        /// The common name of the last certificate's issuer that could be found.
        issuer: String,
        /// How many trust anchors were tried.
        roots: usize,
    },
    /// The signer's (or a chain) certificate has expired.
    Expired {
        /// The signer's common name.
        signer: String,
        /// The certificate's `notAfter`, Unix seconds.
        not_after: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// The signer's (or a chain) certificate is not valid yet.
    NotYetValid {
        /// The signer's common name.
        signer: String,
        /// The certificate's `notBefore`, Unix seconds.
        not_before: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// No wall clock to check certificate validity against.
    NoClock,
    /// The image's digest is not the signed one: the image or the signature was changed,
    /// or the signature belongs to another file.
    DigestMismatch,
    /// The signed attributes' signature does not verify with the certificate's key.
    BadSignature {
        /// The signer's common name.
        signer: String,
    },
    /// An algorithm this implementation does not support.
    Unsupported {
        /// What kind of algorithm (`digest`, `signature`).
        what: &'static str,
        /// Its OID, dotted.
        oid: String,
    },
    /// Another certificate problem, as webpki reports it.
    Certificate {
        /// The signer's common name.
        signer: String,
        /// webpki's reason.
        why: String,
    },
}

impl fmt::Display for CmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::format_utc;
        match self {
            CmsError::Malformed { element, why } => write!(
                f,
                "malformed signature: {element}: {why}; hint: the signature must be a \
                 detached CMS signature, as made by `openssl cms -sign -binary -outform DER`"
            ),
            CmsError::NotSignedData { oid } => write!(
                f,
                "the signature file is CMS of type {oid}, not signedData; hint: sign with \
                 `openssl cms -sign`"
            ),
            CmsError::NoSigners => f.write_str("no signatures present in the signature file"),
            CmsError::NoSignerCertificate { signer } => write!(
                f,
                "the signer's certificate ({signer}) is not in the signature file; hint: \
                 sign without -nocerts"
            ),
            CmsError::WrongSigner { expected, found } => write!(
                f,
                "incorrect signer: wanted \"{expected}\", the signature is by \"{}\"",
                found.join("\", \"")
            ),
            CmsError::NotCodeSigning { signer, usage } => write!(
                f,
                "the signer's certificate \"{signer}\" is not for code signing (its usage: \
                 {usage}); hint: sign with a certificate whose extendedKeyUsage includes \
                 codeSigning"
            ),
            CmsError::UnknownCa {
                signer,
                issuer,
                roots,
            } => write!(
                f,
                "the signer's certificate \"{signer}\" is issued by an unknown certificate \
                 authority (\"{issuer}\"; trusted roots: {roots}); hint: trust the CA \
                 (NETBOOT_TRUST=ca.pem, or netboot-sim --trust), and include intermediate \
                 certificates with `openssl cms -sign -certfile`"
            ),
            CmsError::Expired {
                signer,
                not_after,
                now,
            } => write!(
                f,
                "the certificate chain of \"{signer}\" expired at {} but the clock says {}; \
                 hint: re-sign with a valid certificate, or if the clock is wrong, set it \
                 with `ntp SERVER`",
                format_utc(*not_after),
                format_utc(*now)
            ),
            CmsError::NotYetValid {
                signer,
                not_before,
                now,
            } => write!(
                f,
                "the certificate chain of \"{signer}\" is not valid before {} but the clock \
                 says {}; hint: the clock is probably wrong: set it with `ntp SERVER`",
                format_utc(*not_before),
                format_utc(*now)
            ),
            CmsError::NoClock => f.write_str(
                "no wall clock to check the signer's certificate validity against; hint: run \
                 `ntp SERVER` first",
            ),
            CmsError::DigestMismatch => {
                f.write_str("image does not match its signature (tampered or wrong signature file)")
            }
            CmsError::BadSignature { signer } => write!(
                f,
                "the signature by \"{signer}\" does not verify with its certificate's key \
                 (corrupted signature file?)"
            ),
            CmsError::Unsupported { what, oid } => write!(
                f,
                "unsupported {what} algorithm {oid}; hint: sign with SHA-256/384/512 and an \
                 RSA (PKCS #1 v1.5) or ECDSA P-256/P-384 key"
            ),
            CmsError::Certificate { signer, why } => {
                write!(f, "the certificate chain of \"{signer}\" is invalid: {why}")
            }
        }
    }
}

impl core::error::Error for CmsError {}

/// Who signed: the result of a successful check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The signing certificate's subject common name (empty if it has none).
    pub common_name: String,
    /// The key type: `RSA`, `ECDSA` or `Ed25519`.
    pub key: &'static str,
    /// The digest: `SHA-256`, `SHA-384` or `SHA-512`.
    pub digest: &'static str,
}

/// What a signature file holds, without checking anything ([`inspect`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureInfo {
    /// How many certificates are embedded.
    pub certificates: usize,
    /// Each signer: the common name of its certificate if embedded (else `None`).
    pub signers: Vec<Option<String>>,
}

/// Verifies a detached CMS signature over `content`: every signer must be valid (see the
/// module documentation). Returns the first signer.
pub fn verify_detached(
    content: &[u8],
    signature: &[u8],
    anchors: &[TrustAnchor<'_>],
    now: Option<UnixTime>,
) -> Result<Signer, CmsError> {
    verify_detached_signer(content, signature, anchors, now, None)
}

/// [`verify_detached`], but only for the signers whose certificate's common name (or a
/// DNS subject alternative name) is `name` (iPXE's `imgverify --signer`); it fails if
/// there are none.
pub fn verify_detached_signer(
    content: &[u8],
    signature: &[u8],
    anchors: &[TrustAnchor<'_>],
    now: Option<UnixTime>,
    name: Option<&str>,
) -> Result<Signer, CmsError> {
    let der = unarmour(signature)?;
    let parsed = SignedData::parse(&der)?;
    let mut checked = None;
    let mut found = Vec::new();
    for info in &parsed.signers {
        let Some(cert) = parsed.find_cert(&info.sid) else {
            if name.is_none() {
                return Err(CmsError::NoSignerCertificate {
                    signer: info.sid.describe(),
                });
            }
            continue;
        };
        let cn = common_name(cert.subject).unwrap_or_default();
        if let Some(wanted) = name
            && wanted != cn
            && !cert.has_dns_name(wanted)
        {
            found.push(cn);
            continue;
        }
        let signer = verify_one(content, &parsed, info, &cert, cn, anchors, now)?;
        checked.get_or_insert(signer);
    }
    match (checked, name) {
        (Some(s), _) => Ok(s),
        (None, Some(wanted)) => Err(CmsError::WrongSigner {
            expected: wanted.to_string(),
            found,
        }),
        (None, None) => Err(CmsError::NoSigners),
    }
}

/// Parses a signature file (DER or PEM) without verifying anything: how many
/// certificates it carries and who the signers are. For diagnostics and fuzzing.
pub fn inspect(signature: &[u8]) -> Result<SignatureInfo, CmsError> {
    let der = unarmour(signature)?;
    let parsed = SignedData::parse(&der)?;
    Ok(SignatureInfo {
        certificates: parsed.certs.len(),
        signers: parsed
            .signers
            .iter()
            .map(|s| {
                parsed
                    .find_cert(&s.sid)
                    .map(|c| common_name(c.subject).unwrap_or_default())
            })
            .collect(),
    })
}

fn verify_one(
    content: &[u8],
    parsed: &SignedData<'_>,
    info: &SignerInfo<'_>,
    cert: &Cert<'_>,
    cn: String,
    anchors: &[TrustAnchor<'_>],
    now: Option<UnixTime>,
) -> Result<Signer, CmsError> {
    let digest = DigestAlg::from_oid(info.digest_oid)?;
    let provider = super::provider();
    let algs = provider.signature_verification_algorithms.all;
    let now = now.ok_or(CmsError::NoClock)?;

    // The chain, validity and extended key usage.
    let der = CertificateDer::from(cert.der);
    let ee = webpki::EndEntityCert::try_from(&der).map_err(|e| CmsError::Certificate {
        signer: cn.clone(),
        why: alloc::format!("{e:?}"),
    })?;
    let intermediates: Vec<CertificateDer<'_>> = parsed
        .certs
        .iter()
        .filter(|c| c.der != cert.der)
        .map(|c| CertificateDer::from(c.der))
        .collect();
    let chained = ee.verify_for_usage(
        algs,
        anchors,
        &intermediates,
        now,
        // `required` would demand codeSigning of every CA certificate too (webpki applies
        // the policy along the whole path), which real CAs do not carry: CAs may restrict
        // it, and the end entity must have it (checked below).
        webpki::KeyUsage::required_if_present(EKU_CODE_SIGNING),
        None,
        None,
    );
    if let Err(e) = chained {
        return Err(chain_error(e, cert, parsed, cn, anchors.len()));
    }
    if !cert.has_eku(EKU_CODE_SIGNING) {
        return Err(CmsError::NotCodeSigning {
            usage: cert.eku_names(),
            signer: cn,
        });
    }
    // webpki does not look at an end-entity's key usage; iPXE requires digitalSignature.
    if let Some(bits) = cert.key_usage
        && bits.get(1).is_none_or(|b| b & 0x80 == 0)
    {
        return Err(CmsError::NotCodeSigning {
            signer: cn,
            usage: String::from("key usage without digitalSignature"),
        });
    }

    // What was signed: the image, or the signed attributes that carry its digest.
    let attrs_der;
    let message: &[u8] = match &info.signed_attrs {
        None => content,
        Some(attrs) => {
            let wanted = signed_attrs_digest(attrs.value, parsed.content_type)?;
            if digest.compute(content) != wanted {
                return Err(CmsError::DigestMismatch);
            }
            let mut set = attrs.whole.to_vec();
            set[0] = TAG_SET;
            attrs_der = set;
            &attrs_der
        }
    };

    let (key, wanted) = signature_alg(info.sig_alg_oid, digest)?;
    let mut result = None;
    for alg in algs.iter().filter(|a| a.signature_alg_id() == wanted) {
        match ee.verify_signature(*alg, message, info.signature) {
            Ok(()) => {
                result = Some(Ok(()));
                break;
            }
            #[allow(deprecated)]
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKey)
            | Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => {}
            Err(_) => {
                result = Some(Err(()));
                break;
            }
        }
    }
    match result {
        Some(Ok(())) => Ok(Signer {
            common_name: cn,
            key,
            digest: digest.name(),
        }),
        // Without signed attributes the signature covers the image itself: a changed
        // image and a broken signature cannot be told apart.
        Some(Err(())) if info.signed_attrs.is_none() => Err(CmsError::DigestMismatch),
        Some(Err(())) => Err(CmsError::BadSignature { signer: cn }),
        None => Err(CmsError::Unsupported {
            what: "signature (for this certificate's key)",
            oid: dotted(info.sig_alg_oid),
        }),
    }
}

/// Maps webpki's chain error to ours, naming the certificates involved.
fn chain_error(
    e: webpki::Error,
    cert: &Cert<'_>,
    parsed: &SignedData<'_>,
    cn: String,
    roots: usize,
) -> CmsError {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => {
            // Follow the issuer names through the embedded certificates to the last one.
            let mut issuer = cert.issuer;
            for _ in 0..parsed.certs.len() {
                match parsed
                    .certs
                    .iter()
                    .find(|c| c.subject == issuer && c.issuer != c.subject)
                {
                    Some(next) => issuer = next.issuer,
                    None => break,
                }
            }
            CmsError::UnknownCa {
                signer: cn,
                issuer: common_name(issuer).unwrap_or_else(|| String::from("?")),
                roots,
            }
        }
        E::CertExpired { time, not_after } => CmsError::Expired {
            signer: cn,
            not_after: not_after.as_secs(),
            now: time.as_secs(),
        },
        E::CertNotValidYet { time, not_before } => CmsError::NotYetValid {
            signer: cn,
            not_before: not_before.as_secs(),
            now: time.as_secs(),
        },
        #[allow(deprecated)]
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => CmsError::NotCodeSigning {
            usage: cert.eku_names(),
            signer: cn,
        },
        other => CmsError::Certificate {
            signer: cn,
            why: alloc::format!("{other:?}"),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_oid(oid: &[u8]) -> Result<DigestAlg, CmsError> {
        match oid {
            OID_SHA256 => Ok(DigestAlg::Sha256),
            OID_SHA384 => Ok(DigestAlg::Sha384),
            OID_SHA512 => Ok(DigestAlg::Sha512),
            other => Err(CmsError::Unsupported {
                what: "digest",
                oid: dotted(other),
            }),
        }
    }

    fn name(self) -> &'static str {
        match self {
            DigestAlg::Sha256 => "SHA-256",
            DigestAlg::Sha384 => "SHA-384",
            DigestAlg::Sha512 => "SHA-512",
        }
    }

    fn compute(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// The key type and the webpki signature algorithm identifier for a CMS signature
/// algorithm (which for RSA is often plain `rsaEncryption`, the digest given apart).
fn signature_alg(
    oid: &[u8],
    digest: DigestAlg,
) -> Result<(&'static str, pki_types::AlgorithmIdentifier), CmsError> {
    use pki_types::alg_id as id;
    let by_digest = |rsa, ec| match (oid, digest) {
        (OID_RSA, DigestAlg::Sha256) if rsa => Some(("RSA", id::RSA_PKCS1_SHA256)),
        (OID_RSA, DigestAlg::Sha384) if rsa => Some(("RSA", id::RSA_PKCS1_SHA384)),
        (OID_RSA, DigestAlg::Sha512) if rsa => Some(("RSA", id::RSA_PKCS1_SHA512)),
        (_, DigestAlg::Sha256) if ec => Some(("ECDSA", id::ECDSA_SHA256)),
        (_, DigestAlg::Sha384) if ec => Some(("ECDSA", id::ECDSA_SHA384)),
        (_, DigestAlg::Sha512) if ec => Some(("ECDSA", id::ECDSA_SHA512)),
        _ => None,
    };
    let found = match oid {
        OID_RSA => by_digest(true, false),
        OID_EC_PUBLIC_KEY => by_digest(false, true),
        OID_RSA_SHA256 => Some(("RSA", id::RSA_PKCS1_SHA256)),
        OID_RSA_SHA384 => Some(("RSA", id::RSA_PKCS1_SHA384)),
        OID_RSA_SHA512 => Some(("RSA", id::RSA_PKCS1_SHA512)),
        OID_ECDSA_SHA256 => Some(("ECDSA", id::ECDSA_SHA256)),
        OID_ECDSA_SHA384 => Some(("ECDSA", id::ECDSA_SHA384)),
        OID_ECDSA_SHA512 => Some(("ECDSA", id::ECDSA_SHA512)),
        OID_ED25519 => Some(("Ed25519", id::ED25519)),
        _ => None,
    };
    found.ok_or_else(|| CmsError::Unsupported {
        what: "signature",
        oid: dotted(oid),
    })
}

/// The `messageDigest` of signed attributes, checking `contentType` too.
fn signed_attrs_digest<'a>(attrs: &'a [u8], content_type: &[u8]) -> Result<&'a [u8], CmsError> {
    const EL: &str = "signed attributes";
    let mut digest = None;
    let mut r = Reader::new(attrs);
    let mut count = 0;
    while !r.is_empty() {
        count += 1;
        if count > MAX_ITEMS {
            return Err(malformed(EL, "too many attributes"));
        }
        let attr = r.expect(TAG_SEQUENCE, EL)?;
        let mut a = Reader::new(attr.value);
        let ty = a.expect(TAG_OID, "signed attribute type")?.value;
        let values = a.expect(TAG_SET, "signed attribute values")?;
        let mut v = Reader::new(values.value);
        match ty {
            OID_ATTR_MESSAGE_DIGEST => {
                if digest.is_some() {
                    return Err(malformed(EL, "two messageDigest attributes"));
                }
                digest = Some(v.expect(TAG_OCTET_STRING, "messageDigest attribute")?.value);
            }
            OID_ATTR_CONTENT_TYPE => {
                let found = v.expect(TAG_OID, "contentType attribute")?.value;
                if found != content_type {
                    return Err(malformed(
                        "contentType attribute",
                        "differs from the encapsulated content type",
                    ));
                }
            }
            _ => {}
        }
    }
    digest.ok_or(malformed(EL, "no messageDigest attribute"))
}

// ---- the CMS structures -------------------------------------------------------------

/// How a signer names its certificate.
#[derive(Clone, Debug)]
enum SignerId<'a> {
    /// `IssuerAndSerialNumber`: the issuer Name (whole DER) and serial (INTEGER content).
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    /// `[0] SubjectKeyIdentifier`.
    KeyId(&'a [u8]),
}

impl SignerId<'_> {
    fn describe(&self) -> String {
        match self {
            SignerId::IssuerSerial { issuer, serial } => alloc::format!(
                "issuer \"{}\", serial {}",
                common_name(issuer).unwrap_or_default(),
                hex(serial)
            ),
            SignerId::KeyId(id) => alloc::format!("subject key id {}", hex(id)),
        }
    }
}

#[derive(Clone, Debug)]
struct SignerInfo<'a> {
    sid: SignerId<'a>,
    digest_oid: &'a [u8],
    signed_attrs: Option<Tlv<'a>>,
    sig_alg_oid: &'a [u8],
    signature: &'a [u8],
}

#[derive(Clone, Debug)]
struct SignedData<'a> {
    content_type: &'a [u8],
    certs: Vec<Cert<'a>>,
    signers: Vec<SignerInfo<'a>>,
}

impl<'a> SignedData<'a> {
    fn parse(der: &'a [u8]) -> Result<SignedData<'a>, CmsError> {
        let mut outer = Reader::new(der);
        let ci = outer.expect(TAG_SEQUENCE, "ContentInfo")?;
        if !outer.is_empty() {
            return Err(malformed("ContentInfo", "trailing data after it"));
        }
        let mut r = Reader::new(ci.value);
        let ty = r.expect(TAG_OID, "ContentInfo contentType")?.value;
        if ty != OID_SIGNED_DATA {
            return Err(CmsError::NotSignedData { oid: dotted(ty) });
        }
        let explicit = r.expect(TAG_CONTEXT_0, "ContentInfo content")?;
        let sd = Reader::new(explicit.value).expect(TAG_SEQUENCE, "SignedData")?;
        let mut r = Reader::new(sd.value);
        r.expect(TAG_INTEGER, "SignedData version")?;
        r.expect(TAG_SET, "SignedData digestAlgorithms")?;
        let encap = r.expect(TAG_SEQUENCE, "SignedData encapContentInfo")?;
        let content_type = Reader::new(encap.value)
            .expect(TAG_OID, "encapContentInfo eContentType")?
            .value;
        let mut certs = Vec::new();
        if let Some(set) = r.optional(TAG_CONTEXT_0, "SignedData certificates")? {
            let mut c = Reader::new(set.value);
            while !c.is_empty() {
                let item = c.any("certificate")?;
                // Other certificate formats (attribute certificates, …) are skipped.
                if item.tag == TAG_SEQUENCE {
                    if certs.len() >= MAX_ITEMS {
                        return Err(malformed("SignedData certificates", "too many"));
                    }
                    certs.push(Cert::parse(item.whole)?);
                }
            }
        }
        r.optional(TAG_CONTEXT_1, "SignedData crls")?;
        let infos = r.expect(TAG_SET, "SignedData signerInfos")?;
        let mut signers = Vec::new();
        let mut s = Reader::new(infos.value);
        while !s.is_empty() {
            if signers.len() >= MAX_ITEMS {
                return Err(malformed("SignedData signerInfos", "too many"));
            }
            signers.push(SignerInfo::parse(
                s.expect(TAG_SEQUENCE, "SignerInfo")?.value,
            )?);
        }
        if signers.is_empty() {
            return Err(CmsError::NoSigners);
        }
        Ok(SignedData {
            content_type,
            certs,
            signers,
        })
    }

    fn find_cert(&self, sid: &SignerId<'_>) -> Option<Cert<'a>> {
        self.certs
            .iter()
            .find(|c| match sid {
                SignerId::IssuerSerial { issuer, serial } => {
                    c.issuer == *issuer && c.serial == *serial
                }
                SignerId::KeyId(id) => c.subject_key_id == Some(*id),
            })
            .cloned()
    }
}

impl<'a> SignerInfo<'a> {
    fn parse(body: &'a [u8]) -> Result<SignerInfo<'a>, CmsError> {
        let mut r = Reader::new(body);
        r.expect(TAG_INTEGER, "SignerInfo version")?;
        let sid = match r.peek_tag() {
            Some(TAG_SEQUENCE) => {
                let ias = r.expect(TAG_SEQUENCE, "SignerInfo issuerAndSerialNumber")?;
                let mut i = Reader::new(ias.value);
                let issuer = i.expect(TAG_SEQUENCE, "SignerInfo issuer")?.whole;
                let serial = i.expect(TAG_INTEGER, "SignerInfo serialNumber")?.value;
                SignerId::IssuerSerial { issuer, serial }
            }
            Some(TAG_IMPLICIT_0) => SignerId::KeyId(
                r.expect(TAG_IMPLICIT_0, "SignerInfo subjectKeyIdentifier")?
                    .value,
            ),
            _ => {
                return Err(malformed(
                    "SignerInfo sid",
                    "neither issuer+serial nor key id",
                ));
            }
        };
        let digest_oid = alg_oid(&mut r, "SignerInfo digestAlgorithm")?;
        let signed_attrs = r.optional(TAG_CONTEXT_0, "SignerInfo signedAttrs")?;
        let sig_alg_oid = alg_oid(&mut r, "SignerInfo signatureAlgorithm")?;
        let signature = r.expect(TAG_OCTET_STRING, "SignerInfo signature")?.value;
        Ok(SignerInfo {
            sid,
            digest_oid,
            signed_attrs,
            sig_alg_oid,
            signature,
        })
    }
}

/// The parts of an X.509 certificate CMS needs (webpki checks the rest).
#[derive(Clone, Debug)]
struct Cert<'a> {
    der: &'a [u8],
    serial: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    subject_key_id: Option<&'a [u8]>,
    key_usage: Option<&'a [u8]>,
    ext_key_usage: Option<&'a [u8]>,
    subject_alt_name: Option<&'a [u8]>,
}

impl<'a> Cert<'a> {
    fn parse(der: &'a [u8]) -> Result<Cert<'a>, CmsError> {
        let cert = Reader::new(der).expect(TAG_SEQUENCE, "certificate")?;
        let tbs = Reader::new(cert.value).expect(TAG_SEQUENCE, "certificate tbsCertificate")?;
        let mut r = Reader::new(tbs.value);
        r.optional(TAG_CONTEXT_0, "certificate version")?;
        let serial = r.expect(TAG_INTEGER, "certificate serialNumber")?.value;
        r.expect(TAG_SEQUENCE, "certificate signature")?;
        let issuer = r.expect(TAG_SEQUENCE, "certificate issuer")?.whole;
        r.expect(TAG_SEQUENCE, "certificate validity")?;
        let subject = r.expect(TAG_SEQUENCE, "certificate subject")?.whole;
        r.expect(TAG_SEQUENCE, "certificate subjectPublicKeyInfo")?;
        r.optional(0x81, "certificate issuerUniqueID")?;
        r.optional(0x82, "certificate subjectUniqueID")?;
        let mut out = Cert {
            der,
            serial,
            issuer,
            subject,
            subject_key_id: None,
            key_usage: None,
            ext_key_usage: None,
            subject_alt_name: None,
        };
        if let Some(ext) = r.optional(TAG_CONTEXT_3, "certificate extensions")? {
            const EL: &str = "certificate extension";
            let list = Reader::new(ext.value).expect(TAG_SEQUENCE, "certificate extensions")?;
            let mut e = Reader::new(list.value);
            while !e.is_empty() {
                let x = e.expect(TAG_SEQUENCE, EL)?;
                let mut xr = Reader::new(x.value);
                let oid = xr.expect(TAG_OID, EL)?.value;
                xr.optional(TAG_BOOLEAN, EL)?;
                let value = xr.expect(TAG_OCTET_STRING, EL)?.value;
                let mut v = Reader::new(value);
                match oid {
                    OID_SUBJECT_KEY_ID => {
                        out.subject_key_id =
                            Some(v.expect(TAG_OCTET_STRING, "subjectKeyIdentifier")?.value);
                    }
                    OID_KEY_USAGE => {
                        out.key_usage = Some(v.expect(TAG_BIT_STRING, "keyUsage")?.value);
                    }
                    OID_SUBJECT_ALT_NAME => {
                        out.subject_alt_name =
                            Some(v.expect(TAG_SEQUENCE, "subjectAltName")?.value);
                    }
                    OID_EXT_KEY_USAGE => {
                        out.ext_key_usage = Some(v.expect(TAG_SEQUENCE, "extendedKeyUsage")?.value);
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Whether the subject alternative names include the DNS name `name` (iPXE matches
    /// `--signer` against the common name or these).
    fn has_dns_name(&self, name: &str) -> bool {
        let mut r = Reader::new(self.subject_alt_name.unwrap_or_default());
        while let Ok(general_name) = r.any("subjectAltName") {
            if general_name.tag == 0x82 && general_name.value.eq_ignore_ascii_case(name.as_bytes())
            {
                return true;
            }
        }
        false
    }

    /// Whether the extended key usage extension is present and lists `oid`.
    fn has_eku(&self, oid: &[u8]) -> bool {
        let Some(list) = self.ext_key_usage else {
            return false;
        };
        let mut r = Reader::new(list);
        while let Ok(id) = r.expect(TAG_OID, "extendedKeyUsage") {
            if id.value == oid {
                return true;
            }
        }
        false
    }

    /// The extended key usages by name (`serverAuth, clientAuth`).
    fn eku_names(&self) -> String {
        let Some(list) = self.ext_key_usage else {
            return String::from("no extended key usage");
        };
        let mut names = Vec::new();
        let mut r = Reader::new(list);
        while let Ok(oid) = r.expect(TAG_OID, "extendedKeyUsage") {
            let name = match oid.value {
                [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, n] => match n {
                    1 => "serverAuth",
                    2 => "clientAuth",
                    3 => "codeSigning",
                    4 => "emailProtection",
                    8 => "timeStamping",
                    9 => "OCSPSigning",
                    _ => "",
                },
                [0x55, 0x1d, 0x25, 0x00] => "anyExtendedKeyUsage",
                _ => "",
            };
            names.push(if name.is_empty() {
                dotted(oid.value)
            } else {
                name.to_string()
            });
        }
        alloc::format!("extendedKeyUsage {}", names.join(", "))
    }
}

/// The subject (or issuer) common name of a DER `Name`.
fn common_name(name: &[u8]) -> Option<String> {
    let seq = Reader::new(name).expect(TAG_SEQUENCE, "Name").ok()?;
    let mut rdns = Reader::new(seq.value);
    let mut found = None;
    while let Ok(rdn) = rdns.expect(TAG_SET, "Name") {
        let mut atvs = Reader::new(rdn.value);
        while let Ok(atv) = atvs.expect(TAG_SEQUENCE, "Name") {
            let mut a = Reader::new(atv.value);
            if a.expect(TAG_OID, "Name").ok()?.value == OID_COMMON_NAME {
                let value = a.any("Name").ok()?;
                found = Some(match value.tag {
                    // BMPString: UTF-16BE.
                    0x1e => char::decode_utf16(
                        value
                            .value
                            .chunks_exact(2)
                            .map(|p| u16::from_be_bytes([p[0], p[1]])),
                    )
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
                    _ => String::from_utf8_lossy(value.value).into_owned(),
                });
            }
        }
    }
    found
}

/// The OID of an `AlgorithmIdentifier`.
fn alg_oid<'a>(r: &mut Reader<'a>, element: &'static str) -> Result<&'a [u8], CmsError> {
    let seq = r.expect(TAG_SEQUENCE, element)?;
    Ok(Reader::new(seq.value).expect(TAG_OID, element)?.value)
}

// ---- DER ------------------------------------------------------------------------------

fn malformed(element: &'static str, why: &'static str) -> CmsError {
    CmsError::Malformed { element, why }
}

/// One DER element: its tag, its contents and the whole encoding.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    whole: &'a [u8],
}

/// Reads consecutive DER elements from a slice; every length is checked against what
/// is left.
#[derive(Clone, Copy, Debug)]
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { rest: data }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn any(&mut self, element: &'static str) -> Result<Tlv<'a>, CmsError> {
        let data = self.rest;
        let Some((&tag, after)) = data.split_first() else {
            return Err(malformed(element, "missing (truncated file?)"));
        };
        if tag & 0x1f == 0x1f {
            return Err(malformed(element, "multi-byte tags are not used by CMS"));
        }
        let Some((&first, mut after)) = after.split_first() else {
            return Err(malformed(element, "truncated length"));
        };
        let len = match first {
            0..=0x7f => usize::from(first),
            0x80 => {
                return Err(malformed(
                    element,
                    "indefinite length (BER, not DER); re-encode with `openssl cms -cmsout \
                     -outform DER`",
                ));
            }
            _ => {
                let n = usize::from(first & 0x7f);
                if n > 4 {
                    return Err(malformed(element, "length larger than 4 GiB"));
                }
                let Some((bytes, rest)) = after.split_at_checked(n) else {
                    return Err(malformed(element, "truncated length"));
                };
                after = rest;
                let len = bytes.iter().fold(0u64, |l, b| (l << 8) | u64::from(*b));
                usize::try_from(len).unwrap_or(usize::MAX)
            }
        };
        let Some((value, rest)) = after.split_at_checked(len) else {
            return Err(malformed(
                element,
                "its length runs past the end of the data (truncated file?)",
            ));
        };
        let whole = &data[..data.len() - rest.len()];
        self.rest = rest;
        Ok(Tlv { tag, value, whole })
    }

    fn expect(&mut self, tag: u8, element: &'static str) -> Result<Tlv<'a>, CmsError> {
        match self.peek_tag() {
            Some(t) if t != tag => Err(malformed(element, "unexpected element type")),
            _ => self.any(element),
        }
    }

    fn optional(&mut self, tag: u8, element: &'static str) -> Result<Option<Tlv<'a>>, CmsError> {
        if self.peek_tag() == Some(tag) {
            self.any(element).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Dotted text for DER OID content (`1.2.840.113549.1.7.2`).
fn dotted(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut arc: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        if arc > u64::MAX >> 7 {
            return alloc::format!("(invalid OID {})", hex(oid));
        }
        arc = (arc << 7) | u64::from(b & 0x7f);
        if b & 0x80 != 0 {
            if i + 1 == oid.len() {
                return alloc::format!("(invalid OID {})", hex(oid));
            }
            continue;
        }
        if out.is_empty() {
            let first = (arc / 40).min(2);
            out = alloc::format!("{first}.{}", arc - first * 40);
        } else {
            out = alloc::format!("{out}.{arc}");
        }
        arc = 0;
    }
    if out.is_empty() {
        String::from("(empty OID)")
    } else {
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::new();
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The DER inside a PEM-armoured signature (`-----BEGIN CMS-----` / `PKCS7`), or the
/// bytes as they are.
fn unarmour(data: &[u8]) -> Result<alloc::borrow::Cow<'_, [u8]>, CmsError> {
    const EL: &str = "PEM armour";
    let trimmed = data.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN ") {
        return Ok(alloc::borrow::Cow::Borrowed(data));
    }
    let body_start = trimmed
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(malformed(EL, "no line after -----BEGIN"))?;
    let body = &trimmed[body_start..];
    let end = body
        .windows(9)
        .position(|w| w == b"-----END ")
        .ok_or(malformed(EL, "no -----END line"))?;
    let mut out = Vec::with_capacity(end / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in &body[..end] {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return Err(malformed(EL, "invalid base64 character")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(alloc::borrow::Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::TrustStore;
    use core::time::Duration;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/cms/",
                $name
            ))
        };
    }

    const PAYLOAD: &[u8] = fixture!("payload.ipxe");
    /// 2030-01-01: inside every fixture's validity except the expired signer's.
    const NOW: u64 = 1_893_456_000;

    fn at(secs: u64) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
    }

    fn store(pems: &[&[u8]]) -> TrustStore {
        let mut s = TrustStore::empty();
        for pem in pems {
            s.add_pem(pem).expect("must succeed");
        }
        s
    }

    fn rsa_root() -> TrustStore {
        store(&[fixture!("root-rsa.pem")])
    }

    fn both_roots() -> TrustStore {
        store(&[fixture!("root-rsa.pem"), fixture!("root-ec.pem")])
    }

    fn verify(sig: &[u8], trust: &TrustStore) -> Result<Signer, CmsError> {
        verify_detached(PAYLOAD, sig, trust.anchors(), at(NOW))
    }

    #[test]
    fn rsa_without_attributes() {
        let s = verify(fixture!("rsa-noattr.sig"), &rsa_root()).expect("must succeed");
        assert_eq!(s.common_name, "netboot test signer");
        assert_eq!((s.key, s.digest), ("RSA", "SHA-256"));
    }

    #[test]
    fn rsa_with_attributes_sha512() {
        let s = verify(fixture!("rsa-attr.sig"), &rsa_root()).expect("must succeed");
        assert_eq!(s.common_name, "netboot test signer");
        assert_eq!(s.digest, "SHA-512");
    }

    #[test]
    fn rsa_by_subject_key_id_sha384() {
        let s = verify(fixture!("rsa-keyid.sig"), &rsa_root()).expect("must succeed");
        assert_eq!((s.key, s.digest), ("RSA", "SHA-384"));
    }

    #[test]
    fn pem_armoured_signature() {
        let s = verify(fixture!("rsa-attr.pem.sig"), &rsa_root()).expect("must succeed");
        assert_eq!(s.common_name, "netboot test signer");
    }

    #[test]
    fn ecdsa_with_and_without_attributes() {
        let trust = both_roots();
        let s = verify(fixture!("ec-noattr.sig"), &trust).expect("must succeed");
        assert_eq!(
            (s.common_name.as_str(), s.key),
            ("netboot ec signer", "ECDSA")
        );
        let s = verify(fixture!("ec-attr.sig"), &trust).expect("must succeed");
        assert_eq!(s.digest, "SHA-384");
    }

    #[test]
    fn tampered_image_is_rejected() {
        let mut bad = PAYLOAD.to_vec();
        bad[10] ^= 1;
        for sig in [
            &fixture!("rsa-noattr.sig")[..],
            fixture!("rsa-attr.sig"),
            fixture!("ec-noattr.sig"),
            fixture!("ec-attr.sig"),
        ] {
            let e = verify_detached(&bad, sig, both_roots().anchors(), at(NOW))
                .expect_err("must be rejected");
            assert_eq!(e, CmsError::DigestMismatch);
            assert!(
                e.to_string().contains("tampered or wrong signature file"),
                "{e}"
            );
        }
    }

    #[test]
    fn corrupted_signature_value_is_rejected() {
        // Flip a bit in the last byte: inside the signature OCTET STRING.
        let mut sig = fixture!("rsa-attr.sig").to_vec();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        let e = verify(&sig, &rsa_root()).expect_err("must be rejected");
        assert!(matches!(e, CmsError::BadSignature { .. }), "{e}");
    }

    #[test]
    fn server_certificate_is_not_for_code_signing() {
        let e = verify(fixture!("server.sig"), &rsa_root()).expect_err("must be rejected");
        let text = e.to_string();
        assert!(matches!(e, CmsError::NotCodeSigning { .. }), "{text}");
        assert!(text.contains("netboot web server"), "{text}");
        assert!(text.contains("serverAuth"), "{text}");
        assert!(text.contains("codeSigning"), "{text}");
    }

    #[test]
    fn unknown_ca() {
        let e = verify(
            fixture!("rsa-noattr.sig"),
            &store(&[fixture!("root-ec.pem")]),
        )
        .expect_err("must be rejected");
        let text = e.to_string();
        assert!(matches!(e, CmsError::UnknownCa { roots: 1, .. }), "{text}");
        assert!(text.contains("netboot test root"), "{text}");
        let e =
            verify(fixture!("rsa-noattr.sig"), &TrustStore::empty()).expect_err("must be rejected");
        assert!(matches!(e, CmsError::UnknownCa { roots: 0, .. }), "{e}");
    }

    #[test]
    fn missing_intermediate_is_an_unknown_ca() {
        let e = verify(fixture!("no-inter.sig"), &rsa_root()).expect_err("must be rejected");
        assert!(matches!(e, CmsError::UnknownCa { .. }), "{e}");
        assert!(e.to_string().contains("netboot test intermediate"), "{e}");
    }

    #[test]
    fn expired_signer_at_a_fixed_time() {
        let e = verify(fixture!("expired.sig"), &rsa_root()).expect_err("must be rejected");
        let text = e.to_string();
        assert_eq!(
            e,
            CmsError::Expired {
                signer: "netboot expired signer".into(),
                not_after: 1_767_225_600,
                now: NOW,
            }
        );
        assert!(
            text.contains("expired at 2026-01-01 00:00:00 UTC"),
            "{text}"
        );
        assert!(text.contains("2030-01-01 00:00:00 UTC"), "{text}");
        // Before it expired it was fine.
        let ok = verify_detached(
            PAYLOAD,
            fixture!("expired.sig"),
            rsa_root().anchors(),
            at(1_750_000_000),
        );
        assert_eq!(
            ok.expect("must succeed").common_name,
            "netboot expired signer"
        );
    }

    #[test]
    fn not_yet_valid_and_no_clock() {
        let sig = fixture!("rsa-noattr.sig");
        let e = verify_detached(PAYLOAD, sig, rsa_root().anchors(), at(1_600_000_000));
        assert!(matches!(e, Err(CmsError::NotYetValid { .. })), "{e:?}");
        let e = verify_detached(PAYLOAD, sig, rsa_root().anchors(), None)
            .expect_err("must be rejected");
        assert_eq!(e, CmsError::NoClock);
    }

    #[test]
    fn signer_name_must_match() {
        let sig = fixture!("rsa-noattr.sig");
        let trust = rsa_root();
        let ok = verify_detached_signer(
            PAYLOAD,
            sig,
            trust.anchors(),
            at(NOW),
            Some("netboot test signer"),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let e = verify_detached_signer(PAYLOAD, sig, trust.anchors(), at(NOW), Some("someone"))
            .expect_err("must be rejected");
        assert!(e.to_string().contains("netboot test signer"), "{e}");
        assert!(matches!(e, CmsError::WrongSigner { .. }));
        // A DNS subject alternative name selects a signer too (this one then fails for its
        // key usage, not for its name).
        let e = verify_detached_signer(
            PAYLOAD,
            fixture!("server.sig"),
            trust.anchors(),
            at(NOW),
            Some("boot.example.com"),
        )
        .expect_err("not for code signing");
        assert!(matches!(e, CmsError::NotCodeSigning { .. }), "{e}");
    }

    #[test]
    fn inspect_lists_signers_and_certificates() {
        let info = inspect(fixture!("rsa-noattr.sig")).expect("must succeed");
        assert_eq!(info.certificates, 2);
        assert_eq!(info.signers, [Some(String::from("netboot test signer"))]);
    }

    #[test]
    fn malformed_input_is_explained_not_a_panic() {
        let sig = fixture!("rsa-attr.sig");
        // Every truncation fails cleanly.
        for len in 0..sig.len() {
            let e = inspect(&sig[..len]).expect_err("must be rejected");
            assert!(matches!(e, CmsError::Malformed { .. }), "{len}: {e}");
        }
        let e = inspect(b"\x30\x80\x06\x09").expect_err("must be rejected");
        assert!(e.to_string().contains("indefinite length"), "{e}");
        let e = inspect(b"hello").expect_err("must be rejected");
        assert!(e.to_string().contains("malformed signature"), "{e}");
        // A certificate file is not a signature.
        let e = inspect(fixture!("root-rsa.pem")).expect_err("must be rejected");
        assert!(matches!(e, CmsError::Malformed { .. }), "{e}");
        // Every single-byte corruption is handled (accepted only if still valid).
        let trust = rsa_root();
        for i in (0..sig.len()).step_by(7) {
            let mut bad = sig.to_vec();
            bad[i] ^= 0x5a;
            let _ = verify_detached(PAYLOAD, &bad, trust.anchors(), at(NOW));
        }
    }

    #[test]
    fn oids_in_messages() {
        assert_eq!(dotted(OID_SIGNED_DATA), "1.2.840.113549.1.7.2");
        assert_eq!(dotted(EKU_CODE_SIGNING), "1.3.6.1.5.5.7.3.3");
        assert_eq!(dotted(OID_ED25519), "1.3.101.112");
        assert!(dotted(&[0x81]).contains("invalid"));
        let e = DigestAlg::from_oid(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]).expect_err("must be rejected");
        assert!(e.to_string().contains("1.3.14.3.2.26"), "{e}");
    }
}
