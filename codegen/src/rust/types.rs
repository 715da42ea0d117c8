//! Rust types for IR types: names, field declarations, defaults.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use tidings::schema::{Field, Primitive, TypeRef, Value};

use crate::names;

/// An identifier, raw when it is a keyword (`r#type`).
pub(crate) fn ident(name: &str) -> Ident {
    if names::is_rust_keyword(name) && !names::is_rust_unusable(name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// The Rust field (or method) name of a wire name, see [`names::rust_field_name`].
pub(crate) fn field_ident(wire: &str) -> Ident {
    ident(&field_name(wire))
}

/// [`names::rust_field_name`]; lowering refuses names without one, so the fallback is never
/// used for a checked schema.
fn field_name(wire: &str) -> String {
    names::rust_field_name(wire).unwrap_or_else(|| "field".to_owned())
}

/// The Rust variant name of an enum value or union variant.
pub(crate) fn variant_ident(wire: &str) -> Ident {
    format_ident!("{}", names::to_pascal_case(wire))
}

/// The Rust type of `ty`, seen from module `current` (sibling modules via `super::`).
pub(crate) fn rust_type(ty: &TypeRef, current: &str) -> TokenStream {
    member_type(ty, current, false)
}

/// The Rust type of a field or variant of type `ty`; `boxed` puts the named type it holds by
/// value (through optionals) in a `Box` (see [`crate::recursion`]).
pub(crate) fn member_type(ty: &TypeRef, current: &str, boxed: bool) -> TokenStream {
    match ty {
        TypeRef::Primitive(p) => primitive(*p),
        TypeRef::Optional(inner) => {
            let inner = member_type(inner, current, boxed);
            quote!(::std::option::Option<#inner>)
        }
        TypeRef::Named { .. } if boxed => {
            let inner = rust_type(ty, current);
            quote!(::std::boxed::Box<#inner>)
        }
        TypeRef::List(inner) => {
            let inner = rust_type(inner, current);
            quote!(::std::vec::Vec<#inner>)
        }
        TypeRef::Map(inner) => {
            let inner = rust_type(inner, current);
            quote!(::std::collections::BTreeMap<::std::string::String, #inner>)
        }
        TypeRef::Named { module, name } => {
            let name = format_ident!("{}", name);
            if module == current {
                quote!(#name)
            } else {
                let module = ident(module);
                quote!(super::#module::#name)
            }
        }
    }
}

fn primitive(p: Primitive) -> TokenStream {
    match p {
        Primitive::String | Primitive::Uuid | Primitive::Timestamp => quote!(::std::string::String),
        Primitive::Bool => quote!(bool),
        Primitive::I8 => quote!(i8),
        Primitive::I16 => quote!(i16),
        Primitive::I32 => quote!(i32),
        Primitive::I64 => quote!(i64),
        Primitive::U8 => quote!(u8),
        Primitive::U16 => quote!(u16),
        Primitive::U32 => quote!(u32),
        Primitive::U64 => quote!(u64),
        Primitive::F32 => quote!(f32),
        Primitive::F64 => quote!(f64),
        Primitive::Json => quote!(::tidings::json::Value),
    }
}

/// Doc attributes for a doc string, or a fallback.
pub(crate) fn docs(doc: Option<&str>, fallback: &str) -> TokenStream {
    let text = doc.unwrap_or(fallback);
    let lines = text.lines().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}

/// The schema's doc of a member, or — without one — nothing but `#[allow(missing_docs)]`: no
/// filler ("The `id` field.") for a crate that denies missing docs.
pub(crate) fn member_docs(doc: Option<&str>) -> TokenStream {
    match doc {
        Some(doc) => docs(Some(doc), ""),
        None => quote!(#[allow(missing_docs)]),
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
pub(crate) fn deprecated(d: Option<&tidings::schema::Deprecation>) -> TokenStream {
    match d {
        None => quote!(),
        Some(d) => match &d.note {
            Some(note) => quote!(#[deprecated(note = #note)]),
            None => quote!(#[deprecated]),
        },
    }
}

/// The name of the function returning a field's default: `__default_<Owner>_<field>`, unique in
/// a module because the owner's name (a type or event type name, PascalCase) has no `_`.
pub(crate) fn default_fn(owner: &str, field: &str) -> Ident {
    format_ident!("__default_{}_{}", owner, field_name(field))
}

/// A struct field declaration with its serde attributes; `boxed` as in [`member_type`].
pub(crate) fn field_decl(f: &Field, owner: &str, current: &str, boxed: bool) -> TokenStream {
    let name = field_ident(&f.name);
    let ty = member_type(&f.ty, current, boxed);
    let doc = member_docs(f.doc.as_deref());
    let dep = deprecated(f.deprecated.as_ref());
    let wire = &f.name;
    let rename = if field_name(wire) == *wire {
        quote!()
    } else {
        quote!(#[serde(rename = #wire)])
    };
    let serde_attr = match (&f.ty, &f.default) {
        // Absent reads as the default. An optional field with a default writes `None` as
        // `null` (not absent, which would read back as the default).
        (_, Some(_)) => {
            let path = default_fn(owner, &f.name).to_string();
            quote!(#[serde(default = #path)])
        }
        (TypeRef::Optional(_), None) => {
            quote!(#[serde(default, skip_serializing_if = "::std::option::Option::is_none")])
        }
        _ => quote!(),
    };
    let tidings_attr = constraint_attr(f);
    quote! {
        #doc
        #dep
        #rename
        #serde_attr
        #tidings_attr
        pub #name: #ty,
    }
}

/// `#[tidings(...)]` stating a field's format (`uuid`, `timestamp`, wherever it sits inside
/// optionals, lists and maps) and constraints, for the derive that implements the checks.
fn constraint_attr(f: &Field) -> TokenStream {
    let mut keys = Vec::new();
    match f.ty.innermost() {
        TypeRef::Primitive(Primitive::Uuid) => keys.push(quote!(uuid)),
        TypeRef::Primitive(Primitive::Timestamp) => keys.push(quote!(timestamp)),
        _ => {}
    }
    let c = &f.constraints;
    for (key, bound) in [("min", c.min), ("max", c.max)] {
        let Some(bound) = bound else { continue };
        let key = format_ident!("{}", key);
        let lit = match bound {
            tidings::schema::Number::Int(n) => {
                let lit = proc_macro2::Literal::u128_unsuffixed(n.unsigned_abs());
                if n < 0 {
                    quote!(-#lit)
                } else {
                    quote!(#lit)
                }
            }
            tidings::schema::Number::Float(x) => {
                let lit = proc_macro2::Literal::f64_unsuffixed(x.abs());
                if x.is_sign_negative() {
                    quote!(-#lit)
                } else {
                    quote!(#lit)
                }
            }
        };
        keys.push(quote!(#key = #lit));
    }
    for (key, n) in [("min_length", c.min_length), ("max_length", c.max_length)] {
        let Some(n) = n else { continue };
        let key = format_ident!("{}", key);
        let lit = proc_macro2::Literal::u64_unsuffixed(n);
        keys.push(quote!(#key = #lit));
    }
    if keys.is_empty() {
        quote!()
    } else {
        quote!(#[tidings(#(#keys),*)])
    }
}

/// The function giving a field's default, when it has one.
pub(crate) fn default_fn_item(
    f: &Field,
    owner: &str,
    current: &str,
    enums: &dyn Fn(&str, &str) -> bool,
) -> TokenStream {
    let Some(value) = &f.default else {
        return quote!();
    };
    let name = default_fn(owner, &f.name);
    let ty = rust_type(&f.ty, current);
    let expr = default_expr(value, &f.ty, current, enums);
    quote! {
        #[allow(non_snake_case)]
        fn #name() -> #ty {
            #expr
        }
    }
}

fn default_expr(
    v: &Value,
    ty: &TypeRef,
    current: &str,
    enums: &dyn Fn(&str, &str) -> bool,
) -> TokenStream {
    match ty {
        TypeRef::Optional(inner) => {
            let e = default_expr(v, inner, current, enums);
            quote!(::std::option::Option::Some(#e))
        }
        TypeRef::List(inner) => {
            let items: Vec<TokenStream> = match v {
                Value::List(items) => items
                    .iter()
                    .map(|i| default_expr(i, inner, current, enums))
                    .collect(),
                _ => Vec::new(),
            };
            quote!(::std::vec![#(#items),*])
        }
        TypeRef::Map(inner) => {
            let entries: Vec<TokenStream> = match v {
                Value::Map(m) => m
                    .iter()
                    .map(|(k, i)| {
                        let e = default_expr(i, inner, current, enums);
                        quote!((::std::string::String::from(#k), #e))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            quote!(::std::collections::BTreeMap::from([#(#entries),*]))
        }
        TypeRef::Named { module, name } if enums(module, name) => {
            let ty = rust_type(ty, current);
            let variant = match v {
                Value::String(s) => variant_ident(s),
                _ => format_ident!("Unknown"),
            };
            quote!(#ty::#variant)
        }
        TypeRef::Primitive(Primitive::Json) | TypeRef::Named { .. } => {
            let json = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
            quote!(::tidings::json::from_str(#json).unwrap_or_default())
        }
        TypeRef::Primitive(p) => match v {
            Value::String(s) => quote!(::std::string::String::from(#s)),
            Value::Bool(b) => quote!(#b),
            Value::Int(n) => literal_int(*n, *p),
            Value::Float(x) => literal_float(*x, *p),
            _ => quote!(::std::default::Default::default()),
        },
    }
}

fn literal_int(n: i64, p: Primitive) -> TokenStream {
    match p {
        Primitive::F32 | Primitive::F64 => literal_float(n as f64, p),
        _ => {
            let lit = proc_macro2::Literal::i128_unsuffixed(i128::from(n));
            quote!(#lit)
        }
    }
}

fn literal_float(x: f64, p: Primitive) -> TokenStream {
    let lit = match p {
        Primitive::F32 => proc_macro2::Literal::f32_suffixed(x as f32),
        _ => proc_macro2::Literal::f64_suffixed(x),
    };
    quote!(#lit)
}
