//! The compatibility suite: every `tests/compat/*.ipxe` script runs against a recording
//! runtime; its console output must equal `<name>.out` and its status `<name>.status`
//! (`0`, or the error code in hex).
//!
//! Directives in comments (ignored by the interpreter, since `#` starts a comment):
//! `#@keys <ms>:<key> …` scripts key presses (`CR`, `ESC`, `UP`, `DOWN`, `TAB`, `CTRLC`,
//! `BS`, or one character) at virtual times; `#@top` runs the script's lines as shell
//! lines (not as a script). Fetches of any URI are served from `tests/compat/files/` by
//! basename. Output is normalised: ANSI cursor moves become newlines, reverse video
//! becomes `*`, other escape sequences are dropped, backspace becomes `^H`.
//!
//! The same scripts also run through `netboot-sim run` (`cargo xtask compat`, see
//! `xtask/src/compat.rs`) with the same keys and files; the recording runtime therefore
//! prints downloads as the real runtime does (`URI... ok`, `URI... <error>`). Where the
//! real runtime legitimately differs (it boots for real, has no NIC, powers off), a
//! script has `NAME.sim.out`/`NAME.sim.status` for the simulator.
//!
//! Set `BLESS=1` to rewrite the expected files.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use netboot_core::platform::Key;
use netboot_core::settings::Settings;
use netboot_script::image::{Image, ImageKind, ImageRegistry, ImageType};
use netboot_script::runtime::{CpuidQuery, FetchRequest, Fetched, IfconfOptions, PowerRequest};
use netboot_script::{Error, Interpreter, Posix, Runtime};

struct TestRt {
    settings: Settings,
    images: ImageRegistry<Vec<u8>>,
    out: String,
    now: u64,
    keys: VecDeque<(u64, Key)>,
    files: PathBuf,
}

impl TestRt {
    fn new(keys: VecDeque<(u64, Key)>) -> TestRt {
        let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/files");
        TestRt {
            settings: Settings::new(),
            images: ImageRegistry::new(),
            out: String::new(),
            now: 0,
            keys,
            files,
        }
    }
}

impl Runtime for TestRt {
    type Blob = Vec<u8>;
    fn settings(&mut self) -> &mut Settings {
        &mut self.settings
    }
    fn images(&mut self) -> &mut ImageRegistry<Vec<u8>> {
        &mut self.images
    }
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }
    fn poll_key(&mut self) -> Option<Key> {
        match self.keys.front() {
            Some((at, _)) if *at <= self.now => self.keys.pop_front().map(|(_, k)| k),
            None if self.now > 3_600_000 => {
                panic!("script waited for input with no scripted keys left")
            }
            _ => None,
        }
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
    fn idle(&mut self) {
        self.now += 10;
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Result<Fetched<Vec<u8>>, Error> {
        let base = req.uri.rsplit('/').next().unwrap_or(req.uri);
        let base = base.rsplit(':').next().unwrap_or(base);
        let path = self.files.join(base);
        let resolved = match (req.uri.contains(':'), req.cwuri) {
            (false, Some(cw)) => {
                format!("{}/{}", cw.rsplit_once('/').map_or(cw, |(d, _)| d), req.uri)
            }
            _ => req.uri.to_string(),
        };
        // The same progress line as `Machine` (and so `netboot-sim run --files`).
        if !req.quiet {
            self.out.push_str(&format!("{}... ", req.uri));
        }
        match std::fs::read(&path) {
            Ok(data) if !base.is_empty() => {
                if !req.quiet {
                    self.out.push_str("ok\n");
                }
                Ok(Fetched {
                    data,
                    uri: resolved,
                })
            }
            _ => {
                let e = Error::platform(Posix::Enoent, 1, "No such file or directory");
                if !req.quiet {
                    self.out.push_str(&format!("{e}\n"));
                }
                Err(e)
            }
        }
    }
    fn probe(&mut self, data: &Vec<u8>) -> Option<ImageType> {
        if data.starts_with(b"MZ") {
            Some(ImageType {
                name: "EFI",
                kind: ImageKind::Executable,
            })
        } else if data.starts_with(b"\x1f\x8b") {
            Some(ImageType {
                name: "gzip",
                kind: ImageKind::Archive,
            })
        } else {
            None
        }
    }
    fn execute(&mut self, image: &Image<Vec<u8>>) -> Result<(), Error> {
        let initrds: Vec<String> = self.images.initrds().map(|i| i.name.clone()).collect();
        let _ = writeln!(
            self.out,
            "[execute {} cmdline={:?} initrds={:?}]",
            image.name,
            image.cmdline.as_deref().unwrap_or(""),
            initrds
        );
        if image.cmdline.as_deref() == Some("fail") {
            return Err(Error::platform(
                Posix::Eio,
                2,
                "the image returned an error",
            ));
        }
        Ok(())
    }
    fn extract(&mut self, image: &Image<Vec<u8>>) -> Result<Vec<u8>, Error> {
        netboot_image::inflate::gunzip(&image.data, 1 << 20)
            .map_err(|e| Error::platform(Posix::Einval, 10, format!("{}: {e}", image.name)))
    }
    fn interfaces(&mut self) -> Vec<String> {
        vec!["net0".into(), "net1".into()]
    }
    fn ifconf(&mut self, iface: &str, opts: &IfconfOptions) -> Result<(), Error> {
        let _ = write!(self.out, "Configuring ({iface})...");
        if iface == "net0" && opts.timeout_ms != Some(1) {
            self.settings.set_last_opened(iface);
            self.settings.store_dhcp(
                &format!("{iface}.dhcp"),
                [
                    (0xaf02, vec![192, 0, 2, 100]),
                    (67, b"boot.ipxe".to_vec()),
                    (209, b"cfg".to_vec()),
                ],
            );
            self.out.push_str(" ok\n");
            Ok(())
        } else {
            self.out.push_str(" No configuration methods succeeded\n");
            Err(Error::platform(
                Posix::Eaddrnotavail,
                1,
                "no configuration methods succeeded",
            ))
        }
    }
    fn cpuid(&mut self, q: CpuidQuery) -> Result<bool, Error> {
        Ok(q.extended && q.bit == 29)
    }
    fn power(&mut self, r: PowerRequest) -> Error {
        let _ = writeln!(self.out, "[power {r:?}]");
        Error::platform(Posix::Eio, 3, "power control failed")
    }
}

fn normalise(raw: &str) -> String {
    netboot_script::testing::normalise_console(raw)
}

fn run_case(path: &Path) -> (String, String) {
    let bytes = std::fs::read(path).expect("read script");
    let text = String::from_utf8_lossy(&bytes);
    let mut keys = VecDeque::new();
    for line in text.lines() {
        if let Some(spec) = line.trim().strip_prefix("#@keys ") {
            keys.extend(netboot_script::testing::parse_keys(spec).expect("valid #@keys"));
        }
    }
    let mut rt = TestRt::new(keys);
    let mut interp = Interpreter::new();
    let rc = if text.lines().any(|l| l.trim() == "#@top") {
        let mut rc = Ok(());
        for line in text.lines() {
            rc = interp.run_line(&mut rt, line);
        }
        rc
    } else {
        interp.run_script(&mut rt, &bytes)
    };
    let status = match rc {
        Ok(()) => "0".to_string(),
        Err(e) => format!("{:#010x}", e.code()),
    };
    (normalise(&rt.out), status)
}

#[test]
fn compat_suite() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("compat dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipxe"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "suite is missing");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let (out, status) = run_case(case);
        let out_path = case.with_extension("out");
        let status_path = case.with_extension("status");
        if bless {
            std::fs::write(&out_path, &out).expect("write");
            std::fs::write(&status_path, format!("{status}\n")).expect("write");
            continue;
        }
        let want_out = std::fs::read_to_string(&out_path).unwrap_or_default();
        let want_status = std::fs::read_to_string(&status_path).unwrap_or_default();
        if want_out != out || want_status.trim() != status {
            failures.push(format!(
                "{}:\n--- want (status {})\n{}--- got (status {})\n{}",
                case.display(),
                want_status.trim(),
                want_out,
                status,
                out
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
