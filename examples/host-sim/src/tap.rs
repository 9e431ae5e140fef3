//! The host side of the platform seam: a TAP device through smoltcp (no kernel IP stack
//! involved), the system clock, and waiting on the TAP file descriptor.

use netboot_core::net::{Progress, Waiter};
use netboot_core::proto::Millis;
use smoltcp::phy::{Medium, TunTapInterface};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Opens the TAP interface `name` (it must exist, e.g. `ip tuntap add dev NAME mode tap`).
pub fn open(name: &str) -> Result<TunTapInterface, String> {
    TunTapInterface::new(name, Medium::Ethernet).map_err(|e| {
        format!("cannot open TAP device {name:?}: {e} (create it with `ip tuntap add dev {name} mode tap` and run as root)")
    })
}

/// Time, idling on the TAP descriptor, and progress output for the poll loops.
pub struct HostWaiter {
    start: Instant,
    fd: Option<RawFd>,
    /// Print progress lines (`--quiet` turns them off).
    pub show_progress: bool,
}

impl HostWaiter {
    /// A waiter that wakes when `tap` has a frame.
    pub fn new(tap: Option<&TunTapInterface>) -> Self {
        HostWaiter {
            start: Instant::now(),
            fd: tap.map(|t| t.as_raw_fd()),
            show_progress: true,
        }
    }
}

impl Waiter for HostWaiter {
    fn now_ms(&mut self) -> Millis {
        self.start.elapsed().as_millis() as Millis
    }

    fn idle(&mut self, ms: Millis) {
        let d = Duration::from_millis(ms);
        match self.fd {
            Some(fd) => {
                let _ = smoltcp::phy::wait(fd, Some(d.into()));
            }
            None => std::thread::sleep(d),
        }
    }

    fn cancelled(&mut self) -> bool {
        // Ctrl-C on the host ends the process through the default SIGINT action.
        false
    }

    fn progress(&mut self, _p: &Progress) {
        // The final line is printed by the caller with the transfer details; a live
        // percentage would interleave with script output in logs.
    }
}
