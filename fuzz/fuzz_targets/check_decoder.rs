//! The `decoder` fuzz target's check, shared with `tests/fuzz_inputs.rs`, which replays the
//! committed inputs (`fuzz/seeds`, `fuzz/regress/decoder`) in every `cargo test`.
//!
//! Input layout (missing header bytes count as 0):
//! * byte 0: the small line limit, `1 + (byte & 0x3F)` (1..=64 bytes);
//! * byte 1: `n = byte & 7`, the number of chunk-size bytes that follow;
//! * `n` bytes: chunk sizes, used in turn (0 feeds an empty chunk, then one byte);
//! * the rest: the byte stream.
//!
//! Checks, for the default limit and the small one: nothing panics; the chunked decode gives the
//! same lines, errors and rest as a single `feed`; the rest fits in the limit; and every decoded
//! line encodes, and those bytes decode back to the line's canonical form (NaN-aware) with
//! nothing left over.

use crate::common;
use crate::decoded::{results_eq, Decoded};
use uchat_bot::codec::{encode, Decoder};

/// Feed `data` in chunks whose sizes cycle through `sizes` (all at once when empty).
fn decode_chunked(mut d: Decoder, data: &[u8], sizes: &[u8]) -> (Decoded, Vec<u8>) {
    let mut out = Vec::new();
    for chunk in common::chunks(data, sizes) {
        d.feed_with(chunk, |r| out.push(r));
    }
    (out, d.rest().to_vec())
}

fn check(make: impl Fn() -> Decoder, data: &[u8], sizes: &[u8]) {
    let limit = make().max_line();
    let (whole, whole_rest) = decode_chunked(make(), data, &[]);
    let (chunked, chunked_rest) = decode_chunked(make(), data, sizes);
    assert!(
        results_eq(&whole, &chunked),
        "chunking changed the output (limit {limit}, sizes {sizes:?}):\n{whole:?}\n{chunked:?}"
    );
    assert_eq!(whole_rest, chunked_rest, "chunking changed the rest");
    assert!(whole_rest.len() <= limit, "rest longer than the limit");

    for line in whole.into_iter().flatten() {
        let bytes = match encode(&line) {
            Ok(bytes) => bytes,
            Err(e) => panic!("decoded line {line:?} does not encode: {e}"),
        };
        let mut d = Decoder::new();
        let again = d.feed(&bytes);
        let want = vec![Ok(line.clone().canonical())];
        assert!(
            results_eq(&again, &want),
            "{line:?} encoded as {bytes:02x?} decoded as {again:?}"
        );
        assert!(d.rest().is_empty(), "re-encoded line left a rest");
    }
}

/// Runs every check on one input; panics on a finding.
pub fn run(input: &[u8]) {
    let (first, sizes, data) = common::header(input);
    let small = 1 + usize::from(first & 0x3F);

    check(Decoder::new, data, sizes);
    check(|| Decoder::with_max_line(small), data, sizes);
}
