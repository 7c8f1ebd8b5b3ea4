//! Protocol state of one connection or simulated user: decoded lines in, [`Outgoing`] messages
//! to the [`Hub`], with the line-level checks (ERR 101 / 105 / 401) done here.

use std::sync::Arc;

use uchat_bot::codec::{DecodeError, DecodeErrorKind, Field, Line};
use uchat_bot::message::{ErrorCode, Outgoing};

use super::hub::{Flow, Hub, Seat};
use super::room::{err_line, ConnId, Outbox};

/// Protocol state of one connection (or one simulated user).
pub struct Client {
    hub: Arc<Hub>,
    /// Connection id.
    pub conn: ConnId,
    /// Peer description for logs.
    pub peer: String,
    out: Outbox,
    seat: Option<Seat>,
    bot: bool,
}

impl Client {
    /// A client that sends through `out`. `bot` = simulated crowd user (no flood control).
    pub fn new(hub: Arc<Hub>, peer: String, out: Outbox, bot: bool) -> Client {
        let conn = hub.conn_id();
        Client {
            hub,
            conn,
            peer,
            out,
            seat: None,
            bot,
        }
    }

    /// The seat once joined.
    pub fn seat(&self) -> Option<&Seat> {
        self.seat.as_ref()
    }

    fn error(&self, code: ErrorCode, why: impl std::fmt::Display) {
        self.hub.log(format_args!(
            "conn {} {}: ERR {} {}: {why}",
            self.conn,
            self.peer,
            code.code(),
            code.name()
        ));
        self.out.send_lines(&[err_line(code)]);
    }

    /// Handles one decoded line (or decode error). ERR 101 / 105 keep the connection open.
    pub fn on_line(&mut self, line: Result<Line, DecodeError>) -> Flow {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                let code = match e.kind {
                    DecodeErrorKind::LineTooLong { .. } => ErrorCode::DataTooLong,
                    _ => ErrorCode::ProtocolError,
                };
                self.error(code, e);
                return Flow::Continue;
            }
        };
        let max_field = self.hub.limits().max_field;
        if let Some(i) = line.fields.iter().position(|f| match f {
            Field::Str(s) => s.len() > max_field,
            Field::Bin(b) => b.len() > max_field,
            _ => false,
        }) {
            // 105 is "join data too long" in uchat.js's table, 401 "data too long".
            let code = if line.key == "j" {
                ErrorCode::DataTooLong
            } else {
                ErrorCode::MessageTooLong
            };
            self.error(
                code,
                format_args!(
                    "{:?} line: field {} is longer than {max_field} bytes",
                    line.key,
                    i + 1
                ),
            );
            return Flow::Continue;
        }
        let key = line.key.clone();
        let msg = match Outgoing::from_line(line) {
            Ok(m) => m,
            Err(e) => {
                self.error(ErrorCode::ProtocolError, e);
                return Flow::Continue;
            }
        };
        match (msg, &self.seat) {
            (Outgoing::Ping, _) => Flow::Continue,
            (Outgoing::Disconnect, _) => Flow::Close,
            (Outgoing::Join(j), None) => {
                match self.hub.join(self.conn, j, &self.out, self.bot) {
                    Ok(seat) => {
                        self.hub.log(format_args!(
                            "conn {} {}: joined {:?} as {:?}",
                            self.conn, self.peer, seat.room, seat.nick
                        ));
                        self.seat = Some(seat);
                    }
                    Err(code) => self.error(code, "join refused"),
                }
                Flow::Continue
            }
            (msg, Some(seat)) => self.hub.handle(seat, msg),
            (_, None) => {
                self.error(
                    ErrorCode::ProtocolError,
                    format_args!("{key:?} line before joining"),
                );
                Flow::Continue
            }
        }
    }

    /// Leaves the room (if joined); call when the connection ends.
    pub fn close(&mut self, why: &str) {
        if let Some(seat) = self.seat.take() {
            if self.hub.leave(&seat) {
                self.hub.log(format_args!(
                    "conn {} {}: {:?} left {:?} ({why})",
                    self.conn, self.peer, seat.nick, seat.room
                ));
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close("gone");
    }
}
