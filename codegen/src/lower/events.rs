//! Lowering of events: wire names, direction, delivery, replies and recipient rules.

use std::collections::HashMap;
use std::ops::Range;

use tidings::schema::presence;
use tidings::schema::{
    Delivery, Direction, EventDef, Field, FieldPath, PresenceKind, Primitive, Recipients, RoomPart,
    RoomTemplate, Rule, Scope, TypeDef, TypeKind, TypeRef,
};
use toml::Spanned;

use super::{clean_doc, deprecation, Lowering, ModuleCx, Symbols};
use crate::diag::Diagnostic;
use crate::names;
use crate::raw::{Dropped, Item, RawEvent, RawRecipients};
use crate::source::FileId;

const DIRECTIONS: [(&str, Direction); 3] = [
    ("to_client", Direction::ServerToClient),
    ("to_server", Direction::ClientToServer),
    ("both", Direction::Both),
];
const DELIVERIES: [(&str, Delivery); 2] = [
    ("durable", Delivery::Durable),
    ("ephemeral", Delivery::Ephemeral),
];

/// The types already lowered, by module and name, for looking inside payload fields.
pub(super) type Lowered<'t> = HashMap<(&'t str, &'t str), &'t TypeDef>;

/// What a field path leads to.
struct Resolved {
    ty: TypeRef,
    /// Whether some step of the path (or the field itself) is optional.
    optional: bool,
    /// The first optional step (`ticket` in `ticket.tenant_id`), for messages.
    optional_at: Option<String>,
}

impl Lowering<'_> {
    /// One of a fixed set of words (`direction = "to_server"`), or an error listing them.
    fn keyword<T: Copy>(
        &mut self,
        file: FileId,
        raw: &Spanned<String>,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let word = raw.get_ref().as_str();
        if let Some((_, value)) = options.iter().find(|(w, _)| *w == word) {
            return Some(*value);
        }
        let words: Vec<String> = options.iter().map(|(w, _)| format!("`{w}`")).collect();
        self.error(
            Diagnostic::error(
                crate::diag::Code::InvalidValue,
                file,
                raw.span(),
                format!("unknown {key} `{word}`"),
            )
            .label(format!("expected one of {}", words.join(", ")))
            .maybe_help(names::suggestion(word, options.iter().map(|(w, _)| *w))),
        );
        None
    }

    /// Lowers every event of a module.
    pub(super) fn lower_events(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        lowered: &Lowered<'_>,
    ) -> Vec<EventDef> {
        let mut out = Vec::new();
        for (key, raw) in &m.raw.events {
            if m.raw.damaged.contains(&Item::Event(key.get_ref().clone())) {
                continue;
            }
            if let Some(event) = self.lower_event(m, symbols, lowered, key, raw) {
                out.push(event);
            }
        }
        out
    }

    fn lower_event(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        lowered: &Lowered<'_>,
        key: &Spanned<String>,
        raw: &Spanned<RawEvent>,
    ) -> Option<EventDef> {
        let file = m.raw.file;
        let e = raw.get_ref();
        let k = key.get_ref();
        let mut ok = true;
        if !names::is_identifier(k) {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::InvalidName,
                    file,
                    key.span(),
                    format!("invalid event key `{k}`"),
                )
                .label("event keys are letters, digits and `_`, not starting with a digit")
                .help({
                    let key = super::types::suggest(
                        names::to_snake_case(k),
                        "e_",
                        names::is_identifier,
                        &|n| m.raw.events.iter().any(|(other, _)| other.get_ref() == n),
                    );
                    let wire = format!("{}:{k}", m.name);
                    if is_wire_name(&wire) {
                        format!("{key}, and set `name = \"{wire}\"` to keep the wire name")
                    } else {
                        key
                    }
                }),
            );
            ok = false;
        } else if !names::is_pascal_case(&names::event_type_name(k)) {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::InvalidName,
                    file,
                    key.span(),
                    format!("event key `{k}` has no usable name in Rust or TypeScript"),
                )
                .label("once split into words, the key must start with a letter")
                .help(format!(
                    "choose a key such as `e{}` and set `name = \"{}:{k}\"` to keep the wire name",
                    k.trim_start_matches('_'),
                    m.name
                )),
            );
            ok = false;
        }
        let name = match &e.name {
            Some(n) => {
                if !is_wire_name(n.get_ref()) {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidName,
                            file,
                            n.span(),
                            format!("invalid wire name `{}`", n.get_ref()),
                        )
                        .label(
                            "wire names are `module:event`: letters, digits, `_`, `-`, `.` and `:`",
                        )
                        .help(format!("for example `{}:{k}`", m.name)),
                    );
                    ok = false;
                }
                n.get_ref().clone()
            }
            None => format!("{}:{k}", m.name),
        };
        let dropped_direction = m
            .raw
            .dropped
            .contains(&(Item::Event(k.clone()), Dropped::Direction));
        let direction = match &e.direction {
            // Dropped for a value of the wrong type (reported): every direction allowed, so
            // that `reply`, `delivery` and `recipients` are checked without a second error.
            None if dropped_direction => Direction::Both,
            None => Direction::ServerToClient,
            // An unknown direction is reported; the rest is checked as allowing every one.
            Some(d) => self
                .keyword(file, d, "direction", &DIRECTIONS)
                .unwrap_or(Direction::Both),
        };
        let delivery = match &e.delivery {
            None => Delivery::Durable,
            Some(d) => {
                let delivery = self.keyword(file, d, "delivery", &DELIVERIES)?;
                if !direction.server_sends() {
                    self.error(
                        Diagnostic::error(crate::diag::Code::MisplacedKey, file, d.span(), format!("`delivery` does not apply to event `{k}`, which only clients send"))
                            .label("delivery says whether the server keeps an event for clients that missed it")
                            .help("remove it, or set `direction = \"both\"`"),
                    );
                }
                delivery
            }
        };
        let payload = match &e.payload {
            Some(p) => self.lower_fields(
                m,
                symbols,
                p.get_ref(),
                &format!("event `{k}`"),
                &(m.name.clone(), Item::Event(k.clone())),
            ),
            None => Vec::new(),
        };
        let reply = match &e.reply {
            None => None,
            Some(r) => {
                if !direction.client_sends() {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::MisplacedKey,
                            file,
                            r.span(),
                            format!("event `{k}` has a reply but clients never send it"),
                        )
                        .label("only events a client sends get a reply")
                        .help("set `direction = \"to_server\"` (or `\"both\"`), or remove `reply`"),
                    );
                }
                self.resolve_type(m, symbols, r.get_ref(), &r.span())
            }
        };
        let errors_before = self.diags.error_count();
        let recipients = self.lower_recipients(m, lowered, k, e, direction, &payload);
        let recipients_ok = self.diags.error_count() == errors_before;
        let presence = match &e.presence {
            None => None,
            Some(p) => {
                let options: Vec<(&str, PresenceKind)> =
                    PresenceKind::ALL.iter().map(|k| (k.as_str(), *k)).collect();
                let kind = self.keyword(file, p, "presence", &options);
                // The one rule list of every route; recipients already in error are not
                // judged again.
                if let (Some(kind), true) = (kind, recipients_ok) {
                    if let Err(broken) =
                        presence::problems(kind, direction, recipients.as_ref(), &payload)
                    {
                        for error in broken {
                            self.error(
                                Diagnostic::error(
                                    crate::diag::Code::InvalidPresence,
                                    file,
                                    p.span(),
                                    format!("event `{k}` cannot be a presence event"),
                                )
                                .label(error.to_string())
                                .help("see \"Presence events\" in docs/schema.md"),
                            );
                        }
                    }
                }
                kind
            }
        };
        if !ok {
            return None;
        }
        Some(EventDef {
            key: k.clone(),
            name,
            doc: e.doc.as_deref().map(clean_doc),
            direction,
            delivery,
            payload,
            reply,
            recipients,
            presence,
            deprecated: deprecation(e.deprecated.as_ref()),
            renamed_from: e.renamed_from.as_ref().map(|r| r.get_ref().clone()),
            location: Some(self.location(file, key.span())),
        })
    }

    fn lower_recipients(
        &mut self,
        m: &ModuleCx<'_>,
        lowered: &Lowered<'_>,
        k: &str,
        e: &RawEvent,
        direction: Direction,
        payload: &[Field],
    ) -> Option<Recipients> {
        let file = m.raw.file;
        let paths = Paths {
            m,
            lowered,
            payload,
            event: k,
        };
        let scope = match (&e.tenant, &e.platform) {
            (Some(tenant), Some(platform)) if *platform.get_ref() => {
                self.error(
                    Diagnostic::error(crate::diag::Code::ConflictingKeys, file, platform.span(), format!("event `{k}` sets both `tenant` and `platform = true`"))
                        .note(file, tenant.span(), "`tenant` is set here")
                        .help("`tenant` keeps delivery inside one tenant; `platform = true` crosses all tenants; keep one"),
                );
                Scope::Users
            }
            (Some(tenant), _) => match self.path(&paths, tenant, IdUse::Tenant) {
                Some(field) => Scope::Tenant { field },
                None => Scope::Users,
            },
            (None, Some(platform)) if *platform.get_ref() => Scope::Platform,
            _ => Scope::Users,
        };
        let Some(raw) = &e.recipients else {
            return None;
        };
        if !direction.server_sends() {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::MisplacedKey,
                    file,
                    raw.span(),
                    format!("event `{k}` has recipients but the server never sends it"),
                )
                .label("recipients say who receives an event the server emits")
                .help("remove `recipients`, or set `direction = \"to_client\"` (or `\"both\"`)"),
            );
            return None;
        }
        let r: &RawRecipients = raw.get_ref();
        let mut rules = Vec::new();
        for f in &r.user {
            if let Some(field) = self.path(&paths, f, IdUse::User) {
                rules.push(Rule::User { field });
            }
        }
        for f in &r.users {
            if let Some(field) = self.path(&paths, f, IdUse::Users) {
                rules.push(Rule::Users { field });
            }
        }
        // A scope that was given but is wrong (conflicting, or a bad tenant path) has its own
        // error: the rules are not reported again for lacking one.
        let scope_given = e.tenant.is_some() || e.platform.as_ref().is_some_and(|p| *p.get_ref());
        // The rules that exist per tenant, said once together when the event has no scope —
        // each rule's own mistakes aside, which are reported on their own.
        let mut unscoped: Vec<(String, Range<usize>)> = Vec::new();
        for role in &r.roles {
            let name = role.get_ref();
            unscoped.push((format!("role `{name}`"), role.span()));
            if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidName,
                        file,
                        role.span(),
                        format!("invalid role `{name}`"),
                    )
                    .help("role names are non-empty and have no spaces, such as `admin`"),
                );
                continue;
            }
            rules.push(Rule::Role { role: name.clone() });
        }
        for room in &r.rooms {
            unscoped.push((format!("room `{}`", room.get_ref()), room.span()));
            if let Some(template) = self.room_template(&paths, room) {
                rules.push(Rule::Room { template });
            }
        }
        if let Some(everyone) = &r.everyone {
            if *everyone.get_ref() {
                unscoped.push(("everyone".to_owned(), everyone.span()));
                rules.push(Rule::Everyone);
            } else {
                self.error(
                    Diagnostic::warning(
                        crate::diag::Code::NoOp,
                        file,
                        everyone.span(),
                        "`everyone = false` has no effect",
                    )
                    .help("remove it"),
                );
            }
        }
        if let (Scope::Users, false, Some((first, span))) = (&scope, scope_given, unscoped.first())
        {
            let what = if unscoped.len() == 1 {
                format!("the {first} rule of event `{k}` needs a tenant to resolve in")
            } else {
                let all: Vec<&str> = unscoped.iter().map(|(w, _)| w.as_str()).collect();
                format!(
                    "the rules {} of event `{k}` need a tenant to resolve in",
                    all.join(", ")
                )
            };
            let mut d =
                Diagnostic::error(crate::diag::Code::MissingScope, file, span.clone(), what)
                    .label("roles, rooms and everyone exist per tenant");
            for (w, other) in unscoped.iter().skip(1) {
                d = d.note(file, other.clone(), format!("{w} too"));
            }
            self.error(d.help("set `tenant = \"<field>\"` on the event to stay inside the tenant in that field, or `platform = true` to reach every tenant"));
        }
        let except = r
            .except
            .as_ref()
            .and_then(|f| self.path(&paths, f, IdUse::Except));
        // A rule dropped for an error of its own (`everyone = "yes"`) was a rule all the same.
        let rule_dropped = m
            .raw
            .dropped
            .contains(&(Item::Event(k.to_owned()), Dropped::Rule));
        if rules.is_empty()
            && !rule_dropped
            && r.user.is_empty()
            && r.users.is_empty()
            && r.roles.is_empty()
            && r.rooms.is_empty()
            && r.everyone.is_none()
        {
            self.error(
                Diagnostic::error(crate::diag::Code::InvalidValue, file, raw.span(), format!("the recipients of event `{k}` declare no rule"))
                    .help("add `user`, `users`, `roles`, `rooms` or `everyone`; or remove `recipients` to choose targets at emit time"),
            );
        }
        Some(Recipients {
            scope,
            rules,
            except,
        })
    }

    /// Resolves a dotted payload path and checks that it fits its use.
    fn path(
        &mut self,
        p: &Paths<'_, '_>,
        raw: &Spanned<String>,
        usage: IdUse,
    ) -> Option<FieldPath> {
        let lit = self.literal(p.m.raw.file, &raw.span());
        let resolved = self.walk(p, raw.get_ref(), &lit, 0)?;
        let file = p.m.raw.file;
        let text = raw.get_ref();
        let ty = &resolved.ty;
        let inner = ty.unwrap_optional();
        let fits = match usage {
            IdUse::User | IdUse::Except => is_id(inner),
            IdUse::Tenant => is_id(inner) && !resolved.optional,
            IdUse::Users => matches!(inner, TypeRef::List(item) if is_id(item)),
        };
        if !fits {
            let (what, expected, help) = match usage {
                IdUse::User => (
                    "a `user` rule",
                    "one user id (`uuid`, `string` or an integer)",
                    "for a list of users, use `users = [...]`",
                ),
                IdUse::Except => (
                    "`except`",
                    "one user id (`uuid`, `string` or an integer)",
                    "name the field that holds the acting user's id",
                ),
                IdUse::Users => (
                    "a `users` rule",
                    "a list of user ids (`[uuid]`, `[string]` …)",
                    "for a single user, use `user = [...]`",
                ),
                IdUse::Tenant => (
                    "`tenant`",
                    "a tenant id that is always present (`uuid`, `string` or an integer)",
                    "make the field required; an event without a tenant cannot stay inside one",
                ),
            };
            let help = if matches!(usage, IdUse::User) && matches!(inner, TypeRef::List(_)) {
                "this field is a list: use `users = [...]`".to_owned()
            } else if matches!(usage, IdUse::Users) && is_id(inner) {
                "this field holds one id: use `user = [...]`".to_owned()
            } else {
                help.to_owned()
            };
            // A tenant through an optional step: the step is the cause, not the field.
            let message = match (&usage, &resolved.optional_at) {
                (IdUse::Tenant, Some(at)) if is_id(inner) && at == text => {
                    format!("{what} needs {expected}, but `{text}` is optional")
                }
                (IdUse::Tenant, Some(at)) if is_id(inner) => format!(
                    "{what} needs {expected}, but `{at}` is optional, so `{text}` may be absent"
                ),
                _ => format!("{what} needs {expected}, but `{text}` is `{ty}`"),
            };
            let help = match (&usage, &resolved.optional_at) {
                (IdUse::Tenant, Some(at)) if is_id(inner) => {
                    format!(
                        "make `{at}` required; an event without a tenant cannot stay inside one"
                    )
                }
                _ => help,
            };
            self.error(
                Diagnostic::error(crate::diag::Code::RecipientType, file, raw.span(), message)
                    .help(help),
            );
            return None;
        }
        FieldPath::parse(text)
    }

    /// Walks a dotted path through the payload and nested structs.
    /// `text` is the value of `lit` from byte `from` on, for the places of its segments.
    fn walk(
        &mut self,
        p: &Paths<'_, '_>,
        text: &str,
        lit: &super::literal::Literal,
        from: usize,
    ) -> Option<Resolved> {
        let file = p.m.raw.file;
        let mut fields: &[Field] = p.payload;
        let mut owner = format!("the payload of event `{}`", p.event);
        let mut owner_key = (p.m.name.clone(), Item::Event(p.event.to_owned()));
        let mut optional = false;
        let mut optional_at: Option<String> = None;
        let mut offset = 0;
        let segments: Vec<&str> = text.split('.').collect();
        for (i, seg) in segments.iter().enumerate() {
            let span = lit.span(from + offset..from + offset + seg.len());
            offset += seg.len() + 1;
            let Some(field) = fields.iter().find(|f| f.name == *seg) else {
                let (module, item) = owner_key.clone();
                if self.unresolved.contains(&(
                    module.clone(),
                    item.clone(),
                    Some((*seg).to_owned()),
                )) || self.unresolved.contains(&(module, item, None))
                {
                    // The field's own error was reported where it is declared.
                    return None;
                }
                let d = if seg.is_empty() {
                    Diagnostic::error(
                        crate::diag::Code::UnknownField,
                        file,
                        span,
                        format!("empty segment in field path `{text}`"),
                    )
                    .help("write a path such as `ticket.assignee_id`")
                } else {
                    Diagnostic::error(
                        crate::diag::Code::UnknownField,
                        file,
                        span,
                        format!("no field `{seg}` in {owner}"),
                    )
                    .maybe_help(
                        names::suggestion(seg, fields.iter().map(|f| f.name.as_str())).or_else(
                            || {
                                Some(if fields.is_empty() {
                                    format!("{owner} has no fields")
                                } else {
                                    format!(
                                        "the fields are {}",
                                        fields
                                            .iter()
                                            .map(|f| format!("`{}`", f.name))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )
                                })
                            },
                        ),
                    )
                };
                self.error(d);
                return None;
            };
            if field.ty.is_optional() && optional_at.is_none() {
                optional_at = Some(segments[..=i].join("."));
            }
            optional |= field.ty.is_optional();
            if i + 1 == segments.len() {
                return Some(Resolved {
                    ty: field.ty.clone(),
                    optional,
                    optional_at: optional_at.clone(),
                });
            }
            let inner = field.ty.unwrap_optional();
            let TypeRef::Named { module, name } = inner else {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::UnknownField,
                        file,
                        span,
                        format!("`{seg}` is `{}`, which has no fields", field.ty),
                    )
                    .help(format!(
                        "only struct fields can be looked into; end the path at `{}`",
                        segments[..=i].join(".")
                    )),
                );
                return None;
            };
            match p
                .lowered
                .get(&(module.as_str(), name.as_str()))
                .map(|t| &t.kind)
            {
                Some(TypeKind::Struct {
                    fields: inner_fields,
                }) => {
                    fields = inner_fields;
                    owner = format!("type `{name}`");
                    owner_key = (module.clone(), Item::Type(name.clone()));
                }
                // The type failed to lower; it was reported already.
                None => return None,
                Some(_) => {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::UnknownField,
                            file,
                            span,
                            format!("`{seg}` is `{name}`, which is not a struct"),
                        )
                        .help(format!("end the path at `{}`", segments[..=i].join("."))),
                    );
                    return None;
                }
            }
        }
        None
    }

    fn room_template(&mut self, p: &Paths<'_, '_>, raw: &Spanned<String>) -> Option<RoomTemplate> {
        let file = p.m.raw.file;
        let text = raw.get_ref();
        let lit = self.literal(file, &raw.span());
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text.as_str();
        let mut ok = true;
        let mut pos = 0;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::RoomTemplate,
                        file,
                        lit.span(pos + open..pos + open + 1),
                        format!("unmatched `}}` in room `{text}`"),
                    )
                    .help("fields are written `{field}`"),
                );
                return None;
            }
            literal.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::RoomTemplate,
                        file,
                        lit.span(pos + open..pos + rest.len()),
                        format!("unclosed `{{` in room `{text}`"),
                    )
                    .help("close the field with `}`, as in `chat:{chat_id}`"),
                );
                return None;
            };
            let field = &rest[open + 1..open + close];
            let field_start = pos + open + 1;
            if !literal.is_empty() {
                parts.push(RoomPart::Literal(std::mem::take(&mut literal)));
            }
            match self.walk(p, field, &lit, field_start) {
                Some(resolved) if is_room_value(&resolved.ty, p) && !resolved.optional => {
                    if let Some(path) = FieldPath::parse(field) {
                        parts.push(RoomPart::Field(path));
                    }
                }
                Some(resolved) => {
                    let why = if resolved.optional {
                        "it may be absent"
                    } else {
                        "it is not a single value"
                    };
                    self.error(
                        Diagnostic::error(crate::diag::Code::RoomTemplate, file, lit.span(field_start..field_start + field.len()), format!("field `{field}` of type `{}` cannot be part of a room name", resolved.ty))
                            .label(why)
                            .help("room names are built from required string, uuid, integer or enum fields"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
            pos += open + close + 1;
            rest = &rest[open + close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(RoomPart::Literal(literal));
        }
        if text.is_empty() {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::RoomTemplate,
                    file,
                    raw.span(),
                    "empty room name",
                )
                .help("write a room such as `chat:{chat_id}`"),
            );
            return None;
        }
        if !parts.iter().any(|p| matches!(p, RoomPart::Field(_))) && ok {
            // A fixed room is allowed (`lobby`), but usually a mistake in a template.
            self.error(
                Diagnostic::warning(crate::diag::Code::FixedRoom, file, raw.span(), format!("room `{text}` names no payload field"))
                    .help("every emit goes to this one room; if it should depend on the payload, write `{field}`"),
            );
        }
        ok.then(|| RoomTemplate {
            template: text.clone(),
            parts,
        })
    }
}

struct Paths<'a, 'r> {
    m: &'a ModuleCx<'r>,
    lowered: &'a Lowered<'a>,
    payload: &'a [Field],
    event: &'a str,
}

#[derive(Clone, Copy)]
enum IdUse {
    User,
    Users,
    Except,
    Tenant,
}

/// Ids of users and tenants: strings, UUIDs or integers.
fn is_id(ty: &TypeRef) -> bool {
    matches!(ty, TypeRef::Primitive(p) if matches!(p, Primitive::String | Primitive::Uuid) || p.is_integer())
}

fn is_room_value(ty: &TypeRef, p: &Paths<'_, '_>) -> bool {
    match ty {
        TypeRef::Named { module, name } => p
            .lowered
            .get(&(module.as_str(), name.as_str()))
            .is_some_and(|t| matches!(t.kind, TypeKind::Enum { .. })),
        other => is_id(other),
    }
}

fn is_wire_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(':')
        && !s.ends_with(':')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}
