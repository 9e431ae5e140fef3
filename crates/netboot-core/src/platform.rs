//! The platform seam: what the shared runtime needs from a machine.
//!
//! Each backend (UEFI, BIOS, the host simulator) implements these traits once. Shared
//! code never reaches the firmware any other way, so it can be tested on the host.

use core::fmt;

/// A key read from the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Key {
    /// A printable character or a control character such as Ctrl-C (`'\u{3}'`).
    Char(char),
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
}

impl Key {
    /// Ctrl-C, which cancels long operations.
    pub const CTRL_C: Key = Key::Char('\u{3}');
    /// Ctrl-B, which opens the shell during the autoboot countdown.
    pub const CTRL_B: Key = Key::Char('\u{2}');
}

/// Text output and non-blocking key input: serial and/or screen.
pub trait Console: fmt::Write {
    /// Returns a key if one is waiting, without blocking.
    fn poll_key(&mut self) -> Option<Key>;
}

/// A monotonic clock.
pub trait Clock {
    /// Milliseconds since an arbitrary start; never goes backwards.
    fn now_ms(&self) -> u64;
}

/// What to do with the machine when the runtime is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// Switch the machine off.
    PowerOff,
    /// Reset the machine.
    Reboot,
}

/// Machine power control.
pub trait Power {
    /// Performs `action`; returns only if the platform could not do it, with a reason.
    fn power(&mut self, action: PowerAction) -> &'static str;
}

/// Why a platform operation failed: a stable code, the platform's own status (EFI status,
/// PXE status…) and a message that explains, with a hint where one is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformError {
    /// Stable numeric code (netboot's, not the platform's).
    pub code: u32,
    /// What failed, why, and what to do about it.
    pub message: alloc::string::String,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An initrd handed to [`Platform::boot`], in registration order.
#[derive(Clone, Copy, Debug)]
pub struct BootInitrd<'a> {
    /// Image name (`initrd.img`); UEFI serves it under this name for `initrd=NAME`.
    pub name: &'a str,
    /// Its bytes (already wrapped in a cpio header when the script asked for one).
    pub data: &'a [u8],
}

/// An image to start.
#[derive(Clone, Copy, Debug)]
pub struct BootRequest<'a> {
    /// Image name.
    pub name: &'a str,
    /// Where it came from.
    pub uri: Option<&'a str>,
    /// Its bytes.
    pub data: &'a [u8],
    /// Command line (`kernel URI ARGS…`), without the image name.
    pub cmdline: &'a str,
    /// The other registered images, which a Linux kernel receives as initrds.
    pub initrds: &'a [BootInitrd<'a>],
}

/// Everything the shared runtime needs from a machine (UEFI, BIOS, the host simulator).
///
/// The runtime (`netboot_script::machine::Machine`) owns the settings, images and
/// network stack; a backend implements this trait once.
pub trait Platform {
    /// The NIC type, a smoltcp device.
    type Nic: smoltcp::phy::Device;
    /// `${platform}`: `efi`, `pcbios` or `sim`.
    fn name(&self) -> &'static str;
    /// DHCP client architecture (option 93): 0 BIOS, 7 x86-64 UEFI.
    fn client_arch(&self) -> u16;
    /// The console (serial and/or screen).
    fn console(&mut self) -> &mut dyn Console;
    /// Monotonic milliseconds.
    fn now_ms(&self) -> u64;
    /// Nothing to do for up to `ms` milliseconds (sleep, stall, halt until interrupt).
    fn idle(&mut self, ms: u64);
    /// Hands over the network devices, each with its MAC address, in probe order (the
    /// one the firmware was booted from first). Called once.
    fn take_nics(&mut self) -> alloc::vec::Vec<([u8; 6], Self::Nic)>;
    /// Settings the platform knows (`manufacturer`, `product`, `serial`, `uuid`,
    /// `memsize`, …), as (name with type, value text), e.g. `("uuid:uuid", "…")`.
    fn system_settings(
        &mut self,
    ) -> alloc::vec::Vec<(alloc::string::String, alloc::string::String)> {
        alloc::vec::Vec::new()
    }
    /// Starts an image. `nics` are the runtime's devices: release them before handing
    /// the machine over. Returns `Ok` if the image ran and returned success, an error if
    /// it could not start or returned failure; does not return if it took over.
    fn boot(
        &mut self,
        request: &BootRequest<'_>,
        nics: &mut [crate::net::NetDevice<Self::Nic>],
    ) -> Result<(), PlatformError>;
    /// Powers off or reboots; returns only on failure, with the reason.
    fn power(&mut self, action: PowerAction) -> PlatformError;
    /// A diagnostic line for logs (download details such as the TFTP window size);
    /// platforms without a log ignore it.
    fn log(&mut self, _line: &str) {}
}
