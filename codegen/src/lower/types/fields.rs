//! Fields of structs and payloads: names, types, constraints and defaults, in order.

use std::collections::HashMap;
use std::ops::Range;

use tidings::schema::{Constraints, Field};

use super::suggest;
use crate::diag::Diagnostic;
use crate::lower::{clean_doc, deprecation, Lowering, ModuleCx, Symbols};
use crate::names;
use crate::raw::{Item, OrTable, OrderedMap, RawField};
use crate::source::FileId;

impl Lowering<'_> {
    /// Field and tag names: identifiers (each field also gets a Rust identifier, see
    /// [`names::rust_field_name`]).
    pub(in crate::lower) fn check_field_name(
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
    pub(in crate::lower) fn lower_fields(
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
}
