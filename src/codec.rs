//! The UChat 2 wire format: lines of typed fields, two escaping layers (PROTOCOL.md §2,
//! refined by DECISIONS.md "Decoding" and "Encoding").
//!
//! * [`Decoder`] is a streaming decoder: feed it the bytes of each WebSocket message and it yields
//!   complete [`Line`]s. Bytes after the last line end are kept raw (still escaped) for the next
//!   chunk. A malformed line is an [`DecodeError`] for that line only. It never panics, and a line
//!   longer than [`Decoder::max_line`] is an error that is skipped up to its end, so memory is
//!   bounded whatever the peer sends.
//! * [`encode`] / [`encode_into`] produce exactly the bytes the reference client would send.

use std::fmt;

/// Escape byte of both layers (`\`).
pub const ESCAPE: u8 = 0x5C;
/// Line terminator.
pub const LF: u8 = 0x0A;
/// Type byte: binary payload (PROTOCOL.md §2.3).
pub const TYPE_BIN: u8 = 0x02;
/// Type byte: UTF-8 string.
pub const TYPE_STR: u8 = 0x03;
/// Type byte: boolean (`'1'` / `'0'`).
pub const TYPE_BOOL: u8 = 0x04;
/// Type byte: little-endian integer, shortest length (0 is an empty payload), except that
/// 2^31 ≤ n < 2^32 takes five bytes: four would read back as a negative int32 (see
/// [`encode_field`]).
pub const TYPE_NUM: u8 = 0x05;
/// Type byte: undefined / null (no payload).
pub const TYPE_UNDEF: u8 = 0x06;
/// Type byte: decimal text number (negative or non-integer).
pub const TYPE_FLOAT: u8 = 0x07;

/// Default for [`Decoder::max_line`]: 1 MiB (DECISIONS.md "Decoding" 8).
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// One typed field value (PROTOCOL.md §2.3).
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// Type 2: raw bytes (user keys, session ids).
    Bin(Vec<u8>),
    /// Type 3: UTF-8 text.
    Str(String),
    /// Type 4: boolean; on decode true only for the exact payload `'1'`.
    Bool(bool),
    /// Type 5 when `>= 0`; a negative value is sent as type 7 text (DECISIONS.md "Encoding" 2).
    Num(i64),
    /// Type 7: decimal text, formatted like JavaScript's `Number.prototype.toString`.
    Float(f64),
    /// Type 6: undefined / null.
    Undef,
}

impl Field {
    /// The wire type byte this value is encoded with.
    pub fn type_byte(&self) -> u8 {
        match self {
            Field::Bin(_) => TYPE_BIN,
            Field::Str(_) => TYPE_STR,
            Field::Bool(_) => TYPE_BOOL,
            Field::Num(n) if *n >= 0 => TYPE_NUM,
            Field::Num(_) | Field::Float(_) => TYPE_FLOAT,
            Field::Undef => TYPE_UNDEF,
        }
    }

    /// Short type name used in error messages and the JSON form (`bin`, `str`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Field::Bin(_) => "bin",
            Field::Str(_) => "str",
            Field::Bool(_) => "bool",
            Field::Num(_) => "num",
            Field::Float(_) => "float",
            Field::Undef => "undef",
        }
    }

    /// The text of a string field.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a binary field.
    pub fn as_bin(&self) -> Option<&[u8]> {
        match self {
            Field::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// An integer: a number field, or a float field holding an integral value (the server may
    /// send negative numbers as type-7 text, PROTOCOL.md §2.6-1).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Field::Num(n) => Some(*n),
            Field::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Some(*f as i64)
            }
            _ => None,
        }
    }

    /// Any numeric field as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Field::Num(n) => Some(*n as f64),
            Field::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// A boolean field.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Field::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// True for the undefined field.
    pub fn is_undef(&self) -> bool {
        matches!(self, Field::Undef)
    }

    /// Equality that also holds between two NaN floats (see [`Line::same_as`]).
    pub fn same_as(&self, other: &Field) -> bool {
        match (self, other) {
            (Field::Float(x), Field::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => self == other,
        }
    }

    /// The canonical form this value takes after an encode/decode round trip: a negative
    /// [`Field::Num`] is sent as type-7 text and so comes back as [`Field::Float`].
    pub fn canonical(self) -> Field {
        match self {
            Field::Num(n) if n < 0 => Field::Float(n as f64),
            other => other,
        }
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::Str(s.to_owned())
    }
}
impl From<String> for Field {
    fn from(s: String) -> Self {
        Field::Str(s)
    }
}
impl From<&String> for Field {
    fn from(s: &String) -> Self {
        Field::Str(s.clone())
    }
}
impl From<bool> for Field {
    fn from(b: bool) -> Self {
        Field::Bool(b)
    }
}
impl From<i64> for Field {
    fn from(n: i64) -> Self {
        Field::Num(n)
    }
}
impl From<i32> for Field {
    fn from(n: i32) -> Self {
        Field::Num(n.into())
    }
}
impl From<u32> for Field {
    fn from(n: u32) -> Self {
        Field::Num(n.into())
    }
}
impl From<f64> for Field {
    fn from(f: f64) -> Self {
        Field::Float(f)
    }
}
impl From<Vec<u8>> for Field {
    fn from(b: Vec<u8>) -> Self {
        Field::Bin(b)
    }
}
impl From<&[u8]> for Field {
    fn from(b: &[u8]) -> Self {
        Field::Bin(b.to_vec())
    }
}
impl<T: Into<Field>> From<Option<T>> for Field {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Undef, Into::into)
    }
}

/// One protocol line: an untyped key (field 0) and typed fields (PROTOCOL.md §2.2).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Line {
    /// Message key, e.g. `m`, `i1`, `command`, `ERR`.
    pub key: String,
    /// Fields after the key.
    pub fields: Vec<Field>,
}

impl Line {
    /// A line with `key` and no fields.
    pub fn new(key: impl Into<String>) -> Self {
        Line {
            key: key.into(),
            fields: Vec::new(),
        }
    }

    /// Builder: append one field.
    pub fn with(mut self, field: impl Into<Field>) -> Self {
        self.fields.push(field.into());
        self
    }

    /// Append one field.
    pub fn push(&mut self, field: impl Into<Field>) {
        self.fields.push(field.into());
    }

    /// The field at `index` (0 = first field after the key).
    pub fn field(&self, index: usize) -> Option<&Field> {
        self.fields.get(index)
    }

    /// This line as it comes back from an encode/decode round trip (see [`Field::canonical`]).
    pub fn canonical(mut self) -> Line {
        self.fields = self.fields.into_iter().map(Field::canonical).collect();
        self
    }

    /// Equality that also holds between NaN floats (`==` on [`Field::Float`] follows IEEE 754,
    /// where NaN differs from itself, so a line holding NaN never equals its own round trip).
    pub fn same_as(&self, other: &Line) -> bool {
        self.key == other.key
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|(a, b)| a.same_as(b))
    }
}

impl fmt::Display for Line {
    /// A human-readable rendering for logs: `m | B baf4cf1b | "4 #ff0000" | "hi" | 1604370347`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        for field in &self.fields {
            f.write_str(" | ")?;
            match field {
                Field::Bin(b) => write!(f, "B {}", hex_encode(b))?,
                Field::Str(s) => write!(f, "{}", Quoted('"', s))?,
                Field::Bool(b) => write!(f, "{b}")?,
                Field::Num(n) => write!(f, "{n}")?,
                Field::Float(x) => f.write_str(&js_number_to_string(*x))?,
                Field::Undef => f.write_str("undefined")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// What was wrong with a line the decoder could not turn into a [`Line`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The key or a string field is not valid UTF-8; `at` is the byte offset inside that value.
    InvalidUtf8 {
        /// Offset of the first invalid byte within the (unescaped) value.
        at: usize,
    },
    /// A type-5 number has more than 8 payload bytes.
    NumberTooLong {
        /// Payload length seen.
        len: usize,
    },
    /// A type-7 field is not a decimal number.
    BadFloat {
        /// The text received (lossy UTF-8).
        text: String,
    },
    /// The line is longer than the decoder's limit; it was skipped up to its end.
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

/// A line that could not be decoded. The decoder carries on with the next line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// 1-based number of the line in the decoder's stream (counting skipped empty lines too).
    pub line: u64,
    /// The field the problem is in: `Some(0)` is the key, `Some(1)` the first typed field.
    pub field: Option<usize>,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// Category name matching the `error` entries of vectors.json
    /// (`UnicodeDecodeError` for bad text, `ValueError` for bad numbers, `LineTooLong`).
    pub fn category(&self) -> &'static str {
        match self.kind {
            DecodeErrorKind::InvalidUtf8 { .. } => "UnicodeDecodeError",
            DecodeErrorKind::NumberTooLong { .. } | DecodeErrorKind::BadFloat { .. } => {
                "ValueError"
            }
            DecodeErrorKind::LineTooLong { .. } => "LineTooLong",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        match self.field {
            Some(0) => f.write_str(", key")?,
            Some(i) => write!(f, ", field {i}")?,
            None => {}
        }
        match &self.kind {
            DecodeErrorKind::InvalidUtf8 { at } => {
                write!(f, ": invalid UTF-8 at byte {at} of the value")
            }
            DecodeErrorKind::NumberTooLong { len } => write!(
                f,
                ": number (type 5) has {len} bytes, at most 8 are allowed"
            ),
            DecodeErrorKind::BadFloat { text } => {
                write!(
                    f,
                    ": float (type 7) {} is not a decimal number",
                    Quoted('"', text)
                )
            }
            DecodeErrorKind::LineTooLong { limit } => {
                write!(f, ": longer than the {limit}-byte limit, skipped")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A [`Line`] that cannot be encoded so that it decodes again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Empty key and no fields: the decoder skips empty lines.
    EmptyLine,
    /// The key starts with a NUL byte: the decoder skips such lines (PROTOCOL.md §2.1).
    KeyStartsWithNul,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::EmptyLine => {
                f.write_str("the line has an empty key and no fields; give it a key")
            }
            EncodeError::KeyStartsWithNul => {
                f.write_str("the key starts with a NUL byte, which receivers skip; remove the NUL")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

// ---------------------------------------------------------------------------------------------
// Decoder

/// Streaming decoder of server (or client) byte streams (PROTOCOL.md §2.1–2.3,
/// DECISIONS.md "Decoding").
#[derive(Debug, Clone)]
pub struct Decoder {
    /// Raw (still escaped) bytes of the unfinished line.
    pending: Vec<u8>,
    max_line: usize,
    /// Inside an over-long line, dropping bytes up to its end.
    discarding: bool,
    /// While discarding: the previous chunk ended in an escape byte.
    discard_escape: bool,
    /// The line being handed out by `feed_lines` may contain an escape byte.
    raw_escaped: bool,
    lines: u64,
    /// Scratch buffers reused across lines.
    unescaped: Vec<u8>,
    value: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default line limit ([`DEFAULT_MAX_LINE`]).
    pub fn new() -> Self {
        Decoder::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder whose lines may be at most `max_line` raw bytes long (at least 1).
    pub fn with_max_line(max_line: usize) -> Self {
        Decoder {
            pending: Vec::new(),
            max_line: max_line.max(1),
            discarding: false,
            discard_escape: false,
            raw_escaped: true,
            lines: 0,
            unescaped: Vec::new(),
            value: Vec::new(),
        }
    }

    /// The line limit in raw bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Raw bytes kept from previous chunks: the start of a line whose end has not arrived.
    pub fn rest(&self) -> &[u8] {
        &self.pending
    }

    /// Forget any partial line (e.g. when the socket is replaced).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.discarding = false;
        self.discard_escape = false;
    }

    /// Feed one chunk and collect the results.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Result<Line, DecodeError>> {
        let mut out = Vec::new();
        self.feed_with(chunk, |r| out.push(r));
        out
    }

    /// Feed one chunk; `emit` is called once per complete line, in order.
    pub fn feed_with(&mut self, chunk: &[u8], mut emit: impl FnMut(Result<Line, DecodeError>)) {
        self.feed_raw(chunk, |this, raw| {
            if let Some(r) = this.decode_raw_line(raw) {
                emit(r)
            }
        })
    }

    /// Feed one chunk and get each complete line *raw* (still escaped, as received), for a
    /// caller with a faster path for some lines; `Err` for an over-long line. Lines the caller
    /// does not handle itself go through [`Decoder::decode_line`], which must be called inside
    /// `f` (error line numbers count the lines split so far). Empty and NUL-led lines are passed
    /// on too; `decode_line` skips them.
    pub fn feed_lines(
        &mut self,
        chunk: &[u8],
        mut f: impl FnMut(&mut Decoder, Result<&[u8], DecodeError>),
    ) {
        self.feed_raw(chunk, |this, raw| match raw {
            Ok(raw) => f(this, Ok(raw)),
            Err(()) => {
                let e = this.too_long_error();
                f(this, Err(e))
            }
        })
    }

    /// Inside a [`Decoder::feed_lines`] callback: whether the raw line may contain an escape
    /// byte (`false` means it has none, so neither escaping layer applies to it).
    pub fn raw_may_have_escape(&self) -> bool {
        self.raw_escaped
    }

    /// Decode one raw line from [`Decoder::feed_lines`] exactly as [`Decoder::feed`] would:
    /// `None` for a skipped line (empty or starting with NUL).
    pub fn decode_line(&mut self, raw: &[u8]) -> Option<Result<Line, DecodeError>> {
        self.decode_raw_line(Ok(raw))
    }

    fn too_long_error(&self) -> DecodeError {
        DecodeError {
            line: self.lines,
            field: None,
            kind: DecodeErrorKind::LineTooLong {
                limit: self.max_line,
            },
        }
    }

    /// Decode one raw line (as produced by the splitter). `None` for skipped lines.
    fn decode_raw_line(&mut self, raw: Result<&[u8], ()>) -> Option<Result<Line, DecodeError>> {
        let raw = match raw {
            Ok(raw) => raw,
            Err(()) => return Some(Err(self.too_long_error())),
        };
        let line_no = self.lines;
        let bytes: &[u8] = if raw.contains(&ESCAPE) {
            let len = unescape_line_into(raw, &mut self.unescaped);
            &self.unescaped[..len]
        } else {
            raw
        };
        decode_fields(bytes, &mut self.value).map(|r| {
            r.map_err(|(field, kind)| DecodeError {
                line: line_no,
                field: Some(field),
                kind,
            })
        })
    }

    /// The line splitter. Calls `on_line(self, Ok(raw))` for every complete line and
    /// `on_line(self, Err(()))` once for every over-long line.
    fn feed_raw<F>(&mut self, chunk: &[u8], mut on_line: F)
    where
        F: FnMut(&mut Self, Result<&[u8], ()>),
    {
        let mut pos = 0;
        if self.discarding {
            match scan_from(chunk, 0, self.discard_escape) {
                Scan::End(end) => {
                    self.discarding = false;
                    self.discard_escape = false;
                    pos = end + 1;
                }
                Scan::Incomplete { open_escape } => {
                    self.discard_escape = open_escape;
                    return;
                }
            }
        }
        if !self.pending.is_empty() {
            // Finish the line begun in an earlier chunk; it may end in an open escape byte.
            let open = ends_in_open_escape(&self.pending);
            match scan_from(chunk, pos, open) {
                Scan::End(end) => {
                    self.lines += 1;
                    if self.pending.len() + (end - pos) > self.max_line {
                        self.pending.clear();
                        on_line(self, Err(()));
                    } else {
                        self.pending.extend_from_slice(&chunk[pos..end]);
                        self.raw_escaped = self.pending.contains(&ESCAPE);
                        let line = std::mem::take(&mut self.pending);
                        on_line(self, Ok(&line));
                        // Keep the allocation for the next partial line.
                        self.pending = line;
                        self.pending.clear();
                    }
                    pos = end + 1;
                }
                Scan::Incomplete { open_escape } => {
                    if self.pending.len() + (chunk.len() - pos) > self.max_line {
                        self.pending.clear();
                        self.discarding = true;
                        self.discard_escape = open_escape;
                        self.lines += 1;
                        on_line(self, Err(()));
                    } else {
                        self.pending.extend_from_slice(&chunk[pos..]);
                    }
                    return;
                }
            }
        }
        // Complete lines inside this chunk.
        loop {
            let mut escaped = false;
            match find_line_end_flag(chunk, pos, &mut escaped) {
                Scan::End(end) => {
                    self.lines += 1;
                    self.raw_escaped = escaped;
                    if end - pos > self.max_line {
                        on_line(self, Err(()));
                    } else {
                        on_line(self, Ok(&chunk[pos..end]));
                    }
                    pos = end + 1;
                }
                Scan::Incomplete { open_escape } => {
                    let tail = &chunk[pos..];
                    if tail.len() > self.max_line {
                        self.discarding = true;
                        self.discard_escape = open_escape;
                        self.lines += 1;
                        on_line(self, Err(()));
                    } else {
                        self.pending.extend_from_slice(tail);
                    }
                    return;
                }
            }
        }
    }
}

/// Bytes the line splitter stops at: LF and the escape byte.
static LINE_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[LF as usize] = true;
    t[ESCAPE as usize] = true;
    t
};

enum Scan {
    /// Index of the terminating LF.
    End(usize),
    /// No line end; `open_escape` says the data ends in an escape byte still waiting for its pair.
    Incomplete { open_escape: bool },
}

/// Find the next unescaped LF at or after `from` (PROTOCOL.md §2.1: an escape byte consumes the
/// byte after it, whatever it is).
#[inline]
fn find_line_end(buf: &[u8], from: usize) -> Scan {
    find_line_end_flag(buf, from, &mut false)
}

/// [`find_line_end`] that also sets `escaped` when it passes an escape byte.
#[inline]
fn find_line_end_flag(buf: &[u8], from: usize, escaped: &mut bool) -> Scan {
    // A plain index loop: the size-optimised (opt-level "z") wasm build inlines it fully,
    // where an iterator chain would cost calls per byte (docs/PERFORMANCE.md). A chunk at a
    // time (crate::scan) while no LF or escape is among them (most of a line), then byte by
    // byte.
    let mut i = from;
    while i < buf.len() {
        if let Some(skip) = crate::scan::line_plain(buf, i) {
            i += skip;
            if skip == crate::scan::CHUNK {
                continue;
            }
        }
        let b = buf[i];
        if !LINE_SPECIAL[b as usize] {
            i += 1;
            continue;
        }
        if b == LF {
            return Scan::End(i);
        }
        *escaped = true;
        if i + 1 >= buf.len() {
            return Scan::Incomplete { open_escape: true };
        }
        i += 2;
    }
    Scan::Incomplete { open_escape: false }
}

/// [`find_line_end`] from `from`, where `open_escape` says the byte at `from` is escaped by an
/// escape byte at the end of the previous chunk.
fn scan_from(buf: &[u8], from: usize, open_escape: bool) -> Scan {
    if !open_escape {
        return find_line_end(buf, from);
    }
    if from >= buf.len() {
        return Scan::Incomplete { open_escape: true };
    }
    find_line_end(buf, from + 1)
}

/// Whether a raw, already-scanned partial line ends with an escape byte that still waits for the
/// byte it escapes.
fn ends_in_open_escape(raw: &[u8]) -> bool {
    let trailing = raw.iter().rev().take_while(|&&b| b == ESCAPE).count();
    // Escapes pair up left to right; with no LF inside `raw`, a run of n escapes at the end leaves
    // one open iff n is odd *and* the byte before the run was not itself an open escape — which it
    // cannot be, because it is not an escape byte.
    trailing % 2 == 1
}

/// Undo the line layer: `5C 0A` → `0A`; `5C X` → `5C X` (X not re-examined).
/// Writes into `out` (grown to `raw.len()` if shorter, never shrunk: no fill per line) and
/// returns the length of the result, `out[..len]`.
fn unescape_line_into(raw: &[u8], out: &mut Vec<u8>) -> usize {
    // Unescaping only shrinks: room for `raw.len()` bytes, written by index (`o <= i`).
    grow_to(out, raw.len());
    let buf = &mut out[..];
    let (mut i, mut o) = (0, 0);
    while i < raw.len() {
        // Plain bytes a chunk at a time (crate::scan; the chunk is copied whole and what
        // follows its plain start is written over later).
        let rest = buf.get_mut(o..).unwrap_or_default();
        if let Some(skip) = crate::scan::copy_line_plain(raw, i, rest) {
            i += skip;
            o += skip;
            if skip == crate::scan::CHUNK {
                continue;
            }
        }
        let b = raw[i];
        if b == ESCAPE && i + 1 < raw.len() {
            let next = raw[i + 1];
            if next != LF {
                buf[o] = ESCAPE;
                o += 1;
            }
            buf[o] = next;
            o += 1;
            i += 2;
        } else {
            // A lone trailing escape cannot occur in a complete line (it would have escaped the
            // LF), but the reference client drops it, and so do we.
            if b != ESCAPE {
                buf[o] = b;
                o += 1;
            }
            i += 1;
        }
    }
    o
}

/// Makes `buf` at least `len` long (zero-filled growth); a scratch buffer only ever grows, so
/// after the first long line no call fills anything.
pub(crate) fn grow_to(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// Whether `b` is a field type byte (`0x02`..=`0x07`).
#[inline]
pub(crate) fn is_type_byte(b: u8) -> bool {
    (TYPE_BIN..=TYPE_FLOAT).contains(&b)
}

/// Bytes that end a run of ordinary field bytes: the type bytes and the escape byte. Tested
/// per byte only where a chunk scan (crate::scan) stopped or too few bytes are left for one.
static FIELD_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = TYPE_BIN;
    while b <= TYPE_FLOAT {
        t[b as usize] = true;
        b += 1;
    }
    t[ESCAPE as usize] = true;
    t
};

/// Split a line-unescaped line into fields (PROTOCOL.md §2.2). `None` for skipped lines (empty or
/// starting with NUL). Errors carry the field index (0 = key).
///
/// A field without escape bytes (nearly all of them) is converted straight from its slice of
/// `bytes`; only a field with escapes is first unescaped into `value`.
fn decode_fields(
    bytes: &[u8],
    value: &mut Vec<u8>,
) -> Option<Result<Line, (usize, DecodeErrorKind)>> {
    if bytes.first().is_none_or(|&b| b == 0) {
        return None;
    }
    let n = bytes.len();
    let mut line = Line {
        key: String::new(),
        fields: Vec::with_capacity(8),
    };
    let mut ty: u8 = 0; // 0 = key
    let mut index = 0usize;
    let mut start = 0;
    let mut i = 0;
    let mut escaped = false;
    loop {
        while i < n {
            // A chunk at a time (crate::scan) while it holds no type byte or escape.
            if let Some(skip) = crate::scan::unescape_plain(bytes, i) {
                i += skip;
                if skip == crate::scan::CHUNK {
                    continue;
                }
            }
            if FIELD_SPECIAL[bytes[i] as usize] {
                break;
            }
            i += 1;
        }
        if i < n && bytes[i] == ESCAPE {
            // The escaped byte is taken whatever it is (a lone trailing escape ends the line).
            escaped = true;
            i = (i + 2).min(n);
            continue;
        }
        // End of the current field.
        let raw = &bytes[start..i];
        let r = if escaped {
            let len = unescape_field_into(raw, value);
            finish_field(ty, &value[..len], &mut line)
        } else {
            finish_field(ty, raw, &mut line)
        };
        if let Err(kind) = r {
            return Some(Err((index, kind)));
        }
        if i >= n {
            return Some(Ok(line));
        }
        ty = bytes[i];
        index += 1;
        i += 1;
        start = i;
        escaped = false;
    }
}

/// Undo the field layer of one field: `5C` + (type byte or `5C`) → that byte; `5C` + any other
/// byte → both kept; a lone trailing `5C` is dropped (PROTOCOL.md §2.2).
/// Writes into `value` as [`unescape_line_into`] does and returns the length, `value[..len]`.
fn unescape_field_into(raw: &[u8], value: &mut Vec<u8>) -> usize {
    // As `unescape_line_into`: room made once, written by index, plain bytes a chunk at a time.
    grow_to(value, raw.len());
    let buf = &mut value[..];
    let (mut i, mut o) = (0, 0);
    while i < raw.len() {
        let rest = buf.get_mut(o..).unwrap_or_default();
        if let Some(skip) = crate::scan::copy_unescape_plain(raw, i, rest) {
            i += skip;
            o += skip;
            if skip == crate::scan::CHUNK {
                continue;
            }
        }
        let b = raw[i];
        if b == ESCAPE {
            if let Some(&next) = raw.get(i + 1) {
                if next != ESCAPE && !is_type_byte(next) {
                    buf[o] = ESCAPE;
                    o += 1;
                }
                buf[o] = next;
                o += 1;
            }
            i += 2;
        } else {
            buf[o] = b;
            o += 1;
            i += 1;
        }
    }
    o
}

fn finish_field(ty: u8, value: &[u8], line: &mut Line) -> Result<(), DecodeErrorKind> {
    if ty == 0 {
        line.key = utf8(value)?.to_owned();
    } else {
        line.fields.push(FieldRef::read(ty, value)?.to_field());
    }
    Ok(())
}

/// A field's value as the decoder reads it, borrowing the payload: a [`Field`] without its
/// copies. The one place the decoding rules of the field types live, for [`Decoder`] and for
/// the session's tape-mode fast path for `s` lines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FieldRef<'a> {
    Bin(&'a [u8]),
    Str(&'a str),
    Bool(bool),
    Num(i64),
    Undef,
    Float(f64),
}

impl<'a> FieldRef<'a> {
    /// The payload `value` of a field of type `ty` (a type byte, 2..=7), by the rules of
    /// DECISIONS.md "Decoding".
    pub(crate) fn read(ty: u8, value: &'a [u8]) -> Result<Self, DecodeErrorKind> {
        Ok(match ty {
            TYPE_BIN => FieldRef::Bin(value),
            TYPE_STR => FieldRef::Str(utf8(value)?),
            TYPE_BOOL => FieldRef::Bool(value == b"1"),
            TYPE_NUM => FieldRef::Num(decode_number(value)?),
            TYPE_UNDEF => FieldRef::Undef,
            TYPE_FLOAT => FieldRef::Float(parse_float(value)?),
            _ => unreachable_type(),
        })
    }

    /// The owned [`Field`].
    pub(crate) fn to_field(self) -> Field {
        match self {
            FieldRef::Bin(b) => Field::Bin(b.to_vec()),
            FieldRef::Str(s) => Field::Str(s.to_owned()),
            FieldRef::Bool(b) => Field::Bool(b),
            FieldRef::Num(n) => Field::Num(n),
            FieldRef::Undef => Field::Undef,
            FieldRef::Float(x) => Field::Float(x),
        }
    }
}

impl Field {
    /// This field, borrowed as a [`FieldRef`].
    pub(crate) fn as_field_ref(&self) -> FieldRef<'_> {
        match self {
            Field::Bin(b) => FieldRef::Bin(b),
            Field::Str(s) => FieldRef::Str(s),
            Field::Bool(b) => FieldRef::Bool(*b),
            Field::Num(n) => FieldRef::Num(*n),
            Field::Undef => FieldRef::Undef,
            Field::Float(x) => FieldRef::Float(*x),
        }
    }
}

#[cold]
fn unreachable_type<'a>() -> FieldRef<'a> {
    // `ty` only ever holds a byte that passed `is_type_byte`.
    FieldRef::Undef
}

fn utf8(value: &[u8]) -> Result<&str, DecodeErrorKind> {
    std::str::from_utf8(value).map_err(|e| DecodeErrorKind::InvalidUtf8 {
        at: e.valid_up_to(),
    })
}

/// Type-5 payload → integer (DECISIONS.md "Decoding" 3).
#[inline]
pub fn decode_number(p: &[u8]) -> Result<i64, DecodeErrorKind> {
    if p.len() > 8 {
        return Err(DecodeErrorKind::NumberTooLong { len: p.len() });
    }
    // Shifted in byte by byte: a `copy_from_slice` of a variable length into a zeroed word
    // is a `memcpy` call in the size-optimised wasm (chat lines carry a number each).
    let mut unsigned = 0u64;
    for (k, &b) in p.iter().enumerate() {
        unsigned |= u64::from(b) << (8 * k);
    }
    Ok(match p.len() {
        4 => unsigned as u32 as i32 as i64,
        _ => unsigned as i64, // 8 bytes: two's complement i64; fewer: fits unsigned
    })
}

/// Type-7 payload → float (DECISIONS.md "Decoding" 5): empty is 0; otherwise the text must be a
/// number as JavaScript's `Number()` accepts it in decimal form (`Infinity`, `NaN` included).
pub fn parse_float(p: &[u8]) -> Result<f64, DecodeErrorKind> {
    let bad = || DecodeErrorKind::BadFloat { text: lossy(p) };
    // JavaScript's StrWhiteSpaceChar: Unicode White_Space (what `str::trim` strips) without
    // U+0085, plus U+FEFF.
    let text = std::str::from_utf8(p)
        .map_err(|_| bad())?
        .trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}');
    if text.is_empty() {
        return Ok(0.0);
    }
    // `get`, not `[1..]`, here and in other wasm code: a str slice that can panic pulls core's
    // char-boundary panic message (Debug escaping and its Unicode tables) into the wasm.
    let after_sign = text.get(1..).unwrap_or_default();
    let (sign, body) = match text.as_bytes()[0] {
        b'-' => (-1.0, after_sign),
        b'+' => (1.0, after_sign),
        _ => (1.0, text),
    };
    if body.starts_with(['+', '-']) {
        return Err(bad()); // JavaScript's Number("--1") is NaN
    }
    if body == "Infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if text == "NaN" {
        return Ok(f64::NAN);
    }
    // Rust also accepts "inf"/"nan"; JavaScript does not, so only digits, '.', 'e' are allowed.
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(bad());
    }
    short_decimal(body.as_bytes())
        .or_else(|| parse_decimal(body))
        .map(|v| sign * v)
        .ok_or_else(bad)
}

/// `digits[.digits]` with at most 15 digits in all (`1.5`, `-0.25` after the sign, `100`), or
/// `None` for anything else. Such a text is m / 10^k with m < 10^15 and k <= 15, both exact
/// doubles, so the one division is correctly rounded, as `Number()` and Rust's parser round
/// (Clinger's fast path). The common floats take this instead of [`parse_decimal`], which in
/// the browser is a call into JavaScript with a string (docs/PERFORMANCE.md "Session 16").
fn short_decimal(body: &[u8]) -> Option<f64> {
    let mut m = 0u64;
    let mut digits = 0u32;
    let mut point = None; // digits seen when the point came
    for &b in body {
        match b {
            b'0'..=b'9' if digits < 15 => {
                m = m * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(digits),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let mut scale = 1.0f64;
    for _ in point.unwrap_or(digits)..digits {
        scale *= 10.0;
    }
    Some(m as f64 / scale)
}

/// `String::from_utf8_lossy(p)` (each maximal invalid sequence becomes one U+FFFD), built on
/// `str::from_utf8`, which the wasm has anyway, instead of core's `Utf8Chunks` (docs/DESIGN.md
/// "Size"). Only for error messages.
fn lossy(mut p: &[u8]) -> String {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(p) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, rest) = p.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                p = rest
                    .get(e.error_len().unwrap_or(rest.len())..)
                    .unwrap_or_default();
            }
        }
    }
}

/// Decimal text (already checked to hold only digits, `.`, `e`/`E` and exponent signs) → f64,
/// correctly rounded. In the browser this is JavaScript's own `Number()`, which keeps Rust's float
/// parser and its tables (about 10 KB of wasm) out of the module; natively it is Rust's parser.
#[cfg(target_arch = "wasm32")]
pub(crate) fn parse_decimal(text: &str) -> Option<f64> {
    // `new Number(text)`; infallible, NaN for text Number() rejects.
    let v = text.parse::<js_sys::Number>().ok()?.value_of();
    (!v.is_nan()).then_some(v)
}

/// Decimal text → f64 (see the wasm32 version).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn parse_decimal(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// Encode one line, terminating LF included (PROTOCOL.md §2, DECISIONS.md "Encoding").
pub fn encode(line: &Line) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(16 + line.key.len() + line.fields.len() * 8);
    encode_into(line, &mut out)?;
    Ok(out)
}

/// Append the encoding of `line` to `out`. On error nothing is appended.
pub fn encode_into(line: &Line, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if line.key.as_bytes().first() == Some(&0) {
        return Err(EncodeError::KeyStartsWithNul);
    }
    if line.key.is_empty() && line.fields.is_empty() {
        return Err(EncodeError::EmptyLine);
    }
    push_escaped(out, line.key.as_bytes());
    for field in &line.fields {
        encode_field(field, out);
    }
    out.push(LF);
    Ok(())
}

/// Append one typed field (type byte + escaped payload).
pub fn encode_field(field: &Field, out: &mut Vec<u8>) {
    out.push(field.type_byte());
    match field {
        Field::Bin(b) => push_escaped(out, b),
        Field::Str(s) => push_escaped(out, s.as_bytes()),
        Field::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        Field::Num(n) if *n >= 0 => {
            let mut v = *n as u64;
            while v != 0 {
                push_escaped(out, &[(v & 0xFF) as u8]);
                v >>= 8;
            }
            // A 4-byte payload is read back as a signed int32 (DECISIONS.md "Decoding" 3), so
            // 2^31 <= n < 2^32 gets a fifth, zero byte to stay positive (5 bytes are unsigned).
            if (0x8000_0000..=0xFFFF_FFFF).contains(n) {
                out.push(0);
            }
        }
        Field::Num(n) => push_escaped(out, n.to_string().as_bytes()),
        Field::Float(f) => push_escaped(out, js_number_to_string(*f).as_bytes()),
        Field::Undef => {}
    }
}

/// Both escaping layers at once: `5C 02..07` get a `5C` (field layer), and so does `0A` (line
/// layer, applied on top of the field layer, which leaves `0A` alone).
#[inline]
pub(crate) fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    push_escaped_as(out, bytes, false);
}

/// [`push_escaped`] for the text of an outgoing chat line, which also goes out with U+00A0
/// (UTF-8 `C2 A0`, a pair no other character contains) as a space, as uchat.js sends it
/// (PROTOCOL.md §3.1).
pub(crate) fn push_escaped_chat_text(out: &mut Vec<u8>, text: &[u8]) {
    push_escaped_as(out, text, true);
}

/// [`push_escaped`], and U+00A0 as a space if `nbsp_as_space`. Plain runs are copied a chunk at
/// a time (crate::scan; the scan also stops at 0xC2, the lead byte of U+00A0).
fn push_escaped_as(out: &mut Vec<u8>, bytes: &[u8], nbsp_as_space: bool) {
    out.reserve(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(n) = crate::scan::text_plain(bytes, i) {
            out.extend_from_slice(bytes.get(i..i + n).unwrap_or_default());
            i += n;
            if n == crate::scan::CHUNK {
                continue;
            }
        }
        // A byte to look at, or one of the last (fewer than a chunk) bytes.
        let Some(&b) = bytes.get(i) else { break };
        if b == ESCAPE || b == LF || is_type_byte(b) {
            out.extend_from_slice(&[ESCAPE, b]);
        } else if nbsp_as_space && b == 0xC2 && bytes.get(i + 1) == Some(&0xA0) {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b);
        }
        i += 1;
    }
}

/// Format a float exactly like JavaScript's `Number.prototype.toString()` (ECMA-262
/// Number::toString, radix 10): shortest round-trip digits; exponent form below 1e-6 and from 1e21.
///
/// In the browser this *is* JavaScript's `Number.prototype.toString` (which also keeps Rust's
/// float formatting, about 15 KB of wasm, out of the module); natively it is the implementation
/// below, tested against the same cases.
#[cfg(target_arch = "wasm32")]
pub fn js_number_to_string(x: f64) -> String {
    js_sys::Number::from(x)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_else(|_| "NaN".into())
}

/// Format a float exactly like JavaScript's `Number.prototype.toString()` (native build).
#[cfg(not(target_arch = "wasm32"))]
pub fn js_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let mut s = String::new();
    if x < 0.0 {
        s.push('-');
    }
    let (digits, exp) = shortest_digits(x.abs());
    let k = digits.len() as i32;
    let n = exp + 1; // position of the decimal point relative to the digits
    if k <= n && n <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(&digits);
    } else {
        let e = n - 1;
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if e >= 0 { '+' } else { '-' });
        s.push_str(&e.abs().to_string());
    }
    s
}

/// The shortest decimal digits that read back as `x` (positive, finite) and the exponent of the
/// first one, as ECMA-262 Number::toString picks them: of several shortest candidates the one
/// closest to `x`, and on an exact tie the one with an even last digit. Rust's `{:e}` gives the
/// shortest round-trip digits but rounds an exact tie up (111230175460797.625 → `…63`, where
/// JavaScript prints `…62`), so a tie is looked for in `x`'s exact expansion and settled here.
#[cfg(not(target_arch = "wasm32"))]
fn shortest_digits(x: f64) -> (String, i32) {
    fn split(sci: &str) -> (String, i32) {
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let digits = mantissa.chars().filter(|c| *c != '.').collect();
        (digits, exp.parse().unwrap_or(0))
    }
    let (digits, exp) = split(&format!("{x:e}"));
    let k = digits.len();
    // A tie needs the exact value's next digit to be 5: `x` rounded to k + 1 digits ends in 5
    // then. Most values do not, and skip the long exact expansion below.
    if !format!("{x:.k$e}")
        .split_once('e')
        .is_some_and(|(m, _)| m.ends_with('5'))
    {
        return (digits, exp);
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let (exact, exact_exp) = split(&format!("{x:.800e}"));
    let exact = exact.trim_end_matches('0');
    // A tie: the exact value is k digits and a final 5, halfway between two k-digit candidates.
    if exact_exp == exp && exact.len() == k + 1 && exact.ends_with('5') {
        let lower = &exact[..k];
        let lower_even = lower.bytes().last().is_some_and(|d| d % 2 == 0);
        if lower != digits
            && lower_even
            && format!("{lower}e{}", exp - k as i32 + 1).parse() == Ok(x)
        {
            return (lower.to_string(), exp);
        }
    }
    (digits, exp)
}

/// `s` in quotes for error messages, like `{:?}` for the usual text (quote, backslash and
/// control characters escaped; everything else as is) but without `core`'s Debug escaping
/// machinery and its Unicode tables, which would otherwise be in the wasm (docs/DESIGN.md
/// "Size"). `q` is the quote: `'"'` for text, `'\''` for a single character.
pub(crate) struct Quoted<'a>(pub char, pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        let q = self.0;
        f.write_char(q)?;
        for c in self.1.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                c if c == q => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if c.is_control() => {
                    let n = c as u32;
                    f.write_str("\\u{")?;
                    let mut started = false;
                    for shift in (0..6).rev() {
                        let d = (n >> (shift * 4)) & 15;
                        if d != 0 || started || shift == 0 {
                            started = true;
                            f.write_char(HEX_DIGITS[d as usize] as char)?;
                        }
                    }
                    f.write_char('}')?;
                }
                c => f.write_char(c)?,
            }
        }
        f.write_char(q)
    }
}

// ---------------------------------------------------------------------------------------------
// Hex helpers (used for user keys, sessions and the CLI)

/// The lowercase hex digits (for [`hex_encode`], the event tape's hex strings and
/// [`Quoted`]'s `\u{…}` escapes).
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two lowercase hex digits of `b`.
pub(crate) fn hex_pair(b: u8) -> [u8; 2] {
    [
        HEX_DIGITS[usize::from(b >> 4)],
        HEX_DIGITS[usize::from(b & 15)],
    ]
}

/// Lowercase hex, two digits per byte (uchat.js `hexEncode`).
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        let [hi, lo] = hex_pair(b);
        s.push(hi as char);
        s.push(lo as char);
    }
    s
}

/// Parse hex; ASCII whitespace between digits is ignored. The error says where the problem is.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<(usize, u8)> = None;
    for (i, c) in text.char_indices() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = c.to_digit(16).ok_or_else(|| {
            format!(
                "invalid hex digit {} at character {i}",
                Quoted('\'', c.encode_utf8(&mut [0; 4]))
            )
        })? as u8;
        match high.take() {
            None => high = Some((i, v)),
            Some((_, h)) => out.push(h << 4 | v),
        }
    }
    if let Some((i, _)) = high {
        return Err(format!(
            "odd number of hex digits: the digit at character {i} has no partner"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The line scan (a chunk at a time, `crate::scan`) against a byte-by-byte reading of
    /// PROTOCOL.md §2.1, on random data dense in LF and escape bytes, from every start offset.
    #[test]
    fn line_scan_matches_a_byte_by_byte_scan() {
        fn naive(buf: &[u8], from: usize) -> (Option<usize>, bool, bool) {
            let (mut i, mut escaped) = (from, false);
            while i < buf.len() {
                match buf[i] {
                    LF => return (Some(i), false, escaped),
                    ESCAPE if i + 1 >= buf.len() => return (None, true, true),
                    ESCAPE => {
                        escaped = true;
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
            (None, false, escaped)
        }
        let mut seed = 0x2545_f491_u32;
        for len in 0..48 {
            for _ in 0..200 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        [b'a', 0xea, LF, ESCAPE, 0x8a, 0x5d, 0x0b, 0][seed as usize % 8]
                    })
                    .collect();
                for from in 0..=len {
                    let mut escaped = false;
                    let got = match find_line_end_flag(&buf, from, &mut escaped) {
                        Scan::End(i) => (Some(i), false, escaped),
                        Scan::Incomplete { open_escape } => (None, open_escape, escaped),
                    };
                    assert_eq!(got, naive(&buf, from), "{buf:?} from {from}");
                }
            }
        }
    }

    #[test]
    fn lossy_matches_from_utf8_lossy() {
        let cases: &[&[u8]] = &[
            b"",
            b"1.5",
            b"\xff",
            b"a\xffb",
            b"\xe2\x82",
            b"x\xe2\x82",
            b"\xe2\x82\xac\xf0\x9f\x98",
            b"\xf0\x80\x80\x80z",
            b"\xed\xa0\x80",
            b"\xc3\x28\xa0\xa1",
        ];
        for &c in cases {
            assert_eq!(lossy(c), String::from_utf8_lossy(c), "{c:?}");
        }
        // Every 3-byte string over bytes that exercise lead, continuation and invalid bytes.
        let bytes = [0x41, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff];
        for a in bytes {
            for b in bytes {
                for c in bytes {
                    let v = [a, b, c];
                    assert_eq!(lossy(&v), String::from_utf8_lossy(&v), "{v:?}");
                }
            }
        }
    }

    #[test]
    fn quoted_matches_debug_for_ordinary_text() {
        for s in [
            "",
            "myroom",
            "a \"b\" \\ c",
            "tab\there\nnl\r\0",
            "한글 ✓",
            "\u{7f}\u{1}",
        ] {
            assert_eq!(Quoted('"', s).to_string(), format!("{s:?}"));
        }
        for c in ['x', '\'', '"', '\n', '한'] {
            let mut b = [0; 4];
            assert_eq!(
                Quoted('\'', c.encode_utf8(&mut b)).to_string(),
                format!("{c:?}")
            );
        }
    }

    #[test]
    fn feed_lines_then_decode_line_equals_feed_at_every_split() {
        // Escapes of both layers, a skipped NUL line, an empty line, an over-long line.
        let stream: &[u8] =
            b"m\x03\x03a\\\\b\\\nc\n\x00x\n\nk\x02\\\x02\x03n\nlong-long-long-line\np\n";
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            let mut want = Decoder::with_max_line(12);
            let mut expected = want.feed(a);
            expected.extend(want.feed(b));
            let mut d = Decoder::with_max_line(12);
            let mut got = Vec::new();
            for chunk in [a, b] {
                d.feed_lines(chunk, |d, raw| match raw {
                    Ok(raw) => got.extend(d.decode_line(raw)),
                    Err(e) => got.push(Err(e)),
                });
            }
            assert_eq!(got, expected, "split at {split}");
            assert_eq!(d.rest(), want.rest());
        }
    }

    fn dec(hex: &str) -> Vec<Result<Line, DecodeError>> {
        Decoder::new().feed(&hex_decode(hex).unwrap())
    }

    #[test]
    fn booleans_are_true_only_for_exactly_31() {
        // PROTOCOL.md §5.4's edge vector (vectors.json carries it with `01` in the first
        // field, so none of its booleans is true).
        let line = dec("740431043004320431310a");
        let fields = &line[0].as_ref().unwrap().fields;
        let got: Vec<_> = fields.iter().map(Field::as_bool).collect();
        assert_eq!(got, [Some(true), Some(false), Some(false), Some(false)]);
    }

    #[test]
    fn worked_example_both_layers() {
        let line = Line::new("m").with("").with("a\\b\u{3}c\nd");
        assert_eq!(
            hex_encode(&encode(&line).unwrap()),
            "6d0303615c5c625c03635c0a640a"
        );
        assert_eq!(dec("6d0303615c5c625c03635c0a640a"), vec![Ok(line)]);
    }

    #[test]
    // The tie cases are written as their exact binary values, more digits than round-trip needs.
    #[allow(clippy::excessive_precision)]
    fn js_number_format() {
        for (x, s) in [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.25, "-2.25"),
            (-1.0, "-1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (123456.789, "123456.789"),
            (f64::NAN, "NaN"),
            (-0.0, "0"),
            (f64::NEG_INFINITY, "-Infinity"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            // Exact ties between two shortest texts: JavaScript takes the even last digit
            // (Rust's `{:e}` rounds up); the outputs are node's.
            (111230175460797.625, "111230175460797.62"),
            (1968115367707255.25, "1968115367707255.2"),
            (73738520236578.125, "73738520236578.12"),
            (2.5, "2.5"),
        ] {
            assert_eq!(js_number_to_string(x), s, "{x:e}");
        }
    }

    #[test]
    fn short_decimals_round_as_the_full_parser_does() {
        // Every split of every digit string the generator makes, against Rust's correctly
        // rounded parser (the browser's `Number()` rounds the same way).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut checked = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = format!("{}", x % 10u64.pow(1 + (x >> 60) as u32 % 15));
            for at in 0..=digits.len() {
                let text = format!("{}.{}", &digits[..at], &digits[at..]);
                let want: f64 = text.parse().unwrap();
                assert_eq!(short_decimal(text.as_bytes()), Some(want), "{text}");
                checked += 1;
            }
        }
        assert!(checked > 100_000);
        // Longer or other forms are left to the full parser.
        assert_eq!(short_decimal(b"1234567890123456"), None);
        assert_eq!(short_decimal(b"1e5"), None);
        assert_eq!(short_decimal(b"1.2.3"), None);
        assert_eq!(short_decimal(b"."), None);
        assert_eq!(short_decimal(b""), None);
    }

    #[test]
    fn float_text_parsing() {
        assert_eq!(parse_float(b""), Ok(0.0));
        assert_eq!(parse_float(b"-1"), Ok(-1.0));
        assert_eq!(parse_float(b"1e+21"), Ok(1e21));
        assert_eq!(parse_float(b"-Infinity"), Ok(f64::NEG_INFINITY));
        assert!(parse_float(b"NaN").unwrap().is_nan());
        assert!(parse_float(b"inf").is_err());
        assert!(parse_float(b"abc").is_err());
        assert!(parse_float(b"1.2.3").is_err());
        // JavaScript's whitespace, not Unicode's: U+FEFF is trimmed, U+0085 is not.
        assert_eq!(
            parse_float(" \u{feff}\u{3000}1\t\u{2028}".as_bytes()),
            Ok(1.0)
        );
        assert!(parse_float("\u{85}1".as_bytes()).is_err());
        assert!(parse_float(b"--1").is_err());
        assert!(parse_float(b"+-1").is_err());
        assert_eq!(parse_float(b"1."), Ok(1.0));
        assert_eq!(parse_float(b".5"), Ok(0.5));
        assert!(parse_float(b".").is_err());
        assert!(parse_float(b"1..5").is_err());
        assert_eq!(
            parse_float(b"-0").map(f64::to_bits),
            Ok((-0.0f64).to_bits())
        );
    }

    #[test]
    fn numbers_by_width() {
        assert_eq!(decode_number(&[]), Ok(0));
        assert_eq!(decode_number(&[0xff, 0xff, 0xff]), Ok(16_777_215));
        assert_eq!(decode_number(&[0xff; 4]), Ok(-1));
        assert_eq!(decode_number(&[0xff; 5]), Ok(0xff_ffff_ffff));
        assert_eq!(decode_number(&[0xff; 8]), Ok(-1));
        assert_eq!(
            decode_number(&[0; 9]),
            Err(DecodeErrorKind::NumberTooLong { len: 9 })
        );
    }

    #[test]
    fn bad_line_does_not_spoil_its_neighbours() {
        let out = dec("700a6d0303fffe0a6f03610a");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], Ok(Line::new("p")));
        let err = out[1].clone().unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.field, Some(2));
        assert_eq!(
            err.to_string(),
            "line 2, field 2: invalid UTF-8 at byte 0 of the value"
        );
        assert_eq!(out[2], Ok(Line::new("o").with("a")));
    }

    #[test]
    fn split_after_escape_is_kept_raw() {
        // `a\<LF>b` split right after the escape byte: the reference client would corrupt it.
        let bytes = hex_decode("6d0303615c5c5c0a620a").unwrap();
        for cut in 0..=bytes.len() {
            let mut d = Decoder::new();
            let mut got = d.feed(&bytes[..cut]);
            got.extend(d.feed(&bytes[cut..]));
            assert_eq!(
                got,
                vec![Ok(Line::new("m").with("").with("a\\\nb"))],
                "cut {cut}"
            );
            assert!(d.rest().is_empty());
        }
    }

    #[test]
    fn over_long_line_is_skipped_to_its_end() {
        let mut d = Decoder::with_max_line(8);
        let mut got = d.feed(b"m\x03aaaa");
        got.extend(d.feed(b"aaaa\\"));
        got.extend(d.feed(b"\naaaaaa"));
        got.extend(d.feed(b"aa\np\n"));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(
            got[0],
            Err(DecodeError {
                kind: DecodeErrorKind::LineTooLong { limit: 8 },
                ..
            })
        ));
        assert_eq!(got[1], Ok(Line::new("p")));
        // A complete over-long line inside one chunk.
        let got = Decoder::with_max_line(4).feed(b"abcdefgh\np\n");
        assert!(got[0].is_err());
        assert_eq!(got[1], Ok(Line::new("p")));
    }

    #[test]
    fn numbers_with_the_int32_sign_bit_round_trip() {
        // Found by tests/props.rs: 2^31 as the shortest 4 bytes `00 00 00 80` decoded as -2^31.
        for (n, hex) in [
            (0x7FFF_FFFF_i64, "7405ffffff7f0a"),
            (0x8000_0000, "740500000080000a"),
            (0xFFFF_FFFF, "7405ffffffff000a"),
            (0x1_0000_0000, "740500000000010a"),
        ] {
            let line = Line::new("t").with(n);
            let bytes = encode(&line).unwrap();
            assert_eq!(hex_encode(&bytes), hex, "{n}");
            assert_eq!(Decoder::new().feed(&bytes), vec![Ok(line)], "{n}");
        }
    }

    #[test]
    fn encode_rejects_lines_that_would_vanish() {
        assert_eq!(encode(&Line::new("")), Err(EncodeError::EmptyLine));
        assert_eq!(
            encode(&Line::new("\0x")),
            Err(EncodeError::KeyStartsWithNul)
        );
        assert_eq!(encode(&Line::new("").with(1i64)).unwrap(), b"\x05\x01\n");
    }

    #[test]
    fn hex_errors_say_where() {
        assert_eq!(hex_decode("0a 0B\n"), Ok(vec![10, 11]));
        assert_eq!(
            hex_decode("0x"),
            Err("invalid hex digit 'x' at character 1".into())
        );
        assert!(hex_decode("abc").unwrap_err().contains("odd number"));
    }
}
