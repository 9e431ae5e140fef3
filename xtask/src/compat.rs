//! The script compatibility suite through `netboot-sim run`: every script of
//! `crates/netboot-script/tests/compat/` runs in the simulator, with the same inputs the
//! crate's recording runtime gives it (`#@keys` as `--keys`, the files of `files/` served
//! by `--files`, `#@top` as `--lines`), and its console output and status must match the
//! expected files.
//!
//! Where the simulator's real runtime legitimately differs from the recording runtime
//! (it really boots and stops at `boot`, has no NIC for `dhcp`, exits on `reboot`, reads
//! the real CPUID), the script has its own `NAME.sim.out`/`NAME.sim.status`; otherwise
//! `NAME.out`/`NAME.status` apply to both. Set `BLESS=1` to write missing `.sim.*`
//! files for scripts whose simulator output differs (then review them).

use crate::firmware::Firmware;
use crate::util::{self, Result};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A script that takes longer than this in the simulator is a failure (a hang).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the suite; prints `compat: N passed, N failed`.
pub fn run(fw: &Firmware) -> Result<()> {
    let dir = util::root().join("crates/netboot-script/tests/compat");
    let mut scripts: Vec<_> = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ipxe"))
        .collect();
    scripts.sort();
    let bless = std::env::var_os("BLESS").is_some();
    let (mut passed, mut failed) = (0, Vec::new());
    for script in &scripts {
        match check_one(fw, &dir, script, bless) {
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
    println!("compat: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("compat scripts failed: {}", failed.join(", ")).into())
    }
}

/// The simulator's arguments for a script: its directives turned into options.
fn sim_args(dir: &Path, script: &Path, text: &str) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--quiet", "--pci", "none", "--smbios", "none"]
        .map(String::from)
        .to_vec();
    args.push("--files".into());
    args.push(dir.join("files").display().to_string());
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#@keys "))
        .collect();
    if !keys.is_empty() {
        args.push("--keys".into());
        args.push(keys.join(" "));
    }
    if text.lines().any(|l| l.trim() == "#@top") {
        args.push("--lines".into());
    }
    args.push(script.display().to_string());
    args
}

/// The expected output and status files: the simulator's own if it has them.
fn expected_files(script: &Path) -> (PathBuf, PathBuf) {
    let sim_out = script.with_extension("sim.out");
    if sim_out.exists() {
        (sim_out, script.with_extension("sim.status"))
    } else {
        (
            script.with_extension("out"),
            script.with_extension("status"),
        )
    }
}

/// Runs the simulator with a time limit; (stdout, exit code).
fn run_sim(fw: &Firmware, args: &[String]) -> Result<(String, i32)> {
    let mut child = Command::new(fw.file("netboot-sim"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no result after {} s (a hang?)", SCRIPT_TIMEOUT.as_secs()).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().map_err(|_| "stdout reader panicked")?;
    let code = status.code().ok_or("netboot-sim was killed")?;
    Ok((String::from_utf8_lossy(&out).into_owned(), code))
}

fn check_one(fw: &Firmware, dir: &Path, script: &Path, bless: bool) -> Result<()> {
    let text = fs::read_to_string(script)?;
    let (raw, code) = run_sim(fw, &sim_args(dir, script, &text))?;
    let stdout = netboot_script::testing::normalise_console(&raw);
    let (out_path, status_path) = expected_files(script);
    let expected = fs::read_to_string(&out_path)?;
    let status = fs::read_to_string(&status_path)?;
    let status = parse_status(status.trim())
        .ok_or_else(|| format!("bad status file {}", status_path.display()))?;
    let want_code = exit_code(status);
    let matches = code == want_code && output_matches(&stdout, &expected, status);
    if !matches && bless && !out_path.to_string_lossy().ends_with(".sim.out") {
        // A first simulator expectation: the status the exit code and the final error
        // line stand for.
        let sim_status = match code {
            0 => "0".to_string(),
            1 => final_status(&stdout).map_or_else(|| "1".into(), |s| format!("{s:#010x}")),
            c => format!("{c}"),
        };
        fs::write(script.with_extension("sim.out"), &stdout)?;
        fs::write(
            script.with_extension("sim.status"),
            format!("{sim_status}\n"),
        )?;
        println!(
            "compat: wrote {} (review it)",
            script.with_extension("sim.out").display()
        );
        return Ok(());
    }
    if code != want_code {
        return Err(format!(
            "exit status {code}, expected {want_code} (script status {status:#x}); output:\n{stdout}"
        )
        .into());
    }
    if !output_matches(&stdout, &expected, status) {
        return Err(format!(
            "output differs from {}:\n--- expected\n{expected}--- got\n{stdout}---",
            out_path.display()
        )
        .into());
    }
    Ok(())
}

/// The status in the simulator's final error line (`… [0x2d40e100]`).
fn final_status(stdout: &str) -> Option<u32> {
    let last = stdout.trim_end().lines().last()?;
    let code = last.strip_suffix(']')?.rsplit_once("[0x")?.1;
    u32::from_str_radix(code, 16).ok()
}

/// The process exit status netboot-sim gives for a script status: `exit N` codes as they
/// are, other failures as 1.
fn exit_code(status: u32) -> i32 {
    if status == 0 {
        0
    } else {
        u8::try_from(status)
            .ok()
            .filter(|&c| c != 0)
            .map_or(1, i32::from)
    }
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
        assert_eq!(
            (exit_code(0), exit_code(3), exit_code(0x2d40_e100)),
            (0, 3, 1)
        );
        assert_eq!(
            final_status("a\nno such file [0x2d40e100]\n"),
            Some(0x2d40_e100)
        );
        assert_eq!(final_status("a\n"), None);
    }

    #[test]
    fn directives_become_simulator_options() {
        let dir = Path::new("/c");
        let script = Path::new("/c/s.ipxe");
        let args = sim_args(dir, script, "#!ipxe\n#@keys 1:a 2:CR\n#@keys 3:b\necho\n");
        let keys = args.iter().position(|a| a == "--keys").expect("--keys");
        assert_eq!(args[keys + 1], "1:a 2:CR 3:b");
        assert!(args.contains(&"/c/files".to_string()));
        assert!(!args.contains(&"--lines".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("/c/s.ipxe"));
        assert!(sim_args(dir, script, "#@top\necho\n").contains(&"--lines".to_string()));
    }
}
