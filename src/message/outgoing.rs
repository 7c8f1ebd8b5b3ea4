//! Client→server messages (PROTOCOL.md §3.1, join §4.2).

use super::{push_pairs, MessageError, MessageErrorKind, Reader, Style};
use crate::codec::{Field, Line};

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
    /// §4.2, `room`, `auth`, `session` and `charset` must be strings.
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
    /// the UI uses them for period and reason [unknown exact semantics].
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
fn count(r: &mut Reader) -> Result<u32, MessageError> {
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
