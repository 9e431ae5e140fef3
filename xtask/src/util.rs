//! Small helpers shared by the xtask commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Errors carry a message that says what failed and why.
pub type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `target/netboot`, where the firmwares, assets and scenario runs go.
pub fn out_dir() -> PathBuf {
    root().join("target").join("netboot")
}

/// A command with arguments.
pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Shell-like rendering of a command, for messages.
pub fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `c` with inherited output under a visible heading; fails if it fails.
pub fn step(title: &str, c: &mut Command) -> Result<()> {
    eprintln!("==> {title}: {}", describe(c));
    run(c)
}

/// Runs `c` with inherited output; fails with the command line if it exits non-zero.
pub fn run(c: &mut Command) -> Result<()> {
    let status = c
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(c)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", describe(c)).into())
    }
}

/// Runs `c` and returns its standard output; stderr is passed through.
pub fn output(c: &mut Command) -> Result<String> {
    let out = c
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(c)))?;
    if !out.status.success() {
        return Err(format!("`{}` failed with {}", describe(c), out.status).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The number after a command-line flag such as `--jobs N`: at least 1, with a clear
/// error when it is missing or not a number.
pub fn count_arg<'a, T: std::str::FromStr + Ord + From<u8>>(
    it: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<T> {
    let n = it.next().ok_or_else(|| format!("{flag} needs a number"))?;
    let value: T = n
        .parse()
        .map_err(|_| format!("{flag} {n:?}: not a number"))?;
    Ok(value.max(T::from(1)))
}

/// Human-readable byte count with the exact number.
pub fn size_text(bytes: u64) -> String {
    format!("{bytes} B ({:.1} KiB)", bytes as f64 / 1024.0)
}

/// Sends SIGTERM to a process (used for servers that clean up on it).
pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Free bytes on the file system holding `path`, as `df` reports them (`None` when `df`
/// cannot tell).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_positive_numbers() {
        let args: Vec<String> = ["0", "7", "x"].iter().map(|s| s.to_string()).collect();
        let mut it = args.iter();
        assert_eq!(
            count_arg::<usize>(&mut it, "--jobs").expect("0 is raised to 1"),
            1
        );
        assert_eq!(count_arg::<u64>(&mut it, "--jobs").expect("a number"), 7);
        let err = count_arg::<u64>(&mut it, "--jobs").expect_err("not a number");
        assert!(
            err.to_string().contains("--jobs \"x\": not a number"),
            "{err}"
        );
        let err = count_arg::<u64>(&mut it, "--runs").expect_err("missing");
        assert!(err.to_string().contains("--runs needs a number"), "{err}");
    }

    #[test]
    fn describe_joins_program_and_arguments() {
        assert_eq!(describe(&cmd("ip", &["netns", "list"])), "ip netns list");
    }

    #[test]
    fn failing_commands_are_errors_with_their_command_line() {
        let err = run(&mut cmd("false", &[])).expect_err("false fails");
        assert!(err.to_string().contains("`false` failed"), "{err}");
        let err = output(&mut cmd("/nonexistent/program", &[])).expect_err("no such program");
        assert!(err.to_string().contains("cannot start"), "{err}");
    }
}
