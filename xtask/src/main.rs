//! `cargo xtask`: the project's automation.
//!
//! - `cargo xtask demo` — provision, build `netboot.efi` with the demo script embedded,
//!   serve a real Linux kernel and initrd over HTTP from the host and boot it in QEMU.
//! - `cargo xtask test` — provision, then every test: format and lint gates, unit and doc
//!   tests, firmware builds and the QEMU scenarios.
//! - `cargo xtask build` — the firmwares into `target/netboot/` (`NETBOOT_EMBED=script`
//!   embeds a script).
//! - `cargo xtask scenario [NAME…]` — only the QEMU scenarios (after a build).
//! - `cargo xtask provision` — only the idempotent installation step.

mod bench;
mod compat;
mod demo;
mod firmware;
mod fuzz;
mod lab;
mod provision;
mod qemu;
mod scenario;
mod tlslab;
mod util;

use std::process::ExitCode;
use util::Result;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  bench [--runs N] [--no-snponly] [--no-write] [http] [tftp]   netboot.efi vs Debian iPXE in QEMU -> BENCHMARKS.md
  fuzz [--seconds N] [--smoke] [--jobs N] [--asan] [--list] [TARGET...]   seed and run the cargo-fuzz targets (60 s each)
  demo                      build netboot.efi with the demo script and network-boot Linux in QEMU
  test [--jobs N] [--skip-lint] [NAME...]
                            every test: fmt/clippy, unit and doc tests, firmware builds, the script
                            compatibility suite through netboot-sim, QEMU and netboot-sim scenarios
  build                     build target/netboot/{netboot.efi,netboot.kpxe,netboot.lkrn,netboot-sim}
                            (NETBOOT_EMBED=script.ipxe embeds a script)
  scenario [--jobs N] [--no-build] [NAME...]
                            run QEMU scenarios from xtask/scenarios/ (all when no NAME;
                            --no-build reuses the firmware already in target/netboot/)
  compat                    the script compatibility suite through the built netboot-sim
  provision                 install packages, rustup targets, the test kernel and initrd
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "bench" => bench::run(rest),
        "demo" => demo::run(rest),
        "fuzz" => fuzz::run(rest),
        "test" => run_tests(rest),
        "build" => firmware::build_all(None).map(|_| ()),
        "scenario" => run_scenarios(rest),
        "provision" => provision::run().map(|_| ()),
        "compat" => compat::run(&firmware::Firmware {
            dir: util::out_dir(),
        }),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("xtask: unknown command {other:?}\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {command}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Options shared by `test` and `scenario`.
struct RunOptions {
    jobs: usize,
    skip_lint: bool,
    no_build: bool,
    names: Vec<String>,
}

fn parse_run_options(args: &[String]) -> Result<RunOptions> {
    let mut opts = RunOptions {
        jobs: 2,
        skip_lint: false,
        no_build: false,
        names: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--jobs" | "-j" => {
                opts.jobs = util::count_arg(&mut it, "--jobs")?;
            }
            "--skip-lint" => opts.skip_lint = true,
            "--no-build" => opts.no_build = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s:?}").into()),
            name => opts.names.push(name.to_string()),
        }
    }
    Ok(opts)
}

fn run_scenarios(args: &[String]) -> Result<()> {
    let opts = parse_run_options(args)?;
    let assets = provision::run()?;
    if !opts.no_build {
        firmware::build_all(None)?;
    }
    scenario::run_all(&assets, &opts.names, opts.jobs)
}

/// What a full `cargo xtask test` from a clean checkout writes, at its peak: the host,
/// firmware and fuzz builds, the firmware variants and the scenarios' run directories.
const TEST_DISK_NEED: u64 = 8 << 30;

/// Warns when the disk holding `target/` has less room than the suite needs: a full disk
/// shows up later as a linker's bus error or a truncated archive, far from its cause.
fn check_disk_space() {
    let root = util::root();
    if let Some(free) = util::free_bytes(&root)
        && free < TEST_DISK_NEED
    {
        eprintln!(
            "xtask test: warning: only {:.1} GiB free on the disk holding {}; a full run from \
             a clean checkout writes about {} GiB (builds, fuzz targets, scenario images), so \
             it may fail with \"No space left on device\" or a linker's bus error",
            free as f64 / f64::from(1u32 << 30),
            root.display(),
            TEST_DISK_NEED >> 30
        );
    }
}

fn run_tests(args: &[String]) -> Result<()> {
    let opts = parse_run_options(args)?;
    let started = std::time::Instant::now();
    check_disk_space();
    let assets = provision::run()?;
    let root = util::root();
    if !opts.skip_lint {
        util::step(
            "format check",
            util::cmd("cargo", &["fmt", "--all", "--", "--check"]).current_dir(&root),
        )?;
        util::step(
            "clippy (host)",
            util::cmd(
                "cargo",
                &[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
            )
            .current_dir(&root),
        )?;
        for (target, packages) in firmware::TARGET_PACKAGES {
            let mut args = vec!["clippy", "--target", target];
            for p in *packages {
                args.extend(["-p", p]);
            }
            args.extend(["--", "-D", "warnings"]);
            util::step(
                &format!("clippy ({target})"),
                util::cmd("cargo", &args).current_dir(&root),
            )?;
        }
    }
    if !opts.skip_lint {
        util::step(
            "rustdoc (warnings are errors)",
            util::cmd(
                "cargo",
                &["doc", "--workspace", "--no-deps", "--exclude", "xtask"],
            )
            .env("RUSTDOCFLAGS", "-D warnings")
            .current_dir(&root),
        )?;
    }
    util::step(
        "unit and doc tests",
        util::cmd("cargo", &["test", "--workspace"]).current_dir(&root),
    )?;
    let fw = firmware::build_all(None)?;
    let compat = if opts.names.is_empty() {
        compat::run(&fw)
    } else {
        Ok(())
    };
    let fuzz = fuzz::smoke(&opts.names);
    eprintln!(
        "xtask test: {:.0} s so far; the scenarios come last and print the closing summary",
        started.elapsed().as_secs_f64()
    );
    // Scenarios run last so that their `scenarios: N passed, N failed` line closes the
    // output; the earlier stages' failures are still reported.
    scenario::run_all(&assets, &opts.names, opts.jobs)
        .and(compat)
        .and(fuzz)
}
