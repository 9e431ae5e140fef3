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
    "atftpd",
    "atftp",
    "busybox-static",
    "cpio",
    "mtools",
    "dosfstools",
    "xorriso",
    "iproute2",
    "binutils",
    "gzip",
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
    let mut gzip = cmd("gzip", &["-9n"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("gzip: {e}"))?;
    let mut stdin = gzip.stdin.take().ok_or("gzip has no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(&cpio));
    let out = gzip.wait_with_output()?;
    writer.join().map_err(|_| "gzip writer thread panicked")??;
    if !out.status.success() {
        return Err(format!("gzip failed with {}", out.status).into());
    }
    fs::write(dir.join("initrd.partial"), &out.stdout)?;
    fs::rename(dir.join("initrd.partial"), &initrd)?;
    fs::write(&stamp, INIT_SCRIPT)?;
    Ok(initrd)
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
