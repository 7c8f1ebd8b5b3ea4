//! `uchat decode` and `uchat encode`: bytes ⇄ lines in the JSON field form of vectors.json
//! (PROTOCOL.md §2, DECISIONS.md "Decoding"/"Encoding").

use crate::{print_lines, Failure};
use serde_json::{json, Value};
use std::io::Read;
use uchat_bot::codec::{encode as encode_line, hex_decode, hex_encode, Decoder};
use uchat_bot::json::{line_from_json, line_to_json};

/// Flags of `uchat decode`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Output, one JSON value per stdout line:
  a decoded line   [\"m\", {\"bin\":\"baf4…\"}, {\"str\":\"hi\"}, {\"num\":1}, …]  (key as a plain string)
  a bad line       {\"error\":\"line 2, field 1: invalid UTF-8 at byte 0 of the value\"}
  undecoded tail   {\"rest\":\"6d0303\"}  (last; bytes after the last line end)
Exit status 0 even when lines fail; 2 when the input cannot be read.

Examples:
  uchat decode --hex '69 32 02 ba f4 cf 1b 67 b7 43 11 0a'
  uchat decode --hex \"$(cat frame.hex)\"
  printf 'c\\x05\\x2a\\n' | uchat decode          # [\"c\",{\"num\":42}]")]
pub struct DecodeArgs {
    /// The bytes as hex (whitespace between digits is allowed). Without it, raw bytes are read
    /// from stdin.
    #[arg(long, value_name = "HEX")]
    pub hex: Option<String>,
}

/// Flags of `uchat encode`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Input: one line in the JSON field form, or JSON Lines on stdin:
  [\"m\", {\"str\":\"\"}, {\"str\":\"hello\"}]
  field forms: {\"bin\":\"hex\"} {\"str\":\"text\"} {\"bool\":true} {\"num\":1} {\"float\":1.5} {\"undef\":null}
Output: the lowercase hex of each encoded line, terminating 0a included, one per stdout line.
Invalid input: every problem is reported on stderr with its input line number, nothing is
printed on stdout, exit status 2.

decode | encode gives back each line's values, not always its bytes: the lines are encoded
again the way the SDK writes them. A negative type-5 number (ff ff ff ff is -1, as uchat.js reads
4 bytes) comes back as type-7 text, which uchat.js reads as the same number; numbers with trailing
00 bytes, boolean payloads other than 1 and 0, float text such as 1.50 and a 5c before an
ordinary byte (written back as 5c 5c) come back in the SDK's form. Empty lines and lines that
start with 00 are skipped, and decode's {\"error\":…} and {\"rest\":…} are not lines: encode
refuses them.

Examples:
  uchat encode --json '[\"p\"]'                                   # 700a
  uchat encode --json '[\"command\",{\"str\":\"chatList\"},{\"num\":15}]'
  uchat decode --hex 700a | uchat encode                         # 700a
  uchat decode --hex 7405ffffffff0a | uchat encode               # 74072d310a (-1 as type 7)")]
pub struct EncodeArgs {
    /// One line in JSON field form. Without it, JSON Lines (or any whitespace-separated JSON
    /// values) are read from stdin.
    #[arg(long, value_name = "LINE")]
    pub json: Option<String>,
}

/// `uchat decode`.
pub fn decode(args: DecodeArgs) -> Result<(), Failure> {
    let bytes = match args.hex {
        Some(h) => hex_decode(&h).map_err(|e| Failure::input(format!("decode --hex: {e}")))?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::input(format!("decode: cannot read stdin: {e}")))?;
            buf
        }
    };
    print_lines(decode_to_json(&bytes).iter().map(Value::to_string))
}

/// The output values of `uchat decode` for `bytes`.
pub fn decode_to_json(bytes: &[u8]) -> Vec<Value> {
    let mut decoder = Decoder::new();
    let mut out: Vec<Value> = decoder
        .feed(bytes)
        .into_iter()
        .map(|r| match r {
            Ok(line) => line_to_json(&line),
            Err(e) => json!({ "error": e.to_string() }),
        })
        .collect();
    if !decoder.rest().is_empty() {
        out.push(json!({ "rest": hex_encode(decoder.rest()) }));
    }
    out
}

/// `uchat encode`.
pub fn encode(args: EncodeArgs) -> Result<(), Failure> {
    let (input, origin) = match args.json {
        Some(j) => (j, "--json"),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::input(format!("encode: cannot read stdin as UTF-8: {e}")))?;
            (s, "input")
        }
    };
    if origin == "--json" && input.trim().is_empty() {
        return Err(Failure::input(
            "encode: --json is empty; give a line such as '[\"p\"]'",
        ));
    }
    let hex = encode_json_lines(&input).map_err(|errors| {
        Failure::Input(
            errors
                .into_iter()
                .map(|(line, e)| format!("encode: {origin} line {line}: {e}"))
                .collect(),
        )
    })?;
    print_lines(hex)
}

/// Encode every JSON value in `input` (JSON Lines, or any whitespace-separated values) to hex.
/// On failure, every problem with the 1-based input line it starts on; a JSON syntax error ends
/// the scan. Input without any value gives no output.
pub fn encode_json_lines(input: &str) -> Result<Vec<String>, Vec<(usize, String)>> {
    let line_of = |offset: usize| input[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(input).into_iter::<Value>();
    loop {
        let before = stream.byte_offset();
        let start = before + (input.len() - before - input[before..].trim_start().len());
        match stream.next() {
            None => break,
            Some(Err(e)) => {
                // The line the bad value starts on (serde's position is where it gave up,
                // which for an unclosed value is the end of the input).
                errors.push((line_of(start), not_json(&e)));
                break;
            }
            Some(Ok(value)) => {
                let encoded = line_from_json(&value).and_then(|line| {
                    encode_line(&line)
                        .map(|bytes| hex_encode(&bytes))
                        .map_err(|e| e.to_string())
                });
                match encoded {
                    Ok(hex) => out.push(hex),
                    Err(e) => errors.push((line_of(start), e)),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// serde_json's syntax error, explained where its own words do not say what is wrong: its two
/// messages for a `\u` escape of half a UTF-16 surrogate pair (`"\ud800"`, `"\udc00"`).
fn not_json(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("unexpected end of hex escape")
        || message.starts_with("lone leading surrogate in hex escape")
    {
        format!(
            "not valid JSON: lone UTF-16 surrogate (a \\ud800-\\udfff escape without its other \
             half) at line {} column {}; it is not a character and has no UTF-8 form, so it \
             cannot be encoded; write a character above U+FFFF as itself or as both halves \
             (\\ud83d\\ude00)",
            e.line(),
            e.column()
        )
    } else {
        format!("not valid JSON: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_lines_errors_and_rest() {
        let bytes = hex_decode("70 0a 6d 03 ff 0a 63 05 2a 0a 6d 03 03 61").unwrap();
        let got = decode_to_json(&bytes);
        assert_eq!(got[0], json!(["p"]));
        assert!(got[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("line 2, field 1: invalid UTF-8"));
        assert_eq!(got[2], json!(["c", {"num": 42}]));
        assert_eq!(got[3], json!({"rest": "6d030361"}));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn encode_json_lines_and_errors() {
        assert_eq!(
            encode_json_lines("[\"p\"]\n\n[\"c\",{\"num\":42}]\n").unwrap(),
            vec!["700a", "63052a0a"]
        );
        // Pretty-printed values work too.
        assert_eq!(encode_json_lines("[\n  \"p\"\n]").unwrap(), vec!["700a"]);
        let errs = encode_json_lines("[\"p\"]\n[\"m\",{\"str\":1}]\n[]\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].0, 2);
        assert!(errs[0].1.contains("element 1"));
        assert_eq!(errs[1].0, 3);
        let errs = encode_json_lines("[\"p\"]\n[\"m\",\n").unwrap_err();
        assert_eq!(errs[0].0, 2, "the line the unclosed value starts on");
        assert!(errs[0].1.starts_with("not valid JSON"));
        assert_eq!(encode_json_lines("  \n"), Ok(vec![]));
        let errs = encode_json_lines("[\"\"]").unwrap_err();
        assert!(errs[0].1.contains("empty key"));
    }

    #[test]
    fn encode_explains_a_lone_surrogate() {
        // Half a surrogate pair, leading or trailing, alone or before another escape.
        for bad in ["\\ud800", "\\ud800x", "\\ud800\\u0041", "\\udc00"] {
            let errs = encode_json_lines(&format!("[\"m\",{{\"str\":\"{bad}\"}}]")).unwrap_err();
            assert!(
                errs[0].1.contains("lone UTF-16 surrogate"),
                "{bad}: {errs:?}"
            );
            assert!(errs[0].1.contains("no UTF-8 form"), "{bad}: {errs:?}");
        }
        assert_eq!(
            encode_json_lines("[\"m\",{\"str\":\"\\ud83d\\ude00\"}]").unwrap(),
            vec!["6d03f09f98800a"],
            "a whole pair is one character"
        );
        // Other bad escapes keep serde's own message.
        let errs = encode_json_lines("[\"m\",{\"str\":\"\\u12\"}]").unwrap_err();
        assert!(
            errs[0].1.starts_with("not valid JSON: invalid escape"),
            "{errs:?}"
        );
    }
}
