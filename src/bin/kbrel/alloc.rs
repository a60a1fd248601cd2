//! The binary's allocator: glibc's malloc, tuned, with its heaps backed by transparent huge
//! pages where the kernel only gives them on request (`transparent_hugepage=madvise`, the
//! default of many distributions).
//!
//! Why: a publish of 20,000 documents touches about 250 MB of fresh memory once (the
//! documents, the manifest, the compressed chunks). With 4 KiB pages that is 60,000 page
//! faults, about 0.3 CPU-s of system time on the benchmark machine (a VM, where each first
//! touch also faults in the hypervisor); with 2 MiB pages it is a few hundred. glibc can do
//! this itself (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), but only when told by the
//! environment before the process starts, so the binary does the same `madvise` here.
//!
//! How: after every allocation, the region its memory came from is advised once:
//! - the main heap (`brk`), from where it was last advised up to the current break;
//! - a thread's heap: glibc reserves each one as a 64 MiB block aligned to 64 MiB
//!   (`HEAP_MAX_SIZE` on 64-bit), so the whole block is advised the first time a thread
//!   sees it;
//! - a block of 32 MiB or more (`M_MMAP_THRESHOLD`, set below): its own mapping.
//!
//! The check costs one thread-local comparison per allocation once a thread's heap is
//! advised. Advice is only advice: if it fails or THP is off, nothing changes but speed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// glibc's reservation for a thread's heap (`HEAP_MAX_SIZE`), aligned to its size.
const THREAD_HEAP: usize = 64 << 20;
/// Blocks at least this big get their own mapping (set with `M_MMAP_THRESHOLD`).
const MMAP_THRESHOLD: usize = 32 << 20;
/// A transparent huge page.
const HUGE_PAGE: usize = 2 << 20;
const PAGE: usize = 4096;

pub struct Allocator;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The main heap is `[MAIN_START, brk)`; `[MAIN_START, MAIN_ADVISED)` is advised.
static MAIN_START: AtomicUsize = AtomicUsize::new(0);
static MAIN_ADVISED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The thread heap block (address / `THREAD_HEAP`) this thread last advised.
    static ADVISED_BLOCK: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Tune glibc's malloc and start advising its heaps. Called first thing in `main`, before
/// any other thread exists.
pub fn tune() {
    // glibc's malloc grows each thread's heap in small steps, one `mprotect` per step, and
    // each step stalls the other threads' page faults; with 20,000 documents loaded on
    // every core that showed up as system time. Take 64 MiB steps, keep freed memory up to
    // 128 MiB instead of trimming and regrowing, and serve blocks up to 32 MiB from the
    // heap rather than from a fresh mapping each time (the default adapts, but setting any
    // of these fixes it).
    // SAFETY: `mallopt` only changes allocator parameters and `sbrk(0)` only reads the
    // current break; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        let brk = libc::sbrk(0) as usize;
        // What is below the break now stays as it is: the next 2 MiB boundary starts the
        // advised part.
        let start = brk.next_multiple_of(HUGE_PAGE);
        MAIN_START.store(start, Relaxed);
        MAIN_ADVISED.store(start, Relaxed);
    }
    ENABLED.store(true, Relaxed);
}

/// Advise the memory `[p, p + size)` was allocated from, unless that is done already.
#[inline]
fn advise(p: *mut u8, size: usize) {
    if p.is_null() || !ENABLED.load(Relaxed) {
        return;
    }
    let a = p as usize;
    if size < MMAP_THRESHOLD {
        if a + size <= MAIN_ADVISED.load(Relaxed) && a >= MAIN_START.load(Relaxed) {
            return;
        }
        if ADVISED_BLOCK.get() == a / THREAD_HEAP {
            return;
        }
    }
    advise_slow(a, size);
}

#[cold]
fn advise_slow(a: usize, size: usize) {
    if size >= MMAP_THRESHOLD {
        let start = a & !(PAGE - 1);
        madvise(start, a + size - start);
        return;
    }
    // SAFETY: `sbrk(0)` only reads the current break.
    let brk = unsafe { libc::sbrk(0) } as usize;
    let main_start = MAIN_START.load(Relaxed);
    if a < brk {
        // The main heap (or below where it is advised from): advise what it grew by. A
        // block may start in the advised part and end in what the heap just grew by.
        if a >= main_start {
            let end = brk & !(PAGE - 1);
            let from = MAIN_ADVISED.fetch_max(end, Relaxed);
            if end > from {
                madvise(from, end - from);
            }
        }
        return;
    }
    let block = a / THREAD_HEAP;
    ADVISED_BLOCK.set(block);
    madvise(block * THREAD_HEAP, THREAD_HEAP);
}

fn madvise(start: usize, len: usize) {
    // SAFETY: MADV_HUGEPAGE changes how the kernel backs the range, never its contents; an
    // unmapped part only makes the call fail, which is ignored.
    unsafe {
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; `advise` only reads the result.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `VmFlags` of the mapping of this process that holds `addr`.
    fn vm_flags(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((lo, hi)) = range.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.trim().to_string();
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    fn advised(addr: usize) -> bool {
        vm_flags(addr).split(' ').any(|f| f == "hg")
    }

    #[test]
    fn heap_blocks_and_big_blocks_are_backed_by_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            // A kernel built without THP: MADV_HUGEPAGE does not exist there.
            return;
        }
        tune();
        // A test thread allocates from a glibc thread heap; 8 MiB stays below the mmap
        // threshold, so it comes from that heap.
        let heap_block = vec![1u8; 8 << 20];
        assert!(
            advised(heap_block.as_ptr() as usize + (4 << 20)),
            "thread heap not advised: {}",
            vm_flags(heap_block.as_ptr() as usize)
        );
        // 40 MiB gets its own mapping.
        let big = vec![1u8; 40 << 20];
        assert!(
            advised(big.as_ptr() as usize + (20 << 20)),
            "big block not advised: {}",
            vm_flags(big.as_ptr() as usize)
        );
        // A block that grows in place or moves stays covered.
        let mut grown = Vec::<u8>::with_capacity(1 << 20);
        grown.resize(24 << 20, 1);
        assert!(advised(grown.as_ptr() as usize + (12 << 20)));
    }
}
