//! 64 MiB over TFTP (blksize 1432, windowsize 16) and over HTTP/1.1 (keep-alive) through
//! two in-process smoltcp interfaces: netboot's `NetDevice::fetch` on one side, the test
//! bed's minimal servers on the other (see `netboot_benches::Testbed`). One thread runs
//! both sides, so the figure is the cost of the client *and* the server stack per byte.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netboot_benches::{HTTP_URI, TFTP_URI, Testbed, pseudo_random_bytes};
use netboot_core::net::VecSink;
use netboot_core::uri::Uri;
use std::time::Duration;

/// Bytes per transfer.
const SIZE: usize = 64 << 20;

fn bench_transfer(c: &mut Criterion) {
    let file = pseudo_random_bytes(SIZE, 0x6e62);
    let mut g = c.benchmark_group("transfer_64MiB");
    g.throughput(Throughput::Bytes(SIZE as u64));
    for (name, uri) in [("tftp", TFTP_URI), ("http", HTTP_URI)] {
        let uri = Uri::parse(uri).expect("valid URI");
        let mut bed = Testbed::new(file.clone());
        // The sink keeps its allocation between iterations: this measures the network
        // path, not page faults of a fresh 64 MiB buffer.
        let mut sink = VecSink::new(1 << 30);
        // Checked outside the timed loop: the bytes arrive intact, and without waiting
        // for any timer (a stall would make the wall-clock figure meaningless).
        let download = bed.fetch(&uri, &mut sink).expect("transfer completes");
        assert_eq!(download.size, SIZE as u64);
        assert!(sink.data == file, "{name}: received bytes differ");
        assert_eq!(
            bed.waiter.stalled_ms, 0,
            "{name}: the transfer waited on a timer"
        );
        eprintln!("{name}: {}", download.transport);
        g.bench_function(name, |b| {
            b.iter(|| bed.fetch(&uri, &mut sink).expect("transfer completes"))
        });
        assert_eq!(sink.data.len(), SIZE);
        assert_eq!(
            bed.waiter.stalled_ms, 0,
            "{name}: a timed transfer waited on a timer"
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Each iteration moves 64 MiB; keep the run short on a small, shared machine.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    targets = bench_transfer
}
criterion_main!(benches);
