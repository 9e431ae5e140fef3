//! `netboot_image::inflate`: gunzip, zlib and raw inflate with an output limit (the limit
//! must hold), the gzip header parser and the checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::inflate::{
    GzipHeader, adler32, crc32, gunzip, inflate, is_zlib_header, zlib_decompress,
};

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = (crc32(data), adler32(data), is_zlib_header(data));
    let _ = GzipHeader::parse(data);
    if let Ok(out) = gunzip(data, LIMIT) {
        assert!(out.len() <= LIMIT, "gunzip exceeded its limit");
    }
    if let Ok(out) = zlib_decompress(data, LIMIT) {
        assert!(out.len() <= LIMIT, "zlib exceeded its limit");
    }
    let mut out = Vec::new();
    if let Ok(used) = inflate(data, &mut out, LIMIT) {
        assert!(used <= data.len(), "inflate consumed more than given");
    }
    assert!(out.len() <= LIMIT, "inflate exceeded its limit");
});
