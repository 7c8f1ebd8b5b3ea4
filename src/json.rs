//! The JSON field form of lines used by `vectors.json` and the `uchat` CLI:
//! `["m", {"bin":"baf4…"}, {"str":"안녕"}, {"num":1}, {"float":1.5}, {"bool":true}, {"undef":null}]`
//! — the key is a plain string, every other field a one-entry object naming its type.
//!
//! JSON has no NaN or infinities; floats that are not finite are written as the strings
//! `"NaN"`, `"Infinity"` and `"-Infinity"` and read back from them.

use crate::codec::{hex_decode, hex_encode, js_number_to_string, Field, Line};
use serde_json::{json, Map, Value};

/// A line in the JSON field form.
pub fn line_to_json(line: &Line) -> Value {
    let mut items = Vec::with_capacity(line.fields.len() + 1);
    items.push(Value::String(line.key.clone()));
    items.extend(line.fields.iter().map(field_to_json));
    Value::Array(items)
}

/// One field in the JSON field form.
pub fn field_to_json(field: &Field) -> Value {
    match field {
        Field::Bin(b) => json!({ "bin": hex_encode(b) }),
        Field::Str(s) => json!({ "str": s }),
        Field::Bool(b) => json!({ "bool": b }),
        Field::Num(n) => json!({ "num": n }),
        Field::Float(x) if x.is_finite() => json!({ "float": x }),
        Field::Float(x) => json!({ "float": js_number_to_string(*x) }),
        Field::Undef => json!({ "undef": null }),
    }
}

/// Parse a line from the JSON field form. The error names the offending field and says what a
/// valid one looks like.
pub fn line_from_json(value: &Value) -> Result<Line, String> {
    let items = value
        .as_array()
        .ok_or("a line must be a JSON array like [\"m\", {\"str\":\"hi\"}]")?;
    let (key, rest) = items
        .split_first()
        .ok_or("the line is an empty array; its first element must be the key string")?;
    let key = key
        .as_str()
        .ok_or("element 0 (the key) must be a plain string such as \"m\"")?;
    let fields = rest
        .iter()
        .enumerate()
        .map(|(i, v)| field_from_json(v).map_err(|e| format!("element {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Line {
        key: key.to_owned(),
        fields,
    })
}

const FIELD_FORMS: &str =
    "expected one of {\"bin\":\"hex\"}, {\"str\":\"text\"}, {\"bool\":true}, \
     {\"num\":1}, {\"float\":1.5}, {\"undef\":null}";

/// Parse one field from the JSON field form.
pub fn field_from_json(value: &Value) -> Result<Field, String> {
    let obj: &Map<String, Value> = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("{value} is not a field; {FIELD_FORMS}"))?;
    let (ty, v) = obj.iter().next().ok_or(FIELD_FORMS)?;
    let wrong = |what: &str| format!("\"{ty}\" needs {what}, got {v}");
    match ty.as_str() {
        "bin" => v
            .as_str()
            .ok_or_else(|| wrong("a hex string"))
            .and_then(|h| hex_decode(h).map_err(|e| format!("\"bin\": {e}")))
            .map(Field::Bin),
        "str" => v
            .as_str()
            .map(|s| Field::Str(s.to_owned()))
            .ok_or_else(|| wrong("a string")),
        "bool" => v
            .as_bool()
            .map(Field::Bool)
            .ok_or_else(|| wrong("true or false")),
        "num" => v
            .as_i64()
            .or_else(|| v.as_u64().and_then(|u| i64::try_from(u).ok()))
            .map(Field::Num)
            .ok_or_else(|| wrong("an integer between -2^63 and 2^63-1")),
        "float" => match v {
            Value::Number(n) => n
                .as_f64()
                .map(Field::Float)
                .ok_or_else(|| wrong("a number")),
            Value::String(s) => match s.as_str() {
                "NaN" => Ok(Field::Float(f64::NAN)),
                "Infinity" => Ok(Field::Float(f64::INFINITY)),
                "-Infinity" => Ok(Field::Float(f64::NEG_INFINITY)),
                _ => Err(wrong("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")),
            },
            _ => Err(wrong("a number")),
        },
        "undef" => match v {
            Value::Null => Ok(Field::Undef),
            _ => Err(wrong("null")),
        },
        other => Err(format!("unknown field type \"{other}\"; {FIELD_FORMS}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn round_trip_and_errors() {
        let line = Line::new("t")
            .with(vec![0xba, 0xf4])
            .with("안녕")
            .with(true)
            .with(-3i64)
            .with(1.5)
            .with(Field::Undef)
            .with(f64::INFINITY);
        assert_eq!(line_from_json(&line_to_json(&line)), Ok(line));
        let err = line_from_json(&json!(["m", {"str": 1}])).unwrap_err();
        assert_eq!(err, "element 1: \"str\" needs a string, got 1");
        assert!(line_from_json(&json!(["m", {"nope": 1}]))
            .unwrap_err()
            .contains("unknown field type \"nope\""));
        assert!(line_from_json(&json!([1])).unwrap_err().contains("key"));
        assert!(line_from_json(&json!(["m", {"bin": "zz"}]))
            .unwrap_err()
            .contains("invalid hex digit 'z'"));
    }
}
