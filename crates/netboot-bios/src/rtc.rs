//! The CMOS real-time clock (ports 0x70/0x71), for `${unixtime}`.
//!
//! The RTC keeps seconds, minutes, hours, day, month, year and (by convention, at CMOS
//! register 0x32) the century, in BCD or binary and in 12- or 24-hour mode as status
//! register B says. PC firmware keeps UTC there under most operating systems; netboot
//! takes it as UTC, as iPXE does. [`decode`] is pure (tested on the host); [`read`]
//! talks to the hardware.

/// Status register B: binary (not BCD) values.
const STATUS_B_BINARY: u8 = 0x04;
/// Status register B: 24-hour (not 12-hour) mode.
const STATUS_B_24H: u8 = 0x02;
/// In 12-hour mode, bit 7 of the hour says PM.
const HOUR_PM: u8 = 0x80;

/// RTC registers as read: seconds, minutes, hours, day of month, month, year (two
/// digits) and century, plus status register B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcRegisters {
    /// Registers 0x00, 0x02, 0x04, 0x07, 0x08, 0x09 and 0x32, in that order.
    pub time: [u8; 7],
    /// Register 0x0B.
    pub status_b: u8,
}

fn from_bcd(v: u8) -> Option<u8> {
    let (hi, lo) = (v >> 4, v & 0x0f);
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

/// Seconds since the Unix epoch for RTC register values; `None` for values that are not
/// a valid date and time (an RTC that was never set, a dead battery).
pub fn decode(r: RtcRegisters) -> Option<u64> {
    let binary = r.status_b & STATUS_B_BINARY != 0;
    let value = |v: u8| if binary { Some(v) } else { from_bcd(v) };
    let [sec, min, hour, day, month, year, century] = r.time;
    let pm = r.status_b & STATUS_B_24H == 0 && hour & HOUR_PM != 0;
    let mut hour = value(hour & !HOUR_PM)?;
    if r.status_b & STATUS_B_24H == 0 {
        // 12-hour mode: 12 AM is 0, 12 PM is 12.
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = (hour % 12) + if pm { 12 } else { 0 };
    }
    let year = value(year)?;
    // A century register that reads as garbage (many boards do not keep one): 20xx.
    let century = value(century)
        .filter(|c| (19..=99).contains(c))
        .unwrap_or(20);
    let full_year = u16::from(century) * 100 + u16::from(year);
    netboot_core::platform::unix_time_from_civil(
        full_year,
        value(month)?,
        value(day)?,
        hour,
        value(min)?,
        value(sec)?,
    )
}

/// Reads the RTC: waits for no update in progress, reads every register, and repeats
/// until two readings agree (an update may start between the check and the reads).
/// `None` if the RTC never settles or holds no valid time.
///
/// # Safety
///
/// Ports 0x70/0x71 must be the CMOS RTC, as on every PC; nothing else may use them
/// meanwhile (netboot runs with interrupts off). NMIs stay disabled while reading, as
/// the index register's bit 7 asks, and are re-enabled afterwards.
#[cfg(target_arch = "x86_64")]
pub unsafe fn read() -> Option<u64> {
    use crate::port::{inb, outb};
    const NMI_OFF: u8 = 0x80;
    // SAFETY: forwarded to the caller: CMOS index then data.
    let cmos = |reg: u8| unsafe {
        outb(0x70, reg | NMI_OFF);
        inb(0x71)
    };
    let snapshot = || RtcRegisters {
        time: [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(cmos),
        status_b: cmos(0x0b),
    };
    let mut previous: Option<RtcRegisters> = None;
    let mut result = None;
    for _ in 0..10_000 {
        // Status register A bit 7: update in progress (it lasts under 2 ms).
        if cmos(0x0a) & 0x80 != 0 {
            continue;
        }
        let now = snapshot();
        if previous == Some(now) {
            result = decode(now);
            break;
        }
        previous = Some(now);
    }
    // SAFETY: as above; selecting register 0x0d with bit 7 clear re-enables NMIs.
    unsafe { outb(0x70, 0x0d) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_24_hour() {
        // 2026-11-22 02:50:00 in BCD, 24-hour mode (status B = 0x02).
        let r = RtcRegisters {
            time: [0x00, 0x50, 0x02, 0x22, 0x11, 0x26, 0x20],
            status_b: 0x02,
        };
        assert_eq!(decode(r), Some(1_795_315_800));
    }

    #[test]
    fn binary_12_hour_and_missing_century() {
        // 2000-02-29 12:00:00 as 12 PM, binary, no century register (reads 0xff).
        let r = RtcRegisters {
            time: [0, 0, 12 | HOUR_PM, 29, 2, 0, 0xff],
            status_b: STATUS_B_BINARY,
        };
        assert_eq!(decode(r), Some(951_825_600));
        // 12 AM is midnight.
        let r = RtcRegisters {
            time: [0, 0, 12, 29, 2, 0, 20],
            status_b: STATUS_B_BINARY,
        };
        assert_eq!(decode(r), Some(951_782_400));
    }

    #[test]
    fn garbage_is_rejected() {
        let bad = [
            // Not BCD.
            RtcRegisters {
                time: [0x0a, 0, 0, 1, 1, 0x26, 0x20],
                status_b: 0x02,
            },
            // Month 0 (never set).
            RtcRegisters {
                time: [0, 0, 0, 1, 0, 0x26, 0x20],
                status_b: 0x02,
            },
            // Hour 0 in 12-hour mode.
            RtcRegisters {
                time: [0, 0, 0, 1, 1, 0x26, 0x20],
                status_b: 0,
            },
            // 31 November.
            RtcRegisters {
                time: [0, 0, 0, 0x31, 0x11, 0x26, 0x20],
                status_b: 0x02,
            },
        ];
        for r in bad {
            assert_eq!(decode(r), None, "{r:?}");
        }
    }
}
