//! LZX as WIM uses it: each chunk (32 KiB by default) is compressed on its own with a
//! window the size of the chunk, three repeated offsets starting at 1, verbatim,
//! aligned-offset and uncompressed blocks, and the x86 `E8` call translation undone
//! afterwards with WIM's fixed translation size of 12,000,000.

use crate::error::{Error, Result};
use crate::huffman::{Bits, Huffman};
use crate::xpress::copy_match;
use alloc::vec::Vec;

const WHAT: &str = "LZX data";
const NUM_CHARS: usize = 256;
const NUM_LEN_SYMS: usize = 249;
const NUM_ALIGNED: usize = 8;
const NUM_PRE: usize = 20;
const MAX_CODE_LEN: u32 = 16;
const MIN_MATCH: usize = 2;
const OFFSET_ADJUST: u32 = 2;
const DEFAULT_BLOCK: usize = 32768;
/// WIM's E8 translation size.
pub const E8_FILE_SIZE: i32 = 12_000_000;

/// Smallest and largest window orders (2^15 = 32 KiB … 2^21 = 2 MiB).
const MIN_ORDER: u32 = 15;
const MAX_ORDER: u32 = 21;

fn num_offset_slots(order: u32) -> usize {
    match order {
        15 => 30,
        16 => 32,
        17 => 34,
        18 => 36,
        19 => 38,
        20 => 42,
        _ => 50,
    }
}

fn extra_bits(slot: usize) -> u32 {
    if slot < 4 {
        0
    } else {
        ((slot / 2) as u32 - 1).min(17)
    }
}

/// A reusable LZX decoder for one window size.
pub struct Lzx {
    order: u32,
    main_syms: usize,
    base: Vec<u32>,
    main: Huffman,
    len: Huffman,
    aligned: Huffman,
    pre: Huffman,
    main_lens: Vec<u8>,
    len_lens: Vec<u8>,
}

impl Lzx {
    /// A decoder for chunks of at most `window` bytes (a power of two, 32 KiB to 2 MiB).
    pub fn new(window: usize) -> Result<Lzx> {
        if !window.is_power_of_two() {
            return Err(Error::malformed(WHAT, "window size is not a power of two"));
        }
        let order = window.trailing_zeros();
        if !(MIN_ORDER..=MAX_ORDER).contains(&order) {
            return Err(Error::Unsupported {
                what: WHAT,
                why: "LZX window outside 32 KiB..2 MiB",
            });
        }
        let slots = num_offset_slots(order);
        let mut base = Vec::with_capacity(slots);
        let mut b = 0u32;
        for s in 0..slots {
            base.push(b);
            b += 1 << extra_bits(s);
        }
        let main_syms = NUM_CHARS + 8 * slots;
        Ok(Lzx {
            order,
            main_syms,
            base,
            main: Huffman::new(MAX_CODE_LEN, WHAT),
            len: Huffman::new(MAX_CODE_LEN, WHAT),
            aligned: Huffman::new(7, WHAT),
            pre: Huffman::new(15, WHAT),
            main_lens: alloc::vec![0; main_syms],
            len_lens: alloc::vec![0; NUM_LEN_SYMS],
        })
    }

    /// Decompresses one chunk of exactly `out_len` bytes (at most the window), appending
    /// to `out`. Matches reach back only within this chunk's output.
    pub fn decompress_into(
        &mut self,
        input: &[u8],
        out_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if out_len > 1 << self.order {
            return Err(Error::malformed(WHAT, "chunk larger than the window"));
        }
        let base = out.len();
        let end = base + out_len;
        out.try_reserve(out_len).map_err(|_| Error::TooLarge {
            what: "LZX output",
            size: out_len as u64,
            limit: isize::MAX as u64,
        })?;
        self.main_lens.fill(0);
        self.len_lens.fill(0);
        let mut recent = [1u32; 3];
        let mut bits = Bits::new(input, WHAT);
        while out.len() < end {
            let kind = bits.read(3)?;
            let block_size = if bits.read(1)? == 1 {
                DEFAULT_BLOCK
            } else {
                let mut n = bits.read(16)? as usize;
                if self.order >= 16 {
                    n = (n << 8) | bits.read(8)? as usize;
                }
                n
            };
            if block_size == 0 || block_size > end - out.len() {
                return Err(Error::malformed(
                    WHAT,
                    "block size 0 or past the chunk's end",
                ));
            }
            let block_end = out.len() + block_size;
            match kind {
                1 | 2 => {
                    let aligned = kind == 2;
                    if aligned {
                        let mut al = [0u8; NUM_ALIGNED];
                        for l in &mut al {
                            *l = bits.read(3)? as u8;
                        }
                        self.aligned.build(&al)?;
                    }
                    let mut lens = core::mem::take(&mut self.main_lens);
                    let r = self
                        .read_lens(&mut bits, &mut lens[..NUM_CHARS])
                        .and_then(|_| self.read_lens(&mut bits, &mut lens[NUM_CHARS..]));
                    self.main_lens = lens;
                    r?;
                    let mut lens = core::mem::take(&mut self.len_lens);
                    let r = self.read_lens(&mut bits, &mut lens);
                    self.len_lens = lens;
                    r?;
                    self.main.build(&self.main_lens)?;
                    self.len.build(&self.len_lens)?;
                    self.block(&mut bits, out, base, block_end, end, aligned, &mut recent)?;
                }
                3 => {
                    bits.align_lzx()?;
                    for r in &mut recent {
                        *r = bits.u32_bytes()?;
                        if *r == 0 {
                            return Err(Error::malformed(WHAT, "repeated offset 0"));
                        }
                    }
                    out.extend_from_slice(bits.raw(block_size)?);
                    if !block_size.is_multiple_of(2) {
                        bits.skip_pad();
                    }
                }
                _ => return Err(Error::malformed(WHAT, "invalid block type")),
            }
        }
        undo_e8(&mut out[base..]);
        Ok(())
    }

    /// Reads code lengths coded as pretree deltas against the previous lengths in `lens`.
    fn read_lens(&mut self, bits: &mut Bits<'_>, lens: &mut [u8]) -> Result<()> {
        let mut pl = [0u8; NUM_PRE];
        for l in &mut pl {
            *l = bits.read(4)? as u8;
        }
        self.pre.build(&pl)?;
        let mut i = 0;
        while i < lens.len() {
            let sym = self.pre.decode(bits)?;
            let (run, value) = match sym {
                0..=16 => (1, ((u16::from(lens[i]) + 17 - sym) % 17) as u8),
                17 => (4 + bits.read(4)? as usize, 0),
                18 => (20 + bits.read(5)? as usize, 0),
                19 => {
                    let run = 4 + bits.read(1)? as usize;
                    let s = self.pre.decode(bits)?;
                    if s > 16 {
                        return Err(Error::malformed(WHAT, "invalid pretree symbol in a run"));
                    }
                    (run, ((u16::from(lens[i]) + 17 - s) % 17) as u8)
                }
                _ => return Err(Error::malformed(WHAT, "invalid pretree symbol")),
            };
            let run = run.min(lens.len() - i);
            lens[i..i + run].fill(value);
            i += run;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        bits: &mut Bits<'_>,
        out: &mut Vec<u8>,
        base: usize,
        block_end: usize,
        end: usize,
        aligned: bool,
        recent: &mut [u32; 3],
    ) -> Result<()> {
        while out.len() < block_end {
            let sym = self.main.decode(bits)? as usize;
            if sym < NUM_CHARS {
                out.push(sym as u8);
                continue;
            }
            if sym >= self.main_syms {
                return Err(Error::malformed(WHAT, "main symbol out of range"));
            }
            let sym = sym - NUM_CHARS;
            let mut len = (sym & 7) + MIN_MATCH;
            if sym & 7 == 7 {
                len += usize::from(self.len.decode(bits)?);
            }
            let slot = sym >> 3;
            let offset = if slot < 3 {
                let o = recent[slot];
                recent[slot] = recent[0];
                o
            } else {
                let nb = extra_bits(slot);
                let extra = if aligned && nb >= 3 {
                    let hi = bits.read(nb - 3)?;
                    (hi << 3) + u32::from(self.aligned.decode(bits)?)
                } else {
                    bits.read(nb)?
                };
                let o = self.base[slot] + extra - OFFSET_ADJUST;
                recent[2] = recent[1];
                recent[1] = recent[0];
                o
            };
            recent[0] = offset;
            let offset = offset as usize;
            let pos = out.len();
            if offset == 0 || offset > pos - base {
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
        Ok(())
    }
}

/// Undoes the x86 `E8` call translation over one chunk's output.
pub fn undo_e8(data: &mut [u8]) {
    if data.len() <= 10 {
        return;
    }
    let stop = data.len() - 10;
    let mut i = 0;
    while i < stop {
        if data[i] != 0xE8 {
            i += 1;
            continue;
        }
        let pos = i as i32;
        let abs = i32::from_le_bytes([data[i + 1], data[i + 2], data[i + 3], data[i + 4]]);
        let rel = if abs >= 0 {
            (abs < E8_FILE_SIZE).then(|| abs - pos)
        } else {
            (abs >= -pos).then(|| abs + E8_FILE_SIZE)
        };
        if let Some(rel) = rel {
            data[i + 1..i + 5].copy_from_slice(&rel.to_le_bytes());
        }
        i += 5;
    }
}

/// Decompresses one WIM LZX chunk of `out_len` bytes with a 32 KiB window.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>> {
    let mut d = Lzx::new(DEFAULT_BLOCK.max(out_len.next_power_of_two()))?;
    let mut out = Vec::new();
    d.decompress_into(input, out_len, &mut out)?;
    Ok(out)
}
