//! ISO 9660 volumes: the primary volume descriptor, a bounded directory walk and the El
//! Torito boot catalog.

use crate::error::{Error, Result};
use crate::rd;

const WHAT: &str = "ISO 9660 image";
/// ISO sector size.
pub const SECTOR: usize = 2048;
/// Volume descriptors scanned at most (from LBA 16) when no terminator is found.
pub const MAX_DESCRIPTORS: usize = 64;
/// Directory nesting limit for [`Iso::walk`] and [`Iso::lookup`].
pub const MAX_DEPTH: usize = 32;
/// Directory records visited at most by one [`Iso::walk`].
pub const MAX_WALK_RECORDS: usize = 1 << 20;

/// A directory record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirRecord<'a> {
    /// Extent LBA (2048-byte sectors).
    pub extent: u32,
    /// Data length in bytes.
    pub size: u32,
    /// Flags (0x02 directory, 0x80 multi-extent).
    pub flags: u8,
    /// The identifier as stored (`;1` suffix kept; `\0` = ".", `\x01` = "..").
    pub name: &'a [u8],
}

impl<'a> DirRecord<'a> {
    fn parse(rec: &'a [u8]) -> Result<Self> {
        let len = usize::from(*rec.first().unwrap_or(&0));
        if len < 34 || len > rec.len() {
            return Err(Error::malformed(
                "ISO directory record",
                "length below 34 or past the sector",
            ));
        }
        let nlen = usize::from(rec[32]);
        if 33 + nlen > len {
            return Err(Error::malformed(
                "ISO directory record",
                "name longer than the record",
            ));
        }
        Ok(DirRecord {
            extent: rd::le32(rec, 2).unwrap_or(0),
            size: rd::le32(rec, 10).unwrap_or(0),
            flags: rec[25],
            name: &rec[33..33 + nlen],
        })
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.flags & 2 != 0
    }

    /// The `.` or `..` entry.
    pub fn is_dot(&self) -> bool {
        matches!(self.name, [0] | [1])
    }

    /// The name without the `;1` version suffix and a trailing `.`.
    pub fn plain_name(&self) -> &'a [u8] {
        let n = match self.name.iter().position(|&c| c == b';') {
            Some(i) => &self.name[..i],
            None => self.name,
        };
        n.strip_suffix(b".").unwrap_or(n)
    }
}

/// Iterator over the records of one directory extent. Records never cross sectors; a
/// zero length byte skips to the next sector.
#[derive(Clone, Debug)]
pub struct DirIter<'a> {
    dir: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for DirIter<'a> {
    type Item = Result<DirRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed && self.pos < self.dir.len() {
            let len = usize::from(self.dir[self.pos]);
            if len == 0 {
                self.pos = (self.pos / SECTOR + 1) * SECTOR;
                continue;
            }
            let sector_end = ((self.pos / SECTOR + 1) * SECTOR).min(self.dir.len());
            match DirRecord::parse(&self.dir[self.pos..sector_end]) {
                Ok(r) => {
                    self.pos += len;
                    return Some(Ok(r));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// A checked view of an ISO 9660 image.
#[derive(Clone, Copy, Debug)]
pub struct Iso<'a> {
    data: &'a [u8],
    pvd: usize,
    boot_catalog: Option<u32>,
}

impl<'a> Iso<'a> {
    /// Scans the volume descriptors from LBA 16 (bounded) for the primary one and an El
    /// Torito boot record.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        if data.len() < 16 * SECTOR + 7 {
            return Err(Error::truncated(WHAT, (17 * SECTOR) as u64, data.len()));
        }
        if data.get(0x8001..0x8006) != Some(b"CD001") {
            return Err(Error::BadMagic { what: WHAT });
        }
        let mut pvd = None;
        let mut boot_catalog = None;
        for i in 0..MAX_DESCRIPTORS {
            let off = (16 + i) * SECTOR;
            let Some(d) = data.get(off..off + SECTOR) else {
                break;
            };
            if &d[1..6] != b"CD001" {
                break;
            }
            match d[0] {
                0 if d[7..30] == *b"EL TORITO SPECIFICATION" => {
                    boot_catalog = rd::le32(d, 0x47);
                }
                1 if pvd.is_none() => pvd = Some(off),
                255 => break,
                _ => {}
            }
        }
        let pvd = pvd.ok_or(Error::malformed(WHAT, "no primary volume descriptor"))?;
        Ok(Iso {
            data,
            pvd,
            boot_catalog,
        })
    }

    /// The whole image.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Volume identifier, trimmed.
    pub fn volume_id(&self) -> &'a [u8] {
        rd::trim_end(&self.data[self.pvd + 40..self.pvd + 72])
    }

    /// System identifier, trimmed.
    pub fn system_id(&self) -> &'a [u8] {
        rd::trim_end(&self.data[self.pvd + 8..self.pvd + 40])
    }

    /// Volume space size in logical blocks (the ISO filesystem only: appended partitions
    /// lie beyond it).
    pub fn volume_blocks(&self) -> u32 {
        rd::le32(self.data, self.pvd + 80).unwrap_or(0)
    }

    /// Logical block size (2048 in practice).
    pub fn block_size(&self) -> u16 {
        rd::le16(self.data, self.pvd + 128).unwrap_or(0)
    }

    /// The byte length the volume descriptor declares.
    pub fn declared_len(&self) -> u64 {
        u64::from(self.volume_blocks()) * u64::from(self.block_size())
    }

    /// Boot catalog LBA from the El Torito boot record, if any.
    pub fn boot_catalog_lba(&self) -> Option<u32> {
        self.boot_catalog
    }

    /// The root directory record.
    pub fn root(&self) -> Result<DirRecord<'a>> {
        DirRecord::parse(&self.data[self.pvd + 156..self.pvd + 190])
    }

    /// The data of a file (or directory) record, bounded by the image.
    pub fn extent(&self, rec: &DirRecord<'_>) -> Result<&'a [u8]> {
        let off = u64::from(rec.extent) * SECTOR as u64;
        rd::slice(self.data, off, u64::from(rec.size)).ok_or(Error::truncated(
            "ISO extent",
            off + u64::from(rec.size),
            self.data.len(),
        ))
    }

    /// The records of a directory.
    pub fn read_dir(&self, dir: &DirRecord<'_>) -> Result<DirIter<'a>> {
        if !dir.is_dir() {
            return Err(Error::InvalidArgument {
                why: "not an ISO directory",
            });
        }
        Ok(DirIter {
            dir: self.extent(dir)?,
            pos: 0,
            failed: false,
        })
    }

    /// Looks up a `/`-separated path (case-insensitive, ignoring `;1` versions). Directory
    /// chains deeper than [`MAX_DEPTH`] or that revisit an ancestor's extent are errors.
    pub fn lookup(&self, path: &str) -> Result<Option<DirRecord<'a>>> {
        let mut cur = self.root()?;
        let mut ancestors = [0u32; MAX_DEPTH];
        let mut depth = 0;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            if depth == MAX_DEPTH {
                return Err(Error::Loop {
                    what: "ISO directory tree",
                });
            }
            if ancestors[..depth].contains(&cur.extent) {
                return Err(Error::Loop {
                    what: "ISO directory tree",
                });
            }
            ancestors[depth] = cur.extent;
            depth += 1;
            let mut found = None;
            for r in self.read_dir(&cur)? {
                let r = r?;
                if !r.is_dot() && r.plain_name().eq_ignore_ascii_case(comp.as_bytes()) {
                    found = Some(r);
                    break;
                }
            }
            match found {
                Some(r) => cur = r,
                None => return Ok(None),
            }
            if !cur.is_dir() && depth < path.split('/').filter(|c| !c.is_empty()).count() {
                return Ok(None);
            }
        }
        Ok(Some(cur))
    }

    /// Visits every record depth first (not `.`/`..`), calling `f(depth, record)`; `f`
    /// returns `false` to stop. Loops (a directory whose extent is an ancestor's), nesting
    /// deeper than [`MAX_DEPTH`] and more than [`MAX_WALK_RECORDS`] records are errors.
    pub fn walk(&self, f: &mut dyn FnMut(usize, &DirRecord<'a>) -> bool) -> Result<()> {
        let mut visited = 0usize;
        let root = self.root()?;
        let mut stack = [0u32; MAX_DEPTH];
        self.walk_dir(&root, 0, &mut stack, &mut visited, f)
            .map(|_| ())
    }

    fn walk_dir(
        &self,
        dir: &DirRecord<'a>,
        depth: usize,
        stack: &mut [u32; MAX_DEPTH],
        visited: &mut usize,
        f: &mut dyn FnMut(usize, &DirRecord<'a>) -> bool,
    ) -> Result<bool> {
        if depth >= MAX_DEPTH || stack[..depth].contains(&dir.extent) {
            return Err(Error::Loop {
                what: "ISO directory tree",
            });
        }
        stack[depth] = dir.extent;
        for r in self.read_dir(dir)? {
            let r = r?;
            if r.is_dot() {
                continue;
            }
            *visited += 1;
            if *visited > MAX_WALK_RECORDS {
                return Err(Error::TooLarge {
                    what: "ISO directory walk",
                    size: *visited as u64,
                    limit: MAX_WALK_RECORDS as u64,
                });
            }
            if !f(depth, &r) {
                return Ok(false);
            }
            if r.is_dir() && !self.walk_dir(&r, depth + 1, stack, visited, f)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The El Torito boot catalog, if the image has a boot record.
    pub fn boot_catalog(&self) -> Option<Result<BootCatalog<'a>>> {
        let lba = self.boot_catalog?;
        Some(BootCatalog::parse(self.data, lba))
    }
}

/// El Torito platform ID: x86 BIOS.
pub const PLATFORM_X86: u8 = 0x00;
/// El Torito platform ID: EFI.
pub const PLATFORM_EFI: u8 = 0xEF;

/// One boot entry of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootEntry {
    /// Platform of the validation entry or of the enclosing section header.
    pub platform: u8,
    /// Boot indicator 0x88.
    pub bootable: bool,
    /// Media type (0 no emulation, 1–3 floppies, 4 hard disk).
    pub media: u8,
    /// Load segment (0 → 0x7C0).
    pub load_segment: u16,
    /// System type (partition type for hard-disk emulation).
    pub system_type: u8,
    /// Sector count in 512-byte virtual sectors (0/1 = unknown; use the FAT BPB).
    pub sector_count: u16,
    /// Load RBA in 2048-byte sectors.
    pub load_rba: u32,
}

impl BootEntry {
    /// The boot image bytes: `sector_count × 512` from the RBA, or for counts 0 and 1 the
    /// rest of the medium (as EDK2 does), bounded by the image.
    pub fn image<'a>(&self, iso: &'a [u8]) -> Option<&'a [u8]> {
        let off = u64::from(self.load_rba) * SECTOR as u64;
        let len = match self.sector_count {
            0 | 1 => (iso.len() as u64).checked_sub(off)?,
            n => u64::from(n) * 512,
        };
        rd::slice(iso, off, len)
    }
}

/// A validated El Torito boot catalog (the first catalog sector).
#[derive(Clone, Copy, Debug)]
pub struct BootCatalog<'a> {
    cat: &'a [u8],
    platform: u8,
}

impl<'a> BootCatalog<'a> {
    /// Reads the catalog sector at `lba` and checks the validation entry.
    pub fn parse(iso: &'a [u8], lba: u32) -> Result<Self> {
        const W: &str = "El Torito boot catalog";
        if lba == 0 {
            return Err(Error::malformed(W, "catalog at LBA 0"));
        }
        let off = u64::from(lba) * SECTOR as u64;
        let cat = rd::slice(iso, off, SECTOR as u64).ok_or(Error::truncated(
            W,
            off + SECTOR as u64,
            iso.len(),
        ))?;
        if cat[0] != 1 || cat[30] != 0x55 || cat[31] != 0xAA {
            return Err(Error::malformed(W, "bad validation entry"));
        }
        let sum = (0..16).fold(0u16, |a, i| {
            a.wrapping_add(rd::le16(cat, i * 2).unwrap_or(0))
        });
        if sum != 0 {
            return Err(Error::Checksum {
                what: "El Torito validation checksum",
                expected: 0,
                actual: u32::from(sum),
            });
        }
        Ok(BootCatalog {
            cat,
            platform: cat[1],
        })
    }

    /// The platform byte of the validation entry.
    pub fn validation_platform(&self) -> u8 {
        self.platform
    }

    /// The default entry and every section entry, in catalog order. Bounded by the
    /// catalog sector (64 entries); extension entries (0x44) are skipped.
    pub fn entries(&self) -> impl Iterator<Item = BootEntry> + 'a {
        let cat = self.cat;
        let mut platform = self.platform;
        let mut remaining_in_section = 0u16;
        let mut last_section = false;
        let mut i = 1usize;
        core::iter::from_fn(move || {
            while i < SECTOR / 32 {
                let e = &cat[i * 32..i * 32 + 32];
                let idx = i;
                i += 1;
                if idx == 1 {
                    return Some(entry(e, platform));
                }
                if remaining_in_section > 0 {
                    if e[0] == 0x44 {
                        continue;
                    }
                    remaining_in_section -= 1;
                    return Some(entry(e, platform));
                }
                if last_section {
                    return None;
                }
                match e[0] {
                    0x90 | 0x91 => {
                        last_section = e[0] == 0x91;
                        platform = e[1];
                        remaining_in_section = rd::le16(e, 2).unwrap_or(0);
                    }
                    _ => return None,
                }
            }
            None
        })
    }
}

fn entry(e: &[u8], platform: u8) -> BootEntry {
    BootEntry {
        platform,
        bootable: e[0] == 0x88,
        media: e[1] & 0x0F,
        load_segment: rd::le16(e, 2).unwrap_or(0),
        system_type: e[4],
        sector_count: rd::le16(e, 6).unwrap_or(0),
        load_rba: rd::le32(e, 8).unwrap_or(0),
    }
}
