// Drives the bench pages in headless Chromium with playwright-core (from tools/node_modules,
// pinned in tools/package.json). Called by `cargo xtask bench`:
//   node bench/run.mjs <page url> <timeout s>
// Playwright gives the browser a fresh temporary profile. Prints the page's log lines as they come and exits 0 when the page reported results.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [url, timeoutS = '300'] = process.argv.slice(2);
const tools = process.env.UCHAT_TOOLS_DIR;
const require = createRequire(join(tools, 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic',
    '--enable-precise-memory-info', '--js-flags=--expose-gc'],
});
let code = 1;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log(m.text()));
  page.on('pageerror', (e) => console.log('page error: ' + e));
  await page.goto(url);
  await page.waitForFunction(() => window.__bench !== undefined, null, { timeout: 60000 });
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result after ${timeoutS} s`)), Number(timeoutS) * 1000);
  });
  const res = await Promise.race([page.evaluate(() => window.__bench), limit]);
  clearTimeout(timer);
  code = res && !res.error ? 0 : 1;
} finally {
  await browser.close();
}
process.exit(code);
