//! `uchat`: inspect and build UChat 2 traffic from a terminal with the same code the browser SDK
//! runs (PROTOCOL.md §2–§4), and run a local UChat-compatible server (`uchat sim`).
//!
//! Output formats are an interface other tools depend on (issue #2): `decode` prints one JSON
//! value per line in the field form of vectors.json, `encode` and `join` print lowercase hex,
//! `token` prints the bare `user_data`. Exit codes: 0 success, 2 bad input or usage, 1 when
//! stdout cannot be written.

mod frames;
mod join;
mod sim;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// Decode/encode UChat 2 frames, build member-join tokens and `j` lines, run a local server.
#[derive(Debug, Parser)]
#[command(
    name = "uchat",
    version,
    after_help = "\
Examples:
  uchat decode --hex '70 0a 63 05 2a 0a'        # -> [\"p\"] then [\"c\",{\"num\":42}]
  printf 'p\\n' | uchat decode                   # raw bytes on stdin
  uchat encode --json '[\"m\",{\"str\":\"\"},{\"str\":\"hello\"}]'   # -> 6d030368656c6c6f0a
  uchat token --room myroom --token \"$UCHAT_TOKEN\" --nick tester --level 5
  uchat join --room myroom --user-data \"$(uchat token --room myroom --token \"$UCHAT_TOKEN\" --nick bot)\"
  uchat sim --help

Protocol reference: docs/protocol/PROTOCOL.md in the repository (wire format §2, messages §3,
join and token §4)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode UChat 2 bytes into lines (JSON field form, one per stdout line).
    Decode(frames::DecodeArgs),
    /// Encode lines in JSON field form into UChat 2 bytes (hex, one per line).
    Encode(frames::EncodeArgs),
    /// Print the user_data the site's PHP helper (uchat_array2data) makes from the room token.
    Token(join::TokenArgs),
    /// Print the hex of the `j` (join) line a browser sends for a user_data or a guest nick.
    Join(join::JoinArgs),
    /// Run a local UChat-compatible server for testing bots.
    Sim(sim::SimArgs),
    /// Load-test a sim: K WebSocket clients chatting; prints lines/s and p50/p99 relay latency.
    BenchSim(sim::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(a) => frames::decode(a),
        Command::Encode(a) => frames::encode(a),
        Command::Token(a) => join::token(a),
        Command::Join(a) => join::join(a),
        Command::Sim(a) => return sim::run(a),
        Command::BenchSim(a) => return sim::bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(messages)) => {
            for m in messages {
                eprintln!("uchat: {m}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("uchat: cannot write to stdout: {e}");
            ExitCode::from(1)
        }
    }
}

/// Why a subcommand did not succeed.
#[derive(Debug)]
enum Failure {
    /// Bad input or arguments (exit 2); one message per problem.
    Input(Vec<String>),
    /// Writing stdout failed (exit 1; a closed pipe ends quietly).
    Output(std::io::Error),
}

impl Failure {
    fn input(message: impl Into<String>) -> Failure {
        Failure::Input(vec![message.into()])
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

/// Write `lines` to stdout, each followed by a newline, and flush.
fn print_lines<I, S>(lines: I) -> Result<(), Failure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in lines {
        out.write_all(line.as_ref().as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
