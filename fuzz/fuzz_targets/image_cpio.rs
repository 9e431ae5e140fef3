//! `netboot_image::cpio::CpioReader` over arbitrary bytes (members, padding, `rest`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::cpio::CpioReader;

fuzz_target!(|data: &[u8]| {
    let _ = CpioReader::is_newc(data);
    let mut reader = CpioReader::new(data);
    let mut count = 0usize;
    for entry in reader.by_ref() {
        count += 1;
        // Each member takes at least 112 bytes (documented bound).
        assert!(
            count <= data.len() / 112 + 2,
            "more members than the data can hold"
        );
        if let Ok(e) = entry {
            let _ = (e.is_file(), e.is_dir(), e.name, e.data.len());
        }
    }
    assert!(reader.rest().len() <= data.len());
});
