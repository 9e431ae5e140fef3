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
        let mut n = SettingName::parse(name)?;
        let pre = predefined(&n);
        let ty = n.ty.or(pre.map(|p| p.2)).unwrap_or(SettingType::String);
        if n.tag == 0
            && let Some((_, tag, _)) = pre
        {
            n.tag = tag;
        }
        let raw = ty.parse(value)?;
        self.store(&n, ty, raw);
        Ok(())
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
        let n = SettingName::parse(name)?;
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

    /// Expands every `${…}` in `text`: innermost reference first, rescanning from the
    /// start each time, so nested and computed names work. Unknown settings, blocks and
    /// types expand to nothing, as in iPXE; an unterminated `${` stays literal.
    pub fn expand(&self, text: &str) -> Result<String, SettingsError> {
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
                        .get(&s[open + 2..close])
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
}
