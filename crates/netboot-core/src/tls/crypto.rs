//! netboot's rustls crypto provider: the client-side subset of `rustls-rustcrypto`.
//!
//! `rustls_rustcrypto::provider()` is a server's provider too: its key provider parses
//! PKCS#8/SEC1/PKCS#1 private keys and signs with RSA, ECDSA and Ed25519, it offers P-384
//! key exchange and Ed25519 certificates. A client that never authenticates itself needs
//! none of that, and a `CryptoProvider` holds its pieces as trait objects, so everything
//! it names ends up in the firmware. This one takes `rustls-rustcrypto`'s cipher suites
//! (TLS 1.3 and 1.2, AES-128/256-GCM and ChaCha20-Poly1305) and random source, and has
//! its own small key exchanges (X25519, P-256) and signature verifiers (RSA PKCS#1 v1.5
//! and PSS with SHA-256/384/512, ECDSA P-256 and P-384 with SHA-256/384) over the same
//! RustCrypto primitives. Measured: netboot.efi 1,108,992 -> 1,005,568 bytes (the key
//! provider alone was 86 KB, Ed25519 verification 9 KB, P-384 key exchange 2 KB).

use alloc::boxed::Box;
use alloc::sync::Arc;
use pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm, alg_id,
};
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, KeyProvider, SharedSecret, SupportedKxGroup,
    WebPkiSupportedAlgorithms,
};
use rustls::{NamedGroup, SignatureScheme};

/// The client's provider (cipher suites in `rustls-rustcrypto`'s order).
pub fn client_provider() -> CryptoProvider {
    use rustls_rustcrypto as rc;
    CryptoProvider {
        cipher_suites: alloc::vec![
            rc::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            rc::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            rc::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            rc::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            rc::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            rc::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            rc::TLS13_AES_128_GCM_SHA256,
            rc::TLS13_AES_256_GCM_SHA384,
            rc::TLS13_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: alloc::vec![&X25519 as &dyn SupportedKxGroup, &SECP256R1],
        signature_verification_algorithms: VERIFY_ALGORITHMS,
        secure_random: &rc::Provider,
        key_provider: &NoKeys,
    }
}

/// A client without client certificates loads no private keys.
#[derive(Debug)]
struct NoKeys;

impl KeyProvider for NoKeys {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "netboot's TLS client has no private keys".into(),
        ))
    }
}

// ---- key exchange ----

#[derive(Debug)]
struct X25519;

struct X25519Exchange {
    secret: x25519_dalek::EphemeralSecret,
    public: x25519_dalek::PublicKey,
}

impl SupportedKxGroup for X25519 {
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = x25519_dalek::EphemeralSecret::random_from_rng(rand_core::OsRng);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

#[derive(Debug)]
struct Secp256r1;
static SECP256R1: Secp256r1 = Secp256r1;

struct Secp256r1Exchange {
    secret: p256::ecdh::EphemeralSecret,
    public: Box<[u8]>,
}

impl SupportedKxGroup for Secp256r1 {
    fn name(&self) -> NamedGroup {
        NamedGroup::secp256r1
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = p256::ecdh::EphemeralSecret::random(&mut rand_core::OsRng);
        let public = p256::PublicKey::from(&secret).to_sec1_bytes();
        Ok(Box::new(Secp256r1Exchange { secret, public }))
    }
}

impl ActiveKeyExchange for Secp256r1Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer = p256::PublicKey::from_sec1_bytes(peer)
            .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self.secret.diffie_hellman(&peer);
        Ok(SharedSecret::from(shared.raw_secret_bytes().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp256r1
    }
}

// ---- signature verification ----

/// The certificate and handshake signatures netboot accepts.
pub static VERIFY_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        ECDSA_P256_SHA256,
        ECDSA_P256_SHA384,
        ECDSA_P384_SHA256,
        ECDSA_P384_SHA384,
        RSA_PKCS1_SHA256,
        RSA_PKCS1_SHA384,
        RSA_PKCS1_SHA512,
        RSA_PSS_SHA256,
        RSA_PSS_SHA384,
        RSA_PSS_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[ECDSA_P384_SHA384, ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[ECDSA_P256_SHA256, ECDSA_P384_SHA256],
        ),
        (SignatureScheme::RSA_PKCS1_SHA256, &[RSA_PKCS1_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[RSA_PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[RSA_PKCS1_SHA512]),
        (SignatureScheme::RSA_PSS_SHA256, &[RSA_PSS_SHA256]),
        (SignatureScheme::RSA_PSS_SHA384, &[RSA_PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA512, &[RSA_PSS_SHA512]),
    ],
};

/// Which curve an ECDSA verifier is for.
#[derive(Debug, Clone, Copy)]
enum Curve {
    P256,
    P384,
}

/// Which hash a verifier uses.
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// ECDSA over `curve` with `hash`.
#[derive(Debug)]
struct Ecdsa {
    curve: Curve,
    hash: Hash,
}

const ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha256,
};
const ECDSA_P256_SHA384: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha384,
};
const ECDSA_P384_SHA256: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha256,
};
const ECDSA_P384_SHA384: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha384,
};

fn digest(hash: Hash, message: &[u8]) -> ([u8; 64], usize) {
    use sha2::Digest as _;
    let mut out = [0u8; 64];
    let n = match hash {
        Hash::Sha256 => {
            out[..32].copy_from_slice(&sha2::Sha256::digest(message));
            32
        }
        Hash::Sha384 => {
            out[..48].copy_from_slice(&sha2::Sha384::digest(message));
            48
        }
        Hash::Sha512 => {
            out.copy_from_slice(&sha2::Sha512::digest(message));
            64
        }
    };
    (out, n)
}

impl SignatureVerificationAlgorithm for Ecdsa {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        match self.curve {
            Curve::P256 => alg_id::ECDSA_P256,
            Curve::P384 => alg_id::ECDSA_P384,
        }
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match self.hash {
            Hash::Sha256 => alg_id::ECDSA_SHA256,
            Hash::Sha384 => alg_id::ECDSA_SHA384,
            Hash::Sha512 => alg_id::ECDSA_SHA512,
        }
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let (digest, n) = digest(self.hash, message);
        let digest = &digest[..n];
        let ok = match self.curve {
            Curve::P256 => {
                let sig = p256::ecdsa::Signature::from_der(signature);
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key);
                matches!((key, sig), (Ok(k), Ok(s)) if k.verify_prehash(digest, &s).is_ok())
            }
            Curve::P384 => {
                let sig = p384::ecdsa::Signature::from_der(signature);
                let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key);
                matches!((key, sig), (Ok(k), Ok(s)) if k.verify_prehash(digest, &s).is_ok())
            }
        };
        ok.then_some(()).ok_or(InvalidSignature)
    }
}

/// RSA with PKCS#1 v1.5 or PSS padding and `hash`.
#[derive(Debug)]
struct Rsa {
    pss: bool,
    hash: Hash,
}

const RSA_PKCS1_SHA256: &dyn SignatureVerificationAlgorithm = &Rsa {
    pss: false,
    hash: Hash::Sha256,
};
const RSA_PKCS1_SHA384: &dyn SignatureVerificationAlgorithm = &Rsa {
    pss: false,
    hash: Hash::Sha384,
};
const RSA_PKCS1_SHA512: &dyn SignatureVerificationAlgorithm = &Rsa {
    pss: false,
    hash: Hash::Sha512,
};
const RSA_PSS_SHA256: &dyn SignatureVerificationAlgorithm = &Rsa {
    pss: true,
    hash: Hash::Sha256,
};
const RSA_PSS_SHA384: &dyn SignatureVerificationAlgorithm = &Rsa {
    pss: true,
    hash: Hash::Sha384,
};
const RSA_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &Rsa {
    pss: true,
    hash: Hash::Sha512,
};

impl SignatureVerificationAlgorithm for Rsa {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match (self.pss, self.hash) {
            (false, Hash::Sha256) => alg_id::RSA_PKCS1_SHA256,
            (false, Hash::Sha384) => alg_id::RSA_PKCS1_SHA384,
            (false, Hash::Sha512) => alg_id::RSA_PKCS1_SHA512,
            (true, Hash::Sha256) => alg_id::RSA_PSS_SHA256,
            (true, Hash::Sha384) => alg_id::RSA_PSS_SHA384,
            (true, Hash::Sha512) => alg_id::RSA_PSS_SHA512,
        }
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::{Pkcs1v15Sign, Pss};
        let key = rsa::RsaPublicKey::from_pkcs1_der(public_key).map_err(|_| InvalidSignature)?;
        let (digest, n) = digest(self.hash, message);
        let digest = &digest[..n];
        let result = match (self.pss, self.hash) {
            (false, Hash::Sha256) => {
                key.verify(Pkcs1v15Sign::new::<sha2::Sha256>(), digest, signature)
            }
            (false, Hash::Sha384) => {
                key.verify(Pkcs1v15Sign::new::<sha2::Sha384>(), digest, signature)
            }
            (false, Hash::Sha512) => {
                key.verify(Pkcs1v15Sign::new::<sha2::Sha512>(), digest, signature)
            }
            (true, Hash::Sha256) => key.verify(Pss::new::<sha2::Sha256>(), digest, signature),
            (true, Hash::Sha384) => key.verify(Pss::new::<sha2::Sha384>(), digest, signature),
            (true, Hash::Sha512) => key.verify(Pss::new::<sha2::Sha512>(), digest, signature),
        };
        result.map_err(|_| InvalidSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Every scheme maps to verifiers with the same algorithm identifiers as
    /// rustls-rustcrypto's (which the TLS tests' server uses), and nothing else is offered.
    #[test]
    fn verifiers_match_rustcrypto_for_the_schemes_kept() {
        let theirs = rustls_rustcrypto::provider().signature_verification_algorithms;
        let ids =
            |a: &&dyn SignatureVerificationAlgorithm| (a.public_key_alg_id(), a.signature_alg_id());
        for (scheme, ours) in VERIFY_ALGORITHMS.mapping {
            let (_, expected) = theirs
                .mapping
                .iter()
                .find(|(s, _)| s == scheme)
                .expect("scheme in rustls-rustcrypto");
            let ours: Vec<_> = ours.iter().map(ids).collect();
            let expected: Vec<_> = expected.iter().map(ids).collect();
            assert_eq!(ours, expected, "{scheme:?}");
        }
        let schemes: Vec<_> = VERIFY_ALGORITHMS.mapping.iter().map(|(s, _)| *s).collect();
        let expected: Vec<_> = theirs
            .mapping
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s != SignatureScheme::ED25519)
            .collect();
        assert_eq!(schemes, expected);
        assert_eq!(VERIFY_ALGORITHMS.all.len(), theirs.all.len() - 1);
        assert!(
            client_provider()
                .key_provider
                .load_private_key(PrivateKeyDer::Pkcs8(alloc::vec![0u8; 4].into()))
                .is_err()
        );
    }

    /// RSA signatures made by the `rsa` crate (PKCS#1 v1.5 and PSS with SHA-256/384/512)
    /// verify; another message, a changed signature or the other padding do not.
    #[test]
    fn rsa_verifiers_accept_good_and_reject_bad_signatures() {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        use rsa::{Pkcs1v15Sign, Pss};
        use sha2::{Digest as _, Sha256, Sha384, Sha512};
        let key = rsa::RsaPrivateKey::from_pkcs8_der(include_bytes!(
            "../../tests/fixtures/tls/rsa-leaf.key.der"
        ))
        .expect("fixture key");
        let public = key.to_public_key().to_pkcs1_der().expect("public key");
        let public = public.as_bytes();
        let msg = b"netboot";
        let mut rng = rand_core::OsRng;
        let sign = |padding: Pkcs1v15Sign, digest: &[u8]| key.sign(padding, digest).expect("sign");
        let mut sign_pss = |padding: Pss, digest: &[u8]| {
            key.sign_with_rng(&mut rng, padding, digest).expect("sign")
        };
        let pkcs1 = [
            (
                RSA_PKCS1_SHA256,
                sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg)),
            ),
            (
                RSA_PKCS1_SHA384,
                sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg)),
            ),
            (
                RSA_PKCS1_SHA512,
                sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg)),
            ),
        ];
        let pss = [
            (
                RSA_PSS_SHA256,
                sign_pss(Pss::new::<Sha256>(), &Sha256::digest(msg)),
            ),
            (
                RSA_PSS_SHA384,
                sign_pss(Pss::new::<Sha384>(), &Sha384::digest(msg)),
            ),
            (
                RSA_PSS_SHA512,
                sign_pss(Pss::new::<Sha512>(), &Sha512::digest(msg)),
            ),
        ];
        for (i, (alg, sig)) in pkcs1.iter().chain(&pss).enumerate() {
            assert!(alg.verify_signature(public, msg, sig).is_ok(), "{alg:?}");
            assert!(
                alg.verify_signature(public, b"netbooT", sig).is_err(),
                "{alg:?}"
            );
            for at in [0, sig.len() / 2, sig.len() - 1] {
                let mut bad = sig.clone();
                bad[at] ^= 1;
                assert!(
                    alg.verify_signature(public, msg, &bad).is_err(),
                    "{alg:?} {at}"
                );
            }
            assert!(
                alg.verify_signature(public, msg, &sig[1..]).is_err(),
                "{alg:?}"
            );
            // The same hash with the other padding, and the other hashes, fail.
            let others = pkcs1
                .iter()
                .chain(&pss)
                .enumerate()
                .filter(|(j, _)| *j != i);
            for (_, (other, _)) in others {
                assert!(
                    other.verify_signature(public, msg, sig).is_err(),
                    "{alg:?} {other:?}"
                );
            }
        }
        assert!(
            RSA_PSS_SHA256
                .verify_signature(&public[..public.len() - 1], msg, &pss[0].1)
                .is_err()
        );
    }
}
