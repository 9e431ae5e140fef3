//! `netboot_image::lzx`: WIM LZX chunks. The first byte picks the window (32 KiB << 0..=2),
//! the next two the declared output size; the output must be exactly that size when it
//! decodes. A decoder is reused for a second chunk to check that no state leaks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::lzx::{self, Lzx};

fuzz_target!(|data: &[u8]| {
    let [w, a, b, rest @ ..] = data else {
        return;
    };
    let window = 32768usize << (w % 3);
    let out_len = (usize::from(u16::from_le_bytes([*a, *b])) + 1).min(window);
    let Ok(mut d) = Lzx::new(window) else {
        return;
    };
    let mut out = Vec::new();
    if d.decompress_into(rest, out_len, &mut out).is_ok() {
        assert_eq!(out.len(), out_len);
        let mut again = Vec::new();
        if d.decompress_into(rest, out_len, &mut again).is_ok() {
            assert_eq!(out, again, "decoder state leaked between chunks");
        }
    }
    let mut e8 = rest.to_vec();
    lzx::undo_e8(&mut e8);
    assert_eq!(e8.len(), rest.len());
});
