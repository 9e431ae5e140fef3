//! A private test LAN in a fresh network namespace: a bridge at 192.0.2.1/24 (TEST-NET-1)
//! with a tap port for the VM (or netboot-sim), and real servers (dnsmasq for DHCP, DNS
//! and TFTP, atftpd for TFTP with windowsize, nginx and Python's http.server for HTTP,
//! a second nginx for HTTPS with certificates made at test time by [`crate::tlslab`])
//! running inside it. A second "peer" namespace at 192.0.2.2, joined by a veth pair,
//! hosts a ProxyDHCP server when a scenario needs one. Everything started is stopped and
//! the namespaces deleted on drop.

use crate::tlslab;
use crate::util::{self, Result, cmd};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server's address on the lab LAN.
pub const SERVER_IP: &str = "192.0.2.1";
/// The peer (ProxyDHCP) server's address.
pub const PEER_IP: &str = "192.0.2.2";
/// The bridge that carries the server address.
const BRIDGE: &str = "nbbr0";
/// The tap device inside the namespace that QEMU attaches to.
pub const TAP: &str = "nbtap0";
/// Prefix of the namespaces we create; the rest is `<xtask pid>x<sequence>`.
const PREFIX: &str = "nblab";

/// A live lab namespace.
pub struct Lab {
    name: String,
    dir: PathBuf,
    servers: Vec<(String, Child)>,
    peer: Option<String>,
}

impl Lab {
    /// Creates namespace `nblab<pid>x<seq>` with loopback and the tap device up.
    pub fn create(seq: usize, dir: &Path) -> Result<Lab> {
        let name = format!("{PREFIX}{}x{seq}", std::process::id());
        util::run(cmd("ip", &["netns", "add", &name]).stderr(Stdio::inherit()))
            .map_err(|e| format!("cannot create network namespace {name} (needs root): {e}"))?;
        let lab = Lab {
            name,
            dir: dir.to_path_buf(),
            servers: Vec::new(),
            peer: None,
        };
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "add", BRIDGE, "type", "bridge"],
            &["tuntap", "add", "dev", TAP, "mode", "tap"],
            &["link", "set", TAP, "master", BRIDGE],
            &["addr", "add", &format!("{SERVER_IP}/24"), "dev", BRIDGE],
            &["link", "set", BRIDGE, "up"],
            &["link", "set", TAP, "up"],
        ] {
            util::run(&mut lab.exec("ip", args))?;
        }
        Ok(lab)
    }

    /// A command that runs inside the namespace.
    pub fn exec(&self, program: &str, args: &[&str]) -> Command {
        let mut c = cmd("ip", &["netns", "exec", &self.name, program]);
        c.args(args);
        c
    }

    /// Wraps an already-built command so it runs inside the namespace.
    pub fn wrap(&self, inner: &Command) -> Command {
        let mut c = cmd("ip", &["netns", "exec", &self.name]);
        c.arg(inner.get_program()).args(inner.get_args());
        c
    }

    /// Adds the peer namespace at 192.0.2.2, bridged to the LAN.
    fn add_peer(&mut self) -> Result<String> {
        if let Some(p) = &self.peer {
            return Ok(p.clone());
        }
        let peer = format!("{}p", self.name);
        util::run(cmd("ip", &["netns", "add", &peer]).stderr(Stdio::inherit()))?;
        self.peer = Some(peer.clone());
        // Created inside our namespace, so parallel labs never collide on names.
        let add = [
            "link", "add", "nbveth0", "type", "veth", "peer", "name", "nbveth1", "netns", &peer,
        ];
        util::run(&mut self.exec("ip", &add))?;
        util::run(&mut self.exec("ip", &["link", "set", "nbveth0", "master", BRIDGE, "up"]))?;
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", &format!("{PEER_IP}/24"), "dev", "nbveth1"],
            &["link", "set", "nbveth1", "up"],
        ] {
            let mut c = cmd("ip", &["netns", "exec", &peer, "ip"]);
            util::run(c.args(args))?;
        }
        Ok(peer)
    }

    /// Starts dnsmasq as DHCP server (192.0.2.100–150), as TFTP server for `tftp_root`
    /// when given, as DNS server answering `dns` (`name=ip`) entries when any, with
    /// scenario-specific extra options (`--dhcp-boot=…`, user-class tags, …).
    pub fn start_dnsmasq(
        &mut self,
        tftp_root: Option<&Path>,
        dns: &[String],
        extra: &[String],
    ) -> Result<()> {
        let d = &self.dir;
        let mut c = self.exec("dnsmasq", &[]);
        c.args(dnsmasq_base(BRIDGE, d, "dnsmasq"));
        c.arg("--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h");
        if let Some(root) = tftp_root {
            c.arg("--enable-tftp")
                .arg(format!("--tftp-root={}", root.display()));
        }
        if dns.is_empty() {
            c.arg("--port=0");
        } else {
            c.args(["--no-resolv", "--no-hosts"]);
            for entry in dns {
                let (name, ip) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("dns entry {entry:?}: expected name=ip"))?;
                c.arg(format!("--address=/{name}/{ip}"));
            }
        }
        c.args(extra);
        self.start("dnsmasq", c, &d.join("dnsmasq.log"))
    }

    /// Starts a ProxyDHCP server (dnsmasq in proxy mode, also serving `tftp_root` by
    /// TFTP) in the peer namespace.
    pub fn start_proxy_dhcp(&mut self, tftp_root: &Path, extra: &[String]) -> Result<()> {
        let peer = self.add_peer()?;
        let mut c = cmd("ip", &["netns", "exec", &peer, "dnsmasq"]);
        c.args(dnsmasq_base("nbveth1", &self.dir, "proxy"));
        c.args(["--port=0", "--dhcp-range=192.0.2.0,proxy", "--enable-tftp"]);
        c.arg(format!("--tftp-root={}", tftp_root.display()));
        c.args(extra);
        self.start("proxy", c, &self.dir.join("proxy.log"))
    }

    /// Starts atftpd (RFC 7440 windowsize) serving `root` on 192.0.2.1:69.
    pub fn start_atftpd(&mut self, root: &Path) -> Result<()> {
        let mut c = self.exec(
            "atftpd",
            &["--daemon", "--no-fork", "--user", "root", "--group", "root"],
        );
        c.args([
            "--bind-address",
            SERVER_IP,
            "--port",
            "69",
            "--verbose=5",
            "--logfile",
        ]);
        c.arg(self.dir.join("atftpd.log")).arg(root);
        self.start("atftpd", c, &self.dir.join("atftpd.log"))
    }

    /// Starts Python's http.server (HTTP/1.0, connection close) on 192.0.2.1:8000.
    pub fn start_python_http(&mut self, root: &Path) -> Result<()> {
        let mut c = self.exec(
            "python3",
            &[
                "-m",
                "http.server",
                "8000",
                "--bind",
                SERVER_IP,
                "--directory",
            ],
        );
        c.arg(root);
        self.start("python-http", c, &self.dir.join("python-http.out"))?;
        self.wait_http(root, 8000)
    }

    /// Starts nginx serving `root` on http://192.0.2.1/, with 302 `redirects`, and basic
    /// authentication (`user:password`) required under `/private/` when given.
    pub fn start_nginx(
        &mut self,
        root: &Path,
        redirects: &BTreeMap<String, String>,
        basic_auth: Option<&str>,
    ) -> Result<()> {
        let conf = self.dir.join("nginx.conf");
        let mut locations: String = redirects
            .iter()
            .map(|(from, to)| format!("    location = {from} {{ return 302 {to}; }}\n"))
            .collect();
        if let Some(auth) = basic_auth {
            let (user, password) = auth
                .split_once(':')
                .ok_or("basic_auth must be user:password")?;
            let file = self.dir.join("htpasswd");
            fs::write(&file, format!("{user}:{{PLAIN}}{password}\n"))?;
            locations.push_str(&format!(
                "    location /private/ {{ auth_basic \"netboot\"; auth_basic_user_file {}; }}\n",
                file.display()
            ));
        }
        let text = nginx_conf(&self.dir, &format!("{SERVER_IP}:80"), root).replacen(
            "    root ",
            &format!("{locations}    root "),
            1,
        );
        fs::write(&conf, text)?;
        let mut c = self.exec("nginx", &[]);
        c.arg("-p")
            .arg(&self.dir)
            .arg("-e")
            .arg(self.dir.join("nginx-error.log"));
        c.arg("-c").arg(&conf);
        self.start("nginx", c, &self.dir.join("nginx-error.log"))?;
        self.wait_http(root, 80)
    }

    /// Starts a second nginx serving `root` over HTTPS on 192.0.2.1 with the run's
    /// certificates, one server per [`HTTPS_SERVERS`] entry, and waits until every one
    /// answers as intended: the valid ones verify against `certs.ca` with the right TLS
    /// version, the broken ones fail verification for their reason, and the TLS 1.0 one
    /// speaks TLS 1.0 (checked with `openssl s_client -tls1`) and refuses TLS 1.2.
    pub fn start_nginx_tls(&mut self, root: &Path, certs: &tlslab::ServerCerts) -> Result<()> {
        let conf = self.dir.join("nginx-tls.conf");
        fs::write(&conf, nginx_tls_conf(&self.dir, root, certs))?;
        let log = self.dir.join("nginx-tls-error.log");
        let mut c = self.exec("nginx", &[]);
        c.arg("-p").arg(&self.dir).arg("-e").arg(&log);
        c.arg("-c").arg(&conf);
        self.start("nginx-tls", c, &log)?;
        self.wait_https(root, &certs.ca)
    }

    /// Checks every HTTPS server of the lab from inside the namespace (see
    /// [`Lab::start_nginx_tls`]), retrying while nginx is still starting.
    fn wait_https(&self, root: &Path, ca: &Path) -> Result<()> {
        let probe = "netboot-lab-probe.txt";
        let content = format!("lab {}\n", self.name);
        fs::write(root.join(probe), &content)?;
        let script = https_check_script(ca, probe, &content);
        let mut c = self.exec("python3", &["-c", &script]);
        let out = c
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start python3: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the HTTPS lab in {} is not as intended ({}):\n{}{}\n(nginx log: {})",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.dir.join("nginx-tls-error.log").display()
            )
            .into());
        }
        let mut tls10 = self.exec(
            "openssl",
            &[
                "s_client",
                "-connect",
                &format!("{SERVER_IP}:{TLS10_PORT}"),
                "-servername",
                tlslab::HOST,
                "-tls1",
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ],
        );
        let out = tls10
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start openssl s_client: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.contains("New, TLSv1.0, Cipher is") {
            return Err(format!(
                "nginx on port {TLS10_PORT} does not complete a TLS 1.0 handshake \
                 (openssl s_client -tls1, {}):\n{text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    fn start(&mut self, what: &str, mut c: Command, log: &Path) -> Result<()> {
        let out = fs::File::create(self.dir.join(format!("{what}.out")))?;
        c.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let mut child = c.spawn().map_err(|e| format!("cannot start {what}: {e}"))?;
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(Some(status)) = child.try_wait() {
            let text = fs::read_to_string(self.dir.join(format!("{what}.out"))).unwrap_or_default()
                + &fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{what} exited at start ({status}):\n{text}").into());
        }
        self.servers.push((what.to_string(), child));
        Ok(())
    }

    /// Waits until nginx answers with the right bytes for a probe file in `root`.
    fn wait_http(&self, root: &Path, port: u16) -> Result<()> {
        let probe = "netboot-lab-probe.txt";
        let content = format!("lab {}\n", self.name);
        fs::write(root.join(probe), &content)?;
        let script = format!(
            "import sys,time,urllib.request\n\
             for _ in range(100):\n\
             \x20 try:\n\
             \x20   d=urllib.request.urlopen('http://{SERVER_IP}:{port}/{probe}',timeout=2).read()\n\
             \x20   sys.exit(0 if d=={content:?}.encode() else 3)\n\
             \x20 except OSError: time.sleep(0.05)\n\
             sys.exit(4)\n"
        );
        util::run(&mut self.exec("python3", &["-c", &script]))
            .map_err(|e| format!("nginx in {} does not serve {probe}: {e}", self.name).into())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in self.servers.iter_mut().rev() {
            util::terminate(child.id());
        }
        for (_, child) in self.servers.iter_mut().rev() {
            for _ in 0..20 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(peer) = &self.peer {
            delete_namespace(peer);
        }
        delete_namespace(&self.name);
    }
}

/// The dnsmasq options every instance gets: no config file, files in the run directory.
fn dnsmasq_base(interface: &str, dir: &Path, tag: &str) -> Vec<String> {
    let f = |suffix: &str| dir.join(format!("{tag}.{suffix}")).display().to_string();
    vec![
        "--keep-in-foreground".into(),
        "--conf-file=/dev/null".into(),
        "--user=root".into(),
        "--bind-interfaces".into(),
        format!("--interface={interface}"),
        "--log-dhcp".into(),
        format!("--dhcp-leasefile={}", f("leases")),
        format!("--pid-file={}", f("pid")),
        format!("--log-facility={}", f("log")),
    ]
}

fn delete_namespace(name: &str) {
    // Anything still inside (a VM from a crashed run) would keep the tap alive.
    if let Ok(pids) = util::output(&mut cmd("ip", &["netns", "pids", name])) {
        for pid in pids.split_whitespace() {
            let _ = cmd("kill", &["-KILL", pid]).status();
        }
    }
    let _ = cmd("ip", &["netns", "del", name])
        .stderr(Stdio::null())
        .status();
}

/// Deletes lab namespaces left behind by xtask runs that no longer exist (for example
/// after Ctrl-C), so names and taps never collide.
pub fn reap_stale() {
    let Ok(list) = util::output(cmd("ip", &["netns", "list"]).stderr(Stdio::null())) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('x').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            eprintln!("==> removing stale lab namespace {name}");
            delete_namespace(name);
        }
    }
}

/// An nginx configuration that keeps every file it writes inside `dir`.
pub fn nginx_conf(dir: &Path, listen: &str, root: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/nginx-access.log;\n  client_body_temp_path {d}/nginx-body;\n\
         \x20 proxy_temp_path {d}/nginx-proxy;\n  fastcgi_temp_path {d}/nginx-fastcgi;\n\
         \x20 uwsgi_temp_path {d}/nginx-uwsgi;\n  scgi_temp_path {d}/nginx-scgi;\n\
         \x20 default_type application/octet-stream;\n  sendfile on;\n  keepalive_requests 10000;\n\
         \x20 server {{\n    listen {listen};\n    root {};\n  }}\n}}\n",
        root.display()
    )
}

/// What one HTTPS server of the lab is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsCase {
    /// RSA chain for `boot.test`/192.0.2.1, TLS 1.2 and 1.3 (1.3 negotiated).
    Rsa,
    /// ECDSA P-256 chain, TLS 1.2 and 1.3.
    Ecdsa,
    /// Expired leaf (2020-01-01..2021-01-01).
    Expired,
    /// Leaf for `other.test` only.
    WrongHost,
    /// Leaf from a root that is not trusted.
    UnknownCa,
    /// RSA chain, TLS 1.0 only (at OpenSSL security level 0).
    Tls10Only,
    /// RSA chain, TLS 1.2 only.
    Tls12Only,
}

/// The HTTPS servers on 192.0.2.1 (scenario field `https = true`), by port.
pub const HTTPS_SERVERS: &[(u16, TlsCase)] = &[
    (443, TlsCase::Rsa),
    (8443, TlsCase::Ecdsa),
    (8444, TlsCase::Expired),
    (8445, TlsCase::WrongHost),
    (8446, TlsCase::UnknownCa),
    (TLS10_PORT, TlsCase::Tls10Only),
    (8448, TlsCase::Tls12Only),
];

/// The port of the TLS 1.0-only server.
pub const TLS10_PORT: u16 = 8447;

/// The nginx configuration of the HTTPS lab: one TLS server per [`HTTPS_SERVERS`] entry,
/// all serving `root`, with every file nginx writes inside `dir` (`nginx-tls*`).
pub fn nginx_tls_conf(dir: &Path, root: &Path, certs: &tlslab::ServerCerts) -> String {
    let d = dir.display();
    let mut servers = String::new();
    for (port, case) in HTTPS_SERVERS {
        let (cert, protocols, ciphers) = match case {
            TlsCase::Rsa => (&certs.rsa, "TLSv1.2 TLSv1.3", None),
            TlsCase::Ecdsa => (&certs.ecdsa, "TLSv1.2 TLSv1.3", None),
            TlsCase::Expired => (&certs.expired, "TLSv1.2 TLSv1.3", None),
            TlsCase::WrongHost => (&certs.wrong_host, "TLSv1.2 TLSv1.3", None),
            TlsCase::UnknownCa => (&certs.unknown_ca, "TLSv1.2 TLSv1.3", None),
            // Debian's OpenSSL refuses TLS 1.0 above security level 0.
            TlsCase::Tls10Only => (&certs.rsa, "TLSv1", Some("DEFAULT:@SECLEVEL=0")),
            TlsCase::Tls12Only => (&certs.rsa, "TLSv1.2", None),
        };
        servers.push_str(&format!(
            "  server {{\n    listen {SERVER_IP}:{port} ssl;\n    root {};\n\
             \x20   ssl_certificate {};\n    ssl_certificate_key {};\n\
             \x20   ssl_protocols {protocols};\n",
            root.display(),
            cert.chain.display(),
            cert.key.display()
        ));
        if let Some(c) = ciphers {
            servers.push_str(&format!("    ssl_ciphers {c};\n"));
        }
        servers.push_str("  }\n");
    }
    format!(
        "daemon off;\nmaster_process off;\nuser root;\nworker_processes 1;\npid {d}/nginx-tls.pid;\n\
         error_log {d}/nginx-tls-error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/nginx-tls-access.log;\n  client_body_temp_path {d}/nginx-tls-body;\n\
         \x20 proxy_temp_path {d}/nginx-tls-proxy;\n  fastcgi_temp_path {d}/nginx-tls-fastcgi;\n\
         \x20 uwsgi_temp_path {d}/nginx-tls-uwsgi;\n  scgi_temp_path {d}/nginx-tls-scgi;\n\
         \x20 default_type application/octet-stream;\n  sendfile on;\n  keepalive_requests 10000;\n\
         {servers}}}\n"
    )
}

/// A Python program (run inside the lab namespace) that waits for every HTTPS server
/// and checks it serves `probe` with `content` exactly as its [`TlsCase`] intends.
fn https_check_script(ca: &Path, probe: &str, content: &str) -> String {
    let cases: Vec<String> = HTTPS_SERVERS
        .iter()
        .map(|(port, case)| format!("({port},{:?})", format!("{case:?}")))
        .collect();
    format!(
        r#"import socket,ssl,sys,time
CA={ca:?}; IP={SERVER_IP:?}; HOST={host:?}; PROBE={probe:?}; WANT={content:?}.encode()
CASES=[{cases}]
def get(port, name, verify=True):
    ctx = ssl.create_default_context(cafile=CA)
    if not verify:
        ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((IP, port), timeout=3) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (PROBE, name)).encode())
            data = b""
            while True:
                d = s.recv(65536)
                if not d: break
                data += d
            version = s.version()
    head, _, body = data.partition(b"\r\n\r\n")
    if body != WANT:
        raise SystemExit("port %d: wrong answer %r" % (port, head[:80]))
    return version
def refused(port, name, why):
    try:
        get(port, name)
    except ssl.SSLCertVerificationError as e:
        if why not in str(e):
            raise SystemExit("port %d: verification fails with %s, expected %r" % (port, e, why))
        get(port, name, verify=False)
        return
    raise SystemExit("port %d: certificate verifies but should fail with %r" % (port, why))
deadline = time.time() + 10
for port, _ in CASES:
    while True:
        try:
            socket.create_connection((IP, port), timeout=1).close(); break
        except OSError as e:
            if time.time() > deadline: raise SystemExit("port %d: %s" % (port, e))
            time.sleep(0.05)
for port, case in CASES:
    if case == "Rsa":
        v = get(port, HOST)
        if v != "TLSv1.3": raise SystemExit("port %d negotiates %s, not TLSv1.3" % (port, v))
        get(port, IP)
    elif case == "Ecdsa":
        get(port, HOST)
    elif case == "Tls12Only":
        v = get(port, HOST)
        if v != "TLSv1.2": raise SystemExit("port %d negotiates %s, not TLSv1.2" % (port, v))
    elif case == "Expired":
        refused(port, HOST, "certificate has expired")
    elif case == "WrongHost":
        refused(port, HOST, "Hostname mismatch")
    elif case == "UnknownCa":
        refused(port, HOST, "unable to get local issuer certificate")
    elif case == "Tls10Only":
        try:
            get(port, HOST)
        except ssl.SSLError:
            pass
        else:
            raise SystemExit("port %d accepts TLS 1.2 or later" % port)
    else:
        raise SystemExit("unknown case " + case)
"#,
        ca = ca.display().to_string(),
        host = tlslab::HOST,
        cases = cases.join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_tls_conf_has_one_server_per_case() {
        let cert = |n: &str| tlslab::ServerCert {
            chain: PathBuf::from(format!("/w/tls/{n}.fullchain.pem")),
            key: PathBuf::from(format!("/w/tls/{n}.key")),
        };
        let certs = tlslab::ServerCerts {
            ca: PathBuf::from("/w/tls/ca.pem"),
            rsa: cert("rsa"),
            ecdsa: cert("ecdsa"),
            expired: cert("expired"),
            wrong_host: cert("wrong-host"),
            unknown_ca: cert("unknown-ca"),
        };
        let conf = nginx_tls_conf(Path::new("/w"), Path::new("/w/srv"), &certs);
        let servers: Vec<&str> = conf.split("  server {").skip(1).collect();
        assert_eq!(servers.len(), HTTPS_SERVERS.len());
        let server = |port: u16| {
            let listen = format!("listen 192.0.2.1:{port} ssl;");
            *servers
                .iter()
                .find(|s| s.contains(&listen))
                .unwrap_or_else(|| panic!("no server on {port}:\n{conf}"))
        };
        assert!(server(443).contains("rsa.fullchain.pem;"));
        assert!(server(443).contains("ssl_protocols TLSv1.2 TLSv1.3;"));
        assert!(server(8443).contains("ecdsa.fullchain.pem;"));
        assert!(server(8444).contains("expired.key;"));
        assert!(server(8445).contains("wrong-host.fullchain.pem;"));
        assert!(server(8446).contains("unknown-ca.fullchain.pem;"));
        assert!(server(8447).contains("ssl_protocols TLSv1;"));
        assert!(server(8447).contains("ssl_ciphers DEFAULT:@SECLEVEL=0;"));
        assert!(server(8448).contains("ssl_protocols TLSv1.2;"));
        assert_eq!(conf.matches("ssl_ciphers").count(), 1);
        assert_eq!(conf.matches("root /w/srv;").count(), HTTPS_SERVERS.len());
        for line in conf
            .lines()
            .filter(|l| l.contains("_path") || l.contains("log ") || l.starts_with("pid"))
        {
            assert!(line.contains(" /w/nginx-tls"), "{line}");
        }
    }

    #[test]
    fn nginx_conf_confines_files_to_the_run_directory() {
        let conf = nginx_conf(Path::new("/w"), "192.0.2.1:80", Path::new("/w/http"));
        assert!(conf.contains("listen 192.0.2.1:80;"));
        assert!(conf.contains("root /w/http;"));
        for line in conf
            .lines()
            .filter(|l| l.contains("_path") || l.contains("log ") || l.starts_with("pid"))
        {
            assert!(line.contains(" /w/"), "{line}");
        }
    }
}
