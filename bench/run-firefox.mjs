// Runs a bench page in headless Firefox ESR through geckodriver (plain WebDriver over HTTP,
// tests/browser/firefox.mjs; no npm package needed). Called by `cargo xtask bench` after the
// Chromium run:
//   node bench/run-firefox.mjs <page url> <timeout s>
// Env: GECKODRIVER (default `geckodriver` on PATH), FIREFOX (default /usr/bin/firefox-esr).
// Prints the page's log lines with RESULT names prefixed `firefox_`; exits 0 on results.
import { startFirefox } from '../tests/browser/firefox.mjs';

const [url, timeoutS = '300'] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let code = 1;
let firefox;
try {
  firefox = await startFirefox();
  await firefox.navigate(url);
  const end = Date.now() + Number(timeoutS) * 1000;
  let printed = 0;
  for (;;) {
    const [lines, result] = await firefox.script('return [window.__benchLog || [], window.__benchResult || null];');
    for (; printed < lines.length; printed++) console.log(lines[printed].replace(/^RESULT /, 'RESULT firefox_'));
    if (result) { code = result.error ? 1 : 0; break; }
    if (Date.now() > end) { console.log(`no result after ${timeoutS} s`); break; }
    await sleep(1000);
  }
} catch (e) {
  console.log('firefox run failed: ' + e.message);
} finally {
  if (firefox) await firefox.close();
}
process.exit(code);
