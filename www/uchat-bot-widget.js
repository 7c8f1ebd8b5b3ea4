// <uchat-bot-widget>: a UChat room's live chat and user list, and buttons that start example
// bots (echo, dice, greeter) in that room. Vanilla JS, shadow DOM, no framework.
//
//   <script type="module" src="uchat-bot-widget.js"></script>
//   <uchat-bot-widget room="lobby" url="ws://127.0.0.1:8787"></uchat-bot-widget>
//
// Attributes (each also a property that reads and sets it, as React 19 and other frameworks
// assign them):
//   room    the room id (default "lobby")
//   url     the server's WebSocket URL; default: the page's own host (ws://host:port, or wss://
//           on https pages), which is right when `uchat sim --www` serves the page
//   nick    nick of the read-only viewer connection (default "viewer" + 3 digits); if the room
//           has that nick already (ERR 301), the widget tries it with 3 random digits added
//   sdk     URL of the SDK module, relative to the page (document.baseURI) like src and href;
//           default: pkg/index.js next to this file (the npm package's entry point and its
//           wasm). Read when the SDK is loaded, once per page: the first widget's wins.
//   theme   "auto" (default: the OS's light or dark setting), "light" or "dark"
// Theme with CSS custom properties on the element: --ubw-accent, --ubw-accent-fg, --ubw-bg,
// --ubw-fg, --ubw-muted, --ubw-border, --ubw-panel, --ubw-radius, --ubw-ok, --ubw-warn,
// --ubw-bad, --ubw-nick-l; the frame is ::part(frame); size it with height/width as usual.
// The styles are a constructed stylesheet (adoptedStyleSheets), so a page's CSP needs no
// style-src for them.
//
// Everything a server or another user sends (nicks, chat text) is put on the page as text
// (textContent / text nodes), never parsed as HTML.
//
// The page is written once per burst, not once per event: a WebSocket frame can carry hundreds
// of joins, quits or lines (a whole room rejoining after a server restart), and a layout read
// plus a sorted rebuild of the user list per event froze the page for seconds (250 joins in one
// frame: 2.6 s; 1000: 38 s). Events only queue their lines and mark the user list; `flush()`
// then appends the lines with one read of the scroll position and rebuilds the list once.

const MAX_LINES = 200;
// While the reader has scrolled up, lines are not pruned from the top (what they read stays),
// up to this many.
const MAX_LINES_SCROLLED = 2000;
// The longest a queued render waits when no animation frame comes (a hidden tab), in ms.
const FLUSH_FALLBACK_MS = 100;
// A failed first connect() (the SDK does not retry one) is tried again after 1 s, doubling up to
// 30 s, while its error can heal: the server down or unreachable ('handshake', 'websocket'), the
// socket closed before the join ('closed') or no answer in time ('timeout'). A numeric code is the
// server's ERR (201 unknown room, 202 bad token, 208 wrong password, …): final, no retry.
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const RETRYABLE = new Set(['handshake', 'websocket', 'closed', 'timeout']);
const retryable = (e) => !!e && typeof e.code === 'string' && RETRYABLE.has(e.code);
const BOT_KINDS = {
  echo: { label: 'Echo bot', nick: 'EchoBot', hint: 'repeats what others say' },
  dice: { label: 'Dice bot', nick: 'DiceBot', hint: 'answers !dice [N]' },
  greeter: { label: 'Greeter', nick: 'Greeter', hint: 'welcomes people who join' },
};
// Nicks of bots started from any widget: bots never answer each other (no echo loops).
const BOT_NICK = /^(EchoBot|DiceBot|Greeter)\d*$/;

let sdkPromise = null;

/**
 * Loads and initialises the SDK once per page. A failure is an Error whose `stage` says which
 * step failed: 'import' (the module) or 'init' (its wasm); the next call tries again.
 */
function loadSdk(url) {
  if (!sdkPromise) {
    const failed = (stage) => (e) => {
      const err = new Error((e && e.message) || String(e));
      err.stage = stage;
      err.code = e && e.code;
      throw err;
    };
    sdkPromise = import(url).catch(failed('import')).then(async (mod) => {
      await mod.default().catch(failed('init'));
      return mod;
    });
    sdkPromise.catch(() => { sdkPromise = null; });
  }
  return sdkPromise;
}

// The page's Content-Security-Policy refusals (the last few), to tell "blocked by the page's
// CSP" from "server unreachable" or "not found": a refused WebSocket fails just like a server
// that is down, and a refused import like a missing file.
const cspRefusals = [];
if (typeof document !== 'undefined') {
  document.addEventListener('securitypolicyviolation', (e) => {
    cspRefusals.push({ directive: e.effectiveDirective || e.violatedDirective || '', uri: e.blockedURI || '' });
    if (cspRefusals.length > 50) cspRefusals.shift();
  });
}

/** Whether the page's CSP refused `url` (or its origin) under a `directive` (prefix: 'connect-src', 'script-src'). */
function cspRefused(directive, url) {
  let origin;
  try {
    origin = new URL(url).origin;
  } catch (_) {
    return false;
  }
  return cspRefusals.some((v) => v.directive.startsWith(directive) &&
    (v.uri === url || v.uri === origin || v.uri.startsWith(`${origin}/`)));
}

/** Why the SDK did not load, in a few words for the status line (`e` from loadSdk). */
async function sdkFailure(url, e) {
  // A CSP report is dispatched as a task of its own, maybe after the failure: let it come.
  await new Promise((r) => setTimeout(r, 0));
  if (e.code === 'csp' || /wasm-unsafe-eval|Content Security Policy/i.test(e.message)) {
    return "WebAssembly is blocked by the page's CSP (script-src needs 'wasm-unsafe-eval')";
  }
  if (cspRefused('script-src', url)) return `blocked by the page's CSP (script-src): ${url}`;
  if (e.stage === 'init') return `its .wasm did not load (${e.message})`;
  // import() only says "Failed to fetch dynamically imported module": ask the server what it is.
  try {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) return `HTTP ${r.status} at ${url}`;
    const type = (r.headers.get('content-type') || '').split(';')[0];
    if (!/javascript|ecmascript/i.test(type)) return `not a JavaScript module (${type || 'no type'}) at ${url}`;
  } catch (_) {
    return `could not fetch ${url}`;
  }
  return e.message;
}

/** ws://host:port of the page (wss:// on https), the sim that served it. */
function defaultUrl() {
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  }
  return 'ws://127.0.0.1:8787';
}

const rand3 = () => String(100 + Math.floor(Math.random() * 900));

/** A server time (ms) as a Date (now if it has none), or null if no Date can hold it (a server may send anything). */
function dateOf(ms) {
  const d = new Date(ms || Date.now());
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * A short reason for a failed connect() or a connection error to `url`, for the status line
 * (`reasonDetail` is the long one, for its title).
 */
function shortReason(e, url) {
  const code = e && e.code;
  if (typeof code === 'number') return `ERR ${code}${e.message ? ` (${e.message})` : ''}`;
  if ((code === 'handshake' || code === 'websocket') && cspRefused('connect-src', url)) {
    return `${url} blocked by the page's CSP (connect-src)`;
  }
  return {
    handshake: `${url} unreachable`,
    websocket: `cannot open a WebSocket to ${url}`,
    closed: 'connection closed before the join',
    timeout: 'no answer from the server',
  }[code] || (e && e.message) || String(e);
}

/**
 * The long reason, for the status line's title: the widget's own words for a socket that did
 * not open (the SDK's message names the SDK's default server, not the widget's), else the
 * SDK's message. `defaulted`: the url is the widget's default (no url attribute).
 */
function reasonDetail(e, url, defaulted) {
  const at = `${url}${defaulted ? " (no url attribute: the page's own host)" : ''}`;
  const code = e && e.code;
  if ((code === 'handshake' || code === 'websocket') && cspRefused('connect-src', url)) {
    return `The page's Content-Security-Policy does not allow connecting to ${at}: its connect-src must list it.`;
  }
  if (code === 'handshake' || code === 'websocket') {
    return `No WebSocket opened to ${at}. The server may be down or elsewhere (set the url ` +
      "attribute); the page's Content-Security-Policy may not allow it in connect-src (the " +
      'browser console says so); or a proxy or ISP intercepts plain ws:// (use wss://).';
  }
  return `${at}: ${(e && e.message) || String(e)}`;
}

function hhmm(ms) {
  const d = dateOf(ms);
  return d ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}` : '--:--';
}

/** Contrast ratio (WCAG) of hsl(h s% l%) on white. */
function contrastOnWhite(h, s, l) {
  s /= 100;
  l /= 100;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
  };
  const lin = (v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 1.05 / (0.2126 * lin(f(0)) + 0.7152 * lin(f(8)) + 0.0722 * lin(f(4)) + 0.05);
}

// Per hue, the lightness (at most 42%) at which a nick has 4.5:1 contrast on the light theme's
// white (4.6 leaves room for rounding to 8-bit colour): yellows and greens need a darker shade
// than blues. The dark theme sets --ubw-nick-l (70%), which passes for every hue.
const NICK_L = [];
function nickLightness(h) {
  if (NICK_L[h] === undefined) {
    let l = 42;
    while (l > 20 && contrastOnWhite(h, 55, l) < 4.6) l--;
    NICK_L[h] = l;
  }
  return NICK_L[h];
}

/** A stable colour per nick. */
function nickColor(nick) {
  let h = 0;
  for (const ch of String(nick)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  h %= 360;
  return `hsl(${h} 55% var(--ubw-nick-l, ${nickLightness(h)}%))`;
}

/** An element with a class and optional text (text only, never HTML). */
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// A bot chip's state in words (the dot's colour says it too).
const STATE_WORDS = {
  idle: 'idle', connecting: 'connecting…', joining: 'joining…', joined: 'running',
  reconnecting: 'reconnecting…', closed: 'stopped',
};

// User-list tags for the auth numbers: 0 guest (no tag), 1 member, 2 subadmin, 3 admin, 4 server.
const AUTH_NAMES = ['', 'member', 'subadmin', 'admin', 'server'];
// The user list's order within an auth level: what `a.localeCompare(b)` gives (the same default
// collator), without making a collator per comparison.
const byNick = new Intl.Collator().compare;

// The dark theme's colours: with the OS's dark setting (theme="auto", the default) or theme="dark".
const DARK = `
  --ubw-bg: #161a22; --ubw-fg: #e6e8ee; --ubw-muted: #9aa3b2; --ubw-border: #2a303c;
  --ubw-panel: #1c212b; --ubw-accent: #818cf8; --ubw-accent-fg: #0b0d12; --ubw-nick-l: 70%;
  color-scheme: dark;`;

// `all: initial` on :host: inherited properties of the page (text-transform, letter-spacing,
// white-space: nowrap, text-align, cursor, text-shadow, a serif font, …) stop at the widget. It
// resets neither `direction` (a right-to-left page gets a right-to-left widget: sides are
// logical, border-inline-start and the like) nor custom properties (--ubw-* set on the element
// still theme it). Rules on the element itself in the page win over :host, so an embedder can
// still size it, add a margin or set its font-size.
//
// Text size: the host is `medium`, the reader's default font size (what `all: initial` gives; a
// page's `html { font-size: 62.5% }` does not shrink it, as it would 0.875rem), and the frame is
// 0.875em of it (14px at the usual 16px). Every size inside is in em, so the widget follows the
// reader's setting and `uchat-bot-widget { font-size: 18px }` scales all of it. Borders, dots and
// the 36/24 px touch targets stay in px.
const CSS = `
:host {
  all: initial;
  --ubw-accent: #4f46e5; --ubw-accent-fg: #fff; --ubw-bg: #ffffff; --ubw-fg: #1f2430;
  --ubw-muted: #6b7280; --ubw-border: #e4e6eb; --ubw-panel: #f6f7f9; --ubw-radius: 14px;
  --ubw-ok: #16a34a; --ubw-warn: #d97706; --ubw-bad: #dc2626;
  color-scheme: light;
  display: block; height: 33.75em; min-height: 20em;
  font: medium/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--ubw-fg);
}
:host([hidden]) { display: none; }
@media (prefers-color-scheme: dark) {
  :host(:not([theme=light])) {${DARK}
  }
}
:host([theme=dark]) {${DARK}
}
* { box-sizing: border-box; }
.frame {
  display: grid; grid-template-rows: auto minmax(0, 1fr) auto auto auto;
  grid-template-columns: minmax(0, 1fr); height: 100%; container-type: inline-size; font-size: .875em;
  background: var(--ubw-bg); border: 1px solid var(--ubw-border); border-radius: var(--ubw-radius);
  overflow: hidden; box-shadow: 0 1px 2px rgb(0 0 0 / .04), 0 8px 24px rgb(0 0 0 / .06);
}
.head {
  display: flex; align-items: center; gap: .7em; padding: .75em 1em;
  border-block-end: 1px solid var(--ubw-border);
}
.head .room { font-weight: 650; font-size: 1.07em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.head .room::before { content: "#"; color: var(--ubw-muted); margin-inline-end: 1px; }
.head .count {
  margin-inline-start: auto; font-size: .857em; color: var(--ubw-muted); background: var(--ubw-panel);
  border: 1px solid var(--ubw-border); border-radius: 999px; padding: .13em .73em; white-space: nowrap;
}
.main { display: grid; grid-template-columns: minmax(0, 1fr) 13.5em; min-height: 0; }
.logwrap { position: relative; display: grid; min-height: 0; }
.log { list-style: none; margin: 0; padding: .57em 1em; overflow-y: auto; overscroll-behavior: contain; min-height: 0; }
.log:focus-visible { outline: 2px solid var(--ubw-accent); outline-offset: -2px; }
.jump {
  position: absolute; inset-block-end: .7em; inset-inline: 0; margin-inline: auto; width: max-content;
  min-height: 30px; padding: .27em 1.13em; border-radius: 999px; font-size: .857em; box-shadow: 0 2px 8px rgb(0 0 0 / .2);
}
.jump[hidden] { display: none; }
.line { display: flex; gap: .57em; align-items: baseline; padding: .14em 0; overflow-wrap: anywhere; }
.line time { flex: none; font-size: .786em; color: var(--ubw-muted); font-variant-numeric: tabular-nums; }
.line .nick { flex: none; font-weight: 600; max-width: 40%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.line .text { min-width: 0; white-space: pre-wrap; max-height: 12em; overflow-y: auto; }
.line.history { border-inline-start: 2px solid var(--ubw-muted); padding-inline-start: .51em; }
.line.bot .nick::after {
  content: "bot"; margin-inline-start: .48em; font-size: .714em; font-weight: 600; color: var(--ubw-accent-fg);
  background: var(--ubw-accent); border-radius: 4px; padding: 0 .4em; vertical-align: 1px;
}
.line.event { color: var(--ubw-muted); font-size: .857em; font-style: italic; }
.line.event .nick { font-weight: 500; color: inherit !important; }
.line.notice { font-size: .857em; border-inline-start: 3px solid var(--ubw-bad); padding-inline-start: .6em; }
.queued { flex-basis: 100%; font-size: .857em; color: var(--ubw-muted); }
.queued:empty { display: none; }
.empty { color: var(--ubw-muted); padding: 1.23em 0; text-align: center; font-size: .929em; }
.users { border-inline-start: 1px solid var(--ubw-border); background: var(--ubw-panel); overflow-y: auto; min-height: 0; }
.users h3 {
  margin: 0; padding: .87em 1.16em .44em; font-size: .786em; font-weight: 650; letter-spacing: .06em;
  text-transform: uppercase; color: var(--ubw-muted);
}
.users ul { list-style: none; margin: 0; padding: 0 .46em .57em; }
.users li {
  display: flex; align-items: center; gap: .51em; padding: .25em .46em; border-radius: 8px;
  overflow: hidden; white-space: nowrap;
}
.users li .dot { flex: none; width: 8px; height: 8px; border-radius: 50%; background: var(--ubw-ok); }
.users li .who { overflow: hidden; text-overflow: ellipsis; }
.users li .tag { margin-inline-start: auto; font-size: .714em; color: var(--ubw-muted); }
.users li.me .who { font-style: italic; }
.users.stale li { color: var(--ubw-muted); }
.users.stale li .dot { background: transparent !important; box-shadow: inset 0 0 0 1.5px var(--ubw-muted); }
.bots, .composer {
  display: flex; flex-wrap: wrap; align-items: center; gap: .57em; padding: .63em 1.03em;
  border-block-start: 1px solid var(--ubw-border);
}
.bots label { font-size: .857em; color: var(--ubw-muted); }
select, input, button { font: inherit; color: inherit; }
select, input[type=text] {
  background: var(--ubw-bg); border: 1px solid var(--ubw-border); border-radius: 9px;
  padding: .43em .63em; min-height: 36px;
}
input[type=text] { flex: 1 1 160px; min-width: 0; }
select { flex: 0 1 auto; min-width: 0; max-width: 100%; text-overflow: ellipsis; }
select:focus-visible, input:focus-visible, button:focus-visible { outline: 2px solid var(--ubw-accent); outline-offset: 1px; }
button {
  border: 1px solid transparent; border-radius: 9px; padding: .43em .97em; min-height: 36px;
  background: var(--ubw-accent); color: var(--ubw-accent-fg); font-weight: 600; cursor: pointer;
}
button:disabled { opacity: .5; cursor: default; }
.chips { display: flex; flex-wrap: wrap; gap: .4em; }
.chip {
  display: inline-flex; align-items: center; gap: .47em; padding-block: .2em; padding-inline: .8em .27em;
  border-radius: 999px; background: var(--ubw-panel); border: 1px solid var(--ubw-border); font-size: .857em;
}
.chip .st { flex: none; width: 7px; height: 7px; border-radius: 50%; background: var(--ubw-warn); }
.chip .state { color: var(--ubw-muted); }
.chip[data-state=joined] .st { background: var(--ubw-ok); }
.chip[data-state=closed] .st { background: var(--ubw-bad); }
.chip button {
  min-width: 24px; min-height: 24px; padding: 0 .6em; line-height: 1.4; border-radius: 999px; font-size: 1em;
  background: transparent; color: var(--ubw-muted); border: 0;
}
.chip button:hover { color: var(--ubw-bad); }
.status {
  display: flex; align-items: center; gap: .6em; padding: .53em 1.2em; font-size: .857em;
  color: var(--ubw-muted); border-block-start: 1px solid var(--ubw-border); background: var(--ubw-panel);
  min-height: 30px;
}
.status .led { flex: none; width: 8px; height: 8px; border-radius: 50%; background: var(--ubw-warn); }
.status[data-state=joined] .led { background: var(--ubw-ok); }
.status[data-state=closed] .led, .status[data-state=error] .led { background: var(--ubw-bad); }
.status .msg { min-width: 0; overflow-wrap: anywhere; }
@container (max-width: 560px) {
  .main { grid-template-columns: minmax(0, 1fr); grid-template-rows: auto minmax(0, 1fr); }
  .logwrap { grid-row: 2; }
  .users { grid-row: 1; border-inline-start: 0; border-block-end: 1px solid var(--ubw-border); display: flex; align-items: center; overflow-x: auto; overflow-y: hidden; }
  .users h3 { padding-block: .65em; padding-inline: 1.16em .44em; }
  .users ul { display: flex; gap: .29em; padding-block: .4em; padding-inline: 0 .69em; }
  .users li { padding: .11em .57em; background: var(--ubw-bg); border: 1px solid var(--ubw-border); border-radius: 999px; }
  .users li .tag { display: none; }
  .line .nick { max-width: 55%; }
  .bots label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
  .bots select { flex: 1 1 0; }
  .chips { flex-basis: 100%; }
  .chips:empty { display: none; }
}
`;

/** One bot started from the widget: a UChatBot with its behaviour attached. */
function makeBot(sdk, kind, room, url, nick, isOwn) {
  const bot = new sdk.UChatBot({ room, url, nick });
  if (kind === 'echo') {
    bot.on('message', (m) => {
      if (m.self || m.history || BOT_NICK.test(m.user.nick) || m.content.startsWith('🔁')) return;
      bot.send(`🔁 ${m.user.nick}: ${m.content}`);
    });
  } else if (kind === 'dice') {
    bot.onCommand('dice', ({ user, args, reply }) => {
      const n = args[0] === undefined ? 6 : Number(String(args[0]).replace(/^d/i, ''));
      if (!Number.isInteger(n) || n < 1 || n > 1e6) {
        reply(`${user.nick}: try !dice or !dice 20`);
        return;
      }
      reply(`🎲 ${user.nick} rolled ${1 + Math.floor(Math.random() * n)} (1–${n})`);
    }, { perUserCooldownMs: 2000 });
  } else if (kind === 'greeter') {
    bot.on('user.join', ({ user }) => {
      // Not the widget's own connections (its viewer, the visitor's sender): they are no guests.
      if (!BOT_NICK.test(user.nick) && !isOwn(user.nick)) bot.send(`👋 Welcome to #${room}, ${user.nick}!`);
    });
  }
  return bot;
}

// The documented attributes that are also properties: reading one gives the attribute (or its
// default), setting one sets the attribute (null or undefined removes it). React 19 sets a prop
// as a property when the element has one, and a getter alone made that throw.
const PROPS = ['room', 'url', 'nick', 'sdk', 'theme'];

// One stylesheet for every widget of the page, when the browser can adopt one: a constructed
// sheet is no inline <style>, so a CSP without style-src 'unsafe-inline' does not block it.
let sheet = null;

/** Styles `root`: the shared constructed sheet, or a <style> where there is none. */
function addStyles(root) {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function') {
    try {
      if (!sheet) {
        const s = new CSSStyleSheet();
        s.replaceSync(CSS);
        sheet = s;
      }
      root.adoptedStyleSheets = [sheet];
      return;
    } catch (_) { /* a sheet of another document, or no constructor: the <style> below */ }
  }
  const style = el('style');
  style.textContent = CSS;
  root.append(style);
}

export class UChatBotWidget extends HTMLElement {
  static get observedAttributes() { return ['room', 'url', 'nick', 'sdk']; }

  constructor() {
    super();
    this.viewer = null;   // read-only observer connection
    this.visitor = null;  // the visitor's own connection, made on first "Send"
    this.bots = [];       // { kind, bot, chip }
    this.generation = 0;  // bumps on every (re)start; stale async work checks it
    this.timers = new Set();        // retry waits, cleared by stop()
    this.disposed = new WeakSet();  // bots closed by the widget: their connect() is not retried
    this.pending = [];              // lines not yet in the log: { li, tall }, oldest first
    this.usersDirty = false;        // the user list is to be rendered again
    this.usersShown = null;         // what the rendered user list shows (see renderUsersNow)
    this.flushFrame = 0;            // the scheduled flush's animation frame, and its timer
    this.flushTimer = 0;
    this.flushNow = () => this.flush();
    this.started = false;           // connected (or just moved): its connections are up or coming
    this.changed = false;           // an attribute changed while it was not running
    this.leaving = 0;               // the timer that ends it after it left the page (see disconnectedCallback)
    const root = this.attachShadow({ mode: 'open' });
    addStyles(root);
    root.append(this.build());
    this.updateControls();
  }

  get room() { return this.getAttribute('room') || 'lobby'; }
  set room(v) { this.reflect('room', v); }
  get url() { return this.getAttribute('url') || defaultUrl(); }
  set url(v) { this.reflect('url', v); }
  get nick() { return this.getAttribute('nick') || ''; }
  set nick(v) { this.reflect('nick', v); }
  /** The SDK's URL: the `sdk` attribute resolved against the page (as src and href are), or the default. */
  get sdk() {
    const sdk = this.getAttribute('sdk');
    if (!sdk) return new URL('./pkg/index.js', import.meta.url).href;
    try {
      return new URL(sdk, document.baseURI).href;
    } catch (_) {
      return sdk;
    }
  }
  set sdk(v) { this.reflect('sdk', v); }
  get sdkUrl() { return this.sdk; }
  get theme() {
    const t = this.getAttribute('theme');
    return t === 'light' || t === 'dark' ? t : 'auto';
  }
  set theme(v) { this.reflect('theme', v); }

  reflect(name, value) {
    if (value === null || value === undefined) this.removeAttribute(name);
    else this.setAttribute(name, String(value));
  }

  build() {
    const frame = el('div', 'frame');
    frame.setAttribute('part', 'frame');

    // Divs, not <header> and <aside>: those would add a banner and a complementary landmark
    // to the page for every widget.
    const header = el('div', 'head');
    this.$room = el('span', 'room', this.room);
    this.$count = el('span', 'count', '…');
    header.append(this.$room, this.$count);

    const main = el('div', 'main');
    this.$log = el('ol', 'log');
    this.$log.setAttribute('role', 'log');
    this.$log.setAttribute('aria-live', 'polite');
    this.$log.setAttribute('aria-label', 'Chat');
    // In the tab order, so a keyboard can scroll the history (arrows, Page Up/Down).
    this.$log.tabIndex = 0;
    this.$log.append(el('li', 'empty', 'Connecting…'));
    this.$log.addEventListener('scroll', () => { if (this.atBottom()) this.caughtUp(); });
    this.$jump = el('button', 'jump', 'New messages ↓');
    this.$jump.type = 'button';
    this.$jump.hidden = true;
    this.$jump.addEventListener('click', () => {
      this.$log.scrollTop = this.$log.scrollHeight;
      this.caughtUp();
    });
    const logwrap = el('div', 'logwrap');
    logwrap.append(this.$log, this.$jump);
    const users = el('div', 'users');
    this.$usersBox = users;
    this.$usersTitle = el('h3', '', 'Online');
    users.setAttribute('role', 'group');
    users.setAttribute('aria-label', 'People in the room');
    this.$users = el('ul');
    users.append(this.$usersTitle, this.$users);
    main.append(logwrap, users);

    const bots = el('div', 'bots');
    const label = el('label', '', 'Bot');
    label.htmlFor = 'kind';
    this.$kind = el('select');
    this.$kind.id = 'kind';
    for (const [value, info] of Object.entries(BOT_KINDS)) {
      const o = el('option', '', `${info.label} — ${info.hint}`);
      o.value = value;
      this.$kind.append(o);
    }
    this.$kind.addEventListener('change', () => this.updateControls());
    this.$start = el('button', 'start', 'Start bot');
    this.$start.type = 'button';
    this.$start.addEventListener('click', () => this.startBot(this.$kind.value));
    this.$chips = el('div', 'chips');
    bots.append(label, this.$kind, this.$start, this.$chips);

    const form = el('form', 'composer');
    this.$input = el('input');
    this.$input.type = 'text';
    this.$input.placeholder = 'Say something (try !dice 20)';
    this.$input.setAttribute('aria-label', 'Message');
    this.$input.maxLength = 500;
    this.$send = el('button', '', 'Send');
    this.$send.type = 'submit';
    this.$queued = el('span', 'queued');
    form.append(this.$input, this.$send, this.$queued);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.say(this.$input.value);
    });

    this.$status = el('div', 'status');
    this.$status.setAttribute('role', 'status');
    this.$statusMsg = el('span', 'msg', 'Loading the SDK…');
    this.$status.append(el('span', 'led'), this.$statusMsg);

    frame.append(header, main, bots, form, this.$status);
    return frame;
  }

  connectedCallback() {
    // A property set before this element was defined is an own property that hides the
    // setter: set it again through the setter.
    for (const p of PROPS) {
      if (Object.prototype.hasOwnProperty.call(this, p)) {
        const v = this[p];
        delete this[p];
        this[p] = v;
      }
    }
    if (this.leaving) {
      // Back in the page in the same task or the next (moved, or removed and put back): it
      // goes on as it was, unless an attribute changed meanwhile.
      clearTimeout(this.leaving);
      this.leaving = 0;
      if (!this.changed) return;
    }
    this.restart();
  }

  /**
   * Not ended at once: an element moved in the DOM (a framework re-parenting it, remove then
   * insert) is disconnected and connected again, and ending it would stop the visitor's bots
   * and re-join under a new nick. It ends if it is still out of the page after this task.
   */
  disconnectedCallback() {
    if (this.leaving) clearTimeout(this.leaving);
    this.leaving = setTimeout(() => {
      this.leaving = 0;
      if (!this.isConnected) this.end();
    }, 0);
  }

  /** Element.moveBefore() keeps the element's state when this exists: nothing to do. */
  connectedMoveCallback() {}

  /** Removed from the page for good: every connection, bot and timer is closed. */
  end() {
    this.stop();
    this.started = false;
  }

  attributeChangedCallback(name, old, value) {
    if (old === value) return;
    if (this.isConnected && this.started) this.restart();
    else this.changed = true;
  }

  stop() {
    // What the old connection's events queued goes on the page now, as it would have at once.
    this.flush();
    this.generation++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const b of this.bots) this.dispose(b.bot);
    this.bots = [];
    this.$chips.replaceChildren();
    this.updateKinds();
    if (this.viewer) this.dispose(this.viewer);
    if (this.visitor) this.dispose(this.visitor);
    this.viewer = this.visitor = null;
    this.visitorReady = null;
    this.visitorSettled = this.sayWaiting = false;
    this.queueTimer = null;
    this.$queued.textContent = '';
  }

  dispose(bot) {
    this.disposed.add(bot);
    try { bot.close(); } catch (_) { /* already closed */ }
    try { bot.free(); } catch (_) { /* already freed */ }
  }

  /**
   * Nothing of the room shown before (a restart is another room, server or viewer): the log,
   * the user list and the count start empty, and say what is going on.
   */
  resetView() {
    this.pending = [];
    this.usersDirty = false;
    this.usersShown = null;
    this.$log.replaceChildren(el('li', 'empty', 'Connecting…'));
    this.$jump.hidden = true;
    this.$users.replaceChildren();
    this.setStale(false);
    this.$count.textContent = '…';
    this.$room.textContent = this.room;
  }

  /** The log's placeholder says `text` (when the log holds no line), and the header's count `count`. */
  showNothing(text, count) {
    const empty = this.$log.querySelector('.empty');
    if (empty && empty.textContent !== text) empty.textContent = text;
    if (count !== undefined) this.$count.textContent = count;
  }

  async restart() {
    this.stop();
    this.started = true;
    this.changed = false;
    this.resetView();
    const gen = this.generation;
    const live = () => gen === this.generation;
    this.setStatus('connecting', 'Loading the SDK…');
    let sdk;
    const sdkUrl = this.sdk;
    try {
      sdk = await loadSdk(sdkUrl);
    } catch (e) {
      const why = await sdkFailure(sdkUrl, e);
      if (!live()) return;
      this.showNothing('No chat: the SDK did not load.', 'offline');
      this.setStatus('error', `Could not load the SDK: ${why}`,
        `The widget loads the uchat-bot SDK (the npm package's index.js, its .wasm next to it) from ` +
        `${sdkUrl}: the sdk attribute, relative to the page, or pkg/index.js next to ` +
        `uchat-bot-widget.js. ${e.message}`);
      return;
    }
    if (!live()) return;
    this.sdkModule = sdk;
    this.updateControls();
    // A nick the room has already (ERR 301: another visitor's widget with the same nick
    // attribute, say) is tried again with 3 random digits added, a few times.
    const base = this.getAttribute('nick');
    let nick = base || `viewer${rand3()}`;
    for (let tries = 0; ; tries++) {
      const e = await this.joinViewer(gen, nick);
      if (!live() || !e) return;
      if (e.code === 301 && tries < 4) {
        this.dispose(this.viewer);
        this.viewer = null;
        nick = `${base || 'viewer'}${rand3()}`;
        continue;
      }
      this.flush(); // a queued render would say "N online" over it
      this.setStale(false);
      this.showNothing('Not connected.', 'offline');
      this.setStatus('error', `Could not join #${this.room}: ${shortReason(e, this.url)}`,
        reasonDetail(e, this.url, !this.hasAttribute('url')));
      return;
    }
  }

  /** Joins as the viewer `nick`, retrying while that can heal; resolves with the final error, or null. */
  async joinViewer(gen, nick) {
    const sdk = this.sdkModule;
    this.viewerNick = nick;
    let viewer;
    try {
      viewer = new sdk.UChatBot({ room: this.room, url: this.url, nick });
    } catch (e) {
      return e;
    }
    this.viewer = viewer;
    const live = () => gen === this.generation && this.viewer === viewer;
    viewer.on('state', ({ state }) => live() && this.showViewerState(state));
    viewer.on('message', (m) => live() && this.addMessage(m));
    viewer.on('user.join', ({ user }) => { if (live()) { this.addEvent(user.nick, 'joined'); this.renderUsers(); } });
    viewer.on('user.quit', ({ user }) => { if (live()) { this.addEvent(user.nick, 'left'); this.renderUsers(); } });
    viewer.on('user.list', () => {
      if (!live()) return;
      this.setStale(false);
      this.renderUsers();
    });
    viewer.on('user.count', () => live() && this.renderUsers());
    // At every (re-)join the log starts afresh: the SDK's join burst asks the server for the
    // last 15 chat lines (`chatList 15`), which arrive after this event and fill it again. The
    // widget asks for no history of its own, or those lines would show twice.
    viewer.on('join', () => {
      if (!live()) return;
      this.$log.replaceChildren();
      this.pending = [];
      this.$jump.hidden = true;
      this.renderUsers();
    });
    viewer.on('error', (e) => {
      // A failed connect() attempt is reported (and retried) by connectRetrying.
      if (!live() || this.viewerConnecting) return;
      if (typeof e.code === 'number') this.setStatus('error', `Server error ${e.code}: ${e.message}`, e.message);
      else if (viewer.state !== 'joined') {
        this.setStatus('reconnecting', `Connection lost (${shortReason(e, this.url)}), reconnecting…`,
          reasonDetail(e, this.url, !this.hasAttribute('url')));
      }
    });
    viewer.on('disconnect', ({ willReconnect }) => {
      if (!live()) return;
      // Who was online is no longer known: say so until the next join's list.
      this.setStale(true);
      if (willReconnect) this.setStatus('reconnecting', 'Connection lost, reconnecting…');
    });
    this.viewerConnecting = true;
    try {
      await this.connectRetrying(viewer, gen, `Could not join #${this.room}`);
      return null;
    } catch (e) {
      return e;
    } finally {
      if (gen === this.generation) this.viewerConnecting = false;
    }
  }

  /**
   * `bot.connect()`, tried again while it fails for a reason that can heal (RETRYABLE), after
   * 1 s, 2 s, 4 s … at most 30 s, with a countdown in the status ("… retrying in N s"; `what`
   * says what failed). Resolves with my user; rejects with the error that is final (a server
   * ERR, or the page's CSP refusing the URL), or when the widget restarted or closed the bot
   * meanwhile.
   */
  async connectRetrying(bot, gen, what) {
    let delay = RETRY_MIN_MS;
    const url = this.url;
    for (;;) {
      try {
        return await bot.connect();
      } catch (e) {
        if (gen !== this.generation || this.disposed.has(bot) || !retryable(e)) throw e;
        for (let left = Math.round(delay / 1000); left > 0; left--) {
          // A CSP refusal (its report may come after the failure) does not heal: final.
          if (cspRefused('connect-src', url)) throw e;
          this.setStatus('retrying', `${what}: ${shortReason(e, url)}. Retrying in ${left} s…`,
            reasonDetail(e, url, !this.hasAttribute('url')));
          await this.sleep(1000);
          if (gen !== this.generation || this.disposed.has(bot)) throw e;
        }
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Resolves after `ms`; never, if stop() comes first (the widget restarted or left the page). */
  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, ms);
      this.timers.add(t);
    });
  }

  showViewerState(state) {
    const text = {
      connecting: `Connecting to ${this.url}…`,
      joining: `Joining #${this.room}…`,
      reconnecting: 'Reconnecting…',
      closed: 'Disconnected',
      idle: 'Idle',
    }[state];
    if (state === 'joined') this.refreshStatus();
    else if (text) this.setStatus(state, text);
  }

  refreshStatus() {
    if (!this.viewer || this.viewer.state !== 'joined') return;
    const me = this.viewer.me;
    const running = this.bots.filter((b) => b.bot.state === 'joined').map((b) => b.nick);
    const bots = running.length ? ` · bots: ${running.join(', ')}` : ' · no bot running';
    this.setStatus('joined', `Live in #${this.room} as ${me ? me.nick : 'viewer'} (read-only)${bots}`);
  }

  /** The status line: a short `text`; `detail` (the SDK's full message) in its title. */
  setStatus(state, text, detail = text) {
    // Written only when it changes: it is a live region (role=status), and every join or leave
    // refreshes it, so a rewrite of the same text would be noise to screen readers.
    if (this.$status.dataset.state !== state) this.$status.dataset.state = state;
    if (this.$statusMsg.textContent !== text) this.$statusMsg.textContent = text;
    if (this.$statusMsg.title !== detail) this.$statusMsg.title = detail;
  }

  /** Marks the user list as the last one known (while disconnected), or current again. */
  setStale(stale) {
    if (this.$usersBox.classList.contains('stale') === stale) return;
    this.$usersBox.classList.toggle('stale', stale);
    this.$usersTitle.textContent = stale ? 'Reconnecting… (last seen)' : 'Online';
    if (stale) this.$count.textContent = 'reconnecting…';
  }

  ownNicks() {
    // The nicks asked for, too: a connection is announced to others before its connect() resolves.
    const nicks = new Set(this.bots.map((b) => b.nick));
    if (this.viewerNick) nicks.add(this.viewerNick);
    if (this.visitorNick) nicks.add(this.visitorNick);
    if (this.viewer && this.viewer.me) nicks.add(this.viewer.me.nick);
    if (this.visitor && this.visitor.me) nicks.add(this.visitor.me.nick);
    return nicks;
  }

  atBottom() {
    const log = this.$log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  prune(max) {
    while (this.$log.children.length > max) this.$log.firstElementChild.remove();
  }

  /** Back at the newest line: no "new messages" button, and the log is pruned to MAX_LINES again. */
  caughtUp() {
    this.$jump.hidden = true;
    if (this.$log.children.length > MAX_LINES) {
      this.prune(MAX_LINES);
      this.$log.scrollTop = this.$log.scrollHeight;
    }
  }

  /**
   * Queues `li` for the log; `tall`: its text span, if the text may be taller than the line's
   * cap. A hidden tab may queue for a while (see `schedule`): more lines than the log could ever
   * keep are dropped from the front of the queue, as pruning would drop them anyway.
   */
  appendLine(li, tall = null) {
    this.pending.push({ li, tall });
    if (this.pending.length >= 2 * MAX_LINES_SCROLLED) {
      this.pending.splice(0, this.pending.length - MAX_LINES_SCROLLED);
    }
    this.schedule();
  }

  /**
   * Asks for one `flush()` soon, however many events come first. An animation frame when the
   * page is shown: that coalesces every event until the next paint, also across WebSocket frames,
   * and nothing is drawn in between anyway. A hidden tab runs no animation frames, so a timer
   * races the frame: whichever comes first flushes and cancels the other (the browser slows a
   * hidden tab's timers to about once a second, which only coalesces more). Not a microtask:
   * that would flush after every WebSocket frame, and a server that sends one line per frame
   * would make every event a rebuild again.
   */
  schedule() {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(this.flushNow, FLUSH_FALLBACK_MS);
    this.flushFrame = requestAnimationFrame(this.flushNow);
  }

  /**
   * Puts what the events since the last flush queued on the page: the new lines in one append,
   * with one read of the scroll position before it and one after (a reader at the newest line
   * stays there and the log is pruned to MAX_LINES; one scrolled up keeps their place, the log
   * pruned only to MAX_LINES_SCROLLED, and the "new messages" button shows), then the user list
   * once. Called by the scheduled frame or timer; also safe to call at any time (tests do).
   */
  flush() {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      cancelAnimationFrame(this.flushFrame);
      this.flushTimer = this.flushFrame = 0;
    }
    if (this.pending.length) {
      const log = this.$log;
      const atBottom = this.atBottom();
      const max = atBottom ? MAX_LINES : MAX_LINES_SCROLLED;
      // Lines that pruning would remove at once are not put in at all.
      const lines = this.pending.length > max ? this.pending.slice(-max) : this.pending;
      this.pending = [];
      const empty = log.querySelector('.empty');
      if (empty) empty.remove();
      log.append(...lines.map((l) => l.li));
      this.prune(max);
      if (atBottom) log.scrollTop = log.scrollHeight;
      else this.$jump.hidden = false;
      // A line taller than its cap (12em: a flood of newlines, a wall of text) scrolls inside
      // itself, and a keyboard can reach it to scroll it. All heights are read before any
      // tabIndex is written, so they cost one layout.
      const tall = lines.filter((l) => l.tall && l.tall.scrollHeight > l.tall.clientHeight);
      for (const l of tall) l.tall.tabIndex = 0;
    }
    if (this.usersDirty) {
      this.usersDirty = false;
      this.renderUsersNow();
    }
  }

  addMessage(m) {
    const nick = m.user.nick;
    const li = el('li', 'line');
    if (m.history) {
      // Marked by a border, not faded: faded text would fail contrast.
      li.classList.add('history');
      li.title = 'Earlier message (from before you joined)';
    }
    if (BOT_NICK.test(nick)) li.classList.add('bot');
    const time = el('time', '', hhmm(m.time));
    const when = m.time && dateOf(m.time);
    if (when) time.dateTime = when.toISOString();
    const who = el('span', 'nick', nick);
    who.dir = 'auto'; // Hebrew or Arabic reads right to left, in an English page too
    who.style.color = nickColor(nick);
    who.title = nick;
    // Chat text is a text node: markup in it is shown, not run.
    const text = el('span', 'text', m.content);
    text.dir = 'auto';
    li.append(time, who, text);
    this.appendLine(li, m.content.length > 200 ? text : null);
  }

  /** A line from the widget itself (not from the room), e.g. why the visitor's line was refused. */
  addNotice(text) {
    const li = el('li', 'line notice');
    li.append(el('time', '', hhmm()), el('span', 'text', text));
    this.appendLine(li);
  }

  addEvent(nick, what) {
    const li = el('li', 'line event');
    const who = el('span', 'nick', nick);
    who.dir = 'auto';
    li.append(el('time', '', hhmm()), who, el('span', 'text', what));
    this.appendLine(li);
  }

  /**
   * The user list is to be shown again (it, or who among it is the widget's own, changed): done
   * once by the next flush, however many joins, quits and counts come first. The status line
   * (which names the bots) is refreshed now, so it keeps its order with other status writes.
   */
  renderUsers() {
    if (!this.viewer) return;
    this.usersDirty = true;
    this.schedule();
    this.refreshStatus();
  }

  renderUsersNow() {
    if (!this.viewer) return;
    const users = this.viewer.users.slice().sort((a, b) => (b.auth - a.auth) || byNick(a.nick, b.nick));
    const mine = this.ownNicks();
    const me = this.viewer.me && this.viewer.me.nick;
    const visitor = this.visitor && this.visitor.me && this.visitor.me.nick;
    const rows = users.map((u) => ({
      nick: u.nick,
      tag: u.nick === me ? 'viewer' : u.nick === visitor ? 'you'
        : mine.has(u.nick) ? 'your bot' : (AUTH_NAMES[u.auth] || ''),
    }));
    // A count alone (or a join and a quit that cancel out) changes nothing shown: no rebuild.
    const shown = JSON.stringify([me, rows]);
    if (shown !== this.usersShown) {
      this.usersShown = shown;
      this.$users.replaceChildren(...rows.map(({ nick, tag }) => {
        const li = el('li');
        if (nick === me) li.classList.add('me');
        const dot = el('span', 'dot');
        if (BOT_NICK.test(nick)) dot.style.background = 'var(--ubw-accent)';
        const who = el('span', 'who', nick);
        who.dir = 'auto';
        who.title = nick;
        li.append(dot, who, el('span', 'tag', tag));
        return li;
      }));
    }
    const count = `${users.length} online`;
    if (!this.$usersBox.classList.contains('stale') && this.$count.textContent !== count) this.$count.textContent = count;
  }

  /**
   * Greys out the kinds of bot already running (a second one would answer everything twice);
   * if the chosen kind runs, the first that does not is chosen instead.
   */
  updateKinds() {
    const running = new Set(this.bots.map((b) => b.kind));
    for (const o of this.$kind.options) {
      const info = BOT_KINDS[o.value];
      o.disabled = running.has(o.value);
      o.textContent = `${info.label} — ${o.disabled ? 'running' : info.hint}`;
    }
    const chosen = this.$kind.selectedOptions[0];
    if (chosen && chosen.disabled) {
      const free = [...this.$kind.options].find((o) => !o.disabled);
      if (free) this.$kind.value = free.value;
    }
    this.updateControls();
  }

  /** Start and Send work once the SDK is loaded; Start while the chosen kind is not running. */
  updateControls() {
    const chosen = this.$kind.selectedOptions[0];
    const start = !this.sdkModule || !chosen || chosen.disabled;
    if (this.$start.disabled !== start) this.$start.disabled = start;
    if (this.$send.disabled !== !this.sdkModule) this.$send.disabled = !this.sdkModule;
  }

  /** Starts a bot of `kind` in the room, unless one runs already; resolves with its nick. */
  async startBot(kind) {
    if (!this.sdkModule || !BOT_KINDS[kind]) return null;
    if (this.bots.some((b) => b.kind === kind)) {
      this.setStatus(this.$status.dataset.state, `The ${BOT_KINDS[kind].label} is already running (✕ stops it)`);
      return null;
    }
    const gen = this.generation;
    const info = BOT_KINDS[kind];
    const nick = info.nick + rand3();
    let bot;
    try {
      bot = makeBot(this.sdkModule, kind, this.room, this.url, nick, (n) => this.ownNicks().has(n));
    } catch (e) {
      this.setStatus('error', e.message);
      return null;
    }
    const entry = { kind, bot, nick, stopped: false };
    this.bots.push(entry);
    this.updateKinds();
    const chip = el('span', 'chip');
    const name = el('span', 'name', nick);
    // The state in words too, not only the dot's colour.
    const stateText = el('span', 'state');
    const stop = el('button', '', '✕');
    stop.type = 'button';
    const showState = (state) => {
      chip.dataset.state = state;
      stateText.textContent = STATE_WORDS[state] || state;
      stop.title = `Stop ${entry.nick} (${info.label}, ${stateText.textContent})`;
      stop.setAttribute('aria-label', `Stop ${entry.nick}`);
    };
    showState('connecting');
    stop.addEventListener('click', () => this.stopBot(entry));
    chip.append(el('span', 'st'), name, stateText, stop);
    entry.chip = chip;
    this.$chips.append(chip);
    bot.on('state', ({ state }) => {
      showState(state);
      if (gen === this.generation) this.refreshStatus();
    });
    try {
      const me = await bot.connect();
      entry.nick = me.nick;
      name.textContent = me.nick;
      showState(bot.state);
      chip.title = `${info.label}: ${info.hint}`;
      if (gen === this.generation) this.renderUsers();
      return me.nick;
    } catch (e) {
      // Stopped by the visitor (✕, or the widget restarted) before the join: close() rejected
      // connect(), which is what was asked for, not an error.
      if (entry.stopped || gen !== this.generation) return null;
      showState('closed');
      stateText.textContent = 'failed';
      name.textContent = `${BOT_KINDS[kind].label}: ${e.message}`;
      this.setStatus('error', `The ${BOT_KINDS[kind].label} could not join: ${e.message}`);
      return null;
    }
  }

  stopBot(entry) {
    entry.stopped = true;
    this.dispose(entry.bot);
    // Focus was on this chip's ✕ (keyboard, or a click): move it to the next chip's ✕, else
    // the previous one's, else the Start button, rather than lose it to the page.
    if (entry.chip.contains(this.shadowRoot.activeElement)) {
      const next = entry.chip.nextElementSibling || entry.chip.previousElementSibling;
      (next ? next.querySelector('button') : this.$start).focus();
    }
    entry.chip.remove();
    this.bots = this.bots.filter((b) => b !== entry);
    this.updateKinds();
    this.renderUsers();
  }

  /**
   * Sends `text` as the visitor: a second connection, made on first use (and again if the
   * server ended it), whose first connect() is retried like the viewer's. While it connects the
   * input keeps the text; pressing Send again then replaces the line to send, not adds one.
   */
  async say(text) {
    text = text.trim();
    if (!text || !this.sdkModule) return;
    const gen = this.generation;
    if (this.visitor && this.visitorSettled && this.visitor.state === 'closed') this.dropVisitor();
    if (this.visitorSettled) {
      this.sendNow(text);
      return;
    }
    this.pendingText = text;
    if (!this.visitorReady) {
      const ready = this.connectVisitor(gen);
      this.visitorReady = ready;
      ready.then((visitor) => {
        if (gen !== this.generation || this.visitorReady !== ready || this.visitor !== visitor) return;
        this.visitorSettled = true;
        this.renderUsers();
      }, () => {});
    }
    if (this.sayWaiting) return; // the call already waiting sends the latest text
    this.sayWaiting = true;
    this.$queued.textContent = 'Connecting to send…';
    try {
      await this.visitorReady;
    } catch (e) {
      if (gen !== this.generation) return;
      this.dropVisitor();
      this.setStatus('error', `Could not send: ${shortReason(e, this.url)}`, reasonDetail(e, this.url, !this.hasAttribute('url')));
      return;
    } finally {
      if (gen === this.generation) {
        this.sayWaiting = false;
        this.$queued.textContent = '';
      }
    }
    if (gen !== this.generation) return;
    this.refreshStatus();
    this.sendNow(this.pendingText);
  }

  /**
   * Makes the visitor's connection (`youNNN`) and joins it, retrying like the viewer's; a nick
   * the room has already (ERR 301) is tried again with other digits, a few times. Resolves
   * with the visitor once joined.
   */
  async connectVisitor(gen) {
    for (let tries = 0; ; tries++) {
      this.visitorNick = `you${rand3()}`;
      const visitor = new this.sdkModule.UChatBot({ room: this.room, url: this.url, nick: this.visitorNick });
      this.visitor = visitor;
      // The server refuses a line with an ERR (430 repeated, 425 too fast, 413 muted, …) and
      // the SDK drops the oldest queued line when its queue is full: say so in the log.
      visitor.on('error', (e) => {
        if (gen !== this.generation || this.visitor !== visitor || !this.visitorSettled) return;
        if (typeof e.code === 'number') {
          this.addNotice(`Not sent: ${e.message.includes(String(e.code)) ? e.message : `${e.message} (ERR ${e.code})`}`);
        }
        else if (e.code === 'queue_full') this.addNotice(`Not sent: ${e.message}`);
      });
      try {
        await this.connectRetrying(visitor, gen, 'Could not connect to send');
        return visitor;
      } catch (e) {
        if (e.code !== 301 || tries >= 4 || gen !== this.generation || this.visitor !== visitor) throw e;
        this.dispose(visitor);
      }
    }
  }

  sendNow(text) {
    this.visitor.send(text);
    // Clear the input if it still holds what was sent (not a draft typed since).
    if (this.$input.value.trim() === text) this.$input.value = '';
    this.watchQueue();
  }

  /** Shows how many of the visitor's lines wait (rate limit, or while reconnecting) until none do. */
  watchQueue() {
    if (this.queueTimer) return;
    const tick = () => {
      this.timers.delete(this.queueTimer);
      this.queueTimer = null;
      const n = this.visitor && this.visitorSettled ? this.visitor.queued : 0;
      this.$queued.textContent = n ? `${n} ${n === 1 ? 'line' : 'lines'} waiting to be sent…` : '';
      if (n) {
        this.queueTimer = setTimeout(tick, 300);
        this.timers.add(this.queueTimer);
      }
    };
    tick();
  }

  dropVisitor() {
    if (this.visitor) this.dispose(this.visitor);
    this.visitor = this.visitorReady = null;
    this.visitorSettled = false;
  }
}

if (!customElements.get('uchat-bot-widget')) {
  customElements.define('uchat-bot-widget', UChatBotWidget);
}
