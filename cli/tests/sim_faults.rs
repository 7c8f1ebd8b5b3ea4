//! `uchat sim` process, HTTP and fault-injection tests (issue #3 items 1, 4, 5).

mod sim_util;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sim_util::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use uchat_bot::codec::{Decoder, Field, Line};
use uchat_bot::token::{join_line, UserData, UserFields};

#[tokio::test]
async fn first_line_logs_and_clean_sigterm() {
    let mut sim = Sim::start_logged(&["--room", "lobby:token=never-printed"]);
    let port: u16 = sim
        .addr
        .strip_prefix("127.0.0.1:")
        .expect("binds 127.0.0.1")
        .parse()
        .unwrap();
    assert_ne!(port, 0, "prints the real port");
    let mut a = sim.connect().await;
    a.send(&join_line("lobby-x", &UserData::guest(Some("a")), SESSION, None).unwrap())
        .await;
    a.expect_err(201).await;
    sim.wait_log("connected");
    sim.wait_log("ERR 201");
    let code = sim.stop_with("TERM");
    assert!(code.success(), "exit status {code:?}");
    // The log never contains the room token.
    let rx = sim.stderr.take().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().all(|l| !l.contains("never-printed")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn join_leave_log_lines() {
    let sim = Sim::start_logged(&[]);
    sim.wait_log("room \"lobby\"");
    let (mut a, _) = sim.join("lobby", Some("logged")).await;
    sim.wait_log("connected");
    sim.wait_log("joined \"lobby\" as \"logged\"");
    a.send(&command("teleport", vec![])).await;
    sim.wait_log("ERR 403 unknown_command");
    a.send(&Line::new("disconnect")).await;
    sim.wait_log("\"logged\" left \"lobby\"");
    sim.wait_log("closed");
}

#[tokio::test]
async fn hijack200_answers_upgrades_with_html() {
    let sim = Sim::start(&["--fault", "hijack200"]);
    let resp = http_raw(
        &sim.addr,
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("text/html"));
    assert!(text.contains("<html"));
    let tcp = TcpStream::connect(&sim.addr).await.unwrap();
    let r = tokio_tungstenite::client_async(sim.url.as_str(), tcp).await;
    assert!(r.is_err(), "a WebSocket client must fail the handshake");
}

#[tokio::test]
async fn refuse_closes_right_after_upgrade() {
    let sim = Sim::start(&["--fault", "refuse"]);
    let mut c = sim.connect().await;
    c.expect_closed(WAIT).await;
}

#[tokio::test]
async fn hold_never_answers_the_upgrade() {
    let sim = Sim::start_logged(&["--fault", "hold"]);
    let tcp = TcpStream::connect(&sim.addr).await.unwrap();
    let handshake = tokio_tungstenite::client_async(sim.url.as_str(), tcp);
    let r = tokio::time::timeout(Duration::from_millis(700), handshake).await;
    assert!(r.is_err(), "the handshake must still be waiting");
    sim.wait_log("fault hold");
    // Plain HTTP is still served (the page of a demo behind a holding proxy is not the point).
    let resp = http_raw(&sim.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 426"));
}

#[tokio::test]
async fn drop_after_drops_connections() {
    let sim = Sim::start(&["--fault", "drop-after=1"]);
    let t = Instant::now();
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    a.expect_closed(Duration::from_secs(4)).await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
}

#[tokio::test]
async fn idle_timeout_closes_silent_clients_only() {
    let sim = Sim::start(&["--fault", "idle-timeout=1"]);
    let (mut quiet, _) = sim.join("lobby", Some("quiet")).await;
    let (mut talker, _) = sim.join("lobby", Some("talker")).await;
    let t = Instant::now();
    // talker sends a keepalive every 200 ms for 1.8 s and stays connected
    while t.elapsed() < Duration::from_millis(1800) {
        talker.send(&Line::new("p")).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    quiet.expect_closed(Duration::from_secs(2)).await;
    let o = talker.expect("o").await;
    assert_eq!(o.field(0).and_then(Field::as_str), Some("quiet"));
    talker.chat_echoed("alive").await;
}

#[tokio::test]
async fn split_frames_splits_inside_lines() {
    let sim = Sim::start(&["--fault", "split-frames"]);
    let (mut a, k) = sim.join("lobby", Some("split")).await;
    let text = "줄을 나누어도 그대로 \\ \n 도착해야 합니다 ".repeat(5);
    for _ in 0..3 {
        a.send(&chat(&text)).await;
        let m = a.expect("m").await;
        assert_eq!(m.field(2).and_then(Field::as_str), Some(text.as_str()));
        assert_eq!(m.field(0), k.field(0));
    }
    assert!(a.messages > 4, "only {} WebSocket messages", a.messages);
    assert!(
        a.raw.iter().any(|m| m.last() != Some(&b'\n')),
        "no message ended inside a line"
    );
    // the pieces decode to exactly what one decoder sees from the concatenation
    let mut d = Decoder::new();
    let lines = d.feed(&a.raw.concat());
    assert!(lines.iter().all(Result::is_ok));
    assert!(d.rest().is_empty());
}

#[tokio::test]
async fn delay_holds_every_message() {
    let sim = Sim::start(&["--fault", "delay=300"]);
    let mut c = sim.connect().await;
    let t = Instant::now();
    c.send(&join_line("lobby", &UserData::guest(Some("slow")), SESSION, None).unwrap())
        .await;
    c.expect_joined().await;
    assert!(
        t.elapsed() >= Duration::from_millis(290),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    c.send(&chat("x")).await;
    c.expect("m").await;
    assert!(
        t.elapsed() >= Duration::from_millis(290),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn www_serves_files_and_upgrades_on_any_path() {
    let dir = std::env::temp_dir().join(format!("uchat-sim-www-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>bot</h1>").unwrap();
    std::fs::write(dir.join("pkg/bot.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("pkg/bot.js"), "export {}").unwrap();
    let sim = Sim::start(&["--www", dir.to_str().unwrap()]);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = String::from_utf8_lossy(&http_raw(&sim.addr, &get("/")).await).into_owned();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("Content-Type: text/html; charset=utf-8"));
    assert!(r.ends_with("<h1>bot</h1>"));
    let r = http_raw(&sim.addr, &get("/pkg/bot.wasm?v=2")).await;
    let r = String::from_utf8_lossy(&r);
    assert!(r.contains("Content-Type: application/wasm"), "{r}");
    let r = http_raw(&sim.addr, &get("/pkg/bot.js")).await;
    assert!(String::from_utf8_lossy(&r).contains("Content-Type: text/javascript"));
    for bad in ["/../../etc/passwd", "/pkg/%2e%2e/%2e%2e/etc/passwd"] {
        let r = http_raw(&sim.addr, &get(bad)).await;
        assert!(
            String::from_utf8_lossy(&r).starts_with("HTTP/1.1 403"),
            "{bad}"
        );
    }
    let r = http_raw(&sim.addr, &get("/missing.txt")).await;
    assert!(String::from_utf8_lossy(&r).starts_with("HTTP/1.1 404"));
    let mut c = sim.connect_path("/any/path/chat").await;
    c.send(&join_line("lobby", &UserData::guest(None), SESSION, None).unwrap())
        .await;
    c.expect_joined().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn config_file_and_crowd() {
    let dir = std::env::temp_dir().join(format!("uchat-sim-cfg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("sim.toml");
    std::fs::write(
        &cfg,
        r#"
listen = "127.0.0.1:0"
crowd = 3
crowd_interval = 0.2
crowd_stay = 1.0
crowd_room = "plaza"
rooms = ["plaza:title=Plaza"]
[[room]]
name = "secret"
password = "pw"
"#,
    )
    .unwrap();
    let sim = Sim::start(&["--config", cfg.to_str().unwrap()]);
    let mut c = sim.connect().await;
    c.send(&join_line("secret", &UserData::guest(None), SESSION, None).unwrap())
        .await;
    c.expect_err(701).await;
    c.send(&join_line("plaza", &UserData::guest(Some("me")), SESSION, None).unwrap())
        .await;
    let i1 = c.next().await;
    assert_eq!(i1.field(0).and_then(Field::as_str), Some("Plaza"));
    // the crowd (in the first room) joins, chats and leaves again
    let (mut saw_j, mut saw_m, mut saw_o) = (false, false, false);
    let t = Instant::now();
    while !(saw_j && saw_m && saw_o) && t.elapsed() < Duration::from_secs(8) {
        match c.next_within(Duration::from_millis(500)).await {
            Some(l) if l.key == "j" => saw_j = true,
            Some(l) if l.key == "m" => saw_m = true,
            Some(l) if l.key == "o" => saw_o = true,
            _ => {}
        }
    }
    assert!(
        saw_j && saw_m && saw_o,
        "crowd j/m/o: {saw_j} {saw_m} {saw_o}"
    );
    // the crowd's room is in the user list
    c.send(&command("userList", vec![Field::Num(100), "".into()]))
        .await;
    c.expect("u").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_flags_exit_2() {
    for args in [
        vec!["sim", "--room", "x:colour=red"],
        vec!["sim", "--fault", "teleport"],
        vec!["sim", "--flood", "lots"],
        vec!["sim", "--crowd", "1", "--crowd-room", "nowhere"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_uchat"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

#[tokio::test]
async fn text_frame_close_frame_do_not_hurt() {
    let sim = Sim::start(&[]);
    let (mut a, _) = sim.join("lobby", Some("a")).await;
    let (mut b, _) = sim.join("lobby", Some("b")).await;
    b.ws.close(None).await.unwrap();
    assert_eq!(
        a.expect("o").await.field(0).and_then(Field::as_str),
        Some("b")
    );
}

#[tokio::test]
async fn sigint_stops_cleanly_with_clients_connected() {
    let mut sim = Sim::start(&[]);
    let (_a, _) = sim.join("lobby", Some("a")).await;
    let code = sim.stop_with("INT");
    assert!(code.success(), "exit status {code:?}");
}

#[tokio::test]
async fn plain_http_without_www_gets_426_and_head_works_with_www() {
    let sim = Sim::start(&[]);
    let r = http_raw(&sim.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&r).starts_with("HTTP/1.1 426"));
    let dir = std::env::temp_dir().join(format!("uchat-sim-head-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.mjs"), "export const x = 1;").unwrap();
    let sim = Sim::start(&["--www", dir.to_str().unwrap()]);
    let r = http_raw(&sim.addr, "HEAD /app.mjs HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = String::from_utf8_lossy(&r).into_owned();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("Content-Type: text/javascript"));
    assert!(r.contains("Content-Length: 19"));
    assert!(r.ends_with("\r\n\r\n"), "HEAD has no body: {r:?}");
    let r = http_raw(&sim.addr, "POST /app.mjs HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = String::from_utf8_lossy(&r).into_owned();
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    // RFC 9110 §15.5.6: a 405 names the methods that are allowed.
    assert!(r.contains("\r\nAllow: GET, HEAD\r\n"), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A whole response split at the end of its head: (status line and headers, body bytes).
fn split_response(r: &[u8]) -> (String, Vec<u8>) {
    let end = r
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(r)))
        + 4;
    (
        String::from_utf8_lossy(&r[..end]).into_owned(),
        r[end..].to_vec(),
    )
}

/// The `Content-Length` a response head states.
fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"))
        .trim()
        .parse()
        .unwrap()
}

/// RFC 9110 §9.3.2: the answer to a `HEAD` is the `GET`'s status and headers without content,
/// whatever the status. Checks that the `GET` has a body of the stated length and the `HEAD`
/// the same status and `Content-Length` and no body; returns the `HEAD`'s head.
async fn head_like_get(addr: &str, target: &str, status: &str) -> String {
    let ask = |method: &str| format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    let (get, body) = split_response(&http_raw(addr, &ask("GET")).await);
    assert!(get.starts_with(status), "GET {target}: {get}");
    assert!(!body.is_empty(), "GET {target} has a body");
    assert_eq!(content_length(&get), body.len(), "GET {target}: {get}");
    let (head, body) = split_response(&http_raw(addr, &ask("HEAD")).await);
    assert!(head.starts_with(status), "HEAD {target}: {head}");
    assert_eq!(content_length(&head), content_length(&get), "HEAD {target}");
    assert!(
        body.is_empty(),
        "HEAD {target} got a body: {:?}",
        String::from_utf8_lossy(&body)
    );
    head
}

#[tokio::test]
async fn head_requests_get_no_body_whatever_the_status() {
    // Without --www: 426 (before: the HEAD answer carried the GET's text).
    let sim = Sim::start(&[]);
    let head = head_like_get(&sim.addr, "/", "HTTP/1.1 426").await;
    assert!(head.contains("Upgrade: websocket\r\n"), "{head}");
    // A HEAD that asks for an upgrade is refused (it must be a GET), without a body either.
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let (head, body) = split_response(
        &http_raw(
            &sim.addr,
            &format!("HEAD / HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n"),
        )
        .await,
    );
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(body.is_empty(), "{:?}", String::from_utf8_lossy(&body));
    // With --www: the error statuses too.
    let dir = std::env::temp_dir().join(format!("uchat-sim-head-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
    let sim = Sim::start(&["--www", dir.to_str().unwrap()]);
    head_like_get(&sim.addr, "/", "HTTP/1.1 200").await;
    head_like_get(&sim.addr, "/missing.js", "HTTP/1.1 404").await;
    head_like_get(&sim.addr, "/%2e%2e/x", "HTTP/1.1 403").await;
    head_like_get(&sim.addr, "/%zz", "HTTP/1.1 400").await;
    let _ = std::fs::remove_dir_all(&dir);
    // The hijack200 fault's page.
    let sim = Sim::start(&["--fault", "hijack200"]);
    head_like_get(&sim.addr, "/", "HTTP/1.1 200").await;
}

#[tokio::test]
async fn crowd_joins_token_rooms_too() {
    let sim = Sim::start(&[
        "--room",
        "club:token=crowd-secret",
        "--crowd",
        "2",
        "--crowd-interval",
        "0.2",
        "--crowd-stay",
        "5",
    ]);
    let mut c = sim.connect().await;
    c.send(&token_join(
        "club",
        "crowd-secret",
        now(),
        &UserFields::default(),
    ))
    .await;
    c.expect_joined().await;
    let m = c.expect("m").await;
    assert!(m.field(2).and_then(Field::as_str).is_some());
}

/// Fills `lobby` with 100 chat lines of `len` + 3 bytes of text (`len` 2000: a `chatList 100`
/// answer is then ~205 KB) and returns the member that sent them. Each line's echo is read
/// before the next is sent, so the filler's own outbox stays small whatever `len` is.
async fn fill_lobby(sim: &Sim, len: usize) -> Client {
    let (mut filler, _) = sim.join("lobby", Some("filler")).await;
    for i in 0..100 {
        filler
            .send(&chat(&format!("{i:03}{}", "x".repeat(len))))
            .await;
        filler.expect("m").await;
    }
    filler
}

/// Sim flags for [`fill_lobby`] with lines of ~50 KB (line and field limits raised; no flood or
/// repeat limits): a `chatList 100` answer is then ~5.0 MB, over the 4 MiB outbox budget.
const BIG_LINES: &[&str] = &[
    "--flood",
    "0",
    "--repeat-limit",
    "0",
    "--max-line",
    "60000",
    "--max-field",
    "55000",
];

/// `n` `chatList 100` requests, encoded back to back (one WebSocket frame).
fn chat_lists(n: usize) -> Vec<u8> {
    let one = uchat_bot::codec::encode(&command("chatList", vec![Field::Num(100)])).unwrap();
    one.repeat(n)
}

/// A client that stops reading while the server has a lot to send it is disconnected, and the
/// server does not keep its backlog: once more than the outbox budget (4 MiB) is queued unread
/// the connection is kicked, the writer gets its 2 s flush grace, and then the socket is closed
/// with whatever was still queued. The client sends one more frame after the kick, which the
/// server no longer reads, so the close is a TCP reset that also discards the server's kernel
/// send buffer: reading only afterwards, the client gets what its own small receive buffer held
/// and then the end. (Before: the 200 `chatList 100` answers, ~41 MB, were all queued and the
/// connection stayed open; with a budget but a writer left running, the whole >4 MiB backlog
/// still reached the client.)
#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_its_backlog_dropped() {
    let sim = Sim::start(&["--flood", "0", "--repeat-limit", "0"]);
    let mut filler = fill_lobby(&sim, 2000).await;

    // The lazy client: a small receive buffer, one frame with 200 `chatList 100` requests
    // (each answer is 100 × (k + m) ≈ 205 KB), then no reading.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = tokio::time::timeout(WAIT, sock.connect(sim.addr.parse().unwrap()))
        .await
        .expect("connect timeout")
        .expect("connect");
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(&sim.url, tcp))
        .await
        .expect("handshake timeout")
        .expect("handshake");
    let mut frame = uchat_bot::codec::encode(
        &join_line("lobby", &UserData::guest(Some("lazy")), SESSION, None).unwrap(),
    )
    .unwrap();
    frame.extend(chat_lists(200));
    tokio::time::timeout(WAIT, ws.send(Message::Binary(Bytes::from(frame))))
        .await
        .expect("send timeout")
        .expect("send");
    // The server holds the requests once 2 MiB wait for this client, and kicks it after 5 s
    // of not reading; this frame waits unread behind them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ping = uchat_bot::codec::encode(&Line::new("p")).unwrap();
    tokio::time::timeout(WAIT, ws.send(Message::Binary(Bytes::from(ping))))
        .await
        .expect("send timeout")
        .expect("send");
    // Past the kick (5 s) and the server's flush grace (2 s after it), with a margin.
    tokio::time::sleep(Duration::from_secs(9)).await;

    const LIMIT: usize = 2 << 20; // half the outbox budget
    let mut received = 0usize;
    let deadline = tokio::time::Instant::now() + 2 * WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("connection still open after {received} bytes"),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(m))) => received += m.len(),
        }
        eprintln!("received {received} bytes so far");
        assert!(
            received < LIMIT,
            "received {received} bytes after the server should have dropped the backlog"
        );
    }
    // The server is fine and the others were not hurt.
    filler.chat_echoed("still here").await;
}

/// A client that asks for much more than the outbox budget in one frame and reads it all is
/// served, not kicked: its own requests wait for it to read (backpressure).
#[tokio::test]
async fn a_client_that_asks_for_a_lot_and_reads_is_served() {
    let sim = Sim::start(&["--flood", "0", "--repeat-limit", "0"]);
    let _filler = fill_lobby(&sim, 2000).await; // stays in the room
    let (mut reader, _) = sim.join("lobby", Some("reader")).await;
    // 40 answers of ~205 KB each, ~8 MB: twice the budget, asked in one frame.
    let frame = chat_lists(40);
    reader.send_raw(&frame).await;
    let mut chat_lines = 0;
    while chat_lines < 40 * 100 {
        let l = reader.next().await; // panics if the server closes the connection
        if l.key == "m" {
            chat_lines += 1;
        }
    }
}

/// An answer larger than the whole outbox budget (4 MiB) is not queued, even for a client that
/// reads: the client is kicked, and the log says why. One just under the budget is served.
/// (Before: the 5 MB `chatList 100` answer was queued whole and sent.)
#[tokio::test]
async fn an_answer_larger_than_the_outbox_budget_kicks_instead_of_being_queued() {
    let sim = Sim::start_logged(BIG_LINES);
    let mut filler = fill_lobby(&sim, 50_000).await;
    let (mut reader, _) = sim.join("lobby", Some("reader")).await;
    // 80 lines, ~4.0 MB: within the budget, served whole.
    reader
        .send(&command("chatList", vec![Field::Num(80)]))
        .await;
    for _ in 0..80 {
        assert_eq!(reader.next().await.key, "k");
        assert_eq!(reader.next().await.key, "m");
    }
    // 100 lines, ~5.0 MB: not sent; the connection closes without any of it.
    reader
        .send(&command("chatList", vec![Field::Num(100)]))
        .await;
    match tokio::time::timeout(WAIT, reader.ws.next()).await {
        Err(_) => panic!("connection still open"),
        Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {}
        Ok(Some(Ok(m))) => panic!("got {} bytes of the oversized answer", m.len()),
    }
    let log = sim.wait_log("kicked: ");
    assert!(log.contains("more than the outbox budget"), "{log}");
    assert!(log.contains("not sent"), "{log}");
    // The server and the others are fine.
    filler.chat_echoed("still here").await;
}

/// Once an oversized answer has kicked a client, the rest of the frame that asked for it is
/// not handled: a chat line further on is not broadcast, and the further oversized answers are
/// not built. (Before: every line of the frame was still handled, the chat line reached the
/// room although its sender had been kicked.)
#[tokio::test]
async fn nothing_more_of_a_frame_is_handled_after_it_got_its_client_kicked() {
    let sim = Sim::start_logged(BIG_LINES);
    let mut filler = fill_lobby(&sim, 50_000).await;
    let (mut kicked, _) = sim.join("lobby", Some("kicked")).await;
    // One frame: three `chatList 100` (~5.0 MB each, over the 4 MiB budget), then a chat line.
    let mut frame = chat_lists(3);
    frame.extend(uchat_bot::codec::encode(&chat("after the kick")).unwrap());
    kicked.send_raw(&frame).await;
    kicked.expect_closed(WAIT).await;
    let log = sim.wait_log("kicked: ");
    assert!(log.contains("not sent"), "{log}");
    // The room never gets the chat line: the next chat line the filler sees is its own.
    filler.send(&chat("still here")).await;
    let m = filler.expect("m").await;
    assert_eq!(
        m.field(2).and_then(Field::as_str),
        Some("still here"),
        "{m}"
    );
}

/// A ban's `s 1` and `ERR 408` reach the victim behind `--fault delay` longer than the flush
/// grace's base (each message waits 1.2 s, and the writer is mid-delay when the ban comes).
#[tokio::test]
async fn a_ban_is_delivered_behind_a_long_delay() {
    let sim = Sim::start(&["--room", "club:token=tok", "--fault", "delay=1200"]);
    let (mut admin, _) = sim.join_member("club", "tok", "boss", "subadmin").await;
    let (mut user, _) = sim.join_member("club", "tok", "user", "member").await;
    admin.expect("j").await;
    // A line for the user just before the ban, so its writer is sleeping when the ban comes.
    admin.send(&chat("last words")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    admin
        .send(&command(
            "ban",
            vec!["user".into(), Field::Num(0), "spam".into()],
        ))
        .await;
    user.expect("m").await;
    let s = user.expect("s").await;
    assert_eq!(s.field(0).and_then(Field::as_i64), Some(1));
    user.expect_err(408).await;
}

/// Sends a raw request and returns the status line and headers (names lower-cased) of the
/// answer, reading only up to the end of its head (a `101` keeps the connection open).
async fn response_head(addr: &str, request: &str) -> (String, Vec<(String, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timeout")
        .expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut chunk)).await {
            Err(_) => panic!("no complete response head within {WAIT:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("").to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn handshake_refusals_follow_rfc_6455() {
    let sim = Sim::start(&[]);
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ=="; // RFC 6455's sample: 16 bytes
    let upgrade = |version: &str, host: bool, key: &str, ws_version: &str| {
        format!(
            "GET / HTTP/{version}\r\n{}Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {ws_version}\r\n\r\n",
            if host { "Host: x\r\n" } else { "" }
        )
    };
    // A wrong version: 400 naming the version spoken (§4.4).
    let (status, headers) = response_head(&sim.addr, &upgrade("1.1", true, KEY, "8")).await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert_eq!(header(&headers, "sec-websocket-version"), Some("13"));
    // Keys that are not the base64 of 16 bytes (§4.2.1 item 5).
    for key in [
        "abc",
        "dGhlIHNhbXBsZSBub25jZQ",   // no padding
        "dGhlIHNhbXBsZSBub25jZR==", // stray bits: not the encoding of any 16 bytes
        "AAAAAAAAAAAAAAAAAAAA",     // 15 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAA", // 18 bytes
        "dGhlIHNhbXBsZSBub2*jZQ==", // outside the alphabet
    ] {
        let (status, _) = response_head(&sim.addr, &upgrade("1.1", true, key, "13")).await;
        assert!(status.starts_with("HTTP/1.1 400"), "key {key:?}: {status}");
    }
    // HTTP/1.0, and HTTP/1.1 without Host (§4.2.1 items 1 and 2).
    let (status, _) = response_head(&sim.addr, &upgrade("1.0", true, KEY, "13")).await;
    assert!(status.starts_with("HTTP/1.1 400"), "HTTP/1.0: {status}");
    let (status, _) = response_head(&sim.addr, &upgrade("1.1", false, KEY, "13")).await;
    assert!(status.starts_with("HTTP/1.1 400"), "no Host: {status}");
    // A plain request gets 426 naming the protocol to upgrade to (RFC 7231 §6.5.15).
    let (status, headers) = response_head(&sim.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 426"), "{status}");
    assert_eq!(header(&headers, "upgrade"), Some("websocket"));
    let connection = header(&headers, "connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(connection.contains("upgrade"), "Connection: {connection}");
    // The valid key still upgrades.
    let (status, headers) = response_head(&sim.addr, &upgrade("1.1", true, KEY, "13")).await;
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    assert_eq!(
        header(&headers, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
}

// ---- Tests added by mutation testing (each kills a mutant that survived the suite above).

#[tokio::test]
async fn drop_after_drops_busy_connections_too() {
    // "Drop each connection … this long after the upgrade": activity does not postpone it.
    let sim = Sim::start(&["--fault", "drop-after=1"]);
    let (mut a, _) = sim.join("lobby", Some("busy")).await;
    let t = Instant::now();
    let mut closed = false;
    while t.elapsed() < Duration::from_secs(3) {
        if a.ws
            .send(Message::Binary(Bytes::from_static(b"p\n")))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), a.ws.next()).await {
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        closed,
        "a client sending every 100 ms was not dropped after 1 s"
    );
}

#[tokio::test]
async fn idle_timeout_counts_websocket_pings_as_traffic() {
    // "Drop connections that sent nothing for this long": a WebSocket ping is something sent.
    let sim = Sim::start(&["--fault", "idle-timeout=1"]);
    let (mut c, _) = sim.join("lobby", Some("pinger")).await;
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2500) {
        c.ws.send(Message::Ping(Bytes::from_static(b"x")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.chat_echoed("still here").await;
}

#[tokio::test]
async fn hijack200_answers_plain_requests_too() {
    // "Answer every HTTP request, upgrades included, with a plain `200 OK` HTML page."
    let sim = Sim::start(&["--fault", "hijack200"]);
    let r = http_raw(&sim.addr, "GET /x.js HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = String::from_utf8_lossy(&r);
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("<html"), "{r}");
}

#[cfg(unix)]
#[tokio::test]
async fn www_refuses_symlinks_that_leave_the_directory() {
    // "symlinks must stay inside DIR".
    let base = std::env::temp_dir().join(format!("uchat-sim-link-test-{}", std::process::id()));
    let dir = base.join("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(base.join("secret.txt"), "top secret").unwrap();
    std::fs::write(dir.join("inside.txt"), "fine").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), dir.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join("inside.txt"), dir.join("ok.txt")).unwrap();
    let sim = Sim::start(&["--www", dir.to_str().unwrap()]);
    let get = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = String::from_utf8_lossy(&http_raw(&sim.addr, &get("/leak.txt")).await).into_owned();
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    assert!(!r.contains("top secret"));
    let r = String::from_utf8_lossy(&http_raw(&sim.addr, &get("/ok.txt")).await).into_owned();
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("fine"), "{r}");
    let _ = std::fs::remove_dir_all(&base);
}
