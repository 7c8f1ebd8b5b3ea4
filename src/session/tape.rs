//! The event tape: the hot events of one batch (a WebSocket frame) as flat numbers plus one
//! UTF-8 text buffer, so the browser layer hands a whole frame to JS in one call and JS builds
//! the event objects itself, with one `TextDecoder` call for every string of the frame
//! (docs/PERFORMANCE.md "Event tape").
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
//! | [`SYSTEM`] | code, name, n, then n fields (type byte, a, b: see [`Tape::field`]) |
//! | [`USER`] | slot, key, nick, id, level, auth, icons, nickcon, connected ms, mute (0/1), session, profileimg |
//! | [`STYLE`] | slot, bits (bold 4, italic 2, underline 1), colour |
//! | [`OTHER`] | (none): the next event of [`Tape::others`] goes here |
//! | [`RESET`] | (none): forget every user slot |
//!
//! Users and styles are slots: a `USER`/`STYLE` record defines (or redefines) a slot before the
//! first record that uses it, so JS keeps one shared object per user record and per style, as
//! the event payloads promise (README "Events").

use super::{Event, FxMap};
use crate::codec::Field;
use crate::message::{Style, UserRecord};
use std::collections::VecDeque;
use std::rc::Rc;

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
/// Most style slots (a room uses a handful).
const STYLE_SLOTS_MAX: usize = 64;

/// One batch taken out of a [`Tape`] for dispatching.
#[derive(Debug)]
pub struct Batch {
    /// The records.
    pub nums: Vec<f64>,
    /// The text the records refer to.
    pub text: Vec<u8>,
    /// The events of the [`OTHER`] records, in order.
    pub others: VecDeque<Event>,
}

/// The tape of one batch plus the slot tables that outlive batches.
#[derive(Debug, Default)]
pub struct Tape {
    /// The records.
    pub nums: Vec<f64>,
    /// The UTF-8 bytes of every string the records refer to.
    pub text: Vec<u8>,
    /// Events that are not on the tape, in order; each has an [`OTHER`] record.
    pub others: VecDeque<Event>,
    /// UTF-16 length of `text`.
    units: u32,
    users: FxMap<Vec<u8>, (Rc<UserRecord>, u32)>,
    /// The address of each record in `users` → its slot: the common case (an unchanged,
    /// shared record) is found without hashing and comparing the key. The `Rc`s in `users`
    /// keep these addresses from being reused.
    by_ptr: FxMap<usize, u32>,
    free: Vec<u32>,
    next_slot: u32,
    styles: Vec<Style>,
    /// Style texts seen on the wire and their slots (the hot path skips parsing).
    wires: Vec<(Box<str>, f64)>,
}

impl Tape {
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.nums.is_empty()
    }

    /// Take the batch out for dispatching (the slot tables stay; the next batch starts empty).
    /// Dispatching runs user code, which may start another batch meanwhile.
    pub fn take_batch(&mut self) -> Batch {
        self.units = 0;
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
    pub fn wire_style(&self, wire: &str) -> Option<f64> {
        self.wires
            .iter()
            .find(|(w, _)| &**w == wire)
            .map(|&(_, s)| s)
    }

    /// The slot of `parsed`, the style of the text `wire`; later lookups of `wire` skip parsing.
    pub fn remember_wire_style(&mut self, wire: &str, parsed: &Style) -> f64 {
        let slot = self.style(parsed);
        if self.wires.len() < STYLE_SLOTS_MAX {
            self.wires.push((wire.into(), slot));
        }
        slot
    }

    /// A `message` record (the hot path: no [`Event`] is built).
    pub fn message(
        &mut self,
        user: &Rc<UserRecord>,
        style: f64,
        text: &str,
        time_ms: f64,
        is_self: bool,
        history: bool,
    ) {
        let user = self.user(user);
        self.nums.extend_from_slice(&[MESSAGE, user, style]);
        self.str_units(text.as_bytes(), utf16_len(text.as_bytes()));
        self.nums
            .extend_from_slice(&[time_ms, f64::from(is_self as u8 | (history as u8) << 1)]);
    }

    /// A `whisper` record.
    pub fn whisper(
        &mut self,
        from: &Rc<UserRecord>,
        to: &Rc<UserRecord>,
        style: f64,
        text: &str,
        time_ms: f64,
        is_self: bool,
    ) {
        let (from, to) = (self.user(from), self.user(to));
        self.nums.extend_from_slice(&[WHISPER, from, to, style]);
        self.str_units(text.as_bytes(), utf16_len(text.as_bytes()));
        self.nums
            .extend_from_slice(&[time_ms, f64::from(is_self as u8)]);
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
                let style = self.style(&style);
                self.message(&user, style, &content, time_ms, is_self, history);
            }
            Event::Whisper {
                from,
                to,
                style,
                content,
                time_ms,
                is_self,
            } => {
                let style = self.style(&style);
                self.whisper(&from, &to, style, &content, time_ms, is_self);
            }
            Event::UserJoin(u) => {
                let slot = self.user(&u);
                self.nums.extend_from_slice(&[JOIN, slot]);
            }
            Event::UserQuit(u) => {
                let slot = self.user(&Rc::new(u.clone()));
                self.nums.extend_from_slice(&[QUIT, slot]);
                if let Some((rec, _)) = self.users.remove(u.key.as_bytes()) {
                    self.by_ptr.remove(&(Rc::as_ptr(&rec) as usize));
                }
                self.free.push(slot as u32);
            }
            Event::UserCount(n) => self.nums.extend_from_slice(&[COUNT, n as f64]),
            Event::UserList(list) => {
                let slots: Vec<f64> = list.iter().map(|u| self.user(u)).collect();
                self.nums.extend_from_slice(&[LIST, slots.len() as f64]);
                self.nums.extend(slots);
            }
            Event::System { code, args } => {
                self.nums.extend_from_slice(&[SYSTEM, code.code() as f64]);
                self.str(code.name().as_bytes());
                self.nums.push(args.len() as f64);
                for f in &args {
                    self.field(f);
                }
            }
            other => {
                self.nums.push(OTHER);
                self.others.push_back(other);
            }
        }
    }

    /// A string: its bytes go to `text`, its UTF-16 range to the tape.
    fn str(&mut self, s: &[u8]) {
        self.str_units(s, utf16_len(s));
    }

    /// [`Tape::str`] for a string whose UTF-16 length is known.
    fn str_units(&mut self, s: &[u8], units: usize) {
        let start = self.units;
        self.units += units as u32;
        self.text.extend_from_slice(s);
        self.nums
            .extend_from_slice(&[f64::from(start), f64::from(self.units)]);
    }

    /// Bytes as a lowercase hex string (user keys, sessions, binary fields), written straight
    /// into the text.
    fn hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let start = self.units;
        for &b in bytes {
            self.text
                .extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
        }
        self.units += 2 * bytes.len() as u32;
        self.nums
            .extend_from_slice(&[f64::from(start), f64::from(self.units)]);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s.as_bytes()),
            None => self.nums.extend_from_slice(&[-1.0, -1.0]),
        }
    }

    /// A field as type byte and two items: string and binary (lowercase hex) as a range,
    /// numbers and booleans as the first item.
    fn field(&mut self, f: &Field) {
        match f {
            Field::Str(s) => {
                self.nums.push(3.0);
                self.str(s.as_bytes());
            }
            Field::Bin(b) => {
                self.nums.push(2.0);
                self.hex(b);
            }
            Field::Bool(b) => self
                .nums
                .extend_from_slice(&[4.0, f64::from(*b as u8), 0.0]),
            Field::Num(n) => self.nums.extend_from_slice(&[5.0, *n as f64, 0.0]),
            Field::Float(x) => self.nums.extend_from_slice(&[7.0, *x, 0.0]),
            Field::Undef => self.nums.extend_from_slice(&[6.0, 0.0, 0.0]),
        }
    }

    /// The slot of `u`, defining it first if JS does not have this record yet.
    fn user(&mut self, u: &Rc<UserRecord>) -> f64 {
        let ptr = Rc::as_ptr(u) as usize;
        if let Some(&slot) = self.by_ptr.get(&ptr) {
            return f64::from(slot);
        }
        if let Some((rec, slot)) = self.users.get_mut(u.key.as_bytes()) {
            let slot = *slot;
            let same = **rec == **u;
            self.by_ptr.remove(&(Rc::as_ptr(rec) as usize));
            *rec = u.clone();
            self.by_ptr.insert(ptr, slot);
            if !same {
                self.define(slot, u);
            }
            return f64::from(slot);
        }
        if self.users.len() >= USER_SLOTS_MAX {
            self.users.clear();
            self.by_ptr.clear();
            self.free.clear();
            self.next_slot = 0;
            self.nums.push(RESET);
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.next_slot += 1;
            self.next_slot - 1
        });
        self.users
            .insert(u.key.as_bytes().to_vec(), (u.clone(), slot));
        self.by_ptr.insert(ptr, slot);
        self.define(slot, u);
        f64::from(slot)
    }

    fn define(&mut self, slot: u32, u: &UserRecord) {
        self.nums.extend_from_slice(&[USER, f64::from(slot)]);
        self.hex(u.key.as_bytes());
        self.str(u.nick.as_bytes());
        self.str(u.id.as_bytes());
        self.opt_str(u.level.as_deref());
        self.nums.push(u.auth as f64);
        self.str(u.icons.as_bytes());
        self.str(u.nickcon.as_bytes());
        self.nums
            .extend_from_slice(&[u.connected as f64 * 1000.0, f64::from(u.mute as u8)]);
        self.hex(&u.session);
        self.opt_str(u.profileimg.as_deref());
    }

    /// The slot of a style, defining it first if new.
    fn style(&mut self, s: &Style) -> f64 {
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
        self.nums
            .extend_from_slice(&[STYLE, slot as f64, f64::from(bits)]);
        self.opt_str(s.color.as_ref().map(|c| c.as_str()));
        slot as f64
    }
}

/// Length of UTF-8 `s` in UTF-16 code units (the JS string length): one per UTF-8 sequence,
/// two for the 4-byte ones.
pub fn utf16_len(s: &[u8]) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    // Eight bytes at a time: every byte that is not a continuation byte (10xxxxxx) starts a
    // character (one unit), and a 4-byte lead (11110xxx) adds the second unit of a surrogate
    // pair. `s` is valid UTF-8 (the caller checked), so no other byte can occur.
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let (mut n, mut i) = (0, 0);
    while let Some(w) = crate::codec::word_at(s, i) {
        // Bit 7 of each byte: b7 & !b6 marks a continuation byte; b7 & b6 & b5 & b4 a 4-byte lead.
        let cont = w & !(w << 1) & HIGHS;
        let four = w & (w << 1) & (w << 2) & (w << 3) & HIGHS;
        n += 8 - cont.count_ones() as usize + four.count_ones() as usize;
        i += 8;
    }
    while i < s.len() {
        let b = s[i];
        n += usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0);
        i += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{SystemCode, UserKey};

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
        let units: Vec<u16> = std::str::from_utf8(&t.text)
            .unwrap()
            .encode_utf16()
            .collect();
        String::from_utf16(&units[a as usize..b as usize]).unwrap()
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
    fn a_changed_record_redefines_its_slot_and_quit_frees_it() {
        let mut t = Tape::default();
        t.push(Event::UserJoin(user(1, "a")));
        t.push(Event::UserJoin(user(1, "a"))); // equal record, new Rc: no redefinition
        assert_eq!(t.nums.iter().filter(|&&x| x == USER).count(), 1);
        t.push(Event::UserJoin(user(1, "b")));
        assert_eq!(t.nums.iter().filter(|&&x| x == USER).count(), 2);
        t.push(Event::UserQuit((*user(1, "b")).clone()));
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

    #[test]
    fn utf16_lengths() {
        assert_eq!(utf16_len(b"abc"), 3);
        assert_eq!(utf16_len("한글".as_bytes()), 2);
        assert_eq!(utf16_len("😀".as_bytes()), 2);
        // Every alignment of every kind of character against the 8-byte steps.
        let chars = [
            "a", "é", "한", "😀", "\u{7f}", "\u{80}", "\u{7ff}", "\u{800}", "\u{ffff}",
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
                assert_eq!(utf16_len(s.as_bytes()), s.encode_utf16().count(), "{s:?}");
            }
        }
    }
}
