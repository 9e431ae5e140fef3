//! [`EfiPlatform`]: netboot's [`Platform`] on UEFI boot services.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::time::Duration;
use netboot_core::net::NetDevice;
use netboot_core::platform::{
    BootRequest, Clock, Console, Platform, PlatformError, Power, PowerAction,
};
use uefi::boot;

use crate::clock::MonotonicClock;
use crate::snp::{SnpDevice, find_nics};
use crate::{EfiConsole, EfiPower, image, smbios};

/// [`PlatformError::code`] when ResetSystem returned.
pub const POWER_FAILED: u32 = 11;

/// DHCP option 93 for this build: 7 (x86-64 UEFI), 11 (ARM 64-bit UEFI).
#[cfg(target_arch = "aarch64")]
const CLIENT_ARCH: u16 = 11;
#[cfg(not(target_arch = "aarch64"))]
const CLIENT_ARCH: u16 = 7;

/// The UEFI platform: ConOut/ConIn console, TSC clock calibrated against `Stall()`, SNP
/// NICs, SMBIOS settings, ResetSystem, and LoadImage/StartImage for booting.
///
/// Boot services must stay active for its whole life (it never calls ExitBootServices; a
/// started OS loader does).
#[derive(Debug)]
pub struct EfiPlatform {
    console: EfiConsole,
    clock: MonotonicClock,
    nics_taken: bool,
}

impl EfiPlatform {
    /// Disables the boot manager's 5-minute watchdog (long downloads would trip it) and
    /// calibrates the clock (about 10 ms).
    pub fn new() -> Self {
        // Watchdog code 0x10000: codes below are reserved for the firmware.
        let _ = boot::set_watchdog_timer(0, 0x10000, None);
        EfiPlatform {
            console: EfiConsole,
            clock: MonotonicClock::calibrate(),
            nics_taken: false,
        }
    }

    /// The clock.
    pub fn clock(&self) -> &MonotonicClock {
        &self.clock
    }
}

impl Default for EfiPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        MonotonicClock::now_ms(self)
    }
}

impl Platform for EfiPlatform {
    type Nic = SnpDevice;

    fn name(&self) -> &'static str {
        "efi"
    }

    fn client_arch(&self) -> u16 {
        CLIENT_ARCH
    }

    fn console(&mut self) -> &mut dyn Console {
        &mut self.console
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Stalls at most 1 ms: the NIC's receive ring is not drained while we stall, and a
    /// TCP window's worth of frames arrives in a few milliseconds.
    fn idle(&mut self, ms: u64) {
        let ms = ms.min(1);
        if ms > 0 {
            boot::stall(Duration::from_millis(ms));
            self.clock.idled(ms);
        }
    }

    /// Every SNP NIC that can be opened exclusively, the boot NIC first; NICs that fail
    /// are reported on the console and skipped. One device per MAC address (a firmware
    /// may expose a NIC through several SNP instances).
    fn take_nics(&mut self) -> Vec<([u8; 6], SnpDevice)> {
        if core::mem::replace(&mut self.nics_taken, true) {
            return Vec::new();
        }
        let mut nics: Vec<([u8; 6], SnpDevice)> = Vec::new();
        for handle in find_nics() {
            match SnpDevice::open(handle) {
                Ok(dev) => {
                    let mac = dev.mac();
                    if !nics.iter().any(|(m, _)| *m == mac) {
                        nics.push((mac, dev));
                    }
                }
                Err(e) => {
                    let _ = writeln!(self.console, "NIC skipped: {e}");
                }
            }
        }
        nics
    }

    /// SMBIOS type 1: `manufacturer`, `product`, `serial`, `uuid`.
    fn system_settings(&mut self) -> Vec<(String, String)> {
        let Some(info) = smbios::read_system_info() else {
            return Vec::new();
        };
        [
            ("manufacturer:string", info.manufacturer),
            ("product:string", info.product),
            ("serial:string", info.serial),
            ("uuid:uuid", info.uuid),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((String::from(name), value?)))
        .collect()
    }

    fn boot(
        &mut self,
        request: &BootRequest<'_>,
        nics: &mut [NetDevice<SnpDevice>],
    ) -> Result<(), PlatformError> {
        image::start(request, || {
            for nic in nics.iter_mut() {
                nic.device_mut().release();
            }
        })
    }

    fn power(&mut self, action: PowerAction) -> PlatformError {
        let why = EfiPower.power(action);
        PlatformError {
            code: POWER_FAILED,
            message: format!("cannot power off or reboot: {why}"),
        }
    }
}
