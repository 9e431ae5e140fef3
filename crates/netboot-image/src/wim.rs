//! WIM (Windows Imaging) headers.

use crate::error::{Error, Result};
use crate::rd;

/// Header length.
pub const HEADER_LEN: usize = 0xD0;
/// Header flag: resources are compressed.
pub const FLAG_COMPRESSED: u32 = 0x2;
/// Compression flag: XPRESS.
pub const COMPRESS_XPRESS: u32 = 0x20000;
/// Compression flag: LZX.
pub const COMPRESS_LZX: u32 = 0x40000;
/// Compression flag: LZMS.
pub const COMPRESS_LZMS: u32 = 0x80000;
/// Compression flag: XPRESS2.
pub const COMPRESS_XPRESS2: u32 = 0x200000;

/// A 24-byte resource header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Stored (compressed) size (56 bits).
    pub stored_size: u64,
    /// Flags (0x02 metadata, 0x04 compressed, 0x10 solid).
    pub flags: u8,
    /// File offset.
    pub offset: u64,
    /// Original (uncompressed) size.
    pub original_size: u64,
}

impl Resource {
    fn parse(d: &[u8], off: usize) -> Option<Resource> {
        let a = rd::le64(d, off)?;
        Some(Resource {
            stored_size: a & 0x00FF_FFFF_FFFF_FFFF,
            flags: (a >> 56) as u8,
            offset: rd::le64(d, off + 8)?,
            original_size: rd::le64(d, off + 16)?,
        })
    }

    /// The resource's end in the file (saturating).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.stored_size)
    }
}

/// A parsed WIM header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WimHeader {
    /// Pipable WIM (`WLPWM\0\0\0`).
    pub pipable: bool,
    /// Version (0x10D00 normal, 0xE00 solid/ESD).
    pub version: u32,
    /// Header flags.
    pub flags: u32,
    /// Chunk size (0 when uncompressed).
    pub chunk_size: u32,
    /// Part number (1-based).
    pub part_number: u16,
    /// Total parts.
    pub total_parts: u16,
    /// Number of images.
    pub image_count: u32,
    /// Lookup (blob) table resource.
    pub lookup_table: Resource,
    /// XML data resource.
    pub xml: Resource,
    /// Boot metadata resource.
    pub boot_metadata: Resource,
    /// Boot index (1-based; 0 = none).
    pub boot_index: u32,
    /// Integrity table resource.
    pub integrity: Resource,
}

impl WimHeader {
    /// Parses the 208-byte header.
    pub fn parse(d: &[u8]) -> Result<WimHeader> {
        let pipable = d.starts_with(b"WLPWM\0\0\0");
        if !pipable && !d.starts_with(b"MSWIM\0\0\0") {
            return Err(Error::BadMagic { what: "WIM image" });
        }
        if d.len() < HEADER_LEN {
            return Err(Error::truncated("WIM header", HEADER_LEN as u64, d.len()));
        }
        let size = rd::le32(d, 8).unwrap_or(0);
        if size as usize != HEADER_LEN {
            return Err(Error::malformed("WIM header", "header size is not 208"));
        }
        let r = |o| {
            Resource::parse(d, o).ok_or(Error::truncated("WIM header", HEADER_LEN as u64, d.len()))
        };
        Ok(WimHeader {
            pipable,
            version: rd::le32(d, 0x0C).unwrap_or(0),
            flags: rd::le32(d, 0x10).unwrap_or(0),
            chunk_size: rd::le32(d, 0x14).unwrap_or(0),
            part_number: rd::le16(d, 0x28).unwrap_or(0),
            total_parts: rd::le16(d, 0x2A).unwrap_or(0),
            image_count: rd::le32(d, 0x2C).unwrap_or(0),
            lookup_table: r(0x30)?,
            xml: r(0x48)?,
            boot_metadata: r(0x60)?,
            boot_index: rd::le32(d, 0x78).unwrap_or(0),
            integrity: r(0x7C)?,
        })
    }

    /// The compression name: `none`, `xpress`, `lzx`, `lzms`, `xpress2` or `mixed`.
    pub fn compression(&self) -> &'static str {
        if self.flags & FLAG_COMPRESSED == 0 {
            return "none";
        }
        match self.flags & (COMPRESS_XPRESS | COMPRESS_LZX | COMPRESS_LZMS | COMPRESS_XPRESS2) {
            COMPRESS_XPRESS => "xpress",
            COMPRESS_LZX => "lzx",
            COMPRESS_LZMS => "lzms",
            COMPRESS_XPRESS2 => "xpress2",
            _ => "mixed",
        }
    }

    /// The file length the header implies (furthest resource end).
    pub fn declared_len(&self) -> u64 {
        [
            self.lookup_table,
            self.xml,
            self.boot_metadata,
            self.integrity,
        ]
        .iter()
        .map(Resource::end)
        .max()
        .unwrap_or(0)
    }
}
