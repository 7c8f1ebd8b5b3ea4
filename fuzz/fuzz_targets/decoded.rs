//! NaN-aware comparison of decoder output, shared by the `decoder` fuzz check
//! (`check_decoder.rs`) and the codec property tests (`tests/props.rs`); also compiled into
//! `tests/fuzz_inputs.rs`.

use uchat_bot::codec::{DecodeError, Line};

/// What a [`uchat_bot::codec::Decoder`] reports, in order.
pub type Decoded = Vec<Result<Line, DecodeError>>;

/// Same lines (compared with [`Line::same_as`]: NaN equals NaN) and equal errors, in order.
pub fn results_eq(a: &Decoded, b: &Decoded) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Ok(x), Ok(y)) => x.same_as(y),
            (Err(x), Err(y)) => x == y,
            _ => false,
        })
}
