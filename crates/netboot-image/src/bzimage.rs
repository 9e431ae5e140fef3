//! Linux x86 boot protocol images (bzImage and zImage): the setup header.
//!
//! Fields are read only when the protocol version says they exist (formats.md §1.1):
//! wimboot is protocol 2.03 and holds code at 0x230, so an ungated read gives garbage.

use crate::error::{Error, Result};
use crate::rd;

const WHAT: &str = "bzImage";

/// `loadflags` bit 0: the protected-mode code loads at 0x100000.
pub const LOADED_HIGH: u8 = 0x01;
/// `loadflags` bit 1: KASLR enabled (kernel writes it).
pub const KASLR_FLAG: u8 = 0x02;
/// `loadflags` bit 7: `heap_end_ptr` is valid.
pub const CAN_USE_HEAP: u8 = 0x80;
/// `xloadflags` bit 0: 64-bit entry point at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit 1: kernel, boot_params, command line and initrd may be above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `xloadflags` bit 2: 32-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_32: u16 = 1 << 2;
/// `xloadflags` bit 3: 64-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_64: u16 = 1 << 3;
/// `xloadflags` bit 4: kexec-with-EFI-runtime support.
pub const XLF_EFI_KEXEC: u16 = 1 << 4;

/// A checked view of a Linux x86 boot-protocol image.
///
/// ```
/// let mut k = vec![0u8; 0x1400];
/// k[0x1F1] = 4; // setup_sects
/// k[0x1FE..0x200].copy_from_slice(&[0x55, 0xAA]);
/// k[0x202..0x206].copy_from_slice(b"HdrS");
/// k[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
/// k[0x211] = 1; // LOADED_HIGH
/// let bz = netboot_image::BzImage::parse(&k).unwrap();
/// assert_eq!(bz.version(), 0x020F);
/// assert!(bz.is_bzimage());
/// assert_eq!(bz.setup_len(), 5 * 512);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BzImage<'a> {
    data: &'a [u8],
    version: u16,
    setup_len: usize,
}

impl<'a> BzImage<'a> {
    /// Parses and validates the header (formats.md §1.3). Protocol 1.x images (no `HdrS`)
    /// are accepted only when `syssize` matches the file length, because 55AA alone is weak.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        if data.len() < 0x200 {
            return Err(Error::truncated("bzImage header", 0x208, data.len()));
        }
        if rd::le16(data, 0x1FE) != Some(0xAA55) {
            return Err(Error::BadMagic { what: WHAT });
        }
        let sects = match data[0x1F1] {
            0 => 4,
            n => usize::from(n),
        };
        let setup_len = (sects + 1) * 512;
        let version = if data.get(0x202..0x206) == Some(b"HdrS") {
            rd::le16(data, 0x206).ok_or(Error::truncated("bzImage header", 0x208, data.len()))?
        } else {
            // Protocol 1.x: the only guard is syssize (in 16-byte units) matching.
            let syssize = u64::from(rd::le32(data, 0x1F4).unwrap_or(0));
            let pm = (data.len() as u64).saturating_sub(setup_len as u64);
            if syssize == 0 || syssize != pm.div_ceil(16) {
                return Err(Error::BadMagic { what: WHAT });
            }
            0x0100
        };
        if version < 0x0200 && version != 0x0100 {
            return Err(Error::malformed(
                WHAT,
                "HdrS present but version below 2.00",
            ));
        }
        if setup_len > data.len() {
            return Err(Error::truncated(
                "bzImage setup",
                setup_len as u64,
                data.len(),
            ));
        }
        Ok(BzImage {
            data,
            version,
            setup_len,
        })
    }

    /// The whole image.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Boot protocol version, `major << 8 | minor` (0x0100 for pre-2.00 images).
    pub fn version(&self) -> u16 {
        self.version
    }

    fn at_least(&self, v: u16) -> bool {
        self.version >= v
    }

    fn u8f(&self, off: usize, min: u16) -> Option<u8> {
        self.at_least(min)
            .then(|| rd::u8_at(self.data, off))
            .flatten()
    }
    fn u16f(&self, off: usize, min: u16) -> Option<u16> {
        self.at_least(min)
            .then(|| rd::le16(self.data, off))
            .flatten()
    }
    fn u32f(&self, off: usize, min: u16) -> Option<u32> {
        self.at_least(min)
            .then(|| rd::le32(self.data, off))
            .flatten()
    }
    fn u64f(&self, off: usize, min: u16) -> Option<u64> {
        self.at_least(min)
            .then(|| rd::le64(self.data, off))
            .flatten()
    }

    /// Raw `setup_sects` byte (0 means 4).
    pub fn setup_sects(&self) -> u8 {
        self.data[0x1F1]
    }

    /// Length of the real-mode setup: `(setup_sects or 4) + 1` sectors.
    pub fn setup_len(&self) -> usize {
        self.setup_len
    }

    /// `root_flags`.
    pub fn root_flags(&self) -> u16 {
        rd::le16(self.data, 0x1F2).unwrap_or(0)
    }

    /// `syssize`: protected-mode size in 16-byte units (reliable before 2.00 and from 2.04).
    pub fn syssize(&self) -> u32 {
        rd::le32(self.data, 0x1F4).unwrap_or(0)
    }

    /// `vid_mode`.
    pub fn vid_mode(&self) -> u16 {
        rd::le16(self.data, 0x1FA).unwrap_or(0)
    }

    /// The NUL-terminated kernel version string (2.00+), at most 256 bytes.
    pub fn kernel_version(&self) -> Option<&'a [u8]> {
        let off = self.u16f(0x20E, 0x0200)?;
        if off == 0 {
            return None;
        }
        let s = rd::cstr(self.data, usize::from(off) + 0x200, 256)?;
        (!s.is_empty()).then_some(s)
    }

    /// `type_of_loader` (2.00+).
    pub fn type_of_loader(&self) -> Option<u8> {
        self.u8f(0x210, 0x0200)
    }

    /// `loadflags` (2.00+; 0 before).
    pub fn loadflags(&self) -> u8 {
        self.u8f(0x211, 0x0200).unwrap_or(0)
    }

    /// A bzImage (protocol 2.00+ with LOADED_HIGH) rather than a zImage, which loads its
    /// protected-mode part at 0x10000.
    pub fn is_bzimage(&self) -> bool {
        self.at_least(0x0200) && self.loadflags() & LOADED_HIGH != 0
    }

    /// `code32_start` (2.00+).
    pub fn code32_start(&self) -> Option<u32> {
        self.u32f(0x214, 0x0200)
    }

    /// `initrd_addr_max`: highest address the initrd may end at (0x37FFFFFF before 2.03).
    pub fn initrd_addr_max(&self) -> u32 {
        self.u32f(0x22C, 0x0203).unwrap_or(0x37FF_FFFF)
    }

    /// `kernel_alignment` (2.05+).
    pub fn kernel_alignment(&self) -> Option<u32> {
        self.u32f(0x230, 0x0205)
    }

    /// `relocatable_kernel` (2.05+; false before).
    pub fn relocatable(&self) -> bool {
        self.u8f(0x234, 0x0205).unwrap_or(0) != 0
    }

    /// `min_alignment` as a power of two (2.10+).
    pub fn min_alignment(&self) -> Option<u8> {
        self.u8f(0x235, 0x020A)
    }

    /// `xloadflags` (2.12+; 0 before: 32-bit entry, everything below 4 GiB).
    pub fn xloadflags(&self) -> u16 {
        self.u16f(0x236, 0x020C).unwrap_or(0)
    }

    /// `cmdline_size`: maximum command-line length without the NUL (255 before 2.06).
    pub fn cmdline_size(&self) -> u32 {
        self.u32f(0x238, 0x0206).unwrap_or(255)
    }

    /// `hardware_subarch` (2.07+).
    pub fn hardware_subarch(&self) -> Option<u32> {
        self.u32f(0x23C, 0x0207)
    }

    /// `(payload_offset, payload_length)` (2.08+); the offset is from the protected-mode
    /// code.
    pub fn payload(&self) -> Option<(u32, u32)> {
        Some((self.u32f(0x248, 0x0208)?, self.u32f(0x24C, 0x0208)?))
    }

    /// The compressed payload, if it lies within the file.
    pub fn payload_data(&self) -> Option<&'a [u8]> {
        let (off, len) = self.payload()?;
        rd::slice(
            self.data,
            self.setup_len as u64 + u64::from(off),
            u64::from(len),
        )
    }

    /// `pref_address` (2.10+).
    pub fn pref_address(&self) -> Option<u64> {
        self.u64f(0x258, 0x020A)
    }

    /// `init_size`: bytes needed from the load address (2.10+).
    pub fn init_size(&self) -> Option<u32> {
        self.u32f(0x260, 0x020A)
    }

    /// `handover_offset` of the EFI handover entry (2.11+); 0 or meaningless when
    /// xloadflags has neither EFI_HANDOVER bit.
    pub fn handover_offset(&self) -> Option<u32> {
        self.u32f(0x264, 0x020B)
    }

    /// `kernel_info_offset` (2.15+), from the protected-mode code.
    pub fn kernel_info_offset(&self) -> Option<u32> {
        self.u32f(0x268, 0x020F)
    }

    /// The real-mode setup (copied below 1 MiB, or whose header goes into boot_params).
    pub fn setup(&self) -> &'a [u8] {
        &self.data[..self.setup_len]
    }

    /// The protected-mode kernel (loaded at 1 MiB or the aligned relocation address).
    pub fn kernel(&self) -> &'a [u8] {
        &self.data[self.setup_len..]
    }

    /// The setup header bytes a loader copies into boot_params: from 0x1F1 to
    /// `0x202 + data[0x201]` (the jump's displacement), bounded by the setup.
    pub fn header(&self) -> &'a [u8] {
        let end = if self.at_least(0x0200) {
            0x202 + usize::from(self.data[0x201])
        } else {
            0x200
        };
        &self.data[0x1F1..end.min(self.setup_len)]
    }

    /// The file length the header implies: setup plus `syssize × 16` (only when `syssize`
    /// is reliable: protocol < 2.00 or ≥ 2.04, and non-zero). A signed kernel is longer
    /// (the signature is appended).
    pub fn declared_len(&self) -> Option<u64> {
        let reliable = self.version < 0x0200 || self.version >= 0x0204;
        let s = u64::from(self.syssize());
        (reliable && s != 0).then(|| self.setup_len as u64 + s * 16)
    }

    /// 64-bit entry point available (xloadflags KERNEL_64).
    pub fn has_64bit_entry(&self) -> bool {
        self.xloadflags() & XLF_KERNEL_64 != 0
    }

    /// The file also starts with `MZ` and a PE header: the kernel has an EFI stub.
    pub fn has_efi_stub(&self) -> bool {
        crate::pe::Pe::parse(self.data).is_ok()
    }
}
