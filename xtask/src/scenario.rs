//! QEMU scenarios declared as data: one TOML file per scenario in `xtask/scenarios/`.
//!
//! A scenario names the firmware (OVMF or SeaBIOS), how the image boots (from an ESP,
//! with `-kernel`, or by PXE from the NIC ROM), the network (none, QEMU's user network
//! with its TFTP server, or a private LAN with dnsmasq/nginx — also over HTTPS with
//! certificates made at test time — in a fresh namespace), the
//! console markers that must appear in order, keys to type when a marker appears, the
//! markers that must never appear, and whether the machine must power itself off.
//! Scenarios run in parallel, each in its own directory, namespace and QMP socket.

use crate::firmware::{self, Firmware};
use crate::lab::{self, Lab};
use crate::provision::Assets;
use crate::qemu::{self, Ended, Vm};
use crate::tlslab;
use crate::util::{self, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows, one line.
    pub description: String,
    /// `ovmf` or `seabios`.
    pub firmware: FirmwareKind,
    /// QEMU machine type; `q35` under OVMF and `pc` under SeaBIOS by default.
    pub machine: Option<String>,
    /// Guest memory in MiB.
    #[serde(default = "default_memory")]
    pub memory: u32,
    /// How the image starts (QEMU firmwares only).
    pub boot: Option<BootKind>,
    /// The image: a name in the firmware output (`netboot.efi`, …), `asset:NAME`, or
    /// `repo:PATH` (a file of the repository).
    pub image: Option<String>,
    /// For `firmware = "sim"`: the script netboot-sim runs (`repo:PATH`), or `autoboot`.
    pub script: Option<String>,
    /// For `firmware = "sim"`: extra arguments before the script (`repo:PATH` names a
    /// file of the repository).
    #[serde(default)]
    pub sim_args: Vec<String>,
    /// For `firmware = "sim"`: the exit status netboot-sim must end with.
    #[serde(default)]
    pub exit_status: i32,
    /// Kernel command line for `boot = "kernel"`.
    pub append: Option<String>,
    /// Initrd for `boot = "kernel"` (same naming as `image`).
    pub initrd: Option<String>,
    /// Build the firmware with this script embedded (path relative to the repository).
    pub embed: Option<String>,
    /// `none`, `user` or `lab`.
    #[serde(default)]
    pub network: NetworkKind,
    /// QEMU NIC model.
    #[serde(default = "default_nic")]
    pub nic: String,
    /// For `boot = "pxe"`: keep the NIC's option ROM (QEMU's iPXE), which then is the PXE
    /// client. `false` gives the NIC no ROM (`romfile=`), so OVMF's own driver and PXE
    /// client (VirtioNetDxe, PxeBcDxe) boot it. Without PXE boot, OVMF scenarios always
    /// use OVMF's driver.
    #[serde(default = "default_true")]
    pub nic_rom: bool,
    /// Puts the NIC behind a PCI Express root port (q35) instead of on the root bus: the
    /// firmware's driver then keeps the NIC (netboot.efi drives only root-bus virtio-net
    /// functions itself), so the scenario covers the SNP path.
    #[serde(default)]
    pub nic_behind_bridge: bool,
    /// Files served by TFTP (and by HTTP on the lab), name → image reference (as for
    /// `image`; an absolute path names a host file, such as Debian's
    /// `/usr/lib/ipxe/ipxe.efi`).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Files generated into the served directory: name → size in bytes, pseudo-random
    /// content. Markers may say `{sha256:NAME}` for the digest of any served file.
    #[serde(default)]
    pub generate: BTreeMap<String, u64>,
    /// Extra dnsmasq options on the lab network.
    #[serde(default)]
    pub dnsmasq: Vec<String>,
    /// DNS names dnsmasq answers on the lab (`name=ip`); DNS is off when empty.
    #[serde(default)]
    pub dns: Vec<String>,
    /// The lab's TFTP server: `dnsmasq` (no windowsize) or `atftpd` (RFC 7440).
    #[serde(default)]
    pub tftp_server: TftpServer,
    /// Start nginx on http://192.0.2.1/ on the lab network.
    #[serde(default)]
    pub http: bool,
    /// Start nginx with TLS on 192.0.2.1 on the lab network, with certificates made for
    /// this run (see `xtask/src/tlslab.rs`), all serving the same directory as HTTP:
    /// `:443` RSA chain (TLS 1.2 + 1.3), `:8443` ECDSA P-256 chain, `:8444` expired leaf,
    /// `:8445` leaf for `other.test`, `:8446` leaf from an unknown CA, `:8447` TLS 1.0
    /// only, `:8448` TLS 1.2 only. Valid leaves name `boot.test` and `192.0.2.1`; give
    /// the scenario `dns = ["boot.test=192.0.2.1"]` to use the name.
    #[serde(default)]
    pub https: bool,
    /// For `firmware = "sim"` with `https`: pass `--trust <run dir>/tls/ca.pem` (the lab
    /// CA's RSA and ECDSA roots) to netboot-sim.
    #[serde(default)]
    pub sim_trust: bool,
    /// For QEMU firmwares: build a firmware variant that trusts the lab CA
    /// (`NETBOOT_TRUST=target/netboot/tlslab/ca.pem`), once per run of the harness, like
    /// `embed` variants (and combined with `embed` when both are given).
    #[serde(default)]
    pub trust: bool,
    /// nginx redirects (302): path → target.
    #[serde(default)]
    pub redirects: BTreeMap<String, String>,
    /// nginx requires HTTP basic authentication (`user:password`) under `/private/`.
    pub basic_auth: Option<String>,
    /// Start Python's http.server (HTTP/1.0) on http://192.0.2.1:8000/.
    #[serde(default)]
    pub python_http: bool,
    /// Start a ProxyDHCP server at 192.0.2.2 with these extra dnsmasq options.
    #[serde(default)]
    pub proxy_dhcp: Option<Vec<String>>,
    /// Give the machine a virtio-rng device: OVMF then offers `EFI_RNG_PROTOCOL`, which
    /// netboot.efi seeds TLS from (without it, and without RDRAND, netboot warns).
    #[serde(default)]
    pub rng: bool,
    /// Seconds before the run fails.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Console markers that must appear, in this order.
    pub expect: Vec<String>,
    /// Console markers that fail the run when they appear.
    #[serde(default = "default_reject")]
    pub reject: Vec<String>,
    /// The machine must power itself off (QMP SHUTDOWN reason `guest-shutdown`).
    #[serde(default)]
    pub poweroff: bool,
    /// Keys to type on the serial console once a marker has appeared.
    #[serde(default)]
    pub send: Vec<Send>,
    /// Text that must be on the VGA text screen (80×25 at 0xB8000, read through a second
    /// QMP monitor with `pmemsave`) in this order, checked once every console marker has
    /// appeared and re-read until it matches or `timeout` seconds more have passed. The
    /// screen is read from the running machine, so this needs `poweroff = false`; the
    /// last one read is saved as `vga.txt` in the run directory.
    #[serde(default)]
    pub expect_vga: Vec<String>,
    /// A harness self-test: the run must fail, with an error containing this text.
    /// Proves that the checks above catch what they claim to catch.
    pub must_fail: Option<String>,
}

/// Keys typed after a marker.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// The marker to wait for.
    pub after: String,
    /// The bytes to type (TOML escapes such as `\u0002` for Ctrl-B work).
    pub keys: String,
}

/// Platform firmware.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FirmwareKind {
    /// UEFI (Debian's OVMF).
    Ovmf,
    /// Legacy BIOS (QEMU's SeaBIOS).
    Seabios,
    /// No VM: the host simulator `netboot-sim` on the lab's tap device.
    Sim,
}

/// Which TFTP server the lab runs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TftpServer {
    /// dnsmasq's built-in server.
    #[default]
    Dnsmasq,
    /// atftpd, which implements windowsize.
    Atftpd,
}

/// How the image is started.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BootKind {
    /// OVMF starts `image` as `\EFI\BOOT\BOOTX64.EFI` from a FAT disk.
    Esp,
    /// QEMU's `-kernel` loads `image` (Linux boot protocol).
    Kernel,
    /// The NIC's option ROM PXE-boots `image` over TFTP.
    Pxe,
}

/// The guest network.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// No NIC.
    #[default]
    None,
    /// QEMU user-mode network with its DHCP and TFTP servers.
    User,
    /// A private LAN with real servers in a fresh network namespace.
    Lab,
}

fn default_memory() -> u32 {
    512
}
fn default_true() -> bool {
    true
}
fn default_nic() -> String {
    "virtio-net-pci".into()
}
fn default_timeout() -> u64 {
    120
}
fn default_reject() -> Vec<String> {
    ["panicked", "PANIC"].map(String::from).to_vec()
}

impl Scenario {
    /// Reads and checks one scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut s: Scenario =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        // `{version}` in markers stands for the crate version, so files survive releases.
        for m in s
            .expect
            .iter_mut()
            .chain(s.send.iter_mut().map(|k| &mut k.after))
            .chain(s.expect_vga.iter_mut())
        {
            *m = m.replace("{version}", env!("CARGO_PKG_VERSION"));
        }
        s.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(s)
    }

    fn check(&self) -> Result<()> {
        if self.expect.is_empty() || self.expect.iter().any(String::is_empty) {
            return Err("`expect` must name at least one console marker".into());
        }
        match self.firmware {
            FirmwareKind::Sim => {
                if self.script.is_none() || self.boot.is_some() || self.image.is_some() {
                    return Err("firmware = \"sim\" takes `script`, not `boot`/`image`".into());
                }
                if self.network == NetworkKind::User || self.poweroff {
                    return Err(
                        "netboot-sim runs on network = \"lab\" or \"none\", and does not power off"
                            .into(),
                    );
                }
            }
            FirmwareKind::Ovmf | FirmwareKind::Seabios => {
                let (Some(boot), Some(_)) = (self.boot, &self.image) else {
                    return Err("QEMU scenarios need `boot` and `image`".into());
                };
                if self.script.is_some() || !self.sim_args.is_empty() {
                    return Err("`script` and `sim_args` are for firmware = \"sim\"".into());
                }
                match (boot, self.network, self.firmware) {
                    (BootKind::Pxe, NetworkKind::None, _) => {
                        return Err("boot = \"pxe\" needs a network".into());
                    }
                    (BootKind::Esp, _, FirmwareKind::Seabios) => {
                        return Err("boot = \"esp\" needs firmware = \"ovmf\"".into());
                    }
                    _ => {}
                }
            }
        }
        if self.sim_trust && (self.firmware != FirmwareKind::Sim || !self.https) {
            return Err(
                "`sim_trust` passes the lab CA to netboot-sim: it needs firmware = \"sim\" and https = true"
                    .into(),
            );
        }
        if self.trust && self.firmware == FirmwareKind::Sim {
            return Err(
                "`trust` builds a firmware variant; netboot-sim takes `sim_trust` instead".into(),
            );
        }
        if !self.expect_vga.is_empty() && (self.poweroff || self.firmware == FirmwareKind::Sim) {
            return Err(
                "`expect_vga` reads the screen of a running QEMU machine: it needs poweroff = false"
                    .into(),
            );
        }
        if !self.nic_rom && self.boot != Some(BootKind::Pxe) {
            return Err("`nic_rom = false` is for boot = \"pxe\"".into());
        }
        let lab_only = self.http
            || self.https
            || !self.redirects.is_empty()
            || self.basic_auth.is_some()
            || self.python_http
            || !self.dnsmasq.is_empty()
            || !self.dns.is_empty()
            || self.proxy_dhcp.is_some()
            || self.tftp_server != TftpServer::Dnsmasq;
        if self.network != NetworkKind::Lab && lab_only {
            return Err(
                "lab servers (`http`, `https`, `dnsmasq`, `dns`, `proxy_dhcp`, …) need network = \"lab\""
                    .into(),
            );
        }
        Ok(())
    }
}

/// The scenario directory.
pub fn dir() -> PathBuf {
    util::root().join("xtask").join("scenarios")
}

/// Loads every scenario (or the named ones), sorted by name.
pub fn load_all(names: &[String]) -> Result<Vec<(String, Scenario)>> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir())? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if names.is_empty() || names.contains(&name) {
            all.push((name, Scenario::load(&path)?));
        }
    }
    for n in names {
        if !all.iter().any(|(name, _)| name == n) {
            return Err(format!("no scenario {n:?} in {}", dir().display()).into());
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(all)
}

/// Runs scenarios on `jobs` worker threads and prints a summary line
/// `scenarios: N passed, N failed`. Expects the default firmware to be built.
pub fn run_all(assets: &Assets, names: &[String], jobs: usize) -> Result<()> {
    lab::reap_stale();
    let scenarios = load_all(names)?;
    // The lab CA is made (or checked) once, before firmwares that embed it are built.
    let trust = if scenarios.iter().any(|(_, s)| s.trust || s.https) {
        Some(tlslab::lab_ca()?)
    } else {
        None
    };
    // Firmware variants with embedded scripts or the lab CA are built first, once each.
    let mut variants: BTreeMap<(Option<String>, bool), Firmware> = BTreeMap::new();
    variants.insert(
        (None, false),
        Firmware {
            dir: util::out_dir(),
        },
    );
    // Each variant is built only for the firmwares its scenarios run (OVMF: netboot.efi;
    // SeaBIOS: the BIOS images).
    let mut needs: BTreeMap<(Option<String>, bool), firmware::Which> = BTreeMap::new();
    for (_, s) in &scenarios {
        let key = (s.embed.clone(), s.trust);
        if variants.contains_key(&key) {
            continue;
        }
        let which = match s.firmware {
            FirmwareKind::Ovmf => firmware::Which::Uefi,
            FirmwareKind::Seabios => firmware::Which::Bios,
            FirmwareKind::Sim => firmware::Which::Both,
        };
        needs
            .entry(key)
            .and_modify(|w| *w = w.and(which))
            .or_insert(which);
    }
    for ((embed_name, trusted), which) in needs {
        let embed = embed_name.as_ref().map(|e| util::root().join(e));
        let ca = if trusted {
            Some(trust.as_deref().ok_or("no lab CA")?)
        } else {
            None
        };
        let fw = firmware::build_variant_of(embed.as_deref(), ca, which)?;
        variants.insert((embed_name, trusted), fw);
    }
    eprintln!(
        "==> running {} QEMU scenarios, {jobs} at a time",
        scenarios.len()
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, std::result::Result<f64, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(scenarios.len()).max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, s)) = scenarios.get(i) else {
                        break;
                    };
                    let fw = &variants[&(s.embed.clone(), s.trust)];
                    let started = Instant::now();
                    eprintln!("RUN  {name}: {}", s.description);
                    let outcome = judge(s, run_one(name, s, fw, assets, i))
                        .map(|()| started.elapsed().as_secs_f64());
                    match &outcome {
                        Ok(secs) => eprintln!("PASS {name} ({secs:.1} s)"),
                        Err(e) => eprintln!(
                            "FAIL {name} ({:.1} s): {e}",
                            started.elapsed().as_secs_f64()
                        ),
                    }
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((name.clone(), outcome));
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(n, _)| n)
        .collect();
    println!(
        "scenarios: {} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "failed scenarios: {}",
            failed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into())
    }
}

/// Applies `must_fail`: a self-test passes only when the run failed for the stated reason.
fn judge(s: &Scenario, outcome: Result<()>) -> std::result::Result<(), String> {
    match (&s.must_fail, outcome) {
        (None, Ok(())) => Ok(()),
        (None, Err(e)) => Err(e.to_string()),
        (Some(want), Ok(())) => Err(format!(
            "self-test: the run should have failed with {want:?} but passed"
        )),
        (Some(want), Err(e)) if e.to_string().contains(want.as_str()) => {
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            eprintln!("     failed as it should: {first}");
            Ok(())
        }
        (Some(want), Err(e)) => Err(format!(
            "self-test: expected a failure with {want:?}, got: {e}"
        )),
    }
}

/// Resolves an image reference: `asset:NAME` from the assets, `repo:PATH` from the
/// repository, else a firmware output.
fn resolve(reference: &str, fw: &Firmware, assets: &Assets) -> Result<PathBuf> {
    let path = if let Some(name) = reference.strip_prefix("asset:") {
        assets.dir.join(name)
    } else if let Some(path) = reference.strip_prefix("repo:") {
        util::root().join(path)
    } else {
        fw.file(reference)
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("image {reference:?} not found at {}", path.display()).into())
    }
}

/// Deterministic pseudo-random bytes (xorshift64), so generated files differ by name.
pub(crate) fn generated_content(name: &str, size: u64) -> Vec<u8> {
    let mut state = name.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut out = Vec::with_capacity(size as usize + 8);
    while (out.len() as u64) < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(size as usize);
    out
}

/// Replaces `{sha256:NAME}` in markers with the digest of the served file NAME.
fn expand_markers(markers: &[String], served: &Path) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(markers.len());
    for m in markers {
        let mut text = m.clone();
        while let Some(start) = text.find("{sha256:") {
            let end = text[start..]
                .find('}')
                .ok_or_else(|| format!("unterminated placeholder in {m:?}"))?
                + start;
            let name = &text[start + 8..end];
            let data = fs::read(served.join(name))
                .map_err(|e| format!("{m:?}: served file {name}: {e}"))?;
            let digest: String = Sha256::digest(&data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            text.replace_range(start..=end, &digest);
        }
        out.push(text);
    }
    Ok(out)
}

/// Runs one scenario in `target/netboot/runs/<name>/`.
pub fn run_one(name: &str, s: &Scenario, fw: &Firmware, assets: &Assets, seq: usize) -> Result<()> {
    let work = util::out_dir().join("runs").join(name);
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    // The TFTP/HTTP root shared by QEMU's user network and the lab's servers.
    let serve = work.join("srv");
    fs::create_dir_all(&serve)?;
    for (served, reference) in &s.files {
        // Served names may have directories (`pxelinux.cfg/default`).
        let path = serve.join(served);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(resolve(reference, fw, assets)?, path)?;
    }
    for (served, size) in &s.generate {
        let path = serve.join(served);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, generated_content(served, *size))?;
    }
    let image = s
        .image
        .as_deref()
        .map(|i| resolve(i, fw, assets))
        .transpose()?;
    let boot_file = image
        .as_ref()
        .and_then(|i| i.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("boot")
        .to_string();
    if let (Some(BootKind::Pxe), Some(image)) = (s.boot, &image) {
        fs::copy(image, serve.join(&boot_file))?;
    }
    let expect = expand_markers(&s.expect, &serve)?;

    let mut lab = None;
    let mut tls_ca = None;
    if s.network == NetworkKind::Lab {
        let mut l = Lab::create(seq, &work)?;
        let mut opts = s.dnsmasq.clone();
        if s.boot == Some(BootKind::Pxe) && !opts.iter().any(|o| o.starts_with("--dhcp-boot")) {
            opts.push(format!("--dhcp-boot={boot_file}"));
        }
        let dnsmasq_tftp = (s.tftp_server == TftpServer::Dnsmasq).then_some(serve.as_path());
        l.start_dnsmasq(dnsmasq_tftp, &s.dns, &opts)?;
        if s.tftp_server == TftpServer::Atftpd {
            l.start_atftpd(&serve)?;
        }
        if let Some(proxy) = &s.proxy_dhcp {
            l.start_proxy_dhcp(&serve, proxy)?;
        }
        if s.http {
            l.start_nginx(&serve, &s.redirects, s.basic_auth.as_deref())?;
        }
        if s.python_http {
            l.start_python_http(&serve)?;
        }
        if s.https {
            let certs = tlslab::issue_servers(&work.join("tls"))?;
            l.start_nginx_tls(&serve, &certs)?;
            tls_ca = Some(certs.ca);
        }
        lab = Some(l);
    }

    let qmp = std::env::temp_dir().join(format!("netboot-qmp-{}-{seq}.sock", std::process::id()));
    let command = match (s.firmware, &image) {
        (FirmwareKind::Sim, _) => {
            let mut c = Command::new(fw.file("netboot-sim"));
            c.arg("run");
            if lab.is_some() {
                c.args(["--tap", lab::TAP]);
            }
            if let (true, Some(ca)) = (s.sim_trust, &tls_ca) {
                c.arg("--trust").arg(ca);
            }
            // `repo:PATH` arguments name files of the repository.
            c.args(s.sim_args.iter().map(|a| match a.strip_prefix("repo:") {
                Some(path) => util::root().join(path).into_os_string(),
                None => a.into(),
            }));
            match s.script.as_deref() {
                Some("autoboot") | None => c.arg("autoboot"),
                Some(script) => c.arg(resolve(script, fw, assets)?),
            };
            c
        }
        (_, None) => return Err("no image".into()),
        (_, Some(image)) => {
            let initrd = s
                .initrd
                .as_deref()
                .map(|i| resolve(i, fw, assets))
                .transpose()?;
            qemu_command(s, image, initrd.as_deref(), &work, &serve, &boot_file, &qmp)?
        }
    };
    let command = match &lab {
        Some(l) => l.wrap(&command),
        None => command,
    };
    let log = work.join("console.log");
    let qmp = (s.firmware != FirmwareKind::Sim).then_some(qmp.as_path());
    let mut vm = Vm::spawn(command, qmp, &log)?;
    let mut outcome = watch(&mut vm, s, &expect);
    if outcome.is_ok() && !s.expect_vga.is_empty() {
        outcome = check_vga(s, &work);
    }
    vm.kill();
    drop(lab);
    if outcome.is_ok() {
        // The served files (up to a gigabyte for `efi-large-image`) are copies; a passed
        // run keeps only its logs, so the suite's disk footprint stays small.
        let _ = fs::remove_dir_all(&serve);
    }
    outcome.map_err(|e| {
        format!(
            "{e}\n--- last console lines ({}) ---\n{}\n---",
            log.display(),
            qemu::tail(&vm.text(), 25)
        )
        .into()
    })
}

/// The second QMP monitor of a run with `expect_vga`.
fn vga_qmp(work: &Path) -> PathBuf {
    work.join("vga-qmp.sock")
}

/// Reads the VGA text screen of the running machine into `vga.txt` until the
/// `expect_vga` texts are on it, in order, or the scenario's timeout passes (the screen
/// may still be changing when the console markers are in).
fn check_vga(s: &Scenario, work: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(s.timeout);
    loop {
        let page = qemu::read_guest_memory(
            &vga_qmp(work),
            qemu::VGA_TEXT_ADDR,
            qemu::VGA_TEXT_BYTES,
            &work.join("vga.bin"),
        )?;
        let screen = qemu::vga_text(&page);
        fs::write(work.join("vga.txt"), &screen)?;
        // Messages may wrap at column 80: match on the rows joined without line ends.
        let joined = screen.replace('\n', "");
        match first_missing(&joined, &s.expect_vga) {
            None => return Ok(()),
            Some(m) if Instant::now() >= deadline => {
                return Err(format!(
                    "the VGA text screen does not show {m:?} after {} s:\n{screen}",
                    s.timeout
                )
                .into());
            }
            Some(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// The QEMU command line for a firmware scenario.
fn qemu_command(
    s: &Scenario,
    image: &Path,
    initrd: Option<&Path>,
    work: &Path,
    serve: &Path,
    boot_file: &str,
    qmp: &Path,
) -> Result<Command> {
    let mut q = qemu::base_command(qmp);
    let machine = s.machine.clone().unwrap_or_else(|| match s.firmware {
        FirmwareKind::Ovmf => "q35".into(),
        _ => "pc".into(),
    });
    q.args(["-machine", &machine, "-m", &s.memory.to_string()]);
    if s.rng {
        q.args(["-device", "virtio-rng-pci"]);
    }
    if s.firmware == FirmwareKind::Ovmf {
        let vars = work.join("OVMF_VARS.fd");
        fs::copy(qemu::OVMF_VARS, &vars)
            .map_err(|e| format!("{}: {e} (is ovmf installed?)", qemu::OVMF_VARS))?;
        q.arg("-drive").arg(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            qemu::OVMF_CODE
        ));
        q.arg("-drive")
            .arg(format!("if=pflash,format=raw,file={}", vars.display()));
    } else {
        q.args(["-vga", "std"]);
    }
    if !s.expect_vga.is_empty() {
        q.args(qemu::extra_qmp_arg(&vga_qmp(work)));
    }
    match s.boot {
        Some(BootKind::Esp) => {
            let esp = work.join("esp");
            fs::create_dir_all(esp.join("EFI/BOOT"))?;
            fs::copy(image, esp.join("EFI/BOOT/BOOTX64.EFI"))?;
            q.arg("-drive").arg(format!(
                "file=fat:rw:{},format=raw,if=none,id=esp",
                esp.display()
            ));
            q.args(["-device", "virtio-blk-pci,drive=esp,bootindex=0"]);
        }
        Some(BootKind::Kernel) => {
            q.arg("-kernel").arg(image);
            if let Some(a) = &s.append {
                q.args(["-append", a]);
            }
            if let Some(i) = initrd {
                q.arg("-initrd").arg(i);
            }
        }
        Some(BootKind::Pxe) | None => {}
    }
    // NIC: PXE boot makes it the boot device; otherwise OVMF gets its own driver
    // (`romfile=`) so SNP comes from the platform firmware, not from iPXE.
    let nic_opts = match (s.boot, s.firmware) {
        (Some(BootKind::Pxe), _) if s.nic_rom => ",bootindex=1",
        (Some(BootKind::Pxe), _) => ",bootindex=1,romfile=",
        (_, FirmwareKind::Ovmf) => ",romfile=",
        _ => "",
    };
    let netdev = match s.network {
        NetworkKind::None => None,
        NetworkKind::User if s.boot == Some(BootKind::Pxe) => Some(format!(
            "user,id=n0,tftp={},bootfile={boot_file}",
            serve.display()
        )),
        NetworkKind::User => Some(format!("user,id=n0,tftp={}", serve.display())),
        NetworkKind::Lab => Some(format!(
            "tap,id=n0,ifname={},script=no,downscript=no",
            lab::TAP
        )),
    };
    if let Some(netdev) = netdev {
        let bus = if s.nic_behind_bridge {
            q.args(["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1"]);
            ",bus=rp1"
        } else {
            ""
        };
        q.args([
            "-netdev",
            &netdev,
            "-device",
            &format!("{},netdev=n0{bus}{nic_opts}", s.nic),
        ]);
    }
    Ok(q)
}

/// Follows the console until the scenario's expectations are met or broken.
fn watch(vm: &mut Vm, s: &Scenario, expect: &[String]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(s.timeout);
    let mut sent = vec![false; s.send.len()];
    loop {
        let ended = vm.wait(deadline);
        let text = vm.text();
        if let Some(bad) = s.reject.iter().find(|r| text.contains(r.as_str())) {
            return Err(format!("console shows rejected marker {bad:?}").into());
        }
        for (i, send) in s.send.iter().enumerate() {
            if !sent[i] && text.contains(&send.after) {
                vm.send(send.keys.as_bytes())?;
                sent[i] = true;
            }
        }
        let missing = first_missing(&text, expect);
        match (&ended, missing) {
            // A VM that needs not power off is done when the markers are in; netboot-sim
            // must also exit with the expected status.
            (Ended::Running, None) if !s.poweroff && s.firmware != FirmwareKind::Sim => {
                return Ok(());
            }
            (Ended::Running, _) if Instant::now() >= deadline => {
                return Err(match missing {
                    Some(m) => format!("timed out after {} s waiting for {m:?}", s.timeout),
                    None => format!(
                        "timed out after {} s waiting for the machine to power off",
                        s.timeout
                    ),
                }
                .into());
            }
            (Ended::Running, _) => {}
            (
                Ended::Exited {
                    status,
                    code,
                    reason,
                },
                missing,
            ) => {
                if let Some(m) = missing {
                    return Err(format!(
                        "QEMU exited ({status}, {reason:?}) before {m:?} appeared"
                    )
                    .into());
                }
                if s.firmware == FirmwareKind::Sim && *code != Some(s.exit_status) {
                    return Err(format!(
                        "netboot-sim exited with {status}, expected status {}",
                        s.exit_status
                    )
                    .into());
                }
                if s.poweroff && reason.as_deref() != Some("guest-shutdown") {
                    return Err(format!(
                        "the machine did not power off: QEMU exited ({status}) with shutdown reason {reason:?}"
                    )
                    .into());
                }
                return Ok(());
            }
        }
    }
}

/// The first marker of `expect` not found in order in `text`.
fn first_missing<'a>(text: &str, expect: &'a [String]) -> Option<&'a str> {
    let mut pos = 0;
    for marker in expect {
        match text[pos..].find(marker.as_str()) {
            Some(at) => pos += at + marker.len(),
            None => return Some(marker),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_must_appear_in_order() {
        let expect = vec!["a".to_string(), "b".to_string()];
        assert_eq!(first_missing("xx a yy b", &expect), None);
        assert_eq!(first_missing("b then a", &expect), Some("b"));
        assert_eq!(first_missing("", &expect), Some("a"));
    }

    #[test]
    fn every_scenario_file_parses_and_is_consistent() {
        let all = load_all(&[]).expect("scenarios load");
        assert!(!all.is_empty());
        for (name, s) in &all {
            assert!(!s.description.is_empty(), "{name}");
            // Linux markers must be the one the provisioned initrd prints.
            for e in s.expect.iter().filter(|e| e.starts_with("NETBOOT-INITRD")) {
                assert!(
                    e.starts_with(crate::provision::INITRD_MARKER),
                    "{name}: {e}"
                );
            }
        }
    }

    #[test]
    fn must_fail_inverts_the_verdict_only_for_the_stated_reason() {
        let mut s: Scenario = toml::from_str(
            r#"
            description = "x"
            firmware = "seabios"
            boot = "kernel"
            image = "netboot.lkrn"
            expect = ["netboot"]
            must_fail = "did not power off"
        "#,
        )
        .expect("parses");
        assert!(judge(&s, Err("the machine did not power off: reset".into())).is_ok());
        assert!(judge(&s, Err("timed out".into())).is_err());
        assert!(judge(&s, Ok(())).is_err());
        s.must_fail = None;
        assert!(judge(&s, Ok(())).is_ok());
        assert!(judge(&s, Err("timed out".into())).is_err());
    }

    #[test]
    fn inconsistent_scenarios_are_rejected() {
        let bad = r#"
            description = "x"
            firmware = "seabios"
            boot = "esp"
            image = "netboot.efi"
            expect = ["netboot"]
        "#;
        let s: Scenario = toml::from_str(bad).expect("parses");
        assert!(s.check().is_err());
        let unknown = format!("{bad}\nbogus = 1\n");
        assert!(toml::from_str::<Scenario>(&unknown).is_err());
    }

    #[test]
    fn https_fields_are_checked() {
        let sim = r#"
            description = "x"
            firmware = "sim"
            script = "repo:x.ipxe"
            network = "lab"
            expect = ["x"]
        "#;
        let parse = |extra: &str| -> Scenario {
            toml::from_str(&format!("{sim}\n{extra}\n")).expect("parses")
        };
        assert!(parse("https = true\nsim_trust = true").check().is_ok());
        // The CA handed to netboot-sim only exists with the HTTPS servers.
        let e = parse("sim_trust = true").check().expect_err("needs https");
        assert!(e.to_string().contains("https = true"), "{e}");
        // netboot-sim is not rebuilt with a CA: it takes --trust.
        let e = parse("https = true\ntrust = true")
            .check()
            .expect_err("trust is for firmwares");
        assert!(e.to_string().contains("sim_trust"), "{e}");
        // HTTPS servers live on the lab network only.
        let no_lab = sim.replace("network = \"lab\"", "") + "https = true\n";
        let s: Scenario = toml::from_str(&no_lab).expect("parses");
        assert!(s.check().is_err());
        // The HTTPS scenarios in the tree use what the harness provides.
        let all = load_all(&[]).expect("scenarios load");
        let https: Vec<_> = all.iter().filter(|(_, s)| s.https).collect();
        assert!(https.len() >= 4, "HTTPS scenarios: {}", https.len());
        for (name, s) in https {
            assert!(
                s.dns.iter().any(|d| d == "boot.test=192.0.2.1"),
                "{name}: uses boot.test without the lab's DNS entry"
            );
        }
    }
}
