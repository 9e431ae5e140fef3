//! Embeds the script named by `NETBOOT_EMBED` (a path) into the crate, as iPXE's `EMBED=`
//! does, and the CA certificates named by `NETBOOT_TRUST` (PEM files, comma-separated), as
//! iPXE's `TRUST=` does.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=NETBOOT_EMBED");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = out.join("embedded.ipxe");
    let script = match env::var_os("NETBOOT_EMBED").filter(|p| !p.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    // A build that silently drops the script boots something else: refuse.
                    eprintln!("NETBOOT_EMBED={}: cannot read: {e}", path.display());
                    std::process::exit(1);
                }
            }
        }
        None => Vec::new(),
    };
    write_if_changed(&target, &script);
    write_if_changed(&out.join("trust.pem"), &trust_pem());
}

/// The concatenated PEM files of `NETBOOT_TRUST`; each must hold a certificate.
fn trust_pem() -> Vec<u8> {
    println!("cargo:rerun-if-env-changed=NETBOOT_TRUST");
    let Some(list) = env::var_os("NETBOOT_TRUST").filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let mut pem = Vec::new();
    for path in list.to_string_lossy().split(',').filter(|p| !p.is_empty()) {
        println!("cargo:rerun-if-changed={path}");
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("NETBOOT_TRUST={path}: cannot read: {e}");
                std::process::exit(1);
            }
        };
        // A firmware that silently trusts nothing fails every HTTPS boot: refuse.
        if !bytes
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            eprintln!("NETBOOT_TRUST={path}: no PEM certificate (-----BEGIN CERTIFICATE-----)");
            std::process::exit(1);
        }
        pem.extend_from_slice(&bytes);
        pem.push(b'\n');
    }
    pem
}

/// Writes only on change so dependants are not rebuilt needlessly.
fn write_if_changed(target: &std::path::Path, bytes: &[u8]) {
    if fs::read(target).ok().as_deref() != Some(bytes) {
        fs::write(target, bytes).expect("write into OUT_DIR");
    }
}
