//! `proto::dhcp::DhcpClient` fed framed datagrams (see `netboot_fuzz::Records`).
//!
//! Control byte: bits 0–1 the source (DHCP server 10.0.0.1:67, ProxyDHCP 10.0.0.2:67,
//! ProxyDHCP 10.0.0.2:4011, the server from an odd port), bits 2–4 the time step before the datagram, bit 5 patches op/xid/chaddr
//! so the reply is addressed to us, bit 6 polls for transmissions first.
#![no_main]

use core::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use netboot_core::proto::dhcp::{ClientArch, DhcpClient, DhcpConfig, DhcpState};
use netboot_fuzz::{Records, time_step};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let arch = if first & 1 == 0 {
        ClientArch::EFI_X86_64
    } else {
        ClientArch::BIOS
    };
    let config = DhcpConfig::new(MAC, arch);
    let xid = config.xid;
    let mut client = DhcpClient::new(config, 0);
    let mut now = 0u64;
    let _ = client.poll_transmit(now);
    for record in Records::new(rest) {
        now += time_step(record.ctrl);
        let from = match record.ctrl & 3 {
            0 => SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 67),
            1 => SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 67),
            2 => SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4011),
            _ => SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1234),
        };
        if record.ctrl & 0x40 != 0 {
            while client.poll_transmit(now).is_some() {}
        }
        let mut payload = record.payload.to_vec();
        if record.ctrl & 0x20 != 0 && payload.len() >= 34 {
            payload[0] = 2;
            payload[4..8].copy_from_slice(&xid.to_be_bytes());
            payload[28..34].copy_from_slice(&MAC);
        }
        client.handle(now, from, &payload);
        let mut sent = 0;
        while client.poll_transmit(now).is_some() {
            sent += 1;
            assert!(sent < 16, "DHCP client keeps transmitting at one instant");
        }
        let _ = client.acked();
        if !matches!(client.state(), DhcpState::Running) {
            break;
        }
    }
    // Liveness: with no more packets, the deadlines must lead to an end.
    for _ in 0..10_000 {
        let Some(deadline) = client.poll_deadline() else {
            break;
        };
        now = now.max(deadline);
        while client.poll_transmit(now).is_some() {}
    }
    assert!(
        !matches!(client.state(), DhcpState::Running),
        "DHCP client still running after 10000 deadlines"
    );
});
