// `cargo xtask bench --soak` (docs/PERFORMANCE.md): a bot joined to the sim's busy room `soak`
// (uchat sim --crowd …) receives chat for `seconds`; wasm memory and the JS heap (after a forced
// GC; Chromium with --enable-precise-memory-info --js-flags=--expose-gc) are sampled at the start,
// after warm-up and every 10 s. Result in `window.__bench` like the bench page.
import init, { UChatBot } from './pkg/uchat_bot.js';

const q = new URLSearchParams(location.search);
const seconds = Number(q.get('seconds') || 60);
const warmup = Math.min(15, seconds / 4);
window.__benchLog = [];
const log = (s) => { console.log(s); window.__benchLog.push(s); document.getElementById('out').textContent += s + '\n'; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const wasm = await init({ module_or_path: './pkg/uchat_bot_bg.wasm' });
  // The shipped wasm's exports have short names (xtask/src/names.rs): find the memory by type.
  const memory = Object.values(wasm).find((v) => v instanceof WebAssembly.Memory);
  const res = { lines: [] };
  const result = (name, value) => { res[name] = value; res.lines.push(`RESULT ${name} ${value}`); };
  const bot = new UChatBot({ room: 'soak', url: `ws://${location.host}`, nick: 'soakbot', reconnect: false });
  let messages = 0, events = 0, chars = 0;
  bot.on('message', (m) => { messages++; chars += m.content.length; });
  for (const e of ['user.join', 'user.quit', 'user.count', 'user.list', 'system', 'whisper', 'error']) bot.on(e, () => { events++; });
  await bot.connect();
  const sample = (label) => {
    if (typeof window.gc === 'function') { window.gc(); window.gc(); }
    const s = {
      wasm: memory.buffer.byteLength,
      heap: performance.memory ? performance.memory.usedJSHeapSize : NaN,
      messages,
    };
    log(`${label.padEnd(10)} t=${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s  wasm ${(s.wasm / 1048576).toFixed(2)} MiB  JS heap ${(s.heap / 1048576).toFixed(2)} MiB  messages ${messages}  other events ${events}`);
    return s;
  };
  const t0 = performance.now();
  const start = sample('start');
  await sleep(warmup * 1000);
  const warm = sample('warm');
  const tw = performance.now();
  let last = warm;
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(Math.min(10000, seconds * 1000 - (performance.now() - t0)));
    last = sample('running');
  }
  const rate = (last.messages - warm.messages) / ((performance.now() - tw) / 1000);
  bot.close();
  result('soak_messages_per_s', rate.toFixed(0));
  result('soak_wasm_bytes_start', start.wasm);
  result('soak_wasm_bytes_warm', warm.wasm);
  result('soak_wasm_bytes_end', last.wasm);
  result('soak_heap_bytes_start', start.heap);
  result('soak_heap_bytes_warm', warm.heap);
  result('soak_heap_bytes_end', last.heap);
  result('soak_heap_growth_after_warmup_bytes', last.heap - warm.heap);
  result('soak_wasm_growth_after_warmup_bytes', last.wasm - warm.wasm);
  for (const l of res.lines) log(l);
  return res;
}

window.__bench = main().catch((e) => { log('ERROR ' + (e && e.stack || e)); return { error: String(e) }; })
  .then((r) => { window.__benchResult = r; return r; });
