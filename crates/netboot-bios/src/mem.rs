//! Access to physical memory.
//!
//! Table walkers ([`crate::acpi`], [`crate::pxe`], [`crate::linux`]) read memory only
//! through [`PhysMemory`], so they can be tested on the host against a fake memory image,
//! and so every read is bounds-checked in one place.

/// Read access to physical memory.
pub trait PhysMemory {
    /// Returns the `len` bytes at physical address `addr`, or `None` if any part of the
    /// range is not readable (out of the mapped window, or the null address).
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]>;

    /// Reads a little-endian `u16` at `addr`.
    fn read_u16(&self, addr: u64) -> Option<u16> {
        let b = self.bytes(addr, 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    /// Reads a little-endian `u32` at `addr`.
    fn read_u32(&self, addr: u64) -> Option<u32> {
        let b = self.bytes(addr, 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Physical memory seen through the identity map set up by the entry code.
#[derive(Debug)]
pub struct IdentityMapped {
    limit: u64,
}

impl IdentityMapped {
    /// Creates a window onto physical addresses `1..limit`.
    ///
    /// Address 0 is never handed out: it is the null pointer in Rust.
    ///
    /// # Safety
    ///
    /// `[0, limit)` must be identity mapped and reading any address in it that a caller
    /// asks for must be harmless (RAM, ROM, or firmware tables; callers only follow
    /// addresses found in validated structures). Nothing may write the memory while a
    /// returned slice is alive.
    pub const unsafe fn new(limit: u64) -> Self {
        Self { limit }
    }
}

impl PhysMemory for IdentityMapped {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(u64::try_from(len).ok()?)?;
        if addr == 0 || end > self.limit || usize::try_from(end).is_err() {
            return None;
        }
        // SAFETY: the range is inside the identity-mapped window promised by `new`, it is
        // not null, and it does not wrap.
        Some(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) })
    }
}

/// A fake physical memory for host tests: a few regions at chosen addresses.
#[cfg(test)]
pub(crate) mod fake {
    use super::PhysMemory;
    use std::vec::Vec;

    #[derive(Default)]
    pub(crate) struct FakeMemory {
        regions: Vec<(u64, Vec<u8>)>,
    }

    impl FakeMemory {
        pub(crate) fn with(mut self, addr: u64, bytes: &[u8]) -> Self {
            self.regions.push((addr, bytes.to_vec()));
            self
        }
    }

    impl PhysMemory for FakeMemory {
        fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
            if addr == 0 {
                return None;
            }
            self.regions.iter().find_map(|(base, data)| {
                let start = usize::try_from(addr.checked_sub(*base)?).ok()?;
                data.get(start..start.checked_add(len)?)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_window_rejects_null_and_out_of_range() {
        // SAFETY: only `bytes` bounds checks are exercised; nothing is dereferenced
        // because every request below is rejected.
        let mem = unsafe { IdentityMapped::new(0x1000) };
        assert!(mem.bytes(0, 4).is_none());
        assert!(mem.bytes(0xFFE, 4).is_none());
        assert!(mem.bytes(u64::MAX - 1, 4).is_none());
    }

    #[test]
    fn fake_memory_reads_inside_regions_only() {
        let mem = fake::FakeMemory::default().with(0x100, &[1, 2, 3, 4]);
        assert_eq!(mem.read_u16(0x102), Some(0x0403));
        assert_eq!(mem.read_u32(0x100), Some(0x0403_0201));
        assert!(mem.read_u32(0x102).is_none());
        assert!(mem.bytes(0xFF, 1).is_none());
    }
}
