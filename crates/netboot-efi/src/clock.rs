//! A monotonic millisecond clock.
//!
//! UEFI has no monotonic time service: `GetTime` reads the RTC (one-second resolution on
//! many machines, slow, and it jumps when the clock is set) and timer events only tick at
//! the firmware's timer period. We therefore count CPU time-stamp-counter ticks and
//! calibrate them once, at start, against `Stall()`, the firmware's calibrated busy-wait
//! (ACPI PM timer or HPET on EDK2). x86-64 CPUs that run UEFI have a constant-rate TSC
//! (invariant on everything since Nehalem/Barcelona; QEMU's TCG derives it from the host
//! clock), so one calibration holds for the life of the firmware. Readings are clamped so
//! the clock never goes backwards even if the TSC did (a different core, a firmware
//! write to the MSR).
//!
//! On targets without a TSC the clock advances by the time the firmware idled, which is a
//! lower bound of real time: timeouts then last longer, never shorter.

use core::cell::Cell;
use core::time::Duration;

/// How long the calibration stalls.
const CALIBRATION_MS: u64 = 10;

/// The longest single [`MonotonicClock::idle`] stall with a counter, in microseconds.
pub const IDLE_SLICE_US: u64 = 50;

/// Milliseconds since the clock was created.
#[derive(Debug)]
pub struct MonotonicClock {
    start: u64,
    ticks_per_ms: u64,
    last: Cell<u64>,
    idled_ms: Cell<u64>,
}

impl MonotonicClock {
    /// Calibrates the counter against `Stall()` (takes about 10 ms). Boot services must be
    /// active.
    pub fn calibrate() -> Self {
        let before = ticks();
        uefi::boot::stall(Duration::from_millis(CALIBRATION_MS));
        let after = ticks();
        Self::from_calibration(before, after.wrapping_sub(before) / CALIBRATION_MS)
    }

    /// A clock that counts `ticks_per_ms` counter ticks per millisecond from `start`.
    fn from_calibration(start: u64, ticks_per_ms: u64) -> Self {
        MonotonicClock {
            start,
            // A broken counter (0 ticks over the stall) must not divide by zero.
            ticks_per_ms: ticks_per_ms.max(1),
            last: Cell::new(0),
            idled_ms: Cell::new(0),
        }
    }

    /// Counter ticks per millisecond found by the calibration (0 without a counter).
    pub fn ticks_per_ms(&self) -> u64 {
        if HAS_COUNTER { self.ticks_per_ms } else { 0 }
    }

    /// Milliseconds since start; never decreases.
    pub fn now_ms(&self) -> u64 {
        let raw = if HAS_COUNTER {
            ticks().saturating_sub(self.start) / self.ticks_per_ms
        } else {
            self.idled_ms.get()
        };
        let now = raw.max(self.last.get());
        self.last.set(now);
        now
    }

    /// Records that the caller stalled for `ms` (only used without a counter).
    pub fn idled(&self, ms: u64) {
        self.idled_ms.set(self.idled_ms.get().saturating_add(ms));
    }

    /// Stalls for a short slice of at most `ms`: [`IDLE_SLICE_US`] with a counter (the
    /// callers are poll loops that must get back to the NIC soon: nothing interrupts a
    /// `Stall()`), a whole millisecond without one (then the idle time is the clock).
    /// Boot services must be active.
    pub fn idle(&self, ms: u64) {
        if ms == 0 {
            return;
        }
        if HAS_COUNTER {
            uefi::boot::stall(Duration::from_micros((ms * 1000).min(IDLE_SLICE_US)));
        } else {
            uefi::boot::stall(Duration::from_millis(1));
            self.idled(1);
        }
    }
}

/// The wall clock through the runtime service `GetTime`, as seconds since the Unix
/// epoch (UTC), for `${unixtime}`; `None` if the firmware has no working RTC.
///
/// UEFI gives local time with `TimeZone` = local − UTC in minutes; an unspecified time
/// zone is taken as UTC (which is what PC firmware keeps in the RTC under most OSes
/// other than Windows, and what iPXE assumes).
#[cfg(target_os = "uefi")]
pub fn wall_clock() -> Option<u64> {
    let t = uefi::runtime::get_time().ok()?;
    utc_seconds(
        [t.month(), t.day(), t.hour(), t.minute(), t.second()],
        t.year(),
        t.time_zone(),
    )
}

/// No `GetTime` off UEFI.
#[cfg(not(target_os = "uefi"))]
pub fn wall_clock() -> Option<u64> {
    None
}

/// UTC seconds from EFI time fields (`[month, day, hour, minute, second]`) and the
/// time zone (minutes east of UTC, `None` = unspecified = UTC).
#[cfg_attr(not(target_os = "uefi"), allow(dead_code))] // used by `wall_clock` and tests
fn utc_seconds(fields: [u8; 5], year: u16, time_zone: Option<i16>) -> Option<u64> {
    let [month, day, hour, minute, second] = fields;
    let local =
        netboot_core::platform::unix_time_from_civil(year, month, day, hour, minute, second)?;
    let offset = i64::from(time_zone.unwrap_or(0)) * 60;
    local.checked_add_signed(-offset)
}

#[cfg(target_arch = "x86_64")]
const HAS_COUNTER: bool = true;
#[cfg(not(target_arch = "x86_64"))]
const HAS_COUNTER: bool = false;

#[cfg(target_arch = "x86_64")]
fn ticks() -> u64 {
    // SAFETY: RDTSC exists on every x86-64 CPU and has no side effects; UEFI runs at CPL 0,
    // so CR4.TSD cannot make it fault.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn ticks() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efi_time_fields_become_utc_seconds() {
        // 2026-11-22 02:50:00 UTC.
        assert_eq!(
            utc_seconds([11, 22, 2, 50, 0], 2026, None),
            Some(1_795_315_800)
        );
        // The same instant as 03:50 local time in UTC+1 (TimeZone = +60).
        assert_eq!(
            utc_seconds([11, 22, 3, 50, 0], 2026, Some(60)),
            Some(1_795_315_800)
        );
        assert_eq!(
            utc_seconds([11, 22, 1, 50, 0], 2026, Some(-60)),
            Some(1_795_315_800)
        );
        // An RTC that was never set (month 0) or lies before the epoch.
        assert_eq!(utc_seconds([0, 1, 0, 0, 0], 2026, None), None);
        assert_eq!(utc_seconds([1, 1, 0, 30, 0], 1970, Some(60)), None);
    }

    #[test]
    fn never_goes_backwards_and_survives_a_zero_calibration() {
        let clock = MonotonicClock::from_calibration(ticks(), 0);
        let a = clock.now_ms();
        let b = clock.now_ms();
        assert!(b >= a);
        // A counter behind the start (TSC went backwards) holds the last reading instead
        // of wrapping around to centuries.
        let clock = MonotonicClock::from_calibration(u64::MAX, 1_000_000);
        clock.last.set(5);
        assert_eq!(clock.now_ms(), 5);
    }
}
