//! The script compatibility suite through `netboot-sim run`: every script of
//! `crates/netboot-script/tests/compat/` that needs neither scripted keys nor files
//! (those run in the crate's own test with a recording runtime) runs in the simulator,
//! and its console output and status must match the expected files.

use crate::firmware::Firmware;
use crate::util::{self, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Directives and commands that need the recording runtime (virtual keys, served files).
const NEEDS_RECORDER: &[&str] = &[
    "#@keys", "#@top", "imgfetch", "chain", "kernel", "initrd", "module", "dhcp", "ifconf",
    "imgexec", "boot",
];

/// Runs the suite; prints `compat: N passed, N failed, N skipped`.
pub fn run(fw: &Firmware) -> Result<()> {
    let dir = util::root().join("crates/netboot-script/tests/compat");
    let mut scripts: Vec<_> = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ipxe"))
        .collect();
    scripts.sort();
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for script in &scripts {
        let text = fs::read_to_string(script)?;
        if NEEDS_RECORDER.iter().any(|d| text.contains(d)) {
            skipped += 1;
            continue;
        }
        match check_one(fw, script) {
            Ok(()) => passed += 1,
            Err(e) => {
                eprintln!("FAIL compat {}: {e}", script.display());
                failed.push(
                    script
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
            }
        }
    }
    println!(
        "compat: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("compat scripts failed: {}", failed.join(", ")).into())
    }
}

fn check_one(fw: &Firmware, script: &Path) -> Result<()> {
    let expected = fs::read_to_string(script.with_extension("out"))?;
    let status = fs::read_to_string(script.with_extension("status"))?;
    let status = parse_status(status.trim())
        .ok_or_else(|| format!("bad status file for {}", script.display()))?;
    let out = Command::new(fw.file("netboot-sim"))
        .arg("run")
        .arg("--quiet")
        .arg(script)
        .output()?;
    let stdout = netboot_script::testing::normalise_console(&String::from_utf8_lossy(&out.stdout));
    let code = out.status.code().ok_or("netboot-sim was killed")?;
    let want_code = if status == 0 {
        0
    } else {
        u8::try_from(status)
            .ok()
            .filter(|&c| c != 0)
            .map_or(1, i32::from)
    };
    if code != want_code {
        return Err(format!(
            "exit status {code}, expected {want_code} (script status {status:#x})"
        )
        .into());
    }
    if !output_matches(&stdout, &expected, status) {
        return Err(
            format!("output differs:\n--- expected\n{expected}--- got\n{stdout}---").into(),
        );
    }
    Ok(())
}

fn parse_status(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The simulator prints why a failed script stopped, as firmware does; the recording
/// runtime does not. So a failing script may add exactly that one line.
fn output_matches(got: &str, expected: &str, status: u32) -> bool {
    if got == expected {
        return true;
    }
    let Some(extra) = got.strip_prefix(expected) else {
        return false;
    };
    status != 0
        && extra.lines().count() == 1
        && extra.trim_end().ends_with(&format!("[{status:#010x}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_final_error_lines() {
        assert_eq!(parse_status("0"), Some(0));
        assert_eq!(parse_status("0x2e402100"), Some(0x2e40_2100));
        assert_eq!(parse_status("junk"), None);
        assert!(output_matches("a\n", "a\n", 0));
        assert!(output_matches("a\nstopped [0x00000003]\n", "a\n", 3));
        assert!(!output_matches("a\nstopped [0x00000003]\n", "a\n", 0));
        assert!(!output_matches("a\nb\nstopped [0x00000003]\n", "a\n", 3));
        assert!(!output_matches("b\n", "a\n", 0));
    }
}
