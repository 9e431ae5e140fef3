//! `netboot_image::xpress`: XPRESS Huffman chunks. The first two bytes choose the
//! declared output size (1..=65536); the output must be exactly that size when it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::xpress;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let out_len = usize::from(u16::from_le_bytes([*a, *b])) + 1;
    if let Ok(out) = xpress::decompress(rest, out_len) {
        assert_eq!(out.len(), out_len);
    }
});
