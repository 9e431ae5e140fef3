//! `wire::dhcp`: `DhcpRepr::parse_bytes`, the accessors the client uses, and re-emission.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::wire::dhcp::{Area, DhcpRepr, OptionIter, Packet, encapsulated, ipv4_list};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::new_checked(data) {
        for _ in OptionIter::new(packet.options(), Area::Options) {}
        let _ = (packet.sname(), packet.file(), packet.chaddr());
    }
    let _ = encapsulated(data, 1);
    let _ = ipv4_list(data);
    let Ok(repr) = DhcpRepr::parse_bytes(data) else {
        return;
    };
    let _ = (
        repr.message_type(),
        repr.is_bootp(),
        repr.server_id(),
        repr.requested_ip(),
        repr.subnet_mask(),
        repr.lease_time(),
        repr.vendor_class(),
        repr.ipv4_list(6),
        repr.ipv4_option(3),
        repr.encapsulated(43, 6),
        repr.encapsulated(175, 0x13),
    );
    let _ = repr.buffer_len();
    if let Ok(bytes) = repr.to_bytes() {
        let _ = DhcpRepr::parse_bytes(&bytes);
    }
});
