//! `cargo xtask pkg`, `cargo xtask size` and the `pkg` CI suite: the npm package `uchat-bot`
//! (issue 5 points 1 and 6).
//!
//! [`build_web`] is the one way the browser build is made (the userscript and the demo reuse it):
//! `cargo build --release` for wasm32, `wasm-bindgen --target web`, then `wasm-opt -Os` from the
//! npm package `binaryen` pinned in `tools/package.json`.
//!
//! [`pkg`] then minifies the JS it ships with terser (also pinned in `tools/package.json`, run by
//! `tools/minify.mjs`), each file with a source map next to it; [`minify_js`] does the same for
//! the userscript. `size` counts the files exactly as shipped: the wasm and the minified JS, not
//! the source maps. The demo's `www/pkg/` stays readable.
//!
//! JS modules the Rust code imports (`#[wasm_bindgen(module = "/src/web/hub.js")]`) are written
//! by wasm-bindgen under `OUT/snippets/` and imported by the glue as `./snippets/…`: every
//! distribution ships that directory next to `uchat_bot.js` (the userscript inlines it).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::{run_checked, stream, Ctx, CHROMIUM, WASM_TARGET};

/// Largest allowed gzipped size of wasm + JS glue + facade (issue 5 point 6).
pub const SIZE_LIMIT: u64 = 40 * 1024;

/// What [`build_web`] made.
pub struct WebBuild {
    /// The wasm-bindgen ES module (`OUT/uchat_bot.js`).
    pub js: PathBuf,
    /// The wasm module it loads (`OUT/uchat_bot_bg.wasm`), optimised when `optimised` is true.
    pub wasm: PathBuf,
    /// The declarations wasm-bindgen wrote (`OUT/uchat_bot.d.ts`).
    pub dts: PathBuf,
    /// Every file wasm-bindgen wrote under `OUT/snippets/` (the JS modules the glue imports),
    /// relative to `OUT` with `/` separators, sorted; see [`snippet_files`].
    pub snippets: Vec<String>,
    /// Whether `wasm-opt` ran (false in debug builds, or when `binaryen` could not be installed).
    pub optimised: bool,
}

/// The build directory every cargo command of xtask shares.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `tools/<rel>` (a file an npm package in tools/package.json installs), running `npm ci` in
/// `tools/` first if it is missing; an error saying why when it cannot be had, e.g. on a machine
/// without npm.
pub(crate) fn tools_file(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let tools = root.join("tools");
    let file = tools.join(rel);
    if !file.is_file() {
        run_checked(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&tools),
        )
        .map_err(|e| format!("npm ci in tools/ failed: {e}"))?;
    }
    if file.is_file() {
        Ok(file)
    } else {
        Err(format!("npm ci in tools/ did not install tools/{rel}"))
    }
}

/// `tools/node_modules/.bin/wasm-opt`, running `npm ci` in `tools/` first if it is missing.
/// None (with a printed reason) when it cannot be had, e.g. on a machine without npm.
pub fn wasm_opt(root: &Path) -> Option<PathBuf> {
    match tools_file(root, "node_modules/.bin/wasm-opt") {
        Ok(bin) => Some(bin),
        Err(e) => {
            say!("note: no wasm-opt ({e}); the wasm stays unoptimised");
            None
        }
    }
}

/// The minifier script (terser, pinned in tools/package.json) every shipped JS file goes through.
const MINIFY_SCRIPT: &str = "tools/minify.mjs";

/// What a JS file given to [`minify_js`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum JsKind {
    /// An ES module (the package's glue, facade and snippets): exports, import specifiers and
    /// `import.meta.url` are kept; a source map `FILE.map` (with the original text) goes next to
    /// it and the file ends with `//# sourceMappingURL=FILE.map`.
    Module,
    /// A classic script (the single-file userscript), minified without a source map; a leading
    /// `// ==UserScript==` block and `/*! … */` headers stay as they are.
    Script,
}

/// Whether the shipped JS is minified: what `size` prints next to its figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsForm {
    /// Minified by this terser version.
    Minified { terser: String },
    /// Left readable, because the minifier could not be installed (the reason).
    Readable { why: String },
}

impl JsForm {
    /// One line for build and size output.
    pub fn describe(&self) -> String {
        match self {
            JsForm::Minified { terser } => format!(
                "JS minified by terser {terser} ({MINIFY_SCRIPT}); source maps (*.map) ship \
                 next to it and are not counted (browsers fetch them only with devtools open)"
            ),
            JsForm::Readable { why } => {
                format!("JS NOT minified ({why}): the figures are for readable JS")
            }
        }
    }
}

/// Minifies `files` in place with terser through [`MINIFY_SCRIPT`] (see [`JsKind`]), installing
/// the pinned terser with `npm ci` in tools/ if it is missing. When node or terser cannot be
/// installed at all the files stay readable ([`JsForm::Readable`], like the wasm-opt fallback);
/// when terser runs and fails, that is an error.
pub fn minify_js(root: &Path, files: &[PathBuf], kind: JsKind) -> Result<JsForm, String> {
    if crate::which("node").is_none() {
        return Ok(JsForm::Readable {
            why: "node is not installed".into(),
        });
    }
    if let Err(why) = tools_file(root, "node_modules/terser/package.json") {
        return Ok(JsForm::Readable { why });
    }
    let mut cmd = Command::new("node");
    cmd.arg(root.join(MINIFY_SCRIPT));
    if kind == JsKind::Script {
        cmd.args(["--script", "--no-map"]);
    }
    cmd.args(files);
    let (ok, lines) = stream(&mut cmd)?;
    if !ok {
        return Err(format!(
            "minifying the shipped JS failed ({MINIFY_SCRIPT}, terser; the reason is above)"
        ));
    }
    lines
        .iter()
        .rev()
        .find_map(|l| terser_version(l))
        .map(|terser| JsForm::Minified { terser })
        .ok_or_else(|| {
            format!("{MINIFY_SCRIPT} ended without its `minify: terser VERSION, N file(s)` line")
        })
}

/// `minify: terser 5.51.2, 3 file(s)` → `5.51.2`.
fn terser_version(line: &str) -> Option<String> {
    let (version, files) = line.strip_prefix("minify: terser ")?.split_once(", ")?;
    let valid = !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+')
        && files.ends_with(" file(s)");
    valid.then(|| version.to_string())
}

/// The directory under a build's output where wasm-bindgen writes the JS snippets.
pub const SNIPPETS_DIR: &str = "snippets";

/// Every file under `dir/snippets/`, as paths relative to `dir` with `/` separators, sorted
/// (empty when there is no such directory).
pub fn snippet_files(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), String> {
        let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| format!("{}: a file name that is not UTF-8", dir.display()))?;
            let rel = format!("{rel}/{name}");
            let path = entry.path();
            if path.is_dir() {
                walk(&path, &rel, out)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let top = dir.join(SNIPPETS_DIR);
    if top.is_dir() {
        walk(&top, SNIPPETS_DIR, &mut out)?;
    }
    out.sort();
    Ok(out)
}

/// Checks that every module `glue` (the text of `uchat_bot.js` in `out_dir`) imports is one of
/// the `snippets` wasm-bindgen wrote next to it, so the directory works as shipped.
fn check_glue_imports(glue: &str, out_dir: &Path, snippets: &[String]) -> Result<(), String> {
    for from in crate::site::import_specifiers(glue, "uchat_bot.js")? {
        let found = from
            .strip_prefix("./")
            .is_some_and(|rel| snippets.iter().any(|s| s == rel));
        if !found {
            return Err(format!(
                "uchat_bot.js imports `{from}`, which is not a file wasm-bindgen wrote under {}",
                out_dir.join(SNIPPETS_DIR).display()
            ));
        }
    }
    Ok(())
}

/// Builds the browser SDK into `out_dir`: `uchat_bot.js` (ES module, `--target web`),
/// `uchat_bot_bg.wasm`, `uchat_bot.d.ts` and the JS snippets under `snippets/`.
///
/// `release`: the size-tuned release profile plus `wasm-opt -Os` (skipped with a note if
/// `binaryen` cannot be installed); otherwise a debug build, quicker to make, not optimised.
pub fn build_web(root: &Path, release: bool, out_dir: &Path) -> Result<WebBuild, String> {
    let profile = if release {
        Profile::Release
    } else {
        Profile::Debug
    };
    build_web_as(root, profile, out_dir)
}

/// A cargo profile for the browser build.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Debug build, not optimised.
    Debug,
    /// The shipped build: `[profile.release]` (tuned for size) + `wasm-opt -Os`.
    Release,
    /// `[profile.release-speed]` + `wasm-opt`: the same code built for speed, only by `cargo
    /// xtask bench`, to measure the size/speed trade-off side by side (docs/PERFORMANCE.md
    /// "Size or speed"). The field is the rustc opt-level (`b'3'` by default, as the profile
    /// says; `cargo xtask bench --second-opt-level L` picks another): `0`–`3` get
    /// `wasm-opt -O3`, `s`/`z` the shipped build's `-Os --converge`.
    Speed(u8),
}

/// Removes the cdylib `raw` (and its copy in `deps/`) unless `stamp` names `root` as the
/// checkout that built it last.
///
/// The target directory is shared between checkouts by default, and a cdylib's file name has
/// no per-package hash, so each checkout's build writes the same `uchat_bot.wasm`. Cargo
/// judges a checkout's build fresh when that file is newer than the checkout's sources, so
/// after another checkout built, `cargo build` here did nothing and the other checkout's wasm
/// was packaged (seen in session 15: `cargo xtask size` measured a clone's code). A stamp
/// next to the file names the workspace that built it; a missing output makes cargo build
/// again.
fn forget_other_checkouts_wasm(root: &Path, raw: &Path, stamp: &Path) {
    let ours = fs::read_to_string(stamp).is_ok_and(|r| Path::new(&r) == root);
    if !ours {
        let _ = fs::remove_file(raw);
        if let (Some(dir), Some(name)) = (raw.parent(), raw.file_name()) {
            let _ = fs::remove_file(dir.join("deps").join(name));
        }
    }
}

/// rustc flags the shipped wasm build adds to `.cargo/config.toml`'s (cargo appends a
/// `CARGO_TARGET_<triple>_RUSTFLAGS` from the environment to the config's): LLVM's inliner at
/// threshold 40 instead of opt-level "z"'s 5 for size-optimised functions.
/// That inlines the decode path's small helpers for +3.0 KB gzipped (thresholds measured side
/// by side, docs/PERFORMANCE.md "Session 16": 30: +2.4 KB, +4 % decode speed in Chromium;
/// 40: +3.0 KB, +5.5–8 %; 75: +4.7 KB, +5.6 %), where `opt-level = "s"` or 3 cost far more.
/// An environment variable, not config: it must not reach the speed build, whose opt-level 3
/// has its own, higher threshold.
pub const SHIPPED_WASM_RUSTFLAGS: &str = "-C llvm-args=-inline-threshold=40";

/// [`build_web`] with any [`Profile`].
pub fn build_web_as(root: &Path, profile: Profile, out_dir: &Path) -> Result<WebBuild, String> {
    let release = profile != Profile::Debug;
    let mut cargo = Command::new("cargo");
    cargo
        .args(["build", "-p", "uchat-bot", "--lib", "--target", WASM_TARGET])
        .current_dir(root);
    match profile {
        Profile::Debug => {}
        Profile::Release => {
            cargo.arg("--release");
        }
        Profile::Speed(level) => {
            cargo.args(["--profile", "release-speed"]).env(
                "CARGO_PROFILE_RELEASE_SPEED_OPT_LEVEL",
                char::from(level).to_string(),
            );
        }
    }
    if matches!(profile, Profile::Release | Profile::Speed(b'z')) {
        // The shipped settings (a `--second-rev` build too, so that A/B runs compare code).
        cargo.env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            SHIPPED_WASM_RUSTFLAGS,
        );
    }
    let profile_dir = match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
        Profile::Speed(_) => "release-speed",
    };
    let raw = target_dir(root)
        .join(WASM_TARGET)
        .join(profile_dir)
        .join("uchat_bot.wasm");
    let stamp = raw.with_extension("wasm.root");
    forget_other_checkouts_wasm(root, &raw, &stamp);
    run_checked(&mut cargo)?;
    fs::write(&stamp, root.to_string_lossy().as_bytes())
        .map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    fs::create_dir_all(out_dir).map_err(|e| format!("mkdir {}: {e}", out_dir.display()))?;
    // Snippet directories are named by a hash: drop those of an earlier build of a reused
    // directory (www/pkg) so only what this glue imports is served and counted.
    let old_snippets = out_dir.join(SNIPPETS_DIR);
    if old_snippets.exists() {
        fs::remove_dir_all(&old_snippets)
            .map_err(|e| format!("rm -r {}: {e}", old_snippets.display()))?;
    }
    run_checked(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-name", "uchat_bot", "--out-dir"])
            .arg(out_dir)
            .arg(&raw),
    )?;
    let js = out_dir.join("uchat_bot.js");
    let glue = fs::read_to_string(&js).map_err(|e| format!("reading {}: {e}", js.display()))?;
    let snippets = snippet_files(out_dir)?;
    check_glue_imports(&glue, out_dir, &snippets)?;
    let build = WebBuild {
        js,
        wasm: out_dir.join("uchat_bot_bg.wasm"),
        dts: out_dir.join("uchat_bot.d.ts"),
        snippets,
        optimised: false,
    };
    if !release {
        return Ok(build);
    }
    let Some(opt) = wasm_opt(root) else {
        return Ok(build);
    };
    // The enabled features come from the module's target_features section (what rustc used).
    // -Os, not -Oz: what counts is the gzipped size, and -Os measured 60-360 bytes smaller
    // gzipped on this module (while 1.5 % larger raw). --converge (repeat until nothing
    // shrinks) measured 263 bytes smaller gzipped than one -Os round (docs/DESIGN.md "Size").
    //
    // First the short names (crate::names): a pass of its own, before the optimisation, so its
    // mapping is printed once; it measured 200 bytes smaller gzipped than the same pass at the
    // end of the -Os run.
    let short = out_dir.join("uchat_bot_bg.short.wasm");
    let mapping = crate::capture_cmd(
        Command::new(&opt)
            .arg(&build.wasm)
            .args(["--minify-imports-and-exports-and-modules", "-o"])
            .arg(&short),
    )?;
    let mapping = crate::names::parse_mapping(&mapping)?;
    let tmp = out_dir.join("uchat_bot_bg.opt.wasm");
    run_checked(
        Command::new(&opt)
            .arg(&short)
            .args(if matches!(profile, Profile::Speed(b'0'..=b'3')) {
                &["-O3"][..]
            } else {
                &["-Os", "--converge"][..]
            })
            .args(["--strip-debug", "--strip-producers", "-o"])
            .arg(&tmp),
    )?;
    fs::rename(&tmp, &build.wasm).map_err(|e| format!("mv {}: {e}", tmp.display()))?;
    fs::remove_file(&short).map_err(|e| format!("rm {}: {e}", short.display()))?;
    let wasm =
        fs::read(&build.wasm).map_err(|e| format!("reading {}: {e}", build.wasm.display()))?;
    let [module] = crate::names::import_modules(&wasm)?
        .try_into()
        .map_err(|m: Vec<String>| {
            format!(
                "the renamed wasm imports from {} modules, expected one",
                m.len()
            )
        })?;
    let glue = crate::names::rename_glue(&glue, &mapping, &module)?;
    fs::write(&build.js, glue).map_err(|e| format!("writing {}: {e}", build.js.display()))?;
    Ok(WebBuild {
        optimised: true,
        ..build
    })
}

/// The version in the workspace Cargo.toml (`[workspace.package] version = "…"`).
pub fn workspace_version(root: &Path) -> Result<String, String> {
    let toml = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("reading Cargo.toml: {e}"))?;
    let mut in_section = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section {
            if let Some(v) = line
                .strip_prefix("version")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
                .map(str::trim)
                .and_then(|l| l.strip_prefix('"'))
                .and_then(|l| l.split('"').next())
            {
                return Ok(v.to_string());
            }
        }
    }
    Err("Cargo.toml: no `version` in [workspace.package]".into())
}

/// The placeholder in pkg-template/package.json that becomes the Cargo.toml version.
const VERSION_PLACEHOLDER: &str = "\"version\": \"0.0.0-set-by-xtask\"";
/// The entry of pkg-template/package.json `files` that makes `npm pack` ship the snippets.
const FILES_SNIPPETS: &str = "\"snippets/\"";
/// The entries of pkg-template/package.json `files` that ship the source maps of the minified
/// glue and facade (the snippets' maps are under `snippets/`).
const FILES_MAPS: &[&str] = &["\"uchat_bot.js.map\"", "\"index.js.map\""];

/// What [`pkg`] built.
pub struct Pkg {
    /// The package directory (`pkg/`).
    pub dir: PathBuf,
    /// Whether its JS is minified.
    pub js: JsForm,
}

/// `cargo xtask pkg`: builds `pkg/`, the npm package, from pkg-template/ and the release build,
/// then minifies every JS file it ships (the glue `uchat_bot.js`, the facade `index.js` and the
/// snippets under `snippets/`) in place, each with its source map `FILE.map` ([`minify_js`]).
pub fn pkg(root: &Path) -> Result<Pkg, String> {
    let out = root.join("pkg");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("rm -r {}: {e}", out.display()))?;
    }
    let build = build_web(root, true, &out)?;
    if !build.js.is_file() || !build.wasm.is_file() {
        return Err(format!("wasm-bindgen did not write {}", build.js.display()));
    }
    // wasm-bindgen's own declarations are replaced by the facade's index.d.ts.
    for extra in [build.dts.clone(), out.join("uchat_bot_bg.wasm.d.ts")] {
        let _ = fs::remove_file(extra);
    }
    let template = root.join("pkg-template");
    let entries =
        fs::read_dir(&template).map_err(|e| format!("reading {}: {e}", template.display()))?;
    let version = workspace_version(root)?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", template.display()))?;
        let from = entry.path();
        if !from.is_file() {
            continue;
        }
        let to = out.join(entry.file_name());
        if entry.file_name() == "package.json" {
            let text = fs::read_to_string(&from)
                .map_err(|e| format!("reading {}: {e}", from.display()))?;
            if !text.contains(VERSION_PLACEHOLDER) {
                return Err(format!(
                    "{} must contain {VERSION_PLACEHOLDER} (replaced by the Cargo.toml version)",
                    from.display()
                ));
            }
            if !build.snippets.is_empty() && !text.contains(FILES_SNIPPETS) {
                return Err(format!(
                    "{} must list {FILES_SNIPPETS} in `files`: uchat_bot.js imports {}",
                    from.display(),
                    build.snippets.join(", ")
                ));
            }
            if let Some(missing) = FILES_MAPS.iter().find(|m| !text.contains(*m)) {
                return Err(format!(
                    "{} must list {missing} in `files`: the source map of the minified JS",
                    from.display()
                ));
            }
            let text = text.replace(VERSION_PLACEHOLDER, &format!("\"version\": \"{version}\""));
            fs::write(&to, text).map_err(|e| format!("writing {}: {e}", to.display()))?;
        } else {
            fs::copy(&from, &to)
                .map_err(|e| format!("cp {} {}: {e}", from.display(), to.display()))?;
        }
    }
    let mut shipped_js: Vec<PathBuf> = ["uchat_bot.js", "index.js"]
        .iter()
        .map(|f| out.join(f))
        .collect();
    shipped_js.extend(build.snippets.iter().map(|s| out.join(s)));
    let js = minify_js(root, &shipped_js, JsKind::Module)?;
    if !build.optimised {
        say!("note: pkg/uchat_bot_bg.wasm is not optimised (no wasm-opt)");
    }
    if let JsForm::Readable { .. } = js {
        say!("note: {}", js.describe());
    }
    say!("built {} (uchat-bot {version})", out.display());
    Ok(Pkg { dir: out, js })
}

/// `cargo xtask pkg | size | pkg-test` (dispatched from main.rs).
pub fn command(ctx: &Ctx, cmd: &str, rest: &[String]) -> Result<ExitCode, String> {
    if let Some(extra) = rest.first() {
        return Err(format!("`{cmd}` takes no arguments, got `{extra}`"));
    }
    let result = match cmd {
        "pkg" => pkg(&ctx.root).map(|_| ()),
        "size" => pkg(&ctx.root)
            .and_then(|p| size_report(&p.dir, &p.js))
            .map(|_| ()),
        "pkg-test" => pkg_test(&ctx.root),
        other => return Err(format!("unknown command `{other}`")),
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            say_err!("xtask {cmd} failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Bytes of `gzip -9 -c FILE` (xtask stays std-only, so gzip is a child process).
fn gzipped_len(file: &Path) -> Result<u64, String> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip -9 -c {} failed", file.display()));
    }
    Ok(out.stdout.len() as u64)
}

/// The files a browser downloads from the package, in the order `size` prints them; the JS
/// snippets under `snippets/` (see [`snippet_files`]) follow them. These are the files as
/// shipped: after [`pkg`] minified the JS (unless it could not, see [`JsForm`]). The source maps
/// (`*.map`) are not counted: browsers fetch them only when devtools are open.
const SHIPPED: &[&str] = &["uchat_bot_bg.wasm", "uchat_bot.js", "index.js"];

/// The files `size` counts in `pkg_dir`: [`SHIPPED`], then every snippet except source maps.
fn counted_files(pkg_dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = SHIPPED.iter().map(|s| s.to_string()).collect();
    names.extend(
        snippet_files(pkg_dir)?
            .into_iter()
            .filter(|f| !f.ends_with(".map")),
    );
    Ok(names)
}

/// Prints raw and gzipped sizes of what the browser downloads from `pkg_dir` ([`counted_files`]:
/// the wasm, and the JS exactly as shipped) with a line saying whether that JS is minified
/// (`js`), and fails when the gzipped total is over [`SIZE_LIMIT`]. Returns the gzipped total.
pub fn size_report(pkg_dir: &Path, js: &JsForm) -> Result<u64, String> {
    let names = counted_files(pkg_dir)?;
    let w = names.iter().map(String::len).max().unwrap_or(0).max(22);
    let mut total = 0;
    say!("{:<w$} {:>9} {:>12}", "file", "bytes", "gzip -9");
    for name in &names {
        let file = pkg_dir.join(name);
        let raw = fs::metadata(&file)
            .map_err(|e| format!("{}: {e} (run `cargo xtask pkg`)", file.display()))?
            .len();
        let gz = gzipped_len(&file)?;
        total += gz;
        say!("{name:<w$} {raw:>9} {gz:>12}");
    }
    let kib = total as f64 / 1024.0;
    let limit_kib = SIZE_LIMIT / 1024;
    say!(
        "{:<w$} {:>9} {total:>12}  ({kib:.1} KiB, limit {limit_kib} KiB)",
        "total",
        ""
    );
    say!("{}", js.describe());
    if total > SIZE_LIMIT {
        return Err(format!(
            "gzipped wasm + JS is {total} bytes ({kib:.1} KiB), over the {limit_kib} KiB limit"
        ));
    }
    Ok(total)
}

/// `cargo xtask pkg-test` (the `pkg` CI suite): builds pkg/, prints the size report and runs the
/// consumer test (tests/browser/pkg-consumer.mjs). The build counts as one test, the consumer
/// test's own checks as theirs; the last line is
/// `test result: ok|FAILED. N passed; M failed`, the form `cargo xtask ci` counts.
fn pkg_test(root: &Path) -> Result<(), String> {
    let (mut passed, mut failed) = (0, 0);
    let mut count = |name: &str, r: Result<(), String>| match r {
        Ok(()) => passed += 1,
        Err(e) => {
            failed += 1;
            say!("FAIL - {name}: {e}");
        }
    };
    match pkg(root) {
        Err(e) => count("cargo xtask pkg", Err(e)),
        Ok(Pkg { dir, js }) => {
            count("cargo xtask pkg", Ok(()));
            // The size budget (issue 5 point 6) is a product target, tracked by `cargo xtask
            // size` (which exits non-zero when over it). Here it is reported, not counted: an
            // unmet budget must not hide the test results of everything else.
            if let Err(e) = size_report(&dir, &js) {
                say!("NOTE - size budget not met: {e}");
            }
            match consumer_test(root, &dir) {
                Ok((p, f)) => {
                    passed += p;
                    failed += f;
                }
                Err(e) => {
                    failed += 1;
                    say!("FAIL - pkg-consumer: {e}");
                }
            }
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    say!("test result: {verdict}. {passed} passed; {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} check(s) failed"))
    }
}

/// Runs tests/browser/pkg-consumer.mjs against `pkg_dir` and a debug `uchat` build; returns the
/// counts from its final `pkg-consumer: N passed, M failed` line.
fn consumer_test(root: &Path, pkg_dir: &Path) -> Result<(usize, usize), String> {
    run_checked(
        Command::new("cargo")
            .args(["build", "--quiet", "-p", "uchat-cli"])
            .current_dir(root),
    )?;
    let uchat = target_dir(root).join("debug").join("uchat");
    let (_, lines) = stream(
        Command::new("node")
            .arg(root.join("tests/browser/pkg-consumer.mjs"))
            .arg("--pkg")
            .arg(pkg_dir)
            .arg("--tools")
            .arg(root.join("tools"))
            .arg("--uchat")
            .arg(&uchat)
            .arg("--chromium")
            .arg(CHROMIUM),
    )?;
    lines
        .iter()
        .rev()
        .find_map(|l| parse_counts(l.strip_prefix("pkg-consumer: ")?))
        .ok_or_else(|| {
            "pkg-consumer.mjs ended without its `pkg-consumer: N passed, M failed` line".into()
        })
}

/// `N passed, M failed` → (N, M).
fn parse_counts(text: &str) -> Option<(usize, usize)> {
    let (p, f) = text.split_once(", ")?;
    let p = p.strip_suffix(" passed")?.parse().ok()?;
    let f = f.trim_end().strip_suffix(" failed")?.parse().ok()?;
    Some((p, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace root, read at run time (see `Ctx::new` in main.rs for why not `env!`).
    fn workspace_root() -> PathBuf {
        let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
        dir.parent()
            .expect("xtask/ is inside the workspace")
            .to_path_buf()
    }

    #[test]
    fn reads_the_workspace_version() {
        let root = &workspace_root();
        let v = workspace_version(root).unwrap();
        assert_eq!(v.split('.').count(), 3, "{v}");
    }

    #[test]
    fn parses_the_consumer_summary() {
        assert_eq!(parse_counts("24 passed, 0 failed"), Some((24, 0)));
        assert_eq!(parse_counts("3 passed, 2 failed\n"), Some((3, 2)));
        assert_eq!(parse_counts("3 passed"), None);
        assert_eq!(parse_counts("x passed, 0 failed"), None);
    }

    #[test]
    fn reads_the_terser_version_from_the_minify_summary() {
        let v = terser_version("minify: terser 5.51.2, 3 file(s)");
        assert_eq!(v.as_deref(), Some("5.51.2"));
        assert_eq!(terser_version("minify: terser , 3 file(s)"), None);
        assert_eq!(terser_version("minify: terser 5.51.2"), None);
        assert_eq!(terser_version("minify: terser 5 51, 1 file(s)"), None);
        assert_eq!(terser_version("minified x.js: 10 → 5 bytes"), None);
    }

    #[test]
    fn describes_the_js_form_honestly() {
        let min = JsForm::Minified {
            terser: "5.51.2".into(),
        };
        assert!(min.describe().contains("minified by terser 5.51.2"));
        let raw = JsForm::Readable {
            why: "node is not installed".into(),
        };
        assert!(raw
            .describe()
            .contains("NOT minified (node is not installed)"));
    }

    #[test]
    fn counts_the_shipped_files_but_not_the_source_maps() {
        let dir = env::temp_dir().join(format!("xtask-counted-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let web = dir.join("snippets/uchat-bot-0123/src/web");
        fs::create_dir_all(&web).unwrap();
        fs::write(web.join("hub.js"), "export class Hub{}\n").unwrap();
        fs::write(web.join("hub.js.map"), "{}").unwrap();
        fs::write(dir.join("uchat_bot.js.map"), "{}").unwrap();
        assert_eq!(
            counted_files(&dir).unwrap(),
            [
                "uchat_bot_bg.wasm",
                "uchat_bot.js",
                "index.js",
                "snippets/uchat-bot-0123/src/web/hub.js"
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn template_has_the_version_placeholder() {
        let root = &workspace_root();
        let text = fs::read_to_string(root.join("pkg-template/package.json")).unwrap();
        assert!(text.contains(VERSION_PLACEHOLDER));
        assert!(text.contains(FILES_SNIPPETS));
        for map in FILES_MAPS {
            assert!(text.contains(map), "{map}");
        }
    }

    #[test]
    fn lists_snippet_files_recursively_and_checks_the_glue_imports() {
        let dir = env::temp_dir().join(format!("xtask-snippets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(snippet_files(&dir).unwrap(), Vec::<String>::new());
        let web = dir.join("snippets/uchat-bot-0123/src/web");
        fs::create_dir_all(&web).unwrap();
        fs::write(web.join("hub.js"), "export class Hub {}\n").unwrap();
        fs::write(
            dir.join("snippets/uchat-bot-0123/inline0.js"),
            "export function f() {}\n",
        )
        .unwrap();
        fs::write(dir.join("uchat_bot.js"), "not a snippet\n").unwrap();
        let files = snippet_files(&dir).unwrap();
        assert_eq!(
            files,
            [
                "snippets/uchat-bot-0123/inline0.js",
                "snippets/uchat-bot-0123/src/web/hub.js"
            ]
        );
        let glue = "import { Hub } from './snippets/uchat-bot-0123/src/web/hub.js';\nlet wasm;\n";
        assert_eq!(check_glue_imports(glue, &dir, &files), Ok(()));
        let stale = glue.replace("0123", "4567");
        let err = check_glue_imports(&stale, &dir, &files).unwrap_err();
        assert!(
            err.contains("./snippets/uchat-bot-4567/src/web/hub.js"),
            "{err}"
        );
        let bare = "import { x } from 'somewhere';\n";
        assert!(check_glue_imports(bare, &dir, &files)
            .unwrap_err()
            .contains("`somewhere`"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
