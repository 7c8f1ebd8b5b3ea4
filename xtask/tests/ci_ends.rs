//! How `cargo xtask ci` ends when something cuts it short: a closed stdout, the run's time
//! limit. Either way it goes on to its summary and exits by its result.

use std::process::{Command, Stdio};

/// With its stdout closed, as in `cargo xtask ci | head` once `head` has exited, xtask drops its
/// lines instead of panicking at the next one (which took the running suite with it).
#[test]
fn a_closed_stdout_does_not_end_the_run() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--no-install", "--only", "fmt"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    // Nobody reads stdout any more: each write to it fails (EPIPE; Rust ignores SIGPIPE).
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("xtask ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "xtask panicked:\n{stderr}");
    // 0 or 1 is the run's result (whether this checkout is formatted); a panic exits with 101.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}\n{stderr}",
        out.status
    );
}

/// `--run-timeout` ends the run with its summary: the suite running when the time is up is
/// stopped and the ones after it are counted without running. (Inside `cargo test` the nested
/// cargo waits for the build directory's lock, so it is surely still running at 2 s; outside,
/// `native-tests` takes far longer than that.)
#[test]
fn the_run_limit_ends_the_run_with_its_summary() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--no-install", "--only", "clippy-lib,native-tests"])
        .args(["--run-timeout", "2"])
        .stdin(Stdio::null())
        .output()
        .expect("xtask runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("\ntotal: "), "{stdout}");
    assert!(
        stdout.contains("TIMED OUT") && stdout.contains("whole run's limit"),
        "{stdout}"
    );
    assert!(
        stdout.contains("native-tests: 0 passed, 1 failed"),
        "{stdout}"
    );
}
