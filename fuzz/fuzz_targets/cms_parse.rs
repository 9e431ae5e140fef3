//! `netboot-core` CMS signatures (`tls::cms`): the DER/PEM reader and `SignedData` parser
//! on arbitrary bytes, then a full verification against a fixed trust anchor and time.
//! Must never panic; every error must format.
#![no_main]

use core::time::Duration;
use libfuzzer_sys::fuzz_target;
use netboot_core::tls::TrustStore;
use netboot_core::tls::cms::{self, UnixTime};

const ROOT: &[u8] = include_bytes!("../../crates/netboot-core/tests/fixtures/cms/root-rsa.pem");
const PAYLOAD: &[u8] = include_bytes!("../../crates/netboot-core/tests/fixtures/cms/payload.ipxe");

fuzz_target!(|data: &[u8]| {
    match cms::inspect(data) {
        Ok(info) => assert!(info.signers.len() <= cms::MAX_ITEMS),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let mut trust = TrustStore::empty();
    trust.add_pem(ROOT).expect("the fixture root");
    // 2030-01-01, inside the fixtures' validity.
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_893_456_000));
    match cms::verify_detached_signer(PAYLOAD, data, trust.anchors(), Some(now), None) {
        Ok(signer) => assert!(signer.common_name.len() <= data.len()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
