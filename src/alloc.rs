//! The memory allocator: the system's, except that large blocks are mapped on their own and
//! offered huge pages.
//!
//! Loading a million features fills a few hundred megabytes of vectors. With 4 KiB pages
//! the kernel takes a fault (and charges and zeroes a page) for every 4 KiB first touched:
//! about 160,000 faults, a sizeable share of a load's time. A block of `HUGE_FROM` bytes or
//! more is instead its own mapping, rounded up to whole 2 MiB huge pages and advised as
//! such, so it faults once per 2 MiB; growing it remaps its pages instead of copying them.
//! Where the kernel gives no huge pages the advice is simply ignored.
//!
//! Measured against the alternatives on the load of a million incidents (the median of 9
//! fresh processes each loading once, `cargo run --release --example load -- bench/out/data
//! incidents 1`, 2-core Xeon, transparent huge pages on `madvise`): this allocator 1.145 s
//! and 418 MB peak; mimalloc 1.545 s and 583 MB (three times the system time: it faults
//! in and resets its pages itself); the system allocator alone 1.177 s; the system allocator
//! with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` 1.135 s, a tie, but a tunable must be in the
//! environment before the process starts, which a server cannot see to for itself.
//!
//! ```
//! use std::alloc::{GlobalAlloc, Layout};
//! let a = kat::alloc::HugePages;
//! let layout = Layout::from_size_align(8 << 20, 8).unwrap();
//! unsafe {
//!     let p = a.alloc_zeroed(layout);
//!     assert!(!p.is_null() && *p.add(12345) == 0);
//!     let q = a.realloc(p, layout, 20 << 20);
//!     assert!(!q.is_null());
//!     a.dealloc(q, Layout::from_size_align(20 << 20, 8).unwrap());
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large are mapped on their own.
const HUGE_FROM: usize = 4 << 20;

/// The huge page size on x86-64 and arm64 (with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, with large blocks mapped on their own and advised to use huge
/// pages (see the module's documentation).
pub struct HugePages;

fn mapped_len(size: usize) -> usize {
    size.div_ceil(HUGE_PAGE) * HUGE_PAGE
}

/// Whether a block of this layout is (or would be) mapped on its own. Mappings are aligned
/// to pages, so a stricter alignment stays with the system allocator.
fn is_mapped(layout: &Layout) -> bool {
    layout.size() >= HUGE_FROM && layout.align() <= 4096
}

unsafe fn map(size: usize) -> *mut u8 {
    let len = mapped_len(size);
    // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // SAFETY: advice on the mapping just made; it changes no contents.
    unsafe { libc::madvise(p, len, libc::MADV_HUGEPAGE) };
    p.cast()
}

unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_mapped(&layout) {
            // SAFETY: see `map`.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_mapped(&layout) {
            // Anonymous mappings are zero already.
            // SAFETY: see `map`.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_mapped(&layout) {
            // SAFETY: `ptr` is a mapping of this length made by `map` or `realloc`.
            unsafe { libc::munmap(ptr.cast(), mapped_len(layout.size())) };
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (for the whole body): the caller's contract for `realloc`; `ptr` was
        // allocated here with `layout`, so it is a mapping exactly when `is_mapped` says so.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_mapped(&layout), is_mapped(&new)) {
            (true, true) => {
                let (old_len, new_len) = (mapped_len(layout.size()), mapped_len(new_size));
                if old_len == new_len {
                    return ptr;
                }
                let p = unsafe { libc::mremap(ptr.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
                if p == libc::MAP_FAILED {
                    return std::ptr::null_mut();
                }
                if new_len > old_len {
                    unsafe { libc::madvise(p, new_len, libc::MADV_HUGEPAGE) };
                }
                p.cast()
            }
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            // Across the threshold: a new block, the contents copied.
            _ => unsafe {
                let p = self.alloc(new);
                if !p.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                p
            },
        }
    }
}
