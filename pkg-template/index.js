// uchat-bot: the package entry point. A thin facade over the wasm-bindgen module
// (./uchat_bot.js + ./uchat_bot_bg.wasm) that
//  * loads the WebAssembly once (init() is idempotent; concurrent calls share one promise),
//  * turns a Content-Security-Policy block of WebAssembly into an error that says what to fix,
//    and so a browser without WebAssembly SIMD (the module uses it),
//  * makes `new UChatBot(...)` before init() throw an error that says how to initialise,
//  * makes on/once/off return the bot, so calls can be chained,
//  * and keeps a connected bot alive until it is closed (connect() hands the SDK this object).
// Types: ./index.d.ts. Full API: https://github.com/uchat-bot/uchat-bot#readme

import wasmInit, { initSync as wasmInitSync, UChatBot as WasmUChatBot } from './uchat_bot.js';

/** True once the WebAssembly module is instantiated. */
let ready = false;
/** The one init() in flight (or done); reset after a failure so init() can be retried. */
let pending = null;
/** Why the last init() failed, for the "not initialised" message. */
let lastError = null;

const HOW_TO_INIT =
  "import init, { UChatBot } from 'uchat-bot';\n  await init();\n" +
  'and only then create bots (new UChatBot({ room: ... }) or UChatBot.fromElement(el)).';

const CSP_FIX =
  "The page's Content-Security-Policy does not allow WebAssembly, so uchat-bot cannot start. " +
  "Add 'wasm-unsafe-eval' to the page's script-src, for example " +
  "Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval' " +
  '(as an HTTP header or a <meta http-equiv="Content-Security-Policy"> tag). ' +
  "A userscript cannot change a site's CSP: on pages whose CSP lacks 'wasm-unsafe-eval', " +
  'userscripts cannot use WebAssembly, and so cannot use uchat-bot.';

/**
 * Whether `e` is the browser refusing to compile WebAssembly because of the page's CSP.
 * Chromium: CompileError "Refused to compile or instantiate WebAssembly module because
 * 'unsafe-eval' is not an allowed source of script in the following Content Security Policy
 * directive"; Firefox: CompileError "... blocked by CSP"; some engines use EvalError or a
 * SecurityError DOMException.
 */
function isCspBlock(e) {
  if (e === null || typeof e !== 'object') return false;
  const name = String(e.name || '');
  const message = String(e.message || '');
  const byName = name === 'CompileError' || name === 'EvalError' || name === 'SecurityError';
  const byText = /content[- ]security[- ]policy|\bCSP\b|unsafe-eval|wasm-eval/i.test(message);
  return byText && (byName || /refused|blocked|not allowed/i.test(message));
}

/**
 * The smallest module that uses a SIMD instruction (`i8x16.popcnt` of a splat). The wasm is
 * built with `simd128` (Chrome/Edge 91+, Firefox 89+, Safari 16.4+); an older engine fails
 * to compile it with a bare CompileError, which this turns into one that says why.
 */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** Whether this engine lacks WebAssembly SIMD (asked only after a failed init). */
function lacksSimd() {
  try {
    return typeof WebAssembly === 'object' && !WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** An `Error` of the SDK: "uchat-bot: " + `message`, with `name`, `code` and, if given, the
 * error it reports as `cause`. */
function sdkError(name, code, message, cause) {
  const err = new Error(`uchat-bot: ${message}`, cause === undefined ? undefined : { cause });
  err.name = name;
  err.code = code;
  return err;
}

/**
 * The error init() reports for `e` (`given`: whether init() was told where the module is): a
 * CSP block and missing SIMD explained, anything else as a module that could not be loaded.
 */
function initError(e, given) {
  if (isCspBlock(e)) return cspError(e);
  if (lacksSimd()) {
    return sdkError('UChatUnsupportedError', 'no_simd',
      'this browser does not support WebAssembly SIMD, which uchat-bot needs ' +
        `(Chrome/Edge 91+, Firefox 89+, Safari 16.4+). (Browser said: ${e && e.message})`, e);
  }
  // Nearly always the .wasm not found where it was looked for: a 404 ("failed to fetch Wasm"),
  // a page served in its place ("expected magic word"), no URL to resolve it against (a bundle
  // without `import.meta.url`: "Invalid URL"), or ENOENT in Node.js.
  return sdkError('UChatInitError', 'init',
    `the WebAssembly module could not be loaded (${e && e.message}). ` +
      (given
        ? 'Check what was passed to init(): the URL of uchat_bot_bg.wasm, or its bytes.'
        : 'Serve uchat_bot_bg.wasm next to index.js, or pass where it is: await init(urlOrBytes) ' +
          '(for bundlers see the README, "Bundlers").'), e);
}

function cspError(cause) {
  return sdkError('UChatCspError', 'csp', `${CSP_FIX} (Browser said: ${cause && cause.message})`, cause);
}

/**
 * The argument for wasm-bindgen's init: it wants `{ module_or_path }` (other forms warn).
 * Without an input the glue fetch()es `uchat_bot_bg.wasm` next to this file; Node.js cannot
 * fetch a file: URL, so there (20.16+/22.3+, which have `process.getBuiltinModule`; no import
 * statement, which would trouble browser bundlers) the file is read instead.
 */
function wasmInput(input) {
  if (input === undefined || input === null) {
    const fs = globalThis.process?.getBuiltinModule?.('fs');
    if (!fs) return undefined;
    // Written as `new URL('./…', import.meta.url)`, the form bundlers rewrite to where they put
    // the file: a bundle for Node.js reads its own copy, not the build machine's path (webpack
    // replaces a bare `import.meta.url` with the source file's URL at build time).
    let url;
    try {
      url = new URL('./uchat_bot_bg.wasm', import.meta.url);
    } catch {
      // A bundler replaced the module meta object with a plain one: no URL.
      return undefined;
    }
    return url.protocol === 'file:' ? { module_or_path: fs.readFileSync(url) } : undefined;
  }
  if (Object.getPrototypeOf(input) === Object.prototype) return input;
  return { module_or_path: input };
}

/**
 * Load and instantiate the WebAssembly module. Call (and await) once before creating bots;
 * later and concurrent calls return the same promise.
 *
 * `input`: where the .wasm is: a URL or string, a `Response` or `fetch` promise, the bytes
 * (`ArrayBuffer`/`Uint8Array`), a `WebAssembly.Module`, or `{ module_or_path }`.
 * Default: `uchat_bot_bg.wasm` next to this file (`new URL(..., import.meta.url)`; read from
 * disk in Node.js).
 */
export default function init(input) {
  if (pending === null) {
    lastError = null;
    // In a promise, so that a failure to read the file (Node.js) rejects like a failed fetch.
    pending = new Promise((resolve) => resolve(wasmInit(wasmInput(input)))).then(
      (exports) => {
        ready = true;
        return exports;
      },
      (e) => {
        pending = null;
        lastError = initError(e, input !== undefined && input !== null);
        throw lastError;
      },
    );
  }
  return pending;
}
export { init };

/**
 * Instantiate synchronously from the module's bytes or a `WebAssembly.Module` (e.g. a
 * userscript with the wasm inlined). Browsers may refuse synchronous compilation of large
 * modules on the main thread; `await init(bytes)` always works.
 */
export function initSync(module) {
  if (ready) return;
  if (pending) {
    // The glue would make a second instance, and the pending init() would then replace the
    // one that bots made in between use.
    throw sdkError('UChatNotInitializedError', 'not_initialized',
      'initSync() was called while init() is still loading the module; await that init() instead');
  }
  try {
    const bare =
      module instanceof WebAssembly.Module || module instanceof ArrayBuffer || ArrayBuffer.isView(module);
    const exports = wasmInitSync(bare ? { module } : module);
    ready = true;
    pending = Promise.resolve(exports);
    return exports;
  } catch (e) {
    lastError = initError(e, true);
    throw lastError;
  }
}

/** Whether `init()` has finished, so bots can be created. */
export function isInitialized() {
  return ready;
}

function notReady(what) {
  let state;
  if (lastError) {
    state = `init() failed (${lastError.message.replace(/^uchat-bot: /, '')}); fix that and call init() again`;
  } else if (pending) {
    state = 'init() was called but has not finished: await it first';
  } else {
    state = 'init() has not been called';
  }
  return sdkError('UChatNotInitializedError', 'not_initialized',
    `${what} was used before the WebAssembly module was initialised ` +
      `(${state}). Initialise it once, first:\n  ${HOW_TO_INIT}`);
}

/**
 * A UChat bot. The WebAssembly class with four additions: a clear error when it is used
 * before `init()`, `on`/`once`/`off` return the bot, `fromElement` returns this class, and
 * `connect()` hands the SDK this object to keep while connected.
 */
export class UChatBot extends WasmUChatBot {
  constructor(options) {
    if (!ready) throw notReady('new UChatBot(options)');
    checkUrl(options);
    super(options);
  }

  static fromElement(el, options) {
    if (!ready) throw notReady('UChatBot.fromElement(el)');
    // Anything with getAttribute (index.d.ts's UChatElement): every DOM element, and a
    // stand-in where there is no DOM (Node.js has no `Element` to test against).
    if (typeof el?.getAttribute !== 'function') {
      throw new TypeError(
        `UChatBot.fromElement(el): el must be the page's <u-chat> element, got ${el === null ? 'null' : typeof el}` +
          " (document.querySelector('u-chat') finds none until the page has added it; wait for it)",
      );
    }
    checkUrl(options);
    return Object.setPrototypeOf(WasmUChatBot.fromElement(el, options), UChatBot.prototype);
  }

  /**
   * Connect and join (resolves with my user at the join). Until the bot is closed, the SDK
   * keeps it, as a browser keeps an open WebSocket: a bot nobody references keeps running.
   */
  connect() {
    return super.connect(this);
  }

  // A listener or handler that is not a function would be kept, and fail only when called.
  on(event, fn) {
    super.on(event, fun(fn, `on('${event}', fn): fn`));
    return this;
  }

  once(event, fn) {
    super.once(event, fun(fn, `once('${event}', fn): fn`));
    return this;
  }

  onCommand(name, handler, options) {
    return super.onCommand(name, fun(handler, 'onCommand(name, handler): handler'), options);
  }

  plugin(channel, ...data) {
    return super.plugin(str(channel, 'plugin(channel, ...data): channel'), ...data);
  }

  off(event, fn) {
    super.off(event, fun(fn, `off('${event}', fn): fn`));
    return this;
  }

  /**
   * Free the bot's memory (a bot still connected is closed first). A second call does nothing;
   * any other use afterwards throws an error that says the bot was freed.
   */
  free() {
    // wasm-bindgen's `free` zeroes the pointer; called again it would throw "null pointer
    // passed to rust" (the glue is pinned to one wasm-bindgen version, so the field is stable).
    if (this.__wbg_ptr) {
      super.free();
      Object.setPrototypeOf(this, freed(Object.getPrototypeOf(this)));
    }
  }

  // Typed commands (PROTOCOL.md §3.1), written over `command(name, ...args)` so the wasm has
  // one entry point for all of them (docs/DESIGN.md "Size"). Arguments are typed exactly as
  // uchat.js sends them.

  /** Mute `nick` for `minutes` (`-1` = permanent; default 10) with an optional reason. */
  mute(nick, minutes = 10, reason = '') {
    return this.command('mute', str(nick, 'mute(nick)'), int(minutes, 'mute(nick, minutes)'),
      str(reason, 'mute(nick, minutes, reason)'));
  }

  /** Lift a mute. */
  unmute(nick) { return this.command('unmute', str(nick, 'unmute(nick)')); }

  /** Ban (kick) `nick`; `a1`/`a2` are passed as given (period and reason in the official UI). */
  ban(nick, a1, a2 = 0) { return this.command('ban', str(nick, 'ban(nick)'), a1, a2); }

  /** Post a room notice (auth ≥ subadmin). */
  notice(text) { return this.command('notice', str(text, 'notice(text)')); }

  /** Ask for a user's info (answered by a 'system' event of type user_info). */
  info(nick) { return this.command('info', str(nick, 'info(nick)')); }

  /** Poke a user. */
  call(nick) { return this.command('call', str(nick, 'call(nick)')); }

  /** Ask for a user's IP (auth ≥ subadmin). */
  ip(nick) { return this.command('ip', str(nick, 'ip(nick)')); }

  /** Report a user. */
  report(nick, reason = '') {
    return this.command('report', str(nick, 'report(nick)'), str(reason, 'report(nick, reason)'));
  }

  /** Make `nick` a subadmin (auth ≥ admin). */
  op(nick) { return this.command('op', str(nick, 'op(nick)')); }

  /** Take subadmin from `nick` (auth ≥ admin). */
  deop(nick) { return this.command('deop', str(nick, 'deop(nick)')); }

  /** Clear the room's chat log (auth ≥ subadmin). */
  clearLog() { return this.command('clearLog'); }

  /** Request the user list again (answered by 'user.list'). */
  userList() { return this.command('userList', 10000, ''); }

  /** Request the last `count` chat lines (default 15), delivered as 'message' events. */
  chatList(count = 15) {
    const n = int(count, 'chatList(count)');
    if (n < 0) throw new TypeError('chatList(count): count must be 0 or more');
    return this.command('chatList', n);
  }
}

// `using bot = …` (where the engine has Symbol.dispose) frees through the facade's free(), so
// a bot disposed after an explicit free() is left alone, and a disposed bot says it was freed.
// (The glue's own `Symbol.dispose` is its raw free.)
if (typeof Symbol.dispose === 'symbol') {
  UChatBot.prototype[Symbol.dispose] = function () {
    this.free();
  };
}

/**
 * A `ws://`/`wss://` url that is no URL at all (a port over 65535, a space, an unclosed `[`)
 * would pass the wasm side's check and fail only at connect(), as code 'websocket' without
 * naming the option. (Other values go on to the wasm side's checks and messages.)
 */
function checkUrl(options) {
  const url = options?.url;
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) return;
  let ok = !url.includes('#'); // a WebSocket URL has no #fragment (new WebSocket throws)
  try {
    new URL(url);
  } catch {
    ok = false;
  }
  if (!ok) throw new TypeError(`option \`url\` is not a valid WebSocket URL: "${url}" (check the host, the port, no #fragment)`);
}

/** The prototypes of freed bots (see `free`), one per class (a subclass keeps its own). */
const FREED = new WeakMap();

/**
 * Reads of the bot's methods and getters throw a `code: 'freed'` error (instead of the glue's
 * "null pointer passed to rust"); `free` and everything else (`instanceof`, `constructor`,
 * `Object.prototype`'s methods) behave as before.
 */
function freed(proto) {
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  if (FREED.has(proto)) return FREED.get(proto);
  const p = new Proxy(Object.create(proto), {
    get(target, k, receiver) {
      if (k !== 'free' && k !== 'constructor' && k !== Symbol.dispose &&
        (own(UChatBot.prototype, k) || own(WasmUChatBot.prototype, k))) {
        throw sdkError('UChatFreedError', 'freed', `bot.${String(k)} was used after bot.free(); create a new UChatBot`);
      }
      return Reflect.get(target, k, receiver);
    },
  });
  FREED.set(proto, p);
  return p;
}

function fun(v, what) {
  if (typeof v !== 'function') {
    throw new TypeError(`${what} must be a function, got ${v === null ? 'null' : typeof v}`);
  }
  return v;
}

function str(v, what) {
  if (typeof v !== 'string') throw new TypeError(`${what}: must be a string, got ${typeof v}`);
  return v;
}

function int(v, what) {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new TypeError(`${what}: must be a number, got ${typeof v}`);
  }
  return Math.trunc(v);
}
