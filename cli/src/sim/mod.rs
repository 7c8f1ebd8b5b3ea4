//! `uchat sim`: a local UChat-compatible server (issue #3, PROTOCOL.md §3–4).
//!
//! Work in progress: the argument surface is fixed here so the CLI can wire the subcommand.

use std::process::ExitCode;

/// Flags of `uchat sim` (issue #3).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimArgs {
    /// Address to bind (HOST:PORT); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: String,
    /// A room: `name` or `name:key=value,…` (token=, password=, capacity=, title=). Repeatable.
    #[arg(long = "room", value_name = "SPEC")]
    pub rooms: Vec<String>,
    /// TOML file with the same settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Serve static files from DIR over plain HTTP on the same port.
    #[arg(long, value_name = "DIR")]
    pub www: Option<std::path::PathBuf>,
    /// Fault injection (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Number of simulated users.
    #[arg(long, value_name = "N")]
    pub crowd: Option<u32>,
    /// Create unknown rooms on first join instead of answering ERR 201.
    #[arg(long)]
    pub auto_rooms: bool,
}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: SimArgs) -> ExitCode {
    let _ = args;
    eprintln!("uchat sim: not implemented yet");
    ExitCode::FAILURE
}
