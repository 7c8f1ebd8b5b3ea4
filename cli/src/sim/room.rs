//! Rooms and their members (PROTOCOL.md §3.2 records): the `k` and `i1` lines, per-connection
//! outboxes, guest nicks. The protocol handling that changes them is in [`super::hub`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Bytes;
use uchat_bot::codec::{encode_into, Field, Line};
use uchat_bot::message::{
    ErrorCode, Incoming, RoomFlags, RoomInfo, RoomMode, SystemCode, SystemMessage, UserKey,
    UserRecord,
};

use super::config::RoomSpec;

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
pub(super) fn enc(lines: &[Line]) -> Bytes {
    let mut out = Vec::with_capacity(64 * lines.len());
    for l in lines {
        let _ = encode_into(l, &mut out);
    }
    Bytes::from(out)
}

pub(super) fn err_line(code: ErrorCode) -> Line {
    Incoming::Error(code).to_line()
}

pub(super) fn sys_line(code: SystemCode, args: Vec<Field>) -> Line {
    Incoming::System(SystemMessage { code, args }).to_line()
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

    pub(super) fn send_lines(&self, lines: &[Line]) {
        self.send(enc(lines));
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Mute {
    No,
    Until(Instant),
    Forever,
}

pub(super) struct Member {
    pub(super) conn: ConnId,
    pub(super) key: [u8; 8],
    pub(super) session: [u8; 8],
    pub(super) nick: String,
    pub(super) uid: String,
    pub(super) level: Option<String>,
    pub(super) auth: i64,
    pub(super) icons: String,
    pub(super) nickcon: String,
    pub(super) profileimg: Option<String>,
    pub(super) joined_at: u64,
    pub(super) mute: Mute,
    pub(super) io: bool,
    /// Simulated crowd user: exempt from flood control.
    pub(super) bot: bool,
    pub(super) recent: VecDeque<Instant>,
    pub(super) last_text: String,
    pub(super) repeats: u32,
    pub(super) out: Outbox,
}

impl Member {
    pub(super) fn muted(&mut self, now: Instant) -> bool {
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
    pub(super) fn k_line(&self) -> Line {
        let muted = self.mute != Mute::No;
        Incoming::User(UserRecord {
            key: self.user_key(),
            nick: self.nick.clone(),
            id: self.uid.clone(),
            level: self.level.clone(),
            auth: self.auth,
            icons: self.icons.clone(),
            nickcon: self.nickcon.clone(),
            connected: self.joined_at as i64,
            mute: muted,
            mute_raw: i64::from(muted),
            session: self.session.to_vec(),
            profileimg: self.profileimg.clone(),
        })
        .to_line()
    }

    pub(super) fn user_key(&self) -> UserKey {
        UserKey(self.key.to_vec())
    }
}

pub(super) struct Room {
    pub(super) spec: RoomSpec,
    pub(super) created: u64,
    pub(super) members: Vec<Member>,
    /// (`k` of the sender at the time, `m` line) per chat line.
    pub(super) history: VecDeque<(Bytes, Bytes)>,
    pub(super) notices: Vec<String>,
    pub(super) banned: Vec<String>,
}

impl Room {
    pub(super) fn new(spec: RoomSpec) -> Room {
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

    pub(super) fn broadcast(&self, bytes: &Bytes, except: Option<ConnId>) {
        for m in &self.members {
            if Some(m.conn) != except {
                m.out.send(bytes.clone());
            }
        }
    }

    pub(super) fn index(&self, conn: ConnId) -> Option<usize> {
        self.members.iter().position(|m| m.conn == conn)
    }

    pub(super) fn by_nick(&self, nick: &str) -> Option<usize> {
        self.members.iter().position(|m| m.nick == nick)
    }

    /// `i1` (PROTOCOL.md §3.2): name, mode 0 (basic), created, function flags, server time.
    pub(super) fn i1_line(&self) -> Line {
        let flags = RoomFlags {
            io: true,
            message: true,
            call: true,
            whisper: true,
            ..RoomFlags::default()
        };
        Incoming::RoomInfo(RoomInfo {
            name: self
                .spec
                .title
                .clone()
                .unwrap_or_else(|| self.spec.name.clone()),
            mode: RoomMode::Basic,
            created: self.created as i64,
            flag_bytes: flags.to_bytes(),
            server_time: unix_now() as i64,
        })
        .to_line()
    }
}

/// Locks a mutex. A panic while holding the lock cannot leave a room half-updated in a way that
/// matters more than stopping the server would, so a poisoned lock keeps serving.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn random_bytes() -> [u8; 8] {
    fastrand::u64(..).to_le_bytes()
}

/// `손님` + four digits, unique in the room (PROTOCOL.md §4.1 step 5).
pub(super) fn guest_nick(room: &Room) -> String {
    for _ in 0..100 {
        let nick = format!("손님{}", fastrand::u32(1000..10_000));
        if room.by_nick(&nick).is_none() {
            return nick;
        }
    }
    format!("손님{}", fastrand::u64(10_000..u64::MAX))
}
