//! A small read-only FAT12/16/32 reader: boot sector (BPB), directories with long names,
//! cluster chains and file data. Used to look inside El Torito EFI boot images (an EFI
//! System Partition image) for `\EFI\BOOT\BOOT<arch>.EFI`.
//!
//! Cluster chains are followed at most once per cluster (a loop is [`Error::Loop`]),
//! directories are capped at 65,536 entries, and reads past the data are
//! [`Error::Truncated`].

use crate::error::{Error, Result};
use crate::rd;
use alloc::string::String;
use alloc::vec::Vec;

const WHAT: &str = "FAT file system";
/// Directory entries per directory at most (the FAT limit).
const DIR_CAP: usize = 65536;
/// Attribute: read-only.
pub const ATTR_READ_ONLY: u8 = 0x01;
/// Attribute: volume label.
pub const ATTR_VOLUME_ID: u8 = 0x08;
/// Attribute: directory.
pub const ATTR_DIRECTORY: u8 = 0x10;
/// Attribute combination marking a long-name entry.
pub const ATTR_LONG_NAME: u8 = 0x0F;

/// The FAT variant, from the cluster count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatKind {
    /// FAT12 (fewer than 4085 clusters).
    Fat12,
    /// FAT16 (fewer than 65525 clusters).
    Fat16,
    /// FAT32.
    Fat32,
}

/// A directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatEntry {
    /// The long name when present, else the 8.3 name (`NAME.EXT`).
    pub name: String,
    /// The 8.3 name (`NAME.EXT`).
    pub short_name: String,
    /// Attributes.
    pub attributes: u8,
    /// First cluster (0 for an empty file, or the FAT12/16 root).
    pub first_cluster: u32,
    /// File size in bytes (0 for directories).
    pub size: u32,
}

impl FatEntry {
    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.attributes & ATTR_DIRECTORY != 0
    }

    /// Compares the long or short name with `name`, ASCII case-insensitively.
    pub fn name_matches(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.short_name.eq_ignore_ascii_case(name)
    }
}

/// A FAT file system image.
#[derive(Clone, Copy, Debug)]
pub struct Fat<'a> {
    data: &'a [u8],
    kind: FatKind,
    cluster_bytes: u64,
    fat_start: u64,
    root_start: u64,
    root_entries: u32,
    data_start: u64,
    clusters: u32,
    root_cluster: u32,
    total_bytes: u64,
}

impl<'a> Fat<'a> {
    /// Parses the boot sector.
    pub fn parse(data: &'a [u8]) -> Result<Fat<'a>> {
        if data.len() < 512 {
            return Err(Error::truncated("FAT boot sector", 512, data.len()));
        }
        if !matches!(data[0], 0xEB | 0xE9) {
            return Err(Error::BadMagic { what: WHAT });
        }
        let bps = u64::from(rd::le16(data, 0x0B).unwrap_or(0));
        let spc = u64::from(data[0x0D]);
        let reserved = u64::from(rd::le16(data, 0x0E).unwrap_or(0));
        let nfats = u64::from(data[0x10]);
        let root_entries = u32::from(rd::le16(data, 0x11).unwrap_or(0));
        let total = match rd::le16(data, 0x13).unwrap_or(0) {
            0 => u64::from(rd::le32(data, 0x20).unwrap_or(0)),
            n => u64::from(n),
        };
        let fatsz = match rd::le16(data, 0x16).unwrap_or(0) {
            0 => u64::from(rd::le32(data, 0x24).unwrap_or(0)),
            n => u64::from(n),
        };
        if !matches!(bps, 512 | 1024 | 2048 | 4096) {
            return Err(Error::malformed(WHAT, "bytes per sector is not 512..4096"));
        }
        if spc == 0 || !spc.is_power_of_two() {
            return Err(Error::malformed(
                WHAT,
                "sectors per cluster is not a power of two",
            ));
        }
        if reserved == 0 || nfats == 0 || fatsz == 0 || total == 0 {
            return Err(Error::malformed(
                WHAT,
                "zero reserved sectors, FATs, FAT size or total sectors",
            ));
        }
        let root_sectors = (u64::from(root_entries) * 32).div_ceil(bps);
        let meta = reserved + nfats * fatsz + root_sectors;
        let data_sectors = total.checked_sub(meta).ok_or(Error::malformed(
            WHAT,
            "FATs and root directory larger than the volume",
        ))?;
        let clusters = u32::try_from(data_sectors / spc)
            .map_err(|_| Error::malformed(WHAT, "too many clusters"))?;
        let kind = if clusters < 4085 {
            FatKind::Fat12
        } else if clusters < 65525 {
            FatKind::Fat16
        } else {
            FatKind::Fat32
        };
        let root_cluster = if kind == FatKind::Fat32 {
            rd::le32(data, 0x2C).unwrap_or(0)
        } else {
            0
        };
        let fat_bytes = fatsz * bps;
        let needed = match kind {
            FatKind::Fat12 => (u64::from(clusters) + 2) * 3 / 2 + 1,
            FatKind::Fat16 => (u64::from(clusters) + 2) * 2,
            FatKind::Fat32 => (u64::from(clusters) + 2) * 4,
        };
        if fat_bytes < needed {
            return Err(Error::malformed(
                WHAT,
                "FAT too small for the cluster count",
            ));
        }
        Ok(Fat {
            data,
            kind,
            cluster_bytes: spc * bps,
            fat_start: reserved * bps,
            root_start: (reserved + nfats * fatsz) * bps,
            root_entries,
            data_start: meta * bps,
            clusters,
            root_cluster,
            total_bytes: total * bps,
        })
    }

    /// FAT12, FAT16 or FAT32.
    pub fn kind(&self) -> FatKind {
        self.kind
    }

    /// The volume size the boot sector declares (bytes).
    pub fn declared_len(&self) -> u64 {
        self.total_bytes
    }

    /// The FAT entry for cluster `c`.
    fn next(&self, c: u32) -> Result<u32> {
        Ok(match self.kind {
            FatKind::Fat12 => {
                let v = self.fat16(u64::from(c) * 3 / 2)?;
                u32::from(if c & 1 == 1 { v >> 4 } else { v & 0xFFF })
            }
            FatKind::Fat16 => u32::from(self.fat16(u64::from(c) * 2)?),
            FatKind::Fat32 => {
                let p = self.fat_start + u64::from(c) * 4;
                let s = rd::slice(self.data, p, 4).ok_or(Error::truncated(
                    WHAT,
                    p + 4,
                    self.data.len(),
                ))?;
                u32::from_le_bytes([s[0], s[1], s[2], s[3]]) & 0x0FFF_FFFF
            }
        })
    }

    fn fat16(&self, off: u64) -> Result<u16> {
        let p = self.fat_start + off;
        let s = rd::slice(self.data, p, 2).ok_or(Error::truncated(WHAT, p + 2, self.data.len()))?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    fn is_end(&self, v: u32) -> bool {
        match self.kind {
            FatKind::Fat12 => v >= 0xFF8,
            FatKind::Fat16 => v >= 0xFFF8,
            FatKind::Fat32 => v >= 0x0FFF_FFF8,
        }
    }

    /// Appends the data of the chain starting at `first`, at most `max` bytes.
    fn chain(&self, first: u32, max: u64, out: &mut Vec<u8>) -> Result<()> {
        let mut c = first;
        let start_len = out.len() as u64;
        // One bit per cluster: a chain that comes back to a cluster is a loop.
        let mut seen: Vec<u64> = Vec::new();
        while (out.len() as u64 - start_len) < max {
            if c < 2 || c >= self.clusters.saturating_add(2) {
                return Err(Error::malformed(WHAT, "cluster number outside the volume"));
            }
            let (w, b) = ((c / 64) as usize, c % 64);
            if seen.len() <= w {
                seen.resize(w + 1, 0);
            }
            if seen[w] & (1 << b) != 0 {
                return Err(Error::Loop {
                    what: "FAT cluster chain",
                });
            }
            seen[w] |= 1 << b;
            let off = self.data_start + u64::from(c - 2) * self.cluster_bytes;
            let want = self.cluster_bytes.min(max - (out.len() as u64 - start_len));
            let s = rd::slice(self.data, off, want).ok_or(Error::truncated(
                WHAT,
                off + want,
                self.data.len(),
            ))?;
            out.extend_from_slice(s);
            let n = self.next(c)?;
            if self.is_end(n) {
                break;
            }
            c = n;
        }
        Ok(())
    }

    /// The root directory's entries.
    pub fn root(&self) -> Result<Vec<FatEntry>> {
        let raw = if self.kind == FatKind::Fat32 {
            let mut v = Vec::new();
            self.chain(self.root_cluster, (DIR_CAP * 32) as u64, &mut v)?;
            v
        } else {
            let len = u64::from(self.root_entries) * 32;
            rd::slice(self.data, self.root_start, len)
                .ok_or(Error::truncated(
                    WHAT,
                    self.root_start + len,
                    self.data.len(),
                ))?
                .to_vec()
        };
        Ok(entries(&raw))
    }

    /// The entries of directory `dir` (without `.` and `..`).
    pub fn read_dir(&self, dir: &FatEntry) -> Result<Vec<FatEntry>> {
        if !dir.is_dir() {
            return Err(Error::InvalidArgument {
                why: "FAT entry is not a directory",
            });
        }
        if dir.first_cluster == 0 {
            return self.root();
        }
        let mut v = Vec::new();
        self.chain(dir.first_cluster, (DIR_CAP * 32) as u64, &mut v)?;
        Ok(entries(&v))
    }

    /// Finds `path` (`\` or `/` separated, case-insensitive). `None` when absent.
    pub fn find(&self, path: &str) -> Result<Option<FatEntry>> {
        let mut list = self.root()?;
        let mut found: Option<FatEntry> = None;
        let mut comps = path.split(['\\', '/']).filter(|c| !c.is_empty()).peekable();
        while let Some(c) = comps.next() {
            let Some(e) = list.into_iter().find(|e| e.name_matches(c)) else {
                return Ok(None);
            };
            if comps.peek().is_some() {
                if !e.is_dir() {
                    return Ok(None);
                }
                list = self.read_dir(&e)?;
            } else {
                list = Vec::new();
            }
            found = Some(e);
        }
        Ok(found)
    }

    /// Reads a file's data, at most `max` bytes.
    pub fn read(&self, e: &FatEntry, max: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        let len = u64::from(e.size).min(max);
        if len > 0 {
            self.chain(e.first_cluster, len, &mut v)?;
            if (v.len() as u64) < len {
                return Err(Error::malformed(
                    WHAT,
                    "cluster chain shorter than the file size",
                ));
            }
        }
        Ok(v)
    }
}

/// Decodes the 32-byte entries of a directory, assembling long names.
fn entries(raw: &[u8]) -> Vec<FatEntry> {
    let mut v = Vec::new();
    let mut lfn: Vec<u16> = Vec::new();
    let mut lfn_sum: Option<u8> = None;
    for e in raw.chunks_exact(32).take(DIR_CAP) {
        match e[0] {
            0 => break,
            0xE5 => {
                lfn.clear();
                lfn_sum = None;
                continue;
            }
            _ => {}
        }
        let attr = e[11];
        if attr & 0x3F == ATTR_LONG_NAME {
            let ord = (e[0] & 0x1F) as usize;
            if e[0] & 0x40 != 0 {
                lfn.clear();
                lfn.resize(ord.min(20) * 13, 0xFFFF);
                lfn_sum = Some(e[13]);
            }
            if ord == 0 || ord * 13 > lfn.len() || lfn_sum != Some(e[13]) {
                lfn.clear();
                lfn_sum = None;
                continue;
            }
            let base = (ord - 1) * 13;
            let pos = [1usize, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
            for (k, p) in pos.iter().enumerate() {
                lfn[base + k] = u16::from_le_bytes([e[*p], e[p + 1]]);
            }
            continue;
        }
        if attr & ATTR_VOLUME_ID != 0 {
            lfn.clear();
            lfn_sum = None;
            continue;
        }
        let short = short_name(&e[..11], e[12]);
        let sum = e[..11].iter().fold(0u8, |s, &b| {
            ((s & 1) << 7).wrapping_add(s >> 1).wrapping_add(b)
        });
        let long = if !lfn.is_empty() && lfn_sum == Some(sum) {
            let n = lfn
                .iter()
                .position(|&c| c == 0 || c == 0xFFFF)
                .unwrap_or(lfn.len());
            Some(
                char::decode_utf16(lfn[..n].iter().copied())
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect::<String>(),
            )
        } else {
            None
        };
        lfn.clear();
        lfn_sum = None;
        if short == "." || short == ".." {
            continue;
        }
        let hi = u32::from(rd::le16(e, 0x14).unwrap_or(0));
        let lo = u32::from(rd::le16(e, 0x1A).unwrap_or(0));
        v.push(FatEntry {
            name: long.unwrap_or_else(|| short.clone()),
            short_name: short,
            attributes: attr,
            first_cluster: (hi << 16) | lo,
            size: if attr & ATTR_DIRECTORY != 0 {
                0
            } else {
                rd::le32(e, 0x1C).unwrap_or(0)
            },
        });
    }
    v
}

/// `NAME.EXT` from the 11-byte field (NT lower-case flags honoured).
fn short_name(n: &[u8], nt: u8) -> String {
    let mut base: Vec<u8> = rd::trim_end(&n[..8]).to_vec();
    if base.first() == Some(&0x05) {
        base[0] = 0xE5;
    }
    let mut ext: Vec<u8> = rd::trim_end(&n[8..11]).to_vec();
    if nt & 0x08 != 0 {
        base.make_ascii_lowercase();
    }
    if nt & 0x10 != 0 {
        ext.make_ascii_lowercase();
    }
    let mut s: String = base.iter().map(|&b| b as char).collect();
    if !ext.is_empty() {
        s.push('.');
        s.extend(ext.iter().map(|&b| b as char));
    }
    s
}
