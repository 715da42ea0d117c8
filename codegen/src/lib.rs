//! The Tidings compiler: schema files in, a checked IR and generated code out.
//!
//! ```
//! use tidings_codegen::{check, Sources};
//!
//! let mut sources = Sources::new();
//! sources.add("chat.toml", r#"
//! module = "chat"
//!
//! [events.typing]
//! delivery = "ephemeral"
//! tenant = "tenant_id"
//! recipients = { rooms = ["chat:{chat_id}"], except = "user_id" }
//! payload = { tenant_id = "uuid", chat_id = "uuid", user_id = "uuid" }
//! "#);
//!
//! let checked = check(&sources).expect("a valid schema");
//! let (_, typing) = checked.schema.event_by_wire_name("chat:typing").unwrap();
//! assert_eq!(typing.payload.len(), 3);
//! ```
//!
//! A schema with mistakes yields every diagnostic at once:
//!
//! ```
//! # use tidings_codegen::{check, Sources};
//! let mut sources = Sources::new();
//! sources.add("bad.toml", "module = \"bad\"\n[events.x]\npayload = { a = \"strng\" }\n");
//! let diagnostics = check(&sources).unwrap_err();
//! let text = diagnostics.render(&sources);
//! assert!(text.contains("bad.toml:3:18"));
//! assert!(text.contains("did you mean `string`?"));
//! ```
//!
//! The schema language is described in `docs/schema.md`; the CLI (`tidings check`, `tidings ir`)
//! in `docs/cli.md`.

pub mod asyncapi;
mod build;
pub mod catalog;
pub mod cli;
pub mod compat;
mod diag;
pub mod editor;
mod error;
pub mod export;
pub mod ir_input;
pub mod jsonschema;
mod lower;
pub mod names;
mod numbers;
pub mod output;
pub mod project;
pub mod python;
mod raw;
mod recursion;
pub mod rooms;
pub mod rust;
pub mod shapes;
mod source;
pub mod summary;
pub mod ts;
mod typeexpr;

pub use build::{BuildError, Builder};
pub use diag::{Code, Diagnostic, Diagnostics, Label, Severity};
pub use error::{Error, ErrorKind};
pub use source::{FileId, SourceFile, Sources};
pub use tidings::schema;

/// A schema that passed every check, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The resolved IR: the TOML modules and those of the IR documents (derived events), sorted
    /// by name.
    pub schema: schema::Schema,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
    /// The modules read from IR documents (`*.ir.json`, see [`ir_input`]): their Rust is the
    /// app's own (`#[derive(Event)]`), so the Rust backend leaves them out; every other output
    /// includes them.
    pub derived: Vec<String>,
}

impl Checked {
    /// The schema the Rust backend generates from: [`Checked::schema`] without the
    /// [`Checked::derived`] modules.
    pub fn rust_schema(&self) -> schema::Schema {
        without_modules(&self.schema, &self.derived)
    }
}

/// `schema` without the modules named in `names` (the derived ones, for the Rust backend).
pub(crate) fn without_modules(schema: &schema::Schema, names: &[String]) -> schema::Schema {
    let mut rest = schema.clone();
    rest.modules.retain(|m| !names.contains(&m.name));
    rest
}

/// Parses, lowers and validates every file of `sources`.
///
/// # Errors
/// When any file has an error: all diagnostics found (errors and warnings), in file order.
pub fn check(sources: &Sources) -> Result<Checked, Diagnostics> {
    let mut diags = Diagnostics::default();
    for &(id, at) in sources.not_utf8() {
        // The bad byte reads as one replacement character: the span covers it.
        let width = sources.file(id).text()[at..]
            .chars()
            .next()
            .map_or(1, char::len_utf8);
        diags.push(
            diag::Diagnostic::error(
                crate::diag::Code::InvalidEncoding,
                id,
                at..at + width,
                "the file is not UTF-8 text",
            )
            .label("this byte does not start a UTF-8 character")
            .help("save the file as UTF-8 (TOML files are UTF-8)"),
        );
    }
    let mut raws = Vec::new();
    // The modules of files that could not be read as schemas, by the name they declare:
    // their importers are not told that no such module exists.
    let mut broken = std::collections::HashSet::new();
    let mut ir_files = Vec::new();
    for (id, file) in sources.iter() {
        if ir_input::is_ir_source(file.name()) {
            ir_files.push(id);
            continue;
        }
        let parsed = if sources.not_utf8().iter().any(|(bad, _)| *bad == id) {
            None
        } else {
            raw::parse(id, file, &mut diags)
        };
        match parsed {
            Some(raw) => raws.push(raw),
            None => broken.extend(raw::declared_module(file.text())),
        }
    }
    let derived_names = ir_input::declared_modules(sources, &ir_files);
    let mut schema = lower::lower(sources, &raws, broken, &derived_names, &mut diags);
    let derived = ir_input::merge(sources, &ir_files, &mut schema, &mut diags);
    diags.sort();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Checked {
            schema,
            warnings: diags,
            derived,
        })
    }
}

/// Loads every schema file below `paths` and checks them.
///
/// # Errors
/// The outer error when a path cannot be read; the inner one when the schemas have errors.
pub fn check_paths<P: AsRef<std::path::Path>>(
    paths: &[P],
) -> Result<(Sources, Result<Checked, Diagnostics>), Error> {
    let mut sources = Sources::new();
    for p in paths {
        sources.add_path(p)?;
    }
    let result = check(&sources);
    Ok((sources, result))
}
