//! netboot-image on real files: `probe` and the typed parsers on the provisioned Debian
//! cloud kernel (`target/netboot/assets/vmlinuz`), Debian's iPXE builds
//! (`/usr/lib/ipxe/{ipxe.efi,snponly.efi,ipxe.lkrn,undionly.kpxe}`), an ISO built with
//! `xorriso` at bench time, a CPIO archive and gzip streams built in memory (the
//! compressor is the system's `gzip -6`); and netboot-image's own inflate (CRC-32
//! checked) on a gzip of the kernel and of 16 MiB of mixed data.
//!
//! A missing input (kernel not provisioned, `ipxe` or `xorriso` not installed) skips its
//! benchmarks with a note; `cargo xtask bench` or `cargo xtask test` provision them all.

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use netboot_benches::pseudo_random_bytes;
use netboot_image::cpio::{CpioReader, CpioWriter};
use netboot_image::iso::Iso;
use netboot_image::pe::Pe;
use netboot_image::{BzImage, Details, Format, Hints, inflate, probe, probe_with};
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The provisioned kernel, as `cargo xtask` finds it.
fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/netboot/assets")
        .join(name)
}

/// Reads a real file, or says why its benchmarks are skipped.
fn real(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!(
                "note: {}: {e}; skipping its benchmarks (cargo xtask bench provisions it)",
                path.display()
            );
            None
        }
    }
}

/// `gzip -6 -n` of `data` by the system's gzip (netboot-image only decompresses).
fn system_gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("gzip")
        .args(["-6", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| eprintln!("note: gzip: {e}; skipping the gzip benchmarks"))
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    out.status.success().then_some(out.stdout)
}

/// 16 MiB of mixed content, as a compressed initramfs or disk image holds: real
/// executables (busybox, iPXE), text, zero runs and incompressible bytes, in turn.
fn mixed(size: usize, pieces: &[&[u8]]) -> Vec<u8> {
    let text: String = (0..4000)
        .map(|i| format!("item linux{i} Linux installer {i} kernel=http://192.0.2.1/images/{i}/vmlinuz initrd=initrd.gz\n"))
        .collect();
    let zeros = vec![0u8; 64 << 10];
    let noise = pseudo_random_bytes(256 << 10, 0x6d78);
    let mut all: Vec<&[u8]> = pieces.to_vec();
    all.extend([text.as_bytes(), &zeros, &noise]);
    let mut out = Vec::with_capacity(size);
    'fill: loop {
        for p in &all {
            if out.len() >= size {
                break 'fill;
            }
            out.extend_from_slice(&p[..p.len().min(size - out.len())]);
        }
    }
    out
}

/// An ISO 9660 image with BIOS and EFI El Torito entries, the kernel, iPXE's binaries
/// and 240 small files in 24 directories, built by `xorriso` in a temporary directory.
fn xorriso_iso(kernel: &[u8], efi: &[u8]) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("netboot-bench-iso-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    let build = || -> std::io::Result<bool> {
        std::fs::create_dir_all(root.join("EFI/BOOT"))?;
        std::fs::create_dir_all(root.join("boot"))?;
        std::fs::write(root.join("boot/vmlinuz"), kernel)?;
        std::fs::write(root.join("EFI/BOOT/BOOTX64.EFI"), efi)?;
        std::fs::write(root.join("boot/bios.img"), vec![0xccu8; 2048])?;
        std::fs::write(root.join("boot/efi.img"), vec![0u8; 1 << 20])?;
        for d in 0..24 {
            let sub = root.join(format!("pool/main/d{d:02}"));
            std::fs::create_dir_all(&sub)?;
            for f in 0..10 {
                std::fs::write(
                    sub.join(format!("package-{d}-{f}.deb")),
                    vec![d as u8; 3000],
                )?;
            }
        }
        let status = Command::new("xorriso")
            .args([
                "-as",
                "mkisofs",
                "-quiet",
                "-R",
                "-J",
                "-V",
                "NETBOOT_BENCH",
                "-o",
            ])
            .arg(dir.join("bench.iso"))
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
            ])
            .arg(&root)
            .stderr(Stdio::null())
            .status()?;
        Ok(status.success())
    };
    let iso = match build() {
        Ok(true) => std::fs::read(dir.join("bench.iso")).ok(),
        Ok(false) => {
            eprintln!("note: xorriso failed; skipping the ISO benchmarks");
            None
        }
        Err(e) => {
            eprintln!("note: xorriso: {e}; skipping the ISO benchmarks");
            None
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    iso
}

/// A newc archive like an initramfs: the directory tree, busybox, the kernel as a
/// large member and 500 small configuration files.
fn cpio_archive(busybox: &[u8], kernel: &[u8]) -> Vec<u8> {
    let mut w = CpioWriter::new();
    for d in [
        "bin",
        "dev",
        "etc",
        "etc/conf.d",
        "lib",
        "lib/modules",
        "proc",
        "sys",
    ] {
        w.dir(d.as_bytes(), 0o755).expect("dir");
    }
    w.file(b"bin/busybox", 0o755, busybox).expect("file");
    w.file(b"lib/modules/vmlinuz", 0o644, kernel).expect("file");
    for i in 0..500 {
        let text = format!("# setting {i}\nNAME{i}=value-{i}\nURL{i}=http://192.0.2.1/{i}\n");
        w.file(
            format!("etc/conf.d/{i:03}.conf").as_bytes(),
            0o644,
            text.as_bytes(),
        )
        .expect("file");
    }
    w.file(b"init", 0o755, b"#!/bin/busybox sh\nexec /bin/busybox sh\n")
        .expect("file");
    w.finish().expect("archive")
}

/// Benchmarks `probe` (with `hints`) of `data`, after checking it finds `want`.
fn bench_probe(g: &mut Group<'_>, name: &str, data: &[u8], hints: &Hints<'_>, want: Format) {
    let p = probe_with(data, hints);
    assert_eq!(p.format, want, "{name}: {:?}", p.problems);
    eprintln!("{name}: {} bytes", data.len());
    // A probe reads headers, not every byte: a byte rate would mean nothing.
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| b.iter(|| probe_with(black_box(data), hints)));
}

fn bench_image(c: &mut Criterion) {
    let kernel = real(&asset("vmlinuz"));
    let ipxe_efi = real(Path::new("/usr/lib/ipxe/ipxe.efi"));
    let snponly = real(Path::new("/usr/lib/ipxe/snponly.efi"));
    let lkrn = real(Path::new("/usr/lib/ipxe/ipxe.lkrn"));
    let kpxe = real(Path::new("/usr/lib/ipxe/undionly.kpxe"));
    let busybox = real(Path::new("/bin/busybox"));
    let initrd_gz = real(&asset("initrd.cpio.gz"));

    let mut g = c.benchmark_group("image_probe");
    let none = Hints::default();
    if let Some(k) = &kernel {
        bench_probe(&mut g, "vmlinuz", k, &none, Format::BzImage);
    }
    if let Some(d) = &ipxe_efi {
        bench_probe(&mut g, "ipxe.efi", d, &none, Format::Pe);
    }
    if let Some(d) = &snponly {
        bench_probe(&mut g, "snponly.efi", d, &none, Format::Pe);
    }
    if let Some(d) = &lkrn {
        bench_probe(&mut g, "ipxe.lkrn", d, &none, Format::BzImage);
    }
    if let Some(d) = &kpxe {
        let hints = Hints {
            name: Some("undionly.kpxe"),
            ..Hints::default()
        };
        bench_probe(&mut g, "undionly.kpxe", d, &hints, Format::Nbp);
    }
    if let Some(d) = &initrd_gz {
        let p = probe(d);
        assert!(
            matches!(&p.details, Details::Compressed(c) if c.inner == Some(Format::Cpio)),
            "{:?}",
            p.details
        );
        bench_probe(&mut g, "initrd.cpio.gz", d, &none, Format::Gzip);
    }
    let iso = match (&kernel, &ipxe_efi) {
        (Some(k), Some(e)) => xorriso_iso(k, e),
        _ => None,
    };
    if let Some(d) = &iso {
        bench_probe(&mut g, "xorriso.iso", d, &none, Format::Iso9660);
    }
    let cpio = match (&busybox, &kernel) {
        (Some(b), Some(k)) => Some(cpio_archive(b, k)),
        _ => None,
    };
    if let Some(d) = &cpio {
        bench_probe(&mut g, "initramfs.cpio", d, &none, Format::Cpio);
    }
    g.finish();

    let mut g = c.benchmark_group("image_parse");
    if let Some(k) = &kernel {
        let b = BzImage::parse(k).expect("bzImage");
        assert!(b.kernel_version().is_some() && b.payload_data().is_some());
        g.throughput(Throughput::Elements(1));
        g.bench_function("bzimage_header_vmlinuz", |bch| {
            bch.iter(|| {
                let b = BzImage::parse(black_box(k)).expect("bzImage");
                (
                    b.version(),
                    b.kernel_version().map(<[u8]>::len),
                    b.payload_data().map(<[u8]>::len),
                    b.handover_offset(),
                    b.init_size(),
                    b.relocatable(),
                )
            })
        });
    }
    if let Some(d) = &ipxe_efi {
        let pe = Pe::parse(d).expect("PE");
        let sections = pe.sections().count();
        assert!(sections >= 2, "{sections} sections");
        g.throughput(Throughput::Elements(1));
        g.bench_function("pe_sections_ipxe.efi", |b| {
            b.iter(|| {
                let pe = Pe::parse(black_box(d)).expect("PE");
                let size: u64 = pe.sections().map(|s| u64::from(s.virtual_size)).sum();
                (size, (0..16).filter_map(|i| pe.data_directory(i)).count())
            })
        });
    }
    if let Some(d) = &iso {
        let walk = |d: &[u8]| {
            let iso = Iso::parse(d).expect("ISO");
            let mut records = 0usize;
            iso.walk(&mut |_, _| {
                records += 1;
                true
            })
            .expect("walk");
            let boot = iso
                .boot_catalog()
                .map(|c| c.map(|c| c.entries().count()).expect("catalog"));
            (records, boot)
        };
        let (records, boot) = walk(d);
        assert!(records >= 240 + 24, "{records} records");
        assert_eq!(boot, Some(2), "BIOS and EFI El Torito entries");
        eprintln!("xorriso.iso: {} bytes, {records} records", d.len());
        g.throughput(Throughput::Elements(records as u64));
        g.bench_function("iso_walk_and_catalog", |b| b.iter(|| walk(black_box(d))));
    }
    if let Some(d) = &cpio {
        let list = |d: &[u8]| {
            let mut n = 0usize;
            let mut bytes = 0usize;
            for e in CpioReader::new(d) {
                let e = e.expect("member");
                n += 1;
                bytes += e.data.len();
            }
            (n, bytes)
        };
        let (n, _) = list(d);
        assert_eq!(n, 8 + 2 + 500 + 1, "members");
        // Member headers are parsed, member data only sliced: count members.
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("cpio_read_initramfs", |b| b.iter(|| list(black_box(d))));
        if let (Some(bb), Some(k)) = (&busybox, &kernel) {
            // The writer copies every byte.
            g.throughput(Throughput::Bytes(d.len() as u64));
            g.bench_function("cpio_write_initramfs", |b| b.iter(|| cpio_archive(bb, k)));
        }
    }
    g.finish();

    let mut g = c.benchmark_group("inflate");
    let mut inputs = Vec::new();
    if let Some(k) = &kernel {
        inputs.push(("gunzip_vmlinuz", k.clone()));
    }
    let pieces: Vec<&[u8]> = [&busybox, &ipxe_efi]
        .into_iter()
        .flatten()
        .map(Vec::as_slice)
        .collect();
    inputs.push(("gunzip_mixed_16MiB", mixed(16 << 20, &pieces)));
    for (name, plain) in &inputs {
        let Some(gz) = system_gzip(plain) else {
            continue;
        };
        // Checked before timing: the bytes and the CRC-32 come back right.
        let out = inflate::gunzip(&gz, plain.len() + 1).expect("gunzip");
        assert!(out == *plain, "{name}: inflated bytes differ");
        eprintln!(
            "{name}: {} → {} bytes ({:.1} %)",
            plain.len(),
            gz.len(),
            100.0 * gz.len() as f64 / plain.len() as f64
        );
        // Throughput counts decompressed bytes; the output buffer is reused.
        g.throughput(Throughput::Bytes(plain.len() as u64));
        let mut buf = Vec::with_capacity(plain.len());
        g.bench_function(*name, |b| {
            b.iter(|| {
                buf.clear();
                inflate::gunzip_into(black_box(&gz), &mut buf, plain.len() + 1).expect("gunzip");
                buf.len()
            })
        });
    }
    if let Some((_, plain)) = inputs.last() {
        g.throughput(Throughput::Bytes(plain.len() as u64));
        g.bench_function("crc32_16MiB", |b| {
            b.iter(|| inflate::crc32(black_box(plain)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the machine is small and shared.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = bench_image
}
criterion_main!(benches);
