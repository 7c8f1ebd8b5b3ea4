//! `uchat sim` protocol tests (issue #3 items 2, 3, 5): the built binary on 127.0.0.1:0 and a
//! real WebSocket client over loopback.

mod sim_util;

use std::time::Duration;

use futures_util::SinkExt;

use sim_util::*;
use uchat_bot::codec::{Field, Line};
use uchat_bot::token::{join_line, UserData, UserFields};

fn key(k: &Line) -> Vec<u8> {
    k.field(0)
        .and_then(Field::as_bin)
        .expect("key field")
        .to_vec()
}

fn nick(k: &Line) -> String {
    k.field(1).and_then(Field::as_str).expect("nick").to_owned()
}

fn num(l: &Line, i: usize) -> i64 {
    l.field(i)
        .and_then(Field::as_i64)
        .unwrap_or_else(|| panic!("field {i} of {l} is not a number"))
}

#[tokio::test]
async fn guest_join_gets_room_info_key_and_guest_nick() {
    let sim = Sim::start(&[]);
    let mut c = sim.connect().await;
    c.send(&join_line("lobby", &UserData::default(), SESSION, None).unwrap())
        .await;
    let i1 = c.next().await;
    assert_eq!(i1.key, "i1");
    assert_eq!(i1.field(0).and_then(Field::as_str), Some("lobby"));
    assert!((num(&i1, 4) - now()).abs() <= 5, "server time in i1: {i1}");
    let k = c.next().await;
    assert_eq!(k.key, "k");
    assert_eq!(key(&k).len(), 8);
    let n = nick(&k);
    let digits = n.strip_prefix("손님").expect("guest nick starts with 손님");
    assert!(
        digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()),
        "{n}"
    );
    assert_eq!(num(&k, 4), 0, "guest auth");
    assert_eq!(k.field(9).and_then(Field::as_bin).map(<[u8]>::len), Some(8));
    let i2 = c.next().await;
    assert_eq!(i2.key, "i2");
    assert_eq!(i2.field(0), k.field(0));
    // keepalive is accepted silently
    c.send(&Line::new("p")).await;
    c.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn two_clients_relay_chat_exactly() {
    let sim = Sim::start(&[]);
    let (mut a, ka) = sim.join("lobby", Some("앨리스")).await;
    let (mut b, kb) = sim.join("lobby", Some("bob")).await;
    // A learns about B: k then j.
    let k = a.next().await;
    assert_eq!((k.key.as_str(), key(&k)), ("k", key(&kb)));
    let j = a.next().await;
    assert_eq!((j.key.as_str(), key(&j)), ("j", key(&kb)));

    let text = "안녕 \\ back\\slash\nnew line \u{2}\u{3}\u{4}\u{5}\u{6}\u{7} end\\";
    a.send(&Line::new("m").with("4 #ff0000").with(text)).await;
    for c in [&mut a, &mut b] {
        let m = c.expect("m").await;
        assert_eq!(key(&m), key(&ka));
        assert_eq!(m.field(1).and_then(Field::as_str), Some("4 #ff0000"));
        assert_eq!(m.field(2).and_then(Field::as_str), Some(text));
        assert!((num(&m, 3) - now()).abs() <= 5);
    }
    b.send(&chat("반가워요")).await;
    let m = a.expect("m").await;
    assert_eq!(key(&m), key(&kb));
    assert_eq!(m.field(2).and_then(Field::as_str), Some("반가워요"));
}

#[tokio::test]
async fn whisper_goes_to_target_and_back_to_sender() {
    let sim = Sim::start(&[]);
    let (mut a, ka) = sim.join("lobby", Some("a")).await;
    let (mut b, kb) = sim.join("lobby", Some("b")).await;
    let (mut c, _) = sim.join("lobby", Some("c")).await;
    a.send(&command(
        "whisper",
        vec!["b".into(), "".into(), "비밀".into()],
    ))
    .await;
    for cl in [&mut b, &mut a] {
        let w = cl.expect("w").await;
        assert_eq!(w.field(0).and_then(Field::as_bin), Some(&key(&ka)[..]));
        assert_eq!(w.field(1).and_then(Field::as_bin), Some(&key(&kb)[..]));
        assert_eq!(w.field(3).and_then(Field::as_str), Some("비밀"));
    }
    c.expect_silence(Duration::from_millis(300)).await;
    a.send(&command(
        "whisper",
        vec!["nobody".into(), "".into(), "x".into()],
    ))
    .await;
    a.expect_err(404).await;
    a.send(&command("whisper", vec!["a".into(), "".into(), "x".into()]))
        .await;
    a.expect_err(407).await;
}

#[tokio::test]
async fn user_list_then_empty_u() {
    let sim = Sim::start(&[]);
    let (mut a, ka) = sim.join("lobby", Some("a")).await;
    let (_b, kb) = sim.join("lobby", Some("b")).await;
    a.expect("j").await;
    a.send(&command("userList", vec![Field::Num(10_000), "".into()]))
        .await;
    let mut keys = Vec::new();
    loop {
        let l = a.next().await;
        match l.key.as_str() {
            "k" => {}
            "u" if l.fields.is_empty() => break,
            "u" => keys.push(key(&l)),
            other => panic!("unexpected {other} in user list"),
        }
    }
    keys.sort();
    let mut want = vec![key(&ka), key(&kb)];
    want.sort();
    assert_eq!(keys, want);
    // search narrows it down
    a.send(&command("userList", vec![Field::Num(10), "b".into()]))
        .await;
    let k = a.next().await;
    assert_eq!(nick(&k), "b");
    assert_eq!(key(&a.next().await), key(&kb));
    assert!(a.next().await.fields.is_empty());
}

#[tokio::test]
async fn leave_and_drop_send_o() {
    let sim = Sim::start(&[]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    let (mut b, _) = sim.join("lobby", Some("떠나는사람")).await;
    let (c, _) = sim.join("lobby", Some("c")).await;
    b.send(&Line::new("disconnect")).await;
    b.expect_closed(WAIT).await;
    let o = a.expect("o").await;
    assert_eq!(o.field(0).and_then(Field::as_str), Some("떠나는사람"));
    drop(c); // TCP gone without a close frame
    let o = a.expect("o").await;
    assert_eq!(o.field(0).and_then(Field::as_str), Some("c"));
}

#[tokio::test]
async fn token_room_ok_wrong_missing_stale() {
    let sim = Sim::start(&["--room", "club:token=s3cret,title=Club"]);
    let fields = UserFields {
        nick: Some("탁월한 지도자".into()),
        id: Some("u1".into()),
        level: Some("5".into()),
        auth: Some("admin".into()),
        ..UserFields::default()
    };
    // ok (the space arrives as '+', PROTOCOL.md §4.7-1)
    let mut c = sim.connect().await;
    c.send(&token_join("club", "s3cret", now(), &fields)).await;
    let i1 = c.next().await;
    assert_eq!(i1.field(0).and_then(Field::as_str), Some("Club"));
    let k = c.next().await;
    assert_eq!(nick(&k), "탁월한+지도자");
    assert_eq!(num(&k, 4), 3, "admin auth");
    assert_eq!(c.next().await.key, "i2");

    // wrong hash: 202
    let mut j = token_join("club", "other-token", now(), &fields);
    j.fields[1] = "someone".into();
    let mut c = sim.connect().await;
    c.send(&j).await;
    c.expect_err(202).await;
    // tampered field: 202
    let mut j = token_join("club", "s3cret", now(), &fields);
    j.fields[4] = "admin".into();
    j.fields[2] = "u2".into();
    c.send(&j).await;
    c.expect_err(202).await;
    // missing hash: 203
    let mut j = token_join("club", "s3cret", now(), &fields);
    j.fields[8] = Field::Undef;
    c.send(&j).await;
    c.expect_err(203).await;
    // stale time (correct hash): 205
    c.send(&token_join("club", "s3cret", now() - 1000, &fields))
        .await;
    c.expect_err(205).await;
    // the connection is still usable: a fresh token joins
    let member = UserFields {
        nick: Some("m".into()),
        ..UserFields::default()
    };
    c.send(&token_join("club", "s3cret", now() - 100, &member))
        .await;
    let k = c.expect_joined().await;
    assert_eq!(num(&k, 4), 1, "'' auth with a valid hash is member");
}

#[tokio::test]
async fn password_room() {
    let sim = Sim::start(&["--room", "vip:password=pw"]);
    let mut c = sim.connect().await;
    c.send(&join_line("vip", &UserData::guest(Some("x")), SESSION, None).unwrap())
        .await;
    c.expect_err(701).await;
    c.send(&join_line("vip", &UserData::guest(Some("x")), SESSION, Some("nope")).unwrap())
        .await;
    c.expect_err(208).await;
    c.send(&join_line("vip", &UserData::guest(Some("x")), SESSION, Some("pw")).unwrap())
        .await;
    c.expect_joined().await;
}

#[tokio::test]
async fn unknown_room_duplicate_nick_full_room() {
    let sim = Sim::start(&["--room", "lobby", "--room", "tiny:capacity=1"]);
    let mut c = sim.connect().await;
    c.send(&join_line("nowhere", &UserData::guest(None), SESSION, None).unwrap())
        .await;
    c.expect_err(201).await;
    let (_a, _) = sim.join("lobby", Some("same")).await;
    c.send(&join_line("lobby", &UserData::guest(Some("same")), SESSION, None).unwrap())
        .await;
    c.expect_err(301).await;
    let (_t, _) = sim.join("tiny", Some("first")).await;
    c.send(&join_line("tiny", &UserData::guest(Some("second")), SESSION, None).unwrap())
        .await;
    c.expect_err(207).await;
    // a line before joining is a protocol error, the connection stays
    c.send(&chat("hi")).await;
    c.expect_err(101).await;
    c.send(&join_line("lobby", &UserData::guest(Some("other")), SESSION, None).unwrap())
        .await;
    c.expect_joined().await;
    // a second j
    c.send(&join_line("lobby", &UserData::guest(Some("again")), SESSION, None).unwrap())
        .await;
    c.expect_err(302).await;

    let auto = Sim::start(&["--auto-rooms"]);
    let (_c, _) = auto.join("made-up", Some("x")).await;
}

#[tokio::test]
async fn over_long_line_and_field_keep_connection() {
    let sim = Sim::start(&["--max-line", "200", "--max-field", "50"]);
    let mut c = sim.connect().await;
    let long_nick = "닉".repeat(20); // 60 bytes
    c.send(&join_line("lobby", &UserData::guest(Some(&long_nick)), SESSION, None).unwrap())
        .await;
    c.expect_err(105).await; // join data too long
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    a.send(&chat(&"x".repeat(300))).await;
    a.expect_err(105).await;
    a.send(&chat(&"y".repeat(60))).await;
    a.expect_err(401).await;
    a.send(&chat("short")).await;
    let m = a.expect("m").await;
    assert_eq!(m.field(2).and_then(Field::as_str), Some("short"));
}

#[tokio::test]
async fn malformed_lines_and_garbage_frames() {
    let sim = Sim::start(&[]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    // invalid UTF-8 in a string field
    a.send_raw(b"m\x03\x03\xff\xfe\n").await;
    a.expect_err(101).await;
    // wrong field types / unknown key
    a.send(&Line::new("m").with(Field::Num(1))).await;
    a.expect_err(101).await;
    a.send(&Line::new("zz")).await;
    a.expect_err(101).await;
    // garbage binary frames: random bytes, a lone escape, NULs, no line end
    let mut junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    junk.retain(|b| *b != b'\n');
    junk.splice(0..0, *b"zz"); // a line starting with NUL would be skipped silently (§2.1)
    a.send_raw(&junk).await;
    a.send_raw(b"\x5c").await;
    a.send_raw(&[0u8; 64]).await;
    a.send_raw(b"\n").await; // ends the garbage line: one error for it
    let l = a.next().await;
    assert_eq!(l.key, "ERR");
    a.ws.send(tokio_tungstenite::tungstenite::Message::Text(
        "\u{1}\u{2}garbage".into(),
    ))
    .await
    .unwrap();
    a.send_raw(b"\n").await;
    assert_eq!(a.next().await.key, "ERR");
    // still usable, and the server still serves others
    a.chat_echoed("still here").await;
    let (_b, _) = sim.join("lobby", Some("b")).await;
    // unknown command
    a.send(&command("teleport", vec![])).await;
    a.expect("ERR").await;
}

#[tokio::test]
async fn moderation_mute_notice_info_ban() {
    let sim = Sim::start(&["--room", "club:token=tok"]);
    let (mut admin, _) = sim.join_member("club", "tok", "boss", "subadmin").await;
    let (mut user, ku) = sim.join_member("club", "tok", "user", "member").await;
    admin.expect("j").await;

    // members cannot moderate
    user.send(&command("notice", vec!["hi".into()])).await;
    user.expect_err(402).await;
    user.send(&command(
        "mute",
        vec!["boss".into(), Field::Num(5), "".into()],
    ))
    .await;
    user.expect_err(402).await;

    // notice → s 12 to all, and noticeList
    admin
        .send(&command("notice", vec!["공지입니다".into()]))
        .await;
    for c in [&mut admin, &mut user] {
        let s = c.expect("s").await;
        assert_eq!(
            (num(&s, 0), s.field(1).and_then(Field::as_str)),
            (12, Some("공지입니다"))
        );
    }
    user.send(&command("noticeList", vec![])).await;
    let s = user.expect("s").await;
    assert_eq!(num(&s, 0), 12);

    // mute → s 4; muted user's chat → ERR 413; unmute → s 5
    admin
        .send(&command(
            "mute",
            vec!["user".into(), Field::Num(5), "".into()],
        ))
        .await;
    let s = user.expect("s").await;
    assert_eq!(num(&s, 0), 4);
    assert_eq!(s.field(2).and_then(Field::as_str), Some("user"));
    user.send(&chat("can I talk?")).await;
    user.expect_err(413).await;
    admin.send(&command("unmute", vec!["user".into()])).await;
    assert_eq!(num(&user.expect("s").await, 0), 5);
    user.chat_echoed("yes").await;

    // chatList returns history
    admin.send(&command("chatList", vec![Field::Num(1)])).await;
    let m = admin.expect("m").await;
    assert_eq!(m.field(0).and_then(Field::as_bin), Some(&key(&ku)[..]));

    // info → s 36
    admin.send(&command("info", vec!["user".into()])).await;
    let s = admin.expect("s").await;
    assert_eq!(num(&s, 0), 36);
    assert_eq!(s.field(1).and_then(Field::as_str), Some("user"));
    assert_eq!(s.field(2).and_then(Field::as_str), Some("id-user"));
    assert_eq!(num(&s, 4), 1);

    // ban → s 1 + ERR 408 to the victim, connection closed; o to the others; no rejoin
    admin
        .send(&command(
            "ban",
            vec!["user".into(), Field::Num(0), "spam".into()],
        ))
        .await;
    let s = user.expect("s").await;
    assert_eq!(num(&s, 0), 1);
    user.expect_err(408).await;
    user.expect_closed(WAIT).await;
    assert_eq!(
        admin.expect("o").await.field(0).and_then(Field::as_str),
        Some("user")
    );
    let mut again = sim.connect().await;
    again
        .send(&member_join(
            "club",
            "tok",
            now(),
            "user",
            "id-user",
            "member",
        ))
        .await;
    again.expect_err(408).await;
}

#[tokio::test]
async fn flooding_gets_425_then_system_mute_and_repeats_430() {
    let sim = Sim::start(&[
        "--flood",
        "3/10",
        "--repeat-limit",
        "2",
        "--flood-mute",
        "1",
    ]);
    let (mut a, _) = sim.join("lobby", Some("spammer")).await;
    let (mut b, _) = sim.join("lobby", Some("watcher")).await;
    a.expect("j").await;
    // repeats: the third identical line in a row is refused
    a.send(&chat("same")).await;
    a.send(&chat("same")).await;
    a.send(&chat("same")).await;
    assert_eq!(
        a.expect("m").await.field(2).and_then(Field::as_str),
        Some("same")
    );
    assert_eq!(
        a.expect("m").await.field(2).and_then(Field::as_str),
        Some("same")
    );
    a.expect_err(430).await;
    // 3 lines per 10 s used up: the next ones are 425, at twice the limit system_mute (s 13)
    a.send(&chat("four")).await;
    a.expect_err(425).await;
    a.send(&chat("five")).await;
    a.expect_err(425).await;
    a.send(&chat("six")).await;
    a.expect_err(425).await;
    let s = b.expect("s").await;
    assert_eq!(num(&s, 0), 13);
    assert_eq!(s.field(1).and_then(Field::as_str), Some("spammer"));
    let s = a.expect("s").await;
    assert_eq!(num(&s, 0), 13);
    a.send(&chat("muted now")).await;
    a.expect_err(413).await;
    // the system mute is --flood-mute 1 s long
    tokio::time::sleep(Duration::from_millis(1200)).await;
    a.chat_echoed("free again").await;
}

#[tokio::test]
async fn chat_list_history_plugin_relay_and_style() {
    let sim = Sim::start(&[]);
    let (mut a, ka) = sim.join("lobby", Some("a")).await;
    for t in ["one", "two", "three"] {
        a.send(&Line::new("m").with("7 #F00").with(t)).await;
        let m = a.expect("m").await;
        // the style is relayed in uchat.js's wire form
        assert_eq!(m.field(1).and_then(Field::as_str), Some("7 #ff0000"));
    }
    a.send(&Line::new("m").with("bold please").with("x")).await;
    a.expect_err(101).await;
    let (mut b, _) = sim.join("lobby", Some("b")).await;
    b.send(&command("chatList", vec![Field::Num(2)])).await;
    // k of the sender, then the line, oldest first
    let k = b.next().await;
    assert_eq!((k.key.as_str(), key(&k)), ("k", key(&ka)));
    let m = b.next().await;
    assert_eq!(m.field(2).and_then(Field::as_str), Some("two"));
    b.next().await;
    let m = b.next().await;
    assert_eq!(m.field(2).and_then(Field::as_str), Some("three"));
    // plugin broadcast → p | sender | 0 | channel | data…
    a.send(&Line::new("plugin").with("dice").with(Field::Num(6)))
        .await;
    let p = b.expect("p").await;
    assert_eq!(p.field(0).and_then(Field::as_bin), Some(&key(&ka)[..]));
    assert_eq!(num(&p, 1), 0);
    assert_eq!(p.field(2).and_then(Field::as_str), Some("dice"));
    assert_eq!(num(&p, 3), 6);
    assert_eq!(num(&a.expect("p").await, 1), 0); // the sender gets its broadcast too
                                                 // pluginTo → only the target, kind 1
    b.send(
        &Line::new("pluginTo")
            .with("a")
            .with("dice")
            .with(Field::Num(2)),
    )
    .await;
    let p = a.expect("p").await;
    assert_eq!(num(&p, 1), 1);
    b.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn random_frames_never_break_the_server() {
    let sim = Sim::start(&["--flood", "0", "--repeat-limit", "0"]);
    let (mut a, _) = sim.join("lobby", Some("fuzz")).await;
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..200 {
        let len = rng.usize(0..1000);
        let frame: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        a.send_raw(&frame).await;
    }
    a.send_raw(b"\n").await;
    a.send(&chat("after the storm")).await;
    // Skip the ERR answers (and any random line that happened to be valid) up to our line.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let l = a.next_within(left).await.expect("server went silent");
        if l.key == "m" && l.field(2).and_then(Field::as_str) == Some("after the storm") {
            break;
        }
    }
    let (_b, _) = sim.join("lobby", Some("still-serving")).await;
}

#[tokio::test]
async fn mute_for_an_unrepresentable_period_is_refused_and_the_server_keeps_serving() {
    let sim = Sim::start(&["--room", "club:token=tok"]);
    let (mut admin, _) = sim.join_member("club", "tok", "boss", "admin").await;
    let (mut user, _) = sim.join_member("club", "tok", "user", "member").await;
    admin.expect("j").await;
    // 2^62 minutes: `Instant + Duration` overflowed and the connection's task panicked.
    for minutes in [1i64 << 62, i64::MAX] {
        admin
            .send(&command(
                "mute",
                vec!["user".into(), Field::Num(minutes), "".into()],
            ))
            .await;
        admin.expect_err(412).await;
    }
    // Nobody was muted, and the same connection still works.
    user.send(&chat("not muted")).await;
    assert_eq!(
        admin.expect("m").await.field(2).and_then(Field::as_str),
        Some("not muted")
    );
    admin
        .send(&command(
            "mute",
            vec!["user".into(), Field::Num(1_000_000_000), "".into()],
        ))
        .await;
    let s = admin.expect("s").await;
    assert_eq!((num(&s, 0), num(&s, 3)), (4, 1_000_000_000));
}

/// The `k` lines of a `userList` answer, by nick.
async fn user_list(c: &mut Client) -> Vec<(String, Line)> {
    c.send(&command("userList", vec![Field::Num(100), "".into()]))
        .await;
    let mut ks = Vec::new();
    loop {
        let l = c.next().await;
        match l.key.as_str() {
            "k" => ks.push((nick(&l), l)),
            "u" if l.fields.is_empty() => return ks,
            "u" => {}
            other => panic!("unexpected {other} in user list"),
        }
    }
}

#[tokio::test]
async fn k_mute_bit_is_the_current_state_after_a_timed_mute_runs_out() {
    let sim = Sim::start(&["--flood", "2/10", "--flood-mute", "1"]);
    let (mut a, _) = sim.join("lobby", Some("spammer")).await;
    let (mut b, _) = sim.join("lobby", Some("watcher")).await;
    a.expect("j").await;
    for i in 0..4 {
        a.send(&chat(&format!("line {i}"))).await;
    }
    // At twice the limit: system_mute for --flood-mute 1 s.
    assert_eq!(num(&b.expect("s").await, 0), 13);
    let mute_bit = |ks: &[(String, Line)]| {
        let (_, k) = ks
            .iter()
            .find(|(n, _)| n == "spammer")
            .expect("k of spammer");
        num(k, 8)
    };
    assert_eq!(mute_bit(&user_list(&mut b).await), 1, "during the mute");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Nothing the spammer did since cleared the mute: the bit must follow the clock.
    assert_eq!(
        mute_bit(&user_list(&mut b).await),
        0,
        "after the mute ran out"
    );
}

/// The `(k, m)` pairs of a `chatList` answer (the sim sends nothing for an empty log).
async fn chat_log(c: &mut Client, n: usize) -> Vec<(Line, Line)> {
    c.send(&command("chatList", vec![Field::Num(15)])).await;
    let mut pairs = Vec::new();
    for _ in 0..n {
        let k = c.next().await;
        assert_eq!(k.key, "k", "{k}");
        let m = c.next().await;
        assert_eq!(m.key, "m", "{m}");
        assert_eq!(m.field(0), k.field(0), "m after its sender's k");
        pairs.push((k, m));
    }
    c.expect_silence(Duration::from_millis(200)).await;
    pairs
}

#[tokio::test]
async fn chat_list_replays_a_present_senders_k_as_it_is_now() {
    // A `k` refreshes the client's record of its user (PROTOCOL.md §3.2), so the replay must not
    // carry a mute bit from when the line was sent. (Before: the `k` logged with the line, mute
    // bit 0, after the sender had been muted.)
    let sim = Sim::start(&["--room", "club:token=tok"]);
    let (mut boss, _) = sim.join_member("club", "tok", "boss", "subadmin").await;
    let (mut talker, talker_k) = sim.join_member("club", "tok", "talker", "member").await;
    talker.send(&chat("said before the mute")).await;
    talker.expect("m").await;
    boss.send(&command(
        "mute",
        vec!["talker".into(), Field::Num(5), "".into()],
    ))
    .await;
    assert_eq!(num(&boss.expect("s").await, 0), 4);
    let (mut late, _) = sim.join_member("club", "tok", "late", "member").await;
    let mute_bits = |log: &[(Line, Line)]| log.iter().map(|(k, _)| num(k, 8)).collect::<Vec<_>>();
    let log = chat_log(&mut late, 1).await;
    assert_eq!(key(&log[0].0), key(&talker_k));
    assert_eq!(mute_bits(&log), [1], "muted now");
    boss.send(&command("unmute", vec!["talker".into()])).await;
    assert_eq!(num(&late.expect("s").await, 0), 5);
    assert_eq!(mute_bits(&chat_log(&mut late, 1).await), [0], "unmuted now");
    // Muted again and gone: no current state; the `k` logged with the line (bit 0, since a muted
    // member cannot chat) is replayed, still defining the key of the line.
    boss.send(&command(
        "mute",
        vec!["talker".into(), Field::Num(5), "".into()],
    ))
    .await;
    assert_eq!(num(&late.expect("s").await, 0), 4);
    talker.send(&Line::new("disconnect")).await;
    late.expect("o").await;
    let log = chat_log(&mut late, 1).await;
    assert_eq!(key(&log[0].0), key(&talker_k));
    assert_eq!(nick(&log[0].0), "talker");
    assert_eq!(mute_bits(&log), [0], "left");
}

// ---- Tests added by mutation testing (each kills a mutant that survived the suite above).

#[tokio::test]
async fn token_time_too_far_in_the_future_is_205() {
    // "`time` within `--time-skew` (default 300 s) of the server clock (205)": both directions.
    let sim = Sim::start(&["--room", "club:token=tok"]);
    let mut c = sim.connect().await;
    c.send(&member_join(
        "club",
        "tok",
        now() + 1000,
        "f",
        "f",
        "member",
    ))
    .await;
    c.expect_err(205).await;
    c.send(&member_join("club", "tok", now() + 100, "f", "f", "member"))
        .await;
    c.expect_joined().await;
}

#[tokio::test]
async fn password_must_be_equal_not_a_prefix() {
    // "password rooms: password sent (701) and equal (208)".
    let sim = Sim::start(&["--room", "vip:password=pw"]);
    let mut c = sim.connect().await;
    for wrong in ["p", "pwx", "PW"] {
        c.send(&join_line("vip", &UserData::guest(Some("x")), SESSION, Some(wrong)).unwrap())
            .await;
        c.expect_err(208).await;
    }
}

#[tokio::test]
async fn guest_nicks_are_unique_in_the_room() {
    // "A join without nick gets `손님NNNN` (four random digits, unique in the room)". 400 guests
    // among 9000 numbers collide with probability > 99.9 %, so a sim that does not keep them
    // unique answers one of these joins with ERR 301.
    let sim = Sim::start(&["--room", "lobby", "--flood", "0"]);
    let mut clients = Vec::new();
    let mut nicks = std::collections::HashSet::new();
    for _ in 0..400 {
        let mut c = sim.connect().await;
        c.send(&join_line("lobby", &UserData::guest(None), SESSION, None).unwrap())
            .await;
        let l = c.next().await;
        assert_eq!(l.key, "i1", "guest join #{} refused: {l}", clients.len());
        let k = c.next().await;
        assert!(nicks.insert(nick(&k)), "duplicate guest nick {}", nick(&k));
        // Stays connected (its nick stays taken); the others' k + j pile up unread (a few KB).
        clients.push(c);
    }
}

#[tokio::test]
async fn k_line_fields_in_protocol_order_and_guest_auth_0() {
    // PROTOCOL.md §3.2 `k`: key | nick | id | level | auth | icons | nickcon | time | mute |
    // session | profileimg; "`guest` 0"; profileimg takes part in the hash (§4.7-2).
    let sim = Sim::start(&["--room", "club:token=tok"]);
    let fields = UserFields {
        nick: Some("n1".into()),
        id: Some("id1".into()),
        level: Some("7".into()),
        auth: Some("guest".into()),
        icons: Some("ic1".into()),
        nickcon: Some("nc1".into()),
        profileimg: Some("pimg1".into()),
        ..UserFields::default()
    };
    let mut c = sim.connect().await;
    c.send(&token_join("club", "tok", now(), &fields)).await;
    let k = c.expect_joined().await;
    let s = |i: usize| k.field(i).and_then(Field::as_str).map(str::to_owned);
    assert_eq!(s(1).as_deref(), Some("n1"));
    assert_eq!(s(2).as_deref(), Some("id1"));
    assert_eq!(s(3).as_deref(), Some("7"));
    assert_eq!(num(&k, 4), 0, "guest auth in a token room is 0");
    assert_eq!(s(5).as_deref(), Some("ic1"));
    assert_eq!(s(6).as_deref(), Some("nc1"));
    assert!((num(&k, 7) - now()).abs() <= 5);
    assert_eq!(num(&k, 8), 0);
    assert_eq!(s(10).as_deref(), Some("pimg1"));
    // a tampered profileimg is a hash mismatch
    let mut j = token_join(
        "club",
        "tok",
        now(),
        &UserFields {
            nick: Some("n2".into()),
            ..fields
        },
    );
    j.fields[14] = "other.png".into();
    let mut d = sim.connect().await;
    d.send(&j).await;
    d.expect_err(202).await;
}

#[tokio::test]
async fn chat_log_keeps_the_newest_100_oldest_first() {
    // "`chatList N` → the last N (≤ 100) chat lines".
    let sim = Sim::start(&["--flood", "0", "--repeat-limit", "0"]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    for i in 0..101 {
        a.send(&chat(&format!("line {i}"))).await;
        a.expect("m").await;
    }
    let (mut b, _) = sim.join("lobby", Some("b")).await;
    b.send(&command("chatList", vec![Field::Num(100)])).await;
    let mut texts = Vec::new();
    for _ in 0..100 {
        assert_eq!(b.next().await.key, "k");
        let m = b.next().await;
        texts.push(m.field(2).and_then(Field::as_str).unwrap().to_owned());
    }
    let want: Vec<String> = (1..101).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, want);
    b.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn moderation_limits_equal_auth_zero_minutes_unmute_clear_log_and_ban_by_id() {
    let sim = Sim::start(&["--room", "club:token=tok"]);
    let (mut boss, _) = sim.join_member("club", "tok", "boss", "subadmin").await;
    let (_peer, _) = sim.join_member("club", "tok", "peer", "subadmin").await; // stays
    let (mut user, _) = sim.join_member("club", "tok", "user", "member").await;
    boss.expect("j").await;
    boss.expect("j").await;
    // equal auth: 427, and nobody is muted or banned
    boss.send(&command(
        "mute",
        vec!["peer".into(), Field::Num(5), "".into()],
    ))
    .await;
    boss.expect_err(427).await;
    boss.send(&command(
        "ban",
        vec!["peer".into(), Field::Num(0), "".into()],
    ))
    .await;
    boss.expect_err(427).await;
    // 0 and other negative minutes: 412
    for minutes in [0, -2] {
        boss.send(&command(
            "mute",
            vec!["user".into(), Field::Num(minutes), "".into()],
        ))
        .await;
        boss.expect_err(412).await;
    }
    // "`unmute` … and `clearLog` … need auth ≥ 2 (ERR 402)"
    boss.send(&command(
        "mute",
        vec!["peer".into(), Field::Num(-1), "".into()],
    ))
    .await; // 427 again, so mute the member instead
    boss.expect_err(427).await;
    boss.send(&command(
        "mute",
        vec!["user".into(), Field::Num(5), "".into()],
    ))
    .await;
    assert_eq!(num(&user.expect("s").await, 0), 4);
    user.send(&command("unmute", vec!["user".into()])).await;
    user.expect_err(402).await;
    user.send(&command("clearLog", vec![])).await;
    user.expect_err(402).await;
    // ban: "cannot rejoin with that nick or id", and 408 comes before 301 (join check order)
    boss.send(&command(
        "ban",
        vec!["user".into(), Field::Num(0), "".into()],
    ))
    .await;
    user.expect_closed(WAIT).await;
    let mut again = sim.connect().await;
    again
        .send(&member_join(
            "club",
            "tok",
            now(),
            "new-name",
            "id-user",
            "member",
        ))
        .await;
    again.expect_err(408).await;
    again
        .send(&member_join(
            "club",
            "tok",
            now(),
            "peer",
            "id-user",
            "member",
        ))
        .await;
    again.expect_err(408).await;
}

#[tokio::test]
async fn length_limits_are_exclusive_bounds() {
    // "a line over `--max-line` bytes → ERR 105; a string or binary field over `--max-field`
    // bytes → ERR 401": exactly the limit is accepted.
    let sim = Sim::start(&["--max-field", "50"]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    a.send(&chat(&"y".repeat(50))).await;
    assert_eq!(
        a.expect("m")
            .await
            .field(2)
            .and_then(Field::as_str)
            .map(str::len),
        Some(50)
    );
    a.send(&chat(&"y".repeat(51))).await;
    a.expect_err(401).await;

    let sim = Sim::start(&["--max-line", "200", "--max-field", "1000"]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    let n = (1..400)
        .find(|&n| {
            uchat_bot::codec::encode(&chat(&"x".repeat(n)))
                .unwrap()
                .len()
                - 1
                == 200
        })
        .expect("a 200-byte line");
    a.send(&chat(&"x".repeat(n))).await;
    assert_eq!(
        a.expect("m")
            .await
            .field(2)
            .and_then(Field::as_str)
            .map(str::len),
        Some(n)
    );
    a.send(&chat(&"z".repeat(n + 1))).await;
    a.expect_err(105).await;
}

#[tokio::test]
async fn whispers_are_flood_controlled_and_the_window_slides() {
    // "Flood control for `m` and whispers: more than `--flood LINES/SECS` … sliding window".
    let sim = Sim::start(&["--flood", "2/3", "--repeat-limit", "0"]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    let (mut b, _) = sim.join("lobby", Some("b")).await;
    a.expect("j").await;
    for i in 0..2 {
        a.send(&command(
            "whisper",
            vec!["b".into(), "".into(), format!("w{i}").into()],
        ))
        .await;
        a.expect("w").await;
        b.expect("w").await;
    }
    a.send(&command(
        "whisper",
        vec!["b".into(), "".into(), "w2".into()],
    ))
    .await;
    a.expect_err(425).await;
    // 1.8 s later the three lines above are still inside the 3 s window
    tokio::time::sleep(Duration::from_millis(1800)).await;
    a.send(&chat("still too soon")).await;
    a.expect_err(425).await;
}

#[tokio::test]
async fn configured_notice_is_in_notice_list() {
    let sim = Sim::start(&["--room", "lobby:notice=환영합니다"]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    a.send(&command("noticeList", vec![])).await;
    let s = a.expect("s").await;
    assert_eq!(
        (num(&s, 0), s.field(1).and_then(Field::as_str)),
        (12, Some("환영합니다"))
    );
}
