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
    EventDef, Field, FieldPath, Module, RoomPart, Rule, Schema, Scope, TypeDef, TypeKind,
};

use crate::names;
use crate::recursion::{Boxed, Graph};
use types::{
    default_fn_item, deprecated, docs, field_decl, field_ident, ident, member_docs, member_type,
    rust_type, variant_ident,
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
    files.insert(
        PathBuf::from("mod.rs"),
        format(quote!(#(#decls)*), "the schema"),
    );
    files
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
    format(quote!(#(#decls)*), "the schema")
}

/// The file printed by prettyplease, except `tidings::handlers!` invocations ([`handlers_text`]).
fn unparse(file: syn::File) -> String {
    let is_handlers = |item: &syn::Item| matches!(item, syn::Item::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "handlers"));
    if !file.items.iter().any(is_handlers) {
        return prettyplease::unparse(&file);
    }
    let mut out = String::new();
    let mut run = syn::File {
        shebang: file.shebang,
        attrs: file.attrs,
        items: Vec::new(),
    };
    for item in file.items {
        if let (true, syn::Item::Macro(m)) = (is_handlers(&item), &item) {
            if let Some(text) = handlers_text(&m.mac) {
                if !run.items.is_empty() || !run.attrs.is_empty() {
                    out.push_str(&prettyplease::unparse(&run));
                    run.items.clear();
                    run.attrs.clear();
                }
                out.push_str(&text);
                continue;
            }
        }
        run.items.push(item);
    }
    if !run.items.is_empty() {
        out.push_str(&prettyplease::unparse(&run));
    }
    out
}

/// `tidings::handlers! { … }` as a person writes it: doc comments as `///`, one method per
/// line. `None` when the tokens are not the form [`handlers_tokens`] writes.
fn handlers_text(mac: &syn::Macro) -> Option<String> {
    struct Method {
        attrs: Vec<syn::Attribute>,
        name: syn::Ident,
        event: syn::Type,
    }
    struct Invocation {
        attrs: Vec<syn::Attribute>,
        vis: syn::Visibility,
        name: syn::Ident,
        router: syn::Ident,
        methods: Vec<Method>,
    }
    impl syn::parse::Parse for Invocation {
        fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
            let attrs = input.call(syn::Attribute::parse_outer)?;
            let vis = input.parse()?;
            input.parse::<syn::Token![trait]>()?;
            let name = input.parse()?;
            input.parse::<syn::Token![,]>()?;
            input.parse::<syn::Token![fn]>()?;
            let router = input.parse()?;
            let body;
            syn::braced!(body in input);
            let mut methods = Vec::new();
            while !body.is_empty() {
                let attrs = body.call(syn::Attribute::parse_outer)?;
                let name = body.parse()?;
                body.parse::<syn::Token![=>]>()?;
                let event = body.parse()?;
                if !body.is_empty() {
                    body.parse::<syn::Token![,]>()?;
                }
                methods.push(Method { attrs, name, event });
            }
            Ok(Invocation {
                attrs,
                vis,
                name,
                router,
                methods,
            })
        }
    }
    fn docs(attrs: &[syn::Attribute], indent: &str, out: &mut String) -> Option<()> {
        for attr in attrs {
            let syn::Meta::NameValue(nv) = &attr.meta else {
                return None;
            };
            let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) = &nv.value
            else {
                return None;
            };
            if !nv.path.is_ident("doc") {
                return None;
            }
            for line in text.value().lines() {
                out.push_str(&format!("{indent}///{}\n", line.trim_end()));
            }
        }
        Some(())
    }
    let call: Invocation = mac.parse_body().ok()?;
    let path = mac
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    let leading = if mac.path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    let mut out = format!("{leading}{path}! {{\n");
    docs(&call.attrs, "    ", &mut out)?;
    let vis = match &call.vis {
        syn::Visibility::Public(_) => "pub ".to_owned(),
        syn::Visibility::Inherited => String::new(),
        syn::Visibility::Restricted(r) => format!("{} ", quote!(#r).to_string().replace(' ', "")),
    };
    out.push_str(&format!(
        "    {vis}trait {}, fn {} {{\n",
        call.name, call.router
    ));
    for m in &call.methods {
        docs(&m.attrs, "        ", &mut out)?;
        out.push_str(&format!("        {} => {},\n", m.name, type_text(&m.event)));
    }
    out.push_str("    }\n}\n");
    Some(out)
}

/// A type as prettyplease prints it (`Vec<u8>`, not `Vec < u8 >`).
fn type_text(ty: &syn::Type) -> String {
    let file: syn::File = syn::parse_quote!(type T = #ty;);
    let text = prettyplease::unparse(&file);
    text.trim()
        .strip_prefix("type T = ")
        .and_then(|t| t.strip_suffix(';'))
        .unwrap_or(&text)
        .to_owned()
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
///
/// prettyplease prints macro invocations as it finds their tokens, on long lines with
/// `#[doc = "…"]`; the one macro generated code invokes, `tidings::handlers!`, is printed by
/// [`handlers_text`] as a person would write it.
fn format(tokens: TokenStream, what: &str) -> String {
    let body = match syn::parse2::<syn::File>(tokens) {
        Ok(file) => unparse(file),
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
    out.extend(rooms_tokens(schema, m));
    out
}

/// `pub mod rooms`: a builder and a reader per room form of the module ([`crate::rooms`]) —
/// `chat::rooms::chat(&id)` for `client.join`/`Session::join`, and `chat::rooms::read_chat(room)`
/// for a join policy.
fn rooms_tokens(schema: &Schema, m: &Module) -> TokenStream {
    let forms = crate::rooms::of_module(schema, m);
    if forms.is_empty() {
        return TokenStream::new();
    }
    let items = forms.iter().map(|f| {
        let name = types::ident(&f.name);
        let read = types::ident(&format!("read_{}", f.name));
        let template = &f.form;
        let source = &f.template.template;
        let params: Vec<_> = f.params.iter().map(|p| types::ident(p)).collect();
        let count = params.len();
        let n = proc_macro2::Literal::usize_unsuffixed(count);
        // One `format!` with the literal text inline: no local a parameter could shadow. A
        // parameter is captured by name, except a raw identifier, which format strings cannot
        // name (`{}` with the argument after).
        // A placeholder written twice is one parameter ([`crate::rooms::placeholder_params`]).
        let at = crate::rooms::placeholder_params(f.template);
        let mut fmt = String::new();
        let mut raw = Vec::new();
        let mut pairs = at.iter().filter_map(|&i| Some((f.params.get(i)?, params.get(i)?)));
        for p in &f.template.parts {
            match p {
                RoomPart::Literal(text) => {
                    fmt.push_str(&text.replace('{', "{{").replace('}', "}}"));
                }
                RoomPart::Field(_) => {
                    if let Some((name, id)) = pairs.next() {
                        if names::is_rust_keyword(name) {
                            fmt.push_str("{}");
                            raw.push(id);
                        } else {
                            fmt.push_str(&format!("{{{name}}}"));
                        }
                    }
                }
            }
        }
        let body = if params.is_empty() {
            let text: String = f
                .template
                .parts
                .iter()
                .filter_map(|p| match p {
                    RoomPart::Literal(text) => Some(text.as_str()),
                    RoomPart::Field(_) => None,
                })
                .collect();
            quote!(::std::string::String::from(#text))
        } else {
            quote!(::std::format!(#fmt #(, #raw)*))
        };
        let parts = f.template.parts.iter().map(|p| match p {
            RoomPart::Literal(text) => {
                quote!(::tidings::schema::RoomPart::Literal(::std::string::String::from(#text)))
            }
            RoomPart::Field(path) => {
                let segs = &path.0;
                quote!(::tidings::schema::RoomPart::Field(::tidings::schema::FieldPath(::std::vec![#(::std::string::String::from(#segs)),*])))
            }
        });
        let build_doc = format!(" The room `{template}`.");
        let read_doc = format!(
            " Reads a room name of the form `{template}` back: the values of its placeholders, in order; `None` for a name of another form."
        );
        // One value per placeholder, in order; a placeholder written twice must read the same
        // text both times.
        let values: Vec<_> = (0..count).map(|i| format_ident!("v{}", i)).collect();
        let mut bound = vec![false; count];
        let takes: Vec<TokenStream> = at
            .iter()
            .map(|&i| {
                let v = &values[i];
                if std::mem::replace(&mut bound[i], true) {
                    quote!(if it.next()? != #v { return ::std::option::Option::None; })
                } else {
                    quote!(let #v = it.next()?;)
                }
            })
            .collect();
        quote! {
            #[doc = #build_doc]
            pub fn #name(#(#params: impl ::std::fmt::Display),*) -> ::std::string::String {
                #body
            }

            #[doc = #read_doc]
            pub fn #read(room: &str) -> ::std::option::Option<[&str; #n]> {
                static TEMPLATE: ::std::sync::LazyLock<::tidings::schema::RoomTemplate> =
                    ::std::sync::LazyLock::new(|| ::tidings::schema::RoomTemplate {
                        template: ::std::string::String::from(#source),
                        parts: ::std::vec![#(#parts),*],
                    });
                #[allow(unused_mut, unused_variables)]
                let mut it = TEMPLATE.read(room)?.into_iter().map(|(_, value)| value);
                #(#takes)*
                ::std::option::Option::Some([#(#values),*])
            }
        }
    });
    let doc = format!(
        " Room names of module `{}`, as its events' recipient rules form them.",
        m.name
    );
    quote! {
        #[doc = #doc]
        pub mod rooms {
            #(#items)*
        }
    }
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
        TypeKind::Enum { values, open } => {
            // An open enum holds the values it does not know: not `Copy`.
            let derives = if *open {
                quote! {
                    #[derive(Debug, Clone, Eq, Hash, PartialEq, ::tidings::serde::Serialize, ::tidings::serde::Deserialize, ::tidings::Describe)]
                    #[serde(crate = "::tidings::serde")]
                }
            } else {
                derives(true, quote!(::tidings::Describe))
            };
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
            let unknown = format_ident!("{}", names::UNKNOWN_VARIANT);
            let (catch_all, as_str) = if *open {
                (
                    quote! {
                        /// A value this version does not declare (the enum is open): its
                        /// string as received.
                        #[serde(untagged)]
                        #unknown(::std::string::String),
                    },
                    quote! {
                        /// The value as on the wire.
                        pub fn as_str(&self) -> &str {
                            match self {
                                #(#arms)*
                                #name::#unknown(value) => value,
                            }
                        }

                        /// Whether this version declares the value.
                        pub fn is_known(&self) -> bool {
                            !matches!(self, #name::#unknown(_))
                        }
                    },
                )
            } else {
                (
                    quote!(),
                    quote! {
                        /// The value as on the wire.
                        pub fn as_str(self) -> &'static str {
                            match self {
                                #(#arms)*
                            }
                        }
                    },
                )
            };
            let all_doc = if *open {
                " Every declared value, in declaration order."
            } else {
                " Every value, in declaration order."
            };
            quote! {
                #doc
                #dep
                #derives
                #attrs
                pub enum #name {
                    #(#variants)*
                    #catch_all
                }
                impl #name {
                    #[doc = #all_doc]
                    pub const ALL: [#name; #count] = [#(#all),*];

                    #as_str
                }
                impl ::std::fmt::Display for #name {
                    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(self.as_str())
                    }
                }
            }
        }
        TypeKind::Union {
            tag,
            variants,
            open,
        } => {
            let derives = derives(false, quote!(::tidings::Describe));
            let attrs = describe_attr(&m.name);
            let decls = variants.iter().map(|v| {
                let ident = variant_ident(&v.name);
                let wire = &v.name;
                let doc = member_docs(v.doc.as_deref());
                let dep = deprecated(v.deprecated.as_ref());
                match &v.payload {
                    Some(p) => {
                        let ty = member_type(p, &m.name, boxed.contains(&m.name, &t.name, &v.name));
                        quote!(#doc #dep #[serde(rename = #wire)] #ident(#ty),)
                    }
                    None => quote!(#doc #dep #[serde(rename = #wire)] #ident,),
                }
            });
            let catch_all = if *open {
                let unknown = format_ident!("{}", names::UNKNOWN_VARIANT);
                quote! {
                    /// A variant this version does not declare (the union is open): the object
                    /// as received, its tag included.
                    #[serde(untagged)]
                    #unknown(::tidings::json::Value),
                }
            } else {
                quote!()
            };
            quote! {
                #doc
                #dep
                #derives
                #attrs
                #[serde(tag = #tag)]
                pub enum #name {
                    #(#decls)*
                    #catch_all
                }
            }
        }
    }
}

/// A payload path as `#[event(...)]` writes it: Rust field names, `?` after each optional step
/// that the path goes on through (`ticket?.assignee_id`).
fn rust_path(schema: &Schema, payload: &[Field], path: &FieldPath) -> String {
    let steps = schema.path_fields(payload, path);
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
    if let Some(kind) = e.presence {
        let kind = kind.as_str();
        parts.push(quote!(presence = #kind));
    }
    quote!(#[event(#(#parts),*)])
}

fn event_tokens(schema: &Schema, boxed: &Boxed, m: &Module, e: &EventDef) -> TokenStream {
    let type_name = names::event_type_name(&e.key);
    let mut text = format!("`{}`", e.name);
    if let Some(d) = &e.doc {
        text.push_str(&format!(": {d}"));
    }
    text.push_str(&format!(
        "\n\nRecipients: {}.",
        crate::summary::recipients(e)
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
    // `emit` / `emit_to` come with `#[derive(tidings::Event)]`, as for events derived in Rust.
    item
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
    // `tidings::handlers!`, as events derived in Rust use it: one implementation of the trait
    // and its router.
    let methods = inbound.iter().map(|e| {
        let method = field_ident(&e.key);
        let ty = format_ident!("{}", names::event_type_name(&e.key));
        let doc = format!(
            " Handles `{}`{}",
            e.name,
            e.doc
                .as_deref()
                .map_or_else(|| ".".to_owned(), |d| format!(": {}", types::sentence(d)))
        );
        quote! {
            #[doc = #doc]
            #method => #ty,
        }
    });
    let trait_doc = format!(
        " Handlers of the events clients send in module `{}`. Implement every method; [`router`] routes each event to its method, so a forgotten event does not compile.",
        m.name
    );
    quote! {
        ::tidings::handlers! {
            #[doc = #trait_doc]
            pub trait Handlers, fn router {
                #(#methods)*
            }
        }
    }
}
