//! iPXE key codes (§5.1): characters are their Unicode value, special keys are
//! `0x110000 + ((n + 1) << 8) + final` for the ANSI sequence `ESC [ n final`.

use netboot_core::platform::Key;

const fn ansi(n: u32, fin: u8) -> u32 {
    0x11_0000 + ((n + 1) << 8) + fin as u32
}

/// Cursor up (`ESC [ A`).
pub const KEY_UP: u32 = ansi(0, b'A');
/// Cursor down (`ESC [ B`).
pub const KEY_DOWN: u32 = ansi(0, b'B');
/// Cursor right (`ESC [ C`).
pub const KEY_RIGHT: u32 = ansi(0, b'C');
/// Cursor left (`ESC [ D`).
pub const KEY_LEFT: u32 = ansi(0, b'D');
/// End (`ESC [ F`).
pub const KEY_END: u32 = ansi(0, b'F');
/// Home (`ESC [ H`).
pub const KEY_HOME: u32 = ansi(0, b'H');
/// Delete (`ESC [ 3 ~`).
pub const KEY_DELETE: u32 = ansi(3, b'~');
/// Page up (`ESC [ 5 ~`).
pub const KEY_PAGE_UP: u32 = ansi(5, b'~');
/// Page down (`ESC [ 6 ~`).
pub const KEY_PAGE_DOWN: u32 = ansi(6, b'~');
/// Escape.
pub const KEY_ESC: u32 = 0x1b;
/// Ctrl-C.
pub const CTRL_C: u32 = 0x03;
/// Backspace (Ctrl-H).
pub const BACKSPACE: u32 = 0x08;
/// Tab.
pub const TAB: u32 = 0x09;
/// Line feed (Enter on some terminals).
pub const LF: u32 = 0x0a;
/// Carriage return (Enter).
pub const CR: u32 = 0x0d;
/// DEL, which many terminals send for Backspace.
pub const DEL: u32 = 0x7f;

/// The iPXE code of a platform key.
pub fn key_code(key: Key) -> u32 {
    match key {
        Key::Char(c) => c as u32,
        Key::Up => KEY_UP,
        Key::Down => KEY_DOWN,
        Key::Left => KEY_LEFT,
        Key::Right => KEY_RIGHT,
        // `Key` is non-exhaustive; unknown keys map to an unused special code.
        _ => ansi(0x7f, b'?'),
    }
}
