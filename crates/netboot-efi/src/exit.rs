//! The EFI status `netboot.efi` returns to the boot manager when the runtime finishes
//! (`exit N`, a failed autoboot, a script that ends): `EFI_SUCCESS` for 0, an error
//! status otherwise. The boot manager then moves on to the next boot option after an
//! error (EDK2/OVMF shows its boot menu after `EFI_SUCCESS`).
//!
//! Runtime statuses are iPXE-style error numbers: a POSIX class in bits 24–30 and details
//! below, or a small number given to `exit`. The class picks the EFI error of the same
//! meaning; `exit N` with `N` below 2^24 returns EFI error number `N` (so `exit 14` is
//! `EFI_NOT_FOUND`), which lets a script choose the exact status.

use uefi::Status;

/// The high bit of an EFI error status.
const ERROR_BIT: usize = 1 << (usize::BITS - 1);

/// The EFI status for the runtime's final status `code`.
pub fn exit_status(code: u32) -> Status {
    if code == 0 {
        return Status::SUCCESS;
    }
    let class = (code >> 24) & 0x7f;
    if class == 0 {
        return Status(ERROR_BIT | code as usize);
    }
    match class {
        // E2BIG, EINVAL, ERANGE, ENAMETOOLONG
        0x01 | 0x1c | 0x46 | 0x25 => Status::INVALID_PARAMETER,
        // EACCES, EPERM
        0x02 | 0x41 => Status::ACCESS_DENIED,
        // EADDRNOTAVAIL
        0x04 => Status::NO_MAPPING,
        // EBUSY, EEXIST
        0x0a | 0x14 => Status::ALREADY_STARTED,
        // ECANCELED
        0x0b => Status::ABORTED,
        // ECONNREFUSED, EHOSTUNREACH, ENETUNREACH
        0x0e | 0x17 | 0x28 => Status::NO_RESPONSE,
        // EFBIG, ENOMEM, ENOSPC
        0x16 | 0x31 | 0x34 => Status::OUT_OF_RESOURCES,
        // EIO
        0x1d => Status::DEVICE_ERROR,
        // ELOOP, EPROTO
        0x20 | 0x43 => Status::PROTOCOL_ERROR,
        // ENODEV: no network device
        0x2c => Status::NO_MEDIA,
        // ENOENT
        0x2d => Status::NOT_FOUND,
        // ENOEXEC: nothing bootable, or the image failed
        0x2e => Status::LOAD_ERROR,
        // ENOSYS, ENOTSUP, ENOTTY
        0x37 | 0x3c | 0x3d => Status::UNSUPPORTED,
        // ETIMEDOUT
        0x4c => Status::TIMEOUT,
        _ => Status::ABORTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_success_and_small_numbers_are_efi_error_numbers() {
        assert_eq!(exit_status(0), Status::SUCCESS);
        assert_eq!(exit_status(1), Status::LOAD_ERROR);
        assert_eq!(exit_status(3), Status::UNSUPPORTED);
        assert_eq!(exit_status(14), Status::NOT_FOUND);
        assert!(exit_status(0x00ff_ffff).is_error());
    }

    #[test]
    fn error_classes_map_to_the_efi_error_of_the_same_meaning() {
        // ENOENT with subsystem bits, as `${errno}` shows them.
        assert_eq!(exit_status(0x2d12_0001), Status::NOT_FOUND);
        assert_eq!(exit_status(0x4c00_0101), Status::TIMEOUT);
        assert_eq!(exit_status(0x2e00_0000), Status::LOAD_ERROR);
        assert_eq!(exit_status(0x0b00_0200), Status::ABORTED);
        assert_eq!(exit_status(0x2c00_0100), Status::NO_MEDIA);
        // An unknown class is still an error.
        assert_eq!(exit_status(0x7f00_0000), Status::ABORTED);
        for code in [1u32, 0x0100_0000, 0x7fff_ffff, u32::MAX] {
            assert!(exit_status(code).is_error(), "{code:#x}");
        }
    }
}
