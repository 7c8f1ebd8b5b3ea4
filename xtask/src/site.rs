//! `cargo xtask userscript`, `cargo xtask demo` and the `userscript` / `widget` CI suites
//! (issue 5 points 2–4).
//!
//! * `userscript` turns the wasm-bindgen ES module (`--target web`, made by
//!   [`crate::pkg::build_web`]) into one classic script, `dist/uchat-bot.user.js`: the glue is
//!   wrapped in a function with its `export`s removed, the wasm is inlined as base64 and
//!   instantiated synchronously, and `UChatBot` becomes a global. That is what a userscript
//!   manager's `@require` and a plain `<script>` tag need. The JS snippets the glue imports
//!   (`./snippets/…`, e.g. src/web/hub.js) are inlined the same way, each in its own function
//!   scope, and bound inside the glue's scope under the names it imports. The whole script is
//!   then minified with terser ([`crate::pkg::minify_js`], no source map: it stays one file);
//!   its `/*! … */` header stays readable. The readable sources are src/web/, pkg-template/
//!   and the npm package's source maps.
//! * `demo` builds the SDK into `www/pkg/`, starts `uchat sim --www www --crowd 5` and prints the
//!   URL of the demo page (`www/index.html` with the `<uchat-bot-widget>` element).
//! * `site-test userscript|widget` builds what a browser test needs and runs
//!   `tests/browser/site-<name>.mjs` (Node + playwright-core from `tools/`); it repeats the
//!   script's final `site-<name>: N passed, M failed` line in the form `cargo xtask ci` counts.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::pkg::{JsForm, JsKind};
use crate::procs::signals;
use crate::{ensure_rustup, ensure_wasm_bindgen_cli, run_checked, stream, Ctx};

/// Where `cargo xtask userscript` writes the single-file build.
pub const USERSCRIPT_OUT: &str = "dist/uchat-bot.user.js";
/// Its SHA-256, as `sha256sum` writes it (`HEX  uchat-bot.user.js`).
pub const USERSCRIPT_SHA256: &str = "dist/uchat-bot.user.js.sha256";
/// Its file name, also used for the readable copy in the build directory.
const USERSCRIPT_NAME: &str = "uchat-bot.user.js";
/// Address `cargo xtask demo` listens on unless told otherwise.
const DEMO_LISTEN: &str = "127.0.0.1:8787";
/// Simulated users in the demo room.
const DEMO_CROWD: &str = "5";

const DEMO_USAGE: &str = "\
cargo xtask demo [--port PORT | --listen HOST:PORT] [--check]

Builds the browser SDK into www/pkg/ (installing the wasm32 target and the matching
wasm-bindgen-cli first if they are missing), builds `uchat`, then runs
`uchat sim --www www --crowd 5` on 127.0.0.1:8787 and prints the URL to open.
Stop it with Ctrl-C.

--check   do all of that, then check that the page, the SDK and the crowd are there
          (HTTP GETs of the URL, the 5 simulated users joining) and stop: exit 0 if so
          (the `demo` suite of `cargo xtask ci` runs `--port 0 --check`).";

/// `cargo xtask userscript | demo | site-test` (dispatched from main.rs).
pub fn command(ctx: &Ctx, cmd: &str, rest: &[String]) -> Result<ExitCode, String> {
    match cmd {
        "userscript" => {
            if let Some(extra) = rest.first() {
                return Err(format!("`userscript` takes no arguments, got `{extra}`"));
            }
            Ok(match userscript(&ctx.root) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    say_err!("xtask userscript failed: {e}");
                    ExitCode::FAILURE
                }
            })
        }
        "demo" => demo(ctx, rest),
        "site-test" => site_test(ctx, rest),
        other => Err(format!("unknown command `{other}`")),
    }
}

// ---------------------------------------------------------------------------------------------
// cargo xtask userscript
// ---------------------------------------------------------------------------------------------

/// The npm package's facade (pkg-template/index.js): the userscript build wraps it too, so the
/// global `UChatBot` behaves exactly like the package's class (chainable `on`, clear errors).
const FACADE: &str = "pkg-template/index.js";
/// The module the facade imports the wasm-bindgen glue as.
const GLUE_SPECIFIER: &str = "./uchat_bot.js";
/// How the glue imports the JS snippets wasm-bindgen writes next to it (`OUT/snippets/…`).
const SNIPPET_PREFIX: &str = "./snippets/";

/// `cargo xtask userscript`: builds `dist/uchat-bot.user.js`; returns its path.
pub fn userscript(root: &Path) -> Result<PathBuf, String> {
    let version = crate::pkg::workspace_version(root)?;
    let build_dir = crate::pkg::target_dir(root).join("xtask-userscript");
    if build_dir.exists() {
        fs::remove_dir_all(&build_dir)
            .map_err(|e| format!("rm -r {}: {e}", build_dir.display()))?;
    }
    let build = crate::pkg::build_web(root, true, &build_dir)?;
    let read =
        |p: &Path| fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let glue = read(&build.js)?;
    let facade = read(&root.join(FACADE))?;
    let wasm =
        fs::read(&build.wasm).map_err(|e| format!("reading {}: {e}", build.wasm.display()))?;
    let script = classic_script(&glue, &facade, &wasm, &version, &snippet_reader(&build_dir))?;
    // Made readable in the build directory, then minified as a whole (one scope: names are
    // mangled across glue, snippets and facade), then copied: dist/ never holds a half-made file.
    let made = build_dir.join(USERSCRIPT_NAME);
    fs::write(&made, script).map_err(|e| format!("writing {}: {e}", made.display()))?;
    let js = crate::pkg::minify_js(root, std::slice::from_ref(&made), JsKind::Script)?;
    let out = root.join(USERSCRIPT_OUT);
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    let bytes = fs::read(&made).map_err(|e| format!("reading {}: {e}", made.display()))?;
    fs::write(&out, &bytes).map_err(|e| format!("writing {}: {e}", out.display()))?;
    // The hash for `@require URL#sha256=HEX` (Tampermonkey refuses a file that differs, so a
    // changed or tampered copy on the host never runs), also as a `sha256sum -c` file.
    let hash = crate::sha256::hex(&bytes);
    let sums = root.join(USERSCRIPT_SHA256);
    fs::write(&sums, format!("{hash}  {USERSCRIPT_NAME}\n"))
        .map_err(|e| format!("writing {}: {e}", sums.display()))?;
    say!(
        "built {} ({} KB, wasm {} KB{}, {})",
        out.display(),
        fs::metadata(&out).map(|m| m.len() / 1024).unwrap_or(0),
        wasm.len() / 1024,
        if build.optimised {
            ", wasm-opt"
        } else {
            ", not optimised: no wasm-opt"
        },
        match &js {
            JsForm::Minified { terser } => format!("JS minified by terser {terser}"),
            JsForm::Readable { why } => format!("JS not minified: {why}"),
        }
    );
    say!("@require it with its hash: // @require https://YOUR.HOST/PATH/{USERSCRIPT_NAME}#sha256={hash}");
    say!("(also in {USERSCRIPT_SHA256}; rebuild and update the line whenever the file changes)");
    Ok(out)
}

/// One `export` of a module: the local binding and the name it is exported as.
#[derive(Debug, PartialEq, Eq)]
struct Export {
    local: String,
    name: String,
}

/// One `import` line: `import def, { a as b, c } from 'from';` → bindings (`local`, `name`),
/// with `name` `default` for the default import and `*` for `* as ns`.
#[derive(Debug, PartialEq, Eq)]
struct Import {
    from: String,
    bindings: Vec<Export>,
}

/// `a as b, c` → [(a, b), (c, c)] as (exported name, local) pairs in [`Export`] form.
fn specifiers(list: &str, import: bool) -> Vec<Export> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (left, right) = match item.split_once(" as ") {
                Some((l, r)) => (l.trim(), r.trim()),
                None => (item, item),
            };
            // export { local as name } / import { name as local }
            let (local, name) = if import { (right, left) } else { (left, right) };
            Export {
                local: local.into(),
                name: name.into(),
            }
        })
        .collect()
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// `import def, { a as b } from './x.js';` or `import * as ns from './x.js';` (one line, the
/// forms the facade and wasm-bindgen's glue use). None for anything else.
fn parse_import(line: &str) -> Option<Import> {
    let rest = line
        .strip_prefix("import")?
        .trim_start()
        .trim_end()
        .strip_suffix(';')?;
    let (what, from) = rest.rsplit_once(" from ")?;
    let from = from.trim();
    let from = from
        .strip_prefix('\'')
        .and_then(|f| f.strip_suffix('\''))
        .or_else(|| from.strip_prefix('"').and_then(|f| f.strip_suffix('"')))?
        .to_string();
    let mut bindings = Vec::new();
    let (head, named) = match what.split_once('{') {
        Some((d, n)) => (d, Some(n)),
        None => (what, None),
    };
    for part in head.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (local, name) = match part.strip_prefix("* as ") {
            Some(ns) => (ns.trim(), "*"),
            None => (part, "default"),
        };
        bindings.push(Export {
            local: local.into(),
            name: name.into(),
        });
    }
    if let Some(named) = named {
        bindings.extend(specifiers(named.trim().strip_suffix('}')?, true));
    }
    let valid = bindings
        .iter()
        .all(|b| is_identifier(&b.local) && (b.name == "*" || is_identifier(&b.name)));
    (valid && !bindings.is_empty()).then_some(Import { from, bindings })
}

/// The modules an ES module (`file` names it in errors) imports, in order: what [`crate::pkg`]
/// checks wasm-bindgen's glue against the snippets it wrote.
pub(crate) fn import_specifiers(src: &str, file: &str) -> Result<Vec<String>, String> {
    src.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("import ") || l.starts_with("import{"))
        .map(|(n, l)| {
            parse_import(l)
                .map(|i| i.from)
                .ok_or_else(|| format!("{file} line {}: cannot read the import `{l}`", n + 1))
        })
        .collect()
}

/// An ES module (`file` names it in errors) as the body of a classic script: `export` keywords
/// dropped (their names collected), `import` lines collected, `import.meta.url` replaced (only
/// used to locate the `.wasm` file, which the single file never fetches). Anything else a classic
/// script cannot hold (other `import.meta` uses, dynamic `import()`, unknown `export` forms) is an
/// error rather than a broken file.
fn strip_module_syntax(
    src: &str,
    file: &str,
) -> Result<(String, Vec<Export>, Vec<Import>), String> {
    let mut body = String::with_capacity(src.len());
    let (mut exports, mut imports) = (Vec::new(), Vec::new());
    for (n, line) in src.lines().enumerate() {
        let at = || format!("{file} line {}", n + 1);
        let mut line = line.to_string();
        if line.starts_with("import ") || line.starts_with("import{") {
            let import = parse_import(&line)
                .ok_or_else(|| format!("{}: cannot read the import `{line}`", at()))?;
            imports.push(import);
            continue;
        }
        if let Some(rest) = line.strip_prefix("export ") {
            if let Some(list) = rest.strip_prefix('{') {
                let list = list
                    .trim_end()
                    .strip_suffix(';')
                    .unwrap_or(list)
                    .trim_end()
                    .strip_suffix('}')
                    .ok_or_else(|| format!("{}: unexpected export list `{line}`", at()))?;
                exports.extend(specifiers(list, false));
                continue;
            }
            let (decl, default) = match rest.strip_prefix("default ") {
                Some(d) => (d, true),
                None => (rest, false),
            };
            let name_start = [
                "class ",
                "function ",
                "async function ",
                "const ",
                "let ",
                "var ",
            ]
            .iter()
            .filter(|kw| !default || kw.contains("function") || kw.contains("class"))
            .find_map(|kw| decl.strip_prefix(kw))
            .ok_or_else(|| format!("{}: unexpected export form `{line}`", at()))?;
            let local: String = name_start
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                .collect();
            if local.is_empty() {
                return Err(format!("{}: no name in `{line}`", at()));
            }
            let name = if default {
                "default".into()
            } else {
                local.clone()
            };
            exports.push(Export { local, name });
            line = decl.to_string();
        }
        if line.contains("import.meta.url") {
            line = line.replace("import.meta.url", "UCHAT_BOT_SCRIPT_URL");
        }
        if line.contains("import.meta") || line.contains("import(") {
            return Err(format!(
                "{}: `{}` needs an ES module; the single file cannot hold it",
                at(),
                line.trim()
            ));
        }
        body.push_str(&line);
        body.push('\n');
    }
    Ok((body, exports, imports))
}

fn require_exports(exports: &[Export], file: &str, names: &[&str]) -> Result<(), String> {
    for needed in names {
        if !exports.iter().any(|e| e.name == *needed) {
            return Err(format!("{file} does not export `{needed}`"));
        }
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648 §4), what `atob` reads.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The part after the facade: decode the inlined wasm, instantiate it synchronously
/// (asynchronously if the browser refuses a synchronous compile of this size), report a failure
/// (the facade's CSP error names 'wasm-unsafe-eval') and publish the global.
const LOADER: &str = r#"{
  function wasmBytes() {
    const bin = atob(UCHAT_BOT_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  // The facade explains a CSP block (code 'csp'); anything else gets a prefix saying what failed.
  function explain(e) {
    if (e && e.code === 'csp') return e;
    const err = new Error('uchat-bot: the WebAssembly module could not be started: ' +
      String((e && e.message) || e), { cause: e });
    err.code = 'wasm';
    return err;
  }

  // A stand-in class that repeats why the real one is unavailable.
  function unavailable(err) {
    const fail = () => { throw err; };
    return class UChatBot {
      constructor() { fail(); }
      static fromElement() { fail(); }
    };
  }

  let Bot = UChatBot;
  let ready;
  try {
    initSync(wasmBytes());
    ready = Promise.resolve(UChatBot);
  } catch (e) {
    if (e instanceof RangeError) {
      // Some engines refuse large synchronous compiles on the main thread: compile
      // asynchronously; `await UChatBot.ready` before creating bots.
      ready = init(wasmBytes()).then(
        () => UChatBot,
        (e2) => { const err = explain(e2); console.error(err.message); throw err; });
    } else {
      const err = explain(e);
      console.error(err.message);
      Bot = unavailable(err);
      ready = Promise.reject(err);
    }
  }
  ready.catch(() => {}); // reported above; awaiting `UChatBot.ready` still sees the error
  Object.defineProperty(Bot, 'ready', { value: ready });
  Object.defineProperty(Bot, 'version', { value: UCHAT_BOT_VERSION });
  globalThis.UChatBot = Bot;
  if (typeof window !== 'undefined' && window !== globalThis) {
    try { window.UChatBot = Bot; } catch (_) { /* a sandbox may forbid it */ }
  }
}
"#;

/// `const { name: local, … } = var;` (and `const ns = var;` for `* as ns`): the bindings of
/// `import` (made by `importer`) taken from `var`, the object of `exports` of `import.from`.
fn bind(import: &Import, var: &str, exports: &[Export], importer: &str) -> Result<String, String> {
    let mut named = Vec::new();
    let mut namespaces = String::new();
    for b in &import.bindings {
        if b.name == "*" {
            namespaces.push_str(&format!("const {} = {var};\n", b.local));
            continue;
        }
        if !exports.iter().any(|e| e.name == b.name) {
            return Err(format!(
                "{importer} imports `{}`, which {} does not export",
                b.name, import.from
            ));
        }
        named.push(format!("{}: {}", b.name, b.local));
    }
    let mut out = String::new();
    if !named.is_empty() {
        out.push_str(&format!("const {{ {} }} = {var};\n", named.join(", ")));
    }
    out.push_str(&namespaces);
    Ok(out)
}

/// `{ name: local, … }`: the object a wrapped module's function returns.
fn export_table(exports: &[Export]) -> String {
    let items: Vec<String> = exports
        .iter()
        .map(|e| format!("{}: {}", e.name, e.local))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// Reads the glue's `./snippets/…` imports from the build directory `dir`, refusing
/// specifiers that would leave it.
fn snippet_reader(dir: &Path) -> impl Fn(&str) -> Result<String, String> + '_ {
    move |from: &str| {
        let rel = from.strip_prefix("./").unwrap_or(from);
        if rel
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\'))
        {
            return Err(format!(
                "uchat_bot.js imports `{from}`, which is not a plain path under {}",
                dir.display()
            ));
        }
        let path = dir.join(rel);
        fs::read_to_string(&path).map_err(|e| {
            format!(
                "uchat_bot.js imports `{from}`, but {} cannot be read: {e}",
                path.display()
            )
        })
    }
}

/// A snippet module inlined into the single file.
struct Snippet {
    from: String,
    body: String,
    exports: Vec<Export>,
}

/// The single-file classic script: each JS snippet the glue imports (`./snippets/…`, read with
/// `read_snippet`) in its own function scope, then the glue in its own function scope with the
/// snippets' exports bound to the names it imports, the facade bound to the glue in place of
/// its `import`, the wasm inlined, then the loader.
fn classic_script(
    glue: &str,
    facade: &str,
    wasm: &[u8],
    version: &str,
    read_snippet: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let (glue_body, glue_exports, glue_imports) = strip_module_syntax(glue, "uchat_bot.js")?;
    let mut snippets: Vec<Snippet> = Vec::new();
    let mut snippet_bindings = String::new();
    for import in &glue_imports {
        if !import.from.starts_with(SNIPPET_PREFIX) {
            return Err(format!(
                "uchat_bot.js imports `{}`; the single-file userscript only inlines the JS \
                 snippets wasm-bindgen writes ({SNIPPET_PREFIX}…)",
                import.from
            ));
        }
        let index = match snippets.iter().position(|s| s.from == import.from) {
            Some(i) => i,
            None => {
                let src = read_snippet(&import.from)?;
                let (body, exports, imports) = strip_module_syntax(&src, &import.from)?;
                if let Some(i) = imports.first() {
                    return Err(format!(
                        "{} imports `{}`; a snippet inlined into the single-file userscript \
                         cannot import",
                        import.from, i.from
                    ));
                }
                snippets.push(Snippet {
                    from: import.from.clone(),
                    body,
                    exports,
                });
                snippets.len() - 1
            }
        };
        snippet_bindings.push_str(&bind(
            import,
            &format!("__uchat_snippet{index}"),
            &snippets[index].exports,
            "uchat_bot.js",
        )?);
    }
    require_exports(
        &glue_exports,
        "uchat_bot.js",
        &["UChatBot", "initSync", "default"],
    )?;
    let (facade_body, facade_exports, facade_imports) = strip_module_syntax(facade, FACADE)?;
    require_exports(
        &facade_exports,
        FACADE,
        &["UChatBot", "initSync", "default"],
    )?;
    let mut facade_bindings = String::new();
    for import in &facade_imports {
        if import.from != GLUE_SPECIFIER {
            return Err(format!(
                "{FACADE} imports `{}`; the single file only holds {GLUE_SPECIFIER}",
                import.from
            ));
        }
        facade_bindings.push_str(&bind(import, "__uchat_glue", &glue_exports, FACADE)?);
    }
    let facade_init = facade_exports
        .iter()
        .find(|e| e.name == "default")
        .map_or("init", |e| e.local.as_str());

    let snippets_len: usize = snippets.iter().map(|s| s.body.len()).sum();
    let mut out = String::with_capacity(
        snippets_len + glue_body.len() + facade_body.len() + wasm.len() * 4 / 3 + 4096,
    );
    out.push_str(&format!(
        "/*! uchat-bot {version} — single-file build for userscripts and <script> tags.\n\
         \x20*  Made by `cargo xtask userscript` from the wasm-bindgen output and the npm package's\n\
         \x20*  facade; do not edit. Load it with `// @require <URL of this file>` (or a <script>\n\
         \x20*  tag): it defines the global `UChatBot`, the same class the npm package exports,\n\
         \x20*  ready to use at once (`await UChatBot.ready` to be sure).\n\
         \x20*  License: MIT OR Apache-2.0. */\n"
    ));
    out.push_str("(function () {\n'use strict';\n");
    out.push_str(&format!("const UCHAT_BOT_VERSION = {version:?};\n"));
    out.push_str(
        "const UCHAT_BOT_SCRIPT_URL = (typeof document !== 'undefined' && document.currentScript \
         && document.currentScript.src) || (typeof location !== 'undefined' ? location.href : '');\n",
    );
    for (i, snippet) in snippets.iter().enumerate() {
        out.push_str(&format!(
            "// ---- wasm-bindgen snippet {} (ES module syntax removed) ----\n",
            snippet.from
        ));
        out.push_str(&format!("const __uchat_snippet{i} = (function () {{\n"));
        out.push_str(&snippet.body);
        out.push_str(&format!(
            "return {};\n}})();\n",
            export_table(&snippet.exports)
        ));
    }
    out.push_str("// ---- wasm-bindgen glue (ES module syntax removed) ----\n");
    out.push_str("const __uchat_glue = (function () {\n");
    out.push_str(&snippet_bindings);
    out.push_str(&glue_body);
    out.push_str(&format!(
        "return {};\n}})();\n",
        export_table(&glue_exports)
    ));
    out.push_str(&format!(
        "// ---- {FACADE} (ES module syntax removed) ----\n"
    ));
    out.push_str(&facade_bindings);
    out.push_str(&facade_body);
    out.push_str("// ---- single-file loader ----\n");
    if facade_init != "init" {
        out.push_str(&format!("const init = {facade_init};\n"));
    }
    out.push_str("const UCHAT_BOT_WASM_BASE64 = \"");
    out.push_str(&base64(wasm));
    out.push_str("\";\n");
    out.push_str(LOADER);
    out.push_str("})();\n");
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// cargo xtask demo
// ---------------------------------------------------------------------------------------------

/// `cargo xtask demo [--port P | --listen HOST:PORT]`.
pub fn demo(ctx: &Ctx, args: &[String]) -> Result<ExitCode, String> {
    let mut listen = DEMO_LISTEN.to_string();
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--port" => {
                let port = it.next().ok_or("--port needs a number")?;
                port.parse::<u16>()
                    .map_err(|_| format!("--port: `{port}` is not a port number"))?;
                listen = format!("127.0.0.1:{port}");
            }
            "--listen" => listen = it.next().ok_or("--listen needs HOST:PORT")?.clone(),
            "-h" | "--help" => {
                say!("{DEMO_USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown option `{other}` for `demo`\n{DEMO_USAGE}")),
        }
    }
    if let Err(e) = demo_build(ctx) {
        say_err!("xtask demo failed: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let bin = uchat_bin(&ctx.root);
    let www = ctx.root.join("www");
    let mut child = Command::new(&bin)
        .args(["sim", "--www"])
        .arg(&www)
        .args(["--crowd", DEMO_CROWD, "--listen", &listen])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // With --check the connection log is read for the crowd's joins (and echoed).
        .stderr(if check {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    signals::install();
    let stdout = child.stdout.take().ok_or("sim stdout not captured")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let Some(ws) = first.trim().strip_prefix("listening ") else {
        stop_child(&mut child);
        say_err!(
            "xtask demo: uchat sim did not start (its message is above); if {listen} is in use, \
             try `cargo xtask demo --port 8788`"
        );
        return Ok(ExitCode::FAILURE);
    };
    let http = ws.replacen("ws://", "http://", 1);
    if check {
        let log = child.stderr.take().ok_or("sim stderr not captured")?;
        let result = demo_check(ws.trim_start_matches("ws://"), log);
        stop_child(&mut child);
        return Ok(match result {
            Ok(()) => {
                say!(
                    "demo check passed: {http}/ served the page and the SDK, and the crowd joined"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                say_err!("demo check failed: {e}");
                ExitCode::FAILURE
            }
        });
    }
    say!();
    say!("  uchat-bot demo: open {http}/");
    say!("  (a local UChat simulator with 5 simulated users in room `lobby`; Ctrl-C stops it;");
    say!("  the lines below are its connection log)");
    say!();
    let _ = std::io::stdout().flush();
    // The sim prints nothing else on stdout, but keep the pipe drained.
    std::thread::spawn(move || lines.for_each(drop));
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                say!("uchat sim exited ({status})");
                return Ok(if status.success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for uchat sim: {e}")),
        }
        if signals::stop_requested() {
            say!("\nstopping the demo");
            stop_child(&mut child);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `demo --check`: the demo at `addr` serves the page, the SDK's facade and wasm, and the
/// crowd joins (read from the sim's connection log `log`, echoed to stderr), within 20 s.
fn demo_check(addr: &str, log: impl std::io::Read + Send + 'static) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            say_err!("{line}");
            if line.contains("crowd#") && line.contains("joined") && tx.send(()).is_err() {
                break;
            }
        }
    });
    // The body of a 200 response of type `kind` that starts with `start`, or why not.
    let get = |path: &str, kind: &str, start: &[u8]| -> Result<Vec<u8>, String> {
        let (head, body) = http_get(addr, path)?;
        let ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
        let typed = head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("content-type:") && l.contains(kind));
        if ok && typed && body.starts_with(start) {
            say!("demo check: GET {path}: 200, {kind}, {} bytes", body.len());
            Ok(body)
        } else {
            let status = head.lines().next().unwrap_or("no response");
            Err(format!(
                "GET {path}: `{status}`, wanted 200 {kind} starting with {start:?}"
            ))
        }
    };
    let page = get("/", "text/html", b"<!doctype html>")?;
    if !String::from_utf8_lossy(&page).contains("<uchat-bot-widget") {
        return Err("the page at / has no <uchat-bot-widget> element".into());
    }
    get("/uchat-bot-widget.js", "javascript", b"")?;
    get("/pkg/index.js", "javascript", b"")?;
    get("/pkg/uchat_bot_bg.wasm", "application/wasm", b"\0asm")?;
    let crowd: usize = DEMO_CROWD
        .parse()
        .map_err(|_| "DEMO_CROWD is not a number")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    for n in 0..crowd {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left)
            .map_err(|_| format!("{n} of the {crowd} simulated users joined within 20 s"))?;
    }
    say!("demo check: the {crowd} simulated users joined");
    Ok(())
}

/// A plain HTTP/1.0 GET of `path` from `addr` (loopback): the response head and body.
fn http_get(addr: &str, path: &str) -> Result<(String, Vec<u8>), String> {
    use std::io::Read;
    let err = |e: std::io::Error| format!("GET http://{addr}{path}: {e}");
    let mut conn = std::net::TcpStream::connect(addr).map_err(err)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(err)?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).map_err(err)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("GET http://{addr}{path}: no complete response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    Ok((head, raw[split + 4..].to_vec()))
}

/// Installs what the demo needs and builds it: the wasm target, wasm-bindgen-cli, `www/pkg/`
/// and `uchat`.
fn demo_build(ctx: &Ctx) -> Result<(), String> {
    ensure_rustup(ctx)?;
    ensure_wasm_bindgen_cli(ctx)?;
    build_www_pkg(&ctx.root)?;
    build_uchat(&ctx.root)
}

/// Builds the SDK into `www/pkg/`: the wasm-bindgen output plus the npm package's facade as
/// `index.js` (what `www/uchat-bot-widget.js` imports), so the demo runs the package's code.
fn build_www_pkg(root: &Path) -> Result<(), String> {
    let out = root.join("www").join("pkg");
    let build = crate::pkg::build_web(root, true, &out)?;
    let (from, to) = (root.join(FACADE), out.join("index.js"));
    fs::copy(&from, &to).map_err(|e| format!("cp {} {}: {e}", from.display(), to.display()))?;
    if !build.optimised {
        say!("note: www/pkg/uchat_bot_bg.wasm is not size-optimised (no wasm-opt); it works");
    }
    Ok(())
}

fn build_uchat(root: &Path) -> Result<(), String> {
    run_checked(
        Command::new("cargo")
            .args(["build", "-p", "uchat-cli"])
            .current_dir(root),
    )
}

fn uchat_bin(root: &Path) -> PathBuf {
    crate::pkg::target_dir(root).join("debug").join("uchat")
}

/// SIGTERM, then SIGKILL if the child has not gone within 3 s.
fn stop_child(child: &mut Child) {
    signals::terminate(child.id());
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// CI suites: cargo xtask site-test userscript|widget
// ---------------------------------------------------------------------------------------------

/// `cargo xtask site-test userscript|widget`: builds, runs the Node test, and prints its result
/// as a `test result:` line for `cargo xtask ci`.
pub fn site_test(ctx: &Ctx, args: &[String]) -> Result<ExitCode, String> {
    let [which] = args else {
        return Err("`site-test` takes one argument: userscript, widget or firefox".into());
    };
    let script = match which.as_str() {
        "userscript" => "tests/browser/site-userscript.mjs",
        "widget" => "tests/browser/site-widget.mjs",
        "firefox" => "tests/browser/site-firefox.mjs",
        other => {
            return Err(format!(
                "unknown site test `{other}` (userscript, widget, firefox)"
            ))
        }
    };
    let built = match which.as_str() {
        "userscript" => userscript(&ctx.root).map(|_| ()),
        // Both page-level forms: the single-file build and the package facade in www/pkg.
        "firefox" => userscript(&ctx.root).and_then(|_| build_www_pkg(&ctx.root)),
        _ => build_www_pkg(&ctx.root),
    }
    .and_then(|()| build_uchat(&ctx.root));
    if let Err(e) = built {
        say_err!("xtask site-test {which}: build failed: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let (ok, lines) = stream(
        Command::new("node")
            .arg(script)
            .current_dir(&ctx.root)
            .env("UCHAT_BIN", uchat_bin(&ctx.root))
            .env("GECKODRIVER", crate::geckodriver_bin(ctx)),
    )?;
    let tag = format!("site-{which}:");
    let counts = lines
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix(&tag).and_then(parse_counts));
    match counts {
        Some((passed, failed)) => {
            let word = if failed == 0 && ok { "ok" } else { "FAILED" };
            say!("test result: {word}. {passed} passed; {failed} failed");
        }
        None => say!("xtask: {script} ended without a `{tag} N passed, M failed` line"),
    }
    Ok(if ok && counts.is_some_and(|(_, f)| f == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// ` N passed, M failed` → (N, M).
fn parse_counts(s: &str) -> Option<(usize, usize)> {
    let (p, f) = s.split_once(',')?;
    let p = p.trim().strip_suffix("passed")?.trim().parse().ok()?;
    let f = f.trim().strip_suffix("failed")?.trim().parse().ok()?;
    Some((p, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLUE: &str = "\
let wasm;
export class UChatBot {
    constructor() {}
}
export function start() {
    wasm.start();
}
async function __wbg_init(module_or_path) {
    if (module_or_path === undefined) {
        module_or_path = new URL('uchat_bot_bg.wasm', import.meta.url);
    }
}
export { initSync, __wbg_init as default };
";

    const FACADE_SRC: &str = "\
import wasmInit, { initSync as wasmInitSync, UChatBot as WasmUChatBot } from './uchat_bot.js';
let ready = false;
export default function init(input) { return wasmInit(input); }
export { init };
export function initSync(m) { wasmInitSync(m); ready = true; }
export class UChatBot extends WasmUChatBot {}
const CSP = \"'wasm-unsafe-eval'\";
";

    /// A hub.js-like snippet: it declares names the glue also declares (`wasm`, `start`), which
    /// its own function scope keeps apart.
    const HUB_SRC: &str = "\
const td = new TextDecoder();
let wasm = 'snippet';
export class Hub {
    constructor(memory) { this.memory = memory; }
}
function start() {}
export function helper() { return td; }
";

    const HUB_PATH: &str = "./snippets/uchat-bot-0123abcd/src/web/hub.js";

    fn glue_with_hub() -> String {
        format!("import {{ Hub }} from '{HUB_PATH}';\n{GLUE}")
    }

    /// A build without snippets: any read is an error.
    fn no_snippets(from: &str) -> Result<String, String> {
        Err(format!("no snippet {from} here"))
    }

    /// Serves [`HUB_SRC`] as [`HUB_PATH`], counting the reads.
    fn hub_reader(reads: &std::cell::Cell<usize>) -> impl Fn(&str) -> Result<String, String> + '_ {
        move |from| {
            reads.set(reads.get() + 1);
            if from == HUB_PATH {
                Ok(HUB_SRC.to_string())
            } else {
                Err(format!("unexpected snippet {from}"))
            }
        }
    }

    fn pairs(exports: &[Export]) -> Vec<(&str, &str)> {
        exports
            .iter()
            .map(|e| (e.local.as_str(), e.name.as_str()))
            .collect()
    }

    #[test]
    fn strips_exports_and_import_meta() {
        let (body, exports, imports) = strip_module_syntax(GLUE, "glue").unwrap();
        assert!(!body.contains("export"), "{body}");
        assert!(!body.contains("import.meta"), "{body}");
        assert!(imports.is_empty());
        assert!(body.contains("class UChatBot {"));
        assert!(body.contains("new URL('uchat_bot_bg.wasm', UCHAT_BOT_SCRIPT_URL)"));
        assert_eq!(
            pairs(&exports),
            [
                ("UChatBot", "UChatBot"),
                ("start", "start"),
                ("initSync", "initSync"),
                ("__wbg_init", "default")
            ]
        );
    }

    #[test]
    fn reads_the_facade_import_and_default_export() {
        let (body, exports, imports) = strip_module_syntax(FACADE_SRC, "facade").unwrap();
        assert_eq!(imports.len(), 1);
        assert_eq!(imports[0].from, "./uchat_bot.js");
        assert_eq!(
            pairs(&imports[0].bindings),
            [
                ("wasmInit", "default"),
                ("wasmInitSync", "initSync"),
                ("WasmUChatBot", "UChatBot")
            ]
        );
        assert_eq!(
            pairs(&exports),
            [
                ("init", "default"),
                ("init", "init"),
                ("initSync", "initSync"),
                ("UChatBot", "UChatBot")
            ]
        );
        assert!(
            body.starts_with("let ready = false;\nfunction init(input)"),
            "{body}"
        );
    }

    #[test]
    fn refuses_what_a_classic_script_cannot_hold() {
        let other = format!("import {{ x }} from './elsewhere/a.js';\n{GLUE}");
        let err = classic_script(&other, FACADE_SRC, b"", "1", &no_snippets).unwrap_err();
        assert!(
            err.contains("`./elsewhere/a.js`") && err.contains("only inlines"),
            "{err}"
        );
        let bare = format!("import {{ x }} from 'some-package';\n{GLUE}");
        assert!(classic_script(&bare, FACADE_SRC, b"", "1", &no_snippets)
            .unwrap_err()
            .contains("`some-package`"));
        let dynamic = format!("{GLUE}const m = import.meta.resolve('x');\n");
        assert!(strip_module_syntax(&dynamic, "glue").is_err());
        let default_expr = format!("{GLUE}export default 42;\n");
        assert!(strip_module_syntax(&default_expr, "glue")
            .unwrap_err()
            .contains("unexpected export form"));
        assert!(classic_script(
            "export class Other {}\n",
            FACADE_SRC,
            b"",
            "1",
            &no_snippets
        )
        .is_err());
        let other_import = FACADE_SRC.replace("./uchat_bot.js", "./elsewhere.js");
        assert!(classic_script(GLUE, &other_import, b"", "1", &no_snippets)
            .unwrap_err()
            .contains("./elsewhere.js"));
        let missing = FACADE_SRC.replace("initSync as wasmInitSync", "nothere as wasmInitSync");
        assert!(classic_script(GLUE, &missing, b"", "1", &no_snippets)
            .unwrap_err()
            .contains("nothere"));
    }

    #[test]
    fn inlines_a_snippet_in_its_own_scope_and_binds_the_glue_import() {
        let reads = std::cell::Cell::new(0);
        let s =
            classic_script(&glue_with_hub(), FACADE_SRC, b"", "1", &hub_reader(&reads)).unwrap();
        assert_eq!(reads.get(), 1);
        let snippet = s
            .find("const __uchat_snippet0 = (function () {\n")
            .expect("the snippet's scope");
        let returns = s
            .find("return { Hub: Hub, helper: helper };\n})();\n")
            .expect("the snippet returns its exports");
        let glue = s
            .find("const __uchat_glue = (function () {\nconst { Hub: Hub } = __uchat_snippet0;\n")
            .expect("the glue binds Hub first thing in its scope");
        let glue_body = s.find("class UChatBot {").expect("the glue body");
        assert!(
            snippet < returns && returns < glue && glue < glue_body,
            "{s}"
        );
        assert!(s.contains("class Hub {"), "{s}");
        assert!(s.contains("let wasm = 'snippet';"), "{s}");
        assert!(
            s.contains("// ---- wasm-bindgen snippet ./snippets/uchat-bot-0123abcd/src/web/hub.js")
        );
        assert!(!s
            .lines()
            .any(|l| l.starts_with("export ") || l.starts_with("import ")));
    }

    #[test]
    fn one_scope_per_snippet_and_namespace_imports() {
        let reads = std::cell::Cell::new(0);
        let glue = format!(
            "import {{ Hub as H }} from '{HUB_PATH}';\nimport * as hub from '{HUB_PATH}';\n{GLUE}"
        );
        let s = classic_script(&glue, FACADE_SRC, b"", "1", &hub_reader(&reads)).unwrap();
        assert_eq!(reads.get(), 1, "the snippet is read and inlined once");
        assert!(!s.contains("__uchat_snippet1"), "{s}");
        assert!(s.contains("const { Hub: H } = __uchat_snippet0;\nconst hub = __uchat_snippet0;\n"));
    }

    #[test]
    fn snippet_errors_are_clear() {
        // The snippet file is missing from the build directory.
        let dir = std::env::temp_dir().join(format!("xtask-site-snippets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let err = classic_script(
            &glue_with_hub(),
            FACADE_SRC,
            b"",
            "1",
            &snippet_reader(&dir),
        )
        .unwrap_err();
        assert!(
            err.contains(HUB_PATH) && err.contains("cannot be read"),
            "{err}"
        );
        // Present, it is read from there.
        let file = dir.join(HUB_PATH.trim_start_matches("./"));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, HUB_SRC).unwrap();
        let s = classic_script(
            &glue_with_hub(),
            FACADE_SRC,
            b"",
            "1",
            &snippet_reader(&dir),
        )
        .unwrap();
        assert!(s.contains("const { Hub: Hub } = __uchat_snippet0;"));
        // A path that would leave the build directory.
        let escape = snippet_reader(&dir)("./snippets/../../etc/passwd").unwrap_err();
        assert!(escape.contains("not a plain path"), "{escape}");
        fs::remove_dir_all(&dir).unwrap();

        let reads = std::cell::Cell::new(0);
        let wrong_name = glue_with_hub().replace("{ Hub }", "{ Nope }");
        let err =
            classic_script(&wrong_name, FACADE_SRC, b"", "1", &hub_reader(&reads)).unwrap_err();
        assert!(err.contains("`Nope`") && err.contains(HUB_PATH), "{err}");
        let importing = |_: &str| Ok(format!("import {{ x }} from './x.js';\n{HUB_SRC}"));
        let err = classic_script(&glue_with_hub(), FACADE_SRC, b"", "1", &importing).unwrap_err();
        assert!(err.contains("cannot import"), "{err}");
    }

    #[test]
    fn lists_import_specifiers() {
        assert_eq!(
            import_specifiers(&glue_with_hub(), "glue").unwrap(),
            [HUB_PATH]
        );
        assert_eq!(
            import_specifiers(GLUE, "glue").unwrap(),
            Vec::<String>::new()
        );
        let err = import_specifiers("import './side-effect.js';\n", "glue").unwrap_err();
        assert!(err.contains("glue line 1"), "{err}");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn the_script_is_one_function_with_the_wasm_inside() {
        let s = classic_script(GLUE, FACADE_SRC, b"\0asm", "1.2.3", &no_snippets).unwrap();
        assert!(s.contains("(function () {\n'use strict';"));
        assert!(s.trim_end().ends_with("})();"));
        assert!(s.contains("UCHAT_BOT_WASM_BASE64 = \"AGFzbQ==\""));
        assert!(s.contains("const UCHAT_BOT_VERSION = \"1.2.3\";"));
        assert!(s.contains(
            "return { UChatBot: UChatBot, start: start, initSync: initSync, default: __wbg_init };"
        ));
        assert!(s.contains(
            "const { default: wasmInit, initSync: wasmInitSync, UChatBot: WasmUChatBot } = __uchat_glue;"
        ));
        assert!(s.contains("wasm-unsafe-eval"));
        assert!(!s
            .lines()
            .any(|l| l.starts_with("export ") || l.starts_with("import ")));
    }

    #[test]
    fn reads_the_final_count_line() {
        assert_eq!(parse_counts(" 7 passed, 0 failed"), Some((7, 0)));
        assert_eq!(parse_counts(" 3 passed, 2 failed"), Some((3, 2)));
        assert_eq!(parse_counts(" three passed, 0 failed"), None);
    }
}
