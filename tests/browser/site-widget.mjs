// Browser test of the demo page www/index.html and its <uchat-bot-widget> (issue 5 point 3), in
// headless Chromium against `uchat sim --www www --crowd 3 --crowd-interval 1`.
//
// Clicks through the page: the widget joins and shows the crowd's users and chat, the echo bot
// starts and echoes a line another in-page client sends, the dice bot answers !dice typed into the
// widget's own input, the greeter welcomes a newcomer, a bot stops, a bot stopped before it has
// joined is not reported as an error. Chat text and nicks holding markup (`<img src=x onerror=…>`)
// must show as text and run nothing. A second widget, against a second sim whose connections drop
// after 4 s, joins a room that already holds 20 chat lines: it must show the history once (the
// SDK's `chatList 15`), after its join and after a re-join. A narrow (phone) viewport must stack
// the user list above the chat without sideways scrolling. A third widget, against a small
// stand-in server that sends 300 joins (then lines, then quits) in one WebSocket frame, must put
// each burst on the page in at most two user-list rebuilds and log appends (counted by
// MutationObservers, not timed), also when no animation frame runs. Saves a screenshot to
// $SITE_WIDGET_SCREENSHOT (default: $CARGO_TARGET_DIR/site-widget.png).
//
// Run: `cargo xtask site-test widget` (builds www/pkg and uchat first), or
// `node tests/browser/site-widget.mjs` after `cargo xtask demo` has built www/pkg.
// Ends with `site-widget: N passed, M failed`.

import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, launchChromium, run, startSim, waitFor } from './site-lib.mjs';

const SHOT = process.env.SITE_WIDGET_SCREENSHOT ||
  join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'site-widget.png');
const XSS = '<img src=x onerror="window.__xss=1">';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on (for a server that is down, then started there). */
const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.on('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

// Server lines for the stand-in server below (docs/protocol/PROTOCOL.md §2): fields with their
// type byte and escapes, a line with its line-layer escapes and end.
const escField = (bytes) => [...bytes].flatMap((b) => (b === 0x5c || (b >= 2 && b <= 7) ? [0x5c, b] : [b]));
const str = (s) => [3, ...escField(Buffer.from(s, 'utf8'))];
const bin = (s) => [2, ...escField(Buffer.from(s, 'latin1'))];
const num = (n) => {
  const b = [];
  for (; n > 0; n = Math.floor(n / 256)) b.push(n % 256);
  return [5, ...escField(b)];
};
const wire = (key, ...fields) => [...Buffer.from(key), ...fields.flat()]
  .flatMap((b) => (b === 0x0a ? [0x5c, b] : [b])).concat(0x0a);
const now = () => Math.floor(Date.now() / 1000);
/** `k`: a user record (key: 8 ASCII bytes). */
const kLine = (key, nick, auth = 0) => wire('k', bin(key), str(nick), str(''), [6], num(auth), str(''), str(''),
  num(now()), num(0), bin('sess' + key.slice(4)));

/**
 * A stand-in UChat server on a free loopback port, for what `uchat sim` does not send: hundreds
 * of lines in one WebSocket frame, as when a whole room rejoins after a server restart. It
 * answers a join (`i1`, `k`, `i2`: the viewer is `watcher`) and the user list the SDK asks for
 * (`users`: key → [nick, auth], kept by the test); `send(lines)` sends lines to every client in
 * one binary frame. Just enough WebSocket (RFC 6455) for a browser's client: no fragments.
 */
function standInServer() {
  const users = new Map([['watcher0', ['watcher', 0]]]);
  const clients = new Set();
  const frame = (lines) => {
    const payload = Buffer.from(lines.flat());
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x82, n])
      : n < 65536 ? Buffer.from([0x82, 126, n >> 8, n & 255])
        : Buffer.concat([Buffer.from([0x82, 127]), Buffer.from(BigInt(n).toString(16).padStart(16, '0'), 'hex')]);
    return Buffer.concat([head, payload]);
  };
  const answer = (sock, data) => {
    for (const line of data.toString('latin1').split('\n')) {
      const key = line.split(/[\x02-\x07]/)[0];
      if (key === 'j') {
        sock.write(frame([wire('i1', str('lobby'), num(0), num(now()), bin('\x3a\x00'), num(now())),
          kLine('watcher0', 'watcher'), wire('i2', bin('watcher0'))]));
      } else if (line.includes('userList')) {
        const list = [...users].flatMap(([k, [nick, auth]]) => [kLine(k, nick, auth), wire('u', bin(k))]);
        sock.write(frame([...list, wire('u'), wire('c', num(users.size))]));
      }
    }
  };
  const server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    let open = false;
    sock.on('error', () => {});
    sock.on('close', () => clients.delete(sock));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const wsKey = /^sec-websocket-key:\s*(\S+)/im.exec(buf.subarray(0, end).toString('latin1'))[1];
        const accept = createHash('sha1').update(`${wsKey}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
        buf = buf.subarray(end + 4);
        open = true;
        clients.add(sock);
      }
      // Client frames: masked, each whole (a browser does not fragment short messages).
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let at = 2;
        if (len === 126) [len, at] = [buf.length < 4 ? Infinity : buf.readUInt16BE(2), 4];
        else if (len === 127) [len, at] = [buf.length < 10 ? Infinity : Number(buf.readBigUInt64BE(2)), 10];
        if (buf.length < at + 4 + len) return;
        const mask = buf.subarray(at, at + 4);
        const data = Buffer.from(buf.subarray(at + 4, at + 4 + len)).map((b, i) => b ^ mask[i & 3]);
        const op = buf[0] & 0x0f;
        buf = buf.subarray(at + 4 + len);
        if (op === 8) {
          sock.end();
          return;
        }
        if (op === 2) answer(sock, Buffer.from(data));
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({
      url: `ws://127.0.0.1:${server.address().port}`,
      users,
      send: (lines) => { for (const c of clients) c.write(frame(lines)); },
      stop: () => new Promise((done) => {
        for (const c of clients) c.destroy();
        server.close(() => done());
      }),
    }));
  });
}

let sim;
let sim2;
let sim3;
let simE;
let embedDir;
let standIn;
let browser;

await run('site-widget', async (t) => {
  if (!existsSync(join(ROOT, 'www', 'pkg', 'index.js'))) {
    throw new Error('www/pkg is missing: run `cargo xtask demo` (or `cargo xtask site-test widget`)');
  }
  sim = await startSim(['--www', join(ROOT, 'www'), '--crowd', '3', '--crowd-interval', '1']);
  browser = await launchChromium();
  const p = await browser.context.newPage();
  await p.setViewportSize({ width: 1040, height: 860 });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  // The browser logs each refused WebSocket; those to the server that is down on purpose are expected.
  let downUrl = null;
  p.on('console', (m) => {
    if (m.type() === 'error' && !(downUrl && m.text().startsWith(`WebSocket connection to '${downUrl}/' failed`))) {
      errors.push(`console: ${m.text()}`);
    }
  });
  await p.goto(`${sim.http}/`);

  // Helpers that look inside the widget's shadow root.
  const w = (fn, arg) => p.evaluate(([src, arg]) => {
    const root = document.querySelector('uchat-bot-widget').shadowRoot;
    return new Function('root', 'arg', src)(root, arg);
  }, [fn, arg]);
  const logLines = () => w(`return [...root.querySelectorAll('.log .line:not(.event):not(.notice)')].map((li) => ({
      nick: li.querySelector('.nick').textContent, text: li.querySelector('.text').textContent }));`);
  const userNicks = () => w(`return [...root.querySelectorAll('.users li .who')].map((e) => e.textContent);`);
  const status = () => w(`const s = root.querySelector('.status'); return { state: s.dataset.state, text: s.textContent };`);
  const findLine = (pred, timeoutMs = 6000) => waitFor(async () => (await logLines()).find(pred), timeoutMs);

  // --- loads, joins, shows the crowd ----------------------------------------------------------
  const joined = await waitFor(async () => (await status()).state === 'joined', 10000);
  t.ok('widget joins the room (status joined)', joined, JSON.stringify(await status()));
  t.ok('status line names the room and says read-only', /#lobby .*read-only/.test((await status()).text), (await status()).text);
  const crowd = await waitFor(async () => (await userNicks()).filter((n) => !n.startsWith('viewer')).length >= 2 && await userNicks(), 8000);
  t.ok('user list shows the simulated users', crowd, JSON.stringify(await userNicks()));
  const chatter = await findLine((l) => !l.nick.startsWith('viewer'), 8000);
  t.ok('chat shows the crowd talking', chatter, JSON.stringify(chatter));
  t.ok('header counts the people online', /^\d+ online$/.test(await w(`return root.querySelector('.count').textContent;`)));

  // --- echo bot ------------------------------------------------------------------------------
  await p.locator('uchat-bot-widget select').selectOption('echo');
  await p.locator('uchat-bot-widget button.start').click();
  const echoNick = await waitFor(() => w(`const c = root.querySelector('.chip[data-state=joined] .name'); return c && c.textContent;`), 8000);
  t.ok('echo bot starts (chip joined)', echoNick && /^EchoBot\d+$/.test(echoNick), String(echoNick));
  t.ok('echo bot appears in the user list', await waitFor(async () => (await userNicks()).includes(echoNick), 5000));
  t.ok('status line lists the running bot', await waitFor(async () => (await status()).text.includes(echoNick), 3000), (await status()).text);

  // The status (a live region) is not rewritten when its text stays the same, as at each join/leave.
  const rewrites = await w(`const s = root.querySelector('.status');
    const seen = [];
    const watch = new MutationObserver((ms) => seen.push(...ms.map((m) => m.type)));
    watch.observe(s, { attributes: true, childList: true, subtree: true, characterData: true });
    for (let i = 0; i < 3; i++) root.host.renderUsers();
    return new Promise((resolve) => setTimeout(() => { watch.disconnect(); resolve(seen); }, 0));`);
  t.ok('the status is not rewritten when its text does not change', rewrites.length === 0, JSON.stringify(rewrites));

  // Another client in the page, through the SDK the widget loaded.
  const tester = await p.evaluate(async (url) => {
    const sdk = await import('/pkg/index.js');
    await sdk.default();
    window.tester = new sdk.UChatBot({ room: 'lobby', url, nick: 'tester' });
    return (await window.tester.connect()).nick;
  }, sim.ws);
  t.ok('second in-page client joins', tester === 'tester', tester);
  await p.evaluate(() => window.tester.send('hello echo 123'));
  t.ok('the widget shows the tester line', await findLine((l) => l.nick === 'tester' && l.text === 'hello echo 123'));
  await p.evaluate(() => window.tester.send('שלום עולם!'));
  t.ok('a right-to-left line and the nicks get dir=auto (read right to left)', await findLine((l) => l.text === 'שלום עולם!') &&
    await w(`const els = [...root.querySelectorAll('.log .line:not(.event):not(.notice) .text, .log .line .nick, .users .who')];
      return els.length > 0 && els.every((e) => e.dir === 'auto');`));
  const echo = await findLine((l) => l.nick === echoNick && l.text === '🔁 tester: hello echo 123');
  t.ok('echo bot echoes it through the sim', echo, JSON.stringify(await logLines()).slice(-400));

  // --- dice bot, typed into the widget ---------------------------------------------------------
  await p.locator('uchat-bot-widget select').selectOption('dice');
  await p.locator('uchat-bot-widget button.start').click();
  const diceNick = await waitFor(() => w(`const c = [...root.querySelectorAll('.chip[data-state=joined] .name')].map((e) => e.textContent).find((n) => n.startsWith('DiceBot')); return c;`), 8000);
  t.ok('dice bot starts', diceNick, String(diceNick));
  await p.locator('uchat-bot-widget input[type=text]').fill('!dice 20');
  await p.locator('uchat-bot-widget input[type=text]').press('Enter');
  const roll = await findLine((l) => l.nick === diceNick && /rolled \d+ \(1–20\)/.test(l.text), 8000);
  const n = roll && Number(/rolled (\d+)/.exec(roll.text)[1]);
  t.ok('dice bot answers !dice 20 typed into the widget', roll && n >= 1 && n <= 20, JSON.stringify(roll));
  t.ok('the input is cleared after sending', (await p.locator('uchat-bot-widget input[type=text]').inputValue()) === '');

  // A second bot of a kind already running would answer everything twice: not started.
  const twice = await w(`const before = root.querySelectorAll('.chip').length;
    root.querySelector('select').value = 'dice';
    root.querySelector('button.start').click();
    return { before, after: root.querySelectorAll('.chip').length, status: root.querySelector('.status').textContent,
      disabled: root.querySelector('option[value=dice]').disabled };`);
  t.ok('a second dice bot is not started; the status says why; the option is greyed out',
    twice.after === twice.before && /already running/.test(twice.status) && twice.disabled, JSON.stringify(twice));

  // --- greeter --------------------------------------------------------------------------------
  await p.locator('uchat-bot-widget select').selectOption('greeter');
  await p.locator('uchat-bot-widget button.start').click();
  const greeter = await waitFor(() => w(`return [...root.querySelectorAll('.chip[data-state=joined] .name')].map((e) => e.textContent).find((n) => n.startsWith('Greeter'));`), 8000);
  t.ok('greeter starts', greeter, String(greeter));
  await p.evaluate(async (url) => {
    const sdk = await import('/pkg/index.js');
    window.newcomer = new sdk.UChatBot({ room: 'lobby', url, nick: 'newcomer' });
    await window.newcomer.connect();
  }, sim.ws);
  t.ok('greeter welcomes a newcomer', await findLine((l) => l.nick === greeter && l.text.includes('newcomer')));
  // …but not the widget's own connections: a new sender for the visitor (the old one closed).
  await w(`root.host.visitor.close(); root.host.say('back again'); return true;`);
  t.ok('the visitor\'s new connection sends', await findLine((l) => /^you\d+$/.test(l.nick) && l.text === 'back again'));
  await sleep(1500);
  const ownWelcomes = await w(`const own = [...root.host.ownNicks()];
    return [...root.querySelectorAll('.log .line .text')].map((e) => e.textContent)
      .filter((x) => x.startsWith('👋') && own.some((n) => x.includes(n + '!')));`);
  t.ok('the greeter does not welcome the widget\'s own connections', ownWelcomes.length === 0, JSON.stringify(ownWelcomes));

  // The screenshot: three bots at work (the pointer moved away so no button shows hover).
  await p.mouse.move(0, 0);
  await new Promise((r) => setTimeout(r, 700));
  await p.screenshot({ path: SHOT });
  console.log(`     screenshot: ${SHOT}`);

  // --- markup is text --------------------------------------------------------------------------
  await p.evaluate((x) => window.tester.send(x), XSS);
  t.ok('markup in chat is shown as text', await findLine((l) => l.nick === 'tester' && l.text === XSS));
  t.ok('…and echoed as text', await findLine((l) => l.nick === echoNick && l.text === `🔁 tester: ${XSS}`));
  let markupNick = null;
  try {
    markupNick = await p.evaluate(async (url) => {
      const sdk = await import('/pkg/index.js');
      window.evil = new sdk.UChatBot({ room: 'lobby', url, nick: '<b>bold</b>', reconnect: false });
      return (await window.evil.connect()).nick;
    }, sim.ws);
  } catch (e) {
    console.log(`     (the sim refused a nick with markup: ${e.message.split('\n')[0]})`);
  }
  if (markupNick) {
    t.ok('a nick with markup is listed as text', await waitFor(async () => (await userNicks()).includes('<b>bold</b>'), 4000));
    await p.evaluate(() => window.evil.send('hi from evil'));
    t.ok('…and shown as text in chat', await findLine((l) => l.nick === '<b>bold</b>'));
  }
  await new Promise((r) => setTimeout(r, 300));
  const injected = await w(`return { img: root.querySelectorAll('img').length, b: root.querySelectorAll('.log b, .users b').length,
    pageImg: document.querySelectorAll('img').length, xss: window.__xss };`);
  t.ok('no <img>/<b> element created and window.__xss undefined', injected.img === 0 && injected.b === 0 &&
    injected.pageImg === 0 && injected.xss === undefined, JSON.stringify(injected));
  // A server may stamp a line with a time no Date can hold: the line is still shown.
  const farOff = await p.evaluate(() => {
    try {
      document.querySelector('uchat-bot-widget')
        .addMessage({ user: { nick: 'clock' }, content: 'a time out of range', time: 1e16, history: false });
      return 'ok';
    } catch (e) {
      return String(e);
    }
  });
  t.ok('a line with an out-of-range time is shown', farOff === 'ok' &&
    await findLine((l) => l.nick === 'clock' && l.text === 'a time out of range'), farOff);

  // A line of 1500 newlines must not take over the log: its height is capped, it scrolls inside.
  await p.evaluate(() => window.tester.send(`top${'\n'.repeat(1500)}bottom`));
  t.ok('a line of 1500 newlines arrives', await findLine((l) => l.nick === 'tester' && l.text.startsWith('top\n') && l.text.endsWith('bottom')));
  const tall = await w(`const li = [...root.querySelectorAll('.log .line')].find((l) => l.textContent.endsWith('bottom'));
    const text = li.querySelector('.text');
    return { height: li.getBoundingClientRect().height, log: root.querySelector('.log').clientHeight, tab: text.tabIndex };`);
  t.ok('…its height is capped below the log\'s, and the keyboard can scroll it',
    tall.height < tall.log / 2 && tall.tab === 0, JSON.stringify(tall));

  // --- reading older lines -------------------------------------------------------------------
  // Scrolled up, the reader keeps what they read: no pruning from the top (up to 2000 lines), and
  // a button leads back to the newest; there, the log is pruned to 200 lines again. (The widget
  // puts queued lines on the page once per animation frame; `flush()` does it at once.)
  const filler = (label, n) => w(`for (let i = 0; i < ${n}; i++) {
      root.host.addMessage({ user: { nick: 'filler' }, content: '${label} ' + i, time: 0, history: false });
    }
    root.host.flush();
    return true;`);
  await filler('filler', 60);
  const topLine = await w(`const log = root.querySelector('.log'); log.scrollTop = 0; return log.firstElementChild.textContent;`);
  await sleep(200);
  await filler('more', 250);
  const scrolled = await w(`const log = root.querySelector('.log'); const jump = root.querySelector('.jump');
    return { first: log.firstElementChild.textContent, lines: log.children.length, top: log.scrollTop, jump: !!jump && !jump.hidden };`);
  t.ok('scrolled up: the line being read stays, the log is not pruned to 200, and a "new messages" button shows',
    scrolled.first === topLine && scrolled.lines > 200 && scrolled.top < 50 && scrolled.jump, JSON.stringify(scrolled));
  await w(`const jump = root.querySelector('.jump'); if (jump) jump.click(); return true;`);
  const back = await waitFor(() => w(`const log = root.querySelector('.log'); const jump = root.querySelector('.jump');
    return log.children.length <= 200 && log.scrollHeight - log.scrollTop - log.clientHeight < 40 && jump && jump.hidden;`), 3000);
  t.ok('…the button jumps to the newest line, hides, and pruning resumes', back,
    JSON.stringify(await w(`const log = root.querySelector('.log'); return { lines: log.children.length, gap: log.scrollHeight - log.scrollTop - log.clientHeight };`)));

  // Nick colours: every hue reaches 4.5:1 on the light theme's white (one nick per hue: a
  // one-character nick's hash is its code point).
  const nickContrast = await w(`const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = (c) => { const [r, g, b] = c.slice(c.indexOf('(') + 1, -1).split(',').map(Number);
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b); };
    const bg = lum(getComputedStyle(root.querySelector('.frame')).backgroundColor);
    let worst = { ratio: 99 };
    for (let k = 0; k < 360; k++) {
      const nick = String.fromCodePoint(0x4e00 + k);
      root.host.addMessage({ user: { nick }, content: 'hue', time: 0, history: false });
      root.host.flush();
      const li = root.querySelector('.log').lastElementChild;
      const color = getComputedStyle(li.querySelector('.nick')).color;
      li.remove();
      const ratio = (Math.max(bg, lum(color)) + 0.05) / (Math.min(bg, lum(color)) + 0.05);
      if (ratio < worst.ratio) worst = { ratio, color, hue: (0x4e00 + k) % 360 };
    }
    return worst;`);
  t.ok('every nick colour has at least 4.5:1 contrast on white', nickContrast.ratio >= 4.5, JSON.stringify(nickContrast));
  const marked = await w(`root.host.addMessage({ user: { nick: 'old' }, content: 'an earlier line', time: 0, history: true });
    root.host.flush();
    const li = root.querySelector('.log').lastElementChild;
    const cs = getComputedStyle(li);
    const mark = { history: li.classList.contains('history'), opacity: cs.opacity, border: cs.borderLeftWidth };
    li.remove();
    return mark;`);
  t.ok('history lines are marked by a border, not faded (their text keeps its contrast)',
    marked.history && marked.opacity === '1' && parseFloat(marked.border) >= 2, JSON.stringify(marked));

  // --- stop a bot ----------------------------------------------------------------------------
  // The chips' ✕: big enough to hit, named after its bot, the state in words; the "Bot" label
  // names the dropdown.
  const chipA11y = await w(`const chip = [...root.querySelectorAll('.chip')].find((c) => c.querySelector('.name').textContent === arg);
    const b = chip.querySelector('button');
    const r = b.getBoundingClientRect();
    return { w: r.width, h: r.height, name: b.getAttribute('aria-label'), state: chip.querySelector('.state') && chip.querySelector('.state').textContent,
      labelled: root.querySelector('.bots label').control === root.querySelector('select') };`, echoNick);
  t.ok('a chip\'s ✕ is at least 24×24 px and named after its bot; the state is in words; the label names the dropdown',
    chipA11y.w >= 24 && chipA11y.h >= 24 && chipA11y.name === `Stop ${echoNick}` && chipA11y.state === 'running' && chipA11y.labelled,
    JSON.stringify(chipA11y));
  // Stopped from the keyboard: focus moves on to the next chip's ✕, not lost to the page.
  await p.locator('uchat-bot-widget .chip', { hasText: echoNick }).locator('button').focus();
  await p.keyboard.press('Enter');
  const focused = await w(`const a = root.activeElement; return a && (a.getAttribute('aria-label') || a.textContent);`);
  t.ok('after a chip\'s ✕, focus is on the next chip\'s ✕', /^Stop DiceBot\d+$/.test(focused || ''), String(focused));
  t.ok('stopping the echo bot removes it from the room', await waitFor(async () => !(await userNicks()).includes(echoNick), 5000));
  t.ok('two bots still running', (await w(`return root.querySelectorAll('.chip').length;`)) === 2);
  await p.evaluate(() => { if (window.evil) window.evil.close(); window.newcomer.close(); });

  // --- the visitor's lines: refused, held ------------------------------------------------
  // (After the echo bot stopped: in a busy room its answers fall behind.)
  // Refused lines are said, not dropped silently: the sim refuses a 4th identical
  // line in a row (ERR 430).
  for (let i = 0; i < 4; i++) {
    await w(`root.host.say('same line'); return true;`);
    await sleep(150);
  }
  const notice = await waitFor(() => w(`const n = [...root.querySelectorAll('.log .line.notice')].pop(); return n && n.textContent;`), 5000);
  t.ok('a line the server refuses (ERR 430) shows as "Not sent" in the log', notice && /Not sent.*430/.test(notice), String(notice));
  // Lines held by the rate limit are shown as waiting until they are sent.
  const burst = await w(`for (let i = 0; i < 10; i++) root.host.say('burst ' + i);
    return root.querySelector('.queued').textContent;`);
  t.ok('lines held by the rate limit show as waiting', /^\d+ lines? waiting to be sent/.test(burst), JSON.stringify(burst));
  t.ok('…until all are sent', await waitFor(() => w(`return root.querySelector('.queued').textContent === '' &&
    [...root.querySelectorAll('.log .line .text')].filter((e) => /^burst \\d$/.test(e.textContent)).length === 10;`), 10000),
    JSON.stringify(await w(`return [root.querySelector('.queued').textContent, ...[...root.querySelectorAll('.log .line')]
      .map((e) => e.textContent).filter((x) => /burst|Not sent/.test(x))];`)));

  // --- a bot stopped before it joins is not an error --------------------------------------------
  // Start and stop in one task: the ✕ is clicked while connect() is still pending, so close()
  // rejects it; that is the visitor's doing and must not turn the status red.
  // Every status shown from then on is recorded (a later refresh could hide a brief error).
  const early = await w(`const s = root.querySelector('.status');
    window.statusSeen = [];
    window.statusWatch = new MutationObserver(() => window.statusSeen.push({ state: s.dataset.state, text: s.textContent }));
    window.statusWatch.observe(s, { attributes: true, childList: true, subtree: true, characterData: true });
    root.querySelector('select').value = 'echo';
    root.querySelector('button.start').click();
    const chip = [...root.querySelectorAll('.chip')].pop();
    const state = chip.dataset.state;
    chip.querySelector('button').click();
    return state;`);
  t.ok('a bot can be stopped while it is still connecting', early === 'connecting', String(early));
  await new Promise((r) => setTimeout(r, 1000));
  const shown = await p.evaluate(() => { window.statusWatch.disconnect(); return window.statusSeen; });
  const afterEarly = await status();
  t.ok('stopping a connecting bot is not reported as an error', afterEarly.state === 'joined' &&
    !shown.some((x) => x.state === 'error' || /could not join/.test(x.text)), JSON.stringify(shown));
  t.ok('…and its chip is gone, two bots still running', (await w(`return root.querySelectorAll('.chip').length;`)) === 2);

  // --- history is shown once, also after a reconnect --------------------------------------------
  // A second sim whose connections drop after 4 s (the widget re-joins), a room with 20 chat lines
  // before the widget joins; the SDK's join burst asks `chatList 15`, so the last 15 lines must
  // show, each exactly once, after the first join and after a re-join.
  sim2 = await startSim(['--flood', '0', '--fault', 'drop-after=4']);
  const HISTORY = Array.from({ length: 20 }, (_, i) => `history line ${String(i + 1).padStart(2, '0')}`);
  await p.evaluate(async ([url, lines]) => {
    const sdk = await import('/pkg/index.js');
    const seeder = new sdk.UChatBot({ room: 'lobby', url, nick: 'seeder', reconnect: false, rateLimit: false });
    let seen = 0;
    const all = new Promise((resolve) => seeder.on('message', (m) => { if (m.self && ++seen === lines.length) resolve(); }));
    await seeder.connect();
    for (const line of lines) seeder.send(line);
    await all;
    seeder.close();
    const w2 = document.createElement('uchat-bot-widget');
    w2.id = 'history-widget';
    w2.setAttribute('url', url);
    window.historyJoins = 0;
    document.body.append(w2);
  }, [sim2.ws, HISTORY]);
  const w2 = (fn) => p.evaluate((src) => new Function('root', 'host', src)(
    document.getElementById('history-widget').shadowRoot, document.getElementById('history-widget')), fn);
  const historyCounts = async () => {
    const texts = await w2(`return [...root.querySelectorAll('.log .line:not(.event) .text')].map((e) => e.textContent);`);
    return HISTORY.map((h) => texts.filter((x) => x === h).length);
  };
  const wantCounts = JSON.stringify(HISTORY.map((_, i) => (i < 5 ? 0 : 1)));
  // Count the viewer's joins from here on (to see the re-join after the drop).
  t.ok('history widget has a viewer', await waitFor(() => w2(`if (!host.viewer) return false;
    host.viewer.on('join', () => { window.historyJoins++; }); return true;`), 5000));
  await waitFor(async () => JSON.stringify(await historyCounts()) === wantCounts, 5000);
  await new Promise((r) => setTimeout(r, 1000)); // a second request's answer would be here by now
  const first = await historyCounts();
  t.ok('history: the last 15 lines shown once each after the join', JSON.stringify(first) === wantCounts,
    JSON.stringify(first));
  const joins = await w2(`return window.historyJoins;`);
  const rejoined = await waitFor(() => w2(`return window.historyJoins > ${joins};`), 12000);
  t.ok('history widget re-joins after the sim drops it', rejoined);
  await waitFor(async () => JSON.stringify(await historyCounts()) === wantCounts, 3000);
  await new Promise((r) => setTimeout(r, 1000));
  const second = await historyCounts();
  t.ok('history: still shown once each after a re-join', JSON.stringify(second) === wantCounts,
    JSON.stringify(second));
  await w2(`host.remove(); return true;`);

  // --- a burst: a whole room joins in one frame ----------------------------------------------
  // After a server restart a room rejoins at once: hundreds of `k`+`j` lines in one WebSocket
  // frame, then the quits, or a flood of lines. The widget must put them on the page in a batch
  // (once per frame, with one look at the scroll position), not rebuild the user list and
  // append to the log once per event: that froze the page for seconds (250 joins: 2.6 s). Counted
  // with MutationObservers, not timed: the user list's rebuilds (one childList record each) and
  // the log's appends. A stand-in server sends the frames (see standInServer).
  standIn = await standInServer();
  const N = 300;
  // Nicks zero-padded, so their order is the same in any collation; every 50th is an admin
  // (listed first).
  const burstUsers = Array.from({ length: N }, (_, i) => [`bu${String(i).padStart(6, '0')}`,
    `burst${String(i).padStart(4, '0')}`, i % 50 === 7 ? 3 : 0]);
  await p.evaluate((url) => {
    const w4 = document.createElement('uchat-bot-widget');
    w4.id = 'burst-widget';
    w4.setAttribute('url', url);
    document.body.append(w4);
  }, standIn.url);
  const w4 = (fn) => p.evaluate((src) => new Function('root', 'host', src)(
    document.getElementById('burst-widget').shadowRoot, document.getElementById('burst-widget')), fn);
  t.ok('burst widget joins the stand-in server and lists its viewer', await waitFor(() => w4(`
    return root.querySelector('.status').dataset.state === 'joined' && root.querySelectorAll('.users li').length === 1;`), 8000),
  JSON.stringify(await w4(`return [root.querySelector('.status').textContent, root.querySelector('.users').textContent];`)));
  // From here on: the user list's rebuilds, the log's appends, and any change of the status.
  const watchBurst = () => w4(`window.burstSeen = { users: 0, log: 0, status: 0 };
    const added = (what) => (ms) => { window.burstSeen[what] += ms.filter((m) => m.addedNodes.length > 0).length; };
    window.burstWatch = [
      [new MutationObserver(added('users')), root.querySelector('.users ul'), { childList: true }],
      [new MutationObserver(added('log')), root.querySelector('.log'), { childList: true }],
      [new MutationObserver((ms) => { window.burstSeen.status += ms.length; }), root.querySelector('.status'),
        { attributes: true, childList: true, subtree: true, characterData: true }],
    ].map(([o, target, what]) => { o.observe(target, what); return o; });
    return true;`);
  // Stops watching once no render is queued any more (a flush comes within a frame or 100 ms).
  const burstSeen = async () => {
    await sleep(300);
    return w4(`for (const o of window.burstWatch) o.disconnect(); return window.burstSeen;`);
  };
  const burstNicks = () => w4(`return [...root.querySelectorAll('.users li')].map((li) =>
    li.querySelector('.who').textContent + (li.querySelector('.tag').textContent ? ':' + li.querySelector('.tag').textContent : ''));`);
  const burstLog = () => w4(`return [...root.querySelectorAll('.log .line')].map((li) => li.textContent.slice(5));`);

  await watchBurst();
  for (const [key, nick, auth] of burstUsers) standIn.users.set(key, [nick, auth]);
  standIn.send([...burstUsers.flatMap(([key, nick, auth]) => [kLine(key, nick, auth), wire('j', bin(key))]),
    wire('c', num(N + 1))]);
  const listed = await waitFor(async () => (await burstNicks()).length === N + 1, 20000);
  let seen = await burstSeen();
  t.ok(`a burst of ${N} joins in one frame rebuilds the user list at most twice, appends to the log at most twice`,
    listed && seen.users <= 2 && seen.log <= 2, JSON.stringify(seen));
  const wantList = [...burstUsers.filter((u) => u[2] === 3).map((u) => `${u[1]}:admin`),
    ...burstUsers.filter((u) => u[2] === 0).map((u) => u[1]), 'watcher:viewer'];
  const gotList = await burstNicks();
  t.ok('…the list holds everyone once, admins first, then by nick', JSON.stringify(gotList) === JSON.stringify(wantList),
    JSON.stringify(gotList).slice(0, 300));
  const wantJoins = burstUsers.slice(-200).map((u) => `${u[1]}joined`);
  const gotLog = await burstLog();
  t.ok('…the log shows the last 200 joins in order (pruned to 200 at the newest line)',
    JSON.stringify(gotLog) === JSON.stringify(wantJoins), JSON.stringify(gotLog.slice(0, 3).concat(gotLog.slice(-3))));
  const counted = await w4(`return root.querySelector('.count').textContent;`);
  t.ok('…the header counts them; the status (a live region) was not rewritten',
    counted === `${N + 1} online` && seen.status === 0, JSON.stringify([counted, seen]));

  // Counts alone change nothing shown: no rebuild.
  await watchBurst();
  standIn.send(Array.from({ length: 50 }, () => wire('c', num(N + 1))));
  await sleep(200);
  seen = await burstSeen();
  t.ok('a frame of 50 user counts rebuilds nothing', seen.users === 0 && seen.log === 0, JSON.stringify(seen));

  // The reader scrolled up keeps their place through a flood of lines, and the button leads back.
  const readFrom = await w4(`const log = root.querySelector('.log'); log.scrollTop = 0; return log.firstElementChild.textContent;`);
  await sleep(200);
  await watchBurst();
  standIn.send([kLine('talker00', 'talker'),
    ...Array.from({ length: N }, (_, i) => wire('m', bin('talker00'), str(''), str(`flood ${i}`), num(now())))]);
  const flooded = await waitFor(() => w4(`const log = root.querySelector('.log');
    return log.lastElementChild.textContent.endsWith('flood ${N - 1}') && { first: log.firstElementChild.textContent,
      lines: log.children.length, top: log.scrollTop, jump: !root.querySelector('.jump').hidden };`), 10000);
  seen = await burstSeen();
  t.ok(`scrolled up, a frame of ${N} lines: appended at most twice, the line read stays, nothing pruned, the button shows`,
    flooded && seen.log <= 2 && flooded.first === readFrom && flooded.lines === 200 + N && flooded.top < 50 && flooded.jump,
    JSON.stringify([flooded, seen]));
  await w4(`root.querySelector('.jump').click(); return true;`);
  const caught = await w4(`const log = root.querySelector('.log'); return { lines: log.children.length,
    last: log.lastElementChild.textContent, gap: log.scrollHeight - log.scrollTop - log.clientHeight, jump: root.querySelector('.jump').hidden };`);
  t.ok('…back at the newest line the log is pruned to 200 again', caught.lines === 200 && caught.last.endsWith(`flood ${N - 1}`) &&
    caught.gap < 40 && caught.jump, JSON.stringify(caught));

  // A hidden tab runs no animation frames: the burst still shows (the widget's timer). Simulated
  // by a requestAnimationFrame that never calls back.
  await w4(`window.realRaf = window.requestAnimationFrame; window.requestAnimationFrame = () => 0; return true;`);
  await watchBurst();
  for (const [key] of burstUsers) standIn.users.delete(key);
  standIn.send([...burstUsers.map(([, nick]) => wire('o', str(nick))), wire('c', num(1))]);
  const left = await waitFor(async () => (await burstNicks()).length === 1, 20000);
  seen = await burstSeen();
  await w4(`window.requestAnimationFrame = window.realRaf; return true;`);
  const leftLog = await burstLog();
  t.ok(`with no animation frames (a hidden tab) a burst of ${N} quits still shows, in at most two rebuilds and appends`,
    left && seen.users <= 2 && seen.log <= 2 && JSON.stringify(await burstNicks()) === '["watcher:viewer"]' &&
    JSON.stringify(leftLog) === JSON.stringify(burstUsers.slice(-200).map((u) => `${u[1]}left`)),
  JSON.stringify([seen, leftLog.slice(-2)]));
  await w4(`host.remove(); return true;`);
  await standIn.stop();
  standIn = null;


  // --- a server that is down when the page loads ---------------------------------------------
  // The SDK's first connect() fails for good (it retries only after a first join); the widget
  // retries its own connections (the viewer, the visitor's sender) with backoff and a countdown,
  // and goes live without a reload once the server is up. A server ERR (201) is final.
  const port = await freePort();
  downUrl = `ws://127.0.0.1:${port}`;
  await p.evaluate((url) => {
    const w3 = document.createElement('uchat-bot-widget');
    w3.id = 'retry-widget';
    w3.setAttribute('url', url);
    document.body.append(w3);
  }, `ws://127.0.0.1:${port}`);
  const w3 = (fn) => p.evaluate((src) => new Function('root', 'host', src)(
    document.getElementById('retry-widget').shadowRoot, document.getElementById('retry-widget')), fn);
  const status3 = () => w3(`const s = root.querySelector('.status');
    return { state: s.dataset.state, text: s.textContent, title: s.querySelector('.msg').title };`);
  const retrying = await waitFor(async () => {
    const s = await status3();
    return s.state === 'retrying' && /retrying in \d+ s/i.test(s.text) && s;
  }, 5000);
  t.ok('server down at load: the status counts down to the next try', retrying, JSON.stringify(await status3()));
  t.ok('…in a short line, with the SDK\'s long message in its title',
    retrying && retrying.text.length <= 80 && /wss:\/\//.test(retrying.title), JSON.stringify(retrying));
  t.ok('…naming the URL it tried; the title does not name the SDK\'s default server (not the widget\'s)',
    retrying && retrying.text.includes(downUrl) && !/sp-worker/.test(retrying.title), JSON.stringify(retrying));
  await w3(`host.say('said while the server was down'); return true;`);
  await sleep(1500);
  sim3 = await startSim(['--flood', '0'], { port });
  t.ok('…and goes live once the server is up, without a reload',
    await waitFor(async () => (await status3()).state === 'joined', 12000), JSON.stringify(await status3()));
  t.ok('a line sent while the server was down is sent once it is up', await waitFor(() => w3(`return [...root.querySelectorAll('.log .line .text')]
    .some((e) => e.textContent === 'said while the server was down');`), 12000));
  // During an outage the user list is marked as the last one known, until the next join's list.
  await waitFor(() => w3(`return root.querySelectorAll('.users li').length > 0 && !root.querySelector('.users').classList.contains('stale');`), 3000);
  await sim3.stop();
  const stale = await waitFor(() => w3(`const u = root.querySelector('.users');
    return u.classList.contains('stale') && { title: u.querySelector('h3').textContent, count: root.querySelector('.count').textContent };`), 5000);
  t.ok('server gone: the user list is marked stale ("reconnecting…")', stale && /reconnecting/i.test(stale.title) &&
    /reconnecting/i.test(stale.count), JSON.stringify(stale));
  sim3 = await startSim(['--flood', '0'], { port });
  t.ok('…and current again after the re-join\'s list', await waitFor(() => w3(`return root.querySelector('.status').dataset.state === 'joined' &&
    !root.querySelector('.users').classList.contains('stale') && /^\\d+ online$/.test(root.querySelector('.count').textContent);`), 15000),
    JSON.stringify(await status3()));
  await w3(`host.setAttribute('room', 'no-such-room'); return true;`);
  const final = await waitFor(async () => { const s = await status3(); return s.state === 'error' && s; }, 5000);
  await sleep(2500);
  const after = await status3();
  t.ok('a server ERR (201 unknown room) is final: no retry', final && /201/.test(final.text) &&
    after.state === 'error' && after.text === final.text, JSON.stringify([final, after]));
  // The old room's chat and people are not left on screen under the new room's name.
  const switched = await w3(`return { lines: root.querySelectorAll('.log .line').length, log: root.querySelector('.log').textContent,
    users: root.querySelectorAll('.users li').length, count: root.querySelector('.count').textContent,
    room: root.querySelector('.room').textContent };`);
  t.ok('…and the old room\'s log and user list are cleared, the count says offline',
    switched.lines === 0 && switched.users === 0 && switched.count === 'offline' && switched.room === 'no-such-room' &&
    !/connecting/i.test(switched.log), JSON.stringify(switched));
  await w3(`host.remove(); return true;`);

  // --- embedding: properties, moves, the page's CSS, themes, CSP, the SDK -------------------
  // Every documented attribute is a property too, with a setter: React 19 assigns props as
  // properties when the element has them, and a getter alone threw in strict code.
  const props = await p.evaluate(() => {
    'use strict';
    const e = document.createElement('uchat-bot-widget');
    const got = {};
    for (const [k, v] of [['room', 'r1'], ['url', 'ws://127.0.0.1:9'], ['nick', 'Nick1'], ['sdk', '/pkg/index.js'], ['theme', 'dark']]) {
      try {
        e[k] = v;
        got[k] = e.getAttribute(k) === v;
      } catch (err) {
        got[k] = String(err);
      }
    }
    try {
      e.room = null;
      got.removed = !e.hasAttribute('room') && e.room === 'lobby';
    } catch (err) {
      got.removed = String(err);
    }
    got.sdkResolved = e.sdk === `${location.origin}/pkg/index.js`;
    return got;
  });
  t.ok('room, url, nick, sdk and theme are properties that set their attribute (React 19 sets props so)',
    Object.values(props).every((v) => v === true), JSON.stringify(props));

  // Moved in the DOM (remove and re-insert, append elsewhere, moveBefore): it goes on as it was,
  // same viewer, same bots. Removed for good: every connection ends.
  await p.evaluate((url) => {
    const m = document.createElement('uchat-bot-widget');
    m.id = 'move-widget';
    m.setAttribute('url', url);
    window.moveEl = m;
    const box = document.createElement('div');
    box.id = 'move-box';
    document.body.append(box, Object.assign(document.createElement('div'), { id: 'move-box-2' }));
    box.append(m);
  }, sim.ws);
  const wm = (fn) => p.evaluate((src) => new Function('root', 'host', src)(window.moveEl.shadowRoot, window.moveEl), fn);
  t.ok('move widget joins', await waitFor(() => wm(`return root.querySelector('.status').dataset.state === 'joined';`), 8000));
  await wm(`root.querySelector('select').value = 'dice'; root.querySelector('select').dispatchEvent(new Event('change'));
    root.querySelector('button.start').click(); host.say('moving soon'); return true;`);
  const moveNicks = await waitFor(() => wm(`const bot = root.querySelector('.chip[data-state=joined] .name');
    return bot && host.visitorSettled && { viewer: host.viewer.me.nick, bot: bot.textContent, visitor: host.visitor.me.nick };`), 8000);
  t.ok('…starts a dice bot and sends a line', moveNicks, JSON.stringify(moveNicks));
  const kinds = await wm(`return { chosen: root.querySelector('select').value, start: root.querySelector('button.start').disabled };`);
  t.ok('after a dice bot starts, the first kind not running is chosen and Start stays enabled',
    kinds.chosen === 'echo' && !kinds.start, JSON.stringify(kinds));
  await wm(`window.moveViewer = host.viewer; return true;`);
  const moves = {};
  for (const [how, src] of [
    ['remove+insert', `const box = host.parentNode; host.remove(); box.append(host);`],
    ['append elsewhere', `document.getElementById('move-box-2').append(host);`],
    ['moveBefore', `document.getElementById('move-box').moveBefore(host, null);`],
  ]) {
    await wm(`${src} return true;`);
    await sleep(300); // a teardown would have run by now (it waits one task)
    moves[how] = await wm(`return host.viewer === window.moveViewer && root.querySelectorAll('.chip[data-state=joined]').length === 1 &&
      root.querySelector('.status').dataset.state === 'joined';`);
  }
  t.ok('moved in the DOM (remove+insert, append elsewhere, moveBefore): same viewer, the bot runs on',
    Object.values(moves).every(Boolean), JSON.stringify(moves));
  const inRoom = () => p.evaluate((nicks) => nicks.filter((n) => window.tester.users.some((u) => u.nick === n)), Object.values(moveNicks));
  t.ok('…and the room still has its viewer, bot and visitor', (await inRoom()).length === 3, JSON.stringify(await inRoom()));
  await wm(`host.remove(); return true;`);
  t.ok('removed for good: its viewer, bot and visitor leave the room', await waitFor(async () => (await inRoom()).length === 0, 5000),
    JSON.stringify(await inRoom()));
  t.ok('…and it holds no connection or timer', await wm(`return host.viewer === null && host.visitor === null &&
    host.bots.length === 0 && host.timers.size === 0;`));

  // Two visitors' widgets with the same nick attribute: the second tries it with digits added.
  await p.evaluate((url) => {
    for (const id of ['same-1', 'same-2']) {
      const e = document.createElement('uchat-bot-widget');
      e.id = id;
      e.setAttribute('url', url);
      e.setAttribute('nick', 'SameNick');
      document.body.append(e);
      if (id === 'same-1') window.sameFirst = e;
    }
  }, sim.ws);
  const same = await waitFor(() => p.evaluate(() => {
    const nicks = ['same-1', 'same-2'].map((id) => document.getElementById(id))
      .map((e) => e.shadowRoot.querySelector('.status').dataset.state === 'joined' && e.viewer.me.nick);
    return nicks.every(Boolean) && nicks;
  }), 8000);
  t.ok('a nick attribute the room has already (ERR 301): joined with 3 digits added',
    same && same.includes('SameNick') && same.some((n) => /^SameNick\d{3}$/.test(n)),
    JSON.stringify(same || await p.evaluate(() => ['same-1', 'same-2'].map((id) => document.getElementById(id).shadowRoot.querySelector('.status').textContent))));
  // The visitor's random nick (youNNN) taken too: tried again with other digits. The room gets a
  // you555 first, and the widget's draw is made to be 555 (its next one is random again).
  const taken = await p.evaluate(async (url) => {
    const sdk = await import('/pkg/index.js');
    window.you555 = new sdk.UChatBot({ room: 'lobby', url, nick: 'you555' });
    await window.you555.connect();
    const realRandom = Math.random;
    Math.random = () => 455.5 / 900;
    try {
      document.getElementById('same-1').say('said past a taken nick');
    } finally {
      Math.random = realRandom;
    }
    return window.you555.me.nick;
  }, sim.ws);
  const sentPast = await waitFor(() => p.evaluate(() => {
    const line = [...document.getElementById('same-1').shadowRoot.querySelectorAll('.log .line')]
      .find((l) => l.querySelector('.text').textContent === 'said past a taken nick');
    return line && line.querySelector('.nick').textContent;
  }), 8000);
  t.ok('the visitor\'s nick taken (ERR 301): sent under other digits', taken === 'you555' && /^you\d{3}$/.test(sentPast || '') &&
    sentPast !== 'you555', JSON.stringify([taken, sentPast]));
  await p.evaluate(() => { window.you555.close(); for (const id of ['same-1', 'same-2']) document.getElementById(id).remove(); });

  // The page's inherited CSS stops at the widget; its sizes do not follow the page's rem.
  const leak = await p.evaluate(() => {
    const style = document.createElement('style');
    style.textContent = `html { font-size: 62.5%; } body { text-transform: uppercase; letter-spacing: 3px; word-spacing: 9px;
      text-align: center; white-space: nowrap; cursor: crosshair; text-shadow: 1px 1px red; font-style: italic; }`;
    document.head.append(style);
    const root = document.querySelector('uchat-bot-widget').shadowRoot;
    const cs = (sel) => getComputedStyle(root.querySelector(sel));
    const nick = cs('.log .line .nick');
    const msg = cs('.status .msg');
    const got = { transform: nick.textTransform, spacing: nick.letterSpacing, words: nick.wordSpacing, shadow: nick.textShadow,
      style: nick.fontStyle, align: cs('.log').textAlign, cursor: cs('.log').cursor, wrap: msg.whiteSpace,
      font: cs('.frame').fontSize, pad: cs('.log').paddingLeft };
    style.remove();
    return got;
  });
  t.ok('the page\'s inherited CSS (uppercase, letter-spacing, nowrap, …) does not reach inside; html{font-size:62.5%} shrinks nothing',
    leak.transform === 'none' && leak.spacing === 'normal' && leak.words === '0px' && leak.shadow === 'none' &&
    leak.style === 'normal' && /^(start|left)$/.test(leak.align) && leak.cursor === 'auto' && leak.wrap === 'normal' &&
    leak.font === '14px' && leak.pad === '14px', JSON.stringify(leak));

  // A larger text size (the reader's, or font-size on the element) grows the widget's default
  // height with it, so the chat log keeps its share (a fixed 540px left 87px of log at 32px
  // text). The demo page sets its own height, so the default is read from the :host rule.
  const big = await w(`const sheets = [...root.adoptedStyleSheets, ...[...root.querySelectorAll('style')].map((e) => e.sheet)];
    const host = sheets.flatMap((sh) => [...sh.cssRules]).find((r) => r.selectorText === ':host' && r.style.height);
    return host ? { height: host.style.height, min: host.style.minHeight } : null;`);
  t.ok('the default height grows with the text size (em, 540px at 16px)',
    big && big.height === '33.75em' && /em$/.test(big.min), JSON.stringify(big));

  // Right to left: the sides are logical (the user list's border is on its start side, the right).
  const rtl = await w(`root.host.dir = 'rtl';
    const u = getComputedStyle(root.querySelector('.users'));
    const got = { right: u.borderRightWidth, left: u.borderLeftWidth };
    root.host.removeAttribute('dir');
    return got;`);
  t.ok('in a right-to-left page the user list\'s border is on the right (logical sides)',
    rtl.right === '1px' && rtl.left === '0px', JSON.stringify(rtl));

  // The log is in the tab order, named, so a keyboard can scroll it; no landmarks per widget.
  const logA11y = await w(`const log = root.querySelector('.log');
    return { tab: log.tabIndex, role: log.getAttribute('role'), name: log.getAttribute('aria-label'),
      landmarks: root.querySelectorAll('header, aside, main, nav, section').length };`);
  t.ok('the chat log is focusable (tabindex 0) with role log and a name; no header/aside landmarks',
    logA11y.tab === 0 && logA11y.role === 'log' && !!logA11y.name && logA11y.landmarks === 0, JSON.stringify(logA11y));

  // theme="light" holds on a dark OS; theme="dark" on a light one.
  const bgOf = (theme) => w(`root.host.setAttribute('theme', '${theme}');
    return getComputedStyle(root.querySelector('.frame')).backgroundColor;`);
  await p.emulateMedia({ colorScheme: 'dark' });
  const themes = { lightOnDark: await bgOf('light'), autoOnDark: await bgOf('auto') };
  await p.emulateMedia({ colorScheme: 'light' });
  themes.darkOnLight = await bgOf('dark');
  await w(`root.host.removeAttribute('theme'); return true;`);
  t.ok('theme="light" stays light on a dark OS, theme="dark" dark on a light one, auto follows the OS',
    themes.lightOnDark === 'rgb(255, 255, 255)' && themes.autoOnDark === 'rgb(22, 26, 34)' &&
    themes.darkOnLight === 'rgb(22, 26, 34)', JSON.stringify(themes));

  // Two pages of an embedder's own (files served by a sim of their own, so each page loads the
  // widget and the SDK afresh). A strict CSP: no style-src 'unsafe-inline' (the styles are a
  // constructed sheet), connect-src only 'self'; a widget whose server connect-src leaves out
  // says so, not "unreachable".
  embedDir = mkdtempSync(join(tmpdir(), 'uchat-widget-embed-'));
  cpSync(join(ROOT, 'www', 'uchat-bot-widget.js'), join(embedDir, 'uchat-bot-widget.js'));
  cpSync(join(ROOT, 'www', 'pkg'), join(embedDir, 'pkg'), { recursive: true });
  const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'";
  writeFileSync(join(embedDir, 'csp.html'), `<!doctype html><html lang="en"><head><meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="${csp}"><title>csp</title>
    <script type="module" src="uchat-bot-widget.js"></script></head><body>
    <uchat-bot-widget id="ok"></uchat-bot-widget>
    <uchat-bot-widget id="refused" url="${sim.ws}"></uchat-bot-widget></body></html>`);
  writeFileSync(join(embedDir, 'sdk.html'), `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sdk</title>
    <base href="/pkg/"><script type="module" src="/uchat-bot-widget.js"></script></head><body>
    <uchat-bot-widget sdk="/no-such-dir/index.js"></uchat-bot-widget></body></html>`);
  simE = await startSim(['--www', embedDir]);
  const cspPage = await browser.context.newPage();
  await cspPage.goto(`${simE.http}/csp.html`);
  const cspStatus = (id) => cspPage.evaluate((id) => {
    const r = document.getElementById(id).shadowRoot;
    return { state: r.querySelector('.status').dataset.state, text: r.querySelector('.status').textContent,
      bg: getComputedStyle(r.querySelector('button.start')).backgroundColor };
  }, id);
  const cspOk = await waitFor(async () => { const s = await cspStatus('ok'); return s.state === 'joined' && s; }, 8000);
  t.ok('under a CSP without style-src \'unsafe-inline\' the widget joins and is styled (Start in the accent colour)',
    cspOk && cspOk.bg === 'rgb(79, 70, 229)', JSON.stringify(cspOk || await cspStatus('ok')));
  const refused = await waitFor(async () => { const s = await cspStatus('refused'); return s.state === 'error' && s; }, 8000);
  t.ok('…a server the CSP\'s connect-src leaves out: the status says the CSP blocked it (final, no retry)',
    refused && /CSP \(connect-src\)/.test(refused.text) && refused.text.includes(sim.ws), JSON.stringify(refused || await cspStatus('refused')));
  await cspPage.close();

  // The SDK not found: the cause in the status, no "Connecting…", Start and Send off. `sdk` is
  // relative to the page (its <base> here), like src and href, and a new one is tried.
  const sdkPage = await browser.context.newPage();
  await sdkPage.goto(`${simE.http}/sdk.html`);
  const sdkState = () => sdkPage.evaluate(() => {
    const r = document.querySelector('uchat-bot-widget').shadowRoot;
    return { state: r.querySelector('.status').dataset.state, text: r.querySelector('.status').textContent,
      log: r.querySelector('.log').textContent, count: r.querySelector('.count').textContent,
      start: r.querySelector('button.start').disabled, send: r.querySelector('button[type=submit]').disabled };
  });
  const noSdk = await waitFor(async () => { const s = await sdkState(); return s.state === 'error' && s; }, 8000);
  t.ok('SDK not found: the status shows the cause (404 and the URL), the log and count do not say connecting, Start and Send are off',
    noSdk && /404 at .*\/no-such-dir\/index\.js/.test(noSdk.text) && !/connecting/i.test(noSdk.log + noSdk.count) &&
    noSdk.start && noSdk.send, JSON.stringify(noSdk || await sdkState()));
  await sdkPage.evaluate(() => document.querySelector('uchat-bot-widget').setAttribute('sdk', 'index.js'));
  const sdkLater = await waitFor(async () => { const s = await sdkState(); return s.state === 'joined' && s; }, 8000);
  t.ok('…a relative sdk is resolved against the page\'s base URL; setting it again loads it, and Start and Send work',
    sdkLater && !sdkLater.start && !sdkLater.send, JSON.stringify(sdkLater || await sdkState()));
  await sdkPage.close();

  // --- phone width ---------------------------------------------------------------------------
  await p.setViewportSize({ width: 375, height: 740 });
  await new Promise((r) => setTimeout(r, 300));
  const layout = await w(`const u = root.querySelector('.users').getBoundingClientRect();
    const l = root.querySelector('.log').getBoundingClientRect();
    return { usersAbove: u.bottom <= l.top + 1, logWidth: l.width,
      pageScroll: document.documentElement.scrollWidth, view: window.innerWidth };`);
  t.ok('phone width: users above the chat, chat full width, no sideways scroll',
    layout.usersAbove && layout.logWidth > 300 && layout.pageScroll <= layout.view, JSON.stringify(layout));
  if (process.env.SITE_WIDGET_SCREENSHOT_MOBILE) await p.screenshot({ path: process.env.SITE_WIDGET_SCREENSHOT_MOBILE });

  t.ok('no page errors', errors.length === 0, errors.join(' | '));
}, async () => {
  if (browser) await browser.close();
  if (sim) await sim.stop();
  if (sim2) await sim2.stop();
  if (sim3) await sim3.stop();
  if (simE) await simE.stop();
  if (embedDir) rmSync(embedDir, { recursive: true, force: true });
  if (standIn) await standIn.stop();
});
