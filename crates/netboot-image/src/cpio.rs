//! CPIO "newc" archives (`070701`, and `070702` with checksums): a bounds-checked reader
//! and a header writer for wrapping named initrds (`initrd <url> /path mode=0755`).

use crate::error::{Error, Result};
use alloc::vec::Vec;

/// Length of a newc header before the name.
pub const HEADER_LEN: usize = 110;
/// Name of the end-of-archive entry.
pub const TRAILER: &[u8] = b"TRAILER!!!";
/// Mode type bits: regular file.
pub const S_IFREG: u32 = 0o100000;
/// Mode type bits: directory.
pub const S_IFDIR: u32 = 0o040000;
/// Mode type bits: symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Mode mask of the type bits.
pub const S_IFMT: u32 = 0o170000;

const WHAT: &str = "cpio entry";

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn hex8(h: &[u8]) -> Result<u32> {
    let mut v = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(Error::malformed(WHAT, "non-hex digit in a header field")),
        };
        v = (v << 4) | u32::from(d);
    }
    Ok(v)
}

/// One archive member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpioEntry<'a> {
    /// Offset of the header in the archive.
    pub offset: usize,
    /// The name without its NUL.
    pub name: &'a [u8],
    /// `c_ino`.
    pub ino: u32,
    /// `c_mode`: type and permission bits.
    pub mode: u32,
    /// `c_uid`.
    pub uid: u32,
    /// `c_gid`.
    pub gid: u32,
    /// `c_nlink`.
    pub nlink: u32,
    /// `c_mtime`.
    pub mtime: u32,
    /// `c_check` (the byte sum of the data for `070702`, else 0).
    pub check: u32,
    /// The archive uses the `070702` (CRC) variant.
    pub crc_format: bool,
    /// The member's data.
    pub data: &'a [u8],
}

impl CpioEntry<'_> {
    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

/// Iterates the members of a newc archive, across concatenated archives (Linux initramfs
/// style: zero padding between them is skipped). `TRAILER!!!` entries are not yielded.
/// Stops at the end of the data, or at data that is not a newc header (a compressed
/// archive that follows, for instance: see [`rest`](Self::rest)).
///
/// Every member consumes at least 112 bytes, so iteration is bounded by the input size.
#[derive(Clone, Debug)]
pub struct CpioReader<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> CpioReader<'a> {
    /// A reader over `data` (which should start with `070701` or `070702`).
    pub fn new(data: &'a [u8]) -> Self {
        CpioReader {
            data,
            pos: 0,
            failed: false,
        }
    }

    /// Whether `data` starts with a newc (`070701`) or newc-CRC (`070702`) magic.
    pub fn is_newc(data: &[u8]) -> bool {
        data.starts_with(b"070701") || data.starts_with(b"070702")
    }

    /// The data not consumed yet (after the last member and any zero padding, once the
    /// iterator has returned `None`).
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos.min(self.data.len())..]
    }

    fn parse_at(&self, pos: usize) -> Result<(CpioEntry<'a>, usize)> {
        let d = self.data;
        let h = d.get(pos..pos + HEADER_LEN).ok_or(Error::truncated(
            "cpio header",
            (pos + HEADER_LEN) as u64,
            d.len(),
        ))?;
        let crc_format = &h[..6] == b"070702";
        let f = |i: usize| hex8(&h[6 + i * 8..14 + i * 8]);
        let namesize = f(11)? as usize;
        let filesize = f(6)? as usize;
        if namesize == 0 {
            return Err(Error::malformed(WHAT, "namesize 0"));
        }
        let name_start = pos + HEADER_LEN;
        let name_end = name_start
            .checked_add(namesize)
            .filter(|&e| e <= d.len())
            .ok_or(Error::truncated(
                "cpio name",
                (name_start + namesize) as u64,
                d.len(),
            ))?;
        let raw_name = &d[name_start..name_end];
        let Some((&0, name)) = raw_name.split_last() else {
            return Err(Error::malformed(WHAT, "name not NUL-terminated"));
        };
        let data_start = align4(name_end);
        let data_end = data_start
            .checked_add(filesize)
            .filter(|&e| e <= d.len())
            .ok_or(Error::truncated(
                "cpio member data",
                data_start as u64 + filesize as u64,
                d.len(),
            ))?;
        let e = CpioEntry {
            offset: pos,
            name,
            ino: f(0)?,
            mode: f(1)?,
            uid: f(2)?,
            gid: f(3)?,
            nlink: f(4)?,
            mtime: f(5)?,
            check: f(12)?,
            crc_format,
            data: &d[data_start..data_end],
        };
        if crc_format {
            let sum = e
                .data
                .iter()
                .fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
            if sum != e.check {
                return Err(Error::Checksum {
                    what: "cpio 070702 checksum",
                    expected: e.check,
                    actual: sum,
                });
            }
        }
        Ok((e, align4(data_end).min(d.len())))
    }
}

impl<'a> Iterator for CpioReader<'a> {
    type Item = Result<CpioEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            // Skip zero padding between concatenated archives (4-byte steps).
            while self.data.get(self.pos..self.pos + 4) == Some(&[0, 0, 0, 0]) {
                self.pos += 4;
            }
            if !Self::is_newc(self.rest()) {
                return None;
            }
            match self.parse_at(self.pos) {
                Ok((e, next)) => {
                    self.pos = next;
                    if e.name == TRAILER {
                        continue;
                    }
                    return Some(Ok(e));
                }
                Err(err) => {
                    self.failed = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

/// Length of a newc header for a name of `name_len` bytes, padded to 4 (the data starts
/// right after it).
pub const fn header_len(name_len: usize) -> usize {
    (HEADER_LEN + name_len + 1 + 3) & !3
}

/// Zero bytes to append after `size` bytes of data to reach 4-byte alignment.
pub const fn data_padding(size: u64) -> usize {
    ((4 - (size % 4)) % 4) as usize
}

fn put_hex(out: &mut [u8], v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((v >> (28 - 4 * i)) & 0xF) as usize];
    }
}

/// The fields of a header to write. iPXE's headers use `nlink` 1 and zero elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewcHeader<'a> {
    /// The member name (no NUL; must not contain one).
    pub name: &'a [u8],
    /// Type and permission bits (`S_IFREG | 0o644`).
    pub mode: u32,
    /// Size of the data that follows.
    pub filesize: u32,
    /// `c_ino`.
    pub ino: u32,
    /// `c_nlink`.
    pub nlink: u32,
    /// `c_mtime`.
    pub mtime: u32,
}

impl<'a> NewcHeader<'a> {
    /// A header with iPXE's defaults (`nlink` 1, everything else 0).
    pub fn new(name: &'a [u8], mode: u32, filesize: u32) -> Self {
        NewcHeader {
            name,
            mode,
            filesize,
            ino: 0,
            nlink: 1,
            mtime: 0,
        }
    }

    /// Bytes [`write`](Self::write) produces (header + name + NUL, padded to 4).
    pub fn len(&self) -> usize {
        header_len(self.name.len())
    }

    /// Never empty; provided for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the header, name and padding into `out`; returns the bytes written. The
    /// caller places `filesize` bytes of data right after it and then
    /// [`data_padding`]`(filesize)` zeros — so a large initrd is never copied.
    pub fn write(&self, out: &mut [u8]) -> Result<usize> {
        if self.name.contains(&0) {
            return Err(Error::InvalidArgument {
                why: "cpio name contains a NUL byte",
            });
        }
        let n = self.len();
        if out.len() < n {
            return Err(Error::NoSpace {
                need: n as u64,
                have: out.len() as u64,
            });
        }
        let out = &mut out[..n];
        out.fill(0);
        out[..6].copy_from_slice(b"070701");
        let fields = [
            self.ino,
            self.mode,
            0,
            0,
            self.nlink,
            self.mtime,
            self.filesize,
            0,
            0,
            0,
            0,
            self.name.len() as u32 + 1,
            0,
        ];
        for (i, v) in fields.iter().enumerate() {
            put_hex(&mut out[6 + i * 8..14 + i * 8], *v);
        }
        out[HEADER_LEN..HEADER_LEN + self.name.len()].copy_from_slice(self.name);
        Ok(n)
    }
}

/// Builds newc archives in memory.
///
/// For a named initrd (`initrd <url> /etc/x.conf mode=600 mkdir=-1`), call
/// [`initrd_prefix`] instead: it returns only the headers, and the caller's data follows
/// them without being copied.
#[derive(Clone, Debug, Default)]
pub struct CpioWriter {
    buf: Vec<u8>,
}

impl CpioWriter {
    /// An empty archive.
    pub fn new() -> Self {
        CpioWriter { buf: Vec::new() }
    }

    fn header(&mut self, h: &NewcHeader<'_>) -> Result<()> {
        let start = self.buf.len();
        self.buf.resize(start + h.len(), 0);
        h.write(&mut self.buf[start..])?;
        Ok(())
    }

    /// Appends a directory entry (`S_IFDIR | perm`).
    pub fn dir(&mut self, path: &[u8], perm: u32) -> Result<&mut Self> {
        self.header(&NewcHeader::new(path, S_IFDIR | (perm & 0o7777), 0))?;
        Ok(self)
    }

    /// Appends a regular file with its data.
    pub fn file(&mut self, path: &[u8], perm: u32, data: &[u8]) -> Result<&mut Self> {
        let size = u32::try_from(data.len()).map_err(|_| Error::TooLarge {
            what: "cpio member",
            size: data.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        self.header(&NewcHeader::new(path, S_IFREG | (perm & 0o7777), size))?;
        self.buf.extend_from_slice(data);
        self.buf
            .resize(self.buf.len() + data_padding(data.len() as u64), 0);
        Ok(self)
    }

    /// Appends a `TRAILER!!!` entry and returns the archive.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.header(&NewcHeader::new(TRAILER, 0, 0))?;
        Ok(self.buf)
    }

    /// The archive so far (no trailer: iPXE's initrd headers have none either).
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

/// The parent directories of `path` that `mkdir` asks for, innermost last, as iPXE does:
/// `mkdir = 0` none, `n` the innermost `n`, negative all. Empty components (a leading or
/// doubled `/`) are not directories.
pub fn parent_dirs(path: &[u8], mkdir: i64) -> impl Iterator<Item = &[u8]> {
    let ends = path
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'/' && i > 0 && path[i - 1] != b'/')
        .map(|(i, _)| i);
    let total = ends.clone().count();
    let want = if mkdir < 0 {
        total
    } else {
        (mkdir as u64).min(total as u64) as usize
    };
    ends.skip(total - want).map(move |e| &path[..e])
}

/// The CPIO headers that wrap one named initrd: directory entries for the parents chosen
/// by `mkdir` (mode 040755), then the header of the file itself (`S_IFREG | perm`, or a
/// directory `S_IFDIR | perm` when `directory` is set, with size 0). The caller appends
/// `size` bytes of data and [`data_padding`]`(size)` zeros. Returns an error for an empty
/// path, a NUL in it, or a size of 4 GiB or more (newc sizes are 32-bit).
///
/// ```
/// use netboot_image::cpio::{initrd_prefix, CpioReader};
/// let mut a = initrd_prefix(b"/etc/x.conf", 0o600, false, 5, -1).unwrap();
/// a.extend_from_slice(b"hello\0\0\0");
/// let names: Vec<_> = CpioReader::new(&a).map(|e| e.unwrap().name).collect();
/// assert_eq!(names, [&b"/etc"[..], b"/etc/x.conf"]);
/// ```
pub fn initrd_prefix(
    path: &[u8],
    perm: u32,
    directory: bool,
    size: u64,
    mkdir: i64,
) -> Result<Vec<u8>> {
    if path.is_empty() {
        return Err(Error::InvalidArgument {
            why: "empty cpio name",
        });
    }
    let size = if directory { 0 } else { size };
    let size = u32::try_from(size).map_err(|_| Error::TooLarge {
        what: "cpio member",
        size,
        limit: u64::from(u32::MAX),
    })?;
    let mut w = CpioWriter::new();
    for d in parent_dirs(path, mkdir) {
        w.dir(d, 0o755)?;
    }
    let kind = if directory { S_IFDIR } else { S_IFREG };
    w.header(&NewcHeader::new(path, kind | (perm & 0o7777), size))?;
    Ok(w.into_inner())
}
