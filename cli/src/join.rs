//! `uchat token` and `uchat join`: the member-integration token and the `j` line
//! (PROTOCOL.md §4, DECISIONS.md "Joining").

use crate::{print_lines, Failure};
use std::hash::{BuildHasher, Hasher};
use uchat_bot::codec::{encode, hex_encode};
use uchat_bot::token::{build_user_data, check_session, join_line, random_session};
use uchat_bot::token::{is_valid_auth, UserData, UserFields, AUTH_ROLES};

/// Environment variable read when `--token` is not given (keeps the secret out of `ps` output
/// and shell history).
const TOKEN_ENV: &str = "UCHAT_TOKEN";

/// Flags of `uchat token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints exactly the user_data string the site's PHP helper uchat_array2data prints for these
values, and nothing else: time is added, keys are sorted, '' and '0' values are dropped, the md5
of the values glued by the token is appended as hash, values are PHP-urlencoded (PROTOCOL.md §4.3).
The token is the room secret from the member-integration page of the UChat admin: it is never
printed. Instead of --token you can set UCHAT_TOKEN. The PHP helper signs any value; this
command refuses an --auth other than admin, subadmin, member or guest, and a --time of 0 or less.

Examples:
  uchat token --room myroom --token abcdef0123456789abcdef0123456789 --time 1600000000 \\
      --nick tester --id tester01 --level 5 --auth member
  # auth member|id tester01|level 5|nick tester|room myroom|time 1600000000|hash e7d6829a83f989f8bb1cbdd090952f69
  UCHAT_TOKEN=… uchat token --room myroom --nick bot --auth member")]
pub struct TokenArgs {
    /// Room id.
    #[arg(long, value_name = "R")]
    pub room: String,
    /// Room token (secret). Default: the UCHAT_TOKEN environment variable.
    // A token may start with '-': taken as the value, not as an unknown option that the error
    // message would quote.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub token: Option<String>,
    /// Unix time in seconds to sign with, above 0 (default: now). The server checks it against
    /// its clock.
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    pub time: Option<i64>,
    /// Nickname.
    #[arg(long, value_name = "N")]
    pub nick: Option<String>,
    /// Site member id.
    #[arg(long, value_name = "I")]
    pub id: Option<String>,
    /// Site member level (a level of 0 is dropped, as PHP does).
    #[arg(long, value_name = "L")]
    pub level: Option<String>,
    /// admin, subadmin, member or guest (anything else is refused); omit for automatic.
    #[arg(long, value_name = "A")]
    pub auth: Option<String>,
    /// Icon URL.
    #[arg(long, value_name = "U")]
    pub icons: Option<String>,
    /// Nick-image URL.
    #[arg(long, value_name = "U")]
    pub nickcon: Option<String>,
    /// Free text.
    #[arg(long, value_name = "O")]
    pub other: Option<String>,
    /// Profile image URL (hashed like the other values).
    #[arg(long, value_name = "U")]
    pub profileimg: Option<String>,
}

/// Flags of `uchat join`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints the lowercase hex of the 16-field j line (terminating 0a included) that a browser sends
for this user_data (read exactly like uchat.js dataParse: '+' stays '+'), or, without
--user-data, for a guest with the given nick (PROTOCOL.md §4.2). Absent values are sent as
undefined, auth always as a string. The session is 32 random characters unless given.

Examples:
  uchat join --room lobby --nick 손님
  uchat join --room myroom --session 0123456789abcdefghiklmnopqrstuvw \\
      --user-data 'auth member|id tester01|level 5|nick tester|room myroom|time 1600000000|hash e7d6829a83f989f8bb1cbdd090952f69'
  uchat decode --hex \"$(uchat join --room lobby --nick bot)\"   # see the fields")]
pub struct JoinArgs {
    /// Room id (sent as field 1; a `room` inside user_data is not sent).
    #[arg(long, value_name = "R")]
    pub room: String,
    /// A site-made user_data string (`key value|…|hash …`).
    #[arg(long, value_name = "UD", conflicts_with = "nick")]
    pub user_data: Option<String>,
    /// Guest nickname (without --user-data); empty lets the server pick one.
    #[arg(long, value_name = "N")]
    pub nick: Option<String>,
    /// The 32-character session (0-9 A-X Z a-i k-z). Default: random.
    #[arg(long, value_name = "S")]
    pub session: Option<String>,
    /// Room access password (ERR 701).
    // May start with '-' (as --token): taken as the value, not quoted as an unknown option.
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    pub password: Option<String>,
}

/// `uchat token`.
pub fn token(args: TokenArgs) -> Result<(), Failure> {
    // Every problem with the flags at once (the PHP helper would sign any of these values).
    let mut problems = Vec::new();
    if let Some(a) = args.auth.as_deref().filter(|a| !is_valid_auth(a)) {
        problems.push(format!(
            "token --auth: must be one of {} (or left out: the server decides), got {a:?}",
            AUTH_ROLES.join(", ")
        ));
    }
    if let Some(t) = args.time.filter(|t| *t <= 0) {
        // PHP's time() is never 0 or negative, and the helper's array_filter drops a 0.
        problems.push(format!(
            "token --time: must be unix seconds after 1970 as PHP's time() gives them \
             (e.g. 1600000000), got {t}; leave it out to use the current time"
        ));
    }
    let token = args.token.or_else(|| std::env::var(TOKEN_ENV).ok());
    if token.is_none() {
        problems.push(format!(
            "token: give the room token with --token T or the {TOKEN_ENV} environment variable"
        ));
    }
    let Some(token) = token.filter(|_| problems.is_empty()) else {
        return Err(Failure::Input(problems));
    };
    let time = match args.time {
        Some(t) => t,
        None => now_unix().map_err(Failure::input)?,
    };
    let fields = UserFields {
        nick: args.nick,
        id: args.id,
        level: args.level,
        auth: args.auth,
        icons: args.icons,
        nickcon: args.nickcon,
        other: args.other,
        profileimg: args.profileimg,
    };
    let built = build_user_data(&args.room, &token, time, &fields)
        .map_err(|e| Failure::input(format!("token: {e}")))?;
    print_lines([built.user_data])
}

/// `uchat join`.
pub fn join(args: JoinArgs) -> Result<(), Failure> {
    let user = match &args.user_data {
        Some(ud) => {
            UserData::parse(ud).map_err(|e| Failure::input(format!("join --user-data: {e}")))?
        }
        None => UserData::guest(args.nick.as_deref()),
    };
    let session = match args.session {
        Some(s) => {
            check_session(&s).map_err(|e| Failure::input(format!("join --{e}")))?;
            s
        }
        None => random_session(os_seeded_u32s()),
    };
    let line = join_line(&args.room, &user, &session, args.password.as_deref())
        .map_err(|e| Failure::input(format!("join: {e}")))?;
    let bytes = encode(&line).map_err(|e| Failure::input(format!("join: {e}")))?;
    print_lines([hex_encode(&bytes)])
}

fn now_unix() -> Result<i64, String> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970; pass --time UNIX".to_owned())?;
    i64::try_from(d.as_secs()).map_err(|_| "the system clock is out of range; pass --time".into())
}

/// Random numbers for the session (not a secret: browsers use `Math.random`). The std hasher's
/// keys are seeded from the OS once per process; a counter makes every draw different.
fn os_seeded_u32s() -> impl FnMut() -> u32 {
    let state = std::collections::hash_map::RandomState::new();
    let mut counter: u64 = 0;
    move || {
        let mut h = state.build_hasher();
        h.write_u64(counter);
        counter += 1;
        (h.finish() >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_sessions_are_valid_and_differ() {
        let a = random_session(os_seeded_u32s());
        let b = random_session(os_seeded_u32s());
        assert!(check_session(&a).is_ok());
        assert!(check_session(&b).is_ok());
        assert_ne!(a, b);
    }
}
