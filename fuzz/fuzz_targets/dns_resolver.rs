//! `proto::dns::DnsResolver` fed framed datagrams (see `netboot_fuzz::Records`).
//!
//! Control byte: bits 0–1 the source (first server, second server, first server from
//! another port, a stranger), bits 2–4 the time step, bit 5 patches the id to the
//! outstanding query's, bit 6 also splices in the outstanding query's question.
#![no_main]

use core::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use netboot_core::proto::dns::{DnsConfig, DnsResolver, DnsState};
use netboot_fuzz::{Records, time_step};

const SERVERS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let name = ["boot.example.com", "a.b", "x"][usize::from(first % 3)];
    let mut dns = DnsResolver::new(name, &SERVERS, DnsConfig::new(49152, 0x1234), 0);
    let mut now = 0u64;
    let mut last_query: Vec<u8> = Vec::new();
    let poll = |dns: &mut DnsResolver, now: u64, last: &mut Vec<u8>| {
        while let Some(d) = dns.poll_transmit(now) {
            *last = d.payload;
        }
    };
    poll(&mut dns, now, &mut last_query);
    for record in Records::new(rest) {
        now += time_step(record.ctrl);
        poll(&mut dns, now, &mut last_query);
        let from = match record.ctrl & 3 {
            0 => SocketAddrV4::new(SERVERS[0], 53),
            1 => SocketAddrV4::new(SERVERS[1], 53),
            2 => SocketAddrV4::new(SERVERS[0], 5353),
            _ => SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 53),
        };
        let mut payload = record.payload.to_vec();
        if record.ctrl & 0x40 != 0 && last_query.len() > 12 {
            // Header from the input (id, qdcount patched) + the query's question + rest.
            let mut spliced = payload
                .get(..12)
                .map_or_else(|| vec![0; 12], <[u8]>::to_vec);
            spliced[4..6].copy_from_slice(&[0, 1]);
            spliced.extend_from_slice(&last_query[12..]);
            spliced.extend_from_slice(payload.get(12..).unwrap_or_default());
            payload = spliced;
        }
        if record.ctrl & 0x60 != 0 && payload.len() >= 2 && last_query.len() >= 2 {
            payload[..2].copy_from_slice(&last_query[..2]);
        }
        dns.handle(now, from, &payload);
        poll(&mut dns, now, &mut last_query);
        if *dns.state() != DnsState::Running {
            break;
        }
    }
    for _ in 0..10_000 {
        let Some(deadline) = dns.poll_deadline() else {
            break;
        };
        now = now.max(deadline);
        poll(&mut dns, now, &mut last_query);
    }
    assert!(
        *dns.state() != DnsState::Running,
        "DNS resolver still running after 10000 deadlines"
    );
    if let DnsState::Failed(e) = dns.state() {
        let _ = e.to_string();
    }
});
