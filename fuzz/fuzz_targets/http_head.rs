//! `wire::http`: `ResponseHead::parse` and its accessors, and `HeadScanner`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::wire::http::{ContentRange, HeadScanner, ResponseHead};

fuzz_target!(|data: &[u8]| {
    let mut scanner = HeadScanner::new();
    if let Ok(Some(n)) = scanner.push(data) {
        assert!(n <= data.len(), "head ends past the input");
    }
    if let Ok(head) = ResponseHead::parse(data) {
        let _ = (
            head.location(),
            head.content_length(),
            head.is_chunked(),
            head.keep_alive(),
            head.connection_close(),
            head.content_range(),
            head.auth_schemes(),
            head.header("content-type"),
            head.headers().count(),
        );
    }
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = ContentRange::parse(text);
    }
});
