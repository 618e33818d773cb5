//! A strict JSON parser that borrows from its input.
//!
//! It builds a flat "tape" of small fixed-size items that point back into the input bytes instead
//! of an owned tree: no string is copied unless it holds an escape, and every object gets its
//! member list sorted once (in RFC 8785 key order) while it is parsed, which is also how duplicate
//! keys are found. The canonical writers then walk the tape. This is what makes hashing several
//! times faster than parsing into `serde_json::Value` and serializing again.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::error::DiffError;

/// Deepest nesting of arrays and objects accepted. n8n exports nest about a dozen levels; the
/// bound only exists so that hostile input can not exhaust the stack.
pub const MAX_DEPTH: usize = 100;

/// Largest document accepted: offsets on the tape are `u32`.
pub const MAX_DOCUMENT_BYTES: usize = u32::MAX as usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    True,
    False,
    Num,
    Str,
    Arr,
    Obj,
}

/// The string holds at least one backslash escape and must be decoded before use.
pub(crate) const F_ESCAPED: u8 = 1;
/// The string holds a byte >= 0x80 (so byte order may differ from UTF-16 order).
pub(crate) const F_NON_ASCII: u8 = 2;
/// The number is an integer literal of at most 15 digits: its text is already canonical
/// (apart from `-0`), so it needs no float conversion.
pub(crate) const F_SMALL_INT: u8 = 4;

/// One tape entry.
///
/// * `Str`, `Num`: `a..b` is the byte range of the literal (for strings, between the quotes).
/// * `Arr`: `a` is the element count, `b` the index of the item after the last descendant.
/// * `Obj`: like `Arr`, and `c` is where the member list (key item indices, sorted) starts in
///   [`Tape::members`]. A member's value is the item right after its key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    pub kind: Kind,
    pub flags: u8,
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

/// The parsed document: items in document order (pre-order), plus sorted member lists.
#[derive(Debug, Default)]
pub(crate) struct Tape {
    pub items: Vec<Item>,
    pub members: Vec<u32>,
    key_stack: Vec<u32>,
    sort_scratch: Vec<SortEntry>,
    prefix_scratch: Vec<(u64, u32)>,
}

#[derive(Debug)]
struct SortEntry {
    key_item: u32,
    ascii: bool,
    decoded: Option<String>,
}

impl Tape {
    /// Parses `text` into this tape, reusing its buffers.
    pub fn parse(&mut self, text: &str) -> Result<(), DiffError> {
        self.items.clear();
        self.members.clear();
        self.key_stack.clear();
        self.sort_scratch.clear();
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(DiffError::TooLarge {
                size: text.len(),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let mut p = Parser {
            src: text.as_bytes(),
            text,
            pos: 0,
            tape: self,
        };
        p.skip_ws();
        if p.src.starts_with("\u{feff}".as_bytes()) {
            return Err(p.err(
                0,
                "the document starts with a byte order mark (U+FEFF), which JSON does not allow",
            ));
        }
        p.value(0)?;
        p.skip_ws();
        if p.pos != p.src.len() {
            return Err(p.err(p.pos, "unexpected data after the end of the document"));
        }
        Ok(())
    }

    /// Index of the item after `i` and all its descendants.
    #[inline]
    pub fn next(&self, i: usize) -> usize {
        let it = &self.items[i];
        match it.kind {
            Kind::Arr | Kind::Obj => it.b as usize,
            _ => i + 1,
        }
    }

    /// Sorted key item indices of object `i`.
    #[inline]
    pub fn members(&self, i: usize) -> &[u32] {
        let it = &self.items[i];
        debug_assert_eq!(it.kind, Kind::Obj);
        &self.members[it.c as usize..it.c as usize + it.a as usize]
    }

    /// Item indices of the elements of array `i`, in order.
    pub fn elements(&self, i: usize) -> Elements<'_> {
        let it = &self.items[i];
        debug_assert_eq!(it.kind, Kind::Arr);
        Elements {
            tape: self,
            next: i + 1,
            left: it.a as usize,
        }
    }

    /// The value item of the member of object `obj` whose key equals `key`.
    pub fn get(&self, text: &str, obj: usize, key: &str) -> Option<usize> {
        self.members(obj)
            .iter()
            .find(|&&k| str_eq(text, &self.items[k as usize], key))
            .map(|&k| k as usize + 1)
    }
}

/// Iterator over the element item indices of an array.
pub(crate) struct Elements<'t> {
    tape: &'t Tape,
    next: usize,
    left: usize,
}

impl Iterator for Elements<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let i = self.next;
        self.next = self.tape.next(i);
        Some(i)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Elements<'_> {}

/// The raw text of a string or number item.
#[inline]
pub(crate) fn raw<'a>(text: &'a str, it: &Item) -> &'a str {
    &text[it.a as usize..it.b as usize]
}

/// The raw bytes of a string or number item (no char-boundary checks, for hot loops).
#[inline]
pub(crate) fn raw_bytes<'a>(text: &'a str, it: &Item) -> &'a [u8] {
    &text.as_bytes()[it.a as usize..it.b as usize]
}

/// The decoded value of a string item. Only escaped strings allocate.
pub(crate) fn str_value<'a>(text: &'a str, it: &Item) -> Cow<'a, str> {
    let r = raw(text, it);
    if it.flags & F_ESCAPED == 0 {
        Cow::Borrowed(r)
    } else {
        // The parser validated every escape, so decoding can not fail here.
        Cow::Owned(decode_validated(r))
    }
}

/// Whether string item `it` equals `s` (an unescaped Rust string).
#[inline]
pub(crate) fn str_eq(text: &str, it: &Item, s: &str) -> bool {
    if it.flags & F_ESCAPED == 0 {
        raw(text, it) == s
    } else {
        decode_validated(raw(text, it)) == s
    }
}

/// RFC 8785 key order: compare strings as sequences of UTF-16 code units. For ASCII strings this
/// is plain byte order, which is the fast path.
#[inline]
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

fn utf16_cmp_known(a: &str, a_ascii: bool, b: &str, b_ascii: bool) -> Ordering {
    if a_ascii && b_ascii {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// A short name of the JSON type of item `it`, for error messages.
pub(crate) fn type_name(it: &Item) -> &'static str {
    match it.kind {
        Kind::Null => "null",
        Kind::True | Kind::False => "a boolean",
        Kind::Num => "a number",
        Kind::Str => "a string",
        Kind::Arr => "an array",
        Kind::Obj => "an object",
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Shortens user content quoted in an error message.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

struct Parser<'a, 't> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    tape: &'t mut Tape,
}

/// Bytes that end the fast scan of a string body: quote, backslash, control characters and
/// (to set the non-ASCII flag) bytes >= 0x80.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || i >= 0x80;
        i += 1;
    }
    t
};

impl Parser<'_, '_> {
    fn err(&self, offset: usize, reason: &str) -> DiffError {
        let (line, column) = line_col(self.text, offset);
        DiffError::InvalidJson {
            line,
            column,
            reason: reason.to_owned(),
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
        loop {
            match self.src.get(self.pos) {
                // Pretty-printed exports indent with runs of spaces: skip eight at a time.
                Some(b' ') => match self.src.get(self.pos..self.pos + 8) {
                    Some(chunk) if load_u64(chunk) == SPACES => self.pos += 8,
                    _ => self.pos += 1,
                },
                Some(b'\n' | b'\r' | b'\t') => self.pos += 1,
                _ => break,
            }
        }
    }

    #[inline]
    fn push(&mut self, kind: Kind, flags: u8, a: usize, b: usize) {
        // Offsets fit: the document length was checked against MAX_DOCUMENT_BYTES.
        self.tape.items.push(Item {
            kind,
            flags,
            a: a as u32,
            b: b as u32,
            c: 0,
        });
    }

    fn value(&mut self, depth: usize) -> Result<(), DiffError> {
        let Some(&b) = self.src.get(self.pos) else {
            return Err(self.err(self.pos, "unexpected end of input, expected a value"));
        };
        match b {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true", Kind::True),
            b'f' => self.literal("false", Kind::False),
            b'n' => self.literal("null", Kind::Null),
            _ => Err(self.err(self.pos, &unexpected(self.text, self.pos, "a value"))),
        }
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<(), DiffError> {
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.push(kind, 0, 0, 0);
            Ok(())
        } else {
            Err(self.err(self.pos, &unexpected(self.text, self.pos, "a value")))
        }
    }

    fn too_deep(&self) -> DiffError {
        let (line, column) = line_col(self.text, self.pos);
        DiffError::TooDeep {
            limit: MAX_DEPTH,
            line,
            column,
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), DiffError> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        let me = self.tape.items.len();
        self.push(Kind::Arr, 0, 0, 0);
        self.pos += 1;
        self.skip_ws();
        let mut count = 0u32;
        if self.src.get(self.pos) == Some(&b']') {
            self.pos += 1;
        } else {
            loop {
                self.value(depth)?;
                count += 1;
                self.skip_ws();
                match self.src.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        return Err(self.err(
                            self.pos,
                            &unexpected(self.text, self.pos, "',' or ']' in an array"),
                        ))
                    }
                }
            }
        }
        let end = self.tape.items.len() as u32;
        let it = &mut self.tape.items[me];
        it.a = count;
        it.b = end;
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), DiffError> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        let me = self.tape.items.len();
        self.push(Kind::Obj, 0, 0, 0);
        self.pos += 1;
        self.skip_ws();
        let base = self.tape.key_stack.len();
        if self.src.get(self.pos) == Some(&b'}') {
            self.pos += 1;
        } else {
            loop {
                if self.src.get(self.pos) != Some(&b'"') {
                    return Err(self.err(
                        self.pos,
                        &unexpected(self.text, self.pos, "a string key in an object"),
                    ));
                }
                let key = self.tape.items.len() as u32;
                self.string()?;
                self.tape.key_stack.push(key);
                self.skip_ws();
                if self.src.get(self.pos) != Some(&b':') {
                    return Err(self.err(
                        self.pos,
                        &unexpected(self.text, self.pos, "':' after an object key"),
                    ));
                }
                self.pos += 1;
                self.skip_ws();
                self.value(depth)?;
                self.skip_ws();
                match self.src.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        return Err(self.err(
                            self.pos,
                            &unexpected(self.text, self.pos, "',' or '}' in an object"),
                        ))
                    }
                }
            }
        }
        let count = self.tape.key_stack.len() - base;
        let start = self.tape.members.len();
        self.sort_members(base)?;
        let end = self.tape.items.len() as u32;
        let it = &mut self.tape.items[me];
        it.a = count as u32;
        it.b = end;
        it.c = start as u32;
        Ok(())
    }

    /// Sorts the keys pushed since `base` into RFC 8785 order, rejects duplicates, and moves the
    /// result onto `members`.
    fn sort_members(&mut self, base: usize) -> Result<(), DiffError> {
        let text = self.text;
        let tape = &mut *self.tape;
        let keys = &tape.key_stack[base..];
        match keys.len() {
            0 => {}
            1 => tape.members.push(keys[0]),
            _ => {
                let all_plain = keys
                    .iter()
                    .all(|&k| tape.items[k as usize].flags & (F_ESCAPED | F_NON_ASCII) == 0);
                if all_plain {
                    // Fast path: plain ASCII keys compare as bytes. Most keys differ in their
                    // first eight bytes, so compare a big-endian prefix word first (keys hold
                    // no NUL byte, so zero padding can not tie two different keys).
                    tape.prefix_scratch.clear();
                    for &k in keys {
                        let r = raw(text, &tape.items[k as usize]).as_bytes();
                        let mut p = [0u8; 8];
                        let n = r.len().min(8);
                        p[..n].copy_from_slice(&r[..n]);
                        tape.prefix_scratch.push((u64::from_be_bytes(p), k));
                    }
                    let items = &tape.items;
                    tape.prefix_scratch.sort_unstable_by(|x, y| {
                        x.0.cmp(&y.0).then_with(|| {
                            raw_bytes(text, &items[x.1 as usize])
                                .cmp(raw_bytes(text, &items[y.1 as usize]))
                        })
                    });
                    for w in tape.prefix_scratch.windows(2) {
                        if w[0].0 == w[1].0 {
                            let (x, y) = (&items[w[0].1 as usize], &items[w[1].1 as usize]);
                            if raw_bytes(text, x) == raw_bytes(text, y) {
                                return Err(duplicate(text, y, raw(text, y)));
                            }
                        }
                    }
                    tape.members
                        .extend(tape.prefix_scratch.iter().map(|&(_, k)| k));
                } else {
                    tape.sort_scratch.clear();
                    for &k in keys {
                        let it = &tape.items[k as usize];
                        let decoded =
                            (it.flags & F_ESCAPED != 0).then(|| decode_validated(raw(text, it)));
                        let ascii = match &decoded {
                            Some(d) => d.is_ascii(),
                            None => it.flags & F_NON_ASCII == 0,
                        };
                        tape.sort_scratch.push(SortEntry {
                            key_item: k,
                            ascii,
                            decoded,
                        });
                    }
                    let items = &tape.items;
                    tape.sort_scratch.sort_unstable_by(|x, y| {
                        let xs = x
                            .decoded
                            .as_deref()
                            .unwrap_or_else(|| raw(text, &items[x.key_item as usize]));
                        let ys = y
                            .decoded
                            .as_deref()
                            .unwrap_or_else(|| raw(text, &items[y.key_item as usize]));
                        utf16_cmp_known(xs, x.ascii, ys, y.ascii)
                    });
                    for w in tape.sort_scratch.windows(2) {
                        let xs = w[0]
                            .decoded
                            .as_deref()
                            .unwrap_or_else(|| raw(text, &items[w[0].key_item as usize]));
                        let ys = w[1]
                            .decoded
                            .as_deref()
                            .unwrap_or_else(|| raw(text, &items[w[1].key_item as usize]));
                        if xs == ys {
                            return Err(duplicate(text, &items[w[1].key_item as usize], ys));
                        }
                    }
                    tape.members
                        .extend(tape.sort_scratch.iter().map(|e| e.key_item));
                }
            }
        }
        tape.key_stack.truncate(base);
        Ok(())
    }

    fn string(&mut self) -> Result<(), DiffError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut flags = 0u8;
        loop {
            // Fast scan over ordinary ASCII bytes, eight at a time, then byte by byte.
            while let Some(chunk) = self.src.get(self.pos..self.pos + 8) {
                let stop = string_stop_mask(u64::from_le_bytes(load_bytes(chunk)));
                if stop == 0 {
                    self.pos += 8;
                } else {
                    // The lowest flagged byte is exact (borrows only spill upwards).
                    self.pos += (stop.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            while let Some(&b) = self.src.get(self.pos) {
                if STRING_STOP[b as usize] {
                    break;
                }
                self.pos += 1;
            }
            let Some(&b) = self.src.get(self.pos) else {
                return Err(self.err(open, "unterminated string"));
            };
            match b {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    self.push(Kind::Str, flags, start, end);
                    return Ok(());
                }
                b'\\' => {
                    flags |= F_ESCAPED;
                    self.escape()?;
                }
                0x80.. => {
                    flags |= F_NON_ASCII;
                    self.pos += 1;
                }
                _ => {
                    return Err(self.err(
                        self.pos,
                        "control character in a string (it must be escaped as \\u00XX)",
                    ))
                }
            }
        }
    }

    /// Validates one escape sequence at `pos` (which holds the backslash) and moves past it.
    fn escape(&mut self) -> Result<(), DiffError> {
        let at = self.pos;
        match self.src.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                let hi = self.hex4(self.pos + 2)?;
                self.pos += 6;
                match hi {
                    0xD800..=0xDBFF => {
                        let low = if self.src.get(self.pos) == Some(&b'\\')
                            && self.src.get(self.pos + 1) == Some(&b'u')
                        {
                            Some(self.hex4(self.pos + 2)?)
                        } else {
                            None
                        };
                        match low {
                            Some(0xDC00..=0xDFFF) => {
                                self.pos += 6;
                                Ok(())
                            }
                            _ => Err(self.lone_surrogate(at, hi)),
                        }
                    }
                    0xDC00..=0xDFFF => Err(self.lone_surrogate(at, hi)),
                    _ => Ok(()),
                }
            }
            _ => Err(self.err(at, "invalid escape sequence in a string")),
        }
    }

    fn lone_surrogate(&self, at: usize, code: u16) -> DiffError {
        let (line, column) = line_col(self.text, at);
        DiffError::LoneSurrogate { code, line, column }
    }

    fn hex4(&self, at: usize) -> Result<u16, DiffError> {
        let digits = self
            .src
            .get(at..at + 4)
            .ok_or_else(|| self.err(at, "truncated \\u escape"))?;
        let mut v = 0u16;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err(at, "invalid hex digit in a \\u escape")),
            };
            v = (v << 4) | u16::from(n);
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<(), DiffError> {
        let start = self.pos;
        let s = self.src;
        let mut p = self.pos;
        if s.get(p) == Some(&b'-') {
            p += 1;
        }
        let int_start = p;
        match s.get(p) {
            Some(b'0') => p += 1,
            Some(b'1'..=b'9') => {
                while matches!(s.get(p), Some(b'0'..=b'9')) {
                    p += 1;
                }
            }
            _ => return Err(self.err(p, "invalid number: expected a digit")),
        }
        let int_digits = p - int_start;
        let mut is_int = true;
        if s.get(p) == Some(&b'.') {
            is_int = false;
            p += 1;
            if !matches!(s.get(p), Some(b'0'..=b'9')) {
                return Err(self.err(p, "invalid number: expected a digit after '.'"));
            }
            while matches!(s.get(p), Some(b'0'..=b'9')) {
                p += 1;
            }
        }
        if matches!(s.get(p), Some(b'e' | b'E')) {
            is_int = false;
            p += 1;
            if matches!(s.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if !matches!(s.get(p), Some(b'0'..=b'9')) {
                return Err(self.err(p, "invalid number: expected a digit in the exponent"));
            }
            while matches!(s.get(p), Some(b'0'..=b'9')) {
                p += 1;
            }
        }
        if matches!(s.get(p), Some(b'0'..=b'9')) {
            return Err(self.err(start, "invalid number: leading zero"));
        }
        self.pos = p;
        let flags = if is_int && int_digits <= 15 {
            F_SMALL_INT
        } else {
            // Reject numbers that are not finite doubles now, so that a document is valid or
            // not regardless of which of its parts a writer later emits.
            let lit = &self.text[start..p];
            match lit.parse::<f64>() {
                Ok(f) if f.is_finite() => {}
                _ => {
                    let (line, column) = line_col(self.text, start);
                    return Err(DiffError::NumberOutOfRange {
                        literal: excerpt(lit),
                        line,
                        column,
                    });
                }
            }
            0
        };
        self.push(Kind::Num, flags, start, p);
        Ok(())
    }
}

#[inline]
fn load_bytes(chunk: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(chunk);
    a
}

#[inline]
fn load_u64(chunk: &[u8]) -> u64 {
    u64::from_ne_bytes(load_bytes(chunk))
}

/// SWAR: the high bit of each byte lane of `x` that is a quote, a backslash, a control byte
/// or >= 0x80 is set in the result (lanes above the first flagged one may be set spuriously).
#[inline]
fn string_stop_mask(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let quote = has_zero(x ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(x ^ (ONES * u64::from(b'\\')));
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    quote | backslash | control | (x & HIGH)
}

fn duplicate(text: &str, key_item: &Item, key: &str) -> DiffError {
    // Point at the opening quote of the second occurrence.
    let (line, column) = line_col(text, (key_item.a as usize).saturating_sub(1));
    DiffError::DuplicateKey {
        key: excerpt(key),
        line,
        column,
    }
}

fn unexpected(text: &str, pos: usize, expected: &str) -> String {
    match text.get(pos..).and_then(|r| r.chars().next()) {
        None => format!("unexpected end of input, expected {expected}"),
        Some(c) => format!("unexpected {c:?}, expected {expected}"),
    }
}

/// Decodes the body of a string whose escapes the parser has already validated.
pub(crate) fn decode_validated(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&raw[run..i]);
        let c = b[i + 1];
        i += 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            _ => {
                let hi = hex4_unchecked(&b[i..i + 4]);
                i += 4;
                let cp = if (0xD800..=0xDBFF).contains(&hi) {
                    let lo = hex4_unchecked(&b[i + 2..i + 6]);
                    i += 6;
                    0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00)
                } else {
                    u32::from(hi)
                };
                out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
        }
        run = i;
    }
    out.push_str(&raw[run..]);
    out
}

pub(crate) fn hex4_unchecked(d: &[u8]) -> u16 {
    d.iter().fold(0u16, |v, &c| {
        let n = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c.wrapping_sub(b'A').wrapping_add(10),
        };
        (v << 4) | u16::from(n & 0xF)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Tape, DiffError> {
        let mut t = Tape::default();
        t.parse(s).map(|()| t)
    }

    #[test]
    fn rejects_malformed_json_with_position() {
        let cases = [
            ("", "unexpected end of input"),
            ("{", "unexpected end of input"),
            ("{\"a\" 1}", "expected ':'"),
            ("[1,]", "expected a value"),
            ("[1 2]", "expected ',' or ']'"),
            ("01", "leading zero"),
            ("1.", "after '.'"),
            ("1e", "exponent"),
            ("\"abc", "unterminated string"),
            ("\"a\u{1}\"", "control character"),
            ("\"\\x\"", "invalid escape"),
            ("\"\\u12G4\"", "invalid hex digit"),
            ("{} x", "after the end"),
            ("tru", "unexpected"),
            ("{1:2}", "string key"),
            ("\u{feff}{}", "byte order mark"),
        ];
        for (input, want) in cases {
            let e = parse(input).expect_err(input).to_string();
            assert!(e.contains(want), "{input:?}: {e}");
            assert!(e.contains("line 1"), "{input:?}: {e}");
        }
    }

    #[test]
    fn reports_line_and_column() {
        let e = parse("{\n  \"a\": 1,\n  \"b\": x\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3, column 8"), "{e}");
    }

    #[test]
    fn rejects_duplicates_lone_surrogates_depth_and_overflow() {
        let e = parse(r#"{"a":1,"b":2,"a":3}"#).unwrap_err();
        assert!(
            matches!(e, DiffError::DuplicateKey { ref key, .. } if key == "a"),
            "{e}"
        );
        // An escaped spelling of the same key is still a duplicate.
        let e = parse(r#"{"ab":1,"\u0061b":2}"#).unwrap_err();
        assert!(
            matches!(e, DiffError::DuplicateKey { ref key, .. } if key == "ab"),
            "{e}"
        );
        let e = parse(r#""\ud800x""#).unwrap_err();
        assert!(
            matches!(e, DiffError::LoneSurrogate { code: 0xD800, .. }),
            "{e}"
        );
        let e = parse(r#""\udc00""#).unwrap_err();
        assert!(
            matches!(e, DiffError::LoneSurrogate { code: 0xDC00, .. }),
            "{e}"
        );
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(&deep), Err(DiffError::TooDeep { .. })));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let e = parse("[1e400]").unwrap_err();
        assert!(matches!(e, DiffError::NumberOutOfRange { ref literal, .. } if literal == "1e400"));
    }

    #[test]
    fn sorts_members_in_utf16_order() {
        // U+E000 sorts after U+1F600 in UTF-16 (surrogates 0xD83D..) but before it by code point.
        let text = r#"{"b":1,"a":2,"\ue000":3,"😀":4,"A":5,"é":6}"#;
        let t = parse(text).unwrap();
        let keys: Vec<String> = t
            .members(0)
            .iter()
            .map(|&k| str_value(text, &t.items[k as usize]).into_owned())
            .collect();
        assert_eq!(keys, ["A", "a", "b", "é", "😀", "\u{e000}"]);
    }

    #[test]
    fn decodes_escapes() {
        let text = r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00""#;
        let t = parse(text).unwrap();
        assert_eq!(
            str_value(text, &t.items[0]),
            "a\"b\\c/d\u{8}\u{c}\n\r\t\u{e9}😀"
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncdé f", 7), (2, 4));
    }
}
