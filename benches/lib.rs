//! Benchmark support for netboot: an in-process test bed with two smoltcp interfaces on a
//! virtual Ethernet wire, a minimal TFTP and HTTP/1.1 server on one side and netboot's
//! [`NetDevice::fetch`] on the other.
//!
//! The benchmarks themselves live in this package's `benches/` directory (`wire.rs`:
//! parse throughput of the wire formats; `transfer.rs`: 64 MiB over TFTP and HTTP through
//! the test bed; `script.rs`: script parse and interpretation without a network;
//! `image.rs`: netboot-image's probes, parsers and inflate on real files; `sha256.rs`:
//! SHA-256 as the firmwares build it). Run them with `cargo bench -p netboot-benches`; see `BENCHMARKS.md` at
//! the repository root for figures, including the QEMU side-by-side with Debian's iPXE
//! (`cargo xtask bench`).
//!
//! No kernel is involved: frames go through two in-memory queues. The server runs inside
//! the client's [`Waiter`] (whenever the client asks for the time, and whenever it idles),
//! so one thread drives both sides. Time is virtual: it stands still while either side
//! has work and only moves when both are idle, by the amount the client asked to sleep.
//! Every such move is counted in [`ServerWaiter::stalled_ms`], so a transfer that waited
//! for a retransmission timer shows it instead of just being slow.
//!
//! ```
//! use netboot_benches::{Testbed, pseudo_random_bytes};
//! use netboot_core::net::VecSink;
//! use netboot_core::uri::Uri;
//!
//! let file = pseudo_random_bytes(100_000, 1);
//! let mut bed = Testbed::new(file.clone());
//! let mut sink = VecSink::new(1 << 20);
//! let uri = Uri::parse(netboot_benches::HTTP_URI).expect("valid");
//! bed.fetch(&uri, &mut sink).expect("transfer");
//! assert_eq!(sink.data, file);
//! ```

use netboot_core::error::Error;
use netboot_core::net::{Download, IpConfig, NetDevice, VecSink, Waiter};
use netboot_core::proto::Millis;
use netboot_core::uri::Uri;
use netboot_core::wire::tftp::{OptionList, Repr};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::rc::Rc;

/// The largest Ethernet frame on the virtual wire (1500-byte MTU plus the 14-byte header).
pub const FRAME_MTU: usize = 1514;
/// The client's address (a /24 with the server).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// The server's address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The client's hardware address.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x64];
/// The server's hardware address.
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Where the test bed's TFTP server serves its file.
pub const TFTP_URI: &str = "tftp://192.0.2.1/images/big.bin";
/// Where the test bed's HTTP server serves its file.
pub const HTTP_URI: &str = "http://192.0.2.1/images/big.bin";
/// Virtual milliseconds after which a transfer is cancelled (a stall, not a slow run).
pub const VIRTUAL_TIME_LIMIT_MS: Millis = 120_000;

/// `len` bytes of xorshift64* output: incompressible, reproducible content to serve.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a virtual Ethernet wire: a smoltcp [`phy::Device`] whose transmitted frames
/// land in the peer's receive queue. Lossless, unbounded, in order.
pub struct VirtualNic {
    rx: Queue,
    tx: Queue,
    received: u64,
    sent: u64,
    /// Copies of the frames this end sent, while capturing (for debugging a transfer).
    capture: Option<Vec<Vec<u8>>>,
}

impl VirtualNic {
    /// Two connected ends of a new wire.
    pub fn pair() -> (VirtualNic, VirtualNic) {
        let a_to_b: Queue = Rc::default();
        let b_to_a: Queue = Rc::default();
        let a = VirtualNic {
            rx: b_to_a.clone(),
            tx: a_to_b.clone(),
            received: 0,
            sent: 0,
            capture: None,
        };
        let b = VirtualNic {
            rx: a_to_b,
            tx: b_to_a,
            received: 0,
            sent: 0,
            capture: None,
        };
        (a, b)
    }

    /// Frames this end has taken off the wire.
    pub fn frames_received(&self) -> u64 {
        self.received
    }

    /// Frames this end has put on the wire.
    pub fn frames_sent(&self) -> u64 {
        self.sent
    }

    /// Starts keeping a copy of every frame this end sends.
    pub fn start_capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// The frames captured since [`VirtualNic::start_capture`] (capturing goes on).
    pub fn take_capture(&mut self) -> Vec<Vec<u8>> {
        self.capture
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Frames waiting for this end to receive them.
    pub fn frames_waiting(&self) -> usize {
        self.rx.borrow().len()
    }
}

/// A received frame.
pub struct NicRxToken(Vec<u8>);

/// Permission to put one frame on the wire.
pub struct NicTxToken<'a> {
    queue: &'a RefCell<VecDeque<Vec<u8>>>,
    sent: &'a mut u64,
    capture: &'a mut Option<Vec<Vec<u8>>>,
}

impl phy::RxToken for NicRxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl phy::TxToken for NicTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        if let Some(capture) = self.capture {
            capture.push(frame.clone());
        }
        self.queue.borrow_mut().push_back(frame);
        *self.sent += 1;
        r
    }
}

impl Device for VirtualNic {
    type RxToken<'a> = NicRxToken;
    type TxToken<'a> = NicTxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.rx.borrow_mut().pop_front()?;
        self.received += 1;
        let tx = NicTxToken {
            queue: &self.tx,
            sent: &mut self.sent,
            capture: &mut self.capture,
        };
        Some((NicRxToken(frame), tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(NicTxToken {
            queue: &self.tx,
            sent: &mut self.sent,
            capture: &mut self.capture,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MTU;
        caps
    }
}

fn instant(ms: Millis) -> Instant {
    Instant::from_millis(ms as i64)
}

/// Counters of what the servers did, for checks and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// TFTP read requests answered.
    pub tftp_requests: u64,
    /// TFTP blocks sent again after a timeout or a client's gap ACK.
    pub tftp_resent_blocks: u64,
    /// TFTP transfers whose last block was acknowledged.
    pub tftp_completed: u64,
    /// HTTP connections accepted.
    pub http_connections: u64,
    /// HTTP requests answered.
    pub http_requests: u64,
}

/// How long the TFTP server waits for an ACK before resending from the last one.
const TFTP_SERVER_TIMEOUT_MS: Millis = 1000;
/// The largest `blksize` the server grants: a full 1500-byte IPv4 MTU.
const TFTP_MAX_BLKSIZE: usize = 1500 - 20 - 8 - 4;
/// The largest `windowsize` the server grants.
const TFTP_MAX_WINDOW: u64 = 64;
/// Bytes of request head the HTTP server keeps before giving up on a connection.
const HTTP_MAX_REQUEST: usize = 8 << 10;

/// One TFTP read in progress (RFC 1350 with RFC 2347/2348/2349/7440 options).
struct TftpSession {
    handle: SocketHandle,
    peer: IpEndpoint,
    blksize: usize,
    window: u64,
    /// Number of DATA blocks in the file (the last one is short, possibly empty).
    total_blocks: u64,
    /// Highest block the client acknowledged (0: none, or the OACK).
    acked: u64,
    /// Next block to send (1-based).
    next: u64,
    /// The OACK, while it waits for ACK 0.
    oack: Option<Vec<u8>>,
    oack_sent: bool,
    /// When the client last made progress (or we last resent).
    last_progress: Millis,
}

/// The test bed's server side: its own smoltcp interface on the wire, a TFTP server on
/// UDP port 69 and an HTTP/1.1 server on TCP port 80, both serving one file (any path).
pub struct Server {
    iface: Interface,
    nic: VirtualNic,
    sockets: SocketSet<'static>,
    file: Vec<u8>,
    tftp_listener: SocketHandle,
    tftp: Option<TftpSession>,
    next_tftp_port: u16,
    http_listener: SocketHandle,
    http: Vec<HttpConn>,
    /// Close each HTTP connection once its first response is sent, as a server with a
    /// short keep-alive timeout does (for tests of the client's reconnect path).
    http_close_after_response: bool,
    stats: ServerStats,
}

/// One accepted HTTP connection.
struct HttpConn {
    handle: SocketHandle,
    request: Vec<u8>,
    /// Response head bytes not yet sent.
    head: Vec<u8>,
    /// Body bytes still to send: a range of the file.
    body: std::ops::Range<usize>,
    /// Requests answered on this connection.
    served: u64,
}

impl Server {
    /// A server on `nic` at [`SERVER_IP`], serving `file`.
    pub fn new(mut nic: VirtualNic, file: Vec<u8>) -> Server {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(SERVER_MAC)));
        config.random_seed = 0x5eed;
        let mut iface = Interface::new(config, &mut nic, instant(0));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(SERVER_IP), 24));
        });
        let mut sockets = SocketSet::new(Vec::new());
        let mut tftp = udp_socket(64 << 10, 64);
        // A fresh socket binds to a non-zero port.
        let _ = tftp.bind(69);
        let tftp_listener = sockets.add(tftp);
        let http_listener = sockets.add(http_listener());
        Server {
            iface,
            nic,
            sockets,
            file,
            tftp_listener,
            tftp: None,
            next_tftp_port: 40000,
            http_listener,
            http: Vec::new(),
            http_close_after_response: false,
            stats: ServerStats::default(),
        }
    }

    /// The file being served.
    pub fn file(&self) -> &[u8] {
        &self.file
    }

    /// What the servers did so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// The server's end of the wire.
    pub fn nic(&self) -> &VirtualNic {
        &self.nic
    }

    /// Moves frames and runs both servers; returns whether any frame moved.
    pub fn poll(&mut self, now: Millis) -> bool {
        let before = (self.nic.received, self.nic.sent);
        self.iface
            .poll(instant(now), &mut self.nic, &mut self.sockets);
        self.serve_tftp(now);
        self.serve_http();
        // Send what the servers queued in this same call.
        self.iface
            .poll(instant(now), &mut self.nic, &mut self.sockets);
        (self.nic.received, self.nic.sent) != before
    }

    fn serve_tftp(&mut self, now: Millis) {
        // New requests (a new one replaces the transfer in progress: one client here).
        loop {
            let socket = self.sockets.get_mut::<udp::Socket>(self.tftp_listener);
            let Ok((payload, meta)) = socket.recv() else {
                break;
            };
            let peer = meta.endpoint;
            let Ok(Repr::ReadRequest { options, .. }) = Repr::from_bytes(payload) else {
                continue;
            };
            let (blksize, window, oack) = negotiate(&options, self.file.len());
            if let Some(old) = self.tftp.take() {
                self.sockets.remove(old.handle);
            }
            self.stats.tftp_requests += 1;
            let port = self.next_tftp_port;
            self.next_tftp_port = if port >= 49000 { 40000 } else { port + 1 };
            let mut socket = udp_socket(256 << 10, 256);
            let _ = socket.bind(port);
            let handle = self.sockets.add(socket);
            self.tftp = Some(TftpSession {
                handle,
                peer,
                blksize,
                window,
                total_blocks: (self.file.len() / blksize) as u64 + 1,
                acked: 0,
                next: 1,
                oack_sent: false,
                oack,
                last_progress: now,
            });
        }
        let Some(s) = self.tftp.as_mut() else {
            return;
        };
        let socket = self.sockets.get_mut::<udp::Socket>(s.handle);
        while let Ok((payload, meta)) = socket.recv() {
            if meta.endpoint != s.peer {
                continue;
            }
            match Repr::from_bytes(payload) {
                Ok(Repr::Ack { block }) => {
                    if s.oack.is_some() {
                        if block == 0 {
                            s.oack = None;
                            s.last_progress = now;
                        }
                        continue;
                    }
                    // The 16-bit block number names the latest block sent with that number.
                    let latest = s.next - 1;
                    let back = u64::from((latest as u16).wrapping_sub(block));
                    let Some(acked) = latest.checked_sub(back) else {
                        continue;
                    };
                    if acked < s.acked {
                        continue;
                    }
                    if acked > s.acked {
                        s.last_progress = now;
                    }
                    s.acked = acked;
                    if acked < latest {
                        // A gap or timeout ACK: go back and resend from there (RFC 7440).
                        self.stats.tftp_resent_blocks += latest - acked;
                        s.next = acked + 1;
                    }
                }
                Ok(Repr::Error { .. }) => s.acked = s.total_blocks,
                _ => {}
            }
        }
        if s.acked >= s.total_blocks {
            if s.acked == s.total_blocks {
                self.stats.tftp_completed += 1;
            }
            self.sockets.remove(s.handle);
            self.tftp = None;
            return;
        }
        if now >= s.last_progress + TFTP_SERVER_TIMEOUT_MS {
            s.last_progress = now;
            s.oack_sent = false;
            self.stats.tftp_resent_blocks += s.next - 1 - s.acked;
            s.next = s.acked + 1;
        }
        if let Some(oack) = &s.oack {
            if !s.oack_sent {
                s.oack_sent = socket.send_slice(oack, s.peer).is_ok();
            }
            return;
        }
        while s.next <= s.total_blocks && s.next <= s.acked + s.window {
            let start = (s.next as usize - 1) * s.blksize;
            let data =
                &self.file[start.min(self.file.len())..(start + s.blksize).min(self.file.len())];
            let Ok(buf) = socket.send(4 + data.len(), s.peer) else {
                break;
            };
            buf[..2].copy_from_slice(&3u16.to_be_bytes());
            buf[2..4].copy_from_slice(&(s.next as u16).to_be_bytes());
            buf[4..].copy_from_slice(data);
            s.next += 1;
        }
    }

    fn serve_http(&mut self) {
        let listener = self.sockets.get_mut::<tcp::Socket>(self.http_listener);
        if listener.is_active() {
            self.stats.http_connections += 1;
            let handle = self.http_listener;
            self.http_listener = self.sockets.add(http_listener());
            self.http.push(HttpConn {
                handle,
                request: Vec::new(),
                head: Vec::new(),
                body: 0..0,
                served: 0,
            });
        }
        let file = &self.file;
        let close_after_response = self.http_close_after_response;
        let stats = &mut self.stats;
        let sockets = &mut self.sockets;
        self.http.retain_mut(|conn| {
            let socket = sockets.get_mut::<tcp::Socket>(conn.handle);
            if !socket.is_open() {
                sockets.remove(conn.handle);
                return false;
            }
            let idle = conn.head.is_empty() && conn.body.is_empty();
            if idle && socket.can_recv() {
                let _ = socket.recv(|buf| {
                    let take = buf.len().min(HTTP_MAX_REQUEST - conn.request.len());
                    conn.request.extend_from_slice(&buf[..take]);
                    (take, ())
                });
                if let Some(end) = find(&conn.request, b"\r\n\r\n") {
                    let (head, body) = respond(&conn.request[..end], file.len());
                    stats.http_requests += 1;
                    conn.served += 1;
                    conn.head = head;
                    conn.body = body;
                    conn.request.drain(..end + 4);
                } else if conn.request.len() >= HTTP_MAX_REQUEST {
                    socket.abort();
                }
            }
            if !conn.head.is_empty() {
                let n = socket.send_slice(&conn.head).unwrap_or(0);
                conn.head.drain(..n);
            }
            if conn.head.is_empty() && !conn.body.is_empty() {
                let n = socket.send_slice(&file[conn.body.clone()]).unwrap_or(0);
                conn.body.start += n;
            }
            let answered = conn.head.is_empty() && conn.body.is_empty();
            if answered
                && (socket.state() == tcp::State::CloseWait
                    || (close_after_response && conn.served > 0 && socket.may_send()))
            {
                // The client closed its side and everything was sent: close ours.
                socket.close();
            }
            true
        });
    }
}

fn udp_socket(bytes: usize, packets: usize) -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0; bytes]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0; bytes]),
    )
}

fn http_listener() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 16 << 10]),
        tcp::SocketBuffer::new(vec![0; 256 << 10]),
    );
    socket.set_nagle_enabled(false);
    // Listening on a fresh socket with a non-zero port cannot fail.
    let _ = socket.listen(80);
    socket
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The server's answer to the options of a read request: block size, window size and the
/// OACK to send (`None` when the client asked for no option we know).
fn negotiate(options: &OptionList<'_>, file_len: usize) -> (usize, u64, Option<Vec<u8>>) {
    let mut blksize = 512;
    let mut window = 1;
    let mut granted: Vec<(String, String)> = Vec::new();
    for (name, value) in options.iter() {
        let Ok(v) = value.parse::<u64>() else {
            continue;
        };
        match name.to_ascii_lowercase().as_str() {
            "blksize" if v >= 8 => {
                blksize = (v as usize).min(TFTP_MAX_BLKSIZE);
                granted.push((name.to_string(), blksize.to_string()));
            }
            "windowsize" if v >= 1 => {
                window = v.min(TFTP_MAX_WINDOW);
                granted.push((name.to_string(), window.to_string()));
            }
            "tsize" => granted.push((name.to_string(), file_len.to_string())),
            _ => {}
        }
    }
    if granted.is_empty() {
        return (blksize, window, None);
    }
    let pairs: Vec<(&str, &str)> = granted
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let oack = Repr::OptionAck {
        options: OptionList::from_pairs(&pairs),
    }
    .to_vec()
    .ok();
    (blksize, window, oack)
}

/// The response head to a request head, and the range of the file to send as its body.
fn respond(request: &[u8], file_len: usize) -> (Vec<u8>, std::ops::Range<usize>) {
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let (status, body) = match method {
        b"GET" => ("200 OK", 0..file_len),
        b"HEAD" => ("200 OK", 0..0),
        _ => ("405 Method Not Allowed", 0..0),
    };
    let length = if status.starts_with("200") {
        file_len
    } else {
        0
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: netboot-benches\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\
         Connection: keep-alive\r\n\r\n"
    );
    (head.into_bytes(), body)
}

/// The client's [`Waiter`]: runs the server whenever the client looks at the clock or
/// idles, and keeps virtual time (see the crate docs).
pub struct ServerWaiter {
    /// The server side of the test bed.
    pub server: Server,
    now: Millis,
    /// Virtual milliseconds the client spent idle with nothing moving on the wire.
    pub stalled_ms: Millis,
    /// Calls to [`Waiter::idle`].
    pub idle_calls: u64,
    /// Virtual time after which [`Waiter::cancelled`] says yes.
    cancel_at: Millis,
}

impl ServerWaiter {
    /// A waiter running `server`, with the virtual clock at 0.
    pub fn new(server: Server) -> ServerWaiter {
        ServerWaiter {
            server,
            now: 0,
            stalled_ms: 0,
            idle_calls: 0,
            cancel_at: VIRTUAL_TIME_LIMIT_MS,
        }
    }
}

impl Waiter for ServerWaiter {
    fn now_ms(&mut self) -> Millis {
        self.server.poll(self.now);
        self.now
    }

    fn idle(&mut self, ms: Millis) {
        self.idle_calls += 1;
        if !self.server.poll(self.now) && self.server.nic.frames_waiting() == 0 {
            // Nothing moved on either side: this is a real wait; let the time pass.
            self.now += ms.max(1);
            self.stalled_ms += ms.max(1);
        }
    }

    fn cancelled(&mut self) -> bool {
        self.now > self.cancel_at
    }
}

/// Client and server on one virtual wire, configured statically (client
/// [`CLIENT_IP`]/24, server [`SERVER_IP`]/24).
pub struct Testbed {
    /// netboot's network device, the client.
    pub client: NetDevice<VirtualNic>,
    /// The waiter that runs the server.
    pub waiter: ServerWaiter,
}

impl Testbed {
    /// A test bed whose servers serve `file`.
    pub fn new(file: Vec<u8>) -> Testbed {
        let (client_nic, server_nic) = VirtualNic::pair();
        let mut client = NetDevice::new("net0", client_nic, CLIENT_MAC, 0x1234_5678, 0);
        client.configure(IpConfig {
            address: CLIENT_IP,
            prefix_len: 24,
            gateway: None,
            dns: Vec::new(),
        });
        Testbed {
            client,
            waiter: ServerWaiter::new(Server::new(server_nic, file)),
        }
    }

    /// Fetches `uri` into `sink` (emptied first, its allocation kept).
    pub fn fetch(&mut self, uri: &Uri, sink: &mut VecSink) -> Result<Download, Error> {
        sink.data.clear();
        // Each transfer gets its own virtual time budget.
        self.waiter.cancel_at = self.waiter.now + VIRTUAL_TIME_LIMIT_MS;
        let result = self.client.fetch(&mut self.waiter, uri, sink);
        // Let the server see the client's last frames (the final ACK, a FIN).
        self.waiter.server.poll(self.waiter.now);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant as WallClock;

    /// Small enough for debug builds; the benchmark moves 64 MiB.
    const SMOKE_LEN: usize = 4 << 20;

    fn smoke(uri: &str) -> (Testbed, Vec<u8>) {
        let file = pseudo_random_bytes(SMOKE_LEN, 7);
        let mut bed = Testbed::new(file.clone());
        let uri = Uri::parse(uri).expect("valid URI");
        let mut sink = VecSink::new(1 << 30);
        for round in 0..2 {
            let start = WallClock::now();
            let download = bed.fetch(&uri, &mut sink).expect("transfer completes");
            let secs = start.elapsed().as_secs_f64();
            std::println!(
                "{uri} round {round}: {} bytes in {secs:.3} s ({:.1} MB/s, {}), \
                 virtual stall {} ms, server {:?}",
                download.size,
                download.size as f64 / secs / 1e6,
                download.transport,
                bed.waiter.stalled_ms,
                bed.waiter.server.stats(),
            );
            assert_eq!(download.size, SMOKE_LEN as u64);
            assert!(
                sink.data == file,
                "received bytes differ from the served ones"
            );
        }
        (bed, file)
    }

    #[test]
    fn tftp_transfer_end_to_end() {
        let (bed, _) = smoke(TFTP_URI);
        let stats = bed.waiter.server.stats();
        assert_eq!(stats.tftp_requests, 2);
        assert_eq!(
            stats.tftp_resent_blocks, 0,
            "a lossless wire needs no resends"
        );
    }

    #[test]
    fn http_transfer_end_to_end() {
        let (bed, _) = smoke(HTTP_URI);
        let stats = bed.waiter.server.stats();
        assert_eq!(stats.http_requests, 2);
        assert_eq!(
            stats.http_connections, 1,
            "the second fetch reuses the connection"
        );
    }

    #[test]
    fn http_reconnects_when_the_server_closed_the_kept_alive_connection() {
        let file = pseudo_random_bytes(50_000, 5);
        let mut bed = Testbed::new(file.clone());
        bed.waiter.server.http_close_after_response = true;
        let uri = Uri::parse(HTTP_URI).expect("valid URI");
        let mut sink = VecSink::new(1 << 20);
        for _ in 0..3 {
            bed.fetch(&uri, &mut sink).expect("transfer completes");
            assert_eq!(sink.data, file);
        }
        assert_eq!(bed.waiter.server.stats().http_connections, 3);
        assert_eq!(bed.waiter.stalled_ms, 0, "no timer should be needed");
    }

    #[test]
    fn tftp_file_of_whole_blocks_ends_with_an_empty_block() {
        let file = pseudo_random_bytes(1432 * 20, 3);
        let mut bed = Testbed::new(file.clone());
        let mut sink = VecSink::new(1 << 20);
        let uri = Uri::parse(TFTP_URI).expect("valid URI");
        bed.fetch(&uri, &mut sink).expect("transfer completes");
        assert_eq!(sink.data, file);
    }

    #[test]
    fn pseudo_random_bytes_are_reproducible() {
        assert_eq!(pseudo_random_bytes(100, 1), pseudo_random_bytes(100, 1));
        assert_ne!(pseudo_random_bytes(100, 1), pseudo_random_bytes(100, 2));
        assert_eq!(pseudo_random_bytes(13, 1).len(), 13);
    }
}
