//! Writing Rust as text: literals, doc comments, attributes, types and lists, laid out as
//! prettyplease lays them out (one line when it fits in [`MARGIN`] columns, otherwise one element
//! per line, indented by four).
//!
//! Generated code is written straight into a `String`: building tokens, parsing them back and
//! printing the syntax tree cost three passes over the same text (and most of the time of
//! `tidings generate --rust` on large schemas).

use std::fmt::Write as _;

/// The column a line may reach before its list breaks (prettyplease's margin).
pub(crate) const MARGIN: usize = 89;

/// Four spaces per level.
pub(crate) const INDENT: &str = "    ";

/// A Rust string literal holding `s`, escaped as proc-macro2 escapes it (`escape_debug`,
/// except `'`, which needs no escape in a string, and NUL, written `\0` or `\x00` before a
/// digit so it is not read as an octal escape).
pub(crate) fn str_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\0' if chars.peek().is_some_and(char::is_ascii_digit) => out.push_str("\\x00"),
            '\0' => out.push_str("\\0"),
            '\'' => out.push('\''),
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('"');
    out
}

/// Doc comment lines for `text` at `indent`: `/// line` per line (trailing spaces trimmed), or
/// `#[doc = "…"]` for a line a doc comment cannot hold (a bare carriage return) or clippy refuses
/// in one (a tab, `tabs_in_doc_comments`).
pub(crate) fn doc(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let value = format!(" {line}");
        if value.contains(['\r', '\t']) {
            let _ = writeln!(out, "{indent}#[doc = {}]", str_lit(&value));
        } else {
            let _ = writeln!(out, "{indent}///{}", value.trim_end_matches(' '));
        }
    }
}

/// `#[name(args…)]` at `indent`: on one line when it fits, otherwise one argument per line.
pub(crate) fn attr(out: &mut String, indent: &str, name: &str, args: &[String]) {
    let flat = args.iter().map(String::len).sum::<usize>() + 2 * args.len().saturating_sub(1);
    if indent.len() + name.len() + flat + 5 <= MARGIN {
        let _ = writeln!(out, "{indent}#[{name}({})]", args.join(", "));
    } else {
        let _ = writeln!(out, "{indent}#[{name}(");
        for (i, a) in args.iter().enumerate() {
            let comma = if i + 1 < args.len() { "," } else { "" };
            let _ = writeln!(out, "{indent}{INDENT}{a}{comma}");
        }
        let _ = writeln!(out, "{indent})]");
    }
}

/// A Rust type: a path, or a path with generic arguments that may break over lines.
#[derive(Debug, Clone)]
pub(crate) enum Ty {
    /// A type without arguments (`u32`, `super::common::Severity`).
    Path(String),
    /// `head<args…>`.
    Generic(&'static str, Vec<Ty>),
}

impl Ty {
    /// The type on one line.
    pub(crate) fn flat(&self) -> String {
        let mut s = String::new();
        self.flat_into(&mut s);
        s
    }

    fn flat_into(&self, s: &mut String) {
        match self {
            Ty::Path(p) => s.push_str(p),
            Ty::Generic(head, args) => {
                s.push_str(head);
                s.push('<');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    a.flat_into(s);
                }
                s.push('>');
            }
        }
    }

    /// Writes the type starting at column `column` of a line indented by `indent`, followed on
    /// its last line by `tail` columns (`,`, ` {`): on one line when it fits, otherwise its
    /// arguments one per line, each broken in turn where it does not fit.
    pub(crate) fn write(&self, out: &mut String, indent: &str, column: usize, tail: usize) {
        let flat = self.flat();
        match self {
            Ty::Generic(head, args) if column + flat.len() + tail > MARGIN => {
                let _ = writeln!(out, "{head}<");
                let inner = format!("{indent}{INDENT}");
                for a in args {
                    out.push_str(&inner);
                    a.write(out, &inner, inner.len(), 1);
                    out.push_str(",\n");
                }
                out.push_str(indent);
                out.push('>');
            }
            _ => out.push_str(&flat),
        }
    }
}

/// `open` items `close` at `indent` (the line already holds `column` columns; `tail` follows the
/// close): on one line when it fits, otherwise one item per line with a trailing comma.
pub(crate) fn list(
    out: &mut String,
    indent: &str,
    column: usize,
    (open, close): (&str, &str),
    items: &[String],
    tail: usize,
) {
    let flat = items.iter().map(String::len).sum::<usize>() + 2 * items.len().saturating_sub(1);
    if items.is_empty() || column + open.len() + flat + close.len() + tail <= MARGIN {
        out.push_str(open);
        out.push_str(&items.join(", "));
        out.push_str(close);
    } else {
        out.push_str(open);
        out.push('\n');
        for item in items {
            let _ = writeln!(out, "{indent}{INDENT}{item},");
        }
        out.push_str(indent);
        out.push_str(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_parse_back_to_their_text() {
        for s in [
            "plain",
            "quote \" and backslash \\",
            "it's",
            "tab\tnew\nline\r",
            "nul\0 then \u{0}7 digit",
            "ünïcødé ✓ \u{200b} \u{7f}",
        ] {
            let lit = str_lit(s);
            let parsed: syn::LitStr = syn::parse_str(&lit).expect("a Rust string literal");
            assert_eq!(parsed.value(), s, "{lit}");
        }
        assert_eq!(str_lit("a\0 1"), "\"a\\0 1\"");
        assert_eq!(str_lit("a\u{0}1"), "\"a\\x001\"");
    }

    #[test]
    fn attributes_break_past_the_margin() {
        let mut out = String::new();
        attr(&mut out, "", "tidings", &["uuid".into()]);
        assert_eq!(out, "#[tidings(uuid)]\n");
        let long: Vec<String> = (0..10).map(|i| format!("key{i} = \"value\"")).collect();
        let mut out = String::new();
        attr(&mut out, "    ", "event", &long);
        assert!(
            out.starts_with("    #[event(\n        key0 = \"value\",\n"),
            "{out}"
        );
        assert!(out.ends_with("        key9 = \"value\"\n    )]\n"), "{out}");
    }

    #[test]
    fn types_break_their_arguments_past_the_margin() {
        let string = || Ty::Path("::std::string::String".into());
        let map = Ty::Generic("::std::collections::BTreeMap", vec![string(), string()]);
        let mut out = String::from("    pub attributes: ");
        let column = out.len();
        map.write(&mut out, "    ", column, 1);
        assert_eq!(
            out,
            "    pub attributes: ::std::collections::BTreeMap<\n        ::std::string::String,\n        ::std::string::String,\n    >"
        );
        let mut out = String::new();
        Ty::Generic("::std::vec::Vec", vec![string()]).write(&mut out, "", 10, 1);
        assert_eq!(out, "::std::vec::Vec<::std::string::String>");
    }
}
