//! The event tape: the hot events of one batch (a WebSocket frame) as flat numbers plus one
//! text buffer of UTF-16 code units, so the browser layer hands a whole frame to JS in one call
//! and JS builds the event objects itself, making every string of the frame with one
//! `String.fromCharCode` call (docs/PERFORMANCE.md "Event tape").
//!
//! Why: in a browser the cost of an event is creating JS strings and objects, and every
//! wasm→JS call or string handed over costs more than the bytes it carries. The tape turns the
//! per-event, per-field crossings into one crossing per frame; strings are UTF-16 ranges of the
//! frame's decoded text, taken with `String.prototype.substring` (cheap in every engine).
//!
//! Records (every item is an `f64`; a string is two items, its UTF-16 start and end in the
//! text; `-1, -1` is `undefined`/`null`). The reader is `src/web/hub.js`; keep both in step.
//!
//! | tag | record |
//! |---|---|
//! | [`MESSAGE`] | user, style, text, time ms, flags (1 self, 2 history) |
//! | [`WHISPER`] | from, to, style, text, time ms, self (0/1) |
//! | [`JOIN`] | user |
//! | [`QUIT`] | user (the slot is free after this record) |
//! | [`COUNT`] | n |
//! | [`LIST`] | n, then n users |
//! | [`SYSTEM`] | code, name, n, then n fields (type byte, a, b: written by `Tape::field`) |
//! | [`USER`] | slot, key, nick, id, level, auth, icons, nickcon, connected ms, mute (0/1), session, profileimg |
//! | [`STYLE`] | slot, bits (bold 4, italic 2, underline 1), colour |
//! | [`OTHER`] | (none): the next event of [`Tape::others`] goes here |
//! | [`RESET`] | (none): forget every user slot |
//!
//! Users and styles are slots: a `USER`/`STYLE` record defines (or redefines) a slot before the
//! first record that uses it, so JS keeps one shared object per user record and per style, as
//! the event payloads promise (README "Events").

use super::{Event, FxMap};
use crate::codec::FieldRef;
use crate::message::{Style, SystemCode, UserRecord};
use std::mem::MaybeUninit;
use std::rc::Rc;

/// Appends the listed values to the `Vec` `$v`: room reserved once, then each value stored
/// in place. `extend_from_slice` stays a call in the size-optimised build and copies with a
/// `memory.copy`, which V8 runs as a call of its own (a node microbenchmark: ~6 ns per copy
/// against ~1.2 ns for seven 64-bit moves), and so is an array built first and copied (more
/// than four words); the tape appends a few numbers per event (docs/PERFORMANCE.md
/// "Session 16").
macro_rules! append {
    ($v:expr, [$($x:expr),+ $(,)?] $(,)?) => {{
        let v: &mut Vec<_> = $v;
        const N: usize = [$(append!(@unit $x)),+].len();
        v.reserve(N);
        let len = v.len();
        if let Some(d) = v.spare_capacity_mut().first_chunk_mut::<N>() {
            let mut k = 0;
            $(
                d[k].write($x);
                k += 1;
            )+
            debug_assert_eq!(k, N);
            // SAFETY: the N elements after the first `len` were just written.
            unsafe { v.set_len(len + N) };
        }
    }};
    (@unit $x:expr) => {
        ()
    };
}

/// `message`.
pub const MESSAGE: f64 = 1.0;
/// `whisper`.
pub const WHISPER: f64 = 2.0;
/// `user.join`.
pub const JOIN: f64 = 3.0;
/// `user.quit`.
pub const QUIT: f64 = 4.0;
/// `user.count`.
pub const COUNT: f64 = 5.0;
/// `user.list`.
pub const LIST: f64 = 6.0;
/// `system`.
pub const SYSTEM: f64 = 7.0;
/// A user slot definition.
pub const USER: f64 = 8.0;
/// A style slot definition.
pub const STYLE: f64 = 9.0;
/// An event that is not on the tape (see [`Tape::others`]).
pub const OTHER: f64 = 10.0;
/// Every user slot is forgotten.
pub const RESET: f64 = 11.0;

/// Most user slots; past this every slot is forgotten ([`RESET`]), so memory stays bounded in
/// rooms with many short visits.
const USER_SLOTS_MAX: usize = 4096;
/// Entries of the record address → slot cache (a power of two).
const PTR_CACHE: usize = 512;

/// The cache entry for a record address: records sit at multiples of their size class, so the
/// address is mixed (Fibonacci hashing) rather than masked.
fn ptr_index(ptr: usize) -> usize {
    ((ptr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 55) as usize & (PTR_CACHE - 1)
}

/// Most style slots (a room uses a handful).
const STYLE_SLOTS_MAX: usize = 64;

/// One batch taken out of a [`Tape`] for dispatching.
#[derive(Debug)]
pub struct Batch {
    /// The records.
    pub nums: Vec<f64>,
    /// The text the records refer to (UTF-16 code units).
    pub text: Vec<u16>,
    /// The events of the [`OTHER`] records, in order.
    pub others: Vec<Event>,
}

/// The tape of one batch plus the slot tables that outlive batches.
#[derive(Debug, Default)]
pub struct Tape {
    /// The records.
    pub nums: Vec<f64>,
    /// Every string the records refer to, as UTF-16 code units (what a JS string is made of).
    pub text: Vec<u16>,
    /// Events that are not on the tape, in order; each has an [`OTHER`] record. (A `Vec`,
    /// not a `VecDeque`: the dispatcher drains it in order, and an empty deque cost ~110
    /// instructions per frame to clear and drop in the size build.)
    pub others: Vec<Event>,
    users: FxMap<Vec<u8>, (Rc<UserRecord>, u32)>,
    /// A direct-mapped cache from the address of a record in `users` to its slot: the common
    /// case (an unchanged, shared record) is found without hashing and comparing the key. The
    /// `Rc`s in `users` keep these addresses from being reused; an entry is dropped with its
    /// record. A miss (an evicted entry) falls back to `users`. Empty until the first user.
    by_ptr: Vec<(usize, u32)>,
    free: Vec<u32>,
    next_slot: u32,
    styles: Vec<Style>,
    /// Style texts seen on the wire and their slots (the hot path skips parsing), each with
    /// its [`wire_tag`], so a lookup compares one number per entry and calls `memcmp` only
    /// for a long text whose tag matches (the plain scan made several such calls per chat
    /// line).
    wires: Vec<(u64, Box<str>, f64)>,
}

impl Tape {
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.nums.is_empty()
    }

    /// Take the batch out for dispatching (the slot tables stay; the next batch starts empty).
    /// Dispatching runs user code, which may start another batch meanwhile.
    pub fn take_batch(&mut self) -> Batch {
        Batch {
            nums: std::mem::take(&mut self.nums),
            text: std::mem::take(&mut self.text),
            others: std::mem::take(&mut self.others),
        }
    }

    /// Return a dispatched batch's buffers for reuse (kept only if no batch started meanwhile).
    pub fn give_back(&mut self, mut b: Batch) {
        if self.nums.is_empty() && self.text.is_empty() && self.others.is_empty() {
            b.nums.clear();
            b.text.clear();
            b.others.clear();
            self.nums = b.nums;
            self.text = b.text;
            self.others = b.others;
        }
    }

    /// Append events in order.
    pub fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.push(e);
        }
    }

    /// The style slot of a style text already seen by [`Tape::remember_wire_style`].
    #[inline]
    pub fn wire_style(&self, wire: &[u8]) -> Option<f64> {
        let tag = wire_tag(wire);
        // Texts of up to seven bytes (most styles: "", "4", "7") are their tag; longer ones
        // are compared in full once the tag matches.
        self.wires
            .iter()
            .find(|(t, w, _)| *t == tag && (wire.len() < 8 || w.as_bytes() == wire))
            .map(|&(_, _, s)| s)
    }

    /// The slot of `parsed`, the style of the text `wire`; later lookups of `wire` skip parsing.
    pub fn remember_wire_style(&mut self, wire: &str, parsed: &Style) -> f64 {
        let slot = self.style(parsed);
        if self.wires.len() < STYLE_SLOTS_MAX {
            self.wires
                .push((wire_tag(wire.as_bytes()), wire.into(), slot));
        }
        slot
    }

    /// A `system` record from an `s` line's argument fields as split on the fast path (type
    /// byte and range in `buf`), exactly as [`Tape::push`] writes [`Event::System`] for the
    /// fields the decoder makes of them (each read by the decoder's `FieldRef::read`, written
    /// by the same `Tape::field`); false, with nothing written, if a field is one the decoder
    /// would reject (a string that is not UTF-8, a number over eight bytes, a bad float).
    pub fn system(&mut self, code: SystemCode, args: &[(u8, usize, usize)], buf: &[u8]) -> bool {
        let (nums, text) = (self.nums.len(), self.text.len());
        self.system_head(code, args.len());
        for &(ty, a, b) in args {
            // (The spans lie in `buf`; one that did not would fail the line.)
            match buf.get(a..b).map(|v| FieldRef::read(ty, v)) {
                Some(Ok(f)) => self.field(f),
                _ => {
                    self.nums.truncate(nums);
                    self.text.truncate(text);
                    return false;
                }
            }
        }
        true
    }

    /// Appends a chat text given as UTF-8 bytes and returns its range for [`Tape::message`] /
    /// [`Tape::whisper`], or `None` (nothing appended) if the bytes are not valid UTF-8. The
    /// hot path checks and converts the text in this one pass.
    pub fn text_bytes(&mut self, text: &[u8]) -> Option<[f64; 2]> {
        let start = self.text.len();
        let ok = push_utf8_as_utf16(&mut self.text, text);
        ok.then(|| self.range_from(start))
    }

    fn text_str(&mut self, text: &str) -> [f64; 2] {
        let start = self.text.len();
        push_utf16(&mut self.text, text);
        self.range_from(start)
    }

    /// The range of `text` from `start` to its end: what was just appended.
    fn range_from(&self, start: usize) -> [f64; 2] {
        [start as f64, self.text.len() as f64]
    }

    /// A `message` record (the hot path: no [`Event`] is built); `text` from
    /// [`Tape::text_bytes`].
    #[inline]
    pub fn message(
        &mut self,
        user: &Rc<UserRecord>,
        style: f64,
        text: [f64; 2],
        time_ms: f64,
        is_self: bool,
        history: bool,
    ) {
        let user = self.user(user);
        append!(
            &mut self.nums,
            [
                MESSAGE,
                user,
                style,
                text[0],
                text[1],
                time_ms,
                f64::from(is_self as u8 | (history as u8) << 1),
            ],
        );
    }

    /// A `whisper` record; `text` from [`Tape::text_bytes`].
    pub fn whisper(
        &mut self,
        from: &Rc<UserRecord>,
        to: &Rc<UserRecord>,
        style: f64,
        text: [f64; 2],
        time_ms: f64,
        is_self: bool,
    ) {
        // Both users' slots are made before the record, so a RESET may come only before both.
        self.make_room([from, to]);
        let (from, to) = (self.user_held(from), self.user_held(to));
        append!(
            &mut self.nums,
            [
                WHISPER,
                from,
                to,
                style,
                text[0],
                text[1],
                time_ms,
                f64::from(is_self as u8),
            ],
        );
    }

    /// Append one event: on the tape if it is one of the hot kinds, else as [`OTHER`].
    pub fn push(&mut self, e: Event) {
        match e {
            Event::Message {
                user,
                style,
                content,
                time_ms,
                is_self,
                history,
            } => {
                // Text before style, in the order of the hot path (`Session::tape_chat`).
                let text = self.text_str(&content);
                let style = self.style(&style);
                self.message(&user, style, text, time_ms, is_self, history);
            }
            Event::Whisper {
                from,
                to,
                style,
                content,
                time_ms,
                is_self,
            } => {
                let text = self.text_str(&content);
                let style = self.style(&style);
                self.whisper(&from, &to, style, text, time_ms, is_self);
            }
            Event::UserJoin(u) => {
                let slot = self.user(&u);
                append!(&mut self.nums, [JOIN, slot]);
            }
            Event::UserQuit(u) => {
                // The record JS has is usually the one leaving (the same `Rc`).
                let slot = self.user(&u);
                append!(&mut self.nums, [QUIT, slot]);
                if let Some((rec, _)) = self.users.remove(u.key.as_bytes()) {
                    self.forget_ptr(Rc::as_ptr(&rec) as usize);
                }
                self.free.push(slot as u32);
            }
            Event::UserCount(n) => append!(&mut self.nums, [COUNT, n as f64]),
            Event::UserList(list) => {
                self.make_room(&list);
                let slots: Vec<f64> = list.iter().map(|u| self.user_held(u)).collect();
                append!(&mut self.nums, [LIST, slots.len() as f64]);
                self.nums.extend(slots);
            }
            Event::System { code, args } => {
                self.system_head(code, args.len());
                for f in &args {
                    self.field(f.as_field_ref());
                }
            }
            other => {
                self.nums.push(OTHER);
                self.others.push(other);
            }
        }
    }

    /// A `system` record up to its `n` fields (code, name, n), for [`Tape::push`] and
    /// [`Tape::system`] alike.
    fn system_head(&mut self, code: SystemCode, n: usize) {
        append!(&mut self.nums, [SYSTEM, code.code() as f64]);
        self.str(code.name());
        self.nums.push(n as f64);
    }

    /// A string: its UTF-16 units go to `text`, its range to the tape.
    fn str(&mut self, s: &str) {
        let range = self.text_str(s);
        append!(&mut self.nums, [range[0], range[1]]);
    }

    /// Bytes as a lowercase hex string (user keys, sessions, binary fields), written straight
    /// into the text.
    fn hex(&mut self, bytes: &[u8]) {
        let start = self.text.len();
        for &b in bytes {
            let [hi, lo] = crate::codec::hex_pair(b);
            append!(&mut self.text, [u16::from(hi), u16::from(lo)]);
        }
        let range = self.range_from(start);
        append!(&mut self.nums, [range[0], range[1]]);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => append!(&mut self.nums, [-1.0, -1.0]),
        }
    }

    /// A field as type byte and two items: string and binary (lowercase hex) as a range,
    /// numbers and booleans as the first item.
    fn field(&mut self, f: FieldRef) {
        match f {
            FieldRef::Str(s) => {
                self.nums.push(3.0);
                self.str(s);
            }
            FieldRef::Bin(b) => {
                self.nums.push(2.0);
                self.hex(b);
            }
            FieldRef::Bool(b) => append!(&mut self.nums, [4.0, f64::from(b as u8), 0.0]),
            FieldRef::Num(n) => append!(&mut self.nums, [5.0, n as f64, 0.0]),
            FieldRef::Float(x) => append!(&mut self.nums, [7.0, x, 0.0]),
            FieldRef::Undef => append!(&mut self.nums, [6.0, 0.0, 0.0]),
        }
    }

    /// The slot of `u`, defining it first if JS does not have this record yet. For events
    /// with one user: the slot table may start over ([`RESET`]) before its definition.
    #[inline]
    fn user(&mut self, u: &Rc<UserRecord>) -> f64 {
        self.slot_of(u, true)
    }

    /// [`Tape::user`] for one of several users of an event, after [`Tape::make_room`]: never
    /// a [`RESET`], which would forget the slots of the users before it (JS would read
    /// `undefined`, or another user once slot numbers start over).
    fn user_held(&mut self, u: &Rc<UserRecord>) -> f64 {
        self.slot_of(u, false)
    }

    #[inline]
    fn slot_of(&mut self, u: &Rc<UserRecord>, may_reset: bool) -> f64 {
        // Asked for every chat line: the address cache's hit inline, the rest a call.
        let ptr = Rc::as_ptr(u) as usize;
        if let Some(&(p, slot)) = self.by_ptr.get(ptr_index(ptr)) {
            if p == ptr {
                return f64::from(slot);
            }
        }
        self.user_slow(u, may_reset)
    }

    /// Starts the slot table over ([`RESET`]) if the users of one event that JS does not
    /// have yet might not fit, so the event gets its slots without a reset between them.
    /// Known users count only when the table is near full (a lookup each), so a `user.list`
    /// of a large room that JS mostly has keeps its shared objects. A list longer than
    /// [`USER_SLOTS_MAX`] grows the table past it; the next one-user event starts it over.
    fn make_room<'a>(&mut self, users: impl IntoIterator<Item = &'a Rc<UserRecord>>) {
        let users = users.into_iter();
        let len = self.users.len();
        if len == 0 || len + users.size_hint().1.unwrap_or(usize::MAX) <= USER_SLOTS_MAX {
            return;
        }
        let new = users
            .filter(|u| !self.users.contains_key(u.key.as_bytes()))
            .count();
        if len + new > USER_SLOTS_MAX {
            self.reset_users();
        }
    }

    /// Forgets every user slot (a [`RESET`] record) if there are any: at a new connection.
    /// Who left meanwhile never gets a `user.quit`, and after a server restart everyone comes
    /// back with a new key, so the old records would otherwise stay, here and in JS, until the
    /// table is full. (Those still present are defined again at their next event.)
    pub(crate) fn forget_users(&mut self) {
        if !self.users.is_empty() {
            self.reset_users();
        }
    }

    /// How many user slots are in use.
    #[cfg(test)]
    pub(crate) fn user_slots(&self) -> usize {
        self.users.len()
    }

    fn reset_users(&mut self) {
        self.users.clear();
        self.by_ptr.clear();
        self.free.clear();
        self.next_slot = 0;
        self.nums.push(RESET);
    }

    /// [`Tape::user`] past the address cache; `may_reset` as there.
    #[inline(never)]
    fn user_slow(&mut self, u: &Rc<UserRecord>, may_reset: bool) -> f64 {
        let ptr = Rc::as_ptr(u) as usize;
        let at = ptr_index(ptr);
        let slot = if let Some((rec, slot)) = self.users.get_mut(u.key.as_bytes()) {
            let slot = *slot;
            if !Rc::ptr_eq(rec, u) {
                let same = **rec == **u;
                let old = Rc::as_ptr(rec) as usize;
                *rec = u.clone();
                self.forget_ptr(old);
                if !same {
                    self.define(slot, u);
                }
            }
            slot
        } else {
            if may_reset && self.users.len() >= USER_SLOTS_MAX {
                self.reset_users();
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.next_slot += 1;
                self.next_slot - 1
            });
            self.users
                .insert(u.key.as_bytes().to_vec(), (u.clone(), slot));
            self.define(slot, u);
            slot
        };
        if self.by_ptr.is_empty() {
            self.by_ptr.resize(PTR_CACHE, (0, 0));
        }
        self.by_ptr[at] = (ptr, slot);
        f64::from(slot)
    }

    /// Drops the cache entry of a record that leaves `users` (its address may be reused).
    fn forget_ptr(&mut self, ptr: usize) {
        if let Some(e) = self.by_ptr.get_mut(ptr_index(ptr)) {
            if e.0 == ptr {
                *e = (0, 0);
            }
        }
    }

    fn define(&mut self, slot: u32, u: &UserRecord) {
        append!(&mut self.nums, [USER, f64::from(slot)]);
        self.hex(u.key.as_bytes());
        self.str(&u.nick);
        self.str(&u.id);
        self.opt_str(u.level.as_deref());
        self.nums.push(u.auth as f64);
        self.str(&u.icons);
        self.str(&u.nickcon);
        append!(
            &mut self.nums,
            [u.connected as f64 * 1000.0, f64::from(u.mute as u8)],
        );
        self.hex(&u.session);
        self.opt_str(u.profileimg.as_deref());
    }

    /// The slot of a style, defining it first if new.
    pub(super) fn style(&mut self, s: &Style) -> f64 {
        if let Some(i) = self.styles.iter().position(|x| x == s) {
            return i as f64;
        }
        if self.styles.len() >= STYLE_SLOTS_MAX {
            self.styles.clear();
            self.wires.clear();
        }
        let slot = self.styles.len();
        self.styles.push(s.clone());
        let bits = (s.bold as u8) << 2 | (s.italic as u8) << 1 | s.underline as u8;
        append!(&mut self.nums, [STYLE, slot as f64, f64::from(bits)]);
        self.opt_str(s.color.as_ref().map(|c| c.as_str()));
        slot as f64
    }
}

/// A style text's first seven bytes and its length (capped at 255) in one number: equal
/// texts have equal tags, and texts shorter than eight bytes are told apart by it alone.
#[inline]
fn wire_tag(wire: &[u8]) -> u64 {
    let len = (wire.len().min(255) as u64) << 56;
    // Asked for every chat line: a text of eight bytes or more is one load, a shorter one
    // (most: "", "4") a short loop.
    if let Some(&w) = wire.first_chunk::<8>() {
        return u64::from_le_bytes(w) & 0x00FF_FFFF_FFFF_FFFF | len;
    }
    let mut head = 0u64;
    for (k, &x) in wire.iter().enumerate() {
        head |= u64::from(x) << (8 * k);
    }
    head | len
}

/// Appends `s` as UTF-16 code units (what `String.fromCharCode` takes).
pub fn push_utf16(out: &mut Vec<u16>, s: &str) {
    let ok = push_utf8_as_utf16(out, s.as_bytes());
    debug_assert!(ok, "a &str is valid UTF-8");
}

/// Appends the UTF-8 bytes `s` as UTF-16 code units and returns true, or returns false with
/// `out` unchanged if `s` is not valid UTF-8 (exactly what [`std::str::from_utf8`] rejects:
/// bad or missing continuation bytes, overlong forms, surrogates, code points past U+10FFFF).
///
/// One pass that both checks and converts, so the chat hot path does not walk the text twice
/// (`from_utf8`, then a conversion): ASCII a chunk at a time (crate::scan), anything else per
/// sequence.
/// Written as plain index loops: the shipped build is optimised for size and would leave
/// iterator adapters as calls.
///
/// The units are written into the vector's spare capacity and the length is set once at the
/// end. Measured against the earlier `Vec::push` per unit (whose capacity check and length
/// store stay in the size-optimised build) and against writes into a zero-filled buffer (the
/// fill cost as much as the conversion in wasm): docs/PERFORMANCE.md "Session 6".
pub fn push_utf8_as_utf16(out: &mut Vec<u16>, s: &[u8]) -> bool {
    // Never more units than bytes.
    out.reserve(s.len());
    let start = out.len();
    let Some(dst) = out.spare_capacity_mut().get_mut(..s.len()) else {
        return false; // unreachable: `reserve` made room for `s.len()` units
    };
    let mut n = 0; // units written to `dst`; always n <= i
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        // With four bytes to look at, the two cases of Korean text first, each decided by one
        // mask test of a 32-bit word: a three-byte sequence (every Hangul syllable) and a
        // lone ASCII byte before a non-ASCII one (the space between Korean words), which would
        // otherwise cost a chunk scan for a run of one (docs/PERFORMANCE.md "Session 16").
        // With eight, two three-byte sequences in a row (most of a Korean word) by one test
        // of a 64-bit word.
        if let Some(&w) = s.get(i..).and_then(|r| r.first_chunk::<8>()) {
            let w = u64::from_le_bytes(w);
            if w & 0xC0C0_F0C0_C0F0 == 0x8080_E080_80E0 {
                let (c, d) = (three(w as u32), three((w >> 24) as u32));
                if bad_three(c) || bad_three(d) || !(put(dst, n, c) && put(dst, n + 1, d)) {
                    return false;
                }
                n += 2;
                i += 6;
                continue;
            }
        }
        if let Some(&w) = s.get(i..).and_then(|r| r.first_chunk::<4>()) {
            let w = u32::from_le_bytes(w);
            if w & 0x00C0_C0F0 == 0x0080_80E0 {
                let c = three(w);
                if bad_three(c) || !put(dst, n, c) {
                    return false;
                }
                n += 1;
                i += 3;
                continue;
            }
            if w & 0x8080 == 0x8000 {
                if !put(dst, n, w & 0x7F) {
                    return false;
                }
                n += 1;
                i += 1;
                continue;
            }
        }
        let b = u32::from(b);
        if b < 0x80 {
            // ASCII: a chunk at a time (crate::scan), all of its units written and the ASCII
            // run at its start counted (at least this byte).
            if let Some(run) = crate::scan::ascii_run(s, i) {
                if !crate::scan::widen(s, i, dst.get_mut(n..).unwrap_or_default()) {
                    return false; // unreachable (n <= i), but never count what was not written
                }
                n += run;
                i += run;
                continue;
            }
            // Fewer than a chunk left: if the text's last chunk is all ASCII, it is widened
            // where its units go. The bytes it shares with what was converted are ASCII, so
            // they were the last `i - j` units written, one each, and are written again as
            // they were (the ASCII tail of an English text, otherwise byte by byte).
            if let Some(j) = s.len().checked_sub(crate::scan::CHUNK) {
                if crate::scan::ascii_run(s, j) == Some(crate::scan::CHUNK) {
                    let at = n.checked_sub(i - j).unwrap_or(usize::MAX);
                    if !crate::scan::widen(s, j, dst.get_mut(at..).unwrap_or_default()) {
                        return false; // unreachable, as above
                    }
                    n += s.len() - i;
                    i = s.len();
                    continue;
                }
            }
            if !put(dst, n, b) {
                return false;
            }
            n += 1;
            i += 1;
            continue;
        }
        let c1 = s.get(i + 1).map_or(0, |&x| u32::from(x));
        if b & 0xF0 == 0xE0 {
            // Three bytes (all of Hangul): U+0800..U+FFFF without the surrogates.
            let c2 = s.get(i + 2).map_or(0, |&x| u32::from(x));
            let c = (b & 0x0F) << 12 | (c1 & 0x3F) << 6 | (c2 & 0x3F);
            if (c1 | c2 << 8) & 0xC0C0 != 0x8080 || c < 0x800 || (0xD800..0xE000).contains(&c) {
                return false;
            }
            if !put(dst, n, c) {
                return false;
            }
            n += 1;
            i += 3;
        } else if b & 0xE0 == 0xC0 {
            let c = (b & 0x1F) << 6 | (c1 & 0x3F);
            if c1 & 0xC0 != 0x80 || c < 0x80 {
                return false;
            }
            if !put(dst, n, c) {
                return false;
            }
            n += 1;
            i += 2;
        } else {
            let c2 = s.get(i + 2).map_or(0, |&x| u32::from(x));
            let c3 = s.get(i + 3).map_or(0, |&x| u32::from(x));
            let c = (b & 0x07) << 18 | (c1 & 0x3F) << 12 | (c2 & 0x3F) << 6 | (c3 & 0x3F);
            let conts = c1 | c2 << 8 | c3 << 16;
            if b & 0xF8 != 0xF0
                || conts & 0xC0_C0C0 != 0x80_8080
                || !(0x1_0000..=0x10_FFFF).contains(&c)
            {
                return false;
            }
            if !(put(dst, n, 0xD7C0 + (c >> 10)) && put(dst, n + 1, 0xDC00 | (c & 0x3FF))) {
                return false;
            }
            n += 2;
            i += 4;
        }
    }
    // SAFETY: `dst` is the spare capacity right after the first `start` elements, and the loop
    // wrote each of its first `n` elements: it counts a unit in `n` only after writing it into
    // `dst` (a write that would fall outside `dst` returns instead; none does, since a sequence
    // of k bytes gives at most k units, so `n <= i <= s.len() == dst.len()`).
    unsafe { out.set_len(start + n) };
    true
}

/// The code point of the three-byte sequence in the low 24 bits of `w` (first byte lowest),
/// whose lead and continuation bits the caller checked.
#[inline(always)]
fn three(w: u32) -> u32 {
    (w & 0x0F) << 12 | (w & 0x3F00) >> 2 | (w & 0x3F_0000) >> 16
}

/// Whether [`three`]'s `c` is not allowed in UTF-8: overlong (below U+0800) or a surrogate
/// (U+D800..U+DFFF), i.e. `c >> 11` is 0 or 0x1B.
#[inline(always)]
fn bad_three(c: u32) -> bool {
    (1u32 << (c >> 11)) & (1 | 1 << 0x1B) != 0
}

/// Writes unit `c` at `dst[n]`; false if `n` is out of range (never, by the caller's `n <= i`).
#[inline(always)]
fn put(dst: &mut [MaybeUninit<u16>], n: usize, c: u32) -> bool {
    match dst.get_mut(n) {
        Some(d) => {
            d.write(c as u16);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use crate::codec::Field;
    use crate::message::{SystemCode, UserKey};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user(k: u8, nick: &str) -> Rc<UserRecord> {
        let mut u = UserRecord::unknown(UserKey(vec![k; 2]));
        u.nick = nick.into();
        Rc::new(u)
    }

    fn message(u: &Rc<UserRecord>, text: &str) -> Event {
        Event::Message {
            user: u.clone(),
            style: Style::default(),
            content: text.into(),
            time_ms: 5.0,
            is_self: false,
            history: true,
        }
    }

    /// The JS string of range (a, b) of the tape text, as hub.js takes it.
    fn js_sub(t: &Tape, a: f64, b: f64) -> String {
        String::from_utf16(&t.text[a as usize..b as usize]).unwrap()
    }

    #[test]
    fn a_message_defines_its_user_and_style_once() {
        let mut t = Tape::default();
        let bob = user(2, "밥");
        t.push(message(&bob, "안녕 😀 hi"));
        t.push(message(&bob, "again"));
        let n = &t.nums;
        // STYLE (5 items: tag, slot, bits, colour) comes first, then USER (21 items: tag,
        // slot, 8 ranges, auth, connected, mute), then the MESSAGE.
        assert_eq!(n[0], STYLE);
        assert_eq!((n[3], n[4]), (-1.0, -1.0), "no colour");
        let u = &n[5..];
        assert_eq!(u[0], USER);
        assert_eq!(u[1], 0.0, "first slot");
        assert_eq!(js_sub(&t, u[2], u[3]), "0202", "key as hex");
        assert_eq!(js_sub(&t, u[4], u[5]), "밥");
        // level undefined, profileimg undefined
        assert_eq!((u[8], u[9]), (-1.0, -1.0));
        assert_eq!((u[19], u[20]), (-1.0, -1.0));
        let msg = 26;
        assert_eq!(n[msg], MESSAGE);
        assert_eq!(js_sub(&t, n[msg + 3], n[msg + 4]), "안녕 😀 hi");
        assert_eq!(n[msg + 6], 2.0, "history flag");
        // The second message refers to the same slots and defines nothing.
        let second = &n[msg + 7..];
        assert_eq!(second[0], MESSAGE);
        assert_eq!(second.len(), 7);
        assert_eq!(js_sub(&t, second[3], second[4]), "again");
    }

    #[test]
    fn the_address_cache_never_mixes_up_users() {
        // More live records than cache entries, used in a scrambled order, some replaced by an
        // equal copy (a new address) and some quitting and coming back with a new record (an
        // address that may be reused): every JOIN names the slot its user was defined in, and
        // a user is defined exactly when JS does not have it (first use, or back after a quit).
        let mut t = Tape::default();
        let rec = |i: u32| {
            let mut u = UserRecord::unknown(UserKey(i.to_le_bytes().to_vec()));
            u.nick = format!("u{i}");
            Rc::new(u)
        };
        let mut live: Vec<Rc<UserRecord>> = (0..1500).map(rec).collect();
        let mut slot_of = std::collections::HashMap::new();
        let mut seed = 3u32;
        for step in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = (seed >> 8) as usize % live.len();
            match step % 10 {
                0 => live[i] = Rc::new((*live[i]).clone()),
                1 => {
                    t.push(Event::UserQuit(live[i].clone()));
                    t.take_batch();
                    slot_of.remove(&live[i].nick);
                    live[i] = rec(i as u32);
                }
                _ => {}
            }
            let known = slot_of.contains_key(&live[i].nick);
            t.push(Event::UserJoin(live[i].clone()));
            // The batch: a USER record (21 items) if JS lacks the user, then JOIN and a slot.
            let n = &t.nums;
            let slot = n[n.len() - 1];
            assert_eq!(n[n.len() - 2], JOIN);
            if known {
                assert_eq!(n.len(), 2, "step {step}: defined again");
                assert_eq!(slot_of[&live[i].nick], slot, "step {step}");
            } else {
                assert_eq!(n.len(), 23, "step {step}: not defined");
                assert_eq!((n[0], n[1]), (USER, slot));
                slot_of.insert(live[i].nick.clone(), slot);
            }
            t.take_batch();
        }
    }

    #[test]
    fn a_changed_record_redefines_its_slot_and_quit_frees_it() {
        let mut t = Tape::default();
        t.push(Event::UserJoin(user(1, "a")));
        t.push(Event::UserJoin(user(1, "a"))); // equal record, new Rc: no redefinition
        assert_eq!(t.nums.iter().filter(|&&x| x == USER).count(), 1);
        t.push(Event::UserJoin(user(1, "b")));
        assert_eq!(t.nums.iter().filter(|&&x| x == USER).count(), 2);
        t.push(Event::UserQuit(user(1, "b")));
        let end = t.nums.len();
        assert_eq!(&t.nums[end - 2..], &[QUIT, 0.0]);
        t.take_batch();
        t.push(Event::UserJoin(user(3, "c")));
        assert_eq!(t.nums[..2], [USER, 0.0], "slot 0 is reused");
    }

    #[test]
    fn other_events_keep_their_place() {
        let mut t = Tape::default();
        t.push(Event::UserCount(3));
        t.push(Event::State(super::super::State::Joined));
        t.push(Event::System {
            code: SystemCode::from_code(12),
            args: vec![
                Field::Str("공지".into()),
                Field::Num(7),
                Field::Bin(vec![0xab]),
            ],
        });
        let n = &t.nums;
        assert_eq!(&n[..3], &[COUNT, 3.0, OTHER]);
        assert_eq!(t.others.len(), 1);
        assert_eq!(n[3], SYSTEM);
        assert_eq!(js_sub(&t, n[5], n[6]), "notice");
        assert_eq!(n[7], 3.0);
        assert_eq!(js_sub(&t, n[9], n[10]), "공지");
        assert_eq!(&n[11..14], &[5.0, 7.0, 0.0]);
        assert_eq!(js_sub(&t, n[15], n[16]), "ab");
    }

    #[test]
    fn user_slots_are_bounded() {
        let mut t = Tape::default();
        for i in 0..USER_SLOTS_MAX + 1 {
            let mut u = UserRecord::unknown(UserKey((i as u32).to_le_bytes().to_vec()));
            u.nick = i.to_string();
            t.push(Event::UserJoin(Rc::new(u)));
        }
        assert_eq!(t.users.len(), 1, "the tables started over");
        let end = t.nums.len();
        assert_eq!(&t.nums[end - 2..], &[JOIN, 0.0], "slot 0 again");
        assert_eq!(t.nums[end - 2 - 21 - 1], RESET);
    }

    /// Walks the tape as src/web/hub.js does and returns the nick behind every user slot a
    /// `user.list` and `whisper` record names (`None`: a slot JS would not have).
    fn listed_nicks(t: &Tape) -> Vec<Vec<Option<String>>> {
        walk(t).0
    }

    /// [`listed_nicks`] and the number of `RESET` records.
    fn walk(t: &Tape) -> (Vec<Vec<Option<String>>>, usize) {
        let mut resets = 0;
        let (n, mut at) = (&t.nums, 0);
        let mut users: Vec<Option<String>> = Vec::new();
        let slot = |users: &Vec<Option<String>>, s: f64| users.get(s as usize).cloned().flatten();
        let mut out = Vec::new();
        while at < n.len() {
            match n[at] {
                USER => {
                    let s = n[at + 1] as usize;
                    if users.len() <= s {
                        users.resize(s + 1, None);
                    }
                    users[s] = Some(js_sub(t, n[at + 4], n[at + 5]));
                    at += 21;
                }
                RESET => {
                    users.clear();
                    resets += 1;
                    at += 1;
                }
                JOIN => at += 2,
                LIST => {
                    let k = n[at + 1] as usize;
                    out.push((0..k).map(|i| slot(&users, n[at + 2 + i])).collect());
                    at += 2 + k;
                }
                WHISPER => {
                    out.push(vec![slot(&users, n[at + 1]), slot(&users, n[at + 2])]);
                    at += 8;
                }
                STYLE => at += 5,
                tag => panic!("tag {tag} at {at}"),
            }
        }
        (out, resets)
    }

    fn numbered(i: usize) -> Rc<UserRecord> {
        let mut u = UserRecord::unknown(UserKey((i as u32).to_le_bytes().to_vec()));
        u.nick = i.to_string();
        Rc::new(u)
    }

    #[test]
    fn a_reset_never_falls_inside_an_event() {
        // A user list that does not fit in the slots left: the reset comes before the list.
        let mut t = Tape::default();
        for i in 0..USER_SLOTS_MAX - 10 {
            t.push(Event::UserJoin(numbered(i)));
        }
        let list: Vec<_> = (0..50).map(|i| numbered(100_000 + i)).collect();
        t.push(Event::UserList(list.clone()));
        let want: Vec<_> = list.iter().map(|u| Some(u.nick.clone())).collect();
        assert_eq!(listed_nicks(&t), [want]);
        // A list longer than all the slots: one event, no reset inside it.
        let long: Vec<_> = (0..USER_SLOTS_MAX + 500).map(numbered).collect();
        t.push(Event::UserList(long.clone()));
        let got = listed_nicks(&t);
        assert_eq!(got.len(), 2);
        assert!(
            got[1]
                .iter()
                .zip(&long)
                .all(|(g, u)| g.as_deref() == Some(&*u.nick)),
            "a long list names users JS does not have"
        );
        // A list of users JS mostly has keeps their slots (no reset) if the new ones fit.
        let mut t = Tape::default();
        let known: Vec<_> = (0..USER_SLOTS_MAX - 10).map(numbered).collect();
        for u in &known {
            t.push(Event::UserJoin(u.clone()));
        }
        let mut list = known.clone();
        list.extend((0..5).map(|i| numbered(300_000 + i)));
        t.push(Event::UserList(list));
        assert_eq!(walk(&t).1, 0, "a list of known users reset the slots");
        // A whisper whose two users are new when one slot is left.
        let mut t = Tape::default();
        for i in 0..USER_SLOTS_MAX - 1 {
            t.push(Event::UserJoin(numbered(i)));
        }
        let (from, to) = (numbered(200_000), numbered(200_001));
        t.whisper(&from, &to, 0.0, [0.0, 0.0], 0.0, false);
        assert_eq!(
            listed_nicks(&t),
            [vec![Some(from.nick.clone()), Some(to.nick.clone())]]
        );
    }

    #[test]
    fn utf8_to_utf16_accepts_exactly_what_from_utf8_accepts() {
        // Random byte strings built from pieces of valid and broken UTF-8, at every alignment
        // against the eight-byte ASCII steps; the prefix 9 must survive a rejection.
        let pieces: [&[u8]; 21] = [
            b"a",
            b"abcdefgh",
            "é".as_bytes(),
            "한".as_bytes(),
            "😀".as_bytes(),
            b"\x80",
            b"\xC0\x80",
            b"\xC3",
            b"\xE0\x80\x80",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\xF8\x88\x80\x80\x80",
            b"\xE2\x82",
            b"\xFF",
            "\u{10FFFF}".as_bytes(),
            "\u{FFFF}".as_bytes(),
            "\u{800}".as_bytes(),
            "\u{D7FF}".as_bytes(),
            "\u{E000}".as_bytes(),
            b"\xE0\x9F\xBF",
            b" ",
        ];
        let mut seed = 11u32;
        for len in 0..24 {
            for _ in 0..200 {
                let mut s = Vec::new();
                for _ in 0..len {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    // Mostly valid pieces, so that long valid strings occur too.
                    let k = (seed >> 16) as usize % 48;
                    s.extend_from_slice(pieces[if k < 21 { k } else { k % 5 }]);
                }
                let mut out = vec![9u16];
                let ok = push_utf8_as_utf16(&mut out, &s);
                match std::str::from_utf8(&s) {
                    Ok(text) => {
                        assert!(ok, "{s:?}");
                        let want: Vec<u16> =
                            std::iter::once(9).chain(text.encode_utf16()).collect();
                        assert_eq!(out, want, "{s:?}");
                    }
                    Err(_) => {
                        assert!(!ok, "{s:?}");
                        assert_eq!(out, [9], "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn wire_styles_are_found_by_their_exact_text() {
        let mut t = Tape::default();
        let long = "x".repeat(300);
        let texts = [
            "",
            "4",
            "4 ",
            "\0",
            "4\0",
            "7",
            "1 #ff0000",
            "1 #ff0001",
            "1 #ff00",
            "1234567",
            "12345678",
            "123456789",
            &long,
        ];
        let mut slots = Vec::new();
        for (i, w) in texts.iter().enumerate() {
            // A distinct style per text, so every text gets a slot of its own.
            let st = Style {
                bold: i & 1 != 0,
                italic: i & 2 != 0,
                underline: i & 4 != 0,
                color: crate::message::Color::parse(&format!("#0000{i:02x}")).ok(),
            };
            slots.push(t.remember_wire_style(w, &st));
        }
        for (w, slot) in texts.iter().zip(&slots) {
            assert_eq!(t.wire_style(w.as_bytes()), Some(*slot), "{w:?}");
        }
        let other_long = format!("{}y", "x".repeat(299));
        for w in [
            "2",
            "4  ",
            "\0\0",
            "1 #ff0002",
            "1234568",
            "12345670",
            "123456780",
            &other_long,
        ] {
            assert_eq!(t.wire_style(w.as_bytes()), None, "{w:?}");
        }
    }

    #[test]
    fn utf16_units() {
        let units = |s: &str| {
            let mut v = vec![9u16];
            push_utf16(&mut v, s);
            v
        };
        assert_eq!(units("abc"), [9, 97, 98, 99]);
        assert_eq!(units("한글"), [9, 0xD55C, 0xAE00]);
        assert_eq!(units("😀"), [9, 0xD83D, 0xDE00]);
        // Every kind of character, in mixed runs.
        let chars = [
            "a", "é", "한", "😀", "\u{7f}", "\u{80}", "\u{7ff}", "\u{800}", "\u{ffff}", "\u{feff}",
        ];
        let mut seed = 7u32;
        for len in 0..40 {
            for _ in 0..50 {
                let s: String = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        chars[(seed >> 16) as usize % chars.len()]
                    })
                    .collect();
                let want: Vec<u16> = std::iter::once(9).chain(s.encode_utf16()).collect();
                assert_eq!(units(&s), want, "{s:?}");
            }
        }
    }

    #[test]
    fn a_reset_forgets_free_slots_too() {
        // A list longer than the table grows it past the limit; two quits leave free slots;
        // the next join starts the table over: no two users may end up in one slot.
        let mut t = Tape::default();
        let long: Vec<_> = (0..USER_SLOTS_MAX + 2).map(numbered).collect();
        t.push(Event::UserList(long.clone()));
        t.push(Event::UserQuit(long[0].clone()));
        t.push(Event::UserQuit(long[1].clone()));
        t.take_batch(); // JS has read it; the next batch starts with the RESET
        let fresh: Vec<_> = (0..5).map(|i| numbered(500_000 + i)).collect();
        for u in &fresh {
            t.push(Event::UserJoin(u.clone()));
        }
        t.push(Event::UserList(fresh.clone()));
        let got = listed_nicks(&t);
        let want: Vec<_> = fresh.iter().map(|u| Some(u.nick.clone())).collect();
        assert_eq!(got.last().unwrap(), &want);
    }
}
