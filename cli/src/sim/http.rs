//! The HTTP side of the sim's port: reading the request head, the WebSocket upgrade answer,
//! static files for `--www`, and the `hijack200` fault page.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest accepted request head.
const MAX_HEAD: usize = 16 * 1024;
/// Time a client gets to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request head plus any bytes read after it.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Request target as sent (`/path?query`).
    pub target: String,
    /// Minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Bytes received after the head (a client may send its first frame early).
    pub rest: Vec<u8>,
}

impl Request {
    /// First header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this asks for a WebSocket upgrade (on any path).
    pub fn is_upgrade(&self) -> bool {
        let has = |name: &str, token: &str| {
            self.header(name)
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        has("upgrade", "websocket") && has("connection", "upgrade")
    }

    /// Whether the answer may carry a body: not for `HEAD` (RFC 9110 §9.3.2: the same status and
    /// headers as a `GET`, `Content-Length` included, but no content).
    pub fn wants_body(&self) -> bool {
        self.method != "HEAD"
    }
}

/// Reads and parses one request head. `Err` carries a reason for the log.
pub async fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the request: {e}"))?;
            if n == 0 {
                return Err("closed before sending a request".to_owned());
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    return Ok(Request {
                        method: req.method.unwrap_or("").to_owned(),
                        target: req.path.unwrap_or("/").to_owned(),
                        version: req.version.unwrap_or(0),
                        headers: req
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_ascii_lowercase(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect(),
                        rest: buf[len..].to_vec(),
                    });
                }
                Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
                Ok(httparse::Status::Partial) => {
                    return Err(format!("request head longer than {MAX_HEAD} bytes"))
                }
                Err(e) => return Err(format!("malformed HTTP request: {e}")),
            }
        }
    };
    tokio::time::timeout(HEAD_TIMEOUT, read)
        .await
        .map_err(|_| "no complete request head within 10 s".to_owned())?
}

/// The `101 Switching Protocols` answer, or `Err(400 response)` when the upgrade is invalid
/// (RFC 6455 §4.2.1: an HTTP/1.1 GET with `Host`, `Sec-WebSocket-Key` the base64 of 16 bytes,
/// `Sec-WebSocket-Version: 13`; a wrong version is answered with the one supported, §4.4).
pub fn upgrade_response(req: &Request) -> Result<String, Vec<u8>> {
    let bad = |why: &str| Err(answer(req, 400, "Bad Request", &[], why));
    if req.method != "GET" {
        return bad("a WebSocket upgrade must be a GET\n");
    }
    if req.version < 1 {
        return bad("a WebSocket upgrade needs HTTP/1.1\n");
    }
    if req.header("host").is_none() {
        return bad("the Host header is missing\n");
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(answer(
            req,
            400,
            "Bad Request",
            &[("Sec-WebSocket-Version", "13")],
            "Sec-WebSocket-Version must be 13\n",
        ));
    }
    let Some(key) = req.header("sec-websocket-key").map(str::trim) else {
        return bad("Sec-WebSocket-Key is missing\n");
    };
    if !is_websocket_key(key) {
        return bad("Sec-WebSocket-Key must be the base64 of 16 bytes\n");
    }
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    ))
}

/// Whether `key` is the base64 of 16 bytes (RFC 6455 §4.2.1 item 5): 22 characters of the
/// standard alphabet, the last without stray low bits, then `==`.
fn is_websocket_key(key: &str) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = key.as_bytes();
    b.len() == 24
        && b.ends_with(b"==")
        && b[..22].iter().all(|c| ALPHABET.contains(c))
        // The 22nd character carries the last 2 bits of byte 16; its low 4 bits are padding.
        && matches!(b[21], b'A' | b'Q' | b'g' | b'w')
}

/// The `426 Upgrade Required` answer to a plain request when no `--www` is served: it must name
/// the protocol to upgrade to (RFC 9110 §15.5.22, §7.8). To a `HEAD`, without the body.
pub fn upgrade_required(req: &Request) -> Vec<u8> {
    answer(
        req,
        426,
        "Upgrade Required",
        &[("Upgrade", "websocket"), ("Connection", "Upgrade, close")],
        "uchat sim: this port speaks WebSocket (ws://); start the sim with --www DIR to serve \
         files\n",
    )
}

/// A complete small response with `Connection: close`, for when there is no parsed request
/// (so no `HEAD` to honour).
pub fn simple(status: u16, reason: &str, body: &str) -> Vec<u8> {
    response(
        status,
        reason,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        true,
        &[],
    )
}

/// A small text answer to `req` with `Connection: close` (a `Connection` among `headers`
/// replaces it). To a `HEAD` it has the same head, `Content-Length` included, and no body.
fn answer(
    req: &Request,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    response(
        status,
        reason,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        req.wants_body(),
        headers,
    )
}

fn response(
    status: u16,
    reason: &str,
    ctype: &str,
    body: &[u8],
    with_body: bool,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n",
        body.len()
    );
    let mut connection = "close";
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("connection") {
            connection = value;
        } else {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("Connection: {connection}\r\n\r\n"));
    let mut out = head.into_bytes();
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

/// The page of the `hijack200` fault: what some ISPs answer to a plain `ws://` upgrade (to a
/// `HEAD`, its head only).
pub fn hijack_page(req: &Request) -> Vec<u8> {
    response(
        200,
        "OK",
        "text/html; charset=utf-8",
        b"<!doctype html><html><head><title>Notice</title></head><body>\
          <p>This page was served instead of the site you asked for.</p></body></html>\n",
        req.wants_body(),
        &[],
    )
}

/// Content type by file extension (wasm and JavaScript as browsers require for modules).
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "txt" | "md" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Maps a request target to a file under `root`, refusing anything that could leave it:
/// `..`, backslashes, NUL, absolute components; symlinks are checked after resolution.
pub fn resolve_path(root: &Path, target: &str) -> Result<PathBuf, (u16, &'static str)> {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let bytes = percent_decode(path).ok_or((400, "Bad Request"))?;
    let path = String::from_utf8(bytes).map_err(|_| (400, "Bad Request"))?;
    if path.contains('\0') || path.contains('\\') {
        return Err((400, "Bad Request"));
    }
    let mut rel = PathBuf::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err((403, "Forbidden")),
            s => {
                let p = Path::new(s);
                if p.components().count() != 1
                    || !matches!(p.components().next(), Some(Component::Normal(_)))
                {
                    return Err((400, "Bad Request"));
                }
                rel.push(s);
            }
        }
    }
    let mut full = root.join(&rel);
    if full.is_dir() {
        full.push("index.html");
    }
    let canon = std::fs::canonicalize(&full).map_err(|_| (404, "Not Found"))?;
    if !canon.starts_with(root) {
        return Err((403, "Forbidden"));
    }
    if !canon.is_file() {
        return Err((404, "Not Found"));
    }
    Ok(canon)
}

/// Serves one static-file request and closes. Returns the status for the log.
pub async fn serve_static(stream: &mut TcpStream, root: &Path, req: &Request) -> u16 {
    if req.method != "GET" && req.method != "HEAD" {
        let _ = stream
            .write_all(&answer(
                req,
                405,
                "Method Not Allowed",
                &[("Allow", "GET, HEAD")],
                "only GET and HEAD\n",
            ))
            .await;
        return 405;
    }
    let (status, bytes) = match resolve_path(root, &req.target) {
        Ok(file) => match tokio::fs::read(&file).await {
            Ok(body) => (
                200,
                response(200, "OK", content_type(&file), &body, req.wants_body(), &[]),
            ),
            Err(_) => (404, answer(req, 404, "Not Found", &[], "not found\n")),
        },
        Err((code, reason)) => (code, answer(req, code, reason, &[], &format!("{reason}\n"))),
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_keys_are_base64_of_16_bytes() {
        for ok in [
            "dGhlIHNhbXBsZSBub25jZQ==",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "/////////////////////w==",
            "+++++++++++++++++++++g==",
        ] {
            assert!(is_websocket_key(ok), "{ok}");
        }
        for bad in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25jZR==",
            "//////////////////////==",
            "dGhlIHNhbXBsZSBub25jZQ===",
            "AAAAAAAAAAAAAAAAAAAAAAAA",
            "dGhlIHNhbXBsZSBub2-jZQ==",
            "dGhlIHNhbXBsZSBub2 jZQ==",
        ] {
            assert!(!is_websocket_key(bad), "{bad}");
        }
    }

    #[test]
    fn traversal_is_refused() {
        let dir = std::env::temp_dir().join(format!("uchat-sim-www-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "hi").unwrap();
        std::fs::write(dir.join("sub/a.wasm"), "x").unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(resolve_path(&root, "/").unwrap(), root.join("index.html"));
        assert_eq!(
            resolve_path(&root, "/sub/a.wasm?v=1").unwrap(),
            root.join("sub/a.wasm")
        );
        assert_eq!(resolve_path(&root, "/../etc/passwd").unwrap_err().0, 403);
        assert_eq!(
            resolve_path(&root, "/%2e%2e/etc/passwd").unwrap_err().0,
            403
        );
        assert_eq!(resolve_path(&root, "/sub/..%2f..%2fx").unwrap_err().0, 403);
        assert_eq!(resolve_path(&root, "/..%5c..%5cx").unwrap_err().0, 400);
        assert_eq!(resolve_path(&root, "/a%00b").unwrap_err().0, 400);
        assert_eq!(resolve_path(&root, "/%zz").unwrap_err().0, 400);
        assert_eq!(resolve_path(&root, "/missing").unwrap_err().0, 404);
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("x.mjs")),
            "text/javascript; charset=utf-8"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
