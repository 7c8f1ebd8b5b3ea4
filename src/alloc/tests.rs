//! Native tests of the wasm allocator's logic on a `Vec`-backed arena of 64 KiB pages.

use super::*;

/// Largest small block; anything larger (or more aligned) takes whole pages.
const MAX_SMALL: usize = MIN_BLOCK << (CLASSES - 1);

/// A fixed buffer handed out page by page, like `memory.grow` on a memory with a maximum.
struct Arena {
    _buf: Vec<u8>,
    base: usize,
    used: usize,
    limit: usize,
}

impl Arena {
    fn new(limit: usize) -> Self {
        let mut buf = vec![0u8; (limit + 1) * PAGE];
        let base = (buf.as_mut_ptr() as usize + PAGE - 1) & !(PAGE - 1);
        Arena {
            _buf: buf,
            base,
            used: 0,
            limit,
        }
    }
}

impl Grow for Arena {
    fn grow(&mut self, pages: usize) -> Option<usize> {
        if self.used + pages > self.limit {
            return None;
        }
        let addr = self.base + self.used * PAGE;
        self.used += pages;
        Some(addr)
    }
}

/// xorshift64*: a fixed seed gives the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

/// A live block and the byte it was filled from.
#[derive(Clone, Copy, Debug)]
struct Block {
    addr: usize,
    size: usize,
    align: usize,
    tag: u8,
}

/// A heap plus the blocks the test holds, with the checks every operation must pass.
struct Model {
    heap: Heap<Arena>,
    live: Vec<Block>,
}

fn bytes<'a>(addr: usize, len: usize) -> &'a mut [u8] {
    // SAFETY: the caller passes a live block of the arena, which nothing else references.
    unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) }
}

/// Expected byte `i` of a block filled from `tag`: a distinct head, then the tag repeated.
fn pattern(tag: u8, i: usize) -> u8 {
    if i < 64 {
        tag.wrapping_add(i as u8).wrapping_mul(3)
    } else {
        tag
    }
}

fn fill(addr: usize, len: usize, tag: u8) {
    let b = bytes(addr, len);
    b.fill(tag);
    for (i, x) in b.iter_mut().take(64).enumerate() {
        *x = pattern(tag, i);
    }
}

fn check(addr: usize, len: usize, tag: u8, what: &str) {
    let b = bytes(addr, len);
    let head = len.min(64);
    for (i, &x) in b[..head].iter().enumerate() {
        assert_eq!(x, pattern(tag, i), "{what}: byte {i} of {addr:#x}+{len}");
    }
    let want = [tag; 4096];
    for (n, chunk) in b[head..].chunks(4096).enumerate() {
        assert!(
            chunk == &want[..chunk.len()],
            "{what}: bytes after {} of {addr:#x}+{len} changed",
            head + n * 4096
        );
    }
}

impl Model {
    fn new(limit_pages: usize) -> Self {
        Model {
            heap: Heap::new(Arena::new(limit_pages)),
            live: Vec::new(),
        }
    }

    fn pages(&self) -> usize {
        self.heap.mem.used
    }

    /// The block must be in the arena, aligned, and disjoint from every live block.
    fn check_new(&self, addr: usize, size: usize, align: usize) {
        assert_ne!(addr, 0, "out of memory for {size} B align {align}");
        assert_eq!(
            addr % align,
            0,
            "{addr:#x} ({size} B) not aligned to {align}"
        );
        let arena = &self.heap.mem;
        assert!(
            addr >= arena.base && addr + size <= arena.base + arena.used * PAGE,
            "{addr:#x}+{size} outside the arena"
        );
        for b in &self.live {
            assert!(
                addr + size.max(1) <= b.addr || b.addr + b.size.max(1) <= addr,
                "{addr:#x}+{size} overlaps live {b:?}"
            );
        }
    }

    fn alloc(&mut self, size: usize, align: usize, tag: u8) -> usize {
        let addr = unsafe { self.heap.alloc(size, align) };
        self.check_new(addr, size, align);
        fill(addr, size, tag);
        self.live.push(Block {
            addr,
            size,
            align,
            tag,
        });
        addr
    }

    fn free(&mut self, i: usize) {
        let b = self.live.swap_remove(i);
        check(b.addr, b.size, b.tag, "before free");
        unsafe { self.heap.dealloc(b.addr, b.size, b.align) };
    }

    fn realloc(&mut self, i: usize, new_size: usize, tag: u8) -> usize {
        let b = self.live.swap_remove(i);
        check(b.addr, b.size, b.tag, "before realloc");
        let addr = unsafe { self.heap.realloc(b.addr, b.size, b.align, new_size) };
        self.check_new(addr, new_size, b.align);
        check(addr, b.size.min(new_size), b.tag, "after realloc");
        fill(addr, new_size, tag);
        self.live.push(Block {
            addr,
            size: new_size,
            tag,
            ..b
        });
        addr
    }

    fn free_all(&mut self) {
        while !self.live.is_empty() {
            self.free(self.live.len() - 1);
        }
    }

    fn check_all(&self) {
        for b in &self.live {
            check(b.addr, b.size, b.tag, "live block");
        }
    }
}

fn random_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=54 => rng.range(1, 64),
        55..=79 => rng.range(65, 1024),
        80..=93 => rng.range(1025, 40_000),
        _ => rng.range(40_001, 300_000),
    }
}

fn random_align(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0..=5 => 1 << rng.below(4), // 1..=8, what most Rust types use
        _ => 1 << rng.below(13),    // 1..=4096
    }
}

/// Runs `steps` random allocs, frees and reallocs, checking every block on the way.
fn random_run(m: &mut Model, seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    for step in 0..steps {
        let tag = step as u8;
        let op = rng.below(10);
        if m.live.is_empty() || (op < 5 && m.live.len() < 300) {
            let (size, align) = (random_size(&mut rng), random_align(&mut rng));
            m.alloc(size, align, tag);
        } else if op < 8 {
            let i = rng.below(m.live.len());
            m.free(i);
        } else {
            let i = rng.below(m.live.len());
            let new_size = random_size(&mut rng);
            m.realloc(i, new_size, tag);
        }
        if step % 500 == 0 {
            m.check_all();
        }
    }
    m.check_all();
}

#[test]
fn classes_and_pages() {
    assert_eq!(class_of(0, 1), 0);
    assert_eq!(class_of(1, 1), 0);
    assert_eq!(class_of(16, 8), 0);
    assert_eq!(class_of(17, 1), 1);
    assert_eq!(class_of(8, 64), 2);
    assert_eq!(class_of(65, 1), 3);
    assert_eq!(class_of(128, 1), 3);
    assert_eq!(class_of(129, 1), 4);
    assert_eq!(class_of(MAX_SMALL, 1), CLASSES - 1);
    assert_eq!(class_of(MAX_SMALL + 1, 1), CLASSES);
    assert_eq!(class_of(1, 2 * MAX_SMALL), CLASSES);
    assert!(class_of(usize::MAX / 2, 1) >= CLASSES);
    assert_eq!(pages_of(0), 1);
    assert_eq!(pages_of(PAGE), 1);
    assert_eq!(pages_of(PAGE + 1), 2);
}

#[test]
fn random_alloc_free_realloc() {
    for seed in [1, 42, 0x5eed_1234_abcd] {
        let mut m = Model::new(1024);
        random_run(&mut m, seed, 4000);
        m.free_all();
        // The same sequence again runs in the memory the first run left free, up to first-fit
        // placement of large blocks (a few pages once); from then on the arena is flat.
        let mut pages = vec![m.pages()];
        for _ in 0..5 {
            random_run(&mut m, seed, 4000);
            m.free_all();
            pages.push(m.pages());
        }
        assert!(
            pages[1] <= pages[0] + pages[0] / 10,
            "seed {seed}: {pages:?}"
        );
        assert!(
            pages[2..].iter().all(|&p| p == pages[1]),
            "seed {seed}: {pages:?}"
        );
    }
}

#[test]
fn alignment_up_to_4096_and_beyond_a_page() {
    let mut m = Model::new(1024);
    let mut tag = 0u8;
    for shift in 0..=12 {
        let align = 1usize << shift;
        for size in [1, 7, 16, 24, 100, 1000, 4096, 5000, 40_000, 70_000] {
            tag = tag.wrapping_add(1);
            m.alloc(size, align, tag);
        }
    }
    for align in [2 * PAGE, 4 * PAGE] {
        for size in [8, PAGE, 3 * PAGE + 5] {
            tag = tag.wrapping_add(1);
            m.alloc(size, align, tag);
        }
    }
    m.check_all();
    m.free_all();
}

#[test]
fn steady_state_small_reuses_memory() {
    let mut m = Model::new(256);
    let sizes = [1, 8, 24, 31, 100, 500, 1000, 3000, 5000, 20_000, 32_768];
    let mut pages = 0;
    for round in 0..200 {
        for (i, &size) in sizes.iter().enumerate() {
            for _ in 0..3 {
                m.alloc(size, 1 << (i % 4), round as u8);
            }
        }
        // Free in an order that differs from allocation order.
        while !m.live.is_empty() {
            m.free((round * 7) % m.live.len());
        }
        if round == 0 {
            pages = m.pages();
        }
        assert_eq!(m.pages(), pages, "round {round} grew the arena");
    }
    // Everything freed goes back on the lists: the same blocks come out again.
    let a = m.alloc(100, 1, 1);
    m.free(0);
    assert_eq!(m.alloc(100, 8, 2), a);
    m.free(0);
}

#[test]
fn growing_vec_reuses_large_blocks() {
    let mut m = Model::new(512);
    let mut pages = 0;
    for round in 0..20 {
        let small = m.alloc(40, 8, 9);
        // A Vec<u8> pushed to 8 MiB: doubling reallocs through every class and into pages.
        let mut size = 16;
        m.alloc(size, 1, round as u8);
        let vec = m.live.len() - 1;
        while size < 8 << 20 {
            size *= 2;
            let i = m.live.iter().position(|b| b.align == 1).unwrap_or(vec);
            m.realloc(i, size, round as u8);
        }
        m.check_all();
        assert_ne!(small, 0);
        m.free_all();
        if round == 0 {
            pages = m.pages();
        }
        assert_eq!(m.pages(), pages, "round {round} grew the arena");
    }
}

#[test]
fn large_blocks_are_reused_and_merged() {
    let mut m = Model::new(64);
    let a = m.alloc(200_000, 8, 1);
    m.free(0);
    assert_eq!(m.alloc(200_000, 8, 2), a, "a freed large block is reused");
    let b = m.alloc(3 * PAGE, 8, 3);
    let c = m.alloc(5 * PAGE, 8, 4);
    assert_eq!(c, b + 3 * PAGE, "fresh pages follow the last run");
    let pages = m.pages();
    m.free_all();
    // a (4 pages), b (3) and c (5) are one free run of 12 pages again.
    m.alloc(12 * PAGE, 8, 5);
    assert_eq!(m.pages(), pages, "freed neighbours were not merged");
    m.free_all();
    // Split: a small request takes one page of the run, the rest is still usable.
    m.alloc(PAGE, 8, 6);
    m.alloc(11 * PAGE, 8, 7);
    assert_eq!(m.pages(), pages, "the rest of a split run was lost");
    m.free_all();
}

#[test]
fn realloc_keeps_contents_and_block() {
    let mut m = Model::new(256);
    let a = m.alloc(20, 8, 1);
    assert_eq!(m.realloc(0, 32, 2), a, "same class: the block stays");
    assert_ne!(m.realloc(0, 33, 3), a, "next class: the block moves");
    let big = m.realloc(0, 100_000, 4);
    assert_eq!(
        m.realloc(0, 2 * PAGE, 5),
        big,
        "same page count: the block stays"
    );
    m.realloc(0, 3 * PAGE, 6);
    m.realloc(0, 10, 7); // back down to a small class
    m.check_all();
    m.free_all();
}

#[test]
fn out_of_memory_returns_null_and_recovers() {
    let mut m = Model::new(4);
    m.alloc(16, 8, 1); // the bump region takes one page
    assert_eq!(unsafe { m.heap.alloc(5 * PAGE, 8) }, 0);
    let b = m.alloc(3 * PAGE, 8, 2);
    assert_eq!(unsafe { m.heap.alloc(PAGE, 8) }, 0);
    // A failed realloc leaves the block as it was.
    let live = m.live[0];
    assert_eq!(unsafe { m.heap.realloc(live.addr, 16, 8, 2 * PAGE) }, 0);
    m.check_all();
    // Small blocks still come from the bump page; freed pages are usable again.
    m.alloc(1000, 8, 3);
    let i = m.live.iter().position(|x| x.addr == b).unwrap_or(0);
    m.free(i);
    m.alloc(2 * PAGE, 8, 4);
    m.alloc(PAGE, 8, 5);
    assert_eq!(m.pages(), 4);
    m.free_all();
}
