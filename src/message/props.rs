//! Property tests: typing any line (valid samples with random damage) never panics, and whatever
//! types converts back to a line that types to the same value, also across the wire.

use super::*;
use crate::codec::{encode, Decoder};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Integers that survive the wire whatever their sign (a negative number travels as type-7 text,
/// exact only within ±2^53).
const SAFE: i64 = 1 << 53;

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..10).prop_map(Field::Bin),
        "[a-z #0-9가-힣\\\\\u{2}\u{3}\n]{0,8}".prop_map(Field::Str),
        any::<bool>().prop_map(Field::Bool),
        (-SAFE..SAFE).prop_map(Field::Num),
        (-1e6f64..1e6).prop_map(Field::Float),
        Just(Field::Undef),
    ]
}

fn key() -> UserKey {
    UserKey(vec![0xba, 0xf4, 0xcf, 0x1b, 0x67, 0xb7, 0x43, 0x11])
}

fn server_samples() -> Vec<Line> {
    let k = key();
    vec![
        Line::new("i1")
            .with("My Room")
            .with(0i64)
            .with(1_600_000_000i64)
            .with(vec![0x6au8, 1])
            .with(1_604_370_347i64),
        Line::new("k")
            .with(&k)
            .with("봇")
            .with("bot01")
            .with("5")
            .with(1i64)
            .with("")
            .with("")
            .with(1_604_370_347i64)
            .with(1i64)
            .with(vec![0x24u8, 0x87])
            .with("p.png"),
        Line::new("i2").with(&k),
        Line::new("u").with(&k),
        Line::new("u"),
        Line::new("c").with(42i64),
        Line::new("j").with(&k),
        Line::new("o").with("bob"),
        Line::new("d").with(&k).with(&k).with("nick").with("x"),
        Line::new("m")
            .with(&k)
            .with("4 #ff0000")
            .with("안녕")
            .with(5i64),
        Line::new("w").with(&k).with(&k).with("").with("psst"),
        Line::new("s").with(4i64).with("a").with("b").with(10i64),
        Line::new("ERR").with(202i64),
        Line::new("p").with(&k).with(0i64).with("ch").with(1i64),
        Line::new("b").with("frozen").with(true),
        Line::new("a").with("closeIndividual"),
        Line::new("layout").with("x"),
    ]
}

fn client_samples() -> Vec<Line> {
    let mut out: Vec<Line> = [
        Outgoing::Join(JoinRequest::new("room", "session")),
        Outgoing::chat("hi", Style::parse("4 #ff0000").unwrap_or_default()),
        Outgoing::Whisper {
            nick: "bob".into(),
            text: "hi".into(),
        },
        Outgoing::Plugin {
            channel: "c".into(),
            data: vec![Field::Num(1)],
        },
        Outgoing::PluginTo {
            target: "t".into(),
            channel: "c".into(),
            data: vec![],
        },
        Outgoing::Ping,
        Outgoing::Disconnect,
    ]
    .iter()
    .map(Outgoing::to_line)
    .collect();
    let cmd = |name: &str| Line::new("command").with(name);
    out.extend([
        cmd("info").with("n"),
        cmd("ban").with("n").with(1i64).with(0i64),
        cmd("report").with("n").with("r"),
        cmd("mute").with("n").with(10i64).with(""),
        cmd("unmute").with("n"),
        cmd("io").with(true),
        cmd("chatList").with(15i64),
        cmd("userList").with(10000i64).with(""),
        cmd("changeInfo").with("k").with("v"),
        cmd("notice").with("t"),
        cmd("clearLog"),
        cmd("op").with("n"),
        cmd("login").with("pw"),
        cmd("other").with(1i64),
        Line::new("x").with(1i64),
    ]);
    out
}

#[derive(Clone, Debug)]
enum Damage {
    Replace(usize, Field),
    Truncate(usize),
    Append(Field),
    Keep,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0usize..16, field()).prop_map(|(i, f)| Damage::Replace(i, f)),
        (0usize..16).prop_map(Damage::Truncate),
        field().prop_map(Damage::Append),
        Just(Damage::Keep),
    ]
}

fn apply(mut line: Line, damage: &[Damage]) -> Line {
    for d in damage {
        match d {
            Damage::Replace(i, f) if !line.fields.is_empty() => {
                let n = line.fields.len();
                line.fields[i % n] = f.clone();
            }
            Damage::Truncate(n) => line.fields.truncate(*n),
            Damage::Append(f) => line.fields.push(f.clone()),
            _ => {}
        }
    }
    line
}

/// Encode and decode again.
fn over_the_wire(line: &Line) -> Line {
    let bytes = encode(line).unwrap_or_default();
    match Decoder::new().feed(&bytes).pop() {
        Some(Ok(back)) => back,
        other => panic!("{line} did not survive the wire: {other:?}"),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 768,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn incoming_is_total_and_stable(
        pick in 0usize..64,
        damage in proptest::collection::vec(damage(), 0..3),
    ) {
        let samples = server_samples();
        let line = apply(samples[pick % samples.len()].clone(), &damage);
        match Incoming::from_line(line.clone()) {
            Ok(msg) => {
                prop_assert_eq!(Incoming::from_line(msg.to_line()), Ok(msg.clone()));
                // Raw fields change like the codec says (negative numbers come back as floats).
                let canonical = Incoming::from_line(msg.to_line().canonical());
                prop_assert!(canonical.is_ok(), "{:?}", canonical);
                prop_assert_eq!(Incoming::from_line(over_the_wire(&msg.to_line())), canonical);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.starts_with(&format!("`{}` line: ", line.key)), "{}", text);
            }
        }
    }

    #[test]
    fn outgoing_is_total_and_stable(
        pick in 0usize..64,
        damage in proptest::collection::vec(damage(), 0..3),
    ) {
        let samples = client_samples();
        let line = apply(samples[pick % samples.len()].clone(), &damage);
        match Outgoing::from_line(line.clone()) {
            Ok(msg) => {
                prop_assert_eq!(Outgoing::from_line(msg.to_line()), Ok(msg.clone()));
                // Raw fields change like the codec says (negative numbers come back as floats).
                let canonical = Outgoing::from_line(msg.to_line().canonical());
                prop_assert!(canonical.is_ok(), "{:?}", canonical);
                prop_assert_eq!(Outgoing::from_line(over_the_wire(&msg.to_line())), canonical);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.starts_with(&format!("`{}", line.key)), "{}", text);
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// `send`'s way of encoding a chat line (no `Line`) gives the bytes of the typed way.
    #[test]
    fn encode_chat_is_encode_of_the_chat_line(
        // Long enough for several scan chunks; U+00A9 and U+00B0 share U+00A0's lead byte C2.
        text in "[a-z #0-9가-힣😀\\\\\u{0}-\u{8}\n\u{a0}\u{a9}\u{b0}]{0,80}",
        bits in 0u8..8,
        color in proptest::option::of("#[0-9a-fA-F]{6}|#[0-9a-f]{3}|rgb\\([0-9]{1,3}, ?[0-9]{1,3},[0-9]{1,3}\\)"),
    ) {
        let mut style = Style::from_bits(bits);
        if let Some(c) = &color {
            match style.clone().with_color(c) {
                Ok(s) => style = s,
                Err(_) => return Ok(()), // rgb(300, …): not a colour
            }
        }
        let mut fast = b"before".to_vec();
        Outgoing::encode_chat(&style, &text, &mut fast);
        let typed = encode(&Outgoing::chat(text.clone(), style).to_line()).unwrap();
        prop_assert_eq!(&fast[..6], b"before");
        prop_assert_eq!(&fast[6..], &typed[..]);
    }
}
