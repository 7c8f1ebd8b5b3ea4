//! Byte scans a chunk at a time: the decoder's hot loops (the line splitter, the field splits
//! and unescaping of the chat fast path and of the general decoder, the UTF-8 → UTF-16
//! conversion) ask "how many of the next bytes are plain?" and skip (or copy) that many in one
//! step (docs/PERFORMANCE.md "SIMD").
//!
//! One set of primitives, three implementations chosen at compile time:
//!
//! * wasm32 with `simd128` (the shipped build; `.cargo/config.toml` enables it): sixteen bytes
//!   per step with `v128` compares and `i8x16.bitmask`;
//! * x86_64, whose baseline has SSE2: the same sixteen-byte steps with `pcmpeqb`/`pmovmskb`,
//!   so the native tests, proptests and fuzz targets run the chunk logic the browser runs;
//! * anything else (including wasm32 without `simd128`): eight bytes per step in a `u64`.
//!   `--cfg uchat_swar` (RUSTFLAGS) makes x86_64 take this one too, so the native suite can run
//!   the whole decoder on it (`cargo xtask ci`, suite `native-swar`).
//!
//! Every answer is exact: the count of bytes before the first byte of interest, [`CHUNK`] when
//! the chunk holds none, `None` when fewer than [`CHUNK`] bytes are left (the caller then goes
//! byte by byte).

use core::mem::MaybeUninit;

use crate::codec::{ESCAPE, LF};

/// Bytes per step.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", not(uchat_swar))
))]
pub(crate) const CHUNK: usize = 16;
/// Bytes per step.
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", not(uchat_swar))
)))]
pub(crate) const CHUNK: usize = 8;

/// The [`CHUNK`] bytes of `b` at `i`, if there are that many.
#[inline(always)]
fn chunk(b: &[u8], i: usize) -> Option<&[u8; CHUNK]> {
    b.get(i..)?.first_chunk()
}

/// The position of the lowest set bit of a chunk's bitmask (bit k = byte k), [`CHUNK`] if none.
#[inline(always)]
fn first(mask: u32) -> usize {
    (mask | 1 << CHUNK).trailing_zeros() as usize
}

/// How many of the [`CHUNK`] bytes at `i` come before the first byte that `hits` flags in its
/// bitmask; `None` if fewer than [`CHUNK`] bytes are left.
#[inline(always)]
// `match`, not `Option::map`: the size-optimised build left `map` (with its closure) as a call
// in the hot loops once the scans had several callers.
#[allow(clippy::manual_map)]
fn count(b: &[u8], i: usize, hits: impl Fn(&[u8; CHUNK]) -> u32) -> Option<usize> {
    match chunk(b, i) {
        Some(c) => Some(first(hits(c))),
        None => None,
    }
}

/// How many of the [`CHUNK`] bytes at `i` come before the first LF or escape byte.
#[inline(always)]
pub(crate) fn line_plain(b: &[u8], i: usize) -> Option<usize> {
    count(b, i, imp::line_special)
}

/// The bitmask (bit k = byte `i + k`) of the [`CHUNK`] bytes at `i` that are below 8 (type
/// bytes are 2..=7, PROTOCOL.md §2.2), for a caller that visits every such byte of a chunk;
/// `None` if fewer than [`CHUNK`] bytes are left.
#[inline(always)]
#[allow(clippy::manual_map)] // `match`, not `map`: as in `count`
pub(crate) fn field_mask(b: &[u8], i: usize) -> Option<u32> {
    match chunk(b, i) {
        Some(c) => Some(imp::below_8(c)),
        None => None,
    }
}

/// How many of the [`CHUNK`] bytes at `i` come before the first byte below 8 or escape byte:
/// the bytes an escaped field can be copied over without a look (PROTOCOL.md §2.3).
#[inline(always)]
pub(crate) fn unescape_plain(b: &[u8], i: usize) -> Option<usize> {
    count(b, i, imp::below_8_or_escape)
}

/// How many of the [`CHUNK`] bytes at `i` come before the first byte the encoder cannot copy
/// over without a look: below 8, LF, escape, or 0xC2 (the lead byte of U+00A0, which chat
/// lines send as a space).
#[inline(always)]
pub(crate) fn text_plain(b: &[u8], i: usize) -> Option<usize> {
    count(b, i, imp::text_special)
}

/// [`line_plain`], having copied the [`CHUNK`] bytes at `b[i..]` to the start of `d` (see
/// [`copy_counting`]).
#[inline(always)]
pub(crate) fn copy_line_plain(b: &[u8], i: usize, d: &mut [u8]) -> Option<usize> {
    copy_counting(b, i, d, imp::line_special)
}

/// [`unescape_plain`], having copied the [`CHUNK`] bytes at `b[i..]` to the start of `d` (see
/// [`copy_counting`]).
#[inline(always)]
pub(crate) fn copy_unescape_plain(b: &[u8], i: usize, d: &mut [u8]) -> Option<usize> {
    copy_counting(b, i, d, imp::below_8_or_escape)
}

/// Copies the [`CHUNK`] bytes at `b[i..]` to the start of `d` and counts them as [`count`]
/// does; `None`, with nothing written, if either side is shorter than a chunk. One fixed-size
/// copy (no `memcpy` call): the caller keeps the plain bytes and writes over the rest later
/// (the unescaping loops, whose output never runs ahead of their input).
#[inline(always)]
fn copy_counting(
    b: &[u8],
    i: usize,
    d: &mut [u8],
    hits: impl Fn(&[u8; CHUNK]) -> u32,
) -> Option<usize> {
    let c = chunk(b, i)?;
    *d.first_chunk_mut::<CHUNK>()? = *c;
    Some(first(hits(c)))
}

/// How many of the [`CHUNK`] bytes at `i` come before the first byte that is not ASCII.
#[inline(always)]
pub(crate) fn ascii_run(b: &[u8], i: usize) -> Option<usize> {
    count(b, i, imp::non_ascii)
}

/// Writes the [`CHUNK`] bytes at `b[i..]` as [`CHUNK`] UTF-16 units (each byte zero-extended:
/// right for the ASCII ones, which are all the caller counts) into the start of `d`. False,
/// with nothing written, if either side is shorter than a chunk.
#[inline(always)]
pub(crate) fn widen(b: &[u8], i: usize, d: &mut [MaybeUninit<u16>]) -> bool {
    match (chunk(b, i), d.first_chunk_mut()) {
        (Some(c), Some(d)) => {
            imp::widen(c, d);
            true
        }
        _ => false,
    }
}

#[cfg(all(target_arch = "x86_64", not(uchat_swar)))]
use sse2 as imp;
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", not(uchat_swar))
)))]
use swar as imp;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use wasm_simd as imp;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd {
    use super::{MaybeUninit, ESCAPE, LF};
    use core::arch::wasm32::*;

    #[inline(always)]
    fn load(c: &[u8; 16]) -> v128 {
        // SAFETY: `c` is 16 readable bytes; wasm loads need no alignment.
        unsafe { v128_load(c.as_ptr().cast()) }
    }

    #[inline(always)]
    pub fn line_special(c: &[u8; 16]) -> u32 {
        let v = load(c);
        let hit = v128_or(
            i8x16_eq(v, u8x16_splat(LF)),
            i8x16_eq(v, u8x16_splat(ESCAPE)),
        );
        u32::from(i8x16_bitmask(hit))
    }

    #[inline(always)]
    pub fn below_8(c: &[u8; 16]) -> u32 {
        u32::from(i8x16_bitmask(u8x16_lt(load(c), u8x16_splat(8))))
    }

    #[inline(always)]
    pub fn below_8_or_escape(c: &[u8; 16]) -> u32 {
        let v = load(c);
        let hit = v128_or(
            u8x16_lt(v, u8x16_splat(8)),
            i8x16_eq(v, u8x16_splat(ESCAPE)),
        );
        u32::from(i8x16_bitmask(hit))
    }

    #[inline(always)]
    pub fn text_special(c: &[u8; 16]) -> u32 {
        let v = load(c);
        let hit = v128_or(
            v128_or(
                u8x16_lt(v, u8x16_splat(8)),
                i8x16_eq(v, u8x16_splat(ESCAPE)),
            ),
            v128_or(i8x16_eq(v, u8x16_splat(LF)), i8x16_eq(v, u8x16_splat(0xC2))),
        );
        u32::from(i8x16_bitmask(hit))
    }

    #[inline(always)]
    pub fn non_ascii(c: &[u8; 16]) -> u32 {
        u32::from(i8x16_bitmask(load(c)))
    }

    #[inline(always)]
    pub fn widen(c: &[u8; 16], d: &mut [MaybeUninit<u16>; 16]) {
        let v = load(c);
        let p = d.as_mut_ptr().cast::<v128>();
        // SAFETY: `d` is 16 units, 32 bytes: two v128 stores, no alignment needed in wasm.
        unsafe {
            v128_store(p, u16x8_extend_low_u8x16(v));
            v128_store(p.add(1), u16x8_extend_high_u8x16(v));
        }
    }
}

#[cfg(all(target_arch = "x86_64", not(uchat_swar)))]
mod sse2 {
    use super::{MaybeUninit, ESCAPE, LF};
    use core::arch::x86_64::*;

    #[inline(always)]
    fn load(c: &[u8; 16]) -> __m128i {
        // SAFETY: `c` is 16 readable bytes; `loadu` needs no alignment (SSE2 is baseline).
        unsafe { _mm_loadu_si128(c.as_ptr().cast()) }
    }

    // SAFETY (every `unsafe` below that only computes): the intrinsics are SSE2, which every
    // x86_64 CPU has (it is in the target's baseline).

    #[inline(always)]
    fn mask(v: __m128i) -> u32 {
        // The sign bit of each byte; the result fits 16 bits.
        unsafe { _mm_movemask_epi8(v) as u32 }
    }

    #[inline(always)]
    pub fn line_special(c: &[u8; 16]) -> u32 {
        let v = load(c);
        mask(unsafe {
            _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(LF as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(ESCAPE as i8)),
            )
        })
    }

    #[inline(always)]
    pub fn below_8(c: &[u8; 16]) -> u32 {
        // b < 8 iff min(b, 7) == b (unsigned).
        let v = load(c);
        mask(unsafe { _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(7)), v) })
    }

    #[inline(always)]
    pub fn below_8_or_escape(c: &[u8; 16]) -> u32 {
        let v = load(c);
        mask(unsafe {
            _mm_or_si128(
                _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(7)), v),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(ESCAPE as i8)),
            )
        })
    }

    #[inline(always)]
    pub fn text_special(c: &[u8; 16]) -> u32 {
        let v = load(c);
        mask(unsafe {
            _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(7)), v),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(ESCAPE as i8)),
                ),
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(LF as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0xC2u8 as i8)),
                ),
            )
        })
    }

    #[inline(always)]
    pub fn non_ascii(c: &[u8; 16]) -> u32 {
        mask(load(c))
    }

    #[inline(always)]
    pub fn widen(c: &[u8; 16], d: &mut [MaybeUninit<u16>; 16]) {
        let v = load(c);
        let p = d.as_mut_ptr().cast::<__m128i>();
        // SAFETY: SSE2 (above); `d` is 16 units, 32 bytes: two unaligned 16-byte stores.
        unsafe {
            let zero = _mm_setzero_si128();
            _mm_storeu_si128(p, _mm_unpacklo_epi8(v, zero));
            _mm_storeu_si128(p.add(1), _mm_unpackhi_epi8(v, zero));
        }
    }
}

// Compiled for tests everywhere, so the native suite checks it too.
#[cfg(any(
    test,
    not(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", not(uchat_swar))
    ))
))]
mod swar {
    //! Eight bytes in a little-endian `u64` (the first byte lowest). The per-byte flags are the
    //! high bits of the bytes; [`pack`] gathers them into a bitmask.
    use super::{MaybeUninit, ESCAPE, LF};

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    #[inline(always)]
    fn word(c: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*c)
    }

    /// The high bit set in exactly the bytes of `x` that are 0 (no false flags, unlike the
    /// shorter `x - ONES & !x & HIGHS`, so every bit of the mask is right).
    #[inline(always)]
    fn zero_bytes(x: u64) -> u64 {
        !((x & !HIGHS).wrapping_add(!HIGHS) | x) & HIGHS
    }

    /// The byte flags (high bits) of `h` as bits 0..8.
    #[inline(always)]
    fn pack(h: u64) -> u32 {
        ((h >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    }

    #[inline(always)]
    pub fn line_special(c: &[u8; 8]) -> u32 {
        let w = word(c);
        pack(zero_bytes(w ^ (ONES * LF as u64)) | zero_bytes(w ^ (ONES * ESCAPE as u64)))
    }

    #[inline(always)]
    pub fn below_8(c: &[u8; 8]) -> u32 {
        pack(zero_bytes(word(c) & 0xF8F8_F8F8_F8F8_F8F8))
    }

    #[inline(always)]
    pub fn below_8_or_escape(c: &[u8; 8]) -> u32 {
        let w = word(c);
        pack(zero_bytes(w & 0xF8F8_F8F8_F8F8_F8F8) | zero_bytes(w ^ (ONES * ESCAPE as u64)))
    }

    #[inline(always)]
    pub fn text_special(c: &[u8; 8]) -> u32 {
        let w = word(c);
        pack(
            zero_bytes(w & 0xF8F8_F8F8_F8F8_F8F8)
                | zero_bytes(w ^ (ONES * ESCAPE as u64))
                | zero_bytes(w ^ (ONES * LF as u64))
                | zero_bytes(w ^ (ONES * 0xC2)),
        )
    }

    #[inline(always)]
    pub fn non_ascii(c: &[u8; 8]) -> u32 {
        pack(word(c) & HIGHS)
    }

    #[inline(always)]
    pub fn widen(c: &[u8; 8], d: &mut [MaybeUninit<u16>; 8]) {
        for (d, &b) in d.iter_mut().zip(c) {
            d.write(u16::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Every primitive against a byte-by-byte answer, for each byte value at each position of
    /// a chunk with plain neighbours, and for chunks of random bytes.
    #[test]
    fn primitives_match_byte_by_byte_answers() {
        fn naive(b: &[u8], i: usize, hit: impl Fn(u8) -> bool) -> Option<usize> {
            let c = b.get(i..i + CHUNK)?;
            Some(c.iter().position(|&x| hit(x)).unwrap_or(CHUNK))
        }
        let check = |b: &[u8]| {
            for i in 0..=b.len() {
                assert_eq!(
                    line_plain(b, i),
                    naive(b, i, |x| x == LF || x == ESCAPE),
                    "{b:?} @{i}"
                );
                let mask = b.get(i..i + CHUNK).map(|c| {
                    c.iter()
                        .enumerate()
                        .filter(|&(_, &x)| x < 8)
                        .fold(0u32, |m, (k, _)| m | 1 << k)
                });
                assert_eq!(field_mask(b, i), mask, "{b:?} @{i}");
                assert_eq!(
                    unescape_plain(b, i),
                    naive(b, i, |x| x < 8 || x == ESCAPE),
                    "{b:?} @{i}"
                );
                assert_eq!(
                    text_plain(b, i),
                    naive(b, i, |x| x < 8 || x == ESCAPE || x == LF || x == 0xC2),
                    "{b:?} @{i}"
                );
                type Copy = fn(&[u8], usize, &mut [u8]) -> Option<usize>;
                type Count = fn(&[u8], usize) -> Option<usize>;
                let copies: [(Copy, Count); 2] = [
                    (copy_line_plain, line_plain),
                    (copy_unescape_plain, unescape_plain),
                ];
                for (copy, count) in copies {
                    let mut c = [0xEEu8; CHUNK + 1];
                    assert_eq!(copy(b, i, &mut c), count(b, i), "{b:?} @{i}");
                    if i + CHUNK <= b.len() {
                        assert_eq!(c[..CHUNK], b[i..i + CHUNK]);
                        assert_eq!(c[CHUNK], 0xEE, "copied past a chunk");
                    } else {
                        assert!(c.iter().all(|&x| x == 0xEE), "wrote a short chunk");
                    }
                }
                assert_eq!(ascii_run(b, i), naive(b, i, |x| x >= 0x80), "{b:?} @{i}");
                let mut d = [MaybeUninit::new(0xFFFF); 2 * CHUNK];
                let wrote = widen(b, i, &mut d);
                assert_eq!(wrote, i + CHUNK <= b.len());
                if wrote {
                    for k in 0..CHUNK {
                        // SAFETY: every element of `d` was initialised above.
                        let u = unsafe { d[k].assume_init() };
                        assert_eq!(u, u16::from(b[i + k]));
                    }
                    // SAFETY: as above.
                    assert_eq!(
                        unsafe { d[CHUNK].assume_init() },
                        0xFFFF,
                        "wrote past a chunk"
                    );
                }
            }
        };
        for v in 0..=255u8 {
            for pos in 0..CHUNK + 2 {
                let mut b = vec![b'a'; CHUNK + 3];
                b[pos] = v;
                check(&b);
            }
        }
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..200 {
            let b: Vec<u8> = (0..40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            check(&b);
        }
        assert!(!widen(
            &[0; CHUNK],
            0,
            &mut [MaybeUninit::new(0); CHUNK - 1]
        ));
        let mut short = [1; CHUNK - 1];
        assert_eq!(copy_line_plain(&[0; CHUNK], 0, &mut short), None);
        assert_eq!(short, [1; CHUNK - 1], "wrote into a short destination");
    }

    /// The eight-byte fallback's masks bit for bit (every flag, not only the first), whatever
    /// this target compiles as `imp`.
    #[test]
    fn swar_masks_are_exact() {
        let check = |c: &[u8; 8]| {
            let mask = |hit: &dyn Fn(u8) -> bool| {
                (0..8)
                    .filter(|&k| hit(c[k]))
                    .map(|k| 1u32 << k)
                    .sum::<u32>()
            };
            assert_eq!(
                swar::line_special(c),
                mask(&|x| x == LF || x == ESCAPE),
                "{c:?}"
            );
            assert_eq!(swar::below_8(c), mask(&|x| x < 8), "{c:?}");
            assert_eq!(
                swar::below_8_or_escape(c),
                mask(&|x| x < 8 || x == ESCAPE),
                "{c:?}"
            );
            assert_eq!(
                swar::text_special(c),
                mask(&|x| x < 8 || x == ESCAPE || x == LF || x == 0xC2),
                "{c:?}"
            );
            assert_eq!(swar::non_ascii(c), mask(&|x| x >= 0x80), "{c:?}");
            let mut d = [MaybeUninit::new(0); 8];
            swar::widen(c, &mut d);
            // SAFETY: every element of `d` was initialised above.
            assert!((0..8).all(|k| unsafe { d[k].assume_init() } == u16::from(c[k])));
        };
        for v in 0..=255u8 {
            for pos in 0..8 {
                let mut c = [b'a'; 8];
                c[pos] = v;
                check(&c);
                // Neighbours that are themselves hits (the carries of a shorter test would
                // flag a byte falsely next to them).
                for n in [0u8, 1, 7, 8, 0x0a, 0x5c, 0x7f, 0x80, 0xc2, 0xff] {
                    let mut c = [n; 8];
                    c[pos] = v;
                    check(&c);
                }
            }
        }
    }
}
