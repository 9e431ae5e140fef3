//! The image model of §6: named images with command lines, the `SELECTED` and `CURRENT`
//! tags, autofree, and the initrd `name mode=… mkdir=…` arguments.
//!
//! The registry is generic over the data handle `B` so that a firmware can keep large
//! images in platform page memory; tests use `Vec<u8>`.
//!
//! ```
//! use netboot_script::image::{Image, ImageRegistry, default_name};
//! let mut reg = ImageRegistry::new();
//! let id = reg.register(Image::new(default_name("http://x/boot/vmlinuz?v=1").unwrap_or_default(), vec![1u8, 2]));
//! assert_eq!(reg.find("vmlinuz").map(|i| i.id()), Some(id));
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

/// Identifies an image for its whole life, across unregistering and re-registering.
pub type ImageId = u64;

/// What kind of thing an image is once probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// An iPXE script (detected by this crate).
    Script,
    /// Something the platform can execute (EFI, bzImage, NBP, …).
    Executable,
    /// An archive that executes by extracting (gzip, zlib, …) (§6.6).
    Archive,
}

/// A probed image type: a display name (`script`, `EFI`, `bzImage`) and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageType {
    /// The name shown by `imgstat`.
    pub name: &'static str,
    /// How it is executed.
    pub kind: ImageKind,
}

impl ImageType {
    /// The script type.
    pub const SCRIPT: ImageType = ImageType {
        name: "script",
        kind: ImageKind::Script,
    };
}

/// One image (§6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image<B> {
    id: ImageId,
    /// The name (§6.2); duplicates are allowed.
    pub name: String,
    /// Where it came from (after redirects).
    pub uri: Option<String>,
    /// The command line (`imgargs`, or arguments after the URI).
    pub cmdline: Option<String>,
    /// The probed type; `None` for data (initrds).
    pub ty: Option<ImageType>,
    /// Trusted (embedded, verified, or extracted from a trusted archive).
    pub trusted: bool,
    /// Unregister after it has been executed (`--autofree`).
    pub autofree: bool,
    /// Not counted as an initrd (e.g. the running kernel on EFI).
    pub hidden: bool,
    /// The bytes.
    pub data: B,
}

impl<B> Image<B> {
    /// A new untyped image. Its id is assigned when it is registered.
    pub fn new(name: impl Into<String>, data: B) -> Image<B> {
        Image {
            id: 0,
            name: name.into(),
            uri: None,
            cmdline: None,
            ty: None,
            trusted: false,
            autofree: false,
            hidden: false,
            data,
        }
    }

    /// The id (0 until first registered).
    pub fn id(&self) -> ImageId {
        self.id
    }

    /// The initrd arguments carried by the command line, if it has one.
    pub fn cpio_args(&self) -> Option<CpioArgs> {
        self.cmdline.as_deref().and_then(CpioArgs::parse)
    }
}

impl<B: AsRef<[u8]>> Image<B> {
    /// The `imgstat` line (§6.8), without a newline.
    pub fn describe(&self, selected: bool) -> String {
        let mut s = format!("{} : {} bytes", self.name, self.data.as_ref().len());
        if let Some(t) = self.ty {
            let _ = write!(s, " [{}]", t.name);
        }
        if selected {
            s.push_str(" [SELECTED]");
        }
        if self.trusted {
            s.push_str(" [TRUSTED]");
        }
        if self.autofree {
            s.push_str(" [AUTOFREE]");
        }
        if self.hidden {
            s.push_str(" [HIDDEN]");
        }
        if let Some(c) = &self.cmdline {
            let _ = write!(s, " \"{c}\"");
        }
        s
    }
}

/// The registered images, in registration order, plus the `SELECTED`/`CURRENT` tags and
/// the current working URI.
#[derive(Clone, Debug)]
pub struct ImageRegistry<B> {
    images: Vec<Image<B>>,
    next_id: ImageId,
    selected: Option<ImageId>,
    current: Option<ImageId>,
    cwuri: Option<String>,
    trust: TrustPolicy,
}

/// The `imgtrust` policy (§6.9): whether only trusted images may be executed, and
/// whether that can still change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Executing an untrusted image fails (`imgtrust`); off by default (`imgtrust --allow`).
    pub require: bool,
    /// The policy can no longer change (`imgtrust --permanent`).
    pub permanent: bool,
}

impl<B> Default for ImageRegistry<B> {
    fn default() -> Self {
        ImageRegistry::new()
    }
}

impl<B> ImageRegistry<B> {
    /// An empty registry.
    pub const fn new() -> ImageRegistry<B> {
        ImageRegistry {
            images: Vec::new(),
            next_id: 1,
            selected: None,
            current: None,
            cwuri: None,
            trust: TrustPolicy {
                require: false,
                permanent: false,
            },
        }
    }

    /// The trust policy.
    pub fn trust_policy(&self) -> TrustPolicy {
        self.trust
    }

    /// Sets the trust policy (iPXE's `image_set_trust`): `Err(())` — nothing changed — if
    /// the policy is permanent and `require` differs from it. `permanent` sticks once set.
    #[allow(clippy::result_unit_err)] // The only failure is "permanent"; callers explain it.
    pub fn set_trust_policy(&mut self, require: bool, permanent: bool) -> Result<(), ()> {
        if self.trust.permanent && self.trust.require != require {
            return Err(());
        }
        self.trust.require = require;
        self.trust.permanent |= permanent;
        Ok(())
    }

    /// Registers an image at the end and returns its id (keeping an id it already has).
    /// An image without a name is named `imgN`.
    pub fn register(&mut self, mut image: Image<B>) -> ImageId {
        if image.id == 0 {
            image.id = self.next_id;
            self.next_id += 1;
        }
        if image.name.is_empty() {
            image.name = format!("img{}", image.id);
        }
        let id = image.id;
        self.images.push(image);
        id
    }

    /// The oldest image with this name (duplicates are allowed, §6.2).
    pub fn find(&self, name: &str) -> Option<&Image<B>> {
        self.images.iter().find(|i| i.name == name)
    }

    /// Mutable lookup by name (oldest match).
    pub fn find_mut(&mut self, name: &str) -> Option<&mut Image<B>> {
        self.images.iter_mut().find(|i| i.name == name)
    }

    /// Lookup by id.
    pub fn get(&self, id: ImageId) -> Option<&Image<B>> {
        self.images.iter().find(|i| i.id == id)
    }

    /// Mutable lookup by id.
    pub fn get_mut(&mut self, id: ImageId) -> Option<&mut Image<B>> {
        self.images.iter_mut().find(|i| i.id == id)
    }

    /// Unregisters an image and hands it back. Its tags stay (they are weak references).
    pub fn unregister(&mut self, id: ImageId) -> Option<Image<B>> {
        let idx = self.images.iter().position(|i| i.id == id)?;
        Some(self.images.remove(idx))
    }

    /// Takes an image out temporarily (to lend its data to the runtime), with its position.
    pub fn take(&mut self, id: ImageId) -> Option<(usize, Image<B>)> {
        let idx = self.images.iter().position(|i| i.id == id)?;
        Some((idx, self.images.remove(idx)))
    }

    /// Puts back an image from [`ImageRegistry::take`] at its old position.
    pub fn put_back(&mut self, index: usize, image: Image<B>) {
        let index = index.min(self.images.len());
        self.images.insert(index, image);
    }

    /// Unregisters everything (`imgfree` without arguments).
    pub fn clear(&mut self) {
        self.images.clear();
    }

    /// Registered images in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Image<B>> {
        self.images.iter()
    }

    /// The images a kernel would get as initrds: registered, not hidden, in order (§6.7).
    pub fn initrds(&self) -> impl Iterator<Item = &Image<B>> {
        self.images.iter().filter(|i| !i.hidden)
    }

    /// Tags an image `SELECTED` (moving the tag).
    pub fn select(&mut self, id: ImageId) {
        self.selected = Some(id);
    }

    /// The `SELECTED` image's id, if that image is still registered.
    pub fn selected(&self) -> Option<ImageId> {
        self.selected.filter(|id| self.get(*id).is_some())
    }

    /// The image that is executing now (`CURRENT`).
    pub fn current(&self) -> Option<ImageId> {
        self.current
    }

    /// Sets `CURRENT`, returning the previous value.
    pub fn set_current(&mut self, id: Option<ImageId>) -> Option<ImageId> {
        core::mem::replace(&mut self.current, id)
    }

    /// The current working URI that relative URIs resolve against (§7.4).
    pub fn cwuri(&self) -> Option<&str> {
        self.cwuri.as_deref()
    }

    /// Sets the current working URI, returning the previous one.
    pub fn set_cwuri(&mut self, uri: Option<String>) -> Option<String> {
        core::mem::replace(&mut self.cwuri, uri)
    }
}

/// The default image name for a URI (§6.2): the basename of the path, ignoring query and
/// fragment; for an opaque URI (`scheme:text`) the opaque part. `None` if empty.
pub fn default_name(uri: &str) -> Option<String> {
    let no_frag = uri.split('#').next().unwrap_or(uri);
    let no_query = no_frag.split('?').next().unwrap_or(no_frag);
    let path = match no_query.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            match rest.strip_prefix("//") {
                // hierarchical: skip the authority
                Some(after) => after.find('/').map_or("", |i| &after[i..]),
                None => rest,
            }
        }
        _ => no_query,
    };
    let base = path.rsplit('/').next().unwrap_or(path);
    (!base.is_empty()).then(|| base.to_string())
}

/// Initrd arguments from an image command line (§6.7): `name [mode=<octal>] [mkdir=<n>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpioArgs {
    /// The path inside the CPIO archive (command line up to the first space), without a
    /// trailing `/`.
    pub path: String,
    /// The path ended with `/`: the entry is a directory (mode 040755).
    pub directory: bool,
    /// Permission bits (default 0644); the file-type bits are the builder's job.
    pub mode: u32,
    /// How many parent directories to emit first; `-1` = all of them.
    pub mkdir: i64,
}

impl CpioArgs {
    /// Parses a command line; `None` if it is empty (raw initrd, no CPIO header).
    /// Unparsable `mode=`/`mkdir=` values are ignored, keeping the defaults.
    pub fn parse(cmdline: &str) -> Option<CpioArgs> {
        let mut words = cmdline.split(' ');
        let name = words.next().filter(|n| !n.is_empty())?;
        let (path, directory) = match name.strip_suffix('/') {
            Some(p) => (p, true),
            None => (name, false),
        };
        let mut args = CpioArgs {
            path: path.to_string(),
            directory,
            mode: 0o644,
            mkdir: 0,
        };
        for w in words {
            if let Some(m) = w.strip_prefix("mode=") {
                if let Ok(v) = u32::from_str_radix(m, 8) {
                    args.mode = v & 0o7777;
                }
            } else if let Some(m) = w.strip_prefix("mkdir=")
                && let Some(v) = netboot_core::settings::parse_int(m)
            {
                args.mkdir = v;
            }
        }
        Some(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn names_and_registry() {
        assert_eq!(
            default_name("http://h/a/b/vmlinuz?x=1#f").as_deref(),
            Some("vmlinuz")
        );
        assert_eq!(
            default_name("tftp://h/boot.ipxe").as_deref(),
            Some("boot.ipxe")
        );
        assert_eq!(default_name("http://h/").as_deref(), None);
        assert_eq!(default_name("http://h").as_deref(), None);
        assert_eq!(
            default_name("file:script.ipxe").as_deref(),
            Some("script.ipxe")
        );
        assert_eq!(default_name("initrd.img").as_deref(), Some("initrd.img"));
        let mut r = ImageRegistry::new();
        let a = r.register(Image::new("x", vec![1u8]));
        let b = r.register(Image::new("x", vec![2u8, 3]));
        let c = r.register(Image::new("", vec![]));
        assert_eq!(r.find("x").map(Image::id), Some(a));
        assert_eq!(r.get(c).map(|i| i.name.as_str()), Some("img3"));
        r.select(b);
        assert_eq!(r.selected(), Some(b));
        let img = r.unregister(b).expect("registered");
        assert_eq!(r.selected(), None);
        r.register(img);
        assert_eq!(r.selected(), Some(b));
        assert_eq!(r.initrds().count(), 3);
        let mut i = Image::new("k", vec![0u8; 5]);
        i.cmdline = Some("console=ttyS0".into());
        i.ty = Some(ImageType::SCRIPT);
        assert_eq!(
            i.describe(true),
            "k : 5 bytes [script] [SELECTED] \"console=ttyS0\""
        );
    }

    #[test]
    fn cpio_args() {
        assert_eq!(CpioArgs::parse(""), None);
        let a = CpioArgs::parse("/etc/x.conf mode=600 mkdir=-1").expect("args");
        assert_eq!(
            a,
            CpioArgs {
                path: "/etc/x.conf".into(),
                directory: false,
                mode: 0o600,
                mkdir: -1
            }
        );
        let d = CpioArgs::parse("/usr/lib/ mode=zz").expect("args");
        assert_eq!(
            (d.path.as_str(), d.directory, d.mode),
            ("/usr/lib", true, 0o644)
        );
    }
}
