//! The host platform: a TAP device through smoltcp (no kernel IP stack involved), the
//! terminal as console, the system clock, and `boot` reported as a `BOOT {json}` line.

use netboot_core::net::NetDevice;
use netboot_core::platform::{BootRequest, Console, Key, Platform, PlatformError, PowerAction};
use sha2::{Digest, Sha256};
use smoltcp::phy::{Medium, TunTapInterface};
use std::fmt::{self, Write as _};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Opens the TAP interface `name` (it must exist, e.g. `ip tuntap add dev NAME mode tap`).
pub fn open(name: &str) -> Result<TunTapInterface, String> {
    TunTapInterface::new(name, Medium::Ethernet).map_err(|e| {
        format!("cannot open TAP device {name:?}: {e} (create it with `ip tuntap add dev {name} mode tap` and run as root)")
    })
}

/// The terminal as a netboot console. Keys come from standard input without blocking:
/// on a terminal in raw mode (so Ctrl-C reaches the runtime as a key and cancels the
/// current download instead of killing the process), from a pipe as they arrive.
pub struct HostConsole {
    pending: std::collections::VecDeque<u8>,
    saved: Option<libc::termios>,
    saved_flags: Option<libc::c_int>,
    eof: bool,
    /// Scripted key presses (`--keys`), at milliseconds after `start`; when set,
    /// standard input is not read.
    scripted: Option<std::collections::VecDeque<(u64, Key)>>,
    start: Instant,
}

impl HostConsole {
    /// Sets standard input non-blocking (and raw, on a terminal).
    pub fn new() -> Self {
        let mut saved = None;
        // SAFETY: plain libc calls on descriptor 0 with valid pointers to local structs.
        unsafe {
            if libc::isatty(0) == 1 {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(0, &mut t) == 0 {
                    saved = Some(t);
                    libc::cfmakeraw(&mut t);
                    // Keep output post-processing so "\n" still returns the carriage.
                    t.c_oflag |= libc::OPOST;
                    libc::tcsetattr(0, libc::TCSANOW, &t);
                }
            }
            let flags = libc::fcntl(0, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(0, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            // The descriptor may be shared with the calling shell: restore on exit.
            HostConsole {
                pending: Default::default(),
                saved,
                saved_flags: (flags >= 0).then_some(flags),
                eof: false,
                scripted: None,
                start: Instant::now(),
            }
        }
    }

    /// Types `keys` (milliseconds after now, key) instead of reading standard input.
    pub fn script_keys(&mut self, keys: Vec<(u64, Key)>) {
        self.start = Instant::now();
        self.scripted = Some(keys.into());
    }

    /// Puts the terminal back as it was.
    pub fn restore(&mut self) {
        if let Some(t) = self.saved.take() {
            // SAFETY: restores the attributes read from the same descriptor.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
        if let Some(flags) = self.saved_flags.take() {
            // SAFETY: restores the flags read from the same descriptor.
            unsafe { libc::fcntl(0, libc::F_SETFL, flags) };
        }
    }

    fn fill(&mut self) {
        if self.eof {
            return;
        }
        let mut buf = [0u8; 256];
        // SAFETY: reads into a local buffer of the given length.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => self.eof = true,
            n if n > 0 => self.pending.extend(&buf[..n as usize]),
            _ => {}
        }
    }
}

impl Default for HostConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HostConsole {
    fn drop(&mut self) {
        self.restore();
    }
}

impl fmt::Write for HostConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // The runtime writes CRLF for firmware consoles; a terminal wants LF.
        let mut out = std::io::stdout();
        out.write_all(s.replace("\r\n", "\n").as_bytes())
            .map_err(|_| fmt::Error)?;
        out.flush().map_err(|_| fmt::Error)
    }
}

impl Console for HostConsole {
    fn poll_key(&mut self) -> Option<Key> {
        if let Some(keys) = &mut self.scripted {
            let now = self.start.elapsed().as_millis() as u64;
            return match keys.front() {
                Some((at, _)) if *at <= now => keys.pop_front().map(|(_, k)| k),
                _ => None,
            };
        }
        if self.pending.is_empty() {
            self.fill();
        }
        decode_key(&mut self.pending)
    }
}

/// Decodes one key from terminal bytes: ANSI arrows, Enter as CR, UTF-8 characters.
fn decode_key(bytes: &mut std::collections::VecDeque<u8>) -> Option<Key> {
    let first = bytes.pop_front()?;
    if first == 0x1b && bytes.front() == Some(&b'[') {
        let arrow = match bytes.get(1) {
            Some(b'A') => Some(Key::Up),
            Some(b'B') => Some(Key::Down),
            Some(b'C') => Some(Key::Right),
            Some(b'D') => Some(Key::Left),
            _ => None,
        };
        if let Some(k) = arrow {
            bytes.drain(..2);
            return Some(k);
        }
    }
    if first == b'\n' {
        return Some(Key::Char('\r'));
    }
    if first < 0x80 {
        return Some(Key::Char(char::from(first)));
    }
    // A multi-byte UTF-8 character: take its continuation bytes.
    let len = match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    let mut buf = vec![first];
    while buf.len() < len && bytes.front().is_some_and(|b| b & 0xc0 == 0x80) {
        buf.extend(bytes.pop_front());
    }
    std::str::from_utf8(&buf)
        .ok()
        .and_then(|s| s.chars().next())
        .map(Key::Char)
}

/// The simulated machine.
pub struct HostPlatform {
    start: Instant,
    console: HostConsole,
    nic: Option<([u8; 6], TunTapInterface)>,
    fd: Option<RawFd>,
    /// Print diagnostic lines (download details) on standard error.
    pub verbose: bool,
    /// Where PCI functions' configuration space is read from: a sysfs-style directory
    /// with one `SSSS:BB:DD.F/config` file per function (`/sys/bus/pci/devices`), or
    /// `None` for no PCI access.
    pub pci_root: Option<PathBuf>,
    /// Where the SMBIOS table comes from: a directory with `DMI` (the structure table)
    /// and `smbios_entry_point` (`/sys/firmware/dmi/tables`), or `None` for none.
    pub smbios_root: Option<PathBuf>,
    /// `--files DIR`: every fetch is answered from this directory by the URI's last path
    /// segment, without the network.
    pub files: Option<PathBuf>,
}

impl HostPlatform {
    /// A machine with an optional TAP NIC.
    pub fn new(nic: Option<([u8; 6], TunTapInterface)>) -> Self {
        let fd = nic.as_ref().map(|(_, t)| t.as_raw_fd());
        HostPlatform {
            start: Instant::now(),
            console: HostConsole::new(),
            nic,
            fd,
            verbose: true,
            pci_root: Some(PathBuf::from("/sys/bus/pci/devices")),
            smbios_root: Some(PathBuf::from("/sys/firmware/dmi/tables")),
            files: None,
        }
    }
}

/// `--files`: the file in `dir` named like the URI's last path segment (after any
/// scheme), e.g. `http://192.0.2.1/boot/vmlinuz` → `DIR/vmlinuz`.
pub fn served_file(dir: &Path, uri: &str) -> Result<Vec<u8>, PlatformError> {
    let base = uri.rsplit('/').next().unwrap_or(uri);
    let base = base.rsplit(':').next().unwrap_or(base);
    let missing = || PlatformError {
        code: 1,
        message: "No such file or directory".into(),
    };
    if base.is_empty() || base == "." || base == ".." {
        return Err(missing());
    }
    std::fs::read(dir.join(base)).map_err(|_| missing())
}

/// The SMBIOS version in an entry point: `_SM3_` (bytes 7, 8) or `_SM_` (bytes 6, 7).
pub fn smbios_version(entry: &[u8]) -> Option<(u8, u8)> {
    if entry.starts_with(b"_SM3_") {
        Some((*entry.get(7)?, *entry.get(8)?))
    } else if entry.starts_with(b"_SM_") {
        Some((*entry.get(6)?, *entry.get(7)?))
    } else {
        None
    }
}

/// Reads `buf.len()` bytes at `offset` of a sysfs-style PCI `config` file under `root`.
/// An absent function reads as all-ones; `false` if `root` does not exist at all.
pub fn sysfs_pci_read(root: &Path, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if !root.is_dir() {
        return false;
    }
    let name = format!(
        "{:04x}:{:02x}:{:02x}.{}",
        busdevfn >> 16,
        (busdevfn >> 8) & 0xff,
        (busdevfn >> 3) & 0x1f,
        busdevfn & 7
    );
    buf.fill(0xff);
    let Ok(mut f) = std::fs::File::open(root.join(name).join("config")) else {
        return true;
    };
    if f.seek(SeekFrom::Start(u64::from(offset))).is_ok() {
        // A short file (config space beyond 64 bytes needs root) leaves all-ones.
        let mut read = 0;
        while read < buf.len() {
            match f.read(&mut buf[read..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    }
    true
}

impl HostPlatform {
    /// The console (to script keys).
    pub fn console_mut(&mut self) -> &mut HostConsole {
        &mut self.console
    }
}

impl Platform for HostPlatform {
    type Nic = TunTapInterface;

    fn name(&self) -> &'static str {
        "sim"
    }

    fn client_arch(&self) -> u16 {
        // Servers are configured for UEFI clients most often; the simulator poses as one.
        7
    }

    fn console(&mut self) -> &mut dyn Console {
        &mut self.console
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn idle(&mut self, ms: u64) {
        let d = Duration::from_millis(ms);
        match self.fd {
            // Wake as soon as a frame arrives.
            Some(fd) => {
                let _ = smoltcp::phy::wait(fd, Some(d.into()));
            }
            None => std::thread::sleep(d),
        }
    }

    fn take_nics(&mut self) -> Vec<([u8; 6], TunTapInterface)> {
        self.nic.take().into_iter().collect()
    }

    fn boot(
        &mut self,
        request: &BootRequest<'_>,
        _nics: &mut [NetDevice<TunTapInterface>],
    ) -> Result<(), PlatformError> {
        println!("{}", boot_line(request));
        let _ = std::io::stdout().flush();
        self.console.restore();
        // The simulator's job ends where a real machine would start the image.
        std::process::exit(0);
    }

    fn power(&mut self, action: PowerAction) -> PlatformError {
        println!("{action:?}: the simulator stops here");
        let _ = std::io::stdout().flush();
        self.console.restore();
        std::process::exit(0);
    }

    fn log(&mut self, line: &str) {
        if self.verbose {
            eprintln!("{line}");
        }
    }

    fn unix_time(&mut self) -> Option<u64> {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }

    fn smbios_table(&mut self) -> Option<(Vec<u8>, (u8, u8))> {
        let root = self.smbios_root.as_ref()?;
        let entry = std::fs::read(root.join("smbios_entry_point")).ok()?;
        let table = std::fs::read(root.join("DMI")).ok()?;
        Some((table, smbios_version(&entry)?))
    }

    fn local_file(&mut self, uri: &str) -> Option<Result<Vec<u8>, PlatformError>> {
        let dir = self.files.as_ref()?;
        Some(served_file(dir, uri))
    }

    fn pci_read(&mut self, busdevfn: u32, offset: u16, buf: &mut [u8]) -> bool {
        match &self.pci_root {
            Some(root) => sysfs_pci_read(root, busdevfn, offset, buf),
            None => false,
        }
    }
}

/// The `BOOT {json}` line describing what would start.
pub fn boot_line(r: &BootRequest<'_>) -> String {
    let initrds: Vec<serde_json::Value> = r
        .initrds
        .iter()
        .map(|i| serde_json::json!({"name": i.name, "size": i.data.len(), "sha256": sha256_hex(i.data)}))
        .collect();
    let json = serde_json::json!({
        "format": format_of(r.data),
        "name": r.name,
        "uri": r.uri,
        "size": r.data.len(),
        "sha256": sha256_hex(r.data),
        "cmdline": r.cmdline,
        "initrds": initrds,
    });
    format!("BOOT {json}")
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    for b in Sha256::digest(data).iter() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The format name netboot-image's probe gives.
pub fn format_of(data: &[u8]) -> &'static str {
    netboot_image::probe(data).format.name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn boot_line_describes_image_and_initrds() {
        let mut bz = vec![0u8; 0x1000];
        bz[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        let initrds = [netboot_core::platform::BootInitrd {
            name: "initrd.img",
            data: b"abc",
        }];
        let r = BootRequest {
            name: "vmlinuz",
            uri: Some("http://192.0.2.1/vmlinuz"),
            data: &bz,
            cmdline: "quiet",
            initrds: &initrds,
        };
        let line = boot_line(&r);
        let json: serde_json::Value =
            serde_json::from_str(line.strip_prefix("BOOT ").expect("prefix")).expect("JSON");
        assert_eq!(json["format"], "bzimage");
        assert_eq!(json["cmdline"], "quiet");
        assert_eq!(json["initrds"][0]["name"], "initrd.img");
        assert_eq!(json["initrds"][0]["size"], 3);
        assert_eq!(
            json["initrds"][0]["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn terminal_bytes_decode_to_keys() {
        let mut bytes: std::collections::VecDeque<u8> =
            b"a\x1b[A\n\x03\x1b\xc3\xa9".iter().copied().collect();
        let keys: Vec<Key> = std::iter::from_fn(|| decode_key(&mut bytes)).collect();
        assert_eq!(
            keys,
            [
                Key::Char('a'),
                Key::Up,
                Key::Char('\r'),
                Key::CTRL_C,
                Key::Char('\u{1b}'),
                Key::Char('é')
            ]
        );
    }

    #[test]
    fn formats_are_recognised() {
        assert_eq!(format_of(b"#!ipxe\necho\n"), "script");
        assert_eq!(format_of(b"MZ\x90\x00"), "pe");
        assert_eq!(format_of(b"just some bytes"), "unknown");
    }
}
