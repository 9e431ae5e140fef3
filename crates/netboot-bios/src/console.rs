//! The BIOS console: COM1 plus, optionally, the VGA text screen.

use crate::serial::{COM1, Serial};
use crate::vga::Vga;
use core::fmt;
use netboot_core::platform::{Console, Key};

/// How many LSR polls to wait for the rest of an escape sequence.
const ESCAPE_SPINS: u32 = 20_000;

/// Serial (always) and VGA (optional) output; keys from the serial line.
#[derive(Debug)]
pub struct BiosConsole {
    serial: Serial,
    vga: Option<Vga>,
}

impl BiosConsole {
    /// Initialises COM1 (115200 8N1) and, if `with_vga`, clears the VGA text screen.
    ///
    /// # Safety
    ///
    /// The contracts of [`Serial::init`] (for COM1) and, with `with_vga`, [`Vga::init`]
    /// hold; only one console exists.
    pub unsafe fn init(with_vga: bool) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe {
            Self {
                serial: Serial::init(COM1),
                vga: if with_vga { Some(Vga::init()) } else { None },
            }
        }
    }

    /// The serial port, e.g. for raw byte output.
    pub fn serial(&mut self) -> &mut Serial {
        &mut self.serial
    }

    fn wait_byte(&mut self) -> Option<u8> {
        (0..ESCAPE_SPINS).find_map(|_| self.serial.read_byte())
    }
}

impl fmt::Write for BiosConsole {
    /// Writes to both outputs. Fails only if the serial transmitter is stuck and there is
    /// no screen, i.e. when nothing can be seen.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.serial.write_str(s)?;
        if let Some(vga) = &mut self.vga {
            vga.write_str(s)?;
        } else if self.serial.timed_out() {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

impl Console for BiosConsole {
    /// Maps serial bytes to keys: ANSI `ESC [ A/B/C/D` to the arrow keys, DEL to
    /// backspace, anything else to the character with that code (Latin-1).
    fn poll_key(&mut self) -> Option<Key> {
        let byte = self.serial.read_byte()?;
        if byte == 0x1B {
            // A lone ESC stays ESC; an arrow sequence arrives back to back.
            match self.wait_byte() {
                Some(b'[') => {}
                Some(other) => return Some(Key::Char(char::from(other))),
                None => return Some(Key::Char('\u{1b}')),
            }
            return Some(match self.wait_byte() {
                Some(b'A') => Key::Up,
                Some(b'B') => Key::Down,
                Some(b'C') => Key::Right,
                Some(b'D') => Key::Left,
                Some(other) => Key::Char(char::from(other)),
                None => Key::Char('['),
            });
        }
        Some(Key::Char(if byte == 0x7F {
            '\u{8}'
        } else {
            char::from(byte)
        }))
    }
}
