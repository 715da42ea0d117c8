//! Constraint checks compiled into `validate`: every field, nested types, list items.

use proc_macro2::TokenStream;
use quote::quote;
use tidings::schema::{Constraints, Field, Primitive, Schema, TypeKind, TypeRef};

use super::types::field_ident;

/// Statements checking `fields` of the value `base` (an expression of type `&Struct`), with the
/// runtime path prefix `at: &str` in scope.
pub(crate) fn field_checks(schema: &Schema, fields: &[Field], base: &TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for f in fields {
        let name = field_ident(&f.name);
        let wire = &f.name;
        let path = quote!(::tidings::validate::join(at, #wire));
        let body = check(schema, &f.ty, &quote!(value), &path, Some(&f.constraints));
        if !body.is_empty() {
            out.extend(quote!({ let value = &#base.#name; #body }));
        }
    }
    out
}

/// Whether values of `ty` can violate anything (otherwise no code is generated for them).
fn checkable(schema: &Schema, ty: &TypeRef, c: Option<&Constraints>) -> bool {
    if c.is_some_and(|c| !c.is_empty()) {
        return true;
    }
    match ty {
        TypeRef::Primitive(p) => matches!(p, Primitive::Uuid | Primitive::Timestamp),
        TypeRef::Optional(i) | TypeRef::List(i) | TypeRef::Map(i) => checkable(schema, i, None),
        TypeRef::Named { module, name } => match schema.type_def(module, name).map(|t| &t.kind) {
            Some(TypeKind::Enum { .. }) | None => false,
            Some(_) => true,
        },
    }
}

fn violation(path: &TokenStream, message: TokenStream) -> TokenStream {
    quote!(return ::std::result::Result::Err(::tidings::Violation::new(#path, #message));)
}

/// Statements checking one value. `value` is an expression of type `&T`.
fn check(
    schema: &Schema,
    ty: &TypeRef,
    value: &TokenStream,
    path: &TokenStream,
    c: Option<&Constraints>,
) -> TokenStream {
    if !checkable(schema, ty, c) {
        return quote!();
    }
    match ty {
        TypeRef::Optional(inner) => {
            let body = check(schema, inner, &quote!(v), path, c);
            quote!(if let ::std::option::Option::Some(v) = #value { #body })
        }
        TypeRef::Primitive(p) => primitive(*p, value, path, c),
        TypeRef::List(inner) => {
            let mut out = length(value, path, c, "items");
            if checkable(schema, inner, None) {
                let item_path = quote!(::std::format!("{}[{}]", #path, i));
                let body = check(schema, inner, &quote!(item), &item_path, None);
                out.extend(quote!(for (i, item) in #value.iter().enumerate() { #body }));
            }
            out
        }
        TypeRef::Map(inner) => {
            let mut out = length(value, path, c, "entries");
            if checkable(schema, inner, None) {
                let item_path = quote!(::std::format!("{}[{:?}]", #path, key));
                let body = check(schema, inner, &quote!(item), &item_path, None);
                out.extend(quote!(for (key, item) in #value.iter() { #body }));
            }
            out
        }
        TypeRef::Named { .. } => quote!(::tidings::validate::Check::check(#value, &#path)?;),
    }
}

fn length(
    value: &TokenStream,
    path: &TokenStream,
    c: Option<&Constraints>,
    unit: &str,
) -> TokenStream {
    let mut out = TokenStream::new();
    if let Some(min) = c.and_then(|c| c.min_length) {
        let min = min as usize;
        let err = violation(
            path,
            quote!(::std::format!("must have at least {} {}, got {}", #min, #unit, n)),
        );
        out.extend(quote!({ let n = #value.len(); if n < #min { #err } }));
    }
    if let Some(max) = c.and_then(|c| c.max_length) {
        let max = max as usize;
        let err = violation(
            path,
            quote!(::std::format!("must have at most {} {}, got {}", #max, #unit, n)),
        );
        out.extend(quote!({ let n = #value.len(); if n > #max { #err } }));
    }
    out
}

fn primitive(
    p: Primitive,
    value: &TokenStream,
    path: &TokenStream,
    c: Option<&Constraints>,
) -> TokenStream {
    let mut out = TokenStream::new();
    match p {
        Primitive::Uuid => {
            let err = violation(path, quote!(::std::string::String::from("must be a UUID")));
            out.extend(quote!(if !::tidings::validate::is_uuid(#value) { #err }));
        }
        Primitive::Timestamp => {
            let err = violation(
                path,
                quote!(::std::string::String::from("must be an RFC 3339 timestamp")),
            );
            out.extend(quote!(if !::tidings::validate::is_timestamp(#value) { #err }));
        }
        Primitive::String => {
            let (min, max) = (c.and_then(|c| c.min_length), c.and_then(|c| c.max_length));
            let min = min.filter(|m| *m > 0);
            let cond = match (min, max) {
                (Some(lo), Some(hi)) => {
                    let (lo, hi) = (lo as usize, hi as usize);
                    Some(quote!(!(#lo..=#hi).contains(&n)))
                }
                (Some(lo), None) => {
                    let lo = lo as usize;
                    Some(quote!(n < #lo))
                }
                (None, Some(hi)) => {
                    let hi = hi as usize;
                    Some(quote!(n > #hi))
                }
                (None, None) => None,
            };
            if let Some(cond) = cond {
                let c = c.cloned().unwrap_or_default();
                let message = match (c.min_length, c.max_length) {
                    (Some(lo), Some(hi)) => {
                        format!("must be {lo} to {hi} characters long, got {{}}")
                    }
                    (Some(lo), None) => format!("must be at least {lo} characters long, got {{}}"),
                    (None, Some(hi)) => format!("must be at most {hi} characters long, got {{}}"),
                    (None, None) => String::new(),
                };
                let err = violation(path, quote!(::std::format!(#message, n)));
                out.extend(quote!({ let n = #value.chars().count(); if #cond { #err } }));
            }
        }
        p if p.is_number() => {
            let Some(c) = c else { return out };
            let (lo, hi) = p
                .integer_range()
                .map_or((f64::NEG_INFINITY, f64::INFINITY), |(l, h)| {
                    (l as f64, h as f64)
                });
            if let Some(min) = c.min.filter(|m| *m > lo) {
                let lit = number_literal(p, min);
                let err = violation(
                    path,
                    quote!(::std::format!("must be at least {}, got {}", #lit, *#value)),
                );
                out.extend(quote!(if *#value < #lit { #err }));
            }
            if let Some(max) = c.max.filter(|m| *m < hi) {
                let lit = number_literal(p, max);
                let err = violation(
                    path,
                    quote!(::std::format!("must be at most {}, got {}", #lit, *#value)),
                );
                out.extend(quote!(if *#value > #lit { #err }));
            }
        }
        _ => {}
    }
    out
}

fn number_literal(p: Primitive, x: f64) -> TokenStream {
    use proc_macro2::Literal;
    let lit = match p {
        Primitive::I8 => Literal::i8_suffixed(x as i8),
        Primitive::I16 => Literal::i16_suffixed(x as i16),
        Primitive::I32 => Literal::i32_suffixed(x as i32),
        Primitive::I64 => Literal::i64_suffixed(x as i64),
        Primitive::U8 => Literal::u8_suffixed(x as u8),
        Primitive::U16 => Literal::u16_suffixed(x as u16),
        Primitive::U32 => Literal::u32_suffixed(x as u32),
        Primitive::U64 => Literal::u64_suffixed(x as u64),
        Primitive::F32 => Literal::f32_suffixed(x as f32),
        _ => Literal::f64_suffixed(x),
    };
    quote!(#lit)
}
