//! FAT images from `mkfs.vfat` + `mtools`, and El Torito EFI images inside ISOs from
//! `xorriso`, built at test time.

extern crate std;

use super::{json, minimal_pe, tmpdir, tool};
use crate::fat::{Fat, FatKind};
use crate::{Arch, Details, Error, Format, Platform, probe};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use std::{eprintln, format, fs};

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

/// Builds a FAT image of `kb` KiB with `mkfs.vfat` (FAT `bits` = 12/16/32) and copies
/// `files` in with `mcopy`. `None` when the tools are missing.
fn build_fat(dir: &Path, bits: u32, kb: u32, files: &[(&str, Vec<u8>)]) -> Option<PathBuf> {
    if !tool("mkfs.vfat") || !tool("mcopy") {
        return None;
    }
    let img = dir.join(format!("fat{bits}.img"));
    let _ = fs::remove_file(&img);
    run(Command::new("mkfs.vfat")
        .args(["-C", "-F", &format!("{bits}"), "-n", "NETBOOT"])
        .arg(&img)
        .arg(format!("{kb}")));
    for (path, data) in files {
        let src = dir.join("src.bin");
        fs::write(&src, data).expect("write");
        let mut parts: Vec<&str> = path.split('/').collect();
        parts.pop();
        let mut sofar = String::from("::");
        for p in parts {
            sofar.push('/');
            sofar.push_str(p);
            // Fails harmlessly when the directory exists already.
            let _ = Command::new("mmd").arg("-i").arg(&img).arg(&sofar).output();
        }
        run(Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&src)
            .arg(format!("::/{path}")));
    }
    Some(img)
}

fn loaders() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "EFI/BOOT/BOOTX64.EFI",
            minimal_pe(0x8664, 10, &[(b".text", &pattern(9000, 1))]),
        ),
        (
            "EFI/BOOT/BOOTAA64.EFI",
            minimal_pe(0xAA64, 10, &[(b".text", b"arm")]),
        ),
        (
            "EFI/BOOT/BOOTRISCV64.EFI",
            minimal_pe(0x5064, 10, &[(b".text", b"rv")]),
        ),
        ("EFI/BOOT/grub.cfg", b"set timeout=1\n".to_vec()),
        ("deep/er/and/deeper/Long File Name.txt", pattern(70_000, 7)),
        ("big.bin", pattern(300_000, 3)),
    ]
}

#[test]
fn fat_12_16_32_read_back() {
    let dir = tmpdir("fat");
    let files = loaders();
    for (bits, kb, kind) in [
        (12u32, 2880u32, FatKind::Fat12),
        (16, 16 * 1024, FatKind::Fat16),
        (32, 40 * 1024, FatKind::Fat32),
    ] {
        let Some(img) = build_fat(&dir, bits, kb, &files) else {
            return;
        };
        let d = fs::read(&img).expect("read");
        let fat = Fat::parse(&d).expect("parse");
        assert_eq!(fat.kind(), kind, "FAT{bits}");
        assert_eq!(fat.declared_len(), d.len() as u64);
        for (path, want) in &files {
            let e = fat
                .find(path)
                .unwrap_or_else(|e| panic!("FAT{bits} {path}: {e}"))
                .unwrap_or_else(|| panic!("FAT{bits} {path}: not found"));
            let got = fat.read(&e, u64::MAX).expect("read");
            assert!(&got == want, "FAT{bits} {path}: contents differ");
            // Case-insensitive lookup, `\` separators.
            let upper = path.to_uppercase().replace('/', "\\");
            assert!(fat.find(&upper).expect("find").is_some(), "{upper}");
        }
        assert!(fat.find("EFI/BOOT/nothing.efi").expect("find").is_none());
        assert!(fat.find("big.bin/x").expect("find").is_none());
        let boot = fat.find("efi/boot").expect("find").expect("dir");
        let names: Vec<String> = fat
            .read_dir(&boot)
            .expect("dir")
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(names.iter().any(|n| n == "BOOTRISCV64.EFI"), "{names:?}");
        hostile_fat(&d, bits);
    }
}

fn hostile_fat(d: &[u8], bits: u32) {
    let t = Instant::now();
    let exercise = |d: &[u8]| {
        if let Ok(f) = Fat::parse(d) {
            if let Ok(Some(e)) = f.find("deep/er/and/deeper/Long File Name.txt") {
                let _ = f.read(&e, 1 << 20);
            }
            if let Ok(Some(e)) = f.find("big.bin") {
                let _ = f.read(&e, 1 << 20);
            }
        }
    };
    for n in [0, 11, 511, 512, 4096, d.len() / 2, d.len() - 1] {
        exercise(&d[..n]);
    }
    // BPB fields set to 0 / 0xFF.
    for off in [0x0B, 0x0D, 0x0E, 0x10, 0x11, 0x13, 0x16, 0x20, 0x24, 0x2C] {
        for v in [0u8, 0xFF] {
            let mut m = d.to_vec();
            m[off] = v;
            m[off + 1] = v;
            exercise(&m);
        }
    }
    // A cluster chain that loops back on itself: every FAT entry points at cluster 3.
    if let Ok(f) = Fat::parse(d) {
        let mut m = d.to_vec();
        let fat_start = usize::from(u16::from_le_bytes([d[0x0E], d[0x0F]])) * 512;
        match f.kind() {
            FatKind::Fat16 => {
                for c in 2..2000 {
                    m[fat_start + 2 * c..fat_start + 2 * c + 2]
                        .copy_from_slice(&3u16.to_le_bytes());
                }
            }
            FatKind::Fat32 => {
                for c in 2..2000 {
                    m[fat_start + 4 * c..fat_start + 4 * c + 4]
                        .copy_from_slice(&3u32.to_le_bytes());
                }
            }
            FatKind::Fat12 => {
                for b in &mut m[fat_start + 3..fat_start + 3000] {
                    *b = 0x33; // entries 0x333: far beyond a 2880 KiB volume or looping
                }
            }
        }
        let f = Fat::parse(&m).expect("parse");
        if let Ok(Some(e)) = f.find("big.bin") {
            let r = f.read(&e, u64::MAX).map(|v| v.len());
            assert!(
                matches!(r, Err(Error::Loop { .. } | Error::Malformed { .. })),
                "FAT{bits}: {r:?}"
            );
        }
    }
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "FAT{bits}: {:?}",
        t.elapsed()
    );
}

#[test]
fn iso_el_torito_efi_image_architecture() {
    let dir = tmpdir("isoesp");
    let files: Vec<(&str, Vec<u8>)> = loaders().into_iter().take(3).collect();
    let Some(img) = build_fat(&dir, 12, 1440, &files) else {
        return;
    };
    if !tool("xorriso") {
        return;
    }
    let root = dir.join("root");
    fs::create_dir_all(root.join("boot")).expect("mkdir");
    fs::copy(&img, root.join("boot/efi.img")).expect("copy");
    let iso = dir.join("t.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "ESP_T", "-o"])
        .arg(&iso)
        .args(["-e", "boot/efi.img", "-no-emul-boot"])
        .arg(&root));
    let d = fs::read(&iso).expect("read");
    let p = probe(&d);
    eprintln!("{}", json(&p));
    assert_eq!(p.format, Format::Iso9660);
    let Details::Iso(i) = &p.details else {
        panic!("details")
    };
    let got: Vec<(&str, Option<Arch>)> = i
        .esp_loaders
        .iter()
        .map(|l| (l.name.as_str(), l.arch))
        .collect();
    assert_eq!(
        got,
        [
            ("BOOTX64.EFI", Some(Arch::X86_64)),
            ("BOOTAA64.EFI", Some(Arch::Aarch64)),
            ("BOOTRISCV64.EFI", Some(Arch::Riscv64)),
        ]
    );
    assert!(p.bootable_on.contains(Platform::EfiX86_64));
    assert!(p.bootable_on.contains(Platform::EfiAarch64));
    assert!(!p.bootable_on.contains(Platform::Bios));
    let j = json(&p);
    assert!(
        j.contains("\"esp_loaders\":[{\"name\":\"BOOTX64.EFI\",\"arch\":\"x86_64\""),
        "{j}"
    );
}
