// The bench page's logic (`cargo xtask bench`; docs/PERFORMANCE.md). Query parameters:
//   mb=N      corpus size in MB (default 10), rounds=N (default 7),
//   only=NAME time one decoder alone (sdk, js_best, …; for profiling), no ratios
// It loads the SDK from ./pkg/, joins a room of the `uchat sim` that serves this page, checks
// that the SDK and the JS decoders deliver the same events (count + checksum), then times them
// side by side, interleaved, for several rounds, and reports the median ratios.
// The result object is left in `window.__bench` (the driver, bench/run.mjs, reads it).

import init, { UChatBot } from './pkg/uchat_bot.js';
import { makeCorpus, encodeLine, encodeChat } from './corpus.js';
import { BestDecoder, BestDecoderPerField, BestDecoderUtf16, ReferenceDecoder } from './decoders.js';

const EVENTS = ['message', 'whisper', 'system', 'user.join', 'user.quit', 'user.count', 'user.list', 'error'];
const q = new URLSearchParams(location.search);
// Every log line is also kept for drivers that cannot read the console (WebDriver).
window.__benchLog = [];
const log = (s) => {
  console.log(s);
  window.__benchLog.push(s);
  const pre = document.getElementById('out');
  if (pre) pre.textContent += s + '\n';
};
const gc = () => { if (typeof window.gc === 'function') window.gc(); };
const median = (a) => { const b = [...a].sort((x, y) => x - y); return b[b.length >> 1]; };

function canon(x) {
  if (x === undefined) return 'u';
  if (x === null) return 'n';
  if (Array.isArray(x)) return '[' + x.map(canon).join(',') + ']';
  if (typeof x === 'object') return '{' + Object.keys(x).sort().map((k) => k + ':' + canon(x[k])).join(',') + '}';
  return typeof x + ':' + String(x);
}
function hasher() {
  const s = { n: 0, h: 0x811c9dc5 };
  s.add = (name, p) => {
    s.n++;
    const t = name + canon(p);
    let h = s.h;
    for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t.charCodeAt(i), 16777619);
    s.h = h;
  };
  s.digest = () => `${s.n} events, checksum ${(s.h >>> 0).toString(16)}`;
  return s;
}
function hashBytes(s, u8) {
  let h = s.h;
  for (let i = 0; i < u8.length; i++) h = Math.imul(h ^ u8[i], 16777619);
  s.h = h;
  s.n++;
}

function hex(u8) { return Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join(''); }

/** The corpus encoder must reproduce the server vectors of tests/vectors/vectors.json. */
async function checkEncoder() {
  const v = await (await fetch('./vectors.json')).json();
  let n = 0;
  for (const f of v.server_frames) {
    if (f.lines.length !== 1 || f.rest_hex) continue;
    const [key, ...fields] = f.lines[0];
    const fs = fields.map((x) => {
      const [t, val] = Object.entries(x)[0];
      return { t, v: t === 'bin' ? Uint8Array.from(val.match(/../g) || [], (h) => parseInt(h, 16)) : val };
    });
    const got = hex(encodeLine(key, fs));
    if (got !== f.frame_hex) throw new Error(`corpus encoder differs from vectors.json: ${got} != ${f.frame_hex}`);
    n++;
  }
  if (n < 3) throw new Error('too few single-line server vectors to check the corpus encoder');
  return n;
}

async function gzipSize(url) {
  const body = (await fetch(url)).body.pipeThrough(new CompressionStream('gzip'));
  return (await new Response(body).arrayBuffer()).byteLength;
}

/** Gzipped bytes a page downloads for a build in `dir`: wasm, glue and the glue's snippets. */
async function buildGzipSize(dir) {
  const glue = await (await fetch(`${dir}/uchat_bot.js`)).text();
  const snippets = [...glue.matchAll(/from '\.\/(snippets\/[^']+)'/g)].map((m) => m[1]);
  let n = (await gzipSize(`${dir}/uchat_bot_bg.wasm`)) + (await gzipSize(`${dir}/uchat_bot.js`));
  for (const s of snippets) n += await gzipSize(`${dir}/${s}`);
  return n;
}

async function main() {
  const res = { lines: [] };
  const result = (name, value) => { res[name] = value; res.lines.push(`RESULT ${name} ${value}`); };

  // init_ms: fetch + compile + instantiate the module, as a page does it.
  const t0 = performance.now();
  await init({ module_or_path: './pkg/uchat_bot_bg.wasm' });
  const initMs = performance.now() - t0;
  const gz = await buildGzipSize('./pkg');
  // The same SDK built for speed (opt-level 3, `[profile.release-speed]`), a second module
  // instance in this page, timed side by side (docs/PERFORMANCE.md "Size or speed").
  const speed = await import('./pkg-speed/uchat_bot.js');
  await speed.default({ module_or_path: './pkg-speed/uchat_bot_bg.wasm' });
  const gzSpeed = await buildGzipSize('./pkg-speed');

  const mb = Number(q.get('mb') || 10);
  const rounds = Number(q.get('rounds') || 7);
  log(`browser: ${navigator.userAgent}`);
  log(`corpus encoder matches ${await checkEncoder()} server vectors of vectors.json`);
  const corpus = makeCorpus(mb * 1e6, 42);
  const frames = corpus.frames.map((f) => f.buffer);
  const lineCount = corpus.frames.reduce((n, f) => { for (const b of f) if (b === 10) n++; return n; }, 0);
  log(`corpus: ${frames.length} frames, ${(corpus.bytes / 1e6).toFixed(2)} MB, ~${lineCount} line ends (seed 42)`);

  // A joined bot on the sim that serves this page.
  const room = 'bench-' + Math.floor(Math.random() * 1e9).toString(16);
  const bot = new UChatBot({ room, url: `ws://${location.host}`, nick: 'benchbot', rateLimit: false,
    reconnect: false, heartbeatMs: 0, queueLimit: 1000000 });
  const me = await bot.connect();
  const botSpeed = new speed.UChatBot({ room, url: `ws://${location.host}`, nick: 'benchfast', rateLimit: false,
    reconnect: false, heartbeatMs: 0, queueLimit: 1000000 });
  await botSpeed.connect();
  const joined = bot.room.serverTime / 1000;
  const meObj = { ...me };

  // ---- verify: the same events from every decoder ----
  const digests = {};
  {
    const h = hasher();
    const fns = EVENTS.map((e) => { const f = (p) => h.add(e, p); bot.on(e, f); return [e, f]; });
    for (const f of frames) bot.__feed(f);
    for (const [e, f] of fns) bot.off(e, f);
    digests.sdk = h.digest();
  }
  {
    const h = hasher();
    const fns = EVENTS.map((e) => { const f = (p) => h.add(e, p); botSpeed.on(e, f); return [e, f]; });
    for (const f of frames) botSpeed.__feed(f);
    for (const [e, f] of fns) botSpeed.off(e, f);
    digests.sdk_speed = h.digest();
  }
  for (const [name, D] of [['js_best', BestDecoder], ['js_best_per_field', BestDecoderPerField], ['js_best_utf16', BestDecoderUtf16], ['reference', ReferenceDecoder]]) {
    const h = hasher();
    const d = new D(h.add, meObj, joined);
    for (const f of frames) d.feed(f);
    digests[name] = h.digest();
  }
  for (const [k, v] of Object.entries(digests)) log(`verify ${k.padEnd(18)} ${v}`);
  const agree = new Set(Object.values(digests)).size === 1;
  if (!agree) throw new Error('decoders disagree: ' + JSON.stringify(digests));

  // ---- decode timing: interleaved rounds ----
  let sink = 0;
  // The same handler body for every decoder, but one function each: a bot uses one library,
  // and a shared handler would mix the object shapes of all of them in its inline caches.
  const cb = (p) => { sink += p.content !== undefined ? p.content.length : 1; };
  const cbBest = (n, p) => { sink += p.content !== undefined ? p.content.length : 1; };
  const cbPerField = (n, p) => { sink += p.content !== undefined ? p.content.length : 1; };
  const cbUtf16 = (n, p) => { sink += p.content !== undefined ? p.content.length : 1; };
  const cbRef = (n, p) => { sink += p.content !== undefined ? p.content.length : 1; };
  for (const e of EVENTS) bot.on(e, cb);
  const cbSpeed = (p) => { sink += p.content !== undefined ? p.content.length : 1; };
  for (const e of EVENTS) botSpeed.on(e, cbSpeed);
  const runners = {
    sdk: () => { for (let i = 0; i < frames.length; i++) bot.__feed(frames[i]); },
    sdk_speed: () => { for (let i = 0; i < frames.length; i++) botSpeed.__feed(frames[i]); },
    js_best: () => { const d = new BestDecoder(cbBest, meObj, joined); for (let i = 0; i < frames.length; i++) d.feed(frames[i]); },
    js_best_per_field: () => { const d = new BestDecoderPerField(cbPerField, meObj, joined); for (let i = 0; i < frames.length; i++) d.feed(frames[i]); },
    js_best_utf16: () => { const d = new BestDecoderUtf16(cbUtf16, meObj, joined); for (let i = 0; i < frames.length; i++) d.feed(frames[i]); },
    reference: () => { const d = new ReferenceDecoder(cbRef, meObj, joined); for (let i = 0; i < frames.length; i++) d.feed(frames[i]); },
    floor: () => { const td = new TextDecoder(); for (let i = 0; i < frames.length; i++) sink += td.decode(frames[i]).length; },
  };
  // ?only=NAME times one decoder alone (for profiling with DevTools), no ratios.
  const only = q.get('only');
  const names = Object.keys(runners).filter((n) => !only || n === only);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) runners[n](); // warm-up
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    // Every other round backwards: rotation alone keeps neighbours in the same order, and the
    // decoder that runs right after another one measured 2-6 % slower (an A/A run of the two
    // SDK slots with the same code read 1.046 in Chromium and 1.061 in Firefox).
    if (r % 2 === 1) order.reverse();
    for (const n of order) {
      gc();
      const a = performance.now();
      runners[n]();
      times[n].push(performance.now() - a);
    }
  }
  for (const e of EVENTS) bot.off(e, cb);
  for (const e of EVENTS) botSpeed.off(e, cbSpeed);
  const mbps = (ms) => (corpus.bytes / 1e3 / ms).toFixed(1);
  for (const n of names) log(`decode ${n.padEnd(18)} median ${median(times[n]).toFixed(1)} ms  ${mbps(median(times[n]))} MB/s`);
  if (only) { bot.close(); botSpeed.close(); return res; }
  // Per round: the fastest of the three JS-best variants is the competitor.
  const best = times.js_best.map((t, i) => Math.min(t, times.js_best_per_field[i], times.js_best_utf16[i]));
  const ratio = (other, sdk = times.sdk) => median(other.map((t, i) => t / sdk[i]));

  // ---- encode timing ----
  const sends = corpus.sends;
  let bytesOut = 0;
  const enc = {
    sdk: () => { for (let i = 0; i < sends.length; i++) bot.send(sends[i][0], sends[i][1]); },
    sdk_speed: () => { for (let i = 0; i < sends.length; i++) botSpeed.send(sends[i][0], sends[i][1]); },
    js_best: () => { for (let i = 0; i < sends.length; i++) bytesOut += encodeChat(sends[i][0], sends[i][1]).length; },
  };
  {
    const a = { n: 0, h: 0x811c9dc5 }, b = { n: 0, h: 0x811c9dc5 };
    bot.__sink((u8) => hashBytes(a, u8));
    enc.sdk();
    for (const [t, s] of sends) hashBytes(b, encodeChat(t, s));
    log(`verify encode sdk ${a.n} lines ${(a.h >>> 0).toString(16)} / js_best ${b.n} lines ${(b.h >>> 0).toString(16)}`);
    if (a.n !== b.n || a.h !== b.h) throw new Error('encoders disagree');
  }
  bot.__sink((u8) => { bytesOut += u8.length; });
  botSpeed.__sink((u8) => { bytesOut += u8.length; });
  const etimes = { sdk: [], sdk_speed: [], js_best: [] };
  const enames = Object.keys(etimes);
  for (const n of enames) enc[n]();
  for (let r = 0; r < rounds; r++) {
    const order = enames.map((_, i) => enames[(i + r) % enames.length]);
    if (r % 2 === 1) order.reverse(); // as for decoding
    for (const n of order) {
      gc();
      const a = performance.now();
      enc[n]();
      etimes[n].push(performance.now() - a);
    }
  }
  bot.__sink(null);
  botSpeed.__sink(null);
  for (const n of enames) {
    log(`encode ${n.padEnd(18)} median ${median(etimes[n]).toFixed(1)} ms for ${sends.length} lines (${(median(etimes[n]) * 1e3 / sends.length).toFixed(2)} µs/line)`);
  }
  bot.close();
  botSpeed.close();

  result('decode_vs_js_best', ratio(best).toFixed(3));
  result('decode_vs_reference', ratio(times.reference).toFixed(3));
  result('decode_vs_floor', ratio(times.floor).toFixed(3));
  result('encode_vs_js_best', median(etimes.js_best.map((t, i) => t / etimes.sdk[i])).toFixed(3));
  result('init_ms', initMs.toFixed(1));
  result('wasm_gzip_bytes', gz);
  // The speed build (same code, opt-level 3): what the size tuning costs, measured in this run.
  result('decode_vs_js_best_speed_build', ratio(best, times.sdk_speed).toFixed(3));
  result('decode_vs_reference_speed_build', ratio(times.reference, times.sdk_speed).toFixed(3));
  result('encode_vs_js_best_speed_build',
    median(etimes.js_best.map((t, i) => t / etimes.sdk_speed[i])).toFixed(3));
  result('wasm_gzip_bytes_speed_build', gzSpeed);
  // The two SDK builds against each other, round by round (> 1: the shipped build is faster);
  // with `--second-rev` this is the A/B of a change, measured side by side.
  result('decode_sdk_over_second_build', ratio(times.sdk_speed).toFixed(3));
  result('decode_sdk_mb_s', mbps(median(times.sdk)));
  result('decode_sdk_speed_build_mb_s', mbps(median(times.sdk_speed)));
  result('decode_js_best_mb_s', mbps(median(best)));
  result('corpus_mb', (corpus.bytes / 1e6).toFixed(2));
  res.sink = sink + bytesOut;
  for (const l of res.lines) log(l);
  return res;
}

window.__bench = main().catch((e) => {
  log('ERROR ' + (e && e.stack || e));
  return { error: String(e && e.stack || e) };
}).then((r) => { window.__benchResult = r; return r; });
