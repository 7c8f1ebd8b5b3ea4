//! The fuzz targets' checks (`fuzz/fuzz_targets/check_*.rs`) over every committed fuzz input,
//! so CI keeps what fuzzing found without nightly Rust or cargo-fuzz (fuzz/README.md).
//!
//! * `decoder`: `fuzz/seeds` (every frame of the vectors, whole and chunked) and
//!   `fuzz/regress/decoder` (a libFuzzer `-merge=1` minimisation of a fuzzing run's corpus:
//!   the fewest inputs that reach the same coverage);
//! * `session`: `fuzz/seeds-session` (slices of the bench corpus), `fuzz/seeds` and
//!   `fuzz/regress/session` — queue mode and tape mode must give the same events.
//!
//! Each input runs on its own; a failure names the file, so it can be replayed with
//! `cargo +nightly fuzz run <target> <file>` too.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../fuzz/fuzz_targets/check_decoder.rs"]
mod check_decoder;
#[path = "../fuzz/fuzz_targets/check_session.rs"]
mod check_session;
#[path = "../fuzz/fuzz_targets/common.rs"]
mod common;
#[path = "../fuzz/fuzz_targets/decoded.rs"]
mod decoded;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The files of `dirs` (relative to the crate root), sorted; fails on a missing or empty one.
fn inputs(dirs: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in dirs {
        let dir = root.join(dir);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let before = files.len();
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_file() {
                files.push(path);
            }
        }
        assert!(files.len() > before, "{} has no inputs", dir.display());
    }
    files.sort();
    files
}

/// Runs `check` on every input; reports every failing file, then fails.
fn replay(dirs: &[&str], check: fn(&[u8])) -> usize {
    let files = inputs(dirs);
    let mut failed = Vec::new();
    for path in &files {
        let input = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "failing inputs:\n{}", failed.join("\n"));
    files.len()
}

#[test]
fn decoder_inputs_pass_the_fuzz_check() {
    let n = replay(&["fuzz/seeds", "fuzz/regress/decoder"], check_decoder::run);
    assert!(n > 100, "only {n} inputs");
}

#[test]
fn session_inputs_pass_the_fuzz_check() {
    let n = replay(
        &["fuzz/seeds-session", "fuzz/seeds", "fuzz/regress/session"],
        check_session::run,
    );
    assert!(n > 100, "only {n} inputs");
}

/// The session-7 finding as an input: an `m` line with a malformed style (`x y`), twice. Queue
/// mode reports the style error on both lines; tape mode reported it only on the first until
/// 4fb4e60, which this check catches (both modes must give the same events).
#[test]
fn a_repeated_malformed_style_passes_the_session_check() {
    let mut input = vec![0, 0];
    for _ in 0..2 {
        input.extend_from_slice(b"m\x02\x09\x09\x09\x09\x09\x09\x09\x09\x03x y\x03hi\n");
    }
    check_session::run(&input);
}
