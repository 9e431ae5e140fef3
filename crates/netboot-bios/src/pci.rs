//! PCI configuration space through configuration mechanism #1 (ports 0xCF8/0xCFC), for
//! the `pci/` settings scope and `pciscan`.
//!
//! Segment 0 and the first 256 bytes of each function only (the ports reach no further;
//! extended space needs ECAM). Absent functions read as all-ones, as on the bus.

/// The CONFIG_ADDRESS dword for a function (bus << 8 | device << 3 | function) and a
/// register offset (rounded down to the dword).
pub const fn config_address(busdevfn: u32, offset: u8) -> u32 {
    0x8000_0000 | ((busdevfn & 0xffff) << 8) | (offset as u32 & 0xfc)
}

/// Reads `buf.len()` bytes of configuration space at `offset` of `busdevfn` (segment
/// << 16 | bus << 8 | device << 3 | function). Bytes beyond offset 0xff, and functions
/// on a segment other than 0, read as all-ones.
///
/// # Safety
///
/// Ports 0xCF8/0xCFC must be the host bridge's configuration mechanism #1, as on every
/// PC since PCI 2.0, and nothing else may use them meanwhile (netboot runs with
/// interrupts off). Reads have no side effects on standard configuration registers.
#[cfg(target_arch = "x86_64")]
pub unsafe fn read(busdevfn: u32, offset: u16, buf: &mut [u8]) {
    use core::arch::asm;
    buf.fill(0xff);
    if busdevfn >> 16 != 0 {
        return;
    }
    for (i, byte) in buf.iter_mut().enumerate() {
        let Some(at) = usize::from(offset)
            .checked_add(i)
            .and_then(|a| u8::try_from(a).ok())
        else {
            break;
        };
        let address = config_address(busdevfn, at);
        let data_port = 0xcfc + u16::from(at & 3);
        let value: u8;
        // SAFETY: forwarded to the caller: a dword write to CONFIG_ADDRESS selects the
        // register, a byte read from CONFIG_DATA (+ the byte offset) returns it.
        unsafe {
            asm!("out dx, eax", in("dx") 0xcf8u16, in("eax") address,
                 options(nomem, nostack, preserves_flags));
            asm!("in al, dx", out("al") value, in("dx") data_port,
                 options(nomem, nostack, preserves_flags));
        }
        *byte = value;
    }
}

/// Writes `data` to configuration space at `offset` of `busdevfn` (same addressing as
/// [`read`]), one byte at a time. Bytes beyond offset 0xff, and functions on a segment
/// other than 0, are not written.
///
/// # Safety
///
/// As for [`read`]; in addition, the caller must know what the write does to the device
/// (e.g. enabling bus mastering lets it DMA into memory the caller must have set up).
#[cfg(target_arch = "x86_64")]
pub unsafe fn write(busdevfn: u32, offset: u16, data: &[u8]) {
    use core::arch::asm;
    if busdevfn >> 16 != 0 {
        return;
    }
    for (i, &value) in data.iter().enumerate() {
        let Some(at) = usize::from(offset)
            .checked_add(i)
            .and_then(|a| u8::try_from(a).ok())
        else {
            break;
        };
        let address = config_address(busdevfn, at);
        let data_port = 0xcfc + u16::from(at & 3);
        // SAFETY: forwarded to the caller: a dword write to CONFIG_ADDRESS selects the
        // register, a byte write to CONFIG_DATA (+ the byte offset) sets that byte only.
        unsafe {
            asm!("out dx, eax", in("dx") 0xcf8u16, in("eax") address,
                 options(nomem, nostack, preserves_flags));
            asm!("out dx, al", in("dx") data_port, in("al") value,
                 options(nomem, nostack, preserves_flags));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_mechanism_one() {
        // Bus 0, device 3, function 0, register 0x10.
        assert_eq!(config_address(0x18, 0x10), 0x8000_1810);
        // Bus 0x12, device 0x1f, function 7, register 0x3e rounds down to 0x3c.
        assert_eq!(config_address(0x12ff, 0x3e), 0x8012_ff3c);
    }
}
