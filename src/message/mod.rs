//! Typed UChat 2 messages over the codec's [`Line`]s (PROTOCOL.md §3).
//!
//! * [`Incoming`] — every server→client key of §3.2 (`i1 k i2 u c j o d m w s ERR p b a`); any
//!   other key is kept as [`Incoming::Other`].
//! * [`Outgoing`] — every client→server line of §3.1: join, chat, whisper, every command,
//!   plugin, pluginTo, ping, disconnect.
//! * [`SystemCode`] and [`ErrorCode`] — the named code tables of §3.3 and §3.4.
//! * [`Style`] — chat style bits and colour (§3.1 `m`).
//!
//! Conversions are total in both directions: `to_line` always succeeds, and `from_line` turns a
//! line with a missing or mistyped field into a [`MessageError`] that names the line, the field
//! (numbered from 1 = first field after the key, as in PROTOCOL.md §3) and what was expected.
//! Nothing here panics on any input.

use crate::codec::{hex_decode, hex_encode, Field, Line};
use std::fmt;

mod codes;
mod incoming;
mod outgoing;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod props;
mod records;
mod style;
mod system;

pub use codes::{ErrorCode, SystemCode};
pub use incoming::{ChatMessage, Control, Incoming, PluginMessage, UserModi, WhisperMessage};
pub use outgoing::{Command, JoinRequest, Outgoing};
pub use records::{RoomFlags, RoomInfo, RoomMode, UserRecord};
pub use style::{Color, Style, StyleCache, StyleError};
pub use system::{BanInfo, IpInfo, MuteInfo, OpInfo, SystemMessage, SystemUserInfo};

// ---------------------------------------------------------------------------------------------
// User key

/// A user key: the binary id the server gives every connected user in `k` and refers to from
/// `i2 u j m w d p` (PROTOCOL.md §3.2, 8 bytes in the observed sample).
///
/// Displayed as lowercase hex, like uchat.js `hexEncode`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UserKey(pub Vec<u8>);

impl UserKey {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Parse lowercase or uppercase hex (whitespace ignored), e.g. `"baf4cf1b67b74311"`.
    pub fn from_hex(hex: &str) -> Result<UserKey, String> {
        hex_decode(hex)
            .map(UserKey)
            .map_err(|e| format!("user key {}: {e}", crate::codec::Quoted('"', hex)))
    }

    /// Lowercase hex of the key (same as `to_string()`).
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

/// Lets tables keyed by `UserKey` be searched with the key's bytes (no copy): a derived `Hash`
/// of the one field hashes exactly like the slice.
impl std::borrow::Borrow<[u8]> for UserKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// A user key's bytes as a lookup key for tables keyed by [`UserKey`] (what
/// `HashMap<UserKey, _>::get` takes, with no copy): it hashes and compares as the key does,
/// but compares two eight-byte keys (every key the server sends) as one 64-bit word instead
/// of a `memcmp` call, which the wasm build runs a byte at a time (docs/PERFORMANCE.md
/// "Session 16").
///
/// Public for the session's user table (in another module) only, so hidden from the docs.
#[doc(hidden)]
#[repr(transparent)]
#[derive(Debug)]
pub struct KeyBytes([u8]);

/// As `UserKey`'s derived `Hash` (which hashes its one field like the slice).
impl std::hash::Hash for KeyBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl KeyBytes {
    /// `bytes` as a [`KeyBytes`].
    pub fn new(bytes: &[u8]) -> &KeyBytes {
        // SAFETY: `KeyBytes` is `repr(transparent)` over `[u8]`: same layout and metadata.
        unsafe { &*(bytes as *const [u8] as *const KeyBytes) }
    }
}

impl PartialEq for KeyBytes {
    #[inline]
    fn eq(&self, other: &KeyBytes) -> bool {
        match (
            <&[u8; 8]>::try_from(&self.0),
            <&[u8; 8]>::try_from(&other.0),
        ) {
            (Ok(a), Ok(b)) => u64::from_ne_bytes(*a) == u64::from_ne_bytes(*b),
            _ => self.0 == other.0,
        }
    }
}

impl Eq for KeyBytes {}

/// `UserKey` and `KeyBytes` hash alike (a derived `Hash` of the one field hashes exactly like
/// the slice) and are equal for equal bytes.
impl std::borrow::Borrow<KeyBytes> for UserKey {
    fn borrow(&self) -> &KeyBytes {
        KeyBytes::new(&self.0)
    }
}

impl From<Vec<u8>> for UserKey {
    fn from(bytes: Vec<u8>) -> Self {
        UserKey(bytes)
    }
}

impl From<&[u8]> for UserKey {
    fn from(bytes: &[u8]) -> Self {
        UserKey(bytes.to_vec())
    }
}

impl From<UserKey> for Field {
    fn from(key: UserKey) -> Self {
        Field::Bin(key.0)
    }
}

impl From<&UserKey> for Field {
    fn from(key: &UserKey) -> Self {
        Field::Bin(key.0.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A line whose fields do not fit the message its key names (PROTOCOL.md §3).
///
/// Displays as e.g. ``"`k` line: field 8 (time) must be a whole number, got string \"x\""``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageError {
    /// What line this is: the key, or `command <name>` for commands.
    pub key: String,
    /// What was wrong.
    pub kind: MessageErrorKind,
}

/// What was wrong with a line's fields (PROTOCOL.md §3). `field` counts from 1 = the first field
/// after the key, as in the PROTOCOL.md §3 tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageErrorKind {
    /// A required field is not there.
    Missing {
        /// Field number (1 = first after the key).
        field: usize,
        /// What the field means, e.g. `time`.
        name: &'static str,
        /// The expected type, e.g. `a number`.
        expected: &'static str,
    },
    /// A field has the wrong type.
    WrongType {
        /// Field number (1 = first after the key).
        field: usize,
        /// What the field means.
        name: &'static str,
        /// The expected type, e.g. `a number`.
        expected: &'static str,
        /// Description of what arrived, e.g. `string "x"`.
        got: String,
    },
    /// A field has the right type but an unusable value.
    Invalid {
        /// Field number (1 = first after the key).
        field: usize,
        /// What the field means.
        name: &'static str,
        /// Why the value is unusable.
        reason: String,
    },
    /// More fields than this message has (only checked for client→server lines).
    Unexpected {
        /// Number of the first surplus field.
        field: usize,
        /// How many fields the line may have after the key.
        max: usize,
    },
    /// A client→server line with an empty key (the codec allows it; no client sends it).
    EmptyKey,
}

impl MessageError {
    pub(crate) fn new(key: impl Into<String>, kind: MessageErrorKind) -> Self {
        MessageError {
            key: key.into(),
            kind,
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str("line with an empty key: ")?;
        } else {
            write!(f, "`{}` line: ", self.key)?;
        }
        match &self.kind {
            MessageErrorKind::Missing {
                field,
                name,
                expected,
            } => write!(f, "field {field} ({name}) is missing; expected {expected}"),
            MessageErrorKind::WrongType {
                field,
                name,
                expected,
                got,
            } => write!(f, "field {field} ({name}) must be {expected}, got {got}"),
            MessageErrorKind::Invalid {
                field,
                name,
                reason,
            } => write!(f, "field {field} ({name}) {reason}"),
            MessageErrorKind::Unexpected { field, max } => write!(
                f,
                "unexpected field {field}: this message has at most {max} field{} after the key",
                if *max == 1 { "" } else { "s" }
            ),
            MessageErrorKind::EmptyKey => {
                f.write_str("client lines start with a key such as `m` or `command`")
            }
        }
    }
}

impl std::error::Error for MessageError {}

/// Describe a field for an error message: `string "x"`, `number 5`, `binary 0a0b`, …
pub(crate) fn describe(field: &Field) -> String {
    fn cut(s: &str, max: usize) -> String {
        match s.char_indices().nth(max) {
            Some((i, _)) => format!("{}…", crate::codec::Quoted('"', s.get(..i).unwrap_or(s))),
            None => crate::codec::Quoted('"', s).to_string(),
        }
    }
    match field {
        Field::Bin(b) if b.len() > 16 => {
            format!("binary {}… ({} bytes)", hex_encode(&b[..16]), b.len())
        }
        Field::Bin(b) => format!("binary {}", hex_encode(b)),
        Field::Str(s) => format!("string {}", cut(s, 40)),
        Field::Bool(b) => format!("boolean {b}"),
        Field::Num(n) => format!("number {n}"),
        Field::Float(x) => format!("float {}", crate::codec::js_number_to_string(*x)),
        Field::Undef => "undefined".into(),
    }
}

/// Sequential, typed access to a line's fields that produces [`MessageError`]s.
pub(crate) struct Reader<'a> {
    /// Borrowed when the caller has the key at hand (every incoming line: no allocation per
    /// line on the general decode path).
    key: std::borrow::Cow<'a, str>,
    fields: std::vec::IntoIter<Field>,
    /// Number of the next field (1-based).
    next: usize,
}

const A_STRING: &str = "a string";
const A_STRING_OR_UNDEF: &str = "a string or undefined";
const A_NUMBER: &str = "a whole number";
const A_BINARY: &str = "binary bytes";
const A_BOOL: &str = "a boolean";
const A_VALUE: &str = "a value";

impl<'a> Reader<'a> {
    pub(crate) fn new(key: impl Into<std::borrow::Cow<'a, str>>, fields: Vec<Field>) -> Self {
        Reader {
            key: key.into(),
            fields: fields.into_iter(),
            next: 1,
        }
    }

    /// Like [`Reader::new`] but numbering starts at `first` (for command arguments).
    pub(crate) fn starting_at(
        key: impl Into<std::borrow::Cow<'a, str>>,
        fields: Vec<Field>,
        first: usize,
    ) -> Self {
        Reader {
            key: key.into(),
            fields: fields.into_iter(),
            next: first,
        }
    }

    fn err(&self, kind: MessageErrorKind) -> MessageError {
        MessageError::new(self.key.clone().into_owned(), kind)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.fields.len()
    }

    /// The next field, or a `Missing` error.
    fn take(
        &mut self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<(usize, Field), MessageError> {
        let index = self.next;
        match self.fields.next() {
            Some(f) => {
                self.next += 1;
                Ok((index, f))
            }
            None => Err(self.err(MessageErrorKind::Missing {
                field: index,
                name,
                expected,
            })),
        }
    }

    fn wrong(
        &self,
        field: usize,
        name: &'static str,
        expected: &'static str,
        got: &Field,
    ) -> MessageError {
        self.err(MessageErrorKind::WrongType {
            field,
            name,
            expected,
            got: describe(got),
        })
    }

    pub(crate) fn invalid(&self, field: usize, name: &'static str, reason: String) -> MessageError {
        self.err(MessageErrorKind::Invalid {
            field,
            name,
            reason,
        })
    }

    /// Number of the field the next call will read.
    pub(crate) fn position(&self) -> usize {
        self.next
    }

    pub(crate) fn any(&mut self, name: &'static str) -> Result<Field, MessageError> {
        self.take(name, A_VALUE).map(|(_, f)| f)
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<String, MessageError> {
        match self.take(name, A_STRING)? {
            (_, Field::Str(s)) => Ok(s),
            (i, other) => Err(self.wrong(i, name, A_STRING, &other)),
        }
    }

    /// A string, or `undefined` read as `None` (the S/U fields of §3 and §4.2).
    pub(crate) fn string_or_undef(
        &mut self,
        name: &'static str,
    ) -> Result<Option<String>, MessageError> {
        match self.take(name, A_STRING_OR_UNDEF)? {
            (_, Field::Str(s)) => Ok(Some(s)),
            (_, Field::Undef) => Ok(None),
            (i, other) => Err(self.wrong(i, name, A_STRING_OR_UNDEF, &other)),
        }
    }

    /// A string where `undefined` is read as `""` (lenient for server text fields).
    pub(crate) fn text(&mut self, name: &'static str) -> Result<String, MessageError> {
        self.string_or_undef(name).map(Option::unwrap_or_default)
    }

    pub(crate) fn number(&mut self, name: &'static str) -> Result<i64, MessageError> {
        let (i, f) = self.take(name, A_NUMBER)?;
        f.as_i64().ok_or_else(|| self.wrong(i, name, A_NUMBER, &f))
    }

    /// A number, or a string holding a decimal integer (commands typed by hand in uchat.js).
    pub(crate) fn number_or_numeric_string(
        &mut self,
        name: &'static str,
    ) -> Result<i64, MessageError> {
        const EXPECTED: &str = "a whole number (or a decimal string)";
        let (i, f) = self.take(name, EXPECTED)?;
        if let Some(n) = f.as_i64() {
            return Ok(n);
        }
        match &f {
            Field::Str(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| self.wrong(i, name, EXPECTED, &f)),
            _ => Err(self.wrong(i, name, EXPECTED, &f)),
        }
    }

    pub(crate) fn binary(&mut self, name: &'static str) -> Result<Vec<u8>, MessageError> {
        match self.take(name, A_BINARY)? {
            (_, Field::Bin(b)) => Ok(b),
            (i, other) => Err(self.wrong(i, name, A_BINARY, &other)),
        }
    }

    pub(crate) fn user_key(&mut self, name: &'static str) -> Result<UserKey, MessageError> {
        const EXPECTED: &str = "a user key (binary)";
        match self.take(name, EXPECTED)? {
            (_, Field::Bin(b)) => Ok(UserKey(b)),
            (i, other) => Err(self.wrong(i, name, EXPECTED, &other)),
        }
    }

    pub(crate) fn boolean(&mut self, name: &'static str) -> Result<bool, MessageError> {
        match self.take(name, A_BOOL)? {
            (_, Field::Bool(b)) => Ok(b),
            (i, other) => Err(self.wrong(i, name, A_BOOL, &other)),
        }
    }

    /// An optional trailing number: `None` when the line ends here or the field is undefined.
    pub(crate) fn opt_number(&mut self, name: &'static str) -> Result<Option<i64>, MessageError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        match self.take(name, A_NUMBER)? {
            (_, Field::Undef) => Ok(None),
            (i, f) => f
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(i, name, A_NUMBER, &f)),
        }
    }

    /// An optional trailing string: `None` when the line ends here or the field is undefined.
    pub(crate) fn opt_string(
        &mut self,
        name: &'static str,
    ) -> Result<Option<String>, MessageError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        self.string_or_undef(name)
    }

    /// All remaining fields.
    pub(crate) fn rest(&mut self) -> Vec<Field> {
        self.next += self.fields.len();
        self.fields.by_ref().collect()
    }

    /// The remaining fields as `key, value` pairs with string keys (`d`, `b`, `changeInfo`).
    pub(crate) fn pairs(&mut self) -> Result<Vec<(String, Field)>, MessageError> {
        let mut out = Vec::with_capacity(self.remaining() / 2);
        while self.remaining() > 0 {
            let k = self.string("name of a changed value")?;
            let v = self.any("changed value")?;
            out.push((k, v));
        }
        Ok(out)
    }

    /// Fail if fields are left (strict client→server parsing).
    pub(crate) fn finish(&self) -> Result<(), MessageError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.err(MessageErrorKind::Unexpected {
                field: self.next,
                max: self.next - 1,
            }))
        }
    }
}

/// Append `key, value` pairs to a line.
pub(crate) fn push_pairs(line: &mut Line, pairs: &[(String, Field)]) {
    for (k, v) in pairs {
        line.push(k.as_str());
        line.push(v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn user_key_hex() {
        let k = UserKey::from_hex("BAF4 cf1b67b74311").unwrap();
        assert_eq!(
            k.as_bytes(),
            [0xba, 0xf4, 0xcf, 0x1b, 0x67, 0xb7, 0x43, 0x11]
        );
        assert_eq!(k.to_string(), "baf4cf1b67b74311");
        assert_eq!(k.to_hex(), k.to_string());
        assert_eq!(Field::from(&k), Field::Bin(k.0.clone()));
        assert_eq!(
            UserKey::from_hex("abc").unwrap_err(),
            "user key \"abc\": odd number of hex digits: the digit at character 2 has no partner"
        );
        assert!(UserKey::from_hex("zz")
            .unwrap_err()
            .contains("invalid hex digit 'z'"));
    }

    #[test]
    fn field_descriptions() {
        assert_eq!(describe(&Field::from("x")), "string \"x\"");
        assert_eq!(describe(&Field::Num(5)), "number 5");
        assert_eq!(describe(&Field::Float(-1.5)), "float -1.5");
        assert_eq!(describe(&Field::Bin(vec![1, 0xab])), "binary 01ab");
        assert_eq!(describe(&Field::Bool(false)), "boolean false");
        assert_eq!(describe(&Field::Undef), "undefined");
        assert_eq!(describe(&Field::from("a\"b")), "string \"a\\\"b\"");
    }

    #[test]
    fn reader_numbers_fields_from_one_and_reports_surplus() {
        let mut r = Reader::new("x", vec![Field::Num(1), Field::from("a")]);
        assert_eq!(r.position(), 1);
        assert_eq!(r.number("n"), Ok(1));
        assert_eq!(r.position(), 2);
        assert_eq!(
            r.finish().unwrap_err().to_string(),
            "`x` line: unexpected field 2: this message has at most 1 field after the key"
        );
        assert_eq!(r.opt_string("s"), Ok(Some("a".into())));
        assert_eq!(r.opt_string("s"), Ok(None));
        assert_eq!(r.opt_number("t"), Ok(None));
        assert!(r.finish().is_ok());
    }

    /// Every line of vectors.json `server_frames` types and converts back; every `client_lines`
    /// entry (except the dummy `t` lines) reads as an [`Outgoing`] that encodes to its frame.
    #[cfg(feature = "json")]
    #[test]
    fn all_vectors() {
        use crate::codec::{encode, hex_decode, hex_encode};
        use crate::json::line_from_json;
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/vectors.json")).unwrap();
        let mut server = 0;
        for frame in v["server_frames"].as_array().unwrap() {
            for l in frame["lines"].as_array().unwrap() {
                let line = line_from_json(l).unwrap();
                let msg = Incoming::from_line(line.clone()).unwrap();
                assert!(!matches!(msg, Incoming::Other(_)), "{line}");
                assert_eq!(msg.to_line(), line);
                server += 1;
            }
        }
        assert!(server >= 13);
        let mut client = 0;
        for case in v["client_lines"].as_array().unwrap() {
            let line = line_from_json(&case["line"]).unwrap();
            if line.key == "t" {
                continue;
            }
            let msg = Outgoing::from_line(line.clone()).unwrap();
            assert!(!matches!(msg, Outgoing::Other(_)), "{line}");
            let bytes = encode(&msg.to_line()).unwrap();
            assert_eq!(hex_encode(&bytes), case["frame_hex"].as_str().unwrap());
            client += 1;
        }
        assert_eq!(client, 12);
        for token in v["tokens"].as_array().unwrap() {
            let bytes = hex_decode(token["join"]["frame_hex"].as_str().unwrap()).unwrap();
            let line = crate::codec::Decoder::new().feed(&bytes).remove(0).unwrap();
            let msg = Outgoing::from_line(line).unwrap();
            assert!(matches!(msg, Outgoing::Join(_)));
            assert_eq!(encode(&msg.to_line()).unwrap(), bytes);
        }
    }
}
