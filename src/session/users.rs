//! The room's user table: `k` records keyed by user key, who is present, and who I am
//! (PROTOCOL.md §3.2 `k i2 u j o d`).

use crate::message::{KeyBytes, UserKey, UserRecord};
use std::rc::Rc;

/// A fast non-cryptographic hasher (the FxHash mix) for the user table and the web layer's
/// small maps. The keys are server-assigned user keys, the bot's own event names and the room's
/// nicks (user-chosen: nicks crafted to collide can at worst make the nick index's lookups
/// O(n), what every quit cost before it existed); SipHash's flooding resistance buys little for
/// one bot's room and costs a visible share of every message in wasm (docs/PERFORMANCE.md).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // User keys are eight bytes: one word, no loop (the same value the loop gives).
        if let Ok(w) = <[u8; 8]>::try_from(bytes) {
            self.write_u64(u64::from_le_bytes(w));
            return;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.write_u64(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            // Not a `copy_from_slice` into a zeroed word: that is a memcpy call per key in the
            // size-optimised wasm build.
            let mut last = 0u64;
            for (k, &b) in rest.iter().enumerate() {
                last |= u64::from(b) << (8 * k);
            }
            self.write_u64(last);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        // A product's bit j depends only on its factors' bits 0..=j, and the table takes its
        // bucket (and on wasm32 its whole hash) from the low bits. Unmixed, keys that share
        // their first four bytes (a server that numbers its users after a fixed prefix) all
        // fell into one probe chain: a list of 16,000 such users took 12 s to take in (an
        // audit's hostile server). Fold, multiply, fold: every input bit reaches the low bits
        // (the bucket) and the top ones (hashbrown's tag, on 64 and 32 bits).
        let h = (self.0 ^ (self.0 >> 32)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        h ^ (h >> 32)
    }
}

/// How many records of users who are not present [`UserTable`] keeps at most (see
/// `UserTable::upsert`). A user list comes as all its `k` records first, then its `u` keys
/// (`uchat sim` does so; the order of the real server is unknown): every record of a list is
/// absent until the list ends, and the sweep keeps the newest half: a list of up to 32,768
/// users stays whole whatever came before it. The SDK asks for 10,000 (uchat.js's `userList
/// 10000`). The bound is on records of users who are not present (a room's present users,
/// `j` lines included, are kept however many), what a server can make the table hold without
/// a list (300,000 `k` lines for keys that never join left
/// 38.6 MB of wasm memory, against 167 MB unbounded; a security audit's script). 4,096 was too few: lists of
/// more users lost their first records (found by re-running a security audit's scripts).
const ABSENT_MAX: usize = 1 << 16;

/// `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Users known to the session. Records come from `k`; presence from `u` lists, `j` and `o`.
///
/// Records are reference-counted: every event about a user shares the table's record instead of
/// copying its strings (docs/PERFORMANCE.md "Decode path"); a `k` line replaces it.
///
/// `j`, `o` (quit by nick), `d` and presence checks are O(1) expected, so a room with thousands
/// of users does not pay O(n) per join/quit line: presence is a slot in an arrival-order list
/// (holes where someone left, squeezed out once they outnumber the present users), and a nick
/// index lists each nick's present holders in arrival order (usually one).
#[derive(Debug, Default, Clone)]
pub struct UserTable {
    /// Every known key: its `k` record (if one came) and, while present, its slot in `order`.
    users: FxMap<UserKey, Entry>,
    /// Present keys in arrival order; `None` where someone left.
    order: Vec<Option<UserKey>>,
    /// Number of present users (the `Some`s in `order`).
    len: usize,
    /// Present users that have a record, by their record's nick (as key bytes), each list in
    /// arrival order: [`Entry::holders`]. The same map type as `users`, so the wasm build has
    /// one copy of its code.
    nicks: FxMap<UserKey, Entry>,
    me: Option<UserKey>,
    /// Counts the changes to the table ([`UserTable::changes`]).
    changes: u64,
    /// Counts the `k` records of absent users (new keys and refreshes), the clock of
    /// [`Entry::born`].
    records: u64,
}

/// One key of [`UserTable::users`] (`rec`, `slot`) or one nick of [`UserTable::nicks`]
/// (`holders`).
#[derive(Debug, Default, Clone)]
struct Entry {
    rec: Option<Rc<UserRecord>>,
    /// Index in [`UserTable::order`] while present.
    slot: Option<usize>,
    /// The present users with this nick, in arrival order.
    holders: Vec<UserKey>,
    /// [`UserTable::records`] when this key's record last came: the sweep of absent records
    /// keeps the newest (see `UserTable::upsert`).
    born: u64,
}

impl UserTable {
    /// Forget everything (new connection: keys are per connection).
    pub fn clear(&mut self) {
        self.changes += 1;
        self.users.clear();
        self.order.clear();
        self.len = 0;
        self.nicks.clear();
        self.me = None;
    }

    /// Define or refresh a record (`k`).
    pub fn upsert(&mut self, rec: UserRecord) {
        self.changes += 1;
        // The key is copied only for a new entry or a nick index change, not for the common
        // refresh of a known user (`k` lines are a twelfth of a busy room's lines).
        let rec = Rc::new(rec);
        let key = &rec.key;
        let (prev, slot) = match self.users.get_mut(KeyBytes::new(key.as_bytes())) {
            Some(e) => {
                let prev = e.rec.replace(rec.clone());
                let Some(slot) = e.slot else {
                    // Refreshed: as new to the sweep (a list's `k` for a user already known).
                    self.records += 1;
                    e.born = self.records;
                    return;
                };
                (prev, slot)
            }
            None => {
                // Entries beyond the present users are records of users not in the room (a
                // chat-log replay's senders, a `k` before its `j` or `u`): a few normally, but
                // a server could send endless `k` lines for keys that never join. Past
                // `ABSENT_MAX` the older half of them is forgotten (the newest ABSENT_MAX / 2
                // records stay: a list whose records are still coming keeps them), so memory
                // stays bounded; amortised O(1) per record.
                if self.users.len().saturating_sub(self.len) > ABSENT_MAX {
                    let me = self.me.take();
                    let from = self.records.saturating_sub(ABSENT_MAX as u64 / 2);
                    self.users
                        .retain(|k, e| e.slot.is_some() || e.born > from || me.as_ref() == Some(k));
                    self.me = me;
                }
                self.records += 1;
                self.users.insert(
                    key.clone(),
                    Entry {
                        rec: Some(rec.clone()),
                        born: self.records,
                        ..Entry::default()
                    },
                );
                return;
            }
        };
        // Present: keep the nick index current.
        match prev {
            Some(p) if p.nick == rec.nick => return,
            Some(p) => self.unindex(&p.nick, key),
            None => {}
        }
        self.index(&rec.nick, key, slot);
    }

    /// The record for `key`.
    pub fn get(&self, key: &UserKey) -> Option<&UserRecord> {
        self.get_bytes(key.as_bytes()).map(|r| &**r)
    }

    /// The shared record for `key` (events hand this out; no copy).
    pub fn get_shared(&self, key: &UserKey) -> Option<Rc<UserRecord>> {
        self.get_bytes(key.as_bytes()).cloned()
    }

    /// The shared record for the key `bytes` (no `UserKey` needed).
    pub fn get_bytes(&self, bytes: &[u8]) -> Option<&Rc<UserRecord>> {
        self.users
            .get(KeyBytes::new(bytes))
            .and_then(|e| e.rec.as_ref())
    }

    /// Whether the key `bytes` is present (has a record and is in the room as far as the lists
    /// and joins tell).
    pub fn is_present_bytes(&self, bytes: &[u8]) -> bool {
        self.users
            .get(KeyBytes::new(bytes))
            .is_some_and(|e| e.slot.is_some() && e.rec.is_some())
    }

    /// Whether the key `bytes` is me.
    pub fn is_me_bytes(&self, bytes: &[u8]) -> bool {
        // Asked for every chat line. Keys are eight bytes: one 64-bit compare, not a
        // `memcmp` call (a byte loop in the wasm build).
        self.me.as_ref().is_some_and(|k| {
            match (<&[u8; 8]>::try_from(&k.0[..]), <&[u8; 8]>::try_from(bytes)) {
                (Ok(a), Ok(b)) => u64::from_ne_bytes(*a) == u64::from_ne_bytes(*b),
                _ => k.0 == bytes,
            }
        })
    }

    /// `i2`: this key is me (and I am present).
    pub fn set_me(&mut self, key: &UserKey) {
        self.me = Some(key.clone());
        self.join(key);
    }

    /// My record.
    pub fn me(&self) -> Option<&UserRecord> {
        self.me.as_ref().and_then(|k| self.get(k))
    }

    /// Whether `key` is me.
    pub fn is_me(&self, key: &UserKey) -> bool {
        self.is_me_bytes(key.as_bytes())
    }

    /// A complete `u` list: exactly these users are present (plus me), in this order (a key
    /// listed twice counts once, at its first place).
    pub fn set_present(&mut self, keys: &[UserKey]) {
        self.changes += 1;
        // Keys that were only present (no record) are forgotten with their presence.
        for k in self.order.drain(..).flatten() {
            if let Some(e) = self.users.get_mut(KeyBytes::new(k.as_bytes())) {
                e.slot = None;
                if e.rec.is_none() {
                    self.users.remove(KeyBytes::new(k.as_bytes()));
                }
            }
        }
        self.len = 0;
        self.nicks.clear();
        for k in keys {
            self.join(k);
        }
        if let Some(me) = self.me.clone() {
            self.join(&me);
        }
    }

    /// `j`: `key` joined (a present key keeps its place).
    pub fn join(&mut self, key: &UserKey) {
        self.join_shared(key);
    }

    /// [`UserTable::join`], returning the key's record (shared), if it has one: the session's
    /// `j` handling needs it for the event, without a second lookup.
    pub(crate) fn join_shared(&mut self, key: &UserKey) -> Option<Rc<UserRecord>> {
        self.changes += 1;
        // `settle` for a key that was not present, with one lookup of the key: `j` lines are
        // a busy room's second most common line after chat.
        let slot = self.order.len();
        let rec = match self.users.get_mut(KeyBytes::new(key.as_bytes())) {
            Some(e) if e.slot.is_some() => return e.rec.clone(),
            Some(e) => {
                e.slot = Some(slot);
                e.rec.clone()
            }
            None => {
                let e = Entry {
                    slot: Some(slot),
                    ..Entry::default()
                };
                self.users.insert(key.clone(), e);
                None
            }
        };
        self.order.push(Some(key.clone()));
        self.len += 1;
        if let Some(r) = &rec {
            self.index(&r.nick, key, slot);
        }
        rec
    }

    /// `o`: the present user called `nick` left (the first to arrive, if several are called
    /// that); returns their record (shared with the events that carried it). My own record
    /// stays known.
    pub fn quit(&mut self, nick: &str) -> Option<Rc<UserRecord>> {
        self.changes += 1;
        // The first holder leaves the nick index (`unindex` without a second lookup).
        let holders = &mut self.nicks.get_mut(nick.as_bytes())?.holders;
        if holders.is_empty() {
            return None;
        }
        let key = holders.remove(0);
        if holders.is_empty() {
            self.nicks.remove(nick.as_bytes());
        }
        let (slot, rec) = if self.me.as_ref() == Some(&key) {
            let e = self.users.get_mut(KeyBytes::new(key.as_bytes()))?;
            (e.slot.take(), e.rec.clone())
        } else {
            let e = self.users.remove(KeyBytes::new(key.as_bytes()))?;
            (e.slot, e.rec)
        };
        if let Some(slot) = slot {
            self.vacate(slot);
        }
        rec
    }

    /// `d`: the user `old` now has the record `new` (already defined by a `k`); `new` takes
    /// `old`'s place among the present users (and leaves its own, if it was present too).
    pub fn replace(&mut self, old: &UserKey, new: &UserKey) {
        self.changes += 1;
        if self.me.as_ref() == Some(old) {
            self.me = Some(new.clone());
        }
        if old == new {
            return;
        }
        let Some(gone) = self.users.remove(KeyBytes::new(old.as_bytes())) else {
            return;
        };
        let Some(slot) = gone.slot else {
            return;
        };
        if let Some(r) = &gone.rec {
            self.unindex(&r.nick, old);
        }
        if let Some(prev) = self.settle(new, slot) {
            self.vacate(prev);
        }
    }

    /// A number that changes whenever the table may have (a record, who is present, their
    /// order, who I am): what [`UserTable::present`] gives is the same as long as it is.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Present users in arrival order.
    pub fn present(&self) -> impl Iterator<Item = &UserRecord> {
        self.order.iter().flatten().filter_map(|k| self.get(k))
    }

    /// The present user called `nick` (the first to arrive, if several are called that).
    pub fn by_nick(&self, nick: &str) -> Option<&UserRecord> {
        self.get(self.nicks.get(nick.as_bytes())?.holders.first()?)
    }

    /// Number of present users.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No one is present.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Puts `key` in `slot` of `order` (an empty slot, or the slot of a user it replaces) and in
    /// the nick index; returns the slot it had before, if it was present.
    fn settle(&mut self, key: &UserKey, slot: usize) -> Option<usize> {
        self.order[slot] = Some(key.clone());
        let (prev, rec) = match self.users.get_mut(KeyBytes::new(key.as_bytes())) {
            Some(e) => (e.slot.replace(slot), e.rec.clone()),
            None => {
                let e = Entry {
                    slot: Some(slot),
                    ..Entry::default()
                };
                self.users.insert(key.clone(), e);
                (None, None)
            }
        };
        if let Some(r) = rec {
            if prev.is_some() {
                self.unindex(&r.nick, key);
            }
            self.index(&r.nick, key, slot);
        }
        prev
    }

    /// Lists the present `key`, at `slot` in `order`, under `nick`, in arrival order among the
    /// nick's holders.
    fn index(&mut self, nick: &str, key: &UserKey, slot: usize) {
        let slot_of = |k: &UserKey| {
            self.users
                .get(KeyBytes::new(k.as_bytes()))
                .and_then(|e| e.slot)
        };
        let at = Some(slot);
        match self.nicks.get_mut(nick.as_bytes()) {
            Some(e) => {
                let pos = e.holders.partition_point(|k| slot_of(k) < at);
                e.holders.insert(pos, key.clone());
            }
            None => {
                let e = Entry {
                    holders: vec![key.clone()],
                    ..Entry::default()
                };
                self.nicks.insert(UserKey(nick.as_bytes().to_vec()), e);
            }
        }
    }

    /// Takes `key` off `nick`'s list.
    fn unindex(&mut self, nick: &str, key: &UserKey) {
        if let Some(e) = self.nicks.get_mut(nick.as_bytes()) {
            if let Some(at) = e.holders.iter().position(|k| k == key) {
                e.holders.remove(at);
            }
            if e.holders.is_empty() {
                self.nicks.remove(nick.as_bytes());
            }
        }
    }

    /// Empties `slot` of `order` (its user left); once holes outnumber the present users,
    /// squeezes them out (amortised O(1): each squeeze follows as many quits as it moves keys).
    fn vacate(&mut self, slot: usize) {
        self.order[slot] = None;
        self.len -= 1;
        if self.order.len() > 2 * self.len + 8 {
            let mut n = 0;
            for i in 0..self.order.len() {
                if let Some(k) = self.order[i].take() {
                    if let Some(e) = self.users.get_mut(KeyBytes::new(k.as_bytes())) {
                        e.slot = Some(n);
                    }
                    self.order[n] = Some(k);
                    n += 1;
                }
            }
            self.order.truncate(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use std::hash::{BuildHasher, BuildHasherDefault};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn key(i: u8) -> UserKey {
        UserKey(vec![i, 0xa5, i])
    }

    fn rec(i: u8, nick: &str) -> UserRecord {
        UserRecord {
            nick: nick.into(),
            ..UserRecord::unknown(key(i))
        }
    }

    /// The present users' nicks, in `present()` order.
    fn nicks(t: &UserTable) -> Vec<&str> {
        t.present().map(|r| r.nick.as_str()).collect()
    }

    /// A table with records `1:a 2:b 3:c 4:d` of which `joined` joined, in that order.
    fn table(joined: &[u8]) -> UserTable {
        let mut t = UserTable::default();
        for (i, n) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
            t.upsert(rec(i, n));
        }
        for &i in joined {
            t.join(&key(i));
        }
        t
    }

    #[test]
    fn rejoin_keeps_the_old_place_and_set_present_sets_the_order() {
        let mut t = table(&[3, 1, 2]);
        assert_eq!(nicks(&t), ["c", "a", "b"]);
        t.join(&key(1));
        t.join(&key(3));
        assert_eq!(nicks(&t), ["c", "a", "b"], "a re-join keeps its place");
        assert_eq!(t.len(), 3);
        // Upserting a present user keeps its place too.
        t.upsert(rec(1, "a2"));
        assert_eq!(nicks(&t), ["c", "a2", "b"]);
        t.set_present(&[key(2), key(4), key(2), key(1)]);
        assert_eq!(
            nicks(&t),
            ["b", "d", "a2"],
            "the list's order, a repeat counted once"
        );
        assert_eq!(t.len(), 3);
        // Me is added after the list when the list leaves me out.
        t.set_me(&key(3));
        t.set_present(&[key(4)]);
        assert_eq!(nicks(&t), ["d", "c"]);
        t.set_present(&[key(3), key(4)]);
        assert_eq!(nicks(&t), ["c", "d"], "me where the list has me");
        // A user that left and came back is last.
        assert_eq!(t.quit("c").map(|r| r.key.clone()), Some(key(3)));
        t.join(&key(3));
        t.join(&key(1));
        assert_eq!(nicks(&t), ["d", "c", "a2"]);
        t.clear();
        assert!(t.is_empty() && t.get(&key(1)).is_none() && t.me().is_none());
    }

    #[test]
    fn replace_keeps_the_place_of_the_old_key() {
        let mut t = table(&[1, 2, 3]);
        t.upsert(rec(9, "b-new"));
        t.replace(&key(2), &key(9));
        assert_eq!(nicks(&t), ["a", "b-new", "c"]);
        assert!(t.get(&key(2)).is_none(), "the old record is gone");
        assert!(t.by_nick("b").is_none());
        assert_eq!(t.by_nick("b-new").map(|r| r.key.clone()), Some(key(9)));
        assert_eq!(t.quit("b-new").map(|r| r.key.clone()), Some(key(9)));
        assert_eq!(nicks(&t), ["a", "c"]);
        // Replacing a user that is not present only drops the old record.
        t.upsert(rec(5, "e"));
        t.replace(&key(5), &key(4));
        assert!(t.get(&key(5)).is_none());
        assert_eq!(nicks(&t), ["a", "c"]);
        // Replacing me moves me.
        t.set_me(&key(1));
        t.replace(&key(1), &key(4));
        assert!(t.is_me(&key(4)) && !t.is_me(&key(1)));
        assert_eq!(nicks(&t), ["d", "c"]);
        assert_eq!(t.me().map(|r| r.nick.as_str()), Some("d"));
        // A key replaced by itself stays.
        t.replace(&key(3), &key(3));
        assert_eq!(nicks(&t), ["d", "c"]);
    }

    #[test]
    fn replace_by_a_present_key_leaves_its_old_place() {
        // The old Vec listed such a key twice (and counted it twice); now it has one place: the
        // replaced user's.
        let mut t = table(&[1, 2, 3]);
        t.replace(&key(3), &key(1));
        assert_eq!(nicks(&t), ["b", "a"]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.quit("a").map(|r| r.key.clone()), Some(key(1)));
        assert_eq!(nicks(&t), ["b"]);
        assert!(t.quit("a").is_none());
    }

    #[test]
    fn quit_takes_the_first_present_holder_of_the_nick() {
        let mut t = table(&[]);
        t.upsert(rec(5, "b"));
        t.upsert(rec(6, "b"));
        t.set_present(&[key(6), key(1), key(5), key(2)]);
        assert_eq!(nicks(&t), ["b", "a", "b", "b"]);
        assert_eq!(t.by_nick("b").map(|r| r.key.clone()), Some(key(6)));
        assert_eq!(t.quit("b").map(|r| r.key.clone()), Some(key(6)));
        assert!(
            t.get(&key(6)).is_none(),
            "someone else's record goes with them"
        );
        assert_eq!(t.quit("b").map(|r| r.key.clone()), Some(key(5)));
        // key 6 comes back (a new record): it is now after key 2.
        t.upsert(rec(6, "b"));
        t.join(&key(6));
        assert_eq!(t.quit("b").map(|r| r.key.clone()), Some(key(2)));
        assert_eq!(t.quit("b").map(|r| r.key.clone()), Some(key(6)));
        assert!(t.quit("b").is_none());
        assert!(t.quit("zz").is_none());
        assert_eq!(nicks(&t), ["a"]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_nick_changed_by_upsert_is_found_by_the_new_nick_only() {
        let mut t = table(&[1, 2, 3]);
        t.upsert(rec(3, "b"));
        // Now 2 and 3 are "b": 2 arrived first.
        t.upsert(rec(2, "x"));
        assert!(t.by_nick("c").is_none());
        assert_eq!(t.by_nick("b").map(|r| r.key.clone()), Some(key(3)));
        assert!(t.quit("c").is_none(), "the old nick is nobody's");
        assert_eq!(t.len(), 3);
        // Back to "b": 2 is again the first "b" (arrival order, not rename order).
        t.upsert(rec(2, "b"));
        assert_eq!(t.quit("b").map(|r| r.key.clone()), Some(key(2)));
        assert_eq!(t.quit("b").map(|r| r.key.clone()), Some(key(3)));
        assert_eq!(nicks(&t), ["a"]);
        // A record that arrives after the join makes the user findable.
        t.join(&key(7));
        assert_eq!(t.len(), 2);
        assert_eq!(nicks(&t), ["a"], "no record, not listed");
        assert!(t.quit("g").is_none());
        t.upsert(rec(7, "g"));
        assert_eq!(nicks(&t), ["a", "g"]);
        assert_eq!(t.quit("g").map(|r| r.key.clone()), Some(key(7)));
    }

    /// `changes` moves with every change a `present()` reader could see, and only then.
    #[test]
    fn changes_counts_every_change_and_no_read() {
        let mut t = table(&[1, 2]);
        let mut at = t.changes();
        let mut changed = |t: &UserTable| std::mem::replace(&mut at, t.changes()) != t.changes();
        let _ = (t.present().count(), t.by_nick("u1"), t.me(), t.len());
        assert!(!changed(&t), "a read");
        t.upsert(rec(1, "renamed"));
        assert!(changed(&t), "upsert");
        t.join(&key(3));
        assert!(changed(&t), "join");
        t.quit("renamed");
        assert!(changed(&t), "quit");
        t.upsert(rec(4, "u4"));
        changed(&t);
        t.replace(&key(2), &key(4));
        assert!(changed(&t), "replace");
        t.set_present(&[]);
        assert!(changed(&t), "set_present");
        t.clear();
        assert!(changed(&t), "clear");
    }

    /// `k` records for keys that never join are forgotten past `ABSENT_MAX`: the table stays
    /// bounded, and present users, me (even after I quit) and the newest record stay known.
    #[test]
    fn records_of_absent_users_are_bounded() {
        let mut t = table(&[1, 2]);
        t.set_me(&key(1));
        t.quit("a");
        let absent = |i: u32| UserKey([&[0xab][..], &i.to_be_bytes()].concat());
        let n = ABSENT_MAX as u32 + 100;
        for i in 0..n {
            t.upsert(UserRecord {
                nick: format!("x{i}"),
                ..UserRecord::unknown(absent(i))
            });
            assert!(t.users.len() <= ABSENT_MAX + 3, "{i}: {}", t.users.len());
        }
        let newest = t.get(&absent(n - 1)).map(|r| r.nick.clone());
        assert_eq!(newest, Some(format!("x{}", n - 1)));
        assert_eq!(t.me().map(|r| r.nick.as_str()), Some("a"));
        assert_eq!(nicks(&t), ["b"]);
        assert_eq!(t.by_nick("b").map(|r| r.key.clone()), Some(key(2)));
    }

    /// A list of 10,001 users, records first and then their `u` keys (as `uchat sim` sends
    /// it, and the SDK asks for 10,000): every user is present with their record, also when
    /// 60,000 records of absent users came before (the sweep falls inside the list).
    #[test]
    fn a_large_list_with_its_records_first_keeps_every_user() {
        let mut t = UserTable::default();
        for i in 0u32..60_000 {
            t.upsert(UserRecord::unknown(UserKey(
                [&[0xee][..], &i.to_le_bytes()].concat(),
            )));
        }
        let keys: Vec<UserKey> = (0u32..10_001)
            .map(|i| UserKey(i.to_le_bytes().repeat(2)))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            t.upsert(UserRecord {
                nick: format!("u{i}"),
                ..UserRecord::unknown(k.clone())
            });
        }
        t.set_present(&keys);
        assert_eq!(t.len(), keys.len());
        assert_eq!(
            t.present().filter(|r| !r.nick.is_empty()).count(),
            keys.len()
        );
        assert_eq!(
            t.by_nick("u0").map(|r| r.key.clone()),
            Some(keys[0].clone())
        );
    }

    #[test]
    fn quitting_me_keeps_my_record() {
        let mut t = table(&[1, 2]);
        t.set_me(&key(2));
        let gone = t.quit("b").expect("I was present");
        assert_eq!(gone.key, key(2));
        assert_eq!(t.me().map(|r| r.nick.as_str()), Some("b"));
        assert_eq!(t.get(&key(2)).map(|r| r.nick.as_str()), Some("b"));
        assert_eq!(nicks(&t), ["a"]);
        assert!(t.by_nick("b").is_none());
        assert!(t.quit("b").is_none(), "no longer present");
        t.join(&key(2));
        assert_eq!(nicks(&t), ["a", "b"]);
    }

    #[test]
    fn many_joins_and_quits_keep_order_and_count() {
        // Enough turnover to squeeze the holes out of the order list many times.
        let mut t = UserTable::default();
        let mut model: Vec<u8> = Vec::new();
        for round in 0u32..40 {
            for i in 0u8..50 {
                let k = i.wrapping_mul(7).wrapping_add(round as u8);
                if !model.contains(&k) {
                    t.upsert(rec(k, &format!("n{k}")));
                    t.join(&key(k));
                    model.push(k);
                }
            }
            for i in 0u8..45 {
                let k = i.wrapping_mul(13).wrapping_add(round as u8 * 3);
                let got = t.quit(&format!("n{k}")).map(|r| r.key.clone());
                let pos = model.iter().position(|&m| m == k);
                assert_eq!(got, pos.map(|p| key(model.remove(p))));
            }
            let want: Vec<String> = model.iter().map(|k| format!("n{k}")).collect();
            assert_eq!(nicks(&t), want);
            assert_eq!(t.len(), model.len());
        }
    }

    #[test]
    fn key_bytes_hash_and_compare_as_the_key_does() {
        let b = BuildHasherDefault::<FxHasher>::default();
        let keys: Vec<UserKey> = [
            vec![],
            vec![1],
            vec![1, 0],
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 6, 7, 9],
            vec![9, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 0],
        ]
        .map(UserKey)
        .to_vec();
        for a in &keys {
            assert_eq!(b.hash_one(a), b.hash_one(KeyBytes::new(a.as_bytes())));
            for c in &keys {
                assert_eq!(
                    KeyBytes::new(a.as_bytes()) == KeyBytes::new(c.as_bytes()),
                    a == c,
                    "{a:?} {c:?}"
                );
            }
        }
        let map: FxMap<UserKey, usize> = keys.iter().cloned().zip(0..).collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(KeyBytes::new(k.as_bytes())), Some(&i));
        }
        assert_eq!(map.get(KeyBytes::new(&[1, 2, 3, 4, 5, 6, 7, 7])), None);
    }

    /// Keys that differ only after a common 4-byte prefix (or only in their first bytes) spread
    /// over the buckets: the low 16 bits of the hash (what a table of up to 65,536 buckets
    /// uses, and wasm32's 32-bit hash keeps) take many values. Unmixed FxHash gave them all one
    /// value, so lookups walked one probe chain (quadratic work).
    #[test]
    fn fx_hash_low_bits_depend_on_every_key_byte() {
        let b = BuildHasherDefault::<FxHasher>::default();
        let spread = |prefix: bool| {
            let low: std::collections::HashSet<u64> = (0u32..4096)
                .map(|i| {
                    let (fixed, counter) = ([0xb0, 0, 0, 0], i.to_be_bytes());
                    let k = if prefix {
                        [fixed, counter]
                    } else {
                        [counter, fixed]
                    };
                    b.hash_one(UserKey(k.concat())) & 0xffff
                })
                .collect();
            low.len()
        };
        // 4,096 random values in 65,536 buckets take about 3,970 distinct ones.
        assert!(spread(true) > 3500, "{}", spread(true));
        assert!(spread(false) > 3500, "{}", spread(false));
    }

    #[test]
    fn fx_hash_separates_keys_and_the_table_finds_them() {
        let b = BuildHasherDefault::<FxHasher>::default();
        let keys: Vec<UserKey> = (0u8..=255)
            .map(|i| UserKey(vec![i, 0, 0, 0, 0, 0, 0, i]))
            .collect();
        let hashes: std::collections::HashSet<u64> = keys.iter().map(|k| b.hash_one(k)).collect();
        assert_eq!(
            hashes.len(),
            keys.len(),
            "no collisions among 256 simple keys"
        );
        // Lengths matter: a key and its zero-padded longer form differ.
        assert_ne!(
            b.hash_one(UserKey(vec![1])),
            b.hash_one(UserKey(vec![1, 0]))
        );
        let mut t = UserTable::default();
        for k in &keys {
            t.upsert(UserRecord {
                nick: format!("n{}", k.0[0]),
                ..UserRecord::unknown(k.clone())
            });
        }
        for k in &keys {
            assert_eq!(
                t.get(k).map(|r| r.nick.clone()),
                Some(format!("n{}", k.0[0]))
            );
        }
        assert!(t.get(&UserKey(vec![9; 8])).is_none());
    }
}

/// The table against the Vec-based table it replaced, on random `k j o d u i2` sequences.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod model {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;

    /// The old `UserTable` (present as a Vec, O(n) join/quit), verbatim.
    #[derive(Default)]
    struct Model {
        records: FxMap<UserKey, Rc<UserRecord>>,
        present: Vec<UserKey>,
        me: Option<UserKey>,
    }

    impl Model {
        fn clear(&mut self) {
            self.records.clear();
            self.present.clear();
            self.me = None;
        }
        fn upsert(&mut self, rec: UserRecord) {
            self.records.insert(rec.key.clone(), Rc::new(rec));
        }
        fn get(&self, key: &UserKey) -> Option<&UserRecord> {
            self.records.get(key).map(|r| &**r)
        }
        fn set_me(&mut self, key: &UserKey) {
            self.me = Some(key.clone());
            self.join(key);
        }
        fn me(&self) -> Option<&UserRecord> {
            self.me.as_ref().and_then(|k| self.get(k))
        }
        fn set_present(&mut self, keys: &[UserKey]) {
            self.present = keys.to_vec();
            if let Some(me) = self.me.clone() {
                self.join(&me);
            }
        }
        fn join(&mut self, key: &UserKey) {
            if !self.present.contains(key) {
                self.present.push(key.clone());
            }
        }
        fn quit(&mut self, nick: &str) -> Option<UserRecord> {
            let pos = self
                .present
                .iter()
                .position(|k| self.records.get(k).is_some_and(|r| r.nick == nick))?;
            let key = self.present.remove(pos);
            if self.me.as_ref() == Some(&key) {
                return self.get(&key).cloned();
            }
            self.records
                .remove(&key)
                .map(|r| Rc::try_unwrap(r).unwrap_or_else(|r| (*r).clone()))
        }
        fn replace(&mut self, old: &UserKey, new: &UserKey) {
            if let Some(slot) = self.present.iter_mut().find(|k| *k == old) {
                *slot = new.clone();
            }
            if self.me.as_ref() == Some(old) {
                self.me = Some(new.clone());
            }
            if old != new {
                self.records.remove(old);
            }
        }
        fn present(&self) -> impl Iterator<Item = &UserRecord> {
            self.present.iter().filter_map(|k| self.get(k))
        }
        fn by_nick(&self, nick: &str) -> Option<&UserRecord> {
            self.present().find(|r| r.nick == nick)
        }
    }

    const KEYS: u8 = 10;
    const NICKS: [&str; 4] = ["a", "b", "c", "d"];

    #[derive(Clone, Debug)]
    enum Op {
        Upsert(u8, usize, i64),
        Join(u8),
        Quit(usize),
        Replace(u8, u8),
        SetPresent(Vec<u8>),
        SetMe(u8),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        let k = || 0..KEYS;
        let n = || 0..NICKS.len() + 1;
        prop_oneof![
            12 => (k(), n(), 0i64..3).prop_map(|(k, n, a)| Op::Upsert(k, n, a)),
            12 => k().prop_map(Op::Join),
            12 => n().prop_map(Op::Quit),
            3 => (k(), k()).prop_map(|(a, b)| Op::Replace(a, b)),
            1 => proptest::collection::vec(k(), 0..8).prop_map(Op::SetPresent),
            1 => k().prop_map(Op::SetMe),
            1 => Just(Op::Clear),
        ]
    }

    fn key(i: u8) -> UserKey {
        UserKey(vec![i; 1 + i as usize % 9])
    }

    fn nick(n: usize) -> &'static str {
        // One past the end: a nick nobody is given.
        NICKS.get(n).copied().unwrap_or("nobody")
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 512,
            failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn table_matches_the_vec_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut t = UserTable::default();
            let mut m = Model::default();
            for (step, op) in ops.iter().enumerate() {
                match op {
                    Op::Upsert(k, n, auth) => {
                        let r = UserRecord { nick: nick(*n).into(), auth: *auth, ..UserRecord::unknown(key(*k)) };
                        t.upsert(r.clone());
                        m.upsert(r);
                    }
                    Op::Join(k) => {
                        t.join(&key(*k));
                        m.join(&key(*k));
                    }
                    Op::Quit(n) => {
                        let (got, want) = (t.quit(nick(*n)), m.quit(nick(*n)));
                        prop_assert_eq!(got.as_deref(), want.as_ref(), "step {} {:?}", step, op);
                    }
                    Op::Replace(a, b) => {
                        // The old table listed `b` twice when both were present (see
                        // replace_by_a_present_key_leaves_its_old_place): not compared.
                        if a != b && m.present.contains(&key(*a)) && m.present.contains(&key(*b)) {
                            continue;
                        }
                        t.replace(&key(*a), &key(*b));
                        m.replace(&key(*a), &key(*b));
                    }
                    Op::SetPresent(ks) => {
                        // A `u` list names each user once (the old table kept repeats).
                        let mut list: Vec<UserKey> = Vec::new();
                        for k in ks {
                            if !list.contains(&key(*k)) {
                                list.push(key(*k));
                            }
                        }
                        t.set_present(&list);
                        m.set_present(&list);
                    }
                    Op::SetMe(k) => {
                        t.set_me(&key(*k));
                        m.set_me(&key(*k));
                    }
                    Op::Clear => {
                        t.clear();
                        m.clear();
                    }
                }
                let got: Vec<&UserRecord> = t.present().collect();
                let want: Vec<&UserRecord> = m.present().collect();
                prop_assert_eq!(got, want, "present() after step {} {:?}", step, op);
                prop_assert_eq!(t.len(), m.present.len(), "len after step {} {:?}", step, op);
                prop_assert_eq!(t.is_empty(), m.present.is_empty());
                prop_assert_eq!(t.me(), m.me());
                for i in 0..KEYS {
                    let k = key(i);
                    prop_assert_eq!(t.get(&k), m.get(&k), "get({}) after step {} {:?}", i, step, op);
                    let shared = t.get_shared(&k);
                    prop_assert_eq!(shared.as_deref(), m.get(&k));
                    prop_assert_eq!(t.is_me(&k), m.me.as_ref() == Some(&k));
                }
                // No leftovers: every kept key has a record or a place, every nick a holder, and
                // holes in the order list stay bounded.
                prop_assert!(t.users.values().all(|e| e.rec.is_some() || e.slot.is_some()));
                prop_assert!(t.nicks.values().all(|e| !e.holders.is_empty()));
                prop_assert!(t.order.len() <= 2 * t.len() + 8);
                for n in 0..=NICKS.len() {
                    prop_assert_eq!(t.by_nick(nick(n)), m.by_nick(nick(n)), "by_nick after step {} {:?}", step, op);
                }
            }
        }
    }
}
