//! The wasm global allocator: segregated power-of-two free lists over 64 KiB pages.
//!
//! Replaces Rust's default wasm allocator (dlmalloc) with a much smaller one for issue 5 point 6
//! (the 40 KiB gzipped budget, docs/DESIGN.md "Size"). The SDK allocates mostly small, short-lived
//! buffers (lines, fields, event strings) and a few growing `Vec`s, so a size-class allocator fits:
//! every operation on a small block is a list push or pop.
//!
//! Design:
//!
//! * **Small blocks** (size and alignment ≤ 32 KiB): 12 classes of 16 B, 32 B, … 32 KiB. A
//!   request goes to the class of `max(size, align, 16)` rounded up to a power of two. Each class
//!   is a singly linked free list of same-size blocks; the link is stored in the free block
//!   itself. The block size is implied by the class, so there is no header: `dealloc` finds the
//!   class again from `layout.size()`/`layout.align()`. A class with an empty list carves a new
//!   block from a bump region (one page, refilled from the page allocator) at an address that is
//!   a multiple of the block size, so every block is naturally aligned and `align ≤ block size`
//!   always holds. Alignment gaps and the leftover of an exhausted bump region are cut into
//!   naturally aligned blocks and pushed on the free lists, so nothing is lost. Small blocks are
//!   never merged or given back to the page allocator: a steady workload reaches its per-class
//!   peak and then only reuses blocks.
//! * **Large blocks** (> 32 KiB, or alignment > 32 KiB): whole 64 KiB pages, from an
//!   address-ordered list of free page runs. Allocation is first fit (an aligned start inside
//!   the run for alignment > 64 KiB) and splits the run; freeing inserts the run and merges it
//!   with its neighbours, so a growing `Vec` that is freed and grown again reuses the same pages.
//! * **Memory** comes from `memory.grow` ([`core::arch::wasm32::memory_grow`]), exactly the pages
//!   a request lacks, and is never returned (wasm cannot shrink memory). New pages are added as a
//!   free run, so they merge with a free run that ends at the old end of memory.
//! * `realloc` keeps the block when the new size needs the same class (or the same number of
//!   pages); otherwise it allocates, copies and frees.
//! * Out of memory returns null; Rust then calls `handle_alloc_error`, which aborts.
//!
//! The logic ([`Heap`]) is written over [`Grow`], "get more pages", so native unit tests run it
//! on a `Vec`-backed arena; only the `memory.grow` source and the [`GlobalAlloc`] impl are
//! wasm-only. Nothing in here panics or allocates: list heads are read with `get_mut` (an index
//! past the last class means whole pages), page counts are multiplied with `checked_mul`, and
//! the last wasm page is never used, so no address computation wraps.
//!
//! Measured at 1ff1a42 (`cargo xtask size`, wasm after wasm-opt, gzip -9): 70,783 → 68,106 B
//! (−2,677; raw 162,568 → 155,376). A bump allocator that never frees would save ~3.6 KB, so the
//! free lists cost under 1 KB. Speed (`cargo xtask bench --quick --rounds 15`): the two allocators
//! side by side in one page decode equally fast (time ratio 1.000 in Chromium and Firefox);
//! alternating runs give `decode_vs_js_best` 1.047/1.045/1.043 against dlmalloc's
//! 1.067/1.054/1.044/1.061/1.067 (about 1 % lower, within the run-to-run spread). In the 30 s soak
//! the wasm memory is flat after warm-up at 1.25 MiB (dlmalloc: 1.19 MiB; power-of-two classes
//! round up). Not done: the memory between `__heap_base` and the initial memory size stays unused
//! (as with dlmalloc); blocks never grow in place.

#[cfg(target_arch = "wasm32")]
use core::alloc::{GlobalAlloc, Layout};
#[cfg(target_arch = "wasm32")]
use core::cell::UnsafeCell;

/// The wasm page size, and the unit of the large-block allocator.
pub(crate) const PAGE: usize = 65536;
/// Size of the smallest class: room for the free-list link on wasm32 and 64-bit hosts alike.
const MIN_BLOCK: usize = 16;
/// Number of small classes: 16 B << 0 … 16 B << 11 = 32 KiB.
const CLASSES: usize = 12;

/// A source of fresh memory: `grow(pages)` adds `pages` zeroed 64 KiB pages and returns the
/// address of the first, page-aligned, or `None` when memory cannot grow. The pages must end
/// below `usize::MAX` (address arithmetic in the heap does not wrap).
pub(crate) trait Grow {
    /// Adds `pages` pages; returns the address of the first one.
    fn grow(&mut self, pages: usize) -> Option<usize>;
}

/// The allocator state. Addresses are plain `usize`; 0 is "none" (no block is ever at 0: wasm
/// memory handed out by `memory.grow` starts above the stack and data, test arenas are heap
/// buffers).
pub(crate) struct Heap<G> {
    /// Head of the free list of each small class (0 = empty).
    free: [usize; CLASSES],
    /// The bump region small blocks are carved from: `[cur, end)`.
    cur: usize,
    end: usize,
    /// Head of the address-ordered list of free page runs. A run stores `[next, pages]` in its
    /// first two words; runs in the list never touch (they are merged on insert).
    runs: usize,
    /// Where new pages come from.
    mem: G,
}

/// Class index of a request: 0 for 16 B … 11 for 32 KiB; `CLASSES` or more when it takes whole
/// pages (size or alignment above 32 KiB). Branch-free and inlined: it is on every `alloc`,
/// `dealloc` and `realloc` (an `Option` return went through the shadow stack at opt-level "z").
#[inline(always)]
fn class_of(size: usize, align: usize) -> usize {
    let s = size.max(align).max(MIN_BLOCK);
    // log2 of `s` rounded up to a power of two, minus log2(16); `s - 1` cannot underflow.
    (usize::BITS - (s - 1).leading_zeros()) as usize - 4
}

/// Pages for a large block of `size` bytes (at least one, also for a zero-size request with a
/// large alignment).
#[inline]
fn pages_of(size: usize) -> usize {
    (size / PAGE + usize::from(size % PAGE != 0)).max(1)
}

/// Reads the word at `addr`.
///
/// # Safety
/// `addr` is a word-aligned address inside a free block this heap owns.
#[inline]
unsafe fn get(addr: usize) -> usize {
    (addr as *const usize).read()
}

/// Writes the word at `addr`.
///
/// # Safety
/// As [`get`].
#[inline]
unsafe fn set(addr: usize, value: usize) {
    (addr as *mut usize).write(value)
}

impl<G: Grow> Heap<G> {
    /// An empty heap that takes its pages from `mem`.
    pub(crate) const fn new(mem: G) -> Self {
        Heap {
            free: [0; CLASSES],
            cur: 0,
            end: 0,
            runs: 0,
            mem,
        }
    }

    /// Allocates `size` bytes aligned to `align` (a power of two); 0 when out of memory.
    ///
    /// # Safety
    /// The heap's memory is only touched through this heap; `align` is a power of two.
    pub(crate) unsafe fn alloc(&mut self, size: usize, align: usize) -> usize {
        let k = class_of(size, align);
        match self.free.get_mut(k) {
            Some(head) => {
                let block = *head;
                if block == 0 {
                    return self.carve(MIN_BLOCK << k);
                }
                *head = get(block);
                block
            }
            None => self.alloc_pages(pages_of(size), align.max(PAGE)),
        }
    }

    /// Frees a block from [`Heap::alloc`] with the same `size` and `align`.
    ///
    /// # Safety
    /// `addr` came from this heap with this `size`/`align` and is not used afterwards.
    pub(crate) unsafe fn dealloc(&mut self, addr: usize, size: usize, align: usize) {
        match self.free.get_mut(class_of(size, align)) {
            Some(head) => {
                set(addr, *head);
                *head = addr;
            }
            None => self.free_pages(addr, pages_of(size)),
        }
    }

    /// Resizes a block from [`Heap::alloc`] to `new_size`, keeping its contents up to the smaller
    /// size; 0 when out of memory (the old block is then untouched).
    ///
    /// # Safety
    /// As [`Heap::dealloc`]; on success the old address is not used afterwards.
    pub(crate) unsafe fn realloc(
        &mut self,
        addr: usize,
        size: usize,
        align: usize,
        new_size: usize,
    ) -> usize {
        let (old, new) = (class_of(size, align), class_of(new_size, align));
        let same = if old < CLASSES {
            old == new
        } else {
            new >= CLASSES && pages_of(size) == pages_of(new_size)
        };
        if same {
            return addr;
        }
        let block = self.alloc(new_size, align);
        if block != 0 {
            core::ptr::copy_nonoverlapping(addr as *const u8, block as *mut u8, size.min(new_size));
            self.dealloc(addr, size, align);
        }
        block
    }

    /// Pushes a free block on the list of class `k` (for the bump region's leftovers).
    unsafe fn push(&mut self, k: usize, addr: usize) {
        if let Some(head) = self.free.get_mut(k) {
            set(addr, *head);
            *head = addr;
        }
    }

    /// Takes a block of `size` (a power of two ≤ 32 KiB) from the bump region, at a
    /// multiple of `size`; refills the region with a page when it is too short. Out of line:
    /// the free list is the fast path.
    #[cold]
    #[inline(never)]
    unsafe fn carve(&mut self, size: usize) -> usize {
        // `cur` and `end` are multiples of 16 and `end` of PAGE, so rounding `cur` up to
        // `size` ≤ PAGE never passes `end`.
        let mut start = (self.cur + size - 1) & !(size - 1);
        if self.end - start < size {
            let page = self.alloc_pages(1, PAGE);
            if page == 0 {
                return 0;
            }
            if page != self.end {
                // Not contiguous: keep the old region's leftover as free blocks.
                self.spill(self.cur, self.end);
                self.cur = page;
            }
            self.end = page + PAGE;
            start = (self.cur + size - 1) & !(size - 1);
        }
        self.spill(self.cur, start);
        self.cur = start + size;
        start
    }

    /// Cuts `[from, to)` (multiples of 16) into the largest naturally aligned blocks and frees
    /// them to their classes.
    unsafe fn spill(&mut self, mut from: usize, to: usize) {
        while from < to {
            // Largest class whose block size divides `from` and fits before `to`.
            let mut k = CLASSES - 1;
            while k > 0 && (from & ((MIN_BLOCK << k) - 1) != 0 || to - from < MIN_BLOCK << k) {
                k -= 1;
            }
            self.push(k, from);
            from += MIN_BLOCK << k;
        }
    }

    /// Allocates `n` pages at a multiple of `align` (a power of two ≥ PAGE): first fit in the
    /// free runs, else grows memory and tries again. 0 when out of memory.
    unsafe fn alloc_pages(&mut self, n: usize, align: usize) -> usize {
        let Some(bytes) = n.checked_mul(PAGE) else {
            return 0;
        };
        for _ in 0..2 {
            let mut prev = 0;
            let mut run = self.runs;
            while run != 0 {
                let next = get(run);
                let end = run + get(run + size_of::<usize>()) * PAGE;
                if let Some(start) = run.checked_add(align - 1).map(|a| a & !(align - 1)) {
                    if start <= end && end - start >= bytes {
                        // Unlink the run, then give back what is left on either side.
                        if prev == 0 {
                            self.runs = next;
                        } else {
                            set(prev, next);
                        }
                        self.free_pages(run, (start - run) / PAGE);
                        self.free_pages(start + bytes, (end - start - bytes) / PAGE);
                        return start;
                    }
                }
                prev = run;
                run = next;
            }
            // Nothing fits: grow by the request plus the worst-case alignment slack. The new
            // pages are a run of their own (or extend the last run), so the second pass fits.
            let Some(want) = n.checked_add(align / PAGE - 1) else {
                return 0;
            };
            match self.mem.grow(want) {
                Some(base) => self.free_pages(base, want),
                None => return 0,
            }
        }
        0
    }

    /// Returns `n` pages at `addr` to the free runs, merging with the runs on either side.
    unsafe fn free_pages(&mut self, addr: usize, n: usize) {
        if n == 0 {
            return;
        }
        let mut prev = 0;
        let mut next = self.runs;
        while next != 0 && next < addr {
            prev = next;
            next = get(next);
        }
        let mut pages = n;
        if next == addr + n * PAGE {
            pages += get(next + size_of::<usize>());
            next = get(next);
        }
        if prev != 0 {
            let prev_pages = get(prev + size_of::<usize>());
            if prev + prev_pages * PAGE == addr {
                set(prev, next);
                set(prev + size_of::<usize>(), prev_pages + pages);
                return;
            }
            set(prev, addr);
        } else {
            self.runs = addr;
        }
        set(addr, next);
        set(addr + size_of::<usize>(), pages);
    }
}

/// Pages from the wasm module's own memory (memory index 0).
#[cfg(target_arch = "wasm32")]
pub(crate) struct WasmMemory;

#[cfg(target_arch = "wasm32")]
impl Grow for WasmMemory {
    fn grow(&mut self, pages: usize) -> Option<usize> {
        // The last of the 65,536 possible pages stays unused, so no block or run ends at 2^32,
        // which is 0 in a 32-bit usize (the run arithmetic would wrap).
        if pages >= 65536 - core::arch::wasm32::memory_size(0) {
            return None;
        }
        // `memory.grow` returns the old size in pages, or usize::MAX when it fails.
        match core::arch::wasm32::memory_grow(0, pages) {
            usize::MAX => None,
            old => Some(old * PAGE),
        }
    }
}

// A multi-threaded wasm build (shared memory, `+atomics`) would need a lock around the heap.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!("src/alloc.rs is single-threaded; wasm32 with +atomics needs a locked allocator");

/// The global allocator of the wasm build (`#[global_allocator]` in lib.rs).
#[cfg(target_arch = "wasm32")]
pub struct Allocator(UnsafeCell<Heap<WasmMemory>>);

// SAFETY: wasm32-unknown-unknown without the `atomics` feature (checked above) runs this module
// on one thread: there is no shared memory, so no other thread can reach the static. The
// allocator never calls back into user code or into itself, so each `&mut Heap` taken below is
// the only one alive while it is used.
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for Allocator {}

#[cfg(target_arch = "wasm32")]
impl Allocator {
    /// An empty allocator; it takes memory on first use.
    pub const fn new() -> Self {
        Allocator(UnsafeCell::new(Heap::new(WasmMemory)))
    }
}

#[cfg(target_arch = "wasm32")]
impl Default for Allocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks are disjoint, at least `layout.size()` long and aligned to `layout.align()`
// (see the module doc and the tests); out of memory returns null.
#[cfg(target_arch = "wasm32")]
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).alloc(layout.size(), layout.align()) as *mut u8
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.0.get()).dealloc(ptr as usize, layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*self.0.get()).realloc(ptr as usize, layout.size(), layout.align(), new_size) as *mut u8
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
