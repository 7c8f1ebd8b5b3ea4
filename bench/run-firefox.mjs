// Runs a bench page in headless Firefox ESR through geckodriver (plain WebDriver over HTTP, no
// npm package needed). Called by `cargo xtask bench` after the Chromium run:
//   node bench/run-firefox.mjs <page url> <timeout s>
// Env: GECKODRIVER (default `geckodriver` on PATH), FIREFOX (default /usr/bin/firefox-esr).
// Prints the page's log lines with RESULT names prefixed `firefox_`; exits 0 on results.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const [url, timeoutS = '300'] = process.argv.slice(2);
const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const port = await freePort();
const driver = spawn(process.env.GECKODRIVER || 'geckodriver', ['--port', String(port), '--log', 'fatal'], { stdio: 'ignore' });
const base = `http://127.0.0.1:${port}`;
async function wd(method, path, body) {
  const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const j = await r.json();
  if (j.value && j.value.error) throw new Error(`${path}: ${j.value.error}: ${j.value.message}`);
  return j.value;
}
let code = 1;
let session;
try {
  for (let i = 0; ; i++) { // wait for geckodriver to listen
    try { await fetch(base + '/status'); break; } catch (e) { if (i > 50) throw e; await sleep(100); }
  }
  session = (await wd('POST', '/session', { capabilities: { alwaysMatch: {
    browserName: 'firefox',
    'moz:firefoxOptions': { binary: process.env.FIREFOX || '/usr/bin/firefox-esr', args: ['-headless'] },
  } } })).sessionId;
  const s = `/session/${session}`;
  await wd('POST', `${s}/url`, { url });
  const end = Date.now() + Number(timeoutS) * 1000;
  let printed = 0;
  for (;;) {
    const st = await wd('POST', `${s}/execute/sync`, { script: 'return [window.__benchLog || [], window.__benchResult || null];', args: [] });
    const [lines, result] = st;
    for (; printed < lines.length; printed++) console.log(lines[printed].replace(/^RESULT /, 'RESULT firefox_'));
    if (result) { code = result.error ? 1 : 0; break; }
    if (Date.now() > end) { console.log(`no result after ${timeoutS} s`); break; }
    await sleep(1000);
  }
} catch (e) {
  console.log('firefox run failed: ' + e.message);
} finally {
  if (session) await wd('DELETE', `/session/${session}`).catch(() => {});
  driver.kill();
}
process.exit(code);
