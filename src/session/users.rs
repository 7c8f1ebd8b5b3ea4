//! The room's user table: `k` records keyed by user key, who is present, and who I am
//! (PROTOCOL.md §3.2 `k i2 u j o d`).

use crate::message::{UserKey, UserRecord};
use std::rc::Rc;

/// A fast non-cryptographic hasher (the FxHash mix) for the user table and the web layer's
/// small maps. The keys are server-assigned user keys and the bot's own event names; SipHash's
/// flooding resistance buys little for one bot's room and costs a visible share of every
/// message in wasm (docs/PERFORMANCE.md).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
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
        self.0
    }
}

/// `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Users known to the session. Records come from `k`; presence from `u` lists, `j` and `o`.
///
/// Records are reference-counted: every event about a user shares the table's record instead of
/// copying its strings (docs/PERFORMANCE.md "Decode path"); a `k` line replaces it.
#[derive(Debug, Default, Clone)]
pub struct UserTable {
    records: FxMap<UserKey, Rc<UserRecord>>,
    /// Present users in arrival order.
    present: Vec<UserKey>,
    me: Option<UserKey>,
}

impl UserTable {
    /// Forget everything (new connection: keys are per connection).
    pub fn clear(&mut self) {
        self.records.clear();
        self.present.clear();
        self.me = None;
    }

    /// Define or refresh a record (`k`).
    pub fn upsert(&mut self, rec: UserRecord) {
        self.records.insert(rec.key.clone(), Rc::new(rec));
    }

    /// The record for `key`.
    pub fn get(&self, key: &UserKey) -> Option<&UserRecord> {
        self.records.get(key).map(|r| &**r)
    }

    /// The shared record for `key` (events hand this out; no copy).
    pub fn get_shared(&self, key: &UserKey) -> Option<Rc<UserRecord>> {
        self.get_bytes(key.as_bytes()).cloned()
    }

    /// The shared record for the key `bytes` (no `UserKey` needed).
    pub fn get_bytes(&self, bytes: &[u8]) -> Option<&Rc<UserRecord>> {
        self.records.get(bytes)
    }

    /// Whether the key `bytes` is me.
    pub fn is_me_bytes(&self, bytes: &[u8]) -> bool {
        self.me.as_ref().is_some_and(|k| k.0 == bytes)
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

    /// A complete `u` list: exactly these users are present (plus me).
    pub fn set_present(&mut self, keys: &[UserKey]) {
        self.present = keys.to_vec();
        if let Some(me) = self.me.clone() {
            self.join(&me);
        }
    }

    /// `j`: `key` joined.
    pub fn join(&mut self, key: &UserKey) {
        if !self.present.contains(key) {
            self.present.push(key.clone());
        }
    }

    /// `o`: the present user called `nick` left; returns their record.
    pub fn quit(&mut self, nick: &str) -> Option<UserRecord> {
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

    /// `d`: the user `old` now has the record `new` (already defined by a `k`).
    pub fn replace(&mut self, old: &UserKey, new: &UserKey) {
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

    /// Present users in arrival order.
    pub fn present(&self) -> impl Iterator<Item = &UserRecord> {
        self.present.iter().filter_map(|k| self.get(k))
    }

    /// The present user called `nick`.
    pub fn by_nick(&self, nick: &str) -> Option<&UserRecord> {
        self.present().find(|r| r.nick == nick)
    }

    /// Number of present users.
    pub fn len(&self) -> usize {
        self.present.len()
    }

    /// No one is present.
    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

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
