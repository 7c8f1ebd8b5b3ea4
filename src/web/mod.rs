//! The browser layer: the `UChatBot` JS class over a `web_sys::WebSocket` and one timer.
//!
//! It moves bytes and time into [`crate::session::Session`] and carries out what the session
//! asks for; no protocol decision is made here. Resource rules (DESIGN.md "Pitfalls"):
//! * every `Closure` lives in the socket wrapper, `Socket` (or the bot), and is dropped with
//!   it — nothing is forgotten, so connect/close cycles do not leak;
//! * closures hold a `Weak` reference to the bot, so a dropped bot is really freed;
//! * but a bot is not dropped while it is connected: `connect(holder)` keeps the facade's JS
//!   object (`holder`) until the session is closed, as a browser keeps an open `WebSocket`,
//!   so a bot nobody references (`function start() { const b = …; b.connect(); }`, or any
//!   userscript, whose top level is a function) is not collected, and silently closed, at
//!   the next garbage collection;
//! * user callbacks run only after every `RefCell` borrow is released, so a handler may call
//!   `bot.send()` (or anything else) re-entrantly.

mod convert;

use crate::message::{Command, Outgoing, Style, StyleCache};
use crate::session::{Action, Clock, CommandOptions, Config, ErrorInfo, Event, Session, State};
use convert::*;
use gloo_timers::callback::Timeout;
use js_sys::{Array, Function, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

#[wasm_bindgen(module = "/src/web/hub.js")]
extern "C" {
    /// A bot's listeners and the reader of its event tape (src/web/hub.js).
    type Hub;
    #[wasm_bindgen(constructor)]
    fn new(memory: &JsValue) -> Hub;
    #[wasm_bindgen(method)]
    fn on(this: &Hub, name: &str, f: &Function, once: bool);
    /// Whether any listener for `name` is left.
    #[wasm_bindgen(method)]
    fn off(this: &Hub, name: &str, f: &Function) -> bool;
    #[wasm_bindgen(method)]
    fn has(this: &Hub, name: &str) -> bool;
    #[wasm_bindgen(method)]
    fn emit(this: &Hub, name: &str, payload: &JsValue);
    #[wasm_bindgen(method)]
    fn command(this: &Hub, f: &Function, ctx: &JsValue);
    /// Copies the bytes of `data` (an `ArrayBuffer` or a view of one) to `ptr` if they fit in
    /// `cap` bytes; returns their length either way, or -1 if `data` is a string. (The frame's
    /// clock is read by the session, only if a line needs it: [`Clock`].)
    #[wasm_bindgen(method)]
    fn load(this: &Hub, data: &JsValue, ptr: *mut u8, cap: usize) -> i32;
    /// `send(text, style)`'s text (UTF-8) and colour (ASCII, right after it) into `cap` bytes
    /// at `ptr`; their lengths, the style bits and `Date.now()` as four `f64`s at `out`. Returns 0 when
    /// written, 2 (the bytes needed in `out[0]`) when `cap` is too small, 1 when the
    /// arguments need the slow path ([`convert::style_from_js`], its error messages).
    #[wasm_bindgen(method)]
    fn chat(
        this: &Hub,
        text: &JsValue,
        style: &JsValue,
        ptr: *mut u8,
        cap: usize,
        out: *mut f64,
    ) -> u32;
    /// Dispatch tape records `at..end` (f64s at `ptr`) of the batch whose strings are the
    /// `len` UTF-16 code units at `text` (made into one JS string on the first call, `at == 0`,
    /// and kept on the hub's stack while the wasm side dispatches an OTHER record); returns
    /// the index of the first OTHER record, or `end`.
    #[wasm_bindgen(method)]
    fn run(
        this: &Hub,
        text: *const u16,
        len: usize,
        ptr: *const f64,
        at: usize,
        end: usize,
    ) -> usize;
}

/// The style of a line [`Inner::send_text`] sends: made already, or the bits and colour text
/// hub.js's `chat` read.
enum SendStyle<'a> {
    Given(&'a Style),
    Parts(u8, Option<&'a str>),
}

/// The text, style bits and colour that hub.js's `chat` wrote into `buf` (lengths in `out`);
/// `None` if they are not there (never, when it returned 0) or the colour is not UTF-8.
fn chat_parts<'a>(buf: &'a [u8], out: &[f64; 4]) -> Option<(&'a [u8], u8, Option<&'a str>)> {
    let (n, c) = (out[0] as usize, out[1]);
    // `TextEncoder` output: UTF-8, and only copied into the line (not read as a `str`).
    let text = buf.get(..n)?;
    let color = if c < 0.0 {
        None
    } else {
        Some(std::str::from_utf8(buf.get(n..n.checked_add(c as usize)?)?).ok()?)
    };
    Some((text, out[2] as u8, color))
}

/// Installs the panic hook once per module instance.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn random_seed() -> u64 {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (a << 32) ^ b ^ now_ms()
}

/// The `websocket` error's message when `new WebSocket(url)` threw `e`: the exception as
/// JavaScript prints it (a browser's own words, e.g. a `SecurityError` for a `ws://` URL from
/// an `https://` page), plus what to do where there is no `WebSocket` at all (Node.js before
/// 22). Without this the failure looked like a refused handshake, whose hint (intercepted
/// `ws://`) sent users the wrong way.
fn socket_error(url: &str, e: &JsValue) -> String {
    let text = match e.dyn_ref::<js_sys::Error>() {
        Some(e) => String::from(e.to_string()),
        // A thrown string (some polyfills), or an Error of another realm.
        None => e
            .as_string()
            .unwrap_or_else(|| "a non-Error exception".into()),
    };
    let mut m = String::from("new WebSocket(\"");
    for part in [url, "\") threw ", &text] {
        m.push_str(part);
    }
    if text.starts_with("ReferenceError") {
        m.push_str(
            ". This JavaScript environment has no WebSocket: in Node.js use version 22 or \
             later (20 with --experimental-websocket), or assign a WebSocket class to \
             globalThis.WebSocket before connect()",
        );
    }
    m
}

/// Event names user code may listen to.
const EVENTS: &[&str] = &[
    "join",
    "message",
    "whisper",
    "system",
    "user.join",
    "user.quit",
    "user.count",
    "user.list",
    "user.modi",
    "update",
    "error",
    "control",
    "plugin",
    "disconnect",
    "reconnecting",
    "state",
    "raw",
];

/// One open (or opening) WebSocket with its handlers. Dropping it detaches the handlers and
/// closes the socket.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(JsValue)>,
    _on_message: Closure<dyn FnMut(JsValue)>,
    _on_close: Closure<dyn FnMut(JsValue)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
    /// The ending an `error` event scheduled (see `Socket::open`); a `close` event, or dropping
    /// the socket, cancels it.
    _error_end: Rc<RefCell<Option<Timeout>>>,
}

impl Socket {
    fn open(url: &str, bot: Weak<Inner>) -> Result<Socket, JsValue> {
        let ws = WebSocket::new(url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let b = bot.clone();
        // All four handlers take a plain `JsValue`: one closure type instead of four means
        // one set of wasm-bindgen closure shims and glue (docs/DESIGN.md "Size").
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
            if let Some(bot) = b.upgrade() {
                bot.input(|s, now| s.on_open(now));
            }
        });
        let b = bot.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            if let Some(bot) = b.upgrade() {
                let e: MessageEvent = e.unchecked_into();
                bot.on_socket_data(&e.data());
            }
        });
        // An `error` event means the connection failed, and browsers fire `close` right after
        // it (Chromium and Firefox in the same task; WebKit normally right after, as a second
        // message from its network process) with the code and reason to report. Node.js's
        // WebSocket (undici 6: Node.js 20 with `--experimental-websocket`, and 22) fires only
        // `error` when it cannot connect, and without an ending of our own a connect() or
        // reconnect attempt there waited for good. So `error` schedules one for the next task,
        // a close with 1006 and the error's message as the reason (undici's is generic:
        // "Received network error or non-101 status code."); the `close` that follows in
        // browsers cancels it and is reported as it is. Where the timer wins anyway (a `close`
        // that comes later: WebKit under load, undici 7 waiting for the server's close frame
        // after a bad frame), the later `close` is ignored, as the socket has ended.
        let error_end: Rc<RefCell<Option<Timeout>>> = Rc::default();
        let b = bot.clone();
        let pending = error_end.clone();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            pending.borrow_mut().take();
            if let Some(bot) = b.upgrade() {
                let e: CloseEvent = e.unchecked_into();
                let (code, reason) = (e.code(), e.reason());
                bot.input(|s, now| s.on_close(now, code, &reason));
            }
        });
        let pending = error_end.clone();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let b = bot.clone();
            // A plain `Event` in browsers (no message); an `ErrorEvent` in Node.js.
            let reason = js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_default();
            *pending.borrow_mut() = Some(Timeout::new(0, move || {
                if let Some(bot) = b.upgrade() {
                    bot.input(|s, now| s.on_close(now, 1006, &reason));
                }
            }));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
            _error_end: error_end,
        })
    }

    fn send(&self, bytes: &[u8]) {
        // `send` on a closing socket does not throw everywhere; the session only sends while
        // open, and a socket that is closing will report its close next.
        if self.ws.ready_state() == WebSocket::OPEN {
            let _ = self.ws.send_with_u8_array(bytes);
        }
    }

    /// Closes the socket; its events are not reported (the caller reports the close itself).
    fn close(self, code: u16, reason: &str) {
        // Handlers off first: Node.js's WebSocket fires `error` (and in newer versions `close`)
        // synchronously inside `close()` on a socket that is still connecting, which would
        // re-enter the bot while `pump` holds its state (a panic: "already borrowed").
        self.detach();
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }

    fn detach(&self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.detach();
        if self.ws.ready_state() < WebSocket::CLOSING {
            let _ = self.ws.close();
        }
    }
}

struct Core {
    session: Session,
    socket: Option<Socket>,
    timer: Option<Timeout>,
    timer_at: Option<u64>,
    /// Bench hook (`__sink`): outgoing bytes go to this function instead of the socket.
    sink: Option<Function>,
}

/// What command handlers' `reply(text)` calls, bound to the sender's key (hex) for a
/// whispered command (`undefined` for one from the room): `(key, text)`.
type ReplyFn = Closure<dyn Fn(JsValue, JsValue) -> Result<(), JsValue>>;

/// Shared state of one bot. Closures reach it through `Weak`.
struct Inner {
    url: String,
    room_id: String,
    core: RefCell<Core>,
    hub: Hub,
    /// The bytes of the frame being handled (reused).
    frame_buf: RefCell<Vec<u8>>,
    /// The text and colour of the chat line being sent (reused; see `Inner::send_chat`).
    send_buf: RefCell<Vec<u8>>,
    /// The coloured styles `send` saw last, by their bits and colour text.
    styles: RefCell<StyleCache>,
    /// `onCommand` handlers by command id. A list, not a map: a bot has a few commands, and each
    /// map type is its own copy of the hash table code in the wasm (docs/DESIGN.md "Size").
    handlers: RefCell<Vec<(u32, Function)>>,
    waiters: RefCell<Vec<(Function, Function)>>,
    /// The JS object of this bot from `connect()` until the session is closed: it keeps the
    /// bot from being garbage-collected while connected (see the module documentation).
    holder: RefCell<Option<JsValue>>,
    /// The function behind command handlers' `reply(text)` (see [`ReplyFn`]).
    reply: RefCell<Option<ReplyFn>>,
    /// The `users` array as last built, with the user table's
    /// [`changes`](crate::session::UserTable::changes) then.
    users: RefCell<Option<(u64, Array)>>,
    /// How many times `close()` was called. A batch whose dispatch began before the latest
    /// call is stale: its events from before the close (a `reconnecting` after a `disconnect`
    /// handler closed the bot, a command further on in the same server message) are not
    /// delivered, only a waiting `connect()` is still settled (see `Inner::dispatch`).
    closes: Cell<u32>,
    /// Whether the event dispatched last was a join failure that rejected a `connect()`: the
    /// `error` event that follows it reports the same failure, so it is not also logged as
    /// unhandled when nobody listens (see `Inner::dispatch`).
    rejected: Cell<bool>,
}

/// The largest frame buffer a bot keeps between WebSocket messages (1 MiB, the decoder's
/// default line limit).
const FRAME_BUF_KEEP: usize = 1 << 20;

impl Inner {
    /// One WebSocket message (`MessageEvent.data`: an `ArrayBuffer`, or a string for a text
    /// frame) into the session. The socket's `onmessage` and the bench hook `__feed` both come
    /// here, so the bench measures exactly what a bot does with a frame.
    fn on_socket_data(self: &Rc<Self>, data: &JsValue) {
        // One buffer for every frame (no allocation per frame once it is big enough), filled by
        // one call into hub.js (one boundary crossing per frame instead of four).
        let mut buf = self.frame_buf.take();
        let mut n = self.hub.load(data, buf.as_mut_ptr(), buf.len());
        if n >= 0 && n as usize > buf.len() {
            buf.resize(n as usize, 0);
            n = self.hub.load(data, buf.as_mut_ptr(), buf.len());
        }
        // The clock is read only if the frame needs the time: most frames do not (chat lines
        // carry theirs), and a `Date.now` call was ~1.5 % of the time per frame
        // (docs/PERFORMANCE.md "Session 17").
        let read = Cell::new(None);
        let now = Clock::Lazy(&read, &now_ms);
        match usize::try_from(n) {
            Ok(len) => self.input_clock(now, |s, now| {
                s.on_frame_at(now, &buf[..len.min(buf.len())]);
            }),
            // DECISIONS.md "Decoding" 7: a text frame is its UTF-8 bytes.
            Err(_) => {
                let text = data.as_string().unwrap_or_default();
                self.input_clock(now, |s, now| s.on_frame_at(now, text.as_bytes()));
            }
        }
        // Kept for the next frame unless an unusually large message grew it: that one's memory
        // goes back to the allocator instead of staying held by this bot.
        if buf.capacity() <= FRAME_BUF_KEEP {
            *self.frame_buf.borrow_mut() = buf;
        }
    }

    /// `send(content, style)` (and command handlers' `reply`): hub.js writes the text and the
    /// style's colour into `send_buf` and hands back the style bits in one call, instead of a
    /// string crossing for each and a getter call per style property (docs/PERFORMANCE.md
    /// "Encode"); arguments it does not take (wrong types) go the slow way, which names the
    /// problem.
    fn send_chat(self: &Rc<Self>, content: &JsValue, style: &JsValue) -> Result<(), JsValue> {
        let mut buf = self.send_buf.take();
        let mut out = [0f64; 4];
        let call = |buf: &mut Vec<u8>, out: &mut [f64; 4]| {
            let (ptr, cap) = (buf.as_mut_ptr(), buf.len());
            self.hub.chat(content, style, ptr, cap, out.as_mut_ptr())
        };
        let mut r = call(&mut buf, &mut out);
        if r == 2 {
            buf.resize(out[0] as usize, 0);
            r = call(&mut buf, &mut out);
        }
        let result = match (r, chat_parts(&buf, &out)) {
            (0, Some((text, bits, color))) => {
                self.send_text(out[3] as u64, text, SendStyle::Parts(bits, color))
            }
            _ => self.send_chat_slow(content, style),
        };
        *self.send_buf.borrow_mut() = buf;
        result
    }

    /// [`Inner::send_chat`] for arguments hub.js did not take: every check, with its message.
    fn send_chat_slow(self: &Rc<Self>, content: &JsValue, style: &JsValue) -> Result<(), JsValue> {
        let text = content
            .as_string()
            .ok_or_else(|| type_error("send(content, style?): content must be a string"))?;
        let style = style_from_js(style)?;
        self.send_text(now_ms(), text.as_bytes(), SendStyle::Given(&style))
    }

    /// The nick of the present user whose key is `key_hex`, if they have one.
    fn present_nick(&self, key_hex: &str) -> Option<String> {
        // Compared as hex: the key's hex is code the wasm has anyway (user objects), parsing
        // hex back is not (with its error message, 422 B gzipped more).
        let core = self.core.borrow();
        let users = core.session.users();
        let rec = users.present().find(|r| r.key.to_hex() == key_hex)?;
        (!rec.nick.is_empty()).then(|| rec.nick.clone())
    }

    /// Sends any line user code asked for (`whisper`, `command`, a whispered command's reply).
    fn send_message(self: &Rc<Self>, msg: &Outgoing) -> Result<(), JsValue> {
        let mut result = Ok(());
        self.input(|s, now| result = s.send(now, msg));
        result.map_err(|e: ErrorInfo| error_to_js(&e))
    }

    /// Sends a chat line. A coloured style comes from the cache, which is borrowed inside the
    /// input only: the input's events go to handlers after that, and they may send again.
    fn send_text(
        self: &Rc<Self>,
        now: u64,
        text: &[u8],
        style: SendStyle<'_>,
    ) -> Result<(), JsValue> {
        let mut result = Ok(());
        self.input_at(now, |s, now| {
            let plain;
            let mut styles = self.styles.borrow_mut();
            let style = match style {
                SendStyle::Given(style) => style,
                SendStyle::Parts(bits, None) => {
                    plain = Style::from_bits(bits);
                    &plain
                }
                SendStyle::Parts(bits, Some(color)) => match styles.get(bits, color) {
                    Ok(style) => style,
                    Err(e) => {
                        result = Err(type_error(&format!("style.color: {e}")));
                        return;
                    }
                },
            };
            result = s
                .send_chat_utf8(now, style, text)
                .map_err(|e| error_to_js(&e));
        });
        result
    }

    /// Feed the session one input, carry out its actions, then dispatch its events.
    fn input(self: &Rc<Self>, f: impl FnOnce(&mut Session, u64)) {
        // One clock read per input: the actions and the timer below happen in the same tick.
        self.input_at(now_ms(), f);
    }

    /// [`Inner::input`] with the clock already read (`now`, ms since the epoch).
    fn input_at(self: &Rc<Self>, now: u64, f: impl FnOnce(&mut Session, u64)) {
        self.input_clock(Clock::Fixed(now), |s, now| f(s, now.ms()));
    }

    /// [`Inner::input_at`] with a [`Clock`] that may not have been read yet.
    fn input_clock(self: &Rc<Self>, now: Clock, f: impl FnOnce(&mut Session, Clock)) {
        {
            let mut core = self.core.borrow_mut();
            f(&mut core.session, now);
        }
        self.pump(now);
    }

    fn pump(self: &Rc<Self>, now: Clock) {
        let batch = {
            let mut core = self.core.borrow_mut();
            let core = &mut *core;
            while let Some(action) = core.session.poll_action() {
                match action {
                    Action::Open => {
                        core.socket = None;
                        match Socket::open(&self.url, Rc::downgrade(self)) {
                            Ok(s) => core.socket = Some(s),
                            Err(e) => core
                                .session
                                .on_socket_error(now.ms(), &socket_error(&self.url, &e)),
                        }
                    }
                    Action::Send(bytes) => {
                        if let Some(sink) = &core.sink {
                            // What `send_with_u8_array` hands the socket: a view of the bytes
                            // in wasm memory, for the call only (the socket copies them).
                            // SAFETY: nothing in this module allocates while the view lives;
                            // if the sink makes the memory grow, the view only goes empty.
                            let view = unsafe { Uint8Array::view(&bytes) };
                            let _ = sink.call1(&JsValue::UNDEFINED, &view);
                        } else if let Some(s) = &core.socket {
                            s.send(&bytes);
                        }
                    }
                    Action::Close { code, reason } => {
                        if let Some(s) = core.socket.take() {
                            s.close(code, &reason);
                        }
                        // Handlers are detached, so report the close ourselves.
                        core.session.on_close(now.ms(), code, &reason);
                    }
                }
            }
            self.arm_timer(core, now);
            core.session.take_batch()
        };
        let epoch = self.closes.get();
        // Every borrow is released: user code may call back into the bot (even start another
        // batch); this batch's buffers are owned here until it is dispatched.
        let Some(mut batch) = batch else {
            return;
        };
        {
            // The frame text is made inside the first `run` call (no crossing of its own);
            // `run` is called until it returns `end` (keeps hub.js's stack of texts balanced).
            let (text, len) = (batch.text.as_ptr(), batch.text.len());
            let (ptr, end) = (batch.nums.as_ptr(), batch.nums.len());
            let mut at = self.hub.run(text, len, ptr, 0, end);
            if at < end {
                // Rare: the walk stopped at an OTHER record; its event is dispatched here and
                // the walk resumes after it (no `Drain` made and dropped per frame).
                let mut others = batch.others.drain(..);
                while at < end {
                    if let Some(e) = others.next() {
                        self.dispatch(e, epoch);
                    }
                    at = self.hub.run(text, len, ptr, at + 1, end);
                }
            }
        }
        self.core.borrow_mut().session.give_back(batch);
    }

    fn arm_timer(self: &Rc<Self>, core: &mut Core, now: Clock) {
        let next = core.session.next_timeout_at(now);
        if next == core.timer_at && (next.is_none() || core.timer.is_some()) {
            return;
        }
        core.timer = None;
        core.timer_at = next;
        if let Some(at) = next {
            // setTimeout takes at most 2^31 - 1 ms (a longer delay fires at once, which would spin):
            // a later deadline is re-armed when this one fires.
            let delay = at.saturating_sub(now.ms()).min(i32::MAX as u64) as u32;
            let weak = Rc::downgrade(self);
            core.timer = Some(Timeout::new(delay, move || {
                if let Some(bot) = weak.upgrade() {
                    bot.core.borrow_mut().timer_at = None;
                    bot.input(|s, now| s.on_timeout(now));
                }
            }));
        }
    }

    fn emit(&self, name: &str, payload: JsValue) {
        self.hub.emit(name, &payload);
    }

    fn has_listeners(&self, name: &str) -> bool {
        self.hub.has(name)
    }

    /// An event that is not on the tape ([`crate::session::tape::OTHER`]), from a batch taken
    /// when `close()` had been called `epoch` times.
    fn dispatch(&self, e: Event, epoch: u32) {
        let stale = self.closes.get() != epoch;
        let rejected = self.rejected.replace(false);
        match e {
            Event::State(s) => {
                // Collectable again once user code lets go of it; unless a handler earlier in
                // this batch ('disconnect', 'error') already called connect() again. (Also
                // from a stale batch: the holder must never outlive the session.)
                let closed_now = self
                    .core
                    .try_borrow()
                    .is_ok_and(|c| c.session.state() == State::Closed);
                if s == State::Closed && closed_now {
                    drop(self.holder.take());
                }
                if !stale {
                    self.emit("state", obj(&[("state", s.as_str().into())]))
                }
            }
            Event::Joined { my, room } => {
                let my = user_to_js(&my);
                for (resolve, _) in self.waiters.take() {
                    let _ = resolve.call1(&JsValue::UNDEFINED, &my);
                }
                if !stale && self.has_listeners("join") {
                    let room = room_to_js(&self.room_id, &room);
                    self.emit("join", obj(&[("my", my), ("room", room)]));
                }
            }
            Event::JoinFailed(info) => {
                let err = error_to_js(&info);
                let waiters = self.waiters.take();
                self.rejected.set(!waiters.is_empty());
                for (_, reject) in waiters {
                    let _ = reject.call1(&JsValue::UNDEFINED, &err);
                }
            }
            _ if stale => {}
            Event::UserModi { target, changed } => self.emit(
                "user.modi",
                obj(&[
                    ("target", target.into()),
                    ("changed", pairs_to_js(&changed)),
                ]),
            ),
            Event::Update(kv) => self.emit("update", pairs_to_js(&kv)),
            // With no listener hub.js logs the error (console.warn), unless a rejected
            // `connect()` has just reported it.
            Event::Error(info) => {
                if !rejected || self.has_listeners("error") {
                    self.emit("error", error_payload(&info))
                }
            }
            Event::Control(c) => self.emit(
                "control",
                obj(&[("type", c.kind.into()), ("data", fields_to_js(&c.args))]),
            ),
            Event::Plugin { user, message } => self.emit(
                "plugin",
                obj(&[
                    ("user", user_to_js(&user)),
                    ("type", field_to_js(&message.kind)),
                    ("channel", message.channel.into()),
                    ("data", fields_to_js(&message.data)),
                ]),
            ),
            Event::Disconnect {
                code,
                reason,
                will_reconnect,
            } => self.emit(
                "disconnect",
                obj(&[
                    ("code", code.into()),
                    ("reason", reason.into()),
                    ("willReconnect", will_reconnect.into()),
                ]),
            ),
            Event::Reconnecting { attempt, delay_ms } => self.emit(
                "reconnecting",
                obj(&[
                    ("attempt", attempt.into()),
                    ("delayMs", (delay_ms as f64).into()),
                ]),
            ),
            // On the tape (src/session/tape.rs), never here.
            Event::Message { .. }
            | Event::Whisper { .. }
            | Event::System { .. }
            | Event::UserJoin(_)
            | Event::UserQuit(_)
            | Event::UserCount(_)
            | Event::UserList(_) => {}
            Event::Raw(line) => {
                self.emit(
                    "raw",
                    obj(&[
                        ("line", line.to_string().into()),
                        ("key", line.key.as_str().into()),
                        ("fields", fields_to_js(&line.fields)),
                    ]),
                );
                // A `once` listener is removed in hub.js as it fires: with the last one gone,
                // lines go back to the fast path (raw events cost a copy per line).
                if !self.has_listeners("raw") {
                    if let Ok(mut core) = self.core.try_borrow_mut() {
                        core.session.set_raw_events(false);
                    }
                }
            }
            Event::Command(t) => {
                let handler = self
                    .handlers
                    .borrow()
                    .iter()
                    .find(|(id, _)| *id == t.id)
                    .map(|(_, h)| h.clone());
                if let Some(h) = handler {
                    let reply = self.reply.borrow();
                    let reply: &Function = match reply.as_ref() {
                        Some(c) => c.as_ref().unchecked_ref(),
                        None => return,
                    };
                    // A whispered command is answered with a whisper to its sender: the same
                    // closure with the sender's key bound as its first argument.
                    let reply = if t.whisper {
                        reply.bind1(&JsValue::UNDEFINED, &t.user.key.to_hex().into())
                    } else {
                        reply.bind1(&JsValue::UNDEFINED, &JsValue::UNDEFINED)
                    };
                    let args: Array = t.args.iter().map(|a| JsValue::from_str(a)).collect();
                    let ctx = obj(&[
                        ("user", user_to_js(&t.user)),
                        ("name", t.name.into()),
                        ("args", args.into()),
                        ("rest", t.rest.into()),
                        ("reply", reply.into()),
                        ("whisper", t.whisper.into()),
                    ]);
                    self.hub.command(&h, &ctx);
                }
            }
        }
    }
}

/// `event` is one of [`EVENTS`], or a `TypeError` that lists them.
fn check_event(event: &str) -> Result<(), JsValue> {
    if EVENTS.contains(&event) {
        return Ok(());
    }
    Err(type_error(&format!(
        "unknown event '{event}'; events: {}",
        join_names(EVENTS)
    )))
}

/// A UChat bot in the browser. See the README for the API; TypeScript declarations ship with
/// the package.
#[wasm_bindgen]
pub struct UChatBot {
    inner: Rc<Inner>,
}

impl Drop for UChatBot {
    /// `free()` of a bot that is still connecting, joined or reconnecting closes it first: a
    /// waiting `connect()` rejects (code `closed`) instead of never settling, and the server
    /// sees the bot leave. (A bot in that state is never garbage-collected: the SDK holds it.)
    fn drop(&mut self) {
        let live = self
            .inner
            .core
            .try_borrow()
            .is_ok_and(|c| !matches!(c.session.state(), State::Idle | State::Closed));
        if live {
            self.close();
        }
    }
}

#[wasm_bindgen]
impl UChatBot {
    /// `new UChatBot({ room, url, nick, …, userData | token, heartbeatMs, joinTimeoutMs,
    /// reconnect, rateLimit, queueLimit })`. Throws a `TypeError` naming a missing or mistyped option.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<UChatBot, JsValue> {
        let (url, config) = options_from_js(&options, random_seed())?;
        Self::from_config(url, config)
    }

    fn from_config(url: String, config: Config) -> Result<UChatBot, JsValue> {
        let room_id = config.room.clone();
        let mut session = Session::new(config).map_err(|e| type_error(&e.message))?;
        session.use_tape();
        let inner = Rc::new(Inner {
            url,
            room_id,
            core: RefCell::new(Core {
                session,
                socket: None,
                timer: None,
                timer_at: None,
                sink: None,
            }),
            hub: Hub::new(&wasm_bindgen::memory()),
            frame_buf: RefCell::new(Vec::new()),
            send_buf: RefCell::new(Vec::new()),
            styles: RefCell::new(StyleCache::default()),
            handlers: RefCell::new(Vec::new()),
            waiters: RefCell::new(Vec::new()),
            holder: RefCell::new(None),
            reply: RefCell::new(None),
            users: RefCell::new(None),
            closes: Cell::new(0),
            rejected: Cell::new(false),
        });
        let weak = Rc::downgrade(&inner);
        *inner.reply.borrow_mut() = Some(Closure::new(move |key: JsValue, text: JsValue| {
            let bot = weak
                .upgrade()
                .ok_or_else(|| type_error("this bot no longer exists"))?;
            let Some(key) = key.as_string() else {
                if !text.is_string() {
                    return Err(type_error("reply(text): text must be a string"));
                }
                return bot.send_chat(&text, &JsValue::UNDEFINED);
            };
            let text = text
                .as_string()
                .ok_or_else(|| type_error("reply(text): text must be a string"))?;
            // Whispers go by nick: the sender's nick now, and only while they are here, so a
            // late answer never reaches someone who took the nick after they left.
            let nick = bot.present_nick(&key).ok_or_else(|| {
                error_to_js(&ErrorInfo {
                    code: None,
                    name: "not_present".into(),
                    message: "reply(text): the sender of the whispered command has left the room \
                              (or has no nick); the answer was not sent"
                        .into(),
                })
            })?;
            bot.send_message(&Outgoing::Whisper { nick, text })
        }));
        Ok(UChatBot { inner })
    }

    /// `UChatBot.fromElement(el, extraOptions?)`: a bot that joins as the page's user, from a
    /// `<u-chat room="…" user_data="…">` element.
    #[wasm_bindgen(js_name = fromElement)]
    pub fn from_element(el: &web_sys::Element, extra: JsValue) -> Result<UChatBot, JsValue> {
        let room = el.get_attribute("room").filter(|r| !r.is_empty()).ok_or_else(|| {
            type_error("fromElement: the element has no `room` attribute; pass the page's <u-chat room=\"…\"> element")
        })?;
        let options = js_sys::Object::new();
        if extra.is_object() {
            js_sys::Object::assign(&options, extra.unchecked_ref());
        } else if !(extra.is_undefined() || extra.is_null()) {
            return Err(type_error(
                "fromElement(el, options): options must be an object",
            ));
        }
        set(&options, "room", room);
        // (`null` reads as not given, as the options do.)
        let given = |k: &str| {
            let v = get(&options, k);
            !(v.is_undefined() || v.is_null())
        };
        if let Some(ud) = el.get_attribute("user_data").filter(|u| !u.is_empty()) {
            set(&options, "userData", ud);
        } else if el
            .get_attribute("user_data_url")
            .is_some_and(|u| !u.is_empty())
            && !given("userData")
            && !given("token")
        {
            // uchat.js's second source of join data (PROTOCOL.md §4.1): a script of the site's.
            // Without it the page's user would silently join as a guest.
            return Err(type_error(
                "fromElement: this <u-chat> has no `user_data` but a `user_data_url`, a script \
                 of the site's that the SDK does not run; pass the user data yourself: \
                 UChatBot.fromElement(el, { userData })",
            ));
        }
        if let Some(pw) = el.get_attribute("password").filter(|p| !p.is_empty()) {
            set(&options, "password", pw);
        }
        Self::new(options.into())
    }

    /// Connect and join. Resolves with my user object at `i2`; rejects with an `Error` carrying
    /// `code` (ERR number or `'handshake'`, …), `name` and an English `message`.
    ///
    /// `holder`: the bot's JS object, kept until the session closes so that a connected bot
    /// is not garbage-collected (the package's facade passes `this`; `undefined` keeps
    /// nothing).
    pub fn connect(&self, holder: JsValue) -> Promise {
        if holder.is_object() {
            *self.inner.holder.borrow_mut() = Some(holder);
        }
        if let Some(me) = self.joined_me() {
            return Promise::resolve(&me);
        }
        let inner = self.inner.clone();
        Promise::new(&mut |resolve, reject| {
            inner.waiters.borrow_mut().push((resolve, reject));
            inner.input(|s, now| s.connect(now));
        })
    }

    fn joined_me(&self) -> Option<JsValue> {
        let core = self.inner.core.borrow();
        if core.session.state() == State::Joined {
            core.session.me().map(user_to_js)
        } else {
            None
        }
    }

    /// Leave the room and close the socket. Pending `connect()` promises reject. Called by a
    /// handler, it also ends the delivery of the events still pending from before it (see
    /// `Inner::closes`).
    pub fn close(&self) {
        // Only a close that ends something makes what is pending stale: on a session that has
        // already ended (an 'error' handler of a failed connect), the batch's own 'disconnect'
        // and 'state' are what the handler's caller should see.
        if self.inner.core.borrow().session.state() != State::Closed {
            let closes = &self.inner.closes;
            closes.set(closes.get().wrapping_add(1));
        }
        // The session cancels its timers; `pump` then drops the browser timer (and keeps one a
        // handler's connect() has armed meanwhile).
        self.inner.input(|s, now| s.close(now));
    }

    /// `bot.on(event, fn)`; returns the bot for chaining. Unknown event names throw.
    pub fn on(&self, event: &str, f: Function) -> Result<(), JsValue> {
        self.add_listener(event, f, false)
    }

    /// `bot.once(event, fn)`: like `on`, removed after the first call.
    pub fn once(&self, event: &str, f: Function) -> Result<(), JsValue> {
        self.add_listener(event, f, true)
    }

    /// `bot.off(event, fn)`: remove a listener added with `on`/`once`. Unknown event names
    /// throw, as in `on` (a typo would otherwise leave the listener in place silently).
    pub fn off(&self, event: &str, f: &Function) -> Result<(), JsValue> {
        check_event(event)?;
        let left = self.inner.hub.off(event, f);
        if event == "raw" && !left {
            self.inner.core.borrow_mut().session.set_raw_events(false);
        }
        Ok(())
    }

    fn add_listener(&self, event: &str, f: Function, once: bool) -> Result<(), JsValue> {
        check_event(event)?;
        self.inner.hub.on(event, &f, once);
        if event == "raw" {
            self.inner.core.borrow_mut().session.set_raw_events(true);
        }
        Ok(())
    }

    fn send_outgoing(&self, msg: &Outgoing) -> Result<(), JsValue> {
        self.inner.send_message(msg)
    }

    /// Send a chat line. `style`: `{bold, italic, underline, color}`.
    pub fn send(&self, content: JsValue, style: JsValue) -> Result<(), JsValue> {
        self.inner.send_chat(&content, &style)
    }

    /// Whisper to one user.
    pub fn whisper(&self, nick: JsValue, content: JsValue) -> Result<(), JsValue> {
        let nick = nick
            .as_string()
            .ok_or_else(|| type_error("whisper(nick, content): nick must be a string"))?;
        let text = content
            .as_string()
            .ok_or_else(|| type_error("whisper(nick, content): content must be a string"))?;
        self.send_outgoing(&Outgoing::Whisper { nick, text })
    }

    /// `bot.command(name, ...args)`: any command (PROTOCOL.md §3.1), sent as
    /// `command | name | args…` with the arguments typed as given (strings, numbers, booleans,
    /// `undefined`, `Uint8Array`). The typed helpers of the package (`mute`, `ban`, `chatList`,
    /// …, pkg-template/index.js) are written on top of it, in JS: the wasm keeps one entry
    /// point for all commands (docs/DESIGN.md "Size").
    #[wasm_bindgen(variadic)]
    pub fn command(&self, name: JsValue, args: Vec<JsValue>) -> Result<(), JsValue> {
        let name = name.as_string().filter(|n| !n.is_empty()).ok_or_else(|| {
            type_error("command(name, ...args): name must be a non-empty string like 'info'")
        })?;
        let args = js_to_fields(&args, "command argument", true)?;
        self.send_outgoing(&Outgoing::Command(Command::Other { name, args }))
    }

    /// Send a plugin message to everyone: `bot.plugin(channel, ...data)`.
    #[wasm_bindgen(variadic)]
    pub fn plugin(&self, channel: String, data: Vec<JsValue>) -> Result<(), JsValue> {
        let data = js_to_fields(&data, "plugin data", false)?;
        self.send_outgoing(&Outgoing::Plugin { channel, data })
    }

    /// `bot.onCommand(name, handler, { prefix = '!', cooldownMs, perUserCooldownMs, minAuth,
    /// whispers = false })`: calls `handler({user, name, args, rest, reply, whisper})` for
    /// `!name args…` in chat from others (and, with `whispers`, whispered to the bot; `reply`
    /// then whispers back).
    /// Returns the command's id for `offCommand(id)`.
    #[wasm_bindgen(js_name = onCommand)]
    pub fn on_command(
        &self,
        name: String,
        handler: Function,
        options: JsValue,
    ) -> Result<u32, JsValue> {
        let mut opts = CommandOptions::default();
        if options.is_object() {
            known_keys(
                &options,
                "onCommand option",
                "",
                &[
                    "prefix",
                    "cooldownMs",
                    "perUserCooldownMs",
                    "minAuth",
                    "whispers",
                ],
            )?;
            let num = |k: &str| -> Result<Option<f64>, JsValue> {
                let v = get(&options, k);
                if v.is_undefined() || v.is_null() {
                    return Ok(None);
                }
                v.as_f64()
                    .filter(|n| n.is_finite())
                    .map(Some)
                    .ok_or_else(|| type_error(&format!("onCommand option `{k}` must be a number")))
            };
            let prefix = get(&options, "prefix");
            if !prefix.is_undefined() {
                opts.prefix = prefix
                    .as_string()
                    .ok_or_else(|| type_error("onCommand option `prefix` must be a string"))?;
            }
            if let Some(n) = num("cooldownMs")? {
                opts.cooldown_ms = n.max(0.0) as u64;
            }
            if let Some(n) = num("perUserCooldownMs")? {
                opts.per_user_cooldown_ms = n.max(0.0) as u64;
            }
            if let Some(n) = num("minAuth")? {
                opts.min_auth = n as i64;
            }
            let whispers = get(&options, "whispers");
            if !whispers.is_undefined() {
                opts.whispers = whispers
                    .as_bool()
                    .ok_or_else(|| type_error("onCommand option `whispers` must be a boolean"))?;
            }
        } else if !(options.is_undefined() || options.is_null()) {
            return Err(type_error(
                "onCommand(name, handler, options?): options must be an object",
            ));
        }
        let id = self
            .inner
            .core
            .borrow_mut()
            .session
            .commands_mut()
            .register(&name, opts)
            .map_err(|e| type_error(&e))?;
        // Ids are never reused, so this adds a new entry.
        self.inner.handlers.borrow_mut().push((id, handler));
        Ok(id)
    }

    /// Remove a command registered with `onCommand` (by the id it returned); false if unknown.
    #[wasm_bindgen(js_name = offCommand)]
    pub fn off_command(&self, id: u32) -> bool {
        self.inner.handlers.borrow_mut().retain(|(i, _)| *i != id);
        self.inner
            .core
            .borrow_mut()
            .session
            .commands_mut()
            .unregister(id)
    }

    /// Bench hook, not API (`cargo xtask bench`, docs/PERFORMANCE.md): handle `data` (an
    /// `ArrayBuffer`, `Uint8Array` or string) exactly as if the WebSocket had delivered it. The
    /// session ignores it unless the bot is joining or joined. Not from inside an event handler:
    /// a frame nested in another frame's dispatch can see user slots out of order
    /// (docs/DESIGN.md "Notes"), which a socket never does.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = __feed)]
    pub fn bench_feed(&self, data: JsValue) {
        self.inner.on_socket_data(&data);
    }

    /// Bench hook, not API: send outgoing lines to `f(Uint8Array)` instead of the socket
    /// (`null` restores the socket), so encoding can be timed without the network. `f` gets
    /// what the socket gets, a view of wasm memory that is only valid during the call.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = __sink)]
    pub fn bench_sink(&self, f: Option<Function>) {
        self.inner.core.borrow_mut().sink = f;
    }

    /// Present users (array of user objects). Built again only when the user table has
    /// changed since the last call (each user object is eleven property sets across the
    /// boundary): until then each call gets a copy of the same array, whose user objects are
    /// shared, like events' (read-only).
    #[wasm_bindgen(getter)]
    pub fn users(&self) -> Array {
        let core = self.inner.core.borrow();
        let table = core.session.users();
        let cached = match &*self.inner.users.borrow() {
            Some((at, list)) if *at == table.changes() => Some(list.clone()),
            _ => None,
        };
        // Built with no borrow of the cache held: building calls into JS (a setter on
        // `Object.prototype` could read `users` again).
        let list = cached.unwrap_or_else(|| {
            let list: Array = table.present().map(user_to_js).collect();
            *self.inner.users.borrow_mut() = Some((table.changes(), list.clone()));
            list
        });
        list.slice(0, list.length())
    }

    /// The present user called `nick`, or `undefined`.
    pub fn user(&self, nick: &str) -> JsValue {
        let core = self.inner.core.borrow();
        core.session
            .users()
            .by_nick(nick)
            .map_or(JsValue::UNDEFINED, user_to_js)
    }

    /// My user object, or `null` before the join.
    #[wasm_bindgen(getter)]
    pub fn me(&self) -> JsValue {
        let core = self.inner.core.borrow();
        core.session.me().map_or(JsValue::NULL, user_to_js)
    }

    /// Room info, or `null` before the join.
    #[wasm_bindgen(getter)]
    pub fn room(&self) -> JsValue {
        let core = self.inner.core.borrow();
        core.session
            .room()
            .map_or(JsValue::NULL, |r| room_to_js(&self.inner.room_id, r))
    }

    /// `'idle' | 'connecting' | 'joining' | 'joined' | 'reconnecting' | 'closed'`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.inner.core.borrow().session.state().as_str().to_owned()
    }

    /// Lines waiting to be sent (queued while away or held back by the rate limit).
    #[wasm_bindgen(getter)]
    pub fn queued(&self) -> usize {
        self.inner.core.borrow().session.queued()
    }
}

impl UChatBot {
    /// Whether lines are decoded for `'raw'` listeners (for tests; not exported to JS).
    #[doc(hidden)]
    pub fn raw_lines_on(&self) -> bool {
        self.inner.core.borrow().session.raw_events()
    }
}
