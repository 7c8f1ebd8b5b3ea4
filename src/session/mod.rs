//! The sans-IO bot session: join flow, user table, keepalive, reconnect policy, outgoing queue
//! and token bucket (docs/DESIGN.md "Layers"; docs/protocol/DECISIONS.md "Keepalive, reconnect,
//! rate").
//!
//! [`Session`] owns no socket and no clock. The caller (the host: the web layer in the browser,
//! a native bot, a test) feeds it what happened — [`Session::connect`], [`Session::on_open`],
//! [`Session::on_frame`], [`Session::on_close`], [`Session::on_timeout`], [`Session::send`],
//! [`Session::close`] — each with the current time ([Time](#time); for frames, also
//! [`Session::on_frame_with_clock`]: a clock read only if the frame needs the time), and then
//! drains what to do: [`Session::poll_action`] (open a socket, send bytes, close it),
//! [`Session::poll_event`] (events for the bot's user code) and [`Session::next_timeout`] (when
//! to call `on_timeout` again).
//!
//! # Driving a session
//!
//! The browser layer (`src/web/mod.rs`) is the reference host. A native host follows the same
//! rules:
//!
//! * **Drain until empty.** After every call into the session, carry out every [`Action`] of
//!   [`Session::poll_action`] in order and handle every [`Event`] of [`Session::poll_event`],
//!   and repeat until neither has anything: calls made while handling an event (a reply to a
//!   command, a `close()`) queue more actions. Only then wait: for the socket, or until
//!   [`Session::next_timeout`] (asked again after every input; it changes), and call
//!   [`Session::on_timeout`] once that time has come.
//! * **[`Action::Open`]**: drop the old socket if there is one (none of its events may reach the
//!   session any more) and open a WebSocket to the server's URL, which the host keeps (the
//!   session has none). Report [`Session::on_open`] when it opens, [`Session::on_frame`] for
//!   each message, [`Session::on_close`] when it closes or fails to connect, and
//!   [`Session::on_socket_error`] if it cannot even be created.
//! * **[`Action::Close`]**: close the socket, then **call [`Session::on_close`] yourself** with
//!   the action's code and reason, before carrying out the next action, and from then on
//!   deliver nothing more of that socket (no frame, not its own close). `on_close` does not
//!   say which socket closed: the session waits for exactly one report of the close it asked
//!   for and takes the next one as the *current* socket's. A host that does not report it
//!   leaves the session waiting, and the next real drop is taken for that report and ignored
//!   (the state stays [`State::Joined`] with no socket and nothing reconnects); a host that
//!   lets the old socket's close through as well (a reader task still running) makes it the
//!   new socket's: a `connect()` under way fails, or a joined bot reconnects for nothing.
//!
//! ## Example
//!
//! A host loop that answers `!ping`, with an in-memory server (made with this crate's encoder)
//! in place of the WebSocket and a clock that jumps to each timer instead of sleeping. A real
//! bot (over tungstenite, say) has the same loop: it opens and closes a real socket, reads the
//! real clock, and waits on the socket with a timeout at [`Session::next_timeout`]. `cargo
//! test` runs this example.
//!
//! ```
//! use std::collections::VecDeque;
//! use uchat_bot::codec::{encode, Decoder};
//! use uchat_bot::message::{ChatMessage, Command, Incoming, Outgoing, RoomInfo, RoomMode};
//! use uchat_bot::message::{Style, UserKey, UserRecord};
//! use uchat_bot::session::{Action, CommandOptions, Config, Event, Login, Session, State};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut config = Config::new("lobby");
//!     config.login = Login::Guest { nick: Some("bot".into()) };
//!     let mut session = Session::new(config)?;
//!     session.commands_mut().register("ping", CommandOptions::default())?;
//!
//!     // Unix-epoch ms. A real bot reads the clock for every call it makes:
//!     // `SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64`.
//!     let mut now: u64 = 1_700_000_000_000;
//!     let start = now;
//!     // In place of a WebSocket to the URL the host keeps, an in-memory server (below); `socket`
//!     // stands for the host's `Option<WebSocket>`.
//!     let mut server = FakeServer::default();
//!     let mut socket = false;
//!     let mut log = Vec::new();
//!
//!     session.connect(now);
//!     loop {
//!         // 1. Carry out every action and handle every event until there are none: handling
//!         //    an event may queue more (a reply's `Send`, `close()`'s `Close`).
//!         let mut busy = false;
//!         while let Some(action) = session.poll_action() {
//!             busy = true;
//!             match action {
//!                 Action::Open => {
//!                     // Drop the old socket if any (nothing of it may reach the session now) and
//!                     // open one. A real host calls `on_open` once it has opened, or `on_close`
//!                     // (1006) if the handshake fails.
//!                     server.accept();
//!                     socket = true;
//!                     session.on_open(now);
//!                 }
//!                 Action::Send(bytes) => {
//!                     if socket {
//!                         server.receive(now, &bytes);
//!                     }
//!                 }
//!                 Action::Close { code, reason, .. } => {
//!                     if socket {
//!                         server.hang_up(); // a real host sends its close frame here
//!                         socket = false;
//!                     }
//!                     // Report the close yourself, and deliver nothing more of that socket.
//!                     session.on_close(now, code, &reason);
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         while let Some(event) = session.poll_event() {
//!             busy = true;
//!             match event {
//!                 Event::Joined { my, .. } => {
//!                     log.push(format!("joined as {}", my.nick));
//!                     if log.iter().filter(|l| l.starts_with("joined")).count() == 2 {
//!                         session.close(now); // enough: leave after the second join
//!                     }
//!                 }
//!                 Event::Command(c) if c.name == "ping" => {
//!                     log.push(format!("!ping from {}", c.user.nick));
//!                     session.send_chat(now, &Style::plain(), "pong")?; // queues a Send
//!                 }
//!                 Event::Message { user, content, history: false, .. } => {
//!                     log.push(format!("{}: {content}", user.nick));
//!                 }
//!                 Event::Disconnect { code, will_reconnect, .. } => {
//!                     log.push(format!("disconnect {code}, reconnect: {will_reconnect}"));
//!                 }
//!                 Event::Reconnecting { attempt, .. } => {
//!                     log.push(format!("reconnect #{attempt}"));
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         if busy {
//!             continue;
//!         }
//!         if session.state() == State::Closed {
//!             break;
//!         }
//!         // 2. Wait for the socket or until the next timer, whichever comes first. (The fake
//!         //    server's frames are there at once; with nothing to read, time jumps to the timer.)
//!         match if socket { server.read() } else { None } {
//!             Some(Read::Frame(frame)) => session.on_frame(now, &frame),
//!             Some(Read::Closed) => {
//!                 socket = false;
//!                 session.on_close(now, 1006, ""); // 1006: closed without a close frame
//!             }
//!             None => match session.next_timeout(now) {
//!                 Some(at) => {
//!                     now = now.max(at);
//!                     session.on_timeout(now); // a keepalive, a reconnect, a join timeout…
//!                 }
//!                 None => break, // nothing can happen any more
//!             },
//!         }
//!     }
//!     assert_eq!(
//!         log,
//!         [
//!             "joined as bot",
//!             "!ping from alice",
//!             "alice: !ping",
//!             "bot: pong",
//!             "disconnect 1006, reconnect: true",
//!             "reconnect #1",
//!             "joined as bot",
//!             "disconnect 1000, reconnect: false",
//!         ]
//!     );
//!     // No timer ran but the reconnect's (its delay is at most 1 s): the reply went out at once.
//!     assert!(now - start <= 1_000);
//!     Ok(())
//! }
//!
//! enum Read {
//!     Frame(Vec<u8>),
//!     Closed,
//! }
//!
//! /// An in-memory UChat server in place of the WebSocket, with the crate's own encoder. Alice is
//! /// in the room and says `!ping` after the bot's first join; the server drops the connection
//! /// after the bot's first chat line.
//! #[derive(Default)]
//! struct FakeServer {
//!     /// Frames for the bot on the current connection.
//!     inbox: VecDeque<Vec<u8>>,
//!     /// The server closes the connection once the inbox is empty.
//!     closing: bool,
//!     joins: u32,
//!     lines: u32,
//! }
//!
//! impl FakeServer {
//!     fn accept(&mut self) {
//!         (self.inbox, self.closing) = (VecDeque::new(), false);
//!     }
//!
//!     fn hang_up(&mut self) {
//!         self.inbox.clear();
//!     }
//!
//!     /// What the bot's socket reads next; `None`: nothing for now.
//!     fn read(&mut self) -> Option<Read> {
//!         match self.inbox.pop_front() {
//!             Some(frame) => Some(Read::Frame(frame)),
//!             None if self.closing => Some(Read::Closed),
//!             None => None,
//!         }
//!     }
//!
//!     fn send(&mut self, lines: &[Incoming]) {
//!         let frame = lines.iter().flat_map(|m| encode(&m.to_line()).unwrap());
//!         self.inbox.push_back(frame.collect());
//!     }
//!
//!     /// A message from the bot.
//!     fn receive(&mut self, now: u64, bytes: &[u8]) {
//!         let (me, alice) = (UserKey(vec![1; 8]), UserKey(vec![2; 8]));
//!         let user = |key: &UserKey, nick: &str| {
//!             let record = UserRecord { nick: nick.into(), ..UserRecord::unknown(key.clone()) };
//!             Incoming::User(record)
//!         };
//!         let time = Some((now / 1000) as i64);
//!         let chat = |from: &UserKey, text: &str| {
//!             let (from, style, text) = (from.clone(), String::new(), text.into());
//!             Incoming::Message(ChatMessage { from, style, text, time })
//!         };
//!         for line in Decoder::new().feed(bytes) {
//!             match Outgoing::from_line(line.unwrap()).unwrap() {
//!                 Outgoing::Join(_) => {
//!                     self.joins += 1;
//!                     let room = RoomInfo {
//!                         name: "Lobby".into(),
//!                         mode: RoomMode::Basic,
//!                         created: 0,
//!                         flag_bytes: vec![],
//!                         server_time: (now / 1000) as i64,
//!                     };
//!                     let i2 = Incoming::MyKey(me.clone()); // "you are in, with this key"
//!                     self.send(&[Incoming::RoomInfo(room), user(&me, "bot"), i2]);
//!                 }
//!                 Outgoing::Command(Command::UserList { .. }) => {
//!                     self.send(&[
//!                         user(&alice, "alice"),
//!                         Incoming::UserListEntry(Some(me.clone())),
//!                         Incoming::UserListEntry(Some(alice.clone())),
//!                         Incoming::UserListEntry(None),
//!                     ]);
//!                     if self.joins == 1 {
//!                         self.send(&[chat(&alice, "!ping")]);
//!                     }
//!                 }
//!                 Outgoing::Chat { text, .. } => {
//!                     self.send(&[chat(&me, &text)]); // the server echoes chat to its sender
//!                     self.lines += 1;
//!                     self.closing = self.lines == 1;
//!                 }
//!                 _ => {} // the join burst's other commands, keepalive, disconnect
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! # Time
//!
//! Every `now_ms` is the wall-clock time in **milliseconds since the Unix epoch** (as
//! `Date.now()` in the browser; natively
//! `SystemTime::now().duration_since(UNIX_EPOCH)`), and so is every deadline the session
//! hands back ([`Session::next_timeout`]). A token login hashes this time into its join
//! (`user_data`'s `time`, in seconds): the server refuses a time far from its own (ERR 205),
//! and chat lines that come without a server time are stamped from it. A monotonic clock
//! (`Instant`, time since the program started) is not enough.
//!
//! # Threads
//!
//! [`Session`], [`Event`] and [`CommandTrigger`] are neither `Send` nor `Sync`: events share
//! the user table's records through `Rc<UserRecord>` (cheaper than `Arc` on the hot path,
//! docs/PERFORMANCE.md). Keep a session and its events on one thread. Under tokio, drive it
//! from one task that is not spawned with `tokio::spawn`: a `spawn_local` task in a
//! `tokio::task::LocalSet`, or the bot's loop awaited directly (in `#[tokio::main]`, or
//! `block_on`); other tasks talk to it through channels, sending owned data (`String`s, not
//! `Event`s). [`Config`] is `Send`, so a session can be built on the thread that runs it.
//!
//! # Decisions
//!
//! Where the protocol documents are silent (also in README "Behaviour"):
//! * `connect()` succeeds at `i2` or fails: an `ERR` before `i2`, or a socket that closes before
//!   the first join, ends the attempt with [`Event::JoinFailed`] and no automatic retry — the
//!   caller learns at once that the configuration is wrong or the server unreachable. Once the
//!   bot has joined, a dropped connection is retried with backoff and the room re-joined.
//! * After a join the bot sends the reference client's burst `userList 10000 ''`, `io true`,
//!   `chatList 15`, `noticeList` (configurable), outside the rate limit, like uchat.js.
//! * All lines a user asks to send (chat, whisper, commands, plugin) pass the token bucket; join,
//!   keepalive and disconnect lines bypass it.

mod commands;
mod policy;
#[doc(hidden)]
pub mod tape;
use tape::Tape;
mod users;

pub use commands::{CommandOptions, CommandRouter, CommandTrigger};
pub use policy::{RateLimit, ReconnectPolicy, Rng, TokenBucket};
pub(crate) use users::FxMap;
pub use users::UserTable;

use crate::codec::{encode, Decoder, Field, Line, DEFAULT_MAX_LINE};
use crate::message::{
    Command, Control, ErrorCode, Incoming, Outgoing, PluginMessage, RoomInfo, Style, SystemCode,
    UserKey, UserRecord,
};
use crate::token::{build_user_data, join_line, random_session, UserData, UserFields};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

/// The local time of one input, in ms since the epoch: given, or read from the caller's clock
/// the first time the input needs it, and then the same for the rest of the input. Most
/// frames need no time (chat lines carry their own), and in the browser a clock reading is a
/// `Date.now` call per frame (docs/PERFORMANCE.md "Session 17"), so the web layer hands frames
/// in with a lazy clock; everything else passes the time it has.
#[derive(Clone, Copy)]
pub(crate) enum Clock<'a> {
    /// This time.
    Fixed(u64),
    /// Read with the function on first use, kept in the cell.
    Lazy(&'a Cell<Option<u64>>, &'a dyn Fn() -> u64),
}

impl Clock<'_> {
    /// The time (reads the clock if it has not been read yet). Not inlined: it is asked for in
    /// many places, rarely per frame, and each inlined copy would add to the wasm.
    #[inline(never)]
    pub(crate) fn ms(self) -> u64 {
        match self {
            Clock::Fixed(ms) => ms,
            Clock::Lazy(cell, read) => cell.get().unwrap_or_else(|| {
                let ms = read();
                cell.set(Some(ms));
                ms
            }),
        }
    }
}

/// How the bot identifies itself when joining (DECISIONS.md "Joining" 1).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Login {
    /// No user data: a guest, optionally with a nick (the server may assign `손님1234`).
    Guest {
        /// Requested nick.
        nick: Option<String>,
    },
    /// A site-made `user_data` string, forwarded exactly like the browser does.
    UserData(String),
    /// The room secret: the SDK builds `user_data` itself at every join (fresh `time`).
    /// The token never leaves the session and is never printed (`Debug` hides it).
    Token {
        /// The room token (secret).
        token: String,
        /// The member fields hashed with it.
        fields: UserFields,
    },
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::Guest { nick } => f.debug_struct("Guest").field("nick", nick).finish(),
            Login::UserData(ud) => f.debug_tuple("UserData").field(ud).finish(),
            Login::Token { fields, .. } => f
                .debug_struct("Token")
                .field("token", &"<secret>")
                .field("fields", fields)
                .finish(),
        }
    }
}

/// Everything a [`Session`] needs to know up front. Not the server's URL: the host keeps it
/// and opens it at each [`Action::Open`].
///
/// `Debug` hides the secrets: the room token (in [`Login::Token`]) and the room password
/// print as `"<secret>"`.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Room id (the `room` attribute of `<u-chat>`).
    pub room: String,
    /// How to authenticate.
    pub login: Login,
    /// Room access password (ERR 701 / 208), if the room has one.
    pub password: Option<String>,
    /// The 32-character client session; when `None`, made from [`Config::seed`] (so random
    /// with [`Config::new`]'s seed natively).
    pub session: Option<String>,
    /// Keepalive interval; 0 disables keepalive. Default 60 000 (uchat.js `heartbeat = 60`).
    pub heartbeat_ms: u64,
    /// Longest wait from opening a socket to the join (`i2` or a refusal), handshake included;
    /// 0 waits for ever, as uchat.js does. Default 20 000. A connection that takes longer is
    /// closed and counts as failed: `connect()` rejects with `timeout`, or, after a join, the
    /// reconnect policy makes another attempt.
    pub join_timeout_ms: u64,
    /// Reconnect policy after a drop; `None` disables reconnecting.
    pub reconnect: Option<ReconnectPolicy>,
    /// Outgoing rate limit; `None` disables it.
    pub rate_limit: Option<RateLimit>,
    /// Lines kept while not joined; when full the oldest is dropped with an event. Default 100.
    pub queue_limit: usize,
    /// Send the reference client's post-join burst (user list, io, chat log, notices).
    pub join_commands: bool,
    /// Longest accepted incoming line in bytes (default [`DEFAULT_MAX_LINE`], 1 MiB); a longer
    /// line is an `'error'` event and skipped. At least [`MIN_MAX_LINE`]: [`Session::new`]
    /// refuses less, which would refuse the join's own lines.
    pub max_line: usize,
    /// Seed for the reconnect jitter, the client session (when [`Config::session`] is `None`)
    /// and the hash that tells chat-log replays from live lines. [`Config::new`] draws a
    /// random one natively (from std's `RandomState`, whose keys the OS provides), so two bots
    /// get different sessions and do not reconnect in step; on wasm32 it is a fixed value,
    /// which the browser layer replaces with its own random seed. Set it for reproducible runs
    /// (tests).
    pub seed: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field by name, so that a new one cannot be left out of the output unnoticed.
        let Config {
            room,
            login,
            password,
            session,
            heartbeat_ms,
            join_timeout_ms,
            reconnect,
            rate_limit,
            queue_limit,
            join_commands,
            max_line,
            seed,
        } = self;
        f.debug_struct("Config")
            .field("room", room)
            .field("login", login)
            .field("password", &password.as_ref().map(|_| "<secret>"))
            .field("session", session)
            .field("heartbeat_ms", heartbeat_ms)
            .field("join_timeout_ms", join_timeout_ms)
            .field("reconnect", reconnect)
            .field("rate_limit", rate_limit)
            .field("queue_limit", queue_limit)
            .field("join_commands", join_commands)
            .field("max_line", max_line)
            .field("seed", seed)
            .finish()
    }
}

/// [`Config::seed`]'s default: random natively, from std's `RandomState` (OS randomness once
/// per thread, a different key for every call), so no dependency is needed.
#[cfg(not(target_arch = "wasm32"))]
fn default_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

/// [`Config::seed`]'s default on wasm32: fixed. wasm32-unknown-unknown has no OS randomness
/// for std (and `SystemTime::now` panics there); the browser layer passes its own random seed.
#[cfg(target_arch = "wasm32")]
fn default_seed() -> u64 {
    0x5eed
}

impl Config {
    /// A guest configuration for `room` with all defaults, and natively a random
    /// [`Config::seed`].
    pub fn new(room: impl Into<String>) -> Config {
        Config {
            room: room.into(),
            login: Login::Guest { nick: None },
            password: None,
            session: None,
            heartbeat_ms: 60_000,
            join_timeout_ms: 20_000,
            reconnect: Some(ReconnectPolicy::default()),
            rate_limit: Some(RateLimit::default()),
            queue_limit: 100,
            join_commands: true,
            max_line: DEFAULT_MAX_LINE,
            seed: default_seed(),
        }
    }
}

/// Connection state as seen by user code (`bot.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Created, `connect()` not called yet.
    Idle,
    /// Opening the WebSocket.
    Connecting,
    /// Socket open, `j` sent, waiting for `i2`.
    Joining,
    /// In the room.
    Joined,
    /// Waiting to reconnect after a drop.
    Reconnecting,
    /// Closed by the user, by a fatal error, or after the retries ran out.
    Closed,
}

impl State {
    /// The JS name (`'idle'`, `'connecting'`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connecting => "connecting",
            State::Joining => "joining",
            State::Joined => "joined",
            State::Reconnecting => "reconnecting",
            State::Closed => "closed",
        }
    }
}

/// An error for user code: a code (ERR number or a string code), a name and an English message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The ERR number, or `None` for SDK-side errors (then [`ErrorInfo::kind`] says what).
    pub code: Option<i64>,
    /// Short machine name: the ERR name (`wrong_password`) or an SDK code (`handshake`,
    /// `websocket`, `decode`, `message`, `too_many_errors`, `queue_full`, `closed`, `config`, `timeout`,
    /// `not_present` from a whispered command's `reply` after the sender left).
    pub name: String,
    /// What happened and what to do, in English.
    pub message: String,
}

impl ErrorInfo {
    fn sdk(name: &str, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            code: None,
            name: name.to_owned(),
            message: message.into(),
        }
    }

    fn server(code: &ErrorCode) -> ErrorInfo {
        ErrorInfo {
            code: Some(code.code()),
            name: code.name().to_owned(),
            message: format!("UChat error {}: {}", code.code(), code.meaning()),
        }
    }

    /// The code as user code sees it: the number, or the name for SDK errors.
    pub fn kind(&self) -> String {
        self.code
            .map_or_else(|| self.name.clone(), |c| c.to_string())
    }
}

/// The message alone ([`ErrorInfo::message`]: a server error's reads `UChat error 208: …`);
/// the code and name are in their fields.
impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// So `?` turns it into `Box<dyn Error>` (or `anyhow::Error`).
impl std::error::Error for ErrorInfo {}

/// Something for the bot's user code (the JS event names in brackets).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `'state'`.
    State(State),
    /// `'join'`: `i2` arrived; `connect()` resolves.
    #[non_exhaustive]
    Joined {
        /// My user record.
        my: Rc<UserRecord>,
        /// Room info from `i1` (default if the server sent none).
        room: RoomInfo,
    },
    /// A `connect()` ends without a join: its attempt failed (an `ERR` or a socket that
    /// closed before `i2`; a `connect()` is never retried automatically), or the session
    /// closed while it waited. `connect()` rejects with this. One per `connect()` that did not
    /// end in [`Event::Joined`] (calls that wait together share it).
    JoinFailed(ErrorInfo),
    /// `'message'`.
    #[non_exhaustive]
    Message {
        /// Sender (a record with only the key if the server never defined it), shared with the
        /// user table.
        user: Rc<UserRecord>,
        /// Parsed style (plain if the style text was malformed; an `'error'` event says so).
        style: Style,
        /// Text.
        content: String,
        /// Server time in ms since the epoch (local server-corrected time if absent).
        time_ms: f64,
        /// Sent by this bot.
        is_self: bool,
        /// A chat-log replay, not a live line: the answer to the `chatList` the session sends
        /// after every join (and to one the bot sends itself). Commands never fire for
        /// history, so a reconnect does not run old `!commands` again. A replay carries
        /// nothing but its server time, in whole seconds, so the session decides by time and
        /// by what it has seen (README "History", docs/DESIGN.md "History flag"):
        /// * a line stamped before this connection's join (`i1`'s server second) is history;
        /// * a line of the join's own second is live, unless the bot saw that line (sender,
        ///   text and second) live before a quick reconnect; so a line of that second sent
        ///   while the bot was away, or before it joined, counts as live and runs its command;
        /// * while a `chatList` answer may still come (until live lines are stamped more than
        ///   10 s after the request), a line older than the newest live line is history, and
        ///   so is one of the newest second that repeats one of the last 128 lines seen live
        ///   (same sender, text and second): a user's identical line sent twice in one second
        ///   then counts as a replay, since on the wire the two look the same.
        history: bool,
    },
    /// `'whisper'`.
    #[non_exhaustive]
    Whisper {
        /// Sender.
        from: Rc<UserRecord>,
        /// Recipient.
        to: Rc<UserRecord>,
        /// Style.
        style: Style,
        /// Text.
        content: String,
        /// Server time in ms since the epoch.
        time_ms: f64,
        /// Sent by this bot (the server echoes whispers to their sender).
        is_self: bool,
    },
    /// `'system'`.
    #[non_exhaustive]
    System {
        /// The code.
        code: SystemCode,
        /// Its arguments.
        args: Vec<Field>,
    },
    /// `'user.join'`.
    UserJoin(Rc<UserRecord>),
    /// `'user.quit'`: the leaving user's record (shared, as in the other user events).
    UserQuit(Rc<UserRecord>),
    /// `'user.count'`.
    UserCount(i64),
    /// `'user.list'`.
    UserList(Vec<Rc<UserRecord>>),
    /// `'user.modi'`.
    #[non_exhaustive]
    UserModi {
        /// Nick of the changed user (before the change).
        target: String,
        /// Changed values.
        changed: Vec<(String, Field)>,
    },
    /// `'update'`: room info changes.
    Update(Vec<(String, Field)>),
    /// `'error'`.
    Error(ErrorInfo),
    /// `'control'`.
    Control(Control),
    /// `'plugin'`.
    #[non_exhaustive]
    Plugin {
        /// Sender.
        user: Rc<UserRecord>,
        /// The message.
        message: PluginMessage,
    },
    /// `'disconnect'`.
    #[non_exhaustive]
    Disconnect {
        /// WebSocket close code (1000 for a local close).
        code: u16,
        /// Close reason.
        reason: String,
        /// A reconnect is scheduled.
        will_reconnect: bool,
    },
    /// `'reconnecting'`.
    #[non_exhaustive]
    Reconnecting {
        /// 1-based attempt number.
        attempt: u32,
        /// Delay before the attempt.
        delay_ms: u64,
    },
    /// `'raw'`: every decoded line (only when [`Session::set_raw_events`] is on).
    Raw(Line),
    /// A registered chat command matched (see [`CommandRouter`]).
    Command(CommandTrigger),
}

/// Something the I/O layer (the host) must do, in the order [`Session::poll_action`] gives
/// them (module docs, "Driving a session").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Open a new WebSocket to the server. The host keeps the URL (the session and its
    /// [`Config`] have none; the browser layer takes it from the `url` option). Drop the old
    /// socket first if there is one, and deliver none of its events from then on. Report the
    /// new one's opening with [`Session::on_open`], its messages with [`Session::on_frame`],
    /// its close or a failed handshake with [`Session::on_close`], and a socket that cannot
    /// even be created with [`Session::on_socket_error`].
    Open,
    /// Send these bytes as one binary message on the open socket.
    Send(Vec<u8>),
    /// Close the socket with this code and reason, **then call [`Session::on_close`] with the
    /// same code and reason yourself**, before the next action, and deliver nothing more of
    /// that socket (no frame, not the close event it fires later). The session waits for that
    /// one report: without it, the next real close (a drop of the next socket) is taken for
    /// it and ignored, so the session stays [`State::Joined`] with no socket; and a late close
    /// of the old socket let through after the report is taken for the current socket's (a
    /// `connect()` under way fails). The browser layer detaches the socket's handlers and
    /// reports the close itself in the same way.
    #[non_exhaustive]
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// A chat line's style on the tape's fast path: the slot of a style text the tape has seen
/// ([`Tape::wire_style`]), or a text seen for the first time (valid UTF-8, to be parsed).
#[derive(Clone, Copy)]
enum WireStyle<'a> {
    Slot(f64),
    New(&'a str),
}

/// See [`Session::chat_meta`].
struct ChatMeta {
    user: Rc<UserRecord>,
    is_self: bool,
    time_ms: f64,
    history: bool,
    /// Boxed: a trigger is rare and 288 bytes (it holds a `UserRecord`); unboxed, every chat
    /// line paid for copying it out of `chat_meta` (a 288-byte `rep movsb` natively).
    trigger: Option<Box<CommandTrigger>>,
}

/// Most fields (after the key) of a chat line on the fast path: `w` with a time has five.
const MAX_FAST_FIELDS: usize = 5;

/// Most fields (after the key) of a `k` line on the fast path: ten, and a profile image.
const MAX_RECORD_FIELDS: usize = 11;

/// Most fields (after the key) of an `s` line on the fast path: the code and seven arguments
/// (the system codes of PROTOCOL.md §3.3 have at most six).
const MAX_SYSTEM_FIELDS: usize = 8;

/// Fields of a line split by [`split_fast`]: type byte and byte range.
type Spans<const N: usize> = [(u8, usize, usize); N];

/// The record of a `k` line split by [`split_fast`] (see [`Session::fast_record`]), or `None`
/// for anything the general path must judge. Plain functions, not closures of `Option`
/// adapters: the size build kept those as calls, a few per field (docs/PERFORMANCE.md
/// "Session 16").
fn fast_record_of(f: &[(u8, usize, usize)], buf: &[u8]) -> Option<UserRecord> {
    use crate::codec::{decode_number, TYPE_BIN, TYPE_NUM, TYPE_STR, TYPE_UNDEF};
    type Spans<'s> = &'s [(u8, usize, usize)];
    #[inline(always)]
    fn field<'b>(f: Spans<'_>, buf: &'b [u8], i: usize) -> Option<(u8, &'b [u8])> {
        match f.get(i) {
            Some(&(ty, a, b)) => Some((ty, buf.get(a..b)?)),
            None => None,
        }
    }
    fn binary(f: Spans<'_>, buf: &[u8], i: usize) -> Option<Vec<u8>> {
        match field(f, buf, i)? {
            (TYPE_BIN, b) => Some(b.to_vec()),
            _ => None,
        }
    }
    fn number(f: Spans<'_>, buf: &[u8], i: usize) -> Option<i64> {
        match field(f, buf, i)? {
            (TYPE_NUM, b) => decode_number(b).ok(),
            _ => None,
        }
    }
    /// A string, or `undefined` as `Some(None)`.
    fn opt_string(f: Spans<'_>, buf: &[u8], i: usize) -> Option<Option<String>> {
        match field(f, buf, i)? {
            (TYPE_STR, b) => match std::str::from_utf8(b) {
                Ok(s) => Some(Some(s.to_owned())),
                Err(_) => None,
            },
            (TYPE_UNDEF, _) => Some(None),
            _ => None,
        }
    }
    let profileimg = match f.len() {
        10 => None,
        11 => opt_string(f, buf, 10)?,
        _ => return None,
    };
    let mute_raw = number(f, buf, 8)?;
    Some(UserRecord {
        key: UserKey(binary(f, buf, 0)?),
        // A string only: `undefined` is refused like any other type.
        nick: opt_string(f, buf, 1)??,
        id: opt_string(f, buf, 2)?.unwrap_or_default(),
        level: opt_string(f, buf, 3)?,
        auth: number(f, buf, 4)?,
        icons: opt_string(f, buf, 5)?.unwrap_or_default(),
        nickcon: opt_string(f, buf, 6)?.unwrap_or_default(),
        connected: number(f, buf, 7)?,
        mute: mute_raw & 1 != 0,
        mute_raw,
        session: binary(f, buf, 9)?,
        profileimg,
    })
}

/// Splits the raw line `raw` (as received, still escaped; `raw[0]` is a one-byte key and
/// `raw[1]` the first type byte) into its fields, undoing both escaping layers in one pass
/// (PROTOCOL.md §2.1–2.2: `\`+LF is LF; `\`+`\` or `\`+type byte is that byte; `\`+any
/// other byte keeps both; a trailing lone `\` is dropped). `escaped`: whether `raw` may hold
/// an escape byte (the splitter knows). The ranges index `raw` itself when it has none, else
/// `scratch`, which is returned with the count. `None` for more than `N` fields.
fn split_fast<'a, const N: usize>(
    raw: &'a [u8],
    escaped: bool,
    scratch: &'a mut Vec<u8>,
    out: &mut Spans<N>,
) -> Option<(usize, &'a [u8])> {
    use crate::codec::{is_type_byte as is_type, ESCAPE};
    if !escaped {
        return split_plain(raw, out).map(|n| (n, raw));
    }
    let (mut n, mut ty) = (0, raw[1]);
    // Unescaping only shrinks: room for `raw.len()` bytes (the buffer only grows: no fill per
    // line), written by index (no call per byte).
    crate::codec::grow_to(scratch, raw.len());
    // Index a slice, not the Vec: in the "z" build `Vec` indexing is a call per byte.
    let buf = &mut scratch[..];
    let (mut start, mut o, mut i) = (0, 0, 2);
    while i < raw.len() {
        // A chunk at a time (crate::scan) while none of its bytes is a type byte or an escape:
        // the whole chunk is copied (`o + CHUNK <= i + CHUNK <= buf.len()`, as `o <= i`) and
        // the plain bytes at its start counted; what follows them is written over later.
        let rest = buf.get_mut(o..).unwrap_or_default();
        if let Some(skip) = crate::scan::copy_unescape_plain(raw, i, rest) {
            o += skip;
            i += skip;
            if skip == crate::scan::CHUNK {
                continue;
            }
        }
        let b = raw[i];
        if b == ESCAPE {
            match raw.get(i + 1) {
                None => {}
                Some(&c) if c == b'\n' || c == ESCAPE || is_type(c) => {
                    buf[o] = c;
                    o += 1;
                }
                Some(&c) => {
                    buf[o] = ESCAPE;
                    buf[o + 1] = c;
                    o += 2;
                }
            }
            i += 2;
            continue;
        }
        if is_type(b) {
            *out.get_mut(n)? = (ty, start, o);
            n += 1;
            ty = b;
            start = o;
        } else {
            buf[o] = b;
            o += 1;
        }
        i += 1;
    }
    *out.get_mut(n)? = (ty, start, o);
    Some((n + 1, &scratch[..o]))
}

/// [`split_fast`] for a line without escape bytes: the ranges index `raw`. One copy for every
/// line kind (a slice, not an array per kind: +346 B of wasm for three copies). `None` for more
/// fields than `out` holds.
fn split_plain(raw: &[u8], out: &mut [(u8, usize, usize)]) -> Option<usize> {
    use crate::codec::is_type_byte as is_type;
    use crate::scan::{field_mask, CHUNK};
    // A chunk at a time (crate::scan): the bitmask of its bytes below 8 (type bytes are
    // 2..=7), each visited in turn, so a chunk with several field ends is scanned once.
    // The line's last, partial chunk is its last CHUNK bytes, overlapping what was scanned
    // (those bits cleared), so no line of a chunk or more goes byte by byte; a shorter one
    // makes its mask byte by byte. Plain index loops (see `codec::find_line_end`).
    let (end, mut n, mut ty, mut start, mut i) = (raw.len(), 0, raw[1], 2, 2);
    while i < end {
        let (at, mut mask) = match field_mask(raw, i) {
            Some(mask) => (i, mask),
            None => match end.checked_sub(CHUNK) {
                // `j < i`: the chunk at `i` was short.
                Some(j) => match field_mask(raw, j) {
                    Some(mask) => (j, mask >> (i - j) << (i - j)),
                    None => return None, // unreachable: `j + CHUNK == end`
                },
                None => {
                    let mut mask = 0u32;
                    let mut k = i;
                    while k < end {
                        mask |= u32::from(raw[k] < 8) << (k - i);
                        k += 1;
                    }
                    (i, mask)
                }
            },
        };
        while mask != 0 {
            let k = at + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let b = raw[k];
            if is_type(b) {
                *out.get_mut(n)? = (ty, start, k);
                n += 1;
                ty = b;
                start = k + 1;
            }
        }
        i = at + CHUNK;
    }
    *out.get_mut(n)? = (ty, start, end);
    Some(n + 1)
}

/// Error codes after which retrying cannot help (DECISIONS.md "Keepalive, reconnect, rate" 2),
/// before or after the join. Plus 405 ("connected elsewhere", docs/DESIGN.md "Decisions"): the
/// same user joined from another connection, and re-joining would close that one (406), whose
/// client may re-join in turn: two tabs running the same userscript bot would take turns
/// closing each other for ever.
fn is_fatal(code: i64) -> bool {
    matches!(
        code,
        202 | 203 | 205 | 208 | 210 | 305 | 405 | 408 | 415 | 419 | 701
    )
}

/// The smallest [`Config::max_line`] that [`Session::new`] accepts, in bytes. A `k` user record
/// or a chat line is well under it; with a limit of a few bytes every line would be an error
/// and a join would never complete.
pub const MIN_MAX_LINE: usize = 4096;

/// The hint for a socket that failed before it opened (DECISIONS.md "Keepalive, reconnect, rate" 4).
#[doc(hidden)]
pub const HANDSHAKE_HINT: &str = "The WebSocket handshake failed: nothing answered at the URL \
    (is the server running, e.g. `uchat sim` on that port?), or something between you and it \
    answered the upgrade with a plain HTTP page. Some ISPs and proxies intercept plain ws:// \
    connections this way; for uchat.io use wss:// (the default wss://sp-worker.uchat.io).";

/// A chat line that ran a command: server time (s) and whether it was only estimated (the line
/// had no time of its own), the connection it came on, sender key, text.
type FiredLine = (i64, bool, u32, Box<[u8]>, Box<[u8]>);

/// At most this many `'error'` events for the lines of one frame (one WebSocket message): the
/// rest are counted and reported as one `too_many_errors` error after the frame. Without a cap
/// a server could make the SDK hold an event with its message text (~260 bytes) for every
/// 2-byte bad line of a message until the message is handled: a 34 MB message filled the
/// 4 GiB of a wasm32 module's memory and ended every bot of the page (`unreachable`).
#[doc(hidden)]
pub const FRAME_ERRORS: u32 = 16;

/// How long after a `chatList` its answer is waited for ([`SeenChat`]), in server seconds as the
/// live lines' times tell (no clock is read for it).
const CHAT_LOG_WAIT_S: i64 = 10;

/// Most lines whose command waits for the user list after a join (`Session::deferred`).
const DEFERRED_MAX: usize = 64;

/// How long deferred commands wait for the user list after a join before they run with what is
/// known of their senders (ms).
const LIST_WAIT_MS: u64 = 5_000;

/// How many of the latest live chat lines [`SeenChat`] remembers.
const SEEN_LINES: usize = 128;

/// The latest chat lines seen live (on this connection and the ones before), as far as needed
/// to tell a `chatList` replay of them from new lines, while an answer may come: from a
/// `chatList` going out until live lines stamped [`CHAT_LOG_WAIT_S`] later show that it has
/// come. A replay carries
/// nothing but its time, in whole seconds, and the server stamps lines in the order it relays
/// them, so then a line older than the newest live one is a replay. A line of the newest
/// second (or, if live lines come without a time, of any second) is a replay if it repeats a
/// remembered line — same sender, same text (by a hash seeded per bot, so nobody can make
/// their line hash like another's), same second; otherwise it is new. So, in that window, a
/// user's identical line sent again in the same second counts as a replay: on the wire the two
/// look the same.
#[derive(Debug, Default)]
struct SeenChat {
    /// Server second of the newest live line with a time on this connection (the join's at
    /// first).
    newest: i64,
    /// The latest [`SEEN_LINES`] live lines, in a ring: server second (estimated for a line
    /// without a time: then -1 to +2 s match, as the estimate lags), whether estimated, hash of
    /// sender key and text.
    recent: Vec<(i64, bool, u64)>,
    /// Where the next line goes in `recent` once it is full.
    next: usize,
    /// New lines while an answer may come (at most twice [`SEEN_LINES`]), kept out of `recent`
    /// until then: a replay, oldest first, of more lines than `recent` holds would otherwise
    /// push out, line by line, the very lines it goes on to replay.
    pending: Vec<(i64, bool, u64)>,
    /// The last server second in which a `chatList` answer may still come, if one is waited
    /// for.
    open_until: Option<i64>,
    /// Mixed into every hash (random per bot).
    seed: u64,
}

impl SeenChat {
    fn new(seed: u64) -> SeenChat {
        SeenChat {
            seed,
            ..SeenChat::default()
        }
    }

    /// A new connection: an answer asked for on the old one does not come on it.
    fn opened(&mut self) {
        self.close_window();
    }

    /// At the join (`i1`), whose server second is `joined`. The lines seen live are kept: after
    /// a quick reconnect the join's chat log replays those of the join's own second, which only
    /// they tell apart from new lines (clearing them here made every such line live again).
    fn joined(&mut self, joined: i64) {
        self.newest = joined;
    }

    /// No answer is waited for any more: the lines kept out of `recent` go in.
    fn close_window(&mut self) {
        self.open_until = None;
        for entry in std::mem::take(&mut self.pending) {
            self.remember(entry);
        }
    }

    fn remember(&mut self, entry: (i64, bool, u64)) {
        if self.recent.len() < SEEN_LINES {
            self.recent.push(entry);
        } else {
            self.recent[self.next] = entry;
            self.next = (self.next + 1) % SEEN_LINES;
        }
    }

    /// A `chatList` went out at server second `now_s` (as this session estimates it).
    fn requested(&mut self, now_s: i64) {
        self.open_until = Some(now_s.saturating_add(CHAT_LOG_WAIT_S));
    }

    /// Whether a chat line from `key` with `text`, stamped `time` (its server second, not
    /// before the join) or else estimated to be of server second `estimate`, is the replay of a
    /// line seen live; if not, it is remembered. Replays are looked for only while an answer
    /// may come, so a line stamped far ahead (a server's clock jumping) can mistake live lines
    /// for replays only then, and no clock is read for any of it.
    fn is_replay(&mut self, time: Option<i64>, estimate: i64, key: &[u8], text: &[u8]) -> bool {
        let second = time.unwrap_or(estimate);
        if self.open_until.is_some_and(|until| second > until) {
            self.close_window();
        }
        if self.open_until.is_some() && time.is_some_and(|t| t < self.newest) {
            return true;
        }
        let mut h = users::FxHasher::default();
        std::hash::Hasher::write_u64(&mut h, self.seed);
        std::hash::Hasher::write(&mut h, key);
        std::hash::Hasher::write_usize(&mut h, text.len());
        std::hash::Hasher::write(&mut h, text);
        let print = std::hash::Hasher::finish(&h);
        if let Some(t) = time {
            if self.open_until.is_some()
                && self
                    .recent
                    .iter()
                    .chain(&self.pending)
                    .any(|&(s, estimated, p)| {
                        p == print && (s == t || (estimated && (-1..=2).contains(&(t - s))))
                    })
            {
                return true;
            }
            self.newest = self.newest.max(t);
        }
        let entry = (second, time.is_none(), print);
        if self.open_until.is_none() {
            self.remember(entry);
        } else if self.pending.len() < 2 * SEEN_LINES {
            self.pending.push(entry);
        }
        false
    }
}

/// The earlier of two optional deadlines.
fn sooner(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether an encoded line asks the server to replay the chat log: `command | chatList | …`,
/// typed or by name (the browser layer's `command()`), as this crate's encoder writes it (the
/// key, then type 3 and the name, then the next field's type byte or the end of the line).
fn asks_for_chat_log(bytes: &[u8]) -> bool {
    bytes
        .strip_prefix(b"command\x03chatList")
        .and_then(|rest| rest.first())
        .is_some_and(|&b| b < 0x20)
}

/// The sans-IO session. See the module documentation for how a host drives it ("Driving a
/// session": drain actions and events until both are empty, report [`Session::on_close`]
/// after carrying out [`Action::Close`]; "Time": every `now_ms` is Unix-epoch milliseconds).
///
/// **Not `Send`** (nor `Sync`): its events share user records through `Rc`. Keep a session on
/// the thread that made it; under tokio, drive it from a `spawn_local` task of a
/// `tokio::task::LocalSet` or from a future awaited directly (`#[tokio::main]`'s own), not
/// from `tokio::spawn` (module docs, "Threads").
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    session_id: String,
    /// Boxed so that `on_frame` can take it out and put it back by moving one pointer (moving
    /// the decoder itself and dropping a placeholder was ~2 % of the decode path's instructions
    /// natively). `None` only while `on_frame` holds it.
    decoder: Option<Box<Decoder>>,
    rng: Rng,
    users: UserTable,
    room: Option<RoomInfo>,
    /// Server clock minus local clock, ms.
    clock_offset_ms: f64,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    /// User lines waiting for the bucket or for a join.
    queue: VecDeque<Vec<u8>>,
    bucket: Option<TokenBucket>,
    heartbeat_at: Option<u64>,
    reconnect_at: Option<u64>,
    /// When the attempt under way (state `Connecting` or `Joining`) times out.
    join_deadline: Option<u64>,
    /// Consecutive reconnect attempts since the last join.
    attempt: u32,
    /// The bot has been in the room at least once (reconnects only after that).
    ever_joined: bool,
    /// The current socket has opened.
    socket_open: bool,
    /// A fresh-hash retry was already used for this join (token logins, ERR 202/203/205).
    token_retry_used: bool,
    /// The `time` of the last token join's user_data (whole seconds).
    token_time_s: Option<i64>,
    /// A `connect()` waits for its [`Event::Joined`] or [`Event::JoinFailed`].
    connect_pending: bool,
    /// The socket is being replaced or closed on purpose; ignore its close.
    expecting_close: bool,
    raw_events: bool,
    /// `u` entries collected until the empty `u`.
    list_acc: Vec<UserKey>,
    /// Server time (unix s) of this connection's join, from `i1`: older chat lines are history.
    joined_server_s: Option<i64>,
    /// Chat lines (time, sender key, text) that ran a command in the latest second one did:
    /// a replay of one of them in the next join's own second is history.
    fired: Vec<FiredLine>,
    /// The chat lines seen live (kept across reconnects), for telling `chatList` replays from
    /// them.
    seen: SeenChat,
    /// The server's answer to the join burst's `userList` has not ended yet (see `deferred`).
    list_pending: bool,
    /// When deferred commands stop waiting for a list that does not come (local ms).
    list_wait_until: u64,
    /// Lines (sender key, text, whether whispered) that name a command and came before the
    /// user list from a sender without a record (or, whispered, not yet present): their
    /// commands are matched once it has (`release_deferred`), so `minAuth` sees the sender's
    /// real auth and a whispered `reply` finds the sender present. At most [`DEFERRED_MAX`].
    deferred: Vec<(Box<[u8]>, Box<str>, bool)>,
    /// Errors the lines of the frame being handled have caused ([`FRAME_ERRORS`]).
    frame_errors: u32,
    /// Counts socket openings ([`FiredLine`] tells this connection's lines from older ones).
    connection: u32,
    /// A fatal code came while joined: when the server closes the socket, do not re-join.
    no_rejoin: bool,
    commands: CommandRouter,
    /// Recently parsed chat styles (style text, parsed).
    styles: Vec<(String, Style)>,
    /// The unescaped bytes of the line on the fast path (reused).
    scratch: Vec<u8>,
    /// Tape mode (the browser layer): every event goes to this tape instead of `events`, and
    /// plain chat lines are written to it without building an [`Event`].
    tape: Option<Tape>,
}

impl Session {
    /// A session in state [`State::Idle`]. Fails with a clear message (code `config`, naming
    /// the option) for bad configuration: an empty `room` or `token`, a `userData` or
    /// `session` that does not parse, a `max_line` below [`MIN_MAX_LINE`].
    pub fn new(config: Config) -> Result<Session, ErrorInfo> {
        if config.room.is_empty() {
            return Err(ErrorInfo::sdk(
                "config",
                "option `room` is empty: give the room id, e.g. { room: 'myroom' }",
            ));
        }
        if config.max_line < MIN_MAX_LINE {
            // A fixed text (the number is MIN_MAX_LINE; a test holds them together): a
            // formatted one cost +190 B of gzipped wasm for a check that the browser layer,
            // which never sets `max_line`, cannot fail.
            return Err(ErrorInfo::sdk(
                "config",
                "option `max_line` is below the minimum, 4096 bytes (a smaller limit refuses \
                 ordinary lines from the server, and the join may never complete)",
            ));
        }
        if let Login::UserData(ud) = &config.login {
            UserData::parse(ud)
                .map_err(|e| ErrorInfo::sdk("config", format!("option `userData`: {e}")))?;
        }
        if let Login::Token { token, .. } = &config.login {
            if token.is_empty() {
                return Err(ErrorInfo::sdk(
                    "config",
                    "option `token` is empty: give the room's secret token or leave it out",
                ));
            }
        }
        let mut rng = Rng::new(config.seed);
        let session_id = match &config.session {
            Some(s) => {
                crate::token::check_session(s)
                    .map_err(|e| ErrorInfo::sdk("config", format!("option `session`: {e}")))?;
                s.clone()
            }
            None => random_session(|| (rng.next_u64() >> 32) as u32),
        };
        Ok(Session {
            decoder: Some(Box::new(Decoder::with_max_line(config.max_line))),
            bucket: None,
            state: State::Idle,
            session_id,
            rng,
            users: UserTable::default(),
            room: None,
            clock_offset_ms: 0.0,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            queue: VecDeque::new(),
            heartbeat_at: None,
            reconnect_at: None,
            join_deadline: None,
            attempt: 0,
            ever_joined: false,
            socket_open: false,
            token_retry_used: false,
            token_time_s: None,
            connect_pending: false,
            expecting_close: false,
            raw_events: false,
            tape: None,
            list_acc: Vec::new(),
            joined_server_s: None,
            fired: Vec::new(),
            list_pending: false,
            list_wait_until: 0,
            deferred: Vec::new(),
            // Not from `rng`, whose numbers the tests expect as they are.
            seen: SeenChat::new(
                Rng::new(config.seed.rotate_left(32) ^ 0xD6E8_FEB8_6659_FD93).next_u64(),
            ),
            frame_errors: 0,
            connection: 0,
            no_rejoin: false,
            commands: CommandRouter::default(),
            styles: Vec::new(),
            scratch: Vec::new(),
            config,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// My user record, once joined.
    pub fn me(&self) -> Option<&UserRecord> {
        self.users.me()
    }

    /// Room info from `i1`.
    pub fn room(&self) -> Option<&RoomInfo> {
        self.room.as_ref()
    }

    /// The users in the room.
    pub fn users(&self) -> &UserTable {
        &self.users
    }

    /// The chat-command router (register `!commands` here).
    pub fn commands_mut(&mut self) -> &mut CommandRouter {
        &mut self.commands
    }

    /// Server-corrected time in ms since the epoch, for local time `now_ms` (Unix-epoch
    /// milliseconds, [Time](crate::session#time)).
    pub fn server_now_ms(&self, now_ms: u64) -> f64 {
        now_ms as f64 + self.clock_offset_ms
    }

    /// [`Session::server_now_ms`] in whole seconds, as the server stamps its lines.
    fn server_now_s(&self, now_ms: u64) -> i64 {
        (self.server_now_ms(now_ms) / 1000.0) as i64
    }

    /// Lines waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Emit [`Event::Raw`] for every decoded line (off by default: it costs a copy per line).
    pub fn set_raw_events(&mut self, on: bool) {
        self.raw_events = on;
    }

    /// Whether [`Event::Raw`] is on ([`Session::set_raw_events`]).
    pub fn raw_events(&self) -> bool {
        self.raw_events
    }

    /// Next I/O action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Next event for user code. (None ever in the browser layer's tape mode, which this crate's
    /// web layer alone uses.)
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Tape mode on: from now on events are written to an event tape ([`tape`]) taken with
    /// [`Session::take_batch`], instead of being queued for [`Session::poll_event`]. Events
    /// already queued move to the tape.
    #[doc(hidden)]
    pub fn use_tape(&mut self) {
        let mut tape = self.tape.take().unwrap_or_default();
        tape.extend(self.events.drain(..));
        self.tape = Some(tape);
    }

    /// Tape mode: the events since the last call, or `None` if there are none.
    #[doc(hidden)]
    pub fn take_batch(&mut self) -> Option<tape::Batch> {
        let tape = self.tape.as_mut()?;
        (!tape.is_empty()).then(|| tape.take_batch())
    }

    /// Tape mode: hand a dispatched batch back so its buffers are reused.
    #[doc(hidden)]
    pub fn give_back(&mut self, batch: tape::Batch) {
        if let Some(t) = &mut self.tape {
            t.give_back(batch);
        }
    }

    fn emit(&mut self, e: Event) {
        match &mut self.tape {
            Some(t) => t.push(e),
            None => self.events.push_back(e),
        }
    }

    /// When [`Session::on_timeout`] should be called next, if ever: a time on the same clock as
    /// `now_ms` (Unix-epoch milliseconds, [Time](crate::session#time)). Ask again after every
    /// call into the session: inputs and calls move it.
    pub fn next_timeout(&mut self, now_ms: u64) -> Option<u64> {
        self.next_timeout_at(Clock::Fixed(now_ms))
    }

    /// [`Session::next_timeout`] with the time read only if it is needed (queued lines
    /// waiting for the token bucket).
    pub(crate) fn next_timeout_at(&mut self, now: Clock) -> Option<u64> {
        // Asked after every input (the web layer's timer): a plain `match`, which the size
        // build keeps inline, not an iterator chain (~55 instructions per frame).
        let mut next = sooner(self.heartbeat_at, self.reconnect_at);
        next = sooner(next, self.join_deadline);
        next = sooner(
            next,
            (!self.deferred.is_empty()).then_some(self.list_wait_until),
        );
        if self.state == State::Joined && !self.queue.is_empty() {
            if let Some(b) = &mut self.bucket {
                next = sooner(next, Some(b.next_token_at(now.ms())));
            }
        }
        next
    }

    // -----------------------------------------------------------------------------------------
    // Inputs

    /// Start connecting (user called `connect()`); nothing while joined. A `connect()` either
    /// joins or fails ([`Event::JoinFailed`]) without automatic retries, whatever the state it
    /// is called in: while a reconnect waits it starts the attempt at once, and while an
    /// attempt is under way it waits for that one, which then fails rather than retries.
    /// `now_ms`: Unix-epoch milliseconds ([Time](crate::session#time)).
    pub fn connect(&mut self, now_ms: u64) {
        match self.state {
            State::Joined => return,
            State::Connecting | State::Joining => {
                self.connect_pending = true;
                self.ever_joined = false;
                return;
            }
            State::Reconnecting => self.reconnect_at = None,
            State::Idle | State::Closed => {}
        }
        self.connect_pending = true;
        self.attempt = 0;
        self.ever_joined = false;
        self.token_retry_used = false;
        self.open_socket(now_ms);
    }

    /// The socket opened: send the join line. `now_ms`: Unix-epoch milliseconds
    /// ([Time](crate::session#time)); a token login hashes it into the join, and the server
    /// refuses a time far from its own (ERR 205).
    pub fn on_open(&mut self, now_ms: u64) {
        if self.state != State::Connecting {
            return;
        }
        self.socket_open = true;
        if let Some(d) = &mut self.decoder {
            d.reset();
        }
        self.users.clear();
        if let Some(tape) = &mut self.tape {
            tape.forget_users();
        }
        self.list_acc.clear();
        // Commands the old connection deferred, if it dropped before its list came: run with the
        // senders as known (rather than lost: the new join's chat log replays them as history).
        if !self.deferred.is_empty() {
            self.release_deferred(Clock::Fixed(now_ms));
        }
        self.list_pending = false;
        self.joined_server_s = None;
        self.seen.opened();
        self.connection = self.connection.wrapping_add(1);
        self.no_rejoin = false;
        match self.join_bytes(now_ms) {
            Ok(bytes) => {
                self.actions.push_back(Action::Send(bytes));
                self.set_state(State::Joining);
                if self.config.heartbeat_ms > 0 {
                    self.heartbeat_at = Some(now_ms.saturating_add(self.config.heartbeat_ms));
                }
            }
            Err(e) => self.fail(now_ms, e, 1000),
        }
    }

    /// One binary (or text, as UTF-8 bytes) WebSocket message arrived. `now_ms`: Unix-epoch
    /// milliseconds ([Time](crate::session#time)).
    ///
    /// A line that does not decode is an [`Event::Error`] (code `decode` or `message`) and the
    /// frame's other lines are handled; at most 16 such errors per frame, then one
    /// `too_many_errors` error counts the rest.
    pub fn on_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        self.on_frame_at(Clock::Fixed(now_ms), bytes);
    }

    /// [`Session::on_frame`] with the time read from `clock` only if the frame needs it (a
    /// chat line without a time of its own, a command's cooldown, a line that joins or
    /// fails, queued lines waiting to be sent), and then once. For callers whose clock costs
    /// something per reading, like `Date.now` in the browser. The clock gives
    /// Unix-epoch milliseconds ([Time](crate::session#time)).
    pub fn on_frame_with_clock(&mut self, clock: &dyn Fn() -> u64, bytes: &[u8]) {
        let read = Cell::new(None);
        self.on_frame_at(Clock::Lazy(&read, clock), bytes);
    }

    /// [`Session::on_frame`] at the time `now`, which is read only if a line needs it.
    pub(crate) fn on_frame_at(&mut self, now: Clock, bytes: &[u8]) {
        if !matches!(self.state, State::Joining | State::Joined) {
            return;
        }
        // Lines are handled as they are split; once a line ends the session (a fatal ERR), the
        // rest of the frame is split but ignored. Plain chat lines take a shortcut that builds
        // no `Line` (docs/PERFORMANCE.md "Decode path"); every other line is decoded as usual.
        let Some(mut decoder) = self.decoder.take() else {
            return; // unreachable: only this function takes the decoder, and it puts it back
        };
        self.frame_errors = 0;
        decoder.feed_lines(bytes, |decoder, raw| {
            if !matches!(self.state, State::Joining | State::Joined) {
                return;
            }
            let decoded = match raw {
                Ok(raw)
                    if !self.raw_events
                        && self.fast_line(now, raw, decoder.raw_may_have_escape()) =>
                {
                    return
                }
                Ok(raw) => decoder.decode_line(raw),
                Err(e) => Some(Err(e)),
            };
            match decoded {
                None => {}
                Some(Ok(line)) => self.on_line(now, line),
                Some(Err(e)) => self.line_error(|| {
                    ErrorInfo::sdk(
                        "decode",
                        format!("could not decode a line from the server: {e}"),
                    )
                }),
            }
        });
        self.decoder = Some(decoder);
        if let Some(more) = std::mem::take(&mut self.frame_errors).checked_sub(FRAME_ERRORS + 1) {
            self.emit(Event::Error(ErrorInfo::sdk(
                "too_many_errors",
                format!(
                    "errors not reported: {} more in this message from the server (at most \
                     {FRAME_ERRORS} are reported per message)",
                    more + 1
                ),
            )));
        }
        self.flush(now);
    }

    /// An `'error'` event caused by one line of the frame being handled, unless that frame has
    /// had [`FRAME_ERRORS`] of them already (`info` is then not even made).
    fn line_error(&mut self, info: impl FnOnce() -> ErrorInfo) {
        self.frame_errors = self.frame_errors.saturating_add(1);
        if self.frame_errors <= FRAME_ERRORS {
            self.emit(Event::Error(info()));
        }
    }

    /// The socket closed (or failed to open). `code`/`reason` as the browser reports them
    /// (1006 for a connection that failed or broke without a close frame; natively, the close
    /// frame's code and reason, or 1005 for a close frame without a code). `now_ms`: Unix-epoch
    /// milliseconds (module docs, [Time](crate::session#time)).
    ///
    /// Call it also after carrying out an [`Action::Close`], with that action's code and
    /// reason: the session expects that report and takes the one after it for the current
    /// socket. It does not know which socket a close belongs to, so the host must deliver
    /// nothing more of a socket once it has closed it or reported its close (module docs,
    /// "Driving a session").
    pub fn on_close(&mut self, now_ms: u64, code: u16, reason: &str) {
        self.socket_ended(now_ms, code, reason, None);
    }

    /// The socket could not even be created: [`Action::Open`] failed at once (in a browser,
    /// `new WebSocket(url)` threw — no `WebSocket` in this JavaScript environment, a `ws://`
    /// URL from an `https://` page, …). `message` says what happened and what to do, for the
    /// user; it is the `error` event's message with the SDK code `websocket`, and the
    /// `disconnect` reason. Before the first join the connect() fails with it (no retry, as
    /// after a failed handshake); after a join it is a drop like any other (the reconnect
    /// policy applies). `now_ms`: Unix-epoch milliseconds ([Time](crate::session#time)).
    pub fn on_socket_error(&mut self, now_ms: u64, message: &str) {
        let info = ErrorInfo::sdk("websocket", message);
        self.socket_ended(now_ms, 1006, message, Some(info));
    }

    /// [`Session::on_close`], and [`Session::on_socket_error`] and the join timeout with
    /// `failure`: the error a connect() that never joined fails with (else the handshake hint,
    /// or "closed before the join" if the socket was open).
    fn socket_ended(&mut self, now_ms: u64, code: u16, reason: &str, failure: Option<ErrorInfo>) {
        let was_open = std::mem::replace(&mut self.socket_open, false);
        if self.expecting_close {
            self.expecting_close = false;
            return;
        }
        match self.state {
            State::Connecting | State::Joining | State::Joined => {}
            _ => return,
        }
        self.heartbeat_at = None;
        // Before the first join: the connect() fails. After a fatal code in the room: the
        // session ends (a waiting connect() is ended by `set_state`).
        if !self.ever_joined || self.no_rejoin {
            if !self.ever_joined {
                let info = if let Some(info) = failure {
                    info
                } else if was_open {
                    ErrorInfo::sdk(
                        "closed",
                        format!(
                            "The server closed the connection before the join completed \
                             (close code {}{}).",
                            // As u32: the only u16 formatted in the wasm (one Display impl less).
                            u32::from(code),
                            fmt_reason(reason)
                        ),
                    )
                } else {
                    ErrorInfo::sdk("handshake", HANDSHAKE_HINT)
                };
                // The waiting connect() first: a connect() made by an `error` listener is a
                // new attempt, which this failure must not end (see `join_failed`).
                self.join_failed(info.clone());
                self.emit(Event::Error(info));
            }
            self.emit(Event::Disconnect {
                code,
                reason: reason.to_owned(),
                will_reconnect: false,
            });
            self.set_state(State::Closed);
            return;
        }
        self.schedule_reconnect(now_ms, code, reason);
    }

    /// Timers are due: call it once [`Session::next_timeout`]'s time has come. `now_ms`:
    /// Unix-epoch milliseconds ([Time](crate::session#time)).
    pub fn on_timeout(&mut self, now_ms: u64) {
        if self.heartbeat_at.is_some_and(|t| t <= now_ms) {
            self.heartbeat_at = Some(now_ms.saturating_add(self.config.heartbeat_ms.max(1)));
            if matches!(self.state, State::Joining | State::Joined) {
                self.push_line(&Outgoing::Ping.to_line());
            }
        }
        if self.reconnect_at.is_some_and(|t| t <= now_ms) {
            self.reconnect_at = None;
            if self.state == State::Reconnecting {
                self.open_socket(now_ms);
            }
        }
        if self.join_deadline.is_some_and(|t| t <= now_ms) {
            self.join_timed_out(now_ms);
        }
        if !self.deferred.is_empty() && self.list_wait_until <= now_ms {
            self.release_deferred(Clock::Fixed(now_ms));
        }
        self.flush(Clock::Fixed(now_ms));
    }

    /// Queue a line from user code (chat, whisper, command, plugin): sent at once when joined and
    /// the bucket allows, else kept in order. Fails only when the bot is closed. `now_ms`:
    /// Unix-epoch milliseconds ([Time](crate::session#time)).
    pub fn send(&mut self, now_ms: u64, msg: &Outgoing) -> Result<(), ErrorInfo> {
        if let Outgoing::Chat { style, text } = msg {
            return self.send_chat(now_ms, style, text);
        }
        self.check_open()?;
        let bytes = encode(&msg.to_line()).map_err(|e| ErrorInfo::sdk("message", e.to_string()))?;
        self.enqueue(now_ms, bytes);
        Ok(())
    }

    /// [`Session::send`] of a chat line, without making an [`Outgoing`] (the bytes are encoded
    /// straight from `text`: [`Outgoing::encode_chat`]). `now_ms`: Unix-epoch milliseconds
    /// ([Time](crate::session#time)).
    pub fn send_chat(&mut self, now_ms: u64, style: &Style, text: &str) -> Result<(), ErrorInfo> {
        self.send_chat_utf8(now_ms, style, text.as_bytes())
    }

    /// [`Session::send_chat`] of a text given as UTF-8 bytes (the browser layer's
    /// `TextEncoder` output, sent without another validation).
    pub(crate) fn send_chat_utf8(
        &mut self,
        now_ms: u64,
        style: &Style,
        text: &[u8],
    ) -> Result<(), ErrorInfo> {
        self.check_open()?;
        let mut bytes = Vec::new();
        Outgoing::encode_chat_utf8(style, text, &mut bytes);
        self.enqueue(now_ms, bytes);
        Ok(())
    }

    fn check_open(&self) -> Result<(), ErrorInfo> {
        if self.state == State::Closed {
            return Err(ErrorInfo::sdk(
                "closed",
                "the bot is closed; call connect() again before sending",
            ));
        }
        Ok(())
    }

    /// Queues encoded user bytes (dropping the oldest line when the queue is full) and sends
    /// what the bucket allows.
    fn enqueue(&mut self, now_ms: u64, bytes: Vec<u8>) {
        if self.queue.len() >= self.config.queue_limit.max(1) {
            self.queue.pop_front();
            self.emit(Event::Error(ErrorInfo::sdk(
                "queue_full",
                format!(
                    "the outgoing queue is full ({} lines); the oldest line was dropped",
                    self.config.queue_limit.max(1)
                ),
            )));
        }
        self.queue.push_back(bytes);
        self.flush(Clock::Fixed(now_ms));
    }

    /// Leave: send `disconnect`, close the socket, cancel timers. Queued lines are dropped, also
    /// when the session had already ended by itself (retries used up, a failed first connect),
    /// so a later `connect()` does not send them. `now_ms`: Unix-epoch milliseconds
    /// ([Time](crate::session#time)).
    ///
    /// The [`Action::Close`] it queues must be reported back with [`Session::on_close`] like
    /// any other.
    pub fn close(&mut self, _now_ms: u64) {
        if self.state == State::Closed {
            self.queue.clear();
            return;
        }
        if self.socket_open {
            self.push_line(&Outgoing::Disconnect.to_line());
        }
        if self.socket_open || self.state == State::Connecting {
            self.close_socket(1000, "closed by the bot".into());
        }
        self.heartbeat_at = None;
        self.reconnect_at = None;
        self.queue.clear();
        self.join_failed(ErrorInfo::sdk(
            "closed",
            "close() (or free()) was called before the join completed",
        ));
        self.emit(Event::Disconnect {
            code: 1000,
            reason: "closed by the bot".into(),
            will_reconnect: false,
        });
        self.set_state(State::Closed);
    }

    // -----------------------------------------------------------------------------------------
    // Internals

    /// Asks the web layer to close the socket. Its close event is then expected (not reported
    /// as a disconnect), and nothing more is sent on it.
    fn close_socket(&mut self, code: u16, reason: String) {
        self.actions.push_back(Action::Close { code, reason });
        self.expecting_close = true;
        self.socket_open = false;
    }

    /// Ends a waiting `connect()` with `info` (nothing if none waits). Emitted before the
    /// events that report the same failure to listeners (`error`, `disconnect`, `state`): the
    /// web layer rejects the promises waiting when it dispatches this, so a listener that calls
    /// connect() again starts an attempt whose promise this failure does not touch.
    fn join_failed(&mut self, info: ErrorInfo) {
        if std::mem::take(&mut self.connect_pending) {
            self.emit(Event::JoinFailed(info));
        }
    }

    fn set_state(&mut self, s: State) {
        if s == State::Closed {
            // Commands that waited for a list are not run after the bot closed or ended.
            self.deferred.clear();
            // Every way to Closed ends a waiting `connect()` (the specific reasons above).
            self.join_failed(ErrorInfo::sdk(
                "closed",
                "the session ended before the join completed; see the 'error' and \
                 'disconnect' events",
            ));
        }
        if !matches!(s, State::Connecting | State::Joining) {
            self.join_deadline = None;
        }
        if self.state != s {
            self.state = s;
            self.emit(Event::State(s));
        }
    }

    fn open_socket(&mut self, now_ms: u64) {
        if self.socket_open {
            self.close_socket(1000, "reconnecting".into());
        }
        self.actions.push_back(Action::Open);
        self.set_state(State::Connecting);
        let ms = self.config.join_timeout_ms;
        self.join_deadline = (ms > 0).then(|| now_ms.saturating_add(ms));
    }

    /// The attempt under way had no answer in time (`join_deadline`): it ends as a failed
    /// connection (close code 1006: the bot, not the server, gave up) and its socket is closed.
    /// Without this a silent server (a proxy that holds the upgrade, a server that never
    /// answers `j`) left `connect()` pending and a reconnect stuck in `joining` for ever.
    fn join_timed_out(&mut self, now_ms: u64) {
        self.join_deadline = None;
        if !matches!(self.state, State::Connecting | State::Joining) {
            return;
        }
        let message = format!(
            "no answer from the server within {} ms of connecting (option `joinTimeoutMs`); \
             the server or a proxy on the way is not answering",
            self.config.join_timeout_ms
        );
        let socket = self.socket_open || self.state == State::Connecting;
        // A close still expected is an older socket's (a host that reports closes late): it
        // must not take this ending for itself.
        self.expecting_close = false;
        self.socket_ended(
            now_ms,
            1006,
            &message,
            Some(ErrorInfo::sdk("timeout", message.clone())),
        );
        if socket {
            self.close_socket(1000, "join timed out".into());
        }
    }

    /// The `j` line for this attempt (a token login gets a fresh `time` and hash).
    fn join_bytes(&mut self, now_ms: u64) -> Result<Vec<u8>, ErrorInfo> {
        let cfg = |e: crate::token::TokenError| ErrorInfo::sdk("config", e.to_string());
        let user = match &self.config.login {
            Login::Guest { nick } => UserData::guest(nick.as_deref()),
            Login::UserData(ud) => UserData::parse(ud).map_err(cfg)?,
            Login::Token { token, fields } => {
                let mut time = (now_ms / 1000) as i64;
                if self.token_retry_used {
                    // The retry after 202/203/205 must differ from the attempt it repeats: a
                    // retry within the same second would send the same time and hash again.
                    time = time.max(self.token_time_s.map_or(time, |t| t + 1));
                }
                self.token_time_s = Some(time);
                build_user_data(&self.config.room, token, time, fields)
                    .and_then(|b| b.parse())
                    .map_err(cfg)?
            }
        };
        let line = join_line(
            &self.config.room,
            &user,
            &self.session_id,
            self.config.password.as_deref(),
        )
        .map_err(cfg)?;
        encode(&line).map_err(|e| ErrorInfo::sdk("config", e.to_string()))
    }

    fn push_line(&mut self, line: &Line) {
        if let Ok(bytes) = encode(line) {
            self.actions.push_back(Action::Send(bytes));
        }
    }

    /// Send queued user lines while joined and the bucket has tokens.
    fn flush(&mut self, now: Clock) {
        if self.state != State::Joined {
            return;
        }
        while !self.queue.is_empty() {
            if let Some(b) = &mut self.bucket {
                if !b.try_take(now.ms()) {
                    break;
                }
            }
            if let Some(bytes) = self.queue.pop_front() {
                if asks_for_chat_log(&bytes) {
                    self.seen.requested(self.server_now_s(now.ms()));
                }
                self.actions.push_back(Action::Send(bytes));
            }
        }
    }

    fn schedule_reconnect(&mut self, now_ms: u64, code: u16, reason: &str) {
        let delay = self
            .config
            .reconnect
            .and_then(|p| p.delay_ms(self.attempt + 1, self.rng.unit()));
        match delay {
            Some(delay_ms) => {
                self.attempt += 1;
                self.emit(Event::Disconnect {
                    code,
                    reason: reason.to_owned(),
                    will_reconnect: true,
                });
                self.set_state(State::Reconnecting);
                self.emit(Event::Reconnecting {
                    attempt: self.attempt,
                    delay_ms,
                });
                self.reconnect_at = Some(now_ms.saturating_add(delay_ms));
            }
            None => {
                self.emit(Event::Disconnect {
                    code,
                    reason: reason.to_owned(),
                    will_reconnect: false,
                });
                self.set_state(State::Closed);
            }
        }
    }

    /// A join failed or a fatal error: report, close, no retry.
    fn fail(&mut self, now_ms: u64, info: ErrorInfo, code: u16) {
        let _ = now_ms;
        self.join_failed(info.clone());
        self.emit(Event::Error(info.clone()));
        if self.socket_open {
            self.push_line(&Outgoing::Disconnect.to_line());
            self.close_socket(code, info.name.clone());
        }
        self.heartbeat_at = None;
        self.reconnect_at = None;
        self.emit(Event::Disconnect {
            code,
            reason: info.message,
            will_reconnect: false,
        });
        self.set_state(State::Closed);
    }

    fn user_or_key(&self, key: &UserKey) -> Rc<UserRecord> {
        self.user_of_bytes(key.as_bytes())
    }

    fn time_ms(&self, now: Clock, time: Option<i64>) -> f64 {
        match time {
            Some(t) => t as f64 * 1000.0,
            None => self.server_now_ms(now.ms()),
        }
    }

    fn on_line(&mut self, now: Clock, line: Line) {
        if self.raw_events {
            self.emit(Event::Raw(line.clone()));
        }
        let msg = match Incoming::from_line(line) {
            Ok(m) => m,
            Err(e) => {
                self.line_error(|| {
                    ErrorInfo::sdk("message", format!("malformed line from the server: {e}"))
                });
                return;
            }
        };
        match msg {
            Incoming::RoomInfo(info) => {
                self.clock_offset_ms = info.server_time as f64 * 1000.0 - now.ms() as f64;
                if self.state == State::Joining {
                    self.joined_server_s = Some(info.server_time);
                    self.seen.joined(info.server_time);
                }
                self.room = Some(info);
            }
            Incoming::User(rec) => self.users.upsert(rec),
            Incoming::MyKey(key) => self.on_joined(now.ms(), key),
            Incoming::UserListEntry(Some(key)) => self.list_acc.push(key),
            Incoming::UserListEntry(None) => {
                let keys = std::mem::take(&mut self.list_acc);
                self.users.set_present(&keys);
                let list = keys.iter().map(|k| self.user_or_key(k)).collect();
                self.emit(Event::UserList(list));
                self.release_deferred(now);
            }
            Incoming::UserCount(n) => self.emit(Event::UserCount(n)),
            Incoming::UserJoin(key) => self.user_join(key),
            Incoming::UserQuit { nick } => self.user_quit(&nick),
            Incoming::UserModi(modi) => {
                let target = self.user_or_key(&modi.target).nick.clone();
                self.users.replace(&modi.target, &modi.after);
                self.emit(Event::UserModi {
                    target,
                    changed: modi.changes,
                });
            }
            Incoming::Message(m) => self.on_chat(now, &m.from, &m.style, m.text, m.time),
            Incoming::Whisper(w) => self.on_whisper(now, &w.from, &w.to, &w.style, w.text, w.time),
            Incoming::System(s) => self.emit(Event::System {
                code: s.code,
                args: s.args,
            }),
            Incoming::Error(code) => self.on_server_error(now.ms(), code),
            Incoming::Plugin(p) => {
                let user = self.user_or_key(&p.sender);
                self.emit(Event::Plugin { user, message: p });
            }
            Incoming::Update(kv) => self.emit(Event::Update(kv)),
            Incoming::Control(c) => self.emit(Event::Control(c)),
            Incoming::Other(_) => {}
        }
    }

    /// An `m` line (PROTOCOL.md §3.2): the message event, and a command if one matches.
    ///
    /// The command comes first, then the style (with its `error` event if malformed), then the
    /// message, in both modes: tape mode defines a new style's slot when it parses it, so the
    /// slot's record falls between the command and the message there too. (The two modes
    /// ordered a first-seen style around a command differently: the `session` fuzz check on a
    /// hand-made input, `fuzz/regress/session/command-in-the-first-chat-line-with-a-new-style`.)
    fn on_chat(
        &mut self,
        now: Clock,
        from: &UserKey,
        style: &str,
        text: String,
        time: Option<i64>,
    ) {
        let m = self.chat_meta(now, from.as_bytes(), text.as_bytes(), time);
        if let Some(t) = m.trigger {
            self.emit(Event::Command(*t));
        }
        let style = self.style_of(style);
        self.emit(Event::Message {
            user: m.user,
            style,
            content: text,
            time_ms: m.time_ms,
            is_self: m.is_self,
            history: m.history,
        });
    }

    fn on_whisper(
        &mut self,
        now: Clock,
        from: &UserKey,
        to: &UserKey,
        style: &str,
        text: String,
        time: Option<i64>,
    ) {
        let from_rec = self.user_or_key(from);
        let is_self = self.users.is_me(from);
        let to_me = self.users.is_me(to);
        let trigger = self.whisper_trigger(now, &from_rec, (is_self, to_me), time, text.as_bytes());
        let to = self.user_or_key(to);
        let time_ms = self.time_ms(now, time);
        // In this order for the reason given on `on_chat`.
        if let Some(t) = trigger {
            self.emit(Event::Command(t));
        }
        let style = self.style_of(style);
        self.emit(Event::Whisper {
            from: from_rec,
            to,
            style,
            content: text,
            time_ms,
            is_self,
        });
    }

    /// The shortcut for the commonest lines, `m | B key | S style | S text [| N time]` and
    /// `w | B from | B to | S style | S text [| N time]` (over 80% of what a room sends):
    /// split in one pass that undoes both escaping layers, without building a `Line`, and in
    /// tape mode without building an [`Event`] either. Handles the line exactly as
    /// `Incoming::from_line` + [`Session::on_chat`] / [`Session::on_whisper`] would and returns
    /// true; returns false, having done nothing, for any other line (other key or field types,
    /// invalid UTF-8, a bad number), which then takes the general path and gets its usual
    /// result or error. `tape_mode_gives_the_same_events_as_queue_mode` and
    /// `fast_path_matches_the_general_path_on_random_lines` hold the two paths together.
    ///
    /// The presence lines take the same split: `k` records (their strings are still
    /// allocated, but no `Line`, field list or `Incoming` is built: the general path spent a
    /// fifth of the corpus's instructions on them), and `j`, `o` and `c` with their one field
    /// (docs/PERFORMANCE.md "Session 15").
    fn fast_line(&mut self, now: Clock, raw: &[u8], escaped: bool) -> bool {
        use crate::codec::{TYPE_BIN, TYPE_NUM, TYPE_STR};
        let mut scratch = std::mem::take(&mut self.scratch);
        let done = match raw {
            [b'm' | b'w', TYPE_BIN, ..] => {
                let mut spans = [(0, 0, 0); MAX_FAST_FIELDS];
                match split_fast(raw, escaped, &mut scratch, &mut spans) {
                    Some((n, buf)) => self.fast_fields(now, raw[0] == b'w', &spans[..n], buf),
                    None => false,
                }
            }
            [b'k', TYPE_BIN, ..] => {
                let mut spans = [(0, 0, 0); MAX_RECORD_FIELDS];
                match split_fast(raw, escaped, &mut scratch, &mut spans) {
                    Some((n, buf)) => self.fast_record(&spans[..n], buf),
                    None => false,
                }
            }
            [b's', TYPE_NUM, ..] if self.tape.is_some() => {
                let mut spans = [(0, 0, 0); MAX_SYSTEM_FIELDS];
                match split_fast(raw, escaped, &mut scratch, &mut spans) {
                    Some((n, buf)) => self.fast_system(&spans[..n], buf),
                    None => false,
                }
            }
            [b'j', TYPE_BIN, ..] | [b'o', TYPE_STR, ..] | [b'c', TYPE_NUM, ..] => {
                // One field; a line with more (which the general path reads the same, ignoring
                // the rest) is rare enough to leave to it.
                let mut span = [(0, 0, 0); 1];
                match split_fast(raw, escaped, &mut scratch, &mut span) {
                    Some((_, buf)) => self.fast_presence(raw[0], buf.get(span[0].1..span[0].2)),
                    None => false,
                }
            }
            _ => false,
        };
        self.scratch = scratch;
        done
    }

    /// A `k` line split by [`split_fast`] (PROTOCOL.md §3.2): the record `Incoming::from_line`
    /// reads, upserted as [`Session::on_line`] does; false (nothing done) for any field the
    /// general path must judge (another type, invalid UTF-8, a bad number, a field count other
    /// than 10 or 11).
    fn fast_record(&mut self, f: &[(u8, usize, usize)], buf: &[u8]) -> bool {
        match fast_record_of(f, buf) {
            Some(rec) => {
                self.users.upsert(rec);
                true
            }
            None => false,
        }
    }

    /// An `s` line split by [`split_fast`], in tape mode: the `system` record the general path
    /// writes for it (`Incoming::System` → [`Event::System`] → [`Tape::push`]), written
    /// straight from the fields; false (nothing written) for any field the general path must
    /// judge, which then reports it.
    fn fast_system(&mut self, f: &[(u8, usize, usize)], buf: &[u8]) -> bool {
        use crate::codec::{decode_number, TYPE_NUM};
        let code = match f.first() {
            Some(&(TYPE_NUM, a, b)) => match buf.get(a..b).map(decode_number) {
                Some(Ok(code)) => code,
                _ => return false,
            },
            _ => return false,
        };
        let (Some(tape), Some(args)) = (self.tape.as_mut(), f.get(1..)) else {
            return false;
        };
        tape.system(SystemCode::from_code(code), args, buf)
    }

    /// A `j | B key`, `o | S nick` or `c | N count` line's one field (the line's key byte
    /// chose the type): handled as [`Session::on_line`] does; false (nothing done) for a nick
    /// that is not UTF-8 or a bad number.
    fn fast_presence(&mut self, key: u8, value: Option<&[u8]>) -> bool {
        let Some(value) = value else {
            return false; // unreachable: the span lies in the buffer it came with
        };
        match key {
            b'j' => self.user_join(UserKey(value.to_vec())),
            b'o' => match std::str::from_utf8(value) {
                Ok(nick) => self.user_quit(nick),
                Err(_) => return false,
            },
            _ => match crate::codec::decode_number(value) {
                Ok(n) => self.emit(Event::UserCount(n)),
                Err(_) => return false,
            },
        }
        true
    }

    /// `j`: the user with this key joined (PROTOCOL.md §3.2).
    fn user_join(&mut self, key: UserKey) {
        let user = match self.users.join_shared(&key) {
            Some(user) => user,
            None => Rc::new(UserRecord::unknown(key)),
        };
        self.emit(Event::UserJoin(user));
    }

    /// `o`: the user with this nick left.
    fn user_quit(&mut self, nick: &str) {
        // The nick is copied only for a user the table does not know.
        let user = self.users.quit(nick).unwrap_or_else(|| {
            Rc::new(UserRecord {
                nick: nick.to_owned(),
                ..UserRecord::unknown(UserKey(Vec::new()))
            })
        });
        self.emit(Event::UserQuit(user));
    }

    fn fast_fields(
        &mut self,
        now: Clock,
        whisper: bool,
        f: &[(u8, usize, usize)],
        buf: &[u8],
    ) -> bool {
        use crate::codec::{decode_number, TYPE_BIN, TYPE_NUM, TYPE_STR};
        // A `match`, not `filter`/`and_then`: the size build kept the closure and its adapters
        // as calls, four per chat line.
        #[inline(always)]
        fn field<'b>(
            f: &[(u8, usize, usize)],
            buf: &'b [u8],
            i: usize,
            ty: u8,
        ) -> Option<&'b [u8]> {
            match f.get(i) {
                Some(&(t, a, b)) if t == ty => buf.get(a..b),
                _ => None,
            }
        }
        // Index of the style field; text follows it, then the optional time.
        let at = if whisper { 2 } else { 1 };
        let (Some(from), Some(style), Some(text)) = (
            field(f, buf, 0, TYPE_BIN),
            field(f, buf, at, TYPE_STR),
            field(f, buf, at + 1, TYPE_STR),
        ) else {
            return false;
        };
        let to = match (whisper, field(f, buf, 1, TYPE_BIN)) {
            (false, _) => &[][..],
            (true, Some(to)) => to,
            (true, None) => return false,
        };
        let time = match f.len() - at - 2 {
            0 => None,
            1 => match field(f, buf, at + 2, TYPE_NUM).map(decode_number) {
                Some(Ok(t)) => Some(t),
                _ => return false,
            },
            _ => return false,
        };
        // Tape mode: a style text the tape has seen is its slot, with no UTF-8 check (it was
        // checked when first seen); a new one must be UTF-8 to stay on the fast path.
        if let Some(tape) = &self.tape {
            let style = match tape.wire_style(style) {
                Some(slot) => WireStyle::Slot(slot),
                None => match std::str::from_utf8(style) {
                    Ok(wire) => WireStyle::New(wire),
                    Err(_) => return false,
                },
            };
            // The text is checked while it is converted (`Tape::text_bytes`); a text that is
            // not UTF-8 leaves the fast path there, before anything happened.
            return if whisper {
                self.tape_whisper(now, from, to, style, text, time)
            } else {
                self.tape_chat(now, from, style, text, time)
            };
        }
        let Ok(style) = std::str::from_utf8(style) else {
            return false;
        };
        let Ok(text) = std::str::from_utf8(text) else {
            return false;
        };
        if whisper {
            self.on_whisper(
                now,
                &UserKey(from.to_vec()),
                &UserKey(to.to_vec()),
                style,
                text.to_owned(),
                time,
            );
        } else {
            self.on_chat(now, &UserKey(from.to_vec()), style, text.to_owned(), time);
        }
        true
    }

    /// The shared record for key bytes (a key-only record if the server never defined it).
    fn user_of_bytes(&self, key: &[u8]) -> Rc<UserRecord> {
        match self.users.get_bytes(key) {
            Some(u) => u.clone(),
            None => Rc::new(UserRecord::unknown(UserKey(key.to_vec()))),
        }
    }

    /// The tape's style slot for a style text, parsed only the first time it is seen. A
    /// malformed text is not remembered: it is parsed and reported on every line, as queue
    /// mode does (the fuzz target `session` found tape mode reporting it once).
    #[inline]
    fn tape_style(&mut self, style: WireStyle) -> f64 {
        let wire = match style {
            WireStyle::Slot(slot) => return slot,
            WireStyle::New(wire) => wire,
        };
        let parsed = self.parse_style(wire);
        let tape = self.tape.as_mut().expect("tape mode");
        match parsed {
            Some(st) => tape.remember_wire_style(wire, &st),
            None => tape.style(&Style::default()),
        }
    }

    /// What a chat line from the key `key` is, for [`Session::on_chat`] and
    /// [`Session::tape_chat`] alike: the sender's record, whether it is the bot's own line,
    /// its time, whether it is history, and the command it triggers (never for the bot's own
    /// lines or history).
    #[inline]
    fn chat_meta(&mut self, now: Clock, key: &[u8], text: &[u8], time: Option<i64>) -> ChatMeta {
        let user = self.user_of_bytes(key);
        let is_self = self.users.is_me_bytes(key);
        let time_ms = self.time_ms(now, time);
        // Times are whole seconds. A line stamped with the join's own second is live, unless
        // it is one that already ran a command before a quick reconnect (the first retry comes
        // within a second): then it is a replay, and must not run the command again. Later,
        // a `chatList` (the join's own too) replays lines the bot has seen live ([`SeenChat`]).
        let history = match time.zip(self.joined_server_s) {
            Some((t, joined)) if t < joined => true,
            Some((t, joined))
                if t == joined
                    && self.fired.iter().any(|(ft, est, conn, k, x)| {
                        *conn != self.connection
                            && (*ft == t || (*est && ft.abs_diff(t) <= 1))
                            && **k == *key
                            && **x == *text
                    }) =>
            {
                true
            }
            Some(_) => self.seen.is_replay(time, 0, key, text),
            // A live line without a time: remembered with the server second this session
            // estimates, for a `chatList` replay of it (which carries a time).
            None if self.joined_server_s.is_some() => {
                self.seen
                    .is_replay(None, (time_ms / 1000.0) as i64, key, text)
            }
            None => false,
        };
        // `text` is valid UTF-8 (both callers checked); it is made a `&str` again only when
        // there are commands to match.
        let trigger =
            if is_self || history || self.commands.is_empty() || self.defer(key, text, false) {
                None
            } else {
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|text| self.commands.dispatch_at(now, &user, text, false))
                    .map(Box::new)
            };
        if trigger.is_some() {
            // Lines that ran a command in the latest second or two (a few at most). A live line
            // without a time is stamped with the server's clock as this session estimates it.
            let t = time.unwrap_or((time_ms / 1000.0) as i64);
            self.fired.retain(|(ft, ..)| *ft >= t - 1);
            if self.fired.len() < 64 {
                self.fired
                    .push((t, time.is_none(), self.connection, key.into(), text.into()));
            }
        }
        ChatMeta {
            user,
            is_self,
            time_ms,
            history,
            trigger,
        }
    }

    /// The command a whisper runs: one whispered to the bot by someone else, for commands
    /// registered with [`CommandOptions::whispers`]. The chat log a join replays has no
    /// whispers (PROTOCOL.md), but one stamped before the join would be old all the same, and
    /// runs nothing.
    fn whisper_trigger(
        &mut self,
        now: Clock,
        from: &Rc<UserRecord>,
        (is_self, to_me): (bool, bool),
        time: Option<i64>,
        text: &[u8],
    ) -> Option<CommandTrigger> {
        let old = time.zip(self.joined_server_s).is_some_and(|(t, j)| t < j);
        if is_self
            || !to_me
            || old
            || self.commands.is_empty()
            || self.defer(&from.key.0, text, true)
        {
            return None;
        }
        let text = std::str::from_utf8(text).ok()?;
        self.commands.dispatch_at(now, from, text, true)
    }

    /// Whether the command a line from `key` may run waits for the user list (which has not
    /// come, and without which the sender is not known well enough); if so, the line is kept
    /// in `deferred`.
    fn defer(&mut self, key: &[u8], text: &[u8], whisper: bool) -> bool {
        // Asked for every chat line while commands are registered: no lookup unless a list is
        // awaited.
        if !self.list_pending {
            return false;
        }
        // A chat line's command needs the sender's record (its auth); a whisper's also needs
        // the sender present, for `reply`'s whisper back: the list's `k` records come before
        // its end, and only the end makes their users present.
        let ready = if whisper {
            self.users.is_present_bytes(key)
        } else {
            self.users.get_bytes(key).is_some()
        };
        if ready {
            return false;
        }
        // Only lines that name a command: plain chatter must not fill the list.
        let Some(text) = std::str::from_utf8(text)
            .ok()
            .filter(|t| self.commands.find(t, whisper).is_some())
        else {
            return false;
        };
        if self.deferred.len() >= DEFERRED_MAX {
            return false; // the list is late: match at once, as without a list
        }
        self.deferred.push((key.into(), text.into(), whisper));
        true
    }

    /// The user list has come (or [`LIST_WAIT_MS`] have passed without it, or the connection
    /// dropped before it): the commands of the lines kept in `deferred` run now, in order, with
    /// their senders as the list tells them (as far as known).
    fn release_deferred(&mut self, now: Clock) {
        self.list_pending = false;
        for (key, text, whisper) in std::mem::take(&mut self.deferred) {
            let user = self.user_of_bytes(&key);
            if let Some(t) = self.commands.dispatch_at(now, &user, &text, whisper) {
                self.emit(Event::Command(t));
            }
        }
    }

    /// [`Session::on_chat`] in tape mode, without building an [`Event`]: the record is written
    /// straight to the tape (the browser's hot path, docs/PERFORMANCE.md "Event tape").
    fn tape_chat(
        &mut self,
        now: Clock,
        key: &[u8],
        style: WireStyle,
        text: &[u8],
        time: Option<i64>,
    ) -> bool {
        let Some(range) = self.tape.as_mut().and_then(|t| t.text_bytes(text)) else {
            return false;
        };
        let m = self.chat_meta(now, key, text, time);
        // Command, style, message: the order of queue mode (see `on_chat`).
        if let Some(t) = m.trigger {
            self.tape
                .as_mut()
                .expect("tape mode")
                .push(Event::Command(*t));
        }
        let style = self.tape_style(style);
        let tape = self.tape.as_mut().expect("tape mode");
        tape.message(&m.user, style, range, m.time_ms, m.is_self, m.history);
        true
    }

    /// [`Session::on_whisper`] in tape mode (see [`Session::tape_chat`]).
    fn tape_whisper(
        &mut self,
        now: Clock,
        from: &[u8],
        to: &[u8],
        style: WireStyle,
        text: &[u8],
        time: Option<i64>,
    ) -> bool {
        let Some(range) = self.tape.as_mut().and_then(|t| t.text_bytes(text)) else {
            return false;
        };
        let (from_rec, to_rec) = (self.user_of_bytes(from), self.user_of_bytes(to));
        let is_self = self.users.is_me_bytes(from);
        let to_me = self.users.is_me_bytes(to);
        let trigger = self.whisper_trigger(now, &from_rec, (is_self, to_me), time, text);
        let time_ms = self.time_ms(now, time);
        // Command, style, whisper: the order of queue mode (see `on_chat`).
        if let Some(t) = trigger {
            self.tape
                .as_mut()
                .expect("tape mode")
                .push(Event::Command(t));
        }
        let style = self.tape_style(style);
        let tape = self.tape.as_mut().expect("tape mode");
        tape.whisper(&from_rec, &to_rec, style, range, time_ms, is_self);
        true
    }

    /// The parsed style for a style text. A room uses a handful of styles, so the last few
    /// are kept (parsing allocates the colour each time; docs/PERFORMANCE.md "Decode path").
    fn style_of(&mut self, wire: &str) -> Style {
        self.parse_style(wire).unwrap_or_default()
    }

    /// The parsed style for a style text, or `None` after an `error` event if it is malformed
    /// (the line is then shown in the plain style). Only well-formed styles are kept, so a
    /// malformed one is reported on every line that carries it, like any other malformed line.
    fn parse_style(&mut self, wire: &str) -> Option<Style> {
        if let Some((_, st)) = self.styles.iter().find(|(w, _)| w == wire) {
            return Some(st.clone());
        }
        match Style::parse(wire) {
            Ok(st) => {
                if self.styles.len() >= 16 {
                    self.styles.remove(0);
                }
                self.styles.push((wire.to_owned(), st.clone()));
                Some(st)
            }
            Err(e) => {
                self.line_error(|| {
                    ErrorInfo::sdk(
                        "message",
                        format!("malformed chat style from the server: {e}"),
                    )
                });
                None
            }
        }
    }

    fn on_joined(&mut self, now_ms: u64, key: UserKey) {
        if self.state != State::Joining {
            return;
        }
        if self.joined_server_s.is_none() {
            let joined = self.server_now_s(now_ms);
            self.joined_server_s = Some(joined);
            self.seen.joined(joined);
        }
        self.users.set_me(&key);
        self.ever_joined = true;
        self.connect_pending = false;
        self.attempt = 0;
        self.token_retry_used = false;
        if self.bucket.is_none() {
            self.bucket = self.config.rate_limit.map(|l| TokenBucket::new(l, now_ms));
        }
        self.set_state(State::Joined);
        if self.config.join_commands {
            // The burst's `chatList 15` goes out now (a queued one when the queue is sent).
            self.seen.requested(self.server_now_s(now_ms));
            self.list_pending = true;
            self.list_wait_until = now_ms.saturating_add(LIST_WAIT_MS);
            for cmd in [
                Command::UserList {
                    count: 10_000,
                    search: String::new(),
                },
                Command::Io(true),
                Command::ChatList(15),
                Command::NoticeList,
            ] {
                self.push_line(&Outgoing::Command(cmd).to_line());
            }
        }
        let my = self.user_or_key(&key);
        let room = self.room.clone().unwrap_or_else(|| RoomInfo {
            name: self.config.room.clone(),
            mode: crate::message::RoomMode::Basic,
            created: 0,
            flag_bytes: Vec::new(),
            server_time: (now_ms / 1000) as i64,
        });
        self.emit(Event::Joined { my, room });
    }

    fn on_server_error(&mut self, now_ms: u64, code: ErrorCode) {
        let info = ErrorInfo::server(&code);
        let n = code.code();
        if self.state != State::Joining {
            // In the room: reported as an error. Most are about one action (muted, flooding, no
            // permission…); after a fatal one (kicked 408, the room destroyed 419, connected
            // elsewhere 405…) the server's close that follows ends the session instead of
            // being re-joined. The bot does not close the socket itself: a code that the real
            // server also uses for a single refused action leaves it in the room.
            self.no_rejoin |= is_fatal(n);
            self.line_error(|| info);
            return;
        }
        let token_login = matches!(self.config.login, Login::Token { .. });
        if token_login && matches!(n, 202 | 203 | 205) && !self.token_retry_used {
            // One retry with a fresh time and hash (DECISIONS.md "Keepalive, reconnect, rate" 2).
            self.token_retry_used = true;
            self.emit(Event::Error(info));
            self.open_socket(now_ms);
            return;
        }
        if !self.ever_joined || is_fatal(n) {
            self.fail(now_ms, info, 4000);
            return;
        }
        // Re-join failed for a reason that may heal (room full, nick still taken…): retry later.
        self.emit(Event::Error(info));
        if self.socket_open {
            self.close_socket(4000, "join failed".into());
        }
        self.heartbeat_at = None;
        self.schedule_reconnect(now_ms, 4000, "join failed");
    }
}

fn fmt_reason(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(", reason {}", crate::codec::Quoted('"', reason))
    }
}

#[cfg(test)]
mod tests;
