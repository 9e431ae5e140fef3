//! MD4 (RFC 1320), MD5 (RFC 1321) and SHA-1 (RFC 3174) for `md4sum`, `md5sum` and
//! `sha1sum`: small, portable, pure integer code.
//!
//! These are the legacy digests iPXE offers for checking downloads; none of them is
//! collision resistant. They live here rather than in a crate dependency because the
//! SIMD backends of the usual crates do not build for the soft-float firmware targets.
//!
//! ```
//! use netboot_script::digest::{md5, sha1};
//! assert_eq!(md5(b"abc")[..4], [0x90, 0x01, 0x50, 0x98]);
//! assert_eq!(sha1(b"abc")[..4], [0xa9, 0x99, 0x3e, 0x36]);
//! ```

use alloc::vec::Vec;

use crate::runtime::Digest;

/// Computes `algorithm` over `data`: the bytes `md5sum` and friends print in hex.
/// SHA-2 comes from the `sha2` crate (its portable backend on the firmware targets).
pub fn compute(algorithm: Digest, data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    match algorithm {
        Digest::Md4 => md4(data).to_vec(),
        Digest::Md5 => md5(data).to_vec(),
        Digest::Sha1 => sha1(data).to_vec(),
        Digest::Sha224 => sha2::Sha224::digest(data).to_vec(),
        Digest::Sha256 => sha2::Sha256::digest(data).to_vec(),
        Digest::Sha384 => sha2::Sha384::digest(data).to_vec(),
        Digest::Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

/// The Merkle–Damgård padding shared by the three: `0x80`, zeros, and the message
/// length in bits (little-endian for MD4/MD5, big-endian for SHA-1), feeding each
/// 64-byte block to `compress`.
fn blocks(data: &[u8], big_endian_length: bool, mut compress: impl FnMut(&[u8; 64])) {
    let mut chunks = data.chunks_exact(64);
    for block in &mut chunks {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&b);
    }
    let rest = chunks.remainder();
    let bits = (data.len() as u64).wrapping_mul(8);
    let length = if big_endian_length {
        bits.to_be_bytes()
    } else {
        bits.to_le_bytes()
    };
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let total = if rest.len() < 56 { 64 } else { 128 };
    tail[total - 8..total].copy_from_slice(&length);
    for block in tail[..total].chunks_exact(64) {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&b);
    }
}

fn words_le(block: &[u8; 64]) -> [u32; 16] {
    let mut x = [0u32; 16];
    for (i, w) in x.iter_mut().enumerate() {
        *w = u32::from_le_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ]);
    }
    x
}

fn output_le(state: &[u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, w) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

const MD_INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// MD4 (RFC 1320) of `data`.
pub fn md4(data: &[u8]) -> [u8; 16] {
    let mut s = MD_INIT;
    blocks(data, false, |block| {
        let x = words_le(block);
        let [mut a, mut b, mut c, mut d] = s;
        let f = |x: u32, y: u32, z: u32| (x & y) | (!x & z);
        let g = |x: u32, y: u32, z: u32| (x & y) | (x & z) | (y & z);
        let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
        // Round 1: k = 0..16 in order, shifts 3 7 11 19.
        for i in 0..16 {
            let shift = [3, 7, 11, 19][i % 4];
            let t = a.wrapping_add(f(b, c, d)).wrapping_add(x[i]);
            (a, b, c, d) = (d, t.rotate_left(shift), b, c);
        }
        // Round 2: k = column order 0 4 8 12 1 5 …, shifts 3 5 9 13.
        for i in 0..16 {
            let k = (i % 4) * 4 + i / 4;
            let shift = [3, 5, 9, 13][i % 4];
            let t = a
                .wrapping_add(g(b, c, d))
                .wrapping_add(x[k])
                .wrapping_add(0x5a82_7999);
            (a, b, c, d) = (d, t.rotate_left(shift), b, c);
        }
        // Round 3: k = 0 8 4 12 2 10 6 14 1 9 5 13 3 11 7 15, shifts 3 9 11 15.
        const K3: [usize; 16] = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
        for (i, &k) in K3.iter().enumerate() {
            let shift = [3, 9, 11, 15][i % 4];
            let t = a
                .wrapping_add(h(b, c, d))
                .wrapping_add(x[k])
                .wrapping_add(0x6ed9_eba1);
            (a, b, c, d) = (d, t.rotate_left(shift), b, c);
        }
        s[0] = s[0].wrapping_add(a);
        s[1] = s[1].wrapping_add(b);
        s[2] = s[2].wrapping_add(c);
        s[3] = s[3].wrapping_add(d);
    });
    output_le(&s)
}

/// MD5's per-step shifts (RFC 1321 §3.4), four per round.
const MD5_SHIFTS: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// MD5's constants: `floor(abs(sin(i + 1)) * 2^32)` (RFC 1321 §3.4), tabulated so the
/// code needs no floating point.
const MD5_K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// MD5 (RFC 1321) of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut s = MD_INIT;
    blocks(data, false, |block| {
        let x = words_le(block);
        let [mut a, mut b, mut c, mut d] = s;
        for i in 0..64 {
            let round = i / 16;
            let (f, k) = match round {
                0 => ((b & c) | (!b & d), i),
                1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let t = a
                .wrapping_add(f)
                .wrapping_add(MD5_K[i])
                .wrapping_add(x[k])
                .rotate_left(MD5_SHIFTS[round][i % 4]);
            (a, b, c, d) = (d, b.wrapping_add(t), b, c);
        }
        s[0] = s[0].wrapping_add(a);
        s[1] = s[1].wrapping_add(b);
        s[2] = s[2].wrapping_add(c);
        s[3] = s[3].wrapping_add(d);
    });
    output_le(&s)
}

/// SHA-1 (RFC 3174) of `data`: the implementation netboot-image uses to check WIM
/// resources.
pub use netboot_image::sha1::sha1;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use core::fmt::Write;

    fn hex(bytes: &[u8]) -> String {
        let mut s = String::new();
        for b in bytes {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// The test suites of RFC 1320 §A.5 and RFC 1321 §A.5.
    const SUITE: [&str; 7] = [
        "",
        "a",
        "abc",
        "message digest",
        "abcdefghijklmnopqrstuvwxyz",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
    ];

    #[test]
    fn md4_matches_rfc_1320() {
        let expected = [
            "31d6cfe0d16ae931b73c59d7e0c089c0",
            "bde52cb31de33e46245e05fbdbd6fb24",
            "a448017aaf21d8525fc10ae87aa6729d",
            "d9130a8164549fe818874806e1c7014b",
            "d79e1c308aa5bbcdeea8ed63df412da9",
            "043f8582f241db351ce627e153e7f0e4",
            "e33b4ddc9c38f2199c3e7b164fcc0536",
        ];
        for (input, want) in SUITE.iter().zip(expected) {
            assert_eq!(hex(&md4(input.as_bytes())), want, "MD4 ({input:?})");
        }
    }

    #[test]
    fn md5_matches_rfc_1321() {
        let expected = [
            "d41d8cd98f00b204e9800998ecf8427e",
            "0cc175b9c0f1b6a831c399e269772661",
            "900150983cd24fb0d6963f7d28e17f72",
            "f96b697d7cb7938d525a2f31aaf161d0",
            "c3fcd3d76192e4007dfb496cca67e13b",
            "d174ab98d277d9f5a5611c2c9f419d9f",
            "57edf4a22be3c955ac49da2e2107b67a",
        ];
        for (input, want) in SUITE.iter().zip(expected) {
            assert_eq!(hex(&md5(input.as_bytes())), want, "MD5 ({input:?})");
        }
    }

    #[test]
    fn sha1_matches_rfc_3174() {
        // RFC 3174 §7.3 TEST1, TEST2 and TEST3 (a million "a"s), and TEST4.
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&[b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        let test4: Vec<u8> =
            b"0123456701234567012345670123456701234567012345670123456701234567".repeat(10);
        assert_eq!(
            hex(&sha1(&test4)),
            "dea356a2cddd90c7a7ecedc5ebb563934f460452"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn compute_dispatches_every_algorithm() {
        let lengths: Vec<usize> = [
            Digest::Md4,
            Digest::Md5,
            Digest::Sha1,
            Digest::Sha224,
            Digest::Sha256,
            Digest::Sha384,
            Digest::Sha512,
        ]
        .into_iter()
        .map(|a| compute(a, b"abc").len())
        .collect();
        assert_eq!(lengths, [16, 16, 20, 28, 32, 48, 64]);
        assert_eq!(
            hex(&compute(Digest::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(compute(Digest::Md5, b"abc"), md5(b"abc"));
    }

    /// Every length around the padding boundaries (55, 56, 63, 64, 119, 120 …), against
    /// the host's `md5sum`/`sha1sum` when they exist.
    #[test]
    #[cfg(unix)]
    fn padding_boundaries_match_the_host_tools() {
        extern crate std;
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        for tool in ["md5sum", "sha1sum"] {
            for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000] {
                let Ok(mut child) = Command::new(tool)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                else {
                    return; // no coreutils: the RFC vectors above still apply
                };
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(&data[..len])
                    .expect("write");
                let out = child.wait_with_output().expect("output");
                let text = String::from_utf8(out.stdout).expect("utf-8");
                let want = text.split_whitespace().next().expect("a digest");
                let got = match tool {
                    "md5sum" => hex(&md5(&data[..len])),
                    _ => hex(&sha1(&data[..len])),
                };
                assert_eq!(got, want, "{tool} of {len} bytes");
            }
        }
    }
}
