//! iPXE-compatible option parsing (§2): getopt-like `--long[=value]` and bundled `-s`,
//! parsing stops at the first non-option, `--` ends the options, `-h`/`--help` prints the
//! usage and fails with `ECANCELED`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use crate::Error;

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A flag.
    None,
    /// `--opt value`, `--opt=value`, `-oVALUE` or `-o VALUE`.
    Required,
}

/// One option of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptSpec {
    /// The long name, without `--`.
    pub long: &'static str,
    /// The short letter.
    pub short: char,
    /// Whether it takes an argument.
    pub arg: ArgKind,
}

impl OptSpec {
    /// A flag.
    pub const fn flag(long: &'static str, short: char) -> OptSpec {
        OptSpec {
            long,
            short,
            arg: ArgKind::None,
        }
    }
    /// An option with an argument.
    pub const fn value(long: &'static str, short: char) -> OptSpec {
        OptSpec {
            long,
            short,
            arg: ArgKind::Required,
        }
    }
}

/// The result of option parsing: which options were given, and the positional arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// `(long name, value)` in command-line order; flags have an empty value.
    pub options: Vec<(&'static str, String)>,
    /// Positional arguments.
    pub args: Vec<String>,
}

impl Parsed {
    /// Whether the flag (or option) was given.
    pub fn flag(&self, long: &str) -> bool {
        self.options.iter().any(|(n, _)| *n == long)
    }
    /// The last value given for an option.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| *n == long)
            .map(|(_, v)| v.as_str())
    }
    /// The option's value as an unsigned integer (`strtoul` base 0), printing iPXE's
    /// message to `out` when it is not one.
    pub fn integer(&self, long: &str, out: &mut String) -> Result<Option<u64>, Error> {
        self.value(long).map(|v| parse_integer(v, out)).transpose()
    }
}

/// What a command's usage message needs.
#[derive(Clone, Copy, Debug)]
pub struct Usage<'a> {
    /// The command name.
    pub name: &'a str,
    /// The synopsis after the name, e.g. `[-n] [<text>...]`.
    pub synopsis: &'a str,
}

/// Writes iPXE's usage text.
pub fn write_usage(out: &mut String, usage: Usage<'_>) {
    let _ = write!(
        out,
        "Usage:\n  {} {}\n\nSee https://ipxe.org/cmd/{} for further information\n",
        usage.name, usage.synopsis, usage.name
    );
}

/// Parses `argv` (without the command name) against `specs`, then checks that the number
/// of positional arguments is in `min..=max`. Messages go to `out`.
pub fn parse_options(
    argv: &[String],
    specs: &[OptSpec],
    min: usize,
    max: usize,
    usage: Usage<'_>,
    out: &mut String,
) -> Result<Parsed, Error> {
    let mut parsed = Parsed::default();
    let cmd = || usage.name.to_string();
    let mut i = 0;
    while i < argv.len() {
        let tok = argv[i].as_str();
        if tok == "--" {
            i += 1;
            break;
        }
        if !tok.starts_with('-') || tok == "-" {
            break;
        }
        i += 1;
        if let Some(long) = tok.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if name == "help" {
                write_usage(out, usage);
                return Err(Error::HelpShown(cmd()));
            }
            let Some(spec) = specs.iter().find(|s| s.long == name) else {
                let _ = writeln!(out, "Unrecognised option \"{tok}\"");
                write_usage(out, usage);
                return Err(Error::UnknownOption {
                    command: cmd(),
                    option: tok.to_string(),
                });
            };
            match (spec.arg, inline) {
                (ArgKind::None, None) => parsed.options.push((spec.long, String::new())),
                (ArgKind::None, Some(_)) => {
                    let _ = writeln!(out, "Option \"--{name}\" takes no argument");
                    return Err(Error::UnexpectedOptionArgument {
                        command: cmd(),
                        option: tok.to_string(),
                    });
                }
                (ArgKind::Required, Some(v)) => parsed.options.push((spec.long, v.to_string())),
                (ArgKind::Required, None) => match argv.get(i) {
                    Some(v) if !v.starts_with('-') => {
                        parsed.options.push((spec.long, v.clone()));
                        i += 1;
                    }
                    _ => {
                        let _ = writeln!(out, "Option \"--{name}\" requires an argument");
                        return Err(Error::MissingOptionArgument {
                            command: cmd(),
                            option: tok.to_string(),
                        });
                    }
                },
            }
            continue;
        }
        // Bundled short options.
        let shorts = &tok[1..];
        for (pos, c) in shorts.char_indices() {
            if c == 'h' {
                write_usage(out, usage);
                return Err(Error::HelpShown(cmd()));
            }
            let Some(spec) = specs.iter().find(|s| s.short == c) else {
                let _ = writeln!(out, "Unrecognised option \"-{c}\"");
                write_usage(out, usage);
                return Err(Error::UnknownOption {
                    command: cmd(),
                    option: alloc::format!("-{c}"),
                });
            };
            if spec.arg == ArgKind::None {
                parsed.options.push((spec.long, String::new()));
                continue;
            }
            let inline = &shorts[pos + c.len_utf8()..];
            if !inline.is_empty() {
                parsed.options.push((spec.long, inline.to_string()));
            } else {
                match argv.get(i) {
                    Some(v) if !v.starts_with('-') => {
                        parsed.options.push((spec.long, v.clone()));
                        i += 1;
                    }
                    _ => {
                        let _ = writeln!(out, "Option \"-{c}\" requires an argument");
                        return Err(Error::MissingOptionArgument {
                            command: cmd(),
                            option: alloc::format!("-{c}"),
                        });
                    }
                }
            }
            break;
        }
    }
    parsed.args = argv[i.min(argv.len())..].to_vec();
    if parsed.args.len() < min || parsed.args.len() > max {
        write_usage(out, usage);
        return Err(Error::ArgumentCount(cmd()));
    }
    Ok(parsed)
}

/// Parses an integer like C `strtoul(text, NULL, 0)` as iPXE's `parse_integer` does
/// (a leading `-` negates modulo 2⁶⁴); prints `"<text>": invalid integer value` on error.
pub fn parse_integer(text: &str, out: &mut String) -> Result<u64, Error> {
    let valid = !text.is_empty() && !text.starts_with(crate::parse::is_space);
    match netboot_core::settings::parse_int(text)
        .filter(|_| valid && !text.ends_with(crate::parse::is_space))
    {
        Some(v) => Ok(v as u64),
        None => {
            let _ = writeln!(out, "\"{text}\": invalid integer value");
            Err(Error::InvalidInteger(text.to_string()))
        }
    }
}

/// Parses a `--key` argument (§2): one character is that character; anything else is an
/// integer, and a non-ASCII integer below 0x110000 gets 0x110000 added (legacy codes).
pub fn parse_key(text: &str, out: &mut String) -> Result<u32, Error> {
    let mut chars = text.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Ok(c as u32);
    }
    let v = parse_integer(text, out)?;
    let v = u32::try_from(v).map_err(|_| {
        let _ = writeln!(out, "\"{text}\": invalid integer value");
        Error::InvalidInteger(text.to_string())
    })?;
    Ok(if (0x80..0x11_0000).contains(&v) {
        v + 0x11_0000
    } else {
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const SPECS: &[OptSpec] = &[
        OptSpec::flag("quiet", 'q'),
        OptSpec::value("timeout", 't'),
        OptSpec::value("name", 'n'),
    ];

    fn run(args: &[&str]) -> (Result<Parsed, Error>, String) {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = String::new();
        let r = parse_options(
            &argv,
            SPECS,
            1,
            2,
            Usage {
                name: "cmd",
                synopsis: "[-q] <a> [b]",
            },
            &mut out,
        );
        (r, out)
    }

    #[test]
    fn getopt_rules() {
        let (p, _) = run(&["-qt5", "--name=x", "a", "-q"]);
        let p = p.expect("ok");
        assert!(p.flag("quiet"));
        assert_eq!(
            (p.value("timeout"), p.value("name")),
            (Some("5"), Some("x"))
        );
        assert_eq!(p.args, vec!["a", "-q"]);
        let p = run(&["--timeout", "7", "--", "-a"]).0.expect("ok");
        assert_eq!(
            (p.value("timeout"), p.args.as_slice()),
            (Some("7"), &["-a".to_string()][..])
        );
        assert_eq!(
            run(&["--timeout=-1", "a"]).0.expect("ok").value("timeout"),
            Some("-1")
        );
        assert!(matches!(
            run(&["--timeout", "-1", "a"]).0,
            Err(Error::MissingOptionArgument { .. })
        ));
        assert!(matches!(
            run(&["-t"]).0,
            Err(Error::MissingOptionArgument { .. })
        ));
        let (r, out) = run(&["--time=1", "a"]);
        assert!(matches!(r, Err(Error::UnknownOption { .. })));
        assert!(
            out.starts_with("Unrecognised option \"--time=1\"\nUsage:\n  cmd [-q] <a> [b]\n"),
            "{out}"
        );
        assert!(matches!(run(&["-x"]).0, Err(Error::UnknownOption { .. })));
        assert!(matches!(run(&[]).0, Err(Error::ArgumentCount(_))));
        assert!(matches!(
            run(&["a", "b", "c"]).0,
            Err(Error::ArgumentCount(_))
        ));
        assert!(run(&["a", "--help"]).0.is_ok());
        let (r, out) = run(&["-qh"]);
        assert!(matches!(r, Err(Error::HelpShown(_))));
        assert!(out.ends_with("See https://ipxe.org/cmd/cmd for further information\n"));
        assert!(matches!(
            run(&["--quiet=1", "a"]).0,
            Err(Error::UnexpectedOptionArgument { .. })
        ));
        assert_eq!(run(&["-", "a"]).0.expect("ok").args, vec!["-", "a"]);
    }

    #[test]
    fn integers_and_keys() {
        let mut out = String::new();
        assert_eq!(parse_integer("0x10", &mut out), Ok(16));
        assert_eq!(parse_integer("010", &mut out), Ok(8));
        assert_eq!(parse_integer("-1", &mut out), Ok(u64::MAX));
        assert!(parse_integer("", &mut out).is_err());
        assert!(parse_integer("12x", &mut out).is_err());
        assert_eq!(
            out,
            "\"\": invalid integer value\n\"12x\": invalid integer value\n"
        );
        assert_eq!(parse_key("a", &mut out), Ok(0x61));
        assert_eq!(parse_key("0x1b", &mut out), Ok(0x1b));
        assert_eq!(parse_key("0x141", &mut out), Ok(0x110141));
        assert_eq!(parse_key("1", &mut out), Ok(0x31));
    }
}
