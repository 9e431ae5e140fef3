//! The simulator's command-line interface, run as a user would.

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netboot-sim"))
        .args(args)
        .output()
        .expect("netboot-sim runs")
}

#[test]
fn version_prints_the_banner_first() {
    let out = sim(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(
        text.lines().next(),
        Some(concat!("netboot ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn unknown_commands_fail_with_usage() {
    let out = sim(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: netboot-sim"));
}
