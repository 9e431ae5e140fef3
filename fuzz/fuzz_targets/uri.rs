//! `uri`: parse, accessors, resolution of a reference against a base, and
//! display → parse round trips (a URI netboot prints must read back the same).
//!
//! Input: `base\nreference` (the reference is optional).
#![no_main]

use core::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netboot_core::uri::{Uri, percent_decode, percent_encode_path, pxe_uri, resolve};

fn exercise(uri: &Uri) {
    let _ = (
        uri.scheme_kind(),
        uri.is_fetchable(),
        uri.opaque(),
        uri.user(),
        uri.password(),
        uri.host_ipv4(),
        uri.port_or_default(),
        uri.decoded_path(),
        uri.query(),
        uri.fragment(),
        uri.params(),
        uri.redacted(),
    );
    if uri.has_authority() {
        let _ = uri.request_target();
    }
    let shown = uri.to_string();
    let again = Uri::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not parse back: {e}"));
    assert_eq!(
        again.to_string(),
        shown,
        "display → parse → display changed the URI"
    );
    assert_eq!(
        (again.has_authority(), again.path()),
        (uri.has_authority(), uri.path()),
        "{shown:?} reads back with another authority or path"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let (base, reference) = text.split_once('\n').unwrap_or((text, ""));
    let _ = percent_decode(base);
    let _ = percent_encode_path(base);
    let _ = pxe_uri(Ipv4Addr::new(10, 0, 0, 1), 69, base);
    let Ok(base) = Uri::parse(base) else {
        return;
    };
    exercise(&base);
    if let Ok(resolved) = resolve(&base, reference) {
        exercise(&resolved);
    }
    let _ = base.resolve(reference);
});
