//! # netboot-efi
//!
//! The UEFI implementation of netboot's platform seam ([`netboot_core::platform`]), on the
//! `uefi` crate. Firmware quirks and `unsafe` stay in this crate.
//!
//! Status: console (ConOut/ConIn, which OVMF mirrors on the serial port) and power
//! control. The SNP network device, page memory and image start are tracked as their own
//! issue.
//!
//! The crate is `#![no_std]` and builds for the host (for tests and docs) and for
//! `x86_64-unknown-uefi`. Boot services must be active when any of its functions run.
#![no_std]

use core::fmt;
use netboot_core::platform::{Console, Key, Power, PowerAction};
use uefi::proto::console::text::{Key as UefiKey, ScanCode};
use uefi::runtime::ResetType;
use uefi::{Status, system};

/// The firmware console: writes to ConOut, reads ConIn without blocking.
#[derive(Debug, Default)]
pub struct EfiConsole;

impl fmt::Write for EfiConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        system::with_stdout(|out| out.write_str(s))
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
