// Type definitions for uchat-bot: a UChat (uchat.io) bot SDK for the browser, in WebAssembly.
// Full API: https://github.com/uchat-bot/uchat-bot#readme  Protocol: docs/protocol/PROTOCOL.md
// in that repo.

// Platform types named below exist only where their typings are loaded (TypeScript's DOM lib,
// or @types/node). Each resolves to the global type where it exists and to `never` where it
// does not, so these declarations also compile in a Node.js project without the DOM lib.
type Global<K extends string> = typeof globalThis extends { [P in K]: { prototype: infer T } } ? T : never;
type WasmModule = typeof globalThis extends { WebAssembly: { Module: { prototype: infer T } } } ? T : never;

/** The module's bytes: an `ArrayBuffer` or a view of one (`Uint8Array`, a Node.js `Buffer`). */
export type WasmBytes = ArrayBuffer | ArrayBufferView;

/** Anything `init()` can load the WebAssembly from. */
export type InitInput =
  | string
  | Global<'URL'>
  | Global<'Request'>
  | Global<'Response'>
  | Promise<Global<'Response'>>
  | WasmBytes
  | WasmModule;

/**
 * Load and instantiate the WebAssembly module. Await it once before creating bots; calling it
 * again (even concurrently) returns the same promise.
 *
 * Rejects with an error whose message names `'wasm-unsafe-eval'` (and `code: 'csp'`) when the
 * page's Content-Security-Policy blocks WebAssembly, and with `code: 'no_simd'` when the browser
 * lacks WebAssembly SIMD (the module needs it: Chrome/Edge 91+, Firefox 89+, Safari 16.4+).
 * Any other failure (nearly always the .wasm not found: a 404, a page served in its place, no
 * `import.meta.url` in a bundle) rejects with `code: 'init'`, the browser's error as `cause`.
 * Creating a bot before it has finished throws an error with `code: 'not_initialized'` (name
 * `UChatNotInitializedError`) that shows how to initialise.
 *
 * @param input where the .wasm is; default: `uchat_bot_bg.wasm` next to the package's index.js
 *   (fetched in a browser, read from disk in Node.js 20.16+/22.3+).
 */
export default function init(input?: InitInput | { module_or_path: InitInput }): Promise<unknown>;
export { init };

/**
 * Instantiate synchronously from the bytes or a compiled module (e.g. inlined in a userscript).
 * Throws (`code: 'not_initialized'`) while an `init()` is still loading: await that instead.
 */
export function initSync(module: WasmBytes | WasmModule | { module: WasmBytes | WasmModule }): unknown;

/** Whether `init()` has finished. */
export function isInitialized(): boolean;

/** A decoded protocol field: binary values arrive as lowercase hex strings. */
export type FieldValue = string | number | boolean | undefined;

/** What `command()`, `ban()` and `plugin()` accept as arguments. */
export type CommandArg = string | number | boolean | null | undefined | Uint8Array;

/** `0` guest, `1` member, `2` subadmin, `3` admin, `4` server (PROTOCOL.md §4.6). */
export type AuthLevel = 0 | 1 | 2 | 3 | 4;

/** A user in the room (PROTOCOL.md §3.2 user records). Frozen: assigning to a field throws. */
export interface User {
  /** The user's key in the room, lowercase hex. */
  readonly key: string;
  readonly nick: string;
  readonly id: string;
  readonly level: string | undefined;
  /** 0 guest, 1 member, 2 subadmin, 3 admin, 4 server (see `AuthLevel`). */
  readonly auth: number;
  readonly icons: string;
  readonly nickcon: string;
  /** When the user connected, in ms since the epoch. */
  readonly connected: number;
  readonly mute: boolean;
  /** Session id, lowercase hex. */
  readonly session: string;
  readonly profileimg: string | undefined;
}

/** The room's function flags (`i1` field 4). */
export interface RoomFlags {
  readonly ad: boolean;
  readonly io: boolean;
  readonly frozen: boolean;
  readonly message: boolean;
  readonly call: boolean;
  readonly whisper: boolean;
  readonly individual: boolean;
  readonly font: boolean;
  readonly callAdmin: boolean;
  readonly userLinkage: boolean;
}

/** Room information from the join (`i1`). */
export interface Room {
  /** The room id given as the `room` option. */
  readonly id: string;
  readonly name: string;
  readonly mode: 'basic' | 'individual' | 'inn' | 'child' | 'channel' | 'unknown';
  /** Creation time, ms since the epoch. */
  readonly created: number;
  /** The server's clock at the join, ms since the epoch. */
  readonly serverTime: number;
  readonly flags: RoomFlags;
}

/** The style of a received line. Frozen, like users. */
export interface Style {
  readonly bold: boolean;
  readonly italic: boolean;
  readonly underline: boolean;
  /** `#rrggbb`, or null for the default colour. */
  readonly color: string | null;
}

/** The style of a line to send; every field is optional. */
export interface StyleInput {
  bold?: boolean;
  italic?: boolean;
  underline?: boolean;
  /** `'#ff0000'`, `'#f00'` or `'rgb(255, 0, 0)'`. */
  color?: string | null;
}

/**
 * Reconnect policy: exponential backoff with full jitter. Attempt n waits a random time up to
 * `min(maxDelayMs, minDelayMs * factor^(n-1))`, so `minDelayMs` bounds the first wait from above
 * (it is not a minimum).
 */
export interface ReconnectOptions {
  /** The first attempt's wait is at most this (default 1000). */
  minDelayMs?: number;
  /** No wait is longer than this (default 30000). */
  maxDelayMs?: number;
  /** Growth of the bound per attempt (default 2). */
  factor?: number;
  /** Give up after this many attempts (default: never). */
  maxRetries?: number;
}

/** Token bucket for outgoing lines: at most `lines` per `perMs`. */
export interface RateLimitOptions {
  lines?: number;
  perMs?: number;
}

/** Options of `new UChatBot(options)`. Only `room` is required. */
export interface UChatBotOptions {
  /** The room id. */
  room: string;
  /** WebSocket URL. Default `'wss://sp-worker.uchat.io'`. */
  url?: string;
  /** Nickname (a guest may set only this). */
  nick?: string;
  /** Member fields: need `token` (numbers are accepted for `id` and `level`). */
  id?: string | number;
  level?: string | number;
  /** The role to join with (`''` or left out: the server decides); anything else throws. */
  auth?: 'admin' | 'subadmin' | 'member' | 'guest' | '';
  icons?: string;
  nickcon?: string;
  other?: string;
  profileimg?: string;
  /** The room's access (or admin) password. */
  password?: string;
  /** A site-made user_data string (excludes `token` and the member fields). */
  userData?: string;
  /** The room's secret token: the SDK then builds user_data from the member fields. Never logged or sent. */
  token?: string;
  /** The 32-character client session (characters 0-9 A-X Z a-i k-z, as uchat.js makes it); random when omitted. */
  session?: string;
  /** Keepalive interval in ms. Default 60000. */
  heartbeatMs?: number;
  /** Longest wait in ms from opening the socket to the join's answer; then the attempt fails (code `'timeout'`). Default 20000; 0 waits for ever. */
  joinTimeoutMs?: number;
  /** Reconnect policy, or `false` for no automatic reconnect. */
  reconnect?: ReconnectOptions | false;
  /** Outgoing rate limit, or `false` for none. */
  rateLimit?: RateLimitOptions | false;
  /** Most lines kept while disconnected or rate-limited. */
  queueLimit?: number;
}

/** Names of the server's system codes (`'system'` event `type`, PROTOCOL.md §3.3). */
export type SystemType =
  | 'connected' | 'ban' | 'system_ban' | 'apply_report' | 'mute' | 'un_mute' | 'system_un_mute'
  | 'to_call' | 'from_call' | 'ip' | 'invite' | 'ignore' | 'notice' | 'system_mute' | 'muted'
  | 'invite_notice' | 'report_ban' | 'bad_word' | 'un_ignore' | 'change_option' | 'notify'
  | 'frozen' | 'defrozen' | 'admin_join' | 'admin_out' | 'block_info' | 'changed_info' | 'op'
  | 'deop' | 'login' | 'logout' | 'channel_made' | 'clear_log' | 'too_many' | 'admin_login'
  | 'admin_logout' | 'user_info' | 'permanent_mute' | 'permanent_muted' | 'system_notice'
  | 'toplayer' | 'call_admin' | 'unknown_system_code';

/** SDK-side error codes (server errors use the ERR number instead, PROTOCOL.md §3.4). */
export type SdkErrorCode = 'handshake' | 'websocket' | 'decode' | 'message' | 'too_many_errors' | 'queue_full' | 'closed' | 'config' | 'timeout' | 'not_present' | 'freed';

/** An error from the bot: `connect()` rejections and thrown send errors. */
export interface UChatError extends Error {
  /** The server's ERR number (e.g. 202), or an SDK code such as `'handshake'`. */
  code: number | SdkErrorCode | (string & {});
  /** Short machine name: the ERR name (`'token_changed'`) or the SDK code. */
  name: string;
  /** What happened and what to do, in English. */
  message: string;
}

/** Payloads of the events, by name. */
export interface UChatBotEvents {
  /** Joined (also after each reconnect). */
  join: { my: User; room: Room };
  /** A chat line. */
  message: {
    user: User;
    style: Style;
    content: string;
    /** Server time, ms since the epoch. */
    time: number;
    /** Sent by this bot. */
    self: boolean;
    /** A chat-log replay sent after the join (commands never fire for these). */
    history: boolean;
  };
  whisper: { from: User; to: User; style: Style; content: string; time: number; self: boolean };
  system: { type: SystemType | (string & {}); code: number; data: FieldValue[] };
  'user.join': { user: User };
  'user.quit': { user: User };
  'user.count': { count: number };
  'user.list': { list: User[] };
  /** `target`: the nick before the change; `changed`: the new values by name. */
  'user.modi': { target: string; changed: Record<string, FieldValue> };
  /** Room info changes by name. */
  update: Record<string, FieldValue>;
  error: { code: number | SdkErrorCode | (string & {}); name: string; message: string };
  control: { type: string; data: FieldValue[] };
  plugin: { user: User; type: FieldValue; channel: string; data: FieldValue[] };
  disconnect: { code: number; reason: string; willReconnect: boolean };
  reconnecting: { attempt: number; delayMs: number };
  state: { state: UChatBotState };
  /** Every decoded line (for debugging; only decoded while someone listens). */
  raw: { line: string; key: string; fields: FieldValue[] };
}

export type UChatBotEventName = keyof UChatBotEvents;

export type UChatBotState = 'idle' | 'connecting' | 'joining' | 'joined' | 'reconnecting' | 'closed';

/** What an `onCommand` handler receives. */
export interface CommandContext {
  /** Who wrote the command. */
  user: User;
  /** The command name (without the prefix). */
  name: string;
  /** The words after the name. */
  args: string[];
  /** The text after the name, as written. */
  rest: string;
  /** Whether it was whispered to the bot (only with the `whispers` option). */
  whisper: boolean;
  /** Answer: in the room, or as a whisper to the sender when the command was whispered (throws an error with `code: 'not_present'` if the sender has left). */
  reply(text: string): void;
}

export interface CommandOptions {
  /** Default `'!'`. */
  prefix?: string;
  /** Minimum time between two runs of this command. */
  cooldownMs?: number;
  /** Minimum time between two runs by the same user. */
  perUserCooldownMs?: number;
  /** Lowest auth level allowed: 0 guest … 3 admin, 4 server (see `AuthLevel`). */
  minAuth?: number;
  /** Also run when the command is whispered to the bot (`reply` then whispers back). Default false. */
  whispers?: boolean;
}

/** What {@link UChatBot.fromElement} reads: a page's `<u-chat>` element (any DOM `Element`). */
export interface UChatElement {
  getAttribute(name: string): string | null;
}

declare global {
  /**
   * Empty here; merged with the lib's `Disposable` (`[Symbol.dispose](): void`) where the
   * project's lib has one (esnext.disposable, TypeScript 5.2+; or @types/node), so
   * `using bot = new UChatBot(…)` type-checks there, and nothing is required where it does not.
   */
  interface Disposable {}
}

/**
 * A UChat bot. Create it after `await init()`. Where the runtime has `Symbol.dispose`,
 * `bot[Symbol.dispose]()` is `free()` (so `using bot = …` frees it at the end of the block).
 */
export interface UChatBot extends Disposable {}
export class UChatBot {
  /** Throws a `TypeError` naming a missing or mistyped option, or an Error if `init()` has not finished. */
  constructor(options: UChatBotOptions);
  /**
   * A bot that joins as the page's user, from a `<u-chat room="…" user_data="…">` element.
   * `null` (a `querySelector` that found nothing) throws a `TypeError` that says so. The
   * element's `room`, `user_data` and `password` win over the same options in `options`.
   */
  static fromElement(el: UChatElement | null, options?: Partial<Omit<UChatBotOptions, 'room'>>): UChatBot;

  /** Connect and join; resolves with my user at the join, rejects with a {@link UChatError}. */
  connect(): Promise<User>;
  /** Leave and close the socket; pending `connect()` promises reject. */
  close(): void;
  /**
   * Free the WebAssembly memory of this bot for good (a bot still connected is closed first; a
   * second call does nothing). Any other use afterwards throws an error with `code: 'freed'`.
   */
  free(): void;

  on<K extends UChatBotEventName>(event: K, fn: (e: UChatBotEvents[K]) => void): this;
  once<K extends UChatBotEventName>(event: K, fn: (e: UChatBotEvents[K]) => void): this;
  off<K extends UChatBotEventName>(event: K, fn: (e: UChatBotEvents[K]) => void): this;

  /** Send a chat line. */
  send(content: string, style?: StyleInput): void;
  /** Whisper to one user. */
  whisper(nick: string, content: string): void;
  /** Any command (PROTOCOL.md §3.1), arguments typed as given. */
  command(name: string, ...args: CommandArg[]): void;
  /** Mute for `minutes` (default 10, -1 = permanently). */
  mute(nick: string, minutes?: number, reason?: string): void;
  unmute(nick: string): void;
  /** Ban (kick); `a1`/`a2` as the official client sends them (period, reason). */
  ban(nick: string, a1?: CommandArg, a2?: CommandArg): void;
  /** Room notice (subadmin or higher). */
  notice(text: string): void;
  /** Ask for a user's info (answered by a `'system'` event of type `'user_info'`). */
  info(nick: string): void;
  /** Poke a user. */
  call(nick: string): void;
  /** Ask for a user's IP (subadmin or higher; answered by a `'system'` event of type `'ip'`). */
  ip(nick: string): void;
  report(nick: string, reason?: string): void;
  op(nick: string): void;
  deop(nick: string): void;
  clearLog(): void;
  /** Request the user list again (answered by `'user.list'`). */
  userList(): void;
  /** Request the last `count` lines (default 15), delivered as `'message'` events with `history`. */
  chatList(count?: number): void;
  /** Send a plugin message to everyone. */
  plugin(channel: string, ...data: CommandArg[]): void;
  /** Run `handler` for `!name args…` from other users; returns an id for `offCommand`. */
  onCommand(name: string, handler: (ctx: CommandContext) => void, options?: CommandOptions): number;
  /** Remove a command; false if the id is unknown. */
  offCommand(id: number): boolean;
  /** The present user called `nick`. */
  user(nick: string): User | undefined;

  /** Present users. */
  readonly users: User[];
  /** My user, or null before the join. */
  readonly me: User | null;
  /** The room, or null before the join. */
  readonly room: Room | null;
  readonly state: UChatBotState;
  /** Lines waiting to be sent. */
  readonly queued: number;
}
