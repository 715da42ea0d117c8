//! The TypeScript backend: one module file per schema module, `index.ts`, the client runtime
//! (hand-written, `codegen/ts/runtime.ts`, embedded verbatim) and, on request, a React adapter.
//!
//! Pure: `generate(&schema, &options)` returns file names and contents, deterministic, no I/O.

mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use askama::Template;
use tidings::schema::{EventDef, Field, Module, Schema, TypeDef, TypeKind, TypeRef};

use crate::names;
use crate::shapes::{input_name, Inputs};
use render::{field_check, field_tags, js_string, jsdoc, property, ts_type, Shape};

/// The hand-written client runtime, embedded into every generated output.
pub const RUNTIME_TS: &str = include_str!("../../ts/runtime.ts");
/// The hand-written React adapter, embedded when asked for.
pub const REACT_TS: &str = include_str!("../../ts/react.ts");
/// The hand-written Vue adapter, embedded when asked for.
pub const VUE_TS: &str = include_str!("../../ts/vue.ts");
/// The hand-written publisher of `tidings serve`'s HTTP API, embedded when asked for.
pub const PUBLISHER_TS: &str = include_str!("../../ts/publisher.ts");

/// File names the generated output uses for itself; no module may take them (`tidings check`
/// refuses such modules, see [`names::reserved_module_name`]).
pub const RESERVED_FILES: [&str; 5] = names::TS_OUTPUT_FILES;

/// Options of the TypeScript backend.
#[derive(Debug, Clone, Default)]
pub struct TsOptions {
    /// Also emit `react.ts`: `TidingsProvider`, the hooks (`useTidingsEvent`,
    /// `useConnectionState`, `useTidingsRequest`, `useRoom`, `useOperations`, …) and
    /// `withTidings` (docs/typescript.md, "React"). Needs React >= 18.
    pub react: bool,
    /// Also emit `vue.ts`: the plugin (`createTidings`) and the composables with the same
    /// meaning as the React hooks (docs/typescript.md, "Vue"). Needs Vue >= 3.5.
    pub vue: bool,
    /// Also emit `publisher.ts`: `createPublisher`, whose `publish(EVENT, data)` posts to a
    /// `tidings serve`'s publish API, typed by the payload types (docs/serve.md). For the
    /// app's backend (Node 18+): it holds an API key.
    pub publisher: bool,
}

/// Generates the TypeScript output for a schema: file name → contents.
pub fn generate(schema: &Schema, options: &TsOptions) -> BTreeMap<PathBuf, String> {
    let inputs = Inputs::new(schema);
    let mut files = BTreeMap::new();
    for m in &schema.modules {
        files.insert(
            PathBuf::from(format!("{}.ts", m.name)),
            module_file(schema, m, &inputs),
        );
    }
    let [index, runtime, react, vue, publisher] = RESERVED_FILES;
    files.insert(PathBuf::from(format!("{index}.ts")), index_file(schema));
    files.insert(
        PathBuf::from(format!("{runtime}.ts")),
        RUNTIME_TS.to_owned(),
    );
    if options.react {
        files.insert(PathBuf::from(format!("{react}.ts")), REACT_TS.to_owned());
    }
    if options.vue {
        files.insert(PathBuf::from(format!("{vue}.ts")), VUE_TS.to_owned());
    }
    if options.publisher {
        files.insert(
            PathBuf::from(format!("{publisher}.ts")),
            PUBLISHER_TS.to_owned(),
        );
    }
    files
}

struct FieldView {
    doc: String,
    decl: String,
    /// The declaration in the written shape (see `crate::shapes`).
    input_decl: String,
    check: String,
}

struct VariantView {
    doc: String,
    tag: String,
    ty: String,
    input_ty: String,
    check: String,
}

struct TypeView {
    doc: String,
    name: String,
    kind: &'static str,
    fields: Vec<FieldView>,
    values: Vec<String>,
    tag: String,
    tag_js: String,
    tag_path: String,
    variants: Vec<VariantView>,
    tags: Vec<String>,
    /// An open enum or union (it reads values it does not declare).
    open: bool,
    /// The name of the written shape, when it differs from the read one.
    input: Option<String>,
}

struct EventView {
    doc: String,
    constant: String,
    constant_doc: String,
    wire: String,
    key: String,
    name: String,
    fields: Vec<FieldView>,
    /// The name of the payload's written shape, when it differs from the read one.
    input: Option<String>,
    server_sends: bool,
    client_sends: bool,
    reply: Option<String>,
}

#[derive(Template)]
#[template(path = "ts/module.ts.askama", escape = "none")]
struct ModuleFile {
    name: String,
    header: String,
    imports: Vec<String>,
    types: Vec<TypeView>,
    events: Vec<EventView>,
    /// The room builders (`rooms.chat({ chat_id })`), or nothing without room rules.
    rooms: String,
}

/// `export const rooms = { … }`: a builder per room form of the module ([`crate::rooms`]).
fn rooms_ts(schema: &Schema, m: &Module) -> String {
    let forms = crate::rooms::of_module(schema, m);
    if forms.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "/** Room names of module `{}`, as its events' recipient rules form them: `client.join(rooms.…({{ … }}))`. */\nexport const rooms = {{\n",
        m.name
    );
    for f in &forms {
        let expr: Vec<String> = {
            // A placeholder written twice is one parameter.
            let mut at = crate::rooms::placeholder_params(f.template).into_iter();
            f.template
                .parts
                .iter()
                .filter_map(|p| match p {
                    tidings::schema::RoomPart::Literal(text) if text.is_empty() => None,
                    tidings::schema::RoomPart::Literal(text) => Some(js_string(text)),
                    tidings::schema::RoomPart::Field(_) => at
                        .next()
                        .and_then(|i| f.params.get(i))
                        .map(|name| format!("String(p.{name})")),
                })
                .collect()
        };
        let expr = if expr.is_empty() {
            "\"\"".to_owned()
        } else {
            expr.join(" + ")
        };
        // Each parameter typed as its placeholder's field (a union when events differ).
        let param_type = f
            .params
            .iter()
            .zip(&f.types)
            .map(|(p, types)| {
                let ty = if types.is_empty() {
                    "string | number".to_owned()
                } else {
                    types
                        .iter()
                        .map(|t| ts_type(t, &m.name, Shape::Read))
                        .collect::<Vec<_>>()
                        .join(" | ")
                };
                format!("{p}: {ty}")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let arg = if f.params.is_empty() {
            String::new()
        } else {
            format!("p: {{ {param_type} }}")
        };
        out.push_str(&format!(
            "  /** `{}` */\n  {}: ({arg}): string => {expr},\n",
            f.form.replace("*/", "*\\/"),
            f.name
        ));
    }
    out.push_str("} as const;\n\n");
    out
}

#[derive(Template)]
#[template(path = "ts/index.ts.askama", escape = "none")]
struct IndexFile {
    modules: Vec<String>,
    server_extends: String,
    client_extends: String,
    replies_extends: String,
    guards: String,
}

fn fields(list: &[Field], current: &str, inputs: &Inputs) -> Vec<FieldView> {
    list.iter()
        .map(|f| FieldView {
            doc: jsdoc(
                f.doc.as_deref(),
                f.deprecated.as_ref(),
                &field_tags(f),
                "  ",
            ),
            decl: property(f, current, Shape::Read),
            input_decl: property(f, current, Shape::Write(inputs)),
            check: field_check(f, current),
        })
        .collect()
}

fn type_view(t: &TypeDef, current: &str, inputs: &Inputs) -> TypeView {
    let mut view = TypeView {
        doc: jsdoc(t.doc.as_deref(), t.deprecated.as_ref(), &[], ""),
        name: t.name.clone(),
        kind: "struct",
        fields: Vec::new(),
        values: Vec::new(),
        tag: String::new(),
        tag_js: String::new(),
        tag_path: String::new(),
        variants: Vec::new(),
        tags: Vec::new(),
        open: false,
        input: inputs
            .differs(&TypeRef::Named {
                module: current.to_owned(),
                name: t.name.clone(),
            })
            .then(|| input_name(&t.name)),
    };
    match &t.kind {
        TypeKind::Struct { fields: f } => view.fields = fields(f, current, inputs),
        TypeKind::Enum { values, open } => {
            view.kind = "enum";
            view.open = *open;
            view.values = values.iter().map(|v| js_string(&v.name)).collect();
            let mut lines = vec!["Values:".to_owned()];
            lines.extend(values.iter().map(|v| {
                let mut line = format!("- `{}`", v.name);
                if let Some(d) = &v.doc {
                    line.push_str(&format!(": {}", d.replace('\n', " ")));
                }
                if let Some(dep) = &v.deprecated {
                    let note = dep
                        .note
                        .as_ref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default();
                    line.push_str(&format!(" (deprecated{note})"));
                }
                line
            }));
            view.doc = jsdoc(t.doc.as_deref(), t.deprecated.as_ref(), &lines, "");
        }
        TypeKind::Union {
            tag,
            variants,
            open,
        } => {
            view.kind = "union";
            view.open = *open;
            view.tag = tag.clone();
            view.tag_js = js_string(tag);
            view.tag_path = js_string(&format!(".{tag}"));
            view.tags = variants.iter().map(|v| js_string(&v.name)).collect();
            view.variants = variants
                .iter()
                .map(|v| {
                    let head = format!(
                        "{{ {}: {} }}",
                        render::property_name(tag),
                        js_string(&v.name)
                    );
                    let (ty, input_ty, check) = match &v.payload {
                        Some(p) => (
                            format!("({head} & {})", ts_type(p, current, Shape::Read)),
                            format!("({head} & {})", ts_type(p, current, Shape::Write(inputs))),
                            format!("return {};", render::check(p, "$o", "$p", None, current, 0)),
                        ),
                        None => (head.clone(), head, "return null;".to_owned()),
                    };
                    VariantView {
                        doc: jsdoc(v.doc.as_deref(), v.deprecated.as_ref(), &[], "  "),
                        tag: js_string(&v.name),
                        ty,
                        input_ty,
                        check,
                    }
                })
                .collect();
        }
    }
    view
}

fn event_view(m: &Module, e: &EventDef, inputs: &Inputs) -> EventView {
    let mut tags = vec![format!(
        "Sent by {}; {}.",
        match (e.direction.server_sends(), e.direction.client_sends()) {
            (true, true) => "the server and clients",
            (true, false) => "the server",
            _ => "clients",
        },
        if e.direction.server_sends() {
            e.delivery.as_str()
        } else {
            "handled by the server"
        }
    )];
    if e.direction.server_sends() {
        tags.push(format!("Recipients: {}.", crate::summary::recipients(e)));
    }
    if let Some(r) = &e.reply {
        tags.push(format!("Reply: `{r}`."));
    }
    EventView {
        doc: jsdoc(
            Some(&crate::summary::payload_doc(e)),
            e.deprecated.as_ref(),
            &tags,
            "",
        ),
        constant: names::event_constant(&m.name, &e.key),
        constant_doc: jsdoc(e.doc.as_deref(), e.deprecated.as_ref(), &[], ""),
        wire: js_string(&e.name),
        key: e.key.clone(),
        name: names::event_type_name(&e.key),
        fields: fields(&e.payload, &m.name, inputs),
        // Only senders in TypeScript need the written shape of a payload.
        input: (e.direction.client_sends() && inputs.fields_differ(&e.payload))
            .then(|| input_name(&names::event_type_name(&e.key))),
        server_sends: e.direction.server_sends(),
        client_sends: e.direction.client_sends(),
        reply: e.reply.as_ref().map(|r| ts_type(r, &m.name, Shape::Read)),
    }
}

/// Modules a module's types and events refer to.
fn referenced(m: &Module) -> Vec<String> {
    let types = m.types.iter().flat_map(|t| t.kind.members());
    let events = m.events.iter().flat_map(|e| e.type_refs());
    let mut out: BTreeSet<String> = types
        .chain(events)
        .filter_map(|ty| ty.named().map(|(module, _)| module.to_owned()))
        .collect();
    out.remove(&m.name);
    out.into_iter().collect()
}

fn module_file(schema: &Schema, m: &Module, inputs: &Inputs) -> String {
    let mut tags = Vec::new();
    if let Some(v) = &m.version {
        tags.push(format!("Version {v}."));
    }
    let file = ModuleFile {
        name: m.name.clone(),
        header: jsdoc(
            Some(&format!(
                "Module `{}`.{}",
                m.name,
                m.description
                    .as_deref()
                    .map(|d| format!("\n\n{d}"))
                    .unwrap_or_default()
            )),
            None,
            &tags,
            "",
        ),
        imports: referenced(m),
        types: m
            .types
            .iter()
            .map(|t| type_view(t, &m.name, inputs))
            .collect(),
        events: m.events.iter().map(|e| event_view(m, e, inputs)).collect(),
        rooms: rooms_ts(schema, m),
    };
    render_template(&file)
}

fn index_file(schema: &Schema) -> String {
    let modules: Vec<String> = schema.modules.iter().map(|m| m.name.clone()).collect();
    let extends = |what: &str| {
        if modules.is_empty() {
            String::new()
        } else {
            format!(
                " extends {}",
                modules
                    .iter()
                    .map(|m| format!("{m}.{what}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let file = IndexFile {
        server_extends: extends("ServerEvents"),
        client_extends: extends("ClientEvents"),
        replies_extends: extends("Replies"),
        guards: modules
            .iter()
            .map(|m| format!("...{m}.guards"))
            .collect::<Vec<_>>()
            .join(", "),
        modules,
    };
    render_template(&file)
}

fn render_template(t: &impl Template) -> String {
    // The templates are compiled in; rendering into a String cannot fail on I/O, and the views
    // hold only plain strings.
    let text = t
        .render()
        .unwrap_or_else(|e| format!("// template error: {e}\n"));
    tidy(&text)
}

/// Collapses runs of blank lines left by template control flow; ends with one newline.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed = out.trim_end();
    format!("{trimmed}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_collapses_blank_runs() {
        assert_eq!(tidy("a\n\n\n\nb  \n\n"), "a\n\nb\n");
    }
}
