//! [`EfiPlatform`]: netboot's [`Platform`] on UEFI boot services.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use netboot_core::net::NetDevice;
use netboot_core::platform::{
    BootRequest, Clock, Console, MacText, Platform, PlatformError, Power, PowerAction,
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
        #[cfg(feature = "https")]
        crate::rng::register();
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
        self.clock.idle(ms);
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
                    if let Some(driver) = dev.native_summary() {
                        let _ = writeln!(self.console, "NIC {}: netboot's {driver}", MacText(mac));
                    } else if let Some(why) = dev.native_refused() {
                        let _ = writeln!(
                            self.console,
                            "NIC {}: on the firmware's driver ({why})",
                            MacText(mac)
                        );
                    }
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
    /// `memsize` from the memory map. The SMBIOS-named settings (`manufacturer`, `uuid`,
    /// …) come from [`Platform::smbios_table`] through netboot-script's runtime.
    fn system_settings(&mut self) -> Vec<(String, String)> {
        memsize_mib()
            .map(|mib| (String::from("memsize:int32"), format!("{mib}")))
            .into_iter()
            .collect()
    }

    fn boot(
        &mut self,
        request: &BootRequest<'_>,
        nics: &mut [NetDevice<SnpDevice>],
    ) -> Result<(), PlatformError> {
        // The NIC the runtime configured (else the first): the started image's device
        // path goes below it.
        let used = nics
            .iter()
            .position(|n| n.ip_config().is_some())
            .unwrap_or(0);
        let nic_path = nics
            .get_mut(used)
            .and_then(|n| n.device_mut().device_path().map(<[u8]>::to_vec));
        let result = image::start(request, nic_path.as_deref(), || {
            for nic in nics.iter_mut() {
                nic.device_mut().hand_over();
            }
        });
        // The image returned. It may have replaced the NIC's driver (Debian's ipxe.efi
        // binds its own virtio-net driver and, on exit, reconnects the firmware's, which
        // makes a new SNP handle) and left the watchdog armed (image::start disarms it).
        // Take every NIC back now, so a failure is reported here rather than showing as
        // silence on the next download.
        for nic in nics.iter_mut() {
            let dev = nic.device_mut();
            if let Err(e) = dev.reclaim() {
                let mac = dev.mac();
                let _ = writeln!(
                    self.console,
                    "NIC {} unusable after {} returned: {e}; SNP handles now: {}",
                    MacText(mac),
                    request.name,
                    crate::snp::inventory()
                );
            }
        }
        result
    }

    fn power(&mut self, action: PowerAction) -> PlatformError {
        let why = EfiPower.power(action);
        PlatformError {
            code: POWER_FAILED,
            message: format!("cannot power off or reboot: {why}"),
        }
    }

    /// The RTC through `GetTime`.
    fn unix_time(&mut self) -> Option<u64> {
        crate::clock::wall_clock()
    }

    /// The SMBIOS table from the EFI configuration table.
    fn smbios_table(&mut self) -> Option<(Vec<u8>, (u8, u8))> {
        smbios::read_table()
    }

    /// Configuration space through the PCI Root Bridge I/O protocol of the segment.
    fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
        pci_read(busdevfn, offset, buf)
    }
}

/// RAM in MiB that the firmware's memory map says an OS gets: conventional memory plus
/// what boot services and loaders hold now (freed at ExitBootServices), like the usable
/// regions iPXE's `memsize` adds up.
#[cfg(target_os = "uefi")]
fn memsize_mib() -> Option<u64> {
    use uefi::mem::memory_map::{MemoryMap, MemoryType};
    let map = boot::memory_map(MemoryType::LOADER_DATA).ok()?;
    let pages: u64 = map
        .entries()
        .filter(|d| {
            matches!(
                d.ty,
                MemoryType::CONVENTIONAL
                    | MemoryType::BOOT_SERVICES_CODE
                    | MemoryType::BOOT_SERVICES_DATA
                    | MemoryType::LOADER_CODE
                    | MemoryType::LOADER_DATA
            )
        })
        .map(|d| d.page_count)
        .sum();
    Some((pages * 4096) >> 20)
}

/// No memory map off UEFI.
#[cfg(not(target_os = "uefi"))]
fn memsize_mib() -> Option<u64> {
    None
}

/// Reads PCI configuration space through the `EFI_PCI_ROOT_BRIDGE_IO_PROTOCOL` whose
/// segment matches, a byte at a time (any offset and length). Functions behind no root
/// bridge, and failed reads, read as all-ones like absent hardware; `false` if the
/// firmware has no root bridge protocol at all.
#[cfg(target_os = "uefi")]
fn pci_read(busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
    use uefi::proto::pci::PciIoAddress;
    use uefi::proto::pci::root_bridge::PciRootBridgeIo;
    let Ok(handles) = boot::find_handles::<PciRootBridgeIo>() else {
        return false;
    };
    buf.fill(0xff);
    let segment = busdevfn >> 16;
    let bus = (busdevfn >> 8) as u8;
    let dev = ((busdevfn >> 3) & 0x1f) as u8;
    let fun = (busdevfn & 7) as u8;
    for handle in handles {
        // SAFETY: a GET_PROTOCOL open does not keep the interface from being uninstalled;
        // the root bridge driver owns it for the life of boot services, and the reference
        // is used only for these reads, with no call in between that could unload it.
        let Ok(mut rb) = (unsafe {
            boot::open_protocol::<PciRootBridgeIo>(
                boot::OpenProtocolParams {
                    handle,
                    agent: boot::image_handle(),
                    controller: None,
                },
                boot::OpenProtocolAttributes::GetProtocol,
            )
        }) else {
            continue;
        };
        if rb.segment_nr() != segment {
            continue;
        }
        for (i, byte) in buf.iter_mut().enumerate() {
            let Ok(reg) = u32::try_from(usize::from(offset) + i) else {
                break;
            };
            let mut address = PciIoAddress::new(bus, dev, fun);
            if reg < 0x100 {
                address.reg = reg as u8;
            } else {
                address.ext_reg = reg;
            }
            if let Ok(v) = rb.pci().read_one::<u8>(address) {
                *byte = v;
            }
        }
        return true;
    }
    true
}

/// No PCI access off UEFI.
#[cfg(not(target_os = "uefi"))]
fn pci_read(_busdevfn: u32, _offset: u16, _buf: &mut [u8]) -> bool {
    false
}
