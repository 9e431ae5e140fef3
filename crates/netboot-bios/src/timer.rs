//! Milliseconds from the TSC, calibrated against PIT channel 2 (platform-notes §2.12).
//!
//! The BIOS tick counter only advances in real mode with interrupts on, so long-mode
//! code measures time with the TSC. Its rate is measured once by counting TSC ticks
//! while PIT channel 2 (1.193182 MHz, gate on, speaker off) counts down a known
//! interval in mode 0.

use crate::port::{inb, outb};

/// PIT input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// Calibration interval in milliseconds.
pub const CALIBRATION_MS: u64 = 20;
/// TSC ticks per millisecond assumed if calibration fails (1 GHz).
pub const FALLBACK_PER_MS: u64 = 1_000_000;

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads a counter; it is available on every x86-64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Converts TSC ticks to milliseconds at `per_ms` ticks per millisecond.
pub const fn ticks_to_ms(ticks: u64, per_ms: u64) -> u64 {
    match ticks.checked_div(per_ms) {
        Some(ms) => ms,
        None => 0,
    }
}

/// A monotonic millisecond clock over the TSC.
#[derive(Clone, Copy, Debug)]
pub struct TscClock {
    start: u64,
    per_ms: u64,
}

impl TscClock {
    /// Calibrates the TSC against PIT channel 2 ([`CALIBRATION_MS`]) and starts the clock
    /// at 0.
    ///
    /// # Safety
    ///
    /// Ports 0x42, 0x43 and 0x61 must be the PC's PIT and system control port B, and
    /// nothing else may use PIT channel 2 (the PC speaker) meanwhile.
    pub unsafe fn calibrate() -> Self {
        let count = PIT_HZ * CALIBRATION_MS / 1000;
        // SAFETY: forwarded to the caller; the sequence is the classic one (Linux's
        // pit_calibrate_tsc): gate on, speaker off, mode 0, then wait for OUT2.
        let per_ms = unsafe {
            let b = inb(0x61);
            outb(0x61, (b & !0x02) | 0x01);
            outb(0x43, 0xB0); // channel 2, lobyte/hibyte, mode 0, binary
            outb(0x42, count as u8);
            outb(0x42, (count >> 8) as u8);
            let t0 = rdtsc();
            let mut done = false;
            for _ in 0..50_000_000u32 {
                if inb(0x61) & 0x20 != 0 {
                    done = true;
                    break;
                }
            }
            let t1 = rdtsc();
            outb(0x61, b);
            let per_ms = (t1.wrapping_sub(t0)) / CALIBRATION_MS;
            if done && per_ms > 1000 {
                per_ms
            } else {
                FALLBACK_PER_MS
            }
        };
        Self {
            start: rdtsc(),
            per_ms,
        }
    }

    /// Milliseconds since calibration.
    pub fn now_ms(&self) -> u64 {
        ticks_to_ms(rdtsc().wrapping_sub(self.start), self.per_ms)
    }

    /// TSC ticks per millisecond.
    pub fn ticks_per_ms(&self) -> u64 {
        self.per_ms
    }

    /// Busy-waits for `ms` milliseconds (interrupts are off in long mode, so `hlt`
    /// would never wake up).
    pub fn spin(&self, ms: u64) {
        let until = self.now_ms().saturating_add(ms);
        while self.now_ms() < until {
            core::hint::spin_loop();
        }
    }

    /// Busy-waits for `us` microseconds, measured in TSC ticks.
    pub fn spin_us(&self, us: u64) {
        let ticks = self.per_ms.saturating_mul(us) / 1000;
        let start = rdtsc();
        while rdtsc().wrapping_sub(start) < ticks {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_ticks() {
        assert_eq!(ticks_to_ms(3_000_000, 1_000_000), 3);
        assert_eq!(ticks_to_ms(5, 0), 0);
        assert!(rdtsc() > 0);
    }
}
