//! Conversions between JS values and the core types: options in, plain event objects out.
//! Only type conversion lives here; protocol decisions are in `session`.

use crate::codec::{hex_encode, Field, Quoted};
use crate::message::{RoomInfo, Style, UserRecord};
use crate::session::{Config, ErrorInfo, Login, RateLimit, ReconnectPolicy};
use crate::token::UserFields;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// Default server (DECISIONS.md "Keepalive, reconnect, rate" 4).
pub const DEFAULT_URL: &str = "wss://sp-worker.uchat.io";

/// Set `obj[key] = value` (never fails on a plain object).
pub fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// A plain object from key/value pairs.
pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, v.clone());
    }
    o.into()
}

/// A field as a JS value: strings, numbers, booleans, `undefined`; binary as lowercase hex.
pub fn field_to_js(f: &Field) -> JsValue {
    match f {
        Field::Bin(b) => hex_encode(b).into(),
        Field::Str(s) => s.into(),
        Field::Bool(b) => (*b).into(),
        Field::Num(n) => (*n as f64).into(),
        Field::Float(x) => (*x).into(),
        Field::Undef => JsValue::UNDEFINED,
    }
}

/// Fields as a JS array.
pub fn fields_to_js(fields: &[Field]) -> JsValue {
    fields.iter().map(field_to_js).collect::<Array>().into()
}

/// `name, value` pairs as a JS object.
pub fn pairs_to_js(pairs: &[(String, Field)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, field_to_js(v));
    }
    o.into()
}

/// A JS value as a field (`None` for a type no field can hold), for command and plugin
/// arguments.
pub fn js_to_field(v: &JsValue) -> Option<Field> {
    if let Some(s) = v.as_string() {
        Some(Field::Str(s))
    } else if let Some(b) = v.as_bool() {
        Some(Field::Bool(b))
    } else if let Some(n) = v.as_f64() {
        if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            Some(Field::Num(n as i64))
        } else {
            Some(Field::Float(n))
        }
    } else if v.is_undefined() || v.is_null() {
        Some(Field::Undef)
    } else {
        v.dyn_ref::<Uint8Array>()
            .map(|bytes| Field::Bin(bytes.to_vec()))
    }
}

/// `command`/`plugin` arguments → fields. `what` names an argument in the `TypeError` for one
/// of another type: `command argument 2` when `numbered` (counting from 1), else `what` as is.
/// One loop for both, and the name is only formatted for the error (docs/DESIGN.md "Size").
pub fn js_to_fields(args: &[JsValue], what: &str, numbered: bool) -> Result<Vec<Field>, JsValue> {
    let mut out = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        match js_to_field(a) {
            Some(f) => out.push(f),
            None => {
                let number = if numbered {
                    format!(" {}", i + 1)
                } else {
                    String::new()
                };
                return Err(type_error(&format!(
                    "{what}{number} must be a string, number, boolean, undefined or Uint8Array"
                )));
            }
        }
    }
    Ok(out)
}

/// A user object as user code sees it (`{key, nick, id, level, auth, icons, nickcon,
/// connected, mute, session, profileimg}`; `connected` in ms since the epoch).
pub fn user_to_js(u: &UserRecord) -> JsValue {
    build_user(u)
}

/// Room info: `{id, name, mode, created (ms), serverTime (ms), flags: {ad, io, …}}`.
pub fn room_to_js(id: &str, r: &RoomInfo) -> JsValue {
    let f = r.flags();
    let flags = obj(&[
        ("ad", f.ad.into()),
        ("io", f.io.into()),
        ("frozen", f.frozen.into()),
        ("message", f.message.into()),
        ("call", f.call.into()),
        ("whisper", f.whisper.into()),
        ("individual", f.individual.into()),
        ("font", f.font.into()),
        ("callAdmin", f.call_admin.into()),
        ("userLinkage", f.user_linkage.into()),
    ]);
    obj(&[
        ("id", id.into()),
        ("name", r.name.as_str().into()),
        ("mode", r.mode.name().into()),
        ("created", (r.created as f64 * 1000.0).into()),
        ("serverTime", (r.server_time as f64 * 1000.0).into()),
        ("flags", flags),
    ])
}

/// A style from user code; errors name the option.
pub fn style_from_js(v: &JsValue) -> Result<Style, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Style::default());
    }
    if !v.is_object() {
        return Err(type_error(
            "style must be an object like { bold: true, color: '#ff0000' }",
        ));
    }
    // `Reflect.get` through `get`: since session 14 `send` comes here only for arguments
    // hub.js's `chat` does not take ("Encode" in docs/PERFORMANCE.md), so the four structural
    // getters this used (no key string per property, docs/PERFORMANCE.md "Where the time
    // goes" 5) no longer paid for their imports. A throwing getter reads as undefined, as in
    // hub.js.
    let flag = |k: &str| -> Result<bool, JsValue> {
        let x = get(v, k);
        if x.is_undefined() || x.is_null() {
            Ok(false)
        } else {
            x.as_bool()
                .ok_or_else(|| type_error(&format!("style.{k} must be true or false")))
        }
    };
    let mut style = Style {
        bold: flag("bold")?,
        italic: flag("italic")?,
        underline: flag("underline")?,
        color: None,
    };
    let color = get(v, "color");
    if !(color.is_undefined() || color.is_null()) {
        let text = color.as_string().ok_or_else(|| {
            type_error("style.color must be a string like '#ff0000', '#f00' or 'rgb(255, 0, 0)'")
        })?;
        style = style
            .with_color(&text)
            .map_err(|e| type_error(&format!("style.color: {e}")))?;
    }
    Ok(style)
}

/// An `Error` with `code`, `name` and `message` for user code.
pub fn error_to_js(e: &ErrorInfo) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name(&e.name);
    let code: JsValue = e
        .code
        .map_or_else(|| e.name.as_str().into(), |c| (c as f64).into());
    set(&err, "code", code);
    err.into()
}

/// The `'error'` event payload `{code, name, message}`.
pub fn error_payload(e: &ErrorInfo) -> JsValue {
    let code: JsValue = e
        .code
        .map_or_else(|| e.name.as_str().into(), |c| (c as f64).into());
    obj(&[
        ("code", code),
        ("name", e.name.as_str().into()),
        ("message", e.message.as_str().into()),
    ])
}

/// `names` joined by ", " for an error message (by hand: `[T]::join` is a sizeable generic in
/// the wasm, docs/DESIGN.md "Size").
pub fn join_names(names: &[&str]) -> String {
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    out
}

/// A `TypeError` with `message`.
pub fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// `v[key]`, or `undefined` if reading it throws.
pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

const OPTIONS: &[&str] = &[
    "room",
    "url",
    "nick",
    "id",
    "level",
    "auth",
    "icons",
    "nickcon",
    "other",
    "profileimg",
    "password",
    "userData",
    "token",
    "session",
    "heartbeatMs",
    "joinTimeoutMs",
    "reconnect",
    "rateLimit",
    "queueLimit",
];

/// Options of `new UChatBot({...})` → URL + session config. Every error is a `TypeError` naming
/// the option and the fix.
pub fn options_from_js(v: &JsValue, seed: u64) -> Result<(String, Config), JsValue> {
    if !v.is_object() {
        return Err(type_error(
            "new UChatBot(options): options must be an object like { room: 'myroom' }",
        ));
    }
    known_keys(v, "option", "", OPTIONS)?;
    let string = |k: &str| -> Result<Option<String>, JsValue> {
        let x = get(v, k);
        if x.is_undefined() || x.is_null() {
            return Ok(None);
        }
        if let Some(s) = x.as_string() {
            return Ok(Some(s));
        }
        // PHP sites pass numbers for level; accept numbers for the member fields.
        if matches!(k, "level" | "id") {
            if let Some(n) = x.as_f64() {
                return Ok(Some(crate::codec::js_number_to_string(n)));
            }
        }
        Err(type_error(&format!("option `{k}` must be a string")))
    };
    let number = |k: &str| -> Result<Option<f64>, JsValue> {
        let x = get(v, k);
        if x.is_undefined() || x.is_null() {
            return Ok(None);
        }
        match x.as_f64() {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(type_error(&format!(
                "option `{k}` must be a non-negative number"
            ))),
        }
    };
    let room = string("room")?.filter(|r| !r.is_empty()).ok_or_else(|| {
        type_error("option `room` is required: the room id, e.g. new UChatBot({ room: 'myroom' })")
    })?;
    let url = string("url")?.unwrap_or_else(|| DEFAULT_URL.to_owned());
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(type_error(&format!(
            "option `url` must start with wss:// (or ws:// for a local server), got {}",
            Quoted('"', &url)
        )));
    }
    let auth = string("auth")?;
    if let Some(a) = auth.as_deref() {
        // The PHP helper's own list (token::AUTH_ROLES, PROTOCOL.md §4.3); a typo would
        // otherwise join as a plain member, found out only when a moderation command is refused.
        // The `uchat token --auth` check uses the same function.
        if !crate::token::is_valid_auth(a) {
            return Err(type_error(&format!(
                "option `auth` must be 'admin', 'subadmin', 'member' or 'guest' (or left out: \
                 the server decides), got {}",
                Quoted('"', a)
            )));
        }
    }
    let fields = UserFields {
        nick: string("nick")?,
        id: string("id")?,
        level: string("level")?,
        auth,
        icons: string("icons")?,
        nickcon: string("nickcon")?,
        other: string("other")?,
        profileimg: string("profileimg")?,
    };
    let login =
        match (string("userData")?, string("token")?) {
            (Some(_), Some(_)) => return Err(type_error(
                "options `userData` and `token` exclude each other: give the site-made userData, \
                 or the room token and let the SDK build it",
            )),
            (Some(ud), None) => {
                if fields != UserFields::default() {
                    return Err(type_error(
                        "with `userData` the member fields (nick, id, level, …) come from it; \
                     remove those options",
                    ));
                }
                Login::UserData(ud)
            }
            (None, Some(token)) => Login::Token { token, fields },
            (None, None) => {
                if fields
                    != (UserFields {
                        nick: fields.nick.clone(),
                        ..UserFields::default()
                    })
                {
                    return Err(type_error(
                    "options id, level, auth, icons, nickcon, other and profileimg need `token` \
                     (the room secret); with a site-made `userData` they come from it; a guest \
                     can only set `nick`",
                ));
                }
                Login::Guest { nick: fields.nick }
            }
        };
    let mut config = Config::new(room);
    config.login = login;
    config.seed = seed;
    config.password = string("password")?;
    config.session = string("session")?;
    if let Some(ms) = number("heartbeatMs")? {
        config.heartbeat_ms = ms as u64;
    }
    if let Some(ms) = number("joinTimeoutMs")? {
        // Rounded up: 0.5 must not become 0, which waits for ever.
        config.join_timeout_ms = ms.ceil() as u64;
    }
    if let Some(n) = number("queueLimit")? {
        config.queue_limit = (n as usize).max(1);
    }
    config.reconnect = policy_option(v, "reconnect", |o| {
        known_keys(
            o,
            "option",
            "reconnect.",
            &["minDelayMs", "maxDelayMs", "factor", "maxRetries"],
        )?;
        let mut p = ReconnectPolicy::default();
        if let Some(x) = sub_number(o, "reconnect", "minDelayMs")? {
            p.min_delay_ms = x as u64;
        }
        if let Some(x) = sub_number(o, "reconnect", "maxDelayMs")? {
            p.max_delay_ms = x as u64;
        }
        if let Some(x) = sub_number(o, "reconnect", "factor")? {
            p.factor = x;
        }
        if let Some(x) = sub_number(o, "reconnect", "maxRetries")? {
            p.max_retries = Some(x as u32);
        }
        Ok(p)
    })?;
    config.rate_limit = policy_option(v, "rateLimit", |o| {
        known_keys(o, "option", "rateLimit.", &["lines", "perMs"])?;
        let mut r = RateLimit::default();
        if let Some(x) = sub_number(o, "rateLimit", "lines")? {
            r.lines = x as u32;
        }
        if let Some(x) = sub_number(o, "rateLimit", "perMs")? {
            r.per_ms = x as u64;
        }
        Ok(r)
    })?;
    Ok((url, config))
}

/// A `TypeError` for the first own key of the object `o` that is not in `known` (a typo like
/// `minDelay` would otherwise be ignored silently): "unknown {kind} `{what}{key}`", where `what`
/// is the option holding `o` with a dot (`reconnect.`), or empty.
pub fn known_keys(o: &JsValue, kind: &str, what: &str, known: &[&str]) -> Result<(), JsValue> {
    for key in Object::keys(o.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            let hint = match key.as_str() {
                "user_data" | "userdata" => " (did you mean `userData`?)",
                "heartbeat" => " (did you mean `heartbeatMs`?)",
                _ => "",
            };
            return Err(type_error(&format!(
                "unknown {kind} `{what}{key}`{hint}; valid: {}",
                join_names(known)
            )));
        }
    }
    Ok(())
}

/// `key: {…} | false | undefined` (undefined → default policy).
fn policy_option<T: Default>(
    v: &JsValue,
    key: &str,
    parse: impl Fn(&JsValue) -> Result<T, JsValue>,
) -> Result<Option<T>, JsValue> {
    let x = get(v, key);
    if x.is_undefined() || x.is_null() {
        Ok(Some(T::default()))
    } else if x.as_bool() == Some(false) {
        Ok(None)
    } else if x.is_object() {
        parse(&x).map(Some)
    } else {
        Err(type_error(&format!(
            "option `{key}` must be an object or false"
        )))
    }
}

fn sub_number(o: &JsValue, parent: &str, key: &str) -> Result<Option<f64>, JsValue> {
    let x = get(o, key);
    if x.is_undefined() || x.is_null() {
        return Ok(None);
    }
    match x.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(type_error(&format!(
            "option `{parent}.{key}` must be a non-negative number"
        ))),
    }
}

fn build_user(u: &UserRecord) -> JsValue {
    let opt = |s: &Option<String>| s.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str);
    // Frozen like hub.js's user objects: the `users` getter shares them between calls.
    let user = obj(&[
        ("key", u.key.to_hex().into()),
        ("nick", u.nick.as_str().into()),
        ("id", u.id.as_str().into()),
        ("level", opt(&u.level)),
        ("auth", (u.auth as f64).into()),
        ("icons", u.icons.as_str().into()),
        ("nickcon", u.nickcon.as_str().into()),
        ("connected", (u.connected as f64 * 1000.0).into()),
        ("mute", u.mute.into()),
        ("session", u.session_hex().into()),
        ("profileimg", opt(&u.profileimg)),
    ]);
    Object::freeze(user.unchecked_ref::<Object>());
    user
}
