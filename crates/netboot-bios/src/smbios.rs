//! Finding the SMBIOS structure table on a BIOS machine: the entry point lies on a
//! 16-byte boundary in 0xF0000–0xFFFFF (`_SM3_`, 64-bit, preferred; or `_SM_`/`_DMI_`,
//! 32-bit), with a checksum.

use crate::mem::PhysMemory;
use alloc::vec::Vec;

/// Start and end of the area the entry point is searched in.
const SCAN: (u64, u64) = (0xf_0000, 0x10_0000);
/// Largest structure table accepted (SMBIOS 3's is a maximum; real ones are a few KiB).
const MAX_TABLE: u32 = 1 << 20;

/// An entry point structure: where the table is, its length, the version.
fn parse(eps: &[u8]) -> Option<(u64, u32, (u8, u8))> {
    let sum = |b: &[u8]| b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    if eps.starts_with(b"_SM3_") {
        let len = usize::from(*eps.get(6)?);
        if len < 0x18 || sum(eps.get(..len)?) != 0 {
            return None;
        }
        let table_len = u32::from_le_bytes(eps.get(0x0c..0x10)?.try_into().ok()?);
        let address = u64::from_le_bytes(eps.get(0x10..0x18)?.try_into().ok()?);
        return Some((address, table_len, (eps[7], eps[8])));
    }
    if eps.starts_with(b"_SM_") {
        let len = usize::from(*eps.get(5)?);
        if len < 0x1f || sum(eps.get(..len)?) != 0 || eps.get(0x10..0x15)? != b"_DMI_" {
            return None;
        }
        let table_len = u16::from_le_bytes(eps.get(0x16..0x18)?.try_into().ok()?);
        let address = u32::from_le_bytes(eps.get(0x18..0x1c)?.try_into().ok()?);
        return Some((u64::from(address), u32::from(table_len), (eps[6], eps[7])));
    }
    None
}

/// Scans the BIOS area for an entry point (a 64-bit one first) and copies the structure
/// table: (table, version). `None` if there is no valid entry point or table.
pub fn find(mem: &impl PhysMemory) -> Option<(Vec<u8>, (u8, u8))> {
    let candidates = |anchor: &'static [u8]| {
        (SCAN.0..SCAN.1)
            .step_by(16)
            .filter_map(move |at| {
                let head = mem.bytes(at, anchor.len())?;
                (head == anchor).then_some(at)
            })
            .filter_map(|at| parse(mem.bytes(at, 0x20.min((SCAN.1 - at) as usize))?))
            .next()
    };
    let (address, len, version) = candidates(b"_SM3_").or_else(|| candidates(b"_SM_"))?;
    if address == 0 || len == 0 || len > MAX_TABLE {
        return None;
    }
    let table = mem.bytes(address, len as usize)?;
    Some((table.to_vec(), version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::fake::FakeMemory;
    use alloc::vec;

    /// Fixes the checksum byte at `at` so the first `len` bytes sum to zero.
    fn with_checksum(mut eps: Vec<u8>, at: usize, len: usize) -> Vec<u8> {
        let sum = eps[..len].iter().fold(0u8, |a, &x| a.wrapping_add(x));
        eps[at] = eps[at].wrapping_sub(sum);
        eps
    }

    fn eps2(address: u32, table_len: u16) -> Vec<u8> {
        let mut e = vec![0u8; 0x1f];
        e[..4].copy_from_slice(b"_SM_");
        e[5] = 0x1f;
        e[6] = 2;
        e[7] = 8;
        e[0x10..0x15].copy_from_slice(b"_DMI_");
        e[0x16..0x18].copy_from_slice(&table_len.to_le_bytes());
        e[0x18..0x1c].copy_from_slice(&address.to_le_bytes());
        with_checksum(e, 4, 0x1f)
    }

    fn eps3(address: u64, table_len: u32) -> Vec<u8> {
        let mut e = vec![0u8; 0x18];
        e[..5].copy_from_slice(b"_SM3_");
        e[6] = 0x18;
        e[7] = 3;
        e[8] = 2;
        e[0x0c..0x10].copy_from_slice(&table_len.to_le_bytes());
        e[0x10..0x18].copy_from_slice(&address.to_le_bytes());
        with_checksum(e, 5, 0x18)
    }

    #[test]
    fn finds_the_entry_point_and_copies_the_table() {
        let table = [1u8, 4, 0, 0, 0, 0, 127, 4, 0, 0, 0, 0];
        let mut area = vec![0u8; 0x1_0000];
        let e = eps2(0x9_0000, table.len() as u16);
        area[0x100..0x100 + e.len()].copy_from_slice(&e);
        let mem = FakeMemory::default()
            .with(0xf_0000, &area)
            .with(0x9_0000, &table);
        assert_eq!(find(&mem), Some((table.to_vec(), (2, 8))));
        // A 64-bit entry point wins over the 32-bit one.
        let e3 = eps3(0x9_0000, 6);
        area[0x200..0x200 + e3.len()].copy_from_slice(&e3);
        let mem = FakeMemory::default()
            .with(0xf_0000, &area)
            .with(0x9_0000, &table);
        assert_eq!(find(&mem), Some((table[..6].to_vec(), (3, 2))));
    }

    #[test]
    fn bad_checksums_and_missing_tables_find_nothing() {
        let mut area = vec![0u8; 0x1_0000];
        let mut e = eps2(0x9_0000, 12);
        e[0x18] ^= 1; // checksum no longer matches
        area[0x100..0x100 + e.len()].copy_from_slice(&e);
        let mem = FakeMemory::default().with(0xf_0000, &area);
        assert_eq!(find(&mem), None);
        let e = eps2(0x9_0000, 12);
        area[0x100..0x100 + e.len()].copy_from_slice(&e);
        // The entry point is fine but the table is not readable.
        let mem = FakeMemory::default().with(0xf_0000, &area);
        assert_eq!(find(&mem), None);
        assert_eq!(find(&FakeMemory::default()), None);
    }
}
