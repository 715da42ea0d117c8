//! `#[derive(Describe)]`: structs, string enums and tagged unions that event payloads use.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::attr::{self, Errors};
use crate::case;
use crate::fields::{checks, deprecation_expr, ir_fields};

/// `#[tidings(module = "...")]` on a type, and whether it registers in `tidings::describe`
/// (`register = false`: code generated from TOML, whose IR comes from the schema files).
pub(crate) fn module(input: &DeriveInput, errors: &mut Errors) -> (Option<String>, bool) {
    let mut module = None;
    let mut register = true;
    for a in input.attrs.iter().filter(|a| a.path().is_ident("tidings")) {
        let r = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("module") {
                module = Some(meta.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else if meta.path.is_ident("register") {
                register = meta.value()?.parse::<syn::LitBool>()?.value;
                Ok(())
            } else {
                Err(attr::unknown(&meta, "tidings", &["module", "register"]))
            }
        });
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if module.is_none() {
        errors.at(
            input.ident.span(),
            format!(
                "`{}` needs its module: add `#[tidings(module = \"...\")]`",
                input.ident
            ),
        );
    }
    (module, register)
}

pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let (module, register) = module(&input, &mut errors);
    let serde = attr::serde_container(&input.attrs, &mut errors);
    let ident = &input.ident;
    let name = ident.to_string();
    let doc_lines = attr::docs(&input.attrs);
    let doc = quote!(::tidings::describe::doc(&[#(#doc_lines),*]));
    let deprecated = deprecation_expr(&attr::deprecated(&input.attrs));
    if !input.generics.params.is_empty() {
        errors.at(
            input.generics.span(),
            "derived event types cannot be generic: the wire form of a type is one schema type",
        );
    }
    // The types whose definitions a value of this type needs (for `Describe::define`).
    let mut deps: Vec<syn::Type> = Vec::new();
    let (kind, check_body, struct_fields, trivial) = match &input.data {
        Data::Struct(s) => {
            let Fields::Named(named) = &s.fields else {
                errors.at(
                    s.fields.span(),
                    "describe structs with named fields: they are JSON objects",
                );
                return errors.finish().map(|()| TokenStream::new());
            };
            let fields: Vec<_> = named
                .named
                .iter()
                .filter_map(|f| attr::field(f, serde.rename_all.as_deref(), &mut errors))
                .collect();
            let ir = ir_fields(&fields);
            let checks = checks(&fields, &quote!(at));
            deps.extend(
                fields
                    .iter()
                    .filter(|f| !f.skip && f.wire_type.is_none())
                    .map(|f| f.ty.clone()),
            );
            (
                quote!(::tidings::schema::TypeKind::Struct { fields: #ir }),
                quote!(#checks ::std::result::Result::Ok(())),
                quote!(::std::option::Option::Some(#ir)),
                false,
            )
        }
        Data::Enum(e) => {
            if serde.untagged || serde.content {
                errors.at(ident.span(), "Tidings unions are internally tagged: use `#[serde(tag = \"...\")]` alone (no `content`, not `untagged`)");
            }
            let rename = |v: &syn::Variant| {
                let mut wire = serde.rename_all.as_deref().map_or_else(
                    || v.ident.to_string(),
                    |rule| case::variant(&v.ident.to_string(), rule),
                );
                for a in v.attrs.iter().filter(|a| a.path().is_ident("serde")) {
                    let _ = a.parse_nested_meta(|m| {
                        if m.path.is_ident("rename") {
                            wire = m.value()?.parse::<LitStr>()?.value();
                        } else if m.input.peek(syn::Token![=]) {
                            let _: syn::Expr = m.value()?.parse()?;
                        }
                        Ok(())
                    });
                }
                wire
            };
            // Open: a last variant `#[serde(untagged)] Unknown(String)` (an enum) or
            // `Unknown(serde_json::Value)` (a union) takes the values not declared.
            let is_catch_all = |v: &syn::Variant| {
                v.attrs
                    .iter()
                    .filter(|a| a.path().is_ident("serde"))
                    .any(|a| {
                        let mut untagged = false;
                        let _ = a.parse_nested_meta(|m| {
                            if m.path.is_ident("untagged") {
                                untagged = true;
                            } else if m.input.peek(syn::Token![=]) {
                                let _: syn::Expr = m.value()?.parse()?;
                            }
                            Ok(())
                        });
                        untagged
                    })
            };
            let mut open = false;
            let mut catch_all = None;
            for (i, v) in e.variants.iter().enumerate() {
                if !is_catch_all(v) {
                    continue;
                }
                let one_field = matches!(&v.fields, Fields::Unnamed(u) if u.unnamed.len() == 1);
                if i + 1 != e.variants.len() || !one_field {
                    errors.at(v.span(), format!(
                        "an open {} takes unknown values in its last variant, `#[serde(untagged)] {}(..)` with one field",
                        if serde.tag.is_some() { "union" } else { "enum" },
                        v.ident
                    ));
                }
                open = true;
                catch_all = Some(v.ident.clone());
            }
            let declared = e
                .variants
                .iter()
                .filter(|v| Some(&v.ident) != catch_all.as_ref());
            match &serde.tag {
                None => {
                    let mut values = Vec::new();
                    for v in declared {
                        if !matches!(v.fields, Fields::Unit) {
                            errors.at(v.span(), format!(
                                "variant `{}` carries data: an enum with data is a union in Tidings; add `#[serde(tag = \"type\")]` to `{}`",
                                v.ident, ident
                            ));
                            continue;
                        }
                        let wire = rename(v);
                        let docs = attr::docs(&v.attrs);
                        let dep = deprecation_expr(&attr::deprecated(&v.attrs));
                        values.push(quote!(::tidings::schema::EnumValue {
                            name: ::std::string::String::from(#wire),
                            doc: ::tidings::describe::doc(&[#(#docs),*]),
                            deprecated: #dep,
                        }));
                    }
                    (
                        quote!(::tidings::schema::TypeKind::Enum {
                            values: ::std::vec![#(#values),*],
                            open: #open,
                        }),
                        quote!(let _ = at; ::std::result::Result::Ok(())),
                        quote!(::std::option::Option::None),
                        true,
                    )
                }
                Some(tag) => {
                    let mut variants = Vec::new();
                    let mut arms = Vec::new();
                    if let Some(unknown) = &catch_all {
                        arms.push(quote!(Self::#unknown(..) => ::std::result::Result::Ok(()),));
                    }
                    for v in declared {
                        let wire = rename(v);
                        let vid = &v.ident;
                        let docs = attr::docs(&v.attrs);
                        let dep = deprecation_expr(&attr::deprecated(&v.attrs));
                        let payload = match &v.fields {
                            Fields::Unit => {
                                arms.push(quote!(Self::#vid => ::std::result::Result::Ok(()),));
                                quote!(::std::option::Option::None)
                            }
                            Fields::Unnamed(u) if u.unnamed.len() == 1 => {
                                let ty = &u.unnamed[0].ty;
                                deps.push(ty.clone());
                                arms.push(quote!(Self::#vid(inner) => ::tidings::validate::Check::check(inner, at),));
                                quote!(::std::option::Option::Some(<#ty as ::tidings::describe::Describe>::type_ref()))
                            }
                            _ => {
                                errors.at(v.span(), format!(
                                    "variant `{}`: a union variant holds one struct (`{}(SomeStruct)`) or nothing",
                                    v.ident, v.ident
                                ));
                                continue;
                            }
                        };
                        variants.push(quote!(::tidings::schema::Variant {
                            name: ::std::string::String::from(#wire),
                            doc: ::tidings::describe::doc(&[#(#docs),*]),
                            payload: #payload,
                            deprecated: #dep,
                        }));
                    }
                    (
                        quote!(::tidings::schema::TypeKind::Union {
                            tag: ::std::string::String::from(#tag),
                            variants: ::std::vec![#(#variants),*],
                            open: #open,
                        }),
                        quote!(match self { #(#arms)* }),
                        quote!(::std::option::Option::None),
                        false,
                    )
                }
            }
        }
        Data::Union(u) => {
            errors.at(
                u.union_token.span,
                "Rust unions have no JSON form; use an enum with `#[serde(tag = \"...\")]`",
            );
            return errors.finish().map(|()| TokenStream::new());
        }
    };
    errors.finish()?;
    let module = module.unwrap_or_default();
    let type_def = quote! {
        ::tidings::schema::TypeDef {
            name: ::std::string::String::from(#name),
            doc: #doc,
            kind: #kind,
            deprecated: #deprecated,
            renamed_from: ::std::option::Option::None,
            location: ::std::option::Option::None,
        }
    };
    let is_struct = matches!(input.data, Data::Struct(_));
    let struct_marker = if is_struct {
        quote!(#[allow(deprecated)] impl ::tidings::describe::Struct for #ident {})
    } else {
        quote!()
    };
    let impls = quote! {
            #struct_marker
            #[allow(deprecated)]
            impl ::tidings::describe::Describe for #ident {
                fn type_ref() -> ::tidings::schema::TypeRef {
                    ::tidings::schema::TypeRef::Named {
                        module: ::std::string::String::from(#module),
                        name: ::std::string::String::from(#name),
                    }
                }
                fn struct_fields() -> ::std::option::Option<::std::vec::Vec<::tidings::schema::Field>> {
                    #struct_fields
                }
                fn define(types: &mut ::tidings::validate::Types) {
                    if types.add(#module, #name, || #type_def) {
                        #(<#deps as ::tidings::describe::Describe>::define(types);)*
                    }
                }
            }

            #[allow(deprecated)]
            impl ::tidings::validate::Check for #ident {
                const TRIVIAL: bool = #trivial;
                fn check(&self, at: &str) -> ::std::result::Result<(), ::tidings::Violation> {
                    #check_body
                }
            }
    };
    if !register {
        // Known to `tidings::describe::schema` as declared in a schema file, so derived items
        // may use it; its IR comes from that file.
        return Ok(quote! {
            const _: () = {
                #impls

                ::tidings::describe::__private::inventory::submit! {
                    ::tidings::describe::Declared { module: #module, name: #name }
                }
            };
        });
    }
    Ok(quote! {
        const _: () = {
            #impls

            fn __describe() -> ::tidings::describe::Item {
                ::tidings::describe::Item::Type(#type_def)
            }

            ::tidings::describe::__private::inventory::submit! {
                ::tidings::describe::Registration {
                    module: #module,
                    file: ::std::file!(),
                    line: ::std::line!(),
                    describe: __describe,
                }
            }
        };
    })
}
