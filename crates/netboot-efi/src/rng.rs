//! `EFI_RNG_PROTOCOL` as netboot's entropy source for TLS (`netboot_core::tls::rng`).
//!
//! OVMF provides the protocol with a virtio-rng device or a CPU with RDRAND; real
//! machines usually have it from the TPM or the CPU. Without it, netboot-core falls back
//! to the CPU's RDRAND/RDSEED and timing jitter, and says so.

use uefi::boot;
use uefi::proto::rng::Rng;

/// Fills `buf` from the first `EFI_RNG_PROTOCOL` instance, with the firmware's default
/// algorithm; `false` when there is none or it fails.
pub fn efi_entropy(buf: &mut [u8]) -> bool {
    let Ok(handle) = boot::get_handle_for_protocol::<Rng>() else {
        return false;
    };
    let Ok(mut rng) = boot::open_protocol_exclusive::<Rng>(handle) else {
        return false;
    };
    rng.get_rng(None, buf).is_ok()
}

/// Registers [`efi_entropy`] with netboot-core.
pub fn register() {
    netboot_core::tls::rng::set_entropy_source(efi_entropy);
}
