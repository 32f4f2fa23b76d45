//! Allocator: mimalloc as Rust's global allocator, called through its plain entry points for
//! ordinary alignments.
//!
//! Owns: the `GlobalAlloc` glue (the binary installs it in `main.rs`). Must not: do anything but
//! forward to mimalloc.
//!
//! Why not the `mimalloc` crate's allocator: it calls mimalloc's *aligned* functions for every
//! allocation, even alignment 1 or 8. In mimalloc v3 their fast path covers only blocks up to
//! 1 KiB; a larger block whose size is not a power of two (a request body, a header buffer)
//! takes the over-allocating generic path — measured, ~11 allocations per proxied request,
//! ~180 instructions each. Every mimalloc block is at least word-aligned, so alignments up to
//! the word size need nothing special (the rule `std`'s `System` allocator applies with
//! malloc's 16).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every mimalloc block has (its size classes are multiples of the word size,
/// and a page's first block is 16-aligned): 8 on 64-bit targets, 4 on 32-bit ones.
const MIN_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc, for `#[global_allocator]`.
pub struct Mimalloc;

/// Whether `layout` is served by a plain (unaligned) call.
fn plain(layout: &Layout) -> bool {
    layout.align() <= MIN_ALIGN && layout.align() <= layout.size()
}

// SAFETY: every method forwards to the mimalloc call with the same contract (a block of at least
// `size` bytes aligned to `align`, or null; free/realloc of a block mimalloc returned). A plain
// call is used only where mimalloc's own minimum alignment (a word) already meets `align`.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(&layout) {
            mi::mi_malloc(layout.size()) as *mut u8
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(&layout) {
            mi::mi_zalloc(layout.size()) as *mut u8
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MIN_ALIGN && layout.align() <= new_size {
            mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size from tiny to large, at every alignment up to a page: the block is aligned,
    /// writable to its full size, and survives growing and shrinking with its contents intact.
    #[test]
    fn blocks_are_aligned_writable_and_keep_their_contents() {
        let a = Mimalloc;
        let sizes = [
            1usize, 3, 7, 8, 9, 24, 40, 100, 1000, 1025, 2300, 4097, 70_000, 3_000_000,
        ];
        for &align in &[1usize, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for &size in &sizes {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: each block is used within its size and freed once, with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    std::ptr::write_bytes(p, 0xAB, size);
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size} align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == 0xAB));
                    let grown_layout = Layout::from_size_align(size * 3, align).unwrap();
                    let shrunk = a.realloc(grown, grown_layout, size.div_ceil(2));
                    assert_eq!(shrunk as usize % align, 0, "shrunk {size} align {align}");
                    assert!((0..size.div_ceil(2)).all(|i| *shrunk.add(i) == 0xAB));
                    a.dealloc(
                        shrunk,
                        Layout::from_size_align(size.div_ceil(2), align).unwrap(),
                    );

                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
