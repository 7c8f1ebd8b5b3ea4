// The SDK's page-level forms in headless Firefox ESR: the Chromium suites (pkg, userscript,
// widget) drive Chromium through playwright-core, which cannot drive Debian's Firefox, so the
// facade (pkg/index.js: init(), WebAssembly compile, the class) and the single-file userscript
// build (base64 wasm compiled with initSync) would otherwise run in Firefox nowhere. This drives
// Firefox through geckodriver's W3C WebDriver HTTP API (./firefox.mjs, shared with the bench).
//
// Pages, served by `uchat sim --www` from a temporary directory:
//   * userscript.html: <u-chat> + dist/uchat-bot.user.js + www/examples/command-bot.user.js;
//     a second client in the page sends !ping, !dice 20 and !help; the example bot answers;
//   * package.html: an ES module that imports pkg/index.js (the npm package's facade, as
//     `cargo xtask demo` serves it), awaits init() and runs a bot that joins, answers !ping
//     from a second client and hears a line of Korean, emoji and escape bytes exactly;
//   * the demo page (www/, with a crowd): the <uchat-bot-widget> joins and shows the crowd,
//     starts the echo bot, and shows chat markup as text (nothing runs).
//
// Run: `cargo xtask site-test firefox` (builds dist/, www/pkg/ and uchat first), or
// `node tests/browser/site-firefox.mjs` after them. Environment: GECKODRIVER (default
// `geckodriver` on PATH), FIREFOX (default /usr/bin/firefox-esr).
// Ends with `site-firefox: N passed, M failed`.

import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFirefox } from './firefox.mjs';
import { ROOT, pageAddClient, pageFindLine, run, startSim, waitFor } from './site-lib.mjs';

const LIB = join(ROOT, 'dist', 'uchat-bot.user.js');
const EXAMPLE = join(ROOT, 'www', 'examples', 'command-bot.user.js');
const PKG = join(ROOT, 'www', 'pkg');

let sim;
let widgetSim;
let driver;
const dir = mkdtempSync(join(tmpdir(), 'uchat-firefox-'));

const page = (head, body) => '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">' +
  `<title>firefox</title>${head}</head><body>${body}</body></html>\n`;

await run('site-firefox', async (t) => {
  sim = await startSim(['--www', dir, '--room', 'lobby', '--room', 'hall']);
  copyFileSync(LIB, join(dir, 'uchat-bot.user.js'));
  copyFileSync(EXAMPLE, join(dir, 'command-bot.user.js'));
  cpSync(PKG, join(dir, 'pkg'), { recursive: true });
  writeFileSync(join(dir, 'userscript.html'), page('',
    `<u-chat room="lobby" data-uchat-url="${sim.ws}"></u-chat>` +
    '<script src="uchat-bot.user.js"></script><script src="command-bot.user.js"></script>'));
  writeFileSync(join(dir, 'package.html'), page('', `<script type="module">
    import init, { UChatBot } from './pkg/index.js';
    window.UChatBot = UChatBot; // for pageAddClient
    window.ready = init().then(async () => {
      const bot = new UChatBot({ room: 'hall', url: ${JSON.stringify(sim.ws)}, nick: 'foxbot' });
      bot.onCommand('ping', ({ reply, user }) => reply('pong ' + user.nick));
      window.heard = [];
      bot.on('message', (m) => { if (!m.self && !m.history) window.heard.push(m.content); });
      window.bot = bot;
      return (await bot.connect()).nick;
    });
  </script>`));

  driver = await startFirefox();
  console.log(`     Firefox ${driver.version}`);

  // --- the userscript build and the example bot ---------------------------------------------
  await driver.navigate(`${sim.http}/userscript.html`);
  const joined = await waitFor(() => driver.exec(() => globalThis.uchatCommandBot && globalThis.uchatCommandBot.state === 'joined' &&
    globalThis.uchatCommandBot.me.nick), 10000, 100);
  t.ok('userscript build: the example bot joined the <u-chat> room in Firefox', typeof joined === 'string' && joined.length > 0, String(joined));
  const alice = await driver.exec(pageAddClient, { room: 'lobby', url: sim.ws, nick: 'alice' });
  t.ok('userscript build: a second client joined', alice === 'alice', String(alice));
  const ask = async (text, re) => {
    const from = await driver.exec(() => window.got.length);
    await driver.exec((s) => window.client.send(s), text);
    return waitFor(() => driver.exec(pageFindLine, { nick: joined, src: re.source, from }), 5000, 100);
  };
  t.ok('userscript build: !ping → pong', await ask('!ping', /^pong$/));
  const dice = await ask('!dice 20', /rolled \d+ \(1–20\)/);
  const rolled = dice && Number(/rolled (\d+)/.exec(dice.content)[1]);
  t.ok('userscript build: !dice 20 → a roll from 1 to 20', rolled >= 1 && rolled <= 20, JSON.stringify(dice));
  const help = await ask('!help', /!ping/);
  t.ok('userscript build: !help lists the commands', help && /!dice/.test(help.content), JSON.stringify(help));

  // --- the npm package's facade ---------------------------------------------------------------
  await driver.navigate(`${sim.http}/package.html`);
  const fox = await waitFor(() => driver.exec(() => window.ready || null), 10000, 100);
  t.ok('package: init() and connect() in Firefox; the bot joined', fox === 'foxbot', String(fox));
  const bob = await driver.exec(pageAddClient, { room: 'hall', url: sim.ws, nick: 'bob' });
  t.ok('package: a second client joined', bob === 'bob', String(bob));
  let from = await driver.exec(() => window.got.length);
  await driver.exec(() => window.client.send('!ping'));
  t.ok('package: !ping → pong bob', await waitFor(() => driver.exec(pageFindLine, { nick: 'foxbot', src: '^pong bob$', from }), 5000, 100));
  // Text through the wire format both ways (escapes, UTF-8 → UTF-16 in Firefox's engine).
  const text = '안녕 😀 a\\b "q" <b>x</b> ' + 'ㅋ'.repeat(40);
  await driver.exec((s) => window.client.send(s), text);
  const heard = await waitFor(() => driver.exec((s) => window.heard.includes(s) || null, text), 5000, 100);
  t.ok('package: a Korean/emoji/escape-laden line arrives exactly', heard === true,
    JSON.stringify(await driver.exec(() => window.heard)));

  // --- the demo page's <uchat-bot-widget> -----------------------------------------------------
  widgetSim = await startSim(['--www', join(ROOT, 'www'), '--crowd', '3', '--crowd-interval', '1']);
  await driver.navigate(`${widgetSim.http}/`);
  // In the page, inside the widget's shadow root.
  const inWidget = (src, arg) => driver.exec((src, arg) =>
    new Function('root', 'arg', src)(document.querySelector('uchat-bot-widget').shadowRoot, arg), src, arg);
  const lines = () => inWidget(`return [...root.querySelectorAll('.log .line:not(.event)')].map((li) => ({
    nick: li.querySelector('.nick').textContent, text: li.querySelector('.text').textContent }));`);
  const line = (pred) => waitFor(async () => (await lines()).find(pred), 8000, 100);
  t.ok('widget: joins the room and shows the crowd talking', await line((l) => !l.nick.startsWith('viewer')),
    JSON.stringify(await inWidget(`return root.querySelector('.status').textContent;`)));
  await inWidget(`root.querySelector('select').value = 'echo'; root.querySelector('button.start').click();`);
  const echoNick = await waitFor(() => inWidget(`const c = root.querySelector('.chip[data-state=joined] .name');
    return c && c.textContent;`), 8000, 100);
  t.ok('widget: the echo bot starts', /^EchoBot\d+$/.test(echoNick || ''), String(echoNick));
  const XSS = '<img src=x onerror="window.__xss=1">';
  await driver.exec((url, text) => import('/pkg/index.js').then(async (sdk) => {
    await sdk.default();
    window.tester = new sdk.UChatBot({ room: 'lobby', url, nick: 'tester' });
    await window.tester.connect();
    window.tester.send(text);
  }), widgetSim.ws, XSS);
  const echoed = await line((l) => l.nick === echoNick && l.text === `🔁 tester: ${XSS}`);
  t.ok('widget: chat markup is shown as text and echoed; nothing ran, no <img> in the widget',
    echoed && await line((l) => l.nick === 'tester' && l.text === XSS) &&
    (await inWidget(`return root.querySelectorAll('img').length;`)) === 0 &&
    (await driver.exec(() => window.__xss === undefined)), JSON.stringify((await lines()).slice(-3)));
}, async () => {
  if (driver) await driver.close();
  if (sim) await sim.stop();
  if (widgetSim) await widgetSim.stop();
  rmSync(dir, { recursive: true, force: true });
});
