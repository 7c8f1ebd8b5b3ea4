// Deterministic corpus of UChat 2 server frames for `cargo xtask bench`, and the fastest JS
// encoder of the wire format we could write (used to build the corpus and as the
// `encode_vs_js_best` competitor). PROTOCOL.md §2 (framing), §3.2 (server lines).
//
// The encoder is checked against tests/vectors/vectors.json before anything is timed
// (bench.js `checkEncoder`), so the corpus is what the project's own encoder would produce.

import { parseColor } from './decoders.js';

/** mulberry32: a small seeded PRNG, so the corpus is the same in every run and browser. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Generic encoder (fields as {t, v}); used for the corpus.

const ESC = 0x5c;

function pushEscaped(out, bytes) {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === ESC || (b >= 2 && b <= 7)) out.push(ESC);
    out.push(b);
  }
}

function numBytes(n) {
  const out = [];
  while (n > 0) {
    out.push(n % 256);
    n = Math.floor(n / 256);
  }
  return out;
}

/** Encode one line: key string, fields [{t:'str'|'bin'|'num'|'bool'|'undef'|'float', v}]. */
export function encodeLine(key, fields) {
  const f = [];
  pushEscaped(f, utf8.encode(key));
  for (const { t, v } of fields) {
    switch (t) {
      case 'bin': f.push(2); pushEscaped(f, v); break;
      case 'str': f.push(3); pushEscaped(f, utf8.encode(v)); break;
      case 'bool': f.push(4, v ? 0x31 : 0x30); break;
      case 'num':
        if (v >= 0 && Number.isInteger(v)) { f.push(5); pushEscaped(f, numBytes(v)); }
        else { f.push(7); pushEscaped(f, utf8.encode(String(v))); }
        break;
      case 'undef': f.push(6); break;
      case 'float': f.push(7); pushEscaped(f, utf8.encode(String(v))); break;
      default: throw new Error('bad field type ' + t);
    }
  }
  const out = [];
  for (const b of f) {
    if (b === 0x0a) out.push(ESC);
    out.push(b);
  }
  out.push(0x0a);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The best JS chat encoder: `m | style | text` straight into one reusable buffer.

let scratch = new Uint8Array(4096);

function colorWire(c) {
  const w = parseColor(c);
  if (w === null) throw new TypeError('style.color: bad colour ' + c);
  return w;
}

/** A chat text's escaped UTF-8 (U+00A0 as a space) into `buf` from `n`; returns the end. */
function putShortText(buf, n, s) {
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === ESC || c === 0x0a || (c >= 2 && c <= 7)) buf[n++] = ESC;
      buf[n++] = c;
    } else if (c < 0x800) {
      if (c === 0xa0) {
        buf[n++] = 0x20;
      } else {
        buf[n++] = 0xc0 | c >> 6;
        buf[n++] = 0x80 | c & 63;
      }
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[n++] = 0xe0 | c >> 12;
      buf[n++] = 0x80 | c >> 6 & 63;
      buf[n++] = 0x80 | c & 63;
    } else {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d <= 0xdfff) {
        i++;
        c = 0x10000 + ((c & 0x3ff) << 10) + (d & 0x3ff);
        buf[n++] = 0xf0 | c >> 18;
        buf[n++] = 0x80 | c >> 12 & 63;
        buf[n++] = 0x80 | c >> 6 & 63;
        buf[n++] = 0x80 | c & 63;
      } else {
        buf[n++] = 0xef;
        buf[n++] = 0xbf;
        buf[n++] = 0xbd;
      }
    }
  }
  return n;
}

/**
 * The `m` line for `send(text, {bold, italic, underline, color})` (PROTOCOL.md §3.1), as a view
 * of a scratch buffer that the next call reuses: what a JS bot would hand `WebSocket.send`
 * (which copies), as the SDK hands it a view of wasm memory.
 */
export function encodeChat(text, style) {
  let sw = '';
  if (style) {
    const bits = (style.bold ? 4 : 0) | (style.italic ? 2 : 0) | (style.underline ? 1 : 0);
    if (bits) sw = String.fromCharCode(48 + bits);
    if (style.color != null) sw += ' ' + colorWire(style.color);
  }
  const need = 8 + sw.length + text.length * 3;
  if (need * 2 > scratch.length) scratch = new Uint8Array(need * 4);
  const buf = scratch;
  buf[0] = 0x6d; // 'm'
  buf[1] = 3;
  let n = 2;
  for (let i = 0; i < sw.length; i++) buf[n++] = sw.charCodeAt(i); // ASCII only
  buf[n++] = 3;
  // Chat-sized texts: UTF-8, escapes and U+00A0 in one loop (a loop beats the `encodeInto`
  // call up to about 64 units; the SDK's hub.js draws the same line).
  if (text.length <= 64) {
    n = putShortText(buf, n, text);
    buf[n++] = 0x0a;
    return buf.subarray(0, n);
  }
  if (text.indexOf('\u00a0') >= 0) text = text.replace(/\u00a0/g, ' ');
  const start = n;
  n += utf8.encodeInto(text, buf.subarray(n)).written;
  // Escapes are rare: look first, rewrite only when needed.
  let special = -1;
  for (let i = start; i < n; i++) {
    const b = buf[i];
    if (b <= 0x0a ? (b >= 2 && b <= 7) || b === 0x0a : b === ESC) { special = i; break; }
  }
  if (special < 0) {
    buf[n++] = 0x0a;
    return buf.subarray(0, n);
  }
  const raw = buf.slice(start, n);
  const out = new Uint8Array(n * 3 + 1);
  out.set(buf.subarray(0, start));
  let o = start;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === ESC || (b >= 2 && b <= 7)) out[o++] = ESC;
    else if (b === 0x0a) out[o++] = ESC;
    out[o++] = b;
  }
  out[o++] = 0x0a;
  return out.subarray(0, o);
}

// ---------------------------------------------------------------------------------------------
// Corpus

const KO = ['안녕하세요', '반가워요', 'ㅋㅋㅋㅋ', '오늘', '날씨', '좋네요', '게임', '하실분', '저녁',
  '뭐', '먹지', '유챗', '봇', '테스트', '진짜', '대박', '감사합니다', '네', '아니요', '잠깐만',
  '방장님', '공지', '확인', '부탁드려요', '그러게요', 'ㅎㅎ', '새벽', '출근', '퇴근', '주말'];
const EN = ['hello', 'world', 'anyone', 'here', 'lol', 'the', 'bot', 'is', 'fast', 'today',
  'game', 'tonight', 'thanks', 'ok', 'see', 'you', 'later', 'what', 'time', 'server', 'wasm'];
const NICK_KO = ['탁월한지도자', '별빛', '고양이', '바람', '하늘', '민수', '지은', '코딩왕', '손님'];
const NICK_EN = ['alice', 'bob', 'carol', 'dave', 'eve', 'mallory', 'trent', 'peggy'];
const STYLES = ['', '', '', '4', '4 #ff0000', ' #00ff00', '7', '2 #123456', '1', '6 #0000ff'];
/** System codes with argument makers (PROTOCOL.md §3.3). */
const SYSTEM = [
  [12, (r, u) => [{ t: 'str', v: '공지: ' + words(r, KO, 3, 12) }]],
  [4, (r, u) => [{ t: 'str', v: u().nick }, { t: 'str', v: u().nick }, { t: 'num', v: 10 }]],
  [5, (r, u) => [{ t: 'str', v: u().nick }, { t: 'str', v: u().nick }]],
  [1, (r, u) => [{ t: 'str', v: u().nick }, { t: 'str', v: u().nick }, { t: 'str', v: 'spam' }]],
  [8, (r, u) => [{ t: 'bin', v: u().key }, { t: 'bin', v: u().key }]],
  [36, (r, u) => {
    const x = u();
    return [{ t: 'str', v: x.nick }, { t: 'str', v: x.id }, { t: 'undef' }, { t: 'num', v: x.auth },
      { t: 'num', v: x.time }, { t: 'bin', v: x.session }];
  }],
  [20, (r) => [{ t: 'bool', v: r() < 0.5 }, { t: 'float', v: -1.5 }]],
];

function pick(r, a) { return a[Math.floor(r() * a.length)]; }
function words(r, list, min, max) {
  const n = min + Math.floor(r() * (max - min + 1));
  const w = [];
  for (let i = 0; i < n; i++) w.push(pick(r, list));
  return w.join(' ');
}
function bytes(r, n, tricky) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  // Some keys carry bytes both escaping layers must handle.
  if (tricky) b[Math.floor(r() * n)] = pick(r, [0x0a, 0x5c, 0x02, 0x03, 0x07]);
  return b;
}

function chatText(r) {
  const x = r();
  let t;
  if (x < 0.45) t = words(r, KO, 1, 14);
  else if (x < 0.85) t = words(r, EN, 1, 18);
  else t = words(r, KO, 1, 5) + ' ' + words(r, EN, 1, 5);
  const y = r();
  if (y < 0.03) t += ' 😀👍';
  else if (y < 0.05) t += ' a\\b\nc';
  else if (y < 0.06) t += ' \u0003\u0007 tab\tend';
  return t;
}

/**
 * The corpus: an array of frames (Uint8Array, one WebSocket message each) of about
 * `targetBytes`, plus chat lines for the encode bench. Deterministic for a given seed.
 * Times: live lines in 2033 (after any join), a few history lines in 2020 (before it).
 */
export function makeCorpus(targetBytes, seed = 42) {
  const r = prng(seed);
  let serial = 0;
  const users = [];
  const present = [];
  const mkUser = () => {
    serial++;
    const ko = r() < 0.5;
    const u = {
      key: bytes(r, 8, r() < 0.1),
      nick: (ko ? pick(r, NICK_KO) : pick(r, NICK_EN)) + serial,
      id: r() < 0.6 ? 'member' + serial : '',
      level: r() < 0.5 ? String(1 + Math.floor(r() * 9)) : undefined,
      auth: Math.floor(r() * 4),
      icons: r() < 0.2 ? 'https://x.example/i/' + serial + '.png' : '',
      nickcon: '',
      time: 1600000000 + Math.floor(r() * 1e8),
      mute: r() < 0.1 ? 1 : 0,
      session: bytes(r, 8, false),
      profileimg: r() < 0.3 ? 'https://x.example/p/' + serial + '.jpg' : undefined,
    };
    users.push(u);
    return u;
  };
  const kLine = (u) => {
    const f = [
      { t: 'bin', v: u.key }, { t: 'str', v: u.nick },
      u.id ? { t: 'str', v: u.id } : { t: 'undef' },
      u.level === undefined ? { t: 'undef' } : { t: 'str', v: u.level },
      { t: 'num', v: u.auth }, { t: 'str', v: u.icons }, { t: 'str', v: u.nickcon },
      { t: 'num', v: u.time }, { t: 'num', v: u.mute }, { t: 'bin', v: u.session },
    ];
    if (u.profileimg !== undefined) f.push({ t: 'str', v: u.profileimg });
    return encodeLine('k', f);
  };
  const anyPresent = () => present[Math.floor(r() * present.length)];

  const frames = [];
  let total = 0;
  const chat = [];
  const push = (lines) => {
    const n = lines.reduce((s, l) => s + l.length, 0);
    const f = new Uint8Array(n);
    let o = 0;
    for (const l of lines) { f.set(l, o); o += l.length; }
    frames.push(f);
    total += n;
  };
  // The join burst: records, the user list and a count.
  let burst = [];
  for (let i = 0; i < 120; i++) {
    const u = mkUser();
    present.push(u);
    burst.push(kLine(u));
  }
  for (const u of present) burst.push(encodeLine('u', [{ t: 'bin', v: u.key }]));
  burst.push(encodeLine('u', []));
  burst.push(encodeLine('c', [{ t: 'num', v: present.length + 1 }]));
  push(burst);

  let t = 2000000000; // 2033: after any join
  while (total < targetBytes) {
    const lines = [];
    const n = r() < 0.6 ? 1 : 2 + Math.floor(r() * 7); // many multi-line frames
    for (let i = 0; i < n; i++) {
      const x = r();
      t += 1;
      if (x < 0.74) {
        const u = anyPresent();
        const text = chatText(r);
        const hist = r() < 0.02;
        lines.push(encodeLine('m', [{ t: 'bin', v: u.key }, { t: 'str', v: pick(r, STYLES) },
          { t: 'str', v: text }, { t: 'num', v: hist ? 1600000000 + (t % 1000) : t }]));
        if (chat.length < 40000) chat.push(text);
      } else if (x < 0.82) {
        lines.push(encodeLine('w', [{ t: 'bin', v: anyPresent().key }, { t: 'bin', v: anyPresent().key },
          { t: 'str', v: pick(r, STYLES) }, { t: 'str', v: chatText(r) }, { t: 'num', v: t }]));
      } else if (x < 0.86) {
        const [code, args] = pick(r, SYSTEM);
        lines.push(encodeLine('s', [{ t: 'num', v: code }, ...args(r, anyPresent)]));
      } else if (x < 0.90) {
        const u = anyPresent(); // a refreshed record (e.g. mute changed)
        u.mute ^= 1;
        lines.push(kLine(u));
      } else if (x < 0.94) {
        const u = mkUser();
        present.push(u);
        lines.push(kLine(u), encodeLine('j', [{ t: 'bin', v: u.key }]));
      } else if (x < 0.98) {
        if (present.length > 60) {
          const i = Math.floor(r() * present.length);
          const [u] = present.splice(i, 1);
          lines.push(encodeLine('o', [{ t: 'str', v: u.nick }]));
        }
      } else {
        lines.push(encodeLine('c', [{ t: 'num', v: present.length + 1 }]));
      }
    }
    if (lines.length) push(lines);
  }
  const styles = [undefined, { bold: true }, { color: '#FF0000' }, { italic: true, underline: true, color: '#0f0' },
    { bold: true, color: 'rgb(1, 2, 3)' }];
  const sends = chat.map((text, i) => [text, styles[i % styles.length]]);
  return { frames, bytes: total, sends };
}
