//! A private test LAN in a fresh network namespace: a tap device for the VM at
//! 192.0.2.1/24 (TEST-NET-1) and real servers (dnsmasq for DHCP/TFTP, nginx for HTTP)
//! running inside it. Everything started is stopped and the namespace deleted on drop.

use crate::util::{self, Result, cmd};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server's address on the lab LAN.
pub const SERVER_IP: &str = "192.0.2.1";
/// The tap device inside the namespace that QEMU attaches to.
pub const TAP: &str = "nbtap0";
/// Prefix of the namespaces we create; the rest is `<xtask pid>x<sequence>`.
const PREFIX: &str = "nblab";

/// A live lab namespace.
pub struct Lab {
    name: String,
    dir: PathBuf,
    servers: Vec<(String, Child)>,
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
        };
        for args in [
            &["link", "set", "lo", "up"][..],
            &["tuntap", "add", "dev", TAP, "mode", "tap"],
            &["addr", "add", &format!("{SERVER_IP}/24"), "dev", TAP],
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

    /// Starts dnsmasq as DHCP server (192.0.2.100–150) and TFTP server for `tftp_root`,
    /// with scenario-specific extra options (`--dhcp-boot=…`, user-class tags, …).
    pub fn start_dnsmasq(&mut self, tftp_root: &Path, extra: &[String]) -> Result<()> {
        let d = &self.dir;
        let mut c = self.exec("dnsmasq", &[]);
        c.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--user=root",
            "--bind-interfaces",
            &format!("--interface={TAP}"),
            "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h",
            "--enable-tftp",
            "--log-dhcp",
        ]);
        c.arg(format!("--tftp-root={}", tftp_root.display()));
        c.arg(format!(
            "--dhcp-leasefile={}",
            d.join("dnsmasq.leases").display()
        ));
        c.arg(format!("--pid-file={}", d.join("dnsmasq.pid").display()));
        c.arg(format!(
            "--log-facility={}",
            d.join("dnsmasq.log").display()
        ));
        c.args(extra);
        self.start("dnsmasq", c, &d.join("dnsmasq.log"))
    }

    /// Starts nginx serving `root` on http://192.0.2.1/.
    pub fn start_nginx(&mut self, root: &Path) -> Result<()> {
        let conf = self.dir.join("nginx.conf");
        fs::write(
            &conf,
            nginx_conf(&self.dir, &format!("{SERVER_IP}:80"), root),
        )?;
        let mut c = self.exec("nginx", &[]);
        c.arg("-p")
            .arg(&self.dir)
            .arg("-e")
            .arg(self.dir.join("nginx-error.log"));
        c.arg("-c").arg(&conf);
        self.start("nginx", c, &self.dir.join("nginx-error.log"))?;
        self.wait_http(root)
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
    fn wait_http(&self, root: &Path) -> Result<()> {
        let probe = "netboot-lab-probe.txt";
        let content = format!("lab {}\n", self.name);
        fs::write(root.join(probe), &content)?;
        let script = format!(
            "import sys,time,urllib.request\n\
             for _ in range(100):\n\
             \x20 try:\n\
             \x20   d=urllib.request.urlopen('http://{SERVER_IP}/{probe}',timeout=2).read()\n\
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
        delete_namespace(&self.name);
    }
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
