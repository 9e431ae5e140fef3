//! The platform seam: what the shared runtime needs from a machine.
//!
//! Each backend (UEFI, BIOS, the host simulator) implements these traits once. Shared
//! code never reaches the firmware any other way, so it can be tested on the host.

use core::fmt;

/// A hardware address as `52:54:00:12:34:56` (lower-case hex, colons), for messages.
///
/// ```
/// use netboot_core::platform::MacText;
/// assert_eq!(MacText([0x52, 0x54, 0, 0x12, 0xab, 0x56]).to_string(), "52:54:00:12:ab:56");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacText(pub [u8; 6]);

impl fmt::Display for MacText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

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
    /// Stable numeric code: bits 0–4 are netboot's code for what failed; bits 8–15 may
    /// carry the low byte of the platform's own status ([`PlatformError::with_status`]),
    /// which the runtime puts into `${errno}`'s low byte, as iPXE does with EFI statuses.
    pub code: u32,
    /// What failed, why, and what to do about it.
    pub message: alloc::string::String,
}

impl PlatformError {
    /// An error whose code also carries the low byte of the platform's status (an EFI
    /// status: `EFI_NOT_FOUND` gives 14).
    pub fn with_status(code: u32, status: u8, message: alloc::string::String) -> Self {
        PlatformError {
            code: (code & 0x1f) | (u32::from(status) << 8),
            message,
        }
    }

    /// netboot's code for what failed (bits 0–4 of `code`).
    pub fn kind(&self) -> u8 {
        (self.code & 0x1f) as u8
    }

    /// The low byte of the platform's status, when the error carries one (else 0).
    pub fn status(&self) -> u8 {
        (self.code >> 8) as u8
    }
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
    /// The wall clock: seconds since the Unix epoch (UTC), for `${unixtime}`; `None` if
    /// the platform has no real-time clock. Read once at start-up and then advanced with
    /// the monotonic clock (and replaced by `ntp`).
    fn unix_time(&mut self) -> Option<u64> {
        None
    }
    /// The SMBIOS structure table (every structure: formatted area and strings) and the
    /// SMBIOS version (major, minor), for the `smbios/` settings scope; `None` if there
    /// is none. Read once at start-up.
    fn smbios_table(&mut self) -> Option<(alloc::vec::Vec<u8>, (u8, u8))> {
        None
    }
    /// Reads `buf.len()` bytes of PCI configuration space at `offset` of the function
    /// `busdevfn` (segment << 16 | bus << 8 | device << 3 | function), for the `pci/`
    /// settings scope and `pciscan`. Absent functions read as all-ones bytes, as on real
    /// hardware. `false` if the platform has no PCI configuration access.
    fn pci_read(&mut self, _busdevfn: u32, _offset: u16, _buf: &mut [u8]) -> bool {
        false
    }
    /// A file the platform serves itself for `uri` (already resolved against the current
    /// working URI), before the network is asked: `None` = not the platform's, use the
    /// network; `Some(Err)` = the platform's, but missing. The host simulator serves a
    /// directory this way (`netboot-sim run --files DIR`), so scripts can be tested
    /// without servers.
    fn local_file(&mut self, _uri: &str) -> Option<Result<alloc::vec::Vec<u8>, PlatformError>> {
        None
    }
}

/// A UTC calendar date and time (proleptic Gregorian), from [`civil_from_unix_time`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// The year (1970 for the epoch; earlier years for negative times).
    pub year: i64,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59.
    pub second: u8,
}

/// The UTC calendar date and time of `t` seconds since the Unix epoch (negative: before
/// it), the inverse of [`unix_time_from_civil`] (Howard Hinnant's days-to-civil).
///
/// ```
/// use netboot_core::platform::{Civil, civil_from_unix_time};
/// let c = civil_from_unix_time(951_825_600);
/// assert_eq!((c.year, c.month, c.day, c.hour), (2000, 2, 29, 12));
/// let c = civil_from_unix_time(-1);
/// assert_eq!((c.year, c.month, c.day, c.second), (1969, 12, 31, 59));
/// ```
pub fn civil_from_unix_time(t: i64) -> Civil {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as u8,
        day: day as u8,
        hour: (secs / 3600) as u8,
        minute: (secs / 60 % 60) as u8,
        second: (secs % 60) as u8,
    }
}

/// Seconds since the Unix epoch for a UTC calendar date and time (proleptic Gregorian;
/// years 1970–9999), for platforms whose clock gives fields (EFI `GetTime`, the CMOS
/// RTC). `None` if a field is out of range.
///
/// ```
/// use netboot_core::platform::unix_time_from_civil;
/// assert_eq!(unix_time_from_civil(1970, 1, 1, 0, 0, 0), Some(0));
/// assert_eq!(unix_time_from_civil(2000, 2, 29, 12, 0, 0), Some(951_825_600));
/// assert_eq!(unix_time_from_civil(2038, 1, 19, 3, 14, 8), Some(1 << 31));
/// assert_eq!(unix_time_from_civil(2026, 11, 22, 2, 50, 0), Some(1_795_315_800));
/// assert_eq!(unix_time_from_civil(2023, 2, 29, 0, 0, 0), None);
/// assert_eq!(unix_time_from_civil(2024, 13, 1, 0, 0, 0), None);
/// ```
pub fn unix_time_from_civil(
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
) -> Option<u64> {
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let y = u64::from(year);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&month) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second reads as 60; it is folded into the next minute.
    if second > 60 {
        return None;
    }
    const DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let month_days = DAYS[usize::from(month - 1)] + u64::from(month == 2 && leap(y));
    if day == 0 || u64::from(day) > month_days {
        return None;
    }
    let mut days: u64 = (1970..y).map(|y| 365 + u64::from(leap(y))).sum();
    days += DAYS[..usize::from(month - 1)].iter().sum::<u64>();
    days += u64::from(month > 2 && leap(y));
    days += u64::from(day) - 1;
    Some(days * 86_400 + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second))
}
