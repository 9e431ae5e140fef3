//! `netboot_image::fat`: boot sector, directories (long names), cluster chains and file
//! reads, as `probe` uses them on El Torito EFI images.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::fat::{Fat, FatEntry};

fn walk(fat: &Fat<'_>, dir: &FatEntry, depth: u32, budget: &mut u32) {
    let Ok(entries) = fat.read_dir(dir) else {
        return;
    };
    for e in entries {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        if e.is_dir() {
            if depth < 8 {
                walk(fat, &e, depth + 1, budget);
            }
        } else if let Ok(d) = fat.read(&e, 1 << 20) {
            assert!(d.len() as u64 <= u64::from(e.size));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(fat) = Fat::parse(data) else {
        return;
    };
    let _ = (fat.kind(), fat.declared_len());
    let root = FatEntry {
        name: String::new(),
        short_name: String::new(),
        attributes: netboot_image::fat::ATTR_DIRECTORY,
        first_cluster: 0,
        size: 0,
    };
    let mut budget = 2000;
    walk(&fat, &root, 0, &mut budget);
    for path in ["EFI/BOOT/BOOTX64.EFI", "\\efi\\boot", "a/b/c/d"] {
        if let Ok(Some(e)) = fat.find(path) {
            let _ = fat.read(&e, 4096);
        }
    }
    let _ = netboot_image::probe(data);
});
