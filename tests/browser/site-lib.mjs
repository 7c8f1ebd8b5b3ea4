// Shared helpers of the site-*.mjs browser tests: start `uchat sim`, launch headless Chromium
// through playwright-core (from tools/node_modules), count checks, and end by themselves.
//
// Environment: UCHAT_BIN (the uchat binary; default $CARGO_TARGET_DIR/debug/uchat),
// CHROMIUM (default /usr/bin/chromium), SITE_TEST_TIMEOUT_MS (whole-script limit, default 90000).

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** playwright-core as installed by `npm ci` in tools/ (what `cargo xtask install` does). */
export function playwright() {
  const require = createRequire(join(ROOT, 'tools', 'package.json'));
  try {
    return require('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in tools/: run \`cargo xtask install\` ` +
      `(or \`npm ci\` in tools/). (${e.message})`);
  }
}

export function uchatBin() {
  if (process.env.UCHAT_BIN) return process.env.UCHAT_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, 'target'); // xtask's default
  return join(target, 'debug', 'uchat');
}

/** Runs `uchat <args>` to completion and returns its stdout (for `uchat token`). */
export function uchatOutput(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(uchatBin(), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => code === 0 ? resolve(out.trim()) : reject(new Error(`uchat ${args[0]} exited with ${code}`)));
  });
}

/**
 * Starts `uchat sim -q --listen 127.0.0.1:PORT ...args` (PORT: `port`, default 0, a free one);
 * resolves with `{ ws: 'ws://127.0.0.1:PORT', http: 'http://127.0.0.1:PORT', stop() }`.
 */
export function startSim(args, { port = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(uchatBin(), ['sim', '-q', '--listen', `127.0.0.1:${port}`, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => { child.kill(); reject(new Error('uchat sim did not start within 10 s')); }, 10000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const ws = line.trim().replace(/^listening /, '');
      if (!ws.startsWith('ws://127.0.0.1:')) {
        child.kill();
        reject(new Error(`unexpected first line from uchat sim: ${JSON.stringify(line)}`));
        return;
      }
      resolve({
        ws,
        http: ws.replace('ws://', 'http://'),
        stop: () => new Promise((done) => {
          if (child.exitCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
      });
    });
  });
}

/** Headless Chromium with the flags this machine needs (running as root, no network). */
export async function launchChromium() {
  const { chromium } = playwright();
  const profile = mkdtempSync(join(tmpdir(), 'uchat-site-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--no-first-run',
      '--disable-sync', '--disable-quic',
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Check counter; `summary(name)` prints the final `name: N passed, M failed` line. */
export class Checks {
  constructor() { this.passed = 0; this.failed = 0; }

  ok(name, cond, detail = '') {
    if (cond) {
      this.passed++;
      console.log(`ok   ${name}`);
    } else {
      this.failed++;
      console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
    }
    return !!cond;
  }

  fail(name, err) {
    return this.ok(name, false, err && err.stack ? err.stack : String(err));
  }

  summary(name) {
    console.log(`${name}: ${this.passed} passed, ${this.failed} failed`);
    process.exitCode = this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

// In-page helpers, run in the browser (passed to playwright's `page.evaluate` or to WebDriver's
// execute script, which both send the function's source): a second chat client beside the bot
// under test, and a look at what it has seen. Both need the page's global `UChatBot`.

/** In the page: a client that records the room's chat in `window.got`; resolves with its nick. */
export async function pageAddClient(options) {
  window.got = [];
  window.client = new UChatBot(options);
  window.client.on('message', (m) => window.got.push({ nick: m.user.nick, content: m.content, history: m.history }));
  const me = await window.client.connect();
  return me.nick;
}

/** In the page: the first non-history line from `nick` matching `src` after index `from`, or null. */
export function pageFindLine({ nick, src, from }) {
  const re = new RegExp(src);
  return window.got.slice(from).find((m) => m.nick === nick && !m.history && re.test(m.content)) || null;
}

/** Polls `fn` (may be async) until it returns a truthy value; returns it, or null on timeout. */
export async function waitFor(fn, timeoutMs = 5000, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Runs `body(checks)` with a whole-script time limit; always prints the summary line, and
 * `cleanup` runs whatever happened. The process exits by itself (nothing is left running).
 */
export async function run(name, body, cleanup) {
  const checks = new Checks();
  const limit = Number(process.env.SITE_TEST_TIMEOUT_MS || 90000);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} took longer than ${limit} ms`)), limit);
  });
  try {
    await Promise.race([body(checks), timeout]);
  } catch (e) {
    checks.fail(`${name} ran to the end`, e);
  } finally {
    clearTimeout(timer);
    try {
      await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 10000))]);
    } catch (e) {
      checks.fail('cleanup', e);
    }
  }
  checks.summary(name);
  // Anything still open (a stuck browser pipe) must not keep the test alive.
  setTimeout(() => process.exit(process.exitCode), 200).unref();
}
