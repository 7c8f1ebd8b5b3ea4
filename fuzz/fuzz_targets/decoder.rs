//! Fuzz target `decoder`: the streaming UChat 2 decoder (PROTOCOL.md §2, DECISIONS.md
//! "Decoding") on arbitrary bytes.
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
#![no_main]

use libfuzzer_sys::fuzz_target;
use uchat_bot::codec::{encode, DecodeError, Decoder, Line};

type Decoded = Vec<Result<Line, DecodeError>>;

fn results_eq(a: &Decoded, b: &Decoded) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Ok(x), Ok(y)) => x.same_as(y),
            (Err(x), Err(y)) => x == y,
            _ => false,
        })
}

/// Feed `data` in chunks whose sizes cycle through `sizes` (all at once when empty).
fn decode_chunked(mut d: Decoder, data: &[u8], sizes: &[u8]) -> (Decoded, Vec<u8>) {
    let mut out = Vec::new();
    if sizes.is_empty() {
        d.feed_with(data, |r| out.push(r));
    } else {
        let mut pos = 0;
        for &size in sizes.iter().cycle() {
            if pos >= data.len() {
                break;
            }
            if size == 0 {
                d.feed_with(&[], |r| out.push(r));
            }
            let end = (pos + usize::from(size.max(1))).min(data.len());
            d.feed_with(&data[pos..end], |r| out.push(r));
            pos = end;
        }
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

fuzz_target!(|input: &[u8]| {
    let small = 1 + usize::from(input.first().copied().unwrap_or(0) & 0x3F);
    let n = usize::from(input.get(1).copied().unwrap_or(0) & 7);
    let header = (2 + n).min(input.len());
    let sizes = input.get(2..header).unwrap_or(&[]);
    let data = &input[header..];

    check(Decoder::new, data, sizes);
    check(|| Decoder::with_max_line(small), data, sizes);
});
