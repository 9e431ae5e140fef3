//! Links the BIOS firmwares: `--no-pie` and one linker script per binary, but only for
//! `target_os = "none"` (host builds of the placeholders stay untouched).
//! See platform-notes §2.5.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    let scripts = [("netboot-kpxe", "kpxe.ld"), ("netboot-lkrn", "lkrn.ld")];
    for (_, script) in scripts {
        println!("cargo:rerun-if-changed={}", dir.join(script).display());
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    // x86_64-unknown-none links a static PIE; the 16/32-bit asm needs absolute
    // relocations. `--no-pie` after rustc's `-pie` turns that off for these binaries only.
    println!("cargo:rustc-link-arg-bins=--no-pie");
    for (bin, script) in scripts {
        println!(
            "cargo:rustc-link-arg-bin={bin}=--script={}",
            dir.join(script).display()
        );
    }
}
