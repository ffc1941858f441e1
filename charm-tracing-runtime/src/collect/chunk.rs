//! Zeroed memory for the span table's chunks. Small chunks come from the allocator
//! (`calloc`). Large ones are mapped fresh from the kernel: zero already, and untouched
//! until a slot is used, so the unused end of a hook's last chunk costs no memory (`calloc`
//! would clear it, and so touch it). One mapped chunk of each size up to 4 MiB is kept for
//! the next session of the process (a test harness runs many), so that its pages are not
//! faulted in again; it is cleared when it is reused. Larger ones are unmapped: clearing
//! them would take long and touch all of them.

use std::alloc::Layout;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Chunks of this many bytes or more are mapped.
const MAPPED_FROM: usize = 64 * 1024;

/// Mapped chunks of at most this many bytes are kept for reuse.
const KEPT_UP_TO: usize = 4 << 20;

/// How many chunk sizes there can be (the table's chunk count).
pub(crate) const SIZES: usize = 27;

/// A large chunk kept for reuse, by size.
static SPARE: [AtomicPtr<u8>; SIZES] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SIZES];

/// Zeroed memory of `layout` for a chunk of size number `size` (each size number always
/// comes with the same layout); null if there is none.
pub(crate) fn alloc_zeroed(layout: Layout, size: usize) -> *mut u8 {
    if layout.size() < MAPPED_FROM || layout.align() > 4096 {
        // SAFETY: the table never asks for a zero-sized chunk.
        return unsafe { std::alloc::alloc_zeroed(layout) };
    }
    if let Some(spare) = SPARE.get(size).filter(|_| layout.size() <= KEPT_UP_TO) {
        let kept = spare.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !kept.is_null() {
            // SAFETY: a kept chunk is a live mapping of this layout's size, owned by nobody.
            unsafe { kept.write_bytes(0, layout.size()) };
            return kept;
        }
    }
    // SAFETY: a fresh private anonymous mapping; the arguments are valid.
    let mapped = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        mapped.cast()
    }
}

/// Gives back a chunk from [`alloc_zeroed`].
///
/// # Safety
/// `ptr` came from `alloc_zeroed(layout, size)` and is not used again.
pub(crate) unsafe fn free(ptr: *mut u8, layout: Layout, size: usize) {
    if layout.size() < MAPPED_FROM || layout.align() > 4096 {
        // SAFETY: allocated by `std::alloc::alloc_zeroed` with this layout.
        unsafe { std::alloc::dealloc(ptr, layout) };
        return;
    }
    let kept = layout.size() <= KEPT_UP_TO
        && SPARE.get(size).is_some_and(|spare| {
            spare
                .compare_exchange(
                    std::ptr::null_mut(),
                    ptr,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        });
    if !kept {
        // SAFETY: a mapping of this size made by `alloc_zeroed`, unused from here.
        unsafe { libc::munmap(ptr.cast(), layout.size()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_zeroed_small_or_mapped_new_or_reused() {
        // Size numbers 24 to 26 are this test's own: a table's budget (at most 1 GiB, at
        // least 80 bytes a span) never takes it past chunk 18, so no table shares them.
        for (bytes, size) in [(4096, 24), (1 << 20, 25), (8 << 20, 26)] {
            let layout = Layout::from_size_align(bytes, 8).unwrap();
            for _ in 0..3 {
                let chunk = alloc_zeroed(layout, size);
                assert!(!chunk.is_null());
                // SAFETY: `bytes` bytes were just allocated.
                let memory = unsafe { std::slice::from_raw_parts_mut(chunk, bytes) };
                assert!(memory.iter().all(|b| *b == 0), "{bytes} bytes come zeroed");
                memory.fill(0xAB);
                // SAFETY: from `alloc_zeroed` with the same layout and size number.
                unsafe { free(chunk, layout, size) };
            }
        }
    }
}
