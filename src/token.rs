//! Join token and join line (PROTOCOL.md §4, DECISIONS.md "Joining").
//!
//! Three jobs, all pure functions (no clock, no randomness, no browser; time and randomness are
//! parameters, so this module runs unchanged natively and in wasm32):
//!
//! * **Site side** — [`build_user_data`] / [`array2data`] compute the `user_data` string exactly
//!   like the PHP helper `uchat_array2data` from the room's secret token (§4.3).
//! * **Browser side** — [`UserData::parse`] reads a `user_data` string exactly like uchat.js
//!   `dataParse` (§4.4).
//! * **The join** — [`join_line`] builds the 16-field `j` line a browser sends (§4.2,
//!   DECISIONS.md "Joining" 2) through [`JoinRequest`]; [`random_session`] draws the
//!   32-character session.
//!
//! The token is a secret: it is only ever an input of the md5 and never appears in `user_data`,
//! in the `j` line or in any `Debug`/`Display` output of this module.

use crate::codec::Line;
use crate::message::JoinRequest;
use std::cmp::Ordering;
use std::fmt;

/// Length of the client session sent in field 10 of `j` (PROTOCOL.md §4.2).
pub const SESSION_LEN: usize = 32;

/// The alphabet uchat.js `randomString` draws the session from (PROTOCOL.md §4.2 field 10):
/// `0-9`, `A-X`, `T` (again), `Z`, `a-i`, `k-z` — no `Y`, no `j`, 61 characters.
pub const SESSION_ALPHABET: &[u8; 61] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXTZabcdefghiklmnopqrstuvwxyz";

/// Field 11 of `j`: the document charset, always `utf-8` for the SDK (PROTOCOL.md §4.2).
pub const CHARSET: &str = "utf-8";

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a percent-escape could not be decoded (JavaScript would throw `URIError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PercentProblem {
    /// `%` is not followed by two more characters.
    Truncated,
    /// `%` is followed by something other than two hex digits.
    NotHex,
    /// The escaped bytes are not valid UTF-8 (bad lead byte, missing continuation byte,
    /// overlong form, surrogate or beyond U+10FFFF).
    InvalidUtf8,
}

impl fmt::Display for PercentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PercentProblem::Truncated => "'%' needs two hex digits after it",
            PercentProblem::NotHex => "'%' is not followed by two hex digits",
            PercentProblem::InvalidUtf8 => "the %XX bytes are not valid UTF-8",
        })
    }
}

/// What went wrong while building or reading a join token or join line. Every message names
/// the field and says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The room token is `''` or `'0'` (PHP's `array_filter` would drop it and the helper breaks).
    EmptyToken,
    /// The room id is empty.
    EmptyRoom,
    /// [`decode_uri_component`] failed at byte `at` of its input.
    Percent {
        /// Byte offset of the offending `%`.
        at: usize,
        /// What was wrong there.
        problem: PercentProblem,
    },
    /// A `user_data` value has a bad percent-escape; the browser's `dataParse` throws here and
    /// never joins.
    UserDataValue {
        /// 0-based index of the `|`-separated part.
        part: usize,
        /// The key of that part.
        key: String,
        /// Byte offset of the offending `%` inside the value.
        at: usize,
        /// What was wrong there.
        problem: PercentProblem,
    },
    /// The session is not 32 characters of [`SESSION_ALPHABET`].
    BadSession {
        /// Its length in characters.
        len: usize,
        /// The first character outside the alphabet and its character index, if any.
        invalid: Option<(usize, char)>,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::EmptyToken => f.write_str(
                "token: the room token is empty (or \"0\", which PHP's array_filter drops); \
                 copy the token from the member-integration page of the UChat admin",
            ),
            TokenError::EmptyRoom => f.write_str(
                "room: the room id is empty; pass the id of the room as shown in the UChat admin",
            ),
            TokenError::Percent { at, problem } => write!(
                f,
                "invalid percent-encoding at byte {at}: {problem} \
                 (JavaScript's decodeURIComponent throws URIError here)"
            ),
            TokenError::UserDataValue {
                part,
                key,
                at,
                problem,
            } => write!(
                f,
                "user_data part {part} (key {}): invalid percent-encoding at byte {at} of \
                 the value: {problem}; a browser cannot join with this user_data either — \
                 regenerate it with PHP urlencode (uchat_array2data)",
                crate::codec::Quoted('"', key)
            ),
            TokenError::BadSession { len, invalid } => {
                write!(
                    f,
                    "session: expected {SESSION_LEN} characters from 0-9 A-X Z a-i k-z (as \
                     uchat.js draws them), got {len} characters"
                )?;
                if let Some((i, c)) = invalid {
                    write!(
                        f,
                        " with {} at character {i} outside that alphabet",
                        crate::codec::Quoted('\'', c.encode_utf8(&mut [0; 4]))
                    )?;
                }
                f.write_str("; omit the session to get a random one")
            }
        }
    }
}

impl std::error::Error for TokenError {}

// ---------------------------------------------------------------------------------------------
// Percent encoding

/// PHP `urlencode` (PROTOCOL.md §4.3 step 6): bytes `A-Z a-z 0-9 - _ .` are kept, space becomes
/// `+`, every other byte `%XX` with upper-case hex (so `~` is `%7E`).
pub fn php_urlencode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}

/// JavaScript `decodeURIComponent` (PROTOCOL.md §4.4): every `%XX` sequence is decoded as UTF-8
/// (all characters, reserved ones included); `+` stays `+`. A truncated or non-hex escape, or
/// escaped bytes that are not one valid UTF-8 character, is an error (JS throws `URIError`).
pub fn decode_uri_component(s: &str) -> Result<String, TokenError> {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let start = i;
        let err = |problem| TokenError::Percent { at: start, problem };
        let lead = percent_byte(bytes, i).map_err(err)?;
        i += 3;
        // Number of bytes of the UTF-8 sequence announced by the lead byte (JS: leading 1 bits;
        // exactly one or more than four is an error).
        let n = match lead.leading_ones() {
            0 => 1,
            n @ 2..=4 => n as usize,
            _ => return Err(err(PercentProblem::InvalidUtf8)),
        };
        let mut seq = [lead, 0, 0, 0];
        for slot in seq.iter_mut().take(n).skip(1) {
            if bytes.get(i) != Some(&b'%') {
                return Err(err(PercentProblem::InvalidUtf8));
            }
            let b = percent_byte(bytes, i).map_err(err)?;
            if b & 0xC0 != 0x80 {
                return Err(err(PercentProblem::InvalidUtf8));
            }
            *slot = b;
            i += 3;
        }
        // Rejects overlong forms, surrogates and code points above U+10FFFF, as JS does.
        let ch = std::str::from_utf8(&seq[..n]).map_err(|_| err(PercentProblem::InvalidUtf8))?;
        out.extend_from_slice(ch.as_bytes());
    }
    // Only whole characters were appended to a copy of valid UTF-8, so this cannot fail; map the
    // impossible case to an error instead of panicking anyway.
    String::from_utf8(out).map_err(|_| TokenError::Percent {
        at: 0,
        problem: PercentProblem::InvalidUtf8,
    })
}

/// The byte of the `%XX` escape starting at `bytes[i] == b'%'`.
fn percent_byte(bytes: &[u8], i: usize) -> Result<u8, PercentProblem> {
    let hi = *bytes.get(i + 1).ok_or(PercentProblem::Truncated)?;
    let lo = *bytes.get(i + 2).ok_or(PercentProblem::Truncated)?;
    let hex = |c: u8| (c as char).to_digit(16).ok_or(PercentProblem::NotHex);
    Ok((hex(hi)? << 4 | hex(lo)?) as u8)
}

// ---------------------------------------------------------------------------------------------
// Site side: PHP uchat_array2data

/// The member fields a site passes to `uchat_array2data` besides `room` and `token`
/// (PROTOCOL.md §4.3). `None` means "not set" (PHP: key absent); `Some("")` and `Some("0")` are
/// dropped by PHP's `array_filter` exactly like `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFields {
    /// Nickname shown in the room.
    pub nick: Option<String>,
    /// Site member id.
    pub id: Option<String>,
    /// Site member level (PHP often passes an int; give its decimal text).
    pub level: Option<String>,
    /// `admin`, `subadmin`, `member`, `guest`, or unset for "automatic" (§4.6).
    pub auth: Option<String>,
    /// Icon URL.
    pub icons: Option<String>,
    /// Nick-image URL.
    pub nickcon: Option<String>,
    /// Free text.
    pub other: Option<String>,
    /// Profile image URL (read by uchat.js, not in the published snippets; PHP would hash it).
    pub profileimg: Option<String>,
}

impl UserFields {
    /// The set fields as `(key, value)` pairs, in the order of the published install snippets.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("nick", &self.nick),
            ("id", &self.id),
            ("level", &self.level),
            ("auth", &self.auth),
            ("icons", &self.icons),
            ("nickcon", &self.nickcon),
            ("other", &self.other),
            ("profileimg", &self.profileimg),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// The roles `auth` may ask for at a join: the list in the PHP helper's install snippets
/// (PROTOCOL.md §4.3, §4.6), in order of rank (`admin` highest).
pub const AUTH_ROLES: [&str; 4] = ["admin", "subadmin", "member", "guest"];

/// Whether `auth` is a value a site should put in [`UserFields::auth`]: one of [`AUTH_ROLES`],
/// or `''` (unset: PHP's `array_filter` drops it and the server decides, "automatic").
///
/// [`build_user_data`] hashes any value, as PHP does; check with this first, because a typo
/// (`'moderator'`, `'Admin'`) is still signed and joins as a plain member, which shows only when
/// a moderation command is refused.
pub fn is_valid_auth(auth: &str) -> bool {
    // `matches!` rather than a search of AUTH_ROLES: the code the wasm had before this function
    // (docs/DESIGN.md "Size"); the tests keep the two lists equal.
    matches!(auth, "admin" | "subadmin" | "member" | "guest" | "")
}

/// The result of [`array2data`]: the `user_data` string plus the md5 input and hash (for tests
/// and debugging). `Debug` hides `md5_input`, which contains the room token.
#[derive(Clone, PartialEq, Eq)]
pub struct BuiltUserData {
    /// `key urlencode(value)|…|hash <md5>` — what the PHP helper returns.
    pub user_data: String,
    /// The exact string that was hashed: the kept values in sorted key order joined by the token.
    /// **Contains the room token** — never log it.
    pub md5_input: String,
    /// Lowercase hex md5 of `md5_input`.
    pub hash: String,
}

impl fmt::Debug for BuiltUserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltUserData")
            .field("user_data", &self.user_data)
            .field("md5_input", &"<contains the room token>")
            .field("hash", &self.hash)
            .finish()
    }
}

impl BuiltUserData {
    /// What a browser reads from this `user_data` ([`UserData::parse`]); note that spaces come
    /// back as `+` (PROTOCOL.md §4.7-1).
    pub fn parse(&self) -> Result<UserData, TokenError> {
        UserData::parse(&self.user_data)
    }
}

/// `uchat_array2data` for the typed fields: the array is `room`, `token` and the set
/// [`UserFields`], then `time` (PROTOCOL.md §4.3). `time` is the site clock in unix seconds.
pub fn build_user_data(
    room: &str,
    token: &str,
    time: i64,
    fields: &UserFields,
) -> Result<BuiltUserData, TokenError> {
    if room.is_empty() {
        return Err(TokenError::EmptyRoom);
    }
    let mut pairs = vec![("room", room)];
    pairs.extend(fields.pairs());
    array2data(pairs, token, time)
}

/// PHP `uchat_array2data` exactly (PROTOCOL.md §4.3), for any keys:
///
/// ```php
/// $arr['time'] = time();  ksort($arr);  $arr = array_filter($arr);
/// $arr['hash'] = md5(implode($arr['token'], $arr));  unset($arr['token']);
/// foreach ($arr as $k => &$v){ $v = $k.' '.urlencode($v); }  return implode("|", $arr);
/// ```
///
/// `pairs` are the array assignments in order (a repeated key overwrites the earlier value in
/// place, as in PHP); then `token` is assigned to key `token` and `time` to key `time`, so a
/// `time` or `token` in `pairs` is overwritten. Values are PHP strings (pass ints as decimal
/// text: for ints and strings `array_filter` and `implode` behave the same). Keys are ordered as
/// PHP 8's `ksort` does: byte-wise, except that two numeric keys compare as numbers. A `hash`
/// key given in `pairs` is hashed like any value and then overwritten in place, as in PHP.
pub fn array2data<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    token: &str,
    time: i64,
) -> Result<BuiltUserData, TokenError> {
    if token.is_empty() || token == "0" {
        return Err(TokenError::EmptyToken);
    }
    let time = time.to_string();
    let mut arr: Vec<(&str, &str)> = Vec::new();
    for (k, v) in pairs {
        set_key(&mut arr, k, v);
    }
    set_key(&mut arr, "token", token);
    set_key(&mut arr, "time", &time);
    php_ksort(&mut arr);
    arr.retain(|(_, v)| !v.is_empty() && *v != "0");

    // Joined by hand here and below: `[T]::join` is a sizeable generic in the wasm
    // (docs/DESIGN.md "Size").
    let mut md5_input = String::new();
    for (i, (_, v)) in arr.iter().enumerate() {
        if i > 0 {
            md5_input.push_str(token);
        }
        md5_input.push_str(v);
    }
    let hash = crate::codec::hex_encode(&md5(md5_input.as_bytes()));

    let mut out = arr;
    set_key(&mut out, "hash", &hash);
    out.retain(|(k, _)| *k != "token");
    let mut user_data = String::new();
    for (i, (k, v)) in out.iter().enumerate() {
        if i > 0 {
            user_data.push('|');
        }
        user_data.push_str(k);
        user_data.push(' ');
        user_data.push_str(&php_urlencode(v));
    }
    Ok(BuiltUserData {
        user_data,
        md5_input,
        hash,
    })
}

/// MD5 (RFC 1321) of `data`, as PHP's `md5` computes it before hex. A loop over the 64 steps
/// rather than the `md5` crate's unrolled rounds: the join path runs once per connect, and the
/// loop is a fraction of the size in the wasm (docs/DESIGN.md "Size").
fn md5(data: &[u8]) -> [u8; 16] {
    // Per-step left rotations, and K[i] = floor(abs(sin(i + 1)) * 2^32).
    const S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];
    let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    // Padding: 0x80, zeros to 56 mod 64, then the bit length (little-endian u64).
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    for block in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(K[i])
                .wrapping_add(m[g])
                .rotate_left(S[i / 16 * 4 + i % 4]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        for (s, x) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(x);
        }
    }
    let mut out = [0u8; 16];
    for (o, s) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&s.to_le_bytes());
    }
    out
}

/// `$arr[key] = value`: overwrite in place or append.
fn set_key<'a>(arr: &mut Vec<(&'a str, &'a str)>, key: &'a str, value: &'a str) {
    match arr.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => arr.push((key, value)),
    }
}

/// Stable insertion sort by [`php_key_cmp`] (PHP's `zend_sort` uses insertion sort for small
/// arrays). Unlike `slice::sort_by` it cannot panic when the mixed numeric/byte-wise comparison is
/// not a total order (keys such as `9`, `10`, `1a`).
fn php_ksort(arr: &mut [(&str, &str)]) {
    for i in 1..arr.len() {
        let mut j = i;
        while j > 0 && php_key_cmp(arr[j - 1].0, arr[j].0) == Ordering::Greater {
            arr.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// PHP 8 `ksort` (SORT_REGULAR) key order: two numeric keys compare as numbers, anything else
/// byte-wise (`zendi_smart_strcmp`; an integer key compares like its decimal text).
fn php_key_cmp(a: &str, b: &str) -> Ordering {
    match (php_numeric(a), php_numeric(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// The value of a PHP 8 numeric string (`is_numeric`): optional surrounding whitespace, optional
/// sign, decimal digits with an optional fraction, optional exponent. `None` otherwise.
fn php_numeric(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'));
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        // `get`: a str slice that can panic pulls core's boundary panic message into the wasm.
        Some(p) => (body.get(..p)?, Some(body.get(p + 1..)?)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok {
        crate::codec::parse_decimal(t)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Browser side: uchat.js dataParse

/// A `user_data` string as the browser reads it (uchat.js `dataParse`, PROTOCOL.md §4.4).
///
/// The reference function (uchat.js, public copy in `genie0901/genie0901.github.io`) is:
///
/// ```js
/// function dataParse( data ) {
///     if(!data) return {};
///     var result = {};
///     if(typeof data === 'string') {
///         var arr = data.split('|');
///         for(var i=0; i<arr.length; i++) {
///             var temp = arr[i].split(' ');
///             result[temp.shift()] = decodeURIComponent(temp.join(' '));
///         }
///     } ...
///     return result;
/// }
/// ```
///
/// What that means at the edges, mirrored here:
/// * `""` gives no entries;
/// * a part is split at its **first** space; further spaces stay in the value;
/// * a part without a space (including an empty part, e.g. from `a 1||b 2` or a trailing `|`)
///   is a key with the value `''` — the empty part gives the key `''`;
/// * a repeated key overwrites the earlier value but keeps the earlier position;
/// * the key `__proto__` is ignored (assigning a string to it does nothing in JS);
/// * keys that are array indices (`0`, `1`, … below 2^32−1) come first in ascending order when
///   iterating, as JS orders object properties;
/// * `decodeURIComponent` does not turn `+` into a space; a bad `%` escape throws, so the whole
///   parse fails ([`TokenError::UserDataValue`]) and the browser never joins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserData {
    entries: Vec<(String, String)>,
}

impl UserData {
    /// Parse like uchat.js `dataParse` (see the type documentation for the edge cases).
    pub fn parse(s: &str) -> Result<UserData, TokenError> {
        let mut ud = UserData::default();
        if s.is_empty() {
            return Ok(ud);
        }
        for (part_index, part) in s.split('|').enumerate() {
            let (key, raw) = part.split_once(' ').unwrap_or((part, ""));
            let value = decode_uri_component(raw).map_err(|e| match e {
                TokenError::Percent { at, problem } => TokenError::UserDataValue {
                    part: part_index,
                    key: key.to_owned(),
                    at,
                    problem,
                },
                other => other,
            })?;
            ud.insert(key, value);
        }
        Ok(ud)
    }

    /// The join data of a guest without `user_data`: `{nick: nick or ''}` (PROTOCOL.md §4.1
    /// step 2; the server may assign a guest nick).
    pub fn guest(nick: Option<&str>) -> UserData {
        let mut ud = UserData::default();
        ud.insert("nick", nick.unwrap_or(""));
        ud
    }

    /// JS `result[key] = value`: overwrite in place or add; `__proto__` is ignored.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        if key == "__proto__" {
            return;
        }
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => {
                // JS property order: array-index keys first, ascending; then insertion order.
                let pos = match array_index(&key) {
                    Some(n) => self
                        .entries
                        .iter()
                        .position(|(k, _)| array_index(k).is_none_or(|m| m > n))
                        .unwrap_or(self.entries.len()),
                    None => self.entries.len(),
                };
                self.entries.insert(pos, (key, value));
            }
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All entries in JS property order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A JS array-index property name: canonical decimal below 2^32 − 1.
fn array_index(key: &str) -> Option<u32> {
    let n: u32 = key.parse().ok()?;
    (n != u32::MAX && n.to_string() == key).then_some(n)
}

// ---------------------------------------------------------------------------------------------
// The join line

/// Draw a session like uchat.js `randomString(32)` (PROTOCOL.md §4.2 field 10): each character
/// is `SESSION_ALPHABET[floor(r / 2^32 * 61)]` for the next `rand()` value `r` — the same
/// mapping as `Math.floor(Math.random() * chars.length)`.
pub fn random_session(mut rand: impl FnMut() -> u32) -> String {
    (0..SESSION_LEN)
        .map(|_| {
            let r = u64::from(rand());
            SESSION_ALPHABET[((r * SESSION_ALPHABET.len() as u64) >> 32) as usize] as char
        })
        .collect()
}

/// Check that `session` is what a browser would send: 32 characters of [`SESSION_ALPHABET`].
pub fn check_session(session: &str) -> Result<(), TokenError> {
    let len = session.chars().count();
    let invalid = session
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii() || !SESSION_ALPHABET.contains(&(*c as u8)));
    if len == SESSION_LEN && invalid.is_none() {
        Ok(())
    } else {
        Err(TokenError::BadSession { len, invalid })
    }
}

/// The join request a browser makes for `user` (uchat.js `goJoin`, PROTOCOL.md §4.2,
/// DECISIONS.md "Joining" 2):
///
/// `j | room | nick | id | level | auth | icons | nickcon | other | hash | session | "utf-8" |
/// time | password | undefined (client_token) | profileimg`
///
/// `room` is the caller's room id (a `room` entry of `user` is not sent). Each user value is a
/// string when present in `user` and undefined (type 6) when absent, except `auth`, which is
/// always a string (`''` when absent or empty, as JS `data.auth || ''`). `password` is the room
/// access password (error 701), undefined when `None`. The session must pass
/// [`check_session`]; the room must not be empty.
pub fn join_request(
    room: &str,
    user: &UserData,
    session: &str,
    password: Option<&str>,
) -> Result<JoinRequest, TokenError> {
    if room.is_empty() {
        return Err(TokenError::EmptyRoom);
    }
    check_session(session)?;
    let get = |k: &str| user.get(k).map(str::to_owned);
    Ok(JoinRequest {
        room: room.to_owned(),
        nick: get("nick"),
        id: get("id"),
        level: get("level"),
        auth: user.get("auth").unwrap_or("").to_owned(),
        icons: get("icons"),
        nickcon: get("nickcon"),
        other: get("other"),
        hash: get("hash"),
        session: session.to_owned(),
        charset: CHARSET.to_owned(),
        time: get("time"),
        password: password.map(str::to_owned),
        client_token: None,
        profileimg: get("profileimg"),
    })
}

/// The 16-field `j` line of [`join_request`] (`JoinRequest::to_line`).
pub fn join_line(
    room: &str,
    user: &UserData,
    session: &str,
    password: Option<&str>,
) -> Result<Line, TokenError> {
    join_request(room, user, session, password).map(|j| j.to_line())
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use crate::codec::{encode, hex_decode, hex_encode, Field};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const SESSION: &str = "0123456789abcdefghiklmnopqrstuvw";

    #[test]
    fn md5_matches_rfc1321_and_the_md5_crate() {
        // RFC 1321 appendix A.5.
        for (input, hex) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(hex_encode(&md5(input.as_bytes())), hex, "{input}");
        }
        // Every length around the padding boundaries (55, 56, 63, 64, 119, 120 …).
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                md5(&data[..len]),
                md5::compute(&data[..len]).0,
                "length {len}"
            );
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> UserFields {
        let mut f = UserFields::default();
        for &(k, v) in pairs {
            let v = Some(v.to_owned());
            match k {
                "nick" => f.nick = v,
                "id" => f.id = v,
                "level" => f.level = v,
                "auth" => f.auth = v,
                "icons" => f.icons = v,
                "nickcon" => f.nickcon = v,
                "other" => f.other = v,
                "profileimg" => f.profileimg = v,
                _ => panic!("unknown field {k}"),
            }
        }
        f
    }

    #[test]
    fn urlencode_like_php() {
        assert_eq!(php_urlencode("aZ09-_."), "aZ09-_.");
        assert_eq!(php_urlencode("a b"), "a+b");
        assert_eq!(php_urlencode("~"), "%7E");
        assert_eq!(php_urlencode("a|b+c/d"), "a%7Cb%2Bc%2Fd");
        assert_eq!(php_urlencode("탁"), "%ED%83%81");
        assert_eq!(php_urlencode("*'()!"), "%2A%27%28%29%21");
    }

    #[test]
    fn decode_uri_component_like_js() {
        assert_eq!(decode_uri_component("a+b").unwrap(), "a+b");
        assert_eq!(decode_uri_component("%7e%7E%2F%25").unwrap(), "~~/%");
        assert_eq!(decode_uri_component("%ED%83%81x").unwrap(), "탁x");
        assert_eq!(decode_uri_component("탁").unwrap(), "탁");
        assert_eq!(decode_uri_component("%F0%9F%98%80").unwrap(), "😀");
        let e = |s| decode_uri_component(s).unwrap_err();
        use PercentProblem::*;
        assert_eq!(
            e("ab%"),
            TokenError::Percent {
                at: 2,
                problem: Truncated
            }
        );
        assert_eq!(
            e("%4"),
            TokenError::Percent {
                at: 0,
                problem: Truncated
            }
        );
        assert_eq!(
            e("x%zz"),
            TokenError::Percent {
                at: 1,
                problem: NotHex
            }
        );
        assert_eq!(
            e("%FF"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        assert_eq!(
            e("%80"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        assert_eq!(
            e("%ED%83"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        assert_eq!(
            e("%ED%83x"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        assert_eq!(
            e("%ED%41%81"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        // Overlong '/' and a UTF-16 surrogate are rejected like JS does.
        assert_eq!(
            e("%C0%AF"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        assert_eq!(
            e("%ED%A0%80"),
            TokenError::Percent {
                at: 0,
                problem: InvalidUtf8
            }
        );
        assert!(e("%zz").to_string().contains("URIError"));
    }

    #[test]
    fn t1_typical_member() {
        let b = build_user_data(
            "myroom",
            "abcdef0123456789abcdef0123456789",
            1_600_000_000,
            &fields(&[
                ("nick", "tester"),
                ("id", "tester01"),
                ("level", "5"),
                ("auth", "member"),
                ("icons", ""),
                ("nickcon", ""),
                ("other", ""),
            ]),
        )
        .unwrap();
        assert_eq!(b.hash, "e7d6829a83f989f8bb1cbdd090952f69");
        assert_eq!(
            b.user_data,
            "auth member|id tester01|level 5|nick tester|room myroom|time 1600000000|hash \
             e7d6829a83f989f8bb1cbdd090952f69"
        );
        // The token never shows in Debug output.
        assert!(!format!("{b:?}").contains("abcdef0123456789"));
    }

    #[test]
    fn filter_drops_only_empty_and_zero() {
        let b = array2data(
            [
                ("a", ""),
                ("b", "0"),
                ("c", " "),
                ("d", "0.0"),
                ("e", "00"),
                ("f", "false"),
            ],
            "T",
            5,
        )
        .unwrap();
        assert_eq!(b.md5_input, " T0.0T00TfalseT5TT");
        assert_eq!(
            b.user_data,
            format!("c +|d 0.0|e 00|f false|time 5|hash {}", b.hash)
        );
    }

    #[test]
    fn level_zero_dropped_t3() {
        let b = build_user_data(
            "r1",
            "T0k3n",
            1_700_000_000,
            &fields(&[
                ("nick", "Admin"),
                ("id", "admin"),
                ("level", "0"),
                ("auth", "admin"),
                ("icons", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            b.md5_input,
            "adminT0k3nadminT0k3nAdminT0k3nr1T0k3n1700000000T0k3nT0k3n"
        );
        assert_eq!(b.hash, "02728bfd5617b144e35d20c96641c0e0");
        let ud = b.parse().unwrap();
        assert_eq!(ud.get("level"), None);
        let line = join_line("r1", &ud, SESSION, None).unwrap();
        assert_eq!(line.fields[3], Field::Undef, "absent level is undefined");
    }

    #[test]
    fn int_level_korean_nick_and_tilde_t4() {
        let b = build_user_data(
            "che_in",
            "secret-token",
            1_609_459_200,
            &fields(&[
                ("nick", "탁월한지도자"),
                ("id", "user1"),
                ("level", &10.to_string()),
                ("auth", "subadmin"),
                ("icons", "http://example.com/~u/8.gif"),
                ("nickcon", ""),
            ]),
        )
        .unwrap();
        assert_eq!(b.hash, "f99f83efcf48702eb319b717995c3796");
        assert!(b
            .user_data
            .contains("icons http%3A%2F%2Fexample.com%2F%7Eu%2F8.gif|"));
        assert!(b
            .user_data
            .contains("|nick %ED%83%81%EC%9B%94%ED%95%9C%EC%A7%80%EB%8F%84%EC%9E%90|"));
        assert_eq!(b.parse().unwrap().get("nick"), Some("탁월한지도자"));
    }

    #[test]
    fn spaces_pipe_and_plus_quirk_t5() {
        let b = build_user_data(
            "room",
            "k",
            1_234_567_890,
            &fields(&[("nick", "a b|c"), ("id", "id with space"), ("other", "x y")]),
        )
        .unwrap();
        assert_eq!(b.md5_input, "id with spaceka b|ckx ykroomk1234567890kk");
        assert_eq!(
            b.user_data,
            "id id+with+space|nick a+b%7Cc|other x+y|room room|time 1234567890|hash \
             011d2c381258a56d9704a56abbd869d4"
        );
        // The browser keeps '+' (decodeURIComponent), and '|' survives as %7C.
        let ud = b.parse().unwrap();
        assert_eq!(ud.get("nick"), Some("a+b|c"));
        assert_eq!(ud.get("id"), Some("id+with+space"));
        assert_eq!(ud.get("other"), Some("x+y"));
    }

    #[test]
    fn token_sorts_last_and_glues() {
        // 'token' sorts after 'time'; a key sorting after 'token' puts the token mid-input.
        let b = array2data([("room", "r"), ("zz", "last"), ("aa", "first")], "K", 7).unwrap();
        assert_eq!(b.md5_input, "firstKrK7KKKlast");
        assert!(b
            .user_data
            .starts_with("aa first|room r|time 7|zz last|hash "));
        assert!(!b.user_data.contains('K'));
    }

    #[test]
    fn caller_time_and_token_overwritten() {
        let a = array2data([("room", "r"), ("time", "123"), ("token", "evil")], "K", 9).unwrap();
        let b = array2data([("room", "r")], "K", 9).unwrap();
        assert_eq!(a, b);
        assert!(a.user_data.contains("|time 9|"));
        // Repeated keys: the last value wins.
        let c = array2data([("room", "x"), ("room", "r")], "K", 9).unwrap();
        assert_eq!(c, b);
    }

    #[test]
    fn caller_hash_is_hashed_then_overwritten_in_place() {
        let b = array2data([("room", "r"), ("hash", "h")], "K", 9).unwrap();
        assert_eq!(b.md5_input, "hKrK9KK");
        assert_eq!(b.user_data, format!("hash {}|room r|time 9", b.hash));
    }

    #[test]
    fn profileimg_hashed_when_present() {
        let without = build_user_data("r", "K", 9, &fields(&[("nick", "n")])).unwrap();
        let with = build_user_data(
            "r",
            "K",
            9,
            &fields(&[("nick", "n"), ("profileimg", "http://x/p.png")]),
        )
        .unwrap();
        assert_eq!(without.md5_input, "nKrK9KK");
        assert_eq!(with.md5_input, "nKhttp://x/p.pngKrK9KK");
        assert_ne!(with.hash, without.hash);
        assert!(with
            .user_data
            .contains("|profileimg http%3A%2F%2Fx%2Fp.png|"));
        let line = join_line("r", &with.parse().unwrap(), SESSION, None).unwrap();
        assert_eq!(line.fields[14], Field::from("http://x/p.png"));
    }

    #[test]
    fn numeric_keys_sort_like_php8() {
        let b = array2data([("10", "a"), ("9", "b"), ("1e1", "c"), ("x", "d")], "K", 1).unwrap();
        // 9 < 10 == 1e1 (numerically; equal keys keep insertion order) < time < token < x.
        // Byte-wise order would have been 10, 1e1, 9.
        assert_eq!(b.md5_input, "bKaKcK1KKKd");
        // Keys that no total order fits (9 < 10 numerically, 10 < 1a < 9 byte-wise) must
        // not panic.
        assert!(array2data([("10", "a"), ("9", "b"), ("1a", "c")], "K", 1).is_ok());
    }

    #[test]
    fn empty_token_and_room_rejected() {
        let e = build_user_data("r", "", 1, &UserFields::default()).unwrap_err();
        assert_eq!(e, TokenError::EmptyToken);
        assert!(e.to_string().starts_with("token: "));
        assert_eq!(array2data([], "0", 1).unwrap_err(), TokenError::EmptyToken);
        let e = build_user_data("", "K", 1, &UserFields::default()).unwrap_err();
        assert!(e.to_string().starts_with("room: "));
    }

    #[test]
    fn parse_edges_like_data_parse() {
        assert!(UserData::parse("").unwrap().is_empty());
        let ud = UserData::parse("nick a b|flag||id 1|nick  x|__proto__ p|2 two|1 one").unwrap();
        let all: Vec<_> = ud.iter().collect();
        assert_eq!(
            all,
            vec![
                ("1", "one"),
                ("2", "two"),
                ("nick", " x"),
                ("flag", ""),
                ("", ""),
                ("id", "1"),
            ]
        );
        let e = UserData::parse("nick ok|level 5%|id x").unwrap_err();
        assert_eq!(
            e,
            TokenError::UserDataValue {
                part: 1,
                key: "level".into(),
                at: 1,
                problem: PercentProblem::Truncated
            }
        );
        assert!(e.to_string().contains("key \"level\""));
        assert!(UserData::parse("nick %E0%A4").is_err());
    }

    #[test]
    fn join_line_types_like_go_join() {
        let ud = UserData::parse("nick n|auth|other |hash h").unwrap();
        let line = join_line("room", &ud, SESSION, Some("pw")).unwrap();
        assert_eq!(line.fields.len(), 15, "16 fields with the key");
        assert_eq!(line.fields[1], Field::from("n"));
        assert_eq!(line.fields[2], Field::Undef, "absent id");
        assert_eq!(line.fields[4], Field::from(""), "auth always a string");
        assert_eq!(
            line.fields[7],
            Field::from(""),
            "present but empty stays a string"
        );
        assert_eq!(line.fields[12], Field::from("pw"));
        assert_eq!(line.fields[13], Field::Undef, "client_token");
        // Guest, W-J4 browser form.
        let g = join_line("#bWFpbg==", &UserData::guest(None), SESSION, None).unwrap();
        let want = format!(
            "6a03{}03060603060606060{}03{}060606060a",
            hex_encode(b"#bWFpbg=="),
            "3".to_owned() + &hex_encode(SESSION.as_bytes()),
            hex_encode(b"utf-8"),
        );
        assert_eq!(hex_encode(&encode(&g).unwrap()), want);
    }

    #[test]
    fn w_j1_captured_browser_join() {
        let ud = UserData::parse(
            "nick nickname|id id|level level|auth auth|icons icon|nickcon nickcon|\
             hash 6fe01303583a9e71e6ece678a4f268ef|time 1604136208",
        )
        .unwrap();
        let line = join_line("test1", &ud, "8TkDUyBiousTta7Ko7qwyIMU6fqgTl9l", None).unwrap();
        let want = hex_decode(
            "6a 03 74 65 73 74 31 03 6e 69 63 6b 6e 61 6d 65 03 69 64 03 6c 65 76 65 6c 03 61 75
             74 68 03 69 63 6f 6e 03 6e 69 63 6b 63 6f 6e 06 03 36 66 65 30 31 33 30 33 35 38 33
             61 39 65 37 31 65 36 65 63 65 36 37 38 61 34 66 32 36 38 65 66 03 38 54 6b 44 55 79
             42 69 6f 75 73 54 74 61 37 4b 6f 37 71 77 79 49 4d 55 36 66 71 67 54 6c 39 6c 03 75
             74 66 2d 38 03 31 36 30 34 31 33 36 32 30 38 06 06 06 0a",
        )
        .unwrap();
        assert_eq!(encode(&line).unwrap(), want);
    }

    #[test]
    fn valid_auth_values() {
        assert_eq!(AUTH_ROLES, ["admin", "subadmin", "member", "guest"]);
        for ok in AUTH_ROLES.into_iter().chain([""]) {
            assert!(is_valid_auth(ok), "{ok:?}");
        }
        for bad in ["king", "Admin", "moderator", " member", "0", "3"] {
            assert!(!is_valid_auth(bad), "{bad:?}");
        }
    }

    #[test]
    fn sessions() {
        assert_eq!(SESSION_ALPHABET.len(), 61);
        assert!(!SESSION_ALPHABET.contains(&b'Y') && !SESSION_ALPHABET.contains(&b'j'));
        let mut n = 0u32;
        let s = random_session(|| {
            n = n.wrapping_add(0x0800_0000);
            n
        });
        assert_eq!(s.len(), SESSION_LEN);
        assert!(check_session(&s).is_ok());
        assert_eq!(random_session(|| 0), "0".repeat(32));
        assert_eq!(random_session(|| u32::MAX), "z".repeat(32));
        assert!(check_session(SESSION).is_ok());
        let e = check_session("short").unwrap_err();
        assert_eq!(
            e,
            TokenError::BadSession {
                len: 5,
                invalid: None
            }
        );
        assert!(e.to_string().starts_with("session: expected 32 characters"));
        let e = check_session(&format!("{}j", &SESSION[..31])).unwrap_err();
        assert_eq!(
            e,
            TokenError::BadSession {
                len: 32,
                invalid: Some((31, 'j'))
            }
        );
        assert!(join_line("r", &UserData::default(), "x", None).is_err());
        assert_eq!(
            join_line("", &UserData::default(), SESSION, None),
            Err(TokenError::EmptyRoom)
        );
    }
}
