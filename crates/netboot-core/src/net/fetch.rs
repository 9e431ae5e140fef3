//! `fetch(uri)`: downloads over TFTP or HTTP into a [`Sink`], with progress reporting,
//! redirects, keep-alive reuse and Ctrl-C cancellation.

use super::{NetDevice, Step, UdpLink, Waiter};
use crate::error::Error;
use crate::proto::Millis;
use crate::proto::http::{
    Event, HttpConfig, HttpError, Method, Outcome, Redirects, Request, ResponseReader,
};
use crate::proto::tftp::{DEFAULT_WINDOWSIZE, TftpConfig, TftpTransfer};
use crate::uri::{Host, Scheme, Uri};
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::wire::IpAddress;

/// Where downloaded bytes go. The only copy on the receive path is into the sink.
pub trait Sink {
    /// The total size became known (`Content-Length`, `tsize`): presize, or refuse with
    /// [`Error::TooLarge`] / [`Error::OutOfMemory`].
    fn expect_size(&mut self, size: u64) -> Result<(), Error>;
    /// Stores `data` at byte `offset` (downloads are sequential).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Error>;
    /// Discards everything (a redirect or retry starts again).
    fn reset(&mut self);
}

/// A [`Sink`] into a `Vec<u8>` with a size limit; allocation failures are errors.
#[derive(Debug, Default)]
pub struct VecSink {
    /// The bytes received.
    pub data: Vec<u8>,
    limit: u64,
}

impl VecSink {
    /// A sink that accepts at most `limit` bytes.
    pub fn new(limit: u64) -> Self {
        VecSink {
            data: Vec::new(),
            limit,
        }
    }
}

impl Sink for VecSink {
    fn expect_size(&mut self, size: u64) -> Result<(), Error> {
        if size > self.limit {
            return Err(Error::TooLarge {
                size,
                limit: self.limit,
            });
        }
        let extra = (size as usize).saturating_sub(self.data.len());
        self.data
            .try_reserve_exact(extra)
            .map_err(|_| Error::OutOfMemory { size })
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        let end = offset + data.len() as u64;
        if end > self.limit {
            return Err(Error::TooLarge {
                size: end,
                limit: self.limit,
            });
        }
        let offset = offset as usize;
        if offset > self.data.len() {
            // Downloads are sequential; a hole means a protocol engine bug, not input.
            return Err(Error::Connection {
                peer: String::new(),
                why: "download skipped bytes",
            });
        }
        let overlap = (self.data.len() - offset).min(data.len());
        self.data[offset..offset + overlap].copy_from_slice(&data[..overlap]);
        let rest = &data[overlap..];
        self.data
            .try_reserve(rest.len())
            .map_err(|_| Error::OutOfMemory { size: end })?;
        self.data.extend_from_slice(rest);
        Ok(())
    }

    fn reset(&mut self) {
        self.data.clear();
    }
}

/// Download progress, for a progress line (`percent`, bytes, rate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What is being fetched.
    pub uri: String,
    /// Bytes received.
    pub received: u64,
    /// Total size, when the server said.
    pub total: Option<u64>,
    /// Milliseconds since the transfer started.
    pub elapsed_ms: Millis,
    /// Whether this is the final report.
    pub done: bool,
}

impl Progress {
    /// Percentage done, when the total is known.
    pub fn percent(&self) -> Option<u64> {
        self.total
            .filter(|&t| t > 0)
            .map(|t| (self.received.min(t) * 100) / t)
    }

    /// Average rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.received * 1000 / self.elapsed_ms.max(1)
    }
}

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// The URI the bytes came from (after redirects).
    pub uri: String,
    /// Bytes received.
    pub size: u64,
    /// Milliseconds the transfer took.
    pub elapsed_ms: Millis,
    /// How it travelled, for logs: `tftp blksize 1432 windowsize 16`, `http/1.1 keep-alive`.
    pub transport: String,
}

/// Extra parts of an HTTP request: iPXE's request parameters (`##params`), which turn
/// a download into a form `POST` and can add header lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpOptions {
    /// The method; `None` means `GET`, or `POST` when there is a body.
    pub method: Option<Method>,
    /// Extra header lines, in order.
    pub headers: Vec<(String, String)>,
    /// A request body with its content type.
    pub body: Option<(String, Vec<u8>)>,
}

impl HttpOptions {
    /// The method the first request uses.
    pub fn effective_method(&self) -> Method {
        match (self.method, &self.body) {
            (Some(m), _) => m,
            (None, Some(_)) => Method::Post,
            (None, None) => Method::Get,
        }
    }
}

/// Minimum interval between progress reports.
const PROGRESS_MS: Millis = 250;
/// How long a TCP connection attempt may take.
const CONNECT_TIMEOUT_MS: Millis = 15_000;

/// A kept-alive HTTP connection.
pub(super) struct Connection {
    handle: smoltcp::iface::SocketHandle,
    peer: (Ipv4Addr, u16),
    /// The TLS session of an `https://` connection.
    tls: Option<Box<TlsSession>>,
    /// The host name the TLS session's certificate was checked against.
    host: String,
}

/// A TLS session on a connection.
#[cfg(feature = "https")]
type TlsSession = crate::tls::TlsClient;
/// Without HTTPS there is never a TLS session.
#[cfg(not(feature = "https"))]
enum TlsSession {}

#[cfg(not(feature = "https"))]
impl TlsSession {
    fn peer_closed(&self) -> bool {
        match *self {}
    }
    fn describe(&self) -> String {
        match *self {}
    }
}

/// Whether `scheme` is fetched by the HTTP engine.
fn is_http(scheme: Scheme) -> bool {
    scheme == Scheme::Http || (cfg!(feature = "https") && scheme == Scheme::Https)
}

/// Moves bytes between a TLS session and its TCP socket: ciphertext in, decrypted data to
/// `deliver` (which returns how much it used), ciphertext out.
#[cfg(feature = "https")]
fn tls_pump(
    session: &mut TlsSession,
    socket: &mut tcp::Socket<'_>,
    peer: &str,
    mut deliver: impl FnMut(&[u8]) -> (usize, Result<(), Error>),
) -> Result<(), Error> {
    let tls_error = |cause| Error::Tls {
        peer: peer.to_string(),
        cause,
    };
    loop {
        // Decrypted data first, so the session has room for more.
        if !session.plaintext().is_empty() {
            let (used, result) = deliver(session.plaintext());
            session.consume(used);
            result?;
            if used == 0 {
                break;
            }
        }
        let mut got = 0;
        if socket.can_recv() && !session.recv_space().is_empty() {
            got = socket
                .recv(|buf| {
                    let n = session.feed(buf);
                    (n, n)
                })
                .unwrap_or(0);
        }
        session.process().map_err(tls_error)?;
        while !session.outgoing().is_empty() && socket.can_send() {
            let n = socket.send_slice(session.outgoing()).unwrap_or(0);
            if n == 0 {
                break;
            }
            session.sent(n);
        }
        if got == 0 && session.plaintext().is_empty() {
            break;
        }
    }
    Ok(())
}

/// A [`Sink`] that only records the announced size (for `HEAD`).
struct SizeOnly(Option<u64>);

impl Sink for SizeOnly {
    fn expect_size(&mut self, size: u64) -> Result<(), Error> {
        self.0 = Some(size);
        Ok(())
    }
    fn write_at(&mut self, _offset: u64, _data: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn reset(&mut self) {
        self.0 = None;
    }
}

/// Rate-limits progress reports.
struct Reporter {
    uri: String,
    start: Millis,
    last: Millis,
}

impl Reporter {
    fn new(uri: &Uri, start: Millis) -> Self {
        Reporter {
            uri: uri.to_string(),
            start,
            last: start,
        }
    }

    fn report(
        &mut self,
        w: &mut impl Waiter,
        now: Millis,
        received: u64,
        total: Option<u64>,
        done: bool,
    ) {
        if done || now >= self.last + PROGRESS_MS {
            self.last = now;
            let elapsed_ms = now - self.start;
            w.progress(&Progress {
                uri: self.uri.clone(),
                received,
                total,
                elapsed_ms,
                done,
            });
        }
    }
}

impl<D: Device> NetDevice<D> {
    /// Downloads `uri` into `sink`, reporting progress through `w`.
    pub fn fetch(
        &mut self,
        w: &mut impl Waiter,
        uri: &Uri,
        sink: &mut impl Sink,
    ) -> Result<Download, Error> {
        self.fetch_with(w, uri, &HttpOptions::default(), sink)
    }

    /// Like [`Self::fetch`], with extra HTTP request parts (a method, headers, a body);
    /// TFTP has no use for them and ignores them.
    pub fn fetch_with(
        &mut self,
        w: &mut impl Waiter,
        uri: &Uri,
        options: &HttpOptions,
        sink: &mut impl Sink,
    ) -> Result<Download, Error> {
        match uri.scheme_kind() {
            Scheme::Tftp => self.fetch_tftp(w, uri, sink),
            Scheme::Http => self.fetch_http(w, uri, options.effective_method(), options, sink),
            #[cfg(feature = "https")]
            Scheme::Https => self.fetch_http(w, uri, options.effective_method(), options, sink),
            _ => Err(Error::UnsupportedScheme(uri.scheme().to_string())),
        }
    }

    /// Asks an HTTP server for the size of `uri` without downloading it (`HEAD`).
    pub fn http_size(&mut self, w: &mut impl Waiter, uri: &Uri) -> Result<Option<u64>, Error> {
        let mut sink = SizeOnly(None);
        self.fetch_http(w, uri, Method::Head, &HttpOptions::default(), &mut sink)?;
        Ok(sink.0)
    }

    fn host_ip(&mut self, w: &mut impl Waiter, uri: &Uri) -> Result<Ipv4Addr, Error> {
        match uri.host() {
            Some(Host::Ipv4(ip)) => Ok(*ip),
            Some(Host::Name(name)) if !name.is_empty() => {
                let name = name.clone();
                self.resolve(w, &name)
            }
            _ => Err(Error::UnsupportedScheme(uri.to_string())),
        }
    }

    fn fetch_tftp(
        &mut self,
        w: &mut impl Waiter,
        uri: &Uri,
        sink: &mut impl Sink,
    ) -> Result<Download, Error> {
        self.require_config()?;
        let ip = self.host_ip(w, uri)?;
        let port = self.ephemeral_port();
        let mut config = TftpConfig::from_uri(uri, ip, port)?;
        config.windowsize = Some(DEFAULT_WINDOWSIZE);
        let start = w.now_ms();
        let mut transfer = TftpTransfer::new(config, start)?;
        let mut link = UdpLink::socket(self, port);
        let mut reporter = Reporter::new(uri, start);
        let mut told_size = false;
        let result = self.drive(w, &mut link, |dev, now, link, w| {
            loop {
                let delivered = link.recv_with(dev, |from, payload| {
                    match transfer.handle(now, from, payload) {
                        Ok(Some(chunk)) => sink.write_at(chunk.offset, chunk.data),
                        Ok(None) => Ok(()),
                        Err(e) => Err(Error::Tftp(e)),
                    }
                });
                match delivered {
                    None => break,
                    Some(Ok(())) => {}
                    Some(Err(e)) => return Step::Done(Err(e)),
                }
            }
            // Transmit after receiving, so each ACK leaves in the same iteration.
            while let Some(d) = transfer.poll_transmit(now) {
                link.send(dev, &d);
            }
            if !told_size && let Some(size) = transfer.size_hint() {
                told_size = true;
                if let Err(e) = sink.expect_size(size) {
                    return Step::Done(Err(e));
                }
            }
            if let Some(e) = transfer.error() {
                return Step::Done(Err(Error::Tftp(e.clone())));
            }
            let done = transfer.is_done();
            reporter.report(w, now, transfer.received(), transfer.size_hint(), done);
            if done {
                Step::Done(Ok(()))
            } else {
                Step::Wait(transfer.poll_deadline())
            }
        });
        link.close(self);
        result?;
        let transport = alloc::format!(
            "tftp blksize {} windowsize {}",
            transfer.blksize(),
            transfer.windowsize()
        );
        Ok(Download {
            uri: uri.to_string(),
            size: transfer.received(),
            elapsed_ms: w.now_ms() - start,
            transport,
        })
    }

    fn fetch_http(
        &mut self,
        w: &mut impl Waiter,
        uri: &Uri,
        mut method: Method,
        options: &HttpOptions,
        sink: &mut impl Sink,
    ) -> Result<Download, Error> {
        self.require_config()?;
        let start = w.now_ms();
        let mut redirects = Redirects::default();
        let mut current = uri.clone();
        let mut options = Some(options);
        loop {
            if !is_http(current.scheme_kind()) {
                return Err(Error::UnsupportedScheme(current.scheme().to_string()));
            }
            sink.reset();
            // A kept-alive connection may have been closed by the server meanwhile: then
            // the request fails before any response byte and is retried once, fresh.
            let outcome =
                match self.http_exchange(w, &current, (method, options), sink, start, true) {
                    Err(Error::Http(HttpError::ClosedBeforeHead { .. })) if self.http_reused => {
                        sink.reset();
                        self.http_exchange(w, &current, (method, options), sink, start, false)?
                    }
                    other => other?,
                };
            match outcome {
                Exchange::Done(size, tls) => {
                    let mut transport = String::from(if tls.is_empty() { "http" } else { "https" });
                    if !tls.is_empty() {
                        transport = alloc::format!("{transport} ({tls})");
                    }
                    if self.http_reused {
                        transport.push_str(", reused connection");
                    }
                    let elapsed_ms = w.now_ms() - start;
                    let uri = current.to_string();
                    return Ok(Download {
                        uri,
                        size,
                        elapsed_ms,
                        transport,
                    });
                }
                Exchange::Redirect(head) => match redirects.check(&head)? {
                    Outcome::Redirect(location) => {
                        current = current.resolve(location)?;
                        // As browsers do: 307/308 repeat the request as it was; other
                        // redirects of a request with a body continue with a plain GET.
                        if !matches!(head.status, 307 | 308)
                            && options.is_some_and(|o| o.body.is_some())
                        {
                            method = Method::Get;
                            options = None;
                        }
                    }
                    // Only 2xx is a success, and 2xx never takes the redirect path.
                    Outcome::Success => return Err(Error::Http(HttpError::UnexpectedSwitch)),
                },
            }
        }
    }

    /// One request/response on a (possibly reused) connection; `options` adds headers
    /// and a body to `method`.
    fn http_exchange(
        &mut self,
        w: &mut impl Waiter,
        uri: &Uri,
        (method, options): (Method, Option<&HttpOptions>),
        sink: &mut impl Sink,
        start: Millis,
        allow_reuse: bool,
    ) -> Result<Exchange, Error> {
        let ip = self.host_ip(w, uri)?;
        let port = uri.port_or_default().unwrap_or(80);
        let host = match uri.host() {
            Some(Host::Name(n)) => n.clone(),
            _ => ip.to_string(),
        };
        let peer = alloc::format!("{host}:{port}");
        let secure = uri.scheme_kind() == Scheme::Https;
        let (handle, mut tls) =
            self.http_connect(w, (ip, port), (&peer, &host), secure, allow_reuse)?;
        let target = uri.request_target();
        let user = uri.user();
        let password = uri.password();
        let mut request = Request::new(method, &host, port, &target);
        if let Some(user) = user.as_deref() {
            request = request.basic_auth(user, password.as_deref().unwrap_or(""));
        }
        if let Some(options) = options {
            for (name, value) in &options.headers {
                request = request.header(name, value);
            }
            if let Some((content_type, body)) = &options.body {
                request = request.body(content_type, body);
            }
        }
        let bytes = request.encode()?;
        let mut reader = ResponseReader::new(method, HttpConfig::default(), w.now_ms());
        let mut sent = 0;
        let mut reporter = Reporter::new(uri, start);
        let mut total = None;
        let mut redirect = None;
        let mut link = ();
        let result = self.drive(w, &mut link, |dev, now, _, w| {
            let socket = dev.sockets.get_mut::<tcp::Socket>(handle);
            let mut finished = None;
            match tls.as_deref_mut() {
                None => {
                    if sent < bytes.len() && socket.can_send() {
                        sent += socket.send_slice(&bytes[sent..]).unwrap_or(0);
                    }
                    while finished.is_none() && socket.can_recv() {
                        let r = socket.recv(|buf| {
                            feed_all(&mut reader, now, buf, sink, &mut total, &mut finished)
                        });
                        match r {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return Step::Done(Err(e)),
                            Err(_) => break,
                        }
                    }
                }
                #[cfg(feature = "https")]
                Some(session) => {
                    if sent < bytes.len() {
                        session.write(&bytes[sent..]);
                        sent = bytes.len();
                    }
                    let r = tls_pump(session, socket, &peer, |plain| {
                        if finished.is_some() {
                            return (0, Ok(()));
                        }
                        feed_all(&mut reader, now, plain, sink, &mut total, &mut finished)
                    });
                    if let Err(e) = r {
                        return Step::Done(Err(e));
                    }
                }
                #[cfg(not(feature = "https"))]
                Some(never) => match *never {},
            }
            let closed = !socket.may_recv() || tls.as_deref().is_some_and(TlsSession::peer_closed);
            if finished.is_none() && closed && sent == bytes.len() {
                // The peer closed: that ends a close-delimited body, or is an error.
                match reader.eof() {
                    Ok(()) => finished = Some(Finished::Complete),
                    Err(e) => return Step::Done(Err(Error::Http(e))),
                }
            }
            if let Err(e) = reader.poll_timeout(now) {
                return Step::Done(Err(Error::Http(e)));
            }
            match finished {
                Some(Finished::Complete) => {
                    reporter.report(w, now, reader.body_received(), total, true);
                    Step::Done(Ok(()))
                }
                Some(Finished::Redirect) => {
                    redirect = reader.head().cloned();
                    Step::Done(Ok(()))
                }
                None => {
                    reporter.report(w, now, reader.body_received(), total, false);
                    Step::Wait(reader.deadline())
                }
            }
        });
        let reusable = result.is_ok() && redirect.is_none() && reader.can_reuse();
        let described = tls.as_deref().map(TlsSession::describe).unwrap_or_default();
        self.http_release(handle, (ip, port, &host), reusable, tls);
        result?;
        match redirect {
            Some(head) => Ok(Exchange::Redirect(head)),
            None => Ok(Exchange::Done(reader.body_received(), described)),
        }
    }

    /// A connected TCP socket to `peer` (with a finished TLS handshake when `secure`): the
    /// kept-alive one if it still works.
    fn http_connect(
        &mut self,
        w: &mut impl Waiter,
        peer: (Ipv4Addr, u16),
        (name, host): (&str, &str),
        secure: bool,
        allow_reuse: bool,
    ) -> Result<(smoltcp::iface::SocketHandle, Option<Box<TlsSession>>), Error> {
        self.http_reused = false;
        if let Some(conn) = self.http_conn.take() {
            let socket = self.sockets.get_mut::<tcp::Socket>(conn.handle);
            if allow_reuse
                && conn.peer == peer
                && conn.tls.is_some() == secure
                && (!secure || conn.host == host)
                && socket.may_send()
                && socket.may_recv()
            {
                self.http_reused = true;
                return Ok((conn.handle, conn.tls));
            }
            socket.abort();
            self.poll(w.now_ms());
            self.sockets.remove(conn.handle);
        }
        let b = self.buffers;
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; b.tcp_rx]),
            tcp::SocketBuffer::new(vec![0; b.tcp_tx]),
        );
        socket.set_nagle_enabled(false);
        let local = self.ephemeral_port();
        socket
            .connect(
                self.iface.context(),
                (IpAddress::Ipv4(peer.0), peer.1),
                local,
            )
            .map_err(|_| Error::Connection {
                peer: name.to_string(),
                why: "cannot start a connection",
            })?;
        let handle = self.sockets.add(socket);
        let deadline = w.now_ms() + CONNECT_TIMEOUT_MS;
        let mut link = ();
        let result = self.drive(w, &mut link, |dev, now, _, _| {
            let socket = dev.sockets.get_mut::<tcp::Socket>(handle);
            match socket.state() {
                tcp::State::Established => Step::Done(Ok(())),
                tcp::State::Closed => Step::Done(Err(Error::Connection {
                    peer: name.to_string(),
                    why: "connection refused (is the HTTP server running on that port?)",
                })),
                _ if now >= deadline => Step::Done(Err(Error::Connection {
                    peer: name.to_string(),
                    why: "timed out after 15 s (check the address, route and firewall)",
                })),
                _ => Step::Wait(Some(deadline)),
            }
        });
        if let Err(e) = result {
            self.sockets.remove(handle);
            return Err(e);
        }
        if !secure {
            return Ok((handle, None));
        }
        match self.tls_handshake(w, handle, name, host) {
            Ok(session) => Ok((handle, Some(session))),
            Err(e) => {
                self.sockets.get_mut::<tcp::Socket>(handle).abort();
                self.poll(w.now_ms());
                self.sockets.remove(handle);
                Err(e)
            }
        }
    }

    /// Runs the TLS handshake on a connected socket.
    #[cfg(feature = "https")]
    fn tls_handshake(
        &mut self,
        w: &mut impl Waiter,
        handle: smoltcp::iface::SocketHandle,
        peer: &str,
        host: &str,
    ) -> Result<Box<TlsSession>, Error> {
        let (setup, clock) = match &self.tls {
            Some((setup, clock)) => (setup.clone(), *clock),
            None => (
                alloc::sync::Arc::new(
                    crate::tls::TlsSetup::new(&crate::tls::TrustStore::builtin()),
                ),
                None,
            ),
        };
        let tls_error = |cause| Error::Tls {
            peer: peer.to_string(),
            cause,
        };
        let mut session =
            Box::new(crate::tls::TlsClient::new(&setup, host, clock).map_err(tls_error)?);
        session.process().map_err(tls_error)?;
        let deadline = w.now_ms() + CONNECT_TIMEOUT_MS;
        let mut link = ();
        self.drive(w, &mut link, |dev, now, _, _| {
            let socket = dev.sockets.get_mut::<tcp::Socket>(handle);
            if let Err(e) = tls_pump(&mut session, socket, peer, |_| (0, Ok(()))) {
                return Step::Done(Err(e));
            }
            if !session.is_handshaking() && session.outgoing().is_empty() {
                return Step::Done(Ok(()));
            }
            if !socket.may_recv() {
                return Step::Done(Err(tls_error(crate::tls::TlsError::ClosedInHandshake)));
            }
            if now >= deadline {
                return Step::Done(Err(tls_error(crate::tls::TlsError::Timeout)));
            }
            Step::Wait(Some(deadline))
        })?;
        Ok(session)
    }

    #[cfg(not(feature = "https"))]
    fn tls_handshake(
        &mut self,
        _w: &mut impl Waiter,
        _handle: smoltcp::iface::SocketHandle,
        _peer: &str,
        _host: &str,
    ) -> Result<Box<TlsSession>, Error> {
        Err(Error::UnsupportedScheme("https".to_string()))
    }

    /// Keeps a connection for reuse, or closes it (the FIN goes out with later polls).
    fn http_release(
        &mut self,
        handle: smoltcp::iface::SocketHandle,
        (ip, port, host): (Ipv4Addr, u16, &str),
        reusable: bool,
        tls: Option<Box<TlsSession>>,
    ) {
        if !reusable {
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            socket.abort();
        }
        self.http_conn = Some(Connection {
            handle,
            peer: (ip, port),
            tls,
            host: host.to_string(),
        });
    }
}

/// How an HTTP exchange ended.
enum Exchange {
    /// The body is complete; its size and the TLS version and suite (empty for HTTP).
    Done(u64, String),
    /// A redirect: the head to classify.
    Redirect(crate::wire::http::ResponseHead),
}

enum Finished {
    Complete,
    Redirect,
}

/// Feeds everything in `buf` to the reader, copying body bytes into the sink. Returns the
/// bytes consumed for smoltcp and whether to stop.
fn feed_all(
    reader: &mut ResponseReader,
    now: Millis,
    buf: &[u8],
    sink: &mut impl Sink,
    total: &mut Option<u64>,
    finished: &mut Option<Finished>,
) -> (usize, Result<(), Error>) {
    let mut off = 0;
    loop {
        let (n, event) = match reader.feed(now, &buf[off..]) {
            Ok(r) => r,
            Err(e) => return (off, Err(Error::Http(e))),
        };
        off += n;
        match event {
            None => return (off, Ok(())),
            Some(Event::Head(info)) => {
                if (300..400).contains(&info.status) {
                    *finished = Some(Finished::Redirect);
                    return (off, Ok(()));
                }
                if let Some(head) = reader.head()
                    && let Err(e) = Redirects::new(0).check(head)
                {
                    return (off, Err(Error::Http(e)));
                }
                if let Some(len) = info.content_length {
                    *total = Some(len);
                    if let Err(e) = sink.expect_size(len) {
                        return (off, Err(e));
                    }
                }
            }
            Some(Event::Body(data)) => {
                let offset = reader.body_received() - data.len() as u64;
                if let Err(e) = sink.write_at(offset, data) {
                    return (off, Err(e));
                }
            }
            Some(Event::Done) => {
                *finished = Some(Finished::Complete);
                return (off, Ok(()));
            }
        }
    }
}
