// Headless Firefox ESR through geckodriver's W3C WebDriver HTTP API: a few fetch calls, no npm
// package (playwright-core cannot drive Debian's Firefox). Used by tests/browser/site-firefox.mjs
// and bench/run-firefox.mjs.
//
// Env: GECKODRIVER (default `geckodriver` on PATH), FIREFOX (default: webdriver.json's binary,
// /usr/bin/firefox-esr). Browser options (headless, no update/telemetry traffic) come from the
// repository's webdriver.json, the file the wasm-firefox suite gives wasm-bindgen-test-runner.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The port geckodriver started with `--port 0` listens on, from its log line
 * `… INFO Listening on 127.0.0.1:PORT` (bounded: 10 s). The rest of its log is drained.
 */
function listeningPort(child) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`geckodriver did not say where it listens: ${seen}`)), 10_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`geckodriver exited (${code}): ${seen}`)); });
    child.stdout.on('data', (chunk) => {
      if (seen.length < 4096) seen += chunk;
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
  });
}

/**
 * Starts geckodriver on a free port and one Firefox session. Resolves with
 * `{ version, navigate(url), script(src, ...args), exec(fn, ...args), close() }`:
 * `script` runs a synchronous script body (WebDriver "execute/sync") and returns its value;
 * `exec` runs a function's source in the page, awaits a returned promise, and rethrows a page
 * error in Node.
 */
export async function startFirefox() {
  // Port 0: geckodriver picks a free port itself and logs it (info level), so no other process
  // can take the port between a probe and geckodriver's bind.
  const child = spawn(process.env.GECKODRIVER || 'geckodriver', ['--host', '127.0.0.1', '--port', '0', '--log', 'info'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let port;
  try {
    port = await listeningPort(child);
  } catch (e) {
    child.kill();
    throw e;
  }
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, {
      method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body),
    });
    const j = await r.json();
    if (!r.ok || (j.value && j.value.error)) {
      throw new Error(`WebDriver ${method} ${path}: ${j.value && (j.value.message || j.value.error)}`);
    }
    return j.value;
  };
  let session;
  try {
    for (let i = 0; ; i++) { // until geckodriver listens (bounded: 10 s)
      try { await fetch(`${base}/status`); break; } catch (e) { if (i >= 100) throw new Error(`geckodriver did not answer: ${e.message}`); }
      await new Promise((r) => setTimeout(r, 100));
    }
    const options = JSON.parse(readFileSync(join(ROOT, 'webdriver.json'), 'utf8'))['moz:firefoxOptions'];
    if (process.env.FIREFOX) options.binary = process.env.FIREFOX;
    session = await call('POST', '/session', {
      capabilities: { alwaysMatch: { browserName: 'firefox', 'moz:firefoxOptions': options } },
    });
  } catch (e) {
    child.kill();
    throw e;
  }
  const sid = `/session/${session.sessionId}`;
  return {
    version: session.capabilities.browserVersion,
    navigate: (url) => call('POST', `${sid}/url`, { url }),
    script: (src, ...args) => call('POST', `${sid}/execute/sync`, { script: src, args }),
    exec: (fn, ...args) => call('POST', `${sid}/execute/async`, {
      script: `const done = arguments[arguments.length - 1];
        Promise.resolve().then(() => (${fn})(...Array.from(arguments).slice(0, -1)))
          .then((v) => done({ v }), (e) => done({ e: String(e && e.stack || e) }));`,
      args,
    }).then((r) => { if (r && r.e) throw new Error(`in the page: ${r.e}`); return r && r.v; }),
    async close() {
      await call('DELETE', sid).catch(() => {});
      child.kill();
    },
  };
}
