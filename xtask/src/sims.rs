//! The `uchat sim` servers the browser tests (tests/web.rs) talk to: started on free loopback
//! ports before the wasm suites, their URLs exported in the variables tests/web.rs reads at build
//! time, and stopped when the guard is dropped (also when a suite fails).

use std::env;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The token of the main sim's room `tok` (tests/web.rs `TOKEN`).
const TEST_TOKEN: &str = "s3cret-test-token";

/// One running sim; killed on drop.
pub struct Sim {
    child: Child,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the five sims (`uchat`, built first by the caller); sets `UCHAT_SIM_URL`,
/// `UCHAT_SIM_HIJACK_URL`, `UCHAT_SIM_DROP_URL`, `UCHAT_SIM_SLOW_URL` and `UCHAT_SIM_HOLD_URL`
/// for the child processes.
pub fn start(root: &std::path::Path) -> Result<Vec<Sim>, String> {
    let bin = crate::pkg::target_dir(root).join("debug").join("uchat");
    let tok_room = format!("tok:token={TEST_TOKEN}");
    let specs: [(&str, Vec<&str>); 5] = [
        (
            "UCHAT_SIM_URL",
            vec![
                "--auto-rooms",
                "--room",
                "lobby",
                "--room",
                &tok_room,
                "--room",
                "pw:password=pw1",
            ],
        ),
        ("UCHAT_SIM_HIJACK_URL", vec!["--fault", "hijack200"]),
        (
            "UCHAT_SIM_DROP_URL",
            vec!["--auto-rooms", "--fault", "drop-after=2"],
        ),
        // Every message two seconds late: slower than a short `joinTimeoutMs`.
        (
            "UCHAT_SIM_SLOW_URL",
            vec!["--auto-rooms", "--fault", "delay=2000"],
        ),
        // Upgrades never answered: a socket that stays connecting.
        ("UCHAT_SIM_HOLD_URL", vec!["--fault", "hold"]),
    ];
    let mut sims = Vec::new();
    for (var, args) in specs {
        let mut cmd = Command::new(&bin);
        cmd.args(["sim", "-q", "--listen", "127.0.0.1:0"])
            .args(&args);
        let (sim, url) = spawn(cmd)?;
        say!("$ uchat sim {} → {var}={url}", args.join(" "));
        env::set_var(var, &url);
        sims.push(sim);
    }
    Ok(sims)
}

/// Starts `cmd`, a `uchat sim … --listen 127.0.0.1:0` command, and returns it with the URL it
/// prints first (`listening ws://127.0.0.1:PORT`). The sim is killed when the [`Sim`] drops,
/// also when its first line is not that, or does not come within a minute (a hung sim must
/// not hold CI until its own time limit).
pub fn spawn(mut cmd: Command) -> Result<(Sim, String), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start {}: {e}", cmd.get_program().to_string_lossy()))?;
    let stdout = child.stdout.take().ok_or("sim stdout not captured")?;
    let sim = Sim { child };
    let (tx, rx) = std::sync::mpsc::channel();
    // The reader ends when the line comes or, after a timeout, when the sim is killed.
    std::thread::spawn(move || {
        let mut first = String::new();
        let read = BufReader::new(stdout).read_line(&mut first).map(|_| first);
        let _ = tx.send(read);
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .map_err(|_| "uchat sim printed no first line within 60 s".to_owned())?
        .map_err(|e| format!("reading the sim's first line: {e}"))?;
    let url = first
        .trim()
        .strip_prefix("listening ")
        .filter(|u| u.starts_with("ws://127.0.0.1:"))
        .ok_or_else(|| format!("unexpected first line from uchat sim: {first:?}"))?
        .to_owned();
    Ok((sim, url))
}
