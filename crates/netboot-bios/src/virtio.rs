//! A virtio split virtqueue in the legacy (virtio 0.9.5 / 1.0 "transitional") layout,
//! driven by polling.
//!
//! The queue is one zeroed, 4096-byte aligned allocation: the descriptor table, the
//! available ring right after it, and the used ring at the next 4096-byte boundary
//! ([`legacy_layout`]). Its physical address must be what the CPU sees (netboot-bios
//! runs identity mapped), and it is handed to the device as a page frame number. The
//! queue never frees its memory: the device may write it until it is reset, and that is
//! the driver's business ([`crate::virtio_net`]).
//!
//! The modern (virtio 1.0) interface takes the three addresses separately; the same
//! layout serves it.
//!
//! Everything here is plain memory access, so the ring handling is tested on the host
//! with the test playing the device.

use alloc::alloc::{Layout, alloc_zeroed};
use core::ptr;
use core::sync::atomic::{Ordering, fence};

/// Descriptor flag: the buffer continues in the `next` descriptor.
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes the buffer (receive), instead of reading it.
pub const DESC_F_WRITE: u16 = 2;
/// The legacy interface's ring alignment (and the page size of the queue PFN).
pub const LEGACY_ALIGN: usize = 4096;
/// The largest queue size the virtio specification allows.
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// Byte offsets of the available and used rings and the total size of a legacy queue of
/// `size` entries: descriptors (16 bytes each), then the available ring (flags, idx,
/// `size` entries, used_event), then at the next 4096-byte boundary the used ring
/// (flags, idx, `size` 8-byte elements, avail_event).
pub const fn legacy_layout(size: u16) -> (usize, usize, usize) {
    let q = size as usize;
    let avail = 16 * q;
    let avail_end = avail + 6 + 2 * q;
    let used = avail_end.next_multiple_of(LEGACY_ALIGN);
    let used_end = used + 6 + 8 * q;
    (avail, used, used_end.next_multiple_of(LEGACY_ALIGN))
}

/// Why a queue could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The device reports a queue size that is 0, not a power of two or too large.
    BadSize(u16),
    /// No memory for the rings.
    NoMemory(usize),
}

impl core::fmt::Display for QueueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadSize(0) => f.write_str("the device reports queue size 0 (queue absent)"),
            Self::BadSize(n) => write!(
                f,
                "the device reports queue size {n} (not a power of two up to 32768)"
            ),
            Self::NoMemory(n) => write!(f, "no memory for a {n}-byte virtqueue"),
        }
    }
}

/// A split virtqueue in legacy layout, polled (no interrupts, no event index).
#[derive(Debug)]
pub struct VirtQueue {
    base: *mut u8,
    size: u16,
    avail: usize,
    used: usize,
    /// The driver's copy of the available ring's `idx`.
    avail_idx: u16,
    /// The next used-ring entry to look at.
    last_used: u16,
}

impl VirtQueue {
    /// Allocates a zeroed queue of `size` entries (the size the device reports).
    ///
    /// The memory is leaked on purpose: once its address is given to a device, the device
    /// may write it until it is reset.
    pub fn new(size: u16) -> Result<Self, QueueError> {
        if size == 0 || !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(QueueError::BadSize(size));
        }
        let (avail, used, total) = legacy_layout(size);
        let layout = Layout::from_size_align(total, LEGACY_ALIGN)
            .map_err(|_| QueueError::NoMemory(total))?;
        // SAFETY: `layout` has a non-zero size.
        let base = unsafe { alloc_zeroed(layout) };
        if base.is_null() {
            return Err(QueueError::NoMemory(total));
        }
        Ok(Self {
            base,
            size,
            avail,
            used,
            avail_idx: 0,
            last_used: 0,
        })
    }

    /// The number of entries.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// The address of the descriptor table (start of the queue memory).
    pub fn address(&self) -> u64 {
        self.base as u64
    }

    /// The address of the available ("driver") ring.
    pub fn avail_address(&self) -> u64 {
        self.base as u64 + self.avail as u64
    }

    /// The address of the used ("device") ring.
    pub fn used_address(&self) -> u64 {
        self.base as u64 + self.used as u64
    }

    /// Writes descriptor `index`: `len` bytes at `addr`, `flags`, and the `next`
    /// descriptor of a chain. Out-of-range indices are ignored.
    pub fn set_desc(&mut self, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        if index >= self.size {
            return;
        }
        let at = 16 * usize::from(index);
        // SAFETY: descriptor `index` lies inside the allocation (index < size); the
        // fields are naturally aligned (the table is 4096-byte aligned, entries 16 bytes).
        unsafe {
            ptr::write_volatile(self.base.add(at).cast::<u64>(), addr.to_le());
            ptr::write_volatile(self.base.add(at + 8).cast::<u32>(), len.to_le());
            ptr::write_volatile(self.base.add(at + 12).cast::<u16>(), flags.to_le());
            ptr::write_volatile(self.base.add(at + 14).cast::<u16>(), next.to_le());
        }
    }

    /// Makes the chain starting at descriptor `head` available to the device. The caller
    /// then notifies the device (legacy: a write of the queue index to QueueNotify).
    pub fn push_avail(&mut self, head: u16) {
        let slot = usize::from(self.avail_idx % self.size);
        // SAFETY: ring entry `slot` (< size) and the idx field are inside the available
        // ring, which is inside the allocation; both are 2-byte aligned.
        unsafe {
            ptr::write_volatile(
                self.base.add(self.avail + 4 + 2 * slot).cast::<u16>(),
                head.to_le(),
            );
        }
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // The descriptor and the ring entry must be visible before the new idx.
        fence(Ordering::SeqCst);
        // SAFETY: as above (the idx field at avail + 2).
        unsafe {
            ptr::write_volatile(
                self.base.add(self.avail + 2).cast::<u16>(),
                self.avail_idx.to_le(),
            );
        }
        fence(Ordering::SeqCst);
    }

    /// The next chain the device has finished with: (head descriptor, bytes written).
    pub fn pop_used(&mut self) -> Option<(u16, u32)> {
        // SAFETY: the used ring's idx field is inside the allocation, 2-byte aligned; the
        // device may change it at any time, hence the volatile read.
        let device_idx =
            u16::from_le(unsafe { ptr::read_volatile(self.base.add(self.used + 2).cast::<u16>()) });
        if device_idx == self.last_used {
            return None;
        }
        // Read the element only after seeing the idx that covers it.
        fence(Ordering::SeqCst);
        let slot = usize::from(self.last_used % self.size);
        let at = self.used + 4 + 8 * slot;
        // SAFETY: element `slot` (< size) is inside the used ring, 4-byte aligned.
        let (id, len) = unsafe {
            (
                u32::from_le(ptr::read_volatile(self.base.add(at).cast::<u32>())),
                u32::from_le(ptr::read_volatile(self.base.add(at + 4).cast::<u32>())),
            )
        };
        self.last_used = self.last_used.wrapping_add(1);
        // A device handing back an id outside the table is broken: drop the entry
        // instead of indexing with it.
        let id = u16::try_from(id).ok().filter(|&id| id < self.size)?;
        Some((id, len))
    }

    /// Whether the device asks to be told about new available chains: its used ring's
    /// flags lack `VIRTQ_USED_F_NO_NOTIFY`. Only a hint, and safe to follow: a device
    /// that clears the flag looks at the available ring again afterwards (QEMU does), so a
    /// chain made available before that is not missed. Call after [`VirtQueue::push_avail`]
    /// (whose fence orders this read after the new index).
    pub fn needs_notify(&self) -> bool {
        // SAFETY: the used ring's flags field (at `used`) is inside the allocation,
        // 2-byte aligned; the device may change it at any time, hence the volatile read.
        let flags =
            u16::from_le(unsafe { ptr::read_volatile(self.base.add(self.used).cast::<u16>()) });
        flags & USED_F_NO_NOTIFY == 0
    }

    /// Chains the device has not handed back yet (available minus used).
    pub fn in_flight(&self) -> u16 {
        self.avail_idx.wrapping_sub(self.last_used)
    }
}

/// `VIRTQ_USED_F_NO_NOTIFY`: the device does not need notifications now.
const USED_F_NO_NOTIFY: u16 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// The device side of a queue, as the test plays it.
    struct Device<'a>(&'a VirtQueue);

    impl Device<'_> {
        fn read16(&self, at: usize) -> u16 {
            // SAFETY: offsets used by the tests are inside the queue's allocation.
            unsafe { ptr::read_volatile(self.0.base.add(at).cast::<u16>()) }
        }
        fn avail_idx(&self) -> u16 {
            self.read16(self.0.avail + 2)
        }
        fn avail_entry(&self, i: u16) -> u16 {
            self.read16(self.0.avail + 4 + 2 * usize::from(i % self.0.size))
        }
        fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
            let at = 16 * usize::from(i);
            // SAFETY: descriptor `i` is inside the table.
            unsafe {
                (
                    ptr::read_volatile(self.0.base.add(at).cast::<u64>()),
                    ptr::read_volatile(self.0.base.add(at + 8).cast::<u32>()),
                    ptr::read_volatile(self.0.base.add(at + 12).cast::<u16>()),
                    ptr::read_volatile(self.0.base.add(at + 14).cast::<u16>()),
                )
            }
        }
        fn complete(&self, used_idx: u16, id: u32, len: u32) {
            let slot = usize::from(used_idx % self.0.size);
            let at = self.0.used + 4 + 8 * slot;
            // SAFETY: inside the used ring.
            unsafe {
                ptr::write_volatile(self.0.base.add(at).cast::<u32>(), id);
                ptr::write_volatile(self.0.base.add(at + 4).cast::<u32>(), len);
                ptr::write_volatile(
                    self.0.base.add(self.0.used + 2).cast::<u16>(),
                    used_idx.wrapping_add(1),
                );
            }
        }
    }

    #[test]
    fn notifications_follow_the_device_hint() {
        let mut q = VirtQueue::new(4).expect("queue");
        q.push_avail(0);
        assert!(q.needs_notify());
        // The device sets VIRTQ_USED_F_NO_NOTIFY while it has buffers, clears it when it
        // wants to hear of new ones.
        // SAFETY: the used ring's flags field, inside the queue's allocation.
        unsafe { ptr::write_volatile(q.base.add(q.used).cast::<u16>(), USED_F_NO_NOTIFY) };
        q.push_avail(1);
        assert!(!q.needs_notify());
        // SAFETY: as above.
        unsafe { ptr::write_volatile(q.base.add(q.used).cast::<u16>(), 0) };
        assert!(q.needs_notify());
    }

    #[test]
    fn legacy_layout_matches_the_specification() {
        // QEMU's virtio-net queues: 256 entries → desc 4096 B, avail 518 B, used 2054 B.
        assert_eq!(legacy_layout(256), (4096, 8192, 12288));
        assert_eq!(legacy_layout(16), (256, 4096, 8192));
        assert_eq!(legacy_layout(1024), (16384, 20480, 32768));
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(
            VirtQueue::new(0).expect_err("size 0"),
            QueueError::BadSize(0)
        );
        assert_eq!(
            VirtQueue::new(100).expect_err("size 100"),
            QueueError::BadSize(100)
        );
        assert!(
            VirtQueue::new(0)
                .expect_err("size 0")
                .to_string()
                .contains("absent")
        );
    }

    #[test]
    fn available_and_used_rings_round_trip_and_wrap() {
        let mut q = VirtQueue::new(4).expect("queue");
        assert_eq!(q.address() % LEGACY_ALIGN as u64, 0);
        assert_eq!(q.avail_address(), q.address() + 64);
        assert_eq!(q.used_address(), q.address() + 4096);
        q.set_desc(1, 0x1234_5000, 1524, DESC_F_WRITE, 0);
        q.set_desc(9, 1, 1, 0, 0); // out of range: ignored
        assert_eq!(Device(&q).desc(1), (0x1234_5000, 1524, DESC_F_WRITE, 0));
        assert_eq!(q.pop_used(), None);
        // Twenty rounds wrap the 4-entry rings several times.
        for round in 0u16..20 {
            q.push_avail(round % 4);
            assert_eq!(q.in_flight(), 1);
            let dev = Device(&q);
            assert_eq!(dev.avail_idx(), round + 1);
            assert_eq!(dev.avail_entry(round), round % 4);
            dev.complete(round, u32::from(round % 4), 60 + u32::from(round));
            assert_eq!(q.pop_used(), Some((round % 4, 60 + u32::from(round))));
            assert_eq!(q.pop_used(), None);
            assert_eq!(q.in_flight(), 0);
        }
    }

    #[test]
    fn ignores_out_of_range_ids_from_the_device() {
        let mut q = VirtQueue::new(8).expect("queue");
        q.push_avail(0);
        Device(&q).complete(0, 8, 10);
        assert_eq!(q.pop_used(), None, "id 8 is outside an 8-entry table");
        assert_eq!(q.in_flight(), 0, "the bogus entry is consumed, not re-read");
    }
}
