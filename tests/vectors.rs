//! Every vector of `tests/vectors/vectors.json` (a copy of shared/protocol/vectors.json).
//!
//! The same file runs natively (`cargo test`) and in browsers
//! (`cargo test --target wasm32-unknown-unknown`, through wasm-bindgen-test-runner in headless
//! Chrome and Firefox): the vectors are compiled in, nothing is read from disk.
#![cfg(feature = "json")]

use serde_json::Value;
use uchat_bot::codec::{encode, hex_decode, hex_encode, Decoder};
use uchat_bot::json::{line_from_json, line_to_json};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!("vectors/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors.json parses")
}

fn hex(v: &Value) -> Vec<u8> {
    hex_decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// Decode `bytes` as one chunk and render like vectors.json: lines, `{"error": category}`.
fn decode_as_json(d: &mut Decoder, bytes: &[u8]) -> Vec<Value> {
    d.feed(bytes)
        .into_iter()
        .map(|r| match r {
            Ok(line) => line_to_json(&line),
            Err(e) => serde_json::json!({ "error": e.category() }),
        })
        .collect()
}

fn check_frame(case: &Value) {
    let bytes = hex(&case["frame_hex"]);
    let want_lines = case["lines"].as_array().expect("lines");
    let want_rest = hex(&case["rest_hex"]);

    let mut d = Decoder::new();
    let got = decode_as_json(&mut d, &bytes);
    assert_eq!(&got, want_lines, "frame {}", case["frame_hex"]);
    assert_eq!(
        d.rest(),
        &want_rest[..],
        "rest of frame {}",
        case["frame_hex"]
    );

    // Split at every boundary: the same lines, the same rest.
    for cut in 0..=bytes.len() {
        let mut d = Decoder::new();
        let mut got = decode_as_json(&mut d, &bytes[..cut]);
        got.extend(decode_as_json(&mut d, &bytes[cut..]));
        assert_eq!(&got, want_lines, "frame {} cut at {cut}", case["frame_hex"]);
        assert_eq!(d.rest(), &want_rest[..], "rest, cut at {cut}");
    }
}

#[test]
fn client_lines_encode_exactly() {
    let v = vectors();
    let cases = v["client_lines"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let line = line_from_json(&case["line"]).expect("vector line parses");
        let bytes = encode(&line).expect("encodable");
        assert_eq!(
            hex_encode(&bytes),
            case["frame_hex"].as_str().unwrap(),
            "encoding {}",
            case["line"]
        );
        // And decode back to the canonical line (negative numbers come back as floats).
        let back: Vec<_> = Decoder::new().feed(&bytes);
        assert_eq!(
            back,
            vec![Ok(line.canonical())],
            "decoding {}",
            case["line"]
        );
    }
}

#[test]
fn server_frames_decode_exactly() {
    let v = vectors();
    let cases = v["server_frames"].as_array().unwrap();
    assert!(cases.len() >= 11);
    for case in cases {
        check_frame(case);
    }
}

#[test]
fn decoder_edges_decode_exactly() {
    let v = vectors();
    let cases = v["decoder_edges"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        check_frame(case);
    }
}

/// PROTOCOL.md §4 / §5.1–5.2: every token vector builds the exact md5 input, hash and user_data
/// (PHP `uchat_array2data`), and the join built from that user_data is the exact `j` frame.
#[test]
fn tokens_build_user_data_and_join_exactly() {
    use uchat_bot::token::{array2data, join_line, UserData};

    let v = vectors();
    let cases = v["tokens"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_object().unwrap();
        // JSON strings stay strings; JSON integers (T4's level 10) become their decimal text,
        // which PHP's array_filter and implode treat exactly like the int.
        let values: Vec<(String, String)> = input
            .iter()
            .filter(|(k, _)| k.as_str() != "token")
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("{name}: unexpected input value {other}"),
                };
                (k.clone(), text)
            })
            .collect();
        let token = input["token"].as_str().unwrap();
        let time = case["time"].as_i64().unwrap();
        let built = array2data(
            values.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            token,
            time,
        )
        .expect("builds");
        assert_eq!(
            built.md5_input,
            case["md5_input"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(built.hash, case["md5"].as_str().unwrap(), "{name}");
        assert_eq!(
            built.user_data,
            case["user_data"].as_str().unwrap(),
            "{name}"
        );

        let join = &case["join"];
        assert_eq!(join["charset"], "utf-8");
        let user = UserData::parse(join["user_data"].as_str().unwrap()).expect("parses");
        let line = join_line(
            join["room"].as_str().unwrap(),
            &user,
            join["session"].as_str().unwrap(),
            None,
        )
        .expect("join line");
        assert_eq!(line.fields.len() + 1, 16, "{name}: 16 fields");
        assert_eq!(
            hex_encode(&encode(&line).unwrap()),
            join["frame_hex"].as_str().unwrap(),
            "{name} join"
        );
    }
}
