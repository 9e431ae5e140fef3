//! `wire::tftp`: packet parsing, option lists, and emit → parse round trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::wire::tftp::{OptionList, Packet, Repr};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::new_checked(data) {
        let _ = (packet.opcode(), packet.strings());
    }
    if let Ok(options) = OptionList::parse(data) {
        let n = options.iter().count();
        assert_eq!(
            n,
            options.len(),
            "OptionList len disagrees with its iterator"
        );
        let _ = options.get("blksize");
    }
    let Ok(repr) = Repr::from_bytes(data) else {
        return;
    };
    let _ = repr.opcode();
    let len = repr.buffer_len();
    if let Ok(bytes) = repr.to_vec() {
        assert_eq!(bytes.len(), len, "buffer_len disagrees with emit");
        let again = Repr::from_bytes(&bytes).expect("an emitted packet parses");
        assert_eq!(again, repr, "emit → parse changed the packet");
    }
});
