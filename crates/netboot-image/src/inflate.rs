//! DEFLATE (RFC 1951) decompression with gzip (RFC 1952) and zlib (RFC 1950) wrappers.
//!
//! Unlike iPXE, the gzip CRC32 and ISIZE and the zlib Adler-32 are checked. Output is
//! bounded by a caller-given limit, so a "zip bomb" fails with [`Error::TooLarge`] after
//! at most `limit` bytes; the partial output stays in the caller's vector (useful for
//! peeking at the first bytes of a compressed image).

use crate::error::{Error, Result};
use crate::rd;
use alloc::vec::Vec;

const WHAT: &str = "deflate stream";

/// CRC-32 (IEEE 802.3, reflected, as used by gzip) lookup table, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[n] = c;
        n += 1;
    }
    t
};

/// Continues a CRC-32 (gzip) over `data`; start with `0`.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// CRC-32 (gzip, PNG, Ethernet) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// Adler-32 (zlib) of `data`.
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 is the largest n with 255n(n+1)/2 + (n+1)(65520) < 2^32.
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    cnt: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            buf: 0,
            cnt: 0,
        }
    }

    #[inline]
    fn need(&mut self, n: u32) -> Result<()> {
        while self.cnt < n {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(Error::truncated(WHAT, self.pos as u64 + 1, self.data.len()));
            };
            self.pos += 1;
            self.buf |= u64::from(b) << self.cnt;
            self.cnt += 8;
        }
        Ok(())
    }

    #[inline]
    fn bits(&mut self, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        self.need(n)?;
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.cnt -= n;
        Ok(v)
    }

    /// Drops the bits of the current partial byte.
    fn align(&mut self) {
        let drop = self.cnt % 8;
        self.buf >>= drop;
        self.cnt -= drop;
    }

    /// Bytes consumed so far, counting only whole bytes handed out.
    fn consumed(&self) -> usize {
        self.pos - (self.cnt / 8) as usize
    }
}

const MAXBITS: usize = 15;
const FAST_BITS: u32 = 9;

/// A canonical Huffman decoder: a direct table for codes up to `FAST_BITS` bits plus the
/// count/symbol arrays (as in zlib's puff) for longer ones.
struct Huffman {
    count: [u16; MAXBITS + 1],
    symbol: [u16; 288],
    /// `(symbol << 4) | length`, 0 = not a short code.
    fast: [u16; 1 << FAST_BITS],
}

impl Huffman {
    /// `incomplete`: 0 = reject incomplete codes (code-length code), 1 = allow only a
    /// single one-bit code (zlib's rule for literal and distance codes), 2 = allow (the
    /// fixed distance code has 30 of 32 five-bit codes).
    fn new(lengths: &[u8], incomplete: u8) -> Result<Self> {
        let mut h = Huffman {
            count: [0; MAXBITS + 1],
            symbol: [0; 288],
            fast: [0; 1 << FAST_BITS],
        };
        for &l in lengths {
            h.count[usize::from(l)] += 1;
        }
        if usize::from(h.count[0]) == lengths.len() {
            // No codes at all: allowed (e.g. a distance code with no matches), but any
            // attempt to decode fails.
            return Ok(h);
        }
        let mut left: i32 = 1;
        for len in 1..=MAXBITS {
            left <<= 1;
            left -= i32::from(h.count[len]);
            if left < 0 {
                return Err(Error::malformed(WHAT, "over-subscribed Huffman code"));
            }
        }
        let max = (1..=MAXBITS).rev().find(|&l| h.count[l] != 0).unwrap_or(0);
        if left > 0 && (incomplete == 0 || (incomplete == 1 && max != 1)) {
            return Err(Error::malformed(WHAT, "incomplete Huffman code"));
        }
        let mut offs = [0u16; MAXBITS + 1];
        for len in 1..MAXBITS {
            offs[len + 1] = offs[len] + h.count[len];
        }
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                h.symbol[usize::from(offs[usize::from(l)])] = sym as u16;
                offs[usize::from(l)] += 1;
            }
        }
        // Fast table: walk codes in canonical order.
        let mut code: u32 = 0;
        let mut idx = 0usize;
        for len in 1..=FAST_BITS as usize {
            for _ in 0..h.count[len] {
                let sym = h.symbol[idx];
                idx += 1;
                // Deflate sends codes MSB-first; the table is indexed by the reversed code.
                let rev = (code.reverse_bits() >> (32 - len as u32)) as usize;
                let step = 1usize << len;
                let mut i = rev;
                while i < (1 << FAST_BITS) {
                    h.fast[i] = (sym << 4) | len as u16;
                    i += step;
                }
                code += 1;
            }
            code <<= 1;
        }
        Ok(h)
    }

    #[inline]
    fn decode(&self, b: &mut Bits<'_>) -> Result<u16> {
        // Try the fast table with whatever bits are available (at most FAST_BITS).
        let _ = b.need(FAST_BITS);
        if b.cnt > 0 {
            let peek = (b.buf & ((1 << FAST_BITS) - 1)) as usize;
            let e = self.fast[peek];
            if e != 0 && u32::from(e & 15) <= b.cnt {
                let len = u32::from(e & 15);
                b.buf >>= len;
                b.cnt -= len;
                return Ok(e >> 4);
            }
        }
        // Slow path: bit by bit (puff).
        let mut code: i32 = 0;
        let mut first: i32 = 0;
        let mut index: i32 = 0;
        for len in 1..=MAXBITS {
            code |= b.bits(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(self.symbol[(index + (code - first)) as usize]);
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err(Error::malformed(WHAT, "invalid Huffman code"))
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

fn push(out: &mut Vec<u8>, base: usize, limit: usize, byte: u8) -> Result<()> {
    if out.len() - base >= limit {
        return Err(Error::TooLarge {
            what: "decompressed output",
            size: (out.len() - base + 1) as u64,
            limit: limit as u64,
        });
    }
    out.push(byte);
    Ok(())
}

fn codes(
    b: &mut Bits<'_>,
    out: &mut Vec<u8>,
    base: usize,
    limit: usize,
    lit: &Huffman,
    dist: &Huffman,
) -> Result<()> {
    loop {
        let sym = lit.decode(b)?;
        if sym < 256 {
            push(out, base, limit, sym as u8)?;
        } else if sym == 256 {
            return Ok(());
        } else {
            let i = usize::from(sym - 257);
            if i >= 29 {
                return Err(Error::malformed(WHAT, "invalid length symbol"));
            }
            let len = usize::from(LEN_BASE[i]) + b.bits(u32::from(LEN_EXTRA[i]))? as usize;
            let d = usize::from(dist.decode(b)?);
            if d >= 30 {
                return Err(Error::malformed(WHAT, "invalid distance symbol"));
            }
            let dist = usize::from(DIST_BASE[d]) + b.bits(u32::from(DIST_EXTRA[d]))? as usize;
            if dist > out.len() - base {
                return Err(Error::malformed(
                    WHAT,
                    "distance before the start of the output",
                ));
            }
            let produced = out.len() - base;
            if produced + len > limit {
                // Emit what fits so a peek sees as much as possible, then fail.
                let fit = limit - produced;
                for _ in 0..fit {
                    let v = out[out.len() - dist];
                    out.push(v);
                }
                return Err(Error::TooLarge {
                    what: "decompressed output",
                    size: (produced + len) as u64,
                    limit: limit as u64,
                });
            }
            let start = out.len() - dist;
            if dist >= len {
                out.extend_from_within(start..start + len);
            } else {
                for k in 0..len {
                    let v = out[start + k];
                    out.push(v);
                }
            }
        }
    }
}

fn fixed_tables() -> Result<(Huffman, Huffman)> {
    let mut l = [0u8; 288];
    l[..144].fill(8);
    l[144..256].fill(9);
    l[256..280].fill(7);
    l[280..].fill(8);
    Ok((Huffman::new(&l, 2)?, Huffman::new(&[5u8; 30], 2)?))
}

fn dynamic_tables(b: &mut Bits<'_>) -> Result<(Huffman, Huffman)> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let nlen = b.bits(5)? as usize + 257;
    let ndist = b.bits(5)? as usize + 1;
    let ncode = b.bits(4)? as usize + 4;
    if nlen > 286 || ndist > 30 {
        return Err(Error::malformed(WHAT, "bad code counts"));
    }
    let mut lengths = [0u8; 320];
    for &o in ORDER.iter().take(ncode) {
        lengths[o] = b.bits(3)? as u8;
    }
    let pre = Huffman::new(&lengths[..19], 0)?;
    let mut i = 0;
    while i < nlen + ndist {
        let sym = pre.decode(b)?;
        if sym < 16 {
            lengths[i] = sym as u8;
            i += 1;
            continue;
        }
        let (val, rep) = match sym {
            16 => {
                if i == 0 {
                    return Err(Error::malformed(WHAT, "repeat with no previous length"));
                }
                (lengths[i - 1], 3 + b.bits(2)? as usize)
            }
            17 => (0, 3 + b.bits(3)? as usize),
            _ => (0, 11 + b.bits(7)? as usize),
        };
        if i + rep > nlen + ndist {
            return Err(Error::malformed(WHAT, "code lengths overrun"));
        }
        lengths[i..i + rep].fill(val);
        i += rep;
    }
    if lengths[256] == 0 {
        return Err(Error::malformed(WHAT, "no end-of-block code"));
    }
    Ok((
        Huffman::new(&lengths[..nlen], 1)?,
        Huffman::new(&lengths[nlen..nlen + ndist], 1)?,
    ))
}

/// Inflates a raw DEFLATE stream from `input`, appending at most `limit` bytes to `out`.
/// Returns the number of input bytes consumed (the stream's end is self-delimiting).
///
/// ```
/// // "hi" stored in a final uncompressed block.
/// let raw = [0x01, 0x02, 0x00, 0xFD, 0xFF, b'h', b'i'];
/// let mut out = Vec::new();
/// assert_eq!(netboot_image::inflate::inflate(&raw, &mut out, 100).unwrap(), 7);
/// assert_eq!(out, b"hi");
/// ```
pub fn inflate(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<usize> {
    let base = out.len();
    let mut b = Bits::new(input);
    loop {
        let last = b.bits(1)?;
        match b.bits(2)? {
            0 => {
                b.align();
                // Drain whole bytes still buffered, then read from the input.
                let start = b.consumed();
                b.buf = 0;
                b.cnt = 0;
                b.pos = start;
                let len = rd::le16(input, start).ok_or(Error::truncated(
                    WHAT,
                    start as u64 + 4,
                    input.len(),
                ))?;
                let nlen = rd::le16(input, start + 2).ok_or(Error::truncated(
                    WHAT,
                    start as u64 + 4,
                    input.len(),
                ))?;
                if len != !nlen {
                    return Err(Error::malformed(WHAT, "stored block length check failed"));
                }
                let data = rd::slice(input, start as u64 + 4, u64::from(len)).ok_or(
                    Error::truncated(WHAT, start as u64 + 4 + u64::from(len), input.len()),
                )?;
                let room = limit - (out.len() - base);
                if data.len() > room {
                    out.extend_from_slice(&data[..room]);
                    return Err(Error::TooLarge {
                        what: "decompressed output",
                        size: (out.len() - base + data.len() - room) as u64,
                        limit: limit as u64,
                    });
                }
                out.extend_from_slice(data);
                b.pos = start + 4 + usize::from(len);
            }
            1 => {
                let (l, d) = fixed_tables()?;
                codes(&mut b, out, base, limit, &l, &d)?;
            }
            2 => {
                let (l, d) = dynamic_tables(&mut b)?;
                codes(&mut b, out, base, limit, &l, &d)?;
            }
            _ => return Err(Error::malformed(WHAT, "reserved block type 3")),
        }
        if last == 1 {
            b.align();
            return Ok(b.consumed());
        }
    }
}

/// A parsed gzip member header (RFC 1952).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GzipHeader<'a> {
    /// Flags byte (FTEXT 1, FHCRC 2, FEXTRA 4, FNAME 8, FCOMMENT 16).
    pub flags: u8,
    /// Modification time (Unix seconds, 0 = none).
    pub mtime: u32,
    /// Operating-system byte.
    pub os: u8,
    /// Original file name (FNAME), without its NUL.
    pub name: Option<&'a [u8]>,
    /// Offset of the DEFLATE data.
    pub data_offset: usize,
}

impl<'a> GzipHeader<'a> {
    /// Parses the member header at the start of `d`.
    pub fn parse(d: &'a [u8]) -> Result<Self> {
        const W: &str = "gzip header";
        if d.len() < 10 {
            return Err(Error::truncated(W, 10, d.len()));
        }
        if d[0] != 0x1F || d[1] != 0x8B {
            return Err(Error::BadMagic { what: "gzip file" });
        }
        if d[2] != 8 {
            return Err(Error::Unsupported {
                what: W,
                why: "compression method other than DEFLATE",
            });
        }
        let flags = d[3];
        if flags & 0xE0 != 0 {
            return Err(Error::malformed(W, "reserved flag bits set"));
        }
        let mut pos = 10usize;
        if flags & 4 != 0 {
            let xlen = rd::le16(d, pos).ok_or(Error::truncated(W, pos as u64 + 2, d.len()))?;
            pos += 2 + usize::from(xlen);
        }
        let mut name = None;
        if flags & 8 != 0 {
            let s = d.get(pos..).unwrap_or(&[]);
            let n = s.iter().position(|&c| c == 0).ok_or(Error::truncated(
                W,
                d.len() as u64 + 1,
                d.len(),
            ))?;
            name = Some(&s[..n]);
            pos += n + 1;
        }
        if flags & 16 != 0 {
            let s = d.get(pos..).unwrap_or(&[]);
            let n = s.iter().position(|&c| c == 0).ok_or(Error::truncated(
                W,
                d.len() as u64 + 1,
                d.len(),
            ))?;
            pos += n + 1;
        }
        if flags & 2 != 0 {
            pos += 2;
        }
        if pos > d.len() {
            return Err(Error::truncated(W, pos as u64, d.len()));
        }
        Ok(GzipHeader {
            flags,
            mtime: rd::le32(d, 4).unwrap_or(0),
            os: d[9],
            name,
            data_offset: pos,
        })
    }
}

/// Decompresses a gzip file (every concatenated member; trailing zero padding is
/// allowed), checking each member's CRC32 and ISIZE. Fails with [`Error::TooLarge`] once
/// more than `limit` bytes would be produced.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    gunzip_into(data, &mut out, limit)?;
    Ok(out)
}

/// Like [`gunzip`], appending to `out` (partial output stays there on error).
pub fn gunzip_into(data: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let base = out.len();
    let mut pos = 0usize;
    loop {
        let member = &data[pos..];
        let h = GzipHeader::parse(member)?;
        let start = out.len();
        let used = inflate(&member[h.data_offset..], out, limit - (start - base))?;
        let tail = h.data_offset + used;
        let crc = rd::le32(member, tail).ok_or(Error::truncated(
            "gzip trailer",
            tail as u64 + 8,
            member.len(),
        ))?;
        let isize = rd::le32(member, tail + 4).ok_or(Error::truncated(
            "gzip trailer",
            tail as u64 + 8,
            member.len(),
        ))?;
        let actual = crc32(&out[start..]);
        if crc != actual {
            return Err(Error::Checksum {
                what: "gzip CRC32",
                expected: crc,
                actual,
            });
        }
        let n = (out.len() - start) as u32;
        if isize != n {
            return Err(Error::Checksum {
                what: "gzip ISIZE",
                expected: isize,
                actual: n,
            });
        }
        pos += tail + 8;
        let rest = &data[pos..];
        if rest.len() < 2 || rest[0] != 0x1F || rest[1] != 0x8B {
            if rest.iter().all(|&b| b == 0) {
                return Ok(());
            }
            return Err(Error::malformed(
                "gzip file",
                "trailing garbage after the last member",
            ));
        }
    }
}

/// Whether the two bytes are a plausible zlib header (method 8, window ≤ 32 KiB, check).
pub fn is_zlib_header(d: &[u8]) -> bool {
    match d {
        [cmf, flg, ..] => {
            cmf & 0x0F == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Decompresses a zlib stream, checking the Adler-32; at most `limit` bytes of output.
pub fn zlib_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    const W: &str = "zlib stream";
    if data.len() < 2 {
        return Err(Error::truncated(W, 2, data.len()));
    }
    if !is_zlib_header(data) {
        return Err(Error::BadMagic { what: W });
    }
    if data[1] & 0x20 != 0 {
        return Err(Error::Unsupported {
            what: W,
            why: "preset dictionary",
        });
    }
    let mut out = Vec::new();
    let used = inflate(&data[2..], &mut out, limit)?;
    let expected =
        rd::be32(data, 2 + used).ok_or(Error::truncated(W, 2 + used as u64 + 4, data.len()))?;
    let actual = adler32(&out);
    if expected != actual {
        return Err(Error::Checksum {
            what: "zlib Adler-32",
            expected,
            actual,
        });
    }
    Ok(out)
}
