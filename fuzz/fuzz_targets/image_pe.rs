//! `netboot_image::pe::Pe::parse`, sections, data directories, certificates, zboot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::pe::Pe;

fuzz_target!(|data: &[u8]| {
    let Ok(pe) = Pe::parse(data) else {
        return;
    };
    let _ = (
        pe.arch(),
        pe.is_pe32_plus(),
        pe.entry_point(),
        pe.image_base(),
        pe.section_alignment(),
        pe.file_alignment(),
        pe.size_of_image(),
        pe.size_of_headers(),
        pe.checksum(),
        pe.is_efi(),
        pe.dll_characteristics(),
        pe.declared_len(),
        pe.security_directory(),
        pe.zboot(),
    );
    for i in 0..pe.number_of_data_directories().min(32) as usize {
        let _ = pe.data_directory(i);
    }
    for s in pe.sections() {
        let _ = (s.name(), s.data(data), s.is_executable());
    }
    let _ = pe.section_data(b".linux");
    for c in pe.certificates().take(64) {
        let _ = c;
    }
});
