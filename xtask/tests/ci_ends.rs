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
/// stopped with a note naming the run's limit, and the suites after it count without running.
/// The suites' `cargo` is a script that sleeps (first on PATH through `CARGO_HOME`, which xtask
/// puts in front), so the outcome does not depend on how fast anything builds.
#[test]
fn the_run_limit_ends_the_run_with_its_summary() {
    let home = std::env::temp_dir().join(format!("xtask-run-limit-{}", std::process::id()));
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\nexec sleep 60\n").unwrap();
    let mut perms = std::fs::metadata(&cargo).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&cargo, perms).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "ci",
            "--no-install",
            "--only",
            "fmt,clippy",
            "--run-timeout",
            "2",
        ])
        .env("CARGO_HOME", &home)
        .stdin(Stdio::null())
        .output()
        .expect("xtask runs");
    let _ = std::fs::remove_dir_all(&home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("\ntotal: 0 passed, 2 failed"), "{stdout}");
    assert!(
        stdout.contains(
            "TIMED OUT: `cargo fmt --all -- --check` was still running when the whole run's \
             time limit of 2 s (set by --run-timeout) ran out"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: not run: the run's time limit of 2 s had passed"),
        "{stdout}"
    );
}
