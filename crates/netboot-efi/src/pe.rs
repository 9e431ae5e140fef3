//! Checks an image before `LoadImage`, so that the common mistakes get an explanation
//! instead of a bare `EFI_LOAD_ERROR` or `EFI_UNSUPPORTED`: a Linux kernel without an EFI
//! stub, a PE file for another CPU, a Windows program.
//!
//! Pure functions over bytes; they run on the host in tests.

use core::fmt;

/// PE machine type of the images this firmware runs natively.
#[cfg(target_arch = "aarch64")]
pub const NATIVE_MACHINE: u16 = MACHINE_AARCH64;
/// PE machine type of the images this firmware runs natively.
#[cfg(not(target_arch = "aarch64"))]
pub const NATIVE_MACHINE: u16 = MACHINE_X86_64;

/// `IMAGE_FILE_MACHINE_AMD64`.
pub const MACHINE_X86_64: u16 = 0x8664;
/// `IMAGE_FILE_MACHINE_ARM64`.
pub const MACHINE_AARCH64: u16 = 0xaa64;
/// `IMAGE_FILE_MACHINE_EBC`: EFI byte code, run by the firmware's interpreter if it has one.
pub const MACHINE_EBC: u16 = 0x0ebc;

/// The parts of a PE header that decide whether UEFI can start an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeInfo {
    /// COFF machine type (`0x8664` for x86-64).
    pub machine: u16,
    /// Optional-header subsystem (10 application, 11 boot-service driver, 12 runtime driver).
    pub subsystem: u16,
}

/// Why an image cannot be started by UEFI's `LoadImage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageProblem {
    /// An x86 Linux bzImage (`HdrS` at 0x202) without a PE header: built without
    /// `CONFIG_EFI_STUB`.
    BzImageWithoutStub,
    /// An iPXE/netboot script: run it, do not execute it.
    Script,
    /// An ELF file (a Linux `vmlinux`, a multiboot kernel…).
    Elf,
    /// No `MZ` signature at all.
    NotPe,
    /// `MZ` but no valid `PE\0\0` header (a DOS program, or truncated).
    NoPeHeader,
    /// A PE image for another CPU.
    WrongMachine {
        /// The image's machine type.
        machine: u16,
    },
    /// A PE image that is not an EFI application or driver (a Windows program).
    NotEfiSubsystem {
        /// The image's subsystem.
        subsystem: u16,
    },
}

impl ImageProblem {
    /// A stable small code for [`netboot_core::platform::PlatformError::code`].
    pub fn code(&self) -> u32 {
        match self {
            ImageProblem::BzImageWithoutStub => 2,
            ImageProblem::WrongMachine { .. } => 3,
            ImageProblem::NotEfiSubsystem { .. } => 4,
            ImageProblem::Script
            | ImageProblem::Elf
            | ImageProblem::NotPe
            | ImageProblem::NoPeHeader => 1,
        }
    }
}

impl fmt::Display for ImageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ImageProblem::BzImageWithoutStub => f.write_str(
                "this kernel has no EFI stub: UEFI cannot start it; use a kernel built with CONFIG_EFI_STUB",
            ),
            ImageProblem::Script => {
                f.write_str("this is a script, not an EFI image: run it with `chain` or `imgexec`")
            }
            ImageProblem::Elf => f.write_str(
                "this is an ELF file, not an EFI image: UEFI starts PE/COFF images only (a Linux kernel must be the bzImage with an EFI stub, not vmlinux)",
            ),
            ImageProblem::NotPe => {
                f.write_str("this is not an EFI image: it does not start with the \"MZ\" signature")
            }
            ImageProblem::NoPeHeader => f.write_str(
                "this is not an EFI image: it has an \"MZ\" signature but no PE header (a DOS program, or a truncated download)",
            ),
            ImageProblem::WrongMachine { machine } => write!(
                f,
                "this EFI image is for {} (PE machine {machine:#06x}); this firmware runs {} images",
                machine_name(machine),
                machine_name(NATIVE_MACHINE)
            ),
            ImageProblem::NotEfiSubsystem { subsystem } => write!(
                f,
                "this PE image is not for UEFI (subsystem {subsystem}, {}); UEFI starts applications and drivers (subsystems 10-12)",
                subsystem_name(subsystem)
            ),
        }
    }
}

/// A human name for a PE machine type.
pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        MACHINE_X86_64 => "x86-64",
        0x014c => "32-bit x86 (IA32)",
        MACHINE_AARCH64 => "AArch64 (ARM 64-bit)",
        0x01c0 | 0x01c2 | 0x01c4 => "32-bit ARM",
        0x0200 => "Itanium (IA-64)",
        0x5032 => "RISC-V 32-bit",
        0x5064 => "RISC-V 64-bit",
        0x5128 => "RISC-V 128-bit",
        0x6232 => "LoongArch 32-bit",
        0x6264 => "LoongArch 64-bit",
        MACHINE_EBC => "EFI byte code",
        _ => "an unknown CPU",
    }
}

fn subsystem_name(subsystem: u16) -> &'static str {
    match subsystem {
        1 => "native Windows",
        2 => "Windows GUI",
        3 => "Windows console",
        9 => "Windows CE",
        13 => "EFI ROM",
        _ => "unknown",
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        data.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Reads the PE header of an `MZ` image; `None` if there is no valid one.
pub fn pe_info(data: &[u8]) -> Option<PeInfo> {
    if !data.starts_with(b"MZ") {
        return None;
    }
    let pe = usize::try_from(u32_at(data, 0x3c)?).ok()?;
    if data.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let machine = u16_at(data, pe + 4)?;
    let optional_size = usize::from(u16_at(data, pe + 20)?);
    let optional = pe + 24;
    // Magic (2 bytes) … subsystem at offset 68 in both PE32 and PE32+.
    let magic = u16_at(data, optional)?;
    if !matches!(magic, 0x10b | 0x20b) || optional_size < 70 {
        return None;
    }
    let subsystem = u16_at(data, optional + 68)?;
    Some(PeInfo { machine, subsystem })
}

/// Whether `data` is an x86 Linux boot-protocol image (`HdrS` at 0x202).
pub fn is_bzimage(data: &[u8]) -> bool {
    data.get(0x202..0x206) == Some(b"HdrS")
}

/// Decides whether UEFI can start `data`, or explains why not.
///
/// ```
/// use netboot_efi::pe::{check_image, ImageProblem};
/// let mut bzimage = vec![0u8; 0x400];
/// bzimage[0x202..0x206].copy_from_slice(b"HdrS");
/// assert_eq!(check_image(&bzimage), Err(ImageProblem::BzImageWithoutStub));
/// ```
pub fn check_image(data: &[u8]) -> Result<PeInfo, ImageProblem> {
    let Some(info) = pe_info(data) else {
        return Err(if is_bzimage(data) {
            ImageProblem::BzImageWithoutStub
        } else if data.starts_with(b"#!ipxe") || data.starts_with(b"#!gpxe") {
            ImageProblem::Script
        } else if data.starts_with(b"\x7fELF") {
            ImageProblem::Elf
        } else if data.starts_with(b"MZ") {
            ImageProblem::NoPeHeader
        } else {
            ImageProblem::NotPe
        });
    };
    if info.machine != NATIVE_MACHINE && info.machine != MACHINE_EBC {
        return Err(ImageProblem::WrongMachine {
            machine: info.machine,
        });
    }
    if !(10..=12).contains(&info.subsystem) {
        return Err(ImageProblem::NotEfiSubsystem {
            subsystem: info.subsystem,
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A minimal PE32+ header at 0x80 with the given machine and subsystem.
    fn pe(machine: u16, subsystem: u16) -> Vec<u8> {
        let mut d = vec![0u8; 0x400];
        d[..2].copy_from_slice(b"MZ");
        d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        d[0x80..0x84].copy_from_slice(b"PE\0\0");
        d[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        d[0x94..0x96].copy_from_slice(&240u16.to_le_bytes());
        d[0x98..0x9a].copy_from_slice(&0x20bu16.to_le_bytes());
        d[0x98 + 68..0x98 + 70].copy_from_slice(&subsystem.to_le_bytes());
        d
    }

    #[test]
    fn accepts_native_efi_applications_and_drivers() {
        for subsystem in [10, 11, 12] {
            assert_eq!(
                check_image(&pe(NATIVE_MACHINE, subsystem)),
                Ok(PeInfo {
                    machine: NATIVE_MACHINE,
                    subsystem
                })
            );
        }
        assert!(check_image(&pe(MACHINE_EBC, 10)).is_ok());
    }

    #[test]
    fn a_bzimage_with_a_stub_is_a_pe_image() {
        let mut d = pe(MACHINE_X86_64, 10);
        d[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(check_image(&d).is_ok());
    }

    #[test]
    fn a_bzimage_without_a_stub_is_explained() {
        // Like ipxe.lkrn or a kernel without CONFIG_EFI_STUB: a boot sector, no MZ.
        let mut d = vec![0u8; 0x400];
        d[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
        d[0x202..0x206].copy_from_slice(b"HdrS");
        let problem = check_image(&d).expect_err("no stub");
        assert_eq!(problem, ImageProblem::BzImageWithoutStub);
        assert_eq!(
            problem.to_string(),
            "this kernel has no EFI stub: UEFI cannot start it; use a kernel built with CONFIG_EFI_STUB"
        );
        // "MZ" but a broken PE offset still means: no usable stub.
        d[..2].copy_from_slice(b"MZ");
        d[0x3c..0x40].copy_from_slice(&0xfff0u32.to_le_bytes());
        assert_eq!(check_image(&d), Err(ImageProblem::BzImageWithoutStub));
    }

    #[test]
    fn foreign_machines_are_named() {
        let problem = check_image(&pe(MACHINE_AARCH64, 10)).expect_err("aarch64");
        assert_eq!(
            problem,
            ImageProblem::WrongMachine {
                machine: MACHINE_AARCH64
            }
        );
        #[cfg(not(target_arch = "aarch64"))]
        assert_eq!(
            problem.to_string(),
            "this EFI image is for AArch64 (ARM 64-bit) (PE machine 0xaa64); this firmware runs x86-64 images"
        );
        let ia32 = check_image(&pe(0x014c, 10)).expect_err("ia32").to_string();
        assert!(ia32.contains("32-bit x86 (IA32)"), "{ia32}");
    }

    #[test]
    fn other_files_are_told_apart() {
        assert_eq!(check_image(b"#!ipxe\necho hi\n"), Err(ImageProblem::Script));
        assert_eq!(check_image(b"\x7fELF\x02\x01\x01"), Err(ImageProblem::Elf));
        assert_eq!(check_image(b"MZ"), Err(ImageProblem::NoPeHeader));
        assert_eq!(check_image(b""), Err(ImageProblem::NotPe));
        assert_eq!(check_image(&[0u8; 4096]), Err(ImageProblem::NotPe));
        let windows = check_image(&pe(NATIVE_MACHINE, 3)).expect_err("console program");
        assert_eq!(windows, ImageProblem::NotEfiSubsystem { subsystem: 3 });
        assert!(windows.to_string().contains("Windows console"));
    }

    #[test]
    fn truncated_headers_do_not_panic() {
        let full = pe(NATIVE_MACHINE, 10);
        for len in 0..0x120 {
            let _ = check_image(&full[..len]);
        }
        let mut huge = full.clone();
        huge[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(check_image(&huge), Err(ImageProblem::NoPeHeader));
    }
}
