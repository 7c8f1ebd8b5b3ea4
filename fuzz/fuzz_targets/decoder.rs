//! Fuzz target `decoder`: the streaming UChat 2 decoder (PROTOCOL.md §2, DECISIONS.md
//! "Decoding") on arbitrary bytes. Input layout and checks: `check_decoder.rs`.
#![no_main]

mod check_decoder;
mod common;
mod decoded;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| check_decoder::run(input));
