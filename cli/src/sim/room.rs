//! Rooms and their members (PROTOCOL.md §3.2 records): the `k` and `i1` lines, per-connection
//! outboxes, guest nicks. The protocol handling that changes them is in [`super::hub`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// Unsent bytes a connection may have queued. A chunk queued while more than this is waiting is
/// refused and the connection is kicked; so is a chunk that alone costs more than this (an
/// answer the connection could not be sent within its budget even with nothing else queued).
/// One connection's queue therefore never holds more than twice this. A large answer that fits
/// (`chatList 100` is ~205 KB with the default limits) is always accepted when the client keeps
/// up.
pub const OUTBOX_BUDGET: usize = 4 << 20;
/// What each queued chunk is charged on top of its length (the `Bytes` handle and the channel
/// slot), so that many tiny chunks are bounded too.
pub const CHUNK_OVERHEAD: usize = 64;

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

/// Why a connection is made to close (see [`Outbox::kick`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kick {
    /// Banned from its room.
    Banned,
    /// More than [`OUTBOX_BUDGET`] queued unread when more had to be queued.
    Backlog,
    /// One chunk of this many bytes (an answer, or a line built from limits raised far above
    /// the defaults) costs more than [`OUTBOX_BUDGET`] on its own; it was not queued.
    TooLarge(usize),
}

impl std::fmt::Display for Kick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kick::Banned => f.write_str("banned"),
            Kick::Backlog => write!(
                f,
                "more than the outbox budget ({OUTBOX_BUDGET} bytes) unread"
            ),
            Kick::TooLarge(n) => write!(
                f,
                "{n} bytes to send at once, more than the outbox budget ({OUTBOX_BUDGET} bytes); \
                 not sent"
            ),
        }
    }
}

/// Where a member's outgoing bytes go, plus a way to make its connection close.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued and not yet taken by the writer (each chunk charged [`CHUNK_OVERHEAD`] more).
    queued: Arc<AtomicUsize>,
    /// Notified when the connection must close (banned, or too slow to read); the first reason
    /// is in `why`.
    pub kick: Arc<Notify>,
    why: Arc<Mutex<Option<Kick>>>,
    /// Every waiter is woken each time the writer takes a chunk (see [`Outbox::drained`]).
    taken: Arc<Notify>,
}

/// The receiving end of an [`Outbox`], drained by the connection's writer.
pub struct OutboxRx {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
    taken: Arc<Notify>,
}

impl OutboxRx {
    /// The next chunk; `None` once every [`Outbox`] clone is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let b = self.rx.recv().await?;
        self.taken(&b);
        Some(b)
    }

    /// The next chunk if one is queued.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let b = self.rx.try_recv().ok()?;
        self.taken(&b);
        Some(b)
    }

    fn taken(&self, b: &Bytes) {
        self.queued
            .fetch_sub(b.len() + CHUNK_OVERHEAD, Ordering::Relaxed);
        // Wakes the connection's reader if it waits in `drained` (cheap when nobody waits).
        self.taken.notify_waiters();
    }
}

impl Outbox {
    /// A new outbox and the receiving end the writer drains.
    pub fn new() -> (Outbox, OutboxRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(Notify::new());
        (
            Outbox {
                tx,
                queued: queued.clone(),
                kick: Arc::new(Notify::new()),
                why: Arc::new(Mutex::new(None)),
                taken: taken.clone(),
            },
            OutboxRx { rx, queued, taken },
        )
    }

    /// Queues bytes. When more than [`OUTBOX_BUDGET`] bytes are already waiting (the peer does
    /// not read), the bytes are dropped and the connection is kicked ([`Kick::Backlog`]).
    ///
    /// Bytes that alone cost more than the budget are dropped and the connection is kicked
    /// too ([`Kick::TooLarge`]), even with nothing queued: the sim does not hold more than its
    /// budget for one answer, and cutting the answer short would leave the client waiting for
    /// the rest of a `chatList` or for the empty `u` that ends a `userList`. With the default
    /// limits only a `userList` of thousands of members or a long `noticeList` gets there; a
    /// single chat line only with `--max-line` and `--max-field` raised to megabytes.
    pub fn send(&self, bytes: Bytes) {
        let cost = bytes.len() + CHUNK_OVERHEAD;
        if cost > OUTBOX_BUDGET {
            self.kick(Kick::TooLarge(bytes.len()));
            return;
        }
        // Charge first, so concurrent senders (several rooms' tasks) cannot all slip under the
        // budget together; undo when refused.
        let before = self.queued.fetch_add(cost, Ordering::Relaxed);
        if before > OUTBOX_BUDGET {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            self.kick(Kick::Backlog);
            return;
        }
        if self.tx.send(bytes).is_err() {
            // The writer is gone (connection closing): nothing will take these bytes.
            self.queued.fetch_sub(cost, Ordering::Relaxed);
        }
    }

    /// Makes the connection close: records `why` (unless a reason is already recorded) and
    /// wakes the connection's task.
    pub fn kick(&self, why: Kick) {
        lock(&self.why).get_or_insert(why);
        self.kick.notify_one();
    }

    /// The first reason the connection was kicked for.
    pub fn kicked_for(&self) -> Option<Kick> {
        *lock(&self.why)
    }

    /// Bytes queued and not yet taken by the writer (including the per-chunk charge).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Resolves once at most `level` bytes are queued. No timer: the writer wakes the wait each
    /// time it takes a chunk, and the level is checked again then. (Pending for good when the
    /// writer is gone with bytes still queued; the caller's other branches end that wait.)
    pub async fn drained(&self, level: usize) {
        loop {
            // Made before the check: `notify_waiters` reaches a `Notified` from its creation
            // on, so a take between the check and the await still wakes this one.
            let taken = self.taken.notified();
            if self.queued() <= level {
                return;
            }
            taken.await;
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
    /// Whether the member is muted at `now`; an expired timed mute is cleared.
    pub(super) fn muted(&mut self, now: Instant) -> bool {
        let muted = self.muted_at(now);
        if !muted {
            self.mute = Mute::No;
        }
        muted
    }

    fn muted_at(&self, now: Instant) -> bool {
        match self.mute {
            Mute::No => false,
            Mute::Forever => true,
            Mute::Until(t) => t > now,
        }
    }

    /// `k` line: PROTOCOL.md §3.2. The mute bit is the state now (a timed mute that has run
    /// out is 0 even before anything clears it).
    pub(super) fn k_line(&self) -> Line {
        let muted = self.muted_at(Instant::now());
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

/// One line of a room's chat log.
pub(super) struct Logged {
    /// The sender's key (unique to one stay in the room: a member who comes back gets another).
    pub(super) key: [u8; 8],
    /// The sender's `k` as it was when they chatted: replayed once they have left (see
    /// `Hub::chat_list`).
    pub(super) k: Bytes,
    /// The `m` line as relayed.
    pub(super) m: Bytes,
}

pub(super) struct Room {
    pub(super) spec: RoomSpec,
    pub(super) created: u64,
    pub(super) members: Vec<Member>,
    /// The chat log `chatList` replays, oldest first.
    pub(super) history: VecDeque<Logged>,
    pub(super) notices: Vec<String>,
    pub(super) banned: Vec<String>,
    /// Created by `--auto-rooms`: removed from the hub when its last member leaves.
    pub(super) auto: bool,
    /// Removed from the hub (an auto room that emptied); a join that still holds it looks again.
    pub(super) gone: bool,
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
            auto: false,
            gone: false,
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

#[cfg(test)]
mod tests {
    use std::future::Future;

    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn outbox_is_bounded_in_bytes_and_kicks_when_full() {
        let (out, mut rx) = Outbox::new();
        let chunk = Bytes::from(vec![b'x'; 200 * 1024]);
        let cost = chunk.len() + CHUNK_OVERHEAD;
        // Nobody drains: a few hundred large chunks (60 MB) are offered.
        for _ in 0..300 {
            out.send(chunk.clone());
            assert!(out.queued() <= OUTBOX_BUDGET + cost, "{}", out.queued());
        }
        assert!(out.queued() > OUTBOX_BUDGET);
        assert!(
            out.kick.notified().now_or_never().is_some(),
            "a full outbox kicks its connection"
        );
        assert_eq!(out.kicked_for(), Some(Kick::Backlog));
        // Draining gives the charge back exactly.
        let mut n = 0;
        while rx.try_recv().is_some() {
            n += 1;
        }
        assert_eq!(n, OUTBOX_BUDGET / cost + 1);
        assert_eq!(out.queued(), 0);
    }

    #[test]
    fn one_chunk_larger_than_the_budget_is_refused_even_with_nothing_queued() {
        let (out, mut rx) = Outbox::new();
        // The largest chunk that fits is accepted into an empty outbox…
        out.send(Bytes::from(vec![b'x'; OUTBOX_BUDGET - CHUNK_OVERHEAD]));
        assert_eq!(out.queued(), OUTBOX_BUDGET);
        assert!(out.kick.notified().now_or_never().is_none());
        assert_eq!(out.kicked_for(), None);
        assert!(rx.try_recv().is_some());
        // …one byte more is not: dropped, and the connection is kicked, saying why.
        out.send(Bytes::from(vec![b'x'; OUTBOX_BUDGET - CHUNK_OVERHEAD + 1]));
        assert_eq!(out.queued(), 0);
        assert!(rx.try_recv().is_none());
        assert!(out.kick.notified().now_or_never().is_some());
        let why = Kick::TooLarge(OUTBOX_BUDGET - CHUNK_OVERHEAD + 1);
        assert_eq!(out.kicked_for(), Some(why));
        // The first reason stays.
        out.kick(Kick::Banned);
        assert_eq!(out.kicked_for(), Some(why));
    }

    /// A waker that counts its wakes.
    struct Wakes(AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn drained_is_woken_by_the_writer_taking_chunks_not_by_a_timer() {
        // A current-thread runtime whose timers only run when it parks: the test never lets it
        // park, so only the writer's takes can wake the wait (a 5 ms poll, as before, cannot).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (out, mut rx) = Outbox::new();
            let chunk = Bytes::from(vec![b'x'; 100]);
            let cost = chunk.len() + CHUNK_OVERHEAD;
            for _ in 0..3 {
                out.send(chunk.clone());
            }
            let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
            let waker = std::task::Waker::from(wakes.clone());
            let mut cx = std::task::Context::from_waker(&waker);
            let mut wait = std::pin::pin!(out.drained(cost));
            assert!(wait.as_mut().poll(&mut cx).is_pending(), "3 chunks queued");
            let mut seen = 0;
            for left in [2, 1] {
                assert!(rx.try_recv().is_some());
                let now = wakes.0.load(Ordering::SeqCst);
                assert!(now > seen, "taking a chunk woke the wait ({left} left)");
                seen = now;
                let ready = wait.as_mut().poll(&mut cx).is_ready();
                assert_eq!(ready, left == 1, "{left} chunks left");
            }
            // Already at the level: ready at once.
            assert!(out.drained(cost).now_or_never().is_some());
        });
    }

    #[test]
    fn many_tiny_chunks_are_charged_their_overhead() {
        let (out, _rx) = Outbox::new();
        let cost = 2 + CHUNK_OVERHEAD;
        // Without the per-chunk charge, 2-byte chunks would take two million sends to kick.
        let sends = (0..OUTBOX_BUDGET / cost + 2)
            .position(|_| {
                out.send(Bytes::from_static(b"o\n"));
                out.kick.notified().now_or_never().is_some()
            })
            .expect("kicked");
        assert_eq!(sends, OUTBOX_BUDGET / cost + 1);
        assert!(out.queued() <= OUTBOX_BUDGET + cost);
    }
}
