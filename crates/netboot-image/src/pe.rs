//! PE/COFF images (EFI applications and drivers, EFI-stub kernels, UKIs).

use crate::Arch;
use crate::error::{Error, Result};
use crate::rd;

const WHAT: &str = "PE image";

/// Data directory index of the export table.
pub const DIR_EXPORT: usize = 0;
/// Data directory index of the import table.
pub const DIR_IMPORT: usize = 1;
/// Data directory index of the security (Authenticode) table; its address is a file offset.
pub const DIR_SECURITY: usize = 4;
/// Data directory index of the base relocation table.
pub const DIR_BASERELOC: usize = 5;
/// Data directory index of the debug directory.
pub const DIR_DEBUG: usize = 6;

/// Subsystem: EFI application.
pub const SUBSYSTEM_EFI_APPLICATION: u16 = 10;
/// Subsystem: EFI boot-service driver.
pub const SUBSYSTEM_EFI_BOOT_DRIVER: u16 = 11;
/// Subsystem: EFI runtime driver.
pub const SUBSYSTEM_EFI_RUNTIME_DRIVER: u16 = 12;
/// Subsystem: EFI ROM image.
pub const SUBSYSTEM_EFI_ROM: u16 = 13;

/// DllCharacteristics: NX compatible.
pub const DLL_NX_COMPAT: u16 = 0x0100;
/// COFF Characteristics: relocations stripped.
pub const RELOCS_STRIPPED: u16 = 0x0001;

/// The PE spec's limit on the number of sections.
pub const MAX_SECTIONS: u16 = 96;

/// The architecture of a COFF machine value.
pub fn machine_arch(machine: u16) -> Option<Arch> {
    Some(match machine {
        0x8664 => Arch::X86_64,
        0x014C => Arch::I386,
        0xAA64 => Arch::Aarch64,
        0x01C2 | 0x01C4 | 0x01C0 => Arch::Arm,
        0x5064 => Arch::Riscv64,
        0x5032 => Arch::Riscv32,
        0x6264 => Arch::LoongArch64,
        0x0EBC => Arch::Ebc,
        _ => return None,
    })
}

/// A readable name for a subsystem value.
pub fn subsystem_name(subsystem: u16) -> &'static str {
    match subsystem {
        1 => "native",
        2 => "windows-gui",
        3 => "windows-console",
        9 => "windows-ce",
        SUBSYSTEM_EFI_APPLICATION => "efi-application",
        SUBSYSTEM_EFI_BOOT_DRIVER => "efi-boot-driver",
        SUBSYSTEM_EFI_RUNTIME_DRIVER => "efi-runtime-driver",
        SUBSYSTEM_EFI_ROM => "efi-rom",
        16 => "windows-boot-application",
        _ => "other",
    }
}

/// One data directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataDirectory {
    /// RVA (a file offset for the security directory).
    pub address: u32,
    /// Size in bytes.
    pub size: u32,
}

/// One section header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// Raw 8-byte name (NUL padded; `/n` long names are not resolved).
    pub name: [u8; 8],
    /// VirtualSize: the true length of the payload (UKI sections are padded on disk).
    pub virtual_size: u32,
    /// VirtualAddress (RVA).
    pub virtual_address: u32,
    /// SizeOfRawData (padded to FileAlignment).
    pub raw_size: u32,
    /// PointerToRawData (file offset).
    pub raw_offset: u32,
    /// Characteristics flags.
    pub characteristics: u32,
}

impl Section {
    /// The name without NUL padding.
    pub fn name(&self) -> &[u8] {
        crate::rd::trim_end(&self.name)
    }

    /// The bytes of the section in the file: `min(VirtualSize, SizeOfRawData)` (or the raw
    /// size when VirtualSize is 0), `None` if they lie beyond the file.
    pub fn data<'a>(&self, file: &'a [u8]) -> Option<&'a [u8]> {
        let len = match self.virtual_size {
            0 => self.raw_size,
            v => v.min(self.raw_size),
        };
        rd::slice(file, u64::from(self.raw_offset), u64::from(len))
    }

    /// The section is executable.
    pub fn is_executable(&self) -> bool {
        self.characteristics & 0x2000_0000 != 0
    }
}

/// A checked view of a PE/COFF image.
#[derive(Clone, Copy, Debug)]
pub struct Pe<'a> {
    data: &'a [u8],
    coff: usize,
    opt: usize,
    opt_size: usize,
    pe32_plus: bool,
    nsections: u16,
    ndirs: u32,
}

impl<'a> Pe<'a> {
    /// Parses the DOS, COFF and optional headers and checks that the header structures
    /// (not the section data) lie within `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        if data.len() < 0x40 {
            if data.starts_with(b"MZ") {
                return Err(Error::truncated("PE DOS header", 0x40, data.len()));
            }
            return Err(Error::BadMagic { what: WHAT });
        }
        if !data.starts_with(b"MZ") {
            return Err(Error::BadMagic { what: WHAT });
        }
        let lfanew = rd::le32(data, 0x3C).unwrap_or(0) as usize;
        if lfanew < 0x40 && lfanew != 0 {
            // Points into the DOS header itself: impossible in a real image.
            return Err(Error::malformed(
                WHAT,
                "e_lfanew points into the DOS header",
            ));
        }
        let sig = rd::arr::<4>(data, lfanew).ok_or(Error::truncated(
            "PE header",
            lfanew as u64 + 24,
            data.len(),
        ))?;
        if &sig != b"PE\0\0" {
            return Err(Error::BadMagic { what: WHAT });
        }
        let coff = lfanew + 4;
        let opt = coff + 20;
        let opt_size = usize::from(rd::le16(data, coff + 16).ok_or(Error::truncated(
            "PE header",
            opt as u64,
            data.len(),
        ))?);
        let nsections = rd::le16(data, coff + 2).unwrap_or(0);
        if nsections > MAX_SECTIONS {
            return Err(Error::malformed(WHAT, "more than 96 sections"));
        }
        let magic = rd::le16(data, opt).ok_or(Error::truncated(
            "PE optional header",
            opt as u64 + 2,
            data.len(),
        ))?;
        let (pe32_plus, fixed) = match magic {
            0x10B => (false, 96usize),
            0x20B => (true, 112usize),
            _ => {
                return Err(Error::malformed(
                    WHAT,
                    "optional header magic is neither PE32 nor PE32+",
                ));
            }
        };
        if opt_size < fixed {
            return Err(Error::malformed(
                WHAT,
                "SizeOfOptionalHeader smaller than its fixed part",
            ));
        }
        let ndirs = rd::le32(data, opt + fixed - 4).ok_or(Error::truncated(
            "PE optional header",
            (opt + fixed) as u64,
            data.len(),
        ))?;
        if u64::from(ndirs) * 8 > (opt_size - fixed) as u64 {
            return Err(Error::malformed(
                WHAT,
                "NumberOfRvaAndSizes does not fit SizeOfOptionalHeader",
            ));
        }
        let table_end = (opt + opt_size) as u64 + u64::from(nsections) * 40;
        if table_end > data.len() as u64 {
            return Err(Error::truncated("PE section table", table_end, data.len()));
        }
        Ok(Pe {
            data,
            coff,
            opt,
            opt_size,
            pe32_plus,
            nsections,
            ndirs,
        })
    }

    /// The whole file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// COFF Machine.
    pub fn machine(&self) -> u16 {
        rd::le16(self.data, self.coff).unwrap_or(0)
    }

    /// The architecture of [`machine`](Self::machine), if known.
    pub fn arch(&self) -> Option<Arch> {
        machine_arch(self.machine())
    }

    /// COFF Characteristics.
    pub fn characteristics(&self) -> u16 {
        rd::le16(self.data, self.coff + 18).unwrap_or(0)
    }

    /// PE32+ (64-bit) rather than PE32.
    pub fn is_pe32_plus(&self) -> bool {
        self.pe32_plus
    }

    /// AddressOfEntryPoint (RVA).
    pub fn entry_point(&self) -> u32 {
        rd::le32(self.data, self.opt + 16).unwrap_or(0)
    }

    /// ImageBase.
    pub fn image_base(&self) -> u64 {
        if self.pe32_plus {
            rd::le64(self.data, self.opt + 24).unwrap_or(0)
        } else {
            u64::from(rd::le32(self.data, self.opt + 28).unwrap_or(0))
        }
    }

    /// SectionAlignment.
    pub fn section_alignment(&self) -> u32 {
        rd::le32(self.data, self.opt + 32).unwrap_or(0)
    }

    /// FileAlignment.
    pub fn file_alignment(&self) -> u32 {
        rd::le32(self.data, self.opt + 36).unwrap_or(0)
    }

    /// SizeOfImage.
    pub fn size_of_image(&self) -> u32 {
        rd::le32(self.data, self.opt + 56).unwrap_or(0)
    }

    /// SizeOfHeaders.
    pub fn size_of_headers(&self) -> u32 {
        rd::le32(self.data, self.opt + 60).unwrap_or(0)
    }

    /// CheckSum.
    pub fn checksum(&self) -> u32 {
        rd::le32(self.data, self.opt + 64).unwrap_or(0)
    }

    /// Subsystem (10 EFI application, 11 boot driver, 12 runtime driver).
    pub fn subsystem(&self) -> u16 {
        rd::le16(self.data, self.opt + 68).unwrap_or(0)
    }

    /// The subsystem is one of the EFI ones (10–13).
    pub fn is_efi(&self) -> bool {
        (SUBSYSTEM_EFI_APPLICATION..=SUBSYSTEM_EFI_ROM).contains(&self.subsystem())
    }

    /// DllCharacteristics.
    pub fn dll_characteristics(&self) -> u16 {
        rd::le16(self.data, self.opt + 70).unwrap_or(0)
    }

    /// NumberOfRvaAndSizes.
    pub fn number_of_data_directories(&self) -> u32 {
        self.ndirs
    }

    /// Data directory `index`, `None` if the header has fewer directories or it is empty.
    pub fn data_directory(&self, index: usize) -> Option<DataDirectory> {
        if index as u64 >= u64::from(self.ndirs) {
            return None;
        }
        let base = self.opt + if self.pe32_plus { 112 } else { 96 } + index * 8;
        let d = DataDirectory {
            address: rd::le32(self.data, base)?,
            size: rd::le32(self.data, base + 4)?,
        };
        (d.size != 0).then_some(d)
    }

    /// The security (Authenticode signature) directory, if present.
    pub fn security_directory(&self) -> Option<DataDirectory> {
        self.data_directory(DIR_SECURITY)
    }

    /// The WIN_CERTIFICATE records of the security directory (bounded by the directory
    /// and the file).
    pub fn certificates(&self) -> Certificates<'a> {
        let table = self
            .security_directory()
            .and_then(|d| rd::slice(self.data, u64::from(d.address), u64::from(d.size)))
            .unwrap_or(&[]);
        Certificates { table, pos: 0 }
    }

    /// Number of sections.
    pub fn section_count(&self) -> u16 {
        self.nsections
    }

    /// The section headers, in table order.
    pub fn sections(&self) -> impl Iterator<Item = Section> + 'a {
        let data = self.data;
        let base = self.opt + self.opt_size;
        (0..usize::from(self.nsections)).filter_map(move |i| {
            let o = base + i * 40;
            Some(Section {
                name: rd::arr::<8>(data, o)?,
                virtual_size: rd::le32(data, o + 8)?,
                virtual_address: rd::le32(data, o + 12)?,
                raw_size: rd::le32(data, o + 16)?,
                raw_offset: rd::le32(data, o + 20)?,
                characteristics: rd::le32(data, o + 36)?,
            })
        })
    }

    /// The first section named `name` (e.g. `b".linux"`).
    pub fn section(&self, name: &[u8]) -> Option<Section> {
        self.sections().find(|s| s.name() == name)
    }

    /// The file bytes of the first section named `name`.
    pub fn section_data(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.section(name)?.data(self.data)
    }

    /// The file length the headers imply: the end of the last section's raw data or of the
    /// security directory, whichever is further.
    pub fn declared_len(&self) -> u64 {
        let sections = self
            .sections()
            .filter(|s| s.raw_size != 0)
            .map(|s| u64::from(s.raw_offset) + u64::from(s.raw_size))
            .max()
            .unwrap_or(0);
        let security = self
            .security_directory()
            .map(|d| u64::from(d.address) + u64::from(d.size))
            .unwrap_or(0);
        sections
            .max(security)
            .max(u64::from(self.size_of_headers()).min(self.data.len() as u64))
    }

    /// An EFI zboot image (`zimg` at +4): `(compression name, payload offset, size)`.
    pub fn zboot(&self) -> Option<(&'a [u8], u32, u32)> {
        if self.data.get(4..8)? != b"zimg" {
            return None;
        }
        let name = rd::trim_end(self.data.get(24..28)?);
        Some((name, rd::le32(self.data, 8)?, rd::le32(self.data, 12)?))
    }
}

/// One WIN_CERTIFICATE record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// wRevision (0x0200).
    pub revision: u16,
    /// wCertificateType (2 = PKCS#7 SignedData, 0x0EF1 = EFI GUID).
    pub certificate_type: u16,
    /// The certificate data after the 8-byte header.
    pub data: &'a [u8],
}

/// Iterator over the WIN_CERTIFICATE records of a security directory. Stops (yielding an
/// error once) on a record whose length is below 8 or runs past the table.
#[derive(Clone, Debug)]
pub struct Certificates<'a> {
    table: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Certificates<'a> {
    type Item = Result<Certificate<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos + 8 > self.table.len() {
            return None;
        }
        let len = rd::le32(self.table, self.pos)? as usize;
        let rest = self.table.len() - self.pos;
        if len < 8 || len > rest {
            self.pos = self.table.len();
            return Some(Err(Error::malformed(
                "WIN_CERTIFICATE",
                "dwLength below 8 or past the table",
            )));
        }
        let c = Certificate {
            revision: rd::le16(self.table, self.pos + 4)?,
            certificate_type: rd::le16(self.table, self.pos + 6)?,
            data: &self.table[self.pos + 8..self.pos + len],
        };
        // Records are 8-byte aligned; len ≥ 8 guarantees progress.
        self.pos += (len + 7) & !7;
        Some(Ok(c))
    }
}
