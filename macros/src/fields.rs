//! Code for the fields of derived structs and events: their IR description and their checks.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::attr::{Bound, DefaultFrom, Exact, FieldInfo};

fn doc_expr(lines: &[String]) -> TokenStream {
    quote!(::tidings::describe::doc(&[#(#lines),*]))
}

pub(crate) fn deprecation_expr(d: &Option<Option<String>>) -> TokenStream {
    match d {
        None => quote!(::std::option::Option::None),
        Some(None) => quote!(::std::option::Option::Some(
            ::tidings::schema::Deprecation {
                note: ::std::option::Option::None
            }
        )),
        Some(Some(note)) => quote!(::std::option::Option::Some(::tidings::schema::Deprecation {
            note: ::std::option::Option::Some(::std::string::String::from(#note)),
        })),
    }
}

/// The bound as a `tidings::schema::Number` expression, exactly.
fn number(value: Exact) -> TokenStream {
    match value {
        Exact::Int(n) => {
            let lit = proc_macro2::Literal::i128_suffixed(n);
            quote!(::tidings::schema::Number::Int(#lit))
        }
        Exact::Float(x) => {
            let lit = proc_macro2::Literal::f64_suffixed(x);
            quote!(::tidings::schema::Number::Float(#lit))
        }
    }
}

fn bound(b: &Option<Bound>) -> TokenStream {
    match b {
        Some(b) => {
            let v = number(b.value);
            quote!(::std::option::Option::Some(#v))
        }
        None => quote!(::std::option::Option::None),
    }
}

fn length(b: &Option<Bound>) -> TokenStream {
    match b {
        Some(Bound {
            value: Exact::Int(n),
            ..
        }) => {
            let v = u64::try_from(*n).unwrap_or_default();
            quote!(::std::option::Option::Some(#v))
        }
        _ => quote!(::std::option::Option::None),
    }
}

/// An expression building the `Vec<tidings::schema::Field>` of these fields (flattened fields
/// expanded at run time from the flattened type's own description).
pub(crate) fn ir_fields(fields: &[FieldInfo]) -> TokenStream {
    let pushes = fields.iter().filter(|f| !f.skip).map(|f| {
        let ty = &f.ty;
        if f.flatten {
            return quote! {
                fields.extend(<#ty as ::tidings::describe::Describe>::struct_fields().unwrap_or_default());
            };
        }
        let wire = &f.wire;
        let doc = doc_expr(&f.docs);
        let mut type_ref = match &f.wire_type {
            // Checked when the attribute was read.
            Some(lit) => crate::attr::type_expr(&lit.value()).unwrap_or_default(),
            None => quote!(<#ty as ::tidings::describe::Describe>::type_ref()),
        };
        if let Some(format) = f.format {
            let p = syn::Ident::new(format, proc_macro2::Span::call_site());
            type_ref = quote!(::tidings::describe::with_format(#type_ref, ::tidings::schema::Primitive::#p));
        }
        let default = match &f.default {
            DefaultFrom::None => quote!(::std::option::Option::None),
            DefaultFrom::Trait => quote!(::tidings::describe::default_value(&<#ty as ::std::default::Default>::default())),
            DefaultFrom::Path(p) => quote!(::tidings::describe::default_value(&#p())),
        };
        let (min, max, min_length, max_length) = (bound(&f.min), bound(&f.max), length(&f.min_length), length(&f.max_length));
        let deprecated = deprecation_expr(&f.deprecated);
        quote! {
            fields.push(::tidings::schema::Field {
                name: ::std::string::String::from(#wire),
                doc: #doc,
                ty: #type_ref,
                constraints: ::tidings::schema::Constraints {
                    min: #min,
                    max: #max,
                    min_length: #min_length,
                    max_length: #max_length,
                },
                default: #default,
                deprecated: #deprecated,
                location: ::std::option::Option::None,
            });
        }
    });
    quote!({
        let mut fields: ::std::vec::Vec<::tidings::schema::Field> = ::std::vec::Vec::new();
        #(#pushes)*
        fields
    })
}

/// Statements checking every field's constraints and nested types; `at` is the path prefix
/// (a `&str` expression).
pub(crate) fn checks(fields: &[FieldInfo], at: &TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for f in fields.iter().filter(|f| !f.skip) {
        let ident = &f.ident;
        let wire = &f.wire;
        let path = if f.flatten {
            quote!(#at)
        } else {
            quote!(&::tidings::validate::join(#at, #wire))
        };
        let violation = |span, message: TokenStream| quote_spanned!(span=> return ::std::result::Result::Err(::tidings::Violation::new(::tidings::validate::join(#at, #wire), #message)););
        // Bounds compare exactly with the number on the wire (`Bounded::number`).
        for (b, below, words) in [(&f.min, true, "at least"), (&f.max, false, "at most")] {
            let Some(b) = b else { continue };
            let v = number(b.value);
            let shown = b.value.to_string();
            let err = violation(
                b.span,
                quote!(::std::format!("must be {} {}, got {}", #words, #shown, n)),
            );
            let outside = if below {
                quote!(::std::cmp::Ordering::Less)
            } else {
                quote!(::std::cmp::Ordering::Greater)
            };
            out.extend(quote_spanned!(b.span=> if let ::std::option::Option::Some(n) = ::tidings::validate::Bounded::number(&self.#ident) { if n.cmp_exact(#v) == ::std::option::Option::Some(#outside) { #err } }));
        }
        for (b, below, words) in [
            (&f.min_length, true, "at least"),
            (&f.max_length, false, "at most"),
        ] {
            let Some(Bound {
                value: Exact::Int(v),
                span,
            }) = b
            else {
                continue;
            };
            let v = usize::try_from(*v).unwrap_or(usize::MAX);
            let err = violation(
                *span,
                quote!(::std::format!("must have a length of {} {}, got {}", #words, #v, n)),
            );
            let outside = if below {
                quote!(n < #v)
            } else {
                quote!(n > #v)
            };
            out.extend(quote_spanned!(*span=> if let ::std::option::Option::Some(n) = ::tidings::validate::Length::length(&self.#ident) { if #outside { #err } }));
        }
        if let Some(format) = f.format {
            let (check, what) = if format == "Uuid" {
                (quote!(::tidings::validate::is_uuid), "must be a UUID")
            } else {
                (
                    quote!(::tidings::validate::is_timestamp),
                    "must be an RFC 3339 timestamp",
                )
            };
            let err = violation(ident.span(), quote!(::std::string::String::from(#what)));
            out.extend(quote_spanned!(ident.span()=> if !::tidings::validate::Texts::all_texts(&self.#ident, &mut |s| #check(s)) { #err }));
        }
        let ty = &f.ty;
        out.extend(quote! {
            if !<#ty as ::tidings::validate::Check>::TRIVIAL {
                ::tidings::validate::Check::check(&self.#ident, #path)?;
            }
        });
    }
    out
}
