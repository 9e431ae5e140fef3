//! XPRESS Huffman ("LZ77 + Huffman" of MS-XCA) as WIM uses it: each chunk is compressed on
//! its own; every 64 KiB of output starts with a 256-byte table of 4-bit code lengths for
//! 512 symbols (0–255 literals, 256–511 matches).
//!
//! ```
//! // A 256-byte table giving literals 'a' and 'b' 1-bit codes, then the bits "0101".
//! let mut c = vec![0u8; 256];
//! c[b'a' as usize / 2] = 0x10; // symbol 0x61 (odd): high nibble
//! c[b'b' as usize / 2] = 0x01; // symbol 0x62 (even): low nibble
//! c.extend_from_slice(&0x5000u16.to_le_bytes());
//! c.extend_from_slice(&[0, 0]);
//! assert_eq!(netboot_image::xpress::decompress(&c, 4).unwrap(), b"abab");
//! ```

use crate::error::{Error, Result};
use crate::huffman::{Bits, Huffman};
use alloc::vec::Vec;

const WHAT: &str = "XPRESS data";
const SYMBOLS: usize = 512;
const TABLE_LEN: usize = SYMBOLS / 2;
const MAX_CODE_LEN: u32 = 15;
/// Output bytes covered by one code-length table.
const BLOCK: usize = 65536;

/// Decompresses one XPRESS Huffman chunk of exactly `out_len` bytes.
///
/// The output never exceeds `out_len` (a stream that would produce more is an error),
/// matches may not reach before the start of the chunk, and a stream that ends early is
/// [`Error::Truncated`].
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    out.try_reserve_exact(out_len)
        .map_err(|_| Error::TooLarge {
            what: "XPRESS output",
            size: out_len as u64,
            limit: isize::MAX as u64,
        })?;
    decompress_into(input, out_len, &mut out)?;
    Ok(out)
}

/// Like [`decompress`], appending to `out` (matches only reach back within this call's
/// output).
pub fn decompress_into(input: &[u8], out_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let base = out.len();
    let end = base
        .checked_add(out_len)
        .ok_or(Error::malformed(WHAT, "output size overflows"))?;
    let mut huff = Huffman::new(MAX_CODE_LEN, WHAT);
    let mut rest = input;
    let mut lens = [0u8; SYMBOLS];
    while out.len() < end {
        if rest.len() < TABLE_LEN {
            return Err(Error::truncated(WHAT, TABLE_LEN as u64, rest.len()));
        }
        for (i, &b) in rest[..TABLE_LEN].iter().enumerate() {
            lens[2 * i] = b & 0x0F;
            lens[2 * i + 1] = b >> 4;
        }
        huff.build(&lens)?;
        let mut bits = Bits::new(&rest[TABLE_LEN..], WHAT);
        let block_end = end.min(out.len() + BLOCK);
        while out.len() < block_end {
            let sym = huff.decode(&mut bits)? as usize;
            if sym < 256 {
                out.push(sym as u8);
                continue;
            }
            let sym = sym - 256;
            let mut len = sym & 0xF;
            let log2 = (sym >> 4) as u32;
            bits.ensure(16)?;
            let offset = (1usize << log2) | bits.peek(log2) as usize;
            bits.consume(log2);
            if len == 0xF {
                len += usize::from(bits.byte()?);
                if len == 0xF + 0xFF {
                    len = usize::from(bits.u16_bytes()?);
                }
            }
            len += 3;
            let pos = out.len();
            if offset > pos - base {
                return Err(Error::malformed(
                    WHAT,
                    "match offset before the start of the data",
                ));
            }
            if len > end - pos {
                return Err(Error::malformed(WHAT, "match runs past the declared size"));
            }
            copy_match(out, offset, len);
        }
        // The next table starts after the words consumed so far.
        let used = bits.position();
        rest = rest.get(TABLE_LEN + used..).unwrap_or(&[]);
    }
    Ok(())
}

/// Appends `len` bytes copied from `offset` bytes back (overlapping copies repeat).
#[inline]
pub(crate) fn copy_match(out: &mut Vec<u8>, offset: usize, len: usize) {
    let start = out.len() - offset;
    if offset >= len {
        out.extend_from_within(start..start + len);
    } else {
        for i in 0..len {
            let b = out[start + i];
            out.push(b);
        }
    }
}
