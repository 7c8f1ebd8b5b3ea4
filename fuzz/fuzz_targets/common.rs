//! What both fuzz targets read from an input: a flags byte, chunk sizes, and the byte stream
//! cut into chunks at those sizes (layouts in `check_decoder.rs` and `check_session.rs`). Also
//! compiled into `tests/fuzz_inputs.rs`.

/// Splits `input` into byte 0 (flags or limit), the chunk sizes (byte 1 & 7 of them follow
/// it) and the stream after them; missing header bytes count as 0.
pub fn header(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let first = input.first().copied().unwrap_or(0);
    let n = usize::from(input.get(1).copied().unwrap_or(0) & 7);
    let end = (2 + n).min(input.len());
    let sizes = input.get(2..end).unwrap_or(&[]);
    (first, sizes, &input[end..])
}

/// `data` cut at sizes cycling through `sizes` (one chunk, all of `data`, when `sizes` is
/// empty); a size of 0 gives an empty chunk, then one of one byte.
pub fn chunks<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![data];
    }
    let (mut out, mut pos) = (Vec::new(), 0);
    for &size in sizes.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        if size == 0 {
            out.push(&data[..0]);
        }
        let end = (pos + usize::from(size.max(1))).min(data.len());
        out.push(&data[pos..end]);
        pos = end;
    }
    out
}
