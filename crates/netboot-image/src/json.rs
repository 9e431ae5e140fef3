//! JSON output for [`Probe`](crate::Probe) (no serde: `no_std`, `core::fmt::Write`).

use crate::elf::Multiboot;
use crate::microcode::Microcode;
use crate::probe::{Details, PeDetails};
use crate::{Format, Probe};
use core::fmt::{self, Write};

/// Writes `s` as a JSON string literal.
pub(crate) fn string(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 || c == '\u{7F}' || c == '\u{2028}' || c == '\u{2029}' => {
                write!(out, "\\u{:04x}", c as u32)?
            }
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// A tiny object writer that handles the commas.
struct Obj<'w, W: Write> {
    out: &'w mut W,
    first: bool,
}

impl<'w, W: Write> Obj<'w, W> {
    fn open(out: &'w mut W) -> Result<Self, fmt::Error> {
        out.write_char('{')?;
        Ok(Obj { out, first: true })
    }
    fn key(&mut self, k: &str) -> fmt::Result {
        if !self.first {
            self.out.write_char(',')?;
        }
        self.first = false;
        string(self.out, k)?;
        self.out.write_char(':')
    }
    fn num(&mut self, k: &str, v: impl fmt::Display) -> fmt::Result {
        self.key(k)?;
        write!(self.out, "{v}")
    }
    fn hex(&mut self, k: &str, v: u64) -> fmt::Result {
        self.key(k)?;
        write!(self.out, "\"{v:#x}\"")
    }
    fn opt_hex(&mut self, k: &str, v: Option<u64>) -> fmt::Result {
        match v {
            Some(v) => self.hex(k, v),
            None => Ok(()),
        }
    }
    fn boolean(&mut self, k: &str, v: bool) -> fmt::Result {
        self.key(k)?;
        self.out.write_str(if v { "true" } else { "false" })
    }
    fn str(&mut self, k: &str, v: &str) -> fmt::Result {
        self.key(k)?;
        string(self.out, v)
    }
    fn opt_str(&mut self, k: &str, v: Option<&str>) -> fmt::Result {
        match v {
            Some(v) => self.str(k, v),
            None => Ok(()),
        }
    }
    fn close(self) -> fmt::Result {
        self.out.write_char('}')
    }
}

fn pe(out: &mut impl Write, d: &PeDetails) -> fmt::Result {
    let mut o = Obj::open(out)?;
    o.hex("machine", u64::from(d.machine))?;
    o.boolean("pe32_plus", d.pe32_plus)?;
    o.num("subsystem", d.subsystem)?;
    o.str("subsystem_name", crate::pe::subsystem_name(d.subsystem))?;
    o.hex("entry_point", u64::from(d.entry_point))?;
    o.hex("image_base", d.image_base)?;
    o.hex("size_of_image", u64::from(d.size_of_image))?;
    o.hex("section_alignment", u64::from(d.section_alignment))?;
    o.boolean("nx_compat", d.nx_compat)?;
    o.num("data_directories", d.data_directories)?;
    o.boolean("relocations", d.relocations)?;
    o.boolean("signed", d.signed)?;
    o.num("certificates", d.certificates)?;
    o.opt_str("zboot", d.zboot.as_deref())?;
    o.opt_str("sbat", d.sbat.as_deref())?;
    o.key("sections")?;
    o.out.write_char('[')?;
    for (i, s) in d.sections.iter().enumerate() {
        if i > 0 {
            o.out.write_char(',')?;
        }
        let mut so = Obj::open(o.out)?;
        so.str("name", &alloc::string::String::from_utf8_lossy(s.name()))?;
        so.hex("virtual_address", u64::from(s.virtual_address))?;
        so.num("virtual_size", s.virtual_size)?;
        so.num("raw_size", s.raw_size)?;
        so.hex("raw_offset", u64::from(s.raw_offset))?;
        so.close()?;
    }
    o.out.write_char(']')?;
    o.close()
}

fn details(out: &mut impl Write, d: &Details) -> fmt::Result {
    match d {
        Details::None | Details::Script { gpxe: false } => out.write_str("{}"),
        Details::Script { gpxe: true } => out.write_str("{\"gpxe\":true}"),
        Details::BzImage(b) => {
            let mut o = Obj::open(out)?;
            let v = b.version;
            o.key("protocol")?;
            write!(o.out, "\"{}.{:02}\"", v >> 8, v & 0xFF)?;
            o.num("setup_sects", b.setup_sects)?;
            o.boolean("loaded_high", b.loaded_high)?;
            o.hex("loadflags", u64::from(b.loadflags))?;
            o.opt_hex("code32_start", b.code32_start.map(u64::from))?;
            o.hex("initrd_addr_max", u64::from(b.initrd_addr_max))?;
            o.opt_hex("kernel_alignment", b.kernel_alignment.map(u64::from))?;
            o.boolean("relocatable", b.relocatable)?;
            o.opt_hex("xloadflags", b.xloadflags.map(u64::from))?;
            if let Some(x) = b.xloadflags {
                o.boolean("entry_64", x & crate::bzimage::XLF_KERNEL_64 != 0)?;
                o.boolean(
                    "efi_handover",
                    x & (crate::bzimage::XLF_EFI_HANDOVER_32 | crate::bzimage::XLF_EFI_HANDOVER_64)
                        != 0,
                )?;
                o.boolean(
                    "above_4g",
                    x & crate::bzimage::XLF_CAN_BE_LOADED_ABOVE_4G != 0,
                )?;
            }
            o.num("cmdline_size", b.cmdline_size)?;
            o.opt_hex("pref_address", b.pref_address)?;
            o.opt_hex("init_size", b.init_size.map(u64::from))?;
            o.opt_hex("handover_offset", b.handover_offset.map(u64::from))?;
            o.opt_str("kernel_version", b.kernel_version.as_deref())?;
            o.opt_str("payload", b.payload_format.map(Format::name))?;
            o.boolean("efi_stub", b.efi_stub.is_some())?;
            if let Some(p) = &b.efi_stub {
                o.key("pe")?;
                pe(o.out, p)?;
            }
            o.close()
        }
        Details::Pe(p) => pe(out, p),
        Details::Uki(u) => {
            let mut o = Obj::open(out)?;
            o.str("linux", u.linux_format.name())?;
            o.num("linux_size", u.linux_size)?;
            if let Some(s) = u.initrd_size {
                o.num("initrd_size", s)?;
            }
            o.opt_str("cmdline", u.cmdline.as_deref())?;
            o.opt_str("uname", u.uname.as_deref())?;
            o.opt_str("kernel_version", u.kernel_version.as_deref())?;
            o.key("pe")?;
            pe(o.out, &u.pe)?;
            o.close()
        }
        Details::Elf(e) => elf(out, e),
        Details::Multiboot { header, elf: e } => {
            let mut o = Obj::open(out)?;
            o.num("multiboot", header.version())?;
            match *header {
                Multiboot::V1 { offset, flags } => {
                    o.hex("header_offset", offset as u64)?;
                    o.hex("flags", u64::from(flags))?;
                }
                Multiboot::V2 {
                    offset,
                    architecture,
                    tags,
                    ..
                } => {
                    o.hex("header_offset", offset as u64)?;
                    o.num("architecture", architecture)?;
                    o.boolean("efi_tags", tags & (0b111 << 7) != 0)?;
                }
            }
            if let Some(e) = e {
                o.key("elf")?;
                elf(o.out, e)?;
            }
            o.close()
        }
        Details::Wim(h) => {
            let mut o = Obj::open(out)?;
            o.boolean("pipable", h.pipable)?;
            o.hex("version", u64::from(h.version))?;
            o.hex("flags", u64::from(h.flags))?;
            o.str("compression", h.compression())?;
            o.num("chunk_size", h.chunk_size)?;
            o.num("part", h.part_number)?;
            o.num("total_parts", h.total_parts)?;
            o.num("image_count", h.image_count)?;
            o.num("boot_index", h.boot_index)?;
            o.boolean("integrity", h.integrity.stored_size != 0)?;
            o.key("images")?;
            o.out.write_char('[')?;
            for (n, i) in h.images.iter().enumerate() {
                if n > 0 {
                    o.out.write_char(',')?;
                }
                let mut io = Obj::open(o.out)?;
                io.num("index", i.index)?;
                io.opt_str("name", i.name.as_deref())?;
                io.opt_str("description", i.description.as_deref())?;
                io.close()?;
            }
            o.out.write_char(']')?;
            if let Some(f) = &h.boot_files {
                o.key("boot_files")?;
                o.out.write_char('[')?;
                for (n, f) in f.iter().enumerate() {
                    if n > 0 {
                        o.out.write_char(',')?;
                    }
                    string(o.out, f)?;
                }
                o.out.write_char(']')?;
                o.boolean("winload", f.iter().any(|p| p.ends_with("winload.efi")))?;
            }
            o.close()
        }
        Details::Iso(i) => {
            let mut o = Obj::open(out)?;
            o.str("volume_id", &i.volume_id)?;
            o.num("volume_blocks", i.volume_blocks)?;
            o.key("boot_entries")?;
            o.out.write_char('[')?;
            for (n, e) in i.boot_entries.iter().enumerate() {
                if n > 0 {
                    o.out.write_char(',')?;
                }
                let mut eo = Obj::open(o.out)?;
                eo.str(
                    "platform",
                    match e.platform {
                        crate::iso::PLATFORM_X86 => "bios",
                        crate::iso::PLATFORM_EFI => "efi",
                        1 => "powerpc",
                        2 => "mac",
                        _ => "other",
                    },
                )?;
                eo.boolean("bootable", e.bootable)?;
                eo.num("media", e.media)?;
                eo.num("load_rba", e.load_rba)?;
                eo.num("sector_count", e.sector_count)?;
                eo.close()?;
            }
            o.out.write_char(']')?;
            o.key("efi_loaders")?;
            o.out.write_char('[')?;
            for (n, l) in i.efi_loaders.iter().enumerate() {
                if n > 0 {
                    o.out.write_char(',')?;
                }
                string(o.out, l)?;
            }
            o.out.write_char(']')?;
            o.key("esp_loaders")?;
            o.out.write_char('[')?;
            for (n, l) in i.esp_loaders.iter().enumerate() {
                if n > 0 {
                    o.out.write_char(',')?;
                }
                let mut lo = Obj::open(o.out)?;
                lo.str("name", &l.name)?;
                lo.opt_str("arch", l.arch.map(crate::Arch::name))?;
                lo.num("size", l.size)?;
                lo.close()?;
            }
            o.out.write_char(']')?;
            o.boolean("mbr", i.mbr.is_some())?;
            if let Some((n, esp)) = i.gpt {
                o.num("gpt_partitions", n)?;
                o.boolean("gpt_esp", esp)?;
            }
            o.close()
        }
        Details::Disk(d) => {
            let mut o = Obj::open(out)?;
            if let Some(m) = &d.mbr {
                o.key("mbr")?;
                o.out.write_char('[')?;
                for (n, p) in m.used().enumerate() {
                    if n > 0 {
                        o.out.write_char(',')?;
                    }
                    let mut po = Obj::open(o.out)?;
                    po.hex("type", u64::from(p.kind))?;
                    po.boolean("active", p.status == 0x80)?;
                    po.num("start", p.start)?;
                    po.num("sectors", p.sectors)?;
                    po.close()?;
                }
                o.out.write_char(']')?;
            }
            if let Some((n, esp)) = d.gpt {
                o.num("gpt_partitions", n)?;
                o.boolean("gpt_esp", esp)?;
            }
            o.close()
        }
        Details::Compressed(c) => {
            let mut o = Obj::open(out)?;
            if let Some(s) = c.original_size {
                o.num("original_size_mod_4g", s)?;
            }
            o.opt_str("name", c.name.as_deref())?;
            o.opt_str("contains", c.inner.map(Format::name))?;
            o.close()
        }
        Details::Cpio(c) => {
            let mut o = Obj::open(out)?;
            o.num("entries", c.entries)?;
            o.opt_str("first", c.first.as_deref())?;
            o.boolean("early_microcode", c.early_microcode)?;
            o.opt_str("followed_by", c.followed_by.map(Format::name))?;
            o.close()
        }
        Details::Microcode(m) => {
            let mut o = Obj::open(out)?;
            match *m {
                Microcode::Intel {
                    revision,
                    date,
                    signature,
                    total_size,
                    checksum_ok,
                } => {
                    o.str("vendor", "intel")?;
                    o.hex("revision", u64::from(revision))?;
                    o.key("date")?;
                    write!(
                        o.out,
                        "\"{:04x}-{:02x}-{:02x}\"",
                        date & 0xFFFF,
                        date >> 24,
                        (date >> 16) & 0xFF
                    )?;
                    o.hex("signature", u64::from(signature))?;
                    o.num("total_size", total_size)?;
                    o.boolean("checksum_ok", checksum_ok)?;
                }
                Microcode::Amd => o.str("vendor", "amd")?,
            }
            o.close()
        }
    }
}

fn elf(out: &mut impl Write, e: &crate::probe::ElfDetails) -> fmt::Result {
    let mut o = Obj::open(out)?;
    o.num("class", if e.is_64bit { 64 } else { 32 })?;
    o.num("type", e.kind)?;
    o.hex("machine", u64::from(e.machine))?;
    o.hex("entry", e.entry)?;
    o.num("phnum", e.phnum)?;
    o.close()
}

pub(crate) fn write_probe(p: &Probe, out: &mut impl Write) -> fmt::Result {
    out.write_str("\"format\":")?;
    string(out, p.format.name())?;
    out.write_str(",\"arch\":")?;
    match p.arch {
        Some(a) => string(out, a.name())?,
        None => out.write_str("null")?,
    }
    out.write_str(",\"bootable_on\":[")?;
    for (i, pl) in p.bootable_on.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        string(out, pl.name())?;
    }
    out.write_str("],\"details\":")?;
    details(out, &p.details)?;
    out.write_str(",\"problems\":[")?;
    let mut buf = alloc::string::String::new();
    for (i, pr) in p.problems.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        buf.clear();
        write!(buf, "{pr}")?;
        string(out, &buf)?;
    }
    out.write_char(']')
}
