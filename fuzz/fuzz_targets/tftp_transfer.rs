//! `proto::tftp::TftpTransfer` fed framed datagrams (see `netboot_fuzz::Records`).
//!
//! The first byte picks the options requested. Control byte: bits 0–1 the source (the
//! server's transfer port, another port on the server, a stranger, the server's port
//! 69), bits 2–4 the time step, bit 5 prefixes a DATA header for the next expected block,
//! bit 6 polls for transmissions first.
#![no_main]

use core::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use netboot_core::proto::tftp::{TftpConfig, TftpTransfer};
use netboot_fuzz::{Records, time_step};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MAX_SIZE: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut config = TftpConfig::new(SocketAddrV4::new(SERVER, 69), "boot.efi", 49152);
    config.blksize = [None, Some(8), Some(512), Some(1432)][usize::from(first & 3)];
    config.windowsize = [None, Some(1), Some(4), Some(16)][usize::from((first >> 2) & 3)];
    config.request_tsize = first & 0x10 != 0;
    config.overall_timeout = (first & 0x20 != 0).then_some(30_000);
    config.max_size = MAX_SIZE;
    let Ok(mut transfer) = TftpTransfer::new(config, 0) else {
        return;
    };
    let mut now = 0u64;
    while transfer.poll_transmit(now).is_some() {}
    for record in Records::new(rest) {
        now += time_step(record.ctrl);
        if record.ctrl & 0x40 != 0 {
            while transfer.poll_transmit(now).is_some() {}
        }
        let from = match record.ctrl & 3 {
            0 => SocketAddrV4::new(SERVER, 40000),
            1 => SocketAddrV4::new(SERVER, 40001),
            2 => SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 40000),
            _ => SocketAddrV4::new(SERVER, 69),
        };
        let mut payload = record.payload.to_vec();
        if record.ctrl & 0x20 != 0 {
            let next = transfer.received() / u64::from(transfer.blksize().max(1)) + 1;
            let mut data = vec![0, 3];
            data.extend_from_slice(&(next as u16).to_be_bytes());
            data.extend_from_slice(&payload);
            payload = data;
        }
        let before = transfer.received();
        match transfer.handle(now, from, &payload) {
            Ok(Some(chunk)) => {
                assert_eq!(
                    chunk.offset, before,
                    "chunk not at the end of the file so far"
                );
                assert_eq!(
                    transfer.received(),
                    before + chunk.data.len() as u64,
                    "received() does not count the chunk"
                );
            }
            Ok(None) => assert_eq!(transfer.received(), before, "bytes counted without a chunk"),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        assert!(
            transfer.received() <= MAX_SIZE,
            "more than max_size accepted"
        );
        let mut sent = 0;
        while transfer.poll_transmit(now).is_some() {
            sent += 1;
            assert!(sent < 64, "TFTP transfer keeps transmitting at one instant");
        }
        if transfer.is_done() || transfer.error().is_some() {
            break;
        }
    }
    for _ in 0..10_000 {
        let Some(deadline) = transfer.poll_deadline() else {
            break;
        };
        now = now.max(deadline);
        while transfer.poll_transmit(now).is_some() {}
    }
    assert!(
        transfer.is_done() || transfer.error().is_some(),
        "TFTP transfer neither done nor failed after 10000 deadlines"
    );
});
