//! The standard [`Runtime`]: settings, images and the network stack over a
//! [`Platform`]. Backends (UEFI, BIOS, the host simulator) implement [`Platform`] once and
//! get the whole script language on top:
//!
//! ```ignore
//! let status = Machine::new(platform).run(netboot_core::embed::script());
//! ```
//!
//! [`Machine::run`] is the runtime contract of the design: run the embedded script if
//! there is one, otherwise autoboot (DHCP on each NIC in turn, then chain the DHCP boot
//! file relative to next-server).

use crate::image::{Image, ImageKind, ImageRegistry, ImageType};
use crate::runtime::{
    CpuidQuery, FetchRequest, Fetched, IfconfOptions, ParamOptions, ParamsOptions, PingOptions,
    PowerRequest,
};
use crate::{Error, Interpreter, Posix, Runtime};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;
use netboot_core::error::Error as CoreError;
use netboot_core::net::{HttpOptions, NetDevice, PingRequest, Progress, VecSink, Waiter};
use netboot_core::platform::{BootInitrd, BootRequest, Key, Platform, PowerAction};
use netboot_core::proto::dhcp::{ClientArch, DhcpConfig, Lease};
use netboot_core::proto::http::{Method, form_urlencode};
use netboot_core::proto::ntp::NtpTime;
use netboot_core::proto::ping::{MAX_PAYLOAD, PingEvent};
use netboot_core::settings::{
    FoundSetting, Hardware, SettingName, SettingType, Settings, SettingsError,
};
use netboot_core::uri::{Uri, pxe_uri};

/// Largest image accepted by default (4 GiB); a hostile server cannot exhaust memory
/// beyond what the platform can allocate, and allocation failures are errors.
pub const MAX_IMAGE: u64 = 4 << 30;

/// The image types `imgstat` shows, from netboot-image's probe.
const fn image_type(format: netboot_image::Format) -> Option<ImageType> {
    use netboot_image::Format as F;
    let (name, kind) = match format {
        F::BzImage => ("bzImage", ImageKind::Executable),
        F::Pe => ("EFI", ImageKind::Executable),
        F::Uki => ("UKI", ImageKind::Executable),
        F::Nbp => ("PXE", ImageKind::Executable),
        F::Elf => ("ELF", ImageKind::Executable),
        F::Multiboot => ("multiboot", ImageKind::Executable),
        F::Com32 => ("COM32", ImageKind::Executable),
        F::Gzip => ("gzip", ImageKind::Archive),
        F::Zlib => ("zlib", ImageKind::Archive),
        // Everything else is data (an initrd, an ISO for sanboot, …).
        _ => return None,
    };
    Some(ImageType { name, kind })
}

/// An initrd as the kernel receives it: raw, or wrapped in a CPIO header when the script
/// said `initrd NAME /path [mode=…]` (iPXE's initrd construction, §6.7).
fn initrd_bytes(image: &Image<Vec<u8>>) -> Result<Option<Vec<u8>>, Error> {
    let Some(args) = image.cpio_args() else {
        return Ok(None);
    };
    let size = image.data.len() as u64;
    let header = netboot_image::cpio::initrd_prefix(
        args.path.as_bytes(),
        args.mode,
        args.directory,
        size,
        args.mkdir,
    )
    .map_err(|e| Error::platform(Posix::Einval, 8, format!("initrd {}: {e}", image.name)))?;
    let mut out = header;
    if !args.directory {
        out.extend_from_slice(&image.data);
        out.resize(out.len() + netboot_image::cpio::data_padding(size), 0);
    }
    Ok(Some(out))
}

/// The runtime state over a platform.
pub struct Machine<P: Platform> {
    platform: P,
    settings: Settings,
    images: ImageRegistry<Vec<u8>>,
    nets: Vec<NetDevice<P::Nic>>,
    prompt_ms: u64,
    shell_on_failure: bool,
    /// Request-parameter lists (`params`, `param`), newest last.
    param_lists: Vec<ParamList>,
    /// The wall clock, from the platform's real-time clock at start-up or from `ntp`:
    /// `${unixtime}` is derived from it.
    clock: Option<NtpTime>,
    /// The SMBIOS structure table and version, for the `smbios/` scope.
    smbios: Option<(Vec<u8>, (u8, u8))>,
    /// The root CAs HTTPS and `imgverify` trust.
    #[cfg(feature = "https")]
    trust: netboot_core::tls::TrustStore,
    /// Provider and verifier built from `trust`, on first use.
    #[cfg(feature = "https")]
    tls: Option<alloc::sync::Arc<netboot_core::tls::TlsSetup>>,
}

/// A request-parameter list (iPXE's `struct parameters`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ParamList {
    /// `None` for the default (unnamed) list.
    name: Option<String>,
    /// `params --method`.
    method: Option<Method>,
    /// (key, value, is a header) in the order given.
    params: Vec<(String, String, bool)>,
}

impl ParamList {
    /// The HTTP request parts: form fields make a `POST` with an urlencoded body
    /// (unless `--method` says otherwise), `--header` parameters become header lines.
    fn http_options(&self) -> HttpOptions {
        let fields: Vec<(&str, &str)> = self
            .params
            .iter()
            .filter(|(_, _, header)| !header)
            .map(|(k, v, _)| (k.as_str(), v.as_str()))
            .collect();
        let headers = self
            .params
            .iter()
            .filter(|(_, _, header)| *header)
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        let method = self.method;
        let wants_body = match method {
            Some(Method::Post | Method::Put) => true,
            Some(Method::Get | Method::Head) => false,
            None => !fields.is_empty(),
        };
        let body = wants_body.then(|| {
            let mut form = String::new();
            form_urlencode(fields, &mut form);
            (
                "application/x-www-form-urlencoded".to_string(),
                form.into_bytes(),
            )
        });
        HttpOptions {
            method,
            headers,
            body,
        }
    }
}

impl<P: Platform> Machine<P> {
    /// Takes the platform's NICs (as `net0`, `net1`, …) and fills the builtin settings.
    pub fn new(mut platform: P) -> Self {
        let mut settings = Settings::new();
        let builtins = [
            ("buildarch", "x86_64"),
            ("platform", platform.name()),
            ("version", netboot_core::VERSION),
            ("product-name", "netboot"),
        ];
        for (name, value) in builtins {
            let _ = settings.set(&format!("builtin/{name}"), value);
        }
        for (name, value) in platform.system_settings() {
            let _ = settings.set(&name, &value);
        }
        let now = platform.now_ms();
        let clock = platform.unix_time().map(|secs| NtpTime {
            unix_ms: secs.saturating_mul(1000),
            at: now,
            delay_ms: 0,
            stratum: 0,
        });
        let smbios = platform.smbios_table();
        if let Some(table) = &smbios {
            smbios_named_settings(&mut settings, table);
        }
        let mut nets = Vec::new();
        for (i, (mac, nic)) in platform.take_nics().into_iter().enumerate() {
            let name = format!("net{i}");
            let seed =
                u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0]) ^ now;
            let _ = settings.set(&format!("{name}/mac:hex"), &hex(&mac, ":"));
            nets.push(NetDevice::new(&name, nic, mac, seed, now));
        }
        Machine {
            platform,
            settings,
            images: ImageRegistry::new(),
            nets,
            prompt_ms: 0,
            shell_on_failure: false,
            param_lists: Vec::new(),
            clock,
            smbios,
            #[cfg(feature = "https")]
            trust: netboot_core::tls::TrustStore::builtin(),
            #[cfg(feature = "https")]
            tls: None,
        }
    }

    /// The root CAs HTTPS and `imgverify` trust (the build's, see
    /// `netboot_core::tls::TrustStore::builtin`); changes apply to the next connection.
    #[cfg(feature = "https")]
    pub fn trust_mut(&mut self) -> &mut netboot_core::tls::TrustStore {
        self.tls = None;
        &mut self.trust
    }

    /// The trust store, for checks.
    #[cfg(feature = "https")]
    pub fn trust(&self) -> &netboot_core::tls::TrustStore {
        &self.trust
    }

    /// The wall clock now, for certificate validity, naming its source.
    #[cfg(feature = "https")]
    pub fn wall_clock(&mut self) -> Option<netboot_core::tls::WallClock> {
        let clock = self.clock?;
        let source = if clock.stratum == 0 {
            match self.platform.name() {
                "efi" => "EFI real-time clock",
                "pcbios" => "CMOS real-time clock",
                _ => "host clock",
            }
        } else {
            "NTP"
        };
        Some(netboot_core::tls::WallClock {
            unix_secs: clock.unix_ms_at(self.platform.now_ms()) / 1000,
            source,
        })
    }

    /// `imgverify`'s check: a detached CMS signature against the trust store and the
    /// wall clock (see `netboot_core::tls::cms`); the signer's common name.
    #[cfg(feature = "https")]
    fn verify_cms(
        &mut self,
        data: &[u8],
        signature: &[u8],
        signer: Option<&str>,
    ) -> Result<String, Error> {
        use netboot_core::tls::cms::{self, CmsError};
        let clock = self.wall_clock();
        let now = clock
            .map(|c| cms::UnixTime::since_unix_epoch(core::time::Duration::from_secs(c.unix_secs)));
        let anchors = self.trust.anchors();
        match cms::verify_detached_signer(data, signature, anchors, now, signer) {
            Ok(s) => Ok(s.common_name),
            Err(e) => {
                let mut message = e.to_string();
                if let (CmsError::Expired { .. } | CmsError::NotYetValid { .. }, Some(c)) =
                    (&e, clock)
                {
                    message.push_str(&format!(" (clock: {})", c.source));
                }
                Err(Error::platform(Posix::Eacces, 24, message))
            }
        }
    }

    /// The TLS provider and verifier for the current trust store.
    #[cfg(feature = "https")]
    fn tls_setup(&mut self) -> alloc::sync::Arc<netboot_core::tls::TlsSetup> {
        self.tls
            .get_or_insert_with(|| {
                alloc::sync::Arc::new(netboot_core::tls::TlsSetup::new(&self.trust))
            })
            .clone()
    }

    /// The platform.
    pub fn platform(&mut self) -> &mut P {
        &mut self.platform
    }

    /// Before booting, and again after a failed boot, offer `Press Ctrl-B for the
    /// command line...` for `ms` milliseconds (iPXE shows it for 2 s; 0 = no prompt).
    pub fn set_prompt_ms(&mut self, ms: u64) {
        self.prompt_ms = ms;
    }

    /// After a failed boot, open the interactive shell instead of returning.
    pub fn set_shell_on_failure(&mut self, on: bool) {
        self.shell_on_failure = on;
    }

    /// Runs the embedded script, or autoboots. Returns the final status: 0 on success,
    /// else an error code (the failure has been printed).
    pub fn run(&mut self, embedded: Option<&[u8]>) -> u32 {
        let mut interp = Interpreter::new();
        if self.prompt_ms > 0 && self.ctrl_b_pressed() {
            return Self::status(interp.shell(self));
        }
        let result = match embedded {
            Some(script) => {
                let mut image = Image::new("embedded", script.to_vec());
                image.ty = Some(ImageType::SCRIPT);
                // Embedded images are trusted (§6.9).
                image.trusted = true;
                let id = self.images.register(image);
                interp.exec_image(self, id)
            }
            None => self.autoboot(&mut interp),
        };
        match result {
            Ok(()) => 0,
            Err(e) => {
                self.print(&format!("{e}\n"));
                // Like iPXE: after a failure, another chance to reach the command line.
                if self.shell_on_failure {
                    self.print("Dropping to the command line (type help, exit to leave)\n");
                    return Self::status(interp.shell(self));
                }
                if self.prompt_ms > 0 && self.ctrl_b_pressed() {
                    return Self::status(interp.shell(self));
                }
                e.code()
            }
        }
    }

    /// Runs text line by line as the shell does (labels are not labels, `goto` has no
    /// script, `exit` ends only its line): what `netboot-sim run --lines` and the
    /// compatibility suite's `#@top` scripts do. Returns the status of the last line;
    /// a failure there is printed as [`Machine::run`] prints one.
    pub fn run_lines(&mut self, text: &[u8]) -> u32 {
        let mut interp = Interpreter::new();
        let mut rc = Ok(());
        for line in String::from_utf8_lossy(text).lines() {
            rc = interp.run_line(self, line);
        }
        if let Err(e) = &rc {
            self.print(&format!("{e}\n"));
        }
        Self::status(rc)
    }

    fn status(result: Result<(), Error>) -> u32 {
        result.err().map_or(0, |e| e.code())
    }

    /// The Ctrl-B window: true if Ctrl-B came within the prompt time.
    fn ctrl_b_pressed(&mut self) -> bool {
        self.print("Press Ctrl-B for the command line...");
        let deadline = self.platform.now_ms() + self.prompt_ms;
        while self.platform.now_ms() < deadline {
            if self.platform.console().poll_key() == Some(Key::CTRL_B) {
                self.print("\n");
                return true;
            }
            self.platform.idle(10);
        }
        self.print("\n");
        false
    }

    /// iPXE's autoboot: each NIC in turn, DHCP then the boot file; the first that
    /// boots ends it.
    fn autoboot(&mut self, interp: &mut Interpreter) -> Result<(), Error> {
        let names: Vec<String> = self.nets.iter().map(|n| n.name().to_string()).collect();
        self.autoboot_on(interp, names)
    }

    /// [`Machine::autoboot`] on the named devices, in order.
    fn autoboot_on(&mut self, interp: &mut Interpreter, names: Vec<String>) -> Result<(), Error> {
        if names.is_empty() {
            return Err(Error::platform(
                Posix::Enodev,
                1,
                "no network devices found",
            ));
        }
        let mut last = None;
        for name in names {
            let attempt = self
                .ifconf(&name, &IfconfOptions::default())
                .and_then(|()| {
                    let uri = self.boot_uri()?.ok_or_else(|| {
                        Error::platform(
                            Posix::Enoent,
                            2,
                            format!("{name}: DHCP gave no boot filename: nothing to boot"),
                        )
                    })?;
                    let fetched = self.fetch(&FetchRequest {
                        uri: &uri,
                        cwuri: None,
                        timeout_ms: 0,
                        quiet: false,
                    })?;
                    let mut image = Image::new(
                        crate::image::default_name(&fetched.uri).unwrap_or_default(),
                        fetched.data,
                    );
                    image.uri = Some(fetched.uri);
                    image.ty = crate::interp::probe(self, &image.data);
                    if image.ty.is_none() && looks_like_nbp(&image.name) {
                        return Err(pxe_loop_error(&image.name));
                    }
                    let id = self.images.register(image);
                    crate::commands::check_trusted(self, id)?;
                    interp.exec_image(self, id)
                });
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) => {
                    // The last failure is reported by the caller; earlier ones here.
                    if let Some(previous) = last.replace(e) {
                        self.print(&format!("{previous}\n"));
                    }
                }
            }
        }
        Err(last.unwrap_or(Error::platform(
            Posix::Enodev,
            1,
            "no network devices found",
        )))
    }

    /// The DHCP boot file as a URI: relative to next-server from the same block that gave
    /// the filename (so a ProxyDHCP filename goes with the proxy's next-server).
    fn boot_uri(&mut self) -> Result<Option<String>, Error> {
        let Some(found) = self.settings.lookup("filename")? else {
            return Ok(None);
        };
        let filename = found.ty.format(&found.value);
        if filename.is_empty() {
            return Ok(None);
        }
        let filename = self.settings.expand(&filename)?;
        let next = self.settings.get(&format!("{}/next-server", found.block))?;
        let next = next
            .and_then(|n| n.parse().ok())
            .unwrap_or(core::net::Ipv4Addr::UNSPECIFIED);
        let uri = pxe_uri(next, 69, &filename)
            .map_err(|e| Error::platform(Posix::Einval, 3, e.to_string()))?;
        Ok(Some(uri.to_string()))
    }

    fn device_index(&self, iface: &str) -> Result<usize, Error> {
        self.nets
            .iter()
            .position(|n| n.name() == iface)
            .ok_or_else(|| Error::platform(Posix::Enodev, 4, format!("No such interface: {iface}")))
    }

    fn publish_lease(&mut self, dev: &str, lease: &Lease) {
        let mut options: Vec<(u32, Vec<u8>)> = lease
            .options
            .iter()
            .map(|(c, v)| (u32::from(*c), v.clone()))
            .collect();
        options.push((0xaf02, lease.address.octets().to_vec()));
        if let Some(ns) = lease.next_server {
            options.push((0xaf03, ns.octets().to_vec()));
        }
        // Only what this ACK said: `lease.filename` is merged with the ProxyDHCP answer,
        // and a proxy's boot file must stay in the `proxydhcp` block, with the proxy's
        // next-server (see `boot_uri`).
        self.settings.store_dhcp(&format!("{dev}.dhcp"), options);
        self.settings.remove_block("proxydhcp");
        if let Some(proxy) = &lease.proxy {
            let mut options: Vec<(u32, Vec<u8>)> = proxy
                .options
                .iter()
                .map(|(c, v)| (u32::from(*c), v.clone()))
                .collect();
            if let Some(ns) = proxy.next_server {
                options.push((0xaf03, ns.octets().to_vec()));
            }
            self.settings.store_dhcp("proxydhcp", options);
        }
    }

    /// The request-parameter list a `##params[=name]` URI suffix names.
    fn param_list(&self, name: Option<&str>) -> Option<&ParamList> {
        self.param_lists
            .iter()
            .rev()
            .find(|l| l.name.as_deref() == name)
    }

    /// Link state, where the platform can tell. Neither [`Platform`] nor smoltcp's
    /// `Device` reports one, so it is unknown, which counts as up.
    fn link_up(&self, _index: usize) -> Option<bool> {
        None
    }

    /// Keeps `${unixtime}` current once `ntp` has set the clock.
    /// `set unixtime N` sets the clock (§4.7): the value written outside `builtin` is
    /// taken as the new time and removed, so `${unixtime}` keeps following the clock.
    fn refresh_unixtime(&mut self) {
        if let Ok(Some(written)) = self.settings.lookup("unixtime")
            && written.block != "builtin"
        {
            let secs = written.ty.numeric(&written.value) as u64 & 0xffff_ffff;
            let _ = self.settings.clear(&format!("{}/unixtime", written.block));
            self.clock = Some(NtpTime {
                unix_ms: secs * 1000,
                at: self.platform.now_ms(),
                delay_ms: 0,
                stratum: 0,
            });
        }
        let Some(clock) = self.clock else {
            return;
        };
        let secs = clock.unix_ms_at(self.platform.now_ms()) / 1000;
        if let Ok(name) = SettingName::parse("builtin/unixtime") {
            // uint32 like iPXE's (it wraps in 2106, as iPXE's does).
            let raw = (secs as u32).to_be_bytes().to_vec();
            self.settings.store(&name, SettingType::Uint32, raw);
        }
    }

    /// A fetch the platform answers itself ([`Platform::local_file`]), with the same
    /// progress line as a download; `None` if the platform leaves it to the network.
    fn local_file(
        &mut self,
        req: &FetchRequest<'_>,
        uri: Option<&Uri>,
    ) -> Option<Result<Fetched<Vec<u8>>, Error>> {
        let key = uri.map_or_else(|| req.uri.to_string(), ToString::to_string);
        let result = self.platform.local_file(&key)?;
        if !req.quiet {
            let shown = uri.map_or_else(|| req.uri.to_string(), Uri::redacted);
            self.print(&format!("{shown}... "));
        }
        let result = result
            .map(|data| Fetched { data, uri: key })
            .map_err(|e| Error::platform(Posix::Enoent, (e.code & 0x1f) as u8, e.message));
        if !req.quiet {
            match &result {
                Ok(_) => self.print("ok\n"),
                Err(e) => self.print(&format!("{e}\n")),
            }
        }
        Some(result)
    }

    /// The device downloads go through: the first configured one.
    fn routed_device(&mut self) -> Result<usize, Error> {
        self.nets
            .iter()
            .position(|n| n.ip_config().is_some())
            .ok_or_else(|| {
                Error::platform(
                    Posix::Enetunreach,
                    5,
                    "no network interface is configured (hint: run dhcp first)",
                )
            })
    }
}

/// Whether a DHCP boot file name is a PXE boot program (the `.0`, `.pxe`, `.kpxe`
/// convention), which netboot cannot run from the network.
fn looks_like_nbp(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".0", ".pxe", ".kpxe", ".kkpxe", ".kkkpxe"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// The classic PXE loop: the DHCP server answers netboot like the PXE ROM and hands out
/// the boot program again. Say so, and how to break it.
fn pxe_loop_error(name: &str) -> Error {
    Error::platform(
        Posix::Enoexec,
        11,
        format!(
            "DHCP handed netboot the PXE boot program {name:?} again: a PXE loop. Give netboot \
             a script instead; netboot sends user class \"iPXE\" like iPXE, so e.g. with dnsmasq: \
             --dhcp-userclass=set:ipxe,iPXE --dhcp-boot=tag:ipxe,http://SERVER/boot.ipxe"
        ),
    )
}

/// The platform as the poll loops' [`Waiter`]: Ctrl-C on the console cancels.
struct PlatformWaiter<'a, P: Platform> {
    platform: &'a mut P,
    quiet: bool,
    /// The progress text on screen now (four characters), if any.
    shown: Option<String>,
}

impl<'a, P: Platform> PlatformWaiter<'a, P> {
    fn new(platform: &'a mut P, quiet: bool) -> Self {
        PlatformWaiter {
            platform,
            quiet,
            shown: None,
        }
    }
}

impl<P: Platform> Waiter for PlatformWaiter<'_, P> {
    fn now_ms(&mut self) -> u64 {
        self.platform.now_ms()
    }

    fn idle(&mut self, ms: u64) {
        self.platform.idle(ms);
    }

    fn cancelled(&mut self) -> bool {
        matches!(self.platform.console().poll_key(), Some(k) if k == Key::CTRL_C)
    }

    fn progress(&mut self, p: &Progress) {
        if self.quiet || p.done {
            return;
        }
        // A percentage (or size) that rewrites itself, as iPXE's does: always four
        // characters, so four backspaces erase it; unchanged text is not written again
        // (a stalled download does not fill a serial log).
        let text = progress_text(p);
        if self.shown.as_deref() == Some(text.as_str()) {
            return;
        }
        let back = if self.shown.is_some() {
            "\u{8}\u{8}\u{8}\u{8}"
        } else {
            ""
        };
        let _ = write!(self.platform.console(), "{back}{text}");
        self.shown = Some(text);
    }
}

/// Four characters of progress: ` 42%`, or without a known total the size received so
/// far (`  0M`, `999M`, `  2G`).
fn progress_text(p: &Progress) -> String {
    match p.percent() {
        Some(pc) => format!("{pc:3}%"),
        None if p.received < 1000 << 20 => format!("{:>3}M", p.received >> 20),
        None => format!("{:>3}G", (p.received >> 30).min(999)),
    }
}

/// The platform as the settings' [`Hardware`]: SMBIOS from the table read at start-up,
/// PCI through the platform, CPUID from the processor.
struct PlatformHardware<'a, P: Platform> {
    platform: &'a mut P,
    smbios: Option<&'a (Vec<u8>, (u8, u8))>,
}

impl<P: Platform> Hardware for PlatformHardware<'_, P> {
    fn smbios(&mut self) -> Option<(&[u8], (u8, u8))> {
        self.smbios.map(|(t, v)| (t.as_slice(), *v))
    }

    fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
        self.platform.pci_read(busdevfn, offset, buf)
    }
}

/// iPXE's named SMBIOS settings (§4.7), read from the table through the `smbios/` scope
/// so every platform with a table gets them: type 1 manufacturer, product, serial and
/// UUID, type 3 asset tag, type 2 board serial. A setting the platform already provided
/// wins; an unset (all-zero or all-ones) UUID is left out.
fn smbios_named_settings(settings: &mut Settings, table: &(Vec<u8>, (u8, u8))) {
    struct Table<'a>(&'a (Vec<u8>, (u8, u8)));
    impl Hardware for Table<'_> {
        fn smbios(&mut self) -> Option<(&[u8], (u8, u8))> {
            Some((self.0.0.as_slice(), self.0.1))
        }
    }
    const NAMED: [(&str, &str); 6] = [
        ("manufacturer:string", "smbios/0.1.4.0"),
        ("product:string", "smbios/0.1.5.0"),
        ("serial:string", "smbios/0.1.7.0"),
        ("uuid:uuid", "smbios/0.1.8.16:uuid"),
        ("asset:string", "smbios/0.3.8.0"),
        ("board-serial:string", "smbios/0.2.7.0"),
    ];
    for (name, source) in NAMED {
        let plain = name.split(':').next().unwrap_or(name);
        if matches!(settings.get(plain), Ok(Some(_))) {
            continue;
        }
        let Ok(Some(value)) = settings.get_with(source, &mut Table(table)) else {
            continue;
        };
        let value = value.trim();
        let unset_uuid = name.starts_with("uuid")
            && (value.bytes().all(|b| b == b'0' || b == b'-')
                || value.bytes().all(|b| b == b'f' || b == b'-'));
        if !value.is_empty() && !unset_uuid {
            let _ = settings.set(name, value);
        }
    }
}

/// How long `sync` waits without a timeout: the network must be quiet well before this.
const SYNC_CAP_MS: u64 = 10_000;
/// How long without network activity counts as "nothing pending" for `sync`.
const SYNC_QUIET_MS: u64 = 200;

/// The next PCI function at or after `from` (segment 0: 256 buses × 32 devices × 8
/// functions), reading vendor IDs and, on function 0, the multi-function bit of the
/// header type; `Err` if there is no configuration access at all.
fn pci_find_next(
    from: u32,
    mut read: impl FnMut(u32, u16, &mut [u8]) -> bool,
) -> Result<Option<u32>, Error> {
    let mut bdf = from;
    while bdf <= 0xffff {
        let function0 = bdf & !7;
        let mut header = [0u8; 1];
        let mut vendor = [0u8; 2];
        if !read(function0, 0, &mut vendor) {
            return Err(Error::NotSupported("pciscan"));
        }
        if matches!(u16::from_le_bytes(vendor), 0xffff | 0) {
            bdf = function0 + 8; // no function 0: no device
            continue;
        }
        if bdf & 7 != 0 {
            let _ = read(function0, 0x0e, &mut header);
            if header[0] & 0x80 == 0 {
                bdf = function0 + 8; // single-function device
                continue;
            }
            let _ = read(bdf, 0, &mut vendor);
            if matches!(u16::from_le_bytes(vendor), 0xffff | 0) {
                bdf += 1;
                continue;
            }
        }
        return Ok(Some(bdf));
    }
    Ok(None)
}

fn core_error(e: CoreError) -> Error {
    let posix = match &e {
        CoreError::Cancelled => Posix::Ecanceled,
        CoreError::Dhcp { .. } | CoreError::Dns(_) => Posix::Etimedout,
        CoreError::Tftp(_) | CoreError::Http(_) => Posix::Enoent,
        CoreError::Connection { .. } => Posix::Econnrefused,
        CoreError::NotConfigured { .. } | CoreError::NoInterface => Posix::Enetunreach,
        CoreError::TooLarge { .. } => Posix::Efbig,
        CoreError::OutOfMemory { .. } => Posix::Enomem,
        _ => Posix::Einval,
    };
    if matches!(e, CoreError::Cancelled) {
        return Error::Canceled;
    }
    Error::platform(posix, (e.code() & 0x1f) as u8, e.to_string())
}

/// `cpuid`: whether a CPUID feature bit is set (leaf 1 or 0x80000001, EDX or ECX). A
/// leaf the processor does not implement has no bits set.
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn cpu_feature(query: CpuidQuery) -> Result<bool, Error> {
    #[cfg(target_arch = "x86")]
    use core::arch::x86::__cpuid;
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::__cpuid;
    let leaf: u32 = if query.extended { 0x8000_0001 } else { 1 };
    if query.bit > 31 {
        return Ok(false);
    }
    // CPUID exists on every x86-64 processor and every one netboot runs on; the
    // intrinsic is `unsafe` only on older compilers.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID has no side effects; the highest-leaf query is always valid.
    let highest = unsafe { __cpuid(leaf & 0x8000_0000) }.eax;
    if highest < leaf {
        return Ok(false);
    }
    #[allow(unused_unsafe)]
    // SAFETY: as above; the leaf is implemented.
    let regs = unsafe { __cpuid(leaf) };
    let reg = if query.ecx { regs.ecx } else { regs.edx };
    Ok((reg >> query.bit) & 1 == 1)
}

/// `cpuid` off x86: there is no CPUID.
#[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
fn cpu_feature(_query: CpuidQuery) -> Result<bool, Error> {
    Err(Error::NotSupported("cpuid"))
}

/// iPXE's IPv4 `route` line: `net0: 192.0.2.100/255.255.255.0 gw 192.0.2.1`.
fn route_line(name: &str, c: &netboot_core::net::IpConfig) -> String {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(c.prefix_len.min(32)))
        .unwrap_or(0);
    let mut line = format!("{name}: {}/{}", c.address, core::net::Ipv4Addr::from(mask));
    if let Some(gw) = c.gateway {
        let _ = write!(line, " gw {gw}");
    }
    line.push('\n');
    line
}

fn hex(bytes: &[u8], sep: &str) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push_str(sep);
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl<P: Platform> Runtime for Machine<P> {
    type Blob = Vec<u8>;

    fn settings(&mut self) -> &mut Settings {
        self.refresh_unixtime();
        &mut self.settings
    }

    fn images(&mut self) -> &mut ImageRegistry<Vec<u8>> {
        &mut self.images
    }

    fn print(&mut self, text: &str) {
        // Firmware consoles want CRLF.
        let console = self.platform.console();
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                let _ = console.write_str("\r\n");
            }
            let _ = console.write_str(line);
        }
    }

    fn poll_key(&mut self) -> Option<Key> {
        self.platform.console().poll_key()
    }

    fn now_ms(&self) -> u64 {
        self.platform.now_ms()
    }

    fn idle(&mut self) {
        let now = self.platform.now_ms();
        for n in &mut self.nets {
            n.poll(now);
        }
        self.platform.idle(1);
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Result<Fetched<Vec<u8>>, Error> {
        let invalid =
            |e: netboot_core::uri::UriError| Error::platform(Posix::Einval, 6, e.to_string());
        let parsed = match req.cwuri {
            Some(base) => Uri::parse(base).and_then(|b| b.resolve(req.uri)),
            None => Uri::parse(req.uri),
        };
        if let Some(result) = self.local_file(req, parsed.as_ref().ok()) {
            return result;
        }
        let uri = parsed.map_err(invalid)?;
        let index = self.routed_device()?;
        // `##params[=name]`: a list that does not exist is ignored, as in iPXE.
        let options = match uri.params() {
            Some(name) => self
                .param_list((!name.is_empty()).then_some(name))
                .map(ParamList::http_options)
                .unwrap_or_default(),
            None => HttpOptions::default(),
        };
        if !req.quiet {
            self.print(&format!("{}... ", uri.redacted()));
        }
        #[cfg(feature = "https")]
        if uri.scheme_kind() == netboot_core::uri::Scheme::Https {
            let setup = self.tls_setup();
            let clock = self.wall_clock();
            self.nets[index].set_tls(setup, clock);
        }
        let mut sink = VecSink::new(MAX_IMAGE);
        let mut waiter = PlatformWaiter::new(&mut self.platform, req.quiet);
        let result = self.nets[index].fetch_with(&mut waiter, &uri, &options, &mut sink);
        let shown = waiter.shown.is_some();
        if !req.quiet {
            let back = if shown { "\u{8}\u{8}\u{8}\u{8}" } else { "" };
            // Like iPXE, the outcome completes the progress line, even when `||`
            // handles the failure.
            match &result {
                Ok(_) => self.print(&format!("{back}ok\n")),
                Err(e) => self.print(&format!("{back}{e}\n")),
            }
        }
        #[cfg(feature = "https")]
        if let Some(warning) = netboot_core::tls::rng::take_weak_warning() {
            self.print(&format!("{warning}\n"));
        }
        let d = result.map_err(core_error)?;
        let rate = d.size * 1000 / d.elapsed_ms.max(1);
        let line = format!(
            "{}: {} bytes in {} ms, {} kB/s, {}",
            uri.redacted(),
            d.size,
            d.elapsed_ms,
            rate / 1000,
            d.transport
        );
        self.platform.log(&line);
        Ok(Fetched {
            data: sink.data,
            uri: d.uri,
        })
    }

    fn probe(&mut self, data: &Vec<u8>) -> Option<ImageType> {
        image_type(netboot_image::probe(data).format)
    }

    fn probe_named(&mut self, name: &str, data: &Vec<u8>) -> Option<ImageType> {
        // Only a PC BIOS (DHCP client architecture 0) can start a PXE NBP, and only one
        // fetched by name (`chain URL`): a DHCP boot file of that kind is a PXE loop.
        if self.platform.client_arch() != 0 {
            return None;
        }
        let hints = netboot_image::Hints {
            name: Some(name),
            ..Default::default()
        };
        match netboot_image::probe_with(data, &hints).format {
            netboot_image::Format::Nbp => image_type(netboot_image::Format::Nbp),
            _ => None,
        }
    }

    fn extract(&mut self, image: &Image<Vec<u8>>) -> Result<Vec<u8>, Error> {
        use netboot_image::inflate;
        let result = match netboot_image::probe(&image.data).format {
            netboot_image::Format::Gzip => inflate::gunzip(&image.data, MAX_IMAGE as usize),
            netboot_image::Format::Zlib => {
                inflate::zlib_decompress(&image.data, MAX_IMAGE as usize)
            }
            other => {
                let msg = format!("cannot extract {} images", other.name());
                return Err(Error::platform(Posix::Enotsup, 9, msg));
            }
        };
        result.map_err(|e| Error::platform(Posix::Einval, 10, format!("{}: {e}", image.name)))
    }

    #[cfg(feature = "https")]
    fn verify_signature(
        &mut self,
        data: &[u8],
        signature: &[u8],
        signer: Option<&str>,
    ) -> Result<String, Error> {
        self.verify_cms(data, signature, signer)
    }

    fn execute(&mut self, image: &Image<Vec<u8>>) -> Result<(), Error> {
        // Initrds with a CPIO path get their header now; the others are passed as they are.
        let wrapped: Vec<Option<Vec<u8>>> = self
            .images
            .initrds()
            .map(initrd_bytes)
            .collect::<Result<_, _>>()?;
        let initrds: Vec<BootInitrd<'_>> = self
            .images
            .initrds()
            .zip(&wrapped)
            .map(|(i, w)| BootInitrd {
                name: &i.name,
                data: w.as_deref().unwrap_or(&i.data),
            })
            .collect();
        let request = BootRequest {
            name: &image.name,
            uri: image.uri.as_deref(),
            data: &image.data,
            cmdline: image.cmdline.as_deref().unwrap_or(""),
            initrds: &initrds,
        };
        self.platform.boot(&request, &mut self.nets).map_err(|e| {
            let (kind, status) = (e.kind(), e.status());
            Error::platform(Posix::Enoexec, kind, e.message).with_platform_status(status)
        })
    }

    fn interfaces(&mut self) -> Vec<String> {
        self.nets.iter().map(|n| n.name().to_string()).collect()
    }

    fn resolve_interface(&mut self, name: &str) -> Option<String> {
        let name = match name {
            "netX" => self
                .settings
                .get("netX/mac")
                .ok()
                .flatten()
                .and_then(|mac| {
                    self.nets
                        .iter()
                        .find(|n| hex(&n.mac(), ":") == mac)
                        .map(|n| n.name().to_string())
                })?,
            other => other.to_string(),
        };
        self.nets.iter().any(|n| n.name() == name).then_some(name)
    }

    fn ifopen(&mut self, iface: &str) -> Result<(), Error> {
        let i = self.device_index(iface)?;
        // A static configuration set beforehand (`set net0/ip …`) applies on open.
        let ip = self
            .settings
            .get(&format!("{iface}/ip"))?
            .and_then(|s| s.parse().ok());
        if let Some(address) = ip {
            let mask: Option<core::net::Ipv4Addr> = self
                .settings
                .get(&format!("{iface}/netmask"))?
                .and_then(|s| s.parse().ok());
            let gateway = self
                .settings
                .get(&format!("{iface}/gateway"))?
                .and_then(|s| s.parse().ok());
            let dns = self
                .settings
                .get(&format!("{iface}/dns"))?
                .and_then(|s| s.parse().ok());
            self.nets[i].configure(netboot_core::net::IpConfig {
                address,
                prefix_len: mask
                    .map(|m| u32::from(m).leading_ones() as u8)
                    .unwrap_or(24),
                gateway,
                dns: dns.into_iter().collect(),
            });
        }
        self.settings.set_last_opened(iface);
        Ok(())
    }

    fn ifclose(&mut self, iface: &str) -> Result<(), Error> {
        let i = self.device_index(iface)?;
        self.nets[i].deconfigure();
        self.settings.remove_block(&format!("{iface}.dhcp"));
        Ok(())
    }

    fn ifstat(&mut self, iface: &str) -> Result<(), Error> {
        let i = self.device_index(iface)?;
        let n = &self.nets[i];
        let ip = n
            .ip_config()
            .map(|c| format!("{}/{}", c.address, c.prefix_len));
        let text = format!(
            "{}: {} using {} [open]\n  [IPv4 {}]\n",
            n.name(),
            hex(&n.mac(), ":"),
            self.platform.name(),
            ip.as_deref().unwrap_or("unconfigured")
        );
        self.print(&text);
        Ok(())
    }

    fn ifconf(&mut self, iface: &str, opts: &IfconfOptions) -> Result<(), Error> {
        if let Some(c) = &opts.configurator
            && c != "dhcp"
        {
            return Err(Error::NotSupported("ifconf --configurator other than dhcp"));
        }
        let i = self.device_index(iface)?;
        self.settings.set_last_opened(iface);
        self.print(&format!(
            "Configuring ({iface} {})...",
            hex(&self.nets[i].mac(), ":")
        ));
        let mut config =
            DhcpConfig::new(self.nets[i].mac(), ClientArch(self.platform.client_arch()));
        config.xid ^= self.platform.now_ms() as u32;
        if let Some(uc) = self.settings.get("user-class")? {
            config.user_class = Some(uc.into_bytes());
        }
        let mut waiter = PlatformWaiter::new(&mut self.platform, true);
        let result = self.nets[i].dhcp(&mut waiter, config);
        match result {
            Ok(lease) => {
                self.print(" ok\n");
                self.publish_lease(iface, &lease);
                Ok(())
            }
            Err(e) => {
                self.print(" failed\n");
                Err(core_error(e))
            }
        }
    }

    fn nslookup(&mut self, name: &str) -> Result<String, Error> {
        let i = self.routed_device()?;
        let mut waiter = PlatformWaiter::new(&mut self.platform, true);
        let ip = self.nets[i]
            .resolve(&mut waiter, name)
            .map_err(core_error)?;
        Ok(ip.to_string())
    }

    fn iflinkwait(&mut self, iface: &str, timeout_ms: u64) -> Result<(), Error> {
        let i = self.device_index(iface)?;
        let start = self.platform.now_ms();
        let mut announced = false;
        loop {
            if self.link_up(i) != Some(false) {
                if announced {
                    self.print(" ok\n");
                }
                return Ok(());
            }
            if !announced {
                announced = true;
                self.print(&format!("Waiting for link-up on {iface}..."));
            }
            if timeout_ms > 0 && self.platform.now_ms().saturating_sub(start) >= timeout_ms {
                self.print(" Down\n");
                return Err(Error::platform(
                    Posix::Etimedout,
                    12,
                    format!("{iface}: link is down (check the cable and the switch port)"),
                ));
            }
            if self.poll_key() == Some(Key::CTRL_C) {
                self.print("\n");
                return Err(Error::Canceled);
            }
            Runtime::idle(self);
        }
    }

    fn route(&mut self) -> Result<(), Error> {
        let text: String = self
            .nets
            .iter()
            .filter_map(|n| n.ip_config().map(|c| route_line(n.name(), c)))
            .collect();
        self.print(&text);
        Ok(())
    }

    fn cpuid(&mut self, query: CpuidQuery) -> Result<bool, Error> {
        cpu_feature(query)
    }

    fn ping(&mut self, opts: &PingOptions) -> Result<(), Error> {
        let size = usize::try_from(opts.size).unwrap_or(usize::MAX);
        if size > MAX_PAYLOAD {
            return Err(Error::platform(
                Posix::Einval,
                13,
                format!("ping: size {size} exceeds the {MAX_PAYLOAD} bytes one frame holds"),
            ));
        }
        let i = self.routed_device()?;
        let mut waiter = PlatformWaiter::new(&mut self.platform, true);
        let target = match self.nets[i].resolve(&mut waiter, &opts.host) {
            Ok(ip) => ip,
            Err(e) => {
                let e = core_error(e);
                self.print(&format!("Could not start ping: {e}\n"));
                return Err(e);
            }
        };
        let request = PingRequest {
            target,
            size,
            timeout: opts.timeout_ms,
            count: opts.count,
        };
        let quiet = opts.quiet;
        let summary = self.nets[i]
            .ping(&mut waiter, &request, |w, event| {
                if quiet {
                    return;
                }
                // iPXE's lines: `64 bytes from 192.0.2.1: seq=1`, with an error text
                // when the request failed.
                let line = match event {
                    PingEvent::Reply { from, seq, len, .. } => {
                        format!("{len} bytes from {from}: seq={seq}\r\n")
                    }
                    PingEvent::Corrupt { from, seq, len } => {
                        format!(
                            "{len} bytes from {from}: seq={seq}: {}\r\n",
                            Posix::Eproto.text()
                        )
                    }
                    PingEvent::Timeout { seq } => {
                        format!(
                            "0 bytes from <none>: seq={seq}: {}\r\n",
                            Posix::Etimedout.text()
                        )
                    }
                };
                let _ = w.platform.console().write_str(&line);
            })
            .map_err(core_error)?;
        if summary.cancelled {
            self.print("\n");
        }
        if !quiet {
            let lost = summary.sent - summary.received;
            self.print(&format!(
                "--- {target}: {} sent, {} received, {}% loss\n",
                summary.sent,
                summary.received,
                (lost * 100).checked_div(summary.sent).unwrap_or(0)
            ));
        }
        if summary.cancelled {
            return Err(Error::Canceled);
        }
        if summary.received == 0 {
            let e = Error::platform(Posix::Etimedout, 14, format!("no reply from {target}"));
            self.print(&format!("Finished: {e}\n"));
            return Err(e);
        }
        Ok(())
    }

    fn ntp(&mut self, server: &str) -> Result<(), Error> {
        let i = self.routed_device()?;
        let mut waiter = PlatformWaiter::new(&mut self.platform, true);
        // Like iPXE, a failure is reported as `Could not set time: …`.
        let outcome = self.nets[i].ntp(&mut waiter, server).map_err(|e| match e {
            CoreError::Ntp { .. } => Error::platform(Posix::Etimedout, 15, e.to_string()),
            other => core_error(other),
        });
        match outcome {
            Ok(time) => {
                self.clock = Some(time);
                self.refresh_unixtime();
                let line = format!(
                    "ntp {server}: unix time {} (stratum {}, delay {} ms)",
                    time.unix_ms / 1000,
                    time.stratum,
                    time.delay_ms
                );
                self.platform.log(&line);
                Ok(())
            }
            Err(e) => {
                if !matches!(e, Error::Canceled) {
                    self.print(&format!("Could not set time: {e}\n"));
                }
                Err(e)
            }
        }
    }

    fn params(&mut self, opts: &ParamsOptions) -> Result<(), Error> {
        let method = match opts.method.as_deref() {
            None => None,
            Some(m) => Some(Method::from_name(m).ok_or_else(|| {
                Error::platform(
                    Posix::Enotsup,
                    16,
                    format!("unsupported method {m:?} (GET, HEAD, POST or PUT)"),
                )
            })?),
        };
        // A new list replaces any list of the same name; `--delete` just removes it.
        self.param_lists.retain(|l| l.name != opts.name);
        if !opts.delete {
            self.param_lists.push(ParamList {
                name: opts.name.clone(),
                method,
                params: Vec::new(),
            });
        }
        Ok(())
    }

    fn param(&mut self, opts: &ParamOptions) -> Result<(), Error> {
        let name = opts.params.as_deref();
        let Some(list) = self
            .param_lists
            .iter_mut()
            .rev()
            .find(|l| l.name.as_deref() == name)
        else {
            return Err(Error::platform(
                Posix::Enoent,
                17,
                match name {
                    Some(n) => {
                        format!("no parameter list {n:?} (create it with `params --name {n}`)")
                    }
                    None => "no parameter list (create it with `params`)".to_string(),
                },
            ));
        };
        list.params.push((
            opts.key.clone(),
            opts.value.clone().unwrap_or_default(),
            opts.header,
        ));
        Ok(())
    }

    fn power(&mut self, request: PowerRequest) -> Error {
        let action = match request {
            PowerRequest::PowerOff => PowerAction::PowerOff,
            PowerRequest::Reboot { .. } => PowerAction::Reboot,
        };
        let e = self.platform.power(action);
        Error::platform(Posix::Enotsup, 7, e.message)
    }

    fn expand(&mut self, text: &str) -> Result<String, SettingsError> {
        self.refresh_unixtime();
        let mut hw = PlatformHardware {
            platform: &mut self.platform,
            smbios: self.smbios.as_ref(),
        };
        self.settings.expand_with(text, &mut hw)
    }

    fn lookup_setting(&mut self, name: &str) -> Result<Option<FoundSetting>, SettingsError> {
        self.refresh_unixtime();
        let mut hw = PlatformHardware {
            platform: &mut self.platform,
            smbios: self.smbios.as_ref(),
        };
        self.settings.lookup_with(name, &mut hw)
    }

    fn autoboot(&mut self, interp: &mut Interpreter, ifaces: &[String]) -> Result<(), Error> {
        let names = if ifaces.is_empty() {
            self.interfaces()
        } else {
            let mut names = Vec::new();
            for name in ifaces {
                match self.resolve_interface(name) {
                    Some(dev) => names.push(dev),
                    None => {
                        self.print(&format!("No such interface: {name}\n"));
                        return Err(Error::NoSuchInterface(name.clone()));
                    }
                }
            }
            names
        };
        self.autoboot_on(interp, names)
    }

    fn sync(&mut self, timeout_ms: u64) -> Result<(), Error> {
        // Pending operations are frames smoltcp still has to exchange (a TCP close's
        // FIN/ACK, retransmissions): done when the interfaces have been quiet a while.
        let start = self.platform.now_ms();
        let limit = if timeout_ms == 0 {
            SYNC_CAP_MS
        } else {
            timeout_ms
        };
        if self.nets.is_empty() {
            return Ok(());
        }
        // A short timeout shortens the quiet period it takes to count as done.
        let quiet = SYNC_QUIET_MS.min(limit);
        let mut last_activity = start;
        loop {
            let now = self.platform.now_ms();
            let mut busy = false;
            for n in &mut self.nets {
                busy |= n.poll(now);
            }
            if busy {
                last_activity = now;
            }
            if now.saturating_sub(last_activity) >= quiet {
                return Ok(());
            }
            if now.saturating_sub(start) >= limit {
                return Err(Error::platform(
                    Posix::Etimedout,
                    18,
                    format!(
                        "the network was still busy after {limit} ms (a peer keeps sending; \
                         try a longer --timeout)"
                    ),
                ));
            }
            if self.platform.console().poll_key() == Some(Key::CTRL_C) {
                return Err(Error::Canceled);
            }
            self.platform.idle(1);
        }
    }

    fn pxebs(&mut self, iface: &str, server_type: u16) -> Result<(), Error> {
        let e = Error::platform(
            Posix::Enotsup,
            19,
            format!(
                "pxebs {iface} {server_type}: PXE boot-server discovery is not supported yet \
                 (hint: a ProxyDHCP server's boot file is used by dhcp/autoboot; or chain the \
                 boot server's file directly)"
            ),
        );
        self.print(&format!("{e}\n"));
        Err(e)
    }

    fn pci_next(&mut self, from: u32) -> Result<Option<u32>, Error> {
        let platform = &mut self.platform;
        pci_find_next(from, |bdf, offset, buf| platform.pci_read(bdf, offset, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine without NICs: a clock that idling advances, a console that records,
    /// an RTC, an SMBIOS table, two PCI functions and served files (by last path
    /// segment, and `http://192.0.2.1/abc`).
    pub(super) struct FakePlatform {
        now: u64,
        pub(super) out: String,
        arch: u16,
        /// What the real-time clock says (Unix seconds).
        pub(super) unix: u64,
        /// Files served by name.
        pub(super) files: Vec<(&'static str, Vec<u8>)>,
    }

    impl FakePlatform {
        /// A platform of client architecture `arch` at Unix time 1,000,000, no files.
        pub(super) fn new(arch: u16) -> Self {
            FakePlatform {
                now: 0,
                out: String::new(),
                arch,
                unix: 1_000_000,
                files: Vec::new(),
            }
        }
    }

    impl core::fmt::Write for FakePlatform {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.out.push_str(s);
            Ok(())
        }
    }

    impl netboot_core::platform::Console for FakePlatform {
        fn poll_key(&mut self) -> Option<Key> {
            None
        }
    }

    impl Platform for FakePlatform {
        type Nic = smoltcp::phy::Loopback;
        fn name(&self) -> &'static str {
            "fake"
        }
        fn client_arch(&self) -> u16 {
            self.arch
        }
        fn console(&mut self) -> &mut dyn netboot_core::platform::Console {
            self
        }
        fn now_ms(&self) -> u64 {
            self.now
        }
        fn idle(&mut self, ms: u64) {
            self.now += ms.max(1);
        }
        fn take_nics(&mut self) -> Vec<([u8; 6], smoltcp::phy::Loopback)> {
            Vec::new()
        }
        fn boot(
            &mut self,
            _: &BootRequest<'_>,
            _: &mut [NetDevice<smoltcp::phy::Loopback>],
        ) -> Result<(), netboot_core::platform::PlatformError> {
            unreachable!("the tests boot nothing")
        }
        fn power(&mut self, _: PowerAction) -> netboot_core::platform::PlatformError {
            netboot_core::platform::PlatformError {
                code: 1,
                message: "no power control".into(),
            }
        }
        fn unix_time(&mut self) -> Option<u64> {
            Some(self.unix)
        }
        fn smbios_table(&mut self) -> Option<(Vec<u8>, (u8, u8))> {
            // Type 1 with manufacturer string 1, then end-of-table.
            let mut t = alloc::vec![1u8, 5, 0, 0, 1];
            t.extend_from_slice(b"Fake Inc\0\0");
            t.extend_from_slice(&[127, 4, 0, 0, 0, 0]);
            Some((t, (3, 0)))
        }
        fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
            buf.fill(0xff);
            if matches!(busdevfn, 0x0000 | 0x0018) && offset == 0 {
                let id = [0x86, 0x80, 0x0e, 0x10];
                let n = buf.len().min(4);
                buf[..n].copy_from_slice(&id[..n]);
            }
            if offset == 0x0e {
                buf.fill(0); // single-function
            }
            true
        }
        fn local_file(
            &mut self,
            uri: &str,
        ) -> Option<Result<Vec<u8>, netboot_core::platform::PlatformError>> {
            let name = uri.rsplit('/').next().unwrap_or("");
            if let Some((_, data)) = self.files.iter().find(|(n, _)| *n == name) {
                return Some(Ok(data.clone()));
            }
            Some(match uri {
                "http://192.0.2.1/abc" => Ok(b"abc".to_vec()),
                _ => Err(netboot_core::platform::PlatformError {
                    code: 1,
                    message: "No such file or directory".into(),
                }),
            })
        }
    }

    #[test]
    fn progress_text_is_always_four_characters() {
        let at = |received: u64, total: Option<u64>| {
            progress_text(&Progress {
                uri: String::new(),
                received,
                total,
                elapsed_ms: 1,
                done: false,
            })
        };
        assert_eq!(at(50, Some(100)), " 50%");
        assert_eq!(at(100, Some(100)), "100%");
        assert_eq!(at(0, None), "  0M");
        assert_eq!(at(5 << 20, None), "  5M");
        assert_eq!(at(999 << 20, None), "999M");
        assert_eq!(at(3 << 30, None), "  3G");
        assert_eq!(at(u64::MAX, None), "999G");
        for text in [at(7, Some(9)), at(1 << 40, None)] {
            assert_eq!(text.chars().count(), 4, "{text:?}");
        }
    }

    /// One SMBIOS structure: formatted area (after the 4-byte header) and strings.
    fn structure(kind: u8, formatted: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut s = alloc::vec![kind, 4 + formatted.len() as u8, 0, 1];
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

    #[test]
    fn smbios_named_settings_follow_ipxe() {
        let mut table = structure(0, &[1, 2, 0, 0], &["OVMF", "0.0.0"]);
        let mut t1 = alloc::vec![1u8, 2, 0, 3];
        t1.extend_from_slice(&[
            0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde, 1, 2, 3, 4, 5, 6, 7, 8,
        ]);
        t1.extend_from_slice(&[6, 0, 0]);
        table.extend(structure(1, &t1, &["QEMU", "Standard PC", "SN-42"]));
        table.extend(structure(2, &[1, 2, 0, 3], &["Board Inc", "B1", "BSN-7"]));
        table.extend(structure(3, &[1, 1, 0, 0, 2], &["Chassis Inc", "ASSET-9"]));
        table.extend(structure(127, &[], &[]));
        let get = |version: (u8, u8), preset: Option<(&str, &str)>| {
            let mut s = Settings::new();
            if let Some((n, v)) = preset {
                s.set(n, v).expect("preset");
            }
            smbios_named_settings(&mut s, &(table.clone(), version));
            let names = [
                "manufacturer",
                "product",
                "serial",
                "uuid",
                "asset",
                "board-serial",
            ];
            names.map(|n| s.get(n).expect("valid name").unwrap_or_default())
        };
        assert_eq!(
            get((2, 8), None),
            [
                "QEMU",
                "Standard PC",
                "SN-42",
                "12345678-9abc-def0-0102-030405060708",
                "ASSET-9",
                "BSN-7"
            ]
        );
        // Before SMBIOS 2.6 the UUID is in network byte order throughout.
        assert_eq!(get((2, 4), None)[3], "78563412-bc9a-f0de-0102-030405060708");
        // What the platform set already wins.
        assert_eq!(get((3, 0), Some(("serial", "mine")))[2], "mine");
        // Unset UUIDs and absent strings are left out; a malformed table gives nothing.
        let mut t1 = alloc::vec![0u8, 0, 0, 0];
        t1.extend_from_slice(&[0xff; 16]);
        let mut s = Settings::new();
        smbios_named_settings(&mut s, &(structure(1, &t1, &[]), (3, 0)));
        assert_eq!(s.get("uuid"), Ok(None));
        assert_eq!(s.get("manufacturer"), Ok(None));
        smbios_named_settings(&mut s, &(alloc::vec![1, 40, 0, 0, 0], (3, 0)));
        assert_eq!(s.get("product"), Ok(None));
    }

    fn run(script: &str) -> (u32, String) {
        let mut m = Machine::new(FakePlatform::new(7));
        let status = m.run(Some(script.as_bytes()));
        let out = core::mem::take(&mut m.platform().out).replace("\r\n", "\n");
        (status, out)
    }

    #[test]
    fn only_a_pc_bios_takes_named_nbps_for_executables() {
        let nbp = alloc::vec![0xEAu8, 0x05, 0x7C, 0x00, 0x00, 0x90];
        let mut m = Machine::new(FakePlatform::new(0));
        let ty = m
            .probe_named("undionly.kpxe", &nbp)
            .expect("an NBP on BIOS");
        assert_eq!(ty.name, "PXE");
        assert_eq!(ty.kind, ImageKind::Executable);
        assert_eq!(m.probe_named("boot.bin", &nbp), None);
        m.platform().arch = 7;
        assert_eq!(m.probe_named("undionly.kpxe", &nbp), None);
    }

    #[test]
    fn machine_runs_the_platform_dependent_commands() {
        let (status, out) = run("#!ipxe\n\
             echo t=${unixtime}\n\
             time sleep 5\n\
             echo t=${unixtime}\n\
             set unixtime 0x10\n\
             echo t=${unixtime}\n\
             show unixtime\n\
             echo m=${smbios/0.1.4.0}\n\
             pciscan loc\n\
             echo a=${loc} ${pci/${loc}.0.4}\n\
             pciscan loc\n\
             echo b=${loc}\n\
             pciscan loc || echo end errno=${errno}\n\
             md5sum http://192.0.2.1/abc\n\
             sha1sum --set s http://192.0.2.1/abc\n\
             echo s=${s}\n\
             md4sum http://192.0.2.1/nosuch || echo errno=${errno}\n\
             imgset --keep blob http://192.0.2.1/abc\n\
             echo blob=${blob} ${blob:hex}\n\
             sync --timeout 10 && echo synced\n\
             autoboot nosuch || echo errno=${errno}\n\
             autoboot\n");
        let want = "t=0xf4240\n\
             time: 5.0s\n\
             t=0xf4245\n\
             t=0x10\n\
             builtin/unixtime:uint32 = 0x10\n\
             m=Fake Inc\n\
             a=0x0 100e8086\n\
             b=0x18\n\
             end errno=0x2d40ff00\n\
             http://192.0.2.1/abc... ok\n\
             900150983cd24fb0d6963f7d28e17f72  abc\n\
             http://192.0.2.1/abc... ok\n\
             s=a9993e364706816aba3e25717850c26c9cd0d89d\n\
             http://192.0.2.1/nosuch... No such file or directory [0x2d40e100]\n\
             errno=0x2d40e100\n\
             http://192.0.2.1/abc... ok\n\
             blob=abc 61:62:63\n\
             synced\n\
             No such interface: nosuch\n\
             errno=0x2c402100\n\
             no network devices found [0x2c40e100]\n";
        assert_eq!(out, want);
        assert_eq!(status, 0x2c40_e100);
    }

    #[test]
    fn pci_scan_finds_functions_in_order() {
        // 00:00.0 single-function host bridge; 00:1f.0-3 multi-function; 01:00.0.
        let present = |bdf: u32| matches!(bdf, 0x0000 | 0x00f8..=0x00fb | 0x0100);
        let read = |bdf: u32, offset: u16, buf: &mut [u8]| {
            let (vendor, header) = if present(bdf) {
                (0x8086u16, if bdf & !7 == 0x00f8 { 0x80 } else { 0 })
            } else {
                (0xffff, 0xff)
            };
            match offset {
                0 => buf.copy_from_slice(&vendor.to_le_bytes()[..buf.len()]),
                _ => buf.fill(header),
            }
            true
        };
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(bdf) = pci_find_next(from, read).expect("access") {
            found.push(bdf);
            from = bdf + 1;
        }
        assert_eq!(found, [0x0000, 0x00f8, 0x00f9, 0x00fa, 0x00fb, 0x0100]);
        assert!(pci_find_next(0, |_, _, _| false).is_err());
        assert_eq!(pci_find_next(0x1_0000, read).expect("access"), None);
    }

    #[test]
    fn pxe_boot_programs_are_recognised_by_name() {
        assert!(looks_like_nbp("netboot.kpxe"));
        assert!(looks_like_nbp("pxelinux.0"));
        assert!(looks_like_nbp("UNDIONLY.KPXE"));
        assert!(!looks_like_nbp("boot.ipxe"));
        assert!(!looks_like_nbp("vmlinuz"));
        assert!(
            pxe_loop_error("netboot.kpxe")
                .to_string()
                .contains("PXE loop")
        );
    }

    #[test]
    fn route_lines_look_like_ipxe() {
        use netboot_core::net::IpConfig;
        let mut c = IpConfig {
            address: [192, 0, 2, 100].into(),
            prefix_len: 24,
            gateway: Some([192, 0, 2, 1].into()),
            dns: Vec::new(),
        };
        assert_eq!(
            route_line("net0", &c),
            "net0: 192.0.2.100/255.255.255.0 gw 192.0.2.1\n"
        );
        c.gateway = None;
        c.prefix_len = 0;
        assert_eq!(route_line("net1", &c), "net1: 192.0.2.100/0.0.0.0\n");
        c.prefix_len = 32;
        assert_eq!(
            route_line("net1", &c),
            "net1: 192.0.2.100/255.255.255.255\n"
        );
        c.prefix_len = 200;
        assert_eq!(
            route_line("net1", &c),
            "net1: 192.0.2.100/255.255.255.255\n"
        );
    }

    #[test]
    fn parameter_lists_become_http_request_parts() {
        let mut list = ParamList::default();
        assert_eq!(
            list.http_options(),
            HttpOptions::default(),
            "empty: a plain GET"
        );
        list.params.push(("X-Rack".into(), "4".into(), true));
        let o = list.http_options();
        assert_eq!(o.effective_method(), Method::Get, "headers alone keep GET");
        assert_eq!(o.headers, [("X-Rack".to_string(), "4".to_string())]);
        list.params
            .push(("mac".into(), "52:54:00:12:34:56".into(), false));
        list.params.push(("name".into(), "a b".into(), false));
        let o = list.http_options();
        assert_eq!(o.effective_method(), Method::Post);
        let (ty, body) = o.body.expect("a form body");
        assert_eq!(ty, "application/x-www-form-urlencoded");
        assert_eq!(body, b"mac=52%3A54%3A00%3A12%3A34%3A56&name=a%20b");
        list.method = Some(Method::Put);
        assert_eq!(list.http_options().effective_method(), Method::Put);
        list.method = Some(Method::Get);
        let o = list.http_options();
        assert_eq!((o.effective_method(), o.body), (Method::Get, None));
        let empty_post = ParamList {
            method: Some(Method::Post),
            ..ParamList::default()
        };
        let (_, body) = empty_post.http_options().body.expect("POST has a body");
        assert!(body.is_empty(), "an empty form, with Content-Length: 0");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn cpuid_reads_feature_bits() {
        let q = |extended, ecx, bit| cpu_feature(CpuidQuery { extended, ecx, bit });
        // Every x86-64 processor has an FPU (leaf 1 EDX bit 0), SSE2 (bit 26) and long
        // mode (leaf 0x80000001 EDX bit 29).
        assert_eq!(q(false, false, 0).ok(), Some(true));
        assert_eq!(q(false, false, 26).ok(), Some(true));
        assert_eq!(q(true, false, 29).ok(), Some(true));
        // ECX bit 31 of leaf 1 is "running under a hypervisor": either is fine.
        assert!(q(false, true, 31).is_ok());
        assert_eq!(q(false, false, 32).ok(), Some(false));
        assert_eq!(q(true, true, u32::MAX).ok(), Some(false));
    }

    #[test]
    fn initrds_with_a_path_get_a_cpio_header() {
        let mut image = Image::new("extra", b"payload".to_vec());
        assert_eq!(
            initrd_bytes(&image).expect("raw"),
            None,
            "no command line: passed as it is"
        );
        image.cmdline = Some("/etc/extra.conf mode=600".into());
        let wrapped = initrd_bytes(&image).expect("valid").expect("wrapped");
        assert!(wrapped.starts_with(b"070701"));
        assert_eq!(wrapped.len() % 4, 0);
        let names: Vec<Vec<u8>> = netboot_image::cpio::CpioReader::new(&wrapped)
            .map(|e| e.expect("valid entry").name.to_vec())
            .collect();
        assert_eq!(
            names.last().map(Vec::as_slice),
            Some(&b"/etc/extra.conf"[..])
        );
        let at = wrapped
            .windows(7)
            .position(|w| w == b"payload")
            .expect("data follows the header");
        assert_eq!(&wrapped[at..at + 7], b"payload");
    }
}

/// `imgverify`, `imgtrust` and `--sha256` on the standard runtime, over the CMS fixtures
/// of netboot-core (`tests/fixtures/cms/`, made by its `make.sh`).
#[cfg(all(test, feature = "https"))]
mod trust_tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../netboot-core/tests/fixtures/cms/",
                $name
            ))
        };
    }

    /// Runs `script` as the embedded script, trusting the RSA test root only.
    fn run(script: &str) -> (u32, String) {
        // The fixtures as `http://files/NAME`, with a real-time clock at 2030-01-01.
        let mut platform = super::tests::FakePlatform::new(7);
        platform.unix = 1_893_456_000;
        platform.files = alloc::vec![
            ("payload.ipxe", fixture!("payload.ipxe").to_vec()),
            (
                "tampered.ipxe",
                b"#!ipxe\necho signed payload NOT ok\n".to_vec(),
            ),
            ("rsa-noattr.sig", fixture!("rsa-noattr.sig").to_vec()),
            ("rsa-attr.sig", fixture!("rsa-attr.sig").to_vec()),
            ("ec-attr.sig", fixture!("ec-attr.sig").to_vec()),
            ("server.sig", fixture!("server.sig").to_vec()),
        ];
        let mut m = Machine::new(platform);
        let trust = m.trust_mut();
        *trust = netboot_core::tls::TrustStore::empty();
        trust
            .add_pem(fixture!("root-rsa.pem"))
            .expect("the test root");
        let status = m.run(Some(script.as_bytes()));
        let out = core::mem::take(&mut m.platform().out).replace("\r\n", "\n");
        (status, out)
    }

    #[test]
    fn imgverify_marks_trusted_and_imgtrust_blocks_the_rest() {
        let (status, out) = run("#!ipxe\n\
             imgfetch --quiet http://files/payload.ipxe\n\
             imgtrust\n\
             chain payload.ipxe || echo blocked errno=${errno}\n\
             imgverify payload.ipxe http://files/rsa-noattr.sig && echo verified\n\
             imgstat\n\
             chain payload.ipxe\n\
             set signer netboot test signer\n\
             imgverify --keep --signer ${signer} payload.ipxe http://files/rsa-attr.sig\n\
             imgstat rsa-attr.sig\n\
             imgverify --signer someone payload.ipxe rsa-attr.sig || echo wrong signer\n\
             imgstat\n\
             chain payload.ipxe || echo untrusted again\n");
        assert_eq!(status, 0, "{out}");
        assert!(
            out.contains(
                "Could not boot: image payload.ipxe is not trusted: verify it with imgverify, \
                 or pin it with --sha256"
            ),
            "{out}"
        );
        assert!(out.contains("blocked errno=0x240f600"), "{out}");
        assert!(
            out.contains("verified\npayload.ipxe : 30 bytes [script] [TRUSTED]\n"),
            "{out}"
        );
        // The signature image went away (no --keep), the payload ran once trusted.
        assert!(!out.contains("rsa-noattr.sig :"), "{out}");
        assert!(out.contains("signed payload ok\n"), "{out}");
        // --keep keeps it; a wrong --signer fails, leaves the image untrusted and the
        // signature unregistered.
        assert!(out.contains("rsa-attr.sig : "), "{out}");
        assert!(out.contains("Could not verify: incorrect signer"), "{out}");
        assert!(
            out.contains("wrong signer\npayload.ipxe : 30 bytes [script]\n"),
            "{out}"
        );
        assert!(out.contains("untrusted again"), "{out}");
        assert_eq!(out.matches("signed payload ok").count(), 1, "{out}");
    }

    #[test]
    fn imgverify_failures_are_explained() {
        let (status, out) = run("#!ipxe\n\
             imgverify http://files/tampered.ipxe http://files/rsa-noattr.sig || echo e1\n\
             imgverify http://files/payload.ipxe http://files/ec-attr.sig || echo e2\n\
             imgverify http://files/payload.ipxe http://files/server.sig || echo e3\n\
             imgverify http://files/payload.ipxe http://files/payload.ipxe || echo e4\n\
             imgverify http://files/payload.ipxe http://files/nosuch.sig || echo e5\n");
        assert_eq!(status, 0, "{out}");
        assert!(
            out.contains(
                "Could not verify: image does not match its signature (tampered or wrong \
                 signature file)"
            ),
            "{out}"
        );
        assert!(out.contains("e1\n"), "{out}");
        assert!(out.contains("unknown certificate authority"), "{out}");
        assert!(out.contains("trusted roots: 1)"), "{out}");
        assert!(out.contains("not for code signing"), "{out}");
        assert!(out.contains("malformed signature"), "{out}");
        for e in ["e2", "e3", "e4", "e5"] {
            assert!(out.contains(e), "{e}: {out}");
        }
    }

    #[test]
    fn sha256_pins_images() {
        let good = "2bfd3eb9637cfa56e4727b7883ed3e50c06967745b0b35bc90393bbf9226f828";
        let bad = "2bfd3eb9637cfa56e4727b7883ed3e50c06967745b0b35bc90393bbf9226f829";
        let (status, out) = run(&format!(
            "#!ipxe\n\
             imgtrust --permanent\n\
             imgfetch --sha256 {bad} http://files/payload.ipxe || echo mismatch errno=${{errno}}\n\
             imgstat\n\
             chain --sha256 {good} http://files/payload.ipxe\n\
             imgfetch --sha256 xyz http://files/payload.ipxe || echo bad hex\n\
             imgtrust --allow || echo still required\n\
             chain http://files/tampered.ipxe || echo refused\n"
        ));
        assert_eq!(status, 0, "{out}");
        assert!(
            out.contains(&format!(
                "payload.ipxe does not match --sha256: its SHA-256 is {good}, the pinned one \
                 is {bad}"
            )),
            "{out}"
        );
        // Not kept: imgstat printed nothing between the mismatch and the chain.
        assert!(
            out.contains(
                "mismatch errno=0x240f500\nhttp://files/payload.ipxe... ok\nsigned payload ok\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("expected a SHA-256 digest as 64 hex digits"),
            "{out}"
        );
        assert!(out.contains("bad hex"), "{out}");
        assert!(out.contains("Trust requirement is permanent"), "{out}");
        assert!(out.contains("still required"), "{out}");
        assert!(out.contains("image tampered.ipxe is not trusted"), "{out}");
        assert!(out.contains("refused"), "{out}");
    }
}
