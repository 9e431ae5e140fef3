//! What a Linux-boot-protocol loader hands to `netboot.lkrn` (Documentation/arch/x86/boot.rst).
//!
//! The loader argument is the linear address of the real-mode part it loaded, which is
//! also the `boot_params` ("zero page") layout: the setup header starts at offset 0x1F1.

use crate::{mem::PhysMemory, text::until_nul};

/// Offset of `cmd_line_ptr` (u32, protocol ≥ 2.02) in `boot_params`.
pub const CMD_LINE_PTR: u64 = 0x228;
/// Offset of `type_of_loader` (u8) in `boot_params`.
pub const TYPE_OF_LOADER: u64 = 0x210;
/// The longest command line read (the header advertises `cmdline_size` = 2047).
pub const MAX_CMDLINE: usize = 2048;

/// Returns the command line without its NUL terminator, `Ok(None)` if the loader gave
/// none (pointer 0), or an error if the pointer is unreadable.
///
/// At most [`MAX_CMDLINE`] bytes are examined; a longer line is cut there.
pub fn command_line(
    mem: &impl PhysMemory,
    boot_params: u64,
) -> Result<Option<&[u8]>, &'static str> {
    let ptr = boot_params
        .checked_add(CMD_LINE_PTR)
        .ok_or("bad boot_params address")?;
    let ptr = u64::from(mem.read_u32(ptr).ok_or("boot_params unreadable")?);
    if ptr == 0 {
        return Ok(None);
    }
    // Shrink the read if the line sits at the very end of the readable window.
    let mut len = MAX_CMDLINE;
    let bytes = loop {
        if let Some(bytes) = mem.bytes(ptr, len) {
            break bytes;
        }
        len /= 2;
        if len == 0 {
            return Err("command line unreadable");
        }
    };
    Ok(Some(until_nul(bytes)))
}

/// Returns `type_of_loader` (0xB0 for QEMU, 0x46 for iPXE), if readable.
pub fn type_of_loader(mem: &impl PhysMemory, boot_params: u64) -> Option<u8> {
    Some(
        *mem.bytes(boot_params.checked_add(TYPE_OF_LOADER)?, 1)?
            .first()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::fake::FakeMemory;
    use std::vec;

    #[test]
    fn reads_the_command_line() {
        let mut bp = vec![0u8; 0x1000];
        bp[0x228..0x22C].copy_from_slice(&0x20000u32.to_le_bytes());
        bp[0x210] = 0xB0;
        let mem = FakeMemory::default()
            .with(0x10000, &bp)
            .with(0x20000, b"hello=world\0junk");
        assert_eq!(command_line(&mem, 0x10000), Ok(Some(&b"hello=world"[..])));
        assert_eq!(type_of_loader(&mem, 0x10000), Some(0xB0));
    }

    #[test]
    fn handles_missing_and_hostile_pointers() {
        let mut bp = vec![0u8; 0x1000];
        let mem = FakeMemory::default().with(0x10000, &bp);
        assert_eq!(command_line(&mem, 0x10000), Ok(None));
        bp[0x228..0x22C].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let mem = FakeMemory::default().with(0x10000, &bp);
        assert!(command_line(&mem, 0x10000).is_err());
        assert!(command_line(&mem, u64::MAX).is_err());
        // No NUL within the limit: cut at MAX_CMDLINE.
        bp[0x228..0x22C].copy_from_slice(&0x20000u32.to_le_bytes());
        let mem = FakeMemory::default()
            .with(0x10000, &bp)
            .with(0x20000, &[b'x'; 5000]);
        assert_eq!(
            command_line(&mem, 0x10000).map(|c| c.map(<[u8]>::len)),
            Ok(Some(MAX_CMDLINE))
        );
        // A short line right at the end of readable memory.
        let mem = FakeMemory::default()
            .with(0x10000, &bp)
            .with(0x20000, b"a=b\0");
        assert_eq!(command_line(&mem, 0x10000), Ok(Some(&b"a=b"[..])));
    }
}
