//! The Rust backend: one file per module with payload types, `tidings::Event` impls (recipient
//! rules and constraint checks compiled in), typed emit functions and, for events clients send,
//! a handler trait whose router cannot be built without a handler for every such event.
//!
//! Backends return tokens; one function formats them with prettyplease.

mod types;

use std::collections::BTreeMap;
use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use tidings::schema::{
    EventDef, Field, FieldPath, Module, RoomPart, Rule, Schema, Scope, TypeDef, TypeKind, TypeRef,
};

use crate::names;
use crate::recursion::{Boxed, Graph};
use types::{
    default_fn_item, deprecated, docs, field_decl, field_ident, ident, member_type, rust_type,
    variant_ident,
};

/// Generates the Rust output: `<module>.rs` per module and `mod.rs` declaring them (for a source
/// tree; build scripts include them through [`include_file`] instead).
///
/// Modules are generated independently of each other, on as many threads as the machine has
/// cores (formatting dominates the cost); the output does not depend on the thread count.
pub fn generate(schema: &Schema) -> BTreeMap<PathBuf, String> {
    let boxed = &Graph::new(&schema.modules).boxed();
    let module_file = |m: &Module| {
        (
            PathBuf::from(format!("{}.rs", m.name)),
            format(module_tokens(schema, boxed, m), &m.name),
        )
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(schema.modules.len());
    let mut files = BTreeMap::new();
    if threads <= 1 {
        files.extend(schema.modules.iter().map(module_file));
    } else {
        // Contiguous chunks of similar size; tokens are not `Send`, so each thread formats what
        // it built and hands back strings.
        let chunk = schema.modules.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = schema
                .modules
                .chunks(chunk)
                .map(|ms| scope.spawn(move || ms.iter().map(module_file).collect::<Vec<_>>()))
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(done) => files.extend(done),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
    }
    let decls = schema.modules.iter().map(|m| {
        let name = ident(&m.name);
        let doc = module_doc(m);
        quote!(#doc pub mod #name;)
    });
    let contracts = contracts_tokens(schema);
    files.insert(
        PathBuf::from("mod.rs"),
        format(quote!(#(#decls)* #contracts), "the schema"),
    );
    files
}

/// The IR as the contracts of inbound decoding need it: names, fields and types, without docs,
/// locations or recipients.
fn contract_ir(schema: &Schema) -> String {
    let mut ir = schema.clone();
    for m in &mut ir.modules {
        m.description = None;
        m.location = None;
        let strip = |fields: &mut Vec<Field>| {
            for f in fields {
                f.doc = None;
                f.deprecated = None;
                f.location = None;
            }
        };
        for t in &mut m.types {
            t.doc = None;
            t.location = None;
            t.deprecated = None;
            t.renamed_from = None;
            match &mut t.kind {
                TypeKind::Struct { fields } => strip(fields),
                TypeKind::Enum { values } => values.iter_mut().for_each(|v| {
                    v.doc = None;
                    v.deprecated = None;
                }),
                TypeKind::Union { variants, .. } => variants.iter_mut().for_each(|v| {
                    v.doc = None;
                    v.deprecated = None;
                }),
            }
        }
        for e in &mut m.events {
            e.doc = None;
            e.location = None;
            e.deprecated = None;
            e.renamed_from = None;
            e.recipients = None;
            strip(&mut e.payload);
        }
    }
    serde_json::to_string(&ir).unwrap_or_default()
}

/// The contracts every generated event's `Event::contract` returns: the IR, parsed once.
fn contracts_tokens(schema: &Schema) -> TokenStream {
    let ir = contract_ir(schema);
    quote! {
        /// The contract of the event whose wire name is `name` (inbound payloads are checked
        /// against it before they are decoded).
        #[doc(hidden)]
        pub fn __contract(name: &str) -> ::std::option::Option<&'static ::tidings::validate::Contract> {
            static CONTRACTS: ::std::sync::OnceLock<::tidings::validate::Contracts> = ::std::sync::OnceLock::new();
            CONTRACTS
                .get_or_init(|| ::tidings::validate::Contracts::from_ir(#ir))
                .get(name)
        }
    }
}

/// The file a build script writes next to the modules: each module inline, its contents
/// included from `OUT_DIR/tidings/` (what `tidings::include_events!()` includes).
pub fn include_file(schema: &Schema) -> String {
    let decls = schema.modules.iter().map(|m| {
        let name = ident(&m.name);
        let doc = module_doc(m);
        let file = format!("/tidings/{}.rs", m.name);
        quote!(#doc pub mod #name { include!(concat!(env!("OUT_DIR"), #file)); })
    });
    let contracts = contracts_tokens(schema);
    format(quote!(#(#decls)* #contracts), "the schema")
}

fn module_doc(m: &Module) -> TokenStream {
    let mut text = format!("Module `{}`", m.name);
    if let Some(v) = &m.version {
        text.push_str(&format!(" (version {v})"));
    }
    text.push('.');
    if let Some(d) = &m.description {
        text.push_str("\n\n");
        text.push_str(d);
    }
    docs(Some(&text), "")
}

/// Formats tokens as a Rust file with the generated-code header.
fn format(tokens: TokenStream, what: &str) -> String {
    let body = match syn::parse2::<syn::File>(tokens) {
        Ok(file) => prettyplease::unparse(&file),
        // The backend builds every item with quote!; a parse failure is a bug in it. Keep the
        // output compilable-looking enough to show where.
        Err(e) => format!(
            "compile_error!({:?});\n",
            format!("tidings generated invalid Rust: {e}")
        ),
    };
    format!("// @generated by tidings from {what} — do not edit; regenerate with `tidings generate --rust`.\n\n{body}")
}

fn is_enum(schema: &Schema, module: &str, name: &str) -> bool {
    matches!(
        schema.type_def(module, name).map(|t| &t.kind),
        Some(TypeKind::Enum { .. })
    )
}

fn module_tokens(schema: &Schema, boxed: &Boxed, m: &Module) -> TokenStream {
    let mut out = TokenStream::new();
    for t in &m.types {
        out.extend(type_tokens(schema, boxed, m, t));
    }
    // Event payloads are never boxed: no type holds an event.
    let none = Boxed::default();
    for e in &m.events {
        out.extend(event_tokens(schema, &none, m, e));
    }
    out.extend(handlers_tokens(m));
    out
}

/// The derives of a generated item. `tidings` is `Describe` for types and `Event` for events:
/// the derive macro implements the checks (and, for events, the recipient rules), so code
/// generated from TOML and `#[derive(Event)]` written by hand share one implementation, as
/// prost-build leaves the `Message` impl to `#[derive(prost::Message)]`.
fn derives(copy_eq: bool, tidings: TokenStream) -> TokenStream {
    let extra = if copy_eq {
        quote!(Copy, Eq, Hash,)
    } else {
        quote!()
    };
    quote! {
        #[derive(Debug, Clone, #extra PartialEq, ::tidings::serde::Serialize, ::tidings::serde::Deserialize, #tidings)]
        #[serde(crate = "::tidings::serde")]
    }
}

/// `#[tidings(module = "...", register = false)]`: the IR of generated types comes from the
/// schema files, not from `tidings::describe`.
fn describe_attr(module: &str) -> TokenStream {
    quote!(#[tidings(module = #module, register = false)])
}

#[allow(clippy::too_many_arguments)]
fn struct_tokens(
    schema: &Schema,
    boxed: &Boxed,
    m: &Module,
    name: &str,
    doc: TokenStream,
    dep: TokenStream,
    fields: &[Field],
    attrs: TokenStream,
) -> TokenStream {
    let ident = format_ident!("{}", name);
    let decls = fields
        .iter()
        .map(|f| field_decl(f, name, &m.name, boxed.contains(&m.name, name, &f.name)));
    let enums = |module: &str, n: &str| is_enum(schema, module, n);
    let defaults = fields
        .iter()
        .map(|f| default_fn_item(f, name, &m.name, &enums));
    quote! {
        #doc
        #dep
        #attrs
        pub struct #ident {
            #(#decls)*
        }
        #(#defaults)*
    }
}

fn type_tokens(schema: &Schema, boxed: &Boxed, m: &Module, t: &TypeDef) -> TokenStream {
    let name = format_ident!("{}", t.name);
    let doc = docs(
        t.doc.as_deref(),
        &format!("The `{}` type of module `{}`.", t.name, m.name),
    );
    let dep = deprecated(t.deprecated.as_ref());
    match &t.kind {
        TypeKind::Struct { fields } => {
            let derives = derives(false, quote!(::tidings::Describe));
            let attrs = describe_attr(&m.name);
            struct_tokens(
                schema,
                boxed,
                m,
                &t.name,
                doc,
                dep,
                fields,
                quote!(#derives #attrs),
            )
        }
        TypeKind::Enum { values } => {
            let derives = derives(true, quote!(::tidings::Describe));
            let attrs = describe_attr(&m.name);
            let variants = values.iter().map(|v| {
                let ident = variant_ident(&v.name);
                let wire = &v.name;
                let doc = docs(v.doc.as_deref(), &format!("`{wire}`"));
                let dep = deprecated(v.deprecated.as_ref());
                quote!(#doc #dep #[serde(rename = #wire)] #ident,)
            });
            let arms = values.iter().map(|v| {
                let ident = variant_ident(&v.name);
                let wire = &v.name;
                quote!(#name::#ident => #wire,)
            });
            let all = values.iter().map(|v| {
                let ident = variant_ident(&v.name);
                quote!(#name::#ident)
            });
            let count = values.len();
            quote! {
                #doc
                #dep
                #derives
                #attrs
                pub enum #name {
                    #(#variants)*
                }
                impl #name {
                    /// Every value, in declaration order.
                    pub const ALL: [#name; #count] = [#(#all),*];

                    /// The value as on the wire.
                    pub fn as_str(self) -> &'static str {
                        match self {
                            #(#arms)*
                        }
                    }
                }
                impl ::std::fmt::Display for #name {
                    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(self.as_str())
                    }
                }
            }
        }
        TypeKind::Union { tag, variants } => {
            let derives = derives(false, quote!(::tidings::Describe));
            let attrs = describe_attr(&m.name);
            let decls = variants.iter().map(|v| {
                let ident = variant_ident(&v.name);
                let wire = &v.name;
                let doc = docs(v.doc.as_deref(), &format!("The `{wire}` variant."));
                let dep = deprecated(v.deprecated.as_ref());
                match &v.payload {
                    Some(p) => {
                        let ty = member_type(p, &m.name, boxed.contains(&m.name, &t.name, &v.name));
                        quote!(#doc #dep #[serde(rename = #wire)] #ident(#ty),)
                    }
                    None => quote!(#doc #dep #[serde(rename = #wire)] #ident,),
                }
            });
            quote! {
                #doc
                #dep
                #derives
                #attrs
                #[serde(tag = #tag)]
                pub enum #name {
                    #(#decls)*
                }
            }
        }
    }
}

/// The struct fields along a path, resolved through the schema.
fn path_fields<'a>(schema: &'a Schema, payload: &'a [Field], path: &FieldPath) -> Vec<&'a Field> {
    let mut out = Vec::new();
    let mut fields = payload;
    for seg in path.segments() {
        let Some(f) = fields.iter().find(|f| f.name == *seg) else {
            break;
        };
        out.push(f);
        if let TypeRef::Named { module, name } = f.ty.unwrap_optional() {
            if let Some(TypeDef {
                kind: TypeKind::Struct { fields: inner },
                ..
            }) = schema.type_def(module, name)
            {
                fields = inner;
            }
        }
    }
    out
}

/// A payload path as `#[event(...)]` writes it: Rust field names, `?` after each optional step
/// that the path goes on through (`ticket?.assignee_id`).
fn rust_path(schema: &Schema, payload: &[Field], path: &FieldPath) -> String {
    let steps = path_fields(schema, payload, path);
    let last = steps.len().saturating_sub(1);
    steps
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = field_ident(&f.name).to_string();
            if i < last && f.ty.is_optional() {
                format!("{name}?")
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `#[event(...)]`: the event's names, direction, delivery and reply, and its recipient rules
/// with payload paths in Rust field names.
fn event_attrs(schema: &Schema, m: &Module, e: &EventDef) -> TokenStream {
    let (module, key, wire) = (&m.name, &e.key, &e.name);
    let direction = e.direction.as_str();
    let mut parts = vec![
        quote!(module = #module),
        quote!(key = #key),
        quote!(name = #wire),
        quote!(direction = #direction),
    ];
    if e.direction.server_sends() {
        let delivery = e.delivery.as_str();
        parts.push(quote!(delivery = #delivery));
    }
    if let Some(r) = &e.reply {
        let ty = rust_type(r, &m.name);
        parts.push(quote!(reply = #ty));
    }
    parts.push(quote!(register = false));
    parts.push(quote!(contract = "super::__contract"));
    if let Some(r) = &e.recipients {
        let path = |p: &FieldPath| rust_path(schema, &e.payload, p);
        match &r.scope {
            Scope::Tenant { field } => {
                let p = path(field);
                parts.push(quote!(tenant = #p));
            }
            Scope::Platform => parts.push(quote!(platform)),
            Scope::Users => {}
        }
        for rule in &r.rules {
            parts.push(match rule {
                Rule::User { field } => {
                    let p = path(field);
                    quote!(user = #p)
                }
                Rule::Users { field } => {
                    let p = path(field);
                    quote!(users = #p)
                }
                Rule::Role { role } => quote!(role = #role),
                Rule::Room { template } => {
                    let text: String = template
                        .parts
                        .iter()
                        .map(|part| match part {
                            RoomPart::Literal(l) => l.clone(),
                            RoomPart::Field(p) => format!("{{{}}}", path(p)),
                        })
                        .collect();
                    quote!(room = #text)
                }
                Rule::Everyone => quote!(everyone),
            });
        }
        if let Some(except) = &r.except {
            let p = path(except);
            parts.push(quote!(except = #p));
        }
    }
    quote!(#[event(#(#parts),*)])
}

fn event_tokens(schema: &Schema, boxed: &Boxed, m: &Module, e: &EventDef) -> TokenStream {
    let type_name = names::event_type_name(&e.key);
    let ident = format_ident!("{}", type_name);
    let mut text = format!("`{}`", e.name);
    if let Some(d) = &e.doc {
        text.push_str(&format!(": {d}"));
    }
    text.push_str(&format!(
        "\n\nRecipients: {}.",
        crate::describe::recipients(e)
    ));
    let doc = docs(Some(&text), "");
    let dep = deprecated(e.deprecated.as_ref());
    let derives = derives(false, quote!(::tidings::Event));
    let attrs = event_attrs(schema, m, e);
    let item = struct_tokens(
        schema,
        boxed,
        m,
        &type_name,
        doc,
        dep,
        &e.payload,
        quote!(#derives #attrs),
    );
    let wire = &e.name;
    let emit = if e.direction.server_sends() {
        let emit_doc = format!(" Emits this `{wire}` to the recipients its rules select.");
        let to_doc = format!(" Emits this `{wire}` to explicit recipients.");
        quote! {
            impl #ident {
                #[doc = #emit_doc]
                ///
                /// # Errors
                /// When a constraint is violated (see [`tidings::EmitError`]).
                pub fn emit(&self, hub: &::tidings::Hub) -> ::std::result::Result<::tidings::Delivered, ::tidings::EmitError> {
                    hub.emit(self)
                }

                #[doc = #to_doc]
                ///
                /// # Errors
                /// As [`Self::emit`].
                pub fn emit_to(&self, hub: &::tidings::Hub, to: &::tidings::Recipients) -> ::std::result::Result<::tidings::Delivered, ::tidings::EmitError> {
                    hub.emit_to(self, to)
                }
            }
        }
    } else {
        quote!()
    };
    quote! {
        #item
        #emit
    }
}

fn handlers_tokens(m: &Module) -> TokenStream {
    let inbound: Vec<&EventDef> = m
        .events
        .iter()
        .filter(|e| e.direction.client_sends())
        .collect();
    if inbound.is_empty() {
        return quote!();
    }
    let methods = inbound.iter().map(|e| {
        let method = field_ident(&e.key);
        let ty = format_ident!("{}", names::event_type_name(&e.key));
        let reply = e.reply.as_ref().map_or_else(|| quote!(()), |r| rust_type(r, &m.name));
        let doc = format!(" Handles `{}`{}.", e.name, e.doc.as_deref().map(|d| format!(": {d}")).unwrap_or_default());
        quote! {
            #[doc = #doc]
            fn #method(&self, session: ::tidings::Session, event: #ty)
                -> impl ::std::future::Future<Output = ::std::result::Result<#reply, ::tidings::HandlerError>> + ::std::marker::Send;
        }
    });
    let routes = inbound.iter().map(|e| {
        let method = field_ident(&e.key);
        let ty = format_ident!("{}", names::event_type_name(&e.key));
        quote! {
            let h = handlers.clone();
            let router = router.on::<#ty, _, _>(move |session: ::tidings::Session, event: #ty| async move { h.#method(session, event).await });
        }
    });
    let trait_doc = format!(
        " Handlers of the events clients send in module `{}`. Implement every method; [`router`] routes each event to its method, so a forgotten event does not compile.",
        m.name
    );
    quote! {
        #[doc = #trait_doc]
        pub trait Handlers: ::std::marker::Send + ::std::marker::Sync + 'static {
            #(#methods)*
        }

        /// A router sending every event clients send in this module to `handlers`. Merge the
        /// routers of several modules with [`tidings::Router::merge`].
        pub fn router(handlers: impl Handlers) -> ::tidings::Router {
            let handlers = ::std::sync::Arc::new(handlers);
            let router = ::tidings::Router::new();
            #(#routes)*
            router
        }
    }
}
