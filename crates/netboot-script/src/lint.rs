//! A script linter, beyond iPXE: finds mistakes without running the script — unknown
//! commands, bad options and argument counts, `goto` to labels that do not exist, menu
//! items without a label, lines that can never run, and settings that are read but never
//! set.
//!
//! ```
//! let report = netboot_script::lint::check(b"#!ipxe\ngoto nowhere\nechoo hi\n");
//! assert!(report.iter().any(|d| d.line == 2 && d.message.contains("nowhere")));
//! assert!(report.iter().any(|d| d.line == 3 && d.message.contains("echoo")));
//! ```

use crate::commands::COMMANDS;
use crate::options::{Usage, parse_options};
use crate::parse::{Body, Connector, Script};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Probably fine, but worth a look.
    Warning,
    /// The script will fail or misbehave when it gets there.
    Error,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line number.
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {kind}: {}", self.line, self.message)
    }
}

/// Settings a script may read without setting them: DHCP, device, SMBIOS and builtins.
const PROVIDED: &[&str] = &[
    "ip",
    "netmask",
    "gateway",
    "dns",
    "domain",
    "hostname",
    "filename",
    "next-server",
    "root-path",
    "user-class",
    "vendor-class",
    "dhcp-server",
    "ntp",
    "mtu",
    "priority",
    "scriptlet",
    "username",
    "password",
    "initiator-iqn",
    "static-routes",
    "mac",
    "hwaddr",
    "busid",
    "bustype",
    "busloc",
    "chip",
    "ifname",
    "linktype",
    "uuid",
    "manufacturer",
    "product",
    "serial",
    "asset",
    "board-serial",
    "memsize",
    "cpuvendor",
    "cpumodel",
    "buildarch",
    "platform",
    "version",
    "unixtime",
    "errno",
    "cwuri",
    "cwduri",
    "sysmac",
    "keymap",
    "san-filename",
    "san-drive",
    "keep-san",
    "skip-san-boot",
    "syslog",
    "ip6",
    "len6",
    "gateway6",
    "dns6",
    "dnssl",
    "product-name",
];

/// Commands that store into the setting named by their first positional argument.
const STORES_FIRST: &[&str] = &[
    "set", "read", "inc", "clear", "choose", "imgset", "pciscan", "nslookup",
];

/// Checks a script and returns the findings, ordered by line.
pub fn check(bytes: &[u8]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let push = |out: &mut Vec<Diagnostic>, line, severity, message: String| {
        out.push(Diagnostic {
            line,
            severity,
            message,
        })
    };
    if !crate::is_script(bytes) {
        push(
            &mut out,
            1,
            Severity::Error,
            "not an iPXE script: the first line must be #!ipxe".into(),
        );
        return out;
    }
    let script = match Script::parse(bytes) {
        Ok(s) => s,
        Err(e) => {
            push(&mut out, 1, Severity::Error, e.to_string());
            return out;
        }
    };
    let labels: BTreeSet<&str> = script
        .lines()
        .iter()
        .filter_map(|l| l.label.as_deref())
        .collect();
    let mut assigned: BTreeSet<String> = BTreeSet::new();
    let mut reads: Vec<(usize, String)> = Vec::new();
    let mut unreachable_from: Option<usize> = None;

    for line in script.lines() {
        if line.label.is_some() {
            unreachable_from = None;
        }
        let commands = match &line.body {
            Body::Invalid(e) => {
                push(&mut out, line.number, Severity::Error, e.to_string());
                continue;
            }
            Body::Commands(c) => c,
        };
        let has_code = commands.iter().any(|c| !c.tokens.is_empty());
        if let (Some(from), true) = (unreachable_from, has_code) {
            let msg = format!(
                "unreachable: the script never gets past line {from} without a label before this"
            );
            push(&mut out, line.number, Severity::Warning, msg);
            unreachable_from = None;
        }
        for command in commands {
            let Some((mut name, mut args)) = command.tokens.split_first() else {
                continue;
            };
            // `time <command…>` runs the command: check that instead.
            while name == "time"
                && let Some((inner, rest)) = args.split_first()
                && !inner.starts_with('-')
            {
                (name, args) = (inner, rest);
            }
            for token in &command.tokens {
                collect_reads(token, line.number, &mut reads);
            }
            if name.contains("${") {
                continue;
            }
            let Some(spec) = COMMANDS.iter().find(|c| c.name == name.as_str()) else {
                push(
                    &mut out,
                    line.number,
                    Severity::Error,
                    format!("unknown command {name:?}"),
                );
                continue;
            };
            // Arguments that expansion may change cannot be checked statically.
            if !args.iter().any(|a| a.contains("${")) {
                let mut msg = String::new();
                let usage = Usage {
                    name: spec.name,
                    synopsis: spec.synopsis,
                };
                match parse_options(
                    args,
                    spec.options,
                    spec.min_args,
                    spec.max_args,
                    usage,
                    &mut msg,
                ) {
                    Ok(parsed) => {
                        check_command(spec.name, &parsed.args, &labels, line.number, &mut out);
                        check_pin(&parsed, line.number, &mut out);
                    }
                    Err(e) => {
                        let first = msg
                            .lines()
                            .find(|l| !l.trim().is_empty() && !l.starts_with("Usage"));
                        let text = first
                            .map(ToString::to_string)
                            .unwrap_or_else(|| e.to_string());
                        push(
                            &mut out,
                            line.number,
                            Severity::Error,
                            format!("{name}: {text}"),
                        );
                    }
                }
            }
            let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            if STORES_FIRST.contains(&name.as_str())
                && let Some(target) = positional.first()
            {
                assigned.insert(setting_key(target));
            }
            if command.connector == Connector::Always
                && commands.len() == 1
                && matches!(
                    name.as_str(),
                    "goto" | "exit" | "reboot" | "poweroff" | "chain" | "boot"
                )
            {
                unreachable_from = Some(line.number);
            }
        }
    }
    for (line, name) in reads {
        let key = setting_key(&name);
        let scoped = name.contains('/');
        let numeric = key.chars().all(|c| c.is_ascii_digit() || c == '.');
        if !scoped && !numeric && !assigned.contains(&key) && !PROVIDED.contains(&key.as_str()) {
            let msg = format!(
                "setting {key:?} is read but never set in this script (and is not a DHCP or builtin setting)"
            );
            out.push(Diagnostic {
                line,
                severity: Severity::Warning,
                message: msg,
            });
        }
    }
    out.sort_by_key(|d| d.line);
    out
}

/// Per-command checks on literal arguments.
fn check_command(
    name: &str,
    args: &[String],
    labels: &BTreeSet<&str>,
    line: usize,
    out: &mut Vec<Diagnostic>,
) {
    let missing = |label: &str| !labels.contains(label);
    match (name, args) {
        ("goto", [label]) if missing(label) => out.push(Diagnostic {
            line,
            severity: Severity::Error,
            message: format!("goto {label}: no line defines :{label}"),
        }),
        ("item", [label, ..]) if !label.is_empty() && missing(label) => out.push(Diagnostic {
            line,
            severity: Severity::Warning,
            message: format!("menu item {label:?} has no :{label} line to go to"),
        }),
        _ => {}
    }
}

/// `--sha256` must be a SHA-256 digest (the image-fetching commands).
fn check_pin(parsed: &crate::options::Parsed, line: usize, out: &mut Vec<Diagnostic>) {
    if let Some(pin) = parsed.value("sha256")
        && let Err(e) = crate::commands::parse_sha256(pin)
    {
        let message = match e {
            crate::Error::Platform { message, .. } => message,
            other => other.to_string(),
        };
        out.push(Diagnostic {
            line,
            severity: Severity::Error,
            message,
        });
    }
}

/// The setting a name refers to, without block and type (`net0/ip:ipv4` → `ip`).
fn setting_key(name: &str) -> String {
    let name = name.split_once('/').map_or(name, |(_, n)| n);
    name.split(':').next().unwrap_or(name).to_string()
}

/// Records every complete `${name}` reference in a token (innermost names only).
fn collect_reads(token: &str, line: usize, reads: &mut Vec<(usize, String)>) {
    let mut rest = token;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let inner = &after[..end];
        // A nested reference: look at the inner one on the next round.
        match inner.rfind("${") {
            Some(_) => rest = &rest[start + 2..],
            None => {
                if !inner.is_empty() {
                    reads.push((line, inner.to_string()));
                }
                rest = &after[end + 1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(script: &str) -> Vec<(usize, Severity, String)> {
        check(script.as_bytes())
            .into_iter()
            .map(|d| (d.line, d.severity, d.message))
            .collect()
    }

    #[test]
    fn clean_scripts_have_no_findings() {
        let script = "#!ipxe\ndhcp || goto failed\nset base http://${next-server}\n\
                      menu Boot\nitem linux Linux\nchoose target && goto ${target}\n\
                      :linux\nkernel ${base}/vmlinuz\nboot\n:failed\necho failed ${errno}\n";
        assert_eq!(messages(script), Vec::new());
    }

    #[test]
    fn checks_trust_commands_and_sha256_pins() {
        let good = "2bfd3eb9637cfa56e4727b7883ed3e50c06967745b0b35bc90393bbf9226f828";
        let script = format!(
            "#!ipxe\nimgfetch --sha256 {good} http://x/a\nkernel --sha256 abc http://x/k\n\
             imgverify a\nimgverify --signer me --keep a a.sig\nimgtrust --permanent\n\
             chain --sha256 ${{pin}} http://x/b\n"
        );
        let found = messages(&script);
        let errors: Vec<usize> = found
            .iter()
            .filter(|(_, s, _)| *s == Severity::Error)
            .map(|(l, _, _)| *l)
            .collect();
        assert_eq!(errors, [3, 4], "{found:?}");
        assert!(
            found
                .iter()
                .any(|(l, _, m)| *l == 3 && m.contains("64 hex digits")),
            "{found:?}"
        );
    }

    #[test]
    fn finds_unknown_commands_bad_options_and_labels() {
        let found =
            messages("#!ipxe\nechoo hi\nkernel --nosuch x\ngoto missing\nitem gone Gone\nsleep\n");
        assert!(
            found
                .iter()
                .any(|(l, s, m)| *l == 2 && *s == Severity::Error && m.contains("\"echoo\"")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(l, s, m)| *l == 3 && *s == Severity::Error && m.contains("nosuch")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(l, _, m)| *l == 4 && m.contains(":missing")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(l, s, m)| *l == 5 && *s == Severity::Warning && m.contains("gone")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(l, s, _)| *l == 6 && *s == Severity::Error),
            "{found:?}"
        );
    }

    #[test]
    fn finds_unreachable_lines_and_unset_settings() {
        let found = messages(
            "#!ipxe\ngoto end\necho never\n:end\necho ${nosuch} ${ip} ${net0/mac} ${209:string}\n",
        );
        assert!(
            found
                .iter()
                .any(|(l, s, m)| *l == 3 && *s == Severity::Warning && m.contains("unreachable")),
            "{found:?}"
        );
        let unset: Vec<_> = found
            .iter()
            .filter(|(_, _, m)| m.contains("never set"))
            .collect();
        assert_eq!(unset.len(), 1, "{found:?}");
        assert!(unset[0].2.contains("nosuch"));
    }

    #[test]
    fn knows_the_newer_commands() {
        let clean = "#!ipxe\ntime sleep 1\nimgset --keep blob http://x/y\necho ${blob}\n\
                     pciscan loc\necho ${pci/${loc}.0.2}\nsync --timeout 100\n\
                     colour --rgb 0xff0000 1\ncpair --foreground 7 --background 1 2\n\
                     console\nautoboot net0\nmd4sum x\nvcreate --tag 5 net0\nstartpxe\n\
                     pxebs net0 0\n";
        assert_eq!(messages(clean), Vec::new());
        let found = messages("#!ipxe\ntime echoo hi\nsync --nosuch\ncpair\nimgset onlyone\n");
        for line in 2..=5 {
            assert!(
                found
                    .iter()
                    .any(|(l, s, _)| *l == line && *s == Severity::Error),
                "line {line}: {found:?}"
            );
        }
    }

    #[test]
    fn rejects_non_scripts_and_survives_hostile_input() {
        assert_eq!(messages("echo hi\n")[0].1, Severity::Error);
        let mut hostile = String::from("#!ipxe\n");
        for _ in 0..2000 {
            hostile.push_str("${${${ } goto || && ;\n");
        }
        let _ = check(hostile.as_bytes());
        let _ = check(b"#!ipxe\n\0\0\0\\");
    }
}
