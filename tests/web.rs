//! Browser tests of the `UChatBot` class against a running `uchat sim` (issue #4 point 3).
//!
//! `cargo xtask ci` starts five sims on loopback before running these in headless Chrome and
//! Firefox (see `xtask`): the main one (`--auto-rooms`, a token room `tok`, a password room `pw`),
//! one with `--fault hijack200`, one with `--fault drop-after=2`, one with `--fault
//! delay=2000` and one with `--fault hold`. Their URLs come from the build-time variables
//! `UCHAT_SIM_URL`, `UCHAT_SIM_HIJACK_URL`, `UCHAT_SIM_DROP_URL`, `UCHAT_SIM_SLOW_URL` and
//! `UCHAT_SIM_HOLD_URL`, with the defaults below. Each test uses its own room, so tests cannot see each other's traffic.
#![cfg(target_arch = "wasm32")]

use js_sys::{Function, Object, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use uchat_bot::web::UChatBot;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SIM: &str = match option_env!("UCHAT_SIM_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:18787",
};
const SIM_HIJACK: &str = match option_env!("UCHAT_SIM_HIJACK_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:18788",
};
const SIM_DROP: &str = match option_env!("UCHAT_SIM_DROP_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:18789",
};
const SIM_SLOW: &str = match option_env!("UCHAT_SIM_SLOW_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:18790",
};
const SIM_HOLD: &str = match option_env!("UCHAT_SIM_HOLD_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:18791",
};
/// The token of the sim's room `tok` (xtask starts it with `--room tok:token=…`).
const TOKEN: &str = "s3cret-test-token";

// ---------------------------------------------------------------------------------------------
// Helpers

fn prop(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn text(v: &JsValue, k: &str) -> String {
    prop(v, k).as_string().unwrap_or_default()
}

fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn bot(pairs: &[(&str, JsValue)]) -> UChatBot {
    UChatBot::new(options(pairs)).expect("valid options")
}

thread_local! {
    /// A suffix for this run's room names: the sims keep chat history per room, and the same
    /// sims serve the Chrome and the Firefox run.
    static RUN: String = format!("{:08x}", (js_sys::Math::random() * 4_294_967_295.0) as u32);
}

/// `name` made unique to this test run (the sim runs with `--auto-rooms`).
fn room(name: &str) -> String {
    RUN.with(|r| format!("{name}-{r}"))
}

fn guest(room_name: &str, nick: &str) -> UChatBot {
    bot(&[
        ("room", room(room_name).into()),
        ("url", SIM.into()),
        ("nick", nick.into()),
    ])
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Poll `cond` every 20 ms for at most `ms`; true if it became true.
async fn wait_for(ms: u32, cond: impl Fn() -> bool) -> bool {
    for _ in 0..ms / 20 {
        if cond() {
            return true;
        }
        sleep(20).await;
    }
    cond()
}

async fn connect(b: &UChatBot) -> Result<JsValue, JsValue> {
    JsFuture::from(b.connect(JsValue::UNDEFINED)).await
}

/// Records the payloads of one event; keep it alive while the bot may emit.
struct Rec {
    items: Rc<RefCell<Vec<JsValue>>>,
    _closure: Closure<dyn FnMut(JsValue)>,
}

impl Rec {
    fn on(b: &UChatBot, event: &str) -> Rec {
        let items = Rc::new(RefCell::new(Vec::new()));
        let sink = items.clone();
        let closure = Closure::<dyn FnMut(JsValue)>::new(move |v| sink.borrow_mut().push(v));
        b.on(event, closure.as_ref().unchecked_ref::<Function>().clone())
            .unwrap();
        Rec {
            items,
            _closure: closure,
        }
    }
    fn len(&self) -> usize {
        self.items.borrow().len()
    }
    fn all(&self) -> Vec<JsValue> {
        self.items.borrow().clone()
    }
    fn texts(&self, k: &str) -> Vec<String> {
        self.items.borrow().iter().map(|v| text(v, k)).collect()
    }
    /// Whether an event with this `content` has come, or comes within 3 s.
    async fn heard(&self, content: &str) -> bool {
        wait_for(3000, || self.texts("content").iter().any(|c| c == content)).await
    }
}

// ---------------------------------------------------------------------------------------------
// Joins

#[wasm_bindgen_test]
async fn guest_join_resolves_with_my_user() {
    let b = bot(&[("room", room("t-guest").into()), ("url", SIM.into())]);
    assert_eq!(b.state(), "idle");
    let states = Rec::on(&b, "state");
    let me = connect(&b).await.expect("guest join");
    assert!(
        text(&me, "nick").starts_with("손님"),
        "{:?}",
        text(&me, "nick")
    );
    assert_eq!(text(&me, "key").len(), 16, "8-byte key as hex");
    assert_eq!(prop(&me, "auth").as_f64(), Some(0.0));
    assert_eq!(b.state(), "joined");
    assert_eq!(text(&b.me(), "key"), text(&me, "key"));
    assert_eq!(text(&b.room(), "id"), room("t-guest"));
    b.close();
    assert_eq!(b.state(), "closed");
    assert_eq!(
        states.texts("state"),
        ["connecting", "joining", "joined", "closed"]
    );
}

#[wasm_bindgen_test]
async fn token_join_builds_user_data_and_gets_member_auth() {
    let b = bot(&[
        ("room", "tok".into()),
        ("url", SIM.into()),
        ("token", TOKEN.into()),
        ("nick", "토큰봇".into()),
        ("auth", "admin".into()),
        ("level", 7.into()),
    ]);
    let me = connect(&b).await.expect("token join");
    assert_eq!(text(&me, "nick"), "토큰봇");
    assert_eq!(prop(&me, "auth").as_f64(), Some(3.0), "admin");
    assert_eq!(text(&me, "level"), "7");
    b.close();
}

#[wasm_bindgen_test]
async fn user_data_join_forwards_the_site_string() {
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let fields = uchat_bot::token::UserFields {
        nick: Some("site user".into()),
        id: Some("u1".into()),
        auth: Some("member".into()),
        ..Default::default()
    };
    let ud = uchat_bot::token::build_user_data("tok", TOKEN, now, &fields).unwrap();
    let b = bot(&[
        ("room", "tok".into()),
        ("url", SIM.into()),
        ("userData", ud.user_data.clone().into()),
    ]);
    let me = connect(&b).await.expect("userData join");
    // PHP urlencode turns the space into '+', and the browser forwards it (PROTOCOL.md §4.7-1).
    assert_eq!(text(&me, "nick"), "site+user");
    assert_eq!(prop(&me, "auth").as_f64(), Some(1.0), "member");
    b.close();
}

#[wasm_bindgen_test]
async fn wrong_token_rejects_with_202_and_does_not_reconnect() {
    let b = bot(&[
        ("room", "tok".into()),
        ("url", SIM.into()),
        ("token", "not-the-token".into()),
    ]);
    let reconnecting = Rec::on(&b, "reconnecting");
    let errors = Rec::on(&b, "error");
    let err = connect(&b).await.expect_err("must reject");
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(prop(&err, "code").as_f64(), Some(202.0));
    assert_eq!(text(&err, "name"), "token_changed");
    assert!(
        text(&err, "message").contains("202"),
        "{}",
        text(&err, "message")
    );
    sleep(1500).await;
    assert_eq!(b.state(), "closed");
    assert_eq!(reconnecting.len(), 0);
    assert!(errors.len() >= 1);
}

#[wasm_bindgen_test]
async fn hijacked_upgrade_is_a_handshake_error_that_suggests_wss() {
    let b = bot(&[("room", "lobby".into()), ("url", SIM_HIJACK.into())]);
    let errors = Rec::on(&b, "error");
    let disconnects = Rec::on(&b, "disconnect");
    let err = connect(&b).await.expect_err("must reject");
    assert_eq!(text(&err, "code"), "handshake");
    let msg = text(&err, "message");
    assert!(msg.contains("ws://") && msg.contains("wss://"), "{msg}");
    assert_eq!(b.state(), "closed");
    // The socket's `error` ends it, and the `close` the browser fires after it adds nothing:
    // one error, one disconnect (1006).
    sleep(300).await;
    assert_eq!(errors.len(), 1);
    let disconnects = disconnects.all();
    assert_eq!(disconnects.len(), 1);
    assert_eq!(prop(&disconnects[0], "code").as_f64(), Some(1006.0));
}

#[wasm_bindgen_test]
async fn a_join_slower_than_join_timeout_ms_fails_with_timeout() {
    // The slow sim answers every message two seconds late.
    let slow = |ms: f64| {
        bot(&[
            ("room", room("late").into()),
            ("url", SIM_SLOW.into()),
            ("joinTimeoutMs", ms.into()),
        ])
    };
    let b = slow(300.0);
    let disconnects = Rec::on(&b, "disconnect");
    let err = connect(&b).await.expect_err("no answer within 300 ms");
    assert_eq!(text(&err, "code"), "timeout");
    assert!(text(&err, "message").contains("joinTimeoutMs"), "{err:?}");
    assert_eq!(b.state(), "closed");
    let disconnects = disconnects.all();
    assert_eq!(disconnects.len(), 1);
    assert_eq!(prop(&disconnects[0], "code").as_f64(), Some(1006.0));
    // A longer limit waits for the late answer.
    let b = slow(10_000.0);
    let me = connect(&b).await.expect("joins after ~2 s");
    assert!(!text(&me, "nick").is_empty());
    b.close();
    // A negative limit is refused with the option's name.
    let opts = options(&[("room", "late".into()), ("joinTimeoutMs", (-1.0).into())]);
    let err = UChatBot::new(opts).err().expect("refused");
    assert!(text(&err, "message").contains("joinTimeoutMs"), "{err:?}");
}

/// Joins with the page's `WebSocket` replaced by `stand_in` (`None`: removed) while the socket
/// is created; returns the rejection and the `disconnect` payloads.
async fn connect_without_websocket(stand_in: Option<&JsValue>) -> (JsValue, Vec<JsValue>) {
    let global = js_sys::global();
    let real = Reflect::get(&global, &"WebSocket".into()).unwrap();
    match stand_in {
        Some(f) => Reflect::set(&global, &"WebSocket".into(), f).unwrap(),
        None => Reflect::delete_property(&global, &"WebSocket".into()).unwrap(),
    };
    let b = bot(&[("room", "lobby".into()), ("url", SIM.into())]);
    let disconnects = Rec::on(&b, "disconnect");
    // connect() creates the socket before it returns: put the real class back at once.
    let joined = JsFuture::from(b.connect(JsValue::UNDEFINED));
    Reflect::set(&global, &"WebSocket".into(), &real).unwrap();
    let err = joined.await.expect_err("must reject");
    assert_eq!(b.state(), "closed");
    (err, disconnects.all())
}

#[wasm_bindgen_test]
async fn a_websocket_constructor_that_throws_is_reported_as_it_is() {
    // No WebSocket at all (Node.js before 22): the ReferenceError and what to do.
    let (err, disconnects) = connect_without_websocket(None).await;
    assert_eq!(text(&err, "code"), "websocket");
    let msg = text(&err, "message");
    assert!(msg.contains("ReferenceError"), "{msg}");
    assert!(msg.contains("Node.js use version 22"), "{msg}");
    assert!(msg.contains(SIM), "{msg}");
    assert!(!msg.contains("handshake"), "{msg}");
    assert_eq!(disconnects.len(), 1);
    assert_eq!(text(&disconnects[0], "reason"), msg);
    assert_eq!(prop(&disconnects[0], "willReconnect"), JsValue::FALSE);
    // A constructor that refuses (as browsers do with a ws:// URL on an https:// page): its
    // own words, without the Node.js advice.
    let refuse = Function::new_with_args("u", "throw new TypeError('refused ' + u)");
    let (err, _) = connect_without_websocket(Some(&refuse)).await;
    assert_eq!(text(&err, "code"), "websocket");
    let msg = text(&err, "message");
    assert!(msg.contains(&format!("TypeError: refused {SIM}")), "{msg}");
    assert!(!msg.contains("Node.js"), "{msg}");
    // The real class is back: the next bot joins.
    let b = bot(&[("room", "lobby".into()), ("url", SIM.into())]);
    connect(&b).await.expect("joins");
    b.close();
}

/// A connect() made by an `error` listener while the first connect() fails is an attempt of its
/// own: the failure that rejects the first promise does not reject the second (the session ends
/// the waiting connect() before it reports the error to listeners).
#[wasm_bindgen_test]
async fn a_connect_from_an_error_listener_is_a_new_attempt() {
    let global = js_sys::global();
    let real = Reflect::get(&global, &"WebSocket".into()).unwrap();
    let b = Rc::new(bot(&[("room", "lobby".into()), ("url", SIM.into())]));
    let second = Rc::new(RefCell::new(None::<JsFuture>));
    let (bot2, slot, real2) = (b.clone(), second.clone(), real.clone());
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
        // The page gets its WebSocket back; the listener tries again.
        Reflect::set(&js_sys::global(), &"WebSocket".into(), &real2).unwrap();
        if slot.borrow().is_none() {
            let again = JsFuture::from(bot2.connect(JsValue::UNDEFINED));
            *slot.borrow_mut() = Some(again);
        }
    });
    b.on(
        "error",
        on_error.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    Reflect::delete_property(&global, &"WebSocket".into()).unwrap();
    let first = JsFuture::from(b.connect(JsValue::UNDEFINED));
    Reflect::set(&global, &"WebSocket".into(), &real).unwrap();
    let err = first.await.expect_err("the first attempt has no WebSocket");
    assert_eq!(text(&err, "code"), "websocket");
    let again = second
        .borrow_mut()
        .take()
        .expect("the error listener called connect()");
    let me = again.await.expect("the second attempt joins");
    assert_eq!(b.state(), "joined");
    assert!(!text(&me, "nick").is_empty());
    b.close();
}

#[wasm_bindgen_test]
async fn password_room_needs_the_password() {
    let wrong = bot(&[
        ("room", "pw".into()),
        ("url", SIM.into()),
        ("password", "nope".into()),
    ]);
    let err = connect(&wrong).await.expect_err("wrong password");
    assert_eq!(prop(&err, "code").as_f64(), Some(208.0));
    let right = bot(&[
        ("room", "pw".into()),
        ("url", SIM.into()),
        ("password", "pw1".into()),
    ]);
    connect(&right).await.expect("right password");
    right.close();
}

// ---------------------------------------------------------------------------------------------
// Two bots in one page

#[wasm_bindgen_test]
async fn two_bots_exchange_messages_and_whispers() {
    let a = guest("t-two", "alice");
    let b = guest("t-two", "bob");
    let other_room = guest("t-two-elsewhere", "carol");
    let a_msgs = Rec::on(&a, "message");
    let a_whispers = Rec::on(&a, "whisper");
    let carol_msgs = Rec::on(&other_room, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    connect(&other_room).await.unwrap();
    let tricky = "안녕 \\ back\nslash \u{2}\u{3}\u{7} <b>x</b>";
    let style = options(&[("bold", true.into()), ("color", "#F00".into())]);
    b.send(tricky.into(), style).unwrap();
    assert!(
        wait_for(3000, || a_msgs.len() >= 1).await,
        "alice got the message"
    );
    let m = &a_msgs.all()[0];
    assert_eq!(text(m, "content"), tricky);
    assert_eq!(text(&prop(m, "user"), "nick"), "bob");
    assert_eq!(prop(m, "self").as_bool(), Some(false));
    let st = prop(m, "style");
    assert_eq!(prop(&st, "bold").as_bool(), Some(true));
    assert_eq!(text(&st, "color"), "#ff0000");
    assert!(prop(m, "time").as_f64().unwrap() > 1.6e12, "ms since epoch");

    b.whisper("alice".into(), "psst".into()).unwrap();
    assert!(wait_for(3000, || a_whispers.len() >= 1).await);
    let w = &a_whispers.all()[0];
    assert_eq!(text(w, "content"), "psst");
    assert_eq!(text(&prop(w, "from"), "nick"), "bob");
    assert_eq!(text(&prop(w, "to"), "nick"), "alice");

    sleep(200).await;
    assert_eq!(carol_msgs.len(), 0, "a bot in another room sees nothing");
    a.close();
    b.close();
    other_room.close();
}

/// `off` from inside a handler: hub.js changes listener lists in place and `walk` keeps the
/// message list for a frame (docs/PERFORMANCE.md "Session 16"), so a handler that removes
/// itself gets no later message, and the other handlers keep getting them.
#[wasm_bindgen_test]
async fn a_handler_removing_itself_gets_no_later_message() {
    let a = Rc::new(guest("t-off", "alice"));
    let b = guest("t-off", "bob");
    let calls = Rc::new(RefCell::new(0));
    let slot: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
    let (c, me, bot) = (calls.clone(), slot.clone(), a.clone());
    let quitter = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        *c.borrow_mut() += 1;
        if let Some(f) = me.borrow().as_ref() {
            bot.off("message", f).unwrap();
        }
    });
    let f = quitter.as_ref().unchecked_ref::<Function>().clone();
    *slot.borrow_mut() = Some(f.clone());
    a.on("message", f).unwrap();
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    for (i, t) in ["one", "two", "three"].into_iter().enumerate() {
        b.send(t.into(), JsValue::UNDEFINED).unwrap();
        assert!(wait_for(3000, || msgs.len() > i).await, "message {t}");
    }
    assert_eq!(*calls.borrow(), 1, "removed after its first message");
    assert_eq!(msgs.len(), 3, "the other handler got all three");
    a.close();
    b.close();
}

/// What README "Events" promises about payload objects, now built by src/web/hub.js from the
/// event tape: one shared user object per user record and one frozen style object per style;
/// `once` fires once; a throwing handler does not keep the next one from running.
#[wasm_bindgen_test]
async fn payload_objects_are_shared_and_handlers_are_isolated() {
    let a = guest("t-shared", "alice");
    let b = guest("t-shared", "bob");
    let thrower = Closure::<dyn FnMut(JsValue) -> Result<(), JsValue>>::new(|_| {
        Err(JsValue::from_str(
            "a handler that throws (expected in this test)",
        ))
    });
    a.on(
        "message",
        thrower.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    let msgs = Rec::on(&a, "message");
    let once_count = Rc::new(RefCell::new(0));
    let c = once_count.clone();
    let once = Closure::<dyn FnMut(JsValue)>::new(move |_| *c.borrow_mut() += 1);
    a.once("message", once.as_ref().unchecked_ref::<Function>().clone())
        .unwrap();
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    let bold = || options(&[("bold", true.into())]);
    b.send("one".into(), bold()).unwrap();
    // Wait, so that the next message comes in a frame of its own.
    assert!(wait_for(3000, || msgs.len() >= 1).await, "first message");
    // A text starting with U+FEFF: the second frame's tape text starts with it, and a
    // TextDecoder without `ignoreBOM` would drop it and shift every later string of the frame.
    b.send("\u{feff}two".into(), bold()).unwrap();
    assert!(
        wait_for(3000, || msgs.len() >= 2).await,
        "both messages reach the second handler although the first one throws"
    );
    let all = msgs.all();
    let (m1, m2) = (&all[0], &all[1]);
    assert_eq!(text(m1, "content"), "one");
    assert_eq!(
        text(m2, "content"),
        "\u{feff}two",
        "a leading BOM is content"
    );
    assert_eq!(text(&prop(m2, "user"), "nick"), "bob");
    assert!(
        Object::is(&prop(m1, "user"), &prop(m2, "user")),
        "one user object per record"
    );
    assert!(
        Object::is(&prop(m1, "style"), &prop(m2, "style")),
        "one style object per style"
    );
    assert!(Object::is_frozen(&prop(m1, "style").into()));
    assert_eq!(*once_count.borrow(), 1, "once fires once");
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn user_list_and_join_quit_events() {
    let a = guest("t-users", "alice");
    let lists = Rec::on(&a, "user.list");
    let joins = Rec::on(&a, "user.join");
    let quits = Rec::on(&a, "user.quit");
    connect(&a).await.unwrap();
    assert!(
        wait_for(3000, || lists.len() >= 1).await,
        "post-join user list"
    );
    let list = js_sys::Array::from(&prop(&lists.all()[0], "list"));
    assert!(list.iter().any(|u| text(&u, "nick") == "alice"));

    let b = guest("t-users", "bob");
    connect(&b).await.unwrap();
    assert!(wait_for(3000, || joins.len() >= 1).await);
    assert_eq!(text(&prop(&joins.all()[0], "user"), "nick"), "bob");
    assert!(a.user("bob").is_object());
    assert_eq!(a.users().length(), 2);
    // `users` is built again only after a change: until then each call gets its own copy of
    // the same array (changing one changes nothing else), with the same user objects.
    let (first, second) = (a.users(), a.users());
    assert!(!Object::is(&first, &second), "a copy per call");
    first.push(&JsValue::NULL);
    assert_eq!(a.users().length(), 2, "changing a copy changed the next");
    assert!(
        Object::is(&first.get(0), &second.get(0)),
        "shared user objects"
    );

    b.close();
    assert!(wait_for(3000, || quits.len() >= 1).await);
    assert_eq!(text(&prop(&quits.all()[0], "user"), "nick"), "bob");
    assert!(a.user("bob").is_undefined());
    assert_eq!(a.users().length(), 1);
    assert_eq!(text(&a.users().get(0), "nick"), "alice");
    a.close();
}

#[wasm_bindgen_test]
async fn a_handler_can_reply_from_inside_on_message() {
    let a = Rc::new(guest("t-reentrant", "echo"));
    let b = guest("t-reentrant", "asker");
    let weak = Rc::downgrade(&a);
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
        if text(&m, "content") == "ping" {
            if let Some(a) = weak.upgrade() {
                // Re-entrant call while the bot is dispatching.
                a.send("pong".into(), JsValue::UNDEFINED).unwrap();
            }
        }
    });
    a.on(
        "message",
        handler.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    let b_msgs = Rec::on(&b, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    b.send("ping".into(), JsValue::UNDEFINED).unwrap();
    assert!(b_msgs.heard("pong").await, "{:?}", b_msgs.texts("content"));
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn on_command_parses_args_replies_and_honours_the_cooldown() {
    let a = guest("t-cmd", "cmdbot");
    let b = guest("t-cmd", "user");
    let calls = Rc::new(RefCell::new(Vec::<String>::new()));
    let sink = calls.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |ctx: JsValue| {
        let args: Vec<String> = js_sys::Array::from(&prop(&ctx, "args"))
            .iter()
            .filter_map(|a| a.as_string())
            .collect();
        sink.borrow_mut().push(args.join(","));
        let reply: Function = prop(&ctx, "reply").unchecked_into();
        reply
            .call1(
                &JsValue::UNDEFINED,
                &format!("pong {}", args.join(",")).into(),
            )
            .unwrap();
    });
    let opts = options(&[("perUserCooldownMs", 60_000.into())]);
    let id = a
        .on_command(
            "ping".into(),
            handler.as_ref().unchecked_ref::<Function>().clone(),
            opts,
        )
        .unwrap();
    let b_msgs = Rec::on(&b, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    b.send("!ping 1 2".into(), JsValue::UNDEFINED).unwrap();
    assert!(b_msgs.heard("pong 1,2").await);
    b.send("!ping 3".into(), JsValue::UNDEFINED).unwrap();
    sleep(500).await;
    assert_eq!(
        *calls.borrow(),
        ["1,2"],
        "second call is inside the per-user cooldown"
    );
    assert!(a.off_command(id));
    assert!(!a.off_command(id), "already removed");
    a.close();
    b.close();
}

/// `onCommand(…, { whispers: true })`: a command whispered to the bot runs with `whisper: true`
/// and its `reply` whispers back to the sender; the same command from the room is answered in
/// the room; a room-only command ignores whispers.
#[wasm_bindgen_test]
async fn whispered_commands_are_answered_by_whisper() {
    let a = guest("t-wcmd", "helpbot");
    let b = guest("t-wcmd", "asker");
    let seen = Rc::new(RefCell::new(Vec::<(String, bool)>::new()));
    let sink = seen.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |ctx: JsValue| {
        let (rest, whisper) = (text(&ctx, "rest"), prop(&ctx, "whisper") == JsValue::TRUE);
        sink.borrow_mut().push((rest.clone(), whisper));
        let reply: Function = prop(&ctx, "reply").unchecked_into();
        let answer = format!("{} {rest}", if whisper { "private" } else { "public" });
        reply.call1(&JsValue::UNDEFINED, &answer.into()).unwrap();
    });
    let handler: &Function = handler.as_ref().unchecked_ref();
    let opts = options(&[("whispers", true.into())]);
    a.on_command("help".into(), handler.clone(), opts).unwrap();
    a.on_command("ping".into(), handler.clone(), JsValue::UNDEFINED)
        .unwrap();
    let bad = a.on_command(
        "x".into(),
        handler.clone(),
        options(&[("whispers", 1.into())]),
    );
    let bad = bad.expect_err("whispers must be a boolean");
    assert!(text(&bad, "message").contains("`whispers`"), "{bad:?}");
    let b_msgs = Rec::on(&b, "message");
    let b_whispers = Rec::on(&b, "whisper");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    b.whisper("helpbot".into(), "!ping".into()).unwrap();
    b.whisper("helpbot".into(), "!help me".into()).unwrap();
    let from_bot = |r: &Rec| {
        r.all()
            .iter()
            .filter(|w| text(&prop(w, "from"), "nick") == "helpbot")
            .map(|w| text(w, "content"))
            .collect::<Vec<_>>()
    };
    assert!(wait_for(3000, || from_bot(&b_whispers) == ["private me"]).await);
    b.send("!help us".into(), JsValue::UNDEFINED).unwrap();
    assert!(b_msgs.heard("public us").await);
    sleep(300).await;
    assert_eq!(
        *seen.borrow(),
        [("me".to_owned(), true), ("us".to_owned(), false)],
        "the whispered !ping (a room-only command) ran nothing"
    );
    assert_eq!(from_bot(&b_whispers), ["private me"]);

    // A late answer, after the sender left: refused, so it cannot reach whoever takes the nick.
    let kept = Rc::new(RefCell::new(None::<Function>));
    let slot = kept.clone();
    let keep = Closure::<dyn FnMut(JsValue)>::new(move |ctx: JsValue| {
        *slot.borrow_mut() = Some(prop(&ctx, "reply").unchecked_into());
    });
    let opts = options(&[("whispers", true.into())]);
    let keep_fn = keep.as_ref().unchecked_ref::<Function>().clone();
    a.on_command("later".into(), keep_fn, opts).unwrap();
    b.whisper("helpbot".into(), "!later".into()).unwrap();
    assert!(wait_for(3000, || kept.borrow().is_some()).await);
    b.close();
    assert!(wait_for(3000, || a.user("asker").is_undefined()).await);
    let late = kept.borrow().clone().unwrap();
    let err = late
        .call1(&JsValue::UNDEFINED, &"too late".into())
        .expect_err("the sender has left");
    assert!(
        text(&err, "message").contains("has left the room"),
        "{err:?}"
    );
    assert_eq!(text(&err, "code"), "not_present", "{err:?}");
    a.close();
}

/// README "Events" and the user object, field by field: the `'join'` payload is `{my, room}`;
/// `time` and `connected` are ms since the epoch (on the tape's user objects and on
/// `connect()`'s); a whisper's `self` is true for the sender's own copy; a chat-log replay is
/// `history: true`, a live line `history: false`.
#[wasm_bindgen_test]
async fn payload_fields_and_units_follow_the_readme() {
    let a = guest("t-fields", "alice");
    let b = guest("t-fields", "bob");
    let joins = Rec::on(&a, "join");
    let a_msgs = Rec::on(&a, "message");
    let a_whispers = Rec::on(&a, "whisper");
    let b_whispers = Rec::on(&b, "whisper");
    let now = js_sys::Date::now();
    let ms = |v: &JsValue, what: &str| {
        let t = v.as_f64().unwrap_or(f64::NAN);
        assert!(
            (now - 600_000.0..now + 600_000.0).contains(&t),
            "{what} in ms since the epoch: {t}"
        );
    };
    let me = connect(&a).await.unwrap();
    ms(&prop(&me, "connected"), "connect()'s user.connected");
    assert!(wait_for(3000, || joins.len() >= 1).await, "'join' event");
    let j = &joins.all()[0];
    assert_eq!(text(&prop(j, "my"), "nick"), "alice", "'join' payload .my");
    assert_eq!(
        text(&prop(j, "room"), "id"),
        room("t-fields"),
        "'join' payload .room"
    );

    connect(&b).await.unwrap();
    b.send("hello".into(), JsValue::UNDEFINED).unwrap();
    assert!(wait_for(3000, || a_msgs.len() >= 1).await, "live message");
    let m = &a_msgs.all()[0];
    assert_eq!(prop(m, "history").as_bool(), Some(false), "a live line");
    ms(
        &prop(&prop(m, "user"), "connected"),
        "message.user.connected",
    );

    b.whisper("alice".into(), "psst".into()).unwrap();
    assert!(wait_for(3000, || a_whispers.len() >= 1 && b_whispers.len() >= 1).await);
    let (wa, wb) = (&a_whispers.all()[0], &b_whispers.all()[0]);
    ms(&prop(wa, "time"), "whisper.time");
    ms(&prop(wb, "time"), "whisper.time (sender's copy)");
    assert_eq!(prop(wa, "self").as_bool(), Some(false), "received whisper");
    assert_eq!(
        prop(wb, "self").as_bool(),
        Some(true),
        "the sender's own whisper"
    );

    // A bot that joins later gets "hello" from the chat log: history. (Server times are whole
    // seconds, and a line of the join's own second counts as live: join a second later.)
    sleep(1100).await;
    let c = guest("t-fields", "carol");
    let c_msgs = Rec::on(&c, "message");
    connect(&c).await.unwrap();
    assert!(c_msgs.heard("hello").await, "the chat log after the join");
    let old = c_msgs
        .all()
        .into_iter()
        .find(|m| text(m, "content") == "hello")
        .unwrap();
    assert_eq!(
        prop(&old, "history").as_bool(),
        Some(true),
        "a chat-log replay"
    );
    a.close();
    b.close();
    c.close();
}

/// README "Methods": `close()` … "pending `connect()` rejects" (with code `'closed'`), rather
/// than leaving the promise pending for ever.
#[wasm_bindgen_test]
async fn close_rejects_a_pending_connect() {
    let b = guest("t-close-pending", "early");
    let pending = b.connect(JsValue::UNDEFINED);
    b.close();
    let timeout = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 3000)
            .unwrap();
    });
    let raced = JsFuture::from(js_sys::Promise::race(&js_sys::Array::of2(
        &pending, &timeout,
    )))
    .await;
    let err = raced.expect_err("connect() must reject after close(), not resolve or hang");
    assert_eq!(
        prop(&err, "code").as_string().as_deref(),
        Some("closed"),
        "{err:?}"
    );
}

/// `cooldownMs` (README "Methods", `onCommand`): one cooldown for everyone, unlike
/// `perUserCooldownMs`: a second user's command inside it is not handled.
#[wasm_bindgen_test]
async fn on_command_cooldown_ms_holds_for_every_user() {
    let a = guest("t-cooldown", "cdbot");
    let b = guest("t-cooldown", "first");
    let c = guest("t-cooldown", "second");
    let calls = Rc::new(RefCell::new(Vec::<String>::new()));
    let sink = calls.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |ctx: JsValue| {
        sink.borrow_mut().push(text(&prop(&ctx, "user"), "nick"));
    });
    a.on_command(
        "hi".into(),
        handler.as_ref().unchecked_ref::<Function>().clone(),
        options(&[("cooldownMs", 60_000.into())]),
    )
    .unwrap();
    let a_msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    connect(&c).await.unwrap();
    b.send("!hi".into(), JsValue::UNDEFINED).unwrap();
    assert!(
        wait_for(3000, || !calls.borrow().is_empty()).await,
        "first !hi handled"
    );
    c.send("!hi".into(), JsValue::UNDEFINED).unwrap();
    assert!(
        wait_for(3000, || a_msgs.len() >= 2).await,
        "second !hi arrived"
    );
    sleep(200).await;
    assert_eq!(
        *calls.borrow(),
        ["first"],
        "the second user's !hi is inside the cooldown"
    );
    a.close();
    b.close();
    c.close();
}

// ---------------------------------------------------------------------------------------------
// Reconnect, rate limit, memory

#[wasm_bindgen_test]
async fn drop_reconnects_rejoins_and_delivers_queued_lines_once_in_order() {
    // The drop sim closes every connection 2 s after it opened.
    let reconnect = options(&[("minDelayMs", 200.into()), ("maxDelayMs", 500.into())]);
    let a = Rc::new(bot(&[
        ("room", room("t-drop").into()),
        ("url", SIM_DROP.into()),
        ("nick", "dropper".into()),
        ("reconnect", reconnect),
    ]));
    let joins = Rec::on(&a, "join");
    let reconnecting = Rec::on(&a, "reconnecting");
    let mine = Rec::on(&a, "message");
    let weak = Rc::downgrade(&a);
    let on_disconnect = Closure::<dyn FnMut(JsValue)>::new(move |d: JsValue| {
        if prop(&d, "willReconnect").as_bool() == Some(true) {
            if let Some(a) = weak.upgrade() {
                if a.queued() == 0 {
                    for q in ["q1", "q2", "q3"] {
                        a.send(q.into(), JsValue::UNDEFINED).unwrap();
                    }
                }
            }
        }
    });
    a.once(
        "disconnect",
        on_disconnect.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    connect(&a).await.unwrap();
    assert!(
        wait_for(6000, || joins.len() >= 2).await,
        "re-joined after the drop"
    );
    assert!(reconnecting.len() >= 1);
    assert_eq!(prop(&reconnecting.all()[0], "attempt").as_f64(), Some(1.0));
    // `delayMs` is the wait in whole ms: the first one within `minDelayMs` (full jitter).
    let delay = prop(&reconnecting.all()[0], "delayMs")
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(
        delay.fract() == 0.0 && (0.0..=200.0).contains(&delay),
        "delayMs {delay}: whole ms in 0..=200"
    );
    // The queued lines come back as our own echo: once each, in order.
    assert!(wait_for(1500, || mine.len() >= 3).await);
    sleep(300).await;
    let echoed: Vec<String> = mine
        .all()
        .iter()
        .filter(|m| prop(m, "self").as_bool() == Some(true))
        .filter(|m| prop(m, "history").as_bool() == Some(false))
        .map(|m| text(m, "content"))
        .collect();
    assert_eq!(echoed, ["q1", "q2", "q3"]);
    a.close();
}

/// A `chatList` after the join (index.d.ts: "delivered as 'message' events with `history`"):
/// its replay of a line this connection saw live, in the newest second, is `history: true` and
/// does not run the line's command again.
#[wasm_bindgen_test]
async fn a_chat_list_after_the_join_is_history_and_runs_no_command_again() {
    let a = guest("t-chatlist", "listbot");
    let b = guest("t-chatlist", "asker");
    let calls = Rc::new(RefCell::new(0));
    let sink = calls.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| *sink.borrow_mut() += 1);
    a.on_command(
        "ping".into(),
        handler.as_ref().unchecked_ref::<Function>().clone(),
        JsValue::UNDEFINED,
    )
    .unwrap();
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    b.send("!ping".into(), JsValue::UNDEFINED).unwrap();
    assert!(
        wait_for(3000, || *calls.borrow() == 1).await,
        "the live !ping ran"
    );
    a.command("chatList".into(), vec![JsValue::from(5)])
        .unwrap();
    let pings = || {
        msgs.all()
            .iter()
            .filter(|m| text(m, "content") == "!ping")
            .map(|m| prop(m, "history").as_bool())
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(3000, || pings().len() >= 2).await,
        "the replay of !ping"
    );
    sleep(300).await;
    assert_eq!(pings(), [Some(false), Some(true)]);
    assert_eq!(*calls.borrow(), 1, "the replay ran the command again");
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn the_bucket_keeps_a_fast_sender_below_the_flood_limit() {
    let a = guest("t-flood", "fast");
    let errors = Rec::on(&a, "error");
    let mine = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    for i in 0..12 {
        a.send(format!("line {i}").into(), JsValue::UNDEFINED)
            .unwrap();
    }
    assert!(wait_for(12_000, || mine.len() >= 12).await, "all delivered");
    let want: Vec<String> = (0..12).map(|i| format!("line {i}")).collect();
    assert_eq!(mine.texts("content"), want);
    let codes: Vec<f64> = errors
        .all()
        .iter()
        .filter_map(|e| prop(e, "code").as_f64())
        .collect();
    assert!(
        !codes.contains(&425.0) && !codes.contains(&430.0),
        "{codes:?}"
    );
    a.close();

    // Control: without the bucket the same burst trips the sim's flood limit.
    let raw = bot(&[
        ("room", room("t-flood").into()),
        ("url", SIM.into()),
        ("nick", "unlimited".into()),
        ("rateLimit", false.into()),
    ]);
    let raw_errors = Rec::on(&raw, "error");
    connect(&raw).await.unwrap();
    for i in 0..20 {
        raw.send(format!("burst {i}").into(), JsValue::UNDEFINED)
            .unwrap();
    }
    assert!(
        wait_for(3000, || raw_errors
            .all()
            .iter()
            .any(|e| prop(e, "code").as_f64() == Some(425.0)))
        .await,
        "the sim enforces its limit"
    );
    raw.close();
}

/// `'raw'` costs a copy per line, so it is on only while someone listens: also after a
/// `once('raw')` listener has fired (hub.js removes it without telling the wasm).
#[wasm_bindgen_test]
async fn raw_lines_are_decoded_only_while_someone_listens() {
    let a = guest("t-raw", "rawwatcher");
    let b = guest("t-raw", "rawtalker");
    let f = Function::new_no_args("");
    a.on("raw", f.clone()).unwrap();
    assert!(a.raw_lines_on());
    a.off("raw", &f).unwrap();
    assert!(!a.raw_lines_on(), "off() of the last listener");
    let seen = Rc::new(RefCell::new(0));
    let s = seen.clone();
    let once = Closure::<dyn FnMut(JsValue)>::new(move |_| *s.borrow_mut() += 1);
    a.once("raw", once.as_ref().unchecked_ref::<Function>().clone())
        .unwrap();
    assert!(a.raw_lines_on());
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    b.send("hello raw".into(), JsValue::UNDEFINED).unwrap();
    assert!(wait_for(3000, || *seen.borrow() > 0).await, "no raw event");
    assert!(
        !a.raw_lines_on(),
        "a fired once('raw') left raw decoding on"
    );
    a.close();
    b.close();
}

fn wasm_memory_bytes() -> f64 {
    let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    js_sys::ArrayBuffer::from(mem.buffer()).byte_length() as f64
}

#[wasm_bindgen_test]
async fn connect_close_cycles_keep_wasm_memory_flat() {
    async fn cycle(i: usize) {
        let b = bot(&[("room", room("t-cycles").into()), ("url", SIM.into())]);
        let rec = Rec::on(&b, "message");
        connect(&b)
            .await
            .unwrap_or_else(|e| panic!("cycle {i}: {e:?}"));
        b.close();
        drop(rec);
    }
    for i in 0..100 {
        cycle(i).await;
    }
    let before = wasm_memory_bytes();
    for i in 0..1000 {
        cycle(i).await;
    }
    let after = wasm_memory_bytes();
    // Memory only grows in 64 KiB pages; a leak of even 100 bytes per cycle would add pages.
    assert!(
        after <= before + 65_536.0,
        "wasm memory grew from {before} to {after} bytes over 1000 cycles"
    );
}

/// A server message of two million bad lines (`c` without its count) costs the bot a bounded
/// amount of memory: 16 `'error'` events and one that counts the rest, not one event per line
/// held until the message is handled (about 520 MiB for these 4 MB; 34 MB ended the module).
/// The bot goes on working.
#[wasm_bindgen_test]
async fn a_message_of_bad_lines_costs_bounded_memory() {
    let a = guest("t-bad-lines", "sturdy");
    let errors = Rec::on(&a, "error");
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    let bad = b"c\n".repeat(2_000_000);
    let before = wasm_memory_bytes();
    a.bench_feed(array_buffer(&bad));
    let grown = wasm_memory_bytes() - before;
    assert!(
        grown <= 16.0 * 1024.0 * 1024.0,
        "wasm memory grew by {grown} bytes for a 4 MB message"
    );
    assert!(wait_for(3000, || errors.len() >= 17).await);
    sleep(100).await;
    assert_eq!(errors.len(), 17, "{:?}", errors.texts("message"));
    assert_eq!(errors.texts("code")[16], "too_many_errors");
    a.bench_feed(chat_frame(5, &["fine"]));
    assert!(msgs.heard("fine").await, "the bot goes on");
    a.close();
}

// ---------------------------------------------------------------------------------------------
// Errors a user can act on

fn type_error_message(r: Result<UChatBot, JsValue>) -> String {
    let e = r.err().expect("must throw");
    assert!(e.is_instance_of::<js_sys::TypeError>(), "{e:?}");
    text(&e, "message")
}

#[wasm_bindgen_test]
fn bad_options_throw_type_errors_naming_the_option() {
    let m = type_error_message(UChatBot::new(options(&[])));
    assert!(m.contains("`room`"), "{m}");
    let m = type_error_message(UChatBot::new(options(&[("room", 5.into())])));
    assert!(m.contains("`room`") && m.contains("string"), "{m}");
    let m = type_error_message(UChatBot::new(options(&[
        ("room", "r".into()),
        ("heartbeatMs", "soon".into()),
    ])));
    assert!(m.contains("`heartbeatMs`"), "{m}");
    let m = type_error_message(UChatBot::new(options(&[
        ("room", "r".into()),
        ("user_data", "x".into()),
    ])));
    assert!(m.contains("userData"), "{m}");
    let m = type_error_message(UChatBot::new(options(&[
        ("room", "r".into()),
        ("url", "http://x".into()),
    ])));
    assert!(m.contains("`url`") && m.contains("wss://"), "{m}");
    let m = type_error_message(UChatBot::new(options(&[
        ("room", "r".into()),
        ("token", "t".into()),
        ("auth", "moderator".into()),
    ])));
    assert!(m.contains("`auth`") && m.contains("'subadmin'"), "{m}");
    let m = type_error_message(UChatBot::new("lobby".into()));
    assert!(m.contains("options must be an object"), "{m}");
    // Nested options are checked as strictly: a typo is not ignored.
    let m = type_error_message(UChatBot::new(options(&[
        ("room", "r".into()),
        ("reconnect", options(&[("minDelay", 5.into())])),
    ])));
    assert!(
        m.contains("`reconnect.minDelay`") && m.contains("minDelayMs"),
        "{m}"
    );
    let m = type_error_message(UChatBot::new(options(&[
        ("room", "r".into()),
        ("rateLimit", options(&[("per", 5.into())])),
    ])));
    assert!(m.contains("`rateLimit.per`") && m.contains("perMs"), "{m}");
    let b = guest("r", "n");
    let e = b
        .on_command(
            "x".into(),
            Function::new_no_args(""),
            options(&[("cooldown", 5.into())]),
        )
        .unwrap_err();
    let m = text(&e, "message");
    assert!(
        m.contains("onCommand option `cooldown`") && m.contains("cooldownMs"),
        "{m}"
    );
    let e = b.send(5.into(), JsValue::UNDEFINED).unwrap_err();
    assert!(text(&e, "message").contains("content must be a string"));
    let e = b
        .send("x".into(), options(&[("color", "blurple".into())]))
        .unwrap_err();
    assert!(
        text(&e, "message").contains("style.color"),
        "{:?}",
        text(&e, "message")
    );
    let e = b.on("mesage", Function::new_no_args("")).unwrap_err();
    assert!(text(&e, "message").contains("unknown event 'mesage'"));
    let e = b.off("mesage", &Function::new_no_args("")).unwrap_err();
    assert!(text(&e, "message").contains("unknown event 'mesage'"));
}

/// `send` takes text and style through hub.js (one call) and encodes without a `Line`; the bytes
/// must be what the typed encoder makes of the same message, for every kind of text and style,
/// and arguments the fast way does not take must still fail with the slow way's messages.
#[wasm_bindgen_test]
async fn send_writes_what_the_typed_encoder_writes() {
    use uchat_bot::codec::encode;
    use uchat_bot::message::{Outgoing, Style};
    let b = bot(&[
        ("room", room("t-send-bytes").into()),
        ("url", SIM.into()),
        ("nick", "sender".into()),
        ("rateLimit", false.into()),
    ]);
    connect(&b).await.unwrap();
    let got = Rc::new(RefCell::new(Vec::<Vec<u8>>::new()));
    let sink = got.clone();
    let f = Closure::<dyn FnMut(js_sys::Uint8Array)>::new(move |u: js_sys::Uint8Array| {
        sink.borrow_mut().push(u.to_vec())
    });
    b.bench_sink(Some(f.as_ref().unchecked_ref::<Function>().clone()));
    let throwing = Object::new();
    Reflect::set(&throwing, &"color".into(), &"#00ff00".into()).unwrap();
    let getter = Function::new_no_args("throw new Error('no')");
    let desc = options(&[("get", getter.into())]);
    Object::define_property(&throwing, &"bold".into(), desc.unchecked_ref());
    let units = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
    let long = units(&"가나다 abc \\ \u{a0}😀\n".repeat(400));
    // Every UTF-8 length and its edges, surrogate pairs, and lone surrogates (at the end, before
    // a non-surrogate, a low one first): hub.js writes texts of up to 64 units itself and
    // longer ones with `TextEncoder`; both must give what `TextEncoder` gives.
    let edges: Vec<u16> = vec![
        0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xac00, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0xd83d, 0xde00,
        0xdbff, 0xdfff, 0xd800, 0x41, 0xdc00, 0xd800, 0xd800, 0xdc00, 0xdc00, 0xdfff, 0xa0, 0x5c,
        0x0a, 0x02, 0x00, 0xd800,
    ];
    let mut x = 0x9e37_79b9u32;
    let mut random = |n: usize| -> Vec<u16> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                edges[(x % edges.len() as u32) as usize]
            })
            .collect()
    };
    let (mixed_short, mixed_long) = (random(64), random(300));
    // (text as UTF-16 units, style, the style it stands for)
    let cases: Vec<(Vec<u16>, JsValue, Style)> = vec![
        (units("hi"), JsValue::UNDEFINED, Style::default()),
        (units(""), JsValue::NULL, Style::default()),
        (long, JsValue::UNDEFINED, Style::default()),
        (
            units("a\u{2}b\u{7}c\\d\ne\u{a0}f"),
            options(&[("bold", true.into()), ("underline", true.into())]),
            Style::from_bits(5),
        ),
        (
            units("색"),
            options(&[("italic", true.into()), ("color", "#F00".into())]),
            Style::from_bits(2).with_color("#f00").unwrap(),
        ),
        (
            units("rgb"),
            options(&[
                ("bold", JsValue::NULL),
                ("color", " rgb(1, 2, 255) ".into()),
            ]),
            Style::default().with_color("rgb(1,2,255)").unwrap(),
        ),
        (edges.clone(), JsValue::UNDEFINED, Style::default()),
        (mixed_short, JsValue::UNDEFINED, Style::default()),
        (mixed_long, JsValue::UNDEFINED, Style::default()),
        (
            units("getter"),
            throwing.into(),
            Style::default().with_color("#00ff00").unwrap(),
        ),
    ];
    let mut want = Vec::new();
    for (text, style, st) in &cases {
        b.send(js_sys::JsString::from_char_code(text).into(), style.clone())
            .unwrap();
        // Each lone surrogate becomes one U+FFFD, as in `TextEncoder`.
        let rust = String::from_utf16_lossy(text);
        want.push(encode(&Outgoing::chat(rust, st.clone()).to_line()).unwrap());
    }
    let sent = got.borrow().clone();
    assert_eq!(sent.len(), want.len(), "lines sent");
    for (i, (g, w)) in sent.iter().zip(&want).enumerate() {
        let short = |b: &[u8]| format!("{} bytes {:?}…", b.len(), &b[..b.len().min(40)]);
        assert!(g == w, "case {i}: sent {}, want {}", short(g), short(w));
    }
    // The slow way's checks and messages.
    let err = |content: JsValue, style: JsValue| {
        let e = b.send(content, style).unwrap_err();
        assert!(e.is_instance_of::<js_sys::TypeError>(), "{e:?}");
        text(&e, "message")
    };
    let m = err(5.into(), JsValue::UNDEFINED);
    assert!(m.contains("content must be a string"), "{m}");
    let m = err("x".into(), "bold".into());
    assert!(m.contains("style must be an object"), "{m}");
    let m = err("x".into(), options(&[("bold", 1.into())]));
    assert!(m.contains("style.bold must be true or false"), "{m}");
    let m = err("x".into(), options(&[("color", 5.into())]));
    assert!(m.contains("style.color must be a string"), "{m}");
    let m = err("x".into(), options(&[("color", "빨강".into())]));
    assert!(m.contains("style.color") && m.contains("빨강"), "{m}");
    let m = err("x".into(), options(&[("color", "#12345".into())]));
    assert!(m.contains("style.color") && m.contains("#12345"), "{m}");
    assert_eq!(
        got.borrow().len(),
        want.len(),
        "nothing sent for a bad call"
    );
    b.bench_sink(None);
    b.close();
}

/// A handler that sends while `send` is still dispatching its events (here the queue-full error
/// of a bot that has not joined yet) must work, coloured style and all: `send` holds none of
/// its buffers or caches borrowed while handlers run.
#[wasm_bindgen_test]
fn a_handler_can_send_from_inside_send() {
    let b = Rc::new(bot(&[
        ("room", room("t-send-inside").into()),
        ("queueLimit", 1.into()),
    ]));
    let errors = Rc::new(RefCell::new(Vec::<String>::new()));
    let sent = Rc::new(RefCell::new(0));
    let (weak, seen, done) = (Rc::downgrade(&b), errors.clone(), sent.clone());
    // (A panic in here would not fail the test by itself: hub.js catches what handlers throw
    // and logs it. `sent` counts the sends that came back.)
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        seen.borrow_mut().push(text(&e, "name"));
        if seen.borrow().len() <= 3 {
            if let Some(b) = weak.upgrade() {
                let style = options(&[("color", "#0F0".into()), ("bold", true.into())]);
                b.send("from the handler".into(), style).unwrap();
                *done.borrow_mut() += 1;
            }
        }
    });
    b.on(
        "error",
        handler.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    let style = options(&[("color", "#F00".into())]);
    // (Events of a send made by a handler reach handlers with the next input.)
    for i in 0..6 {
        b.send(format!("line {i}").into(), style.clone()).unwrap();
    }
    assert!(errors.borrow().len() > 3, "{:?}", errors.borrow());
    assert_eq!(*sent.borrow(), 3, "sends made by the handler that returned");
    assert!(
        errors.borrow().iter().all(|n| n == "queue_full"),
        "{:?}",
        errors.borrow()
    );
    b.close();
}

#[wasm_bindgen_test]
async fn from_element_joins_as_the_page_user() {
    let doc = web_sys::window().unwrap().document().unwrap();
    let el = doc.create_element("u-chat").unwrap();
    el.set_attribute("room", &room("t-element")).unwrap();
    let b = UChatBot::from_element(
        &el,
        options(&[("url", SIM.into()), ("nick", "elbot".into())]),
    )
    .unwrap();
    let me = connect(&b).await.unwrap();
    assert_eq!(text(&me, "nick"), "elbot");
    b.close();
    let bare = doc.create_element("u-chat").unwrap();
    let e = UChatBot::from_element(&bare, JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert!(text(&e, "message").contains("`room` attribute"));
    // A page whose user data comes from `user_data_url` (a script of the site's): refused with
    // the way out, not joined as a guest; with `userData` given, accepted.
    let scripted = doc.create_element("u-chat").unwrap();
    scripted.set_attribute("room", "r").unwrap();
    scripted
        .set_attribute("user_data_url", "https://site.example/ud.php")
        .unwrap();
    let e = UChatBot::from_element(&scripted, JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert!(
        text(&e, "message").contains("`user_data_url`")
            && text(&e, "message").contains("{ userData }"),
        "{}",
        text(&e, "message")
    );
    let null_ud = options(&[("userData", JsValue::NULL)]);
    assert!(
        UChatBot::from_element(&scripted, null_ud).is_err(),
        "userData: null is not given"
    );
    let ud = options(&[("userData", "nick=a&time=1&hash=x".into())]);
    assert!(UChatBot::from_element(&scripted, ud).is_ok());
}

/// A frame whose text is longer than hub.js builds with `String.fromCharCode` (4096 UTF-16
/// units) takes the UTF-16 `TextDecoder` path: every string of it arrives intact, a leading
/// U+FEFF and surrogate pairs included, and so do the strings after it in the same frame.
#[wasm_bindgen_test]
async fn a_long_frame_text_arrives_intact() {
    let a = guest("t-long", "alice");
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    let long: String = std::iter::once('\u{feff}')
        .chain("한글 text 😀 ".chars().cycle().take(6000))
        .collect();
    a.bench_feed(chat_frame(9, &[long.as_str(), "after"]));
    assert!(wait_for(3000, || msgs.len() >= 2).await, "both messages");
    let all = msgs.all();
    assert_eq!(text(&all[0], "content"), long);
    assert_eq!(text(&all[1], "content"), "after");
    a.close();
}

/// A handler that makes the wasm memory grow detaches every view of it, the ones hub.js keeps
/// of the tape and the text included; the rest of the frame still arrives intact.
#[wasm_bindgen_test]
async fn a_handler_that_grows_memory_does_not_break_the_frame() {
    let a = guest("t-grow", "alice");
    let msgs = Rec::on(&a, "message");
    let grow = Closure::<dyn FnMut(JsValue)>::new(|_| {
        let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
        mem.grow(1);
    });
    a.on("message", grow.as_ref().unchecked_ref::<Function>().clone())
        .unwrap();
    connect(&a).await.unwrap();
    for round in 0..2 {
        a.bench_feed(chat_frame(7, &["first 한글", "second 😀", "third"]));
        assert!(
            wait_for(3000, || msgs.len() >= 3 * (round + 1)).await,
            "round {round}: all three messages"
        );
    }
    let got: Vec<String> = msgs.all().iter().map(|m| text(m, "content")).collect();
    assert_eq!(got, ["first 한글", "second 😀", "third"].repeat(2));
    a.close();
}

/// Frames whose texts have the same length reuse hub.js's view of the text buffer; each still
/// reads its own units, also after the memory grew between them (which detaches every kept
/// view) and after a longer frame (past the kept views) in between.
#[wasm_bindgen_test]
async fn frames_of_the_same_text_length_keep_their_own_text() {
    let a = guest("t-samelen", "alice");
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    let long = "가".repeat(1500);
    let texts = [
        "같은 길이 one",
        "같은 길이 two",
        "같은 길이 six",
        long.as_str(),
        "같은 길이 ten",
    ];
    for (i, t) in texts.iter().enumerate() {
        a.bench_feed(chat_frame(7, &[t]));
        assert!(wait_for(3000, || msgs.len() > i).await, "message {i}");
        if i == 1 {
            let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
            mem.grow(1);
        }
    }
    let got: Vec<String> = msgs.all().iter().map(|m| text(m, "content")).collect();
    assert_eq!(got, texts);
    a.close();
}

/// A frame whose tape stops at an OTHER record (here a `plugin` event) resumes with its own
/// text even when that event's handler made the bot take another frame first (hub.js keeps the
/// stopped frame's text on a stack while the nested batch runs).
#[wasm_bindgen_test]
async fn a_nested_frame_inside_an_other_event_keeps_both_texts() {
    use uchat_bot::Field::{Bin, Num};
    let a = Rc::new(guest("t-nest", "alice"));
    let msgs = Rec::on(&a, "message");
    let inner = a.clone();
    let nest = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        inner.bench_feed(chat_frame(8, &["nested 한글 😀"]));
    });
    a.on("plugin", nest.as_ref().unchecked_ref::<Function>().clone())
        .unwrap();
    connect(&a).await.unwrap();
    let key = [7u8; 8];
    let mut frame = Vec::new();
    frame.extend(uchat_bot::codec::encode(&chat_line(&key, "before 첫째")).unwrap());
    let plugin = uchat_bot::Line::new("p")
        .with(Bin(key.to_vec()))
        .with(Num(0))
        .with("chan")
        .with("data");
    frame.extend(uchat_bot::codec::encode(&plugin).unwrap());
    frame.extend(uchat_bot::codec::encode(&chat_line(&key, "after 둘째")).unwrap());
    a.bench_feed(array_buffer(&frame));
    assert!(wait_for(3000, || msgs.len() >= 3).await, "three messages");
    assert_eq!(
        msgs.texts("content"),
        ["before 첫째", "nested 한글 😀", "after 둘째"]
    );
    a.close();
}

/// `close()` from a handler ends the delivery of what is left from before it: a `'disconnect'`
/// handler that closes sees no `'reconnecting'` and no `'state'` but `'closed'` after it, and
/// a `!quit` command that closes keeps a `!ping` further on in the same server message from
/// running (its `reply` could only throw).
#[wasm_bindgen_test]
async fn close_from_a_handler_ends_what_was_pending_before_it() {
    // The drop sim closes every connection 2 s after it opened.
    let a = Rc::new(bot(&[
        ("room", room("t-close-in").into()),
        ("url", SIM_DROP.into()),
        ("nick", "closer".into()),
    ]));
    let states = Rec::on(&a, "state");
    let reconnecting = Rec::on(&a, "reconnecting");
    let bot = a.clone();
    let closer = Closure::<dyn FnMut(JsValue)>::new(move |_| bot.close());
    a.once(
        "disconnect",
        closer.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    connect(&a).await.unwrap();
    assert!(
        wait_for(5000, || a.state() == "closed").await,
        "dropped, then closed"
    );
    sleep(300).await;
    assert_eq!(reconnecting.len(), 0);
    assert_eq!(
        states.texts("state").last().map(String::as_str),
        Some("closed")
    );

    let b = Rc::new(guest("t-close-cmd", "quitter"));
    let bot = b.clone();
    let quit = Closure::<dyn FnMut(JsValue)>::new(move |_| bot.close());
    let pings = Rc::new(RefCell::new(0));
    let p = pings.clone();
    let ping = Closure::<dyn FnMut(JsValue)>::new(move |_| *p.borrow_mut() += 1);
    let no_opts = JsValue::UNDEFINED;
    b.on_command(
        "quit".into(),
        quit.as_ref().unchecked_ref::<Function>().clone(),
        no_opts.clone(),
    )
    .unwrap();
    b.on_command(
        "ping".into(),
        ping.as_ref().unchecked_ref::<Function>().clone(),
        no_opts,
    )
    .unwrap();
    let msgs = Rec::on(&b, "message");
    let lists = Rec::on(&b, "user.list");
    connect(&b).await.unwrap();
    // After the user list, so the commands run as their lines come (not held for the list).
    assert!(wait_for(3000, || lists.len() >= 1).await, "the user list");
    b.bench_feed(chat_frame(5, &["!ping", "!quit", "!ping"]));
    assert!(
        wait_for(3000, || msgs.len() >= 3).await,
        "the frame's messages"
    );
    assert_eq!(b.state(), "closed");
    assert_eq!(*pings.borrow(), 1, "only the !ping before the !quit ran");
}

#[wasm_bindgen_test]
async fn free_while_connecting_rejects_the_connect() {
    // The slow sim answers two seconds late: the bot is still joining when it is freed.
    let b = bot(&[("room", room("t-free").into()), ("url", SIM_SLOW.into())]);
    let outcome = Rc::new(RefCell::new(None::<Result<JsValue, JsValue>>));
    let (ok, err) = (outcome.clone(), outcome.clone());
    let on_ok = Closure::<dyn FnMut(JsValue)>::new(move |v| *ok.borrow_mut() = Some(Ok(v)));
    let on_err = Closure::<dyn FnMut(JsValue)>::new(move |e| *err.borrow_mut() = Some(Err(e)));
    let _ = b.connect(JsValue::UNDEFINED).then2(&on_ok, &on_err);
    sleep(200).await;
    drop(b); // what `free()` does
             // Bounded: before the fix the promise never settled.
    assert!(
        wait_for(3000, || outcome.borrow().is_some()).await,
        "connect() settled"
    );
    let err = outcome
        .borrow_mut()
        .take()
        .unwrap()
        .expect_err("rejected by the free");
    assert_eq!(text(&err, "code"), "closed");
}

/// README "Payloads are read-only": user objects, in events and from `users`, are frozen; and
/// a handler's rejected promise (an `async` handler that throws) is logged, never left
/// unhandled (Node.js ends a process on an unhandled rejection).
#[wasm_bindgen_test]
async fn user_objects_are_frozen_and_async_handler_failures_are_caught() {
    let count = Function::new_no_args(
        "if (globalThis.__rejections === undefined) { globalThis.__rejections = 0; \
         globalThis.addEventListener('unhandledrejection', (e) => { globalThis.__rejections++; \
         e.preventDefault(); }); } return globalThis.__rejections;",
    );
    let rejections = || count.call0(&JsValue::UNDEFINED).unwrap().as_f64().unwrap();
    let before = rejections();
    let a = guest("t-frozen", "alice");
    let b = guest("t-frozen", "bob");
    let failing = Function::new_with_args(
        "x",
        "return Promise.reject(new Error('an async handler failed (expected in this test)'))",
    );
    a.on("message", failing.clone()).unwrap();
    a.on_command("boom".into(), failing, JsValue::UNDEFINED)
        .unwrap();
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    connect(&b).await.unwrap();
    b.send("!boom".into(), JsValue::UNDEFINED).unwrap();
    assert!(wait_for(3000, || msgs.len() >= 1).await, "the message");
    sleep(200).await;
    assert_eq!(rejections(), before, "no unhandled rejection");
    let user = prop(&msgs.all()[0], "user");
    assert!(
        Object::is_frozen(user.unchecked_ref::<Object>()),
        "event user"
    );
    let users = a.users();
    assert!(users.length() >= 2);
    assert!(
        users
            .iter()
            .all(|u| Object::is_frozen(u.unchecked_ref::<Object>())),
        "users"
    );
    a.close();
    b.close();
}

/// An `'error'` handler that calls `close()` on a bot whose connect() just failed: the close
/// does nothing (the session has ended), so the rest of the batch (its `'disconnect'` and
/// `'state': 'closed'`) is still delivered (a review found it dropped as stale).
#[wasm_bindgen_test]
async fn close_in_an_error_handler_of_a_failed_connect_keeps_its_events() {
    let b = Rc::new(bot(&[
        ("room", room("t-err-close").into()),
        ("url", SIM_HIJACK.into()),
    ]));
    let states = Rec::on(&b, "state");
    let disconnects = Rec::on(&b, "disconnect");
    let bb = b.clone();
    let closer = Closure::<dyn FnMut(JsValue)>::new(move |_| bb.close());
    b.on("error", closer.as_ref().unchecked_ref::<Function>().clone())
        .unwrap();
    let err = connect(&b).await.expect_err("hijacked");
    assert_eq!(text(&err, "code"), "handshake");
    sleep(300).await;
    assert_eq!(b.state(), "closed");
    assert_eq!(
        states.texts("state"),
        ["connecting", "closed"],
        "'state' listeners never hear 'closed'; disconnect events: {}",
        disconnects.len()
    );
}

/// A `'disconnect'` handler that connects again during `close()`: close() must not drop the
/// timer that new attempt armed (its join deadline). Against a sim that never answers the
/// upgrade (no later socket event re-arms a timer), the attempt then fails with `timeout`
/// instead of never settling.
#[wasm_bindgen_test]
async fn a_connect_from_a_close_handler_keeps_its_join_deadline() {
    let b = Rc::new(bot(&[
        ("room", room("t-close-reconnect").into()),
        ("url", SIM_HOLD.into()),
        ("joinTimeoutMs", 400.into()),
    ]));
    let noop = Closure::<dyn FnMut(JsValue)>::new(|_| {});
    let _ = b.connect(JsValue::UNDEFINED).catch(&noop);
    sleep(50).await;
    let second: Rc<RefCell<Option<js_sys::Promise>>> = Rc::default();
    let (s2, bb) = (second.clone(), b.clone());
    let reconnect = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        *s2.borrow_mut() = Some(bb.connect(JsValue::UNDEFINED));
    });
    b.once(
        "disconnect",
        reconnect.as_ref().unchecked_ref::<Function>().clone(),
    )
    .unwrap();
    b.close();
    assert_eq!(b.state(), "connecting", "the handler reconnected");
    let outcome = Rc::new(RefCell::new(None::<JsValue>));
    let o = outcome.clone();
    let on_err = Closure::<dyn FnMut(JsValue)>::new(move |e| *o.borrow_mut() = Some(e));
    let p = second.borrow_mut().take().expect("connect() called");
    let _ = p.catch(&on_err);
    assert!(
        wait_for(3000, || outcome.borrow().is_some()).await,
        "the reconnect made by the 'disconnect' handler never settled; state {}",
        b.state()
    );
    assert_eq!(text(outcome.borrow().as_ref().unwrap(), "code"), "timeout");
}

/// One server frame (an `ArrayBuffer`, as the socket delivers it) of `m` lines with these
/// texts from the user key `[key; 8]`, plain style, sent in 2033 (after any join).
fn chat_frame(key: u8, texts: &[&str]) -> JsValue {
    let mut frame = Vec::new();
    for t in texts {
        let m = chat_line(&[key; 8], t).with(uchat_bot::Field::Num(2_000_000_000));
        frame.extend(uchat_bot::codec::encode(&m).unwrap());
    }
    array_buffer(&frame)
}

/// An `m` line from `key` with this text, plain style, no time.
fn chat_line(key: &[u8], text: &str) -> uchat_bot::Line {
    uchat_bot::Line::new("m")
        .with(uchat_bot::Field::Bin(key.to_vec()))
        .with("0")
        .with(text)
}

/// Frame bytes as the socket delivers them.
fn array_buffer(frame: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(frame).buffer().into()
}

/// The tape keeps at most 4,096 user slots; the next new user makes the wasm side forget them
/// all (a RESET record) and hub.js drop its user objects. Past that point every message must
/// still carry its own sender, including senders first seen before the reset.
#[wasm_bindgen_test]
async fn more_users_than_tape_slots_keep_their_own_records() {
    const USERS: u32 = 4_300;
    let a = guest("t-slots", "alice");
    let msgs = Rec::on(&a, "message");
    connect(&a).await.unwrap();
    let key = |i: u32| {
        let mut k = vec![0xA5; 8];
        k[..4].copy_from_slice(&i.to_le_bytes());
        k
    };
    let hex = |k: &[u8]| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
    // Senders in order: every user once, each defined by a `k` record and joined just before
    // its message (the reset falls among them, at the 4,096th user after the bot itself), then users from
    // before the reset again, without a new record: the session still holds the same records,
    // which the wasm side must not map to their old slots.
    let again = [0, 1, 2048, 4092, 4093, 4094];
    let order: Vec<(u32, bool)> = (0..USERS)
        .map(|i| (i, true))
        .chain(again.map(|i| (i, false)))
        .collect();
    for chunk in order.chunks(100) {
        let mut frame = Vec::new();
        for &(i, with_record) in chunk {
            if with_record {
                frame.extend(
                    uchat_bot::codec::encode(&k_record(&key(i), &format!("u{i}"))).unwrap(),
                );
                // Joined, as senders are (the session keeps a bounded number of records of
                // users who are not present, src/session/users.rs).
                let join = uchat_bot::Line::new("j").with(uchat_bot::Field::Bin(key(i)));
                frame.extend(uchat_bot::codec::encode(&join).unwrap());
            }
            frame.extend(uchat_bot::codec::encode(&chat_line(&key(i), &format!("t{i}"))).unwrap());
        }
        a.bench_feed(array_buffer(&frame));
    }
    assert!(
        wait_for(5000, || msgs.len() >= order.len()).await,
        "all {} messages (got {})",
        order.len(),
        msgs.len()
    );
    let got = msgs.all();
    assert_eq!(got.len(), order.len());
    for (m, &(i, _)) in got.iter().zip(&order) {
        let user = prop(m, "user");
        assert_eq!(text(m, "content"), format!("t{i}"));
        assert_eq!(text(&user, "nick"), format!("u{i}"), "sender of t{i}");
        assert_eq!(text(&user, "key"), hex(&key(i)), "key of u{i}");
    }
    a.close();
}

/// A `k` user record (PROTOCOL.md §3.2) for `key` with this nick, everything else empty.
fn k_record(key: &[u8], nick: &str) -> uchat_bot::Line {
    use uchat_bot::Field::{Bin, Num, Undef};
    uchat_bot::Line::new("k")
        .with(Bin(key.to_vec()))
        .with(nick)
        .with(Undef)
        .with(Undef)
        .with(Num(0))
        .with("")
        .with("")
        .with(Num(0))
        .with(Num(0))
        .with(Bin(vec![1]))
}
