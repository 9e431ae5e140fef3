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
