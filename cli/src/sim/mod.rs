//! `uchat sim`: a local UChat-compatible server for tests, demos and bot authors (issue #3).
//!
//! It speaks the server side of PROTOCOL.md §3–4 with the project's own codec
//! ([`uchat_bot::codec`]) over a real WebSocket server (tokio + tokio-tungstenite).
//!
//! # Behaviour and defaults (decisions where the protocol is silent)
//!
//! * Binds `127.0.0.1:8787`; the first stdout line is `listening ws://HOST:PORT` (the real port
//!   when `--listen …:0`). One stderr line per connection, join, leave and error. SIGINT/SIGTERM
//!   stop it with exit status 0.
//! * Without `--room` there is one open room, `lobby`. `--room name:token=…,password=…,
//!   capacity=N,title=…,notice=…`. `--auto-rooms` creates unknown rooms (open) instead of ERR 201;
//!   such a room is forgotten (chat log and notices with it) when its last member leaves, but its
//!   bans are kept for its name and come back when it is made again (for the last 1024 rooms
//!   removed with bans; an open room has no moderators today, so this only guards the rule that
//!   a ban lasts as long as the server).
//! * Join (`j`, §4.2) checks, in order: room id (102), room exists (201), token rooms: hash
//!   present (203), hash matches (202; the PHP `uchat_array2data` md5 over the received values +
//!   room + stored token, values with `+` also tried with spaces, §4.7-1), `time` within
//!   `--time-skew` (default 300 s) of the server clock (205); password rooms: password sent
//!   (701) and equal (208); banned nick/id (408); nick free (301); room not full (207).
//! * Success: `i1` (title or id, mode 0, created, flags io+message+call+whisper, server time),
//!   the joiner's `k`, `i2`; the others get `k` + `j`. User keys and `k` sessions are 8 random
//!   bytes. A join without nick gets `손님NNNN` (four random digits, unique in the room).
//! * A `k` line's mute bit (field 9) is the member's state when the line is sent: 0 again as
//!   soon as a timed mute has run out.
//! * Auth numbers (`k` field 5): in a token room, after a verified hash, `admin` 3, `subadmin` 2,
//!   `guest` 0, `member`, `''` or anything else 1. In rooms without a token nothing is verified,
//!   so every member is 0 (guest): moderation needs a token room.
//! * `command userList N search` → `k` + `u` per member (the `k` lines first so the client knows
//!   every key), then an empty `u`. `chatList N` → the last N (≤ 100) chat lines, each preceded by
//!   the sender's `k`: the one they have now while they are in the room (so its mute bit is
//!   current), the one they had when they chatted once they have left. `noticeList` → one `s 12` per notice. `io` is accepted (no reply).
//!   `whisper nick style text` → `w | from | to | style | text | time` to the target and back to
//!   the sender (each preceded by the other party's `k`). `notice`, `mute nick minutes` (`-1`
//!   permanent → `s 37`, else `s 4`; 0, other negative values and periods too long for the
//!   clock, about 1.5e17 minutes and more, → ERR 412), `unmute` (`s 5`), `ban` (`s 1`, `o`,
//!   ERR 408 to the victim, who is disconnected and cannot rejoin with that nick or id) and
//!   `clearLog` (`s 32`) need auth ≥ 2 (ERR 402). `info nick` → `s 36 | nick | id | level |
//!   auth | connect time | session hex`. `plugin`/`pluginTo` are relayed as `p`. Other commands
//!   → ERR 403.
//! * `m` → `m | key | style | text | time` to everyone, sender included. `p` and `disconnect` are
//!   accepted; a leave or drop sends `o | nick` to the rest.
//! * Client lines are read with [`uchat_bot::message::Outgoing::from_line`], which is strict:
//!   a known key or command with missing, mistyped or surplus fields, an unparsable style, bad
//!   UTF-8, an unknown line key, or chat before joining → ERR 101 and the connection stays open.
//!   The relayed style is the parsed style in uchat.js's wire form. Text frames are read as their
//!   UTF-8 bytes.
//! * Limits: a line over `--max-line` bytes (default 8192) → ERR 105; a string or binary field
//!   over `--max-field` bytes (default 2048) → ERR 401, or ERR 105 ("join data too long") in a
//!   `j`; a muted member's chat → ERR 413. Flood control for `m` and whispers: more than
//!   `--flood LINES/SECS` (default 12 per 4 s, sliding window, refused lines count too; the SDK's
//!   default bucket — burst 5, then 5 per 3 s — sends at most 11.7 lines in any 4 s) → ERR 425
//!   and the line is dropped; reaching twice the limit within the window → `s 13` (system_mute:
//!   nick, minutes) to the room and a mute of `--flood-mute` seconds (default 60). The same text
//!   more than `--repeat-limit` times in a row (default 3) → ERR 430.
//! * Outgoing lines are coalesced into one binary WebSocket message per burst (like `i1 k i2`).
//!   A client's own requests (`chatList 100` is ~205 KB of answer) wait while more than 2 MiB is
//!   queued for it, so a client that asks for a lot and reads is served at its own pace; one
//!   whose requests wait 5 s is disconnected, and so is one that lets more than 4 MiB of other
//!   members' lines pile up unread (each queued chunk counted with 64 bytes of overhead): what
//!   would go over is dropped, the connection leaves its room, its writer gets 2 s to flush (plus
//!   the `delay` fault per message left), and then the socket is closed with whatever is still
//!   queued. An answer that alone is larger than 4 MiB is not queued at all, and its client is
//!   disconnected the same way (the log says why): with the default limits only a `userList` of
//!   thousands of members or a long `noticeList` is that large, a single line only with
//!   `--max-line` and `--max-field` raised to megabytes. Once a client is to be disconnected
//!   (also when banned), nothing more of what it sent is handled, not even the rest of the
//!   WebSocket message that got it disconnected.
//! * `--www DIR` serves GET/HEAD for files under DIR (index.html for directories; `..`, NUL and
//!   backslashes refused, symlinks must stay inside DIR) on the same port; a WebSocket upgrade on
//!   any path goes to the chat server. Without `--www` a plain request gets 426 with
//!   `Upgrade: websocket`. Every answer to a `HEAD` (426, 404, 400, the `hijack200` page…) is
//!   the `GET`'s status and headers, `Content-Length` included, without the body. An upgrade must be an HTTP/1.1 GET with `Host`, a `Sec-WebSocket-Key`
//!   that is the base64 of 16 bytes and `Sec-WebSocket-Version: 13`; anything else gets 400 (a
//!   wrong version with `Sec-WebSocket-Version: 13`, RFC 6455 §4.4).
//! * `--crowd N`: N simulated users in `--crowd-room` (default: the first room), each chatting
//!   every ~`--crowd-interval` s (default 5) and leaving after ~`--crowd-stay` s (default 60),
//!   then coming back; intervals are jittered ×0.5–1.5. They are exempt from flood control and,
//!   being the server's own, know the room's password and token (they join as `member`).

mod client;
mod config;
mod crowd;
mod http;
mod hub;
mod room;
mod server;
mod verify;

pub mod bench;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::Settings;

/// Flags of `uchat sim` (issue #3). Every setting can also come from `--config FILE` (TOML, same
/// names with `_`: `listen`, `room`/`rooms`, `auto_rooms`, `www`, `fault`, `crowd`, …); flags win.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = SIM_HELP)]
pub struct SimArgs {
    /// Address to bind, HOST:PORT [default: 127.0.0.1:8787]. Port 0 picks a free port; the
    /// first stdout line prints the real one.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// A room: `name` or `name:key=value,…` with token=SECRET, password=PW, capacity=N,
    /// title=TEXT, notice=TEXT. Repeatable [default: one open room `lobby`].
    #[arg(long = "room", value_name = "SPEC")]
    pub rooms: Vec<String>,
    /// TOML file with the same settings (flags given on the command line win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also serve static files from DIR over plain HTTP on the same port.
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,
    /// Fault injection, repeatable: hijack200, drop-after=SECS, idle-timeout=SECS,
    /// split-frames, delay=MS, refuse, hold.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Add N simulated users who join, chat and leave again [default: 0].
    #[arg(long, value_name = "N")]
    pub crowd: Option<u32>,
    /// Room of the simulated users [default: the first room].
    #[arg(long, value_name = "ROOM")]
    pub crowd_room: Option<String>,
    /// Mean seconds between two lines of one simulated user [default: 5].
    #[arg(long, value_name = "SECS")]
    pub crowd_interval: Option<f64>,
    /// Mean seconds a simulated user stays before leaving [default: 60].
    #[arg(long, value_name = "SECS")]
    pub crowd_stay: Option<f64>,
    /// Create unknown rooms on first join instead of answering ERR 201; such a room is removed
    /// when its last member leaves.
    #[arg(long)]
    pub auto_rooms: bool,
    /// Longest accepted line in bytes; longer → ERR 105 [default: 8192].
    #[arg(long, value_name = "BYTES")]
    pub max_line: Option<usize>,
    /// Longest accepted field in bytes; longer → ERR 401 [default: 2048].
    #[arg(long, value_name = "BYTES")]
    pub max_field: Option<usize>,
    /// Per-user chat limit LINES/SECS (ERR 425, then system_mute at twice the limit); 0 turns
    /// it off [default: 12/4].
    #[arg(long, value_name = "LINES/SECS")]
    pub flood: Option<String>,
    /// Identical consecutive chat lines allowed before ERR 430; 0 turns it off [default: 3].
    #[arg(long, value_name = "N")]
    pub repeat_limit: Option<u32>,
    /// Seconds of the automatic system_mute after flooding [default: 60].
    #[arg(long, value_name = "SECS")]
    pub flood_mute: Option<f64>,
    /// Allowed difference between a token's time and the server clock, seconds (ERR 205)
    /// [default: 300].
    #[arg(long, value_name = "SECS")]
    pub time_skew: Option<u64>,
    /// No per-connection log lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Behaviour summary shown by `uchat sim --help` (the module documentation has the full list).
const SIM_HELP: &str = "\
Behaviour (PROTOCOL.md §3-4):
  First stdout line: `listening ws://HOST:PORT`. One stderr line per connection, join, leave,
  error. SIGINT/SIGTERM stop with exit status 0. The room token is never printed.
  Join: i1 (room info, server time), own k, i2; others get k + j. No nick -> 손님NNNN.
  User keys and k sessions are 8 random bytes.
  Token rooms: the PHP uchat_array2data md5 over the received j values + room + token;
  missing hash 203, mismatch 202, time off by more than --time-skew 205. Values with '+' are
  also tried with spaces. Password rooms: 701 missing, 208 wrong. Unknown room 201 (unless
  --auto-rooms: created open, removed when its last member leaves), nick taken 301, full 207,
  banned 408.
  Auth (k field 5): token rooms after a verified hash: admin 3, subadmin 2, guest 0,
  member / '' / other 1. Rooms without a token: everyone 0. notice, mute, unmute, ban and
  clearLog need auth >= 2 (ERR 402).
  Commands: userList (k + u per member, then empty u), chatList N (last <= 100), noticeList
  (s 12), io, whisper (w to target and sender), notice, mute N|-1 (s 4 / s 37; other values
  and periods the clock cannot hold 412), unmute (s 5), ban (s 1, o, ERR 408 + disconnect),
  info (s 36), clearLog (s 32); others ERR 403.
  Errors: malformed line or field types 101 (connection stays), line > --max-line 105,
  field > --max-field 401 (105 inside j), muted 413, over --flood 425 and at twice the limit
  s 13 system_mute for --flood-mute s, more than --repeat-limit identical lines 430.
  --www DIR: GET/HEAD files under DIR on the same port (index.html for directories, no
  path traversal); a WebSocket upgrade on any path goes to the chat.";

/// A running sim inside the current tokio runtime (used by `bench-sim`).
pub struct Running {
    /// The bound address.
    pub addr: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds and starts serving (accept loop + crowd) on the current runtime.
pub async fn start(settings: Settings) -> Result<Running, String> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let settings = Arc::new(settings);
    let hub = hub::Hub::new(settings.clone());
    for r in &settings.rooms {
        hub.log(format_args!(
            "room {:?}{}{}{}",
            r.name,
            if r.token.is_some() { " (token)" } else { "" },
            if r.password.is_some() {
                " (password)"
            } else {
                ""
            },
            r.capacity
                .map_or(String::new(), |c| format!(" (capacity {c})")),
        ));
    }
    let mut tasks = vec![tokio::spawn(server::accept_loop(listener, hub.clone()))];
    for i in 0..settings.crowd.users {
        tasks.push(tokio::spawn(crowd::user(hub.clone(), i)));
    }
    Ok(Running { addr, tasks })
}

/// Installs the SIGINT/SIGTERM handlers now and returns the wait for the first signal. Called
/// before the `listening` line is printed, so a signal sent as soon as that line appears stops
/// the sim with status 0 instead of killing it (`tokio::signal::ctrl_c` would only install its
/// handler when first polled).
fn stop_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                },
                (Ok(mut int), Err(_)) => {
                    int.recv().await;
                    "SIGINT"
                }
                (Err(_), Ok(mut term)) => {
                    term.recv().await;
                    "SIGTERM"
                }
                // No handlers: the default actions still end the process.
                (Err(_), Err(_)) => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// The multi-threaded tokio runtime of `uchat sim` and `uchat bench-sim`; on failure it prints
/// why (prefixed with `tool`) and gives the exit status.
pub(crate) fn runtime(tool: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("{tool}: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Runs `uchat sim` until SIGINT/SIGTERM. Exit status 0 on a signal, 2 on bad settings, 1 when
/// the address cannot be bound.
pub fn run(args: SimArgs) -> ExitCode {
    let settings = match Settings::resolve(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("uchat sim: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime("uchat sim") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(async {
        let quiet = settings.quiet;
        let running = match start(settings).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("uchat sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        let stop = stop_signal();
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening ws://{}", running.addr);
        let _ = stdout.flush();
        let sig = stop.await;
        if !quiet {
            eprintln!("sim: {sig}: stopping");
        }
        drop(running);
        ExitCode::SUCCESS
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}
