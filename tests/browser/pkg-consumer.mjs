#!/usr/bin/env node
// Consumer test of the npm package (issue 5 point 1; `cargo xtask pkg-test` runs it).
//
// `npm pack`s pkg/, installs the tarball into a fresh app in a temp dir, type-checks a
// TypeScript usage file against the shipped index.d.ts, serves the app with `uchat sim --www`
// and drives it in headless Chromium (playwright-core): the bot joins and answers `!ping`,
// the same package runs a bot in Node.js (and names the fix where Node.js has no WebSocket),
// using the class before init() throws the how-to-initialise message, and a page whose CSP
// lacks 'wasm-unsafe-eval' gets the CSP message from init().
//
// Usage: node tests/browser/pkg-consumer.mjs --pkg DIR --uchat BIN [--tools DIR] [--chromium BIN]
// Ends with `pkg-consumer: N passed, M failed`; exits 1 on any failure.

import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const pkgDir = path.resolve(arg('pkg', path.join(root, 'pkg')));
const toolsDir = path.resolve(arg('tools', path.join(root, 'tools')));
const uchatBin = arg('uchat', null);
const chromiumBin = arg('chromium', '/usr/bin/chromium');
/** Whole-run limit: the test ends by itself even if something hangs. */
const DEADLINE_MS = 150_000;

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok   - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`);
  }
}
function finish() {
  console.log(`pkg-consumer: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

/** Runs a command to completion; throws with its output on failure. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error || `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** Files under `dir/sub`, as `sub/…` paths with `/` separators (empty if there is no `sub`). */
function listFiles(dir, sub) {
  const top = path.join(dir, sub);
  if (!fs.existsSync(top)) return [];
  return fs.readdirSync(top, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)).split(path.sep).join('/'));
}

/** Starts `uchat sim` on a free loopback port; resolves with { url, stop }. */
function startSim(wwwDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(uchatBin, ['sim', '-q', '--listen', '127.0.0.1:0', '--auto-rooms', '--www', wwwDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const stop = () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error('uchat sim did not print its address within 10 s'));
    }, 10_000);
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/^listening (ws:\/\/127\.0\.0\.1:\d+)/m);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], stop });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`uchat sim exited with ${code} before listening`));
    });
  });
}

// --- the tiny app -----------------------------------------------------------------------------

const APP_IMPORT = "import init, { UChatBot } from './node_modules/uchat-bot/index.js';";

/** Main page: init, a ping bot, and a second bot that asks `!ping`. Reports on body[data-result]. */
const MAIN_JS = `${APP_IMPORT}
const report = (r) => { document.body.dataset.result = JSON.stringify(r); };
const r = {};
try {
  const ws = new URLSearchParams(location.search).get('ws');
  const p1 = init(), p2 = init();
  r.samePromise = p1 === p2;
  await p1;
  r.initAgain = (await init()) !== undefined;
  const room = 'consumer' + Math.floor(Math.random() * 1e9);
  const bot = new UChatBot({ room, url: ws, nick: 'pingbot' });
  r.instance = bot instanceof UChatBot;
  r.stateBefore = bot.state;
  r.meBefore = bot.me;
  r.chain = bot.on('state', () => {}).once('join', () => {}) === bot;
  const noop = () => {};
  r.offChain = bot.on('message', noop).off('message', noop) === bot;
  bot.onCommand('ping', ({ reply, user, args }) => reply('pong'), { perUserCooldownMs: 1000 });
  // off() must really remove the listener and once() must fire once (through the facade).
  let offCalls = 0, onceCalls = 0, botSaw = 0;
  const removed = () => { offCalls++; };
  bot.on('message', removed).off('message', removed);
  bot.once('message', () => { onceCalls++; });
  bot.on('message', () => { botSaw++; });
  const me = await bot.connect();
  r.meNick = me.nick;
  r.state = bot.state;
  r.getterMe = bot.me && bot.me.nick;
  r.roomId = bot.room && bot.room.id;
  r.queued = typeof bot.queued;
  r.usersHasMe = Array.isArray(bot.users) && bot.users.some((u) => u.nick === 'pingbot');
  try { bot.on('nosuchevent', () => {}); } catch (e) { r.badEvent = String(e.message); }
  try { new UChatBot({}); } catch (e) { r.missingRoom = e instanceof TypeError && /room/.test(e.message); }
  // (Not a space in the host: Chromium's URL parser takes 'ws:// a b' and the socket then fails
  // at the lookup, as code 'handshake'; Node.js's refuses it, and so does this check there.)
  r.badUrls = ['ws://127.0.0.1:99999/', 'ws://[::1', 'ws://127.0.0.1:1/#x'].map((url) => {
    try { new UChatBot({ room: 'x', url }).free(); return 'accepted'; } catch (e) { return e instanceof TypeError ? e.message : String(e); }
  });

  // No rate limit: the typed-helper check below sends a burst (to __sink, not the socket).
  const asker = new UChatBot({ room, url: ws, nick: 'asker', rateLimit: false });
  const seen = new Promise((resolve) => {
    asker.on('message', (m) => {
      if (!m.history && m.user.nick === 'pingbot' && m.content === 'pong') resolve(m.content);
    });
  });
  await asker.connect();
  r.userJoinSeen = await new Promise((res) => {
    if (bot.user('asker')) return res(true);
    bot.once('user.join', (e) => res(e.user.nick === 'asker'));
    setTimeout(() => res(!!bot.user('asker')), 3000);
  });
  // The typed helpers are written over command(): each must put exactly the line of its
  // command() form on the wire (captured with the bench hook __sink instead of the socket).
  {
    const wire = (f) => { const out = []; asker.__sink((u8) => out.push(Array.from(u8).join(','))); f(); asker.__sink(null); return out.join('|'); };
    const pairs = [
      [() => asker.mute('x', 5.7, 'spam'), () => asker.command('mute', 'x', 5, 'spam')],
      [() => asker.mute('x'), () => asker.command('mute', 'x', 10, '')],
      [() => asker.ban('x', 'a'), () => asker.command('ban', 'x', 'a', 0)],
      [() => asker.report('x'), () => asker.command('report', 'x', '')],
      [() => asker.chatList(), () => asker.command('chatList', 15)],
      [() => asker.userList(), () => asker.command('userList', 10000, '')],
      [() => asker.clearLog(), () => asker.command('clearLog')],
      [() => asker.deop('x'), () => asker.command('deop', 'x')],
    ];
    r.typed = pairs.map(([a, b]) => { const x = wire(a), y = wire(b); return x !== '' && x === y; });
    try { asker.mute(5); } catch (e) { r.typedError = e instanceof TypeError && /mute\\(nick\\)/.test(e.message); }
    try { asker.command(''); } catch (e) { r.emptyCommand = e instanceof TypeError && /non-empty/.test(e.message); }
    r.notFunctions = [() => asker.on('message', 'f'), () => asker.once('error', null),
      () => asker.onCommand('hi', {}), () => asker.plugin(5), () => asker.off('message')].map((f) => {
      try { f(); return 'accepted'; } catch (e) { return e instanceof TypeError ? e.message : String(e); }
    });
  }
  asker.command('info', 'pingbot');          // variadic command(name, ...args)
  asker.send('!ping');
  r.pong = await Promise.race([seen, new Promise((res) => setTimeout(() => res('timeout'), 10000))]);
  // The bot saw at least '!ping' and its own 'pong'.
  for (let i = 0; i < 150 && botSaw < 2; i++) await new Promise((res) => setTimeout(res, 20));
  r.listenerCalls = { botSaw, offCalls, onceCalls };
  asker.close();
  bot.close();
  r.closed = bot.state;
  asker.free();
  bot.free();
} catch (e) {
  r.error = String(e && e.stack || e);
}
report(r);
`;

/** A connected bot nobody references (README's quick start inside a function, or any
 *  userscript, whose top level is a function) must survive garbage collection (Chromium runs
 *  with --expose-gc), and become collectable once closed. */
const GC_JS = `${APP_IMPORT}
const r = {};
const collect = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((res) => setTimeout(res, 20)); } };
try {
  const ws = new URLSearchParams(location.search).get('ws');
  await init();
  const room = 'gc' + Math.floor(Math.random() * 1e9);
  let weak;
  await (async () => {
    const bot = new UChatBot({ room, url: ws, nick: 'gcbot' });
    bot.onCommand('ping', ({ reply }) => reply('pong'));
    await bot.connect();
    weak = new WeakRef(bot);
  })();
  const asker = new UChatBot({ room, url: ws, nick: 'gcasker' });
  await asker.connect();
  await collect();
  r.alive = weak.deref() !== undefined;
  const pong = new Promise((res) => {
    asker.on('message', (m) => { if (!m.history && m.user.nick === 'gcbot' && m.content === 'pong') res('pong'); });
    setTimeout(() => res('timeout'), 5000);
  });
  asker.send('!ping');
  r.pong = await pong;
  const closed = new Promise((res) => {
    asker.on('user.quit', (e) => { if (e.user.nick === 'gcbot') res(true); });
    setTimeout(() => res(false), 5000);
  });
  weak.deref()?.close();
  await closed;
  await collect();
  r.released = weak.deref() === undefined;
  asker.close();
} catch (e) {
  r.error = String(e && e.stack || e);
}
document.body.dataset.result = JSON.stringify(r);
`;

/** Uses the class before init(): both the constructor and fromElement must explain how. */
const PREINIT_JS = `${APP_IMPORT}
import { initSync } from './node_modules/uchat-bot/index.js';
const r = {};
try { new UChatBot({ room: 'x' }); r.ctor = 'no error'; } catch (e) { r.ctor = String(e.message); }
try { UChatBot.fromElement(document.querySelector('u-chat')); r.el = 'no error'; } catch (e) { r.el = String(e.message); }
// The module's real bytes: a second instance would be made (and then replaced by init()'s).
const bytes = new Uint8Array(await (await fetch('./node_modules/uchat-bot/uchat_bot_bg.wasm')).arrayBuffer());
const p = init();
try { new UChatBot({ room: 'x' }); r.during = 'no error'; } catch (e) { r.during = String(e.message); }
try { initSync(bytes); r.syncDuring = 'no error'; } catch (e) { r.syncDuring = e.code + ': ' + e.message; }
await p;
const bot = UChatBot.fromElement(document.querySelector('u-chat'), { url: 'ws://127.0.0.1:9' });
r.fromElement = bot instanceof UChatBot && bot.on('state', () => {}) === bot;
bot.free();
try { bot.free(); r.freeTwice = true; } catch (e) { r.freeTwice = String(e.message); }
r.afterFree = [() => bot.state, () => bot.send('x'), () => bot.on('message', () => {}), () => bot.connect()].map((f) => {
  try { f(); return 'no error'; } catch (e) { return e.code + ': ' + e.message; }
});
r.freedInstance = bot instanceof UChatBot && typeof bot.toString() === 'string';
// A subclass stays itself after free(): its own members work, the SDK's throw 'freed'.
class MyBot extends UChatBot { hello() { return 'hi'; } }
const mine = new MyBot({ room: 'x' });
mine.free();
let subState;
try { subState = mine.state; } catch (e) { subState = e.code; }
let hello;
try { hello = mine.hello(); } catch (e) { hello = String(e.message); }
r.subclass = [mine instanceof MyBot, hello, subState];
// Symbol.dispose after free() does nothing; a disposed bot says it was freed.
const d1 = new UChatBot({ room: 'x' });
d1.free();
try { d1[Symbol.dispose](); r.disposeAfterFree = true; } catch (e) { r.disposeAfterFree = String(e.message); }
const d2 = new UChatBot({ room: 'x' });
d2[Symbol.dispose]();
try { d2.state; r.afterDispose = 'no error'; } catch (e) { r.afterDispose = e.code; }
try { UChatBot.fromElement(document.querySelector('no-such-element')); r.fromNull = 'no error'; } catch (e) {
  r.fromNull = e instanceof TypeError && /<u-chat> element, got null/.test(e.message) ? true : String(e.message);
}
document.body.dataset.result = JSON.stringify(r);
`;

/** The class's runtime surface: every property name along the prototype chains of the class
 *  (statics) and of its instances, for the comparison with index.d.ts. */
const SURFACE_JS = `${APP_IMPORT}
await init();
const chain = (o, stop) => {
  const names = new Set();
  for (let p = o; p && p !== stop; p = Object.getPrototypeOf(p)) for (const n of Object.getOwnPropertyNames(p)) names.add(n);
  return [...names];
};
document.body.dataset.result = JSON.stringify({
  instance: chain(UChatBot.prototype, Object.prototype), statics: chain(UChatBot, Function.prototype) });
`;

/** The members index.d.ts declares in `class UChatBot { … }`: [instance names, static names]. */
function declaredMembers(dts) {
  const body = /export (?:declare )?class UChatBot\b[^{]*\{([\s\S]*?)\n\}/.exec(dts);
  if (!body) throw new Error('index.d.ts: no `class UChatBot { … }` block');
  const instance = new Set();
  const statics = new Set();
  for (const line of body[1].split('\n')) {
    const m = /^\s+(static\s+)?(?:readonly\s+|get\s+)?([A-Za-z_$][\w$]*)\s*[(<:?]/.exec(line);
    if (m && m[2] !== 'constructor') (m[1] ? statics : instance).add(m[2]);
  }
  return [instance, statics];
}

/** Under a CSP without 'wasm-unsafe-eval': init() must reject with the CSP explanation. */
const CSP_JS = `${APP_IMPORT}
const r = {};
try { await init(); r.message = 'init resolved'; } catch (e) { r.message = String(e.message); r.code = e.code; }
try { new UChatBot({ room: 'x' }); r.after = 'no error'; } catch (e) { r.after = String(e.message); }
document.body.dataset.result = JSON.stringify(r);
`;

/**
 * An engine without WebAssembly SIMD, simulated: compiling fails the way such an engine fails
 * (a CompileError) and validating the SIMD probe says no. init() must say what is missing.
 */
const NOSIMD_JS = `${APP_IMPORT}
const r = {};
const fail = () => Promise.reject(new WebAssembly.CompileError('invalid opcode 0xfd'));
WebAssembly.instantiateStreaming = fail;
WebAssembly.instantiate = fail;
const validate = WebAssembly.validate;
WebAssembly.validate = (b) => (b.byteLength === 31 ? false : validate(b));
try { await init(); r.message = 'init resolved'; } catch (e) { r.message = String(e.message); r.code = e.code; }
r.probeValid = validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
document.body.dataset.result = JSON.stringify(r);
`;

/** init() pointed at a .wasm that is not there: the error says how to point it at the file. */
const NOWASM_JS = `${APP_IMPORT}
const r = {};
try { await init('./no-such.wasm'); r.message = 'init resolved'; } catch (e) {
  r.message = String(e.message); r.code = e.code; r.cause = String(e.cause && e.cause.message);
}
document.body.dataset.result = JSON.stringify(r);
`;

const page = (script, head = '') =>
  `<!doctype html><html><head><meta charset="utf-8">${head}<title>uchat-bot consumer</title></head>` +
  `<body><u-chat room="elroom" user_data=""></u-chat><script type="module" src="./${script}"></script></body></html>\n`;

// A bot in Node.js, run as `node node-bot.mjs WS_URL` from the app (bare 'uchat-bot' import,
// init() with no argument). Prints one JSON line.
const NODE_BOT_JS = `import init, { UChatBot } from 'uchat-bot';
const url = process.argv[2];
const out = { hasWebSocket: typeof WebSocket === 'function' };
try {
  await init();
  // fromElement takes any object with getAttribute where there is no DOM; anything else is a
  // TypeError (not a ReferenceError for the missing Element class).
  const standIn = { getAttribute: (name) => (name === 'room' ? 'consumer-node' : null) };
  out.standIn = UChatBot.fromElement(standIn, { url }) instanceof UChatBot;
  try { UChatBot.fromElement({}); out.notElement = 'no error'; } catch (e) { out.notElement = e.constructor.name; }
  const bot = new UChatBot({ room: 'consumer-node', url, nick: 'nodebot' });
  bot.onCommand('ping', ({ reply }) => reply('pong'));
  try {
    out.me = (await bot.connect()).nick;
  } catch (e) {
    Object.assign(out, { code: e.code, message: e.message, state: bot.state });
  }
  if (out.me) {
    const asker = new UChatBot({ room: 'consumer-node', url, nick: 'asker' });
    const pong = new Promise((resolve) => asker.on('message', (m) => {
      if (m.user.nick === 'nodebot' && !m.history) resolve(m.content);
    }));
    await asker.connect();
    asker.send('!ping');
    let timer;
    out.pong = await Promise.race([pong, new Promise((r) => { timer = setTimeout(() => r('no answer in 10 s'), 10_000); })]);
    clearTimeout(timer);
    asker.close();
    bot.close();
    out.state = bot.state;
  }
} catch (e) {
  out.error = String((e && e.stack) || e);
}
// No process.exit(): the test checks that closed bots leave nothing keeping Node.js running.
console.log(JSON.stringify(out));
`;

// A bot in Node.js that joins, prints "joined" (the test then stops the sim) and reports the
// reconnect attempts that follow: each one fails at once, as nobody listens any more.
const NODE_RECONNECT_JS = `import init, { UChatBot } from 'uchat-bot';
await init();
const reconnect = { minDelayMs: 20, maxDelayMs: 100 };
const bot = new UChatBot({ room: 'consumer-re', url: process.argv[2], nick: 'rebot', reconnect });
await bot.connect();
console.log('joined');
const attempts = [];
let timer;
await new Promise((resolve) => {
  bot.on('reconnecting', ({ attempt }) => { attempts.push(attempt); if (attempt >= 3) resolve(); });
  timer = setTimeout(resolve, 10_000);
});
clearTimeout(timer);
bot.close();
console.log(JSON.stringify({ attempts, state: bot.state }));
`;

// A bot in Node.js that closes while its socket is still connecting (to a server that accepts
// the TCP connection and never answers the upgrade). Node.js's WebSocket fires its events
// synchronously inside close() then; the bot must not be re-entered (it panicked once).
const NODE_CLOSE_JS = `import init, { UChatBot } from 'uchat-bot';
await init();
const bot = new UChatBot({ room: 'consumer-close', url: process.argv[2], nick: 'closebot' });
const events = [];
bot.on('disconnect', ({ code }) => events.push('disconnect ' + code));
const joined = bot.connect();
await new Promise((r) => setTimeout(r, 300));
const stateBefore = bot.state;
bot.close();
const out = { stateBefore, state: bot.state };
try { await joined; out.code = 'joined?'; } catch (e) { out.code = e.code; }
out.events = events;
console.log(JSON.stringify(out));
`;

// A server refusal with no 'error' listener is logged (console.warn), and a failure a rejected
// connect() already reported is not logged again. Run as \`node node-warn.mjs SIM_URL|DEAD_URL\`.
const NODE_WARN_JS = `import init, { UChatBot } from 'uchat-bot';
const warns = [];
console.warn = (...a) => warns.push(a.join(' '));
await init();
const [url, dead] = process.argv[2].split('|');
const out = {};
const gone = new UChatBot({ room: 'consumer-warn', url: dead, nick: 'gone' });
try { await gone.connect(); } catch (e) { out.code = e.code; }
await new Promise((r) => setTimeout(r, 200));
out.afterReject = warns.length;
const bot = new UChatBot({ room: 'consumer-warn', url, nick: 'warnbot', rateLimit: false });
await bot.connect();
for (let i = 0; i < 12; i++) bot.send(String(i) + 'x'.repeat(9000));
for (let i = 0; i < 100 && warns.length < 10; i++) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 500));
bot.close();
out.warns = warns;
console.log(JSON.stringify(out));
`;

// init() with no argument where the .wasm is missing next to index.js (a copy of the package
// without it): code 'init', and the message says to serve the file or pass where it is.
const NODE_NOWASM_JS = `import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uchat-nowasm-'));
fs.cpSync('node_modules/uchat-bot', dir, { recursive: true, filter: (f) => !f.endsWith('.wasm') });
const { default: init } = await import(pathToFileURL(path.join(dir, 'index.js')).href);
const out = {};
try { await init(); out.code = 'resolved'; } catch (e) { out.code = e.code; out.message = e.message; out.cause = String(e.cause && e.cause.code); }
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
`;

/** Type-checked against the installed package's declarations under --strict. */
const USAGE_TS = `import init, { UChatBot, type UChatBotEvents, type User, type UChatError } from 'uchat-bot';

export async function main(url: string): Promise<string> {
  await init();
  const bot = new UChatBot({ room: 'r', url, nick: 'n', reconnect: { minDelayMs: 500, maxRetries: 3 }, rateLimit: false });
  bot
    .on('message', (m) => { const s: string = m.content; const h: boolean = m.history; void s; void h; })
    .on('user.join', ({ user }) => { const u: User = user; void u; })
    .on('disconnect', (d) => { const w: boolean = d.willReconnect; void w; })
    .once('error', (e) => { const c: number | string = e.code; void c; });
  bot.onCommand('ping', ({ reply, args, user }) => reply(\`pong \${args.length} \${user.nick}\`), { cooldownMs: 1000 });
  bot.command('mute', 'someone', 10, 'spam');
  bot.send('hi', { bold: true, color: '#f00' });
  const me: User = await bot.connect().catch((e: UChatError) => { throw new Error(String(e.code)); });
  const payload: UChatBotEvents['reconnecting'] = { attempt: 1, delayMs: 100 };
  // @ts-expect-error: unknown event names do not type-check
  bot.on('nosuch', () => {});
  // @ts-expect-error: 'message' payloads have no 'nick' field
  bot.on('message', (m) => m.nick);
  // @ts-expect-error: room is required
  new UChatBot({ nick: 'x' });
  const el = document.querySelector('u-chat');
  if (el) UChatBot.fromElement(el, { url });
  // README's quick start as written: a missing element is a runtime TypeError, not a type error.
  UChatBot.fromElement(document.querySelector('u-chat'), { url });
  // @ts-expect-error: the room is the element's own
  UChatBot.fromElement(el, { room: 'other' });
  // @ts-expect-error: user objects are frozen
  me.nick = 'other';
  return me.nick + bot.state + String(bot.queued) + String(payload.attempt) + String(bot.users.length);
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2022',
    module: 'es2022',
    moduleResolution: 'bundler',
    lib: ['es2022', 'dom'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  },
  files: ['usage.ts'],
};

/** The same declarations in a Node.js project without the DOM lib (and without @types/node:
 * the declarations must not need either), type-checked on their own. */
const NODE_USAGE_TS = `import init, { initSync, UChatBot, type InitInput, type UChatElement } from 'uchat-bot';

export async function main(url: string, wasm: Uint8Array): Promise<string> {
  const input: InitInput = wasm;
  await init(input);
  initSync({ module: wasm });
  const bot = new UChatBot({ room: 'r', url, nick: 'n' });
  bot.onCommand('ping', ({ reply }) => reply('pong'));
  const el: UChatElement = { getAttribute: (name) => (name === 'room' ? 'r' : null) };
  UChatBot.fromElement(el);
  // @ts-expect-error: fromElement needs something with getAttribute
  UChatBot.fromElement({ room: 'r' });
  return (await bot.connect()).nick;
}
`;

/** `using` frees a bot at the end of its block where the lib has `Disposable` (and the
 * declarations still compile where it has not: TSCONFIG_NODE's lib). */
const DISPOSE_TS = `import { UChatBot } from 'uchat-bot';

export function scoped(): void {
  using bot = new UChatBot({ room: 'r' });
  bot.send('bye');
  bot[Symbol.dispose]();
}
`;

const TSCONFIG_DISPOSE = {
  compilerOptions: { ...TSCONFIG.compilerOptions, lib: ['es2022', 'esnext.disposable'], types: [] },
  files: ['dispose.ts'],
};

const TSCONFIG_NODE = {
  compilerOptions: { ...TSCONFIG.compilerOptions, module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022'], types: [] },
  files: ['node-usage.ts'],
};

async function main() {
  if (!uchatBin) throw new Error('--uchat BIN (the uchat binary) is required');
  const require = createRequire(path.join(toolsDir, 'package.json'));
  const { chromium } = require('playwright-core');
  const tsc = path.join(toolsDir, 'node_modules/typescript/bin/tsc');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uchat-pkg-consumer-'));
  let sim = null;
  let browser = null;
  try {
    // npm pack + install into a fresh app.
    const packed = JSON.parse(run('npm', ['pack', pkgDir, '--json', '--pack-destination', tmp], { cwd: tmp }));
    const tarball = path.join(tmp, packed[0].filename);
    const files = packed[0].files.map((f) => f.path).sort();
    check('npm pack', fs.existsSync(tarball), tarball);
    // The JS snippets wasm-bindgen wrote (pkg/snippets/…, imported by uchat_bot.js) ship too.
    // `cargo xtask pkg` minifies every shipped JS file (terser) and writes its source map next to it.
    const snippets = listFiles(pkgDir, 'snippets');
    const shippedJs = ['index.js', 'uchat_bot.js', ...snippets.filter((f) => f.endsWith('.js'))];
    const want = ['LICENSE', 'README.md', 'index.d.ts', 'index.js', 'index.js.map', 'package.json', 'uchat_bot.js',
      'uchat_bot.js.map', 'uchat_bot_bg.wasm', ...snippets].sort();
    check('tarball holds exactly the package files', JSON.stringify(files) === JSON.stringify(want), files.join(', '));
    const unmapped = shippedJs.filter((f) => {
      const name = path.posix.basename(f);
      const js = fs.readFileSync(path.join(pkgDir, f), 'utf8');
      let map = null;
      try { map = JSON.parse(fs.readFileSync(path.join(pkgDir, `${f}.map`), 'utf8')); } catch { return true; }
      const minified = js.split('\n').length <= 3 && js.trimEnd().endsWith(`//# sourceMappingURL=${name}.map`);
      const readable = Array.isArray(map.sourcesContent) && map.sourcesContent.some((src) => src && src.split('\n').length > 20);
      return !(minified && readable && map.version === 3 && map.mappings.length > 0 && files.includes(`${f}.map`));
    });
    check('every shipped JS file is minified, with a source map holding the readable code', unmapped.length === 0,
      `not: ${unmapped.join(', ')}`);
    // Import statements, minified (`import{a as b}from"./x.js";…` on one line) or not.
    const glueImports = [...fs.readFileSync(path.join(pkgDir, 'uchat_bot.js'), 'utf8')
      .matchAll(/(?:^|[;\n])\s*import\s*(?:[\w$*\s{},]+?\s*from\s*)?['"]([^'"]+)['"]/g)].map((m) => m[1]);
    const unshipped = glueImports.filter((f) => !f.startsWith('./snippets/') || !files.includes(f.slice(2)));
    check('every module uchat_bot.js imports is in the tarball', unshipped.length === 0,
      `imports: ${glueImports.join(', ')}; not shipped: ${unshipped.join(', ')}`);

    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], { cwd: app });
    const installed = path.join(app, 'node_modules/uchat-bot');
    const meta = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    check('installed package.json: name, version, exports, types', meta.name === 'uchat-bot' && /^\d+\.\d+\.\d+/.test(meta.version) &&
      meta.exports['.'].types === './index.d.ts' && meta.exports['.'].default === './index.js' && meta.type === 'module',
      JSON.stringify(meta));

    fs.writeFileSync(path.join(app, 'main.js'), MAIN_JS);
    fs.writeFileSync(path.join(app, 'preinit.js'), PREINIT_JS);
    fs.writeFileSync(path.join(app, 'gc.js'), GC_JS);
    fs.writeFileSync(path.join(app, 'gc.html'), page('gc.js'));
    fs.writeFileSync(path.join(app, 'csp.js'), CSP_JS);
    fs.writeFileSync(path.join(app, 'nosimd.js'), NOSIMD_JS);
    fs.writeFileSync(path.join(app, 'nowasm.js'), NOWASM_JS);
    fs.writeFileSync(path.join(app, 'surface.js'), SURFACE_JS);
    fs.writeFileSync(path.join(app, 'surface.html'), page('surface.js'));
    fs.writeFileSync(path.join(app, 'nosimd.html'), page('nosimd.js'));
    fs.writeFileSync(path.join(app, 'nowasm.html'), page('nowasm.js'));
    fs.writeFileSync(path.join(app, 'index.html'), page('main.js'));
    fs.writeFileSync(path.join(app, 'preinit.html'), page('preinit.js'));
    fs.writeFileSync(path.join(app, 'csp.html'),
      page('csp.js', `<meta http-equiv="Content-Security-Policy" content="script-src 'self'">`));

    // (c) TypeScript: the shipped declarations type-check a strict usage file.
    fs.writeFileSync(path.join(app, 'usage.ts'), USAGE_TS);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    const t = spawnSync(process.execPath, [tsc, '-p', app], { encoding: 'utf8', timeout: 120_000 });
    check('tsc --strict type-checks usage.ts against index.d.ts', t.status === 0, `${t.stdout}${t.stderr}`);
    fs.writeFileSync(path.join(app, 'node-usage.ts'), NODE_USAGE_TS);
    fs.writeFileSync(path.join(app, 'tsconfig.node.json'), JSON.stringify(TSCONFIG_NODE, null, 2));
    const tn = spawnSync(process.execPath, [tsc, '-p', path.join(app, 'tsconfig.node.json')], { encoding: 'utf8', timeout: 120_000 });
    check('tsc --strict type-checks a Node.js usage file without the DOM lib', tn.status === 0, `${tn.stdout}${tn.stderr}`);
    fs.writeFileSync(path.join(app, 'dispose.ts'), DISPOSE_TS);
    fs.writeFileSync(path.join(app, 'tsconfig.dispose.json'), JSON.stringify(TSCONFIG_DISPOSE, null, 2));
    const td = spawnSync(process.execPath, [tsc, '-p', path.join(app, 'tsconfig.dispose.json')], { encoding: 'utf8', timeout: 120_000 });
    check('with esnext.disposable, `using bot = new UChatBot(…)` and bot[Symbol.dispose]() type-check', td.status === 0,
      `${td.stdout}${td.stderr}`);

    sim = await startSim(app);
    extraStops.push(sim.stop);
    const http = sim.url.replace(/^ws:/, 'http:');
    for (const [file, type] of [['node_modules/uchat-bot/uchat_bot_bg.wasm', 'application/wasm'], ['node_modules/uchat-bot/index.js', 'text/javascript']]) {
      const res = await fetch(`${http}/${file}`);
      const ct = res.headers.get('content-type') || '';
      check(`sim serves ${path.basename(file)} as ${type}`, res.ok && ct.startsWith(type), `${res.status} ${ct}`);
    }

    // Node.js: the same package runs a bot without a browser. init() with no argument reads
    // the wasm from disk; Node.js 22 has WebSocket (20 behind --experimental-websocket).
    {
      fs.writeFileSync(path.join(app, 'node-bot.mjs'), NODE_BOT_JS);
      fs.writeFileSync(path.join(app, 'node-reconnect.mjs'), NODE_RECONNECT_JS);
      fs.writeFileSync(path.join(app, 'node-close.mjs'), NODE_CLOSE_JS);
      fs.writeFileSync(path.join(app, 'node-warn.mjs'), NODE_WARN_JS);
      fs.writeFileSync(path.join(app, 'node-nowasm.mjs'), NODE_NOWASM_JS);
      const major = Number(process.versions.node.split('.')[0]);
      const wsFlags = major >= 22 ? [] : ['--experimental-websocket'];
      // Runs `node FLAGS SCRIPT URL` in the app; `onLine(text so far)` sees its output as it
      // comes. Resolves, once its output has closed (or after 30 s), with its last line parsed
      // (`out`) and whether it ended on its own and cleanly (`exited`: a handle left open would
      // end in the kill).
      const runNode = (flags, script, url, onLine = () => {}) => new Promise((resolve) => {
        const child = spawn(process.execPath, [...flags, script, url], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
        extraStops.push(() => child.kill('SIGKILL'));
        child.stdout.on('data', (d) => { text += d; onLine(text); });
        child.stderr.on('data', (d) => { text += d; });
        const done = (code, how) => {
          clearTimeout(kill);
          let out = null;
          try { out = JSON.parse(text.trim().split('\n').pop()); } catch { /* reported below */ }
          resolve({ out, exited: code === 0, detail: `node ${process.versions.node} ${flags.join(' ')} ${script}: ${how} ${text}` });
        };
        child.on('error', (e) => done(null, `error ${e.message}`));
        child.on('close', (code, signal) => done(code, `exit ${code ?? signal}`));
      });
      const withWs = await runNode(wsFlags, 'node-bot.mjs', sim.url);
      check('Node.js: init() with no argument, the bot joins and answers !ping', withWs.out && withWs.out.hasWebSocket &&
        !withWs.out.error && withWs.out.me === 'nodebot' && withWs.out.pong === 'pong' && withWs.out.state === 'closed',
        withWs.detail);
      check('Node.js: after close() nothing keeps the process running', withWs.exited, withWs.detail);
      check('Node.js: fromElement takes a stand-in with getAttribute; anything else is a TypeError',
        withWs.out && withWs.out.standIn === true && withWs.out.notElement === 'TypeError', withWs.detail);
      // A port nobody listens on: Node.js 20's WebSocket fires only `error` there (no
      // `close`), and connect() used to wait for good (the process then ended with exit 13,
      // an unsettled top-level await).
      const deadPort = await new Promise((resolve) => {
        const srv = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = srv.address();
          srv.close(() => resolve(port));
        });
      });
      const refused = await runNode(wsFlags, 'node-bot.mjs', `ws://127.0.0.1:${deadPort}`);
      const nowasm = await runNode([], 'node-nowasm.mjs', '');
      check("Node.js: init() with the .wasm missing rejects with code 'init' and says to serve it or pass where it is",
        nowasm.out && nowasm.out.code === 'init' && nowasm.out.cause === 'ENOENT' &&
        /Serve uchat_bot_bg\.wasm next to index\.js/.test(nowasm.out.message) && /init\(urlOrBytes\)/.test(nowasm.out.message),
        nowasm.detail);
      const warn = await runNode(wsFlags, 'node-warn.mjs', `${sim.url}|ws://127.0.0.1:${deadPort}`);
      check("Node.js: an 'error' nobody listens to is logged (console.warn, at most ten), a rejected connect()'s is not",
        warn.out && warn.out.code === 'handshake' && warn.out.afterReject === 0 && warn.out.warns.length === 10 &&
        /^uchat-bot: .*\(error 105; no 'error' listener\)$/.test(warn.out.warns[0]) &&
        /further errors go unlogged/.test(warn.out.warns[9]) && warn.exited, warn.detail);
      check("Node.js: connect() to a port nobody listens on rejects with code 'handshake'", refused.out &&
        refused.out.code === 'handshake' && refused.out.state === 'closed' && refused.exited, refused.detail);
      // A reconnect attempt to a server that has gone fails the same way, and the next attempt
      // follows (Node.js 20 used to stay in 'connecting' after the first).
      const gone = await startSim(app);
      extraStops.push(gone.stop);
      const re = await runNode(wsFlags, 'node-reconnect.mjs', gone.url, (text) => {
        if (/^joined$/m.test(text)) gone.stop();
      });
      check('Node.js: after the server goes away, reconnect attempts follow one another', re.out &&
        re.out.attempts.join() === '1,2,3' && re.out.state === 'closed' && re.exited, re.detail);

      const silent = net.createServer(() => { /* accepts, never answers the upgrade */ });
      await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
      extraStops.push(() => silent.close());
      const cl = await runNode(wsFlags, 'node-close.mjs', `ws://127.0.0.1:${silent.address().port}`);
      silent.close();
      // (Node.js keeps a socket in 'connecting' until it is answered; closing it must end the
      // attempt quietly: connect() rejects with 'closed', one disconnect, no crash.)
      check("Node.js: close() while the socket is still connecting rejects connect() with 'closed'", cl.out &&
        cl.out.stateBefore === 'connecting' && cl.out.state === 'closed' && cl.out.code === 'closed' &&
        cl.out.events.join() === 'disconnect 1000' && cl.exited, cl.detail);
      const noWs = await runNode(major >= 22 ? ['--no-experimental-websocket'] : [], 'node-bot.mjs', sim.url);
      check("Node.js without WebSocket: connect() rejects with code 'websocket' and says what to do", noWs.out &&
        noWs.out.hasWebSocket === false && noWs.out.code === 'websocket' && /ReferenceError/.test(noWs.out.message) &&
        /Node\.js use version 22/.test(noWs.out.message) && noWs.out.state === 'closed' && noWs.exited, noWs.detail);
    }

    browser = await chromium.launch({
      executablePath: chromiumBin,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic',
        '--js-flags=--expose-gc'],
    });
    const ctx = await browser.newContext();
    const result = async (url) => {
      const p = await ctx.newPage();
      const logs = [];
      p.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
      p.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
      try {
        await p.goto(url);
        await p.waitForSelector('body[data-result]', { state: 'attached', timeout: 30_000 });
        return { r: JSON.parse(await p.getAttribute('body', 'data-result')), logs };
      } catch (e) {
        return { r: { error: `${e.message}\n${logs.join('\n')}` }, logs };
      } finally {
        await p.close();
      }
    };

    // The bot joins and answers !ping.
    {
      const { r, logs } = await result(`${http}/index.html?ws=${encodeURIComponent(sim.url)}`);
      check('main page ran without error', !r.error, r.error);
      check('init(): concurrent calls share one promise; calling again resolves', r.samePromise === true && r.initAgain === true);
      check('new UChatBot is an instance of the exported class', r.instance === true);
      check("state 'idle' and me null before connect", r.stateBefore === 'idle' && r.meBefore === null, `${r.stateBefore} ${r.meBefore}`);
      check('on/once/off return the bot (chaining)', r.chain === true && r.offChain === true);
      check('off() removes the listener; once() fires once (over two messages)', r.listenerCalls &&
        r.listenerCalls.botSaw >= 2 && r.listenerCalls.offCalls === 0 && r.listenerCalls.onceCalls === 1,
        JSON.stringify(r.listenerCalls));
      check('connect() resolves with my user; getters me/state/room/queued/users work',
        r.meNick === 'pingbot' && r.state === 'joined' && r.getterMe === 'pingbot' && /^consumer/.test(r.roomId || '') &&
        r.queued === 'number' && r.usersHasMe === true, JSON.stringify(r));
      check('unknown event name throws a TypeError listing events', /unknown event/.test(r.badEvent || ''), r.badEvent);
      check('missing room throws a TypeError naming it', r.missingRoom === true);
      check('a ws:// url that is not a WebSocket URL (port, bracket, #fragment) throws a TypeError naming `url`',
        Array.isArray(r.badUrls) && r.badUrls.length === 3 && r.badUrls.every((m) => /^option `url` is not a valid WebSocket URL: "ws:/.test(m)),
        JSON.stringify(r.badUrls));
      check("second client's user.join seen by the bot", r.userJoinSeen === true);
      check('typed helpers (mute, ban, report, chatList, …) send exactly their command() line',
        Array.isArray(r.typed) && r.typed.length === 8 && r.typed.every((x) => x === true), JSON.stringify(r.typed));
      check('a typed helper with a wrong argument throws a TypeError naming it; command(\'\') too',
        r.typedError === true && r.emptyCommand === true, `${r.typedError} ${r.emptyCommand}`);
      check('a listener or handler that is not a function, or a plugin channel that is not a string, throws a TypeError naming it',
        JSON.stringify(r.notFunctions) === JSON.stringify(["on('message', fn): fn must be a function, got string",
          "once('error', fn): fn must be a function, got null", 'onCommand(name, handler): handler must be a function, got object',
          'plugin(channel, ...data): channel: must be a string, got number',
          "off('message', fn): fn must be a function, got undefined"]), JSON.stringify(r.notFunctions));
      check("'!ping' from a second client is answered with 'pong'", r.pong === 'pong', `${r.pong}; console: ${logs.join(' | ')}`);
      check("close() leaves state 'closed'", r.closed === 'closed', r.closed);
      const warned = logs.filter((l) => /MIME|deprecated/i.test(l));
      check('no wasm-bindgen MIME/deprecation warnings', warned.length === 0, warned.join(' | '));
    }

    // A connected bot that nothing references keeps running through garbage collection.
    {
      const { r } = await result(`${http}/gc.html?ws=${encodeURIComponent(sim.url)}`);
      check('gc page ran without error', !r.error, r.error);
      check('a connected bot nobody references survives gc() and still answers !ping',
        r.alive === true && r.pong === 'pong', JSON.stringify(r));
      check('once closed, the bot can be collected', r.released === true, JSON.stringify(r));
    }

    // (a) Using the class before init() explains how to initialise.
    {
      const { r } = await result(`${http}/preinit.html`);
      const how = (m) => typeof m === 'string' && m.includes("import init, { UChatBot } from 'uchat-bot';") && m.includes('await init();');
      check('new UChatBot before init() throws the how-to-initialise message', how(r.ctor), r.ctor || r.error);
      check('UChatBot.fromElement before init() throws the same help', how(r.el), r.el);
      check('while init() runs, the message says to await it', how(r.during) && /await it/.test(r.during), r.during);
      check('fromElement after init() returns the facade class (chainable)', r.fromElement === true, JSON.stringify(r));
      check('fromElement(null) (no <u-chat> on the page) throws a TypeError that says so', r.fromNull === true, String(r.fromNull));
      check('a second free() does nothing', r.freeTwice === true, String(r.freeTwice));
      check("after free(), methods and getters throw code 'freed' naming the member; still an instance",
        JSON.stringify(r.afterFree) === JSON.stringify(['state', 'send', 'on', 'connect'].map((m) =>
          `freed: uchat-bot: bot.${m} was used after bot.free(); create a new UChatBot`)) && r.freedInstance === true,
        JSON.stringify(r.afterFree) + ' ' + r.freedInstance);
      check("a freed subclass keeps its class and own methods; Symbol.dispose after free() does nothing, and disposing frees",
        JSON.stringify(r.subclass) === JSON.stringify([true, 'hi', 'freed']) && r.disposeAfterFree === true &&
        r.afterDispose === 'freed', JSON.stringify([r.subclass, r.disposeAfterFree, r.afterDispose]));
      check('initSync() while init() is loading throws (await init() instead) and the later bot works',
        /^not_initialized: .*still loading/.test(r.syncDuring || '') && r.fromElement === true, r.syncDuring);
    }

    // index.d.ts declares exactly the public surface the class has at run time (internal
    // `__…` members, `constructor` and the function's own length/name/prototype aside), so a
    // method added on one side only fails here.
    {
      const { r } = await result(`${http}/surface.html`);
      const [instance, statics] = declaredMembers(fs.readFileSync(path.join(pkgDir, 'index.d.ts'), 'utf8'));
      const pub = (names, skip) => new Set((names || []).filter((n) => !n.startsWith('__') && !skip.includes(n)));
      const rtInstance = pub(r.instance, ['constructor']);
      const rtStatics = pub(r.statics, ['length', 'name', 'prototype']);
      const diff = (a, b) => [...a].filter((n) => !b.has(n)).sort();
      const report = (rt, decl) => `undeclared: ${diff(rt, decl).join(', ') || '-'}; declared but missing: ${diff(decl, rt).join(', ') || '-'}`;
      check('index.d.ts declares every instance member the class has, and no other',
        !r.error && rtInstance.size > 20 && diff(rtInstance, instance).length === 0 && diff(instance, rtInstance).length === 0,
        r.error || report(rtInstance, instance));
      check('index.d.ts declares every static member the class has, and no other',
        !r.error && diff(rtStatics, statics).length === 0 && diff(statics, rtStatics).length === 0,
        r.error || report(rtStatics, statics));
    }

    // (b) A CSP without 'wasm-unsafe-eval' blocks WebAssembly: init() says what to add.
    {
      const { r } = await result(`${http}/csp.html`);
      console.log(`     init() under CSP said: ${r.message}`);
      check("init() under script-src 'self' rejects naming 'wasm-unsafe-eval'",
        typeof r.message === 'string' && r.message.includes("'wasm-unsafe-eval'") &&
        r.message.includes("script-src 'self' 'wasm-unsafe-eval'") && /userscript/i.test(r.message) && r.code === 'csp',
        r.message || r.error);
      check('after a CSP failure, new UChatBot reports the init failure', typeof r.after === 'string' && r.after.includes('wasm-unsafe-eval'), r.after);
    }

    // (b'') The .wasm not found: init() says where to point it.
    {
      const { r } = await result(`${http}/nowasm.html`);
      check("init(url) of a missing .wasm rejects with code 'init', points at what was passed, keeps the browser's error",
        r.code === 'init' && /could not be loaded/.test(r.message || '') && /Check what was passed to init\(\)/.test(r.message) &&
        /404/.test(r.cause || ''), JSON.stringify(r));
    }

    // (b') An engine without WebAssembly SIMD: init() names what the browser lacks.
    {
      const { r } = await result(`${http}/nosimd.html`);
      check('the SIMD probe validates in this Chromium (so the check cannot misfire)', r.probeValid === true, JSON.stringify(r));
      check('init() without WebAssembly SIMD rejects naming SIMD and the browser versions',
        typeof r.message === 'string' && r.message.includes('WebAssembly SIMD') && r.message.includes('Safari 16.4') &&
        r.code === 'no_simd', r.message || r.error);
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (sim) sim.stop();
    stopExtras();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Stops for what the Node.js checks start besides the main sim (run at the end, and by the
 * deadline, which does not wait for main's `finally`). */
const extraStops = [];
function stopExtras() {
  for (const stop of extraStops.splice(0)) {
    try { stop(); } catch { /* already stopped */ }
  }
}

const killer = setTimeout(() => {
  check(`finished within ${DEADLINE_MS / 1000} s`, false);
  finish();
  stopExtras();
  process.exit(1);
}, DEADLINE_MS);
main()
  .catch((e) => check('consumer test ran to the end', false, String(e && e.stack || e)))
  .finally(() => {
    clearTimeout(killer);
    finish();
  });
