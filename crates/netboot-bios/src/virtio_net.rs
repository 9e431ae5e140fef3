//! netboot's own virtio-net driver for PCI, polled, legacy and modern interfaces.
//!
//! Used by `netboot.lkrn`, which has no PXE ROM to lean on. The devices are found by
//! scanning PCI configuration space ([`scan`]: vendor 0x1AF4, device 0x1000 with
//! subsystem 1 = network, or 0x1041 = modern-only).
//!
//! * A transitional device (0x1000) is driven through its legacy I/O BAR0 (virtio 0.9.5 /
//!   virtio 1.0 §4.1.4.8): reset, ACKNOWLEDGE | DRIVER, `VIRTIO_NET_F_MAC` (and the
//!   receive offloads below) accepted, queue 0 (receive) and 1 (transmit) given as page frame numbers, DRIVER_OK;
//!   every frame carries the 10-byte `virtio_net_hdr` (no `MRG_RXBUF`).
//! * A modern-only device (0x1041) is driven through its virtio 1.0 PCI capabilities
//!   ([`modern_caps`]: common, notification and device configuration in memory BARs,
//!   which must lie below 4 GiB): `VIRTIO_F_VERSION_1` + `VIRTIO_NET_F_MAC`,
//!   FEATURES_OK checked, queue addresses written separately, queue notification
//!   addresses from `queue_notify_off` × `notify_off_multiplier`; the header is 12 bytes.
//!
//! Both use the same split rings ([`crate::virtio::VirtQueue`]). No interrupts: the used
//! rings are polled from smoltcp's `receive`/`transmit`. A fixed pool of receive buffers
//! stays posted ([`RX_BUFFERS`] at most); a received frame is copied out and its buffer
//! posted again at once. Transmit uses a fixed pool of slots (two chained descriptors
//! each: header, frame) reclaimed from the used ring; header fields are all zero (no
//! offloads) on transmit.
//!
//! **Receive offloads.** When the device offers both `VIRTIO_NET_F_GUEST_CSUM` and
//! `VIRTIO_NET_F_GUEST_TSO4` (QEMU does with a tap backend), the driver takes them
//! ([`wanted_features`]): the host then hands over TCP segments of up to 64 KiB as its
//! stack sent them, instead of cutting them into 1514-byte frames, and may leave their
//! checksum partial ([`offload_accept`] decides what needs checking or completing, as
//! Linux's driver does, and the device tells smoltcp the rest is checked). [`BIG_RX_BUFFERS`] buffers of [`BIG_BUF_LEN`] are posted then.
//! Under QEMU's TCG this took a 256 MiB HTTP download from 38 to about 140 MB/s: the cost
//! is per frame, not per byte (BENCHMARKS.md).

use alloc::vec::Vec;
use core::fmt;

/// Red Hat / virtio PCI vendor ID.
pub const VENDOR: u16 = 0x1AF4;
/// Transitional virtio-net device ID (legacy interface available).
pub const DEVICE_TRANSITIONAL: u16 = 0x1000;
/// Modern-only virtio-net device ID (0x1040 + device type 1).
pub const DEVICE_MODERN: u16 = 0x1041;
/// Virtio device type (subsystem ID of a transitional device) of a network card.
pub const TYPE_NET: u16 = 1;

/// Legacy I/O register offsets (BAR0).
pub mod reg {
    /// Device features (32 bits, read).
    pub const DEVICE_FEATURES: u16 = 0x00;
    /// Driver (guest) features (32 bits, write).
    pub const DRIVER_FEATURES: u16 = 0x04;
    /// Queue address as a 4096-byte page frame number (32 bits).
    pub const QUEUE_PFN: u16 = 0x08;
    /// Size of the selected queue (16 bits, read).
    pub const QUEUE_SIZE: u16 = 0x0C;
    /// Queue select (16 bits).
    pub const QUEUE_SELECT: u16 = 0x0E;
    /// Queue notify (16 bits, write the queue index).
    pub const QUEUE_NOTIFY: u16 = 0x10;
    /// Device status (8 bits); writing 0 resets the device.
    pub const STATUS: u16 = 0x12;
    /// ISR status (8 bits, read clears).
    pub const ISR: u16 = 0x13;
    /// Start of the device-specific configuration without MSI-X (the MAC address).
    pub const CONFIG: u16 = 0x14;
}

/// Device status bits.
pub mod status {
    /// The guest found the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u8 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u8 = 4;
    /// The driver gave up on the device.
    pub const FAILED: u8 = 0x80;
}

/// `VIRTIO_NET_F_MAC`: the device has a MAC address in its configuration space.
pub const F_MAC: u32 = 1 << 5;
/// Length of `virtio_net_hdr` without `VIRTIO_NET_F_MRG_RXBUF`.
pub const NET_HDR_LEN: usize = 10;
/// The largest Ethernet frame handled (without FCS).
pub const MAX_FRAME: usize = 1514;
/// One buffer: the larger (modern, 12-byte) header plus the largest frame. A receive
/// buffer too small for a full frame makes the device drop it.
pub const BUF_LEN: usize = NET_HDR_LEN_MODERN + MAX_FRAME;
/// Receive buffers kept posted (fewer if the queue is smaller).
pub const RX_BUFFERS: u16 = 128;
/// `VIRTIO_NET_F_GUEST_CSUM`: the device may deliver frames whose TCP/UDP checksum is
/// only partial (`NEEDS_CSUM`; the driver completes it).
pub const F_GUEST_CSUM: u32 = 1 << 1;
/// `VIRTIO_NET_F_GUEST_TSO4`: the device may deliver TCP segments larger than the MTU, as
/// the host stack sent them before segmentation (needs [`F_GUEST_CSUM`]).
pub const F_GUEST_TSO4: u32 = 1 << 7;
/// A receive buffer when large segments are negotiated: the spec's 65562 bytes (header
/// and a 64 KiB IPv4 packet with its Ethernet header), rounded up to 64-byte lines.
pub const BIG_BUF_LEN: usize = 65600;
/// Receive buffers posted when large segments are negotiated (4 MiB in all).
pub const BIG_RX_BUFFERS: u16 = 64;
/// `virtio_net_hdr.flags`: the checksum from `csum_start` on is partial.
const HDR_F_NEEDS_CSUM: u8 = 1;
/// `virtio_net_hdr.flags`: the device (host) validated the checksum.
const HDR_F_DATA_VALID: u8 = 2;

/// With receive offloads on: whether to take a frame, and its checksum made whole where
/// something other than a TCP socket may read it. A frame the host marks `NEEDS_CSUM`
/// came from the host's own stack and never crossed a wire (Linux's driver trusts it
/// too); a TCP one goes to smoltcp as it is (no pass over 64 KiB), others get their
/// checksum completed (DHCP reads UDP through a raw socket, which checks it). A
/// `DATA_VALID` frame was checked by the host. Any other frame is checked here. The
/// device then tells smoltcp that received TCP/UDP checksums need no check.
pub fn offload_accept(hdr: &[u8], frame: &mut [u8]) -> bool {
    let flags = hdr.first().copied().unwrap_or(0);
    if flags & HDR_F_NEEDS_CSUM != 0 {
        let tcp = frame.len() > 23 && frame[12..14] == [0x08, 0x00] && frame[23] == 6;
        tcp || complete_checksum(hdr, frame)
    } else {
        flags & HDR_F_DATA_VALID != 0 || netboot_core::net::csum::l4_checksum_ok(frame)
    }
}

/// The features this driver accepts from those `offered`: the MAC, and receive offloads
/// (partial checksums and large TCP segments) when the device has both.
pub fn wanted_features(offered: u32) -> u32 {
    let offload = F_GUEST_CSUM | F_GUEST_TSO4;
    let extra = if offered & offload == offload {
        offload
    } else {
        0
    };
    F_MAC | extra
}

/// Completes a frame's partial checksum as `virtio_net_hdr` describes it (`hdr` is the
/// header, `frame` what follows it): the ones'-complement sum of `frame[csum_start..]`,
/// which already holds the pseudo-header sum at `csum_start + csum_offset`, is stored
/// there. `false` when the header points outside the frame.
pub fn complete_checksum(hdr: &[u8], frame: &mut [u8]) -> bool {
    if hdr.len() < NET_HDR_LEN || hdr[0] & HDR_F_NEEDS_CSUM == 0 {
        return true;
    }
    let start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
    let field = start + usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
    if start >= frame.len() || field + 2 > frame.len() {
        return false;
    }
    let sum = netboot_core::net::csum::ones_complement_sum(&frame[start..], 0);
    frame[field..field + 2].copy_from_slice(&(!sum).to_be_bytes());
    true
}
/// Transmit slots (fewer if the queue is smaller; each takes two descriptors).
pub const TX_SLOTS: u16 = 64;

/// Which interface a virtio-net PCI function offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// Transitional (device 0x1000): the legacy I/O interface is there.
    Transitional,
    /// Modern only (device 0x1041, e.g. QEMU `disable-legacy=on`).
    ModernOnly,
}

/// Classifies a PCI function by its IDs: `Some` for a virtio network device.
pub fn classify(vendor: u16, device: u16, subsystem: u16) -> Option<Interface> {
    match (vendor, device) {
        (VENDOR, DEVICE_TRANSITIONAL) if subsystem == TYPE_NET => Some(Interface::Transitional),
        (VENDOR, DEVICE_MODERN) => Some(Interface::ModernOnly),
        _ => None,
    }
}

/// A virtio-net PCI function found by [`scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// bus << 8 | device << 3 | function.
    pub busdevfn: u32,
    /// The interface it offers.
    pub interface: Interface,
    /// BAR0 as read (for a transitional device: the legacy I/O port base | 1).
    pub bar0: u32,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.busdevfn;
        write!(
            f,
            "PCI {:02x}:{:02x}.{}",
            (b >> 8) & 0xFF,
            (b >> 3) & 0x1F,
            b & 7
        )
    }
}

/// Finds the virtio-net functions on PCI segment 0, in bus/device/function order.
/// `read(busdevfn, offset, buf)` reads configuration space (absent functions read as
/// all-ones).
pub fn scan(mut read: impl FnMut(u32, u16, &mut [u8])) -> Vec<Found> {
    let mut found = Vec::new();
    fn word(read: &mut dyn FnMut(u32, u16, &mut [u8]), bdf: u32, at: u16) -> u32 {
        let mut b = [0u8; 4];
        read(bdf, at, &mut b);
        u32::from_le_bytes(b)
    }
    for bus in 0u32..256 {
        for dev in 0u32..32 {
            for func in 0u32..8 {
                let bdf = bus << 8 | dev << 3 | func;
                let id = word(&mut read, bdf, 0x00);
                let vendor = id as u16;
                if vendor == 0xFFFF || vendor == 0 {
                    if func == 0 {
                        break;
                    }
                    continue;
                }
                let subsystem = (word(&mut read, bdf, 0x2C) >> 16) as u16;
                if let Some(interface) = classify(vendor, (id >> 16) as u16, subsystem) {
                    found.push(Found {
                        busdevfn: bdf,
                        interface,
                        bar0: word(&mut read, bdf, 0x10),
                    });
                }
                // Header type bit 7: multi-function device; otherwise only function 0.
                let header = (word(&mut read, bdf, 0x0C) >> 16) as u8;
                if func == 0 && header & 0x80 == 0 {
                    break;
                }
            }
        }
    }
    found
}

/// Why a virtio-net device could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtioError {
    /// BAR0 is not an I/O BAR (or is unassigned).
    NoIoBar(u32),
    /// The device has no MAC address in its configuration (`VIRTIO_NET_F_MAC`).
    NoMac,
    /// A queue could not be set up.
    Queue(u16, crate::virtio::QueueError),
    /// The queue memory is above 16 TiB and cannot be given as a 32-bit page number.
    QueueTooHigh(u64),
    /// The virtio 1.0 capabilities are missing or incomplete.
    NoModernCaps(&'static str),
    /// A BAR the modern interface needs is unusable.
    BadBar(u8, &'static str),
    /// A modern-interface structure is outside the identity-mapped 4 GiB.
    AboveIdentityMap(u64),
    /// The device refused the features (FEATURES_OK did not stick).
    FeaturesRefused,
}

impl fmt::Display for VirtioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoIoBar(bar) => write!(
                f,
                "BAR0 is {bar:#x}, not an assigned I/O BAR: the legacy interface is unusable"
            ),
            Self::NoMac => f.write_str("the device offers no MAC address (VIRTIO_NET_F_MAC)"),
            Self::Queue(q, e) => write!(f, "queue {q}: {e}"),
            Self::QueueTooHigh(a) => write!(f, "queue memory at {a:#x} is above 16 TiB"),
            Self::NoModernCaps(why) => write!(f, "virtio 1.0 interface unusable: {why}"),
            Self::BadBar(bar, why) => write!(f, "virtio 1.0 interface: BAR{bar} is {why}"),
            Self::AboveIdentityMap(a) => write!(
                f,
                "virtio 1.0 registers at {a:#x} are above 4 GiB, outside netboot's identity \
                 map; give the VM a transitional device or let the BIOS map the BAR low"
            ),
            Self::FeaturesRefused => {
                f.write_str("the device refused VIRTIO_F_VERSION_1 + VIRTIO_NET_F_MAC")
            }
        }
    }
}

/// The legacy I/O port base from BAR0, if it is an assigned I/O BAR.
pub fn io_base(bar0: u32) -> Result<u16, VirtioError> {
    if bar0 & 1 == 0 {
        return Err(VirtioError::NoIoBar(bar0));
    }
    match u16::try_from(bar0 & !3) {
        Ok(0) | Err(_) => Err(VirtioError::NoIoBar(bar0)),
        Ok(base) => Ok(base),
    }
}

/// `VIRTIO_F_VERSION_1` (feature bit 32): the modern interface.
pub const F_VERSION_1_HIGH: u32 = 1;
/// Length of `virtio_net_hdr` with `VIRTIO_F_VERSION_1` (`num_buffers` always there).
pub const NET_HDR_LEN_MODERN: usize = 12;

/// Where one virtio 1.0 structure lives: BAR index, offset and length inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRegion {
    /// BAR index (0–5).
    pub bar: u8,
    /// Offset inside the BAR.
    pub offset: u32,
    /// Length of the structure.
    pub length: u32,
}

/// The virtio 1.0 PCI capabilities of a device (virtio 1.0 §4.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModernCaps {
    /// `VIRTIO_PCI_CAP_COMMON_CFG`.
    pub common: CapRegion,
    /// `VIRTIO_PCI_CAP_NOTIFY_CFG` and its `notify_off_multiplier`.
    pub notify: (CapRegion, u32),
    /// `VIRTIO_PCI_CAP_DEVICE_CFG` (the MAC address).
    pub device: CapRegion,
}

/// Walks the PCI capability list of `busdevfn` for the virtio 1.0 vendor capabilities.
/// The first of each type is used, as the specification asks. The walk is bounded, so a
/// looping list cannot hang it.
pub fn modern_caps(
    read: &mut dyn FnMut(u32, u16, &mut [u8]),
    busdevfn: u32,
) -> Result<ModernCaps, VirtioError> {
    let mut b = [0u8; 2];
    read(busdevfn, 0x06, &mut b);
    if u16::from_le_bytes(b) & 0x10 == 0 {
        return Err(VirtioError::NoModernCaps("no PCI capability list"));
    }
    let mut p = [0u8; 1];
    read(busdevfn, 0x34, &mut p);
    let mut at = p[0] & 0xFC;
    let (mut common, mut notify, mut device) = (None, None, None);
    for _ in 0..48 {
        if at < 0x40 {
            break;
        }
        let mut c = [0u8; 20];
        read(busdevfn, u16::from(at), &mut c);
        let (vndr, next, len, cfg_type) = (c[0], c[1], c[2], c[3]);
        if vndr == 0x09 && len >= 16 && c[4] < 6 {
            let region = CapRegion {
                bar: c[4],
                offset: u32::from_le_bytes([c[8], c[9], c[10], c[11]]),
                length: u32::from_le_bytes([c[12], c[13], c[14], c[15]]),
            };
            match cfg_type {
                1 if common.is_none() => common = Some(region),
                2 if notify.is_none() && len >= 20 => {
                    notify = Some((region, u32::from_le_bytes([c[16], c[17], c[18], c[19]])))
                }
                4 if device.is_none() => device = Some(region),
                _ => {}
            }
        }
        at = next & 0xFC;
    }
    let common = common
        .filter(|c| c.length >= 0x38)
        .ok_or(VirtioError::NoModernCaps(
            "no usable common configuration capability",
        ))?;
    let notify = notify.ok_or(VirtioError::NoModernCaps("no notification capability"))?;
    let device = device.ok_or(VirtioError::NoModernCaps(
        "no device configuration capability",
    ))?;
    Ok(ModernCaps {
        common,
        notify,
        device,
    })
}

/// The address of memory BAR `bar` of `busdevfn` (64-bit BARs included).
pub fn memory_bar(
    read: &mut dyn FnMut(u32, u16, &mut [u8]),
    busdevfn: u32,
    bar: u8,
) -> Result<u64, VirtioError> {
    let mut b = [0u8; 4];
    let reg = 0x10 + 4 * u16::from(bar);
    read(busdevfn, reg, &mut b);
    let low = u32::from_le_bytes(b);
    if low & 1 != 0 {
        return Err(VirtioError::BadBar(bar, "an I/O BAR, not memory"));
    }
    let mut addr = u64::from(low & !0xF);
    if (low >> 1) & 3 == 2 {
        if bar >= 5 {
            return Err(VirtioError::BadBar(bar, "a 64-bit BAR in the last slot"));
        }
        read(busdevfn, reg + 4, &mut b);
        addr |= u64::from(u32::from_le_bytes(b)) << 32;
    }
    if addr == 0 {
        return Err(VirtioError::BadBar(bar, "unassigned"));
    }
    Ok(addr)
}

#[cfg(target_arch = "x86_64")]
pub use device::{VirtioNet, VirtioRxToken, VirtioTxToken, open_all};

#[cfg(target_arch = "x86_64")]
mod device {
    use super::*;
    use crate::IDENTITY_MAP_LIMIT;
    use crate::port::{inb, inw, outb, outw};
    use crate::virtio::{DESC_F_NEXT, DESC_F_WRITE, VirtQueue};
    use alloc::alloc::{Layout, alloc_zeroed};
    use alloc::vec;
    use core::arch::asm;
    use core::ptr;
    use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
    use smoltcp::time::Instant;

    const RXQ: u16 = 0;
    const TXQ: u16 = 1;
    /// FEATURES_OK (modern interface only).
    const FEATURES_OK: u8 = 8;

    /// Common configuration offsets (virtio 1.0 §4.1.4.3).
    mod common {
        pub const DEVICE_FEATURE_SELECT: u64 = 0x00;
        pub const DEVICE_FEATURE: u64 = 0x04;
        pub const DRIVER_FEATURE_SELECT: u64 = 0x08;
        pub const DRIVER_FEATURE: u64 = 0x0C;
        pub const DEVICE_STATUS: u64 = 0x14;
        pub const QUEUE_SELECT: u64 = 0x16;
        pub const QUEUE_SIZE: u64 = 0x18;
        pub const QUEUE_ENABLE: u64 = 0x1C;
        pub const QUEUE_NOTIFY_OFF: u64 = 0x1E;
        pub const QUEUE_DESC: u64 = 0x20;
        pub const QUEUE_DRIVER: u64 = 0x28;
        pub const QUEUE_DEVICE: u64 = 0x30;
    }

    /// # Safety
    /// The caller must know what the device behind `port` does on a read.
    unsafe fn inl(port: u16) -> u32 {
        let value: u32;
        // SAFETY: forwarded to the caller.
        unsafe {
            asm!("in eax, dx", out("eax") value, in("dx") port,
                 options(nomem, nostack, preserves_flags))
        };
        value
    }

    /// # Safety
    /// The caller must know what the device behind `port` does on this write.
    unsafe fn outl(port: u16, value: u32) {
        // SAFETY: forwarded to the caller.
        unsafe {
            asm!("out dx, eax", in("dx") port, in("eax") value,
                 options(nomem, nostack, preserves_flags))
        };
    }

    /// MMIO accessors for the modern interface.
    ///
    /// # Safety (all)
    /// `addr` is an identity-mapped register of a device this driver owns, naturally
    /// aligned for the access width.
    unsafe fn mmio_r8(addr: u64) -> u8 {
        // SAFETY: forwarded to the caller.
        unsafe { ptr::read_volatile(addr as usize as *const u8) }
    }
    unsafe fn mmio_w8(addr: u64, v: u8) {
        // SAFETY: forwarded to the caller.
        unsafe { ptr::write_volatile(addr as usize as *mut u8, v) }
    }
    unsafe fn mmio_r16(addr: u64) -> u16 {
        // SAFETY: forwarded to the caller.
        unsafe { ptr::read_volatile(addr as usize as *const u16) }
    }
    unsafe fn mmio_w16(addr: u64, v: u16) {
        // SAFETY: forwarded to the caller.
        unsafe { ptr::write_volatile(addr as usize as *mut u16, v) }
    }
    unsafe fn mmio_r32(addr: u64) -> u32 {
        // SAFETY: forwarded to the caller.
        unsafe { ptr::read_volatile(addr as usize as *const u32) }
    }
    unsafe fn mmio_w32(addr: u64, v: u32) {
        // SAFETY: forwarded to the caller.
        unsafe { ptr::write_volatile(addr as usize as *mut u32, v) }
    }
    /// 64-bit fields are written as two 32-bit halves, low first (virtio 1.0 §4.1.3.1).
    unsafe fn mmio_w64(addr: u64, v: u64) {
        // SAFETY: forwarded to the caller.
        unsafe {
            mmio_w32(addr, v as u32);
            mmio_w32(addr + 4, (v >> 32) as u32);
        }
    }

    /// How the driver reaches the device.
    #[derive(Clone, Copy, Debug)]
    enum Transport {
        /// Legacy I/O registers at this port base.
        Legacy { io: u16 },
        /// Virtio 1.0 structures (identity-mapped MMIO addresses) and each queue's
        /// notification address.
        Modern {
            common: u64,
            device: u64,
            notify: [u64; 2],
        },
    }

    impl Transport {
        /// # Safety: the transport's registers belong to a device this driver owns.
        unsafe fn set_status(&self, value: u8) {
            // SAFETY: forwarded to the caller.
            unsafe {
                match *self {
                    Self::Legacy { io } => outb(io + reg::STATUS, value),
                    Self::Modern { common: c, .. } => mmio_w8(c + common::DEVICE_STATUS, value),
                }
            }
        }

        /// # Safety: as for `set_status`.
        unsafe fn notify(&self, queue: u16) {
            // SAFETY: forwarded to the caller.
            unsafe {
                match *self {
                    Self::Legacy { io } => outw(io + reg::QUEUE_NOTIFY, queue),
                    Self::Modern { notify, .. } => mmio_w16(notify[usize::from(queue & 1)], queue),
                }
            }
        }

        /// Resets the device and waits (bounded) until it reads back as reset.
        ///
        /// # Safety: as for `set_status`.
        unsafe fn reset(&self) {
            // SAFETY: forwarded to the caller.
            unsafe {
                self.set_status(0);
                if let Self::Modern { common: c, .. } = *self {
                    for _ in 0..1_000_000 {
                        if mmio_r8(c + common::DEVICE_STATUS) == 0 {
                            break;
                        }
                        core::hint::spin_loop();
                    }
                }
            }
        }

        /// Reads byte `i` of the device configuration.
        ///
        /// # Safety: as for `set_status`.
        unsafe fn config_byte(&self, i: u16) -> u8 {
            // SAFETY: forwarded to the caller.
            unsafe {
                match *self {
                    Self::Legacy { io } => inb(io + reg::CONFIG + i),
                    Self::Modern { device, .. } => mmio_r8(device + u64::from(i)),
                }
            }
        }
    }

    /// A zeroed, leaked buffer area for DMA (`count` buffers of `len` bytes).
    fn dma_slab(count: u16, len: usize) -> Option<*mut u8> {
        let layout = Layout::from_size_align(usize::from(count) * len, 64).ok()?;
        // SAFETY: the size is non-zero (count ≥ 1 for every caller).
        let p = unsafe { alloc_zeroed(layout) };
        (!p.is_null()).then_some(p)
    }

    /// A smoltcp Ethernet device over a virtio-net PCI function.
    #[derive(Debug)]
    pub struct VirtioNet {
        transport: Transport,
        hdr_len: usize,
        mac: [u8; 6],
        rx: VirtQueue,
        tx: VirtQueue,
        rx_bufs: *mut u8,
        /// Receive buffers posted, and the length of each.
        rx_count: u16,
        rx_buf_len: usize,
        tx_bufs: *mut u8,
        tx_free: Vec<u16>,
        stopped: bool,
        rx_frames: u64,
        tx_frames: u64,
        errors: u64,
    }

    impl VirtioNet {
        /// Brings up the device `found`: PCI I/O + memory decoding and bus mastering on,
        /// reset, feature negotiation (MAC, plus VERSION_1 on the modern interface), both
        /// queues, receive buffers posted, DRIVER_OK. A transitional device is driven
        /// through its legacy interface, a modern-only one through its virtio 1.0
        /// capabilities. On failure the device is left reset with FAILED set.
        ///
        /// # Safety
        ///
        /// `found` must come from [`scan`] on this machine's PCI configuration space (ports
        /// 0xCF8/0xCFC), no other driver may use the device, memory must be identity
        /// mapped below 4 GiB (the heap's addresses are the device's DMA addresses), and
        /// the device must be reset (see [`VirtioNet::stop`]) before anything else owns
        /// that memory.
        pub unsafe fn open(found: &Found) -> Result<Self, VirtioError> {
            let bdf = found.busdevfn;
            // SAFETY: configuration reads have no side effects (caller's contract).
            let mut read =
                |b: u32, at: u16, buf: &mut [u8]| unsafe { crate::pci::read(b, at, buf) };
            // SAFETY: the caller's contract: this function's configuration space. Command
            // register: I/O + memory decoding and bus mastering (bits 0, 1, 2).
            unsafe {
                let mut cmd = [0u8; 2];
                crate::pci::read(bdf, 0x04, &mut cmd);
                let cmd = u16::from_le_bytes(cmd) | 0x7;
                crate::pci::write(bdf, 0x04, &cmd.to_le_bytes());
            }
            // Resolve the registers (MMIO needs the decoding enabled above).
            let transport = match found.interface {
                Interface::Transitional => Transport::Legacy {
                    io: io_base(found.bar0)?,
                },
                Interface::ModernOnly => {
                    let caps = modern_caps(&mut read, bdf)?;
                    let mut at = |r: CapRegion, len: u64| -> Result<u64, VirtioError> {
                        let a = memory_bar(&mut read, bdf, r.bar)? + u64::from(r.offset);
                        if a.saturating_add(len) > IDENTITY_MAP_LIMIT {
                            return Err(VirtioError::AboveIdentityMap(a));
                        }
                        Ok(a)
                    };
                    let common = at(caps.common, 0x38)?;
                    let device = at(caps.device, 8)?;
                    let notify_base = at(caps.notify.0, 0)?;
                    let mult = u64::from(caps.notify.1);
                    let mut notify = [0u64; 2];
                    for (q, n) in notify.iter_mut().enumerate() {
                        // SAFETY: `common` is this device's common configuration (checked
                        // inside the identity map); selecting a queue has no side effect.
                        let off = unsafe {
                            mmio_w16(common + common::QUEUE_SELECT, q as u16);
                            mmio_r16(common + common::QUEUE_NOTIFY_OFF)
                        };
                        *n = notify_base + u64::from(off) * mult;
                        if *n + 2 > notify_base + u64::from(caps.notify.0.length)
                            || *n + 2 > IDENTITY_MAP_LIMIT
                        {
                            return Err(VirtioError::NoModernCaps(
                                "queue notification address outside its capability",
                            ));
                        }
                    }
                    Transport::Modern {
                        common,
                        device,
                        notify,
                    }
                }
            };
            // SAFETY: the caller's contract; the transport was resolved from this
            // device's BARs.
            unsafe { Self::start(transport) }
        }

        /// Reset, features, queues, buffers, DRIVER_OK.
        ///
        /// # Safety
        /// The transport's registers belong to a device this driver owns, with decoding
        /// and bus mastering enabled; memory is identity mapped.
        unsafe fn start(transport: Transport) -> Result<Self, VirtioError> {
            // SAFETY: the transport's registers belong to this device; a reset stops any
            // DMA it was doing.
            unsafe {
                transport.reset();
                transport.set_status(status::ACKNOWLEDGE);
                transport.set_status(status::ACKNOWLEDGE | status::DRIVER);
            }
            // SAFETY: as above; the queues' memory is zeroed, identity mapped and leaked,
            // so it stays valid for the device for the rest of the firmware's life.
            let result = unsafe { Self::negotiate_and_setup(&transport) };
            let (mut rx, mut tx, ok_status, features) = match result {
                Ok(v) => v,
                Err(e) => {
                    // SAFETY: resetting then flagging FAILED only affects this device.
                    unsafe {
                        transport.reset();
                        transport.set_status(status::FAILED);
                    }
                    return Err(e);
                }
            };
            let mut mac = [0u8; 6];
            for (i, b) in mac.iter_mut().enumerate() {
                // SAFETY: the MAC is bytes 0–5 of the device configuration.
                *b = unsafe { transport.config_byte(i as u16) };
            }
            let hdr_len = match transport {
                Transport::Legacy { .. } => NET_HDR_LEN,
                Transport::Modern { .. } => NET_HDR_LEN_MODERN,
            };
            let (rx_count, rx_buf_len) = if features & F_GUEST_TSO4 != 0 {
                (rx.size().min(BIG_RX_BUFFERS), BIG_BUF_LEN)
            } else {
                (rx.size().min(RX_BUFFERS), BUF_LEN)
            };
            let tx_slots = (tx.size() / 2).clamp(1, TX_SLOTS);
            let (Some(rx_bufs), Some(tx_bufs)) =
                (dma_slab(rx_count, rx_buf_len), dma_slab(tx_slots, BUF_LEN))
            else {
                // SAFETY: as above.
                unsafe { transport.reset() };
                return Err(VirtioError::Queue(
                    RXQ,
                    crate::virtio::QueueError::NoMemory(usize::from(rx_count) * rx_buf_len),
                ));
            };
            for i in 0..rx_count {
                let addr = rx_bufs as u64 + u64::from(i) * rx_buf_len as u64;
                rx.set_desc(i, addr, rx_buf_len as u32, DESC_F_WRITE, 0);
                rx.push_avail(i);
            }
            for s in 0..tx_slots {
                let addr = tx_bufs as u64 + u64::from(s) * BUF_LEN as u64;
                // Header (all zeros: no offloads), chained to the frame descriptor whose
                // length is set per frame.
                tx.set_desc(2 * s, addr, hdr_len as u32, DESC_F_NEXT, 2 * s + 1);
                tx.set_desc(2 * s + 1, addr + hdr_len as u64, 0, 0, 0);
            }
            // SAFETY: this device's registers; the rings and buffers are in place.
            unsafe {
                transport.set_status(ok_status | status::DRIVER_OK);
                transport.notify(RXQ);
            }
            Ok(Self {
                transport,
                hdr_len,
                mac,
                rx,
                tx,
                rx_bufs,
                rx_count,
                rx_buf_len,
                tx_bufs,
                tx_free: (0..tx_slots).rev().collect(),
                stopped: false,
                rx_frames: 0,
                tx_frames: 0,
                errors: 0,
            })
        }

        /// Features and queues; returns the queues, the status to add DRIVER_OK to and the
        /// negotiated features (low word).
        ///
        /// # Safety
        /// The transport's registers belong to a device in the DRIVER state.
        unsafe fn negotiate_and_setup(
            t: &Transport,
        ) -> Result<(VirtQueue, VirtQueue, u8, u32), VirtioError> {
            let base = status::ACKNOWLEDGE | status::DRIVER;
            match *t {
                Transport::Legacy { io } => {
                    // SAFETY: legacy registers of this device (read features, write ours).
                    unsafe {
                        let offered = inl(io + reg::DEVICE_FEATURES);
                        if offered & F_MAC == 0 {
                            return Err(VirtioError::NoMac);
                        }
                        let features = wanted_features(offered);
                        outl(io + reg::DRIVER_FEATURES, features);
                        let rx = Self::legacy_queue(io, RXQ)?;
                        let tx = Self::legacy_queue(io, TXQ)?;
                        Ok((rx, tx, base, features))
                    }
                }
                Transport::Modern { common: c, .. } => {
                    // SAFETY: common configuration of this device (identity mapped).
                    unsafe {
                        mmio_w32(c + common::DEVICE_FEATURE_SELECT, 0);
                        let low = mmio_r32(c + common::DEVICE_FEATURE);
                        mmio_w32(c + common::DEVICE_FEATURE_SELECT, 1);
                        let high = mmio_r32(c + common::DEVICE_FEATURE);
                        if low & F_MAC == 0 {
                            return Err(VirtioError::NoMac);
                        }
                        if high & F_VERSION_1_HIGH == 0 {
                            return Err(VirtioError::FeaturesRefused);
                        }
                        let features = wanted_features(low);
                        mmio_w32(c + common::DRIVER_FEATURE_SELECT, 0);
                        mmio_w32(c + common::DRIVER_FEATURE, features);
                        mmio_w32(c + common::DRIVER_FEATURE_SELECT, 1);
                        mmio_w32(c + common::DRIVER_FEATURE, F_VERSION_1_HIGH);
                        t.set_status(base | FEATURES_OK);
                        if mmio_r8(c + common::DEVICE_STATUS) & FEATURES_OK == 0 {
                            return Err(VirtioError::FeaturesRefused);
                        }
                        let rx = Self::modern_queue(c, RXQ)?;
                        let tx = Self::modern_queue(c, TXQ)?;
                        Ok((rx, tx, base | FEATURES_OK, features))
                    }
                }
            }
        }

        /// # Safety
        /// `io` is a legacy virtio register block in the DRIVER state.
        unsafe fn legacy_queue(io: u16, index: u16) -> Result<VirtQueue, VirtioError> {
            // SAFETY: forwarded to the caller.
            let size = unsafe {
                outw(io + reg::QUEUE_SELECT, index);
                inw(io + reg::QUEUE_SIZE)
            };
            let q = VirtQueue::new(size).map_err(|e| VirtioError::Queue(index, e))?;
            let pfn = u32::try_from(q.address() >> 12)
                .map_err(|_| VirtioError::QueueTooHigh(q.address()))?;
            // SAFETY: the queue memory is 4096-byte aligned, zeroed and never freed.
            unsafe { outl(io + reg::QUEUE_PFN, pfn) };
            Ok(q)
        }

        /// # Safety
        /// `c` is the common configuration of a modern device after FEATURES_OK.
        unsafe fn modern_queue(c: u64, index: u16) -> Result<VirtQueue, VirtioError> {
            // SAFETY: forwarded to the caller.
            unsafe {
                mmio_w16(c + common::QUEUE_SELECT, index);
                // The device's maximum; a power of two up to 32768 per the spec, and
                // a smaller power of two may be written back. Keep it at most 256.
                let max = mmio_r16(c + common::QUEUE_SIZE);
                let size = if max > 256 { 256 } else { max };
                let q = VirtQueue::new(size).map_err(|e| VirtioError::Queue(index, e))?;
                mmio_w16(c + common::QUEUE_SIZE, size);
                mmio_w64(c + common::QUEUE_DESC, q.address());
                mmio_w64(c + common::QUEUE_DRIVER, q.avail_address());
                mmio_w64(c + common::QUEUE_DEVICE, q.used_address());
                mmio_w16(c + common::QUEUE_ENABLE, 1);
                Ok(q)
            }
        }

        /// The MAC address.
        pub fn mac(&self) -> [u8; 6] {
            self.mac
        }

        /// `"legacy I/O 0xc000"` or `"virtio 1.0 MMIO 0xfe000000"`.
        pub fn interface(&self) -> alloc::string::String {
            match self.transport {
                Transport::Legacy { io } => alloc::format!("legacy I/O {io:#x}"),
                Transport::Modern { common, .. } => alloc::format!("virtio 1.0 MMIO {common:#x}"),
            }
        }

        /// Whether large TCP segments (and partial checksums) are received.
        pub fn large_segments(&self) -> bool {
            self.rx_buf_len == BIG_BUF_LEN
        }

        /// (frames received, frames sent, frames dropped: too long or no transmit slot).
        pub fn stats(&self) -> (u64, u64, u64) {
            (self.rx_frames, self.tx_frames, self.errors)
        }

        /// Resets the device, which stops its DMA, before an OS takes over. Idempotent.
        pub fn stop(&mut self) {
            if !self.stopped {
                self.stopped = true;
                // SAFETY: resetting this device; reading the legacy ISR deasserts a
                // pending interrupt line.
                unsafe {
                    self.transport.reset();
                    if let Transport::Legacy { io } = self.transport {
                        let _ = inb(io + reg::ISR);
                    }
                }
            }
        }

        fn reclaim_tx(&mut self) {
            while let Some((head, _)) = self.tx.pop_used() {
                // Only heads of slots (even descriptors) are ever made available.
                if head % 2 == 0 && !self.tx_free.contains(&(head / 2)) {
                    self.tx_free.push(head / 2);
                }
            }
        }

        fn send(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
            self.reclaim_tx();
            let slot = match self.tx_free.pop() {
                Some(s) if !self.stopped && len <= MAX_FRAME => s,
                other => {
                    if let Some(s) = other {
                        self.tx_free.push(s);
                    }
                    self.errors += 1;
                    fill(&mut vec![0u8; len]);
                    return;
                }
            };
            let at = usize::from(slot) * BUF_LEN + self.hdr_len;
            // SAFETY: slot < tx_slots, so `at..at + len` (len ≤ MAX_FRAME, header ≤ 12)
            // is inside the transmit slab; the slot is free, so the device is not
            // reading it.
            let buf = unsafe { core::slice::from_raw_parts_mut(self.tx_bufs.add(at), len) };
            fill(buf);
            let addr = self.tx_bufs as u64 + at as u64;
            self.tx.set_desc(2 * slot + 1, addr, len as u32, 0, 0);
            self.tx.push_avail(2 * slot);
            if self.tx.needs_notify() {
                // SAFETY: notifying the transmit queue of this device.
                unsafe { self.transport.notify(TXQ) };
            }
            self.tx_frames += 1;
        }

        fn recv(&mut self) -> Option<Vec<u8>> {
            self.recv_with(<[u8]>::to_vec)
        }

        /// Copies the next received frame (without the virtio header) into `buf`, which
        /// keeps its allocation from frame to frame; `false` when none is waiting.
        pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> bool {
            self.recv_with(|frame| {
                buf.clear();
                buf.extend_from_slice(frame);
            })
            .is_some()
        }

        /// A token to transmit one frame (dropped, and counted, if no slot is free when
        /// it is used).
        pub fn tx_token(&mut self) -> VirtioTxToken<'_> {
            VirtioTxToken { nic: self }
        }

        /// Hands the next received frame to `f` in the receive buffer, with a partial
        /// checksum completed, then posts the buffer again. Frames the device marks
        /// malformed are counted and skipped.
        fn recv_with<R>(&mut self, mut f: impl FnMut(&[u8]) -> R) -> Option<R> {
            if self.stopped {
                return None;
            }
            loop {
                let (id, len) = self.rx.pop_used()?;
                if id >= self.rx_count {
                    continue;
                }
                let len = (len as usize).min(self.rx_buf_len);
                let at = usize::from(id) * self.rx_buf_len;
                let offload = self.large_segments();
                let frame = (len > self.hdr_len)
                    .then(|| {
                        // SAFETY: buffer `id` is inside the receive slab and the device
                        // has handed it back (used ring), so it no longer writes it until
                        // it is posted again below.
                        let b =
                            unsafe { core::slice::from_raw_parts_mut(self.rx_bufs.add(at), len) };
                        let (hdr, frame) = b.split_at_mut(self.hdr_len);
                        (!offload || offload_accept(hdr, frame)).then(|| f(frame))
                    })
                    .flatten();
                // The descriptor still describes the whole buffer: post it again. Each
                // notification is a trap into the hypervisor: only when the device asks.
                self.rx.push_avail(id);
                if self.rx.needs_notify() {
                    // SAFETY: notifying the receive queue of this device.
                    unsafe { self.transport.notify(RXQ) };
                }
                if let Some(frame) = frame {
                    self.rx_frames += 1;
                    return Some(frame);
                }
                self.errors += 1;
            }
        }
    }

    /// Scans PCI segment 0 and opens every virtio-net function, printing one line per
    /// device (`virtio-net PCI 00:03.0: 52:54:00:12:34:56, I/O 0xc040, queues 256/256`) or
    /// why it is unusable. Returns the usable ones with their MAC addresses.
    ///
    /// # Safety
    ///
    /// As for [`VirtioNet::open`]: ports 0xCF8/0xCFC are the PCI configuration mechanism,
    /// no other driver uses these devices, memory is identity mapped.
    pub unsafe fn open_all(console: &mut dyn fmt::Write) -> Vec<([u8; 6], VirtioNet)> {
        // SAFETY: configuration reads have no side effects (caller's contract).
        let found = scan(|bdf, at, buf| unsafe { crate::pci::read(bdf, at, buf) });
        if found.is_empty() {
            let _ = console.write_str(
                "virtio-net: no device on PCI (vendor 0x1af4, device 0x1000/0x1041): \
                 no network; give the machine a virtio-net-pci NIC\r\n",
            );
        }
        let mut nics = Vec::new();
        for f in found {
            // SAFETY: `f` comes from `scan` of this machine; forwarded contract.
            match unsafe { VirtioNet::open(&f) } {
                Ok(nic) => {
                    let m = nic.mac();
                    let _ = write!(
                        console,
                        "virtio-net {f}: {}, {}, queues {}/{}{}\r\n",
                        netboot_core::platform::MacText(m),
                        nic.interface(),
                        nic.rx.size(),
                        nic.tx.size(),
                        if nic.large_segments() {
                            ", large receive segments"
                        } else {
                            ""
                        }
                    );
                    nics.push((m, nic));
                }
                Err(e) => {
                    let _ = write!(console, "virtio-net {f}: unusable: {e}\r\n");
                }
            }
        }
        nics
    }

    /// A received frame.
    pub struct VirtioRxToken {
        frame: Vec<u8>,
    }

    impl phy::RxToken for VirtioRxToken {
        fn consume<R, F>(self, f: F) -> R
        where
            F: FnOnce(&[u8]) -> R,
        {
            f(&self.frame)
        }
    }

    /// Permission to transmit one frame.
    pub struct VirtioTxToken<'a> {
        nic: &'a mut VirtioNet,
    }

    impl phy::TxToken for VirtioTxToken<'_> {
        fn consume<R, F>(self, len: usize, f: F) -> R
        where
            F: FnOnce(&mut [u8]) -> R,
        {
            let mut result = None;
            self.nic.send(len, |buf| result = Some(f(buf)));
            // `send` calls the closure exactly once on every path.
            result.unwrap_or_else(|| unreachable!("send always fills the frame"))
        }
    }

    impl Device for VirtioNet {
        type RxToken<'a> = VirtioRxToken;
        type TxToken<'a> = VirtioTxToken<'a>;

        fn receive(
            &mut self,
            _timestamp: Instant,
        ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
            let frame = self.recv()?;
            Some((VirtioRxToken { frame }, self.tx_token()))
        }

        fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
            if self.stopped {
                return None;
            }
            self.reclaim_tx();
            (!self.tx_free.is_empty()).then(|| self.tx_token())
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = MAX_FRAME;
            caps.max_burst_size = Some(usize::from(self.rx_count));
            if self.large_segments() {
                // `offload_accept` vouched for every TCP/UDP checksum received.
                caps.checksum.tcp = smoltcp::phy::Checksum::Tx;
                caps.checksum.udp = smoltcp::phy::Checksum::Tx;
            }
            caps
        }
    }

    #[cfg(target_os = "none")]
    impl crate::platform::BiosNic for VirtioNet {
        fn stop_for_os(&mut self) -> Vec<alloc::string::String> {
            self.stop();
            Vec::new()
        }
    }

    /// The driver against a fake modern device whose registers are plain memory; the test
    /// plays the device's side of the rings.
    #[cfg(test)]
    mod tests {
        use super::*;
        use smoltcp::phy::{RxToken, TxToken};
        use std::vec::Vec;

        const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

        /// Fake registers: common configuration at 0, device configuration at 0x100,
        /// the notification register at 0x200.
        fn fake_device(queue_size: u16) -> (Vec<u64>, Transport) {
            let mut regs = std::vec![0u64; 128];
            let base = regs.as_mut_ptr() as u64;
            // SAFETY: all offsets are inside the 1 KiB buffer and naturally aligned.
            unsafe {
                // Both feature words read the same memory: F_MAC in the low word,
                // bit 0 (= VERSION_1 in the high word).
                mmio_w32(base + common::DEVICE_FEATURE, F_MAC | F_VERSION_1_HIGH);
                mmio_w16(base + common::QUEUE_SIZE, queue_size);
                for (i, b) in MAC.iter().enumerate() {
                    mmio_w8(base + 0x100 + i as u64, *b);
                }
            }
            let t = Transport::Modern {
                common: base,
                device: base + 0x100,
                notify: [base + 0x200; 2],
            };
            (regs, t)
        }

        fn rd16(a: u64) -> u16 {
            // SAFETY: addresses of live queue memory in these tests.
            unsafe { mmio_r16(a) }
        }

        /// Descriptor `i` of `q`: (address, length, flags, next).
        fn desc(q: &VirtQueue, i: u16) -> (u64, u32, u16, u16) {
            let a = q.address() + 16 * u64::from(i);
            // SAFETY: descriptor `i` of a live queue.
            unsafe {
                (
                    ptr::read_volatile(a as usize as *const u64),
                    mmio_r32(a + 8),
                    mmio_r16(a + 12),
                    mmio_r16(a + 14),
                )
            }
        }

        /// The device puts chain `id` (`len` bytes written) in the used ring.
        fn complete(q: &VirtQueue, id: u16, len: u32) {
            let used = q.used_address();
            let idx = rd16(used + 2);
            let slot = u64::from(idx % q.size());
            // SAFETY: inside the used ring of a live queue.
            unsafe {
                mmio_w32(used + 4 + 8 * slot, u32::from(id));
                mmio_w32(used + 8 + 8 * slot, len);
                mmio_w16(used + 2, idx.wrapping_add(1));
            }
        }

        #[test]
        fn negotiates_and_posts_receive_buffers() {
            let (regs, t) = fake_device(8);
            // SAFETY: the fake registers and the heap stand in for device and RAM.
            let nic = unsafe { VirtioNet::start(t) }.expect("starts");
            assert_eq!(nic.mac(), MAC);
            assert_eq!(nic.hdr_len, NET_HDR_LEN_MODERN);
            let status = regs[common::DEVICE_STATUS as usize / 8].to_le_bytes()[4];
            assert_eq!(
                status, 0x0F,
                "ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK"
            );
            assert_eq!(rd16(nic.rx.avail_address() + 2), 8, "all 8 buffers posted");
            let (_, len, flags, _) = desc(&nic.rx, 7);
            assert_eq!((len, flags), (BUF_LEN as u32, DESC_F_WRITE));
        }

        #[test]
        fn refuses_a_device_without_version_1() {
            let (_regs, t) = fake_device(8);
            let Transport::Modern { common: c, .. } = t else {
                unreachable!()
            };
            // SAFETY: the fake registers.
            unsafe { mmio_w32(c + common::DEVICE_FEATURE, F_MAC) };
            // SAFETY: as above.
            let e = unsafe { VirtioNet::start(t) }.expect_err("no VERSION_1");
            assert_eq!(e, VirtioError::FeaturesRefused);
        }

        #[test]
        fn receives_and_reposts_buffers() {
            let (_regs, t) = fake_device(8);
            // SAFETY: as above.
            let mut nic = unsafe { VirtioNet::start(t) }.expect("starts");
            assert!(nic.receive(Instant::ZERO).is_none(), "nothing received yet");
            let frame: Vec<u8> = (0..100u8).collect();
            let (addr, _, _, _) = desc(&nic.rx, 3);
            // SAFETY: buffer 3 is posted, BUF_LEN bytes long.
            unsafe {
                let p = addr as usize as *mut u8;
                ptr::write_bytes(p, 0, NET_HDR_LEN_MODERN);
                ptr::copy_nonoverlapping(frame.as_ptr(), p.add(NET_HDR_LEN_MODERN), 100);
            }
            complete(&nic.rx, 3, (NET_HDR_LEN_MODERN + 100) as u32);
            // A used entry with only a header counts as an error and is skipped.
            complete(&nic.rx, 4, 5);
            let (rx, _tx) = nic.receive(Instant::ZERO).expect("a frame");
            rx.consume(|f| assert_eq!(f, &frame[..]));
            assert!(nic.receive(Instant::ZERO).is_none());
            assert_eq!(
                rd16(nic.rx.avail_address() + 2),
                10,
                "both buffers posted again"
            );
            assert_eq!(nic.stats(), (1, 0, 1));
        }

        #[test]
        fn transmits_reclaims_and_bounds_the_slots() {
            let (regs, t) = fake_device(8); // 4 transmit slots
            // SAFETY: as above.
            let mut nic = unsafe { VirtioNet::start(t) }.expect("starts");
            let send = |nic: &mut VirtioNet, byte: u8| {
                let tx = nic.transmit(Instant::ZERO).expect("a free slot");
                tx.consume(60, |b| b.fill(byte));
            };
            send(&mut nic, 0xAB);
            let avail = nic.tx.avail_address();
            assert_eq!(rd16(avail + 2), 1);
            let head = rd16(avail + 4);
            let (hdr_addr, hdr_len, flags, next) = desc(&nic.tx, head);
            assert_eq!((hdr_len, flags, next), (12, DESC_F_NEXT, head + 1));
            let (frame_addr, frame_len, flags, _) = desc(&nic.tx, next);
            assert_eq!((frame_addr, frame_len, flags), (hdr_addr + 12, 60, 0));
            // SAFETY: the slot's buffer, 12 + 60 bytes.
            let bytes = unsafe { core::slice::from_raw_parts(hdr_addr as usize as *const u8, 72) };
            assert!(bytes[..12].iter().all(|&b| b == 0), "zero header");
            assert!(bytes[12..].iter().all(|&b| b == 0xAB));
            assert_eq!(regs[0x200 / 8] as u16, 1, "transmit queue notified");
            for b in 1..4 {
                send(&mut nic, b);
            }
            assert!(
                nic.transmit(Instant::ZERO).is_none(),
                "all 4 slots in flight"
            );
            complete(&nic.tx, head, 0);
            send(&mut nic, 5);
            let tx = nic.transmit(Instant::ZERO);
            assert!(tx.is_none(), "the reclaimed slot was used again");
            complete(&nic.tx, rd16(avail + 4 + 2), 0);
            // Too long: dropped and counted, the slot stays free.
            let tx = nic.transmit(Instant::ZERO).expect("slot");
            tx.consume(MAX_FRAME + 1, |b| assert_eq!(b.len(), MAX_FRAME + 1));
            assert_eq!(nic.stats(), (0, 5, 1));
            assert!(
                nic.transmit(Instant::ZERO).is_some(),
                "the slot stayed free"
            );
            nic.stop();
            assert!(nic.transmit(Instant::ZERO).is_none(), "stopped");
            assert!(nic.receive(Instant::ZERO).is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::string::ToString;

    #[test]
    fn classifies_virtio_net_ids() {
        assert_eq!(classify(0x1AF4, 0x1000, 1), Some(Interface::Transitional));
        assert_eq!(
            classify(0x1AF4, 0x1000, 2),
            None,
            "transitional block device"
        );
        assert_eq!(classify(0x1AF4, 0x1041, 1), Some(Interface::ModernOnly));
        assert_eq!(classify(0x1AF4, 0x1042, 2), None);
        assert_eq!(classify(0x8086, 0x100E, 0), None, "e1000");
    }

    #[test]
    fn io_base_needs_an_assigned_io_bar() {
        assert_eq!(io_base(0xC041), Ok(0xC040));
        assert_eq!(io_base(0xFEBC_0000), Err(VirtioError::NoIoBar(0xFEBC_0000)));
        assert_eq!(io_base(1), Err(VirtioError::NoIoBar(1)));
        assert!(
            VirtioError::AboveIdentityMap(1 << 40)
                .to_string()
                .contains("above 4 GiB")
        );
    }

    /// A fake configuration space: (busdevfn → 256 bytes).
    fn space(functions: &[(u32, u16, u16, u16, u8, u32)]) -> BTreeMap<u32, [u8; 256]> {
        let mut m = BTreeMap::new();
        for &(bdf, vendor, device, subsystem, header, bar0) in functions {
            let mut c = [0u8; 256];
            c[0..2].copy_from_slice(&vendor.to_le_bytes());
            c[2..4].copy_from_slice(&device.to_le_bytes());
            c[0x0E] = header;
            c[0x10..0x14].copy_from_slice(&bar0.to_le_bytes());
            c[0x2E..0x30].copy_from_slice(&subsystem.to_le_bytes());
            m.insert(bdf, c);
        }
        m
    }

    /// A modern-only virtio-net function as QEMU lays it out: capabilities at 0x84
    /// (common), 0x70 (ISR), 0x60 (device), 0x4C (notify), 0x40 (MSI-X, not virtio); BAR4
    /// is a 64-bit memory BAR.
    fn modern_function(bar4_high: u32) -> [u8; 256] {
        let mut c = [0xFFu8; 256];
        c[..0x40].fill(0);
        c[0x06] = 0x10; // capability list
        c[0x34] = 0x84;
        c[0x20..0x24].copy_from_slice(&0xFE00_000Cu32.to_le_bytes()); // BAR4, 64-bit, pref
        c[0x24..0x28].copy_from_slice(&bar4_high.to_le_bytes());
        let mut cap = |at: usize, next: u8, len: u8, ty: u8, off: u32, length: u32| {
            c[at..at + 4].copy_from_slice(&[0x09, next, len, ty]);
            c[at + 4] = 4;
            c[at + 8..at + 12].copy_from_slice(&off.to_le_bytes());
            c[at + 12..at + 16].copy_from_slice(&length.to_le_bytes());
        };
        cap(0x84, 0x70, 16, 1, 0x0000, 0x1000);
        cap(0x70, 0x60, 16, 3, 0x1000, 0x1000);
        cap(0x60, 0x4C, 16, 4, 0x2000, 0x1000);
        cap(0x4C, 0x40, 20, 2, 0x3000, 0x1000);
        c[0x4C + 16..0x4C + 20].copy_from_slice(&4u32.to_le_bytes());
        c[0x40..0x44].copy_from_slice(&[0x11, 0x00, 0x02, 0x00]); // MSI-X, end of list
        c
    }

    fn reader(c: [u8; 256]) -> impl FnMut(u32, u16, &mut [u8]) {
        move |_, at, buf| {
            let at = usize::from(at);
            buf.copy_from_slice(&c[at..at + buf.len()]);
        }
    }

    #[test]
    fn finds_the_virtio_1_capabilities() {
        let mut read = reader(modern_function(0));
        let caps = modern_caps(&mut read, 0x18).expect("capabilities");
        assert_eq!(
            caps,
            ModernCaps {
                common: CapRegion {
                    bar: 4,
                    offset: 0,
                    length: 0x1000
                },
                notify: (
                    CapRegion {
                        bar: 4,
                        offset: 0x3000,
                        length: 0x1000
                    },
                    4
                ),
                device: CapRegion {
                    bar: 4,
                    offset: 0x2000,
                    length: 0x1000
                },
            }
        );
        assert_eq!(memory_bar(&mut read, 0x18, 4), Ok(0xFE00_0000));
        let mut high = reader(modern_function(0x80));
        assert_eq!(memory_bar(&mut high, 0x18, 4), Ok(0x80_FE00_0000));
        assert_eq!(
            memory_bar(&mut read, 0x18, 0),
            Err(VirtioError::BadBar(0, "unassigned"))
        );
    }

    #[test]
    fn rejects_missing_or_looping_capabilities() {
        let mut c = modern_function(0);
        c[0x06] = 0;
        assert_eq!(
            modern_caps(&mut reader(c), 0),
            Err(VirtioError::NoModernCaps("no PCI capability list"))
        );
        // The notify capability points back at the common one (a loop that the bounded
        // walk survives), and the device configuration is turned into a second ISR.
        let mut c = modern_function(0);
        c[0x4C + 1] = 0x84;
        c[0x60 + 3] = 3;
        assert_eq!(
            modern_caps(&mut reader(c), 0),
            Err(VirtioError::NoModernCaps(
                "no device configuration capability"
            ))
        );
        let mut c = modern_function(0);
        c[0x84 + 12..0x84 + 16].copy_from_slice(&0x10u32.to_le_bytes()); // too short
        assert_eq!(
            modern_caps(&mut reader(c), 0),
            Err(VirtioError::NoModernCaps(
                "no usable common configuration capability"
            ))
        );
    }

    #[test]
    fn scan_finds_virtio_net_functions_only() {
        let m = space(&[
            (0x0000, 0x8086, 0x1237, 0, 0x00, 0),           // host bridge
            (0x0008, 0x8086, 0x7000, 0, 0x80, 0),           // multi-function ISA bridge
            (0x000A, 0x1AF4, 0x1000, 1, 0x00, 0xC001),      // function 2 of device 1
            (0x0018, 0x1AF4, 0x1000, 1, 0x00, 0xC041),      // 00:03.0 transitional net
            (0x0019, 0x1AF4, 0x1000, 1, 0x00, 0xC081),      // hidden: 00:03 not multi-fn
            (0x0020, 0x1AF4, 0x1001, 2, 0x00, 0xC0C1),      // virtio-blk
            (0x0108, 0x1AF4, 0x1041, 1, 0x00, 0xFE00_0000), // 01:01.0 modern net
        ]);
        let found = scan(|bdf, at, buf| {
            buf.fill(0xFF);
            if let Some(c) = m.get(&bdf) {
                let at = usize::from(at);
                buf.copy_from_slice(&c[at..at + buf.len()]);
            }
        });
        assert_eq!(
            found,
            std::vec![
                Found {
                    busdevfn: 0x000A,
                    interface: Interface::Transitional,
                    bar0: 0xC001
                },
                Found {
                    busdevfn: 0x0018,
                    interface: Interface::Transitional,
                    bar0: 0xC041
                },
                Found {
                    busdevfn: 0x0108,
                    interface: Interface::ModernOnly,
                    bar0: 0xFE00_0000
                },
            ]
        );
        assert_eq!(found[2].to_string(), "PCI 01:01.0");
    }

    #[test]
    fn offloads_are_taken_only_together() {
        assert_eq!(wanted_features(F_MAC), F_MAC);
        assert_eq!(wanted_features(F_MAC | F_GUEST_TSO4), F_MAC);
        assert_eq!(wanted_features(F_MAC | F_GUEST_CSUM), F_MAC);
        let all = F_MAC | F_GUEST_CSUM | F_GUEST_TSO4;
        assert_eq!(wanted_features(all | 1 << 15), all);
    }

    /// A TCP segment of `payload` bytes from 192.0.2.1 to 192.0.2.100 whose checksum
    /// field holds only the pseudo-header sum, as a host hands it over with NEEDS_CSUM.
    fn partial_tcp_frame(payload: usize) -> Vec<u8> {
        use netboot_core::net::csum::ones_complement_sum;
        let tcp_len = 20 + payload;
        let mut f = std::vec![0u8; 14 + 20 + tcp_len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[192, 0, 2, 1]);
        ip[16..20].copy_from_slice(&[192, 0, 2, 100]);
        let sum = !ones_complement_sum(ip, 0);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let tcp = &mut f[34..];
        tcp[0..4].copy_from_slice(&[0, 80, 0xc0, 0]);
        tcp[12] = 5 << 4;
        tcp[13] = 0x18;
        for (i, b) in tcp[20..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&[192, 0, 2, 1]);
        pseudo[4..8].copy_from_slice(&[192, 0, 2, 100]);
        pseudo[9] = 6;
        pseudo[10..].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        let partial = ones_complement_sum(&pseudo, 0);
        tcp[16..18].copy_from_slice(&partial.to_be_bytes());
        f
    }

    #[test]
    fn offloaded_frames_are_trusted_completed_or_checked() {
        use netboot_core::net::csum::l4_checksum_ok;
        let needs = needs_tcp();
        // A partial TCP checksum is left alone (smoltcp is told not to check).
        let mut tcp = partial_tcp_frame(100);
        let before = tcp.clone();
        assert!(offload_accept(&needs, &mut tcp));
        assert_eq!(tcp, before);
        // A UDP datagram (checksum at offset 6) is completed.
        use netboot_core::net::csum::ones_complement_sum;
        let mut udp = partial_tcp_frame(100);
        udp[23] = 17;
        udp[24..26].fill(0);
        let ip = !ones_complement_sum(&udp[14..34], 0);
        udp[24..26].copy_from_slice(&ip.to_be_bytes());
        let l4_len = (udp.len() - 34) as u16;
        udp[38..40].copy_from_slice(&l4_len.to_be_bytes());
        udp[50..52].fill(0);
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&[192, 0, 2, 1]);
        pseudo[4..8].copy_from_slice(&[192, 0, 2, 100]);
        pseudo[9] = 17;
        pseudo[10..].copy_from_slice(&l4_len.to_be_bytes());
        udp[40..42].copy_from_slice(&ones_complement_sum(&pseudo, 0).to_be_bytes());
        let mut needs_udp = needs_tcp();
        needs_udp[8..10].copy_from_slice(&6u16.to_le_bytes());
        assert!(offload_accept(&needs_udp, &mut udp));
        assert_ne!(udp[40..42], [0, 0]);
        assert!(l4_checksum_ok(&udp));
        udp[60] ^= 1;
        assert!(!l4_checksum_ok(&udp));
        // DATA_VALID is taken as it is; no flag means checked here.
        let mut valid = [0u8; NET_HDR_LEN_MODERN];
        valid[0] = HDR_F_DATA_VALID;
        assert!(offload_accept(&valid, &mut partial_tcp_frame(10)));
        let plain = [0u8; NET_HDR_LEN_MODERN];
        assert!(!offload_accept(&plain, &mut partial_tcp_frame(10)));
        let mut whole = partial_tcp_frame(10);
        assert!(offload_accept(&needs_tcp(), &mut whole));
        let mut whole2 = partial_tcp_frame(10);
        assert!(complete_checksum(&needs_tcp(), &mut whole2));
        assert!(offload_accept(&plain, &mut whole2));
    }

    /// NEEDS_CSUM for a TCP checksum field (start 34, offset 16).
    fn needs_tcp() -> [u8; NET_HDR_LEN_MODERN] {
        let mut h = [0u8; NET_HDR_LEN_MODERN];
        h[0] = HDR_F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&34u16.to_le_bytes());
        h[8..10].copy_from_slice(&16u16.to_le_bytes());
        h
    }

    #[test]
    fn partial_checksums_are_completed() {
        use netboot_core::net::csum::l4_checksum_ok;
        let mut hdr = [0u8; NET_HDR_LEN_MODERN];
        hdr[0] = HDR_F_NEEDS_CSUM;
        hdr[6..8].copy_from_slice(&34u16.to_le_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        for payload in [0, 1, 1448, 64_000] {
            let mut frame = partial_tcp_frame(payload);
            assert!(!l4_checksum_ok(&frame), "payload {payload}: partial passed");
            assert!(complete_checksum(&hdr, &mut frame));
            assert!(l4_checksum_ok(&frame), "payload {payload}");
        }
        // Without NEEDS_CSUM the frame is left alone.
        let mut frame = partial_tcp_frame(10);
        let before = frame.clone();
        assert!(complete_checksum(&[0; NET_HDR_LEN], &mut frame));
        assert_eq!(frame, before);
        // A header pointing past the frame is refused.
        hdr[6..8].copy_from_slice(&60u16.to_le_bytes());
        assert!(!complete_checksum(&hdr, &mut partial_tcp_frame(0)));
    }
}
