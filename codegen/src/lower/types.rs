//! Lowering of named types and fields: type expressions, constraints and defaults.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use tidings::schema::{
    Constraints, EnumValue, Field, Number, Primitive, TypeDef, TypeKind, TypeRef, Value, Variant,
};
use toml::Spanned;

use super::{clean_doc, deprecation, Lowering, ModuleCx, Shape, Symbols};
use crate::diag::Diagnostic;
use crate::names;
use crate::raw::{Dropped, Item, OrTable, OrderedMap, RawEnumValue, RawField, RawType};
use crate::source::FileId;
use crate::typeexpr::{self, TypeExpr};

const KINDS: [&str; 3] = ["struct", "enum", "union"];

/// The wire string of an enum value as written.
pub(crate) fn enum_value_name(v: &RawEnumValue) -> &str {
    match v {
        OrTable::Short(s) => s,
        OrTable::Full(f) => f.name.get_ref(),
    }
}

impl Lowering<'_> {
    /// Lowers every named type of a module.
    pub(super) fn lower_types(&mut self, m: &ModuleCx<'_>, symbols: &Symbols) -> Vec<TypeDef> {
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
    fn check_type_names(&mut self, m: &ModuleCx<'_>) {
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
    fn reject_keys(&mut self, m: &ModuleCx<'_>, t: &RawType, keys: &[&str], kind: &str) {
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

    fn lower_enum_values(
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
            if wire.is_empty() || !names::is_pascal_case(&variant) || variant == "Self" {
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

    fn lower_union(
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

    /// Field and tag names: identifiers (each field also gets a Rust identifier, see
    /// [`names::rust_field_name`]).
    pub(super) fn check_field_name(
        &mut self,
        file: FileId,
        name: &str,
        span: Range<usize>,
        what: &str,
        taken: &dyn Fn(&str) -> bool,
    ) -> bool {
        if !names::is_identifier(name) {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::InvalidName,
                    file,
                    span,
                    format!("invalid {what} name `{name}`"),
                )
                .label("names are letters, digits and `_`, not starting with a digit")
                .help(suggest(
                    names::to_snake_case(name),
                    "field_",
                    names::is_identifier,
                    taken,
                )),
            );
            return false;
        }
        if name == "__proto__" {
            self.error(
                Diagnostic::error(
                    crate::diag::Code::ReservedName,
                    file,
                    span,
                    format!("a {what} cannot be named `__proto__`"),
                )
                .label("in JavaScript, `__proto__` in an object literal sets the prototype")
                .help("choose another name, such as `proto`"),
            );
            return false;
        }
        true
    }

    /// Lowers the fields of a struct or an event payload.
    pub(super) fn lower_fields(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        fields: &OrderedMap<RawField>,
        owner: &str,
        owner_key: &(String, Item),
    ) -> Vec<Field> {
        let file = m.raw.file;
        let mut seen: HashMap<String, (String, Range<usize>)> = HashMap::new();
        let mut out = Vec::new();
        let taken = |n: &str| fields.0.iter().any(|(other, _)| other.get_ref() == n);
        for (name, raw) in &fields.0 {
            let fname = name.get_ref();
            if !self.check_field_name(file, fname, name.span(), "field", &taken) {
                continue;
            }
            let Some(rust) = names::rust_field_name(fname) else {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidName,
                        file,
                        name.span(),
                        format!("field name `{fname}` has no usable name in Rust"),
                    )
                    .label("a field name needs a letter or a digit")
                    .help("name the field with a word, such as `value`"),
                );
                continue;
            };
            if let Some((first, first_span)) = seen.get(&rust) {
                self.error(
                    Diagnostic::error(crate::diag::Code::NameClash, file, name.span(), format!("fields `{first}` and `{fname}` of {owner} both become `{rust}` in Rust"))
                        .note(file, first_span.clone(), "first declared here")
                        .help("rename one so that they differ by more than case, `_` and `-`"),
                );
                continue;
            }
            seen.insert(rust, (fname.clone(), name.span()));
            let (ty_text, ty_span) = match raw.get_ref() {
                OrTable::Short(ty) => (ty.as_str(), raw.span()),
                OrTable::Full(full) => (full.ty.get_ref().as_str(), full.ty.span()),
            };
            let Some(ty) = self.resolve_type(m, symbols, ty_text, &ty_span) else {
                self.unresolved.insert((
                    owner_key.0.clone(),
                    owner_key.1.clone(),
                    Some(fname.clone()),
                ));
                continue;
            };
            let mut field = Field {
                name: fname.clone(),
                doc: None,
                ty,
                constraints: Constraints::default(),
                default: None,
                deprecated: None,
                location: Some(self.location(file, name.span())),
            };
            if let OrTable::Full(full) = raw.get_ref() {
                field.doc = full.doc.as_deref().map(clean_doc);
                field.deprecated = deprecation(full.deprecated.as_ref());
                field.constraints = self.lower_constraints(m, &field.ty, full, fname);
                if let Some(default) = &full.default {
                    field.default = self.lower_default(m, symbols, &field, default);
                }
            }
            if !field.is_required() && names::JS_OBJECT_MEMBERS.contains(&fname.as_str()) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::ReservedName,
                        file,
                        name.span(),
                        format!("an optional field cannot be named `{fname}`"),
                    )
                    .label("every JavaScript object inherits one, so TypeScript cannot type it as absent")
                    .help("make the field required, or choose another name"),
                );
            }
            out.push(field);
        }
        out
    }

    fn lower_constraints(
        &mut self,
        m: &ModuleCx<'_>,
        ty: &TypeRef,
        full: &crate::raw::RawFieldFull,
        fname: &str,
    ) -> Constraints {
        let file = m.raw.file;
        let inner = ty.unwrap_optional();
        let number = match inner {
            TypeRef::Primitive(p) if p.is_number() => Some(*p),
            _ => None,
        };
        let has_length = matches!(
            inner,
            TypeRef::Primitive(Primitive::String) | TypeRef::List(_) | TypeRef::Map(_)
        );
        let mut c = Constraints::default();
        for (key, raw, slot) in [
            ("min", &full.min, &mut c.min),
            ("max", &full.max, &mut c.max),
        ] {
            let Some(raw) = raw else { continue };
            let Some(p) = number else {
                let help = if has_length {
                    format!("to bound the length, write `{key}_length`")
                } else {
                    format!("`{key}` applies to number types; `{fname}` is `{ty}`")
                };
                self.constraint_mismatch(
                    file,
                    raw.span(),
                    key,
                    inner,
                    format!("`{fname}` is not a number"),
                    help,
                );
                continue;
            };
            *slot = self.number_bound(file, raw, p, key);
        }
        for (key, raw, slot) in [
            ("min_length", &full.min_length, &mut c.min_length),
            ("max_length", &full.max_length, &mut c.max_length),
        ] {
            let Some(raw) = raw else { continue };
            if !has_length {
                let help = if number.is_some() {
                    format!(
                        "to bound the value, write `{}`",
                        key.trim_end_matches("_length")
                    )
                } else {
                    "lengths apply to strings, lists and maps".to_owned()
                };
                self.constraint_mismatch(
                    file,
                    raw.span(),
                    key,
                    inner,
                    format!("`{fname}` has no length"),
                    help,
                );
                continue;
            }
            match u64::try_from(*raw.get_ref()) {
                Ok(n) => *slot = Some(n),
                Err(_) => self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        raw.span(),
                        format!("`{key}` cannot be negative"),
                    )
                    .help("write a length of 0 or more"),
                ),
            }
        }
        if let (Some(min), Some(max), Some(span)) =
            (c.min, c.max, full.min.as_ref().map(Spanned::span))
        {
            if min.cmp_exact(max) == Some(std::cmp::Ordering::Greater) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        span,
                        format!("`min` ({min}) is greater than `max` ({max})"),
                    )
                    .help("no value could satisfy both; swap them or fix one"),
                );
            }
        }
        if let (Some(min), Some(max), Some(span)) = (
            c.min_length,
            c.max_length,
            full.min_length.as_ref().map(Spanned::span),
        ) {
            if min > max {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        span,
                        format!("`min_length` ({min}) is greater than `max_length` ({max})"),
                    )
                    .help("no value could satisfy both; swap them or fix one"),
                );
            }
        }
        c
    }

    fn constraint_mismatch(
        &mut self,
        file: FileId,
        span: Range<usize>,
        key: &str,
        ty: &TypeRef,
        label: String,
        help: String,
    ) {
        self.error(
            Diagnostic::error(
                crate::diag::Code::InvalidConstraint,
                file,
                span,
                format!("`{key}` does not apply to `{ty}`"),
            )
            .label(label)
            .help(help),
        );
    }

    /// A bound that a JavaScript number cannot hold exactly is kept exactly in Rust and JSON
    /// Schema; the TypeScript guard compares against the nearest number inside it. Said, not
    /// done silently.
    fn warn_inexact_in_js(&mut self, file: FileId, span: Range<usize>, key: &str, bound: Number) {
        if bound.is_exact_in_f64() {
            return;
        }
        self.error(
            Diagnostic::warning(
                crate::diag::Code::InexactInJavascript,
                file,
                span,
                format!("`{key}` = {bound} is not exactly a JavaScript number"),
            )
            .label("JavaScript numbers hold integers exactly only up to 2^53 - 1")
            .help(if key == "default" {
                format!(
                    "Rust and the JSON Schema use {bound} exactly; TypeScript fills in the nearest \
                     JavaScript number ({})",
                    crate::numbers::js_literal(bound.to_f64())
                )
            } else {
                format!(
                    "Rust and the JSON Schema check {bound} exactly; the TypeScript guard checks \
                     the nearest JavaScript number inside the bound ({})",
                    crate::numbers::js_inward(bound, key == "min")
                )
            }),
        );
    }

    /// A bound of an `f32` field must be a number an `f32` is on the wire (its shortest
    /// decimal form): the value it checks is the `f32` the field holds, so a bound between two
    /// `f32`s (`0.3333333333333333`) would pass a document whose `f32` then fails. Refused, with
    /// the two `f32`s around it.
    fn f32_bound(
        &mut self,
        file: FileId,
        span: Range<usize>,
        key: &str,
        p: Primitive,
        bound: Number,
    ) -> Option<Number> {
        if p != Primitive::F32 {
            return Some(bound);
        }
        let on_wire = |x: f32| -> f64 { format!("{x:e}").parse().unwrap_or(f64::NAN) };
        #[allow(clippy::cast_possible_truncation)]
        let near = bound.to_f64() as f32;
        if bound.cmp_exact(Number::Float(on_wire(near))) == Some(std::cmp::Ordering::Equal) {
            return Some(bound);
        }
        // The neighbouring f32 towards the bound (one step of the bit pattern; no NaN here).
        let step = |x: f32, up: bool| {
            let bits = x.to_bits();
            f32::from_bits(if (x >= 0.0) == up { bits + 1 } else { bits - 1 })
        };
        let (below, above) =
            if bound.cmp_exact(Number::Float(f64::from(near))) == Some(std::cmp::Ordering::Less) {
                (step(near, false), near)
            } else {
                (near, step(near, true))
            };
        self.error(
            Diagnostic::error(
                crate::diag::Code::InvalidConstraint,
                file,
                span,
                format!("`{key}` = {bound} is not a value an `f32` holds"),
            )
            .label("the field holds an `f32`, and its bounds are checked on it")
            .help(format!(
                "the nearest `f32`s are {below} and {above}; write one of them"
            )),
        );
        None
    }

    fn number_bound(
        &mut self,
        file: FileId,
        raw: &Spanned<toml::Value>,
        p: Primitive,
        key: &str,
    ) -> Option<Number> {
        let span = raw.span();
        match (raw.get_ref(), p.integer_range()) {
            (toml::Value::Integer(n), Some((lo, hi))) => {
                if i128::from(*n) < lo || i128::from(*n) > hi {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidConstraint,
                            file,
                            span,
                            format!("`{key}` = {n} is outside the range of `{}`", p.as_str()),
                        )
                        .help(format!("`{}` holds {lo} to {hi}", p.as_str())),
                    );
                    return None;
                }
                let bound = Number::Int(i128::from(*n));
                self.warn_inexact_in_js(file, span, key, bound);
                Some(bound)
            }
            (toml::Value::Float(x), Some(_)) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidConstraint,
                        file,
                        span,
                        format!(
                            "`{key}` = {x} is not an integer, but the field is `{}`",
                            p.as_str()
                        ),
                    )
                    .help("write a whole number, or make the field `f64`"),
                );
                None
            }
            (toml::Value::Integer(n), None) => {
                let bound = Number::Int(i128::from(*n));
                self.warn_inexact_in_js(file, span.clone(), key, bound);
                self.f32_bound(file, span, key, p, bound)
            }
            (toml::Value::Float(x), None) => match finite(*x, p) {
                Ok(x) => self.f32_bound(file, span, key, p, Number::Float(x)),
                Err(why) => {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidConstraint,
                            file,
                            span,
                            format!("`{key}` cannot bound an `{}`", p.as_str()),
                        )
                        .label(why)
                        .help(format!("write a finite number, for example `{key} = 0.0`")),
                    );
                    None
                }
            },
            (other, _) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidValue,
                        file,
                        span,
                        format!("`{key}` must be a number, found {}", other.type_str()),
                    )
                    .help(format!("write for example `{key} = 0`")),
                );
                None
            }
        }
    }

    fn lower_default(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        field: &Field,
        raw: &Spanned<toml::Value>,
    ) -> Option<Value> {
        // Bounds that contradict each other are reported on their own: no value meets them,
        // and saying so of the default too would repeat it.
        let c = &field.constraints;
        let contradictory = matches!((c.min, c.max), (Some(a), Some(b)) if a.cmp_exact(b) == Some(std::cmp::Ordering::Greater))
            || matches!((c.min_length, c.max_length), (Some(a), Some(b)) if a > b);
        let result =
            default_value(raw.get_ref(), field.ty.unwrap_optional(), symbols).and_then(|v| {
                if contradictory {
                    Ok(v)
                } else {
                    check_default_constraints(&v, c).map(|()| v)
                }
            });
        if let (Ok(Value::Int(n)), TypeRef::Primitive(p)) = (&result, field.ty.unwrap_optional()) {
            if p.is_integer() {
                self.warn_inexact_in_js(
                    m.raw.file,
                    raw.span(),
                    "default",
                    Number::Int(i128::from(*n)),
                );
            }
        }
        match result {
            Ok(v) => Some(v),
            Err(why) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidDefault,
                        m.raw.file,
                        raw.span(),
                        format!("invalid default for field `{}`", field.name),
                    )
                    .label(why)
                    .help(format!(
                        "the default must be a valid `{}`",
                        field.ty.unwrap_optional()
                    )),
                );
                None
            }
        }
    }

    /// Parses and resolves a type expression written in the string at `span`.
    pub(super) fn resolve_type(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        text: &str,
        span: &Range<usize>,
    ) -> Option<TypeRef> {
        let base = self.literal(m.raw.file, span);
        match typeexpr::parse(text) {
            Ok(expr) => self.resolve_expr(m, symbols, &expr, &base),
            Err(e) => {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::InvalidType,
                        m.raw.file,
                        base.span(e.span.start..e.span.end.max(e.span.start)),
                        format!("invalid type `{}`", shortened(text)),
                    )
                    .label(e.message)
                    .help(e.help),
                );
                None
            }
        }
    }

    fn resolve_expr(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        expr: &TypeExpr,
        base: &super::literal::Literal,
    ) -> Option<TypeRef> {
        let file = m.raw.file;
        match expr {
            TypeExpr::Optional(inner, span) => {
                if let TypeExpr::Name {
                    module: None, name, ..
                } = &**inner
                {
                    if name == "json" {
                        self.error(
                            Diagnostic::warning(
                                crate::diag::Code::RedundantOptional,
                                file,
                                base.span(span.clone()),
                                "`json?` is the same as `json`",
                            )
                            .label("`json` already admits `null`")
                            .help("write `json`"),
                        );
                    }
                }
                Some(TypeRef::Optional(Box::new(
                    self.resolve_expr(m, symbols, inner, base)?,
                )))
            }
            TypeExpr::List(inner) => Some(TypeRef::List(Box::new(
                self.resolve_expr(m, symbols, inner, base)?,
            ))),
            TypeExpr::Map(inner) => Some(TypeRef::Map(Box::new(
                self.resolve_expr(m, symbols, inner, base)?,
            ))),
            TypeExpr::Name { module, name, span } => {
                let span = base.span(span.clone());
                self.resolve_name(m, symbols, module.as_deref(), name, span)
            }
        }
    }

    fn resolve_name(
        &mut self,
        m: &ModuleCx<'_>,
        symbols: &Symbols,
        module: Option<&str>,
        name: &str,
        span: Range<usize>,
    ) -> Option<TypeRef> {
        let file = m.raw.file;
        let local = symbols.types.get(&m.name);
        match module {
            None => {
                if let Some(p) = Primitive::from_name(name) {
                    return Some(TypeRef::Primitive(p));
                }
                if local.is_some_and(|t| t.contains_key(name)) {
                    return Some(TypeRef::Named {
                        module: m.name.clone(),
                        name: name.to_owned(),
                    });
                }
                let mut candidates: Vec<String> = Primitive::ALL
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect();
                candidates.extend(local.into_iter().flat_map(|t| t.keys().cloned()));
                let mut help = names::suggestion(name, candidates.iter().map(String::as_str));
                if help.is_none() {
                    // Perhaps the type lives in an imported (or importable) module.
                    let owner = symbols
                        .types
                        .iter()
                        .find(|(_, t)| t.contains_key(name))
                        .map(|(k, _)| k.clone());
                    help = Some(match owner {
                        Some(owner) => format!("`{name}` is declared in module `{owner}`: write `{owner}.{name}`"),
                        None => "built-in types are string, bool, i8…i64, u8…u64, f32, f64, uuid, timestamp and json; `[T]` is a list, `map<T>` a map, `T?` optional".to_owned(),
                    });
                }
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::UnknownType,
                        file,
                        span,
                        format!("unknown type `{name}`"),
                    )
                    .label(format!(
                        "not a built-in type or a type of module `{}`",
                        m.name
                    ))
                    .maybe_help(help),
                );
                None
            }
            Some(owner) => {
                let imported = owner == m.name
                    || m.raw.imports_unreadable
                    || symbols
                        .imports
                        .get(&m.name)
                        .is_some_and(|i| i.iter().any(|x| x == owner));
                let Some(table) = symbols.types.get(owner) else {
                    // An import of no module was reported at the import: once is enough.
                    if m.raw.imports.iter().any(|i| i.get_ref() == owner) {
                        return None;
                    }
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::UnknownType,
                            file,
                            span,
                            format!("unknown module `{owner}` in type `{owner}.{name}`"),
                        )
                        .maybe_help(
                            names::suggestion(owner, symbols.types.keys().map(String::as_str))
                                .or_else(|| {
                                    Some(format!(
                                        "is the file declaring module `{owner}` among the paths given?"
                                    ))
                                }),
                        ),
                    );
                    return None;
                };
                if !table.contains_key(name) {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::UnknownType,
                            file,
                            span,
                            format!("module `{owner}` has no type `{name}`"),
                        )
                        .maybe_help(names::suggestion(name, table.keys().map(String::as_str))),
                    );
                    return None;
                }
                if !imported {
                    self.error(
                        Diagnostic::error(crate::diag::Code::MissingImport, file, span, format!("type `{owner}.{name}` is used but module `{owner}` is not imported"))
                            .help(format!("add `imports = [\"{owner}\"]` at the top of the file")),
                    );
                    return None;
                }
                Some(TypeRef::Named {
                    module: owner.to_owned(),
                    name: name.to_owned(),
                })
            }
        }
    }
}

/// Converts a TOML default into an IR value of type `ty`, or says why it does not fit.
fn default_value(v: &toml::Value, ty: &TypeRef, symbols: &Symbols) -> Result<Value, String> {
    let mismatch = |want: &str| format!("expected {want}, found {}", toml_kind(v));
    match ty {
        TypeRef::Optional(inner) => default_value(v, inner, symbols),
        TypeRef::Primitive(p) => match (p, v) {
            (Primitive::Json, v) => json_value(v),
            (Primitive::String, toml::Value::String(s)) => Ok(Value::String(s.clone())),
            // The rule the wire uses (`tidings::format`): a date, a time and an offset. A TOML
            // date or local time (`2024-01-01`, `10:30:00`) is not a timestamp.
            (Primitive::Timestamp, toml::Value::Datetime(d))
                if tidings::format::is_timestamp(&d.to_string()) =>
            {
                Ok(Value::String(d.to_string()))
            }
            (Primitive::Timestamp, toml::Value::String(s)) if tidings::format::is_timestamp(s) => {
                Ok(Value::String(s.clone()))
            }
            (Primitive::Timestamp, _) => Err(mismatch(
                "an RFC 3339 timestamp with a date, a time and an offset (`2024-01-01T10:30:00Z`)",
            )),
            (Primitive::Uuid, toml::Value::String(s)) if tidings::format::is_uuid(s) => {
                Ok(Value::String(s.clone()))
            }
            (Primitive::Uuid, _) => Err(mismatch("a hyphenated UUID string")),
            (Primitive::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            (p, toml::Value::Integer(n)) if p.is_integer() => {
                let (lo, hi) = p.integer_range().unwrap_or((0, 0));
                if i128::from(*n) < lo || i128::from(*n) > hi {
                    Err(format!(
                        "{n} is outside the range of `{}` ({lo} to {hi})",
                        p.as_str()
                    ))
                } else {
                    Ok(Value::Int(*n))
                }
            }
            (p @ (Primitive::F32 | Primitive::F64), toml::Value::Float(x)) => {
                finite(*x, *p).map(Value::Float)
            }
            (Primitive::F32 | Primitive::F64, toml::Value::Integer(n)) => {
                Ok(Value::Float(*n as f64))
            }
            (p, _) => Err(mismatch(&format!("a `{}`", p.as_str()))),
        },
        TypeRef::List(inner) => match v {
            toml::Value::Array(items) => items
                .iter()
                .map(|i| default_value(i, inner, symbols))
                .collect::<Result<_, _>>()
                .map(Value::List),
            _ => Err(mismatch("an array")),
        },
        TypeRef::Map(inner) => match v {
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, i)| default_value(i, inner, symbols).map(|v| (k.clone(), v)))
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Value::Map),
            _ => Err(mismatch("a table")),
        },
        TypeRef::Named { module, name } => match (symbols.shape(module, name), v) {
            (Some(Shape::Enum { values }), toml::Value::String(s)) => {
                if values.contains(s) {
                    Ok(Value::String(s.clone()))
                } else {
                    Err(format!(
                        "`{s}` is not a value of enum `{name}`{}",
                        names::suggestion(s, values.iter().map(String::as_str))
                            .map(|h| format!("; {h}"))
                            .unwrap_or_default()
                    ))
                }
            }
            (Some(Shape::Enum { .. }), _) => Err(mismatch(&format!("a value of enum `{name}`"))),
            // The type has an error of its own, reported already.
            (Some(Shape::Unknown), v) => json_value(v),
            _ => Err(format!(
                "defaults are not supported for `{name}`; only for scalars, enums, lists and maps"
            )),
        },
    }
}

fn check_default_constraints(v: &Value, c: &Constraints) -> Result<(), String> {
    let number = match v {
        Value::Int(n) => Some(Number::Int(i128::from(*n))),
        Value::Float(x) => Some(Number::Float(*x)),
        _ => None,
    };
    if let Some(x) = number {
        let below = |min: &Number| x.cmp_exact(*min) == Some(std::cmp::Ordering::Less);
        let above = |max: &Number| x.cmp_exact(*max) == Some(std::cmp::Ordering::Greater);
        if c.min.as_ref().is_some_and(below) || c.max.as_ref().is_some_and(above) {
            return Err(format!("{x} is outside the field's bounds"));
        }
    }
    let length = match v {
        Value::String(s) => Some(s.chars().count() as u64),
        Value::List(l) => Some(l.len() as u64),
        Value::Map(m) => Some(m.len() as u64),
        _ => None,
    };
    if let Some(len) = length {
        if c.min_length.is_some_and(|min| len < min) || c.max_length.is_some_and(|max| len > max) {
            return Err(format!(
                "its length {len} is outside the field's length bounds"
            ));
        }
    }
    Ok(())
}

fn json_value(v: &toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(n) => Value::Int(*n),
        toml::Value::Float(x) => Value::Float(finite(*x, Primitive::F64)?),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::List(a.iter().map(json_value).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => Value::Map(
            t.iter()
                .map(|(k, v)| json_value(v).map(|v| (k.clone(), v)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A float default or bound of a field of type `p`, or why it cannot be one: JSON has no
/// `NaN` or infinities, and an `f32` holds magnitudes up to about 3.4e38.
fn finite(x: f64, p: Primitive) -> Result<f64, String> {
    if !x.is_finite() {
        let toml = if x.is_nan() {
            "nan"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        Err(format!(
            "`{toml}` is not a finite number, and JSON has no form for it"
        ))
    } else if p.float_max().is_some_and(|max| x.abs() > max) {
        Err(format!(
            "{x:e} is outside the range of `f32` (at most about 3.4e38)"
        ))
    } else {
        Ok(x)
    }
}

fn toml_kind(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{s}\""),
        toml::Value::Integer(n) => format!("the integer {n}"),
        toml::Value::Float(x) => format!("the float {x}"),
        toml::Value::Boolean(b) => format!("`{b}`"),
        other => other.type_str().to_owned(),
    }
}

/// A type expression for a message: whole when short, else its start and `…` (the caret shows
/// the place).
fn shortened(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// "try `x`" with a name that is itself allowed and not `taken`: the recased name, or, when
/// that still starts with a digit or is not allowed (`1st`, `9Lives`, `ä`), the same with
/// `prefix` in front (`field_1st`, `T9Lives`). No name at all when neither would do.
pub(super) fn suggest(
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
