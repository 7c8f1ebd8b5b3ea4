//! Client→server messages (PROTOCOL.md §3.1, join §4.2).

use super::{push_pairs, MessageError, MessageErrorKind, Reader, Style};
use crate::codec::{push_escaped, push_escaped_chat_text, Field, Line, LF, TYPE_STR};

/// One client→server line (PROTOCOL.md §3.1).
///
/// [`Outgoing::to_line`] gives exactly the fields uchat.js sends. [`Outgoing::from_line`] (used by
/// the local server to read client lines) is strict: a known key with missing, mistyped or surplus
/// fields is a [`MessageError`]; an unknown key becomes [`Outgoing::Other`].
// Outgoing values live briefly (built, turned into a line, dropped), so the size of the join
// variant does not matter and boxing it would only make constructing joins clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    /// `j` — join (§4.2), always 16 fields.
    Join(JoinRequest),
    /// `m | style | text` — chat. NBSP (U+00A0) in the text is sent as a space, like uchat.js.
    Chat {
        /// Style bits and colour.
        style: Style,
        /// Message text.
        text: String,
    },
    /// Whisper, sent as `command | whisper | nick | '' | text`.
    Whisper {
        /// Recipient nick.
        nick: String,
        /// Whisper text.
        text: String,
    },
    /// `command | name | args…`.
    Command(Command),
    /// `plugin | channel | data…` — plugin broadcast.
    Plugin {
        /// Plugin channel.
        channel: String,
        /// Data fields.
        data: Vec<Field>,
    },
    /// `pluginTo | target | channel | data…` — plugin message to one user.
    PluginTo {
        /// Target user (nick).
        target: String,
        /// Plugin channel.
        channel: String,
        /// Data fields.
        data: Vec<Field>,
    },
    /// `p` — keepalive.
    Ping,
    /// `disconnect` — sent before closing.
    Disconnect,
    /// Any other key, sent as it is.
    Other(Line),
}

/// The 15 values of the `j` join line, in wire order (PROTOCOL.md §4.2, DECISIONS.md "Joining").
///
/// `None` is sent as undefined (type 6); `auth` is always a string (`""` when absent).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JoinRequest {
    /// #1 room id (the `room` attribute, not `user_data.room`).
    pub room: String,
    /// #2 nick.
    pub nick: Option<String>,
    /// #3 member id.
    pub id: Option<String>,
    /// #4 level.
    pub level: Option<String>,
    /// #5 auth: `admin` / `subadmin` / `member` / `guest` or `""`.
    pub auth: String,
    /// #6 icon URL.
    pub icons: Option<String>,
    /// #7 nick-image URL.
    pub nickcon: Option<String>,
    /// #8 other.
    pub other: Option<String>,
    /// #9 hash (32 lowercase hex).
    pub hash: Option<String>,
    /// #10 client session (32 characters).
    pub session: String,
    /// #11 charset, normally `utf-8`.
    pub charset: String,
    /// #12 time (unix seconds as decimal text, from user_data).
    pub time: Option<String>,
    /// #13 room access password.
    pub password: Option<String>,
    /// #14 client token (never set by uchat.js).
    pub client_token: Option<String>,
    /// #15 profile image URL.
    pub profileimg: Option<String>,
}

impl JoinRequest {
    /// A guest join: only room and session, `auth` `""`, charset `utf-8`, the rest undefined.
    pub fn new(room: impl Into<String>, session: impl Into<String>) -> JoinRequest {
        JoinRequest {
            room: room.into(),
            session: session.into(),
            charset: "utf-8".into(),
            ..JoinRequest::default()
        }
    }

    /// The 16-field `j` line.
    pub fn to_line(&self) -> Line {
        let opt = |v: &Option<String>| Field::from(v.as_deref());
        Line {
            key: "j".into(),
            fields: vec![
                Field::from(self.room.as_str()),
                opt(&self.nick),
                opt(&self.id),
                opt(&self.level),
                Field::from(self.auth.as_str()),
                opt(&self.icons),
                opt(&self.nickcon),
                opt(&self.other),
                opt(&self.hash),
                Field::from(self.session.as_str()),
                Field::from(self.charset.as_str()),
                opt(&self.time),
                opt(&self.password),
                opt(&self.client_token),
                opt(&self.profileimg),
            ],
        }
    }

    /// Read a `j` line: exactly 15 fields after the key; string-or-undefined fields as in
    /// §4.2, `room`, `auth`, `session` and `charset` must be strings. The key is not checked.
    pub fn from_line(line: Line) -> Result<JoinRequest, MessageError> {
        let mut r = Reader::new(line.key, line.fields);
        let join = JoinRequest {
            room: r.string("room")?,
            nick: r.string_or_undef("nick")?,
            id: r.string_or_undef("id")?,
            level: r.string_or_undef("level")?,
            auth: r.string("auth")?,
            icons: r.string_or_undef("icons")?,
            nickcon: r.string_or_undef("nickcon")?,
            other: r.string_or_undef("other")?,
            hash: r.string_or_undef("hash")?,
            session: r.string("session")?,
            charset: r.string("charset")?,
            time: r.string_or_undef("time")?,
            password: r.string_or_undef("password")?,
            client_token: r.string_or_undef("client_token")?,
            profileimg: r.string_or_undef("profileimg")?,
        };
        r.finish()?;
        Ok(join)
    }
}

/// A `command` line's name and arguments (PROTOCOL.md §3.1, "Commands sent by uchat.js").
/// Auth notes: ban/mute/unmute/ip/notice/clearLog need auth ≥ 2, op/deop ≥ 3 (else `ERR 402`).
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `info | nick` — user info (answered by system 36 `user_info`).
    Info {
        /// Target nick.
        nick: String,
    },
    /// `ban | nick | a1 | a2` — uchat.js passes the caller's values, `a2` defaults to number 0;
    /// the UI uses them for period and reason (exact semantics unknown).
    Ban {
        /// Target nick.
        nick: String,
        /// First argument as given.
        a1: Field,
        /// Second argument as given (uchat.js sends `0` when absent).
        a2: Field,
    },
    /// `report | nick | reason`.
    Report {
        /// Target nick.
        nick: String,
        /// Reason text.
        reason: String,
    },
    /// `mute | nick | minutes | reason`.
    Mute {
        /// Target nick.
        nick: String,
        /// Minutes; `-1` = permanent.
        minutes: i64,
        /// Reason (`""` in uchat.js).
        reason: String,
    },
    /// `unmute | nick`.
    Unmute {
        /// Target nick.
        nick: String,
    },
    /// `call | nick` — poke (호출).
    Call {
        /// Target nick.
        nick: String,
    },
    /// `ip | nick` (answered by system 9 `ip`).
    Ip {
        /// Target nick.
        nick: String,
    },
    /// `invite | nick` — invite to an individual room.
    Invite {
        /// Target nick.
        nick: String,
    },
    /// `individual | nick` — open an individual (private) room.
    Individual {
        /// Target nick.
        nick: String,
    },
    /// `noticeList` — request the notices.
    NoticeList,
    /// `io | on` — join/quit notices on or off (the skin sends `true`).
    Io(bool),
    /// `chatList | count` — recent chat log (default 15).
    ChatList(u32),
    /// `userList | count | search` — user list (defaults 10000, `""`), answered by `u` lines.
    UserList {
        /// Maximum number of users.
        count: u32,
        /// Search text.
        search: String,
    },
    /// `changeInfo | k1 | v1 | …` — change own info.
    ChangeInfo(Vec<(String, Field)>),
    /// `notice | text`.
    Notice(String),
    /// `clearLog`.
    ClearLog,
    /// `op | nick` — make subadmin.
    Op {
        /// Target nick.
        nick: String,
    },
    /// `deop | nick` — remove subadmin.
    Deop {
        /// Target nick.
        nick: String,
    },
    /// `login | password` — admin login with the room password (system 34 `admin_login`).
    Login {
        /// The room's admin password.
        password: String,
    },
    /// Any other command name, passed through as `command | name | args…`.
    Other {
        /// Command name.
        name: String,
        /// Its arguments.
        args: Vec<Field>,
    },
}

impl Command {
    /// The command name as sent in field 1 (`userList`, `chatList`, …).
    pub fn name(&self) -> &str {
        match self {
            Command::Info { .. } => "info",
            Command::Ban { .. } => "ban",
            Command::Report { .. } => "report",
            Command::Mute { .. } => "mute",
            Command::Unmute { .. } => "unmute",
            Command::Call { .. } => "call",
            Command::Ip { .. } => "ip",
            Command::Invite { .. } => "invite",
            Command::Individual { .. } => "individual",
            Command::NoticeList => "noticeList",
            Command::Io(_) => "io",
            Command::ChatList(_) => "chatList",
            Command::UserList { .. } => "userList",
            Command::ChangeInfo(_) => "changeInfo",
            Command::Notice(_) => "notice",
            Command::ClearLog => "clearLog",
            Command::Op { .. } => "op",
            Command::Deop { .. } => "deop",
            Command::Login { .. } => "login",
            Command::Other { name, .. } => name,
        }
    }

    /// The arguments after the name, typed as uchat.js sends them.
    pub fn args(&self) -> Vec<Field> {
        let s = |v: &str| Field::from(v);
        match self {
            Command::Info { nick }
            | Command::Unmute { nick }
            | Command::Call { nick }
            | Command::Ip { nick }
            | Command::Invite { nick }
            | Command::Individual { nick }
            | Command::Op { nick }
            | Command::Deop { nick } => vec![s(nick)],
            Command::Ban { nick, a1, a2 } => vec![s(nick), a1.clone(), a2.clone()],
            Command::Report { nick, reason } => vec![s(nick), s(reason)],
            Command::Mute {
                nick,
                minutes,
                reason,
            } => vec![s(nick), Field::Num(*minutes), s(reason)],
            Command::NoticeList | Command::ClearLog => vec![],
            Command::Io(on) => vec![Field::Bool(*on)],
            Command::ChatList(n) => vec![Field::from(*n)],
            Command::UserList { count, search } => vec![Field::from(*count), s(search)],
            Command::ChangeInfo(pairs) => {
                let mut line = Line::new("");
                push_pairs(&mut line, pairs);
                line.fields
            }
            Command::Notice(text) => vec![s(text)],
            Command::Login { password } => vec![s(password)],
            Command::Other { args, .. } => args.clone(),
        }
    }

    /// Read a command from its name and arguments (fields 2.. of the `command` line).
    /// Known names must have exactly the arguments uchat.js sends.
    pub fn from_parts(name: String, args: Vec<Field>) -> Result<Command, MessageError> {
        let mut r = Reader::starting_at(format!("command {name}"), args, 2);
        let cmd = match name.as_str() {
            "info" => Command::Info {
                nick: r.string("nick")?,
            },
            "ban" => Command::Ban {
                nick: r.string("nick")?,
                a1: r.any("ban argument 1")?,
                a2: r.any("ban argument 2")?,
            },
            "report" => Command::Report {
                nick: r.string("nick")?,
                reason: r.string("reason")?,
            },
            "mute" => Command::Mute {
                nick: r.string("nick")?,
                minutes: r.number_or_numeric_string("minutes")?,
                reason: r.string("reason")?,
            },
            "unmute" => Command::Unmute {
                nick: r.string("nick")?,
            },
            "call" => Command::Call {
                nick: r.string("nick")?,
            },
            "ip" => Command::Ip {
                nick: r.string("nick")?,
            },
            "invite" => Command::Invite {
                nick: r.string("nick")?,
            },
            "individual" => Command::Individual {
                nick: r.string("nick")?,
            },
            "noticeList" => Command::NoticeList,
            "io" => Command::Io(r.boolean("on")?),
            "chatList" => Command::ChatList(count(&mut r)?),
            "userList" => Command::UserList {
                count: count(&mut r)?,
                search: r.string("search")?,
            },
            "changeInfo" => Command::ChangeInfo(r.pairs()?),
            "notice" => Command::Notice(r.string("notice text")?),
            "clearLog" => Command::ClearLog,
            "op" => Command::Op {
                nick: r.string("nick")?,
            },
            "deop" => Command::Deop {
                nick: r.string("nick")?,
            },
            "login" => Command::Login {
                password: r.string("password")?,
            },
            _ => {
                return Ok(Command::Other {
                    args: r.rest(),
                    name,
                })
            }
        };
        r.finish()?;
        Ok(cmd)
    }
}

/// A non-negative count that fits in `u32` (`chatList`, `userList`).
fn count(r: &mut Reader<'_>) -> Result<u32, MessageError> {
    let at = r.position();
    let n = r.number("count")?;
    u32::try_from(n)
        .map_err(|_| r.invalid(at, "count", format!("must be 0 to {}, got {n}", u32::MAX)))
}

impl Outgoing {
    /// Chat with a style.
    pub fn chat(text: impl Into<String>, style: Style) -> Outgoing {
        Outgoing::Chat {
            style,
            text: text.into(),
        }
    }

    /// Appends the encoded `m` line of a chat message to `out`: the bytes
    /// `codec::encode(&Outgoing::Chat { style, text }.to_line())` gives, without building the
    /// [`Line`] (`send` takes this way; a test holds the two equal).
    pub fn encode_chat(style: &Style, text: &str, out: &mut Vec<u8>) {
        Outgoing::encode_chat_utf8(style, text.as_bytes(), out);
    }

    /// [`Outgoing::encode_chat`] of a text given as its UTF-8 bytes (the browser layer's
    /// `TextEncoder` output; nothing here depends on it being valid).
    pub(crate) fn encode_chat_utf8(style: &Style, text: &[u8], out: &mut Vec<u8>) {
        out.reserve(text.len() + 16);
        out.extend_from_slice(&[b'm', TYPE_STR]);
        let bits = style.bits();
        if bits != 0 {
            out.push(b'0' + bits);
        }
        if let Some(c) = &style.color {
            out.push(b' ');
            push_escaped(out, c.as_str().as_bytes());
        }
        out.push(TYPE_STR);
        push_escaped_chat_text(out, text);
        out.push(LF);
    }

    /// The line uchat.js would send for this message (PROTOCOL.md §3.1).
    pub fn to_line(&self) -> Line {
        match self {
            Outgoing::Join(j) => j.to_line(),
            Outgoing::Chat { style, text } => Line::new("m")
                .with(style.to_wire())
                .with(text.replace('\u{a0}', " ")),
            Outgoing::Whisper { nick, text } => Line::new("command")
                .with("whisper")
                .with(nick.as_str())
                .with("")
                .with(text.as_str()),
            Outgoing::Command(c) => {
                let mut line = Line::new("command").with(c.name());
                line.fields.extend(c.args());
                line
            }
            Outgoing::Plugin { channel, data } => {
                let mut line = Line::new("plugin").with(channel.as_str());
                line.fields.extend(data.iter().cloned());
                line
            }
            Outgoing::PluginTo {
                target,
                channel,
                data,
            } => {
                let mut line = Line::new("pluginTo")
                    .with(target.as_str())
                    .with(channel.as_str());
                line.fields.extend(data.iter().cloned());
                line
            }
            Outgoing::Ping => Line::new("p"),
            Outgoing::Disconnect => Line::new("disconnect"),
            Outgoing::Other(line) => line.clone(),
        }
    }

    /// Read a client line (the local server's side). See [`Outgoing`] for the strictness rules.
    /// A `command | whisper | nick | style | text` line is [`Outgoing::Whisper`] (the style slot,
    /// always `''` from uchat.js, is not kept).
    pub fn from_line(line: Line) -> Result<Outgoing, MessageError> {
        let Line { key, fields } = line;
        let reader = |fields| Reader::new(key.as_str(), fields);
        let msg = match key.as_str() {
            "j" => return JoinRequest::from_line(Line { key, fields }).map(Outgoing::Join),
            "m" => {
                let mut r = reader(fields);
                let at = r.position();
                let wire = r.string("style")?;
                let style = Style::parse(&wire)
                    .map_err(|e| r.invalid(at, "style", format!("is not a style: {e}")))?;
                let text = r.string("text")?;
                r.finish()?;
                Outgoing::Chat { style, text }
            }
            "p" => {
                reader(fields).finish()?;
                Outgoing::Ping
            }
            "disconnect" => {
                reader(fields).finish()?;
                Outgoing::Disconnect
            }
            "command" => {
                let mut r = reader(fields);
                let name = r.string("command name")?;
                let args = r.rest();
                if name == "whisper" {
                    let mut r = Reader::starting_at("command whisper", args, 2);
                    let nick = r.string("nick")?;
                    r.string("style")?;
                    let text = r.string("text")?;
                    r.finish()?;
                    Outgoing::Whisper { nick, text }
                } else {
                    Outgoing::Command(Command::from_parts(name, args)?)
                }
            }
            "plugin" => {
                let mut r = reader(fields);
                Outgoing::Plugin {
                    channel: r.string("channel")?,
                    data: r.rest(),
                }
            }
            "pluginTo" => {
                let mut r = reader(fields);
                Outgoing::PluginTo {
                    target: r.string("target")?,
                    channel: r.string("channel")?,
                    data: r.rest(),
                }
            }
            "" => {
                return Err(MessageError::new(key.as_str(), MessageErrorKind::EmptyKey));
            }
            _ => Outgoing::Other(Line { key, fields }),
        };
        Ok(msg)
    }
}

impl From<Command> for Outgoing {
    fn from(c: Command) -> Self {
        Outgoing::Command(c)
    }
}

impl From<JoinRequest> for Outgoing {
    fn from(j: JoinRequest) -> Self {
        Outgoing::Join(j)
    }
}

impl TryFrom<Line> for Outgoing {
    type Error = MessageError;
    fn try_from(line: Line) -> Result<Self, MessageError> {
        Outgoing::from_line(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use crate::codec::{encode, hex_decode, hex_encode, Decoder};
    use crate::message::Color;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn decode(hex: &str) -> Line {
        let mut out = Decoder::new().feed(&hex_decode(hex).unwrap());
        assert_eq!(out.len(), 1);
        out.remove(0).unwrap()
    }

    /// The message encodes to exactly `hex`, and the decoded frame parses back to it.
    fn check(msg: Outgoing, hex: &str) {
        assert_eq!(hex_encode(&encode(&msg.to_line()).unwrap()), hex, "{msg:?}");
        assert_eq!(Outgoing::from_line(decode(hex)), Ok(msg));
    }

    /// to_line → bytes → line → from_line gives the same message.
    fn wire_round_trip(msg: Outgoing) {
        let bytes = encode(&msg.to_line()).unwrap();
        let line = Decoder::new().feed(&bytes).remove(0).unwrap();
        assert_eq!(Outgoing::from_line(line), Ok(msg));
    }

    #[test]
    fn vector_client_lines() {
        // vectors.json `client_lines` (PROTOCOL.md §5.3 W1–W12).
        check(Outgoing::Ping, "700a");
        check(Outgoing::Disconnect, "646973636f6e6e6563740a");
        check(
            Command::UserList {
                count: 10000,
                search: String::new(),
            }
            .into(),
            "636f6d6d616e6403757365724c697374051027030a",
        );
        check(Command::Io(true).into(), "636f6d6d616e6403696f04310a");
        check(
            Command::ChatList(15).into(),
            "636f6d6d616e6403636861744c697374050f0a",
        );
        check(
            Command::NoticeList.into(),
            "636f6d6d616e64036e6f746963654c6973740a",
        );
        check(
            Outgoing::chat("hello", Style::plain()),
            "6d030368656c6c6f0a",
        );
        let bold_red = Style {
            bold: true,
            color: Some(Color::parse("#FF0000").unwrap()),
            ..Style::default()
        };
        check(
            Outgoing::chat("안녕", bold_red),
            "6d0334202366663030303003ec9588eb85950a",
        );
        check(
            Outgoing::chat("x", Style::plain().with_color("rgb(0,255,0)").unwrap()),
            "6d03202330306666303003780a",
        );
        check(
            Outgoing::chat("a\\b\u{3}c\nd", Style::plain()),
            "6d0303615c5c625c03635c0a640a",
        );
        check(Outgoing::chat("a\\", Style::plain()), "6d0303615c5c0a");
        check(
            Outgoing::Whisper {
                nick: "탁월한지도자".into(),
                text: "hi".into(),
            },
            "636f6d6d616e64037768697370657203ed8381ec9b94ed959ceca780eb8f84ec9e90030368690a",
        );
    }

    #[test]
    fn join_frames_of_the_token_vectors() {
        // vectors.json tokens T1 and T2 `join.frame_hex` (PROTOCOL.md §5.2 W-J2, W-J3).
        let t1 = JoinRequest {
            nick: Some("tester".into()),
            id: Some("tester01".into()),
            level: Some("5".into()),
            auth: "member".into(),
            hash: Some("e7d6829a83f989f8bb1cbdd090952f69".into()),
            time: Some("1600000000".into()),
            ..JoinRequest::new("myroom", "0123456789abcdefghiklmnopqrstuvw")
        };
        check(t1.clone().into(), "6a036d79726f6f6d037465737465720374657374657230310335036d656d62657206060603653764363832396138336639383966386262316362646430393039353266363903303132333435363738396162636465666768696b6c6d6e6f7071727374757677037574662d3803313630303030303030300606060a");
        assert_eq!(t1.to_line().fields.len(), 15, "16 fields with the key");
        let t2 = JoinRequest {
            hash: Some("f6022d64bc2819d99a71357edf5a318d".into()),
            time: Some("1604136208".into()),
            ..JoinRequest::new("lobby", "0123456789abcdefghiklmnopqrstuvw")
        };
        check(t2.into(), "6a036c6f6262790606060306060603663630323264363462633238313964393961373133353765646635613331386403303132333435363738396162636465666768696b6c6d6e6f7071727374757677037574662d3803313630343133363230380606060a");
        // A full request: every optional field set survives the wire.
        wire_round_trip(Outgoing::Join(JoinRequest {
            nick: Some(String::new()),
            id: Some("i".into()),
            level: Some("l".into()),
            icons: Some("ic".into()),
            nickcon: Some("nc".into()),
            other: Some("popup".into()),
            password: Some("pw".into()),
            client_token: Some("ct".into()),
            profileimg: Some("p.png".into()),
            ..JoinRequest::new("#bWFpbg==", "S")
        }));
    }

    #[test]
    fn every_command_round_trips() {
        let nick = || "탁월한지도자".to_string();
        let commands = vec![
            Command::Info { nick: nick() },
            Command::Ban {
                nick: nick(),
                a1: Field::Num(60),
                a2: Field::from("spam"),
            },
            Command::Ban {
                nick: nick(),
                a1: Field::Undef,
                a2: Field::Num(0),
            },
            Command::Report {
                nick: nick(),
                reason: "욕설".into(),
            },
            Command::Mute {
                nick: nick(),
                minutes: 10,
                reason: String::new(),
            },
            Command::Mute {
                nick: nick(),
                minutes: -1,
                reason: "forever".into(),
            },
            Command::Unmute { nick: nick() },
            Command::Call { nick: nick() },
            Command::Ip { nick: nick() },
            Command::Invite { nick: nick() },
            Command::Individual { nick: nick() },
            Command::NoticeList,
            Command::Io(false),
            Command::Io(true),
            Command::ChatList(0),
            Command::ChatList(u32::MAX),
            Command::UserList {
                count: 5,
                search: "탁".into(),
            },
            Command::ChangeInfo(vec![
                ("nick".into(), Field::from("new")),
                ("icons".into(), Field::Undef),
            ]),
            Command::ChangeInfo(vec![]),
            Command::Notice("공지 <b>!</b>".into()),
            Command::ClearLog,
            Command::Op { nick: nick() },
            Command::Deop { nick: nick() },
            Command::Login {
                password: "pw".into(),
            },
            Command::Other {
                name: "adminPage".into(),
                args: vec![Field::Num(1), Field::from("x"), Field::Bool(true)],
            },
            Command::Other {
                name: "info2".into(),
                args: vec![],
            },
        ];
        let mut names = std::collections::HashSet::new();
        for c in commands {
            let line = Outgoing::Command(c.clone()).to_line();
            assert_eq!(line.key, "command");
            assert_eq!(line.fields[0], Field::from(c.name()));
            names.insert(c.name().to_owned());
            wire_round_trip(Outgoing::Command(c));
        }
        assert_eq!(
            names.len(),
            21,
            "every §3.1 command except whisper, plus others"
        );
    }

    #[test]
    fn mute_line_and_permanent_minutes() {
        let line = Outgoing::Command(Command::Mute {
            nick: "n".into(),
            minutes: -1,
            reason: String::new(),
        })
        .to_line();
        assert_eq!(
            hex_encode(&encode(&line).unwrap()),
            "636f6d6d616e64036d757465036e072d31030a"
        );
        // A period typed as text (uchat.js passes UI input through) is read as a number.
        let typed = Line::new("command")
            .with("mute")
            .with("n")
            .with("30")
            .with("");
        assert_eq!(
            Outgoing::from_line(typed),
            Ok(Outgoing::Command(Command::Mute {
                nick: "n".into(),
                minutes: 30,
                reason: String::new()
            }))
        );
    }

    #[test]
    fn plugins_ping_disconnect_other() {
        wire_round_trip(Outgoing::Plugin {
            channel: "game".into(),
            data: vec![Field::from("move"), Field::Num(3), Field::Bool(false)],
        });
        wire_round_trip(Outgoing::Plugin {
            channel: "c".into(),
            data: vec![],
        });
        wire_round_trip(Outgoing::PluginTo {
            target: "bob".into(),
            channel: "game".into(),
            data: vec![Field::Bin(vec![0, 5, 10])],
        });
        assert_eq!(
            Outgoing::PluginTo {
                target: "t".into(),
                channel: "c".into(),
                data: vec![Field::Num(1)],
            }
            .to_line(),
            Line::new("pluginTo").with("t").with("c").with(1i64)
        );
        let raw = Line::new("joinData").with("x");
        assert_eq!(
            Outgoing::from_line(raw.clone()),
            Ok(Outgoing::Other(raw.clone()))
        );
        assert_eq!(Outgoing::Other(raw.clone()).to_line(), raw);
    }

    #[test]
    fn whisper_is_not_a_command() {
        let line = Line::new("command")
            .with("whisper")
            .with("bob")
            .with("")
            .with("hi");
        assert_eq!(
            Outgoing::from_line(line.clone()),
            Ok(Outgoing::Whisper {
                nick: "bob".into(),
                text: "hi".into()
            })
        );
        assert_eq!(Outgoing::from_line(line.clone()).unwrap().to_line(), line);
    }

    #[test]
    fn nbsp_is_sent_as_space() {
        let line = Outgoing::chat("a\u{a0}b", Style::plain()).to_line();
        assert_eq!(line.fields[1], Field::from("a b"));
        // The path `send` takes (no `Line`) too.
        let mut bytes = Vec::new();
        Outgoing::encode_chat(&Style::plain(), "a\u{a0}b", &mut bytes);
        assert_eq!(bytes, crate::codec::encode(&line).unwrap());
    }

    fn err(line: Line) -> String {
        Outgoing::from_line(line).unwrap_err().to_string()
    }

    #[test]
    fn malformed_client_lines_are_clear_errors() {
        let cmd = |name: &str| Line::new("command").with(name);
        assert_eq!(
            err(cmd("chatList").with("15")),
            "`command chatList` line: field 2 (count) must be a whole number, got string \"15\""
        );
        assert_eq!(
            err(cmd("chatList").with(-1i64)),
            "`command chatList` line: field 2 (count) must be 0 to 4294967295, got -1"
        );
        assert_eq!(
            err(cmd("userList").with(10000i64)),
            "`command userList` line: field 3 (search) is missing; expected a string"
        );
        assert_eq!(
            err(cmd("io").with(1i64)),
            "`command io` line: field 2 (on) must be a boolean, got number 1"
        );
        assert_eq!(
            err(cmd("noticeList").with("x")),
            "`command noticeList` line: unexpected field 2: this message has at most 1 field after the key"
        );
        assert_eq!(
            err(cmd("mute").with("n").with("soon").with("")),
            "`command mute` line: field 3 (minutes) must be a whole number (or a decimal string), got string \"soon\""
        );
        assert_eq!(
            err(cmd("whisper").with("bob").with("")),
            "`command whisper` line: field 4 (text) is missing; expected a string"
        );
        assert_eq!(
            err(Line::new("command")),
            "`command` line: field 1 (command name) is missing; expected a string"
        );
        assert_eq!(
            err(Line::new("m").with("9").with("x")),
            "`m` line: field 1 (style) is not a style: style bits \"9\" are not a number from 0 to 7 (bold 4 + italic 2 + underline 1)"
        );
        assert_eq!(
            err(Line::new("m").with("")),
            "`m` line: field 2 (text) is missing; expected a string"
        );
        assert_eq!(
            err(Line::new("p").with(1i64)),
            "`p` line: unexpected field 1: this message has at most 0 fields after the key"
        );
        assert_eq!(
            err(Line::new("pluginTo").with("bob")),
            "`pluginTo` line: field 2 (channel) is missing; expected a string"
        );
        assert_eq!(
            err(Line::new("").with(1i64)),
            "line with an empty key: client lines start with a key such as `m` or `command`"
        );
        let mut j = JoinRequest::new("r", "s").to_line();
        j.fields.pop();
        assert_eq!(
            err(j.clone()),
            "`j` line: field 15 (profileimg) is missing; expected a string or undefined"
        );
        j.fields.push(Field::Undef);
        j.fields.push(Field::Undef);
        assert_eq!(
            err(j.clone()),
            "`j` line: unexpected field 16: this message has at most 15 fields after the key"
        );
        j.fields.pop();
        j.fields[4] = Field::Undef;
        assert_eq!(
            err(j),
            "`j` line: field 5 (auth) must be a string, got undefined"
        );
    }
}
