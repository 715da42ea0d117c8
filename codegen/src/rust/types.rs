//! Rust types for IR types: names, field declarations, defaults.

use std::fmt::Write as _;

use tidings::schema::{Field, Primitive, TypeRef, Value};

use super::text::{self, str_lit, Ty, INDENT};
use crate::names;

/// An identifier, raw when it is a keyword (`r#type`).
pub(crate) fn ident(name: &str) -> String {
    if names::is_rust_keyword(name) && !names::is_rust_unusable(name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

/// The Rust field (or method) name of a wire name, see [`names::rust_field_name`].
pub(crate) fn field_ident(wire: &str) -> String {
    ident(&field_name(wire))
}

/// [`names::rust_field_name`]; lowering refuses names without one, so the fallback is never
/// used for a checked schema.
fn field_name(wire: &str) -> String {
    names::rust_field_name(wire).unwrap_or_else(|| "field".to_owned())
}

/// The Rust variant name of an enum value or union variant.
pub(crate) fn variant_ident(wire: &str) -> String {
    names::to_pascal_case(wire)
}

/// The Rust type of `ty`, seen from module `current` (sibling modules via `super::`).
pub(crate) fn rust_type(ty: &TypeRef, current: &str) -> Ty {
    member_type(ty, current, false)
}

/// The Rust type of a field or variant of type `ty`; `boxed` puts the named type it holds by
/// value (through optionals) in a `Box` (see [`crate::recursion`]).
pub(crate) fn member_type(ty: &TypeRef, current: &str, boxed: bool) -> Ty {
    match ty {
        TypeRef::Primitive(p) => Ty::Path(primitive(*p).to_owned()),
        TypeRef::Optional(inner) => Ty::Generic(
            "::std::option::Option",
            vec![member_type(inner, current, boxed)],
        ),
        TypeRef::Named { .. } if boxed => {
            Ty::Generic("::std::boxed::Box", vec![rust_type(ty, current)])
        }
        TypeRef::List(inner) => Ty::Generic("::std::vec::Vec", vec![rust_type(inner, current)]),
        TypeRef::Map(inner) => Ty::Generic(
            "::std::collections::BTreeMap",
            vec![
                Ty::Path(primitive(Primitive::String).to_owned()),
                rust_type(inner, current),
            ],
        ),
        TypeRef::Named { module, name } => {
            if module == current {
                Ty::Path(name.clone())
            } else {
                Ty::Path(format!("super::{}::{name}", ident(module)))
            }
        }
    }
}

fn primitive(p: Primitive) -> &'static str {
    match p {
        Primitive::String | Primitive::Uuid | Primitive::Timestamp => "::std::string::String",
        Primitive::Bool => "bool",
        Primitive::I8 => "i8",
        Primitive::I16 => "i16",
        Primitive::I32 => "i32",
        Primitive::I64 => "i64",
        Primitive::U8 => "u8",
        Primitive::U16 => "u16",
        Primitive::U32 => "u32",
        Primitive::U64 => "u64",
        Primitive::F32 => "f32",
        Primitive::F64 => "f64",
        Primitive::Json => "::tidings::json::Value",
    }
}

/// Doc comments for a doc string, or a fallback.
pub(crate) fn docs(out: &mut String, indent: &str, doc: Option<&str>, fallback: &str) {
    text::doc(out, indent, doc.unwrap_or(fallback));
}

/// The schema's doc of a member, or — without one — nothing but `#[allow(missing_docs)]`: no
/// filler ("The `id` field.") for a crate that denies missing docs.
pub(crate) fn member_docs(out: &mut String, indent: &str, doc: Option<&str>) {
    match doc {
        Some(doc) => text::doc(out, indent, doc),
        None => {
            let _ = writeln!(out, "{indent}#[allow(missing_docs)]");
        }
    }
}

/// `text` as a sentence: a full stop added unless it ends in one (or `!`, `?`).
pub(crate) fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// `#[deprecated]` when deprecated.
pub(crate) fn deprecated(out: &mut String, indent: &str, d: Option<&tidings::schema::Deprecation>) {
    match d {
        None => {}
        Some(d) => match &d.note {
            Some(note) => text::attr(
                out,
                indent,
                "deprecated",
                &[format!("note = {}", str_lit(note))],
            ),
            None => {
                let _ = writeln!(out, "{indent}#[deprecated]");
            }
        },
    }
}

/// `#[serde(rename = "wire")]` on a member (a field, a value, a variant).
pub(crate) fn rename(out: &mut String, wire: &str) {
    text::attr(
        out,
        INDENT,
        "serde",
        &[format!("rename = {}", str_lit(wire))],
    );
}

/// The name of the function returning a field's default: `__default_<Owner>_<field>`, unique in
/// a module because the owner's name (a type or event type name, PascalCase) has no `_`.
pub(crate) fn default_fn(owner: &str, field: &str) -> String {
    format!("__default_{owner}_{}", field_name(field))
}

/// A struct field declaration with its serde attributes, at one level of indentation; `boxed`
/// as in [`member_type`].
pub(crate) fn field_decl(out: &mut String, f: &Field, owner: &str, current: &str, boxed: bool) {
    member_docs(out, INDENT, f.doc.as_deref());
    deprecated(out, INDENT, f.deprecated.as_ref());
    let wire = &f.name;
    if field_name(wire) != *wire {
        rename(out, wire);
    }
    match (&f.ty, &f.default) {
        // Absent reads as the default. An optional field with a default writes `None` as
        // `null` (not absent, which would read back as the default).
        (_, Some(_)) => {
            let path = str_lit(&default_fn(owner, &f.name));
            text::attr(out, INDENT, "serde", &[format!("default = {path}")]);
        }
        (TypeRef::Optional(_), None) => text::attr(
            out,
            INDENT,
            "serde",
            &[
                "default".to_owned(),
                "skip_serializing_if = \"::std::option::Option::is_none\"".to_owned(),
            ],
        ),
        _ => {}
    }
    constraint_attr(out, f);
    let start = out.len();
    let _ = write!(out, "{INDENT}pub {}: ", field_ident(&f.name));
    let column = out.len() - start;
    member_type(&f.ty, current, boxed).write(out, INDENT, column, 1);
    out.push_str(",\n");
}

/// `#[tidings(...)]` stating a field's format (`uuid`, `timestamp`, wherever it sits inside
/// optionals, lists and maps) and constraints, for the derive that implements the checks.
fn constraint_attr(out: &mut String, f: &Field) {
    let mut keys = Vec::new();
    match f.ty.innermost() {
        TypeRef::Primitive(Primitive::Uuid) => keys.push("uuid".to_owned()),
        TypeRef::Primitive(Primitive::Timestamp) => keys.push("timestamp".to_owned()),
        _ => {}
    }
    let c = &f.constraints;
    for (key, bound) in [("min", c.min), ("max", c.max)] {
        let Some(bound) = bound else { continue };
        let lit = match bound {
            tidings::schema::Number::Int(n) => {
                let sign = if n < 0 { "-" } else { "" };
                format!("{sign}{}", n.unsigned_abs())
            }
            tidings::schema::Number::Float(x) => {
                let sign = if x.is_sign_negative() { "-" } else { "" };
                format!("{sign}{}", float_unsuffixed(x.abs()))
            }
        };
        keys.push(format!("{key} = {lit}"));
    }
    for (key, n) in [("min_length", c.min_length), ("max_length", c.max_length)] {
        let Some(n) = n else { continue };
        keys.push(format!("{key} = {n}"));
    }
    if !keys.is_empty() {
        text::attr(out, INDENT, "tidings", &keys);
    }
}

/// A float literal without a suffix: its shortest decimal form, with `.0` when it has no point.
fn float_unsuffixed(x: f64) -> String {
    let mut s = x.to_string();
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

/// The function giving a field's default, when it has one.
pub(crate) fn default_fn_item(
    out: &mut String,
    f: &Field,
    owner: &str,
    current: &str,
    enums: &dyn Fn(&str, &str) -> bool,
) {
    let Some(value) = &f.default else {
        return;
    };
    out.push_str("#[allow(non_snake_case)]\n");
    let start = out.len();
    let _ = write!(out, "fn {}() -> ", default_fn(owner, &f.name));
    let column = out.len() - start;
    rust_type(&f.ty, current).write(out, "", column, 2);
    out.push_str(" {\n");
    out.push_str(INDENT);
    let expr = default_expr(value, &f.ty, current, enums);
    expr.write(out, INDENT, INDENT.len());
    out.push_str("\n}\n");
}

/// An expression of a default: text, or a list that breaks past the margin.
enum Expr {
    Text(String),
    /// `open` items `close`.
    List(String, Vec<Expr>, &'static str),
}

impl Expr {
    fn flat(&self) -> String {
        match self {
            Expr::Text(t) => t.clone(),
            Expr::List(open, items, close) => {
                let items: Vec<String> = items.iter().map(Expr::flat).collect();
                format!("{open}{}{close}", items.join(", "))
            }
        }
    }

    fn write(&self, out: &mut String, indent: &str, column: usize) {
        match self {
            Expr::List(open, items, close) if column + self.flat().len() > text::MARGIN => {
                out.push_str(open);
                out.push('\n');
                let inner = format!("{indent}{INDENT}");
                for item in items {
                    out.push_str(&inner);
                    item.write(out, &inner, inner.len());
                    out.push_str(",\n");
                }
                out.push_str(indent);
                out.push_str(close);
            }
            _ => out.push_str(&self.flat()),
        }
    }
}

fn default_expr(
    v: &Value,
    ty: &TypeRef,
    current: &str,
    enums: &dyn Fn(&str, &str) -> bool,
) -> Expr {
    match ty {
        TypeRef::Optional(inner) => {
            let e = default_expr(v, inner, current, enums);
            Expr::List("::std::option::Option::Some(".to_owned(), vec![e], ")")
        }
        TypeRef::List(inner) => {
            let items = match v {
                Value::List(items) => items
                    .iter()
                    .map(|i| default_expr(i, inner, current, enums))
                    .collect(),
                _ => Vec::new(),
            };
            Expr::List("::std::vec![".to_owned(), items, "]")
        }
        TypeRef::Map(inner) => {
            let entries = match v {
                Value::Map(m) => m
                    .iter()
                    .map(|(k, i)| {
                        let key =
                            Expr::Text(format!("::std::string::String::from({})", str_lit(k)));
                        let e = default_expr(i, inner, current, enums);
                        Expr::List("(".to_owned(), vec![key, e], ")")
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Expr::List(
                "::std::collections::BTreeMap::from([".to_owned(),
                entries,
                "])",
            )
        }
        TypeRef::Named { module, name } if enums(module, name) => {
            let ty = rust_type(ty, current).flat();
            let variant = match v {
                Value::String(s) => variant_ident(s),
                _ => "Unknown".to_owned(),
            };
            Expr::Text(format!("{ty}::{variant}"))
        }
        TypeRef::Primitive(Primitive::Json) | TypeRef::Named { .. } => {
            let json = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
            Expr::Text(format!(
                "::tidings::json::from_str({}).unwrap_or_default()",
                str_lit(&json)
            ))
        }
        TypeRef::Primitive(p) => Expr::Text(match v {
            Value::String(s) => format!("::std::string::String::from({})", str_lit(s)),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => literal_int(*n, *p),
            Value::Float(x) => literal_float(*x, *p),
            _ => "::std::default::Default::default()".to_owned(),
        }),
    }
}

fn literal_int(n: i64, p: Primitive) -> String {
    match p {
        Primitive::F32 | Primitive::F64 => literal_float(n as f64, p),
        _ => n.to_string(),
    }
}

/// A float literal with its type's suffix (`1f32`, `0.5f64`); lowering refuses NaN, the
/// infinities and `f32` values out of range.
fn literal_float(x: f64, p: Primitive) -> String {
    match p {
        Primitive::F32 => format!("{}f32", x as f32),
        _ => format!("{x}f64"),
    }
}
