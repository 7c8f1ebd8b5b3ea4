//! Conversions between JS values and the core types: options in, plain event objects out.
//! Only type conversion lives here; protocol decisions are in `session`.

use crate::codec::{hex_encode, Field};
use crate::message::{RoomInfo, Style, UserRecord};
use crate::session::{Config, ErrorInfo, Login, RateLimit, ReconnectPolicy};
use crate::session::{Event, FxMap};
use crate::token::UserFields;
use js_sys::{Array, JsString, Object, Reflect, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
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

/// A JS value as a field, for command arguments (`what` names it in errors).
pub fn js_to_field(v: &JsValue, what: &str) -> Result<Field, JsValue> {
    if let Some(s) = v.as_string() {
        Ok(Field::Str(s))
    } else if let Some(b) = v.as_bool() {
        Ok(Field::Bool(b))
    } else if let Some(n) = v.as_f64() {
        if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            Ok(Field::Num(n as i64))
        } else {
            Ok(Field::Float(n))
        }
    } else if v.is_undefined() || v.is_null() {
        Ok(Field::Undef)
    } else if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        Ok(Field::Bin(bytes.to_vec()))
    } else {
        Err(type_error(&format!(
            "{what} must be a string, number, boolean, undefined or Uint8Array"
        )))
    }
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
    // Structural getters (`v.bold` in the glue): no JS key string per property and call
    // (docs/PERFORMANCE.md "Encode path"). A throwing getter reads as undefined, as before.
    let v: &StyleIn = v.unchecked_ref();
    let flag = |x: Result<JsValue, JsValue>, k: &str| -> Result<bool, JsValue> {
        let x = x.unwrap_or(JsValue::UNDEFINED);
        if x.is_undefined() || x.is_null() {
            Ok(false)
        } else {
            x.as_bool()
                .ok_or_else(|| type_error(&format!("style.{k} must be true or false")))
        }
    };
    let mut style = Style {
        bold: flag(v.bold(), "bold")?,
        italic: flag(v.italic(), "italic")?,
        underline: flag(v.underline(), "underline")?,
        color: None,
    };
    let color = v.color().unwrap_or(JsValue::UNDEFINED);
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

/// A `TypeError` with `message`.
pub fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

fn get(v: &JsValue, key: &str) -> JsValue {
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
    for key in Object::keys(v.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !OPTIONS.contains(&key.as_str()) {
            let hint = match key.as_str() {
                "user_data" | "userdata" => " (did you mean `userData`?)",
                "heartbeat" => " (did you mean `heartbeatMs`?)",
                _ => "",
            };
            return Err(type_error(&format!(
                "unknown option `{key}`{hint}; valid options: {}",
                OPTIONS.join(", ")
            )));
        }
    }
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
            "option `url` must start with wss:// (or ws:// for a local server), got {url:?}"
        )));
    }
    let fields = UserFields {
        nick: string("nick")?,
        id: string("id")?,
        level: string("level")?,
        auth: string("auth")?,
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
                     (the room secret) or a site-made `userData`; a guest can only set `nick`",
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
    if let Some(n) = number("queueLimit")? {
        config.queue_limit = (n as usize).max(1);
    }
    config.reconnect = policy_option(v, "reconnect", |o| {
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

// ---------------------------------------------------------------------------------------------
// Event objects on the hot path (docs/PERFORMANCE.md "Decode path")
//
// Every value crossing from wasm to JS is a call into the glue. `Reflect.set(o, "name", v)` with
// a `&str` name costs a fresh JS string (a TextDecoder call) plus a generic, slow property store
// per property. The imports below are wasm-bindgen *structural setters*: the glue compiles each
// to a plain `o.name = v`, a named store the JS engine caches per site, so setting a property
// costs one cheap call. User objects are built once per user record and shared until the
// record changes.

#[wasm_bindgen]
extern "C" {
    /// A plain JS object being filled with event fields.
    #[wasm_bindgen(extends = Object, typescript_type = "object")]
    type Payload;
    #[wasm_bindgen(method, structural, setter = "user")]
    fn set_user(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "style")]
    fn set_style(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "content")]
    fn set_content(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "time")]
    fn set_time(this: &Payload, v: f64);
    #[wasm_bindgen(method, structural, setter = "self")]
    fn set_self(this: &Payload, v: bool);
    #[wasm_bindgen(method, structural, setter = "history")]
    fn set_history(this: &Payload, v: bool);
    #[wasm_bindgen(method, structural, setter = "from")]
    fn set_from(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "to")]
    fn set_to(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "bold")]
    fn set_bold(this: &Payload, v: bool);
    #[wasm_bindgen(method, structural, setter = "italic")]
    fn set_italic(this: &Payload, v: bool);
    #[wasm_bindgen(method, structural, setter = "underline")]
    fn set_underline(this: &Payload, v: bool);
    #[wasm_bindgen(method, structural, setter = "color")]
    fn set_color(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "key")]
    fn set_key(this: &Payload, v: &str);
    #[wasm_bindgen(method, structural, setter = "nick")]
    fn set_nick(this: &Payload, v: &str);
    #[wasm_bindgen(method, structural, setter = "id")]
    fn set_id(this: &Payload, v: &str);
    #[wasm_bindgen(method, structural, setter = "level")]
    fn set_level(this: &Payload, v: Option<&str>);
    #[wasm_bindgen(method, structural, setter = "auth")]
    fn set_auth(this: &Payload, v: f64);
    #[wasm_bindgen(method, structural, setter = "icons")]
    fn set_icons(this: &Payload, v: &str);
    #[wasm_bindgen(method, structural, setter = "nickcon")]
    fn set_nickcon(this: &Payload, v: &str);
    #[wasm_bindgen(method, structural, setter = "connected")]
    fn set_connected(this: &Payload, v: f64);
    #[wasm_bindgen(method, structural, setter = "mute")]
    fn set_mute(this: &Payload, v: bool);
    #[wasm_bindgen(method, structural, setter = "session")]
    fn set_session(this: &Payload, v: &str);
    #[wasm_bindgen(method, structural, setter = "profileimg")]
    fn set_profileimg(this: &Payload, v: Option<&str>);
    #[wasm_bindgen(method, structural, setter = "count")]
    fn set_count(this: &Payload, v: f64);
    #[wasm_bindgen(method, structural, setter = "type")]
    fn set_type(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "code")]
    fn set_code(this: &Payload, v: f64);
    #[wasm_bindgen(method, structural, setter = "data")]
    fn set_data(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "list")]
    fn set_list(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "key")]
    fn set_key_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "nick")]
    fn set_nick_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "id")]
    fn set_id_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "level")]
    fn set_level_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "icons")]
    fn set_icons_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "nickcon")]
    fn set_nickcon_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "session")]
    fn set_session_js(this: &Payload, v: &JsValue);
    #[wasm_bindgen(method, structural, setter = "profileimg")]
    fn set_profileimg_js(this: &Payload, v: &JsValue);
}

#[wasm_bindgen]
extern "C" {
    /// The `style` argument of `send` (any object; read through plain property gets).
    type StyleIn;
    #[wasm_bindgen(method, structural, getter = "bold", catch)]
    fn bold(this: &StyleIn) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, structural, getter = "italic", catch)]
    fn italic(this: &StyleIn) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, structural, getter = "underline", catch)]
    fn underline(this: &StyleIn) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, structural, getter = "color", catch)]
    fn color(this: &StyleIn) -> Result<JsValue, JsValue>;
}

fn payload() -> Payload {
    Object::new().unchecked_into()
}

/// Most user objects kept; past this the cache starts over (memory stays bounded in rooms with
/// many short visits).
const USER_CACHE_MAX: usize = 4096;
/// Most system-code names kept as JS strings (the table has 42 and one for unknown codes).
const NAME_CACHE_MAX: usize = 64;
/// Most distinct style objects kept (a room uses a handful).
const STYLE_CACHE_MAX: usize = 64;

/// Builds the payloads of `message`, `whisper`, `user.*` events (style: `{bold, italic,
/// underline, color}`, colour `#rrggbb` or `null`; users as [`user_to_js`]). User objects are shared: the same JS object for the same record until a
/// `k` line changes it (docs/PERFORMANCE.md "Shared user objects").
#[derive(Default)]
pub struct EventBuilder {
    users: FxMap<Vec<u8>, (Rc<UserRecord>, JsValue)>,
    styles: Vec<(Style, JsValue)>,
    names: Vec<(&'static str, JsValue)>,
}

impl EventBuilder {
    /// The JS object for `u` (cached while the record is unchanged). The session shares one
    /// `Rc` per record, so an unchanged user is usually a pointer comparison.
    pub fn user(&mut self, u: &Rc<UserRecord>) -> JsValue {
        if let Some((rec, obj)) = self.users.get_mut(u.key.as_bytes()) {
            if Rc::ptr_eq(rec, u) {
                return obj.clone();
            }
            if **rec == **u {
                *rec = u.clone();
                return obj.clone();
            }
        }
        let obj = build_user(u);
        self.insert(u, obj.clone());
        obj
    }

    /// Forget the cached object of `key` (the user left).
    pub fn forget(&mut self, key: &[u8]) {
        self.users.remove(key);
    }

    /// The style object for `s`: one frozen object per distinct style, shared by every event
    /// with that style (docs/PERFORMANCE.md "Shared objects"). Frozen, so a handler that
    /// writes to it cannot change other messages.
    fn style(&mut self, s: &Style) -> JsValue {
        if let Some((_, obj)) = self.styles.iter().find(|(st, _)| st == s) {
            return obj.clone();
        }
        let o = payload();
        o.set_bold(s.bold);
        o.set_italic(s.italic);
        o.set_underline(s.underline);
        match &s.color {
            None => o.set_color(&JsValue::NULL),
            Some(c) => o.set_color(&JsValue::from_str(c.as_str())),
        }
        let obj: JsValue = Object::freeze(&o).into();
        if self.styles.len() >= STYLE_CACHE_MAX {
            self.styles.clear();
        }
        self.styles.push((s.clone(), obj.clone()));
        obj
    }

    /// `{user, style, content, time, self, history}`.
    pub fn message(
        &mut self,
        user: &Rc<UserRecord>,
        style: &Style,
        content: &JsValue,
        time_ms: f64,
        is_self: bool,
        history: bool,
    ) -> JsValue {
        let user = self.user(user);
        let style = self.style(style);
        let o = payload();
        o.set_user(&user);
        o.set_style(&style);
        o.set_content(content);
        o.set_time(time_ms);
        o.set_self(is_self);
        o.set_history(history);
        o.into()
    }

    /// `{from, to, style, content, time, self}`.
    pub fn whisper(
        &mut self,
        from: &Rc<UserRecord>,
        to: &Rc<UserRecord>,
        style: &Style,
        content: &JsValue,
        time_ms: f64,
        is_self: bool,
    ) -> JsValue {
        let from = self.user(from);
        let to = self.user(to);
        let style = self.style(style);
        let o = payload();
        o.set_from(&from);
        o.set_to(&to);
        o.set_style(&style);
        o.set_content(content);
        o.set_time(time_ms);
        o.set_self(is_self);
        o.into()
    }

    /// `{count}` (user.count).
    pub fn count(&self, n: f64) -> JsValue {
        let o = payload();
        o.set_count(n);
        o.into()
    }

    /// `{list}` (user.list).
    pub fn list(&self, list: &JsValue) -> JsValue {
        let o = payload();
        o.set_list(list);
        o.into()
    }

    /// `{type, code, data}` (system). The type names come from a fixed table, so their JS
    /// strings are made once.
    pub fn system(&mut self, name: &'static str, code: f64, data: &JsValue) -> JsValue {
        let name = match self.names.iter().find(|(n, _)| std::ptr::eq(*n, name)) {
            Some((_, v)) => v.clone(),
            None => {
                let v = JsValue::from_str(name);
                if self.names.len() < NAME_CACHE_MAX {
                    self.names.push((name, v.clone()));
                }
                v
            }
        };
        let o = payload();
        o.set_type(&name);
        o.set_code(code);
        o.set_data(data);
        o.into()
    }

    /// `{user}` (user.join, user.quit).
    pub fn user_event(&mut self, user: &Rc<UserRecord>) -> JsValue {
        let user = self.user(user);
        let o = payload();
        o.set_user(&user);
        o.into()
    }
}

fn build_user(u: &UserRecord) -> JsValue {
    let o = payload();
    o.set_key(&u.key.to_hex());
    o.set_nick(&u.nick);
    o.set_id(&u.id);
    o.set_level(u.level.as_deref());
    o.set_auth(u.auth as f64);
    o.set_icons(&u.icons);
    o.set_nickcon(&u.nickcon);
    o.set_connected(u.connected as f64 * 1000.0);
    o.set_mute(u.mute);
    o.set_session(&u.session_hex());
    o.set_profileimg(u.profileimg.as_deref());
    o.into()
}

/// A user object whose strings are slices of a batch string (see [`EventBuilder::prepare`]);
/// `s` holds the UTF-16 ranges of key, nick, id, level, icons, nickcon, session, profileimg.
fn build_user_from(all: &JsString, u: &UserRecord, s: &[Span; 8]) -> JsValue {
    let sub = |(a, b): Span| -> JsValue { all.substring(a, b).into() };
    let o = payload();
    o.set_key_js(&sub(s[0]));
    o.set_nick_js(&sub(s[1]));
    o.set_id_js(&sub(s[2]));
    o.set_level_js(&u.level.as_ref().map_or(JsValue::UNDEFINED, |_| sub(s[3])));
    o.set_auth(u.auth as f64);
    o.set_icons_js(&sub(s[4]));
    o.set_nickcon_js(&sub(s[5]));
    o.set_connected(u.connected as f64 * 1000.0);
    o.set_mute(u.mute);
    o.set_session_js(&sub(s[6]));
    o.set_profileimg_js(
        &u.profileimg
            .as_ref()
            .map_or(JsValue::UNDEFINED, |_| sub(s[7])),
    );
    o.into()
}

/// A UTF-16 range in a batch string.
type Span = (u32, u32);

/// The strings of one batch of events (a WebSocket frame), decoded from UTF-8 with one
/// TextDecoder call: a call costs far more than the bytes it decodes, so one per frame instead
/// of one per string (docs/PERFORMANCE.md "Decode path").
pub struct Batch {
    all: Option<JsString>,
    /// Per event (same index as the batch): the range of its chat text.
    texts: Vec<Option<Span>>,
}

impl Batch {
    /// The JS string for the chat text `text` of event `index`.
    pub fn text(&self, index: usize, text: &str) -> JsValue {
        match (&self.all, self.texts.get(index).copied().flatten()) {
            (Some(all), Some((a, b))) => all.substring(a, b).into(),
            _ => JsValue::from_str(text),
        }
    }
}

/// Collects strings for a [`Batch`], counting their UTF-16 length as it goes.
#[derive(Default)]
struct BatchText {
    buf: String,
    at: u32,
}

impl BatchText {
    fn push(&mut self, s: &str) -> Span {
        self.buf.push_str(s);
        let start = self.at;
        self.at += utf16_len(s) as u32;
        (start, self.at)
    }
}

/// Length of `s` in UTF-16 code units (the JS string length): one per UTF-8 sequence, two for
/// the 4-byte ones.
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    s.bytes()
        .map(|b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

impl EventBuilder {
    /// Before a batch of events is dispatched: decode every string it will need — chat texts
    /// (`messages`: whether `message` events have listeners) and the fields of users whose
    /// objects are not cached yet — with one TextDecoder call, and build those user objects.
    pub fn prepare(&mut self, events: &[Event], messages: bool) -> Batch {
        let mut text = BatchText::default();
        let mut texts = Vec::with_capacity(events.len());
        let mut users: Vec<(Rc<UserRecord>, [Span; 8])> = Vec::new();
        let mut want = |u: &Rc<UserRecord>, text: &mut BatchText, this: &Self| {
            if this.cached(u).is_some() || users.iter().any(|(p, _)| Rc::ptr_eq(p, u)) {
                return;
            }
            let spans = [
                text.push(&u.key.to_hex()),
                text.push(&u.nick),
                text.push(&u.id),
                text.push(u.level.as_deref().unwrap_or("")),
                text.push(&u.icons),
                text.push(&u.nickcon),
                text.push(&u.session_hex()),
                text.push(u.profileimg.as_deref().unwrap_or("")),
            ];
            users.push((u.clone(), spans));
        };
        for e in events {
            let span = match e {
                Event::Message { user, content, .. } if messages => {
                    want(user, &mut text, self);
                    Some(text.push(content))
                }
                Event::Whisper {
                    from, to, content, ..
                } => {
                    want(from, &mut text, self);
                    want(to, &mut text, self);
                    Some(text.push(content))
                }
                Event::UserJoin(u) => {
                    want(u, &mut text, self);
                    None
                }
                Event::UserList(list) => {
                    for u in list {
                        want(u, &mut text, self);
                    }
                    None
                }
                _ => None,
            };
            texts.push(span);
        }
        if text.buf.is_empty() {
            return Batch { all: None, texts };
        }
        let all: JsString = JsValue::from_str(&text.buf).unchecked_into();
        for (u, spans) in &users {
            let obj = build_user_from(&all, u, spans);
            self.insert(u, obj);
        }
        Batch {
            all: Some(all),
            texts,
        }
    }

    /// The cached object for `u`, if its record is unchanged.
    fn cached(&self, u: &Rc<UserRecord>) -> Option<&JsValue> {
        let (rec, obj) = self.users.get(u.key.as_bytes())?;
        (Rc::ptr_eq(rec, u) || **rec == **u).then_some(obj)
    }

    fn insert(&mut self, u: &Rc<UserRecord>, obj: JsValue) {
        if self.users.len() >= USER_CACHE_MAX {
            self.users.clear();
        }
        self.users
            .insert(u.key.as_bytes().to_vec(), (u.clone(), obj));
    }
}
