//! The INT 15h E820 memory map: collection, clean-up, the heap region, and the map
//! handed to Linux.
//!
//! Everything except `collect` is plain data handling and host-tested.

use alloc::vec::Vec;

/// E820 type 1: usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 type 2: reserved.
pub const E820_RESERVED: u32 = 2;
/// The most entries collected, and the most Linux takes in `boot_params` (0x2D0).
pub const MAX_ENTRIES: usize = 128;
/// Size of one entry in `boot_params`' table.
pub const ENTRY_SIZE: usize = 20;
/// The heap never starts below this address (leaves 1–16 MiB for the firmware image).
pub const HEAP_FLOOR: u64 = 16 << 20;
/// Room left free above [`HEAP_FLOOR`] for a kernel at its preferred address, when RAM
/// allows.
pub const KERNEL_ROOM: u64 = 96 << 20;
/// The heap never reaches above this: the identity map ends at 4 GiB.
pub const HEAP_CEILING: u64 = 1 << 32;

/// One memory-map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Start address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// E820 type ([`E820_RAM`], [`E820_RESERVED`], ACPI 3, NVS 4, unusable 5, …).
    pub kind: u32,
}

impl Entry {
    /// End address (exclusive), saturating.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.len)
    }

    /// Decodes a 20-byte (or longer) E820 buffer. An ACPI 3.0 extended-attributes word
    /// with bit 0 clear means "ignore this entry" (`None`).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let base = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
        let len = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        let kind = u32::from_le_bytes(b.get(16..20)?.try_into().ok()?);
        if let Some(attr) = b.get(20..24) {
            let attr = u32::from_le_bytes(attr.try_into().ok()?);
            if attr & 1 == 0 {
                return None;
            }
        }
        Some(Self { base, len, kind })
    }

    /// The 20-byte `boot_params` form.
    pub fn to_bytes(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0; ENTRY_SIZE];
        b[0..8].copy_from_slice(&self.base.to_le_bytes());
        b[8..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&self.kind.to_le_bytes());
        b
    }
}

/// Normalises a raw map: drops empty entries, sorts by address, resolves overlaps
/// (the higher type number wins, so reserved beats RAM) and merges neighbours of the
/// same type.
pub fn sanitize(raw: &[Entry]) -> Vec<Entry> {
    // Boundaries split the address space into pieces of one type each.
    let mut points: Vec<u64> = raw
        .iter()
        .filter(|e| e.len > 0)
        .flat_map(|e| [e.base, e.end()])
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut out: Vec<Entry> = Vec::new();
    for pair in points.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        let kind = raw
            .iter()
            .filter(|e| e.len > 0 && e.base <= lo && e.end() >= hi)
            .map(|e| e.kind)
            .max();
        let Some(kind) = kind else { continue };
        match out.last_mut() {
            Some(last) if last.end() == lo && last.kind == kind => last.len += hi - lo,
            _ => out.push(Entry {
                base: lo,
                len: hi - lo,
                kind,
            }),
        }
    }
    out
}

/// Marks `[start, end)` with `kind` in a sanitised map (e.g. to hide the firmware's own
/// memory from the OS) and returns the new sanitised map.
pub fn mark(map: &[Entry], start: u64, end: u64, kind: u32) -> Vec<Entry> {
    let mut raw = map.to_vec();
    if end > start {
        raw.push(Entry {
            base: start,
            len: end - start,
            kind,
        });
    }
    sanitize(&raw)
}

/// The largest usable-RAM range `[start, end)` inside `[floor, ceiling)` of a sanitised
/// map, with `start` rounded up and `end` down to 4 KiB.
pub fn largest_ram(map: &[Entry], floor: u64, ceiling: u64) -> Option<(u64, u64)> {
    map.iter()
        .filter(|e| e.kind == E820_RAM)
        .filter_map(|e| {
            let start = e.base.max(floor).checked_next_multiple_of(4096)?;
            let end = e.end().min(ceiling) & !0xFFF;
            (end > start).then_some((start, end))
        })
        .max_by_key(|(s, e)| e - s)
}

/// Where the global heap goes: the largest RAM range above `max(HEAP_FLOOR, image_end)`
/// and below 4 GiB. If that range is big (at least 256 MiB more than [`KERNEL_ROOM`]),
/// the heap starts [`KERNEL_ROOM`] higher so that a Linux kernel fits at its preferred
/// address (16 MiB) with room for its `init_size` (about 52 MiB for Debian 6.x).
pub fn heap_region(map: &[Entry], image_end: u64) -> Option<(u64, u64)> {
    let floor = HEAP_FLOOR.max(image_end);
    let (start, end) = largest_ram(map, floor, HEAP_CEILING)?;
    if start <= HEAP_FLOOR && end - start >= KERNEL_ROOM + (256 << 20) {
        return Some((start + KERNEL_ROOM, end));
    }
    Some((start, end))
}

/// Whether `[start, start + len)` lies inside usable RAM of a sanitised map.
pub fn is_ram(map: &[Entry], start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    map.iter()
        .any(|e| e.kind == E820_RAM && e.base <= start && e.end() >= end)
}

/// Collects the map through INT 15h E820 (at most [`MAX_ENTRIES`] entries), sanitised.
/// Returns an empty map if the BIOS does not support E820.
///
/// # Safety
///
/// As for [`crate::realmode::call`].
#[cfg(target_os = "none")]
pub unsafe fn collect() -> Vec<Entry> {
    use crate::realmode::{self, RmRegs};
    const SMAP: u32 = 0x534D_4150;
    let buf = realmode::param_addr();
    let (seg, off) = realmode::seg_off(buf).unwrap_or((0, 0));
    let mut raw = Vec::new();
    let mut cont = 0u32;
    for _ in 0..MAX_ENTRIES {
        let mut bytes = [0u8; 24];
        bytes[20] = 1; // extended attributes: valid, for BIOSes that leave them alone
        // SAFETY: no call in progress.
        unsafe { realmode::write_param(&bytes) };
        let mut regs = RmRegs {
            eax: 0xE820,
            ebx: cont,
            ecx: 24,
            edx: SMAP,
            edi: u32::from(off),
            es: seg,
            ..RmRegs::default()
        };
        // SAFETY: INT 15h E820 writes at most ECX = 24 bytes to ES:DI, our block.
        unsafe { realmode::int(0x15, &mut regs) };
        if regs.carry() || regs.eax != SMAP {
            break;
        }
        // SAFETY: no call in progress.
        unsafe { realmode::read_param(&mut bytes) };
        let n = (regs.ecx as usize).clamp(20, 24);
        if let Some(e) = Entry::from_bytes(&bytes[..n]) {
            raw.push(e);
        }
        cont = regs.ebx;
        if cont == 0 {
            break;
        }
    }
    sanitize(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn e(base: u64, len: u64, kind: u32) -> Entry {
        Entry { base, len, kind }
    }

    /// What SeaBIOS reports for 1 GiB, with iPXE hiding a block at the top.
    fn qemu_1g() -> Vec<Entry> {
        vec![
            e(0, 0x9FC00, 1),
            e(0x9FC00, 0x400, 2),
            e(0xF0000, 0x10000, 2),
            e(0x10_0000, 0x3FEE_0000 - 0x10_0000 - 0x40_0000, 1),
            e(0x3FEE_0000 - 0x40_0000, 0x40_0000, 2),
            e(0x3FEE_0000, 0x2_0000, 2),
            e(0xFFFC_0000, 0x4_0000, 2),
        ]
    }

    #[test]
    fn decodes_and_encodes_entries() {
        let mut b = [0u8; 24];
        b[0..8].copy_from_slice(&0x10_0000u64.to_le_bytes());
        b[8..16].copy_from_slice(&0x100u64.to_le_bytes());
        b[16..20].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(Entry::from_bytes(&b[..20]), Some(e(0x10_0000, 0x100, 1)));
        assert_eq!(Entry::from_bytes(&b), None, "attribute bit 0 clear: ignore");
        b[20] = 1;
        let entry = Entry::from_bytes(&b).expect("valid");
        assert_eq!(entry.to_bytes()[..], b[..20]);
        assert_eq!(Entry::from_bytes(&b[..19]), None);
    }

    #[test]
    fn sanitize_sorts_merges_and_resolves_overlaps() {
        let raw = [
            e(0x10_0000, 0x10_0000, 1),
            e(0, 0x9F000, 1),
            e(0x20_0000, 0x10_0000, 1), // adjacent RAM merges
            e(0x28_0000, 0x1000, 2),    // reserved inside RAM wins
            e(0x50_0000, 0, 1),         // empty: dropped
        ];
        assert_eq!(
            sanitize(&raw),
            vec![
                e(0, 0x9F000, 1),
                e(0x10_0000, 0x18_0000, 1),
                e(0x28_0000, 0x1000, 2),
                e(0x28_1000, 0x7_F000, 1),
            ]
        );
    }

    #[test]
    fn heap_avoids_low_memory_and_leaves_room_for_the_kernel() {
        let map = sanitize(&qemu_1g());
        let (start, end) = heap_region(&map, 0x20_0000).expect("RAM");
        assert_eq!(start, HEAP_FLOOR + KERNEL_ROOM);
        assert_eq!(end, 0x3FEE_0000 - 0x40_0000);
        // A small machine: the heap starts at the floor.
        let small = sanitize(&[e(0, 0x9FC00, 1), e(0x10_0000, 0x400_0000, 1)]);
        assert_eq!(
            heap_region(&small, 0x20_0000),
            Some((HEAP_FLOOR, 0x410_0000))
        );
        // An image above the floor pushes the heap up.
        assert_eq!(
            heap_region(&small, 0x200_0123),
            Some((0x200_1000, 0x410_0000))
        );
        assert_eq!(heap_region(&[e(0, 0x9FC00, 1)], 0x20_0000), None);
    }

    #[test]
    fn marking_hides_a_range() {
        let map = sanitize(&qemu_1g());
        let hidden = mark(&map, 0x10_0000, 0x18_0000, E820_RESERVED);
        assert!(!is_ram(&hidden, 0x10_0000, 0x1000));
        assert!(is_ram(&hidden, 0x18_0000, 0x1000));
        assert!(is_ram(&map, 0x10_0000, 0x1000));
        assert!(!is_ram(&map, 0x9F000, 0x1000));
        assert!(!is_ram(&map, u64::MAX, 2));
        assert_eq!(mark(&map, 5, 5, 2), map);
    }
}
