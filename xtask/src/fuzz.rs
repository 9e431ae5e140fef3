//! `cargo xtask fuzz [--seconds N] [--jobs N] [--asan] [--list] [TARGET…]`: seed corpora
//! from real files and hand-built packets, then run every cargo-fuzz target of `fuzz/`.
//!
//! * cargo-fuzz is installed when `cargo fuzz --version` fails (`cargo install cargo-fuzz
//!   --locked`).
//! * Toolchain rule: `cargo +nightly fuzz …` when `rustup toolchain list` shows a nightly;
//!   otherwise the pinned stable toolchain with `RUSTC_BOOTSTRAP=1` (cargo-fuzz passes
//!   nightly-only `-Z` flags).
//! * Seeds go to `fuzz/corpus/<target>/seed-*` (git-ignored; rewritten every run, inputs
//!   libFuzzer added are kept). Inputs in `fuzz/regressions/<target>/` (committed) are
//!   replayed at the start of every run: libFuzzer executes every corpus input first.
//! * Targets are built without a sanitizer: the fuzzed crates have no `unsafe`, so what
//!   fuzzing finds is panics (overflow checks and debug assertions are on), hangs
//!   (`-timeout`) and memory blow-ups (`-rss_limit_mb`); `--asan` builds with
//!   AddressSanitizer anyway.
//! * Each target runs `-max_total_time=N`; the executions each reached come from
//!   libFuzzer's final `#N DONE … exec/s: …` line. A crash fails the command and names
//!   the input libFuzzer saved under `fuzz/artifacts/<target>/`; the whole libFuzzer log
//!   is in `fuzz/target/fuzz-logs/<target>.log` (not in `artifacts/`, where cargo-fuzz
//!   takes the newest file for the failing input).
//!
//! `cargo xtask test` runs the smoke: every target for [`SMOKE_RUNS`] inputs from a fixed
//! seed, with [`SMOKE_SECONDS`] only as a cap (the slowest target needs about 8 s).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use crate::util::{self, Result};

/// Seconds per target for `cargo xtask fuzz` without `--seconds`.
const DEFAULT_SECONDS: u64 = 60;
/// Cap in seconds per target in the `cargo xtask test` smoke (the input budget governs).
pub const SMOKE_SECONDS: u64 = 30;
/// The smoke's fixed budget of inputs per target, run from a fixed seed: CI must be
/// reproducible, so the smoke explores the same inputs every time (the time limit above
/// is only a cap). Open-ended exploration is `cargo xtask fuzz`.
pub const SMOKE_RUNS: u64 = 20_000;
/// libFuzzer `-timeout`: one input running longer than this is a hang (a finding).
const INPUT_TIMEOUT_S: u64 = 10;
/// libFuzzer `-rss_limit_mb`.
const RSS_LIMIT_MB: u64 = 2048;
/// Seeds cut from real files are at most this long (libFuzzer's `-max_len` follows the
/// largest seed; megabyte inputs would make every mutation slow).
const SEED_CAP: usize = 1 << 20;
/// ISO images keep their first 2 MiB (the file system sits past the 1 MiB mark).
const ISO_SEED_CAP: usize = 2 << 20;

struct Options {
    seconds: u64,
    /// Deterministic: `-seed=1 -runs=N`.
    fixed_runs: Option<u64>,
    jobs: usize,
    asan: bool,
    list: bool,
    targets: Vec<String>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        seconds: DEFAULT_SECONDS,
        fixed_runs: None,
        jobs: 1,
        asan: false,
        list: false,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" | "-s" => {
                opts.seconds = util::count_arg(&mut it, "--seconds")?;
            }
            "--jobs" | "-j" => {
                opts.jobs = util::count_arg(&mut it, "--jobs")?;
            }
            "--asan" => opts.asan = true,
            // Exactly what `cargo xtask test` runs (fixed seed and input budget).
            "--smoke" => {
                opts.seconds = SMOKE_SECONDS;
                opts.fixed_runs = Some(SMOKE_RUNS);
            }
            "--list" => opts.list = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s:?}").into()),
            name => opts.targets.push(name.to_string()),
        }
    }
    Ok(opts)
}

/// `cargo xtask fuzz …`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse_options(args)?;
    if opts.list {
        for t in targets()? {
            println!("{t}");
        }
        return Ok(());
    }
    fuzz(&opts)
}

/// The `cargo xtask test` smoke: every target for [`SMOKE_RUNS`] inputs, regressions
/// included. Skipped when the test run was narrowed to named scenarios.
pub fn smoke(names: &[String]) -> Result<()> {
    if !names.is_empty() {
        eprintln!("==> fuzz smoke: skipped (scenarios named)");
        return Ok(());
    }
    fuzz(&Options {
        seconds: SMOKE_SECONDS,
        fixed_runs: Some(SMOKE_RUNS),
        jobs: 1,
        asan: false,
        list: false,
        targets: Vec::new(),
    })
}

fn fuzz_dir() -> PathBuf {
    util::root().join("fuzz")
}

/// Target names: the files in `fuzz/fuzz_targets/`.
fn targets() -> Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// How cargo-fuzz is run: nightly if installed, else stable with `RUSTC_BOOTSTRAP=1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Toolchain {
    Nightly,
    StableBootstrap,
}

impl Toolchain {
    fn detect() -> Toolchain {
        let listed =
            util::output(util::cmd("rustup", &["toolchain", "list"]).stderr(Stdio::null()))
                .unwrap_or_default();
        if listed
            .lines()
            .any(|l| l.trim_start().starts_with("nightly"))
        {
            Toolchain::Nightly
        } else {
            Toolchain::StableBootstrap
        }
    }

    /// `cargo [+nightly] fuzz <args>` in `fuzz/`, with the outer cargo's toolchain
    /// variables removed so they cannot pin the wrong compiler.
    fn cargo_fuzz(self, args: &[&str]) -> Command {
        let mut c = Command::new("cargo");
        match self {
            Toolchain::Nightly => {
                c.arg("+nightly");
            }
            Toolchain::StableBootstrap => {
                c.env("RUSTC_BOOTSTRAP", "1");
            }
        }
        for var in [
            "RUSTUP_TOOLCHAIN",
            "RUSTC",
            "RUSTDOC",
            "RUSTC_WRAPPER",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
        ] {
            c.env_remove(var);
        }
        c.arg("fuzz").args(args).current_dir(fuzz_dir());
        c
    }
}

/// Installs cargo-fuzz unless `cargo fuzz --version` works already.
fn ensure_cargo_fuzz() -> Result<()> {
    let ok = util::cmd("cargo", &["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(());
    }
    util::step(
        "install cargo-fuzz",
        &mut util::cmd("cargo", &["install", "cargo-fuzz", "--locked"]),
    )
}

/// What one target's run reached.
#[derive(Debug, Default)]
struct RunResult {
    target: String,
    ok: bool,
    executions: Option<u64>,
    exec_per_s: Option<u64>,
    coverage: Option<u64>,
    corpus: Option<u64>,
    seconds: f64,
    artifact: Option<String>,
    log: PathBuf,
    tail: String,
}

fn fuzz(opts: &Options) -> Result<()> {
    let started = Instant::now();
    let all = targets()?;
    let chosen: Vec<String> = if opts.targets.is_empty() {
        all.clone()
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                return Err(format!("no fuzz target {t:?} (have: {})", all.join(", ")).into());
            }
        }
        opts.targets.clone()
    };
    ensure_cargo_fuzz()?;
    let toolchain = Toolchain::detect();
    eprintln!(
        "==> fuzz: {} target(s) × {} s, toolchain {}",
        chosen.len(),
        opts.seconds,
        match toolchain {
            Toolchain::Nightly => "+nightly",
            Toolchain::StableBootstrap => "stable with RUSTC_BOOTSTRAP=1 (no nightly installed)",
        }
    );
    let seeds = seeds::write_all(&fuzz_dir().join("corpus"), &chosen)?;
    eprintln!("==> fuzz seeds: {seeds} files in fuzz/corpus/");
    let sanitizer = if opts.asan { "address" } else { "none" };
    let build_started = Instant::now();
    util::step(
        "fuzz build",
        &mut toolchain.cargo_fuzz(&["build", "--sanitizer", sanitizer]),
    )?;
    let build_seconds = build_started.elapsed().as_secs_f64();

    let queue = Mutex::new(chosen.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.min(chosen.len()) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next().cloned());
                    let Some(target) = next else { break };
                    let r =
                        run_target(toolchain, sanitizer, &target, opts.seconds, opts.fixed_runs);
                    eprintln!("{}", describe(&r));
                    if let Ok(mut v) = results.lock() {
                        v.push(r);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().map_err(|_| "a fuzz worker panicked")?;
    results.sort_by(|a, b| a.target.cmp(&b.target));

    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "\nfuzz summary ({} s per target, build {:.0} s):",
        opts.seconds, build_seconds
    );
    let _ = writeln!(
        summary,
        "  {:<18} {:>12} {:>9} {:>7} {:>6}  status",
        "target", "executions", "exec/s", "cov", "corpus"
    );
    let mut total_execs = 0u64;
    for r in &results {
        total_execs += r.executions.unwrap_or(0);
        let _ = writeln!(
            summary,
            "  {:<18} {:>12} {:>9} {:>7} {:>6}  {}",
            r.target,
            opt(r.executions),
            opt(r.exec_per_s),
            opt(r.coverage),
            opt(r.corpus),
            if r.ok { "ok" } else { "FAILED" }
        );
    }
    let _ = writeln!(
        summary,
        "  total: {total_execs} executions, {:.0} s wall (build included)",
        started.elapsed().as_secs_f64()
    );
    eprint!("{summary}");

    let failed: Vec<&RunResult> = results.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("fuzzing found problems:");
    for r in failed {
        eprintln!("\n--- {} (log {}):\n{}", r.target, r.log.display(), r.tail);
        let _ = write!(
            msg,
            "\n  {}: {}; reproduce with `cd fuzz && cargo +nightly fuzz run --sanitizer {sanitizer} {} {}`",
            r.target,
            r.artifact.as_deref().unwrap_or("no artifact (see the log)"),
            r.target,
            r.artifact.as_deref().unwrap_or("")
        );
    }
    Err(msg.into())
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn describe(r: &RunResult) -> String {
    if r.ok {
        format!(
            "==> fuzz {}: {} executions ({} exec/s, cov {}, corpus {}) in {:.0} s",
            r.target,
            opt(r.executions),
            opt(r.exec_per_s),
            opt(r.coverage),
            opt(r.corpus),
            r.seconds
        )
    } else {
        format!(
            "==> fuzz {}: FAILED after {:.0} s: {}",
            r.target,
            r.seconds,
            r.artifact.as_deref().unwrap_or("see the log")
        )
    }
}

/// Runs one target for `seconds` over its corpus and regressions; the output goes to
/// `fuzz/target/fuzz-logs/<target>.log`.
fn run_target(
    toolchain: Toolchain,
    sanitizer: &str,
    target: &str,
    seconds: u64,
    fixed_runs: Option<u64>,
) -> RunResult {
    let started = Instant::now();
    let dir = fuzz_dir();
    let logs = dir.join("target").join("fuzz-logs");
    let log = logs.join(format!("{target}.log"));
    let mut result = RunResult {
        target: target.to_string(),
        log: log.clone(),
        ..RunResult::default()
    };
    let corpus = format!("corpus/{target}");
    let regressions = format!("regressions/{target}");
    let max_time = format!("-max_total_time={seconds}");
    let timeout = format!("-timeout={INPUT_TIMEOUT_S}");
    let rss = format!("-rss_limit_mb={RSS_LIMIT_MB}");
    let mut args = vec!["run", "--sanitizer", sanitizer, target, &corpus];
    if dir.join(&regressions).is_dir() {
        args.push(&regressions);
    }
    args.extend(["--", &max_time, &timeout, &rss, "-print_final_stats=1"]);
    let runs = fixed_runs.map(|n| format!("-runs={n}"));
    if let Some(runs) = &runs {
        args.extend(["-seed=1", runs.as_str()]);
    }
    let output = fs::create_dir_all(&logs)
        .and_then(|()| fs::File::create(&log))
        .and_then(|f| Ok((f.try_clone()?, f)))
        .and_then(|(out, err)| {
            toolchain
                .cargo_fuzz(&args)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .status()
        });
    result.seconds = started.elapsed().as_secs_f64();
    let text = fs::read_to_string(&log).unwrap_or_default();
    parse_libfuzzer(&text, &mut result);
    result.ok = matches!(&output, Ok(s) if s.success()) && result.executions.is_some();
    if let Err(e) = output {
        result.tail = format!("cannot run cargo fuzz: {e}");
    } else {
        // The last lines, each cut short (cargo-fuzz prints inputs as long byte lists).
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.char_indices().nth(200) {
                Some((i, _)) => format!("{}…", &l[..i]),
                None => l.to_string(),
            })
            .collect();
        result.tail = lines[lines.len().saturating_sub(40)..].join("\n");
    }
    result
}

/// Reads executions, exec/s, coverage and corpus size from libFuzzer's final
/// `#N DONE cov: C ft: F corp: K/S exec/s: E rss: R` line (or its final stats), and the
/// artifact from `Test unit written to PATH`.
fn parse_libfuzzer(text: &str, r: &mut RunResult) {
    let field = |words: &[&str], name: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == name)?;
        words.get(i + 1)?.split('/').next()?.parse().ok()
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(1) == Some(&"DONE")
            && let Some(n) = words.first().and_then(|w| w.strip_prefix('#'))
        {
            r.executions = n.parse().ok();
            r.coverage = field(&words, "cov:");
            r.corpus = field(&words, "corp:");
            r.exec_per_s = field(&words, "exec/s:");
        }
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            r.executions = r.executions.or(v.trim().parse().ok());
        }
        if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
            r.exec_per_s = r.exec_per_s.or(v.trim().parse().ok());
        }
        if let Some(i) = line.find("Test unit written to ") {
            let path = line[i + "Test unit written to ".len()..].trim();
            let path = Path::new(path);
            let shown = if path.is_absolute() {
                path.to_path_buf()
            } else {
                fuzz_dir().join(path)
            };
            r.artifact = Some(shown.display().to_string());
        }
    }
    if r.artifact.is_some() {
        // A crash also prints stats; the executions before it are not a completed run.
        r.executions = r.executions.filter(|_| text.contains(" DONE "));
    }
}

/// Seed inputs, written as `fuzz/corpus/<target>/seed-<name>`.
mod seeds {
    use super::{ISO_SEED_CAP, SEED_CAP};
    use crate::util::{self, Result};
    use std::fs;
    use std::path::{Path, PathBuf};

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    const SERVER: [u8; 4] = [10, 0, 0, 1];
    const PROXY: [u8; 4] = [10, 0, 0, 2];

    /// Writes every chosen target's seeds; returns how many files were written.
    pub fn write_all(corpus: &Path, targets: &[String]) -> Result<usize> {
        let mut count = 0;
        for target in targets {
            let dir = corpus.join(target);
            fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (name, data) in seeds_for(target) {
                let path = dir.join(format!("seed-{name}"));
                fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))?;
                count += 1;
            }
        }
        Ok(count)
    }

    fn seeds_for(target: &str) -> Vec<(String, Vec<u8>)> {
        let named = |v: Vec<(&str, Vec<u8>)>| {
            v.into_iter()
                .map(|(n, d)| (n.to_string(), d))
                .collect::<Vec<_>>()
        };
        match target {
            "dhcp_parse" => named(dhcp_packets()),
            "dhcp_client" => named(dhcp_exchanges()),
            "dns_parse" => named(dns_messages()),
            "dns_resolver" => named(dns_exchanges()),
            "tftp_parse" => named(tftp_packets()),
            "tftp_transfer" => named(tftp_exchanges()),
            "http_head" => named(http_responses().into_iter().map(head_only).collect()),
            "http_response" => http_responses()
                .into_iter()
                .flat_map(|(n, r)| {
                    // Method byte (0 GET, 1 HEAD), then the split byte (0 = all at once).
                    [
                        (format!("{n}-get"), [&[0u8, 0][..], &r].concat()),
                        (format!("{n}-get-split"), [&[0u8, 7][..], &r].concat()),
                        (format!("{n}-head"), [&[1u8, 0][..], &r].concat()),
                    ]
                })
                .collect(),
            "http_chunked" => chunked_bodies(),
            "uri" => named(uris()),
            "settings_expand" => named(settings_texts()),
            "script_parse" | "script_lint" | "script_interp" => scripts(),
            "image_probe" => images(&["vmlinuz", "initrd", "efi", "lkrn", "kpxe", "iso", "pxe"]),
            "image_bzimage" => images(&["vmlinuz", "lkrn"]),
            "image_pe" => images(&["vmlinuz", "efi"]),
            "image_iso" => images(&["iso"]),
            "image_cpio" => cpio_seeds(),
            "image_inflate" => inflate_seeds(),
            "tls_client" => named(tls_server_flights()),
            "cms_parse" => cms_fixtures(&["sig"]),
            "x509_trust" => cms_fixtures(&["pem", "der"]),
            "image_misc" => {
                let mut v = images(&["iso"]);
                v.extend(
                    read_capped(Path::new("/usr/bin/true"), SEED_CAP)
                        .map(|d| ("elf-true".into(), d)),
                );
                v
            }
            _ => Vec::new(),
        }
    }

    // ---- DHCP ----

    fn dhcp(
        op: u8,
        msg: Option<u8>,
        yiaddr: [u8; 4],
        file: &[u8],
        options: &[(u8, &[u8])],
    ) -> Vec<u8> {
        let mut p = vec![0u8; 236];
        p[0] = op;
        p[1] = 1;
        p[2] = 6;
        let xid = u32::from_be_bytes([MAC[2], MAC[3], MAC[4], MAC[5]]) ^ 0x6e62_6f74;
        p[4..8].copy_from_slice(&xid.to_be_bytes());
        p[16..20].copy_from_slice(&yiaddr);
        p[20..24].copy_from_slice(&SERVER);
        p[28..34].copy_from_slice(&MAC);
        let n = file.len().min(127);
        p[108..108 + n].copy_from_slice(&file[..n]);
        p.extend_from_slice(&[99, 130, 83, 99]);
        if let Some(m) = msg {
            p.extend_from_slice(&[53, 1, m]);
        }
        for (code, value) in options {
            p.push(*code);
            p.push(value.len() as u8);
            p.extend_from_slice(value);
        }
        p.push(255);
        p
    }

    const LEASE_OPTS: &[(u8, &[u8])] = &[
        (54, &SERVER),
        (1, &[255, 255, 255, 0]),
        (3, &SERVER),
        (6, &SERVER),
        (15, b"example.com"),
        (12, b"client1"),
        (51, &[0, 0, 14, 16]),
    ];

    fn offer() -> Vec<u8> {
        dhcp(2, Some(2), [10, 0, 0, 100], b"boot.efi", LEASE_OPTS)
    }
    fn ack() -> Vec<u8> {
        dhcp(2, Some(5), [10, 0, 0, 100], b"boot.efi", LEASE_OPTS)
    }
    fn proxy_offer(msg: u8) -> Vec<u8> {
        dhcp(
            2,
            Some(msg),
            [0; 4],
            b"ipxe.efi",
            &[(54, &PROXY), (60, b"PXEClient"), (43, &[6, 1, 8, 255])],
        )
    }

    fn dhcp_packets() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "discover",
                dhcp(
                    1,
                    Some(1),
                    [0; 4],
                    b"",
                    &[
                        (55, &[1, 3, 6, 43, 60, 66, 67]),
                        (60, b"PXEClient:Arch:00007:UNDI:003010"),
                    ],
                ),
            ),
            ("offer", offer()),
            ("ack", ack()),
            ("nak", dhcp(2, Some(6), [0; 4], b"", &[(54, &SERVER)])),
            ("proxy-offer", proxy_offer(2)),
            (
                "bootp",
                dhcp(
                    2,
                    None,
                    [10, 0, 0, 100],
                    b"pxelinux.0",
                    &[(1, &[255, 255, 255, 0])],
                ),
            ),
            ("overload", {
                // Option 52 = 3: options continue in file and sname.
                let mut p = dhcp(
                    2,
                    Some(5),
                    [10, 0, 0, 100],
                    b"",
                    &[(52, &[3]), (54, &SERVER)],
                );
                p[108..115].copy_from_slice(&[67, 4, b'a', b'.', b'e', b'f', 255]);
                p[44..50].copy_from_slice(&[12, 3, b'h', b'o', b's', 255]);
                p
            }),
            (
                "ipxe-encap",
                dhcp(
                    2,
                    Some(5),
                    [10, 0, 0, 100],
                    b"",
                    &[
                        (54, &SERVER),
                        (175, &[0x13, 1, 1, 0x15, 1, 1]),
                        (209, b"cfg"),
                        (210, b"/tftp/"),
                    ],
                ),
            ),
        ]
    }

    /// Control byte of a `Records` frame (see `fuzz/src/lib.rs`).
    fn ctrl(source: u8, time_index: u8, patch: bool, poll: bool) -> u8 {
        source | (time_index << 2) | if patch { 0x20 } else { 0 } | if poll { 0x40 } else { 0 }
    }

    fn records(first: u8, records: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![first];
        for (c, payload) in records {
            let len = payload.len().min(usize::from(u16::MAX));
            out.push(*c);
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.extend_from_slice(&payload[..len]);
        }
        out
    }

    /// A record that only lets time pass (an empty datagram from an odd port).
    fn tick(time_index: u8) -> (u8, Vec<u8>) {
        (ctrl(3, time_index, false, true), Vec::new())
    }

    fn dhcp_exchanges() -> Vec<(&'static str, Vec<u8>)> {
        let server = |p: Vec<u8>| (ctrl(0, 0, true, false), p);
        vec![
            (
                "dhcp",
                records(0, &[server(offer()), tick(5), server(ack())]),
            ),
            (
                "proxydhcp",
                records(
                    0,
                    &[
                        server(offer()),
                        (ctrl(1, 1, true, false), proxy_offer(2)),
                        tick(1),
                        server(ack()),
                        (ctrl(2, 1, true, false), proxy_offer(5)),
                    ],
                ),
            ),
            (
                "bootp",
                records(
                    1,
                    &[server(dhcp(2, None, [10, 0, 0, 100], b"pxelinux.0", &[]))],
                ),
            ),
            (
                "nak",
                records(
                    0,
                    &[
                        server(offer()),
                        tick(5),
                        server(dhcp(2, Some(6), [0; 4], b"", &[(54, &SERVER)])),
                        tick(4),
                        server(offer()),
                        tick(5),
                        server(ack()),
                    ],
                ),
            ),
            ("timeout", records(0, &[tick(7), tick(7)])),
        ]
    }

    // ---- DNS ----

    fn name_wire(dotted: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in dotted.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn a_record(ip: [u8; 4]) -> Vec<u8> {
        let mut r = vec![0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4];
        r.extend_from_slice(&ip);
        r
    }

    fn cname_record(target: &str) -> Vec<u8> {
        let t = name_wire(target);
        let mut r = vec![0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, t.len() as u8];
        r.extend_from_slice(&t);
        r
    }

    /// A header: id, flags, counts.
    fn dns_header(id: u16, flags: u16, qd: u16, an: u16) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [id, flags, qd, an, 0, 0] {
            h.extend_from_slice(&v.to_be_bytes());
        }
        h
    }

    fn question(name: &str) -> Vec<u8> {
        let mut q = name_wire(name);
        q.extend_from_slice(&[0, 1, 0, 1]);
        q
    }

    fn dns_messages() -> Vec<(&'static str, Vec<u8>)> {
        let q = question("boot.example.com");
        vec![
            (
                "query",
                [dns_header(0x1234, 0x0100, 1, 0), q.clone()].concat(),
            ),
            (
                "answer",
                [
                    dns_header(0x1234, 0x8180, 1, 1),
                    q.clone(),
                    a_record([10, 0, 0, 5]),
                ]
                .concat(),
            ),
            (
                "cname-chain",
                [
                    dns_header(0x1234, 0x8180, 1, 2),
                    q.clone(),
                    cname_record("real.example.net"),
                    // The A record names the CNAME target by pointer (offset 12 + q.len() + 12).
                    {
                        let ptr = 12 + q.len() + 12;
                        let mut r = vec![
                            0xc0 | (ptr >> 8) as u8,
                            ptr as u8,
                            0,
                            1,
                            0,
                            1,
                            0,
                            0,
                            0,
                            60,
                            0,
                            4,
                        ];
                        r.extend_from_slice(&[10, 0, 0, 6]);
                        r
                    },
                ]
                .concat(),
            ),
            (
                "nxdomain",
                [dns_header(0x1234, 0x8183, 1, 0), q.clone()].concat(),
            ),
            ("servfail", [dns_header(0x1234, 0x8182, 1, 0), q].concat()),
        ]
    }

    fn dns_exchanges() -> Vec<(&'static str, Vec<u8>)> {
        // ctrl bit 6: the target splices the outstanding question after our 12-byte header
        // and patches the id, so the payload is header + answers.
        let answer = |src: u8, flags: u16, answers: &[Vec<u8>]| {
            (
                ctrl(src, 0, false, true),
                [
                    dns_header(0, flags, 1, answers.len() as u16),
                    answers.concat(),
                ]
                .concat(),
            )
        };
        vec![
            (
                "answer",
                records(0, &[answer(0, 0x8180, &[a_record([10, 0, 0, 5])])]),
            ),
            (
                "cname-requery",
                records(
                    0,
                    &[
                        answer(0, 0x8180, &[cname_record("real.example.net")]),
                        answer(0, 0x8180, &[a_record([10, 0, 0, 6])]),
                    ],
                ),
            ),
            ("nxdomain", records(0, &[answer(0, 0x8183, &[])])),
            (
                "servfail-next",
                records(
                    0,
                    &[
                        answer(0, 0x8182, &[]),
                        answer(1, 0x8180, &[a_record([10, 0, 0, 7])]),
                    ],
                ),
            ),
            (
                "timeout-retry",
                records(0, &[tick(6), answer(0, 0x8180, &[a_record([10, 0, 0, 8])])]),
            ),
            ("truncated", records(0, &[answer(0, 0x8380, &[])])),
        ]
    }

    // ---- TFTP ----

    fn oack(options: &[(&str, &str)]) -> Vec<u8> {
        let mut p = vec![0, 6];
        for (k, v) in options {
            p.extend_from_slice(k.as_bytes());
            p.push(0);
            p.extend_from_slice(v.as_bytes());
            p.push(0);
        }
        p
    }

    fn tftp_packets() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("rrq", b"\x00\x01pxelinux.0\x00octet\x00blksize\x001432\x00tsize\x000\x00windowsize\x0016\x00".to_vec()),
            ("wrq-netascii", b"\x00\x02file\x00netascii\x00".to_vec()),
            ("data", [&b"\x00\x03\x00\x01"[..], &[0x55; 512]].concat()),
            ("ack", b"\x00\x04\x00\x07".to_vec()),
            ("error", b"\x00\x05\x00\x01File not found\x00".to_vec()),
            ("oack", oack(&[("blksize", "1432"), ("tsize", "123456"), ("windowsize", "16")])),
        ]
    }

    fn tftp_exchanges() -> Vec<(&'static str, Vec<u8>)> {
        let from_server = |p: Vec<u8>| (ctrl(0, 0, false, false), p);
        let data = |len: usize| (ctrl(0, 0, true, false), vec![0x41; len]);
        // First byte: blksize index (bits 0–1: none, 8, 512, 1432), windowsize index
        // (bits 2–3: none, 1, 4, 16), 0x10 tsize, 0x20 overall timeout.
        vec![
            (
                "oack-lockstep",
                records(
                    0x16,
                    &[
                        from_server(oack(&[
                            ("blksize", "512"),
                            ("windowsize", "1"),
                            ("tsize", "700"),
                        ])),
                        data(512),
                        data(188),
                    ],
                ),
            ),
            ("no-options", records(0, &[data(100)])),
            (
                "error",
                records(
                    0x16,
                    &[from_server(b"\x00\x05\x00\x01File not found\x00".to_vec())],
                ),
            ),
            (
                "refused-options",
                records(
                    0x16,
                    &[
                        from_server(b"\x00\x05\x00\x08no options\x00".to_vec()),
                        data(512),
                        data(3),
                    ],
                ),
            ),
            (
                "window",
                records(0x09, &{
                    let mut v = vec![from_server(oack(&[("blksize", "8"), ("windowsize", "4")]))];
                    v.extend((0..9).map(|_| data(8)));
                    v.push((ctrl(1, 0, false, false), b"\x00\x03\x00\x01stray".to_vec()));
                    v.push(data(3));
                    v
                }),
            ),
            (
                "retransmit",
                records(
                    0x26,
                    &[
                        tick(4),
                        from_server(oack(&[("blksize", "512")])),
                        tick(4),
                        data(0),
                    ],
                ),
            ),
        ]
    }

    // ---- HTTP ----

    fn http_responses() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello".to_vec()),
            ("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n".to_vec()),
            ("close", b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nuntil the end".to_vec()),
            ("continue", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n".to_vec()),
            ("redirect", b"HTTP/1.1 302 Found\r\nLocation: http://boot.example.com/other?x=1\r\nContent-Length: 0\r\n\r\n".to_vec()),
            ("auth", b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"boot\", Digest realm=\"x\", nonce=\"abc\"\r\nContent-Length: 0\r\n\r\n".to_vec()),
            ("range", b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/100\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n01234".to_vec()),
            ("not-found", b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_vec()),
        ]
    }

    fn head_only((name, r): (&'static str, Vec<u8>)) -> (&'static str, Vec<u8>) {
        let end = r
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(r.len(), |i| i + 4);
        (name, r[..end].to_vec())
    }

    /// Chunked bodies behind a split byte (0 = all at once).
    fn chunked_bodies() -> Vec<(String, Vec<u8>)> {
        let bodies: [(&str, &[u8]); 3] = [
            ("simple", b"5\r\nhello\r\n0\r\n\r\n"),
            (
                "ext-trailer",
                b"3;name=value\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nnext",
            ),
            ("bare-lf", b"4\nwiki\n5\npedia\n0\n\n"),
        ];
        bodies
            .iter()
            .flat_map(|(n, b)| {
                [
                    (n.to_string(), [&[0u8][..], b].concat()),
                    (format!("{n}-split"), [&[9u8][..], b].concat()),
                ]
            })
            .collect()
    }

    // ---- URIs and settings ----

    fn uris() -> Vec<(&'static str, Vec<u8>)> {
        let texts: [(&str, &str); 8] = [
            (
                "http",
                "http://user:p%40ss@boot.example.com:8080/a/b/c.ipxe?x=1&y=2#frag\n../d/e?z",
            ),
            ("tftp", "tftp://10.0.0.1/pxelinux.cfg/default\n/abs/path"),
            ("https-ipv6", "https://[fe80::1]/boot/\nkernel"),
            ("relative-dots", "http://h/a/b/c/d;p?q\n../../g"),
            ("file", "file:///boot/vmlinuz\nhttp://other/"),
            ("params", "http://h/boot.php##params=mine\n?only=query"),
            ("opaque", "urn:example:boot\nx"),
            ("percent", "http://h/%7Euser/a%20b\n%2e%2e/x"),
        ];
        texts
            .iter()
            .map(|(n, t)| (*n, t.as_bytes().to_vec()))
            .collect()
    }

    fn settings_texts() -> Vec<(&'static str, Vec<u8>)> {
        let texts: [(&str, &str); 5] = [
            (
                "basic",
                "net0/ip=10.0.0.2\nhostname=client\n${net0/ip}-${hostname}-${missing}",
            ),
            (
                "typed",
                "x:hex=01:02:ff\nn:uint16=513\nu:uuid=01234567-89ab-cdef-0123-456789abcdef\n${x:hexhyp} ${n} ${u} ${x:base64}",
            ),
            ("nested", "a=b\nb=c\nc=done\n${${${a}}}"),
            (
                "netx",
                "netX/mac=52:54:00:12:34:56\n66=tftp.example\n${netX/mac} ${66} ${net0/mac:hexraw}",
            ),
            ("clear", "v=1\nv\n[${v}]"),
        ];
        texts
            .iter()
            .map(|(n, t)| (*n, t.as_bytes().to_vec()))
            .collect()
    }

    // ---- Scripts ----

    /// Every `.ipxe` file of the repository (outside `target/` and `fuzz/`).
    fn scripts() -> Vec<(String, Vec<u8>)> {
        let root = util::root();
        let mut files = Vec::new();
        collect_scripts(&root, &root, &mut files);
        files.sort();
        let mut out: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .filter_map(|p| {
                let data = fs::read(&p).ok()?;
                let name = p
                    .strip_prefix(&root)
                    .ok()?
                    .to_string_lossy()
                    .replace('/', "_");
                Some((name, data))
            })
            .collect();
        out.push((
            "loops".into(),
            b"#!ipxe\nset i 0\n:top\ninc i\niseq ${i} 100 || goto top\nsleep 99999\nprompt --timeout 0 wait\n:a\ngoto a\n".to_vec(),
        ));
        out.push((
            "menu-fetch".into(),
            b"#!ipxe\nmenu Boot\nitem --key l linux Linux\nitem shell Shell\nchoose --timeout 3000 --default linux sel && goto ${sel}\n:linux\nkernel http://h/vmlinuz initrd=x console=ttyS0\ninitrd http://h/missing || echo none\nimgstat\nboot\n:shell\nshell\n#@file\n#!ipxe\necho fetched ${cwuri}\nexit 3\n".to_vec(),
        ));
        out
    }

    fn collect_scripts(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if dir == root && matches!(name.as_ref(), "target" | "fuzz" | ".git") {
                    continue;
                }
                collect_scripts(root, &path, out);
            } else if name.ends_with(".ipxe") {
                out.push(path);
            }
        }
    }

    /// What a server might answer a ClientHello with (split byte 0: all at once): a fatal
    /// alert, a TLS 1.2 and a TLS 1.0 ServerHello, and plain HTTP.
    fn tls_server_flights() -> Vec<(&'static str, Vec<u8>)> {
        let server_hello = |minor: u8| {
            let mut body = vec![0x03, minor];
            body.extend([0x5a; 32]); // random
            body.extend([0x00, 0xc0, 0x2f, 0x00]); // no session id, ECDHE-RSA-AES128-GCM, null
            let mut msg = vec![0x02, 0x00, 0x00, body.len() as u8];
            msg.extend(body);
            let mut record = vec![0x00, 0x16, 0x03, minor, 0x00, msg.len() as u8];
            record.extend(msg);
            record
        };
        vec![
            (
                "alert-handshake-failure",
                vec![0, 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
            ),
            ("server-hello-tls12", server_hello(3)),
            ("server-hello-tls10", server_hello(1)),
            (
                "plain-http",
                b"\x00HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
            ),
        ]
    }

    // ---- Images ----

    /// The CMS test fixtures (`crates/netboot-core/tests/fixtures/cms/`, made by its
    /// `make.sh`) with one of these extensions: signatures, certificates.
    fn cms_fixtures(extensions: &[&str]) -> Vec<(String, Vec<u8>)> {
        let dir = util::root().join("crates/netboot-core/tests/fixtures/cms");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions.contains(&e))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|p| {
                let name = p.file_name()?.to_string_lossy().into_owned();
                Some((name, read_capped(&p, SEED_CAP)?))
            })
            .collect()
    }

    fn read_capped(path: &Path, cap: usize) -> Option<Vec<u8>> {
        let mut data = fs::read(path).ok()?;
        data.truncate(cap);
        Some(data)
    }

    /// Real images by kind: the provisioned test kernel and initrd, and iPXE's builds in
    /// /usr/lib/ipxe when the ipxe package is installed.
    fn images(kinds: &[&str]) -> Vec<(String, Vec<u8>)> {
        let assets = util::out_dir().join("assets");
        let mut out = Vec::new();
        for kind in kinds {
            let paths: Vec<PathBuf> = match *kind {
                "vmlinuz" => vec![assets.join("vmlinuz")],
                "initrd" => vec![assets.join("initrd.cpio.gz")],
                other => ipxe_files(other),
            };
            let cap = if *kind == "iso" {
                ISO_SEED_CAP
            } else {
                SEED_CAP
            };
            for p in paths {
                if let Some(data) = read_capped(&p, cap) {
                    let name = p
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    out.push((name, data));
                }
            }
        }
        out
    }

    fn ipxe_files(ext: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir("/usr/lib/ipxe")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == ext))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A newc header for `name` with `filesize` bytes.
    fn newc(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
        let mut h = String::from("070701");
        let fields = [
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        for f in fields {
            h.push_str(&format!("{f:08X}"));
        }
        let mut out = h.into_bytes();
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn cpio_seeds() -> Vec<(String, Vec<u8>)> {
        let small = [
            newc("etc", 0o40755, b""),
            newc("etc/hostname", 0o100644, b"client\n"),
            newc("TRAILER!!!", 0, b""),
        ]
        .concat();
        let mut out = vec![("small".to_string(), small)];
        // The provisioned initrd, decompressed by gzip(1) when available.
        let initrd = util::out_dir().join("assets").join("initrd.cpio.gz");
        if initrd.exists()
            && let Ok(o) = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(&initrd)
                .output()
            && !o.stdout.is_empty()
        {
            let mut data = o.stdout;
            data.truncate(SEED_CAP);
            out.push(("initrd.cpio".into(), data));
        }
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    /// A final stored deflate block holding `data`.
    fn stored(data: &[u8]) -> Vec<u8> {
        let len = data.len() as u16;
        let mut out = vec![1];
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn inflate_seeds() -> Vec<(String, Vec<u8>)> {
        let text = b"#!ipxe\necho hello from a gzip member\n";
        let mut gz = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
        gz.extend_from_slice(b"boot.ipxe\0");
        gz.extend_from_slice(&stored(text));
        gz.extend_from_slice(&crc32(text).to_le_bytes());
        gz.extend_from_slice(&(text.len() as u32).to_le_bytes());
        let mut zlib = vec![0x78, 0x01];
        zlib.extend_from_slice(&stored(text));
        zlib.extend_from_slice(&adler32(text).to_be_bytes());
        // A fixed-Huffman block: "a" then end of block (deflate of b"a").
        let fixed = vec![0x4b, 0x04, 0x00];
        let mut out = vec![
            ("gzip-stored".to_string(), gz),
            ("zlib-stored".into(), zlib),
            ("raw-fixed".into(), fixed),
        ];
        // The real initrd's first 16 KiB: dynamic Huffman blocks without megabyte inputs
        // (each would inflate to the 1 MiB limit three times per execution).
        let initrd = util::out_dir().join("assets").join("initrd.cpio.gz");
        if let Some(data) = read_capped(&initrd, 16 << 10) {
            out.push(("initrd.cpio.gz-16k".into(), data));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libfuzzer_done_line() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #123456\tDONE   cov: 812 ft: 2301 corp: 345/12Kb lim: 4096 exec/s: 24691 rss: 61Mb\n\
                   Done 123456 runs in 5 second(s)\n";
        let mut r = RunResult::default();
        parse_libfuzzer(log, &mut r);
        assert_eq!(r.executions, Some(123_456));
        assert_eq!(r.exec_per_s, Some(24_691));
        assert_eq!(r.coverage, Some(812));
        assert_eq!(r.corpus, Some(345));
        assert_eq!(r.artifact, None);
    }

    #[test]
    fn finds_the_crash_artifact() {
        let log = "==1== ERROR: libFuzzer: deadly signal\n\
                   artifact_prefix='/w/fuzz/artifacts/uri/'; Test unit written to /w/fuzz/artifacts/uri/crash-abc\n";
        let mut r = RunResult::default();
        parse_libfuzzer(log, &mut r);
        assert_eq!(
            r.artifact.as_deref(),
            Some("/w/fuzz/artifacts/uri/crash-abc")
        );
        assert_eq!(r.executions, None);
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["--seconds", "7", "uri", "--jobs", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_options(&args).expect("valid");
        assert_eq!(
            (o.seconds, o.jobs, o.targets.as_slice()),
            (7, 2, &["uri".to_string()][..])
        );
        assert!(parse_options(&["--bogus".to_string()]).is_err());
    }
}
