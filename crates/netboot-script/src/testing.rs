//! Helpers for tests that compare console output, shared by the crate's compatibility
//! suite and the suite's run through `netboot-sim` (`cargo xtask compat`).

use alloc::string::String;

/// Makes console output comparable as text: ANSI cursor positioning becomes a newline,
/// reverse video becomes `*`, other escape sequences are dropped, backspace becomes `^H`.
///
/// ```
/// let raw = "\x1b[2J\x1b[1;1HMenu\x1b[4;1H\x1b[7m Linux \x1b[0m";
/// assert_eq!(netboot_script::testing::normalise_console(raw), "\nMenu\n* Linux ");
/// ```
pub fn normalise_console(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut seq = String::new();
                for c in chars.by_ref() {
                    seq.push(c);
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                if seq.ends_with('H') {
                    out.push('\n');
                } else if seq == "7m" {
                    out.push('*');
                }
            }
            '\x08' => out.push_str("^H"),
            c => out.push(c),
        }
    }
    out
}

/// Parses scripted key presses, `<ms>:<key> …` (the compatibility suite's `#@keys`
/// directive and `netboot-sim run --keys`): each key is `CR`, `ESC`, `UP`, `DOWN`,
/// `TAB`, `CTRLC`, `BS`, `SP` or one character, pressed `ms` milliseconds after the
/// start. Returns them in the order given.
///
/// ```
/// use netboot_core::platform::Key;
/// let keys = netboot_script::testing::parse_keys("100:a 200:CR").expect("valid");
/// assert_eq!(keys, [(100, Key::Char('a')), (200, Key::Char('\r'))]);
/// assert!(netboot_script::testing::parse_keys("x:a").is_err());
/// ```
pub fn parse_keys(
    spec: &str,
) -> Result<alloc::vec::Vec<(u64, netboot_core::platform::Key)>, String> {
    use alloc::format;
    use netboot_core::platform::Key;
    spec.split_whitespace()
        .map(|item| {
            let (at, key) = item
                .split_once(':')
                .ok_or_else(|| format!("{item:?}: expected <ms>:<key>"))?;
            let at = at
                .parse()
                .map_err(|_| format!("{item:?}: {at:?} is not a number of milliseconds"))?;
            let key = match key {
                "CR" => Key::Char('\r'),
                "ESC" => Key::Char('\x1b'),
                "UP" => Key::Up,
                "DOWN" => Key::Down,
                "TAB" => Key::Char('\t'),
                "CTRLC" => Key::CTRL_C,
                "BS" => Key::Char('\x08'),
                "SP" => Key::Char(' '),
                one => {
                    let mut chars = one.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Key::Char(c),
                        _ => return Err(format!("{item:?}: unknown key {one:?}")),
                    }
                }
            };
            Ok((at, key))
        })
        .collect()
}
