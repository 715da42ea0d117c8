//! The rooms a module's events name (`recipients.rooms = ["chat:{chat_id}"]`), as the typed
//! room builders of the Rust and TypeScript output: one table, used by both backends.
//!
//! A template used by several events is one room form. Its name comes from its literal text
//! (`chat:{chat_id}` → `chat`, `chat:{chat_id}:typing` → `chat_typing`, a template of
//! placeholders only → `room`), made unique within the module — a builder's name never equals
//! another form's reader name (`read_chat:{a}` next to `chat:{b}`); its parameters are the
//! placeholders' last path segments (`ticket.ticket_id` → `ticket_id`), in order. A name that
//! is a keyword stays as it is: the Rust backend writes it as a raw identifier (`r#match`),
//! TypeScript as a property (`rooms.match(…)`).

use tidings::schema::{Module, RoomPart, RoomTemplate, Rule, Schema, TypeRef};

use crate::names;

/// One form of room name of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomForm<'s> {
    /// The builder's name: a snake_case identifier, unique in the module.
    pub name: String,
    /// The form written with its parameters: `chat:{chat_id}` (for `chat:{message.chat_id}`
    /// and `chat:{chat_id}` alike — one form).
    pub form: String,
    /// The first template of this form the schema declares, and its parts.
    pub template: &'s RoomTemplate,
    /// The parameters, one per placeholder, in order (snake_case identifiers, unique).
    pub params: Vec<String>,
    /// Each parameter's types: the placeholder's field type (through optionals) in every
    /// template of this form, without repeats — one type unless two events' fields differ.
    pub types: Vec<Vec<TypeRef>>,
}

/// The room forms of `m` (a module of `schema`), in the order its events first use them.
pub fn of_module<'s>(schema: &'s Schema, m: &'s Module) -> Vec<RoomForm<'s>> {
    let mut forms: Vec<RoomForm<'s>> = Vec::new();
    let templates = m.events.iter().flat_map(|e| {
        e.recipients
            .iter()
            .flat_map(|r| r.rules.iter())
            .filter_map(move |rule| match rule {
                Rule::Room { template } => Some((e, template)),
                _ => None,
            })
    });
    for (event, template) in templates {
        let params = params_of(template);
        let form = form_of(template, &params);
        // Each parameter's type: its first placeholder's field ([`placeholder_params`]).
        let mut types: Vec<Option<TypeRef>> = vec![None; params.len()];
        let placeholders = template.parts.iter().filter_map(|p| match p {
            RoomPart::Field(path) => Some(path),
            RoomPart::Literal(_) => None,
        });
        for (path, i) in placeholders.zip(placeholder_params(template)) {
            if let Some(slot) = types.get_mut(i).filter(|t| t.is_none()) {
                let through = schema.path_fields(&event.payload, path);
                *slot = through
                    .last()
                    .filter(|_| through.len() == path.0.len())
                    .map(|f| f.ty.unwrap_optional().clone());
            }
        }
        if let Some(known) = forms.iter_mut().find(|f| f.form == form) {
            for (have, ty) in known.types.iter_mut().zip(types) {
                if let Some(ty) = ty.filter(|ty| !have.contains(ty)) {
                    have.push(ty);
                }
            }
            continue;
        }
        let types = types.into_iter().map(|t| t.into_iter().collect()).collect();
        // The literal text's words, snake_case: never two underscores in a row or a leading
        // digit (`1room:{id}` → `room_1room`), which Rust's `non_snake_case` lint refuses.
        let words: Vec<String> = template
            .parts
            .iter()
            .filter_map(|p| match p {
                RoomPart::Literal(text) => Some(names::words(text)),
                RoomPart::Field(_) => None,
            })
            .flatten()
            .collect();
        let base = match words.join("_") {
            b if b.is_empty() => "room".to_owned(),
            b if b.starts_with(|c: char| c.is_ascii_digit()) => format!("room_{b}"),
            b if names::is_rust_unusable(&b) => format!("{b}_"),
            b => b,
        };
        let name = unique(&base, |name| forms.iter().any(|f| clashes(&f.name, name)));
        forms.push(RoomForm {
            name,
            form,
            template,
            params,
            types,
        });
    }
    forms
}

/// Whether forms named `a` and `b` would share an identifier: a builder is named after its
/// form, its reader `read_` + that.
fn clashes(a: &str, b: &str) -> bool {
    a == b || format!("read_{a}") == b || a == format!("read_{b}")
}

/// `base`, or `base_2`, `base_3`, … (without doubling a trailing `_`): the first that is not
/// `taken`.
fn unique(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    let stem = base.trim_end_matches('_');
    (2..)
        .map(|n| format!("{stem}_{n}"))
        .find(|name| !taken(name))
        .unwrap_or_else(|| base.to_owned())
}

/// The parameters of a template: its placeholders' last segments, made unique; a placeholder
/// written twice (`x:{id}:{id}`) is one parameter ([`placeholder_params`]).
fn params_of(template: &RoomTemplate) -> Vec<String> {
    let mut params: Vec<String> = Vec::new();
    let placeholders = template.parts.iter().filter_map(|p| match p {
        RoomPart::Field(path) => Some(path),
        RoomPart::Literal(_) => None,
    });
    for (path, i) in placeholders.zip(placeholder_params(template)) {
        if i < params.len() {
            continue;
        }
        let last = path.0.last().map_or("value", String::as_str);
        let base = names::rust_field_name(last).unwrap_or_else(|| "value".to_owned());
        let param = unique(&base, |p| params.iter().any(|q| q == p));
        params.push(param);
    }
    params
}

/// For each placeholder of `template`, in order, the index of its parameter (a placeholder
/// written twice has one).
pub fn placeholder_params(template: &RoomTemplate) -> Vec<usize> {
    let mut seen: Vec<&tidings::schema::FieldPath> = Vec::new();
    template
        .parts
        .iter()
        .filter_map(|part| match part {
            RoomPart::Field(path) => Some(match seen.iter().position(|p| *p == path) {
                Some(i) => i,
                None => {
                    seen.push(path);
                    seen.len() - 1
                }
            }),
            RoomPart::Literal(_) => None,
        })
        .collect()
}

/// The template written with `params` for its placeholders.
fn form_of(template: &RoomTemplate, params: &[String]) -> String {
    let mut at = placeholder_params(template).into_iter();
    template
        .parts
        .iter()
        .map(|p| match p {
            RoomPart::Literal(text) => text.clone(),
            RoomPart::Field(_) => format!(
                "{{{}}}",
                at.next()
                    .and_then(|i| params.get(i))
                    .map_or("", String::as_str)
            ),
        })
        .collect()
}
