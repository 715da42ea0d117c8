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
                {
                    fn flattened<T: ::tidings::describe::Struct>() {}
                    flattened::<#ty>();
                }
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
        // Bounds compare exactly with the number on the wire (`Bounded::number`).
        if f.min.is_some() || f.max.is_some() {
            let span = f
                .min
                .as_ref()
                .or(f.max.as_ref())
                .map_or(ident.span(), |b| b.span);
            let opt = |b: &Option<Bound>| match b {
                Some(b) => {
                    let v = number(b.value);
                    quote!(::std::option::Option::Some(#v))
                }
                None => quote!(::std::option::Option::None),
            };
            let (min, max) = (opt(&f.min), opt(&f.max));
            out.extend(quote_spanned!(span=> ::tidings::validate::within(&self.#ident, #min, #max, &::tidings::validate::Place::Field(#at, #wire))?;));
        }
        // Lengths and formats: the same checks, places and messages as generated code.
        let place = quote!(&::tidings::validate::Place::Field(#at, #wire));
        let len = |b: &Option<Bound>| match b {
            Some(Bound {
                value: Exact::Int(n),
                ..
            }) => {
                let n = usize::try_from(*n).unwrap_or(usize::MAX);
                quote!(::std::option::Option::Some(#n))
            }
            _ => quote!(::std::option::Option::None),
        };
        if f.min_length.is_some() || f.max_length.is_some() {
            let span = f
                .min_length
                .as_ref()
                .or(f.max_length.as_ref())
                .map_or(ident.span(), |b| b.span);
            let (min, max) = (len(&f.min_length), len(&f.max_length));
            out.extend(quote_spanned!(span=> ::tidings::validate::Length::check_length(&self.#ident, #min, #max, #place)?;));
        }
        if let Some(format) = f.format {
            let check = if format == "Uuid" {
                quote!(::tidings::validate::uuid)
            } else {
                quote!(::tidings::validate::timestamp)
            };
            out.extend(quote_spanned!(ident.span()=> ::tidings::validate::Texts::check_each(&self.#ident, #check, #place)?;));
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
