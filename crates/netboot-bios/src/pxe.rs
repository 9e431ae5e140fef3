//! What a PXE ROM hands to a network boot program (PXE 2.1 §4.4.5).
//!
//! At 0000:7C00 the NBP gets ES:BX → `PXENV+` and, on the stack at SS:SP+4, a far
//! pointer to `!PXE`. The `netboot.kpxe` prefix saves both in an [`EntryArgs`] block
//! before it leaves real mode; [`report`] validates and prints them.

use crate::mem::PhysMemory;
use core::fmt;

/// A real-mode far pointer as stored in memory: offset in the low 16 bits, segment in the
/// high 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct FarPtr(pub u32);

impl FarPtr {
    /// The segment.
    pub const fn segment(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// The offset.
    pub const fn offset(self) -> u16 {
        self.0 as u16
    }
    /// The linear address `segment × 16 + offset`.
    pub const fn linear(self) -> u32 {
        ((self.segment() as u32) << 4) + self.offset() as u32
    }
}

impl fmt::Display for FarPtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}:{:04X}", self.segment(), self.offset())
    }
}

/// The block the `netboot.kpxe` real-mode prefix fills in (in `.data16`), passed to Rust
/// as the loader argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct EntryArgs {
    /// ES:BX at entry: the `PXENV+` structure.
    pub pxenv: FarPtr,
    /// The far pointer at SS:SP+4 at entry: the `!PXE` structure.
    pub pxe: FarPtr,
    /// SS:SP at entry (offset = SP, segment = SS).
    pub stack: FarPtr,
}

impl EntryArgs {
    /// Size of the block in bytes.
    pub const SIZE: usize = 12;

    /// Decodes the block from its bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<FarPtr> {
            Some(FarPtr(u32::from_le_bytes(
                b.get(i..i + 4)?.try_into().ok()?,
            )))
        };
        Some(Self {
            pxenv: word(0)?,
            pxe: word(4)?,
            stack: word(8)?,
        })
    }
}

/// The validated fields of a `PXENV+` structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pxenv {
    /// API version (0x0201 for PXE 2.1).
    pub version: u16,
    /// Legacy real-mode entry point.
    pub rm_entry: FarPtr,
    /// `!PXE` pointer (version ≥ 2.1 with a structure long enough to hold it).
    pub pxe_ptr: Option<FarPtr>,
}

/// The validated fields of a `!PXE` structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BangPxe {
    /// Structure revision.
    pub revision: u8,
    /// 16-bit API entry point (`EntryPointSP`).
    pub entry_sp: FarPtr,
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

fn far_at(b: &[u8], at: usize) -> Option<FarPtr> {
    Some(FarPtr(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

/// Validates a `PXENV+` structure (signature, length, checksum over `length` bytes).
///
/// `bytes` may extend past the structure; the structure's own length byte decides.
pub fn parse_pxenv(bytes: &[u8]) -> Result<Pxenv, &'static str> {
    if !bytes.starts_with(b"PXENV+") {
        return Err("bad signature");
    }
    let len = usize::from(*bytes.get(8).ok_or("truncated")?);
    if len < 0x26 {
        return Err("length too small");
    }
    let s = bytes.get(..len).ok_or("truncated")?;
    if !checksum_ok(s) {
        return Err("bad checksum");
    }
    let version = u16::from_le_bytes([s[6], s[7]]);
    let rm_entry = far_at(s, 0x0A).ok_or("truncated")?;
    let pxe_ptr = if version >= 0x0201 {
        far_at(s, 0x28)
    } else {
        None
    };
    Ok(Pxenv {
        version,
        rm_entry,
        pxe_ptr,
    })
}

/// Validates a `!PXE` structure (signature, length, checksum over `StructLength` bytes).
pub fn parse_bang_pxe(bytes: &[u8]) -> Result<BangPxe, &'static str> {
    if !bytes.starts_with(b"!PXE") {
        return Err("bad signature");
    }
    let len = usize::from(*bytes.get(4).ok_or("truncated")?);
    if len < 0x18 {
        return Err("length too small");
    }
    let s = bytes.get(..len).ok_or("truncated")?;
    if !checksum_ok(s) {
        return Err("bad checksum");
    }
    Ok(BangPxe {
        revision: s[6],
        entry_sp: far_at(s, 0x10).ok_or("truncated")?,
    })
}

/// Reads a structure whose one-byte length field is at `len_at`: first the header up to
/// that byte, then exactly the advertised length (at most 255 bytes).
fn read_struct(mem: &impl PhysMemory, ptr: FarPtr, len_at: usize) -> Result<&[u8], &'static str> {
    let addr = u64::from(ptr.linear());
    let header = mem.bytes(addr, len_at + 1).ok_or("unreadable")?;
    let len = usize::from(header[len_at]).max(len_at + 1);
    mem.bytes(addr, len).ok_or("unreadable")
}

/// Reads and validates the `PXENV+` structure at `ptr`.
pub fn read_pxenv(mem: &impl PhysMemory, ptr: FarPtr) -> Result<Pxenv, &'static str> {
    read_struct(mem, ptr, 8).and_then(parse_pxenv)
}

/// Validates the loader's pointers and prints one line for each, for example
/// `PXENV+ at 9C48:0780: ok, version 2.1` and `!PXE at 9C48:0720: ok, entry 9C48:0160`.
///
/// If the stack pointer to `!PXE` is invalid, the one in `PXENV+` is tried. Returns the
/// valid `!PXE`, if any.
pub fn report(
    out: &mut impl fmt::Write,
    mem: &impl PhysMemory,
    args: &EntryArgs,
) -> Result<Option<BangPxe>, fmt::Error> {
    let pxenv = read_struct(mem, args.pxenv, 8).and_then(parse_pxenv);
    match &pxenv {
        Ok(p) => write!(
            out,
            "PXENV+ at {}: ok, version {}.{}\r\n",
            args.pxenv,
            p.version >> 8,
            p.version & 0xFF
        )?,
        Err(e) => write!(out, "PXENV+ at {}: invalid ({e})\r\n", args.pxenv)?,
    }
    let mut candidates = [Some(args.pxe), pxenv.ok().and_then(|p| p.pxe_ptr)];
    if candidates[1] == candidates[0] {
        candidates[1] = None;
    }
    for (i, ptr) in candidates.into_iter().enumerate() {
        let Some(ptr) = ptr else { continue };
        let from = if i == 0 { "" } else { " (from PXENV+)" };
        match read_struct(mem, ptr, 4).and_then(parse_bang_pxe) {
            Ok(p) => {
                write!(out, "!PXE at {ptr}{from}: ok, entry {}\r\n", p.entry_sp)?;
                return Ok(Some(p));
            }
            Err(e) => write!(out, "!PXE at {ptr}{from}: invalid ({e})\r\n")?,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::fake::FakeMemory;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn fix(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn pxenv(pxe: u32) -> Vec<u8> {
        let mut s = vec![0u8; 0x2C];
        s[..6].copy_from_slice(b"PXENV+");
        s[6..8].copy_from_slice(&0x0201u16.to_le_bytes());
        s[8] = 0x2C;
        s[0x0A..0x0E].copy_from_slice(&0x9C48_0100u32.to_le_bytes());
        s[0x28..0x2C].copy_from_slice(&pxe.to_le_bytes());
        fix(&mut s, 9);
        s
    }

    fn bang_pxe() -> Vec<u8> {
        let mut s = vec![0u8; 0x58];
        s[..4].copy_from_slice(b"!PXE");
        s[4] = 0x58;
        s[0x10..0x14].copy_from_slice(&0x9C48_0160u32.to_le_bytes());
        fix(&mut s, 5);
        s
    }

    #[test]
    fn far_pointers() {
        let p = FarPtr(0x9C48_0780);
        assert_eq!(
            (p.segment(), p.offset(), p.linear()),
            (0x9C48, 0x0780, 0x9CC00)
        );
        assert_eq!(std::format!("{p}"), "9C48:0780");
        let a =
            EntryArgs::from_bytes(&[0x80, 0x07, 0x48, 0x9C, 0x20, 0x07, 0x48, 0x9C, 0, 0, 0, 0])
                .expect("12 bytes");
        assert_eq!((a.pxenv, a.pxe), (FarPtr(0x9C48_0780), FarPtr(0x9C48_0720)));
        assert!(EntryArgs::from_bytes(&[0; 11]).is_none());
    }

    #[test]
    fn structures_validate() {
        let good = pxenv(0x9C48_0720);
        assert_eq!(
            parse_pxenv(&good).map(|p| p.pxe_ptr),
            Ok(Some(FarPtr(0x9C48_0720)))
        );
        let mut bad = good.clone();
        bad[0x20] ^= 1;
        assert_eq!(parse_pxenv(&bad), Err("bad checksum"));
        assert_eq!(parse_pxenv(&good[..0x20]), Err("truncated"));
        assert_eq!(parse_pxenv(b"PXENV-"), Err("bad signature"));
        let mut short = good.clone();
        short[8] = 4;
        assert_eq!(parse_pxenv(&short), Err("length too small"));
        let pxe = bang_pxe();
        assert_eq!(
            parse_bang_pxe(&pxe).map(|p| p.entry_sp),
            Ok(FarPtr(0x9C48_0160))
        );
        assert_eq!(parse_bang_pxe(&pxe[..0x40]), Err("truncated"));
        let mut bad = pxe.clone();
        bad[0x10] ^= 1;
        assert_eq!(parse_bang_pxe(&bad), Err("bad checksum"));
    }

    #[test]
    fn report_prints_both_and_falls_back() {
        let mem = FakeMemory::default()
            .with(0x9CC00, &pxenv(0x9C48_0720))
            .with(0x9CBA0, &bang_pxe());
        let args = EntryArgs {
            pxenv: FarPtr(0x9C48_0780),
            pxe: FarPtr(0x9C48_0720),
            stack: FarPtr(0),
        };
        let mut out = String::new();
        assert!(report(&mut out, &mem, &args).expect("fmt").is_some());
        assert_eq!(
            out,
            "PXENV+ at 9C48:0780: ok, version 2.1\r\n!PXE at 9C48:0720: ok, entry 9C48:0160\r\n"
        );

        // Garbage stack pointer: fall back to PXENV+'s pointer.
        let args = EntryArgs {
            pxe: FarPtr(0x1234_5678),
            ..args
        };
        let mut out = String::new();
        assert!(report(&mut out, &mem, &args).expect("fmt").is_some());
        assert!(out.contains("!PXE at 1234:5678: invalid"), "{out}");
        assert!(out.contains("!PXE at 9C48:0720 (from PXENV+): ok"), "{out}");

        // Nothing valid at all.
        let args = EntryArgs {
            pxenv: FarPtr(0),
            pxe: FarPtr(0),
            stack: FarPtr(0),
        };
        let mut out = String::new();
        assert!(report(&mut out, &mem, &args).expect("fmt").is_none());
        assert!(
            out.contains("PXENV+ at 0000:0000: invalid (unreadable)"),
            "{out}"
        );
    }
}
