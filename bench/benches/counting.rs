//! A global allocator that counts live bytes as the allocator's usable
//! size: shared by the `compare` (P8) and `patterns` (W5) benches, each of
//! which installs it as its `#[global_allocator]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicIsize};

/// Counts live bytes while [`COUNTING`] is set, as the allocator's usable
/// size of each block (what it really sets aside: the request rounded up
/// to its size class, on Linux `malloc_usable_size`), not the bytes
/// requested; otherwise costs one relaxed load per allocation.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
unsafe extern "C" {
    /// glibc's (and musl's) usable size of a block from `malloc`.
    fn malloc_usable_size(ptr: *mut std::ffi::c_void) -> usize;
}

/// The usable size of a live block of `System` (`requested` elsewhere).
#[allow(unsafe_code)]
fn usable(ptr: *mut u8, requested: usize) -> isize {
    #[cfg(target_os = "linux")]
    {
        let _ = requested;
        // SAFETY: `ptr` is a live block from `System`, which is glibc's
        // malloc on Linux (aligned blocks come from `posix_memalign`, which
        // `malloc_usable_size` accepts too).
        unsafe { malloc_usable_size(ptr.cast()) as isize }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ptr;
        requested as isize
    }
}

// SAFETY: delegates every call to `System` unchanged; the counters are
// plain atomics with no effect on the allocations.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if COUNTING.load(Relaxed) && !ptr.is_null() {
            LIVE.fetch_add(usable(ptr, layout.size()), Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(usable(ptr, layout.size()), Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let counting = COUNTING.load(Relaxed);
        let old = if counting { usable(ptr, layout.size()) } else { 0 };
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if counting && !new.is_null() {
            LIVE.fetch_add(usable(new, new_size) - old, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Live bytes allocated by `f` (and not freed), per `count`.
pub fn bytes_per<R>(count: usize, f: impl FnOnce() -> R) -> (f64, R) {
    LIVE.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let r = f();
    COUNTING.store(false, Relaxed);
    (LIVE.load(Relaxed) as f64 / count as f64, r)
}
