//! The SMBIOS structure table through the EFI configuration table, for the `smbios/`
//! settings scope and the named settings netboot-script derives from it (`${manufacturer}`,
//! `${product}`, `${serial}`, `${uuid}`, `${asset}`, `${board-serial}`).
//!
//! [`parse_entry_point`] is a pure parser over bytes (tested on the host); [`read_table`]
//! finds the table.

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
