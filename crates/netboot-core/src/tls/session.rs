//! One TLS client connection as a sans-IO state machine over rustls's unbuffered API.

use super::{FixedTime, TlsError, TlsSetup, WallClock};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use pki_types::{ServerName, UnixTime};
use rustls::client::UnbufferedClientConnection;
use rustls::unbuffered::{
    AppDataRecord, ConnectionState, EncodeError, EncryptError, InsufficientSizeError,
    UnbufferedStatus,
};
use rustls::{ClientConfig, version};

/// Incoming ciphertext buffer: one maximal TLS 1.2 record (16 KiB + 2 KiB expansion +
/// header) fits; it grows, up to [`MAX_INCOMING`], for handshake messages spanning
/// records (long certificate chains).
const INCOMING: usize = 18 * 1024 + 5;
/// The largest the incoming buffer may grow.
const MAX_INCOMING: usize = 256 * 1024;

/// A TLS client connection: feed it the server's bytes, send what it produces, read the
/// decrypted data.
///
/// ```text
/// loop {
///     n = tcp.recv_into(client.recv_space()); client.received(n);
///     client.process()?;                  // decrypts, advances the handshake
///     tcp.send(client.outgoing()); client.sent(m);
///     app.consume(client.plaintext()); client.consume(k);
/// }
/// ```
pub struct TlsClient {
    conn: UnbufferedClientConnection,
    incoming: Vec<u8>,
    incoming_len: usize,
    outgoing: Vec<u8>,
    plain_in: Vec<u8>,
    plain_in_start: usize,
    plain_out: Vec<u8>,
    handshaking: bool,
    peer_closed: bool,
    clock: Option<WallClock>,
    roots: String,
}

impl core::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsClient")
            .field("handshaking", &self.handshaking)
            .field("peer_closed", &self.peer_closed)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Starts a connection to `host` (sent as SNI unless it is an address, and checked
    /// against the certificate), validating certificates at the time `clock` gives.
    pub fn new(
        setup: &TlsSetup,
        host: &str,
        clock: Option<WallClock>,
    ) -> Result<TlsClient, TlsError> {
        let verifier = setup.verifier.clone().ok_or(TlsError::NoTrustedRoots)?;
        let time = Arc::new(FixedTime(clock.map(|c| {
            UnixTime::since_unix_epoch(core::time::Duration::from_secs(c.unix_secs))
        })));
        let config = ClientConfig::builder_with_details(setup.provider.clone(), time)
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(|e| TlsError::Protocol(alloc::format!("{e}")))?
            .with_webpki_verifier(verifier)
            .with_no_client_auth();
        let name = ServerName::try_from(host)
            .map_err(|_| TlsError::Protocol(alloc::format!("{host:?} is not a valid server name")))?
            .to_owned();
        let conn = UnbufferedClientConnection::new(Arc::new(config), name)
            .map_err(|e| TlsError::from_rustls(e, clock, &setup.roots))?;
        Ok(TlsClient {
            conn,
            incoming: vec![0; INCOMING],
            incoming_len: 0,
            outgoing: Vec::new(),
            plain_in: Vec::new(),
            plain_in_start: 0,
            plain_out: Vec::new(),
            handshaking: true,
            peer_closed: false,
            clock,
            roots: setup.roots.clone(),
        })
    }

    /// Free space for ciphertext from the server; call [`Self::received`] with how much
    /// was written. Empty when the buffer is full (then [`Self::process`] first).
    pub fn recv_space(&mut self) -> &mut [u8] {
        &mut self.incoming[self.incoming_len..]
    }

    /// `n` bytes were written into [`Self::recv_space`].
    pub fn received(&mut self, n: usize) {
        self.incoming_len = (self.incoming_len + n).min(self.incoming.len());
    }

    /// Copies as much of `data` as fits into the incoming buffer; returns how much.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let space = self.recv_space();
        let n = space.len().min(data.len());
        space[..n].copy_from_slice(&data[..n]);
        self.received(n);
        n
    }

    /// Queues application data to send (encrypted once the handshake allows).
    pub fn write(&mut self, data: &[u8]) {
        self.plain_out.extend_from_slice(data);
    }

    /// Ciphertext to send to the server.
    pub fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    /// `n` bytes of [`Self::outgoing`] were sent.
    pub fn sent(&mut self, n: usize) {
        self.outgoing.drain(..n.min(self.outgoing.len()));
    }

    /// Decrypted data from the server, not yet consumed.
    pub fn plaintext(&self) -> &[u8] {
        &self.plain_in[self.plain_in_start..]
    }

    /// `n` bytes of [`Self::plaintext`] were used.
    pub fn consume(&mut self, n: usize) {
        self.plain_in_start = (self.plain_in_start + n).min(self.plain_in.len());
        if self.plain_in_start == self.plain_in.len() {
            self.plain_in.clear();
            self.plain_in_start = 0;
        }
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.handshaking
    }

    /// Whether the server closed its side cleanly (`close_notify`).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// `TLS 1.3 TLS13_CHACHA20_POLY1305_SHA256`, once negotiated.
    pub fn describe(&self) -> String {
        let version = match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
            _ => "TLS",
        };
        match self.conn.negotiated_cipher_suite() {
            Some(suite) => alloc::format!("{version} {:?}", suite.suite()),
            None => String::from(version),
        }
    }

    fn error(&self, e: rustls::Error) -> TlsError {
        TlsError::from_rustls(e, self.clock, &self.roots)
    }

    /// Advances the connection as far as the buffered input allows: handshake messages
    /// are answered into [`Self::outgoing`], application data is decrypted into
    /// [`Self::plaintext`], queued writes are encrypted once the handshake is done.
    pub fn process(&mut self) -> Result<(), TlsError> {
        loop {
            let UnbufferedStatus { mut discard, state } = self
                .conn
                .process_tls_records(&mut self.incoming[..self.incoming_len]);
            let state = match state {
                Ok(state) => state,
                Err(e) => return Err(self.error(e)),
            };
            let mut stop = false;
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let AppDataRecord {
                            discard: more,
                            payload,
                        } = record
                            .map_err(|e| TlsError::from_rustls(e, self.clock, &self.roots))?;
                        discard += more;
                        self.plain_in.extend_from_slice(payload);
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    let mut want = 4096;
                    loop {
                        let start = self.outgoing.len();
                        self.outgoing.resize(start + want, 0);
                        match encode.encode(&mut self.outgoing[start..]) {
                            Ok(n) => {
                                self.outgoing.truncate(start + n);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(InsufficientSizeError {
                                required_size,
                            })) if want < required_size => {
                                self.outgoing.truncate(start);
                                want = required_size;
                            }
                            Err(e) => {
                                self.outgoing.truncate(start);
                                return Err(TlsError::Protocol(alloc::format!("{e}")));
                            }
                        }
                    }
                }
                ConnectionState::TransmitTlsData(mut transmit) => {
                    // The bytes are in `outgoing`; the caller sends them. Early data may
                    // ride along when the handshake allows it.
                    if let Some(mut traffic) = transmit.may_encrypt_app_data() {
                        encrypt_into(&mut traffic, &mut self.plain_out, &mut self.outgoing)?;
                    }
                    transmit.done();
                }
                ConnectionState::BlockedHandshake => {
                    stop = true;
                }
                ConnectionState::WriteTraffic(mut traffic) => {
                    self.handshaking = false;
                    encrypt_into(&mut traffic, &mut self.plain_out, &mut self.outgoing)?;
                    stop = true;
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.peer_closed = true;
                    stop = true;
                }
                _ => stop = true,
            }
            if discard > 0 {
                self.incoming.copy_within(discard..self.incoming_len, 0);
                self.incoming_len -= discard;
            } else if stop && self.incoming_len == self.incoming.len() {
                // Blocked with a full buffer: a handshake message spans records.
                if self.incoming.len() >= MAX_INCOMING {
                    return Err(TlsError::RecordTooLarge);
                }
                let grown = (self.incoming.len() * 2).min(MAX_INCOMING);
                self.incoming.resize(grown, 0);
            }
            if stop {
                return Ok(());
            }
        }
    }

    /// Queues a `close_notify` alert (after the handshake), so the server sees a clean
    /// end rather than a reset.
    pub fn close(&mut self) {
        let _ = self.error_free_close();
    }

    fn error_free_close(&mut self) -> Result<(), TlsError> {
        let UnbufferedStatus { state, .. } = self
            .conn
            .process_tls_records(&mut self.incoming[..self.incoming_len]);
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) = state {
            let start = self.outgoing.len();
            self.outgoing.resize(start + 64, 0);
            match traffic.queue_close_notify(&mut self.outgoing[start..]) {
                Ok(n) => self.outgoing.truncate(start + n),
                Err(_) => self.outgoing.truncate(start),
            }
        }
        Ok(())
    }
}

/// Encrypts all of `plain` into `out`, growing it as needed.
fn encrypt_into<D>(
    traffic: &mut rustls::unbuffered::WriteTraffic<'_, D>,
    plain: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), TlsError> {
    if plain.is_empty() {
        return Ok(());
    }
    let mut want = plain.len() + 64 * (plain.len() / 16_384 + 1);
    loop {
        let start = out.len();
        out.resize(start + want, 0);
        match traffic.encrypt(plain, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                plain.clear();
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if want < required_size =>
            {
                out.truncate(start);
                want = required_size;
            }
            Err(e) => {
                out.truncate(start);
                return Err(TlsError::Protocol(alloc::format!("{e}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{TrustStore, WallClock};
    use alloc::string::ToString;
    use std::io::{Read, Write};

    const CA: &[u8] = include_bytes!("../../tests/fixtures/tls/ca.pem");
    const LEAF: &[u8] = include_bytes!("../../tests/fixtures/tls/leaf.der");
    const KEY: &[u8] = include_bytes!("../../tests/fixtures/tls/leaf.key.der");
    /// 2030-01-01: inside the fixtures' validity.
    const NOW: u64 = 1_893_456_000;

    fn server(versions: &[&'static rustls::SupportedProtocolVersion]) -> rustls::ServerConnection {
        server_with(versions, LEAF, KEY, None)
    }

    /// A server (RustCrypto's full provider: it signs) with `leaf` and `key`, offering
    /// only the key exchange `group` if given.
    fn server_with(
        versions: &[&'static rustls::SupportedProtocolVersion],
        leaf: &[u8],
        key: &[u8],
        group: Option<rustls::NamedGroup>,
    ) -> rustls::ServerConnection {
        let key = pki_types::PrivateKeyDer::Pkcs8(key.to_vec().into());
        let mut provider = rustls_rustcrypto::provider();
        if let Some(group) = group {
            provider.kx_groups.retain(|g| g.name() == group);
        }
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![pki_types::CertificateDer::from(leaf.to_vec())], key)
            .expect("server certificate");
        let mut conn = rustls::ServerConnection::new(Arc::new(config)).expect("server");
        conn.set_buffer_limit(None);
        conn
    }

    fn setup(trusted: bool) -> TlsSetup {
        let mut trust = TrustStore::empty();
        if trusted {
            trust.add_pem(CA).expect("fixture CA");
        } else {
            trust
                .add_pem(include_bytes!("../../tests/fixtures/tls/other-ca.pem"))
                .expect("CA");
        }
        TlsSetup::new(&trust)
    }

    fn clock(unix_secs: u64) -> Option<WallClock> {
        Some(WallClock {
            unix_secs,
            source: "test clock",
        })
    }

    /// Shuttles bytes both ways until neither side has anything to say; returns what the
    /// client decrypted, or its error.
    fn exchange(
        client: &mut TlsClient,
        server: &mut rustls::ServerConnection,
        request: &[u8],
        response: &[u8],
    ) -> Result<Vec<u8>, TlsError> {
        client.write(request);
        client.process()?;
        let mut answered = false;
        let mut received = Vec::new();
        for _ in 0..50 {
            // Client → server, a few bytes at a time to exercise partial records.
            let out = client.outgoing().to_vec();
            for chunk in out.chunks(700) {
                let mut rd = chunk;
                server.read_tls(&mut rd).expect("server read");
                if server.process_new_packets().is_err() {
                    break;
                }
            }
            client.sent(out.len());
            let mut plain = Vec::new();
            let _ = server.reader().read_to_end(&mut plain);
            if !answered && plain == request {
                server.writer().write_all(response).expect("server write");
                server.send_close_notify();
                answered = true;
            }
            // Server → client.
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).expect("server write_tls");
            }
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let n = client.feed(rest);
                rest = &rest[n..];
                client.process()?;
            }
            client.process()?;
            received.extend_from_slice(client.plaintext());
            let n = client.plaintext().len();
            client.consume(n);
            if client.peer_closed() && client.outgoing().is_empty() {
                break;
            }
        }
        Ok(received)
    }

    #[test]
    fn tls13_and_tls12_round_trip() {
        for versions in [&[&version::TLS13][..], &[&version::TLS12][..]] {
            let setup = setup(true);
            let mut client = TlsClient::new(&setup, "boot.test", clock(NOW)).expect("client");
            let mut server = server(versions);
            let body = vec![0x5a; 100_000];
            let got = exchange(&mut client, &mut server, b"GET / HTTP/1.1\r\n\r\n", &body)
                .expect("exchange");
            assert_eq!(got.len(), body.len());
            assert_eq!(got, body);
            assert!(client.peer_closed());
            assert!(!client.is_handshaking());
            let want = if versions[0] == &version::TLS13 {
                "TLS 1.3"
            } else {
                "TLS 1.2"
            };
            assert!(client.describe().starts_with(want), "{}", client.describe());
        }
    }

    /// netboot's own provider (`tls::crypto`) against RustCrypto's server: a P-256, an
    /// RSA (PKCS#1 chain, PSS handshake) and a P-384 (ECDSA with SHA-384) chain, with each
    /// of the client's key exchanges, over TLS 1.3 and 1.2.
    #[test]
    fn every_key_type_and_key_exchange_round_trips() {
        /// What, CA (PEM), leaf (DER), leaf key (PKCS #8).
        type Chain = (&'static str, &'static [u8], &'static [u8], &'static [u8]);
        let chains: [Chain; 3] = [
            ("P-256", CA, LEAF, KEY),
            (
                "RSA",
                include_bytes!("../../tests/fixtures/tls/rsa-ca.pem"),
                include_bytes!("../../tests/fixtures/tls/rsa-leaf.der"),
                include_bytes!("../../tests/fixtures/tls/rsa-leaf.key.der"),
            ),
            (
                "P-384",
                include_bytes!("../../tests/fixtures/tls/p384-ca.pem"),
                include_bytes!("../../tests/fixtures/tls/p384-leaf.der"),
                include_bytes!("../../tests/fixtures/tls/p384-leaf.key.der"),
            ),
        ];
        let groups: Vec<_> = super::super::provider()
            .kx_groups
            .iter()
            .map(|g| g.name())
            .collect();
        assert_eq!(
            groups,
            [rustls::NamedGroup::X25519, rustls::NamedGroup::secp256r1]
        );
        for (what, ca, leaf, key) in chains {
            let mut trust = TrustStore::empty();
            trust.add_pem(ca).expect("fixture CA");
            let setup = TlsSetup::new(&trust);
            for &group in &groups {
                for versions in [&[&version::TLS13][..], &[&version::TLS12][..]] {
                    let mut client =
                        TlsClient::new(&setup, "boot.test", clock(NOW)).expect("client");
                    let mut server = server_with(versions, leaf, key, Some(group));
                    let got = exchange(&mut client, &mut server, b"x", b"y");
                    assert_eq!(
                        got.as_deref(),
                        Ok(&b"y"[..]),
                        "{what} {group:?} {:?}",
                        versions[0]
                    );
                }
            }
        }
    }

    #[test]
    fn an_address_in_the_certificate_works_too() {
        let setup = setup(true);
        let mut client = TlsClient::new(&setup, "192.0.2.1", clock(NOW)).expect("client");
        let got = exchange(&mut client, &mut server(&[&version::TLS13]), b"x", b"y");
        assert_eq!(got.expect("exchange"), b"y");
    }

    #[test]
    fn wrong_name_unknown_ca_and_clock_errors_explain() {
        let mut client = TlsClient::new(&setup(true), "other.test", clock(NOW)).expect("client");
        let err = exchange(&mut client, &mut server(&[&version::TLS13]), b"x", b"y")
            .expect_err("wrong name");
        assert!(matches!(err, TlsError::NotValidForName { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("not valid for other.test"), "{text}");
        assert!(text.contains("(it names boot.test, 192.0.2.1)"), "{text}");

        let mut client = TlsClient::new(&setup(false), "boot.test", clock(NOW)).expect("client");
        let err = exchange(&mut client, &mut server(&[&version::TLS13]), b"x", b"y")
            .expect_err("unknown CA");
        assert!(
            err.to_string().contains("unknown certificate authority"),
            "{err}"
        );

        // 2200: after the fixtures expired.
        let mut client =
            TlsClient::new(&setup(true), "boot.test", clock(7_258_118_400)).expect("client");
        let err = exchange(&mut client, &mut server(&[&version::TLS12]), b"x", b"y")
            .expect_err("expired");
        let text = err.to_string();
        assert!(text.contains("certificate expired at 21"), "{text}");
        assert!(text.contains("test clock) says 2200-01-01"), "{text}");

        // 2000: before they were issued.
        let mut client =
            TlsClient::new(&setup(true), "boot.test", clock(946_684_800)).expect("client");
        let err = exchange(&mut client, &mut server(&[&version::TLS13]), b"x", b"y")
            .expect_err("not yet valid");
        assert!(err.to_string().contains("not valid before"), "{err}");

        let mut client = TlsClient::new(&setup(true), "boot.test", None).expect("client");
        let err = exchange(&mut client, &mut server(&[&version::TLS13]), b"x", b"y")
            .expect_err("no clock");
        assert_eq!(err, TlsError::NoClock);
    }

    #[test]
    fn garbage_from_the_server_is_an_error_not_a_panic() {
        let mut client = TlsClient::new(&setup(true), "boot.test", clock(NOW)).expect("client");
        client.process().expect("hello");
        client.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert_eq!(client.process(), Err(TlsError::NotTls));
        let mut client = TlsClient::new(&setup(true), "boot.test", clock(NOW)).expect("client");
        client.process().expect("hello");
        // A handshake record claiming 16 MiB.
        client.feed(&[0x16, 0x03, 0x03, 0xff, 0xff, 0x02, 0xff, 0xff, 0xff]);
        assert!(client.process().is_err());
    }

    #[test]
    fn no_roots_is_explained() {
        let setup = TlsSetup::new(&TrustStore::empty());
        let err = TlsClient::new(&setup, "boot.test", clock(NOW)).expect_err("no roots");
        assert_eq!(err, TlsError::NoTrustedRoots);
    }
}
