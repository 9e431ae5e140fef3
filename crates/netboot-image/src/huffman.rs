//! Canonical Huffman decoding and an MSB-first bit reader over 16-bit little-endian words
//! (the bit order of WIM's XPRESS and LZX).

use crate::error::{Error, Result};
use alloc::vec::Vec;

/// Bytes of zero padding the reader may invent past the end before it reports truncation.
const OVERRUN_SLACK: usize = 8;

/// An MSB-first bit reader loading 16-bit little-endian words lazily, so byte-aligned
/// reads (XPRESS length bytes, LZX uncompressed blocks) see the same position the
/// encoder wrote them at.
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    n: u32,
    overrun: usize,
    what: &'static str,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            buf: 0,
            n: 0,
            overrun: 0,
            what,
        }
    }

    /// Makes at least `k` (≤ 32) bits available, padding with zeros past the end.
    #[inline]
    pub(crate) fn ensure(&mut self, k: u32) -> Result<()> {
        while self.n < k {
            let w = match self.data.get(self.pos..self.pos + 2) {
                Some(s) => {
                    self.pos += 2;
                    u16::from_le_bytes([s[0], s[1]])
                }
                None => {
                    self.overrun += 2;
                    if self.overrun > OVERRUN_SLACK {
                        return Err(self.truncated());
                    }
                    0
                }
            };
            self.buf |= u64::from(w) << (48 - self.n);
            self.n += 16;
        }
        Ok(())
    }

    fn truncated(&self) -> Error {
        Error::Truncated {
            what: self.what,
            need: self.data.len() as u64 + 1,
            have: self.data.len() as u64,
        }
    }

    /// The next `k` (≤ 32) bits without consuming them; call [`ensure`](Self::ensure) first.
    #[inline]
    pub(crate) fn peek(&self, k: u32) -> u32 {
        if k == 0 {
            0
        } else {
            (self.buf >> (64 - k)) as u32
        }
    }

    #[inline]
    pub(crate) fn consume(&mut self, k: u32) {
        self.buf <<= k;
        self.n -= k;
    }

    /// Reads `k` (≤ 17) bits.
    #[inline]
    pub(crate) fn read(&mut self, k: u32) -> Result<u32> {
        self.ensure(k)?;
        let v = self.peek(k);
        self.consume(k);
        Ok(v)
    }

    /// Reads one byte from the byte stream (after the words already loaded).
    pub(crate) fn byte(&mut self) -> Result<u8> {
        let b = *self.data.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian u16 from the byte stream.
    pub(crate) fn u16_bytes(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    /// Reads a little-endian u32 from the byte stream.
    pub(crate) fn u32_bytes(&mut self) -> Result<u32> {
        let s = self
            .data
            .get(self.pos..self.pos.saturating_add(4))
            .ok_or_else(|| self.truncated())?;
        self.pos += 4;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// LZX: align to a word boundary; when already aligned, a whole word is skipped.
    pub(crate) fn align_lzx(&mut self) -> Result<()> {
        self.ensure(1)?;
        self.buf = 0;
        self.n = 0;
        Ok(())
    }

    /// Takes `len` raw bytes from the byte stream and restarts the bit reader after them.
    pub(crate) fn raw(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(len).ok_or_else(|| self.truncated())?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.truncated())?;
        self.pos = end;
        self.buf = 0;
        self.n = 0;
        Ok(s)
    }

    /// Bytes of input consumed so far (whole words loaded plus byte reads).
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Skips one padding byte if present (LZX odd-sized uncompressed blocks).
    pub(crate) fn skip_pad(&mut self) {
        if self.pos < self.data.len() {
            self.pos += 1;
        }
    }
}

/// Marks a table slot no code reaches.
const INVALID: u16 = u16::MAX;

/// A canonical Huffman decoder with a single lookup table of `2^(longest code)` entries.
pub(crate) struct Huffman {
    table: Vec<u16>,
    lens: Vec<u8>,
    max_len: u32,
    /// Longest code of the current table.
    bits: u32,
    what: &'static str,
}

impl Huffman {
    pub(crate) fn new(max_len: u32, what: &'static str) -> Huffman {
        Huffman {
            table: Vec::new(),
            lens: Vec::new(),
            max_len,
            bits: 0,
            what,
        }
    }

    /// Builds the table from code lengths (0 = unused). Over-subscribed codes are errors;
    /// incomplete codes are accepted and unused codewords fail when met.
    pub(crate) fn build(&mut self, lens: &[u8]) -> Result<()> {
        let limit = self.max_len as usize;
        let max = lens.iter().copied().max().unwrap_or(0) as usize;
        if max > limit {
            return Err(Error::malformed(self.what, "Huffman code length too long"));
        }
        let mut count = [0u32; 17];
        for &l in lens {
            if l as usize > max {
                return Err(Error::malformed(self.what, "Huffman code length too long"));
            }
            count[l as usize] += 1;
        }
        count[0] = 0;
        // Kraft check and first codes per length.
        let mut next = [0u32; 17];
        let mut code = 0u32;
        for l in 1..=max {
            code = (code + count[l - 1]) << 1;
            next[l] = code;
            if code + count[l] > (1 << l) {
                return Err(Error::malformed(self.what, "over-subscribed Huffman code"));
            }
        }
        self.table.clear();
        self.table.resize(1 << max, INVALID);
        self.bits = max as u32;
        for (sym, &l) in lens.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let l = l as usize;
            let c = next[l];
            next[l] += 1;
            let shift = max - l;
            let start = (c as usize) << shift;
            let end = (c as usize + 1) << shift;
            self.table[start..end].fill(sym as u16);
        }
        self.lens.clear();
        self.lens.extend_from_slice(lens);
        Ok(())
    }

    /// Decodes one symbol.
    #[inline]
    pub(crate) fn decode(&self, b: &mut Bits<'_>) -> Result<u16> {
        // Load as many bits as the longest code the format allows (not just this table's):
        // byte-aligned reads that follow depend on how many words are loaded.
        b.ensure(self.max_len)?;
        let sym = self.table[b.peek(self.bits) as usize];
        if sym == INVALID {
            return Err(Error::malformed(self.what, "unused Huffman codeword"));
        }
        b.consume(u32::from(self.lens[sym as usize]));
        Ok(sym)
    }
}
