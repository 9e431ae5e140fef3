//! SHA-256 throughput with the `sha2` configuration netboot's firmwares use
//! (`default-features = false, features = ["force-soft"]`: the portable implementation,
//! since the firmware targets are soft-float and cannot build the SIMD/SHA-NI backends).
//! This package enables `force-soft` itself, so the figure is the firmware's code path
//! even on a host CPU with SHA extensions.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netboot_benches::pseudo_random_bytes;
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::Duration;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bench_sha256(c: &mut Criterion) {
    // Known answer (FIPS 180-2 appendix B.1) before timing anything.
    assert_eq!(
        hex(&Sha256::digest(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let mut g = c.benchmark_group("sha256");
    for (name, size) in [("1KiB", 1usize << 10), ("16MiB", 16 << 20)] {
        let data = pseudo_random_bytes(size, 0x5a5a);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(name, |b| b.iter(|| Sha256::digest(black_box(&data))));
    }
    // As `imgverify`/`sha256sum` see a download: fed in TCP-segment-sized updates.
    let data = pseudo_random_bytes(16 << 20, 0x5a5b);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("16MiB_in_1460B_updates", |b| {
        b.iter(|| {
            let mut h = Sha256::new();
            for piece in data.chunks(1460) {
                h.update(black_box(piece));
            }
            h.finalize()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = bench_sha256
}
criterion_main!(benches);
