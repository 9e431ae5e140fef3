//! # netboot-bios
//!
//! The BIOS implementation of netboot's platform seam.
//!
//! All Rust code of a BIOS firmware runs in 64-bit long mode on the built-in
//! `x86_64-unknown-none` target (platform-notes §2). The 16- and 32-bit code that gets
//! there is hand-written assembly in the `entry` module (only compiled for `target_os = "none"`):
//!
//! * a GDT in `.data16` (base memory, below 64 KiB) with the selectors of
//!   platform-notes §2.3, so a real-mode thunk can be added later;
//! * `netboot_pm32_entry`, the common 32-bit protected-mode entry: it zeroes `.bss`, loads
//!   a full 32-bit stack, identity-maps 0–4 GiB with 2 MiB pages and enters long mode;
//! * the 64-bit entry, which calls the firmware's `netboot_bios_main(kind, arg)`.
//!
//! Each firmware binary (`netboot.kpxe`, `netboot.lkrn`) adds its own real-mode prefix,
//! linker script and panic handler. This crate provides everything else in Rust:
//!
//! * [`serial`], [`vga`] and [`console`]: COM1 and VGA text output, implementing
//!   [`netboot_core::platform::Console`];
//! * [`acpi`]: ACPI S5 power-off (RSDP → RSDT/XSDT → FADT → DSDT `_S5_`), implementing
//!   [`netboot_core::platform::Power`]; the table parsers work on byte slices and are unit
//!   tested on the host;
//! * [`heap`]: the allocator behind `alloc` (installed as the global allocator for
//!   `target_os = "none"`);
//! * [`pxe`] and [`linux`]: what the loaders hand over (PXENV+/!PXE, Linux `boot_params`);
//! * [`realmode`]: the real-mode thunk (BIOS interrupts, PXE far calls from long mode);
//! * [`e820`]: the INT 15h memory map, the heap region and the map given to Linux;
//! * [`timer`]: milliseconds from the TSC calibrated against the PIT;
//! * [`undi`]: the PXE API and `UndiNic`, a smoltcp device over UNDI;
//! * [`virtio`] and [`virtio_net`]: netboot's own polled virtio-net driver for PCI
//!   (legacy and virtio 1.0 interfaces), used by `netboot.lkrn`;
//! * [`bzimage`]: Linux 64-bit boot protocol (header checks, placement, `boot_params`);
//! * [`nbp`]: chaining another PXE boot program with the ROM's PXE stack intact;
//! * [`rtc`], [`smbios`] and [`pci`]: the CMOS clock, the SMBIOS table in the BIOS area and
//!   PCI configuration space (mechanism #1), behind `${unixtime}`, `smbios/` and `pci/`;
//! * `platform` (`target_os = "none"`): `BiosPlatform`, the [`netboot_core::platform::Platform`].
//!
//! The crate is `#![no_std]` and builds (and tests) on the host, for `x86_64-unknown-none`
//! and for `x86_64-unknown-uefi`; hardware access is only compiled for `x86_64`.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod acpi;
pub mod bzimage;
#[cfg(target_arch = "x86_64")]
pub mod console;
pub mod e820;
#[cfg(target_os = "none")]
pub mod entry;
pub mod heap;
pub mod linux;
pub mod mem;
pub mod nbp;
#[cfg(target_arch = "x86_64")]
pub mod pci;
#[cfg(target_os = "none")]
pub mod platform;
#[cfg(target_arch = "x86_64")]
pub mod port;
pub mod pxe;
pub mod realmode;
pub mod rtc;
#[cfg(target_arch = "x86_64")]
pub mod serial;
pub mod smbios;
pub mod text;
#[cfg(target_arch = "x86_64")]
pub mod timer;
pub mod undi;
#[cfg(target_arch = "x86_64")]
pub mod vga;
pub mod virtio;
pub mod virtio_net;

/// How the firmware was started; the first argument of `netboot_bios_main`.
///
/// The real-mode prefix of each binary puts this value in EBX before it jumps to the
/// common protected-mode entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum BootKind {
    /// Loaded at 0000:7C00 by a PXE ROM as a network boot program (`netboot.kpxe`).
    /// The loader argument is the linear address of a [`pxe::EntryArgs`] block.
    Pxe = 1,
    /// Loaded through the Linux boot protocol (`netboot.lkrn`, e.g. QEMU `-kernel` or
    /// iPXE `kernel`). The loader argument is the linear address of `boot_params`.
    Linux = 2,
}

impl BootKind {
    /// Converts the raw value passed by the assembly entry.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Pxe),
            2 => Some(Self::Linux),
            _ => None,
        }
    }
}

/// The highest address (exclusive) identity-mapped by the entry code: 4 GiB.
pub const IDENTITY_MAP_LIMIT: u64 = 1 << 32;

/// Stops the CPU for good: interrupts off, `hlt` in a loop.
#[cfg(target_arch = "x86_64")]
pub fn halt() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops this CPU; it touches no memory.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Powers the machine off through ACPI; if that fails, prints the reason and halts.
///
/// Meant as the last step of a BIOS firmware's main function.
///
/// # Safety
///
/// Must run in the environment set up by the `entry` module (long mode, 0–4 GiB identity mapped,
/// single CPU, interrupts off): it reads ACPI tables through raw pointers and writes the
/// ACPI power-management I/O ports.
#[cfg(target_arch = "x86_64")]
pub unsafe fn power_off_or_halt(console: &mut impl core::fmt::Write) -> ! {
    use netboot_core::platform::{Power, PowerAction};
    let _ = console.write_str("powering off\r\n");
    // SAFETY: forwarded from this function's contract.
    let mut power = unsafe { acpi::AcpiPower::new(mem::IdentityMapped::new(IDENTITY_MAP_LIMIT)) };
    let reason = power.power(PowerAction::PowerOff);
    let _ = write!(console, "power off failed: {reason}\r\nhalted\r\n");
    halt()
}

/// Prints a panic message to COM1 (without re-initialising it) and halts.
///
/// Each firmware binary's `#[panic_handler]` calls this.
#[cfg(target_arch = "x86_64")]
pub fn report_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    // SAFETY: writing to the COM1 data port at worst emits garbage on a missing UART.
    let mut serial = unsafe { serial::Serial::attach(serial::COM1) };
    let _ = write!(serial, "\r\npanic: {}", info.message());
    if let Some(location) = info.location() {
        let _ = write!(serial, " at {}:{}", location.file(), location.line());
    }
    let _ = serial.write_str("\r\nhalted\r\n");
    halt()
}

#[cfg(test)]
mod tests {
    use super::BootKind;

    #[test]
    fn boot_kind_round_trips() {
        assert_eq!(BootKind::from_raw(1), Some(BootKind::Pxe));
        assert_eq!(BootKind::from_raw(2), Some(BootKind::Linux));
        assert_eq!(BootKind::from_raw(0), None);
        assert_eq!(
            BootKind::from_raw(BootKind::Linux as u32),
            Some(BootKind::Linux)
        );
    }
}
