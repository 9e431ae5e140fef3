//! x86 CPU microcode blobs (as found in early-initramfs CPIO archives).

use crate::rd;

/// A recognised microcode container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Microcode {
    /// An Intel update (header version 1, loader version 1).
    Intel {
        /// Update revision.
        revision: u32,
        /// Date as BCD `mmddyyyy`.
        date: u32,
        /// Processor signature.
        signature: u32,
        /// Total size of the first update.
        total_size: u32,
        /// The dword sum of the first update is 0.
        checksum_ok: bool,
    },
    /// An AMD container (`DMA\0`).
    Amd,
}

/// Recognises an Intel update header or an AMD container at the start of `d`.
pub fn detect(d: &[u8]) -> Option<Microcode> {
    if d.starts_with(b"DMA\0") && rd::le32(d, 4) == Some(0) {
        return Some(Microcode::Amd);
    }
    if rd::le32(d, 0)? != 1 || rd::le32(d, 20)? != 1 {
        return None;
    }
    let date = rd::le32(d, 8)?;
    // BCD mmddyyyy: every nibble a digit, month 1–12, year 19xx/20xx.
    if (0..8).any(|i| (date >> (i * 4)) & 0xF > 9) {
        return None;
    }
    let month = date >> 24;
    let year_hi = (date >> 8) & 0xFF;
    if !(0x01..=0x12).contains(&month) || !(year_hi == 0x19 || (0x20..=0x29).contains(&year_hi)) {
        return None;
    }
    let data_size = match rd::le32(d, 28)? {
        0 => 2000,
        n => n,
    };
    let total_size = match rd::le32(d, 32)? {
        0 => 2048,
        n => n,
    };
    if total_size < data_size.saturating_add(48) || total_size % 4 != 0 {
        return None;
    }
    let checksum_ok = rd::slice(d, 0, u64::from(total_size)).is_some_and(|u| {
        u.chunks_exact(4).fold(0u32, |a, c| {
            a.wrapping_add(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        }) == 0
    });
    Some(Microcode::Intel {
        revision: rd::le32(d, 4)?,
        date,
        signature: rd::le32(d, 12)?,
        total_size,
        checksum_ok,
    })
}
