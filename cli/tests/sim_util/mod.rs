//! Shared helpers for the `uchat sim` integration tests: start the built binary on
//! 127.0.0.1:0, talk to it with a real tokio-tungstenite client, every wait bounded.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;
use uchat_bot::codec::{encode, Decoder, Field, Line};
use uchat_bot::token::{build_user_data, join_line, UserData, UserFields};

/// How long any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(5);
/// The session string tests send in `j`.
pub const SESSION: &str = "0123456789abcdefghiklmnopqrstuvw";

/// A running `uchat sim` child process; killed on drop.
pub struct Sim {
    pub child: Child,
    /// `HOST:PORT`.
    pub addr: String,
    /// `ws://HOST:PORT/`.
    pub url: String,
    /// stderr lines, when captured.
    pub stderr: Option<mpsc::Receiver<String>>,
}

impl Sim {
    /// `uchat sim --listen 127.0.0.1:0 <args>`; stderr discarded.
    pub fn start(args: &[&str]) -> Sim {
        Sim::spawn(args, false)
    }

    /// Same, with stderr lines collected.
    pub fn start_logged(args: &[&str]) -> Sim {
        Sim::spawn(args, true)
    }

    fn spawn(args: &[&str], log: bool) -> Sim {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_uchat"));
        cmd.arg("sim");
        if !args.iter().any(|a| *a == "--listen" || *a == "--config") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if log { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().expect("spawn uchat sim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let stderr = if log {
            let err = child.stderr.take().expect("stderr");
            let (etx, erx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if etx.send(line).is_err() {
                        break;
                    }
                }
            });
            Some(erx)
        } else {
            None
        };
        let first = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("uchat sim printed no first line within 20 s");
            }
        };
        let first = first.trim_end_matches('\n');
        let Some(addr) = first.strip_prefix("listening ws://") else {
            let _ = child.kill();
            panic!("first stdout line is {first:?}, expected `listening ws://HOST:PORT`");
        };
        Sim {
            child,
            addr: addr.to_owned(),
            url: format!("ws://{addr}/"),
            stderr,
        }
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) to the sim and waits at most [`WAIT`] for it to exit;
    /// returns its exit status.
    pub fn stop_with(&mut self, signal: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sim did not stop on SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a stderr line containing `needle` (requires [`Sim::start_logged`]).
    pub fn wait_log(&self, needle: &str) -> String {
        let rx = self.stderr.as_ref().expect("start_logged");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no stderr line containing {needle:?} within {WAIT:?}"),
            }
        }
    }

    /// Connects a WebSocket client (path `/`).
    pub async fn connect(&self) -> Client {
        self.connect_path("/").await
    }

    /// Connects a WebSocket client on `path`.
    pub async fn connect_path(&self, path: &str) -> Client {
        let tcp = timeout(WAIT, TcpStream::connect(&self.addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        let url = format!("ws://{}{path}", self.addr);
        let (ws, _) = timeout(WAIT, tokio_tungstenite::client_async(url.as_str(), tcp))
            .await
            .expect("handshake timeout")
            .expect("handshake");
        Client {
            ws,
            decoder: Decoder::new(),
            pending: std::collections::VecDeque::new(),
            messages: 0,
            raw: Vec::new(),
        }
    }

    /// Connects and joins `room` as `nick` (guest join when `None`); returns the client and its
    /// own `k` line.
    pub async fn join(&self, room: &str, nick: Option<&str>) -> (Client, Line) {
        let mut c = self.connect().await;
        c.send(&join_line(room, &UserData::guest(nick), SESSION, None).unwrap())
            .await;
        let k = c.expect_joined().await;
        (c, k)
    }

    /// Connects and joins the token room `room` (secret `token`) as the member `nick` (id
    /// `id-NICK`) with `auth`; returns the client and its own `k` line.
    pub async fn join_member(
        &self,
        room: &str,
        token: &str,
        nick: &str,
        auth: &str,
    ) -> (Client, Line) {
        let mut c = self.connect().await;
        c.send(&member_join(
            room,
            token,
            now(),
            nick,
            &format!("id-{nick}"),
            auth,
        ))
        .await;
        let k = c.expect_joined().await;
        (c, k)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `j` line a browser sends for a token room (PHP user_data made with `time`).
pub fn token_join(room: &str, token: &str, time: i64, fields: &UserFields) -> Line {
    let built = build_user_data(room, token, time, fields).unwrap();
    join_line(room, &built.parse().unwrap(), SESSION, None).unwrap()
}

/// [`token_join`] of a member with a nick, an id and an auth (the other fields absent).
pub fn member_join(room: &str, token: &str, time: i64, nick: &str, id: &str, auth: &str) -> Line {
    token_join(
        room,
        token,
        time,
        &UserFields {
            nick: Some(nick.into()),
            id: Some(id.into()),
            auth: Some(auth.into()),
            ..UserFields::default()
        },
    )
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A test WebSocket client with a streaming decoder.
pub struct Client {
    pub ws: WebSocketStream<TcpStream>,
    decoder: Decoder,
    pending: std::collections::VecDeque<Line>,
    /// WebSocket messages received so far.
    pub messages: usize,
    /// Every received binary message, in order.
    pub raw: Vec<Vec<u8>>,
}

impl Client {
    pub async fn send(&mut self, line: &Line) {
        self.send_raw(&encode(line).unwrap()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        timeout(
            WAIT,
            self.ws.send(Message::Binary(Bytes::from(bytes.to_vec()))),
        )
        .await
        .expect("send timeout")
        .expect("send");
    }

    /// Next line within `wait`; `None` on timeout; panics if the connection ends.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Line> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(l) = self.pending.pop_front() {
                return Some(l);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = timeout(left, self.ws.next()).await.ok()?;
            let data = match msg {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Text(t))) => Bytes::from(t),
                Some(Ok(_)) => continue,
                other => panic!("connection ended while waiting for a line: {other:?}"),
            };
            self.messages += 1;
            self.raw.push(data.to_vec());
            for l in self.decoder.feed(&data) {
                self.pending
                    .push_back(l.unwrap_or_else(|e| panic!("server sent a bad line: {e}")));
            }
            if deadline <= tokio::time::Instant::now() && self.pending.is_empty() {
                return None;
            }
        }
    }

    /// Next line; panics after [`WAIT`].
    pub async fn next(&mut self) -> Line {
        self.next_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no line within {WAIT:?}"))
    }

    /// Skips lines until one with `key`.
    pub async fn expect(&mut self, key: &str) -> Line {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(l) if l.key == key => return l,
                Some(_) => {}
                None => panic!("no {key:?} line within {WAIT:?}"),
            }
        }
    }

    /// The next line must be `ERR code`.
    pub async fn expect_err(&mut self, code: i64) {
        let l = self.next().await;
        assert_eq!(l.key, "ERR", "expected ERR {code}, got {l}");
        assert_eq!(l.field(0).and_then(Field::as_i64), Some(code), "got {l}");
    }

    /// After `j`: `i1`, own `k`, `i2` in this order; returns the `k`.
    pub async fn expect_joined(&mut self) -> Line {
        let i1 = self.next().await;
        assert_eq!(i1.key, "i1", "expected i1, got {i1}");
        let k = self.next().await;
        assert_eq!(k.key, "k", "expected k, got {k}");
        let i2 = self.next().await;
        assert_eq!(i2.key, "i2", "expected i2, got {i2}");
        assert_eq!(i2.field(0), k.field(0), "i2 key differs from k key");
        k
    }

    /// Sends the chat line `text` and expects the room's echo of it (the next `m`): this
    /// client is still joined and may talk.
    pub async fn chat_echoed(&mut self, text: &str) {
        self.send(&chat(text)).await;
        assert_eq!(
            self.expect("m").await.field(2).and_then(Field::as_str),
            Some(text)
        );
    }

    /// No line arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(l) = self.next_within(wait).await {
            panic!("expected nothing, got {l}");
        }
    }

    /// The connection ends within `wait` (close frame, EOF or reset); lines before are ignored.
    pub async fn expect_closed(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match timeout(left, self.ws.next()).await {
                Err(_) => panic!("connection still open after {wait:?}"),
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

/// A command line: `command | name | args…`.
pub fn command(name: &str, args: Vec<Field>) -> Line {
    let mut l = Line::new("command").with(name);
    l.fields.extend(args);
    l
}

/// `m | style | text`.
pub fn chat(text: &str) -> Line {
    Line::new("m").with("").with(text)
}

/// Sends a raw HTTP request and reads the whole response (the server closes).
pub async fn http_raw(addr: &str, request: &str) -> Vec<u8> {
    let mut s = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timeout")
        .expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("response timeout");
    out
}

/// Blocking read of everything (for std streams).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
