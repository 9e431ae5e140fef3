//! Certificates from untrusted bytes: `TrustStore::add_der` and `add_pem` (trust anchors
//! from `--trust`/`NETBOOT_TRUST` files) and webpki's `EndEntityCert::try_from` (a CMS
//! signer's certificate). Must never panic; `add_pem` adds exactly the count it reports,
//! and nothing on an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::tls::TrustStore;

fuzz_target!(|data: &[u8]| {
    let mut store = TrustStore::empty();
    let der_ok = store.add_der(data).is_ok();
    assert_eq!(store.len(), usize::from(der_ok));
    match store.add_pem(data) {
        Ok(n) => assert_eq!(store.len(), usize::from(der_ok) + n),
        Err(e) => {
            let _ = e.to_string();
            assert_eq!(store.len(), usize::from(der_ok));
        }
    }
    let _ = store.describe();
    let cert = pki_types::CertificateDer::from(data);
    let _ = webpki::EndEntityCert::try_from(&cert);
});
