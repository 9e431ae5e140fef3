//! The firmware heap: a first-fit free-list allocator.
//!
//! `netboot-core` needs `alloc`. [`Heap`] manages one region given at run time; free
//! blocks form an address-ordered singly linked list stored in the free memory itself,
//! and neighbours are merged on free. Every block is a multiple of [`BLOCK`] bytes and
//! [`BLOCK`]-aligned, so a free block always has room for its list node.
//!
//! For `target_os = "none"` this module also installs the global allocator over a
//! [`HEAP_SIZE`] region in `.bss` (zeroed by the entry code; for `netboot.kpxe` that is
//! base memory, see `kpxe.ld`). The firmware is single-threaded and runs with interrupts
//! off, so the global allocator needs no lock; the code is host-tested on a buffer.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// Allocation granule and minimum alignment.
pub const BLOCK: usize = 16;
/// Size of the global heap on `target_os = "none"`.
pub const HEAP_SIZE: usize = 256 * 1024;

#[repr(C)]
struct Free {
    size: usize,
    next: *mut Free,
}

/// A first-fit allocator over one memory region.
#[derive(Debug)]
pub struct Heap {
    head: *mut Free,
}

// SAFETY: a `Heap` is only a pointer into the region it owns (see `Heap::add_region`).
unsafe impl Send for Heap {}

impl Heap {
    /// An empty heap; every allocation fails until [`Heap::add_region`].
    pub const fn empty() -> Self {
        Self {
            head: ptr::null_mut(),
        }
    }

    /// Rounds a layout to the block size and alignment this heap uses.
    fn block_layout(layout: Layout) -> Option<(usize, usize)> {
        let size = layout.size().max(1).checked_next_multiple_of(BLOCK)?;
        Some((size, layout.align().max(BLOCK)))
    }

    /// Hands the memory `[start, start + size)` to the heap (trimmed to [`BLOCK`]s).
    ///
    /// # Safety
    ///
    /// The memory must be valid for reads and writes, unused by anything else for as
    /// long as the heap lives, and must not overlap memory the heap already has.
    pub unsafe fn add_region(&mut self, start: *mut u8, size: usize) {
        let addr = start as usize;
        let Some(aligned) = addr.checked_next_multiple_of(BLOCK) else {
            return;
        };
        let size = size.saturating_sub(aligned - addr) / BLOCK * BLOCK;
        if size == 0 {
            return;
        }
        // SAFETY: the trimmed region is inside the caller's region and block aligned.
        unsafe { self.insert(start.wrapping_add(aligned - addr).cast(), size) };
    }

    /// Inserts a free block in address order and merges it with its neighbours.
    ///
    /// # Safety
    ///
    /// `block` is `BLOCK`-aligned, `size` a non-zero multiple of `BLOCK`, and the memory
    /// belongs to this heap and is not in the free list.
    unsafe fn insert(&mut self, block: *mut Free, size: usize) {
        // SAFETY: all pointers followed are free-list nodes inside the heap's memory.
        unsafe {
            let mut prev: *mut Free = ptr::null_mut();
            let mut next = self.head;
            while !next.is_null() && next < block {
                prev = next;
                next = (*next).next;
            }
            block.write(Free { size, next });
            if !next.is_null() && (block as usize) + size == next as usize {
                (*block).size += (*next).size;
                (*block).next = (*next).next;
            }
            if prev.is_null() {
                self.head = block;
            } else if (prev as usize) + (*prev).size == block as usize {
                (*prev).size += (*block).size;
                (*prev).next = (*block).next;
            } else {
                (*prev).next = block;
            }
        }
    }

    /// Allocates memory for `layout`, or returns `None` if no free block fits.
    pub fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let (size, align) = Self::block_layout(layout)?;
        let mut prev: *mut Free = ptr::null_mut();
        let mut cur = self.head;
        // SAFETY: list nodes are valid free blocks owned by the heap (`add_region`).
        unsafe {
            while !cur.is_null() {
                let start = cur as usize;
                let block_end = start + (*cur).size;
                let user = start.checked_next_multiple_of(align)?;
                if let Some(user_end) = user.checked_add(size).filter(|&e| e <= block_end) {
                    let next = (*cur).next;
                    // Unlink `cur`, then give back the unused front and tail (both are
                    // multiples of BLOCK because every address involved is).
                    if prev.is_null() {
                        self.head = next;
                    } else {
                        (*prev).next = next;
                    }
                    if user > start {
                        self.insert(cur, user - start);
                    }
                    if block_end > user_end {
                        self.insert(user_end as *mut Free, block_end - user_end);
                    }
                    return NonNull::new(user as *mut u8);
                }
                prev = cur;
                cur = (*cur).next;
            }
        }
        None
    }

    /// Frees memory from [`Heap::allocate`].
    ///
    /// # Safety
    ///
    /// `ptr` came from `allocate` on this heap with the same `layout` and is not used
    /// afterwards.
    pub unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if let Some((size, _)) = Self::block_layout(layout) {
            // SAFETY: the block was handed out by `allocate` with exactly this size.
            unsafe { self.insert(ptr.as_ptr().cast(), size) };
        }
    }

    /// Total free bytes (walks the list).
    pub fn free_bytes(&self) -> usize {
        let mut total = 0;
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: list nodes are valid free blocks.
            unsafe {
                total += (*cur).size;
                cur = (*cur).next;
            }
        }
        total
    }
}

#[cfg(target_os = "none")]
mod global {
    use super::{HEAP_SIZE, Heap};
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;
    use core::ptr;

    #[repr(C, align(16))]
    struct Region([u8; HEAP_SIZE]);

    struct Global {
        heap: UnsafeCell<Heap>,
        region: UnsafeCell<Region>,
        ready: UnsafeCell<bool>,
    }

    // SAFETY: the BIOS firmware runs on one CPU with interrupts off: no concurrent access.
    unsafe impl Sync for Global {}

    impl Global {
        /// # Safety
        /// Single-threaded, not re-entered.
        #[allow(clippy::mut_from_ref)]
        unsafe fn heap(&self) -> &mut Heap {
            // SAFETY: single CPU, no interrupts, allocator calls do not nest.
            unsafe {
                let heap = &mut *self.heap.get();
                if !*self.ready.get() {
                    *self.ready.get() = true;
                    heap.add_region(self.region.get().cast(), HEAP_SIZE);
                }
                heap
            }
        }
    }

    // SAFETY: `Heap` hands out non-overlapping, correctly aligned blocks of at least the
    // requested size from memory it owns, and takes back only what it handed out.
    unsafe impl GlobalAlloc for Global {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: see `Global::heap`.
            unsafe { self.heap() }
                .allocate(layout)
                .map_or(ptr::null_mut(), |p| p.as_ptr())
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if let Some(p) = ptr::NonNull::new(ptr) {
                // SAFETY: `GlobalAlloc` contract: `ptr` came from `alloc` with `layout`.
                unsafe { self.heap().deallocate(p, layout) };
            }
        }
    }

    /// Hands more memory to the global allocator (see [`super::add_global_region`]).
    ///
    /// # Safety
    ///
    /// As for [`Heap::add_region`]; no allocation is in progress (single CPU).
    pub(super) unsafe fn add(start: *mut u8, size: usize) {
        // SAFETY: forwarded to the caller; `heap()` is not re-entered.
        unsafe { GLOBAL.heap().add_region(start, size) };
    }

    /// Free bytes of the global heap.
    pub(super) fn free() -> usize {
        // SAFETY: single CPU; no allocation is in progress while this runs.
        unsafe { GLOBAL.heap() }.free_bytes()
    }

    #[global_allocator]
    static GLOBAL: Global = Global {
        heap: UnsafeCell::new(Heap::empty()),
        region: UnsafeCell::new(Region([0; HEAP_SIZE])),
        ready: UnsafeCell::new(false),
    };
}

/// Adds `[start, start + size)` to the global allocator (e.g. RAM above 1 MiB found
/// through E820), on top of the static [`HEAP_SIZE`] region.
///
/// # Safety
///
/// The memory must be identity-mapped RAM used by nothing else for the rest of the
/// firmware's life (not the image, `.bss`, the stack, page tables or firmware data), and
/// must not overlap memory the heap already has.
#[cfg(target_os = "none")]
pub unsafe fn add_global_region(start: *mut u8, size: usize) {
    // SAFETY: forwarded to the caller.
    unsafe { global::add(start, size) };
}

/// Free bytes in the global allocator.
#[cfg(target_os = "none")]
pub fn global_free_bytes() -> usize {
    global::free()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn heap_over(buf: &mut [u128]) -> Heap {
        let mut heap = Heap::empty();
        // SAFETY: the buffer outlives the heap in every test and is used by nothing else.
        unsafe { heap.add_region(buf.as_mut_ptr().cast(), buf.len() * 16) };
        heap
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    #[test]
    fn allocates_aligned_and_merges_on_free() {
        let mut buf = vec![0u128; 4096]; // 64 KiB
        let mut heap = heap_over(&mut buf);
        let total = heap.free_bytes();
        assert_eq!(total, 65536);
        let mut live = Vec::new();
        for (i, (size, align)) in [
            (1, 1),
            (100, 8),
            (4096, 4096),
            (24, 32),
            (3000, 256),
            (16, 16),
        ]
        .into_iter()
        .enumerate()
        {
            let l = layout(size, align);
            let p = heap.allocate(l).expect("fits");
            assert_eq!(
                p.as_ptr() as usize % align.max(BLOCK),
                0,
                "alignment of #{i}"
            );
            // SAFETY: the allocation is `size` bytes long.
            unsafe { p.as_ptr().write_bytes(i as u8, size) };
            live.push((p, l));
        }
        // No overlaps: every allocation still holds its own fill byte.
        for (i, (p, l)) in live.iter().enumerate() {
            // SAFETY: live allocations of l.size() bytes.
            let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), l.size()) };
            assert!(
                bytes.iter().all(|&b| b == i as u8),
                "allocation #{i} overwritten"
            );
        }
        // Free in a scrambled order; everything merges back into one block.
        for i in [3, 0, 5, 1, 4, 2] {
            let (p, l) = live[i];
            // SAFETY: allocated above with the same layout, freed once.
            unsafe { heap.deallocate(p, l) };
        }
        assert_eq!(heap.free_bytes(), total);
        let all = heap
            .allocate(layout(total, 16))
            .expect("one big block again");
        assert_eq!(all.as_ptr() as usize, buf.as_ptr() as usize);
    }

    #[test]
    fn fails_cleanly_when_full() {
        let mut buf = vec![0u128; 64]; // 1 KiB
        let mut heap = heap_over(&mut buf);
        assert!(heap.allocate(layout(2048, 16)).is_none());
        let a = heap.allocate(layout(1024, 16)).expect("exact fit");
        assert!(heap.allocate(layout(1, 1)).is_none());
        // SAFETY: allocated above.
        unsafe { heap.deallocate(a, layout(1024, 16)) };
        assert!(
            heap.allocate(layout(isize::MAX as usize - 64, 16))
                .is_none()
        );
        assert!(Heap::empty().allocate(layout(1, 1)).is_none());
    }

    #[test]
    fn survives_churn() {
        let mut buf = vec![0u128; 2048]; // 32 KiB
        let mut heap = heap_over(&mut buf);
        let total = heap.free_bytes();
        let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
        let mut seed = 0x1234_5678u32;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if seed & 0x100 != 0 || live.is_empty() {
                let l = layout(1 + (seed >> 20) as usize % 700, 1 << ((seed >> 4) % 7));
                if let Some(p) = heap.allocate(l) {
                    live.push((p, l));
                }
            } else {
                let (p, l) = live.swap_remove((seed >> 12) as usize % live.len());
                // SAFETY: allocated with `l`, freed once.
                unsafe { heap.deallocate(p, l) };
            }
        }
        for (p, l) in live.drain(..) {
            // SAFETY: allocated with `l`, freed once.
            unsafe { heap.deallocate(p, l) };
        }
        assert_eq!(heap.free_bytes(), total);
    }
}
