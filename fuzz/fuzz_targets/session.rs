//! Fuzz target `session`: a joined bot session fed arbitrary server frames, once queueing
//! events and once writing the browser's event tape. Input layout and checks:
//! `check_session.rs`.
#![no_main]

mod check_session;
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| check_session::run(input));
