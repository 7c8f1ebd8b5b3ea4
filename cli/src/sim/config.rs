//! Settings of `uchat sim`: room specs, fault specs, limits, and the TOML config file.
//!
//! Precedence: a flag given on the command line wins over the config file, which wins over the
//! built-in defaults (listed in the module doc of [`super`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::SimArgs;

/// Default listen address: loopback only, so a test server is never exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Name of the single open room served when no room is configured.
pub const DEFAULT_ROOM: &str = "lobby";

/// One room (`--room SPEC`, issue #3): `name` or `name:key=value,…`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSpec {
    /// Room id as sent in field 1 of `j` (PROTOCOL.md §4.2).
    pub name: String,
    /// Member-integration secret: joins must carry a valid PHP hash (PROTOCOL.md §4.3, §4.5).
    pub token: Option<String>,
    /// Access password: field 13 of `j` must match (ERR 701 / 208).
    pub password: Option<String>,
    /// Maximum number of members (ERR 207 when full).
    pub capacity: Option<usize>,
    /// Name shown in `i1` (defaults to the room id).
    pub title: Option<String>,
    /// A notice present from the start (`s 12`, answered to `noticeList`).
    pub notice: Option<String>,
}

impl RoomSpec {
    /// An open room: no token, no password, no capacity limit.
    pub fn open(name: &str) -> Self {
        RoomSpec {
            name: name.to_owned(),
            ..RoomSpec::default()
        }
    }

    /// Parses `name` or `name:key=value,…` (keys `token`, `password`, `capacity`, `title`,
    /// `notice`). A part without `=` continues the previous value after a comma, so
    /// `title=Hello, world` works. Errors name the room and never quote the spec or a value
    /// other than `capacity`'s: the spec may hold the room's token or password.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (name, rest) = match spec.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (spec, None),
        };
        if name.is_empty() {
            return Err("a room spec starts with ':': the room name before it is empty".into());
        }
        let mut room = RoomSpec::open(name);
        let Some(rest) = rest else { return Ok(room) };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in rest.split(',') {
            match part.split_once('=') {
                Some((k, v)) => pairs.push((k.trim().to_owned(), v.to_owned())),
                None => match pairs.last_mut() {
                    Some((_, v)) => {
                        v.push(',');
                        v.push_str(part);
                    }
                    None if part.is_empty() => {}
                    None => {
                        return Err(format!(
                            "room {name:?}: expected key=value after ':' (e.g. \
                             {name}:token=SECRET,capacity=10); the text there has no '='"
                        ))
                    }
                },
            }
        }
        for (k, v) in pairs {
            match k.as_str() {
                "token" => room.token = Some(v),
                "password" => room.password = Some(v),
                "title" => room.title = Some(v),
                "notice" => room.notice = Some(v),
                "capacity" => {
                    room.capacity = Some(v.trim().parse().map_err(|_| {
                        // Not the value: a part without '=' after it (a mistyped
                        // `token=`) continues it.
                        format!("room {name:?}: capacity is not a whole number")
                    })?)
                }
                other => {
                    return Err(format!(
                        "room {name:?}: unknown key {other:?} \
                         (known: token, password, capacity, title, notice)"
                    ))
                }
            }
        }
        Ok(room)
    }
}

/// Fault injection (`--fault SPEC`, issue #3 item 4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Answer every HTTP request, upgrades included, with a plain `200 OK` HTML page.
    pub hijack200: bool,
    /// Drop each connection (TCP close, no WebSocket close frame) this long after the upgrade.
    pub drop_after: Option<Duration>,
    /// Drop connections that sent nothing for this long (like a proxy's read timeout).
    pub idle_timeout: Option<Duration>,
    /// Split every outgoing WebSocket message at random byte offsets, inside lines.
    pub split_frames: bool,
    /// Delay every outgoing WebSocket message by this long.
    pub delay: Option<Duration>,
    /// Close each connection right after the upgrade.
    pub refuse: bool,
    /// Never answer a WebSocket upgrade: read and discard until the client gives up (a proxy or
    /// server that holds the connection; the SDK's `joinTimeoutMs` ends such an attempt).
    pub hold: bool,
}

impl Faults {
    /// Adds one `--fault` spec: `hijack200`, `drop-after=SECS`, `idle-timeout=SECS`,
    /// `split-frames`, `delay=MS`, `refuse`, `hold`.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (name, value) = match spec.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (spec.trim(), None),
        };
        let need = |unit: &str| {
            value.ok_or_else(|| format!("fault {name:?} needs a value: {name}={unit}"))
        };
        let secs = |v: &str| -> Result<Duration, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("fault {spec:?}: {v:?} is not a positive number of seconds"))
        };
        match name {
            "hijack200" => self.hijack200 = true,
            "split-frames" => self.split_frames = true,
            "refuse" => self.refuse = true,
            "hold" => self.hold = true,
            "drop-after" => self.drop_after = Some(secs(need("SECS")?)?),
            "idle-timeout" => self.idle_timeout = Some(secs(need("SECS")?)?),
            "delay" => {
                let v = need("MS")?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("fault {spec:?}: {v:?} is not a whole number of ms"))?;
                self.delay = Some(Duration::from_millis(ms));
            }
            _ => {
                return Err(format!(
                    "unknown fault {spec:?} (known: hijack200, drop-after=SECS, \
                     idle-timeout=SECS, split-frames, delay=MS, refuse, hold)"
                ))
            }
        }
        if value.is_some() && matches!(name, "hijack200" | "split-frames" | "refuse" | "hold") {
            return Err(format!("fault {name:?} takes no value"));
        }
        Ok(())
    }
}

/// Protocol limits (issue #3 item 3); all configurable.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest accepted line in bytes (escaped, without LF); longer → ERR 105.
    pub max_line: usize,
    /// Longest accepted string/binary field in bytes; longer → ERR 401.
    pub max_field: usize,
    /// Chat lines (`m`, whispers) allowed per [`Limits::flood_window`]; 0 disables.
    pub flood_lines: u32,
    /// Sliding window of the flood limit.
    pub flood_window: Duration,
    /// Identical consecutive chat texts allowed before ERR 430; 0 disables.
    pub repeat_limit: u32,
    /// Length of the automatic `system_mute` after sustained flooding.
    pub flood_mute: Duration,
    /// Allowed difference between the `j` time field and the server clock (ERR 205).
    pub time_skew: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8192,
            max_field: 2048,
            flood_lines: 12,
            flood_window: Duration::from_secs(4),
            repeat_limit: 3,
            flood_mute: Duration::from_secs(60),
            time_skew: 300,
        }
    }
}

/// `--crowd` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Crowd {
    /// Number of simulated users.
    pub users: u32,
    /// Room they join.
    pub room: String,
    /// Mean seconds between two chat lines of one simulated user.
    pub interval: Duration,
    /// Mean seconds a simulated user stays before leaving (and joining again later).
    pub stay: Duration,
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Configured rooms (never empty: [`DEFAULT_ROOM`] when none are given).
    pub rooms: Vec<RoomSpec>,
    /// Create unknown rooms (open) on first join instead of ERR 201; they are removed again when
    /// their last member leaves.
    pub auto_rooms: bool,
    /// Static-file root (canonical path).
    pub www: Option<PathBuf>,
    /// Fault injection.
    pub faults: Faults,
    /// Simulated users.
    pub crowd: Crowd,
    /// Protocol limits.
    pub limits: Limits,
    /// Suppress the per-connection log lines on stderr.
    pub quiet: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            rooms: vec![RoomSpec::open(DEFAULT_ROOM)],
            auto_rooms: false,
            www: None,
            faults: Faults::default(),
            crowd: Crowd {
                users: 0,
                room: DEFAULT_ROOM.to_owned(),
                interval: Duration::from_secs(5),
                stay: Duration::from_secs(60),
            },
            limits: Limits::default(),
            quiet: false,
        }
    }
}

/// The `--config` TOML file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    #[serde(default)]
    room: Vec<RoomSpec>,
    #[serde(default)]
    rooms: Vec<String>,
    auto_rooms: Option<bool>,
    www: Option<PathBuf>,
    #[serde(default)]
    fault: Vec<String>,
    crowd: Option<u32>,
    crowd_room: Option<String>,
    crowd_interval: Option<f64>,
    crowd_stay: Option<f64>,
    max_line: Option<usize>,
    max_field: Option<usize>,
    flood: Option<String>,
    repeat_limit: Option<u32>,
    flood_mute: Option<f64>,
    time_skew: Option<u64>,
    quiet: Option<bool>,
}

fn positive_secs(what: &str, v: f64) -> Result<Duration, String> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("{what}: {v} is not a positive number of seconds"))
    }
}

/// Parses `--flood LINES/SECS` (`0` disables).
pub fn parse_flood(spec: &str) -> Result<(u32, Duration), String> {
    if spec.trim() == "0" {
        return Ok((0, Duration::from_secs(1)));
    }
    let (n, s) = spec
        .split_once('/')
        .ok_or_else(|| format!("--flood {spec:?}: expected LINES/SECS, e.g. 8/4, or 0"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("--flood {spec:?}: {n:?} is not a whole number"))?;
    let s: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("--flood {spec:?}: {s:?} is not a number of seconds"))?;
    Ok((n, positive_secs("--flood", s)?))
}

impl Settings {
    /// Resolves flags + optional config file + defaults.
    pub fn resolve(args: &SimArgs) -> Result<Settings, String> {
        let file = match &args.config {
            Some(path) => read_config(path)?,
            None => FileConfig::default(),
        };
        let base = args.config.as_deref().and_then(Path::parent);
        let mut s = Settings::default();

        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        s.listen = parse_listen(&listen)?;

        let mut rooms = Vec::new();
        if !args.rooms.is_empty() {
            for spec in &args.rooms {
                rooms.push(RoomSpec::parse(spec)?);
            }
        } else {
            rooms.extend(file.room);
            for spec in &file.rooms {
                rooms.push(RoomSpec::parse(spec)?);
            }
        }
        if rooms.is_empty() {
            rooms.push(RoomSpec::open(DEFAULT_ROOM));
        }
        for (i, r) in rooms.iter().enumerate() {
            if r.name.is_empty() {
                return Err("a room has an empty name".to_owned());
            }
            if rooms[..i].iter().any(|o| o.name == r.name) {
                return Err(format!("room {:?} is configured twice", r.name));
            }
            if r.token.as_deref().is_some_and(|t| t.is_empty() || t == "0") {
                return Err(format!(
                    "room {:?}: the token must not be empty or \"0\" (PHP drops such a token)",
                    r.name
                ));
            }
            if r.capacity == Some(0) {
                return Err(format!("room {:?}: capacity must be at least 1", r.name));
            }
        }
        s.rooms = rooms;
        s.auto_rooms = args.auto_rooms || file.auto_rooms.unwrap_or(false);
        s.quiet = args.quiet || file.quiet.unwrap_or(false);

        let www = args
            .www
            .clone()
            .or_else(|| file.www.map(|w| base.map_or(w.clone(), |b| b.join(&w))));
        if let Some(dir) = www {
            let canon =
                std::fs::canonicalize(&dir).map_err(|e| format!("--www {}: {e}", dir.display()))?;
            if !canon.is_dir() {
                return Err(format!("--www {}: not a directory", dir.display()));
            }
            s.www = Some(canon);
        }

        let fault_specs = if args.faults.is_empty() {
            &file.fault
        } else {
            &args.faults
        };
        for f in fault_specs {
            s.faults.add(f)?;
        }

        s.crowd.users = args.crowd.or(file.crowd).unwrap_or(0);
        if let Some(r) = args.crowd_room.clone().or(file.crowd_room) {
            s.crowd.room = r;
        } else {
            s.crowd.room = s.rooms[0].name.clone();
        }
        if s.crowd.users > 0 && !s.auto_rooms && !s.rooms.iter().any(|r| r.name == s.crowd.room) {
            return Err(format!(
                "--crowd-room {:?} is not a configured room (add --room {0} or --auto-rooms)",
                s.crowd.room
            ));
        }
        if let Some(v) = args.crowd_interval.or(file.crowd_interval) {
            s.crowd.interval = positive_secs("--crowd-interval", v)?;
        }
        if let Some(v) = args.crowd_stay.or(file.crowd_stay) {
            s.crowd.stay = positive_secs("--crowd-stay", v)?;
        }

        let l = &mut s.limits;
        if let Some(v) = args.max_line.or(file.max_line) {
            l.max_line = v.max(16);
        }
        if let Some(v) = args.max_field.or(file.max_field) {
            l.max_field = v.max(1);
        }
        if let Some(f) = args.flood.clone().or(file.flood) {
            (l.flood_lines, l.flood_window) = parse_flood(&f)?;
        }
        if let Some(v) = args.repeat_limit.or(file.repeat_limit) {
            l.repeat_limit = v;
        }
        if let Some(v) = args.flood_mute.or(file.flood_mute) {
            l.flood_mute = positive_secs("--flood-mute", v)?;
        }
        if let Some(v) = args.time_skew.or(file.time_skew) {
            l.time_skew = v;
        }
        Ok(s)
    }
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .map_err(|e| format!("--listen {text:?}: {e} (expected HOST:PORT, e.g. 127.0.0.1:8787)"))?
        .next()
        .ok_or_else(|| format!("--listen {text:?}: the name resolves to no address"))
}

/// `message` without what it quotes between backticks: serde's messages quote the value
/// (``invalid type: integer `12345678`, expected a string``), which may be a token or password.
fn unquoted(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("`")
}

fn read_config(path: &Path) -> Result<FileConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    // Not the error's own text: it quotes the line, which may hold a room's token.
    toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(String::new(), |span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" (line {line}, column {column})")
        });
        format!("--config {}{at}: {}", path.display(), unquoted(e.message()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_specs() {
        assert_eq!(RoomSpec::parse("lobby").unwrap(), RoomSpec::open("lobby"));
        let r = RoomSpec::parse("vip:token=s3cret,password=pw,capacity=2,title=Hi, there").unwrap();
        assert_eq!(r.name, "vip");
        assert_eq!(r.token.as_deref(), Some("s3cret"));
        assert_eq!(r.password.as_deref(), Some("pw"));
        assert_eq!(r.capacity, Some(2));
        assert_eq!(r.title.as_deref(), Some("Hi, there"));
        assert!(RoomSpec::parse(":token=x").is_err());
        assert!(RoomSpec::parse("a:colour=red").is_err());
        assert!(RoomSpec::parse("a:capacity=lots").is_err());
        assert!(RoomSpec::parse("a:junk").is_err());
    }

    /// A spec or config file with a mistake is reported without the room's token or
    /// password (a security review found them quoted in every such error).
    #[test]
    fn errors_never_quote_a_secret() {
        for spec in [
            "vip:token=S3CRET,bogus=1",
            "vip:S3CRET",
            "vip:password=S3CRET,capacity=x",
            "vip:token=S3CRET,=x",
            "vip:capacity=10,S3CRET",
            ":token=S3CRET",
        ] {
            let err = RoomSpec::parse(spec).unwrap_err();
            assert!(!err.contains("S3CRET"), "{spec}: {err}");
        }
        let err = RoomSpec::parse("vip:token=S3CRET,colour=red").unwrap_err();
        assert!(
            err.contains("\"vip\"") && err.contains("\"colour\""),
            "{err}"
        );
        let dir = std::env::temp_dir().join(format!("uchat-sim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, text) in [
            "[[room]]\nname = \"vip\"\ntoken = S3CRET\n",
            "rooms = [\"vip:token=S3CRET,colour=red\"]\n",
            "[[room]]\nname = \"vip\"\ntoken = \"S3CRET\" junk\n",
            "[[room]]\nname = \"vip\"\npassword = 123456789\n",
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.join(format!("{i}.toml"));
            std::fs::write(&path, text).unwrap();
            let err = read_config(&path)
                .and_then(|c| {
                    c.rooms
                        .iter()
                        .map(|r| RoomSpec::parse(r))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|_| ())
                })
                .unwrap_err();
            assert!(
                !err.contains("S3CRET") && !err.contains("123456789"),
                "{text}: {err}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fault_specs() {
        let mut f = Faults::default();
        for s in [
            "hijack200",
            "drop-after=1.5",
            "idle-timeout=2",
            "split-frames",
            "delay=30",
            "refuse",
            "hold",
        ] {
            f.add(s).unwrap();
        }
        assert!(f.hijack200 && f.split_frames && f.refuse && f.hold);
        assert_eq!(f.drop_after, Some(Duration::from_millis(1500)));
        assert_eq!(f.idle_timeout, Some(Duration::from_secs(2)));
        assert_eq!(f.delay, Some(Duration::from_millis(30)));
        assert!(f.add("delay").is_err());
        assert!(f.add("drop-after=-1").is_err());
        assert!(f.add("refuse=1").is_err());
        assert!(f.add("hold=1").is_err());
        assert!(f.add("teleport").is_err());
    }

    /// Security default: without `--listen` (or `listen` in a config file) the sim is reachable
    /// from this machine only.
    #[test]
    fn binds_loopback_unless_told_otherwise() {
        let s = Settings::resolve(&SimArgs::default()).unwrap();
        assert!(s.listen.ip().is_loopback(), "{}", s.listen);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        let args = SimArgs {
            listen: Some("0.0.0.0:0".into()),
            ..SimArgs::default()
        };
        assert!(!Settings::resolve(&args).unwrap().listen.ip().is_loopback());
    }

    #[test]
    fn flood_spec() {
        assert_eq!(parse_flood("8/4").unwrap(), (8, Duration::from_secs(4)));
        assert_eq!(parse_flood("0").unwrap().0, 0);
        assert!(parse_flood("8").is_err());
        assert!(parse_flood("x/1").is_err());
    }

    #[test]
    fn toml_config() {
        let cfg: FileConfig = toml::from_str(
            r#"
            listen = "127.0.0.1:0"
            auto_rooms = true
            fault = ["delay=5"]
            rooms = ["extra:password=pw"]
            [[room]]
            name = "club"
            token = "t"
            capacity = 3
            "#,
        )
        .unwrap();
        assert_eq!(cfg.room[0].name, "club");
        assert_eq!(cfg.rooms, vec!["extra:password=pw".to_owned()]);
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }
}
