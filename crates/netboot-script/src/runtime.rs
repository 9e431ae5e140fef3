//! The [`Runtime`] trait: every effect a script can have on the machine, with typed
//! arguments already parsed by the interpreter.
//!
//! A platform implements the required methods (state, console, clock, `fetch`) and
//! overrides the optional ones it supports; the rest answer
//! [`Error::NotSupported`]. Interactive helpers (`wait_key`, `read_line`,
//! `menu_select`) have default implementations built on the pure state machines in
//! [`crate::lineedit`] and [`crate::menu`], so a serial-only platform gets them for free.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use netboot_core::platform::Key;
use netboot_core::settings::{FoundSetting, Settings, SettingsError};

use crate::Error;
use crate::Interpreter;
use crate::image::{Image, ImageRegistry, ImageType};
use crate::keys;
use crate::lineedit::{EditEvent, LineEditor};
use crate::menu::{ChooseOptions, Menu, MenuEvent, MenuSession};

/// A download request (`imgfetch`, `chain`, … with a URI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest<'a> {
    /// The URI as typed; the runtime resolves it against `cwuri`.
    pub uri: &'a str,
    /// The current working URI (§7.4): the URI of the running script, if any.
    pub cwuri: Option<&'a str>,
    /// Inactivity timeout in ms (`--timeout`); 0 = none.
    pub timeout_ms: u64,
    /// `--quiet`: no progress line.
    pub quiet: bool,
}

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched<B> {
    /// The bytes.
    pub data: B,
    /// The final URI, after resolution and redirects.
    pub uri: String,
}

/// Digest algorithms for `md5sum` and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // The names are the algorithms.
pub enum Digest {
    Md4,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// `ifconf`/`dhcp` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfconfOptions {
    /// `--configurator` (`dhcp`, `ipv6`); `None` = all.
    pub configurator: Option<String>,
    /// `--timeout` in ms; `None` = the platform default.
    pub timeout_ms: Option<u64>,
}

/// `ping` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingOptions {
    /// The host.
    pub host: String,
    /// Payload size (default 64).
    pub size: u64,
    /// Per-reply timeout in ms (default 1000).
    pub timeout_ms: u64,
    /// Number of pings; `None` = until Ctrl-C.
    pub count: Option<u64>,
    /// `--quiet`.
    pub quiet: bool,
}

/// `params` options: create (or delete) a request-parameter list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamsOptions {
    /// `--name`; `None` = the default list.
    pub name: Option<String>,
    /// `--method` (e.g. `POST`).
    pub method: Option<String>,
    /// `--delete`.
    pub delete: bool,
}

/// `param` options: add a parameter to a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamOptions {
    /// `--params`: the list; `None` = the default list.
    pub params: Option<String>,
    /// `--header`: an HTTP header instead of a form field.
    pub header: bool,
    /// The key.
    pub key: String,
    /// The value (arguments joined by spaces); `None` if absent.
    pub value: Option<String>,
}

/// `sanboot`/`sanhook` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SanOptions {
    /// `--drive`; `None` = `${san-drive}` or 0x80.
    pub drive: Option<u64>,
    /// `--no-describe`: no iBFT/aBFT/sBFT.
    pub no_describe: bool,
    /// `--keep`: leave hooked after booting.
    pub keep: bool,
    /// `--filename` (EFI).
    pub filename: Option<String>,
    /// `--extra` (EFI).
    pub extra: Option<String>,
    /// `--label` (EFI).
    pub label: Option<String>,
    /// `--uuid` (EFI).
    pub uuid: Option<String>,
    /// Root paths; several = multipath; none = boot an already-hooked drive.
    pub uris: Vec<String>,
}

/// A `cpuid` feature test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuidQuery {
    /// `--ext`/`--amd`: leaf 0x80000001 instead of 1.
    pub extended: bool,
    /// `--ecx`: ECX instead of EDX.
    pub ecx: bool,
    /// The bit number.
    pub bit: u32,
}

/// `reboot`/`poweroff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerRequest {
    /// `reboot [--warm] [--setup]`.
    Reboot {
        /// `--warm`.
        warm: bool,
        /// `--setup`: enter firmware setup (EFI).
        setup: bool,
    },
    /// `poweroff`.
    PowerOff,
}

/// `console` options (§3.4): the framebuffer console's geometry and picture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// `--x`: width in pixels.
    pub width: Option<u64>,
    /// `--y`: height in pixels.
    pub height: Option<u64>,
    /// `--left`, `--right`, `--top`, `--bottom`: margins in pixels.
    pub margins: [Option<u64>; 4],
    /// `--depth`: colour depth in bits per pixel.
    pub depth: Option<u64>,
    /// `--picture`: the background picture (already acquired as an image name).
    pub picture: Option<String>,
}

impl ConsoleOptions {
    /// Whether any option needs a framebuffer (all of them do; `console` alone just
    /// resets the console).
    pub fn needs_framebuffer(&self) -> bool {
        self.width.is_some()
            || self.height.is_some()
            || self.margins.iter().any(Option::is_some)
            || self.depth.is_some()
            || self.picture.is_some()
    }
}

/// A line-editing request (`read`, `login`, the shell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRequest<'a> {
    /// Printed before the editable text.
    pub prompt: &'a str,
    /// Text to start with.
    pub initial: &'a str,
    /// Show `*` instead of the text.
    pub secret: bool,
    /// Timeout in ms while waiting for the *first* key; 0 = none.
    pub timeout_ms: u64,
    /// History for Up/Down, oldest first.
    pub history: &'a [String],
}

/// The effects of scripts. See the module documentation.
pub trait Runtime {
    /// A handle to image bytes (a `Vec<u8>`, or platform page memory).
    type Blob: AsRef<[u8]>;

    /// The settings store (shared with DHCP and the rest of the runtime).
    fn settings(&mut self) -> &mut Settings;
    /// The image registry.
    fn images(&mut self) -> &mut ImageRegistry<Self::Blob>;

    /// Writes text to the console(s).
    fn print(&mut self, text: &str);
    /// Returns a waiting key without blocking. A platform should turn `ESC` followed
    /// within 250 ms by a letter into the Ctrl-letter (§5.1).
    fn poll_key(&mut self) -> Option<Key>;
    /// Monotonic milliseconds.
    fn now_ms(&self) -> u64;
    /// Called in every wait loop: poll the network, run timers, halt until the next
    /// interrupt. The default does nothing.
    fn idle(&mut self) {}

    /// Waits for a key (as an iPXE key code, see [`crate::keys`]) for up to `timeout_ms`
    /// (0 = for ever); `None` on timeout.
    fn wait_key(&mut self, timeout_ms: u64) -> Option<u32> {
        let start = self.now_ms();
        loop {
            if let Some(k) = self.poll_key() {
                return Some(keys::key_code(k));
            }
            if timeout_ms > 0 && self.now_ms().saturating_sub(start) >= timeout_ms {
                return None;
            }
            self.idle();
        }
    }

    /// Edits a line (§5.2). Enter → the text; Ctrl-C → [`Error::Canceled`]; no first
    /// key within the timeout → [`Error::TimedOut`]. Ends the line with `\n`.
    fn read_line(&mut self, req: &LineRequest<'_>) -> Result<String, Error> {
        let mut editor = LineEditor::new(req.initial, req.secret);
        let mut out = String::from(req.prompt);
        editor.start(&mut out);
        self.print(&out);
        let mut timeout = req.timeout_ms;
        loop {
            let Some(key) = self.wait_key(timeout) else {
                self.print("\n");
                return Err(Error::TimedOut);
            };
            timeout = 0;
            out.clear();
            let event = editor.handle_key(key, req.history, &mut out);
            self.print(&out);
            match event {
                EditEvent::Continue => {}
                EditEvent::Accept(text) => {
                    self.print("\n");
                    return Ok(text);
                }
                EditEvent::Cancel => {
                    self.print("\n");
                    return Err(Error::Canceled);
                }
            }
        }
    }

    /// Shows a menu and returns the index of the chosen item; Esc/Ctrl-C →
    /// [`Error::Canceled`]. The default draws with ANSI sequences (§5.3) and clears the
    /// screen afterwards; a platform with a graphical console may override it.
    fn menu_select(&mut self, menu: &Menu, opts: &ChooseOptions) -> Result<usize, Error> {
        let now = self.now_ms();
        let mut session = MenuSession::new(
            menu,
            opts.default.as_deref(),
            opts.timeout_ms,
            opts.retimeout_ms,
            now,
        )?;
        session.set_palette(opts.palette.clone());
        let mut out = String::new();
        session.render(&mut out, now);
        self.print(&out);
        let result = loop {
            let now = self.now_ms();
            let event = match self.poll_key() {
                Some(k) => session.handle_key(keys::key_code(k), now),
                None => session.tick(now),
            };
            out.clear();
            match event {
                MenuEvent::None => self.idle(),
                MenuEvent::Redraw => session.render(&mut out, now),
                MenuEvent::Countdown => session.render_selected(&mut out, now),
                MenuEvent::Chosen(i) => break Ok(i),
                MenuEvent::Cancelled => break Err(Error::Canceled),
            }
            if !out.is_empty() {
                self.print(&out);
            }
        };
        self.print("\x1b[0m\x1b[2J\x1b[1;1H");
        result
    }

    /// Downloads `req.uri`, printing progress unless `req.quiet` (§6.8). Ctrl-C →
    /// [`Error::Canceled`].
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Result<Fetched<Self::Blob>, Error>;

    /// Probes image bytes for an executable or archive type (scripts are recognised
    /// before this is called). `None` = data.
    fn probe(&mut self, data: &Self::Blob) -> Option<ImageType> {
        let _ = data;
        None
    }

    /// Executes a probed executable image (EFI, bzImage, NBP, …). The image has been
    /// unregistered for the duration (§6.4), so [`Runtime::images`] holds exactly the
    /// initrd candidates. `Ok` if the image returned success.
    fn execute(&mut self, image: &Image<Self::Blob>) -> Result<(), Error> {
        let _ = image;
        Err(Error::NotSupported("boot"))
    }

    /// Extracts an archive image (gzip, zlib, …) and returns the contents (§6.6).
    fn extract(&mut self, image: &Image<Self::Blob>) -> Result<Self::Blob, Error> {
        let _ = image;
        Err(Error::NotSupported("imgextract"))
    }

    /// Computes a digest. The default computes it in software ([`crate::digest`]); a
    /// platform with a hardware or firmware hash service may override it.
    fn digest(&mut self, algorithm: Digest, data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(crate::digest::compute(algorithm, data))
    }

    /// Names of all network devices, in probe order.
    fn interfaces(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Resolves an interface argument (`net0`, `net0-100`, `netX`) to a device name.
    fn resolve_interface(&mut self, name: &str) -> Option<String> {
        self.interfaces().into_iter().find(|n| n == name)
    }
    /// `ifopen`.
    fn ifopen(&mut self, iface: &str) -> Result<(), Error> {
        let _ = iface;
        Err(Error::NotSupported("ifopen"))
    }
    /// `ifclose`.
    fn ifclose(&mut self, iface: &str) -> Result<(), Error> {
        let _ = iface;
        Err(Error::NotSupported("ifclose"))
    }
    /// `ifstat`: prints the status.
    fn ifstat(&mut self, iface: &str) -> Result<(), Error> {
        let _ = iface;
        Err(Error::NotSupported("ifstat"))
    }
    /// `ifconf`/`dhcp` on one interface (open, link wait, configure, print progress).
    fn ifconf(&mut self, iface: &str, opts: &IfconfOptions) -> Result<(), Error> {
        let _ = (iface, opts);
        Err(Error::NotSupported("ifconf"))
    }
    /// `iflinkwait` on one interface; `timeout_ms` 0 = for ever.
    fn iflinkwait(&mut self, iface: &str, timeout_ms: u64) -> Result<(), Error> {
        let _ = (iface, timeout_ms);
        Err(Error::NotSupported("iflinkwait"))
    }
    /// `route`: prints the routing tables.
    fn route(&mut self) -> Result<(), Error> {
        Err(Error::NotSupported("route"))
    }
    /// `ntp`: one SNTP exchange, sets the clock.
    fn ntp(&mut self, server: &str) -> Result<(), Error> {
        let _ = server;
        Err(Error::NotSupported("ntp"))
    }
    /// `nslookup`: resolves a name to an address in text form (stored by the caller).
    fn nslookup(&mut self, name: &str) -> Result<String, Error> {
        let _ = name;
        Err(Error::NotSupported("nslookup"))
    }
    /// `ping`.
    fn ping(&mut self, opts: &PingOptions) -> Result<(), Error> {
        let _ = opts;
        Err(Error::NotSupported("ping"))
    }
    /// `params`.
    fn params(&mut self, opts: &ParamsOptions) -> Result<(), Error> {
        let _ = opts;
        Err(Error::NotSupported("params"))
    }
    /// `param`.
    fn param(&mut self, opts: &ParamOptions) -> Result<(), Error> {
        let _ = opts;
        Err(Error::NotSupported("param"))
    }
    /// `sanboot`.
    fn sanboot(&mut self, opts: &SanOptions) -> Result<(), Error> {
        let _ = opts;
        Err(Error::NotSupported("sanboot"))
    }
    /// `sanhook`.
    fn sanhook(&mut self, opts: &SanOptions) -> Result<(), Error> {
        let _ = opts;
        Err(Error::NotSupported("sanhook"))
    }
    /// `sanunhook`.
    fn sanunhook(&mut self, drive: Option<u64>) -> Result<(), Error> {
        let _ = drive;
        Err(Error::NotSupported("sanunhook"))
    }
    /// `cpuid`: whether the feature bit is set.
    fn cpuid(&mut self, query: CpuidQuery) -> Result<bool, Error> {
        let _ = query;
        Err(Error::NotSupported("cpuid"))
    }
    /// `reboot`/`poweroff`: returns only if it could not be done.
    fn power(&mut self, request: PowerRequest) -> Error {
        let _ = request;
        Error::NotSupported("power control")
    }

    /// Expands `${…}` in a command argument. The default reads the settings store; a
    /// runtime with hardware scopes (`smbios/`, `pci/`) overrides it to read them too.
    fn expand(&mut self, text: &str) -> Result<String, SettingsError> {
        self.settings().expand(text)
    }
    /// Looks a setting up for `show`, `inc` and `pciscan`; see [`Runtime::expand`].
    fn lookup_setting(&mut self, name: &str) -> Result<Option<FoundSetting>, SettingsError> {
        self.settings().lookup(name)
    }

    /// `autoboot [iface…]`: DHCP on each interface in turn (all if none are named), then
    /// the boot file (§7.1); the first that boots ends it.
    fn autoboot(&mut self, interp: &mut Interpreter, ifaces: &[String]) -> Result<(), Error> {
        let _ = (interp, ifaces);
        Err(Error::NotSupported("autoboot"))
    }
    /// `sync`: waits up to `timeout_ms` (0 = for ever) for pending operations such as
    /// closing TCP connections. The default has none pending.
    fn sync(&mut self, timeout_ms: u64) -> Result<(), Error> {
        let _ = timeout_ms;
        Ok(())
    }
    /// `pciscan`: the first PCI function (segment << 16 | bus << 8 | devfn) at or after
    /// `from` that exists, `None` past the last.
    fn pci_next(&mut self, from: u32) -> Result<Option<u32>, Error> {
        let _ = from;
        Err(Error::NotSupported("pciscan"))
    }
    /// `pxebs`: PXE boot-server discovery on an interface for a server type (§10.5); the
    /// reply becomes settings block `pxebs`.
    fn pxebs(&mut self, iface: &str, server_type: u16) -> Result<(), Error> {
        let _ = (iface, server_type);
        Err(Error::NotSupported("pxebs"))
    }
    /// `vcreate`: creates the VLAN device `<trunk>-<tag>`.
    fn vcreate(&mut self, trunk: &str, tag: u16, priority: u8) -> Result<(), Error> {
        let _ = (trunk, tag, priority);
        Err(Error::NotSupported("vcreate (VLAN devices)"))
    }
    /// `vdestroy`: destroys a VLAN device.
    fn vdestroy(&mut self, iface: &str) -> Result<(), Error> {
        let _ = iface;
        Err(Error::NotSupported("vdestroy (VLAN devices)"))
    }
    /// `startpxe [iface]`: provides the PXE API (for a chained PXE NBP) on an interface.
    fn startpxe(&mut self, iface: Option<&str>) -> Result<(), Error> {
        let _ = iface;
        Err(Error::NotSupported("startpxe (the PXE API)"))
    }
    /// `stoppxe`: withdraws the PXE API.
    fn stoppxe(&mut self) -> Result<(), Error> {
        Err(Error::NotSupported("stoppxe (the PXE API)"))
    }
    /// `console`: reconfigures the console. The default is a text/serial console: with
    /// no options there is nothing to do; every option needs a framebuffer, so it fails
    /// with an explanation instead of pretending.
    fn console(&mut self, opts: &ConsoleOptions) -> Result<(), Error> {
        if opts.needs_framebuffer() {
            return Err(Error::platform(
                crate::Posix::Enotsup,
                30,
                "console --x/--y/--left/--right/--top/--bottom/--depth/--picture: not supported \
                 on this console (text and serial only, no framebuffer); colour and cpair work",
            ));
        }
        Ok(())
    }
    /// Probes fetched bytes that [`Runtime::probe`] did not recognise, knowing the
    /// image's name: a PXE NBP has no magic number, only its name (`.0`, `.pxe`,
    /// `.kpxe`) tells it apart. `None` (the default) leaves it data.
    fn probe_named(&mut self, name: &str, data: &Self::Blob) -> Option<ImageType> {
        let _ = (name, data);
        None
    }

    /// `imgverify`: checks a detached CMS signature (DER or PEM) over `data` against the
    /// runtime's trusted roots and clock; with `signer`, only signers with that
    /// certificate common name count and there must be one. Returns the signer's common
    /// name. The default has no trust store: [`Error::NotSupported`].
    fn verify_signature(
        &mut self,
        data: &[u8],
        signature: &[u8],
        signer: Option<&str>,
    ) -> Result<String, Error> {
        let _ = (data, signature, signer);
        Err(Error::NotSupported(
            "imgverify (no trust store on this platform)",
        ))
    }
}

/// Shorthand used by commands: a string for `Option<&str>`.
pub(crate) fn owned(s: Option<&str>) -> Option<String> {
    s.map(ToString::to_string)
}
