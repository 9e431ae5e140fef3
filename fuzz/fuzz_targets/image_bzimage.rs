//! `netboot_image::BzImage::parse` and every accessor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::BzImage;

fuzz_target!(|data: &[u8]| {
    let Ok(bz) = BzImage::parse(data) else {
        return;
    };
    let _ = (
        bz.version(),
        bz.setup_sects(),
        bz.setup_len(),
        bz.kernel_version(),
        bz.type_of_loader(),
        bz.is_bzimage(),
        bz.code32_start(),
        bz.initrd_addr_max(),
        bz.kernel_alignment(),
        bz.relocatable(),
        bz.min_alignment(),
        bz.xloadflags(),
        bz.cmdline_size(),
        bz.hardware_subarch(),
        bz.payload(),
        bz.payload_data(),
        bz.pref_address(),
        bz.init_size(),
        bz.handover_offset(),
        bz.kernel_info_offset(),
        bz.declared_len(),
        bz.has_64bit_entry(),
        bz.has_efi_stub(),
    );
    let _ = (bz.setup(), bz.kernel(), bz.header(), bz.data());
});
