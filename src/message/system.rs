//! System messages (`s`) and typed access to their arguments (PROTOCOL.md §3.3).

use super::{SystemCode, UserKey};
use crate::codec::{hex_encode, js_number_to_string, Field};

/// `s` system message: a code and its arguments (PROTOCOL.md §3.3). The typed accessors return
/// `None` when the code is a different one or the arguments are missing.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemMessage {
    /// The system code.
    pub code: SystemCode,
    /// Arguments after the code (`{0}` is `args[0]`).
    pub args: Vec<Field>,
}

/// Arguments of system `ban` (PROTOCOL.md §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanInfo {
    /// Who banned.
    pub by: String,
    /// Who was banned.
    pub target: String,
    /// Reason (`""` when absent).
    pub reason: String,
}

/// Arguments of system `mute` / `permanent_mute` (PROTOCOL.md §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MuteInfo {
    /// Who muted.
    pub by: String,
    /// Who was muted.
    pub target: String,
    /// Minutes; `-1` = permanent.
    pub minutes: i64,
}

impl MuteInfo {
    /// True for a permanent mute (`minutes == -1`).
    pub fn is_permanent(&self) -> bool {
        self.minutes == -1
    }
}

/// Arguments of system `ip` (PROTOCOL.md §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// The user asked about.
    pub nick: String,
    /// Their IP address.
    pub ip: String,
}

/// Arguments of system `op` / `deop` (PROTOCOL.md §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// Who gave or took the rights.
    pub by: String,
    /// Who received or lost them.
    pub target: String,
}

/// Arguments of system `user_info`, the answer to the `info` command (PROTOCOL.md §3.3). The
/// argument types are not documented, so values are rendered as text (binary as hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemUserInfo {
    /// Nickname.
    pub nick: String,
    /// Member id.
    pub id: String,
    /// Level.
    pub level: String,
    /// Auth level (0–4) when it is a number or numeric text.
    pub auth: Option<i64>,
    /// Connect time as sent (unix seconds or a date text).
    pub connected: String,
    /// Session (hex when binary).
    pub session: String,
}

impl SystemMessage {
    /// Argument `i` as text: strings as they are, numbers in decimal, binary as hex;
    /// `None` when absent or undefined.
    pub fn arg_text(&self, i: usize) -> Option<String> {
        Some(match self.args.get(i)? {
            Field::Str(s) => s.clone(),
            Field::Num(n) => n.to_string(),
            Field::Float(x) => js_number_to_string(*x),
            Field::Bin(b) => hex_encode(b),
            Field::Bool(b) => b.to_string(),
            Field::Undef => return None,
        })
    }

    /// Argument `i` as an integer (a number, or text holding a decimal integer).
    pub fn arg_i64(&self, i: usize) -> Option<i64> {
        let f = self.args.get(i)?;
        f.as_i64()
            .or_else(|| f.as_str().and_then(|s| s.trim().parse().ok()))
    }

    /// Argument `i` as a user key (binary); `to_call`, `from_call` and `invite` carry keys.
    pub fn arg_key(&self, i: usize) -> Option<UserKey> {
        self.args.get(i)?.as_bin().map(UserKey::from)
    }

    /// `ban` (1): by, target, reason.
    pub fn ban(&self) -> Option<BanInfo> {
        (self.code == SystemCode::Ban).then_some(())?;
        Some(BanInfo {
            by: self.arg_text(0)?,
            target: self.arg_text(1)?,
            reason: self.arg_text(2).unwrap_or_default(),
        })
    }

    /// `mute` (4) or `permanent_mute` (37): by, target, minutes (`-1` = permanent; a
    /// `permanent_mute` without minutes reads as `-1`).
    pub fn mute(&self) -> Option<MuteInfo> {
        let minutes = match self.code {
            SystemCode::Mute => self.arg_i64(2)?,
            SystemCode::PermanentMute => self.arg_i64(2).unwrap_or(-1),
            _ => return None,
        };
        Some(MuteInfo {
            by: self.arg_text(0)?,
            target: self.arg_text(1)?,
            minutes,
        })
    }

    /// `muted` (14): minutes left (`-1` = permanent); `permanent_muted` (38) gives `-1`.
    pub fn muted_minutes_left(&self) -> Option<i64> {
        match self.code {
            SystemCode::Muted => self.arg_i64(0),
            SystemCode::PermanentMuted => Some(self.arg_i64(0).unwrap_or(-1)),
            _ => None,
        }
    }

    /// `ip` (9): nick, ip.
    pub fn ip(&self) -> Option<IpInfo> {
        (self.code == SystemCode::Ip).then_some(())?;
        Some(IpInfo {
            nick: self.arg_text(0)?,
            ip: self.arg_text(1)?,
        })
    }

    /// `user_info` (36): nick, id, level, auth, connect time, session.
    pub fn user_info(&self) -> Option<SystemUserInfo> {
        (self.code == SystemCode::UserInfo).then_some(())?;
        Some(SystemUserInfo {
            nick: self.arg_text(0)?,
            id: self.arg_text(1).unwrap_or_default(),
            level: self.arg_text(2).unwrap_or_default(),
            auth: self.arg_i64(3),
            connected: self.arg_text(4).unwrap_or_default(),
            session: self.arg_text(5).unwrap_or_default(),
        })
    }

    /// `op` (27) or `deop` (28): by, target.
    pub fn op(&self) -> Option<OpInfo> {
        matches!(self.code, SystemCode::Op | SystemCode::Deop).then_some(())?;
        Some(OpInfo {
            by: self.arg_text(0)?,
            target: self.arg_text(1)?,
        })
    }

    /// `notice` (12): the notice text.
    pub fn notice_text(&self) -> Option<String> {
        (self.code == SystemCode::Notice).then_some(())?;
        self.arg_text(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn system_accessors() {
        let s = |code: i64, args: Vec<Field>| SystemMessage {
            code: SystemCode::from_code(code),
            args,
        };
        let ban = s(1, vec!["admin".into(), "spammer".into(), "광고".into()]);
        assert_eq!(
            ban.ban(),
            Some(BanInfo {
                by: "admin".into(),
                target: "spammer".into(),
                reason: "광고".into()
            })
        );
        assert_eq!(ban.mute(), None);
        assert_eq!(s(1, vec!["admin".into()]).ban(), None);

        let mute = s(4, vec!["admin".into(), "x".into(), Field::Num(10)]);
        let info = mute.mute().unwrap();
        assert_eq!(
            (info.by.as_str(), info.target.as_str(), info.minutes),
            ("admin", "x", 10)
        );
        assert!(!info.is_permanent());
        let forever = s(4, vec!["a".into(), "x".into(), Field::Float(-1.0)])
            .mute()
            .unwrap();
        assert!(forever.is_permanent());
        assert_eq!(
            s(37, vec!["a".into(), "x".into()]).mute().unwrap().minutes,
            -1
        );
        assert_eq!(
            s(4, vec!["a".into(), "x".into(), "5".into()])
                .mute()
                .unwrap()
                .minutes,
            5
        );

        assert_eq!(s(14, vec![Field::Num(3)]).muted_minutes_left(), Some(3));
        assert_eq!(s(38, vec![]).muted_minutes_left(), Some(-1));
        assert_eq!(s(4, vec![Field::Num(3)]).muted_minutes_left(), None);

        assert_eq!(
            s(9, vec!["bob".into(), "1.2.3.4".into()]).ip(),
            Some(IpInfo {
                nick: "bob".into(),
                ip: "1.2.3.4".into()
            })
        );
        let ui = s(
            36,
            vec![
                "bob".into(),
                "id1".into(),
                "5".into(),
                Field::Num(2),
                Field::Num(1_604_370_347),
                Field::Bin(vec![0xab, 1]),
            ],
        )
        .user_info()
        .unwrap();
        assert_eq!(ui.nick, "bob");
        assert_eq!(ui.level, "5");
        assert_eq!(ui.auth, Some(2));
        assert_eq!(ui.connected, "1604370347");
        assert_eq!(ui.session, "ab01");
        assert_eq!(
            s(27, vec!["root".into(), "bob".into()]).op(),
            Some(OpInfo {
                by: "root".into(),
                target: "bob".into()
            })
        );
        assert!(s(28, vec!["root".into(), "bob".into()]).op().is_some());
        assert_eq!(
            s(12, vec!["hello".into()]).notice_text().as_deref(),
            Some("hello")
        );
        assert_eq!(s(39, vec!["hello".into()]).notice_text(), None);
        let call = s(7, vec![Field::Bin(vec![1]), Field::Bin(vec![2])]);
        assert_eq!(call.arg_key(1), Some(UserKey(vec![2])));
        assert_eq!(call.arg_key(2), None);
        assert_eq!(s(0, vec![Field::Undef]).arg_text(0), None);
    }
}
