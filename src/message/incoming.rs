//! Server→client messages (PROTOCOL.md §3.2).

use super::{
    push_pairs, ErrorCode, MessageError, Reader, RoomInfo, RoomMode, Style, StyleError, SystemCode,
    SystemMessage, UserKey, UserRecord,
};
use crate::codec::{Field, Line};

/// One server→client line, typed by its key (PROTOCOL.md §3.2).
///
/// [`Incoming::from_line`] never fails on an unknown key (it becomes [`Incoming::Other`]); it
/// fails with a [`MessageError`] only when a known key's fields are missing or mistyped. Fields
/// beyond the documented ones are ignored, so a server that appends fields does not break a bot.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// `i1` — room information, first line after a join.
    RoomInfo(RoomInfo),
    /// `k` — defines or refreshes a user record.
    User(UserRecord),
    /// `i2` — "this key is me": the join is complete.
    MyKey(UserKey),
    /// `u` — one user-list entry; `None` (an empty `u`) ends the list.
    UserListEntry(Option<UserKey>),
    /// `c` — number of users in the room.
    UserCount(i64),
    /// `j` — a user (defined by an earlier `k`) joined.
    UserJoin(UserKey),
    /// `o` — a user left, named by nick (not key).
    UserQuit {
        /// Nick of the user who left.
        nick: String,
    },
    /// `d` — a user's record changed.
    UserModi(UserModi),
    /// `m` — a chat message.
    Message(ChatMessage),
    /// `w` — a whisper.
    Whisper(WhisperMessage),
    /// `s` — a system message (code table §3.3).
    System(SystemMessage),
    /// `ERR` — an error (code table §3.4).
    Error(ErrorCode),
    /// `p` — a plugin message (not a pong). A `p` line without fields is kept as [`Incoming::Other`].
    Plugin(PluginMessage),
    /// `b` — room information update, `name, value` pairs merged into the room info.
    Update(Vec<(String, Field)>),
    /// `a` — control message (`getPayment`, `closeIndividual`, …).
    Control(Control),
    /// Any other key (`i`, `l`, `e`, `layout`, `joinData`, `debug`, …), kept as it came.
    Other(Line),
}

/// `d` user change (PROTOCOL.md §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct UserModi {
    /// The user that changed.
    pub target: UserKey,
    /// The key of the user's new record (already defined by a `k`).
    pub after: UserKey,
    /// Changed values, `name, value`.
    pub changes: Vec<(String, Field)>,
}

/// `m` chat message (PROTOCOL.md §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Sender's key.
    pub from: UserKey,
    /// Style field exactly as received; parse it with [`ChatMessage::style`].
    pub style: String,
    /// Message text.
    pub text: String,
    /// Server time, unix seconds (optional trailing field; chat-log replays carry it).
    pub time: Option<i64>,
}

impl ChatMessage {
    /// The parsed style.
    pub fn style(&self) -> Result<Style, StyleError> {
        Style::parse(&self.style)
    }
}

/// `w` whisper (PROTOCOL.md §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhisperMessage {
    /// Sender's key.
    pub from: UserKey,
    /// Recipient's key.
    pub to: UserKey,
    /// Style field exactly as received.
    pub style: String,
    /// Whisper text.
    pub text: String,
    /// Server time, unix seconds (optional trailing field).
    pub time: Option<i64>,
}

impl WhisperMessage {
    /// The parsed style.
    pub fn style(&self) -> Result<Style, StyleError> {
        Style::parse(&self.style)
    }
}

/// `p` plugin message (PROTOCOL.md §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct PluginMessage {
    /// Sender's key.
    pub sender: UserKey,
    /// Type: presumably `0` (to all) or `1` (only me), inferred; kept as received.
    pub kind: Field,
    /// Plugin channel name.
    pub channel: String,
    /// Plugin data fields.
    pub data: Vec<Field>,
}

/// `a` control message (PROTOCOL.md §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    /// Control type, e.g. `getPayment`, `closeIndividual`.
    pub kind: String,
    /// Its arguments.
    pub args: Vec<Field>,
}

impl Incoming {
    /// Type a server line (PROTOCOL.md §3.2). Unknown keys become [`Incoming::Other`].
    pub fn from_line(line: Line) -> Result<Incoming, MessageError> {
        let Line { key, fields } = line;
        let reader = |fields| Reader::new(key.as_str(), fields);
        Ok(match key.as_str() {
            "i1" => {
                let mut r = reader(fields);
                Incoming::RoomInfo(RoomInfo {
                    name: r.string("name")?,
                    mode: RoomMode::from_code(r.number("mode")?),
                    created: r.number("created")?,
                    flag_bytes: r.binary("function flags")?,
                    server_time: r.number("server time")?,
                })
            }
            "k" => {
                let mut r = reader(fields);
                let key = r.user_key("user key")?;
                let nick = r.string("nick")?;
                let id = r.text("id")?;
                let level = r.string_or_undef("level")?;
                let auth = r.number("auth")?;
                let icons = r.text("icons")?;
                let nickcon = r.text("nickcon")?;
                let connected = r.number("time")?;
                let mute_raw = r.number("mute")?;
                let session = r.binary("session")?;
                let profileimg = r.opt_string("profileimg")?;
                Incoming::User(UserRecord {
                    key,
                    nick,
                    id,
                    level,
                    auth,
                    icons,
                    nickcon,
                    connected,
                    mute: mute_raw & 1 != 0,
                    mute_raw,
                    session,
                    profileimg,
                })
            }
            "i2" => Incoming::MyKey(reader(fields).user_key("my user key")?),
            "u" => {
                let mut r = reader(fields);
                if r.remaining() == 0 {
                    Incoming::UserListEntry(None)
                } else {
                    Incoming::UserListEntry(Some(r.user_key("user key")?))
                }
            }
            "c" => Incoming::UserCount(reader(fields).number("user count")?),
            "j" => Incoming::UserJoin(reader(fields).user_key("user key")?),
            "o" => Incoming::UserQuit {
                nick: reader(fields).string("nick")?,
            },
            "d" => {
                let mut r = reader(fields);
                Incoming::UserModi(UserModi {
                    target: r.user_key("target user key")?,
                    after: r.user_key("new user key")?,
                    changes: r.pairs()?,
                })
            }
            "m" => {
                let mut r = reader(fields);
                Incoming::Message(ChatMessage {
                    from: r.user_key("sender key")?,
                    style: r.string("style")?,
                    text: r.string("text")?,
                    time: r.opt_number("time")?,
                })
            }
            "w" => {
                let mut r = reader(fields);
                Incoming::Whisper(WhisperMessage {
                    from: r.user_key("sender key")?,
                    to: r.user_key("recipient key")?,
                    style: r.string("style")?,
                    text: r.string("text")?,
                    time: r.opt_number("time")?,
                })
            }
            "s" => {
                let mut r = reader(fields);
                Incoming::System(SystemMessage {
                    code: SystemCode::from_code(r.number("system code")?),
                    args: r.rest(),
                })
            }
            "ERR" => Incoming::Error(ErrorCode::from_code(reader(fields).number("error code")?)),
            "p" if !fields.is_empty() => {
                let mut r = reader(fields);
                Incoming::Plugin(PluginMessage {
                    sender: r.user_key("sender key")?,
                    kind: r.any("plugin type")?,
                    channel: r.string("channel")?,
                    data: r.rest(),
                })
            }
            "b" => Incoming::Update(reader(fields).pairs()?),
            "a" => {
                let mut r = reader(fields);
                Incoming::Control(Control {
                    kind: r.string("control type")?,
                    args: r.rest(),
                })
            }
            _ => Incoming::Other(Line { key, fields }),
        })
    }

    /// The line a server sends for this message (used by the local server `uchat sim`).
    pub fn to_line(&self) -> Line {
        match self {
            Incoming::RoomInfo(i) => Line::new("i1")
                .with(i.name.as_str())
                .with(i.mode.code())
                .with(i.created)
                .with(i.flag_bytes.as_slice())
                .with(i.server_time),
            Incoming::User(u) => {
                let line = Line::new("k")
                    .with(&u.key)
                    .with(u.nick.as_str())
                    .with(u.id.as_str())
                    .with(u.level.as_deref())
                    .with(u.auth)
                    .with(u.icons.as_str())
                    .with(u.nickcon.as_str())
                    .with(u.connected)
                    .with((u.mute_raw & !1) | i64::from(u.mute))
                    .with(u.session.as_slice());
                match &u.profileimg {
                    Some(p) => line.with(p.as_str()),
                    None => line,
                }
            }
            Incoming::MyKey(k) => Line::new("i2").with(k),
            Incoming::UserListEntry(None) => Line::new("u"),
            Incoming::UserListEntry(Some(k)) => Line::new("u").with(k),
            Incoming::UserCount(n) => Line::new("c").with(*n),
            Incoming::UserJoin(k) => Line::new("j").with(k),
            Incoming::UserQuit { nick } => Line::new("o").with(nick.as_str()),
            Incoming::UserModi(d) => {
                let mut line = Line::new("d").with(&d.target).with(&d.after);
                push_pairs(&mut line, &d.changes);
                line
            }
            Incoming::Message(m) => {
                let line = Line::new("m")
                    .with(&m.from)
                    .with(m.style.as_str())
                    .with(m.text.as_str());
                match m.time {
                    Some(t) => line.with(t),
                    None => line,
                }
            }
            Incoming::Whisper(w) => {
                let line = Line::new("w")
                    .with(&w.from)
                    .with(&w.to)
                    .with(w.style.as_str())
                    .with(w.text.as_str());
                match w.time {
                    Some(t) => line.with(t),
                    None => line,
                }
            }
            Incoming::System(s) => {
                let mut line = Line::new("s").with(s.code.code());
                line.fields.extend(s.args.iter().cloned());
                line
            }
            Incoming::Error(e) => Line::new("ERR").with(e.code()),
            Incoming::Plugin(p) => {
                let mut line = Line::new("p")
                    .with(&p.sender)
                    .with(p.kind.clone())
                    .with(p.channel.as_str());
                line.fields.extend(p.data.iter().cloned());
                line
            }
            Incoming::Update(pairs) => {
                let mut line = Line::new("b");
                push_pairs(&mut line, pairs);
                line
            }
            Incoming::Control(c) => {
                let mut line = Line::new("a").with(c.kind.as_str());
                line.fields.extend(c.args.iter().cloned());
                line
            }
            Incoming::Other(line) => line.clone(),
        }
    }

    /// The key of the line this message is sent as (`i1`, `k`, `ERR`, …).
    pub fn key(&self) -> &str {
        match self {
            Incoming::RoomInfo(_) => "i1",
            Incoming::User(_) => "k",
            Incoming::MyKey(_) => "i2",
            Incoming::UserListEntry(_) => "u",
            Incoming::UserCount(_) => "c",
            Incoming::UserJoin(_) => "j",
            Incoming::UserQuit { .. } => "o",
            Incoming::UserModi(_) => "d",
            Incoming::Message(_) => "m",
            Incoming::Whisper(_) => "w",
            Incoming::System(_) => "s",
            Incoming::Error(_) => "ERR",
            Incoming::Plugin(_) => "p",
            Incoming::Update(_) => "b",
            Incoming::Control(_) => "a",
            Incoming::Other(line) => &line.key,
        }
    }
}

impl TryFrom<Line> for Incoming {
    type Error = MessageError;
    fn try_from(line: Line) -> Result<Self, MessageError> {
        Incoming::from_line(line)
    }
}

impl From<&Incoming> for Line {
    fn from(msg: &Incoming) -> Line {
        msg.to_line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use crate::codec::{encode, hex_decode, Decoder};
    use crate::message::RoomFlags;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Vectors R1, R2, R3, R7 of PROTOCOL.md §5.4 (vectors.json `server_frames`).
    const R1: &str = "6b02baf4cf1b67b7431103ed8381ec9b94ed959ceca780eb8f84ec9e90030605030305abbfa05f050224875c068365d825090a";
    const R2: &str = "6b025c0a5c5c5c025c03ff00014103ebb48703626f74303103350501030305abbfa05f05010224875c068365d825090368747470733a2f2f782e6578616d706c652f702e706e670a";
    const R3_I1: &str = "6931034d7920526f6f6d050500105e5f026a0105abbfa05f0a";
    const R3_I2: &str = "693202baf4cf1b67b743110a";
    const R7: &str =
        "6d02baf4cf1b67b743110334202366663030303003ec9588eb8595ed9598ec84b8ec9a9405abbfa05f0a";
    const KEY: &str = "baf4cf1b67b74311";

    fn lines(hex: &str) -> Vec<Line> {
        Decoder::new()
            .feed(&hex_decode(hex).unwrap())
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    fn line(hex: &str) -> Line {
        let mut all = lines(hex);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    fn key() -> UserKey {
        UserKey::from_hex(KEY).unwrap()
    }

    /// Parse a frame's line, check the typed value, and check that `to_line` reproduces the
    /// line and the frame bytes.
    fn parse_and_back(hex: &str) -> Incoming {
        let l = line(hex);
        let msg = Incoming::from_line(l.clone()).unwrap();
        assert_eq!(msg.to_line(), l);
        assert_eq!(msg.key(), l.key);
        assert_eq!(encode(&msg.to_line()).unwrap(), hex_decode(hex).unwrap());
        msg
    }

    /// to_line → bytes → line → from_line gives the same message.
    fn wire_round_trip(msg: &Incoming) {
        let bytes = encode(&msg.to_line()).unwrap();
        let back = Decoder::new().feed(&bytes).remove(0).unwrap();
        assert_eq!(&Incoming::from_line(back).unwrap(), msg);
    }

    #[test]
    fn r1_user_record() {
        let Incoming::User(u) = parse_and_back(R1) else {
            panic!("not a user record")
        };
        assert_eq!(u.key, key());
        assert_eq!(u.key.to_string(), KEY);
        assert_eq!(u.nick, "탁월한지도자");
        assert_eq!(u.id, "");
        assert_eq!(u.level, None);
        assert_eq!(u.auth, 0);
        assert_eq!((u.icons.as_str(), u.nickcon.as_str()), ("", ""));
        assert_eq!(u.connected, 1_604_370_347);
        assert!(!u.mute);
        assert_eq!(u.mute_raw, 0);
        assert_eq!(u.session_hex(), "2487068365d82509");
        assert_eq!(u.profileimg, None);
    }

    #[test]
    fn r2_user_record_with_escapes_and_profileimg() {
        let Incoming::User(u) = parse_and_back(R2) else {
            panic!("not a user record")
        };
        assert_eq!(
            u.key.as_bytes(),
            [0x0a, 0x5c, 0x02, 0x03, 0xff, 0x00, 0x01, 0x41]
        );
        assert_eq!(u.nick, "봇");
        assert_eq!(u.id, "bot01");
        assert_eq!(u.level.as_deref(), Some("5"));
        assert_eq!(u.auth, 1);
        assert!(u.mute);
        assert_eq!(u.mute_raw, 1);
        assert_eq!(u.profileimg.as_deref(), Some("https://x.example/p.png"));
    }

    #[test]
    fn mute_bit_follows_the_bool_and_keeps_other_bits() {
        let Incoming::User(mut u) = Incoming::from_line(line(R2)).unwrap() else {
            panic!()
        };
        u.mute_raw = 6;
        u.mute = true;
        assert_eq!(Incoming::User(u.clone()).to_line().fields[8], Field::Num(7));
        u.mute = false;
        u.mute_raw = 7;
        let back = Incoming::from_line(Incoming::User(u).to_line()).unwrap();
        let Incoming::User(u) = back else { panic!() };
        assert_eq!((u.mute, u.mute_raw), (false, 6));
    }

    #[test]
    fn r3_room_info_flags_and_my_key() {
        let all = lines(&format!("{R3_I1}{R1}{R3_I2}"));
        assert_eq!(all.len(), 3);
        let Incoming::RoomInfo(info) = parse_and_back(R3_I1) else {
            panic!("not i1")
        };
        assert_eq!(info.name, "My Room");
        assert_eq!(info.mode, RoomMode::Basic);
        assert_eq!(info.created, 1_600_000_000);
        assert_eq!(info.server_time, 1_604_370_347);
        assert_eq!(info.flag_bytes, [0x6a, 0x01]);
        let f = info.flags();
        assert_eq!(
            f,
            RoomFlags {
                io: true,
                message: true,
                whisper: true,
                individual: true,
                call_admin: true,
                ..RoomFlags::default()
            }
        );
        assert_eq!(f.to_bytes(), [0x6a, 0x01]);
        let on: Vec<&str> = RoomFlags::NAMES
            .iter()
            .zip(f.to_array())
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(on, ["io", "message", "whisper", "individual", "call_admin"]);
        assert_eq!(parse_and_back(R3_I2), Incoming::MyKey(key()));
        for l in all {
            let msg = Incoming::from_line(l.clone()).unwrap();
            assert_eq!(msg.to_line(), l);
        }
    }

    #[test]
    fn room_flags_each_bit_and_modes() {
        for i in 0..10 {
            let mut bytes = [0u8; 2];
            bytes[i / 8] = 1 << (i % 8);
            let f = RoomFlags::from_bytes(&bytes);
            let arr = f.to_array();
            assert_eq!(arr.iter().filter(|b| **b).count(), 1, "bit {i}");
            assert!(arr[i], "bit {i} ({})", RoomFlags::NAMES[i]);
            assert_eq!(f.to_bytes(), bytes);
        }
        assert_eq!(RoomFlags::from_bytes(&[]), RoomFlags::default());
        assert!(RoomFlags::from_bytes(&[0, 2]).user_linkage);
        for code in 0..=5 {
            assert_eq!(RoomMode::from_code(code).code(), code);
        }
        assert_eq!(RoomMode::from_code(4), RoomMode::Channel);
        assert_eq!(RoomMode::from_code(9), RoomMode::Unknown(9));
        assert_eq!(RoomMode::Individual.name(), "individual");
    }

    #[test]
    fn r7_message_and_its_style() {
        let Incoming::Message(m) = parse_and_back(R7) else {
            panic!("not m")
        };
        assert_eq!(m.from, key());
        assert_eq!(m.text, "안녕하세요");
        assert_eq!(m.time, Some(1_604_370_347));
        assert_eq!(m.style, "4 #ff0000");
        let style = m.style().unwrap();
        assert!(style.bold && !style.italic && !style.underline);
        assert_eq!(style.color.unwrap().as_str(), "#ff0000");
        // The time is optional.
        let mut short = line(R7);
        short.fields.pop();
        let Incoming::Message(m) = Incoming::from_line(short.clone()).unwrap() else {
            panic!()
        };
        assert_eq!(m.time, None);
        assert_eq!(Incoming::Message(m).to_line(), short);
    }

    #[test]
    fn user_list_count_quit() {
        assert_eq!(
            parse_and_back("7502baf4cf1b67b743110a"),
            Incoming::UserListEntry(Some(key()))
        );
        assert_eq!(parse_and_back("750a"), Incoming::UserListEntry(None));
        assert_eq!(parse_and_back("63052a0a"), Incoming::UserCount(42));
        assert_eq!(
            parse_and_back("6f03ed8381ec9b94ed959ceca780eb8f84ec9e900a"),
            Incoming::UserQuit {
                nick: "탁월한지도자".into()
            }
        );
    }

    #[test]
    fn every_other_key_parses_and_converts_back() {
        let k = key();
        let samples: Vec<(Line, Incoming)> = vec![
            (Line::new("j").with(&k), Incoming::UserJoin(k.clone())),
            (
                Line::new("d")
                    .with(&k)
                    .with(vec![1u8, 2])
                    .with("nick")
                    .with("새이름")
                    .with("auth")
                    .with(2i64),
                Incoming::UserModi(UserModi {
                    target: k.clone(),
                    after: UserKey(vec![1, 2]),
                    changes: vec![
                        ("nick".into(), Field::from("새이름")),
                        ("auth".into(), Field::Num(2)),
                    ],
                }),
            ),
            (
                Line::new("w")
                    .with(&k)
                    .with(vec![9u8])
                    .with("")
                    .with("psst")
                    .with(5i64),
                Incoming::Whisper(WhisperMessage {
                    from: k.clone(),
                    to: UserKey(vec![9]),
                    style: "".into(),
                    text: "psst".into(),
                    time: Some(5),
                }),
            ),
            (
                Line::new("s").with(12i64).with("<b>공지</b>"),
                Incoming::System(SystemMessage {
                    code: SystemCode::Notice,
                    args: vec![Field::from("<b>공지</b>")],
                }),
            ),
            (
                Line::new("ERR").with(202i64),
                Incoming::Error(ErrorCode::TokenChanged),
            ),
            (
                Line::new("ERR").with(777i64),
                Incoming::Error(ErrorCode::Unknown(777)),
            ),
            (
                Line::new("p")
                    .with(&k)
                    .with(0i64)
                    .with("game")
                    .with("move")
                    .with(3i64),
                Incoming::Plugin(PluginMessage {
                    sender: k.clone(),
                    kind: Field::Num(0),
                    channel: "game".into(),
                    data: vec![Field::from("move"), Field::Num(3)],
                }),
            ),
            (
                Line::new("b")
                    .with("frozen")
                    .with(1i64)
                    .with("name")
                    .with("새 방"),
                Incoming::Update(vec![
                    ("frozen".into(), Field::Num(1)),
                    ("name".into(), Field::from("새 방")),
                ]),
            ),
            (Line::new("b"), Incoming::Update(vec![])),
            (
                Line::new("a").with("getPayment").with("tok"),
                Incoming::Control(Control {
                    kind: "getPayment".into(),
                    args: vec![Field::from("tok")],
                }),
            ),
            (
                Line::new("s").with(99i64),
                Incoming::System(SystemMessage {
                    code: SystemCode::Unknown(99),
                    args: vec![],
                }),
            ),
        ];
        for (l, want) in samples {
            let got = Incoming::from_line(l.clone()).unwrap();
            assert_eq!(got, want, "{l}");
            assert_eq!(got.to_line(), l);
            assert_eq!(got.key(), l.key);
            wire_round_trip(&got);
        }
    }

    #[test]
    fn unknown_keys_and_bare_p_stay_raw() {
        for l in [
            Line::new("layout").with("<div>"),
            Line::new("i").with("room").with("x"),
            Line::new("debug"),
            Line::new("p"),
            Line::new("M").with(1i64),
        ] {
            assert_eq!(
                Incoming::from_line(l.clone()),
                Ok(Incoming::Other(l.clone()))
            );
            assert_eq!(Incoming::Other(l.clone()).to_line(), l);
        }
    }

    #[test]
    fn extra_trailing_fields_are_ignored() {
        let l = Line::new("c").with(3i64).with("future");
        assert_eq!(Incoming::from_line(l), Ok(Incoming::UserCount(3)));
    }

    #[test]
    fn negative_numbers_survive_the_wire() {
        // A negative number goes out as type-7 text and comes back as a float.
        let msg = Incoming::System(SystemMessage {
            code: SystemCode::Muted,
            args: vec![Field::Num(-1)],
        });
        let bytes = encode(&msg.to_line()).unwrap();
        let back = Decoder::new().feed(&bytes).remove(0).unwrap();
        assert_eq!(back.fields[1], Field::Float(-1.0));
        let Incoming::System(s) = Incoming::from_line(back).unwrap() else {
            panic!()
        };
        assert_eq!(s.muted_minutes_left(), Some(-1));
        wire_round_trip(
            &Incoming::UserCount(-5)
                .to_line()
                .canonical()
                .try_into()
                .unwrap(),
        );
    }

    fn err(l: Line) -> String {
        Incoming::from_line(l).unwrap_err().to_string()
    }

    #[test]
    fn mistyped_and_missing_fields_are_clear_errors() {
        let mut k = line(R1);
        k.fields[7] = Field::from("x");
        assert_eq!(
            err(k),
            "`k` line: field 8 (time) must be a whole number, got string \"x\""
        );
        let mut k = line(R1);
        k.fields.truncate(9);
        assert_eq!(
            err(k),
            "`k` line: field 10 (session) is missing; expected binary bytes"
        );
        let mut k = line(R1);
        k.fields[0] = Field::from("baf4");
        assert_eq!(
            err(k),
            "`k` line: field 1 (user key) must be a user key (binary), got string \"baf4\""
        );
        let mut k = line(R1);
        k.fields[3] = Field::Num(5);
        assert_eq!(
            err(k),
            "`k` line: field 4 (level) must be a string or undefined, got number 5"
        );
        assert_eq!(
            err(Line::new("m")),
            "`m` line: field 1 (sender key) is missing; expected a user key (binary)"
        );
        assert_eq!(
            err(Line::new("m").with(key()).with("").with("hi").with(1.5)),
            "`m` line: field 4 (time) must be a whole number, got float 1.5"
        );
        assert_eq!(
            err(Line::new("ERR").with("202")),
            "`ERR` line: field 1 (error code) must be a whole number, got string \"202\""
        );
        assert_eq!(
            err(Line::new("i1")
                .with("room")
                .with(0i64)
                .with(1i64)
                .with("6a01")
                .with(2i64)),
            "`i1` line: field 4 (function flags) must be binary bytes, got string \"6a01\""
        );
        assert_eq!(
            err(Line::new("b").with("name")),
            "`b` line: field 2 (changed value) is missing; expected a value"
        );
        assert_eq!(
            err(Line::new("d").with(key()).with(key()).with(1i64).with(2i64)),
            "`d` line: field 3 (name of a changed value) must be a string, got number 1"
        );
        assert_eq!(
            err(Line::new("s")),
            "`s` line: field 1 (system code) is missing; expected a whole number"
        );
        assert_eq!(
            err(Line::new("p").with(Field::Undef)),
            "`p` line: field 1 (sender key) must be a user key (binary), got undefined"
        );
        assert_eq!(
            err(Line::new("o").with(vec![0u8; 40])),
            "`o` line: field 1 (nick) must be a string, got binary 00000000000000000000000000000000… (40 bytes)"
        );
        let long = "가".repeat(50);
        assert!(err(Line::new("o").with(true)).ends_with("got boolean true"));
        assert!(
            err(Line::new("c").with(long.as_str())).ends_with(&format!("\"{}\"…", "가".repeat(40)))
        );
    }
}
