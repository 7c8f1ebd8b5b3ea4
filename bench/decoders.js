// The pure-JS competitors of the SDK's decode path (`cargo xtask bench`, docs/PERFORMANCE.md).
//
// Both produce exactly the events a UChatBot delivers (src/web/mod.rs `Inner::dispatch`, payload
// shapes in tests/web.rs) from the same rules (PROTOCOL.md §2-3, the session's user table), so
// the bench compares like with like:
//   * BestDecoder — as fast as we could write it: one TextDecoder pass per frame, fields sliced
//     out of the decoded string by UTF-16 offsets counted during the byte scan, user objects
//     built once per `k` record and shared, no per-byte arrays. (An alternative that calls
//     TextDecoder per field is kept as BestDecoderPerField, and one that decodes UTF-8 to UTF-16
//     itself and makes the frame's text with String.fromCharCode, as the SDK's hub.js does, as
//     BestDecoderUtf16; bench.js takes the fastest of the three in every round.)
//   * ReferenceDecoder — the steps uchat.js takes to decode (PROTOCOL.md §7), one by one: every
//     byte pushed into JS arrays, strings built per byte as `%XX` pieces joined and passed to
//     decodeURIComponent (the comment above the class lists the steps).
// Room (below) is the shared protocol logic: user table, style parsing, event objects.

const HEX = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? '0' : '') + i.toString(16));

export const SYSTEM_NAMES = ['connected', 'ban', 'system_ban', 'apply_report', 'mute', 'un_mute',
  'system_un_mute', 'to_call', 'from_call', 'ip', 'invite', 'ignore', 'notice', 'system_mute',
  'muted', 'invite_notice', 'report_ban', 'bad_word', 'un_ignore', 'change_option', 'notify',
  'frozen', 'defrozen', 'admin_join', 'admin_out', 'block_info', 'changed_info', 'op', 'deop',
  'login', 'logout', 'channel_made', 'clear_log', 'too_many', 'admin_login', 'admin_logout',
  'user_info', 'permanent_mute', 'permanent_muted', 'system_notice', 'toplayer', 'call_admin'];

// Field types (PROTOCOL.md §2.3). Field values handed to Room: BIN → lowercase hex string,
// STR → string, BOOL → boolean, NUM/FLOAT → number, UNDEF → undefined.
const BIN = 2, STR = 3, BOOL = 4, NUM = 5, UNDEF = 6, FLOAT = 7;

const COLOR6 = /^#[0-9a-f]{6}$/;
/** A style colour (`#rgb`, `#rrggbb`, `rgb(r, g, b)`) as lowercase `#rrggbb`, or null. */
export function parseColor(c) {
  if (COLOR6.test(c)) return c;
  const s = c.trim();
  if (s[0] === '#') {
    const h = s.slice(1);
    if (!/^[0-9a-fA-F]+$/.test(h)) return null;
    const l = h.toLowerCase();
    if (l.length === 6) return '#' + l;
    if (l.length === 3) return '#' + l[0] + l[0] + l[1] + l[1] + l[2] + l[2];
    return null;
  }
  const m = /^rgb\s*\(([^)]*)\)$/.exec(s.toLowerCase());
  if (m) {
    const p = m[1].split(',').map((x) => x.trim());
    if (p.length === 3 && p.every((x) => /^\d+$/.test(x) && +x <= 255)) {
      return '#' + p.map((x) => (+x).toString(16).padStart(2, '0')).join('');
    }
  }
  return null;
}

/** Style text → [bits, colour|null] or null when malformed (message/style.rs `Style::parse`). */
function parseStyle(w) {
  const sp = w.indexOf(' ');
  const bits = sp < 0 ? w : w.slice(0, sp);
  let n = 0;
  if (bits.length) {
    if (!/^[0-9]+$/.test(bits) || +bits > 7) return null;
    n = +bits;
  }
  let color = null;
  if (sp >= 0) {
    const c = w.slice(sp + 1).trim();
    if (c.length) {
      color = parseColor(c);
      if (color === null) return null;
    }
  }
  return [n, color];
}

const PLAIN = Object.freeze({ bold: false, italic: false, underline: false, color: null });

function unknownUser(key) {
  return { key, nick: '', id: '', level: undefined, auth: 0, icons: '', nickcon: '', connected: 0,
    mute: false, session: '', profileimg: undefined };
}

/** The session's protocol logic over decoded fields; `emit(name, payload)` gets the events. */
class Room {
  constructor(emit, me, joinedServerS) {
    this.emit = emit;
    this.records = new Map(); // key hex → shared user object
    this.present = [];
    this.acc = [];
    this.me = me ? me.key : null;
    if (me) { this.records.set(me.key, me); this.present.push(me.key); }
    this.joined = joinedServerS;
    this.styles = new Map();
  }

  user(key) { return this.records.get(key) || unknownUser(key); }

  // One frozen style object per distinct style text, shared like the SDK does.
  style(w) {
    let s = this.styles.get(w);
    if (s === undefined) {
      const p = parseStyle(w);
      s = p === null ? null : Object.freeze({ bold: (p[0] & 4) !== 0, italic: (p[0] & 2) !== 0,
        underline: (p[0] & 1) !== 0, color: p[1] });
      if (this.styles.size < 256) this.styles.set(w, s);
    }
    if (s === null) {
      this.emit('error', { code: 'message', name: 'message',
        message: 'malformed chat style from the server' });
      return PLAIN;
    }
    return s;
  }

  /** One line: `key`, then `n` fields in `t` (types) and `v` (values). */
  line(key, t, v, n) {
    switch (key) {
      case 'm': {
        if (n < 3 || t[0] !== BIN || t[1] !== STR || t[2] !== STR) return this.bad(key);
        const k = v[0];
        const time = n > 3 && t[3] === NUM ? v[3] : undefined;
        this.emit('message', {
          user: this.user(k), style: this.style(v[1]), content: v[2],
          time: time === undefined ? Date.now() : time * 1000, self: k === this.me,
          history: time !== undefined && time < this.joined,
        });
        return;
      }
      case 'w': {
        if (n < 4 || t[0] !== BIN || t[1] !== BIN || t[2] !== STR || t[3] !== STR) return this.bad(key);
        const time = n > 4 && t[4] === NUM ? v[4] : undefined;
        this.emit('whisper', {
          from: this.user(v[0]), to: this.user(v[1]), style: this.style(v[2]), content: v[3],
          time: time === undefined ? Date.now() : time * 1000, self: v[0] === this.me,
        });
        return;
      }
      case 'k': {
        if (n < 10 || t[0] !== BIN) return this.bad(key);
        const u = {
          key: v[0], nick: v[1], id: t[2] === UNDEF ? '' : v[2],
          level: t[3] === UNDEF ? undefined : v[3], auth: v[4],
          icons: t[5] === UNDEF ? '' : v[5], nickcon: t[6] === UNDEF ? '' : v[6],
          connected: v[7] * 1000, mute: (v[8] & 1) !== 0, session: v[9],
          profileimg: n > 10 && t[10] === STR ? v[10] : undefined,
        };
        this.records.set(u.key, u);
        return;
      }
      case 's': {
        const data = new Array(n - 1);
        for (let i = 1; i < n; i++) data[i - 1] = v[i];
        const code = v[0];
        this.emit('system', { type: SYSTEM_NAMES[code] || 'unknown_system_code', code, data });
        return;
      }
      case 'j': {
        const k = v[0];
        if (!this.present.includes(k)) this.present.push(k);
        this.emit('user.join', { user: this.user(k) });
        return;
      }
      case 'o': {
        const nick = v[0];
        const i = this.present.findIndex((k) => { const r = this.records.get(k); return r !== undefined && r.nick === nick; });
        let u;
        if (i < 0) {
          u = unknownUser('');
          u.nick = nick;
        } else {
          const k = this.present[i];
          this.present.splice(i, 1);
          u = this.records.get(k);
          if (k !== this.me) this.records.delete(k);
        }
        this.emit('user.quit', { user: u });
        return;
      }
      case 'u': {
        if (n > 0) { this.acc.push(v[0]); return; }
        const keys = this.acc;
        this.acc = [];
        this.present = keys.slice();
        if (this.me !== null && !this.present.includes(this.me)) this.present.push(this.me);
        this.emit('user.list', { list: keys.map((k) => this.user(k)) });
        return;
      }
      case 'c':
        this.emit('user.count', { count: v[0] });
        return;
      default:
        return; // other keys are not in the corpus
    }
  }

  bad(key) {
    this.emit('error', { code: 'message', name: 'message', message: 'malformed line ' + key });
  }
}

/** The bytes of `buf` after the unfinished line the decoder `d` kept from the last frame
 * (`d.pending`, then cleared). */
function takeFrame(d, buf) {
  const u8 = new Uint8Array(buf);
  if (d.pending === null) return u8;
  const j = new Uint8Array(d.pending.length + u8.length);
  j.set(d.pending);
  j.set(u8, d.pending.length);
  d.pending = null;
  return j;
}

function numLE(u8, a, b) {
  let x = 0, m = 1;
  for (let i = a; i < b; i++) { x += u8[i] * m; m *= 256; }
  return x;
}

// ---------------------------------------------------------------------------------------------
// The fast decoder

// ignoreBOM: a chat text may start with U+FEFF; dropping it would shift the frame's strings.
const td = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAXF = 64;

export class BestDecoder {
  constructor(emit, me, joinedServerS) {
    this.room = new Room(emit, me, joinedServerS);
    this.pending = null;
    this.t = new Uint8Array(MAXF);
    this.v = new Array(MAXF);
    this.str = new Uint8Array(1 << 16); // string bytes of the frame, unescaped
    this.bin = new Uint8Array(1 << 16); // other payloads, unescaped
    this.desc = new Int32Array(1 << 14); // per line: n, then per field (key first): type, a, b
  }

  feed(buf) {
    const u8 = takeFrame(this, buf);
    const len = u8.length;
    if (this.str.length < len) { this.str = new Uint8Array(len * 2); this.bin = new Uint8Array(len * 2); }
    if (this.desc.length < len * 3 + 64) this.desc = new Int32Array(len * 3 + 64);
    const str = this.str, bin = this.bin, desc = this.desc;
    // Pass 1: split lines and fields, copy payloads unescaped, count UTF-16 units of strings.
    let pos = 0, so = 0, bo = 0, u16 = 0, d = 0, end = 0;
    while (pos < len) {
      let i = pos, ty = 0, n = 0, fa = u16, ended = false;
      const head = d;
      d++;
      while (i < len) {
        let b = u8[i];
        if (b === 0x5c) {
          if (i + 1 >= len) { i++; break; }
          const c = u8[i + 1];
          if (c === 0x0a || c === 0x5c || (c >= 2 && c <= 7)) b = c;
          else if (ty === 0 || ty === STR) { str[so++] = 0x5c; u16++; b = c; } else { bin[bo++] = 0x5c; b = c; }
          i += 2;
        } else if (b <= 0x0a && (b === 0x0a || (b >= 2 && b <= 7))) {
          // end of a field
          desc[d] = ty; desc[d + 1] = fa; desc[d + 2] = ty === 0 || ty === STR ? u16 : bo;
          d += 3;
          n++;
          i++;
          if (b === 0x0a) { ended = true; break; }
          ty = b;
          fa = ty === STR ? u16 : bo;
          continue;
        } else i++;
        if (ty === 0 || ty === STR) {
          str[so++] = b;
          if (b < 0x80) u16++; else if (b >= 0xc0) u16 += b >= 0xf0 ? 2 : 1;
        } else bin[bo++] = b;
      }
      if (!ended) {
        this.pending = u8.slice(pos);
        d = head;
        break;
      }
      desc[head] = n;
      pos = i;
      end = d;
    }
    if (end === 0) return;
    // Pass 2: one TextDecoder call for every string of the frame, then the events.
    lines(this, td.decode(str.subarray(0, so)), bin, desc, end);
  }
}

/** Pass 2 of the two fast decoders: the lines described by `desc[0..end)` (see `feed`), their
 * strings sliced out of `text`, their other payloads read from `bin`, handed to `d.room`. */
function lines(d, text, bin, desc, end) {
  const t = d.t, v = d.v;
  for (let k = 0; k < end;) {
    const n = desc[k];
    const key = text.substring(desc[k + 2], desc[k + 3]);
    const m = Math.min(n - 1, MAXF);
    for (let f = 0; f < m; f++) {
      const x = k + 4 + f * 3;
      const ty = desc[x], a = desc[x + 1], b = desc[x + 2];
      t[f] = ty;
      switch (ty) {
        case STR: v[f] = text.substring(a, b); break;
        case BIN: { let s = ''; for (let i = a; i < b; i++) s += HEX[bin[i]]; v[f] = s; break; }
        case NUM: v[f] = numLE(bin, a, b); break;
        case BOOL: v[f] = b - a === 1 && bin[a] === 0x31; break;
        case FLOAT: v[f] = Number(String.fromCharCode.apply(null, bin.subarray(a, b))); break;
        default: v[f] = undefined;
      }
    }
    if (key.length && key.charCodeAt(0) !== 0) d.room.line(key, t, v, m);
    k += 1 + n * 3;
  }
}

const td16 = new TextDecoder('utf-16le', { ignoreBOM: true });
const BAD_UTF8 = 'The encoded data was not valid for encoding utf-8';

/**
 * BestDecoder with the SDK's string trick: pass 1 decodes UTF-8 into UTF-16 code units itself
 * (a byte loop it runs anyway), and the frame's text is made with one `String.fromCharCode`
 * call over the units instead of a `TextDecoder` call, which costs more for frame-sized texts
 * (src/web/hub.js `text`). Invalid UTF-8 throws, as BestDecoder's fatal TextDecoder does.
 */
// Its byte scan repeats BestDecoder's on purpose: each competitor's hot loop is written out for
// its own string handling, as someone tuning it would; a shared loop with a mode switch would
// make both slower and the comparison less fair.
export class BestDecoderUtf16 {
  constructor(emit, me, joinedServerS) {
    this.room = new Room(emit, me, joinedServerS);
    this.pending = null;
    this.t = new Uint8Array(MAXF);
    this.v = new Array(MAXF);
    this.u16 = new Uint16Array(1 << 16); // string units of the frame
    this.bin = new Uint8Array(1 << 16);
    this.desc = new Int32Array(1 << 14);
  }

  feed(buf) {
    const u8 = takeFrame(this, buf);
    const len = u8.length;
    if (this.u16.length < len) { this.u16 = new Uint16Array(len * 2); this.bin = new Uint8Array(len * 2); }
    if (this.desc.length < len * 3 + 64) this.desc = new Int32Array(len * 3 + 64);
    const u16 = this.u16, bin = this.bin, desc = this.desc;
    let pos = 0, bo = 0, so = 0, d = 0, end = 0;
    while (pos < len) {
      let i = pos, ty = 0, n = 0, fa = so, ended = false;
      const head = d;
      d++;
      while (i < len) {
        let b = u8[i];
        if (b === 0x5c) {
          if (i + 1 >= len) { i++; break; }
          const c = u8[i + 1];
          if (c === 0x0a || c === 0x5c || (c >= 2 && c <= 7)) b = c;
          else if (ty === 0 || ty === STR) { u16[so++] = 0x5c; b = c; } else { bin[bo++] = 0x5c; b = c; }
          i += 2;
        } else if (b <= 0x0a && (b === 0x0a || (b >= 2 && b <= 7))) {
          desc[d] = ty; desc[d + 1] = fa; desc[d + 2] = ty === 0 || ty === STR ? so : bo;
          d += 3;
          n++;
          i++;
          if (b === 0x0a) { ended = true; break; }
          ty = b;
          fa = ty === STR ? so : bo;
          continue;
        } else if (b >= 0x80 && (ty === 0 || ty === STR)) {
          // A multi-byte sequence: its continuation bytes are never escaped or separators. One
          // cut off by the end of the frame belongs to an unfinished line (kept as pending).
          if (i + (b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3) >= len) { i = len; break; }
          if (b >= 0xc2 && b < 0xe0) {
            const c1 = u8[i + 1];
            if ((c1 & 0xc0) !== 0x80) throw new TypeError(BAD_UTF8);
            u16[so++] = ((b & 0x1f) << 6) | (c1 & 0x3f);
            i += 2;
          } else if (b >= 0xe0 && b < 0xf0) {
            const c1 = u8[i + 1], c2 = u8[i + 2];
            const x = ((b & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
            if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || x < 0x800 || (x >= 0xd800 && x < 0xe000)) throw new TypeError(BAD_UTF8);
            u16[so++] = x;
            i += 3;
          } else if (b >= 0xf0 && b < 0xf5) {
            const c1 = u8[i + 1], c2 = u8[i + 2], c3 = u8[i + 3];
            const x = ((b & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
            if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80 || x < 0x10000 || x > 0x10ffff) throw new TypeError(BAD_UTF8);
            u16[so++] = 0xd7c0 + (x >> 10);
            u16[so++] = 0xdc00 | (x & 0x3ff);
            i += 4;
          } else throw new TypeError(BAD_UTF8);
          continue;
        } else i++;
        if (ty === 0 || ty === STR) u16[so++] = b; else bin[bo++] = b;
      }
      if (!ended) {
        this.pending = u8.slice(pos);
        d = head;
        break;
      }
      desc[head] = n;
      pos = i;
      end = d;
    }
    if (end === 0) return;
    const units = u16.subarray(0, so);
    lines(this, so <= 4096 ? String.fromCharCode.apply(null, units) : td16.decode(units), bin, desc, end);
  }
}

/** A field with escapes: undo both layers into bytes, then decode. */
function unescapeBytes(u8, a, b) {
  const out = new Uint8Array(b - a);
  let o = 0;
  for (let i = a; i < b; i++) {
    let x = u8[i];
    if (x === 0x5c && i + 1 < b) {
      const y = u8[++i];
      if (y === 0x0a || y === 0x5c || (y >= 2 && y <= 7)) x = y;
      else { out[o++] = 0x5c; x = y; }
    }
    out[o++] = x;
  }
  return out.subarray(0, o);
}
function unescapeKey(u8, a, b) { return td.decode(unescapeBytes(u8, a, b)); }
function slow(ty, u8, a, b) {
  const x = unescapeBytes(u8, a, b);
  switch (ty) {
    case STR: return td.decode(x);
    case BIN: { let s = ''; for (let i = 0; i < x.length; i++) s += HEX[x[i]]; return s; }
    case NUM: return numLE(x, 0, x.length);
    case BOOL: return x.length === 1 && x[0] === 0x31;
    case UNDEF: return undefined;
    case FLOAT: return Number(td.decode(x));
  }
  return undefined;
}

/** The same, but one TextDecoder call per string field instead of one per frame. */
export class BestDecoderPerField {
  constructor(emit, me, joinedServerS) {
    this.room = new Room(emit, me, joinedServerS);
    this.pending = null;
    this.t = new Uint8Array(MAXF);
    this.v = new Array(MAXF);
  }

  feed(buf) {
    const u8 = takeFrame(this, buf);
    const len = u8.length;
    const t = this.t, v = this.v;
    let pos = 0;
    while (pos < len) {
      let i = pos, ty = 0, n = -1, fa = pos, esc = false, key = '', ended = false;
      while (i < len) {
        const b = u8[i];
        if (b !== 0x0a && b !== 0x5c && (b > 7 || b < 2)) { i++; continue; }
        if (b === 0x5c) { esc = true; i += 2; continue; }
        if (n < 0) key = esc ? unescapeKey(u8, fa, i) : td.decode(u8.subarray(fa, i));
        else if (n < MAXF) { t[n] = ty; v[n] = esc ? slow(ty, u8, fa, i) : fieldPF(ty, u8, fa, i); }
        n++;
        esc = false;
        if (b === 0x0a) { ended = true; i++; break; }
        ty = b; i++; fa = i;
      }
      if (!ended) { this.pending = u8.slice(pos); return; }
      if (key.length && key.charCodeAt(0) !== 0) this.room.line(key, t, v, Math.min(n, MAXF));
      pos = i;
    }
  }
}

function fieldPF(ty, u8, a, b) {
  switch (ty) {
    case STR: return a === b ? '' : td.decode(u8.subarray(a, b));
    case BIN: { let s = ''; for (let i = a; i < b; i++) s += HEX[u8[i]]; return s; }
    case NUM: return numLE(u8, a, b);
    case BOOL: return b - a === 1 && u8[a] === 0x31;
    case UNDEF: return undefined;
    case FLOAT: return Number(td.decode(u8.subarray(a, b)));
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The reference decoder: the steps uchat.js takes for every binary frame (PROTOCOL.md §7, the
// public copy named there), in the same order and with the same data structures, written anew:
//   1. `websocket.onmessage` copies the frame into a new JS array, one `DataView.getUint8` and
//      one `push` per byte;
//   2. `socket.onData` appends that array to the carried-over stream with `concat`, splits the
//      stream into lines (`bytelinesplit`: one array per line, escapes looked up with
//      `indexOf` in a list) and keeps the unfinished last line as the new stream;
//   3. `bytesplit` turns each line into values: every byte becomes two strings in an array,
//      `'%'` and its hex pair left-padded through uchat.js's `pad('00', hex, true)`, i.e.
//      `('00' + hex).slice(-2)`; a field is finished with `join('')` and, by type,
//      `decodeURIComponent` (text), `unescape` (binary, number, float) or a comparison with
//      `'%31'` (boolean); the first value is the key, taken with `shift()`.
// Three additions, needed to deliver the SDK's exact events and cheap next to the
// above: the field types are recorded (uchat.js does not look at them; Room checks them as the
// session does), binary keys become lowercase hex, and numbers of more than 4 bytes, where
// uchat.js's 32-bit shifts wrap, are read unsigned as the SDK reads 5–7 bytes (DECISIONS.md 3;
// the corpus has none).

export class ReferenceDecoder {
  constructor(emit, me, joinedServerS) {
    this.room = new Room(emit, me, joinedServerS);
    this.stream = [];
    this.types = [];
  }

  feed(buf) {
    const view = new DataView(buf instanceof ArrayBuffer ? buf : buf.buffer);
    const bytes = [];
    for (let i = 0, len = view.byteLength; i < len; ++i) bytes.push(view.getUint8(i));
    this.stream = this.stream.concat(bytes);
    const lines = refLineSplit(this.stream);
    this.stream.length = 0;
    this.stream = lines.pop();
    for (let i = 0, len = lines.length; i < len; i++) {
      if (!lines[i][0]) continue;
      const types = this.types;
      const values = refFieldSplit(lines[i], types);
      const key = values.shift();
      types.shift();
      this.room.line(key, types, values, values.length);
    }
  }
}

/** uchat.js `bytelinesplit`: the lines as byte arrays, an escaped newline kept in the line. */
function refLineSplit(data) {
  const result = [];
  const escapes = [0x0a]; // a list per call, as uchat.js has it
  let buffer = [];
  for (let index = 0, last = data.length; index < last; index++) {
    const b = data[index];
    if (b === 0x0a) {
      result.push(buffer);
      buffer = [];
    } else if (b === 0x5c) {
      index++;
      if (index < last) {
        if (escapes.indexOf(data[index]) === -1) buffer.push(b);
        buffer.push(data[index]);
      }
    } else buffer.push(b);
  }
  result.push(buffer);
  return result;
}

/** uchat.js `pad('00', str, true)`. */
function refPad(pad, str) {
  return (pad + str).slice(-pad.length);
}

/** uchat.js `bytesplit` (plus the field types, see above). */
function refFieldSplit(data, types) {
  const result = [];
  const buffer = [];
  const escapes = [0x02, 0x03, 0x04, 0x05, 0x06, 0x07];
  types.length = 0;
  let mode = STR;
  for (let index = 0, last = data.length; index < last; index++) {
    const b = data[index];
    if (b >= 0x02 && b <= 0x07) {
      result.push(refFinish(mode, buffer));
      types.push(mode);
      buffer.length = 0;
      mode = b;
    } else if (b === 0x5c) {
      index++;
      if (index < last) {
        const nx = data[index];
        if (escapes.indexOf(nx) === -1 && nx !== 0x5c) {
          buffer.push('%');
          buffer.push(refPad('00', b.toString(16)));
        }
        buffer.push('%');
        buffer.push(refPad('00', nx.toString(16)));
      }
    } else {
      buffer.push('%');
      buffer.push(refPad('00', b.toString(16)));
    }
  }
  result.push(refFinish(mode, buffer));
  types.push(mode);
  return result;
}

function refFinish(mode, buffer) {
  switch (mode) {
    case BIN: return refHex(unescape(buffer.join('')));
    case STR: return decodeURIComponent(buffer.join(''));
    case BOOL: return buffer.join('') === '%31';
    case NUM: return refNumber(unescape(buffer.join('')));
    case UNDEF: return undefined;
    case FLOAT: return Number(unescape(buffer.join('')));
  }
  return undefined;
}

/** A binary string (one char per byte, as uchat.js keeps keys) as lowercase hex. */
function refHex(bin) {
  let s = '';
  for (let i = 0; i < bin.length; i++) s += refPad('00', bin.charCodeAt(i).toString(16));
  return s;
}

/** uchat.js `b2n` over the binary string (up to 4 bytes; see above for longer ones). */
function refNumber(bin) {
  let x = 0;
  if (bin.length <= 4) {
    for (let i = 0; i < bin.length; i++) x += bin.charCodeAt(i) << (8 * i);
  } else {
    for (let i = 0; i < bin.length; i++) x += bin.charCodeAt(i) * 2 ** (8 * i);
  }
  return x;
}
