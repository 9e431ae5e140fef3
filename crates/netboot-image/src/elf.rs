//! ELF headers and Multiboot 1/2 headers.

use crate::Arch;
use crate::error::{Error, Result};
use crate::rd;

const WHAT: &str = "ELF image";

/// A checked view of an ELF header (little-endian only; big-endian is rejected as
/// unsupported, since no target of netboot's is big-endian).
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    data: &'a [u8],
    is64: bool,
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    /// p_type (1 = PT_LOAD).
    pub kind: u32,
    /// p_offset.
    pub offset: u64,
    /// p_paddr.
    pub paddr: u64,
    /// p_filesz.
    pub filesz: u64,
    /// p_memsz.
    pub memsz: u64,
}

impl<'a> Elf<'a> {
    /// Parses the identification and file header and checks that the program header
    /// table lies within `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        if !data.starts_with(b"\x7FELF") {
            return Err(Error::BadMagic { what: WHAT });
        }
        let is64 = match data.get(4) {
            Some(1) => false,
            Some(2) => true,
            Some(_) => return Err(Error::malformed(WHAT, "EI_CLASS is neither 32- nor 64-bit")),
            None => return Err(Error::truncated("ELF header", 52, data.len())),
        };
        let hlen = if is64 { 64 } else { 52 };
        if data.len() < hlen {
            return Err(Error::truncated("ELF header", hlen as u64, data.len()));
        }
        if data[5] != 1 {
            return Err(Error::Unsupported {
                what: WHAT,
                why: "big-endian",
            });
        }
        let e = Elf { data, is64 };
        let (phoff, phnum, phentsize) = (e.phoff(), e.phnum(), e.phentsize());
        if phnum != 0 {
            let min = if is64 { 56 } else { 32 };
            if usize::from(phentsize) < min {
                return Err(Error::malformed(WHAT, "e_phentsize too small"));
            }
            let end = phoff.checked_add(u64::from(phnum) * u64::from(phentsize));
            match end {
                Some(end) if end <= data.len() as u64 => {}
                _ => {
                    return Err(Error::truncated(
                        "ELF program headers",
                        end.unwrap_or(u64::MAX),
                        data.len(),
                    ));
                }
            }
        }
        Ok(e)
    }

    /// ELFCLASS64.
    pub fn is_64bit(&self) -> bool {
        self.is64
    }

    /// e_type (2 = EXEC, 3 = DYN).
    pub fn kind(&self) -> u16 {
        rd::le16(self.data, 16).unwrap_or(0)
    }

    /// e_machine.
    pub fn machine(&self) -> u16 {
        rd::le16(self.data, 18).unwrap_or(0)
    }

    /// The architecture of [`machine`](Self::machine), if known.
    pub fn arch(&self) -> Option<Arch> {
        Some(match self.machine() {
            0x03 => Arch::I386,
            0x3E => Arch::X86_64,
            0xB7 => Arch::Aarch64,
            0x28 => Arch::Arm,
            0xF3 if self.is64 => Arch::Riscv64,
            0xF3 => Arch::Riscv32,
            0x102 => Arch::LoongArch64,
            _ => return None,
        })
    }

    /// e_entry.
    pub fn entry(&self) -> u64 {
        if self.is64 {
            rd::le64(self.data, 24).unwrap_or(0)
        } else {
            u64::from(rd::le32(self.data, 24).unwrap_or(0))
        }
    }

    fn phoff(&self) -> u64 {
        if self.is64 {
            rd::le64(self.data, 32).unwrap_or(0)
        } else {
            u64::from(rd::le32(self.data, 28).unwrap_or(0))
        }
    }

    fn phentsize(&self) -> u16 {
        rd::le16(self.data, if self.is64 { 54 } else { 42 }).unwrap_or(0)
    }

    /// e_phnum.
    pub fn phnum(&self) -> u16 {
        rd::le16(self.data, if self.is64 { 56 } else { 44 }).unwrap_or(0)
    }

    /// The program headers.
    pub fn program_headers(&self) -> impl Iterator<Item = ProgramHeader> + 'a {
        let (data, is64) = (self.data, self.is64);
        let (off, size) = (self.phoff() as usize, usize::from(self.phentsize()));
        (0..usize::from(self.phnum())).filter_map(move |i| {
            let o = off.checked_add(i.checked_mul(size)?)?;
            if is64 {
                Some(ProgramHeader {
                    kind: rd::le32(data, o)?,
                    offset: rd::le64(data, o + 8)?,
                    paddr: rd::le64(data, o + 24)?,
                    filesz: rd::le64(data, o + 32)?,
                    memsz: rd::le64(data, o + 40)?,
                })
            } else {
                Some(ProgramHeader {
                    kind: rd::le32(data, o)?,
                    offset: u64::from(rd::le32(data, o + 4)?),
                    paddr: u64::from(rd::le32(data, o + 12)?),
                    filesz: u64::from(rd::le32(data, o + 16)?),
                    memsz: u64::from(rd::le32(data, o + 20)?),
                })
            }
        })
    }

    /// The end of the furthest PT_LOAD file data (what the file must be at least).
    pub fn declared_len(&self) -> u64 {
        self.program_headers()
            .filter(|p| p.kind == 1)
            .map(|p| p.offset.saturating_add(p.filesz))
            .max()
            .unwrap_or(0)
    }

    /// The first PT_LOAD segment whose file size exceeds its memory size, if any.
    pub fn bad_load_segment(&self) -> Option<ProgramHeader> {
        self.program_headers()
            .find(|p| p.kind == 1 && p.filesz > p.memsz)
    }
}

/// Multiboot 1 header magic.
pub const MULTIBOOT1_MAGIC: u32 = 0x1BAD_B002;
/// Multiboot 2 header magic.
pub const MULTIBOOT2_MAGIC: u32 = 0xE852_50D6;

/// A Multiboot header found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multiboot {
    /// Multiboot 1.
    V1 {
        /// File offset of the header.
        offset: usize,
        /// Flags (bit 16: a.out-kludge address fields follow).
        flags: u32,
    },
    /// Multiboot 2.
    V2 {
        /// File offset of the header.
        offset: usize,
        /// Architecture (0 i386, 4 MIPS32).
        architecture: u32,
        /// header_length.
        header_length: u32,
        /// Tag types present with the "EFI" meaning (types 7–9: EFI boot services,
        /// EFI i386 / amd64 entry), as a bit mask by type.
        tags: u32,
    },
}

impl Multiboot {
    /// The protocol version, 1 or 2.
    pub fn version(&self) -> u8 {
        match self {
            Multiboot::V1 { .. } => 1,
            Multiboot::V2 { .. } => 2,
        }
    }
}

/// Finds a valid Multiboot 2 header (8-aligned, first 32 KiB) or, failing that, a valid
/// Multiboot 1 header (4-aligned, first 8 KiB). Headers with a bad checksum are ignored.
pub fn find_multiboot(data: &[u8]) -> Option<Multiboot> {
    let lim2 = data.len().min(32768);
    for off in (0..lim2).step_by(8) {
        if rd::le32(data, off) != Some(MULTIBOOT2_MAGIC) {
            continue;
        }
        let (Some(arch), Some(hlen), Some(sum)) = (
            rd::le32(data, off + 4),
            rd::le32(data, off + 8),
            rd::le32(data, off + 12),
        ) else {
            continue;
        };
        if MULTIBOOT2_MAGIC
            .wrapping_add(arch)
            .wrapping_add(hlen)
            .wrapping_add(sum)
            != 0
            || hlen < 16
        {
            continue;
        }
        // Walk the tags within header_length and the file (each ≥ 8 bytes, 8-aligned).
        let end = (off as u64 + u64::from(hlen)).min(data.len() as u64) as usize;
        let mut p = off + 16;
        let mut tags = 0u32;
        while p + 8 <= end {
            let ty = rd::le16(data, p).unwrap_or(0);
            let size = rd::le32(data, p + 4).unwrap_or(0) as usize;
            if ty == 0 || size < 8 {
                break;
            }
            if ty < 32 {
                tags |= 1 << ty;
            }
            p = p.saturating_add((size + 7) & !7);
        }
        return Some(Multiboot::V2 {
            offset: off,
            architecture: arch,
            header_length: hlen,
            tags,
        });
    }
    let lim1 = data.len().min(8192);
    for off in (0..lim1).step_by(4) {
        if rd::le32(data, off) != Some(MULTIBOOT1_MAGIC) {
            continue;
        }
        let (Some(flags), Some(sum)) = (rd::le32(data, off + 4), rd::le32(data, off + 8)) else {
            continue;
        };
        if MULTIBOOT1_MAGIC.wrapping_add(flags).wrapping_add(sum) == 0 {
            return Some(Multiboot::V1 { offset: off, flags });
        }
    }
    None
}
