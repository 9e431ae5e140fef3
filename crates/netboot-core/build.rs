//! Embeds the script named by `NETBOOT_EMBED` (a path) into the crate, as iPXE's `EMBED=` does.

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
    // Write only on change so dependants are not rebuilt needlessly.
    if fs::read(&target).ok().as_deref() != Some(&script[..]) {
        fs::write(&target, &script).expect("write embedded script into OUT_DIR");
    }
}
