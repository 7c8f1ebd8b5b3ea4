// CPU profile of one decoder in the bench page (docs/PERFORMANCE.md "Profiling in the browser"):
//   node bench/profile.mjs '<page url>?mb=3&rounds=9&only=sdk' [top]
// Runs the page in headless Chromium (playwright-core from tools/, UCHAT_TOOLS_DIR or ../tools)
// under the DevTools sampling profiler and prints each function's share of the samples taken
// inside the timed decoder (`only=NAME`: the runner of that name in bench.js), self time
// first, then time including callees. Serve a package built with function names (no
// `wasm-opt`), or wasm frames show as `wasm-function[N]`.
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [url, top = '40'] = process.argv.slice(2);
if (!url || !url.includes('only=')) {
  console.error("usage: node bench/profile.mjs '<bench page url>?only=sdk' [top]");
  process.exit(2);
}
const root = new URL(url).searchParams.get('only');
const tools = process.env.UCHAT_TOOLS_DIR || join(dirname(fileURLToPath(import.meta.url)), '..', 'tools');
const require = createRequire(join(tools, 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--js-flags=--expose-gc'],
});
let profile;
try {
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
  await cdp.send('Profiler.start');
  await page.goto(url);
  await page.waitForFunction(() => window.__benchResult !== undefined, null, { timeout: 600000 });
  profile = (await cdp.send('Profiler.stop')).profile;
} finally {
  await browser.close();
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
const name = (cf) => cf.functionName.replace(/::h[0-9a-f]{16}$/, '') + (cf.url.endsWith('.wasm') ? ' (wasm)' : '');
const self = new Map(), incl = new Map();
let total = 0, wasm = 0;
for (const s of profile.samples) {
  const names = [];
  let inside = false;
  for (let x = s; x !== undefined; x = parent.get(x)) {
    const cf = byId.get(x).callFrame;
    if (cf.functionName === root && cf.url.endsWith('bench.js')) { inside = true; break; }
    names.push(name(cf));
  }
  if (!inside || names.length === 0) continue;
  total++;
  if (byId.get(s).callFrame.url.endsWith('.wasm')) wasm++;
  self.set(names[0], (self.get(names[0]) || 0) + 1);
  for (const k of new Set(names)) incl.set(k, (incl.get(k) || 0) + 1);
}
const pct = (v) => (100 * v / total).toFixed(1).padStart(5) + '%';
console.log(`${total} samples inside '${root}'; wasm code itself: ${pct(wasm)}`);
console.log('-- self');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, +top)) console.log(pct(v) + '  ' + k);
console.log('-- including callees');
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, +top)) console.log(pct(v) + '  ' + k);
