//! The type expression syntax of schema files: `string`, `uuid?`, `[Ticket]`, `map<i64>`,
//! `common.UserRef`, nested freely (`map<[uuid]>?`).
//!
//! Parsing here is purely syntactic; names are resolved during lowering.

use std::ops::Range;

/// A parsed, unresolved type expression. Spans are byte offsets into the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeExpr {
    /// A primitive or a named type, optionally qualified by a module: `common.UserRef`.
    Name {
        module: Option<String>,
        name: String,
        span: Range<usize>,
    },
    /// `T?`
    Optional(Box<TypeExpr>, Range<usize>),
    /// `[T]`
    List(Box<TypeExpr>),
    /// `map<T>`
    Map(Box<TypeExpr>),
}

/// A syntax error in a type expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeExprError {
    pub(crate) span: Range<usize>,
    pub(crate) message: String,
    pub(crate) help: &'static str,
}

const HELP: &str =
    "a type is a name (`string`, `uuid`, `Ticket`, `common.UserRef`), `T?`, `[T]` or `map<T>`";

/// How deeply lists and maps may nest in one type expression (`[[[…]]]`). Every later stage
/// (lowering, each backend, the runtime's contract walk) recurses along a type, so the bound
/// here bounds them all; no real payload nests this deep.
pub(crate) const MAX_NESTING: usize = 32;

/// Parses a whole type expression.
pub(crate) fn parse(text: &str) -> Result<TypeExpr, TypeExprError> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let ty = p.ty()?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error(p.pos..text.len(), "unexpected text after the type"));
    }
    Ok(ty)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// Lists and maps open around the current position.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> TypeExprError {
        TypeExprError {
            span,
            message: message.into(),
            help: HELP,
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), TypeExprError> {
        if self.eat(c) {
            return Ok(());
        }
        let end = self.pos + self.peek().map_or(0, char::len_utf8);
        Err(self.error(self.pos..end, format!("expected `{c}` {what}")))
    }

    fn ty(&mut self) -> Result<TypeExpr, TypeExprError> {
        let start = {
            self.skip_ws();
            self.pos
        };
        let mut ty = self.base()?;
        if self.eat('?') {
            ty = TypeExpr::Optional(Box::new(ty), start..self.pos);
            if self.eat('?') {
                return Err(self.error(self.pos - 1..self.pos, "a type can be optional only once"));
            }
        }
        Ok(ty)
    }

    /// One more level of list or map, refused past [`MAX_NESTING`] (at the opening bracket).
    fn nest(&mut self, open: Range<usize>) -> Result<(), TypeExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(TypeExprError {
                span: open,
                message: format!("lists and maps nest deeper than {MAX_NESTING} levels here"),
                help: "no payload needs this; a recursive named type (`children = \"[Node]\"`) nests without bound",
            });
        }
        Ok(())
    }

    fn base(&mut self) -> Result<TypeExpr, TypeExprError> {
        self.skip_ws();
        if self.eat('[') {
            self.nest(self.pos - 1..self.pos)?;
            let inner = self.ty()?;
            self.expect(']', "to close the list type")?;
            self.depth -= 1;
            return Ok(TypeExpr::List(Box::new(inner)));
        }
        let start = self.pos;
        let first = self.ident()?;
        if first == "map" && self.eat('<') {
            self.nest(start..self.pos)?;
            let inner = self.ty()?;
            self.expect('>', "to close the map type")?;
            self.depth -= 1;
            return Ok(TypeExpr::Map(Box::new(inner)));
        }
        if self.peek() == Some('.') {
            self.pos += 1;
            let name = self.ident()?;
            return Ok(TypeExpr::Name {
                module: Some(first),
                name,
                span: start..self.pos,
            });
        }
        Ok(TypeExpr::Name {
            module: None,
            name: first,
            span: start..self.pos,
        })
    }

    fn ident(&mut self) -> Result<String, TypeExprError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        if self.pos == start {
            let end = start + self.peek().map_or(0, char::len_utf8);
            let message = match self.peek() {
                None => "expected a type name, found the end of the type".to_owned(),
                Some(c) => format!("expected a type name, found `{c}`"),
            };
            return Err(self.error(start..end, message));
        }
        Ok(self.text[start..self.pos].to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(t: &TypeExpr) -> String {
        match t {
            TypeExpr::Name {
                module: Some(m),
                name,
                ..
            } => format!("{m}.{name}"),
            TypeExpr::Name { name, .. } => name.clone(),
            TypeExpr::Optional(i, _) => format!("opt({})", show(i)),
            TypeExpr::List(i) => format!("list({})", show(i)),
            TypeExpr::Map(i) => format!("map({})", show(i)),
        }
    }

    #[test]
    fn parses_nested_types() {
        let cases = [
            ("string", "string"),
            ("uuid?", "opt(uuid)"),
            ("[ Ticket ]", "list(Ticket)"),
            ("map<[uuid]>?", "opt(map(list(uuid)))"),
            ("[common.UserRef?]", "list(opt(common.UserRef))"),
            ("map", "map"),
        ];
        for (input, want) in cases {
            assert_eq!(show(&parse(input).expect(input)), want, "{input}");
        }
    }

    #[test]
    fn reports_where_the_syntax_breaks() {
        let cases = [
            ("[uuid", 5..5, "expected `]` to close the list type"),
            ("uuid??", 5..6, "a type can be optional only once"),
            ("map<string", 10..10, "expected `>` to close the map type"),
            ("", 0..0, "expected a type name, found the end of the type"),
            ("list of uuid", 5..12, "unexpected text after the type"),
            (
                "common.",
                7..7,
                "expected a type name, found the end of the type",
            ),
        ];
        for (input, span, message) in cases {
            let err = parse(input).expect_err(input);
            assert_eq!((err.span, err.message.as_str()), (span, message), "{input}");
        }
    }
}
