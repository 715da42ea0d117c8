//! IR documents among the schema files: how events declared on Rust structs
//! (`#[derive(Event)]`) join the TOML modules in one contract.
//!
//! An app's export binary writes the IR of its derived events (`--ir schemas/derived.ir.json`,
//! committed and kept current with `--check` in CI); every command that reads schemas — `check`,
//! `generate`, `compat` (also at a git ref), `docs`, `export`, [`crate::Builder`] — reads that
//! document next to the TOML files, so one TypeScript client, one catalog and one compat report
//! cover both routes. The Rust backend leaves the derived modules out: their Rust is the app's
//! own ([`crate::Checked::derived`]).
//!
//! A derived module is taken as the IR says it; it may use the types of any module of the
//! contract, and the checks here are those of the contract as a whole: names unique across both
//! routes, every named type defined, the IR version known.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use tidings::schema::{Schema, IR_VERSION};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, Sources};

/// Gives a derived module, its types, its events and their fields the place in their IR
/// document where each is named, unless the document says where: compat findings and other
/// reports about derived events then point into the committed document. A module, type or
/// event is found at the first `"name": "<its name>"` of the document; a field at the first
/// `"name": "<field>"` after its type or event.
fn locate(sources: &Sources, id: FileId, module: &mut tidings::schema::Module) {
    use tidings::schema::{Field, Location, TypeKind};
    let file = sources.file(id);
    let text = file.text();
    let place = |offset: usize| {
        let (line, column) = file.position(offset);
        Location {
            file: file.name().to_owned(),
            line,
            column,
        }
    };
    // The offset of `"name": "<name>"` (as serde_json writes it, compact or pretty) at or
    // after `from`, pointing at the name.
    let named_after = |from: usize, name: &str| -> Option<usize> {
        let quoted = serde_json::to_string(name).ok()?;
        let rest = text.get(from..)?;
        [format!("\"name\": {quoted}"), format!("\"name\":{quoted}")]
            .iter()
            .filter_map(|needle| {
                rest.find(needle.as_str())
                    .map(|at| at + needle.len() - quoted.len() + 1)
            })
            .min()
            .map(|at| from + at)
    };
    let fields = |fields: &mut [Field], from: usize| {
        for f in fields {
            if f.location.is_none() {
                if let Some(at) = named_after(from, &f.name) {
                    f.location = Some(place(at));
                }
            }
        }
    };
    if module.location.is_none() {
        module.location = Some(place(named_after(0, &module.name).unwrap_or(0)));
    }
    for t in &mut module.types {
        let at = named_after(0, &t.name).unwrap_or(0);
        if t.location.is_none() {
            t.location = Some(place(at));
        }
        if let TypeKind::Struct { fields: list } = &mut t.kind {
            fields(list, at);
        }
    }
    for e in &mut module.events {
        let at = named_after(0, &e.name).unwrap_or(0);
        if e.location.is_none() {
            e.location = Some(place(at));
        }
        fields(&mut e.payload, at);
    }
}

/// What writing the IR document `text` to `file` would do to the schemas beside it: the rendered
/// errors when the directory holding `file` has schema files (`*.toml`, other `*.ir.json`)
/// and would no longer check with `text` among them — a module or event name declared on both
/// routes, a type no module defines. `None` when the contract would check, or when the
/// directory has no other schema file (nothing to join).
///
/// An export that wrote such a document would lock its own app out: every build script and
/// command reading the directory would fail, the export binary among them.
pub(crate) fn breaks_beside(file: &std::path::Path, text: &str) -> Option<String> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut found = Sources::new();
    found.add_path(dir).ok()?;
    let itself = std::fs::canonicalize(file).ok();
    let mut joined = Sources::new();
    for (_, f) in found.iter() {
        let same = itself.is_some() && std::fs::canonicalize(f.name()).ok() == itself;
        if !same {
            joined.add(f.name(), f.text());
        }
    }
    if joined.is_empty() {
        return None;
    }
    joined.add(file.display().to_string(), text);
    crate::check(&joined).err().map(|d| d.render(&joined))
}

/// The modules the IR documents `ids` declare, each with its document's name — read before the
/// TOML modules are lowered, so that a TOML file importing one is told why it cannot (a TOML
/// module cannot use a derived module's types) rather than that no such module exists.
/// Documents that do not read are left to [`merge`] to report.
pub(crate) fn declared_modules(sources: &Sources, ids: &[FileId]) -> HashMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        modules: Vec<Named>,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    ids.iter()
        .filter_map(|&id| {
            let file = sources.file(id);
            let doc: Doc = serde_json::from_str(file.text()).ok()?;
            Some((doc, file.name().to_owned()))
        })
        .flat_map(|(doc, file)| doc.modules.into_iter().map(move |m| (m.name, file.clone())))
        .collect()
}

/// Whether a file found in a schema directory is an IR document: `*.ir.json`.
pub fn is_ir_dir_file(name: &str) -> bool {
    name.ends_with(".ir.json")
}

/// Whether a schema source is read as IR (JSON) rather than TOML: a `*.json` file, found in a
/// directory (`*.ir.json`) or given by name.
pub(crate) fn is_ir_source(name: &str) -> bool {
    name.ends_with(".json")
}

/// The byte offset of `line`:`column` (1-based, as serde_json counts) in `text`.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[start.min(text.len())..];
    let within = rest
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(rest.len(), |(i, _)| i);
    (start + within).min(text.len())
}

/// Where `"value"` first appears in `text` (the value quoted as JSON writes it), else the start.
fn span_of(text: &str, value: &str) -> Range<usize> {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    text.find(&quoted)
        .map_or(0..0, |at| at + 1..at + quoted.len() - 1)
}

/// Reads the IR documents `ids` of `sources` and adds their modules to `schema` (kept sorted by
/// name). Returns the names of the modules added. Mistakes are errors in `diags`: a document
/// that is not IR of this version, a module or wire name the contract already has, a reserved
/// module name, a named type no module defines.
pub(crate) fn merge(
    sources: &Sources,
    ids: &[FileId],
    schema: &mut Schema,
    diags: &mut Diagnostics,
) -> Vec<String> {
    let mut added = Vec::new();
    // Where each module and wire name comes from: a TOML module (None) or an IR file.
    let mut modules: HashMap<String, Option<FileId>> = schema
        .modules
        .iter()
        .map(|m| (m.name.clone(), None))
        .collect();
    let mut wires: HashSet<String> = schema
        .modules
        .iter()
        .flat_map(|m| m.events.iter().map(|e| e.name.clone()))
        .collect();
    let mut from_ir = Vec::new();
    for &id in ids {
        let file = sources.file(id);
        let text = file.text();
        let doc: Schema = match serde_json::from_str(text) {
            Ok(doc) => doc,
            Err(e) => {
                let at = offset_of(text, e.line(), e.column());
                diags.push(
                    Diagnostic::error(
                        Code::InvalidIr,
                        id,
                        at..(at + 1).min(text.len()).max(at),
                        format!("`{}` is not a Tidings IR document: {e}", file.name()),
                    )
                    .help(
                        "schemas are TOML files; a `.json` schema file is the IR that `tidings ir`, \
                         `tidings generate --ir` or an export binary's `--ir` writes",
                    ),
                );
                continue;
            }
        };
        if doc.ir_version != IR_VERSION {
            diags.push(
                Diagnostic::error(
                    Code::InvalidIr,
                    id,
                    span_of(text, "ir_version"),
                    format!(
                        "IR version {} is not the one this compiler reads ({IR_VERSION})",
                        doc.ir_version
                    ),
                )
                .help("write the document again with the export binary of this version"),
            );
            continue;
        }
        for module in doc.modules {
            let span = span_of(text, &module.name);
            if let Some(why) = crate::names::reserved_module_name(&module.name) {
                diags.push(
                    Diagnostic::error(
                        Code::ReservedName,
                        id,
                        span,
                        format!("module name `{}` is reserved", module.name),
                    )
                    .help(format!("{why}; derive it into another module")),
                );
                continue;
            }
            if let Some(first) = modules.get(&module.name) {
                let place = match first {
                    None => "a TOML module".to_owned(),
                    Some(other) => format!("`{}`", sources.file(*other).name()),
                };
                diags.push(
                    Diagnostic::error(
                        Code::DuplicateModule,
                        id,
                        span,
                        format!("module `{}` is declared twice", module.name),
                    )
                    .label(format!("also declared by {place}"))
                    .help("a module is declared once: in TOML, or derived in Rust"),
                );
                continue;
            }
            let mut clash = false;
            for event in &module.events {
                if !wires.insert(event.name.clone()) {
                    clash = true;
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateWireName,
                            id,
                            span_of(text, &event.name),
                            format!("two events use the wire name `{}`", event.name),
                        )
                        .help("give one of them another `name`"),
                    );
                }
            }
            if clash {
                continue;
            }
            modules.insert(module.name.clone(), Some(id));
            added.push(module.name.clone());
            from_ir.push((id, module));
        }
    }
    // Every named type a derived module uses is defined by some module of the contract.
    let mut defined: HashSet<(String, String)> = schema
        .modules
        .iter()
        .flat_map(|m| {
            m.types
                .iter()
                .map(move |t| (m.name.clone(), t.name.clone()))
        })
        .collect();
    for (_, m) in &from_ir {
        defined.extend(m.types.iter().map(|t| (m.name.clone(), t.name.clone())));
    }
    for (id, m) in &from_ir {
        let text = sources.file(*id).text();
        let uses = m
            .types
            .iter()
            .flat_map(|t| t.kind.members())
            .chain(m.events.iter().flat_map(|e| e.type_refs()));
        let mut said = HashSet::new();
        for ty in uses {
            let Some((module, name)) = ty.named() else {
                continue;
            };
            if !defined.contains(&(module.to_owned(), name.to_owned()))
                && said.insert((module.to_owned(), name.to_owned()))
            {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownType,
                        *id,
                        span_of(text, name),
                        format!(
                            "module `{}` uses `{module}.{name}`, which no module defines",
                            m.name
                        ),
                    )
                    .help("derive `Describe` on the type, or declare it in a TOML module"),
                );
            }
        }
    }
    schema
        .modules
        .extend(from_ir.into_iter().map(|(id, mut module)| {
            locate(sources, id, &mut module);
            module
        }));
    schema.modules.sort_by(|a, b| a.name.cmp(&b.name));
    added.sort();
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_lines_and_characters() {
        let text = "{\n  \"é\": 1,\n  x\n}";
        assert_eq!(&text[offset_of(text, 3, 3)..], "x\n}");
        assert_eq!(offset_of(text, 9, 9), text.len());
        assert_eq!(span_of(text, "é"), 5..7);
    }
}
