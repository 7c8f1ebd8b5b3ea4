//! `uchat bench-sim`: load figure for the sim (issue #3 item 6). K WebSocket clients join rooms
//! of at most `--room-size` members, each sends `--messages` chat lines at `--rate` lines/s, and
//! every client measures the relay latency (send → receipt) of every `m` line it receives.
//!
//! Without `--url` it starts its own sim in-process on 127.0.0.1:0 with `--auto-rooms`, flood
//! control off and no per-connection logs. Against an external sim use
//! `uchat sim --auto-rooms --flood 0 --repeat-limit 0 -q`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore};
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use uchat_bot::codec::{encode, Decoder, Field, Line};
use uchat_bot::token::{join_line, random_session, UserData};

use super::config::Settings;

/// Flags of `uchat bench-sim`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Each client joins, then sends its lines at the given rate (random start offset); every client
measures send -> receipt of every relayed `m` line of its room (the sender's own echo included).
Throughput counts relayed lines received by all clients. Exit status 1 if a line was lost.
Against an external sim: uchat sim --listen 127.0.0.1:8787 --auto-rooms --flood 0 \
--repeat-limit 0 -q, then uchat bench-sim --clients 1000 --url ws://127.0.0.1:8787/")]
pub struct BenchArgs {
    /// Number of concurrent WebSocket clients.
    #[arg(long, value_name = "K")]
    pub clients: usize,
    /// Chat lines each client sends.
    #[arg(long, value_name = "M", default_value_t = 20)]
    pub messages: u32,
    /// Lines per second each client sends.
    #[arg(long, value_name = "PER_SEC", default_value_t = 2.0)]
    pub rate: f64,
    /// Members per room: clients are spread over ceil(K / size) rooms `bench-0`, `bench-1`, …
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub room_size: usize,
    /// Sim to drive (ws://HOST:PORT/); default: start one in-process on 127.0.0.1:0.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

struct ClientResult {
    latencies_us: Vec<u32>,
    received: u64,
    expected: u64,
    last_receipt: Option<Instant>,
    error: Option<String>,
}

/// Runs the benchmark and prints the figures. Exit status 1 if any client failed or lines were
/// lost.
pub fn run(args: BenchArgs) -> ExitCode {
    if args.clients == 0 || args.room_size == 0 || args.messages == 0 {
        eprintln!("uchat bench-sim: --clients, --messages and --room-size must be at least 1");
        return ExitCode::from(2);
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("uchat bench-sim: --rate must be a positive number");
        return ExitCode::from(2);
    }
    match super::runtime("uchat bench-sim") {
        Ok(runtime) => runtime.block_on(bench(args)),
        Err(code) => code,
    }
}

async fn bench(args: BenchArgs) -> ExitCode {
    let mut _server = None;
    let url = match &args.url {
        Some(u) => u.clone(),
        None => {
            let mut s = Settings {
                auto_rooms: true,
                quiet: true,
                ..Settings::default()
            };
            s.listen = ([127, 0, 0, 1], 0).into();
            s.limits.flood_lines = 0;
            s.limits.repeat_limit = 0;
            match super::start(s).await {
                Ok(r) => {
                    let u = format!("ws://{}/", r.addr);
                    _server = Some(r);
                    u
                }
                Err(e) => {
                    eprintln!("uchat bench-sim: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let Some(hostport) = url
        .strip_prefix("ws://")
        .map(|r| r.split('/').next().unwrap_or(r).to_owned())
    else {
        eprintln!("uchat bench-sim: --url must start with ws:// (no TLS in the benchmark)");
        return ExitCode::from(2);
    };
    let k = args.clients;
    let rooms = k.div_ceil(args.room_size);
    println!(
        "bench-sim: {k} clients in {rooms} room(s) of ≤{}, {} lines each at {}/s, sim {url}{}",
        args.room_size,
        args.messages,
        args.rate,
        if args.url.is_none() {
            " (in-process)"
        } else {
            ""
        }
    );
    let room_members: Vec<u64> = (0..rooms)
        .map(|r| (0..k).filter(|i| i % rooms == r).count() as u64)
        .collect();

    let joined = Arc::new(Barrier::new(k + 1));
    let go = Arc::new(Barrier::new(k + 1));
    let connect_slots = Arc::new(Semaphore::new(64));
    let t_join = Instant::now();
    let t0 = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut handles = Vec::with_capacity(k);
    for i in 0..k {
        let room = i % rooms;
        let spec = ClientSpec {
            index: i,
            hostport: hostport.clone(),
            url: url.clone(),
            room: format!("bench-{room}"),
            expected: room_members[room] * u64::from(args.messages),
            messages: args.messages,
            interval: Duration::from_secs_f64(1.0 / args.rate),
        };
        handles.push(tokio::spawn(client(
            spec,
            joined.clone(),
            go.clone(),
            connect_slots.clone(),
            t0.clone(),
        )));
    }
    joined.wait().await;
    let join_secs = t_join.elapsed().as_secs_f64();
    // Let the k/j notices of the last joins drain before measuring.
    sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let _ = t0.set(start);
    go.wait().await;

    let mut latencies: Vec<u32> = Vec::new();
    let (mut received, mut expected, mut errors) = (0u64, 0u64, Vec::new());
    let mut last = start;
    for h in handles {
        match h.await {
            Ok(r) => {
                received += r.received;
                expected += r.expected;
                latencies.extend(r.latencies_us);
                if let Some(t) = r.last_receipt {
                    last = last.max(t);
                }
                if let Some(e) = r.error {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(format!("client task failed: {e}")),
        }
    }
    let secs = last.duration_since(start).as_secs_f64().max(1e-9);
    let sent = k as u64 * u64::from(args.messages);
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    println!("joined {k} clients in {join_secs:.2} s");
    println!("sent {sent} lines, {received}/{expected} relayed lines received in {secs:.2} s");
    println!(
        "throughput: {:.0} relayed lines/s received ({:.0} lines/s sent)",
        received as f64 / secs,
        sent as f64 / secs
    );
    println!(
        "relay latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if !errors.is_empty() {
        eprintln!("{} client(s) failed; first: {}", errors.len(), errors[0]);
    }
    if errors.is_empty() && received == expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

struct ClientSpec {
    index: usize,
    hostport: String,
    url: String,
    room: String,
    expected: u64,
    messages: u32,
    interval: Duration,
}

async fn client(
    spec: ClientSpec,
    joined: Arc<Barrier>,
    go: Arc<Barrier>,
    slots: Arc<Semaphore>,
    t0: Arc<std::sync::OnceLock<Instant>>,
) -> ClientResult {
    let mut result = ClientResult {
        latencies_us: Vec::with_capacity(spec.expected as usize),
        received: 0,
        expected: spec.expected,
        last_receipt: None,
        error: None,
    };
    let connected = {
        let _slot = slots.acquire().await;
        connect_and_join(&spec).await
    };
    // Every client passes both barriers, even on failure, so the run cannot hang.
    joined.wait().await;
    go.wait().await;
    let (ws, mut decoder) = match connected {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(format!("client {}: {e}", spec.index));
            return result;
        }
    };
    let Some(&start) = t0.get() else {
        result.error = Some("start time not set".to_owned());
        return result;
    };
    let (mut sink, mut stream) = ws.split();
    let index = spec.index;
    let (messages, interval) = (spec.messages, spec.interval);
    let sender = tokio::spawn(async move {
        sleep(interval.mul_f64(fastrand::f64())).await;
        for seq in 0..messages {
            let us = start.elapsed().as_micros() as u64;
            let line = Line::new("m").with("").with(format!("b{index}:{seq}:{us}"));
            let Ok(bytes) = encode(&line) else { break };
            if sink
                .send(Message::Binary(Bytes::from(bytes)))
                .await
                .is_err()
            {
                return Err("send failed".to_owned());
            }
            sleep(interval).await;
        }
        Ok(sink)
    });
    let deadline = start + interval * messages + Duration::from_secs(20);
    while result.received < spec.expected {
        let msg = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            stream.next(),
        )
        .await
        {
            Err(_) => {
                result.error = Some(format!(
                    "client {}: timed out with {}/{} lines",
                    spec.index, result.received, spec.expected
                ));
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => {
                result.error = Some(format!("client {}: connection lost", spec.index));
                break;
            }
            Ok(Some(Ok(Message::Binary(b)))) => b,
            Ok(Some(Ok(_))) => continue,
        };
        let now = Instant::now();
        decoder.feed_with(&msg, |line| {
            let Ok(line) = line else { return };
            if line.key != "m" {
                return;
            }
            let Some(text) = line.field(2).and_then(Field::as_str) else {
                return;
            };
            let Some(sent_us) = text
                .strip_prefix('b')
                .and_then(|t| t.rsplit(':').next())
                .and_then(|t| t.parse::<u64>().ok())
            else {
                return;
            };
            let now_us = now.duration_since(start).as_micros() as u64;
            let lat = now_us.saturating_sub(sent_us).min(u64::from(u32::MAX)) as u32;
            result.latencies_us.push(lat);
            result.received += 1;
            result.last_receipt = Some(now);
        });
    }
    match sender.await {
        Ok(Ok(mut sink)) => {
            let _ = sink
                .send(Message::Binary(Bytes::from_static(b"disconnect\n")))
                .await;
            let _ = sink.close().await;
        }
        Ok(Err(e)) if result.error.is_none() => {
            result.error = Some(format!("client {}: {e}", spec.index))
        }
        _ => {}
    }
    result
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn connect_and_join(spec: &ClientSpec) -> Result<(Ws, Decoder), String> {
    let work = async {
        let tcp = TcpStream::connect(&spec.hostport)
            .await
            .map_err(|e| format!("connect {}: {e}", spec.hostport))?;
        let _ = tcp.set_nodelay(true);
        let (mut ws, _) = tokio_tungstenite::client_async(spec.url.as_str(), tcp)
            .await
            .map_err(|e| format!("WebSocket handshake: {e}"))?;
        let nick = format!("bench{}", spec.index);
        let session = random_session(|| fastrand::u32(..));
        let j = join_line(&spec.room, &UserData::guest(Some(&nick)), &session, None)
            .map_err(|e| e.to_string())?;
        let j = encode(&j).map_err(|e| e.to_string())?;
        ws.send(Message::Binary(Bytes::from(j)))
            .await
            .map_err(|e| format!("send j: {e}"))?;
        let mut decoder = Decoder::new();
        loop {
            let msg = ws
                .next()
                .await
                .ok_or("closed before i2")?
                .map_err(|e| format!("read: {e}"))?;
            let Message::Binary(b) = msg else { continue };
            let mut done = Ok(false);
            decoder.feed_with(&b, |line| match line {
                Ok(l) if l.key == "i2" => done = Ok(true),
                Ok(l) if l.key == "ERR" => {
                    done = Err(format!("join refused: ERR {:?}", l.field(0)))
                }
                _ => {}
            });
            if done? {
                return Ok((ws, decoder));
            }
        }
    };
    timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| "no i2 within 30 s".to_owned())?
}
