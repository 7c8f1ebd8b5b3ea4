// The JS half of the browser layer (src/web/mod.rs): a bot's listeners, and the reader of the
// event tape (src/session/tape.rs, whose table of records this follows; keep both in step).
// wasm-bindgen ships this file next to the glue (`snippets/`); the single-file userscript
// build inlines it.
//
// Per WebSocket frame the wasm side makes one `run` call per stretch of tape (the first one
// also makes every string of the frame, UTF-16 code units the wasm side converted, into one JS
// string), and this file builds the event objects and calls the listeners
// (docs/PERFORMANCE.md "Event tape"). Per `send`, `chat` hands the wasm side the text and style
// in one call (docs/PERFORMANCE.md "Encode").

// For long frame texts (see `text`). `ignoreBOM`: a text that starts with U+FEFF keeps it.
// Without it the decoder drops a leading BOM, which would shift every later string of the frame
// (tests/web.rs checks this).
const td = new TextDecoder('utf-16le', { ignoreBOM: true });
// For `chat`.
const te = new TextEncoder();
// For `text`: a plain array per text length up to 256, shared by all hubs (a module is one
// thread's).
const textArrays = [];

const MESSAGE = 1, WHISPER = 2, JOIN = 3, QUIT = 4, COUNT = 5, LIST = 6, SYSTEM = 7, USER = 8,
  STYLE = 9, OTHER = 10, RESET = 11;

export class Hub {
  /** `memory`: the wasm module's `WebAssembly.Memory` (the tape lives in it). */
  constructor(memory) {
    this.memory = memory;
    /** event name → array of `{ f, once }` */
    this.listeners = new Map();
    /** user slot → the shared user object */
    this.users = [];
    /** style slot → the shared, frozen style object */
    this.styles = [];
    /** `Uint8Array`, `Uint16Array` and `Float64Array` over the whole wasm memory (see
     * `views`) */
    this.u8 = undefined;
    this.u16 = undefined;
    this.f64 = undefined;
    /** Frame texts of batches stopped at an OTHER record (see `run`), innermost last: a
     * handler may start another batch before the wasm side resumes this one. */
    this.texts = [];
    /** `text`'s views of the text buffer at `textAt`, by length */
    this.textAt = -1;
    this.textViews = [];
    /** `chat`'s view of the send buffer at `chatAt` (`chatCap` bytes) */
    this.chatAt = -1;
    this.chatCap = 0;
    this.chatView = undefined;
    /** `error` events logged for want of a listener (see `emit`) */
    this.warned = 0;
  }

  on(name, f, once) {
    let list = this.listeners.get(name);
    if (list === undefined) this.listeners.set(name, (list = []));
    list.push({ f, once });
  }

  /** Removes every registration of `f` for `name`; returns whether any is left for `name`. */
  off(name, f) {
    const list = this.listeners.get(name);
    if (list === undefined) return false;
    return retain(list, (l) => l.f !== f) > 0;
  }

  has(name) {
    const list = this.listeners.get(name);
    return list !== undefined && list.length > 0;
  }

  /** Runs a command handler as `emit` runs listeners (see `call`). */
  command(f, ctx) {
    call('command', f, ctx);
  }

  /** Calls the listeners of `name`; an `error` nobody listens to is logged instead (as Node.js
   * throws one), so a refusal from the server is never silent. */
  emit(name, payload) {
    const list = this.listeners.get(name);
    if (list !== undefined && list.length !== 0) this.emitTo(name, list, payload);
    else if (name === 'error' && ++this.warned <= 10) {
      // At most ten per bot: a server refusing every line would fill the console.
      console.warn(`uchat-bot: ${payload.message} (error ${payload.code}; no 'error' listener` +
        (this.warned === 10 ? '; further errors go unlogged until you add one)' : ')'));
    }
  }

  /** `emit` to the (non-empty) listener list `list` of `name`. */
  emitTo(name, list, payload) {
    if (list.length === 1) {
      const l = list[0];
      if (l.once) list.length = 0;
      call(name, l.f, payload);
      return;
    }
    const fns = list.map((l) => l.f);
    retain(list, (l) => !l.once);
    for (const f of fns) call(name, f, payload);
  }

  /**
   * A frame's bytes into wasm memory: copies `data` (`ArrayBuffer` or a view) to `ptr` if it fits
   * in `cap` bytes. Returns the byte length either way (the wasm side grows its buffer and
   * calls again), or -1 for a string (a text frame). (The clock is read by the wasm side, only
   * for frames that need it.)
   */
  load(data, ptr, cap) {
    if (typeof data === 'string') return -1;
    const src = data instanceof ArrayBuffer ? new Uint8Array(data)
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
    const n = src.length;
    if (n <= cap) this.views().u8.set(src, ptr);
    return n;
  }

  /**
   * `send(text, style)`'s arguments into wasm memory in one call (docs/PERFORMANCE.md
   * "Encode"): `text` as UTF-8 at `ptr`, then the style's colour (ASCII) right after it, if
   * they fit in `cap` bytes; `f64`s at `out`: the text's byte length, the colour's (-1 for
   * none), the style bits (bold 4, italic 2, underline 1) and `Date.now()`. Returns 0 when written, 2 with
   * the bytes needed at `out` when `cap` is too small (the wasm side grows its buffer and calls
   * again), and 1 for anything else — a text that is not a string, a style that is not an
   * object, a flag that is not a boolean, a colour that is not an ASCII string — which the
   * wasm side then reads the slow way, with its error messages. A throwing getter reads as
   * undefined, as there.
   */
  chat(text, style, ptr, cap, out) {
    if (typeof text !== 'string') return 1;
    let bits = 0;
    let color;
    if (style !== undefined && style !== null) {
      if (typeof style !== 'object') return 1;
      const b = flag(style, 'bold'), i = flag(style, 'italic'), u = flag(style, 'underline');
      if ((b | i | u) < 0) return 1;
      bits = b << 2 | i << 1 | u;
      color = get(style, 'color');
      if (color === null) color = undefined;
      else if (color !== undefined && typeof color !== 'string') return 1;
    }
    const clen = color === undefined ? 0 : color.length;
    // UTF-8 takes at most three bytes per UTF-16 unit.
    const need = text.length * 3 + clen;
    const f64 = this.views().f64, o = out >> 3;
    if (need > cap) {
      f64[o] = need;
      return 2;
    }
    let n;
    if (text.length <= 64) {
      // Chat-sized texts: a loop here is faster than the `encodeInto` call (measured 0.18
      // against 0.35 µs for the bench's 35-unit texts in Chromium, 0.19 against 0.25 in
      // Firefox, where `encodeInto` wins from about 100 units).
      n = utf8(text, this.u8, ptr) - ptr;
    } else {
      // The view is kept while the buffer stays where it is (a new one per call is slow in
      // Firefox, see `text`).
      if (ptr !== this.chatAt || cap !== this.chatCap || this.chatView.length === 0) {
        this.chatAt = ptr;
        this.chatCap = cap;
        this.chatView = this.u8.subarray(ptr, ptr + cap);
      }
      n = te.encodeInto(text, this.chatView).written;
    }
    if (color !== undefined) {
      const u8 = this.u8;
      for (let k = 0, at = ptr + n; k < clen; k++) {
        const c = color.charCodeAt(k);
        if (c > 0x7f) return 1;
        u8[at + k] = c;
      }
    }
    f64[o] = n;
    f64[o + 1] = color === undefined ? -1 : clen;
    f64[o + 2] = bits;
    // The clock for the send (one crossing fewer than a `Date.now` import call of its own).
    f64[o + 3] = Date.now();
    return 0;
  }

  /**
   * This hub, with its views of the whole wasm memory (`u8`, `u16`, `f64`) renewed together
   * after the memory grew (the old ones are then detached and empty). Kept, not made per call:
   * a new view per frame cost Firefox more than the records of a small frame.
   */
  views() {
    if (this.u8 === undefined || this.u8.length === 0) {
      const b = this.memory.buffer;
      this.u8 = new Uint8Array(b);
      this.u16 = new Uint16Array(b);
      this.f64 = new Float64Array(b);
      this.textViews = [];
    }
    return this;
  }

  /**
   * The strings of one frame: `len` UTF-16 code units at `ptr` in wasm memory (the wasm side
   * transcoded them). `String.fromCharCode` over the units measured about 2x faster than a
   * `TextDecoder` call on the UTF-8 bytes for frame-sized texts (the call itself costs more
   * than the decoding there); long texts go through a UTF-16 `TextDecoder`, which has no
   * argument-count limit.
   */
  text(ptr, len) {
    if (len === 0) return '';
    const v = this.views();
    const at = ptr >> 1;
    if (len > 4096) return td.decode(v.u16.subarray(at, at + len));
    if (len > 1024) return String.fromCharCode.apply(null, v.u16.subarray(at, at + len));
    // The wasm side reuses one text buffer, so frames start at the same address and differ
    // in length: a view per length (up to 1,024 of them) is kept until the address changes or
    // the memory grows (see `views`) instead of a new view per frame, which Firefox makes
    // slowly (docs/PERFORMANCE.md "Session 13").
    if (ptr !== this.textAt) {
      this.textAt = ptr;
      this.textViews = [];
    }
    if (len <= 256) {
      // Short texts (most frames): the units copied into a plain array of this length first,
      // kept per length. `apply` over a plain array is faster than over a typed array in
      // Chromium (a microbenchmark of 20-200 units: 398 against 551 ns with the copy;
      // docs/PERFORMANCE.md "Session 16"). At most 256 arrays, ~33,000 elements in all.
      let a = textArrays[len];
      if (a === undefined) a = textArrays[len] = new Array(len).fill(0);
      const u16 = v.u16;
      for (let k = 0; k < len; k++) a[k] = u16[at + k];
      return String.fromCharCode.apply(null, a);
    }
    let u16 = this.textViews[len];
    if (u16 === undefined) u16 = this.textViews[len] = v.u16.subarray(at, at + len);
    return String.fromCharCode.apply(null, u16);
  }

  /**
   * Dispatches the records of the tape (`f64`s at `ptr`) from index `at` to `end`; stops at
   * an OTHER record and returns its index (the wasm side dispatches that event and calls
   * again), or returns `end`. The records' strings are ranges of the frame text: `len` UTF-16
   * units at `tptr`, made into a string by the first call (`at === 0`) and kept on `texts`
   * between a stop and the call that resumes it (one crossing per frame fewer than a separate
   * `text` call, and no string handed to the wasm side).
   */
  run(tptr, len, ptr, at, end) {
    const s = at === 0 ? this.text(tptr, len) : this.texts.pop();
    at = this.walk(s, ptr, at, end);
    if (at < end) this.texts.push(s);
    return at;
  }

  /** `run` with the frame text `s` made. */
  walk(s, ptr, at, end) {
    // Indexes into the view of the whole memory (`ptr` is 8-aligned; see `views`).
    const base = ptr / 8;
    at += base;
    end += base;
    let t = this.views().f64;
    const users = this.users;
    // The message listeners, looked up once a frame: lists are changed in place, never
    // replaced (see `off`), so handlers that add or remove some are seen at once.
    let messages = this.listeners.get('message');
    while (at < end) {
      // A handler that made the wasm memory grow detached the view: take a new one.
      if (t.length === 0) t = this.views().f64;
      switch (t[at]) {
        case MESSAGE: {
          // Built only when someone listens (a bot may listen to commands only).
          const list = messages !== undefined ? messages : (messages = this.listeners.get('message'));
          if (list !== undefined && list.length !== 0) {
            this.emitTo('message', list, {
              user: users[t[at + 1]], style: this.styles[t[at + 2]], content: s.substring(t[at + 3], t[at + 4]),
              time: t[at + 5], self: (t[at + 6] & 1) !== 0, history: (t[at + 6] & 2) !== 0,
            });
          }
          at += 7;
          break;
        }
        case WHISPER:
          this.emit('whisper', {
            from: users[t[at + 1]], to: users[t[at + 2]], style: this.styles[t[at + 3]],
            content: s.substring(t[at + 4], t[at + 5]), time: t[at + 6], self: t[at + 7] !== 0,
          });
          at += 8;
          break;
        case JOIN:
          this.emit('user.join', { user: users[t[at + 1]] });
          at += 2;
          break;
        case QUIT: {
          const user = users[t[at + 1]];
          users[t[at + 1]] = undefined;
          this.emit('user.quit', { user });
          at += 2;
          break;
        }
        case COUNT:
          this.emit('user.count', { count: t[at + 1] });
          at += 2;
          break;
        case LIST: {
          const n = t[at + 1];
          const list = new Array(n);
          for (let i = 0; i < n; i++) list[i] = users[t[at + 2 + i]];
          this.emit('user.list', { list });
          at += 2 + n;
          break;
        }
        case SYSTEM: {
          const n = t[at + 4];
          const data = new Array(n);
          for (let i = 0, f = at + 5; i < n; i++, f += 3) {
            const ty = t[f];
            data[i] = ty === 2 || ty === 3 ? s.substring(t[f + 1], t[f + 2])
              : ty === 4 ? t[f + 1] !== 0 : ty === 6 ? undefined : t[f + 1];
          }
          this.emit('system', { type: s.substring(t[at + 2], t[at + 3]), code: t[at + 1], data });
          at += 5 + 3 * n;
          break;
        }
        case USER:
          // Shared by every event about this user until a `k` line replaces it: frozen, so a
          // handler cannot change what later events show.
          users[t[at + 1]] = Object.freeze({
            key: str(t, s, at + 2), nick: str(t, s, at + 4), id: str(t, s, at + 6), level: str(t, s, at + 8), auth: t[at + 10],
            icons: str(t, s, at + 11), nickcon: str(t, s, at + 13), connected: t[at + 15], mute: t[at + 16] !== 0,
            session: str(t, s, at + 17), profileimg: str(t, s, at + 19),
          });
          at += 21;
          break;
        case STYLE: {
          const bits = t[at + 2];
          this.styles[t[at + 1]] = Object.freeze({
            bold: (bits & 4) !== 0, italic: (bits & 2) !== 0, underline: (bits & 1) !== 0,
            color: t[at + 3] < 0 ? null : s.substring(t[at + 3], t[at + 4]),
          });
          at += 5;
          break;
        }
        case RESET:
          this.users = [];
          return this.walk(s, ptr, at + 1 - base, end - base);
        case OTHER:
          return at - base;
        default:
          throw new Error('uchat-bot: corrupt event tape at ' + (at - base) + ' (tag ' + t[at] + ')');
      }
    }
    return end - base;
  }
}

/**
 * Writes `s` as UTF-8 into `u8` from `at` (room for three bytes per unit is the caller's
 * business); returns the end. A lone surrogate becomes U+FFFD, as `TextEncoder` makes it.
 */
function utf8(s, u8, at) {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      u8[at++] = c;
    } else if (c < 0x800) {
      u8[at++] = 0xc0 | c >> 6;
      u8[at++] = 0x80 | c & 63;
    } else if (c < 0xd800 || c > 0xdfff) {
      u8[at++] = 0xe0 | c >> 12;
      u8[at++] = 0x80 | c >> 6 & 63;
      u8[at++] = 0x80 | c & 63;
    } else {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d <= 0xdfff) {
        i++;
        c = 0x10000 + ((c & 0x3ff) << 10) + (d & 0x3ff);
        u8[at++] = 0xf0 | c >> 18;
        u8[at++] = 0x80 | c >> 12 & 63;
        u8[at++] = 0x80 | c >> 6 & 63;
        u8[at++] = 0x80 | c & 63;
      } else {
        u8[at++] = 0xef;
        u8[at++] = 0xbf;
        u8[at++] = 0xbd;
      }
    }
  }
  return at;
}

/** The string of the text range at `t[i]`, `t[i + 1]` of the frame text `s`; undefined for
 * -1 (a field that is `undefined`). A function, not a closure made per `walk`. */
function str(t, s, i) {
  return t[i] < 0 ? undefined : s.substring(t[i], t[i + 1]);
}

/**
 * Keeps the elements of `list` that `keep` accepts, in order, in place; returns how many. A
 * name's listener list, once made, is never replaced (`walk` keeps the message list for a
 * frame), so `off` and `once` change it here.
 */
function retain(list, keep) {
  let n = 0;
  for (const l of list) if (keep(l)) list[n++] = l;
  list.length = n;
  return n;
}

/** `o[k]`, or undefined if the getter throws. */
function get(o, k) {
  try {
    return o[k];
  } catch (e) {
    return undefined;
  }
}

/** A style flag of `o`: 1 or 0 (`undefined`/`null` read as false), -1 if not a boolean. */
function flag(o, k) {
  const v = get(o, k);
  return v === true ? 1 : v === false || v === undefined || v === null ? 0 : -1;
}

/** Calls a handler; what it throws, or the rejection of the promise it returns (an `async`
 * handler), is logged and goes no further (an unhandled rejection ends a Node.js process). */
function call(name, f, payload) {
  const report = (e) => console.error("uchat-bot: a '" + name + "' handler threw:", e);
  try {
    const r = f(payload);
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') r.then(undefined, report);
  } catch (e) {
    report(e);
  }
}
