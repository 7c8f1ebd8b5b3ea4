//! `cargo xtask bench [--quick] [--soak]` (issue 6): end-to-end performance of the browser SDK in
//! headless Chromium, against pure-JS decoders of the same rules, and a memory soak.
//! Reasoning and figures: docs/PERFORMANCE.md. Not part of `cargo xtask ci`: timings are not
//! tests.
//!
//! Steps: build the release package with [`crate::pkg::build_web`], copy the pages of `bench/`
//! next to it, start a release `uchat sim --www` serving them, and let `bench/run.mjs`
//! (playwright-core from `tools/node_modules`) open the page in headless Chromium, then
//! `bench/run-firefox.mjs` in headless Firefox ESR through geckodriver (its RESULT names get a
//! `firefox_` prefix). The page prints human-readable lines and `RESULT <name> <value>` lines,
//! which are echoed here.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::{run_checked, Ctx};

const USAGE: &str = "\
cargo xtask bench [--quick] [--soak] [--mb N] [--rounds N] [--second-opt-level L]
                  [--second-rev REV] [--require-firefox]

    (default)  decode/encode throughput of the SDK vs pure-JS decoders on a 10 MB corpus,
               init time and gzipped size; prints RESULT <name> <value> lines
    --quick    the same on a 2 MB corpus, 5 rounds (under a minute)
    --soak     10,000 chat lines/s from `uchat sim --crowd` through a joined bot for 60 s;
               wasm memory and JS heap before/after warm-up and at the end
    --mb N, --rounds N, --seconds N   override corpus size, rounds, soak duration
    --second-opt-level L   build the second SDK of the page (the `…_speed_build` results,
               opt-level 3 by default) with rustc opt-level L (0, 1, 2, 3, s or z) to time
               another size/speed trade-off against the shipped build in the same run
    --second-rev REV   build the second SDK from the git revision REV (a worktree under
               the target directory) with the shipped profile: a same-run A/B of a change
               against the code before it (the `…_speed_build` results are then REV's)
    --require-firefox   fail instead of skipping Firefox when geckodriver or Firefox ESR is
               missing (the CI suite bench-check uses it)
";

/// Files of `bench/` the pages need.
const PAGES: &[&str] = &[
    "index.html",
    "bench.js",
    "corpus.js",
    "decoders.js",
    "soak.html",
    "soak.js",
];

struct Opts {
    soak: bool,
    mb: f64,
    rounds: u32,
    seconds: u32,
    /// The rustc opt-level of the second SDK (`--second-opt-level`).
    second_opt_level: u8,
    /// The git revision the second SDK is built from (`--second-rev`), at opt-level `z`.
    second_rev: Option<String>,
    /// A missing Firefox fails the run (`--require-firefox`).
    require_firefox: bool,
}

impl Opts {
    fn parse(rest: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            soak: false,
            mb: 10.0,
            rounds: 7,
            seconds: 60,
            second_opt_level: b'3',
            second_rev: None,
            require_firefox: false,
        };
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            let mut num = |name: &str| -> Result<f64, String> {
                it.next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| format!("{name} needs a positive number\n\n{USAGE}"))
            };
            match a.as_str() {
                "--quick" => {
                    o.mb = 2.0;
                    o.rounds = 5;
                }
                "--soak" => o.soak = true,
                "--require-firefox" => o.require_firefox = true,
                "--mb" => o.mb = num("--mb")?,
                "--rounds" => o.rounds = num("--rounds")? as u32,
                "--seconds" => o.seconds = num("--seconds")? as u32,
                "--second-opt-level" => {
                    o.second_opt_level = match it.next().map(String::as_bytes) {
                        Some(&[l @ (b'0'..=b'3' | b's' | b'z')]) => l,
                        _ => {
                            return Err(format!(
                                "--second-opt-level needs one of 0, 1, 2, 3, s, z\n\n{USAGE}"
                            ))
                        }
                    }
                }
                "--second-rev" => match it.next() {
                    Some(rev) if !rev.starts_with('-') => o.second_rev = Some(rev.clone()),
                    _ => return Err(format!("--second-rev needs a git revision\n\n{USAGE}")),
                },
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown bench option `{other}`\n\n{USAGE}")),
            }
        }
        if o.second_rev.is_some() {
            // The revision's code with the shipped profile (opt-level z, `wasm-opt -Os`).
            o.second_opt_level = b'z';
        }
        Ok(o)
    }
}

const FIREFOX: &str = "/usr/bin/firefox-esr";

/// geckodriver on PATH or in `$CARGO_HOME/bin` (where `cargo xtask install` puts it).
fn geckodriver(ctx: &Ctx) -> Option<PathBuf> {
    let installed = ctx.cargo_bin.join("geckodriver");
    if installed.is_file() {
        return Some(installed);
    }
    env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|d| d.join("geckodriver"))
            .find(|p| p.is_file())
    })
}

/// A checkout of `rev` in `<target>/bench-rev` (made anew each time, removed after the
/// build by [`remove_worktree`]), for `--second-rev`.
fn worktree(root: &Path, rev: &str) -> Result<PathBuf, String> {
    let tree = crate::pkg::target_dir(root).join("bench-rev");
    if tree.exists() {
        // Left from an interrupted run.
        remove_worktree(root, &tree);
    }
    let mut git = Command::new("git");
    git.args(["worktree", "add", "--detach", "--quiet"])
        .arg(&tree)
        .arg(rev)
        .current_dir(root);
    run_checked(&mut git).map_err(|e| format!("--second-rev {rev}: {e}"))?;
    Ok(tree)
}

/// Removes the worktree at `tree` and forgets it; failures are ignored (nothing depends on it).
fn remove_worktree(root: &Path, tree: &Path) {
    let _ = Command::new("git")
        .args(["worktree", "remove", "--force"])
        .arg(tree)
        .current_dir(root)
        .status();
    let _ = fs::remove_dir_all(tree);
    let _ = Command::new("git")
        .args(["worktree", "prune"])
        .current_dir(root)
        .status();
}

/// `cargo xtask bench …`.
pub fn command(ctx: &Ctx, rest: &[String]) -> Result<ExitCode, String> {
    let opts = Opts::parse(rest)?;
    let root = &ctx.root;
    let www = crate::pkg::target_dir(root).join("bench-www");
    let build = crate::pkg::build_web(root, true, &www.join("pkg"))?;
    // The same SDK built for speed (opt-level 3 unless `--second-opt-level` says otherwise),
    // timed in the same run (bench.js `sdk_speed`).
    let second = crate::pkg::Profile::Speed(opts.second_opt_level);
    if let Some(rev) = &opts.second_rev {
        let tree = worktree(root, rev)?;
        let built = crate::pkg::build_web_as(&tree, second, &www.join("pkg-speed"));
        remove_worktree(root, &tree);
        built?;
        say!("note: the `…_speed_build` results below are for {rev}, built as shipped");
    } else {
        crate::pkg::build_web_as(root, second, &www.join("pkg-speed"))?;
    }
    if opts.second_opt_level != b'3' && opts.second_rev.is_none() {
        say!(
            "note: the `…_speed_build` results below are for opt-level {}",
            char::from(opts.second_opt_level)
        );
    }
    if !build.optimised {
        say!("note: wasm-opt did not run; sizes and timings are for the unoptimised module");
    }
    for page in PAGES {
        let from = root.join("bench").join(page);
        fs::copy(&from, www.join(page)).map_err(|e| format!("copy {}: {e}", from.display()))?;
    }
    let vectors = root.join("tests/vectors/vectors.json");
    fs::copy(&vectors, www.join("vectors.json"))
        .map_err(|e| format!("copy {}: {e}", vectors.display()))?;
    let tools = root.join("tools");
    crate::pkg::tools_file(root, "node_modules/playwright-core/package.json")?;

    run_checked(
        Command::new("cargo")
            .args(["build", "--release", "--quiet", "-p", "uchat-cli"])
            .current_dir(root),
    )?;
    let uchat = crate::pkg::target_dir(root).join("release").join("uchat");
    let mut sim = Command::new(&uchat);
    sim.args(["sim", "-q", "--listen", "127.0.0.1:0", "--auto-rooms"])
        .args(["--flood", "0", "--repeat-limit", "0", "--www"])
        .arg(&www);
    let soak_rate = 10_000u32;
    // 112 users × ~100 lines/s ≈ 10,000 lines/s (measured ~9,000 with 100). Few fast users rather than many slow ones: the
    // sim sends every line to every member, so its work grows with users × lines.
    let (crowd, interval) = (112u32, 0.01f64);
    if opts.soak {
        sim.args(["--room", "soak", "--crowd-room", "soak"])
            .args(["--crowd", &crowd.to_string()])
            .args(["--crowd-interval", &interval.to_string()])
            .args(["--crowd-stay", "3600"]);
    }
    let (_sim, ws) = crate::sims::spawn(sim)?;
    let http = ws.replacen("ws://", "http://", 1);
    let (page, timeout) = if opts.soak {
        say!(
            "soak: uchat sim --crowd {crowd} --crowd-interval {interval} (≈{soak_rate} lines/s) for {} s",
            opts.seconds
        );
        (
            format!("{http}/soak.html?seconds={}&rate={soak_rate}", opts.seconds),
            opts.seconds + 120,
        )
    } else {
        (
            format!("{http}/index.html?mb={}&rounds={}", opts.mb, opts.rounds),
            600,
        )
    };
    say!("$ node bench/run.mjs {page}");
    let ok = Command::new("node")
        .arg(root.join("bench/run.mjs"))
        .arg(&page)
        .arg(timeout.to_string())
        .env("UCHAT_TOOLS_DIR", &tools)
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?
        .success();
    let mut ok = ok;
    match (opts.soak, geckodriver(ctx)) {
        (true, _) => say!(
            "note: the soak runs in Chromium only (Firefox has no performance.memory and no \
             forced GC from a page)"
        ),
        (false, Some(gecko)) if Path::new(FIREFOX).is_file() => {
            say!("$ node bench/run-firefox.mjs {page}   (headless Firefox ESR, geckodriver)");
            ok &= Command::new("node")
                .arg(root.join("bench/run-firefox.mjs"))
                .arg(&page)
                .arg(timeout.to_string())
                .env("GECKODRIVER", gecko)
                .env("FIREFOX", FIREFOX)
                .status()
                .map_err(|e| format!("cannot run node: {e}"))?
                .success();
        }
        _ if opts.require_firefox => {
            say_err!(
                "xtask: Firefox is required (--require-firefox) but there is no geckodriver or \
                 {FIREFOX} (cargo xtask install provides both)"
            );
            ok = false;
        }
        _ => say!(
            "note: Firefox skipped: no geckodriver or {FIREFOX} (cargo xtask install provides both)"
        ),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::Opts;

    fn parse(args: &[&str]) -> Result<Opts, String> {
        Opts::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn second_opt_level_defaults_to_the_speed_profile_and_takes_cargo_levels() {
        assert_eq!(parse(&[]).unwrap().second_opt_level, b'3');
        let o = parse(&["--quick", "--second-opt-level", "s"]).unwrap();
        assert_eq!((o.second_opt_level, o.mb, o.rounds), (b's', 2.0, 5));
        for bad in [
            &["--second-opt-level"][..],
            &["--second-opt-level", "4"],
            &["--second-opt-level", "zz"],
        ] {
            let e = parse(bad).err().expect("rejected");
            assert!(e.starts_with("--second-opt-level needs one of"), "{e}");
        }
    }

    #[test]
    fn second_rev_builds_the_revision_as_shipped() {
        assert_eq!(parse(&[]).unwrap().second_rev, None);
        assert!(parse(&["--require-firefox"]).unwrap().require_firefox);
        assert!(!parse(&[]).unwrap().require_firefox);
        let o = parse(&["--second-rev", "HEAD~1", "--quick"]).unwrap();
        assert_eq!(o.second_rev.as_deref(), Some("HEAD~1"));
        assert_eq!(o.second_opt_level, b'z');
        for bad in [&["--second-rev"][..], &["--second-rev", "--quick"]] {
            let e = parse(bad).err().expect("rejected");
            assert!(e.starts_with("--second-rev needs a git revision"), "{e}");
        }
    }
}
