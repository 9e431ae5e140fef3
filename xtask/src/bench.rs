//! `cargo xtask bench`: netboot.efi side by side with Debian's iPXE in QEMU.
//!
//! Every firmware boots from an ESP under OVMF (TCG, q35, 1024 MiB) on the private lab
//! LAN (dnsmasq DHCP, nginx at http://192.0.2.1/, atftpd at tftp://192.0.2.1/), with
//! `virtio-net-pci,romfile=` so OVMF's VirtioNetDxe binds the NIC and offers SNP (netboot.efi
//! and ipxe.efi replace it with their own virtio-net drivers; snponly.efi uses SNP). Each
//! boot runs one script (by default both downloads):
//!
//! ```text
//! #!ipxe
//! dhcp
//! ifstat
//! echo BENCH-HTTP-START
//! imgfetch http://192.0.2.1/big.bin
//! echo BENCH-HTTP-END
//! imgfree
//! echo BENCH-TFTP-START
//! imgfetch tftp://192.0.2.1/big64.bin
//! echo BENCH-TFTP-END
//! imgfree
//! poweroff
//! ```
//!
//! netboot.efi has the script embedded; the iPXE builds get its URL as DHCP boot file
//! and chain it. The host timestamps the first appearance of each marker line on the
//! serial console; the time between a START and its END is the transfer time. Runs
//! alternate between the firmwares, every run is bounded by a timeout, and a failed
//! run is reported, never dropped. The results go to stdout and into the QEMU section
//! of `BENCHMARKS.md`.

use crate::firmware::{self, Firmware};
use crate::lab::{self, Lab, SERVER_IP};
use crate::provision;
use crate::qemu::{self, Ended, Vm};
use crate::scenario::generated_content;
use crate::tlslab;
use crate::util::{self, Result, cmd};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Upper bound for one QEMU run (boot, DHCP, downloads, power-off).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a run may take to power off after its last marker before it is killed
/// (Debian's 2019 iPXE has no `poweroff` command and falls back to the UEFI shell).
const POWEROFF_GRACE: Duration = Duration::from_secs(5);
/// Longest time between two looks at the console (the wait also returns as soon as the
/// reader thread has new console bytes).
const POLL: Duration = Duration::from_millis(5);
/// Heading of the section this command owns in `BENCHMARKS.md`.
const SECTION: &str = "## QEMU side-by-side with iPXE (`cargo xtask bench`)";
/// Older headings of the same section, replaced when found.
const OLD_SECTIONS: &[&str] = &["## Not written yet: the QEMU side-by-side with iPXE"];
/// iPXE builds shipped by Debian's `ipxe` package.
const IPXE_DIR: &str = "/usr/lib/ipxe";
/// The size target from the issue: Debian's `snponly.efi`.
const SNPONLY_SIZE: u64 = 173_792;
/// The script's name, embedded into netboot and served to iPXE.
const SCRIPT: &str = "bench.ipxe";
/// The NIC's MAC address (QEMU's default), to find the `ifstat` line.
const MAC: &str = "52:54:00:12:34:56";

/// One download measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Http,
    Tftp,
    /// The HTTP file again over TLS (netboot only: Debian's iPXE has no HTTPS).
    Https,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Http => "http",
            Workload::Tftp => "tftp",
            Workload::Https => "https",
        }
    }
    fn file(self) -> &'static str {
        match self {
            Workload::Http | Workload::Https => "big.bin",
            Workload::Tftp => "big64.bin",
        }
    }
    fn size(self) -> u64 {
        match self {
            Workload::Http | Workload::Https => 256 << 20,
            Workload::Tftp => 64 << 20,
        }
    }
    fn url(self) -> String {
        format!("{}://{SERVER_IP}/{}", self.name(), self.file())
    }
    fn title(self) -> &'static str {
        match self {
            Workload::Http => "HTTP 256 MiB (nginx)",
            Workload::Tftp => "TFTP 64 MiB (atftpd)",
            Workload::Https => "HTTPS 256 MiB (nginx, TLS 1.3, RSA chain)",
        }
    }
    fn start(self) -> String {
        format!("BENCH-{}-START", self.name().to_uppercase())
    }
    fn end(self) -> String {
        format!("BENCH-{}-END", self.name().to_uppercase())
    }
}

/// The benchmark script; the same text is embedded in netboot and chained by iPXE.
fn script(workloads: &[Workload]) -> String {
    let mut s = String::from("#!ipxe\ndhcp\nifstat\n");
    for w in workloads {
        let _ = write!(
            s,
            "echo {}\nimgfetch {}\necho {}\nimgfree\n",
            w.start(),
            w.url(),
            w.end()
        );
    }
    s.push_str("poweroff\n");
    s
}

/// A firmware under test.
struct Contender {
    name: &'static str,
    image: PathBuf,
    boot: Boot,
}

/// How OVMF starts a firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Boot {
    /// As `\EFI\BOOT\BOOTX64.EFI` from a virtio-blk ESP.
    Esp,
    /// By OVMF's own PXE client (over its VirtioNetDxe SNP) from the lab's TFTP server:
    /// `snponly.efi` drives only the NIC it was loaded from.
    Pxe,
    /// Under SeaBIOS by QEMU's `-kernel` (the `.lkrn` images), with their own virtio-net
    /// drivers (the NIC has no option ROM).
    Kernel,
}

/// What one boot measured.
#[derive(Clone, Debug)]
struct Run {
    /// QEMU start to the first START marker (OVMF, loading the image, DHCP; iPXE also
    /// its autoboot configuration and the script fetch).
    startup: Option<f64>,
    /// Per workload: START → END in seconds, or why there is no figure.
    transfers: Vec<std::result::Result<f64, String>>,
    /// The `ifstat` line's driver description (`using …`).
    driver: Option<String>,
    /// Whether the machine powered itself off at the end.
    powered_off: bool,
}

struct Options {
    runs: usize,
    workloads: Vec<Workload>,
    /// Whether the boot phase runs (kernel entry and the guest's `wget`).
    boot: bool,
    /// Whether the BIOS phase runs (the workloads with netboot.lkrn and ipxe.lkrn).
    bios: bool,
    /// Whether the HTTPS phase runs (netboot.efi: the HTTP file over HTTP, then HTTPS).
    https: bool,
    snponly: bool,
    write: bool,
    /// Only these firmwares (`--only NAME`, for trying out a setup; the report then lacks
    /// the comparison).
    only: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        runs: 3,
        workloads: Vec::new(),
        boot: false,
        bios: false,
        https: false,
        snponly: true,
        write: true,
        only: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                o.runs = util::count_arg(&mut it, "--runs")?;
            }
            "--no-snponly" => o.snponly = false,
            "--no-write" => o.write = false,
            "--only" => o
                .only
                .push(it.next().ok_or("--only needs a firmware name")?.clone()),
            "http" if !o.workloads.contains(&Workload::Http) => o.workloads.push(Workload::Http),
            "tftp" if !o.workloads.contains(&Workload::Tftp) => o.workloads.push(Workload::Tftp),
            "boot" => o.boot = true,
            "bios" => o.bios = true,
            "https" => o.https = true,
            other => {
                return Err(format!(
                    "bench: unexpected argument {other:?} (phases: http, tftp, boot, bios, https; \
                     options: --runs N, --only NAME, --no-snponly, --no-write)"
                )
                .into());
            }
        }
    }
    if o.workloads.is_empty() && !o.boot && !o.https {
        o.workloads = vec![Workload::Http, Workload::Tftp];
        o.boot = true;
        o.bios = true;
        o.https = true;
    }
    Ok(o)
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let began = Instant::now();
    let assets = provision::run()?;
    let bench_initrd = if opts.boot {
        Some(provision::build_bench_initrd(&assets)?)
    } else {
        None
    };
    lab::reap_stale();
    let work = util::out_dir().join("bench");
    let _ = fs::remove_dir_all(&work);
    let srv = work.join("srv");
    fs::create_dir_all(&srv)?;

    let mut env = Environment::read();
    eprintln!("==> bench: generating the served files");
    let mut served = opts.workloads.clone();
    if (opts.boot || opts.https) && !served.contains(&Workload::Http) {
        // The guest's wget fetches the same 256 MiB file.
        served.push(Workload::Http);
    }
    for w in &served {
        fs::write(srv.join(w.file()), generated_content(w.file(), w.size()))?;
    }
    if let Some(initrd) = &bench_initrd {
        fs::copy(&assets.vmlinuz, srv.join("vmlinuz"))?;
        fs::copy(initrd, srv.join(BENCH_INITRD))?;
    }
    let text = script(&opts.workloads);
    fs::write(srv.join(SCRIPT), &text)?;
    fs::write(work.join(SCRIPT), &text)?;
    fs::write(work.join(BOOT_SCRIPT), boot_script())?;

    // The plain release build gives the sizes; the variant with the script embedded runs.
    // Other work in the same checkout may hold `target/netboot/netboot-sim` open (the last
    // file copied); the firmwares are in place by then, so their sizes still hold.
    let plain = firmware::build_all(None).unwrap_or_else(|e| {
        eprintln!("warning: bench: plain build: {e}; sizes from the files in place");
        Firmware {
            dir: util::out_dir(),
        }
    });
    let without_https = firmware::build_efi_without_https()
        .map_err(|e| eprintln!("warning: bench: build without HTTPS: {e}"))
        .ok();
    let sizes = sizes(&plain, without_https.as_deref());
    let embedded = if opts.workloads.is_empty() {
        plain.clone()
    } else {
        firmware::build_all(Some(&work.join(SCRIPT)))?
    };
    let mut contenders = vec![
        Contender {
            name: "netboot.efi",
            image: embedded.file("netboot.efi"),
            boot: Boot::Esp,
        },
        Contender {
            name: "ipxe.efi",
            image: Path::new(IPXE_DIR).join("ipxe.efi"),
            boot: Boot::Esp,
        },
    ];
    if opts.snponly {
        contenders.push(Contender {
            name: "snponly.efi",
            image: Path::new(IPXE_DIR).join("snponly.efi"),
            boot: Boot::Pxe,
        });
    }
    // The boot phase: netboot.efi with the boot script embedded against ipxe.efi, both
    // from the ESP (snponly.efi would be PXE-booted by OVMF first: not the same setup).
    let mut boot_contenders = Vec::new();
    if opts.boot {
        let embedded_boot = firmware::build_all(Some(&work.join(BOOT_SCRIPT)))?;
        boot_contenders.push(Contender {
            name: "netboot.efi",
            image: embedded_boot.file("netboot.efi"),
            boot: Boot::Esp,
        });
        boot_contenders.push(Contender {
            name: "ipxe.efi",
            image: Path::new(IPXE_DIR).join("ipxe.efi"),
            boot: Boot::Esp,
        });
    }
    // The BIOS phase: the same workloads with the Linux-boot-protocol images, each
    // driving virtio-net itself.
    let mut bios_contenders = Vec::new();
    if opts.bios && !opts.workloads.is_empty() {
        bios_contenders.push(Contender {
            name: "netboot.lkrn",
            image: embedded.file("netboot.lkrn"),
            boot: Boot::Kernel,
        });
        bios_contenders.push(Contender {
            name: "ipxe.lkrn",
            image: Path::new(IPXE_DIR).join("ipxe.lkrn"),
            boot: Boot::Kernel,
        });
    }
    // The HTTPS phase: netboot.efi built trusting the lab CA, with a script that fetches
    // the same file over HTTP and then HTTPS.
    let mut https_contenders = Vec::new();
    if opts.https {
        fs::write(work.join(HTTPS_SCRIPT), script(&HTTPS_WORKLOADS))?;
        let trusted = firmware::build_variant_of(
            Some(&work.join(HTTPS_SCRIPT)),
            Some(&tlslab::lab_ca()?),
            firmware::Which::Uefi,
        )?;
        https_contenders.push(Contender {
            name: "netboot.efi",
            image: trusted.file("netboot.efi"),
            boot: Boot::Esp,
        });
    }
    if opts.workloads.is_empty() {
        contenders.clear();
    }
    if !opts.only.is_empty() {
        let wanted = |c: &Contender| opts.only.iter().any(|o| c.name.starts_with(o.as_str()));
        contenders.retain(wanted);
        boot_contenders.retain(wanted);
        bios_contenders.retain(wanted);
        https_contenders.retain(wanted);
        if contenders.is_empty()
            && boot_contenders.is_empty()
            && bios_contenders.is_empty()
            && https_contenders.is_empty()
        {
            return Err(
                "--only matches none of netboot.efi, ipxe.efi, snponly.efi, netboot.lkrn, ipxe.lkrn"
                    .into(),
            );
        }
    }
    for c in contenders.iter().filter(|c| c.boot == Boot::Pxe) {
        fs::copy(&c.image, srv.join(c.name)).map_err(|e| format!("{}: {e}", c.image.display()))?;
    }

    // iPXE (user class "iPXE") chains the script; OVMF's PXE client gets snponly.efi,
    // from atftpd, which also serves the TFTP download.
    let mut lab = Lab::create(0, &work)?;
    lab.start_dnsmasq(
        None,
        &[],
        &[
            "--dhcp-userclass=set:ipxe,iPXE".into(),
            format!("--dhcp-boot=tag:ipxe,http://{SERVER_IP}/{SCRIPT}"),
            "--dhcp-boot=tag:!ipxe,snponly.efi".into(),
        ],
    )?;
    lab.start_nginx(&srv, &BTreeMap::new(), None)?;
    lab.start_atftpd(&srv)?;
    if !contenders.is_empty() {
        eprintln!(
            "==> bench: {} rounds of {} (script: {})",
            opts.runs,
            contenders
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
            work.join(SCRIPT).display()
        );
    }
    let mut results: Vec<Vec<Run>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..opts.runs {
        for (i, c) in contenders.iter().enumerate() {
            let label = format!("{}-{}", c.name, round + 1);
            let run = run_once(&lab, c, &work.join(&label), &opts.workloads);
            eprintln!("     {label}: {}", describe_run(&run, &opts.workloads));
            results[i].push(run);
        }
    }
    let mut bios_results: Vec<Vec<Run>> = bios_contenders.iter().map(|_| Vec::new()).collect();
    if !bios_contenders.is_empty() {
        eprintln!(
            "==> bench: BIOS phase, {} rounds of netboot.lkrn, ipxe.lkrn",
            opts.runs
        );
        for round in 0..opts.runs {
            for (i, c) in bios_contenders.iter().enumerate() {
                let label = format!("{}-{}", c.name, round + 1);
                let run = run_once(&lab, c, &work.join(&label), &opts.workloads);
                eprintln!("     {label}: {}", describe_run(&run, &opts.workloads));
                bios_results[i].push(run);
            }
        }
    }
    let mut https_results: Vec<Vec<Run>> = https_contenders.iter().map(|_| Vec::new()).collect();
    if !https_contenders.is_empty() {
        let certs = tlslab::issue_servers(&work.join("tls"))?;
        lab.start_nginx_tls(&srv, &certs)?;
        eprintln!(
            "==> bench: HTTPS phase, {} rounds of netboot.efi (script: {})",
            opts.runs,
            work.join(HTTPS_SCRIPT).display()
        );
        for round in 0..opts.runs {
            for (i, c) in https_contenders.iter().enumerate() {
                let label = format!("https-{}-{}", c.name, round + 1);
                let run = run_once(&lab, c, &work.join(&label), &HTTPS_WORKLOADS);
                eprintln!("     {label}: {}", describe_run(&run, &HTTPS_WORKLOADS));
                https_results[i].push(run);
            }
        }
    }
    let mut boot_results: Vec<Vec<BootRun>> = boot_contenders.iter().map(|_| Vec::new()).collect();
    if !boot_contenders.is_empty() {
        // iPXE chains whatever bench.ipxe holds now: the boot script.
        fs::write(srv.join(SCRIPT), boot_script())?;
        eprintln!(
            "==> bench: boot phase, {} rounds of {} (script: {})",
            opts.runs,
            boot_contenders
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
            work.join(BOOT_SCRIPT).display()
        );
        for round in 0..opts.runs {
            for (i, c) in boot_contenders.iter().enumerate() {
                let label = format!("boot-{}-{}", c.name, round + 1);
                let run = run_boot_once(&lab, c, &work.join(&label));
                eprintln!("     {label}: {}", describe_boot_run(&run));
                boot_results[i].push(run);
            }
        }
    }
    drop(lab);
    env.finish(began);

    let section = render(
        &env,
        &opts,
        &Measured {
            contenders: &contenders,
            results: &results,
            boot_contenders: &boot_contenders,
            boot_results: &boot_results,
            bios_contenders: &bios_contenders,
            bios_results: &bios_results,
            https_contenders: &https_contenders,
            https_results: &https_results,
        },
        &sizes,
    );
    println!("{section}");
    if opts.write {
        write_section(&util::root().join("BENCHMARKS.md"), &section)?;
        eprintln!("==> bench: wrote the QEMU section of BENCHMARKS.md");
    }
    let failed = results
        .iter()
        .chain(&bios_results)
        .chain(&https_results)
        .flatten()
        .flat_map(|r| &r.transfers)
        .filter(|t| t.is_err())
        .count()
        + boot_results
            .iter()
            .flatten()
            .filter(|r| r.error.is_some())
            .count();
    eprintln!(
        "==> bench: finished in {:.0} s, {failed} failed transfers",
        began.elapsed().as_secs_f64()
    );
    if failed > 0 {
        return Err(format!("{failed} benchmark runs or transfers failed (reported above)").into());
    }
    Ok(())
}

/// One line per run for the progress output and the raw samples.
fn describe_run(run: &Run, workloads: &[Workload]) -> String {
    let mut parts: Vec<String> = workloads
        .iter()
        .zip(&run.transfers)
        .map(|(w, t)| match t {
            Ok(secs) => format!(
                "{} {secs:.3} s = {:.1} MB/s",
                w.name(),
                mbps(w.size(), *secs)
            ),
            Err(e) => format!("{} FAILED: {}", w.name(), e.replace('|', "/")),
        })
        .collect();
    if let Some(s) = run.startup {
        parts.push(format!("start-up {s:.1} s"));
    }
    if !run.powered_off {
        parts.push("no power-off".into());
    }
    parts.join(", ")
}

/// The QEMU command for one run: OVMF, the firmware on an ESP (or PXE-booted), the NIC
/// driven by OVMF's VirtioNetDxe (`romfile=`) on the lab's tap.
fn qemu_command(c: &Contender, dir: &Path, qmp: &Path) -> Result<Command> {
    if c.boot == Boot::Kernel {
        // SeaBIOS (QEMU's default BIOS). sgabios copies iPXE's INT 10h console to the
        // serial line; netboot writes COM1 itself (and VGA memory, which sga ignores).
        let mut q = qemu::base_command(qmp);
        q.args(["-machine", "pc", "-m", "1024", "-device", "sga"]);
        q.arg("-kernel").arg(&c.image);
        q.args([
            "-netdev",
            &format!("tap,id=n0,ifname={},script=no,downscript=no", lab::TAP),
            "-device",
            "virtio-net-pci,netdev=n0,romfile=",
        ]);
        return Ok(q);
    }
    let vars = dir.join("OVMF_VARS.fd");
    fs::copy(qemu::OVMF_VARS, &vars)?;
    let mut q = qemu::base_command(qmp);
    q.args(["-machine", "q35", "-m", "1024"]);
    q.arg("-drive").arg(format!(
        "if=pflash,format=raw,readonly=on,file={}",
        qemu::OVMF_CODE
    ));
    q.arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()));
    let nic = match c.boot {
        Boot::Esp => {
            let esp = dir.join("esp");
            fs::create_dir_all(esp.join("EFI/BOOT"))?;
            fs::copy(&c.image, esp.join("EFI/BOOT/BOOTX64.EFI"))
                .map_err(|e| format!("{}: {e}", c.image.display()))?;
            q.arg("-drive").arg(format!(
                "file=fat:rw:{},format=raw,if=none,id=esp",
                esp.display()
            ));
            q.args(["-device", "virtio-blk-pci,drive=esp,bootindex=0"]);
            "virtio-net-pci,netdev=n0,romfile="
        }
        Boot::Pxe => "virtio-net-pci,netdev=n0,romfile=,bootindex=0",
        Boot::Kernel => return Err("a -kernel boot takes no OVMF drives".into()),
    };
    q.args([
        "-netdev",
        &format!("tap,id=n0,ifname={},script=no,downscript=no", lab::TAP),
        "-device",
        nic,
    ]);
    Ok(q)
}

/// Boots `image` once in the lab and times the markers. Never fails as a whole: what
/// Starts `c` in the lab with a fresh run directory `dir`: the VM, the instant it
/// started and its console log.
fn start_vm(
    lab: &Lab,
    c: &Contender,
    dir: &Path,
) -> std::result::Result<(Vm, Instant, PathBuf), String> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let qmp = std::env::temp_dir().join(format!("netboot-bench-{}.sock", std::process::id()));
    let command = lab.wrap(&qemu_command(c, dir, &qmp).map_err(|e| e.to_string())?);
    let log = dir.join("console.log");
    let t0 = Instant::now();
    let vm = Vm::spawn(command, Some(&qmp), &log).map_err(|e| e.to_string())?;
    Ok((vm, t0, log))
}

/// went wrong is recorded per workload.
fn run_once(lab: &Lab, c: &Contender, dir: &Path, workloads: &[Workload]) -> Run {
    let failed = |e: String| Run {
        startup: None,
        transfers: workloads.iter().map(|_| Err(e.clone())).collect(),
        driver: None,
        powered_off: false,
    };
    let (mut vm, t0, log) = match start_vm(lab, c, dir) {
        Ok(started) => started,
        Err(e) => return failed(e),
    };
    let mut run = time_markers(&mut vm, t0, workloads);
    vm.kill();
    // Failures carry the console's last lines to the progress output.
    if run.transfers.iter().any(|t| t.is_err()) {
        eprintln!(
            "     console ({}):\n{}",
            log.display(),
            qemu::tail(&vm.text(), 8)
        );
    }
    let text = vm.text();
    let using = format!("{MAC} using ");
    run.driver = text
        .lines()
        .rev()
        .find_map(|l| l.split_once(&using).map(|(_, d)| d))
        .map(|d| d.trim().to_string());
    run
}

/// Follows the console: the instants each START and END marker first appears on a line
/// of its own, in script order, then the power-off.
fn time_markers(vm: &mut Vm, t0: Instant, workloads: &[Workload]) -> Run {
    let markers: Vec<String> = workloads
        .iter()
        .flat_map(|w| [w.start(), w.end()])
        .collect();
    let deadline = t0 + RUN_TIMEOUT;
    // When each marker was seen, and where its line ends in the console text.
    let mut seen: Vec<Instant> = Vec::new();
    let mut pos = 0;
    let error = loop {
        let ended = vm.wait(deadline.min(Instant::now() + POLL));
        let now = Instant::now();
        let text = vm.text();
        if let Some(bad) = ["panicked", "PANIC"].iter().find(|m| text.contains(*m)) {
            break Some(format!("console shows {bad:?}"));
        }
        // Reaching the UEFI shell before the last marker means the firmware gave up.
        if seen.len() < markers.len() && text.contains("Shell> ") {
            break Some("the firmware gave up (OVMF fell back to the UEFI shell)".into());
        }
        while let Some(m) = markers.get(seen.len()) {
            match find_line(&text, pos, m) {
                Some(end) => {
                    pos = end;
                    seen.push(now);
                }
                None => break,
            }
        }
        let missing = markers.get(seen.len()).map(String::as_str);
        if let Some(verdict) = verdict(ended, missing, now, deadline, seen.last()) {
            break verdict;
        }
    };
    let transfers = workloads
        .iter()
        .enumerate()
        .map(|(i, _)| match (seen.get(2 * i), seen.get(2 * i + 1)) {
            (Some(s), Some(e)) => Ok((*e - *s).as_secs_f64()),
            _ => Err(error.clone().unwrap_or_default()),
        })
        .collect();
    Run {
        startup: seen.first().map(|s| (*s - t0).as_secs_f64()),
        transfers,
        driver: None,
        powered_off: error.is_none(),
    }
}

/// The boot phase's script, embedded in netboot and chained by iPXE.
const BOOT_SCRIPT: &str = "bench-boot.ipxe";
/// The benchmark initrd as served (`provision::build_bench_initrd`).
const BENCH_INITRD: &str = "bench-initrd.gz";

/// The boot phase's script: DHCP, then the Debian cloud kernel and the benchmark initrd
/// over HTTP, booted. `initrd=` names the initrd for Debian's 2019 iPXE, whose kernels
/// read it through iPXE's EFI file system; netboot, seeing every initrd named, serves it
/// the same way (its virtual file system) instead of LoadFile2. `earlyprintk` makes the kernel's first line appear as soon as
/// the kernel has set up its early console; `netboot-bench-wget=` makes the initrd time
/// its `wget`.
fn boot_script() -> String {
    format!(
        "#!ipxe\ndhcp\necho BENCH-BOOT-START\n\
         kernel http://{SERVER_IP}/vmlinuz initrd={BENCH_INITRD} console=ttyS0 \
         earlyprintk=ttyS0 panic=-1 netboot-bench-wget={}\n\
         initrd http://{SERVER_IP}/{BENCH_INITRD}\nboot\n",
        Workload::Http.url()
    )
}

/// How a console marker is recognised.
#[derive(Clone, Copy, Debug)]
enum Marker {
    /// A line consisting of this text (blanks aside): never an echoed command line.
    Line(&'static str),
    /// A line containing this text.
    Contains(&'static str),
}

impl Marker {
    fn text(self) -> &'static str {
        match self {
            Marker::Line(t) | Marker::Contains(t) => t,
        }
    }
    /// The offset just past the first matching line at or after `from`.
    fn find(self, text: &str, from: usize) -> Option<usize> {
        match self {
            Marker::Line(m) => find_line(text, from, m),
            Marker::Contains(m) => {
                let at = from + text.get(from..)?.find(m)?;
                // Only a complete line counts, so later markers are looked for after it.
                let end = text[at..].find('\n')? + at + 1;
                Some(end)
            }
        }
    }
}

/// The boot phase's markers, in the order they must appear.
const BOOT_MARKERS: [Marker; 6] = [
    // OVMF, right before StartImage of the ESP's BOOTX64.EFI: the firmware starts.
    Marker::Contains("BdsDxe: starting "),
    Marker::Line("BENCH-BOOT-START"),
    // The kernel's first line (earlyprintk replays the log from its banner).
    Marker::Contains("Linux version "),
    Marker::Contains(provision::BENCH_INIT_MARKER),
    Marker::Contains("BENCH-WGET-START"),
    Marker::Contains("BENCH-WGET-END"),
];
/// Indices into [`BOOT_MARKERS`].
const FIRMWARE_START: usize = 0;
const SCRIPT_START: usize = 1;
const KERNEL: usize = 2;
const WGET_START: usize = 4;
const WGET_END: usize = 5;

/// What one boot-phase run measured: seconds since QEMU started, per marker seen.
#[derive(Clone, Debug)]
struct BootRun {
    /// `BOOT_MARKERS[i]` first seen at `seen[i]` seconds after QEMU started.
    seen: Vec<f64>,
    /// The guest's own timing of its `wget` from `/proc/uptime` (10 ms resolution).
    wget_uptime: Option<f64>,
    /// Why the run did not complete (with the marker it waited for), if it did not.
    error: Option<String>,
    /// How the kernel's EFI stub says it got the initrd (`EFI stub: Loaded initrd …`).
    initrd_via: Option<String>,
}

impl BootRun {
    fn at(&self, i: usize) -> Option<f64> {
        self.seen.get(i).copied()
    }
    /// Seconds between two markers.
    fn between(&self, from: usize, to: usize) -> Option<f64> {
        Some(self.at(to)? - self.at(from)?)
    }
    /// QEMU start → the kernel's first line.
    fn qemu_to_kernel(&self) -> Option<f64> {
        self.at(KERNEL)
    }
    /// OVMF starting the firmware image → the kernel's first line.
    fn firmware_to_kernel(&self) -> Option<f64> {
        self.between(FIRMWARE_START, KERNEL)
    }
    /// The boot script's first marker → the kernel's first line.
    fn script_to_kernel(&self) -> Option<f64> {
        self.between(SCRIPT_START, KERNEL)
    }
    /// The guest's `wget` of the 256 MiB file in MB/s, host-timed.
    fn wget_mbps(&self) -> Option<f64> {
        self.between(WGET_START, WGET_END)
            .map(|s| mbps(Workload::Http.size(), s))
    }
}

/// Boots `c` once with the boot script and follows the console to the guest's power-off.
fn run_boot_once(lab: &Lab, c: &Contender, dir: &Path) -> BootRun {
    let failed = |e: String| BootRun {
        seen: Vec::new(),
        wget_uptime: None,
        error: Some(e),
        initrd_via: None,
    };
    let (mut vm, t0, log) = match start_vm(lab, c, dir) {
        Ok(started) => started,
        Err(e) => return failed(e),
    };
    let (seen, error) = follow(&mut vm, t0, &BOOT_MARKERS);
    vm.kill();
    let text = vm.text();
    if error.is_some() {
        eprintln!(
            "     console ({}):\n{}",
            log.display(),
            qemu::tail(&text, 8)
        );
    }
    BootRun {
        seen: seen.iter().map(|s| (*s - t0).as_secs_f64()).collect(),
        wget_uptime: parse_uptime_line(&text),
        error,
        initrd_via: text
            .lines()
            .find_map(|l| l.split_once("EFI stub: Loaded initrd "))
            .map(|(_, how)| how.trim().to_string()),
    }
}

/// `BENCH-WGET-UPTIME <t0> <t1>` → `t1 - t0`.
fn parse_uptime_line(text: &str) -> Option<f64> {
    let line = text.lines().find_map(|l| {
        l.find("BENCH-WGET-UPTIME ")
            .map(|at| &l[at + "BENCH-WGET-UPTIME ".len()..])
    })?;
    let mut it = line.split_whitespace().map(str::parse::<f64>);
    let (a, b) = (it.next()?.ok()?, it.next()?.ok()?);
    (b >= a).then_some(b - a)
}

/// Follows the console until every marker has appeared (in order) and the machine
/// powered itself off, or something went wrong: the instants each marker was first seen,
/// and the error if any. Bounded by [`RUN_TIMEOUT`], and by [`POWEROFF_GRACE`] after
/// the last marker.
fn follow(vm: &mut Vm, t0: Instant, markers: &[Marker]) -> (Vec<Instant>, Option<String>) {
    let deadline = t0 + RUN_TIMEOUT;
    let mut seen: Vec<Instant> = Vec::new();
    let mut pos = 0;
    let error = loop {
        let ended = vm.wait(deadline.min(Instant::now() + POLL));
        let now = Instant::now();
        let text = vm.text();
        while let Some(m) = markers.get(seen.len()) {
            match m.find(&text, pos) {
                Some(end) => {
                    pos = end;
                    seen.push(now);
                }
                None => break,
            }
        }
        let missing = markers.get(seen.len()).map(|m| m.text());
        if let Some(bad) = ["BENCH-WGET-FAILED", "Kernel panic", "panicked", "PANIC"]
            .iter()
            .find(|m| text.contains(*m))
        {
            let line = text
                .lines()
                .find(|l| l.contains(bad))
                .unwrap_or(bad)
                .trim()
                .to_string();
            break Some(format!("console shows {line:?}"));
        }
        if missing.is_some() && text.contains("Shell> ") {
            break Some("the firmware gave up (OVMF fell back to the UEFI shell)".into());
        }
        if let Some(verdict) = verdict(ended, missing, now, deadline, seen.last()) {
            break verdict;
        }
    };
    (seen, error)
}

/// Whether a followed run is over, and how: `None` to keep following; `Some(None)` when
/// every marker appeared and the guest powered itself off; `Some(Some(error))` otherwise
/// (QEMU exited early, the deadline passed, or no power-off within [`POWEROFF_GRACE`] of
/// the last marker).
fn verdict(
    ended: Ended,
    missing: Option<&str>,
    now: Instant,
    deadline: Instant,
    last_seen: Option<&Instant>,
) -> Option<Option<String>> {
    match (ended, missing) {
        (Ended::Exited { reason, .. }, None) => {
            let off = reason.as_deref() == Some("guest-shutdown");
            Some((!off).then(|| "did not power off".to_string()))
        }
        (Ended::Exited { status, reason, .. }, Some(m)) => Some(Some(format!(
            "QEMU exited ({status}, shutdown reason {reason:?}) before {m:?}"
        ))),
        (Ended::Running, Some(m)) if now >= deadline => Some(Some(format!(
            "timed out after {} s waiting for {m:?}",
            RUN_TIMEOUT.as_secs()
        ))),
        (Ended::Running, None) if last_seen.is_some_and(|&l| now >= l + POWEROFF_GRACE) => {
            Some(Some("did not power off".into()))
        }
        _ => None,
    }
}

/// One line per boot-phase run.
fn describe_boot_run(run: &BootRun) -> String {
    let secs = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:.1} s"));
    let mut parts = vec![
        format!("QEMU → kernel {}", secs(run.qemu_to_kernel())),
        format!("firmware → kernel {}", secs(run.firmware_to_kernel())),
        format!("script → kernel {}", secs(run.script_to_kernel())),
    ];
    match (run.between(WGET_START, WGET_END), run.wget_mbps()) {
        (Some(s), Some(r)) => parts.push(format!("wget {s:.3} s = {r:.1} MB/s")),
        _ => parts.push("wget —".into()),
    }
    if let Some(u) = run.wget_uptime {
        parts.push(format!(
            "guest uptime {u:.2} s = {:.1} MB/s",
            mbps(Workload::Http.size(), u)
        ));
    }
    if let Some(e) = &run.error {
        parts.push(format!("FAILED: {}", e.replace('|', "/")));
    }
    parts.join(", ")
}

/// Everything the runs measured, for [`render`].
struct Measured<'a> {
    contenders: &'a [Contender],
    results: &'a [Vec<Run>],
    boot_contenders: &'a [Contender],
    boot_results: &'a [Vec<BootRun>],
    bios_contenders: &'a [Contender],
    bios_results: &'a [Vec<Run>],
    https_contenders: &'a [Contender],
    https_results: &'a [Vec<Run>],
}

impl Measured<'_> {
    /// The median over one boot-phase contender's runs of `f`.
    fn boot_median(&self, name: &str, f: impl Fn(&BootRun) -> Option<f64>) -> Option<f64> {
        let at = self.boot_contenders.iter().position(|c| c.name == name)?;
        median(
            &self.boot_results[at]
                .iter()
                .filter_map(f)
                .collect::<Vec<_>>(),
        )
    }
    /// The guest's wget rates over every boot-phase run (whichever firmware booted it).
    fn wget_rates(&self) -> Vec<f64> {
        self.boot_results
            .iter()
            .flatten()
            .filter_map(BootRun::wget_mbps)
            .collect()
    }
}

/// The offset just past the first line at or after `from` that consists of `marker`
/// (blanks aside), so echoed command lines such as `echo BENCH-HTTP-START` never count.
fn find_line(text: &str, from: usize, marker: &str) -> Option<usize> {
    let mut pos = from;
    for line in text.get(from..)?.split_inclusive('\n') {
        pos += line.len();
        if line.trim() == marker {
            return Some(pos);
        }
    }
    None
}

/// Decimal megabytes per second.
fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Sizes in bytes: (ours, theirs) pairs by role; the first is netboot.efi without
/// HTTPS (the issue's size target is "without TLS").
fn sizes(
    fw: &Firmware,
    without_https: Option<&Path>,
) -> Vec<(String, Option<u64>, String, Option<u64>)> {
    let len = |p: PathBuf| fs::metadata(p).ok().map(|m| m.len());
    let ipxe = |n: &str| len(Path::new(IPXE_DIR).join(n));
    vec![
        (
            "`netboot.efi` without HTTPS (`NETBOOT_HTTPS=0`)".into(),
            without_https.and_then(|p| len(p.to_path_buf())),
            "snponly.efi".into(),
            ipxe("snponly.efi"),
        ),
        (
            "netboot.efi".into(),
            len(fw.file("netboot.efi")),
            "snponly.efi".into(),
            ipxe("snponly.efi"),
        ),
        (
            "netboot.efi".into(),
            len(fw.file("netboot.efi")),
            "ipxe.efi".into(),
            ipxe("ipxe.efi"),
        ),
        (
            "netboot.kpxe".into(),
            len(fw.file("netboot.kpxe")),
            "undionly.kpxe".into(),
            ipxe("undionly.kpxe"),
        ),
        (
            "netboot.lkrn".into(),
            len(fw.file("netboot.lkrn")),
            "ipxe.lkrn".into(),
            ipxe("ipxe.lkrn"),
        ),
    ]
}

/// Facts about the machine and the run, for the report.
struct Environment {
    date: String,
    cores: usize,
    cpu: String,
    memory: String,
    qemu: String,
    ipxe: String,
    commit: String,
    load_before: String,
    load_after: String,
    minutes: f64,
}

impl Environment {
    fn read() -> Environment {
        let first_line = |c: &mut Command| {
            util::output(c)
                .ok()
                .and_then(|s| s.lines().next().map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        };
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        let dirty = util::output(cmd("git", &["status", "--porcelain"]).current_dir(util::root()))
            .map(|s| !s.trim().is_empty())
            .unwrap_or(false);
        let commit =
            first_line(cmd("git", &["rev-parse", "--short", "HEAD"]).current_dir(util::root()));
        Environment {
            date: first_line(&mut cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: field(&cpuinfo, "model name"),
            memory: field(&meminfo, "MemTotal"),
            qemu: first_line(&mut cmd("qemu-system-x86_64", &["--version"])),
            ipxe: first_line(&mut cmd("dpkg-query", &["-W", "-f=${Version}", "ipxe"])),
            commit: if dirty {
                format!("{commit} plus uncommitted changes in the shared working tree")
            } else {
                commit
            },
            load_before: loadavg(),
            load_after: String::new(),
            minutes: 0.0,
        }
    }

    fn finish(&mut self, began: Instant) {
        self.load_after = loadavg();
        self.minutes = began.elapsed().as_secs_f64() / 60.0;
    }
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The transfer rates (MB/s) of one contender's successful runs of workload `i`.
fn rates(runs: &[Run], i: usize, w: Workload) -> Vec<f64> {
    runs.iter()
        .filter_map(|r| r.transfers.get(i)?.as_ref().ok())
        .map(|secs| mbps(w.size(), *secs))
        .collect()
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

/// The Markdown section.
fn render(
    env: &Environment,
    opts: &Options,
    m: &Measured<'_>,
    sizes: &[(String, Option<u64>, String, Option<u64>)],
) -> String {
    let (contenders, results) = (m.contenders, m.results);
    let median_rate = |name: &str, i: usize, w: Workload| {
        let at = contenders.iter().position(|c| c.name == name)?;
        median(&rates(&results[at], i, w))
    };
    let mut s = String::new();
    let _ = writeln!(s, "{SECTION}\n");
    let _ = writeln!(
        s,
        "Written by `cargo xtask bench` (`xtask/src/bench.rs`); rerunning it replaces this \
         section. Measured {} on {} cores (`nproc`), CPU \"{}\", {} RAM, {}, Debian `ipxe` \
         {}, netboot built from {}. Load average (1/5/15 min) {} before and {} after the \
         {:.1}-minute run: other engineers' builds shared the two cores, so expect \
         run-to-run noise of tens of percent.\n",
        env.date,
        env.cores,
        env.cpu,
        env.memory,
        env.qemu,
        env.ipxe,
        env.commit,
        env.load_before,
        env.load_after,
        env.minutes
    );
    if !contenders.is_empty() {
        let _ = writeln!(
            s,
            "**Setup.** QEMU TCG, `-M q35 -m 1024`, OVMF (`OVMF_CODE_4M.fd`), \
             `-device virtio-net-pci,romfile=` (so OVMF's VirtioNetDxe binds the NIC and provides \
             SNP) on a tap in a private network namespace with dnsmasq (DHCP), nginx on \
             192.0.2.1:80 (sendfile, keep-alive) and atftpd on 192.0.2.1:69. netboot.efi is the \
             release build with the script embedded (`NETBOOT_EMBED`), started as \
             `\\EFI\\BOOT\\BOOTX64.EFI` from a virtio-blk ESP; it disconnects VirtioNetDxe and \
             drives the NIC with its own virtio-net driver (64 KiB receive segments from the tap). \
             The iPXE builds are Debian's: `ipxe.efi` starts from the same ESP and also binds its \
             own virtio-net driver to the NIC (see the `ifstat` lines below); `snponly.efi`, \
             which can only drive the SNP of the NIC it was loaded from, is PXE-booted by OVMF \
             (from atftpd) and shows what the firmware's SNP gives. Both get `http://192.0.2.1/{SCRIPT}` as DHCP boot \
             file (user class `iPXE`) and chain it. Every boot runs the same script:\n"
        );
        let _ = writeln!(s, "```text\n{}```\n", script(&opts.workloads));
        let _ = writeln!(
            s,
            "Rounds alternate the firmwares ({}), {} rounds; each boot has a {} s timeout and \
             is killed {} s after its last marker if it has not powered off (Debian's 2019 iPXE \
             has no `poweroff` command: it prints \"command not found\" and falls back to the \
             UEFI shell, after the timed part). The NIC driver each firmware used, from its \
             `ifstat` line:\n",
            contenders
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(" → "),
            opts.runs,
            RUN_TIMEOUT.as_secs(),
            POWEROFF_GRACE.as_secs()
        );
        for (c, runs) in contenders.iter().zip(results) {
            let mut drivers: Vec<String> = runs.iter().filter_map(|r| r.driver.clone()).collect();
            drivers.dedup();
            let shown = if drivers.is_empty() {
                "(no `ifstat` line seen)".to_string()
            } else {
                drivers
                    .iter()
                    .map(|d| format!("`using {d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(s, "- {}: {shown}", c.name);
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "**What is timed.** The host stamps the first sight of each marker line on the serial \
             console (QEMU `-serial stdio`, read by a thread; the poll wakes on new output and at \
             the latest every {} ms, so the resolution is a few milliseconds, small against \
             transfers of seconds). Transfer = START → END marker: the request, the download \
             into guest memory and the firmware's progress output. MB/s = 10^6 bytes per second. \
             Start-up = QEMU start → first START marker: OVMF, loading the image, DHCP; the iPXE \
             builds additionally run their autoboot configuration (DHCP and IPv6 \
             autoconfiguration, which waits for router advertisements that this LAN never sends) \
             and fetch the script, so start-up is not a like-for-like comparison.\n",
            POLL.as_millis()
        );

        let _ = writeln!(s, "### Throughput (medians of the successful runs)\n");
        throughput_table(&mut s, &opts.workloads, contenders, results, "netboot.efi");
        let _ = writeln!(s);
        let _ = writeln!(s, "Start-up (QEMU start → first START marker), median:\n");
        for (c, runs) in contenders.iter().zip(results) {
            let st: Vec<f64> = runs.iter().filter_map(|r| r.startup).collect();
            let _ = writeln!(s, "- {}: {} s", c.name, fmt_opt(median(&st), 1));
        }
        let _ = writeln!(s);

        let _ = writeln!(s, "### All samples, in run order\n");
        for round in 0..opts.runs {
            for (c, runs) in contenders.iter().zip(results) {
                if let Some(run) = runs.get(round) {
                    let _ = writeln!(
                        s,
                        "- round {}, {}: {}",
                        round + 1,
                        c.name,
                        describe_run(run, &opts.workloads)
                    );
                }
            }
        }
        let _ = writeln!(s);
    }
    render_boot(&mut s, opts, m);
    render_bios(&mut s, opts, m);
    render_https(&mut s, opts, m);

    let _ = writeln!(s, "### Firmware sizes\n");
    let _ = writeln!(
        s,
        "| netboot (release) | bytes | iPXE (Debian) | bytes | ratio |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
    for (ours, a, theirs, b) in sizes {
        let ratio = match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", *a as f64 / *b as f64),
            _ => "—".into(),
        };
        let bytes = |v: &Option<u64>| v.map_or_else(|| "missing".into(), group);
        // Plain file names get code quotes; descriptions bring their own.
        let ours = if ours.contains('`') {
            ours.clone()
        } else {
            format!("`{ours}`")
        };
        let _ = writeln!(
            s,
            "| {ours} | {} | `{theirs}` | {} | {ratio} |",
            bytes(a),
            bytes(b)
        );
    }
    let _ = writeln!(
        s,
        "\n`netboot.efi` here is the plain release build (no embedded script), as \
         `cargo xtask build` makes it: with HTTPS (TLS 1.3/1.2, RustCrypto) and the public \
         root CAs; the first row is the same build without HTTPS. Debian's `ipxe.efi` and \
         `snponly.efi` have no HTTPS."
    );
    let _ = writeln!(s);

    let _ = writeln!(s, "### Against the issue's targets\n");
    let ratio = |w: Workload, theirs: &str| -> Option<f64> {
        let i = opts.workloads.iter().position(|x| *x == w)?;
        Some(median_rate("netboot.efi", i, w)? / median_rate(theirs, i, w)?)
    };
    let verdict = |w: Workload, target: f64| {
        let mut v = match ratio(w, "ipxe.efi") {
            Some(r) if r >= target => format!("{r:.2}× — **met**"),
            Some(r) => format!("{r:.2}× — **not met**"),
            None => "no ratio (failed or not run) — **unknown**".into(),
        };
        if let Some(r) = ratio(w, "snponly.efi") {
            // netboot.efi drives QEMU's root-bus virtio-net itself; snponly.efi uses
            // OVMF's driver through SNP.
            let _ = write!(
                v,
                " (against snponly.efi, which goes through OVMF's SNP: {r:.2}×)"
            );
        }
        v
    };
    let _ = writeln!(s, "| target | measured (medians, netboot.efi ÷ ipxe.efi) |");
    let _ = writeln!(s, "| --- | --- |");
    let _ = writeln!(
        s,
        "| HTTP 256 MiB at least 2× iPXE's throughput | {} |",
        verdict(Workload::Http, 2.0)
    );
    let _ = writeln!(
        s,
        "| TFTP 64 MiB from atftpd with windowsize at least 3× iPXE's | {} |",
        verdict(Workload::Tftp, 3.0)
    );
    let efi = sizes.first().and_then(|(_, a, _, _)| *a);
    let _ = writeln!(
        s,
        "| release netboot.efi without TLS at or below snponly.efi ({} B) | {} |",
        group(SNPONLY_SIZE),
        match efi {
            Some(n) if n <= SNPONLY_SIZE => format!("{} B — **met**", group(n)),
            Some(n) => format!(
                "{} B = {:.2}× snponly.efi — **not met**",
                group(n),
                n as f64 / SNPONLY_SIZE as f64
            ),
            None => "not built — **unknown**".into(),
        }
    );
    let wget = median(&m.wget_rates());
    let http = opts
        .workloads
        .iter()
        .position(|w| *w == Workload::Http)
        .and_then(|i| median_rate("netboot.efi", i, Workload::Http));
    let _ = writeln!(
        s,
        "| HTTP at least 0.7× the Linux guest's own `wget` | {} |\n",
        match (http, wget) {
            (Some(a), Some(b)) => format!(
                "{a:.1} ÷ {b:.1} MB/s = {:.2}× — **{}**",
                a / b,
                if a / b >= 0.7 { "met" } else { "not met" }
            ),
            _ => "no ratio (failed or not run) — **unknown**".into(),
        }
    );
    let _ = writeln!(
        s,
        "**Not measured here.** BIOS boot time and `.kpxe` throughput (over the ROM's UNDI), lossy \
         links, and the integrity of the bytes the firmwares downloaded (a failed \
         `imgfetch` ends the script before its END marker, so a figure always belongs to a \
         complete transfer; the guest's `wget` is checked only by its exit status)."
    );
    s
}

/// A Markdown table of the workloads' medians per firmware, with `ours ÷ this`.
fn throughput_table(
    s: &mut String,
    workloads: &[Workload],
    contenders: &[Contender],
    results: &[Vec<Run>],
    ours: &str,
) {
    let median_rate = |name: &str, i: usize, w: Workload| {
        let at = contenders.iter().position(|c| c.name == name)?;
        median(&rates(&results[at], i, w))
    };
    let _ = writeln!(
        s,
        "| workload | firmware | ok runs | median MB/s | min–max MB/s | {ours} ÷ this |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    for (i, w) in workloads.iter().enumerate() {
        let mine = median_rate(ours, i, *w);
        for (c, runs) in contenders.iter().zip(results) {
            let r = rates(runs, i, *w);
            let m = median(&r);
            let lo = r.iter().copied().reduce(f64::min);
            let hi = r.iter().copied().reduce(f64::max);
            let ratio = match (mine, m) {
                (Some(a), Some(b)) if c.name != ours => format!("{:.2}×", a / b),
                _ => "—".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {}/{} | {} | {}–{} | {ratio} |",
                w.title(),
                c.name,
                r.len(),
                runs.len(),
                fmt_opt(m, 1),
                fmt_opt(lo, 1),
                fmt_opt(hi, 1)
            );
        }
    }
}

/// The BIOS phase's part of the section: the workloads with netboot.lkrn and ipxe.lkrn.
fn render_bios(s: &mut String, opts: &Options, m: &Measured<'_>) {
    if m.bios_contenders.is_empty() {
        return;
    }
    let _ = writeln!(s, "### BIOS: netboot.lkrn and ipxe.lkrn\n");
    let _ = writeln!(
        s,
        "**Setup.** QEMU TCG, `-M pc -m 1024`, SeaBIOS, the image started with `-kernel`, \
         `-device virtio-net-pci,romfile=` on the same lab LAN and servers, so each firmware \
         drives virtio-net with its own driver (netboot's polled virtio driver; iPXE's \
         virtio-net). netboot.lkrn is the release build with the benchmark script embedded; \
         ipxe.lkrn autoboots and chains the same script from DHCP. `-device sga` copies iPXE's \
         BIOS console to the serial line (netboot writes COM1 itself). Same markers, rounds \
         alternating, medians:\n"
    );
    throughput_table(
        s,
        &opts.workloads,
        m.bios_contenders,
        m.bios_results,
        "netboot.lkrn",
    );
    let _ = writeln!(s, "\nAll samples, in run order:\n");
    for round in 0..opts.runs {
        for (c, runs) in m.bios_contenders.iter().zip(m.bios_results) {
            if let Some(run) = runs.get(round) {
                let _ = writeln!(
                    s,
                    "- round {}, {}: {}",
                    round + 1,
                    c.name,
                    describe_run(run, &opts.workloads)
                );
            }
        }
    }
    let _ = writeln!(s);
}

/// The HTTPS phase's script (embedded) and its downloads.
const HTTPS_SCRIPT: &str = "bench-https.ipxe";
const HTTPS_WORKLOADS: [Workload; 2] = [Workload::Http, Workload::Https];

/// The HTTPS phase's part of the section: the same file over HTTP and HTTPS.
fn render_https(s: &mut String, opts: &Options, m: &Measured<'_>) {
    if m.https_contenders.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "### HTTPS: netboot.efi, the same file over HTTP and HTTPS\n"
    );
    let _ = writeln!(
        s,
        "**Setup.** The UEFI setup above (netboot's own virtio-net driver), netboot.efi built with the lab CA \
         embedded (`NETBOOT_TRUST`) and a script that downloads `big.bin` from nginx over HTTP \
         and then over HTTPS (TLS 1.3, RSA 2048 chain made at run time; netboot prefers \
         ChaCha20-Poly1305 on firmware targets, where AES has no hardware help). Debian's \
         iPXE is built without HTTPS, so there is no side-by-side here. Medians:\n"
    );
    throughput_table(
        s,
        &HTTPS_WORKLOADS,
        m.https_contenders,
        m.https_results,
        "netboot.efi",
    );
    if let Some(runs) = m.https_results.first() {
        let http = median(&rates(runs, 0, Workload::Http));
        let https = median(&rates(runs, 1, Workload::Https));
        if let (Some(a), Some(b)) = (http, https) {
            let _ = writeln!(
                s,
                "\nHTTPS runs at {:.2}× netboot.efi's HTTP rate (cost of TLS in software \
                 under TCG).",
                b / a
            );
        }
    }
    let _ = writeln!(s, "\nAll samples, in run order:\n");
    for round in 0..opts.runs {
        for (c, runs) in m.https_contenders.iter().zip(m.https_results) {
            if let Some(run) = runs.get(round) {
                let _ = writeln!(
                    s,
                    "- round {}, {}: {}",
                    round + 1,
                    c.name,
                    describe_run(run, &HTTPS_WORKLOADS)
                );
            }
        }
    }
    let _ = writeln!(s);
}

/// The boot phase's part of the section: firmware start to kernel entry, and the guest's
/// own `wget`.
fn render_boot(s: &mut String, opts: &Options, m: &Measured<'_>) {
    if m.boot_contenders.is_empty() {
        return;
    }
    let _ = writeln!(s, "### Firmware start to kernel entry\n");
    let _ = writeln!(
        s,
        "A second set of boots, on the same QEMU/OVMF/LAN setup, rounds alternating {} \
         ({} rounds, each boot bounded by {} s). netboot.efi has this script embedded (a \
         second release build); ipxe.efi chains it as `http://{SERVER_IP}/{SCRIPT}` after \
         its autoboot DHCP:\n",
        m.boot_contenders
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(" → "),
        opts.runs,
        RUN_TIMEOUT.as_secs()
    );
    let _ = writeln!(s, "```text\n{}```\n", boot_script());
    let _ = writeln!(
        s,
        "The kernel is the provisioned Debian cloud kernel (`target/netboot/assets/vmlinuz`); \
         the initrd (`{BENCH_INITRD}`, built by `provision::build_bench_initrd`) is busybox \
         with the kernel's virtio-net modules (`virtio_net` is `=m` in the cloud kernel's \
         config, so `virtio_ring`, `virtio`, `virtio_pci_modern_dev`, \
         `virtio_pci_legacy_dev`, `virtio_pci`, `failover`, `net_failover`, `virtio_net` \
         are shipped and `insmod`ed in that order). `initrd=` names the initrd so that \
         Debian's 2019 iPXE, which predates LoadFile2 initrds, can hand it over: the EFI stub \
         reads it from the firmware's EFI file system. netboot.efi does the same when the \
         command line names every initrd (it installs LoadFile2 otherwise), so both take the \
         same path. What the stub printed in each run:\n"
    );
    for (c, runs) in m.boot_contenders.iter().zip(m.boot_results) {
        let mut seen: Vec<String> = runs.iter().filter_map(|r| r.initrd_via.clone()).collect();
        seen.dedup();
        let shown = if seen.is_empty() {
            "(no `EFI stub: Loaded initrd` line seen)".to_string()
        } else {
            seen.iter()
                .map(|d| format!("`EFI stub: Loaded initrd {d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "- {}: {shown}", c.name);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "**The instants.** All three are host-side stamps of the first sight of a console \
         line, as for the transfers. *QEMU start*: just before the QEMU process is spawned. \
         *Firmware start*: OVMF's `BdsDxe: starting Boot…` line, which BdsDxe prints after \
         LoadImage of `BOOTX64.EFI` and right before StartImage — the same line for both \
         firmwares, so OVMF's own start-up (identical for both) is excluded. *Script \
         start*: the script's `BENCH-BOOT-START` line. *Kernel entry*: the kernel's first \
         console line, `Linux version …`, printed by the early serial console \
         (`earlyprintk=ttyS0`) as soon as `setup_arch` registers it; this is after the \
         firmware's StartImage of the kernel, the EFI stub (initrd load, ExitBootServices) \
         and the kernel's decompression (the same work whichever firmware loaded it), so \
         *firmware start → kernel entry* = the firmware's own initialisation, NIC bring-up, \
         each firmware's 'Press Ctrl-B' prompt, DHCP, for ipxe.efi its autoboot (DHCP, IPv6 \
         router solicitation, the script's fetch), the script's `dhcp`, the kernel (~{} MiB) and initrd downloads, and that \
         common kernel start-up.\n",
        fs::metadata(util::out_dir().join("assets/vmlinuz"))
            .map(|md| md.len() >> 20)
            .unwrap_or(0)
    );
    let _ = writeln!(
        s,
        "| firmware | ok runs | QEMU start → kernel | firmware start → kernel | script start → kernel |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
    let secs = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:.1} s"));
    for (c, runs) in m.boot_contenders.iter().zip(m.boot_results) {
        let ok = runs.iter().filter(|r| r.qemu_to_kernel().is_some()).count();
        let _ = writeln!(
            s,
            "| {} | {ok}/{} | {} | {} | {} |",
            c.name,
            runs.len(),
            secs(m.boot_median(c.name, BootRun::qemu_to_kernel)),
            secs(m.boot_median(c.name, BootRun::firmware_to_kernel)),
            secs(m.boot_median(c.name, BootRun::script_to_kernel)),
        );
    }
    let ratio = |f: fn(&BootRun) -> Option<f64>| match (
        m.boot_median("netboot.efi", f),
        m.boot_median("ipxe.efi", f),
    ) {
        (Some(a), Some(b)) => format!("{:.2}×", a / b),
        _ => "—".into(),
    };
    let _ = writeln!(
        s,
        "| netboot ÷ ipxe (time; below 1 = netboot faster) | | {} | {} | {} |\n",
        ratio(BootRun::qemu_to_kernel),
        ratio(BootRun::firmware_to_kernel),
        ratio(BootRun::script_to_kernel)
    );
    let _ = writeln!(
        s,
        "Medians of the successful runs. All samples, in run order:\n"
    );
    for round in 0..opts.runs {
        for (c, runs) in m.boot_contenders.iter().zip(m.boot_results) {
            if let Some(run) = runs.get(round) {
                let _ = writeln!(
                    s,
                    "- round {}, {}: {}",
                    round + 1,
                    c.name,
                    describe_boot_run(run)
                );
            }
        }
    }
    let _ = writeln!(s);

    let _ = writeln!(
        s,
        "### The Linux guest's own `wget` (the practical limit)\n"
    );
    let _ = writeln!(
        s,
        "The same boots continue into the initrd's `/init`: it loads the modules, gives \
         `eth0` 192.0.2.250/24 (static, outside the DHCP range), pings 192.0.2.1 once (ARP), \
         prints `BENCH-WGET-START`, runs busybox `wget -q -O /dev/null {}` (the same 256 \
         MiB file from the same nginx), prints `BENCH-WGET-END` and powers off. The host \
         stamps the two lines exactly as it stamps the firmwares' markers; the guest also \
         reports the interval from its `/proc/uptime` (10 ms resolution) as a cross-check. \
         Linux drives the NIC with its own virtio-net driver, so this is the practical \
         limit of this emulated NIC and LAN under TCG.\n",
        Workload::Http.url()
    );
    let rates = m.wget_rates();
    let uptime: Vec<f64> = m
        .boot_results
        .iter()
        .flatten()
        .filter_map(|r| r.wget_uptime)
        .map(|u| mbps(Workload::Http.size(), u))
        .collect();
    let runs = m.boot_results.iter().map(Vec::len).sum::<usize>();
    let _ = writeln!(
        s,
        "| measure | ok runs | median MB/s | min–max MB/s |\n| --- | --- | --- | --- |"
    );
    for (what, r) in [
        ("host-stamped START → END", &rates),
        ("guest `/proc/uptime`", &uptime),
    ] {
        let _ = writeln!(
            s,
            "| {what} | {}/{runs} | {} | {}–{} |",
            r.len(),
            fmt_opt(median(r), 1),
            fmt_opt(r.iter().copied().reduce(f64::min), 1),
            fmt_opt(r.iter().copied().reduce(f64::max), 1)
        );
    }
    let _ = writeln!(s);
    let http = opts
        .workloads
        .iter()
        .position(|w| *w == Workload::Http)
        .map(|i| {
            m.contenders
                .iter()
                .zip(m.results)
                .map(|(c, runs)| (c.name, median(&rates_of(runs, i))))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(w) = median(&rates) {
        let _ = writeln!(
            s,
            "HTTP 256 MiB, firmware ÷ the guest's `wget` (medians):\n"
        );
        for (name, r) in &http {
            if let Some(r) = r {
                let _ = writeln!(s, "- {name}: {r:.1} ÷ {w:.1} MB/s = {:.2}×", r / w);
            }
        }
        let _ = writeln!(s);
    }
}

/// [`rates`] of the HTTP workload at index `i`.
fn rates_of(runs: &[Run], i: usize) -> Vec<f64> {
    rates(runs, i, Workload::Http)
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Replaces this command's section of `path` (or appends it), keeping the rest.
fn write_section(path: &Path, section: &str) -> Result<()> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let updated = replace_section(&text, section);
    let tmp = path.with_extension("md.bench-tmp");
    fs::write(&tmp, updated)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn replace_section(text: &str, section: &str) -> String {
    let headings: Vec<&str> = std::iter::once(SECTION)
        .chain(OLD_SECTIONS.iter().copied())
        .collect();
    let mut out = String::new();
    let mut replaced = false;
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let heading = line.trim_end();
        if skipping {
            if heading.starts_with("## ") {
                skipping = false;
            } else {
                continue;
            }
        }
        if headings.contains(&heading) {
            skipping = true;
            if !replaced {
                out.push_str(section.trim_end());
                out.push_str("\n\n");
                replaced = true;
            }
            continue;
        }
        out.push_str(line);
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(section.trim_end());
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_count_only_on_lines_of_their_own() {
        let (start, end) = (Workload::Http.start(), Workload::Http.end());
        let text = format!("echo {start}\n{start}\nx ok\n{end} \nmore");
        let at = find_line(&text, 0, &start).expect("start");
        assert_eq!(&text[at..at + 4], "x ok");
        assert!(find_line(&text, at, &end).is_some());
        assert!(find_line(&format!("{end}\n{start}\n"), 10, &end).is_none());
    }

    #[test]
    fn the_script_brackets_each_download_with_its_markers() {
        let s = script(&[Workload::Http, Workload::Tftp]);
        assert!(s.starts_with("#!ipxe\ndhcp\n"));
        assert!(s.contains(
            "echo BENCH-HTTP-START\nimgfetch http://192.0.2.1/big.bin\necho BENCH-HTTP-END\n"
        ));
        assert!(s.contains("imgfetch tftp://192.0.2.1/big64.bin\necho BENCH-TFTP-END\n"));
        assert!(s.ends_with("poweroff\n"));
    }

    #[test]
    fn boot_markers_are_found_in_order_on_whole_lines() {
        let text = "BdsDxe: starting Boot0001 \"UEFI Misc Device\"\r\n\
                    echo BENCH-BOOT-START\nBENCH-BOOT-START\n\
                    [    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel)\n\
                    NETBOOT-BENCH-INIT\nBENCH-WGET-START\nBENCH-WGET-END\n\
                    BENCH-WGET-UPTIME 12.34 13.70\n";
        let mut pos = 0;
        for m in BOOT_MARKERS {
            pos = m
                .find(text, pos)
                .unwrap_or_else(|| panic!("{m:?} not found"));
        }
        assert_eq!(pos, text.find("BENCH-WGET-UPTIME").expect("uptime line"));
        // An echoed command is not the marker line; an unfinished line does not count yet.
        assert_eq!(
            Marker::Line("BENCH-BOOT-START").find("echo BENCH-BOOT-START\n", 0),
            None
        );
        assert_eq!(
            Marker::Contains("Linux version ").find("Linux version 6.1", 0),
            None
        );
        let up = parse_uptime_line(text).expect("uptime");
        assert!((up - 1.36).abs() < 1e-9, "{up}");
        assert_eq!(parse_uptime_line("BENCH-WGET-UPTIME 5.0 4.0\n"), None);
        assert_eq!(parse_uptime_line("BENCH-WGET-UPTIME x\n"), None);
    }

    #[test]
    fn boot_runs_compute_their_intervals() {
        let run = BootRun {
            seen: vec![5.0, 9.0, 14.0, 20.0, 21.0, 23.0],
            wget_uptime: None,
            error: None,
            initrd_via: None,
        };
        assert_eq!(run.qemu_to_kernel(), Some(14.0));
        assert_eq!(run.firmware_to_kernel(), Some(9.0));
        assert_eq!(run.script_to_kernel(), Some(5.0));
        let rate = run.wget_mbps().expect("rate");
        assert!((rate - 268.435456 / 2.0).abs() < 1e-9, "{rate}");
        let partial = BootRun {
            seen: vec![5.0, 9.0],
            wget_uptime: None,
            error: Some("timed out".into()),
            initrd_via: None,
        };
        assert_eq!(partial.qemu_to_kernel(), None);
        assert_eq!(partial.wget_mbps(), None);
        assert!(describe_boot_run(&partial).contains("FAILED: timed out"));
    }

    #[test]
    fn the_boot_script_boots_the_kernel_with_the_bench_initrd() {
        let s = boot_script();
        assert!(s.starts_with("#!ipxe\ndhcp\necho BENCH-BOOT-START\n"));
        assert!(s.contains("kernel http://192.0.2.1/vmlinuz initrd=bench-initrd.gz "));
        assert!(s.contains(" earlyprintk=ttyS0 "));
        assert!(s.contains(" netboot-bench-wget=http://192.0.2.1/big.bin\n"));
        assert!(s.ends_with("initrd http://192.0.2.1/bench-initrd.gz\nboot\n"));
    }

    #[test]
    fn phases_are_chosen_by_name() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = parse(&[]).expect("defaults");
        assert_eq!(all.workloads, vec![Workload::Http, Workload::Tftp]);
        assert!(all.boot);
        let boot = parse(&args(&["boot", "--runs", "1"])).expect("boot only");
        assert!(boot.boot && boot.workloads.is_empty());
        assert_eq!(boot.runs, 1);
        let http = parse(&args(&["http"])).expect("http only");
        assert!(!http.boot);
        assert!(parse(&args(&["bogus"])).is_err());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(173_792), "173,792");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000_000), "1,000,000");
    }

    #[test]
    fn the_section_is_replaced_and_the_rest_kept() {
        let old = "# B\n\nintro\n\n## Not written yet: the QEMU side-by-side with iPXE\n\nplan\n\n## Later\n\nkeep\n";
        let new = replace_section(old, &format!("{SECTION}\n\nfigures\n"));
        assert_eq!(
            new,
            format!("# B\n\nintro\n\n{SECTION}\n\nfigures\n\n## Later\n\nkeep\n")
        );
        // Idempotent, and appended when absent.
        assert_eq!(
            replace_section(&new, &format!("{SECTION}\n\nfigures\n")),
            new
        );
        assert_eq!(
            replace_section("# B\n", &format!("{SECTION}\n\nx\n")),
            format!("# B\n\n{SECTION}\n\nx\n")
        );
    }
}
