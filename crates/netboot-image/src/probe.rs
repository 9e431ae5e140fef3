//! `probe`: classify an image, say what can boot it, and explain why not.
//!
//! Order (formats.md §0): strong magic first, weak matches last and labelled. A file may
//! be several things at once (PE + bzImage, ISO + MBR + GPT, ELF + Multiboot): the most
//! useful name wins and the others show up in [`Details`].
//!
//! PXE NBPs have no magic. They are reported only when [`Hints`] says so (a name ending
//! `.0`, `.pxe`, `.kpxe`, `.kkpxe`, or [`Hints::nbp`]) and nothing else matched; without
//! that context a file starting with a far jump to 07C0:xxxx (as iPXE's NBPs do) stays
//! `unknown` with a [`Problem::Maybe`] hint.

use crate::bzimage::{self, BzImage};
use crate::cpio::CpioReader;
use crate::disk::{Gpt, Mbr, MbrPartition};
use crate::elf::{Elf, Multiboot, find_multiboot};
use crate::iso::{BootEntry, Iso, PLATFORM_EFI, PLATFORM_X86};
use crate::microcode::{self, Microcode};
use crate::pe::{self, Pe, Section};
use crate::wim::{ImageInfo, Wim, WimHeader};
use crate::{Arch, Error, Format, Platform, Platforms, Problem, inflate};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// The largest NBP a PXE ROM loads (0xA0000 − 0x7C00).
pub const NBP_MAX: usize = 0x98400;
/// Bytes decompressed to peek inside gzip/zlib data.
const PEEK: usize = 4096;
/// CPIO members counted at most by the probe.
const CPIO_COUNT_CAP: u32 = 1_000_000;
/// Text fields copied into details at most (bytes).
const TEXT_CAP: usize = 512;

/// Context for [`probe_with`].
#[derive(Clone, Copy, Debug)]
pub struct Hints<'a> {
    /// The image's name or URL (its extension can hint at an NBP).
    pub name: Option<&'a str>,
    /// The machine that will boot it (default x86-64: what netboot's firmwares run on).
    pub machine: Arch,
    /// The caller knows it is an NBP candidate (e.g. DHCP `filename` on a PXE BIOS).
    pub nbp: bool,
}

impl Default for Hints<'_> {
    fn default() -> Self {
        Hints {
            name: None,
            machine: Arch::X86_64,
            nbp: false,
        }
    }
}

/// What [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The format.
    pub format: Format,
    /// CPU architecture of the code inside, when known.
    pub arch: Option<Arch>,
    /// What can start it.
    pub bootable_on: Platforms,
    /// Format-specific facts.
    pub details: Details,
    /// Why it may not boot where the user hoped (empty when nothing is wrong).
    pub problems: Vec<Problem>,
}

/// PE facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeDetails {
    /// COFF Machine.
    pub machine: u16,
    /// PE32+ rather than PE32.
    pub pe32_plus: bool,
    /// Subsystem.
    pub subsystem: u16,
    /// AddressOfEntryPoint.
    pub entry_point: u32,
    /// ImageBase.
    pub image_base: u64,
    /// SizeOfImage.
    pub size_of_image: u32,
    /// SectionAlignment.
    pub section_alignment: u32,
    /// DllCharacteristics NX_COMPAT.
    pub nx_compat: bool,
    /// Number of data directories.
    pub data_directories: u32,
    /// A base relocation directory is present.
    pub relocations: bool,
    /// A security (signature) directory is present.
    pub signed: bool,
    /// WIN_CERTIFICATE records in it.
    pub certificates: u32,
    /// The sections.
    pub sections: Vec<Section>,
    /// EFI zboot compression name (`gzip`, `zstd`, …) when `zimg` is at +4.
    pub zboot: Option<String>,
    /// `.sbat` first component line (after the `sbat,…` header), if present.
    pub sbat: Option<String>,
}

/// bzImage facts (fields absent in older protocol versions are `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BzImageDetails {
    /// Protocol version (`0x020F` = 2.15).
    pub version: u16,
    /// setup_sects.
    pub setup_sects: u8,
    /// bzImage (LOADED_HIGH) rather than zImage.
    pub loaded_high: bool,
    /// loadflags.
    pub loadflags: u8,
    /// code32_start.
    pub code32_start: Option<u32>,
    /// initrd_addr_max.
    pub initrd_addr_max: u32,
    /// kernel_alignment.
    pub kernel_alignment: Option<u32>,
    /// relocatable_kernel.
    pub relocatable: bool,
    /// xloadflags (2.12+).
    pub xloadflags: Option<u16>,
    /// cmdline_size.
    pub cmdline_size: u32,
    /// pref_address.
    pub pref_address: Option<u64>,
    /// init_size.
    pub init_size: Option<u32>,
    /// handover_offset.
    pub handover_offset: Option<u32>,
    /// Kernel version string.
    pub kernel_version: Option<String>,
    /// Compression of the payload, from its magic.
    pub payload_format: Option<Format>,
    /// The EFI stub's PE facts.
    pub efi_stub: Option<PeDetails>,
}

/// UKI facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UkiDetails {
    /// The stub's PE facts.
    pub pe: PeDetails,
    /// Format of the `.linux` payload.
    pub linux_format: Format,
    /// Size of `.linux` (VirtualSize).
    pub linux_size: u32,
    /// Size of `.initrd`, if present.
    pub initrd_size: Option<u32>,
    /// `.cmdline` text.
    pub cmdline: Option<String>,
    /// `.uname` text (kernel release).
    pub uname: Option<String>,
    /// Kernel version from the inner bzImage.
    pub kernel_version: Option<String>,
}

/// ELF facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfDetails {
    /// ELFCLASS64.
    pub is_64bit: bool,
    /// e_type.
    pub kind: u16,
    /// e_machine.
    pub machine: u16,
    /// e_entry.
    pub entry: u64,
    /// Program headers.
    pub phnum: u16,
}

/// ISO facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsoDetails {
    /// Volume identifier.
    pub volume_id: String,
    /// Volume space in blocks.
    pub volume_blocks: u32,
    /// El Torito entries.
    pub boot_entries: Vec<BootEntry>,
    /// The image also has an MBR (isohybrid).
    pub mbr: Option<Mbr>,
    /// The image also has a GPT: (entry count, has an ESP).
    pub gpt: Option<(u32, bool)>,
    /// EFI loaders found under `/EFI/BOOT`.
    pub efi_loaders: Vec<String>,
    /// EFI loaders found under `\EFI\BOOT` inside the El Torito EFI boot images' FAT
    /// file systems (what UEFI firmware actually starts from a CD).
    pub esp_loaders: Vec<EspLoader>,
}

/// A removable-media loader found in an El Torito EFI boot image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EspLoader {
    /// The file name (`BOOTX64.EFI`, …).
    pub name: String,
    /// The architecture: the PE machine when the file has a PE header, else from the name.
    pub arch: Option<Arch>,
    /// File size in bytes.
    pub size: u32,
}

/// WIM facts beyond the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WimDetails {
    /// The header.
    pub header: WimHeader,
    /// The XML's images (index, name, description), when the XML could be read.
    pub images: Vec<ImageInfo>,
    /// Boot files found in the boot image (or image 1 when there is no boot index), from
    /// [`WIM_BOOT_FILES`]; `None` when the metadata could not be read cheaply.
    pub boot_files: Option<Vec<&'static str>>,
}

impl core::ops::Deref for WimDetails {
    type Target = WimHeader;
    fn deref(&self) -> &WimHeader {
        &self.header
    }
}

/// Files [`probe`] looks for in a WIM's boot image: winload and the boot managers that
/// wimboot starts.
pub const WIM_BOOT_FILES: [&str; 5] = [
    "\\Windows\\System32\\winload.efi",
    "\\Windows\\System32\\boot\\winload.efi",
    "\\Windows\\Boot\\EFI\\bootmgfw.efi",
    "\\Windows\\Boot\\PXE\\bootmgr.exe",
    "\\bootmgr",
];

/// The largest metadata resource [`probe`] decompresses to look for boot files.
const WIM_PROBE_METADATA_CAP: u64 = 32 << 20;
/// The largest XML resource [`probe`] reads.
const WIM_PROBE_XML_CAP: u64 = 4 << 20;

/// Disk facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskDetails {
    /// The MBR, if valid.
    pub mbr: Option<Mbr>,
    /// GPT: (partitions used, has an ESP).
    pub gpt: Option<(u32, bool)>,
}

/// Compressed-data facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressedDetails {
    /// gzip: size of the decompressed data modulo 2^32 (ISIZE of the last member).
    pub original_size: Option<u64>,
    /// gzip: stored original file name.
    pub name: Option<String>,
    /// Format of the first decompressed bytes (gzip/zlib only).
    pub inner: Option<Format>,
}

/// CPIO facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpioDetails {
    /// Members (not counting trailers), up to a cap.
    pub entries: u32,
    /// Name of the first member.
    pub first: Option<String>,
    /// The archive starts with early microcode (`kernel/x86/microcode/…`).
    pub early_microcode: bool,
    /// Format of what follows the archive(s) (a compressed initramfs part).
    pub followed_by: Option<Format>,
}

/// Format-specific facts of a [`Probe`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Details {
    /// Nothing to add.
    None,
    /// `bzimage`.
    BzImage(Box<BzImageDetails>),
    /// `pe`.
    Pe(Box<PeDetails>),
    /// `uki`.
    Uki(Box<UkiDetails>),
    /// `script`.
    Script {
        /// Legacy `#!gpxe`.
        gpxe: bool,
    },
    /// `elf`.
    Elf(ElfDetails),
    /// `multiboot`.
    Multiboot {
        /// The header.
        header: Multiboot,
        /// The ELF container, if any.
        elf: Option<ElfDetails>,
    },
    /// `wim`: the header (also reachable through `Deref`) and what the XML and the boot
    /// image's metadata say.
    Wim(Box<WimDetails>),
    /// `iso9660`.
    Iso(Box<IsoDetails>),
    /// `disk`.
    Disk(DiskDetails),
    /// `gzip`, `zlib`, `zstd`, `xz`, `lz4`, `bzip2`.
    Compressed(CompressedDetails),
    /// `cpio`.
    Cpio(CpioDetails),
    /// `microcode`.
    Microcode(Microcode),
}

impl Probe {
    fn new(format: Format) -> Probe {
        Probe {
            format,
            arch: None,
            bootable_on: Platforms::EMPTY,
            details: Details::None,
            problems: Vec::new(),
        }
    }

    fn on(&mut self, p: Platform) {
        self.bootable_on.insert(p);
    }

    fn truncated(&mut self, what: &'static str, declared: u64, actual: usize) {
        if declared > actual as u64 {
            self.problems.push(Problem::Truncated {
                what,
                declared,
                actual: actual as u64,
            });
        }
    }

    /// Writes the JSON members `"format":…,"arch":…,"bootable_on":[…],"details":{…},
    /// "problems":[…]` **without** surrounding braces, so a caller can prepend its own
    /// members (`{"file":"…",` + this + `}`). Strings are escaped per RFC 8259.
    pub fn write_json(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        crate::json::write_probe(self, out)
    }

    /// Writes a complete JSON object (`{` + [`write_json`](Self::write_json) + `}`).
    pub fn write_json_object(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        out.write_char('{')?;
        self.write_json(out)?;
        out.write_char('}')
    }
}

/// Probes `data` with default [`Hints`] (an x86-64 machine, no name).
///
/// ```
/// let p = netboot_image::probe(b"#!ipxe\necho hi\n");
/// assert_eq!(p.format.name(), "script");
/// ```
pub fn probe(data: &[u8]) -> Probe {
    probe_with(data, &Hints::default())
}

/// Probes `data`; never panics, and takes time linear in the data at worst (a CPIO member
/// count), usually constant.
pub fn probe_with(data: &[u8], hints: &Hints<'_>) -> Probe {
    probe_depth(data, hints, 0)
}

fn probe_depth(data: &[u8], hints: &Hints<'_>, depth: u8) -> Probe {
    if let Some(gpxe) = script(data) {
        let mut p = Probe::new(Format::Script);
        p.details = Details::Script { gpxe };
        return p;
    }
    if data.starts_with(b"MZ") {
        match Pe::parse(data) {
            Ok(pe) => return probe_pe(&pe, hints, depth),
            Err(Error::BadMagic { .. }) => {} // DOS program or MZ-less bzImage: go on
            Err(e) => {
                if let Ok(bz) = BzImage::parse(data) {
                    let mut p = probe_bzimage(&bz, None, hints);
                    p.problems.push(Problem::Malformed(e));
                    return p;
                }
                let mut p = Probe::new(Format::Pe);
                p.problems.push(problem_of(e));
                return p;
            }
        }
    }
    if let Ok(bz) = BzImage::parse(data) {
        return probe_bzimage(&bz, None, hints);
    }
    if data.starts_with(b"\x7FELF") {
        return probe_elf(data, hints);
    }
    if let Some(mb) = find_multiboot(data) {
        let mut p = Probe::new(Format::Multiboot);
        p.arch = Some(Arch::I386);
        p.on(Platform::Bios);
        p.details = Details::Multiboot {
            header: mb,
            elf: None,
        };
        p.problems.push(Problem::BiosOnly {
            what: "multiboot kernel",
        });
        return p;
    }
    if let Some(p) = probe_compressed(data, depth) {
        return p;
    }
    if CpioReader::is_newc(data) {
        return probe_cpio(data, depth);
    }
    if let Some(m) = microcode::detect(data) {
        let mut p = Probe::new(Format::Microcode);
        p.arch = Some(Arch::X86_64);
        if let Microcode::Intel {
            checksum_ok: false,
            total_size,
            ..
        } = m
        {
            if (total_size as usize) > data.len() {
                p.truncated("Intel microcode", u64::from(total_size), data.len());
            } else {
                p.problems.push(Problem::BadChecksum {
                    what: "Intel microcode",
                });
            }
        }
        p.details = Details::Microcode(m);
        p.problems.push(Problem::NotBootable {
            what: "CPU microcode",
            hint: "put it first in the initrd, uncompressed, as kernel/x86/microcode/<vendor>.bin",
        });
        return p;
    }
    if data.starts_with(b"MSWIM\0\0\0") || data.starts_with(b"WLPWM\0\0\0") {
        let mut p = Probe::new(Format::Wim);
        match WimHeader::parse(data) {
            Ok(h) => {
                p.truncated("WIM", h.declared_len(), data.len());
                if h.compression() == "lzms" || h.version == 0xE00 {
                    p.problems.push(Problem::Maybe {
                        hint: "solid/LZMS WIM (ESD): wimboot cannot read it; export it with LZX compression",
                    });
                }
                p.details = Details::Wim(Box::new(wim_details(data, h, &mut p)));
            }
            Err(e) => p.problems.push(problem_of(e)),
        }
        p.problems.push(Problem::NotBootable {
            what: "a WIM",
            hint: "boot it with wimboot (kernel wimboot; initrd -n boot.wim boot.wim boot.wim)",
        });
        return p;
    }
    if data.get(0x8001..0x8006) == Some(b"CD001") {
        return probe_iso(data);
    }
    if let Some(p) = probe_disk(data) {
        return p;
    }
    if data.len() >= 5
        && data[0] == 0xB8
        && (data[1] == 0xFE || data[1] == 0xFF)
        && data[2..5] == [0x4C, 0xCD, 0x21]
    {
        let mut p = Probe::new(Format::Com32);
        p.arch = Some(Arch::I386);
        p.on(Platform::Bios);
        p.problems.push(Problem::BiosOnly {
            what: "SYSLINUX COM32 module",
        });
        return p;
    }
    probe_fallback(data, hints)
}

fn problem_of(e: Error) -> Problem {
    match e {
        Error::Truncated { what, need, have } => Problem::Truncated {
            what,
            declared: need,
            actual: have,
        },
        e => Problem::Malformed(e),
    }
}

fn script(data: &[u8]) -> Option<bool> {
    let (rest, gpxe) = if let Some(r) = data.strip_prefix(b"#!ipxe") {
        (r, false)
    } else {
        (data.strip_prefix(b"#!gpxe")?, true)
    };
    match rest.first() {
        None => Some(gpxe),
        Some(c) if c.is_ascii_whitespace() || *c == 0x0B => Some(gpxe),
        _ => None,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(TEXT_CAP)]).into_owned()
}

fn pe_details(pe: &Pe<'_>) -> PeDetails {
    let mut certificates = 0;
    for c in pe.certificates() {
        if c.is_err() {
            break;
        }
        certificates += 1;
    }
    let sbat = pe.section_data(b".sbat").and_then(|s| {
        let s = s.split(|&c| c == 0).next().unwrap_or(&[]);
        s.split(|&c| c == b'\n')
            .find(|l| !l.is_empty() && !l.starts_with(b"sbat,"))
            .map(text)
    });
    PeDetails {
        machine: pe.machine(),
        pe32_plus: pe.is_pe32_plus(),
        subsystem: pe.subsystem(),
        entry_point: pe.entry_point(),
        image_base: pe.image_base(),
        size_of_image: pe.size_of_image(),
        section_alignment: pe.section_alignment(),
        nx_compat: pe.dll_characteristics() & pe::DLL_NX_COMPAT != 0,
        data_directories: pe.number_of_data_directories(),
        relocations: pe.data_directory(pe::DIR_BASERELOC).is_some(),
        signed: pe.security_directory().is_some(),
        certificates,
        sections: pe.sections().collect(),
        zboot: pe.zboot().map(|(n, _, _)| text(n)),
        sbat,
    }
}

/// Adds the EFI platform and the architecture/subsystem/signature problems of a PE.
fn pe_platforms(p: &mut Probe, pe: &Pe<'_>, hints: &Hints<'_>, what: &'static str) {
    let arch = pe.arch();
    match arch {
        None => p.problems.push(Problem::UnknownMachine {
            machine: pe.machine(),
        }),
        Some(a) if a != hints.machine => p.problems.push(Problem::ForeignArch {
            what,
            arch: a,
            machine: hints.machine,
            uefi: true,
        }),
        Some(_) => {}
    }
    if pe.is_efi() {
        if let Some(plat) = arch.and_then(Arch::efi_platform) {
            p.on(plat);
        }
        if pe.security_directory().is_none() {
            p.problems.push(Problem::Unsigned);
        }
    } else {
        p.problems.push(Problem::NotEfiSubsystem {
            subsystem: pe.subsystem(),
        });
    }
    p.truncated(what, pe.declared_len(), pe.data().len());
}

fn probe_pe(pe: &Pe<'_>, hints: &Hints<'_>, depth: u8) -> Probe {
    let data = pe.data();
    // An EFI-stub kernel (or wimboot) is also a bzImage: report it as a bzImage.
    if let Ok(bz) = BzImage::parse(data) {
        return probe_bzimage(&bz, Some(pe), hints);
    }
    let linux_count = pe.sections().filter(|s| s.name() == b".linux").count();
    if linux_count > 0 {
        let mut p = Probe::new(Format::Uki);
        p.arch = pe.arch();
        pe_platforms(&mut p, pe, hints, "UKI");
        if linux_count > 1 {
            p.problems.push(Problem::Malformed(Error::malformed(
                "UKI",
                "more than one .linux section",
            )));
        }
        let linux = pe.section(b".linux");
        let linux_data = linux.and_then(|s| s.data(data)).unwrap_or(&[]);
        let inner = if depth < 2 {
            probe_depth(linux_data, hints, depth + 1)
        } else {
            Probe::new(Format::Unknown)
        };
        let kernel_version = match &inner.details {
            Details::BzImage(b) => b.kernel_version.clone(),
            _ => None,
        };
        let trim = |b: &[u8]| {
            text(crate::rd::trim_end(
                b.split(|&c| c == 0).next().unwrap_or(&[]),
            ))
        };
        p.details = Details::Uki(Box::new(UkiDetails {
            pe: pe_details(pe),
            linux_format: inner.format,
            linux_size: linux.map(|s| s.virtual_size).unwrap_or(0),
            initrd_size: pe.section(b".initrd").map(|s| s.virtual_size),
            cmdline: pe.section_data(b".cmdline").map(|c| {
                let t = trim(c);
                String::from(t.trim_end())
            }),
            uname: pe.section_data(b".uname").map(trim),
            kernel_version,
        }));
        return p;
    }
    let mut p = Probe::new(Format::Pe);
    p.arch = pe.arch();
    pe_platforms(&mut p, pe, hints, "PE image");
    p.details = Details::Pe(Box::new(pe_details(pe)));
    p
}

fn magic_format(d: &[u8]) -> Option<Format> {
    Some(if d.starts_with(&[0x1F, 0x8B]) {
        Format::Gzip
    } else if d.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) || is_zstd_skippable(d) {
        Format::Zstd
    } else if d.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
        Format::Xz
    } else if d.starts_with(&[0x04, 0x22, 0x4D, 0x18]) || d.starts_with(&[0x02, 0x21, 0x4C, 0x18]) {
        Format::Lz4
    } else if d.len() >= 10
        && d.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&d[3])
        && (d[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            || d[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    {
        Format::Bzip2
    } else if CpioReader::is_newc(d) {
        Format::Cpio
    } else if d.starts_with(b"\x7FELF") {
        Format::Elf
    } else if d.starts_with(b"MZ") {
        Format::Pe
    } else {
        return None;
    })
}

fn is_zstd_skippable(d: &[u8]) -> bool {
    matches!(crate::rd::le32(d, 0), Some(m) if (0x184D_2A50..=0x184D_2A5F).contains(&m))
}

fn probe_bzimage(bz: &BzImage<'_>, pe: Option<&Pe<'_>>, hints: &Hints<'_>) -> Probe {
    let data = bz.data();
    let mut p = Probe::new(Format::BzImage);
    p.on(Platform::Bios);
    p.on(Platform::LinuxBootProtocol);
    let x = bz.xloadflags();
    p.arch = if x & bzimage::XLF_KERNEL_64 != 0 {
        Some(Arch::X86_64)
    } else {
        pe.and_then(Pe::arch)
            .or((bz.version() >= 0x020C).then_some(Arch::I386))
    };
    if let Some(a) = p.arch
        && a != hints.machine
        && !(a == Arch::I386 && hints.machine == Arch::X86_64)
    {
        p.problems.push(Problem::ForeignArch {
            what: "bzImage",
            arch: a,
            machine: hints.machine,
            uefi: false,
        });
    }
    match pe {
        Some(pe) => pe_platforms(&mut p, pe, hints, "EFI stub"),
        None => p.problems.push(Problem::NoEfiStub),
    }
    if !bz.is_bzimage() {
        p.problems.push(Problem::ZImage);
    }
    // syssize counts 16-byte paragraphs, rounded up: allow 15 bytes of slack.
    if let Some(len) = bz.declared_len()
        && len > data.len() as u64 + 15
    {
        p.truncated("bzImage", len, data.len());
    }
    if let Some((off, len)) = bz.payload()
        && len != 0
    {
        let end = bz.setup_len() as u64 + u64::from(off) + u64::from(len);
        p.truncated("bzImage payload", end, data.len());
    }
    if let Some(a) = bz.kernel_alignment()
        && bz.relocatable()
        && !a.is_power_of_two()
    {
        p.problems.push(Problem::Malformed(Error::malformed(
            "bzImage",
            "kernel_alignment is not a power of two",
        )));
    }
    p.details = Details::BzImage(Box::new(BzImageDetails {
        version: bz.version(),
        setup_sects: bz.setup_sects(),
        loaded_high: bz.is_bzimage(),
        loadflags: bz.loadflags(),
        code32_start: bz.code32_start(),
        initrd_addr_max: bz.initrd_addr_max(),
        kernel_alignment: bz.kernel_alignment(),
        relocatable: bz.relocatable(),
        xloadflags: (bz.version() >= 0x020C).then_some(x),
        cmdline_size: bz.cmdline_size(),
        pref_address: bz.pref_address(),
        init_size: bz.init_size(),
        handover_offset: bz.handover_offset(),
        kernel_version: bz.kernel_version().map(text),
        payload_format: bz.payload_data().and_then(magic_format),
        efi_stub: pe.map(pe_details),
    }));
    p
}

fn elf_details(e: &Elf<'_>) -> ElfDetails {
    ElfDetails {
        is_64bit: e.is_64bit(),
        kind: e.kind(),
        machine: e.machine(),
        entry: e.entry(),
        phnum: e.phnum(),
    }
}

fn probe_elf(data: &[u8], hints: &Hints<'_>) -> Probe {
    let elf = match Elf::parse(data) {
        Ok(e) => e,
        Err(e) => {
            let mut p = Probe::new(Format::Elf);
            p.problems.push(problem_of(e));
            return p;
        }
    };
    let d = elf_details(&elf);
    let mut p = match find_multiboot(data) {
        Some(mb) => {
            let mut p = Probe::new(Format::Multiboot);
            p.on(Platform::Bios);
            p.problems.push(Problem::BiosOnly {
                what: "multiboot kernel",
            });
            p.details = Details::Multiboot {
                header: mb,
                elf: Some(d),
            };
            p
        }
        None => {
            let mut p = Probe::new(Format::Elf);
            if !elf.is_64bit() && elf.machine() == 3 && elf.kind() == 2 {
                p.on(Platform::Bios);
                p.problems.push(Problem::BiosOnly {
                    what: "32-bit ELF image",
                });
            } else {
                p.problems.push(Problem::NotBootable {
                    what: "an ELF program without a multiboot header",
                    hint: "no firmware loader starts it directly (is it a Linux program, not a kernel?)",
                });
            }
            p.details = Details::Elf(d);
            p
        }
    };
    p.arch = elf.arch();
    if let Some(a) = p.arch
        && a != hints.machine
        && !(a == Arch::I386 && hints.machine == Arch::X86_64)
    {
        p.problems.push(Problem::ForeignArch {
            what: "ELF image",
            arch: a,
            machine: hints.machine,
            uefi: false,
        });
    }
    p.truncated("ELF image", elf.declared_len(), data.len());
    if elf.bad_load_segment().is_some() {
        p.problems.push(Problem::Malformed(Error::malformed(
            "ELF image",
            "a PT_LOAD segment has filesz > memsz",
        )));
    }
    p
}

fn probe_compressed(data: &[u8], depth: u8) -> Option<Probe> {
    let fmt = match magic_format(data) {
        Some(f @ (Format::Gzip | Format::Zstd | Format::Xz | Format::Lz4 | Format::Bzip2)) => f,
        _ if inflate::is_zlib_header(data) && data[1] & 0x20 == 0 => {
            // Two bytes are weak: believe it only if the start inflates.
            let mut out = Vec::new();
            match inflate::inflate(data.get(2..).unwrap_or(&[]), &mut out, PEEK) {
                Ok(_) | Err(Error::TooLarge { .. }) if !out.is_empty() => {}
                _ => return None,
            }
            Format::Zlib
        }
        _ => return None,
    };
    let mut p = Probe::new(fmt);
    let mut det = CompressedDetails {
        original_size: None,
        name: None,
        inner: None,
    };
    let mut peeked = Vec::new();
    match fmt {
        Format::Gzip => match inflate::GzipHeader::parse(data) {
            Ok(h) => {
                det.name = h.name.map(text);
                if data.len() >= h.data_offset + 8 {
                    det.original_size = crate::rd::le32(data, data.len() - 4).map(u64::from);
                }
                let r = inflate::inflate(&data[h.data_offset..], &mut peeked, PEEK);
                if let Err(e @ (Error::Malformed { .. } | Error::Unsupported { .. })) = r {
                    p.problems.push(Problem::Malformed(e));
                }
            }
            Err(e) => p.problems.push(problem_of(e)),
        },
        Format::Zlib => {
            let _ = inflate::inflate(&data[2..], &mut peeked, PEEK);
        }
        _ => {}
    }
    if !peeked.is_empty() {
        det.inner = Some(if depth < 2 {
            let inner = probe_depth(&peeked, &Hints::default(), depth + 1).format;
            // A truncated peek of a kernel/archive still has its magic: prefer magic.
            match inner {
                Format::Unknown => magic_format(&peeked).unwrap_or(Format::Unknown),
                f => f,
            }
        } else {
            magic_format(&peeked).unwrap_or(Format::Unknown)
        });
    }
    let hint = match det.inner {
        Some(Format::Cpio) => "it holds a CPIO archive: use it as an initrd",
        Some(Format::Unknown) | None => "decompress it, or use it as an initrd if it is one",
        Some(_) => "decompress it first (or let the loader do so)",
    };
    p.problems.push(Problem::NotBootable {
        what: "compressed data",
        hint,
    });
    p.details = Details::Compressed(det);
    Some(p)
}

fn probe_cpio(data: &[u8], depth: u8) -> Probe {
    let mut p = Probe::new(Format::Cpio);
    let mut r = CpioReader::new(data);
    let mut det = CpioDetails {
        entries: 0,
        first: None,
        early_microcode: false,
        followed_by: None,
    };
    for e in r.by_ref() {
        match e {
            Ok(e) => {
                if det.entries == 0 {
                    det.first = Some(text(e.name));
                }
                if e.name.starts_with(b"kernel/x86/microcode/") {
                    det.early_microcode = true;
                }
                det.entries += 1;
                if det.entries >= CPIO_COUNT_CAP {
                    break;
                }
            }
            Err(e) => {
                p.problems.push(problem_of(e));
                break;
            }
        }
    }
    let rest = r.rest();
    if !rest.is_empty() && det.entries < CPIO_COUNT_CAP && p.problems.is_empty() {
        det.followed_by = Some(magic_format(rest).unwrap_or(Format::Unknown));
        let _ = depth;
    }
    p.problems.push(Problem::NotBootable {
        what: "a CPIO archive",
        hint: "use it as an initrd",
    });
    p.details = Details::Cpio(det);
    p
}

fn gpt_summary(data: &[u8]) -> Option<core::result::Result<(u32, bool), Error>> {
    match Gpt::parse(data) {
        Ok(g) => {
            let mut n = 0u32;
            let mut esp = false;
            for part in g.partitions() {
                n += 1;
                esp |= part.is_esp();
            }
            Some(Ok((n, esp)))
        }
        Err(Error::BadMagic { .. }) => None,
        Err(e) => Some(Err(e)),
    }
}

fn probe_iso(data: &[u8]) -> Probe {
    let mut p = Probe::new(Format::Iso9660);
    let iso = match Iso::parse(data) {
        Ok(i) => i,
        Err(e) => {
            p.problems.push(problem_of(e));
            return p;
        }
    };
    p.truncated("ISO 9660 image", iso.declared_len(), data.len());
    let mut det = IsoDetails {
        volume_id: text(iso.volume_id()),
        volume_blocks: iso.volume_blocks(),
        boot_entries: Vec::new(),
        mbr: Mbr::parse(data).ok(),
        gpt: None,
        efi_loaders: Vec::new(),
        esp_loaders: Vec::new(),
    };
    match gpt_summary(data) {
        Some(Ok(g)) => det.gpt = Some(g),
        Some(Err(e)) => p.problems.push(Problem::Malformed(e)),
        None => {}
    }
    let mut efi = false;
    match iso.boot_catalog() {
        Some(Ok(cat)) => {
            for e in cat.entries().take(64) {
                if e.bootable {
                    match e.platform {
                        PLATFORM_X86 => p.on(Platform::Bios),
                        PLATFORM_EFI => {
                            efi = true;
                            if let Some(img) = e.image(data)
                                && cfg!(feature = "deep-probe")
                            {
                                esp_loaders(img, &mut det.esp_loaders, &mut p);
                            }
                        }
                        _ => {}
                    }
                    if e.image(data).is_none() {
                        p.problems.push(Problem::Truncated {
                            what: "El Torito boot image",
                            declared: u64::from(e.load_rba) * 2048
                                + u64::from(e.sector_count) * 512,
                            actual: data.len() as u64,
                        });
                    }
                }
                det.boot_entries.push(e);
            }
        }
        Some(Err(e)) => p.problems.push(Problem::Malformed(e)),
        None => {}
    }
    if det
        .mbr
        .as_ref()
        .is_some_and(|m| m.has_boot_code && m.used().next().is_some())
    {
        // isohybrid: a BIOS can also boot it as a disk.
        p.on(Platform::Bios);
    }
    if det.gpt.is_some_and(|g| g.1)
        || det
            .mbr
            .as_ref()
            .is_some_and(|m| m.used().any(|q| q.kind == 0xEF))
    {
        efi = true;
    }
    if efi {
        // Which architectures: look for the removable-media loaders in the ISO tree.
        const LOADERS: [(&str, Platform); 5] = [
            ("BOOTX64.EFI", Platform::EfiX86_64),
            ("BOOTIA32.EFI", Platform::EfiIa32),
            ("BOOTAA64.EFI", Platform::EfiAarch64),
            ("BOOTARM.EFI", Platform::EfiArm),
            ("BOOTRISCV64.EFI", Platform::EfiRiscv64),
        ];
        if let Ok(Some(dir)) = iso.lookup("/EFI/BOOT")
            && let Ok(entries) = iso.read_dir(&dir)
        {
            for r in entries.take(256).flatten() {
                for (n, plat) in LOADERS {
                    if r.plain_name().eq_ignore_ascii_case(n.as_bytes()) {
                        p.on(plat);
                        det.efi_loaders.push(String::from(n));
                    }
                }
            }
        }
        for l in &det.esp_loaders {
            if let Some(plat) = l.arch.and_then(Arch::efi_platform) {
                p.on(plat);
            }
        }
        if det.efi_loaders.is_empty() && det.esp_loaders.is_empty() {
            p.on(Platform::Efi);
        }
    }
    if p.bootable_on.is_empty() {
        p.problems.push(Problem::NotBootable {
            what: "an ISO without El Torito boot entries",
            hint: "it is a data disc; nothing on it says how to boot",
        });
    }
    p.details = Details::Iso(Box::new(det));
    p
}

/// Reads the XML and the boot image's metadata when small enough.
fn wim_details(data: &[u8], header: WimHeader, p: &mut Probe) -> WimDetails {
    let mut det = WimDetails {
        header,
        images: Vec::new(),
        boot_files: None,
    };
    if header.pipable || !cfg!(feature = "deep-probe") {
        return det;
    }
    let mut wim = match Wim::parse_limited(data, WIM_PROBE_METADATA_CAP) {
        Ok(w) => w,
        // Truncation is already reported from the header; LZMS/solid above.
        Err(Error::Truncated { .. } | Error::Unsupported { .. }) => return det,
        Err(e) => {
            p.problems.push(problem_of(e));
            return det;
        }
    };
    wim.set_limit(WIM_PROBE_XML_CAP);
    match wim.info() {
        Ok(i) => {
            if i.images.len() != header.image_count as usize {
                p.problems.push(Problem::Malformed(Error::malformed(
                    "WIM XML",
                    "number of <IMAGE> elements differs from the header's image count",
                )));
            }
            det.images = i.images;
        }
        Err(Error::TooLarge { .. } | Error::Unsupported { .. }) => {}
        Err(e) => p.problems.push(problem_of(e)),
    }
    if header.boot_index > header.image_count {
        p.problems.push(Problem::Malformed(Error::malformed(
            "WIM header",
            "boot index beyond the image count",
        )));
    }
    if header.image_count == 0 {
        return det;
    }
    wim.set_limit(WIM_PROBE_METADATA_CAP);
    let image = if header.boot_index != 0 { 0 } else { 1 };
    match wim.metadata(image) {
        Ok(m) => {
            det.boot_files = Some(
                WIM_BOOT_FILES
                    .iter()
                    .copied()
                    .filter(|f| m.find(f).is_ok_and(|e| !e.is_dir()))
                    .collect(),
            );
        }
        Err(Error::TooLarge { .. } | Error::Unsupported { .. }) => {}
        Err(e) => p.problems.push(problem_of(e)),
    }
    det
}

/// Removable-media loader names and their architectures.
const EFI_BOOT_NAMES: [(&str, Arch); 7] = [
    ("BOOTX64.EFI", Arch::X86_64),
    ("BOOTIA32.EFI", Arch::I386),
    ("BOOTAA64.EFI", Arch::Aarch64),
    ("BOOTARM.EFI", Arch::Arm),
    ("BOOTRISCV64.EFI", Arch::Riscv64),
    ("BOOTRISCV32.EFI", Arch::Riscv32),
    ("BOOTLOONGARCH64.EFI", Arch::LoongArch64),
];

/// Looks for `\EFI\BOOT\BOOT*.EFI` in an El Torito EFI image's FAT file system.
fn esp_loaders(img: &[u8], out: &mut Vec<EspLoader>, p: &mut Probe) {
    let fat = match crate::fat::Fat::parse(img) {
        Ok(f) => f,
        Err(e) => {
            p.problems.push(Problem::Malformed(e));
            return;
        }
    };
    let dir = match fat.find("EFI/BOOT") {
        Ok(Some(d)) if d.is_dir() => d,
        Ok(_) => return,
        Err(e) => {
            p.problems.push(Problem::Malformed(e));
            return;
        }
    };
    let entries = match fat.read_dir(&dir) {
        Ok(v) => v,
        Err(e) => {
            p.problems.push(Problem::Malformed(e));
            return;
        }
    };
    for f in entries.iter().filter(|f| !f.is_dir()).take(64) {
        let Some(&(name, by_name)) = EFI_BOOT_NAMES
            .iter()
            .find(|(n, _)| f.name.eq_ignore_ascii_case(n))
        else {
            continue;
        };
        // The PE machine says more than the name; 4 KiB holds the headers.
        let by_pe = fat
            .read(f, 4096)
            .ok()
            .and_then(|h| pe_machine(&h))
            .and_then(pe::machine_arch);
        let arch = by_pe.or(Some(by_name));
        if by_pe.is_some_and(|a| a != by_name) {
            p.problems.push(Problem::Maybe {
                hint: "an El Torito EFI loader's PE machine does not match its file name",
            });
        }
        if out.len() < 16 {
            out.push(EspLoader {
                name: String::from(name),
                arch,
                size: f.size,
            });
        }
    }
}

/// The COFF machine of a PE image from its first bytes.
fn pe_machine(d: &[u8]) -> Option<u16> {
    if !d.starts_with(b"MZ") {
        return None;
    }
    let pe = crate::rd::le32(d, 0x3C)? as usize;
    if d.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    crate::rd::le16(d, pe + 4)
}

fn probe_disk(data: &[u8]) -> Option<Probe> {
    let mbr = Mbr::parse(data).ok();
    let gpt = gpt_summary(data);
    let has_parts = mbr.as_ref().is_some_and(|m| m.used().next().is_some());
    if !has_parts && gpt.is_none() {
        return None;
    }
    let mut p = Probe::new(Format::Disk);
    let mut det = DiskDetails { mbr, gpt: None };
    match gpt {
        Some(Ok(g)) => det.gpt = Some(g),
        Some(Err(e)) => p.problems.push(Problem::Malformed(e)),
        None => {}
    }
    if let Some(m) = &det.mbr {
        if m.has_boot_code && !m.is_protective() {
            p.on(Platform::Bios);
        }
        let end = m
            .used()
            .filter(|q: &&MbrPartition| q.kind != 0xEE)
            .map(|q| (u64::from(q.start) + u64::from(q.sectors)) * 512)
            .max()
            .unwrap_or(0);
        p.truncated("disk image", end, data.len());
        if m.used().any(|q| q.kind == 0xEF) {
            p.on(Platform::Efi);
        }
    }
    if det.gpt.is_some_and(|g| g.1) {
        p.on(Platform::Efi);
    }
    p.problems.push(Problem::NotBootable {
        what: "a disk image",
        hint: "boot it with sanboot (or write it to a disk)",
    });
    p.details = Details::Disk(det);
    Some(p)
}

fn probe_fallback(data: &[u8], hints: &Hints<'_>) -> Probe {
    let named_nbp = hints.name.is_some_and(|n| {
        let n = n.rsplit('/').next().unwrap_or(n);
        let n = n.split(['?', '#']).next().unwrap_or(n);
        [".0", ".pxe", ".kpxe", ".kkpxe"].iter().any(|ext| {
            let n = n.as_bytes();
            n.len() > ext.len() && n[n.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
        })
    });
    let far_jump_7c0 = data.len() >= 5 && data[0] == 0xEA && data[3..5] == [0xC0, 0x07];
    let mut p = Probe::new(Format::Unknown);
    if (hints.nbp || named_nbp) && !data.is_empty() && !data.starts_with(b"MZ") {
        p.format = Format::Nbp;
        p.arch = Some(Arch::I386);
        p.on(Platform::Bios);
        p.problems.push(Problem::Guess {
            why: "taken for a PXE NBP because of its name or context",
        });
        p.problems.push(Problem::BiosOnly { what: "PXE NBP" });
        if data.len() > NBP_MAX {
            p.problems.push(Problem::Malformed(Error::TooLarge {
                what: "PXE NBP",
                size: data.len() as u64,
                limit: NBP_MAX as u64,
            }));
        }
        return p;
    }
    if far_jump_7c0 && data.len() <= NBP_MAX {
        p.problems.push(Problem::Maybe {
            hint: "starts with a far jump to 07C0:xxxx like a PXE NBP (.pxe/.kpxe); NBPs have no magic, so name it so or load it from PXE",
        });
    } else if data.is_empty() {
        p.problems.push(Problem::NotBootable {
            what: "an empty file",
            hint: "the download produced no data",
        });
    }
    p
}
