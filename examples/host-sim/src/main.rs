//! `netboot-sim`: the host simulator. It drives the same shared runtime as the firmwares,
//! with the host's terminal as console.
//!
//! Commands today: `netboot-sim version` (the banner and what the build embeds). The
//! `run`, `check` and `probe` commands arrive with the network stack, the script
//! interpreter and the image probes.

use netboot_core::platform::{Console, Key};
use std::fmt;
use std::io::Write;
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

const USAGE: &str = "usage: netboot-sim version\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["version"] | ["--version"] => match netboot_core::startup::announce(&mut HostConsole) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        },
        ["help"] | ["--help"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
