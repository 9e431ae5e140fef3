//! Bounds-checked little/big-endian reads. Every read returns `None` past the end.

#[inline]
pub(crate) fn u8_at(d: &[u8], off: usize) -> Option<u8> {
    d.get(off).copied()
}

#[inline]
pub(crate) fn arr<const N: usize>(d: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    let s = d.get(off..end)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Some(a)
}

#[inline]
pub(crate) fn le16(d: &[u8], off: usize) -> Option<u16> {
    arr::<2>(d, off).map(u16::from_le_bytes)
}

#[inline]
pub(crate) fn le32(d: &[u8], off: usize) -> Option<u32> {
    arr::<4>(d, off).map(u32::from_le_bytes)
}

#[inline]
pub(crate) fn le64(d: &[u8], off: usize) -> Option<u64> {
    arr::<8>(d, off).map(u64::from_le_bytes)
}

#[inline]
pub(crate) fn be32(d: &[u8], off: usize) -> Option<u32> {
    arr::<4>(d, off).map(u32::from_be_bytes)
}

/// `d[off..off + len]` with 64-bit, overflow-safe arithmetic.
#[inline]
pub(crate) fn slice(d: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let end = off.checked_add(len)?;
    if end > d.len() as u64 {
        return None;
    }
    d.get(usize::try_from(off).ok()?..usize::try_from(end).ok()?)
}

/// Bytes up to the first NUL (or `max` bytes, or the end).
pub(crate) fn cstr(d: &[u8], off: usize, max: usize) -> Option<&[u8]> {
    let rest = d.get(off..)?;
    let rest = &rest[..rest.len().min(max)];
    let n = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    Some(&rest[..n])
}

/// Trims trailing spaces and NULs (ISO identifiers, section names).
pub(crate) fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | 0] = s {
        s = rest;
    }
    s
}
