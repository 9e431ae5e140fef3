//! `netboot-sim`: the host simulator. It drives the same shared runtime as the firmwares,
//! with the host's terminal as console and a TAP device (through smoltcp, not the kernel's
//! IP stack) as NIC.
//!
//! ```text
//! netboot-sim version
//! netboot-sim run [--tap IFACE] [--mac MAC] [--set NAME=VALUE]… [--quiet] SCRIPT
//! ```
//!
//! `run` executes SCRIPT (a file path, or `-` for standard input; `autoboot` does what the
//! firmware does without a script: `dhcp`, then chain the DHCP boot file). `boot`,
//! `chain` or `imgexec` of an executable image print one line `BOOT {json}` describing
//! what would start and exit 0. Until the netboot-script interpreter is wired in, `run`
//! understands a subset of the language (see `runner.rs`).

mod machine;
mod runner;
mod tap;

use machine::Machine;
use netboot_core::net::NetDevice;
use netboot_core::platform::{Console, Key};
use std::fmt;
use std::io::{Read, Write};
use std::process::ExitCode;

/// The host terminal as a netboot console (output only for now).
struct HostConsole;

impl fmt::Write for HostConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // The runtime writes CRLF for firmware consoles; a terminal wants LF.
        std::io::stdout()
            .write_all(s.replace("\r\n", "\n").as_bytes())
            .map_err(|_| fmt::Error)
    }
}

impl Console for HostConsole {
    fn poll_key(&mut self) -> Option<Key> {
        None
    }
}

const USAGE: &str = "\
usage: netboot-sim version
       netboot-sim run [--tap IFACE] [--mac MAC] [--set NAME=VALUE]... [--quiet] SCRIPT|-|autoboot
";

/// Options of `run`.
struct RunArgs {
    tap: Option<String>,
    mac: [u8; 6],
    sets: Vec<(String, String)>,
    quiet: bool,
    script: String,
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
        script: String::new(),
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
    let text = match args.script.as_str() {
        "autoboot" => None,
        "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("standard input: {e}"))?;
            Some(s)
        }
        path => Some(std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?),
    };
    let device = args.tap.as_deref().map(tap::open).transpose()?;
    let mut waiter = tap::HostWaiter::new(device.as_ref());
    waiter.show_progress = !args.quiet;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let net = device.map(|d| NetDevice::new("net0", d, args.mac, seed, 0));
    let mut machine = Machine::new(net, waiter);
    for (name, value) in &args.sets {
        machine
            .settings
            .set(name, value)
            .map_err(|e| format!("--set {name}: {e}"))?;
    }
    let text = match text {
        Some(text) => text,
        None => autoboot_script(&mut machine)?,
    };
    Ok(match runner::run(&mut machine, &text) {
        runner::Ended::Finished | runner::Ended::Booted => ExitCode::SUCCESS,
        runner::Ended::Failed(code) => ExitCode::from(code.clamp(1, 255) as u8),
    })
}

/// Autoboot: DHCP, then chain the boot file relative to next-server.
fn autoboot_script(m: &mut Machine) -> Result<String, String> {
    m.dhcp().map_err(|e| e.to_string())?;
    let uri = m
        .boot_uri()
        .map_err(|e| e.to_string())?
        .ok_or("DHCP gave no boot filename: nothing to boot")?;
    Ok(format!("#!ipxe\nchain {uri}\n"))
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
        Some((cmd, [])) if cmd == "version" || cmd == "--version" => {
            match netboot_core::startup::announce(&mut HostConsole) {
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
