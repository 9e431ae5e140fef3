//! `netboot_image::wim`: header, blob table, XML, image metadata (security data and the
//! directory tree), path lookup and resource reads (uncompressed, XPRESS, LZX).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::wim::Wim;

/// Cap on any one resource, so a hostile size costs little memory.
const LIMIT: u64 = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(mut wim) = Wim::parse_limited(data, LIMIT) else {
        return;
    };
    wim.set_limit(LIMIT);
    let _ = (wim.header().compression(), wim.header().declared_len());
    if let Ok(info) = wim.info() {
        let _ = info.boot_image_name();
    }
    let images = wim.header().image_count.min(3);
    for image in 0..=images {
        let Ok(meta) = wim.metadata(image) else {
            continue;
        };
        let _ = meta.security();
        let mut files = 0usize;
        let _ = meta.walk(|_, e| {
            files += 1;
            if files < 64 && !e.is_dir() {
                let _ = wim.read_entry(e);
            }
        });
        for path in [
            "\\Windows\\System32\\boot\\winload.efi",
            "/windows/boot/efi/bootmgfw.efi",
            "bootmgr",
            "",
        ] {
            if let Ok(e) = meta.find(path) {
                let _ = meta.children(&e);
                let _ = wim.read_entry(&e);
            }
        }
    }
    for b in wim.blobs().iter().take(64) {
        let _ = wim.read_blob(b);
    }
});
