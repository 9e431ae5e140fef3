//! WIM fixtures captured with `wimlib-imagex` (Debian's `wimtools`) at test time.

use super::{tmpdir, tool};
extern crate std;

use crate::wim::{Metadata, Wim};
use crate::{Details, Error, Format, probe};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use std::{eprintln, format, fs};

const WINLOAD: &str = "Windows/System32/boot/winload.efi";

/// A tree with text, random (incompressible), x86 code (E8 bytes), empty, large and nested
/// files. Returns (root, relative paths).
fn tree(dir: &Path) -> Vec<String> {
    let root = dir.join("tree");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let code = fs::read("/bin/ls").unwrap_or_else(|_| x86ish(150_000));
    files.push((WINLOAD.into(), code));
    files.push(("bootmgr".into(), x86ish(70_001)));
    let mut rng = 0x1234_5678_9abc_def0u64;
    let random: Vec<u8> = (0..100_003)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    files.push(("random.bin".into(), random));
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&format!("line {i} of the text, {}\n", i * 7919 % 1000));
    }
    files.push(("Windows/Numbers.TXT".into(), text.into_bytes()));
    files.push(("empty.txt".into(), Vec::new()));
    files.push(("a/b/c/d/deep.txt".into(), b"deep\n".to_vec()));
    files.push((
        "Windows/Boot/EFI/small.bin".into(),
        b"0123456789ab".to_vec(),
    ));
    files.push(("exact.bin".into(), vec_pattern(32768)));
    files.push(("exact2.bin".into(), vec_pattern(65537)));
    for (p, d) in &files {
        let f = root.join(p);
        fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        fs::write(&f, d).expect("write");
    }
    fs::create_dir_all(root.join("emptydir")).expect("mkdir");
    files.into_iter().map(|(p, _)| p).collect()
}

fn vec_pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * i / 7) as u8).collect()
}

/// Pseudo x86 code: many E8 calls with plausible displacements.
fn x86ish(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut i = 0u32;
    while v.len() < n {
        v.extend_from_slice(&[0x48, 0x89, 0xE5, 0xE8]);
        v.extend_from_slice(&(i.wrapping_mul(37) % 5000).wrapping_sub(2500).to_le_bytes());
        v.extend_from_slice(&[0xC3, 0x90]);
        i += 1;
    }
    v.truncate(n);
    v
}

/// Captures `tree` with `args`; `None` (with a note) when wimlib-imagex is absent.
fn capture(dir: &Path, name: &str, args: &[&str]) -> Option<PathBuf> {
    if !tool("wimlib-imagex") {
        return None;
    }
    let out = dir.join(name);
    let r = Command::new("wimlib-imagex")
        .arg("capture")
        .arg(dir.join("tree"))
        .arg(&out)
        .args(["Boot & <Image>", "first image"])
        .args(args)
        .output()
        .expect("run wimlib-imagex");
    assert!(
        r.status.success(),
        "wimlib-imagex capture: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    Some(out)
}

fn read_all(wim: &Wim<'_>, image: u32, root: &Path, files: &[String]) {
    for f in files {
        let want = fs::read(root.join(f)).expect("read");
        let win = f.replace('/', "\\");
        let got = wim
            .read_file(image, &format!("\\{win}"))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(
            got == want,
            "{f}: {} bytes read back, {} expected, differ",
            got.len(),
            want.len()
        );
        // Case-insensitive.
        let got = wim.read_file(image, &f.to_uppercase()).expect("upper");
        assert_eq!(got.len(), want.len());
    }
}

#[test]
fn wim_roundtrip_all_compressions() {
    let dir = tmpdir("wim");
    let files = tree(&dir);
    for (c, name, chunk) in [
        ("none", "none", None),
        ("XPRESS", "xpress", None),
        ("LZX", "lzx", None),
        // Larger chunks: XPRESS at its 64 KiB maximum, LZX with a 128 KiB window.
        ("XPRESS", "xpress", Some(65536)),
        ("LZX", "lzx", Some(131072)),
    ] {
        let compress = format!("--compress={c}");
        let mut args = vec![compress.as_str(), "--boot"];
        let cs = chunk.map(|n: u32| format!("--chunk-size={n}"));
        if let Some(cs) = &cs {
            args.push(cs);
        }
        let file = format!("{c}-{}.wim", chunk.unwrap_or(0));
        let Some(path) = capture(&dir, &file, &args) else {
            return;
        };
        let data = fs::read(&path).expect("read wim");
        let wim = Wim::parse(&data).expect("parse");
        assert_eq!(wim.header().compression(), name);
        if let Some(n) = chunk {
            assert_eq!(wim.header().chunk_size, n);
        }
        assert_eq!(wim.header().image_count, 1);
        assert_eq!(wim.header().boot_index, 1);
        let info = wim.info().expect("xml");
        assert_eq!(info.images.len(), 1);
        assert_eq!(info.images[0].index, 1);
        assert_eq!(info.images[0].name.as_deref(), Some("Boot & <Image>"));
        assert_eq!(info.images[0].description.as_deref(), Some("first image"));
        assert_eq!(info.boot_image_name(), Some("Boot & <Image>"));
        read_all(&wim, 1, &dir.join("tree"), &files);
        // Index 0 = the boot image.
        let w0 = wim.read_file(0, WINLOAD).expect("boot image");
        assert_eq!(w0, fs::read(dir.join("tree").join(WINLOAD)).expect("read"));
        // Every file the walk finds is readable; directories are where they should be.
        let meta = wim.metadata(1).expect("metadata");
        let mut seen = Vec::new();
        meta.walk(|p, e| seen.push((String::from(p), e.is_dir())))
            .expect("walk");
        assert!(
            seen.contains(&(String::from("\\a\\b\\c\\d\\deep.txt"), false)),
            "{seen:?}"
        );
        assert!(
            seen.contains(&(String::from("\\emptydir"), true)),
            "{seen:?}"
        );
        assert_eq!(seen.iter().filter(|(_, d)| !d).count(), files.len());
        assert!(matches!(
            wim.read_file(1, "\\Windows\\nope"),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            wim.read_file(1, "\\Windows"),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            wim.read_file(2, "\\bootmgr"),
            Err(Error::InvalidArgument { .. })
        ));
        eprintln!("{c}: {} bytes, {} blobs", data.len(), wim.blobs().len());
        hostile(&data, name);
    }
}

/// Hostile variants of a real WIM: errors, never panics, and quickly.
fn hostile(data: &[u8], name: &str) {
    let t = Instant::now();
    let try_all = |d: &[u8]| {
        let _ = probe(d);
        if let Ok(w) = Wim::parse(d) {
            let _ = w.info();
            let _ = w.read_file(0, WINLOAD);
            if let Ok(m) = w.metadata(1) {
                let _ = m.walk(|_, _| {});
            }
        }
    };
    // Truncations.
    for n in [
        0,
        8,
        0xD0,
        0x100,
        data.len() / 3,
        data.len() / 2,
        data.len() - 1,
    ] {
        try_all(&data[..n]);
    }
    // Byte flips spread over the file (chunk tables, bit streams, metadata).
    let mut d = data.to_vec();
    let step = (data.len() / 150).max(1);
    for i in (0xD0..data.len()).step_by(step) {
        let old = d[i];
        d[i] ^= 0xA5;
        let t = Instant::now();
        try_all(&d);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{name}: flip at {i} took {:?}",
            t.elapsed()
        );
        d[i] = old;
    }
    // Every blob, each chunk table entry corrupted in turn: a first chunk ending past the
    // resource or empty is an error.
    if let Ok(w) = Wim::parse(data) {
        let chunk = u64::from(w.header().chunk_size.max(1));
        for (i, b) in w.blobs().iter().enumerate() {
            if b.resource.flags & crate::wim::RES_COMPRESSED == 0 || b.is_metadata() {
                continue;
            }
            let off = b.resource.offset as usize;
            for (k, v) in [(0usize, 0xFFFF_FFFFu32), (0, 0), (4, 1), (8, 0x7FFF_0000)] {
                let mut d = data.to_vec();
                if let Some(s) = d.get_mut(off + k..off + k + 4) {
                    s.copy_from_slice(&v.to_le_bytes());
                    let w = Wim::parse(&d).expect("blob table untouched");
                    let r = w.read_blob(&w.blobs()[i]);
                    if k == 0 && b.resource.original_size > chunk {
                        assert!(r.is_err(), "{name}: chunk table entry {v:#x} accepted");
                    }
                }
            }
        }
        // A flipped byte in a file's data fails its SHA-1 (uncompressed blobs).
        if let Some(b) = w
            .blobs()
            .iter()
            .find(|b| b.resource.flags == 0 && b.resource.original_size > 100)
        {
            let mut d = data.to_vec();
            d[b.resource.offset as usize + 50] ^= 1;
            let w = Wim::parse(&d).expect("parse");
            let e = w.read_blob(b).expect_err("corrupt blob");
            assert!(matches!(e, Error::Checksum { .. }), "{name}: {e}");
        }
    }
    // The blob table or the XML (written last) cut off.
    assert!(
        Wim::parse(&data[..data.len() - 1])
            .and_then(|w| w.info())
            .is_err()
    );
    // A decompression bomb: the blob table claiming 2^62 bytes.
    let mut d = data.to_vec();
    d[0x30 + 16..0x30 + 24].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(
        matches!(Wim::parse(&d), Err(Error::TooLarge { .. })),
        "{name}"
    );
    // Huge sizes and offsets in every resource header of the file's header.
    for off in [0x30usize, 0x48, 0x60] {
        for (field, v) in [
            (0usize, 0x00FF_FFFF_FFFF_FFFFu64),
            (8, u64::MAX - 5),
            (16, 1 << 62),
            (16, 0xFFFF_FFFF),
        ] {
            let mut d = data.to_vec();
            let flags = d[off + 7];
            d[off + field..off + field + 8].copy_from_slice(&v.to_le_bytes());
            if field == 0 {
                d[off + 7] = flags;
            }
            try_all(&d);
        }
    }
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "{name}: hostile inputs took {:?}",
        t.elapsed()
    );
}

#[test]
fn wim_two_images_boot_index_and_probe() {
    let dir = tmpdir("wim2");
    let files = tree(&dir);
    let Some(path) = capture(&dir, "two.wim", &["--compress=LZX"]) else {
        return;
    };
    // A second image with one more file, made the boot image.
    fs::write(dir.join("tree/Windows/Boot/EFI/bootmgfw.efi"), x86ish(5000)).expect("write");
    let r = Command::new("wimlib-imagex")
        .arg("append")
        .arg(dir.join("tree"))
        .arg(&path)
        .args(["Setup", "--boot"])
        .output()
        .expect("append");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let data = fs::read(&path).expect("read");
    let wim = Wim::parse(&data).expect("parse");
    let info = wim.info().expect("info");
    assert_eq!(info.image_count, 2);
    assert_eq!(info.boot_index, 2);
    let names: Vec<_> = info
        .images
        .iter()
        .map(|i| (i.index, i.name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (1, Some("Boot & <Image>".into())),
            (2, Some("Setup".into()))
        ]
    );
    assert_eq!(info.boot_image_name(), Some("Setup"));
    read_all(&wim, 2, &dir.join("tree"), &files);
    assert!(
        wim.read_file(1, "\\Windows\\Boot\\EFI\\bootmgfw.efi")
            .is_err()
    );
    assert_eq!(
        wim.read_file(0, "/windows/boot/efi/BOOTMGFW.EFI")
            .expect("boot image")
            .len(),
        5000
    );
    let p = probe(&data);
    assert_eq!(p.format, Format::Wim);
    let Details::Wim(d) = &p.details else {
        panic!("details")
    };
    assert_eq!(d.boot_index, 2);
    assert_eq!(d.images.len(), 2);
    assert_eq!(
        d.boot_files.as_deref(),
        Some(
            &[
                "\\Windows\\System32\\boot\\winload.efi",
                "\\Windows\\Boot\\EFI\\bootmgfw.efi",
                "\\bootmgr"
            ][..]
        )
    );
    let mut j = String::new();
    p.write_json_object(&mut j).expect("json");
    eprintln!("{j}");
    assert!(j.contains("\"compression\":\"lzx\""), "{j}");
    assert!(
        j.contains("\"images\":[{\"index\":1,\"name\":\"Boot & <Image>\""),
        "{j}"
    );
    assert!(j.contains("\"winload\":true"), "{j}");
}

#[test]
fn wim_solid_is_unsupported_with_a_clear_error() {
    let dir = tmpdir("wims");
    tree(&dir);
    let Some(path) = capture(&dir, "solid.wim", &["--solid"]) else {
        return;
    };
    let data = fs::read(&path).expect("read");
    let p = probe(&data);
    assert_eq!(p.format, Format::Wim);
    let mut j = String::new();
    p.write_json_object(&mut j).expect("json");
    assert!(j.contains("solid/LZMS"), "{j}");
    // The XML and blob table are readable; file data is not.
    match Wim::parse(&data) {
        Ok(w) => {
            assert_eq!(w.info().expect("xml").images.len(), 1);
            let e = w.read_file(1, WINLOAD).expect_err("solid");
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
            let msg = format!("{e}");
            assert!(msg.contains("solid") || msg.contains("LZMS"), "{msg}");
        }
        Err(e) => {
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        }
    }
    hostile(&data, "solid");
}

#[test]
fn wim_metadata_loops_and_bad_entries() {
    // Security block (8 bytes), root at 8 pointing at children at 0x70.
    fn dentry(name: &str, attr: u32, subdir: u64) -> Vec<u8> {
        let n: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let len = (0x66 + n.len() + if n.is_empty() { 0 } else { 2 } + 7) & !7;
        let mut e = vec![0u8; len.max(0x68)];
        let l = e.len() as u64;
        e[0..8].copy_from_slice(&l.to_le_bytes());
        e[8..12].copy_from_slice(&attr.to_le_bytes());
        e[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        e[0x10..0x18].copy_from_slice(&subdir.to_le_bytes());
        e[0x64..0x66].copy_from_slice(&(n.len() as u16).to_le_bytes());
        e[0x66..0x66 + n.len()].copy_from_slice(&n);
        e
    }
    let mut m = Vec::new();
    m.extend_from_slice(&8u32.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend(dentry("", 0x10, 0x78)); // 0x08..0x70
    m.extend([0u8; 8]); // 0x70
    // 0x78: a directory whose children are the root's children again: a loop.
    m.extend(dentry("loop", 0x10, 0x78));
    m.extend([0u8; 8]);
    let meta = Metadata::parse(m.clone()).expect("parse");
    assert!(meta.find("\\loop\\loop\\loop\\LOOP").is_ok());
    let t = Instant::now();
    let e = meta.walk(|_, _| {}).expect_err("loop");
    assert!(matches!(e, Error::Loop { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(1));
    // Length below the fixed part, names past the entry, odd name length, offsets past the end.
    for (off, v) in [
        (0x78usize, 8u64),
        (0x78, 0x7FFF_FFFF),
        (0x78 + 0x10, u64::MAX),
    ] {
        let mut b = m.clone();
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        if let Ok(meta) = Metadata::parse(b) {
            assert!(meta.find("\\loop\\x").is_err());
            let _ = meta.walk(|_, _| {});
        }
    }
    let mut b = m.clone();
    b[0x78 + 0x64] = 0xFF;
    assert!(Metadata::parse(b).expect("root ok").find("\\loop").is_err());
    // Security block bigger than the resource, or with a count overflowing it.
    let mut b = m.clone();
    b[0..4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(matches!(Metadata::parse(b), Err(Error::Truncated { .. })));
    let mut b = m.clone();
    b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Metadata::parse(b), Err(Error::Malformed { .. })));
    assert!(Metadata::parse(Vec::new()).is_err());
}
