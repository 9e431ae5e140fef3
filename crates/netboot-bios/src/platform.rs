//! [`BiosPlatform`]: netboot's [`Platform`] on a PC BIOS, with the PXE ROM's UNDI as the
//! network device, or with netboot's own drivers (`target_os = "none"` only).

use crate::bzimage::{self, BootError};
use crate::console::BiosConsole;
use crate::e820::{self, Entry};
use crate::mem::{IdentityMapped, PhysMemory};
use crate::pxe::{self, EntryArgs};
use crate::timer::TscClock;
use crate::undi::{PxeApi, PxeEntry, UndiNic};
use crate::{IDENTITY_MAP_LIMIT, acpi, nbp};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use netboot_core::net::NetDevice;
use netboot_core::platform::{
    BootRequest, Console, MacText, Platform, PlatformError, Power, PowerAction,
};

/// The longest [`Platform::idle`] busy-waits in one call, in microseconds.
pub const IDLE_SLICE_US: u64 = 50;

unsafe extern "C" {
    /// End of the firmware's `.bss` (linker script).
    static __bss_end: u8;
}

// Jumps to a 64-bit Linux entry with RSI = boot_params, interrupts off, CS = 0x10 and
// DS = ES = SS = 0x18 (flat), as the 64-bit boot protocol asks.
core::arch::global_asm!(
    r#"
    .section .text.netboot_linux_jump, "ax"
    .code64
    .globl netboot_linux_jump
netboot_linux_jump:
    cli
    cld
    lgdt netboot_linux_gdt_desc
    movl $0x18, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    pushq $0x10
    pushq %rdi
    xorl %ebp, %ebp
    xorl %ebx, %ebx
    xorl %edi, %edi
    lretq

    .section .rodata.netboot_linux_gdt, "a"
    .balign 16
netboot_linux_gdt:
    .quad 0
    .quad 0
    .quad 0x00AF9A000000FFFF    # 0x10 __BOOT_CS: 64-bit code
    .quad 0x00CF92000000FFFF    # 0x18 __BOOT_DS: flat data
netboot_linux_gdt_desc:
    .word 31
    .quad netboot_linux_gdt
"#,
    options(att_syntax, raw)
);

unsafe extern "C" {
    fn netboot_linux_jump(entry: u64, boot_params: u64) -> !;
}

/// The `boot_params` page, page-aligned.
#[repr(C, align(4096))]
struct ZeroPage([u8; bzimage::BOOT_PARAMS_SIZE]);

/// A network device [`BiosPlatform`] can own: a smoltcp device that can be stopped
/// (no more DMA, firmware stacks unloaded) before an OS takes over.
pub trait BiosNic: smoltcp::phy::Device {
    /// Stops the device for the OS; returns what went wrong (every step is attempted).
    fn stop_for_os(&mut self) -> Vec<String>;
    /// Ends netboot's use of the device before another PXE boot program takes the
    /// machine with the PXE stack intact; returns what went wrong. By default the same
    /// as [`BiosNic::stop_for_os`].
    fn close_for_nbp(&mut self) -> Vec<String> {
        self.stop_for_os()
    }
}

impl BiosNic for UndiNic {
    fn stop_for_os(&mut self) -> Vec<String> {
        self.shutdown().iter().map(|e| e.to_string()).collect()
    }
    fn close_for_nbp(&mut self) -> Vec<String> {
        UndiNic::close_for_nbp(self)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }
}

/// netboot's platform on a PC BIOS: booted through PXE with the ROM's UNDI as NIC
/// (`N` = [`UndiNic`], [`BiosPlatform::init_pxe`]), or through the Linux boot protocol
/// with its own drivers ([`BiosPlatform::init_with_nics`]).
pub struct BiosPlatform<N = UndiNic> {
    console: BiosConsole,
    clock: TscClock,
    nics: Vec<([u8; 6], N)>,
    map: Vec<Entry>,
    image_end: u64,
    /// The PXE ROM's entry arguments, when a PXE ROM started netboot and its API is
    /// usable: what a chained NBP gets.
    pxe_args: Option<EntryArgs>,
}

fn platform_error(code: u32, message: impl Into<String>) -> PlatformError {
    PlatformError {
        code,
        message: message.into(),
    }
}

impl BiosPlatform<UndiNic> {
    /// Sets up the machine after a PXE ROM started `netboot.kpxe`: collects the E820
    /// map and gives the heap the largest RAM block above 16 MiB, calibrates the clock,
    /// finds the PXE API (`!PXE`, else `PXENV+`) from the entry arguments at
    /// `loader_arg` and opens UNDI. Progress and problems are printed; without a PXE API
    /// the platform has no NIC.
    ///
    /// # Safety
    ///
    /// Must run once, in the environment of the `entry` module, before anything else
    /// allocates more than the static heap, with `loader_arg` the address of the
    /// prefix's [`EntryArgs`] block.
    pub unsafe fn init_pxe(mut console: BiosConsole, loader_arg: u64) -> Self {
        // SAFETY: contract of this function.
        let (map, image_end, clock) = unsafe { init_memory_and_clock(&mut console) };
        let mut nics = Vec::new();
        let found = Self::find_pxe(&mut console, loader_arg);
        let pxe_args = found.map(|(_, args)| args);
        if let Some((entry, _)) = found {
            // SAFETY: validated entry point of the ROM that loaded us.
            let api = unsafe { PxeApi::new(entry) };
            match UndiNic::open(api) {
                Ok(nic) => {
                    let mac = nic.mac();
                    let _ = write!(
                        console,
                        "UNDI: {} through {}{}{}\r\n",
                        MacText(mac),
                        match entry {
                            PxeEntry::BangPxe(_) => "!PXE",
                            PxeEntry::Pxenv(_) => "PXENV+",
                        },
                        if nic.is_ipxe() { ", iPXE ROM" } else { "" },
                        if nic.cached_dhcpack().is_some() {
                            ", cached DHCPACK"
                        } else {
                            ""
                        }
                    );
                    nics.push((mac, nic));
                }
                Err(e) => {
                    let _ = write!(console, "UNDI unusable: {e}\r\n");
                }
            }
        }
        Self {
            console,
            clock,
            nics,
            map,
            image_end,
            pxe_args,
        }
    }

    fn find_pxe(console: &mut BiosConsole, loader_arg: u64) -> Option<(PxeEntry, EntryArgs)> {
        // SAFETY: 0–4 GiB is identity mapped; only validated structures are followed.
        let mem = unsafe { IdentityMapped::new(IDENTITY_MAP_LIMIT) };
        let Some(args) = mem
            .bytes(loader_arg, EntryArgs::SIZE)
            .and_then(EntryArgs::from_bytes)
        else {
            let _ = write!(console, "entry arguments unreadable at {loader_arg:#x}\r\n");
            return None;
        };
        match pxe::report(console, &mem, &args) {
            Ok(Some(bang)) => Some((PxeEntry::BangPxe(bang.entry_sp), args)),
            _ => match pxe::read_pxenv(&mem, args.pxenv) {
                Ok(p) => {
                    let _ = console.write_str("using the PXENV+ entry point\r\n");
                    Some((PxeEntry::Pxenv(p.rm_entry), args))
                }
                Err(_) => {
                    let _ = console.write_str("no valid PXE API: no network device\r\n");
                    None
                }
            },
        }
    }
}

impl<N: BiosNic> BiosPlatform<N> {
    /// Sets up the machine for a firmware that brings its own network drivers (e.g.
    /// `netboot.lkrn` with [`crate::virtio_net`]): E820 heap and clock as for
    /// [`BiosPlatform::init_pxe`], then `open_nics` finds and opens the NICs (with the
    /// full heap available), printing progress and problems on the console it is given.
    ///
    /// # Safety
    ///
    /// Must run once, in the environment of the `entry` module, before anything else
    /// allocates more than the static heap.
    pub unsafe fn init_with_nics(
        mut console: BiosConsole,
        open_nics: impl FnOnce(&mut BiosConsole) -> Vec<([u8; 6], N)>,
    ) -> Self {
        // SAFETY: contract of this function.
        let (map, image_end, clock) = unsafe { init_memory_and_clock(&mut console) };
        let nics = open_nics(&mut console);
        Self {
            console,
            clock,
            nics,
            map,
            image_end,
            pxe_args: None,
        }
    }

    /// The sanitised E820 map collected at start-up.
    pub fn memory_map(&self) -> &[Entry] {
        &self.map
    }

    /// Starts a PXE boot program the way a PXE ROM does, with the ROM's PXE stack
    /// (ipxe-behaviour §9.2): UNDI closed (not stopped), the NBP at 0000:7C00, ES:BX →
    /// `PXENV+`, `!PXE` at SS:SP+4. Returns only with the reason it cannot.
    fn chain_nbp(
        &mut self,
        request: &BootRequest<'_>,
        nics: &mut [NetDevice<N>],
    ) -> Result<(), PlatformError> {
        let name = request.name;
        let Some(args) = self.pxe_args else {
            return Err(platform_error(
                12,
                format!(
                    "{name}: a PXE boot program needs the PXE stack of the ROM that started \
                     netboot; this netboot was not started by a PXE ROM with a usable API \
                     (netboot.lkrn drives the NIC itself): boot netboot.kpxe from the NIC \
                     ROM, or chain a .lkrn or script instead"
                ),
            ));
        };
        let staging = nbp::plan(request.data.len(), lowmem_end(), self.base_memory_top())
            .map_err(|e| platform_error(13, format!("{name}: {e}")))?;
        let _ = write!(
            self.console,
            "starting PXE boot program {name} ({} bytes) at 0000:7C00, PXENV+ at {}, !PXE at \
             {}\r\n",
            request.data.len(),
            args.pxenv,
            args.pxe
        );
        // Point of no return: netboot lets go of UNDI, the stack stays loaded.
        for n in nics.iter_mut() {
            let nic = String::from(n.name());
            for e in n.device_mut().close_for_nbp() {
                let _ = write!(self.console, "{nic}: {e} (continuing)\r\n");
            }
        }
        // SAFETY: nothing of netboot is needed any more: the launcher only overwrites
        // base memory (0x600, 0x7C00.., the staging area below the ROM's data), and the
        // PXE stack keeps running in the memory the ROM reserved for itself.
        unsafe { nbp::launch(request.data, staging, &args) }
    }

    /// The end of free base memory: the BIOS data area's count of KiB at 0x413 (which
    /// PXE ROMs lower to keep their data), capped by the E820 RAM block at 0.
    fn base_memory_top(&self) -> u32 {
        // SAFETY: 0–4 GiB is identity mapped; the BIOS data area is always there.
        let mem = unsafe { IdentityMapped::new(IDENTITY_MAP_LIMIT) };
        let bda_kib = mem
            .bytes(0x413, 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
            .unwrap_or(0);
        let e820_top = self
            .map
            .iter()
            .find(|e| {
                e.kind == e820::E820_RAM && e.base <= u64::from(nbp::NBP_LOAD) && e.end() > 0x7C00
            })
            .map(|e| e.end().min(0xA0000) as u32)
            .unwrap_or(0);
        (bda_kib * 1024).min(e820_top)
    }

    /// Prepares a bzImage boot; returns the kernel entry, boot_params address, kernel
    /// placement and the initrd placement. Nothing is changed yet.
    fn plan(&mut self, request: &BootRequest<'_>) -> Result<Plan, BootError> {
        let h = bzimage::parse(request.data)?;
        let cmdline = bzimage::command_line(&h, request.cmdline)?;
        let kernel = &request.data[h.kernel_offset()..];
        let sizes: Vec<usize> = request.initrds.iter().map(|i| i.data.len()).collect();
        let (offsets, initrd_size) = bzimage::initrd_offsets(&sizes);
        let mut zero_page = alloc::boxed::Box::new(ZeroPage([0; bzimage::BOOT_PARAMS_SIZE]));
        // What must survive until the kernel runs, or until it is copied.
        let range = |s: &[u8]| (s.as_ptr() as u64, s.len() as u64);
        let mut avoid: Vec<(u64, u64)> = alloc::vec![
            (bzimage::LOW_LIMIT, self.image_end - bzimage::LOW_LIMIT),
            range(kernel),
            range(&cmdline),
            range(&zero_page.0),
        ];
        for i in request.initrds {
            avoid.push(range(i.data));
        }
        let size = u64::from(h.init_size).max(kernel.len() as u64);
        let load = bzimage::place_kernel(
            &self.map,
            &avoid,
            h.pref_address,
            u64::from(h.kernel_alignment),
            size,
            IDENTITY_MAP_LIMIT,
        )
        .ok_or_else(|| BootError {
            code: 10,
            message: format!(
                "no room for the kernel: {} MiB (init_size) of free RAM below 4 GiB needed",
                size >> 20
            ),
        })?;
        avoid.push((load, size));
        let initrd = if initrd_size > 0 {
            let at = bzimage::place_initrd(
                &self.map,
                &avoid,
                initrd_size,
                bzimage::initrd_ceiling(&h),
            )
            .ok_or_else(|| BootError {
                code: 11,
                message: format!(
                    "no room for {initrd_size} bytes of initrd below initrd_addr_max ({:#x})",
                    h.initrd_addr_max
                ),
            })?;
            Some((at, initrd_size))
        } else {
            None
        };
        // The OS must not use netboot's own image, .bss, stack and page tables (they are
        // in use until the jump), as iPXE hides its memory.
        let kernel_map = e820::mark(
            &self.map,
            bzimage::LOW_LIMIT,
            self.image_end,
            e820::E820_RESERVED,
        );
        let bp = bzimage::build_boot_params(
            request.data,
            &h,
            cmdline.as_ptr() as u64,
            initrd,
            &kernel_map,
        );
        zero_page.0.copy_from_slice(&bp);
        Ok(Plan {
            header: h,
            load,
            initrd,
            offsets,
            cmdline,
            zero_page,
        })
    }
}

/// Collects the E820 map, gives the heap the largest RAM block above 16 MiB (printing
/// what it got) and calibrates the clock; returns (map, end of netboot's image, clock).
///
/// # Safety
///
/// Must run once, in the environment of the `entry` module, before anything else
/// allocates more than the static heap.
unsafe fn init_memory_and_clock(console: &mut BiosConsole) -> (Vec<Entry>, u64, TscClock) {
    // SAFETY: contract of this function: entry environment, single CPU.
    let map = unsafe { e820::collect() };
    let image_end = image_end();
    match e820::heap_region(&map, image_end) {
        Some((start, end)) => {
            // SAFETY: usable RAM per E820 (which hides the PXE ROM's memory), above
            // the image, `.bss` and stack (`image_end`), below 4 GiB (identity
            // mapped), used by nothing else; added once.
            unsafe {
                crate::heap::add_global_region(start as usize as *mut u8, (end - start) as usize)
            };
            let _ = write!(
                console,
                "memory: {} E820 entries, heap {} MiB at {start:#x}\r\n",
                map.len(),
                (end - start) >> 20
            );
        }
        None => {
            let _ = write!(
                console,
                "memory: {} E820 entries, no RAM above 16 MiB: heap stays at {} KiB\r\n",
                map.len(),
                crate::heap::HEAP_SIZE >> 10
            );
        }
    }
    // SAFETY: the PC's PIT and port 0x61; nothing else uses channel 2.
    let clock = unsafe { TscClock::calibrate() };
    (map, image_end, clock)
}

fn image_end() -> u64 {
    ((&raw const __bss_end) as u64).next_multiple_of(4096)
}

/// The end of netboot's real-mode code and data (thunk, GDT, PXE buffers) in base memory.
fn lowmem_end() -> u32 {
    unsafe extern "C" {
        static __lowmem_end: u8;
    }
    (&raw const __lowmem_end) as u32
}

/// Whether an image's name says it is a PXE boot program (the extensions iPXE and
/// PXELINUX use; an NBP has no magic number).
fn is_nbp_name(name: &str) -> bool {
    let name = name.rsplit('/').next().unwrap_or(name);
    let name = name.split(['?', '#']).next().unwrap_or(name);
    [".0", ".pxe", ".kpxe", ".kkpxe", ".kkkpxe"]
        .iter()
        .any(|ext| {
            name.len() > ext.len()
                && name.as_bytes()[name.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
        })
}

/// A checked boot: where everything goes.
struct Plan {
    header: bzimage::Header,
    load: u64,
    initrd: Option<(u64, u64)>,
    offsets: Vec<u64>,
    cmdline: Vec<u8>,
    zero_page: alloc::boxed::Box<ZeroPage>,
}

impl<N: BiosNic> Platform for BiosPlatform<N> {
    type Nic = N;

    fn name(&self) -> &'static str {
        "pcbios"
    }

    fn client_arch(&self) -> u16 {
        0
    }

    fn console(&mut self) -> &mut dyn Console {
        &mut self.console
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Returns after at most [`IDLE_SLICE_US`]: nothing interrupts a busy-wait, so the
    /// callers' poll loops (which idle until their next deadline, up to 50 ms) must get
    /// back to polling the NIC soon, or frames wait in its ring for the rest of the wait.
    /// With a whole-millisecond idle netboot.lkrn fetched at a sixth of ipxe.lkrn's rate.
    fn idle(&mut self, ms: u64) {
        self.clock.spin_us((ms * 1000).min(IDLE_SLICE_US));
    }

    fn take_nics(&mut self) -> Vec<([u8; 6], N)> {
        core::mem::take(&mut self.nics)
    }

    fn system_settings(&mut self) -> Vec<(String, String)> {
        let ram: u64 = self
            .map
            .iter()
            .filter(|e| e.kind == e820::E820_RAM)
            .map(|e| e.len)
            .sum();
        alloc::vec![("memsize:int32".to_string(), (ram >> 20).to_string())]
    }

    fn boot(
        &mut self,
        request: &BootRequest<'_>,
        nics: &mut [NetDevice<N>],
    ) -> Result<(), PlatformError> {
        if is_nbp_name(request.name) && bzimage::parse(request.data).is_err() {
            return self.chain_nbp(request, nics);
        }
        let plan = self
            .plan(request)
            .map_err(|e| platform_error(e.code, format!("{}: {}", request.name, e.message)))?;
        let h = plan.header;
        let _ = write!(
            self.console,
            "booting {} (bzImage protocol {}.{:02}, kernel at {:#x}",
            request.name,
            h.version >> 8,
            h.version & 0xFF,
            plan.load
        );
        if let Some((at, size)) = plan.initrd {
            let _ = write!(self.console, ", initrd {size} bytes at {at:#x}");
        }
        let _ = self.console.write_str(")\r\n");
        // Point of no return: stop NIC DMA and unload the PXE stack.
        for n in nics.iter_mut() {
            let name = String::from(n.name());
            for e in n.device_mut().stop_for_os() {
                let _ = write!(self.console, "{name}: {e} (continuing)\r\n");
            }
        }
        let kernel = &request.data[h.kernel_offset()..];
        // SAFETY: the plan placed the kernel in free RAM below 4 GiB (identity mapped)
        // that overlaps none of the sources, boot_params, the command line or netboot's
        // image/stack; nothing allocates from here on.
        unsafe {
            core::ptr::copy(kernel.as_ptr(), plan.load as usize as *mut u8, kernel.len());
        }
        if let Some((at, size)) = plan.initrd {
            // SAFETY: as above for the initrd area; gaps between initrds are zeroed.
            unsafe {
                let dst = at as usize as *mut u8;
                core::ptr::write_bytes(dst, 0, size as usize);
                for (i, off) in request.initrds.iter().zip(&plan.offsets) {
                    core::ptr::copy(i.data.as_ptr(), dst.add(*off as usize), i.data.len());
                }
            }
        }
        let entry = plan.load + 0x200;
        let bp = plan.zero_page.0.as_ptr() as u64;
        let _ = write!(self.console, "jumping to 64-bit entry {entry:#x}\r\n");
        // Keep the command line and boot_params alive: the kernel reads them.
        core::mem::forget(plan.cmdline);
        core::mem::forget(plan.zero_page);
        // SAFETY: the kernel is at `load` with `init_size` free, boot_params and the
        // command line are in place, 0–4 GiB is identity mapped and interrupts are off;
        // the handoff does not return.
        unsafe { netboot_linux_jump(entry, bp) }
    }

    fn power(&mut self, action: PowerAction) -> PlatformError {
        // SAFETY: we own the machine; 0–4 GiB is identity mapped for the ACPI tables.
        let mut power = unsafe { acpi::AcpiPower::new(IdentityMapped::new(IDENTITY_MAP_LIMIT)) };
        platform_error(20, power.power(action))
    }

    /// The CMOS RTC (taken as UTC).
    fn unix_time(&mut self) -> Option<u64> {
        // SAFETY: ports 0x70/0x71 are the CMOS RTC on every PC; netboot runs with
        // interrupts off, so nothing else uses them meanwhile.
        unsafe { crate::rtc::read() }
    }

    /// The SMBIOS entry point found in 0xF0000–0xFFFFF.
    fn smbios_table(&mut self) -> Option<(Vec<u8>, (u8, u8))> {
        // SAFETY: 0–4 GiB is identity mapped; the BIOS area and the SMBIOS table are
        // firmware memory that nothing writes while netboot runs.
        crate::smbios::find(&unsafe { IdentityMapped::new(IDENTITY_MAP_LIMIT) })
    }

    /// Configuration mechanism #1 (segment 0, 256 bytes per function).
    fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
        // SAFETY: 0xCF8/0xCFC are the host bridge's configuration ports on every PCI PC;
        // reads of configuration space have no side effects; interrupts are off.
        unsafe { crate::pci::read(busdevfn, offset, buf) };
        true
    }
}
