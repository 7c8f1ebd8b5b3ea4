//! # uchat-bot
//!
//! Write bots for [UChat](https://uchat.io) (유챗), the embeddable Korean chat widget.
//!
//! The crate is one codebase for the browser (WebAssembly, the `UChatBot` JS class) and native
//! tools (the `uchat` CLI and the local test server `uchat sim`). Its core modules have no browser
//! dependency:
//!
//! * [`codec`] — the UChat 2 wire format (PROTOCOL.md §2): streaming [`codec::Decoder`] and
//!   [`codec::encode`].
//! * [`message`] — typed server→client and client→server messages (PROTOCOL.md §3).
//! * [`token`] — the site's PHP `uchat_array2data` join token and the 16-field `j` line (§4).
//! * [`session`] — the sans-IO bot session: join flow, user table, keepalive, reconnect, rate
//!   limit and chat commands, driven by the web layer (or a test) with a clock.
//!
//! `PROTOCOL.md §N` in these docs is a section of `docs/protocol/PROTOCOL.md` in the repository
//! (the wire format as reconstructed from the official client); `DECISIONS.md` beside it says
//! where the SDK deliberately differs from that client.
#![warn(missing_docs)]

// The wasm build's allocator (size-class free lists instead of dlmalloc); native tests run its
// logic on a Vec-backed arena.
#[cfg(any(target_arch = "wasm32", test))]
mod alloc;
pub mod codec;
#[cfg(feature = "json")]
pub mod json;
pub mod message;
mod scan;
pub mod session;
pub mod token;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use codec::{DecodeError, Decoder, Field, Line};

// The unit tests run in the browser suites too (each `mod tests` imports wasm-bindgen-test's
// attribute as `test` there), so the shipped SIMD scans and 32-bit arithmetic are checked by
// them, not only by the end-to-end tests of tests/web.rs.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The global allocator of the wasm build: src/alloc.rs (smaller than Rust's default dlmalloc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator::new();
