//! Building the firmwares and the host simulator into `target/netboot/`.

use crate::util::{self, Result, cmd};
use std::fs;
use std::path::{Path, PathBuf};

const UEFI: &str = "x86_64-unknown-uefi";
const BARE: &str = "x86_64-unknown-none";

/// The packages built (and linted) for each firmware target.
pub const TARGET_PACKAGES: &[(&str, &[&str])] = &[
    (
        UEFI,
        &[
            "efi-firmware",
            "netboot-efi",
            "netboot-core",
            "netboot-script",
            "netboot-image",
        ],
    ),
    (
        BARE,
        &[
            "bios-firmware",
            "netboot-bios",
            "netboot-core",
            "netboot-script",
            "netboot-image",
        ],
    ),
];

/// iPXE refuses PXE NBPs larger than 0xA0000 − 0x7C00 bytes (platform-notes §2.6).
const NBP_MAX: u64 = 0x98400;

/// The built artefacts.
#[derive(Clone, Debug)]
pub struct Firmware {
    /// Directory holding the files below.
    pub dir: PathBuf,
}

impl Firmware {
    /// Path of an artefact by file name (`netboot.efi`, `netboot.kpxe`, …). A variant
    /// with an embedded script holds only the firmwares; anything else (`netboot-sim`)
    /// comes from the default build.
    pub fn file(&self, name: &str) -> PathBuf {
        let own = self.dir.join(name);
        if own.exists() {
            own
        } else {
            util::out_dir().join(name)
        }
    }
}

/// Builds all firmwares into `target/netboot/` (or, with `embed`, into
/// `target/netboot/embed/<script stem>/` from a separate target directory, so the default
/// build stays intact). `embed` falls back to the `NETBOOT_EMBED` environment variable.
pub fn build_all(embed: Option<&Path>) -> Result<Firmware> {
    build(embed, None, Which::Both)
}

/// Which firmwares a variant build makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `netboot.efi` only.
    Uefi,
    /// `netboot.kpxe` and `netboot.lkrn` only.
    Bios,
    /// All of them.
    Both,
}

impl Which {
    /// The union of two needs.
    pub fn and(self, other: Which) -> Which {
        if self == other { self } else { Which::Both }
    }
}

/// Builds a firmware variant of the firmwares `which` names (a scenario variant under
/// OVMF needs no BIOS images, and the other way round), with `embed` embedded when given
/// and trusting the CA certificates in `trust` (a PEM file, passed to netboot-core's build
/// script as `NETBOOT_TRUST`, as iPXE's `TRUST=`) when given. Trusting variants go to
/// `target/netboot/trust/`, or with a script to `target/netboot/embed-trust/<stem>/`,
/// from the separate target directory of the `embed` variants; the host simulator is not
/// part of them (it takes `--trust`).
pub fn build_variant_of(
    embed: Option<&Path>,
    trust: Option<&Path>,
    which: Which,
) -> Result<Firmware> {
    build(embed, trust, which)
}

fn build(embed: Option<&Path>, trust: Option<&Path>, which: Which) -> Result<Firmware> {
    let root = util::root();
    let from_env = std::env::var_os("NETBOOT_EMBED")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let embed = embed.map(Path::to_path_buf).or(from_env);
    let embed = match embed {
        Some(p) => {
            let abs = if p.is_absolute() {
                p
            } else {
                std::env::current_dir()?.join(p)
            };
            let bytes =
                fs::read(&abs).map_err(|e| format!("NETBOOT_EMBED={}: {e}", abs.display()))?;
            if !bytes.starts_with(b"#!ipxe") {
                eprintln!("warning: {} does not start with #!ipxe", abs.display());
            }
            Some(abs)
        }
        None => None,
    };
    let trust = match trust {
        Some(p) => {
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()?.join(p)
            };
            let text = fs::read_to_string(&abs)
                .map_err(|e| format!("NETBOOT_TRUST={}: {e}", abs.display()))?;
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err(format!(
                    "NETBOOT_TRUST={}: no PEM certificate in the file (expected -----BEGIN CERTIFICATE-----)",
                    abs.display()
                )
                .into());
            }
            Some(abs)
        }
        None => None,
    };
    let stem = embed.as_ref().map(|script| {
        script
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("script")
            .to_string()
    });
    let variants = root.join("target").join("embed");
    let (target_dir, out) = match (&stem, &trust) {
        (Some(stem), None) => (variants, util::out_dir().join("embed").join(stem)),
        (Some(stem), Some(_)) => (variants, util::out_dir().join("embed-trust").join(stem)),
        (None, Some(_)) => (variants, util::out_dir().join("trust")),
        (None, None) => (root.join("target"), util::out_dir()),
    };
    fs::create_dir_all(&out)?;

    let cargo_build = |target: Option<&str>, package: &str| -> Result<()> {
        let mut c = cmd("cargo", &["build", "--release", "-p", package]);
        c.current_dir(&root).arg("--target-dir").arg(&target_dir);
        if let Some(t) = target {
            c.args(["--target", t]);
        }
        // `NETBOOT_HTTPS=0`: no HTTPS at all; `NETBOOT_PUBLIC_ROOTS=0`: trust only the
        // embedded CAs (`NETBOOT_TRUST`).
        if package == "efi-firmware" {
            match (env_on("NETBOOT_HTTPS"), env_on("NETBOOT_PUBLIC_ROOTS")) {
                (true, true) => {}
                (true, false) => {
                    c.args(["--no-default-features", "--features", "https"]);
                }
                (false, _) => {
                    c.arg("--no-default-features");
                }
            }
        }
        match &embed {
            Some(script) => c.env("NETBOOT_EMBED", script),
            None => c.env_remove("NETBOOT_EMBED"),
        };
        // Without a lab CA, a NETBOOT_TRUST of the caller's environment passes through.
        if let Some(ca) = &trust {
            c.env("NETBOOT_TRUST", ca);
        }
        util::step(
            &format!(
                "build {package} ({}){}",
                target.unwrap_or("host"),
                if trust.is_some() {
                    " trusting the lab CA"
                } else {
                    ""
                }
            ),
            &mut c,
        )
    };

    if which != Which::Bios {
        cargo_build(Some(UEFI), "efi-firmware")?;
        copy(
            &target_dir
                .join(UEFI)
                .join("release/netboot-efi-firmware.efi"),
            &out.join("netboot.efi"),
        )?;
    }

    if which != Which::Uefi {
        cargo_build(Some(BARE), "bios-firmware")?;
        for (bin, name) in [
            ("netboot-kpxe", "netboot.kpxe"),
            ("netboot-lkrn", "netboot.lkrn"),
        ] {
            let elf = target_dir.join(BARE).join("release").join(bin);
            // Flatten from sections by load address (platform-notes §2.8).
            util::run(
                cmd("objcopy", &["-O", "binary"])
                    .arg(&elf)
                    .arg(out.join(name)),
            )?;
        }
    }

    // The simulator runs scripts from files; variants with an embedded script are for
    // the firmwares only, so it is built once, into the default output.
    if embed.is_none() && trust.is_none() {
        cargo_build(None, "host-sim")?;
        copy(
            &target_dir.join("release/netboot-sim"),
            &out.join("netboot-sim"),
        )?;
    }

    let fw = Firmware { dir: out };
    report_sizes(&fw)?;
    Ok(fw)
}

/// A capability switch of the build (`NETBOOT_HTTPS`, `NETBOOT_PUBLIC_ROOTS`): on unless
/// the variable is `0` (or `no`, `false`, `off`).
fn env_on(name: &str) -> bool {
    std::env::var(name).map_or(true, |v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "no" | "false" | "off"
        )
    })
}

/// Builds `netboot.efi` without HTTPS (as `NETBOOT_HTTPS=0` would) into
/// `target/netboot/no-https/`, from the variants' target directory, for the size report.
pub fn build_efi_without_https() -> Result<PathBuf> {
    let root = util::root();
    let out = util::out_dir().join("no-https");
    fs::create_dir_all(&out)?;
    let target_dir = root.join("target").join("embed");
    let mut c = cmd(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "efi-firmware",
            "--no-default-features",
            "--target",
            UEFI,
        ],
    );
    c.current_dir(&root)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("NETBOOT_EMBED")
        .env_remove("NETBOOT_TRUST");
    util::step("build efi-firmware (uefi) without HTTPS", &mut c)?;
    let efi = out.join("netboot.efi");
    copy(
        &target_dir
            .join(UEFI)
            .join("release/netboot-efi-firmware.efi"),
        &efi,
    )?;
    Ok(efi)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))?;
    Ok(())
}

fn report_sizes(fw: &Firmware) -> Result<()> {
    eprintln!("==> built into {}", fw.dir.display());
    for name in ["netboot.efi", "netboot.kpxe", "netboot.lkrn", "netboot-sim"] {
        let Ok(meta) = fs::metadata(fw.file(name)) else {
            continue;
        };
        let len = meta.len();
        eprintln!("    {name:14} {}", util::size_text(len));
        if name == "netboot.kpxe" && len > NBP_MAX {
            return Err(
                format!("netboot.kpxe is {len} bytes; PXE ROMs accept at most {NBP_MAX}").into(),
            );
        }
    }
    Ok(())
}
