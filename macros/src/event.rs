//! `#[derive(Event)]`: a struct becomes an event — its fields the payload, `#[event(...)]` its
//! wire name, direction, delivery, reply and recipient rules.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr, Type};

use crate::attr::{self, Errors, FieldInfo};
use crate::case;
use crate::fields::{checks, deprecation_expr, ir_fields};

const KEYS: [&str; 16] = [
    "module",
    "key",
    "name",
    "direction",
    "delivery",
    "reply",
    "tenant",
    "platform",
    "user",
    "users",
    "role",
    "room",
    "everyone",
    "except",
    "presence",
    "register",
];

#[derive(Default)]
struct EventAttrs {
    module: Option<LitStr>,
    key: Option<LitStr>,
    name: Option<LitStr>,
    direction: Option<LitStr>,
    delivery: Option<LitStr>,
    reply: Option<Type>,
    tenant: Option<LitStr>,
    platform: Option<Span>,
    user: Vec<LitStr>,
    users: Vec<LitStr>,
    role: Vec<LitStr>,
    room: Vec<LitStr>,
    everyone: Option<Span>,
    except: Option<LitStr>,
    presence: Option<LitStr>,
    register: Option<syn::LitBool>,
}

fn parse(input: &DeriveInput, errors: &mut Errors) -> EventAttrs {
    let mut a = EventAttrs::default();
    for attr in input.attrs.iter().filter(|x| x.path().is_ident("event")) {
        let r = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let lit = |meta: &syn::meta::ParseNestedMeta<'_>| -> syn::Result<LitStr> {
                meta.value()?.parse()
            };
            match key.as_str() {
                "module" => a.module = Some(lit(&meta)?),
                "key" => a.key = Some(lit(&meta)?),
                "name" => a.name = Some(lit(&meta)?),
                "direction" => a.direction = Some(lit(&meta)?),
                "delivery" => a.delivery = Some(lit(&meta)?),
                "reply" => a.reply = Some(meta.value()?.parse()?),
                "tenant" => a.tenant = Some(lit(&meta)?),
                "platform" => a.platform = Some(meta.path.span()),
                "user" => a.user.push(lit(&meta)?),
                "users" => a.users.push(lit(&meta)?),
                "role" => a.role.push(lit(&meta)?),
                "room" => a.room.push(lit(&meta)?),
                "everyone" => a.everyone = Some(meta.path.span()),
                "except" => a.except = Some(lit(&meta)?),
                "presence" => a.presence = Some(lit(&meta)?),
                "register" => a.register = Some(meta.value()?.parse()?),
                _ => return Err(attr::unknown(&meta, "event", &KEYS)),
            }
            Ok(())
        });
        if let Err(e) = r {
            errors.push(e);
        }
    }
    a
}

/// An identifier for a path segment: raw when it is a keyword (`type` → `r#type`).
fn segment_ident(text: &str, span: Span) -> syn::Ident {
    let text = text.strip_prefix("r#").unwrap_or(text);
    match syn::parse_str::<syn::Ident>(text) {
        Ok(mut id) => {
            id.set_span(span);
            id
        }
        Err(_) => syn::Ident::new_raw(text, span),
    }
}

/// The access to a payload path: its segments, each marked when it is an `Option` to step
/// into (`ticket?.assignee_id`: `ticket` is optional).
struct Access {
    segments: Vec<(syn::Ident, bool)>,
    span: Span,
}

impl Access {
    /// Code running `leaf` with a `&T` expression for the path's value, skipped when an
    /// optional step is `None`.
    fn wrap(&self, leaf: impl FnOnce(TokenStream) -> TokenStream) -> TokenStream {
        fn go(
            segs: &[(syn::Ident, bool)],
            base: TokenStream,
            depth: usize,
            span: Span,
            leaf: impl FnOnce(TokenStream) -> TokenStream,
        ) -> TokenStream {
            let Some(((id, optional), rest)) = segs.split_first() else {
                return leaf(quote_spanned!(span=> &#base));
            };
            let expr = quote_spanned!(span=> #base.#id);
            if *optional && !rest.is_empty() {
                let v = syn::Ident::new(&format!("__step{depth}"), span);
                let inner = go(rest, quote_spanned!(span=> #v), depth + 1, span, leaf);
                quote_spanned!(span=> if let ::std::option::Option::Some(#v) = &#expr { #inner })
            } else {
                go(rest, expr, depth, span, leaf)
            }
        }
        go(
            &self.segments,
            quote_spanned!(self.span=> self),
            0,
            self.span,
            leaf,
        )
    }

    /// The value as one expression (`self.message.chat_id`), for paths with no optional step.
    fn direct(&self) -> Option<TokenStream> {
        let n = self.segments.len();
        if self.segments[..n.saturating_sub(1)].iter().any(|(_, o)| *o) {
            return None;
        }
        let ids = self.segments.iter().map(|(id, _)| id);
        Some(quote_spanned!(self.span=> self.#(#ids).*))
    }
}

/// The access for a payload path (`ticket.created_by`; `?` after a segment steps into an
/// `Option`: `ticket?.assignee_id`), checking that the first segment is a field; the IR path, in
/// wire names for its first segment.
fn path(
    lit: &LitStr,
    fields: &[FieldInfo],
    owner: &syn::Ident,
    errors: &mut Errors,
) -> Option<(Access, String)> {
    let text = lit.value();
    let raw: Vec<(&str, bool)> = text
        .split('.')
        .map(|s| match s.strip_suffix('?') {
            Some(s) => (s, true),
            None => (s, false),
        })
        .collect();
    let first_name = raw[0].0.strip_prefix("r#").unwrap_or(raw[0].0);
    let plain = |f: &FieldInfo| {
        let name = f.ident.to_string();
        name.strip_prefix("r#").unwrap_or(&name) == first_name
    };
    let Some(first) = fields.iter().find(|f| plain(f) && !f.skip) else {
        let names: Vec<String> = fields
            .iter()
            .filter(|f| !f.skip)
            .map(|f| f.ident.to_string())
            .collect();
        let hint = match case::closest(first_name, names.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!(
                "the fields are {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        errors.at(
            lit.span(),
            format!("no field `{first_name}` in `{owner}`; {hint}"),
        );
        return None;
    };
    let segments = raw
        .iter()
        .map(|(s, optional)| (segment_ident(s, lit.span()), *optional))
        .collect();
    let mut wire = vec![first.wire.clone()];
    wire.extend(
        raw[1..]
            .iter()
            .map(|(s, _)| s.strip_prefix("r#").unwrap_or(s).to_owned()),
    );
    Some((
        Access {
            segments,
            span: lit.span(),
        },
        wire.join("."),
    ))
}

fn field_path(ir: &str) -> TokenStream {
    let segs = ir.split('.');
    quote!(::tidings::schema::FieldPath(
        ::std::vec![#(::std::string::String::from(#segs)),*]
    ))
}

pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let ident = &input.ident;
    let a = parse(&input, &mut errors);
    let serde = attr::serde_container(&input.attrs, &mut errors);
    let fields: Vec<FieldInfo> = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named
                .named
                .iter()
                .filter_map(|f| attr::field(f, serde.rename_all.as_deref(), &mut errors))
                .collect(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(u) => {
                errors.at(
                    u.span(),
                    "an event is a struct with named fields (its payload is a JSON object)",
                );
                Vec::new()
            }
        },
        _ => {
            errors.at(
                ident.span(),
                "derive `Event` on a struct: its fields are the payload",
            );
            return errors.finish().map(|()| TokenStream::new());
        }
    };
    if !input.generics.params.is_empty() {
        errors.at(
            input.generics.span(),
            "events cannot be generic: an event has one wire name and one payload",
        );
    }
    let Some(module) = a.module.clone() else {
        errors.at(
            ident.span(),
            format!("`{ident}` needs its module: add `#[event(module = \"...\")]`"),
        );
        return errors.finish().map(|()| TokenStream::new());
    };
    let key = a.key.as_ref().map_or_else(
        || case::snake_from_pascal(&ident.to_string()),
        LitStr::value,
    );
    let wire = a
        .name
        .as_ref()
        .map_or_else(|| format!("{}:{key}", module.value()), LitStr::value);

    let (direction, server_sends, client_sends) = match a
        .direction
        .as_ref()
        .map(LitStr::value)
        .as_deref()
    {
        None | Some("to_client") => (quote!(ServerToClient), true, false),
        Some("to_server") => (quote!(ClientToServer), false, true),
        Some("both") => (quote!(Both), true, true),
        Some(other) => {
            let lit = a.direction.as_ref().map_or(Span::call_site(), LitStr::span);
            let hint = case::closest(other, ["to_client", "to_server", "both"])
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            errors.at(lit, format!("unknown direction `{other}`: expected `to_client`, `to_server` or `both`{hint}"));
            (quote!(ServerToClient), true, false)
        }
    };
    let delivery = match a.delivery.as_ref().map(LitStr::value).as_deref() {
        None | Some("durable") => quote!(Durable),
        Some("ephemeral") => quote!(Ephemeral),
        Some(other) => {
            let lit = a.delivery.as_ref().map_or(Span::call_site(), LitStr::span);
            errors.at(
                lit,
                format!("unknown delivery `{other}`: expected `durable` or `ephemeral`"),
            );
            quote!(Durable)
        }
    };
    // The rest of a presence event's rules are checked on its IR by
    // `tidings::schema::presence::spec`, the one rule list of every declaration route.
    let presence = match a.presence.as_ref().map(LitStr::value).as_deref() {
        None => None,
        Some("joined") => Some(quote!(Joined)),
        Some("left") => Some(quote!(Left)),
        Some(other) => {
            let lit = a.presence.as_ref().map_or(Span::call_site(), LitStr::span);
            errors.at(
                lit,
                format!("unknown presence `{other}`: expected `joined` or `left`"),
            );
            None
        }
    };
    if let (Some(d), false) = (&a.delivery, server_sends) {
        errors.at(
            d.span(),
            "`delivery` applies to events the server sends; this one only clients send",
        );
    }
    if let (Some(r), false) = (&a.reply, client_sends) {
        errors.at(r.span(), "only events clients send get a reply: set `direction = \"to_server\"` (or `\"both\"`), or remove `reply`");
    }
    let has_rules = !a.user.is_empty()
        || !a.users.is_empty()
        || !a.role.is_empty()
        || !a.room.is_empty()
        || a.everyone.is_some();
    if !server_sends {
        for lit in a
            .user
            .iter()
            .chain(&a.users)
            .chain(&a.role)
            .chain(&a.room)
            .chain(&a.except)
        {
            errors.at(
                lit.span(),
                "recipient rules apply to events the server sends; this one only clients send",
            );
        }
    }
    if let (Some(t), Some(p)) = (&a.tenant, a.platform) {
        let mut e = syn::Error::new(p, "`platform` conflicts with `tenant`: an event resolves inside one tenant, or across all");
        e.combine(syn::Error::new(t.span(), "`tenant` is set here"));
        errors.push(e);
    }
    if a.tenant.is_none() && a.platform.is_none() {
        for lit in a.role.iter().chain(&a.room) {
            errors.at(lit.span(), "roles and rooms exist per tenant: add `tenant = \"<field>\"` to resolve inside it, or `platform` to reach every tenant");
        }
        if let Some(e) = a.everyone {
            errors.at(
                e,
                "`everyone` needs a scope: add `tenant = \"<field>\"` or `platform`",
            );
        }
    }

    // Recipient rules: code for `recipients()` and their IR.
    let mut body = TokenStream::new();
    let mut rules = Vec::new();
    for lit in &a.user {
        if let Some((access, ir)) = path(lit, &fields, ident, &mut errors) {
            body.extend(access.wrap(|v| quote_spanned!(lit.span()=> if let ::std::option::Option::Some(id) = ::tidings::Id::id(#v) { r = r.to_user(id); })));
            let fp = field_path(&ir);
            rules.push(quote!(::tidings::schema::Rule::User { field: #fp }));
        }
    }
    for lit in &a.users {
        if let Some((access, ir)) = path(lit, &fields, ident, &mut errors) {
            body.extend(
                access.wrap(
                    |v| quote_spanned!(lit.span()=> r = r.to_users(::tidings::Ids::ids(#v));),
                ),
            );
            let fp = field_path(&ir);
            rules.push(quote!(::tidings::schema::Rule::Users { field: #fp }));
        }
    }
    for lit in &a.role {
        let role = lit.value();
        body.extend(quote!(r = r.to_role(#role);));
        rules.push(
            quote!(::tidings::schema::Rule::Role { role: ::std::string::String::from(#role) }),
        );
    }
    for lit in &a.room {
        let text = lit.value();
        let mut fmt = String::new();
        let mut args = Vec::new();
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        let mut ok = true;
        while let Some(open) = rest.find('{') {
            let literal = &rest[..open];
            if !literal.is_empty() {
                fmt.push_str(&literal.replace('}', "}}"));
                parts.push(quote!(::tidings::schema::RoomPart::Literal(::std::string::String::from(#literal))));
            }
            let Some(close) = rest[open..].find('}') else {
                errors.at(lit.span(), format!("unclosed `{{` in room `{text}`"));
                ok = false;
                break;
            };
            let field = &rest[open + 1..open + close];
            let field_lit = LitStr::new(field, lit.span());
            match path(&field_lit, &fields, ident, &mut errors) {
                Some((access, ir)) => {
                    let Some(access) = access.direct() else {
                        errors.at(lit.span(), format!("room `{text}`: `{field}` steps through an optional field; a room needs a value that is always there"));
                        ok = false;
                        break;
                    };
                    fmt.push_str("{}");
                    args.push(access);
                    let fp = field_path(&ir);
                    parts.push(quote!(::tidings::schema::RoomPart::Field(#fp)));
                }
                None => ok = false,
            }
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            fmt.push_str(&rest.replace('}', "}}"));
            parts.push(
                quote!(::tidings::schema::RoomPart::Literal(::std::string::String::from(#rest))),
            );
        }
        if ok && args.is_empty() {
            // A fixed room: its text as it is (`format!` of a literal alone is clippy's
            // `useless_format`).
            body.extend(
                quote_spanned!(lit.span()=> r = r.to_room(::std::string::String::from(#text));),
            );
        } else if ok {
            body.extend(
                quote_spanned!(lit.span()=> r = r.to_room(::std::format!(#fmt, #(#args),*));),
            );
        }
        if ok {
            rules.push(quote!(::tidings::schema::Rule::Room {
                template: ::tidings::schema::RoomTemplate { template: ::std::string::String::from(#text), parts: ::std::vec![#(#parts),*] },
            }));
        }
    }
    if a.everyone.is_some() {
        body.extend(quote!(r = r.to_everyone();));
        rules.push(quote!(::tidings::schema::Rule::Everyone));
    }
    let scope = if let Some(t) = &a.tenant {
        match path(t, &fields, ident, &mut errors) {
            Some((access, ir)) => {
                body.extend(access.wrap(|v| quote_spanned!(t.span()=> if let ::std::option::Option::Some(id) = ::tidings::Id::id(#v) { r = r.in_tenant(id); })));
                let fp = field_path(&ir);
                quote!(::tidings::schema::Scope::Tenant { field: #fp })
            }
            None => quote!(::tidings::schema::Scope::Users),
        }
    } else if a.platform.is_some() {
        body.extend(quote!(r = r.across_platform();));
        quote!(::tidings::schema::Scope::Platform)
    } else {
        quote!(::tidings::schema::Scope::Users)
    };
    let except = match &a.except {
        Some(lit) => match path(lit, &fields, ident, &mut errors) {
            Some((access, ir)) => {
                body.extend(access.wrap(|v| quote_spanned!(lit.span()=> if let ::std::option::Option::Some(id) = ::tidings::Id::id(#v) { r = r.except(id); })));
                let fp = field_path(&ir);
                quote!(::std::option::Option::Some(#fp))
            }
            None => quote!(::std::option::Option::None),
        },
        None => quote!(::std::option::Option::None),
    };
    errors.finish()?;

    let recipients_fn = if has_rules {
        quote! {
            fn recipients(&self) -> ::tidings::Recipients {
                let mut r = ::tidings::Recipients::new();
                #body
                r
            }
        }
    } else {
        quote!()
    };
    let recipients_ir = if has_rules {
        quote!(::std::option::Option::Some(::tidings::schema::Recipients { scope: #scope, rules: ::std::vec![#(#rules),*], except: #except }))
    } else {
        quote!(::std::option::Option::None)
    };
    let reply_ty = a.reply.as_ref().map_or_else(|| quote!(()), |t| quote!(#t));
    let reply_ir = match &a.reply {
        Some(t) => {
            quote!(::std::option::Option::Some(<#t as ::tidings::describe::Describe>::type_ref()))
        }
        None => quote!(::std::option::Option::None),
    };
    let module_name = module.value();
    // Registered in `tidings::describe` unless `register = false` (code generated from TOML,
    // whose IR comes from the schema files).
    let register = a.register.as_ref().is_none_or(|b| b.value);
    let payload = ir_fields(&fields);
    // The payload's named types, collected from their `Describe` impls: no registry needed.
    let deps: Vec<&Type> = fields
        .iter()
        .filter(|f| !f.skip && f.wire_type.is_none())
        .map(|f| &f.ty)
        .collect();
    let contract = quote! {
        static CONTRACT: ::std::sync::OnceLock<::tidings::validate::Contract> = ::std::sync::OnceLock::new();
        ::std::option::Option::Some(CONTRACT.get_or_init(|| {
            let mut types = ::tidings::validate::Types::new();
            #(<#deps as ::tidings::describe::Describe>::define(&mut types);)*
            ::tidings::validate::Contract::new(types, #payload)
        }))
    };
    let checks = checks(&fields, &quote!(""));
    let doc_lines = attr::docs(&input.attrs);
    let deprecated = deprecation_expr(&attr::deprecated(&input.attrs));
    let delivery_ir = delivery.clone();
    let direction_ir = direction.clone();
    let presence_ir = match &presence {
        Some(kind) => quote!(::std::option::Option::Some(::tidings::schema::PresenceKind::#kind)),
        None => quote!(::std::option::Option::None),
    };
    let presence_fn = presence.as_ref().map(|kind| {
        let direction = direction.clone();
        let recipients = recipients_ir.clone();
        let payload = payload.clone();
        quote! {
            fn presence() -> ::std::option::Option<::std::result::Result<::tidings::schema::PresenceSpec, ::tidings::schema::presence::PresenceError>> {
                let recipients: ::std::option::Option<::tidings::schema::Recipients> = #recipients;
                ::std::option::Option::Some(::tidings::schema::presence::spec(
                    ::tidings::schema::PresenceKind::#kind,
                    ::tidings::schema::Direction::#direction,
                    recipients.as_ref(),
                    &#payload,
                ))
            }
        }
    });
    let event_impl = quote! {
            impl ::tidings::Event for #ident {
                const NAME: &'static str = #wire;
                const MODULE: &'static str = #module_name;
                const DIRECTION: ::tidings::schema::Direction = ::tidings::schema::Direction::#direction;
                const DELIVERY: ::tidings::schema::Delivery = ::tidings::schema::Delivery::#delivery;
                type Reply = #reply_ty;
                #recipients_fn
                fn validate(&self) -> ::std::result::Result<(), ::tidings::Violation> {
                    #checks
                    ::std::result::Result::Ok(())
                }
                fn contract() -> ::std::option::Option<&'static ::tidings::validate::Contract> {
                    #contract
                }
                #presence_fn
            }
    };
    // `event.emit(&hub)` / `event.emit_to(&hub, &to)` on the events the server sends — for
    // events derived in Rust and generated from TOML alike (generated code derives `Event`).
    let emit_methods = if server_sends {
        let emit_doc = format!(" Emits this `{wire}` to the recipients its rules select.");
        let to_doc = format!(" Emits this `{wire}` to explicit recipients.");
        quote! {
            #[allow(deprecated)]
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
    if !register {
        return Ok(quote! {
            #emit_methods
            const _: () = {
                #[allow(deprecated)]
                #event_impl
            };
        });
    }
    Ok(quote! {
        #emit_methods
        const _: () = {
            #[allow(deprecated)]
            #event_impl

            fn __describe() -> ::tidings::describe::Item {
                ::tidings::describe::Item::Event(::tidings::schema::EventDef {
                    key: ::std::string::String::from(#key),
                    name: ::std::string::String::from(#wire),
                    doc: ::tidings::describe::doc(&[#(#doc_lines),*]),
                    direction: ::tidings::schema::Direction::#direction_ir,
                    delivery: ::tidings::schema::Delivery::#delivery_ir,
                    payload: #payload,
                    reply: #reply_ir,
                    recipients: #recipients_ir,
                    presence: #presence_ir,
                    deprecated: #deprecated,
                    renamed_from: ::std::option::Option::None,
                    location: ::std::option::Option::None,
                })
            }

            ::tidings::describe::__private::inventory::submit! {
                ::tidings::describe::Registration {
                    module: #module_name,
                    file: ::std::file!(),
                    line: ::std::line!(),
                    describe: __describe,
                }
            }
        };
    })
}
