//! # netboot-efi
//!
//! The UEFI implementation of netboot's platform seam ([`netboot_core::platform`]), on the
//! `uefi` crate. Firmware quirks and `unsafe` stay in this crate.
//!
//! - [`EfiPlatform`] implements [`netboot_core::platform::Platform`]: console
//!   ([`EfiConsole`], ConOut/ConIn, which OVMF mirrors on the serial port), a monotonic
//!   clock ([`clock`]), power ([`EfiPower`]), SMBIOS settings ([`smbios`]) and booting
//!   ([`image`]: LoadImage/StartImage with a LoadFile2 initrd, [`initrd`], and the images
//!   on a virtual filesystem for `initrd=NAME`, [`vfs`]).
//! - [`SnpDevice`] is a smoltcp `phy::Device` over the Simple Network Protocol ([`snp`]);
//!   when the NIC is a virtio-net function on the root PCI bus (a QEMU/KVM virtual
//!   machine), it drives the NIC with netboot's own virtio-net driver instead ([`native`]:
//!   64 KiB receive segments, about 3.5 times the throughput under QEMU), and gives it back to
//!   the firmware's driver before another image starts.
//! - [`pe`] explains images UEFI cannot start (a kernel without EFI stub, another CPU).
//! - [`exit::exit_status`] is the EFI status returned to the boot manager at the end.
//!
//! The crate is `#![no_std]` (plus `alloc`) and builds for the host (for tests and docs)
//! and for `x86_64-unknown-uefi`. Functions that call the firmware need active boot
//! services; the pure parsers ([`pe`], [`smbios`], [`status`], [`initrd::layout`], the [`vfs`]
//! layouts) do not.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod clock;
pub mod exit;
mod handle;
pub mod image;
pub mod initrd;
pub mod native;
pub mod pe;
mod platform;
#[cfg(feature = "https")]
pub mod rng;
pub mod smbios;
pub mod snp;
pub mod status;
pub mod vfs;

pub use platform::{EfiPlatform, POWER_FAILED};
pub use snp::SnpDevice;

use core::fmt;
use netboot_core::platform::{Console, Key, Power, PowerAction};
use uefi::proto::console::text::{Key as UefiKey, ScanCode};
use uefi::runtime::ResetType;
use uefi::{Status, system};

/// The firmware console: writes to ConOut, reads ConIn without blocking.
#[derive(Debug, Default)]
pub struct EfiConsole;

impl fmt::Write for EfiConsole {
    /// Writes `s`; line ends may be `\n` or `\r\n` (ConOut gets `\r\n` either way: the
    /// uefi crate turns every `\n` into `\r\n`, so a `\r` before it is dropped here).
    fn write_str(&mut self, s: &str) -> fmt::Result {
        system::with_stdout(|out| {
            let mut rest = s;
            while let Some(at) = rest.find("\r\n") {
                out.write_str(&rest[..at])?;
                out.write_str("\n")?;
                rest = &rest[at + 2..];
            }
            out.write_str(rest)
        })
    }
}

impl Console for EfiConsole {
    fn poll_key(&mut self) -> Option<Key> {
        let key = system::with_stdin(|input| input.read_key()).ok()??;
        match key {
            UefiKey::Printable(c) => Some(Key::Char(char::from(c))),
            UefiKey::Special(ScanCode::UP) => Some(Key::Up),
            UefiKey::Special(ScanCode::DOWN) => Some(Key::Down),
            UefiKey::Special(ScanCode::LEFT) => Some(Key::Left),
            UefiKey::Special(ScanCode::RIGHT) => Some(Key::Right),
            UefiKey::Special(ScanCode::ESCAPE) => Some(Key::Char('\u{1b}')),
            UefiKey::Special(_) => None,
        }
    }
}

/// Power control through the UEFI runtime service ResetSystem.
#[derive(Debug, Default)]
pub struct EfiPower;

impl Power for EfiPower {
    fn power(&mut self, action: PowerAction) -> &'static str {
        let kind = match action {
            PowerAction::PowerOff => ResetType::SHUTDOWN,
            PowerAction::Reboot => ResetType::COLD,
        };
        // ResetSystem does not return.
        uefi::runtime::reset(kind, Status::SUCCESS, None)
    }
}
