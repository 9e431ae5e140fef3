//! The platform seam: what the shared runtime needs from a machine.
//!
//! Each backend (UEFI, BIOS, the host simulator) implements these traits once. Shared
//! code never reaches the firmware any other way, so it can be tested on the host.

use core::fmt;

/// A key read from the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Key {
    /// A printable character or a control character such as Ctrl-C (`'\u{3}'`).
    Char(char),
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
}

impl Key {
    /// Ctrl-C, which cancels long operations.
    pub const CTRL_C: Key = Key::Char('\u{3}');
    /// Ctrl-B, which opens the shell during the autoboot countdown.
    pub const CTRL_B: Key = Key::Char('\u{2}');
}

/// Text output and non-blocking key input: serial and/or screen.
pub trait Console: fmt::Write {
    /// Returns a key if one is waiting, without blocking.
    fn poll_key(&mut self) -> Option<Key>;
}

/// A monotonic clock.
pub trait Clock {
    /// Milliseconds since an arbitrary start; never goes backwards.
    fn now_ms(&self) -> u64;
}

/// What to do with the machine when the runtime is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// Switch the machine off.
    PowerOff,
    /// Reset the machine.
    Reboot,
}

/// Machine power control.
pub trait Power {
    /// Performs `action`; returns only if the platform could not do it, with a reason.
    fn power(&mut self, action: PowerAction) -> &'static str;
}
