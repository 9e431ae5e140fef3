//! VGA text-mode output (80×25 at 0xB8000).

use core::fmt;
use core::ptr::{read_volatile, write_volatile};

/// Physical (identity-mapped) address of the colour text buffer.
pub const TEXT_BUFFER: usize = 0xB8000;
/// Columns.
pub const WIDTH: usize = 80;
/// Rows.
pub const HEIGHT: usize = 25;
/// Light grey on black.
pub const DEFAULT_ATTR: u8 = 0x07;

/// A write-only VGA text console with its own cursor; scrolls at the bottom.
#[derive(Debug)]
pub struct Vga {
    row: usize,
    col: usize,
    attr: u8,
}

impl Vga {
    /// Clears the screen and starts at the top-left corner.
    ///
    /// # Safety
    ///
    /// The machine must have a colour VGA-compatible adapter in text mode 3, with
    /// 0xB8000 identity mapped, and nothing else may write the text buffer or the CRTC
    /// cursor registers while this value is used.
    pub unsafe fn init() -> Self {
        let mut vga = Self {
            row: 0,
            col: 0,
            attr: DEFAULT_ATTR,
        };
        for row in 0..HEIGHT {
            vga.clear_row(row);
        }
        vga.update_cursor();
        vga
    }

    fn cell(index: usize) -> *mut u16 {
        (TEXT_BUFFER as *mut u16).wrapping_add(index)
    }

    fn clear_row(&mut self, row: usize) {
        let blank = u16::from(self.attr) << 8 | u16::from(b' ');
        for col in 0..WIDTH {
            // SAFETY: inside the 80×25 buffer (`init` contract).
            unsafe { write_volatile(Self::cell(row * WIDTH + col), blank) };
        }
    }

    fn newline(&mut self) {
        self.col = 0;
        if self.row + 1 < HEIGHT {
            self.row += 1;
            return;
        }
        for i in 0..(HEIGHT - 1) * WIDTH {
            // SAFETY: both cells are inside the buffer (`init` contract).
            unsafe { write_volatile(Self::cell(i), read_volatile(Self::cell(i + WIDTH))) };
        }
        self.clear_row(HEIGHT - 1);
    }

    /// Moves the hardware cursor to the current position.
    fn update_cursor(&self) {
        let pos = (self.row * WIDTH + self.col) as u16;
        // SAFETY: CRTC index/data ports of a colour adapter (`init` contract).
        unsafe {
            crate::port::outb(0x3D4, 0x0F);
            crate::port::outb(0x3D5, pos as u8);
            crate::port::outb(0x3D4, 0x0E);
            crate::port::outb(0x3D5, (pos >> 8) as u8);
        }
    }

    /// Writes one byte of code page 437; `\n`, `\r` and backspace move the cursor.
    pub fn write_byte(&mut self, byte: u8) {
        match byte {
            b'\n' => self.newline(),
            b'\r' => self.col = 0,
            0x08 => self.col = self.col.saturating_sub(1),
            _ => {
                if self.col == WIDTH {
                    self.newline();
                }
                let value = u16::from(self.attr) << 8 | u16::from(byte);
                // SAFETY: row < HEIGHT and col < WIDTH: inside the buffer.
                unsafe { write_volatile(Self::cell(self.row * WIDTH + self.col), value) };
                self.col += 1;
            }
        }
    }
}

impl fmt::Write for Vga {
    /// Writes ASCII as is; other characters appear as `?`.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            self.write_byte(if c.is_ascii() { c as u8 } else { b'?' });
        }
        self.update_cursor();
        Ok(())
    }
}
