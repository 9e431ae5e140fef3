//! The script parser: line reader (§1.2), labels, tokens, separators and comments (§1.3).
//!
//! Parsing never expands settings: expansion happens per command, just before it runs
//! (§1.4), so it is the interpreter's job. Parsing is linear in the input, bounded by
//! [`MAX_SCRIPT_SIZE`] and [`MAX_LINE_LEN`], and never fails as a whole for a line that is
//! merely bad: such a line becomes [`Body::Invalid`] and fails when (and only if) it is
//! reached, as iPXE, which reads lines while running, would.
//!
//! ```
//! use netboot_script::parse::{Script, Connector};
//! let s = Script::parse(b"#!ipxe\n:retry dhcp || goto retry\n").expect("parses");
//! assert_eq!(s.find_label("retry"), Some(1));
//! let cmds = s.lines()[1].commands();
//! assert_eq!(cmds[0].tokens, ["dhcp"]);
//! assert_eq!((cmds[1].connector, cmds[1].tokens.as_slice()), (Connector::OnFailure, &["goto".into(), "retry".into()][..]));
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;

/// Largest script accepted, in bytes.
pub const MAX_SCRIPT_SIZE: usize = 4 << 20;
/// Longest logical line (after joining continuations), in bytes.
pub const MAX_LINE_LEN: usize = 32 << 10;

/// How a command is joined to the one before it (§1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    /// First command of a line, or after `;`: always runs.
    Always,
    /// After `&&`: runs only if the last command that ran succeeded.
    OnSuccess,
    /// After `||`: runs only if the last command that ran failed.
    OnFailure,
}

/// One command of a line: raw (unexpanded) tokens. Empty tokens mean an empty command,
/// which succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The separator before this command.
    pub connector: Connector,
    /// Whitespace-separated words, before settings expansion.
    pub tokens: Vec<String>,
}

/// What a line does when run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Commands joined by separators; never empty (an empty line holds one empty command).
    Commands(Vec<Command>),
    /// A line that fails with this error when it is reached.
    Invalid(Error),
}

/// One logical line of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based physical line number where the logical line starts.
    pub number: usize,
    /// The label defined by a leading `:label`, if any.
    pub label: Option<String>,
    /// The commands.
    pub body: Body,
}

impl Line {
    /// Parses a command line as the interactive shell and `scriptlet` do: no label
    /// handling (a leading `:word` is just a command name).
    pub fn parse_command_line(text: &str) -> Line {
        if text.len() > MAX_LINE_LEN {
            return Line {
                number: 1,
                label: None,
                body: Body::Invalid(Error::LineTooLong { line: 1 }),
            };
        }
        Line {
            number: 1,
            label: None,
            body: Body::Commands(split_commands(text)),
        }
    }

    /// The commands of the line (empty for an invalid line).
    pub fn commands(&self) -> &[Command] {
        match &self.body {
            Body::Commands(c) => c,
            Body::Invalid(_) => &[],
        }
    }
}

/// A parsed script: its logical lines in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Script {
    lines: Vec<Line>,
}

/// C `isspace` in the "C" locale, which is what iPXE splits on.
pub fn is_space(b: char) -> bool {
    matches!(b, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

impl Script {
    /// Parses script bytes (with or without the `#!ipxe` magic line, which is an ordinary
    /// comment). Fails only if the script is larger than [`MAX_SCRIPT_SIZE`].
    pub fn parse(bytes: &[u8]) -> Result<Script, Error> {
        if bytes.len() > MAX_SCRIPT_SIZE {
            return Err(Error::ScriptTooLarge(bytes.len()));
        }
        let mut lines = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut offset = 0;
        let mut physical = 0;
        let mut start = 1;
        // The reader of iPXE's `process_script`: a do-while over `\n`-terminated
        // fragments, so an empty file is one empty line and a trailing `\n` adds none.
        loop {
            let rest = &bytes[offset.min(bytes.len())..];
            let frag_len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            buf.extend_from_slice(&rest[..frag_len]);
            offset += frag_len + 1;
            physical += 1;
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if buf.last() == Some(&b'\\') {
                buf.pop();
                if offset >= bytes.len() {
                    lines.push(Line {
                        number: start,
                        label: None,
                        body: Body::Invalid(Error::UnterminatedContinuation { line: start }),
                    });
                    break;
                }
                continue;
            }
            lines.push(parse_logical_line(&buf, start));
            buf.clear();
            start = physical + 1;
            if offset >= bytes.len() {
                break;
            }
        }
        Ok(Script { lines })
    }

    /// The logical lines.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Index of the first line whose label is byte-for-byte `label` (what `goto` looks for).
    pub fn find_label(&self, label: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| l.label.as_deref() == Some(label))
    }
}

fn parse_logical_line(raw: &[u8], number: usize) -> Line {
    if raw.len() > MAX_LINE_LEN {
        return Line {
            number,
            label: None,
            body: Body::Invalid(Error::LineTooLong { line: number }),
        };
    }
    // iPXE handles lines as C strings: a NUL ends the line.
    let raw = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
    let text = String::from_utf8_lossy(raw);
    let trimmed = text.trim_start_matches(is_space);
    let (label, command) = match trimmed.strip_prefix(':') {
        Some(rest) => {
            let end = rest.find(is_space).unwrap_or(rest.len());
            let label = rest[..end].to_string();
            // Exactly one whitespace character after the label is consumed.
            let after = &rest[end..];
            let command = after.char_indices().nth(1).map_or("", |(i, _)| &after[i..]);
            (Some(label), command)
        }
        None => (None, trimmed),
    };
    Line {
        number,
        label,
        body: Body::Commands(split_commands(command)),
    }
}

/// Splits a command line into commands at `&&`, `||` and `;` tokens, stopping at the
/// first token that starts with `#`. A trailing separator yields a final empty command.
pub fn split_commands(text: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    let mut current = Command {
        connector: Connector::Always,
        tokens: Vec::new(),
    };
    for token in text.split(is_space).filter(|t| !t.is_empty()) {
        let next = match token {
            "&&" => Connector::OnSuccess,
            "||" => Connector::OnFailure,
            ";" => Connector::Always,
            t if t.starts_with('#') => break,
            t => {
                current.tokens.push(t.to_string());
                continue;
            }
        };
        let done = core::mem::replace(
            &mut current,
            Command {
                connector: next,
                tokens: Vec::new(),
            },
        );
        commands.push(done);
    }
    commands.push(current);
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn toks(line: &Line) -> Vec<Vec<&str>> {
        line.commands()
            .iter()
            .map(|c| c.tokens.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn line_reader_follows_ipxe() {
        let s = Script::parse(b"a\r\nb \\\r\n c\\\nd\n").expect("ok");
        assert_eq!(s.lines().len(), 2);
        assert_eq!(toks(&s.lines()[0]), vec![vec!["a"]]);
        assert_eq!(toks(&s.lines()[1]), vec![vec!["b", "cd"]]);
        assert_eq!(s.lines()[1].number, 2);
        assert_eq!(Script::parse(b"").expect("ok").lines().len(), 1);
        assert_eq!(Script::parse(b"x").expect("ok").lines().len(), 1);
        assert_eq!(Script::parse(b"x\n\n").expect("ok").lines().len(), 2);
        let s = Script::parse(b"echo a\necho b\\").expect("ok");
        assert!(matches!(
            s.lines()[1].body,
            Body::Invalid(Error::UnterminatedContinuation { line: 2 })
        ));
        // A CR before the backslash is not stripped; one after it is.
        let s = Script::parse(b"ab\r\\\n\nc").expect("ok");
        assert_eq!(toks(&s.lines()[0]), vec![vec!["ab"]]);
    }

    #[test]
    fn labels_consume_one_space_and_run_the_rest() {
        let s = Script::parse(b"  :top echo hi\n:end\n:x\t\tfoo\n:a:b").expect("ok");
        assert_eq!(s.lines()[0].label.as_deref(), Some("top"));
        assert_eq!(toks(&s.lines()[0]), vec![vec!["echo", "hi"]]);
        assert_eq!(toks(&s.lines()[1]), vec![Vec::<&str>::new()]);
        assert_eq!(toks(&s.lines()[2]), vec![vec!["foo"]]);
        assert_eq!(s.find_label("a:b"), Some(3));
        assert_eq!(s.find_label("end"), Some(1));
        assert_eq!(s.find_label("nope"), None);
    }

    #[test]
    fn separators_and_comments_are_whole_tokens() {
        let l = Line::parse_command_line("a&&b && c || d ; e # f || g");
        assert_eq!(
            toks(&l),
            vec![vec!["a&&b"], vec!["c"], vec!["d"], vec!["e"]]
        );
        let conns: Vec<_> = l.commands().iter().map(|c| c.connector).collect();
        assert_eq!(
            conns,
            [
                Connector::Always,
                Connector::OnSuccess,
                Connector::OnFailure,
                Connector::Always
            ]
        );
        let l = Line::parse_command_line("x a#b \"q r\" ||");
        assert_eq!(toks(&l), vec![vec!["x", "a#b", "\"q", "r\""], vec![]]);
        assert_eq!(
            toks(&Line::parse_command_line(":label x")),
            vec![vec![":label", "x"]]
        );
    }

    #[test]
    fn hostile_input_is_bounded_and_never_panics() {
        let long = vec![b'a'; MAX_LINE_LEN + 1];
        let s = Script::parse(&long).expect("ok");
        assert!(matches!(
            s.lines()[0].body,
            Body::Invalid(Error::LineTooLong { line: 1 })
        ));
        assert!(Script::parse(&vec![b'\n'; MAX_SCRIPT_SIZE + 1]).is_err());
        let s = Script::parse(b"echo a\0b c\n\0\n:\0x").expect("ok");
        assert_eq!(toks(&s.lines()[0]), vec![vec!["echo", "a"]]);
        assert_eq!(s.lines()[2].label.as_deref(), Some(""));
        let s = Script::parse(b"\xff\xfe ${ ${{ \\").expect("ok");
        assert_eq!(s.lines().len(), 1);
        // Deep chains are iterative.
        let mut deep = String::new();
        for _ in 0..6_000 {
            deep.push_str("x || ");
        }
        let l = Line::parse_command_line(&deep);
        assert_eq!(l.commands().len(), 6_001);
        // Many continuations: linear.
        let many = b"a\\\n".repeat(100_000);
        let s = Script::parse(&many).expect("ok");
        assert_eq!(s.lines().len(), 1);
        let all_ws = b" \t\x0b\x0c\r\n".repeat(1000);
        assert!(Script::parse(&all_ws).is_ok());
    }
}
