//! Rooms, members and the server side of the protocol (PROTOCOL.md §3–4), free of socket code:
//! a connection (or a simulated crowd user) is a [`Client`] fed decoded lines; everything it
//! must send goes to its [`Outbox`] as encoded bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Bytes;
use uchat_bot::codec::{encode_into, hex_encode, DecodeError, DecodeErrorKind, Field, Line};

use super::config::{Limits, RoomSpec, Settings};
use super::verify::{hash_matches, HashInput};

/// Error codes the sim sends (`ERR` field 1, PROTOCOL.md §3.4).
pub mod err {
    /// Malformed or unexpected line.
    pub const PROTOCOL: i64 = 101;
    /// `j` without a room id.
    pub const NO_ROOM_ID: i64 = 102;
    /// Line longer than the line limit.
    pub const LINE_TOO_LONG: i64 = 105;
    /// Unknown room.
    pub const NO_SUCH_ROOM: i64 = 201;
    /// Hash does not match (token changed / data altered).
    pub const BAD_HASH: i64 = 202;
    /// Token room joined without a hash.
    pub const NO_HASH: i64 = 203;
    /// `time` too far from the server clock.
    pub const TIME: i64 = 205;
    /// Room full.
    pub const FULL: i64 = 207;
    /// Wrong access password.
    pub const WRONG_PASSWORD: i64 = 208;
    /// Nick already in the room.
    pub const NICK_TAKEN: i64 = 301;
    /// A second `j` on a joined connection.
    pub const ALREADY_JOINED: i64 = 302;
    /// A field longer than the field limit.
    pub const FIELD_TOO_LONG: i64 = 401;
    /// Command needs a higher auth level.
    pub const NO_PERMISSION: i64 = 402;
    /// Unknown command.
    pub const UNKNOWN_COMMAND: i64 = 403;
    /// Target user not in the room.
    pub const NO_TARGET: i64 = 404;
    /// Command aimed at yourself.
    pub const SELF_TARGET: i64 = 407;
    /// Banned from this room.
    pub const BANNED: i64 = 408;
    /// Bad command argument.
    pub const BAD_VALUE: i64 = 412;
    /// Sender is muted.
    pub const MUTED: i64 = 413;
    /// Target is not muted.
    pub const NOT_MUTED: i64 = 423;
    /// Too many chat lines.
    pub const FLOOD: i64 = 425;
    /// Target already muted.
    pub const ALREADY_MUTED: i64 = 426;
    /// Target has the same or a higher auth level.
    pub const HIGHER_AUTH: i64 = 427;
    /// Same text repeated too often.
    pub const REPEAT: i64 = 430;
    /// Access password required.
    pub const PASSWORD_REQUIRED: i64 = 701;
}

/// System codes the sim sends (`s` field 1, PROTOCOL.md §3.3).
pub mod sys {
    /// ban: by, target, reason.
    pub const BAN: i64 = 1;
    /// mute: by, target, minutes.
    pub const MUTE: i64 = 4;
    /// un_mute: by, target.
    pub const UN_MUTE: i64 = 5;
    /// notice: text.
    pub const NOTICE: i64 = 12;
    /// system_mute (flooding): target, minutes.
    pub const SYSTEM_MUTE: i64 = 13;
    /// clear_log: by.
    pub const CLEAR_LOG: i64 = 32;
    /// user_info: nick, id, level, auth, connect time, session.
    pub const USER_INFO: i64 = 36;
    /// permanent_mute: by, target.
    pub const PERMANENT_MUTE: i64 = 37;
}

/// Lines of chat history kept per room for `chatList`.
pub const HISTORY: usize = 100;
/// Outgoing queue per connection (encoded chunks); a client that falls this far behind is
/// dropped instead of growing the server's memory.
pub const OUTBOX_CAPACITY: usize = 4096;

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Encodes lines into one chunk. Server lines always have a non-empty ASCII key, so encoding
/// cannot fail; a failure would only drop that line.
fn enc(lines: &[Line]) -> Bytes {
    let mut out = Vec::with_capacity(64 * lines.len());
    for l in lines {
        let _ = encode_into(l, &mut out);
    }
    Bytes::from(out)
}

fn err_line(code: i64) -> Line {
    Line::new("ERR").with(Field::Num(code))
}

fn sys_line(code: i64, args: Vec<Field>) -> Line {
    let mut l = Line::new("s").with(Field::Num(code));
    l.fields.extend(args);
    l
}

/// Connection id, unique for the life of the process.
pub type ConnId = u64;

/// Where a member's outgoing bytes go, plus a way to make its connection close.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Bytes>,
    /// Notified when the connection must close (banned, or too slow to read).
    pub kick: Arc<Notify>,
}

impl Outbox {
    /// A new outbox and the receiving end the writer drains.
    pub fn new() -> (Outbox, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        (
            Outbox {
                tx,
                kick: Arc::new(Notify::new()),
            },
            rx,
        )
    }

    /// Queues bytes; a full queue (the peer does not read) kicks the connection.
    pub fn send(&self, bytes: Bytes) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(bytes) {
            self.kick.notify_one();
        }
    }

    fn send_lines(&self, lines: &[Line]) {
        self.send(enc(lines));
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mute {
    No,
    Until(Instant),
    Forever,
}

struct Member {
    conn: ConnId,
    key: [u8; 8],
    session: [u8; 8],
    nick: String,
    uid: String,
    level: Option<String>,
    auth: i64,
    icons: String,
    nickcon: String,
    profileimg: Option<String>,
    joined_at: u64,
    mute: Mute,
    io: bool,
    /// Simulated crowd user: exempt from flood control.
    bot: bool,
    recent: VecDeque<Instant>,
    last_text: String,
    repeats: u32,
    out: Outbox,
}

impl Member {
    fn muted(&mut self, now: Instant) -> bool {
        match self.mute {
            Mute::No => false,
            Mute::Forever => true,
            Mute::Until(t) if t > now => true,
            Mute::Until(_) => {
                self.mute = Mute::No;
                false
            }
        }
    }

    /// `k` line: PROTOCOL.md §3.2.
    fn k_line(&self) -> Line {
        let mut l = Line::new("k")
            .with(Field::Bin(self.key.to_vec()))
            .with(self.nick.as_str())
            .with(self.uid.as_str())
            .with(self.level.as_deref())
            .with(Field::Num(self.auth))
            .with(self.icons.as_str())
            .with(self.nickcon.as_str())
            .with(Field::Num(self.joined_at as i64))
            .with(Field::Num(i64::from(self.mute != Mute::No)))
            .with(Field::Bin(self.session.to_vec()));
        if let Some(p) = &self.profileimg {
            l.push(p.as_str());
        }
        l
    }

    fn key_field(&self) -> Field {
        Field::Bin(self.key.to_vec())
    }
}

struct Room {
    spec: RoomSpec,
    created: u64,
    members: Vec<Member>,
    /// (`k` of the sender at the time, `m` line) per chat line.
    history: VecDeque<(Bytes, Bytes)>,
    notices: Vec<String>,
    banned: Vec<String>,
}

impl Room {
    fn new(spec: RoomSpec) -> Room {
        let notices = spec.notice.iter().cloned().collect();
        Room {
            spec,
            created: unix_now(),
            members: Vec::new(),
            history: VecDeque::new(),
            notices,
            banned: Vec::new(),
        }
    }

    fn broadcast(&self, bytes: &Bytes, except: Option<ConnId>) {
        for m in &self.members {
            if Some(m.conn) != except {
                m.out.send(bytes.clone());
            }
        }
    }

    fn index(&self, conn: ConnId) -> Option<usize> {
        self.members.iter().position(|m| m.conn == conn)
    }

    fn by_nick(&self, nick: &str) -> Option<usize> {
        self.members.iter().position(|m| m.nick == nick)
    }

    /// `i1` (PROTOCOL.md §3.2): name, mode 0 (basic), created, function flags, server time.
    fn i1_line(&self) -> Line {
        // Flags: io (bit 1), message (3), call (4), whisper (5).
        let flags = vec![0b0011_1010u8, 0];
        Line::new("i1")
            .with(self.spec.title.as_deref().unwrap_or(&self.spec.name))
            .with(Field::Num(0))
            .with(Field::Num(self.created as i64))
            .with(Field::Bin(flags))
            .with(Field::Num(unix_now() as i64))
    }
}

/// A joined member: which room and which connection.
#[derive(Clone, Debug)]
pub struct Seat {
    /// Room id.
    pub room: String,
    /// Connection id.
    pub conn: ConnId,
    /// Nick at join time (for logs).
    pub nick: String,
}

/// What the connection should do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Close the connection (after the queued bytes are written).
    Close,
}

/// The shared state of one sim: settings and rooms.
pub struct Hub {
    /// Resolved settings.
    pub settings: Arc<Settings>,
    rooms: Mutex<HashMap<String, Room>>,
    next_conn: Mutex<ConnId>,
}

impl Hub {
    /// A hub with the configured rooms.
    pub fn new(settings: Arc<Settings>) -> Arc<Hub> {
        let rooms = settings
            .rooms
            .iter()
            .map(|r| (r.name.clone(), Room::new(r.clone())))
            .collect();
        Arc::new(Hub {
            settings,
            rooms: Mutex::new(rooms),
            next_conn: Mutex::new(0),
        })
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock cannot leave a room half-updated in a way that matters
        // more than stopping the server would, so keep serving.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh connection id.
    pub fn conn_id(&self) -> ConnId {
        let mut n = self.next_conn.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    }

    /// One log line on stderr (unless `--quiet`).
    pub fn log(&self, msg: impl std::fmt::Display) {
        if !self.settings.quiet {
            eprintln!("sim: {msg}");
        }
    }

    fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// Handles `j` (PROTOCOL.md §4): verification, then `i1`, `k`, `i2` to the joiner and
    /// `k` + `j` to the others. On failure returns the ERR code to send.
    fn join(&self, conn: ConnId, j: &Line, out: &Outbox, bot: bool) -> Result<Seat, i64> {
        let text = |i: usize| -> Option<String> {
            match j.field(i) {
                Some(Field::Str(s)) => Some(s.clone()),
                Some(f @ (Field::Num(_) | Field::Float(_))) => f.as_i64().map(|n| n.to_string()),
                _ => None,
            }
        };
        let room_id = text(0).filter(|r| !r.is_empty()).ok_or(err::NO_ROOM_ID)?;
        let (nick, uid, level, auth_s) = (text(1), text(2), text(3), text(4));
        let (icons, nickcon, other) = (text(5), text(6), text(7));
        let (hash, time, password, profileimg) = (text(8), text(11), text(12), text(14));

        let mut rooms = self.rooms();
        if !rooms.contains_key(&room_id) {
            if !self.settings.auto_rooms {
                return Err(err::NO_SUCH_ROOM);
            }
            self.log(format_args!("room {room_id:?} created (--auto-rooms)"));
            rooms.insert(room_id.clone(), Room::new(RoomSpec::open(&room_id)));
        }
        let Some(room) = rooms.get_mut(&room_id) else {
            return Err(err::NO_SUCH_ROOM);
        };

        // Token rooms: PROTOCOL.md §4.5.
        let mut verified = false;
        if let Some(token) = &room.spec.token {
            let hash = hash
                .as_deref()
                .filter(|h| !h.is_empty())
                .ok_or(err::NO_HASH)?;
            let input = HashInput {
                room: &room_id,
                nick: nick.as_deref(),
                id: uid.as_deref(),
                level: level.as_deref(),
                auth: auth_s.as_deref(),
                icons: icons.as_deref(),
                nickcon: nickcon.as_deref(),
                other: other.as_deref(),
                time: time.as_deref(),
                profileimg: profileimg.as_deref(),
            };
            if !hash_matches(&input, token, hash) {
                return Err(err::BAD_HASH);
            }
            let t: i64 = time
                .as_deref()
                .and_then(|t| t.trim().parse().ok())
                .ok_or(err::TIME)?;
            if t.abs_diff(unix_now() as i64) > self.limits().time_skew {
                return Err(err::TIME);
            }
            verified = true;
        }
        if let Some(pw) = &room.spec.password {
            match password.as_deref() {
                None | Some("") => return Err(err::PASSWORD_REQUIRED),
                Some(p) if p != pw => return Err(err::WRONG_PASSWORD),
                Some(_) => {}
            }
        }
        let uid = uid.unwrap_or_default();
        let nick = match nick.filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => guest_nick(room),
        };
        if room.banned.contains(&nick) || (!uid.is_empty() && room.banned.contains(&uid)) {
            return Err(err::BANNED);
        }
        if room.by_nick(&nick).is_some() {
            return Err(err::NICK_TAKEN);
        }
        if room.spec.capacity.is_some_and(|c| room.members.len() >= c) {
            return Err(err::FULL);
        }
        let auth = if verified {
            match auth_s.as_deref().unwrap_or("") {
                "admin" => 3,
                "subadmin" => 2,
                "guest" => 0,
                _ => 1,
            }
        } else {
            0
        };
        let member = Member {
            conn,
            key: random_bytes(),
            session: random_bytes(),
            nick: nick.clone(),
            uid,
            level: level.filter(|l| !l.is_empty()),
            auth,
            icons: icons.unwrap_or_default(),
            nickcon: nickcon.unwrap_or_default(),
            profileimg: profileimg.filter(|p| !p.is_empty()),
            joined_at: unix_now(),
            mute: Mute::No,
            io: false,
            bot,
            recent: VecDeque::new(),
            last_text: String::new(),
            repeats: 0,
            out: out.clone(),
        };
        let k = member.k_line();
        out.send_lines(&[
            room.i1_line(),
            k.clone(),
            Line::new("i2").with(member.key_field()),
        ]);
        room.broadcast(
            &enc(&[k, Line::new("j").with(member.key_field())]),
            Some(conn),
        );
        room.members.push(member);
        Ok(Seat {
            room: room_id,
            conn,
            nick,
        })
    }

    /// Removes the member (no-op if already gone) and sends `o` to the others.
    fn leave(&self, seat: &Seat) -> bool {
        let mut rooms = self.rooms();
        let Some(room) = rooms.get_mut(&seat.room) else {
            return false;
        };
        let Some(i) = room.index(seat.conn) else {
            return false;
        };
        let m = room.members.remove(i);
        room.broadcast(&enc(&[Line::new("o").with(m.nick.as_str())]), None);
        true
    }

    /// Handles one line of a joined member (PROTOCOL.md §3.1).
    fn handle(&self, seat: &Seat, line: Line) -> Flow {
        let mut rooms = self.rooms();
        let Some(room) = rooms.get_mut(&seat.room) else {
            return Flow::Close;
        };
        let Some(me) = room.index(seat.conn) else {
            return Flow::Close;
        };
        let reply = |room: &Room, code: i64| room.members[me].out.send_lines(&[err_line(code)]);
        let s = |i: usize| line.field(i).and_then(Field::as_str);
        match line.key.as_str() {
            "m" => match (s(0), s(1)) {
                (Some(style), Some(text)) => self.chat(room, me, style, text),
                _ => reply(room, err::PROTOCOL),
            },
            "command" => match s(0) {
                Some(name) => self.command(room, me, name, &line.fields[1..]),
                None => reply(room, err::PROTOCOL),
            },
            "plugin" | "pluginTo" => self.plugin(room, me, &line),
            "j" => reply(room, err::ALREADY_JOINED),
            _ => reply(room, err::PROTOCOL),
        }
        Flow::Continue
    }

    /// Mute and flood checks shared by `m` and whispers. `Err` = the line is dropped.
    fn may_chat(&self, room: &mut Room, me: usize, text: &str) -> Result<(), ()> {
        let now = Instant::now();
        let limits = self.limits().clone();
        let m = &mut room.members[me];
        if m.muted(now) {
            m.out.send_lines(&[err_line(err::MUTED)]);
            return Err(());
        }
        if m.bot {
            return Ok(());
        }
        if limits.flood_lines > 0 {
            while m
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > limits.flood_window)
            {
                m.recent.pop_front();
            }
            m.recent.push_back(now);
            let n = m.recent.len();
            if n > limits.flood_lines as usize {
                m.out.send_lines(&[err_line(err::FLOOD)]);
                if n >= 2 * limits.flood_lines as usize {
                    // Kept flooding after ERR 425: system_mute for the configured time.
                    m.mute = Mute::Until(now + limits.flood_mute);
                    m.recent.clear();
                    let minutes = limits.flood_mute.as_secs().div_ceil(60).max(1) as i64;
                    let nick = m.nick.clone();
                    self.log(format_args!(
                        "{nick:?} in {:?}: system_mute for {:?} (flooding)",
                        room.spec.name, limits.flood_mute
                    ));
                    room.broadcast(
                        &enc(&[sys_line(
                            sys::SYSTEM_MUTE,
                            vec![nick.into(), Field::Num(minutes)],
                        )]),
                        None,
                    );
                }
                return Err(());
            }
        }
        if limits.repeat_limit > 0 {
            if m.last_text == text {
                m.repeats += 1;
            } else {
                m.last_text = text.to_owned();
                m.repeats = 1;
            }
            if m.repeats > limits.repeat_limit {
                m.out.send_lines(&[err_line(err::REPEAT)]);
                return Err(());
            }
        }
        Ok(())
    }

    /// `m` → `m | UK | style | text | time` to everyone, sender included.
    fn chat(&self, room: &mut Room, me: usize, style: &str, text: &str) {
        if self.may_chat(room, me, text).is_err() {
            return;
        }
        let sender = &room.members[me];
        let m = enc(&[Line::new("m")
            .with(sender.key_field())
            .with(style)
            .with(text)
            .with(Field::Num(unix_now() as i64))]);
        let k = enc(&[sender.k_line()]);
        room.broadcast(&m, None);
        if room.history.len() >= HISTORY {
            room.history.pop_front();
        }
        room.history.push_back((k, m));
    }

    fn target(&self, room: &Room, me: usize, nick: Option<&str>) -> Result<usize, i64> {
        let t = nick.and_then(|n| room.by_nick(n)).ok_or(err::NO_TARGET)?;
        if t == me {
            return Err(err::SELF_TARGET);
        }
        Ok(t)
    }

    fn command(&self, room: &mut Room, me: usize, name: &str, args: &[Field]) {
        let s = |i: usize| args.get(i).and_then(Field::as_str);
        let n = |i: usize| args.get(i).and_then(num_arg);
        let reply = |room: &Room, lines: &[Line]| room.members[me].out.send_lines(lines);
        let needs_sub = matches!(name, "notice" | "mute" | "unmute" | "ban" | "clearLog");
        if needs_sub && room.members[me].auth < 2 {
            return reply(room, &[err_line(err::NO_PERMISSION)]);
        }
        let by = room.members[me].nick.clone();
        match name {
            "userList" => {
                let count = n(0).unwrap_or(10_000).max(0) as usize;
                let search = s(1).unwrap_or("");
                let list: Vec<&Member> = room
                    .members
                    .iter()
                    .filter(|m| m.nick.contains(search))
                    .take(count)
                    .collect();
                let mut lines: Vec<Line> = list.iter().map(|m| m.k_line()).collect();
                lines.extend(list.iter().map(|m| Line::new("u").with(m.key_field())));
                lines.push(Line::new("u"));
                reply(room, &lines);
            }
            "chatList" => {
                let count = n(0).unwrap_or(15).clamp(0, HISTORY as i64) as usize;
                let skip = room.history.len().saturating_sub(count);
                let mut out = Vec::new();
                for (k, m) in room.history.iter().skip(skip) {
                    out.extend_from_slice(k);
                    out.extend_from_slice(m);
                }
                if !out.is_empty() {
                    room.members[me].out.send(Bytes::from(out));
                }
            }
            "noticeList" => {
                let lines: Vec<Line> = room
                    .notices
                    .iter()
                    .map(|t| sys_line(sys::NOTICE, vec![t.as_str().into()]))
                    .collect();
                if !lines.is_empty() {
                    reply(room, &lines);
                }
            }
            "io" => {
                room.members[me].io = args.first().and_then(Field::as_bool).unwrap_or(true);
            }
            "whisper" => {
                let (Some(style), Some(text)) = (s(1), s(2)) else {
                    return reply(room, &[err_line(err::BAD_VALUE)]);
                };
                let t = match self.target(room, me, s(0)) {
                    Ok(t) => t,
                    Err(code) => return reply(room, &[err_line(code)]),
                };
                if self.may_chat(room, me, text).is_err() {
                    return;
                }
                let (from, to) = (&room.members[me], &room.members[t]);
                let w = Line::new("w")
                    .with(from.key_field())
                    .with(to.key_field())
                    .with(style)
                    .with(text)
                    .with(Field::Num(unix_now() as i64));
                to.out.send_lines(&[from.k_line(), w.clone()]);
                from.out.send_lines(&[to.k_line(), w]);
            }
            "notice" => {
                let Some(text) = s(0) else {
                    return reply(room, &[err_line(err::BAD_VALUE)]);
                };
                room.notices.push(text.to_owned());
                room.broadcast(&enc(&[sys_line(sys::NOTICE, vec![text.into()])]), None);
            }
            "mute" | "unmute" | "ban" => {
                let t = match self.target(room, me, s(0)) {
                    Ok(t) => t,
                    Err(code) => return reply(room, &[err_line(code)]),
                };
                if room.members[t].auth >= room.members[me].auth {
                    return reply(room, &[err_line(err::HIGHER_AUTH)]);
                }
                let target = room.members[t].nick.clone();
                let now = Instant::now();
                match name {
                    "mute" => {
                        let line = match n(1) {
                            Some(-1) => {
                                room.members[t].mute = Mute::Forever;
                                sys_line(sys::PERMANENT_MUTE, vec![by.into(), target.into()])
                            }
                            Some(min) if min > 0 => {
                                if room.members[t].muted(now) {
                                    return reply(room, &[err_line(err::ALREADY_MUTED)]);
                                }
                                let d = Duration::from_secs((min as u64).saturating_mul(60));
                                room.members[t].mute = Mute::Until(now + d);
                                sys_line(sys::MUTE, vec![by.into(), target.into(), min.into()])
                            }
                            _ => return reply(room, &[err_line(err::BAD_VALUE)]),
                        };
                        room.broadcast(&enc(&[line]), None);
                    }
                    "unmute" => {
                        if !room.members[t].muted(now) {
                            return reply(room, &[err_line(err::NOT_MUTED)]);
                        }
                        room.members[t].mute = Mute::No;
                        room.broadcast(
                            &enc(&[sys_line(sys::UN_MUTE, vec![by.into(), target.into()])]),
                            None,
                        );
                    }
                    _ => {
                        // ban: a1 = period (informational), a2 = reason when it is text.
                        let reason = s(2).unwrap_or("").to_owned();
                        let victim = room.members.remove(t);
                        room.banned.push(victim.nick.clone());
                        if !victim.uid.is_empty() {
                            room.banned.push(victim.uid.clone());
                        }
                        let notice = sys_line(
                            sys::BAN,
                            vec![by.clone().into(), target.clone().into(), reason.into()],
                        );
                        victim
                            .out
                            .send_lines(&[notice.clone(), err_line(err::BANNED)]);
                        victim.out.kick.notify_one();
                        room.broadcast(&enc(&[notice, Line::new("o").with(target.as_str())]), None);
                        self.log(format_args!(
                            "{target:?} banned from {:?} by {by:?}",
                            room.spec.name
                        ));
                    }
                }
            }
            "info" => {
                let Some(t) = s(0).and_then(|nick| room.by_nick(nick)) else {
                    return reply(room, &[err_line(err::NO_TARGET)]);
                };
                let m = &room.members[t];
                let line = sys_line(
                    sys::USER_INFO,
                    vec![
                        m.nick.as_str().into(),
                        m.uid.as_str().into(),
                        m.level.as_deref().into(),
                        Field::Num(m.auth),
                        Field::Num(m.joined_at as i64),
                        hex_encode(&m.session).into(),
                    ],
                );
                reply(room, &[line]);
            }
            "clearLog" => {
                room.history.clear();
                room.broadcast(&enc(&[sys_line(sys::CLEAR_LOG, vec![by.into()])]), None);
            }
            _ => reply(room, &[err_line(err::UNKNOWN_COMMAND)]),
        }
    }

    /// `plugin | channel | data…` → `p | UK | 0 | channel | data…` to all;
    /// `pluginTo | nick | channel | data…` → `p | UK | 1 | channel | data…` to one.
    fn plugin(&self, room: &mut Room, me: usize, line: &Line) {
        let from = room.members[me].key_field();
        if line.key == "plugin" {
            let mut p = Line::new("p").with(from).with(Field::Num(0));
            p.fields.extend(line.fields.iter().cloned());
            room.broadcast(&enc(&[p]), None);
            return;
        }
        let t = match self.target(room, me, line.field(0).and_then(Field::as_str)) {
            Ok(t) => t,
            Err(code) => return room.members[me].out.send_lines(&[err_line(code)]),
        };
        let mut p = Line::new("p").with(from).with(Field::Num(1));
        p.fields.extend(line.fields.iter().skip(1).cloned());
        room.members[t]
            .out
            .send_lines(&[room.members[me].k_line(), p]);
    }
}

fn num_arg(f: &Field) -> Option<i64> {
    match f {
        Field::Str(s) => s.trim().parse().ok(),
        other => other.as_i64(),
    }
}

fn random_bytes() -> [u8; 8] {
    fastrand::u64(..).to_le_bytes()
}

/// `손님` + four digits, unique in the room (PROTOCOL.md §4.1 step 5).
fn guest_nick(room: &Room) -> String {
    for _ in 0..100 {
        let nick = format!("손님{}", fastrand::u32(1000..10_000));
        if room.by_nick(&nick).is_none() {
            return nick;
        }
    }
    format!("손님{}", fastrand::u64(10_000..u64::MAX))
}

/// Protocol state of one connection (or one simulated user).
pub struct Client {
    hub: Arc<Hub>,
    /// Connection id.
    pub conn: ConnId,
    /// Peer description for logs.
    pub peer: String,
    out: Outbox,
    seat: Option<Seat>,
    bot: bool,
}

impl Client {
    /// A client that sends through `out`. `bot` = simulated crowd user (no flood control).
    pub fn new(hub: Arc<Hub>, peer: String, out: Outbox, bot: bool) -> Client {
        let conn = hub.conn_id();
        Client {
            hub,
            conn,
            peer,
            out,
            seat: None,
            bot,
        }
    }

    /// The seat once joined.
    pub fn seat(&self) -> Option<&Seat> {
        self.seat.as_ref()
    }

    fn error(&self, code: i64, why: impl std::fmt::Display) {
        self.hub.log(format_args!(
            "conn {} {}: ERR {code}: {why}",
            self.conn, self.peer
        ));
        self.out.send_lines(&[err_line(code)]);
    }

    /// Handles one decoded line (or decode error). ERR 101 / 105 keep the connection open.
    pub fn on_line(&mut self, line: Result<Line, DecodeError>) -> Flow {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                let code = match e.kind {
                    DecodeErrorKind::LineTooLong { .. } => err::LINE_TOO_LONG,
                    _ => err::PROTOCOL,
                };
                self.error(code, e);
                return Flow::Continue;
            }
        };
        let max_field = self.hub.limits().max_field;
        if let Some(i) = line.fields.iter().position(|f| match f {
            Field::Str(s) => s.len() > max_field,
            Field::Bin(b) => b.len() > max_field,
            _ => false,
        }) {
            self.error(
                err::FIELD_TOO_LONG,
                format_args!(
                    "{:?} line: field {} is longer than {max_field} bytes",
                    line.key,
                    i + 1
                ),
            );
            return Flow::Continue;
        }
        match (line.key.as_str(), &self.seat) {
            ("p", _) => Flow::Continue,
            ("disconnect", _) => Flow::Close,
            ("j", None) => {
                match self.hub.join(self.conn, &line, &self.out, self.bot) {
                    Ok(seat) => {
                        self.hub.log(format_args!(
                            "conn {} {}: joined {:?} as {:?}",
                            self.conn, self.peer, seat.room, seat.nick
                        ));
                        self.seat = Some(seat);
                    }
                    Err(code) => self.error(code, "join refused"),
                }
                Flow::Continue
            }
            (_, Some(seat)) => self.hub.handle(seat, line),
            (key, None) => {
                self.error(err::PROTOCOL, format_args!("{key:?} line before joining"));
                Flow::Continue
            }
        }
    }

    /// Leaves the room (if joined); call when the connection ends.
    pub fn close(&mut self, why: &str) {
        if let Some(seat) = self.seat.take() {
            if self.hub.leave(&seat) {
                self.hub.log(format_args!(
                    "conn {} {}: {:?} left {:?} ({why})",
                    self.conn, self.peer, seat.nick, seat.room
                ));
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close("gone");
    }
}
