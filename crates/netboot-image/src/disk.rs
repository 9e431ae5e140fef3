//! Partitioned disk images: MBR and GPT.

use crate::error::{Error, Result};
use crate::rd;

/// The ESP partition type GUID `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`, in on-disk
/// (mixed-endian) byte order.
pub const ESP_GUID: [u8; 16] = [
    0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B,
];
/// GPT entries read at most.
pub const MAX_GPT_ENTRIES: u32 = 1024;

/// One MBR partition entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbrPartition {
    /// Status (0x80 bootable).
    pub status: u8,
    /// Partition type (0xEE GPT protective, 0xEF ESP).
    pub kind: u8,
    /// First LBA.
    pub start: u32,
    /// Sector count.
    pub sectors: u32,
}

/// The MBR at the start of a disk image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mbr {
    /// The four primary entries (unused ones have type 0 and length 0).
    pub partitions: [MbrPartition; 4],
    /// Disk signature at 0x1B8.
    pub signature: u32,
    /// Byte 0 is not zero (boot code present).
    pub has_boot_code: bool,
}

impl Mbr {
    /// Parses the MBR; requires 55AA and status bytes of 0x00 or 0x80.
    pub fn parse(data: &[u8]) -> Result<Mbr> {
        if data.len() < 512 {
            return Err(Error::truncated("MBR", 512, data.len()));
        }
        if data[0x1FE] != 0x55 || data[0x1FF] != 0xAA {
            return Err(Error::BadMagic { what: "MBR" });
        }
        let mut partitions = [MbrPartition {
            status: 0,
            kind: 0,
            start: 0,
            sectors: 0,
        }; 4];
        for (i, p) in partitions.iter_mut().enumerate() {
            let o = 0x1BE + i * 16;
            p.status = data[o];
            if p.status & 0x7F != 0 {
                return Err(Error::malformed(
                    "MBR",
                    "partition status neither 0x00 nor 0x80",
                ));
            }
            p.kind = data[o + 4];
            p.start = rd::le32(data, o + 8).unwrap_or(0);
            p.sectors = rd::le32(data, o + 12).unwrap_or(0);
        }
        Ok(Mbr {
            partitions,
            signature: rd::le32(data, 0x1B8).unwrap_or(0),
            has_boot_code: data[0] != 0,
        })
    }

    /// The used entries.
    pub fn used(&self) -> impl Iterator<Item = &MbrPartition> {
        self.partitions
            .iter()
            .filter(|p| p.kind != 0 || p.sectors != 0)
    }

    /// A protective MBR (an entry of type 0xEE): the GPT is authoritative.
    pub fn is_protective(&self) -> bool {
        self.partitions.iter().any(|p| p.kind == 0xEE)
    }
}

/// One used GPT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptPartition {
    /// Type GUID (on-disk byte order).
    pub type_guid: [u8; 16],
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
}

impl GptPartition {
    /// An EFI System Partition.
    pub fn is_esp(&self) -> bool {
        self.type_guid == ESP_GUID
    }
}

/// A GPT header and its entry array.
#[derive(Clone, Copy, Debug)]
pub struct Gpt<'a> {
    entries: &'a [u8],
    entry_size: usize,
    /// Logical block size the GPT was found with (512 or 4096).
    pub block_size: usize,
    /// Number of entries declared.
    pub entry_count: u32,
}

impl<'a> Gpt<'a> {
    /// Finds `EFI PART` at LBA 1 for 512- then 4096-byte blocks; the entry array location
    /// comes from the header (never assumed to be LBA 2).
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        for bs in [512usize, 4096] {
            if data.get(bs..bs + 8) != Some(b"EFI PART") {
                continue;
            }
            let h = &data[bs..];
            let lba = rd::le64(h, 72).ok_or(Error::truncated(
                "GPT header",
                (bs + 92) as u64,
                data.len(),
            ))?;
            let count = rd::le32(h, 80).unwrap_or(0);
            let size = rd::le32(h, 84).unwrap_or(0) as usize;
            if size < 128 || !size.is_multiple_of(8) || size > 4096 {
                return Err(Error::malformed(
                    "GPT header",
                    "entry size below 128 or unaligned",
                ));
            }
            if count > MAX_GPT_ENTRIES {
                return Err(Error::TooLarge {
                    what: "GPT entry count",
                    size: u64::from(count),
                    limit: u64::from(MAX_GPT_ENTRIES),
                });
            }
            let off = lba.saturating_mul(bs as u64);
            let len = u64::from(count) * size as u64;
            let entries = rd::slice(data, off, len).ok_or(Error::truncated(
                "GPT entry array",
                off.saturating_add(len),
                data.len(),
            ))?;
            return Ok(Gpt {
                entries,
                entry_size: size,
                block_size: bs,
                entry_count: count,
            });
        }
        Err(Error::BadMagic { what: "GPT" })
    }

    /// The used entries (type GUID not all zero).
    pub fn partitions(&self) -> impl Iterator<Item = GptPartition> + 'a {
        self.entries.chunks_exact(self.entry_size).filter_map(|e| {
            let type_guid = rd::arr::<16>(e, 0)?;
            (type_guid != [0; 16]).then(|| GptPartition {
                type_guid,
                first_lba: rd::le64(e, 32).unwrap_or(0),
                last_lba: rd::le64(e, 40).unwrap_or(0),
            })
        })
    }
}
