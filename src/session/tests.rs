//! Session tests with a fake clock and a scripted server.

use super::*;
// In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
use crate::codec::{hex_encode, Decoder};
use crate::message::{ChatMessage, RoomMode, WhisperMessage};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const ME: [u8; 8] = [1, 1, 1, 1, 1, 1, 1, 1];
const BOB: [u8; 8] = [2, 2, 2, 2, 2, 2, 2, 2];
/// A user the bot does not know until a user list tells it (the deferral tests).
const CAROL: [u8; 8] = [9; 8];

/// The server's answer to `userList`: a record of each user, then the list of keys and its end.
fn user_list(users: &[([u8; 8], &str, i64)]) -> Vec<Incoming> {
    let records = users
        .iter()
        .map(|&(k, nick, auth)| Incoming::User(rec(k, nick, auth)));
    let keys = users
        .iter()
        .map(|(k, ..)| Incoming::UserListEntry(Some(UserKey(k.to_vec()))));
    records
        .chain(keys)
        .chain([Incoming::UserListEntry(None)])
        .collect()
}

fn rec(key: [u8; 8], nick: &str, auth: i64) -> UserRecord {
    UserRecord {
        key: UserKey(key.to_vec()),
        nick: nick.into(),
        id: String::new(),
        level: None,
        auth,
        icons: String::new(),
        nickcon: String::new(),
        connected: 1_700_000_000,
        mute: false,
        mute_raw: 0,
        session: vec![9; 8],
        profileimg: None,
    }
}

/// [`Config::new`] with a fixed seed, so that jitter and client sessions are the same on every
/// run (natively `Config::new` draws a random seed).
fn config(room: &str) -> Config {
    Config {
        seed: 0x5eed,
        ..Config::new(room)
    }
}

fn frame(msgs: &[Incoming]) -> Vec<u8> {
    msgs.iter()
        .flat_map(|m| encode(&m.to_line()).unwrap())
        .collect()
}

/// A chat line from `from` with an optional server time.
fn chat_from(text: &str, time: Option<i64>, from: [u8; 8]) -> Incoming {
    Incoming::Message(ChatMessage {
        from: UserKey(from.to_vec()),
        style: String::new(),
        text: text.into(),
        time,
    })
}

/// A whisper from `from` to `to`, plain style.
fn whisper(from: [u8; 8], to: [u8; 8], text: &str, time: Option<i64>) -> Incoming {
    Incoming::Whisper(WhisperMessage {
        from: UserKey(from.to_vec()),
        to: UserKey(to.to_vec()),
        style: String::new(),
        text: text.into(),
        time,
    })
}

/// The `'message'` events' texts and history flags, in order.
fn message_flags(ev: &[Event]) -> Vec<(String, bool)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Message {
                content, history, ..
            } => Some((content.clone(), *history)),
            _ => None,
        })
        .collect()
}

/// The arguments of every command trigger, in order.
fn command_args(ev: &[Event]) -> Vec<Vec<String>> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Command(t) => Some(t.args.clone()),
            _ => None,
        })
        .collect()
}

struct H {
    s: Session,
    now: u64,
    sent: Vec<Line>,
    events: Vec<Event>,
    opens: usize,
    closes: usize,
}

impl H {
    fn new(config: Config) -> H {
        H {
            s: Session::new(config).unwrap(),
            now: 1_700_000_000_000,
            sent: vec![],
            events: vec![],
            opens: 0,
            closes: 0,
        }
    }
    /// A guest with a `ping` command registered.
    fn with_ping() -> H {
        let mut h = H::guest();
        h.s.commands_mut()
            .register("ping", CommandOptions::default())
            .unwrap();
        h
    }
    fn guest() -> H {
        H::new(config("lobby"))
    }
    /// A guest with a `help` command that also runs when whispered.
    fn with_whispered_help() -> H {
        let mut h = H::guest();
        let options = CommandOptions {
            whispers: true,
            ..CommandOptions::default()
        };
        h.s.commands_mut().register("help", options).unwrap();
        h
    }
    /// A token login (room `r`, token `t`, no member fields).
    fn token() -> H {
        let mut cfg = config("r");
        cfg.login = Login::Token {
            token: "t".into(),
            fields: UserFields::default(),
        };
        H::new(cfg)
    }
    fn drain(&mut self) {
        while let Some(a) = self.s.poll_action() {
            match a {
                Action::Open => self.opens += 1,
                Action::Close { .. } => self.closes += 1,
                Action::Send(b) => {
                    for l in Decoder::new().feed(&b) {
                        self.sent.push(l.unwrap());
                    }
                }
            }
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
    }
    fn server(&mut self, msgs: &[Incoming]) {
        self.s.on_frame(self.now, &frame(msgs));
        self.drain();
    }
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        // Fire every timer in order, like the web layer would.
        while let Some(t) = self.s.next_timeout(self.now) {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.s.on_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }
    /// `connect()`, and the socket opens: the join line is sent, its answer awaited.
    fn open(&mut self) {
        self.s.connect(self.now);
        self.s.on_open(self.now);
        self.drain();
    }
    fn join(&mut self) {
        self.open();
        self.join_answer();
    }
    /// The server's answer to a join (`i1` at server time 1_700_000_005, my `k`, `i2`).
    fn join_answer(&mut self) {
        self.server(&[
            Incoming::RoomInfo(RoomInfo {
                name: "Lobby".into(),
                mode: RoomMode::Basic,
                created: 1_600_000_000,
                flag_bytes: vec![0x6a, 0x01],
                server_time: 1_700_000_005,
            }),
            Incoming::User(rec(ME, "봇", 0)),
            Incoming::MyKey(UserKey(ME.to_vec())),
        ]);
    }
    /// The socket drops; the reconnect opens a new one (the join line is sent).
    fn drop_and_reopen(&mut self) {
        self.s.on_close(self.now, 1006, "");
        self.drain();
        self.advance_to_open();
        self.s.on_open(self.now);
        self.drain();
    }
    /// Fires timers until the session opens a socket (a reconnect), at most a minute on.
    fn advance_to_open(&mut self) {
        let (opens, end) = (self.opens, self.now + 60_000);
        while self.opens == opens {
            let t = self
                .s
                .next_timeout(self.now)
                .expect("a timer for the reconnect");
            assert!(t <= end, "no reconnect within a minute");
            self.now = t.max(self.now);
            self.s.on_timeout(self.now);
            self.drain();
        }
    }
    fn keys(&self) -> Vec<&str> {
        self.sent.iter().map(|l| l.key.as_str()).collect()
    }
    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
    /// The error the waiting connect() failed with (`Event::JoinFailed`), from the events so
    /// far (taken); panics if there is none.
    fn join_failure(&mut self) -> ErrorInfo {
        self.take_events()
            .into_iter()
            .find_map(|e| match e {
                Event::JoinFailed(info) => Some(info),
                _ => None,
            })
            .expect("join failed")
    }
    fn chat_lines(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter(|l| l.key == "m")
            .map(|l| l.fields[1].as_str().unwrap().to_owned())
            .collect()
    }
}

fn chat(text: &str) -> Outgoing {
    Outgoing::Chat {
        style: Style::default(),
        text: text.into(),
    }
}

#[test]
fn guest_join_flow_and_post_join_burst() {
    let mut h = H::guest();
    assert_eq!(h.s.state(), State::Idle);
    h.join();
    assert_eq!(h.opens, 1);
    assert_eq!(h.s.state(), State::Joined);
    assert_eq!(h.keys(), ["j", "command", "command", "command", "command"]);
    assert_eq!(h.sent[0].fields.len(), 15);
    assert_eq!(h.sent[0].fields[0], Field::from("lobby"));
    assert_eq!(h.sent[1].fields[0], Field::from("userList"));
    let ev = h.take_events();
    assert!(ev.contains(&Event::State(State::Joined)));
    let joined = ev.iter().find_map(|e| match e {
        Event::Joined { my, room } => Some((my.nick.clone(), room.name.clone())),
        _ => None,
    });
    assert_eq!(joined, Some(("봇".into(), "Lobby".into())));
    assert_eq!(h.s.me().unwrap().nick, "봇");
    // The clock offset comes from i1: server 5 s ahead.
    assert_eq!(h.s.server_now_ms(h.now), (h.now + 5000) as f64);
}

#[test]
fn token_login_builds_a_fresh_hash_and_never_sends_the_token() {
    let mut cfg = config("myroom");
    cfg.login = Login::Token {
        token: "abcdef0123456789abcdef0123456789".into(),
        fields: UserFields {
            nick: Some("tester".into()),
            id: Some("tester01".into()),
            level: Some("5".into()),
            auth: Some("member".into()),
            ..UserFields::default()
        },
    };
    cfg.session = Some("0123456789abcdefghiklmnopqrstuvw".into());
    let mut h = H::new(cfg);
    h.now = 1_600_000_000_123;
    h.s.connect(h.now);
    h.s.on_open(h.now);
    let mut bytes = Vec::new();
    while let Some(a) = h.s.poll_action() {
        if let Action::Send(b) = a {
            bytes.extend(b);
        }
    }
    // Exactly vector T1's join frame (time 1600000000).
    assert_eq!(
        hex_encode(&bytes),
        "6a036d79726f6f6d037465737465720374657374657230310335036d656d62657206060603653764363832396138336639383966386262316362646430393039353266363903303132333435363738396162636465666768696b6c6d6e6f7071727374757677037574662d3803313630303030303030300606060a"
    );
    assert!(!format!("{:?}", h.s).contains("abcdef0123456789abcdef0123456789"));
}

/// Natively every `Config::new` draws its own seed, so default-configured bots get different
/// client sessions and reconnect jitter (it was a fixed 0x5eed: every such bot joined with
/// the same session and retried in step with the others after a server restart).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn config_new_seeds_differ_natively() {
    let (a, b) = (Config::new("lobby"), Config::new("lobby"));
    assert_ne!(a.seed, b.seed);
    let session_id = |c: Config| Session::new(c).unwrap().session_id;
    let (a, b) = (session_id(a), session_id(b));
    assert_ne!(a, b);
    assert_eq!((a.len(), b.len()), (32, 32));
}

/// `ErrorInfo` is a `std::error::Error` whose text is its message, so `?` works in a function
/// returning `Box<dyn Error>`.
#[test]
fn error_info_is_an_error_whose_text_is_its_message() {
    fn make(room: &str) -> Result<Session, Box<dyn std::error::Error>> {
        Ok(Session::new(config(room))?)
    }
    let e = make("").unwrap_err();
    let info = Session::new(config("")).unwrap_err();
    assert_eq!(e.to_string(), info.message);
    assert_eq!(info.to_string(), info.message);
    assert!(e.to_string().contains("option `room`"), "{e}");
    let server = ErrorInfo::server(&ErrorCode::from_code(208));
    assert_eq!(server.to_string(), server.message);
    assert!(
        server.to_string().starts_with("UChat error 208: "),
        "{server}"
    );
}

/// `Debug` of the config, and so of the session, shows neither the room password nor the
/// token (the password was printed in clear).
#[test]
fn debug_hides_the_room_password_and_the_token() {
    let mut cfg = config("pw");
    cfg.password = Some("hunter2-room-password".into());
    cfg.login = Login::Token {
        token: "TOPSECRET-token".into(),
        fields: UserFields::default(),
    };
    let mut h = H::new(cfg.clone());
    h.s.connect(h.now);
    h.s.on_open(h.now);
    for text in [
        format!("{cfg:?}"),
        format!("{cfg:#?}"),
        format!("{:?}", h.s),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("TOPSECRET"), "{text}");
        assert_eq!(text.matches(r#""<secret>""#).count(), 2, "{text}");
        assert!(text.contains(r#"room: "pw""#), "{text}");
    }
    assert!(format!("{cfg:?}").contains(r#"password: Some("<secret>")"#));
    assert!(format!("{:?}", config("r")).contains("password: None"));
}

/// A `max_line` of 0 (or a few bytes) made every line an error, so the session stayed in
/// `Joining` for good; below `MIN_MAX_LINE` the config is refused, naming the option, and at
/// the minimum a join completes.
#[test]
fn max_line_below_the_minimum_is_refused() {
    for max_line in [0, 1, 100, MIN_MAX_LINE - 1] {
        let mut cfg = config("r");
        cfg.max_line = max_line;
        let e = Session::new(cfg).unwrap_err();
        assert_eq!(e.name, "config");
        assert!(e.message.contains("option `max_line`"), "{}", e.message);
        let min = format!("the minimum, {MIN_MAX_LINE} bytes");
        assert!(e.message.contains(&min), "{}", e.message);
    }
    let mut cfg = config("lobby");
    cfg.max_line = MIN_MAX_LINE;
    let mut h = H::new(cfg);
    h.join();
    assert_eq!(h.s.state(), State::Joined);
}

#[test]
fn bad_config_is_a_clear_error() {
    let e = Session::new(config("")).unwrap_err();
    assert!(e.message.contains("option `room`"), "{}", e.message);
    let mut cfg = config("r");
    cfg.login = Login::UserData("nick %E0%A4".into());
    let e = Session::new(cfg).unwrap_err();
    assert!(e.message.contains("option `userData`"), "{}", e.message);
    let mut cfg = config("r");
    cfg.session = Some("short".into());
    assert!(Session::new(cfg)
        .unwrap_err()
        .message
        .contains("option `session`"));
}

#[test]
fn users_join_list_quit_and_messages() {
    let mut h = H::guest();
    h.join();
    h.take_events();
    h.server(&[
        Incoming::User(rec(BOB, "bob", 1)),
        Incoming::UserJoin(UserKey(BOB.to_vec())),
        Incoming::UserListEntry(Some(UserKey(ME.to_vec()))),
        Incoming::UserListEntry(Some(UserKey(BOB.to_vec()))),
        Incoming::UserListEntry(None),
        Incoming::Message(ChatMessage {
            from: UserKey(BOB.to_vec()),
            style: "4 #ff0000".into(),
            text: "안녕".into(),
            time: Some(1_700_000_010),
        }),
        whisper(BOB, ME, "psst", None),
    ]);
    assert_eq!(h.s.users().len(), 2);
    assert_eq!(h.s.users().by_nick("bob").unwrap().auth, 1);
    let ev = h.take_events();
    assert!(matches!(&ev[0], Event::UserJoin(u) if u.nick == "bob"));
    assert!(matches!(&ev[1], Event::UserList(l) if l.len() == 2));
    match &ev[2] {
        Event::Message {
            user,
            style,
            content,
            time_ms,
            is_self,
            history,
        } => {
            assert!(!history, "live message");
            assert_eq!(user.nick, "bob");
            assert!(style.bold && style.color.is_some());
            assert_eq!(content, "안녕");
            assert_eq!(*time_ms, 1_700_000_010_000.0);
            assert!(!is_self);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&ev[3], Event::Whisper { from, to, .. } if from.nick == "bob" && to.nick == "봇")
    );
    h.server(&[Incoming::UserQuit { nick: "bob".into() }]);
    assert!(matches!(&h.take_events()[0], Event::UserQuit(u) if u.nick == "bob"));
    assert_eq!(h.s.users().len(), 1);
    assert!(h.s.users().by_nick("bob").is_none());
}

#[test]
fn keepalive_every_heartbeat_while_joined() {
    let mut h = H::guest();
    h.join();
    h.sent.clear();
    h.advance(59_999);
    assert!(h.sent.is_empty());
    h.advance(1);
    assert_eq!(h.keys(), ["p"]);
    h.advance(120_000);
    assert_eq!(h.keys(), ["p", "p", "p"]);
}

#[test]
fn token_bucket_paces_user_lines_in_order() {
    let mut h = H::guest();
    h.join();
    h.sent.clear();
    for i in 0..12 {
        h.s.send(h.now, &chat(&format!("{i}"))).unwrap();
    }
    h.drain();
    assert_eq!(h.chat_lines().len(), 5, "burst of 5");
    h.advance(600);
    assert_eq!(h.chat_lines().len(), 6);
    h.advance(10_000);
    let want: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    assert_eq!(h.chat_lines(), want);
}

#[test]
fn drop_reconnects_rejoins_and_delivers_queued_lines_once_in_order() {
    let mut h = H::guest();
    h.join();
    h.take_events();
    h.s.send(h.now, &chat("before")).unwrap();
    h.drain();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    let ev = h.take_events();
    assert!(ev.contains(&Event::Disconnect {
        code: 1006,
        reason: String::new(),
        will_reconnect: true
    }));
    let delay = ev
        .iter()
        .find_map(|e| match e {
            Event::Reconnecting {
                attempt: 1,
                delay_ms,
            } => Some(*delay_ms),
            _ => None,
        })
        .expect("reconnecting event");
    assert!(delay < 1000, "first attempt within 1 s: {delay}");
    assert_eq!(h.s.state(), State::Reconnecting);
    // Lines sent while away are queued.
    h.s.send(h.now, &chat("q1")).unwrap();
    h.s.send(h.now, &chat("q2")).unwrap();
    h.drain();
    assert_eq!(h.chat_lines(), ["before"]);
    h.advance(delay);
    assert_eq!(h.opens, 2);
    assert_eq!(h.s.state(), State::Connecting);
    h.s.on_open(h.now);
    h.drain();
    assert_eq!(h.chat_lines(), ["before"], "nothing before the re-join");
    h.server(&[
        Incoming::User(rec(ME, "봇", 0)),
        Incoming::MyKey(UserKey(ME.to_vec())),
    ]);
    assert_eq!(h.chat_lines(), ["before", "q1", "q2"]);
    assert_eq!(h.s.state(), State::Joined);
    // Exactly one re-join line.
    assert_eq!(h.keys().iter().filter(|k| **k == "j").count(), 2);
}

#[test]
fn backoff_grows_and_stops_after_max_retries() {
    let mut cfg = config("lobby");
    cfg.reconnect = Some(ReconnectPolicy {
        max_retries: Some(3),
        ..ReconnectPolicy::default()
    });
    let mut h = H::new(cfg);
    h.join();
    for attempt in 1..=3 {
        h.s.on_close(h.now, 1006, "");
        h.drain();
        assert_eq!(h.s.state(), State::Reconnecting, "attempt {attempt}");
        h.advance_to_open();
        assert_eq!(h.s.state(), State::Connecting);
    }
    h.take_events();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    assert_eq!(h.s.state(), State::Closed);
    assert!(h.take_events().contains(&Event::Disconnect {
        code: 1006,
        reason: String::new(),
        will_reconnect: false
    }));
}

#[test]
fn a_socket_that_cannot_be_created_fails_with_its_own_message() {
    // Before the first join: the connect() fails with the web layer's message, not the
    // handshake hint, and nothing is retried.
    let why = "new WebSocket(\"ws://x\") threw ReferenceError: WebSocket is not defined";
    let mut h = H::guest();
    h.s.connect(h.now);
    h.drain();
    assert_eq!(h.opens, 1);
    h.s.on_socket_error(h.now, why);
    h.drain();
    let ev = h.take_events();
    let failed = ev.iter().find_map(|e| match e {
        Event::JoinFailed(info) => Some(info.clone()),
        _ => None,
    });
    let info = failed.expect("join failed");
    assert_eq!(
        (info.kind().as_str(), info.message.as_str()),
        ("websocket", why)
    );
    // The waiting connect() ends before listeners hear of the error, so a connect() made by an
    // `error` listener is not ended by this failure (tests/web.rs has the browser case).
    let failed_at = ev.iter().position(|e| matches!(e, Event::JoinFailed(_)));
    let error_at = ev.iter().position(|e| *e == Event::Error(info.clone()));
    assert!(failed_at < error_at && error_at.is_some(), "{ev:?}");
    assert!(ev.contains(&Event::Disconnect {
        code: 1006,
        reason: why.into(),
        will_reconnect: false
    }));
    assert_eq!(h.s.state(), State::Closed);
    assert_eq!(h.s.next_timeout(h.now), None);
    // A later failure of a plain socket still gets the handshake hint (the message is not kept).
    h.s.connect(h.now);
    h.drain();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    assert_eq!(h.join_failure().kind(), "handshake");

    // After a join: a drop like any other, retried by the reconnect policy.
    let mut h = H::guest();
    h.join();
    h.take_events();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    h.advance_to_open();
    assert_eq!(h.opens, 2);
    h.take_events();
    h.s.on_socket_error(h.now, why);
    h.drain();
    let ev = h.take_events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Reconnecting { attempt: 2, .. })),
        "{ev:?}"
    );
    assert!(!ev
        .iter()
        .any(|e| matches!(e, Event::Error(_) | Event::JoinFailed(_))));
    assert_eq!(h.s.state(), State::Reconnecting);
}

#[test]
fn whispered_commands_run_only_for_live_whispers_from_others_to_the_bot() {
    let mut h = H::with_whispered_help();
    h.join();
    // Bob joins after the bot (`k` + `j`): present at once, so his whispers need no list.
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        Incoming::UserJoin(UserKey(BOB.to_vec())),
    ]);
    h.take_events();
    const CAROL: [u8; 8] = [9; 8];
    h.server(&[
        whisper(BOB, ME, "!help live", Some(1_700_000_010)),
        whisper(BOB, ME, "!help untimed", None),
        // Stamped before the join (server time 1_700_000_005): old, runs nothing.
        whisper(BOB, ME, "!help old", Some(1_700_000_004)),
        // Not to the bot, or from the bot itself.
        whisper(BOB, CAROL, "!help carol", None),
        whisper(ME, BOB, "!help bob", None),
    ]);
    let ran: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Command(t) => Some((t.rest, t.whisper, t.user.nick.clone())),
            _ => None,
        })
        .collect();
    let want = [("live", true, "bob"), ("untimed", true, "bob")];
    let want: Vec<_> = want
        .iter()
        .map(|&(r, w, n)| (r.to_owned(), w, n.to_owned()))
        .collect();
    assert_eq!(ran, want);
}

#[test]
fn first_connect_failures_reject_without_retry() {
    // Handshake failure (e.g. hijack200): never opened.
    let mut h = H::guest();
    h.s.connect(h.now);
    h.drain();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    let info = h.join_failure();
    assert_eq!(info.kind(), "handshake");
    assert!(info.message.contains("wss://"));
    assert_eq!(h.s.state(), State::Closed);
    assert_eq!(h.s.next_timeout(h.now), None);

    // ERR 202 before i2: rejects with the code, no reconnect.
    let mut h = H::guest();
    h.open();
    h.server(&[Incoming::Error(ErrorCode::from_code(202))]);
    let info = h.join_failure();
    assert_eq!(info.code, Some(202));
    assert_eq!(h.closes, 1);
    assert_eq!(h.s.state(), State::Closed);
    h.advance(120_000);
    assert_eq!(h.opens, 1, "no reconnect");
}

#[test]
fn token_login_retries_once_with_a_fresh_hash_on_205() {
    let mut h = H::token();
    h.open();
    h.server(&[Incoming::Error(ErrorCode::from_code(205))]);
    assert_eq!(h.opens, 2, "one immediate retry");
    h.s.on_close(h.now, 1000, ""); // the replaced socket closing is ignored
    h.s.on_open(h.now);
    h.drain();
    // Within the same second, yet with a fresh time and hash: not the same bytes again.
    let joins: Vec<&Line> = h.sent.iter().filter(|l| l.key == "j").collect();
    assert_eq!(joins.len(), 2);
    assert_ne!(joins[0], joins[1], "the retry repeats the failed join");
    h.server(&[Incoming::Error(ErrorCode::from_code(205))]);
    assert_eq!(h.opens, 2, "only once");
    assert_eq!(h.s.state(), State::Closed);
}

#[test]
fn fatal_errors_in_the_room_end_the_session() {
    for code in [408, 419, 415, 405] {
        let mut h = H::guest();
        h.join();
        h.take_events();
        h.server(&[Incoming::Error(ErrorCode::from_code(code))]);
        let ev = h.take_events();
        assert!(
            matches!(&ev[..], [Event::Error(i)] if i.code == Some(code)),
            "{code}: {ev:?}"
        );
        // The bot stays until the server closes; that close is not a drop: no re-join.
        assert_eq!(h.s.state(), State::Joined, "{code}");
        h.s.on_close(h.now, 1000, "");
        h.drain();
        assert_eq!(
            h.take_events(),
            [
                Event::Disconnect {
                    code: 1000,
                    reason: String::new(),
                    will_reconnect: false
                },
                Event::State(State::Closed)
            ],
            "{code}"
        );
        h.advance(120_000);
        assert_eq!(h.opens, 1, "{code}: re-joined");
    }
    // Not fatal: the close after it is a drop like any other.
    let mut h = H::guest();
    h.join();
    h.server(&[Incoming::Error(ErrorCode::from_code(413))]);
    h.s.on_close(h.now, 1006, "");
    h.drain();
    assert_eq!(h.s.state(), State::Reconnecting);
}

#[test]
fn a_connect_while_an_attempt_runs_fails_rather_than_retries() {
    // Joined once, dropped; connect() while the re-join attempt is under way, and that
    // attempt meets an error that may heal: the connect() fails, as in any other state.
    let mut h = H::guest();
    h.join();
    h.s.on_close(h.now, 1006, "");
    h.advance(60_000);
    assert_eq!(h.s.state(), State::Connecting);
    h.open();
    h.take_events();
    h.server(&[Incoming::Error(ErrorCode::from_code(207))]);
    let ev = h.take_events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::JoinFailed(i) if i.code == Some(207))),
        "{ev:?}"
    );
    assert_eq!(h.s.state(), State::Closed);
}

#[test]
fn huge_durations_saturate_instead_of_overflowing() {
    let mut cfg = config("lobby");
    cfg.heartbeat_ms = u64::MAX;
    cfg.rate_limit = Some(RateLimit {
        lines: 5,
        per_ms: u64::MAX / 2,
    });
    let mut h = H::new(cfg);
    h.s.commands_mut()
        .register(
            "x",
            CommandOptions {
                cooldown_ms: u64::MAX,
                ..CommandOptions::default()
            },
        )
        .unwrap();
    h.join();
    h.advance(10_000);
    assert!(!h.keys().contains(&"p"), "a heartbeat 'never' sent one");
    h.s.send(h.now, &chat("hi")).unwrap();
    h.drain();
    assert_eq!(h.chat_lines(), ["hi"], "the bucket locked up");
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        chat_from("!x", None, BOB),
    ]);
    h.advance(1);
    h.server(&[chat_from("!x", None, BOB)]);
    let fired = command_args(&h.take_events()).len();
    assert_eq!(
        fired, 1,
        "a cooldown of 'for ever' let the second one through"
    );
}

#[test]
fn a_connect_during_a_reconnect_always_ends() {
    // close() while a connect() made during the reconnect waits.
    let mut h = H::guest();
    h.join();
    h.s.on_close(h.now, 1006, "");
    h.advance(60_000);
    assert_eq!(h.s.state(), State::Connecting);
    h.take_events();
    h.s.connect(h.now);
    h.s.close(h.now);
    h.drain();
    let failed: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::JoinFailed(info) => Some(info.name),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["closed"], "the waiting connect() never settles");

    // Retries run out while such a connect() waits.
    let mut cfg = config("lobby");
    cfg.reconnect = Some(ReconnectPolicy {
        max_retries: Some(1),
        ..ReconnectPolicy::default()
    });
    let mut h = H::new(cfg);
    h.join();
    h.s.on_close(h.now, 1006, "");
    h.advance(60_000);
    h.open();
    h.take_events();
    h.server(&[Incoming::Error(ErrorCode::from_code(207))]); // room full: may heal, retried
    h.drain();
    assert_eq!(h.s.state(), State::Closed, "retries ran out");
    let n = h
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::JoinFailed(_)))
        .count();
    assert_eq!(n, 1);

    // No connect() waiting: a drop and a close make no JoinFailed.
    let mut h = H::guest();
    h.join();
    h.s.on_close(h.now, 1006, "");
    h.s.close(h.now);
    h.drain();
    assert!(!h
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::JoinFailed(_))));
}

#[test]
fn errors_in_the_room_do_not_disconnect() {
    let mut h = H::guest();
    h.join();
    h.take_events();
    h.server(&[Incoming::Error(ErrorCode::from_code(425))]);
    let ev = h.take_events();
    assert!(matches!(&ev[0], Event::Error(i) if i.code == Some(425)));
    assert_eq!(h.s.state(), State::Joined);
}

#[test]
fn malformed_input_is_an_error_event_not_a_panic() {
    let mut h = H::guest();
    h.join();
    h.take_events();
    h.s.on_frame(h.now, b"m\x03\xff\xfe\nk\x03only-a-nick\n\x05\x05\x05\np\n");
    h.drain();
    let errors = h
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::Error(_)))
        .count();
    assert!(errors >= 2, "{errors}");
    assert_eq!(h.s.state(), State::Joined);
}

#[test]
fn queue_is_bounded_and_close_stops_everything() {
    let mut cfg = config("lobby");
    cfg.queue_limit = 2;
    let mut h = H::new(cfg);
    for t in ["a", "b", "c"] {
        h.s.send(h.now, &chat(t)).unwrap();
    }
    h.drain();
    assert_eq!(h.s.queued(), 2);
    assert!(matches!(&h.take_events()[0], Event::Error(i) if i.name == "queue_full"));
    h.join();
    assert_eq!(h.chat_lines(), ["b", "c"]);
    h.s.close(h.now);
    h.drain();
    assert_eq!(h.keys().last(), Some(&"disconnect"));
    assert_eq!(h.closes, 1);
    assert_eq!(h.s.state(), State::Closed);
    assert_eq!(h.s.next_timeout(h.now), None);
    assert!(h.s.send(h.now, &chat("late")).is_err());
    // The close of our own socket is not a drop.
    h.s.on_close(h.now, 1000, "");
    h.drain();
    assert_eq!(h.opens, 1);
}

#[test]
fn commands_fire_for_others_but_not_for_my_own_echo() {
    let mut h = H::guest();
    let id =
        h.s.commands_mut()
            .register("ping", CommandOptions::default())
            .unwrap();
    h.join();
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        Incoming::Message(ChatMessage {
            from: UserKey(BOB.to_vec()),
            style: String::new(),
            text: "!ping x".into(),
            time: None,
        }),
        Incoming::Message(ChatMessage {
            from: UserKey(ME.to_vec()),
            style: String::new(),
            text: "!ping".into(),
            time: None,
        }),
    ]);
    let triggers: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Command(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(triggers.len(), 1);
    assert_eq!(
        (triggers[0].id, triggers[0].user.nick.as_str()),
        (id, "bob")
    );
    assert_eq!(triggers[0].args, ["x"]);
}

#[test]
fn chat_log_replay_is_history_and_never_triggers_commands() {
    let mut h = H::with_ping();
    h.join(); // i1 server time 1_700_000_005
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        chat_from("!ping old", Some(1_699_999_000), BOB),
        chat_from("!ping new", Some(1_700_000_005), BOB),
    ]);
    let ev = h.take_events();
    assert_eq!(
        message_flags(&ev),
        [
            ("!ping old".to_owned(), true),
            ("!ping new".to_owned(), false)
        ]
    );
    assert_eq!(command_args(&ev), [vec!["new".to_owned()]]);

    // A reconnect within the same second: the replay of the line that ran the command is
    // history; another line of that second is live.
    h.drop_and_reopen();
    h.join_answer();
    h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
    h.take_events();
    let line = |text: &str| chat_from(text, Some(1_700_000_005), BOB);
    h.server(&[line("!ping new"), line("!ping newer")]);
    let ev = h.take_events();
    assert_eq!(
        message_flags(&ev),
        [
            ("!ping new".to_owned(), true),
            ("!ping newer".to_owned(), false)
        ]
    );
    assert_eq!(
        command_args(&ev),
        [vec!["newer".to_owned()]],
        "a replay ran again"
    );

    // Once live lines are stamped past the wait for the join's `chatList 15` (10 s), the same
    // command twice in one second runs twice (before, the second would be taken for the
    // replay of the first).
    let later = |text: &str| chat_from(text, Some(1_700_000_016), BOB);
    h.server(&[later("!ping newest"), later("!ping newest")]);
    assert_eq!(
        command_args(&h.take_events()).len(),
        2,
        "a live repeat was taken for a replay"
    );
}

#[test]
fn a_chat_list_after_the_join_replays_lines_seen_live_as_history() {
    let mut h = H::with_ping();
    h.join(); // i1 server time 1_700_000_005; the join's `chatList 15` is sent
    h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
    let at = |text: &str, t: i64| chat_from(text, Some(1_700_000_005 + t), BOB);
    h.server(&[at("!ping a", 10), at("hello", 10), at("!ping b", 12)]);
    assert_eq!(command_args(&h.take_events()).len(), 2);
    h.advance(12_000); // the server's clock, as the session estimates it, at +12 s

    // The bot asks for the last lines as the browser layer's `command('chatList', 5)` does,
    // and for the last 2 (typed) as well. Before the answers: a line of the newest second,
    // then one that starts a newer second.
    let by_name = Outgoing::Command(Command::Other {
        name: "chatList".into(),
        args: vec![Field::Num(5)],
    });
    h.s.send(h.now, &by_name).unwrap();
    h.s.send(h.now, &Outgoing::Command(Command::ChatList(2)))
        .unwrap();
    h.server(&[at("!ping c", 12), at("!ping d", 13)]);
    h.server(&[
        at("hello", 10),
        at("!ping b", 12),
        at("!ping c", 12),
        at("!ping d", 13),
        at("hi", 13),
    ]);
    h.server(&[at("!ping c", 12), at("!ping d", 13)]);
    let ev = h.take_events();
    let flag = |text: &str, history: bool| (text.to_owned(), history);
    assert_eq!(
        message_flags(&ev),
        [
            flag("!ping c", false),
            flag("!ping d", false),
            flag("hello", true),
            flag("!ping b", true),
            flag("!ping c", true),
            flag("!ping d", true),
            // Not seen live before: a new line, although it came with the answer.
            flag("hi", false),
            // The second answer replays the same lines.
            flag("!ping c", true),
            flag("!ping d", true),
        ]
    );
    assert_eq!(
        command_args(&ev),
        [vec!["c".to_owned()], vec!["d".to_owned()]],
        "a replay ran again"
    );

    // Lines that differ only in the middle are not taken for each other.
    let vote = |n: u8| at(&format!("!ping for option {n} in the poll"), 13);
    h.s.send(h.now, &by_name).unwrap();
    h.server(&[vote(3), vote(4)]);
    assert_eq!(command_args(&h.take_events()).len(), 2);

    // Once live lines are stamped more than 10 s after the request, no answer is waited for:
    // the same command twice in one second runs twice.
    h.server(&[at("!ping e", 23), at("!ping e", 23)]);
    let ev = h.take_events();
    assert_eq!(
        message_flags(&ev),
        [flag("!ping e", false), flag("!ping e", false)]
    );
    assert_eq!(
        command_args(&ev).len(),
        2,
        "a live repeat was taken for a replay"
    );
}

/// Live lines without a time, many lines in one second: a `chatList` replay of them is still
/// history, and runs no command again.
#[test]
fn a_chat_list_replays_timeless_and_crowded_seconds_as_history() {
    let mut h = H::with_ping();
    h.join(); // i1 server time 1_700_000_005, the local clock 1_700_000_000_000 ms
    h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
    h.advance(10_000);
    // The session estimates the server's clock at 1_700_000_015 s now; the server stamped the
    // line a second later than that.
    h.server(&[chat_from("!ping timeless", None, BOB)]);
    assert_eq!(command_args(&h.take_events()).len(), 1);
    h.s.send(h.now, &Outgoing::Command(Command::ChatList(1)))
        .unwrap();
    h.server(&[chat_from("!ping timeless", Some(1_700_000_016), BOB)]);
    let ev = h.take_events();
    assert_eq!(message_flags(&ev), [("!ping timeless".to_owned(), true)]);
    assert!(command_args(&ev).is_empty(), "a replay ran again");

    // More lines in one second than the session keeps in its ring (128), while an answer
    // may come: none of them is forgotten before the answer.
    let crowd: Vec<Incoming> = (0..150)
        .map(|i| chat_from(&format!("!ping {i}"), Some(1_700_000_016), BOB))
        .collect();
    h.server(&crowd);
    assert_eq!(command_args(&h.take_events()).len(), 150);
    h.s.send(h.now, &Outgoing::Command(Command::ChatList(150)))
        .unwrap();
    h.server(&crowd);
    let ev = h.take_events();
    assert!(
        message_flags(&ev).iter().all(|(_, history)| *history),
        "{:?}",
        message_flags(&ev)
    );
    assert!(command_args(&ev).is_empty(), "a replay ran again");

    // A replay of one line more than the ring holds: only that oldest line is taken for new
    // (a replay, oldest first, must not push out the lines it goes on to replay).
    h.advance(20_000); // past the wait: the ring keeps the latest 128 live lines
    let timeless: Vec<Incoming> = (0..200)
        .map(|i| chat_from(&format!("!ping t{i}"), None, BOB))
        .collect();
    h.server(&timeless);
    assert_eq!(command_args(&h.take_events()).len(), 200);
    h.s.send(h.now, &Outgoing::Command(Command::ChatList(129)))
        .unwrap();
    let answer: Vec<Incoming> = (71..200)
        .map(|i| chat_from(&format!("!ping t{i}"), Some(1_700_000_035), BOB))
        .collect();
    h.server(&answer);
    assert_eq!(command_args(&h.take_events()), [vec!["t71".to_owned()]]);
}

/// A line stamped far ahead of the server's clock does not make every later line a replay.
#[test]
fn a_line_stamped_far_ahead_does_not_silence_later_commands() {
    let mut h = H::with_ping();
    h.join(); // i1 server time 1_700_000_005
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        chat_from("!ping later", Some(1_700_003_605), BOB),
        chat_from("!ping now", Some(1_700_000_006), BOB),
    ]);
    let ev = h.take_events();
    assert_eq!(
        message_flags(&ev),
        [
            ("!ping later".to_owned(), false),
            ("!ping now".to_owned(), false)
        ]
    );
    assert_eq!(command_args(&ev).len(), 2);
}

#[test]
fn a_replay_of_a_timeless_live_command_does_not_run_again() {
    // Live lines may come without a time (PROTOCOL.md §3.2); their replay carries one.
    let mut h = H::with_ping();
    h.join(); // i1 server time 1_700_000_005, the local clock 1_700_000_000_000 ms
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        chat_from("!ping", None, BOB),
    ]);
    assert_eq!(command_args(&h.take_events()).len(), 1);
    h.drop_and_reopen();
    h.join_answer();
    h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
    h.take_events();
    h.server(&[chat_from("!ping", Some(1_700_000_005), BOB)]);
    assert!(
        command_args(&h.take_events()).is_empty(),
        "the replay ran again"
    );
}

#[test]
fn chat_styles_are_parsed_once_per_text_and_bad_ones_are_reported_every_time() {
    let mut h = H::guest();
    h.join();
    h.server(&[Incoming::User(rec(BOB, "bob", 1))]);
    h.take_events();
    let m = |style: &str, text: &str| {
        Incoming::Message(ChatMessage {
            from: UserKey(BOB.to_vec()),
            style: style.into(),
            text: text.into(),
            time: Some(1_700_000_010),
        })
    };
    // More distinct styles than the cache keeps, then the first ones again.
    let mut lines: Vec<Incoming> = (0..20)
        .map(|i| m(&format!("{} #{:06x}", i % 8, i), "x"))
        .collect();
    lines.push(m("4 #FF0000", "a"));
    lines.push(m("4 #FF0000", "b"));
    lines.push(m("0 #000000", "c"));
    lines.push(m("9 #zz", "bad1"));
    lines.push(m("9 #zz", "bad2"));
    h.server(&lines);
    let ev = h.take_events();
    let styles: Vec<(String, Style)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Message { style, content, .. } => Some((content.clone(), style.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(styles.len(), 25);
    for (i, (_, st)) in styles.iter().take(20).enumerate() {
        assert_eq!(*st, Style::parse(&format!("{} #{:06x}", i % 8, i)).unwrap());
    }
    let red = Style::parse("4 #ff0000").unwrap();
    assert_eq!(styles[20].1, red);
    assert_eq!(styles[21].1, red, "a cached style is the same style");
    assert_eq!(styles[22].1, Style::parse("0 #000000").unwrap());
    assert_eq!(styles[23].1, Style::plain(), "a bad style reads as plain");
    assert_eq!(styles[24].1, Style::plain());
    let errors = ev.iter().filter(|e| matches!(e, Event::Error(_))).count();
    assert_eq!(errors, 2, "a bad style is reported every time, not cached");
}

#[test]
fn events_share_the_table_record_until_a_k_line_replaces_it() {
    let mut h = H::guest();
    h.join();
    h.server(&[Incoming::User(rec(BOB, "bob", 1))]);
    h.take_events();
    let m = |text: &str| {
        Incoming::Message(ChatMessage {
            from: UserKey(BOB.to_vec()),
            style: String::new(),
            text: text.into(),
            time: Some(1_700_000_010),
        })
    };
    let mut muted = rec(BOB, "bob", 1);
    muted.mute = true;
    muted.mute_raw = 1;
    h.server(&[m("1"), m("2"), Incoming::User(muted), m("3")]);
    let users: Vec<Rc<UserRecord>> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { user, .. } => Some(user),
            _ => None,
        })
        .collect();
    assert_eq!(users.len(), 3);
    assert!(Rc::ptr_eq(&users[0], &users[1]), "no copy per message");
    assert!(
        !Rc::ptr_eq(&users[1], &users[2]),
        "a k line makes a new record"
    );
    assert!(!users[1].mute && users[2].mute);
}

/// The plain-chat shortcut of `on_frame` gives exactly the events of the general path (which
/// `raw` events force), for lines it takes and for lines it must leave alone.
#[test]
fn plain_chat_shortcut_matches_the_general_path() {
    let key = |k: [u8; 8]| k.to_vec();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let m = |fields: &[Field]| {
        let mut l = Line::new("m");
        l.fields.extend(fields.iter().cloned());
        encode(&l).unwrap()
    };
    use Field::{Bin, Num, Str, Undef};
    lines.push(m(&[
        Bin(key(BOB)),
        Str("4 #ff0000".into()),
        Str("안녕".into()),
    ]));
    lines.push(m(&[
        Bin(key(BOB)),
        Str("".into()),
        Str("hi".into()),
        Num(1_700_000_010),
    ]));
    lines.push(m(&[
        Bin(key(BOB)),
        Str("".into()),
        Str("old".into()),
        Num(1_600_000_000),
    ]));
    lines.push(m(&[
        Bin(key(ME)),
        Str("".into()),
        Str("mine".into()),
        Num(1_700_000_011),
    ]));
    lines.push(m(&[
        Bin(key(BOB)),
        Str("".into()),
        Str("!ping a b".into()),
        Num(1_700_000_012),
    ]));
    lines.push(m(&[
        Bin(key(BOB)),
        Str("".into()),
        Str("undef time".into()),
        Undef,
    ]));
    lines.push(m(&[
        Bin(key(BOB)),
        Str("".into()),
        Str("extra".into()),
        Num(1),
        Str("x".into()),
    ]));
    lines.push(m(&[
        Bin(vec![0x5c, 0x02, 0x0a, 1, 2, 3, 4, 5]),
        Str("".into()),
        Str("esc \\ \n".into()),
    ]));
    lines.push(m(&[
        Bin(vec![7; 8]),
        Str("".into()),
        Str("unknown sender".into()),
    ]));
    lines.push(m(&[
        Bin(key(BOB)),
        Str("9 #zz".into()),
        Str("bad style".into()),
    ]));
    lines.push(m(&[
        Str("not a key".into()),
        Str("".into()),
        Str("x".into()),
    ]));
    lines.push(m(&[Bin(key(BOB)), Str("".into())]));
    lines.push(b"m\x02\x02\x02\x02\x02\x02\x02\x02\x02\x03\x03\xff\xfe\n".to_vec()); // bad UTF-8
    lines.push(
        b"m\x02\x01\x01\x01\x01\x01\x01\x01\x01\x03\x03t\x05\x01\x02\x03\x04\x05\x06\x07\x08\x09\n"
            .to_vec(),
    ); // 9-byte number
    lines.push(b"mm\x02\x01\x03\x03x\n".to_vec());
    let run = |raw_events: bool| {
        let mut h = H::guest();
        h.s.set_raw_events(raw_events);
        h.join();
        h.server(&[Incoming::User(rec(BOB, "bob", 1))]);
        h.s.commands_mut()
            .register("ping", CommandOptions::default())
            .unwrap();
        h.take_events();
        // One frame with everything, then each line in its own frame.
        h.s.on_frame(h.now, &lines.concat());
        for l in &lines {
            h.s.on_frame(h.now, l);
        }
        h.drain();
        h.take_events()
            .into_iter()
            .filter(|e| !matches!(e, Event::Raw(_)))
            .collect::<Vec<_>>()
    };
    let general = run(true);
    let shortcut = run(false);
    assert!(general.len() > 2 * 10, "{}", general.len());
    assert!(general.iter().any(|e| matches!(e, Event::Command(_))));
    assert!(general.iter().any(|e| matches!(e, Event::Error(_))));
    assert_eq!(shortcut, general);
}

/// A message of many bad lines is reported with [`FRAME_ERRORS`] errors and one that counts the
/// rest (an event per line would let a server fill the module's memory); the good line among
/// them is delivered, and the next message starts a new count. In both modes.
#[test]
fn a_frame_of_bad_lines_reports_a_bounded_number_of_errors() {
    for tape_mode in [false, true] {
        let mut h = H::guest();
        if tape_mode {
            h.s.use_tape();
        }
        h.join();
        h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
        let mut bytes = b"c\n".repeat(1000);
        bytes.extend(frame(&[chat_from("still here", None, BOB)]));
        h.s.on_frame(h.now, &bytes);
        h.s.on_frame(h.now, b"c\n");
        h.drain();
        let events = if tape_mode {
            assert!(h.events.is_empty(), "tape mode queues nothing");
            h.s.take_batch().unwrap().others
        } else {
            h.take_events()
        };
        let errors: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Error(info) => Some((info.name.clone(), info.message.clone())),
                _ => None,
            })
            .collect();
        let limit = FRAME_ERRORS as usize;
        assert_eq!(errors.len(), limit + 2, "tape mode {tape_mode}: {errors:?}");
        assert_eq!(errors[limit].0, "too_many_errors");
        assert!(
            errors[limit]
                .1
                .starts_with(&format!("errors not reported: {} more", 1000 - limit)),
            "{}",
            errors[limit].1
        );
        assert_eq!(errors[limit + 1], errors[0], "the next message counts anew");
        if !tape_mode {
            assert_eq!(message_flags(&events), [("still here".to_owned(), false)]);
        }
    }
}

/// A reconnect forgets the tape's user slots (one RESET record): every user of the new
/// connection comes with a new key, and the old records never get a `user.quit`. Kept, they
/// piled up (in wasm and in hub.js) with every reconnect until the table was full (a soak
/// test: ~130 KB of wasm and 150 KB of JS heap per reconnect in a room of 300).
#[test]
fn a_reconnect_forgets_the_tape_s_users() {
    let mut h = H::guest();
    h.s.use_tape();
    h.join();
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        chat_from("hi", None, BOB),
    ]);
    let slots = |h: &H| h.s.tape.as_ref().map_or(0, Tape::user_slots);
    assert!(slots(&h) >= 1, "bob has a slot");
    h.s.take_batch();
    h.drop_and_reopen();
    assert_eq!(slots(&h), 0);
    let batch = h.s.take_batch().unwrap();
    assert_eq!(batch.nums.iter().filter(|&&n| n == tape::RESET).count(), 1);
    // A second attempt with nothing to forget adds no record.
    h.drop_and_reopen();
    assert!(h
        .s
        .take_batch()
        .unwrap()
        .nums
        .iter()
        .all(|&n| n != tape::RESET));
}

/// Tape mode (the browser's path) must give exactly the events of the queue mode: the same
/// lines through a queue-mode session, written to a tape afterwards, and through a tape-mode
/// session (plain chat lines take the direct path there) give identical tapes.
#[test]
fn tape_mode_gives_the_same_events_as_queue_mode() {
    use crate::codec::TYPE_BIN;
    let line = |key: &str, fields: Vec<Field>| {
        let mut l = Line::new(key);
        for f in fields {
            l.push(f);
        }
        encode(&l).unwrap()
    };
    let bob = || Field::Bin(BOB.to_vec());
    let frames: Vec<Vec<u8>> = vec![
        frame(&[Incoming::User(rec(BOB, "밥", 1))]),
        line(
            "m",
            vec![
                bob(),
                "".into(),
                "안녕 😀".into(),
                Field::Num(1_700_000_010),
            ],
        ),
        line("m", vec![bob(), "4 #ff0000".into(), "a\\b\x03c\nd".into()]),
        line(
            "m",
            vec![Field::Bin(vec![9, TYPE_BIN]), "".into(), "who?".into()],
        ),
        line(
            "m",
            vec![Field::Bin(ME.to_vec()), "".into(), "!ping self".into()],
        ),
        line(
            "m",
            vec![
                bob(),
                "".into(),
                "!ping old".into(),
                Field::Num(1_600_000_000),
            ],
        ),
        line("m", vec![bob(), "x y".into(), "bad style".into()]),
        // The same malformed style again, after a well-formed one: reported on both lines in
        // both modes (the fuzz target `session` found tape mode reporting it only once).
        line("m", vec![bob(), "1".into(), "good style".into()]),
        line("m", vec![bob(), "x y".into(), "bad style again".into()]),
        [
            line(
                "m",
                vec![
                    bob(),
                    "".into(),
                    "!PING now".into(),
                    Field::Num(1_700_000_011),
                ],
            ),
            line(
                "w",
                vec![bob(), Field::Bin(ME.to_vec()), "1".into(), "psst".into()],
            ),
            line("s", vec![Field::Num(12), "공지".into(), Field::Bool(true)]),
            line("j", vec![bob()]),
            line("c", vec![Field::Num(3)]),
        ]
        .concat(),
        [
            line("u", vec![bob()]),
            line("u", vec![]),
            line("o", vec!["밥".into()]),
        ]
        .concat(),
        line(
            "m",
            vec![bob(), "4 #ff0000".into(), "same style again".into()],
        ),
        // Whispered commands: only `!help` (taken by whispers) from bob to me runs.
        [
            line(
                "w",
                vec![bob(), Field::Bin(ME.to_vec()), "".into(), "!help me".into()],
            ),
            line(
                "w",
                vec![bob(), Field::Bin(ME.to_vec()), "".into(), "!ping".into()],
            ),
            line(
                "w",
                vec![Field::Bin(ME.to_vec()), bob(), "".into(), "!help".into()],
            ),
        ]
        .concat(),
    ];
    let run = |tape_mode: bool| {
        let mut h = H::guest();
        h.s.commands_mut()
            .register("ping", CommandOptions::default())
            .unwrap();
        let whispers = CommandOptions {
            whispers: true,
            ..CommandOptions::default()
        };
        h.s.commands_mut().register("help", whispers).unwrap();
        if tape_mode {
            h.s.use_tape();
        }
        h.join();
        for f in &frames {
            h.s.on_frame(h.now, f);
            h.drain();
        }
        if tape_mode {
            assert!(h.events.is_empty(), "tape mode queues nothing");
            h.s.take_batch().unwrap()
        } else {
            let mut t = Tape::default();
            t.extend(h.take_events());
            t.take_batch()
        }
    };
    let (queue, tape) = (run(false), run(true));
    assert_eq!(queue.others, tape.others);
    assert_eq!(queue.text, tape.text);
    assert_eq!(queue.nums, tape.nums);
    // The lines above reached the tape: 6 messages and 2 commands among the others.
    let text = String::from_utf16(&tape.text).unwrap();
    for s in [
        "안녕 😀",
        "a\\b\x03c\nd",
        "who?",
        "same style again",
        "psst",
        "공지",
    ] {
        assert!(text.contains(s), "{s:?} missing from the tape text");
    }
    let style_errors = tape
        .others
        .iter()
        .filter(|e| matches!(e, Event::Error(i) if i.message.contains("malformed chat style")))
        .count();
    assert_eq!(
        style_errors, 2,
        "an error for each line with the malformed style"
    );
    let commands: Vec<_> = tape
        .others
        .iter()
        .filter_map(|e| match e {
            Event::Command(t) => Some((t.name.as_str(), t.rest.as_str(), t.whisper)),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        [("ping", "now", false), ("help", "me", true)],
        "only `!PING now` (not self, not history) and the whispered `!help me` trigger"
    );
}

/// The fast path for `m`/`w` lines (one-pass split and unescape) must agree with the general
/// path (`Line` + `Incoming`) on anything: well-formed lines with special bytes in keys and
/// text, malformed styles, wrong field types, and raw byte junk after `m`/`w` + a type byte.
/// Raw events switch the fast path off, so a session with a `raw` listener is the reference.
/// A seeded xorshift64 generator: `rnd(n)` is in `0..n`. The random-input tests stay the
/// same from run to run.
fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}

#[test]
fn fast_path_matches_the_general_path_on_random_lines() {
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
    const SPECIAL: &[u8] = &[
        0, 1, 2, 3, 4, 5, 6, 7, b'\\', b'\n', 0x80, 0xea, 0xb0, b'a', b'!',
    ];
    let mut frames = Vec::new();
    for _ in 0..3000 {
        let mut frame = Vec::new();
        for _ in 0..1 + rnd(4) {
            // Special bytes one in `one_in`: dense, or sparse enough to leave plain runs of a
            // whole scan chunk (crate::scan) and more between them.
            let bytes_one_in = |len: u64, one_in: u64, rnd: &mut dyn FnMut(u64) -> u64| {
                (0..len)
                    .map(|_| match rnd(one_in) {
                        0 => SPECIAL[rnd(SPECIAL.len() as u64) as usize],
                        _ => b'a' + rnd(26) as u8,
                    })
                    .collect::<Vec<u8>>()
            };
            let bytes = |len, rnd: &mut dyn FnMut(u64) -> u64| bytes_one_in(len, 3, rnd);
            // Junk bytes escaped for the line layer only (as a server would), then the line end.
            let end_with_junk = |raw: &mut Vec<u8>, junk: Vec<u8>| {
                for b in junk {
                    if b == b'\n' {
                        raw.push(b'\\');
                    }
                    raw.push(b);
                }
                raw.push(b'\n');
            };
            if rnd(5) == 0 {
                let mut raw = vec![if rnd(2) == 0 { b'm' } else { b'w' }, 2];
                end_with_junk(&mut raw, bytes(rnd(24), &mut rnd));
                frame.extend(raw);
                continue;
            }
            let key = |rnd: &mut dyn FnMut(u64) -> u64| match rnd(4) {
                0 => Field::Bin(ME.to_vec()),
                1 => Field::Bin(BOB.to_vec()),
                _ => Field::Bin(bytes(8, rnd)),
            };
            if rnd(4) == 0 {
                // The presence lines of the fast path (`k`, `j`, `o`, `c`), mostly well formed,
                // sometimes with a field of another type, bad UTF-8 or a field too many or few.
                let text = |rnd: &mut dyn FnMut(u64) -> u64| match rnd(8) {
                    0 => Field::Undef,
                    1 => Field::Bin(bytes(3, rnd)),
                    2 => Field::Str(String::from_utf8_lossy(&bytes(6, rnd)).into_owned()),
                    _ => Field::Str(["밥", "bob", "", "a\\b"][rnd(4) as usize].into()),
                };
                let number = |rnd: &mut dyn FnMut(u64) -> u64| match rnd(10) {
                    0 => Field::Str("7".into()),
                    1 => Field::Float(1.0),
                    _ => Field::Num(rnd(1 << 40) as i64),
                };
                let l = match rnd(5) {
                    0 => {
                        let mut l = Line::new("k");
                        l.push(key(&mut rnd));
                        for i in 1..10 + rnd(3) {
                            l.push(match i {
                                4 | 7 | 8 => number(&mut rnd),
                                9 if rnd(8) > 0 => Field::Bin(bytes(8, &mut rnd)),
                                _ => text(&mut rnd),
                            });
                        }
                        l
                    }
                    1 => Line::new("j").with(key(&mut rnd)),
                    2 => Line::new("o").with(text(&mut rnd)),
                    3 => {
                        // `s`: a code, then up to nine arguments of every type (the tape-mode
                        // fast path takes seven).
                        let mut l = Line::new("s").with(number(&mut rnd));
                        for _ in 0..rnd(10) {
                            l.push(match rnd(7) {
                                0 => Field::Bin(bytes(rnd(5), &mut rnd)),
                                1 => Field::Bool(rnd(2) == 0),
                                2 => Field::Num(rnd(1 << 40) as i64 - (1 << 39)),
                                3 => Field::Undef,
                                4 => Field::Float([1.5, -0.25, 1e21, 0.1][rnd(4) as usize]),
                                _ => text(&mut rnd),
                            });
                        }
                        l
                    }
                    _ => Line::new("c").with(number(&mut rnd)),
                };
                let mut raw = encode(&l).unwrap();
                if rnd(8) == 0 {
                    // Raw junk bytes ahead of the line end.
                    raw.pop();
                    end_with_junk(&mut raw, bytes(rnd(12), &mut rnd));
                }
                frame.extend(raw);
                continue;
            }
            let whisper = rnd(4) == 0;
            let mut l = Line::new(if whisper { "w" } else { "m" });
            l.push(key(&mut rnd));
            if whisper {
                l.push(key(&mut rnd));
            }
            let styles = ["", "4", "7 #00ff00", " #ABC", "x", "9", "1 rgb(1, 2, 3)"];
            l.push(styles[rnd(styles.len() as u64) as usize]);
            let text = match rnd(2) {
                0 => bytes(rnd(30), &mut rnd),
                _ => bytes_one_in(rnd(80), 20, &mut rnd),
            };
            let text = String::from_utf8_lossy(&text).into_owned();
            l.push(match rnd(12) {
                0 => Field::Num(5),
                1 => Field::Bin(bytes(4, &mut rnd)),
                _ if rnd(3) == 0 => Field::Str(format!("!ping {text}")),
                _ => Field::Str(text),
            });
            match rnd(6) {
                0 => {}
                1 => l.push(Field::Num(1_600_000_000)),
                2 => l.push(Field::Str("later".into())),
                3 => {
                    l.push(Field::Num(1_700_000_000 + rnd(100) as i64));
                    l.push(Field::Undef);
                }
                _ => l.push(Field::Num(1_700_000_000 + rnd(100) as i64)),
            }
            frame.extend(encode(&l).unwrap());
        }
        frames.push(frame);
    }
    // A joined session with the `!ping` command and Bob's record, fed every frame (every
    // third in two chunks, so some lines span chunks): `general` turns raw events on (which
    // switches the fast paths off), `tape` makes it write a tape as the browser's does.
    let feed = |general: bool, tape: bool| {
        let mut h = H::guest();
        h.s.commands_mut()
            .register("ping", CommandOptions::default())
            .unwrap();
        if tape {
            h.s.use_tape();
        }
        h.join();
        h.server(&[Incoming::User(rec(BOB, "밥", 1))]);
        h.s.set_raw_events(general);
        for (i, f) in frames.iter().enumerate() {
            h.now += 700;
            let cut = if i % 3 == 0 {
                i * 7919 % (f.len() + 1)
            } else {
                f.len()
            };
            h.s.on_frame(h.now, &f[..cut]);
            h.s.on_frame(h.now, &f[cut..]);
            h.drain();
        }
        h
    };
    let run = |general: bool| {
        let mut h = feed(general, false);
        let mut ev = h.take_events();
        ev.retain(|e| !matches!(e, Event::Raw(_)));
        // The table as the `k` lines left it (`k` has no event of its own).
        let known = [ME, BOB].map(|k| h.s.users().get(&UserKey(k.to_vec())).cloned());
        (ev, known)
    };
    let ((general, general_known), (fast, fast_known)) = (run(true), run(false));
    // Tape mode (the browser's), where `s` lines have a fast path too: its tape against the
    // general path's events written to a tape.
    let tape_run = || {
        let mut h = feed(false, true);
        assert!(h.events.is_empty(), "tape mode queues nothing");
        h.s.take_batch().unwrap()
    };
    let general_tape = {
        let mut t = Tape::default();
        t.extend(general.iter().cloned());
        t.take_batch()
    };
    let fast_tape = tape_run();
    let systems = |nums: &[f64]| nums.iter().filter(|&&x| x == tape::SYSTEM).count();
    assert!(systems(&fast_tape.nums) > 50, "system records on the tape");
    assert_eq!(general_tape.others, fast_tape.others);
    assert_eq!(general_tape.text, fast_tape.text);
    assert_eq!(general_tape.nums, fast_tape.nums);
    assert_ne!(
        fast_known[1],
        Some(rec(BOB, "밥", 1)),
        "a random `k` line replaced Bob's"
    );
    assert_eq!(general_known, fast_known);
    let kinds = |k: fn(&Event) -> bool| fast.iter().filter(|e| k(e)).count();
    assert!(kinds(|e| matches!(e, Event::Message { .. })) > 1000);
    assert!(kinds(|e| matches!(e, Event::Whisper { .. })) > 300);
    assert!(kinds(|e| matches!(e, Event::Command(_))) > 50);
    assert!(kinds(|e| matches!(e, Event::Error(_))) > 100);
    assert!(kinds(|e| matches!(e, Event::UserJoin(_))) > 100);
    assert!(kinds(|e| matches!(e, Event::UserQuit(_))) > 100);
    assert!(kinds(|e| matches!(e, Event::UserCount(_))) > 100);
    // `k` lines have no event of their own: their records show in the later events' users.
    let named = |evs: &[Event]| {
        evs.iter()
            .filter(
                |e| matches!(e, Event::Message { user, .. } if user.nick == "밥" && user.auth != 1),
            )
            .count()
    };
    assert!(
        named(&fast) > 20,
        "records from random `k` lines reach the events"
    );
    assert_eq!(named(&general), named(&fast));
    assert_eq!(general.len(), fast.len());
    for (i, (g, f)) in general.iter().zip(&fast).enumerate() {
        assert_eq!(g, f, "event {i} differs");
    }
}

#[test]
fn a_frame_reads_the_clock_only_when_a_line_needs_the_time() {
    use std::cell::Cell;
    let msg = |text: &str, time: Option<i64>| {
        Incoming::Message(ChatMessage {
            from: UserKey(BOB.to_vec()),
            style: String::new(),
            text: text.into(),
            time,
        })
    };
    for tape in [false, true] {
        let mut h = H::guest();
        h.s.commands_mut()
            .register("ping", CommandOptions::default())
            .unwrap();
        h.join();
        h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
        if tape {
            h.s.use_tape();
        }
        let reads = Cell::new(0);
        let now = h.now + 7;
        let clock = || {
            reads.set(reads.get() + 1);
            now
        };
        let feed = |h: &mut H, msgs: &[Incoming]| {
            reads.set(0);
            h.s.on_frame_with_clock(&clock, &frame(msgs));
            h.drain();
            if let Some(b) = h.s.take_batch() {
                h.s.give_back(b);
            }
            reads.get()
        };
        // Timed chat lines, a join and a quit: no reading.
        let quiet = [
            msg("hi", Some(1_700_000_010)),
            msg("there", Some(1_700_000_011)),
            Incoming::UserJoin(UserKey(BOB.to_vec())),
            Incoming::UserCount(3),
        ];
        assert_eq!(feed(&mut h, &quiet), 0, "tape {tape}");
        // Lines without a time, and a command's cooldown: one reading for the whole frame.
        let timeless = [
            msg("a", None),
            msg("!ping", Some(1_700_000_012)),
            msg("b", None),
        ];
        assert_eq!(feed(&mut h, &timeless), 1, "tape {tape}");
        if !tape {
            let times: Vec<f64> = h
                .take_events()
                .into_iter()
                .filter_map(|e| match e {
                    Event::Message { time_ms, .. } => Some(time_ms),
                    _ => None,
                })
                .collect();
            let server_now = h.s.server_now_ms(now);
            assert_eq!(times[..2], [1_700_000_010_000.0, 1_700_000_011_000.0]);
            assert_eq!(times[2..], [server_now, 1_700_000_012_000.0, server_now]);
        }
    }
}

#[test]
fn split_plain_matches_a_byte_by_byte_split() {
    // Every line length around the scan chunk (crate::scan::CHUNK), with type bytes (2..=7)
    // and the other bytes below 8 (0, 1: plain field bytes) at random places, so that they
    // fall in a line's last, overlapping chunk too.
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
    let mut out = [(0u8, 0usize, 0usize); 80];
    for len in 2..70 {
        for _ in 0..300 {
            let mut raw = vec![b'm', 2 + rnd(6) as u8];
            raw.extend((2..len).map(|_| match rnd(6) {
                0 => rnd(8) as u8,
                _ => b'a' + rnd(26) as u8,
            }));
            let (mut want, mut ty, mut start) = (Vec::new(), raw[1], 2);
            for (k, &b) in raw.iter().enumerate().skip(2) {
                if (2..=7).contains(&b) {
                    want.push((ty, start, k));
                    (ty, start) = (b, k + 1);
                }
            }
            want.push((ty, start, raw.len()));
            let n = split_plain(&raw, &mut out);
            assert_eq!(n.map(|n| &out[..n]), Some(&want[..]), "{raw:?}");
            // One span too few: no split.
            assert_eq!(split_plain(&raw, &mut out[..want.len() - 1]), None);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Guarantees that a mutation review (session 19) found untested: each of these fails with one
// plausible bug in the session (a fatal code dropped, the bucket refilled per join, …).

#[test]
fn fatal_codes_end_a_rejoin() {
    for code in [202, 203, 205, 208, 210, 305, 405, 408, 415, 419, 701] {
        let mut h = H::guest();
        h.join();
        h.drop_and_reopen();
        h.take_events();
        h.server(&[Incoming::Error(ErrorCode::from_code(code))]);
        assert_eq!(h.s.state(), State::Closed, "{code}");
        h.advance(600_000);
        assert_eq!(h.opens, 2, "{code}: retried");
    }
}

#[test]
fn healable_rejoin_error_is_retried() {
    let mut h = H::guest();
    h.join();
    h.drop_and_reopen();
    h.take_events();
    h.server(&[Incoming::Error(ErrorCode::from_code(207))]);
    assert_eq!(h.s.state(), State::Reconnecting);
    h.advance_to_open();
    assert_eq!(h.opens, 3);
}

#[test]
fn reconnect_does_not_refill_the_bucket() {
    let mut h = H::guest();
    h.join();
    for i in 0..5 {
        h.s.send(h.now, &chat(&format!("a{i}"))).unwrap();
    }
    h.drain();
    assert_eq!(h.chat_lines().len(), 5);
    h.s.on_close(h.now, 1006, "");
    h.drain();
    h.advance(999);
    h.s.on_open(h.now);
    h.drain();
    for i in 0..5 {
        h.s.send(h.now, &chat(&format!("b{i}"))).unwrap();
    }
    h.join_answer();
    // Within about a second of the burst: at most one more line (one token per 600 ms).
    assert!(h.chat_lines().len() <= 6, "{:?}", h.chat_lines());
}

#[test]
fn keepalive_bypasses_the_bucket() {
    let mut cfg = config("lobby");
    cfg.rate_limit = Some(RateLimit {
        lines: 1,
        per_ms: 1_000_000,
    });
    let mut h = H::new(cfg);
    h.join();
    h.s.send(h.now, &chat("a")).unwrap();
    h.s.send(h.now, &chat("b")).unwrap();
    h.drain();
    h.sent.clear();
    h.advance(60_000);
    assert_eq!(h.keys(), ["p"]);
    assert_eq!(h.s.queued(), 1);
}

#[test]
fn nothing_sent_before_i2() {
    let mut h = H::guest();
    h.open();
    h.s.send(h.now, &chat("early")).unwrap();
    h.server(&[Incoming::User(rec(ME, "봇", 0))]);
    assert!(h.chat_lines().is_empty(), "sent before the join");
    h.server(&[Incoming::MyKey(UserKey(ME.to_vec()))]);
    assert_eq!(h.chat_lines(), ["early"]);
}

#[test]
fn backoff_starts_over_after_a_rejoin() {
    let mut cfg = config("lobby");
    cfg.reconnect = Some(ReconnectPolicy {
        max_retries: Some(1),
        ..ReconnectPolicy::default()
    });
    let mut h = H::new(cfg);
    h.join();
    for round in 0..3 {
        h.s.on_close(h.now, 1006, "");
        h.drain();
        assert_eq!(h.s.state(), State::Reconnecting, "round {round}");
        assert!(
            h.take_events()
                .iter()
                .any(|e| matches!(e, Event::Reconnecting { attempt: 1, .. })),
            "round {round}"
        );
        h.advance_to_open();
        h.s.on_open(h.now);
        h.drain();
        h.join_answer();
        assert_eq!(h.s.state(), State::Joined);
    }
}

/// The `Disconnect` and `Error` events of a timed-out attempt, checked, and the rest returned.
fn timed_out(events: Vec<Event>, will_reconnect: bool) -> Vec<Event> {
    let disconnect = events
        .iter()
        .find_map(|e| match e {
            Event::Disconnect {
                code,
                reason,
                will_reconnect: w,
            } => Some((*code, reason.clone(), *w)),
            _ => None,
        })
        .expect("a disconnect");
    assert_eq!(disconnect.0, 1006);
    assert!(
        disconnect.1.contains("20000 ms") && disconnect.1.contains("joinTimeoutMs"),
        "{}",
        disconnect.1
    );
    assert_eq!(disconnect.2, will_reconnect);
    events
}

#[test]
fn a_silent_server_times_the_join_out() {
    // No answer to the upgrade: still waiting a millisecond before the deadline, then the
    // connect() fails with `timeout`, the socket is closed, and no timer is left.
    let mut h = H::guest();
    h.s.connect(h.now);
    h.drain();
    h.advance(19_999);
    assert_eq!(h.s.state(), State::Connecting);
    assert!(h.take_events().iter().all(|e| matches!(e, Event::State(_))));
    h.advance(1);
    let ev = timed_out(h.take_events(), false);
    let failure = ev
        .iter()
        .find_map(|e| match e {
            Event::JoinFailed(info) => Some(info.clone()),
            _ => None,
        })
        .expect("connect() fails");
    assert_eq!(failure.kind(), "timeout");
    assert!(ev.contains(&Event::Error(failure)));
    assert_eq!(h.s.state(), State::Closed);
    assert_eq!(h.closes, 1);
    assert_eq!(h.s.next_timeout(h.now), None);
    // The web layer reports the close it made; nothing more happens.
    h.s.on_close(h.now, 1000, "join timed out");
    h.drain();
    assert!(h.take_events().is_empty());

    // The socket opened and `j` went out, but no answer came: the same, counted from the open.
    let mut h = H::guest();
    h.s.connect(h.now);
    h.advance(5_000);
    h.s.on_open(h.now);
    h.drain();
    assert_eq!(h.keys(), ["j"]);
    h.advance(15_000);
    assert_eq!(h.join_failure().kind(), "timeout");
    assert_eq!((h.s.state(), h.closes), (State::Closed, 1));

    // 0 waits for ever (keepalive pings go on).
    let mut cfg = config("lobby");
    cfg.join_timeout_ms = 0;
    let mut h = H::new(cfg);
    h.open();
    h.advance(600_000);
    assert_eq!(h.s.state(), State::Joining);
    assert!(h.keys().contains(&"p"));
    assert!(!h
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::JoinFailed(_))));
}

#[test]
fn a_reconnect_that_gets_no_answer_is_retried() {
    let mut h = H::guest();
    h.join();
    // Joined: no join deadline is left (the next timer is the keepalive's).
    assert_eq!(h.s.next_timeout(h.now), Some(h.now + 60_000));
    h.take_events();
    h.drop_and_reopen();
    assert_eq!(h.s.state(), State::Joining);
    h.take_events();
    h.advance(20_000);
    // The silent attempt ends as a failed one: the next attempt is scheduled, with backoff.
    let ev = timed_out(h.take_events(), true);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Reconnecting { attempt: 2, .. })));
    assert!(!ev.iter().any(|e| matches!(e, Event::Error(_))));
    assert_eq!((h.s.state(), h.closes), (State::Reconnecting, 1));
    h.advance_to_open();
    h.s.on_open(h.now);
    h.drain();
    h.join_answer();
    assert_eq!(h.s.state(), State::Joined);
    assert_eq!(h.opens, 3);
}

#[test]
fn close_after_the_session_ended_drops_the_queue() {
    let mut cfg = config("lobby");
    cfg.reconnect = Some(ReconnectPolicy {
        max_retries: Some(1),
        ..ReconnectPolicy::default()
    });
    let mut h = H::new(cfg);
    h.join();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    h.s.send(h.now, &chat("while away")).unwrap();
    h.advance_to_open();
    h.s.on_close(h.now, 1006, "");
    h.drain();
    assert_eq!(
        (h.s.state(), h.s.queued()),
        (State::Closed, 1),
        "retries used up"
    );
    h.s.close(h.now);
    assert_eq!(h.s.queued(), 0);
    h.join();
    assert_eq!(h.s.state(), State::Joined);
    assert!(h.chat_lines().is_empty(), "{:?}", h.chat_lines());
}

#[test]
fn failed_join_leaves_no_timer() {
    let mut h = H::guest();
    h.open();
    h.server(&[Incoming::Error(ErrorCode::from_code(202))]);
    assert_eq!(h.s.state(), State::Closed);
    assert_eq!(h.s.next_timeout(h.now), None);
}

#[test]
fn token_rejoin_has_a_fresh_time() {
    let mut h = H::token();
    h.join();
    let t0 = h.now / 1000;
    h.now += 5_000;
    h.drop_and_reopen();
    let joins: Vec<&Line> = h.sent.iter().filter(|l| l.key == "j").collect();
    assert_eq!(joins.len(), 2);
    assert_eq!(joins[0].fields[11], Field::from(t0.to_string()));
    assert_eq!(joins[1].fields[11], Field::from((h.now / 1000).to_string()));
    assert_ne!(joins[0].fields[8], joins[1].fields[8]);
}

#[test]
fn replay_check_compares_the_sender() {
    const CAROL: [u8; 8] = [3; 8];
    let mut h = H::with_ping();
    h.join();
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        Incoming::User(rec(CAROL, "carol", 0)),
        chat_from("!ping", Some(1_700_000_005), BOB),
    ]);
    h.drop_and_reopen();
    h.join_answer();
    h.server(&[Incoming::User(rec(CAROL, "carol", 0))]);
    h.take_events();
    h.server(&[chat_from("!ping", Some(1_700_000_005), CAROL)]);
    assert_eq!(
        command_args(&h.take_events()).len(),
        1,
        "carol's live line taken for bob's replay"
    );
}

#[test]
fn a_quick_reconnect_replays_lines_seen_live_as_history() {
    // Lines of the new join's own second that the bot had live on the old connection: a plain
    // line, one nobody's command, and the bot's own line come back in the chat log as history.
    let mut h = H::with_ping();
    h.join();
    h.server(&[Incoming::User(rec(BOB, "bob", 0))]);
    let t = Some(1_700_000_005);
    let lines = [
        chat_from("4", t, BOB),
        chat_from("!roll", t, BOB),
        chat_from("봇 here", t, ME),
    ];
    h.server(&lines);
    h.drop_and_reopen();
    h.join_answer();
    h.take_events();
    h.server(&lines);
    // A new line of that second from the same sender is still live.
    h.server(&[chat_from("5", t, BOB)]);
    assert_eq!(
        message_flags(&h.take_events()),
        [
            ("4".to_owned(), true),
            ("!roll".to_owned(), true),
            ("봇 here".to_owned(), true),
            ("5".to_owned(), false)
        ]
    );
}

#[test]
fn commands_from_senders_before_the_user_list_wait_for_it() {
    // Right after the join the bot knows only itself; a `!admin` (minAuth 3) from an admin the
    // list has not told it about yet runs once the list has come, with the admin's auth.
    let mut h = H::guest();
    let admin = CommandOptions {
        min_auth: 3,
        whispers: true,
        ..CommandOptions::default()
    };
    h.s.commands_mut().register("admin", admin).unwrap();
    h.join();
    h.take_events();
    h.server(&[
        chat_from("!admin now", Some(1_700_000_006), CAROL),
        whisper(CAROL, ME, "!admin whispered", Some(1_700_000_006)),
    ]);
    let ev = h.take_events();
    assert!(command_args(&ev).is_empty(), "not before the list: {ev:?}");
    assert_eq!(message_flags(&ev), [("!admin now".to_owned(), false)]);
    h.server(&user_list(&[(ME, "봇", 0), (CAROL, "carol", 3)]));
    let ev = h.take_events();
    let runs: Vec<(String, bool, i64)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Command(t) => Some((t.user.nick.clone(), t.whisper, t.user.auth)),
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("carol".to_owned(), false, 3),
            ("carol".to_owned(), true, 3)
        ]
    );
    assert!(
        matches!(ev[0], Event::UserList(_)),
        "after the list: {ev:?}"
    );
    // From then on, commands run as their lines come.
    h.server(&[chat_from("!admin again", Some(1_700_000_007), CAROL)]);
    assert_eq!(command_args(&h.take_events()), [["again"]]);
}

#[test]
fn a_whispered_command_waits_for_the_list_even_from_a_known_record() {
    // The list's `k` records come before its end: the sender has a record, but is present
    // (for `reply`'s whisper back) only once the list has ended.
    let mut h = H::with_whispered_help();
    h.join();
    let list = user_list(&[(ME, "봇", 0), (CAROL, "carol", 0)]);
    let (records, rest) = list.split_at(2);
    h.server(records);
    h.take_events();
    h.server(&[whisper(CAROL, ME, "!help me", Some(1_700_000_006))]);
    assert!(
        command_args(&h.take_events()).is_empty(),
        "waits for the list"
    );
    h.server(rest);
    let ev = h.take_events();
    assert_eq!(command_args(&ev), [["me"]]);
    assert!(
        h.s.users().by_nick("carol").is_some(),
        "present when it runs"
    );
}

#[test]
fn close_drops_queued_lines() {
    let mut h = H::guest();
    h.s.send(h.now, &chat("stale")).unwrap();
    h.s.close(h.now);
    assert_eq!(h.s.queued(), 0);
    h.join();
    assert!(h.chat_lines().is_empty());
}

#[test]
fn rejoin_clears_departed_users() {
    let mut cfg = config("lobby");
    cfg.join_commands = false;
    let mut h = H::new(cfg);
    h.join();
    h.server(&[
        Incoming::User(rec(BOB, "bob", 0)),
        Incoming::UserJoin(UserKey(BOB.to_vec())),
    ]);
    assert!(h.s.users().by_nick("bob").is_some());
    h.drop_and_reopen();
    h.join_answer();
    assert!(
        h.s.users().by_nick("bob").is_none(),
        "bob left while we were away"
    );
}

/// The token retry's old socket close has not been reported yet when the new attempt's
/// join deadline passes: the timeout must not be taken for that close.
#[test]
fn a_join_timeout_is_not_taken_for_a_late_close() {
    let mut h = H::token();
    h.open();
    h.server(&[Incoming::Error(ErrorCode::from_code(205))]);
    assert_eq!(h.opens, 2, "one immediate retry");
    // The host has not reported the replaced socket's close yet; the new socket is silent.
    h.take_events();
    h.advance(25_000);
    let ev = h.take_events();
    assert!(
        ev.iter().any(|e| matches!(e, Event::JoinFailed(_))),
        "connect() should fail with timeout; state {:?}, next timer {:?}, events {ev:?}",
        h.s.state(),
        h.s.next_timeout(h.now)
    );
}

/// A command deferred for the user list runs when the connection drops before the list (it
/// is not lost: the new join's chat log replays the line as history).
#[test]
fn a_deferred_command_runs_when_the_connection_drops_first() {
    let mut h = H::with_ping();
    h.join();
    h.take_events();
    h.server(&[chat_from("!ping", Some(1_700_000_006), CAROL)]);
    assert!(command_args(&h.take_events()).is_empty());
    h.now += 2_000;
    h.drop_and_reopen();
    h.join_answer();
    // The join's chat log replays the line; the list comes.
    let mut replay = vec![chat_from("!ping", Some(1_700_000_006), CAROL)];
    replay.extend(user_list(&[(ME, "봇", 0), (CAROL, "carol", 0)]));
    h.server(&replay);
    let ev = h.take_events();
    assert_eq!(command_args(&ev).len(), 1, "the !ping never ran: {ev:?}");
}

/// Ordinary lines from not-yet-known users are not deferred, so 64 of them do not fill the
/// list: a later `!admin` from an admin still waits for the list and runs with auth 3.
#[test]
fn plain_chatter_does_not_fill_the_deferral_list() {
    const DAVE: [u8; 8] = [8; 8];
    let mut h = H::guest();
    let admin = CommandOptions {
        min_auth: 3,
        ..CommandOptions::default()
    };
    h.s.commands_mut().register("admin", admin).unwrap();
    h.join();
    h.take_events();
    let chatter: Vec<Incoming> = (0..64)
        .map(|i| chat_from(&format!("hello {i}"), Some(1_700_000_006), DAVE))
        .collect();
    h.server(&chatter);
    h.server(&[chat_from("!admin now", Some(1_700_000_006), CAROL)]);
    h.server(&user_list(&[
        (ME, "봇", 0),
        (CAROL, "carol", 3),
        (DAVE, "dave", 0),
    ]));
    let ev = h.take_events();
    assert_eq!(
        command_args(&ev),
        [["now"]],
        "the admin's command was refused"
    );
}

/// The user list never comes (the server does not answer `userList`): deferred commands run
/// after `LIST_WAIT_MS`, and later ones at once.
#[test]
fn without_a_list_deferred_commands_run_after_a_wait() {
    let mut h = H::with_ping();
    h.join();
    h.take_events();
    h.server(&[chat_from("!ping", Some(1_700_000_006), CAROL)]);
    h.advance(4_999);
    assert!(command_args(&h.take_events()).is_empty(), "still waiting");
    h.advance(1);
    assert_eq!(command_args(&h.take_events()).len(), 1, "after 5 s");
    h.server(&[chat_from("!ping", Some(1_700_000_700), CAROL)]);
    assert_eq!(command_args(&h.take_events()).len(), 1, "then at once");
}

/// A deferred command is not in `fired`; after a quick reconnect its replay is history all
/// the same.
#[test]
fn a_deferred_command_s_replay_is_history() {
    let mut h = H::with_ping();
    h.join();
    h.take_events();
    let t = Some(1_700_000_005);
    h.server(&[chat_from("!ping", t, CAROL)]);
    h.server(&user_list(&[(CAROL, "carol", 0)]));
    assert_eq!(command_args(&h.take_events()).len(), 1);
    h.drop_and_reopen();
    h.join_answer();
    h.take_events();
    h.server(&[chat_from("!ping", t, CAROL)]);
    let ev = h.take_events();
    assert!(command_args(&ev).is_empty(), "ran twice: {ev:?}");
}

/// connect() while joining (a reconnect attempt): the deadline of that attempt applies.
#[test]
fn a_connect_while_joining_times_out_with_that_attempt() {
    let mut h = H::guest();
    h.join();
    h.drop_and_reopen();
    assert_eq!(h.s.state(), State::Joining);
    h.s.connect(h.now);
    h.take_events();
    h.advance(20_000);
    let ev = h.take_events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::JoinFailed(i) if i.kind() == "timeout")),
        "{ev:?}"
    );
    assert_eq!(h.s.state(), State::Closed);
    assert_eq!(h.s.next_timeout(h.now), None);
}

/// A huge `join_timeout_ms` saturates instead of overflowing.
#[test]
fn a_huge_join_timeout_saturates() {
    let mut cfg = config("lobby");
    cfg.join_timeout_ms = u64::MAX;
    let mut h = H::new(cfg);
    h.s.connect(h.now);
    h.drain();
    assert_eq!(h.s.next_timeout(h.now), Some(u64::MAX));
    h.s.on_timeout(h.now + 1);
    assert_eq!(h.s.state(), State::Connecting);
}
