//! Booting a Linux bzImage through the 64-bit boot protocol (platform-notes §2.11,
//! Documentation/arch/x86/boot.rst): header checks, placement of the kernel and the
//! initrds, and `boot_params`. Pure data handling, host-tested; the platform does the
//! copies and the jump.

use crate::e820::{self, Entry};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Size of `boot_params` (the "zero page").
pub const BOOT_PARAMS_SIZE: usize = 4096;
/// `type_of_loader` written: 0xFF, "undefined" (no assigned ID).
pub const TYPE_OF_LOADER: u8 = 0xFF;
/// Oldest protocol with the 64-bit entry point.
pub const MIN_VERSION: u16 = 0x020C;
/// `xloadflags` bit 0: the kernel has a 64-bit entry at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit 1: the kernel, boot_params, command line and initrd may sit above
/// 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `loadflags` bit 0: the protected-mode part is loaded at 0x100000 (a bzImage).
pub const LOADED_HIGH: u8 = 1 << 0;
/// Initrds are placed at 4-byte multiples (iPXE's `INITRD_ALIGN`), zero-padded.
pub const INITRD_ALIGN: u64 = 4;
/// Nothing of Linux goes below 1 MiB.
pub const LOW_LIMIT: u64 = 0x10_0000;

/// Why an image cannot be booted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootError {
    /// Stable code (netboot's).
    pub code: u32,
    /// What is wrong, naming the field.
    pub message: String,
}

fn err(code: u32, message: impl Into<String>) -> BootError {
    BootError {
        code,
        message: message.into(),
    }
}

/// The setup-header fields used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Setup sectors (0 means 4); the protected-mode part starts at (setup_sects + 1) × 512.
    pub setup_sects: u8,
    /// Boot protocol version (0x206).
    pub version: u16,
    /// `loadflags` (0x211).
    pub loadflags: u8,
    /// `initrd_addr_max` (0x22C): highest address the initrd may end at (inclusive).
    pub initrd_addr_max: u32,
    /// `kernel_alignment` (0x230).
    pub kernel_alignment: u32,
    /// `relocatable_kernel` (0x234).
    pub relocatable: bool,
    /// `xloadflags` (0x236).
    pub xloadflags: u16,
    /// `cmdline_size` (0x238): longest command line without the NUL.
    pub cmdline_size: u32,
    /// `pref_address` (0x258).
    pub pref_address: u64,
    /// `init_size` (0x260): memory the kernel needs from its load address.
    pub init_size: u32,
    /// End of the setup header in the file: 0x202 + the byte at 0x201.
    pub header_end: usize,
}

impl Header {
    /// File offset of the protected-mode kernel.
    pub fn kernel_offset(&self) -> usize {
        (usize::from(if self.setup_sects == 0 {
            4
        } else {
            self.setup_sects
        }) + 1)
            * 512
    }
}

fn u16_at(d: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([d[at], d[at + 1]])
}
fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}
fn u64_at(d: &[u8], at: usize) -> u64 {
    u64::from(u32_at(d, at)) | (u64::from(u32_at(d, at + 4)) << 32)
}

/// Identifies the image and checks that this BIOS platform can start it: a bzImage
/// with protocol ≥ 2.12, a 64-bit entry and a relocatable kernel.
pub fn parse(data: &[u8]) -> Result<Header, BootError> {
    let is_bz =
        data.len() >= 0x264 && u16_at(data, 0x1FE) == 0xAA55 && &data[0x202..0x206] == b"HdrS";
    if !is_bz {
        if data.starts_with(b"MZ") {
            return Err(err(
                1,
                "this is an EFI application: it needs UEFI firmware, not BIOS",
            ));
        }
        if data.starts_with(b"\x7fELF") {
            return Err(err(
                2,
                "this is an ELF image: netboot on BIOS boots only Linux bzImages",
            ));
        }
        return Err(err(
            3,
            "unknown image format: not a Linux bzImage (no 0xAA55 at 0x1FE and \"HdrS\" at 0x202)",
        ));
    }
    let version = u16_at(data, 0x206);
    if version < MIN_VERSION {
        return Err(err(
            4,
            format!(
                "bzImage boot protocol {}.{:02} is too old: version (0x206) must be at least 2.12 for the 64-bit entry",
                version >> 8,
                version & 0xFF
            ),
        ));
    }
    let h = Header {
        setup_sects: data[0x1F1],
        version,
        loadflags: data[0x211],
        initrd_addr_max: u32_at(data, 0x22C),
        kernel_alignment: u32_at(data, 0x230),
        relocatable: data[0x234] != 0,
        xloadflags: u16_at(data, 0x236),
        cmdline_size: u32_at(data, 0x238),
        pref_address: u64_at(data, 0x258),
        init_size: u32_at(data, 0x260),
        header_end: (0x202 + usize::from(data[0x201])).min(0x400),
    };
    if h.loadflags & LOADED_HIGH == 0 {
        return Err(err(
            5,
            "this is a zImage (loadflags at 0x211 has LOADED_HIGH clear): only bzImages are supported",
        ));
    }
    if h.xloadflags & XLF_KERNEL_64 == 0 {
        return Err(err(
            6,
            "this bzImage has no 64-bit entry point (xloadflags at 0x236, bit 0 XLF_KERNEL_64 clear): a 32-bit kernel cannot be started by netboot on BIOS",
        ));
    }
    if !h.relocatable {
        return Err(err(
            7,
            "this bzImage is not relocatable (relocatable_kernel at 0x234 is 0)",
        ));
    }
    if h.kernel_offset() >= data.len() {
        return Err(err(
            8,
            "truncated bzImage: setup_sects (0x1F1) points past the end of the file",
        ));
    }
    Ok(h)
}

/// Whether `[a, a + alen)` and `[b, b + blen)` overlap.
pub const fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

fn first_clash(avoid: &[(u64, u64)], start: u64, len: u64) -> Option<(u64, u64)> {
    avoid
        .iter()
        .copied()
        .filter(|&(s, l)| overlaps(start, len, s, l))
        .min_by_key(|&(s, _)| s)
}

/// Where the kernel goes: `pref` if `size` bytes of RAM are free there, otherwise the
/// lowest `align`-aligned address at or above 1 MiB with `size` free bytes of RAM
/// below `limit`, avoiding the `(start, len)` ranges in `avoid`.
pub fn place_kernel(
    map: &[Entry],
    avoid: &[(u64, u64)],
    pref: u64,
    align: u64,
    size: u64,
    limit: u64,
) -> Option<u64> {
    let align = align.max(4096).next_power_of_two();
    let fits = |at: u64| {
        at >= LOW_LIMIT
            && at.checked_add(size).is_some_and(|end| end <= limit)
            && e820::is_ram(map, at, size)
            && first_clash(avoid, at, size).is_none()
    };
    if pref.is_multiple_of(align) && fits(pref) {
        return Some(pref);
    }
    for e in map.iter().filter(|e| e.kind == e820::E820_RAM) {
        let mut at = e.base.max(LOW_LIMIT).checked_next_multiple_of(align)?;
        while at.checked_add(size)? <= e.end().min(limit) {
            match first_clash(avoid, at, size) {
                None => return Some(at),
                Some((s, l)) => at = (s + l).checked_next_multiple_of(align)?,
            }
        }
    }
    None
}

/// Where the initrd goes: the highest 4 KiB-aligned address with `size` bytes of free
/// RAM ending at or below `max_end` (exclusive), avoiding the ranges in `avoid`.
pub fn place_initrd(map: &[Entry], avoid: &[(u64, u64)], size: u64, max_end: u64) -> Option<u64> {
    let size = size.max(1);
    for e in map.iter().rev().filter(|e| e.kind == e820::E820_RAM) {
        let floor = e.base.max(LOW_LIMIT);
        let mut top = e.end().min(max_end);
        while let Some(at) = top.checked_sub(size).map(|a| a & !0xFFF) {
            if at < floor {
                break;
            }
            match first_clash(avoid, at, size) {
                None => return Some(at),
                Some((s, _)) => top = s,
            }
        }
    }
    None
}

/// The layout of concatenated initrds: each starts at a multiple of [`INITRD_ALIGN`];
/// returns the offsets and the total size.
pub fn initrd_offsets(sizes: &[usize]) -> (Vec<u64>, u64) {
    let mut at = 0u64;
    let offsets = sizes
        .iter()
        .map(|&s| {
            let here = at.next_multiple_of(INITRD_ALIGN);
            at = here + s as u64;
            here
        })
        .collect();
    (offsets, at)
}

/// The highest address (exclusive) the initrd may end at, from the header.
pub fn initrd_ceiling(h: &Header) -> u64 {
    let max = if h.version >= 0x0203 && h.initrd_addr_max != 0 {
        u64::from(h.initrd_addr_max)
    } else {
        0x37FF_FFFF
    };
    (max + 1).min(crate::IDENTITY_MAP_LIMIT)
}

/// Fills `boot_params`: zeroed, the setup header copied from the image, then
/// `type_of_loader`, the command line, the initrd and the E820 map.
pub fn build_boot_params(
    image: &[u8],
    h: &Header,
    cmdline_addr: u64,
    initrd: Option<(u64, u64)>,
    map: &[Entry],
) -> Vec<u8> {
    let mut bp = alloc::vec![0u8; BOOT_PARAMS_SIZE];
    let end = h.header_end.min(image.len());
    bp[0x1F1..end].copy_from_slice(&image[0x1F1..end]);
    bp[0x210] = TYPE_OF_LOADER;
    bp[0x228..0x22C].copy_from_slice(&(cmdline_addr as u32).to_le_bytes());
    bp[0x0C8..0x0CC].copy_from_slice(&((cmdline_addr >> 32) as u32).to_le_bytes());
    let (image_addr, size) = initrd.unwrap_or((0, 0));
    bp[0x218..0x21C].copy_from_slice(&(image_addr as u32).to_le_bytes());
    bp[0x21C..0x220].copy_from_slice(&(size as u32).to_le_bytes());
    bp[0x0C0..0x0C4].copy_from_slice(&((image_addr >> 32) as u32).to_le_bytes());
    bp[0x0C4..0x0C8].copy_from_slice(&((size >> 32) as u32).to_le_bytes());
    let n = map.len().min(e820::MAX_ENTRIES);
    bp[0x1E8] = n as u8;
    for (i, e) in map.iter().take(n).enumerate() {
        let at = 0x2D0 + i * e820::ENTRY_SIZE;
        bp[at..at + e820::ENTRY_SIZE].copy_from_slice(&e.to_bytes());
    }
    bp
}

/// The command line as the kernel gets it (NUL-terminated), or an error if it is longer
/// than `cmdline_size`.
pub fn command_line(h: &Header, cmdline: &str) -> Result<Vec<u8>, BootError> {
    let max = if h.version >= 0x0206 {
        h.cmdline_size as usize
    } else {
        0x7FF
    };
    if cmdline.len() > max {
        return Err(err(
            9,
            format!(
                "command line is {} bytes; the kernel accepts at most {max} (cmdline_size at 0x238)",
                cmdline.len()
            ),
        ));
    }
    let mut v = Vec::with_capacity(cmdline.len() + 1);
    v.extend_from_slice(cmdline.as_bytes());
    v.push(0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e820::{E820_RAM, E820_RESERVED};
    use std::vec;

    /// A minimal bzImage header like Debian 6.1's.
    pub(crate) fn fake_bzimage() -> Vec<u8> {
        let mut d = vec![0u8; 40 * 512 + 4096];
        d[0] = b'M';
        d[1] = b'Z';
        d[0x1F1] = 39;
        d[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
        d[0x201] = 0x6A;
        d[0x202..0x206].copy_from_slice(b"HdrS");
        d[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
        d[0x211] = 1;
        d[0x22C..0x230].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        d[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
        d[0x234] = 1;
        d[0x236..0x238].copy_from_slice(&0x7Fu16.to_le_bytes());
        d[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
        d[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
        d[0x260..0x264].copy_from_slice(&0x337_8000u32.to_le_bytes());
        d
    }

    fn e(base: u64, len: u64, kind: u32) -> Entry {
        Entry { base, len, kind }
    }

    #[test]
    fn parses_a_debian_like_header() {
        let h = parse(&fake_bzimage()).expect("bzImage");
        assert_eq!(h.version, 0x020F);
        assert_eq!(h.kernel_offset(), 40 * 512);
        assert_eq!(h.header_end, 0x26C);
        assert_eq!(h.pref_address, 0x100_0000);
        assert_eq!(initrd_ceiling(&h), 0x8000_0000);
    }

    #[test]
    fn rejects_what_bios_cannot_boot_and_names_the_field() {
        let mut efi = vec![0u8; 1024];
        efi[..2].copy_from_slice(b"MZ");
        assert!(
            parse(&efi)
                .expect_err("EFI")
                .message
                .contains("UEFI firmware")
        );
        assert!(
            parse(b"\x7fELF....")
                .expect_err("ELF")
                .message
                .contains("ELF")
        );
        assert!(
            parse(b"#!ipxe\n")
                .expect_err("?")
                .message
                .contains("unknown")
        );
        let mut old = fake_bzimage();
        old[0x206..0x208].copy_from_slice(&0x020Au16.to_le_bytes());
        let m = parse(&old).expect_err("old").message;
        assert!(m.contains("2.10") && m.contains("version (0x206)"), "{m}");
        let mut no64 = fake_bzimage();
        no64[0x236] = 0x7E;
        assert!(parse(&no64).expect_err("32").message.contains("xloadflags"));
        let mut fixed = fake_bzimage();
        fixed[0x234] = 0;
        assert!(
            parse(&fixed)
                .expect_err("fixed")
                .message
                .contains("relocatable_kernel")
        );
        let mut z = fake_bzimage();
        z[0x211] = 0;
        assert!(parse(&z).expect_err("z").message.contains("LOADED_HIGH"));
        let short = &fake_bzimage()[..30 * 512];
        assert!(
            parse(short)
                .expect_err("short")
                .message
                .contains("setup_sects")
        );
    }

    #[test]
    fn kernel_goes_to_pref_address_or_the_next_free_aligned_slot() {
        let map = [e(0, 0x9FC00, E820_RAM), e(0x10_0000, 0x3FE0_0000, E820_RAM)];
        let size = 0x337_8000;
        let avoid = [(0x10_0000, 0x10_0000)];
        assert_eq!(
            place_kernel(&map, &avoid, 0x100_0000, 0x20_0000, size, 1 << 32),
            Some(0x100_0000)
        );
        // The heap holds the image at 20 MiB: the kernel moves above it.
        let avoid = [(0x10_0000, 0x10_0000), (0x140_0000, 0xE0_0000)];
        assert_eq!(
            place_kernel(&map, &avoid, 0x100_0000, 0x20_0000, size, 1 << 32),
            Some(0x220_0000)
        );
        assert_eq!(
            place_kernel(&map, &avoid, 0x100_0000, 0x20_0000, 0x4000_0000, 1 << 32),
            None
        );
    }

    #[test]
    fn initrd_goes_high_below_its_ceiling_and_away_from_everything() {
        let map = [
            e(0, 0x9FC00, E820_RAM),
            e(0x10_0000, 0x1FF0_0000, E820_RAM),
            e(0x2000_0000, 0x10_0000, E820_RESERVED),
        ];
        assert_eq!(
            place_initrd(&map, &[], 0x10_0001, 1 << 32),
            Some(0x1FEF_F000)
        );
        let avoid = [(0x1FF0_0000, 0x100)];
        assert_eq!(
            place_initrd(&map, &avoid, 0x10_0000, 1 << 32),
            Some(0x1FE0_0000)
        );
        assert_eq!(
            place_initrd(&map, &[], 0x1000, 0x80_0000),
            Some(0x7F_F000),
            "below initrd_addr_max"
        );
        assert_eq!(place_initrd(&map, &[], 0x4000_0000, 1 << 32), None);
    }

    #[test]
    fn boot_params_carry_header_cmdline_initrd_and_map() {
        let image = fake_bzimage();
        let h = parse(&image).expect("bzImage");
        let map = [e(0, 0x9FC00, 1), e(0x10_0000, 0x3FE0_0000, 1)];
        let bp = build_boot_params(&image, &h, 0x200_0000, Some((0x3000_0000, 12345)), &map);
        assert_eq!(bp.len(), 4096);
        assert_eq!(&bp[0x202..0x206], b"HdrS");
        assert_eq!(bp[0x210], 0xFF);
        assert_eq!(u32_at(&bp, 0x228), 0x200_0000);
        assert_eq!(u32_at(&bp, 0x218), 0x3000_0000);
        assert_eq!(u32_at(&bp, 0x21C), 12345);
        assert_eq!(bp[0x1E8], 2);
        assert_eq!(u64_at(&bp, 0x2D0 + 20), 0x10_0000);
        assert_eq!(u32_at(&bp, 0x2D0 + 20 + 16), 1);
        assert_eq!(bp[0x1EF], 0, "sentinel stays clear");
        assert_eq!(&bp[..0xC0], &[0u8; 0xC0][..], "screen_info etc. stay zero");
        assert_eq!(command_line(&h, "a=b").expect("fits"), b"a=b\0");
        let long = "x".repeat(2048);
        assert!(
            command_line(&h, &long)
                .expect_err("long")
                .message
                .contains("cmdline_size")
        );
    }

    #[test]
    fn initrds_concatenate_aligned() {
        assert_eq!(initrd_offsets(&[5, 8, 3]), (vec![0, 8, 16], 19));
        assert_eq!(initrd_offsets(&[]), (vec![], 0));
    }
}
