//! URIs (RFC 3986) as netboot uses them: what `chain`, `imgfetch` and DHCP filenames name.
//!
//! A [`Uri`] owns its parts. Each part is kept as written (percent-encoded), so
//! [`Uri::path`] can go into a request unchanged and `Display` gives the text back;
//! [`Uri::decoded_path`], [`Uri::user`] and [`Uri::password`] decode on demand.
//! [`resolve`] implements RFC 3986 §5.2 for references relative to the current script,
//! and [`pxe_uri`] turns a DHCP `filename` plus `next-server` into a URI as iPXE does.
//!
//! ```
//! use netboot_core::uri::{Uri, resolve};
//!
//! let script = Uri::parse("http://boot.example/menus/main.ipxe").expect("valid");
//! let kernel = resolve(&script, "../images/vmlinuz?arch=x86_64").expect("valid");
//! assert_eq!(kernel.to_string(), "http://boot.example/images/vmlinuz?arch=x86_64");
//! assert_eq!(kernel.port_or_default(), Some(80));
//! ```

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// Why a string is not a usable URI.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// The string is empty.
    Empty,
    /// No `scheme:` prefix: a relative reference, which needs a base URI.
    MissingScheme,
    /// A control character (such as a newline or escape) at this byte offset.
    ControlCharacter {
        /// Byte offset in the input.
        position: usize,
    },
    /// `tftp://`, `http://` or `https://` without a host name or address.
    EmptyHost {
        /// The scheme.
        scheme: String,
    },
    /// The host is neither an IPv4 address, a bracketed IPv6 address nor a valid name.
    BadHost {
        /// The host as written.
        host: String,
    },
    /// The port is not a number from 0 to 65535.
    BadPort {
        /// The port as written.
        port: String,
    },
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::Empty => f.write_str("empty URI"),
            UriError::MissingScheme => f.write_str(
                "URI has no scheme (hint: write it in full, like http://server/file, or use it \
                 relative to the current script's URI)",
            ),
            UriError::ControlCharacter { position } => write!(
                f,
                "URI contains a control character at byte {position} (hint: percent-encode \
                 it, e.g. %0A for a newline)"
            ),
            UriError::EmptyHost { scheme } => {
                write!(
                    f,
                    "{scheme}:// URI without a host (hint: {scheme}://server/path)"
                )
            }
            UriError::BadHost { host } => write!(
                f,
                "invalid host {host:?} in URI (hint: a name, an IPv4 address, or an IPv6 \
                 address in brackets)"
            ),
            UriError::BadPort { port } => {
                write!(
                    f,
                    "invalid port {port:?} in URI (must be a number up to 65535)"
                )
            }
        }
    }
}

impl core::error::Error for UriError {}

/// The host part of a URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A dotted-quad IPv4 address.
    Ipv4(Ipv4Addr),
    /// A bracketed IPv6 address, with an optional zone (`[fe80::1%25net0]`).
    Ipv6 {
        /// The address.
        addr: Ipv6Addr,
        /// Zone (interface) name, decoded.
        zone: Option<String>,
    },
    /// A name to look up in DNS, as written (may be empty for schemes such as `file:`).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ipv4(addr) => write!(f, "{addr}"),
            Host::Ipv6 { addr, zone: None } => write!(f, "[{addr}]"),
            Host::Ipv6 {
                addr,
                zone: Some(zone),
            } => {
                // RFC 6874: a zone is unreserved characters or %-escapes, so anything else
                // is escaped again (a decoded "%" or a non-ASCII byte must not print raw).
                write!(f, "[{addr}%25")?;
                for b in zone.bytes() {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        write!(f, "{}", char::from(b))?;
                    } else {
                        write!(f, "%{b:02X}")?;
                    }
                }
                f.write_str("]")
            }
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// Schemes netboot knows how to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `tftp:`
    Tftp,
    /// `http:`
    Http,
    /// `https:`
    Https,
    /// Anything else (`file:`, `iscsi:`, `mailto:`…): kept, not fetchable here.
    Other,
}

/// The port a scheme uses when the URI gives none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme_kind(scheme) {
        Scheme::Tftp => Some(69),
        Scheme::Http => Some(80),
        Scheme::Https => Some(443),
        Scheme::Other => None,
    }
}

fn scheme_kind(scheme: &str) -> Scheme {
    if scheme.eq_ignore_ascii_case("tftp") {
        Scheme::Tftp
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        Scheme::Other
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Authority {
    /// `user[:password]`, percent-encoded as written.
    userinfo: Option<String>,
    host: Host,
    port: Option<u16>,
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(userinfo) = &self.userinfo {
            write!(f, "{userinfo}@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// An absolute URI: `scheme:[//[user[:password]@]host[:port]]path[?query][#fragment]`.
///
/// Without `//` the URI is opaque (`mailto:x`, `iscsi:…`, `file:relative`): it has no
/// host and its path is everything up to `?` or `#`. Parts are stored as written; the
/// scheme is lower-cased. An iPXE request-parameter suffix (`##params` or
/// `##params=name`) is split off into [`Uri::params`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    scheme: String,
    authority: Option<Authority>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
    params: Option<String>,
}

impl Uri {
    /// Parses an absolute URI. A relative reference is [`UriError::MissingScheme`]: use
    /// [`resolve`] with a base for those.
    pub fn parse(text: &str) -> Result<Uri, UriError> {
        if text.is_empty() {
            return Err(UriError::Empty);
        }
        let reference = Reference::parse(text)?;
        let Some(scheme) = reference.scheme else {
            return Err(UriError::MissingScheme);
        };
        Uri::build(
            scheme.to_ascii_lowercase(),
            reference.authority,
            reference.path.to_string(),
            reference.query,
            reference.fragment,
            reference.params,
        )
    }

    fn build(
        scheme: String,
        authority: Option<Authority>,
        path: String,
        query: Option<&str>,
        fragment: Option<&str>,
        params: Option<&str>,
    ) -> Result<Uri, UriError> {
        if let Some(authority) = &authority
            && scheme_kind(&scheme) != Scheme::Other
            && authority.host == Host::Name(String::new())
        {
            return Err(UriError::EmptyHost { scheme });
        }
        // Without an authority, a path starting with "//" would print as one
        // (`h:` + `//evil/x` reads back with host `evil`): RFC 3986 §5.2.4 prefixes "/.".
        let path = if authority.is_none() && path.starts_with("//") {
            format!("/.{path}")
        } else {
            path
        };
        Ok(Uri {
            scheme,
            authority,
            path,
            query: query.map(str::to_string),
            fragment: fragment.map(str::to_string),
            params: params.map(str::to_string),
        })
    }

    /// The scheme, lower-case (`tftp`, `http`…).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The scheme as one netboot fetches, or [`Scheme::Other`].
    pub fn scheme_kind(&self) -> Scheme {
        scheme_kind(&self.scheme)
    }

    /// Whether netboot can download this: `tftp`, `http` or `https` with a host.
    pub fn is_fetchable(&self) -> bool {
        self.scheme_kind() != Scheme::Other && self.authority.is_some()
    }

    /// Whether the URI has an authority (`scheme://…`): a "hierarchical" URI in iPXE's
    /// terms.
    pub fn has_authority(&self) -> bool {
        self.authority.is_some()
    }

    /// For an opaque URI (no `//` and a path not starting with `/`), its path.
    pub fn opaque(&self) -> Option<&str> {
        (self.authority.is_none() && !self.path.starts_with('/')).then_some(self.path.as_str())
    }

    /// `user[:password]` as written (percent-encoded).
    pub fn userinfo(&self) -> Option<&str> {
        self.authority.as_ref()?.userinfo.as_deref()
    }

    /// The user name, percent-decoded.
    pub fn user(&self) -> Option<Cow<'_, str>> {
        let userinfo = self.userinfo()?;
        let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
        Some(decode_lossy(user))
    }

    /// The password, percent-decoded.
    pub fn password(&self) -> Option<Cow<'_, str>> {
        let (_, password) = self.userinfo()?.split_once(':')?;
        Some(decode_lossy(password))
    }

    /// The host, if the URI has an authority.
    pub fn host(&self) -> Option<&Host> {
        Some(&self.authority.as_ref()?.host)
    }

    /// The host if it is an IPv4 address.
    pub fn host_ipv4(&self) -> Option<Ipv4Addr> {
        match self.host()? {
            Host::Ipv4(addr) => Some(*addr),
            _ => None,
        }
    }

    /// The port written in the URI.
    pub fn port(&self) -> Option<u16> {
        self.authority.as_ref()?.port
    }

    /// The port written in the URI, else the scheme's default (tftp 69, http 80,
    /// https 443).
    pub fn port_or_default(&self) -> Option<u16> {
        self.port().or_else(|| default_port(&self.scheme))
    }

    /// The path as written (percent-encoded), as it goes into an HTTP request line.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path percent-decoded; invalid UTF-8 after decoding is replaced by U+FFFD.
    pub fn decoded_path(&self) -> Cow<'_, str> {
        decode_lossy(&self.path)
    }

    /// The query, without `?`, as written.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The fragment, without `#`, as written.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// iPXE request parameters: `Some("")` for `##params`, `Some(name)` for
    /// `##params=name`.
    pub fn params(&self) -> Option<&str> {
        self.params.as_deref()
    }

    /// Path and query for an HTTP request line (`/` when the path is empty).
    pub fn request_target(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        match &self.query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        }
    }

    /// Resolves `reference` against this URI (see [`resolve`]).
    pub fn resolve(&self, reference: &str) -> Result<Uri, UriError> {
        resolve(self, reference)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(authority) = &self.authority {
            write!(f, "//{authority}")?;
        }
        f.write_str(&self.path)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(fragment) = &self.fragment {
            write!(f, "#{fragment}")?;
        }
        match self.params.as_deref() {
            Some("") => f.write_str("##params"),
            Some(name) => write!(f, "##params={name}"),
            None => Ok(()),
        }
    }
}

impl Uri {
    /// The URI for display: a password in the userinfo is shown as `***`, as iPXE
    /// does, so credentials do not end up on screens and in logs.
    ///
    /// ```
    /// let uri = netboot_core::uri::Uri::parse("http://me:s3cret@boot.example/x").expect("valid");
    /// assert_eq!(uri.redacted(), "http://me:***@boot.example/x");
    /// ```
    pub fn redacted(&self) -> String {
        let text = self.to_string();
        match (self.userinfo(), self.password()) {
            (Some(userinfo), Some(_)) => match userinfo.split_once(':') {
                Some((user, _)) => {
                    text.replacen(&format!("{userinfo}@"), &format!("{user}:***@"), 1)
                }
                None => text,
            },
            _ => text,
        }
    }
}

impl FromStr for Uri {
    type Err = UriError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uri::parse(text)
    }
}

/// A URI reference split into its RFC 3986 components (scheme optional).
struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<Authority>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
    params: Option<&'a str>,
}

impl<'a> Reference<'a> {
    fn parse(text: &'a str) -> Result<Reference<'a>, UriError> {
        if let Some(position) = text.bytes().position(|b| b < 0x20 || b == 0x7F) {
            return Err(UriError::ControlCharacter { position });
        }
        let (rest, params) = split_params(text);
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        // A scheme is only a scheme if its colon comes before any slash (RFC 3986 §4.2):
        // `dir/a:b` is a relative path.
        let (scheme, rest) = match rest.split_once(':') {
            Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
            _ => (None, rest),
        };
        let (authority, path) = match rest.strip_prefix("//") {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                let (authority, path) = after.split_at(end);
                (Some(parse_authority(authority)?), path)
            }
            None => (None, rest),
        };
        Ok(Reference {
            scheme,
            authority,
            path,
            query,
            fragment,
            params,
        })
    }
}

/// Splits off iPXE's `##params` / `##params=name` suffix. `##paramsX` is not one.
fn split_params(text: &str) -> (&str, Option<&str>) {
    for (at, _) in text.match_indices("##params") {
        let (before, marker) = text.split_at(at);
        let after = marker.get("##params".len()..).unwrap_or_default();
        if after.is_empty() {
            return (before, Some(""));
        }
        if let Some(name) = after.strip_prefix('=') {
            return (before, Some(name));
        }
    }
    (text, None)
}

fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

fn parse_authority(text: &str) -> Result<Authority, UriError> {
    // The last `@` separates userinfo: an unescaped `@` in a password is common enough.
    let (userinfo, hostport) = match text.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo.to_string()), hostport),
        None => (None, text),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let bad = || UriError::BadHost {
            host: hostport.to_string(),
        };
        let (inside, after) = bracketed.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        // RFC 6874 writes the zone as `%25zone`; iPXE also accepts a bare `%zone`.
        let (addr, zone) = match inside.split_once('%') {
            Some((addr, zone)) => {
                let zone = zone.strip_prefix("25").unwrap_or(zone);
                if zone.is_empty() || !zone.bytes().all(is_host_byte) {
                    return Err(bad());
                }
                (addr, Some(decode_lossy(zone).into_owned()))
            }
            None => (inside, None),
        };
        let addr = Ipv6Addr::from_str(addr).map_err(|_| bad())?;
        (Host::Ipv6 { addr, zone }, port)
    } else {
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        if !host.bytes().all(is_host_byte) {
            return Err(UriError::BadHost {
                host: host.to_string(),
            });
        }
        let host = match Ipv4Addr::from_str(host) {
            Ok(addr) => Host::Ipv4(addr),
            Err(_) => Host::Name(host.to_string()),
        };
        (host, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(parse_port(port)?),
    };
    Ok(Authority {
        userinfo,
        host,
        port,
    })
}

fn parse_port(text: &str) -> Result<u16, UriError> {
    let bad = || UriError::BadPort {
        port: text.to_string(),
    };
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// RFC 3986 reg-name characters: unreserved, sub-delims and `%` of percent-encoding.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)
}

/// Resolves `reference` against `base` (RFC 3986 §5.2.2, strict): how a script's
/// relative `chain next.ipxe` finds its target.
///
/// An empty reference gives the base without its fragment; `?q` replaces only the
/// query and `#f` only the fragment; `..` never climbs above the root.
pub fn resolve(base: &Uri, reference: &str) -> Result<Uri, UriError> {
    let r = Reference::parse(reference)?;
    if let Some(scheme) = r.scheme {
        return Uri::build(
            scheme.to_ascii_lowercase(),
            r.authority,
            remove_dot_segments(r.path),
            r.query,
            r.fragment,
            r.params,
        );
    }
    let (authority, path, query) = if r.authority.is_some() {
        (r.authority, remove_dot_segments(r.path), r.query)
    } else if r.path.is_empty() {
        (
            base.authority.clone(),
            base.path.clone(),
            r.query.or(base.query.as_deref()),
        )
    } else if r.path.starts_with('/') {
        (base.authority.clone(), remove_dot_segments(r.path), r.query)
    } else {
        let merged = merge(base, r.path);
        (
            base.authority.clone(),
            remove_dot_segments(&merged),
            r.query,
        )
    };
    Uri::build(
        base.scheme.clone(),
        authority,
        path,
        query,
        r.fragment,
        r.params,
    )
}

/// RFC 3986 §5.2.3: a relative path joins the base's directory.
fn merge(base: &Uri, path: &str) -> String {
    if base.authority.is_some() && base.path.is_empty() {
        return format!("/{path}");
    }
    match base.path.rfind('/') {
        Some(slash) => {
            let (dir, _) = base.path.split_at(slash + 1);
            format!("{dir}{path}")
        }
        None => path.to_string(),
    }
}

/// RFC 3986 §5.2.4: removes `.` and `..` segments; `..` at the root stays at the root.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") || input == "/." {
            // "/./x" → "/x", "/." → "/"
            input = input
                .strip_prefix("/.")
                .map_or("/", |r| if r.is_empty() { "/" } else { r });
        } else if input.starts_with("/../") || input == "/.." {
            input = input
                .strip_prefix("/..")
                .map_or("/", |r| if r.is_empty() { "/" } else { r });
            match output.rfind('/') {
                Some(slash) => output.truncate(slash),
                None => output.clear(),
            }
        } else if input == "." || input == ".." {
            input = "";
        } else {
            // Move the first segment, with its leading "/" if any, to the output.
            let skip = usize::from(input.starts_with('/'));
            let end = input
                .get(skip..)
                .and_then(|s| s.find('/'))
                .map_or(input.len(), |i| i + skip);
            let (segment, rest) = input.split_at(end);
            output.push_str(segment);
            input = rest;
        }
    }
    output
}

/// iPXE's `pxe_uri`: the URI for a DHCP boot `filename` from `next_server`.
///
/// A filename that is already a `scheme://` URI is used as is. Anything else is a TFTP
/// path on `next_server` taken literally, so `C:\dir\file#x` is not read as a scheme or
/// a fragment, and `/abs/path` gives `tftp://server//abs/path` (which requests
/// `/abs/path`). A `tftp_port` other than 69 is written into the URI. An empty filename
/// gives `tftp://server/`, the fallback base for relative names.
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::uri::pxe_uri;
///
/// let server = Ipv4Addr::new(10, 0, 0, 1);
/// let uri = pxe_uri(server, 69, "pxelinux.0").expect("valid");
/// assert_eq!(uri.to_string(), "tftp://10.0.0.1/pxelinux.0");
/// let uri = pxe_uri(server, 69, "http://boot.example/x.ipxe").expect("valid");
/// assert_eq!(uri.to_string(), "http://boot.example/x.ipxe");
/// ```
pub fn pxe_uri(next_server: Ipv4Addr, tftp_port: u16, filename: &str) -> Result<Uri, UriError> {
    let reference = Reference::parse(filename)?;
    if reference.scheme.is_some() && reference.authority.is_some() {
        return Uri::parse(filename);
    }
    Ok(Uri {
        scheme: "tftp".to_string(),
        authority: Some(Authority {
            userinfo: None,
            host: Host::Ipv4(next_server),
            port: (tftp_port != 69).then_some(tftp_port),
        }),
        path: format!("/{}", percent_encode_path(filename)),
        query: None,
        fragment: None,
        params: None,
    })
}

/// Percent-encodes `text` for use as a path: everything but unreserved characters,
/// sub-delims, `:`, `@` and `/` (so `%`, `?`, `#`, `\`, spaces and non-ASCII are encoded).
pub fn percent_encode_path(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    out
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits is kept as is (iPXE
/// accepts improperly escaped input).
pub fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(&hi), Some(&lo)) if b == b'%' => hex_value(hi).zip(hex_value(lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn decode_lossy(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    match String::from_utf8(percent_decode(text)) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolved_path_never_turns_into_an_authority() {
        // Found by the uri fuzz target: `h:/` + `.//evil.example/x` once printed as
        // `h://evil.example/x`, which reads back with another host.
        let base = Uri::parse("h:/").expect("valid");
        let resolved = base.resolve(".//evil.example/x").expect("valid");
        let text = resolved.to_string();
        assert_eq!(text, "h:/.//evil.example/x");
        let again = Uri::parse(&text).expect("round trip");
        assert!(again.host().is_none());
        assert_eq!(again.path(), resolved.path());
        let odd = base.resolve(".//\\").expect("valid").to_string();
        assert!(Uri::parse(&odd).is_ok(), "{odd}");
        // Also found by the fuzzer: a zone holding an escaped "%" and a non-UTF-8 byte.
        let zoned = Uri::parse("t://[1::2%%f2]").expect("lenient zone");
        let again = Uri::parse(&zoned.to_string()).expect("zone round trip");
        assert_eq!(again.host(), zoned.host());
    }

    fn parse(text: &str) -> Uri {
        Uri::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn rfc3986_normal_examples() {
        let base = parse("http://a/b/c/d;p?q");
        let cases = [
            ("g:h", "g:h"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q#s"),
            ("g#s", "http://a/b/c/g#s"),
            ("g?y#s", "http://a/b/c/g?y#s"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("g;x?y#s", "http://a/b/c/g;x?y#s"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
        ];
        for (reference, expected) in cases {
            let got = resolve(&base, reference).unwrap_or_else(|e| panic!("{reference}: {e}"));
            assert_eq!(got.to_string(), expected, "reference {reference:?}");
        }
    }

    #[test]
    fn rfc3986_abnormal_examples() {
        let base = parse("http://a/b/c/d;p?q");
        let cases = [
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("g?y/../x", "http://a/b/c/g?y/../x"),
            ("g#s/./x", "http://a/b/c/g#s/./x"),
            ("g#s/../x", "http://a/b/c/g#s/../x"),
            ("http:g", "http:g"),
        ];
        for (reference, expected) in cases {
            let got = resolve(&base, reference).unwrap_or_else(|e| panic!("{reference}: {e}"));
            assert_eq!(got.to_string(), expected, "reference {reference:?}");
        }
    }

    #[test]
    fn ipxe_resolution_rules() {
        let base = parse("tftp://10.0.0.1/boot/menu.ipxe?x=1#top");
        let r = |s: &str| resolve(&base, s).expect("resolves").to_string();
        assert_eq!(r(""), "tftp://10.0.0.1/boot/menu.ipxe?x=1");
        assert_eq!(r("."), "tftp://10.0.0.1/boot/");
        assert_eq!(r("?y=2"), "tftp://10.0.0.1/boot/menu.ipxe?y=2");
        assert_eq!(r("#bottom"), "tftp://10.0.0.1/boot/menu.ipxe?x=1#bottom");
        assert_eq!(r("../../../../etc/x"), "tftp://10.0.0.1/etc/x");
        assert_eq!(r("../.."), "tftp://10.0.0.1/");
        assert_eq!(r("dir/a:b"), "tftp://10.0.0.1/boot/dir/a:b");
        assert_eq!(r("http://srv/x"), "http://srv/x");
        assert_eq!(
            base.resolve("k").expect("resolves").to_string(),
            "tftp://10.0.0.1/boot/k"
        );
        // Base with an authority but an empty path.
        let bare = parse("http://srv");
        assert_eq!(
            resolve(&bare, "x").expect("resolves").to_string(),
            "http://srv/x"
        );
        // Relative resolution of a bad absolute reference fails.
        assert!(resolve(&base, "http://:1/").is_err());
        assert!(resolve(&base, "a\nb").is_err());
    }

    #[test]
    fn components_userinfo_ports_and_decoding() {
        let u = parse("HTTP://us%40er:p%3Ass@Boot.Example:8080/p%20ath/f%C3%A9?q=1&r#frag");
        assert_eq!(u.scheme(), "http");
        assert_eq!(u.scheme_kind(), Scheme::Http);
        assert_eq!(u.userinfo(), Some("us%40er:p%3Ass"));
        assert_eq!(u.user().as_deref(), Some("us@er"));
        assert_eq!(u.password().as_deref(), Some("p:ss"));
        assert_eq!(u.host(), Some(&Host::Name("Boot.Example".into())));
        assert_eq!(u.port(), Some(8080));
        assert_eq!(u.port_or_default(), Some(8080));
        assert_eq!(u.path(), "/p%20ath/f%C3%A9");
        assert_eq!(u.decoded_path(), "/p ath/fé");
        assert_eq!(u.query(), Some("q=1&r"));
        assert_eq!(u.fragment(), Some("frag"));
        assert_eq!(u.request_target(), "/p%20ath/f%C3%A9?q=1&r");
        assert!(u.is_fetchable());
        assert_eq!(
            u.to_string(),
            "http://us%40er:p%3Ass@Boot.Example:8080/p%20ath/f%C3%A9?q=1&r#frag"
        );

        let u = parse("https://user@10.1.2.3");
        assert_eq!(u.user().as_deref(), Some("user"));
        assert_eq!(u.password(), None);
        assert_eq!(u.host_ipv4(), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(u.port(), None);
        assert_eq!(u.port_or_default(), Some(443));
        assert_eq!(u.request_target(), "/");
        // An unescaped '@' in the password: the last '@' ends the userinfo.
        let u = parse("http://u:p@ss@h/");
        assert_eq!(u.password().as_deref(), Some("p@ss"));
        assert_eq!(u.host(), Some(&Host::Name("h".into())));

        assert_eq!(parse("tftp://h/x").port_or_default(), Some(69));
        assert_eq!(parse("http://h/").port_or_default(), Some(80));
        assert_eq!(parse("http://h:/").port(), None);
        assert_eq!(parse("ftp://h/").port_or_default(), None);
        assert_eq!(default_port("TFTP"), Some(69));
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b%2fc"), b"a b/c");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%FF"), [0xFF]);
        assert_eq!(parse("http://h/%FF").decoded_path(), "/\u{FFFD}");
        assert_eq!(
            percent_encode_path("a b#c?d%e\\f/g:h"),
            "a%20b%23c%3Fd%25e%5Cf/g:h"
        );
        assert_eq!(percent_encode_path("é"), "%C3%A9");
    }

    #[test]
    fn opaque_and_other_schemes_are_kept() {
        let u = parse("mailto:root@example.com");
        assert_eq!(u.opaque(), Some("root@example.com"));
        assert!(!u.has_authority() && !u.is_fetchable());
        let u = parse("iscsi:10.0.0.1::::iqn.2010-04.org.ipxe:disk?x#y");
        assert_eq!(u.opaque(), Some("10.0.0.1::::iqn.2010-04.org.ipxe:disk"));
        assert_eq!((u.query(), u.fragment()), (Some("x"), Some("y")));
        let u = parse("file:relative/name");
        assert_eq!(u.opaque(), Some("relative/name"));
        let u = parse("file:///efi/boot/x.efi");
        assert_eq!(u.host(), Some(&Host::Name(String::new())));
        assert_eq!(u.opaque(), None);
        assert_eq!(u.scheme_kind(), Scheme::Other);
        let u = parse("http:relative");
        assert!(!u.is_fetchable());
    }

    #[test]
    fn ipv6_hosts() {
        let u = parse("http://[2001:db8::1]:8080/x");
        assert_eq!(
            u.host(),
            Some(&Host::Ipv6 {
                addr: "2001:db8::1".parse().expect("addr"),
                zone: None
            })
        );
        assert_eq!(u.port(), Some(8080));
        let u = parse("http://[fe80::1%25net0]/");
        assert!(matches!(u.host(), Some(Host::Ipv6 { zone: Some(z), .. }) if z == "net0"));
        assert_eq!(u.to_string(), "http://[fe80::1%25net0]/");
        // iPXE's non-standard bare "%zone" is accepted and written back in RFC 6874 form.
        assert_eq!(
            parse("http://[fe80::1%net0]/").to_string(),
            "http://[fe80::1%25net0]/"
        );
    }

    #[test]
    fn request_params() {
        let u = parse("http://h/submit##params");
        assert_eq!((u.path(), u.params()), ("/submit", Some("")));
        assert_eq!(u.to_string(), "http://h/submit##params");
        let u = parse("http://h/submit?a=b##params=form");
        assert_eq!((u.query(), u.params()), (Some("a=b"), Some("form")));
        assert_eq!(u.to_string(), "http://h/submit?a=b##params=form");
        let u = parse("http://h/x##paramsX");
        assert_eq!((u.fragment(), u.params()), (Some("#paramsX"), None));
    }

    #[test]
    fn display_round_trips() {
        let cases = [
            "tftp://10.0.0.1/pxelinux.0",
            "tftp://10.0.0.1//abs/path",
            "http://boot.example:8080/a/b?c=d#e",
            "https://u:p@h/x%20y",
            "http://h",
            "http://h/",
            "http://h?q",
            "mailto:x@y",
            "file:///x",
            "urn:isbn:0451450523",
            "http://[::1]/",
            "http://h/a##params=x",
            "http://h/a#",
            "http://h/a?",
        ];
        for text in cases {
            let u = parse(text);
            assert_eq!(u.to_string(), text);
            assert_eq!(parse(&u.to_string()), u);
            assert_eq!(text.parse::<Uri>(), Ok(u));
        }
    }

    #[test]
    fn hostile_and_invalid_strings() {
        let cases: &[(&str, UriError)] = &[
            ("", UriError::Empty),
            ("relative/path", UriError::MissingScheme),
            ("//host/x", UriError::MissingScheme),
            ("1http://x/", UriError::MissingScheme),
            ("://x", UriError::MissingScheme),
            (
                "http://",
                UriError::EmptyHost {
                    scheme: "http".into(),
                },
            ),
            (
                "tftp:///file",
                UriError::EmptyHost {
                    scheme: "tftp".into(),
                },
            ),
            (
                "https://:443/",
                UriError::EmptyHost {
                    scheme: "https".into(),
                },
            ),
            (
                "http://user@/",
                UriError::EmptyHost {
                    scheme: "http".into(),
                },
            ),
            (
                "http://h:99999/",
                UriError::BadPort {
                    port: "99999".into(),
                },
            ),
            ("http://h:8x/", UriError::BadPort { port: "8x".into() }),
            ("http://h:-1/", UriError::BadPort { port: "-1".into() }),
            ("http://h:+80/", UriError::BadPort { port: "+80".into() }),
            ("http://h:1:2/", UriError::BadHost { host: "h:1".into() }),
            (
                "http://ho st/",
                UriError::BadHost {
                    host: "ho st".into(),
                },
            ),
            ("http://hé/", UriError::BadHost { host: "hé".into() }),
            (
                "http://[::1/",
                UriError::BadHost {
                    host: "[::1".into(),
                },
            ),
            (
                "http://[zz]/",
                UriError::BadHost {
                    host: "[zz]".into(),
                },
            ),
            (
                "http://[::1]x/",
                UriError::BadHost {
                    host: "[::1]x".into(),
                },
            ),
            (
                "http://[fe80::1%25]/",
                UriError::BadHost {
                    host: "[fe80::1%25]".into(),
                },
            ),
            ("http://h/a\nb", UriError::ControlCharacter { position: 10 }),
            ("http://h/\0", UriError::ControlCharacter { position: 9 }),
            (
                "\x1b[2Jhttp://h/",
                UriError::ControlCharacter { position: 0 },
            ),
            ("http://h/\x7f", UriError::ControlCharacter { position: 9 }),
        ];
        for (text, expected) in cases {
            assert_eq!(Uri::parse(text).as_ref(), Err(expected), "input {text:?}");
        }
        // Errors explain themselves.
        assert!(UriError::MissingScheme.to_string().contains("hint"));
        assert_eq!(
            UriError::BadPort { port: "8x".into() }.to_string(),
            "invalid port \"8x\" in URI (must be a number up to 65535)"
        );
        // Improperly escaped but printable input is accepted (as iPXE does).
        assert_eq!(parse("http://h/a b%zz").path(), "/a b%zz");
        // Long and odd inputs do not panic.
        let long = "a/".repeat(10_000) + &"../".repeat(20_000);
        let base = parse("http://h/x");
        assert_eq!(
            resolve(&base, &long).expect("resolves").to_string(),
            "http://h/"
        );
        for text in [
            "http://@",
            "http://[",
            "http://]",
            "a:",
            ":",
            "#",
            "?",
            "%",
            "##params=",
        ] {
            let _ = Uri::parse(text);
            let _ = resolve(&base, text);
        }
    }

    #[test]
    fn pxe_filename_rules() {
        let server = Ipv4Addr::new(10, 0, 0, 1);
        let p = |f: &str| pxe_uri(server, 69, f).expect("valid");
        assert_eq!(p("pxelinux.0").to_string(), "tftp://10.0.0.1/pxelinux.0");
        assert_eq!(p("/abs/path").to_string(), "tftp://10.0.0.1//abs/path");
        assert_eq!(p("/abs/path").decoded_path(), "//abs/path");
        assert_eq!(p("").to_string(), "tftp://10.0.0.1/");
        assert_eq!(p("http://boot/x.ipxe").to_string(), "http://boot/x.ipxe");
        let dos = p("C:\\dir\\file#x");
        assert_eq!(dos.to_string(), "tftp://10.0.0.1/C:%5Cdir%5Cfile%23x");
        assert_eq!(dos.decoded_path(), "/C:\\dir\\file#x");
        assert_eq!(dos.fragment(), None);
        assert_eq!(p("a b?c%d").decoded_path(), "/a b?c%d");
        assert_eq!(
            pxe_uri(server, 1069, "x").expect("valid").to_string(),
            "tftp://10.0.0.1:1069/x"
        );
        // Relative names then resolve against the fallback base tftp://next-server/.
        assert_eq!(
            p("").resolve("boot.ipxe").expect("ok").to_string(),
            "tftp://10.0.0.1/boot.ipxe"
        );
        assert!(pxe_uri(server, 69, "evil\r\nname").is_err());
        assert!(pxe_uri(server, 69, "http://:80/").is_err());
        // Round trip through text keeps the literal file name.
        let reparsed = parse(&dos.to_string());
        assert_eq!(reparsed, dos);
    }
}
