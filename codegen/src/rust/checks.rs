//! Constraint checks compiled into `validate`: every field, nested types, list items.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use tidings::schema::{Constraints, Field, Number, Primitive, Schema, TypeKind, TypeRef};

use super::types::field_ident;

/// Statements checking `fields` of the value `base` (an expression of type `&Struct`), with the
/// runtime path prefix `at: &str` in scope. Each check is one call of a `tidings::validate`
/// function given the value's [`Place`](tidings::validate::Place), which is rendered only when
/// the check fails.
pub(crate) fn field_checks(schema: &Schema, fields: &[Field], base: &TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for f in fields {
        let name = field_ident(&f.name);
        let wire = &f.name;
        let place = quote!(::tidings::validate::Place::Field(at, #wire));
        let direct = matches!(f.ty, TypeRef::Primitive(_) | TypeRef::Named { .. });
        if direct {
            // One check of the field itself: a single call, no bindings.
            out.extend(check(
                schema,
                &f.ty,
                &quote!(&#base.#name),
                &place,
                Some(&f.constraints),
                0,
            ));
            continue;
        }
        let body = check(
            schema,
            &f.ty,
            &quote!(value),
            &quote!(p),
            Some(&f.constraints),
            0,
        );
        if !body.is_empty() {
            out.extend(quote!({
                let value = &#base.#name;
                let p = #place;
                #body
            }));
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
        // Floats: finite (JSON has no NaN or infinity).
        TypeRef::Primitive(p) => matches!(
            p,
            Primitive::Uuid | Primitive::Timestamp | Primitive::F32 | Primitive::F64
        ),
        TypeRef::Optional(i) | TypeRef::List(i) | TypeRef::Map(i) => checkable(schema, i, None),
        TypeRef::Named { module, name } => match schema.type_def(module, name).map(|t| &t.kind) {
            Some(TypeKind::Enum { .. }) | None => false,
            Some(_) => true,
        },
    }
}

/// Statements checking one value. `value` is an expression of type `&T`, `place` one of type
/// `Place`; `depth` names the variables of nested loops apart.
fn check(
    schema: &Schema,
    ty: &TypeRef,
    value: &TokenStream,
    place: &TokenStream,
    c: Option<&Constraints>,
    depth: usize,
) -> TokenStream {
    if !checkable(schema, ty, c) {
        return quote!();
    }
    match ty {
        TypeRef::Optional(inner) => {
            let body = check(schema, inner, &quote!(v), place, c, depth);
            quote!(if let ::std::option::Option::Some(v) = #value { #body })
        }
        TypeRef::Primitive(p) => primitive(*p, value, place, c),
        TypeRef::List(inner) | TypeRef::Map(inner) => {
            let list = matches!(ty, TypeRef::List(_));
            let mut out = length(value, place, c, if list { "items" } else { "entries" });
            if checkable(schema, inner, None) {
                let (item, key, sub) = (
                    format_ident!("item{depth}"),
                    format_ident!("key{depth}"),
                    format_ident!("p{depth}"),
                );
                let body = check(
                    schema,
                    inner,
                    &quote!(#item),
                    &quote!(#sub),
                    None,
                    depth + 1,
                );
                out.extend(if list {
                    quote!(for (#key, #item) in #value.iter().enumerate() {
                        let #sub = ::tidings::validate::Place::Index(&#place, #key);
                        #body
                    })
                } else {
                    quote!(for (#key, #item) in #value.iter() {
                        let #sub = ::tidings::validate::Place::Key(&#place, #key);
                        #body
                    })
                });
            }
            out
        }
        TypeRef::Named { .. } => {
            quote!(::tidings::validate::Check::check(#value, &#place.to_string())?;)
        }
    }
}

fn length(
    value: &TokenStream,
    place: &TokenStream,
    c: Option<&Constraints>,
    unit: &str,
) -> TokenStream {
    let mut out = TokenStream::new();
    if let Some(min) = c.and_then(|c| c.min_length) {
        let min = min as usize;
        out.extend(quote!(::tidings::validate::len_at_least(#value.len(), #min, #unit, &#place)?;));
    }
    if let Some(max) = c.and_then(|c| c.max_length) {
        let max = max as usize;
        out.extend(quote!(::tidings::validate::len_at_most(#value.len(), #max, #unit, &#place)?;));
    }
    out
}

fn primitive(
    p: Primitive,
    value: &TokenStream,
    place: &TokenStream,
    c: Option<&Constraints>,
) -> TokenStream {
    match p {
        Primitive::Uuid => quote!(::tidings::validate::uuid(#value, &#place)?;),
        Primitive::Timestamp => quote!(::tidings::validate::timestamp(#value, &#place)?;),
        Primitive::String => {
            let (min, max) = (c.and_then(|c| c.min_length), c.and_then(|c| c.max_length));
            match (min, max) {
                (Some(lo), Some(hi)) => {
                    let (lo, hi) = (lo as usize, hi as usize);
                    quote!(::tidings::validate::chars_between(#value, #lo, #hi, &#place)?;)
                }
                (Some(lo), None) if lo > 0 => {
                    let lo = lo as usize;
                    quote!(::tidings::validate::chars_at_least(#value, #lo, &#place)?;)
                }
                (_, Some(hi)) => {
                    let hi = hi as usize;
                    quote!(::tidings::validate::chars_at_most(#value, #hi, &#place)?;)
                }
                _ => quote!(),
            }
        }
        Primitive::F32 | Primitive::F64 => {
            let mut out = quote!(::tidings::validate::finite(#value, &#place)?;);
            let Some(c) = c else { return out };
            // Bounds of f32 fields are checked on the number the f32 is on the wire.
            let v = if p == Primitive::F32 {
                quote!(&::tidings::validate::f32_on_wire(*#value))
            } else {
                quote!(#value)
            };
            if let Some(min) = c.min {
                let lit = float_literal(min, true);
                out.extend(quote!(::tidings::validate::at_least(#v, #lit, &#place)?;));
            }
            if let Some(max) = c.max {
                let lit = float_literal(max, false);
                out.extend(quote!(::tidings::validate::at_most(#v, #lit, &#place)?;));
            }
            out
        }
        p if p.is_integer() => {
            let Some(c) = c else { return quote!() };
            let (lo, hi) = p.integer_range().unwrap_or((0, 0));
            let mut out = TokenStream::new();
            // A bound at the end of the type's range checks nothing (and would warn).
            if let Some(min) = c.min.and_then(Number::as_int).filter(|m| *m > lo) {
                let lit = int_literal(p, min);
                out.extend(quote!(::tidings::validate::at_least(#value, #lit, &#place)?;));
            }
            if let Some(max) = c.max.and_then(Number::as_int).filter(|m| *m < hi) {
                let lit = int_literal(p, max);
                out.extend(quote!(::tidings::validate::at_most(#value, #lit, &#place)?;));
            }
            out
        }
        _ => quote!(),
    }
}

/// An integer bound as a literal of the field's type, exactly (`check` refused bounds outside
/// the type's range; one that still is out of range falls back to the type's own end).
fn int_literal(p: Primitive, n: i128) -> TokenStream {
    use proc_macro2::Literal;
    fn fit<T: TryFrom<i128> + Default>(n: i128) -> T {
        T::try_from(n).unwrap_or_default()
    }
    let lit = match p {
        Primitive::I8 => Literal::i8_suffixed(fit(n)),
        Primitive::I16 => Literal::i16_suffixed(fit(n)),
        Primitive::I32 => Literal::i32_suffixed(fit(n)),
        Primitive::I64 => Literal::i64_suffixed(fit(n)),
        Primitive::U8 => Literal::u8_suffixed(fit(n)),
        Primitive::U16 => Literal::u16_suffixed(fit(n)),
        Primitive::U32 => Literal::u32_suffixed(fit(n)),
        _ => Literal::u64_suffixed(fit(n)),
    };
    quote!(#lit)
}

/// A float bound as an `f64` literal: the nearest `f64` inside the bound, which makes the
/// comparison of an `f64` value exact.
fn float_literal(bound: Number, lower: bool) -> TokenStream {
    let lit = proc_macro2::Literal::f64_suffixed(crate::numbers::inward(bound, lower));
    quote!(#lit)
}
