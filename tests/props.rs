//! Property tests of the UChat 2 codec (PROTOCOL.md §2, DECISIONS.md "Decoding"/"Encoding")
//! and of the join token (PROTOCOL.md §4).
//!
//! * decoding arbitrary bytes never panics, and what comes out (lines, errors, raw rest) does not
//!   depend on how the bytes are cut into chunks, whatever the line limit;
//! * encode → decode round-trips any line (up to [`Line::canonical`]);
//! * a stream of encoded lines split at every boundary, or at random cuts, decodes to the same
//!   lines with nothing left over; concatenated encodings decode like the separate ones;
//! * decode ∘ encode ∘ decode = decode for any input that decodes;
//! * an over-long line is exactly one `LineTooLong` error and the next line still decodes;
//! * the join token: any `user_data` text parses without a panic, `user_data` built from any
//!   fields reads back to them (spaces as `+`), `decodeURIComponent ∘ urlencode` changes only
//!   spaces, and the hash is the `md5` crate's (module `token`).
//!
//! Floats are compared NaN-aware (NaN equals NaN; `-0.0` equals `0.0` because both are sent as
//! `0`, PROTOCOL.md §2.3 type 7). Native only: proptest does not run in the browser suite.
#![cfg(not(target_arch = "wasm32"))]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use uchat_bot::codec::{encode, DecodeError, DecodeErrorKind, Decoder, Field, Line};

// ---------------------------------------------------------------------------------------------
// NaN-aware comparison

// `results_eq` and `Decoded` are the decoder fuzz check's own.
#[path = "../fuzz/fuzz_targets/decoded.rs"]
mod decoded;
use decoded::{results_eq, Decoded};

fn lines_eq(a: &[Line], b: &[Line]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers

/// Decode `bytes` cut at the (sorted, deduplicated, in-range) `cuts`; returns results and rest.
fn decode_chunked(max_line: Option<usize>, bytes: &[u8], cuts: &[usize]) -> (Decoded, Vec<u8>) {
    let mut d = max_line.map_or_else(Decoder::new, Decoder::with_max_line);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let cut = cut.clamp(start, bytes.len());
        d.feed_with(&bytes[start..cut], |r| out.push(r));
        start = cut;
    }
    (out, d.rest().to_vec())
}

fn decode_whole(bytes: &[u8]) -> (Decoded, Vec<u8>) {
    decode_chunked(None, bytes, &[])
}

/// Decode bytes that must hold only complete, valid lines.
fn decode_ok(bytes: &[u8]) -> Result<Vec<Line>, String> {
    let (out, rest) = decode_whole(bytes);
    if !rest.is_empty() {
        return Err(format!("unexpected rest {rest:02x?}"));
    }
    out.into_iter()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

fn canonical(lines: &[Line]) -> Vec<Line> {
    lines.iter().cloned().map(Line::canonical).collect()
}

fn encode_all(lines: &[Line]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| encode(l).expect("generated lines are encodable"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Bytes that matter to the framing: NUL, 0x01, the type bytes 0x02..=0x07, LF, `\`, `'1'`, `0`.
const SPECIAL: &[u8] = &[
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x5C, b'1', b'0',
];

/// A byte, often one that the framing treats specially.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(SPECIAL),
        2 => any::<u8>(),
    ]
}

/// Arbitrary bytes biased towards framing bytes, up to `max` long.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(byte(), 0..=max)
}

/// A char, often a framing byte or a multi-byte UTF-8 char.
fn chr() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(SPECIAL).prop_map(char::from),
        1 => prop::sample::select(&['é', '안', '녕', '\u{80}', '\u{7FF}', '\u{FFFF}', '😀'][..]),
        2 => any::<char>(),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    vec(chr(), 0..=max).prop_map(|cs| cs.into_iter().collect())
}

/// Bytes with framing bytes few and far between, up to `max` long: plain runs of a whole
/// chunk of the decoder's scans (crate::scan, 8 or 16 bytes) and more between them.
fn sparse_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![1 => byte(), 12 => 0x08u8..], 0..=max)
}

/// Text with framing bytes few and far between (see [`sparse_bytes`]).
fn sparse_text(max: usize) -> impl Strategy<Value = String> {
    let plain = prop_oneof![
        6 => prop::char::range(' ', '~'),
        1 => prop::sample::select(&['é', '안', '녕', '😀'][..]),
    ];
    vec(prop_oneof![1 => chr(), 12 => plain], 0..=max).prop_map(|cs| cs.into_iter().collect())
}

/// A key the encoder accepts: non-empty, not starting with NUL.
fn key() -> impl Strategy<Value = String> {
    text(8).prop_filter("non-empty, no leading NUL", |k| {
        k.as_bytes().first().is_some_and(|&b| b != 0)
    })
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        // Little-endian bytes of every width, made of framing bytes (escaped on the wire).
        (vec(byte(), 0..=8), any::<bool>()).prop_map(|(b, neg)| {
            let mut buf = [0u8; 8];
            buf[..b.len()].copy_from_slice(&b);
            let n = i64::from_le_bytes(buf);
            if neg {
                n.wrapping_neg()
            } else {
                n
            }
        }),
        prop::sample::select(
            &[
                0,
                1,
                -1,
                255,
                256,
                0x7FFF_FFFF,
                0x8000_0000,
                0xFFFF_FFFF,
                0x1_0000_0000,
                -0x8000_0000,
                1 << 53,
                (1 << 53) + 1,
                i64::MAX,
                i64::MIN,
                i64::MIN + 1,
            ][..]
        ),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        prop::num::f64::SUBNORMAL | prop::num::f64::POSITIVE | prop::num::f64::NEGATIVE,
        prop::sample::select(
            &[
                0.0,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MIN_POSITIVE,
                5e-324,
                -5e-324,
                f64::MAX,
                f64::MIN,
                f64::EPSILON,
                1e21,
                1e-7,
                0.1,
                -2.25,
                9_007_199_254_740_993.0,
            ][..]
        ),
        // Integral floats (sent as type-7 text, not type 5).
        any::<i32>().prop_map(f64::from),
    ]
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        bytes(12).prop_map(Field::Bin),
        sparse_bytes(64).prop_map(Field::Bin),
        text(12).prop_map(Field::Str),
        sparse_text(64).prop_map(Field::Str),
        any::<bool>().prop_map(Field::Bool),
        int().prop_map(Field::Num),
        float().prop_map(Field::Float),
        Just(Field::Undef),
    ]
}

/// Any encodable line: a valid key and any fields, or an empty key with at least one field.
fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => (key(), vec(field(), 0..6)),
        1 => (Just(String::new()), vec(field(), 1..4)),
    ]
    .prop_map(|(key, fields)| Line { key, fields })
}

/// Sorted cut positions inside `0..=len` for any length (scaled from fractions).
fn cuts() -> impl Strategy<Value = Vec<f64>> {
    vec(0.0..=1.0f64, 0..8)
}

fn scale_cuts(fractions: &[f64], len: usize) -> Vec<usize> {
    let mut c: Vec<usize> = fractions
        .iter()
        .map(|f| ((len as f64) * f).round() as usize)
        .collect();
    c.sort_unstable();
    c
}

/// `cases` per property; `PROPTEST_CASES=N` scales all of them (N / 512 of the given count, at
/// least 1) for a deeper run: `PROPTEST_CASES=50000 cargo test --test props --release`.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(cases, |n| {
            (n * u64::from(cases) / 512).clamp(1, u64::from(u32::MAX)) as u32
        });
    ProptestConfig {
        cases,
        // Failures are turned into regression unit tests by hand; keep the tree clean.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config(512))]

    /// Arbitrary bytes, any chunking, any limit: no panic, same output and rest as one chunk.
    #[test]
    fn arbitrary_bytes_are_chunking_independent(
        input in bytes(200),
        fractions in cuts(),
        max_line in prop_oneof![Just(None), (1usize..24).prop_map(Some)],
    ) {
        let cuts = scale_cuts(&fractions, input.len());
        let (whole, whole_rest) = decode_chunked(max_line, &input, &[]);
        let (chunked, chunked_rest) = decode_chunked(max_line, &input, &cuts);
        prop_assert!(results_eq(&whole, &chunked), "cuts {cuts:?}\n{whole:?}\n{chunked:?}");
        prop_assert_eq!(&whole_rest, &chunked_rest);
        // Byte by byte is the finest chunking of all.
        let every: Vec<usize> = (0..=input.len()).collect();
        let (fine, fine_rest) = decode_chunked(max_line, &input, &every);
        prop_assert!(results_eq(&whole, &fine), "byte by byte\n{whole:?}\n{fine:?}");
        prop_assert_eq!(&whole_rest, &fine_rest);
        // The rest never holds a complete line, and with a limit it is within the limit.
        if let Some(max) = max_line {
            prop_assert!(whole_rest.len() <= max, "rest {} > limit {max}", whole_rest.len());
        }
        for r in &whole {
            if let Err(e) = r {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// encode → decode gives back the line (negative integers come back as floats).
    #[test]
    fn encode_decode_round_trips(line in line()) {
        let bytes = encode(&line).expect("encodable");
        prop_assert_eq!(bytes.last(), Some(&b'\n'));
        let got = decode_ok(&bytes).map_err(TestCaseError::fail)?;
        let want = [line.clone().canonical()];
        prop_assert!(lines_eq(&got, &want), "{line:?} encoded {bytes:02x?}\n got {got:?}");
        // The canonical form is a fixed point of the round trip.
        let again = decode_ok(&encode(&want[0]).expect("encodable")).map_err(TestCaseError::fail)?;
        prop_assert!(lines_eq(&again, &want), "canonical {:?} came back as {:?}", want, again);
    }

    /// Decoding a concatenation equals decoding each encoding separately.
    #[test]
    fn concatenation_decodes_like_the_parts(lines in vec(line(), 0..8)) {
        let mut each = Vec::new();
        for l in &lines {
            each.extend(decode_ok(&encode(l).expect("encodable")).map_err(TestCaseError::fail)?);
        }
        let all = decode_ok(&encode_all(&lines)).map_err(TestCaseError::fail)?;
        prop_assert!(lines_eq(&all, &each));
        prop_assert!(lines_eq(&all, &canonical(&lines)));
    }

    /// Any decoded line re-encodes to bytes that decode to the same (canonical) line.
    #[test]
    fn decode_encode_decode_is_decode(input in bytes(160)) {
        let (out, _) = decode_whole(&input);
        for first in out.into_iter().flatten() {
            let bytes = encode(&first)
                .map_err(|e| TestCaseError::fail(format!("{first:?} does not encode: {e}")))?;
            let again = decode_ok(&bytes).map_err(TestCaseError::fail)?;
            let want = [first.clone().canonical()];
            prop_assert!(lines_eq(&again, &want), "{first:?} -> {bytes:02x?} -> {again:?}");
        }
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// A stream of encoded lines cut at every single boundary, and at random multi-cut chunkings,
    /// decodes to the same lines with an empty rest.
    #[test]
    fn stream_split_anywhere_decodes_the_same(
        lines in vec(line(), 1..5),
        chunkings in vec(cuts(), 4),
    ) {
        let stream = encode_all(&lines);
        let want = canonical(&lines);
        let check = |cuts: &[usize]| -> Result<(), TestCaseError> {
            let (out, rest) = decode_chunked(None, &stream, cuts);
            let got: Vec<Line> = out
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(format!("cuts {cuts:?}: {e}")))?;
            prop_assert!(lines_eq(&got, &want), "cuts {:?}: {:?}", cuts, got);
            prop_assert!(rest.is_empty(), "cuts {:?}: rest {:02x?}", cuts, rest);
            Ok(())
        };
        for cut in 0..=stream.len() {
            check(&[cut])?;
        }
        for fractions in &chunkings {
            check(&scale_cuts(fractions, stream.len()))?;
        }
    }

    /// An over-long line is exactly one `LineTooLong` error (numbered like any line), and the
    /// lines around it still decode, whatever the chunking.
    #[test]
    fn over_long_line_is_one_error(
        before in line(),
        after in line(),
        long_text in text(40),
        extra in 1usize..40,
        fractions in cuts(),
    ) {
        let before_bytes = encode(&before).expect("encodable");
        let after_bytes = encode(&after).expect("encodable");
        // Raw line length excludes the terminating LF.
        let limit = (before_bytes.len().max(after_bytes.len()) - 1).max(1);
        let mut long = Line::new("m").with(long_text);
        while encode(&long).expect("encodable").len() - 1 < limit + extra {
            long.push(Field::Bin(vec![0x5C, 0x0A, b'x']));
        }
        let long_bytes = encode(&long).expect("encodable");
        prop_assert!(long_bytes.len() - 1 > limit);

        let stream = [&before_bytes[..], &long_bytes, &after_bytes].concat();
        let cuts = scale_cuts(&fractions, stream.len());
        let (out, rest) = decode_chunked(Some(limit), &stream, &cuts);
        prop_assert!(rest.is_empty(), "rest {:02x?}", rest);
        prop_assert_eq!(out.len(), 3, "{:?}", out);
        let too_long = out
            .iter()
            .filter(|r| matches!(r, Err(DecodeError { kind: DecodeErrorKind::LineTooLong { .. }, .. })))
            .count();
        prop_assert_eq!(too_long, 1);
        prop_assert_eq!(
            out[1].clone().err(),
            Some(DecodeError { line: 2, field: None, kind: DecodeErrorKind::LineTooLong { limit } })
        );
        match (&out[0], &out[2]) {
            (Ok(b), Ok(a)) => {
                prop_assert!(b.same_as(&before.canonical()), "{b:?}");
                prop_assert!(a.same_as(&after.canonical()), "{a:?}");
            }
            other => prop_assert!(false, "neighbours did not decode: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The session's fast path for `m`/`w` lines (src/session/mod.rs `fast_line`)

mod fast_path {
    use super::*;
    use uchat_bot::message::{Incoming, RoomInfo, RoomMode, UserKey, UserRecord};
    use uchat_bot::session::{CommandOptions, Config, Event, Session};

    const NOW: u64 = 1_700_000_000_000;

    fn record(key: &[u8], nick: &str) -> UserRecord {
        let mut u = UserRecord::unknown(UserKey(key.to_vec()));
        u.nick = nick.into();
        u
    }

    /// A joined session (with a `!ping` command) that queues events; `general` turns on raw
    /// events, which switches the fast path off.
    fn joined(general: bool) -> Session {
        let mut config = Config::new("lobby");
        // Fixed: both paths' sessions hash chat lines alike, and a failure replays (natively
        // `Config::new` draws a random seed).
        config.seed = 0x5eed;
        let mut s = Session::new(config).expect("valid config");
        s.commands_mut()
            .register("ping", CommandOptions::default())
            .expect("valid command");
        s.connect(NOW);
        s.on_open(NOW);
        let join = [
            Incoming::RoomInfo(RoomInfo {
                name: "Lobby".into(),
                mode: RoomMode::Basic,
                created: 1_600_000_000,
                flag_bytes: vec![0],
                server_time: 1_700_000_000,
            }),
            Incoming::User(record(&[1; 8], "me")),
            Incoming::MyKey(UserKey(vec![1; 8])),
            Incoming::User(record(&[2, 0x5C, 3, 0x0A], "bob")),
        ];
        let bytes: Vec<u8> = join
            .iter()
            .flat_map(|m| encode(&Line::from(m)).expect("encodable"))
            .collect();
        s.on_frame(NOW, &bytes);
        s.set_raw_events(general);
        while s.poll_event().is_some() {}
        s
    }

    fn events(general: bool, stream: &[u8], cuts: &[usize]) -> Vec<Event> {
        let mut s = joined(general);
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            let cut = cut.clamp(start, stream.len());
            s.on_frame(NOW + 1000, &stream[start..cut]);
            start = cut;
        }
        std::iter::from_fn(|| s.poll_event())
            .filter(|e| !matches!(e, Event::Raw(_)))
            .collect()
    }

    /// A raw line like the fast path's lines: a head up to the text field (keys with bytes
    /// both escaping layers must handle, plain and malformed styles), then text that is often
    /// clean and sometimes arbitrary bytes, then sometimes a time or junk fields; LF escaped
    /// as a server would.
    fn raw_line() -> impl Strategy<Value = Vec<u8>> {
        let head = prop::sample::select(vec![
            &b"m\x02\x01\x01\x01\x01\x01\x01\x01\x01\x03\x03"[..],
            &b"m\x02\x02\x5C\x5C\x03\x5C\x0A\x03\x034 #ff0000\x03"[..],
            &b"m\x02\x09\x09\x03x y\x03"[..],
            &b"w\x02\x02\x5C\x5C\x03\x5C\x0A\x02\x01\x01\x01\x01\x01\x01\x01\x01\x031\x03"[..],
            &b"w\x02\x07\x02\x03\x03"[..],
            &b"m\x02"[..],
            &b"m\x03"[..],
            // The presence lines of the fast path: the body ends a `k` record (its profile
            // image; the record's key sends the first two heads' lines), or is the one field
            // of `j`, `o`, `c`.
            &b"k\x02\x01\x01\x01\x01\x01\x01\x01\x01\x03\xeb\xb0\xa5\x06\x03L\x05\x01\x03\x06\x05\x01\x09\x05\x01\x02\x09\x03"[..],
            &b"k\x02\x01\x01\x01\x01\x01\x01\x01\x01\x03nick\x03id\x06\x05\x08\x03\x03\x05\x09\x05\x00\x02"[..],
            &b"j\x02"[..],
            &b"o\x03"[..],
            &b"c\x05"[..],
        ]);
        // Text without type bytes (so the line keeps its shape), with backslashes and LFs.
        let clean = || {
            vec(
                prop::sample::select(&['a', 'Z', ' ', '안', '😀', '\\', '\n', '\u{1}'][..]),
                0..30,
            )
            .prop_map(|cs| cs.into_iter().collect::<String>())
        };
        let body = prop_oneof![
            3 => clean().prop_map(|t| t.into_bytes()),
            1 => clean().prop_map(|t| format!("!ping {t}").into_bytes()),
            1 => text(30).prop_map(|t| t.into_bytes()),
            1 => bytes(30),
        ];
        let tail = prop_oneof![
            3 => Just(Vec::new()),
            2 => Just(b"\x05\xe8\x13\x55\x65".to_vec()),
            1 => bytes(8),
        ];
        (head, body, tail).prop_map(|(head, body, tail)| {
            let mut l = head.to_vec();
            for b in body.into_iter().chain(tail) {
                if b == b'\n' {
                    l.push(b'\\');
                }
                l.push(b);
            }
            l.push(b'\n');
            l
        })
    }

    proptest! {
        #![proptest_config(config(512))]

        /// Whatever follows `m`/`w`/`k`/`j`/`o`/`c` + a type byte, in any chunking, the fast
        /// path gives exactly the events of the general path (`Line` → `Incoming`).
        #[test]
        fn fast_path_gives_the_events_of_the_general_path(
            lines in vec(raw_line(), 1..6),
            fractions in cuts(),
        ) {
            let stream = lines.concat();
            let cuts = scale_cuts(&fractions, stream.len());
            let general = events(true, &stream, &cuts);
            let fast = events(false, &stream, &cuts);
            prop_assert_eq!(general, fast);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The join token (src/token.rs): the site's `uchat_array2data` and the browser's `dataParse`

mod token {
    use super::*;
    use uchat_bot::codec::hex_encode;
    use uchat_bot::token::{
        array2data, build_user_data, decode_uri_component, php_urlencode, UserData, UserFields,
    };

    /// A char of the token's grammar (separators, escapes, PHP's filtered values) or any char.
    fn token_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::sample::select(&['%', '|', ' ', '+', '0', '1', '9', 'a', 'F', 'e', '.', '-'][..]),
            1 => prop::sample::select(&['안', 'é', '\u{7FF}', '\u{FFFF}', '😀'][..]),
            2 => any::<char>(),
        ]
    }

    fn token_text(max: usize) -> impl Strategy<Value = String> {
        vec(token_char(), 0..=max).prop_map(|cs| cs.into_iter().collect())
    }

    /// A `%XX` escape now and then, so the decoder's multi-byte branches run on real input.
    fn percent_text(max: usize) -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => token_char().prop_map(String::from),
            1 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
        ];
        vec(piece, 0..=max).prop_map(|ps| ps.concat())
    }

    fn field() -> impl Strategy<Value = Option<String>> {
        prop::option::of(token_text(12))
    }

    fn fields() -> impl Strategy<Value = UserFields> {
        (
            (field(), field(), field(), field()),
            (field(), field(), field(), field()),
        )
            .prop_map(
                |((nick, id, level, auth), (icons, nickcon, other, profileimg))| UserFields {
                    nick,
                    id,
                    level,
                    auth,
                    icons,
                    nickcon,
                    other,
                    profileimg,
                },
            )
    }

    /// PHP `array_filter`: what `uchat_array2data` keeps.
    fn kept(v: &str) -> bool {
        !v.is_empty() && v != "0"
    }

    proptest! {
        #![proptest_config(config(512))]

        /// `decodeURIComponent(urlencode(s))` is `s` with spaces turned into `+` (PROTOCOL.md
        /// §4.7-1: PHP encodes a space as `+`, which the browser does not decode).
        #[test]
        fn urlencode_then_decode_turns_only_spaces_into_plus(s in token_text(40)) {
            prop_assert_eq!(decode_uri_component(&php_urlencode(&s)), Ok(s.replace(' ', "+")));
        }

        /// Any `user_data` text (page attributes are anyone's): no panic; a parse error names a
        /// part that exists.
        #[test]
        fn parsing_any_user_data_never_panics(s in percent_text(40)) {
            match UserData::parse(&s) {
                Ok(ud) => prop_assert!(ud.len() <= s.split('|').count()),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// What the site builds, the browser reads back: every kept field (spaces as `+`), the
        /// room, the time and the hash, nothing else; and the hash is the md5 of `md5_input`.
        #[test]
        fn built_user_data_parses_back_to_its_fields(
            room in token_text(10).prop_filter("a room", |r| !r.is_empty()),
            token in token_text(10).prop_filter("a token", |t| kept(t)),
            time in any::<i64>(),
            fields in fields(),
        ) {
            let built = build_user_data(&room, &token, time, &fields).expect("valid input");
            prop_assert_eq!(&built.hash, &hex_encode(&md5::compute(&built.md5_input).0));
            let ud = built.parse().expect("the browser can read it");
            let time = time.to_string();
            let mut expected: Vec<(&str, &str)> = vec![("room", room.as_str()), ("time", &time)];
            expected.extend(fields.pairs());
            expected.retain(|(_, v)| kept(v));
            for (k, v) in &expected {
                let browser = v.replace(' ', "+");
                prop_assert_eq!(ud.get(k), Some(browser.as_str()), "{}", k);
            }
            prop_assert_eq!(ud.get("hash"), Some(built.hash.as_str()));
            prop_assert_eq!(ud.len(), expected.len() + 1);
        }

        /// `uchat_array2data` with arbitrary keys (numeric ones sort as numbers, PHP 8, which is
        /// not a total order): no panic, and the hash is the md5 of what was hashed.
        #[test]
        fn array2data_with_any_keys_never_panics(
            pairs in vec((token_text(4), token_text(6)), 0..8),
            token in token_text(6).prop_filter("a token", |t| kept(t)),
        ) {
            let built = array2data(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &token, 1)
                .expect("a token is set");
            prop_assert_eq!(&built.hash, &hex_encode(&md5::compute(&built.md5_input).0));
            let hash_entry = ["hash ", &built.hash].concat();
            prop_assert!(built.user_data.contains(&hash_entry));
        }
    }
}
