//! Accept loop and per-connection I/O: HTTP routing, the WebSocket session, and the fault
//! injection of issue #3 item 4.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;
use uchat_bot::codec::Decoder;

use super::client::Client;
use super::config::Faults;
use super::http;
use super::hub::{Flow, Hub};
use super::room::{Outbox, OutboxRx, OUTBOX_BUDGET};

/// Largest chunk the writer coalesces queued lines into before sending one WebSocket message.
const MAX_COALESCE: usize = 64 * 1024;
/// Time the writer gets to flush queued lines after the connection is told to close (plus the
/// `delay` fault for each message still to go, see `flush_grace`); then the writer is aborted,
/// which drops the socket and whatever is still queued.
const FLUSH_GRACE: Duration = Duration::from_secs(2);
/// A client's own requests wait while more than this is queued for it (see `websocket`).
const REQUEST_HOLD: usize = OUTBOX_BUDGET / 2;
/// A client whose requests have waited this long for it to read is kicked.
const HOLD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a closing connection's writer may take: [`FLUSH_GRACE`], plus one `delay` per
/// WebSocket message the backlog still makes and one for the message being delayed (a banned
/// client behind `--fault delay=MS` still gets its `s 1` and `ERR 408`). At most a minute.
fn flush_grace(backlog: usize, delay: Option<Duration>) -> Duration {
    let messages = (backlog / MAX_COALESCE + 2) as u32;
    (FLUSH_GRACE + delay.unwrap_or_default().saturating_mul(messages)).min(Duration::from_secs(60))
}

/// Accepts connections until the future is dropped.
pub async fn accept_loop(listener: TcpListener, hub: Arc<Hub>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle_tcp(stream, peer, hub.clone()));
            }
            Err(e) => {
                // EMFILE and friends: log, back off briefly, keep serving.
                hub.log(format_args!("accept failed: {e}"));
                sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle_tcp(mut stream: TcpStream, peer: SocketAddr, hub: Arc<Hub>) {
    let faults = hub.settings.faults.clone();
    let req = match http::read_request(&mut stream).await {
        Ok(r) => r,
        Err(why) => {
            hub.log(format_args!("{peer}: {why}"));
            let _ = stream
                .write_all(&http::simple(400, "Bad Request", "bad request\n"))
                .await;
            return;
        }
    };
    if faults.hijack200 {
        hub.log(format_args!(
            "{peer}: {} {}: answered 200 OK page (fault hijack200)",
            req.method, req.target
        ));
        let _ = stream.write_all(&http::hijack_page(&req)).await;
        let _ = stream.shutdown().await;
        return;
    }
    if !req.is_upgrade() {
        match &hub.settings.www {
            Some(root) => {
                let status = http::serve_static(&mut stream, root, &req).await;
                hub.log(format_args!(
                    "{peer}: {} {} → {status}",
                    req.method, req.target
                ));
            }
            None => {
                let _ = stream.write_all(&http::upgrade_required(&req)).await;
            }
        }
        return;
    }
    if faults.hold {
        hub.log(format_args!(
            "{peer}: upgrade held, never answered (fault hold)"
        ));
        // Until the client gives up (EOF or an error): nothing is kept, nothing is answered.
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    let answer = match http::upgrade_response(&req) {
        Ok(a) => a,
        Err(resp) => {
            hub.log(format_args!("{peer}: invalid WebSocket upgrade"));
            let _ = stream.write_all(&resp).await;
            return;
        }
    };
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let limits = &hub.settings.limits;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_line.saturating_mul(4).max(1 << 20)))
        .max_frame_size(Some(limits.max_line.saturating_mul(4).max(1 << 20)));
    let ws =
        WebSocketStream::from_partially_read(stream, req.rest, Role::Server, Some(config)).await;
    websocket(ws, peer, hub, faults).await;
}

async fn websocket(
    mut ws: WebSocketStream<TcpStream>,
    peer: SocketAddr,
    hub: Arc<Hub>,
    faults: Faults,
) {
    let (out, rx) = Outbox::new();
    let mut client = Client::new(hub.clone(), peer.to_string(), out.clone(), false);
    let conn = client.conn;
    hub.log(format_args!("conn {conn} {peer}: connected"));
    if faults.refuse {
        hub.log(format_args!(
            "conn {conn} {peer}: closed at once (fault refuse)"
        ));
        let _ = ws.close(None).await;
        return;
    }
    let (sink, mut stream) = ws.split();
    let mut writer = tokio::spawn(write_loop(sink, rx, faults.clone()));
    let mut decoder = Decoder::with_max_line(hub.settings.limits.max_line);
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let drop_at = faults.drop_after.map_or(far, |d| Instant::now() + d);
    let mut idle_at = faults.idle_timeout.map_or(far, |d| Instant::now() + d);
    // Banned, more than OUTBOX_BUDGET bytes queued unread, or one answer larger than that (see
    // `Outbox::send`); `kicked` says which.
    let kick = out.kick.clone();
    let kicked = |out: &Outbox| {
        let why = out
            .kicked_for()
            .map(|k| format!(": {k}"))
            .unwrap_or_default();
        format!("kicked{why} ({} bytes queued unsent)", out.queued())
    };
    // `abrupt`: drop the TCP connection without a close frame (faults drop-after / idle-timeout).
    let (why, abrupt) = loop {
        tokio::select! {
            msg = stream.next() => {
                if let Some(d) = faults.idle_timeout {
                    idle_at = Instant::now() + d;
                }
                let data = match msg {
                    None => break ("closed by peer".to_owned(), false),
                    Some(Err(e)) => break (format!("read error: {e}"), true),
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Text(t))) => Bytes::from(t),
                    Some(Ok(Message::Close(_))) => break ("closed by peer".to_owned(), false),
                    Some(Ok(_)) => continue, // ping/pong are answered by tungstenite
                };
                let mut lines = Vec::new();
                decoder.feed_with(&data, |line| lines.push(line));
                let mut stop = None;
                for line in lines {
                    // Kicked (by a line of this frame whose answer was too large, a ban, a
                    // backlog): nothing more of the frame is handled. A chat line further on
                    // would still reach the room, and each further oversized answer would be
                    // built in full only to be refused.
                    if out.kicked_for().is_some() {
                        stop = Some((kicked(&out), false));
                        break;
                    }
                    // Backpressure on the client's own requests: while much is queued for it,
                    // its next line (a chatList, say) waits for it to read, and so do the frames
                    // behind it. A client that asks for a lot and reads is served; one that does
                    // not read stops being read (its requests wait in TCP) and is kicked after
                    // HOLD_TIMEOUT, or sooner when others' lines overflow its budget. Without
                    // this, one frame of 25 `chatList 100` kicked a client reading at full speed.
                    if out.queued() > REQUEST_HOLD {
                        tokio::select! {
                            _ = out.drained(REQUEST_HOLD / 2) => {}
                            _ = sleep(HOLD_TIMEOUT) => stop = Some((format!("kicked: does not read ({} bytes queued unsent)", out.queued()), false)),
                            _ = sleep_until(drop_at) => stop = Some(("dropped (fault drop-after)".to_owned(), true)),
                            _ = kick.notified() => stop = Some((kicked(&out), false)),
                        }
                        if stop.is_some() {
                            break;
                        }
                    }
                    if client.on_line(line) == Flow::Close {
                        stop = Some(("disconnect".to_owned(), false));
                        break;
                    }
                }
                if let Some(stop) = stop {
                    break stop;
                }
            }
            _ = sleep_until(drop_at) => break ("dropped (fault drop-after)".to_owned(), true),
            _ = sleep_until(idle_at) => break ("idle (fault idle-timeout)".to_owned(), true),
            _ = kick.notified() => break (kicked(&out), false),
        }
    };
    client.close(&why);
    hub.log(format_args!("conn {conn} {peer}: closed: {why}"));
    let grace = flush_grace(out.queued(), faults.delay);
    drop(client);
    drop(out);
    drop(stream);
    if !abrupt && tokio::time::timeout(grace, &mut writer).await.is_err() {
        hub.log(format_args!("conn {conn} {peer}: gave up flushing"));
    }
    // Dropping a JoinHandle does not stop the task: abort it, so a peer that does not read
    // cannot keep the socket and the queued chunks alive. (No-op when it already finished.)
    writer.abort();
}

type Sink = futures_util::stream::SplitSink<WebSocketStream<TcpStream>, Message>;

/// Drains the outbox: coalesces queued chunks into one WebSocket message, applies `delay` and
/// `split-frames`, and sends a close frame when the outbox closes.
async fn write_loop(mut sink: Sink, mut rx: OutboxRx, faults: Faults) {
    while let Some(first) = rx.recv().await {
        // Let the other members' tasks run once so a burst (one chat line fanned out to a whole
        // room, several rooms busy) leaves in fewer, larger WebSocket messages: fewer syscalls.
        tokio::task::yield_now().await;
        let mut buf = first.to_vec();
        while buf.len() < MAX_COALESCE {
            match rx.try_recv() {
                Some(more) => buf.extend_from_slice(&more),
                None => break,
            }
        }
        if let Some(d) = faults.delay {
            sleep(d).await;
        }
        let ok = if faults.split_frames && buf.len() >= 2 {
            let mut ok = true;
            for piece in split_at_random(&buf) {
                if sink
                    .feed(Message::Binary(Bytes::from(piece)))
                    .await
                    .is_err()
                {
                    ok = false;
                    break;
                }
            }
            ok && sink.flush().await.is_ok()
        } else {
            sink.send(Message::Binary(Bytes::from(buf))).await.is_ok()
        };
        if !ok {
            return;
        }
    }
    let _ = sink.close().await;
}

/// Splits into 2–4 non-empty pieces at random offsets.
fn split_at_random(buf: &[u8]) -> Vec<Vec<u8>> {
    let cuts = fastrand::usize(1..=3).min(buf.len() - 1);
    let mut at: Vec<usize> = (0..cuts).map(|_| fastrand::usize(1..buf.len())).collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for a in at {
        pieces.push(buf[start..a].to_vec());
        start = a;
    }
    pieces.push(buf[start..].to_vec());
    pieces
}

#[cfg(test)]
mod tests {
    use super::split_at_random;

    #[test]
    fn split_keeps_bytes() {
        for len in 2..40 {
            let buf: Vec<u8> = (0..len as u8).collect();
            let pieces = split_at_random(&buf);
            assert!(pieces.len() >= 2);
            assert!(pieces.iter().all(|p| !p.is_empty()));
            assert_eq!(pieces.concat(), buf);
        }
    }
}
