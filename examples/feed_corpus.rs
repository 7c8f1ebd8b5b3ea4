//! The native profile of the browser's decode path: feeds a corpus file (frames written by
//! `node bench/dump-corpus.mjs`) through a joined [`Session`] in tape mode, as the wasm build
//! does for every WebSocket frame, and prints what it produced. Run it under
//! `valgrind --tool=callgrind` for instruction counts that do not depend on machine load
//! (docs/PERFORMANCE.md "Native profile").
//!
//! ```text
//! node bench/dump-corpus.mjs /tmp/corpus.bin 10
//! cargo build --release --example feed_corpus
//! valgrind --tool=callgrind target/release/examples/feed_corpus /tmp/corpus.bin
//! ```

use std::time::Instant;
use uchat_bot::codec::encode;
use uchat_bot::message::{Incoming, RoomInfo, RoomMode, UserKey, UserRecord};
use uchat_bot::session::{Config, Session};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: feed_corpus CORPUS.bin [ROUNDS]  (frames from bench/dump-corpus.mjs)");
        std::process::exit(2);
    };
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let data = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(2);
    });
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(len) = data.get(at..at + 4) {
        let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
        let Some(frame) = data.get(at + 4..at + 4 + len) else {
            eprintln!("{path}: truncated frame at byte {at}");
            std::process::exit(2);
        };
        frames.push(frame);
        at += 4 + len;
    }
    for round in 0..rounds {
        let start = Instant::now();
        let (nums, units, others) = feed(&frames);
        eprintln!(
            "round {round}: {} frames, {} bytes, {nums} tape numbers, {units} text units, \
             {others} other events, {:.1} ms",
            frames.len(),
            data.len() - 4 * frames.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// A session joined as the bench page's bot is, in tape mode; then every frame.
fn feed(frames: &[&[u8]]) -> (usize, usize, usize) {
    let now = 1_700_000_000_000;
    let mut config = Config::new("bench");
    // Fixed, so that runs under callgrind compare (natively `Config::new` draws a random seed).
    config.seed = 0x5eed;
    let mut s = Session::new(config).expect("config");
    s.use_tape();
    s.connect(now);
    s.on_open(now);
    while s.poll_action().is_some() {}
    let me = UserKey(vec![1; 8]);
    let join: Vec<u8> = [
        Incoming::RoomInfo(RoomInfo {
            name: "Bench".into(),
            mode: RoomMode::Basic,
            created: 1_600_000_000,
            flag_bytes: vec![0x6a, 0x01],
            server_time: 1_700_000_005,
        }),
        Incoming::User(UserRecord {
            nick: "bot".into(),
            ..UserRecord::unknown(me.clone())
        }),
        Incoming::MyKey(me),
    ]
    .iter()
    .flat_map(|m| encode(&m.to_line()).expect("join frame"))
    .collect();
    s.on_frame(now, &join);
    drain(&mut s);
    let mut n = (0, 0, 0);
    for f in frames {
        s.on_frame(now, f);
        let d = drain(&mut s);
        n = (n.0 + d.0, n.1 + d.1, n.2 + d.2);
    }
    n
}

/// Drops the actions, asks for the next timer and takes the batch, as the web layer does
/// after each input; returns the batch's sizes (tape numbers, text units, other events).
fn drain(s: &mut Session) -> (usize, usize, usize) {
    while s.poll_action().is_some() {}
    // The web layer asks for the next timer after every input (`Inner::arm_timer`).
    std::hint::black_box(s.next_timeout(1_700_000_000_000));
    let Some(b) = s.take_batch() else {
        return (0, 0, 0);
    };
    let n = (b.nums.len(), b.text.len(), b.others.len());
    s.give_back(b);
    n
}
