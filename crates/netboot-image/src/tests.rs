//! Unit tests. Fixtures are built here; real files and tools are used when present and
//! skipped with a note otherwise.

extern crate std;

use crate::cpio::{self, CpioReader, CpioWriter};
use crate::inflate::{self, adler32, crc32};
use crate::{Arch, BzImage, Details, Error, Format, Hints, Platform, Problem, probe, probe_with};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::path::Path;
use std::process::Command;
use std::{eprintln, format, fs};

mod fat;
mod wim;

fn real(path: &str) -> Option<Vec<u8>> {
    match fs::read(path) {
        Ok(d) => Some(d),
        Err(_) => {
            eprintln!("note: {path} not present, skipping");
            None
        }
    }
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("--version").output().is_ok();
    if !ok {
        eprintln!("note: {name} not installed, skipping");
    }
    ok
}

fn tmpdir(tag: &str) -> std::path::PathBuf {
    static N: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("netboot-image-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("tmpdir");
    d
}

fn json(p: &crate::Probe) -> String {
    let mut s = String::new();
    p.write_json_object(&mut s).expect("json");
    s
}

fn texts(p: &crate::Probe) -> Vec<String> {
    p.problems.iter().map(|x| format!("{x}")).collect()
}

/// Runs every parser on `d` (they must not panic).
fn exercise(d: &[u8]) {
    let p = probe(d);
    let _ = json(&p);
    let _ = probe_with(
        d,
        &Hints {
            name: Some("x.kpxe"),
            ..Hints::default()
        },
    );
    if let Ok(bz) = BzImage::parse(d) {
        let _ = (
            bz.kernel_version(),
            bz.payload_data(),
            bz.header(),
            bz.declared_len(),
        );
    }
    if let Ok(pe) = crate::pe::Pe::parse(d) {
        let _ = (
            pe.sections().count(),
            pe.certificates().count(),
            pe.declared_len(),
            pe.zboot(),
        );
        pe.sections().for_each(|s| {
            let _ = s.data(d);
        });
    }
    let _ = CpioReader::new(d).take(10_000).count();
    if let Ok(iso) = crate::iso::Iso::parse(d) {
        let _ = iso.walk(&mut |_, _| true);
        let _ = iso.lookup("/EFI/BOOT/BOOTX64.EFI");
        if let Some(Ok(c)) = iso.boot_catalog() {
            c.entries().for_each(|e| {
                let _ = e.image(d);
            });
        }
    }
    if let Ok(g) = crate::disk::Gpt::parse(d) {
        let _ = g.partitions().count();
    }
    if let Ok(e) = crate::elf::Elf::parse(d) {
        let _ = (e.program_headers().count(), e.declared_len());
    }
    let _ = inflate::gunzip(d, 1 << 20);
    let _ = inflate::zlib_decompress(d, 1 << 20);
}

/// Every prefix up to `dense` bytes, then `samples` more spread over the rest.
fn prefixes(d: &[u8], dense: usize, samples: usize) {
    for n in 0..=d.len().min(dense) {
        exercise(&d[..n]);
    }
    if d.len() > dense {
        let step = ((d.len() - dense) / samples.max(1)).max(1);
        let mut n = dense;
        while n < d.len() {
            exercise(&d[..n]);
            n += step;
        }
        exercise(d);
    }
}

/// Deterministic byte mutations.
fn mutate(d: &[u8], rounds: usize) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = d.to_vec();
    for _ in 0..rounds {
        v.copy_from_slice(d);
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if v.is_empty() {
                break;
            }
            let i = (x as usize) % v.len();
            v[i] = match (x >> 32) % 4 {
                0 => 0xFF,
                1 => 0,
                _ => (x >> 40) as u8,
            };
        }
        exercise(&v);
    }
}

// ---------------------------------------------------------------- names and JSON

#[test]
fn names_are_the_documented_ones() {
    let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "bzimage",
            "pe",
            "uki",
            "script",
            "nbp",
            "elf",
            "multiboot",
            "com32",
            "wim",
            "iso9660",
            "disk",
            "gzip",
            "zlib",
            "zstd",
            "xz",
            "lz4",
            "bzip2",
            "cpio",
            "microcode",
            "unknown"
        ]
    );
    assert_eq!(Platform::EfiX86_64.name(), "efi-x86_64");
    assert_eq!(Platform::LinuxBootProtocol.name(), "linux-boot-protocol");
}

#[test]
fn json_strings_are_escaped() {
    let mut s = String::new();
    crate::json::string(&mut s, "a\"b\\c\nd\u{1}e\u{7f}é").expect("write");
    assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001e\\u007fé\"");
}

#[test]
fn json_is_valid_per_python() {
    let mut samples: Vec<Vec<u8>> = vec![
        b"#!ipxe\necho".to_vec(),
        minimal_bzimage(0x020F, 0x1000),
        minimal_pe(0xAA64, 10, &[(b".text", b"code")]),
        uki(),
        vec![],
    ];
    for f in [
        "/work/main/target/netboot/assets/vmlinuz",
        "/usr/lib/ipxe/ipxe.iso",
    ] {
        if let Ok(d) = fs::read(f) {
            samples.push(d);
        }
    }
    let mut all = String::from("[");
    for (i, d) in samples.iter().enumerate() {
        if i > 0 {
            all.push(',');
        }
        all.push_str(&json(&probe(d)));
    }
    all.push(']');
    if !tool("python3") {
        return;
    }
    let dir = tmpdir("json");
    let f = dir.join("p.json");
    fs::write(&f, &all).expect("write");
    let ok = Command::new("python3")
        .args(["-c", "import json,sys; json.load(open(sys.argv[1]))"])
        .arg(&f)
        .status()
        .expect("python3");
    assert!(ok.success(), "invalid JSON: {all}");
}

// ---------------------------------------------------------------- checksums and inflate

#[test]
fn checksum_vectors() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    assert_eq!(crc32(b""), 0);
    assert_eq!(adler32(b""), 1);
}

fn sample_text() -> Vec<u8> {
    let mut v = Vec::new();
    let mut x = 12345u32;
    for i in 0..200_000u32 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        if i % 7 == 0 {
            v.extend_from_slice(b"netboot image ");
        }
        v.push(if x >> 29 == 0 {
            (x >> 16) as u8
        } else {
            b'a' + (x >> 24) as u8 % 26
        });
    }
    v
}

fn system_gzip(data: &[u8], level: &str) -> Option<Vec<u8>> {
    system_compress("gzip", &[level, "-c", "-n"], data)
}

/// `data` compressed by the system's `tool` (arguments `args`, then the input file; output
/// on stdout), or `None` with a note when the tool is not installed.
fn system_compress(tool_name: &str, args: &[&str], data: &[u8]) -> Option<Vec<u8>> {
    if !tool(tool_name) {
        return None;
    }
    let dir = tmpdir(&format!("{tool_name}{}", args.join("")));
    let f = dir.join("in");
    fs::write(&f, data).ok()?;
    let out = Command::new(tool_name).args(args).arg(&f).output().ok()?;
    assert!(out.status.success(), "{tool_name} {args:?} failed");
    Some(out.stdout)
}

/// Files written by the real xz, zstd, lz4 and bzip2 tools are recognised by name, with
/// the payload size left unknown rather than guessed.
#[test]
fn real_compressor_outputs_are_recognised() {
    let text = sample_text();
    for (tool_name, args, format) in [
        ("xz", &["-c", "--check=crc32"][..], Format::Xz),
        ("xz", &["-c", "-9e"][..], Format::Xz),
        ("zstd", &["-c", "-q", "-19"][..], Format::Zstd),
        ("lz4", &["-c", "-q", "-l"][..], Format::Lz4),
        ("lz4", &["-c", "-q"][..], Format::Lz4),
        ("bzip2", &["-c", "-9"][..], Format::Bzip2),
    ] {
        let Some(packed) = system_compress(tool_name, args, &text) else {
            continue;
        };
        let p = probe(&packed);
        assert_eq!(p.format, format, "{tool_name} {args:?}: {}", json(&p));
        // Truncated output is still recognised by its magic and never panics.
        // (bzip2 needs its block magic too: 10 bytes.)
        for cut in [0, 1, 4, 6, 10, packed.len() / 2] {
            let q = probe(&packed[..cut.min(packed.len())]);
            if cut >= 10 {
                assert_eq!(q.format, format, "{tool_name} cut at {cut}");
            }
        }
    }
}

#[test]
fn gunzip_matches_gzip_at_several_levels() {
    let text = sample_text();
    for level in ["-1", "-6", "-9"] {
        let Some(gz) = system_gzip(&text, level) else {
            return;
        };
        let out = inflate::gunzip(&gz, 10 << 20).expect("gunzip");
        assert_eq!(out, text, "level {level}");
        // Limit: fails with TooLarge, keeping exactly `limit` bytes.
        let mut partial = Vec::new();
        let e = inflate::gunzip_into(&gz, &mut partial, 1000).expect_err("limit");
        assert!(matches!(e, Error::TooLarge { .. }));
        assert_eq!(partial, text[..1000]);
    }
    // Small and empty inputs, concatenated members.
    for d in [&b""[..], b"a", b"hello hello hello hello"] {
        let Some(gz) = system_gzip(d, "-9") else {
            return;
        };
        assert_eq!(inflate::gunzip(&gz, 100).expect("small"), d);
        let mut two = gz.clone();
        two.extend_from_slice(&gz);
        let mut want = d.to_vec();
        want.extend_from_slice(d);
        assert_eq!(inflate::gunzip(&two, 100).expect("two members"), want);
    }
}

#[test]
fn gzip_corruption_is_detected() {
    let text = sample_text();
    let Some(gz) = system_gzip(&text[..20_000], "-6") else {
        return;
    };
    let n = gz.len();
    let mut bad = gz.clone();
    bad[n - 8] ^= 1; // CRC
    assert!(matches!(
        inflate::gunzip(&bad, 1 << 20),
        Err(Error::Checksum {
            what: "gzip CRC32",
            ..
        })
    ));
    let mut bad = gz.clone();
    bad[n - 4] ^= 1; // ISIZE
    assert!(matches!(
        inflate::gunzip(&bad, 1 << 20),
        Err(Error::Checksum {
            what: "gzip ISIZE",
            ..
        })
    ));
    for cut in 0..n {
        assert!(
            inflate::gunzip(&gz[..cut], 1 << 20).is_err(),
            "prefix {cut} accepted"
        );
    }
    mutate(&gz, 3000);
}

#[test]
fn zlib_stream_from_raw_deflate() {
    let text = sample_text();
    let Some(gz) = system_gzip(&text, "-9") else {
        return;
    };
    let h = inflate::GzipHeader::parse(&gz).expect("header");
    let raw = &gz[h.data_offset..gz.len() - 8];
    let mut z = vec![0x78, 0xDA];
    z.extend_from_slice(raw);
    z.extend_from_slice(&adler32(&text).to_be_bytes());
    assert_eq!(inflate::zlib_decompress(&z, 10 << 20).expect("zlib"), text);
    let p = probe(&z);
    assert_eq!(p.format, Format::Zlib);
    let last = z.len() - 1;
    z[last] ^= 0xFF;
    assert!(matches!(
        inflate::zlib_decompress(&z, 10 << 20),
        Err(Error::Checksum { .. })
    ));
    // Two random bytes that pass the zlib header check are not reported as zlib.
    assert_ne!(probe(&[0x78, 0x9C, 0xFF, 0xFF, 0xFF]).format, Format::Zlib);
}

#[test]
fn inflate_rejects_hostile_streams() {
    let mut out = Vec::new();
    // Reserved block type.
    assert!(inflate::inflate(&[0x07], &mut out, 10).is_err());
    // Stored block with a bad NLEN.
    assert!(inflate::inflate(&[0x01, 0x02, 0x00, 0x00, 0x00, b'h', b'i'], &mut out, 10).is_err());
    // Fixed block: a distance before the start of the output (length 3, distance 1 with
    // nothing emitted). Symbol 257 = 0000001 (7 bits), distance code 0 = 00000.
    assert!(inflate::inflate(&[0x03, 0x02, 0x00, 0x00], &mut out, 10).is_err());
    // Random junk never panics.
    let mut x = 7u32;
    for _ in 0..3000 {
        let v: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        out.clear();
        let _ = inflate::inflate(&v, &mut out, 1 << 16);
    }
}

// ---------------------------------------------------------------- bzImage

fn minimal_bzimage(version: u16, kernel_len: usize) -> Vec<u8> {
    let mut k = vec![0u8; 5 * 512 + kernel_len];
    k[0x1F1] = 4;
    k[0x1F4..0x1F8].copy_from_slice(&((kernel_len as u32).div_ceil(16)).to_le_bytes());
    k[0x1FE] = 0x55;
    k[0x1FF] = 0xAA;
    k[0x200] = 0xEB;
    k[0x201] = 0x66;
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x206..0x208].copy_from_slice(&version.to_le_bytes());
    k[0x20E..0x210].copy_from_slice(&0x0100u16.to_le_bytes());
    k[0x300..0x306].copy_from_slice(b"6.1.0\0");
    k[0x211] = 1;
    k[0x214..0x218].copy_from_slice(&0x100000u32.to_le_bytes());
    // Garbage where 2.05+ fields live: must not be read for older versions.
    k[0x230..0x23C].fill(0xCB);
    if version >= 0x020C {
        k[0x230..0x234].copy_from_slice(&0x200000u32.to_le_bytes());
        k[0x234] = 1;
        k[0x236..0x238].copy_from_slice(&0x7Fu16.to_le_bytes());
        k[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
    }
    k
}

#[test]
fn bzimage_without_stub_and_version_gates() {
    let k = minimal_bzimage(0x020F, 0x1000);
    let bz = BzImage::parse(&k).expect("parse");
    assert_eq!(bz.kernel_version(), Some(&b"6.1.0"[..]));
    assert_eq!(bz.cmdline_size(), 2047);
    assert!(bz.has_64bit_entry());
    assert_eq!(bz.declared_len(), Some(k.len() as u64));
    let p = probe(&k);
    assert_eq!(p.format, Format::BzImage);
    assert_eq!(p.arch, Some(Arch::X86_64));
    assert!(p.bootable_on.contains(Platform::Bios));
    assert!(p.bootable_on.contains(Platform::LinuxBootProtocol));
    assert!(!p.bootable_on.contains(Platform::EfiX86_64));
    assert_eq!(p.problems, [Problem::NoEfiStub]);
    assert!(texts(&p)[0].contains("CONFIG_EFI_STUB"));

    // Protocol 2.03 (wimboot): 0x230+ is code, so gated fields fall back.
    let old = minimal_bzimage(0x0203, 0x1000);
    let bz = BzImage::parse(&old).expect("parse");
    assert_eq!(bz.kernel_alignment(), None);
    assert_eq!(bz.cmdline_size(), 255);
    assert_eq!(bz.xloadflags(), 0);
    assert!(!bz.relocatable());
    assert_eq!(bz.declared_len(), None);
    assert_eq!(probe(&old).arch, None);

    // Truncated: "header says N bytes, have M".
    let cut = &k[..k.len() - 100];
    let p = probe(cut);
    assert!(
        texts(&p).iter().any(|t| t
            == &format!(
                "truncated bzImage: header says {} bytes, have {}",
                k.len(),
                cut.len()
            )),
        "{:?}",
        texts(&p)
    );
    // 55AA without HdrS and without a matching syssize is not a bzImage.
    let mut v1 = k.clone();
    v1[0x202] = 0;
    v1[0x1F4..0x1F8].copy_from_slice(&1u32.to_le_bytes());
    assert!(BzImage::parse(&v1).is_err());
    prefixes(&k, 0x800, 50);
    mutate(&k, 2000);
}

// ---------------------------------------------------------------- PE and UKI

fn minimal_pe(machine: u16, subsystem: u16, sections: &[(&[u8], &[u8])]) -> Vec<u8> {
    let lfanew = 0x80usize;
    let opt_size = 112 + 16 * 8;
    let table = lfanew + 24 + opt_size;
    let mut raw = (table + 40 * sections.len()).div_ceil(0x200) * 0x200;
    let mut v = vec![0u8; raw];
    v[0..2].copy_from_slice(b"MZ");
    v[0x3C..0x40].copy_from_slice(&(lfanew as u32).to_le_bytes());
    v[lfanew..lfanew + 4].copy_from_slice(b"PE\0\0");
    let c = lfanew + 4;
    v[c..c + 2].copy_from_slice(&machine.to_le_bytes());
    v[c + 2..c + 4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    v[c + 16..c + 18].copy_from_slice(&(opt_size as u16).to_le_bytes());
    let o = c + 20;
    v[o..o + 2].copy_from_slice(&0x20Bu16.to_le_bytes());
    v[o + 32..o + 36].copy_from_slice(&0x1000u32.to_le_bytes());
    v[o + 36..o + 40].copy_from_slice(&0x200u32.to_le_bytes());
    v[o + 68..o + 70].copy_from_slice(&subsystem.to_le_bytes());
    v[o + 108..o + 112].copy_from_slice(&16u32.to_le_bytes());
    for (i, (name, data)) in sections.iter().enumerate() {
        let s = table + i * 40;
        v[s..s + name.len()].copy_from_slice(name);
        v[s + 8..s + 12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        v[s + 12..s + 16].copy_from_slice(&(0x1000 * (i as u32 + 1)).to_le_bytes());
        let padded = data.len().div_ceil(0x200) * 0x200;
        v[s + 16..s + 20].copy_from_slice(&(padded as u32).to_le_bytes());
        v[s + 20..s + 24].copy_from_slice(&(raw as u32).to_le_bytes());
        v.extend_from_slice(data);
        v.resize(raw + padded, 0);
        raw += padded;
    }
    v
}

fn uki() -> Vec<u8> {
    let kernel = minimal_bzimage(0x020F, 0x400);
    minimal_pe(
        0x8664,
        10,
        &[
            (b".osrel", b"ID=debian\n"),
            (b".cmdline", b"console=ttyS0 quiet\n"),
            (b".linux", &kernel),
            (b".initrd", b"070701"),
        ],
    )
}

#[test]
fn pe_efi_application_and_foreign_arch() {
    let pe = minimal_pe(0x8664, 10, &[(b".text", b"\xC3")]);
    let p = probe(&pe);
    assert_eq!(p.format, Format::Pe);
    assert_eq!(p.arch, Some(Arch::X86_64));
    assert!(p.bootable_on.contains(Platform::EfiX86_64));
    assert_eq!(p.problems, [Problem::Unsigned]);
    let parsed = crate::pe::Pe::parse(&pe).expect("pe");
    assert_eq!(parsed.section_data(b".text"), Some(&b"\xC3"[..]));

    let arm = minimal_pe(0xAA64, 10, &[(b".text", b"x")]);
    let p = probe(&arm);
    assert_eq!(p.arch, Some(Arch::Aarch64));
    assert!(p.bootable_on.contains(Platform::EfiAarch64));
    assert!(
        texts(&p)
            .iter()
            .any(|t| t == "PE image for aarch64: cannot run on x86_64 UEFI"),
        "{:?}",
        texts(&p)
    );

    let win = minimal_pe(0x8664, 3, &[]);
    let p = probe(&win);
    assert!(p.bootable_on.is_empty());
    assert!(matches!(
        p.problems[0],
        Problem::NotEfiSubsystem { subsystem: 3 }
    ));

    // Section data past the end: truncated.
    let cut = &pe[..pe.len() - 1];
    assert!(
        probe(cut)
            .problems
            .iter()
            .any(|x| matches!(x, Problem::Truncated { .. }))
    );
    prefixes(&pe, pe.len(), 1);
    mutate(&pe, 3000);
}

#[test]
fn pe_hostile_headers() {
    let pe = minimal_pe(0x8664, 10, &[(b".text", b"x")]);
    let mut v = pe.clone();
    v[0x3C..0x40].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(crate::pe::Pe::parse(&v).is_err());
    let mut v = pe.clone();
    v[0x80 + 6..0x80 + 8].copy_from_slice(&0xFFFFu16.to_le_bytes()); // NumberOfSections
    assert!(crate::pe::Pe::parse(&v).is_err());
    let mut v = pe.clone();
    v[0x80 + 20..0x80 + 22].copy_from_slice(&8u16.to_le_bytes()); // SizeOfOptionalHeader
    assert!(crate::pe::Pe::parse(&v).is_err());
    // A security directory with a zero-length record terminates.
    let mut v = pe.clone();
    let dir = 0x80 + 24 + 112 + 4 * 8;
    let at = v.len() as u32;
    v[dir..dir + 4].copy_from_slice(&at.to_le_bytes());
    v[dir + 4..dir + 8].copy_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&[0u8; 16]);
    let parsed = crate::pe::Pe::parse(&v).expect("pe");
    assert_eq!(parsed.certificates().count(), 1);
    assert!(parsed.certificates().next().expect("one").is_err());
}

#[test]
fn uki_is_recognised() {
    let u = uki();
    let p = probe(&u);
    assert_eq!(p.format, Format::Uki, "{}", json(&p));
    assert!(p.bootable_on.contains(Platform::EfiX86_64));
    let Details::Uki(d) = &p.details else {
        panic!("details")
    };
    assert_eq!(d.linux_format, Format::BzImage);
    assert_eq!(d.cmdline.as_deref(), Some("console=ttyS0 quiet"));
    assert_eq!(d.kernel_version.as_deref(), Some("6.1.0"));
    assert_eq!(d.initrd_size, Some(6));
    prefixes(&u, 0x400, 100);
}

// ---------------------------------------------------------------- CPIO

#[test]
fn cpio_writer_reader_round_trip() {
    let mut w = CpioWriter::new();
    w.dir(b"etc", 0o755).expect("dir");
    w.file(b"etc/a.conf", 0o644, b"abc").expect("file");
    w.file(b"init", 0o755, b"#!/bin/sh\n").expect("file");
    let a = w.finish().expect("finish");
    assert_eq!(a.len() % 4, 0);
    let e: Vec<_> = CpioReader::new(&a).map(|e| e.expect("entry")).collect();
    assert_eq!(e.len(), 3);
    assert!(e[0].is_dir());
    assert_eq!(e[1].data, b"abc");
    assert_eq!(e[2].mode, cpio::S_IFREG | 0o755);
    let p = probe(&a);
    assert_eq!(p.format, Format::Cpio);
    prefixes(&a, a.len(), 1);
    mutate(&a, 2000);

    // GNU cpio agrees.
    if tool("cpio") {
        let dir = tmpdir("cpio");
        let f = dir.join("a.cpio");
        fs::write(&f, &a).expect("write");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -t < {}", f.display()))
            .output()
            .expect("cpio");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "etc\netc/a.conf\ninit\n"
        );
    }
}

#[test]
fn initrd_prefix_mkdir_and_modes() {
    let names = |a: &[u8]| -> Vec<(Vec<u8>, u32)> {
        CpioReader::new(a)
            .map(|e| e.expect("entry"))
            .map(|e| (e.name.to_vec(), e.mode))
            .collect()
    };
    let mut a = cpio::initrd_prefix(b"/a/b/c.conf", 0o755, false, 5, -1).expect("prefix");
    assert_eq!(a.len() % 4, 0);
    a.extend_from_slice(b"hello");
    a.resize(a.len() + cpio::data_padding(5), 0);
    assert_eq!(
        names(&a),
        [
            (b"/a".to_vec(), 0o40755),
            (b"/a/b".to_vec(), 0o40755),
            (b"/a/b/c.conf".to_vec(), 0o100755)
        ]
    );
    let a = cpio::initrd_prefix(b"/a/b/c.conf", 0o600, false, 0, 1).expect("prefix");
    assert_eq!(
        names(&a),
        [
            (b"/a/b".to_vec(), 0o40755),
            (b"/a/b/c.conf".to_vec(), 0o100600)
        ]
    );
    let a = cpio::initrd_prefix(b"/a/b/c.conf", 0o600, false, 0, 0).expect("prefix");
    assert_eq!(names(&a).len(), 1);
    let a = cpio::initrd_prefix(b"d", 0o700, true, 99, -1).expect("prefix");
    assert_eq!(names(&a), [(b"d".to_vec(), 0o40700)]);
    assert!(cpio::initrd_prefix(b"", 0o644, false, 0, 0).is_err());
    assert!(cpio::initrd_prefix(b"a\0b", 0o644, false, 0, 0).is_err());
    assert!(cpio::initrd_prefix(b"a", 0o644, false, 1 << 32, 0).is_err());
    // Zero-copy header into a caller buffer.
    let h = cpio::NewcHeader::new(b"boot.wim", cpio::S_IFREG | 0o644, 1234);
    let mut buf = [0u8; 64];
    assert!(matches!(h.write(&mut buf), Err(Error::NoSpace { .. })));
    let mut buf = [0u8; 256];
    assert_eq!(h.write(&mut buf).expect("write"), h.len());
    assert_eq!(h.len(), 120);
}

#[test]
fn cpio_from_gnu_cpio_newc_and_crc() {
    if !tool("cpio") {
        return;
    }
    let dir = tmpdir("gnucpio");
    fs::create_dir_all(dir.join("t/sub")).expect("mkdir");
    fs::write(dir.join("t/sub/f"), b"some data here").expect("write");
    fs::write(dir.join("t/g"), b"x").expect("write");
    for (fmt, crc) in [("newc", false), ("crc", true)] {
        let out = Command::new("sh")
            .current_dir(&dir)
            .arg("-c")
            .arg(format!("find t | sort | cpio -o -H {fmt} 2>/dev/null"))
            .output()
            .expect("cpio");
        let a = out.stdout;
        let e: Vec<_> = CpioReader::new(&a).map(|e| e.expect("entry")).collect();
        assert_eq!(e.len(), 4, "{fmt}");
        assert!(e.iter().all(|x| x.crc_format == crc));
        let f = e.iter().find(|x| x.name == b"t/sub/f").expect("f");
        assert_eq!(f.data, b"some data here");
        if crc {
            let mut bad = a.clone();
            let off = f.offset + 112 + 8; // inside the data (header 110 + name 8 → 120)
            bad[off] ^= 1;
            assert!(CpioReader::new(&bad).any(|x| matches!(x, Err(Error::Checksum { .. }))));
        }
    }
}

#[test]
fn cpio_hostile_headers() {
    let mut h = [b'0'; 110];
    h[..6].copy_from_slice(b"070701");
    // namesize FFFFFFFF.
    h[94..102].copy_from_slice(b"FFFFFFFF");
    assert!(matches!(
        CpioReader::new(&h).next(),
        Some(Err(Error::Truncated { .. }))
    ));
    h[94..102].copy_from_slice(b"0000000G");
    assert!(matches!(
        CpioReader::new(&h).next(),
        Some(Err(Error::Malformed { .. }))
    ));
    h[94..102].copy_from_slice(b"00000000");
    assert!(matches!(
        CpioReader::new(&h).next(),
        Some(Err(Error::Malformed { .. }))
    ));
    // filesize beyond the end.
    let mut v = h.to_vec();
    v[94..102].copy_from_slice(b"00000002");
    v[54..62].copy_from_slice(b"7FFFFFFF");
    v.extend_from_slice(b"a\0");
    assert!(matches!(
        CpioReader::new(&v).next(),
        Some(Err(Error::Truncated { .. }))
    ));
    // Name without its NUL.
    v[54..62].copy_from_slice(b"00000000");
    v[111] = b'b';
    assert!(matches!(
        CpioReader::new(&v).next(),
        Some(Err(Error::Malformed { .. }))
    ));
}

// ---------------------------------------------------------------- ELF and Multiboot

#[test]
fn multiboot_headers() {
    let mut v = vec![0u8; 0x3000];
    let flags = 0x0001_0003u32;
    v[0x1000..0x1004].copy_from_slice(&0x1BAD_B002u32.to_le_bytes());
    v[0x1004..0x1008].copy_from_slice(&flags.to_le_bytes());
    v[0x1008..0x100C]
        .copy_from_slice(&(0u32.wrapping_sub(0x1BAD_B002).wrapping_sub(flags)).to_le_bytes());
    let p = probe(&v);
    assert_eq!(p.format, Format::Multiboot);
    assert!(p.bootable_on.contains(Platform::Bios));
    // Bad checksum: not multiboot.
    v[0x1008] ^= 1;
    assert_eq!(probe(&v).format, Format::Unknown);
    // Multiboot 2 with an end tag, 8-aligned.
    let mut v = vec![0u8; 0x9000];
    let at = 0x7FF8;
    let (arch, len) = (0u32, 24u32);
    v[at..at + 4].copy_from_slice(&0xE852_50D6u32.to_le_bytes());
    v[at + 4..at + 8].copy_from_slice(&arch.to_le_bytes());
    v[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
    let sum = 0u32
        .wrapping_sub(0xE852_50D6)
        .wrapping_sub(arch)
        .wrapping_sub(len);
    v[at + 12..at + 16].copy_from_slice(&sum.to_le_bytes());
    v[at + 20..at + 24].copy_from_slice(&8u32.to_le_bytes());
    let p = probe(&v);
    assert_eq!(p.format, Format::Multiboot);
    assert!(json(&p).contains("\"multiboot\":2"));
    prefixes(&v[..0x100], 0x100, 1);
}

#[test]
fn busybox_is_a_plain_x86_64_elf() {
    let Some(d) = real("/bin/busybox") else {
        return;
    };
    let p = probe(&d);
    assert_eq!(p.format, Format::Elf);
    assert_eq!(p.arch, Some(Arch::X86_64));
    assert!(p.bootable_on.is_empty());
    prefixes(&d[..0x4000.min(d.len())], 0x200, 50);
}

// ---------------------------------------------------------------- ISO, disk

fn build_iso(extra: &[&str]) -> Option<Vec<u8>> {
    if !tool("xorriso") {
        return None;
    }
    let dir = tmpdir(&format!("iso{}", extra.len()));
    let root = dir.join("root");
    fs::create_dir_all(root.join("EFI/BOOT")).ok()?;
    fs::create_dir_all(root.join("boot")).ok()?;
    fs::write(root.join("boot/bios.img"), vec![0xCCu8; 2048]).ok()?;
    fs::write(
        root.join("EFI/BOOT/BOOTX64.EFI"),
        minimal_pe(0x8664, 10, &[(b".text", b"x")]),
    )
    .ok()?;
    // A FAT image standing in for an ESP (only its size matters here).
    fs::write(root.join("boot/efi.img"), vec![0u8; 64 * 1024]).ok()?;
    let iso = dir.join("t.iso");
    let mut cmd = Command::new("xorriso");
    cmd.args(["-as", "mkisofs", "-quiet", "-V", "NETBOOT_T", "-o"])
        .arg(&iso)
        .args([
            "-b",
            "boot/bios.img",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-eltorito-alt-boot",
            "-e",
            "boot/efi.img",
            "-no-emul-boot",
        ]);
    for a in extra {
        cmd.arg(a.replace("{root}", &format!("{}", root.display())));
    }
    cmd.arg(&root);
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "note: xorriso failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    fs::read(&iso).ok()
}

#[test]
fn iso_with_bios_and_efi_el_torito() {
    let Some(d) = build_iso(&[]) else { return };
    let p = probe(&d);
    assert_eq!(p.format, Format::Iso9660, "{}", json(&p));
    assert!(p.bootable_on.contains(Platform::Bios));
    assert!(p.bootable_on.contains(Platform::EfiX86_64), "{}", json(&p));
    let iso = crate::iso::Iso::parse(&d).expect("iso");
    assert_eq!(iso.volume_id(), b"NETBOOT_T");
    let f = iso
        .lookup("/efi/boot/bootx64.efi")
        .expect("lookup")
        .expect("found");
    assert_eq!(probe(iso.extent(&f).expect("extent")).format, Format::Pe);
    let cat = iso.boot_catalog().expect("catalog").expect("valid");
    let entries: Vec<_> = cat.entries().collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].platform, 0);
    assert_eq!(entries[1].platform, 0xEF);
    assert_eq!(entries[1].image(&d).map(|i| i.len()), Some(64 * 1024));
    let mut n = 0;
    iso.walk(&mut |_, _| {
        n += 1;
        true
    })
    .expect("walk");
    assert_eq!(
        n, 7,
        "EFI, BOOT, BOOTX64.EFI, boot, bios.img, efi.img, boot.catalog"
    );

    // Directory loop: point /EFI's extent back at the root.
    let root = iso.root().expect("root");
    let efi = iso.lookup("/EFI").expect("lookup").expect("EFI");
    let mut looped = d.clone();
    let rootdir = (root.extent as usize) * 2048;
    let pos = (rootdir..rootdir + 2048)
        .find(|&i| looped[i + 33..].starts_with(b"EFI") && looped[i + 32] == 3)
        .expect("EFI record");
    looped[pos + 2..pos + 6].copy_from_slice(&root.extent.to_le_bytes());
    let _ = efi;
    let liso = crate::iso::Iso::parse(&looped).expect("iso");
    assert!(matches!(
        liso.walk(&mut |_, _| true),
        Err(Error::Loop { .. })
    ));
    assert!(liso.lookup("/EFI/EFI/EFI/EFI/x").is_err());
    exercise(&looped);
    prefixes(&d[..0x9000.min(d.len())], 0, 200);
    mutate(&d[..d.len().min(0x10000)], 300);
}

#[test]
fn iso_hybrid_gpt() {
    let Some(d) = build_iso(&[
        "-append_partition",
        "2",
        "0xef",
        "{root}/boot/efi.img",
        "-appended_part_as_gpt",
    ]) else {
        return;
    };
    let p = probe(&d);
    assert_eq!(p.format, Format::Iso9660);
    let j = json(&p);
    assert!(
        j.contains("\"mbr\":true") && j.contains("\"gpt_esp\":true"),
        "{j}"
    );
    prefixes(&d[..0x9000], 0x1000, 100);
}

#[test]
fn disk_with_mbr_and_gpt() {
    let mut d = vec![0u8; 64 * 1024];
    d[0] = 0xEB;
    d[0x1FE] = 0x55;
    d[0x1FF] = 0xAA;
    // Protective MBR.
    d[0x1BE + 4] = 0xEE;
    d[0x1BE + 8..0x1BE + 12].copy_from_slice(&1u32.to_le_bytes());
    d[0x1BE + 12..0x1BE + 16].copy_from_slice(&127u32.to_le_bytes());
    d[512..520].copy_from_slice(b"EFI PART");
    d[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
    d[512 + 80..512 + 84].copy_from_slice(&4u32.to_le_bytes());
    d[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
    d[1024..1040].copy_from_slice(&crate::disk::ESP_GUID);
    d[1024 + 32..1024 + 40].copy_from_slice(&34u64.to_le_bytes());
    d[1024 + 40..1024 + 48].copy_from_slice(&100u64.to_le_bytes());
    let p = probe(&d);
    assert_eq!(p.format, Format::Disk, "{}", json(&p));
    assert!(p.bootable_on.contains(Platform::Efi));
    // Entry count beyond the cap; entry array past the end.
    let mut h = d.clone();
    h[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(crate::disk::Gpt::parse(&h).is_err());
    exercise(&h);
    let mut h = d.clone();
    h[512 + 72..512 + 80].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(crate::disk::Gpt::parse(&h).is_err());
    prefixes(&d[..2048], 2048, 1);
}

// ---------------------------------------------------------------- WIM, microcode, misc

#[test]
fn wim_header() {
    let mut w = vec![0u8; 0xD0];
    w[..8].copy_from_slice(b"MSWIM\0\0\0");
    w[8..12].copy_from_slice(&0xD0u32.to_le_bytes());
    w[12..16].copy_from_slice(&0x10D00u32.to_le_bytes());
    w[16..20].copy_from_slice(&0x40082u32.to_le_bytes());
    w[20..24].copy_from_slice(&0x8000u32.to_le_bytes());
    w[0x2C..0x30].copy_from_slice(&2u32.to_le_bytes());
    w[0x78..0x7C].copy_from_slice(&1u32.to_le_bytes());
    // Lookup table at 0x1000, 100 bytes: beyond the file → truncated.
    w[0x30..0x38].copy_from_slice(&100u64.to_le_bytes());
    w[0x38..0x40].copy_from_slice(&0x1000u64.to_le_bytes());
    let p = probe(&w);
    assert_eq!(p.format, Format::Wim);
    let Details::Wim(h) = &p.details else {
        panic!("details")
    };
    assert_eq!(h.compression(), "lzx");
    assert_eq!(h.image_count, 2);
    assert!(
        texts(&p)
            .iter()
            .any(|t| t.starts_with("truncated WIM: header says 4196 bytes"))
    );
    prefixes(&w, w.len(), 1);
}

#[test]
fn intel_microcode() {
    let mut m = vec![0u8; 2048];
    m[0..4].copy_from_slice(&1u32.to_le_bytes());
    m[4..8].copy_from_slice(&0x42u32.to_le_bytes());
    m[8..12].copy_from_slice(&0x0315_2023u32.to_le_bytes());
    m[12..16].copy_from_slice(&0x906EAu32.to_le_bytes());
    m[20..24].copy_from_slice(&1u32.to_le_bytes());
    let sum = m.chunks_exact(4).fold(0u32, |a, c| {
        a.wrapping_add(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    });
    m[16..20].copy_from_slice(&0u32.wrapping_sub(sum).to_le_bytes());
    let p = probe(&m);
    assert_eq!(p.format, Format::Microcode);
    assert!(json(&p).contains("\"checksum_ok\":true"));
    m[100] = 1;
    assert!(
        probe(&m)
            .problems
            .iter()
            .any(|x| matches!(x, Problem::BadChecksum { .. }))
    );
    assert_eq!(probe(b"DMA\0\0\0\0\0").format, Format::Microcode);
}

#[test]
fn small_magics() {
    assert_eq!(probe(b"#!ipxe").format, Format::Script);
    assert_eq!(probe(b"#!gpxe\n").format, Format::Script);
    assert_eq!(probe(b"#!ipxex").format, Format::Unknown);
    assert_eq!(probe(&[0x28, 0xB5, 0x2F, 0xFD, 0]).format, Format::Zstd);
    assert_eq!(
        probe(&[0xFD, b'7', b'z', b'X', b'Z', 0, 0]).format,
        Format::Xz
    );
    assert_eq!(probe(&[0x02, 0x21, 0x4C, 0x18, 0]).format, Format::Lz4);
    assert_eq!(probe(b"BZh91AY&SY....").format, Format::Bzip2);
    assert_eq!(
        probe(&[0xB8, 0xFE, 0x4C, 0xCD, 0x21, 0x90]).format,
        Format::Com32
    );
    let p = probe(b"");
    assert_eq!(p.format, Format::Unknown);
    // NBP only with context.
    let nbp = [0xEA, 0x05, 0x00, 0xC0, 0x07, 0x90, 0x90];
    let p = probe(&nbp);
    assert_eq!(p.format, Format::Unknown);
    assert!(matches!(p.problems[0], Problem::Maybe { .. }));
    let p = probe_with(
        &nbp,
        &Hints {
            name: Some("http://x/undionly.kpxe"),
            ..Hints::default()
        },
    );
    assert_eq!(p.format, Format::Nbp);
    assert!(p.bootable_on.contains(Platform::Bios));
    let utf8 = Hints {
        name: Some("é.ké"),
        ..Hints::default()
    };
    assert_eq!(probe_with(&nbp, &utf8).format, Format::Unknown);
    let p = probe_with(
        &nbp,
        &Hints {
            nbp: true,
            ..Hints::default()
        },
    );
    assert_eq!(p.format, Format::Nbp);
    for n in 0..64 {
        let v = vec![0xFFu8; n];
        exercise(&v);
        exercise(&vec![0u8; n]);
    }
}

#[test]
fn errors_have_codes_and_hints() {
    let e = Error::Truncated {
        what: "bzImage",
        need: 10,
        have: 5,
    };
    assert_eq!(e.code(), 0x0A01);
    let s = format!("{e}");
    assert!(s.contains("header says 10 bytes, have 5") && s.contains("hint"));
}

// ---------------------------------------------------------------- real files

fn timed(d: &[u8]) -> (crate::Probe, std::time::Duration) {
    let t = std::time::Instant::now();
    let p = probe(d);
    (p, t.elapsed())
}

#[test]
fn real_debian_kernel_with_efi_stub() {
    let Some(d) = real("/work/main/target/netboot/assets/vmlinuz") else {
        return;
    };
    let (p, t) = timed(&d);
    eprintln!("probe vmlinuz ({} bytes): {t:?}\n{}", d.len(), json(&p));
    assert_eq!(p.format, Format::BzImage);
    assert_eq!(p.arch, Some(Arch::X86_64));
    for pl in [
        Platform::Bios,
        Platform::LinuxBootProtocol,
        Platform::EfiX86_64,
    ] {
        assert!(p.bootable_on.contains(pl), "{pl}");
    }
    assert!(p.problems.is_empty(), "{:?}", texts(&p));
    let Details::BzImage(b) = &p.details else {
        panic!("details")
    };
    assert!(b.efi_stub.is_some());
    assert!(b.version >= 0x020C);
    assert!(
        b.kernel_version
            .as_deref()
            .is_some_and(|v| v.starts_with("6."))
    );
    if let Ok(v) = fs::read_to_string("/work/main/target/netboot/assets/vmlinuz.version") {
        let v = v.trim();
        assert!(
            b.kernel_version
                .as_deref()
                .is_some_and(|k| k.contains(v) || v.contains(k.split(' ').next().unwrap_or("?"))),
            "{v}"
        );
    }
    // Truncated to 3 MiB: the precise message.
    let cut = &d[..3 << 20];
    let p = probe(cut);
    assert!(
        texts(&p)
            .iter()
            .any(|t| t.starts_with("truncated") && t.contains(&format!("have {}", 3 << 20))),
        "{:?}",
        texts(&p)
    );
    prefixes(&d[..0x6000], 0x1000, 200);
    let step = d.len() / 64;
    for n in (0..d.len()).step_by(step) {
        exercise(&d[..n]);
    }
}

#[test]
fn real_ipxe_lkrn_has_no_efi_stub() {
    let Some(d) = real("/usr/lib/ipxe/ipxe.lkrn") else {
        return;
    };
    let (p, t) = timed(&d);
    eprintln!("probe ipxe.lkrn: {t:?}\n{}", json(&p));
    assert_eq!(p.format, Format::BzImage);
    assert!(p.problems.contains(&Problem::NoEfiStub));
    assert!(p.bootable_on.contains(Platform::Bios));
    assert!(!p.bootable_on.contains(Platform::EfiX86_64));
    prefixes(&d[..0x2000], 0x1000, 100);
}

#[test]
fn real_ipxe_efi_binaries() {
    for f in ["/usr/lib/ipxe/ipxe.efi", "/usr/lib/ipxe/snponly.efi"] {
        let Some(d) = real(f) else { continue };
        let (p, t) = timed(&d);
        eprintln!("probe {f}: {t:?}\n{}", json(&p));
        assert_eq!(p.format, Format::Pe);
        assert_eq!(p.arch, Some(Arch::X86_64));
        assert!(p.bootable_on.contains(Platform::EfiX86_64));
        assert!(
            !p.problems
                .iter()
                .any(|x| matches!(x, Problem::Truncated { .. } | Problem::Malformed(_))),
            "{:?}",
            texts(&p)
        );
        prefixes(&d[..0x1000], 0x600, 50);
        for n in (0..d.len()).step_by(d.len() / 32) {
            exercise(&d[..n]);
        }
    }
}

#[test]
fn real_undionly_kpxe() {
    let Some(d) = real("/usr/lib/ipxe/undionly.kpxe") else {
        return;
    };
    let p = probe(&d);
    assert_eq!(p.format, Format::Unknown);
    let p = probe_with(
        &d,
        &Hints {
            name: Some("undionly.kpxe"),
            ..Hints::default()
        },
    );
    eprintln!("{}", json(&p));
    assert_eq!(p.format, Format::Nbp);
    prefixes(&d[..0x800], 0x800, 1);
}

#[test]
fn real_ipxe_iso() {
    let Some(d) = real("/usr/lib/ipxe/ipxe.iso") else {
        return;
    };
    let (p, t) = timed(&d);
    eprintln!("probe ipxe.iso: {t:?}\n{}", json(&p));
    assert_eq!(p.format, Format::Iso9660);
    assert!(p.bootable_on.contains(Platform::Bios));
    // The El Torito EFI image is a FAT file system holding iPXE's BOOTX64.EFI.
    let Details::Iso(i) = &p.details else {
        panic!("details")
    };
    assert!(
        i.esp_loaders
            .iter()
            .any(|l| l.name == "BOOTX64.EFI" && l.arch == Some(Arch::X86_64) && l.size > 0),
        "{}",
        json(&p)
    );
    assert!(p.bootable_on.contains(Platform::EfiX86_64));
    let iso = crate::iso::Iso::parse(&d).expect("iso");
    iso.walk(&mut |_, _| true).expect("walk");
    prefixes(&d[..0x9800], 0, 300);
}

#[test]
fn real_initrd_gz_decompresses_and_lists() {
    let Some(d) = real("/work/main/target/netboot/assets/initrd.cpio.gz") else {
        return;
    };
    let (p, t) = timed(&d);
    eprintln!("probe initrd.cpio.gz: {t:?}\n{}", json(&p));
    assert_eq!(p.format, Format::Gzip);
    let Details::Compressed(c) = &p.details else {
        panic!("details")
    };
    assert_eq!(c.inner, Some(Format::Cpio));
    let t = std::time::Instant::now();
    let raw = inflate::gunzip(&d, 512 << 20).expect("gunzip");
    eprintln!(
        "gunzip {} -> {} bytes: {:?}",
        d.len(),
        raw.len(),
        t.elapsed()
    );
    let names: Vec<String> = CpioReader::new(&raw)
        .map(|e| String::from_utf8_lossy(e.expect("entry").name).into_owned())
        .collect();
    assert!(!names.is_empty());
    if tool("gzip") && tool("cpio") {
        let out = Command::new("sh")
            .arg("-c")
            .arg("gzip -dc /work/main/target/netboot/assets/initrd.cpio.gz | cpio -t 2>/dev/null")
            .output()
            .expect("cpio");
        let want: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(names, want);
    }
    assert_eq!(probe(&raw).format, Format::Cpio);
    let _ = Path::new("/");
}
