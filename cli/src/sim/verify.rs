//! Server-side check of the member-integration hash (PROTOCOL.md §4.3, §4.5).
//!
//! The site's PHP helper `uchat_array2data` hashes `md5(implode(token, values))` over the
//! byte-wise sorted keys, with PHP's `array_filter` dropping `''` and `'0'`, `time` included and
//! the token itself last. The sim recomputes that over the values received in `j` plus the room
//! id and its stored token.

use uchat_bot::token::array2data;

/// The `j` values that take part in the hash (PROTOCOL.md §4.2 field numbers in brackets).
#[derive(Debug, Clone, Default)]
pub struct HashInput<'a> {
    /// `room` — field 1.
    pub room: &'a str,
    /// `nick` — field 2.
    pub nick: Option<&'a str>,
    /// `id` — field 3.
    pub id: Option<&'a str>,
    /// `level` — field 4.
    pub level: Option<&'a str>,
    /// `auth` — field 5.
    pub auth: Option<&'a str>,
    /// `icons` — field 6.
    pub icons: Option<&'a str>,
    /// `nickcon` — field 7.
    pub nickcon: Option<&'a str>,
    /// `other` — field 8.
    pub other: Option<&'a str>,
    /// `time` — field 12.
    pub time: Option<&'a str>,
    /// `profileimg` — field 15 (PHP hashes every key present, so it is included when sent;
    /// PROTOCOL.md §4.7-2).
    pub profileimg: Option<&'a str>,
}

/// md5 hex the site's PHP helper would have produced for these values and `token`
/// (PROTOCOL.md §4.3), computed by [`uchat_bot::token::array2data`]. `None` when the time is not
/// an integer or the token is empty.
pub fn php_hash(input: &HashInput<'_>, token: &str) -> Option<String> {
    let time: i64 = input.time?.trim().parse().ok()?;
    let pairs = [
        ("room", Some(input.room)),
        ("nick", input.nick),
        ("id", input.id),
        ("level", input.level),
        ("auth", input.auth),
        ("icons", input.icons),
        ("nickcon", input.nickcon),
        ("other", input.other),
        ("profileimg", input.profileimg),
    ];
    let pairs = pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)));
    array2data(pairs, token, time).ok().map(|b| b.hash)
}

/// Whether `hash` matches the values. Values containing `+` are also tried with `+` read as a
/// space: PHP `urlencode` turns spaces into `+` and the browser's `decodeURIComponent` keeps
/// them, so a site's value `a b` arrives as `a+b` (PROTOCOL.md §4.7-1); the real server's
/// handling is unknown, the sim accepts both readings.
pub fn hash_matches(input: &HashInput<'_>, token: &str, hash: &str) -> bool {
    let hash = hash.trim().to_ascii_lowercase();
    if php_hash(input, token).as_deref() == Some(hash.as_str()) {
        return true;
    }
    let values = [
        input.nick,
        input.id,
        input.level,
        input.auth,
        input.icons,
        input.nickcon,
        input.other,
        input.profileimg,
    ];
    // `+` → space changes nothing unless some value has a `+`.
    if !values.iter().flatten().any(|v| v.contains('+')) {
        return false;
    }
    let spaced: Vec<Option<String>> = values
        .iter()
        .map(|v| v.map(|s| s.replace('+', " ")))
        .collect();
    let alt = HashInput {
        room: input.room,
        nick: spaced[0].as_deref(),
        id: spaced[1].as_deref(),
        level: spaced[2].as_deref(),
        auth: spaced[3].as_deref(),
        icons: spaced[4].as_deref(),
        nickcon: spaced[5].as_deref(),
        other: spaced[6].as_deref(),
        time: input.time,
        profileimg: spaced[7].as_deref(),
    };
    php_hash(&alt, token).as_deref() == Some(hash.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    // PROTOCOL.md §5.1 vectors.
    #[test]
    fn t1_member() {
        let i = HashInput {
            room: "myroom",
            nick: Some("tester"),
            id: Some("tester01"),
            level: Some("5"),
            auth: Some("member"),
            icons: Some(""),
            time: Some("1600000000"),
            ..HashInput::default()
        };
        assert_eq!(
            php_hash(&i, "abcdef0123456789abcdef0123456789").unwrap(),
            "e7d6829a83f989f8bb1cbdd090952f69"
        );
        // No `+` in any value: no second reading to try.
        let token = "abcdef0123456789abcdef0123456789";
        assert!(hash_matches(&i, token, "E7D6829A83F989F8BB1CBDD090952F69"));
        assert!(!hash_matches(&i, token, "e7d6829a83f989f8bb1cbdd090952f68"));
    }

    #[test]
    fn t2_room_only() {
        let i = HashInput {
            room: "lobby",
            time: Some("1604136208"),
            auth: Some(""),
            ..HashInput::default()
        };
        assert_eq!(
            php_hash(&i, "tok").unwrap(),
            "f6022d64bc2819d99a71357edf5a318d"
        );
    }

    #[test]
    fn t3_level_zero_dropped() {
        let i = HashInput {
            room: "r1",
            nick: Some("Admin"),
            id: Some("admin"),
            level: Some("0"),
            auth: Some("admin"),
            time: Some("1700000000"),
            ..HashInput::default()
        };
        assert_eq!(
            php_hash(&i, "T0k3n").unwrap(),
            "02728bfd5617b144e35d20c96641c0e0"
        );
    }

    #[test]
    fn t5_plus_for_space_accepted() {
        // The browser forwards `a+b|c`, `id+with+space`, `x+y`; PHP hashed the spaces.
        let i = HashInput {
            room: "room",
            nick: Some("a+b|c"),
            id: Some("id+with+space"),
            other: Some("x+y"),
            time: Some("1234567890"),
            ..HashInput::default()
        };
        assert!(hash_matches(&i, "k", "011d2c381258a56d9704a56abbd869d4"));
        assert!(!hash_matches(&i, "k", "011d2c381258a56d9704a56abbd869d5"));
    }
}
