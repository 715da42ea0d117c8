//! Places inside TOML string literals: a mistake in `"[\tstrng]"` or in a multi-line string is
//! reported at its own characters, escapes and a trimmed first newline included.

use std::ops::Range;

/// Where each byte of a string's value is in the source (TOML 1.0, "String").
#[derive(Debug)]
pub(crate) struct Literal {
    /// The source offset of each byte of the value, and one past its end.
    at: Vec<usize>,
}

impl Literal {
    /// The map of the literal whose source is `text`, starting at source offset `start` (a
    /// bare value, such as a key, maps one to one).
    pub(crate) fn new(text: &str, start: usize) -> Literal {
        let (quote, basic) = if text.starts_with("\"\"\"") {
            (3, true)
        } else if text.starts_with("'''") {
            (3, false)
        } else if text.starts_with('"') {
            (1, true)
        } else if text.starts_with('\'') {
            (1, false)
        } else {
            return Literal {
                at: (0..=text.len()).map(|i| start + i).collect(),
            };
        };
        let body = &text[quote..text.len().saturating_sub(quote).max(quote)];
        let mut i = 0;
        // A newline right after the opening quotes of a multi-line string is not part of it.
        if quote == 3 {
            if body.starts_with("\r\n") {
                i = 2;
            } else if body.starts_with('\n') {
                i = 1;
            }
        }
        let base = start + quote;
        let mut at = Vec::with_capacity(body.len() + 1);
        let bytes = body.as_bytes();
        while i < body.len() {
            if basic && bytes[i] == b'\\' {
                let escape_len = match bytes.get(i + 1) {
                    Some(b'u') => 6,
                    Some(b'U') => 10,
                    // A backslash ending a line of a multi-line string trims the whitespace
                    // after it, newlines included: nothing of the value.
                    Some(b' ' | b'\t' | b'\r' | b'\n') if quote == 3 => {
                        let mut j = i + 1;
                        while j < body.len() && matches!(bytes[j], b' ' | b'\t' | b'\r' | b'\n') {
                            j += 1;
                        }
                        i = j;
                        continue;
                    }
                    _ => 2,
                };
                let escape = body.get(i..(i + escape_len).min(body.len())).unwrap_or("");
                let width = decoded_width(escape);
                at.extend(std::iter::repeat_n(base + i, width));
                i += escape_len.min(body.len() - i);
                continue;
            }
            let width = body[i..].chars().next().map_or(1, char::len_utf8);
            at.extend((0..width).map(|k| base + i + k));
            i += width;
        }
        at.push(base + i);
        Literal { at }
    }

    /// The source offset of byte `offset` of the value (past the end: the end).
    pub(crate) fn at(&self, offset: usize) -> usize {
        self.at[offset.min(self.at.len() - 1)]
    }

    /// The source range of a range of the value.
    pub(crate) fn span(&self, r: Range<usize>) -> Range<usize> {
        let start = self.at(r.start);
        // The end of the last byte's character: one past where it starts in the source, so
        // that a range ending at an escape covers it.
        let end = if r.end > r.start {
            let last = self.at(r.end - 1);
            self.at(r.end).max(last + 1)
        } else {
            start
        };
        start..end
    }
}

/// How many bytes the escape `escape` (`\t`, `\u00e9`) stands for in the value.
fn decoded_width(escape: &str) -> usize {
    match escape.as_bytes().get(1) {
        Some(b'u' | b'U') => u32::from_str_radix(&escape[2..], 16)
            .ok()
            .and_then(char::from_u32)
            .map_or(1, char::len_utf8),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::Literal;

    #[test]
    fn escapes_and_a_trimmed_first_newline_keep_places_exact() {
        // `"[\tstrng]"` at offset 10: `s` is byte 2 of the value, at source 10 + 1 + 3.
        let l = Literal::new(r#""[\tstrng]""#, 10);
        assert_eq!(l.span(2..7), 14..19);
        // The escape itself is one byte of the value, two of the source.
        assert_eq!(l.span(1..2), 12..14);
        let l = Literal::new("\"\"\"\nstrng\"\"\"", 0);
        assert_eq!(l.span(0..5), 4..9);
        let l = Literal::new("'''\r\nab'''", 0);
        assert_eq!(l.at(0), 5);
        let l = Literal::new(r#""\u00e9x""#, 0);
        // `é` is two bytes of the value from a six-byte escape; `x` follows it.
        assert_eq!(l.at(2), 7);
        assert_eq!(l.span(0..2), 1..7);
        let l = Literal::new("'a\\tb'", 0);
        assert_eq!(l.at(2), 3, "a literal string has no escapes");
        let l = Literal::new("bare", 5);
        assert_eq!(l.span(1..3), 6..8);
    }
}
