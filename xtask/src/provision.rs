//! Idempotent installation of everything the project needs on a fresh Debian machine:
//! packages, rustup targets, a real Linux kernel and a busybox test initrd.

use crate::util::{self, Result, cmd};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Debian packages the builds and tests use (see ../shared/docs/testbed.md).
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "ovmf",
    "seabios",
    "ipxe",
    "ipxe-qemu",
    "dnsmasq",
    "nginx",
    "openssl",
    "atftpd",
    "atftp",
    "busybox-static",
    "cpio",
    "mtools",
    "dosfstools",
    "xorriso",
    "wimtools",
    "iproute2",
    "binutils",
    "gzip",
    "xz-utils",
    "zstd",
    "lz4",
    "bzip2",
    "pxelinux",
    "syslinux-common",
];

/// The rustup targets the firmwares build for.
pub const TARGETS: &[&str] = &["x86_64-unknown-uefi", "x86_64-unknown-none"];

/// The marker the test initrd's `/init` prints before it powers the machine off.
pub const INITRD_MARKER: &str = "NETBOOT-INITRD-OK";

/// Files provisioned for tests and the demo.
#[derive(Clone, Debug)]
pub struct Assets {
    /// Directory holding all assets.
    pub dir: PathBuf,
    /// A Debian cloud kernel (bzImage with EFI stub).
    pub vmlinuz: PathBuf,
    /// gzip'd newc cpio with busybox and an `/init` that prints [`INITRD_MARKER`].
    pub initrd: PathBuf,
}

/// Installs what is missing and returns the asset paths.
pub fn run() -> Result<Assets> {
    install_packages()?;
    install_targets()?;
    let dir = util::out_dir().join("assets");
    fs::create_dir_all(&dir)?;
    let vmlinuz = fetch_kernel(&dir)?;
    let initrd = build_initrd(&dir)?;
    Ok(Assets {
        dir,
        vmlinuz,
        initrd,
    })
}

fn installed(package: &str) -> bool {
    cmd("dpkg-query", &["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn install_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "==> provision: installing Debian packages {}",
        missing.join(" ")
    );
    let apt = |args: &[&str]| {
        let mut c = cmd("apt-get", args);
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    util::run(&mut apt(&["update", "-qq"])).map_err(|e| {
        format!("apt-get update: {e} (package installation needs root and Debian's mirrors)")
    })?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    util::run(&mut apt(&args))?;
    Ok(())
}

fn install_targets() -> Result<()> {
    let installed = util::output(&mut cmd("rustup", &["target", "list", "--installed"]))?;
    let missing: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut args = vec!["target", "add"];
    args.extend(&missing);
    util::step("provision: rustup targets", &mut cmd("rustup", &args))
}

/// The versioned kernel package behind Debian's `linux-image-cloud-amd64` metapackage.
fn kernel_package() -> Result<String> {
    let deps = util::output(&mut cmd(
        "apt-cache",
        &["depends", "linux-image-cloud-amd64"],
    ))?;
    parse_kernel_dependency(&deps).ok_or_else(|| {
        format!("apt-cache depends linux-image-cloud-amd64 names no linux-image package:\n{deps}")
            .into()
    })
}

fn parse_kernel_dependency(apt_cache_depends: &str) -> Option<String> {
    apt_cache_depends.lines().find_map(|line| {
        let dep = line.trim().strip_prefix("Depends:")?.trim();
        dep.starts_with("linux-image-").then(|| dep.to_string())
    })
}

fn fetch_kernel(dir: &Path) -> Result<PathBuf> {
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(vmlinuz);
    }
    let package = kernel_package()?;
    let debs = dir.join("debs");
    fs::create_dir_all(&debs)?;
    util::step(
        "provision: test kernel",
        cmd("apt-get", &["download", &package]).current_dir(&debs),
    )?;
    let deb = fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&package) && n.ends_with(".deb"))
        })
        .ok_or_else(|| {
            format!(
                "apt-get download {package} left no .deb in {}",
                debs.display()
            )
        })?;
    // Extract only the kernel, not the ~400 MiB of modules.
    let extract = dir.join("kernel-root");
    let _ = fs::remove_dir_all(&extract);
    fs::create_dir_all(&extract)?;
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -xf - -C '{}' --wildcards './boot/vmlinuz-*'",
        deb.display(),
        extract.display()
    );
    util::run(&mut cmd("sh", &["-c", &script]))?;
    let kernel = fs::read_dir(extract.join("boot"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or("the kernel package holds no boot/vmlinuz-*")?;
    fs::write(dir.join("vmlinuz.version"), format!("{package}\n"))?;
    // Rename last so an interrupted run never leaves a partial kernel behind.
    fs::copy(&kernel, dir.join("vmlinuz.partial"))?;
    fs::rename(dir.join("vmlinuz.partial"), &vmlinuz)?;
    let _ = fs::remove_dir_all(&extract);
    let _ = fs::remove_dir_all(&debs);
    Ok(vmlinuz)
}

/// The test initrd's `/init`: prove it ran, show the command line, power off.
const INIT_SCRIPT: &str = "#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
cmdline=\"$(/bin/busybox cat /proc/cmdline)\"
/bin/busybox echo \"NETBOOT-INITRD-OK cmdline: $cmdline\"
# With netboot-echo on the command line, echo one line typed on the console (tests key input).
case \" $cmdline \" in *\" netboot-echo \"*)
  /bin/busybox echo \"NETBOOT-ECHO ready\"
  read -r line
  /bin/busybox echo \"NETBOOT-ECHO got: $line\";;
esac
/bin/busybox poweroff -f
";

fn build_initrd(dir: &Path) -> Result<PathBuf> {
    let initrd = dir.join("initrd.cpio.gz");
    // The stamp records the /init it was built with, so a changed script rebuilds it.
    let stamp = dir.join("initrd.init");
    if initrd.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == INIT_SCRIPT) {
        return Ok(initrd);
    }
    let busybox =
        fs::read("/bin/busybox").map_err(|e| format!("/bin/busybox (busybox-static): {e}"))?;
    let mut archive = cpio::Writer::default();
    for d in ["bin", "dev", "proc", "sys"] {
        archive.directory(d);
    }
    archive.char_device("dev/console", 0o600, 5, 1);
    archive.file("bin/busybox", 0o755, &busybox);
    archive.file("init", 0o755, INIT_SCRIPT.as_bytes());
    let cpio = archive.finish();
    fs::write(dir.join("initrd.partial"), gzip_bytes(cpio)?)?;
    fs::rename(dir.join("initrd.partial"), &initrd)?;
    fs::write(&stamp, INIT_SCRIPT)?;
    Ok(initrd)
}

/// The marker the benchmark initrd's `/init` prints first, so the host knows Linux's
/// userspace started.
pub const BENCH_INIT_MARKER: &str = "NETBOOT-BENCH-INIT";

/// The kernel modules the Debian cloud kernel needs to drive a virtio-net NIC, in load
/// order (each after the ones it depends on, as the modules' `depends=` fields say).
/// Modules the kernel has built in are simply absent from the package and skipped.
pub const BENCH_MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

/// The benchmark initrd's `/init`: load the virtio-net modules shipped in
/// `/lib/modules`, give `eth0` the static address 192.0.2.250/24 (outside the lab's DHCP
/// range), then, if the command line has `netboot-bench-wget=URL`, time busybox `wget -O
/// /dev/null URL` between two marker lines (the host stamps them) and with the guest's
/// `/proc/uptime`, and power off. Every failure prints a `BENCH-WGET-FAILED` line.
const BENCH_INIT_SCRIPT: &str = "#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B echo NETBOOT-BENCH-INIT
url=
for w in $($B cat /proc/cmdline); do
  case \"$w\" in netboot-bench-wget=*) url=\"${w#netboot-bench-wget=}\";; esac
done
fail() { $B echo \"BENCH-WGET-FAILED: $*\"; $B poweroff -f; exit 1; }
if [ -n \"$url\" ]; then
  for m in $($B cat /lib/modules/load-order); do
    $B insmod /lib/modules/$m.ko || fail \"insmod $m\"
  done
  i=0
  while [ ! -e /sys/class/net/eth0 ]; do
    i=$((i+1)); [ $i -gt 100 ] && fail 'no eth0 after 10 s (virtio-net driver not bound?)'
    $B usleep 100000
  done
  $B ip link set lo up
  $B ip addr add 192.0.2.250/24 dev eth0 || fail 'ip addr add'
  $B ip link set eth0 up || fail 'ip link set eth0 up'
  $B ping -c 1 -W 10 192.0.2.1 >/dev/null || fail 'no answer from 192.0.2.1'
  t0=$($B cut -d' ' -f1 /proc/uptime)
  $B echo BENCH-WGET-START
  $B wget -q -O /dev/null \"$url\" || fail \"wget $url\"
  $B echo BENCH-WGET-END
  t1=$($B cut -d' ' -f1 /proc/uptime)
  $B echo \"BENCH-WGET-UPTIME $t0 $t1\"
fi
$B poweroff -f
";

/// Builds (once; rebuilt when its `/init` or the kernel changes) the benchmark initrd
/// next to the test initrd: busybox-static, [`BENCH_INIT_SCRIPT`] as `/init`, and the
/// kernel's virtio-net modules ([`BENCH_MODULES`], decompressed) taken from the same
/// Debian kernel package as `vmlinuz` (fetched again with `apt-get download`). The test
/// initrd is left as it is.
pub fn build_bench_initrd(assets: &Assets) -> Result<PathBuf> {
    let dir = &assets.dir;
    let initrd = dir.join("bench-initrd.cpio.gz");
    let package = fs::read_to_string(dir.join("vmlinuz.version"))
        .map(|s| s.trim().to_string())
        .map_err(|e| {
            format!(
                "{}: {e} (remove {} to provision the kernel again)",
                dir.join("vmlinuz.version").display(),
                assets.vmlinuz.display()
            )
        })?;
    let stamp_text = format!(
        "{package}\n{}\n{BENCH_INIT_SCRIPT}",
        BENCH_MODULES.join(" ")
    );
    let stamp = dir.join("bench-initrd.stamp");
    if initrd.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text) {
        return Ok(initrd);
    }
    let modules = fetch_modules(dir, &package)?;
    let busybox =
        fs::read("/bin/busybox").map_err(|e| format!("/bin/busybox (busybox-static): {e}"))?;
    let mut archive = cpio::Writer::default();
    for d in ["bin", "dev", "proc", "sys", "lib", "lib/modules"] {
        archive.directory(d);
    }
    archive.char_device("dev/console", 0o600, 5, 1);
    archive.file("bin/busybox", 0o755, &busybox);
    archive.file("init", 0o755, BENCH_INIT_SCRIPT.as_bytes());
    let mut order = String::new();
    for (name, data) in &modules {
        archive.file(&format!("lib/modules/{name}.ko"), 0o644, data);
        order.push_str(name);
        order.push('\n');
    }
    archive.file("lib/modules/load-order", 0o644, order.as_bytes());
    let packed = gzip_bytes(archive.finish())?;
    fs::write(dir.join("bench-initrd.partial"), &packed)?;
    fs::rename(dir.join("bench-initrd.partial"), &initrd)?;
    fs::write(&stamp, stamp_text)?;
    Ok(initrd)
}

/// The [`BENCH_MODULES`] the kernel package ships as modules, decompressed, in load
/// order. Fails when `virtio_net` is neither a module nor built in (`boot/config-*`).
fn fetch_modules(dir: &Path, package: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let debs = dir.join("debs-bench");
    let _ = fs::remove_dir_all(&debs);
    fs::create_dir_all(&debs)?;
    util::step(
        "provision: kernel modules for the benchmark initrd",
        cmd("apt-get", &["download", package]).current_dir(&debs),
    )?;
    let deb = fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| {
            format!(
                "apt-get download {package} left no .deb in {}",
                debs.display()
            )
        })?;
    let extract = debs.join("root");
    fs::create_dir_all(&extract)?;
    let mut patterns = vec!["'./boot/config-*'".to_string()];
    for m in BENCH_MODULES {
        patterns.push(format!("'./lib/modules/*/{m}.ko*'"));
    }
    // GNU tar fails when a pattern matches nothing (a built-in module): list first.
    let listing = util::output(&mut cmd(
        "sh",
        &[
            "-c",
            &format!("dpkg-deb --fsys-tarfile '{}' | tar -tf -", deb.display()),
        ],
    ))?;
    let wanted: Vec<&str> = listing
        .lines()
        .filter(|l| {
            let base = l.rsplit('/').next().unwrap_or("");
            let stem = base.split(".ko").next().unwrap_or("");
            (l.starts_with("./boot/config-"))
                || (l.starts_with("./lib/modules/")
                    && base.contains(".ko")
                    && BENCH_MODULES.contains(&stem))
        })
        .collect();
    let list = debs.join("wanted.txt");
    fs::write(&list, wanted.join("\n") + "\n")?;
    util::run(&mut cmd(
        "sh",
        &[
            "-c",
            &format!(
                "dpkg-deb --fsys-tarfile '{}' | tar -xf - -C '{}' -T '{}'",
                deb.display(),
                extract.display(),
                list.display()
            ),
        ],
    ))?;
    let config = wanted
        .iter()
        .find(|l| l.starts_with("./boot/config-"))
        .and_then(|l| fs::read_to_string(extract.join(l)).ok())
        .unwrap_or_default();
    let mut modules = Vec::new();
    for m in BENCH_MODULES {
        let Some(path) = wanted.iter().find(|l| {
            let base = l.rsplit('/').next().unwrap_or("");
            base.split(".ko").next() == Some(*m)
        }) else {
            continue;
        };
        let file = extract.join(path);
        let data = if path.ends_with(".ko") {
            fs::read(&file)?
        } else {
            let tool = if path.ends_with(".xz") {
                "xz"
            } else if path.ends_with(".zst") {
                "zstd"
            } else if path.ends_with(".gz") {
                "gzip"
            } else {
                return Err(format!("{path}: unknown module compression").into());
            };
            let out = cmd(tool, &["-dc"])
                .arg(&file)
                .output()
                .map_err(|e| format!("{tool} -dc {path}: {e} (install {tool})"))?;
            if !out.status.success() {
                return Err(format!("{tool} -dc {path} failed with {}", out.status).into());
            }
            out.stdout
        };
        modules.push((m.to_string(), data));
    }
    let builtin = config.lines().any(|l| l.trim() == "CONFIG_VIRTIO_NET=y");
    if !builtin && !modules.iter().any(|(n, _)| n == "virtio_net") {
        return Err(format!(
            "{package} has neither virtio_net.ko nor CONFIG_VIRTIO_NET=y in boot/config-*: \
             the benchmark guest could not drive its NIC"
        )
        .into());
    }
    let _ = fs::remove_dir_all(&debs);
    Ok(modules)
}

/// `gzip -9n` of `data`.
fn gzip_bytes(data: Vec<u8>) -> Result<Vec<u8>> {
    let mut gzip = cmd("gzip", &["-9n"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("gzip: {e}"))?;
    let mut stdin = gzip.stdin.take().ok_or("gzip has no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = gzip.wait_with_output()?;
    writer.join().map_err(|_| "gzip writer thread panicked")??;
    if !out.status.success() {
        return Err(format!("gzip failed with {}", out.status).into());
    }
    Ok(out.stdout)
}

/// A minimal writer for the `newc` cpio format the Linux initramfs unpacker reads.
mod cpio {
    /// Accumulates an archive in memory.
    #[derive(Default)]
    pub struct Writer {
        out: Vec<u8>,
        ino: u32,
    }

    impl Writer {
        pub fn directory(&mut self, name: &str) {
            self.entry(name, 0o040_755, (0, 0), &[]);
        }
        pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
            self.entry(name, 0o020_000 | perm, (major, minor), &[]);
        }
        pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
            self.entry(name, 0o100_000 | perm, (0, 0), data);
        }
        pub fn finish(mut self) -> Vec<u8> {
            self.entry("TRAILER!!!", 0, (0, 0), &[]);
            self.out
        }

        fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
            self.ino += 1;
            let nlink = if mode & 0o170_000 == 0o040_000 { 2 } else { 1 };
            let fields = [
                self.ino,
                mode,
                0,
                0,
                nlink,
                0,
                data.len() as u32,
                0,
                0,
                rdev.0,
                rdev.1,
                name.len() as u32 + 1,
                0,
            ];
            self.out.extend_from_slice(b"070701");
            for f in fields {
                self.out.extend_from_slice(format!("{f:08x}").as_bytes());
            }
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(0);
            self.pad();
            self.out.extend_from_slice(data);
            self.pad();
        }

        fn pad(&mut self) {
            while !self.out.len().is_multiple_of(4) {
                self.out.push(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_dependency_is_the_versioned_image() {
        let text = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(
            parse_kernel_dependency(text).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(parse_kernel_dependency("linux-image-cloud-amd64\n"), None);
    }

    #[test]
    fn cpio_is_newc_and_padded() {
        let mut w = cpio::Writer::default();
        w.file("init", 0o755, b"abc");
        let out = w.finish();
        assert!(out.starts_with(b"070701"));
        // Header 110 bytes + "init\0" = 115, padded to 116; data 3 padded to 4.
        assert_eq!(&out[110..115], b"init\0");
        assert_eq!(&out[116..119], b"abc");
        assert_eq!(&out[120..126], b"070701");
        assert_eq!(out.len() % 4, 0);
        let trailer = out
            .windows(10)
            .position(|w| w == b"TRAILER!!!")
            .expect("trailer present");
        assert_eq!(trailer, 120 + 110);
        // File size field of the first entry (7th field) is 3.
        assert_eq!(&out[6 + 6 * 8..6 + 7 * 8], b"00000003");
    }
}
