//! xtask with its stdout closed, as in `cargo xtask ci | head` once `head` has exited: the run
//! goes on to its end and exits by its result, instead of panicking at xtask's next line and
//! taking the running suite with it.

use std::process::{Command, Stdio};

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
