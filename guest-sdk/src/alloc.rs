//! The guest's memory allocator (wasm only): power-of-two size classes with free lists,
//! carved from 1 MiB chunks; anything larger than 64 KiB, or aligned to more than 16, goes to
//! std's allocator (dlmalloc).
//!
//! Why: a mapper makes a few dozen small allocations per record (parsed strings, the event's
//! fields), and dlmalloc's bookkeeping was ~10% of mapping time in wasm. Here an allocation
//! is a free-list pop or a pointer bump, a free is a push. Freed blocks are only reused for
//! the same class, which is fine because the host gives every batch a fresh instance: the
//! heap never lives longer than one batch.
//!
//! Mapper authors who bring their own `#[global_allocator]` turn this off with
//! `default-features = false` on `trawl-guest-sdk`.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::UnsafeCell,
    ptr::null_mut,
};

const MIN_SHIFT: u32 = 4; // 16 B
const MAX_SHIFT: u32 = 16; // 64 KiB
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const MAX_ALIGN: usize = 1 << MIN_SHIFT;
const CHUNK: usize = 1 << 20;

struct State {
    free: [*mut u8; CLASSES],
    bump: usize,
    end: usize,
}

/// The allocator. Not thread-safe: wasm32-wasip1 guests are single-threaded.
pub struct SizeClassAlloc(UnsafeCell<State>);

// SAFETY: the guest has one thread (wasm32-wasip1 without threads).
unsafe impl Sync for SizeClassAlloc {}

impl SizeClassAlloc {
    /// An empty allocator; chunks are taken on first use.
    pub const fn new() -> Self {
        Self(UnsafeCell::new(State { free: [null_mut(); CLASSES], bump: 0, end: 0 }))
    }
}

impl Default for SizeClassAlloc {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of a layout, or None for the fallback allocator.
#[inline]
fn class(l: &Layout) -> Option<usize> {
    if l.align() > MAX_ALIGN || l.size() > 1 << MAX_SHIFT {
        return None;
    }
    let size = l.size().max(1 << MIN_SHIFT);
    Some((usize::BITS - (size - 1).leading_zeros() - MIN_SHIFT) as usize)
}

unsafe impl GlobalAlloc for SizeClassAlloc {
    // The fast paths (pop a free block, bump within the chunk) are all `alloc` does inline; the
    // rest is in cold functions, so `__rust_alloc`, which every allocation calls, stays a leaf
    // without a stack frame (in wasm, a frame costs shadow-stack global updates per call).
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let Some(c) = class(&l) else { return unsafe { system_alloc(l) } };
        // SAFETY: single-threaded, and no allocator call re-enters this one.
        let st = unsafe { &mut *self.0.get() };
        let head = st.free[c];
        if !head.is_null() {
            st.free[c] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        let size = 1usize << (c as u32 + MIN_SHIFT);
        if st.end - st.bump < size {
            return unsafe { alloc_from_new_chunk(st, size) };
        }
        let p = st.bump as *mut u8;
        st.bump += size;
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let Some(c) = class(&l) else { return unsafe { system_dealloc(p, l) } };
        let st = unsafe { &mut *self.0.get() };
        unsafe { *(p as *mut *mut u8) = st.free[c] };
        st.free[c] = p;
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        match (class(&l), class(&new)) {
            // Same block size: nothing to move (strings and vecs growing within a class).
            (Some(a), Some(b)) if a == b => p,
            (None, None) => unsafe { System.realloc(p, l, new_size) },
            _ => {
                let q = unsafe { self.alloc(new) };
                if !q.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                        self.dealloc(p, l);
                    }
                }
                q
            }
        }
    }
}

#[cold]
#[inline(never)]
unsafe fn system_alloc(l: Layout) -> *mut u8 {
    unsafe { System.alloc(l) }
}

#[cold]
#[inline(never)]
unsafe fn system_dealloc(p: *mut u8, l: Layout) {
    unsafe { System.dealloc(p, l) }
}

/// Takes a new chunk and the first `size` bytes of it. The tail of the old chunk (< 64 KiB)
/// is abandoned; it is never more than 6%.
#[cold]
#[inline(never)]
unsafe fn alloc_from_new_chunk(st: &mut State, size: usize) -> *mut u8 {
    let chunk = unsafe { System.alloc(Layout::from_size_align_unchecked(CHUNK, MAX_ALIGN)) };
    if chunk.is_null() {
        return null_mut();
    }
    st.bump = chunk as usize + size;
    st.end = chunk as usize + CHUNK;
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_powers_of_two() {
        let c = |size, align| class(&Layout::from_size_align(size, align).unwrap());
        assert_eq!(c(0, 1), Some(0));
        assert_eq!(c(16, 8), Some(0));
        assert_eq!(c(17, 1), Some(1));
        assert_eq!(c(1200, 1), Some(7)); // 2 KiB
        assert_eq!(c(1 << 16, 1), Some(CLASSES - 1));
        assert_eq!(c((1 << 16) + 1, 1), None);
        assert_eq!(c(64, 32), None);
    }

    #[test]
    fn blocks_are_reused_within_a_class_and_hold_their_bytes() {
        let a = SizeClassAlloc::new();
        unsafe {
            let l = Layout::from_size_align(100, 8).unwrap();
            let p = a.alloc(l);
            assert_eq!(p as usize % 8, 0);
            p.write_bytes(7, 100);
            let q = a.realloc(p, l, 120); // same 128 B class: same block
            assert_eq!(q, p);
            let r = a.realloc(q, Layout::from_size_align(120, 8).unwrap(), 5000);
            assert_ne!(r, q);
            assert!(std::slice::from_raw_parts(r, 100).iter().all(|&b| b == 7));
            let s = a.alloc(l); // the freed 128 B block comes back
            assert_eq!(s, p);
            a.dealloc(s, l);
            a.dealloc(r, Layout::from_size_align(5000, 8).unwrap());
            let big = Layout::from_size_align(1 << 20, 8).unwrap();
            let b = a.alloc(big);
            assert!(!b.is_null());
            a.dealloc(b, big);
        }
    }

    #[test]
    fn blocks_carved_across_chunks_do_not_overlap() {
        let a = SizeClassAlloc::new();
        let l = Layout::from_size_align(40 << 10, 16).unwrap(); // the 64 KiB class: 16 per chunk
        let mut blocks: Vec<usize> = (0..40).map(|_| unsafe { a.alloc(l) } as usize).collect();
        assert!(blocks.iter().all(|&p| p != 0 && p % 16 == 0));
        blocks.sort();
        assert!(blocks.windows(2).all(|w| w[1] - w[0] >= 64 << 10), "overlapping blocks: {blocks:x?}");
    }
}
