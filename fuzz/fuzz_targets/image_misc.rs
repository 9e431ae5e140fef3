//! The remaining `netboot_image` parsers: ELF and Multiboot, MBR/GPT, WIM, microcode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::disk::{Gpt, Mbr};
use netboot_image::elf::{Elf, find_multiboot};
use netboot_image::wim::WimHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = Elf::parse(data) {
        let _ = (
            elf.is_64bit(),
            elf.kind(),
            elf.arch(),
            elf.entry(),
            elf.declared_len(),
            elf.bad_load_segment(),
        );
        for ph in elf.program_headers().take(4096) {
            let _ = ph;
        }
    }
    if let Some(mb) = find_multiboot(data) {
        let _ = mb.version();
    }
    if let Ok(mbr) = Mbr::parse(data) {
        let _ = (mbr.used().count(), mbr.is_protective());
    }
    if let Ok(gpt) = Gpt::parse(data) {
        for p in gpt.partitions().take(1024) {
            let _ = p.is_esp();
        }
    }
    if let Ok(wim) = WimHeader::parse(data) {
        let _ = (wim.compression(), wim.declared_len());
    }
    let _ = netboot_image::microcode::detect(data);
});
