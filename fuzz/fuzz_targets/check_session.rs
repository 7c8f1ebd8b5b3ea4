//! The `session` fuzz target's check, shared with `tests/fuzz_inputs.rs`, which replays the
//! committed inputs (`fuzz/seeds-session`, `fuzz/seeds`, `fuzz/regress/session`) in every
//! `cargo test`. A joined bot session (PROTOCOL.md §3, the session of `src/session/`) is fed
//! arbitrary server frames, once queueing events and once writing the browser's event tape
//! (whose chat lines take the fast path that builds no `Line`).
//!
//! Input layout (missing header bytes count as 0):
//! * byte 0: bit 0 registers a `!ping` command (bit 2: one that whispers also run, as with
//!   `onCommand`'s `whispers`), bit 1 sends a chat line after every frame;
//! * byte 1: `n = byte & 7`, the number of frame-size bytes that follow;
//! * `n` bytes: frame sizes, used in turn (0 feeds an empty frame, then one byte);
//! * the rest: the bytes the server sends after the join.
//!
//! Checks: nothing panics, and both modes give the same tape (the queued events written to a
//! fresh tape equal the tape the session wrote itself: same records, texts and other events).

use crate::common;
use uchat_bot::codec::encode;
use uchat_bot::message::{Incoming, Outgoing, RoomInfo, RoomMode, Style, UserKey, UserRecord};
use uchat_bot::session::tape::{Batch, Tape};
use uchat_bot::session::{CommandOptions, Config, Session};

/// The join burst every run starts with: room, the bot's record, its key.
fn join_frame() -> Vec<u8> {
    let me = UserKey(vec![1; 8]);
    let mut rec = UserRecord::unknown(me.clone());
    rec.nick = "bot".into();
    [
        Incoming::RoomInfo(RoomInfo {
            name: "Lobby".into(),
            mode: RoomMode::Basic,
            created: 1_600_000_000,
            flag_bytes: vec![0x6a, 0x01],
            server_time: 1_700_000_005,
        }),
        Incoming::User(rec),
        Incoming::MyKey(me),
    ]
    .iter()
    .flat_map(|m| encode(&m.to_line()).expect("the join burst encodes"))
    .collect()
}

/// Runs the session over `frames`; returns everything it reported as one tape batch.
fn run_mode(tape_mode: bool, flags: u8, frames: &[&[u8]]) -> Batch {
    let mut config = Config::new("lobby");
    // Fixed: the same input must give the same run (natively `Config::new` draws a random seed).
    config.seed = 0x5eed;
    let mut s = Session::new(config).expect("a valid config");
    if flags & 1 != 0 {
        let options = CommandOptions {
            whispers: flags & 4 != 0,
            ..CommandOptions::default()
        };
        s.commands_mut()
            .register("ping", options)
            .expect("a valid command");
    }
    if tape_mode {
        s.use_tape();
    }
    let mut now = 1_700_000_000_000;
    s.connect(now);
    s.on_open(now);
    s.on_frame(now, &join_frame());
    let mut queued = Vec::new();
    let drain = |s: &mut Session, queued: &mut Vec<_>| {
        while s.poll_action().is_some() {}
        while let Some(e) = s.poll_event() {
            queued.push(e);
        }
    };
    drain(&mut s, &mut queued);
    for f in frames {
        now += 250;
        s.on_frame(now, f);
        if flags & 2 != 0 {
            let chat = Outgoing::Chat {
                style: Style::default(),
                text: "pong".into(),
            };
            let _ = s.send(now, &chat);
        }
        while let Some(t) = s.next_timeout(now) {
            if t > now {
                break;
            }
            s.on_timeout(now);
        }
        drain(&mut s, &mut queued);
    }
    if tape_mode {
        assert!(queued.is_empty(), "tape mode queued events");
        s.take_batch()
            .unwrap_or_else(|| Tape::default().take_batch())
    } else {
        let mut t = Tape::default();
        t.extend(queued);
        t.take_batch()
    }
}

/// Runs every check on one input; panics on a finding.
pub fn run(input: &[u8]) {
    let (flags, sizes, data) = common::header(input);
    let frames = common::chunks(data, sizes);

    let queue = run_mode(false, flags, &frames);
    let tape = run_mode(true, flags, &frames);
    // Floats compared by bits: a system line's float field may be NaN. So may a field of an
    // event off the tape (a `plugin` line's data): those are compared by their `Debug` text,
    // where NaN is "NaN" on both sides (`==` would call two NaNs different).
    let bits = |b: &Batch| b.nums.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        format!("{:?}", queue.others),
        format!("{:?}", tape.others),
        "other events differ"
    );
    assert_eq!(bits(&queue), bits(&tape), "tape records differ");
    assert_eq!(queue.text, tape.text, "tape texts differ");
}
