//! The settings store: iPXE's `${block/name:type}` model.
//!
//! Settings live in a tree of blocks (root, `net0`, `net0.dhcp`, `proxydhcp`, `builtin`,
//! …). Values are raw bytes; a [`SettingType`] parses text into bytes (`set`) and formats
//! bytes as text (expansion, `show`). Numeric names (`209`, `175.81`) are DHCP option tags.
//! [`Settings::expand`] implements iPXE's expansion: innermost reference first, rescanning
//! from the start, with a bound on the number of rounds (iPXE has none and loops for ever on
//! a self-reference).
//!
//! ```
//! use netboot_core::settings::Settings;
//! let mut s = Settings::new();
//! s.set("net0.dhcp/ip:ipv4", "192.0.2.100").expect("valid");
//! s.set("base", "http://192.0.2.1").expect("valid");
//! assert_eq!(s.expand("${base}/boot/${ip}").expect("expands"), "http://192.0.2.1/boot/192.0.2.100");
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::net::Ipv4Addr;

/// Errors of settings parsing, lookup and expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    /// The type name after `:` is not one netboot knows.
    UnknownType(String),
    /// The text is not a valid value of the type.
    Invalid {
        /// The type that rejected it.
        ty: SettingType,
        /// The text.
        text: String,
    },
    /// Reading from a block that does not exist.
    NoSuchBlock(String),
    /// Expansion did not finish within the bound (a setting refers to itself).
    ExpansionLoop,
    /// A name is empty or malformed.
    BadName(String),
    /// Expansion produced more than [`MAX_EXPANDED_LEN`] bytes.
    ExpansionTooLong,
    /// The type cannot hold a number (`inc` on a `string` setting).
    NotNumeric(SettingType),
    /// Writing to a scope that only reads the machine (`smbios/`, `pci/`, `cpuid/`).
    ReadOnly(String),
}

impl SettingsError {
    /// Stable numeric code (for `${errno}` and exit statuses).
    pub const fn code(&self) -> u32 {
        match self {
            SettingsError::UnknownType(_) => 0x3c00,
            SettingsError::Invalid { .. } => 0x3c01,
            SettingsError::NoSuchBlock(_) => 0x3c02,
            SettingsError::ExpansionLoop => 0x3c03,
            SettingsError::BadName(_) => 0x3c04,
            SettingsError::ExpansionTooLong => 0x3c05,
            SettingsError::NotNumeric(_) => 0x3c06,
            SettingsError::ReadOnly(_) => 0x3c07,
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::UnknownType(t) => write!(
                f,
                "unknown setting type {t:?} (known: string, uristring, ipv4, int8/16/32, uint8/16/32, hex, hexhyp, hexraw, base64, uuid, guid)"
            ),
            SettingsError::Invalid { ty, text } => {
                write!(f, "{text:?} is not a valid {} value", ty.name())
            }
            SettingsError::NoSuchBlock(b) => write!(f, "no settings block {b:?}"),
            SettingsError::ExpansionLoop => {
                f.write_str("settings expansion did not terminate: a setting refers to itself")
            }
            SettingsError::BadName(n) => write!(f, "malformed setting name {n:?}"),
            SettingsError::ExpansionTooLong => {
                write!(f, "settings expansion grew beyond {MAX_EXPANDED_LEN} bytes")
            }
            SettingsError::NotNumeric(ty) => write!(f, "type {} cannot hold a number", ty.name()),
            SettingsError::ReadOnly(b) => write!(
                f,
                "settings block {b:?} reads the hardware and cannot be written (use another block, e.g. a plain name)"
            ),
        }
    }
}

/// How a setting's bytes are parsed from and formatted as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The variant names are the iPXE type names.
pub enum SettingType {
    String,
    UriString,
    Ipv4,
    Int8,
    Int16,
    Int32,
    Uint8,
    Uint16,
    Uint32,
    Hex,
    HexHyp,
    HexRaw,
    Base64,
    Uuid,
    Guid,
}

const TYPES: &[(&str, SettingType)] = &[
    ("string", SettingType::String),
    ("uristring", SettingType::UriString),
    ("ipv4", SettingType::Ipv4),
    ("int8", SettingType::Int8),
    ("int16", SettingType::Int16),
    ("int32", SettingType::Int32),
    ("uint8", SettingType::Uint8),
    ("uint16", SettingType::Uint16),
    ("uint32", SettingType::Uint32),
    ("hex", SettingType::Hex),
    ("hexhyp", SettingType::HexHyp),
    ("hexraw", SettingType::HexRaw),
    ("base64", SettingType::Base64),
    ("uuid", SettingType::Uuid),
    ("guid", SettingType::Guid),
];

impl SettingType {
    /// Looks a type up by its iPXE name.
    pub fn from_name(name: &str) -> Result<SettingType, SettingsError> {
        TYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| SettingsError::UnknownType(name.to_string()))
    }

    /// The iPXE name of the type.
    pub fn name(self) -> &'static str {
        TYPES
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("string")
    }

    /// Parses text into raw bytes, as `set` does.
    pub fn parse(self, text: &str) -> Result<Vec<u8>, SettingsError> {
        let invalid = || SettingsError::Invalid {
            ty: self,
            text: text.to_string(),
        };
        match self {
            SettingType::String => Ok(text.as_bytes().to_vec()),
            SettingType::UriString => Ok(percent_decode(text)),
            SettingType::Ipv4 => text
                .parse::<Ipv4Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| invalid()),
            SettingType::Int8 | SettingType::Uint8 => int_bytes(text, 1).ok_or_else(invalid),
            SettingType::Int16 | SettingType::Uint16 => int_bytes(text, 2).ok_or_else(invalid),
            SettingType::Int32 | SettingType::Uint32 => int_bytes(text, 4).ok_or_else(invalid),
            SettingType::Hex => hex_parse(text, Some(':')).ok_or_else(invalid),
            SettingType::HexHyp => hex_parse(text, Some('-')).ok_or_else(invalid),
            SettingType::HexRaw => hex_parse(text, None).ok_or_else(invalid),
            SettingType::Base64 => base64_decode(text).ok_or_else(invalid),
            SettingType::Uuid | SettingType::Guid => {
                let hex: String = text.chars().filter(|&c| c != '-').collect();
                let dashed = text.len() == 36
                    && [8, 13, 18, 23]
                        .iter()
                        .all(|&i| text.as_bytes().get(i) == Some(&b'-'));
                if !(dashed || text.len() == 32) {
                    return Err(invalid());
                }
                let mut bytes = hex_parse(&hex, None)
                    .filter(|b| b.len() == 16)
                    .ok_or_else(invalid)?;
                if self == SettingType::Guid {
                    guid_swap(&mut bytes);
                }
                Ok(bytes)
            }
        }
    }

    /// Formats raw bytes as text, as expansion and `show` do.
    pub fn format(self, raw: &[u8]) -> String {
        let mut out = String::new();
        match self {
            SettingType::String => {
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                out.push_str(&String::from_utf8_lossy(&raw[..end]));
            }
            SettingType::UriString => percent_encode(raw, &mut out),
            SettingType::Ipv4 => match <[u8; 4]>::try_from(raw) {
                Ok(a) => out.push_str(&Ipv4Addr::from(a).to_string()),
                Err(_) => hex_format(raw, ":", &mut out),
            },
            SettingType::Int8 | SettingType::Int16 | SettingType::Int32 => {
                let _ = write!(out, "{}", be_signed(raw));
            }
            SettingType::Uint8 | SettingType::Uint16 | SettingType::Uint32 => {
                let _ = write!(out, "{:#x}", be_unsigned(raw));
            }
            SettingType::Hex => hex_format(raw, ":", &mut out),
            SettingType::HexHyp => hex_format(raw, "-", &mut out),
            SettingType::HexRaw => hex_format(raw, "", &mut out),
            SettingType::Base64 => base64_encode(raw, &mut out),
            SettingType::Uuid | SettingType::Guid => {
                let mut b = raw.to_vec();
                if b.len() != 16 {
                    hex_format(raw, ":", &mut out);
                    return out;
                }
                if self == SettingType::Guid {
                    guid_swap(&mut b);
                }
                for (i, byte) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push('-');
                    }
                    let _ = write!(out, "{byte:02x}");
                }
            }
        }
        out
    }

    /// Whether the type is one of the integer types (`int8` … `uint32`).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            SettingType::Int8
                | SettingType::Int16
                | SettingType::Int32
                | SettingType::Uint8
                | SettingType::Uint16
                | SettingType::Uint32
        )
    }

    /// Stores a number in the type's width (big-endian, truncated as iPXE does), as
    /// `inc` does; `None` for non-numeric types.
    pub fn from_number(self, value: i64) -> Option<Vec<u8>> {
        let width = match self {
            SettingType::Int8 | SettingType::Uint8 => 1,
            SettingType::Int16 | SettingType::Uint16 => 2,
            SettingType::Int32 | SettingType::Uint32 => 4,
            _ => return None,
        };
        Some(value.to_be_bytes()[8 - width..].to_vec())
    }

    /// Reads raw bytes as a number the way `inc` and numeric types do (big-endian,
    /// sign-extended for signed types).
    pub fn numeric(self, raw: &[u8]) -> i64 {
        match self {
            SettingType::Int8 | SettingType::Int16 | SettingType::Int32 => be_signed(raw),
            _ => be_unsigned(raw) as i64,
        }
    }
}

fn guid_swap(b: &mut [u8]) {
    if b.len() >= 8 {
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
    }
}

fn be_unsigned(raw: &[u8]) -> u64 {
    raw.iter()
        .rev()
        .take(8)
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn be_signed(raw: &[u8]) -> i64 {
    let len = raw.len().min(8);
    if len == 0 {
        return 0;
    }
    let v = be_unsigned(raw);
    let shift = 64 - 8 * len as u32;
    ((v << shift) as i64) >> shift
}

/// Parses an integer like C's `strtoul` with base 0 (decimal, `0x` hex, `0` octal, with an
/// optional sign) into `width` big-endian bytes, truncating as iPXE does.
fn int_bytes(text: &str, width: usize) -> Option<Vec<u8>> {
    let value = parse_int(text)?;
    Some(value.to_be_bytes()[8 - width..].to_vec())
}

/// C-style integer with base prefix; `None` for empty or trailing garbage.
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    let v = u64::from_str_radix(digits, radix).ok()? as i64;
    Some(if neg { v.wrapping_neg() } else { v })
}

fn hex_parse(text: &str, sep: Option<char>) -> Option<Vec<u8>> {
    let pair = |s: &str| {
        (s.len() == 2)
            .then(|| u8::from_str_radix(s, 16).ok())
            .flatten()
    };
    match sep {
        _ if text.is_empty() => Some(Vec::new()),
        Some(sep) => text.split(sep).map(pair).collect(),
        None => {
            if !text.len().is_multiple_of(2) || !text.is_ascii() {
                return None;
            }
            (0..text.len())
                .step_by(2)
                .map(|i| pair(text.get(i..i + 2)?))
                .collect()
        }
    }
}

fn hex_format(raw: &[u8], sep: &str, out: &mut String) {
    for (i, b) in raw.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let _ = write!(out, "{b:02x}");
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| core::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            // A malformed escape is kept as it is.
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

fn percent_encode(raw: &[u8], out: &mut String) {
    for &b in raw {
        let reserved = b" %/#:@?=&+".contains(&b);
        if (0x20..=0x7e).contains(&b) && !reserved {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(raw: &[u8], out: &mut String) {
    for chunk in raw.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = false;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            padding = true;
            continue;
        }
        if padding {
            return None;
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A parsed setting name: `[block/]name[:type]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingName {
    /// Block path (`net0.dhcp`); empty for the root.
    pub block: String,
    /// Setting name as written (`ip`, `209`, `175.81`).
    pub name: String,
    /// Numeric tag for dotted-integer names (DHCP options), else 0.
    pub tag: u32,
    /// Explicit `:type`.
    pub ty: Option<SettingType>,
}

impl SettingName {
    /// Parses a name; splits at the first `/`, then at the first `:`.
    pub fn parse(text: &str) -> Result<SettingName, SettingsError> {
        let (block, rest) = match text.split_once('/') {
            Some((b, r)) => (b, r),
            None => ("", text),
        };
        let (name, ty) = match rest.split_once(':') {
            Some((n, t)) => (n, Some(SettingType::from_name(t)?)),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(SettingsError::BadName(text.to_string()));
        }
        let tag = numeric_tag(name).unwrap_or(0);
        Ok(SettingName {
            block: block.to_string(),
            name: name.to_string(),
            tag,
            ty,
        })
    }
}

/// Dotted integers packed into a tag: `175.81` → 0xAF51.
fn numeric_tag(name: &str) -> Option<u32> {
    name.split('.').try_fold(0u32, |tag, part| {
        let v = parse_int(part).filter(|v| (0..=255).contains(v))?;
        Some(tag.checked_shl(8)? | v as u32)
    })
}

/// Predefined settings: name, tag when they come from DHCP, type.
const PREDEFINED: &[(&str, u32, SettingType)] = &[
    ("ip", 0xaf02, SettingType::Ipv4),
    ("netmask", 1, SettingType::Ipv4),
    ("gateway", 3, SettingType::Ipv4),
    ("dns", 6, SettingType::Ipv4),
    ("hostname", 12, SettingType::String),
    ("domain", 15, SettingType::String),
    ("root-path", 17, SettingType::String),
    ("mtu", 26, SettingType::Int16),
    ("ntp", 42, SettingType::Ipv4),
    ("dhcp-server", 54, SettingType::Ipv4),
    ("vendor-class", 60, SettingType::String),
    ("filename", 67, SettingType::String),
    ("user-class", 77, SettingType::String),
    ("static-routes", 121, SettingType::Hex),
    ("initiator-iqn", 203, SettingType::String),
    ("priority", 0xaf01, SettingType::Int8),
    ("next-server", 0xaf03, SettingType::Ipv4),
    ("scriptlet", 0xaf51, SettingType::String),
    ("username", 0xafbe, SettingType::String),
    ("password", 0xafbf, SettingType::String),
    ("mac", 0, SettingType::Hex),
    ("hwaddr", 0, SettingType::Hex),
    ("busid", 0, SettingType::Hex),
    ("uuid", 0, SettingType::Uuid),
    ("memsize", 0, SettingType::Int32),
    ("unixtime", 0, SettingType::Uint32),
    ("errno", 0, SettingType::Uint32),
];

/// The predefined (tag, type) for a name, or for a tag.
fn predefined(name: &SettingName) -> Option<(&'static str, u32, SettingType)> {
    PREDEFINED
        .iter()
        .find(|(n, tag, _)| *n == name.name || (name.tag != 0 && *tag == name.tag))
        .copied()
}

#[derive(Clone, Debug)]
struct Entry {
    name: String,
    tag: u32,
    ty: SettingType,
    value: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Block {
    /// Full dotted path (`net0.dhcp`); empty for the root.
    path: String,
    /// DHCP blocks hold only tagged settings (options), like iPXE's dhcppkt blocks.
    dhcp: bool,
    priority: i8,
    entries: Vec<Entry>,
}

/// Bound on expansion rounds; iPXE loops for ever on `set a ${a}`.
pub const MAX_EXPANSIONS: usize = 1024;

/// Bound on the length of an expansion's result, so that settings which refer to each
/// other several times cannot grow text exponentially within [`MAX_EXPANSIONS`] rounds.
pub const MAX_EXPANDED_LEN: usize = 64 * 1024;

/// A setting found by [`Settings::lookup`], with the block it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundSetting {
    /// The block that holds it (empty for the root).
    pub block: String,
    /// The name it is shown under: the predefined name if the query matched one, else the
    /// name as queried.
    pub name: String,
    /// The type it is formatted with (an explicit `:type` in the query wins).
    pub ty: SettingType,
    /// The raw bytes.
    pub value: Vec<u8>,
}

impl FoundSetting {
    /// `block/name:type`, or `name:type` for the root, as `show` prints it.
    pub fn qualified_name(&self) -> String {
        if self.block.is_empty() {
            format!("{}:{}", self.name, self.ty.name())
        } else {
            format!("{}/{}:{}", self.block, self.name, self.ty.name())
        }
    }

    /// The value formatted with the type.
    pub fn formatted(&self) -> String {
        self.ty.format(&self.value)
    }
}

/// The settings tree.
#[derive(Clone, Debug)]
pub struct Settings {
    blocks: Vec<Block>,
    /// The block `netX` stands for (last opened device).
    last_opened: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new()
    }
}

impl Settings {
    /// An empty tree with the root and `builtin` blocks.
    pub fn new() -> Settings {
        let mut s = Settings {
            blocks: Vec::new(),
            last_opened: None,
        };
        s.block_mut("");
        s.block_mut("builtin");
        s
    }

    fn resolve_block(&self, block: &str) -> String {
        match (block.strip_prefix("netX"), &self.last_opened) {
            (Some(rest), Some(dev)) => format!("{dev}{rest}"),
            _ => block.to_string(),
        }
    }

    fn block_mut(&mut self, path: &str) -> &mut Block {
        let idx = match self.blocks.iter().position(|b| b.path == path) {
            Some(i) => i,
            None => {
                let dhcp = path == "proxydhcp" || path == "pxebs" || path.ends_with(".dhcp");
                self.blocks.push(Block {
                    path: path.to_string(),
                    dhcp,
                    priority: 0,
                    entries: Vec::new(),
                });
                self.blocks.len() - 1
            }
        };
        &mut self.blocks[idx]
    }

    /// Records which device `netX` refers to (the last one opened).
    pub fn set_last_opened(&mut self, device: &str) {
        self.last_opened = Some(device.to_string());
        self.block_mut(device);
    }

    /// Stores raw bytes under a name (creating the block), as `set` does after parsing.
    pub fn store(&mut self, name: &SettingName, ty: SettingType, value: Vec<u8>) {
        let path = self.resolve_block(&name.block);
        let block = self.block_mut(&path);
        block
            .entries
            .retain(|e| !(e.name == name.name || (e.tag != 0 && e.tag == name.tag)));
        block.entries.push(Entry {
            name: name.name.clone(),
            tag: name.tag,
            ty,
            value,
        });
    }

    /// `set NAME VALUE`: parses `value` with the name's type (explicit, predefined or
    /// string) and stores it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingsError> {
        let (n, ty) = Self::writable(name)?;
        let raw = ty.parse(value)?;
        self.store(&n, ty, raw);
        Ok(())
    }

    /// Stores raw bytes under a name typed as [`Settings::set`] types it (explicit,
    /// predefined, else `string`), without parsing: `imgset` stores an image this way.
    pub fn set_raw(&mut self, name: &str, raw: Vec<u8>) -> Result<(), SettingsError> {
        let (n, ty) = Self::writable(name)?;
        self.store(&n, ty, raw);
        Ok(())
    }

    /// A name to write to, with its predefined tag filled in, and the type to store with.
    fn writable(name: &str) -> Result<(SettingName, SettingType), SettingsError> {
        let mut n = SettingName::parse(name)?;
        if HardwareScope::of(&n.block).is_some() {
            return Err(SettingsError::ReadOnly(n.block));
        }
        let pre = predefined(&n);
        let ty = n.ty.or(pre.map(|p| p.2)).unwrap_or(SettingType::String);
        if n.tag == 0
            && let Some((_, tag, _)) = pre
        {
            n.tag = tag;
        }
        Ok((n, ty))
    }

    /// `clear NAME`: removes the setting from its block.
    pub fn clear(&mut self, name: &str) -> Result<(), SettingsError> {
        let n = SettingName::parse(name)?;
        let path = self.resolve_block(&n.block);
        if let Some(b) = self.blocks.iter_mut().find(|b| b.path == path) {
            b.entries
                .retain(|e| e.name != n.name && !(n.tag != 0 && e.tag == n.tag));
        }
        Ok(())
    }

    /// Replaces a whole DHCP block (`net0.dhcp`, `proxydhcp`) with options by code.
    pub fn store_dhcp(&mut self, path: &str, options: impl IntoIterator<Item = (u32, Vec<u8>)>) {
        let block = self.block_mut(path);
        block.dhcp = true;
        block.entries.clear();
        for (tag, value) in options {
            let ty = PREDEFINED
                .iter()
                .find(|(_, t, _)| *t == tag)
                .map(|p| p.2)
                .unwrap_or(SettingType::String);
            block.entries.push(Entry {
                name: String::new(),
                tag,
                ty,
                value,
            });
        }
        if let Some(p) = block
            .entries
            .iter()
            .find(|e| e.tag == 0xaf01)
            .and_then(|e| e.value.first())
        {
            block.priority = *p as i8;
        }
    }

    /// Removes a block and its children (when a device closes).
    pub fn remove_block(&mut self, path: &str) {
        let child = format!("{path}.");
        self.blocks
            .retain(|b| b.path != path && !b.path.starts_with(&child));
    }

    /// Looks a setting up and returns its type and raw bytes.
    ///
    /// The root is searched first, then its descendants depth-first by priority; a named
    /// block is searched itself, then its descendants.
    pub fn fetch(&self, name: &str) -> Result<Option<(SettingType, Vec<u8>)>, SettingsError> {
        Ok(self.lookup(name)?.map(|f| (f.ty, f.value)))
    }

    /// Like [`Settings::fetch`], but also says which block the value came from and under
    /// which name to show it (for `show`).
    pub fn lookup(&self, name: &str) -> Result<Option<FoundSetting>, SettingsError> {
        self.lookup_with(name, &mut NoHardware)
    }

    /// Like [`Settings::lookup`], with the numeric scopes `smbios/`, `pci/` and `cpuid/`
    /// (§4.8) read from `hw` at lookup time.
    pub fn lookup_with(
        &self,
        name: &str,
        hw: &mut dyn Hardware,
    ) -> Result<Option<FoundSetting>, SettingsError> {
        let n = SettingName::parse(name)?;
        if let Some(scope) = HardwareScope::of(&n.block) {
            return scope.read(&n, hw);
        }
        let path = self.resolve_block(&n.block);
        if !self.blocks.iter().any(|b| b.path == path) {
            return Err(SettingsError::NoSuchBlock(n.block));
        }
        let pre = predefined(&n);
        let tag = if n.tag != 0 {
            n.tag
        } else {
            pre.map(|p| p.1).unwrap_or(0)
        };
        let order = self.search_order(&path);
        for b in order {
            let hit = b.entries.iter().find(|e| {
                if b.dhcp {
                    tag != 0 && e.tag == tag
                } else {
                    e.name == n.name || (n.tag != 0 && e.tag == n.tag)
                }
            });
            if let Some(e) = hit {
                return Ok(Some(FoundSetting {
                    block: b.path.clone(),
                    name: pre.map_or_else(|| n.name.clone(), |p| p.0.to_string()),
                    ty: n.ty.unwrap_or(e.ty),
                    value: e.value.clone(),
                }));
            }
        }
        Ok(None)
    }

    /// The blocks a lookup in `path` searches, in iPXE's order: the block itself, then
    /// its descendants depth-first, siblings by priority (higher first) and then by
    /// registration order. So `net0` and `net0.dhcp` come before a later `proxydhcp`.
    fn search_order(&self, path: &str) -> Vec<&Block> {
        let inside = |b: &Block| {
            path.is_empty()
                || b.path == path
                || b.path
                    .strip_prefix(path)
                    .is_some_and(|r| r.starts_with('.'))
        };
        // Each block's sort key: (priority, registration index) of every existing block
        // on its path from the root down, itself included. Lexicographic order of these
        // keys is depth-first order; computed without recursion, so depth is harmless.
        let key = |b: &Block| -> Vec<(i16, usize)> {
            let mut prefixes: Vec<&str> = Vec::new();
            let mut rest = b.path.as_str();
            while !rest.is_empty() {
                prefixes.push(rest);
                rest = rest.rsplit_once('.').map_or("", |(head, _)| head);
            }
            prefixes
                .iter()
                .rev()
                .filter_map(|p| self.blocks.iter().position(|x| x.path == *p))
                .map(|i| (-i16::from(self.blocks[i].priority), i))
                .collect()
        };
        let mut order: Vec<(Vec<(i16, usize)>, &Block)> = self
            .blocks
            .iter()
            .filter(|b| inside(b))
            .map(|b| (key(b), b))
            .collect();
        order.sort_by(|a, b| a.0.cmp(&b.0));
        order.into_iter().map(|(_, b)| b).collect()
    }

    /// The formatted value of a setting; `None` if unset.
    pub fn get(&self, name: &str) -> Result<Option<String>, SettingsError> {
        Ok(self.fetch(name)?.map(|(ty, raw)| ty.format(&raw)))
    }

    /// Like [`Settings::get`], with the numeric scopes read from `hw`.
    pub fn get_with(
        &self,
        name: &str,
        hw: &mut dyn Hardware,
    ) -> Result<Option<String>, SettingsError> {
        Ok(self.lookup_with(name, hw)?.map(|f| f.formatted()))
    }

    /// Expands every `${…}` in `text`: innermost reference first, rescanning from the
    /// start each time, so nested and computed names work. Unknown settings, blocks and
    /// types expand to nothing, as in iPXE; an unterminated `${` stays literal.
    pub fn expand(&self, text: &str) -> Result<String, SettingsError> {
        self.expand_with(text, &mut NoHardware)
    }

    /// Like [`Settings::expand`], with the numeric scopes `smbios/`, `pci/` and `cpuid/`
    /// read from `hw`.
    pub fn expand_with(&self, text: &str, hw: &mut dyn Hardware) -> Result<String, SettingsError> {
        let mut s = text.to_string();
        // Invariant: `s[..start]` holds no `${`, so rescanning it could find nothing. This
        // keeps the scan linear for text with many stray `}` and needs no recursion.
        let mut start = 0;
        let mut rounds = 0;
        while let Some(rel) = s[start..].find('}') {
            let close = start + rel;
            match s[..close].rfind("${") {
                None => start = close + 1,
                Some(open) => {
                    rounds += 1;
                    if rounds > MAX_EXPANSIONS {
                        return Err(SettingsError::ExpansionLoop);
                    }
                    let value = self
                        .get_with(&s[open + 2..close], hw)
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    if s.len() - (close + 1 - open) + value.len() > MAX_EXPANDED_LEN {
                        return Err(SettingsError::ExpansionTooLong);
                    }
                    s = format!("{}{}{}", &s[..open], value, &s[close + 1..]);
                }
            }
        }
        Ok(s)
    }

    /// `show`-style lines for every stored setting: `block/name:type = value`.
    pub fn list(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.blocks {
            for e in &b.entries {
                let name = if e.name.is_empty() {
                    dotted_tag(e.tag)
                } else {
                    e.name.clone()
                };
                out.push(format!(
                    "{}/{}:{} = {}",
                    b.path,
                    name,
                    e.ty.name(),
                    e.ty.format(&e.value)
                ));
            }
        }
        out
    }
}

// ---- numeric hardware scopes (§4.8) -------------------------------------------------

/// The machine behind the numeric scopes `smbios/`, `pci/` and `cpuid/` (§4.8), read when
/// a setting is looked up. Every method has a default: no SMBIOS, no PCI access, and the
/// processor's own `CPUID` on x86.
pub trait Hardware {
    /// The SMBIOS structure table (every structure, formatted area and strings) and the
    /// SMBIOS version (major, minor).
    fn smbios(&mut self) -> Option<(&[u8], (u8, u8))> {
        None
    }

    /// Reads `buf.len()` bytes of PCI configuration space at `offset` of the function
    /// `busdevfn` (segment << 16 | bus << 8 | device << 3 | function); `false` if the
    /// platform has no PCI access.
    fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
        let _ = (busdevfn, offset, buf);
        false
    }

    /// `CPUID` with EAX = `leaf`, ECX = `subleaf`: `[eax, ebx, ecx, edx]`, or `None` if
    /// the leaf is not implemented (or there is no `CPUID`).
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Option<[u32; 4]> {
        native_cpuid(leaf, subleaf)
    }
}

/// A machine with nothing but the processor's `CPUID`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHardware;

impl Hardware for NoHardware {}

/// The processor's `CPUID`, with the highest implemented leaf checked first.
#[cfg(target_arch = "x86_64")]
pub fn native_cpuid(leaf: u32, subleaf: u32) -> Option<[u32; 4]> {
    use core::arch::x86_64::__cpuid_count;
    // CPUID exists on every x86-64 processor; the intrinsic is `unsafe` only on older
    // compilers.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID has no side effects; the highest-leaf query of a range is always valid.
    let highest = unsafe { __cpuid_count(leaf & 0x8000_0000, 0) }.eax;
    if leaf > highest || (leaf & 0x8000_0000 != 0 && highest & 0x8000_0000 == 0) {
        return None;
    }
    #[allow(unused_unsafe)]
    // SAFETY: as above; the leaf is implemented.
    let r = unsafe { __cpuid_count(leaf, subleaf) };
    Some([r.eax, r.ebx, r.ecx, r.edx])
}

/// No `CPUID` off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub fn native_cpuid(_leaf: u32, _subleaf: u32) -> Option<[u32; 4]> {
    None
}

/// iPXE's tag of a dotted name in a numeric scope: each part (decimal, `0x` hex or `0`
/// octal) is OR-ed in after shifting the tag left by 8 bits, without a range check, so
/// `cpuid/2.0x80000001` is 0x8000_0201 and `pci/0x18.0.4` is 0x18_0004.
pub fn scope_tag(name: &str) -> Option<u64> {
    name.split('.').try_fold(0u64, |tag, part| {
        let v = parse_int(part).filter(|v| *v >= 0)?;
        Some((tag << 8) | v as u64)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HardwareScope {
    Smbios,
    Pci,
    Cpuid,
}

impl HardwareScope {
    fn of(block: &str) -> Option<HardwareScope> {
        match block {
            "smbios" => Some(HardwareScope::Smbios),
            "pci" => Some(HardwareScope::Pci),
            "cpuid" => Some(HardwareScope::Cpuid),
            _ => None,
        }
    }

    fn read(
        self,
        n: &SettingName,
        hw: &mut dyn Hardware,
    ) -> Result<Option<FoundSetting>, SettingsError> {
        let tag = scope_tag(&n.name).ok_or_else(|| SettingsError::BadName(n.name.clone()))?;
        let found = match self {
            HardwareScope::Smbios => smbios_setting(tag, n.ty, hw),
            HardwareScope::Pci => pci_setting(tag, hw),
            HardwareScope::Cpuid => cpuid_setting(tag, hw),
        };
        Ok(found.map(|(default_ty, value)| FoundSetting {
            block: n.block.clone(),
            name: n.name.clone(),
            ty: n.ty.unwrap_or(default_ty),
            value,
        }))
    }
}

/// `smbios/<instance>.<type>.<offset>.<length>` (iPXE's smbios_settings.c): offset and
/// length both zero → the whole formatted structure; exactly one zero → a string (number
/// `length`, or the number in the byte at `offset`); else the bytes (a 16-byte `uuid` or
/// `guid` read from SMBIOS ≥ 2.6 is converted from its little-endian fields).
fn smbios_setting(
    tag: u64,
    ty: Option<SettingType>,
    hw: &mut dyn Hardware,
) -> Option<(SettingType, Vec<u8>)> {
    let [instance, kind, offset, len] = (tag as u32).to_be_bytes();
    let (table, version) = hw.smbios()?;
    let (formatted, strings) = smbios_structure(table, kind, usize::from(instance))?;
    let (offset, len) = (usize::from(offset), usize::from(len));
    if offset == 0 && len == 0 {
        return Some((SettingType::Hex, formatted.to_vec()));
    }
    if offset == 0 || len == 0 {
        let index = if offset == 0 {
            len
        } else {
            usize::from(*formatted.get(offset)?)
        };
        let text = smbios_string(strings, index)?;
        return Some((SettingType::String, text.to_vec()));
    }
    let mut raw = formatted.get(offset..offset + len)?.to_vec();
    if matches!(ty, Some(SettingType::Uuid | SettingType::Guid)) && len == 16 && version >= (2, 6) {
        guid_swap(&mut raw);
    }
    Some((SettingType::Hex, raw))
}

/// The `instance`th structure (from 0) of type `kind`: (formatted area, string area).
/// A malformed table ends the walk.
fn smbios_structure(table: &[u8], kind: u8, instance: usize) -> Option<(&[u8], &[u8])> {
    let mut rest = table;
    let mut seen = 0;
    while rest.len() >= 4 {
        let len = usize::from(rest[1]);
        if len < 4 || len > rest.len() {
            return None;
        }
        // The string area ends with two NULs (just two when there are no strings).
        let after = &rest[len..];
        let end = after.windows(2).position(|w| w == [0, 0])? + 2;
        if rest[0] == kind {
            if seen == instance {
                return Some((&rest[..len], &after[..end]));
            }
            seen += 1;
        }
        if rest[0] == 127 {
            return None; // end-of-table
        }
        rest = &after[end..];
    }
    None
}

/// String number `index` (from 1) of a structure's string area.
fn smbios_string(strings: &[u8], index: usize) -> Option<&[u8]> {
    if index == 0 {
        return None;
    }
    strings
        .split(|&b| b == 0)
        .take_while(|s| !s.is_empty())
        .nth(index - 1)
}

/// `pci/<busdevfn>.<offset>.<length>`: configuration-space bytes in reverse order
/// (little-endian registers read as big-endian numbers), default type `hexraw`.
fn pci_setting(tag: u64, hw: &mut dyn Hardware) -> Option<(SettingType, Vec<u8>)> {
    let busdevfn = u32::try_from(tag >> 16).ok()?;
    let offset = ((tag >> 8) & 0xff) as u16;
    let len = (tag & 0xff) as usize;
    let mut raw = alloc::vec![0u8; len];
    if !hw.pci_read(busdevfn, offset, &mut raw) {
        return None;
    }
    raw.reverse();
    Some((SettingType::HexRaw, raw))
}

/// `cpuid/<register>.<function>` and `cpuid/<subfunction>.0x40.<register>.<function>`
/// (iPXE's cpuid_settings.c): bit 31 extended function, bits 30–24 a subfunction (with
/// bit 22) or the number of consecutive functions minus one, bit 23 little-endian
/// output, bits 17–16 the number of registers minus one, bits 15–8 the register indices
/// (0 EAX, 1 EBX, 2 ECX, 3 EDX, two bits each), bits 7–0 the function. Default `hexraw`.
fn cpuid_setting(tag: u64, hw: &mut dyn Hardware) -> Option<(SettingType, Vec<u8>)> {
    let tag = u32::try_from(tag).ok()?;
    let mut function = tag & 0x8000_00ff;
    let high = (tag >> 24) & 0x7f;
    let (count, subfunction) = if tag & 0x0040_0000 != 0 {
        (1, high)
    } else {
        (high + 1, 0)
    };
    let little_endian = tag & 0x0080_0000 != 0;
    let mut out = Vec::new();
    for _ in 0..count {
        let regs = hw.cpuid(function, subfunction)?;
        let mut indices = (tag >> 8) & 0xff;
        for _ in 0..((tag >> 16) & 3) + 1 {
            let value = regs[(indices & 3) as usize];
            if little_endian {
                out.extend_from_slice(&value.to_le_bytes());
            } else {
                out.extend_from_slice(&value.to_be_bytes());
            }
            indices >>= 2;
        }
        function = function.wrapping_add(1);
    }
    Some((SettingType::HexRaw, out))
}

fn dotted_tag(tag: u32) -> String {
    let bytes = tag.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    bytes[first..]
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn types_format_like_ipxe() {
        assert_eq!(SettingType::Uint32.format(&[0, 0, 0, 0]), "0x0");
        assert_eq!(SettingType::Uint8.format(&[0xff]), "0xff");
        assert_eq!(SettingType::Int8.format(&[0xff]), "-1");
        assert_eq!(SettingType::Int16.format(&[0x01, 0x00]), "256");
        assert_eq!(SettingType::Hex.format(&[0x52, 0x54, 0x00]), "52:54:00");
        assert_eq!(SettingType::HexHyp.format(&[0x52, 0x54]), "52-54");
        assert_eq!(SettingType::HexRaw.format(&[0xab, 0x01]), "ab01");
        assert_eq!(SettingType::String.format(b"abc\0def"), "abc");
        assert_eq!(SettingType::UriString.format(b"a b/c%d~"), "a%20b%2Fc%25d~");
        assert_eq!(SettingType::Ipv4.format(&[192, 0, 2, 1]), "192.0.2.1");
        assert_eq!(SettingType::Base64.format(b"foob"), "Zm9vYg==");
        assert_eq!(SettingType::Base64.format(b"foobar"), "Zm9vYmFy");
        let uuid: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            SettingType::Uuid.format(&uuid),
            "00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
        assert_eq!(
            SettingType::Guid.format(&uuid),
            "03020100-0504-0706-0809-0a0b0c0d0e0f"
        );
    }

    #[test]
    fn types_parse_and_reject() {
        assert_eq!(SettingType::Uint16.parse("0x1234"), Ok(vec![0x12, 0x34]));
        assert_eq!(SettingType::Int8.parse("-1"), Ok(vec![0xff]));
        assert_eq!(SettingType::Int32.parse("010"), Ok(vec![0, 0, 0, 8]));
        assert_eq!(
            SettingType::Hex.parse("aa:BB:0c"),
            Ok(vec![0xaa, 0xbb, 0x0c])
        );
        assert_eq!(SettingType::HexRaw.parse("aabb"), Ok(vec![0xaa, 0xbb]));
        assert_eq!(
            SettingType::UriString.parse("a%20b%zz"),
            Ok(b"a b%zz".to_vec())
        );
        assert_eq!(
            SettingType::Base64.parse("Zm9v\nYmFy"),
            Ok(b"foobar".to_vec())
        );
        let guid = SettingType::Guid
            .parse("03020100-0504-0706-0809-0a0b0c0d0e0f")
            .expect("valid");
        assert_eq!(guid, (0u8..16).collect::<Vec<_>>());
        for (ty, bad) in [
            (SettingType::Ipv4, "192.0.2"),
            (SettingType::Ipv4, "192.0.2.256"),
            (SettingType::Hex, "a:bb"),
            (SettingType::HexRaw, "abc"),
            (SettingType::HexRaw, "zz"),
            (SettingType::Uint8, "12x"),
            (SettingType::Uuid, "0001"),
            (SettingType::Base64, "Zm=9v"),
            (SettingType::HexRaw, "éé"),
        ] {
            assert!(ty.parse(bad).is_err(), "{ty:?} {bad}");
        }
    }

    #[test]
    fn names_split_at_first_slash_then_colon() {
        let n = SettingName::parse("net0.dhcp/209:string").expect("valid");
        assert_eq!(
            (n.block.as_str(), n.name.as_str(), n.tag, n.ty),
            ("net0.dhcp", "209", 209, Some(SettingType::String))
        );
        assert_eq!(SettingName::parse("175.81").expect("valid").tag, 0xaf51);
        assert_eq!(SettingName::parse("my-var").expect("valid").tag, 0);
        assert!(matches!(
            SettingName::parse("x:nosuch"),
            Err(SettingsError::UnknownType(_))
        ));
        assert!(SettingName::parse("net0/").is_err());
    }

    #[test]
    fn dhcp_options_read_by_number_and_by_predefined_name() {
        let mut s = Settings::new();
        s.set_last_opened("net0");
        s.store_dhcp(
            "net0.dhcp",
            [
                (0xaf02, vec![192, 0, 2, 100]),
                (1, vec![255, 255, 255, 0]),
                (67, b"boot.ipxe".to_vec()),
                (209, b"cfg".to_vec()),
            ],
        );
        assert_eq!(s.get("ip").expect("ok").as_deref(), Some("192.0.2.100"));
        assert_eq!(
            s.get("net0/ip").expect("ok").as_deref(),
            Some("192.0.2.100")
        );
        assert_eq!(
            s.get("netX/netmask").expect("ok").as_deref(),
            Some("255.255.255.0")
        );
        assert_eq!(s.get("filename").expect("ok").as_deref(), Some("boot.ipxe"));
        assert_eq!(s.get("67").expect("ok").as_deref(), Some("boot.ipxe"));
        assert_eq!(s.get("209:string").expect("ok").as_deref(), Some("cfg"));
        assert_eq!(s.get("209:hex").expect("ok").as_deref(), Some("63:66:67"));
        // Named settings without a tag never come from DHCP blocks.
        assert_eq!(s.get("net0.dhcp/foo").expect("ok"), None);
        assert!(matches!(
            s.get("net7/ip"),
            Err(SettingsError::NoSuchBlock(_))
        ));
        // An unscoped `set` in the root shadows the DHCP value.
        s.set("ip", "192.0.2.5").expect("valid");
        assert_eq!(s.get("ip").expect("ok").as_deref(), Some("192.0.2.5"));
        assert_eq!(
            s.get("net0/ip").expect("ok").as_deref(),
            Some("192.0.2.100")
        );
        assert!(s.list().iter().any(|l| l == "net0.dhcp/209:string = cfg"));
    }

    #[test]
    fn lookup_is_depth_first_in_registration_order_then_priority() {
        let mut s = Settings::new();
        s.set_last_opened("net0");
        s.store_dhcp(
            "net0.dhcp",
            [(54, vec![192, 0, 2, 1]), (0xaf03, vec![192, 0, 2, 1])],
        );
        s.store_dhcp(
            "proxydhcp",
            [
                (54, vec![192, 0, 2, 2]),
                (67, b"proxied.efi".to_vec()),
                (0xaf03, vec![192, 0, 2, 2]),
            ],
        );
        // net0.dhcp (under net0, registered first) answers before the later proxydhcp...
        assert_eq!(
            s.get("dhcp-server").expect("ok").as_deref(),
            Some("192.0.2.1")
        );
        // ...but what only the proxy has still comes from it, with its origin block.
        let found = s.lookup("filename").expect("ok").expect("set");
        assert_eq!(found.block, "proxydhcp");
        assert_eq!(
            s.get(&alloc::format!("{}/next-server", found.block))
                .expect("ok")
                .as_deref(),
            Some("192.0.2.2")
        );
        // A higher ${priority} (175.1) moves a block ahead of its siblings.
        s.store_dhcp("proxydhcp", [(54, vec![192, 0, 2, 2]), (0xaf01, vec![10])]);
        assert_eq!(
            s.get("dhcp-server").expect("ok").as_deref(),
            Some("192.0.2.2")
        );
    }

    #[test]
    fn expansion_is_innermost_first_and_bounded() {
        let mut s = Settings::new();
        s.set("n", "1").expect("valid");
        s.set("item1", "first").expect("valid");
        s.set("url", "http://${host}/").expect("valid");
        s.set("host", "192.0.2.1").expect("valid");
        assert_eq!(s.expand("${item${n}}").expect("ok"), "first");
        assert_eq!(s.expand("${url}x").expect("ok"), "http://192.0.2.1/x");
        assert_eq!(
            s.expand("a ${nosuch} b ${x:nosuch} c").expect("ok"),
            "a  b  c"
        );
        assert_eq!(
            s.expand("unterminated ${n").expect("ok"),
            "unterminated ${n"
        );
        assert_eq!(s.expand("} ${n}").expect("ok"), "} 1");
        s.set("loop", "${loop}").expect("valid");
        assert_eq!(s.expand("${loop}"), Err(SettingsError::ExpansionLoop));
    }

    #[test]
    fn lookup_reports_origin_and_expansion_is_size_bounded() {
        let mut s = Settings::new();
        s.set_last_opened("net0");
        s.store_dhcp("net0.dhcp", [(0xaf02, vec![192, 0, 2, 100])]);
        let f = s.lookup("ip").expect("ok").expect("found");
        assert_eq!(
            (f.qualified_name().as_str(), f.formatted().as_str()),
            ("net0.dhcp/ip:ipv4", "192.0.2.100")
        );
        s.set("x:uint8", "7").expect("valid");
        let f = s.lookup("x").expect("ok").expect("found");
        assert_eq!(f.qualified_name(), "x:uint8");
        assert_eq!(SettingType::Int16.from_number(-2), Some(vec![0xff, 0xfe]));
        assert_eq!(SettingType::String.from_number(1), None);
        assert!(SettingType::Uint32.is_numeric() && !SettingType::Hex.is_numeric());
        s.set("a", "${b}${b}${b}${b}").expect("valid");
        s.set("b", "${c}${c}${c}${c}").expect("valid");
        s.set("c", "${d}${d}${d}${d}").expect("valid");
        s.set("d", &"x".repeat(2000)).expect("valid");
        assert_eq!(s.expand("${a}"), Err(SettingsError::ExpansionTooLong));
    }

    #[test]
    fn numeric_reads_sign_extend() {
        assert_eq!(SettingType::Int8.numeric(&[0x80]), -128);
        assert_eq!(SettingType::Uint8.numeric(&[0x80]), 128);
        assert_eq!(SettingType::Int32.numeric(&[]), 0);
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("9z"), None);
    }

    /// A fake machine: one SMBIOS table (version 2.8), one PCI function, fixed CPUID.
    struct FakeHw {
        table: Vec<u8>,
    }

    impl Hardware for FakeHw {
        fn smbios(&mut self) -> Option<(&[u8], (u8, u8))> {
            Some((&self.table, (2, 8)))
        }
        fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
            if busdevfn != 0x18 {
                buf.fill(0xff);
                return true;
            }
            // Vendor 0x8086, device 0x100e, then the offset as the byte value.
            for (i, b) in buf.iter_mut().enumerate() {
                let at = offset as usize + i;
                *b = match at {
                    0 => 0x86,
                    1 => 0x80,
                    2 => 0x0e,
                    3 => 0x10,
                    _ => at as u8,
                };
            }
            true
        }
        fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Option<[u32; 4]> {
            match leaf {
                0 => Some([0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
                7 => Some([subleaf, 0x11, 0x22, 0x33]),
                0x8000_0001 => Some([0, 0, 0x21, 0x2c10_0800]),
                _ => None,
            }
        }
    }

    fn structure(kind: u8, formatted: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut s = vec![kind, formatted.len() as u8 + 4, 0, 0];
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

    fn fake() -> FakeHw {
        let mut table = structure(0, &[1, 2], &["BIOS vendor"]);
        let mut uuid = vec![1, 2, 3]; // manufacturer, product, serial string numbers
        uuid.extend_from_slice(&[
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        table.extend(structure(1, &uuid, &["Acme", "Rocket", "SN-1"]));
        table.extend(structure(1, &[1, 0, 0], &["Second"]));
        table.extend(structure(127, &[], &[]));
        FakeHw { table }
    }

    #[test]
    fn smbios_scope_reads_strings_bytes_and_whole_structures() {
        let s = Settings::new();
        let mut hw = fake();
        let get = |name: &str, hw: &mut FakeHw| s.get_with(name, hw).expect("valid name");
        // Type 1, offset 4 (manufacturer string number), length 0: a string.
        assert_eq!(get("smbios/0.1.4.0", &mut hw).as_deref(), Some("Acme"));
        assert_eq!(get("smbios/0.1.5.0", &mut hw).as_deref(), Some("Rocket"));
        // Offset 0: the length is the string number.
        assert_eq!(get("smbios/0.1.0.3", &mut hw).as_deref(), Some("SN-1"));
        // The second type-1 structure.
        assert_eq!(get("smbios/1.1.4.0", &mut hw).as_deref(), Some("Second"));
        // Raw bytes default to hex; a uuid read of SMBIOS >= 2.6 is byte-swapped.
        assert_eq!(get("smbios/0.1.4.2", &mut hw).as_deref(), Some("01:02"));
        assert_eq!(
            get("smbios/0.1.7.16:uuid", &mut hw).as_deref(),
            Some("00112233-4455-6677-8899-aabbccddeeff")
        );
        // Whole structure.
        assert_eq!(
            get("smbios/0.0.0.0", &mut hw).as_deref(),
            Some("00:06:00:00:01:02")
        );
        let f = s
            .lookup_with("smbios/0.1.4.0", &mut hw)
            .expect("ok")
            .expect("found");
        assert_eq!(f.qualified_name(), "smbios/0.1.4.0:string");
        // Missing: instance, type, string, bytes past the structure; no table at all.
        for missing in [
            "smbios/2.1.4.0",
            "smbios/0.4.0.0",
            "smbios/0.1.0.9",
            "smbios/0.1.20.8",
        ] {
            assert_eq!(get(missing, &mut hw), None, "{missing}");
        }
        assert_eq!(s.get_with("smbios/0.1.4.0", &mut NoHardware), Ok(None));
        assert_eq!(
            s.expand_with("${smbios/0.1.5.0}-${smbios/0.1.0.3}", &mut hw)
                .expect("expands"),
            "Rocket-SN-1"
        );
    }

    #[test]
    fn pci_and_cpuid_scopes() {
        let s = Settings::new();
        let mut hw = fake();
        // Bus 0, device 3, function 0 = busdevfn 0x18: vendor and device ID, reversed.
        assert_eq!(
            s.get_with("pci/0x18.0.2", &mut hw).expect("ok").as_deref(),
            Some("8086")
        );
        assert_eq!(
            s.get_with("pci/0x18.0.4", &mut hw).expect("ok").as_deref(),
            Some("100e8086")
        );
        assert_eq!(
            s.get_with("pci/0x18.2.2:uint16", &mut hw)
                .expect("ok")
                .as_deref(),
            Some("0x100e")
        );
        assert_eq!(s.get_with("pci/0x18.0.2", &mut NoHardware), Ok(None));
        // cpuid/<reg>.<function>: ECX (2) of 0x80000001.
        assert_eq!(scope_tag("2.0x80000001"), Some(0x8000_0201));
        assert_eq!(
            s.get_with("cpuid/2.0x80000001", &mut hw)
                .expect("ok")
                .as_deref(),
            Some("00000021")
        );
        // cpuid/<subfunction>.0x40.<reg>.<function>: leaf 7, subleaf 1, EAX.
        assert_eq!(
            s.get_with("cpuid/1.0x40.0.7", &mut hw)
                .expect("ok")
                .as_deref(),
            Some("00000001")
        );
        // cpuvendor's encoding: EBX, EDX, ECX of leaf 0, little-endian, as a string.
        let vendor = 0x0080_0000 | (2 << 16) | ((1 | (3 << 2) | (2 << 4)) << 8);
        let f = HardwareScope::Cpuid
            .read(
                &SettingName {
                    block: "cpuid".into(),
                    name: format!("{vendor}"),
                    tag: 0,
                    ty: Some(SettingType::String),
                },
                &mut hw,
            )
            .expect("ok")
            .expect("found");
        assert_eq!(f.formatted(), "GenuineIntel");
        assert_eq!(s.get_with("cpuid/0.5", &mut hw), Ok(None), "leaf 5 missing");
        assert!(s.get_with("cpuid/x.1", &mut hw).is_err());
        let mut w = Settings::new();
        assert!(matches!(
            w.set("pci/0x18.0.2", "1"),
            Err(SettingsError::ReadOnly(_))
        ));
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn native_cpuid_reads_the_processor() {
        // Leaf 1 EDX bit 0: every x86-64 processor has an FPU.
        let s = Settings::new();
        let edx = s.get("cpuid/3.1").expect("ok").expect("leaf 1 exists");
        let edx = u32::from_str_radix(&edx, 16).expect("hexraw");
        assert_eq!(edx & 1, 1);
    }
}
