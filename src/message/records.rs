//! Records carried by server lines: room information (`i1`) and user records (`k`)
//! (PROTOCOL.md §3.2).

use super::UserKey;
use crate::codec::hex_encode;

/// `i1` room information (PROTOCOL.md §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomInfo {
    /// Room name.
    pub name: String,
    /// Room mode.
    pub mode: RoomMode,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Function flag bytes as received; read them with [`RoomInfo::flags`].
    pub flag_bytes: Vec<u8>,
    /// The server's clock, unix seconds (uchat.js derives its clock offset from it).
    pub server_time: i64,
}

impl RoomInfo {
    /// The named function flags decoded from [`RoomInfo::flag_bytes`].
    pub fn flags(&self) -> RoomFlags {
        RoomFlags::from_bytes(&self.flag_bytes)
    }
}

/// Room mode, field 2 of `i1` (PROTOCOL.md §3.2; uchat.js constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoomMode {
    /// 0: basic room (uchat.io).
    Basic,
    /// 1: individual (user-made private) room.
    Individual,
    /// 2: inn.
    Inn,
    /// 3: child room.
    Child,
    /// 4: channel (uchat.ch).
    Channel,
    /// Any other number.
    Unknown(i64),
}

impl RoomMode {
    /// The mode for a wire number.
    pub fn from_code(code: i64) -> RoomMode {
        match code {
            0 => RoomMode::Basic,
            1 => RoomMode::Individual,
            2 => RoomMode::Inn,
            3 => RoomMode::Child,
            4 => RoomMode::Channel,
            n => RoomMode::Unknown(n),
        }
    }

    /// The wire number.
    pub fn code(&self) -> i64 {
        match self {
            RoomMode::Basic => 0,
            RoomMode::Individual => 1,
            RoomMode::Inn => 2,
            RoomMode::Child => 3,
            RoomMode::Channel => 4,
            RoomMode::Unknown(n) => *n,
        }
    }

    /// Lowercase name (`basic`, `individual`, `inn`, `child`, `channel`, `unknown`).
    pub fn name(&self) -> &'static str {
        match self {
            RoomMode::Basic => "basic",
            RoomMode::Individual => "individual",
            RoomMode::Inn => "inn",
            RoomMode::Child => "child",
            RoomMode::Channel => "channel",
            RoomMode::Unknown(_) => "unknown",
        }
    }
}

/// The room function flags of `i1` field 4 (PROTOCOL.md §3.2): bit i is bit `i % 8` of byte
/// `i / 8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RoomFlags {
    /// Bit 0: advertising.
    pub ad: bool,
    /// Bit 1: join/quit notices.
    pub io: bool,
    /// Bit 2: room frozen.
    pub frozen: bool,
    /// Bit 3: messages.
    pub message: bool,
    /// Bit 4: calls (pokes).
    pub call: bool,
    /// Bit 5: whispers.
    pub whisper: bool,
    /// Bit 6: individual (private) rooms.
    pub individual: bool,
    /// Bit 7: fonts/styles.
    pub font: bool,
    /// Bit 8: calling the admin.
    pub call_admin: bool,
    /// Bit 9: user linkage (`userLinkage`).
    pub user_linkage: bool,
}

impl RoomFlags {
    /// The names of bits 0..=9, in bit order.
    pub const NAMES: [&'static str; 10] = [
        "ad",
        "io",
        "frozen",
        "message",
        "call",
        "whisper",
        "individual",
        "font",
        "call_admin",
        "userLinkage",
    ];

    /// Bit `i` of a flag byte string (false beyond its end).
    pub fn bit(bytes: &[u8], i: usize) -> bool {
        bytes.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Decode the flags from the `i1` bytes.
    pub fn from_bytes(bytes: &[u8]) -> RoomFlags {
        let b = |i| RoomFlags::bit(bytes, i);
        RoomFlags {
            ad: b(0),
            io: b(1),
            frozen: b(2),
            message: b(3),
            call: b(4),
            whisper: b(5),
            individual: b(6),
            font: b(7),
            call_admin: b(8),
            user_linkage: b(9),
        }
    }

    /// The flags in bit order (same order as [`RoomFlags::NAMES`]).
    pub fn to_array(&self) -> [bool; 10] {
        [
            self.ad,
            self.io,
            self.frozen,
            self.message,
            self.call,
            self.whisper,
            self.individual,
            self.font,
            self.call_admin,
            self.user_linkage,
        ]
    }

    /// Encode as the two bytes the server sends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; 2];
        for (i, on) in self.to_array().into_iter().enumerate() {
            if on {
                out[i / 8] |= 1 << (i % 8);
            }
        }
        out
    }
}

/// `k` user record (PROTOCOL.md §3.2; sample §5.4 R1/R2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The user's key.
    pub key: UserKey,
    /// Nickname.
    pub nick: String,
    /// Site member id (`""` for guests; `undefined` is read as `""`).
    pub id: String,
    /// Level text, `None` when sent as undefined.
    pub level: Option<String>,
    /// Auth level: 0 guest, 1 member, 2 subadmin, 3 admin, 4 server (§4.6).
    pub auth: i64,
    /// Icon URL (`undefined` is read as `""`).
    pub icons: String,
    /// Nick-image URL (`undefined` is read as `""`).
    pub nickcon: String,
    /// Connect time, unix seconds.
    pub connected: i64,
    /// Muted: bit 0 of [`UserRecord::mute_raw`].
    pub mute: bool,
    /// The mute number as received. When writing, bit 0 is taken from [`UserRecord::mute`].
    pub mute_raw: i64,
    /// Server session bytes (shown as hex by uchat.js; not the client's 32-char session).
    pub session: Vec<u8>,
    /// Profile image URL (optional trailing field).
    pub profileimg: Option<String>,
}

impl UserRecord {
    /// A record holding only `key`: what a client knows of a user the server referred to (in
    /// `m`, `w`, `j`, `u`, …) without defining it by a `k` line first.
    pub fn unknown(key: UserKey) -> UserRecord {
        UserRecord {
            key,
            nick: String::new(),
            id: String::new(),
            level: None,
            auth: 0,
            icons: String::new(),
            nickcon: String::new(),
            connected: 0,
            mute: false,
            mute_raw: 0,
            session: Vec::new(),
            profileimg: None,
        }
    }

    /// The session as lowercase hex, as uchat.js shows it.
    pub fn session_hex(&self) -> String {
        hex_encode(&self.session)
    }
}
