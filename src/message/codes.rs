//! The named code tables: system codes (`s`, PROTOCOL.md §3.3) and error codes (`ERR`, §3.4).

/// Defines a code enum with an `Unknown(i64)` fallback, `from_code`, `code`, `name`, `ALL`
/// and a per-code English text.
macro_rules! code_table {
    (
        $(#[$meta:meta])*
        $name:ident, $text_fn:ident, unknown_name: $unknown:literal, unknown_text: $unknown_text:literal;
        $( $code:literal => $variant:ident, $snake:literal, $text:literal; )+
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", stringify!($code), "` ", $snake, ": ", $text)]
                $variant,
            )+
            /// A code not in the table; the number is kept.
            Unknown(i64),
        }

        impl $name {
            /// Every named code, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The variant for a wire code; codes not in the table become `Unknown(code)`.
            pub fn from_code(code: i64) -> Self {
                match code {
                    $($code => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }

            /// The wire code.
            pub fn code(&self) -> i64 {
                match self {
                    $($name::$variant => $code,)+
                    $name::Unknown(code) => *code,
                }
            }

            /// The snake_case name (for logs, events and JSON).
            pub fn name(&self) -> &'static str {
                match self {
                    $($name::$variant => $snake,)+
                    $name::Unknown(_) => $unknown,
                }
            }

            /// One English sentence about this code.
            pub fn $text_fn(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(_) => $unknown_text,
                }
            }

            /// True for codes not in the table.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl From<i64> for $name {
            fn from(code: i64) -> Self {
                $name::from_code(code)
            }
        }

        impl std::fmt::Display for $name {
            /// `name (code)`, e.g. `wrong_password (208)`.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} ({})", self.name(), self.code())
            }
        }
    };
}

code_table! {
    /// A system message code, field 1 of an `s` line (PROTOCOL.md §3.3). Names are uchat.js's own.
    SystemCode, description, unknown_name: "unknown_system_code",
    unknown_text: "A system code this SDK does not know; the arguments are kept as they came.";
    0 => Connected, "connected", "You are connected to the room.";
    1 => Ban, "ban", "A user was banned: args by, target, reason.";
    2 => SystemBan, "system_ban", "The server banned a user.";
    3 => ApplyReport, "apply_report", "Your report was received.";
    4 => Mute, "mute", "A user was muted: args by, target, minutes (-1 = permanently).";
    5 => UnMute, "un_mute", "A user was unmuted.";
    6 => SystemUnMute, "system_un_mute", "The server lifted a mute.";
    7 => ToCall, "to_call", "You called (poked) a user: args are user keys.";
    8 => FromCall, "from_call", "A user called (poked) you: args are user keys.";
    9 => Ip, "ip", "Answer to the ip command: args nick, ip.";
    10 => Invite, "invite", "An invitation: args are user keys.";
    11 => Ignore, "ignore", "A user is now ignored.";
    12 => Notice, "notice", "A notice; arg 0 is the notice text.";
    13 => SystemMute, "system_mute", "The server muted a user (e.g. for flooding).";
    14 => Muted, "muted", "You are muted: arg 0 is the minutes left (-1 = permanently).";
    15 => InviteNotice, "invite_notice", "Notice about an invitation.";
    16 => ReportBan, "report_ban", "A user was banned after reports.";
    17 => BadWord, "bad_word", "A message contained a filtered word.";
    18 => UnIgnore, "un_ignore", "A user is no longer ignored.";
    19 => ChangeOption, "change_option", "A room option changed.";
    20 => Notify, "notify", "A notification.";
    21 => Frozen, "frozen", "The room was frozen (chat stopped).";
    22 => Defrozen, "defrozen", "The room was unfrozen.";
    23 => AdminJoin, "admin_join", "An admin joined.";
    24 => AdminOut, "admin_out", "An admin left.";
    25 => BlockInfo, "block_info", "Information about a block.";
    26 => ChangedInfo, "changed_info", "User information changed.";
    27 => Op, "op", "A user became subadmin: args by, target.";
    28 => Deop, "deop", "A user lost subadmin: args by, target.";
    29 => Login, "login", "A user logged in.";
    30 => Logout, "logout", "A user logged out.";
    31 => ChannelMade, "channel_made", "A channel was created.";
    32 => ClearLog, "clear_log", "The chat log was cleared.";
    33 => TooMany, "too_many", "Too many (users or actions).";
    34 => AdminLogin, "admin_login", "Admin login with the room password succeeded.";
    35 => AdminLogout, "admin_logout", "Admin logged out.";
    36 => UserInfo, "user_info", "Answer to the info command: args nick, id, level, auth, connect time, session.";
    37 => PermanentMute, "permanent_mute", "A user was muted permanently: args by, target.";
    38 => PermanentMuted, "permanent_muted", "You are muted permanently.";
    39 => SystemNotice, "system_notice", "A notice from the service.";
    40 => Toplayer, "toplayer", "Show a message on the top layer of the skin.";
    41 => CallAdmin, "call_admin", "Someone called the admin.";
}

code_table! {
    /// An error code, field 1 of an `ERR` line (PROTOCOL.md §3.4), with what a bot author can do
    /// about it ([`ErrorCode::meaning`]).
    ErrorCode, meaning, unknown_name: "unknown_code",
    unknown_text: "An error code this SDK does not know; check PROTOCOL.md §3.4 and report it.";
    0 => UnknownError, "unknown_error", "The server reported an unspecified error.";
    101 => ProtocolError, "protocol_error", "The server could not parse a line you sent: check the message format (PROTOCOL.md §2, §3.1).";
    102 => RoomIdMissing, "room_id_missing", "The join line has no room id: set the room.";
    103 => CannotSync, "cannot_sync", "The server cannot synchronise with the room's member integration; try again later.";
    104 => NoSyncSet, "no_sync_set", "The room has no member integration (sync) configured, so a token join is not possible; join without user_data or configure it on uchat.io.";
    105 => DataTooLong, "data_too_long", "The data sent is too long (at the join: shorten nick, icons, nickcon, other or profileimg; in the room: a shorter line).";
    106 => ClientTokenError, "client_token_error", "The client token (join field 14) was rejected; send it as undefined.";
    201 => RoomNotFound, "room_not_found", "The room does not exist: check the room id.";
    202 => TokenChanged, "token_changed", "The join token (hash) does not match: the room token or user data changed; build a fresh user_data.";
    203 => TokenMissing, "token_missing", "The room requires member integration but the join has no hash: provide user_data or the room token.";
    204 => UnknownEncoding, "unknown_encoding", "The charset field is not understood: send utf-8.";
    205 => TimeOutOfSync, "time_out_of_sync", "The user_data time is too far from the server's clock: fix the clock (time sync) of the machine that makes user_data, or reset the time sync (시간연동초기화) in the room's member-integration admin page, then build a fresh user_data.";
    206 => RoomAlreadyOpen, "room_already_open", "The room is already open elsewhere.";
    207 => RoomFull, "room_full", "The room is full; try again later.";
    208 => WrongPassword, "wrong_password", "The room password is wrong: set the correct access password.";
    209 => UserInfoUnreadable, "user_info_unreadable", "The server could not read the user information in the join; check the user_data fields.";
    210 => BlockedRoom, "blocked_room", "The room is blocked by the service.";
    301 => NickExists, "nick_exists", "That nickname is already used in the room: pick another nick.";
    302 => AlreadyConnected, "already_connected", "This user is already connected to the room.";
    303 => OtherFixedRoomExists, "other_fixed_room_exists", "Another fixed room already exists for this user.";
    304 => AlreadyOpenedRoom, "already_opened_room", "You have already opened a room.";
    305 => NoAccessPermission, "no_access_permission", "You are not allowed to enter this room.";
    401 => MessageTooLong, "message_too_long", "The message or command data is too long: send shorter text.";
    402 => NoPermission, "no_permission", "Your auth level is too low for that command (ban/mute/ip/notice need subadmin, op/deop admin).";
    403 => UnknownCommand, "unknown_command", "The server does not know that command name.";
    404 => TargetNotFound, "target_not_found", "The target user is not in the room: check the nick.";
    405 => ConnectedElsewhere, "connected_elsewhere", "You connected from somewhere else, so this connection is closed; do not reconnect automatically.";
    406 => ClosedOtherConnection, "closed_other_connection", "Your other connection was closed in favour of this one.";
    407 => NotOnYourself, "not_on_yourself", "That command cannot target yourself.";
    408 => Kicked, "kicked", "You were kicked (banned) from this room; do not reconnect automatically.";
    409 => TargetIsAdmin, "target_is_admin", "The target is an admin and cannot be acted on.";
    410 => NoChatPermission, "no_chat_permission", "You are not allowed to chat in this room.";
    411 => OneTimeCommand, "one_time_command", "That command can only be used once.";
    412 => BadCommandValue, "bad_command_value", "A command argument has a bad value: check the arguments.";
    413 => YouAreMuted, "you_are_muted", "You are muted and cannot chat until the mute ends.";
    414 => TargetRefuses, "target_refuses", "The target refuses this (e.g. whispers or calls).";
    415 => YouAreBlocked, "you_are_blocked", "You are blocked in this room.";
    416 => CommandNotAllowedHere, "command_not_allowed_here", "That command is not allowed in this room.";
    417 => FriendsOnly, "friends_only", "Only friends can do that.";
    418 => RoomFrozen, "room_frozen", "The room is frozen: chat is stopped by an admin.";
    419 => RoomDestroyed, "room_destroyed", "The room was destroyed.";
    420 => TargetNotSubadmin, "target_not_subadmin", "The target is not a subadmin (deop needs one).";
    421 => AlreadySubadmin, "already_subadmin", "The target is already a subadmin.";
    422 => LoginWrongPassword, "login_wrong_password", "The admin password given with login is wrong.";
    423 => TargetNotMuted, "target_not_muted", "The target is not muted, so unmute does nothing.";
    424 => WhispersRefusedByYou, "whispers_refused_by_you", "You cannot whisper while you refuse whispers yourself.";
    425 => TooFrequent, "too_frequent", "You are sending too fast (flooding): slow down, e.g. at most a few lines every few seconds.";
    426 => TargetAlreadyMuted, "target_already_muted", "The target is already muted.";
    427 => NotOnEqualOrHigherAuth, "not_on_equal_or_higher_auth", "You cannot act on a user with the same or a higher auth level.";
    428 => TooManyPluginMessages, "too_many_plugin_messages", "Too many plugin messages: send plugin data less often.";
    429 => TooManyLoginAttempts, "too_many_login_attempts", "Too many login attempts: wait before trying again.";
    430 => RepeatedContent, "repeated_content", "The same content was repeated too often (flooding): vary or slow down the messages.";
    501 => IndividualChannelMissing, "individual_channel_missing", "The individual (private) channel does not exist.";
    502 => NestedIndividualChannel, "nested_individual_channel", "An individual channel cannot be opened from inside one.";
    601 => RoomSettingsChanged, "room_settings_changed", "The room settings changed: reconnect to apply them.";
    701 => PasswordRequired, "password_required", "The room needs an access password (or the admin password): join with the password field set.";
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use std::collections::HashSet;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn system_codes_are_0_to_41_and_round_trip() {
        assert_eq!(SystemCode::ALL.len(), 42);
        let mut names = HashSet::new();
        for (i, code) in SystemCode::ALL.iter().enumerate() {
            assert_eq!(code.code(), i as i64);
            assert_eq!(SystemCode::from_code(i as i64), *code);
            assert!(!code.is_unknown());
            assert!(names.insert(code.name()), "duplicate name {}", code.name());
            assert!(!code.description().is_empty());
        }
        assert_eq!(SystemCode::from_code(12), SystemCode::Notice);
        assert_eq!(SystemCode::from_code(36).name(), "user_info");
        assert_eq!(SystemCode::from_code(41).name(), "call_admin");
        assert_eq!(SystemCode::from_code(42), SystemCode::Unknown(42));
        assert_eq!(SystemCode::from_code(-1).code(), -1);
        assert_eq!(SystemCode::Unknown(99).name(), "unknown_system_code");
    }

    #[test]
    fn error_codes_round_trip_with_unique_names_and_meanings() {
        // Every code listed in PROTOCOL.md §3.4.
        let mut listed: Vec<i64> = vec![0, 101, 102, 103, 104, 105, 106];
        listed.extend(201..=210);
        listed.extend(301..=305);
        listed.extend(401..=430);
        listed.extend([501, 502, 601, 701]);
        assert_eq!(ErrorCode::ALL.len(), listed.len());
        let mut names = HashSet::new();
        for &c in &listed {
            let e = ErrorCode::from_code(c);
            assert!(!e.is_unknown(), "code {c} is not named");
            assert_eq!(e.code(), c);
            assert!(names.insert(e.name()), "duplicate name {}", e.name());
            assert!(e
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(e.meaning().ends_with('.'), "{c}: {}", e.meaning());
            assert!(e.meaning().len() > 20, "{c}: {}", e.meaning());
        }
        for e in ErrorCode::ALL {
            assert!(listed.contains(&e.code()));
        }
    }

    #[test]
    fn error_code_details() {
        assert_eq!(ErrorCode::from_code(208), ErrorCode::WrongPassword);
        assert_eq!(ErrorCode::WrongPassword.name(), "wrong_password");
        assert!(ErrorCode::TokenChanged.meaning().contains("hash"));
        assert!(ErrorCode::from_code(205).meaning().contains("clock"));
        assert!(ErrorCode::from_code(425).meaning().contains("flooding"));
        assert!(ErrorCode::from_code(430).meaning().contains("flooding"));
        assert_eq!(ErrorCode::from_code(999), ErrorCode::Unknown(999));
        assert_eq!(ErrorCode::from_code(999).code(), 999);
        assert_eq!(ErrorCode::Unknown(999).name(), "unknown_code");
        assert_eq!(ErrorCode::WrongPassword.to_string(), "wrong_password (208)");
        assert_eq!(ErrorCode::from(701), ErrorCode::PasswordRequired);
    }
}
