// ==UserScript==
// @name         UChat command bot (uchat-bot example)
// @namespace    https://github.com/uchat-bot/uchat-bot
// @version      0.1.0
// @description  Joins the page's UChat room as you and answers !ping, !dice [N] and !help.
// @match        https://example.com/*
// @require      https://example.com/REPLACE-ME/uchat-bot.user.js
// @grant        none
// @run-at       document-idle
// ==/UserScript==
//
// How to use it (Tampermonkey or Violentmonkey):
//   1. `cargo xtask userscript` builds dist/uchat-bot.user.js: one file with the WebAssembly
//      inside. Put it where your browser can fetch it (your own server, a release asset, a gist)
//      and write that URL on the @require line above. Pin a versioned URL: managers cache it.
//      Append the hash the build prints (`#sha256=…`, also in dist/uchat-bot.user.js.sha256):
//      Tampermonkey then refuses a copy of the file that is not the one you built.
//      (Tampermonkey also takes file:///path/to/dist/uchat-bot.user.js once "Allow access to
//      file URLs" is on for the extension.)
//   2. Replace the @match line with the pages of the site that embeds UChat (the pages with a
//      <u-chat room="…" user_data="…"> element).
//   3. Open such a page: the bot joins the room as the page's user (the element's user_data) and
//      answers in the room. The console shows "[command-bot] …" lines; `uchatCommandBot` is the
//      bot object, for experiments from the console.
//
// Commands (each user may use each command once every 3 s):
//   !ping        → pong
//   !dice [N]    → a roll from 1 to N (default 6, at most 1000000)
//   !help        → the list of commands
//
// Server URL: the SDK's default (wss://sp-worker.uchat.io, the real UChat server) unless the page
// says otherwise, with a `data-uchat-url="ws://…"` attribute on the <u-chat> element or a global
// `UCHAT_BOT_URL`. Those two exist for testing against the local simulator (`uchat sim`);
// real sites set neither.
//
// If the page's Content-Security-Policy forbids WebAssembly, the console says so and names
// 'wasm-unsafe-eval' (the directive the page would need). On a real site the page's own chat
// widget is connected as the same user; if the server refuses the second connection, the console
// shows the error code and message (see PROTOCOL.md §3.4 for the numbers).

(function () {
  'use strict';

  const LOG = '[command-bot]';
  const COOLDOWN = { perUserCooldownMs: 3000 };
  const MAX_SIDES = 1000000;
  const HELP = 'Commands: !ping → pong · !dice [N] → a roll from 1 to N (default 6) · !help → this list';

  /** The page's <u-chat> element, waiting up to `timeoutMs` for it to appear. */
  function findUChat(timeoutMs) {
    const found = document.querySelector('u-chat');
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        const el = document.querySelector('u-chat');
        if (el) {
          observer.disconnect();
          clearTimeout(timer);
          resolve(el);
        }
      });
      const timer = setTimeout(() => {
        observer.disconnect();
        resolve(null);
      }, timeoutMs);
      observer.observe(document.documentElement, { childList: true, subtree: true });
    });
  }

  /** Only for tests against `uchat sim`: an explicit server URL, or undefined for the default. */
  function serverUrl(el) {
    return el.getAttribute('data-uchat-url') || globalThis.UCHAT_BOT_URL || undefined;
  }

  /** `!dice`, `!dice 20`, `!dice d20`: the number of sides, or null when it makes no sense. */
  function sides(arg) {
    if (arg === undefined) return 6;
    const n = Number(String(arg).replace(/^d/i, ''));
    return Number.isInteger(n) && n >= 1 && n <= MAX_SIDES ? n : null;
  }

  function addCommands(bot) {
    bot.onCommand('ping', ({ reply }) => reply('pong'), COOLDOWN);
    bot.onCommand('dice', ({ user, args, reply }) => {
      const n = sides(args[0]);
      if (n === null) {
        reply(`${user.nick}: !dice N takes a whole number from 1 to ${MAX_SIDES}`);
        return;
      }
      const roll = 1 + Math.floor(Math.random() * n);
      reply(`🎲 ${user.nick} rolled ${roll} (1–${n})`);
    }, COOLDOWN);
    bot.onCommand('help', ({ reply }) => reply(HELP), COOLDOWN);
  }

  async function main() {
    if (typeof UChatBot === 'undefined') {
      console.error(`${LOG} UChatBot is not defined: check the @require line (it must point at uchat-bot.user.js)`);
      return;
    }
    await UChatBot.ready; // rejects with a message that says what to do (e.g. CSP)
    const el = await findUChat(15000);
    if (!el) {
      console.info(`${LOG} no <u-chat> element on this page; nothing to do`);
      return;
    }
    const url = serverUrl(el);
    const bot = UChatBot.fromElement(el, url ? { url } : undefined);
    globalThis.uchatCommandBot = bot;
    addCommands(bot);
    bot.on('state', ({ state }) => console.info(`${LOG} ${state}`));
    bot.on('error', ({ code, message }) => console.warn(`${LOG} server error ${code}: ${message}`));
    const me = await bot.connect();
    console.info(`${LOG} joined room ${el.getAttribute('room')} as ${me.nick}; try !help`);
  }

  main().catch((e) => console.error(`${LOG} ${e && e.message ? e.message : e}`, e && e.code !== undefined ? `(code ${e.code})` : ''));
})();
