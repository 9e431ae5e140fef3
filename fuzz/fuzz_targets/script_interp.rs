//! The script interpreter over `netboot_fuzz::FuzzRuntime`: no network, a virtual clock
//! (no real sleeping) and a budget of steps and time, so `sleep 99999`, `:a goto a` and
//! `shell` end the run instead of hanging it.
//!
//! Input: the script; after a line `#@file`, the bytes every fetch returns (otherwise
//! fetches return the script itself, so `chain` recurses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_fuzz::{FuzzRuntime, install_budget_hook, run_bounded};
use netboot_script::Interpreter;

const SEPARATOR: &[u8] = b"\n#@file\n";

fuzz_target!(init: install_budget_hook(), |data: &[u8]| {
    let (script, file) = match data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        Some(i) => (&data[..i + 1], &data[i + SEPARATOR.len()..]),
        None => (data, data),
    };
    let mut rt = FuzzRuntime::new(file);
    let mut interp = Interpreter::new();
    let _ = run_bounded(|| {
        let rc = interp.run_script(&mut rt, script);
        if let Err(e) = rc {
            let _ = (e.code(), e.to_string());
        }
    });
    // The first line again, the way the shell runs lines.
    if let Some(line) = script.split(|&b| b == b'\n').nth(1)
        && let Ok(line) = core::str::from_utf8(line)
    {
        // A fresh interpreter: an unwound run leaves its state half-way.
        let mut interp = Interpreter::new();
        let mut rt = FuzzRuntime::new(file);
        let _ = run_bounded(|| interp.run_line(&mut rt, line));
    }
});
