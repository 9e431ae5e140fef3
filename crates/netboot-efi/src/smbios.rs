//! SMBIOS system information (type 1) for `${manufacturer}`, `${product}`, `${serial}`
//! and `${uuid}`.
//!
//! [`parse_entry_point`] and [`system_info`] are pure parsers over bytes (tested on the
//! host); [`read_system_info`] finds the table through the EFI configuration table.

use alloc::string::{String, ToString};
use core::fmt::Write as _;

/// Where the structure table is, from an entry point structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryPoint {
    /// Physical address of the structure table.
    pub table_address: u64,
    /// Its length (for SMBIOS 3, the maximum length).
    pub table_len: u32,
    /// SMBIOS version (major, minor).
    pub version: (u8, u8),
}

/// Reads a 32-bit (`_SM_`) or 64-bit (`_SM3_`) entry point structure.
pub fn parse_entry_point(eps: &[u8]) -> Option<EntryPoint> {
    if eps.starts_with(b"_SM3_") {
        let len = u32::from_le_bytes(eps.get(0x0c..0x10)?.try_into().ok()?);
        let address = u64::from_le_bytes(eps.get(0x10..0x18)?.try_into().ok()?);
        return Some(EntryPoint {
            table_address: address,
            table_len: len,
            version: (*eps.get(0x07)?, *eps.get(0x08)?),
        });
    }
    if eps.starts_with(b"_SM_") && eps.get(0x10..0x15) == Some(b"_DMI_") {
        let len = u16::from_le_bytes(eps.get(0x16..0x18)?.try_into().ok()?);
        let address = u32::from_le_bytes(eps.get(0x18..0x1c)?.try_into().ok()?);
        return Some(EntryPoint {
            table_address: u64::from(address),
            table_len: u32::from(len),
            version: (*eps.get(0x06)?, *eps.get(0x07)?),
        });
    }
    None
}

/// The SMBIOS type 1 (System Information) strings and UUID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemInfo {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Product name.
    pub product: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// UUID in canonical text form (`8-4-4-4-12`, lower case); `None` when absent or unset.
    pub uuid: Option<String>,
}

/// Finds type 1 in a structure table and decodes it. `version` decides the UUID byte
/// order: from SMBIOS 2.6 the first three fields are little-endian.
pub fn system_info(table: &[u8], version: (u8, u8)) -> Option<SystemInfo> {
    let mut at = 0;
    while at + 4 <= table.len() {
        let kind = table[at];
        let len = usize::from(table[at + 1]);
        if len < 4 || at + len > table.len() {
            return None;
        }
        let formatted = &table[at..at + len];
        // The string set ends with two NULs (also when empty).
        let strings_start = at + len;
        let mut end = strings_start;
        loop {
            if end + 1 >= table.len() {
                return None;
            }
            if table[end] == 0 && table[end + 1] == 0 {
                break;
            }
            end += 1;
        }
        let strings = &table[strings_start..end];
        match kind {
            1 => return Some(decode_type1(formatted, strings, version)),
            127 => return None,
            _ => at = end + 2,
        }
    }
    None
}

fn decode_type1(formatted: &[u8], strings: &[u8], version: (u8, u8)) -> SystemInfo {
    let string = |offset: usize| -> Option<String> {
        let index = usize::from(*formatted.get(offset)?);
        let s = strings.split(|&b| b == 0).nth(index.checked_sub(1)?)?;
        let text = String::from_utf8_lossy(s);
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    };
    let uuid = formatted
        .get(8..24)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .filter(|u| u.iter().any(|&b| b != 0) && u.iter().any(|&b| b != 0xff))
        .map(|u| uuid_text(&u, version >= (2, 6)));
    SystemInfo {
        manufacturer: string(4),
        product: string(5),
        serial: string(7),
        uuid,
    }
}

/// Formats a UUID; `mixed_endian` swaps the first three fields (SMBIOS ≥ 2.6, EFI GUIDs).
fn uuid_text(u: &[u8; 16], mixed_endian: bool) -> String {
    let mut b = *u;
    if mixed_endian {
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
    }
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// Reads SMBIOS type 1 through the EFI configuration table (SMBIOS 3 preferred).
/// Boot services must be active.
pub fn read_system_info() -> Option<SystemInfo> {
    let (table, version) = read_table()?;
    system_info(&table, version)
}

/// The SMBIOS structure table (a copy) and version, through the EFI configuration table
/// (SMBIOS 3 preferred), for the `smbios/` settings scope. Boot services must be active.
#[cfg(target_os = "uefi")]
pub fn read_table() -> Option<(alloc::vec::Vec<u8>, (u8, u8))> {
    use uefi::table::cfg::ConfigTableEntry;
    let eps = uefi::system::with_config_table(|tables: &[ConfigTableEntry]| {
        [
            ConfigTableEntry::SMBIOS3_GUID,
            ConfigTableEntry::SMBIOS_GUID,
        ]
        .iter()
        .find_map(|guid| tables.iter().find(|t| t.guid == *guid))
        .map(|t| t.address.cast::<u8>())
    })?;
    if eps.is_null() {
        return None;
    }
    // SAFETY: the firmware publishes the entry point structure at this address; during
    // boot services memory is identity-mapped. Both forms are at least 0x18 bytes (SMBIOS 3)
    // and 0x1f bytes (SMBIOS 2), and the longer read is confined to the 2.x form, whose
    // anchor is checked first.
    let eps_bytes = unsafe {
        let len = if core::slice::from_raw_parts(eps, 4) == b"_SM_" {
            0x1f
        } else {
            0x18
        };
        core::slice::from_raw_parts(eps, len)
    };
    let entry = parse_entry_point(eps_bytes)?;
    let address = usize::try_from(entry.table_address).ok()?;
    if address == 0 || entry.table_len == 0 || entry.table_len > (1 << 20) {
        return None;
    }
    // SAFETY: the entry point says the structure table occupies `table_len` bytes at
    // `address`, identity-mapped firmware memory that lives as long as boot services.
    let table =
        unsafe { core::slice::from_raw_parts(address as *const u8, entry.table_len as usize) };
    Some((table.to_vec(), entry.version))
}

/// Not on UEFI: there is no SMBIOS to read.
#[cfg(not(target_os = "uefi"))]
pub fn read_table() -> Option<(alloc::vec::Vec<u8>, (u8, u8))> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn structure(kind: u8, formatted: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut s = Vec::new();
        s.push(kind);
        s.push(4 + formatted.len() as u8);
        s.extend_from_slice(&[0x00, 0x01]);
        s.extend_from_slice(formatted);
        for t in strings {
            s.extend_from_slice(t.as_bytes());
            s.push(0);
        }
        if strings.is_empty() {
            s.push(0);
        }
        s.push(0);
        s
    }

    #[test]
    fn type1_after_other_structures() {
        let mut table = structure(
            0,
            &[1, 2, 0, 0],
            &["EFI Development Kit II / OVMF", "0.0.0"],
        );
        let mut t1 = Vec::from([1u8, 2, 0, 3]);
        t1.extend_from_slice(&[
            0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
            0x07, 0x08,
        ]);
        t1.extend_from_slice(&[6, 0, 0]);
        table.extend(structure(
            1,
            &t1,
            &["QEMU", "Standard PC (Q35 + ICH9, 2009)", "  SN-42 "],
        ));
        table.extend(structure(127, &[], &[]));
        let info = system_info(&table, (2, 8)).expect("type 1");
        assert_eq!(info.manufacturer.as_deref(), Some("QEMU"));
        assert_eq!(
            info.product.as_deref(),
            Some("Standard PC (Q35 + ICH9, 2009)")
        );
        assert_eq!(info.serial.as_deref(), Some("SN-42"));
        assert_eq!(
            info.uuid.as_deref(),
            Some("12345678-9abc-def0-0102-030405060708")
        );
        // Before 2.6 the UUID is in network byte order throughout.
        let old = system_info(&table, (2, 4)).expect("type 1");
        assert_eq!(
            old.uuid.as_deref(),
            Some("78563412-bc9a-f0de-0102-030405060708")
        );
    }

    #[test]
    fn absent_strings_and_unset_uuids_are_none() {
        let mut t1 = Vec::from([0u8, 0, 0, 0]);
        t1.extend_from_slice(&[0xff; 16]);
        let table = structure(1, &t1, &[]);
        assert_eq!(system_info(&table, (3, 0)), Some(SystemInfo::default()));
        // A short 2.0 structure without the UUID field.
        let table = structure(1, &[1, 0, 0, 0], &["Vendor"]);
        let info = system_info(&table, (2, 0)).expect("type 1");
        assert_eq!(info.manufacturer.as_deref(), Some("Vendor"));
        assert_eq!(info.uuid, None);
    }

    #[test]
    fn malformed_tables_end_the_walk() {
        assert_eq!(system_info(&[], (3, 0)), None);
        assert_eq!(system_info(&[1, 2, 0, 0], (3, 0)), None);
        assert_eq!(system_info(&[0, 40, 0, 0, 0, 0], (3, 0)), None);
        let table = structure(0, &[1], &["x"]);
        assert_eq!(system_info(&table[..table.len() - 1], (3, 0)), None);
    }

    #[test]
    fn entry_points() {
        let mut sm3 = [0u8; 0x18];
        sm3[..5].copy_from_slice(b"_SM3_");
        sm3[7] = 3;
        sm3[8] = 2;
        sm3[0x0c..0x10].copy_from_slice(&0x1234u32.to_le_bytes());
        sm3[0x10..0x18].copy_from_slice(&0xbf00_0000u64.to_le_bytes());
        assert_eq!(
            parse_entry_point(&sm3),
            Some(EntryPoint {
                table_address: 0xbf00_0000,
                table_len: 0x1234,
                version: (3, 2)
            })
        );
        let mut sm = [0u8; 0x1f];
        sm[..4].copy_from_slice(b"_SM_");
        sm[6] = 2;
        sm[7] = 8;
        sm[0x10..0x15].copy_from_slice(b"_DMI_");
        sm[0x16..0x18].copy_from_slice(&0x200u16.to_le_bytes());
        sm[0x18..0x1c].copy_from_slice(&0xf0000u32.to_le_bytes());
        assert_eq!(
            parse_entry_point(&sm),
            Some(EntryPoint {
                table_address: 0xf0000,
                table_len: 0x200,
                version: (2, 8)
            })
        );
        assert_eq!(parse_entry_point(b"_SM_"), None);
        assert_eq!(parse_entry_point(b"junk"), None);
    }
}
