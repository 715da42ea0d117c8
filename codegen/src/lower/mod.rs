//! Lowering: raw schema files → the resolved IR ([`tidings::schema`]), with validation.
//!
//! Lowering runs in stages and reports every problem it finds, continuing past each one:
//! 1. modules: names, duplicates, versions, imports and import cycles;
//! 2. a symbol table of every named type (its kind and members) across all modules;
//! 3. types, then events (payloads, replies, recipients), resolved against that table;
//! 4. checks across modules (wire names).

mod events;
mod literal;
mod types;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use tidings::schema::{Deprecation, Location, Module, Schema, TypeDef, TypeRef, IR_VERSION};
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::names;
use crate::raw::{Item, RawDeprecated, RawModule, RawType};
use crate::source::{FileId, Sources};

/// Lowers parsed files into a schema, pushing every problem into `diags`.
pub(crate) fn lower(
    sources: &Sources,
    raws: &[RawModule],
    broken: HashSet<String>,
    derived: &HashMap<String, String>,
    diags: &mut Diagnostics,
) -> Schema {
    let mut cx = Lowering {
        sources,
        diags,
        unresolved: HashSet::new(),
        broken,
        derived,
    };
    let modules = cx.collect_modules(raws);
    // Fields dropped by the raw layer for errors of their own: references to them are not
    // reported again.
    for m in &modules {
        for (item, field) in &m.raw.lost_fields {
            cx.unresolved
                .insert((m.name.clone(), item.clone(), field.clone()));
        }
    }
    cx.check_imports(&modules);
    let symbols = Symbols::build(&modules);

    // Types of every module first: event payloads may look inside types of other modules.
    let type_lists: Vec<Vec<TypeDef>> = modules
        .iter()
        .map(|m| cx.lower_types(m, &symbols))
        .collect();
    let lowered: events::Lowered<'_> = modules
        .iter()
        .zip(&type_lists)
        .flat_map(|(m, defs)| defs.iter().map(|d| ((m.name.as_str(), d.name.as_str()), d)))
        .collect();
    let event_lists: Vec<_> = modules
        .iter()
        .map(|m| cx.lower_events(m, &symbols, &lowered))
        .collect();
    drop(lowered);

    let mut out = Vec::with_capacity(modules.len());
    for ((m, types), events) in modules.iter().zip(type_lists).zip(event_lists) {
        out.push(Module {
            name: m.name.clone(),
            description: m.raw.description.as_deref().map(clean_doc),
            version: m.raw.version.as_ref().map(|v| v.get_ref().clone()),
            imports: m.imports.iter().map(|(n, _)| n.clone()).collect(),
            types,
            events,
            location: Some(cx.location(m.raw.file, m.name_span.clone())),
        });
    }
    cx.check_wire_names(&modules, &out);
    cx.check_recursion(&modules, &out);
    cx.check_input_names(&modules, &out);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Schema {
        ir_version: IR_VERSION,
        modules: out,
    }
}

/// A module that passed the first stage, with its raw file.
struct ModuleCx<'r> {
    name: String,
    name_span: Range<usize>,
    raw: &'r RawModule,
    /// Imports that name a known module, with the span of each.
    imports: Vec<(String, Range<usize>)>,
}

/// What lowering needs to know of a named type before lowering it.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Struct {
        fields: Vec<String>,
    },
    Enum {
        values: Vec<String>,
    },
    Union,
    /// A type whose `kind` is invalid; references to it resolve but say nothing more.
    Unknown,
}

/// Every named type of every module, by module then name.
struct Symbols {
    types: HashMap<String, BTreeMap<String, Shape>>,
    imports: HashMap<String, Vec<String>>,
}

impl Symbols {
    fn build(modules: &[ModuleCx<'_>]) -> Symbols {
        let mut types = HashMap::new();
        let mut imports = HashMap::new();
        for m in modules {
            let table: BTreeMap<String, Shape> = m
                .raw
                .types
                .iter()
                .map(|(name, t)| {
                    let shape = if m.raw.damaged.contains(&Item::Type(name.get_ref().clone())) {
                        Shape::Unknown
                    } else {
                        shape_of(t.get_ref())
                    };
                    (name.get_ref().clone(), shape)
                })
                .collect();
            types.insert(m.name.clone(), table);
            imports.insert(
                m.name.clone(),
                m.imports.iter().map(|(n, _)| n.clone()).collect(),
            );
        }
        Symbols { types, imports }
    }

    fn shape(&self, module: &str, name: &str) -> Option<&Shape> {
        self.types.get(module)?.get(name)
    }
}

fn shape_of(t: &RawType) -> Shape {
    let names =
        |m: &crate::raw::OrderedMap<_>| m.0.iter().map(|(k, _)| k.get_ref().clone()).collect();
    match t.kind.as_ref().map(|k| k.get_ref().as_str()) {
        None | Some("struct") => Shape::Struct {
            fields: t
                .fields
                .as_ref()
                .map(|f| names(f.get_ref()))
                .unwrap_or_default(),
        },
        Some("enum") => Shape::Enum {
            values: t
                .values
                .as_ref()
                .map(|vs| {
                    vs.get_ref()
                        .iter()
                        .map(|v| types::enum_value_name(v.get_ref()).to_owned())
                        .collect()
                })
                .unwrap_or_default(),
        },
        Some("union") => Shape::Union,
        Some(_) => Shape::Unknown,
    }
}

/// A field of a type or event of a module (`None`: every field of it), in the sets of what
/// went wrong where.
type Owner = (String, Item, Option<String>);

/// The lowering context: the sources (for locations) and the diagnostics sink.
struct Lowering<'a> {
    sources: &'a Sources,
    diags: &'a mut Diagnostics,
    /// Fields left out of the IR because of an error already reported — (module, the type or
    /// event, the field; `None` for all of them) — so that paths through them are not reported
    /// again.
    unresolved: HashSet<Owner>,
    /// Modules whose file could not be read as a schema (a TOML error, not UTF-8): importing
    /// them is not a second error.
    broken: HashSet<String>,
    /// Modules declared by IR documents (events derived in Rust), with the document's name:
    /// a TOML module cannot import them, and is told so.
    derived: &'a HashMap<String, String>,
}

impl Lowering<'_> {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn location(&self, file: FileId, span: Range<usize>) -> Location {
        let f = self.sources.file(file);
        let (line, column) = f.position(span.start);
        Location {
            file: f.name().to_owned(),
            line,
            column,
        }
    }

    /// Where the bytes of the value of the string literal at `span` are in the source.
    fn literal(&self, file: FileId, span: &Range<usize>) -> literal::Literal {
        literal::Literal::new(self.sources.file(file).slice(span), span.start)
    }

    fn collect_modules<'r>(&mut self, raws: &'r [RawModule]) -> Vec<ModuleCx<'r>> {
        let mut seen: HashMap<String, (FileId, Range<usize>)> = HashMap::new();
        let mut out = Vec::new();
        for raw in raws {
            let Some(name) = &raw.module else {
                // `module = 5` has its own error; a file that names no module gets this one.
                if !raw.module_given {
                    self.error(
                        Diagnostic::error(crate::diag::Code::MissingKey, raw.file, 0..0, "the schema file does not name its module")
                            .help("start the file with `module = \"<name>\"`, for example `module = \"ticket\"`"),
                    );
                }
                // Checked all the same, as the module its file name suggests (its other
                // mistakes are worth reporting now), unless a file declares that module.
                let stem = std::path::Path::new(self.sources.file(raw.file).name())
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let declared = raws
                    .iter()
                    .any(|r| r.module.as_ref().is_some_and(|m| *m.get_ref() == stem));
                if !stem.is_empty() && !declared && !seen.contains_key(&stem) {
                    seen.insert(stem.clone(), (raw.file, 0..0));
                    out.push(ModuleCx {
                        name: stem,
                        name_span: 0..0,
                        raw,
                        imports: Vec::new(),
                    });
                }
                continue;
            };
            let span = name.span();
            let name = name.get_ref();
            if !names::is_module_name(name) {
                self.error(
                    Diagnostic::error(crate::diag::Code::InvalidName, raw.file, span.clone(), format!("invalid module name `{name}`"))
                        .label("module names are lowercase letters, digits and `_`, starting with a letter")
                        .help(types::suggest(names::to_snake_case(name), "m_", names::is_module_name, &|n| {
                            raws.iter().any(|r| r.module.as_ref().is_some_and(|m| m.get_ref() == n))
                                || names::is_rust_keyword(n)
                                || names::is_ts_reserved(n)
                                || names::reserved_module_name(n).is_some()
                        })),
                );
                // Checked all the same, under the name it has: its other mistakes are worth
                // reporting now.
            } else if names::is_rust_keyword(name) || names::is_ts_reserved(name) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::ReservedName,
                        raw.file,
                        span.clone(),
                        format!("module name `{name}` is a reserved word"),
                    )
                    .label("it names a Rust module and a TypeScript namespace")
                    .help(format!(
                        "choose another name, such as `{name}s` or `{name}_events`"
                    )),
                );
            } else if let Some(why) = names::reserved_module_name(name) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::ReservedName,
                        raw.file,
                        span.clone(),
                        format!("module name `{name}` is reserved"),
                    )
                    .label(why)
                    .help(format!("choose another name, such as `{name}_module`")),
                );
            }
            if let Some((file, first)) = seen.get(name) {
                self.error(
                    Diagnostic::error(
                        crate::diag::Code::DuplicateModule,
                        raw.file,
                        span,
                        format!("module `{name}` is declared twice"),
                    )
                    .note(*file, first.clone(), "first declared here")
                    .help(
                        "each module is declared by exactly one file; merge the two or rename one",
                    ),
                );
                continue;
            }
            seen.insert(name.clone(), (raw.file, span.clone()));
            if let Some(version) = &raw.version {
                if !is_version(version.get_ref()) {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::InvalidValue,
                            raw.file,
                            version.span(),
                            format!("invalid version `{}`", version.get_ref()),
                        )
                        .label("expected MAJOR.MINOR.PATCH")
                        .help("write a semantic version such as `1.2.0`"),
                    );
                }
            }
            out.push(ModuleCx {
                name: name.clone(),
                name_span: span,
                raw,
                imports: Vec::new(),
            });
        }
        // Resolve imports now that every module name is known.
        let known: Vec<String> = out.iter().map(|m| m.name.clone()).collect();
        for m in &mut out {
            let mut imports: Vec<(String, Range<usize>)> = Vec::new();
            for import in &m.raw.imports {
                let name = import.get_ref();
                let span = import.span();
                if name == &m.name {
                    self.diags.push(
                        Diagnostic::error(
                            crate::diag::Code::InvalidImport,
                            m.raw.file,
                            span,
                            format!("module `{name}` imports itself"),
                        )
                        .help("a module's own types need no import; remove it"),
                    );
                } else if let Some(file) = self.derived.get(name).filter(|_| !known.contains(name))
                {
                    self.diags.push(
                        Diagnostic::error(
                            crate::diag::Code::UnknownImport,
                            m.raw.file,
                            span.clone(),
                            format!("module `{name}` is derived in Rust (`{file}`): a TOML module cannot import it"),
                        )
                        .label("imported here")
                        .help(
                            "a derived module's types are the app's Rust, which generated code cannot name; \
                             declare the type in a TOML module instead — derived events may use TOML types",
                        ),
                    );
                } else if !known.contains(name) && !self.broken.contains(name) {
                    // `comon` for `common`, or a file name (`common.toml`) for its module.
                    let stem = name
                        .strip_suffix(".toml")
                        .filter(|s| known.iter().any(|k| k == s));
                    let meant = stem
                        .or_else(|| names::did_you_mean(name, known.iter().map(String::as_str)))
                        .filter(|close| {
                            *close != m.name && !m.raw.imports.iter().any(|i| i.get_ref() == close)
                        })
                        .map(str::to_owned);
                    self.diags.push(
                        Diagnostic::error(crate::diag::Code::UnknownImport, m.raw.file, span.clone(), format!("no module named `{name}`"))
                            .label("imported here")
                            .maybe_help(stem.map(|s| format!("imports name modules, not files: write `{s}`")).or_else(|| names::suggestion(name, known.iter().map(String::as_str))).or_else(|| {
                                Some(format!(
                                    "the modules found are {}; is the file declaring `{name}` among the paths given?",
                                    known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                                ))
                            })),
                    );
                    // `comon` for `common`: the file is checked as importing the module it
                    // meant, so that its uses of `common.X` cause no second error.
                    if let Some(meant) = meant {
                        if !imports.iter().any(|(n, _)| *n == meant) {
                            imports.push((meant, span));
                        }
                    }
                } else if imports.iter().any(|(n, _)| n == name) {
                    self.diags.push(
                        Diagnostic::warning(
                            crate::diag::Code::DuplicateImport,
                            m.raw.file,
                            span,
                            format!("module `{name}` is imported twice"),
                        )
                        .help("remove one of them"),
                    );
                } else {
                    imports.push((name.clone(), span));
                }
            }
            m.imports = imports;
        }
        out
    }

    /// Reports every import cycle once, at the import that closes it.
    fn check_imports(&mut self, modules: &[ModuleCx<'_>]) {
        let index: HashMap<&str, usize> = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.as_str(), i))
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; modules.len()];
        let mut stack: Vec<usize> = Vec::new();
        for start in 0..modules.len() {
            self.visit(start, modules, &index, &mut state, &mut stack);
        }
    }

    fn visit(
        &mut self,
        i: usize,
        modules: &[ModuleCx<'_>],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        stack.push(i);
        for (name, span) in &modules[i].imports {
            let Some(&j) = index.get(name.as_str()) else {
                continue;
            };
            if state[j] == 1 {
                let from = stack.iter().position(|&s| s == j).unwrap_or(0);
                let cycle: Vec<&str> = stack[from..]
                    .iter()
                    .map(|&s| modules[s].name.as_str())
                    .chain(std::iter::once(name.as_str()))
                    .collect();
                let m = &modules[i];
                self.diags.push(
                    Diagnostic::error(
                        crate::diag::Code::ImportCycle,
                        m.raw.file,
                        span.clone(),
                        format!("import cycle: {}", cycle.join(" → ")),
                    )
                    .label("this import closes the cycle")
                    .help("move the types both modules need into a module that imports neither"),
                );
            } else {
                self.visit(j, modules, index, state, stack);
            }
        }
        stack.pop();
        state[i] = 2;
    }

    /// Wire names must be unique across every module.
    fn check_wire_names(&mut self, modules: &[ModuleCx<'_>], lowered: &[Module]) {
        let mut seen: HashMap<String, (FileId, Range<usize>)> = HashMap::new();
        for (m, module) in modules.iter().zip(lowered) {
            for event in &module.events {
                let Some((_, raw)) = m.raw.events.iter().find(|(k, _)| k.get_ref() == &event.key)
                else {
                    continue;
                };
                let span = raw
                    .get_ref()
                    .name
                    .as_ref()
                    .map_or_else(|| raw_key_span(m, &event.key), Spanned::span);
                if let Some((file, first)) = seen.get(&event.name) {
                    self.diags.push(
                        Diagnostic::error(crate::diag::Code::DuplicateWireName, m.raw.file, span, format!("wire name `{}` is used by two events", event.name))
                            .note(*file, first.clone(), "first used here")
                            .help("every event needs its own wire name; set `name = \"...\"` on one of them"),
                    );
                } else {
                    seen.insert(event.name.clone(), (m.raw.file, span));
                }
            }
        }
    }
}

impl Lowering<'_> {
    /// Types that hold themselves through required fields have no finite value: refused at the
    /// field that starts the cycle, with the rest of the cycle as notes.
    fn check_recursion(&mut self, modules: &[ModuleCx<'_>], lowered: &[Module]) {
        let graph = crate::recursion::Graph::new(lowered);
        for cycle in graph.endless_cycles() {
            let Some(first) = cycle.first() else { continue };
            let path: Vec<String> = cycle
                .iter()
                .map(|m| format!("{}.{}", m.owner.1, m.name))
                .chain(std::iter::once(first.owner.1.to_owned()))
                .collect();
            let Some((file, span)) = member_span(modules, first.owner, first.name) else {
                continue;
            };
            let mut d = Diagnostic::error(
                crate::diag::Code::EndlessType,
                file,
                span,
                format!("type `{}` has no finite value", first.owner.1),
            )
            .label(format!(
                "required all the way round, {} never ends",
                path.join(" → ")
            ));
            for m in &cycle[1..] {
                if let Some((f, sp)) = member_span(modules, m.owner, m.name) {
                    let what = if m.required {
                        "a required field".to_owned()
                    } else {
                        format!(
                            "every variant of `{}` leads on, such as this one",
                            m.owner.1
                        )
                    };
                    d = d.note(f, sp, what);
                }
            }
            self.diags.push(d.help(
                "make one field of the cycle optional (`T?`) or a list (`[T]`), so that a value can end",
            ));
        }
    }
}

/// The file and span of the key naming field or variant `member` of type `owner`.
impl Lowering<'_> {
    /// A type or payload whose written shape differs from its read one is declared twice in
    /// TypeScript, the second time as `<Name>Input` (`crate::shapes`): a type or event of that
    /// name in the same module would clash.
    fn check_input_names(&mut self, modules: &[ModuleCx<'_>], lowered: &[Module]) {
        let inputs = crate::shapes::Inputs::of(lowered);
        for (m, module) in modules.iter().zip(lowered) {
            let mut needing: Vec<String> = module
                .types
                .iter()
                .filter(|t| {
                    inputs.differs(&TypeRef::Named {
                        module: module.name.clone(),
                        name: t.name.clone(),
                    })
                })
                .map(|t| t.name.clone())
                .collect();
            needing.extend(
                module
                    .events
                    .iter()
                    .filter(|e| e.direction.client_sends() && inputs.fields_differ(&e.payload))
                    .map(|e| names::event_type_name(&e.key)),
            );
            for name in needing {
                let input = crate::shapes::input_name(&name);
                let taken = m
                    .raw
                    .types
                    .iter()
                    .find(|(n, _)| *n.get_ref() == input)
                    .map(|(n, _)| n.span())
                    .or_else(|| {
                        m.raw
                            .events
                            .iter()
                            .find(|(k, _)| names::event_type_name(k.get_ref()) == input)
                            .map(|(k, _)| k.span())
                    });
                if let Some(span) = taken {
                    self.error(
                        Diagnostic::error(
                            crate::diag::Code::NameClash,
                            m.raw.file,
                            span,
                            format!("`{input}` is the name TypeScript gives `{name}` as a sender writes it"),
                        )
                        .label(format!("`{name}` has fields with a default, so TypeScript declares it twice: `{name}` as read and `{input}` as written"))
                        .help(format!("rename `{input}` (or `{name}`)")),
                    );
                }
            }
        }
    }
}

fn member_span(
    modules: &[ModuleCx<'_>],
    owner: (&str, &str),
    member: &str,
) -> Option<(FileId, Range<usize>)> {
    let m = modules.iter().find(|m| m.name == owner.0)?;
    let (_, t) = m.raw.types.iter().find(|(n, _)| n.get_ref() == owner.1)?;
    let t = t.get_ref();
    let fields = t
        .fields
        .iter()
        .flat_map(|f| f.get_ref().0.iter().map(|(k, _)| k));
    let variants = t
        .variants
        .iter()
        .flat_map(|v| v.get_ref().0.iter().map(|(k, _)| k));
    fields
        .chain(variants)
        .find(|k| k.get_ref() == member)
        .map(|k| (m.raw.file, k.span()))
}

fn raw_key_span(m: &ModuleCx<'_>, key: &str) -> Range<usize> {
    m.raw
        .events
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map_or(0..0, |(k, _)| k.span())
}

/// Trims a doc string and its indentation, as written in a multi-line TOML string.
pub(crate) fn clean_doc(doc: &str) -> String {
    let lines: Vec<&str> = doc.trim_matches('\n').lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

pub(crate) fn deprecation(raw: Option<&Spanned<RawDeprecated>>) -> Option<Deprecation> {
    match raw.map(Spanned::get_ref) {
        None | Some(RawDeprecated::Flag(false)) => None,
        Some(RawDeprecated::Flag(true)) => Some(Deprecation { note: None }),
        Some(RawDeprecated::Note(note)) => Some(Deprecation {
            note: Some(note.trim().to_owned()),
        }),
    }
}

fn is_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
