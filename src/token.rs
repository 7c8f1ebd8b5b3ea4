//! Join token and join line (PROTOCOL.md §4). Being written.
