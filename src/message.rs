//! Typed UChat 2 messages (PROTOCOL.md §3). Being written.
