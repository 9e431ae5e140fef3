//! WIM (Windows Imaging): header, blob (lookup) table, XML data, image metadata
//! (security data and the directory tree) and file lookup by path, reading resources that
//! are uncompressed, XPRESS or LZX compressed. LZMS, solid, split and pipable WIMs are
//! recognised and reported as [`Error::Unsupported`].
//!
//! Every offset, size and count is checked against the data; output never exceeds a
//! resource's declared size nor the reader's limit ([`Wim::set_limit`]); directory walks
//! detect loops.
//!
//! ```no_run
//! # fn f(data: &[u8]) -> netboot_image::Result<()> {
//! let wim = netboot_image::wim::Wim::parse(data)?;
//! let info = wim.info()?;
//! let boot = wim.read_file(wim.header().boot_index, "\\Windows\\System32\\boot\\winload.efi")?;
//! # let _ = (info, boot); Ok(()) }
//! ```

use crate::error::{Error, Result};
use crate::rd;
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

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

/// Resource flag: free (unused) entry.
pub const RES_FREE: u8 = 0x01;
/// Resource flag: an image's metadata resource.
pub const RES_METADATA: u8 = 0x02;
/// Resource flag: compressed in chunks.
pub const RES_COMPRESSED: u8 = 0x04;
/// Resource flag: spans parts of a split WIM.
pub const RES_SPANNED: u8 = 0x08;
/// Resource flag: solid ("packed streams") resource.
pub const RES_SOLID: u8 = 0x10;

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
    /// Parses the 24 bytes at `off` (`None` past the end).
    pub fn parse(d: &[u8], off: usize) -> Option<Resource> {
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

/// Length of a blob (lookup) table entry.
pub const BLOB_ENTRY_LEN: usize = 50;
/// Default cap on one resource's decompressed size (1 GiB).
pub const DEFAULT_LIMIT: u64 = 1 << 30;
/// Chunk size of compressed resources when the header says 0.
pub const DEFAULT_CHUNK: u32 = 32768;
/// Directory entries visited at most by [`Metadata::walk`].
const WALK_CAP: usize = 1 << 22;
/// Nesting depth limit of [`Metadata::walk`].
const DEPTH_CAP: usize = 256;
/// Fixed part of a directory entry.
const DENTRY_FIXED: usize = 0x66;
/// Fixed part of an alternate-stream entry.
const STREAM_FIXED: usize = 0x26;

/// One blob (lookup) table entry: where a stream's data lives and its SHA-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobEntry {
    /// The resource holding the data.
    pub resource: Resource,
    /// Part of a split WIM holding it (1-based).
    pub part_number: u16,
    /// Reference count (directory entries using it).
    pub refcount: u32,
    /// SHA-1 of the uncompressed data.
    pub hash: [u8; 20],
}

impl BlobEntry {
    /// Parses the 50 bytes at `off` (`None` past the end).
    pub fn parse(d: &[u8], off: usize) -> Option<BlobEntry> {
        Some(BlobEntry {
            resource: Resource::parse(d, off)?,
            part_number: rd::le16(d, off + 24)?,
            refcount: rd::le32(d, off + 26)?,
            hash: rd::arr::<20>(d, off + 30)?,
        })
    }

    /// An image's metadata resource.
    pub fn is_metadata(&self) -> bool {
        self.resource.flags & RES_METADATA != 0
    }
}

/// One `<IMAGE>` of the XML data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `INDEX` attribute (1-based).
    pub index: u32,
    /// `<NAME>`.
    pub name: Option<String>,
    /// `<DESCRIPTION>`.
    pub description: Option<String>,
}

/// What the XML data and the header say about the images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WimInfo {
    /// Image count from the header.
    pub image_count: u32,
    /// Boot index from the header (1-based; 0 = none).
    pub boot_index: u32,
    /// The XML's `<IMAGE>` elements, in document order.
    pub images: Vec<ImageInfo>,
}

impl WimInfo {
    /// The boot image's name, if the XML has one.
    pub fn boot_image_name(&self) -> Option<&str> {
        self.images
            .iter()
            .find(|i| i.index == self.boot_index)
            .and_then(|i| i.name.as_deref())
    }
}

/// A WIM file: header and blob table, reading resources on demand.
#[derive(Clone, Debug)]
pub struct Wim<'a> {
    data: &'a [u8],
    header: WimHeader,
    blobs: Vec<BlobEntry>,
    by_hash: Vec<u32>,
    limit: u64,
}

impl<'a> Wim<'a> {
    /// Parses the header and the blob table.
    pub fn parse(data: &'a [u8]) -> Result<Wim<'a>> {
        Wim::parse_limited(data, DEFAULT_LIMIT)
    }

    /// Parses the header and the blob table, capping every resource this reader
    /// decompresses (the blob table included) at `limit` bytes.
    pub fn parse_limited(data: &'a [u8], limit: u64) -> Result<Wim<'a>> {
        let header = WimHeader::parse(data)?;
        let mut w = Wim {
            data,
            header,
            blobs: Vec::new(),
            by_hash: Vec::new(),
            limit,
        };
        if header.pipable {
            return Err(Error::Unsupported {
                what: "WIM",
                why: "pipable WIM (export it as a normal WIM: wimlib-imagex export SRC all DST)",
            });
        }
        if header.flags & FLAG_COMPRESSED != 0 {
            let c = header.chunk_size;
            if c != 0 && !c.is_power_of_two() {
                return Err(Error::malformed(
                    "WIM header",
                    "chunk size is not a power of two",
                ));
            }
        }
        let table = w.read_resource(&header.lookup_table)?;
        if table.len() % BLOB_ENTRY_LEN != 0 {
            return Err(Error::malformed(
                "WIM blob table",
                "length is not a multiple of 50",
            ));
        }
        w.blobs = (0..table.len() / BLOB_ENTRY_LEN)
            .filter_map(|i| BlobEntry::parse(&table, i * BLOB_ENTRY_LEN))
            .collect();
        let mut idx: Vec<u32> = (0..w.blobs.len() as u32)
            .filter(|&i| !w.blobs[i as usize].is_metadata())
            .collect();
        idx.sort_unstable_by(|&a, &b| w.blobs[a as usize].hash.cmp(&w.blobs[b as usize].hash));
        w.by_hash = idx;
        Ok(w)
    }

    /// The header.
    pub fn header(&self) -> &WimHeader {
        &self.header
    }

    /// The blob table, in file order.
    pub fn blobs(&self) -> &[BlobEntry] {
        &self.blobs
    }

    /// Caps the decompressed size of any one resource this reader produces
    /// (default [`DEFAULT_LIMIT`]).
    pub fn set_limit(&mut self, bytes: u64) {
        self.limit = bytes;
    }

    /// The (non-metadata) blob with this SHA-1.
    pub fn blob(&self, hash: &[u8; 20]) -> Option<&BlobEntry> {
        let i = self
            .by_hash
            .binary_search_by(|&i| self.blobs[i as usize].hash.cmp(hash))
            .ok()?;
        Some(&self.blobs[self.by_hash[i] as usize])
    }

    /// The metadata resource of image `image` (1-based; 0 = the header's boot metadata).
    pub fn metadata_resource(&self, image: u32) -> Result<Resource> {
        if image == 0 {
            if self.header.boot_index == 0 || self.header.boot_metadata.original_size == 0 {
                return Err(Error::malformed("WIM", "no boot image (boot index 0)"));
            }
            return Ok(self.header.boot_metadata);
        }
        if image > self.header.image_count {
            return Err(Error::InvalidArgument {
                why: "WIM image index beyond the image count",
            });
        }
        self.blobs
            .iter()
            .filter(|b| b.is_metadata())
            .nth(image as usize - 1)
            .map(|b| b.resource)
            .ok_or(Error::malformed(
                "WIM blob table",
                "fewer metadata entries than images",
            ))
    }

    /// Reads and parses image `image`'s metadata (1-based; 0 = the boot image).
    pub fn metadata(&self, image: u32) -> Result<Metadata> {
        Metadata::parse(self.read_resource(&self.metadata_resource(image)?)?)
    }

    /// The XML data, decoded from UTF-16LE.
    pub fn xml(&self) -> Result<String> {
        let raw = self.read_resource(&self.header.xml)?;
        if !raw.len().is_multiple_of(2) {
            return Err(Error::malformed("WIM XML", "odd length for UTF-16"));
        }
        let mut s = utf16(&raw);
        if s.starts_with('\u{FEFF}') {
            s.remove(0);
        }
        Ok(s)
    }

    /// Image count, boot index and the images' names and descriptions.
    pub fn info(&self) -> Result<WimInfo> {
        let xml = self.xml()?;
        Ok(WimInfo {
            image_count: self.header.image_count,
            boot_index: self.header.boot_index,
            images: parse_images(&xml),
        })
    }

    /// Finds `path` (`\`- or `/`-separated, case-insensitive) in image `image` (1-based;
    /// 0 = the boot image) and returns its unnamed data stream.
    pub fn read_file(&self, image: u32, path: &str) -> Result<Vec<u8>> {
        let meta = self.metadata(image)?;
        let e = meta.find(path)?;
        self.read_entry(&e)
    }

    /// The unnamed data stream of a directory entry (empty when it has none).
    pub fn read_entry(&self, e: &DirEntry) -> Result<Vec<u8>> {
        if e.is_dir() {
            return Err(Error::InvalidArgument {
                why: "WIM path names a directory, not a file",
            });
        }
        if e.hash == [0; 20] {
            return Ok(Vec::new());
        }
        let b = self.blob(&e.hash).ok_or(Error::malformed(
            "WIM directory entry",
            "its stream's SHA-1 is not in the blob table",
        ))?;
        self.read_blob(b)
    }

    /// Reads a blob's data and checks it against the blob's SHA-1
    /// ([`Error::Checksum`] when it differs; the values shown are the digests' first four
    /// bytes).
    pub fn read_blob(&self, b: &BlobEntry) -> Result<Vec<u8>> {
        if b.part_number != 0 && b.part_number != self.header.part_number {
            return Err(Error::Unsupported {
                what: "WIM",
                why: "blob in another part of a split WIM (join it: wimlib-imagex join)",
            });
        }
        let d = self.read_resource(&b.resource)?;
        let h = crate::sha1::sha1(&d);
        if h != b.hash {
            let first = |x: &[u8; 20]| u32::from_be_bytes([x[0], x[1], x[2], x[3]]);
            return Err(Error::Checksum {
                what: "WIM blob SHA-1",
                expected: first(&b.hash),
                actual: first(&h),
            });
        }
        Ok(d)
    }

    /// Reads a resource, decompressing it chunk by chunk.
    pub fn read_resource(&self, r: &Resource) -> Result<Vec<u8>> {
        const WHAT: &str = "WIM resource";
        if r.flags & RES_SOLID != 0 {
            return Err(Error::Unsupported {
                what: WHAT,
                why: "solid resource (ESD/--solid, usually LZMS); export the WIM with --compress=LZX",
            });
        }
        if r.flags & RES_SPANNED != 0 {
            return Err(Error::Unsupported {
                what: WHAT,
                why: "resource spanning parts of a split WIM (join it: wimlib-imagex join)",
            });
        }
        if r.original_size > self.limit {
            return Err(Error::TooLarge {
                what: WHAT,
                size: r.original_size,
                limit: self.limit,
            });
        }
        let stored = rd::slice(self.data, r.offset, r.stored_size).ok_or(Error::Truncated {
            what: WHAT,
            need: r.end(),
            have: self.data.len() as u64,
        })?;
        let size = r.original_size as usize;
        if r.flags & RES_COMPRESSED == 0 {
            let d = stored.get(..size).ok_or(Error::malformed(
                WHAT,
                "uncompressed resource smaller than its original size",
            ))?;
            return Ok(d.to_vec());
        }
        let kind = match self.header.compression() {
            "xpress" => Codec::Xpress,
            "lzx" => Codec::Lzx,
            "lzms" => {
                return Err(Error::Unsupported {
                    what: WHAT,
                    why: "LZMS compression; export the WIM with --compress=LZX",
                });
            }
            "none" => {
                return Err(Error::malformed(
                    WHAT,
                    "compressed resource in a WIM without a compression type",
                ));
            }
            _ => {
                return Err(Error::Unsupported {
                    what: WHAT,
                    why: "compression type (XPRESS2 or several bits set)",
                });
            }
        };
        let chunk = match self.header.chunk_size {
            0 => DEFAULT_CHUNK,
            c => c,
        } as usize;
        let nchunks = size.div_ceil(chunk);
        let entry = if r.original_size > u64::from(u32::MAX) {
            8
        } else {
            4
        };
        let table_len = nchunks
            .saturating_sub(1)
            .checked_mul(entry)
            .filter(|&l| l <= stored.len())
            .ok_or(Error::malformed(
                WHAT,
                "chunk table longer than the resource",
            ))?;
        let (table, body) = stored.split_at(table_len);
        let start_of = |k: usize| -> u64 {
            if k == 0 {
                0
            } else if entry == 8 {
                rd::le64(table, (k - 1) * 8).unwrap_or(u64::MAX)
            } else {
                u64::from(rd::le32(table, (k - 1) * 4).unwrap_or(u32::MAX))
            }
        };
        let mut out = Vec::new();
        out.try_reserve_exact(size).map_err(|_| Error::TooLarge {
            what: WHAT,
            size: r.original_size,
            limit: isize::MAX as u64,
        })?;
        let mut lzx = None;
        for k in 0..nchunks {
            let s = start_of(k);
            let e = if k + 1 == nchunks {
                body.len() as u64
            } else {
                start_of(k + 1)
            };
            if s > e || e > body.len() as u64 {
                return Err(Error::malformed(
                    WHAT,
                    "chunk offsets decrease or point past the resource",
                ));
            }
            let c = &body[s as usize..e as usize];
            let usize_ = chunk.min(size - k * chunk);
            if c.len() == usize_ {
                out.extend_from_slice(c);
                continue;
            }
            if c.is_empty() || c.len() > usize_ {
                return Err(Error::malformed(
                    WHAT,
                    "chunk larger than its data, or empty",
                ));
            }
            match kind {
                Codec::Xpress => crate::xpress::decompress_into(c, usize_, &mut out)?,
                Codec::Lzx => {
                    if lzx.is_none() {
                        lzx = Some(crate::lzx::Lzx::new(chunk.max(DEFAULT_CHUNK as usize))?);
                    }
                    if let Some(d) = lzx.as_mut() {
                        d.decompress_into(c, usize_, &mut out)?;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum Codec {
    Xpress,
    Lzx,
}

/// Decodes UTF-16LE (unpaired surrogates become U+FFFD).
fn utf16(raw: &[u8]) -> String {
    char::decode_utf16(
        raw.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]])),
    )
    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
    .collect()
}

/// The text of the first `<tag>…</tag>` in `s`, with the five XML entities decoded.
fn element(s: &str, tag: &str) -> Option<String> {
    let open = alloc::format!("<{tag}>");
    let close = alloc::format!("</{tag}>");
    let a = s.find(&open)? + open.len();
    let b = a + s[a..].find(&close)?;
    Some(unescape(&s[a..b]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The `<IMAGE INDEX="n">` elements of WIM XML.
fn parse_images(xml: &str) -> Vec<ImageInfo> {
    let mut v = Vec::new();
    let mut rest = xml;
    while let Some(p) = rest.find("<IMAGE") {
        let tail = &rest[p + 6..];
        let Some(gt) = tail.find('>') else { break };
        let attrs = &tail[..gt];
        if !(attrs.is_empty() || attrs.starts_with(char::is_whitespace)) {
            rest = tail;
            continue;
        }
        let body_all = &tail[gt + 1..];
        let end = body_all.find("</IMAGE>").unwrap_or(body_all.len());
        let body = &body_all[..end];
        let index = attrs
            .find("INDEX=")
            .and_then(|i| {
                let q = &attrs[i + 6..];
                let q = q.strip_prefix(['"', '\'']).unwrap_or(q);
                let n = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
                q[..n].parse().ok()
            })
            .unwrap_or(v.len() as u32 + 1);
        v.push(ImageInfo {
            index,
            name: element(body, "NAME"),
            description: element(body, "DESCRIPTION"),
        });
        rest = &body_all[end..];
    }
    v
}

/// A directory entry of an image's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Offset of the entry in the metadata resource.
    pub offset: u64,
    /// Length field (the fixed part, names and tagged items; not the stream entries).
    pub length: u64,
    /// File attributes (0x10 directory, 0x400 reparse point).
    pub attributes: u32,
    /// Index into the security descriptors (−1 = none).
    pub security_id: i32,
    /// Offset of the first child (0 = none).
    pub subdir_offset: u64,
    /// SHA-1 of the unnamed data stream (all zero = empty).
    pub hash: [u8; 20],
    /// Alternate-stream entries that follow.
    pub streams: u16,
    /// The long name (empty for the root).
    pub name: String,
    /// The DOS short name, if any.
    pub short_name: String,
    /// Offset just past this entry and its stream entries.
    next: u64,
}

impl DirEntry {
    /// FILE_ATTRIBUTE_DIRECTORY.
    pub fn is_dir(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Compares the long or short name with `name`, case-insensitively.
    pub fn name_matches(&self, name: &str) -> bool {
        eq_nocase(&self.name, name)
            || (!self.short_name.is_empty() && eq_nocase(&self.short_name, name))
    }
}

fn eq_nocase(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

/// An image's decompressed metadata resource: security data and the directory tree.
#[derive(Clone, Debug)]
pub struct Metadata {
    data: Vec<u8>,
    security_len: u32,
    security_count: u32,
    root: u64,
}

impl Metadata {
    /// Checks the security block and locates the root directory entry.
    pub fn parse(data: Vec<u8>) -> Result<Metadata> {
        const WHAT: &str = "WIM security data";
        let len = rd::le32(&data, 0).ok_or(Error::truncated(WHAT, 8, data.len()))?;
        let count = rd::le32(&data, 4).ok_or(Error::truncated(WHAT, 8, data.len()))?;
        let need = 8 + 8 * u64::from(count);
        if u64::from(len) < need {
            return Err(Error::malformed(
                WHAT,
                "total length smaller than its size table",
            ));
        }
        if u64::from(len) > data.len() as u64 {
            return Err(Error::truncated(WHAT, u64::from(len), data.len()));
        }
        let root = (u64::from(len) + 7) & !7;
        let m = Metadata {
            data,
            security_len: len,
            security_count: count,
            root,
        };
        m.root()?;
        Ok(m)
    }

    /// Security block length and descriptor count.
    pub fn security(&self) -> (u32, u32) {
        (self.security_len, self.security_count)
    }

    /// The raw metadata.
    pub fn raw(&self) -> &[u8] {
        &self.data
    }

    /// The root directory entry.
    pub fn root(&self) -> Result<DirEntry> {
        self.entry(self.root)?
            .ok_or(Error::malformed("WIM metadata", "no root directory entry"))
    }

    /// Parses the entry at `off`; `None` at a directory's end marker.
    fn entry(&self, off: u64) -> Result<Option<DirEntry>> {
        const WHAT: &str = "WIM directory entry";
        let d = &self.data;
        let o = usize::try_from(off).map_err(|_| Error::truncated(WHAT, off, d.len()))?;
        let length =
            rd::le64(d, o).ok_or(Error::truncated(WHAT, off.saturating_add(8), d.len()))?;
        if length == 0 {
            return Ok(None);
        }
        if length < DENTRY_FIXED as u64 {
            return Err(Error::malformed(WHAT, "length shorter than the fixed part"));
        }
        let end = off
            .checked_add(length)
            .filter(|&e| e <= d.len() as u64)
            .ok_or(Error::truncated(WHAT, off.saturating_add(length), d.len()))?;
        let short_len = rd::le16(d, o + 0x62).unwrap_or(0) as usize;
        let name_len = rd::le16(d, o + 0x64).unwrap_or(0) as usize;
        if !name_len.is_multiple_of(2) || !short_len.is_multiple_of(2) {
            return Err(Error::malformed(WHAT, "odd UTF-16 name length"));
        }
        let names = name_len + if name_len > 0 { 2 } else { 0 } + short_len;
        if (DENTRY_FIXED + names) as u64 > length {
            return Err(Error::malformed(WHAT, "names longer than the entry"));
        }
        let name = utf16(&d[o + DENTRY_FIXED..o + DENTRY_FIXED + name_len]);
        let so = o + DENTRY_FIXED + name_len + if name_len > 0 { 2 } else { 0 };
        let short_name = utf16(&d[so..so + short_len]);
        let mut e = DirEntry {
            offset: off,
            length,
            attributes: rd::le32(d, o + 8).unwrap_or(0),
            security_id: rd::le32(d, o + 0x0C).unwrap_or(0) as i32,
            subdir_offset: rd::le64(d, o + 0x10).unwrap_or(0),
            hash: rd::arr::<20>(d, o + 0x40).unwrap_or([0; 20]),
            streams: rd::le16(d, o + 0x60).unwrap_or(0),
            name,
            short_name,
            next: 0,
        };
        // Stream entries follow the entry, each 8-byte aligned.
        let mut p = end.checked_add(7).map(|x| x & !7).unwrap_or(u64::MAX);
        for _ in 0..e.streams {
            const SW: &str = "WIM stream entry";
            let q = usize::try_from(p).unwrap_or(usize::MAX);
            let sl = rd::le64(d, q).ok_or(Error::truncated(SW, p.saturating_add(8), d.len()))?;
            if sl < STREAM_FIXED as u64 {
                return Err(Error::malformed(SW, "length shorter than the fixed part"));
            }
            let se = p
                .checked_add(sl)
                .filter(|&x| x <= d.len() as u64)
                .ok_or(Error::truncated(SW, p.saturating_add(sl), d.len()))?;
            let nlen = rd::le16(d, q + 0x24).unwrap_or(0);
            if nlen == 0 && e.hash == [0; 20] {
                e.hash = rd::arr::<20>(d, q + 0x10).unwrap_or([0; 20]);
            }
            p = se.checked_add(7).map(|x| x & !7).unwrap_or(u64::MAX);
        }
        e.next = p;
        Ok(Some(e))
    }

    /// The entries of directory `dir` (empty for a file or an empty directory).
    pub fn children(&self, dir: &DirEntry) -> Result<Vec<DirEntry>> {
        let mut v = Vec::new();
        if dir.subdir_offset == 0 {
            return Ok(v);
        }
        let mut off = dir.subdir_offset;
        // Offsets strictly increase, so this ends within the data.
        while let Some(e) = self.entry(off)? {
            off = e.next;
            v.push(e);
        }
        Ok(v)
    }

    /// Finds `path` (components separated by `\` or `/`; case-insensitive, long or short
    /// names). The empty path is the root.
    pub fn find(&self, path: &str) -> Result<DirEntry> {
        let mut cur = self.root()?;
        for comp in path.split(['\\', '/']).filter(|c| !c.is_empty()) {
            if !cur.is_dir() {
                return Err(Error::InvalidArgument {
                    why: "WIM path goes through a file",
                });
            }
            let mut found = None;
            if cur.subdir_offset != 0 {
                let mut off = cur.subdir_offset;
                while let Some(e) = self.entry(off)? {
                    if e.name_matches(comp) {
                        found = Some(e);
                        break;
                    }
                    off = e.next;
                }
            }
            cur = found.ok_or(Error::InvalidArgument {
                why: "WIM path not found in the image",
            })?;
        }
        Ok(cur)
    }

    /// Calls `f(path, entry)` for every entry below the root, depth first, with paths
    /// like `\Windows\System32`. Stops with [`Error::Loop`] when a directory is reached
    /// twice or nests deeper than 256, and [`Error::TooLarge`] past 4 Mi entries.
    pub fn walk(&self, mut f: impl FnMut(&str, &DirEntry)) -> Result<()> {
        let root = self.root()?;
        let mut seen = BTreeSet::new();
        let mut visited = 0usize;
        let mut stack: Vec<(String, DirEntry)> = Vec::new();
        stack.push((String::new(), root));
        while let Some((path, dir)) = stack.pop() {
            if dir.subdir_offset == 0 {
                continue;
            }
            if !seen.insert(dir.subdir_offset) {
                return Err(Error::Loop {
                    what: "WIM directory tree",
                });
            }
            if path.matches('\\').count() >= DEPTH_CAP {
                return Err(Error::Loop {
                    what: "WIM directory tree",
                });
            }
            for e in self.children(&dir)? {
                visited += 1;
                if visited > WALK_CAP {
                    return Err(Error::TooLarge {
                        what: "WIM directory tree",
                        size: visited as u64,
                        limit: WALK_CAP as u64,
                    });
                }
                let mut p = path.clone();
                p.push('\\');
                p.push_str(&e.name);
                f(&p, &e);
                if e.is_dir() {
                    stack.push((p, e));
                }
            }
        }
        Ok(())
    }
}
