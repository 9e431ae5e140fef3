//! `netboot-sim`: the host simulator. It drives the same shared runtime as the firmwares,
//! with the host's terminal as console and a TAP device (through smoltcp, not the kernel's
//! IP stack) as NIC.
//!
//! ```text
//! netboot-sim version
//! netboot-sim run [--tap IFACE] [--mac MAC] [--set NAME=VALUE]… [--quiet] [--prompt MS] [--shell]
//!                 [--pci DIR|none] [--smbios DIR|none] [--keys KEYS] [--files DIR] [--lines]
//!                 [--trust CA.pem]… [--no-builtin-trust] SCRIPT
//! netboot-sim check SCRIPT…
//! netboot-sim probe FILE…
//! ```
//!
//! `run` executes SCRIPT (a file path, or `-` for standard input) with the same runtime
//! and script interpreter as the firmwares; `autoboot` does what a firmware does without
//! an embedded script (DHCP on each NIC, then chain the DHCP boot file). `boot`, `chain`
//! or `imgexec` of an executable image print one line `BOOT {json}` describing what would
//! start (format, name, command line, initrds with size and SHA-256) and exit 0. Download
//! details go to standard error unless `--quiet`. Keys come from standard input (a
//! terminal is put in raw mode, so Ctrl-C cancels a download rather than the process):
//! `--prompt MS` offers the Ctrl-B window before booting, `--shell` opens the command line
//! after a failure, and the `shell`, `menu`/`choose`, `prompt` and `read` commands work.
//! `--keys "<ms>:<key> …"` types keys instead of reading standard input (`CR`, `ESC`,
//! `UP`, `DOWN`, `TAB`, `CTRLC`, `BS`, `SP` or a character, at milliseconds after the
//! start), `--files DIR` answers every download from DIR by the URI's last path segment
//! (no network needed), and `--lines` runs the script's lines as shell lines. Together
//! they run the compatibility suite (`cargo xtask compat`). `${unixtime}` follows the
//! host's clock. The `pci/` scope and `pciscan` read
//! `/sys/bus/pci/devices` (or `--pci DIR` with `SSSS:BB:DD.F/config` files, or `--pci
//! none`); the `smbios/` scope reads `/sys/firmware/dmi/tables` (`DMI` and
//! `smbios_entry_point`, readable by root; or `--smbios DIR|none`). HTTPS and `imgverify`
//! trust the build's roots (the public set, and `NETBOOT_TRUST`'s) plus every CA in the
//! PEM files given with `--trust`; `--no-builtin-trust` starts from no roots at all.

mod tap;

use netboot_script::Runtime;
use netboot_script::machine::Machine;
use std::io::Read;
use std::process::ExitCode;
use tap::{HostConsole, HostPlatform};

const USAGE: &str = "\
usage: netboot-sim version
       netboot-sim run [--tap IFACE] [--mac MAC] [--set NAME=VALUE]... [--quiet] [--prompt MS] [--shell]
                       [--pci DIR|none] [--smbios DIR|none] [--keys KEYS] [--files DIR] [--lines]
                       [--trust CA.pem]... [--no-builtin-trust] SCRIPT|-|autoboot
       netboot-sim check SCRIPT...
       netboot-sim probe FILE...
";

/// `probe`: one JSON object per file: format, arch, where it boots, details, problems.
fn probe(paths: &[String]) -> ExitCode {
    if paths.is_empty() {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    for path in paths {
        match std::fs::read(path) {
            Ok(data) => {
                let mut members = String::new();
                let _ = netboot_image::probe(&data).write_json(&mut members);
                println!(
                    "{{\"file\":{},{members}}}",
                    serde_json::Value::from(path.as_str())
                );
            }
            Err(e) => {
                eprintln!("netboot-sim probe: {path}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

/// `check`: lints scripts; prints `file:line: severity: message`; fails on errors.
fn check(paths: &[String]) -> ExitCode {
    if paths.is_empty() {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut errors = 0;
    for path in paths {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                println!("{path}: error: cannot read: {e}");
                errors += 1;
                continue;
            }
        };
        for d in netboot_script::lint::check(&bytes) {
            if d.severity == netboot_script::lint::Severity::Error {
                errors += 1;
            }
            println!("{path}:{d}");
        }
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Options of `run`.
struct RunArgs {
    tap: Option<String>,
    mac: [u8; 6],
    sets: Vec<(String, String)>,
    quiet: bool,
    prompt_ms: u64,
    shell: bool,
    script: String,
    pci: Option<Option<std::path::PathBuf>>,
    smbios: Option<Option<std::path::PathBuf>>,
    keys: Option<String>,
    files: Option<std::path::PathBuf>,
    lines: bool,
    /// `--trust`: PEM files of CAs to trust.
    trust: Vec<std::path::PathBuf>,
    /// Without `--no-builtin-trust`: start from the build's roots.
    builtin_trust: bool,
}

/// `DIR` or `none`.
fn dir_or_none(text: String) -> Option<std::path::PathBuf> {
    (text != "none").then(|| text.into())
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split([':', '-'])
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

fn parse_run(args: &[String]) -> Result<RunArgs, String> {
    let mut run = RunArgs {
        tap: None,
        mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        sets: Vec::new(),
        quiet: false,
        prompt_ms: 0,
        shell: false,
        script: String::new(),
        pci: None,
        smbios: None,
        keys: None,
        files: None,
        lines: false,
        trust: Vec::new(),
        builtin_trust: true,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs {what}"))
        };
        match arg.as_str() {
            "--tap" => run.tap = Some(value("an interface name")?),
            "--mac" => {
                let text = value("a MAC address")?;
                run.mac =
                    parse_mac(&text).ok_or_else(|| format!("--mac {text:?}: not a MAC address"))?;
            }
            "--set" => {
                let text = value("NAME=VALUE")?;
                let (n, v) = text
                    .split_once('=')
                    .ok_or_else(|| format!("--set {text:?}: expected NAME=VALUE"))?;
                run.sets.push((n.to_string(), v.to_string()));
            }
            "--quiet" => run.quiet = true,
            "--lines" => run.lines = true,
            "--keys" => {
                let spec = value("key presses (<ms>:<key> ...)")?;
                netboot_script::testing::parse_keys(&spec).map_err(|e| format!("--keys: {e}"))?;
                run.keys = Some(spec);
            }
            "--files" => run.files = Some(value("a directory")?.into()),
            "--trust" => run
                .trust
                .push(value("a PEM file of CA certificates")?.into()),
            "--no-builtin-trust" => run.builtin_trust = false,
            "--pci" => run.pci = Some(dir_or_none(value("a directory or none")?)),
            "--smbios" => run.smbios = Some(dir_or_none(value("a directory or none")?)),
            "--shell" => run.shell = true,
            "--prompt" => {
                let text = value("milliseconds")?;
                run.prompt_ms = text
                    .parse()
                    .map_err(|_| format!("--prompt {text:?}: not a number of milliseconds"))?;
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s if run.script.is_empty() => run.script = s.to_string(),
            s => return Err(format!("unexpected argument {s:?}")),
        }
    }
    if run.script.is_empty() {
        return Err("run needs a SCRIPT".into());
    }
    Ok(run)
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    let script = match args.script.as_str() {
        "autoboot" => None,
        "-" => {
            let mut s = Vec::new();
            std::io::stdin()
                .read_to_end(&mut s)
                .map_err(|e| format!("standard input: {e}"))?;
            Some(s)
        }
        path => Some(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?),
    };
    let nic = match args.tap.as_deref() {
        Some(name) => Some((args.mac, tap::open(name)?)),
        None => None,
    };
    if args.lines && script.is_none() {
        return Err("--lines needs a SCRIPT, not autoboot".into());
    }
    let mut platform = HostPlatform::new(nic);
    if let Some(spec) = &args.keys {
        let keys = netboot_script::testing::parse_keys(spec).map_err(|e| format!("--keys: {e}"))?;
        platform.console_mut().script_keys(keys);
    }
    if let Some(dir) = &args.files {
        if !dir.is_dir() {
            return Err(format!("--files {}: not a directory", dir.display()));
        }
        platform.files = Some(dir.clone());
    }
    platform.verbose = !args.quiet;
    if let Some(pci) = args.pci {
        platform.pci_root = pci;
    }
    if let Some(smbios) = args.smbios {
        platform.smbios_root = smbios;
    }
    let mut machine = Machine::new(platform);
    if !args.builtin_trust {
        *machine.trust_mut() = netboot_core::tls::TrustStore::empty();
    }
    for path in &args.trust {
        let pem = std::fs::read(path).map_err(|e| format!("--trust {}: {e}", path.display()))?;
        machine
            .trust_mut()
            .add_pem(&pem)
            .map_err(|e| format!("--trust {}: {e}", path.display()))?;
    }
    machine.set_prompt_ms(args.prompt_ms);
    machine.set_shell_on_failure(args.shell);
    for (name, value) in &args.sets {
        machine
            .settings()
            .set(name, value)
            .map_err(|e| format!("--set {name}: {e}"))?;
    }
    // Like the firmwares: the script runs as if embedded; no script means autoboot.
    let status = match (&script, args.lines) {
        (Some(text), true) => machine.run_lines(text),
        _ => machine.run(script.as_deref()),
    };
    Ok(if status == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit_byte(status))
    })
}

/// A process exit status for a netboot status: `exit N` codes as they are, other
/// failures as 1.
fn exit_byte(status: u32) -> u8 {
    u8::try_from(status).ok().filter(|&b| b != 0).unwrap_or(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "run" => match parse_run(rest).and_then(run) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("netboot-sim: {e}");
                ExitCode::from(2)
            }
        },
        Some((cmd, rest)) if cmd == "check" => check(rest),
        Some((cmd, rest)) if cmd == "probe" => probe(rest),
        Some((cmd, [])) if cmd == "version" || cmd == "--version" => {
            match netboot_core::startup::announce(&mut HostConsole::new()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Some((cmd, _)) if cmd == "help" || cmd == "--help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
