//! The server side of the protocol (PROTOCOL.md §3–4), free of socket code: joins and their
//! checks, chat relay, flood control, commands. Connections reach it through
//! [`super::client::Client`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Bytes;
use uchat_bot::codec::{hex_encode, Field, Line};
use uchat_bot::message::{
    ChatMessage, Command, ErrorCode, Incoming, JoinRequest, Outgoing, PluginMessage, SystemCode,
    WhisperMessage,
};

use super::config::{Limits, RoomSpec, Settings};
use super::room::{
    enc, err_line, guest_nick, lock, random_bytes, sys_line, unix_now, ConnId, Kick, Logged,
    Member, Mute, Outbox, Room, HISTORY,
};
use super::verify::{hash_matches, HashInput};

/// A joined member: which room and which connection.
#[derive(Clone)]
pub struct Seat {
    /// Room id.
    pub room: String,
    /// The room itself (each room has its own lock, so busy rooms do not wait for each other).
    shared: Arc<Mutex<Room>>,
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

/// Most removed `--auto-rooms` rooms whose bans [`BanMemory`] keeps. The bound counts rooms, not
/// banned names: each kept list is the one its room held while it had members (a ban needs a
/// moderator, so lists grow with moderation, not with traffic). 1024 rooms is far more than a
/// test or a demo makes, and keeps a sim that runs for weeks with ever new room names bounded;
/// past it, the room removed longest ago is forgotten first, and then its banned users can
/// come back.
const REMEMBERED_BAN_ROOMS: usize = 1024;

/// Bans of `--auto-rooms` rooms that were removed with their last member, by room name, so that
/// a ban outlives the room: a banned user cannot come back by waiting for the room to empty.
/// The room made again under that name takes its bans back. Same semantics as a live room's
/// bans: permanent, by nick and by id.
#[derive(Default)]
struct BanMemory {
    by_room: HashMap<String, Vec<String>>,
    /// Names in `by_room`, removed longest ago first.
    order: VecDeque<String>,
}

impl BanMemory {
    /// Keeps the bans of a room being removed (nothing when it banned nobody).
    fn keep(&mut self, room: &str, banned: Vec<String>) {
        if banned.is_empty() {
            return;
        }
        if self.by_room.insert(room.to_owned(), banned).is_none() {
            self.order.push_back(room.to_owned());
        }
        while self.by_room.len() > REMEMBERED_BAN_ROOMS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.by_room.remove(&oldest);
        }
    }

    /// The bans kept for a room being made again (empty when none were kept).
    fn take(&mut self, room: &str) -> Vec<String> {
        match self.by_room.remove(room) {
            Some(banned) => {
                self.order.retain(|r| r != room);
                banned
            }
            None => Vec::new(),
        }
    }
}

/// The hub's rooms, under one lock: the live ones and the bans of removed auto rooms (a room
/// is removed and made again under this lock, so its bans are never in both places or none).
struct Rooms {
    live: HashMap<String, Arc<Mutex<Room>>>,
    bans: BanMemory,
}

/// The shared state of one sim: settings and rooms.
pub struct Hub {
    /// Resolved settings.
    pub settings: Arc<Settings>,
    rooms: Mutex<Rooms>,
    next_conn: Mutex<ConnId>,
}

impl Hub {
    /// A hub with the configured rooms.
    pub fn new(settings: Arc<Settings>) -> Arc<Hub> {
        let live = settings
            .rooms
            .iter()
            .map(|r| (r.name.clone(), Arc::new(Mutex::new(Room::new(r.clone())))))
            .collect();
        Arc::new(Hub {
            settings,
            rooms: Mutex::new(Rooms {
                live,
                bans: BanMemory::default(),
            }),
            next_conn: Mutex::new(0),
        })
    }

    /// The room, created first when `--auto-rooms` allows it (with the bans it had when it was
    /// last removed, see [`BanMemory`]).
    fn room(&self, id: &str) -> Option<Arc<Mutex<Room>>> {
        let mut rooms = lock(&self.rooms);
        if let Some(r) = rooms.live.get(id) {
            return Some(r.clone());
        }
        if !self.settings.auto_rooms {
            return None;
        }
        let mut room = Room::new(RoomSpec::open(id));
        room.auto = true;
        room.banned = rooms.bans.take(id);
        match room.banned.len() {
            0 => self.log(format_args!("room {id:?} created (--auto-rooms)")),
            n => self.log(format_args!(
                "room {id:?} created (--auto-rooms) with the {n} bans it had"
            )),
        }
        let r = Arc::new(Mutex::new(room));
        rooms.live.insert(id.to_owned(), r.clone());
        Some(r)
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

    /// Sends `ERR code` to a member and logs it.
    pub(super) fn err_to(&self, m: &Member, code: ErrorCode) {
        self.log(format_args!(
            "conn {} {:?}: ERR {} {}",
            m.conn,
            m.nick,
            code.code(),
            code.name()
        ));
        m.out.send_lines(&[err_line(code)]);
    }

    pub(super) fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// Handles `j` (PROTOCOL.md §4): verification, then `i1`, `k`, `i2` to the joiner and
    /// `k` + `j` to the others. On failure returns the ERR code to send.
    pub(super) fn join(
        &self,
        conn: ConnId,
        j: JoinRequest,
        out: &Outbox,
        bot: bool,
    ) -> Result<Seat, ErrorCode> {
        if j.room.is_empty() {
            return Err(ErrorCode::RoomIdMissing);
        }
        loop {
            let shared = self.room(&j.room).ok_or(ErrorCode::RoomNotFound)?;
            let mut room = lock(&shared);
            if room.gone {
                // An auto room whose last member left between the lookup and the lock: it is
                // out of the map now, so the next lookup finds or creates the live one.
                continue;
            }
            let room_id = j.room.clone();
            let nick = match self.admit(&mut room, conn, j, out, bot) {
                Ok(nick) => nick,
                Err(code) => {
                    // A refused join must not leave the auto room it just made behind, empty
                    // (it would stay until someone joins and leaves): a banned user's 408.
                    self.remove_if_empty(&room_id, &shared, &mut room, "join refused");
                    return Err(code);
                }
            };
            drop(room);
            return Ok(Seat {
                room: room_id,
                shared,
                conn,
                nick,
            });
        }
    }

    /// The checks of [`Hub::join`] and the join itself, in a locked room. Returns the nick.
    fn admit(
        &self,
        room: &mut Room,
        conn: ConnId,
        j: JoinRequest,
        out: &Outbox,
        bot: bool,
    ) -> Result<String, ErrorCode> {
        let JoinRequest {
            room: room_id,
            nick,
            id: uid,
            level,
            auth: auth_s,
            icons,
            nickcon,
            other,
            hash,
            time,
            password,
            profileimg,
            ..
        } = j;
        // Token rooms: PROTOCOL.md §4.5.
        let mut verified = false;
        if let Some(token) = &room.spec.token {
            let hash = hash
                .as_deref()
                .filter(|h| !h.is_empty())
                .ok_or(ErrorCode::TokenMissing)?;
            let input = HashInput {
                room: &room_id,
                nick: nick.as_deref(),
                id: uid.as_deref(),
                level: level.as_deref(),
                auth: Some(auth_s.as_str()),
                icons: icons.as_deref(),
                nickcon: nickcon.as_deref(),
                other: other.as_deref(),
                time: time.as_deref(),
                profileimg: profileimg.as_deref(),
            };
            if !hash_matches(&input, token, hash) {
                return Err(ErrorCode::TokenChanged);
            }
            let t: i64 = time
                .as_deref()
                .and_then(|t| t.trim().parse().ok())
                .ok_or(ErrorCode::TimeOutOfSync)?;
            if t.abs_diff(unix_now() as i64) > self.limits().time_skew {
                return Err(ErrorCode::TimeOutOfSync);
            }
            verified = true;
        }
        if let Some(pw) = &room.spec.password {
            match password.as_deref() {
                None | Some("") => return Err(ErrorCode::PasswordRequired),
                Some(p) if p != pw => return Err(ErrorCode::WrongPassword),
                Some(_) => {}
            }
        }
        let uid = uid.unwrap_or_default();
        let nick = match nick.filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => guest_nick(room),
        };
        if room.banned.contains(&nick) || (!uid.is_empty() && room.banned.contains(&uid)) {
            return Err(ErrorCode::Kicked);
        }
        if room.by_nick(&nick).is_some() {
            return Err(ErrorCode::NickExists);
        }
        if room.spec.capacity.is_some_and(|c| room.members.len() >= c) {
            return Err(ErrorCode::RoomFull);
        }
        let auth = if verified {
            match auth_s.as_str() {
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
            Incoming::MyKey(member.user_key()).to_line(),
        ]);
        room.broadcast(
            &enc(&[k, Incoming::UserJoin(member.user_key()).to_line()]),
            Some(conn),
        );
        room.members.push(member);
        Ok(nick)
    }

    /// Removes the member (no-op if already gone) and sends `o` to the others. An `--auto-rooms`
    /// room is forgotten with its last member (chat log and notices), except for its bans, which
    /// the hub keeps for the room's name ([`BanMemory`]); configured rooms stay.
    pub(super) fn leave(&self, seat: &Seat) -> bool {
        let mut room = lock(&seat.shared);
        let Some(i) = room.index(seat.conn) else {
            return false;
        };
        let m = room.members.remove(i);
        room.broadcast(&enc(&[Incoming::UserQuit { nick: m.nick }.to_line()]), None);
        self.remove_if_empty(&seat.room, &seat.shared, &mut room, "last member left");
        true
    }

    /// Removes an `--auto-rooms` room without members from the hub, keeping its bans
    /// ([`BanMemory`]). `room` is `shared`, locked by the caller.
    fn remove_if_empty(&self, id: &str, shared: &Arc<Mutex<Room>>, room: &mut Room, why: &str) {
        if !room.auto || !room.members.is_empty() || room.gone {
            return;
        }
        // Lock order: a room, then the map (`room()` never holds the map while locking a
        // room). `gone` sends a join that already looked this room up back to the map.
        room.gone = true;
        let mut rooms = lock(&self.rooms);
        if rooms.live.get(id).is_some_and(|r| Arc::ptr_eq(r, shared)) {
            rooms.live.remove(id);
            rooms.bans.keep(id, std::mem::take(&mut room.banned));
            self.log(format_args!("room {id:?} removed (--auto-rooms, {why})"));
        }
    }

    /// Handles one message of a joined member (PROTOCOL.md §3.1).
    pub(super) fn handle(&self, seat: &Seat, msg: Outgoing) -> Flow {
        let mut guard = lock(&seat.shared);
        let room = &mut *guard;
        let Some(me) = room.index(seat.conn) else {
            return Flow::Close;
        };
        match msg {
            Outgoing::Chat { style, text } => self.chat(room, me, &style.to_wire(), &text),
            // uchat.js always sends '' in the whisper's style slot.
            Outgoing::Whisper { nick, text } => self.whisper(room, me, &nick, &text),
            Outgoing::Command(cmd) => self.command(room, me, cmd),
            Outgoing::Plugin { channel, data } => {
                let p = PluginMessage {
                    sender: room.members[me].user_key(),
                    kind: Field::Num(0),
                    channel,
                    data,
                };
                room.broadcast(&enc(&[Incoming::Plugin(p).to_line()]), None);
            }
            Outgoing::PluginTo {
                target,
                channel,
                data,
            } => match self.target(room, me, Some(&target)) {
                Ok(t) => {
                    let from = &room.members[me];
                    let p = PluginMessage {
                        sender: from.user_key(),
                        kind: Field::Num(1),
                        channel,
                        data,
                    };
                    room.members[t]
                        .out
                        .send_lines(&[from.k_line(), Incoming::Plugin(p).to_line()]);
                }
                Err(code) => self.err_to(&room.members[me], code),
            },
            Outgoing::Join(_) => self.err_to(&room.members[me], ErrorCode::AlreadyConnected),
            Outgoing::Ping => {}
            Outgoing::Disconnect => return Flow::Close,
            Outgoing::Other(_) => self.err_to(&room.members[me], ErrorCode::ProtocolError),
        }
        Flow::Continue
    }

    /// Mute and flood checks shared by `m` and whispers. `Err` = the line is dropped.
    fn may_chat(&self, room: &mut Room, me: usize, text: &str) -> Result<(), ()> {
        let now = Instant::now();
        let limits = self.limits().clone();
        let m = &mut room.members[me];
        if m.muted(now) {
            self.err_to(m, ErrorCode::YouAreMuted);
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
                self.err_to(m, ErrorCode::TooFrequent);
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
                            SystemCode::SystemMute,
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
                self.err_to(m, ErrorCode::RepeatedContent);
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
        let m = enc(&[Incoming::Message(ChatMessage {
            from: sender.user_key(),
            style: style.to_owned(),
            text: text.to_owned(),
            time: Some(unix_now() as i64),
        })
        .to_line()]);
        let logged = Logged {
            key: sender.key,
            k: enc(&[sender.k_line()]),
            m: m.clone(),
        };
        room.broadcast(&m, None);
        if room.history.len() >= HISTORY {
            room.history.pop_front();
        }
        room.history.push_back(logged);
    }

    /// The `chatList` answer: the last `count` (≤ [`HISTORY`]) chat lines, oldest first, each
    /// after its sender's `k`.
    ///
    /// Which `k`: PROTOCOL.md §3.2 says a `k` "defines/refreshes a user record", so a replayed
    /// `k` overwrites what the client knows of its sender. For a sender still in the room it is
    /// therefore their `k` as it is now: the one logged when they chatted would carry a stale
    /// mute bit (they chatted unmuted and were muted since, or the reverse), undoing the fresh
    /// `k` of the `userList` the client asked for just before. A sender who has left has no
    /// current state (mute is per stay; a member who comes back gets a new key), so their
    /// logged `k` is replayed; its mute bit is 0, as a muted member cannot chat, which is also
    /// right for someone not in the room.
    fn chat_list(room: &Room, count: usize) -> Vec<u8> {
        let skip = room.history.len().saturating_sub(count.min(HISTORY));
        let logged = || room.history.iter().skip(skip);
        // The present senders' `k` now, each encoded once (one pass over the members).
        let mut now: HashMap<[u8; 8], Option<Bytes>> = logged().map(|l| (l.key, None)).collect();
        for m in &room.members {
            if let Some(k) = now.get_mut(&m.key) {
                *k = Some(enc(&[m.k_line()]));
            }
        }
        let mut out = Vec::new();
        for l in logged() {
            let k = now.get(&l.key).and_then(Option::as_ref).unwrap_or(&l.k);
            out.extend_from_slice(k);
            out.extend_from_slice(&l.m);
        }
        out
    }

    fn target(&self, room: &Room, me: usize, nick: Option<&str>) -> Result<usize, ErrorCode> {
        let t = nick
            .and_then(|n| room.by_nick(n))
            .ok_or(ErrorCode::TargetNotFound)?;
        if t == me {
            return Err(ErrorCode::NotOnYourself);
        }
        Ok(t)
    }

    /// `command whisper nick '' text` → `w | from | to | style | text | time` to both ends.
    fn whisper(&self, room: &mut Room, me: usize, nick: &str, text: &str) {
        let t = match self.target(room, me, Some(nick)) {
            Ok(t) => t,
            Err(code) => return self.err_to(&room.members[me], code),
        };
        if self.may_chat(room, me, text).is_err() {
            return;
        }
        let (from, to) = (&room.members[me], &room.members[t]);
        let w = Incoming::Whisper(WhisperMessage {
            from: from.user_key(),
            to: to.user_key(),
            style: String::new(),
            text: text.to_owned(),
            time: Some(unix_now() as i64),
        })
        .to_line();
        to.out.send_lines(&[from.k_line(), w.clone()]);
        from.out.send_lines(&[to.k_line(), w]);
    }

    fn command(&self, room: &mut Room, me: usize, cmd: Command) {
        let reply = |room: &Room, lines: &[Line]| room.members[me].out.send_lines(lines);
        let needs_sub = matches!(
            cmd,
            Command::Notice(_)
                | Command::Mute { .. }
                | Command::Unmute { .. }
                | Command::Ban { .. }
                | Command::ClearLog
        );
        if needs_sub && room.members[me].auth < 2 {
            return self.err_to(&room.members[me], ErrorCode::NoPermission);
        }
        let by = room.members[me].nick.clone();
        match cmd {
            Command::UserList { count, search } => {
                let list: Vec<&Member> = room
                    .members
                    .iter()
                    .filter(|m| m.nick.contains(search.as_str()))
                    .take(count as usize)
                    .collect();
                let mut lines: Vec<Line> = list.iter().map(|m| m.k_line()).collect();
                lines.extend(
                    list.iter()
                        .map(|m| Incoming::UserListEntry(Some(m.user_key())).to_line()),
                );
                lines.push(Incoming::UserListEntry(None).to_line());
                reply(room, &lines);
            }
            Command::ChatList(count) => {
                let out = Self::chat_list(room, count as usize);
                if !out.is_empty() {
                    room.members[me].out.send(Bytes::from(out));
                }
            }
            Command::NoticeList => {
                let lines: Vec<Line> = room
                    .notices
                    .iter()
                    .map(|t| sys_line(SystemCode::Notice, vec![t.as_str().into()]))
                    .collect();
                if !lines.is_empty() {
                    reply(room, &lines);
                }
            }
            Command::Io(on) => room.members[me].io = on,
            Command::Notice(text) => {
                let line = sys_line(SystemCode::Notice, vec![text.as_str().into()]);
                room.notices.push(text);
                room.broadcast(&enc(&[line]), None);
            }
            Command::Mute { nick, minutes, .. } => {
                let t = match self.target(room, me, Some(&nick)) {
                    Ok(t) => t,
                    Err(code) => return self.err_to(&room.members[me], code),
                };
                if room.members[t].auth >= room.members[me].auth {
                    return self.err_to(&room.members[me], ErrorCode::NotOnEqualOrHigherAuth);
                }
                let now = Instant::now();
                if minutes != -1 && room.members[t].muted(now) {
                    return self.err_to(&room.members[me], ErrorCode::TargetAlreadyMuted);
                }
                let line = match minutes {
                    -1 => {
                        room.members[t].mute = Mute::Forever;
                        sys_line(SystemCode::PermanentMute, vec![by.into(), nick.into()])
                    }
                    m if m > 0 => {
                        let d = Duration::from_secs((m as u64).saturating_mul(60));
                        // A period whose end the clock cannot represent (about 1.5e17 minutes
                        // and more) is refused like 0 or a negative one.
                        let Some(until) = now.checked_add(d) else {
                            return self.err_to(&room.members[me], ErrorCode::BadCommandValue);
                        };
                        room.members[t].mute = Mute::Until(until);
                        sys_line(SystemCode::Mute, vec![by.into(), nick.into(), m.into()])
                    }
                    _ => return self.err_to(&room.members[me], ErrorCode::BadCommandValue),
                };
                room.broadcast(&enc(&[line]), None);
            }
            Command::Unmute { nick } => {
                let t = match self.target(room, me, Some(&nick)) {
                    Ok(t) => t,
                    Err(code) => return self.err_to(&room.members[me], code),
                };
                if !room.members[t].muted(Instant::now()) {
                    return self.err_to(&room.members[me], ErrorCode::TargetNotMuted);
                }
                room.members[t].mute = Mute::No;
                room.broadcast(
                    &enc(&[sys_line(SystemCode::UnMute, vec![by.into(), nick.into()])]),
                    None,
                );
            }
            Command::Ban { nick, a2, .. } => {
                // a1 = period (informational here), a2 = reason when it is text.
                let t = match self.target(room, me, Some(&nick)) {
                    Ok(t) => t,
                    Err(code) => return self.err_to(&room.members[me], code),
                };
                if room.members[t].auth >= room.members[me].auth {
                    return self.err_to(&room.members[me], ErrorCode::NotOnEqualOrHigherAuth);
                }
                let reason = a2.as_str().unwrap_or("").to_owned();
                let victim = room.members.remove(t);
                room.banned.push(victim.nick.clone());
                if !victim.uid.is_empty() {
                    room.banned.push(victim.uid.clone());
                }
                let notice = sys_line(
                    SystemCode::Ban,
                    vec![by.as_str().into(), nick.as_str().into(), reason.into()],
                );
                // The reason first (the first one recorded is the one logged): a victim whose
                // outbox is already over budget would otherwise be logged as kicked for its
                // backlog by the send. The connection's task, woken now, leaves the room only
                // after this room lock is released, so the lines are queued before it flushes.
                victim.out.kick(Kick::Banned);
                victim
                    .out
                    .send_lines(&[notice.clone(), err_line(ErrorCode::Kicked)]);
                room.broadcast(
                    &enc(&[notice, Incoming::UserQuit { nick: nick.clone() }.to_line()]),
                    None,
                );
                self.log(format_args!(
                    "{nick:?} banned from {:?} by {by:?}",
                    room.spec.name
                ));
            }
            Command::Info { nick } => {
                let Some(t) = room.by_nick(&nick) else {
                    return self.err_to(&room.members[me], ErrorCode::TargetNotFound);
                };
                let m = &room.members[t];
                let line = sys_line(
                    SystemCode::UserInfo,
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
            Command::ClearLog => {
                room.history.clear();
                room.broadcast(
                    &enc(&[sys_line(SystemCode::ClearLog, vec![by.into()])]),
                    None,
                );
            }
            // report, call, ip, invite, individual, changeInfo, op, deop, login and unknown names.
            _ => self.err_to(&room.members[me], ErrorCode::UnknownCommand),
        }
    }
}

#[cfg(test)]
mod tests {
    use uchat_bot::message::Style;
    use uchat_bot::token::{join_line, UserData};

    use super::super::room::OUTBOX_BUDGET;
    use super::*;

    fn join_req(room: &str, nick: &str) -> JoinRequest {
        let line = join_line(
            room,
            &UserData::guest(Some(nick)),
            "0123456789abcdefghiklmnopqrstuvw",
            None,
        )
        .unwrap();
        match Outgoing::from_line(line).unwrap() {
            Outgoing::Join(j) => j,
            other => panic!("not a join: {other:?}"),
        }
    }

    fn join_as(room: &str, nick: &str, id: &str) -> JoinRequest {
        let mut user = UserData::guest(Some(nick));
        user.insert("id", id);
        let line = join_line(room, &user, "0123456789abcdefghiklmnopqrstuvw", None).unwrap();
        match Outgoing::from_line(line).unwrap() {
            Outgoing::Join(j) => j,
            other => panic!("not a join: {other:?}"),
        }
    }

    fn hub() -> Arc<Hub> {
        Hub::new(Arc::new(Settings {
            auto_rooms: true,
            quiet: true,
            ..Settings::default()
        }))
    }

    fn has_room(hub: &Hub, id: &str) -> bool {
        lock(&hub.rooms).live.contains_key(id)
    }

    /// `boss`, the room's member on conn 1, bans `pest` with a token room admin's rights (auth
    /// 3, given here: an open room's members have auth 0 and cannot moderate over the wire).
    fn admin_bans_pest(hub: &Hub, boss: &Seat) {
        {
            let mut room = lock(&boss.shared);
            let i = room.index(1).unwrap();
            room.members[i].auth = 3;
        }
        let ban = Command::Ban {
            nick: "pest".into(),
            a1: Field::Num(0),
            a2: Field::Num(0),
        };
        assert_eq!(hub.handle(boss, Outgoing::Command(ban)), Flow::Continue);
    }

    #[test]
    fn an_auto_room_is_removed_with_its_last_member() {
        let hub = hub();
        let (out, _rx) = Outbox::new();
        let a = hub.join(1, join_req("made-up", "a"), &out, false).unwrap();
        let b = hub.join(2, join_req("made-up", "b"), &out, false).unwrap();
        assert!(has_room(&hub, "made-up"));
        assert!(hub.leave(&a));
        assert!(has_room(&hub, "made-up"), "one member is still there");
        assert!(hub.leave(&b));
        assert!(!has_room(&hub, "made-up"), "the last member left");
        assert!(lock(&b.shared).gone);
        assert!(!hub.leave(&b), "a second leave is a no-op");
        // Joining again makes a fresh room.
        let c = hub.join(3, join_req("made-up", "c"), &out, false).unwrap();
        assert!(!Arc::ptr_eq(&c.shared, &a.shared));
        assert!(has_room(&hub, "made-up"));
        // Many distinct rooms leave nothing behind.
        for i in 0..100 {
            let id = format!("room-{i}");
            let s = hub.join(10 + i, join_req(&id, "x"), &out, false).unwrap();
            hub.leave(&s);
        }
        assert_eq!(lock(&hub.rooms).live.len(), 2, "lobby and made-up");
    }

    #[test]
    fn an_auto_room_keeps_its_bans_after_it_is_removed() {
        let hub = hub();
        let (out, _rx) = Outbox::new();
        let boss = hub
            .join(1, join_req("made-up", "boss"), &out, false)
            .unwrap();
        hub.join(2, join_as("made-up", "pest", "id-pest"), &out, false)
            .unwrap();
        admin_bans_pest(&hub, &boss);
        assert!(hub.leave(&boss));
        assert!(!has_room(&hub, "made-up"), "removed with its last member");
        // The banned user cannot come back, by nick or by id; the refused joins leave no
        // room behind.
        for (conn, nick, id) in [(3, "pest", "other-id"), (4, "new-nick", "id-pest")] {
            let refused = hub.join(conn, join_as("made-up", nick, id), &out, false);
            assert_eq!(refused.err(), Some(ErrorCode::Kicked), "{nick} / {id}");
            assert!(!has_room(&hub, "made-up"), "{nick} / {id}");
        }
        // Others can join; the room made again holds the bans while it lives.
        let friend = hub
            .join(5, join_req("made-up", "friend"), &out, false)
            .unwrap();
        let refused = hub.join(6, join_as("made-up", "pest", "x"), &out, false);
        assert_eq!(refused.err(), Some(ErrorCode::Kicked));
        assert!(lock(&hub.rooms).bans.by_room.is_empty(), "taken back");
        assert!(hub.leave(&friend));
        let refused = hub.join(7, join_as("made-up", "x", "id-pest"), &out, false);
        assert_eq!(refused.err(), Some(ErrorCode::Kicked));
        // Rooms that banned nobody are not remembered.
        let s = hub.join(8, join_req("quiet", "a"), &out, false).unwrap();
        hub.leave(&s);
        let rooms = lock(&hub.rooms);
        assert_eq!(rooms.bans.by_room.keys().collect::<Vec<_>>(), ["made-up"]);
    }

    #[test]
    fn a_ban_is_the_kick_reason_also_for_a_member_with_a_full_outbox() {
        let hub = hub();
        let (out, _rx) = Outbox::new();
        let boss = hub.join(1, join_req("lobby", "boss"), &out, false).unwrap();
        // The victim does not read: more than the budget waits in its outbox (nothing taken).
        let (pest_out, _pest_rx) = Outbox::new();
        hub.join(2, join_req("lobby", "pest"), &pest_out, false)
            .unwrap();
        while pest_out.queued() <= OUTBOX_BUDGET {
            pest_out.send(Bytes::from(vec![b'x'; 64 * 1024]));
        }
        assert_eq!(pest_out.kicked_for(), None);
        admin_bans_pest(&hub, &boss);
        // The ban's notice no longer fits, but the reason logged is the ban, not the backlog.
        assert_eq!(pest_out.kicked_for(), Some(Kick::Banned));
    }

    #[test]
    fn remembered_bans_are_bounded_the_oldest_room_forgotten_first() {
        let mut mem = BanMemory::default();
        for i in 0..=REMEMBERED_BAN_ROOMS {
            mem.keep(&format!("r{i}"), vec![format!("nick{i}"), format!("id{i}")]);
        }
        assert_eq!(mem.by_room.len(), REMEMBERED_BAN_ROOMS);
        assert_eq!(mem.order.len(), REMEMBERED_BAN_ROOMS);
        assert!(
            mem.take("r0").is_empty(),
            "the room removed first is forgotten"
        );
        assert_eq!(mem.take("r1"), ["nick1", "id1"]);
        assert!(mem.take("r1").is_empty(), "taken back once");
        assert_eq!(mem.order.len(), REMEMBERED_BAN_ROOMS - 1);
        // Kept again, r1 is now the newest: the next one over the cap forgets r2.
        mem.keep("r1", vec!["nick1".into()]);
        mem.keep("one-more", vec!["n".into()]);
        assert!(mem.by_room.contains_key("r1") && !mem.by_room.contains_key("r2"));
        assert_eq!(mem.by_room.len(), mem.order.len());
        mem.keep("nobody", Vec::new());
        assert!(!mem.by_room.contains_key("nobody"));
    }

    #[test]
    fn a_configured_room_stays_with_its_chat_log() {
        let hub = hub();
        let (out, _rx) = Outbox::new();
        let a = hub.join(1, join_req("lobby", "a"), &out, false).unwrap();
        let chat = Outgoing::Chat {
            style: Style::default(),
            text: "kept".into(),
        };
        assert_eq!(hub.handle(&a, chat), Flow::Continue);
        assert!(hub.leave(&a));
        assert!(has_room(&hub, "lobby"));
        let room = lock(&a.shared);
        assert!(!room.gone);
        assert_eq!(room.history.len(), 1);
    }

    #[test]
    fn joins_racing_the_last_leave_never_land_in_a_removed_room() {
        // Two members join and leave one auto room over and over. A join that looked the room
        // up just before the other's leave emptied and removed it must not enter that removed
        // room: right after a join, the hub's room is the joiner's room (the joiner is in it,
        // so it cannot have been removed since).
        let hub = hub();
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let hub = hub.clone();
                std::thread::spawn(move || {
                    let (out, _rx) = Outbox::new();
                    let nick = format!("n{t}");
                    for i in 0..20_000 {
                        let seat = hub.join(t, join_req("race", &nick), &out, false).unwrap();
                        let current = lock(&hub.rooms).live.get("race").cloned();
                        assert!(
                            current.is_some_and(|r| Arc::ptr_eq(&r, &seat.shared)),
                            "thread {t}, round {i}: joined a room the hub no longer has"
                        );
                        hub.leave(&seat);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!has_room(&hub, "race"));
    }
}
