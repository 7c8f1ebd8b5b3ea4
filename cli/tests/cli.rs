//! Runs the built `uchat` binary: the output formats of decode/encode/token/join are an interface
//! (issue #2), so these tests pin them byte for byte against vectors.json.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const VECTORS: &str = include_str!("../../tests/vectors/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors.json parses")
}

/// Run `uchat args…` with `stdin` and no UCHAT_TOKEN in the environment.
fn uchat(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uchat"))
        .args(args)
        .env_remove("UCHAT_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("uchat starts");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("uchat finishes")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

#[test]
fn decode_hex_with_a_bad_line_and_a_rest() {
    // p | m with invalid UTF-8 | c 42 | unterminated m
    let o = uchat(
        &[
            "decode",
            "--hex",
            "70 0a\n6d 03 ff 0a  63 05 2a 0a 6d 03 03 61",
        ],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = json_lines(&o);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0], json!(["p"]));
    assert_eq!(
        got[1],
        json!({"error": "line 2, field 1: invalid UTF-8 at byte 0 of the value"})
    );
    assert_eq!(got[2], json!(["c", {"num": 42}]));
    assert_eq!(got[3], json!({"rest": "6d030361"}));
}

#[test]
fn decode_raw_stdin_matches_server_vectors() {
    let v = vectors();
    for case in v["server_frames"].as_array().unwrap() {
        let hex = case["frame_hex"].as_str().unwrap();
        let bytes = uchat_bot::codec::hex_decode(hex).unwrap();
        let o = uchat(&["decode"], &bytes);
        assert!(o.status.success(), "{}", stderr(&o));
        let got = json_lines(&o);
        let want = case["lines"].as_array().unwrap();
        let rest = case["rest_hex"].as_str().unwrap();
        let (lines, tail) = if rest.is_empty() {
            (&got[..], None)
        } else {
            (&got[..got.len() - 1], got.last())
        };
        // Errors carry the full message on the CLI (vectors.json only names the category).
        assert_eq!(lines.len(), want.len(), "{hex}");
        for (g, w) in lines.iter().zip(want) {
            if w.get("error").is_some() {
                assert!(g["error"].is_string(), "{hex}: {g}");
            } else {
                assert_eq!(g, w, "{hex}");
            }
        }
        if let Some(t) = tail {
            assert_eq!(t, &json!({ "rest": rest }), "{hex}");
        }
    }
}

#[test]
fn decode_bad_hex_exits_2() {
    let o = uchat(&["decode", "--hex", "70 0"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("odd number of hex digits"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn encode_reproduces_every_client_line() {
    let v = vectors();
    let cases = v["client_lines"].as_array().unwrap();
    // One by one with --json …
    for case in cases {
        let o = uchat(&["encode", "--json", &case["line"].to_string()], b"");
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{}\n", case["frame_hex"].as_str().unwrap())
        );
    }
    // … and all at once as JSON Lines on stdin.
    let input: String = cases.iter().map(|c| format!("{}\n", c["line"])).collect();
    let o = uchat(&["encode"], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let want: String = cases
        .iter()
        .map(|c| format!("{}\n", c["frame_hex"].as_str().unwrap()))
        .collect();
    assert_eq!(stdout(&o), want);
}

#[test]
fn encode_errors_exit_2_naming_the_line() {
    let o = uchat(&["encode"], b"[\"p\"]\n[\"m\", {\"str\": 1}]\n");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("\"str\" needs a string"), "{err}");
    assert!(o.stdout.is_empty(), "nothing printed on error");

    let o = uchat(&["encode", "--json", "[\"m\", "], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));
}

#[test]
fn encode_explains_a_lone_surrogate() {
    let o = uchat(&["encode", "--json", r#"["m",{"str":"\ud800"}]"#], b"");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("--json line 1: not valid JSON: lone UTF-16 surrogate"),
        "{err}"
    );
    assert!(err.contains("no UTF-8 form"), "{err}");
}

fn token_case(name: &str) -> Value {
    vectors()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap()
}

/// The `uchat token` arguments for a token vector's input.
fn token_args(case: &Value) -> Vec<String> {
    let mut args = vec!["token".to_owned()];
    for (k, v) in case["input"].as_object().unwrap() {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(), // T4's integer level
        };
        args.push(format!("--{k}"));
        args.push(text);
    }
    args.push("--time".into());
    args.push(case["time"].to_string());
    args
}

#[test]
fn token_reproduces_t1_and_t4_exactly() {
    for name in ["T1", "T4"] {
        let case = token_case(name);
        let args = token_args(&case);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = uchat(&args, b"");
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{}\n", case["user_data"].as_str().unwrap()),
            "{name}"
        );
        assert!(o.stderr.is_empty());
    }
}

#[test]
fn token_from_environment_and_missing_token() {
    let case = token_case("T2");
    let o = Command::new(env!("CARGO_BIN_EXE_uchat"))
        .args(["token", "--room", "lobby", "--time", "1604136208"])
        .env("UCHAT_TOKEN", "tok")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{}\n", case["user_data"].as_str().unwrap())
    );

    let o = uchat(&["token", "--room", "lobby"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--token"), "{}", stderr(&o));
    let o = uchat(&["token", "--room", "lobby", "--token", ""], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("token: the room token is empty"));
}

/// `uchat token` with the room token K, time 1600000000 unless `extra` gives one, and `extra`.
fn token_with(extra: &[&str]) -> Output {
    let mut args = vec!["token", "--room", "r", "--token", "K"];
    if !extra.contains(&"--time") {
        args.extend(["--time", "1600000000"]);
    }
    args.extend(extra);
    uchat(&args, b"")
}

#[test]
fn token_refuses_an_auth_that_is_not_a_role() {
    for bad in ["king", "Admin", "moderator"] {
        let o = token_with(&["--auth", bad]);
        assert_eq!(o.status.code(), Some(2), "--auth {bad}");
        let err = stderr(&o);
        assert!(
            err.contains("--auth") && err.contains(&format!("{bad:?}")),
            "{err}"
        );
        assert!(err.contains("admin, subadmin, member, guest"), "{err}");
        assert!(o.stdout.is_empty(), "--auth {bad}");
    }
    // The roles, and '' (the same as leaving it out: PHP drops it), are signed.
    for ok in ["admin", "subadmin", "member", "guest", ""] {
        let o = token_with(&["--auth", ok]);
        assert!(o.status.success(), "--auth {ok:?}: {}", stderr(&o));
    }
}

#[test]
fn token_refuses_a_time_of_0_or_less() {
    for bad in ["-5", "0"] {
        let o = token_with(&["--time", bad]);
        assert_eq!(o.status.code(), Some(2), "--time {bad}");
        let err = stderr(&o);
        assert!(
            err.contains("--time") && err.contains(&format!("got {bad}")),
            "{err}"
        );
        assert!(o.stdout.is_empty(), "--time {bad}");
    }
    assert!(token_with(&["--time", "1"]).status.success());
    // Every problem is reported at once: --auth, --time and the missing token.
    let o = uchat(
        &["token", "--room", "r", "--auth", "king", "--time", "-1"],
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn token_defaults_time_to_now() {
    let o = uchat(&["token", "--room", "r", "--token", "K"], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let time: i64 = out
        .split('|')
        .find_map(|p| p.strip_prefix("time "))
        .expect("time field")
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - time).abs() < 60, "time {time} vs now {now}");
    assert!(!out.contains('K'), "the token is never printed");
}

#[test]
fn join_reproduces_t1_frame() {
    let join = &token_case("T1")["join"];
    let o = uchat(
        &[
            "join",
            "--room",
            join["room"].as_str().unwrap(),
            "--user-data",
            join["user_data"].as_str().unwrap(),
            "--session",
            join["session"].as_str().unwrap(),
        ],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{}\n", join["frame_hex"].as_str().unwrap())
    );
}

#[test]
fn join_guest_random_session_and_bad_session() {
    let o = uchat(&["join", "--room", "#bWFpbg=="], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let hex = stdout(&o);
    let line = uchat(&["decode", "--hex", hex.trim()], b"");
    let got = json_lines(&line);
    assert_eq!(got.len(), 1);
    let fields = got[0].as_array().unwrap();
    assert_eq!(fields.len(), 16);
    assert_eq!(fields[1], json!({"str": "#bWFpbg=="}));
    assert_eq!(fields[2], json!({"str": ""}), "guest nick is ''");
    assert_eq!(fields[5], json!({"str": ""}), "auth is always a string");
    let session = fields[10]["str"].as_str().unwrap();
    assert_eq!(session.len(), 32);
    assert!(uchat_bot::token::check_session(session).is_ok());

    let o = uchat(&["join", "--room", "r", "--session", "tooshort"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("session: expected 32 characters"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());

    let o = uchat(&["join", "--room", "r", "--user-data", "nick %ZZ"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key \"nick\""), "{}", stderr(&o));

    let o = uchat(
        &[
            "join",
            "--room",
            "r",
            "--user-data",
            "nick a",
            "--nick",
            "b",
        ],
        b"",
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "--nick conflicts with --user-data"
    );
}

#[test]
fn help_mentions_examples() {
    for args in [
        vec!["--help"],
        vec!["decode", "--help"],
        vec!["encode", "--help"],
        vec!["token", "--help"],
        vec!["join", "--help"],
    ] {
        let o = uchat(&args, b"");
        assert!(o.status.success(), "{args:?}");
        let out = stdout(&o);
        assert!(out.contains("Examples:"), "{args:?}: {out}");
        assert!(out.contains("uchat "), "{args:?}");
    }
    let o = uchat(&["--help"], b"");
    let out = stdout(&o);
    for sub in ["decode", "encode", "token", "join", "sim"] {
        assert!(out.contains(sub), "{sub} listed");
    }
}

/// `encode --help` says what `decode | encode` keeps (values, not bytes), and its
/// `uchat decode --hex X | uchat encode  # Y` examples print Y.
#[test]
fn encode_help_on_decode_then_encode_is_true() {
    let help = stdout(&uchat(&["encode", "--help"], b""));
    assert!(!help.contains("round trip"), "{help}");
    assert!(help.contains("values, not always its bytes"), "{help}");
    let mut examples = 0;
    for line in help.lines().filter(|l| l.contains("| uchat encode")) {
        let hex = line
            .split("--hex ")
            .nth(1)
            .and_then(|r| r.split(" |").next())
            .unwrap_or_else(|| panic!("`{line}`"));
        let want = line
            .split("# ")
            .nth(1)
            .unwrap_or_else(|| panic!("`{line}`"));
        let want = want.split_whitespace().next().unwrap();
        let decoded = uchat(&["decode", "--hex", hex], b"");
        let o = uchat(&["encode"], &decoded.stdout);
        assert!(o.status.success(), "{line}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{want}\n"), "{line}");
        examples += 1;
    }
    assert!(examples >= 2, "{help}");
    // The changed bytes decode to the same number for uchat.js: -1.
    let o = uchat(&["decode", "--hex", "74072d310a"], b"");
    assert_eq!(json_lines(&o), [json!(["t", {"float": -1.0}])]);
}

/// The README's and `uchat --help`'s decode/encode examples print what their comments say.
#[test]
fn readme_examples_print_what_they_say() {
    const README: &str = include_str!("../../README.md");
    let help = stdout(&uchat(&["--help"], b""));
    // The line of `text` that shows `shown`, which must end with `comment`.
    let line_of = |text: &str, shown: &str, comment: &str, what: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(shown))
            .unwrap_or_else(|| panic!("{what} no longer shows `{shown}`"));
        assert!(
            line.trim_end().ends_with(comment),
            "{what}: `{line}` should end with `{comment}`"
        );
    };
    // (command as shown, its arguments, the output, README's comment, --help's comment)
    let examples: [(&str, &[&str], &str, &str, &str); 2] = [
        (
            "uchat decode --hex '70 0a 63 05 2a 0a'",
            &["decode", "--hex", "70 0a 63 05 2a 0a"],
            "[\"p\"]\n[\"c\",{\"num\":42}]\n",
            "# one JSON value per line: [\"p\"] then [\"c\",{\"num\":42}]",
            "# -> [\"p\"] then [\"c\",{\"num\":42}]",
        ),
        (
            "uchat encode --json '[\"m\",{\"str\":\"\"},{\"str\":\"hello\"}]'",
            &[
                "encode",
                "--json",
                "[\"m\",{\"str\":\"\"},{\"str\":\"hello\"}]",
            ],
            "6d030368656c6c6f0a\n",
            "# 6d030368656c6c6f0a",
            "# -> 6d030368656c6c6f0a",
        ),
    ];
    for (shown, args, out, readme_comment, help_comment) in examples {
        line_of(README, shown, readme_comment, "README");
        line_of(&help, shown, help_comment, "uchat --help");
        let o = uchat(args, b"");
        assert!(o.status.success(), "{shown}: {}", stderr(&o));
        assert_eq!(stdout(&o), out, "{shown}");
    }
}
