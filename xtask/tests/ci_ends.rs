//! How `cargo xtask ci` ends when something cuts it short: a closed stdout, the run's time
//! limit (either way it goes on to its summary and exits by its result), a SIGKILL (what its
//! suites started is stopped all the same).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `CARGO_HOME` whose `bin/cargo` (first on PATH, which xtask puts in front) is `script`, so a
/// suite's outcome does not depend on how fast anything builds.
fn fake_cargo(name: &str, script: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, script).unwrap();
    let mut perms = std::fs::metadata(&cargo).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&cargo, perms).unwrap();
    home
}

/// `cargo xtask ci --no-install ARGS` with the fake `cargo` of `home` ([`fake_cargo`]), which
/// is removed afterwards.
fn ci_with(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--no-install"])
        .args(args)
        .env("CARGO_HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("xtask runs");
    let _ = std::fs::remove_dir_all(home);
    out
}

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
/// The suites' `cargo` is a script that sleeps ([`fake_cargo`]).
#[test]
fn the_run_limit_ends_the_run_with_its_summary() {
    let home = fake_cargo("run-limit", "#!/bin/sh\nexec sleep 60\n");

    let out = ci_with(&home, &["--only", "fmt,clippy", "--run-timeout", "2"]);
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

/// A suite's output reaches xtask, which counts its tests from it: the suite's command runs
/// under a guard (on Linux), whose output must be the pipe xtask reads, not xtask's own.
#[test]
fn a_suite_is_counted_from_its_output() {
    let home = fake_cargo(
        "counted",
        "#!/bin/sh\necho 'test result: ok. 3 passed; 0 failed; 0 ignored'\n",
    );
    let out = ci_with(&home, &["--only", "native-tests"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\ntotal: 3 passed, 0 failed"), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}

/// Whether `pid` is a live process (a zombie has ended: only its parent's wait is missing).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

/// The text of `file` once it holds a line, waiting up to `limit`.
fn wait_for_line(file: &Path, limit: Duration) -> Option<String> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            if text.ends_with('\n') {
                return Some(text.trim().to_string());
            }
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cargo xtask ci --only fmt` with a fake `cargo` that starts a `sleep` (ignoring
/// SIGTERM if `stubborn`) and waits for it, as cargo waits for a test binary; once the `sleep`
/// runs, applies `end` to xtask (its pid, which leads its own group), then reports whether the
/// `sleep` outlived xtask (by 15 s at most).
#[cfg(target_os = "linux")]
fn sleep_outlives_xtask(name: &str, stubborn: bool, end: impl FnOnce(u32)) -> bool {
    let trap = if stubborn { "trap '' TERM\n" } else { "" };
    let script =
        format!("#!/bin/sh\n{trap}sleep 120 &\necho $! > \"$CARGO_HOME/sleep.pid\"\nwait\n");
    let home = fake_cargo(name, &script);
    let pid_file = home.join("sleep.pid");
    let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"));
    xtask
        .args(["ci", "--no-install", "--only", "fmt"])
        .env("CARGO_HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut xtask, 0);
    let mut xtask = xtask.spawn().expect("xtask starts");
    let sleep = wait_for_line(&pid_file, Duration::from_secs(60));
    end(xtask.id());
    let _ = xtask.wait();
    let sleep = sleep.expect("the suite's command did not start");
    let until = Instant::now() + Duration::from_secs(15);
    while alive(&sleep) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survived = alive(&sleep);
    if survived {
        let _ = Command::new("kill").args(["-KILL", &sleep]).status();
    }
    let _ = std::fs::remove_dir_all(&home);
    survived
}

fn kill(sig: &str, target: String) {
    let status = Command::new("kill").args([sig, "--", &target]).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "kill {sig} {target} failed"
    );
}

/// A SIGKILL to xtask's whole process group (a CI runner's cancel, `timeout -k`) reaches neither
/// a suite, which runs in a group of its own, nor what the suite started; the suite's guard sees
/// xtask go and stops the suite's tree.
#[cfg(target_os = "linux")]
#[test]
fn a_killed_run_leaves_nothing_of_its_suite_running() {
    let survived =
        sleep_outlives_xtask("killed", false, |xtask| kill("-KILL", format!("-{xtask}")));
    assert!(!survived, "the suite's `sleep` outlived xtask");
}

/// A SIGTERM makes xtask stop the suite (SIGTERM to its group, SIGKILL 5 s later); killed
/// within those 5 s, as by `timeout -k`, xtask leaves that to the guard, which must not have
/// died of the SIGTERM.
#[cfg(target_os = "linux")]
#[test]
fn a_run_killed_while_it_stops_a_suite_leaves_nothing_running() {
    let survived = sleep_outlives_xtask("killed-stopping", true, |xtask| {
        kill("-TERM", xtask.to_string());
        std::thread::sleep(Duration::from_secs(1));
        kill("-KILL", format!("-{xtask}"));
    });
    assert!(!survived, "the suite's `sleep` outlived xtask");
}
