//! Chat-command helper: `!name args…` from chat (and, where asked for, whispered to the bot),
//! with prefix, cooldowns and an auth gate (`bot.onCommand`). Pure logic over a caller clock,
//! so it is unit-tested natively.

use super::Clock;
use crate::message::UserRecord;
use std::rc::Rc;

/// Options of one chat command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOptions {
    /// Prefix before the name (default `!`). May be empty.
    pub prefix: String,
    /// Minimum time between two runs by anyone.
    pub cooldown_ms: u64,
    /// Minimum time between two runs by the same user.
    pub per_user_cooldown_ms: u64,
    /// Minimum `auth` (0 guest … 3 admin) of the caller.
    pub min_auth: i64,
    /// Also run for the command whispered to the bot (the trigger's `whisper` is then true, and
    /// the browser's `reply` whispers back). Off by default: a room command stays a room
    /// command unless its handler is written for private answers too. Cooldowns are shared.
    pub whispers: bool,
}

impl Default for CommandOptions {
    fn default() -> Self {
        CommandOptions {
            prefix: "!".into(),
            cooldown_ms: 0,
            per_user_cooldown_ms: 0,
            min_auth: 0,
            whispers: false,
        }
    }
}

/// A matched command, handed to user code.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CommandTrigger {
    /// The id [`CommandRouter::register`] returned.
    pub id: u32,
    /// The command name as registered.
    pub name: String,
    /// Whitespace-separated arguments after the name.
    pub args: Vec<String>,
    /// Everything after the name, trimmed (for free-text commands such as `!say hello world`).
    pub rest: String,
    /// Who asked.
    pub user: Rc<UserRecord>,
    /// Whether it came as a whisper to the bot (only for commands registered with
    /// [`CommandOptions::whispers`]); then the answer should be a whisper too.
    pub whisper: bool,
}

#[derive(Clone, Debug)]
struct Entry {
    id: u32,
    name: String,
    options: CommandOptions,
    last_ms: Option<u64>,
    /// `(user, last use)` of users still cooling down (expired ones are dropped on each use).
    /// A list, not a map: it stays short, and each map type is its own copy of the hash table
    /// code in the wasm (docs/DESIGN.md "Size").
    last_by_user: Vec<(String, u64)>,
}

/// The registered commands. Names match with ASCII letters case-insensitive (`!PING` runs
/// `ping`); other letters compare as written (Hangul has no case, and Unicode's case tables
/// would add kilobytes to the wasm). The first registration of a name with a matching prefix
/// wins.
#[derive(Clone, Debug, Default)]
pub struct CommandRouter {
    entries: Vec<Entry>,
    next_id: u32,
}

impl CommandRouter {
    /// Register `name` (without prefix; must be non-empty and contain no whitespace).
    ///
    /// A name that starts with its own prefix (`"!ping"` with the default `!`) is refused: it
    /// would only run for `!!ping`, and writing the prefix into the name is a habit from other
    /// bot libraries.
    pub fn register(&mut self, name: &str, options: CommandOptions) -> Result<u32, String> {
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(format!(
                "command name {} must be a non-empty word without spaces, e.g. 'ping'",
                crate::codec::Quoted('"', name)
            ));
        }
        if let Some(bare) = name
            .strip_prefix(options.prefix.as_str())
            .filter(|_| !options.prefix.is_empty())
        {
            return Err(format!(
                "command name {} starts with its prefix {}: register it as {} (the prefix is \
                 matched for you)",
                crate::codec::Quoted('"', name),
                crate::codec::Quoted('"', &options.prefix),
                crate::codec::Quoted('"', bare)
            ));
        }
        self.next_id += 1;
        self.entries.push(Entry {
            id: self.next_id,
            name: name.to_owned(),
            options,
            last_ms: None,
            last_by_user: Vec::new(),
        });
        Ok(self.next_id)
    }

    /// Remove a command; false if the id is unknown.
    pub fn unregister(&mut self, id: u32) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.id != id);
        before != self.entries.len()
    }

    /// Whether any command is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Match a chat line from `user` at `now_ms`; records the run for cooldowns. Cooldowns only
    /// compare times, so any millisecond clock works if every call uses the same one; the
    /// [`Session`](super::Session) passes its own, Unix-epoch milliseconds.
    pub fn dispatch(
        &mut self,
        now_ms: u64,
        user: &Rc<UserRecord>,
        text: &str,
    ) -> Option<CommandTrigger> {
        self.dispatch_at(Clock::Fixed(now_ms), user, text, false)
    }

    /// [`CommandRouter::dispatch`] for a whisper to the bot: only commands registered with
    /// [`CommandOptions::whispers`] match.
    pub fn dispatch_whisper(
        &mut self,
        now_ms: u64,
        user: &Rc<UserRecord>,
        text: &str,
    ) -> Option<CommandTrigger> {
        self.dispatch_at(Clock::Fixed(now_ms), user, text, true)
    }

    /// The index of the command `text` (a chat line, or a whisper if `whisper`) names, if any;
    /// auth and cooldowns not checked.
    pub(crate) fn find(&self, text: &str, whisper: bool) -> Option<usize> {
        let text = text.trim_start();
        self.entries.iter().position(|e| {
            (!whisper || e.options.whispers)
                && text
                    .strip_prefix(e.options.prefix.as_str())
                    .and_then(|t| Some((t.get(..e.name.len())?, t.get(e.name.len()..)?)))
                    .is_some_and(|(head, tail)| {
                        head.eq_ignore_ascii_case(&e.name)
                            && tail.chars().next().is_none_or(char::is_whitespace)
                    })
        })
    }

    /// [`CommandRouter::dispatch`] (or, with `whisper`, [`CommandRouter::dispatch_whisper`])
    /// with the time read only for a line that names a command.
    pub(crate) fn dispatch_at(
        &mut self,
        now: Clock,
        user: &Rc<UserRecord>,
        text: &str,
        whisper: bool,
    ) -> Option<CommandTrigger> {
        if self.entries.is_empty() {
            return None;
        }
        let at = self.find(text, whisper)?;
        let text = text.trim_start();
        let entry = &mut self.entries[at];
        if user.auth < entry.options.min_auth {
            return None;
        }
        let now_ms = now.ms();
        let who = if user.nick.is_empty() {
            user.key.to_hex()
        } else {
            user.nick.clone()
        };
        let cooling = |last: Option<u64>, cd: u64| {
            cd > 0 && last.is_some_and(|t| now_ms < t.saturating_add(cd))
        };
        if cooling(entry.last_ms, entry.options.cooldown_ms)
            || cooling(
                entry
                    .last_by_user
                    .iter()
                    .find(|(u, _)| *u == who)
                    .map(|&(_, t)| t),
                entry.options.per_user_cooldown_ms,
            )
        {
            return None;
        }
        entry.last_ms = Some(now_ms);
        if entry.options.per_user_cooldown_ms > 0 {
            // Forget users whose cooldown has passed, so the list stays short.
            let cd = entry.options.per_user_cooldown_ms;
            entry
                .last_by_user
                .retain(|(_, t)| now_ms < t.saturating_add(cd));
            match entry.last_by_user.iter_mut().find(|(u, _)| *u == who) {
                Some(slot) => slot.1 = now_ms,
                None => entry.last_by_user.push((who, now_ms)),
            }
        }
        // `get`: a str slice that can panic pulls core's boundary panic message into the wasm.
        let rest = text
            .get(entry.options.prefix.len() + entry.name.len()..)
            .unwrap_or_default()
            .trim();
        Some(CommandTrigger {
            id: entry.id,
            name: entry.name.clone(),
            args: rest.split_whitespace().map(str::to_owned).collect(),
            rest: rest.to_owned(),
            user: user.clone(),
            whisper,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    use crate::message::UserKey;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user(nick: &str, auth: i64) -> Rc<UserRecord> {
        Rc::new(UserRecord {
            nick: nick.into(),
            auth,
            ..UserRecord::unknown(UserKey(vec![1, 2]))
        })
    }

    #[test]
    fn parses_name_and_args() {
        let mut r = CommandRouter::default();
        let id = r.register("dice", CommandOptions::default()).unwrap();
        let t = r.dispatch(0, &user("a", 0), "  !DICE 2  d6 ").unwrap();
        assert_eq!((t.id, t.name.as_str()), (id, "dice"));
        assert_eq!(t.args, ["2", "d6"]);
        assert_eq!(t.rest, "2  d6");
        assert!(r.dispatch(0, &user("a", 0), "!dices").is_none());
        assert!(r.dispatch(0, &user("a", 0), "dice").is_none());
        assert!(r.dispatch(0, &user("a", 0), "!").is_none());
        assert!(r.dispatch(0, &user("a", 0), "!주사위").is_none());
        assert!(r.register("two words", CommandOptions::default()).is_err());
        // The prefix written into the name: refused, with the name to use.
        let e = r.register("!dice", CommandOptions::default()).unwrap_err();
        assert!(e.contains("register it as \"dice\""), "{e}");
        let q = CommandOptions {
            prefix: "?".into(),
            ..CommandOptions::default()
        };
        assert!(r.register("?dice", q.clone()).is_err());
        // Another prefix's sign is part of the name, and no prefix takes any name.
        assert!(r.register("!dice", q).is_ok());
        let bare = CommandOptions {
            prefix: String::new(),
            ..CommandOptions::default()
        };
        assert!(r.register("!dice", bare).is_ok());
    }

    #[test]
    fn cooldowns_and_auth() {
        let mut r = CommandRouter::default();
        let opts = CommandOptions {
            prefix: "?".into(),
            cooldown_ms: 100,
            per_user_cooldown_ms: 1000,
            min_auth: 1,
            whispers: false,
        };
        r.register("ping", opts).unwrap();
        assert!(
            r.dispatch(0, &user("guest", 0), "?ping").is_none(),
            "auth gate"
        );
        assert!(r.dispatch(0, &user("a", 1), "?ping").is_some());
        assert!(
            r.dispatch(50, &user("b", 1), "?ping").is_none(),
            "global cooldown"
        );
        assert!(r.dispatch(100, &user("b", 1), "?ping").is_some());
        assert!(
            r.dispatch(500, &user("a", 1), "?ping").is_none(),
            "per-user cooldown"
        );
        assert!(r.dispatch(1000, &user("a", 1), "?ping").is_some());
    }

    #[test]
    fn whispered_commands_match_only_commands_that_take_whispers() {
        let mut r = CommandRouter::default();
        let room_only = r.register("ping", CommandOptions::default()).unwrap();
        let both = CommandOptions {
            cooldown_ms: 100,
            whispers: true,
            ..CommandOptions::default()
        };
        let help = r.register("help", both).unwrap();
        assert!(r.dispatch_whisper(0, &user("a", 0), "!ping").is_none());
        let t = r.dispatch(0, &user("a", 0), "!ping").unwrap();
        assert_eq!((t.id, t.whisper), (room_only, false));
        let t = r.dispatch_whisper(0, &user("a", 0), "!help me").unwrap();
        assert_eq!((t.id, t.whisper, t.rest.as_str()), (help, true, "me"));
        // One cooldown for both ways of asking.
        assert!(r.dispatch(50, &user("b", 0), "!help").is_none());
        let t = r.dispatch(100, &user("b", 0), "!help").unwrap();
        assert_eq!((t.id, t.whisper), (help, false));
        // A whisper does not reach a room-only command registered first under the same name.
        let mut r = CommandRouter::default();
        r.register("x", CommandOptions::default()).unwrap();
        let w = r
            .register(
                "x",
                CommandOptions {
                    whispers: true,
                    ..CommandOptions::default()
                },
            )
            .unwrap();
        assert_eq!(r.dispatch_whisper(0, &user("a", 0), "!x").unwrap().id, w);
    }

    #[test]
    fn first_registration_wins_and_off_removes_only_it() {
        let mut r = CommandRouter::default();
        let a = r.register("ping", CommandOptions::default()).unwrap();
        let b = r.register("ping", CommandOptions::default()).unwrap();
        let d = r.register("dice", CommandOptions::default()).unwrap();
        assert_eq!(r.dispatch(0, &user("x", 0), "!ping").unwrap().id, a);
        assert!(r.unregister(a));
        assert_eq!(r.dispatch(0, &user("x", 0), "!ping").unwrap().id, b);
        assert_eq!(r.dispatch(0, &user("x", 0), "!dice").unwrap().id, d);
        assert!(r.unregister(b));
        assert!(r.dispatch(0, &user("x", 0), "!ping").is_none());
        assert!(!r.unregister(b));
    }
}
