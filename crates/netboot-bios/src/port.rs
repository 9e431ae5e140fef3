//! x86 port I/O.
//!
//! All functions are `unsafe`: writing the wrong port can reset or power off the machine,
//! or reprogram a device behind the firmware's back.

use core::arch::asm;

/// Reads a byte from `port`.
///
/// # Safety
///
/// The caller must know what the device behind `port` does on a read.
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes a byte to `port`.
///
/// # Safety
///
/// The caller must know what the device behind `port` does on this write.
#[inline]
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads a 16-bit word from `port`.
///
/// # Safety
///
/// The caller must know what the device behind `port` does on a read.
#[inline]
pub unsafe fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("in ax, dx", out("ax") value, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes a 16-bit word to `port`.
///
/// # Safety
///
/// The caller must know what the device behind `port` does on this write.
#[inline]
pub unsafe fn outw(port: u16, value: u16) {
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    };
}

/// Waits roughly a microsecond by writing the POST-code port 0x80 (the classic ISA delay).
///
/// # Safety
///
/// Port 0x80 must be the unused POST diagnostic port, as on every PC.
#[inline]
pub unsafe fn io_delay() {
    // SAFETY: forwarded to the caller.
    unsafe { outb(0x80, 0) };
}
