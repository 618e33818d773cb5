//! Canonical JSON output (RFC 8785 style) from a parsed tape, compact or pretty.
//!
//! Compact output is the byte string that is hashed. Pretty output (two-space indent, `": "`
//! separator) uses exactly the same key order, string escaping and number forms, so that a
//! portable workflow file is canonical JSON with whitespace added.

use crate::json::{hex4_unchecked, raw, raw_bytes, Item, Kind, Tape, F_ESCAPED, F_SMALL_INT};

/// Writes canonical JSON for tape items into `out`.
pub(crate) struct Emitter<'t, 'o, const PRETTY: bool> {
    pub text: &'t str,
    pub tape: &'t Tape,
    pub out: &'o mut Vec<u8>,
    depth: usize,
    ryu: ryu_js::Buffer,
}

impl<'t, 'o, const PRETTY: bool> Emitter<'t, 'o, PRETTY> {
    pub fn new(text: &'t str, tape: &'t Tape, out: &'o mut Vec<u8>) -> Self {
        Self {
            text,
            tape,
            out,
            depth: 0,
            ryu: ryu_js::Buffer::new(),
        }
    }

    /// Writes item `i` and its descendants.
    pub fn value(&mut self, i: usize) {
        let it = self.tape.items[i];
        match it.kind {
            Kind::Null => self.out.extend_from_slice(b"null"),
            Kind::True => self.out.extend_from_slice(b"true"),
            Kind::False => self.out.extend_from_slice(b"false"),
            Kind::Num => self.number(&it),
            Kind::Str => self.string_item(&it),
            Kind::Arr => {
                self.begin(b'[');
                let mut first = true;
                for e in self.tape.elements(i) {
                    self.entry(&mut first);
                    self.value(e);
                }
                self.end(b']', !first);
            }
            Kind::Obj => {
                self.begin(b'{');
                let mut first = true;
                let tape = self.tape;
                for &k in tape.members(i) {
                    self.entry(&mut first);
                    self.key_item(k as usize);
                    self.value(k as usize + 1);
                }
                self.end(b'}', !first);
            }
        }
    }

    /// Writes string item `i` followed by the key separator.
    pub fn key_item(&mut self, i: usize) {
        let it = self.tape.items[i];
        self.string_item(&it);
        self.colon();
    }

    /// Writes a Rust string as a key followed by the key separator.
    pub fn key_str(&mut self, k: &str) {
        write_string(self.out, k);
        self.colon();
    }

    pub fn string_item(&mut self, it: &Item) {
        if it.flags & F_ESCAPED == 0 {
            // The parser guarantees an unescaped body has no quote, backslash or control byte,
            // which is exactly a body that needs no escaping.
            self.out.push(b'"');
            self.out.extend_from_slice(raw_bytes(self.text, it));
            self.out.push(b'"');
        } else {
            transcode_escaped(self.out, raw(self.text, it));
        }
    }

    fn number(&mut self, it: &Item) {
        let lit = raw(self.text, it);
        if it.flags & F_SMALL_INT != 0 {
            if lit == "-0" {
                self.out.push(b'0');
            } else {
                self.out.extend_from_slice(lit.as_bytes());
            }
        } else {
            // The parser checked that the literal is a finite double.
            let f: f64 = lit.parse().unwrap_or(0.0);
            write_f64(self.out, &mut self.ryu, f);
        }
    }

    fn colon(&mut self) {
        if PRETTY {
            self.out.extend_from_slice(b": ");
        } else {
            self.out.push(b':');
        }
    }

    pub fn begin(&mut self, open: u8) {
        self.out.push(open);
        self.depth += 1;
    }

    /// Starts an array element or object member: separator, then (pretty) newline and indent.
    pub fn entry(&mut self, first: &mut bool) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        if PRETTY {
            self.newline();
        }
    }

    /// Closes a container; `had_entries` decides whether pretty output breaks the line.
    pub fn end(&mut self, close: u8, had_entries: bool) {
        self.depth -= 1;
        if PRETTY && had_entries {
            self.newline();
        }
        self.out.push(close);
    }

    fn newline(&mut self) {
        self.out.push(b'\n');
        for _ in 0..self.depth {
            self.out.extend_from_slice(b"  ");
        }
    }
}

/// Rewrites the body of a string that the parser validated and that holds escapes straight into
/// its canonical form, without decoding it into a temporary string first.
fn transcode_escaped(out: &mut Vec<u8>, body: &str) {
    out.push(b'"');
    let b = body.as_bytes();
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[run..i]);
        let c = b[i + 1];
        i += 2;
        match c {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {
                out.push(b'\\');
                out.push(c);
            }
            b'/' => out.push(b'/'),
            _ => {
                let hi = u32::from(hex4_unchecked(&b[i..i + 4]));
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = u32::from(hex4_unchecked(&b[i + 2..i + 6]));
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                match char::from_u32(cp) {
                    Some(ch) if cp >= 0x20 && ch != '"' && ch != '\\' => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    // A control character, quote or backslash (all ASCII): its canonical escape.
                    Some(_) => push_escape(out, cp as u8),
                    // Unreachable: the parser rejects lone surrogates.
                    None => out.extend_from_slice("\u{fffd}".as_bytes()),
                }
            }
        }
        run = i;
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

/// The canonical escape of one ASCII byte that needs one (control, quote, backslash).
fn push_escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x0A => out.extend_from_slice(b"\\n"),
        0x0C => out.extend_from_slice(b"\\f"),
        0x0D => out.extend_from_slice(b"\\r"),
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xF) as usize]);
        }
    }
}

/// ECMAScript `Number.prototype.toString` form, which RFC 8785 prescribes. `-0` becomes `0`.
pub(crate) fn write_f64(out: &mut Vec<u8>, ryu: &mut ryu_js::Buffer, f: f64) {
    if f == 0.0 {
        out.push(b'0');
    } else {
        out.extend_from_slice(ryu.format_finite(f).as_bytes());
    }
}

/// A JSON string with the minimal escapes of RFC 8785: `"` and `\`, the two-letter forms for
/// backspace, tab, line feed, form feed and carriage return, `\u00xx` (lower-case hex) for the
/// other control characters, and every other character as itself.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        if c < 0x20 || c == b'"' || c == b'\\' {
            out.extend_from_slice(&b[run..i]);
            push_escape(out, c);
            run = i + 1;
        }
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        let mut t = Tape::default();
        t.parse(s).unwrap();
        let mut out = Vec::new();
        Emitter::<false>::new(s, &t, &mut out).value(0);
        String::from_utf8(out).unwrap()
    }

    fn pretty(s: &str) -> String {
        let mut t = Tape::default();
        t.parse(s).unwrap();
        let mut out = Vec::new();
        Emitter::<true>::new(s, &t, &mut out).value(0);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_take_their_ecmascript_form() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("0e10", "0"),
            ("1.0", "1"),
            ("1e2", "100"),
            ("100E-2", "1"),
            ("123456789012345", "123456789012345"),
            ("1234567890123456", "1234567890123456"),
            ("9007199254740993", "9007199254740992"),
            ("12345678901234567890", "12345678901234567000"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("0.1", "0.1"),
            ("-1.25", "-1.25"),
            ("4.35", "4.35"),
            ("1e-400", "0"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("5e-324", "5e-324"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn strings_use_minimal_escapes() {
        assert_eq!(
            canon(r#""\u0041\/\"\\\b\t\n\f\r\u0001\u001f\u007f\u2028é\ud83d\ude00""#),
            "\"A/\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}\u{2028}é😀\""
        );
        assert_eq!(canon("\"plain é\""), "\"plain é\"");
    }

    #[test]
    fn objects_sorted_whitespace_removed() {
        assert_eq!(
            canon(" { \"b\" : [ 1 , true , null ] , \"a\" : { } , \"c\": [] } "),
            r#"{"a":{},"b":[1,true,null],"c":[]}"#
        );
    }

    #[test]
    fn pretty_uses_two_spaces() {
        assert_eq!(
            pretty(r#"{"b":[1,{"x":false}],"a":{},"c":[]}"#),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"x\": false\n    }\n  ],\n  \"c\": []\n}"
        );
    }
}
