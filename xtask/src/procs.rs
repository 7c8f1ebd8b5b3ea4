//! Child processes: running a command with its output streamed and, for `cargo xtask ci`'s
//! suites, a wall-clock limit; stopping a command's whole process tree; the few signal calls
//! xtask needs (it has no dependencies, so these are plain libc declarations).
//!
//! A limited command runs in a process group of its own (`process_group(0)`: its pid is the
//! group id) so that everything it starts — cargo, the test binaries, wasm-bindgen-test-runner,
//! ChromeDriver/geckodriver, the browsers, the sims of a nested `cargo xtask site-test` — can be
//! signalled at once. A process that leaves the group (Playwright starts its browsers in a
//! session of their own) is still found as a descendant in `/proc` and signalled on its own, and
//! so is one that is no longer a descendant (it daemonised: its parent exited) but still holds
//! the command's output open ([`tree`]).
//!
//! On Linux, `cargo xtask` starts such a command through a guard, a second xtask process
//! (`xtask __guard XTASK-PID PROGRAM ARGS…`, [`guard`]) that leads the group, starts the command
//! and waits for it. It is there for the one case xtask cannot handle itself: xtask killed by a
//! SIGKILL to its own process group (some CI runners on cancel, `timeout -k`), which does not
//! reach a command in a group of its own. The guard sees xtask go (its parent changes) and stops
//! the command's tree as xtask would have ([`stop_tree`]), so cargo's test binaries, the
//! browsers and their drivers do not run on. A SIGTERM, SIGINT or SIGHUP to xtask is handled by
//! xtask itself: it stops the suite's tree first ([`signals`]).
//!
//! What is not covered: a process that left the group *and* the tree *and* closed its copy of
//! the output (a well-behaved daemon) is not found, and keeps running; and a SIGKILL to the
//! guard's own group (the suite's) leaves what the command started to xtask, which stops it
//! only if the command's output is still held open.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a stopped tree gets between SIGTERM and SIGKILL (time to close a browser session,
/// remove a temporary profile), and how long its output may take to close after that.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often the wait loop looks at the child, the clock and the interrupt flag.
const POLL: Duration = Duration::from_millis(50);

/// Set by [`signals`]' handler: xtask was asked to stop.
static STOP: AtomicBool = AtomicBool::new(false);

/// The executable [`own_group`] starts a guard with (xtask itself), once [`use_guard`] has run.
/// Without it (procs' unit tests, whose executable is the test harness) a limited command is
/// started directly.
static GUARD_EXE: OnceLock<PathBuf> = OnceLock::new();

/// The hidden xtask command that runs a guard ([`guard`]).
pub const GUARD_COMMAND: &str = "__guard";

/// Has [`own_group`] start limited commands through a guard ([`guard`]): xtask itself, run as
/// [`GUARD_COMMAND`]. Only on Linux, where the guard can see its parent go and find the tree.
pub fn use_guard() {
    if cfg!(target_os = "linux") {
        if let Ok(exe) = std::env::current_exe() {
            let _ = GUARD_EXE.set(exe);
        }
    }
}

/// How a streamed command ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited, and its stdout and stderr were closed.
    Exited(ExitStatus),
    /// The limit passed first; the tree was stopped. Holds the command's own exit status if it
    /// had exited and only processes it started still held its output open.
    TimedOut(Option<ExitStatus>),
    /// xtask was asked to stop (SIGINT, SIGTERM, SIGHUP, once [`signals::install`] has run); the
    /// tree was stopped.
    Interrupted,
}

/// Runs `cmd` with stdin closed, echoing its stdout and stderr line by line as they come and
/// keeping every line.
///
/// The command is done only when it has exited and closed its output (a process it started
/// may still hold that open). If that has not happened when the `limit` passes, or the
/// interrupt flag ([`signals::stop_requested`]) is set, its tree is stopped ([`stop_tree`]).
/// Output is read by threads, so a command that prints nothing and never exits is stopped on
/// time just the same.
///
/// With a `limit` the command runs in a process group of its own ([`own_group`]): it no longer
/// gets the terminal's Ctrl-C itself, only through the flag. Without one it stays in xtask's
/// group (install steps, and the commands a nested `cargo xtask` runs inside a suite, which that
/// suite's limit covers): the terminal's Ctrl-C and a kill of xtask's group reach it directly,
/// and a SIGTERM or SIGHUP to xtask alone still stops it through the flag.
pub fn run_streamed(
    cmd: &mut Command,
    limit: Option<Duration>,
) -> Result<(Ended, Vec<String>), String> {
    run(cmd, limit, &STOP, echo)
}

/// A line of a command's output to xtask's stdout (or stderr). An error — xtask's output was
/// closed, as in `cargo xtask ci | head` — is for the caller to ignore: `println!` would panic
/// and lose the lines still to come.
fn echo(line: &str, to_stderr: bool) -> io::Result<()> {
    if to_stderr {
        writeln!(io::stderr().lock(), "{line}")
    } else {
        writeln!(io::stdout().lock(), "{line}")
    }
}

/// [`run_streamed`] with the interrupt flag `stop` and the `echo` of each line given.
fn run(
    cmd: &mut Command,
    limit: Option<Duration>,
    stop: &AtomicBool,
    echo: fn(&str, bool) -> io::Result<()>,
) -> Result<(Ended, Vec<String>), String> {
    let start = Instant::now();
    // With a guard, the guard's command is started instead; the caller's stays as it was (it
    // is what messages show).
    let mut guard = if limit.is_some() {
        own_group(cmd)
    } else {
        None
    };
    let spawned = match guard.as_mut() {
        Some(guard) => guard,
        None => &mut *cmd,
    }
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn();
    let mut child = spawned.map_err(|e| format!("cannot start `{}`: {e}", crate::show(cmd)))?;
    let pipes = output_pipes(&child);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    let pump = |from: Box<dyn Read + Send>, to_stderr: bool| {
        let lines = Arc::clone(&lines);
        let closed = closed_tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(from).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_string();
                // Kept even when it cannot be shown, and reading goes on: a command whose
                // output nobody reads would block on a full pipe.
                let _ = echo(&text, to_stderr);
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(text);
            }
            let _ = closed.send(());
        });
    };
    let mut open = 0;
    if let Some(out) = child.stdout.take() {
        pump(Box::new(out), false);
        open += 1;
    }
    if let Some(err) = child.stderr.take() {
        pump(Box::new(err), true);
        open += 1;
    }
    drop(closed_tx);

    // A limit too far off to add to the clock is no limit.
    let deadline = limit.and_then(|l| start.checked_add(l));
    let mut status = None;
    let ended = loop {
        if status.is_none() {
            status = child
                .try_wait()
                .map_err(|e| format!("waiting for child: {e}"))?;
        }
        if let (Some(s), 0) = (status, open) {
            break Ended::Exited(s);
        }
        if stop.load(Ordering::SeqCst) {
            break Ended::Interrupted;
        }
        let mut wait = POLL;
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Ended::TimedOut(status);
            }
            wait = wait.min(left);
        }
        if open == 0 {
            // The output is closed and the command runs on (it closed its stdout and stderr,
            // or a pump ended early): nothing more to receive, and a receive would return at
            // once, so wait here.
            thread::sleep(wait);
            continue;
        }
        match closed_rx.recv_timeout(wait) {
            Ok(()) => open -= 1,
            Err(RecvTimeoutError::Timeout) => {}
            // Every pump has finished (one that panicked did not say so).
            Err(RecvTimeoutError::Disconnected) => open = 0,
        }
    };
    if !matches!(ended, Ended::Exited(_)) {
        stop_tree(&mut child, &pipes);
        // The pumps end when the last holder of the pipes is gone; do not wait on one that
        // somehow survived.
        let until = Instant::now() + GRACE;
        while open > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match closed_rx.recv_timeout(left) {
                Ok(()) => open -= 1,
                Err(_) => break,
            }
        }
    }
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    Ok((ended, lines))
}

/// Runs `cmd` in a process group of its own. With a guard ([`use_guard`]) the group's leader
/// is the guard, which starts `cmd` and stops its tree if xtask dies ([`guard`]): the guard's
/// command is returned, to be started instead of `cmd`. Without one,
/// on Linux, the kernel SIGKILLs the command when the thread that started it ends: when xtask
/// dies, also by a SIGKILL to xtask's own group that no longer reaches the command's group
/// (`PR_SET_PDEATHSIG`; [`run`] waits for its command, so its thread outlives the command
/// otherwise), but only the command itself, not what it started.
#[cfg(unix)]
fn own_group(cmd: &mut Command) -> Option<Command> {
    use std::os::unix::process::CommandExt;
    if let Some(exe) = GUARD_EXE.get() {
        let mut guard = guarded(cmd, exe);
        guard.process_group(0);
        return Some(guard);
    }
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn prctl(option: i32, ...) -> i32;
            fn getppid() -> i32;
        }
        const PR_SET_PDEATHSIG: i32 = 1;
        const SIGKILL: std::ffi::c_ulong = 9;
        const ESRCH: i32 = 3;
        let Ok(xtask) = i32::try_from(std::process::id()) else {
            return None;
        };
        let hook = move || {
            // SAFETY: prctl(2) with PR_SET_PDEATHSIG takes a plain signal number.
            if unsafe { prctl(PR_SET_PDEATHSIG, SIGKILL) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // xtask died between the fork and the prctl: the signal will never come.
            // SAFETY: getppid(2) takes nothing and cannot fail.
            if unsafe { getppid() } != xtask {
                return Err(io::Error::from_raw_os_error(ESRCH));
            }
            Ok(())
        };
        // SAFETY: the hook runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: it makes two system calls (prctl, getppid) and
        // allocates nothing (an io::Error made from an OS error code is just the code).
        unsafe {
            cmd.pre_exec(hook);
        }
    }
    None
}

/// `exe __guard XTASK-PID PROGRAM ARGS…` with `cmd`'s environment changes and directory: the
/// guard's child inherits them, and finds PROGRAM on the same PATH. Nothing else of `cmd` is
/// carried over (stdio: [`run`] sets it on the guard).
#[cfg(unix)]
fn guarded(cmd: &Command, exe: &std::path::Path) -> Command {
    let mut guard = Command::new(exe);
    guard
        .arg(GUARD_COMMAND)
        .arg(std::process::id().to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => guard.env(key, value),
            None => guard.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        guard.current_dir(dir);
    }
    guard
}

/// The guard: `xtask __guard XTASK-PID PROGRAM ARGS…` starts PROGRAM (stdin, stdout, stderr,
/// environment and group inherited) and exits as it exits. If its parent is no longer
/// XTASK-PID first (xtask died), it stops PROGRAM's tree ([`stop_tree`], with the processes
/// holding the guard's own output pipes, which are the suite's) and then SIGKILLs its own group,
/// itself included, for anything left in it.
#[cfg(target_os = "linux")]
pub fn guard(args: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    extern "C" {
        fn getppid() -> i32;
        fn getpgrp() -> i32;
        fn prctl(option: i32, ...) -> i32;
    }
    let (Some(Ok(xtask)), Some(program)) = (args.first().map(|a| a.parse::<i32>()), args.get(1))
    else {
        let _ = writeln!(
            io::stderr(),
            "usage: xtask {GUARD_COMMAND} XTASK-PID PROGRAM ARGS…"
        );
        return ExitCode::from(2);
    };
    // SAFETY: getppid(2) takes nothing and cannot fail.
    let xtask_gone = || unsafe { getppid() } != xtask;
    if xtask_gone() {
        return ExitCode::FAILURE;
    }
    // xtask's own stop of the suite signals the group, guard included, with SIGTERM first and
    // SIGKILL after a grace. Should xtask die inside that grace (a second Ctrl-C, `timeout
    // -k`), the guard must still be there to stop what is left; the SIGKILL ends it otherwise.
    // Ignored from the start; the command gets the settings the guard had.
    let had = [signals::SIGINT, signals::SIGTERM, signals::SIGHUP]
        .map(|sig| (sig, signals::set_handler(sig, signals::SIG_IGN)));
    let mut command = Command::new(program);
    command.args(&args[2..]);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: runs between fork and exec: only signal(2), which is async-signal-safe, with
        // the dispositions the guard had (default or ignore: an exec'd process has no handler).
        unsafe {
            command.pre_exec(move || {
                for (sig, handler) in had {
                    signals::set_handler(sig, handler);
                }
                Ok(())
            });
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(io::stderr(), "cannot start `{program}`: {e}");
            return ExitCode::from(127);
        }
    };
    // Re-raising the command's SIGSEGV or SIGABRT (`exit_as`) must not dump the guard's core.
    const PR_SET_DUMPABLE: i32 = 4;
    // SAFETY: prctl(2) with PR_SET_DUMPABLE takes a plain integer.
    unsafe {
        prctl(PR_SET_DUMPABLE, 0);
    }
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return exit_as(status),
            Ok(None) => {}
            Err(_) => return ExitCode::FAILURE,
        }
        if xtask_gone() {
            // The guard's stdout and stderr are the suite's output pipes.
            stop_tree(&mut child, &pipes_of([1, 2]));
            // SAFETY: getpgrp(2) takes nothing and cannot fail.
            if i32::try_from(std::process::id()).is_ok_and(|me| unsafe { getpgrp() } == me) {
                signals::send(0, signals::SIGKILL);
            }
            return ExitCode::FAILURE;
        }
        thread::sleep(POLL);
    }
}

/// The guard's exit for its command's `status`: the same code, or the same signal (raised on
/// itself with its default action; 128 + the signal if that does not end it).
#[cfg(target_os = "linux")]
fn exit_as(status: ExitStatus) -> std::process::ExitCode {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitCode;
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let sig = status.signal().unwrap_or(signals::SIGKILL);
    signals::set_handler(sig, signals::SIG_DFL);
    if let Ok(me) = i32::try_from(std::process::id()) {
        signals::send(me, sig);
    }
    ExitCode::from(u8::try_from(128 + sig).unwrap_or(1))
}

#[cfg(not(unix))]
fn own_group(_cmd: &mut Command) -> Option<Command> {
    None
}

/// The command's stdout and stderr pipes as `/proc/PID/fd` shows them (`pipe:[INODE]`, the
/// same at both ends of a pipe), read from xtask's ends, so that [`stop_tree`] can find any
/// process that holds them open.
#[cfg(unix)]
fn output_pipes(child: &Child) -> Vec<String> {
    use std::os::fd::AsRawFd;
    let fds = [
        child.stdout.as_ref().map(AsRawFd::as_raw_fd),
        child.stderr.as_ref().map(AsRawFd::as_raw_fd),
    ];
    pipes_of(fds.into_iter().flatten())
}

/// Which of this process's file descriptors `fds` are pipes, as `/proc/PID/fd` shows them.
#[cfg(unix)]
fn pipes_of(fds: impl IntoIterator<Item = i32>) -> Vec<String> {
    fds.into_iter()
        .filter_map(|fd| fs::read_link(format!("/proc/self/fd/{fd}")).ok())
        .filter_map(|link| link.into_os_string().into_string().ok())
        .filter(|link| link.starts_with("pipe:["))
        .collect()
}

#[cfg(not(unix))]
fn output_pipes(_child: &Child) -> Vec<String> {
    Vec::new()
}

/// Stops `child` with everything it started: SIGTERM to its process group and to every process
/// of its tree ([`tree`]: also the processes holding one of its output `pipes` open), up to
/// [`GRACE`] for them to go, then SIGKILL to the group and to whatever of the tree is left;
/// then reaps `child`. A `child` that does not lead a group of its own (a command without a
/// limit, in xtask's group) is stopped the same way process by process; the group signal then
/// finds no group and does nothing, so xtask's own group is never signalled.
///
/// The tree is noted before the first signal (a process whose parent dies is re-parented, and
/// can no longer be found from `child`), and a noted process is signalled again only while its
/// start time still matches, so a pid the system has since reused is left alone.
#[cfg(unix)]
pub fn stop_tree(child: &mut Child, pipes: &[String]) {
    let Ok(root) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let mut noted = tree(root, pipes);
    signals::send(-root, signals::SIGTERM);
    for p in &noted {
        signals::send(p.pid, signals::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    loop {
        let _ = child.try_wait();
        for p in tree(root, pipes) {
            if !noted.contains(&p) {
                // Started after the first snapshot (a TERM handler's last act, say).
                signals::send(p.pid, signals::SIGTERM);
                noted.push(p);
            }
        }
        let live = processes();
        noted.retain(|p| live.contains(p));
        if noted.is_empty() || Instant::now() >= deadline {
            break;
        }
        thread::sleep(POLL);
    }
    signals::send(-root, signals::SIGKILL);
    let live = processes();
    for p in noted.iter().filter(|p| live.contains(p)) {
        signals::send(p.pid, signals::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(not(unix))]
pub fn stop_tree(child: &mut Child, _pipes: &[String]) {
    let _ = child.kill();
    let _ = child.wait();
}

/// One live process as `/proc/PID/stat` shows it. Two entries are the same process only if
/// their start times match too.
#[derive(Clone, Copy, Debug)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    /// Start time after boot, in clock ticks (field 22).
    start: u64,
}

impl PartialEq for Proc {
    fn eq(&self, other: &Proc) -> bool {
        (self.pid, self.start) == (other.pid, other.start)
    }
}

/// The process `pid` from `/proc/PID/stat`, or None if it is gone or a zombie (a zombie has
/// finished; only its parent's wait is missing, and this machine's init does not always do
/// that wait promptly).
fn proc_stat(pid: &str) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses; it ends at the
    // last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let pid = head.split_whitespace().next()?.parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    if matches!(*fields.first()?, "Z" | "X" | "x") {
        return None;
    }
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every live process.
fn processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| proc_stat(name))?
        })
        .collect()
}

/// The live processes of `root`'s tree: `root` itself, the members of process group `root`,
/// every process other than xtask that holds one of `pipes` open (a daemon whose parent has
/// exited, say), and every descendant of any of these (also one that moved to a group or
/// session of its own).
fn tree(root: i32, pipes: &[String]) -> Vec<Proc> {
    let all = processes();
    let holding = holders(pipes);
    let mut found: Vec<Proc> = all
        .iter()
        .filter(|p| p.pid == root || p.pgrp == root || holding.contains(&p.pid))
        .copied()
        .collect();
    loop {
        let before = found.len();
        for p in &all {
            if !found.contains(p) && found.iter().any(|q| q.pid == p.ppid) {
                found.push(*p);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// The pids of the processes other than xtask that have one of `pipes` (`pipe:[INODE]`) open,
/// from `/proc/PID/fd` (only the processes xtask may look into, which are the ones it may
/// signal). A child that another thread forks at that moment also has them, until its exec
/// closes them (they are close-on-exec): xtask starts nothing else while it stops a suite.
fn holders(pipes: &[String]) -> Vec<i32> {
    if pipes.is_empty() {
        return Vec::new();
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id().to_string();
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut fds = fs::read_dir(format!("/proc/{name}/fd")).ok()?;
            fds.any(|fd| {
                fd.and_then(|fd| fs::read_link(fd.path()))
                    .is_ok_and(|link| pipes.iter().any(|p| link.as_os_str() == p.as_str()))
            })
            .then(|| name.parse().ok())?
        })
        .collect()
}

/// Whether `pid` is a live process (not gone, not a zombie).
#[cfg(test)]
pub fn alive(pid: i32) -> bool {
    proc_stat(&pid.to_string()).is_some()
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP set a flag instead of ending xtask, so that what it runs
/// is always stopped with it: the demo's sim (`cargo xtask demo`), and a suite of
/// `cargo xtask ci`, which runs in a process group of its own and so no longer gets the
/// terminal's signals itself.
///
/// A signal xtask was started with ignored stays ignored: SIGHUP under `nohup`, SIGINT in a
/// background job of a shell without job control (`nohup cargo xtask ci &` in a script). Caught,
/// it would stop the run at logout.
#[cfg(unix)]
pub mod signals {
    use std::sync::atomic::Ordering;

    use super::STOP;

    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;

    /// signal(2)'s "ignore" and "default" handlers.
    pub const SIG_IGN: usize = 1;
    pub const SIG_DFL: usize = 0;

    extern "C" {
        // The handler is a function pointer or SIG_IGN/SIG_DFL (1/0), hence usize.
        fn signal(signum: i32, handler: usize) -> usize;
        fn kill(pid: i32, sig: i32) -> i32;
    }

    extern "C" fn on_signal(_: i32) {
        // Only an atomic store: async-signal-safe.
        STOP.store(true, Ordering::SeqCst);
    }

    pub fn install() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // Set to "ignore" first, which says what it was; replaced by the handler only if it
            // was not ignored already. (Done the other way round, a signal in between would
            // set the flag although the signal is ignored.)
            // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe.
            unsafe {
                if signal(sig, SIG_IGN) != SIG_IGN {
                    signal(sig, on_signal as extern "C" fn(i32) as usize);
                }
            }
        }
    }

    /// Sets `sig`'s handler (a function's address, [`SIG_IGN`] or [`SIG_DFL`]); returns the one
    /// it had.
    pub fn set_handler(sig: i32, handler: usize) -> usize {
        // SAFETY: the tests and the guard set only SIG_IGN, SIG_DFL, or a handler this
        // returned before.
        unsafe { signal(sig, handler) }
    }

    pub fn stop_requested() -> bool {
        STOP.load(Ordering::SeqCst)
    }

    /// kill(2): `sig` to process `pid`, or to process group `-pid`. Whether it was delivered
    /// (a process or group that is already gone is not an error here).
    pub fn send(pid: i32, sig: i32) -> bool {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe { kill(pid, sig) == 0 }
    }

    pub fn terminate(pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            send(pid, SIGTERM);
        }
    }
}

#[cfg(not(unix))]
pub mod signals {
    pub fn install() {}
    pub fn stop_requested() -> bool {
        super::STOP.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn terminate(_pid: u32) {}
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    /// A file in the temp directory for a test's pid, unique to this test process.
    fn pid_file(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("xtask-{}-{name}.pid", std::process::id()))
    }

    fn read_pid(path: &std::path::Path) -> i32 {
        let text = fs::read_to_string(path).expect("the script wrote its pid");
        let _ = fs::remove_file(path);
        text.trim().parse().expect("a pid")
    }

    /// An interrupt flag nobody sets.
    static NEVER: AtomicBool = AtomicBool::new(false);

    /// Shows nothing (the test harness does not capture writes to stdout itself).
    fn quiet(_: &str, _: bool) -> io::Result<()> {
        Ok(())
    }

    /// [`run`] with the output kept but not shown, and no interrupt.
    fn run_quiet(cmd: &mut Command, limit: Option<Duration>) -> (Ended, Vec<String>) {
        run(cmd, limit, &NEVER, quiet).unwrap()
    }

    #[test]
    fn a_command_that_finishes_is_left_alone() {
        let (ended, lines) = run_quiet(&mut sh("echo one; echo two >&2; exit 3"), Some(GRACE));
        let Ended::Exited(status) = ended else {
            panic!("{ended:?}")
        };
        assert_eq!(status.code(), Some(3));
        let mut lines = lines;
        lines.sort();
        assert_eq!(lines, ["one", "two"]);
    }

    #[test]
    fn a_silent_command_that_never_exits_is_stopped() {
        let (ended, lines) = run_quiet(&mut sh("sleep 30"), Some(Duration::from_secs(1)));
        assert!(matches!(ended, Ended::TimedOut(None)), "{ended:?}");
        assert!(lines.is_empty());
    }

    #[test]
    fn the_whole_tree_is_stopped_also_a_process_in_its_own_session() {
        let (in_group, own_session) = (pid_file("in-group"), pid_file("own-session"));
        // A grandchild in the suite's group, and one that left it (`setsid`, like a browser
        // Playwright starts), both quiet and long-running; the shell waits for them.
        let script = format!(
            "sleep 30 & echo $! > {}; setsid sleep 31 & echo $! > {}; echo started; wait",
            in_group.display(),
            own_session.display()
        );
        let (ended, lines) = run_quiet(&mut sh(&script), Some(Duration::from_secs(1)));
        assert!(matches!(ended, Ended::TimedOut(None)), "{ended:?}");
        assert_eq!(lines, ["started"]);
        for pid in [read_pid(&in_group), read_pid(&own_session)] {
            assert!(!alive(pid), "process {pid} survived the stop");
        }
    }

    #[test]
    fn a_tree_that_ignores_sigterm_gets_sigkill() {
        let file = pid_file("ignores-term");
        // `trap '' TERM` is inherited: neither the shell nor its `sleep` ends on SIGTERM.
        let script = format!(
            "trap '' TERM; sleep 30 & echo $! > {}; wait",
            file.display()
        );
        let (ended, _) = run_quiet(&mut sh(&script), Some(Duration::from_secs(1)));
        assert!(matches!(ended, Ended::TimedOut(None)), "{ended:?}");
        let pid = read_pid(&file);
        assert!(!alive(pid), "process {pid} survived the stop");
    }

    #[test]
    fn output_held_open_by_a_leftover_process_counts_as_still_running() {
        let file = pid_file("leftover");
        // The shell exits at once; the background `sleep` keeps its stdout open.
        let script = format!("sleep 30 & echo $! > {}; exit 0", file.display());
        let (ended, _) = run_quiet(&mut sh(&script), Some(Duration::from_secs(1)));
        let Ended::TimedOut(Some(status)) = ended else {
            panic!("{ended:?}")
        };
        assert!(status.success());
        let pid = read_pid(&file);
        assert!(!alive(pid), "process {pid} survived the stop");
    }

    /// The signals marked in one of `/proc/self/status`'s masks (`SigIgn`, `SigCgt`).
    fn signal_mask(field: &str) -> u64 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
        u64::from_str_radix(hex.trim(), 16).unwrap()
    }

    fn has(mask: u64, sig: i32) -> bool {
        mask & (1 << (sig - 1)) != 0
    }

    #[test]
    fn install_leaves_an_ignored_signal_ignored() {
        use signals::{set_handler, SIGHUP, SIGINT, SIGTERM, SIG_DFL};
        // As under `nohup`: SIGHUP ignored; SIGTERM and SIGINT at their default.
        let saved = [
            (SIGHUP, set_handler(SIGHUP, 1)),
            (SIGTERM, set_handler(SIGTERM, SIG_DFL)),
            (SIGINT, set_handler(SIGINT, SIG_DFL)),
        ];
        signals::install();
        let (ignored, caught) = (signal_mask("SigIgn"), signal_mask("SigCgt"));
        for (sig, old) in saved {
            set_handler(sig, old);
        }
        assert!(has(ignored, SIGHUP), "SIGHUP is no longer ignored");
        assert!(!has(caught, SIGHUP), "SIGHUP is caught");
        for sig in [SIGTERM, SIGINT] {
            assert!(
                has(caught, sig) && !has(ignored, sig),
                "signal {sig} is not caught"
            );
        }
    }

    #[test]
    fn without_a_limit_a_stop_request_still_stops_the_command() {
        let file = pid_file("no-limit");
        // In the test's own process group (no limit: no group of its own), a shell and its
        // `sleep`; the shell waits for it.
        let script = format!("sleep 30 & echo $! > {}; wait", file.display());
        let stop = AtomicBool::new(false);
        let (ended, _) = thread::scope(|s| {
            s.spawn(|| {
                // As a SIGTERM to xtask would, once the sleep has started.
                while fs::read_to_string(&file).map_or(true, |t| !t.ends_with('\n')) {
                    thread::sleep(POLL);
                }
                stop.store(true, Ordering::SeqCst);
            });
            run(&mut sh(&script), None, &stop, quiet).unwrap()
        });
        assert!(matches!(ended, Ended::Interrupted), "{ended:?}");
        let pid = read_pid(&file);
        assert!(!alive(pid), "process {pid} survived the stop");
    }

    #[test]
    fn a_command_in_a_group_of_its_own_is_killed_when_its_starter_is_gone() {
        // The kernel sends the signal when the *thread* that started the command ends (as it
        // does when the process dies): a thread stands in for xtask here.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            own_group(&mut cmd);
            tx.send(cmd.spawn().unwrap()).unwrap();
        })
        .join()
        .unwrap();
        let mut child = rx.recv().unwrap();
        let until = Instant::now() + GRACE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= until {
                break None;
            }
            thread::sleep(POLL);
        };
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command outlived the thread that started it");
        };
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(signals::SIGKILL));
    }

    /// User and system time this thread has used, in clock ticks (`/proc/thread-self/stat`
    /// fields 14 and 15).
    fn thread_cpu_ticks() -> u64 {
        let stat = fs::read_to_string("/proc/thread-self/stat").unwrap();
        let (_, rest) = stat.rsplit_once(')').unwrap();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    #[test]
    fn a_command_that_closes_its_output_and_runs_on_is_waited_for_without_spinning() {
        let before = thread_cpu_ticks();
        let (ended, lines) = run_quiet(
            &mut sh("exec >&- 2>&-; sleep 2"),
            Some(Duration::from_secs(20)),
        );
        let used = thread_cpu_ticks() - before;
        assert!(
            matches!(ended, Ended::Exited(s) if s.success()),
            "{ended:?}"
        );
        assert!(lines.is_empty());
        // Spinning for the 2 s takes most of them (100 ticks a second, usually); waiting,
        // almost none.
        assert!(used < 20, "the wait used {used} clock ticks of CPU");
    }

    #[test]
    fn output_that_cannot_be_shown_is_still_kept() {
        // As when xtask's stdout is a closed pipe (`cargo xtask ci | head`).
        fn broken(_: &str, _: bool) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        let script = "echo one; echo two >&2; echo three";
        let (ended, mut lines) = run(&mut sh(script), Some(GRACE), &NEVER, broken).unwrap();
        assert!(
            matches!(ended, Ended::Exited(s) if s.success()),
            "{ended:?}"
        );
        lines.sort();
        assert_eq!(lines, ["one", "three", "two"]);
    }

    #[test]
    fn a_daemon_holding_the_output_open_is_found_and_stopped() {
        let file = pid_file("daemon");
        // `setsid` puts the `sleep` in a session of its own and the shell exits at once: the
        // sleep is re-parented, in no group or tree of the command's; only the output it holds
        // open ties it to the command.
        let script = format!("setsid sleep 30 & echo $! > {}; exit 0", file.display());
        let (ended, _) = run_quiet(&mut sh(&script), Some(Duration::from_secs(1)));
        let pid = read_pid(&file);
        let survived = alive(pid);
        if survived {
            signals::send(pid, signals::SIGKILL);
        }
        assert!(matches!(ended, Ended::TimedOut(Some(_))), "{ended:?}");
        assert!(!survived, "process {pid} survived the stop");
    }

    #[test]
    fn reads_this_process_from_proc() {
        let me = i32::try_from(std::process::id()).unwrap();
        let p = proc_stat(&me.to_string()).expect("this process is alive");
        assert_eq!(p.pid, me);
        assert!(p.ppid > 0 && p.start > 0);
        assert!(tree(me, &[]).contains(&p));
    }
}
