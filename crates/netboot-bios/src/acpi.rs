//! ACPI power-off (S5).
//!
//! Path: find the RSDP (first KiB of the EBDA, then 0xE0000–0xFFFFF), follow the XSDT (or
//! RSDT) to the FADT (`FACP`), take PM1a_CNT_BLK/PM1b_CNT_BLK from it, and decode the
//! `_S5_` package in the DSDT (then SSDTs) AML for SLP_TYPa/SLP_TYPb (0 if not found).
//! Power-off then writes `SLP_TYP << 10 | SLP_EN` to PM1a_CNT (and PM1b_CNT).
//!
//! Nothing read from memory is trusted: every table length is sanity-limited and checked
//! against what was actually read, checksums are verified (DSDT/SSDT excepted, see
//! [`load_table`]), and the AML decoder bounds-checks every byte. The parsers work on
//! byte slices and the walk on a [`PhysMemory`], so all of it is tested on the host.

use crate::mem::PhysMemory;

/// Signature of the Root System Description Pointer.
pub const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Length of a system description table header.
pub const SDT_HEADER_LEN: usize = 36;
/// The largest table accepted (DSDTs of real machines reach a few hundred KiB).
pub const MAX_TABLE_LEN: u32 = 4 << 20;
/// The largest number of root-table entries examined.
pub const MAX_ROOT_ENTRIES: usize = 256;

/// PM1_CNT: SLP_TYP field (bits 10–12).
pub const PM1_CNT_SLP_TYP_MASK: u16 = 0x7 << 10;
/// PM1_CNT: SLP_EN (bit 13).
pub const PM1_CNT_SLP_EN: u16 = 1 << 13;
/// PM1_CNT: SCI_EN (bit 0), set when the machine is in ACPI mode.
pub const PM1_CNT_SCI_EN: u16 = 1;

/// The fields of a valid RSDP that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0, 2 or more for ACPI 2.0+.
    pub revision: u8,
    /// Physical address of the RSDT.
    pub rsdt: u32,
    /// Physical address of the XSDT, or 0 if absent or if the extended part is invalid.
    pub xsdt: u64,
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Parses an RSDP candidate.
///
/// `bytes` must hold at least the 20-byte ACPI 1.0 part, whose checksum must be valid.
/// For revision ≥ 2 the XSDT address is used only if `bytes` also holds the whole
/// extended structure (its `length` field, at least 36) and the extended checksum is
/// valid; otherwise `xsdt` is 0 and the RSDT is used.
pub fn parse_rsdp(bytes: &[u8]) -> Option<Rsdp> {
    let v1 = bytes.get(..20)?;
    if &v1[..8] != RSDP_SIGNATURE || !checksum_ok(v1) {
        return None;
    }
    let revision = v1[15];
    let rsdt = le32(v1, 16)?;
    let ext = le32(bytes, 20)
        .and_then(|len| usize::try_from(len).ok())
        .filter(|&len| revision >= 2 && len >= 36)
        .and_then(|len| bytes.get(..len))
        .filter(|ext| checksum_ok(ext));
    let xsdt = ext.and_then(|ext| le64(ext, 24)).unwrap_or(0);
    Some(Rsdp {
        revision,
        rsdt,
        xsdt,
    })
}

/// Returns the table length from a table header if it is plausible:
/// at least [`SDT_HEADER_LEN`] and at most `max`.
pub fn table_length(header: &[u8], max: u32) -> Option<usize> {
    let len = le32(header, 4)?;
    if (SDT_HEADER_LEN as u32..=max).contains(&len) {
        usize::try_from(len).ok()
    } else {
        None
    }
}

/// The error [`check_table`] returns for a wrong checksum (and only for that).
pub const BAD_CHECKSUM: &str = "ACPI table checksum mismatch";

/// Checks a complete table: signature, length field equal to `table.len()`, checksum.
pub fn check_table(table: &[u8], signature: &[u8; 4]) -> Result<(), &'static str> {
    if table.len() < SDT_HEADER_LEN || &table[..4] != signature {
        return Err("ACPI table signature mismatch");
    }
    if le32(table, 4).and_then(|l| usize::try_from(l).ok()) != Some(table.len()) {
        return Err("ACPI table length mismatch");
    }
    if !checksum_ok(table) {
        return Err(BAD_CHECKSUM);
    }
    Ok(())
}

/// What power-off needs from the FADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fadt {
    /// Physical address of the DSDT (X_DSDT if present and below 4 GiB, else DSDT).
    pub dsdt: u64,
    /// SMI command port (0 if the machine has no legacy/ACPI mode switch).
    pub smi_cmd: u16,
    /// Value to write to `smi_cmd` to enter ACPI mode.
    pub acpi_enable: u8,
    /// PM1a control register I/O port (never 0).
    pub pm1a_cnt: u16,
    /// PM1b control register I/O port, 0 if there is none.
    pub pm1b_cnt: u16,
}

/// Reads an I/O port address from a Generic Address Structure at `at`, if the GAS is in
/// system I/O space and the address fits a port number.
fn gas_io_port(table: &[u8], at: usize) -> Option<u16> {
    let space = *table.get(at)?;
    let addr = le64(table, at + 4)?;
    if space == 1 && addr != 0 {
        u16::try_from(addr).ok()
    } else {
        None
    }
}

/// Extracts the power-off fields from a complete FADT (`table` includes the header; its
/// signature and checksum are checked by the caller through [`check_table`]).
///
/// Fields past the end of a short (old) FADT are treated as absent. PM1a_CNT_BLK is
/// required; the 64-bit X_ fields are used only where the 32-bit ones are zero (ports)
/// or where they point below 4 GiB (DSDT).
pub fn parse_fadt(table: &[u8]) -> Result<Fadt, &'static str> {
    // PM1b_CNT_BLK ends at offset 72: anything shorter is useless.
    if table.len() < 72 {
        return Err("FADT too short");
    }
    let dsdt32 = u64::from(le32(table, 40).unwrap_or(0));
    let xdsdt = le64(table, 140).unwrap_or(0);
    let dsdt = if xdsdt != 0 && xdsdt < crate::IDENTITY_MAP_LIMIT {
        xdsdt
    } else {
        dsdt32
    };
    let smi_cmd = le32(table, 48)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    let acpi_enable = table.get(52).copied().unwrap_or(0);
    let port = |legacy: usize, gas: usize| -> Result<u16, &'static str> {
        match le32(table, legacy).unwrap_or(0) {
            0 => Ok(gas_io_port(table, gas).unwrap_or(0)),
            p => u16::try_from(p).map_err(|_| "FADT PM1 control block is not an I/O port"),
        }
    };
    let pm1a_cnt = port(64, 172)?;
    let pm1b_cnt = port(68, 184)?;
    if pm1a_cnt == 0 {
        return Err("FADT has no PM1a control block");
    }
    Ok(Fadt {
        dsdt,
        smi_cmd,
        acpi_enable,
        pm1a_cnt,
        pm1b_cnt,
    })
}

/// Decodes an AML PkgLength at the start of `b`: (value, bytes used).
///
/// The value counts the PkgLength bytes themselves.
fn aml_pkg_length(b: &[u8]) -> Option<(usize, usize)> {
    let lead = *b.first()?;
    let follow = usize::from(lead >> 6);
    if follow == 0 {
        return Some((usize::from(lead & 0x3F), 1));
    }
    if lead & 0x30 != 0 {
        return None; // reserved bits must be zero in the multi-byte form
    }
    let mut len = usize::from(lead & 0x0F);
    for i in 0..follow {
        len |= usize::from(*b.get(1 + i)?) << (4 + 8 * i);
    }
    Some((len, 1 + follow))
}

/// Decodes an AML integer constant at the start of `b`: (value, bytes used).
fn aml_integer(b: &[u8]) -> Option<(u64, usize)> {
    Some(match *b.first()? {
        0x00 => (0, 1),                      // ZeroOp
        0x01 => (1, 1),                      // OneOp
        0xFF => (u64::MAX, 1),               // OnesOp
        0x0A => (u64::from(*b.get(1)?), 2),  // BytePrefix
        0x0B => (u64::from(le16(b, 1)?), 3), // WordPrefix
        0x0C => (u64::from(le32(b, 1)?), 5), // DWordPrefix
        0x0E => (le64(b, 1)?, 9),            // QWordPrefix
        _ => return None,
    })
}

/// Decodes `Name(_S5_, Package() { SLP_TYPa, SLP_TYPb, ... })` at `name` (the index of
/// `_S5_` in `aml`).
fn s5_at(aml: &[u8], name: usize) -> Option<(u8, u8)> {
    // NameOp, optionally followed by the root prefix '\'.
    let named = match name.checked_sub(1).map(|i| aml[i]) {
        Some(0x08) => true,
        Some(b'\\') => name.checked_sub(2).map(|i| aml[i]) == Some(0x08),
        _ => false,
    };
    if !named {
        return None;
    }
    let mut at = name + 4;
    if *aml.get(at)? != 0x12 {
        return None; // not a PackageOp (e.g. a method; not supported)
    }
    at += 1;
    let (pkg_len, used) = aml_pkg_length(aml.get(at..)?)?;
    let end = at.checked_add(pkg_len)?;
    let pkg = aml.get(..end)?; // the package must lie entirely inside the table
    at += used;
    let count = *pkg.get(at)?;
    at += 1;
    let (first, used) = aml_integer(pkg.get(at..)?)?;
    at += used;
    let (a, b) = if count >= 2 {
        let (second, _) = aml_integer(pkg.get(at..)?)?;
        (first, second)
    } else if count == 1 {
        // Old-style single integer: SLP_TYPa in the low byte, SLP_TYPb in the next.
        (first & 0xFF, (first >> 8) & 0xFF)
    } else {
        return None;
    };
    // SLP_TYP is a 3-bit field; anything else is garbage.
    Some((
        u8::try_from(a).ok().filter(|v| *v <= 7)?,
        u8::try_from(b).ok().filter(|v| *v <= 7)?,
    ))
}

/// Finds the `_S5_` package in AML bytecode and returns (SLP_TYPa, SLP_TYPb).
///
/// This is a pattern search, not an AML interpreter: it accepts `_S5_` only as the name
/// of a `Name` whose value is a package of integer constants. Every occurrence is tried
/// until one decodes cleanly.
pub fn find_s5(aml: &[u8]) -> Option<(u8, u8)> {
    aml.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"_S5_")
        .find_map(|(i, _)| s5_at(aml, i))
}

/// Looks for a valid RSDP in the first KiB of the EBDA, then in 0xE0000–0xFFFFF.
pub fn find_rsdp(mem: &impl PhysMemory) -> Option<Rsdp> {
    let ebda = mem
        .read_u16(0x40E)
        .map(|seg| u64::from(seg) << 4)
        .filter(|a| (0x500..0xA0000).contains(a));
    let areas = [ebda.map(|a| (a, 1024)), Some((0xE0000, 0x20000))];
    for (base, len) in areas.into_iter().flatten() {
        let Some(area) = mem.bytes(base, len) else {
            continue;
        };
        for off in (0..len.saturating_sub(19)).step_by(16) {
            let cand = &area[off..];
            if !cand.starts_with(RSDP_SIGNATURE) {
                continue;
            }
            // Give the parser the extended structure too when it fits in the area.
            let ext_len = le32(cand, 20)
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(0);
            let take = if (36..=1024).contains(&ext_len) && ext_len <= cand.len() {
                ext_len
            } else {
                20
            };
            if let Some(rsdp) = parse_rsdp(&cand[..take]) {
                return Some(rsdp);
            }
        }
    }
    None
}

/// Reads the complete table at `addr` and checks its signature and length.
///
/// The checksum is enforced only when `verify_checksum` is set: DSDT/SSDT checksums are
/// wrong on enough real machines that Linux merely warns about them, and a wrong SLP_TYP
/// just means the power-off does not happen.
pub fn load_table<'m>(
    mem: &'m impl PhysMemory,
    addr: u64,
    signature: &[u8; 4],
    verify_checksum: bool,
) -> Result<&'m [u8], &'static str> {
    let header = mem
        .bytes(addr, SDT_HEADER_LEN)
        .ok_or("ACPI table address unreadable")?;
    if &header[..4] != signature {
        return Err("ACPI table signature mismatch");
    }
    let len = table_length(header, MAX_TABLE_LEN).ok_or("ACPI table length implausible")?;
    let table = mem
        .bytes(addr, len)
        .ok_or("ACPI table extends past readable memory")?;
    match check_table(table, signature) {
        Err(e) if e == BAD_CHECKSUM && !verify_checksum => Ok(table),
        Err(e) => Err(e),
        Ok(()) => Ok(table),
    }
}

/// The root table (XSDT or RSDT): its entry bytes and the size of one entry.
fn root_table<'m>(
    mem: &'m impl PhysMemory,
    rsdp: &Rsdp,
) -> Result<(&'m [u8], usize), &'static str> {
    if rsdp.xsdt != 0
        && let Ok(xsdt) = load_table(mem, rsdp.xsdt, b"XSDT", true)
    {
        return Ok((&xsdt[SDT_HEADER_LEN..], 8));
    }
    let rsdt = load_table(mem, u64::from(rsdp.rsdt), b"RSDT", true)?;
    Ok((&rsdt[SDT_HEADER_LEN..], 4))
}

/// Physical addresses listed in a root table (at most [`MAX_ROOT_ENTRIES`]).
fn root_entries(entries: &[u8], size: usize) -> impl Iterator<Item = u64> + '_ {
    entries
        .chunks_exact(size)
        .take(MAX_ROOT_ENTRIES)
        .map(move |e| match size {
            8 => le64(e, 0).unwrap_or(0),
            _ => u64::from(le32(e, 0).unwrap_or(0)),
        })
}

/// Everything needed to enter S5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepControl {
    /// The FADT fields.
    pub fadt: Fadt,
    /// SLP_TYPa for S5 (0 if `_S5_` was not found).
    pub slp_typ_a: u8,
    /// SLP_TYPb for S5 (0 if `_S5_` was not found).
    pub slp_typ_b: u8,
    /// Whether `_S5_` was found (otherwise the SLP_TYP values are the default 0).
    pub s5_found: bool,
}

/// Walks RSDP → RSDT/XSDT → FADT → DSDT (then SSDTs) and returns the S5 parameters.
pub fn find_sleep_control(mem: &impl PhysMemory) -> Result<SleepControl, &'static str> {
    let rsdp = find_rsdp(mem).ok_or("ACPI RSDP not found")?;
    let (entries, size) = root_table(mem, &rsdp)?;
    let fadt_table = root_entries(entries, size)
        .filter(|&a| a != 0)
        .find_map(|a| load_table(mem, a, b"FACP", true).ok())
        .ok_or("ACPI FADT not found")?;
    let fadt = parse_fadt(fadt_table)?;
    let mut s5 = load_table(mem, fadt.dsdt, b"DSDT", false)
        .ok()
        .and_then(|dsdt| find_s5(&dsdt[SDT_HEADER_LEN..]));
    if s5.is_none() {
        s5 = root_entries(entries, size)
            .filter_map(|a| load_table(mem, a, b"SSDT", false).ok())
            .find_map(|ssdt| find_s5(&ssdt[SDT_HEADER_LEN..]));
    }
    let (slp_typ_a, slp_typ_b) = s5.unwrap_or((0, 0));
    Ok(SleepControl {
        fadt,
        slp_typ_a,
        slp_typ_b,
        s5_found: s5.is_some(),
    })
}

/// The PM1_CNT value that requests sleep state `slp_typ`, keeping the other bits of
/// `current` (SCI_EN in particular).
pub const fn pm1_cnt_sleep_value(current: u16, slp_typ: u8) -> u16 {
    (current & !(PM1_CNT_SLP_TYP_MASK | PM1_CNT_SLP_EN))
        | (((slp_typ & 7) as u16) << 10)
        | PM1_CNT_SLP_EN
}

/// ACPI power control over some physical memory: implements
/// [`netboot_core::platform::Power`].
#[derive(Debug)]
pub struct AcpiPower<M> {
    mem: M,
}

impl<M: PhysMemory> AcpiPower<M> {
    /// Creates the power controller.
    ///
    /// # Safety
    ///
    /// `mem` must show the machine's real physical memory (ACPI tables are read through
    /// it), and the caller must own the machine: [`Power::power`] writes the ACPI PM1
    /// control, SMI command and reset I/O ports.
    ///
    /// [`Power::power`]: netboot_core::platform::Power::power
    pub const unsafe fn new(mem: M) -> Self {
        Self { mem }
    }
}

#[cfg(target_arch = "x86_64")]
mod hw {
    use super::*;
    use crate::port::{inb, inw, io_delay, outb, outw};

    /// Switches to ACPI mode if the firmware left the machine in legacy mode.
    ///
    /// # Safety
    ///
    /// The FADT must describe this machine.
    unsafe fn enable_acpi(fadt: &Fadt) {
        // SAFETY: ports from the FADT (caller's contract).
        unsafe {
            if inw(fadt.pm1a_cnt) & PM1_CNT_SCI_EN != 0
                || fadt.smi_cmd == 0
                || fadt.acpi_enable == 0
            {
                return;
            }
            outb(fadt.smi_cmd, fadt.acpi_enable);
            for _ in 0..300_000 {
                if inw(fadt.pm1a_cnt) & PM1_CNT_SCI_EN != 0 {
                    return;
                }
                io_delay();
            }
        }
    }

    /// Requests S5. Returns only if the machine is still running afterwards.
    ///
    /// # Safety
    ///
    /// `sleep` must describe this machine.
    pub(super) unsafe fn enter_s5(sleep: &SleepControl) {
        // SAFETY: ports from the FADT (caller's contract).
        unsafe {
            enable_acpi(&sleep.fadt);
            let a = pm1_cnt_sleep_value(inw(sleep.fadt.pm1a_cnt), sleep.slp_typ_a);
            outw(sleep.fadt.pm1a_cnt, a);
            if sleep.fadt.pm1b_cnt != 0 {
                let b = pm1_cnt_sleep_value(inw(sleep.fadt.pm1b_cnt), sleep.slp_typ_b);
                outw(sleep.fadt.pm1b_cnt, b);
            }
            // Give slow hardware a moment (about 100 ms) before declaring failure.
            for _ in 0..100_000 {
                io_delay();
            }
        }
    }

    /// Resets through the PCI reset control register (0xCF9), then the keyboard controller.
    ///
    /// # Safety
    ///
    /// The caller must own the machine.
    pub(super) unsafe fn reset() {
        // SAFETY: standard PC reset ports (caller's contract).
        unsafe {
            outb(0xCF9, 0x02);
            io_delay();
            outb(0xCF9, 0x06);
            for _ in 0..10_000 {
                io_delay();
            }
            for _ in 0..10_000 {
                if inb(0x64) & 0x02 == 0 {
                    break;
                }
                io_delay();
            }
            outb(0x64, 0xFE);
            for _ in 0..100_000 {
                io_delay();
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<M: PhysMemory> netboot_core::platform::Power for AcpiPower<M> {
    fn power(&mut self, action: netboot_core::platform::PowerAction) -> &'static str {
        use netboot_core::platform::PowerAction;
        match action {
            PowerAction::PowerOff => {
                let sleep = match find_sleep_control(&self.mem) {
                    Ok(sleep) => sleep,
                    Err(reason) => return reason,
                };
                // SAFETY: `new`'s contract: the tables describe this machine, which we own.
                unsafe { hw::enter_s5(&sleep) };
                "the machine ignored the ACPI S5 request"
            }
            PowerAction::Reboot => {
                // SAFETY: `new`'s contract: we own the machine.
                unsafe { hw::reset() };
                "the machine ignored the reset requests"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::fake::FakeMemory;
    use std::vec;
    use std::vec::Vec;

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn rsdp_v1(rsdt: u32) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(RSDP_SIGNATURE);
        r.push(0); // checksum
        r.extend_from_slice(b"NETBT ");
        r.push(0); // revision
        r.extend_from_slice(&rsdt.to_le_bytes());
        fix_checksum(&mut r, 8);
        r
    }

    fn rsdp_v2(rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut r = rsdp_v1(rsdt);
        r[15] = 2;
        fix_checksum(&mut r, 8);
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]); // extended checksum + reserved
        fix_checksum(&mut r, 32);
        r
    }

    fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(sig);
        t.extend_from_slice(&((SDT_HEADER_LEN + body.len()) as u32).to_le_bytes());
        t.push(1); // revision
        t.push(0); // checksum
        t.extend_from_slice(b"NETBT NETBOOT 1\0\0\0NB  \0\0\0\0");
        assert_eq!(t.len(), SDT_HEADER_LEN);
        t.extend_from_slice(body);
        fix_checksum(&mut t, 9);
        t
    }

    fn fadt_body(dsdt: u32, pm1a: u32, pm1b: u32) -> Vec<u8> {
        // Full ACPI 2.0-sized FADT (244 bytes) so the X_ fields exist.
        let mut f = vec![0u8; 244 - SDT_HEADER_LEN];
        let mut put = |off: usize, v: u32| f[off - 36..off - 32].copy_from_slice(&v.to_le_bytes());
        put(40, dsdt);
        put(48, 0xB2); // SMI_CMD
        put(64, pm1a);
        put(68, pm1b);
        f[52 - 36] = 0xF1; // ACPI_ENABLE
        f
    }

    /// `Name(\_S5_, Package(4) { a, b, 0, 0 })` with `a`/`b` as BytePrefix constants,
    /// surrounded by other AML.
    fn s5_aml(a: u8, b: u8) -> Vec<u8> {
        let mut aml = vec![
            0x08, b'_', b'S', b'4', b'_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00,
        ];
        aml.extend_from_slice(&[
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0A, a, 0x0A, b, 0x00, 0x00,
        ]);
        aml.extend_from_slice(&[0x14, 0x05, b'_', b'P', b'T', b'S', 0x01]);
        aml
    }

    #[test]
    fn rsdp_checksums() {
        let good = rsdp_v1(0x1234_5678);
        assert_eq!(
            parse_rsdp(&good),
            Some(Rsdp {
                revision: 0,
                rsdt: 0x1234_5678,
                xsdt: 0
            })
        );
        let mut bad = good.clone();
        bad[16] ^= 1;
        assert_eq!(parse_rsdp(&bad), None, "bad checksum");
        assert_eq!(parse_rsdp(&good[..19]), None, "truncated");
        let mut wrong_sig = good.clone();
        wrong_sig[0] = b'X';
        fix_checksum(&mut wrong_sig, 8);
        assert_eq!(parse_rsdp(&wrong_sig), None, "signature");
    }

    #[test]
    fn rsdp_v2_uses_xsdt_only_when_valid() {
        let good = rsdp_v2(0x1000, 0x2000);
        assert_eq!(parse_rsdp(&good).map(|r| r.xsdt), Some(0x2000));
        // Extended checksum broken: keep the RSDT.
        let mut bad = good.clone();
        bad[24] ^= 0x10;
        assert_eq!(
            parse_rsdp(&bad),
            Some(Rsdp {
                revision: 2,
                rsdt: 0x1000,
                xsdt: 0
            })
        );
        // Length past the end of what we have: keep the RSDT.
        let mut long = good.clone();
        long[20..24].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        fix_checksum(&mut long, 32);
        assert_eq!(parse_rsdp(&long).map(|r| r.xsdt), Some(0));
        // Only the v1 part available.
        assert_eq!(parse_rsdp(&good[..20]).map(|r| r.xsdt), Some(0));
    }

    #[test]
    fn table_checks() {
        let t = table(b"FACP", &fadt_body(0, 0x604, 0));
        assert_eq!(check_table(&t, b"FACP"), Ok(()));
        assert!(check_table(&t, b"DSDT").is_err());
        assert!(
            check_table(&t[..t.len() - 1], b"FACP").is_err(),
            "truncated"
        );
        let mut bad = t.clone();
        bad[100] ^= 0xFF;
        assert_eq!(check_table(&bad, b"FACP"), Err(BAD_CHECKSUM));
        assert_eq!(table_length(&t, MAX_TABLE_LEN), Some(244));
        assert_eq!(table_length(&t, 100), None, "length over the limit");
        let mut tiny = t.clone();
        tiny[4..8].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(
            table_length(&tiny, MAX_TABLE_LEN),
            None,
            "length under the header size"
        );
        assert_eq!(
            table_length(&t[..6], MAX_TABLE_LEN),
            None,
            "truncated header"
        );
    }

    #[test]
    fn fadt_fields() {
        let t = table(b"FACP", &fadt_body(0xDEAD0, 0x604, 0));
        let f = parse_fadt(&t).expect("valid FADT");
        assert_eq!(
            f,
            Fadt {
                dsdt: 0xDEAD0,
                smi_cmd: 0xB2,
                acpi_enable: 0xF1,
                pm1a_cnt: 0x604,
                pm1b_cnt: 0
            }
        );
        // Short (ACPI 1.0-like) FADT still works; truncated before PM1b does not.
        assert_eq!(parse_fadt(&t[..116]).map(|f| f.pm1a_cnt), Ok(0x604));
        assert!(parse_fadt(&t[..70]).is_err());
        // No PM1a block at all.
        assert!(parse_fadt(&table(b"FACP", &fadt_body(1, 0, 0))).is_err());
        // PM1a port out of I/O space.
        assert!(parse_fadt(&table(b"FACP", &fadt_body(1, 0x1_0000, 0))).is_err());
    }

    #[test]
    fn fadt_x_fields() {
        let mut body = fadt_body(0x1000, 0, 0);
        body[140 - 36..148 - 36].copy_from_slice(&0x2000u64.to_le_bytes()); // X_DSDT
        body[172 - 36] = 1; // X_PM1a_CNT_BLK: system I/O
        body[176 - 36..184 - 36].copy_from_slice(&0x1804u64.to_le_bytes());
        let f = parse_fadt(&table(b"FACP", &body)).expect("valid");
        assert_eq!((f.dsdt, f.pm1a_cnt), (0x2000, 0x1804));
        // X_DSDT above 4 GiB is ignored.
        body[140 - 36..148 - 36].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
        assert_eq!(
            parse_fadt(&table(b"FACP", &body)).map(|f| f.dsdt),
            Ok(0x1000)
        );
    }

    #[test]
    fn s5_decoding() {
        assert_eq!(find_s5(&s5_aml(5, 6)), Some((5, 6)));
        // ZeroOp/OneOp elements, no root prefix (QEMU's style).
        assert_eq!(
            find_s5(&[
                0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00
            ]),
            Some((0, 1))
        );
        // Word and dword constants.
        assert_eq!(
            find_s5(&[
                0x08, b'_', b'S', b'5', b'_', 0x12, 0x0A, 0x02, 0x0B, 7, 0, 0x0C, 3, 0, 0, 0
            ]),
            Some((7, 3))
        );
        // Single-integer old style.
        assert_eq!(
            find_s5(&[
                0x08, b'_', b'S', b'5', b'_', 0x12, 0x05, 0x01, 0x0B, 0x07, 0x05
            ]),
            Some((7, 5))
        );
        // Multi-byte PkgLength.
        assert_eq!(
            find_s5(&[
                0x08, b'_', b'S', b'5', b'_', 0x12, 0x47, 0x00, 0x02, 0x0A, 2, 0x0A, 3
            ]),
            Some((2, 3))
        );
        // Absent.
        assert_eq!(find_s5(b"no sleep states here"), None);
    }

    #[test]
    fn s5_hostile() {
        let full = s5_aml(5, 6);
        let s5 = full.windows(4).position(|w| w == b"_S5_").expect("present");
        // Every truncation fails cleanly (or finds nothing) instead of panicking.
        for cut in 0..full.len() {
            let r = find_s5(&full[..cut]);
            assert!(r.is_none() || cut > s5 + 12, "cut {cut} -> {r:?}");
        }
        // Package length past the end of the table.
        let mut long = full.clone();
        long[s5 + 5] = 0x3F;
        assert_eq!(find_s5(&long[..s5 + 15]), None);
        // `_S5_` that is not a Name: the method name, a string, etc.
        assert_eq!(
            find_s5(&[0x14, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x01, 0x00]),
            None
        );
        // Not a package.
        assert_eq!(find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x0A, 0x05]), None);
        // Values that do not fit SLP_TYP, and an unsupported element.
        assert_eq!(
            find_s5(&[
                0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x02, 0x0A, 9, 0x0A, 1
            ]),
            None
        );
        assert_eq!(
            find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0xFF, 0xFF]),
            None
        );
        assert_eq!(
            find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0x0D, b'x']),
            None
        );
        // Reserved PkgLength bits set; zero elements; `_S5_` at the very start.
        assert_eq!(
            find_s5(&[
                0x08, b'_', b'S', b'5', b'_', 0x12, 0x70, 0x00, 0x02, 0x00, 0x00
            ]),
            None
        );
        assert_eq!(
            find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x02, 0x00]),
            None
        );
        assert_eq!(find_s5(b"_S5_\x12\x04\x02\x00\x00"), None);
        // A broken first occurrence does not hide a good second one.
        let mut two = vec![0x08, b'_', b'S', b'5', b'_', 0x0A];
        two.extend_from_slice(&full);
        assert_eq!(find_s5(&two), Some((5, 6)));
    }

    #[test]
    fn sleep_value_keeps_other_bits() {
        assert_eq!(pm1_cnt_sleep_value(0, 0), 0x2000);
        assert_eq!(pm1_cnt_sleep_value(0x0001, 5), 0x2000 | (5 << 10) | 1);
        assert_eq!(pm1_cnt_sleep_value(0x3C01, 0), 0x2001);
    }

    /// A machine in the style of QEMU: RSDP in the BIOS area, RSDT → FACP → DSDT.
    fn machine(rsdp: Vec<u8>, rsdt: Vec<u8>, fadt: Vec<u8>, dsdt: Vec<u8>) -> FakeMemory {
        let mut bios = vec![0u8; 0x20000];
        bios[0x5A40..0x5A40 + rsdp.len()].copy_from_slice(&rsdp);
        FakeMemory::default()
            .with(0x400, &[0u8; 0x100]) // BDA, EBDA pointer 0
            .with(0xE0000, &bios)
            .with(0x7FE0000, &rsdt)
            .with(0x7FE1000, &fadt)
            .with(0x7FE2000, &dsdt)
    }

    fn rsdt_with(entries: &[u32]) -> Vec<u8> {
        let body: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        table(b"RSDT", &body)
    }

    #[test]
    fn walk_finds_s5() {
        let mem = machine(
            rsdp_v1(0x7FE0000),
            rsdt_with(&[0x7FE2000, 0x7FE1000]), // DSDT is not a root entry, but a wrong one is skipped
            table(b"FACP", &fadt_body(0x7FE2000, 0x604, 0)),
            table(b"DSDT", &s5_aml(5, 0)),
        );
        let s = find_sleep_control(&mem).expect("found");
        assert_eq!(
            (s.fadt.pm1a_cnt, s.slp_typ_a, s.slp_typ_b, s.s5_found),
            (0x604, 5, 0, true)
        );
    }

    #[test]
    fn walk_with_xsdt_and_ebda() {
        let xsdt = table(b"XSDT", &0x7FE1000u64.to_le_bytes());
        let mut bda = vec![0u8; 0x100];
        bda[0x0E..0x10].copy_from_slice(&0x9FC0u16.to_le_bytes());
        let mut ebda = vec![0u8; 0x400];
        let rsdp = rsdp_v2(0xBAD, 0x7FE3000);
        ebda[0x30..0x30 + rsdp.len()].copy_from_slice(&rsdp);
        let mem = FakeMemory::default()
            .with(0x400, &bda)
            .with(0x9FC00, &ebda)
            .with(0x7FE3000, &xsdt)
            .with(
                0x7FE1000,
                &table(b"FACP", &fadt_body(0x7FE2000, 0x404, 0x408)),
            )
            .with(0x7FE2000, &table(b"DSDT", &s5_aml(7, 7)));
        let s = find_sleep_control(&mem).expect("found");
        assert_eq!(
            (s.fadt.pm1a_cnt, s.fadt.pm1b_cnt, s.slp_typ_a),
            (0x404, 0x408, 7)
        );
    }

    #[test]
    fn walk_defaults_without_s5_and_rejects_hostile_tables() {
        let rsdt = rsdt_with(&[0x7FE1000]);
        let fadt = table(b"FACP", &fadt_body(0x7FE2000, 0x604, 0));
        // No _S5_ anywhere: defaults to 0.
        let s = find_sleep_control(&machine(
            rsdp_v1(0x7FE0000),
            rsdt.clone(),
            fadt.clone(),
            table(b"DSDT", b""),
        ))
        .expect("found");
        assert_eq!((s.slp_typ_a, s.s5_found), (0, false));
        // DSDT with a wrong checksum is still searched.
        let mut dsdt = table(b"DSDT", &s5_aml(3, 3));
        dsdt[9] ^= 1;
        let s = find_sleep_control(&machine(
            rsdp_v1(0x7FE0000),
            rsdt.clone(),
            fadt.clone(),
            dsdt,
        ))
        .expect("found");
        assert_eq!(s.slp_typ_a, 3);
        // DSDT length past the readable memory: S5 default, no panic.
        let mut dsdt = table(b"DSDT", &s5_aml(3, 3));
        dsdt[4..8].copy_from_slice(&0x10_0000u32.to_le_bytes());
        let s = find_sleep_control(&machine(
            rsdp_v1(0x7FE0000),
            rsdt.clone(),
            fadt.clone(),
            dsdt,
        ))
        .expect("found");
        assert!(!s.s5_found);
        // RSDT with a bad checksum: error.
        let mut bad_rsdt = rsdt.clone();
        bad_rsdt[36] ^= 1;
        assert!(
            find_sleep_control(&machine(
                rsdp_v1(0x7FE0000),
                bad_rsdt,
                fadt.clone(),
                table(b"DSDT", b"")
            ))
            .is_err()
        );
        // RSDT length past the end of memory / absurdly large.
        let mut long_rsdt = rsdt.clone();
        long_rsdt[4..8].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        assert_eq!(
            find_sleep_control(&machine(
                rsdp_v1(0x7FE0000),
                long_rsdt,
                fadt.clone(),
                table(b"DSDT", b"")
            )),
            Err("ACPI table length implausible")
        );
        // FADT with a bad checksum: not accepted.
        let mut bad_fadt = fadt.clone();
        bad_fadt[64] ^= 1;
        assert_eq!(
            find_sleep_control(&machine(
                rsdp_v1(0x7FE0000),
                rsdt.clone(),
                bad_fadt,
                table(b"DSDT", b"")
            )),
            Err("ACPI FADT not found")
        );
        // RSDP with a bad checksum: not found.
        let mut bad_rsdp = rsdp_v1(0x7FE0000);
        bad_rsdp[19] ^= 1;
        assert_eq!(
            find_sleep_control(&machine(bad_rsdp, rsdt, fadt, table(b"DSDT", b""))),
            Err("ACPI RSDP not found")
        );
        // Nothing readable at all.
        assert_eq!(
            find_sleep_control(&FakeMemory::default()),
            Err("ACPI RSDP not found")
        );
    }
}
