//! 16550 UART (COM1) output and polled input.

use crate::port::{inb, outb};
use core::fmt;

/// I/O base of COM1.
pub const COM1: u16 = 0x3F8;

const THR: u16 = 0; // transmit holding register (DLAB = 0)
const RBR: u16 = 0; // receive buffer register (DLAB = 0)
const DLL: u16 = 0; // divisor latch low (DLAB = 1)
const IER: u16 = 1; // interrupt enable (DLAB = 0)
const DLM: u16 = 1; // divisor latch high (DLAB = 1)
const FCR: u16 = 2; // FIFO control
const LCR: u16 = 3; // line control
const MCR: u16 = 4; // modem control
const LSR: u16 = 5; // line status

/// LSR bit 0: a received byte is waiting.
pub const LSR_DATA_READY: u8 = 1 << 0;
/// LSR bit 5: the transmit holding register is empty.
pub const LSR_THR_EMPTY: u8 = 1 << 5;

/// How often LSR is polled for THR-empty before a byte is written anyway.
///
/// At 115200 baud one byte takes about 87 µs; an `in` from the UART takes about 1 µs on
/// real hardware, so this is several byte times. A missing UART reads LSR as 0xFF (which
/// looks ready), so a timeout means a stuck UART, not a missing one.
const TX_SPINS: u32 = 100_000;

/// A polled 16550-compatible UART.
#[derive(Debug)]
pub struct Serial {
    base: u16,
    timed_out: bool,
}

impl Serial {
    /// Programs the UART at `base` for 115200 baud, 8N1, FIFOs on, interrupts off.
    ///
    /// # Safety
    ///
    /// `base` must be the I/O base of a 16550-compatible UART (or of nothing) that no one
    /// else drives.
    pub unsafe fn init(base: u16) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe {
            outb(base + IER, 0x00); // no interrupts: we poll
            outb(base + LCR, 0x80); // DLAB = 1
            outb(base + DLL, 0x01); // divisor 1 = 115200 baud
            outb(base + DLM, 0x00);
            outb(base + LCR, 0x03); // DLAB = 0, 8 data bits, no parity, 1 stop bit
            outb(base + FCR, 0xC7); // enable and clear FIFOs, 14-byte RX threshold
            outb(base + MCR, 0x03); // DTR + RTS
        }
        Self {
            base,
            timed_out: false,
        }
    }

    /// Uses the UART at `base` as it is, without programming it (for the panic path).
    ///
    /// # Safety
    ///
    /// As for [`Serial::init`].
    pub const unsafe fn attach(base: u16) -> Self {
        Self {
            base,
            timed_out: false,
        }
    }

    /// Sends one byte, waiting (bounded) for THR-empty. Returns `false` if the UART never
    /// became ready (the byte is written anyway).
    pub fn write_byte(&mut self, byte: u8) -> bool {
        // SAFETY: `init`/`attach` contract: this is our UART.
        unsafe {
            let mut ready = false;
            for _ in 0..TX_SPINS {
                if inb(self.base + LSR) & LSR_THR_EMPTY != 0 {
                    ready = true;
                    break;
                }
            }
            outb(self.base + THR, byte);
            if !ready {
                self.timed_out = true;
            }
            ready
        }
    }

    /// Returns a received byte, if one is waiting (never blocks).
    pub fn read_byte(&mut self) -> Option<u8> {
        // SAFETY: `init`/`attach` contract: this is our UART.
        unsafe { (inb(self.base + LSR) & LSR_DATA_READY != 0).then(|| inb(self.base + RBR)) }
    }

    /// Whether any write so far timed out waiting for the transmitter.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }
}

impl fmt::Write for Serial {
    /// Writes the bytes as they are (callers use `\r\n` line endings).
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            self.write_byte(b);
        }
        Ok(())
    }
}
