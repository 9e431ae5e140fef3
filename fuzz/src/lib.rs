//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! * [`Records`]: the framing of the engine targets' inputs (`dhcp_client`, `dns_resolver`,
//!   `tftp_transfer`): a sequence of `[ctrl][len hi][len lo][payload…]` records, where the
//!   control byte picks the source address, the time step and payload patches. `cargo xtask
//!   fuzz` writes its seeds in the same framing (`xtask/src/fuzz.rs`).
//! * [`split_points`]: how the streaming targets cut one input into pieces.
//! * [`FuzzRuntime`]: a `netboot_script::Runtime` with no network, a virtual clock that
//!   never sleeps for real, and a budget of steps, virtual time, output and wall-clock
//!   time. When the budget runs out it unwinds with [`OutOfBudget`], which
//!   [`run_bounded`] catches (and [`install_budget_hook`] keeps from counting as a crash),
//!   so a fuzzed `sleep 99999`, `:a goto a` loop or `shell` cannot hang the fuzzer.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use netboot_core::platform::Key;
use netboot_core::settings::Settings;
use netboot_image::Format;
use netboot_script::image::{Image, ImageKind, ImageRegistry, ImageType};
use netboot_script::runtime::{Digest, FetchRequest, Fetched, IfconfOptions, PowerRequest};
use netboot_script::{Error, Posix, Runtime};

/// One framed record of an engine target's input.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Control byte: its meaning is the target's (source, time step, patches).
    pub ctrl: u8,
    /// The datagram (or stream piece).
    pub payload: &'a [u8],
}

/// Iterator over `[ctrl][len hi][len lo][payload…]` records; a length past the end takes
/// what is left, so every input is valid.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    data: &'a [u8],
}

impl<'a> Records<'a> {
    /// Records of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Records { data }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let (&ctrl, rest) = self.data.split_first()?;
        let (len, rest) = match rest {
            [hi, lo, rest @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
            _ => (rest.len(), &[][..]),
        };
        let len = len.min(rest.len());
        let (payload, rest) = rest.split_at(len);
        self.data = rest;
        Some(Record { ctrl, payload })
    }
}

/// Encodes records in the framing [`Records`] reads (used by tests; xtask has its own copy).
pub fn encode_records(records: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctrl, payload) in records {
        let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        out.push(*ctrl);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&payload[..usize::from(len)]);
    }
    out
}

/// Time steps (ms) selected by three bits of a control byte: nothing, a little, and past
/// every retransmission interval the engines use.
pub const TIME_STEPS: [u64; 8] = [0, 1, 10, 250, 1_000, 2_000, 5_000, 20_000];

/// The time step encoded in bits 2–4 of `ctrl`.
pub fn time_step(ctrl: u8) -> u64 {
    TIME_STEPS[usize::from((ctrl >> 2) & 7)]
}

/// Cuts `data` into pieces for the streaming targets: the first byte seeds the piece
/// lengths (1..=64 bytes, or everything at once when it is 0), the rest is the stream.
pub fn split_points(data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return (Vec::new(), data);
    };
    if seed == 0 {
        return (vec![stream], stream);
    }
    let mut pieces = Vec::new();
    let mut state = u32::from(seed) | 0x100;
    let mut rest = stream;
    while !rest.is_empty() {
        // xorshift: deterministic, varied piece sizes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 64 + 1) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    (pieces, stream)
}

/// The panic payload [`FuzzRuntime`] unwinds with when its budget is spent. Not a bug:
/// the script simply runs longer than a fuzz iteration may.
#[derive(Debug)]
pub struct OutOfBudget;

/// Installs (once) a panic hook that stays silent for [`OutOfBudget`] and defers to the
/// previous hook (libFuzzer's, which aborts and records a crash) for every other panic.
/// Call it from the target's `init:` block.
pub fn install_budget_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().is::<OutOfBudget>() {
                return;
            }
            previous(info);
        }));
    });
}

/// Runs `f`, returning `None` if it ran out of budget ([`OutOfBudget`]); any other panic
/// is re-raised (libFuzzer's hook has aborted already, in practice).
pub fn run_bounded<T>(f: impl FnOnce() -> T) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(payload) if payload.is::<OutOfBudget>() => None,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Most runtime calls (expansions, prints, key polls, idles, fetches) one run may make.
pub const MAX_STEPS: u64 = 20_000;
/// Virtual time after which waits see Ctrl-C (so prompts and menus without a timeout end).
pub const CTRL_C_AFTER_MS: u64 = 5 * 60 * 1000;
/// Virtual time after which the run stops.
pub const MAX_VIRTUAL_MS: u64 = 60 * 60 * 1000;
/// Each idle moves the virtual clock this far (no real sleeping).
pub const IDLE_STEP_MS: u64 = 1000;
/// Console output kept at most.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Wall-clock time one run may take; guards against quadratic-but-finite work (every
/// expansion may do up to 1024 rounds on 64 KiB) being reported as a libFuzzer timeout.
pub const MAX_WALL: Duration = Duration::from_secs(3);
/// Largest archive extraction.
pub const MAX_EXTRACT: usize = 4 << 20;

/// A script runtime with no network: see the module documentation.
pub struct FuzzRuntime {
    settings: Settings,
    images: ImageRegistry<Vec<u8>>,
    /// Bytes served for every fetch (except URIs containing `missing`).
    file: Vec<u8>,
    output_len: usize,
    now: u64,
    steps: u64,
    started: Instant,
}

impl FuzzRuntime {
    /// A runtime whose fetches return `file`.
    pub fn new(file: &[u8]) -> FuzzRuntime {
        FuzzRuntime {
            settings: Settings::new(),
            images: ImageRegistry::new(),
            file: file.to_vec(),
            output_len: 0,
            now: 0,
            steps: 0,
            started: Instant::now(),
        }
    }

    /// Counts one step; unwinds with [`OutOfBudget`] once any budget is spent.
    fn step(&mut self) {
        self.steps += 1;
        if self.steps > MAX_STEPS
            || self.now > MAX_VIRTUAL_MS
            || self.output_len > MAX_OUTPUT
            || (self.steps % 64 == 0 && self.started.elapsed() > MAX_WALL)
        {
            panic::panic_any(OutOfBudget);
        }
    }
}

/// The image type netboot's real runtime (`Machine`) gives a probed format.
fn image_type(format: Format) -> Option<ImageType> {
    let (name, kind) = match format {
        Format::Pe | Format::Uki => ("EFI", ImageKind::Executable),
        Format::BzImage => ("bzImage", ImageKind::Executable),
        Format::Nbp => ("PXE", ImageKind::Executable),
        Format::Elf | Format::Multiboot => ("ELF", ImageKind::Executable),
        Format::Gzip => ("gzip", ImageKind::Archive),
        Format::Zlib => ("zlib", ImageKind::Archive),
        Format::Script => return Some(ImageType::SCRIPT),
        _ => return None,
    };
    Some(ImageType { name, kind })
}

impl Runtime for FuzzRuntime {
    type Blob = Vec<u8>;

    fn settings(&mut self) -> &mut Settings {
        self.step();
        &mut self.settings
    }

    fn images(&mut self) -> &mut ImageRegistry<Vec<u8>> {
        self.step();
        &mut self.images
    }

    fn print(&mut self, text: &str) {
        self.output_len = self.output_len.saturating_add(text.len());
        self.step();
    }

    fn poll_key(&mut self) -> Option<Key> {
        self.step();
        (self.now >= CTRL_C_AFTER_MS).then_some(Key::CTRL_C)
    }

    fn now_ms(&self) -> u64 {
        self.now
    }

    fn idle(&mut self) {
        self.now = self.now.saturating_add(IDLE_STEP_MS);
        self.step();
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Result<Fetched<Vec<u8>>, Error> {
        self.step();
        if req.uri.contains("missing") {
            return Err(Error::platform(Posix::Enoent, 1, "file not found"));
        }
        Ok(Fetched {
            data: self.file.clone(),
            uri: req.uri.to_string(),
        })
    }

    fn probe(&mut self, data: &Vec<u8>) -> Option<ImageType> {
        self.step();
        image_type(netboot_image::probe(data).format)
    }

    fn execute(&mut self, image: &Image<Vec<u8>>) -> Result<(), Error> {
        self.step();
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
        self.step();
        use netboot_image::inflate;
        let result = match netboot_image::probe(&image.data).format {
            Format::Gzip => inflate::gunzip(&image.data, MAX_EXTRACT),
            Format::Zlib => inflate::zlib_decompress(&image.data, MAX_EXTRACT),
            _ => return Err(Error::NotSupported("imgextract")),
        };
        result.map_err(|_| Error::platform(Posix::Einval, 3, "corrupt archive"))
    }

    fn digest(&mut self, _: Digest, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.step();
        Ok(vec![data.len() as u8, 0xab])
    }

    fn interfaces(&mut self) -> Vec<String> {
        vec!["net0".into()]
    }

    fn ifconf(&mut self, iface: &str, _: &IfconfOptions) -> Result<(), Error> {
        self.step();
        self.settings.set_last_opened(iface);
        Err(Error::platform(
            Posix::Eaddrnotavail,
            1,
            "no configuration methods succeeded",
        ))
    }

    fn power(&mut self, _: PowerRequest) -> Error {
        self.step();
        Error::platform(Posix::Eio, 3, "power control failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let bytes = encode_records(&[(1, b"ab"), (2, b""), (3, b"xyz")]);
        let got: Vec<(u8, &[u8])> = Records::new(&bytes).map(|r| (r.ctrl, r.payload)).collect();
        assert_eq!(got, vec![(1, &b"ab"[..]), (2, &b""[..]), (3, &b"xyz"[..])]);
    }
}
