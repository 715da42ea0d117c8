//! The event catalog: every module and event with its direction, delivery, recipients in plain
//! words, payload fields, constraints, an example and deprecations — as Markdown and as one
//! self-contained HTML page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{json, Value};
use tidings::schema::{
    Constraints, EventDef, Field, FieldPath, Module, Primitive, Rule, Schema, Scope, TypeKind,
    TypeRef,
};

use crate::project::Project;

/// Generates `catalog.md` and `catalog.html`, titled "Event catalog".
pub fn generate(schema: &Schema) -> BTreeMap<PathBuf, String> {
    generate_for(schema, &Project::default())
}

/// Generates `catalog.md` and `catalog.html` of `project` (`tidings.toml`'s `[project]`): titled
/// with its `name` ("Help desk: event catalog"), its `description` the first paragraph.
pub fn generate_for(schema: &Schema, project: &Project) -> BTreeMap<PathBuf, String> {
    let title = project.name.as_ref().map_or_else(
        || "Event catalog".to_owned(),
        |name| format!("{name}: event catalog"),
    );
    let about = project.description.as_deref();
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("catalog.md"), markdown(schema, &title, about));
    files.insert(PathBuf::from("catalog.html"), html(schema, &title, about));
    files
}

/// "the user who opened the ticket" from a doc "The user who opened the ticket.", else
/// "the user in `field`".
fn who(schema: &Schema, e: &EventDef, path: &FieldPath, many: bool) -> String {
    let steps = schema.path_fields(&e.payload, path);
    let doc = (steps.len() == path.segments().len())
        .then(|| steps.last())
        .flatten()
        .and_then(|f| f.doc.as_deref());
    let first = doc
        .and_then(|d| d.lines().next())
        .map(|d| d.trim_end_matches('.'));
    match first {
        Some(d) if !many && d.starts_with("The ") => format!("t{} (`{path}`)", &d[1..]),
        Some(d) if many && d.starts_with("Users ") => format!("the u{} (`{path}`)", &d[1..]),
        _ if many => format!("every user in `{path}`"),
        _ => format!("the user in `{path}`"),
    }
}

/// Who receives an event, in a sentence.
pub fn recipients_in_words(schema: &Schema, e: &EventDef) -> String {
    let Some(r) = &e.recipients else {
        return if e.direction.server_sends() {
            "Whoever the server names when it emits the event.".to_owned()
        } else {
            "Clients send it; the server handles it.".to_owned()
        };
    };
    let mut parts: Vec<String> = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    for rule in &r.rules {
        match rule {
            Rule::User { field } => parts.push(who(schema, e, field, false)),
            Rule::Users { field } => parts.push(who(schema, e, field, true)),
            Rule::Role { role } => roles.push(format!("`{role}`")),
            Rule::Room { template } => {
                parts.push(format!("everyone in the room `{}`", template.template))
            }
            Rule::Everyone => parts.push("every connection".to_owned()),
        }
    }
    if !roles.is_empty() {
        let last = roles.pop().unwrap_or_default();
        let list = if roles.is_empty() {
            last
        } else {
            format!("{} or {last}", roles.join(", "))
        };
        parts.push(format!("everyone with the {list} role"));
    }
    let mut text = match parts.len() {
        0 => "no one".to_owned(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    };
    match &r.scope {
        Scope::Tenant { field } => text.push_str(&format!(", within the tenant in `{field}`")),
        Scope::Platform => text.push_str(", across every tenant"),
        Scope::Users => {}
    }
    if let Some(except) = &r.except {
        let w = who(schema, e, except, false);
        text.push_str(&format!(" — never {w}"));
    }
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
        + "."
}

fn direction_words(e: &EventDef) -> &'static str {
    match (e.direction.server_sends(), e.direction.client_sends()) {
        (true, true) => "server ⇄ clients",
        (true, false) => "server → clients",
        _ => "clients → server",
    }
}

fn delivery_words(e: &EventDef) -> &'static str {
    if !e.direction.server_sends() {
        "—"
    } else if e.delivery == tidings::schema::Delivery::Durable {
        "durable: replayed to clients that missed it"
    } else {
        "ephemeral: never stored or replayed"
    }
}

fn constraints_words(c: &Constraints) -> String {
    let mut parts = Vec::new();
    match (c.min, c.max) {
        (Some(a), Some(b)) => parts.push(format!("{a} to {b}")),
        (Some(a), None) => parts.push(format!("≥ {a}")),
        (None, Some(b)) => parts.push(format!("≤ {b}")),
        _ => {}
    }
    match (c.min_length, c.max_length) {
        (Some(a), Some(b)) => parts.push(format!("length {a} to {b}")),
        (Some(a), None) => parts.push(format!("length ≥ {a}")),
        (None, Some(b)) => parts.push(format!("length ≤ {b}")),
        _ => {}
    }
    parts.join(", ")
}

/// A sample value of a type, within its constraints.
///
/// Past [`SHALLOW`] levels of nesting a sample takes the least it may — no optional value
/// (`null`), lists and maps as short as their bounds allow — so that recursive types end.
/// [`DEEPEST`] and `left` (values still to build, from [`BUDGET`]) bound the walk for a type
/// no finite document meets (a list of itself with a minimum length): `null` there.
fn example(
    schema: &Schema,
    ty: &TypeRef,
    c: Option<&Constraints>,
    depth: usize,
    left: &mut usize,
) -> Value {
    if depth > DEEPEST || *left == 0 {
        return Value::Null;
    }
    *left -= 1;
    let least = depth >= SHALLOW;
    match ty {
        TypeRef::Optional(_) if least => Value::Null,
        TypeRef::Optional(inner) => example(schema, inner, c, depth, left),
        TypeRef::Primitive(p) => match p {
            Primitive::String => {
                // "example", stretched or cut to the length bounds (a sample: at most 100,000
                // characters, however long the minimum).
                let len = |b: Option<u64>, or: usize| {
                    b.map_or(or, |b| usize::try_from(b).unwrap_or(usize::MAX))
                };
                let min = len(c.and_then(|c| c.min_length), 0);
                let max = len(c.and_then(|c| c.max_length), usize::MAX);
                let base = "example";
                json!(base
                    .chars()
                    .cycle()
                    .take(min.max(base.len().min(max)).min(100_000))
                    .collect::<String>())
            }
            Primitive::Uuid => json!("3f2b8c1e-4d5a-4b6c-9e7f-0a1b2c3d4e5f"),
            Primitive::Timestamp => json!("2026-11-22T09:30:00Z"),
            Primitive::Bool => json!(true),
            Primitive::F32 | Primitive::F64 => {
                let bound = |b: Option<tidings::schema::Number>| b.map(|b| b.to_f64());
                match (bound(c.and_then(|c| c.min)), bound(c.and_then(|c| c.max))) {
                    (Some(min), _) => json!(min),
                    (None, Some(max)) if max < 1.5 => json!(max),
                    _ => json!(1.5),
                }
            }
            Primitive::Json => json!({ "any": "json" }),
            _ => {
                let int = |b: Option<tidings::schema::Number>| b.and_then(|b| b.as_int());
                let lo = int(c.and_then(|c| c.min)).unwrap_or(0);
                let hi = int(c.and_then(|c| c.max)).unwrap_or(i128::MAX);
                crate::numbers::json(tidings::schema::Number::Int(lo.max(1).min(hi)))
            }
        },
        TypeRef::List(inner) => Value::Array(
            (0..entries(c, least))
                .map(|_| example(schema, inner, None, depth + 1, left))
                .collect(),
        ),
        TypeRef::Map(inner) => Value::Object(
            (1..=entries(c, least))
                .map(|i| {
                    let key = if i == 1 {
                        "key".to_owned()
                    } else {
                        format!("key{i}")
                    };
                    (key, example(schema, inner, None, depth + 1, left))
                })
                .collect(),
        ),
        TypeRef::Named { module, name } => match schema.type_def(module, name).map(|t| &t.kind) {
            Some(TypeKind::Struct { fields }) => object(schema, fields, depth + 1, left),
            Some(TypeKind::Enum { values, .. }) => {
                json!(values.first().map(|v| v.name.clone()).unwrap_or_default())
            }
            Some(TypeKind::Union { tag, variants, .. }) => {
                let Some(v) = variants.first() else {
                    return json!({});
                };
                let mut obj = match &v.payload {
                    Some(p) => example(schema, p, None, depth + 1, left),
                    None => json!({}),
                };
                obj[tag.as_str()] = json!(v.name);
                obj
            }
            None => Value::Null,
        },
    }
}

/// How deep a sample shows every optional value and one entry of every list or map.
const SHALLOW: usize = 3;

/// How deep a sample goes at all.
const DEEPEST: usize = 32;

/// How many values one sample builds at most.
const BUDGET: usize = 10_000;

/// How many entries a sample list or map has: one, or as many as its length bounds ask
/// (`min_length` 3 → three; `max_length` 0 → none); with `least`, its minimum (none without
/// one).
fn entries(c: Option<&Constraints>, least: bool) -> usize {
    let min = c.and_then(|c| c.min_length).unwrap_or(u64::from(!least));
    let min = if least { min } else { min.max(1) };
    let max = c.and_then(|c| c.max_length).unwrap_or(u64::MAX);
    usize::try_from(min.min(max).min(BUDGET as u64)).unwrap_or(1)
}

fn object(schema: &Schema, fields: &[Field], depth: usize, left: &mut usize) -> Value {
    let mut map = serde_json::Map::new();
    for f in fields {
        map.insert(
            f.name.clone(),
            example(schema, &f.ty, Some(&f.constraints), depth, left),
        );
    }
    Value::Object(map)
}

/// `n` and the noun, singular or plural: `1 module`, `2 modules`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Where the protocol is described: an app's repository has no `docs/protocol.md` of its own.
pub(crate) const PROTOCOL_URL: &str =
    "https://github.com/tidings-rs/tidings/blob/main/docs/protocol.md";

/// Who gets the event, in words, under its label: the recipients of what the server sends; for
/// what only clients send, that the app's handler on the server takes it (and what it answers).
fn audience(schema: &Schema, e: &EventDef) -> (&'static str, String) {
    if e.direction.server_sends() {
        ("Recipients", recipients_in_words(schema, e))
    } else {
        let answer = match &e.reply {
            Some(r) => format!("; it answers with a `{r}`"),
            None => "; it answers with an acknowledgement".to_owned(),
        };
        (
            "Handled by",
            format!("the app's handler on the server{answer}"),
        )
    }
}

/// Example frames of an event as they travel: a server frame carries `id`, `ts` and — durable —
/// `seq` beside `data`; a client frame a `cid` when it expects an answer, and the `$reply`.
/// The sample payload the catalog shows for event `e` of `schema`: a document within the
/// event's contract (every field present, each value within its type and constraints).
pub fn sample_payload(schema: &Schema, e: &EventDef) -> Value {
    let mut left = BUDGET;
    object(schema, &e.payload, 0, &mut left)
}

fn example_frames(schema: &Schema, e: &EventDef) -> Vec<Value> {
    let data = sample_payload(schema, e);
    let mut frames = Vec::new();
    if e.direction.server_sends() {
        let mut frame = serde_json::Map::new();
        frame.insert("type".into(), json!(e.name));
        frame.insert("id".into(), json!("b3b9c472be785af82"));
        frame.insert("ts".into(), json!("2026-01-01T12:00:00.000Z"));
        if e.delivery == tidings::schema::Delivery::Durable {
            frame.insert("seq".into(), json!(42));
        }
        frame.insert("data".into(), data.clone());
        frames.push(Value::Object(frame));
    }
    if e.direction.client_sends() {
        frames.push(json!({ "type": e.name, "cid": 7, "data": data }));
        let reply = e.reply.as_ref().map_or(Value::Null, |r| {
            let mut left = BUDGET;
            example(schema, r, None, 0, &mut left)
        });
        frames.push(json!({ "type": "$reply", "cid": 7, "data": reply }));
    }
    frames
}

/// A type in Markdown, linked to its section when it names one (`ticket.Ticket`, `[ticket.Ticket]`).
fn type_md(ty: &TypeRef) -> String {
    match ty.named() {
        Some((module, name)) => format!("[`{ty}`](#type-{}-{})", anchor(module), anchor(name)),
        None => format!("`{ty}`"),
    }
}

/// A type in HTML, linked likewise.
fn type_html(ty: &TypeRef) -> String {
    match ty.named() {
        Some((module, name)) => format!(
            "<a href=\"#type-{}-{}\"><code>{}</code></a>",
            anchor(module),
            anchor(name),
            esc(&ty.to_string())
        ),
        None => format!("<code>{}</code>", esc(&ty.to_string())),
    }
}

fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Text for one cell of a Markdown table: on one line, its `|` escaped (GitHub Flavored
/// Markdown, "Tables": `\|` stands for a pipe in a cell, in code spans too).
fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

fn fields_md(out: &mut String, fields: &[Field]) {
    if fields.is_empty() {
        out.push_str("No fields.\n\n");
        return;
    }
    out.push_str(
        "| field | type | required | constraints | description |\n|---|---|---|---|---|\n",
    );
    for f in fields {
        let mut desc = f.doc.clone().unwrap_or_default().replace('\n', " ");
        if let Some(d) = &f.default {
            desc.push_str(&format!(
                " Default: `{}`.",
                serde_json::to_string(d).unwrap_or_default()
            ));
        }
        if let Some(d) = &f.deprecated {
            desc.push_str(&format!(
                " **Deprecated**{}.",
                d.note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ));
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            cell(&f.name),
            cell(&type_md(&f.ty)),
            if f.is_required() { "yes" } else { "no" },
            cell(&constraints_words(&f.constraints)),
            cell(desc.trim())
        );
    }
    out.push('\n');
}

fn markdown(schema: &Schema, title: &str, about: Option<&str>) -> String {
    let mut out = format!("<!-- @generated by tidings docs — do not edit -->\n# {title}\n\n");
    if let Some(about) = about {
        let _ = writeln!(out, "{}\n", about.trim());
    }
    let events: usize = schema.modules.iter().map(|m| m.events.len()).sum();
    let _ = writeln!(
        out,
        "{}, {}. Every event travels as a JSON text frame over WebSocket ([the Tidings protocol]({PROTOCOL_URL})).\n",
        counted(schema.modules.len(), "module"),
        counted(events, "event")
    );
    for m in &schema.modules {
        let _ = writeln!(
            out,
            "- [{}](#module-{}) — {}",
            m.name,
            anchor(&m.name),
            if m.events.is_empty() {
                "types only".to_owned()
            } else {
                m.events
                    .iter()
                    .map(|e| format!("`{}`", e.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    out.push('\n');
    for m in &schema.modules {
        module_md(schema, m, &mut out);
    }
    out
}

fn module_md(schema: &Schema, m: &Module, out: &mut String) {
    // An explicit anchor: GitHub renders `{#id}` after a heading literally.
    let _ = writeln!(
        out,
        "<a id=\"module-{}\"></a>\n\n## Module `{}`\n",
        anchor(&m.name),
        m.name
    );
    if let Some(d) = &m.description {
        let _ = writeln!(out, "{d}\n");
    }
    if let Some(v) = &m.version {
        let _ = writeln!(out, "Version {v}.\n");
    }
    for e in &m.events {
        let _ = writeln!(out, "### `{}`\n", e.name);
        if let Some(d) = &e.deprecated {
            let _ = writeln!(
                out,
                "> **Deprecated**{}\n",
                d.note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
        }
        if let Some(doc) = &e.doc {
            let _ = writeln!(out, "{doc}\n");
        }
        let _ = writeln!(out, "- **Direction:** {}", direction_words(e));
        let _ = writeln!(out, "- **Delivery:** {}", delivery_words(e));
        let (label, who) = audience(schema, e);
        let _ = writeln!(out, "- **{label}:** {who}");
        if let Some(when) = crate::summary::presence(e) {
            let _ = writeln!(out, "- **Presence:** {when}");
        }
        if let Some(r) = &e.reply {
            let _ = writeln!(out, "- **Reply:** {}", type_md(r));
        }
        out.push('\n');
        fields_md(out, &e.payload);
        for frame in example_frames(schema, e) {
            let sample = serde_json::to_string_pretty(&frame).unwrap_or_default();
            let _ = writeln!(out, "```json\n{sample}\n```\n");
        }
    }
    for t in &m.types {
        let _ = writeln!(
            out,
            "<a id=\"type-{}-{}\"></a>\n\n### Type `{}.{}`\n",
            anchor(&m.name),
            anchor(&t.name),
            m.name,
            t.name
        );
        if let Some(doc) = &t.doc {
            let _ = writeln!(out, "{doc}\n");
        }
        match &t.kind {
            TypeKind::Struct { fields } => fields_md(out, fields),
            TypeKind::Enum { values, open } => {
                if *open {
                    let _ = writeln!(out, "Open: readers also accept values not listed here.\n");
                }
                for v in values {
                    let _ = writeln!(
                        out,
                        "- `{}`{}",
                        v.name,
                        v.doc
                            .as_ref()
                            .map(|d| format!(" — {d}"))
                            .unwrap_or_default()
                    );
                }
                out.push('\n');
            }
            TypeKind::Union {
                tag,
                variants,
                open,
            } => {
                let _ = writeln!(
                    out,
                    "A tagged union: `{tag}` names the variant.{}\n",
                    if *open {
                        " Open: readers also accept variants not listed here."
                    } else {
                        ""
                    }
                );
                for v in variants {
                    let _ = writeln!(
                        out,
                        "- `{}`{}{}",
                        v.name,
                        v.payload
                            .as_ref()
                            .map(|p| format!(" — the fields of {}", type_md(p)))
                            .unwrap_or_default(),
                        v.doc.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
                    );
                }
                out.push('\n');
            }
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline `code` spans of plain text, escaped, as HTML.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn fields_html(out: &mut String, fields: &[Field]) {
    if fields.is_empty() {
        out.push_str("<p class=\"muted\">No fields.</p>\n");
        return;
    }
    out.push_str("<table><thead><tr><th>field</th><th>type</th><th>required</th><th>constraints</th><th>description</th></tr></thead><tbody>\n");
    for f in fields {
        let mut desc = inline(f.doc.as_deref().unwrap_or(""));
        if let Some(d) = &f.default {
            let _ = write!(
                desc,
                " Default: <code>{}</code>.",
                esc(&serde_json::to_string(d).unwrap_or_default())
            );
        }
        if f.deprecated.is_some() {
            desc.push_str(" <strong>Deprecated.</strong>");
        }
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{desc}</td></tr>",
            esc(&f.name),
            type_html(&f.ty),
            if f.is_required() { "yes" } else { "no" },
            esc(&constraints_words(&f.constraints))
        );
    }
    out.push_str("</tbody></table>\n");
}

const STYLE: &str = "body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1d2430;background:#f6f7fa;display:flex}\
nav{position:sticky;top:0;height:100vh;overflow:auto;width:260px;padding:20px;background:#fff;border-right:1px solid #e4e7ee;box-sizing:border-box}\
nav a{display:block;color:#3a4456;text-decoration:none;font-size:13px;padding:2px 0}nav a.m{font-weight:600;margin-top:10px;font-size:14px}\
main{padding:24px 40px;max-width:980px}h1{margin-top:0}h2{border-bottom:2px solid #e4e7ee;padding-bottom:4px;margin-top:40px}\
section.event{background:#fff;border-radius:10px;padding:14px 20px;margin:16px 0;box-shadow:0 1px 3px #0001}\
.badges span{display:inline-block;font-size:12px;padding:1px 8px;border-radius:10px;background:#eef0f4;margin-right:6px}\
.badges .dur{background:#dff3e4}.badges .eph{background:#fff1c9}.dep{color:#b42318;font-weight:600}\
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}th,td{border-bottom:1px solid #eef0f4;padding:4px 6px;text-align:left;vertical-align:top}\
code{background:#f1f3f7;padding:0 3px;border-radius:3px}pre{background:#1d2430;color:#e8ecf3;padding:10px;border-radius:8px;overflow:auto;font-size:12px}\
.muted{color:#8a93a3}.who{margin:6px 0}";

/// The HTML ids of the events, unique by construction: an event's id is its wire name made
/// anchor-like (`ticket:created` → `ticket-created`), which several wire names can share
/// (`chat:room_created`, `chat_room:created`), and which may equal a module's or a type's id.
/// Such an event gets the first `-2`, `-3`… suffix that no id of the page has.
fn event_ids(schema: &Schema) -> HashMap<&str, String> {
    let mut natural: HashMap<String, usize> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for m in &schema.modules {
        taken.insert(format!("module-{}", anchor(&m.name)));
        for t in &m.types {
            taken.insert(format!("type-{}-{}", anchor(&m.name), anchor(&t.name)));
        }
        for e in &m.events {
            *natural.entry(anchor(&e.name)).or_default() += 1;
        }
    }
    let shared = |id: &String| natural.get(id).is_some_and(|n| *n > 1) || taken.contains(id);
    // Ids no event shares are kept as they are; the others are suffixed, in document order.
    let mut ids = HashMap::new();
    let mut used: HashSet<String> = natural.keys().filter(|id| !shared(id)).cloned().collect();
    used.extend(taken.iter().cloned());
    for m in &schema.modules {
        for e in &m.events {
            let base = anchor(&e.name);
            let id = if shared(&base) {
                (2..)
                    .map(|n| format!("{base}-{n}"))
                    .find(|id| !used.contains(id) && !natural.contains_key(id))
                    .unwrap_or(base)
            } else {
                base
            };
            used.insert(id.clone());
            ids.insert(e.name.as_str(), id);
        }
    }
    ids
}

fn html(schema: &Schema, title: &str, about: Option<&str>) -> String {
    let ids = event_ids(schema);
    let mut nav = String::new();
    let mut body = String::new();
    for m in &schema.modules {
        let _ = writeln!(
            nav,
            "<a class=\"m\" href=\"#module-{}\">{}</a>",
            anchor(&m.name),
            esc(&m.name)
        );
        let _ = writeln!(
            body,
            "<h2 id=\"module-{}\">Module <code>{}</code></h2>",
            anchor(&m.name),
            esc(&m.name)
        );
        if let Some(d) = &m.description {
            let _ = writeln!(body, "<p>{}</p>", inline(d));
        }
        for e in &m.events {
            let id = ids.get(e.name.as_str()).cloned().unwrap_or_default();
            let _ = writeln!(nav, "<a href=\"#{id}\">{}</a>", esc(&e.name));
            let _ = writeln!(
                body,
                "<section class=\"event\" id=\"{id}\"><h3><code>{}</code></h3>",
                esc(&e.name)
            );
            if let Some(d) = &e.deprecated {
                let _ = writeln!(
                    body,
                    "<p class=\"dep\">Deprecated{}</p>",
                    d.note
                        .as_ref()
                        .map(|n| format!(": {}", inline(n)))
                        .unwrap_or_default()
                );
            }
            let (class, word) = if !e.direction.server_sends() {
                ("", "handled by the server")
            } else if e.delivery == tidings::schema::Delivery::Durable {
                ("dur", "durable")
            } else {
                ("eph", "ephemeral")
            };
            let _ = writeln!(
                body,
                "<div class=\"badges\"><span>{}</span><span class=\"{class}\">{word}</span></div>",
                esc(direction_words(e))
            );
            if let Some(doc) = &e.doc {
                let _ = writeln!(body, "<p>{}</p>", inline(doc));
            }
            let (label, who) = audience(schema, e);
            let _ = writeln!(
                body,
                "<p class=\"who\"><strong>{label}:</strong> {}</p>",
                inline(&who)
            );
            if let Some(when) = crate::summary::presence(e) {
                let _ = writeln!(
                    body,
                    "<p class=\"who\"><strong>Presence:</strong> {}</p>",
                    esc(when)
                );
            }
            if let Some(r) = &e.reply {
                let _ = writeln!(body, "<p><strong>Reply:</strong> {}</p>", type_html(r));
            }
            fields_html(&mut body, &e.payload);
            for frame in example_frames(schema, e) {
                let sample = serde_json::to_string_pretty(&frame).unwrap_or_default();
                let _ = writeln!(body, "<pre>{}</pre>", esc(&sample));
            }
            body.push_str("</section>\n");
        }
        for t in &m.types {
            let _ = writeln!(
                body,
                "<section class=\"event\" id=\"type-{}-{}\"><h3>Type <code>{}.{}</code></h3>",
                anchor(&m.name),
                anchor(&t.name),
                esc(&m.name),
                esc(&t.name)
            );
            if let Some(doc) = &t.doc {
                let _ = writeln!(body, "<p>{}</p>", inline(doc));
            }
            match &t.kind {
                TypeKind::Struct { fields } => fields_html(&mut body, fields),
                TypeKind::Enum { values, open } => {
                    let items: Vec<String> = values
                        .iter()
                        .map(|v| format!("<code>{}</code>", esc(&v.name)))
                        .collect();
                    let _ = writeln!(
                        body,
                        "<p>One of {}{}.</p>",
                        items.join(", "),
                        if *open {
                            ", or a value not declared yet (open)"
                        } else {
                            ""
                        }
                    );
                }
                TypeKind::Union {
                    tag,
                    variants,
                    open,
                } => {
                    let items: Vec<String> = variants
                        .iter()
                        .map(|v| format!("<code>{}</code>", esc(&v.name)))
                        .collect();
                    let _ = writeln!(
                        body,
                        "<p>Tagged by <code>{}</code>: {}{}.</p>",
                        esc(tag),
                        items.join(", "),
                        if *open {
                            ", or a variant not declared yet (open)"
                        } else {
                            ""
                        }
                    );
                }
            }
            body.push_str("</section>\n");
        }
    }
    let events: usize = schema.modules.iter().map(|m| m.events.len()).sum();
    format!(
        "<!doctype html>\n<!-- @generated by tidings docs — do not edit -->\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\n\
<body><nav><strong>{title}</strong>\n{nav}</nav><main><h1>{title}</h1>{about}<p class=\"muted\">{}, {}; JSON text frames over WebSocket (<a href=\"{PROTOCOL_URL}\">the Tidings protocol</a>).</p>\n{body}</main></body></html>\n",
        counted(schema.modules.len(), "module"),
        counted(events, "event"),
        title = esc(title),
        about = about.map_or_else(String::new, |a| format!("<p>{}</p>", inline(a.trim()))),
    )
}
