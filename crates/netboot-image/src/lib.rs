//! # netboot-image
//!
//! Pure probes, parsers and builders for every image a network boot meets. It depends on
//! nothing else of netboot's, is `no_std`, and allocates only for results (the
//! [`Probe`] report, decompressed output, CPIO headers it builds).
//!
//! * [`probe`] / [`probe_with`]: what an image is, what can boot it, and *why not*
//!   ("PE image for aarch64: cannot run on x86_64 UEFI", "bzImage without an EFI stub").
//! * Typed, zero-copy views: [`BzImage`], [`pe::Pe`], [`elf::Elf`], [`iso::Iso`] with
//!   [`iso::BootCatalog`], [`disk::Mbr`]/[`disk::Gpt`], [`wim::WimHeader`],
//!   [`cpio::CpioReader`], [`fat::Fat`] (FAT12/16/32, read-only).
//! * WIM contents: [`wim::Wim`] reads the blob table, the XML (image names, boot index),
//!   image metadata and files by path, decompressing [`xpress`] and [`lzx`] resources and
//!   checking each file's SHA-1.
//! * Builders and decoders: [`cpio::initrd_prefix`] / [`cpio::CpioWriter`],
//!   [`inflate::gunzip`] / [`inflate::zlib_decompress`] (CRC32 and Adler-32 checked).
//!
//! Every parser checks every offset and length against the data with overflow-safe
//! arithmetic, returns [`Error`] rather than panicking, and bounds loops and recursion.
//!
//! Cargo feature `deep-probe` (default): [`probe`] also reads a WIM's XML and boot-image
//! metadata and lists the EFI loaders inside El Torito FAT images. It costs about 50 KB
//! of code, so the firmwares build without it (their `probe` still names the format,
//! header details and problems); `netboot-sim probe` has it.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

pub mod bzimage;
pub mod cpio;
pub mod disk;
pub mod elf;
mod error;
pub mod fat;
mod huffman;
pub mod inflate;
pub mod iso;
mod json;
pub mod lzx;
pub mod microcode;
pub mod pe;
mod probe;
mod rd;
pub mod sha1;
pub mod wim;
pub mod xpress;

pub use bzimage::BzImage;
pub use error::{Error, Result};
pub use probe::{
    BzImageDetails, CompressedDetails, CpioDetails, Details, DiskDetails, ElfDetails, EspLoader,
    Hints, IsoDetails, PeDetails, Probe, UkiDetails, WIM_BOOT_FILES, WimDetails, probe, probe_with,
};

use core::fmt;

/// The image formats netboot names in `netboot-sim probe` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Linux x86 boot-protocol image (bzImage or zImage), with or without an EFI stub.
    BzImage,
    /// PE/COFF EFI application or driver (or another PE).
    Pe,
    /// Unified kernel image: a PE stub with a `.linux` section.
    Uki,
    /// iPXE script (`#!ipxe` or `#!gpxe`).
    Script,
    /// PXE network bootstrap program (no magic: a guess from context).
    Nbp,
    /// ELF executable without a Multiboot header.
    Elf,
    /// Multiboot 1 or 2 kernel (ELF or a.out kludge).
    Multiboot,
    /// SYSLINUX COM32R module.
    Com32,
    /// Windows Imaging (WIM/ESD).
    Wim,
    /// ISO 9660 image (possibly hybrid).
    Iso9660,
    /// Partitioned disk image (MBR/GPT).
    Disk,
    /// gzip data.
    Gzip,
    /// zlib data.
    Zlib,
    /// Zstandard data.
    Zstd,
    /// xz data.
    Xz,
    /// LZ4 data (frame or legacy).
    Lz4,
    /// bzip2 data.
    Bzip2,
    /// CPIO newc archive.
    Cpio,
    /// x86 CPU microcode (Intel or AMD).
    Microcode,
    /// Anything not recognised.
    Unknown,
}

impl Format {
    /// The lower-case name used in machine-readable output.
    pub const fn name(self) -> &'static str {
        match self {
            Format::BzImage => "bzimage",
            Format::Pe => "pe",
            Format::Uki => "uki",
            Format::Script => "script",
            Format::Nbp => "nbp",
            Format::Elf => "elf",
            Format::Multiboot => "multiboot",
            Format::Com32 => "com32",
            Format::Wim => "wim",
            Format::Iso9660 => "iso9660",
            Format::Disk => "disk",
            Format::Gzip => "gzip",
            Format::Zlib => "zlib",
            Format::Zstd => "zstd",
            Format::Xz => "xz",
            Format::Lz4 => "lz4",
            Format::Bzip2 => "bzip2",
            Format::Cpio => "cpio",
            Format::Microcode => "microcode",
            Format::Unknown => "unknown",
        }
    }

    /// All formats, in declaration order.
    pub const ALL: [Format; 20] = [
        Format::BzImage,
        Format::Pe,
        Format::Uki,
        Format::Script,
        Format::Nbp,
        Format::Elf,
        Format::Multiboot,
        Format::Com32,
        Format::Wim,
        Format::Iso9660,
        Format::Disk,
        Format::Gzip,
        Format::Zlib,
        Format::Zstd,
        Format::Xz,
        Format::Lz4,
        Format::Bzip2,
        Format::Cpio,
        Format::Microcode,
        Format::Unknown,
    ];
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A CPU architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arch {
    /// x86-64.
    X86_64,
    /// 32-bit x86.
    I386,
    /// AArch64.
    Aarch64,
    /// 32-bit ARM.
    Arm,
    /// RISC-V 64.
    Riscv64,
    /// RISC-V 32.
    Riscv32,
    /// LoongArch64.
    LoongArch64,
    /// EFI Byte Code.
    Ebc,
}

impl Arch {
    /// The lower-case name used in machine-readable output.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Riscv64 => "riscv64",
            Arch::Riscv32 => "riscv32",
            Arch::LoongArch64 => "loongarch64",
            Arch::Ebc => "ebc",
        }
    }

    /// The UEFI platform that runs this architecture's EFI images.
    pub const fn efi_platform(self) -> Option<Platform> {
        match self {
            Arch::X86_64 => Some(Platform::EfiX86_64),
            Arch::I386 => Some(Platform::EfiIa32),
            Arch::Aarch64 => Some(Platform::EfiAarch64),
            Arch::Arm => Some(Platform::EfiArm),
            Arch::Riscv64 => Some(Platform::EfiRiscv64),
            Arch::LoongArch64 => Some(Platform::EfiLoongArch64),
            Arch::Riscv32 | Arch::Ebc => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something that can start an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// x86-64 UEFI (`LoadImage`/`StartImage`).
    EfiX86_64,
    /// IA-32 UEFI.
    EfiIa32,
    /// AArch64 UEFI.
    EfiAarch64,
    /// 32-bit ARM UEFI.
    EfiArm,
    /// RISC-V 64 UEFI.
    EfiRiscv64,
    /// LoongArch64 UEFI.
    EfiLoongArch64,
    /// UEFI of an architecture that could not be determined (an El Torito EFI entry whose
    /// loader was not found in the ISO tree, an ESP in a disk image).
    Efi,
    /// PC BIOS (boot sector, NBP, or a BIOS loader for Linux/multiboot/ELF/COM32).
    Bios,
    /// A loader that implements the Linux x86 boot protocol (netboot's own, GRUB, kexec).
    LinuxBootProtocol,
}

impl Platform {
    /// The name used in machine-readable output.
    pub const fn name(self) -> &'static str {
        match self {
            Platform::EfiX86_64 => "efi-x86_64",
            Platform::EfiIa32 => "efi-ia32",
            Platform::EfiAarch64 => "efi-aarch64",
            Platform::EfiArm => "efi-arm",
            Platform::EfiRiscv64 => "efi-riscv64",
            Platform::EfiLoongArch64 => "efi-loongarch64",
            Platform::Efi => "efi",
            Platform::Bios => "bios",
            Platform::LinuxBootProtocol => "linux-boot-protocol",
        }
    }

    /// All platforms, in output order.
    pub const ALL: [Platform; 9] = [
        Platform::EfiX86_64,
        Platform::EfiIa32,
        Platform::EfiAarch64,
        Platform::EfiArm,
        Platform::EfiRiscv64,
        Platform::EfiLoongArch64,
        Platform::Efi,
        Platform::Bios,
        Platform::LinuxBootProtocol,
    ];

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Platform`]s (a bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Platforms(u16);

impl Platforms {
    /// The empty set.
    pub const EMPTY: Platforms = Platforms(0);

    /// Adds a platform.
    pub fn insert(&mut self, p: Platform) {
        self.0 |= p.bit();
    }

    /// Whether the set holds `p`.
    pub fn contains(&self, p: Platform) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Platform::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Platform> + '_ {
        Platform::ALL.into_iter().filter(|p| self.contains(*p))
    }
}

/// Why an image may not boot where the user hoped. `Display` gives the human text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The file is shorter than its headers say.
    Truncated {
        /// The format whose header declares the length.
        what: &'static str,
        /// Bytes the header implies.
        declared: u64,
        /// Bytes present.
        actual: u64,
    },
    /// A bzImage with no PE header: UEFI cannot start it.
    NoEfiStub,
    /// An executable for another CPU than the machine's.
    ForeignArch {
        /// `"PE image"`, `"ELF image"`, …
        what: &'static str,
        /// The image's architecture.
        arch: Arch,
        /// The machine's architecture (from [`Hints::machine`]).
        machine: Arch,
        /// The image is started by UEFI (a PE), so the message names UEFI.
        uefi: bool,
    },
    /// A PE machine type this crate does not know.
    UnknownMachine {
        /// COFF Machine.
        machine: u16,
    },
    /// A PE image whose subsystem is not EFI.
    NotEfiSubsystem {
        /// Subsystem value.
        subsystem: u16,
    },
    /// An EFI image without an Authenticode signature.
    Unsigned,
    /// A zImage (protocol < 2.00 or no LOADED_HIGH): loads below 1 MiB.
    ZImage,
    /// Only a BIOS loader can start this image.
    BiosOnly {
        /// What the image is.
        what: &'static str,
    },
    /// Data, not a program: needs to be passed to something else.
    NotBootable {
        /// What the data is.
        what: &'static str,
        /// How it is normally used.
        hint: &'static str,
    },
    /// The format was guessed without a magic number.
    Guess {
        /// What was guessed and from what.
        why: &'static str,
    },
    /// A structure failed to parse.
    Malformed(Error),
    /// A checksum in the image is wrong.
    BadChecksum {
        /// Which checksum.
        what: &'static str,
    },
    /// The file could be something else that has no magic.
    Maybe {
        /// The suggestion.
        hint: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Truncated {
                what,
                declared,
                actual,
            } => write!(
                f,
                "truncated {what}: header says {declared} bytes, have {actual}"
            ),
            Problem::NoEfiStub => f.write_str(
                "bzImage without an EFI stub: UEFI cannot start it; build the kernel with CONFIG_EFI_STUB",
            ),
            Problem::ForeignArch {
                what,
                arch,
                machine,
                uefi,
            } => write!(
                f,
                "{what} for {arch}: cannot run on {machine}{}",
                if *uefi { " UEFI" } else { "" }
            ),
            Problem::UnknownMachine { machine } => {
                write!(f, "PE image for unknown machine type {machine:#06x}: no UEFI firmware will run it")
            }
            Problem::NotEfiSubsystem { subsystem } => write!(
                f,
                "PE image with subsystem {subsystem} ({}): not an EFI program, LoadImage refuses it",
                pe::subsystem_name(*subsystem)
            ),
            Problem::Unsigned => f.write_str(
                "no Authenticode signature: with Secure Boot on, firmware refuses it unless its hash is enrolled",
            ),
            Problem::ZImage => f.write_str(
                "zImage (old boot protocol, loads below 1 MiB): only BIOS loaders start it",
            ),
            Problem::BiosOnly { what } => {
                write!(f, "{what}: only a BIOS loader can start it, UEFI cannot")
            }
            Problem::NotBootable { what, hint } => {
                write!(f, "{what} is not bootable by itself: {hint}")
            }
            Problem::Guess { why } => write!(f, "no magic number: {why}"),
            Problem::Malformed(e) => write!(f, "{e}"),
            Problem::BadChecksum { what } => write!(f, "{what} checksum is wrong: the data is corrupt"),
            Problem::Maybe { hint } => f.write_str(hint),
        }
    }
}

#[cfg(test)]
mod tests;
