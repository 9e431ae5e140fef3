//! `netboot_image::iso`: volume descriptor, directory walk and lookup, El Torito catalog.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::iso::Iso;

fuzz_target!(|data: &[u8]| {
    let Ok(iso) = Iso::parse(data) else {
        return;
    };
    let _ = (
        iso.volume_id(),
        iso.system_id(),
        iso.volume_blocks(),
        iso.block_size(),
        iso.declared_len(),
    );
    if let Ok(root) = iso.root() {
        let _ = iso.extent(&root);
        if let Ok(dir) = iso.read_dir(&root) {
            for rec in dir.take(256) {
                let _ = rec.map(|r| (r.is_dir(), r.is_dot(), r.plain_name()));
            }
        }
    }
    let mut visited = 0usize;
    let _ = iso.walk(&mut |_, rec| {
        let _ = rec.plain_name();
        visited += 1;
        visited < 10_000
    });
    for path in [
        "/isolinux/isolinux.cfg",
        "/EFI/BOOT/BOOTX64.EFI",
        "/boot/vmlinuz",
        "a/b/c",
    ] {
        let _ = iso.lookup(path);
    }
    if let Some(Ok(catalog)) = iso.boot_catalog() {
        let _ = catalog.validation_platform();
        for entry in catalog.entries().take(256) {
            let _ = entry.image(data);
        }
    }
});
