//! `tls::TlsClient` after its ClientHello, fed arbitrary "server" bytes in arbitrary
//! pieces: it must answer with an error or keep waiting — never panic, never loop, never
//! hand out plaintext before a handshake that could not have succeeded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::tls::{TlsClient, TlsSetup, TrustStore, WallClock};
use netboot_fuzz::split_points;
use std::sync::OnceLock;

/// A trust store with one root (the unit tests' fixture CA).
fn setup() -> &'static TlsSetup {
    static SETUP: OnceLock<TlsSetup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut trust = TrustStore::empty();
        trust
            .add_pem(include_bytes!(
                "../../crates/netboot-core/tests/fixtures/tls/ca.pem"
            ))
            .expect("fixture CA");
        TlsSetup::new(&trust)
    })
}

fuzz_target!(|data: &[u8]| {
    let clock = Some(WallClock {
        unix_secs: 1_893_456_000,
        source: "fuzz clock",
    });
    let Ok(mut client) = TlsClient::new(setup(), "boot.test", clock) else {
        return;
    };
    if client.process().is_err() {
        return;
    }
    client.write(b"GET / HTTP/1.1\r\n\r\n");
    let (pieces, _) = split_points(data);
    for mut piece in pieces {
        while !piece.is_empty() {
            let n = client.feed(piece);
            piece = &piece[n..];
            if client.process().is_err() {
                return;
            }
            if n == 0 {
                break;
            }
        }
        let sent = client.outgoing().len();
        client.sent(sent);
        // Random bytes cannot complete a handshake that validates a certificate chain.
        assert!(client.plaintext().is_empty());
        assert!(client.is_handshaking());
    }
});
