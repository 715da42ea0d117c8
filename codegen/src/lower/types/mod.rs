//! Lowering of named types: structs, enums and unions, and their names. Fields, constraints,
//! defaults and type expressions each have a file of their own below.

use std::collections::HashMap;
use std::ops::Range;

use tidings::schema::{EnumValue, TypeDef, TypeKind, TypeRef, Variant};
use toml::Spanned;

use super::{clean_doc, deprecation, Lowering, ModuleCx, Shape, Symbols};
use crate::diag::Diagnostic;
use crate::names;
use crate::raw::{Dropped, Item, OrTable, RawEnumValue, RawType};

const KINDS: [&str; 3] = ["struct", "enum", "union"];

/// The wire string of an enum value as written.
pub(crate) fn enum_value_name(v: &RawEnumValue) -> &str {
    match v {
        OrTable::Short(s) => s,
        OrTable::Full(f) => f.name.get_ref(),
    }
}

mod constraints;
mod defaults;
mod fields;
mod resolve;

pub(in crate::lower) use defaults::finite;

impl Lowering<'_> {
    /// Lowers every named type of a module.
    pub(in crate::lower) fn lower_types(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
    ) -> Vec<TypeDef> {
        self.check_type_names(m);
        let mut out = Vec::new();
        for (name, raw) in &m.raw.types {
            if m.raw.damaged.contains(&Item::Type(name.get_ref().clone())) {
                continue;
            }
            let span = name.span();
            let t = raw.get_ref();
            // A `kind` dropped for a value of the wrong type (reported): the kind the other
            // keys imply, so that they are checked without a second error.
            let dropped_kind = m
                .raw
                .dropped
                .contains(&(Item::Type(name.get_ref().clone()), Dropped::Kind));
            // What the other keys imply: a `kind` dropped for a value of the wrong type, or
            // unknown (`strcut`), is reported once, and the rest checked as that kind.
            let implied = if t.values.is_some() {
                "enum"
            } else if t.variants.is_some() || t.tag.is_some() {
                "union"
            } else {
                "struct"
            };
            let kind_name = match &t.kind {
                Some(k) if KINDS.contains(&k.get_ref().as_str()) => k.get_ref().as_str(),
                Some(k) => {
                    let other = k.get_ref();
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidValue,
                            m.raw.file,
                            k.span(),
                            format!("unknown kind `{other}` for type `{}`", name.get_ref()),
                        )
                        .help(
                            names::suggestion(other, KINDS).unwrap_or_else(|| {
                                "a type's kind is `struct` (the default), `enum` or `union`"
                                    .to_owned()
                            }),
                        ),
                    );
                    implied
                }
                None if dropped_kind => implied,
                None => "struct",
            };
            let kind = match kind_name {
                "struct" => {
                    self.reject_keys(m, t, crate::raw::keys_of_other_kinds("struct"), "structs");
                    let fields = match &t.fields {
                        Some(fields) => self.lower_fields(
                            m,
                            symbols,
                            fields.get_ref(),
                            &format!("type `{}`", name.get_ref()),
                            &(m.name.clone(), Item::Type(name.get_ref().clone())),
                        ),
                        None => Vec::new(),
                    };
                    TypeKind::Struct { fields }
                }
                "enum" => {
                    self.reject_keys(m, t, crate::raw::keys_of_other_kinds("enum"), "enums");
                    TypeKind::Enum {
                        values: self.lower_enum_values(m, name, t),
                        open: t.open.as_ref().is_some_and(|o| *o.get_ref()),
                    }
                }
                "union" => {
                    self.reject_keys(m, t, crate::raw::keys_of_other_kinds("union"), "unions");
                    self.lower_union(m, symbols, name, t)
                }
                _ => continue,
            };
            out.push(TypeDef {
                name: name.get_ref().clone(),
                doc: t.doc.as_deref().map(clean_doc),
                kind,
                deprecated: deprecation(t.deprecated.as_ref()),
                renamed_from: t.renamed_from.as_ref().map(|r| r.get_ref().clone()),
                location: Some(self.location(m.raw.file, span)),
            });
        }
        out
    }

    /// Type names are PascalCase, not reserved, and distinct from each other and from the
    /// generated event types even when case is ignored.
    pub(in crate::lower) fn check_type_names(&mut self, m: &ModuleCx<'_>) {
        let file = m.raw.file;
        let mut seen: HashMap<String, (String, Range<usize>, &str)> = HashMap::new();
        let types = m
            .raw
            .types
            .iter()
            .map(|(n, _)| (n.get_ref().clone(), n.span(), "type", n.get_ref()));
        let events = m.raw.events.iter().map(|(k, _)| {
            (
                names::event_type_name(k.get_ref()),
                k.span(),
                "event",
                k.get_ref(),
            )
        });
        // Names a suggestion must not take: every type and event type name, compared as the
        // clash check below compares them.
        let mut declared: HashMap<String, usize> = HashMap::new();
        for (name, ..) in types.clone().chain(events.clone()) {
            *declared.entry(name.to_lowercase()).or_default() += 1;
        }
        // Taken: by another declaration than the one being renamed (`foo` → `Foo` is free,
        // unless a `Foo` is declared too).
        let current = std::cell::RefCell::new(String::new());
        let taken = |n: &str| {
            let reserved = names::is_reserved_type_name(n);
            let n = n.to_lowercase();
            let others =
                declared.get(&n).copied().unwrap_or(0) - usize::from(n == *current.borrow());
            reserved
                || others > 0
                // `SomeThingInput` is the written shape of `SomeThing`.
                || n.strip_suffix("input").is_some_and(|stem| declared.contains_key(stem))
        };
        for (name, span, what, key) in types.chain(events) {
            *current.borrow_mut() = name.to_lowercase();
            if what == "type" {
                if !names::is_pascal_case(&name) {
                    self.error(
                        Diagnostic::error(crate::diag::Code::InvalidName, file, span.clone(), format!("invalid type name `{name}`"))
                            .label("type names are PascalCase: letters and digits, starting with an uppercase letter")
                            .help(suggest(names::to_pascal_case(&name), "T", names::is_pascal_case, &taken)),
                    );
                    continue;
                }
                if names::is_reserved_type_name(&name) {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::ReservedName,
                            file,
                            span.clone(),
                            format!("type name `{name}` is reserved"),
                        )
                        .label("generated Rust or TypeScript uses this name itself")
                        .help(format!(
                            "choose a more specific name, such as `{}{name}`",
                            names::to_pascal_case(&m.name)
                        )),
                    );
                    continue;
                }
            }
            if what == "event" && names::is_reserved_type_name(&name) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::ReservedName,
                        file,
                        span.clone(),
                        format!("event key `{key}` would generate the type `{name}`"),
                    )
                    .label("generated Rust or TypeScript uses this name itself")
                    .help(format!(
                        "choose another key and keep the wire name with `name = \"{}:{key}\"`",
                        m.name
                    )),
                );
                continue;
            }
            let folded = name.to_lowercase();
            if let Some((first, first_span, first_what)) = seen.get(&folded) {
                let message = if *first == name {
                    format!("the {what} `{name}` clashes with the {first_what} of the same name")
                } else {
                    format!("the {what} name `{name}` clashes with the {first_what} name `{first}`")
                };
                let label = if what == "event" {
                    format!("the event's generated type is `{name}`")
                } else {
                    "names must differ by more than case".to_owned()
                };
                self.error(
                    Diagnostic::error(crate::diag::Code::NameClash, file, span, message)
                        .label(label)
                        .note(file, first_span.clone(), format!("the {first_what} `{first}` is declared here"))
                        .help("generated Rust and TypeScript would hold two items of one name; rename one"),
                );
            } else {
                seen.insert(folded, (name, span, what));
            }
        }
    }

    /// Reports keys of a type that do not apply to its kind.
    pub(in crate::lower) fn reject_keys(
        &mut self,
        m: &ModuleCx<'_>,
        t: &RawType,
        keys: &[&str],
        kind: &str,
    ) {
        let present: [(&str, Option<Range<usize>>); 5] = [
            ("fields", t.fields.as_ref().map(Spanned::span)),
            ("values", t.values.as_ref().map(Spanned::span)),
            ("tag", t.tag.as_ref().map(Spanned::span)),
            ("variants", t.variants.as_ref().map(Spanned::span)),
            ("open", t.open.as_ref().map(Spanned::span)),
        ];
        for (key, span) in present {
            if let (true, Some(span)) = (keys.contains(&key), span) {
                let belongs = match key {
                    "fields" => "structs",
                    "values" => "enums",
                    "open" => "enums and unions",
                    _ => "unions",
                };
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::MisplacedKey,
                        m.raw.file,
                        span,
                        format!("`{key}` does not apply to {kind}"),
                    )
                    .help(format!(
                        "`{key}` belongs to {belongs}; set `kind` accordingly or remove it"
                    )),
                );
            }
        }
    }

    pub(in crate::lower) fn lower_enum_values(
        &mut self,
        m: &ModuleCx<'_>,
        name: &Spanned<String>,
        t: &RawType,
    ) -> Vec<EnumValue> {
        let file = m.raw.file;
        let Some(values) = &t.values else {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::MissingKey,
                    file,
                    name.span(),
                    format!("enum `{}` declares no values", name.get_ref()),
                )
                .help("add `values = [\"first\", \"second\"]`"),
            );
            return Vec::new();
        };
        if values.get_ref().is_empty() {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::InvalidValue,
                    file,
                    values.span(),
                    format!("enum `{}` declares no values", name.get_ref()),
                )
                .help("an enum needs at least one value"),
            );
        }
        let mut seen: HashMap<String, (String, Range<usize>)> = HashMap::new();
        let mut out = Vec::new();
        for v in values.get_ref() {
            let span = v.span();
            let wire = enum_value_name(v.get_ref()).to_owned();
            let variant = names::to_pascal_case(&wire);
            if variant == "Self" {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidName,
                        file,
                        span,
                        format!("enum value `{wire}` would be the Rust variant `Self`, a keyword no identifier can be"),
                    )
                    .label("its variant name is `Self`")
                    .help("choose another value, for example `own` or `itself`"),
                );
                continue;
            }
            if wire.is_empty() || !names::is_pascal_case(&variant) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidName,
                        file,
                        span,
                        format!("enum value `{wire}` has no usable name in Rust or TypeScript"),
                    )
                    .label("values must contain a letter and start with one once split into words")
                    .help("start the value with a letter, for example `v1` instead of `1`"),
                );
                continue;
            }
            if variant == names::UNKNOWN_VARIANT && t.open.as_ref().is_some_and(|o| *o.get_ref()) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::ReservedName,
                        file,
                        span,
                        format!("enum value `{wire}` would be the variant `{variant}`, which an open enum keeps for values it does not declare"),
                    )
                    .help("choose another value, or leave the enum closed"),
                );
                continue;
            }
            if let Some((first, first_span)) = seen.get(&variant) {
                let message = if *first == wire {
                    format!("enum value `{wire}` is declared twice")
                } else {
                    format!("enum values `{first}` and `{wire}` both become `{variant}` in generated code")
                };
                self.error(
                    Diagnostic::error(crate::diag::Code::NameClash, file, span, message)
                        .note(file, first_span.clone(), "first declared here")
                        .help("remove one, or make them differ by more than case and punctuation"),
                );
                continue;
            }
            seen.insert(variant, (wire.clone(), span));
            let (doc, deprecated) = match v.get_ref() {
                OrTable::Short(_) => (None, None),
                OrTable::Full(f) => (
                    f.doc.as_deref().map(clean_doc),
                    deprecation(f.deprecated.as_ref()),
                ),
            };
            out.push(EnumValue {
                name: wire,
                doc,
                deprecated,
            });
        }
        out
    }

    pub(in crate::lower) fn lower_union(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        name: &Spanned<String>,
        t: &RawType,
    ) -> TypeKind {
        let file = m.raw.file;
        let tag = t
            .tag
            .as_ref()
            .map_or_else(|| "type".to_owned(), |t| t.get_ref().clone());
        if let Some(tag_spanned) = &t.tag {
            self.check_field_name(
                file,
                tag_spanned.get_ref(),
                tag_spanned.span(),
                "tag field",
                &|_| false,
            );
        }
        let Some(variants) = &t.variants else {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::MissingKey,
                    file,
                    name.span(),
                    format!("union `{}` declares no variants", name.get_ref()),
                )
                .help("add `variants = { text = \"TextBody\", image = \"ImageBody\" }`"),
            );
            return TypeKind::Union {
                tag,
                variants: Vec::new(),
                open: t.open.as_ref().is_some_and(|o| *o.get_ref()),
            };
        };
        let mut seen: HashMap<String, (String, Range<usize>)> = HashMap::new();
        let mut out = Vec::new();
        for (vname, raw) in &variants.get_ref().0 {
            let wire = vname.get_ref().clone();
            let pascal = names::to_pascal_case(&wire);
            if !names::is_pascal_case(&pascal) || pascal == "Self" {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidName,
                        file,
                        vname.span(),
                        format!("union variant `{wire}` has no usable name in Rust or TypeScript"),
                    )
                    .help("start the variant name with a letter"),
                );
                continue;
            }
            if pascal == names::UNKNOWN_VARIANT && t.open.as_ref().is_some_and(|o| *o.get_ref()) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::ReservedName,
                        file,
                        vname.span(),
                        format!("union variant `{wire}` would be the variant `{pascal}`, which an open union keeps for variants it does not declare"),
                    )
                    .help("choose another variant name, or leave the union closed"),
                );
                continue;
            }
            if let Some((first, first_span)) = seen.get(&pascal) {
                self.error(
                    Diagnostic::error(crate::diag::Code::NameClash, file, vname.span(), format!("union variants `{first}` and `{wire}` both become `{pascal}` in generated code"))
                        .note(file, first_span.clone(), "first declared here")
                        .help("make the variant names differ by more than case and punctuation"),
                );
                continue;
            }
            seen.insert(pascal, (wire.clone(), vname.span()));
            let (ty, doc, deprecated) = match raw.get_ref() {
                OrTable::Short(ty) => (Some(Spanned::new(raw.span(), ty.clone())), None, None),
                OrTable::Full(f) => (
                    f.ty.clone(),
                    f.doc.as_deref().map(clean_doc),
                    deprecation(f.deprecated.as_ref()),
                ),
            };
            let payload = match ty {
                None => None,
                Some(ty) => {
                    let resolved = self.resolve_type(m, symbols, ty.get_ref(), &ty.span());
                    match &resolved {
                        Some(TypeRef::Named {
                            module,
                            name: tname,
                        }) => match symbols.shape(module, tname) {
                            Some(Shape::Struct { fields }) => {
                                if fields.contains(&tag) {
                                    self.error(
                                        Diagnostic::error(crate::diag::Code::NameClash, file, ty.span(), format!("struct `{tname}` has a field named `{tag}`, the union's tag"))
                                            .label("the tag and this field would share one JSON key")
                                            .help(format!("rename the field, or set `tag = \"...\"` on union `{}` to another name", name.get_ref())),
                                    );
                                }
                                resolved
                            }
                            Some(Shape::Unknown) | None => resolved,
                            Some(_) => {
                                self.error(
                                    Diagnostic::error(crate::diag::Code::InvalidType, file, ty.span(), format!("variant `{wire}` carries `{tname}`, which is not a struct"))
                                        .label("union variants carry the fields of a struct")
                                        .help("declare a struct holding the value, for example `{ value = \"...\" }`"),
                                );
                                None
                            }
                        },
                        Some(other) => {
                            self.error(
                                Diagnostic::error(
                                    crate::diag::Code::InvalidType,
                                    file,
                                    ty.span(),
                                    format!(
                                        "variant `{wire}` carries `{other}`, which is not a struct"
                                    ),
                                )
                                .label("union variants carry the fields of a struct")
                                .help("declare a struct type holding the value and name it here"),
                            );
                            None
                        }
                        None => None,
                    }
                }
            };
            out.push(Variant {
                name: wire,
                doc,
                payload,
                deprecated,
            });
        }
        if out.is_empty() && variants.get_ref().0.is_empty() {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::InvalidValue,
                    file,
                    variants.span(),
                    format!("union `{}` declares no variants", name.get_ref()),
                )
                .help("a union needs at least one variant"),
            );
        }
        TypeKind::Union {
            tag,
            variants: out,
            open: t.open.as_ref().is_some_and(|o| *o.get_ref()),
        }
    }
}

/// "try `x`" with a name that is itself allowed and not `taken`: the recased name, or, when
/// that still starts with a digit or is not allowed (`1st`, `9Lives`, `ä`), the same with
/// `prefix` in front (`field_1st`, `T9Lives`). No name at all when neither would do.
pub(in crate::lower) fn suggest(
    recased: String,
    prefix: &str,
    valid: fn(&str) -> bool,
    taken: &dyn Fn(&str) -> bool,
) -> String {
    let candidates = [recased.clone(), format!("{prefix}{recased}")];
    match candidates.iter().find(|n| valid(n)) {
        Some(name) if !taken(name) => format!("try `{name}`"),
        Some(name) => format!("`{name}` is taken or reserved; choose another name"),
        None => "choose a name of ASCII letters, digits and `_`, starting with a letter".to_owned(),
    }
}
