//! A pure line editor (§5.2) for `read`, `login` and the shell: keys in, terminal text
//! out (backspaces and reprinting only, so it works on any serial terminal).
//!
//! ```
//! use netboot_script::lineedit::{LineEditor, EditEvent};
//! let mut out = String::new();
//! let mut ed = LineEditor::new("ab", false);
//! ed.start(&mut out);
//! assert_eq!(ed.handle_key('c' as u32, &[], &mut out), EditEvent::Continue);
//! assert_eq!(ed.handle_key(0x08, &[], &mut out), EditEvent::Continue);
//! assert_eq!(ed.handle_key('\r' as u32, &[], &mut out), EditEvent::Accept("ab".into()));
//! assert_eq!(out, "abc\x08 \x08");
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::keys;

/// Maximum length of an edited line, in characters.
pub const MAX_EDIT_LEN: usize = 4096;

/// The result of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditEvent {
    /// Keep editing.
    Continue,
    /// Enter: the final text.
    Accept(String),
    /// Ctrl-C.
    Cancel,
}

/// Editing state.
#[derive(Clone, Debug)]
pub struct LineEditor {
    buf: Vec<char>,
    cursor: usize,
    secret: bool,
    /// Position in the history while browsing with Up/Down (`history.len()` = the live line).
    hist: Option<usize>,
}

const fn ctrl(c: char) -> u32 {
    c as u32 & 0x1f
}

impl LineEditor {
    /// A new editor holding `initial`, cursor at the end; `secret` shows `*`.
    pub fn new(initial: &str, secret: bool) -> LineEditor {
        let buf: Vec<char> = initial.chars().take(MAX_EDIT_LEN).collect();
        LineEditor {
            cursor: buf.len(),
            buf,
            secret,
            hist: None,
        }
    }

    /// The current text.
    pub fn text(&self) -> String {
        self.buf.iter().collect()
    }

    fn shown(&self, c: char) -> char {
        if self.secret { '*' } else { c }
    }

    /// Writes the initial text.
    pub fn start(&self, out: &mut String) {
        out.extend(self.buf.iter().map(|&c| self.shown(c)));
    }

    /// Redraws after an edit that changed the buffer from `old` with the cursor at
    /// `old_cursor`.
    fn redraw(&self, old_len: usize, old_cursor: usize, out: &mut String) {
        out.extend(core::iter::repeat_n('\x08', old_cursor));
        out.extend(self.buf.iter().map(|&c| self.shown(c)));
        let extra = old_len.saturating_sub(self.buf.len());
        out.extend(core::iter::repeat_n(' ', extra));
        out.extend(core::iter::repeat_n(
            '\x08',
            self.buf.len() + extra - self.cursor,
        ));
    }

    fn replace_all(&mut self, text: &str, out: &mut String) {
        let (old_len, old_cursor) = (self.buf.len(), self.cursor);
        self.buf = text.chars().take(MAX_EDIT_LEN).collect();
        self.cursor = self.buf.len();
        self.redraw(old_len, old_cursor, out);
    }

    /// Handles a key code (see [`crate::keys`]); `history` is oldest first.
    pub fn handle_key(&mut self, key: u32, history: &[String], out: &mut String) -> EditEvent {
        let (old_len, old_cursor) = (self.buf.len(), self.cursor);
        let old = self.buf.clone();
        match key {
            keys::CR | keys::LF => return EditEvent::Accept(self.text()),
            keys::CTRL_C => return EditEvent::Cancel,
            k if (0x20..0x7f).contains(&k) || (0xa0..0x11_0000).contains(&k) => {
                let Some(c) = char::from_u32(k) else {
                    return EditEvent::Continue;
                };
                if self.buf.len() >= MAX_EDIT_LEN {
                    return EditEvent::Continue;
                }
                self.buf.insert(self.cursor, c);
                self.cursor += 1;
                if self.cursor == self.buf.len() {
                    out.push(self.shown(c));
                    return EditEvent::Continue;
                }
            }
            keys::BACKSPACE | keys::DEL => {
                if self.cursor == 0 {
                    return EditEvent::Continue;
                }
                self.cursor -= 1;
                self.buf.remove(self.cursor);
                if self.cursor == self.buf.len() {
                    out.push_str("\x08 \x08");
                    return EditEvent::Continue;
                }
            }
            k if k == keys::KEY_DELETE || k == ctrl('D') => {
                if self.cursor < self.buf.len() {
                    self.buf.remove(self.cursor);
                }
            }
            k if k == ctrl('W') => {
                let mut start = self.cursor;
                while start > 0 && self.buf[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.buf[start - 1] != ' ' {
                    start -= 1;
                }
                self.buf.drain(start..self.cursor);
                self.cursor = start;
            }
            k if k == ctrl('U') => {
                self.buf.drain(..self.cursor);
                self.cursor = 0;
            }
            k if k == ctrl('K') => self.buf.truncate(self.cursor),
            k if k == keys::KEY_HOME || k == ctrl('A') => self.cursor = 0,
            k if k == keys::KEY_END || k == ctrl('E') => self.cursor = self.buf.len(),
            k if k == keys::KEY_LEFT || k == ctrl('B') => {
                self.cursor = self.cursor.saturating_sub(1)
            }
            k if k == keys::KEY_RIGHT || k == ctrl('F') => {
                self.cursor = (self.cursor + 1).min(self.buf.len())
            }
            keys::KEY_UP | keys::KEY_DOWN if !history.is_empty() => {
                let pos = self.hist.unwrap_or(history.len());
                let next = if key == keys::KEY_UP {
                    pos.saturating_sub(1)
                } else {
                    (pos + 1).min(history.len())
                };
                self.hist = Some(next);
                let text = history.get(next).map_or("", String::as_str);
                self.replace_all(text, out);
                return EditEvent::Continue;
            }
            _ => return EditEvent::Continue,
        }
        if old == self.buf {
            // Cursor movement only.
            if self.cursor < old_cursor {
                out.extend(core::iter::repeat_n('\x08', old_cursor - self.cursor));
            } else {
                out.extend(
                    self.buf[old_cursor..self.cursor]
                        .iter()
                        .map(|&c| self.shown(c)),
                );
            }
        } else {
            self.redraw(old_len, old_cursor, out);
        }
        EditEvent::Continue
    }
}

/// The shell's history: the last 8 non-empty lines (§5.2).
#[derive(Clone, Debug, Default)]
pub struct History {
    lines: Vec<String>,
}

impl History {
    /// Entries kept.
    pub const SIZE: usize = 8;

    /// Records a line (empty lines are not stored).
    pub fn push(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        if self.lines.len() == Self::SIZE {
            self.lines.remove(0);
        }
        self.lines.push(line.into());
    }

    /// Entries, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_keys(ed: &mut LineEditor, keys: &[u32], hist: &[String]) -> (String, EditEvent) {
        let mut out = String::new();
        let mut last = EditEvent::Continue;
        for &k in keys {
            last = ed.handle_key(k, hist, &mut out);
        }
        (out, last)
    }

    #[test]
    fn editing_keys() {
        let mut ed = LineEditor::new("hello world", false);
        type_keys(&mut ed, &[ctrl('W')], &[]);
        assert_eq!(ed.text(), "hello ");
        type_keys(&mut ed, &[ctrl('A'), keys::KEY_RIGHT, ctrl('K')], &[]);
        assert_eq!(ed.text(), "h");
        type_keys(
            &mut ed,
            &['a' as u32, ctrl('B'), 'x' as u32, ctrl('U')],
            &[],
        );
        assert_eq!(ed.text(), "a");
        type_keys(&mut ed, &[ctrl('A'), ctrl('D'), ctrl('D')], &[]);
        assert_eq!(ed.text(), "");
        let (_, ev) = type_keys(&mut ed, &[keys::CTRL_C], &[]);
        assert_eq!(ev, EditEvent::Cancel);
        let mut ed = LineEditor::new("", true);
        let (out, ev) = type_keys(&mut ed, &['p' as u32, 'w' as u32, keys::CR], &[]);
        assert_eq!((out.as_str(), ev), ("**", EditEvent::Accept("pw".into())));
        let mut ed = LineEditor::new("ab", false);
        let (out, _) = type_keys(&mut ed, &[keys::KEY_LEFT, 'x' as u32], &[]);
        assert_eq!(out, "\x08\x08axb\x08");
    }

    #[test]
    fn history_ring() {
        let mut h = History::default();
        for i in 0..10 {
            h.push(&alloc::format!("c{i}"));
        }
        h.push("");
        assert_eq!(h.entries().len(), 8);
        let mut ed = LineEditor::new("", false);
        type_keys(&mut ed, &[keys::KEY_UP, keys::KEY_UP], h.entries());
        assert_eq!(ed.text(), "c8");
        type_keys(&mut ed, &[keys::KEY_DOWN, keys::KEY_DOWN], h.entries());
        assert_eq!(ed.text(), "");
    }
}
