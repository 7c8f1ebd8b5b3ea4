// Browser test of the single-file userscript build (dist/uchat-bot.user.js, made by
// `cargo xtask userscript`) and the example www/examples/command-bot.user.js, in headless
// Chromium against `uchat sim` (issue 5 point 2).
//
// Pages served by the sim (--www on a temporary directory) hold a <u-chat> element plus the two
// scripts as plain <script> tags, which is what a userscript manager does with @require and the
// script itself. Another client in the page sends !ping, !dice 20, !help, … and the answers must
// come back through the sim. A page whose CSP forbids WebAssembly must get a message naming
// 'wasm-unsafe-eval'.
//
// Run: `cargo xtask site-test userscript` (builds first), or `node tests/browser/site-userscript.mjs`
// after `cargo xtask userscript` and `cargo build -p uchat-cli`.
// Ends with `site-userscript: N passed, M failed`.

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { createHash } from 'node:crypto';
import { ROOT, launchChromium, pageAddClient, pageFindLine, run, startSim, uchatOutput, waitFor } from './site-lib.mjs';

const LIB = join(ROOT, 'dist', 'uchat-bot.user.js');
const EXAMPLE = join(ROOT, 'www', 'examples', 'command-bot.user.js');
const TOKEN = 'site-test-token-0123456789';

let sim;
let browser;
const dir = mkdtempSync(join(tmpdir(), 'uchat-userscript-'));

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function page(title, head, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${title}</title>${head}</head>` +
    `<body>${body}<script src="uchat-bot.user.js"></script>` +
    `<script src="command-bot.user.js"></script></body></html>\n`;
}

/** A second client in page `p` (see `pageAddClient`); resolves with its nick. */
const addClient = (p, options) => p.evaluate(pageAddClient, options);

/** Waits for a chat line from `nick` matching `re` after index `from`; returns it or null. */
async function reply(p, nick, re, from, timeoutMs = 5000) {
  return waitFor(() => p.evaluate(pageFindLine, { nick, src: re.source, from }), timeoutMs);
}

const seen = (p) => p.evaluate(() => window.got.length);

await run('site-userscript', async (t) => {
  // --- the file itself is a classic script -----------------------------------------------------
  if (!existsSync(LIB)) throw new Error(`${LIB} is missing: run \`cargo xtask userscript\` first`);
  const lib = readFileSync(LIB, 'utf8');
  // Compiling it as a classic script fails on any import/export left (the file is minified, so
  // this is checked by the parser, not by looking for lines).
  let classic = null;
  try { new vm.Script(lib, { filename: LIB }); } catch (e) { classic = e; }
  t.ok('library is a classic script: no ES module syntax left', classic === null && !lib.includes('import.meta'), String(classic));
  t.ok('library inlines the wasm as a base64 string', /"AGFzbQ[A-Za-z0-9+/]{1000,}={0,2}"/.test(lib));
  // `cargo xtask userscript` minifies the whole file (terser); the /*! header stays readable.
  t.ok('library is minified, its /*! header kept', lib.startsWith('/*! uchat-bot ') && lib.split('\n').length < 20,
    `${lib.split('\n').length} lines`);
  // The integrity hash `cargo xtask userscript` prints for `@require URL#sha256=…` is the file's.
  const sums = readFileSync(`${LIB}.sha256`, 'utf8');
  const sha256 = createHash('sha256').update(readFileSync(LIB)).digest('hex');
  t.ok('dist/uchat-bot.user.js.sha256 holds the file\'s SHA-256 (for @require …#sha256=)',
    sums === `${sha256}  uchat-bot.user.js\n`, `${sums.trim()} vs ${sha256}`);
  const example = readFileSync(EXAMPLE, 'utf8');
  t.ok('example has a userscript header with @match and @require',
    /^\/\/ ==UserScript==[\s\S]*\/\/ @match\s+\S+[\s\S]*\/\/ @require\s+\S+[\s\S]*\/\/ ==\/UserScript==/m.test(example));

  // --- pages ---------------------------------------------------------------------------------
  // The sim serves `dir`, which is filled below (files are read on each request).
  sim = await startSim(['--www', dir, '--room', 'lobby', '--room', 'hall', '--room', `shop:token=${TOKEN}`]);
  const token = (nick) => uchatOutput(['token', '--room', 'shop', '--nick', nick, '--auth', 'member'], { UCHAT_TOKEN: TOKEN });
  const [shopUd, aliceUd] = [await token('ShopKeeper'), await token('alice')];
  copyFileSync(LIB, join(dir, 'uchat-bot.user.js'));
  copyFileSync(EXAMPLE, join(dir, 'command-bot.user.js'));
  writeFileSync(join(dir, 'index.html'), page('token room',
    '', `<h1>A site with UChat</h1><u-chat room="shop" user_data="${attr(shopUd)}" data-uchat-url="${sim.ws}"></u-chat>`));
  writeFileSync(join(dir, 'guest.html'), page('guest room',
    `<script>window.UCHAT_BOT_URL = ${JSON.stringify(sim.ws)};</script>`, '<u-chat room="lobby"></u-chat>'));
  // A userscript manager runs @require'd files and the script as one function body.
  writeFileSync(join(dir, 'wrapped.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">' +
    `<u-chat room="hall" data-uchat-url="${sim.ws}"></u-chat><script>` +
    "Promise.all(['uchat-bot.user.js', 'command-bot.user.js'].map((f) => fetch(f).then((r) => r.text())))" +
    ".then(([lib, script]) => { window.__ran = true; new Function(lib + '\\n;\\n' + script)(); });</script>\n");
  writeFileSync(join(dir, 'csp.html'), page('csp',
    `<meta http-equiv="Content-Security-Policy" content="script-src 'self'">`, '<u-chat room="lobby"></u-chat>'));

  browser = await launchChromium();
  const errors = [];
  const wasmFetches = [];
  const open = async (path) => {
    const p = await browser.context.newPage();
    p.on('request', (r) => { if (/\.wasm(\?|$)/.test(r.url())) wasmFetches.push(`${path}: ${r.url()}`); });
    p.on('pageerror', (e) => errors.push(`${path}: ${e.message}`));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(`${path} console: ${m.text()}`); });
    await p.goto(`${sim.http}/${path}`);
    return p;
  };

  // --- token room: joins as the element's user ------------------------------------------------
  const p = await open('index.html');
  t.ok('UChatBot is a global function after the <script>', await p.evaluate(() => typeof window.UChatBot === 'function'));
  const joined = await waitFor(() => p.evaluate(() => globalThis.uchatCommandBot && globalThis.uchatCommandBot.state === 'joined' && globalThis.uchatCommandBot.me.nick), 8000);
  t.ok('example bot joined the token room as the <u-chat> user', joined === 'ShopKeeper', `got ${joined}; errors: ${errors.join(' | ')}`);
  t.ok('on() returns the bot, as in the npm package', await p.evaluate(() => {
    const b = new UChatBot({ room: 'x', url: 'ws://127.0.0.1:9' });
    const same = b.on('state', () => {}) === b;
    b.free();
    return same;
  }));
  const alice = await addClient(p, { room: 'shop', url: sim.ws, userData: aliceUd });
  t.ok('second client joined', alice === 'alice', alice);

  let from = await seen(p);
  const t0 = Date.now();
  await p.evaluate(() => window.client.send('!ping'));
  t.ok('!ping → pong', await reply(p, 'ShopKeeper', /^pong$/, from));

  from = await seen(p);
  await p.evaluate(() => window.client.send('!dice 20'));
  const dice = await reply(p, 'ShopKeeper', /rolled \d+ \(1–20\)/, from);
  const rolled = dice && Number(/rolled (\d+)/.exec(dice.content)[1]);
  t.ok('!dice 20 → a roll from 1 to 20 naming the user', dice && rolled >= 1 && rolled <= 20 && dice.content.includes('alice'), JSON.stringify(dice));

  from = await seen(p);
  await p.evaluate(() => window.client.send('!dice'));
  // Per-user cooldown is per command: a second !dice within 3 s is ignored.
  t.ok('second !dice within 3 s is ignored (per-user cooldown)', !(await reply(p, 'ShopKeeper', /rolled/, from, 1200)));

  from = await seen(p);
  await p.evaluate(() => window.client.send('!help'));
  const help = await reply(p, 'ShopKeeper', /!ping/, from);
  t.ok('!help lists !ping, !dice and !help', help && /!dice/.test(help.content) && /!help/.test(help.content), JSON.stringify(help));

  from = await seen(p);
  await p.evaluate(() => window.client.send('!ping'));
  t.ok('second !ping within 3 s is ignored', !(await reply(p, 'ShopKeeper', /^pong$/, from, 800)));
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + 3300 - Date.now())));
  from = await seen(p);
  await p.evaluate(() => window.client.send('!ping please'));
  t.ok('!ping answers again after the cooldown', await reply(p, 'ShopKeeper', /^pong$/, from));

  from = await seen(p);
  await p.evaluate(() => window.client.send('hello, no command here'));
  t.ok('ordinary chat gets no answer', !(await reply(p, 'ShopKeeper', /./, from, 800)));

  // --- guest room, URL from a global -----------------------------------------------------------
  const g = await open('guest.html');
  const guest = await waitFor(() => g.evaluate(() => globalThis.uchatCommandBot && globalThis.uchatCommandBot.state === 'joined' && globalThis.uchatCommandBot.me.nick), 8000);
  t.ok('example bot joins a guest room (URL from window.UCHAT_BOT_URL)', typeof guest === 'string' && guest.length > 0, String(guest));
  await addClient(g, { room: 'lobby', url: sim.ws, nick: 'bob' });
  from = await seen(g);
  await g.evaluate(() => window.client.send('!dice 1'));
  t.ok('guest bot answers !dice 1 with 1', await reply(g, guest, /rolled 1 \(1–1\)/, from));

  // --- library + script concatenated in one function, as a userscript manager runs them -------
  const wr = await open('wrapped.html');
  const wrapped = await waitFor(() => wr.evaluate(() => globalThis.uchatCommandBot && globalThis.uchatCommandBot.state === 'joined' && globalThis.uchatCommandBot.me.nick), 8000);
  t.ok('library + script run as one function body (userscript manager style) join', typeof wrapped === 'string', String(wrapped));
  await addClient(wr, { room: 'hall', url: sim.ws, nick: 'carol' });
  from = await seen(wr);
  await wr.evaluate(() => window.client.send('!ping'));
  t.ok('…and answer !ping', await reply(wr, wrapped, /^pong$/, from));

  t.ok('no page errors in the working pages', errors.length === 0, errors.join(' | '));
  t.ok('no page fetched a .wasm file (the single file holds it)', wasmFetches.length === 0, wasmFetches.join(' | '));

  // --- CSP without wasm-unsafe-eval -----------------------------------------------------------
  const c = await open('csp.html');
  const cspMessage = await c.evaluate(() => window.UChatBot && window.UChatBot.ready.then(() => 'resolved', (e) => e.message));
  console.log(`     (CSP message: ${cspMessage})`);
  t.ok('CSP without wasm-unsafe-eval: UChatBot.ready rejects naming wasm-unsafe-eval', typeof cspMessage === 'string' && cspMessage.includes('wasm-unsafe-eval'), cspMessage);
  const ctor = await c.evaluate(() => { try { new UChatBot({ room: 'lobby' }); return 'constructed'; } catch (e) { return e.message; } });
  t.ok('CSP: new UChatBot() throws the same explanation', ctor.includes('wasm-unsafe-eval'), ctor);
  t.ok('CSP: the console shows the explanation', errors.some((e) => e.startsWith('csp.html console:') && e.includes('wasm-unsafe-eval')), errors.join(' | '));
}, async () => {
  if (browser) await browser.close();
  if (sim) await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});
