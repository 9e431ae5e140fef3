//! A private test LAN in a fresh network namespace: a bridge at 192.0.2.1/24 (TEST-NET-1)
//! with a tap port for the VM (or netboot-sim), and real servers (dnsmasq for DHCP, DNS
//! and TFTP, atftpd for TFTP with windowsize, nginx and Python's http.server for HTTP)
//! running inside it. A second "peer" namespace at 192.0.2.2, joined by a veth pair,
//! hosts a ProxyDHCP server when a scenario needs one. Everything started is stopped and
//! the namespaces deleted on drop.

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

#[cfg(test)]
mod tests {
    use super::*;

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
